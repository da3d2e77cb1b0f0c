//! Licences: bind to one device and player (first binding wins), enable to start the window,
//! reactivate an ended window for a fee, and sign the document with the content key wrapped to
//! the device.

use protocol::{Licence, Window};

use crate::AppState;
use crate::payment::PaymentError;
use crate::records::{Binding, LicenceRecord, Reactivation};
use crate::store::{BindOutcome, ReactivateOutcome, Reservation, StoreError};

/// How long a signed licence stays verifiable after its window (so players can explain expiry
/// for a month); a retired signing key stays published at least this long past the window.
pub const SIGNATURE_GRACE_SECS: u64 = 30 * 24 * 3600;

/// Why a licence operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum LicenceOpError {
    #[error("no such licence")]
    NotFound,
    #[error("this licence is bound to another device or player")]
    BoundElsewhere,
    #[error("bind the licence to this device before enabling it")]
    NotBound,
    #[error("the viewing window has ended; rent again for a new licence")]
    Expired,
    #[error("the rental period to start watching ended; rent again for a new licence")]
    Lapsed,
    #[error("this licence has been revoked; contact support")]
    Revoked,
    #[error("{0}")]
    Invalid(&'static str),
    #[error("this licence's viewing window has not started yet; enable it instead")]
    NotEnabled,
    #[error(
        "this licence's viewing window is still running (it ends at unix {ends}); reactivate it once it has ended"
    )]
    WindowRunning { ends: u64 },
    #[error(
        "this licence was just reactivated by another request; its new window ends at unix {ends}"
    )]
    AlreadyReactivated { ends: u64 },
    #[error("a reactivation of this licence is being processed; retry shortly")]
    InProgress,
    #[error(
        "the version of this item the licence was rented for is no longer available; rent it again"
    )]
    VersionGone,
    #[error(transparent)]
    Payment(#[from] PaymentError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("internal key failure: {0}")]
    Keys(String),
}

async fn own_licence(
    state: &AppState,
    account_id: &str,
    licence_id: &str,
) -> Result<LicenceRecord, LicenceOpError> {
    // Someone else's licence id reads as "not found": ids are not to be probed.
    let licence = state
        .store
        .licence(licence_id)
        .await?
        .filter(|l| l.account_id == account_id)
        .ok_or(LicenceOpError::NotFound)?;
    if licence.revoked_at.is_some() {
        return Err(LicenceOpError::Revoked);
    }
    Ok(licence)
}

/// Whether the account's licence `licence_id` stands (not revoked).
pub async fn status(
    state: &AppState,
    account_id: &str,
    licence_id: &str,
) -> Result<(), LicenceOpError> {
    own_licence(state, account_id, licence_id).await.map(|_| ())
}

fn valid_id(s: &str) -> bool {
    !s.is_empty() && s.len() <= 128 && s.bytes().all(|b| b.is_ascii_graphic())
}

/// Binds the licence to this device and player and returns the signed (not yet enabled) licence.
pub async fn bind(
    state: &AppState,
    account_id: &str,
    licence_id: &str,
    binding: Binding,
) -> Result<String, LicenceOpError> {
    if !valid_id(&binding.device_id) || !valid_id(&binding.player_id) {
        return Err(LicenceOpError::Invalid(
            "device_id and player_id must be 1 to 128 visible characters",
        ));
    }
    protocol::licence::hex32(&binding.device_public_key)
        .map_err(|_| LicenceOpError::Invalid("device_public_key must be 64 hex characters"))?;
    own_licence(state, account_id, licence_id).await?;
    let lic = match state.store.bind_licence(licence_id, binding).await? {
        BindOutcome::Bound(l) => *l,
        BindOutcome::BoundElsewhere => return Err(LicenceOpError::BoundElsewhere),
        BindOutcome::NotFound => return Err(LicenceOpError::NotFound),
    };
    sign(state, &lic).await
}

/// Starts the viewing window (or returns the window already running) and returns the licence
/// with the content key wrapped to the bound device.
pub async fn enable(
    state: &AppState,
    account_id: &str,
    licence_id: &str,
    device_id: &str,
    player_id: &str,
) -> Result<String, LicenceOpError> {
    let now = (state.clock)();
    let lic = own_licence(state, account_id, licence_id).await?;
    match &lic.binding {
        None => return Err(LicenceOpError::NotBound),
        Some(b) if b.device_id != device_id || b.player_id != player_id => {
            return Err(LicenceOpError::BoundElsewhere);
        }
        Some(_) => {}
    }
    if lic.window.is_none() && lic.enable_by.is_some_and(|by| now >= by) {
        return Err(LicenceOpError::Lapsed);
    }
    let window = Window {
        start: now,
        end: now + lic.policy.window_secs,
    };
    let lic = state
        .store
        .enable_licence(licence_id, window)
        .await?
        .ok_or(LicenceOpError::NotFound)?;
    if lic.window.is_some_and(|w| now >= w.end) {
        return Err(LicenceOpError::Expired);
    }
    sign(state, &lic).await
}

/// A paid reactivation and the licence signed with its window.
#[derive(Debug)]
pub struct Reactivated {
    pub licence: String,
    pub reactivation: Reactivation,
}

