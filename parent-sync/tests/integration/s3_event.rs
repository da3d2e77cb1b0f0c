//! parent-sync on S3 events: a real S3 notification (`ObjectCreated:CompleteMultipartUpload`, as
//! a secondary bucket sends it when a replica lands) handed to the handler, and to the
//! `parent-sync` binary running as a Lambda function against a local Lambda Runtime API, with
//! real local parents behind both.

use crate::common;

use std::process::Command;
use std::time::Duration;

use aws_lambda_events::s3::S3Event;
use common::{LocalParent, item_key, put, read_all, sealed_object};
use e2e::lambda::{Answer, Function, RuntimeApi};
use parent_sync::ReplicateOptions;
use parent_sync::event::{EventError, handle};
use serde_json::Value;

const FIXTURE: &str = include_str!("../data/s3-object-created-multipart.json");

/// The fixture, naming `key` instead of its own object.
fn event_for(key: &str) -> String {
    FIXTURE.replace("items/film/v1.sealed", key)
}

#[tokio::test]
async fn an_object_created_event_replicates_and_verifies_that_object() {
    let primary_parent = LocalParent::start().await;
    let secondary_parent = LocalParent::start().await;
    let primary = primary_parent.store("primary").await;
    let secondaries = vec![secondary_parent.store("us-east-1").await];
    let film = sealed_object("film", 300_000);
    put(&primary, &item_key("film"), &film).await;
    // Another item on the primary: the event does not name it, so it stays where it is.
    put(&primary, &item_key("other"), &sealed_object("other", 1000)).await;

    let event: S3Event = serde_json::from_str(FIXTURE).expect("the fixture is an S3 event");
    let verify = ReplicateOptions {
        verify_present: true,
    };
    let lines = handle(&primary, &secondaries, verify, &event)
        .await
        .unwrap();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0].key, "items/film/v1.sealed");
    assert_eq!(lines[0].outcome, "copied");
    assert_eq!(lines[0].bytes, Some(film.len() as u64));
    assert_eq!(
        read_all(&secondaries[0], &item_key("film")).await.unwrap(),
        film
    );
    assert!(
        read_all(&secondaries[0], &item_key("other"))
            .await
            .is_none()
    );

    // The usual case in AWS: S3 replication put the replica there first; it is read back.
    let lines = handle(&primary, &secondaries, verify, &event)
        .await
        .unwrap();
    assert_eq!(lines[0].outcome, "verified");

    // A replica damaged in place is found by the read-back and copied again.
    let path = secondary_parent.object_path(&item_key("film"));
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[200_000] ^= 0x40;
    std::fs::write(&path, &bytes).unwrap();
    let lines = handle(&primary, &secondaries, verify, &event)
        .await
        .unwrap();
    assert_eq!(lines[0].outcome, "copied");
    assert_eq!(
        read_all(&secondaries[0], &item_key("film")).await.unwrap(),
        film
    );

    // An object the primary does not hold fails the invocation, so Lambda retries it.
    let missing: S3Event = serde_json::from_str(&event_for("items/ghost/v1.sealed")).unwrap();
    let err = handle(&primary, &secondaries, verify, &missing)
        .await
        .unwrap_err();
    assert!(matches!(err, EventError::Failed { failed: 1, .. }), "{err}");
    assert!(err.to_string().contains("items/ghost/v1.sealed"), "{err}");
}

#[test]
fn parent_sync_serves_s3_events_on_lambda() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (primary_parent, secondary_parent) =
        rt.block_on(async { (LocalParent::start().await, LocalParent::start().await) });
    let film = sealed_object("film", 300_000);
    rt.block_on(async {
        put(&primary_parent.store("p").await, &item_key("film"), &film).await;
    });
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("parent-sync.toml");
    let parent = |p: &LocalParent, name: &str, primary: bool| {
        let c = p.config(name, primary);
        format!(
            "[[parents]]\nname = {:?}\nregion = {:?}\nendpoint = {:?}\nbucket = {:?}\naccess_key = {:?}\nsecret_key = {:?}\nprimary = {primary}\n",
            c.name,
            c.region,
            c.endpoint.unwrap(),
            c.bucket,
            c.access_key.unwrap(),
            c.secret_key.unwrap(),
        )
    };
    std::fs::write(
        &config,
        format!(
            "{}\n{}",
            parent(&primary_parent, "eu-west-1", true),
            parent(&secondary_parent, "us-east-1", false)
        ),
    )
    .unwrap();

    let api = RuntimeApi::start().unwrap();
    // Lambda runs `bootstrap` with no arguments; the settings come from the environment.
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_parent-sync"));
    cmd.env("PARENT_SYNC_CONFIG", &config)
        .env("PARENT_SYNC_VERIFY_PRESENT", "true")
        .env("RUST_LOG", "info");
    let function = Function::start(&api, cmd, &dir.path().join("parent-sync.log")).unwrap();
    let deadline = Duration::from_secs(60);

    let answer = api.invoke(FIXTURE.as_bytes(), deadline).unwrap();
    let body = answer
        .response()
        .unwrap_or_else(|e| panic!("{e:#}\n{}", function.log()));
    let lines: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(lines[0]["key"], "items/film/v1.sealed", "{lines}");
    assert_eq!(lines[0]["secondary"], "us-east-1");
    assert_eq!(lines[0]["outcome"], "copied");
    let copy = rt
        .block_on(async { read_all(&secondary_parent.store("s").await, &item_key("film")).await });
    assert_eq!(copy.unwrap(), film);
    let again = api.invoke(FIXTURE.as_bytes(), deadline).unwrap();
    let lines: Value = serde_json::from_slice(&again.response().unwrap()).unwrap();
    assert_eq!(lines[0]["outcome"], "verified", "{lines}");

    // A failed copy fails the invocation (Lambda then retries, and the dead-letter queue keeps
    // the event).
    match api
        .invoke(event_for("items/ghost/v1.sealed").as_bytes(), deadline)
        .unwrap()
    {
        Answer::Error { body, .. } => {
            let error: Value = serde_json::from_str(&body).unwrap();
            assert_eq!(error["errorType"], "ReplicationFailed", "{body}");
            let message = error["errorMessage"].as_str().unwrap();
            assert!(message.contains("items/ghost/v1.sealed"), "{body}");
        }
        other => panic!("expected an error, got {other:?}"),
    }

    // Logs are JSON lines.
    let log = function.log();
    let lines: Vec<Value> = log
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(
        lines
            .iter()
            .any(|l| l["fields"]["message"] == "object created"),
        "{log}"
    );
}
