//! The operator's API (`Authorization: Bearer <admin token>`): ingest, revocation, the
//! signing-key ring, and resealing stored secrets under a new key-encryption key.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde_json::json;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{Admin, ApiError, ErrorBody, Path, Query};
use crate::AppState;
use crate::catalog::ItemView;
use crate::ingest::IngestMeta;

/// The operator's routes but ingest (JSON bodies).
pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(revoke_token))
        .routes(routes!(revoke_licence))
        .routes(routes!(signing_keys))
        .routes(routes!(rotate_signing_key))
        .routes(routes!(rewrap_keys))
        .routes(routes!(edit_item))
        .routes(routes!(set_promotions))
        .routes(routes!(network))
        .routes(routes!(account))
}

/// Ingest: a streamed body of any size (ingest checks `max_ingest_bytes` itself).
pub(super) fn ingest_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(ingest))
        .layer(axum::extract::DefaultBodyLimit::disable())
}

/// `POST /v1/admin/tokens/{id}/revoke`: the token's downloads are refused from the next
/// authorize on (edges holding its grant stop within their stated bound).
#[utoipa::path(post, path = "/v1/admin/tokens/{id}/revoke", tag = "admin", security(("admin" = [])), params(("id" = String, Path, description = "token id")), responses((status = 200, description = "`{revoked, at}` (the first revocation's time stays)", body = serde_json::Value), (status = 404, description = "`not_found`", body = ErrorBody)))]
async fn revoke_token(
    State(state): State<AppState>,
    _admin: Admin,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let now = (state.clock)();
    let found = state.store.revoke_token(&id, now).await?;
    revoked(found, "token", id, now)
}

/// The ring as an operator sees it: every key with its epoch, id, start, and whether it signs
/// now and is published.
fn ring_view(ring: &crate::signing::Ring, now: u64) -> serde_json::Value {
    let signing = ring.signer(now).kid().to_owned();
    let keys: Vec<_> = ring
        .keys()
        .iter()
        .map(|k| {
            let kid = k.signer.kid();
            json!({
                "epoch": k.epoch,
                "kid": kid,
                "active_from": k.active_from,
                "signing": kid == signing,
                "published": ring.jwks().keys.iter().any(|p| p.kid == kid),
            })
        })
        .collect();
    json!({ "keys": keys })
}

/// `GET /v1/admin/signing-keys`: the signing-key ring.
#[utoipa::path(get, path = "/v1/admin/signing-keys", tag = "admin", security(("admin" = [])), responses((status = 200, description = "`{keys: [{epoch, kid, active_from, signing, published}]}`", body = serde_json::Value)))]
async fn signing_keys(State(state): State<AppState>, _admin: Admin) -> Json<serde_json::Value> {
    let now = (state.clock)();
    Json(ring_view(&*state.signing.ring(now).await, now))
}

/// `POST /v1/admin/signing-keys/rotate`: appends the next key now; it is published at once and
/// signs from `signing.publish_ahead_secs` later.
#[utoipa::path(post, path = "/v1/admin/signing-keys/rotate", tag = "admin", security(("admin" = [])), responses((status = 200, description = "the ring, the new key published now and signing `publish_ahead_secs` later", body = serde_json::Value), (status = 409, description = "`rotation_disabled`", body = ErrorBody)))]
async fn rotate_signing_key(
    State(state): State<AppState>,
    _admin: Admin,
) -> Result<Json<serde_json::Value>, ApiError> {
    let now = (state.clock)();
    if state.config.signing.rotate_after_secs == 0 {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "rotation_disabled",
            "signing-key rotation is off (signing.rotate_after_secs = 0)",
        ));
    }
    let ring = state.signing.rotate_now(now).await?;
    Ok(Json(ring_view(&ring, now)))
}

/// `POST /v1/admin/keys/rewrap`: seals every stored secret under the current key-encryption
/// key (`crate::rewrap`); the report, 200 when nothing is left under another key.
#[utoipa::path(post, path = "/v1/admin/keys/rewrap", tag = "admin", security(("admin" = [])), responses((status = 200, body = crate::rewrap::Report), (status = 422, description = "some secrets open under neither key (named in `failed`)", body = crate::rewrap::Report), (status = 409, description = "`no_previous_key`", body = ErrorBody)))]
async fn rewrap_keys(
    State(state): State<AppState>,
    _admin: Admin,
) -> Result<impl IntoResponse, ApiError> {
    if state.config.previous_key_encryption_key.is_none() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "no_previous_key",
            "nothing to rewrap from: configure previous_key_encryption_key (the key being rotated out) and restart",
        ));
    }
    let report = crate::rewrap::rewrap_all(state.store.as_ref(), &state.keys).await?;
    tracing::info!(?report, "rewrapped stored secrets");
    let status = match report.failed.is_empty() {
        true => StatusCode::OK,
        false => StatusCode::UNPROCESSABLE_ENTITY,
    };
    Ok((status, Json(report)))
}

