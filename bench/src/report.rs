//! The comparison `policy-sim` prints: every policy against the same traces and cache sizes.

use edge_fn::policy::{
    DynamicAging, EvictionPolicy, Lfuda, Lru, Options, Ranked, Recency, SizeAging,
};

use crate::replay::{Outcome, belady, replay, upper_bound};
use crate::trace::Trace;

/// A column of the comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Contender {
    /// The patent's LRU.
    Lru,
    /// LRU with the shipped policy's admission (TinyLFU-style).
    LruAdmit,
    /// Classic GDSF (miss cost 1), no admission.
    Gdsf,
    /// LFU with dynamic aging, no sketch, no admission.
    Lfuda,
    /// The shipped policy: LFU-DA on the sketch's recent counts, with admission ([`edge_fn::Policy::shipped`]).
    Shipped,
    /// Belady's furthest-next-use, offline.
    Belady,
    /// The fractional upper bound, offline.
    Bound,
}

impl Contender {
    /// Every column, in print order.
    pub const ALL: [Self; 7] = [
        Self::Lru,
        Self::LruAdmit,
        Self::Gdsf,
        Self::Lfuda,
        Self::Shipped,
        Self::Belady,
        Self::Bound,
    ];

    /// The column's heading.
    pub fn name(self) -> &'static str {
        match self {
            Self::Lru => "LRU",
            Self::LruAdmit => "LRU+admission",
            Self::Gdsf => "GDSF",
            Self::Lfuda => "LFU-DA",
            Self::Shipped => "**shipped**: LFU-DA, sketch, admission",
            Self::Belady => "Belady (furthest next use)",
            Self::Bound => "upper bound (PFOO-U)",
        }
    }

    /// Replays `trace` with a cache of `capacity` bytes.
    pub fn run(self, trace: &Trace, capacity: u64) -> Outcome {
        fn go(mut p: impl EvictionPolicy, trace: &Trace) -> Outcome {
            replay(&mut p, trace)
        }
        match self {
            Self::Lru => go(Lru::new(capacity), trace),
            Self::LruAdmit => go(Ranked::with(capacity, Recency {}, Options::ADMIT), trace),
            Self::Gdsf => go(
                Ranked::with(capacity, SizeAging::default(), Options::PLAIN),
                trace,
            ),
            Self::Lfuda => go(
                Ranked::with(capacity, DynamicAging::default(), Options::PLAIN),
                trace,
            ),
            Self::Shipped => go(Lfuda::new(capacity), trace),
            Self::Belady => belady(trace, capacity),
            Self::Bound => upper_bound(trace, capacity),
        }
    }
}

/// One row: a cache size and the byte hit ratio of each contender.
#[derive(Debug, Clone)]
pub struct Row {
    /// Cache size as a fraction of the catalog's bytes.
    pub fraction: f64,
    /// Byte hit ratio per contender, in [`Contender::ALL`] order.
    pub ratios: Vec<f64>,
}

/// Runs every contender on `trace` at each cache size (fractions of the catalog).
pub fn compare(trace: &Trace, fractions: &[f64]) -> Vec<Row> {
    let catalog = trace.catalog_bytes();
    fractions
        .iter()
        .map(|&fraction| {
            let capacity = (catalog as f64 * fraction) as u64;
            let ratios = Contender::ALL
                .iter()
                .map(|c| c.run(trace, capacity).byte_hit_ratio())
                .collect();
            Row { fraction, ratios }
        })
        .collect()
}

/// The rows as a Markdown table of byte hit ratios in percent.
pub fn markdown(rows: &[Row]) -> String {
    let mut out = String::from("| cache (of catalog) |");
    for c in Contender::ALL {
        out.push_str(&format!(" {} |", c.name()));
    }
    out.push_str("\n| ---: |");
    out.push_str(&" ---: |".repeat(Contender::ALL.len()));
    out.push('\n');
    for row in rows {
        out.push_str(&format!("| {:.0} % |", row.fraction * 100.0));
        for r in &row.ratios {
            out.push_str(&format!(" {:.1} % |", r * 100.0));
        }
        out.push('\n');
    }
    out
}
