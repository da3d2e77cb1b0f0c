//! The edge as an attacker and an unlucky customer try it, through real processes: edges that
//! deliver platform headers the way Spin does (the client's own `spin-client-addr` stays, the
//! platform's is appended), internal calls without the edge's signature, token errors, the range
//! corners of RFC 9110, `If-None-Match`, and a cached chunk whose bytes changed on the edge's disk.

use std::net::IpAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use e2e::network::{Network, Options, clients, command, write_content};
use e2e::process::run;
use reqwest::StatusCode;
use reqwest::blocking::{Client, Response};

const MIB: u64 = 1 << 20;

fn client_from(ip: &str) -> Client {
    Client::builder()
        .local_address(ip.parse::<IpAddr>().unwrap())
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap()
}

fn get(client: &Client, url: &str, headers: &[(&str, &str)]) -> Response {
    let mut req = client.get(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.send().unwrap()
}

/// Registers `email` with the player in `home`, logs in, rents `item`; the download URL.
fn rent(net: &Network, home: &Path, email: &str, item: &str) -> String {
    net.customer(home, email).unwrap();
    net.rent(home, item).unwrap()
}

/// Reads one response to a GET from `conn`: its head, in lower case, and its body.
fn read_response(conn: &mut impl std::io::BufRead) -> (String, Vec<u8>) {
    let mut head = String::new();
    loop {
        let mut line = String::new();
        assert!(
            conn.read_line(&mut line).unwrap() > 0,
            "closed within a head: {head}"
        );
        head.push_str(&line.to_lowercase());
        if line == "\r\n" {
            break;
        }
    }
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length: "))
        .map_or(0, |v| v.trim().parse().unwrap());
    let mut body = vec![0; len];
    conn.read_exact(&mut body).unwrap();
    (head, body)
}

/// A new connection to `addr` from the EU client address, read through a buffer.
fn connect(addr: &str) -> (std::net::TcpStream, std::io::BufReader<std::net::TcpStream>) {
    let conn = std::net::TcpStream::connect(addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let reader = std::io::BufReader::new(conn.try_clone().unwrap());
    (conn, reader)
}

fn text(r: Response) -> String {
    r.text().unwrap_or_default()
}

#[test]
fn the_edge_trusts_only_the_platform_and_never_serves_changed_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let opts = Options {
        edges: vec![("edge-eu-1".into(), "eu".into())],
        prefill_interval_secs: 0,
        spin_like_headers: true,
        ..Options::default()
    };
    Network::start(dir, &opts)
        .unwrap()
        .walk(|net| walk(net, dir));
}

fn walk(net: &Network, dir: &Path) {
    let src = dir.join("eu-film.bin");
    write_content(&src, 3 * MIB + 777, 7).unwrap();
    net.ingest("eu-film", "EU Film", None, &["eu"], &src)
        .unwrap();
    let url = rent(net, &dir.join("player"), "eve@example.com", "eu-film");
    let eu = client_from(clients::EU);
    let us = client_from(clients::US);

    // 1. A client in the US claiming an EU address: the platform's value (last) decides.
    let forged = [("spin-client-addr", "127.0.0.5:1"), ("range", "bytes=0-99")];
    let r = get(&us, &format!("{url}&sid=forged"), &forged);
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(text(r).contains("region_denied"));
    assert!(
        net.edges[0]
            .server
            .log_tail()
            .contains("carried its own spin-client-addr")
    );

    // 2. Internal calls need the edge's signature; a header anyone can send proves nothing.
    let edge = net.edges[0].server.url();
    let prefill = format!("{edge}/v1/internal/prefill");
    for (name, value) in [
        ("x-edge-internal", "prefill"),
        ("x-edge-signature", "t=1,s=00"),
        (
            "x-edge-signature",
            &protocol::internal::sign_call(
                "guess",
                "POST",
                "/v1/internal/prefill",
                protocol::unix_now(),
            ),
        ),
    ] {
        let r = eu.post(&prefill).header(name, value).send().unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{name}: {value}");
        assert!(text(r).contains("x-edge-signature"));
    }
    let mut call = command("edge-host");
    call.args(["call", "prefill", "--edge", &edge])
        .env("EDGE_SECRET", &net.edges[0].secret);
    let report = run(call, Duration::from_secs(120)).unwrap();
    assert!(report.contains("filled_chunks"), "{report}");

    // 3. A tampered token: a stable code and sentence, no library internals.
    let mut tampered = url.clone();
    let flip = if tampered.ends_with('A') { "B" } else { "A" };
    tampered.replace_range(tampered.len() - 1.., flip);
    let r = get(&eu, &tampered, &[("range", "bytes=0-9")]);
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let body = text(r);
    assert!(
        body.contains("bad_token") && body.contains("not valid"),
        "{body}"
    );
    for internal in ["Signature", "JWT", "compact", "tag"] {
        assert!(!body.contains(internal), "{body}");
    }

    // 3b. One request id from the client through the edge to main: echoed, in both logs.
    let traced = format!("{url}&sid=traced");
    let r = get(
        &eu,
        &traced,
        &[("x-request-id", "dl-trace-42"), ("range", "bytes=0-9")],
    );
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(r.headers()["x-request-id"], "dl-trace-42");
    let forged = get(
        &eu,
        &traced,
        &[("x-request-id", "a b=\"c\""), ("range", "bytes=0-9")],
    );
    let fresh = forged.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        fresh.len() == 32 && fresh.bytes().all(|b| b.is_ascii_hexdigit()),
        "{fresh}"
    );
    assert!(net.edges[0].server.log_tail().contains("dl-trace-42"));
    let main_log = net.main.log_tail();
    assert!(
        main_log
            .lines()
            .any(|l| l.contains("dl-trace-42") && l.contains("/v1/edge/authorize")),
        "{main_log}"
    );
    let metrics = text(
        eu.get(format!("{}/metrics", net.main.url()))
            .send()
            .unwrap(),
    );
    for line in [
        "cdn_main_http_requests_total{route=\"/v1/edge/authorize\",status=\"200\"}",
        "cdn_main_http_request_duration_seconds_bucket{le=",
        "cdn_main_rentals_total{outcome=\"created\"} 1",
    ] {
        assert!(metrics.contains(line), "{line} missing in\n{metrics}");
    }

    // 4. The whole object once (a miss that fills), then its validators.
    let session = format!("{url}&sid=one");
    let r = get(&eu, &session, &[]);
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["cache-control"], "private");
    let etag = r.headers()["etag"].to_str().unwrap().to_owned();
    let whole = r.bytes().unwrap();
    let len = whole.len() as u64;
    let r = get(&eu, &session, &[("if-none-match", &etag)]);
    assert_eq!(r.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(r.headers()["etag"], etag.as_str());
    assert!(r.bytes().unwrap().is_empty());

    // 5. Range corners (RFC 9110 §14).
    let r = get(&eu, &session, &[("range", "bytes=-0")]);
    assert_eq!(r.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(
        r.headers()["content-range"],
        format!("bytes */{len}").as_str()
    );
    for last in [
        format!("{}", len + 10),
        u64::MAX.to_string(),
        "18446744073709551616".into(),
        "9".repeat(30),
    ] {
        let r = get(&eu, &session, &[("range", &format!("bytes=1000-{last}"))]);
        assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT, "last {last}");
        assert_eq!(
            r.headers()["content-range"],
            format!("bytes 1000-{}/{len}", len - 1).as_str()
        );
        assert_eq!(r.bytes().unwrap(), whole[1000..]);
    }

    // 5b. Session "one" is granted and every byte is cached: edge-host answers its requests
    // alone, on the component's session pass — the same bytes and head the component sends.
    let metrics = || text(eu.get(format!("{edge}/metrics")).send().unwrap());
    let alone = |m: &str| -> u64 {
        m.lines()
            .find_map(|l| l.strip_prefix("cdn_edge_session_pass_responses_total "))
            .map_or(0, |v| v.parse().unwrap())
    };
    let before = alone(&metrics());
    assert!(before > 0, "the range corners were answered alone");
    let r = get(
        &eu,
        &session,
        &[("range", "bytes=100-1123"), ("if-range", &etag)],
    );
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(r.headers()["cache-control"], "private");
    assert_eq!(r.headers()["x-cache"], "HIT");
    assert_eq!(r.bytes().unwrap(), whole[100..1124]);
    let r = get(&eu, &session, &[("if-none-match", &etag)]);
    assert_eq!(r.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(alone(&metrics()), before + 2);
    // The pass is this client's: the same URL from another address goes to the component, which
    // asks main (and main refuses a US address for an EU-only title).
    let r = get(&us, &session, &[("range", "bytes=0-9")]);
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(text(r).contains("region_denied"));

    // 5c. A new connection of the session: edge-host sends its pipelined hits itself with
    // sendfile, then hands the connection to hyper at the first request that is not one.
    let direct = |m: &str| -> u64 {
        m.lines()
            .find_map(|l| l.strip_prefix("cdn_edge_direct_responses_total "))
            .map_or(0, |v| v.parse().unwrap())
    };
    let direct_before = direct(&metrics());
    let target = session.strip_prefix(edge.as_str()).unwrap();
    let (mut conn, mut reader) = connect(edge.strip_prefix("http://").unwrap());
    std::io::Write::write_all(
        &mut conn,
        format!(
            "GET {target} HTTP/1.1\r\nHost: edge\r\nRange: bytes=10-99\r\n\r\n\
             GET {target} HTTP/1.1\r\nHost: edge\r\n\r\n\
             GET {target} HTTP/1.1\r\nHost: edge\r\nRange: bytes=-0\r\n\r\n"
        )
        .as_bytes(),
    )
    .unwrap();
    let (head, body) = read_response(&mut reader);
    assert!(head.starts_with("http/1.1 206 "), "{head}");
    assert!(head.contains(&format!("content-range: bytes 10-99/{len}")));
    assert_eq!(body, whole[10..100]);
    let (head, body) = read_response(&mut reader);
    assert!(head.starts_with("http/1.1 200 "), "{head}");
    assert!(head.contains("cache-control: private"));
    assert_eq!(body, whole, "the whole object, sent with sendfile");
    let (head, _) = read_response(&mut reader);
    assert!(head.starts_with("http/1.1 416 "), "{head}");
    assert_eq!(direct(&metrics()), direct_before + 2);
    // After hyper's answer to the unsatisfiable range (the component's), the connection comes
    // back: the next GET is sent with sendfile again.
    std::io::Write::write_all(
        &mut conn,
        format!("GET {target} HTTP/1.1\r\nHost: edge\r\nRange: bytes=0-4\r\n\r\n").as_bytes(),
    )
    .unwrap();
    let (head, body) = read_response(&mut reader);
    assert!(head.starts_with("http/1.1 206 "), "{head}");
    assert_eq!(body, whole[..5]);
    assert_eq!(direct(&metrics()), direct_before + 3);

    // 6. Sixteen bytes of a cached chunk flipped on the edge's disk (same length).
    let chunk = net.edges[0].kv_dir.join("chunk%2Feu-film%2Fv1%2F1");
    let mut bytes = std::fs::read(&chunk).unwrap_or_else(|e| panic!("{}: {e}", chunk.display()));
    for b in &mut bytes[5000..5016] {
        *b ^= 0x5a;
    }
    std::fs::write(&chunk, &bytes).unwrap();
    for round in 0..2 {
        let r = get(&eu, &session, &[]);
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(
            r.bytes().unwrap(),
            whole,
            "round {round}: wrong bytes served"
        );
    }
    assert_ne!(
        std::fs::read(&chunk).unwrap(),
        bytes,
        "the chunk was refilled"
    );
    // edge-host found the chunk changed before sending any of it and handed the rest of the
    // response back to the component, which dropped the chunk, counted it and refilled it.
    let log = net.edges[0].server.log_tail();
    assert_eq!(
        log.matches("handing the rest of a cached response back")
            .count(),
        1,
        "{log}"
    );
    assert_eq!(
        log.matches("edge-fn: cached chunk/eu-film/v1/1 changed at rest")
            .count(),
        1,
        "{log}"
    );
    let stat = std::fs::read_to_string(net.edges[0].kv_dir.join("stats%2Fcorrupt_chunks")).unwrap();

    // 7. The edge's metrics (loopback may read them): the corrupt chunk, hits, and one authorize
    // call per download session and client — the forged one (denied), session "traced",
    // session "one" with its dozen requests, and session "one" from the US (denied).
    let metrics = metrics();
    for line in [
        "cdn_edge_corrupt_chunks 1",
        "cdn_edge_handoff_fallbacks_total{reason=\"changed\"} 1",
        "cdn_edge_authorize_calls_total 4",
        "cdn_edge_cache_lookups_total{zone=\"licensed\",result=\"hit\"}",
        "cdn_edge_served_bytes_total{zone=\"licensed\"}",
        "cdn_edge_health_degraded 0",
    ] {
        assert!(metrics.contains(line), "{line} missing in\n{metrics}");
    }
    // A counter on edge-host's disk store: 20 zero-padded characters.
    assert_eq!(stat.parse::<i64>().unwrap(), 1, "{stat:?}");
}

/// A stuck peer is a dead peer: with the nearest parent stopped (SIGSTOP: its sockets accept and
/// answer nothing) a download fails over to another parent, and with main stopped a new session
/// gets 503 `main_unreachable` — each within the edge's outbound timeouts, not minutes.
///
/// The 2 s timeouts are the component's own Spin variables, sent as wasi-http request options as
/// on Spin; edge-host's caps stay at their defaults (15 s first byte), so an answer within 8 s
/// shows the component's options are what limited the wait.
#[test]
fn a_stuck_parent_or_main_is_treated_as_dead() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let opts = Options {
        edges: vec![("edge-eu-1".into(), "eu".into())],
        prefill_interval_secs: 0,
        edge_variables: "outbound_first_byte_timeout_secs = \"2\"\n\
                         outbound_idle_timeout_secs = \"2\""
            .into(),
        ..Options::default()
    };
    let net = Network::start(dir, &opts).unwrap();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| stuck(&net, dir)));
    for p in &net.parents {
        p.server.signal("CONT");
    }
    net.main.signal("CONT");
    if let Err(e) = result {
        eprintln!("{}", net.logs());
        std::panic::resume_unwind(e);
    }
}

