//! Who is visiting and whether a form came from this site: the customer's session cookie, the
//! per-browser seed every form token is bound to, the checks every POST passes, and the headers
//! every page carries.
//!
//! - **Sessions** are the API's sessions ([`crate::accounts::open_session`]) carried in the
//!   `sid` cookie: `HttpOnly`, `SameSite=Lax`, `Path=/`, `Secure` when the request came over
//!   https (`X-Forwarded-Proto: https`, as API Gateway, CloudFront and load balancers send).
//!   Logging out expires the session in the store, not only the cookie.
//! - **Form tokens** (CSRF): every browser gets a random seed in the `seed` cookie (`HttpOnly`,
//!   `SameSite=Lax`) on its first page; each form carries `keyed BLAKE3(site secret, seed,
//!   session)` ([`crate::keys::Keys::site_tag`]) and every POST must send it back. A page of
//!   another site can neither read the seed nor compute the tag, and a cookie planted by a
//!   neighbouring host does not help without the secret. On top, a POST the browser marks
//!   `Sec-Fetch-Site: cross-site` is refused before any handler runs.
//! - **Headers**: a Content-Security-Policy that allows scripts, styles and forms from main
//!   only and images and media from main and the edges, `nosniff`, no framing, no referrer
//!   (download URLs carry tokens), and `Cache-Control: no-store` on every page (pages show a
//!   customer's own rentals).

use std::net::IpAddr;

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};

use crate::AppState;
use crate::records::Account;

/// The cookie carrying a customer's session id.
pub const SESSION_COOKIE: &str = "sid";
/// The cookie carrying the browser's form-token seed.
pub const SEED_COOKIE: &str = "seed";
/// The name of the form field (and, for scripts, the `X-Form-Token` header) carrying the token.
pub const TOKEN_FIELD: &str = "form_token";

/// What the guard learnt about a request, for the handlers.
#[derive(Debug, Clone)]
struct Seen {
    seed: String,
    secure: bool,
}

/// The site's middleware: refuses cross-site POSTs, gives a new browser its seed, and adds the
/// site's headers to every answer; `csp` is [`content_security_policy`], made once.
pub async fn guard(State(csp): State<HeaderValue>, mut req: Request, next: Next) -> Response {
    let unsafe_method = !matches!(*req.method(), Method::GET | Method::HEAD);
    let cross_site = req
        .headers()
        .get("sec-fetch-site")
        .is_some_and(|v| v.as_bytes() == b"cross-site");
    if unsafe_method && cross_site {
        tracing::info!("a cross-site form post refused");
        return super::layout::Failure::forged().into_response();
    }
    let secure = req
        .headers()
        .get("x-forwarded-proto")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"https"));
    let jar = CookieJar::from_headers(req.headers());
    let (seed, fresh) = match jar.get(SEED_COOKIE).map(Cookie::value) {
        Some(seed) if seed.len() == 32 && seed.bytes().all(|b| b.is_ascii_hexdigit()) => {
            (seed.to_owned(), false)
        }
        _ => (hex::encode(protocol::random_bytes::<16>()), true),
    };
    req.extensions_mut().insert(Seen {
        seed: seed.clone(),
        secure,
    });
    let mut response = next.run(req).await;
    if fresh {
        let cookie = cookie(SEED_COOKIE, seed, secure, None);
        if let Ok(v) = HeaderValue::try_from(cookie.to_string()) {
            response.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, csp);
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}

/// Scripts, styles, forms and fetches from main only; images and media (posters, trailers)
/// from main and the configured edges.
pub fn content_security_policy(config: &crate::Config) -> String {
    let mut edges: Vec<String> = config.edges.iter().filter_map(|e| origin(&e.url)).collect();
    edges.sort();
    edges.dedup();
    let edges = edges.join(" ");
    format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
         img-src 'self' {edges}; media-src {edges}; form-action 'self'; frame-ancestors 'none'; \
         base-uri 'none'"
    )
}

/// `scheme://host[:port]` of a URL.
fn origin(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let host = rest.split('/').next().filter(|h| !h.is_empty())?;
    Some(format!("{scheme}://{host}"))
}

/// A cookie of the site: `HttpOnly`, `SameSite=Lax`, `Path=/`, `Secure` over https; a session
/// for `max_age_secs` when given.
pub fn cookie(
    name: &'static str,
    value: String,
    secure: bool,
    max_age_secs: Option<u64>,
) -> Cookie<'static> {
    let mut c = Cookie::build((name, value))
        .http_only(true)
        .same_site(SameSite::Lax)
        .path("/")
        .secure(secure);
    if let Some(secs) = max_age_secs {
        c = c.max_age(time::Duration::seconds(
            i64::try_from(secs).unwrap_or(i64::MAX),
        ));
    }
    c.build()
}

