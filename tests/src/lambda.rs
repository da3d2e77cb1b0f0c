//! A local AWS Lambda: the Runtime API a `provided.al2023` function polls, served on loopback
//! port 0, and the function itself as a child process pointed at it.
//!
//! [`RuntimeApi`] implements the calls a custom runtime makes (`GET
//! /2018-06-01/runtime/invocation/next`, `POST …/invocation/{id}/response`, `POST
//! …/invocation/{id}/error`, `POST …/init/error`), hands out the events given to
//! [`RuntimeApi::invoke`] one at a time, and returns what the function answered. [`Function`]
//! starts a binary with the environment Lambda gives it, so the binary takes its Lambda path
//! exactly as in AWS. Tests and the cold-start benchmark use both.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio::sync::mpsc as async_mpsc;

const PREFIX: &str = "/2018-06-01/runtime";

/// The function name, ARN and memory the harness reports to the function.
pub const FUNCTION_NAME: &str = "cdn-test-function";
const FUNCTION_ARN: &str = "arn:aws:lambda:eu-west-1:123456789012:function:cdn-test-function";
const MEMORY_MB: &str = "512";
const TRACE_ID: &str = "Root=1-6743a000-0123456789abcdef01234567;Sampled=0";

/// What the function answered to one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// `POST …/response`: the handler's result, as sent.
    Response(Vec<u8>),
    /// `POST …/error`: the handler failed; the error type header and the JSON body.
    Error { error_type: String, body: String },
}

impl Answer {
    /// The response body, or an error describing the function's failure.
    pub fn response(self) -> anyhow::Result<Vec<u8>> {
        match self {
            Answer::Response(body) => Ok(body),
            Answer::Error { error_type, body } => {
                bail!("the function reported an error ({error_type}): {body}")
            }
        }
    }
}

/// An answer and when it reached the Runtime API.
#[derive(Debug)]
pub struct Timed {
    pub answer: Answer,
    pub at: Instant,
}

struct Invocation {
    id: String,
    event: Vec<u8>,
    deadline: Duration,
}

#[derive(Default)]
struct Shared {
    waiting: Mutex<HashMap<String, mpsc::Sender<Timed>>>,
    init_error: Mutex<Option<String>>,
    first_poll: Mutex<Option<Instant>>,
}

#[derive(Clone)]
struct Api {
    shared: Arc<Shared>,
    queue: Arc<tokio::sync::Mutex<async_mpsc::UnboundedReceiver<Invocation>>>,
}

