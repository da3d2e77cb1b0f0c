//! The sealed object format, version 1: header, chunk layout and the digest list.
//!
//! ```text
//! object  = header (160 bytes) || sealed chunk 0 || … || sealed chunk n-1 || trailer (32·n bytes)
//! chunk i = AES-256-GCM-SIV(plaintext bytes [i·C, min((i+1)·C, L)))  — ciphertext || 16-byte tag
//! trailer = BLAKE3(sealed chunk 0) || … || BLAKE3(sealed chunk n-1)
//! root    = BLAKE3-derive-key("cdn sealed object v1 root", header[0..128] || trailer)
//! ```
//!
//! The root is stored in the header and published in the signed manifest and the catalog, so a
//! holder of the root can verify the header fields, the digest list and every chunk without the
//! content key. `docs/formats.md` is the normative description; the sealing itself is in
//! [`crate::seal`].

use std::ops::Range;

use crate::ids::{ItemId, MAX_ITEM_ID_LEN};

/// First eight bytes of every sealed object.
pub const MAGIC: [u8; 8] = *b"CDNSEAL\0";
/// The format version this code writes and reads.
pub const FORMAT_VERSION: u16 = 1;
/// Length of the header in bytes.
pub const HEADER_LEN: usize = 160;
/// Bytes of authentication tag appended to each chunk's ciphertext.
pub const TAG_LEN: usize = 16;
/// Length of one chunk digest (BLAKE3).
pub const DIGEST_LEN: usize = 32;
/// The chunk size used when none is given: 1 MiB.
pub const DEFAULT_CHUNK_SIZE: u32 = 1 << 20;
/// Smallest allowed chunk size.
pub const MIN_CHUNK_SIZE: u32 = 4 << 10;
/// Largest allowed chunk size (below hosted edge platforms' response and value caps).
pub const MAX_CHUNK_SIZE: u32 = 8 << 20;
/// Largest plaintext length a header may state (2^62 bytes): every offset of such an object,
/// trailer included, fits in a `u64`, so [`Layout`]'s arithmetic cannot overflow.
pub const MAX_PLAINTEXT_LEN: u64 = 1 << 62;

/// Offset of the digest root inside the header; the root covers `header[..ROOT_OFFSET]`.
const ROOT_OFFSET: usize = 128;
const ROOT_CONTEXT: &str = "cdn sealed object v1 root";

/// A BLAKE3 digest of one sealed chunk.
pub type Digest = [u8; DIGEST_LEN];

/// What can be wrong with a sealed object or its parts.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SealedError {
    #[error("not a sealed object (bad magic)")]
    BadMagic,
    #[error("sealed format version {0} is not supported (this build reads version 1)")]
    UnsupportedVersion(u16),
    #[error("malformed sealed header: {0}")]
    BadHeader(&'static str),
    #[error("chunk size {0} is outside {MIN_CHUNK_SIZE}..={MAX_CHUNK_SIZE}")]
    BadChunkSize(u32),
    #[error("digest list has {got} bytes, expected {expected}")]
    DigestListLength { got: usize, expected: u64 },
    #[error("digest root does not match: the header or digest list was altered")]
    RootMismatch,
    #[error("chunk {index} does not match its digest")]
    ChunkDigestMismatch { index: u64 },
    #[error("chunk {index} failed authentication (wrong key, item, version, position or content)")]
    ChunkAuthentication { index: u64 },
    #[error("chunk {index} has {got} bytes, expected {expected}")]
    ChunkLength {
        index: u64,
        got: usize,
        expected: u64,
    },
    #[error("range {start}..{end} is outside the plaintext of {len} bytes")]
    RangeOutOfBounds { start: u64, end: u64, len: u64 },
    #[error("the object has {got} bytes, its header says {expected}")]
    ObjectLength { got: u64, expected: u64 },
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// The decoded header of a sealed object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub item: ItemId,
    pub key_version: u32,
    pub chunk_size: u32,
    pub plaintext_len: u64,
    pub nonce_seed: [u8; 32],
    pub digest_root: Digest,
}

