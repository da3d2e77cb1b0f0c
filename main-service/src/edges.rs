//! The edge registry: which edges exist, how they authenticate, and which one a client is sent
//! to — by region, health from their heartbeats, load, and cache affinity.

use std::collections::HashMap;

use crate::config::EdgeConfig;
use crate::records::EdgeStatus;

/// Known edges.
#[derive(Debug, Clone)]
pub struct Edges {
    edges: Vec<EdgeConfig>,
}

/// Compares two secrets in time independent of where they differ.
pub fn same_secret(a: &str, b: &str) -> bool {
    let (a, b) = (blake3::hash(a.as_bytes()), blake3::hash(b.as_bytes()));
    // blake3::Hash equality is constant-time.
    a == b
}

impl Edges {
    /// The registry over the configured edges.
    pub fn new(edges: Vec<EdgeConfig>) -> Self {
        Self { edges }
    }

    /// The edge with this id if `secret` is its credential.
    pub fn authenticate(&self, id: &str, secret: &str) -> Option<&EdgeConfig> {
        self.edges
            .iter()
            .find(|e| e.id == id && same_secret(&e.secret, secret))
    }

    /// Where a client in `region` downloads `item`: the best edge and the next one
    /// ([`rank`]), or `None` when there is no edge at all.
    pub fn choose(
        &self,
        region: Option<&str>,
        item: &str,
        health: &Health<'_>,
    ) -> Option<Choice<'_>> {
        let local: Vec<&EdgeConfig> = self
            .edges
            .iter()
            .filter(|e| Some(e.region.as_str()) == region)
            .collect();
        let pool = if local.is_empty() {
            self.edges.iter().collect()
        } else {
            local
        };
        let mut ranked = rank(pool, item, health);
        let primary = (!ranked.is_empty()).then(|| ranked.remove(0))?;
        Some(Choice {
            primary,
            fallback: ranked.into_iter().next(),
        })
    }
}

/// The edge a client is sent to, and the one its download URL names as a fallback.
#[derive(Debug, Clone, Copy)]
pub struct Choice<'a> {
    pub primary: &'a EdgeConfig,
    pub fallback: Option<&'a EdgeConfig>,
}

/// What main knows of its edges' health: their last heartbeats, read at `now`, and how long an
/// edge may be silent before it is skipped (three heartbeat intervals).
#[derive(Debug, Clone)]
pub struct Health<'a> {
    statuses: HashMap<&'a str, &'a EdgeStatus>,
    now: u64,
    silent_after: u64,
}

/// Load above which an edge is only chosen when no edge has room.
pub const BUSY_LOAD: f64 = 0.9;

impl<'a> Health<'a> {
    /// Health from `statuses` at `now`, with heartbeats every `interval_secs`.
    pub fn new(statuses: &'a [EdgeStatus], now: u64, interval_secs: u64) -> Self {
        Self {
            statuses: statuses.iter().map(|s| (s.edge_id.as_str(), s)).collect(),
            now,
            silent_after: interval_secs.saturating_mul(3),
        }
    }

    /// Nothing known: every edge is [`Tier::Unknown`].
    pub fn unknown() -> Self {
        Self {
            statuses: HashMap::new(),
            now: 0,
            silent_after: 0,
        }
    }

    /// How edge `id` stands.
    pub fn tier(&self, id: &str) -> Tier {
        let Some(status) = self.statuses.get(id) else {
            return Tier::Unknown;
        };
        if self.now.saturating_sub(status.seen_at) > self.silent_after {
            Tier::Silent
        } else if status.heartbeat.status != "ok" || status.heartbeat.load() >= BUSY_LOAD {
            Tier::Strained
        } else {
            Tier::Healthy
        }
    }
}

/// How an edge stands, best first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Tier {
    /// Heard from within three intervals, `ok`, load under [`BUSY_LOAD`].
    Healthy,
    /// Heard from, but degraded or busy.
    Strained,
    /// Never heard from (an edge without heartbeats, or not yet).
    Unknown,
    /// Silent for more than three intervals: chosen only when nothing else is left.
    Silent,
}

impl Tier {
    /// The tier's name (`healthy`, …), as the admin API and the console show it.
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Healthy => "healthy",
            Tier::Strained => "strained",
            Tier::Unknown => "unknown",
            Tier::Silent => "silent",
        }
    }
}

