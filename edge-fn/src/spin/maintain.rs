//! `POST /v1/internal/maintain` (also reachable as `/v1/internal/prefill`): verify main's
//! manifest, keep every cache zone within its budget ([`crate::maintain`]), then fill the pins
//! that were accepted ([`crate::prefill`]).

use std::time::{Duration, Instant};

use protocol::{Manifest, ManifestItem};
use serde::Serialize;
use spin_sdk::http::ResponseOutparam;

use super::io::{KvCache, SpinOrigin, send_error, send_reply};
use super::main_client::{MainClient, config, jwks_for, manifest_answer, now};
use crate::cache::MANIFEST_KEY;
use crate::config::EdgeConfig;
use crate::fill::{cache_get, cache_set};
use crate::keys::token_kid;
use crate::lease::{Clock, SystemClock};
use crate::maintain::{Context, RebuildReport, ZoneReport, item_key, run as maintain_zones};
use crate::prefill::{Budget, PrefillReport, run as prefill, signed_manifest, verify_manifest};
use crate::reply::{EdgeError, json_reply};

/// Time deletions may take in one call.
const DELETE_TIME: Duration = Duration::from_secs(8);
/// Time one call may spend in all, below hosted Spin platforms' 30 s handler limit.
const WORK_TIME: Duration = Duration::from_secs(20);
/// Most chunks one call fetches (256 MiB at the default chunk size).
const MAX_CHUNKS: u64 = 256;

/// The answer of a maintenance call.
#[derive(Debug, Serialize)]
struct Report {
    zones: Vec<ZoneReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rebuild: Option<RebuildReport>,
    /// Absent when main's manifest could not be had (then the last verified one was used for
    /// pins and purges, and nothing was prefilled) or outside the prefill window.
    prefill: Option<PrefillReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    manifest_error: Option<String>,
}

/// Answers the call; `rebuild` (query `rebuild=1`) recounts the cache's counters first.
pub async fn serve(out: ResponseOutparam, rebuild: bool) {
    match maintain(Instant::now(), rebuild).await {
        Ok(report) => send_reply(out, json_reply(200, &report)).await,
        Err(e) => send_error(out, &e).await,
    }
}

async fn maintain(started: Instant, rebuild: bool) -> Result<Report, EdgeError> {
    let config = config()?;
    let cache = KvCache::open()?;
    let now = now();
    let (manifest, manifest_error) = match fresh_manifest(&config, &cache, now).await {
        Ok(manifest) => {
            let bytes = serde_json::to_vec(&manifest).expect("manifest serializes");
            cache_set(&cache, MANIFEST_KEY, &bytes);
            (Some(manifest), None)
        }
        Err(e) => {
            crate::log(format_args!(
                "maintenance: main's manifest: {e}; using the last verified one"
            ));
            let stored = cache_get(&cache, MANIFEST_KEY)
                .and_then(|b| serde_json::from_slice::<Manifest>(&b).ok());
            (stored, Some(e.to_string()))
        }
    };
    let deleting = move || started.elapsed() >= DELETE_TIME;
    let cx = Context {
        now,
        region: &config.edge_region,
        budgets: config.budgets,
        out_of_time: &deleting,
    };
    let done = maintain_zones(&cache, manifest.as_ref(), &cx, rebuild)
        .map_err(|e| EdgeError::Cache(format!("maintenance: {e}")))?;
    let zones = done.zones;
    let in_window = config.prefill_window.is_none_or(|w| w.contains(now));
    let prefill = match (&manifest, &manifest_error) {
        (Some(manifest), None) if in_window => {
            let refused: Vec<&String> = zones.iter().flat_map(|z| &z.refused_pins).collect();
            let accepted = |m: &ManifestItem| !refused.contains(&&item_key(&m.id, m.version).0);
            let out_of_time = move || started.elapsed() >= WORK_TIME;
            let budget = Budget {
                out_of_time: &out_of_time,
                max_chunks: MAX_CHUNKS,
                zone_bytes: config.budgets.licensed,
                accepted: &accepted,
                rate: config.prefill_rate,
                clock: &SystemClock,
                started_ms: SystemClock.now_ms(),
            };
            let main = MainClient(&config);
            Some(
                prefill(
                    &cache,
                    &SpinOrigin {
                        timeouts: config.timeouts,
                    },
                    &main,
                    manifest,
                    &config.edge_region,
                    &budget,
                )
                .await,
            )
        }
        _ => None,
    };
    Ok(Report {
        zones,
        rebuild: done.rebuild,
        prefill,
        manifest_error,
    })
}

/// Main's current manifest, verified against its keys.
async fn fresh_manifest(
    config: &EdgeConfig,
    cache: &KvCache,
    now: u64,
) -> Result<Manifest, EdgeError> {
    let signed = signed_manifest(&manifest_answer(config).await?).map_err(EdgeError::MainFailed)?;
    let jwks = jwks_for(cache, config, token_kid(&signed).as_deref(), now).await?;
    verify_manifest(&signed, &jwks, now)
        .map_err(|e| EdgeError::MainFailed(format!("manifest refused: {e}")))
}
