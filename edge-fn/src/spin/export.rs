//! The component's `wasi:http/incoming-handler@0.2.0` export.

use spin_sdk::http::{IncomingRequest, ResponseOutparam};

#[spin_sdk::http_component]
async fn incoming(request: IncomingRequest, out: ResponseOutparam) {
    super::handle(request, out).await;
}
