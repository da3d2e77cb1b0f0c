//! [`ParentStore`]: the narrow S3 client of one parent bucket. Main writes and presigns through
//! it, `parent-sync` copies and verifies through it; SDK types stay inside this file and
//! `upload.rs` (its streaming uploads).

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use aws_sdk_s3::Client;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region, StalledStreamProtectionConfig};
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::presigning::PresigningConfig;
use bytes::Bytes;
use tokio::io::{AsyncBufRead, AsyncRead, ReadBuf};

use crate::config::{ConfigError, ParentConfig};

/// Bytes per part of a multipart upload (larger only for objects above 10,000 parts).
pub const PART_SIZE: u64 = 8 << 20;
/// S3's limit on the number of parts of one upload.
pub(crate) const MAX_PARTS: u64 = 10_000;
/// User metadata on a replica: the ETag of the primary object it was copied from, so a replica
/// made with other part sizes still compares equal without reading it.
pub(crate) const REPLICATED_FROM: &str = "replicated-from-etag";

/// What a `HEAD` tells about an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMeta {
    /// Length in bytes.
    pub len: u64,
    /// The ETag without quotes.
    pub etag: String,
    /// For a replica written by `parent-sync`: the ETag of the primary's object.
    pub replicated_from: Option<String>,
}

/// A failed parent operation. "Not found" is not an error: the methods return `Ok(None)`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The parent answered with an error or could not be reached.
    #[error("parent {parent}: {op} {key:?}: {message}")]
    Request {
        parent: String,
        op: &'static str,
        key: String,
        /// The HTTP status, when the parent answered.
        status: Option<u16>,
        /// The S3 error code, e.g. `SignatureDoesNotMatch`.
        code: Option<String>,
        message: String,
    },
    /// The reader handed to an upload failed.
    #[error("parent {parent}: reading the data for {key:?}: {source}")]
    Source {
        parent: String,
        key: String,
        #[source]
        source: std::io::Error,
    },
    /// The reader handed to an upload did not yield the announced length.
    #[error(
        "parent {parent}: the data for {key:?} is not the announced {expected} bytes: {detail}"
    )]
    LengthMismatch {
        parent: String,
        key: String,
        expected: u64,
        detail: String,
    },
    /// A configuration or argument that cannot work (bad config, presign expiry over 7 days).
    #[error("parent {parent}: {problem}")]
    Invalid { parent: String, problem: String },
}

impl StoreError {
    /// The HTTP status the parent answered with, if it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Request { status, .. } => *status,
            _ => None,
        }
    }

    /// Whether the parent refused our credentials or signature (HTTP 403).
    pub fn is_access_denied(&self) -> bool {
        self.status() == Some(403)
    }
}

/// One parent bucket behind the S3 API.
#[derive(Debug, Clone)]
pub struct ParentStore {
    pub(crate) name: String,
    pub(crate) bucket: String,
    pub(crate) client: Client,
    list_page_size: Option<i32>,
}

