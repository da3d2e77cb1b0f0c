//! Prometheus metrics of the main service, served at `/metrics`.

use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Outcome {
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Limit {
    limit: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Answer {
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Route {
    route: String,
}

type Latency = Family<Route, Histogram, fn() -> Histogram>;

/// Latency buckets from 0.5 ms to about 8 s, doubling.
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0005, 2.0, 15))
}

/// The service's counters and their registry.
#[derive(Debug, Clone)]
pub struct Metrics {
    registry: Arc<Registry>,
    authorize: Family<Outcome, Counter>,
    ingested_bytes: Counter,
    limited: Family<Limit, Counter>,
    answers: Family<Answer, Counter>,
    latency: Latency,
    rentals: Family<Outcome, Counter>,
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
        let answers = Family::<Answer, Counter>::default();
        registry.register(
            "http_requests",
            "Requests answered, by route pattern and status",
            answers.clone(),
        );
        let latency: Latency = Family::new_with_constructor(latency_histogram);
        registry.register(
            "http_request_duration_seconds",
            "Time from request to answer head, by route pattern",
            latency.clone(),
        );
        let rentals = Family::<Outcome, Counter>::default();
        registry.register(
            "rentals",
            "Rental attempts by outcome: created, or the refusal's code (card_declined, already_rented, …)",
            rentals.clone(),
        );
        Self {
            registry: Arc::new(registry),
            authorize,
            ingested_bytes,
            limited,
            answers,
            latency,
            rentals,
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

    /// Counts one answer on `route` with `status`, which took `secs`.
    pub fn request(&self, route: &str, status: u16, secs: f64) {
        self.answers
            .get_or_create(&Answer {
                route: route.to_owned(),
                status,
            })
            .inc();
        self.latency
            .get_or_create(&Route {
                route: route.to_owned(),
            })
            .observe(secs);
    }

    /// Counts one rental attempt with `outcome`.
    pub fn rental(&self, outcome: &str) {
        self.rentals
            .get_or_create(&Outcome {
                outcome: outcome.to_owned(),
            })
            .inc();
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
