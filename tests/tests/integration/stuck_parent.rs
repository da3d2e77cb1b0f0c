//! Main under a stopped primary parent (SIGSTOP: its socket accepts, nothing answers): an
//! ingest fails with a clear error within main's parent timeouts instead of hanging, and works
//! again once the parent continues. Real processes.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use e2e::network::{Network, Options, write_content};

const MIB: u64 = 1 << 20;

#[test]
fn an_ingest_to_a_stopped_primary_fails_in_seconds() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let opts = Options {
        edges: vec![],
        prefill_interval_secs: 0,
        parent_settings:
            "connect_timeout_secs = 2\nfirst_byte_timeout_secs = 2\nidle_timeout_secs = 2".into(),
        ..Options::default()
    };
    let net = Network::start(dir, &opts).unwrap();
    let src = dir.join("film.bin");
    write_content(&src, 3 * MIB, 5).unwrap();

    net.parents[0].server.signal("STOP");
    let started = Instant::now();
    let (tx, rx) = mpsc::channel();
    std::thread::scope(|scope| {
        scope.spawn(|| {
            let _ = tx.send(net.ingest("film", "Film", None, &[], &src));
        });
        let result = rx.recv_timeout(Duration::from_secs(60));
        let took = started.elapsed();
        // Let the ingest end either way before asserting, so the scope can close.
        net.parents[0].server.signal("CONT");
        let err = result
            .unwrap_or_else(|_| panic!("ingest still hanging after 60 s"))
            .expect_err("an ingest to a stopped primary");
        let err = format!("{err:#}");
        eprintln!("ingest with the primary stopped: failed in {took:?}");
        assert!(took < Duration::from_secs(20), "took {took:?}: {err}");
        assert!(
            err.contains("502") && err.contains("parent_unavailable") && err.contains("timeout"),
            "{err}"
        );
    });

    // The parent continues: the same ingest goes through.
    net.ingest("film", "Film", None, &[], &src).unwrap();
}
