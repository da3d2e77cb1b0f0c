//! The edges' API (`X-Edge-Id` + `Authorization: Bearer <edge secret>`, the manifest open):
//! authorize a download, fill sources, public objects, heartbeats, the signed manifest.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use protocol::{
    AuthorizeRequest, FillSources, FillSourcesRequest, PublicGrant, PublicGrantRequest,
};
use serde_json::json;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ApiError, Edge, ErrorBody, JsonBody, MANIFEST_VALID_SECS, limited, unknown_item};
use crate::AppState;
use crate::catalog::{manifest, object_info};
use crate::records::ItemRecord;

/// The routes edges call.
pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(signed_manifest))
        .routes(routes!(authorize))
        .routes(routes!(heartbeat))
        .routes(routes!(fill_sources))
        .routes(routes!(public_grant))
}

#[utoipa::path(get, path = "/v1/manifest", tag = "edges", responses((status = 200, description = "`{manifest: signed}`: every item for rent with its version, root, level and regions (docs/formats.md)", body = serde_json::Value)))]
async fn signed_manifest(State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    let m = manifest(&state.store.items().await?);
    let now = (state.clock)();
    let ring = state.signing.ring(now).await;
    let signed = m
        .sign(ring.signer(now), now, MANIFEST_VALID_SECS)
        .map_err(ApiError::internal)?;
    Ok(Json(json!({ "manifest": signed })))
}

#[utoipa::path(post, path = "/v1/edge/authorize", tag = "edges", security(("edge_id" = [], "edge_secret" = [])), request_body(content = serde_json::Value, description = "`protocol::AuthorizeRequest`: `{token, item, client_ip, session_hint}`"), responses((status = 200, description = "`protocol::Grant`: session, uses left, the object of the licence's version, presigned parent sources, expiry", body = serde_json::Value), (status = 401, description = "`bad_token`, `edge_unauthorized` (a `protocol::Denial`)", body = ErrorBody), (status = 403, description = "`not_purchased`, `region_denied`, `revoked`", body = ErrorBody), (status = 404, description = "`unknown_item`", body = ErrorBody), (status = 410, description = "`uses_exhausted`", body = ErrorBody), (status = 429, description = "`rate_limited`", body = ErrorBody)))]
async fn authorize(
    State(state): State<AppState>,
    Edge(edge): Edge,
    JsonBody(req): JsonBody<AuthorizeRequest>,
) -> Result<impl IntoResponse, ApiError> {
    if let Err(refused) = state.limits.authorize(&edge.id, &req.token) {
        state.metrics.authorize("rate_limited");
        let secs = refused.retry_after_secs();
        let _ = limited(&state, refused);
        // A denial the edge passes on to its client as is (429).
        let denial = protocol::Denial::new(
            protocol::DenialReason::RateLimited,
            format!("too many requests for this download; retry in {secs} s"),
        );
        return Err(
            ApiError::from(crate::authorize::AuthorizeError::Denied(denial)).with_retry_after(secs),
        );
    }
    let result = crate::authorize::authorize(&state, &edge, &req).await;
    state.metrics.authorize(match &result {
        Ok(g) if g.new_session => "granted_new_session",
        Ok(_) => "granted_existing_session",
        Err(crate::authorize::AuthorizeError::Denied(d)) => d.reason.code(),
        Err(_) => "internal",
    });
    Ok(Json(result?))
}

