use futures::executor::block_on;
use protocol::{Signer, Source};

use super::*;
use crate::cache::MemoryCache;
use crate::lease::{Clock, SystemClock};
use crate::testing::{FakeParents, Parent, TestObject};

struct FakeMain<'a> {
    objects: Vec<(&'a TestObject, Vec<Source>)>,
}

impl FillSourceProvider for FakeMain<'_> {
    async fn fill_sources(&self, item: &ItemId) -> Result<FillSources, EdgeError> {
        let (o, sources) = self
            .objects
            .iter()
            .find(|(o, _)| o.info.item == *item)
            .ok_or(EdgeError::NotFound)?;
        Ok(FillSources {
            object: o.info.clone(),
            sources: sources.clone(),
            expires_at: 0,
        })
    }
}

fn listed(o: &TestObject, level: Option<u8>, regions: &[&str]) -> ManifestItem {
    ManifestItem {
        id: o.info.item.clone(),
        version: o.info.version,
        object_len: o.info.object_len,
        root: o.info.root.clone(),
        level,
        regions: regions.iter().map(|r| r.to_string()).collect(),
    }
}

const ALWAYS: &dyn Fn() -> bool = &|| false;
const ACCEPT_ALL: &dyn Fn(&ManifestItem) -> bool = &|_| true;

#[test]
fn fills_hot_items_of_this_region_only_and_marks_them_complete() {
    let hot = TestObject::new("hot", 3 * 4096);
    let elsewhere = TestObject::new("us-only", 4096);
    let cold = TestObject::new("cold", 4096);
    let parents = FakeParents::new(&hot, &[Parent::Good]);
    let main = FakeMain {
        objects: vec![
            (&hot, parents.sources()),
            (&elsewhere, parents.sources()),
            (&cold, parents.sources()),
        ],
    };
    let manifest = Manifest {
        serial: 1,
        items: vec![
            listed(&hot, Some(1), &["eu", "us"]),
            listed(&elsewhere, Some(1), &["us"]),
            listed(&cold, None, &[]),
        ],
    };
    let cache = MemoryCache::default();
    let budget = Budget {
        out_of_time: ALWAYS,
        max_chunks: 100,
        zone_bytes: 1 << 40,
        accepted: ACCEPT_ALL,
        rate: None,
        clock: &SystemClock,
        started_ms: 0,
    };
    let report = block_on(run(&cache, &parents, &main, &manifest, "eu", &budget));
    assert_eq!(report.filled_chunks, 3);
    assert_eq!(report.complete_items, vec!["hot/v1"]);
    assert!(report.pending_items.is_empty());
    let keys = cache.keys();
    assert!(
        keys.iter()
            .all(|k| !k.contains("us-only") && !k.contains("cold")),
        "{keys:?}"
    );
    assert!(keys.contains(&"complete/hot/v1".to_owned()));
    assert!(keys.contains(&"manifest".to_owned()));
    let requests = parents.request_count();
    let again = block_on(run(&cache, &parents, &main, &manifest, "eu", &budget));
    assert_eq!(
        (again.filled_chunks, parents.request_count()),
        (0, requests)
    );
}

