//! How DynamoDB failures become [`StoreError`]s. Throttling (`ProvisionedThroughputExceeded`,
//! `ThrottlingException`, `RequestLimitExceeded`, `TransactionInProgress`) is retried by the SDK's
//! standard retry with backoff before it reaches this module; what still fails is classified
//! here. Conditional-check failures never come here: the store turns them into outcomes first.

use std::time::Duration;

use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

use crate::store::StoreError;

/// Error codes that mean "too much load, later".
const THROTTLING: &[&str] = &[
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "TransactionInProgressException",
];

/// Attempts of one request, SDK retries included.
pub(super) const SDK_MAX_ATTEMPTS: u32 = 5;
/// The SDK's backoff between attempts (jittered, doubling): DynamoDB answers in milliseconds, and
/// a request waiting on it holds a customer, so the whole budget stays under about a second
/// (the SDK's defaults, 1 s doubling to 20 s, suit batch jobs).
pub(super) const SDK_INITIAL_BACKOFF: Duration = Duration::from_millis(50);
pub(super) const SDK_MAX_BACKOFF: Duration = Duration::from_millis(500);

/// Attempts of a transaction cancelled for `TransactionConflict` (another transaction held one of
/// its items). Contended items (a token under many concurrent session starts) need several.
pub(super) const CONFLICT_ATTEMPTS: u32 = 10;

/// Whether the SDK error is a failed condition of a single-item write.
pub(super) fn is_condition_failed<E: ProvideErrorMetadata>(
    err: &SdkError<E, HttpResponse>,
) -> bool {
    err.as_service_error()
        .and_then(|e| e.code())
        .is_some_and(|c| c == "ConditionalCheckFailedException")
}

/// Classifies an SDK failure of `operation`.
pub(super) fn classify<E>(operation: &'static str, err: SdkError<E, HttpResponse>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    // A service error says enough in its code and message; the rest (raw response) is noise.
    let detail = match err.as_service_error() {
        Some(e) => format!(
            "{}: {}",
            e.code().unwrap_or("unknown error"),
            e.message().unwrap_or("no message")
        ),
        None => DisplayErrorContext(&err).to_string(),
    };
    let throttled = err
        .as_service_error()
        .and_then(|e| e.code())
        .is_some_and(|c| THROTTLING.contains(&c));
    let server_side = match &err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            true
        }
        SdkError::ServiceError(ctx) => ctx.raw().status().is_server_error(),
        _ => false,
    };
    let source = Box::new(err);
    if throttled {
        StoreError::Throttled {
            operation,
            detail,
            source: Some(source),
        }
    } else if server_side {
        StoreError::Unavailable {
            operation,
            detail,
            source,
        }
    } else {
        StoreError::Refused {
            operation,
            detail,
            source,
        }
    }
}

/// The pause before retry `attempt` (1-based) of a conflicting transaction: exponential from
/// 10 ms, capped at 500 ms, with full jitter so that the contenders spread out.
pub(super) fn conflict_backoff(attempt: u32) -> Duration {
    let cap_ms = (10u64 << attempt.min(6)).min(500);
    let mut b = [0u8; 8];
    let r = getrandom::fill(&mut b).map_or(cap_ms / 2, |()| u64::from_le_bytes(b));
    Duration::from_millis(1 + r % cap_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_stays_bounded() {
        for attempt in 1..20 {
            let d = conflict_backoff(attempt);
            assert!(d >= Duration::from_millis(1) && d <= Duration::from_millis(501));
        }
        assert!(conflict_backoff(1) <= Duration::from_millis(21));
    }
}
