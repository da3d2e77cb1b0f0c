//! HTTP clients: [`Api`] for main's JSON API, [`Edge`] for ranged reads of a sealed object.
//!
//! Both answer errors as [`ApiError`]: a refusal carries the server's status, code and message
//! verbatim (what the customer can act on); a transport failure or 5xx is
//! [`ApiError::is_transient`] and worth retrying.

use std::io::Read;
use std::ops::Range;
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::blocking::{Client, RequestBuilder, Response};
use reqwest::header::{AUTHORIZATION, CONTENT_RANGE, RANGE};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::store::{Rental, Session};

const USER_AGENT: &str = concat!("cdn-player/", env!("CARGO_PKG_VERSION"));

/// Why a call to main or an edge failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The server answered with an error status; `code` and `message` are its own words.
    #[error("{status} {code}: {message}")]
    Refused {
        status: u16,
        code: String,
        message: String,
    },
    /// No answer: connection refused or reset, timeout, broken body.
    #[error("cannot reach {url}: {detail}")]
    Transport { url: String, detail: String },
    /// An answer that does not follow the interface.
    #[error("unexpected answer from {url}: {detail}")]
    Protocol { url: String, detail: String },
    #[error("not logged in; run `player login --email E --password P` first")]
    NotLoggedIn,
}

impl ApiError {
    /// Whether repeating the same request may succeed: transport failures, 5xx and 429.
    pub fn is_transient(&self) -> bool {
        match self {
            ApiError::Transport { .. } => true,
            ApiError::Refused { status, .. } => *status >= 500 || *status == 429,
            _ => false,
        }
    }

    /// The server's error code, if it refused.
    pub fn code(&self) -> Option<&str> {
        match self {
            ApiError::Refused { code, .. } => Some(code),
            _ => None,
        }
    }

    fn transport(url: &str, e: &reqwest::Error) -> Self {
        // The chain carries the useful part ("connection refused", "operation timed out").
        let mut detail = e.to_string();
        let mut source = std::error::Error::source(e);
        while let Some(s) = source {
            detail.push_str(": ");
            detail.push_str(&s.to_string());
            source = s.source();
        }
        ApiError::Transport {
            url: strip_query(url),
            detail,
        }
    }
}

/// The URL without its query, so that tokens never end up in error messages or logs.
fn strip_query(url: &str) -> String {
    url.split('?').next().unwrap_or(url).to_owned()
}

#[derive(Deserialize)]
struct ErrorBody {
    error: String,
    #[serde(default)]
    message: String,
}

/// Turns a non-success answer into [`ApiError::Refused`], keeping the server's code and message.
fn refused(resp: Response) -> ApiError {
    let status = resp.status();
    let text = resp.text().unwrap_or_default();
    match serde_json::from_str::<ErrorBody>(&text) {
        Ok(b) => ApiError::Refused {
            status: status.as_u16(),
            code: b.error,
            message: b.message,
        },
        Err(_) => ApiError::Refused {
            status: status.as_u16(),
            code: status
                .canonical_reason()
                .unwrap_or("error")
                .to_lowercase()
                .replace(' ', "_"),
            message: text.chars().take(300).collect::<String>().trim().to_owned(),
        },
    }
}

/// An item of the catalog (the fields the player uses; others are ignored).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Item {
    pub id: String,
    #[serde(default)]
    pub title: String,
    pub plaintext_len: u64,
    pub object_len: u64,
    pub chunk_size: u32,
    #[serde(default)]
    pub chunk_count: u64,
    #[serde(default)]
    pub version: u32,
    #[serde(default)]
    pub key_version: u32,
    /// Hex digest root of the sealed object.
    pub root: String,
}

#[derive(Deserialize)]
struct Items {
    items: Vec<Item>,
}

#[derive(Deserialize)]
struct SignedLicence {
    licence: String,
}

