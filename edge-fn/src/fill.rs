//! Filling the cache from the parents: an object's meta, then its chunks, each verified before it
//! is stored or handed on.
//!
//! Failover allows for replication lag: an error status, a network error, a short body or bytes
//! that fail verification on one source mean "try the next source", and a source that failed is
//! not tried first again within the same fill. Consecutive missing chunks are fetched with ranged
//! GETs over "runs" and cut into chunks as the bodies arrive. A long run is split into stripes of
//! [`STRIPE_CHUNKS`] fetched by up to [`PARALLEL_GETS`] GETs at once (one connection to S3 gives
//! roughly 100 MB/s; parallel ranged GETs are AWS's advice): the stripe being served is read as
//! it arrives, and while it waits the stripes after it are read too, up to [`AHEAD_CHUNKS`] chunks
//! each in memory. Every chunk is verified when it is served, whichever GET brought it.
//! Store failures are logged and never fail a download: the bytes are verified either way.

use std::collections::VecDeque;

use futures::future::{Either, join_all, select};

use protocol::sealed::HEADER_LEN;
use protocol::{ObjectInfo, Source};

use crate::cache::{Cache, STAT_CORRUPT_CHUNKS, chunk_key, complete_key, meta_key, stat_key};
use crate::lease::{Clock, Leases, POLL_MS, Taken};
use crate::meta::{ObjectMeta, layout_of};
use crate::origin::{ByteStream, FetchError, Origin, fetch_range, read_exact};
use crate::zone::Admit;

/// Nothing could deliver verified bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FillError {
    #[error("object info is inconsistent: {0}")]
    BadInfo(String),
    #[error("no source for {what}")]
    NoSources { what: String },
    #[error("every source failed for {what}: {detail}")]
    Exhausted { what: String, detail: String },
}

/// Reads `key`, logging a store failure and treating it as a miss.
pub fn cache_get<C: Cache>(cache: &C, key: &str) -> Option<Vec<u8>> {
    cache.get(key).unwrap_or_else(|e| {
        crate::log(format_args!("reading {key}: {e}"));
        None
    })
}

/// Writes `key`, logging a store failure.
pub fn cache_set<C: Cache>(cache: &C, key: &str, value: &[u8]) {
    if let Err(e) = cache.set(key, value) {
        crate::log(format_args!("writing {key}: {e}"));
    }
}

/// Meta and whether it came from the cache.
#[derive(Debug)]
pub struct LoadedMeta {
    pub meta: ObjectMeta,
    pub was_cached: bool,
}

/// The verified meta of `info`'s object: from the cache, or fetched from `sources` in order
/// (and stored when `store`).
pub async fn load_meta<C: Cache, O: Origin>(
    cache: &C,
    origin: &O,
    info: &ObjectInfo,
    sources: &[Source],
    store: bool,
) -> Result<LoadedMeta, FillError> {
    let key = meta_key(&info.item, info.version);
    if let Some(stored) = cache_get(cache, &key) {
        match ObjectMeta::decode(&stored, info) {
            Ok(meta) => {
                return Ok(LoadedMeta {
                    meta,
                    was_cached: true,
                });
            }
            Err(e) => crate::log(format_args!("cached {key} refused, refetching: {e}")),
        }
    }
    let layout = layout_of(info).map_err(|e| FillError::BadInfo(e.to_string()))?;
    if sources.is_empty() {
        return Err(FillError::NoSources { what: key });
    }
    let mut failures = Vec::new();
    for source in sources {
        let fetched = async {
            let header = fetch_range(origin, &source.url, 0..HEADER_LEN as u64).await?;
            let trailer = fetch_range(origin, &source.url, layout.trailer_range()).await?;
            ObjectMeta::verify(&header, &trailer, info).map_err(|e| FetchError(e.to_string()))
        };
        match fetched.await {
            Ok(meta) => {
                if store {
                    cache_set(cache, &key, &meta.encode());
                }
                return Ok(LoadedMeta {
                    meta,
                    was_cached: false,
                });
            }
            Err(e) => failures.push(format!("{}: {e}", source.parent)),
        }
    }
    Err(FillError::Exhausted {
        what: key,
        detail: failures.join("; "),
    })
}

