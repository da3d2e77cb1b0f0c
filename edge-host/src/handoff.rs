//! The cached-body handoff, host side ([`protocol::edge_cache`] has the protocol): edge-host
//! offers on every request, the component authorizes and answers a fully cached range with a
//! plan, and edge-host sends the planned bytes from the store itself — natively, without the
//! copies into and out of the sandbox, each chunk verified against the object's digest list
//! before any of its bytes leave.
//!
//! **What is verified when.** The object's meta (header and digest list) is checked against the
//! plan's root on every response. A chunk is hashed in full the first time this process sends it
//! and then remembered with its file's [`Stamp`]; a later send of the same, unchanged file skips
//! the hash. A value replaced or changed in place has a new stamp and is hashed again; a new
//! process — after a clean stop or a `kill -9` — remembers nothing and hashes again. What a stamp
//! cannot see, bytes decaying under an unchanged file, the background [`scrub`] looks for at a
//! paced rate over every remembered chunk. On Spin there is no handoff: the component checks
//! every chunk on every read.
//!
//! **What it cannot send verified** — meta or a chunk missing, changed or unreadable — it asks
//! the component for again, from the first byte not yet sent and without the offer: the
//! component reads through its own per-read check, drops and counts what changed, refills it from
//! a parent and streams the rest. The client sees one response with the right bytes.
//!
//! **Sessions already granted** ([`crate::session`]): a plan may carry a session pass, which this
//! module keeps; the session's later GETs are then planned by the host itself and sent the same
//! way, without an instance.
//!
//! The object's meta is remembered with the root it was checked against, so that a small range
//! of a large object does not re-read and re-hash its whole digest list on every request: its
//! verified bytes stay in memory, and a plan with the same root uses them without a look at the
//! file.
//!
//! A response holds at most two pieces of `piece_bytes` in its channel (plus the one hyper is
//! writing), as the component's own responses do, so a client that reads nothing costs little.

use std::collections::HashMap;
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode, Uri};
use http_body_util::{BodyExt, Empty, Full, Limited};
use hyper::body::{Body, Frame, SizeHint};
use protocol::edge_cache::{
    CheckedMeta, HANDOFF_HEADER, HandoffPlan, MAX_PLAN_BYTES, OFFER_HEADER, chunk_key, meta_key,
    offer_token,
};
use protocol::plan::{Piece, pieces};
use protocol::sealed::{Digest, HEADER_LEN, chunk_digest};
use tokio::sync::mpsc;
use wasmtime_wasi_http::p2::bindings::http::types::ErrorCode;

type BodyError = wasmtime_wasi_http::Error;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

use crate::kv::{KvBackend, Stamp};
use crate::metrics::Metrics;
use crate::runtime::EdgeRuntime;
use crate::session::{Answer, Passes};

/// The most chunks remembered as verified (about 150 bytes each); past it the memory is
/// cleared and chunks are hashed again as they are sent.
const MAX_REMEMBERED: usize = 1 << 20;
/// The most object metas remembered as verified (each up to 32 bytes per chunk of its object).
const MAX_METAS: usize = 1024;

/// A chunk as last verified: its file's stamp and the digest it matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Remembered {
    stamp: Stamp,
    digest: Digest,
}

/// An object's meta as last verified: the root it matched, and its contents.
#[derive(Debug)]
struct KnownMeta {
    root: String,
    meta: CheckedMeta,
    stored: Bytes,
}

/// Where one piece of a plan's bytes comes from.
enum Source {
    /// Header or trailer bytes, from the meta.
    Meta(Bytes),
    /// Bytes `within` of the chunk at `key`, `len` bytes sealed, whose digest is `digest`.
    Chunk {
        key: String,
        digest: Digest,
        len: u64,
        within: Range<usize>,
    },
}