/// Main's answer to a reactivation.
#[derive(Debug, Deserialize)]
pub struct Reactivated {
    /// The licence, signed with its new window.
    pub licence: String,
    pub amount_cents: u64,
    pub charge_id: String,
}

#[derive(Deserialize)]
struct Account {
    account_id: String,
}

/// Main's customer API, at one or several mains that share one store: a call that cannot reach
/// one main (no connection, no answer in time) is sent to the next.
#[derive(Debug, Clone)]
pub struct Api {
    bases: Vec<String>,
    http: Client,
    session: Option<String>,
}

impl Api {
    /// A client for main at `base` (e.g. `http://127.0.0.1:8080`), or at each of several base
    /// URLs separated by commas, tried in order.
    pub fn new(base: &str, session: Option<&Session>) -> Result<Self, ApiError> {
        let http = Client::builder()
            .user_agent(USER_AGENT)
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| ApiError::transport(base, &e))?;
        let bases: Vec<String> = base
            .split(',')
            .map(|b| b.trim().trim_end_matches('/').to_owned())
            .filter(|b| !b.is_empty())
            .collect();
        if bases.is_empty() {
            return Err(ApiError::Protocol {
                url: base.to_owned(),
                detail: "no main URL given".into(),
            });
        }
        Ok(Self {
            bases,
            http,
            session: session.map(|s| s.session.clone()),
        })
    }

    /// The base URL of the first main.
    pub fn base(&self) -> &str {
        &self.bases[0]
    }

    fn authed(&self, req: RequestBuilder) -> Result<RequestBuilder, ApiError> {
        let session = self.session.as_deref().ok_or(ApiError::NotLoggedIn)?;
        Ok(req.header(AUTHORIZATION, format!("Bearer {session}")))
    }

    /// Sends the request `build` makes for `path` at each main in turn until one answers; an
    /// answer (success or refusal) ends the search, a transport failure tries the next main.
    fn call<T: DeserializeOwned>(
        &self,
        path: &str,
        build: impl Fn(&str) -> Result<RequestBuilder, ApiError>,
    ) -> Result<T, ApiError> {
        let mut failure = None;
        for base in &self.bases {
            let url = format!("{base}{path}");
            match build(&url)?.send() {
                Ok(resp) => return answer(&url, resp),
                Err(e) => failure = Some(ApiError::transport(&url, &e)),
            }
        }
        Err(failure.expect("at least one main"))
    }

    /// `POST /v1/accounts`: returns the new account id.
    pub fn register(
        &self,
        email: &str,
        password: &str,
        claim_code: Option<&str>,
    ) -> Result<String, ApiError> {
        let mut body = json!({"email": email, "password": password});
        if let Some(code) = claim_code {
            body["claim_code"] = json!(code);
        }
        let account: Account =
            self.call("/v1/accounts", |url| Ok(self.http.post(url).json(&body)))?;
        Ok(account.account_id)
    }

    /// `POST /v1/sessions`: returns the session to save.
    pub fn login(&self, email: &str, password: &str) -> Result<Session, ApiError> {
        let body = json!({"email": email, "password": password});
        self.call("/v1/sessions", |url| Ok(self.http.post(url).json(&body)))
    }

    /// `GET /v1/catalog`.
    pub fn catalog(&self) -> Result<Vec<Item>, ApiError> {
        let items: Items = self.call("/v1/catalog", |url| Ok(self.http.get(url)))?;
        Ok(items.items)
    }

    /// `GET /v1/catalog/{item}`.
    pub fn item(&self, item: &str) -> Result<Item, ApiError> {
        self.call(&format!("/v1/catalog/{item}"), |url| Ok(self.http.get(url)))
    }

    /// `POST /v1/rentals` with an `Idempotency-Key`: a retry with the same key charges once, so
    /// one sent again to another main is safe too. With `group`, the rental is charged to that
    /// group's account (under the caller's privileges there) instead of `card`.
    pub fn rent(
        &self,
        item: &str,
        card: &str,
        group: Option<&str>,
        idempotency_key: &str,
    ) -> Result<Rental, ApiError> {
        let body = match group {
            Some(g) => json!({"item": item, "group": g}),
            None => json!({"item": item, "card": card}),
        };
        self.call("/v1/rentals", |url| {
            Ok(self
                .authed(self.http.post(url))?
                .header("Idempotency-Key", idempotency_key)
                .json(&body))
        })
    }

    /// `POST /v1/guest/rentals`: rents for `email` without an account (`claim_code`: the code of
    /// the email's first guest checkout, for a later one).
    pub fn guest_rent(
        &self,
        email: &str,
        claim_code: Option<&str>,
        item: &str,
        card: &str,
        idempotency_key: &str,
    ) -> Result<GuestRental, ApiError> {
        let mut body = json!({"email": email, "item": item, "card": card});
        if let Some(code) = claim_code {
            body["claim_code"] = json!(code);
        }
        self.call("/v1/guest/rentals", |url| {
            Ok(self
                .http
                .post(url)
                .header("Idempotency-Key", idempotency_key)
                .json(&body))
        })
    }

    /// `POST /v1/licences/{id}/bind`: returns the signed, bound licence.
    pub fn bind(
        &self,
        licence_id: &str,
        device_id: &str,
        player_id: &str,
        device_public_key: &[u8; 32],
    ) -> Result<String, ApiError> {
        let body = json!({
            "device_id": device_id,
            "player_id": player_id,
            "device_public_key": hex::encode(device_public_key),
        });
        let path = format!("/v1/licences/{licence_id}/bind");
        let signed: SignedLicence = self.call(&path, |url| {
            Ok(self.authed(self.http.post(url))?.json(&body))
        })?;
        Ok(signed.licence)
    }

    /// `POST /v1/licences/{id}/enable`: returns the signed licence with window and wrapped key.
    pub fn enable(
        &self,
        licence_id: &str,
        device_id: &str,
        player_id: &str,
    ) -> Result<String, ApiError> {
        let body = json!({"device_id": device_id, "player_id": player_id});
        let path = format!("/v1/licences/{licence_id}/enable");
        let signed: SignedLicence = self.call(&path, |url| {
            Ok(self.authed(self.http.post(url))?.json(&body))
        })?;
        Ok(signed.licence)
    }

    /// `POST /v1/licences/{id}/reactivate`: a new viewing window for a licence whose window
    /// ended, for the item's fee, charged once per `idempotency_key`; the licence signed with it.
    pub fn reactivate(
        &self,
        licence_id: &str,
        card: &str,
        idempotency_key: &str,
    ) -> Result<Reactivated, ApiError> {
        let body = json!({"card": card});
        let path = format!("/v1/licences/{licence_id}/reactivate");
        self.call(&path, |url| {
            Ok(self
                .authed(self.http.post(url))?
                .header("Idempotency-Key", idempotency_key)
                .json(&body))
        })
    }

    /// `GET /v1/licences/{id}/status`: `Ok` while the licence stands; 403 `licence_revoked` once
    /// an operator revoked it.
    pub fn licence_status(&self, licence_id: &str) -> Result<(), ApiError> {
        let path = format!("/v1/licences/{licence_id}/status");
        let _: serde_json::Value = self.call(&path, |url| self.authed(self.http.get(url)))?;
        Ok(())
    }

    /// `POST` of `body` to `path` as the logged-in customer: main's JSON answer.
    pub fn post_json(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<serde_json::Value, ApiError> {
        self.call(path, |url| Ok(self.authed(self.http.post(url))?.json(body)))
    }

    /// `GET` of `path` as the logged-in customer: main's JSON answer.
    pub fn get_json(&self, path: &str) -> Result<serde_json::Value, ApiError> {
        self.call(path, |url| self.authed(self.http.get(url)))
    }

    /// `GET /.well-known/jwks.json`.
    pub fn jwks(&self) -> Result<protocol::Jwks, ApiError> {
        self.call("/.well-known/jwks.json", |url| Ok(self.http.get(url)))
    }
}

