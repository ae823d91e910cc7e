//! A hostile upstream MCP server (Streamable HTTP, written with axum in the
//! test process) whose every misbehaviour a test switches on: lists that
//! never end, answers of hundreds of megabytes, SSE events without a line
//! end, floods of `list_changed`, a slow `initialize`, errors that echo the
//! request's credentials. It keeps sessions (unknown id → 404), counts what
//! it is asked, and records every `Authorization` header it receives.

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How the upstream pages its lists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lists {
    /// Every list in one page.
    Plain,
    /// Every page the same entries and the same `nextCursor`.
    SameCursor,
    /// A new cursor on every page, forever, with the same entries.
    Endless,
    /// Pages of `big` entries (each ~100 KB), forever, new cursors.
    Heavy,
    /// One page of `n` megabytes.
    Huge(usize),
}

/// What the upstream does; switch at any time.
pub struct Behaviour {
    pub lists: Mutex<Lists>,
    /// Milliseconds every `initialize` waits before answering.
    pub init_delay_ms: AtomicU64,
    /// `notifications/tools/list_changed` sent at once on the first
    /// standalone (GET) stream; 0 answers GET with 405.
    pub storm: AtomicUsize,
    /// Answer every POST with 401 and a body echoing the request's
    /// `Authorization` header.
    pub echo_401: std::sync::atomic::AtomicBool,
}

/// What the upstream saw.
#[derive(Default)]
pub struct Seen {
    /// Requests per JSON-RPC method.
    pub methods: Mutex<HashMap<String, usize>>,
    /// Session ids issued and not ended.
    pub sessions: Mutex<HashSet<String>>,
    /// `DELETE`s that ended a live session.
    pub deletes: AtomicUsize,
    /// Every `Authorization` header value received.
    pub authorizations: Mutex<Vec<String>>,
    /// Standalone streams opened.
    pub streams: AtomicUsize,
}

pub struct Shared {
    pub behaviour: Behaviour,
    pub seen: Seen,
    /// The tools offered (changed by a test, announced by a storm).
    pub tools: Mutex<Vec<String>>,
}

/// A running hostile upstream.
pub struct Hostile {
    pub base: String,
    /// Its MCP endpoint.
    pub url: String,
    pub shared: Arc<Shared>,
}

impl Hostile {
    /// Requests of `method` so far.
    pub fn count(&self, method: &str) -> usize {
        self.shared
            .seen
            .methods
            .lock()
            .unwrap()
            .get(method)
            .copied()
            .unwrap_or(0)
    }

    /// Sessions issued and not ended.
    pub fn live_sessions(&self) -> usize {
        self.shared.seen.sessions.lock().unwrap().len()
    }

    pub fn deletes(&self) -> usize {
        self.shared.seen.deletes.load(Ordering::SeqCst)
    }

    /// Every `Authorization` header value received, joined.
    pub fn authorizations(&self) -> String {
        self.shared.seen.authorizations.lock().unwrap().join("\n")
    }

    pub fn set_lists(&self, lists: Lists) {
        *self.shared.behaviour.lists.lock().unwrap() = lists;
    }

    pub fn set_tools(&self, tools: &[&str]) {
        *self.shared.tools.lock().unwrap() = tools.iter().map(|t| t.to_string()).collect();
    }
}

/// Start one on a free loopback port.
pub async fn start(lists: Lists) -> Hostile {
    let shared = Arc::new(Shared {
        behaviour: Behaviour {
            lists: Mutex::new(lists),
            init_delay_ms: AtomicU64::new(0),
            storm: AtomicUsize::new(0),
            echo_401: Default::default(),
        },
        seen: Seen::default(),
        tools: Mutex::new(vec!["alpha".into(), "beta".into(), "gamma".into()]),
    });
    let app = Router::new()
        .route("/mcp", get(stream).post(post).delete(delete))
        .route("/reports", get(echo_unauthorized))
        .route("/contacts/{id}", get(echo_ok))
        .with_state(Arc::clone(&shared));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Hostile {
        base: format!("http://{addr}"),
        url: format!("http://{addr}/mcp"),
        shared,
    }
}

type S = State<Arc<Shared>>;

fn note_auth(shared: &Shared, headers: &HeaderMap) -> String {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    if !auth.is_empty() {
        shared
            .seen
            .authorizations
            .lock()
            .unwrap()
            .push(auth.clone());
    }
    auth
}

