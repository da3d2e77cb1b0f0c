//! Sealing and unsealing: AES-256-GCM-SIV per chunk, streaming in both directions.
//!
//! [`SealWriter`] takes plaintext through `std::io::Write` and emits sealed chunks to an inner
//! writer as soon as each chunk is known not to be the last; [`SealWriter::finish`] returns the
//! header and digest list. Callers that need the header in front (ingest, test vectors) seal the
//! chunks into a spool file or buffer and then write `header || chunks || trailer`.
//! [`Opener`] checks and decrypts single chunks, or any plaintext range by reading only the
//! chunks it touches.

use std::fmt;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::ops::Range;

use aes_gcm_siv::aead::{AeadInOut, KeyInit};
use aes_gcm_siv::{Aes256GcmSiv, Nonce};

use crate::ids::ItemId;
use crate::sealed::{
    DIGEST_LEN, Digest, HEADER_LEN, Header, MAX_CHUNK_SIZE, MIN_CHUNK_SIZE, SealedError,
    chunk_digest, encode_trailer, verify_digest_list,
};

const NONCE_CONTEXT: &str = "cdn sealed object v1 nonce";
const AAD_LABEL: &[u8] = b"cdn-sealed-v1";

/// A per-item content key (AES-256). Its `Debug` output never shows the key.
#[derive(Clone, PartialEq, Eq)]
pub struct ContentKey(pub [u8; 32]);

impl ContentKey {
    /// A fresh random key.
    pub fn generate() -> Self {
        Self(crate::random_bytes())
    }
}

impl fmt::Debug for ContentKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ContentKey(..)")
    }
}

/// What identifies a sealing: the item, its key version, chunk size and nonce seed.
#[derive(Debug, Clone)]
pub struct SealParams {
    pub item: ItemId,
    pub key_version: u32,
    pub chunk_size: u32,
    pub nonce_seed: [u8; 32],
}

impl SealParams {
    /// Parameters with the default chunk size and a random nonce seed.
    pub fn new(item: ItemId, key_version: u32) -> Self {
        Self {
            item,
            key_version,
            chunk_size: crate::sealed::DEFAULT_CHUNK_SIZE,
            nonce_seed: crate::random_bytes(),
        }
    }
}

/// The nonce of chunk `index`: the first 12 bytes of BLAKE3-derive-key(context, seed || index).
pub fn chunk_nonce(seed: &[u8; 32], index: u64) -> [u8; 12] {
    let mut h = blake3::Hasher::new_derive_key(NONCE_CONTEXT);
    h.update(seed);
    h.update(&index.to_le_bytes());
    h.finalize().as_bytes()[..12].try_into().expect("12 bytes")
}

/// The associated data of chunk `index`.
pub fn chunk_aad(item: &ItemId, key_version: u32, index: u64, last: bool) -> Vec<u8> {
    let id = item.as_str().as_bytes();
    let mut aad = Vec::with_capacity(AAD_LABEL.len() + 1 + id.len() + 13);
    aad.extend_from_slice(AAD_LABEL);
    aad.push(id.len() as u8);
    aad.extend_from_slice(id);
    aad.extend_from_slice(&key_version.to_le_bytes());
    aad.extend_from_slice(&index.to_le_bytes());
    aad.push(u8::from(last));
    aad
}

/// Streams plaintext in, sealed chunks out.
pub struct SealWriter<W: Write> {
    params: SealParams,
    cipher: Aes256GcmSiv,
    inner: W,
    pending: Vec<u8>,
    next_index: u64,
    plaintext_len: u64,
    digests: Vec<Digest>,
}

impl<W: Write> fmt::Debug for SealWriter<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealWriter")
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

