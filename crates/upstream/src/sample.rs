//! Sample values that follow a JSON Schema the way a real API's answers do,
//! for the sandbox twin: `pattern` (strings generated from the regular
//! expression by `rand_regex`), `enum`, `const`, `format` (RFC 3339 and
//! RFC 2822 timestamps, dates, times, UUIDs, URIs, e-mail addresses, host
//! names, IPv4/IPv6, E.164 phone numbers…), numeric bounds and `multipleOf`,
//! string lengths, and timestamps that agree within an object (created ≤
//! updated ≤ now). Deterministic: the same schema and seed give the same
//! value.

use rand::distr::Distribution;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use time::OffsetDateTime;
use time::format_description::well_known::{Rfc2822, Rfc3339};

/// The sandbox's "now" for generated timestamps: a fixed instant (so answers
/// stay deterministic), or the clock when that is earlier.
const ANCHOR: i64 = 1_767_225_600; // 2026-01-01T00:00:00Z
/// Generated timestamps lie within this many seconds before the anchor.
const WINDOW: i64 = 2 * 365 * 86_400;
/// Deepest nesting generated (recursive schemas end earlier).
const MAX_DEPTH: usize = 12;
/// Extra repetitions `*`, `+` and `{n,}` get in a pattern: short strings.
const MAX_REPEAT: u32 = 8;
/// Longest string a pattern may produce; longer ones fall back.
const MAX_PATTERN_LEN: usize = 512;
/// Most items a simulated array gets, whatever `minItems` says: a schema's
/// bounds are someone else's numbers, the memory is ours.
const MAX_ITEMS: u64 = 100;
/// Most characters a simulated string gets, whatever `minLength` says.
const MAX_CHARS: u64 = 4096;

/// A small deterministic generator (SplitMix64), also the random source
/// `rand_regex` draws from.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: &str) -> Self {
        let d = Sha256::digest(seed.as_bytes());
        Self(u64::from_le_bytes(d[..8].try_into().expect("8 bytes")))
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (0 when `n` is 0).
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next() % n }
    }

    fn pick<'a, T>(&mut self, options: &'a [T]) -> &'a T {
        &options[self.below(options.len() as u64) as usize]
    }
}

impl rand::TryRng for Rng {
    type Error = std::convert::Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        Ok((self.next() >> 32) as u32)
    }

    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        Ok(self.next())
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        for chunk in dst.chunks_mut(8) {
            let bytes = self.next().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
        Ok(())
    }
}

const WORDS: [&str; 12] = [
    "alpha", "harbor", "maple", "quartz", "river", "summit", "cobalt", "meadow", "orbit",
    "pioneer", "lumen", "vertex",
];
const FIRST: [&str; 8] = [
    "Ada", "Grace", "Alan", "Linus", "Barbara", "Ken", "Margaret", "Dennis",
];
const LAST: [&str; 8] = [
    "Lovelace", "Hopper", "Turing", "Torvalds", "Liskov", "Thompson", "Hamilton", "Ritchie",
];

/// Generate a value for `schema` (`defs` resolve its `$ref`s).
pub fn generate(schema: &Value, defs: &Map<String, Value>, seed: &str) -> Value {
    Sampler::new(defs, seed).value(schema, 0, "")
}

/// Fill the fields a client asked for by name (`properties=email,firstname`,
/// `fields`, `$select`, `opt_fields`) into `object`: into its
/// `properties` map when `into_properties` and it has one (HubSpot), else
/// at its top level. A generated object gets generated values; a stored
/// one `null` for what was never set, as the API would answer.
pub fn fill_asked(
    object: &mut Value,
    names: &[String],
    into_properties: bool,
    generated: bool,
    seed: &str,
) {
    let no_defs = Map::new();
    let mut sampler = Sampler::new(&no_defs, seed);
    let Some(o) = object.as_object_mut() else {
        return;
    };
    let target = match o.get_mut("properties") {
        Some(Value::Object(p)) if into_properties => p,
        _ => o,
    };
    for name in names {
        if !target.contains_key(name) {
            let v = if generated {
                Value::String(sampler.by_key(name))
            } else {
                Value::Null
            };
            target.insert(name.clone(), v);
        }
    }
    if generated {
        sampler.timestamps(target);
    }
}

