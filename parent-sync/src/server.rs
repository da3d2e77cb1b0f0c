//! The local parent: an S3-compatible server over a directory (`s3s-fs`) that checks SigV4
//! signatures and presigned URLs like AWS does, so local networks and tests use the same client
//! code as real buckets.

use std::future::Future;
use std::path::PathBuf;

use s3s::auth::SimpleAuth;
use s3s::service::{S3Service, S3ServiceBuilder};
use tokio::net::TcpListener;

use crate::config::valid_bucket_name;
use crate::limits::ServerLimits;

/// What a local parent serves and whom it lets in.
#[derive(Clone)]
pub struct ServerConfig {
    /// The directory that holds the buckets (one subdirectory each); created if missing.
    pub root: PathBuf,
    /// The bucket to create if missing.
    pub bucket: String,
    /// The region clients sign for. Only logged: s3s checks each signature with the region the
    /// request names, so a client signing for another region is still accepted.
    pub region: String,
    /// The only credentials accepted.
    pub access_key: String,
    pub secret_key: String,
    /// Header, body and idle timeouts and the connection cap.
    pub limits: ServerLimits,
}

impl std::fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerConfig")
            .field("root", &self.root)
            .field("bucket", &self.bucket)
            .field("region", &self.region)
            .field("access_key", &self.access_key)
            .field("secret_key", &"<redacted>")
            .field("limits", &self.limits)
            .finish()
    }
}

/// Why a local parent could not start or stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    #[error("invalid parent-store setting: {0}")]
    Config(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot serve {root}: {message}")]
    Backend { root: PathBuf, message: String },
}

impl ServerConfig {
    /// Checks the settings; keys must be non-empty, the bucket name valid for S3.
    pub fn validate(&self) -> Result<(), ServerError> {
        if !valid_bucket_name(&self.bucket) {
            return Err(ServerError::Config(format!(
                "bucket {:?} is not a valid S3 bucket name (3-63 of a-z, 0-9, '.', '-')",
                self.bucket
            )));
        }
        if self.access_key.is_empty() || self.secret_key.is_empty() {
            return Err(ServerError::Config(
                "access key and secret key must not be empty".into(),
            ));
        }
        self.limits.validate().map_err(ServerError::Config)
    }

    /// Validates the settings and creates the root directory and the bucket if missing. [`run`]
    /// does it too; a binary calls it before printing `listening on` so that the bucket exists
    /// by the time a client reads that line.
    pub fn prepare(&self) -> Result<(), ServerError> {
        self.validate()?;
        let bucket_dir = self.root.join(&self.bucket);
        std::fs::create_dir_all(&bucket_dir).map_err(|source| ServerError::Io {
            context: format!("creating {}", bucket_dir.display()),
            source,
        })
    }

    fn build_service(&self) -> Result<S3Service, ServerError> {
        self.prepare()?;
        let fs = s3s_fs::FileSystem::new(&self.root).map_err(|e| ServerError::Backend {
            root: self.root.clone(),
            // s3s-fs's error implements only Debug.
            message: format!("{e:?}"),
        })?;
        let mut builder = S3ServiceBuilder::new(fs);
        // With auth set, s3s also denies anonymous requests (its default access check).
        builder.set_auth(SimpleAuth::from_single(
            self.access_key.clone(),
            self.secret_key.clone(),
        ));
        Ok(builder.build())
    }
}

/// Serves the parent on `listener` with the configured [`ServerLimits`] until `shutdown`
/// completes, then lets open connections finish (up to 10 s). The caller binds (port 0 allowed)
/// and prints the `listening on` line.
///
/// Fails before serving if the settings are invalid or the directories cannot be created.
pub async fn run(
    listener: TcpListener,
    config: &ServerConfig,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServerError> {
    let service = config.build_service()?;
    let addr = listener.local_addr().map_err(|source| ServerError::Io {
        context: "reading the listener's address".into(),
        source,
    })?;
    tracing::info!(%addr, root = %config.root.display(), bucket = %config.bucket,
        region = %config.region, "parent store serving");

    crate::limits::serve(
        listener,
        config.limits,
        move |_peer| service.clone(),
        shutdown,
    )
    .await;
    Ok(())
}

/// Completes on the first SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM; only SIGINT stops the server");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
