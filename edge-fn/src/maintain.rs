//! The maintenance call: eviction, pins and purges, off the request path.
//!
//! `POST /v1/internal/maintain` (signed like every internal call) runs this, then prefill. The
//! edge-host ticker calls it every few seconds; on Spin a scheduler does (`infra/spin.toml`).
//! One call, per zone:
//!
//! 1. loads the zone's state (one key-value entry: the eviction [`Policy`], the chunk layout of
//!    the items it knows, deletions under way, recent evictions) and applies the budget from the
//!    configuration;
//! 2. feeds the policy the downloads started since the last call ([`crate::zone`]'s access
//!    slots) — an item the policy does not admit is deleted again;
//! 3. follows the verified manifest: pins what it pins to this edge (refusing, with a logged
//!    reason, pins beyond the budget), unpins what it no longer pins, and purges every version
//!    the manifest no longer lists and every item no longer allowed in this edge's region;
//! 4. above the high watermark (90 % of the budget, by the store's own byte counter), evicts down
//!    to the low one (80 %) in the policy's order;
//! 5. deletes the chunks of everything evicted or purged, within the call's time, continuing in
//!    the next call where it stopped, and gives their bytes back to the zone's counter.
//!
//! Calls must not overlap (edge-host never overlaps them; a Spin scheduler should call once a
//! minute with a deadline below that, as the state is written back whole).

use std::collections::BTreeMap;

use protocol::sealed::HEADER_LEN;
use protocol::{Header, ItemId, Layout, Manifest};
use serde::{Deserialize, Serialize};

use crate::cache::{
    Cache, CacheError, STAT_EVICTED_BYTES, STAT_EVICTED_ITEMS, chunk_key, complete_key, meta_key,
    stat_key,
};
use crate::policy::{EvictionPolicy, ItemKey, Policy};
use crate::zone::{
    Access, Budgets, Zone, accesses_since, counter, held_key, policy_key, release, used_key,
};

/// Percent of the budget above which a call evicts.
pub const HIGH_WATERMARK_PCT: u64 = 90;
/// Percent of the budget a call evicts down to.
pub const LOW_WATERMARK_PCT: u64 = 80;
/// How long an evicted item is watched for chunks that downloads under way stored after it was
/// evicted (they are deleted again unless a new download re-admitted the item).
pub const STRAGGLER_WATCH_SECS: u64 = 3600;
/// Sequence number of the last access slot applied (shared by the zones).
pub const APPLIED_KEY: &str = "access/applied";
/// Unix second of the last rebuild of the counters.
pub const REBUILT_AT_KEY: &str = "zone/rebuilt_at";
/// A call rebuilds the counters unasked when the last rebuild is older than this.
pub const REBUILD_EVERY_SECS: u64 = 24 * 3600;

/// The policy key of an object version: `{item}/v{version}`.
pub fn item_key(item: &ItemId, version: u32) -> ItemKey {
    ItemKey::new(format!("{item}/v{version}"))
}

/// Item and version of a policy key.
pub fn parse_item_key(key: &ItemKey) -> Option<(ItemId, u32)> {
    let (item, version) = key.0.rsplit_once("/v")?;
    Some((ItemId::parse(item).ok()?, version.parse().ok()?))
}

/// A zone's state, stored whole under [`policy_key`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ZoneState {
    pub policy: Policy,
    /// Chunk size and plaintext length of the object versions the zone knows, to enumerate
    /// their chunks when deleting them.
    #[serde(default)]
    pub layouts: BTreeMap<ItemKey, (u32, u64)>,
    /// Object versions whose chunks are being deleted, with the next chunk index to delete.
    #[serde(default)]
    pub deleting: BTreeMap<ItemKey, u64>,
    /// Object versions evicted recently, with the unix second.
    #[serde(default)]
    pub evicted: BTreeMap<ItemKey, u64>,
}

impl ZoneState {
    /// A new zone with the shipped policy.
    pub fn new(budget: u64) -> Self {
        Self {
            policy: Policy::shipped(budget),
            layouts: BTreeMap::new(),
            deleting: BTreeMap::new(),
            evicted: BTreeMap::new(),
        }
    }

