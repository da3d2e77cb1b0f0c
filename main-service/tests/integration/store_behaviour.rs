//! The behaviour every `Store` backend must have, run against each backend: the embedded file,
//! and DynamoDB served by `moto` (started by the test on port 0; skipped with a visible line
//! where moto is missing). Each behaviour is a function over a fresh store. Races are run for
//! real: many tasks on a multi-threaded runtime against one store.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use e2e::moto::Moto;
use main_service::Config;
use main_service::config::DynamoDbSettings;
use main_service::records::{
    Account, Binding, EdgeStatus, Group, ItemRecord, LicenceRecord, Member, Privileges,
    Reactivation, Rental, SigningKeyRecord, TokenRecord,
};
use main_service::store::{
    BindOutcome, DynamoStore, EmbeddedStore, ReactivateOutcome, Reservation, SessionOutcome, Store,
    StoreError,
};
use protocol::{ItemId, Policy, Window};

fn item() -> ItemId {
    ItemId::parse("film").unwrap()
}

fn licence(id: &str) -> LicenceRecord {
    LicenceRecord {
        licence_id: id.into(),
        account_id: "acct".into(),
        item: item(),
        item_version: 1,
        policy: Policy::default(),
        binding: None,
        window: None,
        enable_by: Some(1000),
        revoked_at: None,
        reactivations: Vec::new(),
    }
}

fn token(id: &str, max_uses: u32) -> TokenRecord {
    TokenRecord {
        token_id: id.into(),
        account_id: "acct".into(),
        item: item(),
        licence_id: "lic".into(),
        max_uses,
        uses: 0,
        revoked_at: None,
        // Kept as written by both backends (authorize compares tokens with it).
        digest: Some(format!("digest-of-{id}")),
    }
}

fn rental(id: &str, token_id: &str) -> Rental {
    Rental {
        rental_id: id.into(),
        account_id: "acct".into(),
        item: item(),
        licence_id: "lic".into(),
        token_id: token_id.into(),
        charge_id: "ch".into(),
        amount_cents: 399,
        created_at: 1,
        download_url: "http://edge/x".into(),
        fallback_url: Some("http://edge2/x".into()),
        token: "jwt".into(),
        token_expires_at: 2,
        group_id: Some("grp-1".into()),
        client_ip: Some("192.0.2.7".into()),
        item_version: 1,
    }
}

async fn accounts_are_unique(store: Arc<dyn Store>) {
    let a = Account {
        account_id: "a1".into(),
        email: "x@example.com".into(),
        password_hash: "h".into(),
        created_at: 1,
        guest_claim: None,
    };
    assert!(store.create_account(a.clone()).await.unwrap());
    let mut b = a.clone();
    b.account_id = "a2".into();
    assert!(!store.create_account(b).await.unwrap());
    assert_eq!(
        store.account_by_email("x@example.com").await.unwrap(),
        Some(a.clone())
    );
    assert_eq!(
        store.account_by_email("nobody@example.com").await.unwrap(),
        None
    );
    assert_eq!(store.account("a1").await.unwrap(), Some(a));
    assert_eq!(store.account("a2").await.unwrap(), None, "never created");
}

/// A guest account is claimed once, by its own claim, and keeps its id.
async fn guests_are_claimed_once(store: Arc<dyn Store>) {
    let guest = Account {
        account_id: "g1".into(),
        email: "guest@example.com".into(),
        password_hash: String::new(),
        created_at: 1,
        guest_claim: Some("c1".into()),
    };
    assert!(store.create_account(guest.clone()).await.unwrap());
    assert_eq!(
        store.account_by_email("guest@example.com").await.unwrap(),
        Some(guest.clone()),
        "the claim is kept"
    );
    let mut wrong = guest.clone();
    wrong.guest_claim = Some("c2".into());
    assert!(
        !store.claim_account(&wrong, "h").await.unwrap(),
        "another claim"
    );
    let mut other = guest.clone();
    other.account_id = "g2".into();
    assert!(
        !store.claim_account(&other, "h").await.unwrap(),
        "another account"
    );
    assert!(store.claim_account(&guest, "h").await.unwrap());
    let claimed = store
        .account_by_email("guest@example.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (claimed.account_id.as_str(), claimed.password_hash.as_str()),
        ("g1", "h")
    );
    assert_eq!(claimed.guest_claim, None);
    assert!(
        !store.claim_account(&guest, "h2").await.unwrap(),
        "claimed already"
    );
    let registered = store
        .account_by_email("guest@example.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        registered.password_hash, "h",
        "a second claim changes nothing"
    );
}

