//! Tool names an LLM can read: from a meaningful `operationId`, else a verb
//! and the resource the path names, without version prefixes (`v1`,
//! `2010-04-01`), dates or file extensions (`.json`). Names stay within
//! [`MAX`] characters so that a later `_2` still fits 64 and no hash is
//! needed.

use std::collections::HashMap;

use crate::integration::{HttpMethod, MethodKind};
use crate::naming::{singular, snake};

/// Longest generated name, leaving room for a `_2`…`_99` suffix under 64.
pub(super) const MAX: usize = 60;

/// What a name is formed from.
pub(super) struct NameInput<'a> {
    pub op_id: Option<&'a str>,
    pub kind: &'a MethodKind,
    pub verb: HttpMethod,
    pub path: &'a str,
}

/// Whether a path segment (or word) only versions or dates the API:
/// `v1`, `v2beta1`, `1.1`, `2010-04-01`, `20200101`.
pub(super) fn is_version(seg: &str) -> bool {
    let s = seg.to_ascii_lowercase();
    let digits_dots = |t: &str| {
        !t.is_empty()
            && t.chars()
                .all(|c| c.is_ascii_digit() || c == '.' || c == '-' || c == '_')
    };
    if digits_dots(&s) {
        return true;
    }
    if let Some(rest) = s.strip_prefix('v')
        && rest.starts_with(|c: char| c.is_ascii_digit())
    {
        // v1, v1.2, v2beta, v1alpha3, v3p1
        let tail = rest.trim_start_matches(|c: char| c.is_ascii_digit() || c == '.');
        return tail.is_empty()
            || ["alpha", "beta", "preview", "p", "rc", "dev", "internal"]
                .iter()
                .any(|w| {
                    tail.starts_with(w) && tail[w.len()..].chars().all(|c| c.is_ascii_digit())
                });
    }
    false
}

/// A static path segment without a file extension (`Messages.json` →
/// `Messages`); `None` for a parameter, a version or a date.
pub(super) fn clean_segment(seg: &str) -> Option<&str> {
    if seg.is_empty() || seg.contains('{') || is_version(seg) {
        return None;
    }
    let seg = match seg.rsplit_once('.') {
        Some((stem, ext))
            if !stem.is_empty()
                && (1..=5).contains(&ext.len())
                && ext.chars().all(|c| c.is_ascii_alphanumeric()) =>
        {
            stem
        }
        _ => seg,
    };
    (!seg.is_empty() && !is_version(seg)).then_some(seg)
}

/// The words of a path's static segments, snake_case, cleaned.
fn path_words(path: &str) -> Vec<String> {
    let mut words: Vec<String> = path
        .split('/')
        .filter_map(clean_segment)
        .map(snake)
        .filter(|w| !w.is_empty())
        .collect();
    if words.len() > 1 && matches!(words[0].as_str(), "api" | "rest" | "services") {
        words.remove(0);
    }
    words
}

/// A meaningful operationId as a snake_case name within [`MAX`], or `None`
/// (missing, no real words, a hash or number, a path spelled out).
fn from_op_id(op_id: &str) -> Option<String> {
    let words = |s: &str| -> Vec<String> {
        snake(s)
            .split('_')
            .filter(|w| !w.is_empty() && !is_version(w))
            .map(str::to_owned)
            .collect()
    };
    let all = words(op_id);
    let first = all.first()?;
    if !first.starts_with(|c: char| c.is_ascii_lowercase()) {
        return None;
    }
    // Hash-like or numbered ids say nothing (`op_3f9a2c…`, `operation1`).
    let letters = |w: &str| w.chars().filter(char::is_ascii_alphabetic).count();
    if !all.iter().any(|w| letters(w) >= 3) {
        return None;
    }
    if all
        .iter()
        .any(|w| w.len() >= 12 && w.chars().filter(char::is_ascii_digit).count() >= 4)
    {
        return None;
    }
    let join = |ws: &[String]| ws.join("_");
    let mut name = join(&all);
    if name.len() <= MAX {
        return Some(name);
    }
    // Long dotted ids (`users.calendar.events.ListInstances`): drop the
    // leading namespaces first, then leading words.
    let mut segments: Vec<&str> = op_id
        .split(['.', '/', ':'])
        .filter(|s| !s.is_empty())
        .collect();
    while segments.len() > 1 && name.len() > MAX {
        segments.remove(0);
        name = join(&words(&segments.join("_")));
    }
    let mut ws: Vec<String> = name.split('_').map(str::to_owned).collect();
    while ws.len() > 2 && join(&ws).len() > MAX {
        ws.remove(1);
    }
    let name = join(&ws);
    (name.len() <= MAX && !name.is_empty()).then_some(name)
}

