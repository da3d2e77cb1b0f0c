//! Group accounts over main's HTTP API (in process, embedded store, sandbox payments): the owner
//! creates a group with its card and invites a member with privileges; the member joins with the
//! code and rents on the group's account within them, each refusal a 403 naming its reason; the
//! charges go to the group's card; the owner's audit view lists who rented what, when and from
//! where, and keeps a removed member's rentals.

use crate::common;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::connect_info::MockConnectInfo;
use axum::http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use main_service::AppState;
use main_service::payment::{SandboxPayments, cards};
use serde_json::{Value, json};
use tower::ServiceExt;

/// One request as `session`, from `ip`.
async fn call(
    state: &AppState,
    (method, path): (Method, &str),
    session: &str,
    body: Option<Value>,
    ip: &str,
) -> (StatusCode, Value) {
    let mut b = Request::builder()
        .method(method)
        .uri(path)
        .header("authorization", format!("Bearer {session}"))
        .header("idempotency-key", protocol::random_id());
    let body = match body {
        Some(v) => {
            b = b.header("content-type", "application/json");
            Body::from(v.to_string())
        }
        None => Body::empty(),
    };
    let addr: SocketAddr = format!("{ip}:40000").parse().unwrap();
    let app = main_service::app(state.clone()).layer(MockConnectInfo(addr));
    let resp = app.oneshot(b.body(body).unwrap()).await.unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

async fn post(state: &AppState, path: &str, session: &str, body: Value) -> (StatusCode, Value) {
    call(
        state,
        (Method::POST, path),
        session,
        Some(body),
        "127.0.0.1",
    )
    .await
}

async fn get(state: &AppState, path: &str, session: &str) -> (StatusCode, Value) {
    call(state, (Method::GET, path), session, None, "127.0.0.1").await
}

/// Registers `email` and logs in; its session and account id.
async fn customer(state: &AppState, email: &str) -> (String, String) {
    let password = "correct horse battery";
    let (s, v) = post(
        state,
        "/v1/accounts",
        "",
        json!({"email": email, "password": password}),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let (s, v) = post(
        state,
        "/v1/sessions",
        "",
        json!({"email": email, "password": password}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    (
        v["session"].as_str().unwrap().to_owned(),
        v["account_id"].as_str().unwrap().to_owned(),
    )
}

fn assert_refused((s, v): (StatusCode, Value), status: StatusCode, code: &str) -> Value {
    assert_eq!((s, v["error"].as_str()), (status, Some(code)), "{v}");
    v
}

/// A state over `items` whose sandbox gateway the test holds, to see what was charged.
async fn shop(dir: &std::path::Path, items: &[&str]) -> (AppState, Arc<SandboxPayments>) {
    let mut state = common::state(dir, items).await;
    let sandbox = Arc::new(SandboxPayments::default());
    state.payments = sandbox.clone();
    (state, sandbox)
}

/// Sets the age ratings and prices of the catalog's items.
async fn rate(state: &AppState, ratings: &[(&str, Option<u8>, u64)]) {
    for (id, rating, price) in ratings {
        let mut item = state.store.item(id).await.unwrap().unwrap();
        item.rating = *rating;
        item.price_cents = *price;
        state.store.put_item(item).await.unwrap();
    }
}

#[tokio::test]
async fn a_member_rents_on_the_groups_account_within_their_privileges() {
    let dir = tempfile::tempdir().unwrap();
    let (state, sandbox) = shop(dir.path(), &["cartoon", "drama", "horror", "unrated"]).await;
    rate(
        &state,
        &[
            ("cartoon", Some(6), 300),
            ("drama", Some(12), 300),
            ("horror", Some(18), 300),
            ("unrated", None, 300),
        ],
    )
    .await;
    let (owner, owner_id) = customer(&state, "parent@example.com").await;
    let (kid, kid_id) = customer(&state, "kid@example.com").await;
    let (stranger, _) = customer(&state, "stranger@example.com").await;

    // The owner creates the group; only the card's last four are ever shown.
    let bad_card = json!({"name": "Family", "card": "1234"});
    assert_refused(
        post(&state, "/v1/groups", &owner, bad_card).await,
        StatusCode::BAD_REQUEST,
        "bad_request",
    );
    let (s, g) = post(
        &state,
        "/v1/groups",
        &owner,
        json!({"name": "Family", "card": cards::OK_MASTERCARD}),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{g}");
    assert_eq!(
        (g["role"].as_str(), g["payment_method"].as_str()),
        (Some("owner"), Some("•••• 4444"))
    );
    assert!(!g.to_string().contains(cards::OK_MASTERCARD), "{g}");
    let id = g["group_id"].as_str().unwrap().to_owned();
    let group = |tail: &str| format!("/v1/groups/{id}{tail}");

    // Only the owner invites; the code is shown once.
    let privileges = json!({"may_rent": true, "monthly_cap_cents": 500, "max_rating": 12});
    let invitation = json!({"email": "Kid@Example.com", "privileges": privileges});
    assert_refused(
        post(&state, &group("/invitations"), &kid, invitation.clone()).await,
        StatusCode::NOT_FOUND,
        "unknown_group",
    );
    let (s, inv) = post(&state, &group("/invitations"), &owner, invitation).await;
    assert_eq!(s, StatusCode::CREATED, "{inv}");
    assert_eq!(inv["email"], "kid@example.com");
    let code = inv["code"].as_str().unwrap().to_owned();

    // The invitation is the invitee's: a wrong code, or the right code from another account,
    // is refused.
    assert_refused(
        post(&state, &group("/join"), &kid, json!({"code": "guess"})).await,
        StatusCode::FORBIDDEN,
        "bad_invitation",
    );
    assert_refused(
        post(&state, &group("/join"), &stranger, json!({"code": code})).await,
        StatusCode::FORBIDDEN,
        "bad_invitation",
    );
    let (s, joined) = post(&state, &group("/join"), &kid, json!({"code": code})).await;
    assert_eq!(s, StatusCode::OK, "{joined}");
    assert_eq!(joined["role"], "member");
    assert_eq!(joined["you"]["privileges"], privileges);
    assert!(
        joined.get("members").is_none(),
        "members see only themselves: {joined}"
    );
    assert_refused(
        post(&state, &group("/join"), &kid, json!({"code": code})).await,
        StatusCode::CONFLICT,
        "already_member",
    );
    let (_, mine) = get(&state, "/v1/groups", &kid).await;
    assert_eq!(mine["groups"][0]["group_id"], id.as_str());

    // Renting on the group: outsiders cannot, and each privilege refuses with its reason.
    let rent = |item: &str| json!({"item": item, "group": id});
    assert_refused(
        post(&state, "/v1/rentals", &stranger, rent("cartoon")).await,
        StatusCode::NOT_FOUND,
        "unknown_group",
    );
    let v = assert_refused(
        post(&state, "/v1/rentals", &kid, rent("horror")).await,
        StatusCode::FORBIDDEN,
        "rating_above_cap",
    );
    assert!(v["message"].as_str().unwrap().contains("rated 18"), "{v}");
    assert_refused(
        post(&state, "/v1/rentals", &kid, rent("unrated")).await,
        StatusCode::FORBIDDEN,
        "rating_above_cap",
    );
    let charged_before = sandbox.charges().len();
    let (s, r) = call(
        &state,
        (Method::POST, "/v1/rentals"),
        &kid,
        Some(rent("cartoon")),
        "127.0.0.9",
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    assert_eq!(sandbox.charges().len(), charged_before + 1);
    // 300 of 500 spent: another 300 passes the cap.
    let v = assert_refused(
        post(&state, "/v1/rentals", &kid, rent("drama")).await,
        StatusCode::FORBIDDEN,
        "spend_cap_exceeded",
    );
    assert!(v["message"].as_str().unwrap().contains("500"), "{v}");
    assert_eq!(sandbox.charges().len(), charged_before + 1, "no charge");
    let (_, me) = get(&state, &group(""), &kid).await;
    assert_eq!(me["you"]["spent_this_month_cents"], 300);

    // The owner raises the cap, then forbids renting; members cannot change privileges.
    let kid_member = group(&format!("/members/{kid_id}"));
    assert_refused(
        call(
            &state,
            (Method::PUT, &kid_member),
            &kid,
            Some(json!({"monthly_cap_cents": 100000})),
            "127.0.0.1",
        )
        .await,
        StatusCode::FORBIDDEN,
        "not_group_owner",
    );
    let raise = json!({"may_rent": true, "monthly_cap_cents": 1000, "max_rating": 12});
    let (s, v) = call(
        &state,
        (Method::PUT, &kid_member),
        &owner,
        Some(raise),
        "127.0.0.1",
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, v) = post(&state, "/v1/rentals", &kid, rent("drama")).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let forbid = json!({"may_rent": false});
    call(
        &state,
        (Method::PUT, &kid_member),
        &owner,
        Some(forbid),
        "127.0.0.1",
    )
    .await;
    assert_refused(
        post(&state, "/v1/rentals", &kid, rent("unrated")).await,
        StatusCode::FORBIDDEN,
        "rent_not_allowed",
    );

    // The owner is not capped, and their own rentals on the group are audited too.
    let (s, v) = post(&state, "/v1/rentals", &owner, rent("horror")).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");

    // The audit view: the owner's only.
    assert_refused(
        get(&state, &group("/audit"), &kid).await,
        StatusCode::FORBIDDEN,
        "not_group_owner",
    );
    let (s, audit) = get(&state, &group("/audit"), &owner).await;
    assert_eq!(s, StatusCode::OK, "{audit}");
    let rows = audit["rentals"].as_array().unwrap();
    let seen: Vec<(&str, &str)> = rows
        .iter()
        .map(|r| (r["email"].as_str().unwrap(), r["item"].as_str().unwrap()))
        .collect();
    assert_eq!(seen.len(), 3, "{audit}");
    for want in [
        ("kid@example.com", "cartoon"),
        ("kid@example.com", "drama"),
        ("parent@example.com", "horror"),
    ] {
        assert!(seen.contains(&want), "{want:?} in {audit}");
    }
    let cartoon = rows.iter().find(|r| r["item"] == "cartoon").unwrap();
    assert_eq!(cartoon["client_ip"], "127.0.0.9");
    assert_eq!(cartoon["account_id"], kid_id.as_str());
    assert_eq!(audit["total_cents"], 900);

    // A removed member can no longer rent or see the group; their rentals stay audited.
    assert_refused(
        call(
            &state,
            (Method::DELETE, &group(&format!("/members/{owner_id}"))),
            &owner,
            None,
            "127.0.0.1",
        )
        .await,
        StatusCode::CONFLICT,
        "owner_stays",
    );
    let (s, _) = call(
        &state,
        (Method::DELETE, &kid_member),
        &owner,
        None,
        "127.0.0.1",
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_refused(
        post(&state, "/v1/rentals", &kid, rent("unrated")).await,
        StatusCode::NOT_FOUND,
        "unknown_group",
    );
    assert_refused(
        get(&state, &group(""), &kid).await,
        StatusCode::NOT_FOUND,
        "unknown_group",
    );
    let (_, mine) = get(&state, "/v1/groups", &kid).await;
    assert_eq!(mine["groups"], json!([]));
    let (_, audit) = get(&state, &group("/audit"), &owner).await;
    assert_eq!(audit["rentals"].as_array().unwrap().len(), 3, "{audit}");
    // Personal rentals are not the group's business.
    let own = json!({"item": "cartoon", "card": cards::OK, "another_copy": true});
    let (s, v) = post(&state, "/v1/rentals", &kid, own).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let (_, audit) = get(&state, &group("/audit"), &owner).await;
    assert_eq!(audit["rentals"].as_array().unwrap().len(), 3, "{audit}");
}

/// Concurrent rentals by one member that each fit the cap but not together: exactly as many
/// succeed as fit, and only those are charged.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_rentals_never_pass_a_spend_cap() {
    let dir = tempfile::tempdir().unwrap();
    let items = ["a1", "a2", "a3", "a4", "a5", "a6"];
    let (state, sandbox) = shop(dir.path(), &items).await;
    let (owner, _) = customer(&state, "boss@example.com").await;
    let (worker, _) = customer(&state, "worker@example.com").await;
    let (_, g) = post(
        &state,
        "/v1/groups",
        &owner,
        json!({"name": "Company", "card": cards::OK}),
    )
    .await;
    let id = g["group_id"].as_str().unwrap().to_owned();
    let invitation =
        json!({"email": "worker@example.com", "privileges": {"monthly_cap_cents": 1000}});
    let (_, inv) = post(
        &state,
        &format!("/v1/groups/{id}/invitations"),
        &owner,
        invitation,
    )
    .await;
    let (s, _) = post(
        &state,
        &format!("/v1/groups/{id}/join"),
        &worker,
        json!({"code": inv["code"]}),
    )
    .await;
    assert_eq!(s, StatusCode::OK);

    let before = sandbox.kept_charges().len();
    let tasks: Vec<_> = items
        .iter()
        .map(|item| {
            let (state, worker, id) = (state.clone(), worker.clone(), id.clone());
            let body = json!({"item": item, "group": id});
            tokio::spawn(async move { post(&state, "/v1/rentals", &worker, body).await })
        })
        .collect();
    let (mut created, mut busy) = (0, 0);
    for t in tasks {
        let (s, v) = t.await.unwrap();
        match (s, v["error"].as_str()) {
            (StatusCode::CREATED, _) => created += 1,
            (StatusCode::FORBIDDEN, Some("spend_cap_exceeded")) => {}
            // Lost the race for the group record too many times in a row: retry later.
            (StatusCode::SERVICE_UNAVAILABLE, Some("busy")) => busy += 1,
            _ => panic!("{s}: {v}"),
        }
    }
    // 399 cents each against a 1000-cent cap: two, unless some were told to retry.
    assert!(
        created == 2 || (created < 2 && busy > 0),
        "{created} rentals passed a cap that fits two ({busy} busy)"
    );
    assert_eq!(sandbox.kept_charges().len() - before, created);
    let (_, view) = get(&state, &format!("/v1/groups/{id}"), &worker).await;
    assert_eq!(view["you"]["spent_this_month_cents"], 399 * created as u64);
}