    /// The stored state of `zone`, or a new one if none (or an unreadable one) is stored.
    pub fn load<C: Cache>(cache: &C, zone: Zone, budget: u64) -> Result<Self, CacheError> {
        let key = policy_key(zone);
        let Some(bytes) = cache.get(&key)? else {
            return Ok(Self::new(budget));
        };
        match serde_json::from_slice::<Self>(&bytes) {
            Ok(mut state) => {
                if state.policy.budget() != budget {
                    state.policy.set_budget(budget);
                }
                Ok(state)
            }
            Err(e) => {
                crate::log(format_args!("{key} is unreadable ({e}); starting afresh"));
                Ok(Self::new(budget))
            }
        }
    }

    /// Writes the state back.
    pub fn save<C: Cache>(&self, cache: &C, zone: Zone) -> Result<(), CacheError> {
        let bytes = serde_json::to_vec(self).expect("plain data serializes");
        cache.set(&policy_key(zone), &bytes)
    }

    /// Queues `victims` for deletion, remembering when they were evicted.
    fn evict(&mut self, victims: impl IntoIterator<Item = ItemKey>, now: u64) {
        for v in victims {
            self.evicted.insert(v.clone(), now);
            self.deleting.entry(v).or_insert(0);
        }
    }

    fn layout_of<C: Cache>(&self, cache: &C, key: &ItemKey) -> Option<Layout> {
        if let Some(&(chunk_size, plaintext_len)) = self.layouts.get(key) {
            return Some(Layout::new(chunk_size, plaintext_len));
        }
        // Not seen through an access (a pin): the stored header says.
        let (item, version) = parse_item_key(key)?;
        let meta = cache.get(&meta_key(&item, version)).ok()??;
        Some(Header::decode(meta.get(..HEADER_LEN)?).ok()?.layout())
    }
}

/// What one call did to one zone.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZoneReport {
    pub zone: String,
    pub budget: u64,
    /// Bytes of chunks in the store after the call (the zone's counter).
    pub used: u64,
    /// Bytes the policy accounts to resident items (whole objects).
    pub accounted: u64,
    pub pinned: u64,
    pub resident: usize,
    pub accesses: usize,
    /// Accesses overwritten before this call read them.
    pub lost_accesses: u64,
    pub evicted: Vec<String>,
    pub purged: Vec<String>,
    pub refused_pins: Vec<String>,
    /// Object versions whose chunks are still being deleted.
    pub deleting: usize,
    pub freed_bytes: u64,
}

/// What a rebuild of the counters found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RebuildReport {
    /// Chunks in the store.
    pub chunks: u64,
    /// Their bytes: the zone's counter now.
    pub bytes: u64,
    /// What the counter said before (it drifts up when a process dies between reserving and
    /// writing a chunk).
    pub counted_before: u64,
    /// Chunks deleted because nothing describes them (their meta was gone: a deletion cut short).
    pub orphan_chunks: u64,
    /// Leases past their expiry, deleted.
    pub stale_leases: u64,
}

/// What one call did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MaintainReport {
    pub zones: Vec<ZoneReport>,
    /// Present when the call rebuilt the counters from the store's keys.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rebuild: Option<RebuildReport>,
}

/// An object version the rebuild found chunks of.
#[derive(Debug, Clone)]
struct Found {
    key: ItemKey,
    layout: (u32, u64),
    object_len: u64,
}

/// How a call is bounded and where it runs.
pub struct Context<'a> {
    pub now: u64,
    pub region: &'a str,
    pub budgets: Budgets,
    /// True once the call must stop deleting.
    pub out_of_time: &'a dyn Fn() -> bool,
}

impl std::fmt::Debug for Context<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("now", &self.now)
            .field("region", &self.region)
            .field("budgets", &self.budgets)
            .finish_non_exhaustive()
    }
}

