//! [`EdgeRuntime`]: the compiled, pre-instantiated edge component, and the per-request
//! [`RequestState`] each instance runs with.

use crate::bindings::{key_value, variables, wasi_keyvalue};
use crate::config::OutboundTimeouts;
use crate::handoff::Handoff;
use crate::health::Health;
use crate::kv::KvBackend;
use crate::metrics::Metrics;
use crate::outbound::{AllowedOutboundHosts, OutboundHooks};
use crate::spin_kv::{KvData, KvHost};
use crate::variables::{Variables, VariablesData, VariablesHost};
use crate::wasi_kv::{WasiKvData, WasiKvHost};
use bytes::Bytes;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Config as EngineConfig, Engine, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Why the component could not be loaded or a request could not be run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RuntimeError {
    #[error("setting up the wasmtime engine: {0}")]
    Engine(#[source] BoxError),
    #[error("loading component {path}: {source}")]
    Component {
        path: PathBuf,
        #[source]
        source: BoxError,
    },
    #[error(
        "the component does not fit edge-host (wasi:http/incoming-handler export, Spin imports): {0}"
    )]
    Link(#[source] BoxError),
    #[error("running the component: {0}")]
    Guest(#[source] BoxError),
    #[error("the component returned no response")]
    NoResponse,
}

fn boxed(e: wasmtime::Error) -> BoxError {
    e.into_boxed_dyn_error()
}

/// What every request's instance shares: the key-value store, variables and allow-list.
#[derive(Debug, Clone)]
pub struct SharedState {
    pub kv: Arc<dyn KvBackend>,
    pub variables: Arc<Variables>,
    pub allowed_outbound_hosts: Arc<AllowedOutboundHosts>,
    pub outbound_timeouts: OutboundTimeouts,
    /// The most the component writes to a body at once ([`crate::ClientLimits::body_chunk_bytes`]).
    pub body_chunk_bytes: usize,
    pub health: Arc<Health>,
    pub metrics: Metrics,
    /// The cached-body handoff, when the edge secret is known to the host.
    pub handoff: Option<Arc<Handoff>>,
}

/// The `T` of each request's `Store<T>`.
pub struct RequestState {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    hooks: OutboundHooks,
    shared: SharedState,
}

impl std::fmt::Debug for RequestState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestState").finish_non_exhaustive()
    }
}

impl RequestState {
    fn new(shared: &SharedState) -> Self {
        let mut wasi = WasiCtx::builder();
        // The component's stdout would mix with our `listening on` line; send both of
        // its streams to our stderr.
        wasi.stdout(wasmtime_wasi::cli::stderr())
            .stderr(wasmtime_wasi::cli::stderr());
        Self {
            wasi: wasi.build(),
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            hooks: OutboundHooks::new(
                shared.allowed_outbound_hosts.clone(),
                shared.outbound_timeouts,
                shared.health.clone(),
                shared.metrics.clone(),
            )
            .with_body_chunk_bytes(shared.body_chunk_bytes),
            shared: shared.clone(),
        }
    }

    fn kv(&mut self) -> KvHost<'_> {
        KvHost {
            table: &mut self.table,
            default_store: &self.shared.kv,
        }
    }

    fn wasi_kv(&mut self) -> WasiKvHost<'_> {
        WasiKvHost {
            table: &mut self.table,
            default_store: &self.shared.kv,
        }
    }

    fn variables(&mut self) -> VariablesHost<'_> {
        VariablesHost(&self.shared.variables)
    }
}

impl WasiView for RequestState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for RequestState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}

/// The edge component, compiled and linked once; each [`EdgeRuntime::handle`] call
/// instantiates it in a fresh `Store`, as Spin and `wasmtime serve` do.
#[derive(Clone)]
pub struct EdgeRuntime {
    pre: ProxyPre<RequestState>,
    shared: SharedState,
}

impl std::fmt::Debug for EdgeRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EdgeRuntime")
            .field("shared", &self.shared)
            .finish_non_exhaustive()
    }
}