impl KnownMeta {
    /// Where each piece of `plan`'s bytes comes from, once the plan is known to end within the
    /// object.
    fn sources(&self, plan: &HandoffPlan) -> Result<Vec<Source>, Miss> {
        let layout = self.meta.header.layout();
        if plan.end > layout.object_len() {
            return Err(Miss::Store(format!(
                "plan ends at {} past the object's {} bytes",
                plan.end,
                layout.object_len()
            )));
        }
        let sources = pieces(&layout, plan.start..plan.end)
            .into_iter()
            .map(|piece| match piece {
                Piece::Header(r) => Source::Meta(self.stored.slice(r)),
                Piece::Trailer(r) => {
                    Source::Meta(self.stored.slice(HEADER_LEN + r.start..HEADER_LEN + r.end))
                }
                Piece::Chunk { index, within } => {
                    let sealed = layout.sealed_chunk_range(index);
                    Source::Chunk {
                        key: chunk_key(&plan.item, plan.version, index),
                        digest: self.meta.digests[index as usize],
                        len: sealed.end - sealed.start,
                        within,
                    }
                }
            })
            .collect();
        Ok(sources)
    }
}

/// The host side of the handoff: the offer, the memory of verified chunks and metas, and the
/// session passes.
#[derive(Debug)]
pub struct Handoff {
    offer: HeaderValue,
    remembered: Mutex<HashMap<String, Remembered>>,
    metas: Mutex<HashMap<String, Arc<KnownMeta>>>,
    passes: Passes,
    piece_bytes: usize,
    every_read: bool,
}

/// What a handed-over response needs to ask the component again: the request as it reached
/// the component.
#[derive(Debug, Clone)]
pub struct Replay {
    pub uri: Uri,
    pub headers: HeaderMap,
}

/// One part of a plan's bytes for [`crate::direct`]: header or trailer bytes, or a range of a
/// verified chunk file.
#[derive(Debug)]
pub(crate) enum Part {
    Bytes(Bytes),
    File {
        file: Arc<std::fs::File>,
        within: Range<u64>,
    },
}

/// Why the host could not send the rest of a plan itself.
#[derive(Debug)]
pub(crate) enum Miss {
    /// The meta or a chunk is not in the store (evicted since the component looked).
    Missing(String),
    /// Stored bytes do not match the digests.
    Changed { key: String, detail: &'static str },
    /// The store failed.
    Store(String),
    /// Answering would read the disk or hash (asked of an inline read only).
    WouldBlock,
}

impl Miss {
    fn reason(&self) -> &'static str {
        match self {
            Miss::Missing(_) => "missing",
            Miss::Changed { .. } => "changed",
            Miss::Store(_) => "store_error",
            Miss::WouldBlock => "would_block",
        }
    }
}

impl std::fmt::Display for Miss {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Miss::Missing(what) => write!(f, "{what} is not cached"),
            Miss::Changed { key, detail } => write!(f, "{key} changed at rest ({detail})"),
            Miss::Store(e) => write!(f, "{e}"),
            Miss::WouldBlock => write!(f, "the bytes are not in memory"),
        }
    }
}

type Sender = mpsc::Sender<Result<Frame<Bytes>, BodyError>>;

impl Handoff {
    /// The handoff of an edge whose secret is `edge_secret`, sending pieces of at most
    /// `piece_bytes`.
    pub fn new(edge_secret: &str, piece_bytes: usize) -> Self {
        Self {
            offer: HeaderValue::try_from(offer_token(edge_secret)).expect("hex is a header value"),
            remembered: Mutex::new(HashMap::new()),
            metas: Mutex::new(HashMap::new()),
            passes: Passes::default(),
            piece_bytes: piece_bytes.max(4096),
            every_read: false,
        }
    }

    /// Hash every chunk on every send instead of once per file (`verify_cached_chunks =
    /// "every_read"`).
    pub fn every_read(mut self, every_read: bool) -> Self {
        self.every_read = every_read;
        self
    }

    /// Whether every chunk is hashed on every send (then [`crate::direct`] sends nothing).
    pub fn hashes_every_read(&self) -> bool {
        self.every_read
    }

    /// Removes any offer a client sent and adds this host's.
    pub fn offer_on(&self, headers: &mut HeaderMap) {
        headers.remove(OFFER_HEADER);
        headers.insert(OFFER_HEADER, self.offer.clone());
    }

