//! The local network as real processes: three parent stores (eu primary, us, ap), the main
//! service, and edges in two regions running the real edge component on edge-host.
//!
//! Parents and main bind port 0 and report the port they got; the network then writes that port
//! into main's config and, for every process, its command line into `commands/NAME.sh`, so that a
//! process restarted with that command line comes back at the address the others call
//! ([`Network::restart`]).

use std::ffi::OsStr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, bail};

use crate::process::{Server, reserve_port, run};

/// Where a test's or the launcher's client connects from, and what country main thinks that is.
pub mod clients {
    /// A client in Germany (region eu).
    pub const EU: &str = "127.0.0.1";
    /// A client in the United States (region us).
    pub const US: &str = "127.0.1.1";
    /// A client in a country no region serves.
    pub const DENIED: &str = "127.0.0.99";
}

/// Settings of a network.
#[derive(Debug, Clone)]
pub struct Options {
    /// Edges as (id, region).
    pub edges: Vec<(String, String)>,
    /// Seconds between an edge's prefill rounds (0 = never).
    pub prefill_interval_secs: u64,
    /// Token uses per download link.
    pub max_uses: u32,
    /// Edges deliver platform headers as Spin does (`platform_headers = "append"`: the client's
    /// own `spin-client-addr` stays, the platform's comes last) instead of replacing them.
    pub spin_like_headers: bool,
    /// The edges' outbound first-byte and idle timeouts (edge-host's defaults when `None`).
    pub outbound_timeout_secs: Option<u64>,
    /// The edge component to run (else [`edge_wasm`]).
    pub edge_wasm: Option<PathBuf>,
    /// Extra top-level lines in every edge's config, e.g. `client_stall_timeout_secs = 2`.
    pub edge_settings: String,
    /// Extra lines in every edge's `[variables]`, e.g. `licensed_budget_bytes = "8388608"`.
    pub edge_variables: String,
    /// Extra lines in every `[[parents]]` table of main's and parent-sync's configs, e.g.
    /// `first_byte_timeout_secs = 2`.
    pub parent_settings: String,
    /// Main keeps its state in DynamoDB, served by a `moto` server the network starts, instead
    /// of the embedded store.
    pub dynamodb: bool,
    /// Each parent sends at most this many bytes per second per connection, as S3 does at
    /// roughly 100 MB/s (benchmarks; `None`: no cap).
    pub parent_connection_bytes_per_sec: Option<u64>,
    /// How many mains run (more than one needs `dynamodb`: they share the table and the keys);
    /// edges and the player are given them all, in order, and fail over.
    pub mains: usize,
    /// Extra top-level lines in main's config, e.g. `edge_heartbeat_secs = 1`.
    pub main_settings: String,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            edges: vec![
                ("edge-eu-1".into(), "eu".into()),
                ("edge-eu-2".into(), "eu".into()),
                ("edge-us-1".into(), "us".into()),
            ],
            prefill_interval_secs: 2,
            max_uses: 3,
            spin_like_headers: false,
            outbound_timeout_secs: None,
            edge_wasm: None,
            edge_settings: String::new(),
            edge_variables: String::new(),
            parent_settings: String::new(),
            dynamodb: false,
            parent_connection_bytes_per_sec: None,
            mains: 1,
            main_settings: String::new(),
        }
    }
}

/// One parent store.
#[derive(Debug)]
pub struct Parent {
    pub name: String,
    pub region: String,
    pub root: PathBuf,
    pub server: Server,
}

/// One edge.
#[derive(Debug)]
pub struct Edge {
    pub id: String,
    pub region: String,
    pub kv_dir: PathBuf,
    /// The edge's secret (its `edge_secret` variable), which signs internal calls.
    pub secret: String,
    pub server: Server,
}

/// A running network; everything stops when it is dropped.
#[derive(Debug)]
pub struct Network {
    pub dir: PathBuf,
    pub parents: Vec<Parent>,
    pub main: Server,
    /// Further mains over the same DynamoDB table ([`Options::mains`]).
    pub more_mains: Vec<Server>,
    pub edges: Vec<Edge>,
    /// The local DynamoDB, when [`Options::dynamodb`].
    pub moto: Option<crate::moto::Moto>,
    pub admin_token: String,
    pub access_key: String,
    pub secret_key: String,
}

