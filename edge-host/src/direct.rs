//! Sessions already granted, sent with `sendfile`: the bytes go from the page cache to the
//! socket without being copied through this process.
//!
//! Every connection starts here. While its requests are GETs that a session pass answers
//! ([`crate::session`]) from chunks this process verified before and that are unchanged since
//! ([`Handoff::verified_parts`]), this module answers them itself: it parses the request head
//! (`httparse`), writes the response head the component would send, and the body with
//! `sendfile(2)` from the chunk files. At the first request it cannot answer that way — no
//! pass, not a plain GET, a chunk not yet verified, anything malformed — it hands the connection,
//! with every byte already read, to hyper ([`crate::server`]), which serves it from then on,
//! through the component and the handoff as before. Nothing a client sends is answered
//! differently here: the head is the component's ([`crate::session::Answer`]), and whatever
//! this module is unsure of is hyper's to answer, including every error.
//!
//! A body is sent in pieces of at most [`PIECE`]. Before each piece a one-byte `RWF_NOWAIT`
//! read checks its last page is in memory; if not, the piece is read once on a blocking thread
//! first, so that `sendfile` on the async worker does not wait for the disk. A client that reads
//! nothing for the stall timeout is closed, as hyper closes it.

use std::io;
use std::net::SocketAddr;
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::{Buf, Bytes, BytesMut};
use http::{HeaderValue, Method, Request, Version};
use tokio::io::{AsyncReadExt, Interest};
use tokio::net::TcpStream;
use tokio::sync::watch;

use crate::config::PlatformHeaders;
use crate::handoff::{Handoff, Part, read_at};
use crate::runtime::EdgeRuntime;
use crate::server::{Front, Then};
use crate::session::Answer;

/// The most bytes one `sendfile` call is asked for.
const PIECE: u64 = 2 << 20;
/// Bodies up to this size are copied and written with their head in one call, not sent with
/// `sendfile` (a 1 KiB range costs one write instead of two).
const SMALL: u64 = 64 << 10;
/// The longest request head parsed here; a longer one is hyper's to refuse.
const MAX_HEAD: usize = 16 << 10;
/// The most header lines parsed here.
const MAX_HEADERS: usize = 64;
/// How long a client may take to send a request head (as hyper is told in `server.rs`).
const HEAD_TIMEOUT: Duration = Duration::from_secs(30);

/// The request a connection's buffer starts with, if this module may answer it: a complete,
/// plain HTTP/1.1 GET without a body. Returns it (with the platform headers set as for the
/// component) and its length in the buffer; `Err(())` when it is hyper's — incomplete,
/// malformed, too large, or anything but that plain GET.
pub(crate) fn plain_get(
    buf: &[u8],
    client: SocketAddr,
    mode: PlatformHeaders,
) -> Result<Option<(Request<()>, usize)>, ()> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut headers);
    let len = match parsed.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if buf.len() < MAX_HEAD => return Ok(None),
        _ => return Err(()),
    };
    if parsed.method != Some("GET") || parsed.version != Some(1) {
        return Err(());
    }
    let target = parsed.path.ok_or(())?;
    if !target.starts_with('/') {
        return Err(());
    }
    let mut request = Request::builder()
        .method(Method::GET)
        .version(Version::HTTP_11)
        .uri(target);
    for header in parsed.headers.iter() {
        let name = header.name.to_ascii_lowercase();
        let body = match name.as_str() {
            "content-length" => header.value != b"0",
            "transfer-encoding" | "expect" | "upgrade" => true,
            "connection" => !header.value.eq_ignore_ascii_case(b"keep-alive"),
            _ => false,
        };
        if body {
            return Err(());
        }
        request = request.header(name, header.value);
    }
    let mut request = request.body(()).map_err(|_| ())?;
    if !request.headers().contains_key(http::header::HOST) {
        return Err(());
    }
    crate::server::set_spin_headers(&mut request, client, mode);
    Ok(Some((request, len)))
}

