//! [`Volatile`]: keys under one prefix kept in memory, every other key in the store it wraps.
//!
//! Edge-host keeps the component's fill leases (`lease/…`, [`edge_fn::lease`]) this way. A lease
//! is worth nothing once the process that took it is gone — a restarted edge-host must not wait
//! out its predecessor's leases — and on disk each one was a file created and deleted per chunk
//! filled: the freed inodes made every later file creation in the directory search further for
//! a free one (`docs/benchmarks.md`, the cold path). In memory a lease is taken and released
//! with a map operation, and a restart starts with none, which is what the component's lease
//! expiry is there to reach.
//!
//! Within the process the semantics are the wrapped store's: `set` replaces whole values,
//! `compare_and_swap` and `increment` are atomic (one lock over the map).

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use super::{KvBackend, KvError, StoredValue};

/// A store whose keys under `prefix` live in memory only.
#[derive(Debug)]
pub struct Volatile<K> {
    prefix: &'static str,
    memory: Mutex<HashMap<String, Vec<u8>>>,
    inner: K,
}

impl<K: KvBackend> Volatile<K> {
    /// Keys starting with `prefix` in memory, the rest in `inner`.
    pub fn new(inner: K, prefix: &'static str) -> Self {
        Self {
            prefix,
            memory: Mutex::new(HashMap::new()),
            inner,
        }
    }

    fn held(&self, key: &str) -> bool {
        key.starts_with(self.prefix)
    }

    /// A poisoned lock only means another caller panicked between two map operations, each of
    /// which leaves the map whole; carry on.
    fn memory(&self) -> MutexGuard<'_, HashMap<String, Vec<u8>>> {
        self.memory
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl<K: KvBackend> KvBackend for Volatile<K> {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        if self.held(key) {
            return Ok(self.memory().get(key).cloned());
        }
        self.inner.get(key)
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<(), KvError> {
        if self.held(key) {
            self.memory().insert(key.to_owned(), value.to_vec());
            return Ok(());
        }
        self.inner.set(key, value)
    }

    fn delete(&self, key: &str) -> Result<(), KvError> {
        if self.held(key) {
            self.memory().remove(key);
            return Ok(());
        }
        self.inner.delete(key)
    }

    fn exists(&self, key: &str) -> Result<bool, KvError> {
        if self.held(key) {
            return Ok(self.memory().contains_key(key));
        }
        self.inner.exists(key)
    }

    fn get_keys(&self) -> Result<Vec<String>, KvError> {
        let mut keys = self.inner.get_keys()?;
        // Keys under the prefix written before it was held in memory stay visible (and
        // deletable) in the wrapped store; `get` no longer sees them, so leave them out.
        keys.retain(|k| !self.held(k));
        keys.extend(self.memory().keys().cloned());
        Ok(keys)
    }

    fn open_value(&self, key: &str) -> Result<Option<StoredValue>, KvError> {
        if self.held(key) {
            return Err(KvError::Unsupported("open_value"));
        }
        self.inner.open_value(key)
    }

    fn bytes_held(&self) -> Option<u64> {
        self.inner.bytes_held()
    }

    fn increment(&self, key: &str, delta: i64) -> Result<i64, KvError> {
        if !self.held(key) {
            return self.inner.increment(key, delta);
        }
        let mut memory = self.memory();
        let next = super::add_to_counter(key, memory.get(key).map(Vec::as_slice), delta)?;
        memory.insert(key.to_owned(), next.to_string().into_bytes());
        Ok(next)
    }

    fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> Result<bool, KvError> {
        if !self.held(key) {
            return self.inner.compare_and_swap(key, expected, new);
        }
        let mut memory = self.memory();
        if memory.get(key).map(Vec::as_slice) != expected {
            return Ok(false);
        }
        memory.insert(key.to_owned(), new.to_vec());
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kv::DiskKv;

    fn store() -> (tempfile::TempDir, Volatile<DiskKv>) {
        let dir = tempfile::tempdir().unwrap();
        let kv = Volatile::new(DiskKv::open(dir.path()).unwrap(), "lease/");
        (dir, kv)
    }

    #[test]
    fn held_keys_stay_in_memory_and_the_rest_on_disk() {
        let (dir, kv) = store();
        assert!(
            kv.compare_and_swap("lease/film/v1/0", None, b"a-1")
                .unwrap()
        );
        assert!(
            !kv.compare_and_swap("lease/film/v1/0", None, b"b-1")
                .unwrap()
        );
        assert!(
            kv.compare_and_swap("lease/film/v1/0", Some(b"a-1"), b"b-1")
                .unwrap()
        );
        assert_eq!(
            kv.get("lease/film/v1/0").unwrap().as_deref(),
            Some(&b"b-1"[..])
        );
        assert_eq!(kv.increment("lease/holders", 2).unwrap(), 2);
        kv.set("chunk/film/v1/0", b"bytes").unwrap();
        let mut keys = kv.get_keys().unwrap();
        keys.sort();
        assert_eq!(
            keys,
            ["chunk/film/v1/0", "lease/film/v1/0", "lease/holders"]
        );
        // Only the chunk is a file.
        let files: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(files.len(), 1);
        assert!(matches!(
            kv.open_value("lease/film/v1/0"),
            Err(KvError::Unsupported(_))
        ));
        assert!(kv.open_value("chunk/film/v1/0").unwrap().is_some());
        kv.delete("lease/film/v1/0").unwrap();
        assert!(!kv.exists("lease/film/v1/0").unwrap());
        // A new process (a restart) starts with no leases, and the files are still there.
        drop(kv);
        let again = Volatile::new(DiskKv::open(dir.path()).unwrap(), "lease/");
        assert_eq!(again.get("lease/holders").unwrap(), None);
        assert_eq!(
            again.get("chunk/film/v1/0").unwrap().as_deref(),
            Some(&b"bytes"[..])
        );
    }

    #[test]
    fn a_lease_written_to_disk_before_is_not_seen() {
        let dir = tempfile::tempdir().unwrap();
        DiskKv::open(dir.path())
            .unwrap()
            .set("lease/film/v1/3", b"old-1")
            .unwrap();
        let kv = Volatile::new(DiskKv::open(dir.path()).unwrap(), "lease/");
        assert_eq!(kv.get("lease/film/v1/3").unwrap(), None);
        assert!(kv.get_keys().unwrap().is_empty());
    }
}
