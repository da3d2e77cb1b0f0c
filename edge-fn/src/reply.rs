//! What the edge answers: the one error type of the HTTP layer ([`EdgeError`], turned into a JSON
//! [`ErrorReply`] that tells the client what it can act on, never an internal detail) and the
//! headers of a content response ([`ContentHead`]).

use std::ops::Range;

use protocol::{Denial, ObjectInfo, TokenError};
use serde::Serialize;

use crate::config::ConfigError;
use crate::range::RangeChoice;

/// Why a request is not answered with content.
#[derive(Debug, thiserror::Error)]
pub enum EdgeError {
    #[error("no such path or item")]
    NotFound,
    #[error("method not allowed (allowed: {0})")]
    MethodNotAllowed(&'static str),
    #[error("no download token in the URL")]
    MissingToken,
    #[error(transparent)]
    BadToken(#[from] TokenError),
    #[error("main denied the download: {denial:?}")]
    Denied { status: u16, denial: Denial },
    #[error("range not satisfiable for {len} bytes")]
    Unsatisfiable { len: u64 },
    #[error("the host did not report the client address")]
    NoClientAddress,
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("main is unreachable: {0}")]
    MainUnreachable(String),
    #[error("main answered unexpectedly: {0}")]
    MainFailed(String),
    #[error("no parent could deliver the object: {0}")]
    SourcesFailed(String),
    #[error("key-value store: {0}")]
    Cache(String),
    #[error("internal call refused: {0}")]
    InternalCall(#[from] protocol::internal::InternalCallError),
}

/// A complete non-content answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorReply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    message: &'a str,
}

impl EdgeError {
    /// Whether the fault is on our side (main, parents, store, configuration, or main refusing
    /// this edge's credential): worth a log line.
    pub fn is_server_fault(&self) -> bool {
        let refused_edge = matches!(self, EdgeError::Denied { denial, .. }
            if denial.reason == protocol::DenialReason::EdgeUnauthorized);
        refused_edge || self.status() >= 500
    }

    /// Whether the cause belongs in the log: a server fault, or a detail the client is not told
    /// (why a token failed to verify, why an internal call was refused).
    pub fn is_logged(&self) -> bool {
        self.is_server_fault()
            || matches!(
                self,
                EdgeError::BadToken(TokenError::Invalid(_)) | EdgeError::InternalCall(_)
            )
    }

    /// The HTTP status of this error.
    pub fn status(&self) -> u16 {
        match self {
            EdgeError::NotFound => 404,
            EdgeError::MethodNotAllowed(_) => 405,
            EdgeError::MissingToken | EdgeError::BadToken(_) | EdgeError::InternalCall(_) => 401,
            EdgeError::Denied { status, .. } => *status,
            EdgeError::Unsatisfiable { .. } => 416,
            EdgeError::NoClientAddress | EdgeError::Config(_) | EdgeError::Cache(_) => 500,
            EdgeError::MainFailed(_) | EdgeError::SourcesFailed(_) => 502,
            EdgeError::MainUnreachable(_) => 503,
        }
    }

    /// The JSON reply for the client.
    pub fn reply(&self) -> ErrorReply {
        let (code, message): (&str, String) = match self {
            EdgeError::NotFound => ("not_found", "no such path or item".into()),
            EdgeError::MethodNotAllowed(allow) => ("method_not_allowed", format!("use {allow}")),
            EdgeError::MissingToken => (
                "missing_token",
                "the download URL has no token; use the link from your rental".into(),
            ),
            // A stable sentence per case, as main words them; the library's detail (which
            // check failed inside the JWT code) is logged, never sent.
            EdgeError::BadToken(e) => (
                "bad_token",
                match e {
                    TokenError::Expired => "this download link has expired; ask for a new one",
                    TokenError::WrongItem => "this download link is for another item",
                    TokenError::Invalid(_) => "this download link is not valid",
                }
                .into(),
            ),
            EdgeError::Denied { denial, .. } => (denial.reason.code(), denial.message.clone()),
            EdgeError::Unsatisfiable { len } => (
                "range_not_satisfiable",
                format!("the object has {len} bytes"),
            ),
            EdgeError::NoClientAddress | EdgeError::Config(_) | EdgeError::Cache(_) => (
                "edge_unavailable",
                "this edge cannot serve right now; try again later".into(),
            ),
            EdgeError::MainUnreachable(_) => (
                "main_unreachable",
                "the download service is unreachable; try again shortly".into(),
            ),
            EdgeError::MainFailed(_) => (
                "main_error",
                "the download service failed; try again shortly".into(),
            ),
            EdgeError::SourcesFailed(_) => (
                "source_unavailable",
                "the file cannot be fetched right now; try again shortly".into(),
            ),
            EdgeError::InternalCall(_) => (
                "unauthorized",
                "internal calls need a valid x-edge-signature".into(),
            ),
        };
        let mut reply = json_reply(
            self.status(),
            &ErrorBody {
                error: code,
                message: &message,
            },
        );
        match self {
            EdgeError::MethodNotAllowed(allow) => {
                reply.headers.push(("allow".into(), (*allow).into()));
            }
            EdgeError::Unsatisfiable { len } => {
                reply
                    .headers
                    .push(("content-range".into(), format!("bytes */{len}")));
                reply.headers.push(("accept-ranges".into(), "bytes".into()));
            }
            _ => {}
        }
        reply
    }
}

/// A JSON answer with `status`.
pub fn json_reply(status: u16, value: &impl Serialize) -> ErrorReply {
    ErrorReply {
        status,
        headers: vec![("content-type".into(), "application/json".into())],
        body: serde_json::to_vec(value).expect("plain structs serialize"),
    }
}

/// Status and headers of a content response; the body is `body` of the object, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentHead {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    /// The object bytes the body carries (HEAD: the bytes a GET would carry).
    pub body: Range<u64>,
}