/// Reads chunks of one object version back from the cache, each checked against its digest
/// ([`ChunkFiller::cached`]; a writer uses one to send chunks a filler stored ahead).
#[derive(Debug)]
pub struct ReadBack<'a, C> {
    cache: &'a C,
    meta: &'a ObjectMeta,
    info: &'a ObjectInfo,
    store: Option<Admit>,
}

impl<C: Cache> ReadBack<'_, C> {
    /// Chunk `index` from the cache, if present and still the verified bytes.
    ///
    /// Every read is checked against the chunk's digest: bytes that changed at rest (a failing
    /// disk, a bad write, someone's hand) are never served. Such a chunk is dropped and counted
    /// ([`STAT_CORRUPT_CHUNKS`]), and `None` makes the caller refill it from a parent.
    pub fn chunk(&self, index: u64) -> Option<Vec<u8>> {
        let key = chunk_key(&self.info.item, self.info.version, index);
        let chunk = cache_get(self.cache, &key)?;
        if cfg!(feature = "bench-skip-at-rest-check") {
            let want = self.meta.layout().sealed_chunk_range(index);
            return (chunk.len() as u64 == want.end - want.start).then_some(chunk);
        }
        match self.meta.verify_chunk(index, &chunk) {
            Ok(()) => Some(chunk),
            Err(e) => {
                crate::log(format_args!(
                    "cached {key} changed at rest ({e}); dropping it and refilling"
                ));
                match self.cache.delete(&key) {
                    Ok(()) => {
                        if let Some(admit) = &self.store {
                            let want = self.meta.layout().sealed_chunk_range(index);
                            admit.dropped(self.cache, want.end - want.start);
                        }
                    }
                    Err(e) => crate::log(format_args!("deleting {key}: {e}")),
                }
                // The object is no longer whole here: prefill refills a pinned one.
                let complete = complete_key(&self.info.item, self.info.version);
                if let Err(e) = self.cache.delete(&complete) {
                    crate::log(format_args!("deleting {complete}: {e}"));
                }
                if let Err(e) = self.cache.increment(&stat_key(STAT_CORRUPT_CHUNKS), 1) {
                    crate::log(format_args!("counting {STAT_CORRUPT_CHUNKS}: {e}"));
                }
                None
            }
        }
    }
}

/// Most chunks one collapsing fill leases and fetches with one GET: all of them must arrive
/// within a lease's lifetime, or the requests waiting for the last ones take them over.
pub const LEASED_RUN_MAX: u64 = 32;

/// Chunks of one stripe: a run longer than this is fetched by several GETs at once.
pub const STRIPE_CHUNKS: u64 = 8;

/// Most GETs one filler keeps open at once by default: the stripe being served and those after
/// it (Spin variable `fill_parallel_gets`; 1 fetches a run with one GET).
pub const PARALLEL_GETS: usize = 4;

/// Chunks a stripe ahead of the one being served may hold in memory; the rest waits in the
/// connection (flow control), so a filler holds at most `(PARALLEL_GETS - 1) * AHEAD_CHUNKS`
/// chunks beyond the one it serves.
pub const AHEAD_CHUNKS: usize = 2;

/// An open ranged GET over consecutive chunks, positioned at chunk `next`.
struct Run<B> {
    body: B,
    carry: Vec<u8>,
    source: usize,
    next: u64,
    end: u64,
    /// The body ended or failed while read ahead (what is in `carry` is still served; the
    /// failure shows when the stripe is served).
    done: bool,
}

impl<B> Run<B> {
    fn new(body: B, source: usize, next: u64, end: u64) -> Self {
        Self {
            body,
            carry: Vec::new(),
            source,
            next,
            end,
            done: false,
        }
    }
}

