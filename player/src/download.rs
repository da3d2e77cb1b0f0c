//! Resumable, verified download of a sealed object through an edge.
//!
//! The object is fetched in Range requests of at most [`MAX_RANGE`] bytes (hosted edges cap a
//! response near 10 MiB): first the header (its root must be the rented object's, else the catalog's) and the digest list
//! (checked against that root), then the chunks in order, each checked against its digest before
//! it counts. Bytes land at their own offsets in `OUT.part`; `OUT.state.json` records how many
//! chunks are verified and the download session id `sid`, so a killed download restarts at the
//! first unverified chunk and stays one session (one use of the token) at the edge. When every
//! chunk is verified, `OUT.part` is renamed to `OUT`.
//!
//! Range planning ([`chunk_ranges`], [`trailer_ranges`]) and the state file are pure and tested
//! here; [`download`] drives them over HTTP.

use std::fs::{self, File, OpenOptions};
use std::io::{self, IsTerminal, Read, Seek, SeekFrom, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::thread::sleep;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use protocol::sealed::{DIGEST_LEN, Digest, HEADER_LEN, Layout, verify_chunk, verify_digest_list};
use protocol::{Header, SealedError};
use serde::{Deserialize, Serialize};

use crate::api::{ApiError, Edge, Item};
use crate::store::{self, StoreError};

/// The largest Range request the player makes: 8 MiB.
pub const MAX_RANGE: u64 = 8 << 20;

/// Size of the reads from a response body; the progress bar moves at this grain.
const READ_PIECE: usize = 256 << 10;

/// Why a download stopped.
#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    /// The edge refused (bad token, region, uses exhausted, …) or answered off the interface.
    #[error("the edge refused the download: {0}")]
    Edge(ApiError),
    /// Transient failures went on after every retry.
    #[error(
        "the download failed after {attempts} attempts; run the same command again to resume: {last}"
    )]
    GaveUp { attempts: u32, last: FetchError },
    /// What the edge served does not match the expected digest root.
    #[error("the edge served data that does not verify against the catalog: {0}")]
    Verification(String),
    #[error("cannot write {path}: {error}")]
    Io { path: PathBuf, error: io::Error },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The progress of one download, saved beside the partial file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DownloadState {
    pub item: String,
    /// Hex digest root of the object being fetched; a new version starts over.
    pub root: String,
    pub object_len: u64,
    /// The download session id sent as `&sid=` on every request.
    pub sid: String,
    /// The download URL the session belongs to; a new URL (a new rental's token) keeps the
    /// verified bytes but starts a new session.
    #[serde(default)]
    pub url: String,
    /// Header and digest list are fetched, verified and written to the partial file.
    pub meta_verified: bool,
    /// Chunks `0..verified_chunks` are in the partial file and verified.
    pub verified_chunks: u64,
}

impl DownloadState {
    /// A fresh state for `item` fetched from `url`, with a new session id.
    pub fn new(item: &Item, url: &str) -> Self {
        Self {
            item: item.id.clone(),
            root: item.root.clone(),
            object_len: item.object_len,
            sid: protocol::random_id(),
            url: url.to_owned(),
            meta_verified: false,
            verified_chunks: 0,
        }
    }

    /// Whether this state belongs to the object `item` describes now.
    pub fn matches(&self, item: &Item) -> bool {
        self.item == item.id && self.root == item.root && self.object_len == item.object_len
    }

    /// The saved state at `path`, if any.
    pub fn load(path: &Path) -> Result<Option<Self>, StoreError> {
        store::read_json(path)
    }

    /// Saves atomically (a kill never leaves a torn state file).
    pub fn save(&self, path: &Path) -> Result<(), StoreError> {
        store::write_json(path, self, false)
    }
}

/// `OUT.part`: where bytes land while downloading.
pub fn part_path(out: &Path) -> PathBuf {
    with_suffix(out, ".part")
}

/// `OUT.state.json`: the saved [`DownloadState`].
pub fn state_path(out: &Path) -> PathBuf {
    with_suffix(out, ".state.json")
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// `url` with the download session id added as `sid`.
pub fn session_url(url: &str, sid: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}sid={sid}")
}

