//! How list answers are shaped: where the item array sits and how an answer
//! says that another page follows. Read from response schemas (OpenAPI
//! import, tool generation) and from actual answers (the REST executor, the
//! sandbox simulator), so production and the twin read a list alike.
//!
//! Paths are dotted (`paging.next.after`). A key that itself contains dots
//! (`@odata.nextLink`) is found whole: [`at_path`] prefers the longest key
//! present. An array step may be negative, counting from the end
//! (`data.-1.id` is the last item's `id`, the cursor Stripe's
//! `starting_after` takes).

use serde_json::{Map, Value};

/// Property names that usually hold a list answer's items, in order of
/// preference (Stripe and Asana `data`, HubSpot and Notion `results`,
/// GitHub search `items`, Microsoft Graph `value`, Spring `content`, …).
pub const ITEM_FIELDS: &[&str] = &[
    "data",
    "results",
    "items",
    "records",
    "value",
    "values",
    "entries",
    "elements",
    "objects",
    "rows",
    "hits",
    "list",
    "nodes",
    "resources",
    "collection",
    "content",
    "members",
];

/// Wrapper objects an item array may sit one level inside (`data.items`,
/// HAL's `_embedded.users`).
const WRAPPERS: &[&str] = &["data", "_embedded", "response", "result", "results", "hits"];

/// Names of a next-page cursor in an answer, in order of preference; a
/// container whose name mentions `next` (`paging.next.after`, Asana's
/// `next_page.offset`) may hold one under [`NEXT_CONTAINER_KEYS`].
pub const NEXT_CURSOR_FIELDS: &[&str] = &[
    "next_cursor",
    "nextCursor",
    "next_page_token",
    "nextPageToken",
    "next_token",
    "nextToken",
    "next_page_cursor",
    "nextPageCursor",
    "continuation_token",
    "continuationToken",
    "next_marker",
    "nextMarker",
    "end_cursor",
    "endCursor",
];

/// Cursor keys inside a `next…` container.
const NEXT_CONTAINER_KEYS: &[&str] = &["after", "cursor", "offset", "token", "page_token"];

/// Names (compared without case, `_`, `-`, `.` or `@`) of a next page's URL
/// in an answer: OData's `@odata.nextLink`, Twilio's `next_page_uri`,
/// Zendesk's `next_page`, JSON:API's `links.next`, HAL's `_links.next.href`.
const NEXT_URL_NAMES: &[&str] = &[
    "odatanextlink",
    "nextlink",
    "nextpageuri",
    "nextpageurl",
    "nexturl",
    "nexturi",
    "next",
    "nextpage",
];

/// Flags that tell whether another page follows (`has_more: false` ends a
/// list whatever its cursor says).
const HAS_MORE_FIELDS: &[&str] = &[
    "has_more",
    "hasMore",
    "has_next",
    "hasNext",
    "has_next_page",
    "hasNextPage",
    "more",
];

/// How deep answers and schemas are searched for paging fields.
const MAX_DEPTH: usize = 3;

fn norm(key: &str) -> String {
    key.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// The keys a dotted path takes through `value` (see the module docs).
fn steps<'p>(value: &Value, path: &'p str, out: &mut Vec<&'p str>) -> bool {
    if path.is_empty() {
        return true;
    }
    match value {
        Value::Object(m) => {
            if m.contains_key(path) {
                out.push(path);
                return true;
            }
            // Longest key first, so `@odata.nextLink` is one key.
            for (i, _) in path.rmatch_indices('.') {
                let (key, rest) = (&path[..i], &path[i + 1..]);
                if let Some(v) = m.get(key) {
                    out.push(key);
                    if steps(v, rest, out) {
                        return true;
                    }
                    out.pop();
                }
            }
            false
        }
        Value::Array(a) => {
            let (key, rest) = path.split_once('.').unwrap_or((path, ""));
            match index(a.len(), key).and_then(|i| a.get(i)) {
                Some(v) => {
                    out.push(key);
                    steps(v, rest, out)
                }
                None => false,
            }
        }
        _ => false,
    }
}

