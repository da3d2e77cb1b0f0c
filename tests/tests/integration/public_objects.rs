//! Public objects through a real edge: a poster ingested with `public=true` is served at
//! `/v1/public/{id}` without a token — plaintext, byte-identical, cacheable by shared caches —
//! filled once into the edge's other zone and then a hit; ranges, 304 and HEAD behave as for
//! downloads; a paid item is not public and an unknown id is 404.

use std::net::IpAddr;
use std::time::Duration;

use e2e::network::{Network, Options, clients, write_content};
use reqwest::StatusCode;
use reqwest::blocking::Client;

#[test]
fn a_public_object_is_served_from_the_other_zone_without_a_token() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let opts = Options {
        edges: vec![("edge-eu-1".into(), "eu".into())],
        prefill_interval_secs: 0,
        ..Options::default()
    };
    let net = Network::start(&dir.join("net"), &opts).unwrap();
    // Three chunks and a bit, so ranges cross chunk boundaries.
    let poster = dir.join("poster.bin");
    write_content(&poster, (3 << 20) + 12345, 41).unwrap();
    let plain = std::fs::read(&poster).unwrap();
    net.ingest_public("poster-1", "Poster", &poster).unwrap();
    let film = dir.join("film.bin");
    write_content(&film, 100_000, 42).unwrap();
    net.ingest("film-1", "Film", None, &[], &film).unwrap();

    let client = Client::builder()
        .local_address(clients::EU.parse::<IpAddr>().unwrap())
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let edge = net.edges[0].server.url();
    let url = format!("{edge}/v1/public/poster-1");

    let r = client.get(&url).send().unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["x-cache"], "MISS");
    assert_eq!(r.headers()["cache-control"], "public, max-age=3600");
    let etag = r.headers()["etag"].to_str().unwrap().to_owned();
    assert_eq!(r.bytes().unwrap(), plain, "the plaintext, byte for byte");

    let r = client.get(&url).send().unwrap();
    assert_eq!(r.headers()["x-cache"], "HIT");
    assert_eq!(r.bytes().unwrap(), plain);

    let from = (1 << 20) - 100;
    let r = client
        .get(&url)
        .header("range", format!("bytes={from}-{}", from + 299))
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        r.headers()["content-range"],
        format!("bytes {from}-{}/{}", from + 299, plain.len()).as_str()
    );
    assert_eq!(r.bytes().unwrap(), plain[from..from + 300]);

    let r = client
        .get(&url)
        .header("range", format!("bytes={}-", plain.len()))
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::RANGE_NOT_SATISFIABLE);

    let r = client
        .get(&url)
        .header("if-none-match", &etag)
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_MODIFIED);
    assert!(r.bytes().unwrap().is_empty());

    let r = client.head(&url).send().unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.headers()["content-length"],
        plain.len().to_string().as_str()
    );

    for (path, status) in [
        ("/v1/public/film-1", StatusCode::NOT_FOUND),
        ("/v1/public/nothing-here", StatusCode::NOT_FOUND),
    ] {
        let r = client.get(format!("{edge}{path}")).send().unwrap();
        assert_eq!(r.status(), status, "{path}");
    }

    // The poster's chunks sit in the other zone, none in the licensed one.
    let metrics = client
        .get(format!("{edge}/metrics"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    let value = |prefix: &str| -> u64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(prefix))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("{prefix} missing in\n{metrics}"))
    };
    assert!(value("cdn_edge_zone_used_bytes{zone=\"other\"}") > 3 << 20);
    assert_eq!(value("cdn_edge_zone_used_bytes{zone=\"licensed\"}"), 0);
    assert!(value("cdn_edge_served_bytes_total{zone=\"other\"}") >= 2 * plain.len() as u64);
}
