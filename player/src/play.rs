//! Playback: check the licence, unwrap the content key, decrypt the downloaded object.
//!
//! Every check happens in [`Playback::open`], before any output exists: main's signature (with
//! the cached JWKS, refreshed when it does not know the key), the item, this device and player,
//! the viewing window at the given time, and that the downloaded file is the object the licence
//! opens. [`Playback::write_to`] then streams the plaintext chunk by chunk, verifying each chunk's
//! digest and tag, so memory stays at one chunk whatever the file size.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use protocol::{ItemId, Jwks, Licence, LicenceError, Opener, SealedError, Verifier};

use crate::api::ApiError;
use crate::clock::format_unix;
use crate::store::Device;

/// Why the player will not play.
#[derive(Debug, thiserror::Error)]
pub enum PlayError {
    #[error(
        "the viewing window ended at {}; `player reactivate ITEM` buys a new window, or rent again for a new licence",
        format_unix(*end)
    )]
    Expired { end: u64 },
    #[error("the licence is not enabled yet; run `player enable ITEM` to start the viewing window")]
    NotEnabled,
    #[error("the viewing window starts at {}; check this computer's clock", format_unix(*start))]
    NotYetValid { start: u64 },
    #[error("this licence is bound to another device or player; rent again on this one")]
    WrongDevice,
    #[error("the saved licence is for item {licence_item}, not {item}")]
    WrongItem { item: String, licence_item: String },
    #[error("the downloaded file is not the object this licence opens; download it again")]
    WrongObject,
    #[error("the licence is not signed by main: {0}")]
    BadSignature(String),
    #[error("cannot fetch main's signing keys to check the licence: {0}")]
    Jwks(ApiError),
    #[error("the licence cannot be used on this device: {0}")]
    Licence(LicenceError),
    #[error("cannot read the downloaded file {path}: {error}")]
    Object { path: PathBuf, error: io::Error },
    #[error("the downloaded file is damaged ({0}); download it again")]
    Sealed(SealedError),
    #[error("cannot write the output: {0}")]
    Output(io::Error),
}

/// Verifies `signed` at `now` with the cached key set, fetching a fresh one when there is none
/// or it lacks the licence's key (main rotated it). Returns the licence and, when fetched, the
/// key set to cache.
pub fn verify_licence(
    cached: Option<Jwks>,
    fetch: impl FnOnce() -> Result<Jwks, ApiError>,
    signed: &str,
    now: u64,
) -> Result<(Licence, Option<Jwks>), PlayError> {
    let kid = Verifier::token_kid(signed);
    let usable = cached
        .and_then(|jwks| Verifier::from_jwks(&jwks).ok())
        .filter(|v| kid.as_deref().is_some_and(|k| v.knows(k)));
    let (verifier, fresh) = match usable {
        Some(v) => (v, None),
        None => {
            let jwks = fetch().map_err(PlayError::Jwks)?;
            let v =
                Verifier::from_jwks(&jwks).map_err(|e| PlayError::BadSignature(e.to_string()))?;
            (v, Some(jwks))
        }
    };
    let licence = Licence::verify(&verifier, signed, now).map_err(|e| match e {
        // Main signs licences valid for a year past the window, so an expired signature means
        // a long-expired licence.
        LicenceError::Signature(m) if m.contains("expired") => PlayError::Expired {
            end: now.min(unix_of_expired_signature(signed)),
        },
        LicenceError::Signature(m) => PlayError::BadSignature(m),
        other => PlayError::Licence(other),
    })?;
    Ok((licence, fresh))
}

/// The window end of a licence whose signature has expired, read without verification, only to
/// word the refusal.
fn unix_of_expired_signature(signed: &str) -> u64 {
    use base64::Engine as _;
    signed
        .split('.')
        .nth(1)
        .and_then(|p| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(p)
                .ok()
        })
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .and_then(|v| v.pointer("/window/end").and_then(|e| e.as_u64()))
        .unwrap_or(u64::MAX)
}

/// A licence checked and a downloaded object opened, ready to decrypt.
#[derive(Debug)]
pub struct Playback {
    opener: Opener,
    object: BufReader<File>,
    path: PathBuf,
}

