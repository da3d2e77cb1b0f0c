//! The whole network end to end, as real processes on loopback: ingest → replicated to all
//! parents → hot item prefilled on the edges → register, rent → download through an edge (a miss
//! that fills, then a hit; an interrupted download resumed, by the player and by curl) → licence
//! bind, enable → the decrypted output equals the original bytes. Then the refusals.

use std::net::IpAddr;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use e2e::network::{Network, Options, clients, file_digest, write_content};
use e2e::process::run;
use reqwest::StatusCode;
use reqwest::blocking::{Client, Response};

const MIB: u64 = 1 << 20;
const STEP: Duration = Duration::from_secs(300);

fn client_from(ip: &str) -> Client {
    Client::builder()
        .local_address(ip.parse::<IpAddr>().unwrap())
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap()
}

fn player(net: &Network, home: &Path, args: &[&str]) -> anyhow::Result<String> {
    let mut cmd = net.player(home);
    cmd.args(args);
    run(cmd, STEP)
}

fn field(out: &str, prefix: &str) -> String {
    out.lines()
        .find_map(|l| l.strip_prefix(prefix))
        .unwrap_or_else(|| panic!("no line starting {prefix:?} in:\n{out}"))
        .trim()
        .to_owned()
}

fn get(client: &Client, url: &str, range: Option<&str>) -> Response {
    let mut req = client.get(url);
    if let Some(r) = range {
        req = req.header("range", r);
    }
    req.send().unwrap()
}

fn head(client: &Client, url: &str) -> Response {
    client.head(url).send().unwrap()
}

fn x_cache(resp: &Response) -> String {
    resp.headers()
        .get("x-cache")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

/// Same edge, another item or another token: swap parts of a download URL.
fn with_token(url: &str, token: &str) -> String {
    format!("{}?token={token}", url.split('?').next().unwrap())
}

fn object_len(net: &Network, item: &str) -> u64 {
    let v: serde_json::Value = Client::new()
        .get(format!("{}/v1/catalog/{item}", net.main.url()))
        .send()
        .unwrap()
        .json()
        .unwrap();
    v["object_len"].as_u64().unwrap()
}

#[test]
fn rent_download_licence_play_and_every_refusal() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    Network::start(dir, &Options::default())
        .unwrap()
        .walk(|net| walk(net, dir));
}

