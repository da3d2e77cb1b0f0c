//! `edge-host call`: one signed internal call to an edge over the network — what an operator's
//! scheduler runs (cron, a Kubernetes CronJob beside a SpinApp) where no edge-host ticker does
//! it, e.g. for edges on Spin.

use std::time::Duration;

use anyhow::{Context, bail};
use protocol::internal::{SIGNATURE_HEADER, sign_call};

/// The internal calls an edge answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum InternalCall {
    /// `POST /v1/internal/maintain`: keep the cache zones within their budgets (evict, pin,
    /// purge), then fill what the manifest pins to this edge.
    Maintain,
    /// `POST /v1/internal/prefill`: the older name of the same call.
    Prefill,
}

impl InternalCall {
    /// Method and path of the call.
    pub fn endpoint(self) -> (&'static str, &'static str) {
        match self {
            InternalCall::Maintain => ("POST", crate::prefill::MAINTAIN_PATH),
            InternalCall::Prefill => ("POST", crate::prefill::PREFILL_PATH),
        }
    }
}

/// Arguments of `edge-host call`.
#[derive(Debug, clap::Args)]
pub struct CallArgs {
    /// Which call to make.
    #[arg(value_enum)]
    pub call: InternalCall,
    /// Base URL of the edge, e.g. `https://edge-eu-1.example.com`.
    #[arg(long, env = "EDGE_URL", value_name = "URL")]
    pub edge: String,
    /// Name of the environment variable holding the edge's secret (the component's
    /// `edge_secret` variable); the secret itself never goes on a command line.
    #[arg(long, default_value = "EDGE_SECRET", value_name = "NAME")]
    pub secret_env: String,
    /// Seconds to wait for the edge's answer (a maintenance call works for up to ~20 s).
    #[arg(long, default_value_t = 60)]
    pub timeout_secs: u64,
}

/// Makes the call; prints the edge's answer; fails unless it is a success.
pub async fn run(args: CallArgs) -> anyhow::Result<()> {
    let secret = std::env::var(&args.secret_env)
        .ok()
        .filter(|s| !s.trim().is_empty())
        .with_context(|| format!("environment variable {} is not set", args.secret_env))?;
    let (method, path) = args.call.endpoint();
    let url = format!("{}{path}", args.edge.trim_end_matches('/'));
    let signature = sign_call(secret.trim(), method, path, protocol::unix_now());
    let client = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(args.timeout_secs))
        .build()?;
    let response = client
        .request(method.parse()?, &url)
        .header(SIGNATURE_HEADER, signature)
        .send()
        .await
        .with_context(|| format!("calling {url}"))?;
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    println!("{body}");
    if !status.is_success() {
        bail!("{url} answered {status}");
    }
    Ok(())
}
