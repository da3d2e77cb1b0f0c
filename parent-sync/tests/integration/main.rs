//! Integration tests of parent-sync: the parent store behaviour, replication, scrub, timeouts, S3
//! events and the CLI.
//!
//! One test binary per crate: each file below is a module, so the crate's integration tests link
//! once (less build time and disk than a binary per file). Run one file's tests with
//! `cargo nextest run --workspace -E 'test(/^FILE::/)'`.

mod cli;
mod common;
mod limits;
mod replicate;
mod s3_event;
mod scrub;
mod store;
mod terraform;
mod timeouts;