fn index(len: usize, key: &str) -> Option<usize> {
    match key.parse::<i64>().ok()? {
        n if n < 0 => len.checked_sub(n.unsigned_abs() as usize),
        n => usize::try_from(n).ok(),
    }
}

/// The value at a dotted path, if any (`""` is the value itself).
pub fn at_path<'a>(value: &'a Value, path: &str) -> Option<&'a Value> {
    let mut keys = Vec::new();
    if !steps(value, path, &mut keys) {
        return None;
    }
    keys.into_iter().try_fold(value, |v, key| match v {
        Value::Object(m) => m.get(key),
        Value::Array(a) => index(a.len(), key).and_then(|i| a.get(i)),
        _ => None,
    })
}

/// [`at_path`], mutable.
pub fn at_path_mut<'a>(value: &'a mut Value, path: &str) -> Option<&'a mut Value> {
    let mut keys = Vec::new();
    if !steps(value, path, &mut keys) {
        return None;
    }
    descend(value, &keys)
}

/// Take the value at a dotted path out of its parent object (the whole
/// value for `""`); objects the removal leaves empty go too
/// (`paging.next.after` leaves no `paging: {next: {}}`). `None` when the
/// path does not resolve or ends in an array element.
pub fn remove_at(value: &mut Value, path: &str) -> Option<Value> {
    if path.is_empty() {
        return Some(value.take());
    }
    let mut keys = Vec::new();
    if !steps(value, path, &mut keys) {
        return None;
    }
    let last = *keys.last()?;
    let removed = descend(value, &keys[..keys.len() - 1])?
        .as_object_mut()?
        .remove(last)?;
    for depth in (1..keys.len()).rev() {
        let parent = &keys[..depth];
        let empty =
            descend(value, parent).is_some_and(|v| v.as_object().is_some_and(Map::is_empty));
        if !empty {
            break;
        }
        if let Some(Value::Object(m)) = descend(value, &parent[..depth - 1]) {
            m.remove(parent[depth - 1]);
        }
    }
    Some(removed)
}

fn descend<'a>(value: &'a mut Value, keys: &[&str]) -> Option<&'a mut Value> {
    keys.iter().try_fold(value, |v, key| match v {
        Value::Object(m) => m.get_mut(*key),
        Value::Array(a) => index(a.len(), key).and_then(|i| a.get_mut(i)),
        _ => None,
    })
}

/// Whether a dotted path is well formed: not empty, no empty step.
pub fn is_path(path: &str) -> bool {
    !path.is_empty() && path.split('.').all(|s| !s.is_empty())
}

// ---- answers -------------------------------------------------------------

fn objects_or_empty(a: &[Value]) -> bool {
    a.iter().all(Value::is_object)
}

/// The dotted path of the item array in an actual list answer: a usual
/// name holding an array; else the one array property whose elements are
/// objects; else the same one level inside a wrapper (`data.items`,
/// `_embedded.users`). `None` for an answer that is itself an array, or
/// that has no item array.
pub fn items_in_value(value: &Value) -> Option<String> {
    items_in_object(value.as_object()?, 0)
}

fn items_in_object(m: &Map<String, Value>, depth: usize) -> Option<String> {
    if let Some(k) = ITEM_FIELDS
        .iter()
        .find(|k| m.get(**k).is_some_and(Value::is_array))
    {
        return Some((*k).to_owned());
    }
    let mut arrays = m.iter().filter(|(_, v)| v.is_array());
    if let (Some((k, Value::Array(a))), None) = (arrays.next(), arrays.next())
        && objects_or_empty(a)
    {
        return Some(k.clone());
    }
    if depth > 0 {
        return None;
    }
    WRAPPERS.iter().find_map(|w| {
        let inner = items_in_object(m.get(*w)?.as_object()?, depth + 1)?;
        Some(format!("{w}.{inner}"))
    })
}

