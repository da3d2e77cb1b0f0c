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

/// GB/s of one whole download of `url` by `curl` (a new process and connection, the body to
/// `/dev/null`): what a customer's download client sees, without this process's own client
/// threads sharing the cores.
pub fn curl_gbps(url: &str) -> anyhow::Result<f64> {
    let out = std::process::Command::new("curl")
        .args([
            "-sS",
            "--fail",
            "-o",
            "/dev/null",
            "-w",
            "%{size_download} %{time_total}",
        ])
        .arg(url)
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "curl {url}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout)?;
    let (bytes, secs) = text
        .split_once(' ')
        .ok_or_else(|| anyhow::anyhow!("curl printed {text:?}"))?;
    Ok(bytes.parse::<f64>()? / secs.trim().parse::<f64>()? / 1e9)
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

/// Runs `wrk --latency` with `args`: requests per second and p99 latency in ms. Fails when wrk
/// is missing or saw errors or non-2xx answers.
pub fn wrk(args: &[&str]) -> anyhow::Result<(f64, f64)> {
    use anyhow::Context;
    let out = std::process::Command::new("wrk")
        .arg("--latency")
        .args(args)
        .output()
        .context("running wrk (apt-get install wrk)")?;
    let text = String::from_utf8_lossy(&out.stdout);
    let rps = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .with_context(|| format!("no Requests/sec in wrk's output:\n{text}"))?;
    let p99 = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("99%"))
        .map(|v| duration_ms(v.trim()))
        .with_context(|| format!("no 99% line in wrk's output:\n{text}"))?;
    if text.contains("Non-2xx") {
        anyhow::bail!("wrk saw errors:\n{text}");
    }
    Ok((rps, p99))
}

/// wrk's "1.23ms" / "456.00us" / "1.02s" in milliseconds.
pub fn duration_ms(v: &str) -> f64 {
    let number = |s: &str| s.parse::<f64>().unwrap_or(f64::NAN);
    if let Some(us) = v.strip_suffix("us") {
        number(us) / 1e3
    } else if let Some(ms) = v.strip_suffix("ms") {
        number(ms)
    } else if let Some(s) = v.strip_suffix('s') {
        number(s) * 1e3
    } else {
        f64::NAN
    }
}

/// CPU seconds (user + system, all threads) used so far by every running process, by process
/// id with its command name (`/proc/PID/stat`): take it before and after a measurement and
/// subtract ([`cpu_used`]) to see where the machine's time went.
pub fn cpu_by_process() -> std::collections::BTreeMap<u32, (String, f64)> {
    let ticks = 100.0; // USER_HZ on Linux
    let mut out = std::collections::BTreeMap::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // `pid (comm) state ppid ...`: the name may hold spaces; fields follow the last ')'.
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let name = stat[open + 1..close].to_owned();
        let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
        // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
        let (Some(u), Some(s)) = (fields.get(11), fields.get(12)) else {
            continue;
        };
        let secs = (u.parse::<f64>().unwrap_or(0.0) + s.parse::<f64>().unwrap_or(0.0)) / ticks;
        out.insert(pid, (name, secs));
    }
    out
}

/// What the processes used between two [`cpu_by_process`] readings, summed by command name
/// (kernel workers, whose names change with their work, as one `kernel workers`), largest first,
/// as `name 1.23 s` (under 0.05 s left out).
pub fn cpu_used(
    before: &std::collections::BTreeMap<u32, (String, f64)>,
    after: &std::collections::BTreeMap<u32, (String, f64)>,
) -> String {
    let mut by_name = std::collections::BTreeMap::<String, f64>::new();
    for (pid, (name, secs)) in after {
        let used = secs - before.get(pid).map_or(0.0, |b| b.1);
        let name = if name.starts_with("kworker") {
            "kernel workers".to_owned()
        } else {
            name.clone()
        };
        *by_name.entry(name).or_insert(0.0) += used;
    }
    let mut used: Vec<(String, f64)> = by_name.into_iter().filter(|(_, v)| *v >= 0.05).collect();
    used.sort_by(|a, b| b.1.total_cmp(&a.1));
    used.iter()
        .map(|(k, v)| format!("{k} {v:.2} s"))
        .collect::<Vec<_>>()
        .join(", ")
}
