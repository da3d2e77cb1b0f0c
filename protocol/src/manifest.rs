//! The signed manifest: every item, its current object version and root, its classification
//! level and the regions where it may be delivered. Edges prefill from it.

use serde::{Deserialize, Serialize};

use crate::ids::ItemId;
use crate::sign::{Audience, Envelope, SignError, Signer, Verifier};

/// The level of "hot" items, held by every edge.
pub const HOT_LEVEL: u8 = 1;

/// One item in the manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestItem {
    pub id: ItemId,
    pub version: u32,
    pub object_len: u64,
    /// Hex digest root of the sealed object.
    pub root: String,
    /// 1 = hot (every edge); k = the edge set of level k; `None` = cold (filled on demand).
    pub level: Option<u8>,
    /// Regions where the item may be delivered; empty = everywhere.
    pub regions: Vec<String>,
}

impl ManifestItem {
    /// Whether an edge in `region` holding `levels` must keep this item filled.
    pub fn pinned_for(&self, region: &str, levels: &[u8]) -> bool {
        let allowed = self.regions.is_empty() || self.regions.iter().any(|r| r == region);
        allowed
            && self
                .level
                .is_some_and(|l| l == HOT_LEVEL || levels.contains(&l))
    }
}

/// The manifest document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Increases with every change of the catalog.
    pub serial: u64,
    pub items: Vec<ManifestItem>,
}

impl Manifest {
    /// Signs the manifest, valid for `valid_secs` from `now`.
    pub fn sign(&self, signer: &Signer, now: u64, valid_secs: u64) -> Result<String, SignError> {
        let envelope = Envelope {
            audience: Audience::Manifest,
            issued_at: now,
            expires_at: now + valid_secs,
            subject: None,
            id: None,
        };
        signer.sign(&envelope, self)
    }

    /// Verifies a signed manifest; a forged, altered or stale one is refused.
    pub fn verify(verifier: &Verifier, signed: &str, now: u64) -> Result<Self, SignError> {
        verifier
            .verify::<Manifest>(Audience::Manifest, signed, now)
            .map(|v| v.claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forged_manifest_is_refused() {
        let m = Manifest {
            serial: 1,
            items: vec![ManifestItem {
                id: ItemId::parse("film").unwrap(),
                version: 1,
                object_len: 10,
                root: "ab".into(),
                level: Some(1),
                regions: vec![],
            }],
        };
        let signer = Signer::generate("k");
        let signed = m.sign(&signer, 100, 60).unwrap();
        assert_eq!(
            Manifest::verify(&signer.verifier(), &signed, 120).unwrap(),
            m
        );
        assert!(Manifest::verify(&Signer::generate("k").verifier(), &signed, 120).is_err());
        assert!(Manifest::verify(&signer.verifier(), &signed, 1000).is_err());
        assert!(m.items[0].pinned_for("eu", &[]));
    }
}
