//! The `watch` loop: replication rounds every interval and scrub rounds every scrub interval, side
//! by side, so a long scrub never delays copying a new item and a copy that looks present (same
//! ETag) is still read and verified on a schedule.

use std::future::Future;
use std::time::Duration;

use crate::replicate::{ReplicateOptions, replicate_with};
use crate::scrub::{ScrubOptions, scrub_every};
use crate::store::ParentStore;

/// What `watch` does and how often.
#[derive(Debug, Clone, Copy)]
pub struct WatchOptions {
    /// Pause between replication rounds.
    pub interval: Duration,
    pub replicate: ReplicateOptions,
    /// Pause between scrub rounds (the first runs after the first replication round).
    pub scrub_interval: Duration,
    pub scrub: ScrubOptions,
}

/// Replicates every `options.interval` and scrubs every `options.scrub_interval` until
/// `shutdown` completes. Shutdown interrupts rounds in progress: nothing half-copied becomes
/// visible (a multipart upload left open is cleaned up by the bucket's lifecycle rule), and the
/// next start copies what is still missing.
pub async fn watch(
    primary: &ParentStore,
    secondaries: &[ParentStore],
    options: &WatchOptions,
    shutdown: impl Future<Output = ()>,
) {
    let work = async {
        replication_round(primary, secondaries, options.replicate).await;
        tokio::join!(
            async {
                loop {
                    tokio::time::sleep(options.interval).await;
                    replication_round(primary, secondaries, options.replicate).await;
                }
            },
            scrub_every(primary, secondaries, &options.scrub, options.scrub_interval),
        );
    };
    tokio::select! {
        () = work => {}
        () = shutdown => {}
    }
}

async fn replication_round(
    primary: &ParentStore,
    secondaries: &[ParentStore],
    options: ReplicateOptions,
) {
    match replicate_with(primary, secondaries, options).await {
        Ok(report) => tracing::info!(%report, "replication round done"),
        Err(e) => tracing::error!(error = %e, "replication round failed: cannot list the primary"),
    }
}