/// Runs the maintenance of every zone; `manifest` is the last verified one (none yet: no pins,
/// no purges). With `rebuild` (edge-host asks at its first call after starting, as a crash may
/// have left the counters high), or when the last rebuild is a day old, the counters are first
/// recounted from the store's keys.
pub fn run<C: Cache>(
    cache: &C,
    manifest: Option<&Manifest>,
    cx: &Context<'_>,
    rebuild: bool,
) -> Result<MaintainReport, CacheError> {
    let last_rebuild = counter(cache, REBUILT_AT_KEY)?;
    let mut found = Vec::new();
    let rebuild = if rebuild || cx.now.saturating_sub(last_rebuild) >= REBUILD_EVERY_SECS {
        let (report, items) = recount(cache, cx.now)?;
        cache.increment(REBUILT_AT_KEY, cx.now as i64 - last_rebuild as i64)?;
        found = items;
        Some(report)
    } else {
        None
    };
    let applied = counter(cache, APPLIED_KEY)?;
    let (accesses, lost) = accesses_since(cache, applied)?;
    let mut zones = Vec::new();
    for zone in Zone::ALL {
        let mine: Vec<&Access> = accesses.iter().filter(|a| a.zone == zone).collect();
        let found: &[Found] = if zone == Zone::Licensed { &found } else { &[] };
        zones.push(run_zone(cache, zone, &mine, lost, found, manifest, cx)?);
    }
    if let Some(last) = accesses.last() {
        cache.increment(APPLIED_KEY, last.seq as i64 - applied as i64)?;
    }
    Ok(MaintainReport { zones, rebuild })
}

/// Sets counter `key` to `value` (by increment, so a store with its own counter encoding works).
fn set_counter<C: Cache>(cache: &C, key: &str, value: u64) -> Result<u64, CacheError> {
    let current = counter(cache, key)?;
    cache.increment(key, value as i64 - current as i64)?;
    Ok(current)
}

/// Recounts the licensed zone's bytes and every object version's from the chunks in the store,
/// deletes chunks nothing describes any more and leases past their expiry.
fn recount<C: Cache>(cache: &C, now: u64) -> Result<(RebuildReport, Vec<Found>), CacheError> {
    let mut report = RebuildReport::default();
    let mut chunks: BTreeMap<(ItemId, u32), Vec<(u64, String)>> = BTreeMap::new();
    for key in cache.list()? {
        if let Some(rest) = key.strip_prefix("chunk/") {
            let parsed = rest.rsplit_once('/').and_then(|(object, index)| {
                let (item, version) = parse_item_key(&ItemKey::new(object))?;
                Some((item, version, index.parse::<u64>().ok()?))
            });
            if let Some((item, version, index)) = parsed {
                chunks
                    .entry((item, version))
                    .or_default()
                    .push((index, key));
            }
        } else if key.starts_with("lease/")
            && key != crate::lease::HOLDER_SEQ_KEY
            && crate::lease::lapsed(cache.get(&key)?.as_deref(), now * 1000)
        {
            cache.delete(&key)?;
            report.stale_leases += 1;
        }
    }
    let mut found = Vec::new();
    for ((item, version), indices) in chunks {
        let layout = cache
            .get(&meta_key(&item, version))?
            .and_then(|m| Some(Header::decode(m.get(..HEADER_LEN)?).ok()?.layout()));
        let mut bytes = 0;
        for (index, key) in indices {
            match layout {
                Some(l) if index < l.chunk_count() => {
                    let r = l.sealed_chunk_range(index);
                    bytes += r.end - r.start;
                    report.chunks += 1;
                }
                _ => {
                    cache.delete(&key)?;
                    report.orphan_chunks += 1;
                }
            }
        }
        set_counter(cache, &held_key(&item, version), bytes)?;
        report.bytes += bytes;
        if let Some(l) = layout.filter(|_| bytes > 0) {
            found.push(Found {
                key: item_key(&item, version),
                layout: (l.chunk_size() as u32, l.plaintext_len()),
                object_len: l.object_len(),
            });
        }
    }
    report.counted_before = set_counter(cache, &used_key(Zone::Licensed), report.bytes)?;
    if report.counted_before != report.bytes || report.orphan_chunks > 0 {
        crate::log(format_args!(
            "maintenance: rebuilt the counters: {} bytes in {} chunks (counted {}), {} orphan \
             chunks deleted",
            report.bytes, report.chunks, report.counted_before, report.orphan_chunks
        ));
    }
    Ok((report, found))
}

