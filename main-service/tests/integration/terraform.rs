//! The Terraform tree against the code: every `.tf` file parses, and the names main relies on —
//! the table's key and index attributes, the environment variables main reads, the secrets'
//! variable names, the config file rendered into main's layer — are the ones `terraform/`
//! declares. A rename on either side fails here, not at the first cold start in the cloud.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::path::Path;

use e2e::terraform::{self, literal_keys, local, optional_defaults, render, string, value};
use main_service::Config;
use main_service::config::StoreKind;
use main_service::secrets::{self, SecretIds};
use main_service::store::dynamodb::schema;
use serde_json::json;

/// The environment variables main reads: its config overrides and the secrets' locations (both
/// recorded by asking the code), `MAIN_CONFIG` (main's `--config`) and `RUST_LOG`.
fn names_main_reads() -> BTreeSet<String> {
    let asked = RefCell::new(BTreeSet::new());
    let record = |name: &str| {
        asked.borrow_mut().insert(name.to_owned());
        None
    };
    let mut config =
        Config::from_toml("data_dir = \"/tmp\"\nparents = []", Path::new("-")).unwrap();
    config.apply_env(record).unwrap();
    SecretIds::from_env(record).unwrap();
    let mut names = asked.into_inner();
    names.extend(["MAIN_CONFIG".to_owned(), "RUST_LOG".to_owned()]);
    names
}

#[test]
fn every_terraform_file_parses() {
    let files = terraform::parse_all(&terraform::root()).unwrap();
    assert!(files.len() >= 20, "found only {} .tf files", files.len());
}

#[test]
fn the_tables_attributes_are_the_codes() {
    let body = terraform::parse(&terraform::root().join("modules/state-table/main.tf")).unwrap();
    for (name, code) in [
        ("hash_key", schema::PK),
        ("range_key", schema::SK),
        ("gsi1_name", schema::GSI1),
        ("gsi1_hash_key", schema::GSI1_PK),
        ("gsi1_sort_key", schema::GSI1_SK),
        ("ttl_attribute", schema::TTL),
    ] {
        let declared = local(&body, name).and_then(string);
        assert_eq!(declared, Some(code), "local.{name} in modules/state-table");
    }
}

#[test]
fn mains_environment_holds_only_names_main_reads() {
    let reads = names_main_reads();
    let body = terraform::parse(&terraform::root().join("modules/main-service/main.tf")).unwrap();
    let environment = local(&body, "environment").expect("local.environment");
    let given: BTreeSet<String> = literal_keys(environment).into_iter().collect();
    let unread: Vec<_> = given.difference(&reads).collect();
    assert!(
        unread.is_empty(),
        "Terraform sets {unread:?}, main reads {reads:?}"
    );
    // What main needs on Lambda to find its config and its table.
    for needed in ["MAIN_CONFIG", "MAIN_STORE", "MAIN_DYNAMODB_TABLE"] {
        assert!(given.contains(needed), "Terraform does not set {needed}");
    }
}

#[test]
fn the_secrets_variables_are_the_ones_main_reads() {
    let body = terraform::parse(&terraform::root().join("modules/secrets/main.tf")).unwrap();
    let secrets_local = local(&body, "secrets").expect("local.secrets");
    let declared: BTreeSet<&str> = terraform::entries(secrets_local)
        .into_iter()
        .filter_map(|(_, secret)| {
            terraform::entries(secret)
                .into_iter()
                .find(|(k, _)| k == "env")
                .and_then(|(_, v)| string(v))
        })
        .collect();
    let code: BTreeSet<&str> = [
        secrets::SIGNING_KEY_ENV,
        secrets::KEY_ENCRYPTION_KEY_ENV,
        secrets::ADMIN_TOKEN_ENV,
        secrets::EDGE_SECRETS_ENV,
    ]
    .into();
    assert_eq!(declared, code);
}

