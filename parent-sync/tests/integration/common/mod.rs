//! In-process local parents on port 0 and sealed test objects.

#![allow(
    dead_code,
    reason = "each test file uses a different part of the harness"
)]

pub mod process;

use std::net::SocketAddr;
use std::path::PathBuf;

use parent_sync::{ParentConfig, ParentStore, ServerConfig};
use protocol::ItemId;
use protocol::seal::{ContentKey, SealParams, seal_to_vec};
use tokio::sync::oneshot;

pub const ACCESS_KEY: &str = "test-access-key";
pub const SECRET_KEY: &str = "test-secret-key";
pub const BUCKET: &str = "parents";
pub const REGION: &str = "eu";

/// A test parent at `endpoint` as a configuration: the test bucket and keys, default timeouts.
pub fn parent_config(name: &str, region: &str, endpoint: String, primary: bool) -> ParentConfig {
    ParentConfig {
        name: name.into(),
        region: region.into(),
        endpoint: Some(endpoint),
        bucket: BUCKET.into(),
        access_key: Some(ACCESS_KEY.into()),
        secret_key: Some(SECRET_KEY.into()),
        primary,
        connect_timeout_secs: parent_sync::config::DEFAULT_CONNECT_TIMEOUT_SECS,
        first_byte_timeout_secs: parent_sync::config::DEFAULT_FIRST_BYTE_TIMEOUT_SECS,
        idle_timeout_secs: parent_sync::config::DEFAULT_IDLE_TIMEOUT_SECS,
    }
}

/// A `parent-store` server running in this process over a temporary directory; stopped on drop.
pub struct LocalParent {
    pub addr: SocketAddr,
    pub root: tempfile::TempDir,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<Result<(), parent_sync::ServerError>>>,
}

impl LocalParent {
    pub async fn start() -> Self {
        let root = tempfile::tempdir().expect("temp dir");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind port 0");
        let addr = listener.local_addr().expect("local addr");
        let config = ServerConfig {
            // A directory that does not exist yet: the server must create it and the bucket.
            root: root.path().join("store"),
            bucket: BUCKET.into(),
            region: REGION.into(),
            access_key: ACCESS_KEY.into(),
            secret_key: SECRET_KEY.into(),
            limits: Default::default(),
        };
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            parent_sync::run(listener, &config, async {
                let _ = stopped.await;
            })
            .await
        });
        Self {
            addr,
            root,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Stops the server and waits until it has stopped.
    pub async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("server task").expect("server ran");
        }
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn config(&self, name: &str, primary: bool) -> ParentConfig {
        parent_config(name, REGION, self.endpoint(), primary)
    }

    pub async fn store(&self, name: &str) -> ParentStore {
        ParentStore::connect(&self.config(name, false))
            .await
            .expect("connect")
    }

    /// Where s3s-fs keeps the bytes of `key`, for damaging a copy at rest.
    pub fn object_path(&self, key: &str) -> PathBuf {
        self.root.path().join("store").join(BUCKET).join(key)
    }
}

impl Drop for LocalParent {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Deterministic pseudo-random bytes (xorshift), so failures are reproducible.
pub fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// A real sealed object of `plaintext_len` bytes with 64 KiB chunks.
pub fn sealed_object(item: &str, plaintext_len: usize) -> Vec<u8> {
    let params = SealParams {
        chunk_size: 64 << 10,
        ..SealParams::new(ItemId::parse(item).expect("item id"), 1)
    };
    seal_to_vec(
        &ContentKey::generate(),
        params,
        &pseudo_random(plaintext_len, plaintext_len as u64),
    )
    .expect("seal")
}

pub fn item_key(item: &str) -> String {
    format!("items/{item}/v1.sealed")
}

pub async fn put(store: &ParentStore, key: &str, bytes: &[u8]) {
    store
        .put_object_stream(key, bytes, bytes.len() as u64)
        .await
        .expect("put");
}

pub async fn read_all(store: &ParentStore, key: &str) -> Option<Vec<u8>> {
    use tokio::io::AsyncReadExt;
    let mut reader = store.get_stream(key).await.expect("get")?;
    let mut out = Vec::new();
    reader.read_to_end(&mut out).await.expect("read body");
    Some(out)
}

/// The region moto's bucket is made in (us-east-1 needs no location constraint).
pub const MOTO_REGION: &str = "us-east-1";

/// A parent store the behaviour suite runs against.
pub trait TestParent {
    /// Base URL of the server.
    fn endpoint(&self) -> String;
    /// This parent, named `name`, as a configuration.
    fn config(&self, name: &str, primary: bool) -> ParentConfig;
    /// Keys of the multipart uploads begun and neither completed nor aborted.
    async fn open_uploads(&self) -> Vec<String>;
    /// A client of this parent.
    async fn store(&self, name: &str) -> ParentStore {
        ParentStore::connect(&self.config(name, false))
            .await
            .expect("connect")
    }
}

impl TestParent for LocalParent {
    fn endpoint(&self) -> String {
        LocalParent::endpoint(self)
    }

    fn config(&self, name: &str, primary: bool) -> ParentConfig {
        LocalParent::config(self, name, primary)
    }

    /// s3s-fs keeps the parts of an upload as `.upload_id-*` files in its root until the upload
    /// is completed or aborted.
    async fn open_uploads(&self) -> Vec<String> {
        std::fs::read_dir(self.root.path().join("store"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(".upload_id-"))
            .collect()
    }
}

/// A bucket in a `moto` server: S3 as moto serves it, reached as on AWS but path-style. The
/// second backend of the parent store behaviour suite; moto checks no signatures, so the
/// refusal tests run against [`LocalParent`] only.
pub struct MotoParent {
    moto: e2e::moto::Moto,
}

impl MotoParent {
    /// Starts moto and creates the bucket; `None` (after a SKIPPED line) where moto is missing.
    pub async fn start() -> Option<Self> {
        let moto = tokio::task::spawn_blocking(e2e::moto::Moto::start)
            .await
            .expect("starting moto")?;
        let parent = Self { moto };
        parent
            .client()
            .create_bucket()
            .bucket(BUCKET)
            .send()
            .await
            .expect("creating the bucket in moto");
        Some(parent)
    }

    /// An S3 client of the SDK itself, for what `ParentStore` does not do.
    fn client(&self) -> aws_sdk_s3::Client {
        use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
        let config = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .endpoint_url(&self.moto.url)
            .region(Region::new(MOTO_REGION))
            .credentials_provider(Credentials::new(ACCESS_KEY, SECRET_KEY, None, None, "test"))
            .force_path_style(true)
            .build();
        aws_sdk_s3::Client::from_conf(config)
    }
}

impl TestParent for MotoParent {
    fn endpoint(&self) -> String {
        self.moto.url.clone()
    }

    fn config(&self, name: &str, primary: bool) -> ParentConfig {
        parent_config(name, MOTO_REGION, self.endpoint(), primary)
    }

    async fn open_uploads(&self) -> Vec<String> {
        let listed = self
            .client()
            .list_multipart_uploads()
            .bucket(BUCKET)
            .send()
            .await
            .expect("listing multipart uploads");
        listed
            .uploads()
            .iter()
            .filter_map(|u| u.key().map(str::to_owned))
            .collect()
    }
}
