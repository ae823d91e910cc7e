//! Server scopes: which generated tools a server exposes.
//!
//! `methods` AND `tags` AND the optional tool allow-list; inside each list
//! any match counts. The same [`Scope`] decides `tools/list` and `tools/call`.

use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::fmt;

use crate::integration::{HttpMethod, Integration, MethodKind};
use crate::suggest::nearest;
use crate::tools::GeneratedTool;

/// A scope as written in requests and stored (unvalidated strings).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScopeConfig {
    /// Method kinds (`list`, `search`…), groups (`read`, `write`, `custom`)
    /// or HTTP verbs (`GET`…). Absent or empty: every method.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub methods: Option<Vec<String>>,
    /// Resource tags. Absent or empty: every tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum MethodMatcher {
    Kind(String),
    Read,
    Write,
    Custom,
    Http(HttpMethod),
}

impl MethodMatcher {
    fn matches(&self, kind: &MethodKind, http: HttpMethod) -> bool {
        match self {
            Self::Kind(k) => kind.as_str() == k,
            Self::Read => kind.is_read(),
            Self::Write => kind.is_write(),
            Self::Custom => matches!(kind, MethodKind::Custom(_)),
            Self::Http(m) => *m == http,
        }
    }
}

/// A validated scope.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    methods: Vec<MethodMatcher>,
    tags: HashSet<String>,
    tools: Option<HashSet<String>>,
}

/// One bad entry of a scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeProblem {
    /// `methods`, `tags` or `tools`.
    pub field: &'static str,
    /// The entry as given.
    pub value: String,
    /// The nearest valid entry, if one is close.
    pub suggestion: Option<String>,
}

impl fmt::Display for ScopeProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.field {
            "methods" => "method",
            "tags" => "tag",
            _ => "tool",
        };
        write!(f, "unknown {what} {:?}", self.value)?;
        if let Some(s) = &self.suggestion {
            write!(f, " (did you mean {s}?)")?;
        }
        Ok(())
    }
}

/// Every bad entry of a scope, so one answer can name them all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", .problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
pub struct ScopeError {
    /// The problems, in input order.
    pub problems: Vec<ScopeProblem>,
}

const GROUPS: [&str; 3] = ["read", "write", "custom"];

impl Scope {
    /// A scope that allows everything.
    pub fn all() -> Self {
        Self::default()
    }

    /// Validate a scope against an integration and the names of its tools.
    /// `tools`: `None` exposes every tool in scope; `Some(list)` only those.
    pub fn parse(
        config: &ScopeConfig,
        tools: Option<&[String]>,
        integration: &Integration,
        tool_names: &[&str],
    ) -> Result<Self, ScopeError> {
        let mut problems = Vec::new();
        let custom = integration.custom_kinds();

        let mut methods = Vec::new();
        for entry in config.methods.iter().flatten() {
            match parse_method(entry, &custom) {
                Some(m) => methods.push(m),
                None => {
                    let candidates = MethodKind::STANDARD
                        .iter()
                        .chain(GROUPS.iter())
                        .copied()
                        .chain(custom.iter().copied())
                        .chain(HttpMethod::ALL.iter().map(|m| m.as_str()));
                    problems.push(ScopeProblem {
                        field: "methods",
                        value: entry.clone(),
                        suggestion: nearest(entry, candidates).map(str::to_owned),
                    });
                }
            }
        }

        let known_tags = integration.tags();
        let mut tags = HashSet::new();
        for tag in config.tags.iter().flatten() {
            match known_tags.iter().find(|t| t.eq_ignore_ascii_case(tag)) {
                Some(t) => {
                    tags.insert((*t).to_owned());
                }
                None => problems.push(ScopeProblem {
                    field: "tags",
                    value: tag.clone(),
                    suggestion: nearest(tag, known_tags.iter().copied()).map(str::to_owned),
                }),
            }
        }

        let tools = tools.map(|list| {
            list.iter()
                .filter_map(|t| {
                    if tool_names.contains(&t.as_str()) {
                        Some(t.clone())
                    } else {
                        problems.push(ScopeProblem {
                            field: "tools",
                            value: t.clone(),
                            suggestion: nearest(t, tool_names.iter().copied()).map(str::to_owned),
                        });
                        None
                    }
                })
                .collect()
        });

        if problems.is_empty() {
            Ok(Self {
                methods,
                tags,
                tools,
            })
        } else {
            Err(ScopeError { problems })
        }
    }

    /// Whether the scope exposes this tool.
    pub fn allows(&self, tool: &GeneratedTool) -> bool {
        let method_ok = self.methods.is_empty()
            || self
                .methods
                .iter()
                .any(|m| m.matches(&tool.kind, tool.operation.method));
        let tag_ok = self.tags.is_empty() || tool.tags.iter().any(|t| self.tags.contains(t));
        let tool_ok = self
            .tools
            .as_ref()
            .is_none_or(|set| set.contains(tool.tool.name.as_str()));
        method_ok && tag_ok && tool_ok
    }
}

