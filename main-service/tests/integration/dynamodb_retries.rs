//! What moto cannot produce: DynamoDB refusing for load. A small HTTP server on port 0 answers
//! the DynamoDB JSON protocol with throttling errors or cancelled-for-conflict transactions a set
//! number of times, then with success; the store must retry with backoff, a bounded number of
//! times, and say "throttled" when the server never relents.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::extract::connect_info::MockConnectInfo;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use main_service::AppState;
use main_service::config::DynamoDbSettings;
use main_service::keys::Keys;
use main_service::records::Account;
use main_service::store::{DynamoStore, Store, StoreError};
use tower::ServiceExt;

use crate::common;

/// How the fake answers: `refusals` refusals of the given kind, then success.
#[derive(Debug)]
struct Script {
    refusals: usize,
    body: &'static str,
    seen: AtomicUsize,
}

const THROTTLED: &str = r#"{"__type":"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException","message":"The level of configured provisioned throughput for the table was exceeded."}"#;
const CONFLICT: &str = r#"{"__type":"com.amazonaws.dynamodb.v20120810#TransactionCanceledException","message":"Transaction cancelled, please refer cancellation reasons for specific reasons [None, TransactionConflict]","CancellationReasons":[{"Code":"None"},{"Code":"TransactionConflict","Message":"Transaction is ongoing for the item"}]}"#;

async fn serve(script: Arc<Script>) -> String {
    let app = Router::new().fallback(move |headers: HeaderMap| {
        let script = script.clone();
        async move {
            let n = script.seen.fetch_add(1, Ordering::SeqCst);
            let json = [("content-type", "application/x-amz-json-1.0")];
            if n < script.refusals {
                return (StatusCode::BAD_REQUEST, json, script.body).into_response();
            }
            // GetItem of nothing, or a committed transaction: both are `{}`.
            let target = headers
                .get("x-amz-target")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            assert!(target.starts_with("DynamoDB_20120810."), "{target}");
            (StatusCode::OK, json, "{}").into_response()
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

async fn store(refusals: usize, body: &'static str) -> (DynamoStore, Arc<Script>) {
    let script = Arc::new(Script {
        refusals,
        body,
        seen: AtomicUsize::new(0),
    });
    let url = serve(script.clone()).await;
    let settings: DynamoDbSettings = toml::from_str(&format!(
        "table = \"main\"\nregion = \"eu-west-1\"\nendpoint = \"{url}\"\naccess_key = \"k\"\nsecret_key = \"s\"\n"
    ))
    .unwrap();
    (DynamoStore::connect(&settings).await.unwrap(), script)
}

fn account() -> Account {
    Account {
        account_id: "a1".into(),
        email: "x@example.com".into(),
        password_hash: "h".into(),
        created_at: 1,
        guest_claim: None,
    }
}

#[tokio::test]
async fn throttling_is_retried_then_succeeds() {
    let (store, script) = store(2, THROTTLED).await;
    assert_eq!(store.token("t").await.unwrap(), None);
    assert_eq!(script.seen.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn endless_throttling_is_a_bounded_throttled_error() {
    let (store, script) = store(usize::MAX, THROTTLED).await;
    let started = std::time::Instant::now();
    let err = store.token("t").await.unwrap_err();
    assert!(matches!(err, StoreError::Throttled { .. }), "{err}");
    assert!(err.is_transient());
    assert_eq!(
        script.seen.load(Ordering::SeqCst),
        5,
        "attempts are bounded"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}

#[tokio::test]
async fn conflicting_transactions_are_retried() {
    let (store, script) = store(3, CONFLICT).await;
    assert!(store.create_account(account()).await.unwrap());
    assert_eq!(script.seen.load(Ordering::SeqCst), 4);
}

#[tokio::test]
async fn endless_conflicts_are_a_bounded_throttled_error() {
    let (store, script) = store(usize::MAX, CONFLICT).await;
    let err = store.create_account(account()).await.unwrap_err();
    assert!(matches!(err, StoreError::Throttled { .. }), "{err}");
    assert_eq!(
        script.seen.load(Ordering::SeqCst),
        10,
        "attempts are bounded"
    );
}

/// Throttling that outlives the retries reaches a customer as 503 `busy` with `Retry-After`, not
/// as a 500: the request may be sent again shortly.
#[tokio::test]
async fn a_throttled_store_answers_503_with_retry_after() {
    let (store, _) = store(usize::MAX, THROTTLED).await;
    let dir = tempfile::tempdir().unwrap();
    let keys = Keys::load_or_create(dir.path(), None).unwrap();
    let state = AppState::assemble(
        common::config(dir.path()),
        Arc::new(store),
        keys,
        Vec::new(),
    );
    let request = axum::http::Request::get("/v1/catalog")
        .body(axum::body::Body::empty())
        .unwrap();
    let client: std::net::SocketAddr = "127.0.0.1:40000".parse().unwrap();
    let app = main_service::app(state).layer(MockConnectInfo(client));
    let response = app.oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers()["retry-after"], "1");
    let body = axum::body::to_bytes(response.into_body(), 1 << 16)
        .await
        .unwrap();
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["error"], "busy", "{body}");
}
