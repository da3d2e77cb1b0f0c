//! Public objects (`GET|HEAD /v1/public/{item}`, no token): posters, trailers, clips, served from
//! the *other* cache zone.
//!
//! Main's public grant ([`protocol::PublicGrant`]: sources, the root, the content key) is kept in
//! the store under [`public_key`] until shortly before it expires, so an object's requests ask main
//! once per grant. The sealed chunks are filled, verified and cached exactly as licensed ones (in
//! the other zone's budget), then opened with the content key: a public object leaves the edge as
//! plaintext, byte ranges over the plaintext, cacheable by browsers and shared caches for
//! [`PUBLIC_MAX_AGE_SECS`].

use std::ops::Range;

use protocol::{ContentKey, Denial, ItemId, Layout, PublicGrant};
use serde::{Deserialize, Serialize};

use crate::cache::Cache;
use crate::fill::{cache_get, cache_set};
use crate::meta::layout_of;
use crate::range::RangeChoice;
use crate::reply::{ContentHead, EdgeError, range_head};

/// How long browsers and shared caches may keep a public object (`Cache-Control: public,
/// max-age=…`). An object version never changes (a new version has a new ETag), so this only
/// bounds how long a withdrawn poster lingers in caches downstream.
pub const PUBLIC_MAX_AGE_SECS: u64 = 3600;

/// Seconds before its expiry that a kept grant is no longer used: its presigned sources must
/// outlast the fill that uses them.
const EXPIRY_MARGIN_SECS: u64 = 60;

/// Where the public grant of `item` is kept.
pub fn public_key(item: &ItemId) -> String {
    format!("public/{item}")
}

#[derive(Serialize, Deserialize)]
struct Kept {
    grant: PublicGrant,
}

/// The kept grant for `item`, if still usable at `now`.
pub fn kept_grant<C: Cache>(cache: &C, item: &ItemId, now: u64) -> Option<PublicGrant> {
    let kept: Kept = serde_json::from_slice(&cache_get(cache, &public_key(item))?).ok()?;
    (kept.grant.object.item == *item && now + EXPIRY_MARGIN_SECS < kept.grant.expires_at)
        .then_some(kept.grant)
}

/// Keeps `grant` for its object's item.
pub fn keep_grant<C: Cache>(cache: &C, grant: &PublicGrant) {
    let kept = Kept {
        grant: grant.clone(),
    };
    let bytes = serde_json::to_vec(&kept).expect("plain struct serializes");
    cache_set(cache, &public_key(&grant.object.item), &bytes);
}

/// `POST /v1/edge/public` answered `status` with `body`: the grant for `item`, 404 when main
/// has no public object of that id, main's denial (e.g. the region) otherwise.
pub fn public_grant_from(
    status: u16,
    body: &[u8],
    item: &ItemId,
) -> Result<PublicGrant, EdgeError> {
    match status {
        200 => {
            let grant: PublicGrant = serde_json::from_slice(body)
                .map_err(|e| EdgeError::MainFailed(format!("public grant: {e}")))?;
            if grant.object.item != *item {
                return Err(EdgeError::MainFailed(format!(
                    "public grant for {} when {item} was asked",
                    grant.object.item
                )));
            }
            layout_of(&grant.object).map_err(|e| EdgeError::MainFailed(e.to_string()))?;
            content_key(&grant)?;
            Ok(grant)
        }
        404 => Err(EdgeError::NotFound),
        400..=499 => match serde_json::from_slice::<Denial>(body) {
            Ok(denial) => Err(EdgeError::Denied { status, denial }),
            Err(e) => Err(EdgeError::MainFailed(format!("public {status}: {e}"))),
        },
        _ => Err(EdgeError::MainFailed(format!("public answered {status}"))),
    }
}

/// The grant's content key.
pub fn content_key(grant: &PublicGrant) -> Result<ContentKey, EdgeError> {
    let bytes: [u8; 32] = hex::decode(&grant.content_key)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| EdgeError::MainFailed("public grant: content key is not 32 bytes".into()))?;
    Ok(ContentKey(bytes))
}

/// The ETag of a public object: its quoted digest root, as for sealed objects (a public object is
/// another representation, so it carries a distinct prefix).
pub fn public_etag(grant: &PublicGrant) -> String {
    format!("\"p-{}\"", grant.object.root)
}

/// The head of a 200/206 answer with plaintext bytes `choice` of the object; `hit` says whether
/// every chunk came from the cache.
pub fn public_head(
    grant: &PublicGrant,
    choice: &RangeChoice,
    hit: bool,
) -> Result<ContentHead, EdgeError> {
    let mut head = range_head(
        grant.object.plaintext_len,
        choice,
        public_etag(grant),
        public_cache_control(),
        hit,
    )?;
    if let Some(media_type) = &grant.media_type {
        for (name, value) in &mut head.headers {
            if name == "content-type" {
                value.clone_from(media_type);
            }
        }
    }
    // Opened on its own (not as an image or video of a page), an object runs no script.
    head.headers
        .push(("content-security-policy".to_owned(), "sandbox".to_owned()));
    Ok(head)
}

fn public_cache_control() -> String {
    format!("public, max-age={PUBLIC_MAX_AGE_SECS}")
}