async fn items_round_trip(store: Arc<dyn Store>) {
    let rec = ItemRecord {
        id: item(),
        title: "Film".into(),
        version: 1,
        key_version: 1,
        plaintext_len: 10,
        object_len: 100,
        chunk_size: 4096,
        chunk_count: 1,
        root: "00".into(),
        wrapped_content_key: "k".into(),
        level: Some(1),
        regions: vec![],
        price_cents: 1,
        published_at: 1,
        public: false,
        policy: main_service::records::ItemPolicy {
            window_secs: Some(7200),
            max_plays: Some(3),
            enable_within_secs: None,
            reactivation_cents: Some(99),
        },
        rating: Some(12),
        presentation: Default::default(),
        previous: Vec::new(),
    };
    store.put_item(rec.clone()).await.unwrap();
    assert_eq!(store.item("film").await.unwrap(), Some(rec.clone()));
    assert_eq!(store.items().await.unwrap(), vec![rec.clone()]);
    assert_eq!(store.item("nope").await.unwrap(), None);

    // A rewrap replaces the item only while it is the version and key that were read.
    let resealed = ItemRecord {
        wrapped_content_key: "k-new".into(),
        ..rec.clone()
    };
    assert!(store.replace_item(&rec, resealed.clone()).await.unwrap());
    assert!(
        !store.replace_item(&rec, rec.clone()).await.unwrap(),
        "stale read"
    );
    let v2 = ItemRecord {
        version: 2,
        wrapped_content_key: "k-v2".into(),
        ..rec.clone()
    };
    store.put_item(v2.clone()).await.unwrap();
    assert!(
        !store
            .replace_item(&resealed, resealed.clone())
            .await
            .unwrap(),
        "new version"
    );
    assert_eq!(store.items().await.unwrap(), vec![v2]);
}

async fn purchases_are_idempotent(store: Arc<dyn Store>) {
    assert_eq!(
        store.reserve_purchase("acct/k1", 100).await.unwrap(),
        Reservation::Reserved
    );
    assert_eq!(
        store.reserve_purchase("acct/k1", 101).await.unwrap(),
        Reservation::InProgress
    );
    store
        .complete_purchase(
            "acct/k1",
            rental("r1", "t1"),
            licence("lic"),
            token("t1", 3),
        )
        .await
        .unwrap();
    match store.reserve_purchase("acct/k1", 102).await.unwrap() {
        Reservation::Completed(r) => assert_eq!(r.rental_id, "r1"),
        other => panic!("expected completed, got {other:?}"),
    }
    assert_eq!(store.rentals_of("acct").await.unwrap().len(), 1);
    // A completed purchase is never released: its key keeps answering with the rental, so a
    // late release (a failure after completion) cannot open the way to a second charge.
    store.release_purchase("acct/k1").await.unwrap();
    match store.reserve_purchase("acct/k1", 103).await.unwrap() {
        Reservation::Completed(r) => assert_eq!(r.rental_id, "r1"),
        other => panic!("a released completed purchase: {other:?}"),
    }
    // A released reservation (failed charge) can be retried.
    assert_eq!(
        store.reserve_purchase("acct/k2", 100).await.unwrap(),
        Reservation::Reserved
    );
    store.release_purchase("acct/k2").await.unwrap();
    assert_eq!(
        store.reserve_purchase("acct/k2", 100).await.unwrap(),
        Reservation::Reserved
    );
}

async fn concurrent_reservations_admit_one(store: Arc<dyn Store>) {
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let s = store.clone();
            tokio::spawn(async move { s.reserve_purchase("acct/race", 100).await.unwrap() })
        })
        .collect();
    let mut reserved = 0;
    for t in tasks {
        if t.await.unwrap() == Reservation::Reserved {
            reserved += 1;
        }
    }
    assert_eq!(reserved, 1);
}

fn binding(device: &str) -> Binding {
    Binding {
        device_id: device.into(),
        player_id: "p".into(),
        device_public_key: "00".repeat(32),
    }
}

