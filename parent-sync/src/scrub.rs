//! The scrub: read every copy of every sealed item on every parent, verify it chunk by chunk
//! against the digest root in the primary's header, and re-copy a copy that differs from a parent
//! whose copy verified (the primary first, else a secondary). Replication alone never notices a
//! copy whose bytes changed in place: the store's length and ETag still say it is the object it
//! was sent. Reads are paced ([`ScrubOptions::bytes_per_sec`]) so a scrub does not crowd out fills.

use std::fmt;
use std::time::{Duration, Instant};

use async_speed_limit::Limiter;
use async_speed_limit::clock::StandardClock;
use protocol::sealed::Header;

use crate::replicate::{ITEMS_PREFIX, copy_and_verify};
use crate::store::{ParentStore, StoreError};
use crate::verify::{VerifyError, verify_sealed_paced};

/// How fast a scrub reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScrubOptions {
    /// Bytes per second read from all parents together, repairs included.
    pub bytes_per_sec: u64,
}

impl Default for ScrubOptions {
    fn default() -> Self {
        Self {
            bytes_per_sec: 64 << 20,
        }
    }
}

impl ScrubOptions {
    /// Fails unless the rate is at least 1 byte per second.
    pub fn validate(&self) -> Result<(), String> {
        if self.bytes_per_sec == 0 {
            return Err("the scrub's bytes per second must be at least 1".into());
        }
        Ok(())
    }

    fn limiter(&self) -> Limiter {
        Limiter::<StandardClock>::new(self.bytes_per_sec as f64)
    }
}

/// What the scrub found, and did, for one copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScrubOutcome {
    /// Read whole and verified against the root.
    Verified { bytes: u64 },
    /// Failed verification (`damage` says how) and was replaced by a verified copy from `from`.
    Repaired {
        from: String,
        bytes: u64,
        damage: String,
    },
    /// Not on this parent; replication copies it.
    Missing,
    /// Could not be read, or is damaged and could not be repaired.
    Failed { reason: String },
}

/// One line of a [`ScrubReport`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScrubLine {
    pub key: String,
    /// The parent's name.
    pub parent: String,
    pub outcome: ScrubOutcome,
}

/// The result of one scrub round, per object and parent (primary included).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScrubReport {
    pub objects: Vec<ScrubLine>,
}

impl ScrubReport {
    fn count(&self, f: impl Fn(&ScrubOutcome) -> bool) -> usize {
        self.objects.iter().filter(|o| f(&o.outcome)).count()
    }

    /// Copies that verified.
    pub fn verified(&self) -> usize {
        self.count(|o| matches!(o, ScrubOutcome::Verified { .. }))
    }

    /// Damaged copies replaced this round.
    pub fn repaired(&self) -> usize {
        self.count(|o| matches!(o, ScrubOutcome::Repaired { .. }))
    }

    /// Copies a parent lacks.
    pub fn missing(&self) -> usize {
        self.count(|o| *o == ScrubOutcome::Missing)
    }

    /// Copies that could not be read or repaired.
    pub fn failed(&self) -> usize {
        self.count(|o| matches!(o, ScrubOutcome::Failed { .. }))
    }

    /// Bytes of the copies that verified or were repaired.
    pub fn bytes_checked(&self) -> u64 {
        self.objects
            .iter()
            .map(|o| match o.outcome {
                ScrubOutcome::Verified { bytes } | ScrubOutcome::Repaired { bytes, .. } => bytes,
                _ => 0,
            })
            .sum()
    }

    /// The outcome for `key` on `parent`, if the round saw it.
    pub fn outcome(&self, key: &str, parent: &str) -> Option<&ScrubOutcome> {
        self.objects
            .iter()
            .find(|o| o.key == key && o.parent == parent)
            .map(|o| &o.outcome)
    }
}

impl fmt::Display for ScrubReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} verified, {} repaired, {} missing, {} failed",
            self.verified(),
            self.repaired(),
            self.missing(),
            self.failed()
        )
    }
}

/// One round: every object under [`ITEMS_PREFIX`] on the primary, on every parent.
///
/// Fails only if the primary cannot be listed; per-copy failures are in the report.
pub async fn scrub(
    primary: &ParentStore,
    secondaries: &[ParentStore],
    options: &ScrubOptions,
) -> Result<ScrubReport, StoreError> {
    let limiter = options.limiter();
    let parents: Vec<&ParentStore> = std::iter::once(primary).chain(secondaries).collect();
    let mut report = ScrubReport::default();
    for (key, _) in primary.list(ITEMS_PREFIX).await? {
        scrub_object(&parents, &key, &limiter, &mut report).await;
    }
    Ok(report)
}

/// What reading one copy showed.
enum Check {
    Sound(Header),
    Damaged(String),
    Missing,
    Unreadable(String),
}

async fn check(parent: &ParentStore, key: &str, limiter: &Limiter) -> Check {
    match verify_sealed_paced(parent, key, Some(limiter)).await {
        Ok(header) => Check::Sound(header),
        Err(VerifyError::Missing { .. }) => Check::Missing,
        // The parent or the network failed, not the bytes: nothing to repair.
        Err(e @ (VerifyError::Store(_) | VerifyError::Read { .. })) => {
            Check::Unreadable(e.to_string())
        }
        Err(e) => Check::Damaged(e.to_string()),
    }
}

