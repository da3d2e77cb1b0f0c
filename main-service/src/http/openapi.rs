//! Main's OpenAPI 3.1 document, served at `GET /openapi.json`: the paths come from the
//! handlers' `#[utoipa::path]` annotations as the router registers them (`super::api`), so a
//! route cannot be served without being described. This module adds what no handler says: the
//! title, the security schemes, the error body, and the edges' own API (served by each edge,
//! not by main), described here so that one document covers both.

use std::sync::OnceLock;

use axum::http::header;
use axum::response::IntoResponse;
use serde::Serialize;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

/// Every error answer: a stable code for programs and a message for people. 429 and 503 answers
/// carry `Retry-After`; a few add one field (`rental_id` to `already_rented`, `limit` to
/// `rate_limited`).
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// Stable code, such as `card_declined`.
    pub error: String,
    /// What the client can do about it.
    pub message: String,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Delivery network: main service and edges",
        description = "Main's HTTP API (accounts, catalog, rentals, licences, groups, the edges' calls, \
            operators' calls) and, under the tag `edge`, the API every edge serves to customers. \
            Errors are `ErrorBody` with a fitting status; docs/interfaces.md states the rules \
            behind each answer.",
        license(name = "Apache-2.0 OR MIT"),
    ),
    paths(
        edge_content,
        edge_head_content,
        edge_public,
        edge_head_public,
        edge_maintain,
        edge_prefill
    ),
    components(schemas(ErrorBody)),
    modifiers(&Security),
    tags(
        (name = "accounts", description = "Registering and logging in"),
        (name = "catalog", description = "Items on offer"),
        (name = "rentals", description = "Paying for an item: a licence and a download token"),
        (name = "licences", description = "Binding, enabling, reactivating a licence"),
        (name = "groups", description = "Group accounts: owners, members, privileges, audit"),
        (name = "keys", description = "Main's public signing keys"),
        (name = "edges", description = "What edges ask main (edge credentials)"),
        (name = "admin", description = "Operators (admin token)"),
        (name = "operations", description = "Health, metrics, this document"),
        (name = "edge", description = "Served by each edge at its own URL (the `download_url` of a rental), not by main; each edge also serves `GET /healthz` (`{status: ok|degraded, reasons}`) and, on edge-host, `GET /metrics`"),
    )
)]
pub struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        let bearer = |what: &str| {
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(what))
                    .build(),
            )
        };
        components.add_security_scheme(
            "session",
            bearer("A customer's session from `POST /v1/sessions` (or a guest checkout)"),
        );
        components.add_security_scheme("admin", bearer("The operator's admin token"));
        components.add_security_scheme("edge_secret", bearer("The edge's credential"));
        components.add_security_scheme(
            "edge_id",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-Edge-Id",
                "The edge's id, with its credential as the bearer token",
            ))),
        );
    }
}

/// `GET /openapi.json`: this document, built once.
#[utoipa::path(get, path = "/openapi.json", tag = "operations", responses((status = 200, description = "This document (OpenAPI 3.1)", body = serde_json::Value)))]
pub async fn openapi_json() -> impl IntoResponse {
    static DOC: OnceLock<String> = OnceLock::new();
    let doc = DOC.get_or_init(|| {
        super::openapi_document()
            .to_json()
            .expect("the document serializes")
    });
    ([(header::CONTENT_TYPE, "application/json")], doc.as_str())
}

// The edges' API, described here (each edge serves it; the handlers are in edge-fn).

