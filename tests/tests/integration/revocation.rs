//! An operator revokes a token and a licence mid-rental, through real processes: a new download
//! session of the revoked token is refused at once (403 `revoked`) while the session already
//! granted at the edge runs on within its stated bound; the revoked licence can be neither bound
//! nor enabled again, and the player refuses to play it at its next check with main.

use std::path::Path;
use std::time::Duration;

use e2e::network::{Network, Options, clients, write_content};
use e2e::process::run;
use reqwest::StatusCode;
use reqwest::blocking::Client;

#[test]
fn revoked_tokens_and_licences_are_refused() {
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

fn admin_revoke(net: &Network, what: &str, id: &str) -> reqwest::blocking::Response {
    Client::new()
        .post(format!("{}/v1/admin/{what}/{id}/revoke", net.main.url()))
        .bearer_auth(&net.admin_token)
        .send()
        .unwrap()
}

fn walk(net: &Network, dir: &Path) {
    let src = dir.join("film.bin");
    write_content(&src, (2 << 20) + 11, 4).unwrap();
    net.ingest("film", "Film", None, &[], &src).unwrap();
    let home = dir.join("ann");
    net.customer(&home, "ann@example.com").unwrap();
    let rented = player(net, &home, &["rent", "film"]).unwrap();
    let url = rented
        .lines()
        .find_map(|l| l.strip_prefix("download_url: "))
        .unwrap()
        .to_owned();
    let licence_id = rented
        .split("(licence ")
        .nth(1)
        .and_then(|r| r.split(')').next())
        .unwrap()
        .to_owned();
    let eu = Client::builder()
        .local_address(clients::EU.parse::<std::net::IpAddr>().unwrap())
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();

    // Session "a" is granted and cached at the edge.
    let session_a = format!("{url}&sid=a");
    let r = eu.get(&session_a).send().unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let whole = r.bytes().unwrap();
    player(net, &home, &["download", "film"]).unwrap();
    player(net, &home, &["licence", "film"]).unwrap();
    player(net, &home, &["enable", "film"]).unwrap();
    let out = dir.join("played.bin");
    player(
        net,
        &home,
        &["play", "film", "--out", out.to_str().unwrap()],
    )
    .unwrap();

    // The operator revokes the token (its id is the JWT's `jti`).
    let jwks: protocol::Jwks = Client::new()
        .get(format!("{}/.well-known/jwks.json", net.main.url()))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let token = url.split_once("token=").unwrap().1;
    let verifier = protocol::Verifier::from_jwks(&jwks).unwrap();
    let claims =
        protocol::DownloadToken::verify(&verifier, token, None, protocol::unix_now()).unwrap();
    let r = admin_revoke(net, "tokens", &claims.token_id);
    assert_eq!(r.status(), StatusCode::OK, "{:?}", r.text());
    assert_eq!(
        admin_revoke(net, "tokens", "no-such-token").status(),
        StatusCode::NOT_FOUND
    );
    let anyone = Client::new()
        .post(format!(
            "{}/v1/admin/tokens/{}/revoke",
            net.main.url(),
            claims.token_id
        ))
        .send()
        .unwrap();
    assert_eq!(anyone.status(), StatusCode::UNAUTHORIZED, "operators only");

    // A new session asks main: refused at once, with a sentence.
    let r = eu
        .get(format!("{url}&sid=b"))
        .header("range", "bytes=0-9")
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let body = r.text().unwrap();
    assert!(
        body.contains("\"revoked\"") && body.contains("revoked"),
        "{body}"
    );
    // The session granted before runs on from the edge's cache of its grant, within the bound
    // docs/interfaces.md states (half the idle window): the same bytes.
    let r = eu.get(&session_a).send().unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.bytes().unwrap(), whole);

    // The licence: revoked, it can be neither bound nor enabled, and the player will not play it.
    let r = admin_revoke(net, "licences", &licence_id);
    assert_eq!(r.status(), StatusCode::OK, "{:?}", r.text());
    let err = player(
        net,
        &home,
        &["play", "film", "--out", out.to_str().unwrap()],
    )
    .unwrap_err();
    assert!(err.to_string().contains("revoked"), "{err}");
    let err = player(net, &home, &["enable", "film"]).unwrap_err();
    assert!(err.to_string().contains("licence_revoked"), "{err}");
}
