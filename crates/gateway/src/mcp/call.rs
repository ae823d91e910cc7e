//! A request as every step of the pipeline sees it: its id, its method and
//! its params — with a `tools/call`'s params parsed once into a typed
//! [`ToolCall`] that admission (the 2026 header rules), the relay, the
//! recorder, the twin and the dispatch all read.

use mcpgate_protocol::mcp::{LogLevel, method, notification};
use mcpgate_protocol::{RequestId, RpcError};
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use std::fmt;

/// Label for metrics: known methods by name, notifications as
/// "notification", anything else as "other" (a label set that clients
/// cannot grow).
pub(crate) fn method_label(name: &str) -> &'static str {
    const KNOWN: [&str; 9] = [
        method::INITIALIZE,
        method::PING,
        method::TOOLS_LIST,
        method::TOOLS_CALL,
        method::PROMPTS_LIST,
        method::RESOURCES_LIST,
        method::RESOURCE_TEMPLATES_LIST,
        method::SERVER_DISCOVER,
        method::SUBSCRIPTIONS_LISTEN,
    ];
    match KNOWN.into_iter().find(|known| *known == name) {
        Some(known) => known,
        None if name.starts_with(notification::PREFIX) => "notification",
        None => "other",
    }
}

/// One JSON-RPC request, on its way through the pipeline.
pub(crate) struct Request {
    /// The id to answer under, echoed byte for byte.
    pub id: RequestId,
    /// The method, as the client wrote it.
    pub method: String,
    /// Its params.
    pub params: Params,
}

/// A request's params: typed for `tools/call`, raw for everything else.
pub(crate) enum Params {
    /// A `tools/call`'s call, or why its params are not one (answered as
    /// -32602 by the dispatch, after the era's own checks).
    Tool(Result<ToolCall, RpcError>),
    /// Any other method's params, as sent (absent is `None`).
    Raw(Option<Box<RawValue>>),
}

impl Request {
    /// Take a request apart; a `tools/call`'s params are parsed here, and
    /// only here.
    pub(crate) fn new(id: RequestId, method: String, params: Option<Box<RawValue>>) -> Self {
        let params = if method == method::TOOLS_CALL {
            Params::Tool(ToolCall::parse(params.as_deref()))
        } else {
            Params::Raw(params)
        };
        Self { id, method, params }
    }

    /// The raw params of a method other than `tools/call` (`None` for a
    /// `tools/call` and for absent params).
    pub(crate) fn raw_params(&self) -> Option<&RawValue> {
        match &self.params {
            Params::Raw(raw) => raw.as_deref(),
            Params::Tool(_) => None,
        }
    }

    /// The parsed call of a `tools/call`, or why its params are not one
    /// (-32602).
    pub(crate) fn parsed_call(&self) -> Result<&ToolCall, RpcError> {
        match &self.params {
            Params::Tool(Ok(call)) => Ok(call),
            Params::Tool(Err(e)) => Err(e.clone()),
            Params::Raw(_) => Err(RpcError::invalid_params(format!(
                "Invalid params: {} is not a tools/call",
                self.method
            ))),
        }
    }

    /// The id and the parsed call of a well-formed `tools/call`; the
    /// request back otherwise.
    pub(crate) fn into_tool_call(self) -> Result<(RequestId, ToolCall), Self> {
        match self.params {
            Params::Tool(Ok(call)) => Ok((self.id, call)),
            params => Err(Self { params, ..self }),
        }
    }

    /// The parsed call, when this is a well-formed `tools/call`.
    pub(crate) fn tool_call(&self) -> Option<&ToolCall> {
        match &self.params {
            Params::Tool(Ok(call)) => Some(call),
            _ => None,
        }
    }
}

/// The params of a `tools/call` (MCP `CallToolRequest`): the tool's name,
/// its arguments kept as the exact bytes the client sent (the executor
/// reads them), `_meta`, and every other member as sent, so a proxy can
/// pass on what it does not model (`requestState`, `inputResponses`,
/// `task`, …).
pub(crate) struct ToolCall {
    /// The tool's name as the client wrote it (the exposed name).
    pub name: String,
    /// `arguments` as sent, `null` included.
    arguments: Option<Box<RawValue>>,
    /// `_meta` as sent.
    pub meta: Option<Box<RawValue>>,
    /// Every other member, in the order sent.
    rest: Vec<(String, Box<RawValue>)>,
}

impl ToolCall {
    /// Parse a `tools/call`'s params: an object with a string `name`
    /// (absent params read as `{}`); -32602 with serde's explanation
    /// otherwise, as `jsonrpc::params` words it.
    pub(crate) fn parse(params: Option<&RawValue>) -> Result<Self, RpcError> {
        let text = params.map_or("{}", RawValue::get);
        let mut de = serde_json::Deserializer::from_str(text);
        let parsed = de
            .deserialize_map(CallVisitor)
            .and_then(|call| de.end().map(|()| call));
        parsed.map_err(|e| RpcError::invalid_params(format!("Invalid params: {e}")))
    }