/// Who is visiting: the logged-in account (if any), the token this visitor's forms carry, and
/// the address asked from.
#[derive(Debug, Clone)]
pub struct Visitor {
    pub account: Option<Account>,
    pub session: Option<String>,
    pub form_token: String,
    pub secure: bool,
    pub ip: IpAddr,
    seed: String,
}

impl Visitor {
    /// Whether `given` is the token this visitor's forms carry; a missing or wrong one is the
    /// 403 a forged or stale form gets.
    pub fn check(&self, given: &str) -> Result<(), super::layout::Failure> {
        if crate::edges::same_secret(given, &self.form_token) {
            Ok(())
        } else {
            tracing::info!("a form post without this visitor's form token refused");
            Err(super::layout::Failure::forged())
        }
    }

    /// This visitor once logged in to `session` as `account` (a page rendered in the same
    /// answer that logs them in carries the session's form token).
    pub fn signed_in(&self, state: &AppState, session: &str, account: Account) -> Self {
        Self {
            account: Some(account),
            session: Some(session.to_owned()),
            form_token: form_token(state, &self.seed, Some(session)),
            ..self.clone()
        }
    }
}

/// The token the forms of a browser with `seed` carry, in `session` if logged in.
fn form_token(state: &AppState, seed: &str, session: Option<&str>) -> String {
    state.keys.site_tag(&["form", seed, session.unwrap_or("")])
}

impl FromRequestParts<AppState> for Visitor {
    type Rejection = super::layout::Failure;
    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, super::layout::Failure> {
        let seen = parts.extensions.get::<Seen>().cloned().unwrap_or(Seen {
            seed: String::new(),
            secure: false,
        });
        let crate::http::ClientIp(ip) = crate::http::ClientIp::from_request_parts(parts, state)
            .await
            .map_err(super::layout::Failure::from)?;
        let jar = CookieJar::from_headers(&parts.headers);
        let now = (state.clock)();
        let mut account = None;
        let mut session = None;
        if let Some(sid) = jar.get(SESSION_COOKIE).map(Cookie::value)
            && let Some(id) =
                crate::accounts::account_of_session(state.store.as_ref(), sid, now).await?
        {
            account = state.store.account(&id).await?;
            session = account.as_ref().map(|_| sid.to_owned());
        }
        Ok(Self {
            form_token: form_token(state, &seen.seed, session.as_deref()),
            account,
            session,
            secure: seen.secure,
            ip,
            seed: seen.seed,
        })
    }
}

/// A logged-in visitor and their account; anyone else is sent to the login page.
#[derive(Debug)]
pub struct SignedIn {
    pub visitor: Visitor,
    pub account: Account,
}

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = Response;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let visitor = Visitor::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        match visitor.account.clone() {
            Some(account) => Ok(Self { visitor, account }),
            None => Err(see_other("/login")),
        }
    }
}

/// A form that carries nothing but its token (log out, revoke, remove).
#[derive(Debug, serde::Deserialize)]
pub struct TokenOnly {
    /// Missing: refused as a forged form by the handler, not as a malformed body.
    #[serde(default)]
    pub form_token: String,
}

/// A form's fields (`application/x-www-form-urlencoded`); a body that cannot be read (a field
/// missing or malformed, too large, another content type) is the site's error page with
/// axum's reason and status, not a bare text answer.
#[derive(Debug)]
pub struct SiteForm<T>(pub T);

impl<T, S> axum::extract::FromRequest<S> for SiteForm<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = super::layout::Failure;
    async fn from_request(req: Request, state: &S) -> Result<Self, super::layout::Failure> {
        match axum::Form::<T>::from_request(req, state).await {
            Ok(axum::Form(fields)) => Ok(Self(fields)),
            Err(rejection) => Err(super::layout::Failure::new(
                rejection.status(),
                format!("This form could not be read: {}", rejection.body_text()),
            )),
        }
    }
}

/// A 303 to `to` (after a form's POST).
pub fn see_other(to: &str) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, to.to_owned())]).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_of_edge_urls() {
        assert_eq!(
            origin("http://127.0.0.1:9000").as_deref(),
            Some("http://127.0.0.1:9000")
        );
        assert_eq!(
            origin("https://edge.example.net/base").as_deref(),
            Some("https://edge.example.net")
        );
        assert_eq!(origin("edge.example.net"), None);
    }

    #[test]
    fn site_cookies_are_http_only_and_same_site() {
        let c = cookie(SESSION_COOKIE, "abc".into(), true, Some(60)).to_string();
        assert!(c.contains("HttpOnly"), "{c}");
        assert!(c.contains("SameSite=Lax"), "{c}");
        assert!(c.contains("Secure"), "{c}");
        assert!(c.contains("Max-Age=60"), "{c}");
        let plain = cookie(SEED_COOKIE, "abc".into(), false, None).to_string();
        assert!(!plain.contains("Secure"), "{plain}");
    }
}
