//! Fill leases: one fill per chunk, however many requests miss it at once.
//!
//! Before a request fetches a missing chunk from a parent it takes the chunk's lease
//! (`lease/{item}/v{version}/{index}`: holder and expiry, set with compare-and-swap). A request
//! that finds the lease held by someone else does not fetch: it waits for the chunk to appear in
//! the store (polling every [`POLL_MS`]) and serves it from there, verified like any cached
//! chunk, as soon as the holder has stored it. A lease lapses after [`LEASE_MS`], so a holder
//! that died (a crash, a killed instance) delays the others by that much at most, and a holder
//! that gives up (its client left, the zone is full) releases its leases at once. A holder whose
//! client reads slowly does not slow the others: its fill runs at the parents' pace and its
//! client catches up from the store ([`crate::serve::pump`]).

use crate::cache::{Cache, CacheError};
use protocol::ItemId;

/// How long a lease holds without its chunk being stored: the outbound idle timeout, past
/// which the holder's own fetch would have failed.
pub const LEASE_MS: u64 = 15_000;
/// How often a waiting request looks for the chunk.
pub const POLL_MS: u64 = 2;

/// Where every lease key starts (edge-host keeps these keys in memory only).
pub const LEASE_PREFIX: &str = "lease/";

/// The lease of one chunk.
pub fn lease_key(item: &ItemId, version: u32, index: u64) -> String {
    format!("{LEASE_PREFIX}{item}/v{version}/{index}")
}

/// Counter that makes holder names unique.
pub const HOLDER_SEQ_KEY: &str = "lease/holders";

/// Time, and waiting: the system clock on the edge, a scripted one in tests.
pub trait Clock {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> u64;
    /// Waits `ms` milliseconds.
    fn sleep_ms(&self, ms: u64);
}

/// The platform's clock (`wasi:clocks` on the edge).
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64)
    }

    fn sleep_ms(&self, ms: u64) {
        std::thread::sleep(std::time::Duration::from_millis(ms));
    }
}

/// A lease's stored value: `{holder} {expires_ms}`.
fn value(holder: &str, expires_ms: u64) -> Vec<u8> {
    format!("{holder} {expires_ms}").into_bytes()
}

/// Holder and expiry of a stored lease (`None` if unreadable, which counts as lapsed).
fn parse(value: &[u8]) -> Option<(&str, u64)> {
    let text = std::str::from_utf8(value).ok()?;
    let (holder, expires) = text.rsplit_once(' ')?;
    Some((holder, expires.parse().ok()?))
}

/// Whether a stored lease value has lapsed at `now_ms` (an unreadable one has).
pub fn lapsed(value: Option<&[u8]>, now_ms: u64) -> bool {
    value
        .and_then(parse)
        .is_none_or(|(_, expires)| expires <= now_ms)
}

/// What [`Leases::take`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Taken {
    /// The lease is ours: fetch the chunk.
    Ours,
    /// Someone else holds it until this time (ms).
    HeldUntil(u64),
}

/// The leases one request takes, released when it is dropped.
pub struct Leases<'a> {
    cache: &'a dyn Cache,
    clock: &'a dyn Clock,
    holder: String,
    item: ItemId,
    version: u32,
    /// Chunks whose lease this request holds.
    held: Vec<u64>,
}

impl std::fmt::Debug for Leases<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Leases")
            .field("holder", &self.holder)
            .field("held", &self.held)
            .finish_non_exhaustive()
    }
}

impl<'a> Leases<'a> {
    /// Leases on chunks of `item`/`version`, held under a name unique to this request. The name
    /// is drawn at the first [`Leases::take`], so a request served from the cache writes nothing.
    pub fn new(cache: &'a dyn Cache, clock: &'a dyn Clock, item: &ItemId, version: u32) -> Self {
        Self {
            cache,
            clock,
            holder: String::new(),
            item: item.clone(),
            version,
            held: Vec::new(),
        }
    }

    /// This request's holder name, drawn on first use.
    fn holder(&mut self) -> &str {
        if self.holder.is_empty() {
            let seq = self.cache.increment(HOLDER_SEQ_KEY, 1).unwrap_or(0);
            self.holder = format!("{}-{seq}", self.clock.now_ms());
        }
        &self.holder
    }

    /// The clock the leases run on.
    pub fn clock(&self) -> &dyn Clock {
        self.clock
    }

    /// Takes the lease of chunk `index` unless another live holder has it.
    pub fn take(&mut self, index: u64) -> Result<Taken, CacheError> {
        let key = lease_key(&self.item, self.version, index);
        self.holder();
        let now = self.clock.now_ms();
        let current = self.cache.get(&key)?;
        if let Some((holder, expires)) = current.as_deref().and_then(parse)
            && holder != self.holder
            && expires > now
        {
            return Ok(Taken::HeldUntil(expires));
        }
        let mine = value(&self.holder, now + LEASE_MS);
        if self
            .cache
            .compare_and_swap(&key, current.as_deref(), &mine)?
        {
            if !self.held.contains(&index) {
                self.held.push(index);
            }
            return Ok(Taken::Ours);
        }
        // Someone took it between the read and the swap.
        let expires = self
            .cache
            .get(&key)?
            .as_deref()
            .and_then(|v| parse(v).map(|(_, e)| e))
            .unwrap_or(now);
        Ok(Taken::HeldUntil(expires))
    }

    /// Releases the lease of chunk `index` (stored, or given up).
    pub fn release(&mut self, index: u64) {
        if let Some(at) = self.held.iter().position(|&i| i == index) {
            self.held.swap_remove(at);
            let key = lease_key(&self.item, self.version, index);
            if let Err(e) = self.cache.delete(&key) {
                crate::log(format_args!("releasing {key}: {e}"));
            }
        }
    }

    /// Whether this request holds the lease of chunk `index`.
    pub fn holds(&self, index: u64) -> bool {
        self.held.contains(&index)
    }
}

impl Drop for Leases<'_> {
    fn drop(&mut self) {
        for index in std::mem::take(&mut self.held) {
            let key = lease_key(&self.item, self.version, index);
            if let Err(e) = self.cache.delete(&key) {
                crate::log(format_args!("releasing {key}: {e}"));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::MemoryCache;
    use crate::testing::FakeClock;

    #[test]
    fn one_holder_at_a_time_until_release_or_expiry() {
        let cache = MemoryCache::default();
        let clock = FakeClock::default();
        let film = ItemId::parse("film").unwrap();
        let mut a = Leases::new(&cache, &clock, &film, 1);
        let mut b = Leases::new(&cache, &clock, &film, 1);
        assert_eq!(a.take(0).unwrap(), Taken::Ours);
        assert_eq!(a.take(0).unwrap(), Taken::Ours, "taking again renews");
        assert_eq!(b.take(0).unwrap(), Taken::HeldUntil(LEASE_MS));
        a.release(0);
        assert_eq!(b.take(0).unwrap(), Taken::Ours);
        // b dies without releasing: the lease lapses.
        std::mem::forget(b);
        assert!(matches!(a.take(0).unwrap(), Taken::HeldUntil(_)));
        clock.sleep_ms(LEASE_MS);
        assert_eq!(a.take(0).unwrap(), Taken::Ours);
        assert!(a.holds(0));
        drop(a);
        assert!(cache.keys().iter().all(|k| !k.starts_with("lease/film")));
    }
}