/// Answers the connection's requests while a session pass and verified chunks allow, then
/// hands it over.
pub(crate) async fn serve(
    mut stream: TcpStream,
    read: Bytes,
    client: SocketAddr,
    runtime: &EdgeRuntime,
    front: &Front,
    stop: &mut watch::Receiver<bool>,
) -> Then {
    let Some(handoff) = runtime.handoff().filter(|h| !h.hashes_every_read()) else {
        return Then::Hyper(stream, read);
    };
    let (mode, stall) = (front.platform_headers, front.limits.stall_timeout);
    let mut buf = BytesMut::from(read);
    loop {
        // The whole head within the timeout, however it trickles in (as hyper bounds it).
        let deadline = tokio::time::Instant::now() + HEAD_TIMEOUT;
        let (request, head_len) = loop {
            match plain_get(&buf, client, mode) {
                Ok(Some(found)) => break found,
                Ok(None) => {}
                Err(()) => return Then::Hyper(stream, buf.freeze()),
            }
            let read = tokio::select! {
                read = tokio::time::timeout_at(deadline, stream.read_buf(&mut buf)) => read,
                _ = stop.changed() => return Then::Close,
            };
            match read {
                Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return Then::Close,
                Ok(Ok(_)) => {}
            }
        };
        let started = Instant::now();
        let Some((answer, parts)) = planned(handoff, runtime, &request) else {
            return Then::Hyper(stream, buf.freeze());
        };
        buf.advance(head_len);
        let request_id = protocol::request_id::keep_or_fresh(
            request
                .headers()
                .get(protocol::request_id::HEADER)
                .and_then(|v| v.to_str().ok()),
        );
        let (head, status, body_len) = response_head(&answer, &request_id);
        let sent = send(&stream, head, parts, stall).await;
        let metrics = runtime.metrics();
        let x_cache = match &answer {
            Answer::NotModified(head) | Answer::Send { head, .. } => head
                .headers
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case("x-cache"))
                .map(|(_, value)| value.clone()),
        };
        metrics.response("content", status, x_cache.as_deref());
        metrics.session_answer();
        metrics.direct_response();
        let path = request.uri().path();
        match sent {
            Ok(bytes) => {
                if let Some(served) = metrics.served_counter("content") {
                    served.inc_by(bytes);
                }
                tracing::info!(
                    method = "GET",
                    %path,
                    status,
                    ms = started.elapsed().as_millis() as u64,
                    %client,
                    request_id,
                    "request"
                );
            }
            Err(e) => {
                if e.kind() == io::ErrorKind::TimedOut {
                    runtime.metrics().stalled_closed_counter().inc();
                }
                tracing::info!(%path, %client, request_id, body_len, error = %e, "a direct response ended early; closing");
                return Then::Close;
            }
        }
        if *stop.borrow() {
            return Then::Close;
        }
    }
}

/// The answer for `request` and the parts of its body, only when a pass answers it and every
/// part was verified before.
fn planned(
    handoff: &Arc<Handoff>,
    runtime: &EdgeRuntime,
    request: &Request<()>,
) -> Option<(Answer, Vec<Part>)> {
    let path_and_query = request.uri().path_and_query()?.as_str();
    let answer = handoff.passes().answer(
        request.method(),
        path_and_query,
        request.headers(),
        protocol::unix_now(),
    )?;
    let parts = match &answer {
        Answer::NotModified(_) => Vec::new(),
        Answer::Send { plan, .. } => match handoff.verified_parts(&*runtime.kv(), plan) {
            Ok(parts) => parts,
            Err(miss) => {
                tracing::debug!(item = %plan.item, reason = %miss, "a session's request goes to hyper");
                return None;
            }
        },
    };
    Some((answer, parts))
}

/// The response head for `answer`, its status and its body's length.
fn response_head(answer: &Answer, request_id: &str) -> (Vec<u8>, u16, u64) {
    let (head, body_len) = match answer {
        Answer::NotModified(head) => (head, None),
        Answer::Send { head, plan } => (head, Some(plan.len())),
    };
    let status = http::StatusCode::from_u16(head.status).unwrap_or(http::StatusCode::OK);
    let mut out = Vec::with_capacity(512);
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\n");
    let mut line = |name: &str, value: &[u8]| {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    };
    for (name, value) in &head.headers {
        if !name.eq_ignore_ascii_case("content-length") && HeaderValue::from_str(value).is_ok() {
            line(name, value.as_bytes());
        }
    }
    if let Some(len) = body_len {
        line("content-length", len.to_string().as_bytes());
    }
    line("date", date_now().as_bytes());
    line(protocol::request_id::HEADER, request_id.as_bytes());
    out.extend_from_slice(b"\r\n");
    (out, status.as_u16(), body_len.unwrap_or(0))
}

