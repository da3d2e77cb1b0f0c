//! Ingest: plaintext in, sealed as it arrives (one chunk in memory, the rest spooled to a
//! temporary file), written to the primary parent, recorded as the item's next version.

use std::io::{Seek, Write};

use bytes::Bytes;
use futures::{Stream, StreamExt};
use protocol::{ContentKey, ItemId, SealParams, SealWriter};
use tokio::io::AsyncReadExt;

use crate::AppState;
use crate::records::ItemRecord;

/// What the operator says about the item.
#[derive(Debug, Clone, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct IngestMeta {
    /// The item's id (lower-case letters, digits, `-`); an existing id gets a new version.
    #[param(value_type = String)]
    pub id: ItemId,
    /// Shown in the catalog [default: the id].
    pub title: Option<String>,
    /// Hot level: edges of this level or lower prefill it (manifest).
    pub level: Option<u8>,
    /// Comma-separated region names; empty = everywhere.
    #[serde(default)]
    pub regions: Option<String>,
    #[serde(default)]
    pub price_cents: Option<u64>,
    /// `true`: a public object (poster, trailer), served by the edges without a token.
    #[serde(default)]
    pub public: Option<bool>,
    /// The item's viewing window in hours (1 to 720) [default: main's `licences.window_secs`].
    #[serde(default)]
    pub window_hours: Option<u64>,
    /// Plays allowed inside the window (1 to 1000) [default: unlimited].
    #[serde(default)]
    pub max_plays: Option<u32>,
    /// Days after renting within which the licence may be enabled (1 to 365)
    /// [default: main's `licences.enable_within_secs`].
    #[serde(default)]
    pub enable_within_days: Option<u64>,
    /// The fee for a new window once one has ended, in cents (1 to 100000)
    /// [default: main's `licences.reactivation_fee_cents`].
    #[serde(default)]
    pub reactivation_cents: Option<u64>,
    /// The age rating: the youngest age the item is for (0 to 21) [default: unrated].
    #[serde(default)]
    pub rating: Option<u8>,
    /// The catalog's description (up to 4000 characters) [default: the previous version's].
    #[serde(default)]
    pub description: Option<String>,
    /// Comma-separated genres, lower-case letters, digits and `-` (up to 8) [default: the
    /// previous version's].
    #[serde(default)]
    pub genres: Option<String>,
    /// The id of the item's poster, a public object ingested before [default: the previous
    /// version's].
    #[serde(default)]
    pub poster: Option<String>,
    /// The id of the item's trailer or clip, a public object ingested before [default: the
    /// previous version's].
    #[serde(default)]
    pub trailer: Option<String>,
    /// A public object's media type, which the edges send as its `Content-Type`: one of
    /// `image/png|jpeg|webp|gif|avif|svg+xml`, `video/mp4|webm|ogg`,
    /// `audio/mpeg|ogg|wav|webm|mp4` [default: the previous version's, else
    /// `application/octet-stream`].
    #[serde(default)]
    pub media_type: Option<String>,
}

impl IngestMeta {
    /// The item's policy from the query, each part checked against its bounds.
    pub fn policy(&self) -> Result<crate::records::ItemPolicy, IngestError> {
        let within = |name: &'static str, v: Option<u64>, max: u64| match v {
            Some(n) if n == 0 || n > max => Err(IngestError::Policy(name, max)),
            v => Ok(v),
        };
        Ok(crate::records::ItemPolicy {
            window_secs: within("window_hours", self.window_hours, MAX_WINDOW_SECS / 3600)?
                .map(|h| h * 3600),
            max_plays: within("max_plays", self.max_plays.map(u64::from), 1000)?.map(|n| n as u32),
            enable_within_secs: within(
                "enable_within_days",
                self.enable_within_days,
                MAX_ENABLE_WITHIN_SECS / 86_400,
            )?
            .map(|d| d * 24 * 3600),
            reactivation_cents: within("reactivation_cents", self.reactivation_cents, 100_000)?,
        })
    }
}

