//! Calls to main: JWKS (cached in the store), authorize, manifest, fill sources.

use protocol::{AuthorizeRequest, FillSources, Grant, ItemId, Jwks};
use spin_sdk::http::conversions::TryFromIncomingResponse;
use spin_sdk::http::{Method, Request, Response};

use crate::cache::{Cache, JWKS_KEY};
use crate::config::EdgeConfig;
use crate::fill::{cache_get, cache_set};
use crate::keys::{CachedJwks, fetch_for_unknown_kid, needs_refresh};
use crate::main_api::{fill_sources_from, grant_from, jwks_from};
use crate::prefill::FillSourceProvider;
use crate::reply::EdgeError;

/// The current unix second.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// This edge's settings from Spin variables.
pub fn config() -> Result<EdgeConfig, EdgeError> {
    Ok(EdgeConfig::from_lookup(|name| {
        spin_sdk::variables::get(name).ok()
    })?)
}

/// Sends a request to each main in turn (`request` builds it for a main's base URL) until one
/// answers, under this edge's outbound timeouts, and reads the whole (small, JSON) answer. A main
/// that does not answer in time is unreachable, as a dead one is; so are they all, the last
/// failure is returned.
pub(super) async fn call(
    config: &EdgeConfig,
    what: &str,
    request: impl Fn(&str) -> Request,
) -> Result<(u16, Vec<u8>), EdgeError> {
    let mut failure = None;
    for base in &config.main_urls {
        match call_one(config, request(base), what).await {
            Ok(answer) => return Ok(answer),
            Err(e) => {
                if config.main_urls.len() > 1 {
                    crate::log(format_args!("main at {base}: {e}; trying the next"));
                }
                failure = Some(e);
            }
        }
    }
    Err(failure.unwrap_or_else(|| EdgeError::MainUnreachable(format!("{what}: no main"))))
}

async fn call_one(
    config: &EdgeConfig,
    request: Request,
    what: &str,
) -> Result<(u16, Vec<u8>), EdgeError> {
    let unreachable = |e: String| EdgeError::MainUnreachable(format!("{what}: {e}"));
    let head = super::outbound::send(request, &config.timeouts)
        .await
        .map_err(unreachable)?;
    let response = Response::try_from_incoming_response(head)
        .await
        .map_err(|e| unreachable(format!("reading the answer: {}", e.to_debug_string())))?;
    Ok((*response.status(), response.into_body()))
}

/// A request to the main at `base` carrying this edge's credential.
pub(super) fn edge_request(
    config: &EdgeConfig,
    base: &str,
    method: Method,
    path: &str,
    body: Vec<u8>,
) -> Request {
    let mut builder = Request::builder();
    // An explicit length rather than a chunked body: not every server in front of main (or a
    // test double) accepts chunked request bodies.
    builder.header("content-length", body.len().to_string());
    builder
        .method(method)
        .uri(format!("{base}{path}"))
        .body(body);
    builder.header("content-type", "application/json");
    for (name, value) in config.edge_auth_headers() {
        builder.header(name, value);
    }
    builder.build()
}

/// Main's keys, good for a token or manifest signed with key `kid`: from the store, refetched
/// when stale or when `kid` is new; a stale set is used when main cannot be reached.
pub async fn jwks_for<C: Cache>(
    cache: &C,
    config: &EdgeConfig,
    kid: Option<&str>,
    now: u64,
) -> Result<Jwks, EdgeError> {
    let cached = cache_get(cache, JWKS_KEY).and_then(|b| CachedJwks::decode(&b));
    if !needs_refresh(cached.as_ref(), kid, now) {
        return Ok(cached.expect("fresh implies present").jwks);
    }
    let unknown_kid_fetch_at = match fetch_for_unknown_kid(cached.as_ref(), kid, now) {
        true => Some(now),
        false => cached.as_ref().and_then(|c| c.unknown_kid_fetch_at),
    };
    let jwks = |base: &str| Request::get(format!("{base}/.well-known/jwks.json")).build();
    let fetched = match call(config, "jwks", jwks).await {
        Ok((status, body)) => jwks_from(status, &body),
        Err(e) => Err(e),
    };
    match (fetched, cached) {
        (Ok(jwks), _) => {
            let record = CachedJwks {
                fetched_at: now,
                jwks,
                unknown_kid_fetch_at,
            };
            cache_set(cache, JWKS_KEY, &record.encode());
            Ok(record.jwks)
        }
        (Err(e), Some(stale)) => {
            crate::log(format_args!("using the cached JWKS: {e}"));
            Ok(stale.jwks)
        }
        (Err(e), None) => Err(e),
    }
}

/// Asks main whether the download may proceed; `request_id` goes with it
/// ([`protocol::request_id`]).
pub async fn authorize(
    config: &EdgeConfig,
    ask: &AuthorizeRequest,
    request_id: &str,
) -> Result<Grant, EdgeError> {
    let body = serde_json::to_vec(ask).expect("plain struct serializes");
    let request = |base: &str| {
        let mut request = edge_request(
            config,
            base,
            Method::Post,
            "/v1/edge/authorize",
            body.clone(),
        );
        request.set_header(protocol::request_id::HEADER, request_id);
        request
    };
    let (status, body) = call(config, "authorize", request).await?;
    grant_from(status, &body, &ask.item)
}

/// Main's current signed manifest (the `{"manifest": …}` answer).
pub async fn manifest_answer(config: &EdgeConfig) -> Result<Vec<u8>, EdgeError> {
    let manifest = |base: &str| Request::get(format!("{base}/v1/manifest")).build();
    let (status, body) = call(config, "manifest", manifest).await?;
    if status != 200 {
        return Err(EdgeError::MainFailed(format!("manifest answered {status}")));
    }
    Ok(body)
}

/// Main as the provider of fill sources for prefill.
#[derive(Debug)]
pub struct MainClient<'a>(pub &'a EdgeConfig);

impl FillSourceProvider for MainClient<'_> {
    async fn fill_sources(&self, item: &ItemId) -> Result<FillSources, EdgeError> {
        let ask = protocol::FillSourcesRequest { item: item.clone() };
        let body = serde_json::to_vec(&ask).expect("plain struct serializes");
        let request = |base: &str| {
            edge_request(
                self.0,
                base,
                Method::Post,
                "/v1/edge/fill-sources",
                body.clone(),
            )
        };
        let (status, body) = call(self.0, "fill-sources", request).await?;
        fill_sources_from(status, &body)
    }
}
