//! The host side of `wasi:keyvalue@0.2.0-draft2` (`store`, `atomics`, `batch`) as Spin 3
//! offers it: bucket `default` is the same store as Spin key-value's `default`, and
//! `atomics` gives increment and compare-and-swap over it.

use crate::bindings::wasi_keyvalue::{atomics, batch, store};
use crate::kv::{KvBackend, KvError};
use crate::spin_kv::DEFAULT_STORE;
use std::sync::Arc;
use wasmtime::component::{HasData, Resource, ResourceTable};

/// What a guest's `bucket` handle points at.
#[derive(Debug)]
pub struct Bucket {
    backend: Arc<dyn KvBackend>,
}

/// What a guest's `cas` handle points at: a key and the value it had when read.
#[derive(Debug)]
pub struct Cas {
    backend: Arc<dyn KvBackend>,
    key: String,
    current: Option<Vec<u8>>,
}

/// The host side of `wasi:keyvalue` for one request.
#[derive(Debug)]
pub struct WasiKvHost<'a> {
    pub table: &'a mut ResourceTable,
    pub default_store: &'a Arc<dyn KvBackend>,
}

/// Marker tying [`WasiKvHost`] into `bindgen!`'s `add_to_linker`.
#[derive(Debug)]
pub struct WasiKvData;

impl HasData for WasiKvData {
    type Data<'a> = WasiKvHost<'a>;
}

fn to_error(e: KvError) -> store::Error {
    tracing::warn!(error = %e, "key-value operation failed");
    store::Error::Other(e.to_string())
}

/// Run a blocking backend call off the async runtime's worker threads.
async fn blocking<T: Send + 'static>(
    backend: Arc<dyn KvBackend>,
    op: impl FnOnce(&dyn KvBackend) -> Result<T, KvError> + Send + 'static,
) -> wasmtime::Result<Result<T, store::Error>> {
    let result = tokio::task::spawn_blocking(move || op(&*backend)).await?;
    Ok(result.map_err(to_error))
}

impl WasiKvHost<'_> {
    fn backend(&self, bucket: &Resource<Bucket>) -> wasmtime::Result<Arc<dyn KvBackend>> {
        Ok(self.table.get(bucket)?.backend.clone())
    }
}

impl store::Host for WasiKvHost<'_> {
    async fn open(
        &mut self,
        identifier: String,
    ) -> wasmtime::Result<Result<Resource<Bucket>, store::Error>> {
        if identifier != DEFAULT_STORE {
            return Ok(Err(store::Error::NoSuchStore));
        }
        let bucket = Bucket {
            backend: self.default_store.clone(),
        };
        Ok(Ok(self.table.push(bucket)?))
    }
}

impl store::HostBucket for WasiKvHost<'_> {
    async fn get(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, store::Error>> {
        blocking(self.backend(&bucket)?, move |kv| kv.get(&key)).await
    }

    async fn set(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), store::Error>> {
        blocking(self.backend(&bucket)?, move |kv| kv.set(&key, &value)).await
    }

    async fn delete(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
    ) -> wasmtime::Result<Result<(), store::Error>> {
        blocking(self.backend(&bucket)?, move |kv| kv.delete(&key)).await
    }

    async fn exists(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
    ) -> wasmtime::Result<Result<bool, store::Error>> {
        blocking(self.backend(&bucket)?, move |kv| kv.exists(&key)).await
    }

    /// All keys in one page: the cursor is accepted and ignored, none is returned.
    async fn list_keys(
        &mut self,
        bucket: Resource<Bucket>,
        _cursor: Option<String>,
    ) -> wasmtime::Result<Result<store::KeyResponse, store::Error>> {
        let keys = blocking(self.backend(&bucket)?, |kv| kv.get_keys()).await?;
        Ok(keys.map(|keys| store::KeyResponse { keys, cursor: None }))
    }

    async fn drop(&mut self, bucket: Resource<Bucket>) -> wasmtime::Result<()> {
        self.table.delete(bucket)?;
        Ok(())
    }
}

impl atomics::HostCas for WasiKvHost<'_> {
    async fn new(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
    ) -> wasmtime::Result<Result<Resource<Cas>, store::Error>> {
        let backend = self.backend(&bucket)?;
        let read_key = key.clone();
        let current = match blocking(backend.clone(), move |kv| kv.get(&read_key)).await? {
            Ok(current) => current,
            Err(e) => return Ok(Err(e)),
        };
        let cas = Cas {
            backend,
            key,
            current,
        };
        Ok(Ok(self.table.push(cas)?))
    }

    async fn current(
        &mut self,
        cas: Resource<Cas>,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, store::Error>> {
        Ok(Ok(self.table.get(&cas)?.current.clone()))
    }

    async fn drop(&mut self, cas: Resource<Cas>) -> wasmtime::Result<()> {
        self.table.delete(cas)?;
        Ok(())
    }
}

impl atomics::Host for WasiKvHost<'_> {
    async fn increment(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
        delta: i64,
    ) -> wasmtime::Result<Result<i64, store::Error>> {
        blocking(self.backend(&bucket)?, move |kv| kv.increment(&key, delta)).await
    }

    async fn swap(
        &mut self,
        cas: Resource<Cas>,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), atomics::CasError>> {
        let Cas {
            backend,
            key,
            current,
        } = self.table.delete(cas)?;
        let (swap_key, expected) = (key.clone(), current.clone());
        let swapped = tokio::task::spawn_blocking({
            let backend = backend.clone();
            move || backend.compare_and_swap(&swap_key, expected.as_deref(), &value)
        })
        .await?;
        match swapped {
            Ok(true) => Ok(Ok(())),
            // Hand the guest a fresh `cas` with the value that beat it, to retry from.
            Ok(false) => {
                let read_key = key.clone();
                let current = match blocking(backend.clone(), move |kv| kv.get(&read_key)).await? {
                    Ok(current) => current,
                    Err(e) => return Ok(Err(atomics::CasError::StoreError(e))),
                };
                let retry = self.table.push(Cas {
                    backend,
                    key,
                    current,
                })?;
                Ok(Err(atomics::CasError::CasFailed(retry)))
            }
            Err(e) => Ok(Err(atomics::CasError::StoreError(to_error(e)))),
        }
    }
}

impl batch::Host for WasiKvHost<'_> {
    async fn get_many(
        &mut self,
        bucket: Resource<Bucket>,
        keys: Vec<String>,
    ) -> wasmtime::Result<Result<Vec<(String, Option<Vec<u8>>)>, store::Error>> {
        blocking(self.backend(&bucket)?, move |kv| {
            keys.into_iter()
                .map(|key| kv.get(&key).map(|value| (key, value)))
                .collect()
        })
        .await
    }

    async fn set_many(
        &mut self,
        bucket: Resource<Bucket>,
        key_values: Vec<(String, Vec<u8>)>,
    ) -> wasmtime::Result<Result<(), store::Error>> {
        blocking(self.backend(&bucket)?, move |kv| {
            key_values
                .iter()
                .try_for_each(|(key, value)| kv.set(key, value))
        })
        .await
    }

    async fn delete_many(
        &mut self,
        bucket: Resource<Bucket>,
        keys: Vec<String>,
    ) -> wasmtime::Result<Result<(), store::Error>> {
        blocking(self.backend(&bucket)?, move |kv| {
            keys.iter().try_for_each(|key| kv.delete(key))
        })
        .await
    }
}
