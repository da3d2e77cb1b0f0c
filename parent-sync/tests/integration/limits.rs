//! The `parent-store` binary under hostile clients, over real sockets on 127.0.0.1: many
//! half-open connections are closed after the header timeout and a normal request is served
//! meanwhile. (The body-read timeout is the same code as main's, tested there: an unsigned body
//! here is refused before it is read.)

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The binary with short timeouts, killed on drop.
struct ParentStore {
    child: Child,
    addr: SocketAddr,
    _root: tempfile::TempDir,
}

impl ParentStore {
    fn start() -> Self {
        let root = tempfile::tempdir().unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_parent-store"))
            .args([
                "--listen",
                "127.0.0.1:0",
                "--access-key",
                "ak",
                "--secret-key",
                "sk",
            ])
            .args([
                "--header-read-timeout-secs",
                "1",
                "--body-read-timeout-secs",
                "1",
            ])
            .arg("--root")
            .arg(root.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .parse()
            .unwrap();
        Self {
            child,
            addr,
            _root: root,
        }
    }
}

impl Drop for ParentStore {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads until the server closes `s`; `false` if it is still open at `deadline`.
async fn closed_by_server(s: &mut TcpStream, deadline: Instant) -> bool {
    let mut buf = [0u8; 1024];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, s.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0) | Err(_)) => return true,
            Ok(Ok(_)) => continue,
        }
    }
}

/// The status line of one complete unsigned request (S3 answers 403 to anonymous callers).
async fn status_of_unsigned_get(addr: SocketAddr) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /parents HTTP/1.1\r\nHost: parent\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await.unwrap();
    String::from_utf8_lossy(&raw)
        .lines()
        .next()
        .unwrap_or("")
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_open_connections_are_closed_and_others_served() {
    const HALF_OPEN: usize = 1000;
    let parent = ParentStore::start();
    let mut conns = Vec::with_capacity(HALF_OPEN);
    for _ in 0..HALF_OPEN {
        let mut s = TcpStream::connect(parent.addr).await.unwrap();
        s.write_all(b"GET /parents HTTP/1.1\r\nHost: parent\r\n")
            .await
            .unwrap();
        conns.push(s);
    }
    let started = Instant::now();
    assert_eq!(
        status_of_unsigned_get(parent.addr).await,
        "HTTP/1.1 403 Forbidden"
    );
    assert!(started.elapsed() < Duration::from_secs(1), "served late");
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut still_open = 0;
    for s in &mut conns {
        if !closed_by_server(s, deadline).await {
            still_open += 1;
        }
    }
    assert_eq!(still_open, 0, "half-open connections left open");
}
