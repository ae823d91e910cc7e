//! A client for upstream MCP servers over Streamable HTTP.
//!
//! The gateway holds its own session with each upstream (created lazily,
//! re-created transparently when the upstream answers 404), authenticates
//! with its own credential for that upstream, and reads answers sent as JSON
//! or as an SSE stream.

use futures_util::StreamExt;
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap, HeaderValue};
use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use sse_stream::SseByteStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use mcpgate_protocol::stateless;

use crate::legacy::Legacy;
use crate::modern::{self, Outcome};
use crate::standalone::{self, Attending};

/// The protocol version the gateway asks upstreams for.
pub const UPSTREAM_VERSION: &str = "2025-11-25";
/// At most this many pages are read from one list.
const MAX_PAGES: usize = 200;
/// At most this many `input_required` rounds answer one request.
const MAX_INPUT_ROUNDS: usize = 16;
/// How long a call waits for its client's answer to an input request.
const WAIT_FOR_INPUT: Duration = Duration::from_secs(300);
/// How long a relayed call waits for the change listener to (re)open a new
/// session's standalone stream before it is sent.
const STREAM_SETTLE: Duration = Duration::from_secs(2);

/// A failure to talk to an upstream (not a JSON-RPC error it answered with).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{message}")]
pub struct UpstreamError {
    /// What went wrong, for people.
    pub message: String,
    /// The HTTP status, when the upstream answered one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Whether trying again later may work.
    pub retryable: bool,
}

impl UpstreamError {
    fn new(message: impl Into<String>, status: Option<u16>, retryable: bool) -> Self {
        Self {
            message: message.into(),
            status,
            retryable,
        }
    }
}

/// How an upstream request failed.
#[derive(Debug, Clone)]
pub enum CallError {
    /// The upstream answered with a JSON-RPC error object (forward it).
    Rpc(Value),
    /// The upstream could not be reached or answered nonsense.
    Transport(UpstreamError),
}

impl From<UpstreamError> for CallError {
    fn from(e: UpstreamError) -> Self {
        Self::Transport(e)
    }
}

/// How the gateway talks to the upstream: a 2025 session (its id, if the
/// upstream issued one) or, for an upstream without the handshake,
/// stateless 2026-07-28 requests (`id` is then always `None`).
#[derive(Clone)]
struct Session {
    id: Option<String>,
    version: String,
}

impl Session {
    /// A stateless "session": every request stands alone.
    fn stateless() -> Self {
        Self {
            id: None,
            version: stateless::VERSION.to_owned(),
        }
    }

    fn is_stateless(&self) -> bool {
        self.version == stateless::VERSION
    }
}

/// How a change listener's stream ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamEnd {
    /// The upstream offers no such stream: there is nothing to reopen.
    Unsupported,
    /// The stream ended (or the upstream forgot the session): reopen it.
    Ended,
    /// A new session replaced the stream's: reopen at once.
    Renewed,
}

/// What goes with a request besides its params.
#[derive(Clone, Copy, Default)]
pub struct Extras<'a> {
    /// Where interim messages (progress, logs, requests to the client) go;
    /// without it, an upstream's request to the client cannot be answered.
    pub events: Option<&'a tokio::sync::mpsc::UnboundedSender<Value>>,
    /// Headers passed through from the client (`Mcp-Param-*`).
    pub passthrough: Option<&'a HeaderMap>,
    /// What the client the call is made for can answer (a
    /// ClientCapabilities object), declared to stateless upstreams.
    pub capabilities: Option<&'a Value>,
    /// Hand a stateless upstream's `input_required` result back as it is
    /// (for a 2026 client, who answers it itself) instead of asking the
    /// client through `events`.
    pub hand_back_input: bool,
}

