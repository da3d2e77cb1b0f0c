//! Prefill: keep the items the signed manifest pins to this edge's region filled ahead of demand.
//!
//! Run by the maintenance call (`POST /v1/internal/maintain`, or its older name
//! `POST /v1/internal/prefill`) after eviction, for the pins it accepted; each call does a bounded
//! amount of work (a deadline below Spin's handler limit and a chunk budget, so a new hot release
//! does not make every edge pull from the parents at once) and continues where the cache left off
//! on the next call. An item not allowed in this edge's region is never stored.

use protocol::{FillSources, ItemId, Jwks, Manifest, ManifestItem, ObjectInfo, Verifier};
use serde::{Deserialize, Serialize};

use crate::cache::{Cache, MANIFEST_KEY, complete_key};
use crate::fill::{ChunkFiller, cache_set, load_meta};
use crate::lease::{Clock, SystemClock};
use crate::origin::Origin;
use crate::reply::EdgeError;
use crate::zone::{Admit, Zone};

/// Longest run of chunks fetched with one GET during prefill.
const RUN_MAX: u64 = 16;

/// What one prefill call did, as reported to the host.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrefillReport {
    pub filled_chunks: u64,
    /// Bytes fetched (chunks awaited from a client's fill included).
    pub filled_bytes: u64,
    pub complete_items: Vec<String>,
    pub pending_items: Vec<String>,
}

/// How much one call may do.
pub struct Budget<'a> {
    /// True once the call must stop.
    pub out_of_time: &'a dyn Fn() -> bool,
    /// Most chunks to fetch in this call.
    pub max_chunks: u64,
    /// The licensed zone's byte budget, which stored chunks stay within ([`crate::zone`]).
    pub zone_bytes: u64,
    /// Whether the maintenance call accepted the pin of an item (it refuses pins beyond the
    /// zone's budget); refused ones are not filled.
    pub accepted: &'a dyn Fn(&ManifestItem) -> bool,
    /// Most bytes per second to fetch, paced with `clock` (`None`: as fast as the parents go).
    pub rate: Option<u64>,
    pub clock: &'a dyn Clock,
    /// When the call started, on `clock`.
    pub started_ms: u64,
}

impl std::fmt::Debug for Budget<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Budget")
            .field("max_chunks", &self.max_chunks)
            .field("zone_bytes", &self.zone_bytes)
            .finish_non_exhaustive()
    }
}

/// Main's side of prefill: presigned sources for an item.
#[allow(async_fn_in_trait)]
pub trait FillSourceProvider {
    /// `POST /v1/edge/fill-sources` for `item`.
    async fn fill_sources(&self, item: &ItemId) -> Result<FillSources, EdgeError>;
}

#[derive(Deserialize)]
struct SignedManifest {
    manifest: String,
}

/// The signed manifest inside main's `GET /v1/manifest` answer (`{"manifest": "<signed>"}`).
pub fn signed_manifest(body: &[u8]) -> Result<String, String> {
    serde_json::from_slice::<SignedManifest>(body)
        .map(|s| s.manifest)
        .map_err(|e| format!("manifest answer is not JSON: {e}"))
}

/// Verifies a signed manifest against main's keys; a forged, altered or stale one is refused.
pub fn verify_manifest(signed: &str, jwks: &Jwks, now: u64) -> Result<Manifest, String> {
    let verifier = Verifier::from_jwks(jwks).map_err(|e| e.to_string())?;
    Manifest::verify(&verifier, signed, now).map_err(|e| e.to_string())
}

/// The items an edge in `region` must hold (hot items allowed there).
pub fn pinned<'m>(manifest: &'m Manifest, region: &str) -> Vec<&'m ManifestItem> {
    manifest
        .items
        .iter()
        .filter(|i| i.pinned_for(region, &[]))
        .collect()
}

/// Checks that the object main offers is the one the signed manifest names.
pub fn matches_manifest(item: &ManifestItem, object: &ObjectInfo) -> Result<(), String> {
    let same = object.item == item.id
        && object.version == item.version
        && object.object_len == item.object_len
        && object.root.eq_ignore_ascii_case(&item.root);
    same.then_some(()).ok_or_else(|| {
        format!(
            "fill sources describe {}/v{} root {}, the manifest {}/v{} root {}",
            object.item, object.version, object.root, item.id, item.version, item.root
        )
    })
}

