//! The cache's byte budgets and the bookkeeping that keeps the store inside them.
//!
//! Each cache zone has a budget in bytes (Spin variables `licensed_budget_bytes` and
//! `other_budget_bytes`). Two counters in the store say what a zone holds:
//!
//! - `zone/{zone}/used`: bytes of the zone's chunks in the store. A fill *reserves* a chunk's
//!   bytes here (an atomic increment) before it writes the chunk, and gives them back if the
//!   reservation overshoots the budget (the chunk is then served without being stored) or the
//!   write fails. So the store never holds more chunk bytes than the budget, however many fills
//!   run at once, and eviction never has to run on the request path.
//! - `held/{item}/v{n}`: bytes of one object version's chunks, so that the maintenance call
//!   ([`crate::maintain`]) knows what deleting it frees.
//!
//! Deleting frees bytes with negative increments, never by overwriting a counter, so a fill
//! racing an eviction leaves the counters high rather than low: the budget still holds. A crash
//! between a reservation and its write leaves them high too; the maintenance call's rebuild
//! recounts them from the store.
//!
//! Requests record which item they start a download of in a small ring of access slots (one
//! write per download session, when main's grant is fetched — not per chunk); the maintenance
//! call feeds them to the eviction policy.

use protocol::{ItemId, ObjectInfo};
use serde::{Deserialize, Serialize};

use crate::cache::{Cache, CacheError};

/// A part of the cache with its own budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Zone {
    /// Paid, sealed items served with a token (`/v1/content/{item}`).
    Licensed,
    /// Small public objects: posters, trailers, clips.
    Other,
}

impl Zone {
    /// Every zone.
    pub const ALL: [Zone; 2] = [Zone::Licensed, Zone::Other];

    /// The zone's name in keys, variables and metrics.
    pub fn name(self) -> &'static str {
        match self {
            Self::Licensed => "licensed",
            Self::Other => "other",
        }
    }
}

impl std::fmt::Display for Zone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Bytes of the zone's chunks in the store (a counter).
pub fn used_key(zone: Zone) -> String {
    format!("zone/{}/used", zone.name())
}

/// Bytes of one object version's chunks in the store (a counter).
pub fn held_key(item: &ItemId, version: u32) -> String {
    format!("held/{item}/v{version}")
}

/// The eviction policy's state of a zone ([`crate::maintain::ZoneState`]).
pub fn policy_key(zone: Zone) -> String {
    format!("policy/{}", zone.name())
}

/// Sequence number of the last recorded access (a counter).
pub const ACCESS_SEQ_KEY: &str = "access/seq";
/// Number of access slots; the maintenance call must run before this many downloads start, or
/// the oldest are lost to the policy (it logs how many).
pub const ACCESS_SLOTS: u64 = 4096;

/// The slot that access number `seq` is written to.
pub fn access_key(seq: u64) -> String {
    format!("access/{}", seq % ACCESS_SLOTS)
}

/// The budgets of both zones, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Budgets {
    pub licensed: u64,
    pub other: u64,
}

impl Budgets {
    /// The budget of `zone`.
    pub fn of(&self, zone: Zone) -> u64 {
        match zone {
            Zone::Licensed => self.licensed,
            Zone::Other => self.other,
        }
    }
}

/// Reads a counter without changing it. An increment by 0 (not a `get`), so a store that keeps
/// counters in its own encoding is read correctly.
pub fn counter<C: Cache>(cache: &C, key: &str) -> Result<u64, CacheError> {
    Ok(cache.increment(key, 0)?.max(0) as u64)
}

/// Where a fill may store chunks: the zone, its budget, and the object version they belong to.
#[derive(Debug, Clone)]
pub struct Admit {
    pub zone: Zone,
    pub budget: u64,
    pub held: String,
}

impl Admit {
    /// Storage of `item`/`version` in `zone` under `budget`.
    pub fn new(zone: Zone, budget: u64, item: &ItemId, version: u32) -> Self {
        Self {
            zone,
            budget,
            held: held_key(item, version),
        }
    }

    /// Storage of `info`'s object in the licensed zone with a budget nothing reaches: for tests.
    #[cfg(test)]
    pub fn unbounded(info: &protocol::ObjectInfo) -> Self {
        Self::new(Zone::Licensed, i64::MAX as u64, &info.item, info.version)
    }

    /// Reserves `bytes` in the zone. `false` (and nothing reserved) if the zone would go over
    /// its budget or the store cannot count.
    pub fn reserve<C: Cache>(&self, cache: &C, bytes: u64) -> bool {
        let key = used_key(self.zone);
        match cache.increment(&key, bytes as i64) {
            Ok(used) if used as u64 <= self.budget => true,
            Ok(_) => {
                release(cache, &key, bytes);
                false
            }
            Err(e) => {
                crate::log(format_args!("reserving {bytes} bytes in {key}: {e}"));
                false
            }
        }
    }

    /// Gives back a reservation whose write failed.
    pub fn cancel<C: Cache>(&self, cache: &C, bytes: u64) {
        release(cache, &used_key(self.zone), bytes);
    }

    /// Accounts a stored chunk to its object version.
    pub fn stored<C: Cache>(&self, cache: &C, bytes: u64) {
        if let Err(e) = cache.increment(&self.held, bytes as i64) {
            crate::log(format_args!("counting {}: {e}", self.held));
        }
    }

