//! What an upstream sends on its session's standalone SSE stream (the GET
//! stream of Streamable HTTP) besides list changes.
//!
//! Servers built with the official TypeScript SDK send a tool's requests to
//! the client (`server.createMessage()`, `server.elicitInput()`) and its log
//! lines (`server.sendLoggingMessage()`) there unless the tool names the
//! request they belong to (`relatedRequestId`): the common way to write
//! them. The upstream then waits for an answer, which must come from the
//! client whose call is running. The gateway holds one session per upstream
//! for all its clients, so it routes such a message to the calls in flight
//! on that upstream that registered with [`Callers::attend`]: when they all
//! belong to one client, to that client; otherwise nobody can tell whose it
//! is, and a request is answered with an error at once (rather than left to
//! time out) while a notification is dropped.

use mcpgate_protocol::mcp::notification;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex, PoisonError};

/// Hands a message to a call's relay; `false` when the call is gone.
type Deliver = Box<dyn Fn(Value) -> bool + Send + Sync>;

/// A call in flight that takes messages from the standalone stream.
struct Caller {
    id: u64,
    /// Which client made the call (its session or its key), opaque.
    owner: u128,
    /// What that client can answer: a ClientCapabilities object.
    can_answer: Value,
    deliver: Deliver,
}

/// The calls in flight on one upstream, oldest first.
#[derive(Default)]
pub(crate) struct Callers {
    calls: Mutex<(u64, Vec<Caller>)>,
}

/// A call's registration; dropping it ends the routing to that call.
#[must_use = "messages are routed to the call only while this lives"]
pub struct Attending {
    callers: Arc<Callers>,
    id: u64,
}

impl Drop for Attending {
    fn drop(&mut self) {
        let mut calls = self.callers.lock();
        calls.1.retain(|c| c.id != self.id);
    }
}

fn error(id: &Value, code: i64, message: String) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}})
}

impl Callers {
    fn lock(&self) -> std::sync::MutexGuard<'_, (u64, Vec<Caller>)> {
        // A panic elsewhere never leaves the list half-changed: keep using it.
        self.calls.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Route the standalone stream's messages for the client `owner` to
    /// `deliver` while the returned guard lives. `can_answer` is what that
    /// client can answer (a ClientCapabilities object: `sampling`,
    /// `elicitation`, `roots`).
    pub(crate) fn attend(
        self: &Arc<Self>,
        owner: u128,
        can_answer: &Value,
        deliver: Deliver,
    ) -> Attending {
        let mut calls = self.lock();
        calls.0 += 1;
        let id = calls.0;
        calls.1.push(Caller {
            id,
            owner,
            can_answer: can_answer.clone(),
            deliver,
        });
        Attending {
            callers: Arc::clone(self),
            id,
        }
    }

