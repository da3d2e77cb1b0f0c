//! Group accounts with the player, through real processes: an owner creates a group and invites
//! a member with a spend cap and a rating cap; the member joins, is refused an item rated above
//! the cap with the reason, rents one within it on the group's account, downloads it through the
//! edge and plays it, and is refused a rental past the cap; the owner's audit view names the
//! rental, the member and their address.

use std::path::Path;
use std::time::Duration;

use e2e::network::{Network, Options, write_content};
use e2e::process::run;

#[test]
fn a_member_rents_on_the_group_within_the_owners_limits() {
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

/// The value of the first `prefix: value` line of `out`.
fn line<'a>(out: &'a str, prefix: &str) -> &'a str {
    out.lines()
        .find_map(|l| l.strip_prefix(prefix))
        .unwrap_or_else(|| panic!("no {prefix} in {out}"))
        .trim()
}

fn walk(net: &Network, dir: &Path) {
    let src = dir.join("film.bin");
    write_content(&src, (1 << 20) + 5, 11).unwrap();
    for (id, rating) in [("cartoon", 6), ("drama", 12), ("horror", 18)] {
        let extra = format!("&rating={rating}&price_cents=300");
        net.ingest_with(id, id, None, &[], &extra, &src).unwrap();
    }
    let (owner, kid) = (dir.join("owner"), dir.join("kid"));
    net.customer(&owner, "parent@example.com").unwrap();
    net.customer(&kid, "kid@example.com").unwrap();

    let created = player(net, &owner, &["group", "create", "Family"]).unwrap();
    let group = line(&created, "group_id:").to_owned();
    let invited = player(
        net,
        &owner,
        &[
            "group",
            "invite",
            &group,
            "kid@example.com",
            "--monthly-cap-cents",
            "500",
            "--max-rating",
            "12",
        ],
    )
    .unwrap();
    let code = line(&invited, "code:").to_owned();
    let joined = player(net, &kid, &["group", "join", &group, &code]).unwrap();
    assert!(
        joined.contains("you: may rent, cap 5.00/month, rated up to 12"),
        "{joined}"
    );

    let err = player(net, &kid, &["rent", "horror", "--group", &group])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("rating_above_cap") && err.contains("rated 18"),
        "{err}"
    );

    let rented = player(net, &kid, &["rent", "cartoon", "--group", &group]).unwrap();
    assert!(rented.contains("download_url:"), "{rented}");
    player(net, &kid, &["download", "cartoon"]).unwrap();
    player(net, &kid, &["enable", "cartoon"]).unwrap();
    let out = dir.join("played.bin");
    player(
        net,
        &kid,
        &["play", "cartoon", "--out", out.to_str().unwrap()],
    )
    .unwrap();
    assert!(std::fs::read(&out).unwrap() == std::fs::read(&src).unwrap());

    let err = player(net, &kid, &["rent", "drama", "--group", &group])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("spend_cap_exceeded") && err.contains("monthly cap of 500 cents"),
        "{err}"
    );

    let err = player(net, &kid, &["group", "audit", &group])
        .unwrap_err()
        .to_string();
    assert!(err.contains("not_group_owner"), "{err}");
    let audit = player(net, &owner, &["group", "audit", &group]).unwrap();
    assert!(
        audit.contains("cartoon by kid@example.com from 127.0.0.1 for 3.00"),
        "{audit}"
    );
    assert!(audit.contains("total: 3.00"), "{audit}");
    let shown = player(net, &owner, &["group", "show", &group]).unwrap();
    assert!(
        shown.contains("member: kid@example.com") && shown.contains("spent 3.00 this month"),
        "{shown}"
    );
}
