//! Request bodies: which of an operation's media types to send, its schema,
//! and the per-property encoding of form and multipart bodies.

use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};

use super::params::{declared_style, parse_style};
use super::{Ctx, SkipReason};
use crate::integration::{BodyKind, ParamIn, ParamStyle, PropertyEncoding, Style};

/// A converted request body.
pub(super) struct Body {
    /// JSON Schema of the body.
    pub schema: Value,
    /// Media type to send (`None`: `application/json`).
    pub content_type: Option<String>,
    /// Per-property encoding (form and multipart bodies).
    pub encoding: Option<BTreeMap<String, PropertyEncoding>>,
}

/// Preference among media types: JSON first (the richest schemas), then
/// forms, multipart, text and bytes.
fn rank(kind: BodyKind) -> u8 {
    match kind {
        BodyKind::Json => 0,
        BodyKind::Form => 1,
        BodyKind::Multipart => 2,
        BodyKind::Text => 3,
        BodyKind::Binary => 4,
    }
}

/// The media type actually sent for a document's content key: wildcards
/// become concrete types.
fn concrete(media: &str, kind: BodyKind) -> Option<String> {
    let essence = media.split(';').next().unwrap_or("").trim();
    match kind {
        BodyKind::Json if essence.eq_ignore_ascii_case("application/json") && media == essence => {
            None
        }
        BodyKind::Json if essence.contains('*') || essence.is_empty() => None,
        BodyKind::Multipart => Some("multipart/form-data".into()),
        BodyKind::Text if essence.contains('*') => Some("text/plain".into()),
        BodyKind::Binary if essence.contains('*') || essence.is_empty() => {
            Some("application/octet-stream".into())
        }
        _ => Some(media.to_owned()),
    }
}

/// An Encoding Object, when it says something other than the default.
fn property_encoding(e: &Value, kind: BodyKind) -> Option<PropertyEncoding> {
    let style = if kind == BodyKind::Form {
        declared_style(e, ParamIn::Query).or_else(|| {
            // deepObject is written without `explode` by many documents.
            let s = parse_style(e.get("style")?.as_str()?)?;
            (s != Style::Form).then_some(ParamStyle {
                style: s,
                explode: true,
                allow_reserved: false,
            })
        })
    } else {
        None
    };
    let content_type = (kind == BodyKind::Multipart)
        .then(|| {
            e.get("contentType")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .flatten();
    (style.is_some() || content_type.is_some()).then_some(PropertyEncoding {
        style,
        content_type,
    })
}

impl Ctx<'_> {
    /// The operation's request body, if it has one.
    pub(super) fn request_body(
        &self,
        op: &Value,
        defs: &mut BTreeSet<String>,
    ) -> Result<Option<Body>, SkipReason> {
        let Some(rb) = op.get("requestBody") else {
            return Ok(None);
        };
        let rb = self.deref(rb)?;
        let Some(content) = rb.get("content").and_then(Value::as_object) else {
            // No media type: nothing to send.
            return Ok(None);
        };
        let Some((media, kind, m)) = content
            .iter()
            .map(|(k, m)| (k, BodyKind::of(k), m))
            .min_by_key(|(_, kind, _)| rank(*kind))
        else {
            return Ok(None);
        };
        let m = self.deref(m)?;
        let schema = match m.get("schema") {
            Some(s) => self.schema(s, defs)?,
            None => match kind {
                BodyKind::Text | BodyKind::Binary => json!({"type": "string"}),
                _ => json!({"type": "object"}),
            },
        };
        let mut encoding = BTreeMap::new();
        for (k, e) in m
            .get("encoding")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            if let Ok(e) = self.deref(e)
                && let Some(pe) = property_encoding(e, kind)
            {
                encoding.insert(k.clone(), pe);
            }
        }
        Ok(Some(Body {
            schema,
            content_type: concrete(media, kind),
            encoding: (!encoding.is_empty()).then_some(encoding),
        }))
    }
}
