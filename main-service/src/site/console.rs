//! The operator's console under `/admin`: the network (edges from their heartbeats, parents),
//! the catalog (edit an item, the promotions), ingest (a streamed upload with a progress bar),
//! and licences and tokens (look up by email, revoke).
//!
//! The operator logs in with the admin token. The console's session is a signed cookie
//! (`console`, `Path=/admin`, `SameSite=Strict`, `HttpOnly`): its expiry and a tag over it and
//! a digest of the admin token, so it holds on every main and ends when the token changes. It
//! is separate from customers' sessions: a customer's cookie opens nothing here. Forms carry
//! the visitor's form token; the upload sends it as `X-Form-Token`.

use axum::body::Body;
use axum::extract::{FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use maud::{Markup, html};
use serde::Deserialize;

use super::forms::{SiteForm, TokenOnly, Visitor, see_other};
use super::layout::{Failure, alert, answer, page, price, size, token_field, when};
use crate::AppState;
use crate::edge_history::{KEEP_SECS, hit_ratios, throughput};
use crate::http::{ApiError, Path};

/// The console session's cookie.
const CONSOLE_COOKIE: &str = "console";
/// How long a console session lasts.
const CONSOLE_SECS: u64 = 12 * 3600;

/// The tag of a console session ending at `expires`.
fn console_tag(state: &AppState, expires: &str) -> String {
    let token = blake3::hash(state.config.admin_token.as_bytes()).to_hex();
    state.keys.site_tag(&["console", expires, token.as_str()])
}

/// A logged-in operator.
#[derive(Debug)]
pub struct Operator;

impl FromRequestParts<AppState> for Operator {
    type Rejection = Response;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let jar = CookieJar::from_headers(&parts.headers);
        let valid = jar
            .get(CONSOLE_COOKIE)
            .and_then(|c| {
                c.value()
                    .split_once('.')
                    .map(|(e, t)| (e.to_owned(), t.to_owned()))
            })
            .is_some_and(|(expires, tag)| {
                expires.parse::<u64>().is_ok_and(|e| (state.clock)() < e)
                    && crate::edges::same_secret(&tag, &console_tag(state, &expires))
            });
        if valid {
            Ok(Operator)
        } else {
            Err(see_other("/admin/login"))
        }
    }
}

/// The console's shell: its own navigation above the page.
fn console_page(visitor: &Visitor, title: &str, body: Markup) -> Markup {
    page(
        Some(visitor),
        title,
        html! {
            nav.console aria-label="Console" {
                a href="/admin" { "Network" }
                a href="/admin/catalog" { "Catalog" }
                a href="/admin/ingest" { "Ingest" }
                a href="/admin/licences" { "Licences" }
                form.inline method="post" action="/admin/logout" {
                    (token_field(visitor))
                    button type="submit" { "Leave the console" }
                }
            }
            (body)
        },
    )
}

fn login_page(visitor: &Visitor, problem: Option<&str>) -> Markup {
    page(
        Some(visitor),
        "Operator login",
        html! {
            h1 { "Operator login" }
            @if let Some(p) = problem { (alert(p)) }
            form.stack method="post" action="/admin/login" {
                (token_field(visitor))
                label for="admin-token" { "Admin token" }
                input #admin-token type="password" name="admin_token" autocomplete="current-password" required;
                button type="submit" { "Open the console" }
            }
        },
    )
}

/// `GET /admin/login`.
pub async fn login_form(visitor: Visitor) -> Markup {
    login_page(&visitor, None)
}

#[derive(Debug, Deserialize)]
pub struct LoginForm {
    /// Missing: refused as a forged form by the handler, not as a malformed body.
    #[serde(default)]
    form_token: String,
    admin_token: String,
}