/// Move an object's updated-like timestamps forward (an update happened),
/// never before its created-like ones nor after the clock.
pub fn touch(object: &mut Value, seed: &str) {
    let mut rng = Rng::new(seed);
    let Some(o) = object.as_object_mut() else {
        return;
    };
    let created = o
        .iter()
        .filter(|(k, _)| stamp_role(k) == Some(Role::Created))
        .filter_map(|(_, v)| Stamp::read(v).map(|(_, t)| t))
        .max()
        .unwrap_or(0);
    let now = OffsetDateTime::now_utc().unix_timestamp();
    for (k, v) in o.iter_mut() {
        if stamp_role(k) == Some(Role::Updated)
            && let Some((kind, t)) = Stamp::read(v)
        {
            let later = t.max(created).saturating_add(60 + rng.below(86_400) as i64);
            let t = later.min(now.max(t));
            *v = kind.write(t);
        }
    }
}

struct Sampler<'a> {
    defs: &'a Map<String, Value>,
    rng: Rng,
    /// `$ref`s being expanded (recursion ends at the second visit).
    refs: Vec<String>,
    anchor: i64,
}

impl<'a> Sampler<'a> {
    fn new(defs: &'a Map<String, Value>, seed: &str) -> Self {
        Self {
            defs,
            rng: Rng::new(seed),
            refs: Vec::new(),
            anchor: ANCHOR.min(OffsetDateTime::now_utc().unix_timestamp()),
        }
    }

    fn value(&mut self, schema: &Value, depth: usize, key: &str) -> Value {
        let Some(s) = schema.as_object() else {
            return Value::Null;
        };
        if depth > MAX_DEPTH {
            return Value::Null;
        }
        if let Some(r) = s.get("$ref").and_then(Value::as_str) {
            let name = r.rsplit('/').next().unwrap_or("").to_owned();
            let visits = self.refs.iter().filter(|n| **n == name).count();
            let Some(target) = self.defs.get(&name).filter(|_| visits < 2) else {
                return Value::Null;
            };
            self.refs.push(name);
            let v = self.value(target, depth + 1, key);
            self.refs.pop();
            return v;
        }
        if let Some(c) = s.get("const") {
            return c.clone();
        }
        if let Some(options) = s.get("enum").and_then(Value::as_array) {
            let non_null: Vec<&Value> = options.iter().filter(|v| !v.is_null()).collect();
            return if non_null.is_empty() {
                Value::Null
            } else {
                (*self.rng.pick(&non_null)).clone()
            };
        }
        if let Some(examples) = s
            .get("examples")
            .and_then(Value::as_array)
            .filter(|e| !e.is_empty())
        {
            return self.rng.pick(examples).clone();
        }
        for combinator in ["oneOf", "anyOf"] {
            if let Some(branches) = s.get(combinator).and_then(Value::as_array) {
                let branch = branches
                    .iter()
                    .find(|b| b.get("type") != Some(&json!("null")))
                    .or(branches.first());
                if let Some(b) = branch {
                    return self.value(b, depth + 1, key);
                }
            }
        }
        if let Some(parts) = s.get("allOf").and_then(Value::as_array) {
            let mut merged = Map::new();
            let mut last = Value::Null;
            for part in parts {
                match self.value(part, depth + 1, key) {
                    Value::Object(o) => merged.extend(o),
                    other => last = other,
                }
            }
            if !s.contains_key("properties") {
                return if merged.is_empty() {
                    last
                } else {
                    Value::Object(merged)
                };
            }
            if let Value::Object(mut own) = self.object(s, depth, key) {
                own.extend(merged);
                return Value::Object(own);
            }
        }
        let ty = match s.get("type") {
            Some(Value::String(t)) => t.as_str(),
            Some(Value::Array(ts)) => ts
                .iter()
                .filter_map(Value::as_str)
                .find(|t| *t != "null")
                .unwrap_or("null"),
            _ if s.contains_key("properties") || s.contains_key("additionalProperties") => "object",
            _ if s.contains_key("items") => "array",
            _ => "string",
        };
        match ty {
            "object" => self.object(s, depth, key),
            "array" => {
                let min = s
                    .get("minItems")
                    .and_then(Value::as_u64)
                    .unwrap_or(1)
                    .min(MAX_ITEMS);
                let max = s
                    .get("maxItems")
                    .and_then(Value::as_u64)
                    .unwrap_or(min.max(3))
                    .max(min);
                let n = if depth >= 4 {
                    min
                } else {
                    min + self.rng.below((max - min).saturating_add(1).min(3))
                };
                let items = s.get("items").cloned().unwrap_or(json!({}));
                Value::Array((0..n).map(|_| self.value(&items, depth + 1, key)).collect())
            }
            "integer" => self.integer(s, key),
            "number" => self.number(s),
            "boolean" => json!(self.rng.below(2) == 1),
            "null" => Value::Null,
            _ => Value::String(self.string(s, key)),
        }
    }

