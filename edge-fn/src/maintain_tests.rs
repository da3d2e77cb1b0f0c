use protocol::{ManifestItem, ObjectInfo};

use super::*;
use crate::cache::MemoryCache;
use crate::zone::policy_key;
use crate::zone::{Admit, record_access};

const CHUNK: u32 = 4096;

/// An object of `chunks` chunks.
fn object(name: &str, version: u32, chunks: u64) -> ObjectInfo {
    let plaintext_len = chunks * u64::from(CHUNK);
    ObjectInfo {
        item: ItemId::parse(name).unwrap(),
        version,
        object_len: Layout::new(CHUNK, plaintext_len).object_len(),
        chunk_size: CHUNK,
        plaintext_len,
        root: "00".repeat(32),
    }
}

/// A download of `o` as the request path does it: the access, then every chunk stored within
/// the budget. Returns how many chunks were stored.
fn download(cache: &MemoryCache, budget: u64, o: &ObjectInfo, at: u64) -> u64 {
    record_access(cache, Zone::Licensed, o, at);
    let layout = Layout::new(o.chunk_size, o.plaintext_len);
    let admit = Admit::new(Zone::Licensed, budget, &o.item, o.version);
    let mut stored = 0;
    for i in 0..layout.chunk_count() {
        let key = chunk_key(&o.item, o.version, i);
        if cache.exists(&key).unwrap() {
            continue;
        }
        let r = layout.sealed_chunk_range(i);
        if admit.reserve(cache, r.end - r.start) {
            cache
                .set(&key, &vec![0; (r.end - r.start) as usize])
                .unwrap();
            admit.stored(cache, r.end - r.start);
            stored += 1;
        }
    }
    stored
}

fn chunk_bytes(cache: &MemoryCache) -> u64 {
    cache
        .keys()
        .iter()
        .filter(|k| k.starts_with("chunk/"))
        .map(|k| cache.get(k).unwrap().unwrap().len() as u64)
        .sum()
}

fn cached_chunks(cache: &MemoryCache, o: &ObjectInfo) -> usize {
    let prefix = format!("chunk/{}/v{}/", o.item, o.version);
    cache
        .keys()
        .iter()
        .filter(|k| k.starts_with(&prefix))
        .count()
}

const NEVER: &dyn Fn() -> bool = &|| false;

fn cx(now: u64, budget: u64) -> Context<'static> {
    Context {
        now,
        region: "eu",
        budgets: Budgets {
            licensed: budget,
            other: 1 << 20,
        },
        out_of_time: NEVER,
    }
}

fn licensed(reports: &[ZoneReport]) -> &ZoneReport {
    reports.iter().find(|r| r.zone == "licensed").unwrap()
}

fn listed(o: &ObjectInfo, level: Option<u8>, regions: &[&str]) -> ManifestItem {
    ManifestItem {
        id: o.item.clone(),
        version: o.version,
        object_len: o.object_len,
        root: o.root.clone(),
        level,
        regions: regions.iter().map(|r| r.to_string()).collect(),
    }
}

#[test]
fn filling_three_times_the_budget_never_stores_past_it() {
    let cache = MemoryCache::default();
    let a = object("a", 1, 10);
    let budget = 3 * a.object_len;
    let items: Vec<ObjectInfo> = (0..9).map(|i| object(&format!("t{i}"), 1, 10)).collect();
    for (t, o) in items.iter().enumerate() {
        download(&cache, budget, o, t as u64);
        assert!(chunk_bytes(&cache) <= budget, "after {}", o.item);
        let reports = run(&cache, None, &cx(t as u64, budget), false)
            .unwrap()
            .zones;
        let r = licensed(&reports);
        assert_eq!(r.used, chunk_bytes(&cache), "the counter is the truth");
        assert!(r.used <= budget / 100 * HIGH_WATERMARK_PCT, "{r:?}");
    }
    // Each title was asked for once: the watermark evicts the oldest.
    assert_eq!(cached_chunks(&cache, &items[8]), 10);
    assert_eq!(cached_chunks(&cache, &items[0]), 0);
}

#[test]
fn a_title_asked_for_often_outlives_newer_one_offs() {
    let cache = MemoryCache::default();
    // LFU-DA ages: a title not asked for again loses its place in the end, but not to the
    // first one-offs that come along.
    let items: Vec<ObjectInfo> = (0..4).map(|i| object(&format!("t{i}"), 1, 10)).collect();
    let popular = object("popular", 1, 10);
    let budget = 3 * popular.object_len;
    for t in 0..3 {
        download(&cache, budget, &popular, t);
        run(&cache, None, &cx(t, budget), false).unwrap();
    }
    for (t, o) in items.iter().enumerate() {
        download(&cache, budget, o, 10 + t as u64);
        run(&cache, None, &cx(10 + t as u64, budget), false).unwrap();
        assert!(chunk_bytes(&cache) <= budget);
    }
    assert_eq!(cached_chunks(&cache, &popular), 10);
    assert_eq!(cached_chunks(&cache, &items[0]), 0);
}

