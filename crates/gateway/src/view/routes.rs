//! Where a portal sends prompt, resource and completion requests, and
//! matching resource URIs against templates.

use mcpgate_upstream::McpClient;
use std::collections::HashMap;
use std::sync::Arc;

/// Where a portal sends prompt and resource requests.
#[derive(Default)]
pub struct Routes {
    /// Exposed prompt name → (upstream, its name there).
    pub prompts: HashMap<String, (Arc<McpClient>, String)>,
    /// Exposed prompt name → its renamed arguments (exposed → upstream
    /// name), for prompts whose argument names some client would refuse.
    pub prompt_arguments: HashMap<String, HashMap<String, String>>,
    /// Resource URI → upstream.
    pub resources: HashMap<String, Arc<McpClient>>,
    /// Resource URI template → upstream (for completions).
    pub templates: HashMap<String, Arc<McpClient>>,
    /// Upstreams that take `logging/setLevel`.
    pub logging: Vec<Arc<McpClient>>,
    /// Whether some upstream offers completions.
    pub completions: bool,
}

impl Routes {
    /// Give a `prompts/get` or completion's prompt `arguments` (an object
    /// keyed by argument name) the upstream's argument names back.
    pub fn restore_prompt_arguments(&self, prompt: &str, arguments: &mut serde_json::Value) {
        let (Some(renamed), Some(args)) =
            (self.prompt_arguments.get(prompt), arguments.as_object_mut())
        else {
            return;
        };
        let old = std::mem::take(args);
        for (key, value) in old {
            let key = renamed.get(&key).cloned().unwrap_or(key);
            args.insert(key, value);
        }
    }

    /// The upstream's name of a prompt's argument the client names `argument`.
    pub fn prompt_argument<'a>(&'a self, prompt: &str, argument: &'a str) -> &'a str {
        self.prompt_arguments
            .get(prompt)
            .and_then(|r| r.get(argument))
            .map_or(argument, String::as_str)
    }

    /// The upstream serving a resource URI: an exact resource first, then
    /// the first resource template (RFC 6570, simple `{var}` expressions)
    /// that matches it.
    pub fn resource(&self, uri: &str) -> Option<&Arc<McpClient>> {
        self.resources.get(uri).or_else(|| {
            self.templates
                .iter()
                .find(|(template, _)| matches_template(template, uri))
                .map(|(_, client)| client)
        })
    }
}

/// Whether `uri` is an expansion of `template`, where each `{var}` stands
/// for one or more characters other than `/` (an unclosed `{` is literal).
///
/// The template is an upstream's and the URI a client's, so this runs in
/// passes over the URI — one per template part, over the set of positions
/// the parts so far can end at — never by trying every split (which is
/// exponential in the number of variables).
pub fn matches_template(template: &str, uri: &str) -> bool {
    let len = uri.len();
    // reachable[p]: the template parts so far can match uri[..p].
    let mut reachable = vec![false; len + 1];
    reachable[0] = true;
    let mut rest = template;
    while !rest.is_empty() {
        let (literal, variable, after) = match rest.find('{') {
            Some(open) => match rest[open..].find('}') {
                Some(close) => (&rest[..open], true, &rest[open + close + 1..]),
                None => (rest, false, ""),
            },
            None => (rest, false, ""),
        };
        if !literal.is_empty() {
            let mut next = vec![false; len + 1];
            for p in (0..=len).filter(|&p| reachable[p]) {
                if uri[p..].starts_with(literal) {
                    next[p + literal.len()] = true;
                }
            }
            reachable = next;
        }
        if variable {
            // One sweep: q is reachable when some reachable p < q has no
            // '/' between them.
            let mut next = vec![false; len + 1];
            let mut armed = false;
            for (q, c) in uri.char_indices().chain(std::iter::once((len, '/'))) {
                if armed {
                    next[q] = true;
                }
                armed |= reachable[q];
                if c == '/' {
                    armed = false;
                }
            }
            reachable = next;
        }
        rest = after;
    }
    reachable[len]
}

#[cfg(test)]
mod tests {
    use super::matches_template;

    #[test]
    fn simple_uri_templates() {
        assert!(matches_template(
            "test://template/{id}/data",
            "test://template/123/data"
        ));
        assert!(!matches_template(
            "test://template/{id}/data",
            "test://template/1/2/data"
        ));
        assert!(!matches_template(
            "test://template/{id}/data",
            "test://template//data"
        ));
        assert!(matches_template(
            "file:///{dir}/{name}",
            "file:///etc/hosts"
        ));
        assert!(!matches_template("a://{x}", "b://y"));
        assert!(matches_template("plain://uri", "plain://uri"));
        assert!(matches_template("a://{x}-{y}", "a://1-2-3"));
        assert!(!matches_template("a://{x}-{y}", "a://1-"));
        assert!(matches_template("a://{x}天/{y}", "a://é天/😀"));
        assert!(matches_template("a://{unclosed", "a://{unclosed"));
    }

    /// An upstream writes the template and a client the URI: trying every
    /// split of the URI per variable took exponential time (40 variables
    /// against a 120-character URI that fails at the end never ended).
    #[test]
    fn hostile_templates_match_in_linear_passes() {
        let template = format!("x://{}!", "{v}".repeat(40));
        let uri = format!("x://{}", "a".repeat(120));
        let started = std::time::Instant::now();
        assert!(!matches_template(&template, &uri));
        assert!(matches_template(&template, &format!("{uri}!")));
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
    }
}
