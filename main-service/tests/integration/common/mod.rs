//! Shared test harness: an in-process state for `Router::oneshot`, the `main-service` binary as a
//! child process on port 0, and a minimal HTTP/1.1 client over a raw socket (the hostile-client
//! tests need to stop mid-request, which no HTTP client library does).

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use main_service::keys::Keys;
use main_service::records::ItemRecord;
use main_service::store::{EmbeddedStore, Store};
use main_service::{AppState, Config};
use protocol::{ContentKey, ItemId};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A config for tests: loopback is in Germany, one EU edge, one unreachable parent.
pub const CONFIG: &str = r#"
    data_dir = "/unused"
    admin_token = "admin-token-0123456789"
    [[regions]]
    name = "eu"
    countries = ["DE"]
    [geo]
    overrides = [ { cidr = "127.0.0.0/8", country = "DE" } ]
    [[parents]]
    name = "p1"
    region = "eu"
    bucket = "bucket"
    endpoint = "http://127.0.0.1:1"
    access_key = "access"
    secret_key = "secret"
    primary = true
    [[edges]]
    id = "edge-eu-1"
    region = "eu"
    url = "http://edge-eu-1.test"
    secret = "edge-eu-1-secret-0123456789"
"#;

/// The test configuration with its data under `dir`, validated.
pub fn config(dir: &Path) -> Config {
    let mut config = Config::from_toml(CONFIG, "test.toml".as_ref()).unwrap();
    config.data_dir = dir.to_owned();
    config.validate().unwrap();
    config
}

/// A state over a fresh embedded store in `dir`, with `items` in the catalog.
pub async fn state(dir: &Path, items: &[&str]) -> AppState {
    let config = config(dir);
    let store: Arc<dyn Store> = Arc::new(EmbeddedStore::open(&config.store_path()).unwrap());
    let keys = Keys::load_or_create(dir, None).unwrap();
    let state = AppState::assemble(config, store, keys, Vec::new());
    for id in items {
        let rec = ItemRecord {
            id: ItemId::parse(id).unwrap(),
            title: (*id).into(),
            version: 1,
            key_version: 1,
            plaintext_len: 5,
            object_len: 5 + 160 + 48,
            chunk_size: 1 << 20,
            chunk_count: 1,
            root: "00".repeat(32),
            wrapped_content_key: state.keys.wrap_content_key(id, &ContentKey::generate()),
            level: None,
            regions: vec![],
            price_cents: 399,
            published_at: 1,
            public: false,
            policy: Default::default(),
            rating: None,
            presentation: Default::default(),
            previous: Vec::new(),
        };
        state.store.put_item(rec).await.unwrap();
    }
    state
}

/// The `main-service` binary, killed on drop; its stderr is kept for failure messages.
pub struct MainProcess {
    child: Child,
    pub addr: SocketAddr,
    stderr: Arc<Mutex<String>>,
    _dir: tempfile::TempDir,
}

impl MainProcess {
    /// Starts main with the test config plus `extra` TOML (tables such as `[server]`).
    pub fn start(extra: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let config = format!(
            "listen = \"127.0.0.1:0\"\n{}\n{extra}",
            CONFIG.replace(
                "data_dir = \"/unused\"",
                &format!("data_dir = {:?}", dir.path().join("data"))
            )
        );
        let path = dir.path().join("main.toml");
        std::fs::write(&path, config).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_main-service"))
            .arg("--config")
            .arg(&path)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut pipe = child.stderr.take().unwrap();
        let sink = stderr.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            if let Some(Ok(line)) = lines.next() {
                let _ = tx.send(line);
            }
            // Keep draining so the child never blocks on a full pipe.
            for _ in lines {}
        });
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("main did not start: {}", stderr.lock().unwrap()));
        let addr = line
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .parse()
            .unwrap();
        Self {
            child,
            addr,
            stderr,
            _dir: dir,
        }
    }

    /// What main wrote to stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Main's resident set size in KiB, from `/proc/PID/status`.
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS in /proc/PID/status")
    }
}

impl Drop for MainProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An answer read off a raw socket.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub head: String,
    pub body: serde_json::Value,
    /// The body as text.
    pub text: String,
}

impl Answer {
    /// The value of header `name` (case-insensitive), if present.
    pub fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
        })
    }
}

/// Sends one request with `Connection: close` and reads the whole answer.
pub async fn request(addr: SocketAddr, method: &str, path: &str, json: Option<&str>) -> Answer {
    request_with(addr, method, path, &[], json).await
}

/// [`request`] with more headers.
pub async fn request_with(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    json: Option<&str>,
) -> Answer {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let body = json.unwrap_or("");
    let extra: String = headers
        .iter()
        .map(|(k, v)| format!("{k}: {v}\r\n"))
        .collect();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: main\r\nConnection: close\r\n{extra}\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(body.as_bytes()).await.unwrap();
    read_answer(&mut s).await
}

/// Reads an answer until the server closes the connection.
pub async fn read_answer(s: &mut TcpStream) -> Answer {
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await.unwrap();
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {text:?}"));
    Answer {
        status,
        head: head.to_owned(),
        body: serde_json::from_str(body).unwrap_or(serde_json::Value::Null),
        text: body.to_owned(),
    }
}