/// An edge says how it is; kept for the edge choice of the next rentals.
#[utoipa::path(post, path = "/v1/edge/heartbeat", tag = "edges", security(("edge_id" = [], "edge_secret" = [])), request_body(content = serde_json::Value, description = "`protocol::Heartbeat`: `{version, status, reasons, open_connections, max_connections, hit_ratio, zones}`"), responses((status = 204, description = "kept for the edge choice"), (status = 400, description = "past 64 bytes of version, 16 reasons or 8 zones", body = ErrorBody), (status = 401, description = "`edge_unauthorized`", body = ErrorBody)))]
async fn heartbeat(
    State(state): State<AppState>,
    Edge(edge): Edge,
    JsonBody(beat): JsonBody<protocol::Heartbeat>,
) -> Result<StatusCode, ApiError> {
    if beat.version.len() > 64 || beat.reasons.len() > 16 || beat.zones.len() > 8 {
        return Err(ApiError::bad_request(
            "heartbeat too large: version ≤ 64 bytes, ≤ 16 reasons, ≤ 8 zones",
        ));
    }
    if beat.status != "ok" {
        tracing::info!(edge = %edge.id, status = %beat.status, reasons = ?beat.reasons, "edge reports");
    }
    // The edge's day of history grows by what its counters grew since its last heartbeat.
    // History is advice: if the last status cannot be read, it starts again.
    let now = (state.clock)();
    let last = match state.store.edge_statuses().await {
        Ok(all) => all.into_iter().find(|s| s.edge_id == edge.id),
        Err(e) => {
            tracing::warn!(error = %e, "reading the edge's last heartbeat; its history restarts");
            None
        }
    };
    let history = crate::edge_history::fold(
        last.as_ref().map_or(&[][..], |s| &s.history),
        last.as_ref().map(|s| &s.heartbeat),
        &beat,
        now,
    );
    let status = crate::records::EdgeStatus {
        edge_id: edge.id.clone(),
        seen_at: now,
        heartbeat: beat,
        history,
    };
    state.store.put_edge_status(status).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/v1/edge/fill-sources", tag = "edges", security(("edge_id" = [], "edge_secret" = [])), request_body(content = serde_json::Value, description = "`protocol::FillSourcesRequest`: `{item}`"), responses((status = 200, description = "`protocol::FillSources`: the current object, presigned parent URLs (the edge's region first), expiry", body = serde_json::Value), (status = 403, description = "`region_denied`", body = ErrorBody), (status = 404, description = "`unknown_item`", body = ErrorBody)))]
async fn fill_sources(
    State(state): State<AppState>,
    Edge(edge): Edge,
    JsonBody(req): JsonBody<FillSourcesRequest>,
) -> Result<Json<FillSources>, ApiError> {
    let item = state
        .store
        .item(req.item.as_str())
        .await?
        .ok_or_else(unknown_item)?;
    Ok(Json(edge_sources(&state, &edge, &item).await?))
}

/// An edge asks to serve a public object: its sources, what verifies it, and its content key.
#[utoipa::path(post, path = "/v1/edge/public", tag = "edges", security(("edge_id" = [], "edge_secret" = [])), request_body(content = serde_json::Value, description = "`protocol::PublicGrantRequest`: `{item}`"), responses((status = 200, description = "`protocol::PublicGrant`: object, sources, the content key (hex), expiry", body = serde_json::Value), (status = 403, description = "`region_denied`", body = ErrorBody), (status = 404, description = "`not_public`", body = ErrorBody)))]
async fn public_grant(
    State(state): State<AppState>,
    Edge(edge): Edge,
    JsonBody(req): JsonBody<PublicGrantRequest>,
) -> Result<Json<PublicGrant>, ApiError> {
    let item = state
        .store
        .item(req.item.as_str())
        .await?
        .filter(|i| i.public)
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "not_public",
                "no public object with this id",
            )
        })?;
    let FillSources {
        object,
        sources,
        expires_at,
    } = edge_sources(&state, &edge, &item).await?;
    let key = state
        .keys
        .unwrap_content_key(item.id.as_str(), &item.wrapped_content_key)
        .map_err(ApiError::internal)?;
    Ok(Json(PublicGrant {
        object,
        sources,
        content_key: hex::encode(key.0),
        expires_at,
        media_type: item.presentation.media_type.clone(),
    }))
}

/// Where an edge may fill `item` from (presigned parent URLs, its own region's first), unless
/// the item may not be held in the edge's region.
async fn edge_sources(
    state: &AppState,
    edge: &crate::config::EdgeConfig,
    item: &ItemRecord,
) -> Result<FillSources, ApiError> {
    if !item.regions.is_empty() && !item.regions.contains(&edge.region) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "region_denied",
            "this item may not be held by an edge in this region",
        ));
    }
    let valid = Duration::from_secs(state.config.tokens.source_url_secs);
    let sources = crate::authorize::sources(state, (item, item.version), &edge.region, valid)
        .await
        .map_err(ApiError::internal)?;
    Ok(FillSources {
        object: object_info(item),
        sources,
        expires_at: (state.clock)() + valid.as_secs(),
    })
}