impl Header {
    /// Encodes the header; `digest_root` is written as is (see [`Header::compute_root`]).
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        self.encode_unrooted(&mut out);
        out[ROOT_OFFSET..].copy_from_slice(&self.digest_root);
        out
    }

    fn encode_unrooted(&self, out: &mut [u8; HEADER_LEN]) {
        out[0..8].copy_from_slice(&MAGIC);
        out[8..10].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        out[10..12].copy_from_slice(&(HEADER_LEN as u16).to_le_bytes());
        out[12..16].copy_from_slice(&self.key_version.to_le_bytes());
        out[16..20].copy_from_slice(&self.chunk_size.to_le_bytes());
        out[20..28].copy_from_slice(&self.plaintext_len.to_le_bytes());
        let id = self.item.as_str().as_bytes();
        out[28] = id.len() as u8;
        out[29..29 + id.len()].copy_from_slice(id);
        out[96..128].copy_from_slice(&self.nonce_seed);
    }

    /// Decodes and checks the fixed fields of a header (not the root: see
    /// [`verify_digest_list`]).
    pub fn decode(bytes: &[u8]) -> Result<Self, SealedError> {
        if bytes.len() < HEADER_LEN {
            return Err(SealedError::BadHeader("shorter than 160 bytes"));
        }
        if bytes[0..8] != MAGIC {
            return Err(SealedError::BadMagic);
        }
        let version = u16::from_le_bytes([bytes[8], bytes[9]]);
        if version != FORMAT_VERSION {
            return Err(SealedError::UnsupportedVersion(version));
        }
        if u16::from_le_bytes([bytes[10], bytes[11]]) as usize != HEADER_LEN {
            return Err(SealedError::BadHeader("header length field is not 160"));
        }
        let u32_at = |o: usize| u32::from_le_bytes(bytes[o..o + 4].try_into().expect("4 bytes"));
        let chunk_size = u32_at(16);
        if !(MIN_CHUNK_SIZE..=MAX_CHUNK_SIZE).contains(&chunk_size) {
            return Err(SealedError::BadChunkSize(chunk_size));
        }
        let plaintext_len = u64::from_le_bytes(bytes[20..28].try_into().expect("8 bytes"));
        if plaintext_len > MAX_PLAINTEXT_LEN {
            return Err(SealedError::BadHeader("plaintext length above 2^62"));
        }
        let id_len = bytes[28] as usize;
        if id_len == 0 || id_len > MAX_ITEM_ID_LEN {
            return Err(SealedError::BadHeader("item id length out of range"));
        }
        if bytes[29 + id_len..96].iter().any(|&b| b != 0) {
            return Err(SealedError::BadHeader("non-zero padding"));
        }
        let id = std::str::from_utf8(&bytes[29..29 + id_len])
            .ok()
            .and_then(|s| ItemId::parse(s).ok())
            .ok_or(SealedError::BadHeader("invalid item id"))?;
        Ok(Self {
            item: id,
            key_version: u32_at(12),
            chunk_size,
            plaintext_len,
            nonce_seed: bytes[96..128].try_into().expect("32 bytes"),
            digest_root: bytes[128..160].try_into().expect("32 bytes"),
        })
    }

    /// The root over this header's fields (all but the root itself) and the digest list.
    pub fn compute_root(&self, digests: &[Digest]) -> Digest {
        let mut buf = [0u8; HEADER_LEN];
        self.encode_unrooted(&mut buf);
        let mut h = blake3::Hasher::new_derive_key(ROOT_CONTEXT);
        h.update(&buf[..ROOT_OFFSET]);
        for d in digests {
            h.update(d);
        }
        *h.finalize().as_bytes()
    }

    /// Where everything is inside the object.
    pub fn layout(&self) -> Layout {
        Layout::new(self.chunk_size, self.plaintext_len)
    }
}

/// The positions of header, chunks and trailer inside a sealed object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    chunk_size: u64,
    plaintext_len: u64,
}

impl Layout {
    /// The layout of an object with this chunk size and plaintext length. Offsets are exact for
    /// the lengths a header may state (chunk size at least [`MIN_CHUNK_SIZE`], plaintext length at
    /// most [`MAX_PLAINTEXT_LEN`]); check lengths from elsewhere against them first.
    pub fn new(chunk_size: u32, plaintext_len: u64) -> Self {
        Self {
            chunk_size: u64::from(chunk_size),
            plaintext_len,
        }
    }

    /// Length of the header.
    pub fn header_len(&self) -> u64 {
        HEADER_LEN as u64
    }

    /// Plaintext bytes per chunk (all but the last chunk are full).
    pub fn chunk_size(&self) -> u64 {
        self.chunk_size
    }

    /// Length of the plaintext.
    pub fn plaintext_len(&self) -> u64 {
        self.plaintext_len
    }

    /// Number of chunks; an empty plaintext has one empty chunk so that it too ends in a chunk
    /// flagged "last".
    pub fn chunk_count(&self) -> u64 {
        self.plaintext_len.div_ceil(self.chunk_size).max(1)
    }

    /// Plaintext byte range of chunk `index`.
    pub fn plaintext_chunk_range(&self, index: u64) -> Range<u64> {
        let start = (index * self.chunk_size).min(self.plaintext_len);
        start..((index + 1) * self.chunk_size).min(self.plaintext_len)
    }

    /// Object byte range of sealed chunk `index`.
    pub fn sealed_chunk_range(&self, index: u64) -> Range<u64> {
        let stride = self.chunk_size + TAG_LEN as u64;
        let plain = self.plaintext_chunk_range(index);
        let start = self.header_len() + index * stride;
        start..start + (plain.end - plain.start) + TAG_LEN as u64
    }

    /// Object byte range of the trailer (the digest list).
    pub fn trailer_range(&self) -> Range<u64> {
        let start = self.sealed_chunk_range(self.chunk_count() - 1).end;
        start..start + self.chunk_count() * DIGEST_LEN as u64
    }

