//! The TOML config file: [`Config`] as written, [`Settings`] once validated.
//!
//! Relative paths (`component`, `kv_dir`) are resolved against the directory of the
//! config file, as Spin resolves paths against `spin.toml`.

use crate::outbound::{AllowedHostError, AllowedOutboundHosts};
use crate::variables::{InvalidVariableName, Variables};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Environment variable that overrides `listen`.
pub const LISTEN_ENV: &str = "EDGE_HOST_LISTEN";

/// The config file as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address to serve HTTP on; port 0 picks a free port.
    #[serde(default = "default_listen")]
    pub listen: String,
    /// The edge component (`.wasm`, a Spin HTTP component).
    pub component: PathBuf,
    /// Directory of Spin key-value store `default`; created if missing.
    pub kv_dir: PathBuf,
    /// Where the component may send HTTP requests, as in `spin.toml`.
    #[serde(default)]
    pub allowed_outbound_hosts: Vec<String>,
    /// Seconds between the host's maintenance calls (`POST /v1/internal/maintain`: eviction,
    /// pins, purges, then prefill); 0 = never (then nothing evicts: an operator's scheduler
    /// must make the call). Also accepted as `maintain_interval_secs`.
    #[serde(default, alias = "maintain_interval_secs")]
    pub prefill_interval_secs: u64,
    /// Spin variables the component can read.
    #[serde(default)]
    pub variables: BTreeMap<String, String>,
    /// How the platform headers (`spin-client-addr`, `spin-full-url`, …) reach the component:
    /// `replace` (default) drops any a client sent; `append` keeps the client's and appends the
    /// host's after them, as Spin does — for tests that the component trusts only the platform.
    #[serde(default)]
    pub platform_headers: PlatformHeaders,
    /// Client networks that may read `/metrics` (others get 404).
    #[serde(default = "default_metrics_cidrs")]
    pub metrics_allowed_cidrs: Vec<ipnet::IpNet>,
    /// Seconds to wait for an outbound connection (to main or a parent) to open.
    #[serde(default = "default_connect_timeout")]
    pub outbound_connect_timeout_secs: u64,
    /// Seconds to wait for the response head of an outbound request once it is sent.
    #[serde(default = "default_first_byte_timeout")]
    pub outbound_first_byte_timeout_secs: u64,
    /// Seconds an outbound response body may go without a byte before it fails.
    #[serde(default = "default_idle_timeout")]
    pub outbound_idle_timeout_secs: u64,
    /// Client connections open at once; past that, new ones wait in the kernel's backlog.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// Seconds a response may wait on a client that reads nothing before its connection is
    /// closed.
    #[serde(default = "default_client_stall_timeout")]
    pub client_stall_timeout_secs: u64,
    /// Bytes of one response body that edge-host holds for a client that reads slower than
    /// the component writes.
    #[serde(default = "default_response_buffer_bytes")]
    pub response_buffer_bytes: usize,
    /// Bytes per second the background scrub re-reads of the chunks this process verified,
    /// looking for bytes that decayed under an unchanged file; 0 = no scrub.
    #[serde(default = "default_scrub_bytes_per_sec")]
    pub scrub_bytes_per_sec: u64,
    /// When the host hashes a cached chunk it sends itself (the cached-body handoff): `once`
    /// per file (default; again whenever the file is replaced or changed, and in every new
    /// process, with the scrub for decay under an unchanged file) or on `every_read`.
    #[serde(default)]
    pub verify_cached_chunks: VerifyChunks,
    /// Seconds between heartbeats to main (`POST /v1/edge/heartbeat`: health, load, budget use,
    /// hit ratio), which main's choice of edge for new rentals follows; 0 = none.
    #[serde(default = "default_heartbeat_interval_secs")]
    pub heartbeat_interval_secs: u64,
}

/// See [`Config::verify_cached_chunks`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VerifyChunks {
    #[default]
    Once,
    EveryRead,
}

