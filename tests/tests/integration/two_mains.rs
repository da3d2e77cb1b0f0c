//! Main scales out: two mains over one DynamoDB table (moto, started by the harness) share every
//! account, rental, token and session. Edges and the player are given both; one main is killed
//! in the middle of a download, and the download, the licence and playback complete through the
//! other.

use std::net::IpAddr;
use std::time::Duration;

use e2e::network::{Network, Options, clients, write_content};
use e2e::process::run;
use reqwest::StatusCode;
use reqwest::blocking::Client;

const MIB: u64 = 1 << 20;

#[test]
fn a_download_completes_when_one_of_two_mains_dies() {
    if !e2e::moto::available() {
        println!("SKIPPED: two mains need moto (pip install 'moto[server]'), the local DynamoDB");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let opts = Options {
        edges: vec![("edge-eu-1".into(), "eu".into())],
        prefill_interval_secs: 0,
        dynamodb: true,
        mains: 2,
        ..Options::default()
    };
    Network::start(dir, &opts)
        .unwrap()
        .walk(|net| survive(net, dir));
}

fn survive(net: &mut Network, dir: &std::path::Path) {
    let src = dir.join("film.bin");
    write_content(&src, 8 * MIB + 5, 21).unwrap();
    net.ingest("film", "Film", None, &[], &src).unwrap();
    net.sync_parents().unwrap();
    let primary = net.parents.iter().find(|p| p.region == "eu").unwrap();
    let sealed = std::fs::read(primary.root.join("parents/items/film/v1.sealed")).unwrap();

    // Account, rental and token are made through the first main...
    let home = dir.join("player");
    net.customer(&home, "ann@example.com").unwrap();
    let url = net.rent(&home, "film").unwrap();

    // ...a download manager fetches the first half...
    let client = Client::builder()
        .local_address(clients::EU.parse::<IpAddr>().unwrap())
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap();
    let half = sealed.len() / 2;
    let first = client
        .get(format!("{url}&sid=first"))
        .header("range", format!("bytes=0-{}", half - 1))
        .send()
        .unwrap();
    assert_eq!(first.status(), StatusCode::PARTIAL_CONTENT);
    let mut body = first.bytes().unwrap().to_vec();

    // ...the first main dies...
    net.main.stop();

    // ...and the rest comes in a new session, which the edge can only have authorized by the
    // second main: it holds the same token's uses and sessions in the shared table.
    let rest = client
        .get(format!("{url}&sid=second"))
        .header("range", format!("bytes={half}-"))
        .send()
        .unwrap();
    assert_eq!(rest.status(), StatusCode::PARTIAL_CONTENT);
    body.extend_from_slice(&rest.bytes().unwrap());
    assert!(body == sealed, "the two halves are the sealed object");
    let edge_log = std::fs::read_to_string(dir.join("logs/edge-eu-1.log")).unwrap();
    assert!(
        edge_log.contains("trying the next"),
        "the edge failed over:\n{edge_log}"
    );

    // The player, given both mains, downloads, gets its licence, enables and plays through the
    // second one.
    for step in [
        &["download", "film"][..],
        &["licence", "film"],
        &["enable", "film"],
    ] {
        let mut cmd = net.player(&home);
        cmd.args(step);
        run(cmd, Duration::from_secs(120)).unwrap();
    }
    let played = dir.join("film.out");
    let mut cmd = net.player(&home);
    cmd.args(["play", "film", "--out", played.to_str().unwrap()]);
    let out = run(cmd, Duration::from_secs(120)).unwrap();
    assert!(out.contains("played:"), "{out}");
    assert!(
        std::fs::read(&played).unwrap() == std::fs::read(&src).unwrap(),
        "played output is the original"
    );
}