fn run_zone<C: Cache>(
    cache: &C,
    zone: Zone,
    accesses: &[&Access],
    lost: u64,
    found: &[Found],
    manifest: Option<&Manifest>,
    cx: &Context<'_>,
) -> Result<ZoneReport, CacheError> {
    let budget = cx.budgets.of(zone);
    let mut state = ZoneState::load(cache, zone, budget)?;
    let mut report = ZoneReport {
        zone: zone.name().into(),
        budget,
        accesses: accesses.len(),
        lost_accesses: lost,
        ..ZoneReport::default()
    };
    if lost > 0 {
        crate::log(format_args!(
            "maintenance: {lost} download starts were overwritten before they were read; \
             call maintenance more often"
        ));
    }

    // Items the rebuild found in the store that the policy does not know (its state was lost,
    // or written back before a crash): one access each, so they are kept or evicted like any.
    for f in found {
        if state.policy.contains(&f.key) || state.deleting.contains_key(&f.key) {
            continue;
        }
        state.layouts.insert(f.key.clone(), f.layout);
        let victims = state.policy.record(&f.key, f.object_len, cx.now);
        state.evict(victims, cx.now);
    }

    // 2. Downloads started since the last call.
    for a in accesses {
        let key = item_key(&a.item, a.version);
        state
            .layouts
            .insert(key.clone(), (a.chunk_size, a.plaintext_len));
        state.evicted.remove(&key);
        state.deleting.remove(&key);
        let victims = state.policy.record(&key, a.bytes, a.at);
        state.evict(victims, cx.now);
    }

    // 3. The manifest: purges, pins, unpins.
    if let Some(manifest) = manifest.filter(|_| zone == Zone::Licensed) {
        let listed: BTreeMap<&ItemId, &protocol::ManifestItem> =
            manifest.items.iter().map(|i| (&i.id, i)).collect();
        for key in state.policy.resident() {
            let Some((item, version)) = parse_item_key(&key) else {
                continue;
            };
            let keep = listed.get(&item).is_some_and(|m| {
                m.version == version
                    && (m.regions.is_empty() || m.regions.iter().any(|r| r == cx.region))
            });
            if !keep {
                state.policy.remove(&key);
                state.evict([key.clone()], cx.now);
                report.purged.push(key.0);
            }
        }
        for m in &manifest.items {
            let key = item_key(&m.id, m.version);
            if m.pinned_for(cx.region, &[]) {
                if state.policy.is_pinned(&key) {
                    continue;
                }
                match state.policy.pin(key.clone(), m.object_len, cx.now) {
                    Ok(victims) => {
                        state.evicted.remove(&key);
                        state.deleting.remove(&key);
                        state.evict(victims, cx.now);
                    }
                    Err(e) => {
                        crate::log(format_args!("maintenance: pin refused: {e}"));
                        report.refused_pins.push(key.0);
                    }
                }
            } else if state.policy.unpin(&key) {
                crate::log(format_args!("maintenance: {key} is no longer pinned"));
            }
        }
    }

    // 4. Watermarks, by the store's own count (the policy counts whole objects; a partly
    // downloaded one holds less).
    let used = counter(cache, &used_key(zone))?;
    let high = budget / 100 * HIGH_WATERMARK_PCT;
    let low = budget / 100 * LOW_WATERMARK_PCT;
    if used > high {
        let target = state.policy.used().saturating_sub(used - low);
        let victims = state.policy.victims(target);
        state.evict(victims, cx.now);
    }
    for key in state.deleting.keys() {
        if !report.purged.contains(&key.0) && !state.policy.contains(key) {
            report.evicted.push(key.0.clone());
        }
    }

    // Downloads under way when their item was evicted may have stored chunks since.
    state
        .evicted
        .retain(|_, at| cx.now.saturating_sub(*at) < STRAGGLER_WATCH_SECS);
    let stragglers: Vec<ItemKey> = state
        .evicted
        .keys()
        .filter(|k| !state.deleting.contains_key(*k) && !state.policy.contains(k))
        .filter(|k| {
            parse_item_key(k)
                .is_some_and(|(item, v)| counter(cache, &held_key(&item, v)).unwrap_or(0) > 0)
        })
        .cloned()
        .collect();
    for key in stragglers {
        state.deleting.insert(key, 0);
    }

    // 5. Deletions, as far as time allows.
    let mut completed = 0i64;
    let queued: Vec<(ItemKey, u64)> = state
        .deleting
        .iter()
        .map(|(k, n)| (k.clone(), *n))
        .collect();
    for (key, from) in queued {
        if state.policy.contains(&key) {
            // Re-admitted or re-pinned meanwhile: keep what is left.
            state.deleting.remove(&key);
            continue;
        }
        let (next, freed) = delete_item(cache, zone, &state, &key, from, cx.out_of_time);
        report.freed_bytes += freed;
        match next {
            Some(next) => {
                state.deleting.insert(key, next);
                break;
            }
            None => {
                state.deleting.remove(&key);
                completed += 1;
            }
        }
    }
    state.layouts.retain(|k, _| {
        state.policy.contains(k) || state.deleting.contains_key(k) || state.evicted.contains_key(k)
    });

    // For the host's metrics.
    set_counter(cache, &stat_key(&format!("budget_{zone}")), budget)?;
    if completed > 0 {
        cache.increment(&stat_key(STAT_EVICTED_ITEMS), completed)?;
    }
    if report.freed_bytes > 0 {
        cache.increment(&stat_key(STAT_EVICTED_BYTES), report.freed_bytes as i64)?;
    }
    report.used = counter(cache, &used_key(zone))?;
    report.accounted = state.policy.used();
    report.pinned = state.policy.pinned();
    report.resident = state.policy.resident().len();
    report.deleting = state.deleting.len();
    state.save(cache, zone)?;
    Ok(report)
}

