//! Outgoing HTTP: the `allowed_outbound_hosts` allow-list (as in `spin.toml`) and the
//! wasi-http hook that enforces it before a request leaves the host.

use crate::config::OutboundTimeouts;
use crate::health::{Health, origin_of};
use crate::metrics::Metrics;
use std::fmt;
use std::sync::Arc;
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody, WasiHttpHooks};

/// One allowed destination: `scheme://host:port`, `scheme://host:*` or `scheme://host`
/// (the scheme's default port).
#[derive(Debug, Clone, PartialEq, Eq)]
struct AllowedHost {
    scheme: String,
    host: String,
    port: Option<u16>, // None = any port
}

/// The destinations the component may send HTTP requests to. Empty means none.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowedOutboundHosts {
    entries: Vec<AllowedHost>,
}

/// Why an `allowed_outbound_hosts` entry is not understood.
#[derive(Debug, thiserror::Error)]
#[error("allowed_outbound_hosts entry {entry:?}: {reason}")]
pub struct AllowedHostError {
    entry: String,
    reason: &'static str,
}

fn default_port(scheme: &str) -> u16 {
    if scheme == "https" { 443 } else { 80 }
}

impl AllowedOutboundHosts {
    /// Parse entries of the form `http://127.0.0.1:1234`, `https://example.com:*` or
    /// `https://example.com`. Hosts are exact (no `*.domain` wildcards).
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Self, AllowedHostError> {
        let entries = entries
            .iter()
            .map(|entry| parse_entry(entry.as_ref()))
            .collect::<Result<_, _>>()?;
        Ok(Self { entries })
    }

    /// Whether a request to `uri` (absolute: scheme and authority) may be sent.
    pub fn allows(&self, uri: &http::Uri) -> bool {
        let (Some(scheme), Some(host)) = (uri.scheme_str(), uri.host()) else {
            return false;
        };
        let scheme = scheme.to_ascii_lowercase();
        let port = uri.port_u16().unwrap_or_else(|| default_port(&scheme));
        self.entries.iter().any(|allowed| {
            allowed.scheme == scheme
                && allowed.host.eq_ignore_ascii_case(host)
                && allowed.port.is_none_or(|p| p == port)
        })
    }
}

fn parse_entry(entry: &str) -> Result<AllowedHost, AllowedHostError> {
    let fail = |reason| AllowedHostError {
        entry: entry.to_owned(),
        reason,
    };
    let (scheme, rest) = entry
        .split_once("://")
        .ok_or_else(|| fail("expected scheme://host:port"))?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return Err(fail("scheme must be http or https"));
    }
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    let (authority, any_port) = match rest.strip_suffix(":*") {
        Some(host) => (host, true),
        None => (rest, false),
    };
    if authority.contains(['/', '?', '#', '@', '*']) {
        return Err(fail(
            "only scheme://host:port or scheme://host:* is supported (no path, user or host wildcard)",
        ));
    }
    let uri: http::Uri = format!("{scheme}://{authority}")
        .parse()
        .map_err(|_| fail("not a valid URL"))?;
    let host = uri
        .host()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| fail("missing host"))?;
    // `http::Uri` accepts a non-numeric port and then reports none.
    if let Some((_, port)) = authority.rsplit_once(':')
        && !port.contains(']')
        && port.parse::<u16>().is_err()
    {
        return Err(fail("port must be a number from 0 to 65535, or *"));
    }
    let port = if any_port {
        if uri.port().is_some() {
            return Err(fail("give either a port or *, not both"));
        }
        None
    } else {
        Some(uri.port_u16().unwrap_or_else(|| default_port(&scheme)))
    };
    Ok(AllowedHost {
        scheme,
        host: host.to_owned(),
        port,
    })
}

impl fmt::Display for AllowedOutboundHosts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.entries.iter().enumerate() {
            let sep = if i == 0 { "" } else { ", " };
            match e.port {
                Some(port) => write!(f, "{sep}{}://{}:{port}", e.scheme, e.host)?,
                None => write!(f, "{sep}{}://{}:*", e.scheme, e.host)?,
            }
        }
        Ok(())
    }
}

/// The wasi-http hooks of one request: default behaviour, except that outgoing requests
/// to destinations not in the allow-list fail with `HTTP-request-denied`.
#[derive(Debug, Clone)]
pub struct OutboundHooks {
    allowed: Arc<AllowedOutboundHosts>,
    timeouts: OutboundTimeouts,
    health: Arc<Health>,
    metrics: Metrics,
    body_chunk_bytes: usize,
}

impl OutboundHooks {
    pub fn new(
        allowed: Arc<AllowedOutboundHosts>,
        timeouts: OutboundTimeouts,
        health: Arc<Health>,
        metrics: Metrics,
    ) -> Self {
        Self {
            allowed,
            timeouts,
            health,
            metrics,
            body_chunk_bytes: wasmtime_wasi_http::p2::DEFAULT_OUTGOING_BODY_CHUNK_SIZE,
        }
    }

    /// Bodies the component writes (responses above all) accept at most `bytes` per write, so
    /// a response waiting for a slow client holds little ([`crate::config::ClientLimits`]).
    pub fn with_body_chunk_bytes(mut self, bytes: usize) -> Self {
        self.body_chunk_bytes = bytes;
        self
    }
}