/// `POST /v1/admin/licences/{id}/revoke`: binding, enabling and the licence's downloads are
/// refused; the player refuses to play at its next check with main.
#[utoipa::path(post, path = "/v1/admin/licences/{id}/revoke", tag = "admin", security(("admin" = [])), params(("id" = String, Path, description = "licence id")), responses((status = 200, description = "`{revoked, at}`", body = serde_json::Value), (status = 404, description = "`not_found`", body = ErrorBody)))]
async fn revoke_licence(
    State(state): State<AppState>,
    _admin: Admin,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let now = (state.clock)();
    let found = state.store.revoke_licence(&id, now).await?;
    revoked(found, "licence", id, now)
}

/// The answer to a revocation of `what` `id` at `now`: logged, or 404 when not `found`.
fn revoked(
    found: bool,
    what: &'static str,
    id: String,
    now: u64,
) -> Result<Json<serde_json::Value>, ApiError> {
    if !found {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no such {what}"),
        ));
    }
    tracing::warn!(what, %id, "revoked by an operator");
    Ok(Json(json!({"revoked": id, "at": now})))
}

#[utoipa::path(post, path = "/v1/admin/items", tag = "admin", security(("admin" = [])), params(IngestMeta), request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "the plaintext, streamed"), responses((status = 201, body = ItemView), (status = 400, description = "`bad_request`: a query value out of bounds, an unknown region", body = ErrorBody), (status = 413, description = "`too_large`", body = ErrorBody), (status = 502, description = "`parent_unavailable`", body = ErrorBody)))]
async fn ingest(
    State(state): State<AppState>,
    _: Admin,
    Query(meta): Query<IngestMeta>,
    body: Body,
) -> Result<impl IntoResponse, ApiError> {
    let record = crate::ingest::ingest(&state, meta, body.into_data_stream()).await?;
    state.metrics.ingested(record.plaintext_len);
    Ok((StatusCode::CREATED, Json(ItemView::from(&record))))
}

/// `PATCH /v1/admin/items/{id}`: the catalog fields of an item, without ingesting it again.
#[utoipa::path(patch, path = "/v1/admin/items/{id}", tag = "admin", security(("admin" = [])), params(("id" = String, Path, description = "item id")), request_body = crate::ingest::ItemEdit, responses((status = 200, body = ItemView), (status = 400, description = "a value out of bounds, an unknown region, a poster or trailer that is not a public object", body = ErrorBody), (status = 404, description = "`unknown_item`", body = ErrorBody)))]
async fn edit_item(
    State(state): State<AppState>,
    _admin: Admin,
    Path(id): Path<String>,
    super::JsonBody(edit): super::JsonBody<crate::ingest::ItemEdit>,
) -> Result<Json<ItemView>, ApiError> {
    let item = crate::ingest::edit(&state, &id, &edit)
        .await?
        .ok_or_else(super::unknown_item)?;
    Ok(Json(ItemView::from(&item)))
}

/// The promoted items, in order.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct PromotionsBody {
    /// Ids of items for rent, at most 24, no repeats.
    items: Vec<String>,
}

/// `PUT /v1/admin/promotions`: the items the home page promotes.
#[utoipa::path(put, path = "/v1/admin/promotions", tag = "admin", security(("admin" = [])), request_body = PromotionsBody, responses((status = 200, description = "`{items: [Item]}`, the promotions as customers see them", body = serde_json::Value), (status = 400, description = "more than 24, a repeat, or an id that is not an item for rent", body = ErrorBody)))]
async fn set_promotions(
    State(state): State<AppState>,
    _admin: Admin,
    super::JsonBody(body): super::JsonBody<PromotionsBody>,
) -> Result<Json<serde_json::Value>, ApiError> {
    set_promoted(&state, body.items).await.map(Json)
}

/// Sets the promotions (at most 24 items for rent, each once) and answers them as customers see
/// them (the API's and the console's).
pub(crate) async fn set_promoted(
    state: &AppState,
    items: Vec<String>,
) -> Result<serde_json::Value, ApiError> {
    let mut seen = std::collections::HashSet::new();
    if items.len() > 24 || !items.iter().all(|i| seen.insert(i)) {
        return Err(ApiError::bad_request("promote at most 24 items, each once"));
    }
    for id in &items {
        let for_rent = state.store.item(id).await?.is_some_and(|i| !i.public);
        if !for_rent {
            return Err(ApiError::bad_request(format!(
                "{id:?} is not an item for rent"
            )));
        }
    }
    state.store.set_promotions(items).await?;
    super::promoted(state).await
}

/// `GET /v1/admin/network`: every configured edge as main knows it from its heartbeats, and the
/// parents.
#[utoipa::path(get, path = "/v1/admin/network", tag = "admin", security(("admin" = [])), responses((status = 200, description = "`{edges: [{id, region, url, tier: healthy|strained|unknown|silent, seen_at, heartbeat, history: [{at, lookups, hits, served_bytes}]}], parents: [{name, region, primary}]}`", body = serde_json::Value)))]
async fn network(
    State(state): State<AppState>,
    _admin: Admin,
) -> Result<Json<NetworkView>, ApiError> {
    Ok(Json(network_view(&state).await?))
}