/// Comma-separated region names, each one of main's `[[regions]]`.
pub fn regions(state: &AppState, raw: &str) -> Result<Vec<String>, IngestError> {
    let regions: Vec<String> = raw
        .split(',')
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(str::to_owned)
        .collect();
    match regions
        .iter()
        .find(|r| !state.config.regions.iter().any(|c| &c.name == *r))
    {
        Some(r) => Err(IngestError::UnknownRegion(r.clone())),
        None => Ok(regions),
    }
}

/// Parts of an item's presentation to change; `None` keeps a part.
#[derive(Debug, Clone, Copy, Default)]
pub struct PresentationChange<'a> {
    pub description: Option<&'a str>,
    /// Comma-separated.
    pub genres: Option<&'a str>,
    pub poster: Option<&'a str>,
    pub trailer: Option<&'a str>,
    /// A public object's media type, one of [`MEDIA_TYPES`].
    pub media_type: Option<&'a str>,
}

/// The media types a public object may have: images, video and audio a browser shows inline.
/// Anything else (HTML, scripts) is refused, so that an edge never serves a page of its own.
pub const MEDIA_TYPES: &[&str] = &[
    "image/png",
    "image/jpeg",
    "image/webp",
    "image/gif",
    "image/avif",
    "image/svg+xml",
    "video/mp4",
    "video/webm",
    "video/ogg",
    "audio/mpeg",
    "audio/ogg",
    "audio/wav",
    "audio/webm",
    "audio/mp4",
];

/// `base` with the parts `change` gives, each checked. A poster or trailer must be a public
/// object already ingested.
pub async fn presentation(
    state: &AppState,
    change: &PresentationChange<'_>,
    base: crate::records::Presentation,
) -> Result<crate::records::Presentation, IngestError> {
    let bad = |m: &str| Err(IngestError::Presentation(m.to_owned()));
    let mut p = base;
    if let Some(d) = change.description {
        if d.chars().count() > 4000 {
            return bad("description must be at most 4000 characters");
        }
        p.description = d.trim().to_owned();
    }
    if let Some(g) = change.genres {
        let genres: Vec<String> = g
            .split(',')
            .map(|g| g.trim().to_lowercase())
            .filter(|g| !g.is_empty())
            .collect();
        let ok = |g: &String| {
            g.len() <= 32
                && g.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        };
        if genres.len() > 8 || !genres.iter().all(ok) {
            return bad(
                "genres must be up to 8 names of lower-case letters, digits and -, comma-separated",
            );
        }
        p.genres = genres;
    }
    for (name, given, slot) in [
        ("poster", change.poster, &mut p.poster),
        ("trailer", change.trailer, &mut p.trailer),
    ] {
        let Some(id) = given else { continue };
        let public = match ItemId::parse(id) {
            Ok(id) => state
                .store
                .item(id.as_str())
                .await?
                .is_some_and(|i| i.public),
            Err(_) => false,
        };
        if !public {
            return Err(IngestError::Presentation(format!(
                "{name} {id:?} is not a public object; ingest it first with public=true"
            )));
        }
        *slot = Some(id.to_owned());
    }
    if let Some(m) = change.media_type {
        let m = m.trim().to_ascii_lowercase();
        if !MEDIA_TYPES.contains(&m.as_str()) {
            return Err(IngestError::Presentation(format!(
                "media_type {m:?} is not one of {}",
                MEDIA_TYPES.join(", ")
            )));
        }
        p.media_type = Some(m);
    }
    Ok(p)
}

/// What an operator changes about an item without ingesting it again; `None` keeps a field.
/// `level` set to `null` clears it (the item is no longer hot).
#[derive(Debug, Clone, Default, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ItemEdit {
    pub title: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<u8>)]
    pub level: Option<Option<u8>>,
    /// Region names; empty: everywhere.
    pub regions: Option<Vec<String>>,
    pub price_cents: Option<u64>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<u8>)]
    pub rating: Option<Option<u8>>,
    pub description: Option<String>,
    pub genres: Option<Vec<String>>,
    pub poster: Option<String>,
    pub trailer: Option<String>,
}

/// A field that is present, `null` included (`Some(None)`), as opposed to absent (`None`).
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    serde::Deserialize::deserialize(d).map(Some)
}

