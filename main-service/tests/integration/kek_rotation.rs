//! `main-service rewrap-keys` as an operator runs it with main stopped (the embedded store is
//! one process's): content keys and generated signing keys sealed under the old key-encryption
//! key are sealed under the new one, a second run finds nothing to do, and without a previous key
//! the command refuses with what to set.

use crate::common;

use std::process::Command;
use std::sync::Arc;

use main_service::keys::Keys;
use main_service::records::SigningKeyRecord;
use main_service::store::{EmbeddedStore, Store};
use protocol::ContentKey;

const OLD: &str = "1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a";
const NEW: &str = "2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b";

fn rewrap(config: &std::path::Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_main-service"))
        .arg("--config")
        .arg(config)
        .arg("rewrap-keys")
        .env("RUST_LOG", "warn")
        .output()
        .unwrap()
}

#[tokio::test]
async fn rewrap_keys_reseals_every_stored_secret_once() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // State written under the old key: two items and a generated signing key.
    let film_key = ContentKey::generate();
    {
        let state = common::state(&data, &["film", "doc"]).await;
        let old = Keys::load(&data, Some(OLD), None).unwrap();
        let mut film = state.store.item("film").await.unwrap().unwrap();
        film.wrapped_content_key = old.wrap_content_key("film", &film_key);
        state.store.put_item(film).await.unwrap();
        let mut doc = state.store.item("doc").await.unwrap().unwrap();
        doc.wrapped_content_key = old.wrap_content_key("doc", &ContentKey::generate());
        state.store.put_item(doc).await.unwrap();
        let signer = protocol::Signer::generate("main-x");
        let key = SigningKeyRecord {
            epoch: 1,
            kid: "main-x".into(),
            active_from: 10,
            created_at: 1,
            wrapped_secret: Some(old.wrap_secret("signing-key/main-x", &signer.to_bytes())),
        };
        state.store.add_signing_key(0, key).await.unwrap();
    }
    let base = common::CONFIG.replace(
        "data_dir = \"/unused\"",
        &format!("data_dir = {data:?}\nkey_encryption_key = \"{NEW}\""),
    );

    // Without the previous key there is nothing to open the old secrets with.
    let config = dir.path().join("main.toml");
    std::fs::write(&config, &base).unwrap();
    let out = rewrap(&config);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("previous_key_encryption_key"), "{stderr}");

    let rotating = base.replace(
        &format!("key_encryption_key = \"{NEW}\""),
        &format!("key_encryption_key = \"{NEW}\"\nprevious_key_encryption_key = \"{OLD}\""),
    );
    std::fs::write(&config, &rotating).unwrap();
    let out = rewrap(&config);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["items_resealed"], 2, "{report}");
    assert_eq!(report["signing_keys_resealed"], 1, "{report}");
    let again: serde_json::Value = serde_json::from_slice(&rewrap(&config).stdout).unwrap();
    assert_eq!(again["items_resealed"], 0, "{again}");
    assert_eq!(again["items_current"], 2, "{again}");
    assert_eq!(again["signing_keys_current"], 1, "{again}");

    // The new key alone opens everything now.
    let store: Arc<dyn Store> = Arc::new(EmbeddedStore::open(&data.join("main.redb")).unwrap());
    let new = Keys::load(&data, Some(NEW), None).unwrap();
    let film = store.item("film").await.unwrap().unwrap();
    assert_eq!(
        new.unwrap_content_key("film", &film.wrapped_content_key)
            .unwrap(),
        film_key
    );
    let ring = store.signing_keys().await.unwrap();
    assert!(
        new.unwrap_secret(
            "signing-key/main-x",
            ring[0].wrapped_secret.as_ref().unwrap()
        )
        .is_some()
    );
}