/// The directory holding the workspace's built binaries (next to the running executable).
pub fn bin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CDN_BIN_DIR") {
        return dir.into();
    }
    let exe = std::env::current_exe().expect("current exe");
    let dir = exe.parent().expect("exe dir");
    if dir.ends_with("deps") {
        dir.parent().expect("profile dir").to_owned()
    } else {
        dir.to_owned()
    }
}

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_owned()
}

/// Where the edge component may be, in the order looked at: `CDN_EDGE_WASM`; next to the
/// binaries (an installed layout); the `edge` profile's output in the target directory that holds
/// the binaries (wherever `CARGO_TARGET_DIR` put it). Nothing depends on the source path.
pub fn edge_wasm_candidates() -> Vec<PathBuf> {
    if let Some(path) = std::env::var_os("CDN_EDGE_WASM") {
        return vec![path.into()];
    }
    let bins = bin_dir();
    let mut candidates = vec![bins.join("edge_fn.wasm")];
    if let Some(target) = bins.parent() {
        candidates.push(target.join("wasm32-wasip2/edge/edge_fn.wasm"));
    }
    candidates
}

/// The edge component: the first of [`edge_wasm_candidates`] that exists (else the last, for
/// the error message).
pub fn edge_wasm() -> PathBuf {
    let candidates = edge_wasm_candidates();
    candidates
        .iter()
        .find(|p| p.is_file())
        .or(candidates.last())
        .cloned()
        .expect("at least one candidate")
}

/// A command for one of the workspace's binaries.
pub fn command(name: &str) -> Command {
    Command::new(bin_dir().join(name))
}

const REGIONS: &str = r#"
[[regions]]
name = "eu"
countries = ["DE", "FR", "GB", "NL", "IT", "ES"]
[[regions]]
name = "us"
countries = ["US", "CA"]
[[regions]]
name = "ap"
countries = ["JP", "SG", "AU"]

[geo]
overrides = [
  { cidr = "127.0.0.0/8", country = "DE" },
  { cidr = "127.0.1.0/24", country = "US" },
  { cidr = "127.0.0.99/32", country = "KP" },
]
"#;

const STARTUP: Duration = Duration::from_secs(60);