/// Path words that name a tool kind rather than a resource.
const KIND_WORDS: [&str; 12] = [
    "list", "create", "add", "new", "get", "show", "fetch", "read", "update", "edit", "delete",
    "remove",
];

/// A name from verb and path, with the last `depth` resource words.
fn from_path(input: &NameInput, depth: usize) -> String {
    let mut words = path_words(input.path);
    if words.is_empty() {
        words.push("root".into());
    }
    let last_is_static = input
        .path
        .rsplit('/')
        .find(|s| !s.is_empty())
        .is_some_and(|s| !s.contains('{'));
    // `/joke/list`, `/jokes/{id}/delete`: the kind's own word is not a noun.
    let kind_word = |w: &str| KIND_WORDS.contains(&w);
    if !matches!(input.kind, MethodKind::Custom(_))
        && words.len() > 1
        && words.last().is_some_and(|w| kind_word(w))
    {
        words.pop();
    }
    let http_verb = match input.verb {
        HttpMethod::Get => "get",
        HttpMethod::Post => "post",
        HttpMethod::Put => "put",
        HttpMethod::Patch => "patch",
        HttpMethod::Delete => "delete",
        HttpMethod::Head => "check",
    };
    let (verb, mut noun_words, singular_last): (String, Vec<String>, bool) = match input.kind {
        MethodKind::List => ("list".into(), words, false),
        MethodKind::Get => ("get".into(), words, true),
        MethodKind::Create => ("create".into(), words, true),
        MethodKind::Update => ("update".into(), words, true),
        MethodKind::Delete => ("delete".into(), words, true),
        MethodKind::Custom(_) => {
            if last_is_static && words.len() > 1 && words.last().is_some_and(|w| kind_word(w)) {
                // `POST /things/list` beside `GET /things`: not `list_things`,
                // which names the list.
                let action = words.pop().unwrap_or_default();
                words.push(action);
                (http_verb.into(), words, false)
            } else if last_is_static && words.len() > 1 {
                // `/contacts/search`: the last segment is the action.
                let action = words.pop().unwrap_or_default();
                (action, words, false)
            } else {
                (http_verb.into(), words, !last_is_static)
            }
        }
    };
    let n = noun_words.len();
    let take = depth.clamp(1, n.max(1));
    let mut tail: Vec<String> = noun_words.drain(n.saturating_sub(take)..).collect();
    let last = tail.len().saturating_sub(1);
    for (i, w) in tail.iter_mut().enumerate() {
        if i < last || singular_last {
            *w = singular(w);
        }
    }
    let mut name = format!("{verb}_{}", tail.join("_"));
    while name.len() > MAX && tail.len() > 1 {
        tail.remove(0);
        name = format!("{verb}_{}", tail.join("_"));
    }
    if name.len() > MAX {
        name = crate::naming::fit(&name, MAX);
    }
    name
}

