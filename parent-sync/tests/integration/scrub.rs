//! The scrub against real `parent-store` processes: bytes changed in place on a parent's disk
//! (length and ETag untouched) are found and repaired, by the library, `parent-sync scrub` and
//! `parent-sync watch`.

use crate::common;

use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::{Duration, Instant};

use common::process::{ChildProcess, StoreProcess, sync_command, write_config};
use common::{item_key, put, read_all, sealed_object};
use parent_sync::{
    Outcome, ParentStore, ScrubOptions, ScrubOutcome, replicate, scrub, verify_sealed,
};
use protocol::sealed::{HEADER_LEN, Header};

struct Parents {
    processes: Vec<StoreProcess>,
    primary: ParentStore,
    secondaries: Vec<ParentStore>,
}

const NAMES: [&str; 3] = ["p", "s1", "s2"];

/// Three parent-store processes holding one replicated sealed object of 16 chunks.
async fn replicated(item: &str) -> (Parents, Vec<u8>) {
    let processes: Vec<StoreProcess> = (0..3).map(|_| StoreProcess::start()).collect();
    let primary = processes[0].store(NAMES[0]).await;
    let secondaries = vec![
        processes[1].store(NAMES[1]).await,
        processes[2].store(NAMES[2]).await,
    ];
    let object = sealed_object(item, 1 << 20);
    put(&primary, &item_key(item), &object).await;
    let report = replicate(&primary, &secondaries).await.unwrap();
    assert_eq!(report.copied(), 2, "{report:?}");
    let parents = Parents {
        processes,
        primary,
        secondaries,
    };
    (parents, object)
}

/// Flips 8 bytes in the middle of chunk 5 of the file a parent keeps, in place.
fn flip_bytes_in_a_chunk(path: &Path, object: &[u8]) {
    let layout = Header::decode(&object[..HEADER_LEN]).unwrap().layout();
    let chunk = layout.sealed_chunk_range(5);
    let at = (chunk.start + chunk.end) / 2;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    let mut bytes = [0u8; 8];
    file.read_exact_at(&mut bytes, at).unwrap();
    for b in &mut bytes {
        *b ^= 0x5a;
    }
    file.write_all_at(&bytes, at).unwrap();
    file.sync_all().unwrap();
    assert!(std::fs::read(path).unwrap() != object);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scrub_repairs_bytes_flipped_on_a_secondarys_disk() {
    let (net, object) = replicated("film").await;
    let key = item_key("film");
    let damaged_file = net.processes[2].object_path(&key);
    flip_bytes_in_a_chunk(&damaged_file, &object);

    // Replication alone trusts the length and ETag the store keeps.
    let plain = replicate(&net.primary, &net.secondaries).await.unwrap();
    assert_eq!(plain.outcome(&key, "s2"), Some(&Outcome::AlreadyPresent));
    assert!(verify_sealed(&net.secondaries[1], &key).await.is_err());

    // `parent-sync scrub`, one round.
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("sync.toml");
    let configs: Vec<_> = (0..3)
        .map(|i| net.processes[i].config(NAMES[i], i == 0))
        .collect();
    write_config(&config, &configs);
    let out = sync_command(&config)
        .args(["scrub", "--scrub-bytes-per-sec", "16000000"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stderr:\n{stderr}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "2 verified, 1 repaired, 0 missing, 0 failed",
        "stderr:\n{stderr}"
    );
    let logged = stderr
        .lines()
        .find(|l| l.contains("scrub repaired a damaged copy"))
        .unwrap_or_else(|| panic!("no repair logged:\n{stderr}"));
    assert!(
        logged.contains(&key) && logged.contains("parent=\"s2\"") && logged.contains("chunk 5"),
        "{logged}"
    );

    // The bytes on s2's disk are the primary's again.
    assert!(std::fs::read(&damaged_file).unwrap() == object);
    assert!(std::fs::read(net.processes[0].object_path(&key)).unwrap() == object);
    assert!(read_all(&net.secondaries[1], &key).await.unwrap() == object);

    // The next round finds nothing to do, and is paced: 3 copies of ~1 MiB at 1 MiB/s.
    let started = Instant::now();
    let again = scrub(
        &net.primary,
        &net.secondaries,
        &ScrubOptions {
            bytes_per_sec: 1 << 20,
        },
    )
    .await
    .unwrap();
    let took = started.elapsed();
    assert_eq!(
        again.to_string(),
        "3 verified, 0 repaired, 0 missing, 0 failed"
    );
    assert!(again.bytes_checked() > 3 << 20);
    assert!(
        took >= Duration::from_millis(2500),
        "3 MiB read at 1 MiB/s in {took:?}"
    );
    eprintln!(
        "scrub of {} bytes at 1 MiB/s took {took:?}",
        again.bytes_checked()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_primary_is_repaired_from_a_verified_secondary() {
    let (net, object) = replicated("game").await;
    let key = item_key("game");
    flip_bytes_in_a_chunk(&net.processes[0].object_path(&key), &object);
    flip_bytes_in_a_chunk(&net.processes[1].object_path(&key), &object);

    let report = scrub(&net.primary, &net.secondaries, &ScrubOptions::default())
        .await
        .unwrap();
    assert_eq!(
        report.to_string(),
        "1 verified, 2 repaired, 0 missing, 0 failed"
    );
    let Some(ScrubOutcome::Repaired { from, damage, .. }) = report.outcome(&key, "p") else {
        panic!("{report:?}");
    };
    assert_eq!(from, "s2");
    assert!(damage.contains("chunk 5"), "{damage}");
    for p in &net.processes {
        assert!(std::fs::read(p.object_path(&key)).unwrap() == object);
    }

    // With every copy damaged nothing can be trusted: reported, and left in place.
    for p in &net.processes {
        flip_bytes_in_a_chunk(&p.object_path(&key), &object);
    }
    let report = scrub(&net.primary, &net.secondaries, &ScrubOptions::default())
        .await
        .unwrap();
    assert_eq!(report.failed(), 3, "{report:?}");
    let Some(ScrubOutcome::Failed { reason }) = report.outcome(&key, "s1") else {
        panic!("{report:?}");
    };
    assert!(
        reason.contains("no parent holds a verified copy"),
        "{reason}"
    );
    assert!(net.processes[1].object_path(&key).exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_scrubs_on_its_schedule_and_repairs_what_the_etag_hides() {
    let (net, object) = replicated("show").await;
    let key = item_key("show");
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("sync.toml");
    let configs: Vec<_> = (0..3)
        .map(|i| net.processes[i].config(NAMES[i], i == 0))
        .collect();
    write_config(&config, &configs);
    let damaged_file = net.processes[1].object_path(&key);
    flip_bytes_in_a_chunk(&damaged_file, &object);

    let mut watcher = ChildProcess::spawn(sync_command(&config).args([
        "watch",
        "--interval-secs",
        "1",
        "--scrub-interval-secs",
        "1",
    ]));
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::fs::read(&damaged_file).unwrap() != object {
        assert!(
            Instant::now() < deadline,
            "not repaired; stderr:\n{}",
            watcher.stderr()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The log line follows the write that repaired the file: wait for it too.
    while !watcher.stderr().contains("scrub repaired a damaged copy") {
        assert!(
            Instant::now() < deadline,
            "repaired without saying so; stderr:\n{}",
            watcher.stderr()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let status = watcher.terminate();
    assert!(status.success(), "{status}; stderr:\n{}", watcher.stderr());
    let stderr = watcher.stderr();
    assert!(stderr.contains("repaired_since_start=1"), "{stderr}");
}
