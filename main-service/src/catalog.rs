//! The catalog as customers and edges see it, and the signed manifest built from it.

use protocol::{Manifest, ManifestItem, ObjectInfo};
use serde::{Deserialize, Serialize};

use crate::records::{ItemRecord, ObjectVersion};

/// An item as the public API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ItemView {
    pub id: String,
    pub title: String,
    pub plaintext_len: u64,
    pub object_len: u64,
    pub chunk_size: u32,
    pub chunk_count: u64,
    pub version: u32,
    pub key_version: u32,
    pub root: String,
    pub level: Option<u8>,
    pub regions: Vec<String>,
    pub price_cents: u64,
    /// A public object (poster, trailer): served by the edges at `/v1/public/{id}`, not rented.
    pub public: bool,
    /// The age rating (the youngest age the item is for); absent when unrated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rating: Option<u8>,
}

impl From<&ItemRecord> for ItemView {
    fn from(r: &ItemRecord) -> Self {
        Self {
            id: r.id.to_string(),
            title: r.title.clone(),
            plaintext_len: r.plaintext_len,
            object_len: r.object_len,
            chunk_size: r.chunk_size,
            chunk_count: r.chunk_count,
            version: r.version,
            key_version: r.key_version,
            root: r.root.clone(),
            level: r.level,
            regions: r.regions.clone(),
            price_cents: r.price_cents,
            public: r.public,
            rating: r.rating,
        }
    }
}

impl ItemView {
    /// Item `r` as it was at `object`, one of its versions.
    pub fn of_version(r: &ItemRecord, object: &ObjectVersion) -> Self {
        Self {
            plaintext_len: object.plaintext_len,
            object_len: object.object_len,
            chunk_size: object.chunk_size,
            chunk_count: object.chunk_count,
            version: object.version,
            key_version: object.key_version,
            root: object.root.clone(),
            ..Self::from(r)
        }
    }
}

/// What an edge needs to serve the item's current object.
pub fn object_info(r: &ItemRecord) -> ObjectInfo {
    version_info(r, &r.current())
}

/// What an edge needs to serve `object`, one version of item `r`.
pub fn version_info(r: &ItemRecord, object: &ObjectVersion) -> ObjectInfo {
    ObjectInfo {
        item: r.id.clone(),
        version: object.version,
        object_len: object.object_len,
        chunk_size: object.chunk_size,
        plaintext_len: object.plaintext_len,
        root: object.root.clone(),
    }
}

/// The manifest of all items for rent (public objects are filled on demand, into the edges'
/// other zone); its serial is the latest publication time, so it grows with every ingest.
pub fn manifest(items: &[ItemRecord]) -> Manifest {
    let mut items: Vec<&ItemRecord> = items.iter().filter(|i| !i.public).collect();
    items.sort_by(|a, b| a.id.cmp(&b.id));
    Manifest {
        serial: items.iter().map(|i| i.published_at).max().unwrap_or(0),
        items: items
            .into_iter()
            .map(|r| ManifestItem {
                id: r.id.clone(),
                version: r.version,
                object_len: r.object_len,
                root: r.root.clone(),
                level: r.level,
                regions: r.regions.clone(),
            })
            .collect(),
    }
}
