//! Every committed fuzz corpus file (`fuzz/corpus/<target>/`), replayed on stable Rust through the
//! same bodies the libFuzzer targets run (`cdn_fuzz`): an input that once crashed a parser, or
//! that reached a corner of one, keeps being checked by every test run. Fuzzing itself needs
//! nightly: `docs/reliability.md`, "Parsers under fuzzing".

use std::panic;
use std::path::Path;

fn replay(target: &str) {
    let body = cdn_fuzz::TARGETS
        .iter()
        .find(|(name, _)| *name == target)
        .map(|(_, body)| *body)
        .expect("a known target");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{} has no corpus", dir.display());
    let mut failed = Vec::new();
    for file in &files {
        let input = std::fs::read(file).expect("a readable corpus file");
        if panic::catch_unwind(|| body(&input)).is_err() {
            failed.push(file.display().to_string());
        }
    }
    assert!(
        failed.is_empty(),
        "{target}: {} of {} corpus files panic: {failed:#?}",
        failed.len(),
        files.len()
    );
}

#[test]
fn sealed_header() {
    replay("sealed_header");
}

#[test]
fn unseal_range() {
    replay("unseal_range");
}

#[test]
fn token() {
    replay("token");
}

#[test]
fn licence() {
    replay("licence");
}

#[test]
fn manifest() {
    replay("manifest");
}

#[test]
fn edge_range() {
    replay("edge_range");
}

#[test]
fn edge_route() {
    replay("edge_route");
}

#[test]
fn kv_key() {
    replay("kv_key");
}

#[test]
fn every_target_is_replayed() {
    let names: Vec<_> = cdn_fuzz::TARGETS.iter().map(|(name, _)| *name).collect();
    let source = include_str!("fuzz_corpus.rs");
    for name in names {
        assert!(
            source.contains(&format!("replay(\"{name}\")")),
            "{name} has no replay test here"
        );
    }
}
