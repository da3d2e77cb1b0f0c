//! End-to-end harness: starts the local network as real processes on loopback and drives it
//! over HTTP, as the launcher (`local-network`) and the end-to-end tests do.
//!
//! - [`demo`]: the demo catalog (with generated posters and a sound clip) and its media.
//! - [`process`]: one child process, awaited by its `listening on` line, killed on drop.
//! - [`lambda`]: a local Lambda Runtime API and a function binary run against it.
//! - [`moto`]: a `moto` server (local DynamoDB, S3 and Secrets Manager) on port 0.
//! - [`network`]: parents, main and edges wired together, plus ingest, sync and player helpers.
//! - [`terraform`]: `terraform/` parsed as Terraform reads it, for the tests that hold it to the
//!   names the code uses.

pub mod demo;
pub mod lambda;
pub mod moto;
pub mod network;
pub mod process;
pub mod terraform;

pub use network::{Network, Options};
