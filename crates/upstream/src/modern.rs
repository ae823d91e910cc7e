//! Upstreams that speak only MCP 2026-07-28 (no `initialize`, no sessions).
//!
//! Every request is stamped with the protocol version and the capabilities
//! of the client the gateway acts for, and repeats its method (and name) in
//! headers. A result may be `input_required`: the upstream wants the client
//! to sample, elicit or list roots first. [`McpClient`](crate::McpClient)
//! turns each such input request into a server-to-client request message —
//! the same message a 2025 upstream sends mid-call, which the gateway
//! already relays to its clients of both eras — and, once every answer is
//! in, calls again with `inputResponses` and the upstream's `requestState`.

use dashmap::DashMap;
use mcpgate_protocol::mcp::method;
use mcpgate_protocol::stateless::{
    self, META_CLIENT_CAPABILITIES, META_PROTOCOL_VERSION, META_SERVER_INFO, METHOD_HEADER,
    NAME_HEADER, VERSION,
};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::{Map, Value, json};
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::oneshot;

/// `params` with the `_meta` a stateless request needs. The client's own
/// declared capabilities (a 2026 client's `_meta`) win over `capabilities`.
pub(crate) fn stamp(params: Value, capabilities: Option<&Value>) -> Value {
    let mut params = match params {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    let meta = params.entry("_meta").or_insert_with(|| json!({}));
    if !meta.is_object() {
        *meta = json!({});
    }
    if let Value::Object(meta) = meta {
        meta.insert(META_PROTOCOL_VERSION.into(), VERSION.into());
        meta.entry(META_CLIENT_CAPABILITIES)
            .or_insert_with(|| capabilities.cloned().unwrap_or_else(|| json!({})));
    }
    Value::Object(params)
}

/// `_meta` keys of the stateless era, which a 2025 upstream has no use for.
const ERA_META: [&str; 4] = [
    META_PROTOCOL_VERSION,
    META_CLIENT_CAPABILITIES,
    "io.modelcontextprotocol/clientInfo",
    "io.modelcontextprotocol/logLevel",
];

/// `params` without what only the stateless era has (a 2026 client's,
/// relayed to a 2025 upstream): its `_meta` keys (and `_meta` if nothing is
/// left) and the `inputResponses`/`requestState` of its input rounds.
pub(crate) fn unstamp(mut params: Value) -> Value {
    let Some(fields) = params.as_object_mut() else {
        return params;
    };
    fields.remove("inputResponses");
    fields.remove("requestState");
    if let Some(Value::Object(meta)) = fields.get_mut("_meta") {
        for key in ERA_META {
            meta.remove(key);
        }
        if meta.is_empty() {
            fields.remove("_meta");
        }
    }
    params
}

/// The routing headers of a stateless request body: `Mcp-Method`, and
/// `Mcp-Name` for the methods that name a tool, prompt or resource.
pub(crate) fn headers(body: &Value) -> HeaderMap {
    let mut headers = HeaderMap::new();
    let method = body.get("method").and_then(Value::as_str).unwrap_or("");
    let insert = |headers: &mut HeaderMap, name: &'static str, value: &str| {
        if let Ok(value) = HeaderValue::from_str(&stateless::encode_header(value)) {
            headers.insert(HeaderName::from_static(name), value);
        }
    };
    insert(&mut headers, METHOD_HEADER, method);
    let field = match method {
        method::TOOLS_CALL | method::PROMPTS_GET => Some("name"),
        method::RESOURCES_READ => Some("uri"),
        _ => None,
    };
    if let Some(name) = field
        .and_then(|f| body.get("params")?.get(f))
        .and_then(Value::as_str)
    {
        insert(&mut headers, NAME_HEADER, name);
    }
    headers
}

/// What a stateless result asks of the caller.
#[derive(Debug, PartialEq)]
pub(crate) enum Outcome {
    /// The answer, without the fields of the era (the gateway adds its own).
    Complete(Value),
    /// Input the client must give before the upstream can answer.
    InputRequired {
        /// `inputRequests`: key → `{method, params}`.
        requests: Map<String, Value>,
        /// `requestState`, echoed unchanged on the next round.
        state: Option<Value>,
    },
}