/// The JSON of a successful answer, or the refusal it carries.
fn answer<T: DeserializeOwned>(url: &str, resp: Response) -> Result<T, ApiError> {
    if !resp.status().is_success() {
        return Err(refused(resp));
    }
    resp.json::<T>().map_err(|e| ApiError::Protocol {
        url: strip_query(url),
        detail: e.to_string(),
    })
}

/// Ranged reads of sealed objects from an edge.
#[derive(Debug, Clone)]
pub struct Edge {
    http: Client,
}

impl Edge {
    pub fn new() -> Result<Self, ApiError> {
        // The timeout of a blocking client bounds each read, not the whole body, so a slow but
        // steady 8 MiB range is not cut off.
        let http = Client::builder()
            .user_agent(USER_AGENT)
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| ApiError::transport("edge", &e))?;
        Ok(Self { http })
    }

    /// Requests object bytes `range` from `url` and returns the body, after checking that the
    /// edge answered 206 with exactly that range.
    pub fn range(&self, url: &str, range: Range<u64>) -> Result<impl Read + use<>, ApiError> {
        assert!(range.start < range.end, "empty range requested");
        let resp = self
            .http
            .get(url)
            .header(RANGE, format!("bytes={}-{}", range.start, range.end - 1))
            .send()
            .map_err(|e| ApiError::transport(url, &e))?;
        let status = resp.status();
        if status != StatusCode::PARTIAL_CONTENT {
            if status.is_client_error() || status.is_server_error() {
                return Err(refused(resp));
            }
            return Err(ApiError::Protocol {
                url: strip_query(url),
                detail: format!("expected 206 Partial Content for a Range request, got {status}"),
            });
        }
        let content_range = resp
            .headers()
            .get(CONTENT_RANGE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        match parse_content_range(content_range) {
            Some(r) if r == range => Ok(resp.take(range.end - range.start)),
            _ => Err(ApiError::Protocol {
                url: strip_query(url),
                detail: format!(
                    "asked for bytes {}-{}, got Content-Range {content_range:?}",
                    range.start,
                    range.end - 1
                ),
            }),
        }
    }
}