/// Changes item `id`'s catalog fields (the signed manifest follows at the edges' next poll);
/// the object and its key stay. Written conditional on the item not having changed since it
/// was read, read again a few rounds otherwise.
pub async fn edit(
    state: &AppState,
    id: &str,
    edit: &ItemEdit,
) -> Result<Option<ItemRecord>, IngestError> {
    if edit.rating.flatten().is_some_and(|r| r > MAX_RATING) {
        return Err(IngestError::Rating);
    }
    if let Some(t) = &edit.title
        && (t.trim().is_empty() || t.chars().count() > 200)
    {
        return Err(IngestError::Presentation(
            "title must be 1 to 200 characters".into(),
        ));
    }
    let regions = match &edit.regions {
        Some(r) => Some(regions(state, &r.join(","))?),
        None => None,
    };
    let genres = edit.genres.as_ref().map(|g| g.join(","));
    let change = PresentationChange {
        description: edit.description.as_deref(),
        genres: genres.as_deref(),
        poster: edit.poster.as_deref(),
        trailer: edit.trailer.as_deref(),
        media_type: None,
    };
    for _ in 0..5 {
        let Some(item) = state.store.item(id).await? else {
            return Ok(None);
        };
        let mut next = item.clone();
        if let Some(t) = &edit.title {
            next.title = t.trim().to_owned();
        }
        if let Some(level) = edit.level {
            next.level = level;
        }
        if let Some(r) = &regions {
            next.regions = r.clone();
        }
        if let Some(p) = edit.price_cents {
            next.price_cents = p;
        }
        if let Some(r) = edit.rating {
            next.rating = r;
        }
        next.presentation = presentation(state, &change, item.presentation.clone()).await?;
        if state.store.replace_item(&item, next.clone()).await? {
            state.catalog.forget();
            tracing::info!(item = id, "catalog entry edited");
            return Ok(Some(next));
        }
    }
    Err(IngestError::Store(crate::store::StoreError::Conflict {
        operation: "edit item",
        detail: "the item kept changing".into(),
    }))
}

/// Longest viewing window an item may set (720 hours).
pub const MAX_WINDOW_SECS: u64 = 720 * 3600;
/// Longest rental period an item may set (365 days).
pub const MAX_ENABLE_WITHIN_SECS: u64 = 365 * 24 * 3600;

/// Highest age rating an item may carry.
pub const MAX_RATING: u8 = 21;

