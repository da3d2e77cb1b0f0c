//! Measuring downloads through real processes, for `edge-hit`, `edge-peers` and
//! `lambda-cold-start`: an HTTP client, whole downloads, throughput and medians.

use std::time::{Duration, Instant};

use reqwest::blocking::{Client, Response};

/// The median of `values` (the upper one of an even count).
pub fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// A blocking client that waits long enough for a large download.
pub fn client() -> anyhow::Result<Client> {
    Ok(Client::builder()
        .timeout(Duration::from_secs(600))
        .build()?)
}

/// Reads a whole body, returning its length.
pub fn drain(mut response: Response) -> anyhow::Result<u64> {
    Ok(std::io::copy(&mut response, &mut std::io::sink())?)
}

/// Downloads `url` whole (failing on an error status); the bytes read.
pub fn download(client: &Client, url: &str) -> anyhow::Result<u64> {
    drain(client.get(url).send()?.error_for_status()?)
}

/// The median GB/s of `runs` timed calls of `one`, each returning the bytes it moved.
pub fn median_gbps(
    runs: usize,
    mut one: impl FnMut() -> anyhow::Result<u64>,
) -> anyhow::Result<f64> {
    let mut rates = Vec::with_capacity(runs);
    for _ in 0..runs {
        let started = Instant::now();
        let bytes = one()?;
        rates.push(bytes as f64 / started.elapsed().as_secs_f64() / 1e9);
    }
    Ok(median(rates))
}