impl Playback {
    /// Checks `licence` for `item` on `device` at `now`, and opens the downloaded `object`.
    pub fn open(
        licence: &Licence,
        item: &ItemId,
        device: &Device,
        object: &Path,
        now: u64,
    ) -> Result<Self, PlayError> {
        if &licence.item != item {
            return Err(PlayError::WrongItem {
                item: item.to_string(),
                licence_item: licence.item.to_string(),
            });
        }
        let secret = device.key().map_err(PlayError::Licence)?.secret();
        let key = licence
            .key_for(&device.device_id, &device.player_id, &secret, now)
            .map_err(|e| match e {
                LicenceError::Expired { end } => PlayError::Expired { end },
                LicenceError::NotEnabled => PlayError::NotEnabled,
                LicenceError::WrongDevice => PlayError::WrongDevice,
                LicenceError::NotYetValid => PlayError::NotYetValid {
                    start: licence.window.map_or(0, |w| w.start),
                },
                other => PlayError::Licence(other),
            })?;
        let file = File::open(object).map_err(|error| PlayError::Object {
            path: object.to_owned(),
            error,
        })?;
        let mut reader = BufReader::new(file);
        let opener = Opener::from_object(&key, &mut reader).map_err(PlayError::Sealed)?;
        let header = opener.header();
        if !hex::encode(header.digest_root).eq_ignore_ascii_case(&licence.object_root)
            || header.key_version != licence.key_version
            || &header.item != item
        {
            return Err(PlayError::WrongObject);
        }
        Ok(Self {
            opener,
            object: reader,
            path: object.to_owned(),
        })
    }

    /// Length of the plaintext.
    pub fn plaintext_len(&self) -> u64 {
        self.opener.header().plaintext_len
    }