/// The guest's request options with each timeout capped at the host's: a guest may ask for
/// less, never for more (wasmtime's own default is 600 s for each).
fn capped(options: Option<RequestOptions>, limits: OutboundTimeouts) -> RequestOptions {
    let options = options.unwrap_or_default();
    let cap =
        |asked: Option<std::time::Duration>, limit| Some(asked.map_or(limit, |a| a.min(limit)));
    RequestOptions {
        connect_timeout: cap(options.connect_timeout, limits.connect),
        first_byte_timeout: cap(options.first_byte_timeout, limits.first_byte),
        between_bytes_timeout: cap(options.between_bytes_timeout, limits.idle),
    }
}

type SendFuture = Box<
    dyn Future<
            Output = Result<
                (
                    http::Response<WasiBody>,
                    Box<dyn Future<Output = Result<(), HttpError>> + Send>,
                ),
                HttpError,
            >,
        > + Send,
>;

impl WasiHttpHooks for OutboundHooks {
    fn p2_outgoing_body_chunk_size(&mut self) -> usize {
        self.body_chunk_bytes
    }

    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), HttpError>> + Send>,
    ) -> SendFuture {
        if !self.allowed.allows(request.uri()) {
            tracing::warn!(
                uri = %request.uri(),
                "outbound request denied: not in allowed_outbound_hosts"
            );
            return Box::new(async { Err(HttpError::HttpRequestDenied) });
        }
        let options = capped(options, self.timeouts);
        let health = self.health.clone();
        let metrics = self.metrics.clone();
        let origin = origin_of(request.uri()).unwrap_or_default();
        let path = request.uri().path().to_owned();
        Box::new(async move {
            use http_body_util::BodyExt;
            // Bodies stream through in both directions; nothing here buffers them.
            let sent = wasmtime_wasi_http::default_send_request(request, Some(options)).await;
            let is_main = health.is_main(&origin);
            health.outbound(&origin, sent.is_ok());
            metrics.outbound(is_main, &path, sent.is_ok());
            let (response, io) = sent?;
            let filled = (!is_main).then(|| metrics.filled_counter(&origin));
            let response = response.map(move |body| {
                body.map_frame(move |frame| {
                    if let (Some(counter), Some(data)) = (&filled, frame.data_ref()) {
                        counter.inc_by(data.len() as u64);
                    }
                    frame
                })
            });
            Ok((
                response.map(BodyExt::boxed_unsync),
                Box::new(io) as Box<dyn Future<Output = _> + Send>,
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allows(list: &AllowedOutboundHosts, uri: &str) -> bool {
        list.allows(&uri.parse().unwrap())
    }

    #[test]
    fn exact_and_any_port() {
        let list = AllowedOutboundHosts::parse(&[
            "http://127.0.0.1:1234",
            "http://localhost:*",
            "https://Main.Example.com",
        ])
        .unwrap();
        assert!(allows(&list, "http://127.0.0.1:1234/v1/edge/authorize?x=1"));
        assert!(!allows(&list, "http://127.0.0.1:1235/"));
        assert!(!allows(&list, "https://127.0.0.1:1234/"));
        assert!(!allows(&list, "http://127.0.0.2:1234/"));
        assert!(allows(&list, "http://localhost:1/"));
        assert!(allows(&list, "http://LOCALHOST:65535/a"));
        assert!(allows(&list, "http://localhost/"));
        assert!(allows(&list, "https://main.example.com/jwks"));
        assert!(allows(&list, "https://main.example.com:443/jwks"));
        assert!(!allows(&list, "https://main.example.com:8443/"));
        assert!(!allows(&list, "http://main.example.com/"));
        assert!(!allows(&list, "https://evil.example.com/"));
        assert!(!allows(&list, "/relative/only"));
    }

    #[test]
    fn guest_timeouts_are_capped_by_the_host() {
        use std::time::Duration;
        let limits = OutboundTimeouts::default();
        let none = capped(None, limits);
        assert_eq!(none.connect_timeout, Some(limits.connect));
        assert_eq!(none.first_byte_timeout, Some(limits.first_byte));
        assert_eq!(none.between_bytes_timeout, Some(limits.idle));
        let asked = RequestOptions {
            connect_timeout: Some(Duration::from_secs(1)),
            first_byte_timeout: Some(Duration::from_secs(3600)),
            between_bytes_timeout: None,
        };
        let got = capped(Some(asked), limits);
        assert_eq!(got.connect_timeout, Some(Duration::from_secs(1)));
        assert_eq!(got.first_byte_timeout, Some(limits.first_byte));
    }

    #[test]
    fn empty_list_denies_everything() {
        let list = AllowedOutboundHosts::default();
        assert!(!allows(&list, "http://127.0.0.1:80/"));
    }

    #[test]
    fn ipv6_hosts() {
        let list = AllowedOutboundHosts::parse(&["http://[::1]:*"]).unwrap();
        assert!(allows(&list, "http://[::1]:8080/"));
        assert!(!allows(&list, "http://[::2]:8080/"));
    }

    #[test]
    fn bad_entries_are_rejected() {
        for bad in [
            "127.0.0.1:1234",
            "ftp://host:21",
            "http://host:1234/path",
            "http://*.example.com",
            "http://host:notaport",
            "http://host:1:*",
            "http://:80",
            "http://user@host:80",
            "*://*:*",
        ] {
            assert!(AllowedOutboundHosts::parse(&[bad]).is_err(), "{bad}");
        }
        let err = AllowedOutboundHosts::parse(&["http://host:1234/path"]).unwrap_err();
        assert!(err.to_string().contains("http://host:1234/path"));
    }

    #[test]
    fn display_lists_entries() {
        let list =
            AllowedOutboundHosts::parse(&["http://a:1", "https://b:*", "https://c"]).unwrap();
        assert_eq!(list.to_string(), "http://a:1, https://b:*, https://c:443");
    }
}
