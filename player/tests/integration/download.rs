//! The resumable download against a small in-process edge that serves Range requests of a
//! sealed object and can be told to fail.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use player::api::{ApiError, Edge, Item};
use player::download::{self, DownloadError, DownloadState, Options};
use protocol::seal::seal_to_vec;
use protocol::sealed::MIN_CHUNK_SIZE;
use protocol::{ContentKey, Header, ItemId, SealParams};

/// What the fake edge does with the next requests.
#[derive(Debug, Clone, Default)]
enum Fault {
    #[default]
    None,
    /// Answer this status with a JSON error body to every request from now on.
    Refuse(u16, &'static str),
    /// Answer the next request 503, then behave.
    Unavailable,
    /// Send headers and half of the body of the next request, then close the connection.
    CutBody,
}

#[derive(Debug, Default)]
struct EdgeState {
    /// (query, range start, range end exclusive) of every request.
    requests: Vec<(String, u64, u64)>,
    /// Succeed this many more requests, then apply `fault`.
    ok_before_fault: Option<usize>,
    fault: Fault,
    /// Served at `GET /v1/catalog/film`, so that the fake edge doubles as main for the CLI.
    catalog: Option<String>,
}

struct FakeEdge {
    url: String,
    state: Arc<Mutex<EdgeState>>,
}

impl FakeEdge {
    fn start(object: Vec<u8>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!(
            "http://{}/v1/content/film?token=tok",
            listener.local_addr().unwrap()
        );
        let state = Arc::new(Mutex::new(EdgeState::default()));
        let object = Arc::new(object);
        let shared = state.clone();
        thread::spawn(move || {
            for conn in listener.incoming() {
                let (object, state) = (object.clone(), shared.clone());
                thread::spawn(move || serve(conn.unwrap(), &object, &state));
            }
        });
        Self { url, state }
    }

    fn set_fault(&self, ok_before: usize, fault: Fault) {
        let mut s = self.state.lock().unwrap();
        s.ok_before_fault = Some(ok_before);
        s.fault = fault;
    }

    fn requests(&self) -> Vec<(String, u64, u64)> {
        self.state.lock().unwrap().requests.clone()
    }
}

fn serve(stream: TcpStream, object: &[u8], state: &Mutex<EdgeState>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut stream = stream;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let target = line.split_whitespace().nth(1).unwrap_or("").to_owned();
        let mut range = None;
        loop {
            let mut h = String::new();
            reader.read_line(&mut h).unwrap();
            if h.trim().is_empty() {
                break;
            }
            if let Some(v) = h.to_ascii_lowercase().strip_prefix("range: bytes=") {
                let (a, b) = v.trim().split_once('-').unwrap();
                range = Some((a.parse::<u64>().unwrap(), b.parse::<u64>().unwrap() + 1));
            }
        }
        if target.starts_with("/v1/catalog/") {
            let json = state.lock().unwrap().catalog.clone().unwrap_or_default();
            let resp = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{json}",
                json.len()
            );
            stream.write_all(resp.as_bytes()).unwrap();
            continue;
        }
        let (start, end) = range.expect("the player always sends Range");
        let query = target
            .split_once('?')
            .map(|(_, q)| q.to_owned())
            .unwrap_or_default();
        let fault = {
            let mut s = state.lock().unwrap();
            s.requests.push((query, start, end));
            match s.ok_before_fault {
                Some(0) => {
                    let f = s.fault.clone();
                    if !matches!(f, Fault::Refuse(..)) {
                        s.ok_before_fault = None;
                    }
                    f
                }
                Some(n) => {
                    s.ok_before_fault = Some(n - 1);
                    Fault::None
                }
                None => Fault::None,
            }
        };
        let body = &object[start as usize..end as usize];
        let head = |status: &str, len: usize| {
            format!(
                "HTTP/1.1 {status}\r\nContent-Range: bytes {start}-{}/{}\r\nContent-Length: {len}\r\nAccept-Ranges: bytes\r\n\r\n",
                end - 1,
                object.len()
            )
        };
        match fault {
            Fault::None => {
                stream
                    .write_all(head("206 Partial Content", body.len()).as_bytes())
                    .unwrap();
                stream.write_all(body).unwrap();
            }
            Fault::CutBody => {
                let _ = stream.write_all(head("206 Partial Content", body.len()).as_bytes());
                let _ = stream.write_all(&body[..body.len() / 2]);
                return;
            }
            Fault::Unavailable | Fault::Refuse(..) => {
                let (status, code) = match fault {
                    Fault::Refuse(s, c) => (s, c),
                    _ => (503, "unavailable"),
                };
                let json = format!(r#"{{"error":"{code}","message":"told to say {code}"}}"#);
                let resp = format!(
                    "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{json}",
                    json.len()
                );
                stream.write_all(resp.as_bytes()).unwrap();
            }
        }
        stream.flush().unwrap();
    }
}