/// The Runtime API on `127.0.0.1:PORT`, served by a thread of its own until dropped.
pub struct RuntimeApi {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    queue: async_mpsc::UnboundedSender<Invocation>,
    next_id: Mutex<u64>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl std::fmt::Debug for RuntimeApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuntimeApi")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl RuntimeApi {
    /// Binds port 0 on loopback and starts serving.
    pub fn start() -> anyhow::Result<Self> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").context("binding port 0")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let (queue, rx) = async_mpsc::unbounded_channel();
        let shared = Arc::new(Shared::default());
        let api = Api {
            shared: shared.clone(),
            queue: Arc::new(tokio::sync::Mutex::new(rx)),
        };
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        std::thread::Builder::new()
            .name("lambda-runtime-api".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let listener = tokio::net::TcpListener::from_std(listener)
                        .expect("a bound std listener converts");
                    let _ = axum::serve(listener, router(api))
                        .with_graceful_shutdown(async {
                            let _ = stopped.await;
                        })
                        .await;
                });
            })?;
        Ok(Self {
            addr,
            shared,
            queue,
            next_id: Mutex::new(0),
            stop: Some(stop),
        })
    }

    /// The value of `AWS_LAMBDA_RUNTIME_API` (`host:port`, no scheme).
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    /// Queues `event` for the function's next poll and returns its request id and a receiver of
    /// the answer. The function has `deadline` to answer, as Lambda's timeout.
    pub fn send(&self, event: &[u8], deadline: Duration) -> (String, mpsc::Receiver<Timed>) {
        let id = {
            let mut n = self.next_id.lock().unwrap();
            *n += 1;
            format!("00000000-0000-4000-8000-{:012}", *n)
        };
        let (tx, rx) = mpsc::channel();
        self.shared.waiting.lock().unwrap().insert(id.clone(), tx);
        // The receiving half lives as long as the server thread, which lives as long as `self`.
        let _ = self.queue.send(Invocation {
            id: id.clone(),
            event: event.to_vec(),
            deadline,
        });
        (id, rx)
    }

    /// Sends `event` and waits up to `deadline` for the function's answer.
    pub fn invoke(&self, event: &[u8], deadline: Duration) -> anyhow::Result<Answer> {
        let (id, rx) = self.send(event, deadline);
        match rx.recv_timeout(deadline) {
            Ok(timed) => Ok(timed.answer),
            Err(_) => {
                let init = self.init_error();
                bail!(
                    "no answer to invocation {id} within {deadline:?}{}",
                    init.map(|e| format!("; init error: {e}"))
                        .unwrap_or_default()
                )
            }
        }
    }

    /// What the function reported through `POST …/init/error`, if it did.
    pub fn init_error(&self) -> Option<String> {
        self.shared.init_error.lock().unwrap().clone()
    }

    /// When the function first asked for an event (the end of its init phase).
    pub fn first_poll(&self) -> Option<Instant> {
        *self.shared.first_poll.lock().unwrap()
    }

    /// Sets the environment Lambda gives a function on `cmd`: the Runtime API address, the
    /// function's name, version, memory and log names, and `AWS_REGION`.
    pub fn configure(&self, cmd: &mut Command) {
        cmd.env("AWS_LAMBDA_RUNTIME_API", self.host())
            .env("AWS_LAMBDA_FUNCTION_NAME", FUNCTION_NAME)
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", MEMORY_MB)
            .env(
                "AWS_LAMBDA_LOG_GROUP_NAME",
                format!("/aws/lambda/{FUNCTION_NAME}"),
            )
            .env(
                "AWS_LAMBDA_LOG_STREAM_NAME",
                "2026/11/24/[$LATEST]0123456789abcdef",
            )
            .env("AWS_REGION", "eu-west-1")
            .env("AWS_DEFAULT_REGION", "eu-west-1");
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

fn router(api: Api) -> Router {
    Router::new()
        .route(&format!("{PREFIX}/invocation/next"), get(next))
        .route(
            &format!("{PREFIX}/invocation/{{id}}/response"),
            post(response),
        )
        .route(&format!("{PREFIX}/invocation/{{id}}/error"), post(error))
        .route(&format!("{PREFIX}/init/error"), post(init_error))
        .with_state(api)
}

async fn next(State(api): State<Api>) -> Response {
    {
        let mut first = api.shared.first_poll.lock().unwrap();
        if first.is_none() {
            *first = Some(Instant::now());
        }
    }
    // One poller at a time, as Lambda runs one invocation per instance.
    let Some(inv) = api.queue.lock().await.recv().await else {
        return StatusCode::GONE.into_response();
    };
    let deadline_ms = (SystemTime::now() + inv.deadline)
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_millis();
    let mut headers = HeaderMap::new();
    let mut set = |name: &'static str, value: String| {
        headers.insert(
            name,
            HeaderValue::from_str(&value).expect("header values are ASCII"),
        );
    };
    set("lambda-runtime-aws-request-id", inv.id.clone());
    set("lambda-runtime-deadline-ms", deadline_ms.to_string());
    set("lambda-runtime-invoked-function-arn", FUNCTION_ARN.into());
    set("lambda-runtime-trace-id", TRACE_ID.into());
    set("content-type", "application/json".into());
    (StatusCode::OK, headers, inv.event).into_response()
}

fn answer(api: &Api, id: &str, answer: Answer) -> StatusCode {
    let at = Instant::now();
    match api.shared.waiting.lock().unwrap().remove(id) {
        Some(tx) => {
            let _ = tx.send(Timed { answer, at });
            StatusCode::ACCEPTED
        }
        // Lambda answers 400 InvalidRequestID to an unknown or already answered id.
        None => StatusCode::BAD_REQUEST,
    }
}

async fn response(State(api): State<Api>, UrlPath(id): UrlPath<String>, body: Bytes) -> StatusCode {
    answer(&api, &id, Answer::Response(body.to_vec()))
}

async fn error(
    State(api): State<Api>,
    UrlPath(id): UrlPath<String>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let error_type = headers
        .get("lambda-runtime-function-error-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let body = String::from_utf8_lossy(&body).into_owned();
    answer(&api, &id, Answer::Error { error_type, body })
}

async fn init_error(State(api): State<Api>, body: Bytes) -> StatusCode {
    *api.shared.init_error.lock().unwrap() = Some(String::from_utf8_lossy(&body).into_owned());
    StatusCode::ACCEPTED
}

/// A function binary running against a [`RuntimeApi`]; killed on drop. Its stderr (where
/// functions log) goes to a file, read by [`Function::log`].
#[derive(Debug)]
pub struct Function {
    child: Child,
    log: PathBuf,
}

impl Function {
    /// Starts `cmd` (its program and any extra environment already set) against `api`, with
    /// stderr to `log`. Returns as soon as the process exists: its init runs while the caller
    /// queues events.
    pub fn start(api: &RuntimeApi, mut cmd: Command, log: &Path) -> anyhow::Result<Self> {
        api.configure(&mut cmd);
        let err =
            std::fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
        cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(err);
        let child = cmd.spawn().with_context(|| format!("starting {cmd:?}"))?;
        Ok(Self {
            child,
            log: log.to_owned(),
        })
    }

    /// Everything the function has logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The process's exit status, if it has exited.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Stops the process (SIGKILL) and waits for it.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Function {
    fn drop(&mut self) {
        self.stop();
    }
}
