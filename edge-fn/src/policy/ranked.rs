//! The engine behind every policy: resident items in the order they would be evicted, budget
//! and pin accounting, optional admission by frequency. A [`Ranking`] says only how an item is
//! ranked (lowest rank is evicted first).

use std::collections::{BTreeMap, BTreeSet};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::{Admission, EvictionPolicy, FrequencySketch, ItemKey, PinError, Rejection};

/// How a policy ranks a resident item; the lowest rank is evicted first, ties by least recent.
pub trait Ranking: std::fmt::Debug + Clone + Serialize + DeserializeOwned {
    /// The rank of an item requested `freq` times (as far as the policy knows), of `bytes`,
    /// last requested at `touched`.
    fn rank(&self, freq: u32, bytes: u64, touched: u64) -> f64;
    /// Called with the rank of each item evicted (not removed): lets aging policies inflate.
    fn evicted(&mut self, _rank: f64) {}
}

/// Least recently used first.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Recency {}

impl Ranking for Recency {
    fn rank(&self, _freq: u32, _bytes: u64, touched: u64) -> f64 {
        touched as f64
    }
}

/// Greedy-dual with frequency and dynamic aging, the miss cost being the item's bytes:
/// rank = L + frequency, where L is the rank of the last evicted item. A title that was popular
/// long ago ages out as L rises past it; byte hit ratio is what it optimises.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct DynamicAging {
    /// L, the inflation clock.
    clock: f64,
}

impl Ranking for DynamicAging {
    fn rank(&self, freq: u32, _bytes: u64, _touched: u64) -> f64 {
        self.clock + f64::from(freq)
    }
    fn evicted(&mut self, rank: f64) {
        self.clock = self.clock.max(rank);
    }
}

/// Classic GDSF (miss cost 1): rank = L + frequency / GiB. Favours small items, which raises the
/// object hit ratio but not the byte hit ratio; kept to be measured against.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SizeAging {
    clock: f64,
}

impl Ranking for SizeAging {
    fn rank(&self, freq: u32, bytes: u64, _touched: u64) -> f64 {
        self.clock + f64::from(freq) * (1u64 << 30) as f64 / bytes.max(1) as f64
    }
    fn evicted(&mut self, rank: f64) {
        self.clock = self.clock.max(rank);
    }
}

/// The patent's LRU.
pub type Lru = Ranked<Recency>;
/// LFU with dynamic aging, ranking by the sketch's recent counts, with admission: the shipped
/// policy.
pub type Lfuda = Ranked<DynamicAging>;

/// How a [`Ranked`] policy remembers frequency and admits items.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// Reject an item requested less (byte-weighted) than the victims it would displace.
    pub admission: bool,
    /// Counters per row of the frequency sketch; 0 for none. With a sketch, an item's frequency
    /// is its recent count in the sketch; without, its count since admission (and admission is
    /// off).
    pub sketch_width: u32,
    /// Requests between two halvings of the sketch, per resident item (at least 16 items are
    /// assumed): the more titles a cache holds, the longer the memory it needs.
    pub sample_per_item: u32,
}

impl Options {
    /// No sketch, no admission (plain LRU, plain LFU-DA).
    pub const PLAIN: Self = Self {
        admission: false,
        sketch_width: 0,
        sample_per_item: 0,
    };
    /// A sketch for a few thousand titles, halving every 100 requests per resident title, with
    /// admission (the period chosen in `policy-sim`, see `docs/benchmarks.md`).
    pub const ADMIT: Self = Self {
        admission: true,
        sketch_width: 1024,
        sample_per_item: 100,
    };
}

/// A policy: resident items ordered by a [`Ranking`]; see [`EvictionPolicy`].
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(try_from = "State<R>", into = "State<R>", bound = "R: Ranking")]
pub struct Ranked<R: Ranking> {
    state: State<R>,
    used: u64,
    pinned: u64,
    /// Unpinned resident items, lowest rank first.
    order: BTreeSet<(Rank, u64, ItemKey)>,
}

/// What is stored; the rest is derived on load.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(bound = "R: Ranking")]
struct State<R> {
    budget: u64,
    /// A counter that orders events with equal ranks.
    seq: u64,
    ranking: R,
    admission: bool,
    sample_per_item: u32,
    sketch: Option<FrequencySketch>,
    items: BTreeMap<ItemKey, Entry>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Entry {
    #[serde(rename = "b")]
    bytes: u64,
    #[serde(rename = "f")]
    freq: u32,
    #[serde(rename = "t")]
    touched: u64,
    #[serde(rename = "r")]
    rank: f64,
    #[serde(rename = "s")]
    seq: u64,
    #[serde(rename = "p", default, skip_serializing_if = "std::ops::Not::not")]
    pinned: bool,
}

/// An `f64` rank with a total order.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Rank(f64);

impl Eq for Rank {}
impl PartialOrd for Rank {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Rank {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0)
    }
}

