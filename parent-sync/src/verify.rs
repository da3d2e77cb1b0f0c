//! Verification of a sealed object held by a parent: one front-to-back read that checks the
//! header, the length, every chunk digest and the digest root, holding one chunk in memory.

use async_speed_limit::Limiter;
use protocol::sealed::{
    Digest, HEADER_LEN, Header, SealedError, TAG_LEN, chunk_digest, verify_digest_list,
};
use tokio::io::AsyncReadExt;

use crate::store::{ParentStore, StoreError};

/// Why a sealed object failed verification.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{key:?} is missing")]
    Missing { key: String },
    #[error("{key:?} is {actual} bytes; its header says {expected}")]
    Length {
        key: String,
        expected: u64,
        actual: u64,
    },
    #[error("{key:?}: {source}")]
    Sealed {
        key: String,
        #[source]
        source: SealedError,
    },
    #[error("{key:?}: reading the object: {source}")]
    Read {
        key: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{key:?}: the header differs from the primary's (another version or item)")]
    NotThePrimarysObject { key: String },
}

/// Reads `key` from `store` once, front to back, and checks it is a whole sealed object: the
/// header decodes, the length matches the layout, every chunk's digest matches the digest list,
/// and the list matches the header's root. Holds one chunk in memory. Returns the header.
pub async fn verify_sealed(store: &ParentStore, key: &str) -> Result<Header, VerifyError> {
    verify_sealed_paced(store, key, None).await
}

/// [`verify_sealed`], reading no faster than `limiter` allows (its budget is shared by every
/// clone, so one limiter paces a whole scrub round).
pub(crate) async fn verify_sealed_paced(
    store: &ParentStore,
    key: &str,
    limiter: Option<&Limiter>,
) -> Result<Header, VerifyError> {
    let pace = async |n: usize| {
        if let Some(limiter) = limiter {
            limiter.consume(n).await;
        }
    };
    let read_err = |source| VerifyError::Read {
        key: key.to_owned(),
        source,
    };
    let sealed_err = |source| VerifyError::Sealed {
        key: key.to_owned(),
        source,
    };
    let mut reader = store
        .get_stream(key)
        .await?
        .ok_or_else(|| VerifyError::Missing {
            key: key.to_owned(),
        })?;
    let actual = reader.content_len();
    if actual < HEADER_LEN as u64 {
        return Err(VerifyError::Length {
            key: key.to_owned(),
            expected: HEADER_LEN as u64,
            actual,
        });
    }
    let mut header_bytes = [0u8; HEADER_LEN];
    reader
        .read_exact(&mut header_bytes)
        .await
        .map_err(read_err)?;
    pace(HEADER_LEN).await;
    let header = Header::decode(&header_bytes).map_err(sealed_err)?;
    let layout = header.layout();
    if layout.object_len() != actual {
        return Err(VerifyError::Length {
            key: key.to_owned(),
            expected: layout.object_len(),
            actual,
        });
    }
    let mut chunk = vec![0u8; (layout.chunk_size() + TAG_LEN as u64) as usize];
    let mut digests: Vec<Digest> = Vec::with_capacity(layout.chunk_count() as usize);
    for index in 0..layout.chunk_count() {
        let range = layout.sealed_chunk_range(index);
        let sealed = &mut chunk[..(range.end - range.start) as usize];
        reader.read_exact(sealed).await.map_err(read_err)?;
        digests.push(chunk_digest(sealed));
        pace(sealed.len()).await;
    }
    let trailer_range = layout.trailer_range();
    let mut trailer = vec![0u8; (trailer_range.end - trailer_range.start) as usize];
    reader.read_exact(&mut trailer).await.map_err(read_err)?;
    pace(trailer.len()).await;
    let listed = verify_digest_list(&header, &trailer).map_err(sealed_err)?;
    if let Some(index) = (0..listed.len()).find(|&i| listed[i] != digests[i]) {
        return Err(sealed_err(SealedError::ChunkDigestMismatch {
            index: index as u64,
        }));
    }
    Ok(header)
}
