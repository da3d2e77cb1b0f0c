//! Every rotation in the middle of a download, through real processes: a customer has fetched
//! the first range of a film when the operator ingests the film again (a new object version
//! with its own content key), rotates the signing key (the next key is published at once and
//! signs two seconds later) and the key-encryption key (main restarted with the new key and the
//! old one as previous, `POST /v1/admin/keys/rewrap`, main restarted with the new key alone).
//! The download then completes, on the token signed with the old key, with the version it was
//! rented for; the licence is bound and enabled under the new signing key with that version's
//! content key opened under the new key-encryption key; the film plays as it was rented. A new
//! rental gets the new version.

use std::path::Path;
use std::time::Duration;

use e2e::network::{Network, Options, write_content};
use e2e::process::run;

#[test]
fn a_download_survives_a_new_version_and_both_key_rotations() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let opts = Options {
        edges: vec![("edge-eu-1".into(), "eu".into())],
        prefill_interval_secs: 0,
        main_settings: "[signing]\nrotate_after_secs = 86400\npublish_ahead_secs = 2".into(),
        ..Options::default()
    };
    Network::start(dir, &opts)
        .unwrap()
        .walk(|net| walk(net, dir));
}

fn player(net: &Network, home: &Path, args: &[&str]) -> String {
    let mut cmd = net.player(home);
    cmd.args(args);
    run(cmd, Duration::from_secs(120)).unwrap()
}

fn admin(net: &Network, path: &str) -> serde_json::Value {
    let resp = reqwest::blocking::Client::new()
        .post(format!("{}{path}", net.main.url()))
        .bearer_auth(&net.admin_token)
        .send()
        .unwrap();
    assert!(resp.status().is_success(), "{path}: {}", resp.status());
    resp.json().unwrap()
}

/// Main's config with `lines` put before its first table.
fn with_top_level(config: &str, lines: &str) -> String {
    let at = config.find("\n[").expect("a table");
    format!("{}\n{lines}{}", &config[..at], &config[at..])
}

fn walk(net: &mut Network, dir: &Path) {
    let src = dir.join("film.bin");
    write_content(&src, (3 << 20) + 7, 5).unwrap();
    net.ingest("film", "Film", None, &[], &src).unwrap();
    let home = dir.join("viewer");
    net.customer(&home, "viewer@example.com").unwrap();
    let url = net.rent(&home, "film").unwrap();

    // The first mebibyte, through the edge, on the token signed with the first key.
    let first = reqwest::blocking::Client::new()
        .get(&url)
        .header("range", "bytes=0-1048575")
        .send()
        .unwrap();
    assert_eq!(first.status(), 206);
    assert_eq!(first.bytes().unwrap().len(), 1 << 20);

    // The film is ingested again: version 2, other bytes, another content key.
    let src2 = dir.join("film-v2.bin");
    write_content(&src2, (2 << 20) + 3, 6).unwrap();
    let v2 = net.ingest("film", "Film", None, &[], &src2).unwrap();
    assert_eq!(v2["version"], 2, "{v2}");

    // The signing key: the next one is published now and signs two seconds later.
    let ring = admin(net, "/v1/admin/signing-keys/rotate");
    assert_eq!(ring["keys"].as_array().unwrap().len(), 2, "{ring}");
    let old_kid = ring["keys"][0]["kid"].as_str().unwrap().to_owned();
    let new_kid = ring["keys"][1]["kid"].as_str().unwrap().to_owned();

    // The key-encryption key: new key current, old key previous, rewrap, old key gone.
    let main_toml = dir.join("main.toml");
    let config = std::fs::read_to_string(&main_toml).unwrap();
    let old_kek = std::fs::read_to_string(dir.join("main/key-encryption-key.hex")).unwrap();
    let new_kek = "7e".repeat(32);
    let rotating = format!(
        "key_encryption_key = \"{new_kek}\"\nprevious_key_encryption_key = \"{}\"\n",
        old_kek.trim()
    );
    std::fs::write(&main_toml, with_top_level(&config, &rotating)).unwrap();
    net.restart("main-service").unwrap();
    let report = admin(net, "/v1/admin/keys/rewrap");
    assert_eq!(
        report["items_resealed"], 1,
        "both versions' keys, in one item: {report}"
    );
    assert_eq!(report["signing_keys_resealed"], 1, "{report}");
    assert_eq!(report["failed"], serde_json::json!([]), "{report}");
    let rotated = format!("key_encryption_key = \"{new_kek}\"\n");
    std::fs::write(&main_toml, with_top_level(&config, &rotated)).unwrap();
    net.restart("main-service").unwrap();

    // Past the publish-ahead time: the new key signs, the old one is still published.
    std::thread::sleep(Duration::from_millis(2500));
    let jwks: serde_json::Value =
        reqwest::blocking::get(format!("{}/.well-known/jwks.json", net.main.url()))
            .unwrap()
            .json()
            .unwrap();
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert_eq!(kids, [old_kid.as_str(), new_kid.as_str()]);

    // The download completes on the old key's token; the licence comes signed by the new key
    // with the content key opened under the new key-encryption key; the film plays.
    player(net, &home, &["download", "film"]);
    player(net, &home, &["enable", "film"]);
    let licence = std::fs::read_to_string(home.join("licences/film.jwt")).unwrap();
    assert_eq!(
        protocol::Verifier::token_kid(licence.trim()).as_deref(),
        Some(new_kid.as_str())
    );
    let out = dir.join("played.bin");
    let played = player(
        net,
        &home,
        &["play", "film", "--out", out.to_str().unwrap()],
    );
    assert!(played.contains("played:"), "{played}");
    assert!(
        std::fs::read(&out).unwrap() == std::fs::read(&src).unwrap(),
        "the version rented"
    );

    // A new rental is of the new version, signed by the new key, and plays it.
    let other = dir.join("second");
    net.customer(&other, "second@example.com").unwrap();
    player(net, &other, &["rent", "film"]);
    player(net, &other, &["download", "film"]);
    player(net, &other, &["enable", "film"]);
    let out2 = dir.join("played-v2.bin");
    player(
        net,
        &other,
        &["play", "film", "--out", out2.to_str().unwrap()],
    );
    assert!(std::fs::read(&out2).unwrap() == std::fs::read(&src2).unwrap());
}