/// Why an ingest failed.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("the upload is larger than the limit of {0} bytes")]
    TooLarge(u64),
    #[error("the upload was interrupted: {0}")]
    Body(String),
    #[error("unknown region {0:?}")]
    UnknownRegion(String),
    #[error("{0} must be from 1 to {1}")]
    Policy(&'static str, u64),
    #[error("rating must be an age from 0 to {MAX_RATING}")]
    Rating,
    #[error("{0}")]
    Presentation(String),
    #[error("sealing failed: {0}")]
    Seal(String),
    #[error("writing to the primary parent failed: {0}")]
    Parent(String),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

/// How long a replaced version of an item is kept for the licences rented for it: the longest a
/// licence may wait to be enabled (365 days, or main's default if longer), then its longest
/// window, and a token's lifetime for a download still under way.
pub fn version_retention(config: &crate::Config) -> u64 {
    config
        .licences
        .enable_within_secs
        .max(MAX_ENABLE_WITHIN_SECS)
        + config.licences.window_secs.max(MAX_WINDOW_SECS)
        + config.tokens.ttl_secs
}

/// The earlier versions to keep when `item` is replaced at `now`: its current object, then its
/// kept ones, without those replaced more than `retain` seconds ago.
pub fn kept_versions(
    item: &ItemRecord,
    now: u64,
    retain: u64,
) -> Vec<crate::records::ObjectVersion> {
    let replaced = crate::records::ObjectVersion {
        superseded_at: now,
        ..item.current()
    };
    std::iter::once(replaced)
        .chain(item.previous.iter().cloned())
        .filter(|o| o.superseded_at + retain > now)
        .collect()
}

/// Seals the body and stores it as the next version of the item.
pub async fn ingest<S, E>(
    state: &AppState,
    meta: IngestMeta,
    body: S,
) -> Result<ItemRecord, IngestError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let regions = regions(state, meta.regions.as_deref().unwrap_or(""))?;
    let policy = meta.policy()?;
    if meta.rating.is_some_and(|r| r > MAX_RATING) {
        return Err(IngestError::Rating);
    }
    if meta.media_type.is_some() && meta.public != Some(true) {
        return Err(IngestError::Presentation(
            "media_type is for public objects (public=true)".to_owned(),
        ));
    }
    let previous = state.store.item(meta.id.as_str()).await?;
    let change = PresentationChange {
        description: meta.description.as_deref(),
        genres: meta.genres.as_deref(),
        poster: meta.poster.as_deref(),
        trailer: meta.trailer.as_deref(),
        media_type: meta.media_type.as_deref(),
    };
    let base = previous
        .as_ref()
        .map(|p| p.presentation.clone())
        .unwrap_or_default();
    let presentation = presentation(state, &change, base).await?;
    let version = previous.as_ref().map_or(1, |p| p.version + 1);
    let now = (state.clock)();
    let key = ContentKey::generate();
    let params = SealParams::new(meta.id.clone(), state.config.key_version);
    let spool_dir = state.config.data_dir.join("spool");
    std::fs::create_dir_all(&spool_dir).map_err(|e| IngestError::Seal(e.to_string()))?;
    let spool = tempfile::tempfile_in(&spool_dir).map_err(|e| IngestError::Seal(e.to_string()))?;
    let mut writer = SealWriter::new(
        &key,
        params,
        std::io::BufWriter::with_capacity(1 << 20, spool),
    )
    .map_err(|e| IngestError::Seal(e.to_string()))?;
    let limit = state.config.max_ingest_bytes;
    let mut received = 0u64;
    let mut body = body;
    while let Some(part) = body.next().await {
        let part = part.map_err(|e| IngestError::Body(e.to_string()))?;
        received += part.len() as u64;
        if received > limit {
            return Err(IngestError::TooLarge(limit));
        }
        writer
            .write_all(&part)
            .map_err(|e| IngestError::Seal(e.to_string()))?;
    }
    let (header, digests, spool) = writer
        .finish()
        .map_err(|e| IngestError::Seal(e.to_string()))?;
    let mut spool = spool
        .into_inner()
        .map_err(|e| IngestError::Seal(e.to_string()))?;
    spool
        .rewind()
        .map_err(|e| IngestError::Seal(e.to_string()))?;
    let layout = header.layout();
    let head = header.encode().to_vec();
    let trailer = protocol::sealed::encode_trailer(&digests);
    let reader = (&head[..])
        .chain(tokio::fs::File::from_std(spool))
        .chain(&trailer[..]);
    let object_key = meta.id.object_key(version);
    state
        .primary()
        .store
        .put_object_stream(&object_key, reader, layout.object_len())
        .await
        .map_err(|e| IngestError::Parent(e.to_string()))?;
    let record = ItemRecord {
        id: meta.id.clone(),
        title: meta.title.unwrap_or_else(|| meta.id.to_string()),
        version,
        key_version: state.config.key_version,
        plaintext_len: layout.plaintext_len(),
        object_len: layout.object_len(),
        chunk_size: header.chunk_size,
        chunk_count: layout.chunk_count(),
        root: hex::encode(header.digest_root),
        wrapped_content_key: state.keys.wrap_content_key(meta.id.as_str(), &key),
        level: meta.level,
        regions,
        price_cents: meta.price_cents.unwrap_or(399),
        published_at: now,
        public: meta.public.unwrap_or(false),
        policy,
        rating: meta.rating,
        presentation,
        previous: previous
            .map(|p| kept_versions(&p, now, version_retention(&state.config)))
            .unwrap_or_default(),
    };
    state.store.put_item(record.clone()).await?;
    state.catalog.forget();
    tracing::info!(item = %record.id, version, bytes = record.plaintext_len, object_key, "ingested");
    Ok(record)
}
