//! The main service: web API, accounts, catalog, payment, licences, geofiltering, download tokens
//! and their authorization, the hot manifest, and content ingest. One axum router, served as a
//! plain process or under `lambda_http`.
//!
//! - [`config`]: settings (TOML + env), validated at start.
//! - [`store`]: the storage trait and its backends, embedded (redb) and DynamoDB.
//! - [`records`]: the stored records.
//! - [`keys`]: the configured signing key and content-key wrapping at rest.
//! - [`signing`]: signing-key rotation (the ring of keys, published ahead, retired late).
//! - [`rewrap`]: key-encryption-key rotation (`main-service rewrap-keys`).
//! - [`secrets`]: keys and tokens read from AWS Secrets Manager at cold start.
//! - [`accounts`], [`groups`], [`payment`], [`rentals`], [`licences`], [`authorize`], [`ingest`],
//!   [`catalog`]: the domain, as plain async functions over [`AppState`].
//! - [`replication`]: how far each parent is behind the newest objects (for the console).
//! - [`geo`], [`edges`]: client location and edge selection; [`edge_history`]: each edge's day
//!   of lookups, hits and bytes served, from its heartbeats.
//! - [`http`]: routes, extractors and the one error type.
//! - [`site`]: the web site and the operator's console (server-rendered HTML).
//! - [`passwords`]: password hashing under a concurrency bound.
//! - [`limits`]: rate limits (logins, registrations, rentals, authorize) and login lockout.
//! - [`metrics`], [`clock`], [`faults`]: Prometheus counters, the injectable clock, and the
//!   fault points tests arm.

pub mod accounts;
pub mod authorize;
pub mod catalog;
pub mod clock;
pub mod config;
pub mod edge_history;
pub mod edges;
pub mod faults;
pub mod geo;
pub mod groups;
pub mod http;
pub mod ingest;
pub mod keys;
pub mod licences;
pub mod limits;
pub mod metrics;
pub mod passwords;
pub mod payment;
pub mod records;
pub mod rentals;
pub mod replication;
pub mod rewrap;
pub mod secrets;
pub mod signing;
pub mod site;
pub mod store;

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use parent_sync::{ParentConfig, ParentStore};

pub use config::Config;

/// One parent store: where it is and a client for it.
#[derive(Debug)]
pub struct Parent {
    pub config: ParentConfig,
    pub store: ParentStore,
}

/// Everything a handler needs, cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub store: Arc<dyn store::Store>,
    pub keys: Arc<keys::Keys>,
    /// The signing-key ring: the key that signs now, the published ones.
    pub signing: Arc<signing::SigningKeys>,
    pub geo: Arc<geo::Geo>,
    pub edges: Arc<edges::Edges>,
    /// All parents; exactly one is primary.
    pub parents: Arc<Vec<Parent>>,
    pub payments: Arc<dyn payment::PaymentProvider>,
    pub metrics: metrics::Metrics,
    pub clock: clock::Clock,
    /// The bounded pool that hashes passwords.
    pub passwords: Arc<passwords::Passwords>,
    /// Rate limits and login lockout.
    pub limits: Arc<limits::Limits>,
    /// Presigned parent URLs kept for reuse.
    pub presigned: Arc<authorize::Presigned>,
    /// Faults a test injects (inert without the `fault-injection` feature).
    pub faults: Arc<faults::Faults>,
    /// The catalog list, kept in memory for `catalog_cache_secs`.
    pub catalog: Arc<catalog::Cache>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// Builds the state from a validated config: opens the store it names, loads or creates keys,
    /// builds one S3 client per parent. The clock is the system clock.
    pub async fn from_config(config: Config) -> anyhow::Result<Self> {
        let store = store::open(&config)
            .await
            .with_context(|| format!("opening the {:?} store", config.store))?;
        let mut keys = keys::Keys::load(
            &config.data_dir,
            config.key_encryption_key.as_deref(),
            config.signing_key.as_ref().map(|k| k.0.as_slice()),
        )
        .context("loading keys")?;
        if let Some(previous) = &config.previous_key_encryption_key {
            keys = keys
                .with_previous_kek(previous)
                .context("loading the previous key-encryption key")?;
        }
        let mut parents = Vec::new();
        for p in &config.parents {
            let store = ParentStore::connect(p)
                .await
                .with_context(|| format!("parent {}", p.name))?;
            parents.push(Parent {
                config: p.clone(),
                store,
            });
        }
        Ok(Self::assemble(config, store, keys, parents))
    }

    /// Puts the state together from its parts (tests use this with their own store and clock).
    pub fn assemble(
        config: Config,
        store: Arc<dyn store::Store>,
        keys: keys::Keys,
        parents: Vec<Parent>,
    ) -> Self {
        let keys = Arc::new(keys);
        Self {
            geo: Arc::new(geo::Geo::new(
                config.geo.overrides.clone(),
                config.regions.clone(),
            )),
            edges: Arc::new(edges::Edges::new(config.edges.clone())),
            parents: Arc::new(parents),
            payments: Arc::new(payment::SandboxPayments::default()),
            metrics: metrics::Metrics::default(),
            clock: clock::system(),
            passwords: Arc::new(passwords::Passwords::new(&config.passwords)),
            limits: Arc::new(limits::Limits::new(&config.limits)),
            presigned: Arc::default(),
            faults: Arc::default(),
            catalog: Arc::new(catalog::Cache::new(std::time::Duration::from_secs(
                config.catalog_cache_secs,
            ))),
            signing: Arc::new(signing::SigningKeys::new(
                signing::Settings::from_config(&config),
                keys.clone(),
                store.clone(),
            )),
            keys,
            store,
            config: Arc::new(config),
        }
    }

    /// The primary parent, which ingest writes to.
    pub fn primary(&self) -> &Parent {
        self.parents
            .iter()
            .find(|p| p.config.primary)
            .expect("config validated: one primary")
    }
}

/// The application: the whole API as one router.
pub fn app(state: AppState) -> axum::Router {
    http::router(state)
}

/// Serves `app` on `listener` with the configured connection limits until `shutdown` resolves;
/// prints `listening on ADDR` once bound.
pub async fn run(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let addr = listener.local_addr()?;
    println!("listening on {addr}");
    use std::io::Write as _;
    std::io::stdout().flush()?;
    tracing::info!(%addr, "main service listening");
    let limits = state.config.server;
    let app = app(state);
    parent_sync::limits::serve(
        listener,
        limits,
        move |peer: SocketAddr| {
            // What `into_make_service_with_connect_info` would do: the peer for `ClientIp`.
            tower::util::MapRequest::new(
                app.clone(),
                move |mut req: axum::http::Request<parent_sync::RequestBody>| {
                    req.extensions_mut()
                        .insert(axum::extract::ConnectInfo(peer));
                    req
                },
            )
        },
        shutdown,
    )
    .await;
    Ok(())
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down");
}