/// The head of a 304 answer for a public object.
pub fn public_not_modified(grant: &PublicGrant) -> ContentHead {
    ContentHead {
        status: 304,
        headers: vec![
            ("etag".to_owned(), public_etag(grant)),
            ("cache-control".to_owned(), public_cache_control()),
            ("accept-ranges".to_owned(), "bytes".to_owned()),
        ],
        body: 0..0,
    }
}

/// The chunks plaintext `range` covers, each with the part of its plaintext to send, in order.
pub fn plain_pieces(layout: &Layout, range: Range<u64>) -> Vec<(u64, Range<usize>)> {
    layout
        .chunks_for_plaintext(range.clone())
        .map(|index| {
            let chunk = layout.plaintext_chunk_range(index);
            let from = range.start.max(chunk.start) - chunk.start;
            let to = range.end.min(chunk.end) - chunk.start;
            (index, from as usize..to as usize)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::MemoryCache;
    use crate::testing::TestObject;

    fn grant(o: &TestObject, expires_at: u64) -> PublicGrant {
        PublicGrant {
            object: o.info.clone(),
            sources: vec![],
            content_key: hex::encode([7u8; 32]),
            expires_at,
            media_type: None,
        }
    }

    #[test]
    fn a_public_object_carries_its_media_type_and_runs_no_script() {
        let o = TestObject::new("poster", 6);
        let mut g = grant(&o, 100);
        let header = |head: &ContentHead, name: &str| {
            head.headers
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        let plain = public_head(&g, &RangeChoice::Whole, true).unwrap();
        assert_eq!(
            header(&plain, "content-type").as_deref(),
            Some("application/octet-stream")
        );
        g.media_type = Some("image/svg+xml".into());
        let typed = public_head(&g, &RangeChoice::Whole, true).unwrap();
        assert_eq!(
            header(&typed, "content-type").as_deref(),
            Some("image/svg+xml")
        );
        assert_eq!(
            header(&typed, "content-security-policy").as_deref(),
            Some("sandbox")
        );
    }

    #[test]
    fn a_grant_is_kept_until_shortly_before_it_expires() {
        let o = TestObject::new("poster", 5000);
        let cache = MemoryCache::default();
        let item = &o.info.item;
        assert!(kept_grant(&cache, item, 1000).is_none());
        keep_grant(&cache, &grant(&o, 2000));
        assert!(kept_grant(&cache, item, 1000).is_some());
        assert!(kept_grant(&cache, item, 1939).is_some());
        assert!(
            kept_grant(&cache, item, 1940).is_none(),
            "inside the margin"
        );
        let other = ItemId::parse("other").unwrap();
        assert!(kept_grant(&cache, &other, 1000).is_none());
    }

    #[test]
    fn main_answers_are_interpreted() {
        let o = TestObject::new("poster", 5000);
        let g = grant(&o, 2000);
        let item = &o.info.item;
        let ok = public_grant_from(200, &serde_json::to_vec(&g).unwrap(), item).unwrap();
        assert_eq!(ok, g);
        assert!(matches!(
            public_grant_from(404, b"{}", item),
            Err(EdgeError::NotFound)
        ));
        let denial = br#"{"error":"region_denied","message":"not in eu"}"#;
        assert!(matches!(
            public_grant_from(403, denial, item),
            Err(EdgeError::Denied { status: 403, .. })
        ));
        let mut bad = g.clone();
        bad.content_key = "abcd".into();
        assert!(public_grant_from(200, &serde_json::to_vec(&bad).unwrap(), item).is_err());
        let other = ItemId::parse("other").unwrap();
        assert!(public_grant_from(200, &serde_json::to_vec(&g).unwrap(), &other).is_err());
        assert!(public_grant_from(500, b"", item).is_err());
    }

    #[test]
    fn heads_are_public_and_over_the_plaintext() {
        let o = TestObject::new("poster", 5000);
        let g = grant(&o, 2000);
        let h = public_head(&g, &RangeChoice::Partial(10..20), false).unwrap();
        assert_eq!(h.status, 206);
        let get = |name: &str| {
            h.headers
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        assert_eq!(get("content-range").unwrap(), "bytes 10-19/5000");
        assert_eq!(get("cache-control").unwrap(), "public, max-age=3600");
        assert_eq!(get("etag").unwrap(), public_etag(&g));
        let whole = public_head(&g, &RangeChoice::Whole, true).unwrap();
        assert_eq!((whole.status, whole.body), (200, 0..5000));
        assert_eq!(public_not_modified(&g).status, 304);
    }

    #[test]
    fn plaintext_ranges_map_onto_chunks() {
        let layout = Layout::new(4096, 3 * 4096 + 10);
        assert_eq!(
            plain_pieces(&layout, 0..3 * 4096 + 10),
            vec![(0, 0..4096), (1, 0..4096), (2, 0..4096), (3, 0..10)]
        );
        assert_eq!(
            plain_pieces(&layout, 4000..4200),
            vec![(0, 4000..4096), (1, 0..104)]
        );
        assert_eq!(plain_pieces(&layout, 5..6), vec![(0, 5..6)]);
        assert!(plain_pieces(&layout, 7..7).is_empty());
    }
}
