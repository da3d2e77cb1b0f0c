//! Guest checkout over main's HTTP API (in process, embedded store, sandbox payments): an email
//! rents without an account, its session binds the licence, a later checkout and registering the
//! email need the claim code, and the claimed account keeps the guest's rentals.

use crate::common;

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::connect_info::MockConnectInfo;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use main_service::payment::cards;
use serde_json::{Value, json};
use tower::ServiceExt;

async fn call(
    state: &main_service::AppState,
    path: &str,
    session: Option<&str>,
    body: Value,
    key: Option<&str>,
) -> (StatusCode, Value) {
    let mut b = Request::post(path).header("content-type", "application/json");
    if let Some(s) = session {
        b = b.header("authorization", format!("Bearer {s}"));
    }
    if let Some(k) = key {
        b = b.header("idempotency-key", k);
    }
    let req = if path == "/v1/rentals" && body.is_null() {
        Request::get(path)
            .header("authorization", format!("Bearer {}", session.unwrap()))
            .body(Body::empty())
            .unwrap()
    } else {
        b.body(Body::from(body.to_string())).unwrap()
    };
    let addr: SocketAddr = "127.0.0.1:40000".parse().unwrap();
    let app = main_service::app(state.clone()).layer(MockConnectInfo(addr));
    let resp = app.oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// `call`, which must be refused with `status` and error `code`.
async fn refused(
    state: &main_service::AppState,
    path: &str,
    body: Value,
    key: Option<&str>,
    (status, code): (StatusCode, &str),
) {
    let (s, v) = call(state, path, None, body, key).await;
    assert_eq!((s, v["error"].as_str()), (status, Some(code)), "{v}");
}

fn guest(item: &str, card: &str, claim: Option<&str>) -> Value {
    let mut body = json!({"email": "Guest@Example.com", "item": item, "card": card});
    if let Some(code) = claim {
        body["claim_code"] = json!(code);
    }
    body
}

#[tokio::test]
async fn a_guest_rents_binds_and_claims_the_account_later() {
    let dir = tempfile::tempdir().unwrap();
    let state = common::state(dir.path(), &["film", "doc", "show"]).await;
    let rent = "/v1/guest/rentals";

    // A declined card leaves no account behind: the next checkout is a first one.
    let declined = guest("film", cards::DECLINED, None);
    let (s, v) = call(&state, rent, None, declined, Some("k1")).await;
    assert_eq!(s, StatusCode::PAYMENT_REQUIRED, "{v}");
    let (s, first) = call(
        &state,
        rent,
        None,
        guest("film", cards::OK, None),
        Some("k2"),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{first}");
    let code = first["claim_code"].as_str().unwrap().to_owned();
    let session = first["session"].as_str().unwrap().to_owned();
    assert!(first["download_url"].as_str().unwrap().contains("token="));
    // The same checkout retried: the same rental, account and code.
    let (s, again) = call(
        &state,
        rent,
        None,
        guest("film", cards::OK, None),
        Some("k2"),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{again}");
    for field in ["rental_id", "account_id", "claim_code", "licence_id"] {
        assert_eq!(again[field], first[field], "{field}");
    }

    // The guest's session binds the licence like any customer's.
    let licence = first["licence_id"].as_str().unwrap();
    let device = protocol::DeviceKey::generate();
    let bind = json!({"device_id": "dev-1", "player_id": "player-1", "device_public_key": hex::encode(device.public())});
    let (s, v) = call(
        &state,
        &format!("/v1/licences/{licence}/bind"),
        Some(&session),
        bind,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");

    // Another checkout with the email: only with the code.
    refused(
        &state,
        rent,
        guest("doc", cards::OK, None),
        Some("k3"),
        (StatusCode::CONFLICT, "claim_code_required"),
    )
    .await;
    refused(
        &state,
        rent,
        guest("doc", cards::OK, Some("claim-00")),
        Some("k3"),
        (StatusCode::FORBIDDEN, "bad_claim_code"),
    )
    .await;
    let (s, second) = call(
        &state,
        rent,
        None,
        guest("doc", cards::OK, Some(&code)),
        Some("k3"),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{second}");
    assert_eq!(second["account_id"], first["account_id"]);
    assert!(
        second.get("claim_code").is_none(),
        "the code is handed out once"
    );

    // A guest cannot log in; registering the email needs the code and keeps the rentals.
    let creds = json!({"email": "guest@example.com", "password": "correct horse"});
    let (s, _) = call(&state, "/v1/sessions", None, creds.clone(), None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    refused(
        &state,
        "/v1/accounts",
        creds.clone(),
        None,
        (StatusCode::CONFLICT, "claim_code_required"),
    )
    .await;
    let mut claim = creds.clone();
    claim["claim_code"] = json!(code);
    let (s, v) = call(&state, "/v1/accounts", None, claim.clone(), None).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["account_id"], first["account_id"]);
    let taken = (StatusCode::CONFLICT, "email_taken");
    refused(&state, "/v1/accounts", claim, None, taken).await;
    let (s, login) = call(&state, "/v1/sessions", None, creds, None).await;
    assert_eq!(s, StatusCode::OK, "{login}");
    let (_, list) = call(
        &state,
        "/v1/rentals",
        login["session"].as_str(),
        Value::Null,
        None,
    )
    .await;
    assert_eq!(list["rentals"].as_array().unwrap().len(), 2, "{list}");

    // A registered email rents by logging in, not as a guest.
    refused(
        &state,
        rent,
        guest("show", cards::OK, Some(&code)),
        Some("k4"),
        (StatusCode::CONFLICT, "account_exists"),
    )
    .await;
}