    fn object(&mut self, s: &Map<String, Value>, depth: usize, _key: &str) -> Value {
        let mut out = Map::new();
        if let Some(props) = s.get("properties").and_then(Value::as_object) {
            for (name, sub) in props {
                let v = self.value(sub, depth + 1, name);
                out.insert(name.clone(), v);
            }
        }
        self.timestamps(&mut out);
        Value::Object(out)
    }

    /// A time in the window before the anchor.
    fn past(&mut self) -> i64 {
        self.anchor - 1 - self.rng.below(WINDOW as u64) as i64
    }

    /// Created-like and updated-like timestamps of one object, in the
    /// representation each was generated in, made to agree: created ≤
    /// updated ≤ the anchor.
    fn timestamps(&mut self, out: &mut Map<String, Value>) {
        let roles: Vec<(String, Role, Stamp)> = out
            .iter()
            .filter_map(|(k, v)| Some((k.clone(), stamp_role(k)?, Stamp::read(v)?.0)))
            .collect();
        if roles.is_empty() {
            return;
        }
        let created = self.past();
        let updated = created + self.rng.below((self.anchor - created) as u64) as i64;
        for (k, role, kind) in roles {
            let t = if role == Role::Created {
                created
            } else {
                updated
            };
            out.insert(k, kind.write(t));
        }
    }

    fn integer(&mut self, s: &Map<String, Value>, key: &str) -> Value {
        let format = s.get("format").and_then(Value::as_str).unwrap_or("");
        let (mut lo, mut hi) = bounds(s, 1.0, 1000.0, 1.0);
        if !s.contains_key("minimum") && !s.contains_key("maximum") {
            if format == "unix-time" || format == "timestamp" || stamp_role(key).is_some() {
                return json!(self.past());
            }
            if is_id_key(key) {
                (lo, hi) = (100_000.0, 999_999.0);
            }
        }
        let step = s
            .get("multipleOf")
            .and_then(Value::as_f64)
            .filter(|m| *m >= 1.0)
            .unwrap_or(1.0);
        // Float-to-int casts saturate; the arithmetic below saturates too,
        // so no document's bounds can overflow it.
        let (first, last) = ((lo / step).ceil() as i64, (hi / step).floor() as i64);
        if last < first {
            return json!(lo.ceil() as i64);
        }
        let span = last.abs_diff(first).saturating_add(1);
        let k = first.saturating_add_unsigned(self.rng.below(span));
        json!(k.saturating_mul(step as i64))
    }

    fn number(&mut self, s: &Map<String, Value>) -> Value {
        let (lo, hi) = bounds(s, 0.0, 1000.0, 0.01);
        let x = lo + (hi - lo) * (self.rng.below(10_001) as f64 / 10_000.0);
        match s
            .get("multipleOf")
            .and_then(Value::as_f64)
            .filter(|m| *m > 0.0)
        {
            Some(m) => {
                let (first, last) = ((lo / m).ceil(), (hi / m).floor());
                if first <= last {
                    json!((x / m).round().clamp(first, last) * m)
                } else {
                    // No multiple within the bounds: the bound itself.
                    json!(lo)
                }
            }
            None => json!(((x * 100.0).round() / 100.0).clamp(lo, hi)),
        }
    }

    fn string(&mut self, s: &Map<String, Value>, key: &str) -> String {
        let min = s
            .get("minLength")
            .and_then(Value::as_u64)
            .unwrap_or(0)
            .min(MAX_CHARS) as usize;
        let max = s
            .get("maxLength")
            .and_then(Value::as_u64)
            .map(|m| m.min(MAX_CHARS.max(min as u64)) as usize);
        if let Some(pattern) = s.get("pattern").and_then(Value::as_str)
            && let Some(regex) = compiled(pattern)
        {
            // A few draws for one within the length bounds.
            for _ in 0..8 {
                if let Ok(text) = <rand_regex::Regex as Distribution<Result<String, _>>>::sample(
                    &regex,
                    &mut self.rng,
                ) {
                    let n = text.chars().count();
                    if n >= min && max.is_none_or(|m| n <= m) {
                        return text;
                    }
                }
            }
        }
        let text = match s.get("format").and_then(Value::as_str) {
            Some(f) => self.formatted(f),
            None => None,
        }
        .unwrap_or_else(|| self.by_key(key));
        fit_length(text, min, max)
    }