#[test]
fn the_request_path_stops_storing_at_the_budget_and_maintenance_makes_room() {
    let cache = MemoryCache::default();
    let o = object("big", 1, 10);
    let budget = o.object_len / 2;
    let stored = download(&cache, budget, &o, 0);
    assert!(stored > 0 && stored < 10);
    assert!(chunk_bytes(&cache) <= budget);
    // The item is bigger than the budget: the policy does not admit it, so it is deleted.
    let reports = run(&cache, None, &cx(1, budget), false).unwrap().zones;
    assert_eq!(licensed(&reports).used, 0);
    assert_eq!(chunk_bytes(&cache), 0);
    assert!(cache.keys().iter().all(|k| !k.starts_with("chunk/")));
}

#[test]
fn pins_are_kept_refused_over_budget_and_purged_when_withdrawn() {
    let cache = MemoryCache::default();
    let hot = object("hot", 1, 10);
    let huge = object("huge", 1, 100);
    let budget = 4 * hot.object_len;
    let mut manifest = Manifest {
        serial: 1,
        items: vec![listed(&hot, Some(1), &[]), listed(&huge, Some(1), &[])],
    };
    let reports = run(&cache, Some(&manifest), &cx(0, budget), false)
        .unwrap()
        .zones;
    let r = licensed(&reports);
    assert_eq!(r.refused_pins, vec!["huge/v1".to_string()]);
    assert_eq!(r.pinned, hot.object_len);
    download(&cache, budget, &hot, 1);

    // Many other downloads later, the pinned item is still there.
    for t in 0..12 {
        download(&cache, budget, &object(&format!("c{t}"), 1, 10), 2 + t);
        run(&cache, Some(&manifest), &cx(2 + t, budget), false).unwrap();
        assert!(chunk_bytes(&cache) <= budget);
    }
    assert_eq!(cached_chunks(&cache, &hot), 10);

    // The region is withdrawn: the item is purged, pinned or not.
    manifest.items[0].regions = vec!["us".into()];
    let reports = run(&cache, Some(&manifest), &cx(100, budget), false)
        .unwrap()
        .zones;
    assert_eq!(licensed(&reports).purged, vec!["hot/v1".to_string()]);
    assert_eq!(cached_chunks(&cache, &hot), 0);
    assert_eq!(
        counter(&cache, &held_key(&hot.item, 1)).unwrap(),
        0,
        "its bytes are given back"
    );
}

#[test]
fn an_old_version_is_purged_when_the_manifest_moves_on() {
    let cache = MemoryCache::default();
    let v1 = object("film", 1, 4);
    let budget = 100 * v1.object_len;
    download(&cache, budget, &v1, 0);
    run(&cache, None, &cx(0, budget), false).unwrap();
    assert_eq!(cached_chunks(&cache, &v1), 4);
    let manifest = Manifest {
        serial: 2,
        items: vec![listed(&object("film", 2, 4), None, &[])],
    };
    let reports = run(&cache, Some(&manifest), &cx(1, budget), false)
        .unwrap()
        .zones;
    assert_eq!(licensed(&reports).purged, vec!["film/v1".to_string()]);
    assert_eq!(cached_chunks(&cache, &v1), 0);
}

#[test]
fn deletion_stops_when_time_is_up_and_continues_next_call() {
    let cache = MemoryCache::default();
    let o = object("long", 1, 50);
    let budget = 100 * o.object_len;
    download(&cache, budget, &o, 0);
    run(&cache, None, &cx(0, budget), false).unwrap();
    let manifest = Manifest {
        serial: 1,
        items: vec![],
    };
    let calls = std::cell::Cell::new(0);
    let stop_after_20 = || {
        calls.set(calls.get() + 1);
        calls.get() > 20
    };
    let mut c = cx(1, budget);
    c.out_of_time = &stop_after_20;
    let r = run(&cache, Some(&manifest), &c, false).unwrap().zones;
    assert_eq!(licensed(&r).deleting, 1);
    assert_eq!(cached_chunks(&cache, &o), 30);
    let r = run(&cache, Some(&manifest), &cx(2, budget), false)
        .unwrap()
        .zones;
    assert_eq!((licensed(&r).deleting, licensed(&r).used), (0, 0));
    assert_eq!(cached_chunks(&cache, &o), 0);
}

