//! Clients that ask an edge for a cached item and never read: edge-host's memory stays bounded,
//! their connections are closed after the stall timeout, and a client that reads is served
//! meanwhile. Real processes, real sockets.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use e2e::network::{Network, Options, write_content};
use reqwest::StatusCode;
use reqwest::blocking::Client;
use socket2::{Domain, Socket, Type};

const MIB: u64 = 1 << 20;
const ITEM_LEN: u64 = 32 * MIB;
const STALLED: usize = 100;
const STALL_SECS: u64 = 6;

/// edge-host's resident set in bytes, from `/proc/PID/status`.
fn rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kib * 1024
}

/// Registers with the player in `home`, logs in, rents `item`; the download URL.
fn rent(net: &Network, home: &Path, item: &str) -> String {
    net.customer(home, "sam@example.com").unwrap();
    net.rent(home, item).unwrap()
}

/// Sends a GET for `path_and_query` and reads nothing; a small receive buffer so the edge's
/// writes stall after a few hundred KiB rather than after the kernel's autotuned megabytes.
fn stalled_request(addr: SocketAddr, path_and_query: &str) -> TcpStream {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(64 << 10).unwrap();
    socket.connect(&addr.into()).unwrap();
    let mut stream: TcpStream = socket.into();
    write!(
        stream,
        "GET {path_and_query} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    stream
}

#[test]
fn stalled_readers_are_closed_and_memory_stays_bounded() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let opts = Options {
        edges: vec![("edge-eu-1".into(), "eu".into())],
        prefill_interval_secs: 0,
        edge_settings: format!("client_stall_timeout_secs = {STALL_SECS}"),
        ..Options::default()
    };
    Network::start(dir, &opts)
        .unwrap()
        .walk(|net| walk(net, dir));
}

fn walk(net: &Network, dir: &Path) {
    let src = dir.join("big.bin");
    write_content(&src, ITEM_LEN, 11).unwrap();
    net.ingest("big", "Big", None, &[], &src).unwrap();
    let url = format!("{}&sid=stall", rent(net, &dir.join("player"), "big"));
    let client = Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap();
    // A whole download fills the cache; a second one is all hits.
    let mut sealed_len = 0;
    for _ in 0..2 {
        let r = client.get(&url).send().unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        sealed_len = r.bytes().unwrap().len() as u64;
    }
    assert!(sealed_len > ITEM_LEN);

    let edge = &net.edges[0].server;
    let pid = edge.pid();
    let before = rss(pid);
    let peak = Arc::new(AtomicU64::new(before));
    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = {
        let (peak, sampling) = (peak.clone(), sampling.clone());
        std::thread::spawn(move || {
            while sampling.load(Ordering::Relaxed) {
                peak.fetch_max(rss(pid), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(10));
            }
        })
    };

    let path_and_query = url.strip_prefix(&edge.url()).unwrap().to_owned();
    let started = Instant::now();
    let stalled: Vec<TcpStream> = (0..STALLED)
        .map(|_| stalled_request(edge.addr, &path_and_query))
        .collect();
    std::thread::sleep(Duration::from_secs(1));

    // A client that reads is served in full while the others hold their connections.
    let served = Instant::now();
    let r = client.get(&url).send().unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.bytes().unwrap().len() as u64, sealed_len);
    let served = served.elapsed();
    assert!(
        started.elapsed() < Duration::from_secs(STALL_SECS),
        "the normal download ended after the stall timeout ({:?}); the test proves nothing",
        started.elapsed()
    );

    // Past the stall timeout every stalled connection has been closed by the edge: reading it
    // now yields what the kernel had buffered, then the end — far short of the whole item.
    std::thread::sleep(Duration::from_secs(STALL_SECS + 2));
    let mut closed = 0;
    for mut stream in stalled {
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut total = 0u64;
        let mut buf = vec![0u8; 1 << 16];
        loop {
            match stream.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => total += n as u64,
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
                Err(e) => panic!("a stalled connection is still open after {total} bytes: {e}"),
            }
        }
        if total < sealed_len {
            closed += 1;
        }
    }
    sampling.store(false, Ordering::Relaxed);
    sampler.join().unwrap();
    let peak = peak.load(Ordering::Relaxed);
    let after = rss(pid);
    let log = edge.log_tail();
    let mb = |b: u64| b as f64 / MIB as f64;
    eprintln!(
        "{STALLED} stalled clients: RSS {:.0} MiB before, peak {:.0} MiB (+{:.0} MiB, {:.2} MiB per client), {:.0} MiB after; {closed} closed; a normal download of {} MiB took {served:?}",
        mb(before),
        mb(peak),
        mb(peak - before),
        mb(peak - before) / STALLED as f64,
        mb(after),
        sealed_len >> 20,
    );
    assert_eq!(
        closed, STALLED,
        "stalled connections not closed by the edge"
    );
    assert!(
        log.contains("closed a connection whose client read nothing"),
        "{log}"
    );
    // And the edge counts them where an operator looks.
    let metrics = reqwest::blocking::get(format!("{}/metrics", edge.url()))
        .unwrap()
        .text()
        .unwrap();
    let counted: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("cdn_edge_stalled_connections_closed_total "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no stalled-connection counter in:\n{metrics}"));
    eprintln!("cdn_edge_stalled_connections_closed_total {counted}");
    assert!(
        counted >= (STALLED / 2) as f64,
        "{counted} stalled connections counted, {closed} closed"
    );
    assert!(
        peak - before < 256 * MIB,
        "RSS grew by {:.0} MiB under {STALLED} stalled clients",
        mb(peak - before)
    );
}
