//! Main's signing keys as this edge holds them, and the local token check that runs before main
//! is asked anything.
//!
//! The JWKS is cached in the store with its fetch time. It is refetched when older than
//! [`JWKS_MAX_AGE_SECS`], or when a token names a key id it lacks (main rotated its key) — at
//! once the first time, then not more often than every [`UNKNOWN_KID_RETRY_SECS`], so that
//! tokens with made-up key ids cannot make every request call main. Main publishes a new key an
//! hour before it signs, so this refetch is a fallback. If a refetch fails, a stale set is
//! still used.

use protocol::{DownloadToken, ItemId, Jwks, TokenError, Verifier};
use serde::{Deserialize, Serialize};

/// Age after which the cached JWKS is refetched.
pub const JWKS_MAX_AGE_SECS: u64 = 600;
/// Minimum age of the cached JWKS before an unknown key id triggers a refetch.
pub const UNKNOWN_KID_RETRY_SECS: u64 = 30;

/// The JWKS as stored under [`crate::cache::JWKS_KEY`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CachedJwks {
    /// Unix second of the fetch.
    pub fetched_at: u64,
    pub jwks: Jwks,
    /// Unix second of the last fetch an unknown key id asked for, if any (the rate bound on
    /// those).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unknown_kid_fetch_at: Option<u64>,
}

impl CachedJwks {
    /// Decodes a stored value; `None` if it does not parse.
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        serde_json::from_slice(bytes).ok()
    }

    /// The stored form.
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("plain struct serializes")
    }

    /// Whether this set has key `kid`.
    pub fn knows(&self, kid: &str) -> bool {
        self.jwks.keys.iter().any(|k| k.kid == kid)
    }
}

/// Whether to fetch the JWKS before checking a token whose header names `kid`.
pub fn needs_refresh(cached: Option<&CachedJwks>, kid: Option<&str>, now: u64) -> bool {
    let Some(c) = cached else { return true };
    let age = now.saturating_sub(c.fetched_at);
    if age >= JWKS_MAX_AGE_SECS || c.fetched_at > now {
        return true;
    }
    let unknown = kid.is_some_and(|k| !c.knows(k));
    unknown
        && c.unknown_kid_fetch_at
            .is_none_or(|at| at > now || now - at >= UNKNOWN_KID_RETRY_SECS)
}

/// Whether a fetch at `now` for a token naming `kid` was asked for by the unknown key id (and
/// so counts against [`UNKNOWN_KID_RETRY_SECS`]).
pub fn fetch_for_unknown_kid(cached: Option<&CachedJwks>, kid: Option<&str>, now: u64) -> bool {
    match cached {
        Some(c) => {
            now.saturating_sub(c.fetched_at) < JWKS_MAX_AGE_SECS
                && c.fetched_at <= now
                && kid.is_some_and(|k| !c.knows(k))
        }
        None => false,
    }
}

/// Checks `token`'s signature, times and item at unix second `now` against `jwks`.
pub fn check_token(
    jwks: &Jwks,
    token: &str,
    item: &ItemId,
    now: u64,
) -> Result<DownloadToken, TokenError> {
    let verifier = Verifier::from_jwks(jwks)
        .map_err(|e| TokenError::Invalid(format!("main's keys are unusable: {e}")))?;
    DownloadToken::verify(&verifier, token, Some(item), now)
}

/// The `kid` a token's header names, unverified.
pub fn token_kid(token: &str) -> Option<String> {
    Verifier::token_kid(token)
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::Signer;

    fn token(signer: &Signer, item: &str, now: u64) -> String {
        DownloadToken {
            token_id: "t".into(),
            item: ItemId::parse(item).unwrap(),
            recipient: "acct".into(),
            issued_at: now,
            expires_at: now + 3600,
            max_uses: 3,
        }
        .sign(signer)
        .unwrap()
    }

    #[test]
    fn refresh_policy() {
        let signer = Signer::generate("k1");
        let c = CachedJwks {
            fetched_at: 1000,
            jwks: signer.jwks(),
            unknown_kid_fetch_at: None,
        };
        assert!(needs_refresh(None, Some("k1"), 1000));
        assert!(!needs_refresh(
            Some(&c),
            Some("k1"),
            1000 + JWKS_MAX_AGE_SECS - 1
        ));
        assert!(needs_refresh(
            Some(&c),
            Some("k1"),
            1000 + JWKS_MAX_AGE_SECS
        ));
        // An unknown key id: fetched at once the first time (main rotated its key)...
        assert!(needs_refresh(Some(&c), Some("k2"), 1010));
        assert!(fetch_for_unknown_kid(Some(&c), Some("k2"), 1010));
        assert!(!fetch_for_unknown_kid(Some(&c), Some("k1"), 1010));
        // ... then at most every UNKNOWN_KID_RETRY_SECS, however many made-up ids arrive.
        let after = CachedJwks {
            fetched_at: 1010,
            unknown_kid_fetch_at: Some(1010),
            ..c.clone()
        };
        assert!(!needs_refresh(Some(&after), Some("k3"), 1011));
        assert!(!needs_refresh(
            Some(&after),
            Some("k3"),
            1010 + UNKNOWN_KID_RETRY_SECS - 1
        ));
        assert!(needs_refresh(
            Some(&after),
            Some("k3"),
            1010 + UNKNOWN_KID_RETRY_SECS
        ));
        assert!(needs_refresh(Some(&c), None, 999), "clock went back");
        assert_eq!(CachedJwks::decode(&c.encode()), Some(c));
    }

    #[test]
    fn tokens_are_checked_locally() {
        let now = 1_800_000_000;
        let signer = Signer::generate("k1");
        let film = ItemId::parse("film").unwrap();
        let t = token(&signer, "film", now);
        assert_eq!(token_kid(&t).as_deref(), Some("k1"));
        assert!(check_token(&signer.jwks(), &t, &film, now).is_ok());
        let other = token(&signer, "other", now);
        assert_eq!(
            check_token(&signer.jwks(), &other, &film, now),
            Err(TokenError::WrongItem)
        );
        assert_eq!(
            check_token(&signer.jwks(), &t, &film, now + 7200),
            Err(TokenError::Expired)
        );
        let forger = Signer::generate("k1");
        assert!(check_token(&signer.jwks(), &token(&forger, "film", now), &film, now).is_err());
        assert!(check_token(&signer.jwks(), "garbage", &film, now).is_err());
    }
}
