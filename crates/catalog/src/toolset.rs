//! Static toolsets: tools defined in a YAML file and served by built-in
//! handlers, so an endpoint is useful before any integration is connected.

use serde::Deserialize;
use serde_json::value::RawValue;
use std::collections::HashSet;
use std::path::{Path, PathBuf};

use crate::tool::{Tool, ToolName};

/// The built-in behaviours a static tool can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Builtin {
    /// Returns its `message` argument.
    Echo,
    /// Returns the current UTC time (RFC 3339), optionally in a given offset.
    Time,
    /// Waits `ms` milliseconds (capped), then answers; for timeouts and drains.
    Sleep,
}

/// A tool of a static toolset: its MCP definition and its handler.
#[derive(Debug, Clone)]
pub struct StaticTool {
    /// What clients see.
    pub tool: Tool,
    /// What runs on `tools/call`.
    pub handler: Builtin,
}

/// A named set of static tools, loaded from one YAML file.
#[derive(Debug, Clone)]
pub struct Toolset {
    /// The toolset's name; servers refer to it.
    pub name: String,
    /// Optional instructions returned by `initialize`.
    pub instructions: Option<String>,
    /// Tools in file order (which is the order clients see).
    pub tools: Vec<StaticTool>,
}

/// A toolset file that cannot be used; names the file, the place in it and the fault.
#[derive(Debug, thiserror::Error)]
pub enum ToolsetError {
    /// The file could not be read.
    #[error("{file}: cannot read: {source}")]
    Io {
        /// Which file.
        file: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The YAML does not have the expected shape.
    #[error("{file}: {message}")]
    Syntax {
        /// Which file.
        file: PathBuf,
        /// The parser's message, with line and column.
        message: String,
    },
    /// A value is wrong.
    #[error("{file}: at {path}: {message}")]
    Invalid {
        /// Which file.
        file: PathBuf,
        /// Where in the file, e.g. `tools[1].name`.
        path: String,
        /// What is wrong.
        message: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ToolsetFile {
    name: String,
    #[serde(default)]
    instructions: Option<String>,
    tools: Vec<ToolFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ToolFile {
    name: String,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    description: Option<String>,
    handler: Builtin,
    #[serde(default)]
    input_schema: Option<serde_json::Value>,
    #[serde(default)]
    annotations: Option<serde_json::Value>,
}

impl Toolset {
    /// Load and validate a toolset file.
    pub fn load(file: &Path) -> Result<Self, ToolsetError> {
        let text = std::fs::read_to_string(file).map_err(|source| ToolsetError::Io {
            file: file.to_owned(),
            source,
        })?;
        Self::parse(&text, file)
    }

    /// Parse toolset YAML; `file` is only used in error messages.
    pub fn parse(text: &str, file: &Path) -> Result<Self, ToolsetError> {
        let parsed: ToolsetFile = yaml_serde::from_str(text).map_err(|e| ToolsetError::Syntax {
            file: file.to_owned(),
            message: e.to_string(),
        })?;
        let invalid = |path: String, message: String| ToolsetError::Invalid {
            file: file.to_owned(),
            path,
            message,
        };
        if parsed.name.trim().is_empty() {
            return Err(invalid("name".into(), "must not be empty".into()));
        }
        let mut seen = HashSet::new();
        let mut tools = Vec::with_capacity(parsed.tools.len());
        for (i, t) in parsed.tools.into_iter().enumerate() {
            // Stricter than the spec: some clients refuse a whole tool list
            // over one name or key outside these patterns.
            if !crate::naming::is_client_safe_tool_name(&t.name) {
                return Err(invalid(
                    format!("tools[{i}].name"),
                    format!(
                        "{:?} must match ^[a-zA-Z0-9_-]{{1,64}}$ (clients refuse other tool names)",
                        t.name
                    ),
                ));
            }
            let name = ToolName::new(t.name.clone())
                .map_err(|e| invalid(format!("tools[{i}].name"), e.to_string()))?;
            if !seen.insert(name.clone()) {
                return Err(invalid(
                    format!("tools[{i}].name"),
                    format!("duplicate tool name {name:?}"),
                ));
            }
            let schema = t.input_schema.unwrap_or_else(
                || serde_json::json!({"type": "object", "additionalProperties": false}),
            );
            if schema.get("type").and_then(|v| v.as_str()) != Some("object") {
                return Err(invalid(
                    format!("tools[{i}].inputSchema"),
                    "must be a JSON Schema object with \"type\": \"object\"".into(),
                ));
            }
            if let Some(key) = crate::schema_keys::property_keys(&schema)
                .into_iter()
                .find(|k| !crate::naming::is_client_safe_property_key(k))
            {
                return Err(invalid(
                    format!("tools[{i}].inputSchema"),
                    format!(
                        "property key {key:?} must match ^[a-zA-Z0-9_.-]{{1,64}}$ (clients refuse other keys)"
                    ),
                ));
            }
            let annotations = match t.annotations {
                None => None,
                Some(a) if a.is_object() => Some(to_raw(&a)),
                Some(_) => {
                    return Err(invalid(
                        format!("tools[{i}].annotations"),
                        "must be a mapping".into(),
                    ));
                }
            };
            tools.push(StaticTool {
                tool: Tool {
                    name,
                    title: t.title,
                    description: t.description,
                    input_schema: to_raw(&schema),
                    annotations,
                },
                handler: t.handler,
            });
        }
        Ok(Self {
            name: parsed.name,
            instructions: parsed.instructions,
            tools,
        })
    }
}

fn to_raw(v: &serde_json::Value) -> Box<RawValue> {
    serde_json::value::to_raw_value(v).expect("a JSON value serializes")
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
name: demo
tools:
  - name: echo
    description: Echo a message
    handler: echo
    inputSchema:
      type: object
      properties: { message: { type: string } }
      required: [message]
  - name: time
    handler: time
"#;

    #[test]
    fn loads_tools_in_order_with_default_schema() {
        let ts = Toolset::parse(GOOD, Path::new("demo.yaml")).unwrap();
        assert_eq!(ts.name, "demo");
        let names: Vec<_> = ts.tools.iter().map(|t| t.tool.name.as_str()).collect();
        assert_eq!(names, ["echo", "time"]);
        assert_eq!(ts.tools[0].handler, Builtin::Echo);
        assert_eq!(
            ts.tools[1].tool.input_schema.get(),
            r#"{"additionalProperties":false,"type":"object"}"#
        );
    }

    #[test]
    fn errors_name_file_path_and_fault() {
        let bad = GOOD.replace("name: time", "name: \"bad name\"");
        let err = Toolset::parse(&bad, Path::new("x.yaml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("x.yaml"), "{err}");
        assert!(err.contains("tools[1].name"), "{err}");
        assert!(err.contains("\"bad name\" must match"), "{err}");

        for (bad, fault) in [
            ("name: \"files.read\"", "tools[1].name"),
            ("name: \"天气\"", "tools[1].name"),
            (
                "name: time\n    inputSchema: { type: object, properties: { \"a b\": {} } }",
                "tools[1].inputSchema",
            ),
        ] {
            let err = Toolset::parse(&GOOD.replace("name: time", bad), Path::new("x.yaml"))
                .unwrap_err()
                .to_string();
            assert!(err.contains(fault) && err.contains("must match"), "{err}");
        }
        let dup = GOOD.replace("name: time", "name: echo");
        let err = Toolset::parse(&dup, Path::new("x.yaml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("duplicate tool name"), "{err}");

        let schema = GOOD.replace(
            "type: object\n      properties",
            "type: array\n      properties",
        );
        let err = Toolset::parse(&schema, Path::new("x.yaml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("tools[0].inputSchema"), "{err}");

        let unknown = GOOD.replace("handler: time", "handler: teleport");
        let err = Toolset::parse(&unknown, Path::new("x.yaml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("teleport"), "{err}");
    }
}