/// A sealed object of 13 chunks of 4 KiB (the last one short) and its catalog entry.
fn object() -> (Vec<u8>, Item) {
    let plaintext: Vec<u8> = (0..50_000u32).map(|i| (i % 253) as u8).collect();
    let params = SealParams {
        chunk_size: MIN_CHUNK_SIZE,
        ..SealParams::new(ItemId::parse("film").unwrap(), 1)
    };
    let sealed = seal_to_vec(&ContentKey::generate(), params, &plaintext).unwrap();
    let header = Header::decode(&sealed).unwrap();
    let layout = header.layout();
    let item = Item {
        id: "film".into(),
        title: "Film".into(),
        plaintext_len: plaintext.len() as u64,
        object_len: sealed.len() as u64,
        chunk_size: MIN_CHUNK_SIZE,
        chunk_count: layout.chunk_count(),
        version: 1,
        key_version: 1,
        root: hex::encode(header.digest_root),
    };
    (sealed, item)
}

fn opts(max_range: u64) -> Options {
    Options {
        max_range,
        retries: 3,
        backoff: Duration::from_millis(10),
        progress: false,
    }
}

/// Three 4 KiB chunks (plus tags) per request.
const RANGE: u64 = 3 * (4096 + 16);

#[test]
fn downloads_in_bounded_ranges_under_one_session() {
    let (sealed, item) = object();
    let edge = FakeEdge::start(sealed.clone());
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("film.sealed");
    let n =
        download::download(&Edge::new().unwrap(), &item, &edge.url, &out, &opts(RANGE)).unwrap();
    assert_eq!(n, sealed.len() as u64);
    assert_eq!(std::fs::read(&out).unwrap(), sealed);
    assert!(!download::part_path(&out).exists());
    assert!(!download::state_path(&out).exists());

    let requests = edge.requests();
    // Header, digest list, then 13 chunks in 5 ranges.
    assert_eq!(requests.len(), 2 + 5, "{requests:?}");
    let sid = requests[0].0.split("sid=").nth(1).unwrap().to_owned();
    assert_eq!(sid.len(), 32);
    for (query, start, end) in &requests {
        assert!(query.starts_with("token=tok&sid="), "{query}");
        assert!(query.ends_with(&sid), "one session: {query}");
        assert!(end - start <= RANGE);
    }
}

#[test]
fn a_refused_download_resumes_from_the_last_verified_chunk() {
    let (sealed, item) = object();
    let edge = FakeEdge::start(sealed.clone());
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("film.sealed");
    let client = Edge::new().unwrap();

    // Header, digest list and two ranges (6 chunks) pass; then the edge refuses.
    edge.set_fault(4, Fault::Refuse(410, "uses_exhausted"));
    let err = download::download(&client, &item, &edge.url, &out, &opts(RANGE)).unwrap_err();
    match &err {
        DownloadError::Edge(ApiError::Refused {
            status,
            code,
            message,
        }) => {
            assert_eq!((*status, code.as_str()), (410, "uses_exhausted"));
            assert_eq!(message, "told to say uses_exhausted");
        }
        other => panic!("{other}"),
    }
    assert!(
        err.to_string()
            .contains("410 uses_exhausted: told to say uses_exhausted")
    );
    assert_eq!(edge.requests().len(), 5, "a refusal is not retried");
    let state = DownloadState::load(&download::state_path(&out))
        .unwrap()
        .unwrap();
    assert_eq!(state.verified_chunks, 6);
    assert!(!out.exists());

    edge.set_fault(usize::MAX, Fault::None);
    let before = edge.requests().len();
    download::download(&client, &item, &edge.url, &out, &opts(RANGE)).unwrap();
    assert_eq!(std::fs::read(&out).unwrap(), sealed);
    let resumed = &edge.requests()[before..];
    let layout = Header::decode(&sealed).unwrap().layout();
    // No header or digest list again: straight on with chunk 6.
    assert_eq!(resumed[0].1, layout.sealed_chunk_range(6).start);
    assert_eq!(resumed.len(), 3);
    assert!(
        resumed.iter().all(|(q, ..)| q.ends_with(&state.sid)),
        "same session"
    );
}

