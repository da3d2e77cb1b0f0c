//! `site-search`: the web site's search page and the API's catalog search over a catalog of
//! 10,000 items (embedded store), against `/healthz` on the same server — the HTTP stack's
//! ceiling — in the same run, over 16 connections (wrk). Main runs in this process, served as
//! the binary serves it, with the catalog written straight into its store. `bench/site-search.sh`
//! builds it in release and prints a Markdown table for `docs/benchmarks.md`.

use std::net::SocketAddr;
use std::sync::Arc;

use bench::measure::{median, wrk};
use clap::Parser;
use main_service::records::ItemRecord;
use main_service::store::{EmbeddedStore, Store};
use main_service::{AppState, Config};
use protocol::{ContentKey, ItemId};

#[derive(Debug, Parser)]
#[command(about = "the site's search and the API's catalog search over a large catalog")]
struct Args {
    /// Items in the catalog.
    #[arg(long, default_value_t = 10_000)]
    items: usize,
    /// Seconds of each wrk run.
    #[arg(long, default_value_t = 5)]
    secs: u64,
    /// Runs per figure (the median is reported).
    #[arg(long, default_value_t = 3)]
    runs: usize,
}

const CONFIG: &str = r#"
    data_dir = "/unused"
    admin_token = "admin-token-0123456789"
    listen = "127.0.0.1:0"
    [[regions]]
    name = "eu"
    countries = ["DE"]
    [geo]
    overrides = [ { cidr = "127.0.0.0/8", country = "DE" } ]
    [[parents]]
    name = "p1"
    region = "eu"
    bucket = "bucket"
    endpoint = "http://127.0.0.1:1"
    access_key = "access"
    secret_key = "secret"
    primary = true
    [[edges]]
    id = "edge-eu-1"
    region = "eu"
    url = "http://edge-eu-1.test"
    secret = "edge-eu-1-secret-0123456789"
"#;

const ADJECTIVES: [&str; 32] = [
    "blue", "silent", "broken", "golden", "last", "hidden", "iron", "lost", "red", "dark",
    "bright", "cold", "wild", "quiet", "rising", "fallen", "secret", "frozen", "burning",
    "distant", "electric", "empty", "endless", "final", "first", "free", "great", "hollow",
    "little", "long", "new", "old",
];
const NOUNS: [&str; 32] = [
    "river", "city", "garden", "machine", "kingdom", "station", "harbor", "mountain", "signal",
    "forest", "island", "empire", "voyage", "winter", "summer", "horizon", "engine", "shadow",
    "planet", "tower", "bridge", "desert", "ocean", "valley", "storm", "circle", "dream",
    "frontier", "journey", "legend", "mirror", "night",
];

/// The `n`th item of the synthetic catalog: "The Blue River 17", genres from its number.
fn item(n: usize, state: &AppState) -> ItemRecord {
    let id = format!("title-{n}");
    let title = format!(
        "The {} {} {}",
        capital(ADJECTIVES[n % 32]),
        capital(NOUNS[n / 32 % 32]),
        n / 1024 + 1
    );
    let presentation = main_service::records::Presentation {
        genres: vec![["drama", "comedy", "documentary", "animation"][n % 4].into()],
        description: format!("Item number {n} of the synthetic catalog."),
        ..Default::default()
    };
    ItemRecord {
        id: ItemId::parse(&id).expect("a valid id"),
        title,
        version: 1,
        key_version: 1,
        plaintext_len: 1 << 30,
        object_len: (1 << 30) + 48 * 1024,
        chunk_size: 1 << 20,
        chunk_count: 1024,
        root: "00".repeat(32),
        wrapped_content_key: state.keys.wrap_content_key(&id, &ContentKey::generate()),
        level: None,
        regions: vec![],
        price_cents: 399,
        published_at: 1_700_000_000 + n as u64,
        public: false,
        policy: Default::default(),
        rating: Some(12),
        presentation,
        previous: Vec::new(),
    }
}

fn capital(w: &str) -> String {
    let mut c = w.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

/// Main over a store holding `n` items, on a loopback port.
async fn serve(dir: &std::path::Path, n: usize) -> anyhow::Result<SocketAddr> {
    let mut config = Config::from_toml(CONFIG, "bench.toml".as_ref())?;
    config.data_dir = dir.to_owned();
    config.validate()?;
    let store: Arc<dyn Store> = Arc::new(EmbeddedStore::open(&config.store_path())?);
    let keys = main_service::keys::Keys::load_or_create(dir, None)?;
    let state = AppState::assemble(config, store, keys, Vec::new());
    for i in 0..n {
        state.store.put_item(item(i, &state)).await?;
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(main_service::run(listener, state, std::future::pending()));
    Ok(addr)
}

/// Median (req/s, p99 ms) of `runs` wrk runs against `url`.
fn measure(url: &str, args: &Args) -> anyhow::Result<(f64, f64)> {
    let secs = format!("-d{}s", args.secs);
    let (mut rps, mut p99) = (Vec::new(), Vec::new());
    for _ in 0..args.runs {
        let (r, p) = wrk(&["-t2", "-c16", &secs, url])?;
        rps.push(r);
        p99.push(p);
    }
    Ok((median(rps), median(p99)))
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let tmp = tempfile::tempdir()?;
    let runtime = tokio::runtime::Runtime::new()?;
    let addr = runtime.block_on(serve(tmp.path(), args.items))?;
    let base = format!("http://{addr}");
    // One match in 32 items (a whole word), one in 1024 (two word prefixes), the API's list.
    let pages = [
        ("ceiling: `GET /healthz`", format!("{base}/healthz")),
        (
            "site: `/search?q=blue` (1 in 32 match)",
            format!("{base}/search?q=blue"),
        ),
        (
            "site: `/search?q=gol+riv` (1 in 1024)",
            format!("{base}/search?q=gol+riv"),
        ),
        (
            "site: `/` (promotions, newest 12, genres)",
            format!("{base}/"),
        ),
        (
            "API: `/v1/catalog?q=gol+riv`",
            format!("{base}/v1/catalog?q=gol+riv"),
        ),
    ];
    println!(
        "{} items in the catalog, 16 connections, medians of {} runs of {} s",
        args.items, args.runs, args.secs
    );
    println!();
    println!("| page | req/s | p99 | against the ceiling |");
    println!("| --- | --- | --- | --- |");
    let mut ceiling = None;
    for (label, url) in pages {
        let (rps, p99) = measure(&url, &args)?;
        let against = match ceiling {
            None => {
                ceiling = Some(rps);
                "—".to_owned()
            }
            Some(c) => format!("{:.3}× req/s", rps / c),
        };
        println!("| {label} | {rps:.0} | {p99:.2} ms | {against} |");
    }
    Ok(())
}
