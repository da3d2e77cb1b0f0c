//! The player's home directory: what it keeps between commands, and where.
//!
//! ```text
//! DIR/session.json               the session from `login`
//! DIR/device.json                this device's id, player id and X25519 secret (created once)
//! DIR/jwks.json                  main's public keys, cached for offline play
//! DIR/rentals/ITEM.json          the answer of a rental (licence id, token, download URL)
//! DIR/rentals/ITEM.pending.json  the idempotency key of a rental whose answer never arrived
//! DIR/licences/ITEM.jwt          the signed licence (bound, then enabled)
//! DIR/downloads/ITEM.sealed      a finished download
//! DIR/downloads/ITEM.sealed.part / .state.json   a download in progress (see `download`)
//! ```
//!
//! Every file is written to a temporary name and renamed, so a killed player never leaves a torn
//! JSON file behind.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use protocol::{DeviceKey, ItemId};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// A failure to read or write the player's home directory.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot access {path}: {error}")]
    Io { path: PathBuf, error: io::Error },
    #[error("{path} is damaged ({error}); delete it and repeat the command that creates it")]
    Corrupt {
        path: PathBuf,
        error: serde_json::Error,
    },
}

/// The login session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub session: String,
    pub account_id: String,
}

/// A rental as main answered it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rental {
    #[serde(default)]
    pub rental_id: String,
    pub licence_id: String,
    pub item: String,
    pub token: String,
    pub download_url: String,
    /// The same download from the next best edge, if main named one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback_url: Option<String>,
    /// Unix seconds after which the download token is refused.
    pub expires_at: u64,
    /// The object rented (the item at its rented version), which the download must match;
    /// absent from older mains' answers (the catalog's current object is used then).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<crate::api::Item>,
}

/// A rental request sent without an answer: retrying with the same key charges at most once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingRental {
    pub idempotency_key: String,
}

/// This device's identity, generated on first use and never sent in full: only the public key
/// leaves the machine.
#[derive(Clone, Serialize, Deserialize)]
pub struct Device {
    /// A random id naming this device.
    pub device_id: String,
    /// `cdn-player/` and a random id naming this installation of the player. Random rather than
    /// the crate version, so that upgrading the player keeps its licences playable.
    pub player_id: String,
    /// Hex of the X25519 secret.
    pub secret: String,
}

impl std::fmt::Debug for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Device")
            .field("device_id", &self.device_id)
            .field("player_id", &self.player_id)
            .finish_non_exhaustive()
    }
}

impl Device {
    /// A fresh identity.
    pub fn generate() -> Self {
        Self {
            device_id: protocol::random_id(),
            player_id: format!("cdn-player/{}", protocol::random_id()),
            secret: hex::encode(DeviceKey::generate().secret()),
        }
    }

    /// The X25519 key pair.
    pub fn key(&self) -> Result<DeviceKey, protocol::LicenceError> {
        protocol::licence::hex32(&self.secret).map(DeviceKey::from_secret)
    }
}

/// The player's home directory.
#[derive(Debug, Clone)]
pub struct Home {
    root: PathBuf,
}

