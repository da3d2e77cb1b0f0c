//! Signing-key rotation: the ring of keys main signs tokens, licences and the manifest with.
//!
//! - **Epoch 0** is the configured key (the data directory's `signing-key.hex` or Secrets
//!   Manager's). The first start records when it began to sign.
//! - Every `signing.rotate_after_secs` (30 days by default) a main appends the next key to the
//!   ring in the store, with its secret sealed under the key-encryption key, to sign from
//!   `signing.publish_ahead_secs` later. Until then it is only **published** in the JWKS, so
//!   edges and players that cache the JWKS know it before the first token signed with it
//!   arrives. Appending is conditional on the ring's length, so several mains (or Lambda
//!   instances) sharing the store add one key per rotation between them.
//! - A key stops signing when the next one starts, and stays published — and accepted by main's
//!   own checks — for [`Settings::retain_secs`] more: the longest anything it signed stays valid
//!   (a download token, a licence and its signature grace, a manifest). Then it is retired.
//!
//! Each main reads the ring again at most every [`Settings::refresh_secs`]; a failed read is
//! logged and the ring in memory is kept, so a store outage never stops signing. The policy —
//! which key signs, which are published, when the next is due — is plain functions over dates,
//! unit-tested below.

use std::sync::{Arc, RwLock};

use protocol::{Jwks, Signer, Verifier};

use crate::keys::Keys;
use crate::records::SigningKeyRecord;
use crate::store::{Store, StoreError};

/// What the ring needs from the configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// 0: never rotate (the configured key signs alone).
    pub rotate_after_secs: u64,
    pub publish_ahead_secs: u64,
    /// How long a key stays published after it stopped signing.
    pub retain_secs: u64,
    /// How often a main reads the ring again.
    pub refresh_secs: u64,
}

impl Settings {
    /// From main's configuration: a key is kept as long as the longest-lived thing it signed —
    /// a download token, a licence (its longest window plus its signature grace), a manifest.
    pub fn from_config(config: &crate::Config) -> Self {
        let longest_window = config
            .licences
            .window_secs
            .max(crate::ingest::MAX_WINDOW_SECS);
        let retain_secs = config
            .tokens
            .ttl_secs
            .max(longest_window + crate::licences::SIGNATURE_GRACE_SECS)
            .max(crate::http::MANIFEST_VALID_SECS);
        let ahead = config.signing.publish_ahead_secs;
        Self {
            rotate_after_secs: config.signing.rotate_after_secs,
            publish_ahead_secs: ahead,
            retain_secs,
            refresh_secs: (ahead / 4).clamp(1, 60),
        }
    }
}

/// When the key after one that signs from `newest_active_from` should start signing, if it is
/// time to append it now: once `now` is within `publish_ahead` of the key's rotation date. It
/// starts at that date, or a full `publish_ahead` from now if the rotation is late.
pub fn next_key_due(newest_active_from: u64, now: u64, s: &Settings) -> Option<u64> {
    if s.rotate_after_secs == 0 {
        return None;
    }
    let rotation = newest_active_from.saturating_add(s.rotate_after_secs);
    (now.saturating_add(s.publish_ahead_secs) >= rotation)
        .then(|| rotation.max(now.saturating_add(s.publish_ahead_secs)))
}

/// The index of the key that signs at `now`: the newest whose `active_from` has come (the
/// first key if none has).
pub fn signing_index<I>(active_from: I, now: u64) -> usize
where
    I: IntoIterator<Item = u64>,
    I::IntoIter: DoubleEndedIterator + ExactSizeIterator,
{
    active_from.into_iter().rposition(|a| a <= now).unwrap_or(0)
}

/// Whether each key is published at `now`: all but those that stopped signing (the next key
/// became active) more than `retain_secs` ago.
pub fn published(active_from: &[u64], now: u64, retain_secs: u64) -> Vec<bool> {
    (0..active_from.len())
        .map(|i| {
            active_from
                .get(i + 1)
                .is_none_or(|next| *next > now || now - next < retain_secs)
        })
        .collect()
}

/// One key of the ring in memory.
#[derive(Debug)]
pub struct RingKey {
    pub epoch: u64,
    pub active_from: u64,
    pub signer: Signer,
}