/// Fills the items of `manifest` pinned to `region`, within `budget`.
pub async fn run<C: Cache, O: Origin, M: FillSourceProvider>(
    cache: &C,
    origin: &O,
    main: &M,
    manifest: &Manifest,
    region: &str,
    budget: &Budget<'_>,
) -> PrefillReport {
    cache_set(
        cache,
        MANIFEST_KEY,
        &serde_json::to_vec(manifest).expect("manifest serializes"),
    );
    let mut report = PrefillReport::default();
    for item in pinned(manifest, region) {
        if !(budget.accepted)(item) {
            continue;
        }
        let name = format!("{}/v{}", item.id, item.version);
        let complete = cache
            .exists(&complete_key(&item.id, item.version))
            .unwrap_or(false);
        let done = complete
            || (!(budget.out_of_time)()
                && report.filled_chunks < budget.max_chunks
                && fill_item(cache, origin, main, item, budget, &mut report).await);
        if done {
            report.complete_items.push(name);
        } else {
            report.pending_items.push(name);
        }
    }
    report
}

/// Waits until fetching `filled` bytes since the call started keeps within the rate cap.
fn pace(budget: &Budget<'_>, filled: u64) {
    let Some(rate) = budget.rate.filter(|r| *r > 0) else {
        return;
    };
    let elapsed = budget.clock.now_ms().saturating_sub(budget.started_ms);
    let due = filled.saturating_mul(1000) / rate;
    if due > elapsed {
        budget.clock.sleep_ms(due - elapsed);
    }
}

/// Fills one item as far as the budget allows; true once every chunk is cached.
async fn fill_item<C: Cache, O: Origin, M: FillSourceProvider>(
    cache: &C,
    origin: &O,
    main: &M,
    item: &ManifestItem,
    budget: &Budget<'_>,
    report: &mut PrefillReport,
) -> bool {
    let fill = match main.fill_sources(&item.id).await {
        Ok(fill) => fill,
        Err(e) => {
            crate::log(format_args!("prefill {}: fill sources: {e}", item.id));
            return false;
        }
    };
    if let Err(e) = matches_manifest(item, &fill.object) {
        crate::log(format_args!("prefill {}: refused: {e}", item.id));
        return false;
    }
    let loaded = match load_meta(cache, origin, &fill.object, &fill.sources, true).await {
        Ok(loaded) => loaded,
        Err(e) => {
            crate::log(format_args!("prefill {}: {e}", item.id));
            return false;
        }
    };
    let meta = loaded.meta;
    let count = meta.layout().chunk_count();
    let admit = Admit::new(Zone::Licensed, budget.zone_bytes, &item.id, item.version);
    let mut filler = ChunkFiller::new(
        cache,
        origin,
        &meta,
        &fill.object,
        &fill.sources,
        Some(admit),
    )
    .collapsing(&SystemClock);
    let mut complete = true;
    let mut index = 0;
    while index < count {
        if filler.is_cached(index) {
            index += 1;
            continue;
        }
        if (budget.out_of_time)() || report.filled_chunks + filler.filled() >= budget.max_chunks {
            complete = false;
            break;
        }
        let mut run_end = index + 1;
        while run_end < count && run_end - index < RUN_MAX && !filler.is_cached(run_end) {
            run_end += 1;
        }
        match filler.fill(index, run_end).await {
            Ok(chunk) => report.filled_bytes += chunk.len() as u64,
            Err(e) => {
                crate::log(format_args!("prefill {}: {e}", item.id));
                complete = false;
                break;
            }
        }
        pace(budget, report.filled_bytes);
        index += 1;
    }
    report.filled_chunks += filler.filled();
    if complete {
        cache_set(cache, &complete_key(&item.id, item.version), b"1");
    }
    complete
}

#[cfg(test)]
#[path = "prefill_tests.rs"]
mod tests;
