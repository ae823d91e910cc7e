//! Parameters: path, query, header and cookie parameters of an operation,
//! with their OpenAPI 3 serialization (`style`, `explode`, `allowReserved`).

use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, BTreeSet};

use super::{Ctx, SkipReason};
use crate::integration::{AuthSpec, KeyLocation, ParamIn, ParamStyle, ParamStyles, Style};

/// An operation's parameters, converted.
#[derive(Default)]
pub(super) struct Params {
    /// Path parameters by placeholder name.
    pub path: Map<String, Value>,
    /// Query parameters (schema properties) and which are required.
    pub query: Map<String, Value>,
    pub query_required: Vec<String>,
    pub header: Map<String, Value>,
    pub header_required: Vec<String>,
    pub cookie: Map<String, Value>,
    pub cookie_required: Vec<String>,
    /// Non-default serializations.
    pub styles: ParamStyles,
}

/// Headers the gateway sets itself: OpenAPI 3 says parameters named
/// `Accept`, `Content-Type` and `Authorization` are ignored, and the others
/// belong to the HTTP connection, not to the API.
const RESERVED_HEADERS: [&str; 10] = [
    "accept",
    "content-type",
    "authorization",
    "content-length",
    "host",
    "connection",
    "transfer-encoding",
    "cookie",
    "te",
    "upgrade",
];

/// Whether a header parameter is the gateway's to set (always refused as
/// an argument, whatever the document says).
pub fn is_reserved_header(name: &str) -> bool {
    RESERVED_HEADERS.contains(&name.to_ascii_lowercase().as_str())
}

fn object_schema(props: Map<String, Value>, required: Vec<String>) -> Option<Value> {
    if props.is_empty() {
        return None;
    }
    let mut s = json!({"type": "object", "properties": Value::Object(props)});
    if !required.is_empty() {
        s["required"] = json!(required);
    }
    Some(s)
}

impl Params {
    /// The query parameters as a schema (`type: object`).
    pub fn query_schema(&mut self) -> Option<Value> {
        object_schema(
            std::mem::take(&mut self.query),
            std::mem::take(&mut self.query_required),
        )
    }

    /// The header parameters as a schema.
    pub fn header_schema(&mut self) -> Option<Value> {
        object_schema(
            std::mem::take(&mut self.header),
            std::mem::take(&mut self.header_required),
        )
    }

    /// The cookie parameters as a schema.
    pub fn cookie_schema(&mut self) -> Option<Value> {
        object_schema(
            std::mem::take(&mut self.cookie),
            std::mem::take(&mut self.cookie_required),
        )
    }
}

/// A parameter's serialization as declared, when it is not the default of
/// its location.
pub(super) fn declared_style(p: &Value, location: ParamIn) -> Option<ParamStyle> {
    let default = ParamStyle::default_for(location);
    let style = match p.get("style").and_then(Value::as_str) {
        Some(s) => parse_style(s)?,
        None => default.style,
    };
    let explode = p
        .get("explode")
        .and_then(Value::as_bool)
        .unwrap_or(style == Style::Form);
    let allow_reserved = p
        .get("allowReserved")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let declared = ParamStyle {
        style,
        explode,
        allow_reserved,
    };
    (declared != default).then_some(declared)
}

/// A style name as OpenAPI writes it.
pub(super) fn parse_style(s: &str) -> Option<Style> {
    Some(match s {
        "matrix" => Style::Matrix,
        "label" => Style::Label,
        "form" => Style::Form,
        "simple" => Style::Simple,
        "spaceDelimited" => Style::SpaceDelimited,
        "pipeDelimited" => Style::PipeDelimited,
        "deepObject" => Style::DeepObject,
        _ => return None,
    })
}