    /// A string in a named format, if the format is known.
    fn formatted(&mut self, format: &str) -> Option<String> {
        let n = self.rng.next();
        let word = WORDS[(n % 12) as usize];
        Some(match format {
            "date-time" => Stamp::Rfc3339.text(self.past()),
            "date-time-rfc-2822" | "date-time-rfc2822" | "rfc2822" | "rfc-2822" => {
                Stamp::Rfc2822.text(self.past())
            }
            "date" => Stamp::Date.text(self.past()),
            "time" => format!("{:02}:{:02}:{:02}", n % 24, (n >> 8) % 60, (n >> 16) % 60),
            "duration" => format!("PT{}M", 1 + n % 90),
            "unix-time" | "timestamp" => self.past().to_string(),
            "uuid" | "guid" => self.uuid(),
            "uri" | "url" | "iri" => format!("https://example.com/{word}/{}", n % 10_000),
            "uri-reference" | "iri-reference" | "uri-template" => format!("/{word}/{}", n % 10_000),
            "email" | "idn-email" => self.email(),
            "hostname" | "idn-hostname" => format!("{word}.example.com"),
            "ipv4" => format!("192.0.2.{}", n % 254 + 1),
            "ipv6" => format!("2001:db8::{:x}", n % 0xffff + 1),
            "phone-number" | "phone" | "e164" => format!("+1555010{:04}", n % 10_000),
            "byte" => "c2FtcGxl".to_owned(),
            "binary" => word.to_owned(),
            "password" => format!("{word}-{}", n % 10_000),
            "currency" | "iso-currency-code" => {
                (*self.rng.pick(&["USD", "EUR", "GBP", "JPY"])).to_owned()
            }
            "iso-country-code" | "country-code" => {
                (*self.rng.pick(&["US", "GB", "DE", "FR", "JP"])).to_owned()
            }
            "http-method" => (*self.rng.pick(&["GET", "POST"])).to_owned(),
            "int32" | "int64" | "integer" => (n % 100_000).to_string(),
            "decimal" | "double" | "float" | "number" => {
                format!("{}.{:02}", n % 1000, (n >> 10) % 100)
            }
            "language" | "bcp47" | "locale" => "en-US".to_owned(),
            "json-pointer" => format!("/{word}/0"),
            "regex" => "^[a-z]+$".to_owned(),
            _ => return None,
        })
    }

    fn uuid(&mut self) -> String {
        let (a, b) = (self.rng.next(), self.rng.next());
        format!(
            "{:08x}-{:04x}-4{:03x}-{:x}{:03x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xfff,
            8 + (b >> 62),
            (b >> 48) & 0xfff,
            b & 0xffff_ffff_ffff
        )
    }

    fn email(&mut self) -> String {
        let first = self.rng.pick(&FIRST).to_lowercase();
        let last = self.rng.pick(&LAST).to_lowercase();
        format!("{first}.{last}@example.com")
    }

