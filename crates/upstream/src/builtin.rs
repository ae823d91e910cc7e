//! Built-in tool handlers: `echo`, `time`, `sleep`.

use mcpgate_catalog::Builtin;
use mcpgate_protocol::mcp::{CallToolResult, Content};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::json;
use serde_json::value::RawValue;
use std::time::Duration;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The longest a `sleep` call may wait.
pub const MAX_SLEEP: Duration = Duration::from_secs(30);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EchoArgs {
    message: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SleepArgs {
    ms: u64,
}

fn args<T: DeserializeOwned>(tool: &str, raw: Option<&RawValue>) -> Result<T, CallToolResult> {
    let text = raw.map_or("{}", RawValue::get);
    serde_json::from_str(text)
        .map_err(|e| CallToolResult::error(format!("Invalid arguments for {tool}: {e}")))
}

/// A failed tool result with a message.
pub fn error(text: &str) -> Box<RawValue> {
    serde_json::value::to_raw_value(&CallToolResult::error(text)).expect("a tool result serializes")
}

/// Run a built-in handler.
pub async fn call(handler: Builtin, raw: Option<&RawValue>) -> Box<RawValue> {
    let result = match handler {
        Builtin::Echo => args::<EchoArgs>("echo", raw).map(|a| CallToolResult {
            content: vec![Content::text(a.message.clone())],
            structured_content: Some(json!({ "message": a.message })),
            is_error: false,
        }),
        Builtin::Time => args::<serde_json::Map<_, _>>("time", raw).map(|_| {
            let now = OffsetDateTime::now_utc();
            let text = now.format(&Rfc3339).unwrap_or_default();
            CallToolResult {
                content: vec![Content::text(text.clone())],
                structured_content: Some(json!({
                    "utc": text,
                    "unix_ms": (now.unix_timestamp_nanos() / 1_000_000) as i64,
                })),
                is_error: false,
            }
        }),
        Builtin::Sleep => match args::<SleepArgs>("sleep", raw) {
            Ok(a) if Duration::from_millis(a.ms) > MAX_SLEEP => {
                Err(CallToolResult::error(format!(
                    "Invalid arguments for sleep: ms must be at most {}",
                    MAX_SLEEP.as_millis()
                )))
            }
            Ok(a) => {
                tokio::time::sleep(Duration::from_millis(a.ms)).await;
                Ok(CallToolResult::text(format!("slept {} ms", a.ms)))
            }
            Err(e) => Err(e),
        },
    };
    let result = result.unwrap_or_else(|e| e);
    serde_json::value::to_raw_value(&result).expect("a tool result serializes")
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn run(handler: Builtin, args: &str) -> serde_json::Value {
        let raw = RawValue::from_string(args.to_owned()).unwrap();
        serde_json::from_str(call(handler, Some(&raw)).await.get()).unwrap()
    }

    #[tokio::test]
    async fn echo_returns_text_and_structured_content() {
        let v = run(Builtin::Echo, r#"{"message":"hi"}"#).await;
        assert_eq!(v["content"][0]["text"], "hi");
        assert_eq!(v["structuredContent"]["message"], "hi");
        assert!(v.get("isError").is_none());
    }

    #[tokio::test]
    async fn bad_arguments_are_tool_errors_naming_the_field() {
        let v = run(Builtin::Echo, r#"{}"#).await;
        assert_eq!(v["isError"], true);
        assert!(
            v["content"][0]["text"]
                .as_str()
                .unwrap()
                .contains("message")
        );
        let v = run(Builtin::Sleep, r#"{"ms": 999999}"#).await;
        assert_eq!(v["isError"], true);
    }

    #[tokio::test]
    async fn time_is_rfc3339_utc() {
        let v = run(Builtin::Time, "{}").await;
        let text = v["content"][0]["text"].as_str().unwrap();
        assert!(OffsetDateTime::parse(text, &Rfc3339).is_ok(), "{text}");
    }
}
