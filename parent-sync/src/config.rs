//! Configuration of parents: one [`ParentConfig`] per bucket, and the `parent-sync` file that lists
//! them all ([`SyncConfig`]).

use serde::Deserialize;

/// Where one parent store lives and how to reach it.
///
/// Used by main (which writes to the primary and presigns reads) and by `parent-sync`.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ParentConfig {
    /// A short name for logs and reports, e.g. `eu-primary`.
    pub name: String,
    /// The region the requests are signed for (any `[a-z0-9-]+` for a local parent).
    pub region: String,
    /// Base URL of an S3-compatible server (path-style addressing); `None` means real AWS.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// The bucket that holds the library.
    pub bucket: String,
    /// Static credentials; when absent the default AWS chain (env, profile, role) is used.
    #[serde(default)]
    pub access_key: Option<String>,
    #[serde(default)]
    pub secret_key: Option<String>,
    /// Whether this is the parent that main writes to and the others copy from.
    #[serde(default)]
    pub primary: bool,
    /// Seconds to open a connection to the parent before the attempt fails.
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout_secs: u64,
    /// Seconds from starting a request (sending its body included: at most one part) until the
    /// first byte of the answer; the parent assembling a multipart object counts too.
    #[serde(default = "default_first_byte_timeout")]
    pub first_byte_timeout_secs: u64,
    /// Seconds a body being downloaded or uploaded may send nothing before the transfer fails.
    #[serde(default = "default_idle_timeout")]
    pub idle_timeout_secs: u64,
}

/// Default of [`ParentConfig::connect_timeout_secs`].
pub const DEFAULT_CONNECT_TIMEOUT_SECS: u64 = 5;
/// Default of [`ParentConfig::first_byte_timeout_secs`].
pub const DEFAULT_FIRST_BYTE_TIMEOUT_SECS: u64 = 30;
/// Default of [`ParentConfig::idle_timeout_secs`].
pub const DEFAULT_IDLE_TIMEOUT_SECS: u64 = 15;

fn default_connect_timeout() -> u64 {
    DEFAULT_CONNECT_TIMEOUT_SECS
}

fn default_first_byte_timeout() -> u64 {
    DEFAULT_FIRST_BYTE_TIMEOUT_SECS
}

fn default_idle_timeout() -> u64 {
    DEFAULT_IDLE_TIMEOUT_SECS
}

// The secret key must never reach a log line.
impl std::fmt::Debug for ParentConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParentConfig")
            .field("name", &self.name)
            .field("region", &self.region)
            .field("endpoint", &self.endpoint)
            .field("bucket", &self.bucket)
            .field("access_key", &self.access_key)
            .field(
                "secret_key",
                &self.secret_key.as_ref().map(|_| "<redacted>"),
            )
            .field("primary", &self.primary)
            .field("connect_timeout_secs", &self.connect_timeout_secs)
            .field("first_byte_timeout_secs", &self.first_byte_timeout_secs)
            .field("idle_timeout_secs", &self.idle_timeout_secs)
            .finish()
    }
}

/// A configuration that cannot be used, with a message naming the culprit.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    #[error("configuration is not valid TOML or has unknown keys: {0}")]
    Parse(#[from] toml::de::Error),
    #[error("parent {parent:?}: {problem}")]
    Parent { parent: String, problem: String },
    #[error("{0}")]
    Parents(String),
}

impl ParentConfig {
    /// Checks the fields that can be checked without a network: non-empty names, a bucket name S3
    /// accepts, an `http(s)://` endpoint, and both keys or neither.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let fail = |problem: &str| {
            Err(ConfigError::Parent {
                parent: self.name.clone(),
                problem: problem.to_owned(),
            })
        };
        if self.name.trim().is_empty() {
            return Err(ConfigError::Parents("a parent has an empty name".into()));
        }
        if self.region.is_empty()
            || !self
                .region
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return fail("region must be non-empty and made of a-z, 0-9 and '-'");
        }
        if !valid_bucket_name(&self.bucket) {
            return fail(
                "bucket must be 3-63 characters of a-z, 0-9, '.' and '-', starting and ending with a letter or digit",
            );
        }
        if self.connect_timeout_secs == 0
            || self.first_byte_timeout_secs == 0
            || self.idle_timeout_secs == 0
        {
            return fail(
                "connect_timeout_secs, first_byte_timeout_secs and idle_timeout_secs must be at least 1",
            );
        }
        if let Some(endpoint) = &self.endpoint
            && !(endpoint.starts_with("http://") || endpoint.starts_with("https://"))
        {
            return fail("endpoint must start with http:// or https://");
        }
        match (&self.access_key, &self.secret_key) {
            (Some(a), Some(s)) if a.is_empty() || s.is_empty() => {
                fail("access_key and secret_key must not be empty")
            }
            (Some(_), None) | (None, Some(_)) => {
                fail("access_key and secret_key must be given together")
            }
            _ => Ok(()),
        }
    }

    /// Replaces the keys from `PARENT_<NAME>_ACCESS_KEY` and `PARENT_<NAME>_SECRET_KEY` when set
    /// (`<NAME>` is the name upper-cased, other characters than letters and digits as `_`), so
    /// secrets can stay out of the file.
    pub fn apply_env(&mut self, env: impl Fn(&str) -> Option<String>) {
        let prefix: String = self
            .name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_uppercase()
                } else {
                    '_'
                }
            })
            .collect();
        if let Some(v) = env(&format!("PARENT_{prefix}_ACCESS_KEY")) {
            self.access_key = Some(v);
        }
        if let Some(v) = env(&format!("PARENT_{prefix}_SECRET_KEY")) {
            self.secret_key = Some(v);
        }
    }
}

