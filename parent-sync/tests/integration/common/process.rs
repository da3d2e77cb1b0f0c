//! The binaries as child processes: a captured-stderr child, and `parent-store` on port 0 over a
//! temporary directory.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use parent_sync::{ParentConfig, ParentStore};

use super::{ACCESS_KEY, BUCKET, REGION, SECRET_KEY};

pub const STORE_BIN: &str = env!("CARGO_BIN_EXE_parent-store");
pub const SYNC_BIN: &str = env!("CARGO_BIN_EXE_parent-sync");

/// A child process whose stderr is captured for failure messages; killed on drop.
pub struct ChildProcess {
    child: Child,
    stderr: Arc<Mutex<String>>,
}

impl ChildProcess {
    pub fn spawn(cmd: &mut Command) -> Self {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn child");
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
        Self { child, stderr }
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Reads the `listening on ADDR` line within 60 s.
    pub fn listening_addr(&mut self) -> String {
        let stdout = self.child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("no listening line; stderr:\n{}", self.stderr()));
        line.trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected line {line:?}; stderr:\n{}", self.stderr()))
            .to_owned()
    }

    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "did not stop on SIGTERM; stderr:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for ChildProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `parent-store` process on port 0 over a temporary directory; killed on drop.
pub struct StoreProcess {
    pub process: ChildProcess,
    pub endpoint: String,
    pub root: tempfile::TempDir,
}

impl StoreProcess {
    pub fn start() -> Self {
        let root = tempfile::tempdir().expect("temp dir");
        let mut process = ChildProcess::spawn(
            Command::new(STORE_BIN)
                .arg("--root")
                .arg(root.path())
                .args(["--listen", "127.0.0.1:0", "--access-key", ACCESS_KEY])
                .args([
                    "--secret-key",
                    SECRET_KEY,
                    "--bucket",
                    BUCKET,
                    "--region",
                    REGION,
                ]),
        );
        let addr = process.listening_addr();
        Self {
            process,
            endpoint: format!("http://{addr}"),
            root,
        }
    }

    pub fn config(&self, name: &str, primary: bool) -> ParentConfig {
        super::parent_config(name, REGION, self.endpoint.clone(), primary)
    }

    pub async fn store(&self, name: &str) -> ParentStore {
        ParentStore::connect(&self.config(name, false))
            .await
            .expect("connect")
    }

    /// Where s3s-fs keeps the bytes of `key`, for damaging a copy at rest.
    pub fn object_path(&self, key: &str) -> PathBuf {
        self.root.path().join(BUCKET).join(key)
    }

    /// Sends `signal` (`STOP`, `CONT`) to the process.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.process.child.id().to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{signal} failed");
    }
}

/// Writes a `parent-sync` file for `parents`, without secret keys (see [`sync_command`]).
pub fn write_config(path: &Path, parents: &[ParentConfig]) {
    let mut text = String::new();
    for p in parents {
        text.push_str(&format!(
            "[[parents]]\nname = {:?}\nregion = {:?}\nendpoint = {:?}\nbucket = {:?}\n\
             access_key = {:?}\nprimary = {}\nconnect_timeout_secs = {}\n\
             first_byte_timeout_secs = {}\nidle_timeout_secs = {}\n\n",
            p.name,
            p.region,
            p.endpoint.as_deref().unwrap(),
            p.bucket,
            p.access_key.as_deref().unwrap(),
            p.primary,
            p.connect_timeout_secs,
            p.first_byte_timeout_secs,
            p.idle_timeout_secs,
        ));
    }
    std::fs::write(path, text).unwrap();
}

/// `parent-sync --config CONFIG` with the secret keys of parents `p`, `s1` and `s2` in its
/// environment, as an operator keeps them out of the file.
pub fn sync_command(config: &Path) -> Command {
    let mut cmd = Command::new(SYNC_BIN);
    // Plain log lines, so tests can look for `field=value`.
    cmd.arg("--config").arg(config).env("NO_COLOR", "1");
    for name in ["P", "S1", "S2"] {
        cmd.env(format!("PARENT_{name}_SECRET_KEY"), SECRET_KEY);
    }
    cmd
}
