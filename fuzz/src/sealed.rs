//! The sealed object format: header and trailer as a parent or a disk hands them over, the edge's
//! stored meta, main's description of an object, and range unsealing as the player does it.

use std::io::Cursor;
use std::ops::Range;

use edge_fn::meta::{ObjectMeta, layout_of};
use edge_fn::plan::{self, Piece};
use protocol::sealed::{
    DIGEST_LEN, Digest, HEADER_LEN, chunk_digest, encode_trailer, verify_chunk, verify_digest_list,
};
use protocol::{ContentKey, Header, ItemId, ObjectInfo, Opener};

use crate::{mode, take_u64};

/// The content key of the test vectors in `protocol/tests/vectors/`, which seed the corpus:
/// with it the unsealing body decrypts real chunks.
const VECTOR_KEY: [u8; 32] = [
    0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25,
    26, 27, 28, 29, 30, 31,
];

/// Most chunks a body re-digests when asked to repair an input (keeps each run short).
const MAX_REPAIRED_CHUNKS: u64 = 64;

/// Input: a mode byte, then `header || trailer`.
///
/// Mode bit 0 writes the root the header's fields and the trailer give into the header, so that
/// the digest list verifies; bit 1 reads the rest as main's answer to an authorize or fill-sources
/// call instead (the JSON the edge checks with `layout_of`).
pub fn sealed_header(data: &[u8]) {
    let (m, rest) = mode(data);
    if m & 2 != 0 {
        main_answers(rest);
        return;
    }
    let mut bytes = rest.to_vec();
    let Ok(mut header) = Header::decode(&bytes) else {
        return;
    };
    assert_eq!(
        header.encode()[..],
        bytes[..HEADER_LEN],
        "a decoded header encodes to the same bytes"
    );
    if m & 1 != 0 && (bytes.len() - HEADER_LEN).is_multiple_of(DIGEST_LEN) {
        let digests: Vec<Digest> = bytes[HEADER_LEN..]
            .chunks_exact(DIGEST_LEN)
            .map(|d| d.try_into().expect("32 bytes"))
            .collect();
        header.digest_root = header.compute_root(&digests);
        bytes[..HEADER_LEN].copy_from_slice(&header.encode());
    }
    let trailer = &bytes[HEADER_LEN..];
    let layout = header.layout();
    if let Ok(digests) = verify_digest_list(&header, trailer) {
        assert_eq!(digests.len() as u64, layout.chunk_count());
        assert_eq!(encode_trailer(&digests), trailer);
        for (index, digest) in digests.iter().enumerate().take(4) {
            assert_eq!(
                verify_chunk(&digests, index as u64, b"").is_ok(),
                *digest == chunk_digest(b"")
            );
        }
    }
    // The edge's path: main vouches for the object (here: whatever the header says), the meta is
    // checked against it.
    let Ok(info_layout) = layout_of(&info_for(&header, layout.object_len())) else {
        return;
    };
    assert_eq!(info_layout, layout);
    if let Ok(meta) = ObjectMeta::decode(&bytes, &info_for(&header, layout.object_len())) {
        assert_eq!(meta.encode(), bytes);
        assert_eq!(meta.header, header);
    }
}

