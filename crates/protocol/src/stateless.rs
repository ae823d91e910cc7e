//! The stateless era (MCP 2026-07-28): no `initialize` and no sessions;
//! every request carries its protocol version and client capabilities in
//! `params._meta` and repeats its method (and tool, prompt or resource name)
//! in headers that must agree with the body.

use base64::Engine;
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::error::{ErrorCode, RpcError};
use crate::mcp::method;
use crate::version::ProtocolVersion;

/// The protocol version of the stateless era.
pub const VERSION: &str = "2026-07-28";

/// `_meta` key of the request's protocol version.
pub const META_PROTOCOL_VERSION: &str = "io.modelcontextprotocol/protocolVersion";
/// `_meta` key of the client's capabilities.
pub const META_CLIENT_CAPABILITIES: &str = "io.modelcontextprotocol/clientCapabilities";
/// `_meta` key of the server's identity on results.
pub const META_SERVER_INFO: &str = "io.modelcontextprotocol/serverInfo";
/// `_meta` key tying a `subscriptions/listen` message to its request.
pub const META_SUBSCRIPTION_ID: &str = "io.modelcontextprotocol/subscriptionId";

/// Header repeating the JSON-RPC method.
pub const METHOD_HEADER: &str = "mcp-method";
/// Header repeating `params.name` (or `params.uri`).
pub const NAME_HEADER: &str = "mcp-name";
/// Prefix of headers carrying tool arguments marked `x-mcp-header`.
pub const PARAM_HEADER_PREFIX: &str = "Mcp-Param-";

/// Methods of the handshake era that the stateless era removed.
pub const REMOVED_METHODS: [&str; 5] = [
    method::INITIALIZE,
    method::PING,
    method::LOGGING_SET_LEVEL,
    method::RESOURCES_SUBSCRIBE,
    method::RESOURCES_UNSUBSCRIBE,
];

/// Every version a dual-era server speaks, newest first, for
/// `server/discover` and -32022's data.
pub fn supported_versions() -> Vec<&'static str> {
    let mut all = vec![VERSION];
    all.extend(ProtocolVersion::ALL.iter().rev().map(|v| v.as_str()));
    all
}

/// What a stateless request says about itself in `params._meta`.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestMeta {
    /// The protocol version it speaks.
    pub version: String,
    /// Its client capabilities (an object), if declared.
    pub capabilities: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct WithMeta {
    #[serde(rename = "_meta")]
    meta: Option<MetaFields>,
}

#[derive(Deserialize)]
struct MetaFields {
    #[serde(rename = "io.modelcontextprotocol/protocolVersion")]
    version: Option<serde_json::Value>,
    #[serde(rename = "io.modelcontextprotocol/clientCapabilities")]
    capabilities: Option<serde_json::Value>,
}

/// The stateless `_meta` of a request's params: `None` when it names no
/// protocol version there (a handshake-era request).
pub fn request_meta(params: Option<&RawValue>) -> Option<RequestMeta> {
    let parsed: WithMeta = serde_json::from_str(params?.get()).ok()?;
    let meta = parsed.meta?;
    let version = match meta.version? {
        serde_json::Value::String(s) => s,
        other => other.to_string(),
    };
    Some(RequestMeta {
        version,
        capabilities: meta.capabilities,
    })
}

impl RequestMeta {
    /// Check the version and the capabilities' presence: -32022 for a
    /// version this server does not speak statelessly, -32602 without
    /// capabilities (both are answered with HTTP 400).
    pub fn validate(&self) -> Result<(), RpcError> {
        if self.version != VERSION {
            return Err(RpcError::new(
                ErrorCode::UNSUPPORTED_PROTOCOL_VERSION,
                format!(
                    "Unsupported protocol version {:?}; this server speaks {VERSION} per request, \
                     or {} after initialize",
                    self.version,
                    ProtocolVersion::supported_strings().join(", ")
                ),
            )
            .with_data(&serde_json::json!({
                "supported": supported_versions(),
                "requested": self.version,
            })));
        }
        match &self.capabilities {
            Some(serde_json::Value::Object(_)) => Ok(()),
            _ => Err(RpcError::invalid_params(format!(
                "Invalid params: _meta[\"{META_CLIENT_CAPABILITIES}\"] (an object) is required \
                 on every {VERSION} request"
            ))),
        }
    }

    /// Whether the client declared capability `name` (e.g. `elicitation`).
    pub fn declares(&self, name: &str) -> bool {
        self.capabilities
            .as_ref()
            .and_then(|c| c.get(name))
            .is_some_and(|v| !v.is_null())
    }
}

