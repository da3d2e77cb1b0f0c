//! Parent stores: the tier that holds the full library, one S3 bucket per region.
//!
//! The primary parent receives sealed objects from main; the secondaries are copies of it (S3
//! cross-region replication in AWS, [`replicate()`] elsewhere). Locally each parent is an
//! S3-compatible server over a directory, so every tier talks to parents through the S3 API only
//! and the same client code runs against AWS and the local network.
//!
//! - [`config`]: [`ParentConfig`] (one parent) and [`SyncConfig`] (the `parent-sync` file).
//! - [`store`]: [`ParentStore`], the narrow S3 client: head, ranged and streaming get, list,
//!   delete, presigned GET URLs.
//! - `upload`: its streaming uploads (single put or multipart, one part in memory, aborted on
//!   error).
//! - [`server`]: the local parent (`parent-store` binary): `s3s-fs` with SigV4 checked.
//! - [`limits`]: the HTTP/1 accept loop with header, body and idle timeouts and a connection
//!   cap, shared by the local parent and main.
//! - [`verify`]: checks a sealed object held by a parent, chunk by chunk, against its digest root.
//! - [`mod@replicate`]: one replication round primary → secondaries with verification.
//! - [`mod@scrub`]: one scrub round: every copy on every parent read and verified against the
//!   digest root, damaged copies re-copied from a verified one; paced in bytes per second.
//! - [`mod@watch`]: replication and scrub rounds on their schedules (`parent-sync watch`).
//! - [`event`]: the AWS Lambda entry point: S3 "object created" notifications, each object
//!   replicated and verified.
//!
//! Object keys are `items/{item}/v{version}.sealed` (see `docs/interfaces.md`).

pub mod config;
pub mod event;
pub mod limits;
pub mod replicate;
pub mod scrub;
pub mod server;
pub mod store;
mod upload;
pub mod verify;
pub mod watch;

pub use config::{ConfigError, ParentConfig, SyncConfig};
pub use limits::{BodyError, RequestBody, ServerLimits};
pub use replicate::{
    ITEMS_PREFIX, ObjectOutcome, Outcome, ReplicateOptions, Report, replicate, replicate_key,
    replicate_with,
};
pub use scrub::{ScrubLine, ScrubOptions, ScrubOutcome, ScrubReport, scrub, scrub_every};
pub use server::{ServerConfig, ServerError, run, shutdown_signal};
pub use store::{ObjectMeta, ObjectReader, PART_SIZE, ParentStore, StoreError};
pub use verify::{VerifyError, verify_sealed};
pub use watch::{WatchOptions, watch};