impl ParentStore {
    /// Builds the client for `config`: static credentials when given (else the default AWS
    /// chain), the region set, path-style addressing when an endpoint is given, and the
    /// connect, first-byte and idle timeouts (a stopped parent fails a call like a dead one).
    ///
    /// Fails only when the config does not validate; nothing is sent to the parent.
    pub async fn connect(config: &ParentConfig) -> Result<Self, StoreError> {
        config
            .validate()
            .map_err(|e: ConfigError| StoreError::Invalid {
                parent: config.name.clone(),
                problem: e.to_string(),
            })?;
        let mut builder = match (&config.access_key, &config.secret_key) {
            (Some(access), Some(secret)) => aws_sdk_s3::Config::builder()
                .behavior_version(BehaviorVersion::latest())
                .credentials_provider(Credentials::new(
                    access,
                    secret,
                    None,
                    None,
                    "parent-config",
                )),
            _ => {
                let shared = aws_config::defaults(BehaviorVersion::latest()).load().await;
                aws_sdk_s3::config::Builder::from(&shared)
            }
        };
        builder = builder
            .region(Region::new(config.region.clone()))
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(config.connect_timeout_secs))
                    .read_timeout(Duration::from_secs(config.first_byte_timeout_secs))
                    .build(),
            )
            .stalled_stream_protection(
                StalledStreamProtectionConfig::enabled()
                    .grace_period(Duration::from_secs(config.idle_timeout_secs))
                    .build(),
            );
        if let Some(endpoint) = &config.endpoint {
            builder = builder.endpoint_url(endpoint).force_path_style(true);
        }
        Ok(Self::from_client(
            &config.name,
            &config.bucket,
            Client::from_conf(builder.build()),
        ))
    }

    /// Wraps a client built elsewhere (e.g. once in `main` from a shared AWS config).
    pub fn from_client(name: &str, bucket: &str, client: Client) -> Self {
        Self {
            name: name.to_owned(),
            bucket: bucket.to_owned(),
            client,
            list_page_size: None,
        }
    }

    /// Lists in pages of `n` keys instead of the server's default (1,000); for tests of paging.
    pub fn with_list_page_size(mut self, n: i32) -> Self {
        self.list_page_size = Some(n);
        self
    }

    /// The parent's name from its config.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The bucket this store reads and writes.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// Length and ETag of `key`, or `None` if there is no such object.
    pub async fn head(&self, key: &str) -> Result<Option<ObjectMeta>, StoreError> {
        match self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(out) => Ok(Some(ObjectMeta {
                len: out.content_length().unwrap_or(0).max(0) as u64,
                etag: unquote(out.e_tag()),
                replicated_from: out.metadata().and_then(|m| m.get(REPLICATED_FROM)).cloned(),
            })),
            Err(e) if http_status(&e) == Some(404) => Ok(None),
            Err(e) => Err(self.request_error("HeadObject", key, e)),
        }
    }

    /// Bytes `start..=end_inclusive` of `key` (fewer if the object ends first), or `None` if there
    /// is no such object. A range that starts beyond the end is an error (HTTP 416).
    pub async fn get_range(
        &self,
        key: &str,
        start: u64,
        end_inclusive: u64,
    ) -> Result<Option<Bytes>, StoreError> {
        let out = match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .range(format!("bytes={start}-{end_inclusive}"))
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) if is_no_such_key(&e) => return Ok(None),
            Err(e) => return Err(self.request_error("GetObject", key, e)),
        };
        let body = out.body.collect().await.map_err(|e| StoreError::Request {
            parent: self.name.clone(),
            op: "GetObject body",
            key: key.to_owned(),
            status: None,
            code: None,
            message: DisplayErrorContext(&e).to_string(),
        })?;
        Ok(Some(body.into_bytes()))
    }

    /// The whole object as a stream, or `None` if there is no such object.
    pub async fn get_stream(&self, key: &str) -> Result<Option<ObjectReader>, StoreError> {
        let out = match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) if is_no_such_key(&e) => return Ok(None),
            Err(e) => return Err(self.request_error("GetObject", key, e)),
        };
        Ok(Some(ObjectReader {
            len: out.content_length().unwrap_or(0).max(0) as u64,
            etag: unquote(out.e_tag()),
            body: Box::pin(out.body.into_async_read()),
        }))
    }

    /// Every `(key, length)` under `prefix`, following all pages.
    pub async fn list(&self, prefix: &str) -> Result<Vec<(String, u64)>, StoreError> {
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(prefix)
            .set_max_keys(self.list_page_size)
            .into_paginator()
            .send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| self.request_error("ListObjectsV2", prefix, e))?;
            for object in page.contents() {
                if let Some(key) = object.key() {
                    out.push((key.to_owned(), object.size().unwrap_or(0).max(0) as u64));
                }
            }
        }
        Ok(out)
    }

    /// Deletes `key`; deleting a missing object succeeds.
    pub async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| self.request_error("DeleteObject", key, e))?;
        Ok(())
    }

    /// A URL that lets anyone `GET` `key` (with or without a `Range` header) until `expires` has
    /// passed. Fails if `expires` is over 7 days (S3's limit) or the credentials cannot be loaded.
    pub async fn presign_get(&self, key: &str, expires: Duration) -> Result<String, StoreError> {
        let presigning =
            PresigningConfig::expires_in(expires).map_err(|e| StoreError::Invalid {
                parent: self.name.clone(),
                problem: format!("presigning {key:?}: {e}"),
            })?;
        let request = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .presigned(presigning)
            .await
            .map_err(|e| self.request_error("presign GetObject", key, e))?;
        Ok(request.uri().to_owned())
    }

    pub(crate) fn request_error<E>(
        &self,
        op: &'static str,
        key: &str,
        err: SdkError<E, HttpResponse>,
    ) -> StoreError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let status = http_status(&err);
        let code = err.code().map(str::to_owned);
        let message = match (status, err.code(), err.message()) {
            (Some(s), Some(c), Some(m)) => format!("HTTP {s} {c}: {m}"),
            (Some(s), Some(c), None) => format!("HTTP {s} {c}"),
            _ => DisplayErrorContext(&err).to_string(),
        };
        StoreError::Request {
            parent: self.name.clone(),
            op,
            key: key.to_owned(),
            status,
            code,
            message,
        }
    }
}

fn http_status<E>(err: &SdkError<E, HttpResponse>) -> Option<u16> {
    err.raw_response().map(|r| r.status().as_u16())
}

fn is_no_such_key(
    err: &SdkError<aws_sdk_s3::operation::get_object::GetObjectError, HttpResponse>,
) -> bool {
    err.as_service_error().is_some_and(|e| e.is_no_such_key())
}

pub(crate) fn unquote(etag: Option<&str>) -> String {
    etag.unwrap_or_default().trim_matches('"').to_owned()
}

/// The body of an object being read; an [`AsyncRead`] that yields its bytes as they arrive.
pub struct ObjectReader {
    len: u64,
    etag: String,
    body: Pin<Box<dyn AsyncBufRead + Send>>,
}

impl ObjectReader {
    /// The object's length, from the response headers.
    pub fn content_len(&self) -> u64 {
        self.len
    }

    /// The object's ETag without quotes.
    pub fn etag(&self) -> &str {
        &self.etag
    }
}

impl std::fmt::Debug for ObjectReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectReader")
            .field("len", &self.len)
            .field("etag", &self.etag)
            .finish_non_exhaustive()
    }
}

impl AsyncRead for ObjectReader {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        self.body.as_mut().poll_read(cx, buf)
    }
}
