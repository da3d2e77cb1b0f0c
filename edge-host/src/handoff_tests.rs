use super::*;
use crate::DiskKv;

fn store() -> (tempfile::TempDir, Arc<dyn KvBackend>) {
    let dir = tempfile::tempdir().unwrap();
    let kv: Arc<dyn KvBackend> = Arc::new(DiskKv::open(dir.path()).unwrap());
    (dir, kv)
}

fn chunk(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31) ^ seed)
        .collect()
}

/// Changes bytes of a stored value in place, as a failing disk or a hand would, after the
/// file system clock has moved on from its write.
fn flip_in_place(dir: &std::path::Path, key: &str, at: u64) {
    std::thread::sleep(Duration::from_millis(20));
    let path = dir.join(protocol::kv_name::encode_key(key));
    let file = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    file.write_all_at(&[0x5a; 16], at).unwrap();
}

#[tokio::test]
async fn a_chunk_is_hashed_once_per_file_and_again_after_any_change() {
    let (dir, kv) = store();
    let handoff = Arc::new(Handoff::new("s3cret", 64 << 10));
    let bytes = chunk(1, 100_000);
    let digest = chunk_digest(&bytes);
    kv.set("chunk/film/v1/0", &bytes).unwrap();
    let len = bytes.len() as u64;
    let key = || "chunk/film/v1/0".to_owned();

    handoff
        .verified(kv.clone(), key(), digest, len)
        .await
        .unwrap();
    assert_eq!(handoff.remembered(), 1);
    let known = handoff.lock().get("chunk/film/v1/0").copied();
    let (_, _, hashed) = check_chunk(&*kv, key(), digest, len, known, true).unwrap();
    assert!(!hashed, "an unchanged file is not hashed again");

    flip_in_place(dir.path(), "chunk/film/v1/0", 5000);
    let miss = handoff
        .verified(kv.clone(), key(), digest, len)
        .await
        .unwrap_err();
    assert!(matches!(miss, Miss::Changed { .. }), "{miss}");
    assert_eq!(handoff.remembered(), 0, "a changed chunk is forgotten");

    // Refilled (a new file): verified again.
    kv.set("chunk/film/v1/0", &bytes).unwrap();
    handoff
        .verified(kv.clone(), key(), digest, len)
        .await
        .unwrap();
    assert_eq!(handoff.remembered(), 1);

    // Wrong length and missing are misses too, never bytes.
    kv.set("chunk/film/v1/1", &bytes[1..]).unwrap();
    let miss = handoff
        .verified(kv.clone(), "chunk/film/v1/1".into(), digest, len)
        .await
        .unwrap_err();
    assert!(matches!(miss, Miss::Changed { .. }), "{miss}");
    let miss = handoff
        .verified(kv.clone(), "chunk/film/v1/2".into(), digest, len)
        .await
        .unwrap_err();
    assert!(matches!(miss, Miss::Missing(_)), "{miss}");
}

#[tokio::test]
async fn the_scrub_finds_decay_under_an_unchanged_stamp_at_its_pace() {
    let (_dir, kv) = store();
    let handoff = Arc::new(Handoff::new("s3cret", 64 << 10));
    let metrics = Metrics::default();
    let len = 64 << 10;
    for i in 0..8 {
        let bytes = chunk(i, len);
        let key = format!("chunk/film/v1/{i}");
        kv.set(&key, &bytes).unwrap();
        handoff
            .verified(kv.clone(), key, chunk_digest(&bytes), len as u64)
            .await
            .unwrap();
    }
    // Decay keeps the file's stamp: remember chunk 3 with the digest its bytes had before.
    let key = "chunk/film/v1/3";
    let mut entry = handoff.lock()[key];
    entry.digest = chunk_digest(b"what chunk 3 held when it was verified");
    handoff.lock().insert(key.to_owned(), entry);
    kv.delete("chunk/film/v1/7").unwrap();

    let started = std::time::Instant::now();
    let decayed = scrub_pass(&handoff, &kv, &metrics, 1 << 20).await;
    let took = started.elapsed();
    assert_eq!(decayed, 1);
    assert_eq!(
        handoff.remembered(),
        6,
        "the decayed and the deleted chunk are forgotten"
    );
    // 7 chunks of 64 KiB read at 1 MiB/s: at least 0.4 s.
    assert!(took >= Duration::from_millis(400), "{took:?}");
    let text = metrics.encode(
        &crate::health::Health::new(None),
        kv.as_ref(),
        protocol::unix_now(),
    );
    assert!(text.contains("cdn_edge_scrub_mismatches_total 1"), "{text}");
    assert!(
        text.contains(&format!("cdn_edge_scrubbed_bytes_total {}", 7 * len)),
        "{text}"
    );
}

#[test]
fn a_client_cannot_offer_the_handoff() {
    let handoff = Arc::new(Handoff::new("s3cret", 64 << 10));
    let mut headers = HeaderMap::new();
    headers.insert(OFFER_HEADER, HeaderValue::from_static("forged"));
    handoff.offer_on(&mut headers);
    let offers: Vec<_> = headers.get_all(OFFER_HEADER).iter().collect();
    assert_eq!(offers.len(), 1);
    assert!(protocol::edge_cache::offer_accepted(
        offers[0].to_str().unwrap(),
        "s3cret"
    ));
}

