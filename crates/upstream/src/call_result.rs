//! `CallToolResult` documents assembled without an intermediate `Value` tree.

use serde_json::Value;
use serde_json::value::RawValue;

/// A result carrying `structured` both as text (for clients that read only
/// content) and as `structuredContent`, serialized once: the text block is
/// the escaped serialization. `meta`, when given, is a serialized JSON
/// object added as `_meta`.
pub(crate) fn structured(structured: &Value, meta: Option<&str>) -> Box<RawValue> {
    let json = serde_json::to_string(structured).expect("JSON serializes");
    let text = serde_json::to_string(&json).expect("a string serializes");
    let mut out = String::with_capacity(json.len() + text.len() + 64);
    out.push_str(r#"{"content":[{"type":"text","text":"#);
    out.push_str(&text);
    out.push_str(r#"}],"structuredContent":"#);
    out.push_str(&json);
    if let Some(meta) = meta {
        out.push_str(r#","_meta":"#);
        out.push_str(meta);
    }
    out.push('}');
    RawValue::from_string(out).expect("assembled from serialized JSON")
}

#[cfg(test)]
mod tests {
    use super::structured;
    use serde_json::{Value, json};

    #[test]
    fn text_and_structured_content_carry_the_same_json() {
        let value = json!({"name": "a \"quoted\" name", "n": [1, 2]});
        let raw = structured(&value, Some(r#"{"x":true}"#));
        let v: Value = serde_json::from_str(raw.get()).unwrap();
        assert_eq!(v["structuredContent"], value);
        let text: Value = serde_json::from_str(v["content"][0]["text"].as_str().unwrap()).unwrap();
        assert_eq!(text, value);
        assert_eq!(v["_meta"], json!({"x": true}));
    }
}
