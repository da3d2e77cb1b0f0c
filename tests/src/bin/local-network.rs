//! `local-network`: starts the whole delivery network on this machine — three parent stores in
//! three regions with replication and a scrub, the main service, three edges in two regions
//! running the real edge component, and a demo catalog — then prints what to run next. Ctrl-C
//! stops it all.

use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use e2e::network::{Network, Options, command};

/// Run the delivery network locally, with no cloud account.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Working directory for stores, caches, configs and logs; emptied at start.
    #[arg(long, default_value = ".local-network")]
    dir: PathBuf,
    /// Size of the largest demo item in MiB (the others are smaller).
    #[arg(long, default_value_t = 64)]
    demo_mib: u64,
    /// Seconds between replication rounds from the primary parent.
    #[arg(long, default_value_t = 5)]
    sync_interval_secs: u64,
    /// Seconds between scrub rounds (every copy on every parent read, verified and repaired).
    #[arg(long, default_value_t = 60)]
    scrub_interval_secs: u64,
    /// Where main keeps its state: `embedded` (one file, one main) or `dynamodb` (a local moto
    /// server the launcher starts; needs `pip install 'moto[server]'`, which infra/setup.sh does).
    #[arg(long, value_enum, default_value_t = Store::Embedded)]
    store: Store,
    /// How many mains to run over the one store (more than one needs `--store dynamodb`); edges
    /// and the player are given them all and fail over.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=8))]
    mains: u16,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Store {
    Embedded,
    Dynamodb,
}

struct Watcher(Child);

impl Drop for Watcher {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.dir.exists() {
        std::fs::remove_dir_all(&args.dir)
            .with_context(|| format!("emptying {}", args.dir.display()))?;
    }
    std::fs::create_dir_all(args.dir.join("catalog"))?;
    let dir = std::fs::canonicalize(&args.dir)?;
    eprintln!(
        "starting parents, main and edges under {} ...",
        dir.display()
    );
    if args.mains > 1 && args.store != Store::Dynamodb {
        anyhow::bail!(
            "--mains {} needs --store dynamodb: mains share one store",
            args.mains
        );
    }
    let net = Network::start(
        &dir,
        &Options {
            prefill_interval_secs: 10,
            dynamodb: args.store == Store::Dynamodb,
            mains: args.mains.into(),
            ..Options::default()
        },
    )?;

    let catalog = e2e::demo::catalog(args.demo_mib);
    for (i, item) in catalog.iter().enumerate() {
        e2e::demo::ingest(&net, &dir.join("catalog"), item, i as u64)?;
        eprintln!(
            "ingested {} ({} bytes{}), with its poster{}",
            item.id,
            item.len,
            if item.level == Some(1) { ", hot" } else { "" },
            if item.clip { " and clip" } else { "" }
        );
    }
    e2e::demo::promote(&net, &["big-buck-bunny", "sintel"])?;
    net.sync_parents().context("first replication")?;
    let mut watch = command("parent-sync");
    watch.arg("--config").arg(dir.join("parents.toml")).args([
        "watch",
        "--interval-secs",
        &args.sync_interval_secs.to_string(),
        "--scrub-interval-secs",
        &args.scrub_interval_secs.to_string(),
    ]);
    watch
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("logs/parent-sync.log"))?);
    let _watcher = Watcher(watch.spawn().context("starting parent-sync watch")?);

    let player = format!(
        "{} --home {} --main {}",
        e2e::network::bin_dir().join("player").display(),
        dir.join("player").display(),
        net.main_urls()
    );
    println!("\nThe local delivery network is up.\n");
    println!("  main      {}", net.main.url());
    for m in &net.more_mains {
        println!("  main      {}", m.url());
    }
    if let Some(moto) = &net.moto {
        println!("  dynamodb  {} (moto), table cdn-local", moto.url);
    }
    for p in &net.parents {
        println!(
            "  parent    {:<10} {:<3} {}",
            p.name,
            p.region,
            p.server.url()
        );
    }
    for e in &net.edges {
        println!(
            "  edge      {:<10} {:<3} {}",
            e.id,
            e.region,
            e.server.url()
        );
    }
    println!("  logs      {}/logs", dir.display());
    println!(
        "  restart   {}/commands/NAME.sh (stop one first; it comes back at its address)",
        dir.display()
    );
    println!(
        "  site      {}/ (customers; the console at {}/admin)",
        net.main.url(),
        net.main.url()
    );
    println!(
        "  admin     token {} (the console's login, and the API's Bearer)",
        net.admin_token
    );
    println!(
        "  API       {}/openapi.json (OpenAPI 3.1, main's and the edges')",
        net.main.url()
    );
    println!(
        "\nTry it (the player keeps its state in {}/player):\n",
        dir.display()
    );
    println!("  P=\"{player}\"");
    println!("  $P register --email you@example.com --password 'correct horse'");
    println!("  $P login --email you@example.com --password 'correct horse'");
    println!("  $P catalog");
    println!("  $P rent big-buck-bunny            # prints the download URL on an edge near you");
    println!("  $P download big-buck-bunny        # resumable, in 8 MiB ranges, digests checked");
    println!("  $P licence big-buck-bunny && $P enable big-buck-bunny");
    println!("  $P play big-buck-bunny --out /tmp/big-buck-bunny.bin");
    println!(
        "  cmp /tmp/big-buck-bunny.bin {}/catalog/big-buck-bunny.bin",
        dir.display()
    );
    println!("\n  or with curl, resumable:  curl -C - -o bbb.sealed \"<download_url>\"");
    println!(
        "  or without an account:   $P rent big-buck-bunny --guest you@example.com   \
         # keep the claim code it prints"
    );
    println!(
        "  or as a family:           $P group create Family   \
         # then: $P group invite GROUP kid@example.com --monthly-cap-cents 1000 --max-rating 12;\n\
         \x20                           # the member joins with the code it prints and rents with --group GROUP"
    );
    println!("\nCtrl-C stops everything.");
    let (tx, rx) = std::sync::mpsc::channel();
    ctrlc::set_handler(move || {
        let _ = tx.send(());
    })
    .context("installing the Ctrl-C handler")?;
    let _ = rx.recv();
    eprintln!("stopping ...");
    drop(net);
    std::thread::sleep(Duration::from_millis(100));
    Ok(())
}
