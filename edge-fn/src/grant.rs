//! Session grants cached at the edge: the Range requests of one download session ask main once.
//!
//! Main's grant names the session and the unix second its idle window ends
//! ([`protocol::Grant::expires_at`]); every authorize call for the session restarts that window.
//! The edge keeps the grant under a key derived from (token, session, client address), so that
//! another client or another session never rides on it, and uses it until half of the window is
//! gone; the next request then asks main again, which keeps main's session alive without
//! spending a use. A token revoked or a session ended at main is therefore still honoured here
//! for at most half the idle window (7.5 min with main's default of 900 s) — the revocation
//! bound `docs/interfaces.md` states.

use std::net::IpAddr;

use protocol::edge_cache::SessionPass;
use protocol::{Grant, ItemId};
use serde::{Deserialize, Serialize};

use crate::cache::Cache;
use crate::fill::{cache_get, cache_set};

/// The cache key of the grant for `token` in session `session` from `client`.
pub fn grant_key(token: &str, session: Option<&str>, client: IpAddr) -> String {
    let mut h = blake3::Hasher::new();
    for part in [token, session.unwrap_or(""), &client.to_string()] {
        h.update(&(part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
    format!("grant/{}", h.finalize().to_hex())
}

/// A grant as stored, with the unix second main gave it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CachedGrant {
    pub granted_at: u64,
    pub grant: Grant,
}

impl CachedGrant {
    /// Whether the grant may still be used at `now` instead of asking main: before half of its
    /// idle window has passed.
    pub fn usable(&self, now: u64) -> bool {
        now >= self.granted_at && now < self.usable_until()
    }

    /// The unix second from which main is asked again: half the idle window after the grant.
    pub fn usable_until(&self) -> u64 {
        let window = self.grant.expires_at.saturating_sub(self.granted_at);
        self.granted_at + window / 2
    }
}

/// The cached grant under `key` for `item`, if still usable at `now`.
pub fn cached_grant<C: Cache>(
    cache: &C,
    key: &str,
    item: &ItemId,
    now: u64,
) -> Option<CachedGrant> {
    let stored: CachedGrant = serde_json::from_slice(&cache_get(cache, key)?).ok()?;
    (stored.usable(now) && stored.grant.object.item == *item).then_some(stored)
}

/// Keeps `grant`, given by main at `now`, under `key`; returns it as kept.
pub fn keep_grant<C: Cache>(cache: &C, key: &str, grant: Grant, now: u64) -> CachedGrant {
    let stored = CachedGrant {
        granted_at: now,
        grant,
    };
    cache_set(
        cache,
        key,
        &serde_json::to_vec(&stored).expect("plain struct serializes"),
    );
    stored
}

/// The pass edge-host may use for the session whose grant is kept under `key`
/// ([`protocol::edge_cache::SessionPass`]): until the grant would be asked again, and never past
/// the token's own expiry `token_expires_at`.
pub fn session_pass(key: &str, kept: &CachedGrant, token_expires_at: u64) -> SessionPass {
    SessionPass {
        key: key.to_owned(),
        until: kept.usable_until().min(token_expires_at),
        object: kept.grant.object.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::MemoryCache;
    use crate::testing::TestObject;

    fn grant(o: &TestObject, expires_at: u64) -> Grant {
        Grant {
            session_id: "s".into(),
            new_session: true,
            uses_left: 2,
            object: o.info.clone(),
            sources: vec![],
            expires_at,
        }
    }

    #[test]
    fn keys_separate_tokens_sessions_and_clients() {
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let k = grant_key("tok", Some("s1"), a);
        assert!(k.starts_with("grant/"));
        assert_eq!(k, grant_key("tok", Some("s1"), a));
        assert_ne!(k, grant_key("tok", Some("s2"), a));
        assert_ne!(k, grant_key("tok", Some("s1"), b));
        assert_ne!(k, grant_key("tok2", Some("s1"), a));
        assert_ne!(grant_key("ab", Some("c"), a), grant_key("a", Some("bc"), a));
    }

    #[test]
    fn a_grant_serves_for_half_its_idle_window() {
        let o = TestObject::new("film", 5000);
        let cache = MemoryCache::default();
        let key = grant_key("tok", None, "10.0.0.1".parse().unwrap());
        assert_eq!(cached_grant(&cache, &key, &o.info.item, 1000), None);
        let kept = keep_grant(&cache, &key, grant(&o, 1900), 1000);
        assert_eq!(kept.usable_until(), 1450);
        assert_eq!(session_pass(&key, &kept, 5000).until, 1450);
        assert_eq!(
            session_pass(&key, &kept, 1200).until,
            1200,
            "the token ends first"
        );
        assert!(cached_grant(&cache, &key, &o.info.item, 1000).is_some());
        assert!(cached_grant(&cache, &key, &o.info.item, 1449).is_some());
        assert_eq!(cached_grant(&cache, &key, &o.info.item, 1450), None);
        assert_eq!(
            cached_grant(&cache, &key, &o.info.item, 999),
            None,
            "clock went back"
        );
        let other = crate::testing::TestObject::new("other", 5000);
        assert_eq!(cached_grant(&cache, &key, &other.info.item, 1000), None);
    }
}