/// The object ranges of the digest list, each at most `max` bytes and a whole number of digests.
pub fn trailer_ranges(layout: &Layout, max: u64) -> Vec<Range<u64>> {
    let trailer = layout.trailer_range();
    let step = (max / DIGEST_LEN as u64).max(1) * DIGEST_LEN as u64;
    (trailer.start..trailer.end)
        .step_by(step as usize)
        .map(|s| s..(s + step).min(trailer.end))
        .collect()
}

/// The next Range request for chunk bytes, given `offset`, the first object byte not yet held
/// (inside the chunk area). It is at most `max` bytes and ends on a chunk boundary, unless a
/// single chunk is larger than `max` (8 MiB chunks seal to 8 MiB + 16 bytes); then it ends inside
/// that chunk and the next request continues it. `None` once the chunk area is complete.
pub fn next_chunk_range(layout: &Layout, offset: u64, max: u64) -> Option<Range<u64>> {
    let body_start = layout.header_len();
    let body_end = layout.trailer_range().start;
    if offset >= body_end {
        return None;
    }
    assert!(offset >= body_start, "offset {offset} inside the header");
    assert!(max > 0, "empty ranges");
    let limit = offset.saturating_add(max).min(body_end);
    if limit == body_end {
        return Some(offset..limit);
    }
    let boundary = layout
        .chunk_at_object_offset(limit)
        .map_or(limit, |i| layout.sealed_chunk_range(i).start);
    Some(offset..if boundary > offset { boundary } else { limit })
}

/// Every chunk-area range from the start of chunk `first` to the end, as [`download`] requests
/// them when nothing fails.
pub fn chunk_ranges(layout: &Layout, first: u64, max: u64) -> Vec<Range<u64>> {
    let mut out = Vec::new();
    if first >= layout.chunk_count() {
        return out;
    }
    let mut offset = layout.sealed_chunk_range(first).start;
    while let Some(r) = next_chunk_range(layout, offset, max) {
        offset = r.end;
        out.push(r);
    }
    out
}

/// How [`download`] behaves.
#[derive(Debug, Clone)]
pub struct Options {
    /// Largest Range request, at most [`MAX_RANGE`].
    pub max_range: u64,
    /// Consecutive transient failures tolerated before giving up.
    pub retries: u32,
    /// First backoff; doubled after each consecutive failure, capped at 8 s.
    pub backoff: Duration,
    /// Show a progress bar (only drawn when stdout and stderr are terminals).
    pub progress: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            max_range: MAX_RANGE,
            retries: 5,
            backoff: Duration::from_millis(500),
            progress: true,
        }
    }
}

/// Downloads the object `item` describes from `url` (the rental's download URL) to `out`,
/// resuming a previous attempt at `out` if one is recorded. Returns the object length.
pub fn download(
    edge: &Edge,
    item: &Item,
    url: &str,
    out: &Path,
    opts: &Options,
) -> Result<u64, DownloadError> {
    download_from(edge, item, url, None, out, opts)
}

