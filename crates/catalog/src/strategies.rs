//! `proptest` generators of the input other people control — names,
//! schemas and tool lists with CJK, emoji, right-to-left marks, combining
//! marks, NUL, path and template punctuation — for property tests here and
//! in other crates (feature `proptest`).

use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

/// One character, weighted towards what breaks naive code: ASCII letters
/// mixed with separators, multi-byte letters, marks and control characters.
pub fn hostile_char() -> impl Strategy<Value = char> {
    prop_oneof![
        6 => proptest::char::range('a', 'z'),
        2 => proptest::char::range('A', 'Z'),
        1 => proptest::char::range('0', '9'),
        3 => proptest::sample::select(vec![
            '.', '/', ' ', '_', '-', '\0', '{', '}', '~', '%', '[', ']', '<', '"', '\\', '\n',
            '\u{202e}', // right-to-left override
            '\u{200f}', // right-to-left mark
            '\u{0301}', // combining acute accent
            '\u{fe0f}', // variation selector
            '天', '気', '😀', '👩', 'ß', 'é', 'ا', 'ש',
        ]),
        1 => any::<char>(),
    ]
}

/// A string of up to `max` [`hostile_char`]s (so up to 4 × `max` bytes).
pub fn hostile_string(max: usize) -> impl Strategy<Value = String> {
    vec(hostile_char(), 0..=max).prop_map(String::from_iter)
}

/// A JSON Schema whose property keys (at every depth: nested objects,
/// `items`, `anyOf`, `$defs` reached by `$ref`) are hostile strings; now
/// and then a boolean or otherwise odd schema where a subschema goes.
pub fn hostile_schema() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        4 => proptest::sample::select(vec!["string", "integer", "number", "boolean"])
            .prop_map(|t| json!({ "type": t })),
        1 => any::<bool>().prop_map(Value::Bool),
        1 => Just(json!({"$ref": "#/$defs/Node"})),
        1 => Just(json!({"$ref": "#/$defs/missing"})),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            3 => (btree_map(hostile_string(24), inner.clone(), 0..6), any::<bool>())
                .prop_map(|(props, require)| object(props, require)),
            1 => inner.clone().prop_map(|items| json!({"type": "array", "items": items})),
            1 => vec(inner.clone(), 1..3).prop_map(|branches| json!({ "anyOf": branches })),
            1 => (btree_map(hostile_string(24), inner, 1..4), any::<bool>()).prop_map(
                |(props, require)| json!({
                    "type": "object",
                    "properties": {"node": {"$ref": "#/$defs/Node"}},
                    "$defs": {"Node": object(props, require)}
                })
            ),
        ]
    })
}

fn object(props: std::collections::BTreeMap<String, Value>, require: bool) -> Value {
    let required: Vec<&String> = if require {
        props.keys().collect()
    } else {
        Vec::new()
    };
    json!({"type": "object", "properties": Map::from_iter(props.clone()), "required": required})
}

/// An upstream's `tools/list` entry: mostly `{name, inputSchema}` with
/// hostile names and schemas (sometimes a title), sometimes junk an
/// upstream should not send (no name, a number for a name, not an object).
pub fn hostile_tool() -> impl Strategy<Value = Value> {
    prop_oneof![
        8 => (hostile_string(40), hostile_schema(), proptest::option::of(hostile_string(8)))
            .prop_map(|(name, schema, title)| {
                let mut tool = json!({"name": name, "inputSchema": {"type": "object"}});
                if schema.is_object() {
                    tool["inputSchema"] = schema;
                }
                if let Some(t) = title {
                    tool["title"] = json!(t);
                }
                tool
            }),
        1 => hostile_string(40).prop_map(|name| json!({ "name": name })),
        1 => prop_oneof![
            Just(json!({"name": 7})),
            Just(json!("tool")),
            Just(Value::Null),
            Just(json!({"name": "x", "inputSchema": "not a schema"})),
        ],
    ]
}
