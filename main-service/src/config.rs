//! Settings of the main service: one serde struct with defaults, read from a TOML file, overridden
//! by environment variables, then validated before anything starts.

use std::net::SocketAddr;
use std::path::PathBuf;

use ipnet::IpNet;
use parent_sync::ParentConfig;
use serde::Deserialize;

/// Everything main needs to run. Its `Debug` leaves the secrets out (admin token,
/// key-encryption key, signing key, edge credentials), so a logged configuration leaks none.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address to listen on when not on Lambda.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// Where the embedded store and generated keys live.
    pub data_dir: PathBuf,
    /// Which backend keeps main's state.
    #[serde(default)]
    pub store: StoreKind,
    /// The DynamoDB table, when `store = "dynamodb"`.
    #[serde(default)]
    pub dynamodb: Option<DynamoDbSettings>,
    /// Bearer token for `/v1/admin/*`; required unless it comes from the environment or from
    /// Secrets Manager (`MAIN_ADMIN_TOKEN_SECRET_ARN`).
    #[serde(default)]
    pub admin_token: String,
    /// 32-byte key (hex) that wraps content keys at rest; generated into `data_dir` when absent.
    #[serde(default)]
    pub key_encryption_key: Option<String>,
    /// The key-encryption key being rotated out (hex): secrets sealed under it still open until
    /// `main-service rewrap-keys` has sealed them all under `key_encryption_key`.
    #[serde(default)]
    pub previous_key_encryption_key: Option<String>,
    /// Key version stamped on newly sealed items.
    #[serde(default = "one")]
    pub key_version: u32,
    #[serde(default)]
    pub tokens: TokenSettings,
    #[serde(default)]
    pub licences: LicenceSettings,
    #[serde(default)]
    pub signing: SigningSettings,
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
    /// How often edges send heartbeats; one silent for three intervals is not chosen.
    #[serde(default = "default_heartbeat_secs")]
    pub edge_heartbeat_secs: u64,
    /// How long the catalog list (site pages, `GET /v1/catalog`) is served from memory before it
    /// is read again; 0 reads it for every request. A main's own ingests and edits show at once.
    #[serde(default = "default_catalog_cache_secs")]
    pub catalog_cache_secs: u64,
    /// Connection limits of the plain server: header, body and idle timeouts, connection cap.
    #[serde(default)]
    pub server: parent_sync::ServerLimits,
    #[serde(default)]
    pub passwords: PasswordSettings,
    /// Rate limits and login lockout ([`crate::limits`]).
    #[serde(default)]
    pub limits: crate::limits::LimitSettings,
    /// The signing key pair, when it comes from Secrets Manager (never from the file); absent,
    /// the key in `data_dir` is used or generated.
    #[serde(skip)]
    pub signing_key: Option<crate::secrets::SigningKeyBytes>,
}

/// Bounds on password hashing (argon2id, 19 MiB and one core for tens of milliseconds each).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PasswordSettings {
    /// Hashes run at once; 0 means one per core.
    pub hash_concurrency: usize,
    /// Logins and registrations that may wait for a slot; past that, 503 with `Retry-After`.
    pub hash_queue: usize,
}

impl Default for PasswordSettings {
    fn default() -> Self {
        Self {
            hash_concurrency: 0,
            hash_queue: 8,
        }
    }
}

/// The storage backend.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreKind {
    /// One redb file under `data_dir`: a single instance, no server.
    #[default]
    Embedded,
    /// One DynamoDB table shared by any number of instances (`docs/dynamodb.md`).
    Dynamodb,
}

/// Where main's DynamoDB table is.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DynamoDbSettings {
    /// The table name.
    pub table: String,
    /// The region; when absent, the default AWS chain decides (`AWS_REGION` on Lambda).
    #[serde(default)]
    pub region: Option<String>,
    /// Base URL of a DynamoDB-compatible server (local runs, tests); absent means AWS.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// Static credentials; when absent the default AWS chain (env, profile, role) is used.
    #[serde(default)]
    pub access_key: Option<String>,
    #[serde(default)]
    pub secret_key: Option<String>,
}

