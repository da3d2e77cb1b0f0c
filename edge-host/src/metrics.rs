//! The edge's Prometheus metrics (`GET /metrics`, text format), as the host sees the component
//! work: responses by route and status, hits and misses and bytes served per zone, outbound calls
//! to main and the parents (authorize calls among them), bytes filled per parent, and, read when
//! scraped, health, cache bytes on disk and chunks found changed at rest.
//!
//! `/metrics` answers only clients in `metrics_allowed_cidrs` (loopback by default): an edge faces
//! the public, its metrics need not.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::health::Health;
use crate::kv::KvBackend;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Response {
    route: &'static str,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Lookup {
    zone: &'static str,
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Zone {
    zone: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Outbound {
    peer: &'static str,
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Parent {
    parent: String,
}

/// The route a request path belongs to, as a metric label.
pub fn route_of(path: &str) -> &'static str {
    if path.starts_with("/v1/content/") {
        "content"
    } else if path.starts_with("/v1/public/") {
        "public"
    } else if path.starts_with("/v1/internal/") {
        "internal"
    } else if path == "/healthz" {
        "health"
    } else {
        "other"
    }
}

/// The cache zone of a route: paid sealed items, or other (public) objects.
pub fn zone_of(route: &str) -> Option<&'static str> {
    match route {
        "content" => Some("licensed"),
        "public" => Some("other"),
        _ => None,
    }
}

/// The edge's counters and gauges.
#[derive(Debug, Clone)]
pub struct Metrics {
    registry: Arc<Registry>,
    responses: Family<Response, Counter>,
    lookups: Family<Lookup, Counter>,
    served_bytes: Family<Zone, Counter>,
    outbound: Family<Outbound, Counter>,
    authorize_calls: Counter,
    stalled_closed: Counter,
    filled_bytes: Family<Parent, Counter>,
    degraded: Gauge,
    cache_bytes: Gauge<u64, AtomicU64>,
    corrupt_chunks: Gauge,
    zone_used: Family<Zone, Gauge>,
    zone_budget: Family<Zone, Gauge>,
    evicted_items: Gauge,
    evicted_bytes: Gauge,
    lease_waits: Gauge,
    handoffs: Counter,
    session_answers: Counter,
    direct_responses: Counter,
    open_connections: Gauge,
    handoff_fallbacks: Family<Reason, Counter>,
    scrubbed_bytes: Counter,
    scrub_mismatches: Counter,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Reason {
    reason: &'static str,
}

/// Counters the component keeps in its store, read at scrape time: (key, metric name, help).
const STORED: [(&str, &str, &str); 3] = [
    (
        "stats/evicted_items",
        "evicted_items",
        "Object versions evicted or purged by the maintenance call (since the cache was created)",
    ),
    (
        "stats/evicted_bytes",
        "evicted_bytes",
        "Chunk bytes deleted by the maintenance call (since the cache was created)",
    ),
    (
        "stats/lease_waits",
        "lease_waits",
        "Chunks a request awaited from another request's fill instead of fetching them",
    ),
];

/// The component's cache zones.
const ZONES: [&str; 2] = ["licensed", "other"];

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("cdn_edge");
        let responses = Family::<Response, Counter>::default();
        registry.register(
            "responses",
            "Responses by route and status",
            responses.clone(),
        );
        let lookups = Family::<Lookup, Counter>::default();
        registry.register(
            "cache_lookups",
            "Content responses by zone and result (hit: every byte from the cache)",
            lookups.clone(),
        );
        let served_bytes = Family::<Zone, Counter>::default();
        registry.register(
            "served_bytes",
            "Body bytes sent to clients per zone",
            served_bytes.clone(),
        );
        let outbound = Family::<Outbound, Counter>::default();
        registry.register(
            "outbound_requests",
            "Outbound requests by peer (main, parent) and result (a response head arrived or not)",
            outbound.clone(),
        );
        let authorize_calls = Counter::default();
        registry.register(
            "authorize_calls",
            "Authorize calls made to main",
            authorize_calls.clone(),
        );
        let stalled_closed = Counter::default();
        registry.register(
            "stalled_connections_closed",
            "Client connections closed because the client read nothing within the stall timeout",
            stalled_closed.clone(),
        );
        let filled_bytes = Family::<Parent, Counter>::default();
        registry.register(
            "filled_bytes",
            "Response body bytes received from each parent origin",
            filled_bytes.clone(),
        );
        let degraded = Gauge::default();
        registry.register(
            "health_degraded",
            "1 while /healthz reports degraded",
            degraded.clone(),
        );
        let cache_bytes = Gauge::<u64, AtomicU64>::default();
        registry.register(
            "cache_bytes",
            "Bytes held in the key-value store",
            cache_bytes.clone(),
        );
        let corrupt_chunks = Gauge::default();
        registry.register(
            "corrupt_chunks",
            "Cached chunks found changed at rest, dropped and refilled (since the cache was created)",
            corrupt_chunks.clone(),
        );
        let zone_used = Family::<Zone, Gauge>::default();
        registry.register(
            "zone_used_bytes",
            "Bytes of chunks each cache zone holds (the component's own count)",
            zone_used.clone(),
        );
        let zone_budget = Family::<Zone, Gauge>::default();
        registry.register(
            "zone_budget_bytes",
            "Each cache zone's byte budget, as the last maintenance call applied it",
            zone_budget.clone(),
        );
        let [evicted_items, evicted_bytes, lease_waits] = STORED.map(|(_, name, help)| {
            let gauge = Gauge::default();
            registry.register(name, help, gauge.clone());
            gauge
        });
        let handoffs = Counter::default();
        registry.register(
            "handoff_responses",
            "Cached responses the component handed to the host to send",
            handoffs.clone(),
        );
        let open_connections = Gauge::default();
        registry.register(
            "open_connections",
            "Client connections open now",
            open_connections.clone(),
        );
        let session_answers = Counter::default();
        registry.register(
            "session_pass_responses",
            "Requests of an already granted session the host answered alone, without the component",
            session_answers.clone(),
        );
        let direct_responses = Counter::default();
        registry.register(
            "direct_responses",
            "Session-pass responses sent with sendfile, before hyper took the connection (also counted in session_pass_responses)",
            direct_responses.clone(),
        );
        let handoff_fallbacks = Family::<Reason, Counter>::default();
        registry.register(
            "handoff_fallbacks",
            "Handed-over responses whose rest the host asked the component for, by reason (a chunk missing, changed at rest, or a store error)",
            handoff_fallbacks.clone(),
        );
        let scrubbed_bytes = Counter::default();
        registry.register(
            "scrubbed_bytes",
            "Bytes of verified cached chunks the background scrub re-read",
            scrubbed_bytes.clone(),
        );
        let scrub_mismatches = Counter::default();
        registry.register(
            "scrub_mismatches",
            "Cached chunks the background scrub found decayed at rest",
            scrub_mismatches.clone(),
        );
        Self {
            handoffs,
            session_answers,
            direct_responses,
            open_connections,
            handoff_fallbacks,
            scrubbed_bytes,
            scrub_mismatches,
            zone_used,
            zone_budget,
            evicted_items,
            evicted_bytes,
            lease_waits,
            registry: Arc::new(registry),
            responses,
            lookups,
            served_bytes,
            outbound,
            authorize_calls,
            stalled_closed,
            filled_bytes,
            degraded,
            cache_bytes,
            corrupt_chunks,
        }
    }
}

