//! Deterministic, readable names every MCP client accepts.
//!
//! The MCP spec (2025-11-25, "Tool names") allows 1–128 characters from
//! `A–Z a–z 0–9 _ - .`, but widely used clients are stricter and refuse a
//! server's **whole** tool list over one name they dislike: Claude's clients
//! accept tool names matching `^[a-zA-Z0-9_-]{1,64}$` and input-schema
//! property keys matching `^[a-zA-Z0-9_.-]{1,64}$`. Every name the gateway
//! exposes is therefore formed here:
//!
//! - [`tool_name`] / [`property_key`] map any string (an upstream's tool name,
//!   an OpenAPI parameter name, CJK, emoji, NUL…) into the client-safe
//!   character set; runs of other characters become one `_`. When letters or
//!   digits outside ASCII were dropped, a hash of the original is appended so
//!   that different originals stay different.
//! - [`fit`] shortens to a length budget by characters (never inside a UTF-8
//!   sequence), adding a hash of the full name so long names stay distinct.
//! - [`unique`] makes a list of names unique, deterministically.
//!
//! Callers keep the original next to the exposed name and map back to it
//! when they call the upstream or build the HTTP request.

use crate::integration::MethodKind;

/// Longest exposed tool name: several clients cap tool names at 64
/// characters, below the spec's 128.
pub const MAX_TOOL_NAME: usize = 64;

/// Longest exposed input-schema property key (same client rule).
pub const MAX_PROPERTY_KEY: usize = 64;

/// Whether `name` is a tool name every client accepts:
/// `^[a-zA-Z0-9_-]{1,64}$`.
pub fn is_client_safe_tool_name(name: &str) -> bool {
    (1..=MAX_TOOL_NAME).contains(&name.len()) && name.chars().all(is_tool_name_char)
}

/// Whether `key` is an input-schema property key every client accepts:
/// `^[a-zA-Z0-9_.-]{1,64}$`.
pub fn is_client_safe_property_key(key: &str) -> bool {
    (1..=MAX_PROPERTY_KEY).contains(&key.len()) && key.chars().all(is_property_key_char)
}

fn is_tool_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

fn is_property_key_char(c: char) -> bool {
    is_tool_name_char(c) || c == '.'
}

/// `raw` with each run of characters `keep` refuses turned into one `_`
/// (none at the start; trailing ones dropped), and whether a letter or
/// digit (outside ASCII) was among the refused.
fn clean(raw: &str, keep: fn(char) -> bool) -> (String, bool) {
    let mut out = String::with_capacity(raw.len());
    let mut lost_letters = false;
    for c in raw.chars() {
        if keep(c) {
            out.push(c);
        } else {
            lost_letters |= c.is_alphanumeric();
            if !out.is_empty() && !out.ends_with('_') {
                out.push('_');
            }
        }
    }
    let kept = out.trim_end_matches('_').len();
    out.truncate(kept);
    (out, lost_letters)
}

/// Map `raw` into the characters `keep` allows ([`clean`]). If a letter or
/// digit outside ASCII was dropped, or nothing is left, `_` and a hash of
/// `raw` are appended, so `天气` and `新闻` do not both become empty.
/// Not length-limited: see [`fit`].
fn sanitize(raw: &str, keep: fn(char) -> bool, fallback: &str) -> String {
    let (mut out, mut lost_letters) = clean(raw, keep);
    if out.is_empty() {
        out.push_str(fallback);
        lost_letters = true;
    }
    if lost_letters {
        out.push_str(&format!("_{:08x}", fnv1a(raw)));
    }
    out
}

/// The client-safe form of any string as a tool name (characters
/// `A–Z a–z 0–9 _ -`; not yet length-limited, see [`fit`]):
/// `files.read` → `files_read`, `get weather` → `get_weather`,
/// `天气` → `tool_dd4acd3f` (a hash keeps distinct originals distinct).
/// Deterministic: the same input always gives the same output.
pub fn tool_name(raw: &str) -> String {
    sanitize(raw, is_tool_name_char, "tool")
}

/// The client-safe form of any string as an input-schema property key
/// (characters `A–Z a–z 0–9 _ . -`; not yet length-limited, see [`fit`]):
/// `DateSent<` → `DateSent`, `Wine Pairing` → `Wine_Pairing`,
/// `filter[status]` → `filter_status`. Deterministic.
pub fn property_key(raw: &str) -> String {
    sanitize(raw, is_property_key_char, "arg")
}