/// `parents[0]` is the primary.
async fn scrub_object(
    parents: &[&ParentStore],
    key: &str,
    limiter: &Limiter,
    report: &mut ScrubReport,
) {
    let mut checks = Vec::with_capacity(parents.len());
    for parent in parents {
        checks.push(check(parent, key, limiter).await);
    }
    if matches!(checks[0], Check::Missing) {
        return; // deleted since the listing
    }
    let reference = reference_header(&checks);
    let mut sound = Vec::new();
    let mut damaged = Vec::new();
    for (i, check) in checks.into_iter().enumerate() {
        let outcome = match check {
            Check::Sound(header) if Some(&header) == reference.as_ref() => {
                sound.push(i);
                ScrubOutcome::Verified {
                    bytes: header.layout().object_len(),
                }
            }
            Check::Sound(_) => {
                damaged.push((i, "holds another object than the primary".to_owned()));
                continue;
            }
            Check::Damaged(damage) => {
                damaged.push((i, damage));
                continue;
            }
            Check::Missing => ScrubOutcome::Missing,
            Check::Unreadable(reason) => ScrubOutcome::Failed { reason },
        };
        report.objects.push(line(key, parents[i], outcome));
    }
    for (i, damage) in damaged {
        let outcome = repair(parents, i, &sound, key, damage, limiter).await;
        if matches!(outcome, ScrubOutcome::Repaired { .. }) {
            sound.push(i);
        }
        report.objects.push(line(key, parents[i], outcome));
    }
}

/// The header every sound copy must have: the primary's when its copy verified, else the one
/// every verified secondary agrees on. `None` when there is none (nothing can be trusted).
fn reference_header(checks: &[Check]) -> Option<Header> {
    let sound = |c: &Check| match c {
        Check::Sound(h) => Some(h.clone()),
        _ => None,
    };
    if let Some(h) = sound(&checks[0]) {
        return Some(h);
    }
    let mut headers = checks[1..].iter().filter_map(sound);
    let first = headers.next()?;
    headers.all(|h| h == first).then_some(first)
}

/// Replaces the damaged copy on `parents[target]` from the first sound copy that yields a
/// verified replacement.
async fn repair(
    parents: &[&ParentStore],
    target: usize,
    sound: &[usize],
    key: &str,
    damage: String,
    limiter: &Limiter,
) -> ScrubOutcome {
    let dest = parents[target];
    // A replica records the primary's ETag, as replication does; read it now, after the primary
    // itself may have been repaired.
    let replicated_from = if target == 0 {
        None
    } else {
        parents[0].head(key).await.ok().flatten().map(|m| m.etag)
    };
    let mut last_error = None;
    for &s in sound {
        let source = parents[s];
        match copy_and_verify(source, dest, key, replicated_from.as_deref(), Some(limiter)).await {
            Ok(bytes) => {
                tracing::warn!(
                    key,
                    parent = dest.name(),
                    from = source.name(),
                    bytes,
                    damage,
                    "scrub repaired a damaged copy"
                );
                return ScrubOutcome::Repaired {
                    from: source.name().to_owned(),
                    bytes,
                    damage,
                };
            }
            Err(e) => {
                tracing::warn!(key, parent = dest.name(), from = source.name(), error = %e,
                    "scrub could not repair from this parent");
                last_error = Some(e);
            }
        }
    }
    let reason = match last_error {
        Some(e) => format!("damaged ({damage}); repair failed: {e}"),
        None => format!("damaged ({damage}); no parent holds a verified copy"),
    };
    tracing::error!(
        key,
        parent = dest.name(),
        reason,
        "scrub left a damaged copy"
    );
    ScrubOutcome::Failed { reason }
}

fn line(key: &str, parent: &ParentStore, outcome: ScrubOutcome) -> ScrubLine {
    ScrubLine {
        key: key.to_owned(),
        parent: parent.name().to_owned(),
        outcome,
    }
}

/// Runs a scrub round, then waits `interval`, for ever; logs each round and the copies repaired
/// since the start.
pub async fn scrub_every(
    primary: &ParentStore,
    secondaries: &[ParentStore],
    options: &ScrubOptions,
    interval: Duration,
) {
    let mut repaired_total = 0usize;
    loop {
        let started = Instant::now();
        match scrub(primary, secondaries, options).await {
            Ok(report) => {
                repaired_total += report.repaired();
                let secs = started.elapsed().as_secs_f64();
                tracing::info!(%report, bytes = report.bytes_checked(), secs,
                    repaired_since_start = repaired_total, "scrub round done");
            }
            Err(e) => {
                tracing::error!(error = %e, "scrub round failed: cannot list the primary");
            }
        }
        tokio::time::sleep(interval).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_counts_and_summary() {
        let line = |parent: &str, outcome| ScrubLine {
            key: "k".into(),
            parent: parent.into(),
            outcome,
        };
        let report = ScrubReport {
            objects: vec![
                line("p", ScrubOutcome::Verified { bytes: 10 }),
                line(
                    "s1",
                    ScrubOutcome::Repaired {
                        from: "p".into(),
                        bytes: 10,
                        damage: "chunk 3".into(),
                    },
                ),
                line("s2", ScrubOutcome::Missing),
                line("s3", ScrubOutcome::Failed { reason: "x".into() }),
            ],
        };
        assert_eq!(
            report.to_string(),
            "1 verified, 1 repaired, 1 missing, 1 failed"
        );
        assert_eq!(report.bytes_checked(), 20);
        assert_eq!(report.outcome("k", "s2"), Some(&ScrubOutcome::Missing));
        assert!(ScrubOptions { bytes_per_sec: 0 }.validate().is_err());
    }
}
