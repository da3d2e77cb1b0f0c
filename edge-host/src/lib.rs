//! edge-host: a small wasmtime host that runs the edge component (a Spin 5.2 HTTP
//! component, `wasm32-wasip2`) with the imports Spin offers it, so that the same `.wasm`
//! runs on Spin 3 and here.
//!
//! - [`config`]: the TOML config file, validated into [`Settings`].
//! - [`runtime`]: [`EdgeRuntime`], the component compiled and pre-instantiated once, run
//!   in a fresh `Store` per request.
//! - [`server`]: the HTTP/1.1 front (client-address and internal headers, `/healthz`,
//!   graceful shutdown, the connection cap and stalled clients closed): each connection on
//!   `direct` first — a granted session's GETs sent with `sendfile` — then on hyper, and back
//!   after each GET hyper answered.
//! - [`prefill`]: the ticker that calls the component's `POST /v1/internal/prefill`,
//!   signed with the edge secret.
//! - [`call`]: `edge-host call`, the same signed call over the network, for schedulers.
//! - [`handoff`]: the cached-body handoff — fully cached ranges the component authorized, sent
//!   by the host natively, every chunk verified (once per process, plus a paced scrub).
//! - [`session`]: sessions already granted — the component's session passes, and the later
//!   requests of those sessions answered by the host alone.
//! - [`heartbeat`]: the ticker that tells main how this edge is (health, load, budget use, hit
//!   ratio), which main's choice of edge for new rentals follows.
//! - [`health`]: what `/healthz` reports — `ok`, or `degraded` with reasons (cache writes,
//!   main, parents failing).
//! - [`metrics`]: `/metrics` (Prometheus text) for clients in `metrics_allowed_cidrs`.
//! - [`outbound`]: the `allowed_outbound_hosts` allow-list and the wasi-http hook that
//!   enforces it.
//! - [`kv`]: the [`KvBackend`] trait, its local-disk implementation [`DiskKv`] (counters
//!   rewritten in place), and [`kv::Volatile`], which keeps the component's fill leases in
//!   memory.
//! - `spin_kv`, `wasi_kv`, [`variables`]: the host side of `fermyon:spin/key-value@2.0.0`,
//!   `wasi:keyvalue/{store,atomics,batch}@0.2.0-draft2` (same store, plus increment and
//!   compare-and-swap) and `fermyon:spin/variables@2.0.0`, over bindings generated from
//!   `wit/`.
//!
//! [`run`] ties them together for `main` and for tests that bind port 0.

mod bindings;
pub mod call;
pub mod config;
#[cfg(target_os = "linux")]
mod direct;
pub mod handoff;
pub mod health;
pub mod heartbeat;
pub mod kv;
pub mod metrics;
pub mod outbound;
pub mod prefill;
pub mod runtime;
pub mod server;
pub mod session;
mod spin_kv;
pub mod variables;
mod wasi_kv;

pub use config::{
    ClientLimits, Config, ConfigError, OutboundTimeouts, PlatformHeaders, Settings, VerifyChunks,
};
pub use kv::{DiskKv, KvBackend, KvError, Stamp, StoredValue};
pub use runtime::{EdgeRuntime, RuntimeError, SharedState};

use std::io::Write;
use std::sync::Arc;
use tokio::net::TcpListener;

