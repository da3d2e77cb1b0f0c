//! Which endpoint a request is for, and what the request says about itself: the item, the token
//! and session from the query, the client address Spin reports.

use std::net::{IpAddr, SocketAddr};

use protocol::ItemId;

use crate::reply::EdgeError;

/// Header that marks edge-host's own prefill calls (stripped from network requests).
pub const INTERNAL_HEADER: &str = "x-edge-internal";
/// Header in which Spin and edge-host report the client's socket address.
pub const CLIENT_ADDR_HEADER: &str = "spin-client-addr";

/// A request the edge knows how to answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `GET|HEAD /v1/content/{item}`.
    Content(ContentRequest),
    /// `GET|HEAD /healthz`.
    Health,
    /// `POST /v1/internal/prefill` from the host itself.
    Prefill,
}

/// A download request as parsed from method, path and query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentRequest {
    pub item: ItemId,
    pub token: Option<String>,
    pub session: Option<String>,
    /// HEAD: headers only, nothing is filled.
    pub head: bool,
}

/// Routes a request by method, path-with-query and the value of [`INTERNAL_HEADER`].
///
/// Fails with 404 for unknown paths, invalid item ids and prefill calls without the internal
/// header, and with 405 for a known path with another method.
pub fn route(
    method: &str,
    path_with_query: &str,
    internal: Option<&str>,
) -> Result<Route, EdgeError> {
    let (path, query) = path_with_query
        .split_once('?')
        .unwrap_or((path_with_query, ""));
    let read = matches!(method, "GET" | "HEAD");
    if let Some(item) = path.strip_prefix("/v1/content/") {
        let item = ItemId::parse(item).map_err(|_| EdgeError::NotFound)?;
        if !read {
            return Err(EdgeError::MethodNotAllowed("GET, HEAD"));
        }
        return Ok(Route::Content(ContentRequest {
            item,
            token: query_param(query, "token").filter(|t| !t.is_empty()),
            session: query_param(query, "sid").filter(|s| !s.is_empty()),
            head: method == "HEAD",
        }));
    }
    match path {
        "/healthz" if read => Ok(Route::Health),
        "/healthz" => Err(EdgeError::MethodNotAllowed("GET, HEAD")),
        "/v1/internal/prefill" if internal != Some("prefill") => Err(EdgeError::NotFound),
        "/v1/internal/prefill" if method == "POST" => Ok(Route::Prefill),
        "/v1/internal/prefill" => Err(EdgeError::MethodNotAllowed("POST")),
        _ => Err(EdgeError::NotFound),
    }
}

/// The first value of query parameter `name`, percent-decoded (`+` stays `+`: tokens are
/// base64url and never contain it, but a form-encoded space would be wrong to guess).
pub fn query_param(query: &str, name: &str) -> Option<String> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('=').or(Some((pair, ""))))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| percent_decode(v))
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The client's IP address from the [`CLIENT_ADDR_HEADER`] value (`IP:PORT`, `[IPv6]:PORT` or a
/// bare IP).
pub fn client_ip(header: Option<&str>) -> Option<IpAddr> {
    let h = header?.trim();
    h.parse::<SocketAddr>()
        .map(|a| a.ip())
        .or_else(|_| h.parse::<IpAddr>())
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_content_with_token_and_session() {
        let r = route("GET", "/v1/content/film-1?token=a.b-c_d&sid=s%201", None).unwrap();
        let Route::Content(c) = r else { panic!() };
        assert_eq!(c.item.as_str(), "film-1");
        assert_eq!(c.token.as_deref(), Some("a.b-c_d"));
        assert_eq!(c.session.as_deref(), Some("s 1"));
        assert!(!c.head);
        let Route::Content(c) = route("HEAD", "/v1/content/x?token=", None).unwrap() else {
            panic!()
        };
        assert!(c.head && c.token.is_none());
    }

    #[test]
    fn refuses_bad_items_paths_and_methods() {
        for p in [
            "/v1/content/../etc",
            "/v1/content/A",
            "/v1/content/",
            "/nope",
            "/v1/content/a/b",
        ] {
            assert!(
                matches!(route("GET", p, None), Err(EdgeError::NotFound)),
                "{p}"
            );
        }
        assert!(matches!(
            route("PUT", "/v1/content/a", None),
            Err(EdgeError::MethodNotAllowed(_))
        ));
        assert!(matches!(
            route("DELETE", "/healthz", None),
            Err(EdgeError::MethodNotAllowed(_))
        ));
        assert_eq!(route("GET", "/healthz?x=1", None).unwrap(), Route::Health);
    }

    #[test]
    fn prefill_needs_the_internal_header() {
        let p = "/v1/internal/prefill";
        assert!(matches!(route("POST", p, None), Err(EdgeError::NotFound)));
        assert!(matches!(
            route("POST", p, Some("other")),
            Err(EdgeError::NotFound)
        ));
        assert_eq!(route("POST", p, Some("prefill")).unwrap(), Route::Prefill);
        assert!(matches!(
            route("GET", p, Some("prefill")),
            Err(EdgeError::MethodNotAllowed(_))
        ));
    }

    #[test]
    fn client_addresses() {
        assert_eq!(
            client_ip(Some("10.1.2.3:5555")).unwrap().to_string(),
            "10.1.2.3"
        );
        assert_eq!(client_ip(Some("[::1]:80")).unwrap().to_string(), "::1");
        assert_eq!(
            client_ip(Some("2001:db8::1")).unwrap().to_string(),
            "2001:db8::1"
        );
        assert!(client_ip(Some("nonsense")).is_none());
        assert!(client_ip(None).is_none());
    }

    #[test]
    fn query_decoding() {
        assert_eq!(query_param("a=1&b=%zz&c", "b").as_deref(), Some("%zz"));
        assert_eq!(query_param("a=1&c", "c").as_deref(), Some(""));
        assert_eq!(query_param("a=1", "b"), None);
    }
}
