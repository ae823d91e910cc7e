//! Deterministic, readable tool names: `list_all_hubspot_contacts`,
//! `get_single_hubspot_contact_by_id`, at most 64 characters.

use crate::integration::MethodKind;

/// Several clients cap tool names at 64 characters, below the spec's 128.
pub const MAX_TOOL_NAME: usize = 64;

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

/// 32-bit FNV-1a: a stable, dependency-free hash for name suffixes.
fn fnv1a(s: &str) -> u32 {
    s.bytes().fold(0x811c_9dc5, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

/// Shorten a name to `max` characters predictably: keep a readable head and
/// add a hash of the full name, so different long names stay different.
pub fn fit(name: &str, max: usize) -> String {
    if name.len() <= max {
        return name.to_owned();
    }
    let suffix = format!("_{:08x}", fnv1a(name));
    let head = name[..max - suffix.len()].trim_end_matches('_');
    format!("{head}{suffix}")
}

/// Make names unique in order: the first keeps its name, later ones get
/// `_2`, `_3`… (fitted again), so the result does not depend on hashing luck.
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
