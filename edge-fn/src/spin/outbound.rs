//! Outbound HTTP with this edge's timeouts. spin-sdk's `http::send` passes no request options, so
//! a stuck peer (a stopped main, a parent that stops mid-body) would hold the request until the
//! platform's own limit — 600 s for each timeout in wasmtime's default. [`send`] calls
//! `wasi:http/outgoing-handler.handle` itself with connect, first-byte and between-bytes timeouts
//! ([`Timeouts`], from Spin variables), which the host enforces: a stuck peer then fails like a
//! dead one, within seconds.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::SinkExt;
use spin_sdk::http::conversions::TryIntoOutgoingRequest;
use spin_sdk::http::{IncomingResponse, Request};
// spin-sdk keeps its generated WASI bindings public but undocumented; they are the only way to
// pass request options, and they are the same types its own `send` uses.
use spin_sdk::wit::wasi::http0_2_0::outgoing_handler;
use spin_sdk::wit::wasi::http0_2_0::types::{ErrorCode, FutureIncomingResponse, RequestOptions};

use crate::config::Timeouts;

/// Sends `request` under `timeouts` and returns the response's head; its body is read from the
/// response (each pause between pieces limited by `timeouts.idle`).
pub async fn send(request: Request, timeouts: &Timeouts) -> Result<IncomingResponse, String> {
    let (request, body) = request
        .try_into_outgoing_request()
        .map_err(|e| format!("building the request: {e}"))?;
    let sink = body.as_ref().map(|_| request.take_body());
    let future =
        outgoing_handler::handle(request, Some(options(timeouts)?)).map_err(|e| describe(&e))?;
    if let (Some(mut sink), Some(body)) = (sink, body) {
        sink.send(body)
            .await
            .map_err(|e| format!("sending the request body: {e:?}"))?;
    }
    response(future).await.map_err(|e| describe(&e))
}

/// The request options carrying `timeouts` (nanoseconds, as `wasi:clocks` counts them).
fn options(timeouts: &Timeouts) -> Result<RequestOptions, String> {
    let options = RequestOptions::new();
    let ns = |d: Duration| Some(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
    let refused = |what: &str| format!("the host does not accept a {what} timeout");
    options
        .set_connect_timeout(ns(timeouts.connect))
        .map_err(|()| refused("connect"))?;
    options
        .set_first_byte_timeout(ns(timeouts.first_byte))
        .map_err(|()| refused("first-byte"))?;
    options
        .set_between_bytes_timeout(ns(timeouts.idle))
        .map_err(|()| refused("between-bytes"))?;
    Ok(options)
}

/// Waits for the response's head on Spin's executor.
fn response(
    future: FutureIncomingResponse,
) -> impl Future<Output = Result<IncomingResponse, ErrorCode>> {
    Waiting {
        future,
        registered: None,
    }
}

/// A response head being waited for. Dropping the registration unregisters the pollable, should
/// this be dropped before the head arrives.
struct Waiting {
    future: FutureIncomingResponse,
    registered: Option<spin_executor::CancelOnDropToken>,
}

impl Future for Waiting {
    type Output = Result<IncomingResponse, ErrorCode>;

    fn poll(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<Self::Output> {
        match self.future.get() {
            Some(Ok(result)) => Poll::Ready(result),
            Some(Err(())) => Poll::Ready(Err(ErrorCode::InternalError(Some(
                "the response was already taken".into(),
            )))),
            None => {
                let pollable = self.future.subscribe();
                let token =
                    spin_executor::push_waker_and_get_token(pollable, context.waker().clone());
                self.registered = Some(token.into());
                Poll::Pending
            }
        }
    }
}

/// A sentence for an outbound failure; a timeout says which one.
fn describe(error: &ErrorCode) -> String {
    match error {
        ErrorCode::ConnectionTimeout => "connect timeout".into(),
        ErrorCode::ConnectionReadTimeout => "first-byte timeout".into(),
        ErrorCode::HttpResponseTimeout => "response timeout".into(),
        ErrorCode::ConnectionRefused => "connection refused".into(),
        other => format!("{other:?}"),
    }
}
