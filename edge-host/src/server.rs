//! The HTTP/1.1 front: accepts connections, rewrites the headers a network client must
//! not control, answers `/healthz`, and hands every other request to the component.
//!
//! What a client can hold is bounded ([`ClientLimits`]): at most `max_connections` are open
//! (the rest wait in the kernel's backlog); a write to a client that reads nothing fails after
//! the stall timeout, which closes the connection, drops the response body and so ends the
//! component's instance; and a response body waits in at most four pieces of
//! [`ClientLimits::body_chunk_bytes`]: two in the channel from the component, one in hyper's
//! write queue (capped at one piece) and the one being written.

use crate::config::{ClientLimits, PlatformHeaders};
use crate::handoff::Replay;
use crate::runtime::EdgeRuntime;
use bytes::{Buf, Bytes};
use http::{HeaderName, HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use protocol::edge_cache::{HANDOFF_HEADER, OFFER_HEADER};
use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, Semaphore, watch};
use tokio::task::JoinSet;
use tokio_io_timeout::TimeoutStream;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

/// Spin's per-request headers, which a client must not be able to forge.
const SPIN_HEADERS: [&str; 8] = [
    "spin-client-addr",
    "spin-full-url",
    "spin-path-info",
    "spin-matched-route",
    "spin-base-path",
    "spin-raw-component-route",
    "spin-component-route",
    "spin-path-matched-route",
];
/// How long a client may take to send a request head.
const HEAD_TIMEOUT: Duration = Duration::from_secs(30);
/// How long in-flight requests may run on after a shutdown signal.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Set the headers Spin sets for a request to the one component at route `/...`:
/// replacing any a client sent ([`PlatformHeaders::Replace`]), or after them as Spin
/// does ([`PlatformHeaders::Append`]).
pub(crate) fn set_spin_headers<B>(req: &mut Request<B>, client: SocketAddr, mode: PlatformHeaders) {
    let path = req.uri().path().to_owned();
    let path_and_query = req
        .uri()
        .path_and_query()
        .map_or_else(|| path.clone(), |pq| pq.as_str().to_owned());
    let host = req
        .headers()
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost")
        .to_owned();
    let headers = req.headers_mut();
    if mode == PlatformHeaders::Replace {
        for name in SPIN_HEADERS {
            headers.remove(name);
        }
    }
    let mut set = |name: &'static str, value: String| {
        if let Ok(value) = HeaderValue::try_from(value) {
            headers.append(HeaderName::from_static(name), value);
        }
    };
    set("spin-client-addr", client.to_string());
    set("spin-full-url", format!("http://{host}{path_and_query}"));
    set("spin-path-info", path);
    set("spin-matched-route", "/...".to_owned());
    set("spin-raw-component-route", "/...".to_owned());
    set("spin-component-route", String::new());
    set("spin-base-path", "/".to_owned());
}

/// A complete answer with `status`, `content_type` and `body`.
fn full_response(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> Response<HyperOutgoingBody> {
    let body = Full::new(body.into())
        .map_err(|never: Infallible| match never {})
        .boxed_unsync();
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static(content_type),
    );
    response
}

pub(crate) fn text_response(status: StatusCode, text: &'static str) -> Response<HyperOutgoingBody> {
    full_response(status, "text/plain; charset=utf-8", text)
}

/// How the front treats requests: platform headers, who may read `/metrics`, what a client
/// may hold.
#[derive(Debug, Clone)]
pub struct Front {
    pub platform_headers: PlatformHeaders,
    pub metrics_allowed: Vec<ipnet::IpNet>,
    pub limits: ClientLimits,
}

/// One open connection in `cdn_edge_open_connections`, until dropped.
struct OpenConnection(prometheus_client::metrics::gauge::Gauge);

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// Whether `error` (hyper's, for a connection) is a write that outlasted the stall timeout.
fn is_stall(error: &hyper::Error) -> bool {
    let mut source = std::error::Error::source(error);
    while let Some(e) = source {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            return io.kind() == std::io::ErrorKind::TimedOut;
        }
        source = e.source();
    }
    false
}