fn stuck(net: &Network, dir: &Path) {
    let src = dir.join("film.bin");
    write_content(&src, 2 * MIB + 5, 9).unwrap();
    net.ingest("film", "Film", None, &[], &src).unwrap();
    net.sync_parents().unwrap();
    let url = rent(net, &dir.join("player"), "sam@example.com", "film");
    let eu = client_from(clients::EU);

    // The eu parent (first for an eu edge) stops: the fill moves on to another parent.
    let primary = net.parents.iter().find(|p| p.region == "eu").unwrap();
    primary.server.signal("STOP");
    let started = Instant::now();
    let r = get(&eu, &format!("{url}&sid=a"), &[]);
    let failover = started.elapsed();
    assert_eq!(r.status(), StatusCode::OK);
    let body = r.bytes().unwrap();
    primary.server.signal("CONT");
    let sealed = std::fs::read(primary.root.join("parents/items/film/v1.sealed")).unwrap();
    assert_eq!(body, sealed, "bytes from the other parents");
    assert!(
        failover < Duration::from_secs(8),
        "failover took {failover:?}"
    );
    eprintln!("failover past a stopped parent: {failover:?}");

    // Main stops: a new session cannot be authorized, and the client hears so quickly.
    net.main.signal("STOP");
    let started = Instant::now();
    let r = get(&eu, &format!("{url}&sid=b"), &[("range", "bytes=0-9")]);
    let answered = started.elapsed();
    let health = edge_health(&eu, net);
    net.main.signal("CONT");
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(text(r).contains("main_unreachable"));
    assert!(
        answered < Duration::from_secs(8),
        "answered after {answered:?}"
    );
    eprintln!("503 with main stopped after {answered:?}");
    assert_eq!(health["status"], "degraded", "{health}");
    assert!(
        health.to_string().contains("main is unreachable"),
        "{health}"
    );

    // The edge's disk is full: it still serves the right bytes, and says it is degraded.
    let kv = &net.edges[0].kv_dir;
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=64k", "tmpfs"])
        .arg(kv)
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        eprintln!("SKIPPED: the disk-full check needs `mount -t tmpfs` (root)");
        return;
    }
    let r = get(&eu, &format!("{url}&sid=c"), &[]);
    let status = r.status();
    let full = r.bytes().unwrap();
    let health = edge_health(&eu, net);
    let _ = std::process::Command::new("umount").arg(kv).status();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(full, sealed, "served through with a full disk");
    assert_eq!(health["status"], "degraded", "{health}");
    assert!(
        health.to_string().contains("cache writes are failing"),
        "{health}"
    );
}

fn edge_health(client: &Client, net: &Network) -> serde_json::Value {
    let url = format!("{}/healthz", net.edges[0].server.url());
    let r = client.get(url).send().unwrap();
    assert_eq!(r.status(), StatusCode::OK, "a degraded edge still serves");
    r.json().unwrap()
}
