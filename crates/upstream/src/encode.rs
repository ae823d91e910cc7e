//! Request encoding for REST tools: OpenAPI 3 parameter serialization
//! (`style`/`explode`, OpenAPI 3.0.3 §4.7.12.4 and RFC 6570), form and
//! multipart bodies. Pure functions over JSON values: every result is
//! already percent-encoded for its place in the request.

use mcpgate_catalog::integration::{ParamStyle, Style};
use percent_encoding::{
    AsciiSet, CONTROLS, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode,
};
use serde_json::{Map, Value};

/// Characters escaped in a path segment value: everything but RFC 3986
/// unreserved characters and the sub-delimiters that cannot change a path's
/// structure (`/`, `?`, `#`, `%`, `;`, `,`, `=` and `.`-only segments are
/// handled by the caller or escaped here).
const SEGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'/')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}')
    .add(b'[')
    .add(b']')
    .add(b'\\')
    .add(b'^')
    .add(b'|')
    .add(b';')
    .add(b',')
    .add(b'=');

/// Characters escaped in a query name or value: all but RFC 3986 unreserved.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// With `allowReserved`: the reserved characters that cannot change the
/// query's structure stay as they are (`&`, `=`, `#` and `+` are still
/// escaped, or the API would read other parameters).
const RESERVED_ALLOWED: &AsciiSet = &COMPONENT
    .remove(b':')
    .remove(b'/')
    .remove(b'?')
    .remove(b'[')
    .remove(b']')
    .remove(b'@')
    .remove(b'!')
    .remove(b'$')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')')
    .remove(b'*')
    .remove(b',')
    .remove(b';');

/// Cookie values: RFC 6265 `cookie-octet` excludes controls, space, `"`,
/// `,`, `;` and `\`; `%` is escaped so the encoding stays reversible.
const COOKIE: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b',')
    .add(b';')
    .add(b'\\')
    .add(b'%')
    .add(b'=');

/// The text of a primitive value (`None` for null).
pub fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        Value::Number(_) | Value::Bool(_) => Some(v.to_string()),
        // A nested structure where the style has none: JSON text.
        other => Some(other.to_string()),
    }
}

fn enc(text: &str, set: &'static AsciiSet) -> String {
    utf8_percent_encode(text, set).to_string()
}

/// Whether a path segment would be a dot segment once a server decodes it
/// (`.`, `..`, `%2e`, `%252E%252E`…): such a segment moves the request to
/// another path (RFC 3986 §5.2.4).
pub fn is_dot_segment(segment: &str) -> bool {
    let mut s = segment.to_owned();
    // Decode repeatedly: a server or proxy may decode more than once.
    for _ in 0..4 {
        if s == "." || s == ".." {
            return true;
        }
        let decoded = percent_decode_str(&s).decode_utf8_lossy().into_owned();
        if decoded == s {
            break;
        }
        s = decoded;
    }
    s == "." || s == ".."
}

/// A path parameter's text in its segment (`simple`, `label` or `matrix`
/// style), percent-encoded so it cannot add `/`, `?` or `#`.
pub fn path_value(name: &str, value: &Value, style: ParamStyle) -> String {
    let e = |t: &str| enc(t, SEGMENT);
    let (prefix, sep) = match style.style {
        Style::Label => (".", if style.explode { "." } else { "," }),
        Style::Matrix => (";", if style.explode { ";" } else { "," }),
        _ => ("", ","),
    };
    match value {
        Value::Array(items) => {
            let parts: Vec<String> = items
                .iter()
                .filter_map(scalar_text)
                .map(|t| e(&t))
                .collect();
            match style.style {
                Style::Matrix if style.explode => {
                    parts.iter().map(|p| format!(";{}={p}", e(name))).collect()
                }
                Style::Matrix => format!(";{}={}", e(name), parts.join(",")),
                _ => format!("{prefix}{}", parts.join(sep)),
            }
        }
        Value::Object(fields) => {
            let pairs = fields
                .iter()
                .filter_map(|(k, v)| Some((e(k), e(&scalar_text(v)?))));
            if style.explode {
                let joined: Vec<String> = pairs.map(|(k, v)| format!("{k}={v}")).collect();
                match style.style {
                    Style::Matrix => joined.iter().map(|p| format!(";{p}")).collect(),
                    _ => format!("{prefix}{}", joined.join(sep)),
                }
            } else {
                let flat: Vec<String> = pairs.flat_map(|(k, v)| [k, v]).collect();
                match style.style {
                    Style::Matrix => format!(";{}={}", e(name), flat.join(",")),
                    _ => format!("{prefix}{}", flat.join(",")),
                }
            }
        }
        other => {
            let text = e(&scalar_text(other).unwrap_or_default());
            match style.style {
                Style::Matrix => format!(";{}={text}", e(name)),
                Style::Label => format!(".{text}"),
                _ => text,
            }
        }
    }
}