/// `/metrics` in the Prometheus text format.
fn metrics_response(runtime: &EdgeRuntime) -> Response<HyperOutgoingBody> {
    let text = runtime.metrics_text();
    full_response(
        StatusCode::OK,
        "text/plain; version=0.0.4; charset=utf-8",
        text,
    )
}

/// `/healthz`: 200 with `{"status":"ok"|"degraded","reasons":[…]}` — a degraded edge still
/// serves what it can, so balancers keep it while operators see why.
fn health_response(runtime: &EdgeRuntime) -> Response<HyperOutgoingBody> {
    let report = runtime.health().report(protocol::unix_now());
    let body = serde_json::to_vec(&report).expect("plain struct serializes");
    full_response(StatusCode::OK, "application/json", body)
}

/// Answer one request from the network.
async fn serve_request(
    runtime: EdgeRuntime,
    mut req: Request<Incoming>,
    client: SocketAddr,
    local: SocketAddr,
    front: &Front,
) -> Response<HyperOutgoingBody> {
    let started = Instant::now();
    let method = req.method().clone();
    // The path only: queries carry tokens, which do not belong in logs.
    let path = req.uri().path().to_owned();
    if !req.headers().contains_key(http::header::HOST) {
        // HTTP/1.0 clients may omit Host; wasi-http needs an authority.
        if let Ok(host) = HeaderValue::try_from(local.to_string()) {
            req.headers_mut().insert(http::header::HOST, host);
        }
    }
    set_spin_headers(&mut req, client, front.platform_headers);
    // One id per request, the client's if it is plain enough: the component sends it on to main.
    let request_id = protocol::request_id::keep_or_fresh(
        req.headers()
            .get(protocol::request_id::HEADER)
            .and_then(|v| v.to_str().ok()),
    );
    let id_value = HeaderValue::try_from(request_id.as_str()).expect("checked characters");
    req.headers_mut()
        .insert(protocol::request_id::HEADER, id_value.clone());
    // Only this host offers the handoff; a client's offer is dropped whatever it says.
    req.headers_mut().remove(OFFER_HEADER);
    let replay = match runtime.handoff() {
        Some(handoff) if method == http::Method::GET => {
            handoff.offer_on(req.headers_mut());
            Some(Replay {
                uri: req.uri().clone(),
                headers: req.headers().clone(),
            })
        }
        _ => None,
    };
    let metrics_allowed = || {
        front
            .metrics_allowed
            .iter()
            .any(|n| n.contains(&client.ip()))
    };
    let response = if method == http::Method::GET && path == "/healthz" {
        health_response(&runtime)
    } else if method == http::Method::GET && path == "/metrics" && metrics_allowed() {
        metrics_response(&runtime)
    } else if let Some(response) = match (runtime.handoff(), &replay) {
        (Some(handoff), Some(replay)) => handoff.answer_alone(&method, replay, &runtime).await,
        _ => None,
    } {
        response
    } else {
        match runtime.handle(req).await {
            Ok(response) if response.headers().contains_key(HANDOFF_HEADER) => {
                match (runtime.handoff(), replay) {
                    (Some(handoff), Some(replay)) => {
                        handoff.take_over(response, replay, runtime.clone()).await
                    }
                    _ => {
                        tracing::error!(%method, %path, "the component handed over unoffered");
                        text_response(
                            StatusCode::INTERNAL_SERVER_ERROR,
                            "internal error in the edge; try again later\n",
                        )
                    }
                }
            }
            Ok(response) => response,
            Err(e) => {
                tracing::error!(%method, %path, error = %e, "request failed");
                text_response(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal error in the edge; try again later\n",
                )
            }
        }
    };
    let mut response = response;
    response
        .headers_mut()
        .insert(protocol::request_id::HEADER, id_value);
    let route = crate::metrics::route_of(&path);
    let x_cache = response
        .headers()
        .get("x-cache")
        .and_then(|v| v.to_str().ok());
    runtime
        .metrics()
        .response(route, response.status().as_u16(), x_cache);
    let response = match runtime.metrics().served_counter(route) {
        Some(served) => response.map(|body| {
            body.map_frame(move |frame| {
                if let Some(data) = frame.data_ref() {
                    served.inc_by(data.len() as u64);
                }
                frame
            })
            .boxed_unsync()
        }),
        None => response,
    };
    tracing::info!(
        %method,
        %path,
        status = response.status().as_u16(),
        ms = started.elapsed().as_millis() as u64,
        %client,
        request_id,
        "request"
    );
    response
}