/// The `Mcp-Name` a request must carry: `params.name` of `tools/call` and
/// `prompts/get`, `params.uri` of `resources/read`; `None` for other methods.
pub fn expected_name(method: &str, params: Option<&RawValue>) -> Option<Option<String>> {
    let field = match method {
        method::TOOLS_CALL | method::PROMPTS_GET => "name",
        method::RESOURCES_READ => "uri",
        _ => return None,
    };
    let value: Option<serde_json::Value> = params.and_then(|p| serde_json::from_str(p.get()).ok());
    Some(
        value
            .as_ref()
            .and_then(|v| v.get(field))
            .and_then(|v| v.as_str())
            .map(str::to_owned),
    )
}

/// A header value as its sender meant it: `=?base64?<data>?=` decoded (to
/// UTF-8), anything else as is. `None` when the encoding is broken.
pub fn decode_header(value: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(value).ok()?;
    match text
        .strip_prefix("=?base64?")
        .and_then(|rest| rest.strip_suffix("?="))
    {
        Some(encoded) => {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .ok()?;
            String::from_utf8(bytes).ok()
        }
        None => Some(text.to_owned()),
    }
}

/// A value as a header carries it: as is when it is safe visible ASCII
/// (inner spaces allowed), else `=?base64?<data>?=` — the inverse of
/// [`decode_header`].
pub fn encode_header(value: &str) -> String {
    let safe = !value.is_empty()
        && !value.starts_with(' ')
        && !value.ends_with(' ')
        && !value.starts_with("=?base64?")
        && value.bytes().all(|b| (0x20..0x7f).contains(&b));
    if safe {
        value.to_owned()
    } else {
        format!(
            "=?base64?{}?=",
            base64::engine::general_purpose::STANDARD.encode(value)
        )
    }
}

/// An argument a tool's schema mirrors into an `Mcp-Param-{header}` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamHeader {
    /// The argument (`inputSchema.properties` key).
    pub argument: String,
    /// The `x-mcp-header` value: the header is `Mcp-Param-{header}`.
    pub header: String,
}

/// The arguments an `inputSchema` marks `x-mcp-header`, by argument name.
pub fn param_headers(input_schema: Option<&serde_json::Value>) -> Vec<ParamHeader> {
    let Some(properties) = input_schema
        .and_then(|s| s.get("properties"))
        .and_then(serde_json::Value::as_object)
    else {
        return Vec::new();
    };
    let mut marked: Vec<ParamHeader> = properties
        .iter()
        .filter_map(|(argument, schema)| {
            let header = schema.get("x-mcp-header")?.as_str()?;
            Some(ParamHeader {
                argument: argument.clone(),
                header: header.to_owned(),
            })
        })
        .collect();
    marked.sort_by(|a, b| a.argument.cmp(&b.argument));
    marked
}

/// The value an argument's `Mcp-Param-*` header carries (before any
/// base64): a string as it is, a number or boolean as JSON writes it;
/// `None` when the argument is absent or null.
pub fn param_header_value(argument: Option<&serde_json::Value>) -> Option<String> {
    match argument {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(s)) => Some(s.clone()),
        Some(other) => Some(other.to_string()),
    }
}

/// The HTTP status an error response gets in this era, wherever the error
/// came from (an upstream's too): 400 for -32020/-32021/-32022, 404 for
/// -32601, else 200.
pub fn http_status(code: i32) -> u16 {
    match ErrorCode(code) {
        ErrorCode::HEADER_MISMATCH
        | ErrorCode::MISSING_CLIENT_CAPABILITY
        | ErrorCode::UNSUPPORTED_PROTOCOL_VERSION => 400,
        ErrorCode::METHOD_NOT_FOUND => 404,
        _ => 200,
    }
}

/// -32020: a header that is missing, malformed or disagrees with the body.
pub fn header_mismatch(message: impl Into<String>) -> RpcError {
    RpcError::new(ErrorCode::HEADER_MISMATCH, message)
}

