//! The uniform list contract: opaque `next_cursor` values, whatever the
//! upstream's paging style, and helpers to read paging data from responses.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Where the next page starts, encoded into the `next_cursor` a list tool returns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PageCursor {
    /// The upstream's own cursor value.
    #[serde(rename = "c")]
    Cursor(String),
    /// A page number.
    #[serde(rename = "p")]
    Page(u64),
    /// An item offset.
    #[serde(rename = "o")]
    Offset(u64),
    /// A next page's absolute URL: a `Link` header's `rel="next"` target,
    /// or one the answer names (`@odata.nextLink`, `next_page_uri`).
    #[serde(rename = "u")]
    Url(String),
    /// An offset into a list the upstream returned whole.
    #[serde(rename = "s")]
    Slice(usize),
}

impl PageCursor {
    /// Encode as an opaque token.
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).expect("a cursor serializes"))
    }

    /// Decode a token this module produced.
    pub fn decode(token: &str) -> Option<Self> {
        let bytes = URL_SAFE_NO_PAD.decode(token.trim()).ok()?;
        serde_json::from_slice(&bytes).ok()
    }
}

pub use mcpgate_catalog::listing::{at_path, at_path_mut};

/// The uniform list answer, `{results, next_cursor, …}`: the page's items,
/// the opaque cursor of the next page (`null` on the last), and every other
/// field of the answer's wrapper object as the upstream sent it (so nothing
/// is dropped: totals, `has_more`, links). A wrapper field named `results`
/// or `next_cursor` that is not the item array keeps its value as
/// `upstream_results` / `upstream_next_cursor`.
pub fn page(items: Vec<Value>, next: Option<String>, wrapper: Value) -> Value {
    let mut out = Map::new();
    if let Value::Object(rest) = wrapper {
        for (k, v) in rest {
            if k == "results" || k == "next_cursor" {
                if !v.is_null() {
                    out.insert(format!("upstream_{k}"), v);
                }
            } else {
                out.insert(k, v);
            }
        }
    }
    out.insert("results".into(), Value::Array(items));
    out.insert(
        "next_cursor".into(),
        next.map_or(Value::Null, Value::String),
    );
    Value::Object(out)
}

/// The `rel="next"` target of an RFC 8288 `Link` header value.
pub fn next_link(header: &str) -> Option<String> {
    header.split(',').find_map(|part| {
        let (url, params) = part.trim().split_once('>')?;
        let url = url.trim().strip_prefix('<')?;
        let is_next = params.split(';').any(|p| {
            let p = p.trim();
            p.strip_prefix("rel=")
                .map(|v| {
                    v.trim_matches('"')
                        .split_whitespace()
                        .any(|r| r.eq_ignore_ascii_case("next"))
                })
                .unwrap_or(false)
        });
        is_next.then(|| url.to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        for c in [
            PageCursor::Cursor("abc".into()),
            PageCursor::Page(3),
            PageCursor::Offset(40),
            PageCursor::Url("https://x/y?page=2".into()),
            PageCursor::Slice(10),
        ] {
            assert_eq!(PageCursor::decode(&c.encode()), Some(c));
        }
        assert_eq!(PageCursor::decode("not a cursor"), None);
    }

    #[test]
    fn pages_keep_the_wrappers_other_fields() {
        let wrapper = json!({"total": 2, "next_cursor": "up-1", "results": null, "object": "list"});
        let page = page(vec![json!({"id": "1"})], Some("c".into()), wrapper);
        assert_eq!(
            page,
            json!({"results": [{"id": "1"}], "next_cursor": "c", "total": 2,
                "upstream_next_cursor": "up-1", "object": "list"})
        );
    }

    #[test]
    fn link_headers() {
        let h = r#"<https://api.github.com/repos?page=2>; rel="next", <https://api.github.com/repos?page=5>; rel="last""#;
        assert_eq!(
            next_link(h).as_deref(),
            Some("https://api.github.com/repos?page=2")
        );
        assert_eq!(next_link(r#"<https://x/a>; rel="prev""#), None);
        assert_eq!(
            next_link(r#"<https://x/b>; rel="next last""#).as_deref(),
            Some("https://x/b")
        );
    }
}