/// `POST /admin/login`: the admin token opens a console session (rate-limited per address and
/// locked out after repeated failures, as customers' logins are).
pub async fn login(
    State(state): State<AppState>,
    visitor: Visitor,
    SiteForm(form): SiteForm<LoginForm>,
) -> Result<Response, Failure> {
    visitor.check(&form.form_token)?;
    let now = (state.clock)();
    const WHO: &str = "operator@console";
    if let Err(refused) = state.limits.login(visitor.ip, WHO, now) {
        return Err(crate::http::limited(&state, refused).into());
    }
    let ok = crate::edges::same_secret(&form.admin_token, &state.config.admin_token);
    let _ = state.limits.login_outcome(WHO, ok, now);
    if !ok {
        tracing::warn!(ip = %visitor.ip, "a wrong admin token at the console login");
        return Ok(answer(
            StatusCode::UNAUTHORIZED,
            login_page(&visitor, Some("That is not the admin token.")),
        ));
    }
    let expires = (now + CONSOLE_SECS).to_string();
    let value = format!("{expires}.{}", console_tag(&state, &expires));
    let cookie = Cookie::build((CONSOLE_COOKIE, value))
        .http_only(true)
        .same_site(SameSite::Strict)
        .path("/admin")
        .secure(visitor.secure)
        .max_age(time::Duration::seconds(CONSOLE_SECS as i64))
        .build();
    tracing::info!(ip = %visitor.ip, "console session opened");
    Ok((CookieJar::new().add(cookie), see_other("/admin")).into_response())
}

/// `POST /admin/logout`.
pub async fn logout(
    visitor: Visitor,
    SiteForm(form): SiteForm<TokenOnly>,
) -> Result<Response, Failure> {
    visitor.check(&form.form_token)?;
    let gone = Cookie::build((CONSOLE_COOKIE, ""))
        .path("/admin")
        .max_age(time::Duration::ZERO)
        .build();
    Ok((CookieJar::new().add(gone), see_other("/")).into_response())
}

/// `GET /admin`: every edge's health, load, budget use and hit ratio; every parent.
pub async fn network(
    State(state): State<AppState>,
    _: Operator,
    visitor: Visitor,
) -> Result<Markup, Failure> {
    let now = (state.clock)();
    let view = crate::http::admin_network_view(&state).await?;
    let parents = crate::replication::lag(&state).await?;
    let net = crate::edge_history::network(view.edges.iter().map(|e| e.history.as_slice()));
    Ok(console_page(
        &visitor,
        "Network",
        html! {
            h1 { "Network" }
            h2 { "Edges" }
            div.table tabindex="0" role="region" aria-label="Edges" { table #edges {
                thead { tr { th scope="col" { "Edge" } th scope="col" { "Region" } th scope="col" { "Health" }
                    th scope="col" { "Last heartbeat" } th scope="col" { "Load" } th scope="col" { "Hit ratio" }
                    th scope="col" { "Budget use" } th scope="col" { "Version" } } }
                tbody {
                    @for e in &view.edges {
                        tr {
                            th scope="row" { a href=(e.url) { (e.id) } }
                            td { (e.region) }
                            td { span class={ "tier " (e.tier.as_str()) } { (e.tier.as_str()) } }
                            td { (e.seen_at.map_or("never".to_owned(), |s| format!("{} ago", super::layout::span(now.saturating_sub(s))))) }
                            @match &e.heartbeat {
                                Some(h) => {
                                    td { (format!("{:.0} %", h.load() * 100.0)) " (" (h.open_connections) " open)" }
                                    td { (h.hit_ratio.map_or("—".to_owned(), |r| format!("{:.1} %", r * 100.0))) }
                                    td { @for z in &h.zones {
                                        (z.zone) ": " (size(z.used)) " of " (size(z.budget)) br;
                                    } @if h.zones.is_empty() { "—" } }
                                    td { (h.version) }
                                }
                                None => { td { "—" } td { "—" } td { "—" } td { "—" } }
                            }
                        }
                    }
                }
            } }
            h2 { "The last 24 hours, all edges" }
            (super::chart::line_chart("hit-ratio", "Hit ratio", &hit_ratios(&net), now, KEEP_SECS, Some(1.0),
                |v| format!("{:.0} %", v * 100.0)))
            (super::chart::line_chart("throughput", "Bytes served per second", &throughput(&net), now, KEEP_SECS, None,
                |v| format!("{}/s", size(v as u64))))
            h2 { "Parent stores" }
            p { "Each parent is asked for the " (crate::replication::NEWEST) " newest objects; its lag is \
                 the age of the oldest one it does not hold yet." }
            div.table tabindex="0" role="region" aria-label="Parent stores" { table #parents {
                thead { tr { th scope="col" { "Parent" } th scope="col" { "Region" } th scope="col" { "Role" }
                    th scope="col" { "Replication" } } }
                tbody {
                    @for p in &parents {
                        tr {
                            th scope="row" { (p.name) }
                            td { (p.region) }
                            td { @if p.primary { "primary (receives ingests)" } @else { "replica" } }
                            td.replication {
                                @match (&p.error, p.lag_secs) {
                                    (Some(e), _) => { span.tier.silent { "unreachable" } " " (e) }
                                    (None, None) => { span.tier.healthy { "in sync" } " (" (p.checked) " newest held)" }
                                    (None, Some(lag)) => {
                                        span.tier.strained { "behind by " (super::layout::span(lag)) }
                                        " (" (p.missing) " of the " (p.checked) " newest missing)"
                                    }
                                }
                            }
                        }
                    }
                }
            } }
        },
    ))
}

