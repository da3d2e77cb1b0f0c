//! The JSON API: routes and thin handlers (parse → domain function → answer).

mod error;
mod extract;
mod groups;
mod input;
mod observe;

pub use error::ApiError;
pub use extract::{Admin, ClientIp, Customer, Edge};
pub use input::{JsonBody, Path, Query};

use std::time::Duration;

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use protocol::{
    AuthorizeRequest, FillSources, FillSourcesRequest, ItemId, PublicGrant, PublicGrantRequest,
};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::AppState;
use crate::catalog::{ItemView, manifest, object_info};
use crate::ingest::IngestMeta;
use crate::records::{Binding, ItemRecord};

/// Largest JSON body accepted.
pub(crate) const JSON_LIMIT: usize = 64 * 1024;
/// How long a signed manifest stays valid.
pub(crate) const MANIFEST_VALID_SECS: u64 = 3600;

/// The router of the whole API.
pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/.well-known/jwks.json", get(jwks))
        .route("/v1/accounts", post(register))
        .route("/v1/sessions", post(login))
        .route("/v1/catalog", get(catalog))
        .route("/v1/catalog/{item}", get(item))
        .route("/v1/rentals", post(rent).get(rentals))
        .route("/v1/guest/rentals", post(guest_rent))
        .route("/v1/licences/{id}/bind", post(bind))
        .route("/v1/licences/{id}/enable", post(enable))
        .route("/v1/licences/{id}/status", get(licence_status))
        .route("/v1/licences/{id}/reactivate", post(reactivate))
        .route("/v1/admin/tokens/{id}/revoke", post(revoke_token))
        .route("/v1/admin/licences/{id}/revoke", post(revoke_licence))
        .route("/v1/admin/signing-keys", get(signing_keys))
        .route("/v1/admin/signing-keys/rotate", post(rotate_signing_key))
        .route("/v1/admin/keys/rewrap", post(rewrap_keys))
        .route("/v1/manifest", get(signed_manifest))
        .route("/v1/edge/authorize", post(authorize))
        .route("/v1/edge/fill-sources", post(fill_sources))
        .route("/v1/edge/public", post(public_grant))
        .route("/v1/edge/heartbeat", post(heartbeat))
        .merge(groups::routes())
        .layer(DefaultBodyLimit::max(JSON_LIMIT));
    let ingest = Router::new()
        .route("/v1/admin/items", post(ingest))
        .layer(DefaultBodyLimit::disable());
    api.merge(ingest)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            observe::observe,
        ))
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this endpoint does not take this method",
    )
}

async fn healthz() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(
            "content-type",
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(),
    )
}

async fn jwks(State(state): State<AppState>) -> Json<protocol::Jwks> {
    Json(state.signing.ring((state.clock)()).await.jwks().clone())
}

#[derive(Deserialize)]
struct Credentials {
    email: String,
    password: String,
}

#[derive(Deserialize)]
struct Registration {
    email: String,
    password: String,
    /// Claims the email's guest account (the code from its first guest checkout).
    #[serde(default)]
    claim_code: Option<String>,
}

/// The 429 for `refused`, counted.
fn limited(state: &AppState, refused: crate::limits::Refused) -> ApiError {
    state.metrics.limited(refused.limit());
    tracing::info!(limit = refused.limit(), "rate limited");
    refused.into()
}

async fn register(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    JsonBody(c): JsonBody<Registration>,
) -> Result<impl IntoResponse, ApiError> {
    state.limits.register(ip).map_err(|r| limited(&state, r))?;
    let account = crate::accounts::register(
        state.store.as_ref(),
        &state.passwords,
        &c.email,
        &c.password,
        c.claim_code.as_deref(),
        (state.clock)(),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"account_id": account.account_id})),
    ))
}

async fn login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    JsonBody(c): JsonBody<Credentials>,
) -> Result<impl IntoResponse, ApiError> {
    let now = (state.clock)();
    state
        .limits
        .login(ip, &c.email, now)
        .map_err(|r| limited(&state, r))?;
    let result = crate::accounts::login(
        state.store.as_ref(),
        &state.passwords,
        &c.email,
        &c.password,
        now,
    )
    .await;
    let wrong = matches!(result, Err(crate::accounts::AccountError::BadCredentials));
    if (wrong || result.is_ok())
        && let Some(lock) = state.limits.login_outcome(&c.email, !wrong, now)
    {
        tracing::warn!(limit = lock.limit(), "an account's logins are locked");
    }
    let s = result?;
    Ok(Json(
        json!({"session": s.session_id, "account_id": s.account_id, "expires_at": s.expires_at}),
    ))
}

async fn catalog(State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    let items: Vec<ItemView> = state
        .store
        .items()
        .await?
        .iter()
        .filter(|i| !i.public)
        .map(ItemView::from)
        .collect();
    Ok(Json(json!({ "items": items })))
}

