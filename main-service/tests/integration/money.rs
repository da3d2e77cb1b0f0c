//! A charge never stands alone, a decline is not a charge, and a held rental is not sold twice.
//! Through `Router::oneshot` against the embedded store and the sandbox gateway, which reports
//! what it charged and refunded; the faults are injected at the fault points of the rent path.

use crate::common;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::connect_info::MockConnectInfo;
use axum::http::{HeaderValue, Request, StatusCode};
use http_body_util::BodyExt;
use main_service::AppState;
use main_service::clock::OffsetClock;
use main_service::faults::FaultPoint;
use main_service::payment::{SandboxPayments, cards};
use serde_json::{Value, json};
use tower::ServiceExt;

struct Shop {
    state: AppState,
    sandbox: Arc<SandboxPayments>,
    clock: OffsetClock,
    session: String,
    _dir: tempfile::TempDir,
}

impl Shop {
    async fn open() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut state = common::state(dir.path(), &["film", "doc", "show"]).await;
        let sandbox = Arc::new(SandboxPayments::default());
        state.payments = sandbox.clone();
        let clock = OffsetClock::default();
        state.clock = clock.clock();
        let mut shop = Self {
            state,
            sandbox,
            clock,
            session: String::new(),
            _dir: dir,
        };
        let creds = json!({"email": "a@example.com", "password": "correct horse"});
        assert_eq!(
            shop.call("/v1/accounts", None, creds.clone(), None).await.0,
            StatusCode::CREATED
        );
        let (_, v) = shop.call("/v1/sessions", None, creds, None).await;
        shop.session = v["session"].as_str().unwrap().to_owned();
        shop
    }

    async fn send(&self, req: Request<Body>) -> (StatusCode, Value) {
        let addr: SocketAddr = "127.0.0.1:40000".parse().unwrap();
        let app = main_service::app(self.state.clone()).layer(MockConnectInfo(addr));
        let resp = app.oneshot(req).await.unwrap();
        let status = resp.status();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    async fn call(
        &self,
        path: &str,
        session: Option<&str>,
        body: Value,
        key: Option<HeaderValue>,
    ) -> (StatusCode, Value) {
        let mut b = Request::post(path).header("content-type", "application/json");
        if let Some(s) = session {
            b = b.header("authorization", format!("Bearer {s}"));
        }
        if let Some(k) = key {
            b = b.header("idempotency-key", k);
        }
        self.send(b.body(Body::from(body.to_string())).unwrap())
            .await
    }

    async fn rent_with(&self, body: Value, key: &str) -> (StatusCode, Value) {
        let key = HeaderValue::from_str(key).unwrap();
        self.call("/v1/rentals", Some(&self.session), body, Some(key))
            .await
    }

    async fn rent(&self, item: &str, card: &str, key: &str) -> (StatusCode, Value) {
        self.rent_with(json!({"item": item, "card": card}), key)
            .await
    }

    async fn rental_count(&self) -> usize {
        let req = Request::get("/v1/rentals")
            .header("authorization", format!("Bearer {}", self.session))
            .body(Body::empty())
            .unwrap();
        self.send(req).await.1["rentals"].as_array().unwrap().len()
    }

    /// Reactivates licence `lic` with `card` under `key`.
    async fn reactivate(&self, lic: &str, card: &str, key: &str) -> (StatusCode, Value) {
        let key = HeaderValue::from_str(key).unwrap();
        let path = format!("/v1/licences/{lic}/reactivate");
        let body = json!({"card": card});
        self.call(&path, Some(&self.session), body, Some(key)).await
    }

    /// What the customer paid equals what they got.
    async fn assert_charges_equal_rentals(&self) {
        let kept = self.sandbox.kept_charges().len();
        let rentals = self.rental_count().await;
        assert_eq!(
            kept,
            rentals,
            "charges kept {kept} (charged {}, refunded {}) vs rentals {rentals}",
            self.sandbox.charges().len(),
            self.sandbox.refunds().len()
        );
    }
}

fn code(v: &Value) -> &str {
    v["error"].as_str().unwrap_or("")
}

