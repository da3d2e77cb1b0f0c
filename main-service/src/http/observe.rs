//! What every request leaves behind: its id ([`protocol::request_id`]: the edge's, if plain
//! enough, else a fresh one; echoed in the answer), a span carrying the id so that every log line
//! of the request names it, one log line when it is answered, and the per-route metrics (answers
//! by status, latency histogram).

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use protocol::request_id;
use tracing::Instrument;

use crate::AppState;

/// The middleware (`axum::middleware::from_fn_with_state`).
pub async fn observe(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let started = Instant::now();
    let id = request_id::keep_or_fresh(
        req.headers()
            .get(request_id::HEADER)
            .and_then(|v| v.to_str().ok()),
    );
    let value = HeaderValue::try_from(id.as_str()).expect("checked characters");
    req.headers_mut().insert(request_id::HEADER, value.clone());
    // The route's pattern (`/v1/catalog/{item}`), never the path itself: bounded labels, and no
    // ids or tokens in metrics.
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str)
        .to_owned();
    let method = req.method().clone();
    let span = tracing::info_span!("request", request_id = %id, %method, %route);
    let mut response = next.run(req).instrument(span.clone()).await;
    let status = response.status().as_u16();
    let elapsed = started.elapsed();
    state.metrics.request(&route, status, elapsed.as_secs_f64());
    span.in_scope(|| {
        tracing::info!(status, ms = elapsed.as_secs_f64() * 1e3, "answered");
    });
    response.headers_mut().insert(request_id::HEADER, value);
    response
}