/// The network as main knows it (the API's and the console's).
#[derive(Debug, serde::Serialize)]
pub(crate) struct NetworkView {
    pub edges: Vec<EdgeView>,
    pub parents: Vec<ParentView>,
}

/// A configured edge, with its last heartbeat.
#[derive(Debug, serde::Serialize)]
pub(crate) struct EdgeView {
    pub id: String,
    pub region: String,
    pub url: String,
    pub tier: crate::edges::Tier,
    pub seen_at: Option<u64>,
    pub heartbeat: Option<protocol::Heartbeat>,
    /// The last day, per five minutes: lookups, hits, bytes served.
    pub history: Vec<crate::edge_history::EdgeSample>,
}

/// A parent store.
#[derive(Debug, serde::Serialize)]
pub(crate) struct ParentView {
    pub name: String,
    pub region: String,
    pub primary: bool,
}

pub(crate) async fn network_view(state: &AppState) -> Result<NetworkView, ApiError> {
    let now = (state.clock)();
    let statuses = state.store.edge_statuses().await?;
    let health = crate::edges::Health::new(&statuses, now, state.config.edge_heartbeat_secs);
    let edges = state
        .config
        .edges
        .iter()
        .map(|e| {
            let last = statuses.iter().find(|s| s.edge_id == e.id);
            EdgeView {
                id: e.id.clone(),
                region: e.region.clone(),
                url: e.url.clone(),
                tier: health.tier(&e.id),
                seen_at: last.map(|s| s.seen_at),
                heartbeat: last.map(|s| s.heartbeat.clone()),
                history: last.map(|s| s.history.clone()).unwrap_or_default(),
            }
        })
        .collect();
    let parents = state
        .parents
        .iter()
        .map(|p| ParentView {
            name: p.config.name.clone(),
            region: p.config.region.clone(),
            primary: p.config.primary,
        })
        .collect();
    Ok(NetworkView { edges, parents })
}

#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct AccountQuery {
    /// The account's email.
    email: String,
}

/// `GET /v1/admin/accounts?email=`: an account with its rentals, each with the state of its
/// licence and token — what support needs to answer a customer, and the ids to revoke.
#[utoipa::path(get, path = "/v1/admin/accounts", tag = "admin", security(("admin" = [])), params(AccountQuery), responses((status = 200, description = "`{account_id, email, guest, created_at, rentals: [{rental_id, item, created_at, amount_cents, group_id, licence: LicenceRecord, token: {token_id, uses, max_uses, expires_at, revoked_at}}]}`", body = serde_json::Value), (status = 404, description = "`unknown_account`", body = ErrorBody)))]
async fn account(
    State(state): State<AppState>,
    _admin: Admin,
    Query(q): Query<AccountQuery>,
) -> Result<Json<AccountView>, ApiError> {
    Ok(Json(account_view(&state, &q.email).await?))
}

/// An account as support sees it (the API's and the console's).
#[derive(Debug, serde::Serialize)]
pub(crate) struct AccountView {
    pub account_id: String,
    pub email: String,
    pub guest: bool,
    pub created_at: u64,
    pub rentals: Vec<RentalView>,
}

/// A rental with the state of its licence and token.
#[derive(Debug, serde::Serialize)]
pub(crate) struct RentalView {
    pub rental_id: String,
    pub item: protocol::ItemId,
    pub created_at: u64,
    pub amount_cents: u64,
    pub group_id: Option<String>,
    pub licence: Option<crate::records::LicenceRecord>,
    pub token: Option<TokenView>,
}

/// A download token's state.
#[derive(Debug, serde::Serialize)]
pub(crate) struct TokenView {
    pub token_id: String,
    pub uses: u32,
    pub max_uses: u32,
    pub expires_at: u64,
    pub revoked_at: Option<u64>,
}

pub(crate) async fn account_view(state: &AppState, email: &str) -> Result<AccountView, ApiError> {
    let email = email.trim().to_lowercase();
    let account = state.store.account_by_email(&email).await?.ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_account",
            "no account with this email",
        )
    })?;
    let mut rentals = Vec::new();
    for r in state.store.rentals_of(&account.account_id).await? {
        let licence = state.store.licence(&r.licence_id).await?;
        let token = state.store.token(&r.token_id).await?;
        rentals.push(RentalView {
            rental_id: r.rental_id,
            item: r.item,
            created_at: r.created_at,
            amount_cents: r.amount_cents,
            group_id: r.group_id,
            licence,
            token: token.map(|t| TokenView {
                token_id: t.token_id,
                uses: t.uses,
                max_uses: t.max_uses,
                expires_at: r.token_expires_at,
                revoked_at: t.revoked_at,
            }),
        });
    }
    Ok(AccountView {
        account_id: account.account_id,
        guest: account.guest_claim.is_some(),
        email: account.email,
        created_at: account.created_at,
        rentals,
    })
}
