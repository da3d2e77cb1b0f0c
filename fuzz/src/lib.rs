//! The bodies of the fuzz targets: each takes the fuzzer's bytes, feeds them to a parser of the
//! network the way its real caller does, and checks what the result promises. A panic is a
//! finding. The libFuzzer binaries in `fuzz_targets/` are one line each around these functions,
//! and the stable replay test (`tests/tests/integration/fuzz_corpus.rs`) runs every corpus file through them.
//!
//! - [`sealed`]: the sealed header and trailer, the edge's stored meta, range unsealing.
//! - [`signed`]: download tokens, licences and the manifest, as raw strings and as documents
//!   signed with a key the body holds, so that the claims parsers behind the signature are reached.
//! - [`edge`]: the edge's `Range` and route parsers.
//! - [`kv`]: the key codec of edge-host's key-value store on disk.
//!
//! Several bodies read a first byte as a mode (which entry point, or whether to repair digests
//! so that the input gets past a hash check); the rest of the input is the parser's input.

pub mod edge;
pub mod kv;
pub mod sealed;
pub mod signed;

pub use edge::{edge_range, edge_route};
pub use kv::kv_key;
pub use sealed::{sealed_header, unseal_range};
pub use signed::{licence, manifest, token};

/// A target's body: any bytes in, a panic on a finding.
pub type Body = fn(&[u8]);

/// Every target: its name (the corpus directory and the fuzz binary) and its body.
pub const TARGETS: &[(&str, Body)] = &[
    ("sealed_header", sealed_header),
    ("unseal_range", unseal_range),
    ("token", token),
    ("licence", licence),
    ("manifest", manifest),
    ("edge_range", edge_range),
    ("edge_route", edge_route),
    ("kv_key", kv_key),
];

/// The first byte of `data` as a mode, and the rest.
fn mode(data: &[u8]) -> (u8, &[u8]) {
    match data.split_first() {
        Some((&m, rest)) => (m, rest),
        None => (0, data),
    }
}

/// A little-endian `u64` from the first 8 bytes of `data` (missing bytes are 0), and the rest.
fn take_u64(data: &[u8]) -> (u64, &[u8]) {
    let n = data.len().min(8);
    let mut b = [0u8; 8];
    b[..n].copy_from_slice(&data[..n]);
    (u64::from_le_bytes(b), &data[n..])
}
