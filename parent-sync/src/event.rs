//! parent-sync on AWS Lambda: S3 notifications in, one object replicated and verified per record.
//!
//! In AWS the secondaries are filled by S3 replication, and each secondary bucket notifies the
//! parent-sync function of its region when an object is created under `items/`
//! (`terraform/modules/parent-sync`). For each record [`handle`] replicates that key from the
//! primary to the configured secondaries exactly as a `parent-sync once` round would, usually
//! finding the replica present and verifying it (with [`ReplicateOptions::verify_present`]). Any
//! failure fails the invocation, so Lambda retries it and then keeps it in the dead-letter queue.

use aws_lambda_events::s3::{S3Event, S3EventRecord};
use percent_encoding::percent_decode_str;
use serde::Serialize;

use crate::replicate::{ITEMS_PREFIX, Outcome, ReplicateOptions, Report, replicate_key};
use crate::store::ParentStore;

/// Why an event was not handled.
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    #[error("record {index}: {problem}")]
    BadRecord { index: usize, problem: String },
    #[error("{failed} of {total} copies failed: {details}")]
    Failed {
        failed: usize,
        total: usize,
        details: String,
    },
}

/// What one record asks for: the object key (URL-decoded) in the bucket that was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Created {
    pub bucket: String,
    pub key: String,
}

/// The objects an event reports as created under [`ITEMS_PREFIX`]. Other events (removals,
/// test events with no records) and other keys are left out; a record without a bucket or key,
/// or with a key that does not decode, is an error.
pub fn created_items(event: &S3Event) -> Result<Vec<Created>, EventError> {
    let mut out = Vec::new();
    for (index, record) in event.records.iter().enumerate() {
        let bad = |problem: &str| EventError::BadRecord {
            index,
            problem: problem.to_owned(),
        };
        if !is_creation(record) {
            continue;
        }
        let bucket = record
            .s3
            .bucket
            .name
            .clone()
            .ok_or_else(|| bad("no bucket name"))?;
        let raw = record
            .s3
            .object
            .key
            .as_deref()
            .ok_or_else(|| bad("no object key"))?;
        // S3 event keys are URL-encoded, with `+` for a space.
        let key = percent_decode_str(&raw.replace('+', " "))
            .decode_utf8()
            .map_err(|_| bad("the object key is not UTF-8 once decoded"))?
            .into_owned();
        if key.starts_with(ITEMS_PREFIX) {
            out.push(Created { bucket, key });
        }
    }
    Ok(out)
}

fn is_creation(record: &S3EventRecord) -> bool {
    record
        .event_name
        .as_deref()
        .is_some_and(|n| n.starts_with("ObjectCreated:"))
}

/// One line of the invocation's answer.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct Line {
    pub key: String,
    pub secondary: String,
    /// `copied`, `verified` (present and read back), or `present` (not read back).
    pub outcome: &'static str,
    pub bytes: Option<u64>,
}

/// Replicates every object `event` reports as created from `primary` to `secondaries` and
/// verifies the copies. Succeeds only if every copy is in place and verified.
pub async fn handle(
    primary: &ParentStore,
    secondaries: &[ParentStore],
    options: ReplicateOptions,
    event: &S3Event,
) -> Result<Vec<Line>, EventError> {
    let items = created_items(event)?;
    let mut report = Report::default();
    for item in &items {
        tracing::info!(bucket = item.bucket, key = item.key, "object created");
        let one = replicate_key(primary, secondaries, &item.key, options).await;
        report.objects.extend(one.objects);
    }
    if report.failed() > 0 {
        let details = report
            .objects
            .iter()
            .filter_map(|o| match &o.outcome {
                Outcome::Failed { reason } => {
                    Some(format!("{} on {}: {reason}", o.key, o.secondary))
                }
                _ => None,
            })
            .collect::<Vec<_>>()
            .join("; ");
        return Err(EventError::Failed {
            failed: report.failed(),
            total: report.objects.len(),
            details,
        });
    }
    Ok(report
        .objects
        .into_iter()
        .map(|o| {
            let (outcome, bytes) = match o.outcome {
                Outcome::Copied { bytes } => ("copied", Some(bytes)),
                Outcome::AlreadyPresent if options.verify_present => ("verified", None),
                _ => ("present", None),
            };
            Line {
                key: o.key,
                secondary: o.secondary,
                outcome,
                bytes,
            }
        })
        .collect())
}

/// Serves S3 events from the Lambda Runtime API (`AWS_LAMBDA_RUNTIME_API`) until the process is
/// stopped. Each invocation answers with its [`Line`]s, or fails with the [`EventError`].
pub async fn serve(
    primary: ParentStore,
    secondaries: Vec<ParentStore>,
    options: ReplicateOptions,
) -> Result<(), lambda_runtime::Error> {
    let primary = &primary;
    let secondaries = &secondaries[..];
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: lambda_runtime::LambdaEvent<S3Event>| async move {
            handle(primary, secondaries, options, &event.payload)
                .await
                .map_err(|e| {
                    tracing::error!(error = %e, "event not handled");
                    lambda_runtime::Diagnostic {
                        error_type: "ReplicationFailed".into(),
                        error_message: e.to_string(),
                    }
                })
        },
    ))
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(records: &[(&str, &str)]) -> S3Event {
        let records: Vec<serde_json::Value> = records
            .iter()
            .map(|(name, key)| {
                serde_json::json!({
                    "eventTime": "2026-11-24T10:16:02.123Z",
                    "eventName": name,
                    "userIdentity": {},
                    "requestParameters": {},
                    "s3": {"bucket": {"name": "b"}, "object": {"key": key}},
                })
            })
            .collect();
        serde_json::from_value(serde_json::json!({ "Records": records })).unwrap()
    }

    #[test]
    fn created_items_are_decoded_and_filtered() {
        let e = event(&[
            (
                "ObjectCreated:CompleteMultipartUpload",
                "items/film/v1.sealed",
            ),
            ("ObjectCreated:Put", "items/a+b%2Bc/v2.sealed"),
            ("ObjectRemoved:Delete", "items/gone/v1.sealed"),
            ("ObjectCreated:Put", "logs/2026-11-24"),
        ]);
        let keys: Vec<String> = created_items(&e)
            .unwrap()
            .into_iter()
            .map(|c| c.key)
            .collect();
        assert_eq!(keys, ["items/film/v1.sealed", "items/a b+c/v2.sealed"]);
        assert!(created_items(&S3Event::default()).unwrap().is_empty());
        let e = event(&[("ObjectCreated:Put", "items/%FF/v1.sealed")]);
        assert!(
            created_items(&e)
                .unwrap_err()
                .to_string()
                .contains("record 0")
        );
    }
}
