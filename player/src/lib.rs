//! The customer's player: log in, rent, download through the signed URL with resume, bind the
//! licence to this device and player, enable it, and decrypt inside the viewing window.
//!
//! The `player` binary (`src/main.rs`, commands in `src/cli.rs`) is a thin layer over these
//! modules:
//!
//! - [`api`]: HTTP clients for main's JSON API and for ranged reads from an edge; one error type.
//! - [`store`]: the home directory — session, device identity, rentals, licences, downloads.
//! - [`download`]: range planning (≤ 8 MiB, chunk-aligned), resumable verified download.
//! - [`play`]: licence checks and streaming decryption of a downloaded object.
//! - [`clock`]: the clock (with the `PLAYER_NOW` test hook) and time formatting.

pub mod api;
pub mod clock;
pub mod download;
pub mod play;
pub mod store;

pub use api::{Api, ApiError, Edge, Item};
pub use download::{DownloadError, DownloadState};
pub use play::{PlayError, Playback};
pub use store::{Device, Home, Rental, Session};