/// What a connection does after the sendfile path ([`crate::direct`]).
#[derive(Debug)]
pub(crate) enum Then {
    /// Closed: the client left, stalled or sent nothing in time, or the server is stopping.
    Close,
    /// hyper serves what comes next, starting with the bytes already read.
    Hyper(TcpStream, Bytes),
}

/// Serves one connection: the sendfile path while it can answer, then hyper. After hyper has
/// sent a GET's response whole, the connection comes back to the sendfile path, so that a
/// session's later requests on it are sent with sendfile too.
async fn connection(
    _held: (tokio::sync::OwnedSemaphorePermit, OpenConnection),
    stream: TcpStream,
    (client, local): (SocketAddr, SocketAddr),
    runtime: EdgeRuntime,
    front: Arc<Front>,
    mut stop_rx: watch::Receiver<bool>,
    stalled: prometheus_client::metrics::counter::Counter,
) {
    let limits = front.limits;
    // hyper queues body pieces while its write buffer is under this; one piece at most.
    let write_queue = limits.body_chunk_bytes().max(8192);
    let (mut stream, mut read) = (stream, Bytes::new());
    loop {
        #[cfg(target_os = "linux")]
        let then = crate::direct::serve(stream, read, client, &runtime, &front, &mut stop_rx).await;
        #[cfg(not(target_os = "linux"))]
        let then = Then::Hyper(stream, read);
        (stream, read) = match then {
            Then::Close => return,
            Then::Hyper(stream, read) => (stream, read),
        };
        let mut io = TimeoutStream::new(Prefixed::new(read, stream));
        io.set_write_timeout(Some(limits.stall_timeout));
        // Told when a GET's response body is done (dropped by hyper, its head long written).
        let sent = Arc::new(Notify::new());
        let service = {
            let (runtime, front, sent) = (runtime.clone(), front.clone(), sent.clone());
            hyper::service::service_fn(move |req: Request<Incoming>| {
                let (runtime, front, sent) = (runtime.clone(), front.clone(), sent.clone());
                let get = req.method() == http::Method::GET;
                Box::pin(async move {
                    let response = serve_request(runtime, req, client, local, &front).await;
                    let response = if get {
                        response.map(|body| Told { body, sent }.boxed_unsync())
                    } else {
                        response
                    };
                    Ok::<_, Infallible>(response)
                })
            })
        };
        let mut connection = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(HEAD_TIMEOUT)
            .max_buf_size(write_queue)
            .serve_connection(TokioIo::new(Box::pin(io)), service);
        // `changed` (not `wait_for`, whose guard is not `Send`): the flag only ever goes from
        // false to true.
        let wound_up = tokio::select! {
            result = std::future::poll_fn(|cx| connection.poll_without_shutdown(cx)) => Err(result),
            _ = stop_rx.changed() => Ok(false),
            () = sent.notified() => Ok(true),
        };
        let (result, back) = match wound_up {
            Err(result) => (result, false),
            Ok(back) => {
                // Finishes what it is writing, then stops (idle, it stops at once).
                Pin::new(&mut connection).graceful_shutdown();
                let result = std::future::poll_fn(|cx| connection.poll_without_shutdown(cx)).await;
                (result, back)
            }
        };
        match result {
            Err(e) if is_stall(&e) => {
                stalled.inc();
                tracing::info!(
                    %client,
                    stall_secs = limits.stall_timeout.as_secs(),
                    "closed a connection whose client read nothing within the stall timeout"
                );
                return;
            }
            Err(e) => {
                tracing::debug!(%client, error = %e, "connection ended with an error");
                return;
            }
            Ok(()) if !back || *stop_rx.borrow() => return,
            Ok(()) => {}
        }
        let parts = connection.into_parts();
        let mut io = parts.io.into_inner();
        let Some((unread, tcp)) = io.as_mut().get_pin_mut().get_mut().take() else {
            return;
        };
        stream = tcp;
        read = if unread.is_empty() {
            parts.read_buf
        } else {
            [unread, parts.read_buf].concat().into()
        };
    }
}

