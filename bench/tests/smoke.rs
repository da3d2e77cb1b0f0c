//! The simulator on a tiny trace, fast enough for every test run: the shipped policy is at least
//! as good as LRU and no better than the offline references.

use bench::{Contender, Trace, TraceConfig};

#[test]
fn shipped_policy_sits_between_lru_and_the_offline_references() {
    let trace = Trace::generate(&TraceConfig::tiny(7));
    let catalog = trace.catalog_bytes();
    for fraction in [0.05, 0.10, 0.20] {
        let capacity = (catalog as f64 * fraction) as u64;
        let ratio = |c: Contender| c.run(&trace, capacity).byte_hit_ratio();
        let (lru, shipped) = (ratio(Contender::Lru), ratio(Contender::Shipped));
        let (belady, bound) = (ratio(Contender::Belady), ratio(Contender::Bound));
        let seen = format!(
            "cache {fraction}: LRU {lru}, shipped {shipped}, Belady {belady}, bound {bound}"
        );
        assert!(lru > 0.0, "{seen}");
        assert!(shipped >= lru, "{seen}");
        assert!(shipped <= belady, "{seen}");
        // A theorem, not a measurement: no policy beats the relaxation.
        assert!(belady <= bound && shipped <= bound, "{seen}");
    }
}

#[test]
fn traces_are_deterministic() {
    let a = Trace::generate(&TraceConfig::tiny(3));
    let b = Trace::generate(&TraceConfig::tiny(3));
    assert_eq!(a.requests, b.requests);
    assert_eq!(a.catalog_bytes(), b.catalog_bytes());
    assert_ne!(Trace::generate(&TraceConfig::tiny(4)).requests, a.requests);
}

#[test]
fn partial_downloads_keep_the_order_and_the_bound() {
    let config = TraceConfig {
        partial_share: 0.3,
        ..TraceConfig::tiny(7)
    };
    let trace = Trace::generate(&config);
    assert!(
        trace
            .requests
            .iter()
            .any(|r| r.bytes < trace.titles[r.title as usize].bytes)
    );
    let capacity = trace.catalog_bytes() / 10;
    let ratio = |c: Contender| c.run(&trace, capacity).byte_hit_ratio();
    let [lru, shipped, belady, bound] = [
        Contender::Lru,
        Contender::Shipped,
        Contender::Belady,
        Contender::Bound,
    ]
    .map(ratio);
    let seen = format!("LRU {lru}, shipped {shipped}, Belady {belady}, bound {bound}");
    assert!(
        lru <= shipped && shipped <= bound && belady <= bound,
        "{seen}"
    );
}
