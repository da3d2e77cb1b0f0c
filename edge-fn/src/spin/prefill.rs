//! `POST /v1/internal/prefill`: verify main's manifest, then fill what it pins to this region.

use std::time::{Duration, Instant};

use spin_sdk::http::ResponseOutparam;

use super::io::{KvCache, SpinOrigin, send_error, send_reply};
use super::main_client::{MainClient, config, jwks_for, manifest_answer, now};
use crate::keys::token_kid;
use crate::prefill::{Budget, PrefillReport, run, signed_manifest, verify_manifest};
use crate::reply::{EdgeError, json_reply};

/// Time one call may spend filling, below hosted Spin platforms' 30 s handler limit.
const WORK_TIME: Duration = Duration::from_secs(20);
/// Most chunks one call fetches (256 MiB at the default chunk size).
const MAX_CHUNKS: u64 = 256;

pub async fn serve(out: ResponseOutparam) {
    match prefill(Instant::now()).await {
        Ok(report) => send_reply(out, json_reply(200, &report)).await,
        Err(e) => send_error(out, &e).await,
    }
}

async fn prefill(started: Instant) -> Result<PrefillReport, EdgeError> {
    let config = config()?;
    let cache = KvCache::open()?;
    let signed =
        signed_manifest(&manifest_answer(&config).await?).map_err(EdgeError::MainFailed)?;
    let now = now();
    let jwks = jwks_for(&cache, &config, token_kid(&signed).as_deref(), now).await?;
    let manifest = verify_manifest(&signed, &jwks, now)
        .map_err(|e| EdgeError::MainFailed(format!("manifest refused: {e}")))?;
    let out_of_time = move || started.elapsed() >= WORK_TIME;
    let budget = Budget {
        out_of_time: &out_of_time,
        max_chunks: MAX_CHUNKS,
    };
    let main = MainClient(&config);
    Ok(run(
        &cache,
        &SpinOrigin,
        &main,
        &manifest,
        &config.edge_region,
        &budget,
    )
    .await)
}
