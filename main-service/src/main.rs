//! `main-service --config FILE`: reads the config, applies the secrets that `MAIN_*_SECRET_ARN`
//! name (AWS Secrets Manager), validates, builds the state, and serves the API as a plain server,
//! or under the Lambda runtime when `AWS_LAMBDA_RUNTIME_API` is set.
//!
//! `main-service --config FILE create-table` creates the DynamoDB table the config names, unless
//! it exists, and exits: for local networks on a DynamoDB-compatible server (in AWS, Terraform
//! owns the table).
//!
//! `main-service --config FILE rewrap-keys` seals every stored secret under the current
//! key-encryption key, opening it with `previous_key_encryption_key` (`main_service::rewrap`).

use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use aws_config::BehaviorVersion;
use clap::Parser;
use main_service::secrets::SecretIds;
use main_service::{AppState, Config};
use tracing_subscriber::fmt::writer::BoxMakeWriter;

/// The main service of the delivery network.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Path of the TOML configuration (see docs/configuration.md).
    #[arg(long, env = "MAIN_CONFIG")]
    config: PathBuf,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Create the DynamoDB table of `[dynamodb]` (key schema, index, TTL) unless it exists, then
    /// exit. For local runs against a DynamoDB-compatible server; in AWS, Terraform owns it.
    CreateTable,
    /// Seal every stored secret (content keys, generated signing keys) under the current
    /// key-encryption key, opening those under `previous_key_encryption_key`; prints a JSON
    /// report and exits 1 if any could not be opened. Safe to run again.
    RewrapKeys,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let on_lambda = std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "info,tower_http=warn".into());
    // JSON lines on Lambda (CloudWatch) and wherever MAIN_LOG_FORMAT=json asks for them.
    let json = match std::env::var("MAIN_LOG_FORMAT").as_deref() {
        Ok("json") => true,
        Ok("text") => false,
        Ok(other) => {
            eprintln!("MAIN_LOG_FORMAT must be \"json\" or \"text\", not {other:?}");
            return ExitCode::from(2);
        }
        Err(_) => on_lambda,
    };
    // As a server, log lines (one or two per request) go to stderr from a thread of their own,
    // in batches: a request never waits on the pipe or the file. Not lossy: a line waits for
    // room rather than being dropped; `_flush` writes what is left when main returns. On Lambda
    // each line is written before the invocation answers, as an instance may be frozen or
    // stopped right after it.
    let (writer, _flush) = if on_lambda {
        (BoxMakeWriter::new(std::io::stderr), None)
    } else {
        let (lines, flush) = tracing_appender::non_blocking::NonBlockingBuilder::default()
            .lossy(false)
            .thread_name("main-service-log")
            .finish(std::io::BufWriter::new(std::io::stderr()));
        (BoxMakeWriter::new(lines), Some(flush))
    };
    if json {
        tracing_subscriber::fmt()
            .json()
            .with_env_filter(filter)
            .with_writer(writer)
            .init();
    } else {
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_ansi(std::io::stderr().is_terminal())
            .with_writer(writer)
            .init();
    }
    let result = match args.command {
        Some(Command::CreateTable) => create_table(&args).await,
        Some(Command::RewrapKeys) => rewrap_keys(&args).await,
        None => serve(&args, on_lambda).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // A log line rather than anyhow's report, so that on Lambda the reason of a failed
            // cold start is one JSON record in the function's log group.
            tracing::error!(error = format!("{e:#}"), "main-service stopped");
            ExitCode::FAILURE
        }
    }
}

async fn create_table(args: &Args) -> anyhow::Result<()> {
    let config = Config::read(&args.config)
        .with_context(|| format!("configuration {}", args.config.display()))?;
    let settings = config
        .dynamodb
        .as_ref()
        .context("the configuration has no [dynamodb] table")?;
    let store = main_service::store::DynamoStore::connect(settings).await?;
    let created = store.ensure_table().await?;
    let table = &settings.table;
    if created {
        tracing::info!(table, "table created");
    } else {
        tracing::info!(table, "table already exists");
    }
    Ok(())
}

async fn rewrap_keys(args: &Args) -> anyhow::Result<()> {
    let config = load_config(args).await?;
    let Some(previous) = &config.previous_key_encryption_key else {
        anyhow::bail!(
            "nothing to rewrap from: set previous_key_encryption_key (or \
             MAIN_PREVIOUS_KEY_ENCRYPTION_KEY, or its _SECRET_ARN) to the key being rotated out"
        );
    };
    let keys = main_service::keys::Keys::load(
        &config.data_dir,
        config.key_encryption_key.as_deref(),
        config.signing_key.as_ref().map(|k| k.0.as_slice()),
    )?
    .with_previous_kek(previous)?;
    let store = main_service::store::open(&config).await?;
    let report = main_service::rewrap::rewrap_all(store.as_ref(), &keys).await?;
    println!("{}", serde_json::to_string(&report)?);
    if !report.failed.is_empty() {
        anyhow::bail!(
            "{} secret(s) open under neither key: {}",
            report.failed.len(),
            report.failed.join(", ")
        );
    }
    tracing::info!(
        ?report,
        "every stored secret is sealed under the current key-encryption key"
    );
    Ok(())
}

/// The configuration from the file and the environment, with the secrets that `MAIN_*_SECRET_ARN`
/// name, validated.
async fn load_config(args: &Args) -> anyhow::Result<Config> {
    let in_file = || format!("configuration {}", args.config.display());
    let mut config = Config::read(&args.config).with_context(in_file)?;
    let ids = SecretIds::from_env(|k| std::env::var(k).ok())?;
    if !ids.is_empty() {
        // Read once, before the first request; the values live in the state for the process's
        // life (a changed secret reaches main when Lambda starts new instances).
        let aws = aws_config::defaults(BehaviorVersion::latest()).load().await;
        let client = aws_sdk_secretsmanager::Client::new(&aws);
        let secrets = main_service::secrets::load(&client, &ids)
            .await
            .context("reading secrets from AWS Secrets Manager")?;
        tracing::info!(?secrets, "secrets read");
        config.apply_secrets(secrets).with_context(in_file)?;
    }
    config.validate().with_context(in_file)?;
    Ok(config)
}

async fn serve(args: &Args, on_lambda: bool) -> anyhow::Result<()> {
    let config = load_config(args).await?;
    let listen = config.listen;
    let state = AppState::from_config(config).await?;
    if on_lambda {
        lambda_http::run(main_service::app(state))
            .await
            .map_err(|e| anyhow::anyhow!(e))
    } else {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("binding {listen}"))?;
        main_service::run(listener, state, main_service::shutdown_signal()).await?;
        Ok(())
    }
}