// The secret key must never reach a log line.
impl std::fmt::Debug for DynamoDbSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DynamoDbSettings")
            .field("table", &self.table)
            .field("region", &self.region)
            .field("endpoint", &self.endpoint)
            .field("access_key", &self.access_key)
            .field(
                "secret_key",
                &self.secret_key.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

impl DynamoDbSettings {
    fn validate(&self) -> Result<(), String> {
        // DynamoDB's own rule for table names.
        let name_ok = (3..=255).contains(&self.table.len())
            && self
                .table
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
        if !name_ok {
            return Err(format!(
                "dynamodb.table {:?} must be 3 to 255 characters of a-z, A-Z, 0-9, '_', '-', '.'",
                self.table
            ));
        }
        if let Some(e) = &self.endpoint
            && !(e.starts_with("http://") || e.starts_with("https://"))
        {
            return Err(format!(
                "dynamodb.endpoint {e:?} must start with http:// or https://"
            ));
        }
        if let Some(r) = &self.region
            && (r.is_empty()
                || !r
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'))
        {
            return Err(format!(
                "dynamodb.region {r:?} must look like \"eu-west-1\""
            ));
        }
        if self.access_key.is_some() != self.secret_key.is_some() {
            return Err("dynamodb.access_key and dynamodb.secret_key go together".into());
        }
        Ok(())
    }
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
    /// How long after renting a licence may be enabled (the rental period).
    pub enable_within_secs: u64,
    /// The fee, in cents, for a new viewing window once a licence's window has ended.
    pub reactivation_fee_cents: u64,
}

impl Default for LicenceSettings {
    fn default() -> Self {
        Self {
            window_secs: protocol::licence::DEFAULT_WINDOW_SECS,
            enable_within_secs: 30 * 24 * 3600,
            reactivation_fee_cents: 199,
        }
    }
}

/// Signing-key rotation (`crate::signing`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SigningSettings {
    /// How long one signing key signs before the next takes over; 0: never rotate.
    pub rotate_after_secs: u64,
    /// How long a new key is published in the JWKS before it signs, so that edges and players
    /// holding a cached JWKS know it before they meet it (edges refetch every 600 s).
    pub publish_ahead_secs: u64,
}

impl Default for SigningSettings {
    fn default() -> Self {
        Self {
            rotate_after_secs: 30 * 24 * 3600,
            publish_ahead_secs: 3600,
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
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EdgeConfig {
    pub id: String,
    pub region: String,
    /// Base URL clients download from, e.g. `https://edge-eu-1.example.net`.
    pub url: String,
    /// The credential the edge presents (`Authorization: Bearer`); required unless it comes from
    /// Secrets Manager (`MAIN_EDGE_SECRETS_SECRET_ARN`).
    #[serde(default)]
    pub secret: String,
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}
fn one() -> u32 {
    1
}
fn default_catalog_cache_secs() -> u64 {
    5
}
fn default_heartbeat_secs() -> u64 {
    30
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

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let set = |present: bool| if present { "<set>" } else { "<unset>" };
        f.debug_struct("Config")
            .field("listen", &self.listen)
            .field("data_dir", &self.data_dir)
            .field("store", &self.store)
            .field("dynamodb", &self.dynamodb)
            .field("admin_token", &set(!self.admin_token.is_empty()))
            .field(
                "key_encryption_key",
                &set(self.key_encryption_key.is_some()),
            )
            .field(
                "previous_key_encryption_key",
                &set(self.previous_key_encryption_key.is_some()),
            )
            .field("signing_key", &set(self.signing_key.is_some()))
            .field("key_version", &self.key_version)
            .field("tokens", &self.tokens)
            .field("licences", &self.licences)
            .field("signing", &self.signing)
            .field("max_ingest_bytes", &self.max_ingest_bytes)
            .field("geo", &self.geo)
            .field("regions", &self.regions)
            .field("parents", &self.parents)
            .field("edges", &self.edges)
            .field("server", &self.server)
            .field("passwords", &self.passwords)
            .finish()
    }
}

impl std::fmt::Debug for EdgeConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EdgeConfig")
            .field("id", &self.id)
            .field("region", &self.region)
            .field("url", &self.url)
            .field(
                "secret",
                &if self.secret.is_empty() {
                    "<unset>"
                } else {
                    "<set>"
                },
            )
            .finish()
    }
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
        let config = Self::read(path)?;
        config.validate()?;
        Ok(config)
    }

    /// Reads the file and applies `MAIN_*` environment overrides, without validating (secrets
    /// may still have to be applied).
    pub fn read(path: &std::path::Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let mut config = Self::from_toml(&text, path)?;
        config.apply_env(|k| std::env::var(k).ok())?;
        Ok(config)
    }

    /// Puts the values read from Secrets Manager in place; each replaces what the file or the
    /// environment said. Every configured edge must have an entry in the edge secrets when they
    /// are given; an entry for an edge that is not configured is ignored with a warning.
    pub fn apply_secrets(&mut self, secrets: crate::secrets::Secrets) -> Result<(), ConfigError> {
        if let Some(token) = secrets.admin_token {
            self.admin_token = token;
        }
        if let Some(kek) = secrets.key_encryption_key {
            self.key_encryption_key = Some(kek);
        }
        if let Some(kek) = secrets.previous_key_encryption_key {
            self.previous_key_encryption_key = Some(kek);
        }
        if let Some(key) = secrets.signing_key {
            self.signing_key = Some(key);
        }
        if let Some(mut given) = secrets.edge_secrets {
            for edge in &mut self.edges {
                edge.secret = given.remove(&edge.id).ok_or_else(|| {
                    ConfigError::Invalid(format!(
                        "edge {:?} has no entry in the secret named by {}",
                        edge.id,
                        crate::secrets::EDGE_SECRETS_ENV
                    ))
                })?;
            }
            for id in given.keys() {
                tracing::warn!(
                    edge = id,
                    "the edge secrets name an edge that is not configured; ignored"
                );
            }
        }
        Ok(())
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
        if let Some(v) = get("MAIN_PREVIOUS_KEY_ENCRYPTION_KEY") {
            self.previous_key_encryption_key = Some(v);
        }
        self.apply_store_env(&get)?;
        Ok(())
    }

    /// `MAIN_STORE` (`embedded` | `dynamodb`), `MAIN_DYNAMODB_TABLE`, `MAIN_DYNAMODB_REGION`,
    /// `MAIN_DYNAMODB_ENDPOINT`. Setting any `MAIN_DYNAMODB_*` creates the `[dynamodb]` table if
    /// the file has none (validation then asks for what is missing).
    fn apply_store_env(
        &mut self,
        get: &impl Fn(&str) -> Option<String>,
    ) -> Result<(), ConfigError> {
        if let Some(v) = get("MAIN_STORE") {
            self.store = match v.as_str() {
                "embedded" => StoreKind::Embedded,
                "dynamodb" => StoreKind::Dynamodb,
                _ => {
                    return Err(ConfigError::Env {
                        name: "MAIN_STORE",
                        message: format!("{v:?} is not \"embedded\" or \"dynamodb\""),
                    });
                }
            };
        }
        let table = get("MAIN_DYNAMODB_TABLE");
        let region = get("MAIN_DYNAMODB_REGION");
        let endpoint = get("MAIN_DYNAMODB_ENDPOINT");
        if table.is_none() && region.is_none() && endpoint.is_none() {
            return Ok(());
        }
        let d = self.dynamodb.get_or_insert_with(|| DynamoDbSettings {
            table: String::new(),
            region: None,
            endpoint: None,
            access_key: None,
            secret_key: None,
        });
        if let Some(v) = table {
            d.table = v;
        }
        if let Some(v) = region {
            d.region = Some(v);
        }
        if let Some(v) = endpoint {
            d.endpoint = Some(v);
        }
        Ok(())
    }

    /// Checks what serde cannot.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |m: String| Err(ConfigError::Invalid(m));
        if self.admin_token.is_empty() {
            return bad(
                "admin_token is required: in the file, as MAIN_ADMIN_TOKEN, or from Secrets Manager \
                 (MAIN_ADMIN_TOKEN_SECRET_ARN)"
                    .into(),
            );
        }
        if self.admin_token.len() < 16 {
            return bad("admin_token must be at least 16 characters".into());
        }
        if let Some(k) = &self.key_encryption_key
            && hex::decode(k).map(|b| b.len()) != Ok(32)
        {
            return bad("key_encryption_key must be 64 hex characters (32 bytes)".into());
        }
        if let Some(k) = &self.previous_key_encryption_key {
            if hex::decode(k).map(|b| b.len()) != Ok(32) {
                return bad(
                    "previous_key_encryption_key must be 64 hex characters (32 bytes)".into(),
                );
            }
            if self.key_encryption_key.as_deref().map(str::to_lowercase) == Some(k.to_lowercase()) {
                return bad(
                    "previous_key_encryption_key is the same as key_encryption_key; give the \
                     new key as key_encryption_key and the old one as previous"
                        .into(),
                );
            }
        }
        match (self.store, &self.dynamodb) {
            (StoreKind::Dynamodb, None) => {
                return bad(
                    "store = \"dynamodb\" needs a [dynamodb] table with at least `table`".into(),
                );
            }
            (StoreKind::Dynamodb, Some(d)) => d.validate().map_err(ConfigError::Invalid)?,
            (StoreKind::Embedded, _) => {}
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
        if self.licences.enable_within_secs == 0 {
            return bad("licences.enable_within_secs must be positive".into());
        }
        let signing = &self.signing;
        if signing.rotate_after_secs > 0 {
            if signing.publish_ahead_secs == 0 {
                return bad("signing.publish_ahead_secs must be positive".into());
            }
            if signing.rotate_after_secs < 2 * signing.publish_ahead_secs {
                return bad(
                    "signing.rotate_after_secs must be at least twice signing.publish_ahead_secs"
                        .into(),
                );
            }
        }
        if let Err(m) = self.server.validate() {
            return bad(format!("server: {m}"));
        }
        if self.catalog_cache_secs > 3600 {
            return bad("catalog_cache_secs must be at most 3600".into());
        }
        if self.edge_heartbeat_secs == 0 {
            return bad("edge_heartbeat_secs must be positive".into());
        }
        if let Err(m) = self.limits.validate() {
            return bad(m);
        }
        let mut ids = std::collections::HashSet::new();
        for e in &self.edges {
            if !ids.insert(&e.id) {
                return bad(format!("edge id {:?} appears twice", e.id));
            }
            if e.secret.is_empty() {
                return bad(format!(
                    "edge {:?}: secret is required, in the file or from Secrets Manager \
                     (MAIN_EDGE_SECRETS_SECRET_ARN)",
                    e.id
                ));
            }
            if e.secret.len() < 16 {
                return bad(format!(
                    "edge {:?}: secret must be at least 16 characters",
                    e.id
                ));
            }
            if !(e.url.starts_with("http://") || e.url.starts_with("https://"))
                || e.url.chars().any(|c| c.is_control() || c.is_whitespace())
            {
                return bad(format!(
                    "edge {:?}: url must start with http:// or https:// and hold no spaces or \
                     control characters",
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
    fn debug_shows_no_secret() {
        let text = format!(
            "{MINIMAL}\n[[edges]]\nid = \"e1\"\nregion = \"eu\"\nurl = \"http://e\"\nsecret = \"edge-credential-0123456789\"\n"
        );
        let mut c = Config::from_toml(&text, "x.toml".as_ref()).unwrap();
        c.key_encryption_key = Some("ab".repeat(32));
        let shown = format!("{c:?}");
        for secret in ["0123456789abcdef", "abababab", "edge-credential"] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        assert!(shown.contains("e1") && shown.contains("<set>"), "{shown}");
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

    #[test]
    fn secrets_replace_and_complete_the_file() {
        use crate::secrets::Secrets;
        let text = MINIMAL
            .replace("admin_token = \"0123456789abcdef\"", "")
            .replace("countries = [\"DE\"]", "countries = [\"DE\"]\n[[edges]]\nid = \"e1\"\nregion = \"eu\"\nurl = \"https://e1\"");
        let c = Config::from_toml(&text, "x.toml".as_ref()).unwrap();
        let err = c.validate().unwrap_err().to_string();
        assert!(err.contains("MAIN_ADMIN_TOKEN_SECRET_ARN"), "{err}");
        let secrets = |edges: &[(&str, &str)]| Secrets {
            admin_token: Some("admin-token-from-secrets".into()),
            key_encryption_key: Some("ab".repeat(32)),
            edge_secrets: Some(
                edges
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ),
            ..Secrets::default()
        };
        let mut c = Config::from_toml(&text, "x.toml".as_ref()).unwrap();
        let err = c.apply_secrets(secrets(&[("other", "other-secret-0123456789")]));
        assert!(err.unwrap_err().to_string().contains("\"e1\" has no entry"));
        let mut c = Config::from_toml(&text, "x.toml".as_ref()).unwrap();
        c.apply_secrets(secrets(&[
            ("e1", "e1-secret-0123456789"),
            ("other", "x-secret-0123456789"),
        ]))
        .unwrap();
        c.validate().unwrap();
        assert_eq!(c.admin_token, "admin-token-from-secrets");
        assert_eq!(c.edges[0].secret, "e1-secret-0123456789");
        assert_eq!(
            c.key_encryption_key.as_deref(),
            Some("ab".repeat(32).as_str())
        );
    }

    #[test]
    fn the_store_is_chosen_and_checked() {
        let c = Config::from_toml(MINIMAL, "x.toml".as_ref()).unwrap();
        assert_eq!(c.store, StoreKind::Embedded);
        let text = format!(
            "store = \"dynamodb\"\n{MINIMAL}\n[dynamodb]\ntable = \"cdn-main\"\nregion = \"eu-west-1\"\n"
        );
        let c = Config::from_toml(&text, "x.toml".as_ref()).unwrap();
        c.validate().unwrap();
        assert_eq!(c.dynamodb.as_ref().unwrap().table, "cdn-main");
        // dynamodb without a table, a bad name, half a credential, a bad endpoint.
        let mut c = Config::from_toml(MINIMAL, "x.toml".as_ref()).unwrap();
        c.apply_env(|k| (k == "MAIN_STORE").then(|| "dynamodb".to_string()))
            .unwrap();
        assert!(c.validate().unwrap_err().to_string().contains("[dynamodb]"));
        let env = |k: &str| match k {
            "MAIN_DYNAMODB_TABLE" => Some("a b".to_string()),
            "MAIN_DYNAMODB_ENDPOINT" => Some("http://127.0.0.1:5000".to_string()),
            _ => None,
        };
        c.apply_env(env).unwrap();
        assert!(
            c.validate()
                .unwrap_err()
                .to_string()
                .contains("dynamodb.table")
        );
        c.dynamodb.as_mut().unwrap().table = "cdn-main".into();
        c.validate().unwrap();
        c.dynamodb.as_mut().unwrap().access_key = Some("k".into());
        assert!(
            c.validate()
                .unwrap_err()
                .to_string()
                .contains("go together")
        );
        c.dynamodb.as_mut().unwrap().access_key = None;
        c.dynamodb.as_mut().unwrap().endpoint = Some("127.0.0.1:5000".into());
        assert!(c.validate().unwrap_err().to_string().contains("endpoint"));
        let err = Config::from_toml(&format!("store = \"redis\"\n{MINIMAL}"), "x.toml".as_ref())
            .unwrap_err();
        assert!(err.to_string().contains("redis"), "{err}");
        c.apply_env(|k| (k == "MAIN_STORE").then(|| "redis".to_string()))
            .unwrap_err();
    }
}
