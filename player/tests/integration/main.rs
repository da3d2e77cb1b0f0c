//! Integration tests of the player: resumable downloads and the command line.
//!
//! One test binary per crate: each file below is a module, so the crate's integration tests link
//! once (less build time and disk than a binary per file). Run one file's tests with
//! `cargo nextest run --workspace -E 'test(/^FILE::/)'`.

mod cli_play;
mod download;
