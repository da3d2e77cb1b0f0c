//! Prometheus metrics of the main service, served at `/metrics`.

use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Outcome {
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Limit {
    limit: &'static str,
}

/// The service's counters and their registry.
#[derive(Debug, Clone)]
pub struct Metrics {
    registry: Arc<Registry>,
    authorize: Family<Outcome, Counter>,
    ingested_bytes: Counter,
    limited: Family<Limit, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("cdn_main");
        let authorize = Family::<Outcome, Counter>::default();
        registry.register(
            "authorize_decisions",
            "Edge authorize decisions by outcome",
            authorize.clone(),
        );
        let ingested_bytes = Counter::default();
        registry.register(
            "ingested_bytes",
            "Plaintext bytes ingested",
            ingested_bytes.clone(),
        );
        let limited = Family::<Limit, Counter>::default();
        registry.register(
            "rate_limited",
            "Requests refused with 429 by rate limit or lockout",
            limited.clone(),
        );
        Self {
            registry: Arc::new(registry),
            authorize,
            ingested_bytes,
            limited,
        }
    }
}

impl Metrics {
    /// Counts one authorize decision.
    pub fn authorize(&self, outcome: &str) {
        self.authorize
            .get_or_create(&Outcome {
                outcome: outcome.to_owned(),
            })
            .inc();
    }

    /// Counts one request refused by `limit`.
    pub fn limited(&self, limit: &'static str) {
        self.limited.get_or_create(&Limit { limit }).inc();
    }

    /// Counts ingested bytes.
    pub fn ingested(&self, bytes: u64) {
        self.ingested_bytes.inc_by(bytes);
    }

    /// The OpenMetrics text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }
}
