//! The maintenance ticker: the host itself calls the component's
//! `POST /v1/internal/maintain` (eviction, pins, purges, then prefill; in-process, no socket)
//! at a fixed interval, signed with the
//! edge secret as any internal call must be ([`protocol::internal`]), the same signature
//! `edge-host call` sends over the network.

use crate::config::PlatformHeaders;
use crate::runtime::EdgeRuntime;
use crate::server::set_spin_headers;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use protocol::internal::{SIGNATURE_HEADER, sign_call};
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

/// Path of the component's maintenance entry point.
pub const MAINTAIN_PATH: &str = "/v1/internal/maintain";
/// The maintenance call that first recounts the cache's counters from its keys.
pub const REBUILD_PATH: &str = "/v1/internal/maintain?rebuild=1";
/// Its older name, still answered: maintenance includes prefill.
pub const PREFILL_PATH: &str = "/v1/internal/prefill";
/// Delay before the first call, so that start-up is not slowed down by it.
const FIRST_TICK: Duration = Duration::from_secs(1);

/// Call the maintenance entry point every `interval`, the first time after a second;
/// runs until the task is dropped or aborted. A call still running when the next one is
/// due delays it (calls never overlap).
pub async fn run_ticker(runtime: EdgeRuntime, secret: String, interval: Duration) {
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + FIRST_TICK, interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The first call after a start recounts the cache's counters: a crash may have left
    // reservations whose chunks were never written.
    let mut path = REBUILD_PATH;
    loop {
        ticks.tick().await;
        prefill_once(&runtime, &secret, path).await;
        path = MAINTAIN_PATH;
    }
}

/// One maintenance call: log the status and read the body to its end.
pub async fn prefill_once(runtime: &EdgeRuntime, secret: &str, path: &str) {
    let started = Instant::now();
    let signature = sign_call(secret, "POST", path, protocol::unix_now());
    let mut request = http::Request::builder()
        .method(http::Method::POST)
        .uri(path)
        .header(http::header::HOST, "localhost")
        .header(SIGNATURE_HEADER, signature)
        .body(Empty::<Bytes>::new())
        .expect("static request is valid");
    // No network client: the loopback address with port 0 marks the host itself.
    set_spin_headers(
        &mut request,
        SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        PlatformHeaders::Replace,
    );
    let response = match runtime.handle(request).await {
        Ok(response) => response,
        Err(e) => {
            tracing::warn!(error = %e, "maintenance call failed");
            return;
        }
    };
    let status = response.status();
    let mut body = response.into_body();
    let mut bytes = 0u64;
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(frame) => bytes += frame.data_ref().map_or(0, |d| d.len() as u64),
            Err(e) => {
                tracing::warn!(error = %e, "maintenance response body failed");
                break;
            }
        }
    }
    tracing::info!(
        status = status.as_u16(),
        body_bytes = bytes,
        ms = started.elapsed().as_millis() as u64,
        path,
        "maintenance"
    );
}