    /// Total length of the sealed object.
    pub fn object_len(&self) -> u64 {
        self.trailer_range().end
    }

    /// The chunks that hold plaintext bytes `range` (empty range → no chunks).
    pub fn chunks_for_plaintext(&self, range: Range<u64>) -> Range<u64> {
        if range.start >= range.end {
            return 0..0;
        }
        range.start / self.chunk_size..range.end.div_ceil(self.chunk_size)
    }

    /// The chunk whose sealed bytes contain object offset `offset`, if any.
    pub fn chunk_at_object_offset(&self, offset: u64) -> Option<u64> {
        let body = self.header_len()..self.trailer_range().start;
        body.contains(&offset)
            .then(|| (offset - self.header_len()) / (self.chunk_size + TAG_LEN as u64))
    }
}

/// The digest of one sealed chunk (ciphertext and tag).
pub fn chunk_digest(sealed_chunk: &[u8]) -> Digest {
    *blake3::hash(sealed_chunk).as_bytes()
}

/// Checks a digest list (the trailer bytes) against the header's root and returns the digests.
pub fn verify_digest_list(header: &Header, trailer: &[u8]) -> Result<Vec<Digest>, SealedError> {
    let expected = header.layout().chunk_count() * DIGEST_LEN as u64;
    if trailer.len() as u64 != expected {
        return Err(SealedError::DigestListLength {
            got: trailer.len(),
            expected,
        });
    }
    let digests: Vec<Digest> = trailer
        .chunks_exact(DIGEST_LEN)
        .map(|c| c.try_into().expect("32 bytes"))
        .collect();
    if header.compute_root(&digests) != header.digest_root {
        return Err(SealedError::RootMismatch);
    }
    Ok(digests)
}

/// Checks one sealed chunk against its digest.
pub fn verify_chunk(
    digests: &[Digest],
    index: u64,
    sealed_chunk: &[u8],
) -> Result<(), SealedError> {
    match digests.get(index as usize) {
        Some(d) if *d == chunk_digest(sealed_chunk) => Ok(()),
        _ => Err(SealedError::ChunkDigestMismatch { index }),
    }
}

/// Encodes a digest list as trailer bytes.
pub fn encode_trailer(digests: &[Digest]) -> Vec<u8> {
    digests.concat()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(len: u64) -> Header {
        Header {
            item: ItemId::parse("film").unwrap(),
            key_version: 3,
            chunk_size: MIN_CHUNK_SIZE,
            plaintext_len: len,
            nonce_seed: [7; 32],
            digest_root: [0; 32],
        }
    }

    #[test]
    fn header_round_trips() {
        let h = header(12345);
        assert_eq!(Header::decode(&h.encode()).unwrap(), h);
    }

    #[test]
    fn layout_of_exact_and_partial_chunks() {
        let c = u64::from(MIN_CHUNK_SIZE);
        let l = Layout::new(MIN_CHUNK_SIZE, 2 * c + 1);
        assert_eq!(l.chunk_count(), 3);
        assert_eq!(l.sealed_chunk_range(0), 160..160 + c + 16);
        assert_eq!(
            l.sealed_chunk_range(2).end - l.sealed_chunk_range(2).start,
            17
        );
        assert_eq!(l.object_len(), 160 + 2 * (c + 16) + 17 + 3 * 32);
        assert_eq!(Layout::new(MIN_CHUNK_SIZE, 0).chunk_count(), 1);
        assert_eq!(Layout::new(MIN_CHUNK_SIZE, 0).object_len(), 160 + 16 + 32);
        assert_eq!(l.chunks_for_plaintext(c - 1..c + 1), 0..2);
        assert_eq!(l.chunk_at_object_offset(160 + c + 16), Some(1));
        assert_eq!(l.chunk_at_object_offset(l.trailer_range().start), None);
    }

    #[test]
    fn decode_rejects_garbage() {
        let mut b = header(1).encode();
        b[0] = b'X';
        assert!(matches!(Header::decode(&b), Err(SealedError::BadMagic)));
        let mut b = header(1).encode();
        b[8] = 2;
        assert!(matches!(
            Header::decode(&b),
            Err(SealedError::UnsupportedVersion(2))
        ));
        let mut b = header(1).encode();
        b[29] = b'/';
        assert!(Header::decode(&b).is_err());
        assert!(Header::decode(&b[..100]).is_err());
    }

    #[test]
    fn the_largest_plaintext_has_a_layout_and_one_more_byte_is_refused() {
        let h = header(MAX_PLAINTEXT_LEN);
        assert_eq!(Header::decode(&h.encode()).unwrap(), h);
        let l = h.layout();
        assert!(l.object_len() > MAX_PLAINTEXT_LEN);
        assert_eq!(
            l.chunk_at_object_offset(l.trailer_range().start - 1),
            Some(l.chunk_count() - 1)
        );
        assert!(matches!(
            Header::decode(&header(MAX_PLAINTEXT_LEN + 1).encode()),
            Err(SealedError::BadHeader(_))
        ));
    }
}