    /// A plausible string for a field, by its name.
    fn by_key(&mut self, key: &str) -> String {
        let k = key.to_ascii_lowercase().replace(['-', ' '], "_");
        let n = self.rng.next();
        let word = WORDS[(n % 12) as usize];
        if k.contains("email") {
            self.email()
        } else if (k.contains("first") && k.contains("name")) || k == "given_name" {
            (*self.rng.pick(&FIRST)).to_owned()
        } else if (k.contains("last") && k.contains("name")) || k == "family_name" || k == "surname"
        {
            (*self.rng.pick(&LAST)).to_owned()
        } else if k.contains("phone") || k == "mobile" || k == "to" || k == "from" {
            format!("+1555010{:04}", n % 10_000)
        } else if k.contains("url")
            || k.contains("website")
            || k.contains("href")
            || k.ends_with("uri")
        {
            format!("https://example.com/{word}/{}", n % 10_000)
        } else if k.contains("domain") || k.contains("hostname") {
            format!("{word}.example.com")
        } else if stamp_role(key).is_some() || k.ends_with("_at") || k.contains("date") {
            Stamp::Rfc3339.text(self.past())
        } else if is_id_key(key) {
            format!("{}", 100_000 + n % 900_000)
        } else if k.starts_with("num_") || k.ends_with("_count") || k == "count" {
            (n % 10).to_string()
        } else if ["price", "amount", "cost", "balance", "total"]
            .iter()
            .any(|w| k.contains(w))
        {
            format!("{}.{:02}", n % 100, (n >> 8) % 100)
        } else if k.contains("version") {
            format!("{}.{}", 1 + n % 3, (n >> 4) % 10)
        } else if k.contains("company") || k.contains("organization") {
            format!("{} Inc.", capitalize(word))
        } else if k.contains("name") || k == "title" || k == "label" {
            format!("{} {}", self.rng.pick(&FIRST), self.rng.pick(&LAST))
        } else if k == "country" {
            (*self.rng.pick(&["US", "GB", "DE", "FR"])).to_owned()
        } else if k == "currency" {
            "USD".to_owned()
        } else if k == "status" || k == "state" {
            (*self.rng.pick(&["active", "pending", "closed"])).to_owned()
        } else if k.contains("description")
            || k == "body"
            || k.contains("text")
            || k.contains("message")
            || k.contains("note")
        {
            format!("A note about {word} {}.", WORDS[((n >> 8) % 12) as usize])
        } else {
            format!("{word}-{}", n % 1000)
        }
    }
}

fn capitalize(w: &str) -> String {
    let mut c = w.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

/// `minimum`/`maximum` (inclusive) or `exclusiveMinimum`/`exclusiveMaximum`
/// (one `step` inside), with defaults around what is given.
fn bounds(s: &Map<String, Value>, lo: f64, hi: f64, step: f64) -> (f64, f64) {
    let get = |k: &str| s.get(k).and_then(Value::as_f64);
    let min = get("minimum").or_else(|| get("exclusiveMinimum").map(|m| m + step));
    let max = get("maximum").or_else(|| get("exclusiveMaximum").map(|m| m - step));
    let (min, max) = match (min, max) {
        (Some(a), Some(b)) => (a, b),
        (Some(a), None) => (a, a.max(lo) + (hi - lo)),
        (None, Some(b)) => (b.min(hi) - (hi - lo), b),
        (None, None) => (lo, hi),
    };
    (min, max.max(min))
}

fn fit_length(mut text: String, min: usize, max: Option<usize>) -> String {
    let mut n = text.chars().count();
    while n < min {
        text.push('x');
        n += 1;
    }
    if let Some(max) = max
        && n > max
    {
        text = text.chars().take(max).collect();
    }
    text
}

fn is_id_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    k == "id"
        || k == "sid"
        || k == "gid"
        || k.ends_with("_id")
        || key.ends_with("Id")
        || key.ends_with("ID")
}

/// What a timestamp field says about its object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Created,
    Updated,
}

/// By name: `created`, `created_at`, `createdAt`, `date_created`,
/// `createdate`, `creation_date`…; `updated`, `updatedAt`, `date_updated`,
/// `modified`, `lastmodifieddate`….
fn stamp_role(key: &str) -> Option<Role> {
    let k: String = key
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect();
    if k.ends_with("by") || k.ends_with("id") {
        return None;
    }
    if k.contains("creat") {
        Some(Role::Created)
    } else if k.contains("updat") || k.contains("modif") {
        Some(Role::Updated)
    } else {
        None
    }
}

/// How a timestamp is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stamp {
    Rfc3339,
    Rfc2822,
    Date,
    Seconds,
    Millis,
}