    /// A stored chunk of this object version was deleted (found changed at rest).
    pub fn dropped<C: Cache>(&self, cache: &C, bytes: u64) {
        self.cancel(cache, bytes);
        release(cache, &self.held, bytes);
    }
}

/// Subtracts `bytes` from counter `key`, logging a failure.
pub fn release<C: Cache>(cache: &C, key: &str, bytes: u64) {
    if let Err(e) = cache.increment(key, -(bytes as i64)) {
        crate::log(format_args!("releasing {bytes} bytes of {key}: {e}"));
    }
}

/// One download session's start, as the request path records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Access {
    /// Its sequence number (the slot may have been reused since).
    pub seq: u64,
    pub zone: Zone,
    pub item: ItemId,
    pub version: u32,
    /// The object's length.
    pub bytes: u64,
    /// Its layout, to enumerate its chunks when deleting them.
    pub chunk_size: u32,
    pub plaintext_len: u64,
    /// Unix second.
    pub at: u64,
}

/// Records the start of a download of `object` in `zone`; failures are logged and otherwise
/// ignored (the policy then misses one access).
pub fn record_access<C: Cache>(cache: &C, zone: Zone, object: &ObjectInfo, now: u64) {
    let item = &object.item;
    let seq = match cache.increment(ACCESS_SEQ_KEY, 1) {
        Ok(seq) => seq.max(0) as u64,
        Err(e) => return crate::log(format_args!("recording an access of {item}: {e}")),
    };
    let access = Access {
        seq,
        zone,
        item: item.clone(),
        version: object.version,
        bytes: object.object_len,
        chunk_size: object.chunk_size,
        plaintext_len: object.plaintext_len,
        at: now,
    };
    let value = serde_json::to_vec(&access).expect("plain struct serializes");
    if let Err(e) = cache.set(&access_key(seq), &value) {
        crate::log(format_args!("recording an access of {item}: {e}"));
    }
}

/// The accesses recorded after `after` up to the current sequence number, oldest first, and how
/// many were lost (overwritten before they were read).
pub fn accesses_since<C: Cache>(cache: &C, after: u64) -> Result<(Vec<Access>, u64), CacheError> {
    let last = counter(cache, ACCESS_SEQ_KEY)?;
    if last <= after {
        // The counter went back (store wiped): start over.
        return Ok((Vec::new(), 0));
    }
    let first = (after + 1).max(last.saturating_sub(ACCESS_SLOTS - 1));
    let mut lost = first - (after + 1);
    let mut found = Vec::new();
    for seq in first..=last {
        let access = cache
            .get(&access_key(seq))?
            .and_then(|v| serde_json::from_slice::<Access>(&v).ok())
            .filter(|a| a.seq == seq);
        match access {
            Some(a) => found.push(a),
            // Overwritten by a later lap, or its write failed.
            None => lost += 1,
        }
    }
    Ok((found, lost))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::MemoryCache;

    fn film() -> ItemId {
        ItemId::parse("film").unwrap()
    }

    fn object(version: u32) -> ObjectInfo {
        ObjectInfo {
            item: film(),
            version,
            object_len: 100,
            chunk_size: 4096,
            plaintext_len: 50,
            root: String::new(),
        }
    }

    #[test]
    fn reservations_never_pass_the_budget() {
        let cache = MemoryCache::default();
        let admit = Admit::new(Zone::Licensed, 10, &film(), 1);
        assert!(admit.reserve(&cache, 6));
        assert!(!admit.reserve(&cache, 6), "6 + 6 > 10");
        assert_eq!(counter(&cache, &used_key(Zone::Licensed)).unwrap(), 6);
        assert!(admit.reserve(&cache, 4));
        admit.stored(&cache, 4);
        admit.dropped(&cache, 4);
        assert_eq!(counter(&cache, &used_key(Zone::Licensed)).unwrap(), 6);
        assert_eq!(counter(&cache, &held_key(&film(), 1)).unwrap(), 0);
        assert_eq!(counter(&cache, &used_key(Zone::Other)).unwrap(), 0);
    }

    #[test]
    fn accesses_are_read_back_in_order_and_losses_counted() {
        let cache = MemoryCache::default();
        for at in 0..3 {
            record_access(&cache, Zone::Licensed, &object(2), at);
        }
        let (found, lost) = accesses_since(&cache, 0).unwrap();
        assert_eq!(found.iter().map(|a| a.seq).collect::<Vec<_>>(), [1, 2, 3]);
        assert_eq!((found[2].at, found[2].version, lost), (2, 2, 0));
        assert_eq!(accesses_since(&cache, 3).unwrap(), (Vec::new(), 0));

        // More than a lap since the last read: the overwritten ones are counted as lost.
        for at in 0..ACCESS_SLOTS + 5 {
            record_access(&cache, Zone::Other, &object(1), at);
        }
        let (found, lost) = accesses_since(&cache, 3).unwrap();
        assert_eq!(found.len() as u64, ACCESS_SLOTS);
        assert_eq!(lost, 5);
        assert_eq!(found.last().unwrap().seq, ACCESS_SLOTS + 8);
    }

    #[test]
    fn keys_follow_the_documented_layout() {
        assert_eq!(used_key(Zone::Licensed), "zone/licensed/used");
        assert_eq!(held_key(&film(), 3), "held/film/v3");
        assert_eq!(policy_key(Zone::Other), "policy/other");
        assert_eq!(access_key(ACCESS_SLOTS + 1), "access/1");
    }
}