impl<W: Write> SealWriter<W> {
    /// Starts sealing into `inner`, which receives only the sealed chunks.
    pub fn new(key: &ContentKey, params: SealParams, inner: W) -> Result<Self, SealedError> {
        if !(MIN_CHUNK_SIZE..=MAX_CHUNK_SIZE).contains(&params.chunk_size) {
            return Err(SealedError::BadChunkSize(params.chunk_size));
        }
        Ok(Self {
            cipher: Aes256GcmSiv::new(&key.0.into()),
            pending: Vec::with_capacity(params.chunk_size as usize + crate::sealed::TAG_LEN),
            params,
            inner,
            next_index: 0,
            plaintext_len: 0,
            digests: Vec::new(),
        })
    }

    fn seal_pending(&mut self, last: bool) -> io::Result<()> {
        let index = self.next_index;
        let aad = chunk_aad(&self.params.item, self.params.key_version, index, last);
        let nonce = Nonce::from(chunk_nonce(&self.params.nonce_seed, index));
        self.cipher
            .encrypt_in_place(&nonce, &aad, &mut self.pending)
            .map_err(|_| io::Error::other("chunk too long to seal"))?;
        self.digests.push(chunk_digest(&self.pending));
        self.inner.write_all(&self.pending)?;
        self.pending.clear();
        self.next_index += 1;
        Ok(())
    }

    /// Seals the last chunk and returns the header, the digest list and the inner writer.
    pub fn finish(mut self) -> Result<(Header, Vec<Digest>, W), SealedError> {
        self.seal_pending(true)?;
        self.inner.flush()?;
        let mut header = Header {
            item: self.params.item,
            key_version: self.params.key_version,
            chunk_size: self.params.chunk_size,
            plaintext_len: self.plaintext_len,
            nonce_seed: self.params.nonce_seed,
            digest_root: [0; 32],
        };
        header.digest_root = header.compute_root(&self.digests);
        Ok((header, self.digests, self.inner))
    }
}

impl<W: Write> Write for SealWriter<W> {
    fn write(&mut self, mut buf: &[u8]) -> io::Result<usize> {
        let written = buf.len();
        let chunk = self.params.chunk_size as usize;
        while !buf.is_empty() {
            // A full pending chunk is sealed only once more data proves it is not the last.
            if self.pending.len() == chunk {
                self.seal_pending(false)?;
            }
            let take = (chunk - self.pending.len()).min(buf.len());
            self.pending.extend_from_slice(&buf[..take]);
            buf = &buf[take..];
        }
        self.plaintext_len += written as u64;
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Seals `plaintext` into a complete object in memory. For tests, vectors and small files.
pub fn seal_to_vec(
    key: &ContentKey,
    params: SealParams,
    plaintext: &[u8],
) -> Result<Vec<u8>, SealedError> {
    let mut w = SealWriter::new(key, params, Vec::new())?;
    w.write_all(plaintext)?;
    let (header, digests, chunks) = w.finish()?;
    let mut out = Vec::with_capacity(HEADER_LEN + chunks.len() + digests.len() * DIGEST_LEN);
    out.extend_from_slice(&header.encode());
    out.extend_from_slice(&chunks);
    out.extend_from_slice(&encode_trailer(&digests));
    Ok(out)
}

/// Seals everything `reader` yields into a complete object on `out`, spooling the chunks through
/// `spool` (a temporary file for large items) so that only one chunk is ever in memory.
pub fn seal_stream<R: Read, S: Read + Write + Seek, W: Write>(
    key: &ContentKey,
    params: SealParams,
    mut reader: R,
    spool: S,
    mut out: W,
) -> Result<Header, SealedError> {
    let mut w = SealWriter::new(key, params, spool)?;
    io::copy(&mut reader, &mut w)?;
    let (header, digests, mut spool) = w.finish()?;
    out.write_all(&header.encode())?;
    spool.seek(SeekFrom::Start(0))?;
    io::copy(&mut spool, &mut out)?;
    out.write_all(&encode_trailer(&digests))?;
    out.flush()?;
    Ok(header)
}

/// Verifies and decrypts the chunks of one sealed object.
pub struct Opener {
    header: Header,
    digests: Vec<Digest>,
    cipher: Aes256GcmSiv,
}

impl fmt::Debug for Opener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Opener")
            .field("header", &self.header)
            .finish_non_exhaustive()
    }
}