impl serde::Serialize for Tier {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// `pool` best first: by [`Tier`], then by rendezvous hashing of `item` over the edge ids, so
/// that one title concentrates on the same edge of a region (cache affinity) while titles
/// spread evenly, and an edge that drops out moves only its own titles.
pub fn rank<'e>(pool: Vec<&'e EdgeConfig>, item: &str, health: &Health<'_>) -> Vec<&'e EdgeConfig> {
    let mut scored: Vec<(Tier, u64, &EdgeConfig)> = pool
        .into_iter()
        .map(|e| (health.tier(&e.id), rendezvous(item, &e.id), e))
        .collect();
    scored.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
    scored.into_iter().map(|(_, _, e)| e).collect()
}

/// The rendezvous weight of `edge` for `item`.
fn rendezvous(item: &str, edge: &str) -> u64 {
    let mut h = blake3::Hasher::new();
    for part in [item, edge] {
        h.update(&(part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
    u64::from_le_bytes(h.finalize().as_bytes()[..8].try_into().expect("8 bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edge(id: &str, region: &str) -> EdgeConfig {
        EdgeConfig {
            id: id.into(),
            region: region.into(),
            url: format!("http://{id}"),
            secret: format!("{id}-secret-0123456789"),
        }
    }

    fn status(id: &str, seen_at: u64, state: &str, open: u64) -> EdgeStatus {
        EdgeStatus {
            edge_id: id.into(),
            seen_at,
            heartbeat: protocol::Heartbeat {
                version: "0.1.0".into(),
                status: state.into(),
                reasons: vec![],
                open_connections: open,
                max_connections: 100,
                hit_ratio: None,
                zones: vec![],
                lookups: 0,
                hits: 0,
                served_bytes: 0,
            },
            history: vec![],
        }
    }

    #[test]
    fn choose_prefers_region_and_authenticates() {
        let e = Edges::new(vec![
            edge("eu1", "eu"),
            edge("eu2", "eu"),
            edge("us1", "us"),
        ]);
        let none = Health::unknown();
        for item in ["a", "b", "c", "d"] {
            let c = e.choose(Some("eu"), item, &none).unwrap();
            assert_eq!(c.primary.region, "eu");
            assert_eq!(c.fallback.unwrap().region, "eu");
            assert_ne!(c.primary.id, c.fallback.unwrap().id);
        }
        let us = e.choose(Some("us"), "a", &none).unwrap();
        assert_eq!(
            (us.primary.id.as_str(), us.fallback.map(|f| f.id.as_str())),
            ("us1", None)
        );
        assert!(e.choose(Some("ap"), "a", &none).is_some());
        assert!(Edges::new(vec![]).choose(Some("eu"), "a", &none).is_none());
        assert!(e.authenticate("eu1", "eu1-secret-0123456789").is_some());
        assert!(e.authenticate("eu1", "eu2-secret-0123456789").is_none());
    }

    #[test]
    fn titles_keep_to_an_edge_and_spread_over_the_region() {
        let ids: Vec<String> = (0..4).map(|i| format!("eu{i}")).collect();
        let e = Edges::new(ids.iter().map(|id| edge(id, "eu")).collect());
        let none = Health::unknown();
        let mut per_edge = HashMap::new();
        for t in 0..400 {
            let item = format!("title-{t}");
            let first = e
                .choose(Some("eu"), &item, &none)
                .unwrap()
                .primary
                .id
                .clone();
            assert_eq!(
                e.choose(Some("eu"), &item, &none).unwrap().primary.id,
                first
            );
            *per_edge.entry(first).or_insert(0) += 1;
        }
        assert_eq!(per_edge.len(), 4);
        assert!(
            per_edge.values().all(|&n| (60..=140).contains(&n)),
            "{per_edge:?}"
        );
        // An edge dropping out moves only its own titles.
        let statuses: Vec<EdgeStatus> = ids
            .iter()
            .map(|id| status(id, if id == "eu0" { 0 } else { 1000 }, "ok", 1))
            .collect();
        let health = Health::new(&statuses, 1000, 30);
        for t in 0..400 {
            let item = format!("title-{t}");
            let before = e.choose(Some("eu"), &item, &none).unwrap();
            let after = e.choose(Some("eu"), &item, &health).unwrap();
            if before.primary.id == "eu0" {
                assert_eq!(after.primary.id, before.fallback.unwrap().id, "{item}");
            } else {
                assert_eq!(after.primary.id, before.primary.id, "{item}");
            }
        }
    }

    #[test]
    fn silent_strained_and_unknown_edges_come_after_healthy_ones() {
        let e = Edges::new(vec![edge("a", "eu"), edge("b", "eu"), edge("c", "eu")]);
        let now = 10_000;
        let tiers = |statuses: &[EdgeStatus]| {
            let h = Health::new(statuses, now, 30);
            ["a", "b", "c"].map(|id| h.tier(id))
        };
        let st = [
            status("a", now - 91, "ok", 0),
            status("b", now - 90, "degraded", 0),
            status("c", now, "ok", 95),
        ];
        assert_eq!(tiers(&st), [Tier::Silent, Tier::Strained, Tier::Strained]);
        let st = [status("a", now - 5, "ok", 89), status("b", now, "ok", 0)];
        assert_eq!(tiers(&st), [Tier::Healthy, Tier::Healthy, Tier::Unknown]);

        // Only b is healthy: every title goes there, and the fallback is the next best.
        let st = [
            status("a", now - 500, "ok", 0),
            status("b", now, "ok", 0),
            status("c", now, "degraded", 0),
        ];
        let h = Health::new(&st, now, 30);
        for t in 0..50 {
            let c = e.choose(Some("eu"), &format!("t{t}"), &h).unwrap();
            assert_eq!(c.primary.id, "b");
            assert_eq!(c.fallback.unwrap().id, "c");
        }
        // All silent: still an answer rather than none.
        let st = [
            status("a", 0, "ok", 0),
            status("b", 0, "ok", 0),
            status("c", 0, "ok", 0),
        ];
        assert!(
            e.choose(Some("eu"), "t", &Health::new(&st, now, 30))
                .is_some()
        );
    }
}
