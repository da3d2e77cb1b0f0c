//! The site and the console in a real browser: headless Chromium (Debian's) driven by
//! Playwright (`tests/browser/site.mjs`) against the network as real processes. A customer
//! registers, searches, opens an item whose poster and trailer come from the edge, rents with a
//! declined card then a good one, copies the download link and fetches it with curl, and sees a
//! use spent in "My rentals"; a form without its token is refused; the pages fit a phone and pass
//! axe-core's WCAG 2.1 AA rules. The operator logs in to the console, uploads a trailer the
//! browser recorded and an item with it (progress bar to 100), sees it on the home page playing
//! from the edge, and revokes the customer's licence. Screenshots land in
//! `target/site-screenshots/`.
//!
//! Needs Node.js, `tests/browser/node_modules` (`npm ci` there) and `/usr/bin/chromium`:
//! `infra/setup.sh` installs them.

use std::process::Command;
use std::time::Duration;

use e2e::network::{Network, Options, workspace_root};
use e2e::process::run;

#[test]
fn customers_and_the_operator_use_the_site_in_chromium() {
    let root = workspace_root();
    let browser_dir = root.join("tests/browser");
    assert!(
        browser_dir.join("node_modules/playwright-core").is_dir(),
        "tests/browser/node_modules is missing: run infra/setup.sh (or `npm ci` in tests/browser)"
    );
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        std::path::Path::new(&chromium).exists(),
        "{chromium} is missing: run infra/setup.sh (Debian's chromium)"
    );
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let opts = Options {
        edges: vec![("edge-eu-1".into(), "eu".into())],
        prefill_interval_secs: 0,
        // Heartbeats every second, so that the console's charts show the customer's traffic.
        edge_settings: "heartbeat_interval_secs = 1".into(),
        main_settings: "edge_heartbeat_secs = 1".into(),
        ..Options::default()
    };
    Network::start(dir, &opts).unwrap().walk(|net| {
        let media = dir.join("media");
        std::fs::create_dir_all(&media).unwrap();
        let catalog = e2e::demo::catalog(2);
        for (i, item) in catalog.iter().enumerate() {
            e2e::demo::ingest(net, &media, item, i as u64).unwrap();
        }
        e2e::demo::promote(net, &["big-buck-bunny", "sintel"]).unwrap();
        // Every parent holds the demo catalog; what the console ingests later reaches only the
        // primary (no parent-sync runs here), which the console shows as lag.
        net.sync_parents().unwrap();
        let shots = root.join("target/site-screenshots");
        let mut node = Command::new("node");
        node.arg(browser_dir.join("site.mjs"))
            .current_dir(&browser_dir)
            .env("MAIN", net.main.url())
            .env("EDGE", net.edges[0].server.url())
            .env("ADMIN_TOKEN", &net.admin_token)
            .env("ITEM", "big-buck-bunny")
            .env("SHOTS", &shots)
            .env("CHROMIUM", &chromium);
        match run(node, Duration::from_secs(240)) {
            Ok(out) => eprintln!("{out}"),
            Err(e) => panic!("{e}\n{}", net.logs()),
        }
        assert!(shots.join("home.png").is_file());
    });
}