/// `deepObject` pairs, nested the way Stripe's and Rails-style APIs read
/// them: `name[key][sub]=v`, arrays as `name[0]=v`, `name[0][key]=v`.
fn deep_pairs(prefix: &str, value: &Value, out: &mut Vec<(String, String)>) {
    match value {
        Value::Object(fields) => {
            for (k, v) in fields {
                deep_pairs(&format!("{prefix}[{k}]"), v, out);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                deep_pairs(&format!("{prefix}[{i}]"), v, out);
            }
        }
        Value::Null => {}
        other => {
            if let Some(t) = scalar_text(other) {
                out.push((prefix.to_owned(), t));
            }
        }
    }
}

/// Name/value pairs (not yet encoded) of a query parameter or form
/// property in `form`, `spaceDelimited`, `pipeDelimited` or `deepObject`
/// style, and the delimiter to join non-exploded values with.
fn form_pairs(
    name: &str,
    value: &Value,
    style: ParamStyle,
) -> (Vec<(String, String)>, Option<&'static str>) {
    let delimiter = match style.style {
        Style::SpaceDelimited => " ",
        Style::PipeDelimited => "|",
        _ => ",",
    };
    let mut out = Vec::new();
    match (style.style, value) {
        (Style::DeepObject, Value::Object(_) | Value::Array(_)) => {
            deep_pairs(name, value, &mut out);
            (out, None)
        }
        (_, Value::Array(items)) if style.explode => {
            out.extend(
                items
                    .iter()
                    .filter_map(scalar_text)
                    .map(|t| (name.to_owned(), t)),
            );
            (out, None)
        }
        (_, Value::Array(items)) => {
            let parts: Vec<String> = items.iter().filter_map(scalar_text).collect();
            out.push((name.to_owned(), parts.join("\u{0}")));
            (out, Some(delimiter))
        }
        (_, Value::Object(fields)) if style.explode => {
            out.extend(
                fields
                    .iter()
                    .filter_map(|(k, v)| Some((k.clone(), scalar_text(v)?))),
            );
            (out, None)
        }
        (_, Value::Object(fields)) => {
            let flat: Vec<String> = fields
                .iter()
                .filter_map(|(k, v)| Some([k.clone(), scalar_text(v)?]))
                .flatten()
                .collect();
            out.push((name.to_owned(), flat.join("\u{0}")));
            (out, Some(delimiter))
        }
        (_, other) => {
            if let Some(t) = scalar_text(other) {
                out.push((name.to_owned(), t));
            }
            (out, None)
        }
    }
}

/// A query parameter as `name=value` pieces, percent-encoded: `tags=red,green`
/// (form, not exploded), `tags=red&tags=green` (form, exploded),
/// `colors=blue%7Cblack` (pipeDelimited), `filter[status]=open` (deepObject).
pub fn query_pieces(name: &str, value: &Value, style: ParamStyle) -> Vec<String> {
    let set = if style.allow_reserved {
        RESERVED_ALLOWED
    } else {
        COMPONENT
    };
    let (pairs, delimiter) = form_pairs(name, value, style);
    pairs
        .into_iter()
        .map(|(k, v)| {
            // deepObject names keep their brackets readable.
            let key = if style.style == Style::DeepObject {
                enc(&k, COMPONENT).replace("%5B", "[").replace("%5D", "]")
            } else {
                enc(&k, COMPONENT)
            };
            let value = match delimiter {
                // The delimiter itself is written as OpenAPI's examples do:
                // `,` as is, `|` and space escaped.
                Some(d) => v
                    .split('\u{0}')
                    .map(|p| enc(p, set))
                    .collect::<Vec<_>>()
                    .join(&enc(d, RESERVED_ALLOWED)),
                None => enc(&v, set),
            };
            format!("{key}={value}")
        })
        .collect()
}

/// An `application/x-www-form-urlencoded` body from an object's properties,
/// each written in its style (default `form`, exploded).
pub fn form_body(fields: &Map<String, Value>, style_of: impl Fn(&str) -> ParamStyle) -> String {
    let mut pieces = Vec::new();
    for (name, value) in fields {
        pieces.extend(query_pieces(name, value, style_of(name)));
    }
    pieces.join("&")
}

