//! The edge function: a Spin component (`wasm32-wasip2`) that serves sealed objects to customers.
//!
//! A download request (`GET|HEAD /v1/content/{item}?token=JWT[&sid=S]`) is checked locally
//! against main's public keys, authorized by main (which counts uses and checks licences and
//! regions), then served chunk by chunk from the key-value cache, filling missing chunks from the
//! parents named in main's grant and verifying every byte against the object's digest root before
//! it is cached or sent. `POST /v1/internal/maintain` (signed, called on a schedule) keeps each
//! cache zone within its byte budget — evicting in the policy's order, pinning what the signed
//! manifest pins to this edge's region, purging what it withdraws — and then prefills the pins
//! (`POST /v1/internal/prefill` is the same call). The request path never stores past a budget.
//! Contracts: `docs/interfaces.md`; byte formats: `docs/formats.md`.
//!
//! Everything but the Spin glue compiles natively and is unit-tested natively:
//!
//! - [`config`]: the component's Spin variables, validated.
//! - [`route`]: which endpoint a request is for, its query, the client address.
//! - [`range`]: the `Range`/`If-Range` headers against an object length.
//! - [`reply`]: error replies and the headers of a content response.
//! - [`cache`]: cache keys and the [`Cache`] trait over the key-value store.
//! - [`meta`]: an object's header and digest list, verified against the root from main.
//! - [`plan`]: which header, chunk and trailer bytes a byte range of the object consists of.
//! - [`origin`]: the [`Origin`] trait (ranged GETs on presigned parent URLs).
//! - [`fill`]: verified chunk and meta fills with failover across parents.
//! - [`lease`]: one fill per chunk: requests that miss a chunk being filled wait for it.
//! - [`serve`]: the body of a content response as a sequence of verified pieces, and the pump
//!   that writes them without letting a slow client slow the fill.
//! - [`main_api`]: main's answers (grant or denial, fill sources, JWKS), interpreted.
//! - [`grant`]: session grants cached at the edge, so one download session asks main once.
//! - [`keys`]: main's JWKS as cached here, and the local token check.
//! - [`public`]: public objects (`/v1/public/{item}`, no token): main's public grant kept, the
//!   plaintext served from the other zone.
//! - [`prefill`]: filling the items the manifest pins to this edge.
//! - [`policy`]: which items a zone keeps: the [`EvictionPolicy`] trait, LRU and the shipped LFU-DA.
//! - [`zone`]: the byte budget of each cache zone, kept on the request path by reserving before
//!   storing, and the download starts the request path records for the policy.
//! - [`maintain`]: the maintenance call: accesses into the policy, pins and purges from the
//!   manifest, watermark eviction, deletion of what was evicted.
//!
//! On `wasm32` the `spin` module binds these to Spin's HTTP, key-value and variables APIs.

pub mod cache;
pub mod config;
pub mod fill;
pub mod grant;
pub mod keys;
pub mod lease;
pub mod main_api;
pub mod maintain;
pub mod meta;
pub mod origin;
pub use protocol::plan;
pub mod policy;
pub mod prefill;
pub mod public;
pub mod range;
pub mod reply;
pub mod route;
pub mod serve;
pub mod zone;

#[cfg(target_arch = "wasm32")]
mod spin;

#[cfg(test)]
mod testing;

/// One log line on stderr, which Spin and edge-host collect.
pub(crate) fn log(args: std::fmt::Arguments<'_>) {
    eprintln!("edge-fn: {args}");
}

pub use cache::{Cache, CacheError, MemoryCache};
pub use config::{ConfigError, EdgeConfig};
pub use fill::{ChunkFiller, FillError};
pub use meta::{MetaError, ObjectMeta};
pub use origin::{ByteStream, FetchError, Origin};
pub use policy::{Admission, EvictionPolicy, ItemKey, PinError, Policy};
pub use range::RangeChoice;
pub use reply::{ContentHead, EdgeError, ErrorReply};
pub use route::Route;
pub use serve::BodyPieces;