    /// Decrypts the whole plaintext into `out` and returns its length.
    pub fn write_to<W: Write>(mut self, out: W) -> Result<u64, PlayError> {
        let mut out = BufWriter::with_capacity(1 << 20, out);
        self.opener
            .unseal_all(&mut self.object, &mut out)
            .map_err(|e| match e {
                SealedError::Io(error) if error.kind() == io::ErrorKind::UnexpectedEof => {
                    PlayError::Object {
                        path: self.path.clone(),
                        error,
                    }
                }
                SealedError::Io(error) => PlayError::Output(error),
                other => PlayError::Sealed(other),
            })?;
        out.flush().map_err(PlayError::Output)?;
        Ok(self.plaintext_len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::licence::{Policy, Window};
    use protocol::seal::seal_to_vec;
    use protocol::{ContentKey, DeviceKey, SealParams, Signer};

    const START: u64 = 1_700_000_000;
    const DAY: u64 = 24 * 3600;

    struct Fixture {
        _dir: tempfile::TempDir,
        object: PathBuf,
        plaintext: Vec<u8>,
        device: Device,
        signer: Signer,
        signed: String,
        item: ItemId,
    }

    /// A sealed object on disk and an enabled licence for it, signed by a fresh main key.
    fn fixture() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let item = ItemId::parse("film").unwrap();
        let key = ContentKey::generate();
        let plaintext: Vec<u8> = (0..20_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let params = SealParams {
            chunk_size: protocol::sealed::MIN_CHUNK_SIZE,
            ..SealParams::new(item.clone(), 3)
        };
        let sealed = seal_to_vec(&key, params, &plaintext).unwrap();
        let header = protocol::Header::decode(&sealed).unwrap();
        let object = dir.path().join("film.sealed");
        std::fs::write(&object, &sealed).unwrap();

        let device = Device::generate();
        let device_key = DeviceKey::from_secret(device.key().unwrap().secret());
        let mut licence = Licence {
            licence_id: "lic-1".into(),
            item: item.clone(),
            key_version: 3,
            object_root: hex::encode(header.digest_root),
            account: "acct".into(),
            device_id: device.device_id.clone(),
            player_id: device.player_id.clone(),
            policy: Policy::default(),
            window: Some(Window {
                start: START,
                end: START + DAY,
            }),
            wrapped_key: None,
        };
        licence.wrap_key(&key, &device_key.public()).unwrap();
        let signer = Signer::generate("main-1");
        let signed = licence.sign(&signer, START, START + 365 * DAY).unwrap();
        Fixture {
            _dir: dir,
            object,
            plaintext,
            device,
            signer,
            signed,
            item,
        }
    }

    fn no_fetch() -> Result<Jwks, ApiError> {
        panic!("the cached key set should have been enough")
    }

    #[test]
    fn plays_inside_the_window() {
        let f = fixture();
        let now = START + 3600;
        let (licence, fresh) =
            verify_licence(Some(f.signer.jwks()), no_fetch, &f.signed, now).unwrap();
        assert!(fresh.is_none());
        let playback = Playback::open(&licence, &f.item, &f.device, &f.object, now).unwrap();
        let mut out = Vec::new();
        assert_eq!(
            playback.write_to(&mut out).unwrap(),
            f.plaintext.len() as u64
        );
        assert_eq!(out, f.plaintext);
    }

    #[test]
    fn refuses_after_the_window_before_writing_anything() {
        let f = fixture();
        let now = START + DAY + 1;
        let (licence, _) = verify_licence(Some(f.signer.jwks()), no_fetch, &f.signed, now).unwrap();
        let err = Playback::open(&licence, &f.item, &f.device, &f.object, now).unwrap_err();
        assert!(
            matches!(err, PlayError::Expired { end } if end == START + DAY),
            "{err}"
        );
        let text = err.to_string();
        assert!(text.contains("2023-11-15 22:13:20 UTC"), "{text}");
        assert!(text.contains("rent again"), "{text}");
    }

    #[test]
    fn a_long_expired_signature_still_reads_as_expired() {
        let f = fixture();
        let now = START + 400 * DAY;
        let err = verify_licence(Some(f.signer.jwks()), no_fetch, &f.signed, now).unwrap_err();
        assert!(
            matches!(err, PlayError::Expired { end } if end == START + DAY),
            "{err}"
        );
    }

    #[test]
    fn fetches_keys_when_the_cache_lacks_the_licence_key() {
        let f = fixture();
        let stale = Signer::generate("old").jwks();
        let fresh_keys = f.signer.jwks();
        let (_, fresh) =
            verify_licence(Some(stale), || Ok(fresh_keys.clone()), &f.signed, START).unwrap();
        assert_eq!(fresh, Some(f.signer.jwks()));
        // A licence signed by someone else is refused whatever the cache says.
        let forger = Signer::generate("main-1");
        let err = verify_licence(Some(forger.jwks()), no_fetch, &f.signed, START).unwrap_err();
        assert!(matches!(err, PlayError::BadSignature(_)), "{err}");
    }

    #[test]
    fn another_device_cannot_play() {
        let f = fixture();
        let (licence, _) =
            verify_licence(Some(f.signer.jwks()), no_fetch, &f.signed, START).unwrap();
        let other = Device::generate();
        let err = Playback::open(&licence, &f.item, &other, &f.object, START).unwrap_err();
        assert!(matches!(err, PlayError::WrongDevice), "{err}");
        let thief = Device {
            secret: other.secret.clone(),
            ..f.device.clone()
        };
        let err = Playback::open(&licence, &f.item, &thief, &f.object, START).unwrap_err();
        assert!(
            matches!(err, PlayError::Licence(LicenceError::Unwrap)),
            "{err}"
        );
    }

    #[test]
    fn a_damaged_download_is_caught() {
        let f = fixture();
        let (licence, _) =
            verify_licence(Some(f.signer.jwks()), no_fetch, &f.signed, START).unwrap();
        let mut bytes = std::fs::read(&f.object).unwrap();
        bytes[160 + 5000] ^= 1;
        std::fs::write(&f.object, &bytes).unwrap();
        let playback = Playback::open(&licence, &f.item, &f.device, &f.object, START).unwrap();
        let err = playback.write_to(io::sink()).unwrap_err();
        assert!(matches!(err, PlayError::Sealed(_)), "{err}");
    }
}