/// One upstream MCP server, as the gateway's client.
pub struct McpClient {
    http: reqwest::Client,
    url: String,
    auth: Option<HeaderValue>,
    timeout: Duration,
    session: tokio::sync::Mutex<Option<Session>>,
    next_id: AtomicI64,
    /// Set when the upstream only speaks the legacy HTTP+SSE transport.
    legacy: std::sync::Mutex<Option<Arc<Legacy>>>,
    /// Input requests of a stateless upstream, out to clients.
    questions: modern::Questions,
    /// Told when a new session replaces the one a change listener is on
    /// (an upstream sends a session's list changes on that session's stream).
    renewed: tokio::sync::Notify,
    /// Calls in flight that take what the upstream asks on its standalone stream.
    callers: Arc<standalone::Callers>,
    /// The session whose standalone stream the change listener holds open.
    stream_for: tokio::sync::watch::Sender<Option<String>>,
    /// Whether the change listener's last attempt opened the stream (or
    /// only lost the session): then it is about to reopen it.
    listening: std::sync::atomic::AtomicBool,
    /// Counts new sessions, so a change listener in its backoff reopens
    /// the stream for a new session at once.
    renewals: tokio::sync::watch::Sender<u64>,
}

/// What a sync found on an upstream.
#[derive(Debug, Clone, Default, PartialEq, Serialize, serde::Deserialize)]
pub struct Snapshot {
    /// The negotiated protocol version.
    pub protocol_version: String,
    /// `serverInfo` of the upstream.
    pub server_info: Value,
    /// Its capabilities.
    pub capabilities: Value,
    /// Tools, as the upstream describes them.
    pub tools: Vec<Value>,
    /// Prompts.
    pub prompts: Vec<Value>,
    /// Resources.
    pub resources: Vec<Value>,
    /// Resource templates.
    pub resource_templates: Vec<Value>,
}

