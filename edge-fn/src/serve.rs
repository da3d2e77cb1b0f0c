//! The body of a content response: the pieces of the requested range in order, header and trailer
//! bytes from the verified meta, chunk bytes from the cache or filled (verified, then stored) from
//! the parents.
//!
//! [`pump`] writes them to the response without letting a slow client slow the fill: while the
//! client keeps up, pieces go straight through (at most [`KEEP`] in memory); when it falls
//! behind, the fill goes on at the parents' pace, and a chunk already in the cache is queued by
//! reference and read back, verified, when its turn comes. Other requests waiting on this
//! request's fill leases ([`crate::lease`]) therefore get each chunk as fast as the parents
//! deliver it, not as fast as this request's client reads. A piece that could not be stored
//! (the zone full, the item not allowed here) waits in memory for the client, as before.

use std::collections::{BTreeSet, VecDeque};
use std::ops::Range;

use protocol::{ItemId, Manifest};

use std::task::Poll;

use futures::SinkExt;

use crate::cache::{Cache, MANIFEST_KEY};
use crate::fill::{ChunkFiller, FillError, cache_get};
use crate::meta::ObjectMeta;
use crate::origin::Origin;
use crate::plan::{Piece, chunk_indices, pieces};

/// Whether this edge may keep `item` in its cache: not when the last verified manifest restricts
/// the item to regions other than `region` (then it is streamed through without being stored).
/// Without a manifest yet, main's grant is the only word and the item may be stored.
pub fn may_store<C: Cache>(cache: &C, item: &ItemId, region: &str) -> bool {
    let Some(bytes) = cache_get(cache, MANIFEST_KEY) else {
        return true;
    };
    let Ok(manifest) = serde_json::from_slice::<Manifest>(&bytes) else {
        return true;
    };
    manifest
        .items
        .iter()
        .find(|i| i.id == *item)
        .is_none_or(|i| i.regions.is_empty() || i.regions.iter().any(|r| r == region))
}

/// The pieces of a response body, produced one at a time.
pub struct BodyPieces<'a, C, O: Origin> {
    filler: ChunkFiller<'a, C, O>,
    meta: &'a ObjectMeta,
    pieces: VecDeque<Piece>,
    missing: BTreeSet<u64>,
    /// Whether the last chunk handed out by [`Self::next_queued`] was in the cache afterwards.
    last_stored: bool,
}

impl<C, O: Origin> std::fmt::Debug for BodyPieces<'_, C, O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BodyPieces")
            .field("pieces_left", &self.pieces.len())
            .field("missing", &self.missing.len())
            .finish_non_exhaustive()
    }
}

impl<'a, C: Cache, O: Origin> BodyPieces<'a, C, O> {
    /// Plans object bytes `range` and notes which of its chunks the cache lacks.
    pub fn new(filler: ChunkFiller<'a, C, O>, meta: &'a ObjectMeta, range: Range<u64>) -> Self {
        let pieces = pieces(&meta.layout(), range);
        let missing = chunk_indices(&pieces)
            .filter(|&i| !filler.is_cached(i))
            .collect();
        Self {
            filler,
            meta,
            pieces: pieces.into(),
            missing,
            last_stored: true,
        }
    }

    /// Whether every chunk of the range was in the cache when planned.
    pub fn all_cached(&self) -> bool {
        self.missing.is_empty()
    }

    /// How many chunks were fetched from parents so far.
    pub fn filled(&self) -> u64 {
        self.filler.filled()
    }

    /// How many chunks were awaited from another request's fill so far.
    pub fn awaited(&self) -> u64 {
        self.filler.awaited()
    }