impl Network {
    /// Starts everything under `dir` (which should be empty).
    pub fn start(dir: &Path, opts: &Options) -> anyhow::Result<Self> {
        let wasm = opts.edge_wasm.clone().unwrap_or_else(edge_wasm);
        if !wasm.exists() {
            bail!(
                "the edge component is missing (looked at {:?}): build it with `cargo build -p edge-fn --target wasm32-wasip2 --profile edge`, or set CDN_EDGE_WASM",
                edge_wasm_candidates()
            );
        }
        for sub in ["logs", "parents", "main", "edges"] {
            std::fs::create_dir_all(dir.join(sub))?;
        }
        let access_key = "cdn-local".to_owned();
        let secret_key = protocol::random_id();
        let admin_token = format!("admin-{}", protocol::random_id());

        let mut parents = Vec::new();
        for (name, region) in [
            ("parent-eu", "eu"),
            ("parent-us", "us"),
            ("parent-ap", "ap"),
        ] {
            let root = dir.join("parents").join(region);
            let parent_store = |listen: &str| {
                let mut cmd = command("parent-store");
                cmd.arg("--root").arg(&root).args([
                    "--listen",
                    listen,
                    "--access-key",
                    &access_key,
                    "--secret-key",
                    &secret_key,
                ]);
                cmd.args(["--bucket", "parents", "--region", region]);
                if let Some(rate) = opts.parent_connection_bytes_per_sec {
                    cmd.args(["--connection-bytes-per-sec", &rate.to_string()]);
                }
                cmd
            };
            let server = Server::spawn(
                name,
                parent_store("127.0.0.1:0"),
                &dir.join(format!("logs/{name}.log")),
                STARTUP,
            )?;
            write_command_file(dir, name, &parent_store(&server.addr.to_string()))?;
            parents.push(Parent {
                name: name.into(),
                region: region.into(),
                root,
                server,
            });
        }
        let parents_toml = parents
            .iter()
            .map(|p| {
                format!(
                    "[[parents]]\nname = \"{}\"\nregion = \"{}\"\nendpoint = \"{}\"\nbucket = \"parents\"\naccess_key = \"{access_key}\"\nsecret_key = \"{secret_key}\"\nprimary = {}\n{}\n",
                    p.name,
                    p.region,
                    p.server.url(),
                    p.region == "eu",
                    opts.parent_settings,
                )
            })
            .collect::<Vec<_>>()
            .join("\n");
        std::fs::write(dir.join("parents.toml"), &parents_toml)?;

        let edge_ports: Vec<u16> = opts
            .edges
            .iter()
            .map(|_| reserve_port())
            .collect::<Result<_, _>>()?;
        let secrets: Vec<String> = opts.edges.iter().map(|_| protocol::random_id()).collect();
        let edges_toml = opts
            .edges
            .iter()
            .zip(&edge_ports)
            .zip(&secrets)
            .map(|(((id, region), port), secret)| {
                format!("[[edges]]\nid = \"{id}\"\nregion = \"{region}\"\nurl = \"http://127.0.0.1:{port}\"\nsecret = \"{secret}\"\n")
            })
            .collect::<Vec<_>>()
            .join("\n");
        if opts.mains == 0 || (opts.mains > 1 && !opts.dynamodb) {
            bail!("{} mains: one, or several over DynamoDB", opts.mains);
        }
        let moto = if opts.dynamodb {
            Some(crate::moto::Moto::start().context(
                "store = dynamodb needs moto (pip install 'moto[server]'), the local DynamoDB",
            )?)
        } else {
            None
        };
        let store_toml = match &moto {
            Some(moto) => format!(
                "[dynamodb]\ntable = \"cdn-local\"\nendpoint = \"{}\"\nregion = \"us-east-1\"\naccess_key = \"local\"\nsecret_key = \"local\"\n",
                moto.url
            ),
            None => String::new(),
        };
        let store_kind = if moto.is_some() {
            "dynamodb"
        } else {
            "embedded"
        };
        // Every main shares data_dir: the first generates the signing key and the
        // key-encryption key there, the others read them.
        let main_toml = |listen: &str| {
            format!(
                "listen = \"{listen}\"\ndata_dir = \"{}\"\nadmin_token = \"{admin_token}\"\nstore = \"{store_kind}\"\n{}\n\n[tokens]\nmax_uses = {}\n{REGIONS}\n{parents_toml}\n{edges_toml}\n{store_toml}",
                dir.join("main").display(),
                opts.main_settings,
                opts.max_uses
            )
        };
        let mut mains = Vec::new();
        for n in 0..opts.mains {
            let (name, file) = if n == 0 {
                ("main-service".to_owned(), dir.join("main.toml"))
            } else {
                (
                    format!("main-service-{}", n + 1),
                    dir.join(format!("main-{}.toml", n + 1)),
                )
            };
            std::fs::write(&file, main_toml("127.0.0.1:0"))?;
            if n == 0 && moto.is_some() {
                let mut cmd = command("main-service");
                cmd.arg("--config").arg(&file).arg("create-table");
                run(cmd, STARTUP).context("creating main's table")?;
            }
            let mut cmd = command("main-service");
            cmd.arg("--config").arg(&file);
            let server = Server::spawn(&name, cmd, &dir.join(format!("logs/{name}.log")), STARTUP)?;
            // The same command line now binds the port every edge was given.
            std::fs::write(&file, main_toml(&server.addr.to_string()))?;
            let mut cmd = command("main-service");
            cmd.arg("--config").arg(&file);
            write_command_file(dir, &name, &cmd)?;
            mains.push(server);
        }
        let main = mains.remove(0);
        let more_mains = mains;
        let main_urls: Vec<String> = std::iter::once(&main)
            .chain(&more_mains)
            .map(Server::url)
            .collect();

        let outbound: Vec<String> = main_urls
            .iter()
            .cloned()
            .chain(parents.iter().map(|p| p.server.url()))
            .collect();
        let mut edges = Vec::new();
        for (((id, region), port), secret) in opts.edges.iter().zip(&edge_ports).zip(&secrets) {
            let kv_dir = dir.join("edges").join(id);
            let config = format!(
                "listen = \"127.0.0.1:{port}\"\ncomponent = \"{}\"\nkv_dir = \"{}\"\nallowed_outbound_hosts = {:?}\nprefill_interval_secs = {}\nplatform_headers = \"{}\"\n\n[variables]\nedge_id = \"{id}\"\nedge_secret = \"{secret}\"\nedge_region = \"{region}\"\nmain_url = \"{}\"\n",
                wasm.display(),
                kv_dir.display(),
                outbound,
                opts.prefill_interval_secs,
                if opts.spin_like_headers {
                    "append"
                } else {
                    "replace"
                },
                main_urls.join(", ")
            );
            let timeouts = opts.outbound_timeout_secs.map_or(String::new(), |t| {
                format!(
                    "outbound_first_byte_timeout_secs = {t}\noutbound_idle_timeout_secs = {t}\n"
                )
            });
            let config = format!(
                "{timeouts}{}\n{config}{}\n",
                opts.edge_settings, opts.edge_variables
            );
            let path = dir.join("edges").join(format!("{id}.toml"));
            std::fs::write(&path, config)?;
            let mut cmd = command("edge-host");
            cmd.arg("--config").arg(&path);
            write_command_file(dir, id, &cmd)?;
            let server = Server::spawn(id, cmd, &dir.join(format!("logs/{id}.log")), STARTUP)?;
            edges.push(Edge {
                id: id.clone(),
                region: region.clone(),
                kv_dir,
                secret: secret.clone(),
                server,
            });
        }
        Ok(Self {
            dir: dir.to_owned(),
            parents,
            main,
            more_mains,
            edges,
            moto,
            admin_token,
            access_key,
            secret_key,
        })
    }

