//! A process of the local network restarted with the command line the network wrote for it
//! (`commands/NAME.sh`) comes back at the address it had, so the edges' calls reach it again:
//! main (authorize) and the primary parent (fills), each killed and restarted.

use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use e2e::network::{Network, Options, clients, file_digest, write_content};
use e2e::process::run;
use reqwest::StatusCode;
use reqwest::blocking::Client;

/// Registers `email` with the player in `home` (unless it is already), logs in, rents `item`; the
/// download URL.
fn rent(net: &Network, home: &Path, email: &str, item: &str) -> String {
    let player = |args: &[&str]| {
        let mut cmd = net.player(home);
        cmd.args(args);
        run(cmd, Duration::from_secs(120))
    };
    // Registering an account twice is refused; logging in is what counts.
    let _ = player(&["register", "--email", email, "--password", "pw pw pw pw"]);
    player(&["login", "--email", email, "--password", "pw pw pw pw"]).unwrap();
    let out = player(&["rent", item]).unwrap();
    out.lines()
        .find_map(|l| l.strip_prefix("download_url:"))
        .unwrap_or_else(|| panic!("no download_url in {out}"))
        .trim()
        .to_owned()
}

/// Downloads `url` whole through the edge and checks it against the sealed object's size.
fn download(url: &str, out: &Path) {
    let client = Client::builder()
        .local_address(clients::EU.parse::<IpAddr>().unwrap())
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let resp = client.get(url).send().unwrap();
    assert_eq!(resp.status(), StatusCode::OK, "{url}");
    let body = resp.bytes().unwrap();
    assert!(body.len() > 300_000, "{} bytes", body.len());
    std::fs::write(out, &body).unwrap();
}

#[test]
fn main_and_a_parent_restarted_with_their_command_lines_come_back_where_the_edges_call() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let opts = Options {
        edges: vec![("edge-eu-1".into(), "eu".into())],
        prefill_interval_secs: 0,
        outbound_timeout_secs: Some(2),
        ..Options::default()
    };
    Network::start(dir, &opts)
        .unwrap()
        .walk(|net| walk(net, dir));
}

fn walk(net: &mut Network, dir: &Path) {
    // Two items, on the primary parent only (no replication): a fill of either can only come
    // from parent-eu.
    for (i, id) in ["first", "second"].iter().enumerate() {
        let content = dir.join(format!("{id}.bin"));
        write_content(&content, 300_000 + i as u64, i as u64).unwrap();
        net.ingest(id, id, None, &[], &content).unwrap();
    }
    let home = dir.join("player");
    let main_addr = net.main.addr;
    let before = dir.join("first-before.sealed");
    download(&rent(net, &home, "a@example.com", "first"), &before);

    // Main: the launcher's config said port 0; the command file now binds the same port.
    let main_toml = std::fs::read_to_string(dir.join("main.toml")).unwrap();
    assert!(
        main_toml.contains(&format!("listen = \"{main_addr}\"")),
        "{main_toml}"
    );
    net.restart("main-service").unwrap();
    assert_eq!(net.main.addr, main_addr);
    // A new token (another customer): the edge must ask the restarted main to authorize it.
    let after = dir.join("first-after.sealed");
    download(
        &rent(net, &dir.join("player-b"), "b@example.com", "first"),
        &after,
    );
    assert_eq!(file_digest(&before).unwrap(), file_digest(&after).unwrap());

    // The primary parent: its command file carries the port it got.
    let parent_addr = net.parents[0].server.addr;
    let script = std::fs::read_to_string(net.command_file("parent-eu")).unwrap();
    assert!(script.contains(&format!("'{parent_addr}'")), "{script}");
    net.restart("parent-eu").unwrap();
    assert_eq!(net.parents[0].server.addr, parent_addr);
    // Never filled before, held by parent-eu alone: served only if the edge reaches it again.
    download(
        &rent(net, &home, "a@example.com", "second"),
        &dir.join("second.sealed"),
    );
}
