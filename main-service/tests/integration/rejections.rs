//! Every request axum's extractors would refuse with plain text gets the documented JSON error:
//! `{"error": CODE, "message": ...}` with `Content-Type: application/json`. Through
//! `Router::oneshot`, no socket.

use crate::common;

use axum::body::Body;
use axum::extract::connect_info::MockConnectInfo;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

/// Sends `req` and checks the answer is the JSON error `code` with `status`.
async fn refused(req: Request<Body>, status: StatusCode, code: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let state = common::state(dir.path(), &["film"]).await;
    let app = main_service::app(state).layer(MockConnectInfo(
        "127.0.0.1:40000".parse::<std::net::SocketAddr>().unwrap(),
    ));
    let resp = app.oneshot(req).await.unwrap();
    let got = resp.status();
    let content_type = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned());
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    assert_eq!(got, status, "{text}");
    assert_eq!(
        content_type.as_deref(),
        Some("application/json"),
        "not JSON: {text}"
    );
    let body: Value = serde_json::from_slice(&bytes).unwrap_or_else(|_| panic!("{text}"));
    assert_eq!(body["error"], code, "{body}");
    let message = body["message"].as_str().expect("a message").to_owned();
    assert!(!message.is_empty());
    message
}

fn login(content_type: Option<&str>, body: impl Into<Body>) -> Request<Body> {
    let mut b = Request::post("/v1/sessions");
    if let Some(ct) = content_type {
        b = b.header("content-type", ct);
    }
    b.body(body.into()).unwrap()
}

#[tokio::test]
async fn a_body_over_the_limit_is_413() {
    let big = format!(
        r#"{{"email":"a@example.com","password":"{}"}}"#,
        "x".repeat(70 * 1024)
    );
    let m = refused(
        login(Some("application/json"), big),
        StatusCode::PAYLOAD_TOO_LARGE,
        "body_too_large",
    )
    .await;
    assert!(m.contains("64 KiB"), "{m}");
}

#[tokio::test]
async fn a_body_that_is_not_json_is_415() {
    let body = r#"{"email":"a@example.com","password":"whatever1"}"#;
    refused(
        login(Some("text/plain"), body),
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;
    refused(
        login(None, body),
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;
}

#[tokio::test]
async fn a_duplicate_field_is_422() {
    let body = r#"{"email":"a@example.com","email":"b@example.com","password":"whatever1"}"#;
    let m = refused(
        login(Some("application/json"), body),
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_body",
    )
    .await;
    assert!(m.contains("duplicate field `email`"), "{m}");
}

#[tokio::test]
async fn a_missing_or_unknown_field_is_422() {
    let m = refused(
        login(Some("application/json"), r#"{"email":"a@example.com"}"#),
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_body",
    )
    .await;
    assert!(m.contains("missing field `password`"), "{m}");
}

#[tokio::test]
async fn invalid_utf8_is_400() {
    let mut body = br#"{"email":"a@example.com","password":"pass"#.to_vec();
    body.extend_from_slice(&[0xff, 0xfe]);
    body.extend_from_slice(br#"word"}"#);
    let m = refused(
        login(Some("application/json"), body),
        StatusCode::BAD_REQUEST,
        "invalid_utf8",
    )
    .await;
    assert!(m.contains("UTF-8"), "{m}");
}

#[tokio::test]
async fn an_empty_body_is_400() {
    let m = refused(
        login(Some("application/json"), Body::empty()),
        StatusCode::BAD_REQUEST,
        "empty_body",
    )
    .await;
    assert!(m.contains("empty"), "{m}");
}

#[tokio::test]
async fn broken_json_is_400() {
    refused(
        login(Some("application/json"), r#"{"email": "#),
        StatusCode::BAD_REQUEST,
        "invalid_json",
    )
    .await;
}

#[tokio::test]
async fn unknown_paths_and_methods_are_json_too() {
    let req = Request::get("/v1/nothing-here")
        .body(Body::empty())
        .unwrap();
    refused(req, StatusCode::NOT_FOUND, "not_found").await;
    let req = Request::delete("/v1/catalog").body(Body::empty()).unwrap();
    refused(req, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed").await;
}

#[tokio::test]
async fn a_bad_ingest_query_is_400() {
    for query in [
        "level=high",
        "id=film&max_plays=0",
        "id=film&window_hours=721",
        "id=film&enable_within_days=0",
        "id=film&reactivation_cents=100001",
        "id=film&rating=22",
        "id=film&rating=-1",
        "id=film&genres=Not%20A%20Genre!",
        "id=film&poster=no-such-poster",
    ] {
        let req = Request::post(format!("/v1/admin/items?{query}"))
            .header("authorization", "Bearer admin-token-0123456789")
            .body(Body::from("bytes"))
            .unwrap();
        refused(req, StatusCode::BAD_REQUEST, "bad_request").await;
    }
}
