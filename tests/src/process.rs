//! One child process of the network: spawned, awaited until it prints `listening on ADDR`,
//! killed when dropped. Its stderr goes to a log file whose tail is attached to failures.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{Context, bail};

/// A running server process.
#[derive(Debug)]
pub struct Server {
    pub name: String,
    pub addr: SocketAddr,
    child: Child,
    log: PathBuf,
}

impl Server {
    /// Spawns `cmd`, logging stderr to `log`, and waits up to `deadline` for its address line.
    pub fn spawn(
        name: &str,
        mut cmd: Command,
        log: &Path,
        deadline: Duration,
    ) -> anyhow::Result<Self> {
        // Appended to: a restarted process keeps its earlier lines.
        let err = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .with_context(|| format!("opening {}", log.display()))?;
        cmd.stdout(Stdio::piped()).stderr(err).stdin(Stdio::null());
        let mut child = cmd
            .spawn()
            .with_context(|| format!("starting {name}: {cmd:?}"))?;
        let stdout = child.stdout.take().expect("piped");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            for line in lines.by_ref() {
                let Ok(line) = line else { break };
                if let Some(addr) = line.strip_prefix("listening on ") {
                    let _ = tx.send(addr.trim().to_owned());
                    break;
                }
            }
            // Keep draining so the child never blocks on a full pipe.
            for _ in lines {}
        });
        let mut server = Self {
            name: name.to_owned(),
            addr: "0.0.0.0:0".parse().expect("addr"),
            child,
            log: log.to_owned(),
        };
        match rx.recv_timeout(deadline) {
            Ok(addr) => {
                server.addr = addr
                    .parse()
                    .with_context(|| format!("{name} printed a bad address {addr:?}"))?;
                Ok(server)
            }
            Err(_) => {
                let status = server.child.try_wait().ok().flatten();
                bail!(
                    "{name} did not report its address within {deadline:?} (exit: {status:?})\n{}",
                    server.log_tail()
                )
            }
        }
    }

    /// `http://ADDR`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The last lines of the process's stderr.
    pub fn log_tail(&self) -> String {
        let text = self.log_text();
        let lines: Vec<&str> = text.lines().collect();
        let tail = lines[lines.len().saturating_sub(40)..].join("\n");
        format!(
            "--- last lines of {} ({}) ---\n{tail}",
            self.name,
            self.log.display()
        )
    }

    /// The whole log file: every process started under this name appends to it.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `signal` (e.g. `STOP`, `CONT`) to the process: a stopped peer keeps its sockets
    /// open and answers nothing, the hardest kind of failure for its callers.
    pub fn signal(&self, signal: &str) {
        let status = std::process::Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.pid().to_string())
            .status()
            .expect("running kill");
        assert!(status.success(), "kill -{signal} {} failed", self.name);
    }

    /// Stops the process (SIGKILL) and waits for it.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Runs a command to completion with a deadline; returns stdout, or an error with both outputs.
pub fn run(mut cmd: Command, deadline: Duration) -> anyhow::Result<String> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = cmd.spawn().with_context(|| format!("running {cmd:?}"))?;
    let (tx, rx) = mpsc::channel();
    let id = child.id();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let out = match rx.recv_timeout(deadline) {
        Ok(out) => out?,
        Err(_) => {
            let _ = Command::new("kill").arg("-9").arg(id.to_string()).status();
            bail!("{cmd:?} did not finish within {deadline:?}");
        }
    };
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        bail!(
            "{cmd:?} failed ({})\nstdout:\n{stdout}\nstderr:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(stdout)
}

/// A free loopback port, for the rare process whose address must be known before it starts.
pub fn reserve_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}
