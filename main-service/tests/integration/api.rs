//! The API through `Router::oneshot` (no socket): the customer flow and its refusals, the edge
//! authorize decisions, and a real Lambda function-URL event.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::connect_info::MockConnectInfo;
use axum::http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use main_service::clock::OffsetClock;
use main_service::keys::Keys;
use main_service::records::ItemRecord;
use main_service::store::{EmbeddedStore, Store};
use main_service::{AppState, Config};
use protocol::{ContentKey, ItemId};
use serde_json::{Value, json};
use tower::ServiceExt;

const CONFIG: &str = r#"
    data_dir = "/unused"
    admin_token = "admin-token-0123456789"
    [[regions]]
    name = "eu"
    countries = ["DE"]
    [[regions]]
    name = "us"
    countries = ["US"]
    [geo]
    overrides = [ { cidr = "127.0.0.0/8", country = "DE" }, { cidr = "127.0.0.99/32", country = "KP" } ]
    [[parents]]
    name = "p1"
    region = "eu"
    bucket = "b"
    primary = true
    [[edges]]
    id = "edge-eu-1"
    region = "eu"
    url = "http://edge-eu-1.test"
    secret = "edge-eu-1-secret-0123456789"
"#;

struct Api {
    state: AppState,
    clock: OffsetClock,
    _dir: tempfile::TempDir,
}

impl Api {
    async fn new() -> Self {
        let _ = tracing_subscriber::fmt().with_test_writer().try_init();
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::from_toml(CONFIG, "test.toml".as_ref()).unwrap();
        config.data_dir = dir.path().to_owned();
        config.validate().unwrap();
        let store: Arc<dyn Store> = Arc::new(EmbeddedStore::open(&config.store_path()).unwrap());
        let keys = Keys::load_or_create(dir.path(), None).unwrap();
        let mut state = AppState::assemble(config, store, keys, Vec::new());
        let clock = OffsetClock::default();
        state.clock = clock.clock();
        let api = Self {
            state,
            clock,
            _dir: dir,
        };
        api.add_item("film", vec![]).await;
        api.add_item("eu-only", vec!["eu".into()]).await;
        api
    }

    async fn add_item(&self, id: &str, regions: Vec<String>) {
        self.add_object(id, regions, false).await;
    }

    /// Adds an item (or, with `public`, a public object); its content key.
    async fn add_object(&self, id: &str, regions: Vec<String>, public: bool) -> ContentKey {
        let key = ContentKey::generate();
        let rec = ItemRecord {
            id: ItemId::parse(id).unwrap(),
            title: id.into(),
            version: 1,
            key_version: 1,
            plaintext_len: 5,
            object_len: 5 + 160 + 48,
            chunk_size: 1 << 20,
            chunk_count: 1,
            root: "00".repeat(32),
            wrapped_content_key: self.state.keys.wrap_content_key(id, &key),
            level: None,
            regions,
            price_cents: 399,
            published_at: 1,
            public,
            policy: Default::default(),
            rating: None,
            presentation: Default::default(),
            previous: Vec::new(),
        };
        self.state.store.put_item(rec).await.unwrap();
        key
    }

    async fn public_grant(&self, item: &str, edge_secret: &str) -> (StatusCode, Value) {
        let req = Request::post("/v1/edge/public")
            .header("content-type", "application/json")
            .header("x-edge-id", "edge-eu-1")
            .header("authorization", format!("Bearer {edge_secret}"))
            .body(Body::from(json!({ "item": item }).to_string()))
            .unwrap();
        self.call("127.0.0.1", req).await
    }

