//! Main's keys: the Ed25519 signing key (tokens, licences, manifest) and the key-encryption key
//! that wraps per-item content keys at rest. Both are generated into the data directory on first
//! start unless configured, so the local network runs on embedded defaults.

use std::path::Path;

use aes_gcm_siv::Aes256GcmSiv;
use aes_gcm_siv::aead::{Aead, KeyInit, Payload};
use protocol::{ContentKey, Signer};

/// A key problem at start-up or when opening an item's key.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("key file {path}: {message}")]
    File { path: String, message: String },
    #[error("content key of {item} cannot be unwrapped (wrong key-encryption key?)")]
    Unwrap { item: String },
}

/// The signing key and the key-encryption key (and, while it is rotated out, the previous one).
#[derive(Debug)]
pub struct Keys {
    pub signer: Signer,
    kek: Kek,
    previous: Option<Kek>,
    guest: DerivedSecret,
    site: DerivedSecret,
}

/// A secret derived from the key-encryption key, so every main derives the same: guest
/// checkouts derive their account ids and claim codes from one, the web site its tags from
/// another.
struct DerivedSecret([u8; 32]);

impl std::fmt::Debug for DerivedSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DerivedSecret(..)")
    }
}

struct Kek(Aes256GcmSiv);

impl std::fmt::Debug for Kek {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Kek(..)")
    }
}

fn read_or_create(path: &Path, make: impl FnOnce() -> Vec<u8>) -> Result<Vec<u8>, KeyError> {
    let err = |message: String| KeyError::File {
        path: path.display().to_string(),
        message,
    };
    match std::fs::read_to_string(path) {
        Ok(text) => hex::decode(text.trim()).map_err(|e| err(format!("not hex: {e}"))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let bytes = make();
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(|e| err(e.to_string()))?;
            }
            std::fs::write(path, hex::encode(&bytes)).map_err(|e| err(e.to_string()))?;
            Ok(bytes)
        }
        Err(e) => Err(err(e.to_string())),
    }
}

/// The BLAKE3 context guest checkouts' secret is derived under.
const GUEST_CONTEXT: &str = "cdn main guest checkout 2026-11";
/// The context the web site's secret is derived under (form tokens, console sessions).
const SITE_CONTEXT: &str = "cdn main web site 2026-11";

/// A key-encryption key from its hex form.
fn kek_bytes(hex_key: Option<&str>) -> Result<[u8; 32], KeyError> {
    let err = |message: String| KeyError::File {
        path: "key_encryption_key".into(),
        message,
    };
    hex::decode(hex_key.unwrap_or_default())
        .map_err(|e| err(e.to_string()))?
        .try_into()
        .map_err(|_| err("must be 32 bytes".into()))
}

/// `signer` under its key id derived from its public key, `main-` and 12 hex digits, so that
/// every key gets its own id and every main names a key alike.
pub fn with_derived_kid(signer: Signer) -> Signer {
    let kid = format!(
        "main-{}",
        &blake3::hash(signer.jwks().keys[0].x.as_bytes()).to_hex()[..12]
    );
    signer.with_kid(&kid)
}

impl Keys {
    /// Loads the keys from `data_dir` (creating them on first start); a configured
    /// key-encryption key (hex) wins over the file.
    pub fn load_or_create(data_dir: &Path, kek_hex: Option<&str>) -> Result<Self, KeyError> {
        Self::load(data_dir, kek_hex, None)
    }

    /// These keys with `previous` (hex) as the key-encryption key being rotated out: what was
    /// sealed under it still opens; everything new is sealed under the current one.
    pub fn with_previous_kek(mut self, previous: &str) -> Result<Self, KeyError> {
        let bytes = kek_bytes(Some(previous))?;
        self.previous = Some(Kek(Aes256GcmSiv::new(&bytes.into())));
        // Guest checkouts keep deriving from the key they derived from before the rotation
        // began, so that a checkout retried across the switch finds its own account.
        self.guest = DerivedSecret(blake3::derive_key(GUEST_CONTEXT, &bytes));
        self.site = DerivedSecret(blake3::derive_key(SITE_CONTEXT, &bytes));
        Ok(self)
    }