/// Why the host could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HostError {
    #[error("opening the key-value store: {0}")]
    Kv(#[from] KvError),
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    #[error("serving HTTP: {0}")]
    Io(#[from] std::io::Error),
}

/// The pause between two passes of the scrub over verified chunks.
const SCRUB_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

/// Open the key-value store and compile the component described by `settings`.
pub async fn load(settings: &Settings) -> Result<EdgeRuntime, HostError> {
    let health = Arc::new(health::Health::new(
        settings.variables.get("main_url").ok().as_deref(),
    ));
    // The component's fill leases live in memory (`kv::Volatile`), every other key on disk.
    let kv = health::MonitoredKv::new(
        kv::Volatile::new(
            DiskKv::open(&settings.kv_dir)?,
            edge_fn::lease::LEASE_PREFIX,
        ),
        health.clone(),
    );
    let body_chunk_bytes = settings.client_limits.body_chunk_bytes();
    let handoff = settings.variables.get("edge_secret").ok().map(|secret| {
        let every_read = settings.verify_cached_chunks == config::VerifyChunks::EveryRead;
        Arc::new(handoff::Handoff::new(&secret, body_chunk_bytes).every_read(every_read))
    });
    let shared = SharedState {
        kv: Arc::new(kv),
        health,
        metrics: metrics::Metrics::default(),
        variables: Arc::new(settings.variables.clone()),
        allowed_outbound_hosts: Arc::new(settings.allowed_outbound_hosts.clone()),
        outbound_timeouts: settings.outbound_timeouts,
        body_chunk_bytes,
        handoff,
    };
    let component = settings.component.clone();
    // Compiling takes seconds of CPU; keep it off the async workers.
    let runtime = tokio::task::spawn_blocking(move || EdgeRuntime::load(&component, shared))
        .await
        .map_err(|e| RuntimeError::Guest(Box::new(e)))??;
    Ok(runtime)
}

/// Load the component, print `listening on ADDR` for the already bound `listener`,
/// serve until `shutdown` resolves (running the prefill ticker if configured), then
/// drain in-flight requests.
pub async fn run(
    settings: Settings,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> Result<(), HostError> {
    let started = std::time::Instant::now();
    let runtime = load(&settings).await?;
    let addr = listener.local_addr()?;
    tracing::info!(
        component = %settings.component.display(),
        kv_dir = %settings.kv_dir.display(),
        allowed_outbound_hosts = %settings.allowed_outbound_hosts,
        load_ms = started.elapsed().as_millis() as u64,
        "component loaded"
    );
    {
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "listening on {addr}")?;
        stdout.flush()?;
    }
    let secret = settings.variables.get("edge_secret").ok();
    if settings.prefill_interval.is_some() && secret.is_none() {
        tracing::warn!(
            "prefill is on but variable edge_secret is not set: its calls will be refused"
        );
    }
    let ticker = settings.prefill_interval.map(|interval| {
        let secret = secret.unwrap_or_default();
        tokio::spawn(prefill::run_ticker(runtime.clone(), secret, interval))
    });
    // Hashing every send leaves nothing for the scrub to find.
    let remembers = settings.verify_cached_chunks == config::VerifyChunks::Once;
    let scrub = match (runtime.handoff(), settings.scrub_bytes_per_sec) {
        (Some(handoff), rate) if rate > 0 && remembers => Some(tokio::spawn(handoff::scrub(
            handoff.clone(),
            runtime.kv(),
            runtime.metrics().clone(),
            rate,
            SCRUB_EVERY,
        ))),
        _ => None,
    };
    let beats = settings.heartbeat_interval.and_then(|interval| {
        match heartbeat::target(&settings.variables) {
            Ok(target) => Some(tokio::spawn(heartbeat::run_ticker(
                runtime.clone(),
                target,
                interval,
                settings.client_limits.max_connections,
            ))),
            Err(e) => {
                tracing::warn!(error = %e, "no heartbeats to main");
                None
            }
        }
    });
    // Stop prefilling, scrubbing and heartbeats as soon as shutdown starts, not after the drain.
    let background: Vec<_> = [ticker, scrub, beats]
        .into_iter()
        .flatten()
        .map(|task| task.abort_handle())
        .collect();
    let shutdown = async move {
        shutdown.await;
        for task in background {
            task.abort();
        }
    };
    let front = server::Front {
        platform_headers: settings.platform_headers,
        metrics_allowed: settings.metrics_allowed_cidrs.clone(),
        limits: settings.client_limits,
    };
    server::serve(runtime, listener, front, shutdown).await?;
    Ok(())
}