/// [`download`], moving to `fallback` (the rental's fallback URL: the same token on the next
/// best edge) after [`SWITCH_AFTER`] transient failures in a row on one edge, and back again
/// after as many there; each edge gets the full retries. The download session (`sid`) is kept,
/// so the other edge resumes it without spending a use.
pub fn download_from(
    edge: &Edge,
    item: &Item,
    url: &str,
    fallback: Option<&str>,
    out: &Path,
    opts: &Options,
) -> Result<u64, DownloadError> {
    let max = opts.max_range.clamp(1, MAX_RANGE);
    let part = part_path(out);
    let state_file = state_path(out);
    if let Some(dir) = out.parent() {
        fs::create_dir_all(dir).map_err(io_at(dir))?;
    }

    let saved = DownloadState::load(&state_file)?.filter(|s| s.matches(item));
    let part_ok = fs::metadata(&part).is_ok_and(|m| m.len() == item.object_len);
    let (mut state, mut file) = match saved {
        Some(s) if part_ok => {
            let f = OpenOptions::new()
                .read(true)
                .write(true)
                .open(&part)
                .map_err(io_at(&part))?;
            let s = match s.url == url {
                true => s,
                false => DownloadState {
                    sid: protocol::random_id(),
                    url: url.to_owned(),
                    ..s
                },
            };
            (s, f)
        }
        saved => {
            // Keep the session of an interrupted download even when its bytes are gone.
            let mut s = DownloadState::new(item, url);
            if let Some(old) = saved.filter(|old| old.url == url) {
                s.sid = old.sid;
            }
            let f = File::create(&part).map_err(io_at(&part))?;
            f.set_len(item.object_len).map_err(io_at(&part))?;
            (s, f)
        }
    };
    state.save(&state_file)?;
    let mut urls = vec![session_url(url, &state.sid)];
    urls.extend(fallback.map(|f| session_url(f, &state.sid)));
    let mut run = Run {
        edge,
        urls: &urls,
        at: 0,
        switched: 0,
        opts,
        failures: 0,
        part: &part,
    };

    let digests = match state.meta_verified {
        true => match read_local_meta(&mut file, item) {
            Ok((_, d)) => d,
            // A damaged partial file: fetch everything again.
            Err(_) => {
                state.meta_verified = false;
                state.verified_chunks = 0;
                fetch_meta(&mut run, &mut file, item, max)?
            }
        },
        false => fetch_meta(&mut run, &mut file, item, max)?,
    };
    state.meta_verified = true;
    state.save(&state_file)?;

    let layout = Layout::new(item.chunk_size, item.plaintext_len);
    let bar = progress_bar(opts.progress, item.object_len);
    let verified_end = |n: u64| match n {
        0 => layout.header_len(),
        n => layout.sealed_chunk_range(n - 1).end,
    };
    bar.set_position(verified_end(state.verified_chunks));

    // Bytes of chunk `state.verified_chunks` received so far (one chunk at most in memory).
    let mut chunk: Vec<u8> = Vec::new();
    while state.verified_chunks < layout.chunk_count() {
        let index = state.verified_chunks;
        let chunk_range = layout.sealed_chunk_range(index);
        let offset = chunk_range.start + chunk.len() as u64;
        let range = next_chunk_range(&layout, offset, max).expect("chunks remain");
        let result = (|| -> Result<(), Step> {
            let mut body = run
                .edge
                .range(run.url(), range.clone())
                .map_err(FetchError::Api)?;
            let mut pos = range.start;
            while pos < range.end {
                let index = state.verified_chunks;
                let want = layout.sealed_chunk_range(index);
                let need = (want.end - want.start) as usize - chunk.len();
                let take = need.min((range.end - pos) as usize).min(READ_PIECE);
                let at = chunk.len();
                chunk.resize(at + take, 0);
                if let Err(e) = body.read_exact(&mut chunk[at..]) {
                    chunk.truncate(at);
                    return Err(FetchError::Body(e).into());
                }
                pos += take as u64;
                bar.set_position(want.start + chunk.len() as u64);
                if chunk.len() as u64 == want.end - want.start {
                    if verify_chunk(&digests, index, &chunk).is_err() {
                        chunk.clear();
                        return Err(FetchError::Digest(index).into());
                    }
                    file.seek(SeekFrom::Start(want.start))
                        .and_then(|_| file.write_all(&chunk))
                        .map_err(io_at(run.part))?;
                    chunk.clear();
                    state.verified_chunks += 1;
                    state.save(&state_file)?;
                }
            }
            Ok(())
        })();
        match result {
            Ok(()) => run.failures = 0,
            Err(e) => run.retry_or_fail(e)?,
        }
    }
    file.sync_all().map_err(io_at(&part))?;
    drop(file);
    fs::rename(&part, out).map_err(io_at(out))?;
    store::remove_if_present(&state_file)?;
    bar.finish_and_clear();
    Ok(item.object_len)
}

/// A failure while fetching one range; all but a refusal are worth a retry.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error(transparent)]
    Api(ApiError),
    #[error("the connection broke while reading: {0}")]
    Body(io::Error),
    #[error("chunk {0} did not match its digest")]
    Digest(u64),
}

