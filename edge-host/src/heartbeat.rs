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

use crate::runtime::EdgeRuntime;

/// Where and as whom heartbeats are sent.
#[derive(Debug, Clone)]
pub struct Target {
    pub mains: Vec<String>,
    pub edge_id: String,
    pub edge_secret: String,
}

impl Target {
    /// From the component's variables: `None` (with the missing name) when one is not set.
    pub fn from_variables(vars: &crate::variables::Variables) -> Result<Self, &'static str> {
        let get = |name: &'static str| vars.get(name).map_err(|_| name);
        let mains = get("main_url")?
            .split(',')
            .map(|m| m.trim().trim_end_matches('/').to_owned())
            .filter(|m| !m.is_empty())
            .collect();
        Ok(Self {
            mains,
            edge_id: get("edge_id")?,
            edge_secret: get("edge_secret")?,
        })
    }
}

/// This edge's heartbeat now.
pub fn heartbeat(runtime: &EdgeRuntime, max_connections: usize) -> protocol::Heartbeat {
    let report = runtime.health().report(protocol::unix_now());
    let (hit_ratio, zones) = runtime.metrics().heartbeat_figures();
    protocol::Heartbeat {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        status: report.status.to_owned(),
        reasons: report.reasons.iter().map(|r| (*r).to_owned()).collect(),
        open_connections: runtime.metrics().open_connections().get().max(0) as u64,
        max_connections: max_connections as u64,
        hit_ratio,
        zones,
    }
}

/// Sends `beat` to the first main of `target` that accepts it.
pub async fn send(
    client: &reqwest::Client,
    target: &Target,
    beat: &protocol::Heartbeat,
) -> Result<(), String> {
    let mut failures = Vec::new();
    for main in &target.mains {
        let answer = client
            .post(format!("{main}/v1/edge/heartbeat"))
            .header("x-edge-id", &target.edge_id)
            .bearer_auth(&target.edge_secret)
            .json(beat)
            .send()
            .await;
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
    target: Target,
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