    /// The command line that starts process `name` (`main-service`, a parent's or an edge's
    /// name) where it listened first: `commands/NAME.sh`.
    pub fn command_file(&self, name: &str) -> PathBuf {
        command_file(&self.dir, name)
    }

    /// Stops process `name` and starts it again with its command file; fails unless it comes
    /// back at the address it had.
    pub fn restart(&mut self, name: &str) -> anyhow::Result<()> {
        let file = self.command_file(name);
        let dir = self.dir.clone();
        let server = if name == self.main.name {
            &mut self.main
        } else if let Some(m) = self.more_mains.iter_mut().find(|m| m.name == name) {
            m
        } else if let Some(p) = self.parents.iter_mut().find(|p| p.name == name) {
            &mut p.server
        } else if let Some(e) = self.edges.iter_mut().find(|e| e.id == name) {
            &mut e.server
        } else {
            bail!("no process named {name}");
        };
        server.stop();
        let restarted = Server::spawn(
            name,
            Command::new(&file),
            &dir.join(format!("logs/{name}.log")),
            STARTUP,
        )?;
        if restarted.addr != server.addr {
            bail!(
                "{name} came back at {} instead of {}",
                restarted.addr,
                server.addr
            );
        }
        *server = restarted;
        Ok(())
    }

    /// Ingests the file at `path` as `id` through main's admin API.
    pub fn ingest(
        &self,
        id: &str,
        title: &str,
        level: Option<u8>,
        regions: &[&str],
        path: &Path,
    ) -> anyhow::Result<serde_json::Value> {
        self.ingest_with(id, title, level, regions, "", path)
    }

    /// Ingests the file at `path` as a public object (a poster, a trailer): never rented, served
    /// by the edges at `/v1/public/{id}` without a token.
    pub fn ingest_public(
        &self,
        id: &str,
        title: &str,
        path: &Path,
    ) -> anyhow::Result<serde_json::Value> {
        self.ingest_with(id, title, None, &[], "&public=true", path)
    }