impl Opener {
    /// An opener for the object with this header and trailer; checks the trailer against the root.
    pub fn new(key: &ContentKey, header: Header, trailer: &[u8]) -> Result<Self, SealedError> {
        let digests = verify_digest_list(&header, trailer)?;
        Ok(Self {
            cipher: Aes256GcmSiv::new(&key.0.into()),
            header,
            digests,
        })
    }

    /// Reads header and trailer from a seekable object and builds an opener. Fails with
    /// [`SealedError::ObjectLength`] unless the object is as long as its header says (checked
    /// before the trailer is read, so a damaged length never sizes a buffer).
    pub fn from_object<R: Read + Seek>(
        key: &ContentKey,
        object: &mut R,
    ) -> Result<Self, SealedError> {
        let mut head = [0u8; HEADER_LEN];
        object.seek(SeekFrom::Start(0))?;
        object.read_exact(&mut head)?;
        let header = Header::decode(&head)?;
        let got = object.seek(SeekFrom::End(0))?;
        let expected = header.layout().object_len();
        if got != expected {
            return Err(SealedError::ObjectLength { got, expected });
        }
        let trailer = header.layout().trailer_range();
        let mut buf = vec![0u8; (trailer.end - trailer.start) as usize];
        object.seek(SeekFrom::Start(trailer.start))?;
        object.read_exact(&mut buf)?;
        Self::new(key, header, &buf)
    }

    /// The verified header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// Checks `sealed` against digest `index`, then decrypts it.
    pub fn open_chunk(&self, index: u64, sealed: &[u8]) -> Result<Vec<u8>, SealedError> {
        let layout = self.header.layout();
        let expected = layout.sealed_chunk_range(index);
        if index >= layout.chunk_count() || sealed.len() as u64 != expected.end - expected.start {
            return Err(SealedError::ChunkLength {
                index,
                got: sealed.len(),
                expected: expected.end - expected.start,
            });
        }
        crate::sealed::verify_chunk(&self.digests, index, sealed)?;
        let last = index + 1 == layout.chunk_count();
        let aad = chunk_aad(&self.header.item, self.header.key_version, index, last);
        let nonce = Nonce::from(chunk_nonce(&self.header.nonce_seed, index));
        let mut buf = sealed.to_vec();
        self.cipher
            .decrypt_in_place(&nonce, &aad, &mut buf)
            .map_err(|_| SealedError::ChunkAuthentication { index })?;
        Ok(buf)
    }

    /// Writes plaintext bytes `range` to `out`, reading only the chunks that hold them.
    pub fn unseal_range<R: Read + Seek, W: Write>(
        &self,
        object: &mut R,
        range: Range<u64>,
        out: &mut W,
    ) -> Result<(), SealedError> {
        let layout = self.header.layout();
        if range.start > range.end || range.end > layout.plaintext_len() {
            return Err(SealedError::RangeOutOfBounds {
                start: range.start,
                end: range.end,
                len: layout.plaintext_len(),
            });
        }
        let mut buf = Vec::new();
        for index in layout.chunks_for_plaintext(range.clone()) {
            let sealed = layout.sealed_chunk_range(index);
            buf.resize((sealed.end - sealed.start) as usize, 0);
            object.seek(SeekFrom::Start(sealed.start))?;
            object.read_exact(&mut buf)?;
            let plain = self.open_chunk(index, &buf)?;
            let at = layout.plaintext_chunk_range(index).start;
            let from = range.start.max(at) - at;
            let to = range.end.min(at + plain.len() as u64) - at;
            out.write_all(&plain[from as usize..to as usize])?;
        }
        Ok(())
    }

    /// Writes the whole plaintext to `out`.
    pub fn unseal_all<R: Read + Seek, W: Write>(
        &self,
        object: &mut R,
        out: &mut W,
    ) -> Result<(), SealedError> {
        self.unseal_range(object, 0..self.header.plaintext_len, out)
    }
}
