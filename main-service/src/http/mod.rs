//! The JSON API: routes and thin handlers (parse → domain function → answer).

mod admin;
mod edge_api;
mod error;
mod extract;
mod groups;
mod input;
mod observe;
mod openapi;

pub use error::ApiError;

pub(crate) use admin::{
    account_view as admin_account_view, network_view as admin_network_view, set_promoted,
};
pub use extract::{Admin, ClientIp, Customer, Edge};
pub use input::{JsonBody, Path, Query};

use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::{Json, Router};
use protocol::ItemId;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use openapi::ErrorBody;

use crate::AppState;
use crate::catalog::ItemView;
use crate::records::Binding;

/// Largest JSON body accepted.
pub(crate) const JSON_LIMIT: usize = 64 * 1024;
/// How long a signed manifest stays valid.
pub(crate) const MANIFEST_VALID_SECS: u64 = 3600;

/// The router of the whole API.
pub fn router(state: AppState) -> Router {
    let (api, _) = api().split_for_parts();
    api.merge(crate::site::router(state.clone()))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            observe::observe,
        ))
        .with_state(state)
}

/// Main's OpenAPI 3.1 document: every route of [`router`] from its handler's annotation, and
/// the edges' API (`openapi::ApiDoc`).
pub fn openapi_document() -> utoipa::openapi::OpenApi {
    api().split_for_parts().1
}

/// The routes with their OpenAPI descriptions: JSON bodies up to [`JSON_LIMIT`], ingest
/// streamed without a limit (it has its own).
fn api() -> OpenApiRouter<AppState> {
    let json = OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .routes(routes!(healthz))
        .routes(routes!(metrics))
        .routes(routes!(openapi::openapi_json))
        .routes(routes!(jwks))
        .routes(routes!(register))
        .routes(routes!(login))
        .routes(routes!(catalog))
        .routes(routes!(promotions))
        .routes(routes!(item))
        .routes(routes!(rent, rentals))
        .routes(routes!(guest_rent))
        .routes(routes!(bind))
        .routes(routes!(enable))
        .routes(routes!(licence_status))
        .routes(routes!(reactivate))
        .merge(admin::routes())
        .merge(edge_api::routes())
        .merge(groups::routes())
        .layer(DefaultBodyLimit::max(JSON_LIMIT));
    json.merge(admin::ingest_routes())
}

/// An unknown path: the site's 404 page for a browser, JSON for everyone else.
async fn not_found(headers: HeaderMap) -> axum::response::Response {
    let browser = headers
        .get(axum::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"));
    if browser {
        crate::site::Failure::not_found().into_response()
    } else {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint").into_response()
    }
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this endpoint does not take this method",
    )
}

#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, description = "`{\"status\":\"ok\"}`", body = serde_json::Value)))]
async fn healthz() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

#[utoipa::path(get, path = "/metrics", tag = "operations", responses((status = 200, description = "OpenMetrics text: requests and latencies per route, authorize outcomes, rentals, rate limits, ingested bytes", content_type = "application/openmetrics-text", body = String)))]
async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(
            "content-type",
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(),
    )
}

#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "keys", responses((status = 200, description = "Every published signing key (RFC 8037 OKP Ed25519): the one that signs, the next one ahead of its start, retired ones while what they signed is valid", body = serde_json::Value)))]
async fn jwks(State(state): State<AppState>) -> Json<protocol::Jwks> {
    Json(state.signing.ring((state.clock)()).await.jwks().clone())
}

#[derive(Deserialize, ToSchema)]
struct Credentials {
    email: String,
    password: String,
}

#[derive(Deserialize, ToSchema)]
struct Registration {
    email: String,
    password: String,
    /// Claims the email's guest account (the code from its first guest checkout).
    #[serde(default)]
    claim_code: Option<String>,
}

/// The 429 for `refused`, counted.
pub(crate) fn limited(state: &AppState, refused: crate::limits::Refused) -> ApiError {
    state.metrics.limited(refused.limit());
    tracing::info!(limit = refused.limit(), "rate limited");
    refused.into()
}

