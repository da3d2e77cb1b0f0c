use super::*;
use crate::server::Prefixed;

fn client() -> SocketAddr {
    "192.0.2.7:40000".parse().unwrap()
}

fn parse(head: &str) -> Result<Option<(Request<()>, usize)>, ()> {
    plain_get(head.as_bytes(), client(), PlatformHeaders::Replace)
}

#[test]
fn a_plain_get_is_parsed_with_the_platform_headers() {
    let head = "GET /v1/content/film?token=t&sid=s HTTP/1.1\r\nHost: edge\r\nRange: bytes=0-9\r\n\
                spin-client-addr: 203.0.113.1:1\r\n\r\nGET /next";
    let (request, len) = parse(head).unwrap().unwrap();
    assert_eq!(len, head.len() - "GET /next".len());
    assert_eq!(request.uri(), "/v1/content/film?token=t&sid=s");
    assert_eq!(request.headers()["range"], "bytes=0-9");
    // The client's forged platform header is replaced by the socket's address.
    let addrs: Vec<_> = request
        .headers()
        .get_all("spin-client-addr")
        .iter()
        .collect();
    assert_eq!(addrs, ["192.0.2.7:40000"]);
}

#[test]
fn an_incomplete_head_waits_for_more() {
    assert!(
        parse("GET /v1/content/film HTTP/1.1\r\nHost: e")
            .unwrap()
            .is_none()
    );
    assert!(parse("").unwrap().is_none());
}

#[test]
fn anything_but_a_plain_get_is_hypers() {
    for head in [
        "HEAD /v1/content/f HTTP/1.1\r\nHost: e\r\n\r\n",
        "POST /v1/content/f HTTP/1.1\r\nHost: e\r\nContent-Length: 3\r\n\r\nabc",
        "GET /v1/content/f HTTP/1.0\r\nHost: e\r\n\r\n",
        "GET /v1/content/f HTTP/1.1\r\n\r\n",
        "GET /v1/content/f HTTP/1.1\r\nHost: e\r\nContent-Length: 1\r\n\r\n",
        "GET /v1/content/f HTTP/1.1\r\nHost: e\r\nTransfer-Encoding: chunked\r\n\r\n",
        "GET /v1/content/f HTTP/1.1\r\nHost: e\r\nConnection: close\r\n\r\n",
        "GET /v1/content/f HTTP/1.1\r\nHost: e\r\nExpect: 100-continue\r\n\r\n",
        "GET http://e/v1/content/f HTTP/1.1\r\nHost: e\r\n\r\n",
        "GET /v1/content/f HTTP/1.1\r\nHo st: e\r\n\r\n",
        "\u{1}\u{2}garbage\r\n\r\n",
    ] {
        assert!(parse(head).is_err(), "{head:?}");
    }
    let long = format!("GET /{} HTTP/1.1\r\n", "a".repeat(MAX_HEAD));
    assert!(parse(&long).is_err(), "an unending head");
}

#[test]
fn a_keep_alive_get_is_still_plain() {
    let head = "GET /v1/content/f HTTP/1.1\r\nHost: e\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n";
    assert!(parse(head).unwrap().is_some());
}

#[tokio::test]
async fn prefixed_reads_the_prefix_first() {
    let (mut near, far) = tokio::io::duplex(64);
    let mut conn = Prefixed::new(Bytes::from_static(b"abc"), far);
    tokio::io::AsyncWriteExt::write_all(&mut near, b"def")
        .await
        .unwrap();
    drop(near);
    let mut all = Vec::new();
    conn.read_to_end(&mut all).await.unwrap();
    assert_eq!(all, b"abcdef");
}

/// A connected pair of loopback sockets: (ours, the client's).
async fn pair() -> (TcpStream, std::net::TcpStream) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let client = tokio::task::spawn_blocking(move || std::net::TcpStream::connect(addr));
    let (ours, _) = listener.accept().await.unwrap();
    (ours, client.await.unwrap().unwrap())
}

fn file_of(bytes: &[u8]) -> (tempfile::TempDir, Arc<std::fs::File>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("chunk");
    std::fs::write(&path, bytes).unwrap();
    let file = Arc::new(std::fs::File::open(&path).unwrap());
    (dir, file)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_head_bytes_and_file_ranges_arrive_in_order() {
    let content: Vec<u8> = (0..(5 << 20) as u32).map(|i| (i % 251) as u8).collect();
    let (_dir, file) = file_of(&content);
    let (ours, mut theirs) = pair().await;
    let reader = std::thread::spawn(move || {
        let mut all = Vec::new();
        std::io::Read::read_to_end(&mut theirs, &mut all).unwrap();
        all
    });
    let parts = vec![
        Part::Bytes(Bytes::from_static(b"meta")),
        Part::File {
            file: file.clone(),
            within: 7..(4 << 20) + 3,
        },
        Part::File {
            file,
            within: 0..10,
        },
    ];
    let sent = send(&ours, b"HEAD\r\n".to_vec(), parts, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(sent, 4 + (4 << 20) + 3 - 7 + 10);
    drop(ours);
    let all = reader.join().unwrap();
    let mut want = b"HEAD\r\nmeta".to_vec();
    want.extend_from_slice(&content[7..(4 << 20) + 3]);
    want.extend_from_slice(&content[..10]);
    assert!(all == want, "{} bytes, want {}", all.len(), want.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_reads_nothing_is_dropped_after_the_stall_timeout() {
    let (_dir, file) = file_of(&vec![7u8; 32 << 20]);
    let (ours, theirs) = pair().await;
    let started = Instant::now();
    let sent = send_file(&ours, file, 0..32 << 20, Duration::from_millis(300)).await;
    let error = sent.unwrap_err();
    assert_eq!(error.kind(), io::ErrorKind::TimedOut);
    assert!(started.elapsed() < Duration::from_secs(10));
    drop(theirs);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_shorter_than_its_range_fails_instead_of_hanging() {
    let (_dir, file) = file_of(&[1u8; 100]);
    let (ours, _theirs) = pair().await;
    let error = send_file(&ours, file, 0..200, Duration::from_secs(5))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), io::ErrorKind::UnexpectedEof);
}