/// Hands out verified sealed chunks of one object version: from the cache, or filled from the
/// sources and stored when `store` says where (when this edge may hold the item) and the zone's
/// budget has room; a chunk the budget has no room for is served all the same.
pub struct ChunkFiller<'a, C, O: Origin> {
    cache: &'a C,
    origin: &'a O,
    meta: &'a ObjectMeta,
    info: &'a ObjectInfo,
    sources: &'a [Source],
    store: Option<Admit>,
    /// A chunk was not stored for want of room (logged once per filler).
    full: bool,
    /// Fill leases, when collapsing fills with other requests ([`ChunkFiller::collapsing`]).
    leases: Option<Leases<'a>>,
    /// Chunks another request filled while this one waited.
    awaited: u64,
    preferred: usize,
    run: Option<Run<O::Body>>,
    /// Stripes after `run`, in order, being read ahead.
    ahead: VecDeque<Run<O::Body>>,
    /// Most GETs open at once ([`PARALLEL_GETS`] unless set).
    parallel: usize,
    filled: u64,
}

impl<C, O: Origin> std::fmt::Debug for ChunkFiller<'_, C, O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChunkFiller")
            .field("item", &self.info.item)
            .field("version", &self.info.version)
            .field("filled", &self.filled)
            .finish_non_exhaustive()
    }
}

impl<'a, C: Cache, O: Origin> ChunkFiller<'a, C, O> {
    /// A filler for the object `meta` describes; `info` names item and version.
    pub fn new(
        cache: &'a C,
        origin: &'a O,
        meta: &'a ObjectMeta,
        info: &'a ObjectInfo,
        sources: &'a [Source],
        store: Option<Admit>,
    ) -> Self {
        Self {
            cache,
            origin,
            meta,
            info,
            sources,
            store,
            full: false,
            leases: None,
            awaited: 0,
            preferred: 0,
            run: None,
            ahead: VecDeque::new(),
            parallel: PARALLEL_GETS,
            filled: 0,
        }
    }

    /// Keeps at most `gets` GETs open at once (at least 1: one GET per run, no stripes).
    pub fn parallel(mut self, gets: usize) -> Self {
        self.parallel = gets.max(1);
        self
    }

    /// Collapses fills with other requests ([`crate::lease`]): a missing chunk that another
    /// request is filling is awaited and read from the store, not fetched again. Only when this
    /// filler stores what it fills (others could not see it otherwise).
    pub fn collapsing(mut self, clock: &'a dyn Clock) -> Self {
        if self.store.is_some() {
            let leases = Leases::new(self.cache, clock, &self.info.item, self.info.version);
            self.leases = Some(leases);
        }
        self
    }

    /// How many chunks this filler fetched from sources.
    pub fn filled(&self) -> u64 {
        self.filled
    }

    /// How many chunks this filler awaited from another request's fill.
    pub fn awaited(&self) -> u64 {
        self.awaited
    }

    /// Whether chunk `index` is in the cache.
    pub fn is_cached(&self, index: u64) -> bool {
        let key = chunk_key(&self.info.item, self.info.version, index);
        self.cache.exists(&key).unwrap_or_else(|e| {
            crate::log(format_args!("checking {key}: {e}"));
            false
        })
    }

    /// Chunk `index` from the cache, if present and still the verified bytes
    /// ([`ReadBack::chunk`]: a chunk that changed at rest is dropped, counted and `None`).
    pub fn cached(&self, index: u64) -> Option<Vec<u8>> {
        self.read_back().chunk(index)
    }