/// Every `(path, node)` below `top` down to [`MAX_DEPTH`], breadth first,
/// with `children` naming each node's keyed children.
fn walk<'a, I>(top: &'a Value, children: impl Fn(&'a Value) -> I) -> Vec<(String, &'a Value)>
where
    I: IntoIterator<Item = (&'a String, &'a Value)>,
{
    let mut out = Vec::new();
    let mut level: Vec<(String, &Value)> = vec![(String::new(), top)];
    for _ in 0..MAX_DEPTH {
        let mut next = Vec::new();
        for (prefix, node) in level {
            for (k, v) in children(node) {
                let path = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                out.push((path.clone(), v));
                next.push((path, v));
            }
        }
        level = next;
    }
    out
}

/// Every `(path, value)` of an answer's objects, outside arrays.
fn fields(value: &Value) -> Vec<(String, &Value)> {
    walk(value, |v| v.as_object().into_iter().flatten())
}

fn last_key(path: &str) -> &str {
    path.rsplit('.').next().unwrap_or(path)
}

fn is_next_url_name(path: &str) -> bool {
    let key = norm(last_key(path));
    if NEXT_URL_NAMES.contains(&key.as_str()) {
        return true;
    }
    // HAL's `_links.next.href`, Asana's `next_page.uri`.
    ["href", "uri", "url", "link"].contains(&key.as_str())
        && path
            .rsplit('.')
            .nth(1)
            .is_some_and(|p| norm(p).starts_with("next"))
}

/// Whether a text reads as a URL an answer points to: absolute http(s),
/// or an absolute path on the API's host (Twilio's `next_page_uri`).
pub fn looks_like_url(text: &str) -> bool {
    text.starts_with("https://") || text.starts_with("http://") || text.starts_with('/')
}

/// The path of the next page's URL in an actual answer, when it names one
/// (`@odata.nextLink`, `next_page_uri`, `links.next`, `_links.next.href`):
/// a field of such a name holding a URL.
pub fn next_url_in_value(value: &Value) -> Option<String> {
    fields(value).into_iter().find_map(|(path, v)| {
        (is_next_url_name(&path) && v.as_str().is_some_and(looks_like_url)).then_some(path)
    })
}

/// The paths of an answer's paging fields (`has_more` flags, next-page
/// URLs and cursors, by name), which a uniform `next_cursor` replaces.
pub fn paging_paths(value: &Value) -> Vec<String> {
    fields(value)
        .into_iter()
        .filter(|(p, v)| {
            let key = last_key(p);
            let in_next = p
                .rsplit('.')
                .nth(1)
                .is_some_and(|parent| norm(parent).starts_with("next"));
            (v.is_boolean() && HAS_MORE_FIELDS.contains(&key))
                || is_next_url_name(p)
                || NEXT_CURSOR_FIELDS.contains(&key)
                || (in_next && NEXT_CONTAINER_KEYS.contains(&key))
        })
        .map(|(p, _)| p)
        .collect()
}

/// Whether the answer says more pages follow (`has_more`, `hasNextPage`,
/// … at the top or inside a paging object); `None` when it does not say.
pub fn has_more(value: &Value) -> Option<bool> {
    fields(value)
        .into_iter()
        .find(|(path, v)| v.is_boolean() && HAS_MORE_FIELDS.contains(&last_key(path)))
        .and_then(|(_, v)| v.as_bool())
}

// ---- schemas -------------------------------------------------------------

/// A schema with its local `$ref`s (`#/$defs/…`, `#/definitions/…`) followed
/// within `root`.
fn resolve<'a>(mut s: &'a Value, root: &'a Value) -> &'a Value {
    for _ in 0..8 {
        let Some(r) = s.get("$ref").and_then(Value::as_str) else {
            break;
        };
        match r.strip_prefix('#').and_then(|p| root.pointer(p)) {
            Some(target) => s = target,
            None => break,
        }
    }
    s
}

