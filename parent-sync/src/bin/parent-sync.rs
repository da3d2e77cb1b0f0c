//! `parent-sync`: replicate the primary parent to the secondaries and verify the copies.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use parent_sync::{ParentStore, ReplicateOptions, SyncConfig};

/// Copy every object under `items/` from the primary parent to each secondary that lacks it,
/// verifying each copy as a sealed object (a copy that fails is deleted and retried next round).
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// TOML file of `[[parents]]` tables, exactly one with `primary = true`. Keys may come from
    /// `PARENT_<NAME>_ACCESS_KEY` / `PARENT_<NAME>_SECRET_KEY` instead.
    #[arg(long, env = "PARENT_SYNC_CONFIG")]
    config: PathBuf,
    /// Also read back and verify copies that look present, to catch damage at rest.
    #[arg(long, global = true)]
    verify_present: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run one round and exit (status 1 if any copy failed).
    Once,
    /// Run a round every interval until SIGINT or SIGTERM.
    Watch {
        #[arg(long, default_value_t = 5)]
        interval_secs: u64,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<ExitCode> {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let text = std::fs::read_to_string(&args.config)
        .with_context(|| format!("reading {}", args.config.display()))?;
    let mut config =
        SyncConfig::parse(&text).with_context(|| format!("in {}", args.config.display()))?;
    config.apply_env(|k| std::env::var(k).ok());
    config
        .validate()
        .with_context(|| format!("in {}", args.config.display()))?;

    let primary = ParentStore::connect(config.primary()).await?;
    let mut secondaries = Vec::new();
    for parent in config.secondaries() {
        secondaries.push(ParentStore::connect(parent).await?);
    }
    let options = ReplicateOptions {
        verify_present: args.verify_present,
    };
    match args.command {
        Command::Once => {
            let report = parent_sync::replicate_with(&primary, &secondaries, options).await?;
            tracing::info!(%report, "replication round done");
            println!("{report}");
            Ok(if report.failed() == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Watch { interval_secs } => {
            anyhow::ensure!(interval_secs > 0, "--interval-secs must be at least 1");
            parent_sync::watch(
                &primary,
                &secondaries,
                options,
                Duration::from_secs(interval_secs),
                parent_sync::shutdown_signal(),
            )
            .await;
            tracing::info!("stopped");
            Ok(ExitCode::SUCCESS)
        }
    }
}
