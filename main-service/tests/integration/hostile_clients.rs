//! Main as a child process under hostile clients, over real sockets on 127.0.0.1: half-open
//! connections, a stalled body, a connection flood past the cap, and a flood of logins whose
//! password hashes would exhaust memory.

use crate::common;

use std::time::{Duration, Instant};

use common::{MainProcess, request};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Waits until the server closes `s` (EOF or reset), or `deadline` passes.
async fn closed_by_server(s: &mut TcpStream, deadline: Instant) -> bool {
    let mut buf = [0u8; 1024];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, s.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0) | Err(_)) => return true,
            // A 408 or similar before closing is fine.
            Ok(Ok(_)) => continue,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_open_connections_are_closed_and_do_not_block_others() {
    const HALF_OPEN: usize = 2000;
    let main = MainProcess::start("[server]\nheader_read_timeout_secs = 1\n");
    let started = Instant::now();
    let mut conns = Vec::with_capacity(HALF_OPEN);
    for _ in 0..HALF_OPEN {
        let mut s = TcpStream::connect(main.addr).await.unwrap();
        // A request header that never ends.
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: main\r\nX-Slow: ")
            .await
            .unwrap();
        conns.push(s);
    }
    let opened_in = started.elapsed();
    // An idle keep-alive connection after a complete request is closed the same way.
    let mut idle = TcpStream::connect(main.addr).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: main\r\n\r\n")
        .await
        .unwrap();
    let mut first = [0u8; 12];
    idle.read_exact(&mut first).await.unwrap();
    assert_eq!(&first, b"HTTP/1.1 200");

    let answer = request(main.addr, "GET", "/healthz", None).await;
    assert_eq!(answer.status, 200, "{}", main.stderr());

    let deadline = Instant::now() + Duration::from_secs(10);
    let mut still_open = 0;
    for s in &mut conns {
        if !closed_by_server(s, deadline).await {
            still_open += 1;
        }
    }
    assert_eq!(still_open, 0, "half-open connections left open");
    assert!(
        closed_by_server(&mut idle, deadline).await,
        "idle keep-alive left open"
    );
    eprintln!(
        "{HALF_OPEN} half-open connections opened in {opened_in:?}, all closed {:?} after the first",
        started.elapsed()
    );
    let answer = request(main.addr, "GET", "/healthz", None).await;
    assert_eq!(answer.status, 200);
}

#[tokio::test]
async fn a_stalled_body_gets_408_in_time() {
    let main = MainProcess::start("[server]\nbody_read_timeout_secs = 1\n");
    let mut s = TcpStream::connect(main.addr).await.unwrap();
    s.write_all(
        b"POST /v1/sessions HTTP/1.1\r\nHost: main\r\nContent-Type: application/json\r\n\
          Content-Length: 100\r\n\r\n{\"email\":",
    )
    .await
    .unwrap();
    let started = Instant::now();
    let answer = tokio::time::timeout(Duration::from_secs(10), common::read_answer(&mut s))
        .await
        .expect("an answer within 10 s");
    assert_eq!(answer.status, 408, "{answer:?}");
    assert_eq!(answer.body["error"], "body_timeout");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn past_the_connection_cap_new_connections_wait_for_a_slot() {
    let main = MainProcess::start("[server]\nmax_connections = 4\nheader_read_timeout_secs = 2\n");
    let mut hogs = Vec::new();
    for _ in 0..4 {
        let mut s = TcpStream::connect(main.addr).await.unwrap();
        s.write_all(b"GET /healthz HTTP/1.1\r\n").await.unwrap();
        hogs.push(s);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    let answer = request(main.addr, "GET", "/healthz", None).await;
    let waited = started.elapsed();
    assert_eq!(answer.status, 200);
    // Served only once the header timeout freed a slot: the cap held.
    assert!(
        waited >= Duration::from_millis(1500),
        "served after {waited:?}: the cap did not hold"
    );
    assert!(waited < Duration::from_secs(6), "served after {waited:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_flood_keeps_memory_flat_and_says_retry_later() {
    const LOGINS: usize = 200;
    /// What main may grow by under the flood: 200 hashes at once would take ~3.8 GiB. What it
    /// does grow by (~170 MiB measured) is the hashing threads' allocator arenas and the
    /// store's blocking reads of 200 concurrent requests.
    const MAX_GROWTH_KIB: u64 = 256 * 1024;
    // Rate limits and lockout off (as good as): this is about the hashing pool behind them.
    let main = MainProcess::start(
        "[limits]\nlockout_failures = 100000\n\
         login_ip = { per_period = 100000, period_secs = 1, burst = 100000 }\n\
         login_account = { per_period = 100000, period_secs = 1, burst = 100000 }\n",
    );
    let creds = r#"{"email":"a@example.com","password":"correct horse"}"#;
    let answer = request(main.addr, "POST", "/v1/accounts", Some(creds)).await;
    assert_eq!(answer.status, 201, "{answer:?}");
    // Warm up: a few hashes so the allocator's steady state is in the baseline.
    for _ in 0..3 {
        assert_eq!(
            request(main.addr, "POST", "/v1/sessions", Some(creds))
                .await
                .status,
            200
        );
    }
    let baseline = main.rss_kib();
    let wrong = r#"{"email":"a@example.com","password":"wrong horse"}"#;
    let addr = main.addr;
    let logins: Vec<_> = (0..LOGINS)
        .map(|_| {
            tokio::spawn(async move { request(addr, "POST", "/v1/sessions", Some(wrong)).await })
        })
        .collect();
    let mut peak = baseline;
    let sampler = async {
        loop {
            peak = peak.max(main.rss_kib());
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    let started = Instant::now();
    let answers = tokio::select! {
        answers = futures::future::join_all(logins) => answers,
        () = sampler => unreachable!(),
    };
    let took = started.elapsed();
    peak = peak.max(main.rss_kib());
    let (mut refused, mut busy) = (0, 0);
    for a in answers {
        let a = a.unwrap();
        match a.status {
            401 => refused += 1,
            503 => {
                assert_eq!(a.body["error"], "busy", "{a:?}");
                assert!(a.header("retry-after").is_some(), "{a:?}");
                busy += 1;
            }
            other => panic!("{other}: {a:?}"),
        }
    }
    eprintln!(
        "{LOGINS} wrong-password logins in {took:?}: {refused} × 401, {busy} × 503; \
         RSS {baseline} KiB before, peak {peak} KiB (+{} KiB)",
        peak - baseline
    );
    assert!(busy > 0, "nothing was shed");
    assert!(refused > 0, "nothing was served");
    assert!(
        peak - baseline < MAX_GROWTH_KIB,
        "RSS grew by {} KiB",
        peak - baseline
    );
    // And main still answers.
    assert_eq!(
        request(main.addr, "POST", "/v1/sessions", Some(creds))
            .await
            .status,
        200
    );
}