/// Starts a new viewing window on a licence whose window has ended, charging `card` the item's
/// reactivation fee once per `key` (a checked `Idempotency-Key`): a retry with the same key
/// returns the same reactivation and charges nothing. Reactivations of one licence are
/// serialised; one that loses a race, or whose write fails, is refunded.
pub async fn reactivate(
    state: &AppState,
    account_id: &str,
    licence_id: &str,
    card: &str,
    key: &str,
) -> Result<Reactivated, LicenceOpError> {
    let now = (state.clock)();
    let key = format!("{account_id}/{key}");
    let lic = own_licence(state, account_id, licence_id).await?;
    if let Some(done) = already(state, &lic, &key).await? {
        return Ok(done);
    }
    let window = lic.window.ok_or(LicenceOpError::NotEnabled)?;
    if now < window.end {
        return Err(LicenceOpError::WindowRunning { ends: window.end });
    }
    // One reactivation of a licence at a time (a space never occurs in an idempotency key, so
    // the lock cannot collide with a purchase's).
    let lock = format!("{licence_id} reactivate");
    match state.store.reserve_purchase(&lock, now).await? {
        Reservation::Reserved => {}
        Reservation::InProgress | Reservation::Completed(_) => {
            return Err(LicenceOpError::InProgress);
        }
    }
    let result = reactivate_locked(state, account_id, licence_id, card, &key, window.end).await;
    if let Err(e) = state.store.release_purchase(&lock).await {
        tracing::error!(licence = licence_id, error = %e, "could not release a reactivation lock; it will lapse");
    }
    result
}

/// The reactivation `key` recorded on `lic`, signed again, if there is one.
async fn already(
    state: &AppState,
    lic: &LicenceRecord,
    key: &str,
) -> Result<Option<Reactivated>, LicenceOpError> {
    match lic.reactivations.iter().find(|r| r.key == key) {
        Some(r) => Ok(Some(Reactivated {
            licence: sign(state, lic).await?,
            reactivation: r.clone(),
        })),
        None => Ok(None),
    }
}

/// The reactivation under the licence's lock: look again, charge, record or refund.
async fn reactivate_locked(
    state: &AppState,
    account_id: &str,
    licence_id: &str,
    card: &str,
    key: &str,
    ended: u64,
) -> Result<Reactivated, LicenceOpError> {
    let now = (state.clock)();
    let lic = own_licence(state, account_id, licence_id).await?;
    if let Some(done) = already(state, &lic, key).await? {
        return Ok(done);
    }
    match lic.window {
        Some(w) if w.end == ended => {}
        Some(w) => return Err(LicenceOpError::AlreadyReactivated { ends: w.end }),
        None => return Err(LicenceOpError::NotEnabled),
    }
    let item = state
        .store
        .item(lic.item.as_str())
        .await?
        .ok_or(LicenceOpError::NotFound)?;
    let fee = item
        .policy
        .reactivation_cents
        .unwrap_or(state.config.licences.reactivation_fee_cents);
    let attempt = format!("{key}/reactivate/{}", protocol::random_id());
    let charge = state.payments.charge(&attempt, card, fee)?;
    let reactivation = Reactivation {
        key: key.to_owned(),
        charge_id: charge.charge_id.clone(),
        amount_cents: charge.amount_cents,
        at: now,
        window: Window {
            start: now,
            end: now + lic.policy.window_secs,
        },
        after_end: ended,
    };
    let outcome = state
        .store
        .reactivate_licence(licence_id, ended, reactivation.clone())
        .await;
    let refused = match outcome {
        Ok(ReactivateOutcome::Reactivated(lic)) => {
            tracing::info!(licence = licence_id, charge = %charge.charge_id, "licence reactivated");
            return Ok(Reactivated {
                licence: sign(state, &lic).await?,
                reactivation,
            });
        }
        Ok(ReactivateOutcome::Moved(lic)) if lic.revoked_at.is_some() => LicenceOpError::Revoked,
        Ok(ReactivateOutcome::Moved(lic)) => LicenceOpError::AlreadyReactivated {
            ends: lic.window.map_or(0, |w| w.end),
        },
        Ok(ReactivateOutcome::NotFound) => LicenceOpError::NotFound,
        Err(e) => e.into(),
    };
    // A charge never stands alone.
    if let Err(r) = state.payments.refund(&charge.charge_id) {
        tracing::error!(charge = %charge.charge_id, error = %refused, refund_error = %r, "reactivation failed after the charge and the refund failed; reconcile this charge");
    }
    Err(refused)
}

async fn sign(state: &AppState, lic: &LicenceRecord) -> Result<String, LicenceOpError> {
    let now = (state.clock)();
    let item = state
        .store
        .item(lic.item.as_str())
        .await?
        .ok_or(LicenceOpError::NotFound)?;
    let binding = lic.binding.as_ref().ok_or(LicenceOpError::NotBound)?;
    // The version the licence was rented for, whatever has been ingested since.
    let object = item
        .object(lic.item_version)
        .ok_or(LicenceOpError::VersionGone)?;
    let mut doc = Licence {
        licence_id: lic.licence_id.clone(),
        item: lic.item.clone(),
        key_version: object.key_version,
        object_root: object.root.clone(),
        account: lic.account_id.clone(),
        device_id: binding.device_id.clone(),
        player_id: binding.player_id.clone(),
        policy: lic.policy.clone(),
        window: lic.window,
        wrapped_key: None,
    };
    if lic.window.is_some() {
        let key = state
            .keys
            .unwrap_content_key(item.id.as_str(), &object.wrapped_content_key)
            .map_err(|e| LicenceOpError::Keys(e.to_string()))?;
        let device = protocol::licence::hex32(&binding.device_public_key)
            .map_err(|e| LicenceOpError::Keys(e.to_string()))?;
        doc.wrap_key(&key, &device)
            .map_err(|e| LicenceOpError::Keys(e.to_string()))?;
    }
    let not_after = lic.window.map_or(now, |w| w.end) + SIGNATURE_GRACE_SECS;
    let ring = state.signing.ring(now).await;
    doc.sign(ring.signer(now), now, not_after)
        .map_err(|e| LicenceOpError::Keys(e.to_string()))
}
