//! `edge-peers`: our edge against the software an operator would put there instead, in the same
//! run on the same machine: nginx `sendfile` serving the same sealed file from disk (hits), and
//! Varnish in front of the same parent (cold downloads). The peers are started by this program
//! on loopback with configurations it writes; `bench/edge-peers.sh` installs them (Debian's
//! `nginx`, `varnish`, `wrk`), builds release binaries and runs it. Prints Markdown tables for
//! `docs/benchmarks.md`.

use bench::measure::{client, curl_gbps, download, median};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use e2e::network::{Network, Options, write_content};
use e2e::process::reserve_port;

#[derive(Debug, Parser)]
#[command(about = "The edge against nginx (hits) and Varnish (cold) in the same run")]
struct Args {
    /// The edge component to run (the shipped build).
    #[arg(long)]
    component: PathBuf,
    /// Size of the hit item in MiB.
    #[arg(long, default_value_t = 256)]
    mib: u64,
    /// Size of each cold item in MiB.
    #[arg(long, default_value_t = 128)]
    cold_mib: u64,
    /// Runs per figure (the median is reported).
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Concurrent clients for the many-clients hit figure.
    #[arg(long, default_value_t = 8)]
    clients: usize,
    /// Seconds of each wrk run (1 KiB ranges, 16 connections).
    #[arg(long, default_value_t = 5)]
    wrk_secs: u64,
    /// Client counts for the hit throughput sweep (edge and nginx at each).
    #[arg(long, value_delimiter = ',', default_value = "1,2,4,8,16")]
    sweep: Vec<usize>,
    /// Where to write the sweep as an SVG chart (e.g. docs/edge-throughput.svg).
    #[arg(long)]
    svg: Option<PathBuf>,
    /// An extra top-level line of edge-host's config, e.g. `verify_cached_chunks = "every_read"`
    /// (repeatable).
    #[arg(long)]
    edge_setting: Vec<String>,
    /// Caps every parent connection at this many MB/s, as S3 caps one (about 100 MB/s): cold
    /// downloads then meet the cap rather than this machine's cores (none by default).
    #[arg(long)]
    parent_connection_mbps: Option<u64>,
    /// A Spin variable of the edge as `name = "value"`, e.g. `fill_parallel_gets = "8"`
    /// (repeatable).
    #[arg(long)]
    edge_variable: Vec<String>,
}

/// GB/s of `clients` concurrent whole downloads of `url` (total bytes over wall time).
fn concurrent_gbps(url: &str, clients: usize) -> anyhow::Result<f64> {
    let started = Instant::now();
    let handles: Vec<_> = (0..clients)
        .map(|_| {
            let url = url.to_owned();
            std::thread::spawn(move || download(&client()?, &url))
        })
        .collect();
    let mut bytes = 0;
    for h in handles {
        bytes += h.join().expect("download thread")?;
    }
    Ok(bytes as f64 / started.elapsed().as_secs_f64() / 1e9)
}

/// GB/s of 16 concurrent ranges of a quarter of the object each (a download manager's
/// connections: quarter `i % 4` for connection `i`), total bytes over wall time.
fn ranges_gbps(url: &str, object_len: u64) -> anyhow::Result<f64> {
    let quarter = object_len / 4;
    let started = Instant::now();
    let handles: Vec<_> = (0..16u64)
        .map(|i| {
            let url = url.to_owned();
            std::thread::spawn(move || -> anyhow::Result<u64> {
                let start = (i % 4) * quarter;
                let r = client()?
                    .get(&url)
                    .header("range", format!("bytes={start}-{}", start + quarter - 1))
                    .send()?
                    .error_for_status()?;
                bench::measure::drain(r)
            })
        })
        .collect();
    let mut bytes = 0;
    for h in handles {
        bytes += h.join().expect("range thread")?;
    }
    Ok(bytes as f64 / started.elapsed().as_secs_f64() / 1e9)
}