/// The `Date` header's value, formatted once per second.
fn date_now() -> String {
    static DATE: std::sync::Mutex<(u64, String)> = std::sync::Mutex::new((0, String::new()));
    let now = SystemTime::now();
    let second = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut date = DATE.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if date.0 != second || date.1.is_empty() {
        *date = (second, httpdate::fmt_http_date(now));
    }
    date.1.clone()
}

/// Writes `head` and then `parts`; the body bytes sent. A body of at most [`SMALL`] bytes whose
/// pages are in memory is copied after the head and written with it in one call.
async fn send(
    stream: &TcpStream,
    mut head: Vec<u8>,
    parts: Vec<Part>,
    stall: Duration,
) -> io::Result<u64> {
    if let Some(len) = small_in_memory(&parts, &mut head) {
        write_all(stream, &head, stall).await?;
        return Ok(len);
    }
    write_all(stream, &head, stall).await?;
    let mut sent = 0;
    for part in parts {
        match part {
            Part::Bytes(bytes) => {
                write_all(stream, &bytes, stall).await?;
                sent += bytes.len() as u64;
            }
            Part::File { file, within } => {
                sent += send_file(stream, file, within, stall).await?;
            }
        }
    }
    Ok(sent)
}

/// Appends the bytes of `parts` to `out` if they are at most [`SMALL`] and every page is in
/// memory (`RWF_NOWAIT` reads); their length, or `None` (and `out` as it was).
fn small_in_memory(parts: &[Part], out: &mut Vec<u8>) -> Option<u64> {
    let len: u64 = parts
        .iter()
        .map(|part| match part {
            Part::Bytes(bytes) => bytes.len() as u64,
            Part::File { within, .. } => within.end - within.start,
        })
        .sum();
    if len > SMALL {
        return None;
    }
    let head_len = out.len();
    for part in parts {
        match part {
            Part::Bytes(bytes) => out.extend_from_slice(bytes),
            Part::File { file, within } => {
                let at = out.len();
                out.resize(at + (within.end - within.start) as usize, 0);
                if read_at(file, &mut out[at..], within.start, true).is_err() {
                    out.truncate(head_len);
                    return None;
                }
            }
        }
    }
    Some(len)
}

/// Writes all of `bytes`, failing with `TimedOut` when the client reads nothing for `stall`.
async fn write_all(stream: &TcpStream, mut bytes: &[u8], stall: Duration) -> io::Result<()> {
    while !bytes.is_empty() {
        writable(stream, stall).await?;
        match stream.try_write(bytes) {
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

async fn writable(stream: &TcpStream, stall: Duration) -> io::Result<()> {
    tokio::time::timeout(stall, stream.writable())
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "the client read nothing"))?
}

/// Sends bytes `within` of `file` with `sendfile`; the bytes sent.
async fn send_file(
    stream: &TcpStream,
    file: Arc<std::fs::File>,
    within: Range<u64>,
    stall: Duration,
) -> io::Result<u64> {
    let mut at = within.start;
    while at < within.end {
        let end = within.end.min(at + PIECE);
        if !in_memory(&file, end - 1) {
            // Read once off the async workers, so that sendfile finds the pages in memory.
            let (file, from) = (file.clone(), at);
            tokio::task::spawn_blocking(move || {
                let mut scratch = vec![0; (end - from) as usize];
                file.read_exact_at(&mut scratch, from)
            })
            .await
            .map_err(io::Error::other)??;
        }
        while at < end {
            writable(stream, stall).await?;
            let mut offset = at;
            let result = stream.try_io(Interest::WRITABLE, || {
                rustix::fs::sendfile(stream, &*file, Some(&mut offset), (end - at) as usize)
                    .map_err(io::Error::from)
            });
            match result {
                Ok(0) => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "a cached chunk is shorter than its stamp",
                    ));
                }
                Ok(n) => at += n as u64,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(within.end - within.start)
}

/// Whether the page holding byte `offset` of `file` is in the page cache (a one-byte
/// `RWF_NOWAIT` read).
fn in_memory(file: &std::fs::File, offset: u64) -> bool {
    read_at(file, &mut [0u8; 1], offset, true).is_ok()
}

#[cfg(test)]
#[path = "direct_tests.rs"]
mod tests;