    /// [`ingest`](Self::ingest) with more of the admin API's query (`extra`, such as
    /// `&rating=12&max_plays=2`).
    pub fn ingest_with(
        &self,
        id: &str,
        title: &str,
        level: Option<u8>,
        regions: &[&str],
        extra: &str,
        path: &Path,
    ) -> anyhow::Result<serde_json::Value> {
        let file =
            std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
        let mut url = format!(
            "{}/v1/admin/items?id={id}&title={}",
            self.main.url(),
            title.replace(' ', "%20")
        );
        if let Some(l) = level {
            url.push_str(&format!("&level={l}"));
        }
        if !regions.is_empty() {
            url.push_str(&format!("&regions={}", regions.join(",")));
        }
        url.push_str(extra);
        let resp = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(600))
            .build()?
            .post(url)
            .bearer_auth(&self.admin_token)
            .body(reqwest::blocking::Body::new(file))
            .send()?;
        let status = resp.status();
        let body: serde_json::Value = resp.json().unwrap_or_default();
        if !status.is_success() {
            bail!(
                "ingest of {id} failed: {status} {body}\n{}",
                self.main.log_tail()
            );
        }
        Ok(body)
    }

    /// Replicates the primary parent to the others once (`parent-sync once`).
    pub fn sync_parents(&self) -> anyhow::Result<String> {
        let mut cmd = command("parent-sync");
        cmd.arg("--config")
            .arg(self.dir.join("parents.toml"))
            .arg("once");
        run(cmd, Duration::from_secs(600))
    }

    /// A `player` command with its own home directory, talking to this network's main.
    pub fn player(&self, home: &Path) -> Command {
        let mut cmd = command("player");
        cmd.arg("--home")
            .arg(home)
            .arg("--main")
            .arg(self.main_urls());
        cmd
    }

    /// Every main's base URL, separated by commas, the first main first (as edges and the
    /// player are given them).
    pub fn main_urls(&self) -> String {
        std::iter::once(&self.main)
            .chain(&self.more_mains)
            .map(Server::url)
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Registers `email` with the player in `home` and logs in.
    pub fn customer(&self, home: &Path, email: &str) -> anyhow::Result<()> {
        for step in ["register", "login"] {
            let mut cmd = self.player(home);
            cmd.args([step, "--email", email, "--password", "pw pw pw pw"]);
            run(cmd, Duration::from_secs(120))?;
        }
        Ok(())
    }

    /// Rents `item` with the player logged in in `home`; the download URL it prints.
    pub fn rent(&self, home: &Path, item: &str) -> anyhow::Result<String> {
        let mut cmd = self.player(home);
        cmd.args(["rent", item]);
        let out = run(cmd, Duration::from_secs(120))?;
        out.lines()
            .find_map(|l| l.strip_prefix("download_url:"))
            .map(|url| url.trim().to_owned())
            .with_context(|| format!("no download_url in {out}"))
    }

    /// Runs a test's `walk` over this network; when it panics, every process's log tail is
    /// printed before the panic goes on.
    pub fn walk<T>(&mut self, walk: impl FnOnce(&mut Network) -> T) -> T {
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| walk(self)));
        result.unwrap_or_else(|e| {
            eprintln!("{}", self.logs());
            std::panic::resume_unwind(e)
        })
    }

    /// All logs' tails, for failure messages.
    pub fn logs(&self) -> String {
        let mut out = vec![self.main.log_tail()];
        out.extend(self.more_mains.iter().map(Server::log_tail));
        out.extend(self.edges.iter().map(|e| e.server.log_tail()));
        out.extend(self.parents.iter().map(|p| p.server.log_tail()));
        out.join("\n")
    }
}

fn command_file(dir: &Path, name: &str) -> PathBuf {
    dir.join("commands").join(format!("{name}.sh"))
}

/// Writes `cmd` as an executable shell script: the command line that restarts process `name`.
fn write_command_file(dir: &Path, name: &str, cmd: &Command) -> anyhow::Result<()> {
    let quote = |s: &OsStr| format!("'{}'", s.to_string_lossy().replace('\'', r"'\''"));
    let line = std::iter::once(quote(cmd.get_program()))
        .chain(cmd.get_args().map(quote))
        .collect::<Vec<_>>()
        .join(" ");
    let path = command_file(dir, name);
    std::fs::create_dir_all(path.parent().expect("commands dir"))?;
    std::fs::write(
        &path,
        format!(
            "#!/bin/sh\n# Starts {name} where the local network first started it.\nexec {line}\n"
        ),
    )?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))?;
    Ok(())
}

/// Writes `len` bytes of deterministic pseudo-random content to `path`, streaming.
pub fn write_content(path: &Path, len: u64, seed: u64) -> anyhow::Result<()> {
    use std::io::Write;
    let mut f = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    let mut block = vec![0u8; 1 << 20];
    let mut written = 0u64;
    let mut counter = 0u64;
    while written < len {
        let mut h = blake3::Hasher::new();
        h.update(&seed.to_le_bytes());
        h.update(&counter.to_le_bytes());
        h.finalize_xof().fill(&mut block);
        let n = (len - written).min(block.len() as u64) as usize;
        f.write_all(&block[..n])?;
        written += n as u64;
        counter += 1;
    }
    f.flush()?;
    Ok(())
}

/// BLAKE3 of a file, streaming.
pub fn file_digest(path: &Path) -> anyhow::Result<String> {
    let mut h = blake3::Hasher::new();
    h.update_reader(std::fs::File::open(path)?)?;
    Ok(h.finalize().to_hex().to_string())
}