/// Sum of an edge's `cdn_edge_filled_bytes_total` samples: bytes received from parents.
fn filled_bytes(edge: &str) -> anyhow::Result<u64> {
    let text = client()?.get(format!("{edge}/metrics")).send()?.text()?;
    Ok(text
        .lines()
        .filter(|l| l.starts_with("cdn_edge_filled_bytes_total"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64)
}

/// Eight clients start the cold object `url` (`len` bytes) at once, each its own session:
/// parent bytes over the object's, the first client's time to first byte (ms), and how much
/// later the last one's came (ms).
fn stampede(edge: &str, url: &str, len: u64) -> anyhow::Result<(f64, f64, f64)> {
    let before = filled_bytes(edge)?;
    let gate = std::sync::Arc::new(std::sync::Barrier::new(8));
    let handles: Vec<_> = (0..8)
        .map(|i| {
            let (url, gate) = (format!("{url}&sid=stampede-{i}"), gate.clone());
            std::thread::spawn(move || -> anyhow::Result<(f64, u64)> {
                use std::io::Read;
                let c = client()?;
                gate.wait();
                let started = Instant::now();
                let mut r = c.get(&url).send()?.error_for_status()?;
                let mut first = [0u8; 1];
                r.read_exact(&mut first)?;
                let ttfb = started.elapsed().as_secs_f64() * 1e3;
                Ok((ttfb, 1 + std::io::copy(&mut r, &mut std::io::sink())?))
            })
        })
        .collect();
    let mut ttfbs = Vec::new();
    for h in handles {
        let (ttfb, n) = h.join().expect("stampede thread")?;
        anyhow::ensure!(n == len, "a stampede client got {n} of {len} bytes");
        ttfbs.push(ttfb);
    }
    let filled = filled_bytes(edge)? - before;
    let first = ttfbs.iter().copied().fold(f64::INFINITY, f64::min);
    let last = ttfbs.iter().copied().fold(0.0, f64::max);
    Ok((filled as f64 / len as f64, first, last - first))
}

/// Requests per second and p99 latency (ms) of 1 KiB ranges over 16 connections (wrk).
fn wrk_ranges(url: &str, secs: u64) -> anyhow::Result<(f64, f64)> {
    bench::measure::wrk(&[
        "-t2",
        "-c16",
        &format!("-d{secs}s"),
        "-H",
        "Range: bytes=1000-2023",
        url,
    ])
}

/// Median milliseconds from sending a `Range: bytes=0-65535` GET of `url` to its first body
/// byte, over 21 requests on one kept-alive connection (for the edge: a session already granted).
fn ttfb_ms(c: &reqwest::blocking::Client, url: &str) -> anyhow::Result<f64> {
    use std::io::Read;
    let mut times = Vec::new();
    for _ in 0..21 {
        let started = Instant::now();
        let mut r = c
            .get(url)
            .header("range", "bytes=0-65535")
            .send()?
            .error_for_status()?;
        let mut first = [0u8; 1];
        r.read_exact(&mut first)?;
        times.push(started.elapsed().as_secs_f64() * 1e3);
        std::io::copy(&mut r, &mut std::io::sink())?;
    }
    Ok(median(times))
}

/// A peer server process, stopped on drop.
struct Peer {
    child: Child,
    port: u16,
}

impl Drop for Peer {
    /// SIGTERM first, so that nginx's master stops its workers (a SIGKILL would leave them
    /// running, serving and skewing the next figures), then SIGKILL if it lingers.
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Peer {
    /// Starts `command` (which serves on `port`) and waits until it listens; `install` names
    /// the Debian package for the error.
    fn spawn(mut command: Command, port: u16, install: &str) -> anyhow::Result<Self> {
        let child = command
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {install} (apt-get install {install})"))?;
        let peer = Self { child, port };
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline {
                bail!("{install} did not listen on port {port} within 30 s");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(peer)
    }
}

/// nginx serving `root` with `sendfile`, one worker per core.
fn nginx(dir: &Path, root: &Path) -> anyhow::Result<Peer> {
    let port = reserve_port()?;
    let prefix = dir.join("nginx");
    std::fs::create_dir_all(prefix.join("tmp"))?;
    let conf = format!(
        "daemon off;\nuser root;\nworker_processes auto;\npid {p}/nginx.pid;\nerror_log {p}/error.log;\n\
         events {{ worker_connections 1024; }}\n\
         http {{\n  access_log off;\n  sendfile on;\n  tcp_nopush on;\n  keepalive_requests 100000;\n\
         client_body_temp_path {p}/tmp;\n  proxy_temp_path {p}/tmp;\n  fastcgi_temp_path {p}/tmp;\n\
         uwsgi_temp_path {p}/tmp;\n  scgi_temp_path {p}/tmp;\n\
         server {{ listen 127.0.0.1:{port}; root {root}; }}\n}}\n",
        p = prefix.display(),
        root = root.display(),
    );
    std::fs::write(prefix.join("nginx.conf"), conf)?;
    let mut nginx = Command::new("nginx");
    nginx
        .arg("-p")
        .arg(&prefix)
        .arg("-c")
        .arg(prefix.join("nginx.conf"))
        .arg("-e")
        .arg(prefix.join("error.log"));
    Peer::spawn(nginx, port, "nginx")
}

/// Varnish in front of the parent at `backend` (`127.0.0.1:PORT`), keeping the request's
/// presigned query and giving the parent the host it was signed for.
fn varnish(dir: &Path, backend: &str) -> anyhow::Result<Peer> {
    let port = reserve_port()?;
    let work = dir.join("varnish");
    std::fs::create_dir_all(&work)?;
    let (host, backend_port) = backend.split_once(':').context("backend host:port")?;
    let vcl = format!(
        "vcl 4.1;\nbackend parent {{ .host = \"{host}\"; .port = \"{backend_port}\"; }}\n\
         sub vcl_recv {{ set req.http.host = \"{backend}\"; return (hash); }}\n"
    );
    std::fs::write(work.join("bench.vcl"), vcl)?;
    let mut varnishd = Command::new("varnishd");
    varnishd
        .args(["-F", "-j", "none", "-a", &format!("127.0.0.1:{port}")])
        .arg("-f")
        .arg(work.join("bench.vcl"))
        .arg("-n")
        .arg(work.join("instance"))
        .args(["-s", "malloc,2G"]);
    Peer::spawn(varnishd, port, "varnish")
}

/// A presigned URL of `item` on the eu parent, asked of main as the edge would.
fn parent_url(net: &Network, item: &str) -> anyhow::Result<String> {
    let edge = &net.edges[0];
    let answer: serde_json::Value = client()?
        .post(format!("{}/v1/edge/fill-sources", net.main.url()))
        .header("x-edge-id", &edge.id)
        .bearer_auth(&edge.secret)
        .json(&serde_json::json!({ "item": item }))
        .send()?
        .error_for_status()?
        .json()?;
    answer["sources"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["region"] == "eu"))
        .and_then(|s| s["url"].as_str())
        .map(str::to_owned)
        .context("no eu source in the fill sources")
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path();
    let opts = Options {
        edges: vec![("edge-eu-1".into(), "eu".into())],
        prefill_interval_secs: 0,
        edge_wasm: Some(std::fs::canonicalize(&args.component)?),
        max_uses: 1000,
        edge_settings: args.edge_setting.join("\n"),
        parent_connection_bytes_per_sec: args.parent_connection_mbps.map(|m| m * 1_000_000),
        edge_variables: args.edge_variable.join("\n"),
        ..Options::default()
    };
    let net = Network::start(&dir.join("net"), &opts)?;
    let home = dir.join("player");
    net.customer(&home, "bench@example.com")?;

    // Hits: the edge (a filled cache) and nginx serving the sealed file itself.
    let src = dir.join("item.bin");
    write_content(&src, args.mib << 20, 42)?;
    net.ingest("hit-film", "Hit", None, &[], &src)?;
    std::fs::remove_file(&src)?;
    let primary = net
        .parents
        .iter()
        .find(|p| p.region == "eu")
        .context("eu")?;
    let sealed_dir = primary.root.join("parents/items/hit-film");
    let edge_url = format!("{}&sid=bench", net.rent(&home, "hit-film")?);
    let web = nginx(dir, &sealed_dir)?;
    let nginx_url = format!("http://127.0.0.1:{}/v1.sealed", web.port);
    let c = client()?;
    for url in [&edge_url, &edge_url, &nginx_url] {
        download(&c, url)?; // fill, then warm the page cache
    }
    // One client: curl, a new connection per download (for the edge, the session is granted:
    // a resumed or repeated download).
    let curl_median = |url_of: &dyn Fn(usize) -> String| -> anyhow::Result<f64> {
        let runs: anyhow::Result<Vec<f64>> =
            (0..args.runs).map(|run| curl_gbps(&url_of(run))).collect();
        Ok(median(runs?))
    };
    let edge_1 = curl_median(&|_| edge_url.clone())?;
    let nginx_1 = curl_median(&|_| nginx_url.clone())?;
    // The first download of a session: the component authorizes it and hands its plan to the
    // host, which sends it through hyper (read and written, not sendfile).
    let edge_first =
        curl_median(&|run| edge_url.replace("&sid=bench", &format!("&sid=first-{run}")))?;
    let many = |url: &str| -> anyhow::Result<f64> {
        let runs: anyhow::Result<Vec<f64>> = (0..args.runs.min(3))
            .map(|_| concurrent_gbps(url, args.clients))
            .collect();
        Ok(median(runs?))
    };
    let (edge_n, nginx_n) = (many(&edge_url)?, many(&nginx_url)?);
    let mut sweep = Vec::new();
    for &n in &args.sweep {
        sweep.push((
            n,
            many_at(&edge_url, n, &args)?,
            many_at(&nginx_url, n, &args)?,
        ));
    }
    let object_len = std::fs::metadata(sealed_dir.join("v1.sealed"))?.len();
    let ranges = |url: &str| -> anyhow::Result<f64> {
        let runs: anyhow::Result<Vec<f64>> = (0..args.runs.min(3))
            .map(|_| ranges_gbps(url, object_len))
            .collect();
        Ok(median(runs?))
    };
    let (edge_r, nginx_r) = (ranges(&edge_url)?, ranges(&nginx_url)?);
    let (edge_ttfb, nginx_ttfb) = (ttfb_ms(&c, &edge_url)?, ttfb_ms(&c, &nginx_url)?);
    let (edge_rps, edge_p99) = wrk_ranges(&edge_url, args.wrk_secs)?;
    let (nginx_rps, nginx_p99) = wrk_ranges(&nginx_url, args.wrk_secs)?;
    drop(web);

    // Cold: a fresh item per run, through the edge and through Varnish from the same parent.
    let cache = varnish(dir, &primary.server.addr.to_string())?;
    let mut edge_cold = Vec::new();
    let mut varnish_cold = Vec::new();
    for k in 0..args.runs.min(3) {
        let id = format!("cold-{k}");
        let src = dir.join("cold.bin");
        write_content(&src, args.cold_mib << 20, 100 + k as u64)?;
        net.ingest(&id, "Cold", None, &[], &src)?;
        std::fs::remove_file(&src)?;
        let edge = format!("{}&sid=cold", net.rent(&home, &id)?);
        let parent = parent_url(&net, &id)?;
        let via_varnish = parent.replacen(
            &primary.server.addr.to_string(),
            &format!("127.0.0.1:{}", cache.port),
            1,
        );
        // Alternate which goes first, so that neither always meets the freshly written file.
        let mut pair = [
            ("edge", &edge, &mut edge_cold),
            ("varnish", &via_varnish, &mut varnish_cold),
        ];
        if k % 2 == 1 {
            pair.reverse();
        }
        for (name, url, out) in pair {
            let cpu = bench::measure::cpu_by_process();
            let started = Instant::now();
            let n = download(&c, url)?;
            let secs = started.elapsed().as_secs_f64();
            out.push(n as f64 / secs / 1e9);
            eprintln!(
                "cold {k} via {name}: {:.2} GB/s in {secs:.1} s; CPU: {}",
                n as f64 / secs / 1e9,
                bench::measure::cpu_used(&cpu, &bench::measure::cpu_by_process())
            );
        }
    }
    let (edge_c, varnish_c) = (median(edge_cold), median(varnish_cold));

    // Stampede: a fresh item, eight clients at once through the edge.
    let src = dir.join("stampede.bin");
    write_content(&src, args.cold_mib << 20, 7)?;
    net.ingest("stampede", "Stampede", None, &[], &src)?;
    std::fs::remove_file(&src)?;
    let stampede_url = net.rent(&home, "stampede")?;
    let stampede_len =
        std::fs::metadata(primary.root.join("parents/items/stampede/v1.sealed"))?.len();
    let (egress, leader_ms, followers_ms) =
        stampede(&net.edges[0].server.url(), &stampede_url, stampede_len)?;

    if let Some(path) = &args.svg {
        std::fs::write(path, svg_chart(&sweep, args.mib))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    let ratio = |a: f64, b: f64| a / b;
    println!("| figure | our edge | peer | ratio (goal) |");
    println!("| --- | --- | --- | --- |");
    println!(
        "| hit, {} MiB, 1 client (curl) | {edge_1:.2} GB/s | nginx sendfile {nginx_1:.2} GB/s | {:.2}× (≥ 1.0×) |",
        args.mib,
        ratio(edge_1, nginx_1)
    );
    println!(
        "| hit, {} MiB, 1 client (curl), the first request of each session (the component's plan, through hyper) | {edge_first:.2} GB/s | nginx sendfile {nginx_1:.2} GB/s | {:.2}× |",
        args.mib,
        ratio(edge_first, nginx_1)
    );
    println!(
        "| hit, {} MiB, {} clients | {edge_n:.2} GB/s | nginx sendfile {nginx_n:.2} GB/s | {:.2}× (≥ 1.0×) |",
        args.mib,
        args.clients,
        ratio(edge_n, nginx_n)
    );
    println!(
        "| 16 concurrent ranges of {} MiB | {edge_r:.2} GB/s | nginx sendfile {nginx_r:.2} GB/s | {:.2}× (≥ 1.0×) |",
        (object_len / 4) >> 20,
        ratio(edge_r, nginx_r)
    );
    println!(
        "| hit time to first byte, session granted | {edge_ttfb:.2} ms | nginx {nginx_ttfb:.2} ms | ≤ 5 ms |"
    );
    println!(
        "| 1 KiB ranges, 16 connections | {edge_rps:.0} req/s, p99 {edge_p99:.1} ms | nginx {nginx_rps:.0} req/s, p99 {nginx_p99:.1} ms | {:.3}× (≥ 0.5×) |",
        ratio(edge_rps, nginx_rps)
    );
    println!(
        "| cold, {} MiB, 1 client{} | {edge_c:.2} GB/s | Varnish in front of the parent {varnish_c:.2} GB/s | {:.2}× (≥ 1.0×) |",
        args.cold_mib,
        args.parent_connection_mbps
            .map(|m| format!(", parent capped at {m} MB/s per connection"))
            .unwrap_or_default(),
        ratio(edge_c, varnish_c)
    );
    println!(
        "| 8-way cold stampede, {} MiB | parent egress {egress:.2}× the object; first byte {leader_ms:.0} ms, the last client's {followers_ms:.0} ms later | — | ≤ 1.05×, ≤ 50 ms |",
        args.cold_mib
    );
    println!("\n| clients | our edge (hit) | nginx sendfile | ratio |");
    println!("| --- | --- | --- | --- |");
    for (n, edge, nginx) in &sweep {
        println!(
            "| {n} | {edge:.2} GB/s | {nginx:.2} GB/s | {:.2}× |",
            edge / nginx
        );
    }
    Ok(())
}

/// Median GB/s of `n` concurrent whole downloads of `url` (3 runs).
fn many_at(url: &str, n: usize, args: &Args) -> anyhow::Result<f64> {
    let runs: anyhow::Result<Vec<f64>> = (0..args.runs.min(3))
        .map(|_| concurrent_gbps(url, n))
        .collect();
    Ok(median(runs?))
}

/// A line chart of hit throughput against concurrent clients, ours and nginx's.
fn svg_chart(sweep: &[(usize, f64, f64)], mib: u64) -> String {
    let (w, h, left, bottom, top, right) = (640.0, 360.0, 60.0, 50.0, 40.0, 150.0);
    let max_gbps = sweep
        .iter()
        .map(|(_, a, b)| a.max(*b))
        .fold(0.0_f64, f64::max)
        .max(0.1)
        .ceil();
    let x_of = |i: usize| left + (w - left - right) * i as f64 / (sweep.len().max(2) - 1) as f64;
    let y_of = |v: f64| h - bottom - (h - bottom - top) * v / max_gbps;
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" \
         font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"{w}\" height=\"{h}\" fill=\"white\"/>\n\
         <text x=\"{left}\" y=\"24\" font-size=\"14\">Cache hits, {mib} MiB each: throughput against concurrent clients</text>\n"
    );
    for k in 0..=4 {
        let v = max_gbps * k as f64 / 4.0;
        let y = y_of(v);
        out += &format!(
            "<line x1=\"{left}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#ddd\"/>\n\
             <text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{v:.1}</text>\n",
            w - right,
            left - 6.0,
            y + 4.0
        );
    }
    for (i, (n, _, _)) in sweep.iter().enumerate() {
        out += &format!(
            "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{n}</text>\n",
            x_of(i),
            h - bottom + 18.0
        );
    }
    out += &format!(
        "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">concurrent clients</text>\n\
         <text x=\"16\" y=\"{:.1}\" transform=\"rotate(-90 16 {:.1})\" text-anchor=\"middle\">GB/s</text>\n",
        (left + w - right) / 2.0,
        h - 12.0,
        h / 2.0,
        h / 2.0
    );
    for (series, colour, label) in [(1, "#c0392b", "our edge"), (2, "#2471a3", "nginx sendfile")] {
        let points: Vec<String> = sweep
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let v = if series == 1 { p.1 } else { p.2 };
                format!("{:.1},{:.1}", x_of(i), y_of(v))
            })
            .collect();
        let ly = top + 20.0 * series as f64;
        out += &format!(
            "<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\" points=\"{}\"/>\n\
             <line x1=\"{}\" x2=\"{}\" y1=\"{ly}\" y2=\"{ly}\" stroke=\"{colour}\" stroke-width=\"2\"/>\n\
             <text x=\"{}\" y=\"{}\">{label}</text>\n",
            points.join(" "),
            w - right + 12.0,
            w - right + 36.0,
            w - right + 42.0,
            ly + 4.0
        );
    }
    out += "</svg>\n";
    out
}