/// SHA-256 of a value's canonical JSON (object keys sorted), hex.
pub fn fingerprint(value: &Value) -> String {
    // serde_json's map is ordered by key, so serialization is canonical.
    let text = serde_json::to_string(value).expect("JSON serializes");
    let digest = Sha256::digest(text.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

impl McpClient {
    /// A client for the MCP endpoint at `url`, sending `bearer` (the
    /// gateway's own credential for this upstream) when given.
    pub fn new(
        http: reqwest::Client,
        url: &str,
        bearer: Option<&str>,
        timeout: Duration,
    ) -> Result<Self, String> {
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(format!("{url:?} is not an http(s) URL"));
        }
        let auth = bearer
            .map(|b| {
                let mut v = HeaderValue::from_str(&format!("Bearer {b}")).map_err(|_| {
                    "the credential has characters not allowed in a header".to_owned()
                })?;
                v.set_sensitive(true);
                Ok::<_, String>(v)
            })
            .transpose()?;
        Ok(Self {
            http,
            url: url.to_owned(),
            auth,
            timeout,
            session: tokio::sync::Mutex::new(None),
            next_id: AtomicI64::new(1),
            legacy: std::sync::Mutex::new(None),
            questions: modern::Questions::default(),
            renewed: tokio::sync::Notify::new(),
            callers: Arc::default(),
            stream_for: tokio::sync::watch::Sender::new(None),
            listening: std::sync::atomic::AtomicBool::new(false),
            renewals: tokio::sync::watch::Sender::new(0),
        })
    }

    /// The upstream's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    fn post(&self, session: Option<&Session>, body: &Value) -> reqwest::RequestBuilder {
        self.post_with(session, body, None)
    }

    /// [`post`](Self::post) plus headers passed through from the client
    /// (`Mcp-Param-*`), which never override the gateway's own.
    fn post_with(
        &self,
        session: Option<&Session>,
        body: &Value,
        passthrough: Option<&HeaderMap>,
    ) -> reqwest::RequestBuilder {
        let target = self
            .legacy()
            .map_or_else(|| self.url.clone(), |l| l.post_url.clone());
        let mut r = self
            .http
            .post(target)
            .timeout(self.timeout)
            .header(ACCEPT, "application/json, text/event-stream")
            .header(CONTENT_TYPE, "application/json")
            .json(body);
        if let Some(extra) = passthrough {
            r = r.headers(extra.clone());
        }
        r = self.authorized(r);
        if let Some(s) = session {
            if let Some(id) = &s.id {
                r = r.header("mcp-session-id", id);
            }
            r = r.header("mcp-protocol-version", &s.version);
            if s.is_stateless() {
                r = r.headers(modern::headers(body));
            }
        }
        r
    }

    /// `request` with the gateway's own credential for this upstream.
    fn authorized(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.auth {
            Some(auth) => request.header(reqwest::header::AUTHORIZATION, auth.clone()),
            None => request,
        }
    }

    /// Send one request and wait for its response (JSON or SSE).
    async fn exchange(
        &self,
        session: Option<&Session>,
        method: &str,
        params: Value,
    ) -> Result<(Value, Option<String>), CallError> {
        let id = self.next_request_id();
        self.exchange_with(session, id, method, params, Extras::default())
            .await
    }

    /// A fresh request id on this upstream (for callers that must know it,
    /// e.g. to forward a cancellation).
    pub fn next_request_id(&self) -> i64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Like `exchange`, with a chosen id; messages other than the response
    /// (progress, logs) that arrive on an SSE answer go to `extras.events`.
    async fn exchange_with(
        &self,
        session: Option<&Session>,
        id: i64,
        method: &str,
        params: Value,
        extras: Extras<'_>,
    ) -> Result<(Value, Option<String>), CallError> {
        let stateless = session.is_some_and(Session::is_stateless);
        let params = if stateless {
            modern::stamp(params, extras.capabilities)
        } else {
            modern::unstamp(params)
        };
        let (events, passthrough) = (extras.events, extras.passthrough);
        let body = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let started = std::time::Instant::now();
        if let Some(legacy) = self.legacy() {
            let message = legacy
                .exchange(
                    self.post_with(session, &body, passthrough),
                    id,
                    self.timeout,
                )
                .await?;
            return Self::unwrap_message(message).map(|v| (v, None));
        }
        let response = self
            .post_with(session, &body, passthrough)
            .send()
            .await
            .map_err(|e| {
                let message = if e.is_timeout() {
                    format!(
                        "the upstream did not answer within {} s",
                        self.timeout.as_secs_f64()
                    )
                } else {
                    format!("cannot reach the upstream: {}", e.without_url())
                };
                UpstreamError::new(message, None, true)
            })?;
        let status = response.status();
        let session_id = response
            .headers()
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        if !status.is_success() {
            let text = response.text().await.unwrap_or_default();
            // A stateless server answers a JSON-RPC error with a 4xx status.
            if stateless
                && let Ok(message) = serde_json::from_str::<Value>(&text)
                && let Some(error) = message.get("error")
            {
                return Err(CallError::Rpc(error.clone()));
            }
            let retryable = status.is_server_error() || status.as_u16() == 429;
            return Err(UpstreamError::new(
                format!(
                    "the upstream answered HTTP {}: {}",
                    status.as_u16(),
                    text.chars().take(300).collect::<String>()
                ),
                Some(status.as_u16()),
                retryable,
            )
            .into());
        }
        let message = if is_event_stream(&response) {
            let mut stream = SseByteStream::new(response.bytes_stream());
            let mut found = None;
            while let Some(event) = stream.next().await {
                let event = event.map_err(|e| {
                    // reqwest's timeout covers the whole body: a stream cut
                    // at the deadline is the upstream being too slow.
                    if started.elapsed() + Duration::from_millis(50) >= self.timeout {
                        UpstreamError::new(
                            format!(
                                "the upstream did not answer within {} s",
                                self.timeout.as_secs_f64()
                            ),
                            None,
                            true,
                        )
                    } else {
                        UpstreamError::new(format!("broken SSE stream: {e}"), None, true)
                    }
                })?;
                let Some(data) = event.data.filter(|d| !d.trim().is_empty()) else {
                    continue;
                };
                let Ok(msg) = serde_json::from_str::<Value>(&data) else {
                    continue;
                };
                if msg.get("id") == Some(&json!(id))
                    && (msg.get("result").is_some() || msg.get("error").is_some())
                {
                    found = Some(msg);
                    break;
                }
                if let Some(events) = events
                    && msg.get("method").is_some()
                {
                    let _ = events.send(msg);
                }
            }
            found.ok_or_else(|| {
                UpstreamError::new(
                    "the upstream's SSE stream ended without a response",
                    None,
                    true,
                )
            })?
        } else {
            response.json::<Value>().await.map_err(|e| {
                UpstreamError::new(
                    format!("the upstream answered with invalid JSON: {e}"),
                    None,
                    false,
                )
            })?
        };
        Self::unwrap_message(message).map(|v| (v, session_id))
    }

    /// The result of a response message, or its error.
    fn unwrap_message(message: Value) -> Result<Value, CallError> {
        if let Some(error) = message.get("error") {
            return Err(CallError::Rpc(error.clone()));
        }
        message.get("result").cloned().ok_or_else(|| {
            UpstreamError::new("the upstream's answer has no result", None, false).into()
        })
    }

    /// The legacy connection, while it is open.
    fn legacy(&self) -> Option<Arc<Legacy>> {
        let mut guard = self.legacy.lock().expect("lock");
        if guard.as_ref().is_some_and(|l| !l.alive()) {
            // The stream closed: start over (Streamable HTTP first) next time.
            *guard = None;
        }
        guard.clone()
    }

    /// Open a session: the 2025 handshake or, for an upstream without one,
    /// `server/discover` (then every request stands alone). An upstream
    /// without Streamable HTTP is tried on the legacy HTTP+SSE transport.
    async fn initialize(&self) -> Result<(Session, Value), CallError> {
        // The gateway can answer what it relays to its clients; a call whose
        // client cannot is refused then (or, for a 2026 client, told -32021).
        let params = json!({
            "protocolVersion": UPSTREAM_VERSION,
            "capabilities": {"sampling": {}, "elicitation": {}, "roots": {}},
            "clientInfo": {"name": "mcpgate", "version": env!("CARGO_PKG_VERSION")},
        });
        let refused = match self.exchange(None, "initialize", params.clone()).await {
            Ok((result, session_id)) => return Ok(self.opened(result, session_id).await),
            Err(e) => e,
        };
        // Refused by a server that is there: it may have no handshake.
        let status = match &refused {
            CallError::Rpc(_) => None,
            CallError::Transport(e) if matches!(e.status, Some(400 | 404 | 405)) => e.status,
            CallError::Transport(_) => return Err(refused),
        };
        let stateless = Session::stateless();
        if let Ok((result, _)) = self
            .exchange(Some(&stateless), "server/discover", json!({}))
            .await
        {
            match modern::discovered(&result) {
                Ok(init) => {
                    tracing::debug!(upstream = %self.url, "upstream speaks only 2026-07-28; talking to it statelessly");
                    return Ok((stateless, init));
                }
                Err(why) => tracing::debug!(upstream = %self.url, why, "not a 2026-07-28 server"),
            }
        }
        if matches!(status, Some(404 | 405)) {
            // No Streamable HTTP here: try the legacy HTTP+SSE transport.
            let legacy = Legacy::connect(&self.http, &self.url, self.auth.as_ref()).await?;
            tracing::info!(upstream = %self.url, "upstream speaks HTTP+SSE (legacy); using it");
            *self.legacy.lock().expect("lock") = Some(legacy);
            let (result, session_id) = self.exchange(None, "initialize", params).await?;
            return Ok(self.opened(result, session_id).await);
        }
        Err(refused)
    }

    /// The session an `initialize` result opens, announced with
    /// `notifications/initialized`.
    async fn opened(&self, result: Value, session_id: Option<String>) -> (Session, Value) {
        let version = result
            .get("protocolVersion")
            .and_then(Value::as_str)
            .filter(|v| *v != stateless::VERSION)
            .unwrap_or(UPSTREAM_VERSION)
            .to_owned();
        let session = Session {
            id: session_id,
            version,
        };
        // The initialized notification; its answer (202) carries nothing.
        let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        let _ = self.post(Some(&session), &note).send().await;
        (session, result)
    }

    async fn session(&self) -> Result<Session, CallError> {
        let mut guard = self.session.lock().await;
        let legacy_lost = self
            .legacy
            .lock()
            .expect("lock")
            .as_ref()
            .is_some_and(|l| !l.alive());
        if legacy_lost {
            *guard = None;
        }
        if let Some(s) = guard.as_ref() {
            return Ok(s.clone());
        }
        let (session, _) = self.initialize().await?;
        *guard = Some(session.clone());
        self.renewed.notify_waiters();
        self.renewals.send_modify(|n| *n += 1);
        Ok(session)
    }

    /// Send a request on the gateway's session; when the upstream has
    /// forgotten the session (404), re-initialize once and retry.
    pub async fn request(&self, method: &str, params: Value) -> Result<Value, CallError> {
        let id = self.next_request_id();
        self.call(id, method, params, Extras::default()).await
    }

    /// A request whose interim messages (progress, log notifications, and
    /// requests to the client) are passed to `extras.events` as they
    /// arrive, in order. A stateless upstream's `input_required` rounds
    /// become such requests; their answers come back through
    /// [`send_response`](Self::send_response).
    pub async fn request_streaming(
        &self,
        id: i64,
        method: &str,
        params: Value,
        extras: Extras<'_>,
    ) -> Result<Value, CallError> {
        self.call(id, method, params, extras).await
    }

    async fn call(
        &self,
        id: i64,
        method: &str,
        params: Value,
        extras: Extras<'_>,
    ) -> Result<Value, CallError> {
        let session = self.session().await?;
        if extras.events.is_some() {
            self.settle_stream(&session).await;
        }
        let result = match self
            .exchange_with(Some(&session), id, method, params.clone(), extras)
            .await
        {
            Err(CallError::Transport(e)) if e.status == Some(404) && session.id.is_some() => {
                self.forget_session(&session).await;
                let session = self.session().await?;
                if extras.events.is_some() {
                    self.settle_stream(&session).await;
                }
                return Ok(self
                    .exchange_with(Some(&session), id, method, params, extras)
                    .await?
                    .0);
            }
            other => other?.0,
        };
        if !session.is_stateless() {
            return Ok(result);
        }
        if extras.hand_back_input {
            return Ok(match modern::outcome(result) {
                Outcome::Complete(value) => value,
                Outcome::InputRequired { requests, state } => {
                    modern::input_required(requests, state)
                }
            });
        }
        self.rounds(&session, method, params, result, extras).await
    }

    /// Changes whenever a new session replaces the last one (see
    /// [`listen_for_changes`](Self::listen_for_changes): its caller waits on
    /// this between attempts, so a call's new session gets its stream soon).
    pub fn renewals(&self) -> tokio::sync::watch::Receiver<u64> {
        self.renewals.subscribe()
    }

    /// Drop `lost` (the upstream answered 404 for it), unless another task
    /// has already replaced it with a new session, which must be kept.
    async fn forget_session(&self, lost: &Session) {
        let mut current = self.session.lock().await;
        if current.as_ref().is_some_and(|s| s.id == lost.id) {
            *current = None;
        }
    }

    /// An upstream that asks its client on the session's standalone stream
    /// (TypeScript SDK) drops what it sends there while that stream is not
    /// open — just after a new session, before the change listener has
    /// reopened it. So a call that can relay such requests gives the listener
    /// a moment ([`STREAM_SETTLE`]) when it runs on another session's stream.
    async fn settle_stream(&self, session: &Session) {
        let mut open = self.stream_for.subscribe();
        let listening = self.listening.load(Ordering::Relaxed);
        if !listening || session.id.is_none() || *open.borrow() == session.id {
            return;
        }
        let reopened = open.wait_for(|id| *id == session.id);
        let _ = tokio::time::timeout(STREAM_SETTLE, reopened).await;
    }

    /// Answer a stateless upstream's `input_required` results (asking the
    /// client through `extras.events`) until it completes.
    async fn rounds(
        &self,
        session: &Session,
        method: &str,
        mut params: Value,
        mut result: Value,
        extras: Extras<'_>,
    ) -> Result<Value, CallError> {
        for _ in 0..MAX_INPUT_ROUNDS {
            let (requests, state) = match modern::outcome(result) {
                Outcome::Complete(value) => return Ok(value),
                Outcome::InputRequired { requests, state } => (requests, state),
            };
            let Some(events) = extras.events else {
                let asked: Vec<&str> = requests
                    .values()
                    .filter_map(|r| r.get("method")?.as_str())
                    .collect();
                return Err(UpstreamError::new(
                    format!(
                        "the upstream needs the client to answer {} before it answers {method}, \
                         which the gateway cannot relay for this request",
                        asked.join(", ")
                    ),
                    None,
                    false,
                )
                .into());
            };
            let responses = self.ask_client(requests, events).await?;
            if let Value::Object(p) = &mut params {
                p.insert("inputResponses".into(), Value::Object(responses));
                match state {
                    Some(state) => p.insert("requestState".into(), state),
                    None => p.remove("requestState"),
                };
            }
            let id = self.next_request_id();
            result = self
                .exchange_with(Some(session), id, method, params.clone(), extras)
                .await?
                .0;
        }
        Err(UpstreamError::new(
            format!("the upstream asked for input more than {MAX_INPUT_ROUNDS} times; giving up"),
            None,
            false,
        )
        .into())
    }

    /// Put each input request to the client as a request message and wait
    /// for every answer: `inputResponses`, by the upstream's keys.
    async fn ask_client(
        &self,
        requests: serde_json::Map<String, Value>,
        events: &tokio::sync::mpsc::UnboundedSender<Value>,
    ) -> Result<serde_json::Map<String, Value>, CallError> {
        let gone = || UpstreamError::new("the client went away before answering", None, false);
        let mut asked = Vec::with_capacity(requests.len());
        for (key, request) in requests {
            let question = self.questions.ask();
            let message = json!({
                "jsonrpc": "2.0",
                "id": question.id,
                "method": request.get("method").cloned().unwrap_or(Value::Null),
                "params": request.get("params").cloned().unwrap_or_else(|| json!({})),
            });
            events.send(message).map_err(|_| gone())?;
            asked.push((key, question));
        }
        let mut responses = serde_json::Map::new();
        for (key, mut question) in asked {
            let reply = tokio::time::timeout(WAIT_FOR_INPUT, question.reply())
                .await
                .map_err(|_| {
                    UpstreamError::new(
                        format!(
                            "the client did not answer the upstream's request within {} s",
                            WAIT_FOR_INPUT.as_secs()
                        ),
                        None,
                        false,
                    )
                })?
                .ok_or_else(gone)?;
            if let Some(error) = reply.get("error") {
                return Err(CallError::Rpc(error.clone()));
            }
            let result = reply.get("result").cloned().unwrap_or_else(|| json!({}));
            responses.insert(key, result);
        }
        Ok(responses)
    }

    /// While the guard lives, hand `deliver` the requests to the client
    /// (sampling, elicitation, roots — the ones `can_answer`, a
    /// ClientCapabilities object, allows) and the progress and log
    /// notifications that the upstream sends on its standalone stream rather
    /// than on the call's, when they can only be for the client `owner` (an
    /// opaque id of its session or key). See [`standalone`] for the rules.
    pub fn attend(
        &self,
        owner: u128,
        can_answer: &Value,
        deliver: impl Fn(Value) -> bool + Send + Sync + 'static,
    ) -> Attending {
        self.callers.attend(owner, can_answer, Box::new(deliver))
    }

    /// Answer a request the upstream sent us (a JSON-RPC response message):
    /// on the gateway's session, or, for a stateless upstream's input
    /// request, into the round waiting for it.
    pub async fn send_response(&self, message: Value) {
        let Err(message) = self.questions.answer(message) else {
            return;
        };
        let Ok(session) = self.session().await else {
            return;
        };
        if session.is_stateless() {
            return; // nothing on the wire waits for it
        }
        if let Err(e) = self.post(Some(&session), &message).send().await {
            tracing::debug!(error = %e.without_url(), "response to the upstream not delivered");
        }
    }

    /// Send a notification on the gateway's session (best effort). A
    /// stateless upstream takes none: there, closing the request's stream
    /// is what cancels it.
    pub async fn notify(&self, method: &str, params: Value) {
        let Ok(session) = self.session().await else {
            return;
        };
        if session.is_stateless() {
            return;
        }
        let note = json!({"jsonrpc": "2.0", "method": method, "params": params});
        if let Err(e) = self.post(Some(&session), &note).send().await {
            tracing::debug!(error = %e.without_url(), method, "upstream notification not delivered");
        }
    }

    /// Listen for the upstream's list changes — on its standalone SSE
    /// stream (GET) for a 2025 session, by `subscriptions/listen` for a
    /// stateless upstream — and call `on_change` for every
    /// `notifications/*/list_changed`. Returns how the stream ended (the
    /// caller reopens it unless [`StreamEnd::Unsupported`]).
    pub async fn listen_for_changes(
        &self,
        on_change: &(dyn Fn(&str) + Send + Sync),
    ) -> Result<StreamEnd, UpstreamError> {
        let session = self.session().await.map_err(|e| match e {
            CallError::Transport(t) => t,
            CallError::Rpc(_) => {
                UpstreamError::new("the upstream refused to initialize", None, true)
            }
        })?;
        if self.legacy().is_some() {
            return Ok(StreamEnd::Unsupported); // the legacy stream is the only stream
        }
        if session.is_stateless() {
            return self.listen_statelessly(&session, on_change).await;
        }
        let renewed = self.renewed.notified();
        let mut request = self
            .http
            .get(&self.url)
            .header(ACCEPT, "text/event-stream")
            .header("mcp-protocol-version", &session.version);
        if let Some(id) = &session.id {
            request = request.header("mcp-session-id", id);
        }
        let response = self.authorized(request).send().await.map_err(|e| {
            UpstreamError::new(
                format!("cannot open the upstream's stream: {}", e.without_url()),
                None,
                true,
            )
        })?;
        let status = response.status().as_u16();
        if status != 404 && !(200..300).contains(&status) {
            // No stream to wait for (a lost session, 404, is reopened at once).
            self.listening.store(false, Ordering::Relaxed);
        }
        match status {
            405 => return Ok(StreamEnd::Unsupported),
            404 => {
                // The upstream forgot our session: start a new one next time.
                self.forget_session(&session).await;
                return Ok(StreamEnd::Ended);
            }
            s if !(200..300).contains(&s) => {
                return Err(UpstreamError::new(
                    format!("the upstream's stream answered HTTP {s}"),
                    Some(s),
                    true,
                ));
            }
            _ => {}
        }
        // A new session's changes come on its own stream.
        let talk_back = Some((self, &session));
        self.listening.store(true, Ordering::Relaxed);
        self.stream_for.send_replace(session.id.clone());
        let end = relay_list_changes(response, on_change, renewed, talk_back).await;
        self.stream_for.send_replace(None);
        Ok(end)
    }

    /// `subscriptions/listen` on a stateless upstream: a long-lived POST
    /// whose SSE answer carries the list changes asked for.
    async fn listen_statelessly(
        &self,
        session: &Session,
        on_change: &(dyn Fn(&str) + Send + Sync),
    ) -> Result<StreamEnd, UpstreamError> {
        let params = modern::stamp(
            json!({"notifications": {
                "toolsListChanged": true,
                "promptsListChanged": true,
                "resourcesListChanged": true,
            }}),
            None,
        );
        let id = self.next_request_id();
        let body =
            json!({"jsonrpc": "2.0", "id": id, "method": "subscriptions/listen", "params": params});
        // Without the per-request timeout: the stream is meant to stay open.
        let request = self
            .http
            .post(&self.url)
            .header(ACCEPT, "application/json, text/event-stream")
            .header("mcp-protocol-version", &session.version)
            .headers(modern::headers(&body))
            .json(&body);
        let response = self.authorized(request).send().await.map_err(|e| {
            UpstreamError::new(
                format!(
                    "cannot open the upstream's subscription: {}",
                    e.without_url()
                ),
                None,
                true,
            )
        })?;
        let status = response.status().as_u16();
        if status == 404 || status == 405 || (status == 200 && !is_event_stream(&response)) {
            return Ok(StreamEnd::Unsupported); // no subscriptions here
        }
        if !(200..300).contains(&status) {
            return Err(UpstreamError::new(
                format!("the upstream's subscription answered HTTP {status}"),
                Some(status),
                true,
            ));
        }
        // No session to be replaced: the subscription stands on its own.
        Ok(relay_list_changes(response, on_change, std::future::pending(), None).await)
    }

    /// Every item of a paginated list (`tools/list` → `tools`).
    pub async fn list_all(&self, method: &str, key: &str) -> Result<Vec<Value>, CallError> {
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let params = cursor
                .as_ref()
                .map_or(json!({}), |c| json!({ "cursor": c }));
            let page = self.request(method, params).await?;
            if let Some(list) = page.get(key).and_then(Value::as_array) {
                items.extend(list.iter().cloned());
            }
            match page.get("nextCursor").and_then(Value::as_str) {
                Some(c) if !c.is_empty() => cursor = Some(c.to_owned()),
                _ => return Ok(items),
            }
        }
        Ok(items)
    }

    /// Connect afresh and read everything the upstream offers.
    pub async fn sync(&self) -> Result<Snapshot, UpstreamError> {
        let to_transport = |e: CallError| match e {
            CallError::Transport(t) => t,
            CallError::Rpc(err) => UpstreamError::new(
                format!(
                    "the upstream refused: {}",
                    err.get("message")
                        .and_then(Value::as_str)
                        .unwrap_or("unknown error")
                ),
                None,
                false,
            ),
        };
        let (session, init) = self.initialize().await.map_err(to_transport)?;
        *self.session.lock().await = Some(session.clone());
        self.renewed.notify_waiters();
        self.renewals.send_modify(|n| *n += 1);
        let capabilities = init.get("capabilities").cloned().unwrap_or(json!({}));
        let has = |c: &str| capabilities.get(c).is_some();
        let mut snapshot = Snapshot {
            protocol_version: session.version,
            server_info: init.get("serverInfo").cloned().unwrap_or(json!({})),
            capabilities: capabilities.clone(),
            ..Snapshot::default()
        };
        if has("tools") {
            snapshot.tools = self
                .list_all("tools/list", "tools")
                .await
                .map_err(to_transport)?;
        }
        if has("prompts") {
            snapshot.prompts = self
                .list_all("prompts/list", "prompts")
                .await
                .map_err(to_transport)?;
        }
        if has("resources") {
            snapshot.resources = self
                .list_all("resources/list", "resources")
                .await
                .map_err(to_transport)?;
            snapshot.resource_templates = self
                .list_all("resources/templates/list", "resourceTemplates")
                .await
                .unwrap_or_default();
        }
        Ok(snapshot)
    }
}

