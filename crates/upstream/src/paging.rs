//! The uniform list contract: opaque `next_cursor` values, whatever the
//! upstream's paging style, and helpers to read paging data from responses.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use serde_json::Value;

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
    /// The `rel="next"` URL of a `Link` header.
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

/// The value at a dotted path (`paging.next.after`), if any.
pub fn at_path<'a>(value: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.')
        .filter(|s| !s.is_empty())
        .try_fold(value, |v, key| match v {
            Value::Object(m) => m.get(key),
            Value::Array(a) => key.parse::<usize>().ok().and_then(|i| a.get(i)),
            _ => None,
        })
}

/// [`at_path`], mutable (to take a value out without copying it).
pub fn at_path_mut<'a>(value: &'a mut Value, path: &str) -> Option<&'a mut Value> {
    path.split('.')
        .filter(|s| !s.is_empty())
        .try_fold(value, |v, key| match v {
            Value::Object(m) => m.get_mut(key),
            Value::Array(a) => key.parse::<usize>().ok().and_then(|i| a.get_mut(i)),
            _ => None,
        })
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
    fn dotted_paths() {
        let v = json!({"paging": {"next": {"after": "42"}}, "items": [1, {"a": 2}]});
        assert_eq!(at_path(&v, "paging.next.after"), Some(&json!("42")));
        assert_eq!(at_path(&v, "items.1.a"), Some(&json!(2)));
        assert_eq!(at_path(&v, "paging.prev"), None);
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
