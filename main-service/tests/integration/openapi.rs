//! Main's OpenAPI document: served at `/openapi.json` as OpenAPI 3.1; every operation it
//! describes is a route main answers (and the router registers no route without a description,
//! by construction); `docs/interfaces.md` lists exactly the same operations, main's and the
//! edges'; and the document passes `openapi-spec-validator` (installed by `infra/setup.sh`;
//! without it the check prints a SKIPPED line).

use crate::common;

use std::collections::BTreeSet;
use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::connect_info::MockConnectInfo;
use axum::http::{Method, Request};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

async fn document(state: &main_service::AppState) -> Value {
    let resp = main_service::app(state.clone())
        .layer(MockConnectInfo(
            "127.0.0.1:40000".parse::<SocketAddr>().unwrap(),
        ))
        .oneshot(Request::get("/openapi.json").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    serde_json::from_slice(&bytes).unwrap()
}

/// Operations as `(METHOD, path)`.
type Operations = BTreeSet<(String, String)>;

/// `(METHOD, path)` of every operation in `doc`, split into main's and the edges'.
fn operations(doc: &Value) -> (Operations, Operations) {
    let (mut main, mut edge) = (BTreeSet::new(), BTreeSet::new());
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let key = (method.to_uppercase(), path.clone());
            match op["tags"][0].as_str() {
                Some("edge") => edge.insert(key),
                _ => main.insert(key),
            };
        }
    }
    (main, edge)
}

/// The operations a section of docs/interfaces.md names in code spans that start with a method
/// (`` `POST /v1/x` ``, `` `GET|HEAD /v1/y?token=…` ``), queries left out.
fn documented(section: &str) -> Operations {
    let mut out = BTreeSet::new();
    for span in section.split('`').skip(1).step_by(2) {
        let Some((methods, rest)) = span.split_once(' ') else {
            continue;
        };
        if !methods
            .split('|')
            .all(|m| ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"].contains(&m))
            || !rest.starts_with('/')
        {
            continue;
        }
        let path = rest.split(['?', ' ']).next().unwrap();
        for m in methods.split('|') {
            out.insert((m.to_owned(), path.to_owned()));
        }
    }
    out
}

/// The text of `## {title}` up to the next `## ` heading.
fn section<'a>(doc: &'a str, title: &str) -> &'a str {
    let start = doc
        .find(&format!("\n## {title}"))
        .unwrap_or_else(|| panic!("no section {title}"));
    let rest = &doc[start + 1..];
    let end = rest[3..].find("\n## ").map_or(rest.len(), |e| e + 3);
    &rest[..end]
}

#[tokio::test]
async fn the_document_describes_every_route_and_the_docs_agree() {
    let dir = tempfile::tempdir().unwrap();
    let state = common::state(dir.path(), &["film"]).await;
    let doc = document(&state).await;
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    let (main_ops, edge_ops) = operations(&doc);
    assert!(main_ops.len() >= 30, "{main_ops:?}");

    // Every operation described is a route main has: not the fallback's answer.
    for (method, path) in &main_ops {
        let uri = path.replace(['{', '}'], "");
        let req = Request::builder()
            .method(Method::from_bytes(method.as_bytes()).unwrap())
            .uri(&uri)
            .body(Body::empty())
            .unwrap();
        let resp = main_service::app(state.clone())
            .layer(MockConnectInfo(
                "127.0.0.1:40000".parse::<SocketAddr>().unwrap(),
            ))
            .oneshot(req)
            .await
            .unwrap();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        assert_ne!(
            body["message"], "no such endpoint",
            "{method} {path} is not routed"
        );
        assert_ne!(
            body["error"], "method_not_allowed",
            "{method} {path} is not routed"
        );
    }

    // docs/interfaces.md names the same operations, no more, no fewer.
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/interfaces.md"),
    )
    .unwrap();
    let in_docs = documented(section(&text, "Main service HTTP API"));
    assert_eq!(
        in_docs.symmetric_difference(&main_ops).collect::<Vec<_>>(),
        Vec::<&(String, String)>::new(),
        "docs/interfaces.md (Main service HTTP API) and /openapi.json differ"
    );
    // (main's own routes the edge section refers to, such as `POST /v1/edge/public`, aside)
    let edge_docs: BTreeSet<_> = documented(section(&text, "Edge HTTP API"))
        .into_iter()
        .filter(|op| op.1.starts_with("/v1/") && !main_ops.contains(op))
        .collect();
    assert_eq!(
        edge_docs
            .symmetric_difference(&edge_ops)
            .collect::<Vec<_>>(),
        Vec::<&(String, String)>::new(),
        "docs/interfaces.md (Edge HTTP API) and /openapi.json differ"
    );

    // A validator's view of the document.
    let file = dir.path().join("openapi.json");
    std::fs::write(&file, serde_json::to_vec(&doc).unwrap()).unwrap();
    let check = std::process::Command::new("python3")
        .args([
            "-c",
            "import sys\ntry:\n    from openapi_spec_validator import validate\n    from openapi_spec_validator.readers import read_from_filename\nexcept ImportError:\n    sys.exit(3)\nvalidate(read_from_filename(sys.argv[1])[0])",
        ])
        .arg(&file)
        .output()
        .unwrap();
    match check.status.code() {
        Some(0) => {}
        Some(3) => {
            println!("SKIPPED: openapi-spec-validator not installed (infra/setup.sh installs it)")
        }
        _ => panic!(
            "the document does not validate:\n{}",
            String::from_utf8_lossy(&check.stderr)
        ),
    }
}