impl Home {
    /// The home at `root` (created lazily, on the first write).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The directory itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn session_path(&self) -> PathBuf {
        self.root.join("session.json")
    }
    pub fn device_path(&self) -> PathBuf {
        self.root.join("device.json")
    }
    pub fn jwks_path(&self) -> PathBuf {
        self.root.join("jwks.json")
    }
    pub fn rental_path(&self, item: &ItemId) -> PathBuf {
        self.root.join("rentals").join(format!("{item}.json"))
    }
    pub fn pending_rental_path(&self, item: &ItemId) -> PathBuf {
        self.root
            .join("rentals")
            .join(format!("{item}.pending.json"))
    }
    pub fn licence_path(&self, item: &ItemId) -> PathBuf {
        self.root.join("licences").join(format!("{item}.jwt"))
    }
    /// Where the plays of the licence for `item` are counted.
    pub fn plays_path(&self, item: &ItemId) -> PathBuf {
        self.root.join("plays").join(format!("{item}.json"))
    }
    pub fn download_path(&self, item: &ItemId) -> PathBuf {
        self.root.join("downloads").join(format!("{item}.sealed"))
    }

    /// The saved session, if logged in.
    pub fn session(&self) -> Result<Option<Session>, StoreError> {
        read_json(&self.session_path())
    }
    pub fn save_session(&self, s: &Session) -> Result<(), StoreError> {
        write_json(&self.session_path(), s, true)
    }

    /// This device's identity, generated and saved on first use.
    pub fn device(&self) -> Result<Device, StoreError> {
        let path = self.device_path();
        if let Some(d) = read_json(&path)? {
            return Ok(d);
        }
        let d = Device::generate();
        write_json(&path, &d, true)?;
        Ok(d)
    }

    pub fn rental(&self, item: &ItemId) -> Result<Option<Rental>, StoreError> {
        read_json(&self.rental_path(item))
    }
    pub fn save_rental(&self, item: &ItemId, r: &Rental) -> Result<(), StoreError> {
        write_json(&self.rental_path(item), r, false)
    }

    pub fn pending_rental(&self, item: &ItemId) -> Result<Option<PendingRental>, StoreError> {
        read_json(&self.pending_rental_path(item))
    }
    pub fn save_pending_rental(&self, item: &ItemId, p: &PendingRental) -> Result<(), StoreError> {
        write_json(&self.pending_rental_path(item), p, false)
    }
    pub fn clear_pending_rental(&self, item: &ItemId) -> Result<(), StoreError> {
        remove_if_present(&self.pending_rental_path(item))
    }

    /// The signed licence saved for `item`, if any.
    /// Plays started under licence `licence_id` (of `item`) in its window that started at
    /// `window_start`, counting this one: 1 for the first. A reactivated window counts anew.
    pub fn count_play(
        &self,
        item: &ItemId,
        licence_id: &str,
        window_start: u64,
    ) -> Result<u32, StoreError> {
        #[derive(serde::Serialize, serde::Deserialize)]
        struct Plays {
            licence_id: String,
            #[serde(default)]
            window_start: u64,
            plays: u32,
        }
        let path = self.plays_path(item);
        let before = read_json::<Plays>(&path)?
            .filter(|p| p.licence_id == licence_id && p.window_start == window_start)
            .map_or(0, |p| p.plays);
        let plays = before.saturating_add(1);
        let record = Plays {
            licence_id: licence_id.to_owned(),
            window_start,
            plays,
        };
        write_json(&path, &record, false)?;
        Ok(plays)
    }

    pub fn licence(&self, item: &ItemId) -> Result<Option<String>, StoreError> {
        let path = self.licence_path(item);
        match fs::read_to_string(&path) {
            Ok(s) => Ok(Some(s.trim().to_owned())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(error) => Err(StoreError::Io { path, error }),
        }
    }
    pub fn save_licence(&self, item: &ItemId, signed: &str) -> Result<(), StoreError> {
        write_atomic(&self.licence_path(item), signed.as_bytes(), false)
    }

    /// The cached JWKS, if any.
    pub fn jwks(&self) -> Result<Option<protocol::Jwks>, StoreError> {
        read_json(&self.jwks_path())
    }
    pub fn save_jwks(&self, jwks: &protocol::Jwks) -> Result<(), StoreError> {
        write_json(&self.jwks_path(), jwks, false)
    }
}

/// Reads a JSON file; a missing file is `Ok(None)`.
pub fn read_json<T: DeserializeOwned>(path: &Path) -> Result<Option<T>, StoreError> {
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(error) => {
            return Err(StoreError::Io {
                path: path.to_owned(),
                error,
            });
        }
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|error| StoreError::Corrupt {
            path: path.to_owned(),
            error,
        })
}

/// Writes `value` as pretty JSON, atomically; `private` files are readable by the owner only.
pub fn write_json<T: Serialize>(path: &Path, value: &T, private: bool) -> Result<(), StoreError> {
    let mut bytes = serde_json::to_vec_pretty(value).expect("plain data serializes");
    bytes.push(b'\n');
    write_atomic(path, &bytes, private)
}

/// Writes `bytes` to a temporary file beside `path` and renames it over `path`.
pub fn write_atomic(path: &Path, bytes: &[u8], private: bool) -> Result<(), StoreError> {
    let io_err = |error| StoreError::Io {
        path: path.to_owned(),
        error,
    };
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(io_err)?;
    }
    let mut tmp_name = path.as_os_str().to_owned();
    tmp_name.push(".tmp");
    let tmp = PathBuf::from(tmp_name);
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = private;
    let mut f = opts.open(&tmp).map_err(io_err)?;
    f.write_all(bytes).map_err(io_err)?;
    drop(f);
    fs::rename(&tmp, path).map_err(io_err)
}

/// Removes a file; a missing file is fine.
pub fn remove_if_present(path: &Path) -> Result<(), StoreError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(error) => Err(StoreError::Io {
            path: path.to_owned(),
            error,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_is_generated_once_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::new(dir.path());
        let a = home.device().unwrap();
        let b = home.device().unwrap();
        assert_eq!(a.device_id, b.device_id);
        assert_eq!(a.secret, b.secret);
        assert!(a.player_id.starts_with("cdn-player/"));
        assert_eq!(a.key().unwrap().secret(), b.key().unwrap().secret());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(home.device_path())
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn rentals_and_licences_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::new(dir.path());
        let item = ItemId::parse("film").unwrap();
        assert!(home.rental(&item).unwrap().is_none());
        let r = Rental {
            rental_id: "r".into(),
            licence_id: "l".into(),
            item: "film".into(),
            token: "t".into(),
            download_url: "http://edge/v1/content/film?token=t".into(),
            fallback_url: None,
            expires_at: 5,
            object: None,
        };
        home.save_rental(&item, &r).unwrap();
        assert_eq!(home.rental(&item).unwrap(), Some(r));
        home.save_licence(&item, "a.b.c").unwrap();
        assert_eq!(home.licence(&item).unwrap().as_deref(), Some("a.b.c"));
    }

    #[test]
    fn a_damaged_file_is_reported_with_its_path() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::new(dir.path());
        fs::write(home.session_path(), b"{not json").unwrap();
        let err = home.session().unwrap_err();
        assert!(err.to_string().contains("session.json"), "{err}");
    }
}
