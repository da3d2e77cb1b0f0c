//! Synthetic request traces for an edge of a video/game catalog: titles of 0.5–50 GB, Zipf
//! popularity, daily releases entering at the top and pushing older titles down.

use edge_fn::ItemKey;

use crate::rng::SplitMix64;

const GB: f64 = 1e9;

/// The shape of a trace.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TraceConfig {
    /// Seed of every random choice.
    pub seed: u64,
    /// Titles in the catalog on day 0.
    pub initial_titles: usize,
    /// New releases per day; they enter at the top of the popularity ranking.
    pub releases_per_day: usize,
    /// Days simulated.
    pub days: usize,
    /// Days whose requests warm the cache but are not counted.
    pub warmup_days: usize,
    /// Whole-title downloads per day.
    pub requests_per_day: usize,
    /// Zipf exponent of popularity by rank.
    pub alpha: f64,
    /// Smallest and largest title, in bytes; sizes are log-uniform between them.
    pub min_bytes: u64,
    /// See `min_bytes`.
    pub max_bytes: u64,
    /// Share of downloads abandoned part-way, after a uniform random share of the title (0 for
    /// whole-title downloads only).
    pub partial_share: f64,
}

impl TraceConfig {
    /// The trace of `docs/benchmarks.md`: 1,500 titles plus 10 releases a day for 30 days,
    /// 20,000 downloads a day, the first 5 days as warm-up.
    pub fn standard(alpha: f64, seed: u64) -> Self {
        Self {
            seed,
            initial_titles: 1500,
            releases_per_day: 10,
            days: 30,
            warmup_days: 5,
            requests_per_day: 20_000,
            alpha,
            min_bytes: (0.5 * GB) as u64,
            max_bytes: (50.0 * GB) as u64,
            partial_share: 0.0,
        }
    }

    /// A trace small enough for a test that runs in a few seconds in a dev build.
    pub fn tiny(seed: u64) -> Self {
        Self {
            initial_titles: 300,
            releases_per_day: 5,
            days: 8,
            warmup_days: 2,
            requests_per_day: 2_000,
            ..Self::standard(0.9, seed)
        }
    }
}

/// A title of the catalog.
#[derive(Debug, Clone)]
pub struct Title {
    /// Its cache key.
    pub key: ItemKey,
    /// Its size in bytes.
    pub bytes: u64,
}

/// One whole-title download.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request {
    /// Index into [`Trace::titles`].
    pub title: u32,
    /// Seconds since the start of the trace.
    pub now: u64,
    /// Bytes downloaded: the whole title, or less if the download was abandoned.
    pub bytes: u64,
}

/// A generated trace.
#[derive(Debug, Clone)]
pub struct Trace {
    /// Every title that exists by the end, releases included.
    pub titles: Vec<Title>,
    /// Downloads in time order.
    pub requests: Vec<Request>,
    /// Index of the first request that counts (the end of the warm-up).
    pub measured_from: usize,
}

impl Trace {
    /// Generates the trace `config` describes.
    pub fn generate(config: &TraceConfig) -> Self {
        let mut rng = SplitMix64::new(config.seed);
        let total = config.initial_titles + config.releases_per_day * config.days;
        let (lo, hi) = (
            (config.min_bytes as f64).ln(),
            (config.max_bytes as f64).ln(),
        );
        let titles: Vec<Title> = (0..total)
            .map(|i| Title {
                key: ItemKey::new(format!("title-{i:05}/v1")),
                bytes: (lo + rng.unit() * (hi - lo)).exp() as u64,
            })
            .collect();
        // `ranking[r]` is the title at popularity rank r; day 0 starts in random order.
        let mut ranking: Vec<u32> = (0..config.initial_titles as u32).collect();
        shuffle(&mut ranking, &mut rng);
        let mut next_release = config.initial_titles as u32;
        let mut requests = Vec::with_capacity(config.days * config.requests_per_day);
        let mut measured_from = 0;
        for day in 0..config.days {
            if day > 0 {
                // Today's releases take the top ranks in random order; everyone else moves down.
                let mut releases: Vec<u32> =
                    (next_release..next_release + config.releases_per_day as u32).collect();
                next_release += config.releases_per_day as u32;
                shuffle(&mut releases, &mut rng);
                ranking.splice(0..0, releases);
            }
            if day == config.warmup_days {
                measured_from = requests.len();
            }
            let cdf = zipf_cdf(ranking.len(), config.alpha);
            for n in 0..config.requests_per_day {
                let u = rng.unit();
                let rank = cdf.partition_point(|&c| c < u).min(ranking.len() - 1);
                let now = (day * 86_400 + n * 86_400 / config.requests_per_day) as u64;
                let title = ranking[rank];
                let mut bytes = titles[title as usize].bytes;
                // Drawn only when asked for, so whole-title traces stay as they were.
                if config.partial_share > 0.0 && rng.unit() < config.partial_share {
                    bytes = ((bytes as f64 * rng.unit()) as u64).max(1);
                }
                requests.push(Request { title, now, bytes });
            }
        }
        Self {
            titles,
            requests,
            measured_from,
        }
    }

    /// Bytes of every title.
    pub fn catalog_bytes(&self) -> u64 {
        self.titles.iter().map(|t| t.bytes).sum()
    }

    /// Bytes requested in the measured part.
    pub fn measured_bytes(&self) -> u64 {
        self.requests[self.measured_from..]
            .iter()
            .map(|r| r.bytes)
            .sum()
    }
}

/// The cumulative distribution of Zipf(`alpha`) over ranks `0..n`.
fn zipf_cdf(n: usize, alpha: f64) -> Vec<f64> {
    let mut acc = 0.0;
    let mut cdf: Vec<f64> = (1..=n)
        .map(|k| {
            acc += (k as f64).powf(-alpha);
            acc
        })
        .collect();
    for c in &mut cdf {
        *c /= acc;
    }
    cdf
}

/// Fisher–Yates.
fn shuffle(items: &mut [u32], rng: &mut SplitMix64) {
    for i in (1..items.len()).rev() {
        items.swap(i, rng.below(i + 1));
    }
}
