//! A `moto` server (moto.server, serving one request at a time: [`SERIAL_MOTO`]) as a child
//! process: bound to port 0 on loopback,
//! its real port read from its "Running on" line, killed on drop, its output attached when a
//! test fails. Where python3 or moto is missing, [`Moto::start`] prints a visible SKIPPED line
//! and returns `None` (CI installs moto through `infra/setup.sh`).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// moto's server, one request at a time. moto evaluates a `TransactWriteItems`' conditions
/// without a lock, so two concurrent transactions can both pass a condition that only one of
/// them may (DynamoDB itself serializes them); served one at a time, they behave as DynamoDB's
/// do, and a race in the store's own logic is still a race.
const SERIAL_MOTO: &str = "import sys, moto.server as s\n\
    run = s.run_simple\n\
    s.run_simple = lambda *a, **k: run(*a, **{**k, 'threaded': False})\n\
    sys.exit(s.main())";

/// How much of moto's output is kept for a failure report (it logs every request).
const KEEP_BYTES: usize = 64 * 1024;

/// A running moto server.
#[derive(Debug)]
pub struct Moto {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    output: Arc<Mutex<String>>,
}

impl Moto {
    /// Starts moto and waits until it listens (deadline 30 s); `None` if moto cannot run here.
    pub fn start() -> Option<Self> {
        let spawned = Command::new("python3")
            .args(["-c", SERIAL_MOTO, "-H", "127.0.0.1", "-p", "0"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn();
        let mut child = match spawned {
            Ok(c) => c,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                println!("SKIPPED: moto not installed (no python3); pip install 'moto[server]'");
                return None;
            }
            Err(e) => panic!("starting python3 -m moto.server: {e}"),
        };
        let output = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = mpsc::channel();
        let stderr = child.stderr.take().expect("piped");
        let out = output.clone();
        // Drains stderr for the whole run: moto blocks once a full pipe stops being read.
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(url) = line.split("Running on ").nth(1)
                    && let Some(tx) = tx.take()
                {
                    let _ = tx.send(url.trim().to_owned());
                }
                let mut o = out.lock().unwrap();
                o.push_str(&line);
                o.push('\n');
                if o.len() > 2 * KEEP_BYTES {
                    let cut = o.len() - KEEP_BYTES;
                    let cut = (cut..o.len())
                        .find(|i| o.is_char_boundary(*i))
                        .unwrap_or(cut);
                    o.drain(..cut);
                }
            }
        });
        match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(url) => Some(Self { child, url, output }),
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                let text = output.lock().unwrap().clone();
                if text.contains("No module named") {
                    println!("SKIPPED: moto not installed; pip install 'moto[server]'");
                    return None;
                }
                panic!("moto did not start within 30 s; its output:\n{text}");
            }
        }
    }
}

/// Whether moto can run here (python3 with `moto.server`), without starting it.
pub fn available() -> bool {
    Command::new("python3")
        .args(["-c", "import moto.server"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!(
                "--- moto output (last {KEEP_BYTES} bytes at most) ---\n{}",
                self.output.lock().unwrap()
            );
        }
    }
}
