//! Guest checkout with the player, through real processes: rent with an email only, download,
//! bind, enable and play on the guest's session; a second guest rental needs the claim code;
//! registering the email with the code keeps both rentals, and a login then sees them; the
//! second rental is bound at its first play on that other machine.

use std::path::Path;
use std::time::Duration;

use e2e::network::{Network, Options, write_content};
use e2e::process::run;

#[test]
fn a_guest_rents_plays_and_claims_the_account() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let opts = Options {
        edges: vec![("edge-eu-1".into(), "eu".into())],
        prefill_interval_secs: 0,
        ..Options::default()
    };
    Network::start(dir, &opts)
        .unwrap()
        .walk(|net| walk(net, dir));
}

fn player(net: &Network, home: &Path, args: &[&str]) -> anyhow::Result<String> {
    let mut cmd = net.player(home);
    cmd.args(args);
    run(cmd, Duration::from_secs(120))
}

fn walk(net: &Network, dir: &Path) {
    let src = dir.join("film.bin");
    write_content(&src, (1 << 20) + 5, 9).unwrap();
    net.ingest("film", "Film", None, &[], &src).unwrap();
    net.ingest("doc", "Doc", None, &[], &src).unwrap();
    let home = dir.join("guest");
    let email = "gus@example.com";

    let rented = player(net, &home, &["rent", "film", "--guest", email]).unwrap();
    let code = rented
        .lines()
        .find_map(|l| l.strip_prefix("claim_code: "))
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or_else(|| panic!("no claim code in {rented}"))
        .to_owned();
    player(net, &home, &["download", "film"]).unwrap();
    player(net, &home, &["licence", "film"]).unwrap();
    player(net, &home, &["enable", "film"]).unwrap();
    let out = dir.join("played.bin");
    let played = player(
        net,
        &home,
        &["play", "film", "--out", out.to_str().unwrap()],
    )
    .unwrap();
    assert!(played.contains("played:"), "{played}");
    assert!(std::fs::read(&out).unwrap() == std::fs::read(&src).unwrap());

    let err = player(net, &home, &["rent", "doc", "--guest", email])
        .unwrap_err()
        .to_string();
    assert!(err.contains("claim_code_required"), "{err}");
    let again = player(
        net,
        &home,
        &["rent", "doc", "--guest", email, "--claim-code", &code],
    )
    .unwrap();
    assert!(!again.contains("claim_code:"), "{again}");

    let err = player(
        net,
        &home,
        &["register", "--email", email, "--password", "pw pw pw pw"],
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("claim_code_required"), "{err}");
    player(
        net,
        &home,
        &[
            "register",
            "--email",
            email,
            "--password",
            "pw pw pw pw",
            "--claim-code",
            &code,
        ],
    )
    .unwrap();
    let other = dir.join("laptop");
    player(
        net,
        &other,
        &["login", "--email", email, "--password", "pw pw pw pw"],
    )
    .unwrap();
    let listed = reqwest::blocking::Client::new()
        .get(format!("{}/v1/rentals", net.main.url()))
        .bearer_auth(session_of(&other))
        .send()
        .unwrap()
        .json::<serde_json::Value>()
        .unwrap();
    assert_eq!(listed["rentals"].as_array().unwrap().len(), 2, "{listed}");

    // The second rental, never bound, is bound at its first play on the laptop: another
    // machine than the one that rented it. The renting machine is then refused.
    let rented: serde_json::Value =
        serde_json::from_slice(&std::fs::read(home.join("rentals/doc.json")).unwrap()).unwrap();
    let (licence, url) = (
        rented["licence_id"].as_str().unwrap(),
        rented["download_url"].as_str().unwrap(),
    );
    player(net, &other, &["download", "doc", "--url", url]).unwrap();
    player(net, &other, &["enable", "doc", "--licence-id", licence]).unwrap();
    let out = dir.join("played-on-laptop.bin");
    player(
        net,
        &other,
        &["play", "doc", "--out", out.to_str().unwrap()],
    )
    .unwrap();
    assert!(std::fs::read(&out).unwrap() == std::fs::read(&src).unwrap());
    let err = player(net, &home, &["licence", "doc"])
        .unwrap_err()
        .to_string();
    assert!(err.contains("bound_elsewhere"), "{err}");
}

/// The session the player saved in `home`.
fn session_of(home: &Path) -> String {
    let saved: serde_json::Value =
        serde_json::from_slice(&std::fs::read(home.join("session.json")).unwrap()).unwrap();
    saved["session"].as_str().unwrap().to_owned()
}