#[tokio::test]
async fn a_declined_card_does_not_poison_its_key() {
    let shop = Shop::open().await;
    let (st, v) = shop.rent("film", cards::DECLINED, "key-1").await;
    assert_eq!(
        (st, code(&v)),
        (StatusCode::PAYMENT_REQUIRED, "card_declined")
    );
    let (st, first) = shop.rent("film", cards::OK, "key-1").await;
    assert_eq!(st, StatusCode::CREATED, "{first}");
    let (st, again) = shop.rent("film", cards::OK, "key-1").await;
    assert_eq!(
        (st, &again),
        (StatusCode::CREATED, &first),
        "a retry replays"
    );
    assert_eq!(shop.sandbox.kept_charges().len(), 1, "charged once");
    // The key now names the film's purchase: another item with it is refused, not given the film.
    let (st, v) = shop.rent("doc", cards::OK, "key-1").await;
    assert_eq!(
        (st, code(&v)),
        (StatusCode::UNPROCESSABLE_ENTITY, "idempotency_key_reused"),
        "{v}"
    );
    // A key that only saw a decline is free for another item.
    let (st, _) = shop.rent("doc", cards::INSUFFICIENT_FUNDS, "key-2").await;
    assert_eq!(st, StatusCode::PAYMENT_REQUIRED);
    let (st, v) = shop.rent("show", cards::OK_MASTERCARD, "key-2").await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    assert_eq!(v["item"], "show");
    shop.assert_charges_equal_rentals().await;
}

#[tokio::test]
async fn bad_idempotency_keys_are_explained() {
    let shop = Shop::open().await;
    let body = json!({"item": "film", "card": cards::OK});
    let s = Some(shop.session.as_str());
    let cases = [
        (None, "required"),
        (Some(HeaderValue::from_static("")), "empty"),
        (
            Some(HeaderValue::from_bytes("clé-1".as_bytes()).unwrap()),
            "non-ASCII",
        ),
        (
            Some(HeaderValue::from_str(&"k".repeat(129)).unwrap()),
            "longer than 128",
        ),
    ];
    for (key, says) in cases {
        let (st, v) = shop.call("/v1/rentals", s, body.clone(), key).await;
        assert_eq!(
            (st, code(&v)),
            (StatusCode::BAD_REQUEST, "invalid_idempotency_key"),
            "{v}"
        );
        assert!(v["message"].as_str().unwrap().contains(says), "{v}");
    }
    assert_eq!(shop.sandbox.charge_count(), 0);
}