#[test]
fn work_is_bounded_and_resumes() {
    let o = TestObject::new("film", 5 * 4096);
    let parents = FakeParents::new(&o, &[Parent::Good]);
    let main = FakeMain {
        objects: vec![(&o, parents.sources())],
    };
    let manifest = Manifest {
        serial: 1,
        items: vec![listed(&o, Some(1), &[])],
    };
    let cache = MemoryCache::default();
    let budget = Budget {
        out_of_time: ALWAYS,
        max_chunks: 2,
        zone_bytes: 1 << 40,
        accepted: ACCEPT_ALL,
        rate: None,
        clock: &SystemClock,
        started_ms: 0,
    };
    let first = block_on(run(&cache, &parents, &main, &manifest, "eu", &budget));
    assert_eq!((first.filled_chunks, first.pending_items.len()), (2, 1));
    let out: &dyn Fn() -> bool = &|| true;
    let stopped = block_on(run(
        &cache,
        &parents,
        &main,
        &manifest,
        "eu",
        &Budget {
            out_of_time: out,
            max_chunks: 9,
            zone_bytes: 1 << 40,
            accepted: ACCEPT_ALL,
            rate: None,
            clock: &SystemClock,
            started_ms: 0,
        },
    ));
    assert_eq!((stopped.filled_chunks, stopped.pending_items.len()), (0, 1));
    let budget = Budget {
        out_of_time: ALWAYS,
        max_chunks: 100,
        zone_bytes: 1 << 40,
        accepted: ACCEPT_ALL,
        rate: None,
        clock: &SystemClock,
        started_ms: 0,
    };
    let rest = block_on(run(&cache, &parents, &main, &manifest, "eu", &budget));
    assert_eq!(rest.filled_chunks, 3);
    assert_eq!(rest.complete_items, vec!["film/v1"]);
}

#[test]
fn fill_sources_that_disagree_with_the_manifest_are_refused() {
    let o = TestObject::new("film", 4096);
    let impostor = TestObject::new("film", 4096);
    let parents = FakeParents::new(&impostor, &[Parent::Good]);
    let main = FakeMain {
        objects: vec![(&impostor, parents.sources())],
    };
    let manifest = Manifest {
        serial: 1,
        items: vec![listed(&o, Some(1), &[])],
    };
    let cache = MemoryCache::default();
    let budget = Budget {
        out_of_time: ALWAYS,
        max_chunks: 100,
        zone_bytes: 1 << 40,
        accepted: ACCEPT_ALL,
        rate: None,
        clock: &SystemClock,
        started_ms: 0,
    };
    let report = block_on(run(&cache, &parents, &main, &manifest, "eu", &budget));
    assert_eq!(report.pending_items, vec!["film/v1"]);
    assert_eq!(parents.request_count(), 0);
    assert_eq!(cache.keys(), vec!["manifest".to_owned()]);
}

#[test]
fn forged_manifests_are_refused() {
    let main_key = Signer::generate("k1");
    let m = Manifest {
        serial: 7,
        items: vec![],
    };
    let now = 1_800_000_000;
    let body = |s: &Signer| {
        let answer = serde_json::json!({"manifest": m.sign(s, now, 600).unwrap()});
        signed_manifest(&serde_json::to_vec(&answer).unwrap()).unwrap()
    };
    assert_eq!(
        verify_manifest(&body(&main_key), &main_key.jwks(), now).unwrap(),
        m
    );
    assert!(verify_manifest(&body(&Signer::generate("k1")), &main_key.jwks(), now).is_err());
    assert!(signed_manifest(b"{}").is_err());
    assert!(verify_manifest(&body(&main_key), &main_key.jwks(), now + 3600).is_err());
}

#[test]
fn a_rate_cap_paces_prefill() {
    let hot = TestObject::new("hot", 3 * 4096);
    let parents = FakeParents::new(&hot, &[Parent::Good]);
    let main = FakeMain {
        objects: vec![(&hot, parents.sources())],
    };
    let manifest = Manifest {
        serial: 1,
        items: vec![listed(&hot, Some(1), &[])],
    };
    let cache = MemoryCache::default();
    let clock = crate::testing::FakeClock::default();
    let chunk = hot.layout.sealed_chunk_range(0);
    let budget = Budget {
        out_of_time: ALWAYS,
        max_chunks: 100,
        zone_bytes: 1 << 40,
        accepted: ACCEPT_ALL,
        rate: Some(chunk.end - chunk.start),
        clock: &clock,
        started_ms: 0,
    };
    let report = block_on(run(&cache, &parents, &main, &manifest, "eu", &budget));
    assert_eq!(report.filled_chunks, 3);
    assert_eq!(report.filled_bytes, 3 * (chunk.end - chunk.start));
    // One chunk's worth per second: the third chunk is due after 3 s.
    assert_eq!(clock.now_ms(), 3000);
}