    /// What reads this filler's chunks back from the cache, verified, without borrowing it.
    pub fn read_back(&self) -> ReadBack<'a, C> {
        ReadBack {
            cache: self.cache,
            meta: self.meta,
            info: self.info,
            store: self.store.clone(),
        }
    }

    /// Chunk `index` fetched from the sources and verified; the GET may cover the chunks up to
    /// `run_end` (exclusive) so that the following calls continue on the same body.
    pub async fn fill(&mut self, index: u64, run_end: u64) -> Result<Vec<u8>, FillError> {
        let what = format!("chunk {index} of {}/v{}", self.info.item, self.info.version);
        let count = self.sources.len();
        if count == 0 {
            return Err(FillError::NoSources { what });
        }
        let layout = self.meta.layout();
        let mut run_end = run_end.clamp(index + 1, layout.chunk_count());
        self.promote(index);
        if self.run.as_ref().is_none_or(|r| r.next != index) && self.leases.is_some() {
            if let Some(bytes) = self.await_other(index) {
                return Ok(bytes);
            }
            run_end = self.lease_run(index, run_end);
        }
        let want = layout.sealed_chunk_range(index);
        let mut failures = Vec::new();
        for _ in 0..count {
            if self.run.as_ref().is_none_or(|r| r.next != index) {
                self.run = None;
                self.ahead.clear();
                let source = self.preferred;
                let head_end = if self.parallel > 1 && run_end - index > STRIPE_CHUNKS {
                    index + STRIPE_CHUNKS
                } else {
                    run_end
                };
                let range = want.start..layout.sealed_chunk_range(head_end - 1).end;
                match self.origin.get(&self.sources[source].url, range).await {
                    Ok(body) => {
                        self.run = Some(Run::new(body, source, index, head_end));
                        self.open_ahead(source, head_end, run_end).await;
                    }
                    Err(e) => {
                        failures.push(format!("{}: {e}", self.sources[source].parent));
                        self.preferred = (source + 1) % count;
                        continue;
                    }
                }
            }
            let run = self.run.as_mut().expect("opened above");
            let source = run.source;
            let n = (want.end - want.start) as usize;
            let ahead_limit = n * AHEAD_CHUNKS;
            let read = read_reading_ahead(run, &mut self.ahead, n, ahead_limit);
            let checked = match read.await {
                Ok(bytes) => self
                    .meta
                    .verify_chunk(index, &bytes)
                    .map(|()| bytes)
                    .map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            match checked {
                Ok(bytes) => {
                    run.next += 1;
                    if run.next >= run.end {
                        self.run = None;
                    }
                    self.keep(index, &bytes);
                    self.filled += 1;
                    return Ok(bytes);
                }
                Err(e) => {
                    crate::log(format_args!(
                        "{what} from {}: {e}",
                        self.sources[source].parent
                    ));
                    failures.push(format!("{}: {e}", self.sources[source].parent));
                    self.run = None;
                    self.ahead.clear();
                    self.preferred = (source + 1) % count;
                }
            }
        }
        Err(FillError::Exhausted {
            what,
            detail: failures.join("; "),
        })
    }

    /// Makes the stripe read ahead that starts at chunk `index` the one being served, once the
    /// one before it is done. Stripes that do not follow on (the caller moved elsewhere) are
    /// dropped.
    fn promote(&mut self, index: u64) {
        if self.run.as_ref().is_some_and(|r| r.next == index) {
            return;
        }
        match self.ahead.front() {
            Some(next) if next.next == index => self.run = self.ahead.pop_front(),
            Some(_) => self.ahead.clear(),
            None => {}
        }
    }

    /// Opens GETs for the stripes of chunks `from..run_end` after the one being served, from
    /// `source`, up to `self.parallel` in all. A stripe that cannot be opened is left out: it
    /// is fetched when it is reached, as a run of its own.
    async fn open_ahead(&mut self, source: usize, from: u64, run_end: u64) {
        let layout = self.meta.layout();
        let mut start = from;
        while start < run_end && self.ahead.len() + 1 < self.parallel {
            let end = (start + STRIPE_CHUNKS).min(run_end);
            let range =
                layout.sealed_chunk_range(start).start..layout.sealed_chunk_range(end - 1).end;
            match self.origin.get(&self.sources[source].url, range).await {
                Ok(body) => self.ahead.push_back(Run::new(body, source, start, end)),
                Err(e) => {
                    crate::log(format_args!(
                        "opening chunks {start}..{end} of {}/v{} ahead: {e}",
                        self.info.item, self.info.version
                    ));
                    return;
                }
            }
            start = end;
        }
    }

    /// Waits while another request holds the lease of chunk `index`; the chunk once that request
    /// stored it, or `None` when this filler holds the lease and must fetch it (or leases fail).
    fn await_other(&mut self, index: u64) -> Option<Vec<u8>> {
        loop {
            let leases = self.leases.as_mut()?;
            match leases.take(index) {
                Ok(Taken::Ours) => {
                    // The lease may be free because its holder stored the chunk and let go.
                    if self.is_cached(index)
                        && let Some(bytes) = self.cached(index)
                    {
                        if let Some(leases) = self.leases.as_mut() {
                            leases.release(index);
                        }
                        self.awaited += 1;
                        return Some(bytes);
                    }
                    return None;
                }
                Err(e) => {
                    crate::log(format_args!("fill lease of chunk {index}: {e}"));
                    return None;
                }
                Ok(Taken::HeldUntil(_)) => leases.clock().sleep_ms(POLL_MS),
            }
            if self.is_cached(index)
                && let Some(bytes) = self.cached(index)
            {
                self.awaited += 1;
                return Some(bytes);
            }
        }
    }

    /// With the lease of chunk `index` held, takes the leases of the chunks after it up to
    /// `run_end` that nobody else holds; the end of the run to fetch.
    fn lease_run(&mut self, index: u64, run_end: u64) -> u64 {
        let run_end = run_end.min(index + LEASED_RUN_MAX);
        let mut end = index + 1;
        while end < run_end {
            let Some(leases) = self.leases.as_mut() else {
                return run_end;
            };
            if !matches!(leases.take(end), Ok(Taken::Ours)) {
                break;
            }
            // Stored by another request meanwhile: the run stops before it.
            let key = chunk_key(&self.info.item, self.info.version, end);
            if self.cache.exists(&key).unwrap_or(false) {
                leases.release(end);
                break;
            }
            end += 1;
        }
        end
    }

    /// Stores verified chunk `index` if this edge may hold it and its zone has room, then
    /// releases its lease.
    fn keep(&mut self, index: u64, bytes: &[u8]) {
        self.store_chunk(index, bytes);
        if let Some(leases) = self.leases.as_mut() {
            leases.release(index);
        }
    }

    fn store_chunk(&mut self, index: u64, bytes: &[u8]) {
        let Some(admit) = &self.store else { return };
        let key = chunk_key(&self.info.item, self.info.version, index);
        if self.cache.exists(&key).unwrap_or(false) {
            // Another request stored it meanwhile: counting it again would leak budget.
            return;
        }
        let len = bytes.len() as u64;
        if !admit.reserve(self.cache, len) {
            if !self.full {
                self.full = true;
                crate::log(format_args!(
                    "zone {} is at its budget of {} bytes: serving {}/v{} without storing it \
                     until the maintenance call makes room",
                    admit.zone, admit.budget, self.info.item, self.info.version
                ));
            }
            return;
        }
        match self.cache.set(&key, bytes) {
            Ok(()) => admit.stored(self.cache, len),
            Err(e) => {
                crate::log(format_args!("writing {key}: {e}"));
                admit.cancel(self.cache, len);
            }
        }
    }
}