/// `GET /admin/catalog`: every item, and the promotions.
pub async fn catalog(
    State(state): State<AppState>,
    _: Operator,
    visitor: Visitor,
) -> Result<Markup, Failure> {
    let catalog = state.catalog.snapshot(state.store.as_ref()).await?;
    let mut items: Vec<&crate::records::ItemRecord> = catalog.items.iter().collect();
    items.sort_by(|a, b| a.title.cmp(&b.title));
    let promoted = state.store.promotions().await?;
    Ok(console_page(
        &visitor,
        "Catalog",
        html! {
            h1 { "Catalog" }
            div.table tabindex="0" role="region" aria-label="Items" { table #items {
                thead { tr { th scope="col" { "Item" } th scope="col" { "Kind" } th scope="col" { "Hot level" }
                    th scope="col" { "Regions" } th scope="col" { "Price" } th scope="col" { "Size" }
                    th scope="col" { "Version" } } }
                tbody {
                    @for i in &items {
                        tr {
                            th scope="row" { a href={ "/admin/items/" (i.id) } { (i.title) } " " small { "(" (i.id) ")" } }
                            td { @if i.public { "public" } @else { "for rent" } }
                            td { (i.level.map_or("—".to_owned(), |l| l.to_string())) }
                            td { @if i.regions.is_empty() { "everywhere" } @else { (i.regions.join(", ")) } }
                            td { (price(i.price_cents)) }
                            td { (size(i.plaintext_len)) }
                            td { (i.version) }
                        }
                    }
                }
            } }
            h2 #promotions-title { "Promotions" }
            form.stack method="post" action="/admin/promotions" aria-labelledby="promotions-title" {
                (token_field(&visitor))
                label for="promoted" { "Promoted item ids, in order, one per line (at most 24)" }
                textarea #promoted name="items" rows="6" { (promoted.join("\n")) }
                button type="submit" { "Save the promotions" }
            }
        },
    ))
}

#[derive(Debug, Deserialize)]
pub struct PromotionsForm {
    /// Missing: refused as a forged form by the handler, not as a malformed body.
    #[serde(default)]
    form_token: String,
    items: String,
}

/// `POST /admin/promotions`.
pub async fn promotions(
    State(state): State<AppState>,
    _: Operator,
    visitor: Visitor,
    SiteForm(form): SiteForm<PromotionsForm>,
) -> Result<Response, Failure> {
    visitor.check(&form.form_token)?;
    let items: Vec<String> = form
        .items
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    crate::http::set_promoted(&state, items).await?;
    Ok(see_other("/admin/catalog"))
}

/// `GET /admin/items/{id}`: the item's edit form.
pub async fn item(
    State(state): State<AppState>,
    _: Operator,
    visitor: Visitor,
    Path(id): Path<String>,
) -> Result<Markup, Failure> {
    let item = state
        .store
        .item(&id)
        .await?
        .ok_or_else(Failure::not_found)?;
    Ok(item_form(&visitor, &item, None))
}