fn walk(net: &Network, dir: &Path) {
    // Ingest a hot item and a cold one restricted to eu and us.
    let hot_src = dir.join("hot.bin");
    let cold_src = dir.join("cold.bin");
    write_content(&hot_src, 6 * MIB + 7, 1).unwrap();
    write_content(&cold_src, 40 * MIB + 12_345, 2).unwrap();
    net.ingest("hot-film", "Hot Film", Some(1), &[], &hot_src)
        .unwrap();
    net.ingest("cold-film", "Cold Film", None, &["eu", "us"], &cold_src)
        .unwrap();

    // Replicated to every parent, byte for byte.
    let report = net.sync_parents().unwrap();
    eprintln!("parent-sync: {report}");
    for item in ["hot-film", "cold-film"] {
        let digests: Vec<String> = net
            .parents
            .iter()
            .map(|p| {
                let path = p.root.join("parents/items").join(item).join("v1.sealed");
                file_digest(&path).unwrap_or_else(|e| panic!("{item} missing on {}: {e}", p.name))
            })
            .collect();
        assert!(
            digests.windows(2).all(|w| w[0] == w[1]),
            "{item} differs between parents"
        );
    }

    // A customer registers, logs in and rents.
    let home = dir.join("player-1");
    player(
        net,
        &home,
        &[
            "register",
            "--email",
            "ann@example.com",
            "--password",
            "correct horse",
        ],
    )
    .unwrap();
    player(
        net,
        &home,
        &[
            "login",
            "--email",
            "ann@example.com",
            "--password",
            "correct horse",
        ],
    )
    .unwrap();
    let declined = player(
        net,
        &home,
        &["rent", "cold-film", "--card", "4000000000000002"],
    )
    .unwrap_err()
    .to_string();
    assert!(declined.to_lowercase().contains("declined"), "{declined}");
    let out = player(net, &home, &["rent", "hot-film"]).unwrap();
    let hot_url = field(&out, "download_url:");
    let out = player(net, &home, &["rent", "cold-film"]).unwrap();
    let cold_url = field(&out, "download_url:");
    let eu = client_from(clients::EU);

    // The hot item was prefilled on every edge: a whole-object HEAD reports a hit everywhere.
    let hot_token = hot_url.split("token=").nth(1).unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(120);
    for edge in &net.edges {
        let url = format!(
            "{}/v1/content/hot-film?token={hot_token}&sid=probe",
            edge.server.url()
        );
        loop {
            let r = head(&eu, &url);
            assert_eq!(r.status(), StatusCode::OK, "{}", edge.id);
            if x_cache(&r) == "HIT" {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{} never prefilled hot-film",
                edge.id
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    // Cold item: a range is a miss that fills, then a hit; headers are right.
    let cold_len = object_len(net, "cold-film");
    let url = format!("{cold_url}&sid=ranges");
    let r = get(&eu, &url, Some("bytes=1000000-3999999"));
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(x_cache(&r), "MISS");
    assert_eq!(
        r.headers()["content-range"],
        format!("bytes 1000000-3999999/{cold_len}").as_str()
    );
    assert_eq!(r.headers()["accept-ranges"], "bytes");
    assert!(r.headers().contains_key("etag"));
    let first = r.bytes().unwrap();
    assert_eq!(first.len(), 3_000_000);
    let r = get(&eu, &url, Some("bytes=1000000-3999999"));
    assert_eq!(x_cache(&r), "HIT");
    assert_eq!(r.bytes().unwrap(), first);
    let r = get(&eu, &url, Some(&format!("bytes={cold_len}-")));
    assert_eq!(r.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(
        r.headers()["content-range"],
        format!("bytes */{cold_len}").as_str()
    );

    // curl -C - resumes a partial download (same session: no extra use).
    let partial = dir.join("curl.sealed");
    let curl_url = format!("{cold_url}&sid=curl");
    run(
        cmd(
            "curl",
            &[
                "-sSf",
                "--range",
                "0-5242879",
                "-o",
                partial.to_str().unwrap(),
                &curl_url,
            ],
        ),
        STEP,
    )
    .unwrap();
    assert_eq!(std::fs::metadata(&partial).unwrap().len(), 5 * MIB);
    run(
        cmd(
            "curl",
            &[
                "-sSf",
                "-C",
                "-",
                "-o",
                partial.to_str().unwrap(),
                &curl_url,
            ],
        ),
        STEP,
    )
    .unwrap();
    assert_eq!(std::fs::metadata(&partial).unwrap().len(), cold_len);

    // The player downloads; killed midway, it resumes from its last verified chunk.
    let sealed = home.join("downloads/cold-film.sealed");
    let mut child = net
        .player(&home)
        .args(["download", "cold-film"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let verified_at_kill = wait_for_partial(&home, &mut child);
    let total_chunks = (40 * MIB + 12_345).div_ceil(MIB);
    assert!(
        verified_at_kill < total_chunks,
        "interrupted at {verified_at_kill} of {total_chunks} chunks"
    );
    let out = player(net, &home, &["download", "cold-film"]).unwrap();
    assert!(out.contains("downloaded:"), "{out}");
    assert_eq!(std::fs::metadata(&sealed).unwrap().len(), cold_len);
    assert_eq!(
        file_digest(&sealed).unwrap(),
        file_digest(&partial).unwrap(),
        "player and curl got the same object"
    );
    eprintln!("player resumed after an interruption at {verified_at_kill} verified chunks");

    // Licence bound to this device, enabled, played: the output is the original.
    player(net, &home, &["licence", "cold-film"]).unwrap();
    player(net, &home, &["enable", "cold-film"]).unwrap();
    let played = dir.join("cold.out");
    let out = player(
        net,
        &home,
        &["play", "cold-film", "--out", played.to_str().unwrap()],
    )
    .unwrap();
    assert!(out.contains("played:"), "{out}");
    assert_eq!(
        file_digest(&played).unwrap(),
        file_digest(&cold_src).unwrap()
    );

    // Refusals.
    // The licence on a second device (the same account, the same rental).
    let home2 = dir.join("player-2");
    player(
        net,
        &home2,
        &[
            "login",
            "--email",
            "ann@example.com",
            "--password",
            "correct horse",
        ],
    )
    .unwrap();
    std::fs::create_dir_all(home2.join("rentals")).unwrap();
    std::fs::copy(
        home.join("rentals/cold-film.json"),
        home2.join("rentals/cold-film.json"),
    )
    .unwrap();
    let err = player(net, &home2, &["licence", "cold-film"])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("another device") || err.contains("bound_elsewhere"),
        "{err}"
    );
    // A token for another item.
    let r = get(&eu, &with_token(&cold_url, &hot_token), Some("bytes=0-99"));
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // A tampered token.
    let cold_token = cold_url.split("token=").nth(1).unwrap();
    let mut tampered = cold_token.to_owned();
    let flip = if tampered.ends_with('A') { "B" } else { "A" };
    tampered.replace_range(tampered.len() - 1.., flip);
    let r = get(&eu, &with_token(&cold_url, &tampered), Some("bytes=0-99"));
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // The 4th download session of a 3-use token (sessions: ranges, curl, player so far).
    let r = get(&eu, &format!("{cold_url}&sid=fourth"), Some("bytes=0-99"));
    assert_eq!(r.status(), StatusCode::GONE, "{:?}", r.text());
    // A client in a denied country, with a fresh token.
    let out = player(
        net,
        &home,
        &["rent", "cold-film", "--idempotency-key", "second-rental"],
    )
    .unwrap();
    let fresh = field(&out, "download_url:");
    let denied = client_from(clients::DENIED);
    let r = get(&denied, &fresh, Some("bytes=0-99"));
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let body: serde_json::Value = r.json().unwrap();
    assert_eq!(body["error"], "region_denied");
    // A play after the window: the clock moves 25 h on.
    let later = (protocol::unix_now() + 25 * 3600).to_string();
    let mut cmd = net.player(&home);
    cmd.args([
        "play",
        "cold-film",
        "--out",
        dir.join("late.out").to_str().unwrap(),
    ])
    .env("PLAYER_NOW", later);
    let err = run(cmd, STEP).unwrap_err().to_string();
    assert!(err.contains("window"), "{err}");
    assert!(
        !dir.join("late.out").exists()
            || std::fs::metadata(dir.join("late.out")).unwrap().len() == 0
    );
}

fn cmd(program: &str, args: &[&str]) -> Command {
    let mut c = Command::new(program);
    c.args(args);
    c
}

/// Waits until the player has verified some chunks, then kills it. Returns the verified chunk
/// count at the kill.
fn wait_for_partial(home: &Path, child: &mut std::process::Child) -> u64 {
    let state = home.join("downloads/cold-film.sealed.state.json");
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let verified = std::fs::read_to_string(&state)
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .and_then(|v| v["verified_chunks"].as_u64())
            .unwrap_or(0);
        if verified >= 2 {
            let _ = child.kill();
            let _ = child.wait();
            return verified;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the download finished before it could be interrupted"
        );
        assert!(
            Instant::now() < deadline,
            "player download made no progress"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}
