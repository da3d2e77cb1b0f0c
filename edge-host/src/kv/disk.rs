//! [`DiskKv`]: Spin key-value on local disk, one file per key in one directory.
//!
//! File names are the key with every byte outside `[A-Za-z0-9_-]` written as `%XX`
//! ([`protocol::kv_name`]), so `/`, `.` and `%` never appear raw: no key can name a path
//! outside the directory, and names starting with `.` are free for temporary files. A write goes to a temporary
//! file in the same directory and is renamed over the old value, so concurrent readers
//! see the old or the new value whole. Writers of one key (set, delete, increment,
//! compare-and-swap) take one of a fixed set of striped locks, so read-modify-write
//! operations are atomic within the process.
//!
//! Counters are the exception: `increment` writes a counter as 20 zero-padded characters
//! ([`COUNTER_WIDTH`]) and, once its file has that width, rewrites those bytes in place with one
//! `pwrite` under the key's lock — no temporary file, no rename, no inode freed. A fill
//! increments two counters per chunk it stores (the zone's reservation and the object version's
//! bytes); as files created and renamed over, they were an eighth of edge-host's time on a cold
//! download, and the inodes they freed made every new chunk file's allocation slower
//! (`docs/benchmarks.md`). A process killed mid-write loses nothing (the page cache holds the
//! write); `get` reads a value of that width again under its key's lock, so it never sees half a
//! rewrite. A machine that loses power may keep the old value, as with a rename not synced; the
//! maintenance call's rebuild recounts the budgets after a restart either way.
//!
//! [`KvBackend::open_value`] keeps the last [`MAX_OPEN_FILES`] values it opened open, each with
//! its [`Stamp`]: a value asked for again whose path still has that stamp is answered with the open
//! file (a `stat` instead of `open` and `close`; the handoff's small ranges). A `set` or `delete`
//! through the store closes its entry at once, so a deleted value's space is not held.

use super::{KvBackend, KvError, Stamp, StoredValue};
use protocol::kv_name::{decode_key, encode_key};
use std::collections::HashMap;
use std::fs;
use std::hash::{BuildHasher, RandomState};
use std::io::{self, Write};
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// Longest file name most Linux file systems accept.
const MAX_FILE_NAME: usize = 255;
/// Prefix of in-flight writes; never produced by [`encode_key`].
const TEMP_PREFIX: &str = ".tmp.";
/// Number of writer locks; keys hash onto them.
const LOCK_STRIPES: usize = 64;
/// Bytes of a counter's text: an `i64` with its sign, zero-padded (`-0000000000000000042`,
/// `00000000000000001024`), so that every later increment rewrites the same bytes in place.
const COUNTER_WIDTH: usize = 20;
/// Most values kept open by [`KvBackend::open_value`].
pub const MAX_OPEN_FILES: usize = 256;

type OpenFiles = HashMap<String, (Stamp, Arc<fs::File>)>;

/// A key-value store in one directory of the local file system.
#[derive(Debug)]
pub struct DiskKv {
    dir: PathBuf,
    next_temp: AtomicU64,
    locks: Vec<Mutex<()>>,
    hasher: RandomState,
    open_files: Mutex<OpenFiles>,
}

impl DiskKv {
    /// Open (creating if needed) the store in `dir`, and remove temporary files left by
    /// a process that stopped mid-write. A directory belongs to one edge-host process.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, KvError> {
        let dir = dir.into();
        let io_err = |source| KvError::Io {
            op: "open store",
            key: dir.display().to_string(),
            source,
        };
        fs::create_dir_all(&dir).map_err(io_err)?;
        for entry in fs::read_dir(&dir).map_err(io_err)? {
            let entry = entry.map_err(io_err)?;
            if entry.file_name().to_string_lossy().starts_with(TEMP_PREFIX) {
                // A leftover temp file is garbage whatever the error; ignore failures.
                let _ = fs::remove_file(entry.path());
            }
        }
        Ok(Self {
            dir,
            next_temp: AtomicU64::new(0),
            locks: (0..LOCK_STRIPES).map(|_| Mutex::new(())).collect(),
            hasher: RandomState::new(),
            open_files: Mutex::new(HashMap::new()),
        })
    }

    /// The directory holding the values.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path_of(&self, key: &str) -> Result<PathBuf, KvError> {
        let name = encode_key(key);
        if name.len() > MAX_FILE_NAME {
            return Err(KvError::KeyTooLong {
                encoded_len: name.len(),
                max: MAX_FILE_NAME,
            });
        }
        Ok(self.dir.join(name))
    }

    /// The writer lock of `key`. A poisoned lock only means another writer panicked;
    /// the files are still consistent, so carry on.
    fn lock(&self, key: &str) -> MutexGuard<'_, ()> {
        let stripe = self.hasher.hash_one(key) as usize % LOCK_STRIPES;
        self.locks[stripe]
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn open_files(&self) -> MutexGuard<'_, OpenFiles> {
        self.open_files
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Replace the value of `key`; the caller holds the key's lock.
    fn write_locked(&self, key: &str, value: &[u8]) -> Result<(), KvError> {
        self.open_files().remove(key);
        let path = self.path_of(key)?;
        let temp = self.temp_path();
        let written = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp)
            .and_then(|mut file| file.write_all(value))
            // No fsync: this is a cache whose content is verified against digests, and
            // a rename over an existing file is ordered after its data on ext4/xfs.
            .and_then(|()| fs::rename(&temp, &path));
        if let Err(e) = written {
            let _ = fs::remove_file(&temp);
            return Err(io_error("set", key)(e));
        }
        Ok(())
    }

    fn temp_path(&self) -> PathBuf {
        let n = self.next_temp.fetch_add(1, Ordering::Relaxed);
        self.dir
            .join(format!("{TEMP_PREFIX}{}.{n}", std::process::id()))
    }
}

