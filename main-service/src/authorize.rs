//! May this download proceed? The edge asks; main checks the token, the purchase, the client's
//! region and the token's uses, and answers with a grant for one download session.
//!
//! The token is recognised by the digest of the one main issued, kept in its record, not by
//! main's own signature again (the edge checked that before asking; docs/interfaces.md, "How
//! main recognises a token").

use std::net::IpAddr;
use std::time::Duration;

use protocol::{AuthorizeRequest, Denial, DenialReason, DownloadToken, Grant, Source, TokenError};

use crate::AppState;
use crate::config::EdgeConfig;
use crate::records::{ItemRecord, LicenceRecord, TokenRecord};
use crate::store::SessionOutcome;

/// A denial, or a failure of main itself.
#[derive(Debug, thiserror::Error)]
pub enum AuthorizeError {
    #[error("denied: {0:?}")]
    Denied(Denial),
    #[error("internal: {0}")]
    Internal(String),
}

impl From<Denial> for AuthorizeError {
    fn from(d: Denial) -> Self {
        AuthorizeError::Denied(d)
    }
}

fn deny(reason: DenialReason, message: &str) -> Denial {
    Denial::new(reason, message)
}

/// The checks that need no state change: the token matches its record, the item exists, the
/// licence was bought by the token's recipient, and the client may receive the item where it is.
pub fn check_download(
    token: &DownloadToken,
    record: Option<&TokenRecord>,
    item: Option<&ItemRecord>,
    licence: Option<&LicenceRecord>,
    region_allowed: bool,
) -> Result<(), Denial> {
    let record = record.ok_or_else(|| {
        deny(
            DenialReason::BadToken,
            "this download link is not known; rent the item to get a new one",
        )
    })?;
    if record.account_id != token.recipient || record.item != token.item {
        return Err(deny(
            DenialReason::BadToken,
            "this download link does not match its record",
        ));
    }
    if record.revoked_at.is_some() || licence.is_some_and(|l| l.revoked_at.is_some()) {
        return Err(deny(
            DenialReason::Revoked,
            "this download link has been revoked; contact support",
        ));
    }
    item.ok_or_else(|| {
        deny(
            DenialReason::UnknownItem,
            "this item is no longer in the catalog",
        )
    })?;
    match licence {
        Some(l) if l.account_id == record.account_id && l.item == record.item => {}
        _ => {
            return Err(deny(
                DenialReason::NotPurchased,
                "this item has not been bought with this account",
            ));
        }
    }
    if !region_allowed {
        return Err(deny(
            DenialReason::RegionDenied,
            "this item is not available in your region",
        ));
    }
    Ok(())
}

/// Presigned parent URLs kept for reuse. Each is signed for 5/4 of the validity asked and handed
/// out while at least the asked validity is left, so every URL handed out is good for as long as
/// a grant says, and a busy item costs one signature per parent every quarter of that validity
/// rather than one per authorize call (presigning runs the S3 client's whole request pipeline).
#[derive(Debug, Default)]
pub struct Presigned {
    map: std::sync::Mutex<std::collections::HashMap<(String, String), (String, u64)>>,
}

/// Most URLs kept; past it, the expired go, then all.
const MAX_PRESIGNED: usize = 100_000;