impl EdgeRuntime {
    /// Compile the component at `path` and link it against wasi, wasi-http and the Spin
    /// interfaces. Slow (seconds): run it on a blocking thread.
    pub fn load(path: &Path, shared: SharedState) -> Result<Self, RuntimeError> {
        let mut config = EngineConfig::new();
        config.wasm_component_model(true);
        let engine = Engine::new(&config).map_err(|e| RuntimeError::Engine(boxed(e)))?;
        let component =
            Component::from_file(&engine, path).map_err(|e| RuntimeError::Component {
                path: path.to_owned(),
                source: boxed(e),
            })?;
        let linker = Self::linker(&engine).map_err(|e| RuntimeError::Engine(boxed(e)))?;
        let instance_pre = linker
            .instantiate_pre(&component)
            .map_err(|e| RuntimeError::Link(boxed(e)))?;
        let pre = ProxyPre::new(instance_pre).map_err(|e| RuntimeError::Link(boxed(e)))?;
        Ok(Self { pre, shared })
    }

    fn linker(engine: &Engine) -> wasmtime::Result<Linker<RequestState>> {
        let mut linker = Linker::new(engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
        key_value::add_to_linker::<_, KvData>(&mut linker, RequestState::kv)?;
        variables::add_to_linker::<_, VariablesData>(&mut linker, RequestState::variables)?;
        wasi_keyvalue::store::add_to_linker::<_, WasiKvData>(&mut linker, RequestState::wasi_kv)?;
        wasi_keyvalue::atomics::add_to_linker::<_, WasiKvData>(&mut linker, RequestState::wasi_kv)?;
        wasi_keyvalue::batch::add_to_linker::<_, WasiKvData>(&mut linker, RequestState::wasi_kv)?;
        Ok(linker)
    }

    /// What the host has seen of the edge's health.
    pub fn health(&self) -> &Health {
        &self.shared.health
    }

    /// The key-value store the component's instances share.
    pub fn kv(&self) -> Arc<dyn KvBackend> {
        self.shared.kv.clone()
    }

    /// The cached-body handoff, if on.
    pub fn handoff(&self) -> Option<&Arc<Handoff>> {
        self.shared.handoff.as_ref()
    }

    /// The edge's metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.shared.metrics
    }

    /// The `/metrics` text, gauges read now.
    pub fn metrics_text(&self) -> String {
        let now = protocol::unix_now();
        self.shared
            .metrics
            .encode(&self.shared.health, self.shared.kv.as_ref(), now)
    }

    /// Run one request through a fresh instance. Returns once the component has set the
    /// response head; the body streams on while the instance keeps running in its own
    /// task.
    pub async fn handle<B>(
        &self,
        request: hyper::Request<B>,
    ) -> Result<hyper::Response<HyperOutgoingBody>, RuntimeError>
    where
        B: hyper::body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<wasmtime_wasi_http::Error>,
    {
        let mut store = Store::new(self.pre.engine(), RequestState::new(&self.shared));
        let (sender, receiver) = tokio::sync::oneshot::channel();
        let guest_request = store
            .data_mut()
            .http()
            .new_incoming_request(Scheme::Http, request)
            .map_err(|e| RuntimeError::Guest(boxed(e)))?;
        let out = store
            .data_mut()
            .http()
            .new_response_outparam(sender)
            .map_err(|e| RuntimeError::Guest(boxed(e)))?;
        let pre = self.pre.clone();
        // The instance must outlive this function: it writes the body after setting
        // the response head.
        let task = tokio::task::spawn(async move {
            let result = async {
                let proxy = pre.instantiate_async(&mut store).await?;
                proxy
                    .wasi_http_incoming_handler()
                    .call_handle(&mut store, guest_request, out)
                    .await
            }
            .await;
            // Also covers traps after the response head went out, which no caller sees.
            if let Err(e) = &result {
                tracing::error!("component failed: {e:?}");
            }
            result
        });
        match receiver.await {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(code)) => Err(RuntimeError::Guest(
                format!("the component answered with error code {code:?}").into(),
            )),
            // The sender was dropped with the store: the guest ended or trapped
            // without setting a response.
            Err(_) => match task.await {
                Ok(Ok(())) => Err(RuntimeError::NoResponse),
                Ok(Err(e)) => Err(RuntimeError::Guest(boxed(e))),
                Err(join) => Err(RuntimeError::Guest(Box::new(join))),
            },
        }
    }
}
