//! Main's secrets read from AWS Secrets Manager, served locally by `moto` (started on port 0;
//! skipped with a visible line where moto is missing): the four secrets as the operator puts
//! them (docs/deploy-aws.md, step 4), and the errors for a missing, empty or malformed one —
//! which name the variable and the secret, never the value.

use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::config::{BehaviorVersion, Credentials, Region};
use e2e::moto::Moto;
use main_service::secrets::{self, SecretError, SecretIds};

fn client(moto: &Moto) -> Client {
    let config = aws_sdk_secretsmanager::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("eu-west-1"))
        .endpoint_url(&moto.url)
        .credentials_provider(Credentials::new("test", "test", None, None, "test"))
        .build();
    Client::from_conf(config)
}

/// Creates `name` holding `value` (no value when `None`) and returns its ARN.
async fn put(client: &Client, name: &str, value: Option<&str>) -> String {
    let out = client
        .create_secret()
        .name(name)
        .set_secret_string(value.map(Into::into))
        .send()
        .await
        .unwrap();
    out.arn.unwrap()
}

#[tokio::test]
async fn secrets_are_read_checked_and_never_repeated_in_errors() {
    let Some(moto) = Moto::start() else { return };
    let client = client(&moto);
    let pair = protocol::Signer::generate("k").to_bytes();
    let kek = "5a".repeat(32);
    let ids = SecretIds {
        signing_key: Some(put(&client, "cdn/main/signing-key", Some(&hex::encode(&pair))).await),
        key_encryption_key: Some(put(&client, "cdn/main/key-encryption-key", Some(&kek)).await),
        previous_key_encryption_key: Some(
            put(&client, "cdn/main/previous-kek", Some(&"6b".repeat(32))).await,
        ),
        admin_token: Some(
            put(
                &client,
                "cdn/main/admin-token",
                Some("admin-token-from-sm-0123"),
            )
            .await,
        ),
        edge_secrets: Some(
            put(
                &client,
                "cdn/main/edge-secrets",
                Some(r#"{"edge-eu-1": "edge-eu-1-secret-from-sm-0123"}"#),
            )
            .await,
        ),
    };
    let got = secrets::load(&client, &ids).await.unwrap();
    assert_eq!(got.signing_key.unwrap().0, pair);
    assert_eq!(got.key_encryption_key.as_deref(), Some(kek.as_str()));
    assert_eq!(
        got.previous_key_encryption_key,
        Some("6b".repeat(32)),
        "a key being rotated out is read too"
    );
    assert_eq!(got.admin_token.as_deref(), Some("admin-token-from-sm-0123"));
    assert_eq!(
        got.edge_secrets.unwrap()["edge-eu-1"],
        "edge-eu-1-secret-from-sm-0123"
    );

    // Only what is named is read.
    let only_admin = SecretIds {
        admin_token: ids.admin_token.clone(),
        ..SecretIds::default()
    };
    let got = secrets::load(&client, &only_admin).await.unwrap();
    assert!(got.signing_key.is_none() && got.edge_secrets.is_none());

    // A malformed value: the error names the variable and the secret, not the value.
    let bad_kek = "not-a-key-but-a-password";
    let ids_bad = SecretIds {
        key_encryption_key: Some(put(&client, "cdn/main/bad-kek", Some(bad_kek)).await),
        ..SecretIds::default()
    };
    let err = secrets::load(&client, &ids_bad).await.unwrap_err();
    assert!(matches!(err, SecretError::Malformed { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("MAIN_KEY_ENCRYPTION_KEY_SECRET_ARN") && text.contains("cdn/main/bad-kek"),
        "{text}"
    );
    assert!(!text.contains(bad_kek), "{text}");

    // A secret created empty (as Terraform leaves it) and one that does not exist.
    let empty = SecretIds {
        admin_token: Some(put(&client, "cdn/main/never-set", None).await),
        ..SecretIds::default()
    };
    let err = secrets::load(&client, &empty).await.unwrap_err();
    assert!(matches!(err, SecretError::Read { .. }), "{err}");
    assert!(
        err.to_string().contains("MAIN_ADMIN_TOKEN_SECRET_ARN"),
        "{err}"
    );
    let missing = SecretIds {
        edge_secrets: Some(
            "arn:aws:secretsmanager:eu-west-1:123456789012:secret:nope-AbCdEf".into(),
        ),
        ..SecretIds::default()
    };
    let err = secrets::load(&client, &missing).await.unwrap_err();
    assert!(
        matches!(err, SecretError::Read { .. }) && err.to_string().contains("nope-AbCdEf"),
        "{err}"
    );
}
