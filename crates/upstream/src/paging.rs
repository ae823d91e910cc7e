//! The uniform list contract: opaque `next_cursor` values, whatever the
//! upstream's paging style, and helpers to read paging data from responses.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::Sha256;

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
    /// Encode as an opaque, unsigned token: for cursors that carry nothing
    /// a client could abuse (the sandbox twin's offsets into its own data).
    /// A REST account's cursors are sealed with [`CursorKey`] instead.
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).expect("a cursor serializes"))
    }

    /// Decode a token [`PageCursor::encode`] produced.
    pub fn decode(token: &str) -> Option<Self> {
        let bytes = URL_SAFE_NO_PAD.decode(token.trim()).ok()?;
        serde_json::from_slice(&bytes).ok()
    }
}

/// Length of a sealed cursor's tag: HMAC-SHA256 truncated to 128 bits
/// (RFC 2104 §5 allows truncation to at least half the output).
const TAG_BYTES: usize = 16;

/// The key that seals the `next_cursor` values a REST account hands to
/// clients (HMAC-SHA256, RFC 2104).
///
/// A cursor may carry a next-page URL the API named, and the gateway calls
/// that URL with the account's credentials. Unsigned, a client could write
/// its own cursor and reach any GET under the API's base path through a
/// list tool it is allowed — a scope escape. A sealed cursor opens only for
/// the account and tool that issued it ([`CursorKey::seal`]'s `scope`), so a
/// client can hand back what it was given and nothing else. Replicas must
/// share the key (the gateway derives it from the session key) so a cursor
/// from one opens on another.
#[derive(Clone, Copy)]
pub struct CursorKey([u8; 32]);

impl std::fmt::Debug for CursorKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CursorKey(…)")
    }
}

impl CursorKey {
    /// Wrap 32 key bytes.
    pub fn new(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// A fresh random key: cursors it seals open only in this process.
    pub fn generate() -> Self {
        let mut out = [0u8; 32];
        getrandom::fill(&mut out).expect("the OS random source is available");
        Self(out)
    }

    fn mac(&self, scope: &str, payload: &[u8]) -> Hmac<Sha256> {
        let mut mac =
            <Hmac<Sha256> as KeyInit>::new_from_slice(&self.0).expect("HMAC takes any key length");
        // Length-prefixed so no scope/payload split is ambiguous.
        mac.update(&(scope.len() as u64).to_be_bytes());
        mac.update(scope.as_bytes());
        mac.update(payload);
        mac
    }

    /// Seal `cursor` for `scope` (the issuing account and tool):
    /// `base64url(json) "." base64url(tag)`.
    pub fn seal(&self, cursor: &PageCursor, scope: &str) -> String {
        let payload = serde_json::to_vec(cursor).expect("a cursor serializes");
        let tag = self.mac(scope, &payload).finalize().into_bytes();
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(&payload),
            URL_SAFE_NO_PAD.encode(&tag[..TAG_BYTES])
        )
    }

    /// Open a token [`CursorKey::seal`] made for the same `scope`; `None`
    /// for anything else (forged, altered, another account's or tool's).
    /// The tag is compared in constant time.
    pub fn open(&self, token: &str, scope: &str) -> Option<PageCursor> {
        let (payload, tag) = token.trim().split_once('.')?;
        let payload = URL_SAFE_NO_PAD.decode(payload).ok()?;
        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        if tag.len() != TAG_BYTES {
            return None;
        }
        self.mac(scope, &payload).verify_truncated_left(&tag).ok()?;
        serde_json::from_slice(&payload).ok()
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
    fn sealed_cursors_open_only_for_their_scope_and_key() {
        let key = CursorKey::new([7; 32]);
        let c = PageCursor::Url("https://api.example/v1/items?page=2".into());
        let token = key.seal(&c, "acct-1\0list_items");
        assert_eq!(key.open(&token, "acct-1\0list_items"), Some(c.clone()));
        // Another tool, another account, another key.
        assert_eq!(key.open(&token, "acct-1\0list_users"), None);
        assert_eq!(key.open(&token, "acct-2\0list_items"), None);
        assert_eq!(
            CursorKey::new([8; 32]).open(&token, "acct-1\0list_items"),
            None
        );
        // An unsigned cursor a client wrote itself, and an altered payload.
        let forged = PageCursor::Url("https://api.example/v1/admin/keys".into());
        assert_eq!(key.open(&forged.encode(), "acct-1\0list_items"), None);
        let (_, tag) = token.split_once('.').unwrap();
        let swapped = format!("{}.{tag}", forged.encode());
        assert_eq!(key.open(&swapped, "acct-1\0list_items"), None);
        for junk in ["", ".", "a.b", "..", "x.y.z", "\u{1F600}.\u{1F600}"] {
            assert_eq!(key.open(junk, "acct-1\0list_items"), None, "{junk:?}");
        }
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
