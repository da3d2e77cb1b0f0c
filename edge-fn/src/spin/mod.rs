//! The Spin glue: the `wasi:http/incoming-handler` export and the bindings of the crate's plain
//! logic to Spin's outgoing HTTP, key-value store and variables. Only compiled for `wasm32`.
//!
//! - `export`: the `#[http_component]` entry point, handing each request to `handle`.
//! - `io`: responses, request headers, the key-value store as a [`crate::Cache`], parents as an
//!   [`crate::Origin`].
//! - `main_client`: calls to main (JWKS, authorize, manifest, fill sources).
//! - `content`: the download endpoint, streaming.
//! - `prefill`: the host's prefill calls.

mod content;
mod io;
mod main_client;
mod prefill;

use spin_sdk::http::{IncomingRequest, ResponseOutparam};

use crate::reply::json_reply;
use crate::route::{INTERNAL_HEADER, Route, route};

// spin-sdk's export macro expands to the component ABI glue, `unsafe` by nature; it is alone in
// `export`, so nothing else escapes the crate's `deny(unsafe_code)`.
#[allow(unsafe_code)]
mod export;

/// Answers one request (the body of the `wasi:http/incoming-handler` export).
async fn handle(request: IncomingRequest, out: ResponseOutparam) {
    let method = request.method().to_string();
    let path = request.path_with_query().unwrap_or_default();
    let internal = io::header(&request, INTERNAL_HEADER);
    match route(&method, &path, internal.as_deref()) {
        Ok(Route::Health) => {
            let mut reply = json_reply(200, &serde_json::json!({"status": "ok"}));
            if method == "HEAD" {
                reply.body.clear();
            }
            io::send_reply(out, reply).await;
        }
        Ok(Route::Content(content)) => content::serve(&request, content, out).await,
        Ok(Route::Prefill) => prefill::serve(out).await,
        Err(e) => io::send_error(out, &e).await,
    }
}
