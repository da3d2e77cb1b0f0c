use futures::executor::block_on;

use super::*;
use crate::cache::MemoryCache;
use crate::lease::{LEASE_MS, Leases, Taken};
use crate::testing::{FakeClock, FakeParents, Parent, TestObject};

fn meta_of(o: &TestObject) -> ObjectMeta {
    ObjectMeta::verify(o.header(), o.trailer(), &o.info).unwrap()
}

#[test]
fn meta_is_fetched_verified_stored_then_served_from_cache() {
    let o = TestObject::new("film", 3 * 4096);
    let parents = FakeParents::new(&o, &[Parent::Good]);
    let cache = MemoryCache::default();
    let m = block_on(load_meta(
        &cache,
        &parents,
        &o.info,
        &parents.sources(),
        true,
    ))
    .unwrap();
    assert!(!m.was_cached);
    assert_eq!(parents.request_count(), 2);
    assert_eq!(cache.keys(), vec!["meta/film/v1".to_owned()]);
    let m = block_on(load_meta(&cache, &parents, &o.info, &[], true)).unwrap();
    assert!(m.was_cached);
    assert_eq!(parents.request_count(), 2);
}

#[test]
fn meta_fails_over_past_missing_and_forged_parents() {
    let o = TestObject::new("film", 3 * 4096);
    let parents = FakeParents::new(&o, &[Parent::Down, Parent::Corrupt(50), Parent::Good]);
    let cache = MemoryCache::default();
    let m = block_on(load_meta(
        &cache,
        &parents,
        &o.info,
        &parents.sources(),
        false,
    ))
    .unwrap();
    assert_eq!(m.meta, meta_of(&o));
    assert!(cache.keys().is_empty(), "store=false keeps nothing");
    let all_bad = FakeParents::new(&o, &[Parent::Down, Parent::Corrupt(50)]);
    let e = block_on(load_meta(
        &cache,
        &all_bad,
        &o.info,
        &all_bad.sources(),
        true,
    ))
    .unwrap_err();
    assert!(matches!(e, FillError::Exhausted { .. }), "{e}");
    assert!(cache.keys().is_empty());
}

#[test]
fn a_run_of_chunks_is_one_request() {
    let o = TestObject::new("film", 3 * 4096 + 7);
    let parents = FakeParents::new(&o, &[Parent::Good]);
    let cache = MemoryCache::default();
    let meta = meta_of(&o);
    let sources = parents.sources();
    let mut f = ChunkFiller::new(
        &cache,
        &parents,
        &meta,
        &o.info,
        &sources,
        Some(Admit::unbounded(&o.info)),
    );
    for i in 0..4 {
        assert!(f.cached(i).is_none());
        assert_eq!(block_on(f.fill(i, 4)).unwrap(), o.chunk(i));
        assert_eq!(f.cached(i).as_deref(), Some(o.chunk(i)));
    }
    assert_eq!(parents.request_count(), 1);
    assert_eq!(f.filled(), 4);
    assert!(f.is_cached(3) && !f.is_cached(4));
}

#[test]
fn a_long_run_is_fetched_by_stripes_read_at_once() {
    let chunks = 2 * STRIPE_CHUNKS + 4;
    let o = TestObject::new("film", chunks * 4096);
    let parents = FakeParents::new(&o, &[Parent::Trickles]);
    let cache = MemoryCache::default();
    let meta = meta_of(&o);
    let sources = parents.sources();
    let mut f = ChunkFiller::new(&cache, &parents, &meta, &o.info, &sources, None);
    assert_eq!(block_on(f.fill(0, chunks)).unwrap(), o.chunk(0));
    // Three GETs, one per stripe, opened at once...
    let starts: Vec<u64> = parents
        .requests
        .borrow()
        .iter()
        .map(|r| r.1.start)
        .collect();
    let stripe_start = |c: u64| o.layout.sealed_chunk_range(c).start;
    let want = [0, STRIPE_CHUNKS, 2 * STRIPE_CHUNKS].map(stripe_start);
    assert_eq!(starts, want);
    // ...and the stripes ahead were read while the first chunk was awaited, within their bound.
    let limit = 4096 * AHEAD_CHUNKS + 1000;
    assert!(f.ahead.iter().all(|r| !r.carry.is_empty()), "read ahead");
    assert!(
        f.ahead.iter().all(|r| r.carry.len() <= limit + 64),
        "bounded"
    );
    for i in 1..chunks {
        assert_eq!(
            block_on(f.fill(i, chunks)).unwrap(),
            o.chunk(i),
            "chunk {i}"
        );
    }
    assert_eq!(parents.request_count(), 3, "no GET beyond the stripes");
    assert_eq!(f.filled(), chunks);
}

#[test]
fn a_bad_stripe_ahead_fails_over_when_it_is_served() {
    let chunks = 2 * STRIPE_CHUNKS + 4;
    let o = TestObject::new("film", chunks * 4096);
    let at = o.layout.sealed_chunk_range(2 * STRIPE_CHUNKS + 1).start + 9;
    let parents = FakeParents::new(&o, &[Parent::Corrupt(at), Parent::Good]);
    let cache = MemoryCache::default();
    let meta = meta_of(&o);
    let sources = parents.sources();
    let mut f = ChunkFiller::new(&cache, &parents, &meta, &o.info, &sources, None);
    for i in 0..chunks {
        assert_eq!(
            block_on(f.fill(i, chunks)).unwrap(),
            o.chunk(i),
            "chunk {i}"
        );
    }
    let requests = parents.requests.borrow();
    let last = requests.last().unwrap();
    assert_eq!(last.0, "p1", "the bad chunk came from the next parent");
    assert_eq!(
        last.1.start,
        o.layout.sealed_chunk_range(2 * STRIPE_CHUNKS + 1).start
    );
}