/// A 401 whose body repeats the credential, as some APIs do.
async fn echo_unauthorized(State(shared): S, headers: HeaderMap) -> Response {
    let auth = note_auth(&shared, &headers);
    (
        StatusCode::UNAUTHORIZED,
        format!("invalid credentials: Authorization: {auth} (token {auth})"),
    )
        .into_response()
}

/// A 200 whose body repeats the credential (a "whoami").
async fn echo_ok(State(shared): S, headers: HeaderMap) -> Response {
    let auth = note_auth(&shared, &headers);
    axum::Json(json!({"id": "me", "authorization": auth})).into_response()
}

fn session_of(headers: &HeaderMap) -> Option<String> {
    headers
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

fn reply(id: &Value, result: Value) -> Response {
    axum::Json(json!({"jsonrpc": "2.0", "id": id, "result": result})).into_response()
}

async fn post(State(shared): S, headers: HeaderMap, body: Bytes) -> Response {
    let auth = note_auth(&shared, &headers);
    if shared.behaviour.echo_401.load(Ordering::SeqCst) {
        return (
            StatusCode::UNAUTHORIZED,
            format!("{{\"error\":\"invalid token\",\"received\":\"{auth}\"}}"),
        )
            .into_response();
    }
    let Ok(message) = serde_json::from_slice::<Value>(&body) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let method = message["method"].as_str().unwrap_or("").to_owned();
    *shared
        .seen
        .methods
        .lock()
        .unwrap()
        .entry(method.clone())
        .or_default() += 1;
    let id = message.get("id").cloned();
    if method == "initialize" {
        let delay = shared.behaviour.init_delay_ms.load(Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(delay)).await;
        let session = format!("s-{}", uuid_like());
        shared.seen.sessions.lock().unwrap().insert(session.clone());
        let mut r = reply(
            &id.unwrap_or(Value::Null),
            json!({
                "protocolVersion": "2025-11-25",
                "capabilities": {"tools": {"listChanged": true}, "prompts": {}, "resources": {}},
                "serverInfo": {"name": "hostile", "version": "0"},
            }),
        );
        r.headers_mut()
            .insert("mcp-session-id", session.parse().unwrap());
        return r;
    }
    let known =
        session_of(&headers).is_some_and(|s| shared.seen.sessions.lock().unwrap().contains(&s));
    if !known {
        return StatusCode::NOT_FOUND.into_response();
    }
    let Some(id) = id else {
        return StatusCode::ACCEPTED.into_response();
    };
    let params = &message["params"];
    match method.as_str() {
        "tools/list" => list(&shared, &id, "tools", params),
        "prompts/list" => list(&shared, &id, "prompts", params),
        "resources/list" => list(&shared, &id, "resources", params),
        "resources/templates/list" => list(&shared, &id, "resourceTemplates", params),
        "tools/call" => call(&id, params["name"].as_str().unwrap_or(""), &auth),
        _ => axum::Json(json!({"jsonrpc": "2.0", "id": id,
            "error": {"code": -32601, "message": "Method not found"}}))
        .into_response(),
    }
}

fn uuid_like() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::SeqCst)
}

/// An entry of list `key` named `name`.
fn entry(key: &str, name: &str) -> Value {
    match key {
        "resources" => json!({"uri": format!("file:///{name}"), "name": name}),
        "resourceTemplates" => {
            json!({"uriTemplate": format!("file:///{name}/{{x}}"), "name": name})
        }
        "prompts" => json!({"name": name}),
        _ => json!({"name": name, "inputSchema": {"type": "object"}}),
    }
}

fn list(shared: &Shared, id: &Value, key: &str, params: &Value) -> Response {
    let names = shared.tools.lock().unwrap().clone();
    let page: u64 = params["cursor"]
        .as_str()
        .and_then(|c| c.strip_prefix("page-"))
        .and_then(|n| n.parse().ok())
        .unwrap_or(1);
    let entries: Vec<Value> = names.iter().map(|n| entry(key, n)).collect();
    let lists = *shared.behaviour.lists.lock().unwrap();
    let result = match lists {
        Lists::Plain => json!({ key: entries }),
        Lists::SameCursor => json!({ key: entries, "nextCursor": "page-2" }),
        Lists::Endless => json!({ key: entries, "nextCursor": format!("page-{}", page + 1) }),
        Lists::Heavy => {
            let pad = "p".repeat(100_000);
            let heavy: Vec<Value> = (0..5)
                .map(|i| {
                    let mut e = entry(key, &format!("heavy_{page}_{i}"));
                    e["description"] = json!(pad);
                    e
                })
                .collect();
            json!({ key: heavy, "nextCursor": format!("page-{}", page + 1) })
        }
        Lists::Huge(mb) => {
            let mut e = entry(key, "huge");
            e["description"] = json!("h".repeat(mb << 20));
            json!({ key: [e] })
        }
    };
    reply(id, result)
}