/// `HubSpot CRM/Contacts` → `hub_spot_crm_contacts`.
pub fn snake(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 4);
    let mut prev: Option<char> = None;
    for c in s.chars() {
        if c.is_ascii_alphanumeric() {
            if c.is_ascii_uppercase()
                && prev.is_some_and(|p| p.is_ascii_lowercase() || p.is_ascii_digit())
            {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('_') && !out.is_empty() {
            out.push('_');
        }
        prev = Some(c);
    }
    while out.ends_with('_') {
        out.pop();
    }
    out
}

/// English singular of the last word of a snake_case plural, by the common rules.
pub fn singular(plural: &str) -> String {
    let (head, word) = match plural.rfind('_') {
        Some(i) => plural.split_at(i + 1),
        None => ("", plural),
    };
    let one = if let Some(stem) = word.strip_suffix("ies").filter(|s| !s.is_empty()) {
        format!("{stem}y")
    } else if word.ends_with("sses")
        || word.ends_with("xes")
        || word.ends_with("ches")
        || word.ends_with("shes")
    {
        word[..word.len() - 2].to_owned()
    } else if word.ends_with('s')
        && !word.ends_with("ss")
        && !word.ends_with("us")
        && !word.ends_with("is")
        && word.len() > 1
    {
        word[..word.len() - 1].to_owned()
    } else {
        word.to_owned()
    };
    format!("{head}{one}")
}

/// The generated name of a (resource, method) tool before fitting.
pub fn tool_base_name(integration: &str, resource: &str, kind: &MethodKind) -> String {
    let i = snake(integration);
    let r = snake(resource);
    let one = singular(&r);
    match kind {
        MethodKind::List => format!("list_all_{i}_{r}"),
        MethodKind::Get => format!("get_single_{i}_{one}_by_id"),
        MethodKind::Create => format!("create_a_{i}_{one}"),
        MethodKind::Update => format!("update_a_{i}_{one}_by_id"),
        MethodKind::Delete => format!("delete_a_{i}_{one}_by_id"),
        MethodKind::Custom(k) => format!("{}_{i}_{r}", snake(k)),
    }
}

/// A stable 32-bit hash of `s` (FNV-1a), for suffixes that keep names
/// formed from different originals distinct. Deterministic across runs and
/// platforms.
pub fn stable_hash(s: &str) -> u32 {
    fnv1a(s)
}

/// 32-bit FNV-1a: a stable, dependency-free hash for name suffixes.
fn fnv1a(s: &str) -> u32 {
    s.bytes().fold(0x811c_9dc5, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

/// Shorten a name to at most `max` bytes predictably: keep a readable head
/// and add `_` and a hash of the full name, so different long names stay
/// different. The head is cut on a character boundary, so any UTF-8 input is
/// safe (the result may then be a few bytes shorter than `max`). With `max`
/// below 10 (too short for the hash) the name is only cut.
pub fn fit(name: &str, max: usize) -> String {
    if name.len() <= max {
        return name.to_owned();
    }
    let suffix = format!("_{:08x}", fnv1a(name));
    if max < suffix.len() + 1 {
        return name[..name.floor_char_boundary(max)].to_owned();
    }
    let cut = name.floor_char_boundary(max - suffix.len());
    let head = name[..cut].trim_end_matches('_');
    format!("{head}{suffix}")
}

/// The exposed form of a name someone else chose (an upstream's tool or
/// prompt name), stable and client-safe: `raw` itself when `is_safe`
/// accepts it, else its client-safe form (`clean`) with `_` and a hash of
/// `raw` appended, fitted to `max`. It depends on `raw` alone, so adding
/// another tool upstream never changes it; the hash keeps `files.read`
/// and `files/read` apart.
fn exposed(
    raw: &str,
    is_safe: fn(&str) -> bool,
    keep: fn(char) -> bool,
    fallback: &str,
    max: usize,
) -> String {
    if is_safe(raw) {
        return raw.to_owned();
    }
    if !raw.is_empty() && raw.chars().all(keep) {
        // Only too long: fit() already appends a hash of the whole name.
        return fit(raw, max);
    }
    let (clean, _) = clean(raw, keep);
    let clean = if clean.is_empty() { fallback } else { &clean };
    fit(&format!("{clean}_{:08x}", fnv1a(raw)), max)
}

/// The tool (or prompt) name the gateway exposes for an upstream's `raw`
/// name: `raw` when it matches `^[a-zA-Z0-9_-]{1,64}$`, else e.g.
/// `files.read` → `files_read_feef3122`, `get weather` →
/// `get_weather_f7ed9c23`, `天气` → `tool_dd4acd3f`. Stable:
/// a function of `raw` alone (see [`unique_exposed`] for the rare clash).
pub fn exposed_tool_name(raw: &str) -> String {
    exposed(
        raw,
        is_client_safe_tool_name,
        is_tool_name_char,
        "tool",
        MAX_TOOL_NAME,
    )
}

/// Exposed names for `raws` (in order), unique within the list: each is
/// `exposed(raw)`; a name already client-safe keeps itself first, and only
/// when two results still clash (the same raw name twice, or a hash
/// collision) does the later one get `_2`, `_3`… (fitted to `max`).
/// Deterministic, and adding a name never renames a client-safe one.
pub fn unique_exposed<S: AsRef<str>>(
    raws: &[S],
    exposed: fn(&str) -> String,
    max: usize,
) -> Vec<String> {
    let wanted: Vec<String> = raws.iter().map(|r| exposed(r.as_ref())).collect();
    let mut taken = std::collections::HashSet::with_capacity(wanted.len());
    let mut out: Vec<Option<String>> = vec![None; wanted.len()];
    // Names that are their own raw name claim first: they never move.
    for (i, (w, r)) in wanted.iter().zip(raws).enumerate() {
        if w == r.as_ref() && taken.insert(w.clone()) {
            out[i] = Some(w.clone());
        }
    }
    for (slot, w) in out.iter_mut().zip(&wanted) {
        if slot.is_some() {
            continue;
        }
        let mut candidate = w.clone();
        let mut n = 2;
        while !taken.insert(candidate.clone()) {
            candidate = fit(&format!("{w}_{n}"), max);
            n += 1;
        }
        *slot = Some(candidate);
    }
    out.into_iter().flatten().collect()
}

/// Make names unique in order: the first keeps its name, later ones get
/// `_2`, `_3`… (fitted again), so the result does not depend on hashing luck.
/// Every result is at most `max` bytes ([`fit`]).
pub fn unique(names: Vec<String>, max: usize) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    names
        .into_iter()
        .map(|n| {
            let mut candidate = fit(&n, max);
            let mut i = 2;
            while !seen.insert(candidate.clone()) {
                candidate = fit(&format!("{n}_{i}"), max);
                i += 1;
            }
            candidate
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readable_names_per_kind() {
        assert_eq!(
            tool_base_name("hubspot", "contacts", &MethodKind::List),
            "list_all_hubspot_contacts"
        );
        assert_eq!(
            tool_base_name("hubspot", "contacts", &MethodKind::Get),
            "get_single_hubspot_contact_by_id"
        );
        assert_eq!(
            tool_base_name("hubspot", "companies", &MethodKind::Create),
            "create_a_hubspot_company"
        );
        assert_eq!(
            tool_base_name("github", "PullRequests", &MethodKind::Update),
            "update_a_github_pull_request_by_id"
        );
        assert_eq!(
            tool_base_name("zendesk", "tickets", &MethodKind::Delete),
            "delete_a_zendesk_ticket_by_id"
        );
        assert_eq!(
            tool_base_name(
                "github",
                "release assets",
                &MethodKind::Custom("download".into())
            ),
            "download_github_release_assets"
        );
    }

    #[test]
    fn snake_and_singular() {
        assert_eq!(snake("HubSpot CRM/Contacts"), "hub_spot_crm_contacts");
        assert_eq!(snake("--a--b--"), "a_b");
        assert_eq!(singular("addresses"), "address");
        assert_eq!(singular("boxes"), "box");
        assert_eq!(singular("status"), "status");
        assert_eq!(singular("crm_deals"), "crm_deal");
        assert_eq!(singular("branches"), "branch");
    }

    #[test]
    fn long_names_shorten_predictably_and_stay_distinct() {
        let a = format!("list_all_{}_a", "x".repeat(80));
        let b = format!("list_all_{}_b", "x".repeat(80));
        let fa = fit(&a, MAX_TOOL_NAME);
        assert_eq!(fa.len(), MAX_TOOL_NAME);
        assert_eq!(fa, fit(&a, MAX_TOOL_NAME), "deterministic");
        assert_ne!(fa, fit(&b, MAX_TOOL_NAME));
        assert!(crate::ToolName::new(fa).is_ok());
    }

    #[test]
    fn fitting_never_cuts_inside_a_character() {
        // 25 CJK characters are 75 bytes: the cut must fall on a boundary.
        let cjk = "天".repeat(25);
        let fitted = fit(&cjk, MAX_TOOL_NAME);
        assert!(fitted.len() <= MAX_TOOL_NAME);
        assert!(fitted.ends_with(&format!("_{:08x}", fnv1a(&cjk))));
        assert_eq!(fit("é".repeat(10).as_str(), 5), "éé");
    }

    #[test]
    fn any_string_becomes_a_client_safe_tool_name() {
        assert_eq!(tool_name("files.read"), "files_read");
        assert_eq!(tool_name("files/write"), "files_write");
        assert_eq!(tool_name("get weather"), "get_weather");
        assert_eq!(tool_name("_private"), "_private");
        assert_eq!(tool_name("a--b"), "a--b");
        let cjk = tool_name("天气预报");
        assert!(
            cjk.starts_with("tool_") && is_client_safe_tool_name(&cjk),
            "{cjk}"
        );
        assert_ne!(cjk, tool_name("新闻"));
        let mixed = tool_name("search_天气");
        assert!(mixed.starts_with("search_"), "{mixed}");
        assert_ne!(mixed, tool_name("search_新闻"));
        assert!(is_client_safe_tool_name(&tool_name("\0\u{202e}")));
        assert_eq!(tool_name(""), format!("tool_{:08x}", fnv1a("")));
    }

    #[test]
    fn any_string_becomes_a_client_safe_property_key() {
        assert_eq!(property_key("DateSent<"), "DateSent");
        assert_eq!(property_key("Wine Pairing"), "Wine_Pairing");
        assert_eq!(property_key("filter[status]"), "filter_status");
        assert_eq!(property_key("a.b"), "a.b");
        assert!(is_client_safe_property_key(&fit(
            &property_key(&"ü".repeat(80)),
            64
        )));
    }

    #[test]
    fn exposed_names_are_client_safe_and_depend_on_the_name_alone() {
        assert_eq!(exposed_tool_name("plain_tool"), "plain_tool");
        let read = exposed_tool_name("files.read");
        assert_eq!(read, format!("files_read_{:08x}", fnv1a("files.read")));
        assert_ne!(read, exposed_tool_name("files/read"));
        assert_eq!(
            exposed_tool_name("get weather"),
            format!("get_weather_{:08x}", fnv1a("get weather"))
        );
        let cjk = "查询用户订单历史记录并导出为表格文件格式数据和统计结果";
        assert_eq!(exposed_tool_name(cjk), format!("tool_{:08x}", fnv1a(cjk)));
        let long = "a".repeat(80);
        assert_eq!(exposed_tool_name(&long), fit(&long, MAX_TOOL_NAME));
        for raw in ["", "\0", "search_天气", "\u{202e}x\u{301}", "a.b.", "😀😀"] {
            assert!(is_client_safe_tool_name(&exposed_tool_name(raw)), "{raw:?}");
        }
    }

    #[test]
    fn adding_a_name_never_renames_the_others() {
        let before = unique_exposed(&["files.read", "get_weather"], exposed_tool_name, 64);
        // The upstream adds a tool whose sanitized form equals another's.
        let after = unique_exposed(
            &["files_read", "files.read", "get_weather", "get weather"],
            exposed_tool_name,
            64,
        );
        assert_eq!(after[1], before[0]);
        assert_eq!(after[2], before[1]);
        assert_eq!(after[0], "files_read");
        // The same raw name twice: the later one is numbered.
        let twice = unique_exposed(&["x.y", "x.y"], exposed_tool_name, 64);
        assert_eq!(twice[1], format!("{}_2", twice[0]));
    }

    #[test]
    fn collisions_get_numbered_suffixes() {
        let names = unique(
            vec!["a".into(), "a".into(), "b".into(), "a".into()],
            MAX_TOOL_NAME,
        );
        assert_eq!(names, ["a", "a_2", "b", "a_3"]);
        let long = "y".repeat(70);
        let names = unique(vec![long.clone(), long], MAX_TOOL_NAME);
        assert_ne!(names[0], names[1]);
        assert!(names.iter().all(|n| n.len() <= MAX_TOOL_NAME));
    }
}
