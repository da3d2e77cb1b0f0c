//! A stopped parent (a real `parent-store` process under SIGSTOP: its socket accepts, nothing
//! answers) fails every kind of call within the configured timeouts, with an error that says
//! so, instead of hanging: a request, an upload, a download stalled mid-body, and
//! `parent-sync once`.

use crate::common;

use std::time::{Duration, Instant};

use common::process::{StoreProcess, sync_command, write_config};
use common::{item_key, put, sealed_object};
use parent_sync::{ParentConfig, ParentStore, StoreError};
use tokio::io::AsyncReadExt;

/// Far beyond what the timeouts allow (three attempts of 2 s each, plus backoff): a call still
/// running by then is hanging.
const HANGING: Duration = Duration::from_secs(30);
/// What a call to a stopped parent may take.
const BOUND: Duration = Duration::from_secs(15);

fn with_short_timeouts(mut config: ParentConfig) -> ParentConfig {
    config.connect_timeout_secs = 2;
    config.first_byte_timeout_secs = 2;
    config.idle_timeout_secs = 2;
    config
}

async fn short_timeout_store(parent: &StoreProcess, name: &str) -> ParentStore {
    ParentStore::connect(&with_short_timeouts(parent.config(name, false)))
        .await
        .unwrap()
}

/// Runs `call`, failing the test if it hangs; returns its result and how long it took.
async fn timed<T>(what: &str, call: impl Future<Output = T>) -> (T, Duration) {
    let started = Instant::now();
    let result = tokio::time::timeout(HANGING, call)
        .await
        .unwrap_or_else(|_| panic!("{what} still hanging after {HANGING:?}"));
    (result, started.elapsed())
}

fn assert_timed_out(what: &str, result: Result<impl std::fmt::Debug, StoreError>, took: Duration) {
    let err = result.expect_err(what).to_string();
    assert!(took < BOUND, "{what} took {took:?}: {err}");
    assert!(err.to_lowercase().contains("timeout"), "{what}: {err}");
    eprintln!("{what}: failed in {took:?}: {err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_parent_fails_calls_within_the_timeouts() {
    let parent = StoreProcess::start();
    let store = short_timeout_store(&parent, "stopped").await;
    // 24 MiB: more than loopback's socket buffers hold, so a download really stalls.
    let big = vec![7u8; 24 << 20];
    put(&store, "items/big/v1.sealed", &big).await;

    let mut reader = store
        .get_stream("items/big/v1.sealed")
        .await
        .unwrap()
        .unwrap();
    let mut first = vec![0u8; 1 << 20];
    reader.read_exact(&mut first).await.unwrap();

    parent.signal("STOP");
    let (read, took) = timed("a download stalled mid-body", async {
        let mut sink = Vec::new();
        reader.read_to_end(&mut sink).await
    })
    .await;
    let err = read.expect_err("the rest of a stalled download");
    assert!(
        took < BOUND,
        "stalled download failed after {took:?}: {err}"
    );
    eprintln!("a download stalled mid-body: failed in {took:?}: {err}");

    let (head, took) = timed("HeadObject", store.head("items/big/v1.sealed")).await;
    assert_timed_out("HeadObject", head, took);
    let (upload, took) = timed(
        "an upload",
        store.put_object_stream("items/new/v1.sealed", &big[..1 << 20], 1 << 20),
    )
    .await;
    assert_timed_out("an upload", upload, took);

    parent.signal("CONT");
    assert!(store.head("items/big/v1.sealed").await.unwrap().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parent_sync_once_reports_a_stopped_secondary_in_seconds() {
    let parents = [StoreProcess::start(), StoreProcess::start()];
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("sync.toml");
    write_config(
        &config,
        &[
            with_short_timeouts(parents[0].config("p", true)),
            with_short_timeouts(parents[1].config("s1", false)),
        ],
    );
    let object = sealed_object("film", 100_000);
    put(&parents[0].store("p").await, &item_key("film"), &object).await;

    parents[1].signal("STOP");
    let (out, took) = timed(
        "parent-sync once",
        tokio::process::Command::from(sync_command(&config))
            .arg("once")
            .output(),
    )
    .await;
    let out = out.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(took < BOUND, "took {took:?}; stderr:\n{stderr}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "0 copied, 0 already present, 1 failed"
    );
    assert!(stderr.contains("timeout"), "{stderr}");
    eprintln!("parent-sync once with a stopped secondary: exit 1 in {took:?}");
    parents[1].signal("CONT");
}