#[test]
fn chunks_stored_after_an_eviction_are_deleted_again() {
    let cache = MemoryCache::default();
    let o = object("film", 1, 4);
    let budget = 100 * o.object_len;
    download(&cache, budget, &o, 0);
    run(&cache, None, &cx(0, budget), false).unwrap();
    // Withdrawn, purged — while a download that had its grant keeps storing chunks.
    let empty = Manifest {
        serial: 1,
        items: vec![],
    };
    run(&cache, Some(&empty), &cx(1, budget), false).unwrap();
    let admit = Admit::new(Zone::Licensed, budget, &o.item, 1);
    assert!(admit.reserve(&cache, 10));
    cache.set(&chunk_key(&o.item, 1, 0), &[0; 10]).unwrap();
    admit.stored(&cache, 10);
    let r = run(&cache, Some(&empty), &cx(2, budget), false)
        .unwrap()
        .zones;
    assert_eq!(licensed(&r).used, 0);
    assert_eq!(cached_chunks(&cache, &o), 0);
}

#[test]
fn state_survives_a_round_trip_and_budget_changes_apply() {
    let cache = MemoryCache::default();
    let items: Vec<ObjectInfo> = (0..4).map(|i| object(&format!("t{i}"), 1, 10)).collect();
    let budget = 10 * items[0].object_len;
    for (t, o) in items.iter().enumerate() {
        download(&cache, budget, o, t as u64);
    }
    let r = run(&cache, None, &cx(5, budget), false).unwrap().zones;
    assert_eq!(licensed(&r).resident, 4);
    // The operator halves the budget: the next call evicts down to the low watermark.
    let r = run(&cache, None, &cx(6, budget / 4), false).unwrap().zones;
    let r = licensed(&r);
    assert!(r.used <= budget / 4 / 100 * LOW_WATERMARK_PCT, "{r:?}");
    assert!(!r.evicted.is_empty());
    assert_eq!(r.used, chunk_bytes(&cache));
}

#[test]
fn item_keys_round_trip() {
    let key = item_key(&ItemId::parse("film-1").unwrap(), 12);
    assert_eq!(key.0, "film-1/v12");
    assert_eq!(
        parse_item_key(&key),
        Some((ItemId::parse("film-1").unwrap(), 12))
    );
    assert_eq!(parse_item_key(&ItemKey::new("../x/v1")), None);
    assert_eq!(parse_item_key(&ItemKey::new("film")), None);
}

/// The meta a fill stores first: here only the header matters.
fn store_meta(cache: &MemoryCache, o: &ObjectInfo) {
    let header = protocol::Header {
        item: o.item.clone(),
        key_version: 1,
        chunk_size: o.chunk_size,
        plaintext_len: o.plaintext_len,
        nonce_seed: [0; 32],
        digest_root: [0; 32],
    };
    cache
        .set(&meta_key(&o.item, o.version), &header.encode())
        .unwrap();
}

#[test]
fn a_rebuild_recounts_what_a_crash_left_behind() {
    let cache = MemoryCache::default();
    let kept = object("kept", 1, 6);
    let orphan = object("orphan", 1, 4);
    let budget = 100 * kept.object_len;
    store_meta(&cache, &kept);
    download(&cache, budget, &kept, 0);
    download(&cache, budget, &orphan, 0);
    run(&cache, None, &cx(1, budget), false).unwrap();
    let orphan_bytes = chunk_bytes(&cache) - {
        let l = Layout::new(CHUNK, kept.plaintext_len);
        (0..6)
            .map(|i| l.sealed_chunk_range(i).end - l.sealed_chunk_range(i).start)
            .sum::<u64>()
    };
    // A crash: a reservation whose chunk was never written, a lease nobody will release, and
    // the zone's state lost.
    cache.increment(&used_key(Zone::Licensed), 5000).unwrap();
    cache.set("lease/kept/v1/3", b"someone 1").unwrap();
    cache.delete(&policy_key(Zone::Licensed)).unwrap();
    let before = counter(&cache, &used_key(Zone::Licensed)).unwrap();

    let out = run(&cache, None, &cx(10, budget), true).unwrap();
    let rebuild = out.rebuild.unwrap();
    assert_eq!(rebuild.chunks, 6);
    assert_eq!(rebuild.orphan_chunks, 4, "chunks without meta are deleted");
    assert_eq!(rebuild.stale_leases, 1);
    assert_eq!(rebuild.counted_before, before);
    assert_eq!(rebuild.bytes, chunk_bytes(&cache));
    assert!(orphan_bytes > 0 && cached_chunks(&cache, &orphan) == 0);
    let r = licensed(&out.zones);
    assert_eq!((r.used, r.resident), (chunk_bytes(&cache), 1), "{r:?}");
    assert_eq!(
        counter(&cache, &held_key(&kept.item, 1)).unwrap(),
        chunk_bytes(&cache)
    );
    // Not again until asked or a day has passed.
    assert!(
        run(&cache, None, &cx(11, budget), false)
            .unwrap()
            .rebuild
            .is_none()
    );
}
