//! Rate limits and login lockout over real sockets: main as a child process with small limits,
//! a client past each of them, and what it is told.

use crate::common;

use common::{Answer, MainProcess, request, request_with};

const LIMITS: &str = "[limits]\n\
    lockout_failures = 3\n\
    lockout_secs = 600\n\
    login_ip = { per_period = 8, period_secs = 60, burst = 8 }\n\
    login_account = { per_period = 6, period_secs = 60, burst = 6 }\n\
    rentals = { per_period = 2, period_secs = 60, burst = 2 }\n\
    authorize_token = { per_period = 2, period_secs = 3600, burst = 2 }\n";

fn limited(a: &Answer, error: &str) -> u64 {
    assert_eq!(a.status, 429, "{a:?}");
    assert_eq!(a.body["error"], error, "{a:?}");
    let secs: u64 = a
        .header("retry-after")
        .unwrap_or_else(|| panic!("no Retry-After: {a:?}"))
        .parse()
        .unwrap();
    assert!(secs >= 1, "{a:?}");
    secs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_limit_answers_429_with_retry_after_and_a_reason() {
    let main = MainProcess::start(LIMITS);
    let addr = main.addr;
    let creds =
        |email: &str, password: &str| format!(r#"{{"email":"{email}","password":"{password}"}}"#);
    let login =
        |body: String| async move { request(addr, "POST", "/v1/sessions", Some(&body)).await };

    // Registrations and logins share the per-address budget (8): 2 registrations here.
    for email in ["ann@example.com", "bob@example.com"] {
        let a = request(
            addr,
            "POST",
            "/v1/accounts",
            Some(&creds(email, "correct horse")),
        )
        .await;
        assert_eq!(a.status, 201, "{a:?}");
    }

    // Three wrong passwords lock ann's logins, the right password too, with the time left.
    for _ in 0..3 {
        assert_eq!(
            login(creds("ann@example.com", "wrong horse")).await.status,
            401
        );
    }
    let locked = login(creds("ann@example.com", "correct horse")).await;
    let secs = limited(&locked, "account_locked");
    assert!((590..=600).contains(&secs), "{locked:?}");
    let message = locked.body["message"].as_str().unwrap();
    assert!(message.contains("locked for 10 more minute"), "{message}");

    // bob is not locked; a right password resets nothing it should not.
    let a = login(creds("bob@example.com", "correct horse")).await;
    assert_eq!(a.status, 200, "{a:?}");
    let session = a.body["session"].as_str().unwrap().to_owned();

    // The address has used 2 + 3 + 1 = 6 of 8 (the locked attempt was refused before it
    // counted): two more logins, then 429 rate_limited naming the limit.
    for _ in 0..2 {
        assert_eq!(
            login(creds("bob@example.com", "correct horse"))
                .await
                .status,
            200
        );
    }
    let a = login(creds("bob@example.com", "correct horse")).await;
    limited(&a, "rate_limited");
    assert_eq!(a.body["limit"], "login_ip", "{a:?}");

    // Rentals per account: two (unknown items: refused after the limit check), then 429.
    let bearer = format!("Bearer {session}");
    let rent = || async {
        request_with(
            addr,
            "POST",
            "/v1/rentals",
            &[("authorization", &bearer), ("idempotency-key", "k-1")],
            Some(r#"{"item":"no-such-item","card":"4242424242424242"}"#),
        )
        .await
    };
    for _ in 0..2 {
        assert_eq!(rent().await.status, 404);
    }
    let a = rent().await;
    limited(&a, "rate_limited");
    assert_eq!(a.body["limit"], "rentals");

    // Authorize per token: an edge asking for one token a third time gets a denial it passes on
    // to its client as is: 429 rate_limited.
    let edge = [
        ("x-edge-id", "edge-eu-1"),
        ("authorization", "Bearer edge-eu-1-secret-0123456789"),
    ];
    let ask = r#"{"token":"not-a-token","item":"film","client_ip":"127.0.0.1"}"#;
    for _ in 0..2 {
        let a = request_with(addr, "POST", "/v1/edge/authorize", &edge, Some(ask)).await;
        assert_eq!(a.status, 401, "{a:?}");
    }
    let a = request_with(addr, "POST", "/v1/edge/authorize", &edge, Some(ask)).await;
    limited(&a, "rate_limited");
    let other = r#"{"token":"another","item":"film","client_ip":"127.0.0.1"}"#;
    let a = request_with(addr, "POST", "/v1/edge/authorize", &edge, Some(other)).await;
    assert_eq!(a.status, 401, "another token has its own budget: {a:?}");

    // Operators see every refusal by limit.
    let metrics = request(addr, "GET", "/metrics", None).await.text;
    for line in [
        "cdn_main_rate_limited_total{limit=\"lockout\"} 1",
        "cdn_main_rate_limited_total{limit=\"login_ip\"} 1",
        "cdn_main_rate_limited_total{limit=\"rentals\"} 1",
        "cdn_main_rate_limited_total{limit=\"authorize_token\"} 1",
        "cdn_main_authorize_decisions_total{outcome=\"rate_limited\"} 1",
    ] {
        assert!(metrics.contains(line), "{line} missing in\n{metrics}");
    }
}

#[test]
fn bad_limits_are_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("main.toml");
    let config = format!(
        "{}\n[limits]\nrentals = {{ per_period = 0, period_secs = 60, burst = 1 }}\n",
        common::CONFIG.replace("/unused", &dir.path().display().to_string())
    );
    std::fs::write(&path, config).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_main-service"))
        .arg("--config")
        .arg(&path)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("limits.rentals"), "{stderr}");
}
