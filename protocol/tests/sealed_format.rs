//! Properties of the sealed format: round trips, range unsealing, and detection of every kind of
//! tampering a parent or a network could do. Also checks the committed test vectors.

use std::io::Cursor;

use proptest::prelude::*;
use protocol::ItemId;
use protocol::seal::{ContentKey, Opener, SealParams, seal_stream, seal_to_vec};
use protocol::sealed::{
    HEADER_LEN, Header, MIN_CHUNK_SIZE, SealedError, TAG_LEN, verify_digest_list,
};

fn params(item: &str, chunk_size: u32) -> SealParams {
    SealParams {
        item: ItemId::parse(item).unwrap(),
        key_version: 1,
        chunk_size,
        nonce_seed: [9; 32],
    }
}

fn plaintext(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

fn open(key: &ContentKey, object: &[u8]) -> Result<Vec<u8>, SealedError> {
    let mut cur = Cursor::new(object);
    let opener = Opener::from_object(key, &mut cur)?;
    let mut out = Vec::new();
    opener.unseal_all(&mut cur, &mut out)?;
    Ok(out)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn round_trip_any_length(len in 0usize..40_000, chunk_kib in 4u32..12) {
        let key = ContentKey::generate();
        let plain = plaintext(len);
        let object = seal_to_vec(&key, params("film", chunk_kib * 1024), &plain).unwrap();
        prop_assert_eq!(open(&key, &object).unwrap(), plain);
    }

    #[test]
    fn any_range_unseals(len in 1usize..30_000, a in 0usize..30_000, b in 0usize..30_000) {
        let key = ContentKey::generate();
        let plain = plaintext(len);
        let object = seal_to_vec(&key, params("film", MIN_CHUNK_SIZE), &plain).unwrap();
        let (start, end) = ((a.min(b)).min(len), (a.max(b)).min(len));
        let mut cur = Cursor::new(&object);
        let opener = Opener::from_object(&key, &mut cur).unwrap();
        let mut out = Vec::new();
        opener.unseal_range(&mut cur, start as u64..end as u64, &mut out).unwrap();
        prop_assert_eq!(&out[..], &plain[start..end]);
    }

    #[test]
    fn any_flipped_byte_is_detected(len in 1usize..20_000, at in any::<prop::sample::Index>(), bit in 0u8..8) {
        let key = ContentKey::generate();
        let mut object = seal_to_vec(&key, params("film", MIN_CHUNK_SIZE), &plaintext(len)).unwrap();
        let i = at.index(object.len());
        object[i] ^= 1 << bit;
        prop_assert!(open(&key, &object).is_err(), "flip at {} of {} undetected", i, object.len());
    }
}

#[test]
fn streaming_seal_equals_in_memory_seal() {
    let key = ContentKey::generate();
    let plain = plaintext(50_000);
    let mut out = Vec::new();
    seal_stream(
        &key,
        params("film", MIN_CHUNK_SIZE),
        &plain[..],
        tempfile_like(),
        &mut out,
    )
    .unwrap();
    assert_eq!(
        out,
        seal_to_vec(&key, params("film", MIN_CHUNK_SIZE), &plain).unwrap()
    );
}

fn tempfile_like() -> Cursor<Vec<u8>> {
    Cursor::new(Vec::new())
}

fn swap_chunks(object: &mut [u8], a: usize, b: usize) {
    let stride = MIN_CHUNK_SIZE as usize + TAG_LEN;
    let (a, b) = (HEADER_LEN + a * stride, HEADER_LEN + b * stride);
    let tmp = object[a..a + stride].to_vec();
    object.copy_within(b..b + stride, a);
    object[b..b + stride].copy_from_slice(&tmp);
}

#[test]
fn reordered_chunks_are_detected_even_with_a_matching_digest_list() {
    let key = ContentKey::generate();
    let plain = plaintext(3 * MIN_CHUNK_SIZE as usize);
    let mut object = seal_to_vec(&key, params("film", MIN_CHUNK_SIZE), &plain).unwrap();
    swap_chunks(&mut object, 0, 1);
    // Also swap the digests, so only the AEAD binding of the index can notice.
    let header = Header::decode(&object).unwrap();
    let t = header.layout().trailer_range();
    let t0 = t.start as usize;
    let tmp = object[t0..t0 + 32].to_vec();
    object.copy_within(t0 + 32..t0 + 64, t0);
    object[t0 + 32..t0 + 64].copy_from_slice(&tmp);
    assert!(matches!(
        open(&key, &object),
        Err(SealedError::RootMismatch)
    ));
    // With the digest list (and root) re-made by an attacker, authentication fails.
    let trailer = object[t0..t.end as usize].to_vec();
    let digests: Vec<[u8; 32]> = trailer.chunks(32).map(|c| c.try_into().unwrap()).collect();
    let mut forged = header.clone();
    forged.digest_root = forged.compute_root(&digests);
    object[..HEADER_LEN].copy_from_slice(&forged.encode());
    assert!(matches!(
        open(&key, &object),
        Err(SealedError::ChunkAuthentication { index: 0 })
    ));
}

#[test]
fn chunks_swapped_between_items_are_detected() {
    let key = ContentKey::generate();
    let plain = plaintext(2 * MIN_CHUNK_SIZE as usize);
    let a = seal_to_vec(&key, params("film-a", MIN_CHUNK_SIZE), &plain).unwrap();
    let b = seal_to_vec(&key, params("film-b", MIN_CHUNK_SIZE), &plain).unwrap();
    // Same key, same seed, same plaintext: only the item id in the AAD differs.
    let ha = Header::decode(&a).unwrap();
    let l = ha.layout();
    let r = l.sealed_chunk_range(0);
    let mut cur = Cursor::new(&a);
    let opener = Opener::from_object(&key, &mut cur).unwrap();
    let err = opener
        .open_chunk(0, &b[r.start as usize..r.end as usize])
        .unwrap_err();
    assert!(matches!(err, SealedError::ChunkDigestMismatch { index: 0 }));
}

#[test]
fn truncation_is_detected() {
    let key = ContentKey::generate();
    let plain = plaintext(3 * MIN_CHUNK_SIZE as usize);
    let object = seal_to_vec(&key, params("film", MIN_CHUNK_SIZE), &plain).unwrap();
    let header = Header::decode(&object).unwrap();
    // Claim a shorter plaintext (drop the last chunk) and re-root with the remaining digests:
    // the new last chunk was sealed with last = false, so it fails authentication.
    let t = header.layout().trailer_range();
    let digests: Vec<[u8; 32]> = object[t.start as usize..t.end as usize]
        .chunks(32)
        .map(|c| c.try_into().unwrap())
        .collect();
    let mut short = header.clone();
    short.plaintext_len = 2 * MIN_CHUNK_SIZE as u64;
    short.digest_root = short.compute_root(&digests[..2]);
    let keep = short.layout().trailer_range().start as usize;
    let mut cut = short.encode().to_vec();
    cut.extend_from_slice(&object[HEADER_LEN..keep]);
    cut.extend_from_slice(&digests[..2].concat());
    assert!(matches!(
        open(&key, &cut),
        Err(SealedError::ChunkAuthentication { index: 1 })
    ));
    // Plain truncation of the bytes.
    assert!(open(&key, &object[..object.len() - 1]).is_err());
    assert!(verify_digest_list(&header, &object[t.start as usize..t.end as usize - 32]).is_err());
}

#[test]
fn wrong_key_fails() {
    let object = seal_to_vec(
        &ContentKey::generate(),
        params("film", MIN_CHUNK_SIZE),
        b"hello",
    )
    .unwrap();
    assert!(matches!(
        open(&ContentKey::generate(), &object),
        Err(SealedError::ChunkAuthentication { .. })
    ));
}

/// The committed vectors: inputs in `v1-*.json`, the sealed object in `v1-*.sealed`.
/// Regenerate with `UPDATE_VECTORS=1 cargo test -p protocol --test sealed_format vectors`.
#[test]
fn vectors() {
    #[derive(serde::Deserialize, serde::Serialize)]
    struct Vector {
        description: String,
        key_hex: String,
        nonce_seed_hex: String,
        item: String,
        key_version: u32,
        chunk_size: u32,
        plaintext_rule: String,
        plaintext_len: usize,
        root_hex: String,
        object_len: usize,
        object_blake3_hex: String,
    }
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors");
    for (name, len, chunk) in [
        ("v1-empty", 0usize, 4096u32),
        ("v1-small", 10_000, 4096),
        ("v1-exact", 8192, 4096),
    ] {
        let key = ContentKey(std::array::from_fn(|i| i as u8));
        let seed: [u8; 32] = std::array::from_fn(|i| 0x80 + i as u8);
        let plain: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        let p = SealParams {
            item: ItemId::parse("vector-1").unwrap(),
            key_version: 7,
            chunk_size: chunk,
            nonce_seed: seed,
        };
        let object = seal_to_vec(&key, p, &plain).unwrap();
        let header = Header::decode(&object).unwrap();
        let v = Vector {
            description: format!("{name}: plaintext byte i is i mod 251"),
            key_hex: hex::encode(key.0),
            nonce_seed_hex: hex::encode(seed),
            item: "vector-1".into(),
            key_version: 7,
            chunk_size: chunk,
            plaintext_rule: "byte i = i mod 251".into(),
            plaintext_len: len,
            root_hex: hex::encode(header.digest_root),
            object_len: object.len(),
            object_blake3_hex: blake3::hash(&object).to_hex().to_string(),
        };
        let (json_path, bin_path) = (
            dir.join(format!("{name}.json")),
            dir.join(format!("{name}.sealed")),
        );
        if std::env::var_os("UPDATE_VECTORS").is_some() {
            std::fs::write(&json_path, serde_json::to_string_pretty(&v).unwrap() + "\n").unwrap();
            std::fs::write(&bin_path, &object).unwrap();
        }
        let committed: Vector =
            serde_json::from_str(&std::fs::read_to_string(&json_path).unwrap()).unwrap();
        assert_eq!(committed.root_hex, v.root_hex, "{name}: root");
        assert_eq!(
            committed.object_blake3_hex, v.object_blake3_hex,
            "{name}: object"
        );
        assert_eq!(std::fs::read(&bin_path).unwrap(), object, "{name}: bytes");
        assert_eq!(open(&key, &object).unwrap(), plain);
    }
}

#[test]
fn an_object_of_another_length_than_its_header_says_is_refused_before_reading_the_trailer() {
    let key = ContentKey::generate();
    let object = seal_to_vec(&key, params("film", MIN_CHUNK_SIZE), &plaintext(10_000)).unwrap();
    let cut = &object[..object.len() - 1];
    assert!(matches!(
        open(&key, cut),
        Err(SealedError::ObjectLength { got, expected }) if got + 1 == expected
    ));
    // A header claiming 2^62 bytes (found by fuzzing: it sized a 2^57-byte trailer buffer).
    let mut huge = object.clone();
    huge[20..28].copy_from_slice(&(1u64 << 62).to_le_bytes());
    assert!(matches!(
        open(&key, &huge),
        Err(SealedError::ObjectLength { .. })
    ));
}
