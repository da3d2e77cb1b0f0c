//! Replication: copy every object under `items/` from the primary to each secondary that lacks it
//! (streaming, never a whole object in memory), then verify the copy as a sealed object
//! ([`crate::verify`]) and check its header is the primary's; a copy that fails is deleted so the
//! next round copies it again. A copy that looks present (same length and ETag) is not read: the
//! ETag is the store's record of what it was sent, not proof that the bytes on disk are still
//! those; the scrub ([`crate::scrub`]) reads them.

use std::fmt;

use async_speed_limit::Limiter;
use bytes::Bytes;
use protocol::sealed::{HEADER_LEN, Header};

use crate::store::{ObjectMeta, ParentStore, StoreError};
use crate::verify::{VerifyError, verify_sealed, verify_sealed_paced};

/// The prefix under which parents hold sealed items (`items/{item}/v{version}.sealed`).
pub const ITEMS_PREFIX: &str = "items/";

/// How thorough a round is.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReplicateOptions {
    /// Also read and verify every copy that looks present (same length and ETag), to catch copies
    /// damaged at rest. Costs a full read of every object on every secondary.
    pub verify_present: bool,
}

/// What happened to one object on one secondary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Copied and verified.
    Copied { bytes: u64 },
    /// The secondary already had the same object (same length, and same ETag or recorded source
    /// ETag; verified too when [`ReplicateOptions::verify_present`] is set).
    AlreadyPresent,
    /// Not replicated this round; the next round tries again.
    Failed { reason: String },
}

/// One line of a [`Report`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectOutcome {
    pub key: String,
    /// The secondary's name.
    pub secondary: String,
    pub outcome: Outcome,
}

/// The result of one replication round, per object and secondary.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub objects: Vec<ObjectOutcome>,
}

impl Report {
    fn count(&self, f: impl Fn(&Outcome) -> bool) -> usize {
        self.objects.iter().filter(|o| f(&o.outcome)).count()
    }

    /// Copies made this round.
    pub fn copied(&self) -> usize {
        self.count(|o| matches!(o, Outcome::Copied { .. }))
    }

    /// Copies that were already in place.
    pub fn already_present(&self) -> usize {
        self.count(|o| *o == Outcome::AlreadyPresent)
    }

    /// Copies that failed.
    pub fn failed(&self) -> usize {
        self.count(|o| matches!(o, Outcome::Failed { .. }))
    }

    /// The outcome for `key` on `secondary`, if the round saw it.
    pub fn outcome(&self, key: &str, secondary: &str) -> Option<&Outcome> {
        self.objects
            .iter()
            .find(|o| o.key == key && o.secondary == secondary)
            .map(|o| &o.outcome)
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} copied, {} already present, {} failed",
            self.copied(),
            self.already_present(),
            self.failed()
        )
    }
}

/// One round: every object under [`ITEMS_PREFIX`] on the primary, onto every secondary.
///
/// Fails only if the primary cannot be listed; per-object failures are in the report.
pub async fn replicate(
    primary: &ParentStore,
    secondaries: &[ParentStore],
) -> Result<Report, StoreError> {
    replicate_with(primary, secondaries, ReplicateOptions::default()).await
}

/// [`replicate`] with options.
pub async fn replicate_with(
    primary: &ParentStore,
    secondaries: &[ParentStore],
    options: ReplicateOptions,
) -> Result<Report, StoreError> {
    let mut report = Report::default();
    for (key, _) in primary.list(ITEMS_PREFIX).await? {
        match primary.head(&key).await {
            Ok(Some(source)) => {
                sync_everywhere(primary, secondaries, &key, &source, options, &mut report).await;
            }
            Ok(None) => continue, // deleted since the listing
            Err(e) => {
                for s in secondaries {
                    report.objects.push(failed(&key, s, e.to_string()));
                }
            }
        }
    }
    Ok(report)
}

/// Replicates one object, `key`, from the primary to every secondary as a round would (the S3
/// event entry point, [`crate::event`]). An object the primary does not hold is a failure on
/// every secondary.
pub async fn replicate_key(
    primary: &ParentStore,
    secondaries: &[ParentStore],
    key: &str,
    options: ReplicateOptions,
) -> Report {
    let mut report = Report::default();
    match primary.head(key).await {
        Ok(Some(source)) => {
            sync_everywhere(primary, secondaries, key, &source, options, &mut report).await;
        }
        Ok(None) => {
            for s in secondaries {
                let reason = format!("not on the primary {}", primary.name());
                report.objects.push(failed(key, s, reason));
            }
        }
        Err(e) => {
            for s in secondaries {
                report.objects.push(failed(key, s, e.to_string()));
            }
        }
    }
    report
}

async fn sync_everywhere(
    primary: &ParentStore,
    secondaries: &[ParentStore],
    key: &str,
    source: &ObjectMeta,
    options: ReplicateOptions,
    report: &mut Report,
) {
    for secondary in secondaries {
        let outcome = sync_object(primary, secondary, key, source, options).await;
        match &outcome {
            Outcome::Copied { bytes } => {
                tracing::info!(
                    key,
                    secondary = secondary.name(),
                    bytes,
                    "copied and verified"
                );
            }
            Outcome::AlreadyPresent => {
                tracing::debug!(key, secondary = secondary.name(), "already present");
            }
            Outcome::Failed { reason } => {
                tracing::warn!(key, secondary = secondary.name(), reason, "not replicated");
            }
        }
        report.objects.push(ObjectOutcome {
            key: key.to_owned(),
            secondary: secondary.name().to_owned(),
            outcome,
        });
    }
}