/// A header parameter's value (`simple` style), or an error naming it when
/// the text could split or forge headers.
pub fn header_value(name: &str, value: &Value, explode: bool) -> Result<String, String> {
    let text = match value {
        Value::Array(items) => items
            .iter()
            .filter_map(scalar_text)
            .collect::<Vec<_>>()
            .join(","),
        Value::Object(fields) => {
            let pairs = fields
                .iter()
                .filter_map(|(k, v)| Some((k, scalar_text(v)?)));
            if explode {
                pairs
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(",")
            } else {
                pairs
                    .flat_map(|(k, v)| [k.clone(), v])
                    .collect::<Vec<_>>()
                    .join(",")
            }
        }
        other => scalar_text(other).unwrap_or_default(),
    };
    if text.chars().any(|c| c.is_control()) {
        return Err(format!(
            "Invalid arguments: {name} must not contain control characters (it is sent as a header)"
        ));
    }
    Ok(text)
}

/// A cookie parameter as `name=value` pairs for the `Cookie` header.
pub fn cookie_pieces(name: &str, value: &Value, style: ParamStyle) -> Vec<String> {
    let (pairs, delimiter) = form_pairs(name, value, style);
    pairs
        .into_iter()
        .map(|(k, v)| {
            let v = match delimiter {
                Some(_) => v
                    .split('\u{0}')
                    .map(|p| enc(p, COOKIE))
                    .collect::<Vec<_>>()
                    .join(","),
                None => enc(&v, COOKIE),
            };
            format!("{}={v}", enc(&k, COOKIE))
        })
        .collect()
}

/// One part of a multipart body.
pub struct Part {
    /// The form field name.
    pub name: String,
    /// `filename` of a file part.
    pub filename: Option<String>,
    /// The part's media type.
    pub content_type: Option<String>,
    /// The part's bytes.
    pub data: Vec<u8>,
}

