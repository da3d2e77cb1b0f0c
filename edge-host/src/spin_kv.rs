//! The host side of Spin key-value (`fermyon:spin/key-value@2.0.0`): the `store`
//! resource over a [`KvBackend`]. Only the store labelled `default` exists.

use crate::bindings::key_value::{Error, Host, HostStore};
use crate::kv::{KvBackend, KvError};
use std::sync::Arc;
use wasmtime::component::{HasData, Resource, ResourceTable};

/// The label of the one store edge-host offers, as in Spin's default configuration.
pub const DEFAULT_STORE: &str = "default";

/// What a guest's `store` handle points at.
#[derive(Debug)]
pub struct OpenStore {
    backend: Arc<dyn KvBackend>,
}

/// The host side of `fermyon:spin/key-value` for one request.
#[derive(Debug)]
pub struct KvHost<'a> {
    pub table: &'a mut ResourceTable,
    pub default_store: &'a Arc<dyn KvBackend>,
}

/// Marker tying [`KvHost`] into `bindgen!`'s `add_to_linker`.
#[derive(Debug)]
pub struct KvData;

impl HasData for KvData {
    type Data<'a> = KvHost<'a>;
}

impl KvHost<'_> {
    fn backend(&self, store: &Resource<OpenStore>) -> wasmtime::Result<Arc<dyn KvBackend>> {
        Ok(self.table.get(store)?.backend.clone())
    }
}

/// Run a blocking backend call off the async runtime's worker threads.
async fn blocking<T: Send + 'static>(
    backend: Arc<dyn KvBackend>,
    op: impl FnOnce(&dyn KvBackend) -> Result<T, KvError> + Send + 'static,
) -> wasmtime::Result<Result<T, Error>> {
    let result = tokio::task::spawn_blocking(move || op(&*backend)).await?;
    Ok(result.map_err(|e| {
        tracing::warn!(error = %e, "key-value operation failed");
        Error::Other(e.to_string())
    }))
}

impl HostStore for KvHost<'_> {
    async fn open(
        &mut self,
        label: String,
    ) -> wasmtime::Result<Result<Resource<OpenStore>, Error>> {
        if label != DEFAULT_STORE {
            return Ok(Err(Error::NoSuchStore));
        }
        let store = OpenStore {
            backend: self.default_store.clone(),
        };
        Ok(self.table.push(store).map_err(|_| Error::StoreTableFull))
    }

    async fn get(
        &mut self,
        store: Resource<OpenStore>,
        key: String,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, Error>> {
        blocking(self.backend(&store)?, move |kv| kv.get(&key)).await
    }

    async fn set(
        &mut self,
        store: Resource<OpenStore>,
        key: String,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), Error>> {
        blocking(self.backend(&store)?, move |kv| kv.set(&key, &value)).await
    }

    async fn delete(
        &mut self,
        store: Resource<OpenStore>,
        key: String,
    ) -> wasmtime::Result<Result<(), Error>> {
        blocking(self.backend(&store)?, move |kv| kv.delete(&key)).await
    }

    async fn exists(
        &mut self,
        store: Resource<OpenStore>,
        key: String,
    ) -> wasmtime::Result<Result<bool, Error>> {
        blocking(self.backend(&store)?, move |kv| kv.exists(&key)).await
    }

    async fn get_keys(
        &mut self,
        store: Resource<OpenStore>,
    ) -> wasmtime::Result<Result<Vec<String>, Error>> {
        blocking(self.backend(&store)?, |kv| kv.get_keys()).await
    }

    async fn drop(&mut self, store: Resource<OpenStore>) -> wasmtime::Result<()> {
        self.table.delete(store)?;
        Ok(())
    }
}

impl Host for KvHost<'_> {}
