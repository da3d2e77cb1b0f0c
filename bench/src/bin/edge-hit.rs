//! `edge-hit`: what an edge's cache hits and misses cost, measured through the real network
//! (release binaries started as processes on loopback, the real component on edge-host):
//! whole-object hit throughput and the time to first byte of a 1 KiB range, for each component
//! given; then cold (first) downloads of fresh items, for each `fill_parallel_gets` given.
//!
//! Run by `bench/edge-hit.sh`, which builds the release binaries and the two components (with
//! and without the at-rest digest check) and passes them here; the figures go to
//! `docs/benchmarks.md`.

use bench::measure::{client, download, drain, median, median_gbps};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use e2e::network::{Network, Options, write_content};
use e2e::process::run;

#[derive(Debug, Parser)]
#[command(about = "Edge hit throughput and time to first byte per component")]
struct Args {
    /// Components to compare, as LABEL=PATH (e.g. checked=target/edge.wasm).
    #[arg(long = "component", required = true, value_parser = parse_component)]
    components: Vec<(String, PathBuf)>,
    /// Size of the item in MiB.
    #[arg(long, default_value_t = 256)]
    mib: u64,
    /// Measured whole-object downloads per component (the median is reported).
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Measured 1 KiB range requests per component for the time to first byte.
    #[arg(long, default_value_t = 200)]
    small: usize,
    /// Cold downloads (each of a freshly ingested item) per `--fill-gets` value.
    #[arg(long, default_value_t = 3)]
    cold_runs: usize,
    /// Values of the edge's `fill_parallel_gets` to measure cold downloads with (first component).
    #[arg(long, value_delimiter = ',', default_value = "1,4")]
    fill_gets: Vec<usize>,
    /// For the cold downloads, each parent serves one connection at most this many MB/s, as S3
    /// does at roughly 100 (0: no cap).
    #[arg(long, default_value_t = 0)]
    parent_connection_mbps: u64,
    /// Size in MiB of a hot item prefilled while hits are measured again (0: skip), to see
    /// what prefill leaves to clients (first component).
    #[arg(long, default_value_t = 0)]
    prefill_mib: u64,
    /// The edge's `prefill_rate_bytes` for that measurement, in MiB/s (0: no cap).
    #[arg(long, default_value_t = 0)]
    prefill_rate_mib: u64,
}

fn parse_component(s: &str) -> Result<(String, PathBuf), String> {
    let (label, path) = s.split_once('=').ok_or("expected LABEL=PATH")?;
    Ok((label.to_owned(), PathBuf::from(path)))
}

struct Figures {
    gbps: f64,
    /// Hit throughput while the edge prefills a hot item, when asked for.
    during_prefill: Option<f64>,
    ttfb_ms_p50: f64,
    ttfb_ms_p99: f64,
}

fn measure(args: &Args, wasm: &Path) -> anyhow::Result<Figures> {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path();
    let opts = Options {
        edges: vec![("edge-eu-1".into(), "eu".into())],
        prefill_interval_secs: 0,
        edge_wasm: Some(wasm.to_owned()),
        edge_variables: if args.prefill_rate_mib > 0 {
            format!("prefill_rate_bytes = \"{}\"", args.prefill_rate_mib << 20)
        } else {
            String::new()
        },
        ..Options::default()
    };
    let net = Network::start(dir, &opts)?;
    let src = dir.join("item.bin");
    write_content(&src, args.mib << 20, 42)?;
    net.ingest("bench-film", "Bench Film", None, &[], &src)?;
    std::fs::remove_file(&src)?;
    let home = dir.join("player");
    let player = |a: &[&str]| {
        let mut cmd = net.player(&home);
        cmd.args(a);
        run(cmd, Duration::from_secs(300))
    };
    for step in ["register", "login"] {
        player(&[
            step,
            "--email",
            "bench@example.com",
            "--password",
            "bench pw 1",
        ])?;
    }
    let out = player(&["rent", "bench-film"])?;
    let url = out
        .lines()
        .find_map(|l| l.strip_prefix("download_url:"))
        .context("no download_url")?
        .trim()
        .to_owned();
    let url = format!("{url}&sid=bench");
    let client = client()?;
    // The first download fills the cache; the second reads every cached chunk back into the page
    // cache right before the measured runs.
    for _ in 0..2 {
        download(&client, &url)?;
    }
    let gbps = median_gbps(args.runs, || {
        let r = client.get(&url).send()?.error_for_status()?;
        if r.headers().get("x-cache").and_then(|v| v.to_str().ok()) != Some("HIT") {
            bail!("a measured download was not a hit");
        }
        drain(r)
    })?;
    let mut ttfb = Vec::new();
    for i in 0..args.small {
        let at = 160 + (i as u64 * 7_340_033) % ((args.mib << 20) - 2048);
        let started = Instant::now();
        let r = client
            .get(&url)
            .header("range", format!("bytes={at}-{}", at + 1023))
            .send()?
            .error_for_status()?;
        ttfb.push(started.elapsed().as_secs_f64() * 1e3);
        drain(r)?;
    }
    ttfb.sort_by(f64::total_cmp);
    let during_prefill = if args.prefill_mib > 0 {
        Some(hits_during_prefill(args, &net, dir, &client, &url)?)
    } else {
        None
    };
    Ok(Figures {
        during_prefill,
        gbps,
        ttfb_ms_p50: ttfb[ttfb.len() / 2],
        ttfb_ms_p99: ttfb[(ttfb.len() * 99) / 100],
    })
}

