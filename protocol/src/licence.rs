//! Licences: the signed right to play one item on one device with one player, and the content
//! key wrapped to that device.
//!
//! Key wrapping: an ephemeral X25519 key agrees a secret with the device's public key; HKDF-SHA256
//! (salt = ephemeral public || device public, info = label || context) derives a one-time key;
//! AES-256-GCM-SIV seals the content key under it with a zero nonce (the key is used once) and the
//! context as associated data, so a wrapped key cannot be moved to another licence.

use aes_gcm_siv::Aes256GcmSiv;
use aes_gcm_siv::aead::{Aead, KeyInit, Payload};
use hkdf::Hkdf;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use x25519_dalek::{PublicKey, StaticSecret};

use crate::ids::ItemId;
use crate::seal::ContentKey;
use crate::sign::{Audience, Envelope, SignError, Signer, Verifier};

const WRAP_INFO: &[u8] = b"cdn licence key wrap v1";

/// Default viewing window once enabled: 24 hours.
pub const DEFAULT_WINDOW_SECS: u64 = 24 * 3600;

/// How a licence may be used once enabled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    /// Length of the viewing window, in seconds.
    pub window_secs: u64,
    /// Plays allowed inside the window; `None` is unlimited.
    pub max_plays: Option<u32>,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            window_secs: DEFAULT_WINDOW_SECS,
            max_plays: None,
        }
    }
}

/// The viewing window of an enabled licence, unix seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    pub start: u64,
    pub end: u64,
}

/// A content key wrapped to one device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WrappedKey {
    /// Hex of the ephemeral X25519 public key.
    pub ephemeral_public: String,
    /// Hex of the sealed content key (32 bytes + 16-byte tag).
    pub sealed_key: String,
}

/// The licence document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Licence {
    pub licence_id: String,
    pub item: ItemId,
    pub key_version: u32,
    /// Hex digest root of the sealed object this licence opens.
    pub object_root: String,
    pub account: String,
    pub device_id: String,
    pub player_id: String,
    pub policy: Policy,
    /// Set once enabled.
    pub window: Option<Window>,
    /// Set once enabled.
    pub wrapped_key: Option<WrappedKey>,
}

/// Why a licence cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LicenceError {
    #[error("the licence signature is not valid: {0}")]
    Signature(String),
    #[error("this licence is bound to another device or player")]
    WrongDevice,
    #[error("the licence is not enabled yet; enable it to start the viewing window")]
    NotEnabled,
    #[error("the viewing window ended at unix time {end}; rent again for a new licence")]
    Expired { end: u64 },
    #[error("the viewing window has not started yet")]
    NotYetValid,
    #[error("the content key could not be unwrapped with this device's key")]
    Unwrap,
    #[error("bad key material: {0}")]
    BadKey(String),
}

impl Licence {
    /// The associated data that binds a wrapped key to this licence.
    fn wrap_context(&self) -> Vec<u8> {
        format!(
            "{}|{}|{}|{}",
            self.licence_id, self.item, self.key_version, self.device_id
        )
        .into_bytes()
    }

    /// Signs the licence. The signature stays valid until `not_after`, which should lie well past
    /// the window so that a player can still read an expired licence and say why it cannot play.
    pub fn sign(
        &self,
        signer: &Signer,
        issued_at: u64,
        not_after: u64,
    ) -> Result<String, SignError> {
        let envelope = Envelope {
            audience: Audience::Licence,
            issued_at,
            expires_at: not_after,
            subject: Some(self.account.clone()),
            id: Some(self.licence_id.clone()),
        };
        signer.sign(&envelope, self)
    }

    /// Verifies a signed licence at unix second `now` (the window is checked by
    /// [`Licence::key_for`]).
    pub fn verify(verifier: &Verifier, signed: &str, now: u64) -> Result<Self, LicenceError> {
        verifier
            .verify::<Licence>(Audience::Licence, signed, now)
            .map(|v| v.claims)
            .map_err(|e| LicenceError::Signature(e.to_string()))
    }

    /// Wraps `key` to the device's X25519 public key.
    pub fn wrap_key(
        &mut self,
        key: &ContentKey,
        device_public: &[u8; 32],
    ) -> Result<(), LicenceError> {
        let eph = StaticSecret::from(crate::random_bytes::<32>());
        let eph_public = PublicKey::from(&eph);
        let shared = eph.diffie_hellman(&PublicKey::from(*device_public));
        let cipher = wrap_cipher(shared.as_bytes(), eph_public.as_bytes(), device_public)?;
        let ctx = self.wrap_context();
        let sealed = cipher
            .encrypt(
                &Default::default(),
                Payload {
                    msg: &key.0,
                    aad: &ctx,
                },
            )
            .map_err(|_| LicenceError::BadKey("wrap failed".into()))?;
        self.wrapped_key = Some(WrappedKey {
            ephemeral_public: hex::encode(eph_public.as_bytes()),
            sealed_key: hex::encode(sealed),
        });
        Ok(())
    }

