//! Main sends clients to edges that are alive: two EU edges send heartbeats every second; the
//! edge a title's rentals go to is stopped, and once it has been silent for three intervals the
//! next rental of that title names the other one, whose download then works. A rental made
//! before the stop still downloads: the player moves to the rental's fallback edge.

use std::time::{Duration, Instant};

use e2e::network::{Network, Options, clients, write_content};
use reqwest::StatusCode;

#[test]
fn a_stopped_edge_is_skipped_once_silent() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let opts = Options {
        edges: vec![
            ("edge-eu-1".into(), "eu".into()),
            ("edge-eu-2".into(), "eu".into()),
        ],
        prefill_interval_secs: 0,
        edge_settings: "heartbeat_interval_secs = 1".into(),
        main_settings: "edge_heartbeat_secs = 1".into(),
        ..Options::default()
    };
    Network::start(dir, &opts)
        .unwrap()
        .walk(|net| walk(net, dir));
}

/// The index of the edge `url` downloads from.
fn edge_of(net: &Network, url: &str) -> usize {
    net.edges
        .iter()
        .position(|e| url.starts_with(&e.server.url()))
        .unwrap_or_else(|| panic!("{url} names no edge of the network"))
}

fn walk(net: &mut Network, dir: &std::path::Path) {
    let src = dir.join("film.bin");
    write_content(&src, 3 << 20, 5).unwrap();
    net.ingest("film", "Film", None, &[], &src).unwrap();
    let sealed = std::fs::read(
        net.parents
            .iter()
            .find(|p| p.region == "eu")
            .unwrap()
            .root
            .join("parents/items/film/v1.sealed"),
    )
    .unwrap();

    // Both edges heartbeat; the title's rentals go to one of them (rendezvous), the same each time.
    std::thread::sleep(Duration::from_secs(2));
    net.customer(&dir.join("ann"), "ann@example.com").unwrap();
    let first = net.rent(&dir.join("ann"), "film").unwrap();
    let chosen = edge_of(net, &first);
    net.customer(&dir.join("bob"), "bob@example.com").unwrap();
    let second = net.rent(&dir.join("bob"), "film").unwrap();
    assert_eq!(edge_of(net, &second), chosen, "one title keeps to one edge");

    // That edge stops. Within three intervals main still names it (it may only be slow); after
    // that, the next rental of the title names the other edge.
    net.edges[chosen].server.stop();
    let stopped = Instant::now();
    std::thread::sleep(Duration::from_millis(3500));
    net.customer(&dir.join("cay"), "cay@example.com").unwrap();
    let third = net.rent(&dir.join("cay"), "film").unwrap();
    let other = edge_of(net, &third);
    assert_ne!(
        other,
        chosen,
        "rented {:?} after the stop",
        stopped.elapsed()
    );

    let client = reqwest::blocking::Client::builder()
        .local_address(clients::EU.parse::<std::net::IpAddr>().unwrap())
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let r = client.get(&third).send().unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.bytes().unwrap() == sealed[..],
        "the other edge serves the right bytes"
    );
}