    async fn call(&self, from: &str, req: Request<Body>) -> (StatusCode, Value) {
        let addr: SocketAddr = format!("{from}:40000").parse().unwrap();
        let app = main_service::app(self.state.clone()).layer(MockConnectInfo(addr));
        let resp = app.oneshot(req).await.unwrap();
        let status = resp.status();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    /// `method path` with the admin token, and `body` as JSON when given.
    async fn admin(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let b = Request::builder()
            .method(method)
            .uri(path)
            .header("authorization", "Bearer admin-token-0123456789");
        let req = match body {
            Some(v) => b
                .header("content-type", "application/json")
                .body(Body::from(v.to_string())),
            None => b.body(Body::empty()),
        };
        self.call("127.0.0.1", req.unwrap()).await
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        let req = Request::get(path).body(Body::empty()).unwrap();
        self.call("127.0.0.1", req).await
    }

    async fn post(&self, path: &str, auth: Option<&str>, body: Value) -> (StatusCode, Value) {
        self.post_with(path, auth, body, None, "127.0.0.1").await
    }

    async fn post_with(
        &self,
        path: &str,
        auth: Option<&str>,
        body: Value,
        key: Option<&str>,
        from: &str,
    ) -> (StatusCode, Value) {
        let mut b = Request::post(path).header("content-type", "application/json");
        if let Some(a) = auth {
            b = b.header("authorization", format!("Bearer {a}"));
        }
        if let Some(k) = key {
            b = b.header("idempotency-key", k);
        }
        self.call(from, b.body(Body::from(body.to_string())).unwrap())
            .await
    }

    async fn session(&self, email: &str) -> String {
        let creds = json!({"email": email, "password": "correct horse"});
        assert_eq!(
            self.post("/v1/accounts", None, creds.clone()).await.0,
            StatusCode::CREATED
        );
        let (s, v) = self.post("/v1/sessions", None, creds).await;
        assert_eq!(s, StatusCode::OK);
        v["session"].as_str().unwrap().to_owned()
    }

    async fn rent(&self, session: &str, item: &str, card: &str, key: &str) -> (StatusCode, Value) {
        self.post_with(
            "/v1/rentals",
            Some(session),
            json!({"item": item, "card": card}),
            Some(key),
            "127.0.0.1",
        )
        .await
    }

    async fn authorize(&self, token: &str, item: &str, ip: &str, sid: &str) -> (StatusCode, Value) {
        let body = json!({"token": token, "item": item, "client_ip": ip, "session_hint": sid});
        let req = Request::post("/v1/edge/authorize")
            .header("content-type", "application/json")
            .header("x-edge-id", "edge-eu-1")
            .header("authorization", "Bearer edge-eu-1-secret-0123456789")
            .body(Body::from(body.to_string()))
            .unwrap();
        self.call("127.0.0.1", req).await
    }
}

#[tokio::test]
async fn accounts_refuse_duplicates_and_bad_passwords() {
    let api = Api::new().await;
    api.session("a@example.com").await;
    let (s, v) = api
        .post(
            "/v1/accounts",
            None,
            json!({"email": "A@example.com", "password": "whatever1"}),
        )
        .await;
    assert_eq!(
        (s, v["error"].as_str()),
        (StatusCode::CONFLICT, Some("email_taken"))
    );
    let (s, _) = api
        .post(
            "/v1/sessions",
            None,
            json!({"email": "a@example.com", "password": "wrong pass"}),
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, _) = api
        .post(
            "/v1/accounts",
            None,
            json!({"email": "b@example.com", "password": "short"}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn rent_is_idempotent_and_declines_cards() {
    let api = Api::new().await;
    let s = api.session("a@example.com").await;
    let (st, v) = api.rent(&s, "film", "4000000000000002", "k-declined").await;
    assert_eq!(
        (st, v["error"].as_str()),
        (StatusCode::PAYMENT_REQUIRED, Some("card_declined"))
    );
    let (st, first) = api.rent(&s, "film", "4242424242424242", "k1").await;
    assert_eq!(st, StatusCode::CREATED);
    assert!(
        first["download_url"]
            .as_str()
            .unwrap()
            .starts_with("http://edge-eu-1.test/v1/content/film?token=")
    );
    let (_, again) = api.rent(&s, "film", "4242424242424242", "k1").await;
    assert_eq!(first, again, "a retried purchase returns the first answer");
    let req = Request::get("/v1/rentals")
        .header("authorization", format!("Bearer {s}"))
        .body(Body::empty())
        .unwrap();
    let (_, list) = api.call("127.0.0.1", req).await;
    assert_eq!(
        list["rentals"].as_array().unwrap().len(),
        1,
        "charged once: {list}"
    );
    let (st, _) = api
        .post_with(
            "/v1/rentals",
            Some(&s),
            json!({"item": "film", "card": "4242424242424242"}),
            None,
            "127.0.0.1",
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "Idempotency-Key is required");
    let (st, _) = api
        .rent("not-a-session", "film", "4242424242424242", "k2")
        .await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    let (st, _) = api.rent(&s, "../etc", "4242424242424242", "k3").await;
    assert_eq!(st, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn licence_binds_once_enables_and_expires() {
    let api = Api::new().await;
    let s = api.session("a@example.com").await;
    let (_, r) = api.rent(&s, "film", "4242424242424242", "k1").await;
    let lic = r["licence_id"].as_str().unwrap();
    let device = protocol::DeviceKey::generate();
    let bind = |dev: &str| json!({"device_id": dev, "player_id": "player-1", "device_public_key": hex::encode(device.public())});
    let (st, v) = api
        .post(&format!("/v1/licences/{lic}/bind"), Some(&s), bind("dev-1"))
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let (st, v) = api
        .post(&format!("/v1/licences/{lic}/bind"), Some(&s), bind("dev-2"))
        .await;
    assert_eq!(
        (st, v["error"].as_str()),
        (StatusCode::CONFLICT, Some("bound_elsewhere"))
    );
    let enable = json!({"device_id": "dev-1", "player_id": "player-1"});
    let (st, v) = api
        .post(
            &format!("/v1/licences/{lic}/enable"),
            Some(&s),
            enable.clone(),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let signed = v["licence"].as_str().unwrap();
    let now = (api.state.clock)();
    let licence =
        protocol::Licence::verify(api.state.signing.ring(now).await.verifier(), signed, now)
            .unwrap();
    assert!(
        licence
            .key_for("dev-1", "player-1", &device.secret(), now)
            .is_ok()
    );
    api.clock.advance(24 * 3600 + 1);
    let (st, v) = api
        .post(&format!("/v1/licences/{lic}/enable"), Some(&s), enable)
        .await;
    assert_eq!(
        (st, v["error"].as_str()),
        (StatusCode::GONE, Some("licence_expired"))
    );
    // Another account cannot touch this licence.
    let other = api.session("b@example.com").await;
    let (st, _) = api
        .post(
            &format!("/v1/licences/{lic}/bind"),
            Some(&other),
            bind("dev-1"),
        )
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
}

/// An item's own policy: its window and play limit go into the signed licence, and its rental
/// period bounds when the licence can be enabled.
#[tokio::test]
async fn an_items_policy_shapes_its_licences() {
    let api = Api::new().await;
    let mut rec = api.state.store.item("film").await.unwrap().unwrap();
    rec.policy = main_service::records::ItemPolicy {
        window_secs: Some(2 * 3600),
        max_plays: Some(3),
        enable_within_secs: Some(2 * 24 * 3600),
        reactivation_cents: None,
    };
    api.state.store.put_item(rec).await.unwrap();
    let s = api.session("a@example.com").await;
    let device = protocol::DeviceKey::generate();
    let bind = json!({"device_id": "dev-1", "player_id": "player-1", "device_public_key": hex::encode(device.public())});
    let enable = json!({"device_id": "dev-1", "player_id": "player-1"});
    let mut licences = Vec::new();
    for key in ["k1", "k2"] {
        let body = json!({"item": "film", "card": "4242424242424242", "another_copy": true});
        let (st, r) = api
            .post_with("/v1/rentals", Some(&s), body, Some(key), "127.0.0.1")
            .await;
        assert_eq!(st, StatusCode::CREATED, "{r}");
        let lic = r["licence_id"].as_str().unwrap().to_owned();
        let (st, v) = api
            .post(&format!("/v1/licences/{lic}/bind"), Some(&s), bind.clone())
            .await;
        assert_eq!(st, StatusCode::OK, "{v}");
        licences.push(lic);
    }
    let (st, v) = api
        .post(
            &format!("/v1/licences/{}/enable", licences[0]),
            Some(&s),
            enable.clone(),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let now = (api.state.clock)();
    let licence = protocol::Licence::verify(
        api.state.signing.ring(now).await.verifier(),
        v["licence"].as_str().unwrap(),
        now,
    )
    .unwrap();
    assert_eq!(licence.policy.max_plays, Some(3));
    assert_eq!(licence.policy.window_secs, 2 * 3600);
    // Past the rental period, the licence never enabled cannot be; the one enabled within it
    // still answers (its window ran out: expired, not lapsed).
    api.clock.advance(2 * 24 * 3600);
    let (st, v) = api
        .post(
            &format!("/v1/licences/{}/enable", licences[1]),
            Some(&s),
            enable.clone(),
        )
        .await;
    assert_eq!(
        (st, v["error"].as_str()),
        (StatusCode::GONE, Some("licence_lapsed")),
        "{v}"
    );
    let (st, v) = api
        .post(
            &format!("/v1/licences/{}/enable", licences[0]),
            Some(&s),
            enable,
        )
        .await;
    assert_eq!(
        (st, v["error"].as_str()),
        (StatusCode::GONE, Some("licence_expired")),
        "{v}"
    );
}

#[tokio::test]
async fn authorize_counts_sessions_and_refuses_clearly() {
    let api = Api::new().await;
    let s = api.session("a@example.com").await;
    let (_, r) = api.rent(&s, "eu-only", "4242424242424242", "k1").await;
    let token = r["token"].as_str().unwrap();
    for sid in ["s1", "s2", "s3"] {
        for _ in 0..3 {
            let (st, v) = api.authorize(token, "eu-only", "127.0.0.1", sid).await;
            assert_eq!(st, StatusCode::OK, "{v}");
        }
    }
    let (st, v) = api.authorize(token, "eu-only", "127.0.0.1", "s4").await;
    assert_eq!(
        (st, v["error"].as_str()),
        (StatusCode::GONE, Some("uses_exhausted"))
    );
    let (st, v) = api.authorize(token, "film", "127.0.0.1", "s1").await;
    assert_eq!(
        (st, v["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("bad_token"))
    );
    let (st, v) = api
        .authorize(&format!("{token}x"), "eu-only", "127.0.0.1", "s1")
        .await;
    assert_eq!(
        (st, v["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("bad_token"))
    );
    let (_, r2) = api.rent(&s, "eu-only", "4242424242424242", "k2").await;
    let (st, v) = api
        .authorize(r2["token"].as_str().unwrap(), "eu-only", "127.0.0.99", "s1")
        .await;
    assert_eq!(
        (st, v["error"].as_str()),
        (StatusCode::FORBIDDEN, Some("region_denied"))
    );
    // A wrong edge credential.
    let req = Request::post("/v1/edge/authorize")
        .header("content-type", "application/json")
        .header("x-edge-id", "edge-eu-1")
        .header("authorization", "Bearer wrong")
        .body(Body::from("{}"))
        .unwrap();
    assert_eq!(api.call("127.0.0.1", req).await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn authorize_takes_only_the_exact_token_main_issued() {
    let api = Api::new().await;
    let s = api.session("a@example.com").await;
    let (_, r) = api.rent(&s, "film", "4242424242424242", "k1").await;
    let token = r["token"].as_str().unwrap();
    let now = protocol::unix_now();
    let issued = protocol::DownloadToken::verify(
        api.state.signing.ring(now).await.verifier(),
        token,
        None,
        now,
    )
    .unwrap();
    let record = api
        .state
        .store
        .token(&issued.token_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        record.digest.as_deref(),
        Some(protocol::sign::digest(token).to_hex().as_str()),
        "the record keeps the digest of the token handed out"
    );
    // The same id and claims under a key main never had, and under main's own key with more
    // uses: neither is the token main issued, whatever its signature.
    let kid = protocol::Verifier::token_kid(token).unwrap();
    let stranger = issued.sign(&protocol::Signer::generate(&kid)).unwrap();
    let more = protocol::DownloadToken {
        max_uses: 1000,
        ..issued.clone()
    };
    let resigned = more
        .sign(api.state.signing.ring(now).await.signer(now))
        .unwrap();
    for forged in [&stranger, &resigned] {
        assert_ne!(forged, token);
        let (st, v) = api.authorize(forged, "film", "127.0.0.1", "s1").await;
        assert_eq!(
            (st, v["error"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("bad_token")),
            "{v}"
        );
    }
    // Nothing was spent by them; the real token still opens a session.
    let (st, v) = api.authorize(token, "film", "127.0.0.1", "s1").await;
    assert_eq!(
        (st, v["uses_left"].as_u64()),
        (StatusCode::OK, Some(2)),
        "{v}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_sessions_spend_exactly_the_uses() {
    let api = Arc::new(Api::new().await);
    let s = api.session("a@example.com").await;
    let (_, r) = api.rent(&s, "film", "4242424242424242", "k1").await;
    let token = r["token"].as_str().unwrap().to_owned();
    let tasks: Vec<_> = (0..12)
        .map(|i| {
            let (api, token) = (api.clone(), token.clone());
            tokio::spawn(async move {
                api.authorize(&token, "film", "127.0.0.1", &format!("sid-{i}"))
                    .await
                    .0
            })
        })
        .collect();
    let mut ok = 0;
    for t in tasks {
        if t.await.unwrap() == StatusCode::OK {
            ok += 1;
        }
    }
    assert_eq!(ok, 3);
}

#[tokio::test]
async fn lambda_function_url_events_are_served() {
    let api = Api::new().await;
    let event = include_str!("../data/function-url-get-healthz.json");
    let req = lambda_http::request::from_str(event).unwrap();
    let resp = main_service::app(api.state.clone())
        .oneshot(req)
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(
        serde_json::from_slice::<Value>(&body).unwrap()["status"],
        "ok"
    );

    // The client address comes from the request context: 127.0.0.99 is in a denied country.
    let session = api.session("l@example.com").await;
    let event = include_str!("../data/function-url-post-rental.json").replace("SESSION", &session);
    let req = lambda_http::request::from_str(&event).unwrap();
    let resp = main_service::app(api.state.clone())
        .oneshot(req)
        .await
        .unwrap();
    assert_eq!(
        resp.status(),
        StatusCode::CREATED,
        "unrestricted item rents from anywhere"
    );
    let event = event
        .replace("\\\"film\\\"", "\\\"eu-only\\\"")
        .replace("lambda-fixture-1", "lambda-fixture-2");
    let req = lambda_http::request::from_str(&event).unwrap();
    let resp = main_service::app(api.state.clone())
        .oneshot(req)
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
}

/// A public object (a poster, a trailer) is served by the edges without a token: main gives an
/// authenticated edge its sources and its content key, never rents it, and keeps it out of the
/// catalog and the manifest.
#[tokio::test]
async fn public_objects_are_granted_to_edges_and_never_rented() {
    let api = Api::new().await;
    let key = api.add_object("film-trailer", vec![], true).await;
    let (s, v) = api
        .public_grant("film-trailer", "edge-eu-1-secret-0123456789")
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["content_key"], hex::encode(key.0));
    assert_eq!(v["object"]["item"], "film-trailer");
    assert!(v["expires_at"].as_u64().unwrap() > 1);

    // Only public objects, only to an edge that proves who it is.
    let (s, v) = api
        .public_grant("film", "edge-eu-1-secret-0123456789")
        .await;
    assert_eq!(
        (s, v["error"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_public"))
    );
    let (s, _) = api.public_grant("film-trailer", "wrong").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);

    // Not for rent, not in the catalog, not in the manifest.
    let session = api.session("a@example.com").await;
    let (s, v) = api
        .rent(&session, "film-trailer", "4242424242424242", "k1")
        .await;
    assert_eq!(
        (s, v["error"].as_str()),
        (StatusCode::CONFLICT, Some("not_for_rent"))
    );
    let (_, catalog) = api.get("/v1/catalog").await;
    let ids: Vec<&str> = catalog["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    assert!(
        !ids.contains(&"film-trailer") && ids.contains(&"film"),
        "{ids:?}"
    );
    let (_, one) = api.get("/v1/catalog/film-trailer").await;
    assert_eq!(one["public"], true);
}

/// The key id a signed token or licence names.
fn kid_of(signed: &str) -> String {
    protocol::Verifier::token_kid(signed).expect("a key id")
}

/// The key ids main's JWKS publishes.
async fn published(api: &Api) -> Vec<String> {
    let (_, jwks) = api.get("/.well-known/jwks.json").await;
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn signing_keys_rotate_are_published_ahead_and_retire_late() {
    const DAY: u64 = 86_400;
    let api = Api::new().await;
    api.add_item("doc", vec![]).await;
    let s = api.session("a@example.com").await;
    let (_, r) = api.rent(&s, "eu-only", "4242424242424242", "k1").await;
    let old_token = r["token"].as_str().unwrap().to_owned();
    let first = kid_of(&old_token);
    drop(old_token);
    assert_eq!(published(&api).await, std::slice::from_ref(&first));

    // An hour before the 30 days are up, the next key is published but does not sign yet.
    api.clock.advance(30 * DAY - 3600);
    let keys = published(&api).await;
    assert_eq!(keys.len(), 2, "{keys:?}");
    let next = keys[1].clone();
    assert_ne!(next, first);
    // (Login sessions do not last a month: a fresh customer each time.)
    let s = api.session("b@example.com").await;
    let (_, r) = api.rent(&s, "doc", "4242424242424242", "k2").await;
    let before = r["token"].as_str().unwrap().to_owned();
    assert_eq!(kid_of(&before), first);

    // From the rotation date the new key signs; the old key's token is still accepted.
    api.clock.advance(3600);
    let (st, v) = api.authorize(&before, "doc", "127.0.0.1", "s0").await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let (_, r) = api.rent(&s, "film", "4242424242424242", "k3").await;
    let new_token = r["token"].as_str().unwrap().to_owned();
    assert_eq!(kid_of(&new_token), next);
    let (st, v) = api.authorize(&new_token, "film", "127.0.0.1", "s1").await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let (_, ring) = api.admin(Method::GET, "/v1/admin/signing-keys", None).await;
    assert_eq!(ring["keys"][0]["signing"], false, "{ring}");
    assert_eq!(ring["keys"][1]["signing"], true, "{ring}");

    // An operator rotates at once: the new key is published now, signs an hour later.
    let (st, ring) = api
        .post(
            "/v1/admin/signing-keys/rotate",
            Some("admin-token-0123456789"),
            Value::Null,
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{ring}");
    assert_eq!(ring["keys"].as_array().unwrap().len(), 3, "{ring}");
    assert_eq!(ring["keys"][2]["signing"], false, "{ring}");
    assert_eq!(published(&api).await.len(), 3);

    // The first key stopped signing 30 days in; 60 days later (the longest licence window
    // plus its signature grace) it is retired. The operator's key, signing since, has had its
    // successor appended on schedule in the meantime.
    api.clock.advance(60 * DAY);
    let keys = published(&api).await;
    assert!(!keys.contains(&first), "{keys:?}");
    assert!(keys.contains(&next), "{keys:?}");
    assert_eq!(keys.len(), 3, "{keys:?}");
}

/// An item ingested again mid-rental: the earlier rental's downloads are granted the object it
/// was rented for and its licence carries that object's root and key; a new rental gets the new
/// version. A version no longer kept is refused with its reason.
#[tokio::test]
async fn a_licence_keeps_the_version_it_was_rented_for() {
    let api = Api::new().await;
    let v1_key = api.add_object("show", vec![], false).await;
    let s = api.session("a@example.com").await;
    let (_, first) = api.rent(&s, "show", "4242424242424242", "k1").await;

    // Ingested again: version 2 with its own root and content key; version 1 kept.
    let v1 = api.state.store.item("show").await.unwrap().unwrap();
    let now = (api.state.clock)();
    let v2_key = ContentKey::generate();
    let v2 = ItemRecord {
        version: 2,
        root: "22".repeat(32),
        wrapped_content_key: api.state.keys.wrap_content_key("show", &v2_key),
        previous: main_service::ingest::kept_versions(&v1, now, 3600),
        ..v1.clone()
    };
    api.state.store.put_item(v2.clone()).await.unwrap();

    let (st, grant) = api
        .authorize(first["token"].as_str().unwrap(), "show", "127.0.0.1", "s1")
        .await;
    assert_eq!(st, StatusCode::OK, "{grant}");
    assert_eq!(grant["object"]["version"], 1, "{grant}");
    assert_eq!(grant["object"]["root"], "00".repeat(32));

    let device = protocol::DeviceKey::generate();
    let lic = first["licence_id"].as_str().unwrap();
    let bind = json!({"device_id": "dev-1", "player_id": "player-1", "device_public_key": hex::encode(device.public())});
    let enable = json!({"device_id": "dev-1", "player_id": "player-1"});
    api.post(&format!("/v1/licences/{lic}/bind"), Some(&s), bind.clone())
        .await;
    let (st, v) = api
        .post(
            &format!("/v1/licences/{lic}/enable"),
            Some(&s),
            enable.clone(),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let ring = api.state.signing.ring(now).await;
    let licence =
        protocol::Licence::verify(ring.verifier(), v["licence"].as_str().unwrap(), now).unwrap();
    assert_eq!(licence.object_root, "00".repeat(32));
    let key = licence
        .key_for("dev-1", "player-1", &device.secret(), now)
        .unwrap();
    assert_eq!(key, v1_key, "the first version's content key");

    // A new rental is of version 2.
    let s2 = api.session("b@example.com").await;
    let (_, second) = api.rent(&s2, "show", "4242424242424242", "k2").await;
    let (st, grant) = api
        .authorize(second["token"].as_str().unwrap(), "show", "127.0.0.1", "s1")
        .await;
    assert_eq!(
        (st, &grant["object"]["version"]),
        (StatusCode::OK, &2.into())
    );

    // Once version 1 is no longer kept, its rental is told so.
    let v3 = ItemRecord {
        version: 3,
        previous: main_service::ingest::kept_versions(&v2, now + 7200, 3600),
        ..v2.clone()
    };
    assert_eq!(v3.previous.len(), 1, "version 1 dropped, version 2 kept");
    api.state.store.put_item(v3).await.unwrap();
    let (st, v) = api
        .authorize(first["token"].as_str().unwrap(), "show", "127.0.0.1", "s2")
        .await;
    assert_eq!(
        (st, v["error"].as_str()),
        (StatusCode::NOT_FOUND, Some("unknown_item"))
    );
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("no longer available"),
        "{v}"
    );
    let (st, v) = api
        .post(&format!("/v1/licences/{lic}/enable"), Some(&s), enable)
        .await;
    assert_eq!(
        (st, v["error"].as_str()),
        (StatusCode::GONE, Some("version_gone")),
        "{v}"
    );
}

/// The catalog answers a search by title words, a genre, and newest first; public objects
/// (posters) are never listed, and an item names its poster and trailer.
#[tokio::test]
async fn the_catalog_searches_titles_and_filters_genres() {
    let api = Api::new().await;
    for (id, title, genres, published) in [
        ("silent-sea", "The Silent Sea", vec!["drama", "sci-fi"], 30),
        ("silence", "Silence", vec!["drama"], 10),
        ("river", "Silent River", vec!["documentary"], 20),
    ] {
        api.add_object(id, vec![], false).await;
        let mut rec = api.state.store.item(id).await.unwrap().unwrap();
        rec.title = title.into();
        rec.published_at = published;
        rec.presentation.genres = genres.into_iter().map(String::from).collect();
        rec.presentation.poster = Some("sea-poster".into());
        api.state.store.put_item(rec).await.unwrap();
    }
    api.add_object("sea-poster", vec![], true).await;
    let ids = |v: &Value| -> Vec<String> {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let (st, v) = api.get("/v1/catalog?q=sil").await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(ids(&v), ["silence", "river", "silent-sea"]);
    let (_, v) = api.get("/v1/catalog?q=Silent%20S").await;
    assert_eq!(ids(&v), ["silent-sea"]);
    assert_eq!(v["items"][0]["presentation"]["poster"], "sea-poster");
    assert_eq!(
        v["items"][0]["presentation"]["genres"],
        json!(["drama", "sci-fi"])
    );
    let (_, v) = api.get("/v1/catalog?genre=drama&sort=new").await;
    assert_eq!(ids(&v), ["silent-sea", "silence"]);
    let (_, v) = api.get("/v1/catalog?q=poster").await;
    assert!(ids(&v).is_empty(), "public objects are not for rent: {v}");
}

/// An operator edits an item's catalog entry without ingesting it again: each field given
/// changes, a `null` level clears it, the object stays; bad values are refused with the reason.
#[tokio::test]
async fn an_operator_edits_a_catalog_entry() {
    let api = Api::new().await;
    api.add_object("trailer-1", vec![], true).await;
    let patch = |body: Value| api.admin(Method::PATCH, "/v1/admin/items/film", Some(body));
    let before = api.state.store.item("film").await.unwrap().unwrap();
    let (st, v) = patch(json!({
        "title": "Film, restored",
        "level": 1,
        "regions": ["eu"],
        "genres": ["drama", "classic"],
        "description": "Restored in 4K.",
        "trailer": "trailer-1",
        "rating": 12,
    }))
    .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(
        (
            v["title"].as_str(),
            v["level"].as_u64(),
            v["rating"].as_u64()
        ),
        (Some("Film, restored"), Some(1), Some(12))
    );
    assert_eq!(v["presentation"]["trailer"], "trailer-1");
    assert_eq!(v["regions"], json!(["eu"]));
    let after = api.state.store.item("film").await.unwrap().unwrap();
    assert_eq!(
        (after.version, &after.root, &after.wrapped_content_key),
        (before.version, &before.root, &before.wrapped_content_key),
        "the object stays"
    );
    // Only what is given changes; null clears the level.
    let (st, v) = patch(json!({"level": null})).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert!(v["level"].is_null(), "{v}");
    assert_eq!(v["title"], "Film, restored");
    for bad in [
        json!({"rating": 30}),
        json!({"regions": ["mars"]}),
        json!({"poster": "film"}),
        json!({"genres": ["Not A Genre"]}),
        json!({"title": ""}),
    ] {
        let (st, v) = patch(bad.clone()).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{bad}: {v}");
    }
    let (st, _) = patch(json!({"colour": "red"})).await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
    let (st, _) = api
        .admin(Method::PATCH, "/v1/admin/items/nope", Some(json!({})))
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
}

/// The operator promotes items; customers read them in that order; bad lists are refused.
#[tokio::test]
async fn promotions_are_set_by_the_operator_and_shown_in_order() {
    let api = Api::new().await;
    api.add_object("poster-1", vec![], true).await;
    let put = |body: Value| api.admin(Method::PUT, "/v1/admin/promotions", Some(body));
    let (_, v) = api.get("/v1/promotions").await;
    assert_eq!(v["items"], json!([]));
    let (st, v) = put(json!({"items": ["eu-only", "film"]})).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let (_, v) = api.get("/v1/promotions").await;
    let ids: Vec<&str> = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["eu-only", "film"]);
    for bad in [
        json!({"items": ["film", "film"]}),
        json!({"items": ["poster-1"]}),
        json!({"items": ["nope"]}),
    ] {
        assert_eq!(put(bad.clone()).await.0, StatusCode::BAD_REQUEST, "{bad}");
    }
}

/// Support looks up an account by email: its rentals with their licences and tokens; the
/// network view names each edge's standing.
#[tokio::test]
async fn support_finds_an_account_and_the_network() {
    let api = Api::new().await;
    let s = api.session("Support.Case@example.com").await;
    let (_, r) = api.rent(&s, "film", "4242424242424242", "k1").await;
    let admin_get = |path: &'static str| api.admin(Method::GET, path, None);
    let (st, v) = admin_get("/v1/admin/accounts?email=support.case@example.com").await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["rentals"][0]["licence"]["licence_id"], r["licence_id"]);
    assert_eq!(v["rentals"][0]["token"]["uses"], 0);
    assert_eq!(v["guest"], false);
    let (st, v) = admin_get("/v1/admin/accounts?email=nobody@example.com").await;
    assert_eq!(
        (st, v["error"].as_str()),
        (StatusCode::NOT_FOUND, Some("unknown_account"))
    );
    let (st, _) = api
        .get("/v1/admin/accounts?email=support.case@example.com")
        .await;
    assert_eq!(st, StatusCode::UNAUTHORIZED, "admin only");
    let (st, v) = admin_get("/v1/admin/network").await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["edges"][0]["id"], "edge-eu-1");
    assert_eq!(v["edges"][0]["tier"], "unknown", "no heartbeat yet");
}