impl Stamp {
    /// The representation and instant of a generated timestamp.
    fn read(v: &Value) -> Option<(Self, i64)> {
        match v {
            Value::Number(n) => {
                let n = n.as_i64()?;
                if n > 100_000_000_000 {
                    Some((Self::Millis, n / 1000))
                } else {
                    (n > 100_000_000).then_some((Self::Seconds, n))
                }
            }
            Value::String(s) => {
                if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
                    Some((Self::Rfc3339, t.unix_timestamp()))
                } else if let Ok(t) = OffsetDateTime::parse(s, &Rfc2822) {
                    Some((Self::Rfc2822, t.unix_timestamp()))
                } else {
                    let d = time::Date::parse(
                        s,
                        time::macros::format_description!("[year]-[month]-[day]"),
                    )
                    .ok()?;
                    Some((Self::Date, d.midnight().assume_utc().unix_timestamp()))
                }
            }
            _ => None,
        }
    }

    fn text(self, t: i64) -> String {
        let at = OffsetDateTime::from_unix_timestamp(t).unwrap_or(OffsetDateTime::UNIX_EPOCH);
        match self {
            Self::Rfc3339 => at.format(&Rfc3339),
            Self::Rfc2822 => at.format(&Rfc2822),
            Self::Date => at
                .date()
                .format(time::macros::format_description!("[year]-[month]-[day]")),
            Self::Seconds => Ok(t.to_string()),
            Self::Millis => Ok(t.saturating_mul(1000).to_string()),
        }
        .unwrap_or_default()
    }

    fn write(self, t: i64) -> Value {
        match self {
            Self::Seconds => json!(t),
            Self::Millis => json!(t.saturating_mul(1000)),
            _ => Value::String(self.text(t)),
        }
    }
}

/// A pattern compiled for generation, cached (bounded) by its text. ASCII
/// is preferred where a class allows it (`\d` gives 0-9, `\w` ASCII word
/// characters); anchors and word boundaries are dropped (JSON Schema
/// patterns are searches, and a generated match satisfies them anchored).
/// `None` for a pattern the generator cannot take (look-around,
/// back-references) or whose matches could be very long.
fn compiled(pattern: &str) -> Option<Arc<rand_regex::Regex>> {
    static CACHE: OnceLock<Mutex<HashMap<String, Option<Arc<rand_regex::Regex>>>>> =
        OnceLock::new();
    let cache = CACHE.get_or_init(Mutex::default);
    if let Some(hit) = cache.lock().ok()?.get(pattern) {
        return hit.clone();
    }
    let made = (pattern.len() <= 1000)
        .then(|| {
            regex_syntax::ParserBuilder::new()
                .build()
                .parse(pattern)
                .ok()
        })
        .flatten()
        .and_then(|hir| rand_regex::Regex::with_hir(ascii_first(hir), MAX_REPEAT).ok())
        .filter(|r| r.is_utf8() && r.capacity() <= MAX_PATTERN_LEN * 4)
        .map(Arc::new);
    let mut map = cache.lock().ok()?;
    if map.len() >= 4096 {
        map.clear();
    }
    map.insert(pattern.to_owned(), made.clone());
    made
}