fn parse_method(entry: &str, custom: &[&str]) -> Option<MethodMatcher> {
    let trimmed = entry.trim();
    // An all-caps verb is the HTTP method ("GET" covers list, get and custom GETs);
    // lower case names a kind ("get" is only the get method).
    if let Some(m) = HttpMethod::ALL.iter().find(|m| m.as_str() == trimmed) {
        return Some(MethodMatcher::Http(*m));
    }
    let lower = trimmed.to_ascii_lowercase();
    match lower.as_str() {
        "read" => return Some(MethodMatcher::Read),
        "write" => return Some(MethodMatcher::Write),
        "custom" => return Some(MethodMatcher::Custom),
        _ => {}
    }
    if MethodKind::STANDARD.contains(&lower.as_str()) || custom.contains(&lower.as_str()) {
        return Some(MethodMatcher::Kind(lower));
    }
    HttpMethod::ALL
        .iter()
        .find(|m| m.as_str().eq_ignore_ascii_case(&lower))
        .map(|m| MethodMatcher::Http(*m))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tools::generate;

    const API: &str = r#"
name: files
base_url: https://files.example.com
resources:
  - name: documents
    tags: [docs, storage]
    methods:
      - { kind: list, method: GET, path: /documents }
      - { kind: get, method: GET, path: "/documents/{id}" }
      - { kind: create, method: POST, path: /documents }
      - { kind: delete, method: DELETE, path: "/documents/{id}" }
      - { kind: download, method: GET, path: "/documents/{id}/content" }
  - name: folders
    tags: [storage]
    methods:
      - { kind: list, method: GET, path: /folders }
      - { kind: update, method: PUT, path: "/folders/{id}" }
      - { kind: archive, method: POST, path: "/folders/{id}/archive" }
"#;

    fn exposed(
        methods: &[&str],
        tags: &[&str],
        tools: Option<&[&str]>,
    ) -> Result<Vec<String>, ScopeError> {
        let integration = Integration::from_yaml(API).unwrap();
        let generated = generate(&integration);
        let names: Vec<&str> = generated.iter().map(|t| t.tool.name.as_str()).collect();
        let config = ScopeConfig {
            methods: Some(methods.iter().map(|s| s.to_string()).collect()),
            tags: Some(tags.iter().map(|s| s.to_string()).collect()),
        };
        let tools: Option<Vec<String>> = tools.map(|t| t.iter().map(|s| s.to_string()).collect());
        let scope = Scope::parse(&config, tools.as_deref(), &integration, &names)?;
        Ok(generated
            .iter()
            .filter(|t| scope.allows(t))
            .map(|t| t.tool.name.as_str().to_owned())
            .collect())
    }

    #[test]
    fn empty_scope_exposes_everything() {
        assert_eq!(exposed(&[], &[], None).unwrap().len(), 8);
    }

    #[test]
    fn kinds_groups_and_verbs() {
        assert_eq!(
            exposed(&["list"], &[], None).unwrap(),
            ["list_all_files_documents", "list_all_files_folders"]
        );
        assert_eq!(exposed(&["read"], &[], None).unwrap().len(), 3);
        assert_eq!(
            exposed(&["write"], &[], None).unwrap(),
            [
                "create_a_files_document",
                "delete_a_files_document_by_id",
                "update_a_files_folder_by_id"
            ]
        );
        assert_eq!(
            exposed(&["custom"], &[], None).unwrap(),
            ["download_files_documents", "archive_files_folders"]
        );
        // "GET" (the verb) covers list, get and the custom download; "get" only get.
        assert_eq!(exposed(&["GET"], &[], None).unwrap().len(), 4);
        assert_eq!(
            exposed(&["get"], &[], None).unwrap(),
            ["get_single_files_document_by_id"]
        );
        assert_eq!(
            exposed(&["post"], &[], None).unwrap().len(),
            2,
            "lower-case verbs work too"
        );
        assert_eq!(
            exposed(&["DOWNLOAD"], &[], None).unwrap(),
            ["download_files_documents"]
        );
    }

    #[test]
    fn methods_and_tags_combine_with_and() {
        assert_eq!(
            exposed(&["list"], &["docs"], None).unwrap(),
            ["list_all_files_documents"]
        );
        assert_eq!(
            exposed(&["list", "update"], &["storage"], None)
                .unwrap()
                .len(),
            3
        );
        assert_eq!(
            exposed(&[], &["DOCS"], None).unwrap().len(),
            5,
            "tags are case-insensitive"
        );
    }

    #[test]
    fn the_tool_allow_list_ands_with_both() {
        let only = ["list_all_files_documents", "list_all_files_folders"];
        assert_eq!(
            exposed(&[], &["docs"], Some(&only)).unwrap(),
            ["list_all_files_documents"]
        );
        assert!(
            exposed(&[], &[], Some(&[])).unwrap().is_empty(),
            "an empty allow-list exposes nothing"
        );
    }

    #[test]
    fn unknown_entries_are_all_reported_with_suggestions() {
        let err = exposed(
            &["GET", "READ", "DOWNLAOD", "teleport"],
            &["storag"],
            Some(&["list_all_files_documentz"]),
        )
        .unwrap_err();
        let text = err.to_string();
        assert_eq!(err.problems.len(), 4, "{text}");
        assert!(
            text.contains("unknown method \"DOWNLAOD\" (did you mean download?)"),
            "{text}"
        );
        assert!(text.contains("unknown method \"teleport\""), "{text}");
        assert!(
            text.contains("unknown tag \"storag\" (did you mean storage?)"),
            "{text}"
        );
        assert!(
            text.contains("did you mean list_all_files_documents?"),
            "{text}"
        );
    }
}
