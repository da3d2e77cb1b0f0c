//! Main on Lambda for real: the `main-service` binary started as a `provided.al2023` function
//! against a local Lambda Runtime API (real sockets), fed function-URL events (API Gateway v2
//! payload) for the customer and edge flows — ingest, register, log in, rent, authorize — with a
//! local S3 parent behind it. Checks the answers, that one process serves many invocations, and
//! that every log line is JSON; and the same with main's keys and tokens read from Secrets
//! Manager (served by `moto`) instead of the file and the data directory.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use aws_sdk_secretsmanager::config::{BehaviorVersion, Credentials, Region};
use base64::Engine as _;
use e2e::lambda::{Function, RuntimeApi};
use e2e::moto::Moto;
use serde_json::{Value, json};

const ADMIN_TOKEN: &str = "admin-token-0123456789";
const EDGE_SECRET: &str = "edge-eu-1-secret-0123456789";
const DEADLINE: Duration = Duration::from_secs(60);
const ACCESS_KEY: &str = "test-access-key";
const SECRET_KEY: &str = "test-secret-key";

/// A function-URL request, turned into an event by [`Request::event`].
struct Request<'a> {
    method: &'a str,
    path: &'a str,
    query: &'a str,
    headers: Vec<(&'a str, String)>,
    body: Option<Vec<u8>>,
    source_ip: &'a str,
    /// Cookies the browser sends (a function URL event carries them apart from the headers).
    cookies: Vec<String>,
}

impl<'a> Request<'a> {
    fn new(method: &'a str, path: &'a str) -> Self {
        Self {
            method,
            path,
            query: "",
            headers: Vec::new(),
            body: None,
            source_ip: "127.0.0.1",
            cookies: Vec::new(),
        }
    }

    fn json(mut self, body: Value) -> Self {
        self.headers
            .push(("content-type", "application/json".into()));
        self.body = Some(body.to_string().into_bytes());
        self
    }

    fn header(mut self, name: &'a str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// The event Lambda delivers for this request through a function URL: the recorded fixture
    /// with this request's method, path, query, headers, body and source address. Bodies that
    /// are not JSON travel base64-encoded, as Lambda sends them.
    fn event(&self) -> Vec<u8> {
        let mut event: Value =
            serde_json::from_str(include_str!("../data/function-url-post-rental.json"))
                .expect("fixture is JSON");
        event["rawPath"] = self.path.into();
        event["rawQueryString"] = self.query.into();
        if !self.query.is_empty() {
            let params: serde_json::Map<String, Value> = self
                .query
                .split('&')
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (k.to_owned(), v.into()))
                .collect();
            event["queryStringParameters"] = params.into();
        }
        if !self.cookies.is_empty() {
            event["cookies"] = self.cookies.clone().into();
        }
        let ctx = &mut event["requestContext"]["http"];
        ctx["method"] = self.method.into();
        ctx["path"] = self.path.into();
        ctx["sourceIp"] = self.source_ip.into();
        let headers = event["headers"].as_object_mut().expect("headers object");
        headers.retain(|k, _| k == "host" || k.starts_with("x-forwarded-"));
        headers.insert("x-forwarded-for".into(), self.source_ip.into());
        for (k, v) in &self.headers {
            headers.insert((*k).into(), v.clone().into());
        }
        let is_json = self
            .headers
            .iter()
            .any(|(k, v)| *k == "content-type" && v == "application/json");
        match &self.body {
            None => {
                event.as_object_mut().expect("object").remove("body");
                event["isBase64Encoded"] = false.into();
            }
            Some(b) if is_json => {
                event["body"] = String::from_utf8(b.clone()).expect("JSON is UTF-8").into();
                event["isBase64Encoded"] = false.into();
            }
            Some(b) => {
                event["body"] = base64::engine::general_purpose::STANDARD.encode(b).into();
                event["isBase64Encoded"] = true.into();
            }
        }
        serde_json::to_vec(&event).expect("serializes")
    }
}

/// What main answered through the function URL (the API Gateway v2 response payload).
#[derive(Debug)]
struct Answer {
    status: u16,
    headers: Value,
    body: Value,
    /// The body as text (pages are not JSON).
    raw: String,
    /// The cookies set (API Gateway v2 carries them apart from the headers).
    cookies: Vec<String>,
}