    /// [`Keys::load_or_create`], with a signing key pair given (from Secrets Manager), which
    /// wins over the file: with both keys given, nothing is read from or written to `data_dir`.
    pub fn load(
        data_dir: &Path,
        kek_hex: Option<&str>,
        signing_key: Option<&[u8]>,
    ) -> Result<Self, KeyError> {
        let signing_path = data_dir.join("signing-key.hex");
        let (raw, origin) = match signing_key {
            Some(raw) => (raw.to_vec(), crate::secrets::SIGNING_KEY_ENV.to_owned()),
            None => (
                read_or_create(&signing_path, || Signer::generate("k").to_bytes())?,
                signing_path.display().to_string(),
            ),
        };
        // The key id is derived from the public key, so a rotated key gets a new id.
        let signer = Signer::from_bytes("k", &raw).map_err(|e| KeyError::File {
            path: origin,
            message: e.to_string(),
        })?;
        let signer = with_derived_kid(signer);
        let kek: [u8; 32] = match kek_hex {
            Some(_) => kek_bytes(kek_hex)?,
            None => read_or_create(&data_dir.join("key-encryption-key.hex"), || {
                protocol::random_bytes::<32>().to_vec()
            })?
            .try_into()
            .map_err(|_| KeyError::File {
                path: "key-encryption-key.hex".into(),
                message: "must be 32 bytes".into(),
            })?,
        };
        Ok(Self {
            signer,
            kek: Kek(Aes256GcmSiv::new(&kek.into())),
            previous: None,
            guest: DerivedSecret(blake3::derive_key(GUEST_CONTEXT, &kek)),
            site: DerivedSecret(blake3::derive_key(SITE_CONTEXT, &kek)),
        })
    }

    /// 32 bytes that only a main can derive from a guest checkout's `email` and idempotency
    /// `key`: the same for a retried checkout, unguessable for anyone else.
    pub fn guest_checkout(&self, email: &str, key: &str) -> [u8; 32] {
        let mut hasher = blake3::Hasher::new_keyed(&self.guest.0);
        hasher.update(email.as_bytes());
        hasher.update(&[0]);
        hasher.update(key.as_bytes());
        *hasher.finalize().as_bytes()
    }

    /// A tag only a main can make over `parts` (the web site's form tokens and console
    /// sessions): 128 bits of a keyed BLAKE3, hex; the parts are length-prefixed so that no two
    /// lists of parts share a tag.
    pub fn site_tag(&self, parts: &[&str]) -> String {
        let mut hasher = blake3::Hasher::new_keyed(&self.site.0);
        for part in parts {
            hasher.update(&(part.len() as u64).to_le_bytes());
            hasher.update(part.as_bytes());
        }
        hex::encode(&hasher.finalize().as_bytes()[..16])
    }

    /// Seals a content key for storage; the item id is bound as associated data.
    pub fn wrap_content_key(&self, item: &str, key: &ContentKey) -> String {
        self.wrap_secret(item, &key.0)
    }

    /// Opens a stored content key.
    pub fn unwrap_content_key(&self, item: &str, wrapped: &str) -> Result<ContentKey, KeyError> {
        let err = || KeyError::Unwrap {
            item: item.to_owned(),
        };
        let key = self.unwrap_secret(item, wrapped).ok_or_else(err)?;
        Ok(ContentKey(key.try_into().map_err(|_| err())?))
    }

    /// Seals `secret` under the key-encryption key with `label` bound as associated data (an
    /// item id for content keys, `signing-key/{kid}` for signing keys): hex of nonce ||
    /// ciphertext.
    pub fn wrap_secret(&self, label: &str, secret: &[u8]) -> String {
        let nonce: [u8; 12] = protocol::random_bytes();
        let sealed = self
            .kek
            .0
            .encrypt(
                &nonce.into(),
                Payload {
                    msg: secret,
                    aad: label.as_bytes(),
                },
            )
            .expect("a short message always seals");
        hex::encode([nonce.as_slice(), &sealed].concat())
    }