/// Classify a stateless result. A missing `resultType` means complete.
pub(crate) fn outcome(mut result: Value) -> Outcome {
    let Value::Object(fields) = &mut result else {
        return Outcome::Complete(result);
    };
    let kind = fields.remove("resultType");
    if kind.as_ref().and_then(Value::as_str) == Some("input_required") {
        let requests = match fields.remove("inputRequests") {
            Some(Value::Object(requests)) => requests,
            _ => Map::new(),
        };
        return Outcome::InputRequired {
            requests,
            state: fields.remove("requestState"),
        };
    }
    if let Some(Value::Object(meta)) = fields.get_mut("_meta") {
        meta.remove(META_SERVER_INFO);
        if meta.is_empty() {
            fields.remove("_meta");
        }
    }
    Outcome::Complete(result)
}

/// An `input_required` result as the upstream sent it (what
/// [`outcome`] took apart), to hand on to a client of the same era.
pub(crate) fn input_required(requests: Map<String, Value>, state: Option<Value>) -> Value {
    let mut result = json!({"resultType": "input_required", "inputRequests": requests});
    if let Some(state) = state {
        result["requestState"] = state;
    }
    result
}

/// The `initialize`-shaped view of a `server/discover` result (what a sync
/// records), or why the upstream is not a 2026-07-28 server.
pub(crate) fn discovered(result: &Value) -> Result<Value, String> {
    let speaks = result
        .get("supportedVersions")
        .and_then(Value::as_array)
        .is_some_and(|v| v.iter().any(|v| v.as_str() == Some(VERSION)));
    if !speaks {
        return Err(format!(
            "server/discover does not list {VERSION} among its supportedVersions"
        ));
    }
    let mut init = json!({
        "protocolVersion": VERSION,
        "capabilities": result.get("capabilities").cloned().unwrap_or_else(|| json!({})),
        "serverInfo": result
            .get("_meta")
            .and_then(|m| m.get(META_SERVER_INFO))
            .cloned()
            .unwrap_or_else(|| json!({})),
    });
    if let Some(instructions) = result.get("instructions") {
        init["instructions"] = instructions.clone();
    }
    Ok(init)
}

/// Input requests relayed to clients, waiting for their answers by the id
/// they were relayed under.
#[derive(Default)]
pub(crate) struct Questions {
    waiting: DashMap<String, oneshot::Sender<Value>>,
    next: AtomicU64,
}

/// One question out; forgotten when dropped, answered or not.
pub(crate) struct Question<'a> {
    questions: &'a Questions,
    /// The request id the question goes out under.
    pub id: String,
    rx: oneshot::Receiver<Value>,
}

impl Question<'_> {
    /// The client's response message; `None` if it can no longer come.
    pub(crate) async fn reply(&mut self) -> Option<Value> {
        (&mut self.rx).await.ok()
    }
}

impl Drop for Question<'_> {
    fn drop(&mut self) {
        self.questions.waiting.remove(&self.id);
    }
}