/// Names for every operation, in order: readable, within [`MAX`], distinct
/// where more of the path can tell them apart (the caller makes the rest
/// unique with `_2`…).
pub(super) fn assign(inputs: &[NameInput]) -> Vec<String> {
    let fixed: Vec<Option<String>> = inputs
        .iter()
        .map(|i| i.op_id.and_then(from_op_id))
        .collect();
    let mut depth = vec![1usize; inputs.len()];
    let mut names: Vec<String> = inputs
        .iter()
        .zip(&fixed)
        .map(|(i, f)| f.clone().unwrap_or_else(|| from_path(i, 1)))
        .collect();
    // Path-derived names that clash take more of their path, a few rounds.
    for _ in 0..6 {
        let mut count: HashMap<&str, usize> = HashMap::new();
        for n in &names {
            *count.entry(n.as_str()).or_default() += 1;
        }
        let clashing: Vec<usize> = (0..names.len())
            .filter(|&i| fixed[i].is_none() && count[names[i].as_str()] > 1)
            .collect();
        if clashing.is_empty() {
            break;
        }
        let mut changed = false;
        for i in clashing {
            let longer = from_path(&inputs[i], depth[i] + 1);
            if longer != names[i] {
                depth[i] += 1;
                names[i] = longer;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    names
}

/// A display title from a snake_case name: `fetch_message` → `Fetch message`.
pub(super) fn humanize(name: &str) -> String {
    let spaced = name.replace('_', " ");
    let mut c = spaced.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input<'a>(
        op_id: Option<&'a str>,
        kind: &'a MethodKind,
        verb: HttpMethod,
        path: &'a str,
    ) -> NameInput<'a> {
        NameInput {
            op_id,
            kind,
            verb,
            path,
        }
    }

    #[test]
    fn versions_dates_and_extensions_are_not_names() {
        for v in [
            "v1",
            "V2",
            "v2beta1",
            "v1.1",
            "2010-04-01",
            "20200101",
            "1.0",
            "v3alpha",
        ] {
            assert!(is_version(v), "{v}");
        }
        for w in ["values", "view", "v", "video", "vendors"] {
            assert!(!is_version(w), "{w}");
        }
        assert_eq!(clean_segment("Messages.json"), Some("Messages"));
        assert_eq!(clean_segment("{Sid}.json"), None);
        assert_eq!(clean_segment("2010-04-01"), None);
    }

    #[test]
    fn operation_ids_win_when_meaningful() {
        let get = MethodKind::Get;
        let p = "/2010-04-01/Accounts/{AccountSid}/Messages/{Sid}.json";
        assert_eq!(
            assign(&[input(Some("FetchMessage"), &get, HttpMethod::Get, p)]),
            ["fetch_message"]
        );
        // Without one: verb + resource, no version, date or extension.
        assert_eq!(
            assign(&[input(None, &get, HttpMethod::Get, p)]),
            ["get_message"]
        );
        assert_eq!(
            assign(&[input(Some("op_3f9a2c1b9e8d7f6a"), &get, HttpMethod::Get, p)]),
            ["get_message"]
        );
        let long = "deviceManagement.deviceConfigurations.deviceStatuses.deviceConfigurationDeviceStatus.GetDeviceConfigurationDeviceStatus";
        let n = &assign(&[input(Some(long), &get, HttpMethod::Get, "/x/{id}")])[0];
        assert!(
            n.len() <= MAX && n.starts_with("get_device_configuration_device_status"),
            "{n}"
        );
    }

    #[test]
    fn clashing_path_names_take_more_of_the_path() {
        let list = MethodKind::List;
        let names = assign(&[
            input(None, &list, HttpMethod::Get, "/v1/issues"),
            input(
                None,
                &list,
                HttpMethod::Get,
                "/v1/repos/{owner}/{repo}/issues",
            ),
            input(
                None,
                &MethodKind::Custom("search".into()),
                HttpMethod::Post,
                "/contacts/search",
            ),
        ]);
        assert_eq!(
            names,
            ["list_issues", "list_repo_issues", "search_contacts"]
        );
    }
}