/// The ring as one main holds it: the keys, the published set as a JWKS and a verifier of it.
#[derive(Debug)]
pub struct Ring {
    keys: Vec<RingKey>,
    jwks: Jwks,
    verifier: Verifier,
    /// When it was read (0: not yet).
    read_at: u64,
}

impl Ring {
    fn new(keys: Vec<RingKey>, now: u64, retain_secs: u64, read_at: u64) -> Self {
        let starts: Vec<u64> = keys.iter().map(|k| k.active_from).collect();
        let shown = published(&starts, now, retain_secs);
        let jwks = Jwks {
            keys: keys
                .iter()
                .zip(&shown)
                .filter(|(_, shown)| **shown)
                .flat_map(|(k, _)| k.signer.jwks().keys)
                .collect(),
        };
        let verifier = Verifier::from_jwks(&jwks).expect("own keys are valid");
        Self {
            keys,
            jwks,
            verifier,
            read_at,
        }
    }

    /// The key that signs at `now`.
    pub fn signer(&self, now: u64) -> &Signer {
        let starts = self.keys.iter().map(|k| k.active_from);
        &self.keys[signing_index(starts, now)].signer
    }

    /// The published keys.
    pub fn jwks(&self) -> &Jwks {
        &self.jwks
    }

    /// Checks signatures by the published keys.
    pub fn verifier(&self) -> &Verifier {
        &self.verifier
    }

    /// Every key, oldest first.
    pub fn keys(&self) -> &[RingKey] {
        &self.keys
    }
}

/// Main's signing keys: the ring in memory, read again from the store when due.
pub struct SigningKeys {
    settings: Settings,
    keys: Arc<Keys>,
    store: Arc<dyn Store>,
    ring: RwLock<Arc<Ring>>,
    reading: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for SigningKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKeys")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// A copy of `signer` (the configured key).
fn copy(signer: &Signer) -> Signer {
    Signer::from_bytes(signer.kid(), &signer.to_bytes()).expect("a key's own bytes load")
}

impl SigningKeys {
    /// The ring of the configured key alone, read from the store at the first use.
    pub fn new(settings: Settings, keys: Arc<Keys>, store: Arc<dyn Store>) -> Self {
        let base = RingKey {
            epoch: 0,
            active_from: 0,
            signer: copy(&keys.signer),
        };
        let ring = Ring::new(vec![base], 0, settings.retain_secs, 0);
        Self {
            settings,
            keys,
            store,
            ring: RwLock::new(Arc::new(ring)),
            reading: tokio::sync::Mutex::new(()),
        }
    }

    /// The ring at `now`, read again first when it is due (by one caller; the others go on with
    /// the ring in memory meanwhile).
    pub async fn ring(&self, now: u64) -> Arc<Ring> {
        let held = self.ring.read().expect("not poisoned").clone();
        let due = held.read_at == 0 || now >= held.read_at + self.settings.refresh_secs;
        if self.settings.rotate_after_secs == 0 || !due {
            return held;
        }
        let Ok(_reading) = self.reading.try_lock() else {
            return held;
        };
        match self.read(now, false).await {
            Ok(ring) => ring,
            Err(e) => {
                tracing::warn!(error = %e, "reading the signing-key ring; keeping the keys in memory");
                held
            }
        }
    }

    /// Appends the next key now (an operator's rotation), to sign from `publish_ahead_secs`
    /// from now; the ring after it.
    pub async fn rotate_now(&self, now: u64) -> Result<Arc<Ring>, StoreError> {
        let _reading = self.reading.lock().await;
        self.read(now, true).await
    }