fn is_array_schema(s: &Value) -> bool {
    match s.get("type") {
        Some(Value::String(t)) => t == "array",
        Some(Value::Array(ts)) => ts.iter().any(|t| t == "array"),
        _ => s.get("items").is_some(),
    }
}

/// The properties of an object schema, with those of its `allOf` parts.
fn properties<'a>(s: &'a Value, root: &'a Value) -> Vec<(&'a String, &'a Value)> {
    let mut out = Vec::new();
    let mut stack = vec![resolve(s, root)];
    let mut seen = 0;
    while let Some(s) = stack.pop() {
        seen += 1;
        if let Some(p) = s.get("properties").and_then(Value::as_object) {
            out.extend(p.iter().map(|(k, v)| (k, resolve(v, root))));
        }
        if seen < 16
            && let Some(parts) = s.get("allOf").and_then(Value::as_array)
        {
            stack.extend(parts.iter().map(|p| resolve(p, root)));
        }
    }
    out
}

/// Whether a response schema is an array (the answer is the list itself).
pub fn schema_is_array(schema: &Value) -> bool {
    is_array_schema(resolve(schema, schema))
}

/// The dotted path of the item array a response schema describes (the same
/// rules as [`items_in_value`]; an item schema that is an object, or a `$ref`,
/// counts as objects). `None` when the schema is itself an array or names no
/// item array. `$ref`s are resolved within the schema (`$defs`).
pub fn items_in_schema(schema: &Value) -> Option<String> {
    items_in_schema_at(schema, schema, 0)
}

fn items_in_schema_at(s: &Value, root: &Value, depth: usize) -> Option<String> {
    let props = properties(s, root);
    if let Some(k) = ITEM_FIELDS
        .iter()
        .find(|k| props.iter().any(|(n, v)| n == *k && is_array_schema(v)))
    {
        return Some((*k).to_owned());
    }
    let mut arrays = props.iter().filter(|(_, v)| is_array_schema(v));
    if let (Some((k, v)), None) = (arrays.next(), arrays.next()) {
        let item = v.get("items").map(|i| resolve(i, root));
        let objects = item.is_none_or(|i| {
            i.get("type").is_none_or(|t| t == "object") || i.get("properties").is_some()
        });
        if objects {
            return Some((*k).clone());
        }
    }
    if depth > 0 {
        return None;
    }
    WRAPPERS.iter().find_map(|w| {
        let (_, inner) = props.iter().find(|(n, _)| n == w)?;
        Some(format!(
            "{w}.{}",
            items_in_schema_at(inner, root, depth + 1)?
        ))
    })
}

/// The schema at a dotted path of properties (following `$ref`s and array
/// `items` for numeric steps), if the schema says.
pub fn schema_at<'a>(schema: &'a Value, path: &str) -> Option<&'a Value> {
    let mut s = resolve(schema, schema);
    for key in path.split('.') {
        s = if key.parse::<i64>().is_ok() && is_array_schema(s) {
            resolve(s.get("items")?, schema)
        } else {
            properties(s, schema)
                .into_iter()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| v)?
        };
    }
    Some(s)
}

/// Every `(path, schema)` of a schema's properties, outside arrays.
fn schema_fields<'a>(schema: &'a Value, root: &'a Value) -> Vec<(String, &'a Value)> {
    walk(schema, |s| properties(s, root))
}

fn is_scalar_schema(s: &Value) -> bool {
    !is_array_schema(s) && s.get("properties").is_none()
}

/// The path of the next-page cursor a response schema names: one of
/// [`NEXT_CURSOR_FIELDS`] (at the top first, then inside paging objects),
/// else a cursor key inside a `next…` object (`paging.next.after`,
/// `next_page.offset`).
pub fn next_cursor_in_schema(schema: &Value) -> Option<String> {
    next_cursor_in_schema_within(schema, schema)
}