/// See [`Config::platform_headers`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PlatformHeaders {
    #[default]
    Replace,
    Append,
}

fn default_metrics_cidrs() -> Vec<ipnet::IpNet> {
    ["127.0.0.0/8", "::1/128"]
        .iter()
        .map(|c| c.parse().expect("static CIDR"))
        .collect()
}

fn default_connect_timeout() -> u64 {
    5
}

fn default_first_byte_timeout() -> u64 {
    15
}

fn default_idle_timeout() -> u64 {
    15
}

fn default_max_connections() -> usize {
    1024
}

fn default_client_stall_timeout() -> u64 {
    30
}

fn default_response_buffer_bytes() -> usize {
    1 << 20
}

fn default_heartbeat_interval_secs() -> u64 {
    30
}

fn default_scrub_bytes_per_sec() -> u64 {
    16 << 20
}

/// The smallest [`Config::response_buffer_bytes`]: a quarter of it must hold a request header.
pub const MIN_RESPONSE_BUFFER_BYTES: usize = 64 << 10;

fn default_listen() -> String {
    "127.0.0.1:3000".to_owned()
}

/// A config that passed [`Config::validate`].
#[derive(Debug, Clone)]
pub struct Settings {
    pub listen: SocketAddr,
    pub component: PathBuf,
    pub kv_dir: PathBuf,
    pub allowed_outbound_hosts: AllowedOutboundHosts,
    /// `None` when prefill is off.
    pub prefill_interval: Option<Duration>,
    pub variables: Variables,
    pub platform_headers: PlatformHeaders,
    pub metrics_allowed_cidrs: Vec<ipnet::IpNet>,
    pub outbound_timeouts: OutboundTimeouts,
    pub client_limits: ClientLimits,
    /// 0 = no scrub.
    pub scrub_bytes_per_sec: u64,
    pub verify_cached_chunks: VerifyChunks,
    /// `None` when heartbeats are off.
    pub heartbeat_interval: Option<Duration>,
}

/// What one client may hold of the edge: connections open at once, how long a response waits
/// on a client that reads nothing, and how many bytes of a response wait for it in memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientLimits {
    pub max_connections: usize,
    pub stall_timeout: Duration,
    pub response_buffer_bytes: usize,
}

impl Default for ClientLimits {
    fn default() -> Self {
        Self {
            max_connections: default_max_connections(),
            stall_timeout: Duration::from_secs(default_client_stall_timeout()),
            response_buffer_bytes: default_response_buffer_bytes(),
        }
    }
}

impl ClientLimits {
    /// The largest piece the component may write to a response body at once. A response holds
    /// at most four: two in the channel from the component, one queued for the socket and one
    /// being written (see `server.rs`).
    pub fn body_chunk_bytes(&self) -> usize {
        self.response_buffer_bytes / 4
    }
}

/// Limits on every outbound request of the component, so that a stuck peer (main or a parent
/// that accepts but never answers) fails like a dead one and the component moves on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutboundTimeouts {
    pub connect: Duration,
    pub first_byte: Duration,
    pub idle: Duration,
}

impl Default for OutboundTimeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(default_connect_timeout()),
            first_byte: Duration::from_secs(default_first_byte_timeout()),
            idle: Duration::from_secs(default_idle_timeout()),
        }
    }
}