/// S3's bucket naming rules (the subset that matters for path-style requests).
pub fn valid_bucket_name(name: &str) -> bool {
    let b = name.as_bytes();
    (3..=63).contains(&b.len())
        && b.iter()
            .all(|&c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'.' || c == b'-')
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && !name.contains("..")
}

/// The `parent-sync` configuration file: `[[parents]]` tables, exactly one with `primary = true`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SyncConfig {
    pub parents: Vec<ParentConfig>,
}

impl SyncConfig {
    /// Parses TOML text (unknown keys are an error); call [`SyncConfig::validate`] next.
    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        Ok(toml::from_str(text)?)
    }

    /// Applies [`ParentConfig::apply_env`] to every parent.
    pub fn apply_env(&mut self, env: impl Fn(&str) -> Option<String>) {
        for p in &mut self.parents {
            p.apply_env(&env);
        }
    }

    /// Checks every parent, that names are unique, that exactly one is primary and that there is
    /// at least one secondary to copy to.
    pub fn validate(&self) -> Result<(), ConfigError> {
        for p in &self.parents {
            p.validate()?;
        }
        let mut names: Vec<&str> = self.parents.iter().map(|p| p.name.as_str()).collect();
        names.sort_unstable();
        if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
            return Err(ConfigError::Parents(format!(
                "two parents are named {:?}; names must be unique",
                w[0]
            )));
        }
        let primaries: Vec<&str> = self
            .parents
            .iter()
            .filter(|p| p.primary)
            .map(|p| p.name.as_str())
            .collect();
        match primaries.len() {
            0 => Err(ConfigError::Parents(
                "no parent has `primary = true`; exactly one must".into(),
            )),
            1 if self.parents.len() < 2 => Err(ConfigError::Parents(
                "only the primary is configured; add at least one secondary [[parents]] table"
                    .into(),
            )),
            1 => Ok(()),
            _ => Err(ConfigError::Parents(format!(
                "parents {primaries:?} all have `primary = true`; exactly one must"
            ))),
        }
    }

    /// The primary parent. Panics unless [`SyncConfig::validate`] passed.
    pub fn primary(&self) -> &ParentConfig {
        self.parents
            .iter()
            .find(|p| p.primary)
            .expect("validated config has a primary")
    }

    /// The parents that are copied to.
    pub fn secondaries(&self) -> impl Iterator<Item = &ParentConfig> {
        self.parents.iter().filter(|p| !p.primary)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
        [[parents]]
        name = "eu"
        region = "eu-west-1"
        endpoint = "http://127.0.0.1:9000"
        bucket = "parents"
        access_key = "ak"
        secret_key = "sk"
        primary = true
        connect_timeout_secs = 2

        [[parents]]
        name = "us-east"
        region = "us-east-1"
        bucket = "parents-us"
    "#;

    #[test]
    fn parses_and_validates() {
        let c = SyncConfig::parse(GOOD).unwrap();
        c.validate().unwrap();
        assert_eq!(c.primary().name, "eu");
        assert_eq!(c.secondaries().count(), 1);
        assert_eq!(c.parents[1].endpoint, None);
        assert_eq!(
            (
                c.parents[0].connect_timeout_secs,
                c.parents[0].first_byte_timeout_secs
            ),
            (2, DEFAULT_FIRST_BYTE_TIMEOUT_SECS)
        );
        assert_eq!(c.parents[1].idle_timeout_secs, DEFAULT_IDLE_TIMEOUT_SECS);
        assert!(!format!("{:?}", c.primary()).contains("sk\""));
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let text = GOOD.replace("primary = true", "primary = true\nprimay = false");
        assert!(matches!(
            SyncConfig::parse(&text),
            Err(ConfigError::Parse(_))
        ));
    }

    #[test]
    fn primary_count_is_checked() {
        let none = SyncConfig::parse(&GOOD.replace("primary = true", "")).unwrap();
        assert!(
            none.validate()
                .unwrap_err()
                .to_string()
                .contains("no parent")
        );
        let two = SyncConfig::parse(&GOOD.replace(
            "bucket = \"parents-us\"",
            "bucket = \"parents-us\"\nprimary = true",
        ))
        .unwrap();
        assert!(
            two.validate()
                .unwrap_err()
                .to_string()
                .contains("exactly one")
        );
    }

    #[test]
    fn parent_fields_are_checked() {
        let mut c = SyncConfig::parse(GOOD).unwrap();
        c.parents[0].secret_key = None;
        assert!(c.validate().unwrap_err().to_string().contains("together"));
        let mut c = SyncConfig::parse(GOOD).unwrap();
        c.parents[1].bucket = "Bad_Bucket".into();
        assert!(c.validate().unwrap_err().to_string().contains("us-east"));
        let mut c = SyncConfig::parse(GOOD).unwrap();
        c.parents[1].name = "eu".into();
        assert!(c.validate().unwrap_err().to_string().contains("unique"));
        let mut c = SyncConfig::parse(GOOD).unwrap();
        c.parents[0].endpoint = Some("127.0.0.1:9000".into());
        assert!(c.validate().unwrap_err().to_string().contains("http://"));
        let mut c = SyncConfig::parse(GOOD).unwrap();
        c.parents[1].idle_timeout_secs = 0;
        assert!(c.validate().unwrap_err().to_string().contains("at least 1"));
    }

    #[test]
    fn env_overrides_keys() {
        let mut c = SyncConfig::parse(GOOD).unwrap();
        c.apply_env(|k| (k == "PARENT_US_EAST_SECRET_KEY").then(|| "from-env".to_owned()));
        assert_eq!(c.parents[1].secret_key.as_deref(), Some("from-env"));
        assert_eq!(c.parents[0].secret_key.as_deref(), Some("sk"));
    }
}