    /// The next bytes of the body, `None` at its end. An error means no source could deliver a
    /// verified chunk: the response must be aborted.
    pub async fn next_piece(&mut self) -> Option<Result<Vec<u8>, FillError>> {
        let piece = self.pieces.pop_front()?;
        Some(match piece {
            Piece::Header(r) => Ok(self.meta.header_bytes()[r].to_vec()),
            Piece::Trailer(r) => Ok(self.meta.trailer()[r].to_vec()),
            Piece::Chunk { index, within } => self.chunk(index).await.map(|chunk| {
                if within == (0..chunk.len()) {
                    chunk
                } else {
                    chunk[within].to_vec()
                }
            }),
        })
    }

    /// The next piece for [`pump`]: its bytes, or, unless `keep`, only where to read it back
    /// when it is a chunk in the cache (filled and stored now, or there already).
    async fn next_queued(&mut self, keep: bool) -> Option<Result<Queued, FillError>> {
        let piece = self.pieces.pop_front()?;
        Some(match piece {
            Piece::Header(r) => Ok(Queued::Bytes(self.meta.header_bytes()[r].to_vec())),
            Piece::Trailer(r) => Ok(Queued::Bytes(self.meta.trailer()[r].to_vec())),
            Piece::Chunk { index, within } => {
                if !keep && !self.missing.contains(&index) && self.filler.is_cached(index) {
                    self.last_stored = true;
                    return Some(Ok(Queued::Stored { index, within }));
                }
                match self.chunk(index).await {
                    Ok(chunk) => {
                        self.last_stored = self.filler.is_cached(index);
                        if !keep && self.last_stored {
                            Ok(Queued::Stored { index, within })
                        } else if within == (0..chunk.len()) {
                            Ok(Queued::Bytes(chunk))
                        } else {
                            Ok(Queued::Bytes(chunk[within].to_vec()))
                        }
                    }
                    Err(e) => Err(e),
                }
            }
        })
    }

    async fn chunk(&mut self, index: u64) -> Result<Vec<u8>, FillError> {
        if !self.missing.contains(&index) {
            if let Some(chunk) = self.filler.cached(index) {
                return Ok(chunk);
            }
            // Evicted or damaged since planning: fill it alone.
            return self.filler.fill(index, index + 1).await;
        }
        let mut run_end = index + 1;
        while self.missing.contains(&run_end) {
            run_end += 1;
        }
        self.filler.fill(index, run_end).await
    }
}

/// Pieces [`pump`] holds in memory for a client that keeps up.
pub const KEEP: usize = 2;

/// A piece on its way to the client: its bytes, or where in the cache to read them back.
#[derive(Debug)]
enum Queued {
    Bytes(Vec<u8>),
    Stored { index: u64, within: Range<usize> },
}

/// How [`pump`] ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pumped {
    /// Every piece was written.
    Done,
    /// The client went away (the sink refused a piece).
    ClientGone,
    /// No verified bytes for a piece: the response must be aborted (the client resumes).
    Failed(String),
}