/// Parses `bytes A-B/LEN` into `A..B+1`.
pub fn parse_content_range(v: &str) -> Option<Range<u64>> {
    let spec = v.trim().strip_prefix("bytes ")?;
    let (span, _len) = spec.split_once('/')?;
    let (a, b) = span.split_once('-')?;
    let (a, b): (u64, u64) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
    (a <= b).then(|| a..b + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_range_parses() {
        assert_eq!(parse_content_range("bytes 0-159/1000"), Some(0..160));
        assert_eq!(parse_content_range("bytes 5-5/*"), Some(5..6));
        assert_eq!(parse_content_range("bytes */1000"), None);
        assert_eq!(parse_content_range("bytes 9-3/10"), None);
    }

    #[test]
    fn transient_errors_are_the_retryable_ones() {
        let refused = |status| ApiError::Refused {
            status,
            code: "x".into(),
            message: "y".into(),
        };
        assert!(refused(503).is_transient());
        assert!(refused(429).is_transient());
        assert!(!refused(403).is_transient());
        assert!(!refused(410).is_transient());
        assert!(
            ApiError::Transport {
                url: "u".into(),
                detail: "reset".into()
            }
            .is_transient()
        );
        assert_eq!(
            strip_query("http://e/v1/content/a?token=secret"),
            "http://e/v1/content/a"
        );
    }
}

/// A guest checkout's answer: the rental, a session for its licence, and (from the email's
/// first checkout) the claim code.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct GuestRental {
    #[serde(flatten)]
    pub rental: crate::store::Rental,
    pub session: String,
    pub account_id: String,
    #[serde(default)]
    pub claim_code: Option<String>,
}
