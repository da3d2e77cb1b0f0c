//! The edge cache in the key-value store `default`: its keys (`docs/interfaces.md`) and the
//! narrow [`Cache`] trait the rest of the crate uses, with an in-memory implementation for tests
//! and the simulator.
//!
//! A component instance lives for one request, so all cache state lives in the store. Values are
//! written whole and only once verified, so a reader sees either nothing or a complete, verified
//! value; two requests filling the same chunk write the same bytes.

use std::cell::RefCell;
use std::collections::BTreeMap;

use protocol::ItemId;

/// Main's JWKS and when it was fetched ([`crate::keys::CachedJwks`]).
pub const JWKS_KEY: &str = "jwks";
/// The last verified manifest (JSON of [`protocol::Manifest`]), for region checks on demand.
pub const MANIFEST_KEY: &str = "manifest";

pub use protocol::edge_cache::{chunk_key, meta_key};

/// Counters this edge keeps in its store (read by the host's `/metrics`): `stats/{name}`.
pub fn stat_key(name: &str) -> String {
    format!("stats/{name}")
}

/// Chunks found changed at rest (digest mismatch when read), dropped and refilled.
pub const STAT_CORRUPT_CHUNKS: &str = "corrupt_chunks";
/// Object versions the maintenance call evicted or purged.
pub const STAT_EVICTED_ITEMS: &str = "evicted_items";
/// Chunk bytes the maintenance call deleted.
pub const STAT_EVICTED_BYTES: &str = "evicted_bytes";
/// Chunks a request awaited from another request's fill ([`crate::lease`]).
pub const STAT_LEASE_WAITS: &str = "lease_waits";

/// Present once prefill found every chunk of the object version cached.
pub fn complete_key(item: &ItemId, version: u32) -> String {
    format!("complete/{item}/v{version}")
}

/// The key-value store failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("key-value store: {0}")]
pub struct CacheError(pub String);

/// The operations of Spin's key-value store that the edge uses.
pub trait Cache {
    /// The value of `key`, if present.
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, CacheError>;
    /// Stores `value` under `key`, replacing any value.
    fn set(&self, key: &str, value: &[u8]) -> Result<(), CacheError>;
    /// Whether `key` is present.
    fn exists(&self, key: &str) -> Result<bool, CacheError>;
    /// Removes `key` if present.
    fn delete(&self, key: &str) -> Result<(), CacheError>;
    /// Every key present (for the maintenance call's rebuild; expensive on a large store).
    fn list(&self) -> Result<Vec<String>, CacheError>;

    /// Adds `delta` to the decimal counter at `key` (absent counts as 0) and returns the new
    /// value. The default reads and writes back, so concurrent increments may lose one; a store
    /// with an atomic increment overrides it.
    fn increment(&self, key: &str, delta: i64) -> Result<i64, CacheError> {
        let current = self
            .get(key)?
            .and_then(|v| std::str::from_utf8(&v).ok()?.parse::<i64>().ok())
            .unwrap_or(0);
        let next = current.saturating_add(delta);
        self.set(key, next.to_string().as_bytes())?;
        Ok(next)
    }

    /// Sets `key` to `new` if its value is still `expected` (`None`: absent) and says whether it
    /// did. The default reads and compares, then writes, which is not atomic; a store with
    /// compare-and-swap overrides it.
    fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> Result<bool, CacheError> {
        if self.get(key)?.as_deref() != expected {
            return Ok(false);
        }
        self.set(key, new)?;
        Ok(true)
    }
}

/// A cache in memory: for tests and the simulator.
#[derive(Debug, Default)]
pub struct MemoryCache {
    entries: RefCell<BTreeMap<String, Vec<u8>>>,
}

impl MemoryCache {
    /// The keys present, in order.
    pub fn keys(&self) -> Vec<String> {
        self.entries.borrow().keys().cloned().collect()
    }

    /// Replaces the bytes of `key` in place, as a failing disk would.
    pub fn corrupt(&self, key: &str, at: usize) {
        if let Some(v) = self.entries.borrow_mut().get_mut(key) {
            v[at] ^= 0xff;
        }
    }
}

impl Cache for MemoryCache {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, CacheError> {
        Ok(self.entries.borrow().get(key).cloned())
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<(), CacheError> {
        self.entries
            .borrow_mut()
            .insert(key.to_owned(), value.to_vec());
        Ok(())
    }

    fn exists(&self, key: &str) -> Result<bool, CacheError> {
        Ok(self.entries.borrow().contains_key(key))
    }

    fn delete(&self, key: &str) -> Result<(), CacheError> {
        self.entries.borrow_mut().remove(key);
        Ok(())
    }

    fn list(&self) -> Result<Vec<String>, CacheError> {
        Ok(self.keys())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_the_documented_layout() {
        let item = ItemId::parse("film-1").unwrap();
        assert_eq!(meta_key(&item, 3), "meta/film-1/v3");
        assert_eq!(chunk_key(&item, 3, 17), "chunk/film-1/v3/17");
        assert_eq!(complete_key(&item, 3), "complete/film-1/v3");
    }
}