impl<R: Ranking> TryFrom<State<R>> for Ranked<R> {
    type Error = String;

    fn try_from(state: State<R>) -> Result<Self, String> {
        if let Some(sketch) = &state.sketch {
            sketch.check()?;
        }
        let mut policy = Self {
            state,
            used: 0,
            pinned: 0,
            order: BTreeSet::new(),
        };
        for (key, e) in &policy.state.items {
            policy.used = policy.used.checked_add(e.bytes).ok_or("sizes overflow")?;
            if e.pinned {
                policy.pinned += e.bytes;
            } else {
                policy.order.insert((Rank(e.rank), e.seq, key.clone()));
            }
        }
        Ok(policy)
    }
}

impl<R: Ranking> From<Ranked<R>> for State<R> {
    fn from(policy: Ranked<R>) -> Self {
        policy.state
    }
}

impl Ranked<Recency> {
    /// LRU over `budget` bytes.
    pub fn new(budget: u64) -> Self {
        Self::with(budget, Recency {}, Options::PLAIN)
    }
}

impl Ranked<DynamicAging> {
    /// LFU-DA over `budget` bytes, with the sketch and admission of [`Options::ADMIT`].
    pub fn new(budget: u64) -> Self {
        Self::with(budget, DynamicAging::default(), Options::ADMIT)
    }
}

impl<R: Ranking> Ranked<R> {
    /// A policy over `budget` bytes ranking by `ranking`.
    pub fn with(budget: u64, ranking: R, options: Options) -> Self {
        let sketch = (options.sketch_width > 0)
            .then(|| FrequencySketch::new(options.sketch_width, options.sample_per_item));
        let state = State {
            budget,
            seq: 0,
            ranking,
            admission: options.admission && sketch.is_some(),
            sample_per_item: options.sample_per_item,
            sketch,
            items: BTreeMap::new(),
        };
        Self {
            state,
            used: 0,
            pinned: 0,
            order: BTreeSet::new(),
        }
    }

    /// Changes the budget (a new configuration); call [`EvictionPolicy::victims`] after.
    pub fn set_budget(&mut self, budget: u64) {
        self.state.budget = budget;
    }

    /// Resident items, unpinned ones from the next victim on, then pinned ones.
    pub fn resident(&self) -> Vec<ItemKey> {
        let mut out: Vec<ItemKey> = self.order.iter().map(|(_, _, k)| k.clone()).collect();
        out.extend(
            self.state
                .items
                .iter()
                .filter(|(_, e)| e.pinned)
                .map(|(k, _)| k.clone()),
        );
        out
    }

    fn next_seq(&mut self) -> u64 {
        self.state.seq += 1;
        self.state.seq
    }

    fn estimate(&self, item: &ItemKey) -> u32 {
        self.state
            .sketch
            .as_ref()
            .map_or(1, |s| s.estimate(item).max(1))
    }

    /// Evicts the lowest-ranked unpinned items other than `keep` until `used <= target`.
    fn evict_to(&mut self, target: u64, keep: Option<&ItemKey>) -> Vec<ItemKey> {
        let mut out = Vec::new();
        while self.used > target {
            let Some(victim) = self.order.iter().find(|(_, _, k)| Some(k) != keep).cloned() else {
                break;
            };
            self.order.remove(&victim);
            let (Rank(rank), _, key) = victim;
            if let Some(e) = self.state.items.remove(&key) {
                self.used -= e.bytes;
            }
            self.state.ranking.evicted(rank);
            out.push(key);
        }
        out
    }

    /// Inserts or re-ranks an entry, keeping `order` in step.
    fn place(&mut self, key: ItemKey, mut entry: Entry) {
        entry.seq = self.next_seq();
        entry.rank = self
            .state
            .ranking
            .rank(entry.freq, entry.bytes, entry.touched);
        if !entry.pinned {
            self.order
                .insert((Rank(entry.rank), entry.seq, key.clone()));
        }
        self.state.items.insert(key, entry);
    }

    /// Takes an entry out of `items`, `order` and the accounting.
    fn take(&mut self, key: &ItemKey) -> Option<Entry> {
        let e = self.state.items.remove(key)?;
        if e.pinned {
            self.pinned -= e.bytes;
        } else {
            self.order.remove(&(Rank(e.rank), e.seq, key.clone()));
        }
        self.used -= e.bytes;
        Some(e)
    }

