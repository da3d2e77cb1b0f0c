//! What each edge did over the last day, from its heartbeats: lookups, hits and bytes served per
//! five-minute bucket, kept in the edge's status record (at most 288 buckets). A heartbeat
//! carries counters since the edge started; a bucket gets the difference from the previous
//! heartbeat (an edge that restarted counts from zero again). The console charts the network's
//! hit ratio and throughput from them.

use protocol::Heartbeat;
use serde::{Deserialize, Serialize};

/// The width of a bucket.
pub const BUCKET_SECS: u64 = 300;
/// How far back buckets are kept.
pub const KEEP_SECS: u64 = 24 * 3600;

/// One bucket of an edge's history: what it did from `at` for [`BUCKET_SECS`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EdgeSample {
    pub at: u64,
    pub lookups: u64,
    pub hits: u64,
    pub served_bytes: u64,
}

/// The growth of a counter since `previous` (all of `current` if the counter went back: the
/// edge restarted).
fn grown(previous: Option<u64>, current: u64) -> u64 {
    match previous {
        Some(p) if current >= p => current - p,
        _ => current,
    }
}

/// `history` with the heartbeat `beat` (received at `now`, after `previous`) added to its
/// bucket, and buckets older than [`KEEP_SECS`] dropped; oldest first.
pub fn fold(
    history: &[EdgeSample],
    previous: Option<&Heartbeat>,
    beat: &Heartbeat,
    now: u64,
) -> Vec<EdgeSample> {
    let at = now - now % BUCKET_SECS;
    let add = EdgeSample {
        at,
        lookups: grown(previous.map(|p| p.lookups), beat.lookups),
        hits: grown(previous.map(|p| p.hits), beat.hits),
        served_bytes: grown(previous.map(|p| p.served_bytes), beat.served_bytes),
    };
    let oldest = now.saturating_sub(KEEP_SECS);
    let mut out: Vec<EdgeSample> = history
        .iter()
        .copied()
        .filter(|s| s.at >= oldest && s.at <= at)
        .collect();
    match out.iter_mut().find(|s| s.at == at) {
        Some(s) => {
            s.lookups += add.lookups;
            s.hits += add.hits;
            s.served_bytes += add.served_bytes;
        }
        None => out.push(add),
    }
    out.sort_by_key(|s| s.at);
    out
}

/// The whole network's buckets: every edge's samples summed per bucket, oldest first.
pub fn network<'a>(histories: impl IntoIterator<Item = &'a [EdgeSample]>) -> Vec<EdgeSample> {
    let mut sum: std::collections::BTreeMap<u64, EdgeSample> = Default::default();
    for history in histories {
        for s in history {
            let b = sum.entry(s.at).or_insert(EdgeSample {
                at: s.at,
                ..EdgeSample::default()
            });
            b.lookups += s.lookups;
            b.hits += s.hits;
            b.served_bytes += s.served_bytes;
        }
    }
    sum.into_values().collect()
}

/// Hit ratio per bucket (buckets without lookups left out), at the bucket's middle.
pub fn hit_ratios(samples: &[EdgeSample]) -> Vec<(u64, f64)> {
    samples
        .iter()
        .filter(|s| s.lookups > 0)
        .map(|s| (s.at + BUCKET_SECS / 2, s.hits as f64 / s.lookups as f64))
        .collect()
}

/// Bytes served per second, averaged over each bucket, at the bucket's middle.
pub fn throughput(samples: &[EdgeSample]) -> Vec<(u64, f64)> {
    samples
        .iter()
        .map(|s| {
            (
                s.at + BUCKET_SECS / 2,
                s.served_bytes as f64 / BUCKET_SECS as f64,
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn beat(lookups: u64, hits: u64, served_bytes: u64) -> Heartbeat {
        Heartbeat {
            version: "0".into(),
            status: "ok".into(),
            reasons: vec![],
            open_connections: 0,
            max_connections: 0,
            hit_ratio: None,
            zones: vec![],
            lookups,
            hits,
            served_bytes,
        }
    }

    #[test]
    fn heartbeats_fill_five_minute_buckets_with_what_grew() {
        let first = beat(10, 5, 1000);
        let h = fold(&[], None, &first, 1_000_000);
        assert_eq!(h.len(), 1);
        assert_eq!((h[0].at, h[0].lookups, h[0].hits), (999_900, 10, 5));
        // Same bucket: the growth is added.
        let second = beat(30, 20, 5000);
        let h = fold(&h, Some(&first), &second, 1_000_100);
        assert_eq!(h.len(), 1);
        assert_eq!((h[0].lookups, h[0].hits, h[0].served_bytes), (30, 20, 5000));
        // The edge restarted: its counters start again.
        let restarted = beat(4, 4, 100);
        let h = fold(&h, Some(&second), &restarted, 1_000_300);
        assert_eq!(h.len(), 2);
        assert_eq!((h[1].at, h[1].lookups), (1_000_200, 4));
        // A day later the old buckets are gone.
        let h = fold(
            &h,
            Some(&restarted),
            &beat(4, 4, 100),
            1_000_300 + KEEP_SECS + 200,
        );
        assert_eq!(h.len(), 1);
        assert_eq!(h[0].lookups, 0);
    }

    #[test]
    fn the_network_sums_edges_per_bucket() {
        let a = [
            EdgeSample {
                at: 0,
                lookups: 10,
                hits: 5,
                served_bytes: 300,
            },
            EdgeSample {
                at: 300,
                lookups: 0,
                hits: 0,
                served_bytes: 0,
            },
        ];
        let b = [EdgeSample {
            at: 0,
            lookups: 10,
            hits: 10,
            served_bytes: 600,
        }];
        let net = network([&a[..], &b[..]]);
        assert_eq!(net.len(), 2);
        assert_eq!(hit_ratios(&net), vec![(150, 0.75)]);
        assert_eq!(throughput(&net), vec![(150, 3.0), (450, 0.0)]);
    }
}