fn item_form(
    visitor: &Visitor,
    item: &crate::records::ItemRecord,
    problem: Option<&str>,
) -> Markup {
    let p = &item.presentation;
    console_page(
        visitor,
        &format!("Edit {}", item.title),
        html! {
            h1 { "Edit " (item.title) }
            p { "Version " (item.version) ", " (size(item.plaintext_len)) ", published " (when(item.published_at)) ". "
                "Changes reach the edges with the signed manifest at their next poll." }
            @if let Some(m) = problem { (alert(m)) }
            form.stack method="post" action={ "/admin/items/" (item.id) } {
                (token_field(visitor))
                label for="title" { "Title" }
                input #title name="title" value=(item.title) required;
                label for="level" { "Hot level (edges of this level or lower prefill it; empty: not hot)" }
                input #level name="level" inputmode="numeric" value=(item.level.map(|l| l.to_string()).unwrap_or_default());
                label for="regions" { "Regions (comma-separated; empty: everywhere)" }
                input #regions name="regions" value=(item.regions.join(","));
                label for="price" { "Price in cents" }
                input #price name="price_cents" inputmode="numeric" value=(item.price_cents);
                label for="rating" { "Age rating (empty: unrated)" }
                input #rating name="rating" inputmode="numeric" value=(item.rating.map(|r| r.to_string()).unwrap_or_default());
                label for="genres" { "Genres (comma-separated)" }
                input #genres name="genres" value=(p.genres.join(","));
                label for="description" { "Description" }
                textarea #description name="description" rows="4" { (p.description) }
                label for="poster" { "Poster (id of a public object)" }
                input #poster name="poster" value=(p.poster.clone().unwrap_or_default());
                label for="trailer" { "Trailer (id of a public object)" }
                input #trailer name="trailer" value=(p.trailer.clone().unwrap_or_default());
                button type="submit" { "Save" }
            }
        },
    )
}

#[derive(Debug, Deserialize)]
pub struct ItemForm {
    /// Missing: refused as a forged form by the handler, not as a malformed body.
    #[serde(default)]
    form_token: String,
    title: String,
    level: String,
    regions: String,
    price_cents: String,
    rating: String,
    genres: String,
    description: String,
    poster: String,
    trailer: String,
}

/// A list of comma-separated values, trimmed, empties dropped.
fn list(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

impl ItemForm {
    /// The edit the form asks for; a number that is not one is named.
    fn edit(&self) -> Result<crate::ingest::ItemEdit, String> {
        let number = |name: &str, v: &str| -> Result<Option<u64>, String> {
            let v = v.trim();
            if v.is_empty() {
                return Ok(None);
            }
            v.parse()
                .map(Some)
                .map_err(|_| format!("{name} must be a whole number"))
        };
        let small = |name: &str, v: &str| -> Result<Option<u8>, String> {
            number(name, v)?
                .map(|n| u8::try_from(n).map_err(|_| format!("{name} must be at most 255")))
                .transpose()
        };
        let keep_if_empty = |v: &str| Some(v.trim().to_owned()).filter(|v| !v.is_empty());
        Ok(crate::ingest::ItemEdit {
            title: Some(self.title.clone()),
            level: Some(small("the hot level", &self.level)?),
            regions: Some(list(&self.regions)),
            price_cents: number("the price", &self.price_cents)?,
            rating: Some(small("the rating", &self.rating)?),
            description: Some(self.description.clone()),
            genres: Some(list(&self.genres)),
            poster: keep_if_empty(&self.poster),
            trailer: keep_if_empty(&self.trailer),
        })
    }
}

/// `POST /admin/items/{id}`: saves the edit, or shows the form again with the reason.
pub async fn edit_item(
    State(state): State<AppState>,
    _: Operator,
    visitor: Visitor,
    Path(id): Path<String>,
    SiteForm(form): SiteForm<ItemForm>,
) -> Result<Response, Failure> {
    visitor.check(&form.form_token)?;
    let item = state
        .store
        .item(&id)
        .await?
        .ok_or_else(Failure::not_found)?;
    let refused = |m: &str| answer(StatusCode::BAD_REQUEST, item_form(&visitor, &item, Some(m)));
    let edit = match form.edit() {
        Ok(e) => e,
        Err(m) => return Ok(refused(&m)),
    };
    match crate::ingest::edit(&state, &id, &edit).await {
        Ok(Some(_)) => Ok(see_other("/admin/catalog")),
        Ok(None) => Err(Failure::not_found()),
        Err(e) => {
            let e = ApiError::from(e);
            if e.status.is_client_error() {
                Ok(refused(&e.message))
            } else {
                Err(e.into())
            }
        }
    }
}

/// `GET /admin/ingest`: the upload form.
pub async fn ingest_form(_: Operator, visitor: Visitor) -> Markup {
    console_page(
        &visitor,
        "Ingest",
        html! {
            h1 { "Ingest" }
            p { "The file is streamed to main, sealed chunk by chunk and stored on the primary parent; \
                 the item appears in the catalog once it is stored. Ingesting an existing id publishes \
                 a new version (rentals of the old one keep working until they expire)." }
            noscript { (alert("Uploading from the console needs JavaScript; without it, use the API (POST /v1/admin/items).")) }
            form.stack #ingest-form data-token=(visitor.form_token) {
                label for="file" { "File" }
                input #file type="file" name="file" required;
                label for="id" { "Id (lower-case letters, digits, -)" }
                input #id name="id" required pattern="[a-z0-9][a-z0-9-]*";
                label for="ingest-title" { "Title" }
                input #ingest-title name="title";
                label for="ingest-level" { "Hot level (empty: not hot)" }
                input #ingest-level name="level" inputmode="numeric";
                label for="ingest-regions" { "Regions (comma-separated; empty: everywhere)" }
                input #ingest-regions name="regions";
                label for="ingest-price" { "Price in cents" }
                input #ingest-price name="price_cents" inputmode="numeric" value="399";
                label for="ingest-rating" { "Age rating" }
                input #ingest-rating name="rating" inputmode="numeric";
                label for="ingest-genres" { "Genres (comma-separated)" }
                input #ingest-genres name="genres";
                label for="ingest-description" { "Description" }
                textarea #ingest-description name="description" rows="3" {}
                label for="ingest-poster" { "Poster (id of a public object)" }
                input #ingest-poster name="poster";
                label for="ingest-trailer" { "Trailer (id of a public object)" }
                input #ingest-trailer name="trailer";
                div.check {
                    input #ingest-public type="checkbox" name="public" value="true";
                    label for="ingest-public" { "A public object (a poster or trailer, served without a token)" }
                }
                label for="ingest-media" { "Media type of a public object (image/png, video/mp4, …)" }
                input #ingest-media name="media_type";
                button type="submit" { "Upload and ingest" }
                label for="ingest-progress" { "Upload progress" }
                progress #ingest-progress max="100" value="0" {}
                p #ingest-status role="status" aria-live="polite" {}
            }
        },
    )
}

