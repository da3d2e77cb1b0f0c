//! `lambda-cold-start`: how long main takes to answer its first request on Lambda, from the
//! moment its process starts. Each run starts a fresh `main-service` process (with an empty
//! data directory, as a new Lambda instance has) against a local Lambda Runtime API holding one
//! function-URL event (`GET /healthz`), and times the process start → first poll for an event
//! (Lambda's "Init Duration") and process start → the response arriving at the Runtime API.
//! Warm invocations on the last process are timed too.
//!
//! Run by `bench/lambda-cold-start.sh`, which builds the release binaries; the figures go to
//! `docs/benchmarks.md`.

use bench::measure::median;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use e2e::lambda::{Function, RuntimeApi};

/// The function-URL event of `GET /healthz`, as Lambda delivers it.
const HEALTHZ: &str =
    include_str!("../../../main-service/tests/data/function-url-get-healthz.json");
const DEADLINE: Duration = Duration::from_secs(30);

#[derive(Debug, Parser)]
#[command(about = "Cold start of main-service on a local Lambda Runtime API")]
struct Args {
    /// The `main-service` binary to start (the release build, as packaged for Lambda).
    #[arg(long)]
    main: PathBuf,
    /// Cold starts to measure (the median is reported).
    #[arg(long, default_value_t = 11)]
    runs: usize,
    /// Warm invocations measured on the last process.
    #[arg(long, default_value_t = 200)]
    warm: usize,
}

/// main's configuration as Terraform renders it, with the embedded store in the fresh data
/// directory (no DynamoDB here) and parents reached with the function's credentials.
fn config(data_dir: &std::path::Path) -> String {
    format!(
        r#"data_dir = {data_dir:?}
admin_token = "bench-admin-token-0123456789"
[[regions]]
name = "eu-west-1"
countries = ["DE", "FR", "GB"]
[[parents]]
name = "eu-west-1"
region = "eu-west-1"
bucket = "bench-cdn-parent-eu-west-1"
primary = true
[[parents]]
name = "us-east-1"
region = "us-east-1"
bucket = "bench-cdn-parent-us-east-1"
primary = false
[[edges]]
id = "edge-eu-1"
region = "eu-west-1"
url = "https://edge-eu-1.example.net"
secret = "edge-eu-1-secret-0123456789"
"#
    )
}

/// One cold start: its figures, and the instance, still running.
struct ColdStart {
    init: Duration,
    first_response: Duration,
    api: RuntimeApi,
    _function: Function,
    _dir: tempfile::TempDir,
}

fn cold_start(args: &Args) -> anyhow::Result<ColdStart> {
    let dir = tempfile::tempdir()?;
    let config_path = dir.path().join("main.toml");
    std::fs::write(&config_path, config(&dir.path().join("data")))?;
    let api = RuntimeApi::start()?;
    let (_, answer) = api.send(HEALTHZ.as_bytes(), DEADLINE);
    let mut cmd = Command::new(&args.main);
    // The credentials Lambda puts in a function's environment (the role's); nothing is called
    // with them here.
    cmd.env("MAIN_CONFIG", &config_path)
        .env("RUST_LOG", "info,tower_http=warn")
        .env("AWS_ACCESS_KEY_ID", "ASIABENCHBENCHBENCH0")
        .env(
            "AWS_SECRET_ACCESS_KEY",
            "bench-secret-key-bench-secret-key-bench0",
        )
        .env("AWS_SESSION_TOKEN", "bench-session-token");
    let started = Instant::now();
    let function = Function::start(&api, cmd, &dir.path().join("main.log"))?;
    let timed = answer
        .recv_timeout(DEADLINE)
        .with_context(|| format!("no answer within {DEADLINE:?}:\n{}", function.log()))?;
    let body = timed.answer.clone().response()?;
    if !String::from_utf8_lossy(&body).contains("\"statusCode\":200") {
        bail!("unexpected answer {}", String::from_utf8_lossy(&body));
    }
    let init = api.first_poll().context("answered without polling")? - started;
    Ok(ColdStart {
        init,
        first_response: timed.at - started,
        api,
        _function: function,
        _dir: dir,
    })
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.runs == 0 {
        bail!("--runs must be at least 1");
    }
    let mut init = Vec::new();
    let mut first = Vec::new();
    let mut last = None;
    for _ in 0..args.runs {
        // The previous instance stops before the next one starts.
        drop(last.take());
        let run = cold_start(&args)?;
        init.push(run.init.as_secs_f64() * 1e3);
        first.push(run.first_response.as_secs_f64() * 1e3);
        last = Some(run);
    }
    let api = &last.as_ref().expect("at least one run").api;
    let mut warm = Vec::new();
    for _ in 0..args.warm {
        let started = Instant::now();
        api.invoke(HEALTHZ.as_bytes(), DEADLINE)?.response()?;
        warm.push(started.elapsed().as_secs_f64() * 1e3);
    }
    let range = |v: &[f64]| {
        let min = v.iter().copied().fold(f64::INFINITY, f64::min);
        let max = v.iter().copied().fold(0.0, f64::max);
        format!("{min:.1}–{max:.1}")
    };
    println!(
        "| measure ({} cold starts, {} warm calls) | median | range |",
        args.runs, args.warm
    );
    println!("| --- | --- | --- |");
    println!(
        "| process start → first poll of the Runtime API (init) | {:.1} ms | {} ms |",
        median(init.clone()),
        range(&init)
    );
    println!(
        "| process start → first response at the Runtime API | {:.1} ms | {} ms |",
        median(first.clone()),
        range(&first)
    );
    if !warm.is_empty() {
        println!(
            "| warm invocation, event queued → response (`/healthz`) | {:.2} ms | {} ms |",
            median(warm.clone()),
            range(&warm)
        );
    }
    Ok(())
}