    /// Reads the ring from the store, records epoch 0 on the first start and appends the next
    /// key when it is due (or `force`d), then keeps the ring in memory.
    async fn read(&self, now: u64, force: bool) -> Result<Arc<Ring>, StoreError> {
        let mut records = self.store.signing_keys().await?;
        if records.is_empty() {
            let base = SigningKeyRecord {
                epoch: 0,
                kid: self.keys.signer.kid().to_owned(),
                active_from: now,
                created_at: now,
                wrapped_secret: None,
            };
            self.store.add_signing_key(0, base).await?;
            records = self.store.signing_keys().await?;
        }
        let newest = records.last().map_or(now, |r| r.active_from);
        let due = match force {
            true => Some(now.saturating_add(self.settings.publish_ahead_secs)),
            false => next_key_due(newest, now, &self.settings),
        };
        if let Some(active_from) = due {
            let signer = crate::keys::with_derived_kid(Signer::generate("k"));
            let record = SigningKeyRecord {
                epoch: records.last().map_or(0, |r| r.epoch + 1),
                kid: signer.kid().to_owned(),
                active_from,
                created_at: now,
                wrapped_secret: Some(
                    self.keys
                        .wrap_secret(&format!("signing-key/{}", signer.kid()), &signer.to_bytes()),
                ),
            };
            let (epoch, kid) = (record.epoch, record.kid.clone());
            if self.store.add_signing_key(records.len(), record).await? {
                tracing::info!(epoch, kid, active_from, "signing key added to the ring");
            }
            records = self.store.signing_keys().await?;
        }
        let ring = Arc::new(Ring::new(
            self.open(&records),
            now,
            self.settings.retain_secs,
            now,
        ));
        *self.ring.write().expect("not poisoned") = ring.clone();
        Ok(ring)
    }

    /// The ring's keys from its records; a key that cannot be opened (sealed under another
    /// key-encryption key) is left out and logged.
    fn open(&self, records: &[SigningKeyRecord]) -> Vec<RingKey> {
        let mut keys = Vec::with_capacity(records.len());
        for r in records {
            let signer = match &r.wrapped_secret {
                None => {
                    if r.kid != self.keys.signer.kid() {
                        tracing::warn!(recorded = %r.kid, configured = self.keys.signer.kid(), "the configured signing key is not the one the ring recorded as epoch 0; using the configured one");
                    }
                    copy(&self.keys.signer)
                }
                Some(wrapped) => {
                    let label = format!("signing-key/{}", r.kid);
                    let opened = self
                        .keys
                        .unwrap_secret(&label, wrapped)
                        .and_then(|raw| Signer::from_bytes(&r.kid, &raw).ok());
                    match opened {
                        Some(s) => s,
                        None => {
                            tracing::error!(epoch = r.epoch, kid = %r.kid, "a signing key of the ring cannot be opened with the key-encryption key; leaving it out");
                            continue;
                        }
                    }
                }
            };
            keys.push(RingKey {
                epoch: r.epoch,
                active_from: r.active_from,
                signer,
            });
        }
        if keys.is_empty() {
            keys.push(RingKey {
                epoch: 0,
                active_from: 0,
                signer: copy(&self.keys.signer),
            });
        }
        keys
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: u64 = 86_400;
    const S: Settings = Settings {
        rotate_after_secs: 30 * DAY,
        publish_ahead_secs: 3600,
        retain_secs: 60 * DAY,
        refresh_secs: 60,
    };

    #[test]
    fn the_next_key_is_due_a_publish_ahead_before_its_date() {
        let start = 1_000 * DAY;
        assert_eq!(next_key_due(start, start, &S), None);
        assert_eq!(next_key_due(start, start + 30 * DAY - 3601, &S), None);
        // Appended an hour ahead, to sign from the rotation date.
        assert_eq!(
            next_key_due(start, start + 30 * DAY - 3600, &S),
            Some(start + 30 * DAY)
        );
        // Late (no main ran for a while): still published a full hour before it signs.
        assert_eq!(
            next_key_due(start, start + 40 * DAY, &S),
            Some(start + 40 * DAY + 3600)
        );
        let never = Settings {
            rotate_after_secs: 0,
            ..S
        };
        assert_eq!(next_key_due(start, start + 400 * DAY, &never), None);
    }

    #[test]
    fn the_newest_active_key_signs() {
        let starts = [0, 100, 200];
        assert_eq!(signing_index(starts, 50), 0);
        assert_eq!(signing_index(starts, 100), 1);
        assert_eq!(signing_index(starts, 199), 1);
        assert_eq!(signing_index(starts, 10_000), 2);
    }

    #[test]
    fn keys_stay_published_while_what_they_signed_is_valid() {
        let starts = [0, 100, 200];
        // The next key (200) is published before it signs.
        assert_eq!(published(&starts, 150, 1000), [true, true, true]);
        // Key 0 stopped signing at 100: published until 100 + retain.
        assert_eq!(published(&starts, 1099, 1000), [true, true, true]);
        assert_eq!(published(&starts, 1100, 1000), [false, true, true]);
        assert_eq!(published(&starts, 1200, 1000), [false, false, true]);
    }
}