    /// Deal with one message from the standalone stream (not a list
    /// change). Returns the answer to send the upstream, if it gets one
    /// here: a `ping`'s, or the error for a request no client can take.
    pub(crate) fn route(&self, message: Value) -> Option<Value> {
        let method = message.get("method")?.as_str()?.to_owned();
        let calls = self.lock();
        let Some(id) = message.get("id").cloned() else {
            // Only what a call's client asked to hear: its progress and logs.
            if method != notification::MESSAGE && method != notification::PROGRESS {
                return None;
            }
            let owner = calls.1.first()?.owner;
            if calls.1.iter().any(|c| c.owner != owner) {
                tracing::debug!(
                    method,
                    "standalone notification of no single client; dropped"
                );
                return None;
            }
            calls.1.iter().any(|c| (c.deliver)(message.clone()));
            return None;
        };
        if method == mcpgate_protocol::mcp::method::PING {
            return Some(json!({"jsonrpc": "2.0", "id": id, "result": {}}));
        }
        let Some(capability) = mcpgate_protocol::mcp::capability_for_request(&method) else {
            return Some(error(&id, -32601, format!("Method not found: {method}")));
        };
        let able: Vec<&Caller> = calls
            .1
            .iter()
            .filter(|c| c.can_answer.get(capability).is_some())
            .collect();
        let Some(first) = able.first() else {
            return Some(error(
                &id,
                -32603,
                format!(
                    "no call in flight through the gateway has a client that can answer {method} \
                     (it needs the {capability} capability and a response stream)"
                ),
            ));
        };
        if able.iter().any(|c| c.owner != first.owner) {
            return Some(error(
                &id,
                -32603,
                format!(
                    "calls of several clients are in flight on this upstream session, so the \
                     gateway cannot tell whose {method} this is; send it on the call's own \
                     stream (relatedRequestId; in the TypeScript SDK, extra.sendRequest)"
                ),
            ));
        }
        if able.iter().any(|c| (c.deliver)(message.clone())) {
            return None;
        }
        Some(error(
            &id,
            -32603,
            format!("the client went away before it could be asked {method}"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    fn caller(
        callers: &Arc<Callers>,
        owner: u128,
        can_answer: Value,
    ) -> (Attending, mpsc::Receiver<Value>) {
        let (tx, rx) = mpsc::channel();
        let deliver = Box::new(move |m| tx.send(m).is_ok());
        (callers.attend(owner, &can_answer, deliver), rx)
    }

    fn request(method: &str) -> Value {
        json!({"jsonrpc": "2.0", "id": 0, "method": method, "params": {}})
    }

    #[test]
    fn a_request_goes_to_the_one_client_that_can_answer_it() {
        let callers = Arc::new(Callers::default());
        let (_a, from_a) = caller(&callers, 1, json!({}));
        let (_b, from_b) = caller(&callers, 1, json!({"sampling": {}}));
        assert_eq!(callers.route(request("sampling/createMessage")), None);
        assert!(from_a.try_recv().is_err(), "a cannot answer sampling");
        assert_eq!(
            from_b.try_recv().unwrap()["method"],
            "sampling/createMessage"
        );
    }

    #[test]
    fn requests_nobody_or_several_clients_could_take_are_refused_at_once() {
        let callers = Arc::new(Callers::default());
        let refused = callers.route(request("elicitation/create")).unwrap();
        assert_eq!(refused["id"], 0);
        assert_eq!(refused["error"]["code"], -32603);
        let (_a, from_a) = caller(&callers, 1, json!({"elicitation": {}}));
        let (_b, from_b) = caller(&callers, 2, json!({"elicitation": {}}));
        let refused = callers.route(request("elicitation/create")).unwrap();
        assert!(
            refused["error"]["message"]
                .as_str()
                .unwrap()
                .contains("several clients"),
            "{refused}"
        );
        assert!(from_a.try_recv().is_err() && from_b.try_recv().is_err());
        // Unknown methods are not found; pings are answered here.
        assert_eq!(
            callers.route(request("x/y")).unwrap()["error"]["code"],
            -32601
        );
        assert_eq!(callers.route(request("ping")).unwrap()["result"], json!({}));
    }

    #[test]
    fn logs_reach_a_single_client_only_and_registration_ends_with_the_guard() {
        let callers = Arc::new(Callers::default());
        let log = json!({"jsonrpc": "2.0", "method": "notifications/message",
            "params": {"level": "info", "data": "x"}});
        let (a, from_a) = caller(&callers, 7, json!({}));
        assert_eq!(callers.route(log.clone()), None);
        assert_eq!(from_a.try_recv().unwrap()["params"]["data"], "x");
        let (_b, from_b) = caller(&callers, 8, json!({}));
        callers.route(log.clone());
        assert!(from_a.try_recv().is_err() && from_b.try_recv().is_err());
        drop(a);
        callers.route(log);
        assert!(from_b.try_recv().is_ok(), "b is the only client left");
        // Other notifications are not a call's business.
        let other = json!({"jsonrpc": "2.0", "method": "notifications/resources/updated"});
        assert_eq!(callers.route(other), None);
        assert!(from_b.try_recv().is_err());
    }
}