impl Metrics {
    /// The count of client connections closed for reading nothing within the stall timeout.
    pub fn stalled_closed_counter(&self) -> Counter {
        self.stalled_closed.clone()
    }

    /// Counts one response; `x_cache` is its `X-Cache` header, if any.
    pub fn response(&self, route: &'static str, status: u16, x_cache: Option<&str>) {
        self.responses
            .get_or_create(&Response { route, status })
            .inc();
        if let (Some(zone), Some(result)) = (zone_of(route), x_cache) {
            let result = if result == "HIT" { "hit" } else { "miss" };
            self.lookups.get_or_create(&Lookup { zone, result }).inc();
        }
    }

    /// The counter of body bytes served for `route`'s zone, if it has one.
    pub fn served_counter(&self, route: &str) -> Option<Counter> {
        zone_of(route).map(|zone| self.served_bytes.get_or_create(&Zone { zone }).clone())
    }

    /// Counts one outbound request to main (`is_main`) or a parent.
    pub fn outbound(&self, is_main: bool, path: &str, ok: bool) {
        let peer = if is_main { "main" } else { "parent" };
        let result = if ok { "ok" } else { "error" };
        self.outbound
            .get_or_create(&Outbound { peer, result })
            .inc();
        if is_main && path == "/v1/edge/authorize" {
            self.authorize_calls.inc();
        }
    }

    /// Counts one response the component handed over.
    pub fn handoff(&self) {
        self.handoffs.inc();
    }

    /// The gauge of open client connections.
    pub fn open_connections(&self) -> Gauge {
        self.open_connections.clone()
    }

    /// Hits over hits and misses since start (`None` before any lookup), and each zone's budget
    /// and use as the last maintenance call set them (zones never set are left out).
    pub fn heartbeat_figures(&self) -> (Option<f64>, Vec<protocol::ZoneUse>) {
        let (mut hits, mut all) = (0u64, 0u64);
        let mut zones = Vec::new();
        for zone in ["licensed", "other"] {
            for result in ["hit", "miss"] {
                let n = self.lookups.get_or_create(&Lookup { zone, result }).get();
                all += n;
                if result == "hit" {
                    hits += n;
                }
            }
            let budget = self.zone_budget.get_or_create(&Zone { zone }).get();
            let used = self.zone_used.get_or_create(&Zone { zone }).get();
            if budget > 0 || used > 0 {
                zones.push(protocol::ZoneUse {
                    zone: zone.to_owned(),
                    budget: budget.max(0) as u64,
                    used: used.max(0) as u64,
                });
            }
        }
        let ratio = (all > 0).then(|| hits as f64 / all as f64);
        (ratio, zones)
    }

