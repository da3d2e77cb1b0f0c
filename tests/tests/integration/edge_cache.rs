//! The edge as a cache with a byte budget, through real processes: one edge whose licensed zone
//! holds 8 MiB, a pinned hot item, and downloads of three times the budget. The edge's store
//! never holds more chunk bytes than the budget (sampled on disk all along), the hot item is
//! never evicted, the oldest one-off downloads are evicted and filled again when asked for, and
//! every byte served is the parent's.

use std::net::IpAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use e2e::network::{Network, Options, clients, command, write_content};
use e2e::process::run;
use reqwest::StatusCode;
use reqwest::blocking::Client;

const MIB: u64 = 1 << 20;
const BUDGET: u64 = 8 * MIB;

fn client() -> Client {
    Client::builder()
        .local_address(clients::EU.parse::<IpAddr>().unwrap())
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap()
}

/// Bytes of chunk files in an edge's key-value directory (keys `chunk/…`, encoded `chunk%2F…`).
fn chunk_bytes(kv: &Path) -> u64 {
    std::fs::read_dir(kv)
        .map(|dir| {
            dir.filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().starts_with("chunk%2F"))
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

fn cached_chunks(kv: &Path, item: &str) -> usize {
    let prefix = format!("chunk%2F{item}%2F");
    std::fs::read_dir(kv)
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
        .count()
}

#[test]
fn the_budget_holds_while_three_times_it_is_downloaded() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let opts = Options {
        edges: vec![("edge-eu-1".into(), "eu".into())],
        // The ticker's first call (1 s after the start) pins and prefills the hot item; after
        // that the test makes every maintenance call itself, so the order is deterministic.
        prefill_interval_secs: 3600,
        edge_variables: format!("licensed_budget_bytes = \"{BUDGET}\"\n"),
        ..Options::default()
    };
    Network::start(dir, &opts)
        .unwrap()
        .walk(|net| walk(net, dir));
}

fn walk(net: &Network, dir: &Path) {
    let kv = net.edges[0].kv_dir.clone();
    // The hot item, pinned to every edge.
    let src = dir.join("hot.bin");
    write_content(&src, 2 * MIB - 1000, 1).unwrap();
    net.ingest("hot", "Hot", Some(1), &[], &src).unwrap();
    // Eleven cold items of 2 MiB: with the hot one, three times the budget.
    let cold: Vec<String> = (0..11).map(|i| format!("cold-{i}")).collect();
    for (i, id) in cold.iter().enumerate() {
        let src = dir.join(format!("{id}.bin"));
        write_content(&src, 2 * MIB - 1000, 10 + i as u64).unwrap();
        net.ingest(id, id, None, &[], &src).unwrap();
    }
    net.sync_parents().unwrap();

    // Sample the edge's chunk bytes on disk every 20 ms for the whole walk.
    let stop = AtomicBool::new(false);
    let peak = AtomicU64::new(0);
    std::thread::scope(|s| {
        s.spawn(|| {
            while !stop.load(Ordering::Relaxed) {
                peak.fetch_max(chunk_bytes(&kv), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        let result =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| downloads(net, dir, &cold)));
        stop.store(true, Ordering::Relaxed);
        if let Err(e) = result {
            std::panic::resume_unwind(e);
        }
    });
    let peak = peak.load(Ordering::Relaxed);
    eprintln!("peak chunk bytes on the edge: {peak} (budget {BUDGET})");
    assert!(peak <= BUDGET, "the store held {peak} bytes of chunks");
}

fn downloads(net: &Network, dir: &Path, cold: &[String]) {
    let kv = &net.edges[0].kv_dir;
    let eu = client();
    let home = dir.join("player");
    net.customer(&home, "fan@example.com").unwrap();
    let primary = net.parents.iter().find(|p| p.region == "eu").unwrap();
    let fetch = |id: &str, url: &str, sid: &str| {
        let r = eu.get(format!("{url}&sid={sid}")).send().unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{id}");
        let body = r.bytes().unwrap();
        let sealed = std::fs::read(primary.root.join(format!("parents/items/{id}/v1.sealed")));
        assert!(body[..] == sealed.unwrap()[..], "{id}: bytes differ");
    };

    // The maintenance call pins and prefills the hot item.
    wait_for(|| cached_chunks(kv, "hot") == 2, "hot item prefilled");

    let mut urls = Vec::new();
    for id in cold {
        let url = net.rent(&home, id).unwrap();
        fetch(id, &url, "first");
        maintain(net);
        urls.push(url);
    }
    assert_eq!(
        cached_chunks(kv, "hot"),
        2,
        "the pinned item is never evicted"
    );
    // Each title was asked for once: beside the pin, room for two more; the oldest went first
    // (which of the newer ones stay is the policy's choice: LFU with dynamic aging).
    assert_eq!(cached_chunks(kv, &cold[0]), 0, "the oldest was evicted");
    let kept = cold.iter().filter(|id| cached_chunks(kv, id) == 2).count();
    assert_eq!(kept, 2, "two cold titles cached whole");
    assert!(
        cold.iter().all(|id| matches!(cached_chunks(kv, id), 0 | 2)),
        "what is evicted is deleted whole"
    );

    // The evicted one is served again, correctly, from the parents.
    fetch(&cold[0], &urls[0], "again");

    // The edge reports its zones; the report agrees with the disk.
    let report = maintain(net);
    let licensed = &report["zones"][0];
    assert_eq!(licensed["zone"], "licensed");
    assert_eq!(licensed["budget"], BUDGET);
    assert_eq!(
        licensed["used"].as_u64().unwrap(),
        chunk_bytes(kv),
        "{report}"
    );
    assert!(licensed["pinned"].as_u64().unwrap() > 0, "{report}");
    let edge = net.edges[0].server.url();
    assert_eq!(
        metric_sum(&eu, &edge, "cdn_edge_zone_budget_bytes{zone=\"licensed\"}"),
        BUDGET
    );
    assert!(metric_sum(&eu, &edge, "cdn_edge_evicted_items") >= 8);
}

/// One maintenance call to the network's first edge (`edge-host call maintain`); its report.
fn maintain(net: &Network) -> serde_json::Value {
    let mut call = command("edge-host");
    call.args(["call", "maintain", "--edge", &net.edges[0].server.url()])
        .env("EDGE_SECRET", &net.edges[0].secret);
    serde_json::from_str(&run(call, Duration::from_secs(120)).unwrap()).unwrap()
}

fn wait_for(mut done: impl FnMut() -> bool, what: &str) {
    for _ in 0..300 {
        if done() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("timed out waiting for: {what}");
}

/// Sum of a counter's samples in an edge's `/metrics`.
fn metric_sum(client: &Client, edge: &str, name: &str) -> u64 {
    let text = client
        .get(format!("{edge}/metrics"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    text.lines()
        .filter(|l| l.starts_with(name))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

/// Eight clients start the same cold object at once: the edge pulls it from the parents once
/// (leases collapse the fills), and every client gets the parent's bytes. Then a client that
/// starts another cold object and stops reading does not hold back the one after it.
#[test]
fn a_stampede_on_a_cold_object_fills_it_once_and_a_stalled_leader_holds_back_no_one() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let opts = Options {
        edges: vec![("edge-eu-1".into(), "eu".into())],
        prefill_interval_secs: 0,
        max_uses: 10,
        ..Options::default()
    };
    Network::start(dir, &opts).unwrap().walk(|net| {
        stampede(net, dir);
        stalled_leader(net, dir);
    });
}

/// A client starts a cold object, takes its first byte and reads nothing more: its request holds
/// the fill leases, but the fill goes on at the parents' pace and stores every chunk, so a second
/// client gets the whole object from the store meanwhile — the parents send it once — and the
/// first one still gets every byte when it reads again.
fn stalled_leader(net: &Network, dir: &Path) {
    let src = dir.join("slow.bin");
    write_content(&src, 48 * MIB, 4).unwrap();
    net.ingest("slow-lead", "Slow lead", None, &[], &src)
        .unwrap();
    let home = dir.join("player");
    let url = net.rent(&home, "slow-lead").unwrap();
    let primary = net.parents.iter().find(|p| p.region == "eu").unwrap();
    let sealed = std::fs::read(primary.root.join("parents/items/slow-lead/v1.sealed")).unwrap();
    let edge = net.edges[0].server.url();
    let eu = client();
    let before = metric_sum(&eu, &edge, "cdn_edge_filled_bytes_total");

    let mut leader = client().get(format!("{url}&sid=slow")).send().unwrap();
    assert_eq!(leader.status(), StatusCode::OK);
    let mut first = [0u8; 1];
    std::io::Read::read_exact(&mut leader, &mut first).unwrap();
    std::thread::sleep(Duration::from_millis(200));

    let start = std::time::Instant::now();
    let follower = client().get(format!("{url}&sid=fast")).send().unwrap();
    assert_eq!(follower.status(), StatusCode::OK);
    let body = follower.bytes().unwrap();
    let took = start.elapsed();
    assert!(body == sealed, "the follower's bytes differ");
    let pulled = metric_sum(&eu, &edge, "cdn_edge_filled_bytes_total") - before;
    let ratio = pulled as f64 / sealed.len() as f64;
    eprintln!("a stalled leader: the follower took {took:?}; parents sent {ratio:.3}x the object");
    assert!(
        ratio <= 1.05,
        "the follower filled for itself behind a stalled leader: {ratio:.3}x the object"
    );

    let mut rest = first.to_vec();
    std::io::Read::read_to_end(&mut leader, &mut rest).unwrap();
    assert!(rest == sealed, "the stalled leader's bytes differ");
}

fn stampede(net: &Network, dir: &Path) {
    let src = dir.join("stampede.bin");
    write_content(&src, 48 * MIB, 3).unwrap();
    net.ingest("stampede", "Stampede", None, &[], &src).unwrap();
    let home = dir.join("player");
    net.customer(&home, "crowd@example.com").unwrap();
    let url = net.rent(&home, "stampede").unwrap();
    let primary = net.parents.iter().find(|p| p.region == "eu").unwrap();
    let sealed = std::fs::read(primary.root.join("parents/items/stampede/v1.sealed")).unwrap();
    let edge = net.edges[0].server.url();
    let eu = client();
    let before = metric_sum(&eu, &edge, "cdn_edge_filled_bytes_total");

    let start = std::time::Instant::now();
    let first_bytes: Vec<Duration> = std::thread::scope(|s| {
        let clients: Vec<_> = (0..8)
            .map(|i| {
                let (url, sealed) = (&url, &sealed);
                s.spawn(move || {
                    let mut r = client().get(format!("{url}&sid=c{i}")).send().unwrap();
                    assert_eq!(r.status(), StatusCode::OK);
                    let mut first = [0u8; 1];
                    std::io::Read::read_exact(&mut r, &mut first).unwrap();
                    let ttfb = start.elapsed();
                    let mut body = first.to_vec();
                    std::io::Read::read_to_end(&mut r, &mut body).unwrap();
                    assert!(body == *sealed, "client {i}: bytes differ");
                    ttfb
                })
            })
            .collect();
        clients.into_iter().map(|c| c.join().unwrap()).collect()
    });
    let pulled = metric_sum(&eu, &edge, "cdn_edge_filled_bytes_total") - before;
    let ratio = pulled as f64 / sealed.len() as f64;
    let (min, max) = (
        first_bytes.iter().min().unwrap(),
        first_bytes.iter().max().unwrap(),
    );
    eprintln!(
        "8 clients, cold {} MiB: parents sent {pulled} bytes ({ratio:.3}x the object); \
         first bytes between {min:?} and {max:?} after the start",
        sealed.len() >> 20
    );
    assert!(ratio <= 1.05, "the parents sent {ratio:.3}x the object");
    assert!(metric_sum(&eu, &edge, "cdn_edge_lease_waits") > 0);
}

/// `kill -9` of edge-host in the middle of a fill, then a restart: the download completes with
/// the parent's bytes (nothing torn or unverified is served), and the first maintenance call
/// after the start recounts the zone's bytes so that they match the chunks on disk.
#[test]
fn a_killed_edge_serves_nothing_torn_and_recounts_its_cache() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let opts = Options {
        edges: vec![("edge-eu-1".into(), "eu".into())],
        prefill_interval_secs: 1,
        ..Options::default()
    };
    Network::start(dir, &opts)
        .unwrap()
        .walk(|net| killed(net, dir));
}

/// How many maintenance calls in `log` recounted the cache.
fn recounts(log: &str) -> usize {
    log.matches("rebuild=1").count()
}

fn killed(net: &mut Network, dir: &Path) {
    let src = dir.join("long.bin");
    write_content(&src, 64 * MIB, 5).unwrap();
    net.ingest("long", "Long", None, &[], &src).unwrap();
    let home = dir.join("player");
    net.customer(&home, "k@example.com").unwrap();
    let url = net.rent(&home, "long").unwrap();
    let primary = net.parents.iter().find(|p| p.region == "eu").unwrap();
    let sealed = std::fs::read(primary.root.join("parents/items/long/v1.sealed")).unwrap();

    // A download that reads a little, then the edge dies under it.
    let mut r = client().get(format!("{url}&sid=one")).send().unwrap();
    let mut start = vec![0u8; 3 * MIB as usize];
    std::io::Read::read_exact(&mut r, &mut start).unwrap();
    assert!(start[..] == sealed[..start.len()]);
    // The log file is appended to by the restarted process too: count the recounts before.
    let before = recounts(&net.edges[0].server.log_text());
    net.edges[0].server.signal("KILL");
    let mut rest = Vec::new();
    assert!(
        std::io::Read::read_to_end(&mut r, &mut rest).is_err() || rest.len() < sealed.len(),
        "the transfer is cut short, never completed with other bytes"
    );
    net.restart("edge-eu-1").unwrap();
    // Its first maintenance call recounts the cache (before new fills, which a recount racing
    // them could miss by the chunks in flight).
    wait_for(
        || recounts(&net.edges[0].server.log_text()) > before,
        "the first maintenance call after the start",
    );

    // The whole object, resumed where the client stopped and from the start: the parent's bytes.
    let got = start.len() + rest.len();
    let tail = client()
        .get(format!("{url}&sid=one"))
        .header("range", format!("bytes={got}-"))
        .send()
        .unwrap();
    assert_eq!(tail.status(), StatusCode::PARTIAL_CONTENT);
    let tail = tail.bytes().unwrap();
    assert!(
        tail[..] == sealed[got..],
        "the resumed bytes are the parent's"
    );
    let whole = client().get(format!("{url}&sid=two")).send().unwrap();
    assert!(whole.bytes().unwrap()[..] == sealed[..]);

    // The counters agree with the disk after the first maintenance calls of the new process.
    let kv = net.edges[0].kv_dir.clone();
    let report = maintain(net);
    assert_eq!(
        report["zones"][0]["used"].as_u64().unwrap(),
        chunk_bytes(&kv),
        "{report}"
    );
}