    /// How many chunks are remembered as verified.
    pub fn remembered(&self) -> usize {
        self.lock().len()
    }

    /// The session passes held.
    pub fn passes(&self) -> &Passes {
        &self.passes
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Remembered>> {
        self.remembered
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn remember(&self, key: &str, entry: Remembered) {
        let mut map = self.lock();
        if map.len() >= MAX_REMEMBERED && !map.contains_key(key) {
            map.clear();
        }
        map.insert(key.to_owned(), entry);
    }

    fn forget(&self, key: &str) {
        self.lock().remove(key);
    }

    /// Forgets `key` if it is still remembered as `entry`.
    fn forget_if(&self, key: &str, entry: Remembered) {
        let mut map = self.lock();
        if map.get(key) == Some(&entry) {
            map.remove(key);
        }
    }

    /// Turns the component's handoff `response` into the content response: reads its plan and
    /// streams the planned bytes. A plan that cannot be read is the component's bug: 500.
    pub async fn take_over(
        self: &Arc<Self>,
        response: Response<HyperOutgoingBody>,
        replay: Replay,
        runtime: EdgeRuntime,
    ) -> Response<HyperOutgoingBody> {
        let (mut parts, body) = response.into_parts();
        let plan = match Limited::new(body, MAX_PLAN_BYTES).collect().await {
            Ok(collected) => serde_json::from_slice::<HandoffPlan>(&collected.to_bytes())
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        // An empty range never reaches the handoff: the component answers it itself.
        let plan = plan.and_then(|plan| {
            if plan.is_empty() {
                Err(format!("empty range {}..{}", plan.start, plan.end))
            } else {
                Ok(plan)
            }
        });
        let mut plan = match plan {
            Ok(plan) => plan,
            Err(e) => {
                tracing::error!(error = %e, "the component handed over an unreadable plan");
                return crate::server::text_response(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal error in the edge; try again later\n",
                );
            }
        };
        if let Some(pass) = plan.pass.take() {
            self.passes.keep(pass, protocol::unix_now());
        }
        parts.headers.remove(HANDOFF_HEADER);
        runtime.metrics().handoff();
        self.stream(parts, plan, replay, runtime)
    }

    /// Answers a request of a session this host holds a pass for ([`crate::session`]) without
    /// the component: `None` when the component must answer it (no pass, or bytes not cached).
    pub async fn answer_alone(
        self: &Arc<Self>,
        method: &http::Method,
        replay: &Replay,
        runtime: &EdgeRuntime,
    ) -> Option<Response<HyperOutgoingBody>> {
        let path_and_query = replay.uri.path_and_query()?.as_str();
        let answer = self.passes.answer(
            method,
            path_and_query,
            &replay.headers,
            protocol::unix_now(),
        )?;
        let (head, plan) = match answer {
            Answer::NotModified(head) => (head, None),
            Answer::Send { head, plan } => (head, Some(plan)),
        };
        let (parts, ()) = head_parts(&head)?.into_parts();
        let Some(plan) = plan else {
            runtime.metrics().session_answer();
            let body = Empty::new().map_err(|never| match never {}).boxed_unsync();
            return Some(Response::from_parts(parts, body));
        };
        if plan.len() <= self.piece_bytes as u64 {
            // One piece: read and verified in one go and answered whole — no task, no channel;
            // right here when every byte is in memory and verified before (a session's small
            // ranges), else on a blocking thread.
            let kv = runtime.kv();
            let read = match self.read_small(&*kv, &plan, true) {
                Err(Miss::WouldBlock) => {
                    let (this, small) = (self.clone(), plan.clone());
                    tokio::task::spawn_blocking(move || this.read_small(&*kv, &small, false))
                        .await
                        .unwrap_or_else(|join| Err(Miss::Store(join.to_string())))
                }
                read => read,
            };
            let bytes = match read {
                Ok(bytes) => bytes,
                Err(miss) => {
                    runtime.metrics().handoff_fallback(miss.reason());
                    tracing::debug!(item = %plan.item, reason = %miss, "a session's range goes to the component");
                    return None;
                }
            };
            runtime.metrics().session_answer();
            let body = Full::new(bytes)
                .map_err(|never| match never {})
                .boxed_unsync();
            return Some(Response::from_parts(parts, body));
        }
        if !self.all_cached(runtime, &plan).await {
            return None;
        }
        runtime.metrics().session_answer();
        Some(self.stream(parts, plan, replay.clone(), runtime.clone()))
    }

    /// The parts of `plan` for [`crate::direct`] to send with `sendfile`, only when the meta and
    /// every chunk were verified before by this process and are unchanged since (a `stat` each,
    /// no reads, no hashing); else the [`Miss`] that sends the request the long way.
    pub(crate) fn verified_parts(
        &self,
        kv: &dyn KvBackend,
        plan: &HandoffPlan,
    ) -> Result<Vec<Part>, Miss> {
        self.parts(kv, plan, true)
    }

    /// The parts of `plan`, meta and chunks verified (`inline`: only if verified before, else
    /// [`Miss::WouldBlock`]; otherwise read and hashed now if need be).
    fn parts(
        &self,
        kv: &dyn KvBackend,
        plan: &HandoffPlan,
        inline: bool,
    ) -> Result<Vec<Part>, Miss> {
        let known = self.meta_sync(kv, &plan.item, plan.version, &plan.root, inline)?;
        known
            .sources(plan)?
            .into_iter()
            .map(|source| match source {
                Source::Meta(bytes) => Ok(Part::Bytes(bytes)),
                Source::Chunk {
                    key,
                    digest,
                    len,
                    within,
                } => Ok(Part::File {
                    file: self.chunk_sync(kv, key, digest, len, inline)?,
                    within: within.start as u64..within.end as u64,
                }),
            })
            .collect()
    }

    /// The bytes of a small `plan`, verified, read on the calling thread. `inline`: only if
    /// that cannot block — meta and chunks verified before and their bytes in the page cache —
    /// else [`Miss::WouldBlock`].
    fn read_small(
        &self,
        kv: &dyn KvBackend,
        plan: &HandoffPlan,
        inline: bool,
    ) -> Result<Bytes, Miss> {
        if inline && self.every_read {
            return Err(Miss::WouldBlock);
        }
        let mut out = Vec::with_capacity(plan.len() as usize);
        for part in self.parts(kv, plan, inline)? {
            match part {
                Part::Bytes(bytes) => out.extend_from_slice(&bytes),
                Part::File { file, within } => {
                    let at = out.len();
                    out.resize(at + (within.end - within.start) as usize, 0);
                    read_at(&file, &mut out[at..], within.start, inline)?;
                }
            }
        }
        Ok(Bytes::from(out))
    }

    /// Whether the meta and every chunk `plan` touches are in the store now.
    async fn all_cached(self: &Arc<Self>, runtime: &EdgeRuntime, plan: &HandoffPlan) -> bool {
        let kv = runtime.kv();
        let sources = match self
            .checked_meta(kv.clone(), &plan.item, plan.version, &plan.root)
            .await
        {
            Ok(known) => known.sources(plan),
            Err(miss) => Err(miss),
        };
        let Ok(sources) = sources else {
            return false;
        };
        let keys: Vec<String> = sources
            .into_iter()
            .filter_map(|source| match source {
                Source::Chunk { key, .. } => Some(key),
                Source::Meta(_) => None,
            })
            .collect();
        blocking(move || {
            keys.iter()
                .try_fold(true, |all, key| Ok(all && kv.exists(key)?))
                .map_err(|e: crate::kv::KvError| e)
        })
        .await
        .unwrap_or(false)
    }

    /// The response for `parts` whose body is `plan`'s bytes, sent by a task.
    fn stream(
        self: &Arc<Self>,
        mut parts: http::response::Parts,
        plan: HandoffPlan,
        replay: Replay,
        runtime: EdgeRuntime,
    ) -> Response<HyperOutgoingBody> {
        parts
            .headers
            .insert(http::header::CONTENT_LENGTH, HeaderValue::from(plan.len()));
        let (tx, rx) = mpsc::channel(2);
        let len = plan.len();
        tokio::spawn(self.clone().send(plan, replay, runtime, tx));
        Response::from_parts(parts, ChannelBody { rx, left: len }.boxed_unsync())
    }

    /// Sends the plan's bytes into `tx`, verified; the rest through the component if a piece
    /// cannot be.
    async fn send(
        self: Arc<Self>,
        plan: HandoffPlan,
        replay: Replay,
        runtime: EdgeRuntime,
        tx: Sender,
    ) {
        let mut at = plan.start;
        let miss = match self.send_cached(&plan, &runtime, &tx, &mut at).await {
            Ok(()) => return,
            Err(None) => return, // the client went away
            Err(Some(miss)) => miss,
        };
        runtime.metrics().handoff_fallback(miss.reason());
        tracing::warn!(
            item = %plan.item,
            version = plan.version,
            from = at,
            reason = %miss,
            "handing the rest of a cached response back to the component"
        );
        if let Err(e) = resend(&replay, &runtime, at..plan.end, &tx).await {
            tracing::error!(item = %plan.item, from = at, error = %e, "aborting a response");
            let _ = tx
                .send(Err(ErrorCode::InternalError(Some(e.to_string())).into()))
                .await;
        }
    }

    /// Sends what it can; `Err(None)` when the client is gone, `Err(Some(miss))` when the rest
    /// from `*at` must come from the component.
    async fn send_cached(
        self: &Arc<Self>,
        plan: &HandoffPlan,
        runtime: &EdgeRuntime,
        tx: &Sender,
        at: &mut u64,
    ) -> Result<(), Option<Miss>> {
        let kv = runtime.kv();
        let known = self
            .checked_meta(kv.clone(), &plan.item, plan.version, &plan.root)
            .await?;
        for source in known.sources(plan)? {
            match source {
                Source::Meta(bytes) => self.frame(tx, at, bytes).await?,
                Source::Chunk {
                    key,
                    digest,
                    len,
                    within,
                } => {
                    let file = self.verified(kv.clone(), key, digest, len).await?;
                    self.send_range(tx, at, file, within).await?;
                }
            }
        }
        Ok(())
    }

    /// The meta of `item` version `version`, checked against `root` ([`Self::meta_sync`], on a
    /// blocking thread).
    async fn checked_meta(
        self: &Arc<Self>,
        kv: Arc<dyn KvBackend>,
        item: &protocol::ItemId,
        version: u32,
        root: &str,
    ) -> Result<Arc<KnownMeta>, Miss> {
        let (this, item, root) = (self.clone(), item.clone(), root.to_owned());
        tokio::task::spawn_blocking(move || this.meta_sync(&*kv, &item, version, &root, false))
            .await
            .unwrap_or_else(|join| Err(Miss::Store(join.to_string())))
    }

    /// The meta of `item` version `version`, checked against `root`: read and checked now
    /// unless this process checked this very file against this root before (`inline`: then
    /// [`Miss::WouldBlock`] instead of reading).
    fn meta_sync(
        &self,
        kv: &dyn KvBackend,
        item: &protocol::ItemId,
        version: u32,
        root: &str,
        inline: bool,
    ) -> Result<Arc<KnownMeta>, Miss> {
        let key = meta_key(item, version);
        let known = if self.every_read {
            None
        } else {
            self.metas_lock().get(&key).cloned()
        };
        if inline && known.is_none() {
            return Err(Miss::WouldBlock);
        }
        match check_meta(kv, key.clone(), root.to_owned(), known, !inline) {
            Ok((known, fresh)) => {
                if fresh && !self.every_read {
                    let mut metas = self.metas_lock();
                    if metas.len() >= MAX_METAS && !metas.contains_key(&key) {
                        metas.clear();
                    }
                    metas.insert(key, known.clone());
                }
                Ok(known)
            }
            Err(Miss::WouldBlock) => Err(Miss::WouldBlock),
            Err(miss) => {
                self.metas_lock().remove(&key);
                Err(miss)
            }
        }
    }

    fn metas_lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<KnownMeta>>> {
        self.metas
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    async fn frame(&self, tx: &Sender, at: &mut u64, bytes: Bytes) -> Result<(), Option<Miss>> {
        let len = bytes.len() as u64;
        tx.send(Ok(Frame::data(bytes))).await.map_err(|_| None)?;
        *at += len;
        Ok(())
    }

    /// Sends bytes `within` of a verified chunk file in pieces.
    async fn send_range(
        &self,
        tx: &Sender,
        at: &mut u64,
        file: Arc<std::fs::File>,
        within: Range<usize>,
    ) -> Result<(), Option<Miss>> {
        let mut from = within.start;
        while from < within.end {
            let to = within.end.min(from + self.piece_bytes);
            // Right here when the bytes are in the page cache (a hit's usual case), else on a
            // blocking thread.
            let mut buf = vec![0; to - from];
            let bytes = match read_at(&file, &mut buf, from as u64, true) {
                Ok(()) => buf,
                Err(_) => {
                    let file = file.clone();
                    blocking(move || file.read_exact_at(&mut buf, from as u64).map(|()| buf))
                        .await
                        .map_err(|e| Miss::Store(format!("reading a cached chunk: {e}")))?
                }
            };
            self.frame(tx, at, Bytes::from(bytes)).await?;
            from = to;
        }
        Ok(())
    }

    /// The chunk file at `key`, opened and known to hold bytes with `digest`
    /// ([`Self::chunk_sync`], on a blocking thread).
    async fn verified(
        self: &Arc<Self>,
        kv: Arc<dyn KvBackend>,
        key: String,
        digest: Digest,
        len: u64,
    ) -> Result<Arc<std::fs::File>, Miss> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || this.chunk_sync(&*kv, key, digest, len, false))
            .await
            .unwrap_or_else(|join| Err(Miss::Store(join.to_string())))
    }

    /// The chunk file at `key`, opened and known to hold bytes with `digest`: hashed now unless
    /// this process hashed this very file before (`inline`: then [`Miss::WouldBlock`] instead of
    /// hashing).
    fn chunk_sync(
        &self,
        kv: &dyn KvBackend,
        key: String,
        digest: Digest,
        len: u64,
        inline: bool,
    ) -> Result<Arc<std::fs::File>, Miss> {
        let known = if self.every_read {
            None
        } else {
            self.lock().get(&key).copied()
        };
        if inline && known.is_none() {
            return Err(Miss::WouldBlock);
        }
        let (key, value, fresh) = match check_chunk(kv, key, digest, len, known, !inline) {
            Ok(checked) => checked,
            Err(miss) => {
                if let Miss::Changed { key, .. } = &miss {
                    self.forget(key);
                }
                return Err(miss);
            }
        };
        if fresh && !self.every_read {
            self.remember(
                &key,
                Remembered {
                    stamp: value.stamp,
                    digest,
                },
            );
        }
        Ok(value.file)
    }
}

/// The meta at `key` checked against `root`: `known`, if it was checked against that very root
/// (its verified bytes are in memory, so what happens to the file since does not matter: an
/// evicted item's chunks are missing, and their own checks hand the request to the component),
/// else read and checked now. Returns the meta and whether it was checked now.
fn check_meta(
    kv: &dyn KvBackend,
    key: String,
    root: String,
    known: Option<Arc<KnownMeta>>,
    may_read: bool,
) -> Result<(Arc<KnownMeta>, bool), Miss> {
    if let Some(known) = known.filter(|k| k.root == root) {
        return Ok((known, false));
    }
    if !may_read {
        return Err(Miss::WouldBlock);
    }
    let value = match kv.open_value(&key) {
        Ok(Some(value)) => value,
        Ok(None) => return Err(Miss::Missing(key)),
        Err(e) => return Err(Miss::Store(e.to_string())),
    };
    let mut stored = vec![0; value.len as usize];
    value
        .file
        .read_exact_at(&mut stored, 0)
        .map_err(|e| Miss::Store(format!("reading {key}: {e}")))?;
    let meta = CheckedMeta::check(&stored, &root).map_err(|_| Miss::Changed {
        key,
        detail: "does not match the root",
    })?;
    let known = KnownMeta {
        root,
        meta,
        stored: Bytes::from(stored),
    };
    Ok((Arc::new(known), true))
}

/// Fills `buf` from `file` at `offset`; `nowait`: only from the page cache (`preadv2` with
/// `RWF_NOWAIT`), else [`Miss::WouldBlock`] — as on systems without it.
pub(crate) fn read_at(
    file: &std::fs::File,
    buf: &mut [u8],
    offset: u64,
    nowait: bool,
) -> Result<(), Miss> {
    if !nowait {
        return file
            .read_exact_at(buf, offset)
            .map_err(|e| Miss::Store(format!("reading a cached chunk: {e}")));
    }
    #[cfg(target_os = "linux")]
    {
        use rustix::io::{ReadWriteFlags, preadv2};
        let want = buf.len();
        let mut slices = [std::io::IoSliceMut::new(buf)];
        match preadv2(file, &mut slices, offset, ReadWriteFlags::NOWAIT) {
            Ok(n) if n == want => Ok(()),
            _ => Err(Miss::WouldBlock),
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (file, buf, offset);
        Err(Miss::WouldBlock)
    }
}

/// A response with the status and headers of `head`.
fn head_parts(head: &edge_fn::ContentHead) -> Option<Response<()>> {
    let mut response = Response::builder().status(head.status);
    for (name, value) in &head.headers {
        response = response.header(name.as_str(), value.as_str());
    }
    response.body(()).ok()
}

/// Opens chunk `key` and, unless `known` says this very file was verified, hashes it against
/// `digest`. Returns the key, the open value and whether it was hashed now.
fn check_chunk(
    kv: &dyn KvBackend,
    key: String,
    digest: Digest,
    len: u64,
    known: Option<Remembered>,
    may_read: bool,
) -> Result<(String, crate::kv::StoredValue, bool), Miss> {
    let Some(value) = kv
        .open_value(&key)
        .map_err(|e| Miss::Store(e.to_string()))?
    else {
        return Err(Miss::Missing(key));
    };
    if value.len != len {
        return Err(Miss::Changed {
            key,
            detail: "wrong length",
        });
    }
    let fresh = known
        != Some(Remembered {
            stamp: value.stamp,
            digest,
        });
    if fresh && !may_read {
        return Err(Miss::WouldBlock);
    }
    if fresh {
        let mut bytes = vec![0; len as usize];
        value
            .file
            .read_exact_at(&mut bytes, 0)
            .map_err(|e| Miss::Store(format!("reading {key}: {e}")))?;
        if chunk_digest(&bytes) != digest {
            return Err(Miss::Changed {
                key,
                detail: "digest mismatch",
            });
        }
    }
    Ok((key, value, fresh))
}

/// Runs blocking store I/O off the async workers.
async fn blocking<T: Send + 'static, E: std::fmt::Display + Send + 'static>(
    f: impl FnOnce() -> Result<T, E> + Send + 'static,
) -> Result<T, String> {
    match tokio::task::spawn_blocking(f).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(e.to_string()),
        Err(join) => Err(join.to_string()),
    }
}

/// Asks the component for object bytes `range` of the replayed request, without the offer, and
/// forwards its body.
async fn resend(
    replay: &Replay,
    runtime: &EdgeRuntime,
    range: Range<u64>,
    tx: &Sender,
) -> Result<(), String> {
    let mut request = Request::builder()
        .method(http::Method::GET)
        .uri(replay.uri.clone())
        .body(Empty::<Bytes>::new())
        .expect("a GET with a valid URI");
    let headers = request.headers_mut();
    headers.clone_from(&replay.headers);
    for name in [OFFER_HEADER, "range", "if-range", "if-none-match"] {
        headers.remove(name);
    }
    let wanted = format!("bytes={}-{}", range.start, range.end - 1);
    headers.insert(
        http::header::RANGE,
        HeaderValue::try_from(wanted).expect("digits"),
    );
    let response = runtime
        .handle(request)
        .await
        .map_err(|e| format!("the component failed: {e}"))?;
    let content_range = response
        .headers()
        .get(http::header::CONTENT_RANGE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let expected = format!("bytes {}-{}/", range.start, range.end - 1);
    if response.status() != StatusCode::PARTIAL_CONTENT || !content_range.starts_with(&expected) {
        return Err(format!(
            "the component answered {} ({content_range:?}) for the rest",
            response.status()
        ));
    }
    let mut body = response.into_body();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| format!("the rest of the body failed: {e:?}"))?;
        if tx.send(Ok(frame)).await.is_err() {
            break;
        }
    }
    Ok(())
}

/// A response body fed by the task sending the plan.
struct ChannelBody {
    rx: mpsc::Receiver<Result<Frame<Bytes>, BodyError>>,
    left: u64,
}

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let polled = self.rx.poll_recv(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled
            && let Some(data) = frame.data_ref()
        {
            self.left = self.left.saturating_sub(data.len() as u64);
        }
        polled
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.left)
    }
}