impl Presigned {
    fn lock(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::HashMap<(String, String), (String, u64)>> {
        self.map
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A kept URL for `key` on `parent` good for `valid` more seconds from `now`.
    fn get(&self, parent: &str, key: &str, now: u64, valid: u64) -> Option<String> {
        self.lock()
            .get(&(parent.to_owned(), key.to_owned()))
            .filter(|(_, until)| *until >= now + valid)
            .map(|(url, _)| url.clone())
    }

    fn keep(&self, parent: &str, key: &str, url: String, until: u64, now: u64) {
        let mut map = self.lock();
        if map.len() >= MAX_PRESIGNED {
            map.retain(|_, (_, u)| *u > now);
            if map.len() >= MAX_PRESIGNED {
                map.clear();
            }
        }
        map.insert((parent.to_owned(), key.to_owned()), (url, until));
    }
}

/// Parent sources for `version` of `item`, those in `near_region` first, each URL good for at
/// least `valid`.
pub async fn sources(
    state: &AppState,
    (item, version): (&ItemRecord, u32),
    near_region: &str,
    valid: Duration,
) -> Result<Vec<Source>, String> {
    let key = item.id.object_key(version);
    let mut parents: Vec<_> = state.parents.iter().collect();
    parents.sort_by_key(|p| p.config.region != near_region);
    let mut out = Vec::with_capacity(parents.len());
    let now = protocol::unix_now();
    for p in parents {
        let name = &p.config.name;
        let url = match state.presigned.get(name, &key, now, valid.as_secs()) {
            Some(url) => url,
            None => {
                let signed_for = valid + valid / 4;
                let url = p
                    .store
                    .presign_get(&key, signed_for)
                    .await
                    .map_err(|e| e.to_string())?;
                state
                    .presigned
                    .keep(name, &key, url.clone(), now + signed_for.as_secs(), now);
                url
            }
        };
        out.push(Source {
            parent: p.config.name.clone(),
            region: p.config.region.clone(),
            url,
        });
    }
    Ok(out)
}

/// Decides an authorize request from `edge`.
pub async fn authorize(
    state: &AppState,
    edge: &EdgeConfig,
    req: &AuthorizeRequest,
) -> Result<Grant, AuthorizeError> {
    let now = (state.clock)();
    let internal = |e: &dyn std::fmt::Display| AuthorizeError::Internal(e.to_string());
    let bad_token = |e: TokenError| {
        let message = match e {
            TokenError::Expired => "this download link has expired; ask for a new one",
            TokenError::WrongItem => "this download link is for another item",
            TokenError::Invalid(_) => "this download link is not valid",
        };
        deny(DenialReason::BadToken, message)
    };
    // The record of the token this claims to be; main recognises a token it issued by the
    // digest kept there, and checks the signature only of tokens without one (the edge has
    // checked it before asking either way).
    let claimed = DownloadToken::claimed_id(&req.token)
        .ok_or_else(|| bad_token(TokenError::Invalid(String::new())))?;
    let record = state
        .store
        .token(&claimed)
        .await
        .map_err(|e| internal(&e))?;
    let token = match record.as_ref().and_then(|r| r.digest.as_deref()) {
        Some(kept) => {
            let given = protocol::sign::digest(&req.token);
            if blake3::Hash::from_hex(kept).ok() != Some(given) {
                return Err(bad_token(TokenError::Invalid(String::new())).into());
            }
            DownloadToken::read_issued(&req.token, Some(&req.item), now)
        }
        None => {
            let ring = state.signing.ring(now).await;
            DownloadToken::verify(ring.verifier(), &req.token, Some(&req.item), now)
        }
    }
    .map_err(bad_token)?;
    let ip: IpAddr = req
        .client_ip
        .parse()
        .map_err(|_| deny(DenialReason::BadToken, "the client address is not valid"))?;
    let item = state
        .store
        .item(req.item.as_str())
        .await
        .map_err(|e| internal(&e))?;
    let licence = match &record {
        Some(r) => state
            .store
            .licence(&r.licence_id)
            .await
            .map_err(|e| internal(&e))?,
        None => None,
    };
    let region_allowed = item
        .as_ref()
        .is_some_and(|i| state.geo.allows(ip, &i.regions).0);
    check_download(
        &token,
        record.as_ref(),
        item.as_ref(),
        licence.as_ref(),
        region_allowed,
    )?;
    let item = item.expect("checked above");
    // The licence's version: a download goes on with the object it was rented for when the
    // item has been ingested again since.
    let version = licence.as_ref().map_or(item.version, |l| l.item_version);
    let object = item.object(version).ok_or_else(|| {
        deny(
            DenialReason::UnknownItem,
            "the version of this item you rented is no longer available; rent it again",
        )
    })?;
    let session_key = format!("{ip}|{}", req.session_hint.as_deref().unwrap_or(""));
    let settings = &state.config.tokens;
    let (session, uses, new_session) = match state
        .store
        .start_or_resume_session(
            &token.token_id,
            &session_key,
            now,
            settings.session_idle_secs,
        )
        .await
        .map_err(|e| internal(&e))?
    {
        SessionOutcome::Existing { session, uses } => (session, uses, false),
        SessionOutcome::Started { session, uses } => (session, uses, true),
        SessionOutcome::Exhausted => {
            return Err(deny(
                DenialReason::UsesExhausted,
                "this download link has been used the maximum number of times",
            )
            .into());
        }
        SessionOutcome::NotFound => {
            return Err(deny(DenialReason::BadToken, "this download link is not known").into());
        }
    };
    let sources = sources(
        state,
        (&item, version),
        &edge.region,
        Duration::from_secs(settings.source_url_secs),
    )
    .await
    .map_err(|e| internal(&e))?;
    if new_session {
        tracing::info!(token = %token.token_id, edge = %edge.id, client = %ip, uses, "download session started");
    }
    Ok(Grant {
        session_id: session.session_id,
        new_session,
        uses_left: token.max_uses.saturating_sub(uses),
        object: crate::catalog::version_info(&item, &object),
        sources,
        expires_at: now + settings.session_idle_secs,
    })
}

#[cfg(test)]
mod tests {
    use super::Presigned;

    #[test]
    fn a_kept_url_is_handed_out_only_while_it_has_the_validity_asked() {
        let p = Presigned::default();
        assert_eq!(p.get("eu", "items/film/v1.sealed", 1000, 900), None);
        p.keep("eu", "items/film/v1.sealed", "u1".into(), 1000 + 1125, 1000);
        assert_eq!(
            p.get("eu", "items/film/v1.sealed", 1000, 900).as_deref(),
            Some("u1")
        );
        assert_eq!(
            p.get("eu", "items/film/v1.sealed", 1225, 900).as_deref(),
            Some("u1")
        );
        assert_eq!(
            p.get("eu", "items/film/v1.sealed", 1226, 900),
            None,
            "too little left"
        );
        assert_eq!(
            p.get("us", "items/film/v1.sealed", 1000, 900),
            None,
            "per parent"
        );
        assert_eq!(
            p.get("eu", "items/film/v2.sealed", 1000, 900),
            None,
            "per object"
        );
    }
}
