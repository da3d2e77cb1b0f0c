//! End-to-end tests: the whole network as real processes on loopback — main, parents, edge-host
//! running the real edge component, the player.
//!
//! One test binary per crate: each file below is a module, so the crate's integration tests link
//! once (less build time and disk than a binary per file). Run one file's tests with
//! `cargo nextest run --workspace -E 'test(/^FILE::/)'`.

mod edge_cache;
mod edge_choice;
mod edge_component;
mod edge_trust;
mod fuzz_corpus;
mod groups;
mod guests;
mod key_rotation;
mod network;
mod public_objects;
mod restart;
mod revocation;
mod site_browser;
mod stalled_readers;
mod stuck_parent;
mod two_mains;