    /// Puts back an entry taken with [`Self::take`], with accounting.
    fn put(&mut self, key: ItemKey, entry: Entry) {
        self.used += entry.bytes;
        if entry.pinned {
            self.pinned += entry.bytes;
        }
        self.place(key, entry);
    }
}

impl<R: Ranking> EvictionPolicy for Ranked<R> {
    fn budget(&self) -> u64 {
        self.state.budget
    }

    fn used(&self) -> u64 {
        self.used
    }

    fn pinned(&self) -> u64 {
        self.pinned
    }

    fn contains(&self, item: &ItemKey) -> bool {
        self.state.items.contains_key(item)
    }

    fn is_pinned(&self, item: &ItemKey) -> bool {
        self.state.items.get(item).is_some_and(|e| e.pinned)
    }

    fn access(&mut self, item: &ItemKey, now: u64) -> bool {
        let period = self
            .state
            .sample_per_item
            .saturating_mul(self.state.items.len().max(16) as u32);
        if let Some(sketch) = &mut self.state.sketch {
            sketch.set_sample(period);
            sketch.increment(item);
        }
        let Some(mut e) = self.take(item) else {
            return false;
        };
        // With a sketch, the recent (halving) count: a title popular last month and quiet
        // since ranks below this week's release. Without one, the count since admission.
        e.freq = match self.state.sketch {
            Some(_) => self.estimate(item),
            None => e.freq.saturating_add(1),
        };
        e.touched = e.touched.max(now);
        self.put(item.clone(), e);
        true
    }

    fn admit(&mut self, item: ItemKey, bytes: u64, now: u64) -> Admission {
        if let Some(mut e) = self.take(&item) {
            // Already resident: a new size (a correction). Others make room; if the item alone
            // is over what the pins leave, the next watermark eviction takes it.
            e.bytes = bytes;
            self.put(item.clone(), e);
            let victims = self.evict_to(self.state.budget, Some(&item));
            return Admission::Admitted { victims };
        }
        // Pins may exceed a budget lowered since they were accepted.
        let room = self.state.budget.saturating_sub(self.pinned);
        if bytes > room {
            return Admission::Rejected(Rejection::TooLarge { bytes, room });
        }
        let need = (self.used + bytes).saturating_sub(self.state.budget);
        let mut freed = 0;
        let mut victims = Vec::new();
        for (_, _, key) in &self.order {
            if freed >= need {
                break;
            }
            freed += self.state.items[key].bytes;
            victims.push(key);
        }
        if self.state.admission && !victims.is_empty() {
            let weight =
                |key: &ItemKey, bytes: u64| u128::from(self.estimate(key)) * u128::from(bytes);
            let candidate = weight(&item, bytes);
            let displaced: u128 = victims
                .iter()
                .map(|k| weight(k, self.state.items[*k].bytes))
                .sum();
            if candidate <= displaced {
                let mib = |w: u128| u64::try_from(w >> 20).unwrap_or(u64::MAX);
                return Admission::Rejected(Rejection::Colder {
                    candidate: mib(candidate),
                    victims: mib(displaced),
                });
            }
        }
        let victims = self.evict_to(self.state.budget - bytes, None);
        let freq = self.estimate(&item);
        let entry = Entry {
            bytes,
            freq,
            touched: now,
            rank: 0.0,
            seq: 0,
            pinned: false,
        };
        self.put(item, entry);
        Admission::Admitted { victims }
    }

    fn remove(&mut self, item: &ItemKey) -> bool {
        self.take(item).is_some()
    }

    fn victims(&mut self, target_bytes: u64) -> Vec<ItemKey> {
        self.evict_to(target_bytes, None)
    }

    fn pin(&mut self, item: ItemKey, bytes: u64, now: u64) -> Result<Vec<ItemKey>, PinError> {
        // Taken out first, so `pinned` no longer counts its old size.
        let current = self.take(&item);
        let would_pin = self.pinned + bytes;
        if would_pin > self.state.budget {
            if let Some(e) = current {
                self.put(item.clone(), e);
            }
            return Err(PinError::OverBudget {
                item,
                bytes,
                would_pin,
                budget: self.state.budget,
            });
        }
        let mut e = current.unwrap_or(Entry {
            bytes,
            freq: self.estimate(&item),
            touched: now,
            rank: 0.0,
            seq: 0,
            pinned: true,
        });
        e.bytes = bytes;
        e.pinned = true;
        self.put(item, e);
        Ok(self.evict_to(self.state.budget, None))
    }

    fn unpin(&mut self, item: &ItemKey) -> bool {
        match self.take(item) {
            Some(mut e) => {
                let was = e.pinned;
                e.pinned = false;
                self.put(item.clone(), e);
                was
            }
            None => false,
        }
    }
}