fn call(api: &RuntimeApi, req: Request<'_>) -> Answer {
    let raw = api
        .invoke(&req.event(), DEADLINE)
        .and_then(|a| a.response())
        .unwrap_or_else(|e| panic!("{} {}: {e:#}", req.method, req.path));
    let payload: Value = serde_json::from_slice(&raw).expect("the response payload is JSON");
    let body = payload["body"].as_str().unwrap_or("");
    let body = if payload["isBase64Encoded"] == true {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(body)
            .expect("base64 body");
        String::from_utf8(bytes).expect("UTF-8 body")
    } else {
        body.to_owned()
    };
    Answer {
        status: payload["statusCode"].as_u64().expect("statusCode") as u16,
        headers: payload["headers"].clone(),
        body: serde_json::from_str(&body).unwrap_or(Value::Null),
        raw: body,
        cookies: payload["cookies"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|c| c.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default(),
    }
}

/// The local parent main ingests into, served by this test's runtime.
fn start_parent(rt: &tokio::runtime::Runtime, root: &Path) -> std::net::SocketAddr {
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let config = parent_sync::ServerConfig {
        root: root.to_owned(),
        bucket: "parents".into(),
        region: "eu".into(),
        access_key: ACCESS_KEY.into(),
        secret_key: SECRET_KEY.into(),
        limits: Default::default(),
    };
    // Runs until the runtime is dropped at the end of the test.
    drop(rt.spawn(async move {
        parent_sync::run(listener, &config, std::future::pending::<()>()).await
    }));
    addr
}

/// main's file; without `secrets_in_file` it has no admin token and no edge secret (as
/// Terraform renders it: they come from Secrets Manager).
fn main_config(dir: &Path, parent: std::net::SocketAddr, secrets_in_file: bool) -> String {
    let text = format!(
        r#"
data_dir = {data_dir:?}
admin_token = "{ADMIN_TOKEN}"
[[regions]]
name = "eu"
countries = ["DE"]
[geo]
overrides = [ {{ cidr = "127.0.0.0/8", country = "DE" }}, {{ cidr = "127.0.0.99/32", country = "KP" }} ]
[[parents]]
name = "p1"
region = "eu"
bucket = "parents"
endpoint = "http://{parent}"
access_key = "{ACCESS_KEY}"
secret_key = "{SECRET_KEY}"
primary = true
[[edges]]
id = "edge-eu-1"
region = "eu"
url = "http://edge-eu-1.test"
secret = "{EDGE_SECRET}"
"#,
        data_dir = dir.join("data"),
    );
    if secrets_in_file {
        return text;
    }
    text.lines()
        .filter(|l| !l.starts_with("admin_token") && !l.starts_with("secret ="))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn main_serves_function_url_events_through_the_runtime_api() {
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let parent = start_parent(&rt, &dir.path().join("parent"));
    let config = dir.path().join("main.toml");
    std::fs::write(&config, main_config(dir.path(), parent, true)).unwrap();

    let api = RuntimeApi::start().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_main-service"));
    cmd.env("MAIN_CONFIG", &config).env("RUST_LOG", "info");
    let function = Function::start(&api, cmd, &dir.path().join("main.log")).unwrap();
    walk_the_flows(&api, &function, parent, ADMIN_TOKEN, EDGE_SECRET);
}

/// Health, ingest, register, log in, rent and authorize through `api`, then the logs.
fn walk_the_flows(
    api: &RuntimeApi,
    function: &Function,
    parent: std::net::SocketAddr,
    admin_token: &str,
    edge_secret: &str,
) {
    let log = || function.log();
    let health = call(api, Request::new("GET", "/healthz"));
    assert_eq!(health.status, 200, "{health:?}\n{}", log());
    assert_eq!(health.body["status"], "ok");

    // Ingest: the body is binary, so the event carries it base64-encoded.
    let content: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let mut ingest = Request::new("POST", "/v1/admin/items")
        .header("authorization", format!("Bearer {admin_token}"))
        .header("content-type", "application/octet-stream");
    ingest.query = "id=film&title=Film&regions=eu";
    ingest.body = Some(content);
    let item = call(api, ingest);
    assert_eq!(item.status, 201, "{item:?}\n{}", log());
    assert_eq!(item.body["id"], "film");

    let creds = json!({"email": "lambda@example.com", "password": "correct horse"});
    let registered = call(
        api,
        Request::new("POST", "/v1/accounts").json(creds.clone()),
    );
    assert_eq!(registered.status, 201, "{registered:?}");
    let again = call(
        api,
        Request::new("POST", "/v1/accounts").json(creds.clone()),
    );
    assert_eq!(again.status, 409, "the email is taken: {again:?}");
    assert_eq!(again.body["error"], "email_taken");
    let login = call(api, Request::new("POST", "/v1/sessions").json(creds));
    assert_eq!(login.status, 200, "{login:?}");
    let session = login.body["session"].as_str().unwrap().to_owned();

    // The web site through the function URL: a page sets the browser's seed (Secure: the
    // request came over https), and its form posted back logs in with a Secure session cookie.
    let page = call(
        api,
        Request::new("GET", "/login").header("accept", "text/html"),
    );
    assert_eq!(page.status, 200, "{page:?}\n{}", log());
    assert!(
        page.headers["content-type"]
            .as_str()
            .unwrap_or("")
            .starts_with("text/html")
    );
    let seed = page
        .cookies
        .iter()
        .find(|c| c.starts_with("seed="))
        .unwrap_or_else(|| panic!("no seed cookie: {page:?}"));
    assert!(
        seed.contains("Secure") && seed.contains("HttpOnly"),
        "{seed}"
    );
    let field = "name=\"form_token\" value=\"";
    let at = page.raw.find(field).expect("a form token") + field.len();
    let token = &page.raw[at..at + 32];
    let mut form =
        Request::new("POST", "/login").header("content-type", "application/x-www-form-urlencoded");
    form.cookies = vec![seed.split(';').next().unwrap().to_owned()];
    form.body = Some(
        format!("form_token={token}&email=lambda%40example.com&password=correct+horse")
            .into_bytes(),
    );
    let posted = call(api, form);
    assert_eq!(posted.status, 303, "{posted:?}\n{}", log());
    assert_eq!(posted.headers["location"], "/rentals");
    let sid = posted
        .cookies
        .iter()
        .find(|c| c.starts_with("sid="))
        .unwrap_or_else(|| panic!("no session cookie: {posted:?}"));
    assert!(
        sid.contains("Secure") && sid.contains("SameSite=Lax"),
        "{sid}"
    );

    let rent = |ip: &'static str, key: &'static str| {
        let mut r = Request::new("POST", "/v1/rentals")
            .json(json!({"item": "film", "card": "4242424242424242"}))
            .header("authorization", format!("Bearer {session}"))
            .header("idempotency-key", key);
        r.source_ip = ip;
        call(api, r)
    };
    // The client's address is the function URL's source IP: 127.0.0.99 is outside the region.
    let denied = rent("127.0.0.99", "lambda-1");
    assert_eq!(denied.status, 403, "{denied:?}");
    let rental = rent("127.0.0.1", "lambda-2");
    assert_eq!(rental.status, 201, "{rental:?}\n{}", log());
    assert!(
        rental.body["download_url"]
            .as_str()
            .unwrap()
            .starts_with("http://edge-eu-1.test/v1/content/film?token="),
        "{rental:?}"
    );
    let token = rental.body["token"].as_str().unwrap().to_owned();

    let authorize = |edge_secret: &str, sid: &str| {
        call(
            api,
            Request::new("POST", "/v1/edge/authorize")
                .json(json!({"token": token, "item": "film", "client_ip": "127.0.0.1", "session_hint": sid}))
                .header("x-edge-id", "edge-eu-1")
                .header("authorization", format!("Bearer {edge_secret}")),
        )
    };
    let grant = authorize(edge_secret, "s1");
    assert_eq!(grant.status, 200, "{grant:?}\n{}", log());
    assert_eq!(grant.body["new_session"], true);
    assert_eq!(grant.body["uses_left"], 2);
    assert_eq!(grant.body["object"]["item"], "film");
    let source = grant.body["sources"][0]["url"].as_str().unwrap();
    assert!(
        source.starts_with(&format!("http://{parent}/parents/items/film/v1.sealed?")),
        "a presigned URL on the parent: {source}"
    );
    let resumed = authorize(edge_secret, "s1");
    assert_eq!(resumed.body["new_session"], false, "{resumed:?}");
    let refused = authorize("not-the-edge-secret-0000", "s2");
    assert_eq!(refused.status, 401, "{refused:?}");
    assert_eq!(
        refused.headers["content-type"], "application/json",
        "{refused:?}"
    );

    // Logs: JSON lines only (CloudWatch's JSON log format), with the domain events of this run
    // inside the runtime's per-invocation span, which carries the request id.
    let text = log();
    let lines: Vec<Value> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    for message in ["ingested", "rented", "download session started"] {
        let line = lines
            .iter()
            .find(|l| l["fields"]["message"] == message)
            .unwrap_or_else(|| panic!("no {message:?} line in\n{text}"));
        assert_eq!(line["level"], "INFO", "{line}");
        assert!(
            line.to_string().contains("00000000-0000-4000-8000-"),
            "the line names its invocation's request id: {line}"
        );
    }
}

#[test]
fn a_bad_configuration_stops_main_at_cold_start_with_a_json_log_line() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("main.toml");
    std::fs::write(
        &config,
        "data_dir = \"/tmp/x\"\nadmin_token = \"short\"\nparents = []\n",
    )
    .unwrap();
    let api = RuntimeApi::start().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_main-service"));
    cmd.env("MAIN_CONFIG", &config);
    let mut function = Function::start(&api, cmd, &dir.path().join("main.log")).unwrap();
    let deadline = std::time::Instant::now() + DEADLINE;
    let status = loop {
        if let Some(status) = function.exited() {
            break status;
        }
        assert!(std::time::Instant::now() < deadline, "main did not stop");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(!status.success());
    assert!(api.first_poll().is_none(), "main never asked for an event");
    let log = function.log();
    let line: Value = log
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .find(|l: &Value| l["level"] == "ERROR")
        .unwrap_or_else(|| panic!("no JSON error line in\n{log}"));
    let error = line["fields"]["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("admin_token"),
        "the line names the setting: {line}"
    );
}

#[test]
fn main_on_lambda_takes_its_keys_and_tokens_from_secrets_manager() {
    let Some(moto) = Moto::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let parent = start_parent(&rt, &dir.path().join("parent"));
    let config = dir.path().join("main.toml");
    std::fs::write(&config, main_config(dir.path(), parent, false)).unwrap();

    // The four secrets as the operator puts them (docs/deploy-aws.md, step 4).
    let sm = aws_sdk_secretsmanager::Client::from_conf(
        aws_sdk_secretsmanager::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("eu-west-1"))
            .endpoint_url(&moto.url)
            .credentials_provider(Credentials::new("test", "test", None, None, "test"))
            .build(),
    );
    let pair = protocol::Signer::generate("k").to_bytes();
    let admin_token = "admin-token-from-secrets-manager";
    let edge_secret = "edge-eu-1-secret-from-secrets-manager";
    let values = [
        (
            "MAIN_SIGNING_KEY_SECRET_ARN",
            "cdn/main/signing-key",
            hex::encode(&pair),
        ),
        (
            "MAIN_KEY_ENCRYPTION_KEY_SECRET_ARN",
            "cdn/main/key-encryption-key",
            "3c".repeat(32),
        ),
        (
            "MAIN_ADMIN_TOKEN_SECRET_ARN",
            "cdn/main/admin-token",
            admin_token.to_owned(),
        ),
        (
            "MAIN_EDGE_SECRETS_SECRET_ARN",
            "cdn/main/edge-secrets",
            json!({ "edge-eu-1": edge_secret, "edge-gone": "an-edge-no-longer-configured" })
                .to_string(),
        ),
    ];
    let api = RuntimeApi::start().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_main-service"));
    cmd.env("MAIN_CONFIG", &config)
        .env("RUST_LOG", "info")
        // The SDK's own variable for a service's endpoint; the role's credentials on Lambda.
        .env("AWS_ENDPOINT_URL_SECRETS_MANAGER", &moto.url)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test");
    for (var, name, value) in &values {
        let arn = rt
            .block_on(sm.create_secret().name(*name).secret_string(value).send())
            .unwrap()
            .arn
            .unwrap();
        cmd.env(var, arn);
    }
    let function = Function::start(&api, cmd, &dir.path().join("main.log")).unwrap();

    // Tokens are signed with the key from the secret.
    let jwks = call(&api, Request::new("GET", "/.well-known/jwks.json"));
    assert_eq!(jwks.status, 200, "{jwks:?}\n{}", function.log());
    let expected = protocol::Signer::from_bytes("k", &pair).unwrap().jwks();
    assert_eq!(jwks.body["keys"][0]["x"], expected.keys[0].x.as_str());

    walk_the_flows(&api, &function, parent, admin_token, edge_secret);

    // No key was generated or written: both came from Secrets Manager.
    let data = dir.path().join("data");
    for file in ["signing-key.hex", "key-encryption-key.hex"] {
        assert!(!data.join(file).exists(), "{file} was written");
    }
    let log = function.log();
    assert!(log.contains("secrets read"), "{log}");
    assert!(
        log.contains("edge-gone"),
        "the unknown edge is named in a warning: {log}"
    );
    for (_, _, value) in &values {
        assert!(
            !log.contains(value.as_str()),
            "a secret value reached the log"
        );
    }
}