async fn first_binding_wins(store: Arc<dyn Store>) {
    store
        .complete_purchase(
            "acct/b",
            rental("rb", "tb"),
            licence("lic-b"),
            token("tb", 3),
        )
        .await
        .unwrap();
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let s = store.clone();
            tokio::spawn(async move {
                s.bind_licence("lic-b", binding(&format!("dev-{i}")))
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut bound = Vec::new();
    for t in tasks {
        if let BindOutcome::Bound(l) = t.await.unwrap() {
            bound.push(l.binding.unwrap().device_id);
        }
    }
    assert_eq!(bound.len(), 1, "exactly one device wins: {bound:?}");
    // The winner may bind again; others stay refused.
    assert!(matches!(
        store
            .bind_licence("lic-b", binding(&bound[0]))
            .await
            .unwrap(),
        BindOutcome::Bound(_)
    ));
    assert_eq!(
        store.bind_licence("lic-b", binding("other")).await.unwrap(),
        BindOutcome::BoundElsewhere
    );
    assert_eq!(
        store.bind_licence("nope", binding("x")).await.unwrap(),
        BindOutcome::NotFound
    );
}

async fn enabling_keeps_the_first_window(store: Arc<dyn Store>) {
    store
        .complete_purchase(
            "acct/e",
            rental("re", "te"),
            licence("lic-e"),
            token("te", 3),
        )
        .await
        .unwrap();
    let w1 = Window { start: 10, end: 20 };
    let l = store.enable_licence("lic-e", w1).await.unwrap().unwrap();
    assert_eq!(l.window, Some(w1));
    let l = store
        .enable_licence("lic-e", Window { start: 15, end: 25 })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(l.window, Some(w1));
    assert_eq!(store.enable_licence("nope", w1).await.unwrap(), None);
}

async fn sessions_spend_uses_once(store: Arc<dyn Store>) {
    store
        .complete_purchase(
            "acct/s",
            rental("rs", "ts"),
            licence("lic-s"),
            token("ts", 3),
        )
        .await
        .unwrap();
    let started = |o: &SessionOutcome| matches!(o, SessionOutcome::Started { .. });
    assert!(started(
        &store
            .start_or_resume_session("ts", "ip|a", 100, 60)
            .await
            .unwrap()
    ));
    // Same session within the idle time: no use spent.
    for t in 101..110 {
        assert!(matches!(
            store
                .start_or_resume_session("ts", "ip|a", t, 60)
                .await
                .unwrap(),
            SessionOutcome::Existing { uses: 1, .. }
        ));
    }
    assert!(started(
        &store
            .start_or_resume_session("ts", "ip|b", 110, 60)
            .await
            .unwrap()
    ));
    // Session a idled out: resuming it is a new session.
    assert!(started(
        &store
            .start_or_resume_session("ts", "ip|a", 500, 60)
            .await
            .unwrap()
    ));
    assert_eq!(
        store
            .start_or_resume_session("ts", "ip|c", 500, 60)
            .await
            .unwrap(),
        SessionOutcome::Exhausted
    );
    assert_eq!(store.token("ts").await.unwrap().unwrap().uses, 3);
    // A session whose requests keep coming stays one session, however the backend spaces its
    // refreshes (`touch_after`): session c every 3 s for 200 s with a 60 s idle window.
    store
        .complete_purchase(
            "acct/k",
            rental("rk", "tk"),
            licence("lic-k"),
            token("tk", 2),
        )
        .await
        .unwrap();
    assert!(started(
        &store
            .start_or_resume_session("tk", "ip|c", 1000, 60)
            .await
            .unwrap()
    ));
    for t in (1003..1200).step_by(3) {
        assert!(
            matches!(
                store
                    .start_or_resume_session("tk", "ip|c", t, 60)
                    .await
                    .unwrap(),
                SessionOutcome::Existing { uses: 1, .. }
            ),
            "at {t}"
        );
    }
    assert_eq!(store.token("tk").await.unwrap().unwrap().uses, 1);
    assert_eq!(
        store
            .start_or_resume_session("nope", "k", 1, 60)
            .await
            .unwrap(),
        SessionOutcome::NotFound
    );
}

async fn concurrent_sessions_never_overspend(store: Arc<dyn Store>) {
    store
        .complete_purchase(
            "acct/c",
            rental("rc", "tc"),
            licence("lic-c"),
            token("tc", 3),
        )
        .await
        .unwrap();
    // As many concurrent first requests as a popular link sees; the token allows 3.
    let tasks: Vec<_> = (0..100)
        .map(|i| {
            let s = store.clone();
            tokio::spawn(async move {
                s.start_or_resume_session("tc", &format!("ip|{i}"), 100, 60)
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut started = 0;
    for t in tasks {
        if matches!(t.await.unwrap(), SessionOutcome::Started { .. }) {
            started += 1;
        }
    }
    assert_eq!(started, 3);
    assert_eq!(store.token("tc").await.unwrap().unwrap().uses, 3);
}

fn heartbeat(status: &str, open: u64) -> protocol::Heartbeat {
    protocol::Heartbeat {
        version: "0.1.0".into(),
        status: status.into(),
        reasons: if status == "ok" {
            vec![]
        } else {
            vec!["cache writes are failing".into()]
        },
        open_connections: open,
        max_connections: 1024,
        hit_ratio: Some(0.75),
        zones: vec![protocol::ZoneUse {
            zone: "licensed".into(),
            budget: 1 << 30,
            used: 1 << 20,
        }],
        lookups: 40,
        hits: 30,
        served_bytes: 1 << 24,
    }
}

async fn edge_statuses_keep_the_last_heartbeat(store: Arc<dyn Store>) {
    assert!(store.edge_statuses().await.unwrap().is_empty());
    for (edge, at, open) in [("edge-a", 100, 1), ("edge-b", 101, 2), ("edge-a", 130, 7)] {
        let status = EdgeStatus {
            edge_id: edge.into(),
            seen_at: at,
            heartbeat: heartbeat(if open == 7 { "degraded" } else { "ok" }, open),
            history: vec![main_service::edge_history::EdgeSample {
                at: at - at % 300,
                lookups: open,
                hits: 1,
                served_bytes: 4096,
            }],
        };
        store.put_edge_status(status).await.unwrap();
    }
    let mut all = store.edge_statuses().await.unwrap();
    all.sort_by(|a, b| a.edge_id.cmp(&b.edge_id));
    assert_eq!(all.len(), 2, "one status per edge: {all:?}");
    assert_eq!((all[0].edge_id.as_str(), all[0].seen_at), ("edge-a", 130));
    assert_eq!(all[0].heartbeat, heartbeat("degraded", 7));
    assert_eq!(
        all[0].history[0].lookups, 7,
        "the history is kept with the status"
    );
    assert_eq!((all[1].edge_id.as_str(), all[1].seen_at), ("edge-b", 101));
    // Heartbeats are not catalog items.
    assert!(store.items().await.unwrap().is_empty());
}

async fn revocations_keep_their_first_time(store: Arc<dyn Store>) {
    store
        .complete_purchase(
            "acct/r",
            rental("rr", "tr"),
            licence("lic-r"),
            token("tr", 3),
        )
        .await
        .unwrap();
    assert!(!store.revoke_token("nope", 5).await.unwrap());
    assert!(!store.revoke_licence("nope", 5).await.unwrap());
    assert!(store.revoke_token("tr", 100).await.unwrap());
    assert!(
        store.revoke_token("tr", 200).await.unwrap(),
        "again: still true"
    );
    assert_eq!(
        store.token("tr").await.unwrap().unwrap().revoked_at,
        Some(100)
    );
    // Sessions and windows written afterwards keep the mark.
    store
        .start_or_resume_session("tr", "ip|a", 150, 60)
        .await
        .unwrap();
    assert_eq!(
        store.token("tr").await.unwrap().unwrap().revoked_at,
        Some(100)
    );
    assert!(store.revoke_licence("lic-r", 300).await.unwrap());
    store
        .enable_licence(
            "lic-r",
            Window {
                start: 310,
                end: 400,
            },
        )
        .await
        .unwrap();
    let lic = store.licence("lic-r").await.unwrap().unwrap();
    assert_eq!(
        (lic.revoked_at, lic.window.map(|w| w.end)),
        (Some(300), Some(400))
    );
    assert!(store.revoke_licence("lic-r", 500).await.unwrap());
    assert_eq!(
        store.licence("lic-r").await.unwrap().unwrap().revoked_at,
        Some(300)
    );
}

fn member(account_id: &str) -> Member {
    Member {
        account_id: account_id.into(),
        email: format!("{account_id}@example.com"),
        privileges: Privileges {
            may_rent: true,
            monthly_cap_cents: Some(1000),
            max_rating: Some(12),
        },
        joined_at: 1,
        removed_at: None,
        spent: None,
    }
}

/// A new group `id` of one member, its owner.
fn group(id: &str) -> Group {
    Group {
        group_id: id.into(),
        name: "Family".into(),
        owner_id: "owner".into(),
        created_at: 1,
        payment_method: "4242424242424242".into(),
        revision: 1,
        members: vec![member("owner")],
        invitations: Vec::new(),
    }
}

/// A group changes only from the revision its writer read, and an account finds the groups it
/// belongs to — joined ones from the change that adds them, removed ones no longer.
async fn groups_change_only_from_the_revision_read(store: Arc<dyn Store>) {
    let g1 = group("grp-1");
    assert!(store.create_group(g1.clone()).await.unwrap());
    assert!(!store.create_group(g1.clone()).await.unwrap(), "id taken");
    assert_eq!(store.group("grp-1").await.unwrap(), Some(g1.clone()));
    assert_eq!(store.group("grp-none").await.unwrap(), None);

    // A member joins at revision 2.
    let mut g2 = g1.clone();
    g2.revision = 2;
    g2.members.push(member("kid"));
    assert!(store.update_group(&g1, g2.clone()).await.unwrap());
    // A writer who read revision 1 is refused, and changes nothing.
    let mut stale = g1.clone();
    stale.revision = 2;
    stale.name = "Stale".into();
    assert!(!store.update_group(&g1, stale).await.unwrap());
    assert_eq!(store.group("grp-1").await.unwrap(), Some(g2.clone()));

    let ids = |groups: Vec<Group>| groups.into_iter().map(|g| g.group_id).collect::<Vec<_>>();
    assert_eq!(ids(store.groups_of("kid").await.unwrap()), ["grp-1"]);
    assert_eq!(ids(store.groups_of("owner").await.unwrap()), ["grp-1"]);
    assert!(store.groups_of("stranger").await.unwrap().is_empty());
    // The groups found are the stored ones, at their latest revision.
    assert_eq!(store.groups_of("kid").await.unwrap()[0].revision, 2);

    // Removed at revision 3: kept in the record, no longer found from the account.
    let mut g3 = g2.clone();
    g3.revision = 3;
    g3.members[1].removed_at = Some(5);
    assert!(store.update_group(&g2, g3.clone()).await.unwrap());
    assert!(store.groups_of("kid").await.unwrap().is_empty());
    assert_eq!(ids(store.groups_of("owner").await.unwrap()), ["grp-1"]);
    assert_eq!(store.group("grp-1").await.unwrap(), Some(g3));
}

/// Many writers from the same revision: exactly one wins.
async fn concurrent_group_changes_admit_one(store: Arc<dyn Store>) {
    let g1 = group("grp-race");
    assert!(store.create_group(g1.clone()).await.unwrap());
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let (store, g1) = (store.clone(), g1.clone());
            tokio::spawn(async move {
                let mut next = g1.clone();
                next.revision = 2;
                next.members.push(member(&format!("m{i}")));
                store.update_group(&g1, next).await.unwrap()
            })
        })
        .collect();
    let mut won = 0;
    for t in tasks {
        won += usize::from(t.await.unwrap());
    }
    assert_eq!(won, 1);
    let held = store.group("grp-race").await.unwrap().unwrap();
    assert_eq!((held.revision, held.members.len()), (2, 2));
    let joined = &held.members[1].account_id;
    assert_eq!(store.groups_of(joined).await.unwrap().len(), 1);
}

fn reactivation(key: &str, start: u64) -> Reactivation {
    Reactivation {
        key: key.into(),
        charge_id: format!("ch-{key}"),
        amount_cents: 199,
        at: start,
        window: Window {
            start,
            end: start + 100,
        },
        after_end: 0,
    }
}

/// A reactivation replaces only the ended window its caller read, once per key.
async fn reactivation_replaces_only_the_ended_window(store: Arc<dyn Store>) {
    store
        .complete_purchase(
            "acct/x",
            rental("rx", "tx"),
            licence("lic-x"),
            token("tx", 3),
        )
        .await
        .unwrap();
    let first = Window { start: 10, end: 20 };
    store.enable_licence("lic-x", first).await.unwrap();
    let r1 = reactivation("k1", 30);
    let ReactivateOutcome::Reactivated(lic) = store
        .reactivate_licence("lic-x", 20, r1.clone())
        .await
        .unwrap()
    else {
        panic!("the ended window is replaced")
    };
    assert_eq!(
        (lic.window, lic.reactivations.clone()),
        (Some(r1.window), vec![r1.clone()])
    );
    // The same key again (a retry): the same answer, nothing written.
    assert_eq!(
        store
            .reactivate_licence("lic-x", 20, r1.clone())
            .await
            .unwrap(),
        ReactivateOutcome::Reactivated(lic.clone())
    );
    // Another key for the window already replaced: refused, nothing written.
    assert_eq!(
        store
            .reactivate_licence("lic-x", 20, reactivation("k2", 31))
            .await
            .unwrap(),
        ReactivateOutcome::Moved(lic.clone())
    );
    // The new window, once ended, is reactivated in turn.
    let r3 = reactivation("k3", 200);
    let ReactivateOutcome::Reactivated(lic) = store
        .reactivate_licence("lic-x", 130, r3.clone())
        .await
        .unwrap()
    else {
        panic!("the second ended window is replaced")
    };
    assert_eq!(lic.reactivations, vec![r1, r3.clone()]);
    assert_eq!(store.licence("lic-x").await.unwrap().unwrap(), *lic);
    // Revoked: never.
    store.revoke_licence("lic-x", 400).await.unwrap();
    assert!(matches!(
        store.reactivate_licence("lic-x", 300, reactivation("k4", 401)).await.unwrap(),
        ReactivateOutcome::Moved(l) if l.window == Some(r3.window)
    ));
    assert_eq!(
        store
            .reactivate_licence("nope", 20, reactivation("k5", 1))
            .await
            .unwrap(),
        ReactivateOutcome::NotFound
    );
}

fn signing_key(epoch: u64) -> SigningKeyRecord {
    SigningKeyRecord {
        epoch,
        kid: format!("main-{epoch}"),
        active_from: epoch * 100,
        created_at: epoch * 100,
        wrapped_secret: (epoch > 0).then(|| format!("sealed-{epoch}")),
    }
}

/// The signing-key ring grows by one key per writer that read its length: concurrent writers
/// after the same read add one key between them.
async fn the_signing_ring_grows_one_key_at_a_time(store: Arc<dyn Store>) {
    assert!(store.signing_keys().await.unwrap().is_empty());
    assert!(store.add_signing_key(0, signing_key(0)).await.unwrap());
    assert!(
        !store.add_signing_key(0, signing_key(9)).await.unwrap(),
        "stale length"
    );
    assert!(store.add_signing_key(1, signing_key(1)).await.unwrap());
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.add_signing_key(2, signing_key(2)).await.unwrap() })
        })
        .collect();
    let mut added = 0;
    for t in tasks {
        added += usize::from(t.await.unwrap());
    }
    assert_eq!(added, 1);
    assert_eq!(
        store.signing_keys().await.unwrap(),
        vec![signing_key(0), signing_key(1), signing_key(2)]
    );

    // Resealed as a whole, only at the length read.
    let mut resealed = vec![signing_key(0), signing_key(1), signing_key(2)];
    resealed[1].wrapped_secret = Some("resealed-1".into());
    assert!(
        !store
            .replace_signing_keys(2, resealed.clone())
            .await
            .unwrap()
    );
    assert!(
        store
            .replace_signing_keys(3, resealed.clone())
            .await
            .unwrap()
    );
    assert_eq!(store.signing_keys().await.unwrap(), resealed);
}