/// [`next_cursor_in_schema`] for a schema whose `$ref`s point into `root`
/// (an OpenAPI document's `#/components/schemas/…`).
pub fn next_cursor_in_schema_within(schema: &Value, root: &Value) -> Option<String> {
    let fields = schema_fields(schema, root);
    let named = NEXT_CURSOR_FIELDS.iter().find_map(|name| {
        fields
            .iter()
            .find(|(p, s)| last_key(p) == *name && is_scalar_schema(s))
    });
    if let Some((path, _)) = named {
        return Some(path.clone());
    }
    fields
        .iter()
        .find(|(p, s)| {
            let parent = p.rsplit('.').nth(1).map(norm).unwrap_or_default();
            parent.starts_with("next")
                && NEXT_CONTAINER_KEYS.contains(&last_key(p))
                && is_scalar_schema(s)
        })
        .map(|(p, _)| p.clone())
}

/// The path of the next page's URL a response schema names
/// (`@odata.nextLink`, `next_page_uri`, `links.next`, `_links.next.href`):
/// a string field of such a name.
pub fn next_url_in_schema(schema: &Value) -> Option<String> {
    schema_fields(schema, schema)
        .into_iter()
        .find(|(p, s)| {
            is_next_url_name(p)
                && is_scalar_schema(s)
                && s.get("type").is_none_or(|t| {
                    t == "string"
                        || t.as_array()
                            .is_some_and(|a| a.iter().any(|t| t == "string"))
                })
        })
        .map(|(p, _)| p)
}

