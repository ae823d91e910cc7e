//! Record and replay: real calls of a recording server become fixtures
//! (secrets redacted) that its sandbox twin replays in preference to
//! generated answers.

use dashmap::DashMap;
use mcpgate_store::{Fixture, ServerId, Store, StoreError};
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use std::sync::Arc;

/// Fixtures by server, for the hot path.
#[derive(Default)]
pub struct Fixtures {
    by_server: DashMap<ServerId, Arc<Vec<Fixture>>>,
}

/// Whether a field name looks like it holds a secret.
fn secret_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    [
        "authorization",
        "token",
        "secret",
        "password",
        "api_key",
        "apikey",
        "api-key",
        "cookie",
        "credential",
    ]
    .iter()
    .any(|s| k.contains(s))
}

/// Replace every value under a secret-looking key with "[redacted]".
pub fn redact(value: &Value) -> Value {
    match value {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| {
                    let v = if secret_key(k) {
                        Value::String("[redacted]".into())
                    } else {
                        redact(v)
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(redact).collect()),
        // Tool results carry their JSON again as text content; redact inside it too.
        Value::String(text) if text.starts_with(['{', '[']) => {
            match serde_json::from_str::<Value>(text) {
                Ok(inner) => Value::String(redact(&inner).to_string()),
                Err(_) => value.clone(),
            }
        }
        other => other.clone(),
    }
}

/// A real `tools/call` of a recording server, stored once it has a result.
pub struct Recording {
    store: Store,
    fixtures: Arc<Fixtures>,
    server: ServerId,
    tool: String,
    arguments: Value,
}

impl Recording {
    /// For a production `tools/call` of `tool` with these `arguments`
    /// (`None` when absent, stored as `{}`); `None` unless the server
    /// records.
    pub fn new(
        gw: &crate::Gateway,
        view: &crate::view::ServerView,
        tool: &str,
        arguments: Option<Value>,
    ) -> Option<Self> {
        if !view.sandbox.recording {
            return None;
        }
        Some(Self {
            store: gw.store.clone(),
            fixtures: Arc::clone(&gw.twins.fixtures),
            server: view.id,
            tool: tool.to_owned(),
            arguments: arguments.unwrap_or_else(|| Value::Object(Map::new())),
        })
    }

    /// Store the call with a result given as JSON text, off the request
    /// path (text that does not parse is not recorded).
    pub fn save_result(self, result: &str) {
        if let Ok(result) = serde_json::from_str::<Value>(result) {
            tokio::spawn(self.save(result));
        }
    }

    /// Store the call with its result (a failure is logged: recording never
    /// fails the call it records).
    pub async fn save(self, result: Value) {
        if let Err(e) = self
            .fixtures
            .record(
                &self.store,
                self.server,
                &self.tool,
                &self.arguments,
                &result,
            )
            .await
        {
            tracing::warn!(error = %e, "could not record a fixture");
        }
    }
}

impl Fixtures {
    /// Load every fixture from the store.
    pub async fn load(store: &Store) -> Result<Self, StoreError> {
        let me = Self::default();
        for f in store.list_fixtures(None).await? {
            me.push(f);
        }
        Ok(me)
    }

    fn push(&self, f: Fixture) {
        let mut list = self
            .by_server
            .get(&f.server_id)
            .map(|l| (**l).clone())
            .unwrap_or_default();
        let server = f.server_id;
        list.push(f);
        self.by_server.insert(server, Arc::new(list));
    }

    /// Record a call (stored, then indexed).
    pub async fn record(
        &self,
        store: &Store,
        server: ServerId,
        tool: &str,
        arguments: &Value,
        result: &Value,
    ) -> Result<(), StoreError> {
        let fixture = Fixture {
            id: uuid::Uuid::now_v7(),
            server_id: server,
            tool: tool.to_owned(),
            arguments: redact(arguments),
            result: redact(result),
            created_at: crate::timefmt::now_ms(),
        };
        store.add_fixture(&fixture).await?;
        self.push(fixture);
        Ok(())
    }

    /// Forget a deleted fixture.
    pub fn remove(&self, server: ServerId, id: uuid::Uuid) {
        if let Some(list) = self.by_server.get(&server).map(|l| Arc::clone(&l)) {
            let kept: Vec<Fixture> = list.iter().filter(|f| f.id != id).cloned().collect();
            self.by_server.insert(server, Arc::new(kept));
        }
    }

    /// The fixture to replay for a call: the newest with the same arguments,
    /// else the one sharing the most argument values (at least one). The
    /// arguments are parsed only when the tool has fixtures.
    pub fn find(
        &self,
        server: ServerId,
        tool: &str,
        arguments: Option<&RawValue>,
    ) -> Option<Value> {
        let list = Arc::clone(&*self.by_server.get(&server)?);
        let candidates = list.iter().filter(|f| f.tool == tool);
        candidates.clone().next()?;
        let args = arguments
            .and_then(|a| serde_json::from_str::<Value>(a.get()).ok())
            .map_or_else(|| Value::Object(Map::new()), |a| redact(&a));
        if let Some(exact) = candidates.clone().rfind(|f| f.arguments == args) {
            return Some(exact.result.clone());
        }
        let empty = Map::new();
        let wanted = args.as_object().unwrap_or(&empty);
        candidates
            .map(|f| {
                let shared = f.arguments.as_object().map_or(0, |m| {
                    m.iter().filter(|(k, v)| wanted.get(*k) == Some(*v)).count()
                });
                (shared, f)
            })
            .filter(|(shared, _)| *shared > 0)
            .max_by_key(|(shared, f)| (*shared, f.created_at))
            .map(|(_, f)| f.result.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secrets_are_redacted_at_any_depth() {
        let v = json!({"Authorization": "Bearer x", "nested": {"api_key": "k", "name": "ok"}, "list": [{"password": "p"}]});
        let r = redact(&v);
        assert_eq!(r["Authorization"], "[redacted]");
        assert_eq!(r["nested"]["api_key"], "[redacted]");
        assert_eq!(r["nested"]["name"], "ok");
        assert_eq!(r["list"][0]["password"], "[redacted]");
        let text = json!({"content": [{"type": "text", "text": "{\"token\":\"abc\",\"a\":1}"}]});
        let r = redact(&text);
        assert_eq!(
            r["content"][0]["text"],
            "{\"a\":1,\"token\":\"[redacted]\"}"
        );
    }
}
