//! How an imported list operation pages, inferred from its query parameters
//! and its success response (the converted schema, `$defs` attached, and
//! the headers it declares).

use serde_json::{Map, Value};

use crate::integration::Pagination;
use crate::listing;

/// Page-size parameters, compared by [`norm`] (`$top`, `PageSize`,
/// `page[size]`, `maxResults`…).
const LIMIT_PARAMS: &[&str] = &[
    "limit",
    "perpage",
    "pagesize",
    "size",
    "maxresults",
    "top",
    "take",
    "maxitems",
    "maxpagesize",
    "resultsperpage",
    "max",
];

/// Cursor parameters, compared by [`norm`] (Stripe's `starting_after`,
/// Twilio's `PageToken`, Notion's `start_cursor`, AWS's `NextToken`…).
const CURSOR_PARAMS: &[&str] = &[
    "cursor",
    "after",
    "startingafter",
    "pagetoken",
    "nexttoken",
    "nextpagetoken",
    "continuationtoken",
    "continuation",
    "marker",
    "startcursor",
    "pagecursor",
    "pageafter",
    "starttoken",
    "offset",
];

/// Page-number parameters.
const PAGE_PARAMS: &[&str] = &["page", "pagenumber", "pageno", "pageindex"];

/// Item-offset parameters.
const OFFSET_PARAMS: &[&str] = &["offset", "skip", "start", "startat", "startindex"];

fn norm(name: &str) -> String {
    name.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

fn find<'q>(query: &'q Map<String, Value>, names: &[&str]) -> Option<&'q String> {
    names
        .iter()
        .find_map(|n| query.keys().find(|k| norm(k) == *n))
}

/// Recognise how a list operation pages. In order: a cursor parameter whose
/// next value the answer names (`after` + `paging.next.after`, Slack's
/// `response_metadata.next_cursor`); a next-page URL in the answer
/// (`@odata.nextLink`, `next_page_uri`); a declared `Link` header; a cursor
/// parameter taking the last item's id (Stripe's `starting_after`); page
/// numbers; item offsets. `None` when the operation does not page (the
/// executor still follows a `Link` header or a next URL an answer has).
pub(super) fn infer_pagination(
    query: &Map<String, Value>,
    response: Option<&Value>,
    link_header: bool,
) -> Option<Pagination> {
    let limit_param = find(query, LIMIT_PARAMS).cloned();
    let cursor = find(query, CURSOR_PARAMS);
    if let (Some(cursor), Some(next)) = (cursor, response.and_then(listing::next_cursor_in_schema))
    {
        return Some(Pagination::Cursor {
            cursor_param: cursor.clone(),
            next_cursor: next,
            limit_param,
            results: None,
        });
    }
    if let Some(next_url) = response.and_then(listing::next_url_in_schema) {
        return Some(Pagination::NextUrl {
            next_url,
            limit_param,
            results: None,
        });
    }
    if link_header {
        return Some(Pagination::LinkHeader {
            limit_param,
            results: None,
        });
    }
    // The cursor is the last item's id (Stripe: `starting_after` with
    // `has_more`): only when the items have ids.
    if let Some(cursor) = cursor.filter(|c| norm(c) != "offset")
        && let Some(schema) = response
        && let Some(items) = listing::items_in_schema(schema)
        && listing::schema_at(schema, &format!("{items}.0.id")).is_some()
    {
        return Some(Pagination::Cursor {
            cursor_param: cursor.clone(),
            next_cursor: format!("{items}.-1.id"),
            limit_param,
            results: None,
        });
    }
    if let Some(page) = find(query, PAGE_PARAMS) {
        let schema = &query[page];
        let zero = [schema.get("minimum"), schema.get("default")]
            .into_iter()
            .flatten()
            .any(|v| v.as_u64() == Some(0));
        return Some(Pagination::Page {
            page_param: page.clone(),
            first_page: if zero { 0 } else { 1 },
            limit_param,
            results: None,
        });
    }
    // A string-typed `offset` is a token (Asana's), not a count: the
    // executor follows the next page the answer names instead.
    if let Some(offset) = find(query, OFFSET_PARAMS)
        && query[offset].get("type").is_none_or(|t| t != "string")
        && let Some(limit_param) = limit_param
    {
        return Some(Pagination::Offset {
            offset_param: offset.clone(),
            limit_param,
            results: None,
        });
    }
    None
}