/// Writes the rest of `body` to `sink`, filling ahead of a client that reads slower than the
/// parents deliver (module docs). Memory: at most [`KEEP`] pieces queued, plus one more when a
/// piece could not be stored, plus the one being written; chunks beyond them wait in the cache.
///
/// One loop, no channels: it hands the client every queued piece the sink takes without
/// waiting, then fills the next piece, and waits for the sink only when it may not fill. Every
/// wait is thus on a parent's body or on the client's stream — what Spin's executor can wait on.
pub async fn pump<C, O, S>(body: &mut BodyPieces<'_, C, O>, sink: &mut S) -> Pumped
where
    C: Cache,
    O: Origin,
    S: futures::Sink<Vec<u8>> + Unpin,
    S::Error: std::fmt::Debug,
{
    let read_back = body.filler.read_back();
    let mut queue = VecDeque::new();
    // Pieces in `queue` that hold their bytes.
    let mut held = 0;
    // Whether the fill's last chunk landed in the cache: then filling ahead costs no memory.
    let mut storing = true;
    let mut failed = None;
    let mut filled_all = false;
    loop {
        while !queue.is_empty() {
            let ready = futures::future::poll_fn(|cx| Poll::Ready(sink.poll_ready_unpin(cx)));
            match ready.await {
                Poll::Pending => break,
                Poll::Ready(Err(e)) => return gone(&e),
                Poll::Ready(Ok(())) => {}
            }
            let bytes = match queue.pop_front() {
                Some(Queued::Bytes(bytes)) => {
                    held -= 1;
                    bytes
                }
                Some(Queued::Stored { index, within }) => match read_back.chunk(index) {
                    Some(chunk) if within == (0..chunk.len()) => chunk,
                    Some(chunk) => chunk[within].to_vec(),
                    None => {
                        return Pumped::Failed(format!(
                            "chunk {index} left the cache before its turn"
                        ));
                    }
                },
                None => break,
            };
            if let Err(e) = sink.start_send_unpin(bytes) {
                return gone(&e);
            }
        }
        if filled_all && queue.is_empty() {
            if let Err(e) = sink.flush().await {
                return gone(&e);
            }
            return failed.map_or(Pumped::Done, Pumped::Failed);
        }
        if !filled_all && (held < KEEP || storing) {
            match body.next_queued(held < KEEP).await {
                None => filled_all = true,
                Some(Ok(queued)) => {
                    storing = body.last_stored;
                    if matches!(queued, Queued::Bytes(_)) {
                        held += 1;
                    }
                    queue.push_back(queued);
                }
                Some(Err(e)) => {
                    // What is queued still goes out; then the response is aborted.
                    failed = Some(e.to_string());
                    filled_all = true;
                }
            }
            continue;
        }
        // Nothing to fill without more memory: wait until the client takes the next piece.
        if let Err(e) = futures::future::poll_fn(|cx| sink.poll_ready_unpin(cx)).await {
            return gone(&e);
        }
    }
}

fn gone(e: &impl std::fmt::Debug) -> Pumped {
    crate::log(format_args!("client went away: {e:?}"));
    Pumped::ClientGone
}

#[cfg(test)]
mod tests {
    use futures::executor::block_on;

    use super::*;
    use crate::cache::{MemoryCache, chunk_key};
    use crate::testing::{FakeParents, Parent, TestObject};
    use protocol::ManifestItem;

    fn body(
        o: &TestObject,
        cache: &MemoryCache,
        parents: &FakeParents,
        range: Range<u64>,
    ) -> (Result<Vec<u8>, FillError>, bool) {
        let meta = ObjectMeta::verify(o.header(), o.trailer(), &o.info).unwrap();
        let sources = parents.sources();
        let filler = ChunkFiller::new(
            cache,
            parents,
            &meta,
            &o.info,
            &sources,
            Some(crate::zone::Admit::unbounded(&o.info)),
        );
        let mut b = BodyPieces::new(filler, &meta, range);
        let hit = b.all_cached();
        let mut out = Vec::new();
        while let Some(piece) = block_on(b.next_piece()) {
            match piece {
                Ok(p) => out.extend_from_slice(&p),
                Err(e) => return (Err(e), hit),
            }
        }
        (Ok(out), hit)
    }

    /// A client's sink that takes nothing until `open` is set.
    struct Gate<'a> {
        open: &'a std::cell::Cell<bool>,
        waker: &'a std::cell::RefCell<Option<std::task::Waker>>,
        out: Vec<u8>,
    }

    impl<'a> Gate<'a> {
        fn new(
            open: &'a std::cell::Cell<bool>,
            waker: &'a std::cell::RefCell<Option<std::task::Waker>>,
        ) -> Self {
            Self {
                open,
                waker,
                out: Vec::new(),
            }
        }
    }

    impl futures::Sink<Vec<u8>> for Gate<'_> {
        type Error = ();
        fn poll_ready(
            self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Result<(), ()>> {
            if self.open.get() {
                std::task::Poll::Ready(Ok(()))
            } else {
                *self.waker.borrow_mut() = Some(cx.waker().clone());
                std::task::Poll::Pending
            }
        }
        fn start_send(mut self: std::pin::Pin<&mut Self>, item: Vec<u8>) -> Result<(), ()> {
            self.out.extend_from_slice(&item);
            Ok(())
        }
        fn poll_flush(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Result<(), ()>> {
            std::task::Poll::Ready(Ok(()))
        }
        fn poll_close(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Result<(), ()>> {
            std::task::Poll::Ready(Ok(()))
        }
    }

    /// Pumps `o` whole to a client that reads nothing until `open_when` holds (or the fill has
    /// stopped); whether `open_when` held first, what pump ended with, and the client's bytes.
    fn pump_to_a_stalled_client(
        o: &TestObject,
        cache: &MemoryCache,
        parents: &FakeParents,
        store: Option<crate::zone::Admit>,
        open_when: impl Fn() -> bool,
    ) -> (bool, Pumped, Vec<u8>) {
        let meta = ObjectMeta::verify(o.header(), o.trailer(), &o.info).unwrap();
        let sources = parents.sources();
        let filler = ChunkFiller::new(cache, parents, &meta, &o.info, &sources, store);
        let mut b = BodyPieces::new(filler, &meta, 0..o.bytes.len() as u64);
        let (open, waker) = (std::cell::Cell::new(false), std::cell::RefCell::new(None));
        let mut gate = Gate::new(&open, &waker);
        let mut polls = 0;
        let mut held = false;
        let watch = futures::future::poll_fn(|cx| {
            polls += 1;
            held = open_when();
            if held || polls > 1000 {
                open.set(true);
                if let Some(w) = waker.borrow_mut().take() {
                    w.wake();
                }
                return std::task::Poll::Ready(());
            }
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        });
        let (pumped, ()) = block_on(futures::future::join(pump(&mut b, &mut gate), watch));
        (held, pumped, gate.out)
    }

    #[test]
    fn a_stalled_client_does_not_stall_the_fill() {
        let o = TestObject::new("film", 40 * 4096 + 5);
        let parents = FakeParents::new(&o, &[Parent::Trickles]);
        let cache = MemoryCache::default();
        let chunks = o.layout.chunk_count();
        let all_stored =
            || (0..chunks).all(|i| cache.exists(&chunk_key(&o.info.item, 1, i)).unwrap());
        let store = Some(crate::zone::Admit::unbounded(&o.info));
        let (held, pumped, out) = pump_to_a_stalled_client(&o, &cache, &parents, store, all_stored);
        assert!(held, "every chunk was stored while the client read nothing");
        assert_eq!(pumped, Pumped::Done);
        assert!(out == o.bytes, "the client got the object's bytes");
        // Warm: the same, from the cache by reference.
        let requests = parents.request_count();
        let store = Some(crate::zone::Admit::unbounded(&o.info));
        let (_, pumped, out) = pump_to_a_stalled_client(&o, &cache, &parents, store, || false);
        assert_eq!(pumped, Pumped::Done);
        assert!(out == o.bytes);
        assert_eq!(parents.request_count(), requests);
    }

    /// Spin's executor polls again only when a pollable it was given is ready (the client's
    /// stream, a parent's body), and panics if a pending future gave it none. Driven that way —
    /// a waker that does nothing, the client's sink the only thing that can be pending — pump
    /// must be pending only while the sink is.
    #[test]
    fn pump_waits_only_on_what_spin_can_wait_on() {
        let o = TestObject::new("film", 24 * 4096 + 5);
        for store in [true, false] {
            let parents = FakeParents::new(&o, &[Parent::Good]);
            let cache = MemoryCache::default();
            let meta = ObjectMeta::verify(o.header(), o.trailer(), &o.info).unwrap();
            let sources = parents.sources();
            let admit = store.then(|| crate::zone::Admit::unbounded(&o.info));
            let filler = ChunkFiller::new(&cache, &parents, &meta, &o.info, &sources, admit);
            let mut b = BodyPieces::new(filler, &meta, 0..o.bytes.len() as u64);
            let (open, waker) = (std::cell::Cell::new(false), std::cell::RefCell::new(None));
            let mut gate = Gate::new(&open, &waker);
            let mut pumping = Box::pin(pump(&mut b, &mut gate));
            let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
            let mut pendings = 0;
            let pumped = loop {
                if let std::task::Poll::Ready(pumped) = pumping.as_mut().poll(&mut cx) {
                    break pumped;
                }
                assert!(
                    waker.borrow_mut().take().is_some(),
                    "pending without waiting on the client (store: {store})"
                );
                // The client reads one piece every few polls.
                pendings += 1;
                open.set(pendings % 3 == 0);
            };
            assert_eq!(pumped, Pumped::Done);
            drop(pumping);
            assert!(gate.out == o.bytes, "store: {store}");
        }
    }

    #[test]
    fn without_storage_the_fill_waits_for_the_client() {
        let o = TestObject::new("film", 80 * 4096 + 5);
        let parents = FakeParents::new(&o, &[Parent::Good]);
        let cache = MemoryCache::default();
        // The first stripes' GETs open at once (fill_parallel_gets); one more means the fill
        // finished a stripe, which the client's two pieces cannot have allowed.
        let opened = crate::fill::PARALLEL_GETS;
        let (held, pumped, out) = pump_to_a_stalled_client(&o, &cache, &parents, None, || {
            parents.request_count() > opened
        });
        assert!(
            !held,
            "a fill that cannot store does not run ahead of its client"
        );
        assert_eq!(pumped, Pumped::Done);
        assert!(out == o.bytes);
        assert!(
            parents.request_count() > opened,
            "the rest once the client reads"
        );
    }

    #[test]
    fn a_stored_chunk_gone_before_its_turn_aborts_the_response() {
        let o = TestObject::new("film", 8 * 4096);
        let parents = FakeParents::new(&o, &[Parent::Good]);
        let cache = MemoryCache::default();
        let store = Some(crate::zone::Admit::unbounded(&o.info));
        let last = chunk_key(&o.info.item, 1, o.layout.chunk_count() - 1);
        let (_, pumped, out) = pump_to_a_stalled_client(&o, &cache, &parents, store, || {
            // Evicted (or damaged and dropped) while the client was behind.
            cache.exists(&last).unwrap() && cache.delete(&last).is_ok()
        });
        assert!(matches!(pumped, Pumped::Failed(_)), "{pumped:?}");
        assert!(out.len() < o.bytes.len() && o.bytes.starts_with(&out));
    }

    #[test]
    fn miss_then_hit_gives_the_exact_bytes() {
        let o = TestObject::new("film", 5 * 4096 + 3);
        let parents = FakeParents::new(&o, &[Parent::Good]);
        let cache = MemoryCache::default();
        let len = o.bytes.len() as u64;
        for range in [0..len, 100..9000, len - 40..len, 3..4] {
            let (first, _) = body(&o, &cache, &parents, range.clone());
            assert_eq!(
                first.unwrap(),
                &o.bytes[range.start as usize..range.end as usize]
            );
            let before = parents.request_count();
            let (second, hit) = body(&o, &cache, &parents, range.clone());
            assert!(hit);
            assert_eq!(
                second.unwrap(),
                &o.bytes[range.start as usize..range.end as usize]
            );
            assert_eq!(parents.request_count(), before, "a hit asks no parent");
        }
    }

    #[test]
    fn only_the_missing_chunks_are_fetched() {
        let o = TestObject::new("film", 6 * 4096);
        let parents = FakeParents::new(&o, &[Parent::Good]);
        let cache = MemoryCache::default();
        let key = |i| chunk_key(&o.info.item, 1, i);
        for i in [0, 3] {
            cache.set(&key(i), o.chunk(i)).unwrap();
        }
        let (b, hit) = body(&o, &cache, &parents, 0..o.bytes.len() as u64);
        assert_eq!(b.unwrap(), o.bytes);
        assert!(!hit);
        let ranges: Vec<_> = parents
            .requests
            .borrow()
            .iter()
            .map(|r| r.1.clone())
            .collect();
        let l = &o.layout;
        assert_eq!(
            ranges,
            vec![
                l.sealed_chunk_range(1).start..l.sealed_chunk_range(2).end,
                l.sealed_chunk_range(4).start..l.sealed_chunk_range(5).end,
            ]
        );
    }

    #[test]
    fn an_evicted_chunk_is_refilled_and_a_damaged_cache_entry_is_not_served() {
        let o = TestObject::new("film", 2 * 4096);
        let parents = FakeParents::new(&o, &[Parent::Good]);
        let cache = MemoryCache::default();
        cache.set(&chunk_key(&o.info.item, 1, 0), b"short").unwrap();
        let (b, _) = body(&o, &cache, &parents, 0..o.bytes.len() as u64);
        assert_eq!(b.unwrap(), o.bytes);
    }

    #[test]
    fn a_chunk_changed_at_rest_is_dropped_refilled_and_counted() {
        let o = TestObject::new("film", 3 * 4096);
        let parents = FakeParents::new(&o, &[Parent::Good]);
        let cache = MemoryCache::default();
        let all = 0..o.bytes.len() as u64;
        assert_eq!(body(&o, &cache, &parents, all.clone()).0.unwrap(), o.bytes);
        let key = chunk_key(&o.info.item, 1, 1);
        // Same length, different bytes: a length check alone would serve them.
        cache.corrupt(&key, 100);
        let before = parents.request_count();
        for _ in 0..2 {
            let (b, _) = body(&o, &cache, &parents, all.clone());
            assert_eq!(b.unwrap(), o.bytes);
        }
        assert_eq!(
            parents.request_count(),
            before + 1,
            "refilled once, then a hit"
        );
        assert_eq!(cache.get(&key).unwrap().unwrap(), o.chunk(1));
        let stat = cache
            .get(&crate::cache::stat_key("corrupt_chunks"))
            .unwrap();
        assert_eq!(stat.as_deref(), Some(&b"1"[..]));
    }

    #[test]
    fn an_unverifiable_chunk_aborts_the_body() {
        let o = TestObject::new("film", 3 * 4096);
        let at = o.layout.sealed_chunk_range(1).start;
        let parents = FakeParents::new(&o, &[Parent::Corrupt(at)]);
        let cache = MemoryCache::default();
        let (b, _) = body(&o, &cache, &parents, 0..o.bytes.len() as u64);
        assert!(matches!(b, Err(FillError::Exhausted { .. })));
        assert!(cache.exists(&chunk_key(&o.info.item, 1, 0)).unwrap());
        assert!(!cache.exists(&chunk_key(&o.info.item, 1, 1)).unwrap());
    }

    #[test]
    fn region_restrictions_of_the_manifest_decide_storing() {
        let cache = MemoryCache::default();
        let film = ItemId::parse("film").unwrap();
        assert!(may_store(&cache, &film, "eu"));
        let item = |id: &str, regions: &[&str]| ManifestItem {
            id: ItemId::parse(id).unwrap(),
            version: 1,
            object_len: 1,
            root: String::new(),
            level: None,
            regions: regions.iter().map(|r| r.to_string()).collect(),
        };
        let m = Manifest {
            serial: 1,
            items: vec![item("film", &["us"]), item("free", &[])],
        };
        cache
            .set(MANIFEST_KEY, &serde_json::to_vec(&m).unwrap())
            .unwrap();
        assert!(!may_store(&cache, &film, "eu"));
        assert!(may_store(&cache, &film, "us"));
        assert!(may_store(&cache, &ItemId::parse("free").unwrap(), "eu"));
        assert!(may_store(&cache, &ItemId::parse("unlisted").unwrap(), "eu"));
    }
}