impl Ctx<'_> {
    /// Path-level parameters overridden by operation-level ones (same name
    /// and location), converted. `renamed` maps a path template's raw
    /// placeholder names to the ones the converted template uses.
    pub(super) fn params(
        &self,
        item: &Map<String, Value>,
        op: &Value,
        renamed: &BTreeMap<String, String>,
        placeholders: &[String],
        defs: &mut BTreeSet<String>,
    ) -> Result<Params, SkipReason> {
        let mut declared: BTreeMap<(String, String), &Value> = BTreeMap::new();
        for list in [item.get("parameters"), op.get("parameters")]
            .into_iter()
            .flatten()
        {
            let list = list
                .as_array()
                .ok_or_else(|| SkipReason::Malformed("parameters must be a list".into()))?;
            for p in list {
                let p = self.deref(p)?;
                let name = p
                    .get("name")
                    .and_then(Value::as_str)
                    .ok_or_else(|| SkipReason::Malformed("a parameter has no name".into()))?;
                let location = p.get("in").and_then(Value::as_str).ok_or_else(|| {
                    SkipReason::Malformed(format!("parameter {name:?} has no \"in\""))
                })?;
                declared.insert((location.to_owned(), name.to_owned()), p);
            }
        }
        let credential = match self.auth {
            AuthSpec::ApiKey { location, name } => Some((*location, name.to_ascii_lowercase())),
            _ => None,
        };
        let mut out = Params::default();
        for ((location, name), p) in declared {
            let raw_schema = p.get("schema").or_else(|| {
                // `content` instead of `schema`: the first media type's schema.
                p.get("content")
                    .and_then(Value::as_object)
                    .and_then(|c| c.values().next())
                    .and_then(|m| m.get("schema"))
            });
            let mut schema = match raw_schema {
                Some(s) => self.schema(s, defs)?,
                None => json!({"type": "string"}),
            };
            if let Some(d) = p.get("description").and_then(Value::as_str)
                && !d.trim().is_empty()
                && schema.get("description").is_none()
                && let Some(obj) = schema.as_object_mut()
            {
                obj.insert("description".into(), json!(super::plain_text(d, 1000)));
            }
            let required = p.get("required") == Some(&Value::Bool(true));
            match location.as_str() {
                "path" => {
                    let key = renamed.get(&name).cloned().unwrap_or(name);
                    // A declared parameter the template does not use has
                    // nowhere to go.
                    if !placeholders.contains(&key) {
                        continue;
                    }
                    if let Some(s) = declared_style(p, ParamIn::Path) {
                        out.styles.path.insert(key.clone(), s);
                    }
                    out.path.insert(key, schema);
                }
                "query" => {
                    if credential.as_ref().is_some_and(|(l, n)| {
                        *l == KeyLocation::Query && *n == name.to_ascii_lowercase()
                    }) {
                        continue;
                    }
                    if let Some(s) = declared_style(p, ParamIn::Query) {
                        out.styles.query.insert(name.clone(), s);
                    }
                    if required {
                        out.query_required.push(name.clone());
                    }
                    out.query.insert(name, schema);
                }
                "header" => {
                    if is_reserved_header(&name)
                        || credential.as_ref().is_some_and(|(l, n)| {
                            *l == KeyLocation::Header && *n == name.to_ascii_lowercase()
                        })
                    {
                        continue;
                    }
                    if let Some(s) = declared_style(p, ParamIn::Header) {
                        out.styles.header.insert(name.clone(), s);
                    }
                    if required {
                        out.header_required.push(name.clone());
                    }
                    out.header.insert(name, schema);
                }
                "cookie" => {
                    if let Some(s) = declared_style(p, ParamIn::Cookie) {
                        out.styles.cookie.insert(name.clone(), s);
                    }
                    if required {
                        out.cookie_required.push(name.clone());
                    }
                    out.cookie.insert(name, schema);
                }
                other => {
                    return Err(SkipReason::Malformed(format!(
                        "parameter {name:?} is \"in\": {other:?} (path, query, header or cookie)"
                    )));
                }
            }
        }
        for name in placeholders {
            out.path
                .entry(name.clone())
                .or_insert_with(|| json!({"type": "string"}));
        }
        Ok(out)
    }
}
