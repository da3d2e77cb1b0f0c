//! Shared formats of the delivery network. No I/O: builds for native and `wasm32-wasip2`, used by
//! main, edges, parents and the player alike.
//!
//! - [`ids`]: item ids safe for paths, object keys and cache keys.
//! - [`sealed`]: the sealed object format v1 — header, chunk layout, digest list and root.
//! - [`seal`]: streaming sealing and unsealing (AES-256-GCM-SIV per chunk), range unsealing.
//! - [`sign`]: Ed25519 JWS signing and verification with key ids, JWKS.
//! - [`token`]: download tokens.
//! - [`licence`]: licences and the content key wrapped to a device (X25519 + HKDF + AEAD).
//! - [`manifest`]: the signed manifest of items, levels and regions.
//! - [`authorize`]: the edge ↔ main authorize and fill-source messages.
//! - [`internal`]: signed internal calls to an edge (prefill, maintenance).
//! - [`kv_name`]: the file name of a key-value key on disk.
//! - [`plan`]: which header, chunk and trailer bytes a byte range of a sealed object consists of.
//! - [`request_id`]: the id that follows one client request from edge-host to main.
//! - [`edge_cache`]: the edge cache's keys, and the handoff through which the edge component lets
//!   its host send cached chunks itself.
//!
//! `docs/formats.md` specifies the byte formats; `protocol/tests/vectors/` holds test vectors.

pub mod authorize;
pub mod edge_cache;
pub mod ids;
pub mod internal;
pub mod kv_name;
pub mod licence;
pub mod manifest;
pub mod plan;
pub mod request_id;
pub mod seal;
pub mod sealed;
pub mod sign;
pub mod token;

pub use authorize::{
    AuthorizeRequest, Denial, DenialReason, FillSources, FillSourcesRequest, Grant, Heartbeat,
    ObjectInfo, PublicGrant, PublicGrantRequest, Source, ZoneUse,
};
pub use ids::{InvalidItemId, ItemId};
pub use licence::{DeviceKey, Licence, LicenceError, Policy, Window};
pub use manifest::{Manifest, ManifestItem};
pub use seal::{ContentKey, Opener, SealParams, SealWriter};
pub use sealed::{Header, Layout, SealedError};
pub use sign::{Jwks, Signer, Verifier, unix_now};
pub use token::{DownloadToken, TokenError};

/// Random bytes from the operating system (WASI `random` on the edge).
///
/// # Panics
/// If the system has no random source, which no supported platform lacks.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).expect("system random source");
    b
}

/// A random identifier: 16 random bytes in hex.
pub fn random_id() -> String {
    hex::encode(random_bytes::<16>())
}