/// The strong ETag of an object: its quoted digest root, which names this exact version.
pub fn etag(info: &ObjectInfo) -> String {
    format!("\"{}\"", info.root)
}

/// `Cache-Control` of a tokenized (paid) response: a shared cache must not store it, or it would
/// serve it again past the token's use count.
pub const PRIVATE: &str = "private";

/// Whether an `If-None-Match` value matches `etag` (RFC 9110 §13.1.2: `*`, or any listed tag by
/// weak comparison), so that the answer is 304 Not Modified.
pub fn none_match(if_none_match: Option<&str>, etag: &str) -> bool {
    let Some(value) = if_none_match else {
        return false;
    };
    let opaque = |tag: &str| tag.trim().trim_start_matches("W/").to_owned();
    let ours = opaque(etag);
    value.trim() == "*" || value.split(',').any(|tag| opaque(tag) == ours)
}

/// The answer that hands a content response over to edge-host ([`protocol::edge_cache`]): the
/// content head without `content-length` (the body is the plan, not the content; the host sets
/// the length) and with the handoff header, and the plan of the bytes `head.body` of `info` as
/// its body. The other headers are the client's, as the component would have sent them. `pass`
/// lets the host answer the session's later requests alone.
pub fn handoff_reply(
    info: &ObjectInfo,
    head: ContentHead,
    pass: Option<protocol::edge_cache::SessionPass>,
) -> ErrorReply {
    use protocol::edge_cache::{HANDOFF_HEADER, HandoffPlan};
    let plan = HandoffPlan::of(info, head.body.clone(), pass);
    let mut headers: Vec<_> = head
        .headers
        .into_iter()
        .filter(|(k, _)| k != "content-length")
        .collect();
    headers.push((HANDOFF_HEADER.to_owned(), "1".to_owned()));
    ErrorReply {
        status: head.status,
        headers,
        body: serde_json::to_vec(&plan).expect("plain struct serializes"),
    }
}

/// The head of a 304 answer: the validators and caching headers a 200 would carry, no body.
pub fn not_modified_head(info: &ObjectInfo) -> ContentHead {
    ContentHead {
        status: 304,
        headers: vec![
            ("etag".to_owned(), etag(info)),
            ("cache-control".to_owned(), PRIVATE.to_owned()),
            ("accept-ranges".to_owned(), "bytes".to_owned()),
        ],
        body: 0..0,
    }
}

/// The head of a 200/206 answer for `choice` (not [`RangeChoice::Unsatisfiable`]: that is
/// [`EdgeError::Unsatisfiable`]); `hit` says whether every byte came from the cache.
pub fn content_head(
    info: &ObjectInfo,
    choice: &RangeChoice,
    hit: bool,
) -> Result<ContentHead, EdgeError> {
    range_head(info.object_len, choice, etag(info), PRIVATE.to_owned(), hit)
}

