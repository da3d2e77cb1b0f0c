//! The parent store behaviour suite: `ParentStore` against two S3 servers — a local parent
//! (s3s-fs with SigV4 checked, in process) and moto's S3 (what the code meets on AWS, reached
//! the same way). The behaviours run on both (`local::…`, `moto::…`); the refusals of bad
//! signatures, tampered or expired URLs and a stopped server run on the local parent only,
//! because moto checks no signatures.

use crate::common;

use std::time::Duration;

use common::{LocalParent, MotoParent, TestParent, pseudo_random, put, read_all};
use parent_sync::{PART_SIZE, ParentStore, StoreError};

/// Runs each behaviour against a fresh local parent and a fresh moto bucket.
macro_rules! on_both_backends {
    ($($behaviour:ident),* $(,)?) => {
        mod local {
            $(
                #[tokio::test]
                async fn $behaviour() {
                    super::$behaviour(&super::LocalParent::start().await).await;
                }
            )*
        }
        mod moto {
            $(
                #[tokio::test]
                async fn $behaviour() {
                    let Some(parent) = super::MotoParent::start().await else { return };
                    super::$behaviour(&parent).await;
                }
            )*
        }
    };
}

on_both_backends!(
    small_object_round_trip,
    multipart_object_of_20_mib,
    a_reader_of_the_wrong_length_leaves_no_object,
    list_follows_pages_and_filters_by_prefix,
    presigned_url_serves_ranges_without_credentials,
);

async fn small_object_round_trip(parent: &impl TestParent) {
    let store = parent.store("p").await;
    let key = "items/film/v1.sealed";
    let data = pseudo_random(1000, 1);

    assert_eq!(store.head(key).await.unwrap(), None);
    assert_eq!(store.get_range(key, 0, 9).await.unwrap(), None);
    assert!(store.get_stream(key).await.unwrap().is_none());

    let written = store
        .put_object_stream(key, &data[..], data.len() as u64)
        .await
        .unwrap();
    let meta = store.head(key).await.unwrap().expect("present");
    assert_eq!(meta.len, 1000);
    assert!(!meta.etag.is_empty());
    assert_eq!(meta.etag, written.etag);
    assert_eq!(meta.replicated_from, None);

    let range = store.get_range(key, 10, 19).await.unwrap().unwrap();
    assert_eq!(&range[..], &data[10..20]);
    // A range running past the end is cut at the end, as S3 does.
    let tail = store.get_range(key, 990, 5000).await.unwrap().unwrap();
    assert_eq!(&tail[..], &data[990..]);
    assert_eq!(read_all(&store, key).await.unwrap(), data);
    assert_eq!(
        store.list("items/").await.unwrap(),
        vec![(key.to_owned(), 1000)]
    );

    store.delete(key).await.unwrap();
    assert_eq!(store.head(key).await.unwrap(), None);
    assert!(store.list("items/").await.unwrap().is_empty());
    // Deleting what is not there succeeds.
    store.delete(key).await.unwrap();
}

async fn multipart_object_of_20_mib(parent: &impl TestParent) {
    let store = parent.store("p").await;
    let key = "items/big/v1.sealed";
    let data = pseudo_random(20 * 1024 * 1024 + 123, 2);

    let written = store
        .put_object_stream(key, &data[..], data.len() as u64)
        .await
        .unwrap();
    // Three parts of 8 MiB, 8 MiB and the rest: the multipart ETag says so.
    assert!(written.etag.ends_with("-3"), "etag {}", written.etag);
    let meta = store.head(key).await.unwrap().unwrap();
    assert_eq!(meta.len, data.len() as u64);
    assert_eq!(meta.etag, written.etag);

    let boundary = PART_SIZE;
    let across = store
        .get_range(key, boundary - 5, boundary + 4)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        &across[..],
        &data[boundary as usize - 5..boundary as usize + 5]
    );
    assert!(read_all(&store, key).await.unwrap() == data);
}

async fn a_reader_of_the_wrong_length_leaves_no_object(parent: &impl TestParent) {
    let store = parent.store("p").await;
    let short = pseudo_random(100, 3);

    let err = store
        .put_object_stream("items/a/v1.sealed", &short[..], 101)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::LengthMismatch { .. }), "{err}");
    let err = store
        .put_object_stream("items/a/v1.sealed", &short[..], 99)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::LengthMismatch { .. }), "{err}");

    // Multipart: the first part goes up, then the reader runs dry; the upload is aborted.
    let big = pseudo_random(PART_SIZE as usize + 10, 4);
    let err = store
        .put_object_stream("items/b/v1.sealed", &big[..], PART_SIZE + 20)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::LengthMismatch { .. }), "{err}");
    assert_eq!(store.head("items/a/v1.sealed").await.unwrap(), None);
    assert_eq!(store.head("items/b/v1.sealed").await.unwrap(), None);
    let leftovers = parent.open_uploads().await;
    assert!(leftovers.is_empty(), "uploads left open: {leftovers:?}");
}

async fn list_follows_pages_and_filters_by_prefix(parent: &impl TestParent) {
    let store = parent.store("p").await.with_list_page_size(2);
    for i in 0..5 {
        put(&store, &format!("items/i{i}/v1.sealed"), &[i as u8; 10]).await;
    }
    put(&store, "posters/x.jpg", b"poster").await;

    let listed = store.list("items/").await.unwrap();
    let keys: Vec<&str> = listed.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        keys,
        [0, 1, 2, 3, 4].map(|i| format!("items/i{i}/v1.sealed"))
    );
    assert!(listed.iter().all(|(_, len)| *len == 10));
    assert_eq!(store.list("").await.unwrap().len(), 6);
}

