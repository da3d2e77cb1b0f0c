//! The edge's parsers of what a client sends: the `Range` and `If-Range` headers, and the
//! request line and query (plus the platform's client address header).

use edge_fn::RangeChoice;
use edge_fn::route::{self, Route};

use crate::{mode, take_u64};

/// The ETag the range body's object has.
const ETAG: &str = "\"film-v1\"";

/// Input: a mode byte, a little-endian `u64` object length, then the `Range` header value and,
/// after the first newline, the `If-Range` value. Mode bit 0 takes the length modulo 2^20.
pub fn edge_range(data: &[u8]) {
    let (m, rest) = mode(data);
    let (len, rest) = take_u64(rest);
    // The edge serves objects of at least a header, chunk and trailer; `choose` needs `len > 0`.
    let len = if m & 1 != 0 { len % (1 << 20) } else { len }.max(1);
    let text = String::from_utf8_lossy(rest);
    let (range, if_range) = match text.split_once('\n') {
        Some((r, i)) => (r, Some(i)),
        None => (&*text, None),
    };
    for if_range in [if_range, None, Some(ETAG)] {
        let choice = edge_fn::range::choose(Some(range), if_range, ETAG, len);
        match &choice {
            RangeChoice::Whole => assert_eq!(choice.bytes(len), Some(0..len)),
            RangeChoice::Partial(r) => {
                assert!(r.start < r.end, "never empty: {range:?} → {r:?}");
                assert!(
                    r.end <= len,
                    "inside the object: {range:?} → {r:?} of {len}"
                );
            }
            RangeChoice::Unsatisfiable => assert_eq!(choice.bytes(len), None),
        }
    }
    assert_eq!(
        edge_fn::range::choose(None, if_range, ETAG, len),
        RangeChoice::Whole
    );
}

/// Input: a mode byte, then the method, a space and the path with query; lines after the first
/// are `spin-client-addr` values. Mode bit 0 fixes the method to `GET` (the whole input is the
/// path).
pub fn edge_route(data: &[u8]) {
    let (m, rest) = mode(data);
    let text = String::from_utf8_lossy(rest);
    let mut lines = text.split('\n');
    let first = lines.next().unwrap_or_default();
    let (method, target) = if m & 1 != 0 {
        ("GET", first)
    } else {
        first.split_once(' ').unwrap_or(("GET", first))
    };
    if let Ok(Route::Content(c)) = route::route(method, target) {
        assert!(matches!(method, "GET" | "HEAD"));
        assert!(target.starts_with("/v1/content/"));
        assert_eq!(c.head, method == "HEAD");
        assert!(c.token.as_ref().is_none_or(|t| !t.is_empty()));
        assert!(c.session.as_ref().is_none_or(|s| !s.is_empty()));
    }
    let query = target.split_once('?').map_or("", |(_, q)| q);
    for name in ["token", "sid", ""] {
        let _ = route::query_param(query, name);
    }
    let addresses: Vec<String> = lines.map(str::to_owned).collect();
    if let Some(client) = route::platform_client_ip(&addresses) {
        assert_eq!(client.forged, addresses.len() > 1);
        assert_eq!(
            Some(client.ip),
            route::client_ip(addresses.last().map(String::as_str))
        );
    }
}