/// The same expression without assertions, each character class narrowed
/// to printable ASCII where that leaves it any character.
fn ascii_first(hir: regex_syntax::hir::Hir) -> regex_syntax::hir::Hir {
    use regex_syntax::hir::{Class, ClassUnicode, ClassUnicodeRange, Hir, HirKind};
    match hir.into_kind() {
        HirKind::Look(_) => Hir::empty(),
        HirKind::Class(Class::Unicode(class)) => {
            let mut ascii = class.clone();
            ascii.intersect(&ClassUnicode::new([ClassUnicodeRange::new(' ', '~')]));
            Hir::class(Class::Unicode(if ascii.ranges().is_empty() {
                class
            } else {
                ascii
            }))
        }
        HirKind::Repetition(mut rep) => {
            rep.sub = Box::new(ascii_first(*rep.sub));
            Hir::repetition(rep)
        }
        HirKind::Capture(mut cap) => {
            cap.sub = Box::new(ascii_first(*cap.sub));
            Hir::capture(cap)
        }
        HirKind::Concat(subs) => Hir::concat(subs.into_iter().map(ascii_first).collect()),
        HirKind::Alternation(subs) => Hir::alternation(subs.into_iter().map(ascii_first).collect()),
        HirKind::Empty => Hir::empty(),
        HirKind::Literal(lit) => Hir::literal(lit.0),
        HirKind::Class(class) => Hir::class(class),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(schema: Value, seed: &str) -> Value {
        generate(&schema, &Map::new(), seed)
    }

    fn is_hex(s: &str) -> bool {
        s.chars().all(|c| c.is_ascii_hexdigit())
    }

    #[test]
    fn patterns_are_matched() {
        for seed in ["a", "b", "c", "d"] {
            let sid = sample(
                json!({"type": "string", "pattern": "^SM[0-9a-fA-F]{32}$", "minLength": 34, "maxLength": 34}),
                seed,
            );
            let sid = sid.as_str().unwrap();
            assert!(
                sid.len() == 34 && sid.starts_with("SM") && is_hex(&sid[2..]),
                "{sid}"
            );
            // `\d` and `\w` give ASCII; unbounded repetition stays short.
            let code = sample(
                json!({"type": "string", "pattern": "^[A-Z]{2}-\\d{4}-\\w+$"}),
                seed,
            );
            let code = code.as_str().unwrap();
            let (head, rest) = code.split_at(3);
            assert!(
                head.chars().take(2).all(|c| c.is_ascii_uppercase()) && head.ends_with('-'),
                "{code}"
            );
            assert!(
                rest[..4].chars().all(|c| c.is_ascii_digit()) && rest.len() <= 5 + 9,
                "{code}"
            );
            assert!(code.is_ascii(), "{code}");
        }
        // A pattern the generator cannot take falls back to a plain string.
        let v = sample(json!({"type": "string", "pattern": "^(?=x)y$"}), "s");
        assert!(v.is_string());
    }

    #[test]
    fn enums_formats_and_bounds_are_honoured() {
        for seed in ["1", "2", "3", "4", "5", "6"] {
            let e = sample(
                json!({"type": ["string", "null"], "enum": ["queued", "sent", null]}),
                seed,
            );
            assert!(e == "queued" || e == "sent", "{e}");
            let f = |format: &str| {
                sample(json!({"type": "string", "format": format}), seed)
                    .as_str()
                    .unwrap()
                    .to_owned()
            };
            OffsetDateTime::parse(&f("date-time"), &Rfc3339).unwrap();
            OffsetDateTime::parse(&f("date-time-rfc-2822"), &Rfc2822).unwrap();
            assert!(
                time::Date::parse(
                    &f("date"),
                    time::macros::format_description!("[year]-[month]-[day]")
                )
                .is_ok()
            );
            assert!(
                time::Time::parse(
                    &f("time"),
                    time::macros::format_description!("[hour]:[minute]:[second]")
                )
                .is_ok()
            );
            let uuid = f("uuid");
            assert!(
                uuid.len() == 36
                    && uuid.split('-').map(str::len).eq([8, 4, 4, 4, 12])
                    && uuid.as_bytes()[14] == b'4',
                "{uuid}"
            );
            assert!(f("email").contains('@'));
            assert!(f("uri").starts_with("https://"));
            f("ipv4").parse::<std::net::Ipv4Addr>().unwrap();
            f("ipv6").parse::<std::net::Ipv6Addr>().unwrap();
            assert!(f("hostname").ends_with(".example.com"));
            assert!(f("phone-number").starts_with("+1555"));

            let n = sample(
                json!({"type": "integer", "minimum": 10, "maximum": 20, "multipleOf": 5}),
                seed,
            );
            assert!([10, 15, 20].contains(&n.as_i64().unwrap()), "{n}");
            let n = sample(
                json!({"type": "integer", "exclusiveMinimum": 0, "exclusiveMaximum": 3}),
                seed,
            );
            assert!((1..=2).contains(&n.as_i64().unwrap()), "{n}");
            let x = sample(
                json!({"type": "number", "minimum": 0.5, "maximum": 2.5, "multipleOf": 0.5}),
                seed,
            )
            .as_f64()
            .unwrap();
            assert!((0.5..=2.5).contains(&x) && (x * 2.0).fract() == 0.0, "{x}");
            let s = sample(
                json!({"type": "string", "minLength": 12, "maxLength": 14}),
                seed,
            );
            assert!(
                (12..=14).contains(&s.as_str().unwrap().chars().count()),
                "{s}"
            );
            let id = sample(
                json!({"type": "object", "properties": {"id": {"type": "integer"}}}),
                seed,
            );
            assert!(id["id"].is_i64(), "{id}");
        }
    }

    #[test]
    fn hostile_bounds_and_stored_times_do_not_panic() {
        let huge = json!({"type": "integer", "minimum": -9.3e18, "maximum": 9.3e18});
        assert!(sample(huge, "s").is_i64());
        let none = json!({"type": "number", "minimum": 0.1, "maximum": 0.2, "multipleOf": 0.5});
        assert_eq!(sample(none, "s"), json!(0.1));
        let empty = json!({"type": "integer", "minimum": 5, "maximum": 4, "multipleOf": 3});
        assert!(sample(empty, "s").is_i64());
        let mut far = json!({"createdAt": 1, "updatedAt": i64::MAX});
        touch(&mut far, "s");
        assert!(far["updatedAt"].is_i64());
    }

    #[test]
    fn timestamps_agree_within_an_object() {
        let schema = json!({"type": "object", "properties": {
            "createdAt": {"type": "string", "format": "date-time"},
            "updatedAt": {"type": "string", "format": "date-time"},
            "date_created": {"type": "string", "format": "date-time-rfc-2822"},
            "date_updated": {"type": "string", "format": "date-time-rfc-2822"},
            "created": {"type": "integer", "format": "unix-time"},
            "properties": {"type": "object", "properties": {
                "createdate": {"type": "string"}, "lastmodifieddate": {"type": "string"}}}}});
        let now = OffsetDateTime::now_utc().unix_timestamp();
        for seed in ["a", "b", "c", "d", "e", "f", "g", "h"] {
            let o = sample(schema.clone(), seed);
            let t = |k: &str, v: &Value| Stamp::read(&v[k]).unwrap_or_else(|| panic!("{k}: {v}")).1;
            assert!(
                t("createdAt", &o) <= t("updatedAt", &o) && t("updatedAt", &o) <= now,
                "{o}"
            );
            assert!(
                t("date_created", &o) <= t("date_updated", &o) && t("date_updated", &o) <= now,
                "{o}"
            );
            assert!(t("created", &o) <= now, "{o}");
            let p = &o["properties"];
            assert!(t("createdate", p) <= t("lastmodifieddate", p), "{o}");
        }
        // An update moves the updated time on, still after creation.
        let mut o = sample(schema.clone(), "x");
        let before = Stamp::read(&o["updatedAt"]).unwrap().1;
        touch(&mut o, "y");
        let after = Stamp::read(&o["updatedAt"]).unwrap().1;
        assert!(after > before && after <= OffsetDateTime::now_utc().unix_timestamp());
        assert_eq!(Stamp::read(&o["date_updated"]).unwrap().0, Stamp::Rfc2822);
    }

    #[test]
    fn recursive_schemas_end_and_values_are_deterministic() {
        let defs = json!({"Node": {"type": "object", "properties": {
            "name": {"type": "string"}, "children": {"type": "array", "items": {"$ref": "#/$defs/Node"}}}}});
        let defs = defs.as_object().unwrap().clone();
        let a = generate(&json!({"$ref": "#/$defs/Node"}), &defs, "s");
        assert_eq!(a, generate(&json!({"$ref": "#/$defs/Node"}), &defs, "s"));
        assert!(a["name"].is_string());
        // An enum behind refs nested deep in a list still comes out.
        let defs = json!({"Page": {"type": "object", "properties": {"items": {"type": "array", "items": {"$ref": "#/$defs/Msg"}}}},
            "Msg": {"type": "object", "properties": {"status": {"$ref": "#/$defs/Status"}}},
            "Status": {"type": "string", "enum": ["sent", "failed"]}});
        let page = generate(
            &json!({"$ref": "#/$defs/Page"}),
            defs.as_object().unwrap(),
            "s",
        );
        let status = &page["items"][0]["status"];
        assert!(status == "sent" || status == "failed", "{page}");
    }

    #[test]
    fn asked_fields_are_filled() {
        let mut generated = json!({"id": "1", "properties": {}});
        let names = vec![
            "email".to_owned(),
            "firstname".to_owned(),
            "createdate".to_owned(),
        ];
        fill_asked(&mut generated, &names, true, true, "s");
        let p = &generated["properties"];
        assert!(p["email"].as_str().unwrap().contains('@'), "{p}");
        assert!(!p["firstname"].as_str().unwrap().is_empty(), "{p}");
        OffsetDateTime::parse(p["createdate"].as_str().unwrap(), &Rfc3339).unwrap();
        let mut stored = json!({"id": "2", "properties": {"email": "ada@example.com"}});
        fill_asked(&mut stored, &names, true, false, "s");
        assert_eq!(
            stored["properties"],
            json!({"email": "ada@example.com", "firstname": null, "createdate": null})
        );
    }
}