/// `POST /admin/ingest?…` (the console's script): the request body is the file, the query the
/// API's ingest parameters, `X-Form-Token` the visitor's form token. Answers the item as JSON.
pub async fn ingest(
    State(state): State<AppState>,
    _: Operator,
    visitor: Visitor,
    headers: HeaderMap,
    crate::http::Query(meta): crate::http::Query<crate::ingest::IngestMeta>,
    body: Body,
) -> Result<Response, ApiError> {
    let given = headers
        .get("x-form-token")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if visitor.check(given).is_err() {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forged_form",
            "the upload did not come from this console; reload the page",
        ));
    }
    let record = crate::ingest::ingest(&state, meta, body.into_data_stream()).await?;
    state.metrics.ingested(record.plaintext_len);
    tracing::info!(item = %record.id, "ingested from the console");
    Ok((
        StatusCode::CREATED,
        axum::Json(crate::catalog::ItemView::from(&record)),
    )
        .into_response())
}

#[derive(Debug, Deserialize)]
pub struct LookupQuery {
    #[serde(default)]
    email: String,
}

/// `GET /admin/licences?email=`: an account's rentals with their licences and tokens, and the
/// buttons that revoke them.
pub async fn licences(
    State(state): State<AppState>,
    _: Operator,
    visitor: Visitor,
    Query(q): Query<LookupQuery>,
) -> Result<Response, Failure> {
    let now = (state.clock)();
    let email = q.email.trim().to_owned();
    let (view, problem) = if email.is_empty() {
        (None, None)
    } else {
        match crate::http::admin_account_view(&state, &email).await {
            Ok(v) => (Some(v), None),
            Err(e) if e.status == StatusCode::NOT_FOUND => (None, Some(e.message)),
            Err(e) => return Err(e.into()),
        }
    };
    let markup = console_page(
        &visitor,
        "Licences",
        html! {
            h1 { "Licences and tokens" }
            form.stack role="search" method="get" action="/admin/licences" {
                label for="lookup" { "Customer's email" }
                input #lookup type="email" name="email" value=(email) required;
                button type="submit" { "Look up" }
            }
            @if let Some(p) = &problem { (alert(p)) }
            @if let Some(v) = &view {
                h2 { (v.email) @if v.guest { " (guest)" } }
                p { "Account " code { (v.account_id) } ", since " (when(v.created_at)) "." }
                @if v.rentals.is_empty() { p { "No rentals." } } @else {
                    div.table tabindex="0" role="region" aria-label="Rentals" { table #rentals {
                        thead { tr { th scope="col" { "Item" } th scope="col" { "Rented" } th scope="col" { "Licence" }
                            th scope="col" { "Token" } } }
                        tbody {
                            @for r in &v.rentals {
                                tr {
                                    th scope="row" { (r.item) }
                                    td { (when(r.created_at)) " · " (price(r.amount_cents)) }
                                    td {
                                        @if let Some(l) = &r.licence {
                                            (super::account::licence_state(l, now)) br;
                                            @if l.revoked_at.is_none() {
                                                form.inline method="post" action={ "/admin/licences/" (l.licence_id) "/revoke" } {
                                                    (token_field(&visitor))
                                                    input type="hidden" name="email" value=(v.email);
                                                    button.danger type="submit" { "Revoke licence" }
                                                }
                                            }
                                        }
                                    }
                                    td {
                                        @if let Some(t) = &r.token {
                                            (t.max_uses.saturating_sub(t.uses)) " of " (t.max_uses) " uses left"
                                            @if t.revoked_at.is_some() { ", revoked" }
                                            br;
                                            @if t.revoked_at.is_none() {
                                                form.inline method="post" action={ "/admin/tokens/" (t.token_id) "/revoke" } {
                                                    (token_field(&visitor))
                                                    input type="hidden" name="email" value=(v.email);
                                                    button.danger type="submit" { "Revoke token" }
                                                }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    } }
                }
            }
        },
    );
    let status = if problem.is_some() {
        StatusCode::NOT_FOUND
    } else {
        StatusCode::OK
    };
    Ok(answer(status, markup))
}

#[derive(Debug, Deserialize)]
pub struct RevokeForm {
    /// Missing: refused as a forged form by the handler, not as a malformed body.
    #[serde(default)]
    form_token: String,
    email: String,
}

/// The licence or the token `id` revoked (`licence`: whether it is a licence), then the
/// lookup of `email` again.
async fn revoke(
    state: &AppState,
    visitor: &Visitor,
    form: &RevokeForm,
    licence: bool,
    id: &str,
) -> Result<Response, Failure> {
    visitor.check(&form.form_token)?;
    let now = (state.clock)();
    let found = if licence {
        state.store.revoke_licence(id, now).await?
    } else {
        state.store.revoke_token(id, now).await?
    };
    if !found {
        return Err(Failure::not_found());
    }
    tracing::info!(id, licence, "revoked from the console");
    let query = serde_urlencoded::to_string([("email", form.email.as_str())])
        .map_err(|e| Failure::from(ApiError::internal(e)))?;
    Ok(see_other(&format!("/admin/licences?{query}")))
}

/// `POST /admin/licences/{id}/revoke`.
pub async fn revoke_licence(
    State(state): State<AppState>,
    _: Operator,
    visitor: Visitor,
    Path(id): Path<String>,
    SiteForm(form): SiteForm<RevokeForm>,
) -> Result<Response, Failure> {
    revoke(&state, &visitor, &form, true, &id).await
}

/// `POST /admin/tokens/{id}/revoke`.
pub async fn revoke_token(
    State(state): State<AppState>,
    _: Operator,
    visitor: Visitor,
    Path(id): Path<String>,
    SiteForm(form): SiteForm<RevokeForm>,
) -> Result<Response, Failure> {
    revoke(&state, &visitor, &form, false, &id).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_item_form_names_what_is_not_a_number() {
        let form = ItemForm {
            form_token: String::new(),
            title: "T".into(),
            level: "x".into(),
            regions: "eu, us".into(),
            price_cents: "399".into(),
            rating: "".into(),
            genres: "drama,,".into(),
            description: String::new(),
            poster: String::new(),
            trailer: String::new(),
        };
        assert_eq!(
            form.edit().unwrap_err(),
            "the hot level must be a whole number"
        );
        let form = ItemForm {
            level: "".into(),
            ..form
        };
        let edit = form.edit().unwrap();
        assert_eq!(edit.level, Some(None));
        assert_eq!(edit.regions, Some(vec!["eu".to_owned(), "us".to_owned()]));
        assert_eq!(edit.genres, Some(vec!["drama".to_owned()]));
        assert_eq!(edit.price_cents, Some(399));
        assert_eq!(edit.rating, Some(None));
        assert_eq!(edit.poster, None);
    }
}