/// Promotions are replaced as a whole and read back in order.
async fn promotions_are_kept_in_order(store: Arc<dyn Store>) {
    assert!(store.promotions().await.unwrap().is_empty());
    store
        .set_promotions(vec!["b".into(), "a".into()])
        .await
        .unwrap();
    assert_eq!(store.promotions().await.unwrap(), ["b", "a"]);
    store.set_promotions(vec!["c".into()]).await.unwrap();
    assert_eq!(store.promotions().await.unwrap(), ["c"]);
}

/// Every behaviour, each on a fresh store from `make`.
async fn suite<F: Future<Output = Arc<dyn Store>>>(make: impl Fn() -> F) {
    accounts_are_unique(make().await).await;
    guests_are_claimed_once(make().await).await;
    items_round_trip(make().await).await;
    purchases_are_idempotent(make().await).await;
    concurrent_reservations_admit_one(make().await).await;
    first_binding_wins(make().await).await;
    enabling_keeps_the_first_window(make().await).await;
    sessions_spend_uses_once(make().await).await;
    concurrent_sessions_never_overspend(make().await).await;
    edge_statuses_keep_the_last_heartbeat(make().await).await;
    revocations_keep_their_first_time(make().await).await;
    groups_change_only_from_the_revision_read(make().await).await;
    concurrent_group_changes_admit_one(make().await).await;
    reactivation_replaces_only_the_ended_window(make().await).await;
    the_signing_ring_grows_one_key_at_a_time(make().await).await;
    promotions_are_kept_in_order(make().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn embedded_store_behaves() {
    let dir = tempfile::tempdir().unwrap();
    let n = AtomicUsize::new(0);
    let (dir, n) = (&dir, &n);
    suite(move || async move {
        let i = n.fetch_add(1, Ordering::SeqCst);
        Arc::new(EmbeddedStore::open(&dir.path().join(format!("s{i}.redb"))).unwrap())
            as Arc<dyn Store>
    })
    .await;
}

/// Main's configuration for the table `table` on `moto`, as an operator would write it.
fn dynamodb_config(moto: &Moto, table: &str) -> Config {
    let text = format!(
        r#"
        data_dir = "/nonexistent"
        admin_token = "0123456789abcdef"
        store = "dynamodb"
        [dynamodb]
        table = "{table}"
        region = "eu-west-1"
        endpoint = "{}"
        access_key = "testing"
        secret_key = "testing"
        [[regions]]
        name = "eu"
        countries = ["DE"]
        [[parents]]
        name = "p1"
        region = "eu"
        bucket = "b"
        primary = true
        "#,
        moto.url
    );
    let config = Config::from_toml(&text, "test.toml".as_ref()).unwrap();
    config.validate().unwrap();
    config
}

/// A fresh table on `moto`, created through the SDK with the names the store uses, opened
/// through the configuration as main opens it.
async fn fresh_table(moto: &Moto, table: &str) -> Arc<dyn Store> {
    let config = dynamodb_config(moto, table);
    let settings: &DynamoDbSettings = config.dynamodb.as_ref().unwrap();
    DynamoStore::connect(settings)
        .await
        .unwrap()
        .create_table()
        .await
        .unwrap();
    main_service::store::open(&config).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dynamodb_store_behaves() {
    let Some(moto) = Moto::start() else { return };
    let started = std::time::Instant::now();
    let n = AtomicUsize::new(0);
    let (moto_ref, n) = (&moto, &n);
    suite(move || async move {
        let i = n.fetch_add(1, Ordering::SeqCst);
        fresh_table(moto_ref, &format!("main-{i}")).await
    })
    .await;
    println!("dynamodb suite on moto: {:?}", started.elapsed());
}

#[tokio::test]
async fn dynamodb_tables_are_separate_and_failures_are_errors() {
    let Some(moto) = Moto::start() else { return };
    let a = fresh_table(&moto, "main-a").await;
    let b = fresh_table(&moto, "main-b").await;
    a.complete_purchase(
        "acct/p",
        rental("rp", "tp"),
        licence("lic-p"),
        token("tp", 3),
    )
    .await
    .unwrap();
    assert_eq!(a.token("tp").await.unwrap().unwrap().max_uses, 3);
    assert_eq!(b.token("tp").await.unwrap(), None);
    // A table that does not exist is a clear error, not an empty answer.
    let missing = main_service::store::open(&dynamodb_config(&moto, "no-such-table"))
        .await
        .unwrap();
    let err = missing.token("tp").await.unwrap_err();
    assert!(!err.is_transient(), "{err}");
    assert!(err.to_string().contains("token"), "{err}");
    // A server that is gone is "unavailable", after bounded retries.
    drop(moto);
    let err = a.token("tp").await.unwrap_err();
    assert!(
        matches!(err, StoreError::Unavailable { .. }) && err.is_transient(),
        "{err}"
    );
}

#[tokio::test]
async fn embedded_store_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("main.redb");
    {
        let s = EmbeddedStore::open(&path).unwrap();
        s.complete_purchase(
            "acct/p",
            rental("rp", "tp"),
            licence("lic-p"),
            token("tp", 3),
        )
        .await
        .unwrap();
    }
    let s = EmbeddedStore::open(&path).unwrap();
    assert_eq!(s.token("tp").await.unwrap().unwrap().max_uses, 3);
}
