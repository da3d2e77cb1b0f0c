//! The web site main serves: server-rendered HTML (`maud` templates compiled in), a stylesheet
//! and one small script, no build step. Everything works without JavaScript but copying a link
//! and the console's upload progress.
//!
//! - [`shop`]: home (promotions, new releases), browse by genre, search, an item's page with its
//!   poster and trailer (public objects, fetched from an edge, never from main) and rent form.
//! - [`account`]: register, log in and out, rent (account or guest; a form sent twice charges
//!   once), "My rentals" with each licence's state, a rental's download page.
//! - [`groups`]: group accounts: create, join, invite, privileges, remove, the audit.
//! - [`console`]: the operator's console under `/admin` (network, catalog, promotions, ingest
//!   with a progress bar, licence and token lookup and revocation), behind its own login.
//! - [`forms`]: sessions in cookies, form tokens (CSRF), and the headers every page carries.
//! - [`layout`]: the page shell, the error page, formatting.
//!
//! Handlers stay thin: they call the same domain functions as the JSON API (`crate::http`'s
//! `log_in`, `rent_for`, `guest_checkout`, …), so rate limits, idempotency and refusals are the
//! API's, shown as pages.

mod account;
mod chart;
mod console;
mod forms;
mod groups;
mod layout;
mod shop;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::{get, post};

use crate::AppState;

pub use layout::Failure;

/// Largest form body accepted (the upload has none: ingest checks its own limit).
const FORM_LIMIT: usize = 64 * 1024;

const CSS: &str = include_str!("site.css");
const JS: &str = include_str!("site.js");

/// The site's routes, with its guard (form tokens' seed, security headers) around them.
pub fn router(state: AppState) -> Router<AppState> {
    let pages = Router::new()
        .route("/", get(shop::home))
        .route("/browse", get(shop::browse))
        .route("/search", get(shop::search))
        .route("/items/{id}", get(shop::item))
        .route("/items/{id}/rent", post(account::rent))
        .route(
            "/register",
            get(account::register_form).post(account::register),
        )
        .route("/login", get(account::login_form).post(account::login))
        .route("/logout", post(account::logout))
        .route("/rentals", get(account::rentals))
        .route("/rentals/{id}", get(account::rental))
        .route("/groups", get(groups::groups).post(groups::create))
        .route("/groups/join", post(groups::join))
        .route("/groups/{id}", get(groups::group))
        .route("/groups/{id}/invitations", post(groups::invite))
        .route(
            "/groups/{id}/members/{account}",
            post(groups::set_privileges),
        )
        .route(
            "/groups/{id}/members/{account}/remove",
            post(groups::remove),
        )
        .route("/admin", get(console::network))
        .route(
            "/admin/login",
            get(console::login_form).post(console::login),
        )
        .route("/admin/logout", post(console::logout))
        .route("/admin/catalog", get(console::catalog))
        .route("/admin/promotions", post(console::promotions))
        .route(
            "/admin/items/{id}",
            get(console::item).post(console::edit_item),
        )
        .route("/admin/licences", get(console::licences))
        .route("/admin/licences/{id}/revoke", post(console::revoke_licence))
        .route("/admin/tokens/{id}/revoke", post(console::revoke_token))
        .route("/admin/ingest", get(console::ingest_form))
        .route("/static/site.css", get(css))
        .route("/static/site.js", get(js))
        .layer(DefaultBodyLimit::max(FORM_LIMIT));
    let upload = Router::new()
        .route("/admin/ingest", post(console::ingest))
        .layer(DefaultBodyLimit::disable());
    // The policy names the configured edges, which do not change while main runs.
    let csp = axum::http::HeaderValue::try_from(forms::content_security_policy(&state.config))
        .expect("edge URLs are validated at start: no control characters");
    pages
        .merge(upload)
        .layer(axum::middleware::from_fn_with_state(csp, forms::guard))
}

/// Static files may be kept a day by browsers.
const STATIC_CACHE: &str = "public, max-age=86400";

async fn css() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, STATIC_CACHE),
        ],
        CSS,
    )
}

async fn js() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, STATIC_CACHE),
        ],
        JS,
    )
}
