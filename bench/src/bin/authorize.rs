//! `authorize`: main's hot path, `POST /v1/edge/authorize`, against its ceiling — a bare axum
//! route that only checks the edge's credential and verifies the token's Ed25519 signature —
//! in the same run on the same machine, over 16 connections (wrk): with a resumed session (every
//! request names the same `session_hint`, as an edge's Range requests would) and with a fresh
//! session per request (each spends a use and writes a session). The local network is started by
//! this program (main on the embedded store; with `--dynamodb`, also on DynamoDB served by moto),
//! with rate limits raised out of the way. `bench/authorize.sh` builds release binaries and runs
//! it; it prints a Markdown table for `docs/benchmarks.md`.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use bench::measure::{median, wrk};
use clap::Parser;
use e2e::network::{Network, Options, write_content};
use protocol::{AuthorizeRequest, DownloadToken, Verifier};

#[derive(Debug, Parser)]
#[command(about = "main's authorize against a verify-only ceiling, in the same run")]
struct Args {
    /// Seconds of each wrk run.
    #[arg(long, default_value_t = 5)]
    secs: u64,
    /// Runs per figure (the median is reported).
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Also measure main on DynamoDB (moto).
    #[arg(long)]
    dynamodb: bool,
}

/// Limits high enough that the benchmark measures authorize, not the limiter's refusals (the
/// limiter itself still runs on every call).
const LIMITS: &str = "[limits]\n\
    authorize_edge = { per_period = 100000000, period_secs = 1, burst = 100000000 }\n\
    authorize_token = { per_period = 100000000, period_secs = 1, burst = 100000000 }\n";

/// The ceiling's state: the edge's credential and main's keys.
struct Ceiling {
    edge_id: String,
    edge_secret: String,
    verifier: Verifier,
}

/// The ceiling's route: the edge's credential, the JSON body, the token's signature and item.
async fn verify_only(
    State(c): State<Arc<Ceiling>>,
    headers: HeaderMap,
    Json(ask): Json<AuthorizeRequest>,
) -> Result<Json<serde_json::Value>, StatusCode> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let bearer = header("authorization").and_then(|v| v.strip_prefix("Bearer "));
    if header("x-edge-id") != Some(c.edge_id.as_str()) || bearer != Some(c.edge_secret.as_str()) {
        return Err(StatusCode::UNAUTHORIZED);
    }
    let token = DownloadToken::verify(
        &c.verifier,
        &ask.token,
        Some(&ask.item),
        protocol::unix_now(),
    )
    .map_err(|_| StatusCode::UNAUTHORIZED)?;
    Ok(Json(serde_json::json!({ "token_id": token.token_id })))
}

/// Starts the ceiling on a port of its own; its address.
fn start_ceiling(ceiling: Ceiling) -> anyhow::Result<SocketAddr> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
            let app = axum::Router::new()
                .route("/v1/edge/authorize", axum::routing::post(verify_only))
                .with_state(Arc::new(ceiling));
            axum::serve(listener, app).await.expect("serving");
        });
    });
    Ok(addr)
}

/// A wrk script posting authorize requests for `token`: one session throughout, or a fresh one
/// per request.
fn script(
    dir: &Path,
    edge_id: &str,
    secret: &str,
    token: &str,
    fresh: bool,
) -> anyhow::Result<String> {
    let path = dir.join(if fresh { "fresh.lua" } else { "resumed.lua" });
    let lua = format!(
        r#"wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-Edge-Id"] = "{edge_id}"
wrk.headers["Authorization"] = "Bearer {secret}"
local fresh = {fresh}
local n = 0
math.randomseed(os.time())
local prefix = tostring(math.random(1, 1000000000))
request = function()
  local sid = "resumed"
  if fresh then
    n = n + 1
    sid = prefix .. "-" .. n
  end
  return wrk.format(nil, nil, nil, '{{"token":"{token}","item":"film","client_ip":"127.0.0.1","session_hint":"' .. sid .. '"}}')
end
"#
    );
    std::fs::write(&path, lua)?;
    Ok(path.display().to_string())
}

/// Median (req/s, p99 ms) of `runs` wrk runs of `script` against `url`.
fn measure(url: &str, script: &str, args: &Args) -> anyhow::Result<(f64, f64)> {
    let secs = format!("-d{}s", args.secs);
    let mut rps = Vec::new();
    let mut p99 = Vec::new();
    for _ in 0..args.runs {
        let (r, p) = wrk(&["-t2", "-c16", &secs, "-s", script, url])?;
        rps.push(r);
        p99.push(p);
    }
    Ok((median(rps), median(p99)))
}

/// One network (embedded or DynamoDB): main's two figures and the ceiling's.
fn run(dir: &Path, dynamodb: bool, args: &Args) -> anyhow::Result<[(f64, f64); 3]> {
    let opts = Options {
        edges: vec![("edge-eu-1".into(), "eu".into())],
        prefill_interval_secs: 0,
        max_uses: u32::MAX,
        dynamodb,
        main_settings: LIMITS.into(),
        ..Options::default()
    };
    let net = Network::start(&dir.join("net"), &opts)?;
    let src = dir.join("film.bin");
    write_content(&src, 1 << 20, 3)?;
    net.ingest("film", "Film", None, &[], &src)?;
    let home = dir.join("player");
    net.customer(&home, "bench@example.com")?;
    let url = net.rent(&home, "film")?;
    let token = url
        .split_once("token=")
        .map(|(_, t)| t.to_owned())
        .context("no token in the download URL")?;
    let edge = &net.edges[0];
    let jwks: protocol::Jwks =
        reqwest::blocking::get(format!("{}/.well-known/jwks.json", net.main.url()))?.json()?;
    let ceiling = start_ceiling(Ceiling {
        edge_id: edge.id.clone(),
        edge_secret: edge.secret.clone(),
        verifier: Verifier::from_jwks(&jwks)?,
    })?;
    let resumed = script(dir, &edge.id, &edge.secret, &token, false)?;
    let fresh = script(dir, &edge.id, &edge.secret, &token, true)?;
    let main_url = format!("{}/v1/edge/authorize", net.main.url());
    let ceiling_url = format!("http://{ceiling}/v1/edge/authorize");
    Ok([
        measure(&ceiling_url, &resumed, args)?,
        measure(&main_url, &resumed, args)?,
        measure(&main_url, &fresh, args)?,
    ])
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let tmp = tempfile::tempdir()?;
    let mut stores = vec![("embedded", false)];
    if args.dynamodb {
        stores.push(("DynamoDB (moto)", true));
    }
    println!(
        "| store | route | req/s | p99 | against the ceiling (goal ≥ 0.5× req/s, ≤ 1.5× p99) |"
    );
    println!("| --- | --- | --- | --- | --- |");
    for (name, dynamodb) in stores {
        let dir = tmp.path().join(name.split(' ').next().unwrap_or(name));
        std::fs::create_dir_all(&dir)?;
        let [ceiling, resumed, fresh] = run(&dir, dynamodb, &args)?;
        println!(
            "| — | ceiling: verify only | {:.0} | {:.2} ms | — |",
            ceiling.0, ceiling.1
        );
        for (label, (rps, p99)) in [("resumed session", resumed), ("fresh session", fresh)] {
            println!(
                "| {name} | main, {label} | {rps:.0} | {p99:.2} ms | {:.2}× req/s, {:.2}× p99 |",
                rps / ceiling.0,
                p99 / ceiling.1
            );
        }
    }
    Ok(())
}