fn failed(key: &str, secondary: &ParentStore, reason: String) -> ObjectOutcome {
    ObjectOutcome {
        key: key.to_owned(),
        secondary: secondary.name().to_owned(),
        outcome: Outcome::Failed { reason },
    }
}

/// Whether `copy` is a copy of `source` as far as metadata can tell.
fn same_object(copy: &ObjectMeta, source: &ObjectMeta) -> bool {
    copy.len == source.len
        && (copy.etag == source.etag || copy.replicated_from.as_deref() == Some(&source.etag))
}

async fn sync_object(
    primary: &ParentStore,
    secondary: &ParentStore,
    key: &str,
    source: &ObjectMeta,
    options: ReplicateOptions,
) -> Outcome {
    match secondary.head(key).await {
        Err(e) => {
            return Outcome::Failed {
                reason: e.to_string(),
            };
        }
        Ok(Some(copy)) if same_object(&copy, source) => {
            if !options.verify_present {
                return Outcome::AlreadyPresent;
            }
            match verify_sealed(secondary, key).await {
                Ok(_) => return Outcome::AlreadyPresent,
                Err(e) => tracing::warn!(key, secondary = secondary.name(), error = %e,
                    "present copy fails verification; copying it again"),
            }
        }
        Ok(_) => {}
    }
    match copy_and_verify(primary, secondary, key, Some(&source.etag), None).await {
        Ok(bytes) => Outcome::Copied { bytes },
        Err(reason) => Outcome::Failed { reason },
    }
}

/// Streams `key` from `source` to `dest` (paced by `limiter` when given), verifies the copy and
/// checks its header is the source's; deletes the copy if it fails. `replicated_from` is the
/// primary's ETag to record on a replica (`None` when `dest` is the primary).
pub(crate) async fn copy_and_verify(
    source: &ParentStore,
    dest: &ParentStore,
    key: &str,
    replicated_from: Option<&str>,
    limiter: Option<&Limiter>,
) -> Result<u64, String> {
    let reader = source
        .get_stream(key)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("{key:?} vanished from {} during the round", source.name()))?;
    let len = reader.content_len();
    let put = match limiter {
        Some(limiter) => {
            dest.put_stream(key, limiter.clone().limit(reader), len, replicated_from)
                .await
        }
        None => dest.put_stream(key, reader, len, replicated_from).await,
    };
    put.map_err(|e| e.to_string())?;
    let verified = match verify_sealed_paced(dest, key, limiter).await {
        Ok(header) => check_same_header(source, key, &header).await,
        Err(e) => Err(e),
    };
    match verified {
        Ok(()) => Ok(len),
        Err(e) => {
            let cleanup = match dest.delete(key).await {
                Ok(()) => "deleted".to_owned(),
                Err(d) => format!("could not be deleted ({d})"),
            };
            Err(format!("copy failed verification and {cleanup}: {e}"))
        }
    }
}

/// The copy's header must be the source's, not merely some valid sealed object.
async fn check_same_header(
    source: &ParentStore,
    key: &str,
    copy: &Header,
) -> Result<(), VerifyError> {
    if header_bytes(source, key).await?.as_ref() == copy.encode().as_slice() {
        Ok(())
    } else {
        Err(VerifyError::NotThePrimarysObject {
            key: key.to_owned(),
        })
    }
}

/// The first [`HEADER_LEN`] bytes of `key` on `store` (fewer if the object is shorter).
pub(crate) async fn header_bytes(store: &ParentStore, key: &str) -> Result<Bytes, VerifyError> {
    store
        .get_range(key, 0, HEADER_LEN as u64 - 1)
        .await?
        .ok_or_else(|| VerifyError::Missing {
            key: key.to_owned(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(len: u64, etag: &str, replicated_from: Option<&str>) -> ObjectMeta {
        ObjectMeta {
            len,
            etag: etag.into(),
            replicated_from: replicated_from.map(Into::into),
        }
    }

    #[test]
    fn a_copy_matches_by_etag_or_recorded_source_etag() {
        let source = meta(10, "abc-3", None);
        assert!(same_object(&meta(10, "abc-3", None), &source));
        // Copied with other part sizes: its own ETag differs, the recorded one matches.
        assert!(same_object(&meta(10, "def-2", Some("abc-3")), &source));
        assert!(!same_object(&meta(10, "def-2", None), &source));
        assert!(!same_object(&meta(10, "def-2", Some("old-1")), &source));
        assert!(!same_object(&meta(11, "abc-3", None), &source));
    }

    #[test]
    fn report_counts_and_summary() {
        let line = |key: &str, outcome| ObjectOutcome {
            key: key.into(),
            secondary: "s1".into(),
            outcome,
        };
        let report = Report {
            objects: vec![
                line("a", Outcome::Copied { bytes: 5 }),
                line("b", Outcome::AlreadyPresent),
                line("c", Outcome::AlreadyPresent),
                line("d", Outcome::Failed { reason: "x".into() }),
            ],
        };
        assert_eq!(report.to_string(), "1 copied, 2 already present, 1 failed");
        assert_eq!(report.outcome("b", "s1"), Some(&Outcome::AlreadyPresent));
        assert_eq!(report.outcome("b", "s2"), None);
    }
}
