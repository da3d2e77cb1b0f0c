//! What `/healthz` says: `ok`, or `degraded` with the reasons, from what the host saw the
//! component do — cache writes that fail (a full disk), calls to main that fail, calls to every
//! parent failing. A degraded edge still serves what it can (cached bytes, streaming through),
//! so the answer stays 200; the body and the `cdn_edge_health_degraded` metric tell the operator.
//!
//! The rules are plain functions of the last success and the last failure seen (unix seconds):
//! a peer is failing when its latest outcome within [`RECENT_SECS`] was a failure; the store when
//! any write failed within that time.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

use crate::kv::{KvBackend, KvError};

/// How long a failure counts against health when nothing succeeded since.
pub const RECENT_SECS: u64 = 60;

/// The latest outcome of one thing and its unix second, packed in one word (`second << 1 | ok`;
/// 0 = nothing seen), so that concurrent recorders never tear it.
#[derive(Debug, Default)]
pub struct Outcomes {
    latest: AtomicU64,
    /// Unix second of the last failure (0 = none).
    failed_at: AtomicU64,
}

impl Outcomes {
    /// Records one outcome at `now`; the latest recorded outcome is the one that counts.
    pub fn record(&self, ok: bool, now: u64) {
        self.latest
            .store(now << 1 | u64::from(ok), Ordering::Relaxed);
        if !ok {
            self.failed_at.fetch_max(now, Ordering::Relaxed);
        }
    }

    /// Whether any outcome within [`RECENT_SECS`] of `now` was a failure — for the store, where
    /// small writes may still fit on a disk too full for chunks.
    pub fn failed_recently(&self, now: u64) -> bool {
        let at = self.failed_at.load(Ordering::Relaxed);
        at != 0 && now.saturating_sub(at) <= RECENT_SECS
    }

    /// Whether the latest outcome was a failure within [`RECENT_SECS`] of `now`.
    pub fn failing(&self, now: u64) -> bool {
        let latest = self.latest.load(Ordering::Relaxed);
        let (at, ok) = (latest >> 1, latest & 1 == 1);
        latest != 0 && !ok && now.saturating_sub(at) <= RECENT_SECS
    }
}

/// What the host knows of the edge's health.
#[derive(Debug, Default)]
pub struct Health {
    cache_writes: Outcomes,
    main: Outcomes,
    /// Per parent origin (`scheme://host:port`).
    parents: Mutex<HashMap<String, Outcomes>>,
    /// Origin of main (`scheme://host:port`), from the `main_url` variable.
    main_origin: String,
}

/// The `/healthz` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HealthReport {
    /// `ok` or `degraded`.
    pub status: &'static str,
    /// Why degraded, one sentence each.
    pub reasons: Vec<&'static str>,
}

impl HealthReport {
    /// Whether anything is wrong.
    pub fn degraded(&self) -> bool {
        !self.reasons.is_empty()
    }
}

/// `scheme://host:port` of a URI, with the scheme's default port filled in.
pub fn origin_of(uri: &http::Uri) -> Option<String> {
    let scheme = uri.scheme_str()?;
    let host = uri.host()?;
    let port = uri
        .port_u16()
        .unwrap_or(if scheme == "https" { 443 } else { 80 });
    Some(format!("{scheme}://{host}:{port}").to_ascii_lowercase())
}

impl Health {
    /// Health of an edge whose main is at `main_url` (unparseable: every call counts as a
    /// parent's).
    pub fn new(main_url: Option<&str>) -> Self {
        let main_origin = main_url
            .and_then(|u| u.parse::<http::Uri>().ok())
            .and_then(|u| origin_of(&u))
            .unwrap_or_default();
        Self {
            main_origin,
            ..Self::default()
        }
    }

    /// Whether `origin` is main's.
    pub fn is_main(&self, origin: &str) -> bool {
        origin == self.main_origin
    }

    /// Records a cache write's outcome.
    pub fn cache_write(&self, ok: bool) {
        self.cache_writes.record(ok, protocol::unix_now());
    }

    /// Records an outbound call's outcome (`ok`: a response head arrived) by its origin.
    pub fn outbound(&self, origin: &str, ok: bool) {
        let now = protocol::unix_now();
        if origin == self.main_origin {
            self.main.record(ok, now);
        } else {
            let mut parents = self.parents.lock().unwrap_or_else(|p| p.into_inner());
            parents
                .entry(origin.to_owned())
                .or_default()
                .record(ok, now);
        }
    }

