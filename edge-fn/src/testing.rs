//! Test fixtures: a well-formed sealed object (chunk bytes are arbitrary: the edge never decrypts,
//! it only checks digests) and fake parents serving it.

use std::cell::RefCell;
use std::ops::Range;

use protocol::sealed::{self, Header, Layout};
use protocol::{ItemId, ObjectInfo, Source};

use crate::origin::{ByteStream, FetchError, Origin};

/// A sealed object in memory with its object info.
pub struct TestObject {
    pub bytes: Vec<u8>,
    pub info: ObjectInfo,
    pub layout: Layout,
}

pub const CHUNK: u32 = 4096;

impl TestObject {
    /// An object of `plaintext_len` bytes in 4 KiB chunks, with a random nonce seed (so two
    /// objects of the same size have different roots).
    pub fn new(item: &str, plaintext_len: u64) -> Self {
        let layout = Layout::new(CHUNK, plaintext_len);
        let mut header = Header {
            item: ItemId::parse(item).unwrap(),
            key_version: 1,
            chunk_size: CHUNK,
            plaintext_len,
            nonce_seed: protocol::random_bytes(),
            digest_root: [0; 32],
        };
        let chunks: Vec<Vec<u8>> = (0..layout.chunk_count())
            .map(|i| {
                let r = layout.sealed_chunk_range(i);
                (r.start..r.end).map(|b| (b * 7 + i) as u8).collect()
            })
            .collect();
        let digests: Vec<_> = chunks.iter().map(|c| sealed::chunk_digest(c)).collect();
        header.digest_root = header.compute_root(&digests);
        let mut bytes = header.encode().to_vec();
        chunks.iter().for_each(|c| bytes.extend_from_slice(c));
        bytes.extend_from_slice(&sealed::encode_trailer(&digests));
        assert_eq!(bytes.len() as u64, layout.object_len());
        let info = ObjectInfo {
            item: header.item.clone(),
            version: 1,
            object_len: layout.object_len(),
            chunk_size: CHUNK,
            plaintext_len,
            root: hex::encode(header.digest_root),
        };
        Self {
            bytes,
            info,
            layout,
        }
    }

    fn slice(&self, r: Range<u64>) -> &[u8] {
        &self.bytes[r.start as usize..r.end as usize]
    }

    pub fn header(&self) -> &[u8] {
        &self.bytes[..sealed::HEADER_LEN]
    }

    pub fn trailer(&self) -> &[u8] {
        self.slice(self.layout.trailer_range())
    }

    pub fn chunk(&self, i: u64) -> &[u8] {
        self.slice(self.layout.sealed_chunk_range(i))
    }
}

/// How a fake parent behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parent {
    Good,
    /// Answers every request with an error (a 404 or 5xx).
    Down,
    /// Serves the object with one byte flipped at this offset.
    Corrupt(u64),
    /// Ends every body after this many bytes.
    Truncates(usize),
    /// Serves good bytes, but every piece of a body is "not ready yet" once before it arrives,
    /// as on a network, so that reading several bodies at once interleaves.
    Trickles,
}

/// Fake parents, keyed by URL `p{index}`, serving one object; records every request.
pub struct FakeParents {
    pub object: Vec<u8>,
    pub parents: Vec<Parent>,
    pub requests: RefCell<Vec<(String, Range<u64>)>>,
}

impl FakeParents {
    pub fn new(object: &TestObject, parents: &[Parent]) -> Self {
        Self {
            object: object.bytes.clone(),
            parents: parents.to_vec(),
            requests: RefCell::default(),
        }
    }

    pub fn sources(&self) -> Vec<Source> {
        (0..self.parents.len())
            .map(|i| Source {
                parent: format!("parent-{i}"),
                region: "eu".into(),
                url: format!("p{i}"),
            })
            .collect()
    }

    pub fn request_count(&self) -> usize {
        self.requests.borrow().len()
    }
}

/// A body delivered in small pieces, as a network stream would be; with `trickle`, each piece
/// is pending once before it is ready.
pub struct Pieces {
    pieces: Vec<Vec<u8>>,
    trickle: bool,
}

impl ByteStream for Pieces {
    async fn next(&mut self) -> Option<Result<Vec<u8>, FetchError>> {
        if self.trickle && !self.pieces.is_empty() {
            let mut yielded = false;
            std::future::poll_fn(|cx| {
                if yielded {
                    std::task::Poll::Ready(())
                } else {
                    yielded = true;
                    cx.waker().wake_by_ref();
                    std::task::Poll::Pending
                }
            })
            .await;
        }
        (!self.pieces.is_empty()).then(|| Ok(self.pieces.remove(0)))
    }
}

impl Origin for FakeParents {
    type Body = Pieces;

    async fn get(&self, url: &str, range: Range<u64>) -> Result<Pieces, FetchError> {
        self.requests
            .borrow_mut()
            .push((url.to_owned(), range.clone()));
        let i: usize = url[1..].parse().unwrap();
        let mut body = self.object[range.start as usize..range.end as usize].to_vec();
        match self.parents[i] {
            Parent::Good => {}
            Parent::Down => return Err(FetchError(format!("{url}: 503"))),
            Parent::Corrupt(at) => {
                if range.contains(&at) {
                    body[(at - range.start) as usize] ^= 0xff;
                }
            }
            Parent::Truncates(n) => body.truncate(n),
            Parent::Trickles => {}
        }
        Ok(Pieces {
            pieces: body.chunks(1000).map(<[u8]>::to_vec).collect(),
            trickle: self.parents[i] == Parent::Trickles,
        })
    }
}

/// A clock that only moves when slept on; `on_sleep` runs at every sleep (e.g. another request
/// storing a chunk meanwhile).
#[derive(Default)]
pub struct FakeClock<'a> {
    now: std::cell::Cell<u64>,
    pub on_sleep: std::cell::RefCell<Option<OnSleep<'a>>>,
}

/// What a [`FakeClock`] runs when slept on, given the new time.
pub type OnSleep<'a> = Box<dyn FnMut(u64) + 'a>;

impl std::fmt::Debug for FakeClock<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeClock").field("now", &self.now).finish()
    }
}

impl crate::lease::Clock for FakeClock<'_> {
    fn now_ms(&self) -> u64 {
        self.now.get()
    }

    fn sleep_ms(&self, ms: u64) {
        self.now.set(self.now.get() + ms);
        if let Some(f) = self.on_sleep.borrow_mut().as_mut() {
            f(self.now.get());
        }
    }
}