/// Reads the next `n` bytes of `run`; while they are awaited, reads the stripes `ahead` too,
/// each up to `limit` bytes held, so that all GETs transfer at once.
async fn read_reading_ahead<B: ByteStream>(
    run: &mut Run<B>,
    ahead: &mut VecDeque<Run<B>>,
    n: usize,
    limit: usize,
) -> Result<Vec<u8>, FetchError> {
    let head = read_exact(&mut run.body, &mut run.carry, n);
    if ahead.iter().all(|r| r.done || r.carry.len() >= limit) {
        return head.await;
    }
    let pull = read_ahead(ahead, limit);
    futures::pin_mut!(head, pull);
    match select(head, pull).await {
        Either::Left((bytes, _)) => bytes,
        Either::Right(((), head)) => head.await,
    }
}

/// Reads every stripe in `ahead` until it holds `limit` bytes or its body ends or fails.
/// Dropping this future loses nothing: a piece is taken from a body only when it is ready.
async fn read_ahead<B: ByteStream>(ahead: &mut VecDeque<Run<B>>, limit: usize) {
    join_all(ahead.iter_mut().map(|run| async move {
        while !run.done && run.carry.len() < limit {
            match run.body.next().await {
                Some(Ok(piece)) => run.carry.extend_from_slice(&piece),
                // The failure shows again when the stripe is served and fails over then.
                Some(Err(_)) | None => run.done = true,
            }
        }
    }))
    .await;
}

#[cfg(test)]
#[path = "fill_tests.rs"]
mod tests;
