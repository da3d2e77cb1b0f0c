//! `edge-host --config FILE`: run the edge component; see the crate docs.

use anyhow::Context;
use clap::Parser;
use std::io::IsTerminal;
use std::path::PathBuf;

/// Run the edge component (a Spin HTTP component) with Spin key-value on local disk,
/// Spin variables from the config file and an outbound-host allow-list; or make a signed
/// internal call to a running edge (`edge-host call`).
#[derive(Debug, Parser)]
#[command(version, about, args_conflicts_with_subcommands = true)]
struct Args {
    /// TOML config file (listen, component, kv_dir, allowed_outbound_hosts,
    /// prefill_interval_secs, platform_headers, outbound_*_timeout_secs, [variables]);
    /// relative paths in it are resolved against its directory. The env var
    /// EDGE_HOST_LISTEN overrides `listen`.
    #[arg(long, env = "EDGE_HOST_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Make a signed internal call (e.g. prefill) to an edge, for an operator's scheduler.
    Call(edge_host::call::CallArgs),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // Log lines (one per request) go to stderr from a thread of their own, written in batches:
    // a request never waits on the terminal or the pipe. Not lossy: a line waits for room
    // rather than being dropped. `_flush` writes what is left when main returns.
    let (stderr, _flush) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
        .thread_name("edge-host-log")
        .finish(std::io::BufWriter::new(std::io::stderr()));
    tracing_subscriber::fmt()
        .with_writer(stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,wasmtime=warn,cranelift=warn".into()),
        )
        .init();
    let args = Args::parse();
    if let Some(Command::Call(call)) = args.command {
        return edge_host::call::run(call).await;
    }
    let Some(config) = args.config else {
        anyhow::bail!("--config FILE (or EDGE_HOST_CONFIG) is required to run an edge; see --help");
    };
    let mut config = edge_host::Config::load(&config)?;
    config.apply_env(|name| std::env::var(name).ok());
    let settings = config.validate().context("invalid config")?;
    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .with_context(|| format!("cannot listen on {}", settings.listen))?;
    edge_host::run(settings, listener, shutdown_signal()).await?;
    Ok(())
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("installing the SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT received"),
        _ = term.recv() => tracing::info!("SIGTERM received"),
    }
}
