//! The Spin glue: the `wasi:http/incoming-handler` export and the bindings of the crate's plain
//! logic to Spin's outgoing HTTP, key-value store and variables. Only compiled for `wasm32`.
//!
//! - `export`: the `#[http_component]` entry point, handing each request to `handle`.
//! - `io`: responses, request headers, the key-value store as a [`crate::Cache`], parents as an
//!   [`crate::Origin`].
//! - `main_client`: calls to main (JWKS, authorize, manifest, fill sources).
//! - `content`: the download endpoint, streaming.
//! - `public`: public objects (no token), opened and served from the other zone.
//! - `maintain`: the scheduled maintenance call (eviction, pins, purges, prefill).

mod content;
mod io;
mod main_client;
mod maintain;
mod outbound;
mod public;

use spin_sdk::http::{IncomingRequest, ResponseOutparam};

use crate::reply::{EdgeError, json_reply};
use crate::route::{Route, route};

// spin-sdk's export macro expands to the component ABI glue, `unsafe` by nature; it is alone in
// `export`, so nothing else escapes the crate's `deny(unsafe_code)`.
#[allow(unsafe_code)]
mod export;

/// Answers one request (the body of the `wasi:http/incoming-handler` export).
async fn handle(request: IncomingRequest, out: ResponseOutparam) {
    let method = request.method().to_string();
    let path = request.path_with_query().unwrap_or_default();
    match route(&method, &path) {
        Ok(Route::Health) => {
            let mut reply = json_reply(200, &serde_json::json!({"status": "ok"}));
            if method == "HEAD" {
                reply.body.clear();
            }
            io::send_reply(out, reply).await;
        }
        Ok(Route::Content(content)) => content::serve(&request, content, out).await,
        Ok(Route::Public(public)) => public::serve(&request, public, out).await,
        Ok(Route::Maintain) => match internal_call(&request, &method, &path) {
            Ok(()) => {
                let query = path.split_once('?').map_or("", |(_, q)| q);
                let rebuild = crate::route::query_param(query, "rebuild").is_some_and(|v| v == "1");
                maintain::serve(out, rebuild).await
            }
            Err(e) => io::send_error(out, &e).await,
        },
        Err(e) => io::send_error(out, &e).await,
    }
}

/// Checks the signature of an internal call with this edge's secret.
fn internal_call(request: &IncomingRequest, method: &str, path: &str) -> Result<(), EdgeError> {
    let config = main_client::config()?;
    let signature = io::header(request, protocol::internal::SIGNATURE_HEADER);
    protocol::internal::verify_call(
        &config.edge_secret,
        method,
        path,
        signature.as_deref(),
        main_client::now(),
    )?;
    Ok(())
}
