//! The body of a content response: the pieces of the requested range in order, header and trailer
//! bytes from the verified meta, chunk bytes from the cache or filled (verified, then stored) from
//! the parents. The Spin glue writes each piece to the response as it comes, so a response holds
//! at most one chunk in memory whatever its length.

use std::collections::{BTreeSet, VecDeque};
use std::ops::Range;

use protocol::{ItemId, Manifest};

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