/// The outcome of one failed step: try again, or stop.
enum Step {
    Retry(FetchError),
    Stop(DownloadError),
}

impl From<FetchError> for Step {
    fn from(e: FetchError) -> Self {
        Step::Retry(e)
    }
}

impl<E: Into<DownloadError>> From<E> for Step {
    fn from(e: E) -> Self {
        Step::Stop(e.into())
    }
}

/// Transient failures in a row on one edge before a download moves to the other.
pub const SWITCH_AFTER: u32 = 2;

struct Run<'a> {
    edge: &'a Edge,
    /// The download URL, then the fallback if any, each with the session id.
    urls: &'a [String],
    /// Which of `urls` is in use.
    at: usize,
    /// Moves between `urls` so far.
    switched: u32,
    opts: &'a Options,
    failures: u32,
    part: &'a Path,
}

impl Run<'_> {
    fn url(&self) -> &str {
        &self.urls[self.at]
    }

    /// Sleeps and returns `Ok` if `e` is a transient fetch failure with retries left; otherwise
    /// returns the error to report.
    fn retry_or_fail(&mut self, step: Step) -> Result<(), DownloadError> {
        let last = match step {
            Step::Stop(e) => return Err(e),
            Step::Retry(FetchError::Api(e)) if !e.is_transient() => {
                return Err(DownloadError::Edge(e));
            }
            Step::Retry(e) => e,
        };
        self.failures += 1;
        // Another edge may answer where this one does not: move after a few failures in a row,
        // with the retries counted afresh, as long as each edge has retries left.
        let total_budget = self.opts.retries * self.urls.len() as u32;
        if self.urls.len() > 1
            && self.failures >= SWITCH_AFTER
            && (self.switched + 1) * SWITCH_AFTER <= total_budget
        {
            self.at = (self.at + 1) % self.urls.len();
            self.switched += 1;
            self.failures = 0;
            eprintln!("trying the download's other edge after: {last}");
            return Ok(());
        }
        if self.failures > self.opts.retries {
            return Err(DownloadError::GaveUp {
                attempts: self.failures,
                last,
            });
        }
        let factor = 1u32 << (self.failures - 1).min(5);
        sleep((self.opts.backoff * factor).min(Duration::from_secs(8)));
        Ok(())
    }

    /// Fetches `range` whole into memory (header and digest list only), with retries.
    fn fetch_small(&mut self, range: Range<u64>) -> Result<Vec<u8>, DownloadError> {
        loop {
            let result = self
                .edge
                .range(self.url(), range.clone())
                .map_err(FetchError::Api)
                .and_then(|mut body| {
                    let mut buf = vec![0u8; (range.end - range.start) as usize];
                    body.read_exact(&mut buf).map_err(FetchError::Body)?;
                    Ok(buf)
                });
            match result {
                Ok(buf) => {
                    self.failures = 0;
                    return Ok(buf);
                }
                Err(e) => self.retry_or_fail(Step::Retry(e))?,
            }
        }
    }
}

/// Fetches header and digest list, verifies them against the catalog, writes them into the
/// partial file and returns the digests.
fn fetch_meta(
    run: &mut Run<'_>,
    file: &mut File,
    item: &Item,
    max: u64,
) -> Result<Vec<Digest>, DownloadError> {
    let head = run.fetch_small(0..HEADER_LEN as u64)?;
    let header = Header::decode(&head).map_err(verification)?;
    let layout = check_header(&header, item)?;
    let mut trailer = Vec::with_capacity((layout.chunk_count() as usize) * DIGEST_LEN);
    for r in trailer_ranges(&layout, max) {
        trailer.extend_from_slice(&run.fetch_small(r)?);
    }
    let digests = verify_digest_list(&header, &trailer).map_err(verification)?;
    file.seek(SeekFrom::Start(0))
        .and_then(|_| file.write_all(&head))
        .and_then(|_| file.seek(SeekFrom::Start(layout.trailer_range().start)))
        .and_then(|_| file.write_all(&trailer))
        .map_err(io_at(run.part))?;
    Ok(digests)
}