    /// The arguments for an executor: `None` when absent or `null`.
    pub(crate) fn arguments(&self) -> Option<&RawValue> {
        self.arguments.as_deref().filter(|a| a.get() != "null")
    }

    /// The arguments as a JSON value (`null` when sent so), `None` when absent.
    pub(crate) fn arguments_value(&self) -> Option<Value> {
        self.arguments
            .as_deref()
            .map(|a| serde_json::from_str(a.get()).unwrap_or(Value::Null))
    }

    /// The arguments as an object, for per-argument rules: an absent
    /// `arguments` is empty; `None` when they are not an object (the
    /// executor says what is wrong with them).
    pub(crate) fn arguments_object(&self) -> Option<Map<String, Value>> {
        match self.arguments.as_deref() {
            None => Some(Map::new()),
            Some(a) => serde_json::from_str(a.get()).ok(),
        }
    }

    /// The log level a 2026-07-28 request asks for in `_meta`
    /// (`io.modelcontextprotocol/logLevel`); `None` when it asks for none.
    pub(crate) fn log_level(&self) -> Option<LogLevel> {
        let meta: Value = serde_json::from_str(self.meta.as_deref()?.get()).ok()?;
        LogLevel::parse(meta.get("io.modelcontextprotocol/logLevel")?.as_str()?)
    }

    /// The params as a JSON object, for an upstream's `tools/call`.
    pub(crate) fn into_params(self) -> Map<String, Value> {
        let mut params = Map::new();
        let value = |raw: &RawValue| serde_json::from_str(raw.get()).unwrap_or(Value::Null);
        for (key, raw) in &self.rest {
            params.insert(key.clone(), value(raw));
        }
        if let Some(meta) = &self.meta {
            params.insert("_meta".into(), value(meta));
        }
        if let Some(arguments) = &self.arguments {
            params.insert("arguments".into(), value(arguments));
        }
        params.insert("name".into(), Value::String(self.name));
        params
    }
}

/// Reads the params object member by member, each value kept raw (no
/// member is parsed twice, unknown ones are not parsed at all).
struct CallVisitor;

impl<'de> Visitor<'de> for CallVisitor {
    type Value = ToolCall;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("tools/call params (an object with a name)")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ToolCall, A::Error> {
        let (mut name, mut arguments, mut meta) = (None, None, None);
        let mut rest = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "name" if name.is_some() => return Err(de::Error::duplicate_field("name")),
                "name" => name = Some(map.next_value::<String>()?),
                "arguments" if arguments.is_some() => {
                    return Err(de::Error::duplicate_field("arguments"));
                }
                "arguments" => arguments = Some(map.next_value::<Box<RawValue>>()?),
                "_meta" => meta = Some(map.next_value::<Box<RawValue>>()?),
                _ => rest.push((key, map.next_value::<Box<RawValue>>()?)),
            }
        }
        Ok(ToolCall {
            name: name.ok_or_else(|| de::Error::missing_field("name"))?,
            arguments,
            meta,
            rest,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(text: &str) -> Box<RawValue> {
        RawValue::from_string(text.to_owned()).unwrap()
    }

    #[test]
    fn a_call_is_read_once_with_its_arguments_byte_exact() {
        let p = raw(
            r#"{"name":"echo","arguments":{"n":12345678901234567890},"_meta":{"a":1},"task":{}}"#,
        );
        let call = ToolCall::parse(Some(&p)).unwrap();
        assert_eq!(call.name, "echo");
        assert_eq!(
            call.arguments().unwrap().get(),
            r#"{"n":12345678901234567890}"#
        );
        let params = call.into_params();
        assert_eq!(params["name"], "echo");
        assert!(params.contains_key("task") && params.contains_key("_meta"));
    }

    #[test]
    fn null_arguments_are_none_for_the_executor_and_not_an_object() {
        let p = raw(r#"{"name":"echo","arguments":null}"#);
        let call = ToolCall::parse(Some(&p)).unwrap();
        assert!(call.arguments().is_none());
        assert!(call.arguments_object().is_none());
        assert_eq!(call.arguments_value(), Some(Value::Null));
        let none = ToolCall::parse(Some(&raw(r#"{"name":"echo"}"#))).unwrap();
        assert_eq!(none.arguments_object(), Some(Map::new()));
    }

    #[test]
    fn malformed_params_are_invalid_params() {
        for bad in [
            r#"{}"#,
            r#"{"name":5}"#,
            r#"[1]"#,
            r#"{"name":"a","name":"b"}"#,
        ] {
            let e = ToolCall::parse(Some(&raw(bad))).err().unwrap();
            assert_eq!(e.code, -32602, "{bad}");
        }
        assert!(ToolCall::parse(None).is_err());
    }
}
