//! Spin's HTTP types and key-value store behind the crate's plain interfaces.

use std::ops::Range;
use std::pin::Pin;

use futures::{SinkExt, Stream, StreamExt};
use spin_sdk::http::{
    Fields, IncomingRequest, IncomingResponse, OutgoingResponse, Request, ResponseOutparam,
};
use spin_sdk::key_value::Store;
use spin_sdk::wit::wasi::keyvalue::atomics;
use spin_sdk::wit::wasi::keyvalue::store::{self as wasi_store, Bucket};

use crate::cache::{Cache, CacheError};
use crate::config::Timeouts;
use crate::origin::{ByteStream, FetchError, Origin};
use crate::reply::{ContentHead, EdgeError, ErrorReply};

/// The first value of request header `name`, if it is UTF-8. Only for headers the client
/// controls (`range`, `if-range`, …): a platform header needs [`header_values`].
pub fn header(request: &IncomingRequest, name: &str) -> Option<String> {
    header_values(request, name).into_iter().next()
}

/// Every UTF-8 value of request header `name`, in order.
pub fn header_values(request: &IncomingRequest, name: &str) -> Vec<String> {
    let values = request.headers().get(name);
    values
        .into_iter()
        .filter_map(|v| String::from_utf8(v).ok())
        .collect()
}

/// Response headers, with a `content-length`; `None` if the host refuses one of them.
pub fn fields(headers: &[(String, String)], content_length: Option<u64>) -> Option<Fields> {
    let mut list: Vec<(String, Vec<u8>)> = headers
        .iter()
        .map(|(k, v)| (k.clone(), v.clone().into_bytes()))
        .collect();
    if let Some(len) =
        content_length.filter(|_| !headers.iter().any(|(k, _)| k == "content-length"))
    {
        list.push(("content-length".into(), len.to_string().into_bytes()));
    }
    Fields::from_list(&list).ok()
}

/// Sends a complete small answer.
pub async fn send_reply(out: ResponseOutparam, reply: ErrorReply) {
    let Some(headers) = fields(&reply.headers, Some(reply.body.len() as u64)) else {
        crate::log(format_args!(
            "host refused reply headers {:?}",
            reply.headers
        ));
        return;
    };
    let response = OutgoingResponse::new(headers);
    if response.set_status_code(reply.status).is_err() {
        crate::log(format_args!("host refused status {}", reply.status));
        return;
    }
    if let Err(e) = out.set_with_body(response, reply.body).await {
        crate::log(format_args!("sending a reply: {e:?}"));
    }
}

/// Sends the client-facing form of `error`, logging the cause when it is ours.
pub async fn send_error(out: ResponseOutparam, error: &EdgeError) {
    if error.is_logged() {
        crate::log(format_args!("{error}"));
    }
    send_reply(out, error.reply()).await;
}

/// Sends the head of a HEAD answer. The body is never taken: the host then sends none, where a
/// taken body left short of the `Content-Length` would make it abort the response.
pub fn send_head_only(out: ResponseOutparam, head: &ContentHead) {
    let Some(headers) = fields(&head.headers, None) else {
        return crate::log(format_args!("host refused headers {:?}", head.headers));
    };
    let response = OutgoingResponse::new(headers);
    if response.set_status_code(head.status).is_ok() {
        out.set(response);
    }
}

/// Starts a streaming response and returns its body sink.
pub fn start_response(
    out: ResponseOutparam,
    status: u16,
    headers: &[(String, String)],
) -> Option<impl futures::Sink<Vec<u8>, Error = impl std::fmt::Debug>> {
    let response = OutgoingResponse::new(fields(headers, None)?);
    response.set_status_code(status).ok()?;
    let body = response.take_body();
    out.set(response);
    Some(body)
}

/// Writes `piece` to a body sink; false once the client is gone.
pub async fn write<S: futures::Sink<Vec<u8>> + Unpin>(sink: &mut S, piece: Vec<u8>) -> bool
where
    S::Error: std::fmt::Debug,
{
    match sink.send(piece).await {
        Ok(()) => true,
        Err(e) => {
            crate::log(format_args!("client went away: {e:?}"));
            false
        }
    }
}