/// What is wrong with the config.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("config file {path}: {source}")]
    Parse {
        path: PathBuf,
        #[source]
        source: Box<toml::de::Error>,
    },
    #[error("listen = {value:?} is not an IP:PORT address (from {from})")]
    Listen { value: String, from: &'static str },
    #[error("component file {path} does not exist or is not a file")]
    Component { path: PathBuf },
    #[error("kv_dir {path} exists but is not a directory")]
    KvDir { path: PathBuf },
    #[error(transparent)]
    OutboundHost(#[from] AllowedHostError),
    #[error("[variables]: {0}")]
    Variable(#[from] InvalidVariableName),
    #[error("{name} must be at least 1 second")]
    Timeout { name: &'static str },
    #[error("{name} must be at least {min}")]
    TooSmall { name: &'static str, min: usize },
}

impl Config {
    /// Read and parse `path`, resolving relative paths against its directory.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let base = path.parent().unwrap_or(Path::new(""));
        Self::parse(&text, base).map_err(|source| ConfigError::Parse {
            path: path.to_owned(),
            source: Box::new(source),
        })
    }

    /// Parse config text, resolving relative paths against `base`.
    pub fn parse(text: &str, base: &Path) -> Result<Self, toml::de::Error> {
        let mut config: Config = toml::from_str(text)?;
        config.component = base.join(&config.component);
        config.kv_dir = base.join(&config.kv_dir);
        Ok(config)
    }

    /// Let the environment override the file: `EDGE_HOST_LISTEN` replaces `listen`.
    pub fn apply_env(&mut self, env: impl Fn(&str) -> Option<String>) {
        if let Some(listen) = env(LISTEN_ENV) {
            self.listen = listen;
        }
    }

    /// Check every setting, so that a bad config fails at start with a clear message.
    pub fn validate(self) -> Result<Settings, ConfigError> {
        let listen = self.listen.parse().map_err(|_| ConfigError::Listen {
            value: self.listen.clone(),
            from: "config file or EDGE_HOST_LISTEN",
        })?;
        if !self.component.is_file() {
            return Err(ConfigError::Component {
                path: self.component,
            });
        }
        if self.kv_dir.exists() && !self.kv_dir.is_dir() {
            return Err(ConfigError::KvDir { path: self.kv_dir });
        }
        let secs = |name: &'static str, value: u64| {
            (value > 0)
                .then(|| Duration::from_secs(value))
                .ok_or(ConfigError::Timeout { name })
        };
        let outbound_timeouts = OutboundTimeouts {
            connect: secs(
                "outbound_connect_timeout_secs",
                self.outbound_connect_timeout_secs,
            )?,
            first_byte: secs(
                "outbound_first_byte_timeout_secs",
                self.outbound_first_byte_timeout_secs,
            )?,
            idle: secs(
                "outbound_idle_timeout_secs",
                self.outbound_idle_timeout_secs,
            )?,
        };
        if self.max_connections == 0 {
            return Err(ConfigError::TooSmall {
                name: "max_connections",
                min: 1,
            });
        }
        if self.response_buffer_bytes < MIN_RESPONSE_BUFFER_BYTES {
            return Err(ConfigError::TooSmall {
                name: "response_buffer_bytes",
                min: MIN_RESPONSE_BUFFER_BYTES,
            });
        }
        let client_limits = ClientLimits {
            max_connections: self.max_connections,
            stall_timeout: secs("client_stall_timeout_secs", self.client_stall_timeout_secs)?,
            response_buffer_bytes: self.response_buffer_bytes,
        };
        Ok(Settings {
            listen,
            component: self.component,
            kv_dir: self.kv_dir,
            allowed_outbound_hosts: AllowedOutboundHosts::parse(&self.allowed_outbound_hosts)?,
            prefill_interval: (self.prefill_interval_secs > 0)
                .then(|| Duration::from_secs(self.prefill_interval_secs)),
            variables: Variables::new(self.variables)?,
            platform_headers: self.platform_headers,
            metrics_allowed_cidrs: self.metrics_allowed_cidrs,
            outbound_timeouts,
            client_limits,
            scrub_bytes_per_sec: self.scrub_bytes_per_sec,
            verify_cached_chunks: self.verify_cached_chunks,
            heartbeat_interval: (self.heartbeat_interval_secs > 0)
                .then(|| Duration::from_secs(self.heartbeat_interval_secs)),
        })
    }
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