#[tokio::test]
async fn wrong_secret_key_is_refused() {
    let parent = LocalParent::start().await;
    let good = parent.store("p").await;
    put(&good, "items/a/v1.sealed", b"abc").await;

    let mut config = parent.config("p", false);
    config.secret_key = Some("not-the-secret".into());
    let bad = ParentStore::connect(&config).await.unwrap();
    let err = bad.head("items/a/v1.sealed").await.unwrap_err();
    assert!(err.is_access_denied(), "{err}");
    let err = bad.get_range("items/a/v1.sealed", 0, 1).await.unwrap_err();
    assert!(err.is_access_denied(), "{err}");
    let err = bad
        .put_object_stream("items/b/v1.sealed", &b"xyz"[..], 3)
        .await
        .unwrap_err();
    assert!(err.is_access_denied(), "{err}");
    assert_eq!(good.head("items/b/v1.sealed").await.unwrap(), None);

    let mut config = parent.config("p", false);
    config.access_key = Some("unknown-access-key".into());
    let unknown = ParentStore::connect(&config).await.unwrap();
    let err = unknown.list("items/").await.unwrap_err();
    assert!(err.is_access_denied(), "{err}");
}

async fn presigned_url_serves_ranges_without_credentials(parent: &impl TestParent) {
    let store = parent.store("p").await;
    let key = "items/film/v1.sealed";
    let data = pseudo_random(5000, 5);
    put(&store, key, &data).await;

    let url = store
        .presign_get(key, Duration::from_secs(300))
        .await
        .unwrap();
    assert!(url.starts_with(&parent.endpoint()), "{url}");
    let http = reqwest::Client::new();

    let whole = http.get(&url).send().await.unwrap();
    assert_eq!(whole.status(), 200);
    assert_eq!(whole.bytes().await.unwrap(), data);

    let ranged = http
        .get(&url)
        .header("Range", "bytes=100-199")
        .send()
        .await
        .unwrap();
    assert_eq!(ranged.status(), 206);
    assert_eq!(
        ranged.headers()["content-range"].to_str().unwrap(),
        "bytes 100-199/5000"
    );
    assert_eq!(ranged.bytes().await.unwrap(), data[100..200]);
}

/// Changes one character of the part of `url` that starts at `marker`.
fn tamper(url: &str, marker: &str) -> String {
    let at = url.find(marker).expect("marker in url") + marker.len();
    let mut bytes = url.as_bytes().to_vec();
    bytes[at] = if bytes[at] == b'a' { b'b' } else { b'a' };
    String::from_utf8(bytes).unwrap()
}

#[tokio::test]
async fn tampered_presigned_urls_are_refused() {
    let parent = LocalParent::start().await;
    let store = parent.store("p").await;
    put(&store, "items/film/v1.sealed", b"film bytes").await;
    put(&store, "items/gilm/v1.sealed", b"other item").await;
    let url = store
        .presign_get("items/film/v1.sealed", Duration::from_secs(300))
        .await
        .unwrap();
    let http = reqwest::Client::new();

    for (what, bad) in [
        ("signature", tamper(&url, "X-Amz-Signature=")),
        // film -> gilm: an object that exists, so only the signature can refuse it.
        (
            "object key",
            url.replacen("/items/film/", "/items/gilm/", 1),
        ),
        ("access key", tamper(&url, "X-Amz-Credential=")),
        (
            "expiry",
            url.replacen("X-Amz-Expires=300", "X-Amz-Expires=301", 1),
        ),
    ] {
        assert_ne!(bad, url, "{what} was not changed");
        let resp = http.get(&bad).send().await.unwrap();
        assert_eq!(resp.status(), 403, "tampered {what} was accepted");
    }
    // The untampered URL still works: the refusals were about the changes.
    assert_eq!(http.get(&url).send().await.unwrap().status(), 200);
}

#[tokio::test]
async fn expired_presigned_url_is_refused() {
    let parent = LocalParent::start().await;
    let store = parent.store("p").await;
    put(&store, "items/film/v1.sealed", b"film bytes").await;
    let url = store
        .presign_get("items/film/v1.sealed", Duration::from_secs(1))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let resp = reqwest::Client::new()
        .get(&url)
        .header("Range", "bytes=0-3")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
}

#[tokio::test]
async fn unauthenticated_and_garbage_requests_are_refused_and_harmless() {
    let parent = LocalParent::start().await;
    let store = parent.store("p").await;
    put(&store, "items/film/v1.sealed", b"film bytes").await;
    let http = reqwest::Client::new();
    let base = parent.endpoint();

    for path in [
        "/parents/items/film/v1.sealed",
        "/",
        "/healthz",
        "/parents?list-type=2",
    ] {
        let resp = http.get(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(resp.status(), 403, "anonymous GET {path}");
    }
    let resp = http
        .put(format!("{base}/parents/items/evil/v1.sealed"))
        .body("evil")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    let resp = http
        .get(format!("{base}/parents/items/film/v1.sealed"))
        .header("Authorization", "AWS4-HMAC-SHA256 garbage")
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_client_error(), "{}", resp.status());

    // The server is still up and unchanged.
    assert_eq!(store.head("items/evil/v1.sealed").await.unwrap(), None);
    assert_eq!(
        read_all(&store, "items/film/v1.sealed").await.unwrap(),
        b"film bytes"
    );
}

#[tokio::test]
async fn stopped_parent_is_an_error_not_a_hang() {
    let mut parent = LocalParent::start().await;
    let store = parent.store("p").await;
    parent.stop().await;
    let err = tokio::time::timeout(Duration::from_secs(60), store.head("items/a/v1.sealed"))
        .await
        .expect("no hang")
        .unwrap_err();
    assert_eq!(err.status(), None, "{err}");
}