/// Re-hashes every remembered chunk, `bytes_per_sec` at most, one [`scrub_pass`] every `every`.
pub async fn scrub(
    handoff: Arc<Handoff>,
    kv: Arc<dyn KvBackend>,
    metrics: Metrics,
    bytes_per_sec: u64,
    every: Duration,
) {
    loop {
        tokio::time::sleep(every).await;
        scrub_pass(&handoff, &kv, &metrics, bytes_per_sec).await;
    }
}

/// One pass over the chunks remembered as verified, paced to `bytes_per_sec`: a chunk whose
/// bytes decayed under an unchanged stamp is forgotten (so its next send hashes it, finds it
/// changed and hands the rest to the component, which drops and refills it), logged and counted
/// in `cdn_edge_scrub_mismatches_total`. Chunks gone or rewritten since are forgotten quietly.
/// Returns how many decayed chunks it found.
pub async fn scrub_pass(
    handoff: &Handoff,
    kv: &Arc<dyn KvBackend>,
    metrics: &Metrics,
    bytes_per_sec: u64,
) -> u64 {
    let bytes_per_sec = bytes_per_sec.max(1);
    let entries: Vec<(String, Remembered)> = handoff
        .lock()
        .iter()
        .map(|(k, v)| (k.clone(), *v))
        .collect();
    let started = tokio::time::Instant::now();
    let (mut scrubbed, mut decayed) = (0u64, 0u64);
    for (key, entry) in entries {
        let kv = kv.clone();
        let checked_key = key.clone();
        let outcome = tokio::task::spawn_blocking(move || {
            check_chunk(&*kv, checked_key, entry.digest, entry.stamp.len, None, true)
                .map(|(_, value, _)| value.stamp == entry.stamp)
        })
        .await
        .unwrap_or_else(|join| Err(Miss::Store(join.to_string())));
        match outcome {
            Ok(true) => {
                scrubbed += entry.stamp.len;
                metrics.scrubbed(entry.stamp.len, false);
            }
            // Rewritten while hashed: the next send hashes it anyway.
            Ok(false) | Err(Miss::Missing(_)) => handoff.forget_if(&key, entry),
            Err(Miss::Changed { detail, .. }) => {
                scrubbed += entry.stamp.len;
                decayed += 1;
                metrics.scrubbed(entry.stamp.len, true);
                handoff.forget_if(&key, entry);
                tracing::warn!(
                    %key,
                    detail,
                    "scrub: a cached chunk changed at rest; its next request refills it"
                );
            }
            Err(e) => tracing::warn!(%key, error = %e, "scrub: reading a cached chunk"),
        }
        // Pace: never ahead of bytes_per_sec since the pass started.
        let due = Duration::from_secs_f64(scrubbed as f64 / bytes_per_sec as f64);
        tokio::time::sleep_until(started + due).await;
    }
    decayed
}

#[cfg(test)]
#[path = "handoff_tests.rs"]
mod tests;