    /// Opens what [`wrap_secret`](Self::wrap_secret) sealed under `label`, with the current
    /// key-encryption key or the previous one; `None` if it was sealed under another label or
    /// key, or is damaged.
    pub fn unwrap_secret(&self, label: &str, wrapped: &str) -> Option<Vec<u8>> {
        open(&self.kek, label, wrapped)
            .or_else(|| self.previous.as_ref().and_then(|p| open(p, label, wrapped)))
    }

    /// `wrapped` sealed under the current key-encryption key: `Ok(None)` when it already is,
    /// `Ok(Some(resealed))` when it was under the previous key, `Err` when neither opens it.
    pub fn rewrap_secret(&self, label: &str, wrapped: &str) -> Result<Option<String>, KeyError> {
        if open(&self.kek, label, wrapped).is_some() {
            return Ok(None);
        }
        let secret = self
            .previous
            .as_ref()
            .and_then(|p| open(p, label, wrapped))
            .ok_or_else(|| KeyError::Unwrap {
                item: label.to_owned(),
            })?;
        Ok(Some(self.wrap_secret(label, &secret)))
    }
}

/// Opens `wrapped` (hex of nonce || ciphertext) under `kek` with `label` as associated data.
fn open(kek: &Kek, label: &str, wrapped: &str) -> Option<Vec<u8>> {
    let bytes = hex::decode(wrapped).ok()?;
    if bytes.len() < 12 {
        return None;
    }
    let nonce: [u8; 12] = bytes[..12].try_into().expect("12 bytes");
    kek.0
        .decrypt(
            &nonce.into(),
            Payload {
                msg: &bytes[12..],
                aad: label.as_bytes(),
            },
        )
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_persist_and_wrap() {
        let dir = tempfile::tempdir().unwrap();
        let a = Keys::load_or_create(dir.path(), None).unwrap();
        let b = Keys::load_or_create(dir.path(), None).unwrap();
        assert_eq!(a.signer.jwks(), b.signer.jwks());
        let key = ContentKey::generate();
        let w = a.wrap_content_key("film", &key);
        assert_eq!(b.unwrap_content_key("film", &w).unwrap(), key);
        assert!(b.unwrap_content_key("other", &w).is_err());
    }

    #[test]
    fn a_previous_kek_opens_old_secrets_until_they_are_rewrapped() {
        let dir = tempfile::tempdir().unwrap();
        let (old, new) = ("0a".repeat(32), "0b".repeat(32));
        let before = Keys::load(dir.path(), Some(old.as_str()), None).unwrap();
        let key = ContentKey::generate();
        let sealed = before.wrap_content_key("film", &key);

        let after = Keys::load(dir.path(), Some(new.as_str()), None).unwrap();
        assert!(
            after.unwrap_content_key("film", &sealed).is_err(),
            "new key alone"
        );
        assert!(after.rewrap_secret("film", &sealed).is_err());
        let rotating = after.with_previous_kek(&old).unwrap();
        assert_eq!(rotating.unwrap_content_key("film", &sealed).unwrap(), key);
        let resealed = rotating.rewrap_secret("film", &sealed).unwrap().unwrap();
        assert_eq!(
            rotating.rewrap_secret("film", &resealed).unwrap(),
            None,
            "done"
        );
        let done = Keys::load(dir.path(), Some(new.as_str()), None).unwrap();
        assert_eq!(done.unwrap_content_key("film", &resealed).unwrap(), key);
        assert!(
            rotating.rewrap_secret("doc", &sealed).is_err(),
            "label bound"
        );
    }

    #[test]
    fn given_keys_win_and_touch_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let pair = Signer::generate("k").to_bytes();
        let kek = "cd".repeat(32);
        let a = Keys::load(dir.path(), Some(kek.as_str()), Some(pair.as_slice())).unwrap();
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        let b = Keys::load(dir.path(), Some(kek.as_str()), Some(pair.as_slice())).unwrap();
        assert_eq!(a.signer.jwks(), b.signer.jwks());
        let w = a.wrap_content_key("film", &ContentKey::generate());
        b.unwrap_content_key("film", &w).unwrap();
    }
}