/// Whether an answer is an SSE stream.
pub(crate) fn is_event_stream(response: &reqwest::Response) -> bool {
    response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("text/event-stream"))
}

/// Call `on_change` for each `notifications/*/list_changed` on an SSE
/// answer, until it ends or `renewed` fires. With `talk_back` (a session's
/// standalone stream), its other messages go to the calls in flight
/// ([`standalone`]), and the answers given here are posted on the session.
async fn relay_list_changes(
    response: reqwest::Response,
    on_change: &(dyn Fn(&str) + Send + Sync),
    renewed: impl std::future::Future<Output = ()>,
    talk_back: Option<(&McpClient, &Session)>,
) -> StreamEnd {
    let mut stream = SseByteStream::new(response.bytes_stream());
    tokio::pin!(renewed);
    loop {
        let event = tokio::select! {
            event = stream.next() => event,
            () = &mut renewed => return StreamEnd::Renewed,
        };
        let Some(Ok(event)) = event else {
            return StreamEnd::Ended;
        };
        let Some(msg) = event
            .data
            .and_then(|d| serde_json::from_str::<Value>(&d).ok())
        else {
            continue;
        };
        if let Some(method) = msg.get("method").and_then(Value::as_str)
            && method.ends_with("/list_changed")
        {
            on_change(method);
        } else if let Some((client, session)) = talk_back
            && let Some(answer) = client.callers.route(msg)
            && let Err(e) = client.post(Some(session), &answer).send().await
        {
            tracing::debug!(error = %e.without_url(), "answer to the upstream not delivered");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_ignore_key_order_but_not_content() {
        let a: Value = serde_json::from_str(
            r#"{"name":"x","description":"d","inputSchema":{"type":"object"}}"#,
        )
        .unwrap();
        let b: Value = serde_json::from_str(
            r#"{"inputSchema":{"type":"object"},"description":"d","name":"x"}"#,
        )
        .unwrap();
        let c: Value = serde_json::from_str(
            r#"{"name":"x","description":"evil","inputSchema":{"type":"object"}}"#,
        )
        .unwrap();
        assert_eq!(fingerprint(&a), fingerprint(&b));
        assert_ne!(fingerprint(&a), fingerprint(&c));
        assert_eq!(fingerprint(&a).len(), 64);
    }
}