/// The head of a 200/206 answer with bytes `choice` of a representation `len` bytes long, its
/// `etag` and `cache_control`; `hit` says whether every byte came from the cache.
pub fn range_head(
    len: u64,
    choice: &RangeChoice,
    etag: String,
    cache_control: String,
    hit: bool,
) -> Result<ContentHead, EdgeError> {
    let body = choice.bytes(len).ok_or(EdgeError::Unsatisfiable { len })?;
    let mut headers = vec![
        ("accept-ranges".to_owned(), "bytes".to_owned()),
        ("etag".to_owned(), etag),
        ("cache-control".to_owned(), cache_control),
        (
            "content-type".to_owned(),
            "application/octet-stream".to_owned(),
        ),
        (
            "content-length".to_owned(),
            (body.end - body.start).to_string(),
        ),
        (
            "x-cache".to_owned(),
            if hit { "HIT" } else { "MISS" }.to_owned(),
        ),
    ];
    let status = match choice {
        RangeChoice::Partial(r) => {
            headers.push((
                "content-range".to_owned(),
                format!("bytes {}-{}/{len}", r.start, r.end - 1),
            ));
            206
        }
        _ => 200,
    };
    Ok(ContentHead {
        status,
        headers,
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::{DenialReason, ItemId};

    fn info() -> ObjectInfo {
        ObjectInfo {
            item: ItemId::parse("film").unwrap(),
            version: 2,
            object_len: 1000,
            chunk_size: 4096,
            plaintext_len: 700,
            root: "ab".repeat(32),
        }
    }

    fn header<'a>(h: &'a ContentHead, name: &str) -> Option<&'a str> {
        h.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn partial_and_whole_heads() {
        let h = content_head(&info(), &RangeChoice::Partial(10..20), false).unwrap();
        assert_eq!(h.status, 206);
        assert_eq!(header(&h, "content-range"), Some("bytes 10-19/1000"));
        assert_eq!(header(&h, "content-length"), Some("10"));
        assert_eq!(header(&h, "x-cache"), Some("MISS"));
        assert_eq!(
            header(&h, "etag"),
            Some(format!("\"{}\"", "ab".repeat(32)).as_str())
        );
        let h = content_head(&info(), &RangeChoice::Whole, true).unwrap();
        assert_eq!((h.status, h.body.clone()), (200, 0..1000));
        assert_eq!(header(&h, "x-cache"), Some("HIT"));
        assert_eq!(header(&h, "content-range"), None);
        let e = content_head(&info(), &RangeChoice::Unsatisfiable, true).unwrap_err();
        let r = e.reply();
        assert_eq!(r.status, 416);
        assert!(
            r.headers
                .contains(&("content-range".into(), "bytes */1000".into()))
        );
    }

    #[test]
    fn a_handoff_keeps_the_head_but_its_length_and_plans_the_range() {
        use protocol::edge_cache::{HANDOFF_HEADER, HandoffPlan};
        let head = content_head(&info(), &RangeChoice::Partial(10..20), true).unwrap();
        let r = handoff_reply(&info(), head.clone(), None);
        assert_eq!(r.status, 206);
        let mut expected: Vec<_> = head
            .headers
            .into_iter()
            .filter(|(k, _)| k != "content-length")
            .collect();
        expected.push((HANDOFF_HEADER.to_owned(), "1".to_owned()));
        assert_eq!(r.headers, expected);
        let plan: HandoffPlan = serde_json::from_slice(&r.body).unwrap();
        assert_eq!((plan.start, plan.end, plan.version), (10, 20, 2));
        assert_eq!(
            (plan.item.as_str(), plan.root.as_str()),
            ("film", info().root.as_str())
        );
    }

    #[test]
    fn if_none_match_and_private_caching() {
        let tag = etag(&info());
        assert!(none_match(Some(&tag), &tag));
        assert!(none_match(Some("*"), &tag));
        assert!(none_match(Some(&format!("\"x\", W/{tag}")), &tag));
        assert!(!none_match(Some("\"x\""), &tag));
        assert!(!none_match(None, &tag));
        let h = not_modified_head(&info());
        assert_eq!((h.status, h.body.clone()), (304, 0..0));
        assert_eq!(header(&h, "etag"), Some(tag.as_str()));
        let h = content_head(&info(), &RangeChoice::Whole, true).unwrap();
        assert_eq!(header(&h, "cache-control"), Some("private"));
    }

    #[test]
    fn token_details_stay_in_the_log() {
        let e = EdgeError::BadToken(TokenError::Invalid("Signature tag didn't verify".into()));
        let body = String::from_utf8(e.reply().body).unwrap();
        assert!(!body.contains("Signature"), "{body}");
        assert!(body.contains("bad_token") && e.is_logged());
        let e = EdgeError::BadToken(TokenError::Expired);
        assert!(
            String::from_utf8(e.reply().body)
                .unwrap()
                .contains("expired")
        );
    }

    #[test]
    fn denials_pass_through_and_internals_stay_inside() {
        let d = Denial::new(DenialReason::UsesExhausted, "no uses left");
        let r = EdgeError::Denied {
            status: 410,
            denial: d,
        }
        .reply();
        assert_eq!(r.status, 410);
        assert_eq!(
            r.body,
            br#"{"error":"uses_exhausted","message":"no uses left"}"#
        );
        let r = EdgeError::SourcesFailed("http://10.0.0.1/secret?X-Amz-Signature=1".into()).reply();
        assert_eq!(r.status, 502);
        assert!(!String::from_utf8(r.body).unwrap().contains("Signature"));
        assert_eq!(EdgeError::MainUnreachable("x".into()).status(), 503);
    }
}
