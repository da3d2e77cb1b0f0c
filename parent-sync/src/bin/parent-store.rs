//! `parent-store`: a local parent, an S3-compatible server over a directory with SigV4 checked.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use parent_sync::{ServerConfig, ServerLimits};

/// Serve a directory as an S3-compatible parent store (SigV4 signatures and presigned URLs
/// checked). Prints `listening on ADDR` on stdout once bound; stops on SIGINT or SIGTERM.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Directory that holds the buckets; created if missing.
    #[arg(long, env = "PARENT_STORE_ROOT")]
    root: PathBuf,
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, env = "PARENT_STORE_LISTEN", default_value = "127.0.0.1:9000")]
    listen: String,
    /// The access key clients must sign with.
    #[arg(long, env = "PARENT_STORE_ACCESS_KEY")]
    access_key: String,
    /// The secret key clients must sign with.
    #[arg(long, env = "PARENT_STORE_SECRET_KEY", hide_env_values = true)]
    secret_key: String,
    /// Bucket to create if missing.
    #[arg(long, env = "PARENT_STORE_BUCKET", default_value = "parents")]
    bucket: String,
    /// Region clients sign for (informational).
    #[arg(long, env = "PARENT_STORE_REGION", default_value = "eu")]
    region: String,
    /// Seconds a client has to send a request header; also the keep-alive idle time.
    #[arg(long, env = "PARENT_STORE_HEADER_READ_TIMEOUT_SECS", default_value_t = ServerLimits::default().header_read_timeout_secs)]
    header_read_timeout_secs: u64,
    /// Seconds a request body may pause between two pieces.
    #[arg(long, env = "PARENT_STORE_BODY_READ_TIMEOUT_SECS", default_value_t = ServerLimits::default().body_read_timeout_secs)]
    body_read_timeout_secs: u64,
    /// Connections open at once (keep it below `ulimit -n`).
    #[arg(long, env = "PARENT_STORE_MAX_CONNECTIONS", default_value_t = ServerLimits::default().max_connections)]
    max_connections: usize,
    /// Most bytes per second each connection sends and receives: a local parent that behaves
    /// like S3 (about 100 MB/s per connection) for benchmarks. No cap unless given.
    #[arg(long, env = "PARENT_STORE_CONNECTION_BYTES_PER_SEC", value_parser = clap::value_parser!(u64).range(1..))]
    connection_bytes_per_sec: Option<u64>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,s3s=warn,s3s_fs=warn".into()),
        )
        .init();
    let config = ServerConfig {
        root: args.root,
        bucket: args.bucket,
        region: args.region,
        access_key: args.access_key,
        secret_key: args.secret_key,
        limits: ServerLimits {
            header_read_timeout_secs: args.header_read_timeout_secs,
            body_read_timeout_secs: args.body_read_timeout_secs,
            max_connections: args.max_connections,
            connection_bytes_per_sec: args.connection_bytes_per_sec,
        },
    };
    config.prepare()?;
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("binding {}", args.listen))?;
    let addr = listener.local_addr().context("reading the bound address")?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "listening on {addr}").context("writing to stdout")?;
    stdout.flush().context("writing to stdout")?;
    drop(stdout);
    parent_sync::run(listener, &config, parent_sync::shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(())
}