#[tokio::test]
async fn a_failure_after_the_charge_refunds_and_releases() {
    let shop = Shop::open().await;
    for (point, item) in [
        (FaultPoint::SignToken, "film"),
        (FaultPoint::RecordPurchase, "doc"),
    ] {
        let refunded_before = shop.sandbox.refunds().len();
        shop.state.faults.fail_next(point);
        let (st, v) = shop.rent(item, cards::OK, &format!("{item}-1")).await;
        assert_eq!(
            (st, code(&v)),
            (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
            "{point:?}: {v}"
        );
        assert_eq!(
            shop.sandbox.refunds().len(),
            refunded_before + 1,
            "refunded"
        );
        shop.assert_charges_equal_rentals().await;
        // The same key goes through at once: the reservation was released, not left to lapse.
        let (st, v) = shop.rent(item, cards::OK, &format!("{item}-1")).await;
        assert_eq!(st, StatusCode::CREATED, "{point:?}: {v}");
        shop.assert_charges_equal_rentals().await;
    }
    // And a fresh key for an item whose purchase failed is not blocked either.
    shop.state.faults.fail_next(FaultPoint::SignToken);
    let (st, _) = shop.rent("show", cards::OK, "show-1").await;
    assert_eq!(st, StatusCode::INTERNAL_SERVER_ERROR);
    let (st, v) = shop.rent("show", cards::OK, "show-2").await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    shop.assert_charges_equal_rentals().await;
    assert_eq!(shop.rental_count().await, 3);
}

#[tokio::test]
async fn a_held_rental_is_not_sold_twice_unless_asked() {
    let shop = Shop::open().await;
    let (st, first) = shop.rent("film", cards::OK, "k1").await;
    assert_eq!(st, StatusCode::CREATED);
    let (st, v) = shop.rent("film", cards::OK, "k2").await;
    assert_eq!(
        (st, code(&v)),
        (StatusCode::CONFLICT, "already_rented"),
        "{v}"
    );
    assert_eq!(v["rental_id"], first["rental_id"]);
    let rental_id = first["rental_id"].as_str().unwrap();
    assert!(v["message"].as_str().unwrap().contains(rental_id), "{v}");
    let (st, copy) = shop
        .rent_with(
            json!({"item": "film", "card": cards::OK, "another_copy": true}),
            "k3",
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{copy}");
    assert_ne!(copy["rental_id"], first["rental_id"]);

    // A licence whose window ended no longer holds the item, even with download uses left.
    let device = protocol::DeviceKey::generate();
    for r in [&first, &copy] {
        let lic = r["licence_id"].as_str().unwrap();
        let bind = json!({"device_id": "dev-1", "player_id": "player-1", "device_public_key": hex::encode(device.public())});
        let s = Some(shop.session.as_str());
        let path = format!("/v1/licences/{lic}/bind");
        assert_eq!(shop.call(&path, s, bind, None).await.0, StatusCode::OK);
        let enable = json!({"device_id": "dev-1", "player_id": "player-1"});
        let path = format!("/v1/licences/{lic}/enable");
        assert_eq!(shop.call(&path, s, enable, None).await.0, StatusCode::OK);
    }
    shop.clock.advance(24 * 3600 + 1);
    let (st, v) = shop.rent("film", cards::OK, "k4").await;
    assert_eq!(st, StatusCode::CREATED, "{v}");

    // A download token past its expiry no longer holds the item either.
    let (st, _) = shop.rent("doc", cards::OK, "k5").await;
    assert_eq!(st, StatusCode::CREATED);
    let (st, _) = shop.rent("doc", cards::OK, "k6").await;
    assert_eq!(st, StatusCode::CONFLICT);
    shop.clock.advance(48 * 3600 + 1);
    let (st, v) = shop.rent("doc", cards::OK, "k7").await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    shop.assert_charges_equal_rentals().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_clicks_charge_once() {
    let shop = Arc::new(Shop::open().await);
    let clicks: Vec<_> = (0..20)
        .map(|i| {
            let shop = shop.clone();
            tokio::spawn(async move { shop.rent("film", cards::OK, &format!("click-{i}")).await })
        })
        .collect();
    let mut created = 0;
    for c in clicks {
        let (st, v) = c.await.unwrap();
        match st {
            StatusCode::CREATED => created += 1,
            StatusCode::CONFLICT => assert!(
                ["already_rented", "purchase_in_progress"].contains(&code(&v)),
                "{v}"
            ),
            other => panic!("{other}: {v}"),
        }
    }
    assert_eq!(created, 1);
    assert_eq!(shop.sandbox.kept_charges().len(), 1, "exactly one charge");
    assert_eq!(shop.sandbox.charges().len(), 1);
    shop.assert_charges_equal_rentals().await;
}

/// An ended window is reactivated for the fee once per key: refused while the window runs and
/// for a declined card (no charge), charged once however often the request is retried, and
/// concurrent reactivations with different keys charge once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_ended_window_is_reactivated_for_a_fee_once() {
    let shop = Shop::open().await;
    let (st, rental) = shop.rent("film", cards::OK, "rent-1").await;
    assert_eq!(st, StatusCode::CREATED, "{rental}");
    let lic = rental["licence_id"].as_str().unwrap().to_owned();
    let session = Some(shop.session.as_str());
    let path = |op: &str| format!("/v1/licences/{lic}/{op}");
    let device = json!({"device_id": "dev-1", "player_id": "player-1"});
    let mut bind = device.clone();
    bind["device_public_key"] = json!(hex::encode([7u8; 32]));
    assert_eq!(
        shop.call(&path("bind"), session, bind, None).await.0,
        StatusCode::OK
    );

    // Not enabled yet, then running: nothing to reactivate.
    let (st, v) = shop.reactivate(&lic, cards::OK, "r0").await;
    assert_eq!((st, code(&v)), (StatusCode::CONFLICT, "not_enabled"), "{v}");
    let (st, v) = shop
        .call(&path("enable"), session, device.clone(), None)
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let (st, v) = shop.reactivate(&lic, cards::OK, "r0").await;
    assert_eq!(
        (st, code(&v)),
        (StatusCode::CONFLICT, "window_running"),
        "{v}"
    );

    // The window ends.
    shop.clock.advance(25 * 3600);
    let (st, v) = shop
        .call(&path("enable"), session, device.clone(), None)
        .await;
    assert_eq!((st, code(&v)), (StatusCode::GONE, "licence_expired"), "{v}");
    let charged = shop.sandbox.kept_charges().len();
    let (st, v) = shop.reactivate(&lic, cards::DECLINED, "r1").await;
    assert_eq!(
        (st, code(&v)),
        (StatusCode::PAYMENT_REQUIRED, "card_declined"),
        "{v}"
    );
    assert_eq!(shop.sandbox.kept_charges().len(), charged);

    // The same key after a decline goes through, for the default fee.
    let (st, first) = shop.reactivate(&lic, cards::OK, "r1").await;
    assert_eq!(st, StatusCode::OK, "{first}");
    assert_eq!(first["amount_cents"], 199);
    let window = &first["window"];
    assert_eq!(
        window["end"].as_u64().unwrap() - window["start"].as_u64().unwrap(),
        24 * 3600
    );
    assert!(first["licence"].as_str().is_some());
    assert_eq!(shop.sandbox.kept_charges().len(), charged + 1);
    // A retry answers the same, charging nothing; another key finds the window running.
    let (st, again) = shop.reactivate(&lic, cards::OK, "r1").await;
    assert_eq!(
        (st, &again["charge_id"], &again["window"]),
        (StatusCode::OK, &first["charge_id"], window)
    );
    let (st, v) = shop.reactivate(&lic, cards::OK, "r2").await;
    assert_eq!(
        (st, code(&v)),
        (StatusCode::CONFLICT, "window_running"),
        "{v}"
    );
    assert_eq!(shop.sandbox.kept_charges().len(), charged + 1);
    // Enabling hands out the new window.
    let (st, v) = shop
        .call(&path("enable"), session, device.clone(), None)
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");

    // The new window ends too; eight concurrent reactivations with their own keys: one charge.
    shop.clock.advance(25 * 3600);
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let (state, session, path) =
                (shop.state.clone(), shop.session.clone(), path("reactivate"));
            tokio::spawn(async move {
                let req = Request::post(path)
                    .header("content-type", "application/json")
                    .header("authorization", format!("Bearer {session}"))
                    .header("idempotency-key", format!("race-{i}"))
                    .body(Body::from(json!({"card": cards::OK}).to_string()))
                    .unwrap();
                let addr: SocketAddr = "127.0.0.1:40000".parse().unwrap();
                let app = main_service::app(state).layer(MockConnectInfo(addr));
                let resp = app.oneshot(req).await.unwrap();
                let status = resp.status();
                let bytes = resp.into_body().collect().await.unwrap().to_bytes();
                (status, serde_json::from_slice::<Value>(&bytes).unwrap())
            })
        })
        .collect();
    let mut ok = 0;
    for t in tasks {
        let (st, v) = t.await.unwrap();
        match (st, code(&v)) {
            (StatusCode::OK, _) => ok += 1,
            (
                StatusCode::CONFLICT,
                "purchase_in_progress" | "already_reactivated" | "window_running",
            ) => {}
            other => panic!("{other:?}: {v}"),
        }
    }
    assert_eq!(ok, 1);
    assert_eq!(shop.sandbox.kept_charges().len(), charged + 2);

    // A revoked licence is not reactivated.
    shop.clock.advance(25 * 3600);
    let revoke = Request::post(path("revoke").replace("/v1/licences/", "/v1/admin/licences/"))
        .header("authorization", "Bearer admin-token-0123456789")
        .body(Body::empty())
        .unwrap();
    assert_eq!(shop.send(revoke).await.0, StatusCode::OK);
    let (st, v) = shop.reactivate(&lic, cards::OK, "r3").await;
    assert_eq!(
        (st, code(&v)),
        (StatusCode::FORBIDDEN, "licence_revoked"),
        "{v}"
    );
    assert_eq!(shop.sandbox.kept_charges().len(), charged + 2);
}