/// A GET's response body that tells `sent` when hyper drops it: after its last byte, or when
/// the connection fails.
struct Told {
    body: HyperOutgoingBody,
    sent: Arc<Notify>,
}

impl Drop for Told {
    fn drop(&mut self) {
        self.sent.notify_one();
    }
}

impl hyper::body::Body for Told {
    type Data = Bytes;
    type Error = wasmtime_wasi_http::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Bytes>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.body.size_hint()
    }
}

/// Accept connections on `listener` until `shutdown` resolves, then stop accepting,
/// let in-flight requests finish (up to a grace period) and return.
pub async fn serve(
    runtime: EdgeRuntime,
    listener: TcpListener,
    front: Front,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let limits = front.limits;
    let front = Arc::new(front);
    let local = listener.local_addr()?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut connections = JoinSet::new();
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let stalled_closed = runtime.metrics().stalled_closed_counter();
    let open_connections = runtime.metrics().open_connections();
    tokio::pin!(shutdown);
    loop {
        // At the cap, stop accepting: new connections wait in the backlog, not in memory.
        let slot = tokio::select! {
            () = &mut shutdown => break,
            slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
        };
        let (stream, client) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Running out of file descriptors must not end the server.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let runtime = runtime.clone();
        let stalled = stalled_closed.clone();
        open_connections.inc();
        let open = OpenConnection(open_connections.clone());
        let front = front.clone();
        let stop_rx = stop_rx.clone();
        connections.spawn(connection(
            (slot, open),
            stream,
            (client, local),
            runtime,
            front,
            stop_rx,
            stalled,
        ));
        // Reap finished connections so the set does not grow without bound.
        while connections.try_join_next().is_some() {}
    }
    tracing::info!(in_flight = connections.len(), "shutting down");
    let _ = stop_tx.send(true);
    let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            aborted = connections.len(),
            "connections still busy after the grace period; closing them"
        );
        connections.shutdown().await;
    }
    Ok(())
}

/// A connection whose first bytes were already read: they are read again first.
#[derive(Debug)]
pub(crate) struct Prefixed<S> {
    prefix: Bytes,
    inner: Option<S>,
}

impl<S> Prefixed<S> {
    pub(crate) fn new(prefix: Bytes, inner: S) -> Self {
        Self {
            prefix,
            inner: Some(inner),
        }
    }

    /// The bytes not read yet and the connection, taken back (later I/O fails).
    pub(crate) fn take(&mut self) -> Option<(Bytes, S)> {
        let inner = self.inner.take()?;
        Some((std::mem::take(&mut self.prefix), inner))
    }

    fn inner(&mut self) -> io::Result<Pin<&mut S>>
    where
        S: Unpin,
    {
        self.inner
            .as_mut()
            .map(Pin::new)
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotConnected, "taken back"))
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Prefixed<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if !self.prefix.is_empty() {
            let n = self.prefix.len().min(buf.remaining());
            buf.put_slice(&self.prefix[..n]);
            self.prefix.advance(n);
            return Poll::Ready(Ok(()));
        }
        match self.inner() {
            Ok(inner) => inner.poll_read(cx, buf),
            Err(e) => Poll::Ready(Err(e)),
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Prefixed<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.inner() {
            Ok(inner) => inner.poll_write(cx, buf),
            Err(e) => Poll::Ready(Err(e)),
        }
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.inner() {
            Ok(inner) => inner.poll_write_vectored(cx, bufs),
            Err(e) => Poll::Ready(Err(e)),
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.as_ref().is_some_and(S::is_write_vectored)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.inner() {
            Ok(inner) => inner.poll_flush(cx),
            Err(e) => Poll::Ready(Err(e)),
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.inner() {
            Ok(inner) => inner.poll_shutdown(cx),
            Err(e) => Poll::Ready(Err(e)),
        }
    }
}