/// 64 KiB of filler, shared by every streamed answer.
static FILLER: [u8; 65536] = [b'x'; 65536];

/// A body of `head`, then `total` bytes of filler, then `tail`, produced
/// as it is read (nothing is held in memory).
fn streamed(head: String, total: usize, tail: &'static str) -> Body {
    let chunks = total.div_ceil(FILLER.len());
    let parts = std::iter::once(Bytes::from(head))
        .chain((0..chunks).map(|_| Bytes::from_static(&FILLER)))
        .chain(std::iter::once(Bytes::from_static(tail.as_bytes())));
    Body::from_stream(futures_util::stream::iter(
        parts.map(Ok::<_, std::convert::Infallible>),
    ))
}

/// Like [`streamed`], with `unit` repeated instead of filler.
fn repeated(unit: &'static [u8], times: usize) -> Body {
    let per_chunk = (65536 / unit.len()).max(1);
    let chunk = Bytes::from(unit.repeat(per_chunk));
    let parts = (0..times.div_ceil(per_chunk))
        .map(move |_| Ok::<_, std::convert::Infallible>(chunk.clone()));
    Body::from_stream(futures_util::stream::iter(parts))
}

const MB200: usize = 200 << 20;

fn call(id: &Value, name: &str, auth: &str) -> Response {
    match name {
        // Echoes the credential it was called with.
        "whoami" => reply(id, json!({"content": [{"type": "text", "text": format!("you sent {auth}")}]})),
        // 200 MB of JSON, without Content-Length.
        "big_json" => Response::builder()
            .header("content-type", "application/json")
            .body(streamed(
                format!(r#"{{"jsonrpc":"2.0","id":{id},"result":{{"content":[{{"type":"text","text":""#),
                MB200,
                r#""}]}}"#,
            ))
            .unwrap(),
        // One SSE event of 200 MB that never ends its line.
        "big_sse" => Response::builder()
            .header("content-type", "text/event-stream")
            .body(streamed(
                format!(r#"event: message{}data: {{"jsonrpc":"2.0","id":{id},"result":{{"content":[{{"type":"text","text":""#, "\n"),
                MB200,
                "",
            ))
            .unwrap(),
        // 200 MB of small, complete notifications (then never an answer).
        "flood" => Response::builder()
            .header("content-type", "text/event-stream")
            .body(repeated(
                b"event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\",\"params\":{\"level\":\"info\",\"data\":\"flood flood flood flood\"}}\n\n",
                MB200 / 128,
            ))
            .unwrap(),
        other => reply(id, json!({"content": [{"type": "text", "text": format!("called {other}")}]})),
    }
}

/// The standalone stream: a storm of `list_changed` on the first one (the
/// tools change to `alpha`, `omega` with the last notification), then
/// keep-alives.
async fn stream(State(shared): S, headers: HeaderMap) -> Response {
    note_auth(&shared, &headers);
    let storm = shared.behaviour.storm.load(Ordering::SeqCst);
    if storm == 0 {
        return StatusCode::METHOD_NOT_ALLOWED.into_response();
    }
    let first = shared.seen.streams.fetch_add(1, Ordering::SeqCst) == 0;
    let note = "event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/tools/list_changed\"}\n\n";
    let shared2 = Arc::clone(&shared);
    let body = futures_util::stream::unfold(0usize, move |sent| {
        let shared = Arc::clone(&shared2);
        async move {
            if first && sent < storm {
                if sent + 1 == storm {
                    // The last announcement is of a real change.
                    *shared.tools.lock().unwrap() = vec!["alpha".into(), "omega".into()];
                }
                return Some((
                    Ok::<_, std::convert::Infallible>(Bytes::from_static(note.as_bytes())),
                    sent + 1,
                ));
            }
            if sent > storm + 60 {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
            Some((Ok(Bytes::from_static(b": idle\n\n")), sent.max(storm) + 1))
        }
    });
    Response::builder()
        .header("content-type", "text/event-stream")
        .body(Body::from_stream(body))
        .unwrap()
}

async fn delete(State(shared): S, headers: HeaderMap) -> Response {
    note_auth(&shared, &headers);
    if let Some(s) = session_of(&headers)
        && shared.seen.sessions.lock().unwrap().remove(&s)
    {
        shared.seen.deletes.fetch_add(1, Ordering::SeqCst);
    }
    StatusCode::NO_CONTENT.into_response()
}