    /// The report at `now`.
    pub fn report(&self, now: u64) -> HealthReport {
        let mut reasons = Vec::new();
        if self.cache_writes.failed_recently(now) {
            reasons.push("cache writes are failing (disk full or unwritable): every byte is fetched from the parents");
        }
        if self.main.failing(now) {
            reasons.push("main is unreachable: new download sessions cannot be authorized");
        }
        let parents = self.parents.lock().unwrap_or_else(|p| p.into_inner());
        if !parents.is_empty() && parents.values().all(|p| p.failing(now)) {
            reasons.push("no parent is reachable: only cached bytes can be served");
        }
        HealthReport {
            status: if reasons.is_empty() { "ok" } else { "degraded" },
            reasons,
        }
    }
}

/// A key-value store that tells [`Health`] whether its writes succeed.
#[derive(Debug)]
pub struct MonitoredKv<K> {
    inner: K,
    health: std::sync::Arc<Health>,
}

impl<K> MonitoredKv<K> {
    pub fn new(inner: K, health: std::sync::Arc<Health>) -> Self {
        Self { inner, health }
    }

    fn seen<T>(&self, result: Result<T, KvError>) -> Result<T, KvError> {
        // Only I/O failures say something about the disk; a key too long is the caller's.
        match &result {
            Ok(_) => self.health.cache_write(true),
            Err(KvError::Io { .. }) => self.health.cache_write(false),
            Err(_) => {}
        }
        result
    }
}

impl<K: KvBackend> KvBackend for MonitoredKv<K> {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        self.inner.get(key)
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<(), KvError> {
        self.seen(self.inner.set(key, value))
    }

    fn delete(&self, key: &str) -> Result<(), KvError> {
        self.inner.delete(key)
    }

    fn exists(&self, key: &str) -> Result<bool, KvError> {
        self.inner.exists(key)
    }

    fn get_keys(&self) -> Result<Vec<String>, KvError> {
        self.inner.get_keys()
    }

    fn open_value(&self, key: &str) -> Result<Option<crate::kv::StoredValue>, KvError> {
        self.inner.open_value(key)
    }

    fn bytes_held(&self) -> Option<u64> {
        self.inner.bytes_held()
    }

    fn increment(&self, key: &str, delta: i64) -> Result<i64, KvError> {
        self.seen(self.inner.increment(key, delta))
    }

    fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> Result<bool, KvError> {
        self.seen(self.inner.compare_and_swap(key, expected, new))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_latest_recent_outcome_decides() {
        let o = Outcomes::default();
        assert!(!o.failing(1000));
        o.record(false, 1000);
        assert!(o.failing(1000));
        assert!(o.failing(1000 + RECENT_SECS));
        assert!(
            !o.failing(1001 + RECENT_SECS),
            "an old failure is forgotten"
        );
        o.record(true, 1010);
        assert!(!o.failing(1010));
        o.record(false, 1010);
        assert!(
            o.failing(1010),
            "the latest outcome counts, whatever the second"
        );
    }

    #[test]
    fn reasons_for_store_main_and_parents() {
        let h = Health::new(Some("http://127.0.0.1:8080"));
        let now = protocol::unix_now();
        assert_eq!(h.report(now).status, "ok");
        h.outbound("http://127.0.0.1:9001", false);
        h.outbound("http://127.0.0.1:9002", true);
        assert!(!h.report(now).degraded(), "one parent still answers");
        h.outbound("http://127.0.0.1:9002", false);
        h.outbound("http://127.0.0.1:8080", false);
        h.cache_write(false);
        let r = h.report(now);
        assert_eq!(r.status, "degraded");
        assert_eq!(r.reasons.len(), 3, "{r:?}");
        h.outbound("http://127.0.0.1:8080", true);
        h.cache_write(true);
        let r = h.report(now);
        assert_eq!(r.reasons.len(), 2, "{r:?}");
        assert!(
            r.reasons[0].contains("cache writes"),
            "a success does not hide a recent failure"
        );
    }

    #[test]
    fn origins_name_the_port() {
        let o = |u: &str| origin_of(&u.parse().unwrap()).unwrap();
        assert_eq!(
            o("http://Main.example.com/x?y"),
            "http://main.example.com:80"
        );
        assert_eq!(o("https://a:8443/"), "https://a:8443");
        assert_eq!(o("https://a/"), "https://a:443");
    }
}