/// Whether a response schema has a `has_more`-style flag.
pub fn has_more_in_schema(schema: &Value) -> bool {
    schema_fields(schema, schema)
        .iter()
        .any(|(p, _)| HAS_MORE_FIELDS.contains(&last_key(p)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_find_dotted_keys_and_count_from_the_end() {
        let v = json!({"@odata.nextLink": "https://x/next", "paging": {"next": {"after": "42"}},
            "data": [{"id": "a"}, {"id": "b"}]});
        assert_eq!(
            at_path(&v, "@odata.nextLink"),
            Some(&json!("https://x/next"))
        );
        assert_eq!(at_path(&v, "paging.next.after"), Some(&json!("42")));
        assert_eq!(at_path(&v, "data.-1.id"), Some(&json!("b")));
        assert_eq!(at_path(&v, "data.0.id"), Some(&json!("a")));
        assert_eq!(at_path(&v, "data.2.id"), None);
        assert_eq!(at_path(&v, "paging.prev"), None);
        let mut w = v.clone();
        assert_eq!(remove_at(&mut w, "paging.next.after"), Some(json!("42")));
        assert!(w.get("paging").is_none(), "{w}");
        let mut hub = json!({"paging": {"next": {"after": "1", "link": "x"}}});
        remove_at(&mut hub, "paging.next.after");
        assert_eq!(hub, json!({"paging": {"next": {"link": "x"}}}));
        assert_eq!(
            paging_paths(
                &json!({"has_more": true, "next_page_uri": "/x", "page": 1, "response_metadata": {"next_cursor": "c"}})
            ),
            ["has_more", "next_page_uri", "response_metadata.next_cursor"]
        );
        assert!(is_path("a.b") && !is_path("a.") && !is_path("") && !is_path("a..b"));
    }

    #[test]
    fn item_arrays_are_found_in_answers() {
        let wrapped = json!({"results": [{"id": "1"}, {"id": "2"}], "next_cursor": null});
        assert_eq!(items_in_value(&wrapped).as_deref(), Some("results"));
        // Twilio names the array after the resource: the one array of objects.
        let twilio = json!({"messages": [{"sid": "SM1"}], "page": 0, "next_page_uri": null});
        assert_eq!(items_in_value(&twilio).as_deref(), Some("messages"));
        let hal = json!({"_embedded": {"users": [{"id": 1}]}, "_links": {}});
        assert_eq!(items_in_value(&hal).as_deref(), Some("_embedded.users"));
        // One object with a list of strings is not a page of items.
        assert_eq!(items_in_value(&json!({"id": 1, "tags": ["a"]})), None);
        assert_eq!(items_in_value(&json!([1, 2])), None);
    }

    #[test]
    fn next_pages_are_found_in_answers() {
        let graph = json!({"value": [], "@odata.nextLink": "https://graph/x?$skiptoken=1"});
        assert_eq!(
            next_url_in_value(&graph).as_deref(),
            Some("@odata.nextLink")
        );
        let twilio = json!({"messages": [], "next_page_uri": "/2010-04-01/Accounts/AC1/Messages.json?Page=1"});
        assert_eq!(next_url_in_value(&twilio).as_deref(), Some("next_page_uri"));
        let asana = json!({"data": [], "next_page": {"offset": "eyJ", "uri": "https://app.asana.com/api/1.0/tasks?offset=eyJ"}});
        assert_eq!(next_url_in_value(&asana).as_deref(), Some("next_page.uri"));
        let hal = json!({"_links": {"next": {"href": "https://x/y?page=2"}}});
        assert_eq!(next_url_in_value(&hal).as_deref(), Some("_links.next.href"));
        // A `next` that is not a URL is not followed.
        assert_eq!(next_url_in_value(&json!({"next": "abc"})), None);
        assert_eq!(
            has_more(&json!({"data": [], "has_more": false})),
            Some(false)
        );
        assert_eq!(
            has_more(&json!({"meta": {"hasNextPage": true}})),
            Some(true)
        );
        assert_eq!(has_more(&json!({"data": []})), None);
    }

    #[test]
    fn schemas_name_items_cursors_and_next_urls() {
        let stripe = json!({"type": "object", "properties": {
            "object": {"type": "string", "enum": ["list"]},
            "data": {"type": "array", "items": {"$ref": "#/$defs/customer"}},
            "has_more": {"type": "boolean"}, "url": {"type": "string"}},
            "$defs": {"customer": {"type": "object"}}});
        assert_eq!(items_in_schema(&stripe).as_deref(), Some("data"));
        assert!(has_more_in_schema(&stripe));
        assert_eq!(next_cursor_in_schema(&stripe), None);
        let by_ref = json!({"$ref": "#/$defs/Page", "$defs": {"Page": {"allOf": [
            {"properties": {"paging": {"properties": {"next": {"properties": {"after": {"type": "string"}}}}}}},
            {"properties": {"contacts": {"type": "array", "items": {"type": "object"}}}}]}}});
        assert_eq!(items_in_schema(&by_ref).as_deref(), Some("contacts"));
        assert_eq!(
            next_cursor_in_schema(&by_ref).as_deref(),
            Some("paging.next.after")
        );
        let slack = json!({"properties": {"channels": {"type": "array", "items": {"type": "object"}},
            "response_metadata": {"properties": {"next_cursor": {"type": "string"}}}}});
        assert_eq!(
            next_cursor_in_schema(&slack).as_deref(),
            Some("response_metadata.next_cursor")
        );
        let graph = json!({"properties": {"value": {"type": "array"}, "@odata.nextLink": {"type": ["string", "null"]}}});
        assert_eq!(items_in_schema(&graph).as_deref(), Some("value"));
        assert_eq!(
            next_url_in_schema(&graph).as_deref(),
            Some("@odata.nextLink")
        );
        assert_eq!(
            items_in_schema(&json!({"type": "array", "items": {}})),
            None
        );
        assert!(schema_is_array(&json!({"type": "array", "items": {}})));
        assert_eq!(
            schema_at(&by_ref, "paging.next.after"),
            Some(&json!({"type": "string"}))
        );
    }
}