/// Splice `fields` (already-serialized `"key":value` pairs, comma-separated)
/// into the start of the JSON object `result`; other results come back as
/// they are. Results are kept as text on the hot path, so this avoids a
/// parse and re-serialization.
pub fn with_fields(result: &str, fields: &str) -> String {
    let trimmed = result.trim_start();
    match trimmed.strip_prefix('{') {
        Some(rest) if rest.trim_start().starts_with('}') => format!("{{{fields}}}"),
        Some(rest) => format!("{{{fields},{rest}"),
        None => result.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(text: &str) -> Box<RawValue> {
        RawValue::from_string(text.to_owned()).unwrap()
    }

    #[test]
    fn meta_is_read_from_params_and_absent_for_handshake_requests() {
        let p = raw(
            r#"{"name":"x","_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28",
                "io.modelcontextprotocol/clientCapabilities":{"elicitation":{}}}}"#,
        );
        let meta = request_meta(Some(&p)).unwrap();
        assert_eq!(meta.version, "2026-07-28");
        assert!(meta.validate().is_ok());
        assert!(meta.declares("elicitation"));
        assert!(!meta.declares("sampling"));
        assert_eq!(request_meta(Some(&raw(r#"{"name":"x"}"#))), None);
        assert_eq!(
            request_meta(Some(&raw(r#"{"_meta":{"progressToken":1}}"#))),
            None
        );
        assert_eq!(request_meta(None), None);
    }

    #[test]
    fn bad_versions_and_missing_capabilities_are_refused_precisely() {
        let old = RequestMeta {
            version: "2027-01-01".into(),
            capabilities: Some(serde_json::json!({})),
        };
        let e = old.validate().unwrap_err();
        assert_eq!(e.code, -32022);
        let data: serde_json::Value = serde_json::from_str(e.data.unwrap().get()).unwrap();
        assert_eq!(data["requested"], "2027-01-01");
        assert_eq!(data["supported"][0], VERSION);
        let bare = RequestMeta {
            version: VERSION.into(),
            capabilities: None,
        };
        assert_eq!(bare.validate().unwrap_err().code, -32602);
    }

    #[test]
    fn marked_arguments_are_found_and_their_values_written_as_headers_carry_them() {
        let schema = serde_json::json!({"type": "object", "properties": {
            "region": {"type": "string", "x-mcp-header": "Region"},
            "count": {"type": "integer", "x-mcp-header": "Count"},
            "other": {"type": "string"}}});
        let marked = param_headers(Some(&schema));
        let names: Vec<(&str, &str)> = marked
            .iter()
            .map(|m| (m.argument.as_str(), m.header.as_str()))
            .collect();
        assert_eq!(names, [("count", "Count"), ("region", "Region")]);
        assert!(param_headers(None).is_empty());
        let args = serde_json::json!({"region": "eu", "count": 3, "flag": true, "none": null});
        assert_eq!(
            param_header_value(args.get("region")).as_deref(),
            Some("eu")
        );
        assert_eq!(param_header_value(args.get("count")).as_deref(), Some("3"));
        assert_eq!(
            param_header_value(args.get("flag")).as_deref(),
            Some("true")
        );
        assert_eq!(param_header_value(args.get("none")), None);
        assert_eq!(param_header_value(args.get("absent")), None);
    }

    #[test]
    fn error_codes_of_the_era_get_their_http_status() {
        assert_eq!(http_status(-32020), 400);
        assert_eq!(http_status(-32021), 400);
        assert_eq!(http_status(-32022), 400);
        assert_eq!(http_status(-32601), 404);
        assert_eq!(http_status(-32602), 200);
        assert_eq!(http_status(-32603), 200);
    }

    #[test]
    fn encoded_header_values_decode_to_what_was_encoded() {
        for value in [
            "get_weather",
            "file:///a b.txt",
            "café",
            " padded",
            "=?base64?x?=",
        ] {
            let encoded = encode_header(value);
            assert!(
                encoded.bytes().all(|b| (0x20..0x7f).contains(&b)),
                "{encoded}"
            );
            assert_eq!(decode_header(encoded.as_bytes()).as_deref(), Some(value));
        }
        assert_eq!(encode_header("get_weather"), "get_weather");
        assert_eq!(encode_header("café"), "=?base64?Y2Fmw6k=?=");
    }

    #[test]
    fn header_values_may_be_base64_encoded() {
        assert_eq!(decode_header(b"tools/call").as_deref(), Some("tools/call"));
        // "héllo" in UTF-8, as a client sends a non-ASCII tool name.
        assert_eq!(
            decode_header(b"=?base64?aMOpbGxv?=").as_deref(),
            Some("h\u{e9}llo")
        );
        assert_eq!(decode_header(b"=?base64?not base64!?="), None);
    }

    #[test]
    fn names_come_from_the_field_each_method_uses() {
        let p = raw(r#"{"name":"echo","uri":"file:///a"}"#);
        assert_eq!(
            expected_name("tools/call", Some(&p)),
            Some(Some("echo".into()))
        );
        assert_eq!(
            expected_name("resources/read", Some(&p)),
            Some(Some("file:///a".into()))
        );
        assert_eq!(expected_name("tools/list", Some(&p)), None);
        assert_eq!(expected_name("prompts/get", None), Some(None));
    }

    #[test]
    fn fields_are_spliced_into_objects() {
        assert_eq!(
            with_fields(r#"{"tools":[]}"#, r#""resultType":"complete""#),
            r#"{"resultType":"complete","tools":[]}"#
        );
        assert_eq!(
            with_fields("{}", r#""resultType":"complete""#),
            r#"{"resultType":"complete"}"#
        );
        let spliced: serde_json::Value =
            serde_json::from_str(&with_fields(" { \"a\" : 1 }", r#""b":2"#)).unwrap();
        assert_eq!(spliced, serde_json::json!({"a": 1, "b": 2}));
    }
}