/// The meta (header || trailer) of a small sealed object, and its root in hex.
fn sealed_meta() -> (Vec<u8>, String) {
    use protocol::seal::{ContentKey, SealParams, seal_to_vec};
    let params = SealParams {
        chunk_size: 4096,
        ..SealParams::new(protocol::ItemId::parse("film").unwrap(), 1)
    };
    let object = seal_to_vec(&ContentKey::generate(), params, &chunk(3, 10_000)).unwrap();
    let header = protocol::sealed::Header::decode(&object[..HEADER_LEN]).unwrap();
    let trailer = &object[header.layout().trailer_range().start as usize..];
    let meta = [&object[..HEADER_LEN], trailer].concat();
    (meta, hex::encode(header.digest_root))
}

#[tokio::test]
async fn a_meta_is_checked_once_per_root() {
    let (dir, kv) = store();
    let handoff = Arc::new(Handoff::new("s3cret", 64 << 10));
    let (meta, root) = sealed_meta();
    kv.set("meta/film/v1", &meta).unwrap();
    let item = protocol::ItemId::parse("film").unwrap();
    let first = handoff
        .checked_meta(kv.clone(), &item, 1, &root)
        .await
        .unwrap();
    assert_eq!(first.stored[..], meta[..]);
    // Changed on disk since: the verified copy in memory is the one used (its bytes are the
    // root's), without reading the file.
    flip_in_place(dir.path(), "meta/film/v1", HEADER_LEN as u64 + 8);
    let again = handoff
        .checked_meta(kv.clone(), &item, 1, &root)
        .await
        .unwrap();
    assert!(Arc::ptr_eq(&first, &again), "not read again");

    // Another root is checked against the file: the changed file fails it.
    let other = "cd".repeat(32);
    let miss = handoff.checked_meta(kv.clone(), &item, 1, &other).await;
    assert!(matches!(miss, Err(Miss::Changed { .. })), "another root");
    // A process that remembers nothing reads the file and finds it changed.
    let fresh = Arc::new(Handoff::new("s3cret", 64 << 10));
    let miss = fresh.checked_meta(kv.clone(), &item, 1, &root).await;
    assert!(
        matches!(miss, Err(Miss::Changed { .. })),
        "changed in place"
    );
    kv.delete("meta/film/v1").unwrap();
    let miss = fresh.checked_meta(kv.clone(), &item, 1, &root).await;
    assert!(matches!(miss, Err(Miss::Missing(_))));
}

#[tokio::test]
async fn a_small_range_is_read_inline_only_once_verified() {
    use protocol::seal::{ContentKey, SealParams, seal_to_vec};
    let (dir, kv) = store();
    let handoff = Arc::new(Handoff::new("s3cret", 64 << 10));
    let item = protocol::ItemId::parse("film").unwrap();
    let params = SealParams {
        chunk_size: 4096,
        ..SealParams::new(item.clone(), 1)
    };
    let object = seal_to_vec(&ContentKey::generate(), params, &chunk(3, 10_000)).unwrap();
    let header = protocol::sealed::Header::decode(&object[..HEADER_LEN]).unwrap();
    let layout = header.layout();
    let trailer = layout.trailer_range();
    let meta = [&object[..HEADER_LEN], &object[trailer.start as usize..]].concat();
    kv.set(&meta_key(&item, 1), &meta).unwrap();
    for i in 0..layout.chunk_count() {
        let r = layout.sealed_chunk_range(i);
        kv.set(
            &chunk_key(&item, 1, i),
            &object[r.start as usize..r.end as usize],
        )
        .unwrap();
    }
    // Across the header and into chunk 0, then across chunks 0 and 1.
    let plan = |start: u64, end: u64| HandoffPlan {
        item: item.clone(),
        version: 1,
        root: hex::encode(header.digest_root),
        start,
        end,
        pass: None,
    };
    for (start, end) in [(100, 1200), (4000, 4600)] {
        let p = plan(start, end);
        let inline = handoff.read_small(&*kv, &p, true);
        assert!(
            matches!(inline, Err(Miss::WouldBlock)),
            "nothing verified yet"
        );
        let read = handoff.read_small(&*kv, &p, false).unwrap();
        assert_eq!(read[..], object[start as usize..end as usize]);
        match handoff.read_small(&*kv, &p, true) {
            Ok(again) => assert_eq!(again, read),
            // A file system without RWF_NOWAIT: every read goes to a blocking thread.
            Err(Miss::WouldBlock) => eprintln!("no page-cache-only reads here"),
            Err(e) => panic!("{e}"),
        }
    }
    // Changed in place: inline gives up (the stamp moved), the blocking read finds the change.
    flip_in_place(dir.path(), &chunk_key(&item, 1, 0), 1000);
    let p = plan(100, 1200);
    assert!(matches!(
        handoff.read_small(&*kv, &p, true),
        Err(Miss::WouldBlock)
    ));
    assert!(matches!(
        handoff.read_small(&*kv, &p, false),
        Err(Miss::Changed { .. })
    ));
}
