//! Replication between three real local parents, with real sealed objects.

use crate::common;

use common::{LocalParent, item_key, put, read_all, sealed_object};
use parent_sync::{
    Outcome, ParentStore, ReplicateOptions, VerifyError, replicate, replicate_with, verify_sealed,
};

struct Network {
    parents: Vec<LocalParent>,
    primary: ParentStore,
    secondaries: Vec<ParentStore>,
}

async fn network() -> Network {
    let parents = vec![
        LocalParent::start().await,
        LocalParent::start().await,
        LocalParent::start().await,
    ];
    let primary = parents[0].store("primary").await;
    let secondaries = vec![parents[1].store("s1").await, parents[2].store("s2").await];
    Network {
        parents,
        primary,
        secondaries,
    }
}

#[tokio::test]
async fn copies_what_is_missing_and_verifies_it() {
    let net = network().await;
    // ~10 MiB: more than one part, so the copy is a multipart upload.
    let objects = [
        ("small", sealed_object("small", 1000)),
        ("medium", sealed_object("medium", 300_000)),
        ("large", sealed_object("large", 10 << 20)),
    ];
    for (item, bytes) in &objects {
        put(&net.primary, &item_key(item), bytes).await;
    }
    // Not under items/: not replicated.
    put(&net.primary, "manifests/current.json", b"{}").await;
    // s1 already holds one object, written the way main writes (same bytes, same ETag).
    put(&net.secondaries[0], &item_key("small"), &objects[0].1).await;

    let report = replicate(&net.primary, &net.secondaries).await.unwrap();
    assert_eq!(report.objects.len(), 6, "{report:?}");
    assert_eq!(
        (report.copied(), report.already_present(), report.failed()),
        (5, 1, 0),
        "{report:?}"
    );
    assert_eq!(
        report.outcome(&item_key("small"), "s1"),
        Some(&Outcome::AlreadyPresent)
    );
    assert_eq!(
        report.outcome(&item_key("large"), "s2"),
        Some(&Outcome::Copied {
            bytes: objects[2].1.len() as u64
        })
    );
    for secondary in &net.secondaries {
        for (item, bytes) in &objects {
            assert!(read_all(secondary, &item_key(item)).await.unwrap() == *bytes);
            verify_sealed(secondary, &item_key(item)).await.unwrap();
        }
        assert_eq!(
            secondary.head("manifests/current.json").await.unwrap(),
            None
        );
    }

    // The second round has nothing to do.
    let again = replicate(&net.primary, &net.secondaries).await.unwrap();
    assert_eq!(
        (again.copied(), again.already_present(), again.failed()),
        (0, 6, 0),
        "{again:?}"
    );
    drop(net.parents);
}

#[tokio::test]
async fn a_different_copy_of_the_same_length_is_replaced() {
    let net = network().await;
    let key = item_key("film");
    let good = sealed_object("film", 200_000);
    put(&net.primary, &key, &good).await;
    // Same length, different bytes (another sealing of other content): its ETag differs.
    let mut other = good.clone();
    other[1000] ^= 0xff;
    put(&net.secondaries[0], &key, &other).await;

    let report = replicate(&net.primary, &net.secondaries).await.unwrap();
    assert!(
        matches!(report.outcome(&key, "s1"), Some(Outcome::Copied { .. })),
        "{report:?}"
    );
    assert!(read_all(&net.secondaries[0], &key).await.unwrap() == good);
}

#[tokio::test]
async fn damage_at_rest_is_found_by_verify_present() {
    let net = network().await;
    let key = item_key("film");
    let good = sealed_object("film", 200_000);
    put(&net.primary, &key, &good).await;
    replicate(&net.primary, &net.secondaries).await.unwrap();

    // Flip a byte inside a chunk of s2's file behind the server's back: length and ETag
    // (kept in s3s-fs's metadata) are unchanged.
    let path = net.parents[2].object_path(&key);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[5000] ^= 1;
    std::fs::write(&path, &bytes).unwrap();
    assert!(matches!(
        verify_sealed(&net.secondaries[1], &key).await,
        Err(VerifyError::Sealed { .. })
    ));

    // A plain round trusts length and ETag and does not notice.
    let plain = replicate(&net.primary, &net.secondaries).await.unwrap();
    assert_eq!(plain.outcome(&key, "s2"), Some(&Outcome::AlreadyPresent));

    let deep = replicate_with(
        &net.primary,
        &net.secondaries,
        ReplicateOptions {
            verify_present: true,
        },
    )
    .await
    .unwrap();
    assert_eq!(deep.outcome(&key, "s1"), Some(&Outcome::AlreadyPresent));
    assert!(
        matches!(deep.outcome(&key, "s2"), Some(Outcome::Copied { .. })),
        "{deep:?}"
    );
    assert!(read_all(&net.secondaries[1], &key).await.unwrap() == good);
    verify_sealed(&net.secondaries[1], &key).await.unwrap();
}

#[tokio::test]
async fn a_copy_that_fails_verification_is_deleted_and_reported() {
    let net = network().await;
    let good_key = item_key("good");
    let bad_key = item_key("bad");
    let not_sealed_key = item_key("notsealed");
    put(&net.primary, &good_key, &sealed_object("good", 100_000)).await;
    // The primary's own object is damaged: every copy of it fails verification.
    let mut bad = sealed_object("bad", 100_000);
    bad[70_000] ^= 0x80;
    put(&net.primary, &bad_key, &bad).await;
    put(
        &net.primary,
        &not_sealed_key,
        b"just some bytes, not a sealed object",
    )
    .await;

    let report = replicate(&net.primary, &net.secondaries).await.unwrap();
    assert_eq!((report.copied(), report.failed()), (2, 4), "{report:?}");
    for secondary in &net.secondaries {
        let Some(Outcome::Failed { reason }) = report.outcome(&bad_key, secondary.name()) else {
            panic!("{report:?}");
        };
        assert!(
            reason.contains("deleted") && reason.contains("chunk"),
            "{reason}"
        );
        assert_eq!(secondary.head(&bad_key).await.unwrap(), None);
        assert_eq!(secondary.head(&not_sealed_key).await.unwrap(), None);
        assert!(secondary.head(&good_key).await.unwrap().is_some());
    }
    // Failures are retried next round (and fail again while the primary is damaged).
    let again = replicate(&net.primary, &net.secondaries).await.unwrap();
    assert_eq!((again.already_present(), again.failed()), (2, 4));
}

#[tokio::test]
async fn a_down_secondary_fails_alone() {
    let mut net = network().await;
    let key = item_key("film");
    put(&net.primary, &key, &sealed_object("film", 50_000)).await;
    net.parents[1].stop().await;

    let report = replicate(&net.primary, &net.secondaries).await.unwrap();
    assert!(
        matches!(report.outcome(&key, "s1"), Some(Outcome::Failed { .. })),
        "{report:?}"
    );
    assert!(matches!(
        report.outcome(&key, "s2"),
        Some(Outcome::Copied { .. })
    ));

    // A primary that cannot be listed fails the round as a whole.
    net.parents[0].stop().await;
    assert!(replicate(&net.primary, &net.secondaries).await.is_err());
}
