//! Internal calls to an edge (prefill, maintenance): authenticated by a signature with the edge's
//! secret, never by a header a client could send too.
//!
//! On Spin, every request header a client sends reaches the component, so a marker header proves
//! nothing. The caller (edge-host's ticker, or `edge-host call` run by an operator's scheduler)
//! sends `x-edge-signature: t=UNIX_SECONDS,s=HEX`, where `HEX` is a keyed BLAKE3 MAC over the
//! method, the path with its query and the timestamp; the key is derived from the edge secret
//! with the context string [`KEY_CONTEXT`]. The edge accepts it within [`REPLAY_WINDOW_SECS`] of
//! its own clock. A captured signature can be replayed only for that long, and only to make the
//! edge do the same idempotent, bounded work again. `docs/formats.md` specifies it.

/// The header carrying the signature.
pub const SIGNATURE_HEADER: &str = "x-edge-signature";
/// How far (either way) the timestamp may be from the edge's clock.
pub const REPLAY_WINDOW_SECS: u64 = 60;
/// BLAKE3 key-derivation context of the MAC key.
pub const KEY_CONTEXT: &str = "cdn edge internal call v1";

/// Why an internal call is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InternalCallError {
    #[error("no {SIGNATURE_HEADER} header")]
    Missing,
    #[error("{SIGNATURE_HEADER} is not `t=UNIX_SECONDS,s=HEX`")]
    Malformed,
    #[error("the signature's timestamp is more than {REPLAY_WINDOW_SECS} s from the edge's clock")]
    Stale,
    #[error("the signature does not match")]
    BadSignature,
}

fn mac(secret: &str, method: &str, path_with_query: &str, timestamp: u64) -> blake3::Hash {
    let key = blake3::derive_key(KEY_CONTEXT, secret.as_bytes());
    let mut hasher = blake3::Hasher::new_keyed(&key);
    // Fields separated by a byte that no method, path or number contains.
    for field in [method.as_bytes(), path_with_query.as_bytes()] {
        hasher.update(field);
        hasher.update(b"\n");
    }
    hasher.update(timestamp.to_string().as_bytes());
    hasher.finalize()
}

/// The `x-edge-signature` value for a call made at unix second `now`.
pub fn sign_call(secret: &str, method: &str, path_with_query: &str, now: u64) -> String {
    let mac = mac(secret, method, path_with_query, now);
    format!("t={now},s={}", mac.to_hex())
}

/// Checks an `x-edge-signature` value against the request and the edge's clock `now`.
pub fn verify_call(
    secret: &str,
    method: &str,
    path_with_query: &str,
    header: Option<&str>,
    now: u64,
) -> Result<(), InternalCallError> {
    let header = header.ok_or(InternalCallError::Missing)?;
    let (t, s) = header
        .trim()
        .split_once(',')
        .ok_or(InternalCallError::Malformed)?;
    let timestamp: u64 = t
        .strip_prefix("t=")
        .and_then(|t| t.parse().ok())
        .ok_or(InternalCallError::Malformed)?;
    let given = s
        .strip_prefix("s=")
        .and_then(|s| blake3::Hash::from_hex(s).ok())
        .ok_or(InternalCallError::Malformed)?;
    if timestamp.abs_diff(now) > REPLAY_WINDOW_SECS {
        return Err(InternalCallError::Stale);
    }
    // `blake3::Hash` compares in constant time.
    if mac(secret, method, path_with_query, timestamp) != given {
        return Err(InternalCallError::BadSignature);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_800_000_000;

    #[test]
    fn a_signed_call_verifies_within_the_window_only() {
        let sig = sign_call("s3cret", "POST", "/v1/internal/prefill", NOW);
        let ok = |h: &str, now| verify_call("s3cret", "POST", "/v1/internal/prefill", Some(h), now);
        assert_eq!(ok(&sig, NOW), Ok(()));
        assert_eq!(ok(&sig, NOW + REPLAY_WINDOW_SECS), Ok(()));
        assert_eq!(ok(&sig, NOW - REPLAY_WINDOW_SECS), Ok(()));
        assert_eq!(
            ok(&sig, NOW + REPLAY_WINDOW_SECS + 1),
            Err(InternalCallError::Stale)
        );
    }

    #[test]
    fn anything_else_is_refused() {
        let sig = sign_call("s3cret", "POST", "/v1/internal/prefill", NOW);
        let check = |secret: &str, method: &str, path: &str, h: Option<&str>| {
            verify_call(secret, method, path, h, NOW)
        };
        let p = "/v1/internal/prefill";
        let bad = Err(InternalCallError::BadSignature);
        assert_eq!(check("other", "POST", p, Some(&sig)), bad);
        assert_eq!(check("s3cret", "GET", p, Some(&sig)), bad);
        assert_eq!(
            check("s3cret", "POST", "/v1/internal/maintain", Some(&sig)),
            bad
        );
        assert_eq!(
            check("s3cret", "POST", p, None),
            Err(InternalCallError::Missing)
        );
        let moved = sig.replace(&format!("t={NOW}"), &format!("t={}", NOW + 1));
        assert_eq!(check("s3cret", "POST", p, Some(&moved)), bad);
        for malformed in ["prefill", "t=1", "t=x,s=00", "t=1,s=zz", "s=00,t=1"] {
            assert_eq!(
                check("s3cret", "POST", p, Some(malformed)),
                Err(InternalCallError::Malformed),
                "{malformed}"
            );
        }
    }
}