/// The config file Terraform renders into main's layer, with the module's own defaults for
/// `settings` and a three-region network, is one main accepts: every key known, and — with
/// the secrets and the environment Terraform gives — valid.
#[test]
fn the_rendered_config_is_one_main_accepts() {
    let module = terraform::root().join("modules/main-service");
    let variables = terraform::parse(&module.join("variables.tf")).unwrap();
    let settings = optional_defaults(&variables, "settings").unwrap();
    assert!(settings.contains_key("token_ttl_secs"), "{settings:?}");
    let parents = json!([
        {"name": "eu-west-1", "region": "eu-west-1", "bucket": "cdn-parents-eu-west-1", "primary": true},
        {"name": "us-east-1", "region": "us-east-1", "bucket": "cdn-parents-us-east-1", "primary": false},
        {"name": "ap-southeast-1", "region": "ap-southeast-1", "bucket": "cdn-parents-ap-southeast-1", "primary": false},
    ]);
    let regions =
        json!({"eu-west-1": ["DE", "FR"], "us-east-1": ["US", "CA"], "ap-southeast-1": ["SG"]});
    let edges = json!([
        {"id": "edge-eu-1", "region": "eu-west-1", "url": "https://edge-eu-1.example.com"},
        {"id": "edge-us-1", "region": "us-east-1", "url": "https://edge-us-1.example.com"},
    ]);
    let text = render(
        &module.join("templates/main.toml.tftpl"),
        &[
            ("data_dir", value(json!("/tmp/main"))),
            ("settings", terraform::Value::Object(settings.clone())),
            ("regions", value(regions)),
            ("parents", value(parents)),
            ("edges", value(edges)),
        ],
    )
    .unwrap();
    let mut config = Config::from_toml(&text, Path::new("main.toml"))
        .unwrap_or_else(|e| panic!("{e}\n--- rendered:\n{text}"));
    assert_eq!(config.parents.len(), 3);
    assert_eq!(config.edges.len(), 2);
    assert_eq!(
        Some(config.tokens.ttl_secs),
        settings["token_ttl_secs"].as_u64()
    );

    // The environment and secrets Terraform wires, as main applies them at cold start.
    let environment = |name: &str| match name {
        "MAIN_STORE" => Some("dynamodb".to_owned()),
        "MAIN_DYNAMODB_TABLE" => Some("cdn-main".to_owned()),
        "MAIN_DATA_DIR" => Some("/tmp/main".to_owned()),
        _ => None,
    };
    config.apply_env(environment).unwrap();
    assert_eq!(config.store, StoreKind::Dynamodb);
    let edge_secrets = config
        .edges
        .iter()
        .map(|e| (e.id.clone(), format!("{}-credential-0123456789", e.id)))
        .collect();
    config
        .apply_secrets(secrets::Secrets {
            admin_token: Some("an-admin-token-of-32-characters!".into()),
            key_encryption_key: Some("ab".repeat(32)),
            previous_key_encryption_key: None,
            signing_key: None,
            edge_secrets: Some(edge_secrets),
        })
        .unwrap();
    config
        .validate()
        .unwrap_or_else(|e| panic!("{e}\n--- rendered:\n{text}"));
}

/// The parent buckets Terraform names (`PREFIX-REGION`, in `modules/parents`) are names the
/// code accepts, for the longest prefix `bucket_prefix` allows and the longest region names.
#[test]
fn the_parent_bucket_names_are_ones_the_code_accepts() {
    let body = terraform::parse(&terraform::root().join("modules/parents/main.tf")).unwrap();
    // 37 characters: the most `bucket_prefix`'s validation lets through.
    let prefix = format!("a{}", "0".repeat(36));
    let regions = ["ap-southeast-1", "ap-northeast-3", "us-gov-west-1"];
    let vars = [
        ("var", value(json!({ "bucket_prefix": prefix }))),
        (
            "local",
            value(json!({ "regions": {
                "primary": regions[0], "secondary1": regions[1], "secondary2": regions[2],
            }})),
        ),
    ];
    let mut names = Vec::new();
    for module in body.blocks().filter(|b| b.identifier() == "module") {
        if let Some(attr) = module
            .body()
            .attributes()
            .find(|a| a.key() == "bucket_name")
        {
            let name = terraform::evaluate(attr.expr(), &vars).unwrap();
            names.push(name.as_str().expect("a string").to_owned());
        }
    }
    assert_eq!(names.len(), 3, "{names:?}");
    for bucket in names {
        let parent = parent_sync::ParentConfig {
            name: "p".into(),
            region: "eu-west-1".into(),
            endpoint: None,
            bucket: bucket.clone(),
            access_key: None,
            secret_key: None,
            primary: true,
            connect_timeout_secs: 5,
            first_byte_timeout_secs: 30,
            idle_timeout_secs: 15,
        };
        parent
            .validate()
            .unwrap_or_else(|e| panic!("{bucket}: {e}"));
        // The access-log bucket beside it must fit S3's 63 characters too.
        assert!(format!("{bucket}-logs").len() <= 63, "{bucket}-logs");
    }
}
