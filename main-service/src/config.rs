//! Settings of the main service: one serde struct with defaults, read from a TOML file, overridden
//! by environment variables, then validated before anything starts.

use std::net::SocketAddr;
use std::path::PathBuf;

use ipnet::IpNet;
use parent_sync::ParentConfig;
use serde::Deserialize;

/// Everything main needs to run.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address to listen on when not on Lambda.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// Where the embedded store and generated keys live.
    pub data_dir: PathBuf,
    /// Bearer token for `/v1/admin/*`.
    pub admin_token: String,
    /// 32-byte key (hex) that wraps content keys at rest; generated into `data_dir` when absent.
    #[serde(default)]
    pub key_encryption_key: Option<String>,
    /// Key version stamped on newly sealed items.
    #[serde(default = "one")]
    pub key_version: u32,
    #[serde(default)]
    pub tokens: TokenSettings,
    #[serde(default)]
    pub licences: LicenceSettings,
    /// Largest plaintext accepted by ingest, in bytes.
    #[serde(default = "default_max_ingest")]
    pub max_ingest_bytes: u64,
    #[serde(default)]
    pub geo: GeoSettings,
    #[serde(default)]
    pub regions: Vec<RegionConfig>,
    pub parents: Vec<ParentConfig>,
    #[serde(default)]
    pub edges: Vec<EdgeConfig>,
}

/// Download token settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TokenSettings {
    /// How long a download URL stays valid.
    pub ttl_secs: u64,
    /// Download sessions per token.
    pub max_uses: u32,
    /// A session ends after this long without a request.
    pub session_idle_secs: u64,
    /// How long presigned parent URLs in a grant stay valid.
    pub source_url_secs: u64,
}

impl Default for TokenSettings {
    fn default() -> Self {
        Self {
            ttl_secs: 48 * 3600,
            max_uses: protocol::token::DEFAULT_MAX_USES,
            session_idle_secs: 900,
            source_url_secs: 900,
        }
    }
}

/// Licence settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LicenceSettings {
    /// The viewing window that enabling starts.
    pub window_secs: u64,
}

impl Default for LicenceSettings {
    fn default() -> Self {
        Self {
            window_secs: protocol::licence::DEFAULT_WINDOW_SECS,
        }
    }
}

/// Geolocation: the offline RIR database plus overrides for loopback and test networks.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GeoSettings {
    #[serde(default)]
    pub overrides: Vec<GeoOverride>,
}

/// Addresses in `cidr` are treated as being in `country`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GeoOverride {
    pub cidr: IpNet,
    pub country: String,
}

/// A delivery region and the countries it serves.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegionConfig {
    pub name: String,
    pub countries: Vec<String>,
}

/// An edge main may send clients to and accept authorize calls from.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EdgeConfig {
    pub id: String,
    pub region: String,
    /// Base URL clients download from, e.g. `https://edge-eu-1.example.net`.
    pub url: String,
    /// The credential the edge presents (`Authorization: Bearer`).
    pub secret: String,
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}
fn one() -> u32 {
    1
}
fn default_max_ingest() -> u64 {
    100 << 30
}