#[test]
fn transient_failures_are_retried() {
    let (sealed, item) = object();
    let edge = FakeEdge::start(sealed.clone());
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("film.sealed");
    let client = Edge::new().unwrap();

    edge.set_fault(3, Fault::CutBody);
    download::download(&client, &item, &edge.url, &out, &opts(RANGE)).unwrap();
    assert_eq!(std::fs::read(&out).unwrap(), sealed);
    // The cut range is asked again from the first chunk not complete.
    let r = edge.requests();
    assert_eq!(r.len(), 2 + 5, "{r:?}");
    assert_eq!(
        r[4].1,
        Header::decode(&sealed)
            .unwrap()
            .layout()
            .sealed_chunk_range(4)
            .start
    );

    edge.set_fault(2, Fault::Unavailable);
    download::download(&client, &item, &edge.url, &out, &opts(RANGE)).unwrap();
    assert_eq!(std::fs::read(&out).unwrap(), sealed);
}

#[test]
fn an_object_that_does_not_match_the_catalog_is_refused() {
    let (sealed, mut item) = object();
    item.root = "00".repeat(32);
    let edge = FakeEdge::start(sealed);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("film.sealed");
    let err = download::download(&Edge::new().unwrap(), &item, &edge.url, &out, &opts(RANGE))
        .unwrap_err();
    assert!(matches!(err, DownloadError::Verification(_)), "{err}");
    assert!(!out.exists());
}

#[test]
fn a_tampered_chunk_is_never_counted() {
    let (mut sealed, item) = object();
    let layout = Header::decode(&sealed).unwrap().layout();
    sealed[layout.sealed_chunk_range(4).start as usize + 10] ^= 0xff;
    let edge = FakeEdge::start(sealed);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("film.sealed");
    let err = download::download(&Edge::new().unwrap(), &item, &edge.url, &out, &opts(RANGE))
        .unwrap_err();
    assert!(
        err.to_string().contains("chunk 4 did not match its digest"),
        "{err}"
    );
    let state = DownloadState::load(&download::state_path(&out))
        .unwrap()
        .unwrap();
    assert_eq!(state.verified_chunks, 4);
}

fn cli(home: &std::path::Path, main: &str, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_player"))
        .arg("--home")
        .arg(home)
        .args(["--main", main])
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn the_download_command_reports_refusals_verbatim_and_resumes() {
    let (sealed, item) = object();
    let edge = FakeEdge::start(sealed.clone());
    edge.state.lock().unwrap().catalog = Some(serde_json::to_string(&item).unwrap());
    let main = edge.url.split("/v1/").next().unwrap().to_owned();
    let dir = tempfile::tempdir().unwrap();
    let range = RANGE.to_string();
    let args = [
        "download",
        "film",
        "--url",
        &edge.url,
        "--range-bytes",
        &range,
    ];

    edge.set_fault(3, Fault::Refuse(403, "region_denied"));
    let refused = cli(dir.path(), &main, &args);
    assert!(!refused.status.success());
    let stderr = String::from_utf8(refused.stderr).unwrap();
    assert!(
        stderr.contains("403 region_denied: told to say region_denied"),
        "{stderr}"
    );

    edge.set_fault(usize::MAX, Fault::None);
    let ok = cli(dir.path(), &main, &args);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let path = dir.path().join("downloads/film.sealed");
    assert_eq!(
        String::from_utf8(ok.stdout).unwrap().trim(),
        format!("downloaded: {} ({} bytes)", path.display(), sealed.len())
    );
    assert_eq!(std::fs::read(&path).unwrap(), sealed);
    // 2 metadata + 1 chunk range, the refusal, then the remaining 4 chunk ranges.
    assert_eq!(edge.requests().len(), 2 + 1 + 1 + 4);
}

#[test]
fn a_dead_edge_gives_way_to_the_rentals_fallback_in_the_same_session() {
    let (sealed, item) = object();
    let fallback = FakeEdge::start(sealed.clone());
    // An address where nothing listens: every request to it fails to connect.
    let dead = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        format!(
            "http://{}/v1/content/film?token=tok",
            l.local_addr().unwrap()
        )
    };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("film.sealed");
    let n = download::download_from(
        &Edge::new().unwrap(),
        &item,
        &dead,
        Some(&fallback.url),
        &out,
        &opts(RANGE),
    )
    .unwrap();
    assert_eq!(n, sealed.len() as u64);
    assert_eq!(std::fs::read(&out).unwrap(), sealed);
    let sids: std::collections::BTreeSet<String> = fallback
        .requests()
        .into_iter()
        .map(|(query, _, _)| query)
        .collect();
    assert_eq!(sids.len(), 1, "one session throughout: {sids:?}");
    assert!(sids.iter().all(|q| q.contains("sid=")), "{sids:?}");

    // Without a fallback the same dead edge is a clear failure after the retries.
    let err = download::download(
        &Edge::new().unwrap(),
        &item,
        &dead,
        &dir.path().join("other.sealed"),
        &opts(RANGE),
    )
    .unwrap_err();
    assert!(
        matches!(err, download::DownloadError::GaveUp { .. }),
        "{err}"
    );
}