#[utoipa::path(post, path = "/v1/accounts", tag = "accounts", request_body = Registration, responses((status = 201, description = "`{account_id}`", body = serde_json::Value), (status = 403, description = "`bad_claim_code`", body = ErrorBody), (status = 409, description = "`email_taken`, `claim_code_required` (the email rented as a guest), `account_exists`", body = ErrorBody), (status = 429, description = "`rate_limited` (per address)", body = ErrorBody), (status = 503, description = "`busy` (too many passwords being hashed)", body = ErrorBody), (status = 400, description = "`invalid_json`, `bad_request`, …", body = ErrorBody), (status = 413, description = "`body_too_large`", body = ErrorBody), (status = 415, description = "`unsupported_media_type`", body = ErrorBody), (status = 422, description = "`invalid_body`", body = ErrorBody)))]
async fn register(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    JsonBody(c): JsonBody<Registration>,
) -> Result<impl IntoResponse, ApiError> {
    let account =
        register_account(&state, ip, &c.email, &c.password, c.claim_code.as_deref()).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"account_id": account.account_id})),
    ))
}

/// A registration from `ip`, rate-limited per address (the API's and the site's).
pub(crate) async fn register_account(
    state: &AppState,
    ip: std::net::IpAddr,
    email: &str,
    password: &str,
    claim_code: Option<&str>,
) -> Result<crate::records::Account, ApiError> {
    state.limits.register(ip).map_err(|r| limited(state, r))?;
    Ok(crate::accounts::register(
        state.store.as_ref(),
        &state.passwords,
        email,
        password,
        claim_code,
        (state.clock)(),
    )
    .await?)
}

#[utoipa::path(post, path = "/v1/sessions", tag = "accounts", request_body = Credentials, responses((status = 200, description = "`{session, account_id, expires_at}`: send the session as `Authorization: Bearer`", body = serde_json::Value), (status = 401, description = "`bad_credentials`", body = ErrorBody), (status = 429, description = "`rate_limited` or `account_locked`, with `Retry-After`", body = ErrorBody), (status = 400, description = "`invalid_json`, `bad_request`, …", body = ErrorBody), (status = 413, description = "`body_too_large`", body = ErrorBody), (status = 415, description = "`unsupported_media_type`", body = ErrorBody), (status = 422, description = "`invalid_body`", body = ErrorBody)))]
async fn login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    JsonBody(c): JsonBody<Credentials>,
) -> Result<impl IntoResponse, ApiError> {
    let s = log_in(&state, ip, &c.email, &c.password).await?;
    Ok(Json(
        json!({"session": s.session_id, "account_id": s.account_id, "expires_at": s.expires_at}),
    ))
}

/// A login from `ip`: rate-limited per address and account, counted towards the account's
/// lockout (the API's and the site's).
pub(crate) async fn log_in(
    state: &AppState,
    ip: std::net::IpAddr,
    email: &str,
    password: &str,
) -> Result<crate::records::Session, ApiError> {
    let now = (state.clock)();
    state
        .limits
        .login(ip, email, now)
        .map_err(|r| limited(state, r))?;
    let result =
        crate::accounts::login(state.store.as_ref(), &state.passwords, email, password, now).await;
    let wrong = matches!(result, Err(crate::accounts::AccountError::BadCredentials));
    if (wrong || result.is_ok())
        && let Some(lock) = state.limits.login_outcome(email, !wrong, now)
    {
        tracing::warn!(limit = lock.limit(), "an account's logins are locked");
    }
    Ok(result?)
}

#[utoipa::path(get, path = "/v1/catalog", tag = "catalog", params(crate::catalog::CatalogQuery), responses((status = 200, description = "`{items: [Item]}`: the items for rent the query asks for (public objects left out)", body = serde_json::Value)))]
async fn catalog(
    State(state): State<AppState>,
    Query(query): Query<crate::catalog::CatalogQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let catalog = state.catalog.snapshot(state.store.as_ref()).await?;
    let items: Vec<ItemView> = catalog
        .search(&query)
        .into_iter()
        .map(ItemView::from)
        .collect();
    Ok(Json(json!({ "items": items })))
}

/// The promoted items still for rent, as customers see them: `{items: [Item]}`.
pub(crate) async fn promoted(state: &AppState) -> Result<serde_json::Value, ApiError> {
    let mut items = Vec::new();
    for id in state.store.promotions().await? {
        if let Some(item) = state.store.item(&id).await?.filter(|i| !i.public) {
            items.push(ItemView::from(&item));
        }
    }
    Ok(json!({ "items": items }))
}

#[utoipa::path(get, path = "/v1/promotions", tag = "catalog", responses((status = 200, description = "`{items: [Item]}`: the items the operator promotes, in order", body = serde_json::Value)))]
async fn promotions(State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(promoted(&state).await?))
}

