//! The edge cache's keys, and the *handoff*: how the edge component lets edge-host send a cached
//! response body itself.
//!
//! A component instance runs for one request and reads every cached chunk through the key-value
//! interface, copying it into and out of the sandbox and hashing it in wasm. For a response whose
//! chunks are all cached, edge-host can do the sending natively instead — but only the component
//! decides *whether* a client may have which bytes (token, grant, region, range). So:
//!
//! 1. edge-host offers the handoff on each request it passes to the component: request header
//!    [`OFFER_HEADER`] set to [`offer_token`] of the edge secret (any client-sent value is
//!    removed first). On Spin nobody sends it, and a client cannot forge it without the secret.
//! 2. The component authorizes the request as always. If the offer is genuine
//!    ([`offer_accepted`]) and the meta and every chunk of the range are cached, it answers with
//!    the content response's status and headers, minus `content-length`, plus
//!    [`HANDOFF_HEADER`], and a body that is a [`HandoffPlan`] in JSON (at most
//!    [`MAX_PLAN_BYTES`]).
//! 3. edge-host removes the header, sets `content-length` to the plan's length and sends the
//!    planned bytes from the store: header and trailer bytes from the object's meta, verified
//!    against the plan's root; chunk bytes verified against the digest list before they leave.
//!    Anything it cannot serve verified (a chunk gone or changed) it asks the component for
//!    again, without the offer, from that byte on — the component then refills and serves it.
//!
//!
//! **Session passes.** A plan may carry a [`SessionPass`]: the component's word that the grant
//! it holds for one (token, session, client) stays usable until a stated unix second. Until then
//! edge-host answers that session's later GETs itself — range, `If-Range`, `If-None-Match` and
//! headers worked out by the component's own plain functions — without an instance, and without
//! asking main: exactly as long as the component would have used its cached grant.
//!
//! `docs/interfaces.md` ("edge cache keys", "cached-body handoff") is the contract in prose.

use serde::{Deserialize, Serialize};

use crate::sealed::{self, Digest, HEADER_LEN, Header, SealedError};
use crate::{ItemId, ObjectInfo};

/// Header and digest list of an object version (`header || trailer`), verified before stored.
pub fn meta_key(item: &ItemId, version: u32) -> String {
    format!("meta/{item}/v{version}")
}

/// One sealed chunk, written only after its digest verified.
pub fn chunk_key(item: &ItemId, version: u32, index: u64) -> String {
    format!("chunk/{item}/v{version}/{index}")
}

/// Request header by which edge-host offers to send a cached body itself.
pub const OFFER_HEADER: &str = "x-edge-host-handoff";
/// Response header by which the component hands the body over: the body is a [`HandoffPlan`].
pub const HANDOFF_HEADER: &str = "x-edge-handoff";
/// The largest plan body edge-host reads.
pub const MAX_PLAN_BYTES: usize = 4096;

const OFFER_CONTEXT: &str = "cdn edge-host cached-body handoff offer v1";

/// The value of [`OFFER_HEADER`] for an edge with `edge_secret`.
pub fn offer_token(edge_secret: &str) -> String {
    hex::encode(blake3::derive_key(OFFER_CONTEXT, edge_secret.as_bytes()))
}

/// Whether `offered` is this edge's offer token (compared in constant time).
pub fn offer_accepted(offered: &str, edge_secret: &str) -> bool {
    let expected = blake3::Hash::from(blake3::derive_key(OFFER_CONTEXT, edge_secret.as_bytes()));
    blake3::Hash::from_hex(offered).is_ok_and(|got| got == expected)
}

/// What edge-host is to send: object bytes `start..end` of `item` version `version`, whose root
/// main vouched for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandoffPlan {
    pub item: ItemId,
    pub version: u32,
    /// The digest root, 64 hex digits.
    pub root: String,
    pub start: u64,
    pub end: u64,
    /// Later requests of the same session that edge-host may answer alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pass: Option<SessionPass>,
}

/// The grant of one download session, as far as edge-host may use it without the component:
/// requests whose (token, session, client) derive `key` (the component's grant cache key) may
/// have any bytes of `object` until unix second `until` — the earlier of the token's expiry and
/// the moment the component would ask main again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionPass {
    pub key: String,
    pub until: u64,
    pub object: ObjectInfo,
}

impl HandoffPlan {
    /// The plan of object bytes `body` of the object `info` describes.
    pub fn of(info: &ObjectInfo, body: std::ops::Range<u64>, pass: Option<SessionPass>) -> Self {
        Self {
            item: info.item.clone(),
            version: info.version,
            root: info.root.clone(),
            start: body.start,
            end: body.end,
            pass,
        }
    }

    /// The body's length.
    pub fn len(&self) -> u64 {
        self.end.saturating_sub(self.start)
    }

    /// Whether the body is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Stored meta (`header || trailer`) checked against a root: the header's root is `root` and
/// the digest list hashes to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedMeta {
    pub header: Header,
    pub digests: Vec<Digest>,
}

/// Why stored meta does not match the root.
#[derive(Debug, thiserror::Error)]
pub enum MetaCheckError {
    #[error(transparent)]
    Sealed(#[from] SealedError),
    #[error("the stored header's root is not the plan's")]
    OtherRoot,
}

impl CheckedMeta {
    /// Checks `stored` against `root` (hex).
    pub fn check(stored: &[u8], root: &str) -> Result<Self, MetaCheckError> {
        if stored.len() < HEADER_LEN {
            return Err(SealedError::BadHeader("stored meta is too short").into());
        }
        let (header_bytes, trailer) = stored.split_at(HEADER_LEN);
        let header = Header::decode(header_bytes)?;
        if !hex::encode(header.digest_root).eq_ignore_ascii_case(root) {
            return Err(MetaCheckError::OtherRoot);
        }
        let digests = sealed::verify_digest_list(&header, trailer)?;
        Ok(Self { header, digests })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_offer_is_bound_to_the_secret() {
        let token = offer_token("s3cret");
        assert!(offer_accepted(&token, "s3cret"));
        assert!(!offer_accepted(&token, "other"));
        assert!(!offer_accepted("", "s3cret"));
        assert!(!offer_accepted("1", "s3cret"));
        assert!(!offer_accepted(
            &token.to_uppercase().replace('A', "B"),
            "s3cret"
        ));
    }

    #[test]
    fn a_plan_fits_its_limit() {
        let plan = HandoffPlan {
            item: ItemId::parse(&"x".repeat(crate::ids::MAX_ITEM_ID_LEN)).unwrap(),
            version: u32::MAX,
            root: "f".repeat(64),
            start: u64::MAX,
            end: u64::MAX,
            pass: Some(SessionPass {
                key: format!("grant/{}", "f".repeat(64)),
                until: u64::MAX,
                object: ObjectInfo {
                    item: ItemId::parse(&"x".repeat(crate::ids::MAX_ITEM_ID_LEN)).unwrap(),
                    version: u32::MAX,
                    object_len: u64::MAX,
                    chunk_size: u32::MAX,
                    plaintext_len: u64::MAX,
                    root: "f".repeat(64),
                },
            }),
        };
        assert!(serde_json::to_vec(&plan).unwrap().len() < MAX_PLAN_BYTES);
    }
}