/// The Spin key-value store as the edge cache; counters go through `wasi:keyvalue/atomics` on
/// the same store, so concurrent requests never lose an increment.
pub struct KvCache(pub Store, Bucket);

impl KvCache {
    /// Opens store `default`.
    pub fn open() -> Result<Self, EdgeError> {
        let store = Store::open_default()
            .map_err(|e| EdgeError::Cache(format!("opening store default: {e:?}")))?;
        let bucket = wasi_store::open("default")
            .map_err(|e| EdgeError::Cache(format!("opening bucket default: {e:?}")))?;
        Ok(Self(store, bucket))
    }
}

impl Cache for KvCache {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, CacheError> {
        self.0.get(key).map_err(|e| CacheError(format!("{e:?}")))
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<(), CacheError> {
        self.0
            .set(key, value)
            .map_err(|e| CacheError(format!("{e:?}")))
    }

    fn exists(&self, key: &str) -> Result<bool, CacheError> {
        self.0.exists(key).map_err(|e| CacheError(format!("{e:?}")))
    }

    fn delete(&self, key: &str) -> Result<(), CacheError> {
        self.0.delete(key).map_err(|e| CacheError(format!("{e:?}")))
    }

    fn list(&self) -> Result<Vec<String>, CacheError> {
        self.0.get_keys().map_err(|e| CacheError(format!("{e:?}")))
    }

    fn increment(&self, key: &str, delta: i64) -> Result<i64, CacheError> {
        atomics::increment(&self.1, key, delta).map_err(|e| CacheError(format!("{e:?}")))
    }

    fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> Result<bool, CacheError> {
        let error = |e: wasi_store::Error| CacheError(format!("{e:?}"));
        let cas = atomics::Cas::new(&self.1, key).map_err(error)?;
        if cas.current().map_err(error)?.as_deref() != expected {
            return Ok(false);
        }
        match atomics::swap(cas, new) {
            Ok(()) => Ok(true),
            Err(atomics::CasError::CasFailed(_)) => Ok(false),
            Err(atomics::CasError::StoreError(e)) => Err(error(e)),
        }
    }
}

/// The URL without its query, which for a presigned URL holds the signature.
pub fn redact(url: &str) -> &str {
    url.split_once('?').map_or(url, |(u, _)| u)
}

/// Parents reached with `wasi:http/outgoing-handler`, each call under this edge's timeouts: a
/// parent that stops answering fails like a dead one, and the fill moves on to the next.
#[derive(Debug, Default)]
pub struct SpinOrigin {
    pub timeouts: Timeouts,
}

/// A response body being read; the response is kept alive until the body is dropped because
/// dropping it first would cancel the transfer.
pub struct SpinBody {
    stream: Pin<Box<dyn Stream<Item = Result<Vec<u8>, String>>>>,
    _response: IncomingResponse,
}

impl ByteStream for SpinBody {
    async fn next(&mut self) -> Option<Result<Vec<u8>, FetchError>> {
        self.stream.next().await.map(|r| r.map_err(FetchError))
    }
}

impl Origin for SpinOrigin {
    type Body = SpinBody;

    async fn get(&self, url: &str, range: Range<u64>) -> Result<SpinBody, FetchError> {
        let request = Request::get(url)
            .header("range", format!("bytes={}-{}", range.start, range.end - 1))
            .build();
        let response = super::outbound::send(request, &self.timeouts)
            .await
            .map_err(|e| FetchError(format!("{}: {e}", redact(url))))?;
        let status = response.status();
        if status != 206 {
            return Err(FetchError(format!("{}: status {status}", redact(url))));
        }
        let expected = format!("bytes {}-{}/", range.start, range.end - 1);
        let content_range = response.headers().get("content-range");
        if !content_range
            .iter()
            .any(|v| v.starts_with(expected.as_bytes()))
        {
            return Err(FetchError(format!("{}: wrong Content-Range", redact(url))));
        }
        let stream = response
            .take_body_stream()
            .map(|r| r.map_err(|e| e.to_debug_string()));
        Ok(SpinBody {
            stream: Box::pin(stream),
            _response: response,
        })
    }
}
