use super::*;
use http::HeaderValue;
use protocol::ItemId;

const NOW: u64 = 1_000_000;

fn object(item: &str) -> ObjectInfo {
    ObjectInfo {
        item: ItemId::parse(item).unwrap(),
        version: 3,
        object_len: 10_000,
        chunk_size: 4096,
        plaintext_len: 9_000,
        root: "ab".repeat(32),
    }
}

fn pass(token: &str, session: Option<&str>, client: &str, until: u64) -> SessionPass {
    SessionPass {
        key: grant_key(token, session, client.parse().unwrap()),
        until,
        object: object("film"),
    }
}

/// Headers as the component sees them: the platform's client address last.
fn headers(client: &str, extra: &[(&'static str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (name, value) in extra {
        h.append(*name, HeaderValue::from_str(value).unwrap());
    }
    h.append(
        CLIENT_ADDR_HEADER,
        HeaderValue::from_str(&format!("{client}:5000")).unwrap(),
    );
    h
}

fn get(passes: &Passes, pq: &str, h: &HeaderMap, now: u64) -> Option<Answer> {
    passes.answer(&Method::GET, pq, h, now)
}

fn sent(answer: Option<Answer>) -> (ContentHead, HandoffPlan) {
    match answer {
        Some(Answer::Send { head, plan }) => (head, plan),
        other => panic!("expected bytes to send, got {other:?}"),
    }
}

fn header<'a>(head: &'a ContentHead, name: &str) -> Option<&'a str> {
    head.headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

#[test]
fn a_pass_answers_its_own_session_with_the_components_head() {
    let passes = Passes::default();
    passes.keep(pass("tok", Some("s1"), "10.0.0.1", NOW + 60), NOW);
    let h = headers("10.0.0.1", &[("range", "bytes=1000-2023")]);
    let (head, plan) = sent(get(&passes, "/v1/content/film?token=tok&sid=s1", &h, NOW));
    let info = object("film");
    let choice = edge_fn::RangeChoice::Partial(1000..2024);
    assert_eq!(head, content_head(&info, &choice, true).unwrap());
    assert_eq!(head.status, 206);
    assert_eq!(header(&head, "x-cache"), Some("HIT"));
    assert_eq!(header(&head, "cache-control"), Some("private"));
    assert_eq!((plan.start, plan.end), (1000, 2024));
    assert_eq!((plan.item.as_str(), plan.version), ("film", 3));
    assert_eq!(plan.root, info.root);
    assert_eq!(plan.pass, None);

    let whole = sent(get(
        &passes,
        "/v1/content/film?token=tok&sid=s1",
        &headers("10.0.0.1", &[]),
        NOW,
    ));
    assert_eq!(
        (whole.0.status, whole.1.start, whole.1.end),
        (200, 0, 10_000)
    );
}

#[test]
fn another_token_session_client_or_item_goes_to_the_component() {
    let passes = Passes::default();
    passes.keep(pass("tok", Some("s1"), "10.0.0.1", NOW + 60), NOW);
    let mine = headers("10.0.0.1", &[]);
    assert!(get(&passes, "/v1/content/film?token=tok&sid=s1", &mine, NOW).is_some());
    for pq in [
        "/v1/content/film?token=tok2&sid=s1",
        "/v1/content/film?token=tok&sid=s2",
        "/v1/content/film?token=tok",
        "/v1/content/film?sid=s1",
        "/v1/content/other?token=tok&sid=s1",
        "/v1/public/film?token=tok&sid=s1",
        "/v1/content/../film?token=tok&sid=s1",
    ] {
        assert_eq!(get(&passes, pq, &mine, NOW), None, "{pq}");
    }
    let other = headers("10.0.0.2", &[]);
    assert_eq!(
        get(&passes, "/v1/content/film?token=tok&sid=s1", &other, NOW),
        None
    );
    // A client naming the passed address itself: the platform's value (last) counts.
    let mut forged = HeaderMap::new();
    forged.append(CLIENT_ADDR_HEADER, HeaderValue::from_static("10.0.0.1:1"));
    forged.append(CLIENT_ADDR_HEADER, HeaderValue::from_static("10.0.0.2:1"));
    assert_eq!(
        get(&passes, "/v1/content/film?token=tok&sid=s1", &forged, NOW),
        None
    );
    assert_eq!(
        get(
            &passes,
            "/v1/content/film?token=tok&sid=s1",
            &HeaderMap::new(),
            NOW
        ),
        None,
        "no platform address"
    );
    let head = passes.answer(
        &Method::HEAD,
        "/v1/content/film?token=tok&sid=s1",
        &mine,
        NOW,
    );
    assert_eq!(
        head, None,
        "HEAD reports what is cached now: the component's"
    );
}

#[test]
fn a_pass_lapses_at_its_second() {
    let passes = Passes::default();
    passes.keep(pass("tok", None, "10.0.0.1", NOW + 60), NOW);
    let h = headers("10.0.0.1", &[]);
    let pq = "/v1/content/film?token=tok";
    assert!(get(&passes, pq, &h, NOW + 59).is_some());
    assert_eq!(get(&passes, pq, &h, NOW + 60), None);
    assert!(passes.is_empty(), "a lapsed pass is dropped");
    passes.keep(pass("tok", None, "10.0.0.1", NOW), NOW);
    assert!(passes.is_empty(), "a pass lapsed on arrival is not kept");
}

#[test]
fn validators_and_ranges_are_the_components() {
    let passes = Passes::default();
    passes.keep(pass("tok", None, "10.0.0.1", NOW + 60), NOW);
    let pq = "/v1/content/film?token=tok";
    let tag = etag(&object("film"));

    let h = headers("10.0.0.1", &[("if-none-match", &tag)]);
    assert_eq!(
        get(&passes, pq, &h, NOW),
        Some(Answer::NotModified(not_modified_head(&object("film"))))
    );

    let stale = headers(
        "10.0.0.1",
        &[("range", "bytes=0-9"), ("if-range", "\"other\"")],
    );
    let (head, plan) = sent(get(&passes, pq, &stale, NOW));
    assert_eq!((head.status, plan.start, plan.end), (200, 0, 10_000));

    let fresh = headers("10.0.0.1", &[("range", "bytes=-10"), ("if-range", &tag)]);
    let (head, plan) = sent(get(&passes, pq, &fresh, NOW));
    assert_eq!((head.status, plan.start, plan.end), (206, 9_990, 10_000));

    let past = headers("10.0.0.1", &[("range", "bytes=20000-")]);
    assert_eq!(
        get(&passes, pq, &past, NOW),
        None,
        "416 is the component's to answer"
    );
}

#[test]
fn passes_are_bounded() {
    let passes = Passes::default();
    for i in 0..MAX_PASSES {
        passes.keep(pass(&format!("old{i}"), None, "10.0.0.1", NOW + 1), NOW);
    }
    assert_eq!(passes.len(), MAX_PASSES);
    // Past the cap, the lapsed ones go first.
    passes.keep(pass("new", None, "10.0.0.1", NOW + 60), NOW + 5);
    assert_eq!(passes.len(), 1);
    let h = headers("10.0.0.1", &[]);
    assert!(get(&passes, "/v1/content/film?token=new", &h, NOW + 5).is_some());
}