impl Questions {
    /// Register a new question.
    pub(crate) fn ask(&self) -> Question<'_> {
        let id = format!(
            "mcpgate-input-{}",
            self.next.fetch_add(1, Ordering::Relaxed)
        );
        let (tx, rx) = oneshot::channel();
        self.waiting.insert(id.clone(), tx);
        Question {
            questions: self,
            id,
            rx,
        }
    }

    /// Deliver a client's response message to its question; the message
    /// back when no question has its id.
    pub(crate) fn answer(&self, message: Value) -> Result<(), Value> {
        let asked = message.get("id").and_then(Value::as_str);
        match asked.and_then(|id| self.waiting.remove(id)) {
            Some((_, tx)) => {
                let _ = tx.send(message);
                Ok(())
            }
            None => Err(message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamping_keeps_the_clients_meta_and_its_own_capabilities() {
        let caps = json!({"sampling": {}});
        let p = stamp(
            json!({"name": "t", "_meta": {"progressToken": 7}}),
            Some(&caps),
        );
        assert_eq!(p["_meta"]["progressToken"], 7);
        assert_eq!(p["_meta"][META_PROTOCOL_VERSION], VERSION);
        assert_eq!(p["_meta"][META_CLIENT_CAPABILITIES], caps);
        let declared = json!({"elicitation": {}});
        let p = stamp(
            json!({"_meta": {META_CLIENT_CAPABILITIES: declared, META_PROTOCOL_VERSION: "x"}}),
            Some(&caps),
        );
        assert_eq!(p["_meta"][META_CLIENT_CAPABILITIES], declared);
        assert_eq!(p["_meta"][META_PROTOCOL_VERSION], VERSION);
        assert_eq!(
            stamp(Value::Null, None)["_meta"][META_CLIENT_CAPABILITIES],
            json!({})
        );
    }

    #[test]
    fn unstamping_leaves_only_the_clients_own_meta() {
        let p = json!({"name": "t", "_meta": {"progressToken": 1, META_PROTOCOL_VERSION: VERSION,
            "io.modelcontextprotocol/logLevel": "info"}});
        assert_eq!(
            unstamp(p),
            json!({"name": "t", "_meta": {"progressToken": 1}})
        );
        let p = json!({"name": "t", "_meta": {META_CLIENT_CAPABILITIES: {}}});
        assert_eq!(unstamp(p), json!({"name": "t"}));
        assert_eq!(unstamp(json!({"name": "t"})), json!({"name": "t"}));
        let p = json!({"name": "t", "inputResponses": {}, "requestState": "s"});
        assert_eq!(unstamp(p), json!({"name": "t"}));
    }

    #[test]
    fn routing_headers_name_the_tool_or_resource_and_encode_what_is_unsafe() {
        let h = headers(&json!({"method": "tools/call", "params": {"name": "hello"}}));
        assert_eq!(h[METHOD_HEADER], "tools/call");
        assert_eq!(h[NAME_HEADER], "hello");
        let h = headers(&json!({"method": "resources/read", "params": {"uri": "file:///café"}}));
        assert_eq!(
            stateless::decode_header(h[NAME_HEADER].as_bytes()).as_deref(),
            Some("file:///café")
        );
        let h = headers(&json!({"method": "tools/list", "params": {"name": "x"}}));
        assert!(h.get(NAME_HEADER).is_none());
    }

    #[test]
    fn outcomes_strip_the_era_fields_and_read_input_requests() {
        let done = outcome(json!({"content": [], "resultType": "complete",
            "_meta": {META_SERVER_INFO: {"name": "up"}}}));
        assert_eq!(done, Outcome::Complete(json!({"content": []})));
        let kept = outcome(json!({"content": [], "_meta": {"k": 1, META_SERVER_INFO: {}}}));
        assert_eq!(
            kept,
            Outcome::Complete(json!({"content": [], "_meta": {"k": 1}}))
        );
        let asked = outcome(json!({"resultType": "input_required", "requestState": "s",
            "inputRequests": {"a": {"method": "roots/list"}}}));
        let Outcome::InputRequired { requests, state } = asked else {
            panic!("input_required not recognised");
        };
        assert_eq!(requests["a"]["method"], "roots/list");
        assert_eq!(state, Some(json!("s")));
        let again = input_required(requests, state);
        assert_eq!(again["resultType"], "input_required");
        assert_eq!(again["requestState"], "s");
        assert_eq!(again["inputRequests"]["a"]["method"], "roots/list");
    }

    #[test]
    fn discover_results_must_list_the_stateless_version() {
        let init = discovered(&json!({"supportedVersions": ["2026-07-28"],
            "capabilities": {"tools": {}}, "instructions": "hi",
            "_meta": {META_SERVER_INFO: {"name": "up"}}}))
        .unwrap();
        assert_eq!(init["serverInfo"]["name"], "up");
        assert_eq!(init["capabilities"]["tools"], json!({}));
        assert_eq!(init["instructions"], "hi");
        assert!(discovered(&json!({"supportedVersions": ["2025-11-25"]})).is_err());
    }

    #[tokio::test]
    async fn questions_are_answered_by_id_and_forgotten_when_dropped() {
        let questions = Questions::default();
        let mut q = questions.ask();
        assert!(
            questions
                .answer(json!({"id": "other", "result": {}}))
                .is_err()
        );
        assert!(
            questions
                .answer(json!({"id": q.id, "result": {"ok": true}}))
                .is_ok()
        );
        assert_eq!(q.reply().await.unwrap()["result"]["ok"], true);
        let id = questions.ask().id.clone();
        assert!(questions.answer(json!({"id": id, "result": {}})).is_err());
        assert!(questions.waiting.is_empty());
    }
}
