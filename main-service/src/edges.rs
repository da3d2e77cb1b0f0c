//! The edge registry: which edges exist, how they authenticate, and which one a client is sent to.

use crate::config::EdgeConfig;

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

    /// An edge for a client in `region` (any edge when the region has none); `affinity` spreads
    /// clients over a region's edges and keeps one item on one edge for cache hits.
    pub fn choose(&self, region: Option<&str>, affinity: &str) -> Option<&EdgeConfig> {
        let local: Vec<&EdgeConfig> = self
            .edges
            .iter()
            .filter(|e| Some(e.region.as_str()) == region)
            .collect();
        let pool: Vec<&EdgeConfig> = if local.is_empty() {
            self.edges.iter().collect()
        } else {
            local
        };
        if pool.is_empty() {
            return None;
        }
        let h = u64::from_le_bytes(
            blake3::hash(affinity.as_bytes()).as_bytes()[..8]
                .try_into()
                .expect("8 bytes"),
        );
        Some(pool[(h % pool.len() as u64) as usize])
    }
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

    #[test]
    fn choose_prefers_region_and_authenticates() {
        let e = Edges::new(vec![
            edge("eu1", "eu"),
            edge("eu2", "eu"),
            edge("us1", "us"),
        ]);
        for item in ["a", "b", "c", "d"] {
            assert_eq!(e.choose(Some("eu"), item).unwrap().region, "eu");
        }
        assert_eq!(e.choose(Some("us"), "a").unwrap().id, "us1");
        assert!(e.choose(Some("ap"), "a").is_some());
        assert!(e.authenticate("eu1", "eu1-secret-0123456789").is_some());
        assert!(e.authenticate("eu1", "eu2-secret-0123456789").is_none());
    }
}
