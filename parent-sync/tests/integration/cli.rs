//! The two binaries as child processes: `parent-store` on port 0, `parent-sync once` and `watch`
//! against in-process parents.

use crate::common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::process::{ChildProcess, STORE_BIN, SYNC_BIN, write_config};
use common::{ACCESS_KEY, LocalParent, SECRET_KEY, item_key, put, read_all, sealed_object};
use parent_sync::{ParentConfig, ParentStore};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parent_store_binary_serves_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("not/yet/there");
    let mut server = ChildProcess::spawn(Command::new(STORE_BIN).args([
        "--root",
        root.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
        "--access-key",
        ACCESS_KEY,
        "--secret-key",
        SECRET_KEY,
        "--bucket",
        "library",
        "--region",
        "eu",
    ]));
    let addr = server.listening_addr();
    assert!(root.join("library").is_dir());

    let store = ParentStore::connect(&ParentConfig {
        name: "child".into(),
        region: "eu".into(),
        endpoint: Some(format!("http://{addr}")),
        bucket: "library".into(),
        access_key: Some(ACCESS_KEY.into()),
        secret_key: Some(SECRET_KEY.into()),
        primary: true,
        connect_timeout_secs: parent_sync::config::DEFAULT_CONNECT_TIMEOUT_SECS,
        first_byte_timeout_secs: parent_sync::config::DEFAULT_FIRST_BYTE_TIMEOUT_SECS,
        idle_timeout_secs: parent_sync::config::DEFAULT_IDLE_TIMEOUT_SECS,
    })
    .await
    .unwrap();
    put(&store, "items/a/v1.sealed", b"hello").await;
    assert_eq!(
        read_all(&store, "items/a/v1.sealed").await.unwrap(),
        b"hello"
    );

    let status = server.terminate();
    assert!(status.success(), "{status}; stderr:\n{}", server.stderr());
}

#[test]
fn help_and_bad_arguments() {
    for bin in [STORE_BIN, SYNC_BIN] {
        let out = Command::new(bin).arg("--help").output().unwrap();
        assert!(out.status.success());
        assert!(String::from_utf8_lossy(&out.stdout).contains("--"));
    }
    let out = Command::new(STORE_BIN)
        .args(["--root", "/tmp/x", "--access-key", "a"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--secret-key"));
    let out = Command::new(STORE_BIN)
        .args(["--root", "/tmp/x", "--access-key", "a", "--secret-key", "s"])
        .args(["--listen", "127.0.0.1:0", "--bucket", "No_Such"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("bucket"));
}

async fn run_sync(config: &Path, args: &[&str]) -> std::process::Output {
    tokio::process::Command::new(SYNC_BIN)
        .arg("--config")
        .arg(config)
        .args(args)
        // The secret comes from the environment, not the file.
        .env("PARENT_P_SECRET_KEY", SECRET_KEY)
        .env("PARENT_S1_SECRET_KEY", SECRET_KEY)
        .env("PARENT_S2_SECRET_KEY", SECRET_KEY)
        .output()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parent_sync_once_copies_then_finds_everything_present() {
    let parents = [
        LocalParent::start().await,
        LocalParent::start().await,
        LocalParent::start().await,
    ];
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("sync.toml");
    write_config(
        &config,
        &[
            parents[0].config("p", true),
            parents[1].config("s1", false),
            parents[2].config("s2", false),
        ],
    );
    let object = sealed_object("film", 100_000);
    put(&parents[0].store("p").await, &item_key("film"), &object).await;

    let out = run_sync(&config, &["once"]).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stderr:\n{stderr}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "2 copied, 0 already present, 0 failed"
    );
    assert!(
        read_all(&parents[2].store("s2").await, &item_key("film"))
            .await
            .unwrap()
            == object
    );

    let out = run_sync(&config, &["--verify-present", "once"]).await;
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "0 copied, 2 already present, 0 failed"
    );

    // A failed copy makes `once` exit non-zero.
    put(
        &parents[0].store("p").await,
        &item_key("junk"),
        b"not sealed",
    )
    .await;
    let out = run_sync(&config, &["once"]).await;
    assert!(!out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "0 copied, 2 already present, 2 failed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parent_sync_rejects_a_config_without_primary() {
    let parent = LocalParent::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("sync.toml");
    write_config(
        &config,
        &[parent.config("s1", false), parent.config("s2", false)],
    );
    let out = run_sync(&config, &["once"]).await;
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("primary = true"), "{stderr}");

    std::fs::write(&config, "[[parents]]\nname = \"p\"\nbucket = \"parents\"\nregion = \"eu\"\nprimary = true\ncolour = \"red\"\n").unwrap();
    let out = run_sync(&config, &["once"]).await;
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("colour"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parent_sync_watch_copies_new_objects_and_stops_on_sigterm() {
    let parents = [LocalParent::start().await, LocalParent::start().await];
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("sync.toml");
    write_config(
        &config,
        &[parents[0].config("p", true), parents[1].config("s1", false)],
    );
    let mut watcher = ChildProcess::spawn(
        Command::new(SYNC_BIN)
            .arg("--config")
            .arg(&config)
            .args(["watch", "--interval-secs", "1"])
            .env("PARENT_P_SECRET_KEY", SECRET_KEY)
            .env("PARENT_S1_SECRET_KEY", SECRET_KEY),
    );
    let object = sealed_object("film", 10_000);
    put(&parents[0].store("p").await, &item_key("film"), &object).await;

    let secondary = parents[1].store("s1").await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while secondary.head(&item_key("film")).await.unwrap().is_none() {
        assert!(
            Instant::now() < deadline,
            "not replicated; stderr:\n{}",
            watcher.stderr()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(read_all(&secondary, &item_key("film")).await.unwrap() == object);
    let status = watcher.terminate();
    assert!(status.success(), "{status}; stderr:\n{}", watcher.stderr());
}