    /// Cache lookups, hits and bytes served to clients since start, over both zones.
    pub fn heartbeat_counts(&self) -> (u64, u64, u64) {
        let (mut lookups, mut hits, mut served) = (0, 0, 0);
        for zone in ["licensed", "other"] {
            for result in ["hit", "miss"] {
                let n = self.lookups.get_or_create(&Lookup { zone, result }).get();
                lookups += n;
                if result == "hit" {
                    hits += n;
                }
            }
            served += self.served_bytes.get_or_create(&Zone { zone }).get();
        }
        (lookups, hits, served)
    }

    /// Counts one request the host answered alone on a session pass.
    pub fn session_answer(&self) {
        self.session_answers.inc();
    }

    /// Counts one session-pass response sent with `sendfile` ([`crate::direct`]).
    pub fn direct_response(&self) {
        self.direct_responses.inc();
    }

    /// Counts one handed-over response finished by the component, for `reason`.
    pub fn handoff_fallback(&self, reason: &'static str) {
        self.handoff_fallbacks
            .get_or_create(&Reason { reason })
            .inc();
    }

    /// Counts `bytes` re-read by the scrub, and whether they no longer matched.
    pub fn scrubbed(&self, bytes: u64, mismatch: bool) {
        self.scrubbed_bytes.inc_by(bytes);
        if mismatch {
            self.scrub_mismatches.inc();
        }
    }

    /// The counter of body bytes received from parent `origin`.
    pub fn filled_counter(&self, origin: &str) -> Counter {
        self.filled_bytes
            .get_or_create(&Parent {
                parent: origin.to_owned(),
            })
            .clone()
    }

    /// The text exposition, with the gauges read now.
    pub fn encode(&self, health: &Health, kv: &dyn KvBackend, now: u64) -> String {
        self.degraded.set(i64::from(health.report(now).degraded()));
        let read = |key: &str| -> Option<i64> {
            let v = kv.get(key).ok()??;
            std::str::from_utf8(&v).ok()?.parse().ok()
        };
        if let Some(n) = read("stats/corrupt_chunks") {
            self.corrupt_chunks.set(n);
        }
        for ((key, _, _), gauge) in
            STORED
                .iter()
                .zip([&self.evicted_items, &self.evicted_bytes, &self.lease_waits])
        {
            gauge.set(read(key).unwrap_or(0));
        }
        for zone in ZONES {
            let label = Zone { zone };
            let used = read(&format!("zone/{zone}/used")).unwrap_or(0);
            self.zone_used.get_or_create(&label).set(used);
            if let Some(budget) = read(&format!("stats/budget_{zone}")) {
                self.zone_budget.get_or_create(&label).set(budget);
            }
        }
        if let Some(bytes) = kv.bytes_held() {
            self.cache_bytes.set(bytes);
        }
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_zones_and_text() {
        assert_eq!(route_of("/v1/content/film"), "content");
        assert_eq!(route_of("/v1/public/poster"), "public");
        assert_eq!(route_of("/v1/internal/prefill"), "internal");
        assert_eq!(route_of("/nope"), "other");
        let m = Metrics::default();
        m.response("content", 206, Some("HIT"));
        m.response("content", 206, Some("MISS"));
        m.response("health", 200, None);
        m.served_counter("content").unwrap().inc_by(1000);
        m.outbound(true, "/v1/edge/authorize", true);
        m.outbound(false, "/items/x", false);
        m.filled_counter("http://127.0.0.1:9000").inc_by(5);
        let kv = crate::DiskKv::open(tempfile::tempdir().unwrap().keep()).unwrap();
        kv.set("stats/corrupt_chunks", b"2").unwrap();
        kv.set("zone/licensed/used", b"4096").unwrap();
        kv.set("stats/budget_licensed", b"8192").unwrap();
        kv.set("stats/lease_waits", b"7").unwrap();
        let text = m.encode(&Health::new(None), &kv, protocol::unix_now());
        for line in [
            "cdn_edge_cache_lookups_total{zone=\"licensed\",result=\"hit\"} 1",
            "cdn_edge_served_bytes_total{zone=\"licensed\"} 1000",
            "cdn_edge_authorize_calls_total 1",
            "cdn_edge_outbound_requests_total{peer=\"parent\",result=\"error\"} 1",
            "cdn_edge_filled_bytes_total{parent=\"http://127.0.0.1:9000\"} 5",
            "cdn_edge_corrupt_chunks 2",
            "cdn_edge_health_degraded 0",
            "cdn_edge_zone_used_bytes{zone=\"licensed\"} 4096",
            "cdn_edge_zone_used_bytes{zone=\"other\"} 0",
            "cdn_edge_zone_budget_bytes{zone=\"licensed\"} 8192",
            "cdn_edge_lease_waits 7",
            "cdn_edge_evicted_items 0",
        ] {
            assert!(text.contains(line), "{line} missing in\n{text}");
        }
        assert!(text.contains("cdn_edge_cache_bytes 1"), "{text}");
    }
}
