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
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::time::Duration;

use mcpgate_protocol::mcp::{method, notification};
use mcpgate_protocol::stateless;

use crate::bounded::{self, ReadError};
use crate::legacy::Legacy;
use crate::modern::{self, Outcome};
use crate::redact::Redactor;
use crate::standalone::{self, Attending};

/// The protocol version the gateway asks upstreams for.
pub const UPSTREAM_VERSION: &str = "2025-11-25";
/// At most this many `input_required` rounds answer one request.
const MAX_INPUT_ROUNDS: usize = 16;
/// How long a call waits for its client's answer to an input request.
const WAIT_FOR_INPUT: Duration = Duration::from_secs(300);
/// At most this many upstream sessions are open per client at once: the
/// current one plus replaced ones that calls still run on. At the bound a
/// sync reuses the current session instead of opening another.
pub const MAX_SESSIONS: usize = 4;
/// How much of an error answer's body is read (for its JSON-RPC error or a
/// short reason); the rest is left unread.
const ERROR_BODY_BYTES: usize = 64 * 1024;
/// How long ending a session (DELETE) may take.
const END_TIMEOUT: Duration = Duration::from_secs(5);
/// How many interim messages (progress, logs, requests to the client) of
/// one call wait for the relay at most; beyond that the upstream's stream is
/// not read until the client catches up (backpressure, not buffering).
pub const EVENTS_BUFFER: usize = 32;

/// Caps on what the gateway reads from an upstream MCP server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct McpLimits {
    /// The most bytes of one answer: a JSON response body, or one event of
    /// an SSE answer or stream (`upstream.max_response_bytes`).
    pub max_response_bytes: usize,
    /// The most pages read of one list (`tools/list`, `prompts/list`,
    /// `resources/list`, `resources/templates/list`) in a sync
    /// (`upstream.mcp_max_list_pages`); the list is cut there, with a warning.
    pub max_list_pages: usize,
    /// The most bytes (as JSON) the entries of one list may take over all
    /// its pages (`upstream.mcp_max_list_bytes`); more fails the sync.
    pub max_list_bytes: usize,
}

