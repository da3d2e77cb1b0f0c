//! `policy-sim [--seed N] [--tiny] [--partial SHARE]`: byte hit ratios of the edge's eviction
//! policies on synthetic traces (Zipf 0.8 and 1.0), for caches of 5, 10 and 20 % of the catalog,
//! as the Markdown tables of `docs/benchmarks.md`. `--partial 0.3`: 30 % of downloads are
//! abandoned after a random share of the title.

use std::time::Instant;

use bench::{TraceConfig, compare, markdown};
use edge_fn::Policy;
use edge_fn::policy::Lfuda;

fn main() {
    let mut seed = 1u64;
    let mut tiny = false;
    let mut partial = 0.0;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--seed" => {
                seed = args
                    .next()
                    .and_then(|s| s.parse().ok())
                    .unwrap_or_else(|| usage())
            }
            "--tiny" => tiny = true,
            "--partial" => {
                partial = args
                    .next()
                    .and_then(|s| s.parse().ok())
                    .filter(|p| (0.0..=1.0).contains(p))
                    .unwrap_or_else(|| usage())
            }
            _ => usage(),
        }
    }
    let started = Instant::now();
    for alpha in [0.8, 1.0] {
        let config = if tiny {
            TraceConfig {
                alpha,
                ..TraceConfig::tiny(seed)
            }
        } else {
            TraceConfig::standard(alpha, seed)
        };
        let config = TraceConfig {
            partial_share: partial,
            ..config
        };
        let trace = bench::Trace::generate(&config);
        println!(
            "\nZipf {alpha}, seed {seed}, {:.0} % of downloads partial: {} titles ({:.1} TB), {} downloads over {} days \
             ({} warm-up days not counted), {:.0} TB requested in the measured days\n",
            partial * 100.0,
            trace.titles.len(),
            trace.catalog_bytes() as f64 / 1e12,
            trace.requests.len(),
            config.days,
            config.warmup_days,
            trace.measured_bytes() as f64 / 1e12,
        );
        print!("{}", markdown(&compare(&trace, &[0.05, 0.10, 0.20])));
        // What the edge keeps in one key-value entry per zone, at the largest size.
        let mut shipped = Lfuda::new(trace.catalog_bytes() / 5);
        bench::replay(&mut shipped, &trace);
        let titles = shipped.resident().len();
        println!(
            "\nShipped policy's state at 20 %: {titles} titles resident, {} bytes of JSON.",
            Policy::Lfuda(shipped).to_json().len()
        );
    }
    eprintln!("\ndone in {:.1} s", started.elapsed().as_secs_f64());
}

fn usage() -> ! {
    eprintln!("usage: policy-sim [--seed N] [--tiny] [--partial SHARE]");
    std::process::exit(2)
}
