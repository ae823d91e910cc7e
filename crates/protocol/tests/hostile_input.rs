//! Property tests: JSON-RPC parsing and the 2026 header codecs never panic
//! on what a client sends — arbitrary bytes, or JSON whose method, id,
//! params and keys hold CJK, emoji, right-to-left and combining marks, NUL
//! and lone surrogates escaped as `\ud800` — and every answer the gateway
//! writes back is valid JSON echoing the id as sent. Bounded case counts;
//! `PROPTEST_CASES` runs more.

use mcpgate_protocol::RpcError;
use mcpgate_protocol::jsonrpc::{self, Incoming, Message};
use mcpgate_protocol::stateless;
use proptest::collection::vec;
use proptest::prelude::*;

/// Hostile text, already escaped as the inside of a JSON string literal:
/// plain and multi-byte characters, control characters as `\u` escapes,
/// and (valid or lone) UTF-16 surrogate escapes.
fn json_string_body() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        4 => proptest::char::range('a', 'z').prop_map(String::from),
        2 => proptest::sample::select(vec!["天", "気", "😀", "\u{202e}", "\u{200f}", "\u{0301}", "ا", "/", ".", " "])
            .prop_map(str::to_owned),
        1 => proptest::sample::select(vec![
            "\\u0000", "\\ud800", "\\udfff", "\\ud83d\\ude00", "\\udc00\\ud800", "\\n", "\\\"", "\\\\",
        ])
        .prop_map(str::to_owned),
        1 => any::<char>().prop_map(|c| {
            // Any scalar, escaped when JSON needs it.
            serde_json::to_string(&c.to_string()).unwrap().trim_matches('"').to_owned()
        }),
    ];
    vec(piece, 0..24).prop_map(|p| p.concat())
}

/// A JSON-RPC-ish message with hostile strings everywhere, sometimes
/// missing or mistyped members.
fn message() -> impl Strategy<Value = String> {
    (
        json_string_body(),
        prop_oneof![
            json_string_body().prop_map(|s| format!("\"{s}\"")),
            any::<i64>().prop_map(|n| n.to_string()),
            Just("null".to_owned()),
            Just("1.5".to_owned()),
            Just("18446744073709551616".to_owned()),
        ],
        vec((json_string_body(), json_string_body()), 0..4),
        any::<bool>(),
    )
        .prop_map(|(method, id, params, with_id)| {
            let params: Vec<String> = params
                .iter()
                .map(|(k, v)| format!("\"{k}\":\"{v}\""))
                .collect();
            let id = if with_id {
                format!("\"id\":{id},")
            } else {
                String::new()
            };
            format!(
                "{{\"jsonrpc\":\"2.0\",{id}\"method\":\"{method}\",\"params\":{{{}}}}}",
                params.join(",")
            )
        })
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 512,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Answer a parsed message as the gateway would, and check the bytes.
fn answer_is_valid_json(m: &Result<Message, jsonrpc::InvalidMessage>) -> Result<(), TestCaseError> {
    let (id, error) = match m {
        Ok(Message::Request { id, method, .. }) => {
            // The method is echoed in "method not found" messages.
            (Some(id), RpcError::method_not_found(method))
        }
        Ok(_) => return Ok(()),
        Err(invalid) => (invalid.id.as_ref(), invalid.to_error()),
    };
    let body = jsonrpc::error_body(id, &error);
    let v: serde_json::Value = serde_json::from_slice(&body)
        .map_err(|e| TestCaseError::fail(format!("{e}: {}", String::from_utf8_lossy(&body))))?;
    if let Some(id) = id {
        let written = String::from_utf8_lossy(&body).into_owned();
        prop_assert!(written.contains(id.as_json()), "{written}");
        let mut out = Vec::new();
        jsonrpc::write_result(&mut out, id, "{}");
        prop_assert!(serde_json::from_slice::<serde_json::Value>(&out).is_ok());
    }
    prop_assert!(v["error"]["code"].is_i64());
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn any_bytes_parse_or_fail_cleanly(body in vec(any::<u8>(), 0..256)) {
        if let Ok(incoming) = jsonrpc::parse(&body) {
            match incoming {
                Incoming::Single(m) => answer_is_valid_json(&m)?,
                Incoming::Batch(ms) => ms.iter().try_for_each(answer_is_valid_json)?,
            }
        }
    }

    #[test]
    fn hostile_messages_parse_and_are_answered_with_valid_json(text in message()) {
        for body in [text.clone(), format!("[{text},{text}]")] {
            match jsonrpc::parse(body.as_bytes()) {
                Ok(Incoming::Single(m)) => answer_is_valid_json(&m)?,
                Ok(Incoming::Batch(ms)) => ms.iter().try_for_each(answer_is_valid_json)?,
                Err(e) => prop_assert!(!e.to_error().message.is_empty()),
            }
        }
        // The 2026 rules read the same params without panicking.
        if let Ok(Incoming::Single(Ok(Message::Request { method, params, .. }))) =
            jsonrpc::parse(text.as_bytes())
        {
            let _ = stateless::request_meta(params.as_deref());
            let _ = stateless::expected_name(&method, params.as_deref());
            let _ = jsonrpc::params::<serde_json::Value>(params.as_deref());
        }
    }

    #[test]
    fn header_values_round_trip(value in ".*", raw in vec(any::<u8>(), 0..64)) {
        prop_assert_eq!(stateless::decode_header(stateless::encode_header(&value).as_bytes()), Some(value));
        let _ = stateless::decode_header(&raw);
    }
}