/// A download: the sealed object, or the ranges asked for.
#[utoipa::path(
    get,
    path = "/v1/content/{item}",
    tag = "edge",
    params(
        ("item" = String, Path, description = "item id"),
        ("token" = String, Query, description = "the download token (the rental's `download_url` carries it)"),
        ("sid" = Option<String>, Query, description = "a download session: the Range requests of one download share it and spend one use [default: the client address]"),
        ("Range" = Option<String>, Header, description = "one byte range (RFC 9110); `bytes=N-` resumes; a malformed or multi-range header gets the whole object"),
        ("If-Range" = Option<String>, Header, description = "the ETag of a partial download, to resume only the same object"),
        ("If-None-Match" = Option<String>, Header, description = "an ETag: 304 when it matches"),
    ),
    responses(
        (status = 200, description = "the whole sealed object (`Cache-Control: private`, `ETag`, `Accept-Ranges: bytes`, `X-Cache: HIT|MISS`)", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 206, description = "the range asked for, with `Content-Range`", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 304, description = "`If-None-Match` matched"),
        (status = 401, description = "`bad_token`", body = ErrorBody),
        (status = 403, description = "`region_denied`, `not_purchased`, `revoked`", body = ErrorBody),
        (status = 410, description = "`uses_exhausted`", body = ErrorBody),
        (status = 416, description = "a range starting at or past the end (`Content-Range: bytes */LEN`)", body = ErrorBody),
        (status = 429, description = "`rate_limited`", body = ErrorBody),
        (status = 502, description = "the parents could not fill a missing part; retry (the download resumes)", body = ErrorBody),
    )
)]
#[allow(dead_code)]
fn edge_content() {}

/// A public object's headers without its body (never fills the cache).
#[utoipa::path(
    head,
    path = "/v1/public/{item}",
    tag = "edge",
    params(("item" = String, Path, description = "the public object's id")),
    responses(
        (status = 200, description = "`Content-Length`, `ETag`, `Accept-Ranges`"),
        (status = 404, description = "`not_public`"),
    )
)]
#[allow(dead_code)]
fn edge_head_public() {}

/// The download's headers without its body (never fills the cache).
#[utoipa::path(
    head,
    path = "/v1/content/{item}",
    tag = "edge",
    params(
        ("item" = String, Path, description = "item id"),
        ("token" = String, Query, description = "the download token"),
    ),
    responses(
        (status = 200, description = "`Content-Length`, `ETag`, `Accept-Ranges`"),
        (status = 401, description = "`bad_token`"),
    )
)]
#[allow(dead_code)]
fn edge_head_content() {}

/// A public object (a poster, a trailer): no token, plaintext, from the edge's other zone.
#[utoipa::path(
    get,
    path = "/v1/public/{item}",
    tag = "edge",
    params(
        ("item" = String, Path, description = "the public object's id"),
        ("Range" = Option<String>, Header, description = "one byte range, as for downloads"),
        ("If-None-Match" = Option<String>, Header, description = "an ETag: 304 when it matches"),
    ),
    responses(
        (status = 200, description = "the plaintext object (`Cache-Control: public, max-age=3600`, `ETag`)", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 206, description = "the range asked for, over the plaintext", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 304, description = "`If-None-Match` matched"),
        (status = 403, description = "`region_denied`", body = ErrorBody),
        (status = 404, description = "`not_public`", body = ErrorBody),
    )
)]
#[allow(dead_code)]
fn edge_public() {}

/// The edge's maintenance call: eviction, pinning, prefill (edge-host's ticker or the
/// operator's scheduler makes it).
#[utoipa::path(
    post,
    path = "/v1/internal/maintain",
    tag = "edge",
    params(("x-edge-signature" = String, Header, description = "the call signed with the edge's secret (docs/interfaces.md)")),
    responses(
        (status = 200, description = "`{zones: [...], rebuild?, prefill}`: what each zone holds and did", body = serde_json::Value),
        (status = 401, description = "`unauthorized`: no valid signature", body = ErrorBody),
    )
)]
#[allow(dead_code)]
fn edge_maintain() {}

/// The maintenance call's older name, answered the same.
#[utoipa::path(
    post,
    path = "/v1/internal/prefill",
    tag = "edge",
    params(("x-edge-signature" = String, Header, description = "as for `/v1/internal/maintain`")),
    responses(
        (status = 200, description = "as for `/v1/internal/maintain`", body = serde_json::Value),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
    )
)]
#[allow(dead_code)]
fn edge_prefill() {}