/// Median hit throughput of `url` while the edge prefills a freshly ingested hot item (level 1,
/// pinned to every edge) through repeated maintenance calls, as edge-host's ticker makes them.
fn hits_during_prefill(
    args: &Args,
    net: &Network,
    dir: &Path,
    client: &reqwest::blocking::Client,
    url: &str,
) -> anyhow::Result<f64> {
    let src = dir.join("hot.bin");
    write_content(&src, args.prefill_mib << 20, 7)?;
    net.ingest("hot-film", "Hot", Some(1), &[], &src)?;
    std::fs::remove_file(&src)?;
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let edge = net.edges[0].server.url();
    let secret = net.edges[0].secret.clone();
    let stop = done.clone();
    let prefill = std::thread::spawn(move || -> anyhow::Result<bool> {
        while !stop.load(std::sync::atomic::Ordering::SeqCst) {
            let mut call = e2e::network::command("edge-host");
            call.args(["call", "maintain", "--edge", &edge])
                .env("EDGE_SECRET", &secret);
            let report: serde_json::Value =
                serde_json::from_str(&run(call, Duration::from_secs(120))?)?;
            if report["prefill"]["pending_items"] == 0 {
                return Ok(true);
            }
        }
        Ok(false)
    });
    // Let the first call start filling.
    std::thread::sleep(Duration::from_millis(500));
    let gbps = median_gbps(args.runs, || download(client, url))?;
    let finished_first = prefill.is_finished();
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    prefill.join().expect("prefill thread")?;
    if finished_first {
        eprintln!(
            "warning: prefill ended before the measured hits did; use a larger --prefill-mib"
        );
    }
    Ok(gbps)
}

/// Median cold-download throughput (GB/s) of fresh `mib` MiB items through one edge running
/// `wasm` with `fill_parallel_gets = gets`.
fn measure_cold(args: &Args, wasm: &Path, gets: usize) -> anyhow::Result<f64> {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path();
    let opts = Options {
        edges: vec![("edge-eu-1".into(), "eu".into())],
        prefill_interval_secs: 0,
        edge_wasm: Some(wasm.to_owned()),
        edge_variables: format!("fill_parallel_gets = \"{gets}\""),
        parent_connection_bytes_per_sec: (args.parent_connection_mbps > 0)
            .then_some(args.parent_connection_mbps * 1_000_000),
        ..Options::default()
    };
    let net = Network::start(dir, &opts)?;
    let home = dir.join("player");
    net.customer(&home, "cold@example.com")?;
    let client = client()?;
    let mut rates = Vec::new();
    for k in 0..args.cold_runs {
        let id = format!("cold-{k}");
        let src = dir.join("item.bin");
        write_content(&src, args.mib << 20, 100 + k as u64)?;
        net.ingest(&id, "Cold", None, &[], &src)?;
        std::fs::remove_file(&src)?;
        let url = format!("{}&sid=cold", net.rent(&home, &id)?);
        let started = Instant::now();
        let r = client.get(&url).send()?.error_for_status()?;
        if r.headers().get("x-cache").and_then(|v| v.to_str().ok()) == Some("HIT") {
            bail!("a cold download was a hit");
        }
        let n = drain(r)?;
        rates.push(n as f64 / started.elapsed().as_secs_f64() / 1e9);
    }
    Ok(median(rates))
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    println!(
        "| component | hit, {} MiB, 1 client (median of {}) | 1 KiB range, time to first byte p50 / p99 ({} requests) |",
        args.mib, args.runs, args.small
    );
    println!("| --- | --- | --- |");
    for (label, wasm) in &args.components {
        let f = measure(&args, wasm).with_context(|| format!("component {label}"))?;
        println!(
            "| {label} | {:.2} GB/s | {:.2} ms / {:.2} ms |",
            f.gbps, f.ttfb_ms_p50, f.ttfb_ms_p99
        );
        if let Some(during) = f.during_prefill {
            println!(
                "| {label}, while prefilling a {} MiB hot item{} | {during:.2} GB/s ({:.0} % of {:.2}) | |",
                args.prefill_mib,
                if args.prefill_rate_mib > 0 {
                    format!(" at {} MiB/s", args.prefill_rate_mib)
                } else {
                    String::new()
                },
                100.0 * during / f.gbps,
                f.gbps
            );
        }
    }
    if args.cold_runs > 0 {
        let (label, wasm) = &args.components[0];
        println!(
            "\n| `fill_parallel_gets` ({label}) | cold, {} MiB, 1 client, from the local parent{} (median of {}) |",
            args.mib,
            if args.parent_connection_mbps > 0 {
                format!(
                    " capped at {} MB/s per connection",
                    args.parent_connection_mbps
                )
            } else {
                String::new()
            },
            args.cold_runs
        );
        println!("| --- | --- |");
        for gets in &args.fill_gets {
            let gbps = measure_cold(&args, wasm, *gets)
                .with_context(|| format!("cold with {gets} GETs"))?;
            println!("| {gets} | {gbps:.2} GB/s |");
        }
    }
    Ok(())
}
