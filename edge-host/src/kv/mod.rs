//! The storage behind Spin key-value: a narrow [`KvBackend`] trait, so that another
//! backend can replace the local disk one later.

mod disk;
mod volatile;

pub use disk::DiskKv;
pub use volatile::Volatile;

use std::fmt;

/// `stored` (a decimal counter; `None` counts as 0) plus `delta`: the new value of `key`'s
/// counter, or [`KvError::NotACounter`] when the value is not one or the sum overflows.
fn add_to_counter(key: &str, stored: Option<&[u8]>, delta: i64) -> Result<i64, KvError> {
    let not_a_counter = || KvError::NotACounter {
        key: key.to_owned(),
    };
    let current = match stored {
        None => 0,
        Some(value) => std::str::from_utf8(value)
            .ok()
            .and_then(|text| text.parse::<i64>().ok())
            .ok_or_else(not_a_counter)?,
    };
    current.checked_add(delta).ok_or_else(not_a_counter)
}

/// One key-value store (Spin's store `default`).
///
/// Methods block (disk I/O); callers on an async runtime run them on a blocking thread.
/// A value is replaced atomically: a reader sees the old or the new value, never a mix.
pub trait KvBackend: Send + Sync + fmt::Debug {
    /// The value of `key`, or `Ok(None)` when it has none.
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError>;
    /// Set `key` to `value`, replacing any previous value.
    fn set(&self, key: &str, value: &[u8]) -> Result<(), KvError>;
    /// Remove `key`; removing a missing key is not an error.
    fn delete(&self, key: &str) -> Result<(), KvError>;
    /// Whether `key` has a value.
    fn exists(&self, key: &str) -> Result<bool, KvError> {
        Ok(self.get(key)?.is_some())
    }
    /// Every key that has a value, in no particular order.
    fn get_keys(&self) -> Result<Vec<String>, KvError>;

    /// The value of `key` as an open file, for the host to read ranges of it natively (the
    /// cached-body handoff); `Ok(None)` when it has none. Backends that do not keep values in
    /// files answer [`KvError::Unsupported`], and the handoff falls back to the component.
    fn open_value(&self, key: &str) -> Result<Option<StoredValue>, KvError> {
        let _ = key;
        Err(KvError::Unsupported("open_value"))
    }

    /// Bytes the stored values take, if the backend can tell cheaply enough for a scrape.
    fn bytes_held(&self) -> Option<u64> {
        None
    }

    /// Atomically add `delta` to the integer stored at `key` (decimal ASCII, as Redis
    /// keeps counters; a missing key counts as 0) and return the new value.
    fn increment(&self, key: &str, delta: i64) -> Result<i64, KvError> {
        let _ = (key, delta);
        Err(KvError::Unsupported("increment"))
    }

    /// Atomically set `key` to `new` if its value is still `expected` (`None`: the key
    /// has no value); returns whether the swap happened.
    fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> Result<bool, KvError> {
        let _ = (key, expected, new);
        Err(KvError::Unsupported("compare-and-swap"))
    }
}

/// A stored value opened for reading: the file, its length, and its [`Stamp`].
#[derive(Debug)]
pub struct StoredValue {
    pub file: std::sync::Arc<std::fs::File>,
    pub len: u64,
    pub stamp: Stamp,
}

/// What identifies one written state of a value: the file's device, inode, length, and change
/// and modification times. A value replaced by `set` is a new file (new inode); one changed in
/// place changes its ctime, which no user can set back. So a value whose stamp is unchanged
/// holds the bytes it held when stamped — except for decay below the file system (bit rot),
/// which the host's background scrub looks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Stamp {
    pub dev: u64,
    pub ino: u64,
    pub len: u64,
    pub mtime_ns: i128,
    pub ctime_ns: i128,
}

impl Stamp {
    /// The stamp of a file as `metadata` describes it.
    pub fn of(metadata: &std::fs::Metadata) -> Self {
        use std::os::unix::fs::MetadataExt;
        let ns = |secs: i64, nanos: i64| i128::from(secs) * 1_000_000_000 + i128::from(nanos);
        Self {
            dev: metadata.dev(),
            ino: metadata.ino(),
            len: metadata.len(),
            mtime_ns: ns(metadata.mtime(), metadata.mtime_nsec()),
            ctime_ns: ns(metadata.ctime(), metadata.ctime_nsec()),
        }
    }
}

/// Why a key-value operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KvError {
    /// The key cannot be stored by this backend (e.g. too long for a file name).
    #[error("key is too long: its file name would be {encoded_len} bytes, the limit is {max}")]
    KeyTooLong { encoded_len: usize, max: usize },
    /// The backend does not offer this operation.
    #[error("this key-value store does not support {0}")]
    Unsupported(&'static str),
    /// `increment` found a value that is not a decimal integer, or the sum overflowed.
    #[error("value of {key:?} is not a counter that can take this increment")]
    NotACounter { key: String },
    /// The storage itself failed.
    #[error("{op} {key:?}: {source}")]
    Io {
        op: &'static str,
        key: String,
        #[source]
        source: std::io::Error,
    },
}
