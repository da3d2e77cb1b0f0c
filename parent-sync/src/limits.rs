//! The HTTP/1 accept loop our servers share (the local parent here, main through this crate): a
//! client that opens connections and never finishes a request cannot exhaust the server.
//!
//! - A request header must arrive within `header_read_timeout`. hyper starts that clock whenever
//!   a connection waits for a request, so it also bounds how long a keep-alive connection may sit
//!   idle between requests.
//! - Each piece of a request body must arrive within `body_read_timeout` of the previous one
//!   (an idle bound, so a large upload at a steady pace is never cut off).
//! - At most `max_connections` connections are open; past that the loop stops accepting and new
//!   connections wait in the kernel's backlog until one closes.
//! - With `connection_bytes_per_sec`, each connection sends at most that many bytes per second:
//!   for benchmarks, a local parent that behaves like S3, which serves one connection at roughly
//!   100 MB/s. Off by default.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use hyper_util::server::graceful::GracefulShutdown;
use serde::Deserialize;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::time::Sleep;

/// How long open connections may take to finish after shutdown was asked for.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Per-connection limits of a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerLimits {
    /// Seconds a client has to send a complete request header; also the keep-alive idle time.
    pub header_read_timeout_secs: u64,
    /// Seconds a request body may pause between two pieces.
    pub body_read_timeout_secs: u64,
    /// Connections open at once; keep it well below the process's file-descriptor limit.
    pub max_connections: usize,
    /// Most bytes per second one connection sends and receives (benchmarks; `None`: no cap).
    pub connection_bytes_per_sec: Option<u64>,
}

impl Default for ServerLimits {
    fn default() -> Self {
        Self {
            header_read_timeout_secs: 10,
            body_read_timeout_secs: 30,
            max_connections: 4096,
            connection_bytes_per_sec: None,
        }
    }
}

impl ServerLimits {
    /// Checks that every limit is positive.
    pub fn validate(&self) -> Result<(), String> {
        if self.header_read_timeout_secs == 0
            || self.body_read_timeout_secs == 0
            || self.max_connections == 0
        {
            return Err(
                "header_read_timeout_secs, body_read_timeout_secs and max_connections \
                        must be positive"
                    .into(),
            );
        }
        Ok(())
    }
}

/// Why reading a request body failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BodyError {
    #[error("the request body paused for more than {0:?}")]
    Timeout(Duration),
    #[error("reading the request body: {0}")]
    Read(#[from] hyper::Error),
}

/// A request body that fails with [`BodyError::Timeout`] when the client pauses too long.
#[derive(Debug)]
pub struct RequestBody {
    inner: Incoming,
    idle: Duration,
    sleep: Option<Pin<Box<Sleep>>>,
}

impl RequestBody {
    fn new(inner: Incoming, idle: Duration) -> Self {
        Self {
            inner,
            idle,
            sleep: None,
        }
    }
}

impl Body for RequestBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                this.sleep = None;
                Poll::Ready(frame.map(|f| f.map_err(BodyError::Read)))
            }
            Poll::Pending => {
                let idle = this.idle;
                let sleep = this
                    .sleep
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(idle)));
                match sleep.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Some(Err(BodyError::Timeout(idle)))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Serves HTTP/1 on `listener` with `limits` until `shutdown` completes, then lets open
/// connections finish (up to 10 s). `service_for(peer)` makes the service of one connection.
pub async fn serve<S, F, B>(
    listener: TcpListener,
    limits: ServerLimits,
    service_for: F,
    shutdown: impl Future<Output = ()>,
) where
    F: Fn(SocketAddr) -> S,
    S: tower::Service<hyper::Request<RequestBody>, Response = hyper::Response<B>>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let mut http = ConnBuilder::new(TokioExecutor::new());
    http.http1()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(limits.header_read_timeout_secs));
    let body_idle = Duration::from_secs(limits.body_read_timeout_secs);
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        // Wait for a free slot before accepting: at the cap, new connections stay in the backlog.
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
            () = shutdown.as_mut() => break,
        };
        let (socket, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Usually out of file descriptors: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = shutdown.as_mut() => break,
        };
        let service = service_for(peer);
        let hyper_service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
            let req = req.map(|body| RequestBody::new(body, body_idle));
            tower::ServiceExt::oneshot(service.clone(), req)
        });
        let conn = match limits.connection_bytes_per_sec {
            None => {
                let conn = http.serve_connection(TokioIo::new(socket), hyper_service);
                Box::pin(graceful.watch(conn.into_owned()))
                    as Pin<Box<dyn Future<Output = _> + Send>>
            }
            Some(rate) => {
                let limiter: async_speed_limit::Limiter =
                    async_speed_limit::Limiter::new(rate as f64);
                let capped = limiter.limit(socket);
                let conn = http.serve_connection(TokioIo::new(capped), hyper_service);
                Box::pin(graceful.watch(conn.into_owned()))
            }
        };
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, %peer, "connection ended with an error");
            }
            drop(slot);
        });
    }
    drop(listener);
    tracing::info!("shutting down: draining open connections");
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("connections still open after {DRAIN_TIMEOUT:?}; closing them");
    }
}
