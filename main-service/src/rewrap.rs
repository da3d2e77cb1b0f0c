//! Rotating the key-encryption key: `main-service rewrap-keys` seals every secret kept in the
//! store — each item's content key, each generated signing key of the ring — under the current
//! key-encryption key, opening it with the previous one.
//!
//! The rotation, for an operator: give the new key as `key_encryption_key` and the old one as
//! `previous_key_encryption_key` (file, environment or Secrets Manager) and restart the mains —
//! they open secrets under either key and seal new ones under the new key; run `rewrap-keys`
//! (any number of times: what is already sealed under the new key is left alone); when it
//! reports nothing left under the old key, remove `previous_key_encryption_key`.
//!
//! Each rewrite is conditional on the record not having changed since it was read (an ingest
//! of a new version, a signing key appended), and is read again and retried when it has.

use crate::keys::Keys;
use crate::store::{Store, StoreError};

/// Rounds of "changed since read, read again" per record.
const ROUNDS: u32 = 5;

/// What a rewrap did.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Report {
    /// Content keys sealed again under the current key.
    pub items_resealed: usize,
    /// Content keys already under the current key.
    pub items_current: usize,
    /// Generated signing keys sealed again.
    pub signing_keys_resealed: usize,
    pub signing_keys_current: usize,
    /// What neither key opens (named by item id or key id): sealed under a third key, or
    /// damaged.
    pub failed: Vec<String>,
}

/// `item` with its content keys — the current version's and the kept earlier ones' — sealed
/// under the current key-encryption key: `None` when they all are already, `Err` naming the
/// item when one opens under neither key.
fn resealed_item(
    keys: &Keys,
    item: &crate::records::ItemRecord,
) -> Result<Option<crate::records::ItemRecord>, String> {
    let failed = || format!("item {}", item.id);
    let mut next = item.clone();
    let mut changed = false;
    let label = item.id.as_str();
    let wrapped = std::iter::once(&mut next.wrapped_content_key)
        .chain(next.previous.iter_mut().map(|o| &mut o.wrapped_content_key));
    for w in wrapped {
        if let Some(resealed) = keys.rewrap_secret(label, w).map_err(|_| failed())? {
            *w = resealed;
            changed = true;
        }
    }
    Ok(changed.then_some(next))
}

/// Seals every stored secret under the current key-encryption key.
pub async fn rewrap_all(store: &dyn Store, keys: &Keys) -> Result<Report, StoreError> {
    let mut report = Report::default();
    for listed in store.items().await? {
        let mut item = listed;
        for round in 1..=ROUNDS {
            let next = match resealed_item(keys, &item) {
                Ok(None) => {
                    report.items_current += 1;
                    break;
                }
                Ok(Some(next)) => next,
                Err(what) => {
                    report.failed.push(what);
                    break;
                }
            };
            if store.replace_item(&item, next).await? {
                report.items_resealed += 1;
                break;
            }
            match store.item(item.id.as_str()).await? {
                Some(again) if round < ROUNDS => item = again,
                Some(_) => report
                    .failed
                    .push(format!("item {} (kept changing)", item.id)),
                None => break,
            }
        }
    }
    for round in 1..=ROUNDS {
        let ring = store.signing_keys().await?;
        let (mut resealed, mut current, mut failed) = (0, 0, Vec::new());
        let mut next = ring.clone();
        for key in &mut next {
            let Some(wrapped) = &key.wrapped_secret else {
                continue;
            };
            match keys.rewrap_secret(&format!("signing-key/{}", key.kid), wrapped) {
                Ok(None) => current += 1,
                Ok(Some(w)) => {
                    key.wrapped_secret = Some(w);
                    resealed += 1;
                }
                Err(_) => failed.push(format!("signing key {}", key.kid)),
            }
        }
        if resealed == 0 || store.replace_signing_keys(ring.len(), next).await? {
            report.signing_keys_resealed = resealed;
            report.signing_keys_current = current;
            report.failed.extend(failed);
            break;
        }
        if round == ROUNDS {
            report
                .failed
                .push("signing-key ring (kept changing)".to_owned());
        }
    }
    Ok(report)
}