#[test]
fn a_bad_chunk_moves_to_the_next_parent_and_stays_there() {
    let o = TestObject::new("film", 4 * 4096);
    let at = o.layout.sealed_chunk_range(1).start + 5;
    let parents = FakeParents::new(&o, &[Parent::Corrupt(at), Parent::Good]);
    let cache = MemoryCache::default();
    let meta = meta_of(&o);
    let sources = parents.sources();
    let mut f = ChunkFiller::new(
        &cache,
        &parents,
        &meta,
        &o.info,
        &sources,
        Some(Admit::unbounded(&o.info)),
    );
    for i in 0..4 {
        assert_eq!(block_on(f.fill(i, 4)).unwrap(), o.chunk(i), "chunk {i}");
    }
    let urls: Vec<String> = parents
        .requests
        .borrow()
        .iter()
        .map(|r| r.0.clone())
        .collect();
    assert_eq!(urls, vec!["p0", "p1"]);
    assert_eq!(
        parents.requests.borrow()[1].1.start,
        o.layout.sealed_chunk_range(1).start
    );
}

#[test]
fn truncated_bodies_and_dead_parents_fail_over() {
    let o = TestObject::new("film", 2 * 4096);
    let parents = FakeParents::new(&o, &[Parent::Down, Parent::Truncates(100), Parent::Good]);
    let cache = MemoryCache::default();
    let meta = meta_of(&o);
    let sources = parents.sources();
    let mut f = ChunkFiller::new(&cache, &parents, &meta, &o.info, &sources, None);
    assert_eq!(block_on(f.fill(0, 2)).unwrap(), o.chunk(0));
    assert_eq!(block_on(f.fill(1, 2)).unwrap(), o.chunk(1));
    assert_eq!(parents.request_count(), 3);
    assert!(cache.keys().is_empty(), "store=false keeps nothing");
}

#[test]
fn a_chunk_no_parent_can_deliver_is_an_error_and_is_not_stored() {
    let o = TestObject::new("film", 2 * 4096);
    let at = o.layout.sealed_chunk_range(0).start;
    let parents = FakeParents::new(&o, &[Parent::Corrupt(at), Parent::Corrupt(at)]);
    let cache = MemoryCache::default();
    let meta = meta_of(&o);
    let sources = parents.sources();
    let mut f = ChunkFiller::new(
        &cache,
        &parents,
        &meta,
        &o.info,
        &sources,
        Some(Admit::unbounded(&o.info)),
    );
    assert!(matches!(
        block_on(f.fill(0, 2)),
        Err(FillError::Exhausted { .. })
    ));
    assert!(cache.keys().is_empty());
    let mut none = ChunkFiller::new(
        &cache,
        &parents,
        &meta,
        &o.info,
        &[],
        Some(Admit::unbounded(&o.info)),
    );
    assert!(matches!(
        block_on(none.fill(0, 1)),
        Err(FillError::NoSources { .. })
    ));
}

#[test]
fn a_chunk_another_request_is_filling_is_awaited_not_fetched() {
    let o = TestObject::new("film", 3 * 4096);
    let parents = FakeParents::new(&o, &[Parent::Good]);
    let cache = MemoryCache::default();
    let meta = meta_of(&o);
    let sources = parents.sources();
    let key0 = chunk_key(&o.info.item, 1, 0);
    let clock = FakeClock::default();
    // Another request holds the leases of chunks 0 and 1, and stores chunk 0 10 ms later...
    let mut leader = Leases::new(&cache, &clock, &o.info.item, 1);
    assert_eq!(leader.take(0).unwrap(), Taken::Ours);
    assert_eq!(leader.take(1).unwrap(), Taken::Ours);
    let (store, chunk0) = (&cache, o.chunk(0));
    *clock.on_sleep.borrow_mut() = Some(Box::new(move |now| {
        if now == 10 {
            store.set(&key0, chunk0).unwrap();
        }
    }));
    let mut f = ChunkFiller::new(
        &cache,
        &parents,
        &meta,
        &o.info,
        &sources,
        Some(Admit::unbounded(&o.info)),
    )
    .collapsing(&clock);
    assert_eq!(block_on(f.fill(0, 3)).unwrap(), o.chunk(0));
    assert_eq!((parents.request_count(), f.awaited()), (0, 1));
    // ...then dies holding chunk 1: its lease lapses, and this request fills 1 and 2 itself.
    std::mem::forget(leader);
    assert_eq!(block_on(f.fill(1, 3)).unwrap(), o.chunk(1));
    assert!(clock.now_ms() >= LEASE_MS);
    assert_eq!(block_on(f.fill(2, 3)).unwrap(), o.chunk(2));
    assert_eq!(parents.request_count(), 1, "one GET for chunks 1 and 2");
    drop(f);
    assert!(
        cache.keys().iter().all(|k| !k.starts_with("lease/")
            || k == crate::lease::HOLDER_SEQ_KEY
            || k.ends_with("/0")),
        "{:?}",
        cache.keys()
    );
}

#[test]
fn a_chunk_filled_twice_is_counted_once() {
    let o = TestObject::new("film", 4096);
    let parents = FakeParents::new(&o, &[Parent::Good]);
    let cache = MemoryCache::default();
    let meta = meta_of(&o);
    let sources = parents.sources();
    let admit = Admit::unbounded(&o.info);
    for _ in 0..2 {
        let mut f = ChunkFiller::new(
            &cache,
            &parents,
            &meta,
            &o.info,
            &sources,
            Some(admit.clone()),
        );
        block_on(f.fill(0, 1)).unwrap();
    }
    let used = crate::zone::counter(&cache, &crate::zone::used_key(admit.zone)).unwrap();
    assert_eq!(used, o.chunk(0).len() as u64);
}
