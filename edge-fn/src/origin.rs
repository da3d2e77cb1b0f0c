//! Where missing bytes come from: ranged GETs on the presigned parent URLs main hands out.
//!
//! The traits use `async fn` without `Send` bounds on purpose: a component instance is single
//! threaded and Spin's futures hold `Rc`s. On the edge they are implemented over
//! `spin_sdk::http::send`; in tests by fake parents.

use std::ops::Range;

/// A source failed: unreachable, an error status, or a body that ended early.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("fetch failed: {0}")]
pub struct FetchError(pub String);

/// The body of a ranged GET, read as it arrives.
#[allow(async_fn_in_trait)]
pub trait ByteStream {
    /// The next piece of the body, `None` at its end.
    async fn next(&mut self) -> Option<Result<Vec<u8>, FetchError>>;
}

/// Something that serves byte ranges of a sealed object by URL.
#[allow(async_fn_in_trait)]
pub trait Origin {
    type Body: ByteStream;

    /// Starts `GET url` for object bytes `range` (half-open, non-empty). Fails unless the source
    /// answers 206 for exactly that range; the body may still fail or end early later.
    async fn get(&self, url: &str, range: Range<u64>) -> Result<Self::Body, FetchError>;
}

/// Reads exactly `n` bytes from `body`, starting with `carry` (bytes left over from the previous
/// read); bytes beyond `n` are left in `carry`.
pub async fn read_exact<B: ByteStream>(
    body: &mut B,
    carry: &mut Vec<u8>,
    n: usize,
) -> Result<Vec<u8>, FetchError> {
    let mut buf = std::mem::take(carry);
    buf.reserve(n.saturating_sub(buf.len()));
    while buf.len() < n {
        match body.next().await {
            Some(Ok(piece)) => buf.extend_from_slice(&piece),
            Some(Err(e)) => return Err(e),
            None => {
                return Err(FetchError(format!(
                    "body ended after {} of {n} bytes",
                    buf.len()
                )));
            }
        }
    }
    *carry = buf.split_off(n);
    Ok(buf)
}

/// Fetches object bytes `range` whole (for the header and the trailer, which are small).
pub async fn fetch_range<O: Origin>(
    origin: &O,
    url: &str,
    range: Range<u64>,
) -> Result<Vec<u8>, FetchError> {
    let n = usize::try_from(range.end - range.start)
        .map_err(|_| FetchError("range too large".into()))?;
    let mut body = origin.get(url, range).await?;
    read_exact(&mut body, &mut Vec::new(), n).await
}