fn quoted(s: &str) -> String {
    // RFC 7578 §4.2: names are quoted strings; escape what would end them.
    s.replace('\\', "\\\\")
        .replace('"', "%22")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// A `multipart/form-data` body (RFC 7578) and its boundary. The boundary
/// is derived from the content (SHA-256), so it cannot occur in it.
pub fn multipart(parts: &[Part]) -> (String, Vec<u8>) {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.name.as_bytes());
        h.update(&p.data);
    }
    let boundary = format!(
        "mcpgate-{}",
        h.finalize()
            .iter()
            .take(16)
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    );
    let mut body = Vec::new();
    for p in parts {
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        let mut disposition = format!(
            "Content-Disposition: form-data; name=\"{}\"",
            quoted(&p.name)
        );
        if let Some(f) = &p.filename {
            disposition.push_str(&format!("; filename=\"{}\"", quoted(f)));
        }
        body.extend_from_slice(disposition.as_bytes());
        body.extend_from_slice(b"\r\n");
        if let Some(ct) = &p.content_type
            && !ct.chars().any(|c| c.is_control())
        {
            body.extend_from_slice(format!("Content-Type: {ct}\r\n").as_bytes());
        }
        body.extend_from_slice(b"\r\n");
        body.extend_from_slice(&p.data);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (boundary, body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use mcpgate_catalog::integration::ParamIn;
    use serde_json::json;

    fn st(style: Style, explode: bool) -> ParamStyle {
        ParamStyle {
            style,
            explode,
            allow_reserved: false,
        }
    }

    #[test]
    fn query_styles_follow_the_openapi_examples() {
        let colors = json!(["blue", "black", "brown"]);
        let point = json!({"B": 150, "G": 200, "R": 100});
        let q = |v: &Value, s, e| query_pieces("color", v, st(s, e)).join("&");
        assert_eq!(q(&json!("blue"), Style::Form, true), "color=blue");
        assert_eq!(
            q(&colors, Style::Form, true),
            "color=blue&color=black&color=brown"
        );
        assert_eq!(q(&colors, Style::Form, false), "color=blue,black,brown");
        assert_eq!(q(&point, Style::Form, true), "B=150&G=200&R=100");
        assert_eq!(q(&point, Style::Form, false), "color=B,150,G,200,R,100");
        assert_eq!(
            q(&colors, Style::SpaceDelimited, false),
            "color=blue%20black%20brown"
        );
        assert_eq!(
            q(&colors, Style::PipeDelimited, false),
            "color=blue%7Cblack%7Cbrown"
        );
        assert_eq!(
            q(&point, Style::DeepObject, true),
            "color[B]=150&color[G]=200&color[R]=100"
        );
        // Values are escaped so they cannot add parameters.
        assert_eq!(
            q(&json!(["a,b", "c&d"]), Style::Form, false),
            "color=a%2Cb,c%26d"
        );
        assert_eq!(q(&json!("x y+z"), Style::Form, true), "color=x%20y%2Bz");
        let reserved = ParamStyle {
            allow_reserved: true,
            ..ParamStyle::default_for(ParamIn::Query)
        };
        assert_eq!(
            query_pieces("u", &json!("a/b:c&d"), reserved),
            ["u=a/b:c%26d"]
        );
    }

    #[test]
    fn path_styles_follow_the_openapi_examples() {
        let colors = json!(["blue", "black", "brown"]);
        let point = json!({"B": 150, "G": 200, "R": 100});
        let p = |v: &Value, s, e| path_value("color", v, st(s, e));
        assert_eq!(p(&json!("blue"), Style::Simple, false), "blue");
        assert_eq!(p(&colors, Style::Simple, false), "blue,black,brown");
        assert_eq!(p(&point, Style::Simple, false), "B,150,G,200,R,100");
        assert_eq!(p(&point, Style::Simple, true), "B=150,G=200,R=100");
        assert_eq!(p(&json!("blue"), Style::Label, false), ".blue");
        assert_eq!(p(&colors, Style::Label, true), ".blue.black.brown");
        assert_eq!(p(&colors, Style::Label, false), ".blue,black,brown");
        assert_eq!(p(&json!("blue"), Style::Matrix, false), ";color=blue");
        assert_eq!(
            p(&colors, Style::Matrix, true),
            ";color=blue;color=black;color=brown"
        );
        assert_eq!(p(&colors, Style::Matrix, false), ";color=blue,black,brown");
        assert_eq!(p(&point, Style::Matrix, true), ";B=150;G=200;R=100");
        assert_eq!(
            p(&json!("../a?b#c"), Style::Simple, false),
            "..%2Fa%3Fb%23c"
        );
    }

    #[test]
    fn dot_segments_are_seen_in_every_encoding() {
        for s in [".", "..", "%2e", "%2E%2e", "%252e%252e", ".%2E"] {
            assert!(is_dot_segment(s), "{s}");
        }
        for s in ["...", "a..", ".a", "%2e%2e%2e", ""] {
            assert!(!is_dot_segment(s), "{s}");
        }
    }

    #[test]
    fn stripe_style_form_bodies() {
        let fields = json!({"email": "ada@example.com", "metadata": {"plan": "pro"}, "expand": ["a", "b"], "tags": ["x", "y"]});
        let body = form_body(fields.as_object().unwrap(), |name| match name {
            "metadata" | "expand" => st(Style::DeepObject, true),
            _ => ParamStyle::default_for(ParamIn::Query),
        });
        assert_eq!(
            body,
            "email=ada%40example.com&expand[0]=a&expand[1]=b&metadata[plan]=pro&tags=x&tags=y"
        );
    }

    #[test]
    fn headers_refuse_line_breaks_and_cookies_escape() {
        assert_eq!(header_value("X-Ids", &json!([1, 2]), false).unwrap(), "1,2");
        assert!(header_value("X-A", &json!("a\r\nInjected: 1"), false).is_err());
        assert_eq!(
            cookie_pieces(
                "s",
                &json!("a;b c"),
                ParamStyle::default_for(ParamIn::Cookie)
            ),
            ["s=a%3Bb%20c"]
        );
    }

    #[test]
    fn multipart_bodies_frame_their_parts() {
        let (boundary, body) = multipart(&[
            Part {
                name: "note".into(),
                filename: None,
                content_type: None,
                data: b"hi".to_vec(),
            },
            Part {
                name: "file".into(),
                filename: Some("a\".txt".into()),
                content_type: Some("text/plain".into()),
                data: b"abc".to_vec(),
            },
        ]);
        let text = String::from_utf8(body).unwrap();
        assert!(
            text.starts_with(&format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhi\r\n"
            )),
            "{text}"
        );
        assert!(
            text.contains(
                "name=\"file\"; filename=\"a%22.txt\"\r\nContent-Type: text/plain\r\n\r\nabc\r\n"
            ),
            "{text}"
        );
        assert!(text.ends_with(&format!("--{boundary}--\r\n")));
    }
}