/// What main would say about the object `header` describes.
fn info_for(header: &Header, object_len: u64) -> ObjectInfo {
    ObjectInfo {
        item: header.item.clone(),
        version: 1,
        object_len,
        chunk_size: header.chunk_size,
        plaintext_len: header.plaintext_len,
        root: hex_of(&header.digest_root),
    }
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Main's answers to an edge, as the edge interprets them.
fn main_answers(body: &[u8]) {
    let item = ItemId::parse("film").expect("valid id");
    for status in [200, 403] {
        if let Ok(grant) = edge_fn::main_api::grant_from(status, body, &item) {
            assert_eq!(grant.object.item, item);
            let layout = layout_of(&grant.object).expect("a grant's object has a layout");
            assert_eq!(layout.object_len(), grant.object.object_len);
        }
    }
    if let Ok(fill) = edge_fn::main_api::fill_sources_from(200, body) {
        layout_of(&fill.object).expect("the fill sources' object has a layout");
    }
    if let Ok(jwks) = edge_fn::main_api::jwks_from(200, body) {
        protocol::Verifier::from_jwks(&jwks).expect("checked keys build a verifier");
    }
}

/// Input: a mode byte, two little-endian `u64`s (a range), then a whole sealed object.
///
/// Mode bit 0 rewrites the trailer and the root from the chunks, so that the input gets past the
/// digest checks to decryption (with [`VECTOR_KEY`]); bit 1 takes the range modulo the object's
/// size, so that it mostly falls inside it. The object is opened as the player opens a download,
/// the range unsealed and compared with the whole plaintext, and the object range is planned as
/// the edge plans a response.
pub fn unseal_range(data: &[u8]) {
    let (m, rest) = mode(data);
    let (a, rest) = take_u64(rest);
    let (b, rest) = take_u64(rest);
    let mut object = rest.to_vec();
    if m & 1 != 0 {
        repair(&mut object);
    }
    let Ok(header) = Header::decode(&object) else {
        return;
    };
    let layout = header.layout();
    let object_len = layout.object_len();
    let plain_len = layout.plaintext_len();
    let range = if m & 2 != 0 {
        let (a, b) = (
            a % plain_len.saturating_add(1),
            b % plain_len.saturating_add(1),
        );
        a.min(b)..a.max(b)
    } else {
        a..b
    };
    plan_response(
        &layout,
        if m & 2 != 0 {
            a % object_len..b % object_len
        } else {
            a..b
        },
    );

    let key = ContentKey(VECTOR_KEY);
    let Ok(opener) = Opener::from_object(&key, &mut Cursor::new(&object)) else {
        return;
    };
    let mut part = Vec::new();
    let unsealed = opener.unseal_range(&mut Cursor::new(&object), range.clone(), &mut part);
    if range.start > range.end || range.end > plain_len {
        assert!(unsealed.is_err(), "{range:?} of {plain_len} bytes unsealed");
        return;
    }
    let mut all = Vec::new();
    if opener
        .unseal_all(&mut Cursor::new(&object), &mut all)
        .is_ok()
    {
        assert_eq!(all.len() as u64, plain_len);
        unsealed.expect("a range of an object that unseals whole unseals");
        assert_eq!(part, all[range.start as usize..range.end as usize]);
    } else if unsealed.is_ok() {
        assert_eq!(part.len() as u64, range.end - range.start);
    }
}

/// Rewrites digests and root so that they match the chunks, for objects of few chunks.
fn repair(object: &mut [u8]) {
    let Ok(mut header) = Header::decode(object) else {
        return;
    };
    let layout = header.layout();
    if layout.chunk_count() > MAX_REPAIRED_CHUNKS || layout.object_len() > object.len() as u64 {
        return;
    }
    let digests: Vec<Digest> = (0..layout.chunk_count())
        .map(|i| {
            let r = layout.sealed_chunk_range(i);
            chunk_digest(&object[r.start as usize..r.end as usize])
        })
        .collect();
    let trailer = layout.trailer_range();
    object[trailer.start as usize..trailer.end as usize].copy_from_slice(&encode_trailer(&digests));
    header.digest_root = header.compute_root(&digests);
    object[..HEADER_LEN].copy_from_slice(&header.encode());
}

/// The edge's plan for object bytes `range` covers exactly those bytes, in order.
fn plan_response(layout: &protocol::Layout, range: Range<u64>) {
    // A response spans at most a few thousand chunks; a plan of billions proves nothing more.
    let spans = (range.end.saturating_sub(range.start)) / layout.chunk_size();
    if range.start >= range.end || range.end > layout.object_len() || spans > 4096 {
        return;
    }
    let pieces = plan::pieces(layout, range.clone());
    let mut at = range.start;
    for piece in &pieces {
        let (start, len) = match piece {
            Piece::Header(r) => (r.start as u64, r.len()),
            Piece::Chunk { index, within } => {
                let chunk = layout.sealed_chunk_range(*index);
                assert!(within.end as u64 <= chunk.end - chunk.start);
                (chunk.start + within.start as u64, within.len())
            }
            Piece::Trailer(r) => (layout.trailer_range().start + r.start as u64, r.len()),
        };
        assert_eq!(start, at, "pieces are contiguous");
        assert!(len > 0, "no empty piece");
        at += len as u64;
    }
    assert_eq!(at, range.end, "pieces cover the range");
}