pub(crate) fn unknown_item() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "unknown_item", "no such item")
}

fn parse_item(id: &str) -> Result<ItemId, ApiError> {
    ItemId::parse(id).map_err(|_| unknown_item())
}

#[utoipa::path(get, path = "/v1/catalog/{item}", tag = "catalog", params(("item" = String, Path, description = "item id")), responses((status = 200, body = ItemView), (status = 404, description = "`unknown_item`", body = ErrorBody)))]
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

#[derive(Deserialize, ToSchema)]
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

#[derive(Deserialize, ToSchema)]
pub(crate) struct GuestRentBody {
    pub email: String,
    pub item: String,
    pub card: String,
    /// The claim code of the email's guest account, for a checkout after its first.
    #[serde(default)]
    pub claim_code: Option<String>,
    #[serde(default)]
    pub another_copy: bool,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct RentAnswer {
    pub rental_id: String,
    licence_id: String,
    item: String,
    token: String,
    pub download_url: String,
    /// The same download from the next best edge, for when the first cannot be reached.
    #[serde(skip_serializing_if = "Option::is_none")]
    fallback_url: Option<String>,
    expires_at: u64,
    /// The object rented (the item at the version of the licence), to verify the download
    /// against whatever is ingested since.
    #[serde(skip_serializing_if = "Option::is_none")]
    object: Option<ItemView>,
}

#[utoipa::path(post, path = "/v1/rentals", tag = "rentals", security(("session" = [])), params(("Idempotency-Key" = String, Header, description = "1 to 128 visible ASCII characters; a retry with the same key charges once")), request_body = RentBody, responses((status = 201, body = RentAnswer), (status = 400, description = "`invalid_idempotency_key`, `invalid_card`", body = ErrorBody), (status = 402, description = "`card_declined`, `insufficient_funds`", body = ErrorBody), (status = 403, description = "`region_denied`, `rent_not_allowed`, `spend_cap_exceeded`, `rating_above_cap`", body = ErrorBody), (status = 404, description = "`unknown_item`, `unknown_group`", body = ErrorBody), (status = 409, description = "`already_rented` (with `rental_id`), `purchase_in_progress`, `not_for_rent`", body = ErrorBody), (status = 422, description = "`idempotency_key_reused`, `invalid_body`", body = ErrorBody), (status = 429, description = "`rate_limited`", body = ErrorBody), (status = 503, description = "`no_edge`, `busy`", body = ErrorBody)))]
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
pub(crate) enum Payer<'a> {
    Card(&'a str),
    /// A group the renter belongs to, with the group's payment method.
    Group(&'a str),
}

/// A rental for `account`, counted; the answer both rent routes (and the site) give.
pub(crate) async fn rent_for(
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
    let (r, item) = match crate::rentals::rent(state, account, ip, &order).await {
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
    let version = match r.item_version {
        0 => item.version,
        v => v,
    };
    let object = item
        .object(version)
        .map(|o| crate::catalog::ItemView::of_version(&item, &o));
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
#[utoipa::path(post, path = "/v1/guest/rentals", tag = "rentals", params(("Idempotency-Key" = String, Header, description = "1 to 128 visible ASCII characters; a retry with the same key charges once")), request_body = GuestRentBody, responses((status = 201, description = "the rental's answer plus `account_id`, `session` and, from the email's first checkout, `claim_code`", body = serde_json::Value), (status = 403, description = "`bad_claim_code`", body = ErrorBody), (status = 409, description = "`claim_code_required`, `account_exists`, and the rental's own", body = ErrorBody), (status = 429, description = "`rate_limited`", body = ErrorBody)))]
async fn guest_rent(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    JsonBody(body): JsonBody<GuestRentBody>,
) -> Result<impl IntoResponse, ApiError> {
    let key =
        crate::rentals::idempotency_key(headers.get("idempotency-key").map(|v| v.as_bytes()))?;
    let done = guest_checkout(&state, ip, key, &body).await?;
    let mut answer = serde_json::to_value(done.answer).map_err(ApiError::internal)?;
    answer["account_id"] = json!(done.account_id);
    answer["session"] = json!(done.session.session_id);
    if let Some(code) = done.claim_code {
        answer["claim_code"] = json!(code);
    }
    Ok((StatusCode::CREATED, Json(answer)))
}

/// A guest checkout done: the rental, the guest account and a session for it, and the claim
/// code from the email's first checkout.
pub(crate) struct GuestCheckout {
    pub answer: RentAnswer,
    pub account_id: String,
    pub session: crate::records::Session,
    pub claim_code: Option<String>,
}

/// A rental without an account from `ip` under idempotency `key` (the API's and the site's).
pub(crate) async fn guest_checkout(
    state: &AppState,
    ip: std::net::IpAddr,
    key: &str,
    body: &GuestRentBody,
) -> Result<GuestCheckout, ApiError> {
    // A guest checkout may create an account: counted as a registration of its address.
    state.limits.register(ip).map_err(|r| limited(state, r))?;
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
        state,
        &guest.account.account_id,
        ip,
        key,
        &body.item,
        Payer::Card(&body.card),
        body.another_copy,
    )
    .await?;
    let session = crate::accounts::guest_session(state.store.as_ref(), &guest, now).await?;
    Ok(GuestCheckout {
        answer,
        account_id: guest.account.account_id,
        session,
        claim_code: guest.claim_code,
    })
}

#[utoipa::path(get, path = "/v1/rentals", tag = "rentals", security(("session" = [])), responses((status = 200, description = "`{rentals: [{rental_id, item, licence_id, charge_id, amount_cents, created_at}]}`", body = serde_json::Value), (status = 401, description = "`unauthorized`", body = ErrorBody)))]
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

#[derive(Deserialize, ToSchema)]
struct BindBody {
    device_id: String,
    player_id: String,
    device_public_key: String,
}

#[utoipa::path(post, path = "/v1/licences/{id}/bind", tag = "licences", security(("session" = [])), params(("id" = String, Path, description = "licence id")), request_body = BindBody, responses((status = 200, description = "`{licence: signed}`", body = serde_json::Value), (status = 403, description = "`licence_revoked`", body = ErrorBody), (status = 404, description = "`unknown_licence`", body = ErrorBody), (status = 409, description = "`bound_elsewhere`", body = ErrorBody), (status = 410, description = "`version_gone`", body = ErrorBody)))]
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

#[derive(Deserialize, ToSchema)]
struct EnableBody {
    device_id: String,
    player_id: String,
}

#[utoipa::path(post, path = "/v1/licences/{id}/enable", tag = "licences", security(("session" = [])), params(("id" = String, Path, description = "licence id")), request_body = EnableBody, responses((status = 200, description = "`{licence: signed, with its window and the content key wrapped to the device}`", body = serde_json::Value), (status = 403, description = "`licence_revoked`", body = ErrorBody), (status = 404, description = "`unknown_licence`", body = ErrorBody), (status = 409, description = "`not_bound`, `bound_elsewhere`", body = ErrorBody), (status = 410, description = "`licence_expired`, `licence_lapsed`, `version_gone`", body = ErrorBody)))]
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

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ReactivateBody {
    card: String,
}

#[utoipa::path(post, path = "/v1/licences/{id}/reactivate", tag = "licences", security(("session" = [])), params(("id" = String, Path, description = "licence id"), ("Idempotency-Key" = String, Header, description = "a retry with the same key returns the same reactivation")), request_body = ReactivateBody, responses((status = 200, description = "`{licence, window, amount_cents, charge_id, reactivated_at}`", body = serde_json::Value), (status = 402, description = "`card_declined`, `insufficient_funds`", body = ErrorBody), (status = 403, description = "`licence_revoked`", body = ErrorBody), (status = 409, description = "`not_enabled`, `window_running`, `already_reactivated`, `purchase_in_progress`", body = ErrorBody), (status = 410, description = "`version_gone`", body = ErrorBody), (status = 429, description = "`rate_limited`", body = ErrorBody)))]
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

/// `GET /v1/licences/{id}/status`: whether the licence still stands (the player asks before it
/// plays): `{"status":"active"}`, or 403 `licence_revoked`.
#[utoipa::path(get, path = "/v1/licences/{id}/status", tag = "licences", security(("session" = [])), params(("id" = String, Path, description = "licence id")), responses((status = 200, description = "`{licence_id, status: active}`", body = serde_json::Value), (status = 403, description = "`licence_revoked`", body = ErrorBody), (status = 404, description = "`unknown_licence`", body = ErrorBody)))]
async fn licence_status(
    State(state): State<AppState>,
    Customer(account): Customer,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    crate::licences::status(&state, &account, &id).await?;
    Ok(Json(json!({"licence_id": id, "status": "active"})))
}