    /// Checks device, player and window at unix second `now`, then unwraps the content key.
    pub fn key_for(
        &self,
        device_id: &str,
        player_id: &str,
        device_secret: &[u8; 32],
        now: u64,
    ) -> Result<ContentKey, LicenceError> {
        if self.device_id != device_id || self.player_id != player_id {
            return Err(LicenceError::WrongDevice);
        }
        let (Some(window), Some(wrapped)) = (self.window, &self.wrapped_key) else {
            return Err(LicenceError::NotEnabled);
        };
        if now >= window.end {
            return Err(LicenceError::Expired { end: window.end });
        }
        if now + 300 < window.start {
            return Err(LicenceError::NotYetValid);
        }
        let eph: [u8; 32] = hex32(&wrapped.ephemeral_public)?;
        let secret = StaticSecret::from(*device_secret);
        let device_public = PublicKey::from(&secret);
        let shared = secret.diffie_hellman(&PublicKey::from(eph));
        let cipher = wrap_cipher(shared.as_bytes(), &eph, device_public.as_bytes())?;
        let sealed =
            hex::decode(&wrapped.sealed_key).map_err(|e| LicenceError::BadKey(e.to_string()))?;
        let ctx = self.wrap_context();
        let key = cipher
            .decrypt(
                &Default::default(),
                Payload {
                    msg: &sealed,
                    aad: &ctx,
                },
            )
            .map_err(|_| LicenceError::Unwrap)?;
        Ok(ContentKey(
            key.try_into().map_err(|_| LicenceError::Unwrap)?,
        ))
    }
}

fn wrap_cipher(
    shared: &[u8; 32],
    eph_public: &[u8; 32],
    device_public: &[u8; 32],
) -> Result<Aes256GcmSiv, LicenceError> {
    let salt = [eph_public.as_slice(), device_public.as_slice()].concat();
    let mut okm = [0u8; 32];
    Hkdf::<Sha256>::new(Some(&salt), shared)
        .expand(WRAP_INFO, &mut okm)
        .map_err(|e| LicenceError::BadKey(e.to_string()))?;
    Ok(Aes256GcmSiv::new(&okm.into()))
}

/// Parses 32 bytes of hex.
pub fn hex32(s: &str) -> Result<[u8; 32], LicenceError> {
    hex::decode(s)
        .ok()
        .and_then(|v| v.try_into().ok())
        .ok_or_else(|| LicenceError::BadKey("expected 32 bytes of hex".into()))
}

/// A device's X25519 key pair, kept by the player.
#[derive(Clone)]
pub struct DeviceKey(StaticSecret);

impl std::fmt::Debug for DeviceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DeviceKey(public {})", hex::encode(self.public()))
    }
}

impl DeviceKey {
    /// A fresh random device key.
    pub fn generate() -> Self {
        Self(StaticSecret::from(crate::random_bytes::<32>()))
    }
    /// The key from its secret bytes.
    pub fn from_secret(secret: [u8; 32]) -> Self {
        Self(StaticSecret::from(secret))
    }
    /// The secret bytes, for storage on the device.
    pub fn secret(&self) -> [u8; 32] {
        self.0.to_bytes()
    }
    /// The public key to send to main when binding.
    pub fn public(&self) -> [u8; 32] {
        PublicKey::from(&self.0).to_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn licence() -> Licence {
        Licence {
            licence_id: "lic-1".into(),
            item: ItemId::parse("film").unwrap(),
            key_version: 1,
            object_root: "00".repeat(32),
            account: "acct".into(),
            device_id: "dev-1".into(),
            player_id: "player-1".into(),
            policy: Policy::default(),
            window: Some(Window {
                start: 1000,
                end: 1000 + DEFAULT_WINDOW_SECS,
            }),
            wrapped_key: None,
        }
    }

    #[test]
    fn wrap_unwrap_and_window() {
        let device = DeviceKey::generate();
        let key = ContentKey::generate();
        let mut lic = licence();
        lic.wrap_key(&key, &device.public()).unwrap();
        let signer = Signer::generate("k");
        let signed = lic.sign(&signer, 1000, 1_000_000).unwrap();
        let back = Licence::verify(&signer.verifier(), &signed, 2000).unwrap();
        assert_eq!(
            back.key_for("dev-1", "player-1", &device.secret(), 2000)
                .unwrap(),
            key
        );
        assert_eq!(
            back.key_for(
                "dev-1",
                "player-1",
                &device.secret(),
                1000 + DEFAULT_WINDOW_SECS
            ),
            Err(LicenceError::Expired {
                end: 1000 + DEFAULT_WINDOW_SECS
            })
        );
        assert_eq!(
            back.key_for("dev-2", "player-1", &device.secret(), 2000),
            Err(LicenceError::WrongDevice)
        );
        let other = DeviceKey::generate();
        assert_eq!(
            back.key_for("dev-1", "player-1", &other.secret(), 2000),
            Err(LicenceError::Unwrap)
        );
    }

    #[test]
    fn a_wrapped_key_cannot_move_to_another_licence() {
        let device = DeviceKey::generate();
        let mut a = licence();
        a.wrap_key(&ContentKey::generate(), &device.public())
            .unwrap();
        let mut b = licence();
        b.licence_id = "lic-2".into();
        b.wrapped_key = a.wrapped_key.clone();
        assert_eq!(
            b.key_for("dev-1", "player-1", &device.secret(), 2000),
            Err(LicenceError::Unwrap)
        );
    }
}