/// Whether a success response declares a `Link` header (RFC 8288), as
/// GitHub's list operations do.
pub(super) fn declares_link_header(response: &Value) -> bool {
    response
        .get("headers")
        .and_then(Value::as_object)
        .is_some_and(|h| h.keys().any(|k| k.eq_ignore_ascii_case("link")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn q(names: &[&str]) -> Map<String, Value> {
        names
            .iter()
            .map(|n| (n.to_string(), json!({"type": "string"})))
            .collect()
    }

    #[test]
    fn styles_come_from_parameters_and_answers() {
        let hubspot = json!({"properties": {"results": {"type": "array", "items": {"type": "object"}},
            "paging": {"properties": {"next": {"properties": {"after": {"type": "string"}, "link": {"type": "string"}}}}}}});
        assert_eq!(
            infer_pagination(&q(&["after", "limit"]), Some(&hubspot), false),
            Some(Pagination::Cursor {
                cursor_param: "after".into(),
                next_cursor: "paging.next.after".into(),
                limit_param: Some("limit".into()),
                results: None
            })
        );
        let twilio = json!({"properties": {"messages": {"type": "array", "items": {"type": "object"}},
            "next_page_uri": {"type": "string", "format": "uri"}, "page": {"type": "integer"}}});
        assert_eq!(
            infer_pagination(&q(&["PageSize", "Page", "PageToken"]), Some(&twilio), false),
            Some(Pagination::NextUrl {
                next_url: "next_page_uri".into(),
                limit_param: Some("PageSize".into()),
                results: None
            })
        );
        let graph = json!({"properties": {"value": {"type": "array"}, "@odata.nextLink": {"type": "string"}}});
        assert!(matches!(
            infer_pagination(&q(&["$top", "$skip"]), Some(&graph), false),
            Some(Pagination::NextUrl { next_url, limit_param: Some(l), .. }) if next_url == "@odata.nextLink" && l == "$top"
        ));
        let stripe = json!({"properties": {"data": {"type": "array", "items": {"$ref": "#/$defs/c"}},
            "has_more": {"type": "boolean"}}, "$defs": {"c": {"properties": {"id": {"type": "string"}}}}});
        assert!(matches!(
            infer_pagination(&q(&["starting_after", "ending_before", "limit"]), Some(&stripe), false),
            Some(Pagination::Cursor { cursor_param, next_cursor, .. }) if cursor_param == "starting_after" && next_cursor == "data.-1.id"
        ));
        let asana = json!({"properties": {"data": {"type": "array"}, "next_page": {"properties": {
            "offset": {"type": "string"}, "path": {"type": "string"}, "uri": {"type": "string"}}}}});
        assert!(matches!(
            infer_pagination(&q(&["limit", "offset"]), Some(&asana), false),
            Some(Pagination::Cursor { cursor_param, next_cursor, .. }) if cursor_param == "offset" && next_cursor == "next_page.offset"
        ));
        assert!(matches!(
            infer_pagination(&q(&["per_page", "page"]), None, true),
            Some(Pagination::LinkHeader { limit_param: Some(l), .. }) if l == "per_page"
        ));
        let mut zero = q(&["page"]);
        zero["page"] = json!({"type": "integer", "minimum": 0});
        assert!(matches!(
            infer_pagination(&zero, None, false),
            Some(Pagination::Page { first_page: 0, .. })
        ));
        let mut jira = q(&["startAt", "maxResults"]);
        jira["startAt"] = json!({"type": "integer"});
        assert!(matches!(
            infer_pagination(&jira, None, false),
            Some(Pagination::Offset { offset_param, limit_param, .. }) if offset_param == "startAt" && limit_param == "maxResults"
        ));
        assert_eq!(infer_pagination(&q(&["q"]), None, false), None);
        // Asana's `offset` is a string token: not counted up as an offset.
        assert_eq!(
            infer_pagination(&q(&["offset", "limit"]), None, false),
            None
        );
    }
}