/// Reads back and re-verifies the header and digest list of a partial file.
fn read_local_meta(file: &mut File, item: &Item) -> Result<(Header, Vec<Digest>), DownloadError> {
    let mut head = [0u8; HEADER_LEN];
    file.seek(SeekFrom::Start(0))
        .and_then(|_| file.read_exact(&mut head))
        .map_err(|e| DownloadError::Verification(e.to_string()))?;
    let header = Header::decode(&head).map_err(verification)?;
    let layout = check_header(&header, item)?;
    let t = layout.trailer_range();
    let mut trailer = vec![0u8; (t.end - t.start) as usize];
    file.seek(SeekFrom::Start(t.start))
        .and_then(|_| file.read_exact(&mut trailer))
        .map_err(|e| DownloadError::Verification(e.to_string()))?;
    let digests = verify_digest_list(&header, &trailer).map_err(verification)?;
    Ok((header, digests))
}

/// Checks a header against the catalog entry and returns its layout.
fn check_header(header: &Header, item: &Item) -> Result<Layout, DownloadError> {
    let root = hex::encode(header.digest_root);
    if !root.eq_ignore_ascii_case(&item.root) {
        return Err(DownloadError::Verification(format!(
            "header root {root} is not the expected {} (the rented version's)",
            item.root
        )));
    }
    let layout = header.layout();
    if header.item.as_str() != item.id
        || header.chunk_size != item.chunk_size
        || header.plaintext_len != item.plaintext_len
        || layout.object_len() != item.object_len
    {
        return Err(DownloadError::Verification(
            "header fields differ from the catalog entry".into(),
        ));
    }
    Ok(layout)
}

fn verification(e: SealedError) -> DownloadError {
    DownloadError::Verification(e.to_string())
}

fn io_at(path: &Path) -> impl Fn(io::Error) -> DownloadError + '_ {
    move |error| DownloadError::Io {
        path: path.to_owned(),
        error,
    }
}