fn unknown_item() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "unknown_item", "no such item")
}

fn parse_item(id: &str) -> Result<ItemId, ApiError> {
    ItemId::parse(id).map_err(|_| unknown_item())
}

async fn item(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<ItemView>, ApiError> {
    let id = parse_item(&id)?;
    let item = state
        .store
        .item(id.as_str())
        .await?
        .ok_or_else(unknown_item)?;
    Ok(Json(ItemView::from(&item)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RentBody {
    item: String,
    /// The card to charge; not needed when `group` pays.
    #[serde(default)]
    card: Option<String>,
    /// Charge the rental to this group's account (the caller must be a member allowed to rent).
    #[serde(default)]
    group: Option<String>,
    /// Buy although the account still holds a usable rental of the item.
    #[serde(default)]
    another_copy: bool,
}

#[derive(Deserialize)]
struct GuestRentBody {
    email: String,
    item: String,
    card: String,
    /// The claim code of the email's guest account, for a checkout after its first.
    #[serde(default)]
    claim_code: Option<String>,
    #[serde(default)]
    another_copy: bool,
}

#[derive(Serialize)]
struct RentAnswer {
    rental_id: String,
    licence_id: String,
    item: String,
    token: String,
    download_url: String,
    /// The same download from the next best edge, for when the first cannot be reached.
    #[serde(skip_serializing_if = "Option::is_none")]
    fallback_url: Option<String>,
    expires_at: u64,
    /// The object rented (the item at the version of the licence), to verify the download
    /// against whatever is ingested since.
    #[serde(skip_serializing_if = "Option::is_none")]
    object: Option<ItemView>,
}

async fn rent(
    State(state): State<AppState>,
    Customer(account): Customer,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    JsonBody(body): JsonBody<RentBody>,
) -> Result<impl IntoResponse, ApiError> {
    let key =
        crate::rentals::idempotency_key(headers.get("idempotency-key").map(|v| v.as_bytes()))?;
    let payer = match (&body.card, &body.group) {
        (_, Some(group)) => Payer::Group(group),
        (Some(card), None) => Payer::Card(card),
        (None, None) => {
            return Err(ApiError::bad_request(
                "send \"card\" to pay, or \"group\" to charge a group you belong to",
            ));
        }
    };
    let answer = rent_for(
        &state,
        &account,
        ip,
        key,
        &body.item,
        payer,
        body.another_copy,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(answer)))
}

/// Who pays for a rental.
#[derive(Clone, Copy)]
enum Payer<'a> {
    Card(&'a str),
    /// A group the renter belongs to, with the group's payment method.
    Group(&'a str),
}

/// A rental for `account`, counted; the answer both rent routes give.
async fn rent_for(
    state: &AppState,
    account: &str,
    ip: std::net::IpAddr,
    key: &str,
    item: &str,
    payer: Payer<'_>,
    another_copy: bool,
) -> Result<RentAnswer, ApiError> {
    state
        .limits
        .rental(account)
        .map_err(|r| limited(state, r))?;
    let item = parse_item(item)?;
    let (card, group) = match payer {
        Payer::Card(card) => (card, None),
        Payer::Group(group) => ("", Some(group)),
    };
    let order = crate::rentals::Order {
        item: &item,
        card,
        group,
        idempotency_key: key,
        another_copy,
    };
    let r = match crate::rentals::rent(state, account, ip, &order).await {
        Ok(r) => {
            state.metrics.rental("created");
            r
        }
        Err(e) => {
            let e = ApiError::from(e);
            state.metrics.rental(e.code);
            return Err(e);
        }
    };
    // A rental's object: the version it was rented at (the item's current one for rentals
    // recorded before versions were).
    let object = state.store.item(r.item.as_str()).await?.and_then(|i| {
        let version = if r.item_version == 0 {
            i.version
        } else {
            r.item_version
        };
        i.object(version)
            .map(|o| crate::catalog::ItemView::of_version(&i, &o))
    });
    Ok(RentAnswer {
        object,
        rental_id: r.rental_id,
        licence_id: r.licence_id,
        item: r.item.to_string(),
        token: r.token,
        download_url: r.download_url,
        fallback_url: r.fallback_url,
        expires_at: r.token_expires_at,
    })
}

/// A rental without an account: the email's guest account rents (created once the rental
/// succeeds), and the answer adds a session for the licence and, from the first checkout, the
/// claim code (`crate::accounts`, guests).
async fn guest_rent(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    JsonBody(body): JsonBody<GuestRentBody>,
) -> Result<impl IntoResponse, ApiError> {
    // A guest checkout may create an account: counted as a registration of its address.
    state.limits.register(ip).map_err(|r| limited(&state, r))?;
    let key =
        crate::rentals::idempotency_key(headers.get("idempotency-key").map(|v| v.as_bytes()))?;
    let now = (state.clock)();
    let guest = crate::accounts::guest_account(
        state.store.as_ref(),
        &state.keys,
        &body.email,
        key,
        body.claim_code.as_deref(),
        now,
    )
    .await?;
    let answer = rent_for(
        &state,
        &guest.account.account_id,
        ip,
        key,
        &body.item,
        Payer::Card(&body.card),
        body.another_copy,
    )
    .await?;
    let session = crate::accounts::guest_session(state.store.as_ref(), &guest, now).await?;
    let mut answer = serde_json::to_value(answer).map_err(ApiError::internal)?;
    answer["account_id"] = json!(guest.account.account_id);
    answer["session"] = json!(session.session_id);
    if let Some(code) = guest.claim_code {
        answer["claim_code"] = json!(code);
    }
    Ok((StatusCode::CREATED, Json(answer)))
}

async fn rentals(
    State(state): State<AppState>,
    Customer(account): Customer,
) -> Result<impl IntoResponse, ApiError> {
    let list: Vec<_> = state
        .store
        .rentals_of(&account)
        .await?
        .into_iter()
        .map(|r| json!({"rental_id": r.rental_id, "item": r.item, "licence_id": r.licence_id, "charge_id": r.charge_id, "amount_cents": r.amount_cents, "created_at": r.created_at}))
        .collect();
    Ok(Json(json!({ "rentals": list })))
}

#[derive(Deserialize)]
struct BindBody {
    device_id: String,
    player_id: String,
    device_public_key: String,
}

async fn bind(
    State(state): State<AppState>,
    Customer(account): Customer,
    Path(id): Path<String>,
    JsonBody(b): JsonBody<BindBody>,
) -> Result<impl IntoResponse, ApiError> {
    let binding = Binding {
        device_id: b.device_id,
        player_id: b.player_id,
        device_public_key: b.device_public_key,
    };
    let licence = crate::licences::bind(&state, &account, &id, binding).await?;
    Ok(Json(json!({ "licence": licence })))
}

#[derive(Deserialize)]
struct EnableBody {
    device_id: String,
    player_id: String,
}

async fn enable(
    State(state): State<AppState>,
    Customer(account): Customer,
    Path(id): Path<String>,
    JsonBody(b): JsonBody<EnableBody>,
) -> Result<impl IntoResponse, ApiError> {
    let licence =
        crate::licences::enable(&state, &account, &id, &b.device_id, &b.player_id).await?;
    Ok(Json(json!({ "licence": licence })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReactivateBody {
    card: String,
}

async fn reactivate(
    State(state): State<AppState>,
    Customer(account): Customer,
    Path(id): Path<String>,
    headers: HeaderMap,
    JsonBody(b): JsonBody<ReactivateBody>,
) -> Result<impl IntoResponse, ApiError> {
    let key =
        crate::rentals::idempotency_key(headers.get("idempotency-key").map(|v| v.as_bytes()))?;
    state
        .limits
        .rental(&account)
        .map_err(|r| limited(&state, r))?;
    let done = crate::licences::reactivate(&state, &account, &id, &b.card, key).await?;
    let r = done.reactivation;
    Ok(Json(json!({
        "licence": done.licence,
        "window": r.window,
        "amount_cents": r.amount_cents,
        "charge_id": r.charge_id,
        "reactivated_at": r.at,
    })))
}

async fn signed_manifest(State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    let m = manifest(&state.store.items().await?);
    let now = (state.clock)();
    let ring = state.signing.ring(now).await;
    let signed = m
        .sign(ring.signer(now), now, MANIFEST_VALID_SECS)
        .map_err(ApiError::internal)?;
    Ok(Json(json!({ "manifest": signed })))
}

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

/// `GET /v1/licences/{id}/status`: whether the licence still stands (the player asks before it
/// plays): `{"status":"active"}`, or 403 `licence_revoked`.
async fn licence_status(
    State(state): State<AppState>,
    Customer(account): Customer,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    crate::licences::status(&state, &account, &id).await?;
    Ok(Json(json!({"licence_id": id, "status": "active"})))
}

/// `POST /v1/admin/tokens/{id}/revoke`: the token's downloads are refused from the next
/// authorize on (edges holding its grant stop within their stated bound).
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
async fn signing_keys(State(state): State<AppState>, _admin: Admin) -> Json<serde_json::Value> {
    let now = (state.clock)();
    Json(ring_view(&*state.signing.ring(now).await, now))
}

/// `POST /v1/admin/signing-keys/rotate`: appends the next key now; it is published at once and
/// signs from `signing.publish_ahead_secs` later.
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

/// An edge says how it is; kept for the edge choice of the next rentals.
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
    let status = crate::records::EdgeStatus {
        edge_id: edge.id.clone(),
        seen_at: (state.clock)(),
        heartbeat: beat,
    };
    state.store.put_edge_status(status).await?;
    Ok(StatusCode::NO_CONTENT)
}

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