/// A configuration problem, said so that an operator can fix it.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Parse {
        path: PathBuf,
        source: Box<toml::de::Error>,
    },
    #[error("environment variable {name}: {message}")]
    Env { name: &'static str, message: String },
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

impl Config {
    /// Parses TOML text (no environment applied).
    pub fn from_toml(text: &str, path: &std::path::Path) -> Result<Self, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            source: Box::new(e),
        })
    }

    /// Reads the file, applies `MAIN_*` environment overrides, and validates.
    pub fn load(path: &std::path::Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let mut config = Self::from_toml(&text, path)?;
        config.apply_env(|k| std::env::var(k).ok())?;
        config.validate()?;
        Ok(config)
    }

    /// Applies overrides: `MAIN_LISTEN`, `MAIN_DATA_DIR`, `MAIN_ADMIN_TOKEN`, `MAIN_KEY_ENCRYPTION_KEY`.
    pub fn apply_env(&mut self, get: impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        if let Some(v) = get("MAIN_LISTEN") {
            self.listen = v.parse().map_err(|e| ConfigError::Env {
                name: "MAIN_LISTEN",
                message: format!("{e}"),
            })?;
        }
        if let Some(v) = get("MAIN_DATA_DIR") {
            self.data_dir = v.into();
        }
        if let Some(v) = get("MAIN_ADMIN_TOKEN") {
            self.admin_token = v;
        }
        if let Some(v) = get("MAIN_KEY_ENCRYPTION_KEY") {
            self.key_encryption_key = Some(v);
        }
        Ok(())
    }

    /// Checks what serde cannot.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |m: String| Err(ConfigError::Invalid(m));
        if self.admin_token.len() < 16 {
            return bad("admin_token must be at least 16 characters".into());
        }
        if let Some(k) = &self.key_encryption_key
            && hex::decode(k).map(|b| b.len()) != Ok(32)
        {
            return bad("key_encryption_key must be 64 hex characters (32 bytes)".into());
        }
        if self.parents.iter().filter(|p| p.primary).count() != 1 {
            return bad("exactly one of [[parents]] must have primary = true".into());
        }
        if self.tokens.max_uses == 0 || self.tokens.ttl_secs == 0 {
            return bad("tokens.max_uses and tokens.ttl_secs must be positive".into());
        }
        if self.licences.window_secs == 0 {
            return bad("licences.window_secs must be positive".into());
        }
        let mut ids = std::collections::HashSet::new();
        for e in &self.edges {
            if !ids.insert(&e.id) {
                return bad(format!("edge id {:?} appears twice", e.id));
            }
            if e.secret.len() < 16 {
                return bad(format!(
                    "edge {:?}: secret must be at least 16 characters",
                    e.id
                ));
            }
            if !(e.url.starts_with("http://") || e.url.starts_with("https://")) {
                return bad(format!(
                    "edge {:?}: url must start with http:// or https://",
                    e.id
                ));
            }
            if !self.regions.iter().any(|r| r.name == e.region) {
                return bad(format!(
                    "edge {:?}: region {:?} is not one of [[regions]]",
                    e.id, e.region
                ));
            }
        }
        for o in &self.geo.overrides {
            if o.country.len() != 2 || !o.country.bytes().all(|b| b.is_ascii_uppercase()) {
                return bad(format!(
                    "geo override {}: country must be a two-letter code like \"DE\"",
                    o.cidr
                ));
            }
        }
        Ok(())
    }

    /// The embedded store's file.
    pub fn store_path(&self) -> PathBuf {
        self.data_dir.join("main.redb")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
        data_dir = "/tmp/x"
        admin_token = "0123456789abcdef"
        [[regions]]
        name = "eu"
        countries = ["DE"]
        [[parents]]
        name = "p1"
        region = "eu"
        bucket = "b"
        primary = true
    "#;

    #[test]
    fn minimal_config_is_valid() {
        let c = Config::from_toml(MINIMAL, "x.toml".as_ref()).unwrap();
        c.validate().unwrap();
        assert_eq!(c.tokens.max_uses, 3);
    }

    #[test]
    fn unknown_keys_and_bad_values_are_refused() {
        let err =
            Config::from_toml(&format!("colour = 1\n{MINIMAL}"), "x.toml".as_ref()).unwrap_err();
        assert!(err.to_string().contains("colour"), "{err}");
        let mut c = Config::from_toml(MINIMAL, "x.toml".as_ref()).unwrap();
        c.admin_token = "short".into();
        assert!(
            c.validate()
                .unwrap_err()
                .to_string()
                .contains("admin_token")
        );
        let mut c = Config::from_toml(MINIMAL, "x.toml".as_ref()).unwrap();
        c.apply_env(|k| (k == "MAIN_LISTEN").then(|| "nonsense".to_string()))
            .unwrap_err();
    }
}
