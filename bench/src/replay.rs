//! Replaying a trace: through an [`EvictionPolicy`], through Belady's furthest-next-use (the
//! offline reference), and the fractional upper bound no policy can beat.

use std::collections::{BTreeSet, HashMap};

use edge_fn::EvictionPolicy;

use crate::trace::Trace;

/// Bytes served from the cache out of bytes requested, over the measured part of a trace.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Outcome {
    /// Bytes of requests that hit.
    pub hit_bytes: u64,
    /// Bytes of all requests.
    pub requested_bytes: u64,
}

impl Outcome {
    /// The byte hit ratio, 0 to 1.
    pub fn byte_hit_ratio(&self) -> f64 {
        self.hit_bytes as f64 / self.requested_bytes.max(1) as f64
    }
}

/// Replays `trace` as an edge would, through [`EvictionPolicy::record`]: each download is one
/// access; a miss asks to admit the whole title (a rejected title is served, then deleted).
pub fn replay(policy: &mut impl EvictionPolicy, trace: &Trace) -> Outcome {
    let mut hit_bytes = 0;
    for (i, r) in trace.requests.iter().enumerate() {
        let title = &trace.titles[r.title as usize];
        // Decided before `record` changes anything: a download hits if the title is resident.
        if i >= trace.measured_from && policy.contains(&title.key) {
            hit_bytes += r.bytes;
        }
        policy.record(&title.key, title.bytes, r.now);
    }
    Outcome {
        hit_bytes,
        requested_bytes: trace.measured_bytes(),
    }
}

/// For each request, the index of the next request of the same title (`usize::MAX`: none).
fn next_uses(trace: &Trace) -> Vec<usize> {
    let mut next = vec![usize::MAX; trace.requests.len()];
    let mut seen: HashMap<u32, usize> = HashMap::new();
    for (i, r) in trace.requests.iter().enumerate().rev() {
        if let Some(j) = seen.insert(r.title, i) {
            next[i] = j;
        }
    }
    next
}

/// Belady's MIN as used for variable sizes: on a miss, evict the titles requested furthest in
/// the future, and bypass the cache when the missing title itself is needed later than those
/// it would displace. With equal sizes this is optimal; with sizes from 0.5 to 50 GB exact
/// optimality is NP-hard and this is a strong offline heuristic, not a bound (see
/// [`upper_bound`]).
pub fn belady(trace: &Trace, capacity: u64) -> Outcome {
    let next = next_uses(trace);
    let mut resident: HashMap<u32, usize> = HashMap::new();
    let mut by_next: BTreeSet<(usize, u32)> = BTreeSet::new();
    let mut used = 0u64;
    let mut hit_bytes = 0;
    for (i, r) in trace.requests.iter().enumerate() {
        let bytes = trace.titles[r.title as usize].bytes;
        if let Some(n) = resident.get_mut(&r.title) {
            by_next.remove(&(*n, r.title));
            *n = next[i];
            by_next.insert((next[i], r.title));
            if i >= trace.measured_from {
                hit_bytes += r.bytes;
            }
            continue;
        }
        if next[i] == usize::MAX || bytes > capacity {
            continue;
        }
        let need = (used + bytes).saturating_sub(capacity);
        let mut freed = 0;
        let mut victims = Vec::new();
        for &(n, t) in by_next.iter().rev() {
            if freed >= need || n <= next[i] {
                break;
            }
            freed += trace.titles[t as usize].bytes;
            victims.push((n, t));
        }
        if freed < need {
            continue;
        }
        for v in victims {
            by_next.remove(&v);
            resident.remove(&v.1);
            used -= trace.titles[v.1 as usize].bytes;
        }
        resident.insert(r.title, next[i]);
        by_next.insert((next[i], r.title));
        used += bytes;
    }
    Outcome {
        hit_bytes,
        requested_bytes: trace.measured_bytes(),
    }
}

/// An upper bound on the byte hit ratio of any policy, offline ones included: the capacity
/// constraint relaxed to hold on average over the trace (PFOO-U of Berger, Beckmann and
/// Harchol-Balter, "Practical Bounds on Optimal Caching with Variable Object Sizes", 2018).
/// Keeping a title of `size` between two of its requests `L` steps apart costs `size × L` of the
/// `capacity × steps` available and earns the bytes of the second request; the best fractional
/// choice takes intervals by earnings per cost, highest first (for whole-title downloads: the
/// shortest first).
pub fn upper_bound(trace: &Trace, capacity: u64) -> Outcome {
    let next = next_uses(trace);
    // (earnings, cost) of each interval that ends in the measured part.
    let mut intervals: Vec<(f64, f64)> = next
        .iter()
        .enumerate()
        .filter(|&(_, &j)| j != usize::MAX && j >= trace.measured_from)
        .map(|(i, &j)| {
            let size = trace.titles[trace.requests[i].title as usize].bytes;
            (size, trace.requests[j].bytes, j - i)
        })
        .filter(|&(size, _, _)| size <= capacity)
        .map(|(size, earns, len)| (earns as f64, size as f64 * len as f64))
        .collect();
    intervals.sort_unstable_by(|a, b| (b.0 / b.1).total_cmp(&(a.0 / a.1)));
    let mut budget = capacity as f64 * trace.requests.len() as f64;
    let mut hit_bytes = 0.0;
    for (earns, cost) in intervals {
        if cost <= budget {
            budget -= cost;
            hit_bytes += earns;
        } else {
            hit_bytes += earns * budget / cost;
            break;
        }
    }
    Outcome {
        hit_bytes: hit_bytes as u64,
        requested_bytes: trace.measured_bytes(),
    }
}