impl Default for McpLimits {
    fn default() -> Self {
        Self {
            max_response_bytes: 1 << 20,
            max_list_pages: 100,
            max_list_bytes: 4 << 20,
        }
    }
}
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

    /// An answer (or one SSE event of it) over `upstream.max_response_bytes`.
    fn too_large(max: usize, what: &str) -> Self {
        Self::new(
            format!("{what} exceeds {max} bytes (upstream.max_response_bytes); it was dropped"),
            None,
            false,
        )
    }

    fn timed_out(timeout: Duration) -> Self {
        Self::new(
            format!(
                "the upstream did not answer within {} s",
                timeout.as_secs_f64()
            ),
            None,
            true,
        )
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

/// How the gateway talks to the upstream: a 2025 session (with its id, if
/// the upstream issued one) or, for an upstream without the handshake,
/// stateless 2026-07-28 requests (no id then).
#[derive(Clone)]
struct Session {
    version: String,
    /// The session id the upstream issued, ended when no longer held.
    lease: Option<Arc<Lease>>,
    /// The `initialize` result (or the `server/discover` result as one)
    /// that opened it.
    init: Arc<Value>,
}

impl Session {
    /// A stateless "session": every request stands alone.
    fn stateless() -> Self {
        Self {
            version: stateless::VERSION.to_owned(),
            lease: None,
            init: Arc::new(Value::Null),
        }
    }

    fn is_stateless(&self) -> bool {
        self.version == stateless::VERSION
    }

    fn id(&self) -> Option<&str> {
        self.lease.as_ref().map(|l| l.id.as_str())
    }

    /// The upstream no longer knows this session (it answered 404): there
    /// is nothing to end.
    fn forget(&self) {
        if let Some(lease) = &self.lease {
            lease.ended.store(true, Ordering::SeqCst);
        }
    }
}

/// A session id an upstream issued. The session is ended with `DELETE`
/// (Streamable HTTP, session management: a client that no longer needs a
/// session SHOULD end it) when the last holder lets go of it — the client,
/// once a sync replaced it, and every call still running on it — or at
/// shutdown ([`McpClient::close`]).
struct Lease {
    id: String,
    version: String,
    http: reqwest::Client,
    url: String,
    auth: Option<HeaderValue>,
    /// The client's count of open sessions.
    live: Arc<AtomicUsize>,
    ended: AtomicBool,
}

impl Lease {
    /// The `DELETE` that ends the session, unless it was already ended.
    fn end_request(&self) -> Option<reqwest::RequestBuilder> {
        if self.ended.swap(true, Ordering::SeqCst) {
            return None;
        }
        let mut request = self
            .http
            .delete(&self.url)
            .timeout(END_TIMEOUT)
            .header("mcp-session-id", &self.id)
            .header("mcp-protocol-version", &self.version);
        if let Some(auth) = &self.auth {
            request = request.header(reqwest::header::AUTHORIZATION, auth.clone());
        }
        Some(request)
    }

    /// End the session now and wait for the upstream's answer (any answer:
    /// 405 means it does not let clients end sessions).
    async fn end(&self) {
        if let Some(request) = self.end_request() {
            ended(request.send().await);
        }
    }
}

fn ended(answer: Result<reqwest::Response, reqwest::Error>) {
    match answer {
        Ok(r) => tracing::debug!(status = r.status().as_u16(), "upstream session ended"),
        Err(e) => tracing::debug!(error = %e.without_url(), "upstream session not ended"),
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.live.fetch_sub(1, Ordering::SeqCst);
        if let Some(request) = self.end_request()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            runtime.spawn(async move { ended(request.send().await) });
        }
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
    /// Bounded: while it is full the upstream's stream is not read.
    pub events: Option<&'a tokio::sync::mpsc::Sender<Value>>,
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
    /// Sessions open on the upstream (see [`MAX_SESSIONS`]).
    live: Arc<AtomicUsize>,
    limits: McpLimits,
    /// Removes the gateway's credential (and credential-shaped text) from
    /// whatever the upstream answers before it becomes an error message.
    redactor: Redactor,
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
    /// What was odd about the lists (a repeated cursor, the page cap,
    /// duplicate entries), for the upstream's status; not part of the
    /// stored snapshot.
    #[serde(skip)]
    pub warnings: Vec<String>,
}

/// SHA-256 of a value's canonical JSON (object keys sorted), hex.
pub fn fingerprint(value: &Value) -> String {
    // serde_json's map is ordered by key, so serialization is canonical.
    let text = serde_json::to_string(value).expect("JSON serializes");
    let digest = Sha256::digest(text.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Why an upstream MCP client cannot be built from its record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    /// The endpoint is not an `http(s)://` URL.
    #[error("{0:?} is not an http(s) URL")]
    NotHttp(String),
    /// The bearer credential cannot be sent in an `Authorization` header.
    #[error("the credential has characters not allowed in a header")]
    BadCredential,
}

impl McpClient {
    /// A client for the MCP endpoint at `url`, sending `bearer` (the
    /// gateway's own credential for this upstream) when given, reading
    /// within `limits`.
    pub fn new(
        http: reqwest::Client,
        url: &str,
        bearer: Option<&str>,
        timeout: Duration,
        limits: McpLimits,
    ) -> Result<Self, ClientError> {
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(ClientError::NotHttp(url.to_owned()));
        }
        let auth = bearer
            .map(|b| {
                let mut v = HeaderValue::from_str(&format!("Bearer {b}"))
                    .map_err(|_| ClientError::BadCredential)?;
                v.set_sensitive(true);
                Ok::<_, ClientError>(v)
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
            live: Arc::new(AtomicUsize::new(0)),
            limits,
            redactor: Redactor::new(
                bearer
                    .into_iter()
                    .flat_map(|b| [b.to_owned(), format!("Bearer {b}")]),
            ),
            callers: Arc::default(),
            stream_for: tokio::sync::watch::Sender::new(None),
            listening: std::sync::atomic::AtomicBool::new(false),
            renewals: tokio::sync::watch::Sender::new(0),
        })
    }

    /// Sessions the gateway holds open on this upstream now (at most
    /// [`MAX_SESSIONS`], plus one opened while that many were held by calls).
    pub fn open_sessions(&self) -> usize {
        self.live.load(Ordering::SeqCst)
    }

    /// End the gateway's session with the upstream (`DELETE`) and wait for
    /// the answer; for shutdown. A later request opens a new one.
    pub async fn close(&self) {
        let session = self.session.lock().await.take();
        if let Some(lease) = session.and_then(|s| s.lease) {
            lease.end().await;
        }
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
            if let Some(id) = s.id() {
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
            return self.unwrap_message(message).map(|v| (v, None));
        }
        let response = self
            .post_with(session, &body, passthrough)
            .send()
            .await
            .map_err(|e| self.broken(e, "cannot reach the upstream"))?;
        let status = response.status();
        let session_id = response
            .headers()
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        if !status.is_success() {
            let text = bounded::prefix(response, ERROR_BODY_BYTES).await;
            // A stateless server answers a JSON-RPC error with a 4xx status.
            if stateless
                && let Ok(message) = serde_json::from_str::<Value>(&text)
                && let Some(error) = message.get("error")
            {
                return Err(CallError::Rpc(self.redacted(error.clone())));
            }
            let retryable = status.is_server_error() || status.as_u16() == 429;
            let reason = self.redactor.reason(&text);
            let message = if reason.is_empty() {
                format!("the upstream answered HTTP {}", status.as_u16())
            } else {
                format!("the upstream answered HTTP {}: {reason}", status.as_u16())
            };
            return Err(UpstreamError::new(message, Some(status.as_u16()), retryable).into());
        }
        let max = self.limits.max_response_bytes;
        let message = if is_event_stream(&response) {
            let mut stream = bounded::events(response, max);
            let mut found = None;
            while let Some(event) = stream.next().await {
                let event = event.map_err(|e| {
                    if bounded::too_large(&e) {
                        UpstreamError::too_large(max, "an event of the upstream's SSE answer")
                    } else if started.elapsed() + Duration::from_millis(50) >= self.timeout {
                        // reqwest's timeout covers the whole body: a stream
                        // cut at the deadline is the upstream being too slow.
                        UpstreamError::timed_out(self.timeout)
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
                    // Waits while the relay is full: the upstream's stream
                    // is then not read (backpressure), nothing piles up.
                    let _ = events.send(msg).await;
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
            let body = bounded::body(response, max).await.map_err(|e| match e {
                ReadError::TooLarge(max) => UpstreamError::too_large(max, "the upstream's answer"),
                ReadError::Broken(e) => self.broken(e, "the upstream's answer broke off"),
            })?;
            serde_json::from_slice::<Value>(&body).map_err(|e| {
                UpstreamError::new(
                    format!("the upstream answered with invalid JSON: {e}"),
                    None,
                    false,
                )
            })?
        };
        self.unwrap_message(message).map(|v| (v, session_id))
    }

    /// A failed request as an error: a timeout, or `what` and why.
    fn broken(&self, e: reqwest::Error, what: &str) -> UpstreamError {
        if e.is_timeout() {
            UpstreamError::timed_out(self.timeout)
        } else {
            UpstreamError::new(format!("{what}: {}", crate::egress::reason(e)), None, true)
        }
    }

    /// The result of a response message, or its error — with the gateway's
    /// credential (and credential-shaped text) removed from an error's
    /// text and from a result that reports an error (`isError`), and the
    /// credential alone from any other result.
    fn unwrap_message(&self, message: Value) -> Result<Value, CallError> {
        let Value::Object(mut message) = message else {
            return Err(
                UpstreamError::new("the upstream's answer is not an object", None, false).into(),
            );
        };
        if let Some(error) = message.remove("error") {
            return Err(CallError::Rpc(self.redacted(error)));
        }
        let result = message.remove("result").ok_or_else(|| {
            CallError::from(UpstreamError::new(
                "the upstream's answer has no result",
                None,
                false,
            ))
        })?;
        if result.get("isError").and_then(Value::as_bool) == Some(true) {
            return Ok(self.redacted(result));
        }
        Ok(self.scrubbed(result))
    }

    /// `value` with the gateway's credential for this upstream removed from
    /// every string (an upstream that echoes it must not hand it to clients).
    fn scrubbed(&self, mut value: Value) -> Value {
        if !self.redactor.is_empty() {
            rewrite_strings(&mut value, &|s| self.redactor.strip_secrets(s));
        }
        value
    }

    /// `value` with every string redacted.
    fn redacted(&self, mut value: Value) -> Value {
        rewrite_strings(&mut value, &|s| Some(self.redactor.redact(s)));
        value
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
        let refused = match self
            .exchange(None, method::INITIALIZE, params.clone())
            .await
        {
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
            .exchange(Some(&stateless), method::SERVER_DISCOVER, json!({}))
            .await
        {
            match modern::discovered(&result) {
                Ok(init) => {
                    tracing::debug!(upstream = %self.url, "upstream speaks only 2026-07-28; talking to it statelessly");
                    let session = Session {
                        init: Arc::new(init.clone()),
                        ..stateless
                    };
                    return Ok((session, init));
                }
                Err(why) => tracing::debug!(upstream = %self.url, why, "not a 2026-07-28 server"),
            }
        }
        if matches!(status, Some(404 | 405)) {
            // No Streamable HTTP here: try the legacy HTTP+SSE transport.
            let legacy = Legacy::connect(
                &self.http,
                &self.url,
                self.auth.as_ref(),
                self.limits.max_response_bytes,
            )
            .await?;
            tracing::info!(upstream = %self.url, "upstream speaks HTTP+SSE (legacy); using it");
            *self.legacy.lock().expect("lock") = Some(legacy);
            let (result, session_id) = self.exchange(None, method::INITIALIZE, params).await?;
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
        // A legacy (HTTP+SSE) session is its stream: closing that ends it.
        let lease = session_id.filter(|_| self.legacy().is_none()).map(|id| {
            self.live.fetch_add(1, Ordering::SeqCst);
            Arc::new(Lease {
                id,
                version: version.clone(),
                http: self.http.clone(),
                url: self.url.clone(),
                auth: self.auth.clone(),
                live: Arc::clone(&self.live),
                ended: AtomicBool::new(false),
            })
        });
        let session = Session {
            version,
            lease,
            init: Arc::new(result.clone()),
        };
        // The initialized notification; its answer (202) carries nothing.
        let note = json!({"jsonrpc": "2.0", "method": notification::INITIALIZED});
        let _ = self.post(Some(&session), &note).send().await;
        (session, result)
    }

    /// The upstream forgot `session` (404): nothing to end; the next
    /// request opens a new one (unless another already replaced it).
    async fn forget(&self, session: &Session) {
        session.forget();
        let mut slot = self.session.lock().await;
        let same = match (slot.as_ref().and_then(|s| s.lease.as_ref()), &session.lease) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            _ => false,
        };
        if same {
            *slot = None;
        }
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
            Err(CallError::Transport(e)) if e.status == Some(404) && session.id().is_some() => {
                self.forget(&session).await;
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

    /// An upstream that asks its client on the session's standalone stream
    /// (TypeScript SDK) drops what it sends there while that stream is not
    /// open — just after a new session, before the change listener has
    /// reopened it. So a call that can relay such requests gives the listener
    /// a moment ([`STREAM_SETTLE`]) when it runs on another session's stream.
    async fn settle_stream(&self, session: &Session) {
        let mut open = self.stream_for.subscribe();
        let listening = self.listening.load(Ordering::Relaxed);
        if !listening || session.id().is_none() || open.borrow().as_deref() == session.id() {
            return;
        }
        let reopened = open.wait_for(|id| id.as_deref() == session.id());
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
        events: &tokio::sync::mpsc::Sender<Value>,
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
            events.send(message).await.map_err(|_| gone())?;
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
        if let Some(id) = session.id() {
            request = request.header("mcp-session-id", id);
        }
        let response = self.authorized(request).send().await.map_err(|e| {
            UpstreamError::new(
                format!(
                    "cannot open the upstream's stream: {}",
                    crate::egress::reason(e)
                ),
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
                self.forget(&session).await;
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
        self.stream_for
            .send_replace(session.id().map(str::to_owned));
        let end = relay_list_changes(
            response,
            self.limits.max_response_bytes,
            on_change,
            renewed,
            talk_back,
        )
        .await;
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
        let body = json!({"jsonrpc": "2.0", "id": id, "method": method::SUBSCRIPTIONS_LISTEN, "params": params});
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
                    crate::egress::reason(e)
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
        Ok(relay_list_changes(
            response,
            self.limits.max_response_bytes,
            on_change,
            std::future::pending(),
            None,
        )
        .await)
    }

    /// Every entry of a paginated list (`tools/list` → `tools`), read
    /// within the client's limits, with warnings about what was odd. An
    /// upstream's list may never end — the same `nextCursor` again and again
    /// — so reading stops when a cursor repeats or after
    /// [`McpLimits::max_list_pages`] pages, and entries that repeat an
    /// earlier one's identity (name, uri or uriTemplate) are dropped.
    /// Entries over [`McpLimits::max_list_bytes`] in all fail the read.
    pub async fn list_all(
        &self,
        method: &str,
        key: &str,
    ) -> Result<(Vec<Value>, Vec<String>), CallError> {
        let identity = match key {
            "resources" => "uri",
            "resourceTemplates" => "uriTemplate",
            _ => "name",
        };
        let mut items = Vec::new();
        let mut warnings = Vec::new();
        let mut identities = HashSet::new();
        let mut cursors = HashSet::new();
        let (mut bytes, mut duplicates) = (0, 0);
        let mut cursor: Option<String> = None;
        for page in 1..=self.limits.max_list_pages.max(1) {
            let params = cursor
                .as_ref()
                .map_or(json!({}), |c| json!({ "cursor": c }));
            let mut result = self.request(method, params).await.map_err(|e| match e {
                CallError::Transport(e) => CallError::Transport(UpstreamError {
                    message: format!("{method}: {}", e.message),
                    ..e
                }),
                rpc => rpc,
            })?;
            let entries = match result.get_mut(key).map(Value::take) {
                Some(Value::Array(entries)) => entries,
                _ => Vec::new(),
            };
            for entry in entries {
                bytes += json_len(&entry);
                if bytes > self.limits.max_list_bytes {
                    return Err(UpstreamError::new(
                        format!(
                            "{method}: the upstream's list exceeds {} bytes over its pages \
                             (upstream.mcp_max_list_bytes)",
                            self.limits.max_list_bytes
                        ),
                        None,
                        false,
                    )
                    .into());
                }
                if let Some(id) = entry.get(identity).and_then(Value::as_str)
                    && !identities.insert(id.to_owned())
                {
                    duplicates += 1;
                    continue;
                }
                items.push(entry);
            }
            let next = match result.get("nextCursor").and_then(Value::as_str) {
                Some(c) if !c.is_empty() => c,
                _ => break,
            };
            // Cursors are remembered by digest: an upstream's may be long.
            if !cursors.insert(Sha256::digest(next.as_bytes())) {
                warnings.push(format!(
                    "{method}: the upstream repeated a cursor on page {page}; the list was read up to there"
                ));
                break;
            }
            if page == self.limits.max_list_pages {
                warnings.push(format!(
                    "{method}: reading stopped after {page} pages (upstream.mcp_max_list_pages); \
                     the list may be incomplete"
                ));
                break;
            }
            cursor = Some(next.to_owned());
        }
        if duplicates > 0 {
            warnings.push(format!(
                "{method}: {duplicates} entries repeating an earlier {identity} were dropped"
            ));
        }
        Ok((items, warnings))
    }

    /// Read everything the upstream offers. With `fresh`, on a new session
    /// (a health check of the whole handshake), which replaces the client's
    /// current one; the replaced session is ended (`DELETE`) once no call
    /// runs on it any more. Without `fresh` (a resync after the upstream
    /// announced a change on the current session), and while
    /// [`MAX_SESSIONS`] are open, the current session is used.
    pub async fn sync(&self, fresh: bool) -> Result<Snapshot, UpstreamError> {
        let to_transport = |e: CallError| match e {
            CallError::Transport(t) => t,
            CallError::Rpc(err) => UpstreamError::new(
                format!(
                    "the upstream refused: {}",
                    self.redactor.reason(
                        err.get("message")
                            .and_then(Value::as_str)
                            .unwrap_or("unknown error")
                    )
                ),
                None,
                false,
            ),
        };
        let current = self.session.lock().await.clone();
        let (session, init) = match current {
            Some(current) if !fresh || self.open_sessions() >= MAX_SESSIONS => {
                tracing::debug!(upstream = %self.url, fresh, "syncing on the current session");
                let init = (*current.init).clone();
                (current, init)
            }
            _ => {
                let (session, init) = self.initialize().await.map_err(to_transport)?;
                *self.session.lock().await = Some(session.clone());
                self.renewed.notify_waiters();
                self.renewals.send_modify(|n| *n += 1);
                (session, init)
            }
        };
        let capabilities = init.get("capabilities").cloned().unwrap_or(json!({}));
        let has = |c: &str| capabilities.get(c).is_some();
        let mut snapshot = Snapshot {
            protocol_version: session.version.clone(),
            server_info: init.get("serverInfo").cloned().unwrap_or(json!({})),
            capabilities: capabilities.clone(),
            ..Snapshot::default()
        };
        drop(session);
        let mut warnings = Vec::new();
        let mut read = |(items, found): (Vec<Value>, Vec<String>)| {
            warnings.extend(found);
            items
        };
        if has("tools") {
            snapshot.tools = read(
                self.list_all(method::TOOLS_LIST, "tools")
                    .await
                    .map_err(to_transport)?,
            );
        }
        if has("prompts") {
            snapshot.prompts = read(
                self.list_all(method::PROMPTS_LIST, "prompts")
                    .await
                    .map_err(to_transport)?,
            );
        }
        if has("resources") {
            snapshot.resources = read(
                self.list_all(method::RESOURCES_LIST, "resources")
                    .await
                    .map_err(to_transport)?,
            );
            // Many servers with resources have no templates (-32601).
            snapshot.resource_templates = read(
                self.list_all(method::RESOURCE_TEMPLATES_LIST, "resourceTemplates")
                    .await
                    .unwrap_or_default(),
            );
        }
        snapshot.warnings = warnings;
        Ok(snapshot)
    }
}

/// Replace each string in `value` for which `rewrite` gives a new one.
fn rewrite_strings(value: &mut Value, rewrite: &dyn Fn(&str) -> Option<String>) {
    match value {
        Value::String(s) => {
            if let Some(new) = rewrite(s) {
                *s = new;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| rewrite_strings(v, rewrite)),
        Value::Object(fields) => fields
            .values_mut()
            .for_each(|v| rewrite_strings(v, rewrite)),
        _ => {}
    }
}

/// The length of a value as compact JSON, without building the text.
fn json_len(value: &Value) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    let _ = serde_json::to_writer(&mut count, value);
    count.0
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
/// answer, until it ends or `renewed` fires. An event over `max` bytes
/// ends the stream (it is reopened). With `talk_back` (a session's
/// standalone stream), its other messages go to the calls in flight
/// ([`standalone`]), and the answers given here are posted on the session.
async fn relay_list_changes(
    response: reqwest::Response,
    max: usize,
    on_change: &(dyn Fn(&str) + Send + Sync),
    renewed: impl std::future::Future<Output = ()>,
    talk_back: Option<(&McpClient, &Session)>,
) -> StreamEnd {
    let mut stream = bounded::events(response, max);
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
