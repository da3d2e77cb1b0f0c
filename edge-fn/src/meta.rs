//! An object's meta: its header and digest list, verified against the root main vouches for
//! (the grant's or fill sources' [`ObjectInfo`], itself from the signed catalog). Stored as
//! `header || trailer` under [`crate::cache::meta_key`] and re-verified when read, which costs
//! one hash over a few hundred kilobytes at most.

use protocol::sealed::{
    self, Digest, HEADER_LEN, MAX_CHUNK_SIZE, MAX_PLAINTEXT_LEN, MIN_CHUNK_SIZE,
};
use protocol::{Header, Layout, ObjectInfo, SealedError};

/// Why meta (or the object info describing it) is refused.
#[derive(Debug, thiserror::Error)]
pub enum MetaError {
    #[error("object info is inconsistent: {0}")]
    BadInfo(&'static str),
    #[error(transparent)]
    Sealed(#[from] SealedError),
    #[error("header root {got} is not the root {expected} main vouches for")]
    RootMismatch { expected: String, got: String },
    #[error("header field {0} does not match the object info")]
    FieldMismatch(&'static str),
}

/// A verified header and digest list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMeta {
    pub header: Header,
    header_bytes: Vec<u8>,
    trailer: Vec<u8>,
    digests: Vec<Digest>,
}

/// Checks that `info` describes a well-formed object and returns its layout.
pub fn layout_of(info: &ObjectInfo) -> Result<Layout, MetaError> {
    if !(MIN_CHUNK_SIZE..=MAX_CHUNK_SIZE).contains(&info.chunk_size) {
        return Err(MetaError::BadInfo("chunk size out of range"));
    }
    if info.plaintext_len > MAX_PLAINTEXT_LEN {
        return Err(MetaError::BadInfo("plaintext length out of range"));
    }
    let layout = Layout::new(info.chunk_size, info.plaintext_len);
    if layout.object_len() != info.object_len {
        return Err(MetaError::BadInfo(
            "object length does not match the layout",
        ));
    }
    if info.root.len() != 64 || hex::decode(&info.root).is_err() {
        return Err(MetaError::BadInfo("root is not 32 bytes of hex"));
    }
    Ok(layout)
}

impl ObjectMeta {
    /// Verifies header and trailer bytes against `info`: fields, root and digest list.
    pub fn verify(
        header_bytes: &[u8],
        trailer: &[u8],
        info: &ObjectInfo,
    ) -> Result<Self, MetaError> {
        layout_of(info)?;
        let header = Header::decode(header_bytes)?;
        let got = hex::encode(header.digest_root);
        if !got.eq_ignore_ascii_case(&info.root) {
            return Err(MetaError::RootMismatch {
                expected: info.root.clone(),
                got,
            });
        }
        if header.item != info.item {
            return Err(MetaError::FieldMismatch("item"));
        }
        if header.chunk_size != info.chunk_size {
            return Err(MetaError::FieldMismatch("chunk_size"));
        }
        if header.plaintext_len != info.plaintext_len {
            return Err(MetaError::FieldMismatch("plaintext_len"));
        }
        let digests = sealed::verify_digest_list(&header, trailer)?;
        Ok(Self {
            header,
            header_bytes: header_bytes[..HEADER_LEN].to_vec(),
            trailer: trailer.to_vec(),
            digests,
        })
    }

    /// Decodes and re-verifies meta as stored by [`ObjectMeta::encode`].
    pub fn decode(stored: &[u8], info: &ObjectInfo) -> Result<Self, MetaError> {
        if stored.len() < HEADER_LEN {
            return Err(SealedError::BadHeader("stored meta is too short").into());
        }
        let (header, trailer) = stored.split_at(HEADER_LEN);
        Self::verify(header, trailer, info)
    }

    /// `header || trailer`, the stored form.
    pub fn encode(&self) -> Vec<u8> {
        [self.header_bytes.as_slice(), &self.trailer].concat()
    }

    /// Where everything is in the object.
    pub fn layout(&self) -> Layout {
        self.header.layout()
    }

    /// The 160 header bytes.
    pub fn header_bytes(&self) -> &[u8] {
        &self.header_bytes
    }

    /// The trailer (digest list) bytes.
    pub fn trailer(&self) -> &[u8] {
        &self.trailer
    }

    /// Checks a sealed chunk against its digest.
    pub fn verify_chunk(&self, index: u64, sealed_chunk: &[u8]) -> Result<(), SealedError> {
        sealed::verify_chunk(&self.digests, index, sealed_chunk)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::TestObject;

    #[test]
    fn verifies_and_round_trips() {
        let o = TestObject::new("film", 3 * 4096 + 5);
        let m = ObjectMeta::verify(o.header(), o.trailer(), &o.info).unwrap();
        assert_eq!(ObjectMeta::decode(&m.encode(), &o.info).unwrap(), m);
        assert!(m.verify_chunk(1, o.chunk(1)).is_ok());
        assert!(m.verify_chunk(1, o.chunk(0)).is_err());
    }

    #[test]
    fn refuses_tampering_and_other_versions() {
        let o = TestObject::new("film", 9000);
        let mut trailer = o.trailer().to_vec();
        trailer[0] ^= 1;
        assert!(matches!(
            ObjectMeta::verify(o.header(), &trailer, &o.info),
            Err(MetaError::Sealed(SealedError::RootMismatch))
        ));
        let other = TestObject::new("film", 9000);
        assert!(matches!(
            ObjectMeta::verify(other.header(), other.trailer(), &o.info),
            Err(MetaError::RootMismatch { .. })
        ));
        let mut info = o.info.clone();
        info.object_len += 1;
        assert!(matches!(layout_of(&info), Err(MetaError::BadInfo(_))));
        // A length whose layout would overflow is refused before any offset is computed.
        let mut info = o.info.clone();
        info.plaintext_len = u64::MAX;
        assert!(matches!(layout_of(&info), Err(MetaError::BadInfo(_))));
    }
}