fn progress_bar(wanted: bool, len: u64) -> ProgressBar {
    if !wanted || !io::stderr().is_terminal() || !io::stdout().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}")
            .expect("valid template"),
    );
    bar
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::sealed::{MIN_CHUNK_SIZE, TAG_LEN};

    const MIB: u64 = 1 << 20;

    /// Checks the invariants of a plan starting at chunk `first`.
    fn check_plan(layout: &Layout, first: u64, max: u64) -> Vec<Range<u64>> {
        let plan = chunk_ranges(layout, first, max);
        let stride = layout.chunk_size() + TAG_LEN as u64;
        let mut expect_start = layout.sealed_chunk_range(first).start;
        for r in &plan {
            assert_eq!(r.start, expect_start, "contiguous");
            assert!(r.end > r.start && r.end - r.start <= max, "{r:?} ≤ {max}");
            let ends_on_boundary = (r.end - layout.header_len()).is_multiple_of(stride)
                || r.end == layout.trailer_range().start;
            // Only a chunk larger than `max` may be split.
            assert!(
                ends_on_boundary || stride > max,
                "{r:?} ends inside a chunk"
            );
            expect_start = r.end;
        }
        assert_eq!(
            expect_start,
            layout.trailer_range().start,
            "covers the chunks"
        );
        plan
    }

    #[test]
    fn ranges_align_to_chunks_and_stay_under_8_mib() {
        // 1 MiB chunks: 7 whole sealed chunks (7 MiB + 112 bytes) fit in 8 MiB, 8 do not.
        let layout = Layout::new(MIB as u32, 20 * MIB + 12345);
        let plan = check_plan(&layout, 0, MAX_RANGE);
        assert_eq!(
            plan[0],
            layout.sealed_chunk_range(0).start..layout.sealed_chunk_range(6).end
        );
        assert_eq!(plan.len(), 3);
        // The last range ends with the short last chunk.
        assert_eq!(plan.last().unwrap().end, layout.sealed_chunk_range(20).end);
        assert_eq!(
            layout.sealed_chunk_range(20).end - layout.sealed_chunk_range(20).start,
            12345 + 16
        );
    }

    #[test]
    fn resume_starts_at_the_first_unverified_chunk() {
        let layout = Layout::new(MIB as u32, 20 * MIB);
        let plan = check_plan(&layout, 9, MAX_RANGE);
        assert_eq!(plan[0].start, layout.sealed_chunk_range(9).start);
        assert_eq!(plan[0].end, layout.sealed_chunk_range(15).end);
        assert!(chunk_ranges(&layout, 20, MAX_RANGE).is_empty());
    }

    #[test]
    fn a_chunk_larger_than_a_range_is_split() {
        // 8 MiB chunks seal to 8 MiB + 16 bytes.
        let layout = Layout::new(MAX_RANGE as u32, 2 * MAX_RANGE);
        let plan = check_plan(&layout, 0, MAX_RANGE);
        let c0 = layout.sealed_chunk_range(0);
        assert_eq!(plan[0], c0.start..c0.start + MAX_RANGE);
        assert_eq!(plan[1], c0.start + MAX_RANGE..c0.end);
        assert_eq!(plan.len(), 4);
    }

    #[test]
    fn small_and_empty_objects() {
        let layout = Layout::new(MIN_CHUNK_SIZE, 10);
        assert_eq!(check_plan(&layout, 0, MAX_RANGE), vec![160..160 + 26]);
        let empty = Layout::new(MIN_CHUNK_SIZE, 0);
        assert_eq!(check_plan(&empty, 0, MAX_RANGE), vec![160..176]);
        // Tiny ranges still make progress and keep to whole chunks where they can.
        let layout = Layout::new(MIN_CHUNK_SIZE, 5 * u64::from(MIN_CHUNK_SIZE));
        check_plan(&layout, 0, 3 * u64::from(MIN_CHUNK_SIZE));
        check_plan(&layout, 0, 1000);
    }

    #[test]
    fn trailer_is_fetched_in_whole_digests_under_the_cap() {
        let layout = Layout::new(MIN_CHUNK_SIZE, 1000 * u64::from(MIN_CHUNK_SIZE) + 1);
        let t = layout.trailer_range();
        assert_eq!(trailer_ranges(&layout, MAX_RANGE), vec![t.clone()]);
        let pieces = trailer_ranges(&layout, 100);
        assert!(pieces.iter().all(|r| r.end - r.start <= 100));
        assert!(
            pieces
                .iter()
                .all(|r| (r.start - t.start).is_multiple_of(32))
        );
        assert_eq!(pieces.first().unwrap().start, t.start);
        assert_eq!(pieces.last().unwrap().end, t.end);
        assert_eq!(pieces.len(), (1001 * 32usize).div_ceil(96));
    }

    #[test]
    fn state_survives_a_restart_and_detects_a_new_version() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("film.sealed");
        let item = Item {
            id: "film".into(),
            title: "Film".into(),
            plaintext_len: 10,
            object_len: 218,
            chunk_size: MIN_CHUNK_SIZE,
            chunk_count: 1,
            version: 1,
            key_version: 1,
            root: "ab".repeat(32),
        };
        assert_eq!(DownloadState::load(&state_path(&out)).unwrap(), None);
        let mut s = DownloadState::new(&item, "http://edge/v1/content/film?token=t");
        s.meta_verified = true;
        s.verified_chunks = 7;
        s.save(&state_path(&out)).unwrap();
        let back = DownloadState::load(&state_path(&out)).unwrap().unwrap();
        assert_eq!(back, s);
        assert!(back.matches(&item));
        assert_eq!(state_path(&out), dir.path().join("film.sealed.state.json"));
        assert_eq!(part_path(&out), dir.path().join("film.sealed.part"));
        let newer = Item {
            root: "cd".repeat(32),
            ..item
        };
        assert!(!back.matches(&newer));
    }

    #[test]
    fn sid_joins_the_query() {
        assert_eq!(
            session_url("http://e/c/a?token=t", "s1"),
            "http://e/c/a?token=t&sid=s1"
        );
        assert_eq!(session_url("http://e/c/a", "s1"), "http://e/c/a?sid=s1");
    }
}
