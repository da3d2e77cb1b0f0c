//! The component's settings, read from Spin variables (`edge_id`, `edge_secret`, `edge_region`,
//! `main_url`) and validated before any request is handled.

/// What this edge needs to talk to main.
#[derive(Clone, PartialEq, Eq)]
pub struct EdgeConfig {
    pub edge_id: String,
    pub edge_secret: String,
    pub edge_region: String,
    /// Base URL of main without a trailing slash, e.g. `http://127.0.0.1:8080`.
    pub main_url: String,
}

impl std::fmt::Debug for EdgeConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EdgeConfig")
            .field("edge_id", &self.edge_id)
            .field("edge_region", &self.edge_region)
            .field("main_url", &self.main_url)
            .finish_non_exhaustive()
    }
}

/// A variable is missing or unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("Spin variable `{0}` is not set")]
    Missing(&'static str),
    #[error("Spin variable `main_url` must be an http:// or https:// URL, got {0:?}")]
    BadMainUrl(String),
}

impl EdgeConfig {
    /// Reads the variables through `lookup` (Spin's `variables::get` on the edge, a map in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &'static str| {
            lookup(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
                .ok_or(ConfigError::Missing(name))
        };
        let main_url = get("main_url")?.trim_end_matches('/').to_owned();
        let has_host = main_url
            .split_once("://")
            .is_some_and(|(scheme, rest)| matches!(scheme, "http" | "https") && !rest.is_empty());
        if !has_host {
            return Err(ConfigError::BadMainUrl(main_url));
        }
        Ok(Self {
            edge_id: get("edge_id")?,
            edge_secret: get("edge_secret")?,
            edge_region: get("edge_region")?,
            main_url,
        })
    }

    /// The URL of a main API path (which starts with `/`).
    pub fn main(&self, path: &str) -> String {
        format!("{}{path}", self.main_url)
    }

    /// The headers that authenticate this edge at main.
    pub fn edge_auth_headers(&self) -> [(&'static str, String); 2] {
        [
            ("x-edge-id", self.edge_id.clone()),
            ("authorization", format!("Bearer {}", self.edge_secret)),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    const FULL: [(&str, &str); 4] = [
        ("edge_id", "edge-1"),
        ("edge_secret", "s3cret"),
        ("edge_region", "eu"),
        ("main_url", "http://127.0.0.1:8080/"),
    ];

    #[test]
    fn reads_and_normalises() {
        let c = EdgeConfig::from_lookup(vars(&FULL)).unwrap();
        assert_eq!(c.main_url, "http://127.0.0.1:8080");
        assert_eq!(c.main("/healthz"), "http://127.0.0.1:8080/healthz");
        assert_eq!(c.edge_auth_headers()[1].1, "Bearer s3cret");
        assert!(!format!("{c:?}").contains("s3cret"));
    }

    #[test]
    fn refuses_missing_and_bad_values() {
        let mut v = FULL.to_vec();
        v[1] = ("edge_secret", "  ");
        assert_eq!(
            EdgeConfig::from_lookup(vars(&v)),
            Err(ConfigError::Missing("edge_secret"))
        );
        let mut v = FULL.to_vec();
        v[3] = ("main_url", "ftp://x");
        assert!(matches!(
            EdgeConfig::from_lookup(vars(&v)),
            Err(ConfigError::BadMainUrl(_))
        ));
    }
}
