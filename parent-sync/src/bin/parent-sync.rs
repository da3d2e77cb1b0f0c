//! `parent-sync`: replicate the primary parent to the secondaries, verify the copies, and scrub
//! every copy on a schedule.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Args as ClapArgs, Parser, Subcommand};
use parent_sync::{ParentStore, ReplicateOptions, ScrubOptions, SyncConfig, WatchOptions};

/// Copy every object under `items/` from the primary parent to each secondary that lacks it,
/// verifying each copy as a sealed object (a copy that fails is deleted and retried next round),
/// and scrub: read every copy on every parent, verify it against its digest root and re-copy a
/// damaged one from a parent whose copy verified.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// TOML file of `[[parents]]` tables, exactly one with `primary = true`. Keys may come from
    /// `PARENT_<NAME>_ACCESS_KEY` / `PARENT_<NAME>_SECRET_KEY` instead.
    #[arg(long, env = "PARENT_SYNC_CONFIG")]
    config: PathBuf,
    /// Also read back and verify copies that look present, to catch damage at rest.
    #[arg(long, global = true, env = "PARENT_SYNC_VERIFY_PRESENT")]
    verify_present: bool,
    /// What to do; required except on AWS Lambda (`AWS_LAMBDA_RUNTIME_API` set), where
    /// parent-sync serves S3 "object created" events instead.
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run one replication round and exit (status 1 if any copy failed).
    Once,
    /// Run a replication round every interval and a scrub round every scrub interval, until
    /// SIGINT or SIGTERM.
    Watch {
        #[arg(long, default_value_t = 5)]
        interval_secs: u64,
        /// Seconds between scrub rounds (the first runs after the first replication round).
        #[arg(
            long,
            env = "PARENT_SYNC_SCRUB_INTERVAL_SECS",
            default_value_t = 86_400
        )]
        scrub_interval_secs: u64,
        #[command(flatten)]
        pace: Pace,
    },
    /// Read every copy on every parent, verify it against its digest root and re-copy what is
    /// damaged: one round and exit (status 1 if a copy could not be read or repaired), or a round
    /// every `--interval-secs` until SIGINT or SIGTERM.
    Scrub {
        #[arg(long)]
        interval_secs: Option<u64>,
        #[command(flatten)]
        pace: Pace,
    },
}

#[derive(Debug, ClapArgs)]
struct Pace {
    /// Bytes per second a scrub reads from all parents together.
    #[arg(long, env = "PARENT_SYNC_SCRUB_BYTES_PER_SEC", default_value_t = ScrubOptions::default().bytes_per_sec)]
    scrub_bytes_per_sec: u64,
}

impl Pace {
    fn options(&self) -> anyhow::Result<ScrubOptions> {
        let options = ScrubOptions {
            bytes_per_sec: self.scrub_bytes_per_sec,
        };
        options.validate().map_err(anyhow::Error::msg)?;
        Ok(options)
    }
}

fn interval(secs: u64, flag: &str) -> anyhow::Result<Duration> {
    anyhow::ensure!(secs > 0, "{flag} must be at least 1");
    Ok(Duration::from_secs(secs))
}

#[tokio::main]
async fn main() -> anyhow::Result<ExitCode> {
    let args = Args::parse();
    let on_lambda = std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some();
    let logs = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        );
    if on_lambda {
        logs.json().init();
    } else {
        logs.init();
    }
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
    let replicate = ReplicateOptions {
        verify_present: args.verify_present,
    };
    let Some(command) = args.command else {
        anyhow::ensure!(
            on_lambda,
            "a command is required (once, watch or scrub; see --help)"
        );
        parent_sync::event::serve(primary, secondaries, replicate)
            .await
            .map_err(|e| anyhow::anyhow!(e))?;
        return Ok(ExitCode::SUCCESS);
    };
    match command {
        Command::Once => {
            let report = parent_sync::replicate_with(&primary, &secondaries, replicate).await?;
            tracing::info!(%report, "replication round done");
            println!("{report}");
            Ok(if report.failed() == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Watch {
            interval_secs,
            scrub_interval_secs,
            pace,
        } => {
            let options = WatchOptions {
                interval: interval(interval_secs, "--interval-secs")?,
                replicate,
                scrub_interval: interval(scrub_interval_secs, "--scrub-interval-secs")?,
                scrub: pace.options()?,
            };
            parent_sync::watch(
                &primary,
                &secondaries,
                &options,
                parent_sync::shutdown_signal(),
            )
            .await;
            tracing::info!("stopped");
            Ok(ExitCode::SUCCESS)
        }
        Command::Scrub {
            interval_secs: None,
            pace,
        } => {
            let report = parent_sync::scrub(&primary, &secondaries, &pace.options()?).await?;
            tracing::info!(%report, bytes = report.bytes_checked(), "scrub round done");
            println!("{report}");
            Ok(if report.failed() == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Scrub {
            interval_secs: Some(secs),
            pace,
        } => {
            let options = pace.options()?;
            let every = interval(secs, "--interval-secs")?;
            tokio::select! {
                () = parent_sync::scrub_every(&primary, &secondaries, &options, every) => {}
                () = parent_sync::shutdown_signal() => {}
            }
            tracing::info!("stopped");
            Ok(ExitCode::SUCCESS)
        }
    }
}