/// The value in the file at `path` (`key`'s), if there is one.
fn read_value(path: &Path, key: &str) -> Result<Option<Vec<u8>>, KvError> {
    match fs::read(path) {
        Ok(value) => Ok(Some(value)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_error("get", key)(e)),
    }
}

/// The stamp of the file at `path`, which holds `key`'s value.
fn stamp_at(path: &Path, key: &str) -> Result<Option<Stamp>, KvError> {
    match fs::metadata(path) {
        Ok(metadata) => Ok(Some(Stamp::of(&metadata))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_error("stat", key)(e)),
    }
}

fn io_error(op: &'static str, key: &str) -> impl FnOnce(io::Error) -> KvError {
    move |source| KvError::Io {
        op,
        key: key.to_owned(),
        source,
    }
}

impl KvBackend for DiskKv {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        let path = self.path_of(key)?;
        let value = read_value(&path, key)?;
        if value.as_ref().is_some_and(|v| v.len() == COUNTER_WIDTH) {
            // Perhaps a counter, which `increment` rewrites in place: read again under its
            // key's lock so as never to see half of a rewrite.
            let _guard = self.lock(key);
            return read_value(&path, key);
        }
        Ok(value)
    }

    fn open_value(&self, key: &str) -> Result<Option<StoredValue>, KvError> {
        let path = self.path_of(key)?;
        let kept = self.open_files().get(key).cloned();
        if let Some((stamp, file)) = kept {
            if stamp_at(&path, key)? == Some(stamp) {
                return Ok(Some(StoredValue {
                    len: stamp.len,
                    stamp,
                    file,
                }));
            }
            self.open_files().remove(key);
        }
        let file = match fs::File::open(path) {
            Ok(file) => Arc::new(file),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_error("open", key)(e)),
        };
        let metadata = file.metadata().map_err(io_error("stat", key))?;
        let stamp = Stamp::of(&metadata);
        let mut open = self.open_files();
        if open.len() >= MAX_OPEN_FILES && !open.contains_key(key) {
            open.clear();
        }
        open.insert(key.to_owned(), (stamp, file.clone()));
        Ok(Some(StoredValue {
            len: metadata.len(),
            stamp,
            file,
        }))
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<(), KvError> {
        let _guard = self.lock(key);
        self.write_locked(key, value)
    }

    fn delete(&self, key: &str) -> Result<(), KvError> {
        let _guard = self.lock(key);
        self.open_files().remove(key);
        match fs::remove_file(self.path_of(key)?) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_error("delete", key)(e)),
        }
    }

    fn exists(&self, key: &str) -> Result<bool, KvError> {
        match fs::metadata(self.path_of(key)?) {
            Ok(meta) => Ok(meta.is_file()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(io_error("exists", key)(e)),
        }
    }

    fn bytes_held(&self) -> Option<u64> {
        let entries = fs::read_dir(&self.dir).ok()?;
        Some(
            entries
                .filter_map(Result::ok)
                .filter_map(|e| e.metadata().ok())
                .filter(fs::Metadata::is_file)
                .map(|m| m.len())
                .sum(),
        )
    }

    fn increment(&self, key: &str, delta: i64) -> Result<i64, KvError> {
        let _guard = self.lock(key);
        let path = self.path_of(key)?;
        let stored = read_value(&path, key)?;
        let next = super::add_to_counter(key, stored.as_deref(), delta)?;
        if delta == 0 && stored.is_some() {
            return Ok(next);
        }
        let text = format!("{next:0COUNTER_WIDTH$}");
        match stored {
            // Same width: rewritten in place, one write of a few bytes, no new file (module
            // docs). Readers of a value this wide take the key's lock (`get`).
            Some(old) if old.len() == COUNTER_WIDTH => {
                self.open_files().remove(key);
                fs::OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .and_then(|file| file.write_all_at(text.as_bytes(), 0))
                    .map_err(io_error("increment", key))?;
            }
            _ => self.write_locked(key, text.as_bytes())?,
        }
        Ok(next)
    }

    fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> Result<bool, KvError> {
        let _guard = self.lock(key);
        if self.get(key)?.as_deref() != expected {
            return Ok(false);
        }
        self.write_locked(key, new)?;
        Ok(true)
    }

    fn get_keys(&self) -> Result<Vec<String>, KvError> {
        let dir = self.dir.display().to_string();
        let mut keys = Vec::new();
        for entry in fs::read_dir(&self.dir).map_err(io_error("list", &dir))? {
            let entry = entry.map_err(io_error("list", &dir))?;
            // Temp files and anything else not written by us fail to decode.
            if let Some(key) = entry.file_name().to_str().and_then(decode_key) {
                keys.push(key);
            }
        }
        Ok(keys)
    }
}

#[cfg(test)]
#[path = "disk_tests.rs"]
mod tests;
