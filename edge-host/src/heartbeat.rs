//! Heartbeats: every `heartbeat_interval_secs`, edge-host tells main how this edge is —
//! `POST /v1/edge/heartbeat` with the edge's credential (variables `edge_id`, `edge_secret`) and
//! a [`protocol::Heartbeat`]: `/healthz`'s status and reasons, open connections against
//! `max_connections`, the hit ratio since start, and each zone's budget and use. Main keeps the
//! last one and chooses edges for new rentals by it: an edge silent for three intervals is
//! skipped, a degraded or busy one comes after healthy ones.
//!
//! `main_url` may list several mains (comma-separated, as the component reads it); a heartbeat
//! goes to the first that accepts it. A failed heartbeat is logged and the next one tries again:
//! main's view of this edge ages until one gets through.

use std::time::Duration;

use edge_fn::EdgeConfig;

use crate::runtime::EdgeRuntime;

/// Where and as whom heartbeats are sent: the component's own reading of its variables
/// (`main_url`, `edge_id`, `edge_secret`, …), so host and component agree on both.
pub fn target(vars: &crate::variables::Variables) -> Result<EdgeConfig, edge_fn::ConfigError> {
    EdgeConfig::from_lookup(|name| vars.get(name).ok())
}

/// This edge's heartbeat now.
pub fn heartbeat(runtime: &EdgeRuntime, max_connections: usize) -> protocol::Heartbeat {
    let report = runtime.health().report(protocol::unix_now());
    let (hit_ratio, zones) = runtime.metrics().heartbeat_figures();
    let (lookups, hits, served_bytes) = runtime.metrics().heartbeat_counts();
    protocol::Heartbeat {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        status: report.status.to_owned(),
        reasons: report.reasons.iter().map(|r| (*r).to_owned()).collect(),
        open_connections: runtime.metrics().open_connections().get().max(0) as u64,
        max_connections: max_connections as u64,
        hit_ratio,
        zones,
        lookups,
        hits,
        served_bytes,
    }
}

/// Sends `beat` to the first main of `target` that accepts it.
pub async fn send(
    client: &reqwest::Client,
    target: &EdgeConfig,
    beat: &protocol::Heartbeat,
) -> Result<(), String> {
    let mut failures = Vec::new();
    for main in &target.main_urls {
        let mut request = client.post(format!("{main}/v1/edge/heartbeat"));
        for (name, value) in target.edge_auth_headers() {
            request = request.header(name, value);
        }
        let answer = request.json(beat).send().await;
        match answer {
            Ok(r) if r.status().is_success() => return Ok(()),
            Ok(r) => failures.push(format!("{main}: {}", r.status())),
            Err(e) => failures.push(format!("{main}: {e}")),
        }
    }
    Err(failures.join("; "))
}

/// Sends a heartbeat every `interval`, the first at once.
pub async fn run_ticker(
    runtime: EdgeRuntime,
    target: EdgeConfig,
    interval: Duration,
    max_connections: usize,
) {
    let client = match reqwest::Client::builder()
        .timeout(Duration::from_secs(10).min(interval))
        .build()
    {
        Ok(client) => client,
        Err(e) => return tracing::error!(error = %e, "heartbeats: building the HTTP client"),
    };
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let beat = heartbeat(&runtime, max_connections);
        if let Err(e) = send(&client, &target, &beat).await {
            tracing::warn!(error = %e, "heartbeat to main failed");
        }
    }
}
