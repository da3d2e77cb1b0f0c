//! The parent-sync function's Terraform against the code: the environment it is given holds only
//! names `parent-sync` reads (as its `--help` lists them), and the config file rendered into its
//! layer is one `parent-sync` accepts.

use std::collections::BTreeSet;
use std::process::Command;

use e2e::terraform::{self, literal_keys, local, render, value};
use parent_sync::SyncConfig;
use serde_json::json;

/// The environment variables `parent-sync` reads: those its `--help` names (`[env: NAME=]`, for
/// the top level and each subcommand), and `RUST_LOG`.
fn names_parent_sync_reads() -> BTreeSet<String> {
    let mut names = BTreeSet::from(["RUST_LOG".to_owned()]);
    for args in [&["--help"][..], &["watch", "--help"], &["scrub", "--help"]] {
        let out = Command::new(env!("CARGO_BIN_EXE_parent-sync"))
            .args(args)
            .output()
            .unwrap();
        let help = String::from_utf8_lossy(&out.stdout);
        for piece in help.split("[env: ").skip(1) {
            let name: String = piece
                .chars()
                .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
                .collect();
            names.insert(name);
        }
    }
    names
}

#[test]
fn the_functions_environment_holds_only_names_parent_sync_reads() {
    let reads = names_parent_sync_reads();
    assert!(reads.contains("PARENT_SYNC_CONFIG"), "{reads:?}");
    let body = terraform::parse(&terraform::root().join("modules/parent-sync/main.tf")).unwrap();
    let environment = local(&body, "environment").expect("local.environment");
    let given: BTreeSet<String> = literal_keys(environment).into_iter().collect();
    let unread: Vec<_> = given.difference(&reads).collect();
    assert!(
        unread.is_empty(),
        "Terraform sets {unread:?}; parent-sync reads {reads:?}"
    );
    assert!(given.contains("PARENT_SYNC_CONFIG"), "{given:?}");
}

#[test]
fn the_rendered_config_is_one_parent_sync_accepts() {
    let module = terraform::root().join("modules/parent-sync");
    let parents = json!([
        {"name": "eu-west-1", "region": "eu-west-1", "bucket": "cdn-parents-eu-west-1", "primary": true},
        {"name": "us-east-1", "region": "us-east-1", "bucket": "cdn-parents-us-east-1", "primary": false},
    ]);
    let text = render(
        &module.join("templates/parent-sync.toml.tftpl"),
        &[("parents", value(parents))],
    )
    .unwrap();
    let config = SyncConfig::parse(&text).unwrap_or_else(|e| panic!("{e}\n--- rendered:\n{text}"));
    config
        .validate()
        .unwrap_or_else(|e| panic!("{e}\n--- rendered:\n{text}"));
    assert_eq!(config.parents.len(), 2);
    assert_eq!(config.parents[0].bucket, "cdn-parents-eu-west-1");
}
