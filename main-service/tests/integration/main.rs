//! Integration tests of main-service: its HTTP API in process and as a child process, the store
//! behaviour suite on both backends, secrets, Lambda.
//!
//! One test binary per crate: each file below is a module, so the crate's integration tests link
//! once (less build time and disk than a binary per file). Run one file's tests with
//! `cargo nextest run --workspace -E 'test(/^FILE::/)'`.

mod api;
mod common;
mod dynamodb_retries;
mod groups;
mod guests;
mod hostile_clients;
mod kek_rotation;
mod lambda;
mod money;
mod openapi;
mod rate_limits;
mod rejections;
mod secrets;
mod site;
mod store_behaviour;
mod terraform;
