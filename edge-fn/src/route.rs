//! Which endpoint a request is for, and what the request says about itself: the item, the token
//! and session from the query, the client address Spin reports.

use std::net::{IpAddr, SocketAddr};

use protocol::ItemId;

use crate::reply::EdgeError;

/// Header in which the platform reports the client's socket address. Spin copies the client's
/// own request headers first and appends its value after them, so only the last value is the
/// platform's ([`platform_client_ip`]); edge-host replaces any the client sent.
pub const CLIENT_ADDR_HEADER: &str = "spin-client-addr";

/// A request the edge knows how to answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `GET|HEAD /v1/content/{item}`.
    Content(ContentRequest),
    /// `GET|HEAD /v1/public/{item}`: a public object, no token.
    Public(PublicRequest),
    /// `GET|HEAD /healthz`.
    Health,
    /// `POST /v1/internal/maintain` (or its older name `/v1/internal/prefill`), signed with the
    /// edge secret ([`protocol::internal`]): eviction, pins, purges, then prefill.
    Maintain,
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

/// A request for a public object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicRequest {
    pub item: ItemId,
    /// HEAD: headers only, nothing is filled.
    pub head: bool,
}

/// Routes a request by method and path-with-query. Internal routes still need their signature
/// checked ([`protocol::internal::verify_call`]) before they do anything.
///
/// Fails with 404 for unknown paths and invalid item ids, and with 405 for a known path with
/// another method.
pub fn route(method: &str, path_with_query: &str) -> Result<Route, EdgeError> {
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
    if let Some(item) = path.strip_prefix("/v1/public/") {
        let item = ItemId::parse(item).map_err(|_| EdgeError::NotFound)?;
        if !read {
            return Err(EdgeError::MethodNotAllowed("GET, HEAD"));
        }
        return Ok(Route::Public(PublicRequest {
            item,
            head: method == "HEAD",
        }));
    }
    match path {
        "/healthz" if read => Ok(Route::Health),
        "/healthz" => Err(EdgeError::MethodNotAllowed("GET, HEAD")),
        "/v1/internal/maintain" | "/v1/internal/prefill" if method == "POST" => Ok(Route::Maintain),
        "/v1/internal/maintain" | "/v1/internal/prefill" => {
            Err(EdgeError::MethodNotAllowed("POST"))
        }
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
        .map(|(_, v)| {
            percent_encoding::percent_decode_str(v)
                .decode_utf8_lossy()
                .into_owned()
        })
}

/// The client's IP address as the platform reports it: the last of the [`CLIENT_ADDR_HEADER`]
/// values of the request (earlier ones were sent by the client itself). `forged` is set when the
/// request carried more than one value, which is worth a log line.
pub fn platform_client_ip(values: &[String]) -> Option<ClientAddress> {
    let ip = client_ip(values.last().map(String::as_str))?;
    Some(ClientAddress {
        ip,
        forged: values.len() > 1,
    })
}

/// The client address the platform reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddress {
    pub ip: IpAddr,
    /// The client sent its own [`CLIENT_ADDR_HEADER`] too (ignored).
    pub forged: bool,
}

/// The client's IP address from one [`CLIENT_ADDR_HEADER`] value (`IP:PORT`, `[IPv6]:PORT` or a
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
    fn routes_public_objects_without_a_token() {
        let poster = ItemId::parse("poster-1").unwrap();
        assert_eq!(
            route("GET", "/v1/public/poster-1?x=1").unwrap(),
            Route::Public(PublicRequest {
                item: poster.clone(),
                head: false
            })
        );
        assert_eq!(
            route("HEAD", "/v1/public/poster-1").unwrap(),
            Route::Public(PublicRequest {
                item: poster,
                head: true
            })
        );
        assert!(matches!(
            route("GET", "/v1/public/..%2Fetc"),
            Err(EdgeError::NotFound)
        ));
        assert!(matches!(
            route("POST", "/v1/public/poster-1"),
            Err(EdgeError::MethodNotAllowed(_))
        ));
    }

    #[test]
    fn routes_content_with_token_and_session() {
        let r = route("GET", "/v1/content/film-1?token=a.b-c_d&sid=s%201").unwrap();
        let Route::Content(c) = r else { panic!() };
        assert_eq!(c.item.as_str(), "film-1");
        assert_eq!(c.token.as_deref(), Some("a.b-c_d"));
        assert_eq!(c.session.as_deref(), Some("s 1"));
        assert!(!c.head);
        let Route::Content(c) = route("HEAD", "/v1/content/x?token=").unwrap() else {
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
            assert!(matches!(route("GET", p), Err(EdgeError::NotFound)), "{p}");
        }
        assert!(matches!(
            route("PUT", "/v1/content/a"),
            Err(EdgeError::MethodNotAllowed(_))
        ));
        assert!(matches!(
            route("DELETE", "/healthz"),
            Err(EdgeError::MethodNotAllowed(_))
        ));
        assert_eq!(route("GET", "/healthz?x=1").unwrap(), Route::Health);
    }

    #[test]
    fn maintenance_is_a_post_under_both_names() {
        for p in ["/v1/internal/maintain", "/v1/internal/prefill"] {
            assert_eq!(route("POST", p).unwrap(), Route::Maintain);
            assert!(matches!(
                route("GET", p),
                Err(EdgeError::MethodNotAllowed(_))
            ));
        }
    }

    #[test]
    fn the_platform_address_is_the_last_value() {
        let v = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let one = platform_client_ip(&v(&["10.1.2.3:5555"])).unwrap();
        assert_eq!(
            (one.ip.to_string().as_str(), one.forged),
            ("10.1.2.3", false)
        );
        // Spin: the client's own value first, the platform's appended.
        let two = platform_client_ip(&v(&["127.0.0.5:1", "10.1.2.3:5555"])).unwrap();
        assert_eq!(
            (two.ip.to_string().as_str(), two.forged),
            ("10.1.2.3", true)
        );
        assert!(platform_client_ip(&v(&["10.1.2.3:1", "junk"])).is_none());
        assert!(platform_client_ip(&[]).is_none());
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
        // Both characters after `%` must be hex digits (`u8::from_str_radix` takes "+5").
        assert_eq!(query_param("b=%+5", "b").as_deref(), Some("%+5"));
        assert_eq!(query_param("b=%4", "b").as_deref(), Some("%4"));
        assert_eq!(query_param("a=1&c", "c").as_deref(), Some(""));
        assert_eq!(query_param("a=1", "b"), None);
    }
}