/// Deletes the chunks of `key` from chunk `from` on; returns where it stopped (`None`: done) and
/// the bytes freed. Meta and the complete marker go first, so nothing treats the object as
/// complete while its chunks are going.
fn delete_item<C: Cache>(
    cache: &C,
    zone: Zone,
    state: &ZoneState,
    key: &ItemKey,
    from: u64,
    out_of_time: &dyn Fn() -> bool,
) -> (Option<u64>, u64) {
    let Some((item, version)) = parse_item_key(key) else {
        return (None, 0);
    };
    let layout = state.layout_of(cache, key);
    for k in [complete_key(&item, version), meta_key(&item, version)] {
        if let Err(e) = cache.delete(&k) {
            crate::log(format_args!("maintenance: deleting {k}: {e}"));
        }
    }
    let held = held_key(&item, version);
    let Some(layout) = layout else {
        if counter(cache, &held).unwrap_or(0) > 0 {
            crate::log(format_args!(
                "maintenance: cannot enumerate the chunks of {key} (no layout known); \
                 the next rebuild will find them"
            ));
        }
        return (None, 0);
    };
    let mut freed = 0;
    let mut next = None;
    for index in from..layout.chunk_count() {
        if out_of_time() {
            next = Some(index);
            break;
        }
        let k = chunk_key(&item, version, index);
        match cache.exists(&k) {
            Ok(true) => match cache.delete(&k) {
                Ok(()) => {
                    let r = layout.sealed_chunk_range(index);
                    freed += r.end - r.start;
                }
                Err(e) => crate::log(format_args!("maintenance: deleting {k}: {e}")),
            },
            Ok(false) => {}
            Err(e) => crate::log(format_args!("maintenance: checking {k}: {e}")),
        }
    }
    if freed > 0 {
        release(cache, &used_key(zone), freed);
        release(cache, &held, freed);
    }
    (next, freed)
}

#[cfg(test)]
#[path = "maintain_tests.rs"]
mod tests;
