//! The edge ↔ main calls: authorize a download, and get fill sources for prefill.
//!
//! Both are made by an authenticated edge (`X-Edge-Id` + `Authorization: Bearer SECRET`); the
//! client IP in an [`AuthorizeRequest`] is the one the edge saw on its socket.

use serde::{Deserialize, Serialize};

use crate::ids::ItemId;

/// An edge asks whether a client may download.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorizeRequest {
    /// The download token from the URL.
    pub token: String,
    /// The item in the URL path.
    pub item: ItemId,
    /// The client's IP address as the edge saw it.
    pub client_ip: String,
    /// The client's download-session name (`sid` query parameter), if any.
    pub session_hint: Option<String>,
}

/// What an edge needs to know about a sealed object to serve and verify it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectInfo {
    pub item: ItemId,
    pub version: u32,
    /// Total length of the sealed object.
    pub object_len: u64,
    pub chunk_size: u32,
    pub plaintext_len: u64,
    /// Hex digest root (authenticates header, digest list and chunks).
    pub root: String,
}

/// A place to fetch the object from: a presigned GET URL on one parent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Source {
    pub parent: String,
    pub region: String,
    pub url: String,
}

/// Main lets a download session proceed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    /// The download session this grant belongs to.
    pub session_id: String,
    /// Whether this request started a new session (and spent a use).
    pub new_session: bool,
    /// Uses left on the token after this one.
    pub uses_left: u32,
    pub object: ObjectInfo,
    /// Parents to fill from, nearest first.
    pub sources: Vec<Source>,
    /// Unix second until which the session (and the source URLs) are valid.
    pub expires_at: u64,
}

/// Why main refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DenialReason {
    BadToken,
    NotPurchased,
    RegionDenied,
    UnknownItem,
    UsesExhausted,
    RateLimited,
    EdgeUnauthorized,
    /// An operator revoked the token or its licence.
    Revoked,
}

impl DenialReason {
    /// The HTTP status that carries this denial, to the edge and from the edge to the client.
    pub fn status(self) -> u16 {
        match self {
            DenialReason::BadToken | DenialReason::EdgeUnauthorized => 401,
            DenialReason::NotPurchased | DenialReason::RegionDenied | DenialReason::Revoked => 403,
            DenialReason::UnknownItem => 404,
            DenialReason::UsesExhausted => 410,
            DenialReason::RateLimited => 429,
        }
    }

    /// The code used in JSON error bodies.
    pub fn code(self) -> &'static str {
        match self {
            DenialReason::BadToken => "bad_token",
            DenialReason::NotPurchased => "not_purchased",
            DenialReason::RegionDenied => "region_denied",
            DenialReason::UnknownItem => "unknown_item",
            DenialReason::UsesExhausted => "uses_exhausted",
            DenialReason::RateLimited => "rate_limited",
            DenialReason::EdgeUnauthorized => "edge_unauthorized",
            DenialReason::Revoked => "revoked",
        }
    }
}

/// Main refuses, with a reason and a message the customer can act on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Denial {
    #[serde(rename = "error")]
    pub reason: DenialReason,
    pub message: String,
}

impl Denial {
    /// A denial with a message.
    pub fn new(reason: DenialReason, message: impl Into<String>) -> Self {
        Self {
            reason,
            message: message.into(),
        }
    }
}

/// An edge asks where to prefill an item from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FillSourcesRequest {
    pub item: ItemId,
}

/// An edge asks for a public object (a poster, a trailer: `GET /v1/public/{item}` at the edge,
/// no token), to serve it from its other zone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicGrantRequest {
    pub item: ItemId,
}

/// Main lets an edge serve a public object: where to fill it from, what verifies it, and its
/// content key (hex), with which the edge opens the chunks it serves to browsers. The key is
/// no secret for a public object: anyone may fetch the plaintext from an edge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicGrant {
    pub object: ObjectInfo,
    pub sources: Vec<Source>,
    pub content_key: String,
    /// Unix second until which the presigned sources are valid; the edge asks again after.
    pub expires_at: u64,
    /// The object's media type (`image/svg+xml`, `video/mp4`, …), which the edge sends as its
    /// `Content-Type`; absent: `application/octet-stream`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
}

/// Presigned sources for prefill.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FillSources {
    pub object: ObjectInfo,
    pub sources: Vec<Source>,
    pub expires_at: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn denial_json_carries_code() {
        let d = Denial::new(DenialReason::UsesExhausted, "no uses left");
        let j = serde_json::to_string(&d).unwrap();
        assert_eq!(j, r#"{"error":"uses_exhausted","message":"no uses left"}"#);
        assert_eq!(d.reason.status(), 410);
    }
}

/// `POST /v1/edge/heartbeat`: how an edge is, every heartbeat interval. Main skips an edge
/// whose last heartbeat is older than three intervals when it chooses where a client downloads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Heartbeat {
    /// The edge's software version.
    pub version: String,
    /// `ok`, or `degraded` (serving what it can; `reasons` say why).
    pub status: String,
    #[serde(default)]
    pub reasons: Vec<String>,
    /// Client connections open now, and the most it takes.
    pub open_connections: u64,
    pub max_connections: u64,
    /// Cache hits over hits and misses since the edge started (`None` before any lookup).
    #[serde(default)]
    pub hit_ratio: Option<f64>,
    /// Each zone's budget and use, as its last maintenance call counted them.
    #[serde(default)]
    pub zones: Vec<ZoneUse>,
    /// Cache lookups (hits and misses), hits, and bytes served to clients since the edge
    /// started: main keeps what grew between heartbeats as the edge's day of history.
    #[serde(default)]
    pub lookups: u64,
    #[serde(default)]
    pub hits: u64,
    #[serde(default)]
    pub served_bytes: u64,
}

/// One cache zone's use, in a [`Heartbeat`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZoneUse {
    pub zone: String,
    pub budget: u64,
    pub used: u64,
}

impl Heartbeat {
    /// Open connections over the most the edge takes (0 when it states no maximum).
    pub fn load(&self) -> f64 {
        if self.max_connections == 0 {
            0.0
        } else {
            self.open_connections as f64 / self.max_connections as f64
        }
    }
}
