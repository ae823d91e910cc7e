//! Text an upstream sent, made fit to log, store and show: every configured
//! credential and anything shaped like one removed, and cut short.
//!
//! An upstream's error body is the upstream's to word — and some echo the
//! request's `Authorization` header back. The gateway puts such text into
//! its logs, into an upstream's stored `error`, into admin answers and into
//! `isError` results for models, so every such text passes through
//! [`Redactor::reason`] (or [`Redactor::redact`] where a longer excerpt is
//! useful) first. The REST executor and the MCP upstream client both use it.

use base64::Engine;
use mcpgate_catalog::Credentials;
use regex::Regex;
use std::sync::LazyLock;

/// What replaces a credential.
pub const REDACTED: &str = "[redacted]";

/// Configured secrets shorter than this are not searched for: a value of a
/// few characters (a test token "t") is a substring of ordinary words, and
/// removing it would garble every message without protecting anything.
pub const MIN_SECRET_CHARS: usize = 6;

/// The most characters of upstream-sourced text an error reason keeps.
pub const MAX_REASON_CHARS: usize = 200;

/// `Bearer …` and `Basic …` credentials (RFC 9110 §11.4): the scheme
/// stays, the value goes.
static SCHEMED: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(bearer|basic)(\s+)([A-Za-z0-9._~+/=:-]{6,})").expect("the pattern compiles")
});

/// `name: value`, `name=value` and `"name": "value"` for names that carry
/// credentials (headers, query parameters, JSON fields).
static NAMED: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r#"(?i)\b((?:proxy-)?authorization|x-api-key|api[_-]?key|access[_-]?token|refresh[_-]?token|id[_-]?token|client[_-]?secret|password|passwd|secret|token|x-auth-token|cookie|set-cookie)("?\s*[:=]\s*"?)([^\s"'&,;}\]]+)"#,
    )
    .expect("the pattern compiles")
});

/// Removes a set of known secrets, and anything that looks like a
/// credential, from text.
#[derive(Clone, Default)]
pub struct Redactor {
    /// Longest first, so a secret that contains another goes whole.
    secrets: Vec<String>,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Redactor({} secrets)", self.secrets.len())
    }
}

impl Redactor {
    /// A redactor for these secrets (credential values as configured, and
    /// the header values built from them). Each is also removed in its
    /// percent-encoded form (how a query credential travels).
    pub fn new<S: AsRef<str>>(secrets: impl IntoIterator<Item = S>) -> Self {
        let mut all: Vec<String> = Vec::new();
        for s in secrets {
            let s = s.as_ref().trim();
            if s.chars().count() < MIN_SECRET_CHARS {
                continue;
            }
            let encoded =
                percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC)
                    .to_string();
            if encoded != s {
                all.push(encoded);
            }
            all.push(s.to_owned());
        }
        all.sort_by_key(|s| std::cmp::Reverse(s.len()));
        all.dedup();
        Self { secrets: all }
    }

    /// This redactor with one more secret (e.g. an access token fetched
    /// for the request at hand).
    pub fn with(&self, secret: Option<&str>) -> Self {
        match secret {
            None => self.clone(),
            Some(secret) => Self::new(self.secrets.iter().map(String::as_str).chain([secret])),
        }
    }

    /// Whether it knows no secret (patterns still apply in [`redact`](Self::redact)).
    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }

    /// `text` without the known secrets, when it held one (no pattern
    /// matching: for content such as tool descriptions and results, where
    /// a credential-shaped example is legitimate).
    pub fn strip_secrets(&self, text: &str) -> Option<String> {
        let mut out: Option<String> = None;
        for secret in &self.secrets {
            let current = out.as_deref().unwrap_or(text);
            if current.contains(secret.as_str()) {
                out = Some(current.replace(secret.as_str(), REDACTED));
            }
        }
        out
    }

    /// `text` without the known secrets and credential-shaped values.
    pub fn redact(&self, text: &str) -> String {
        let out = self.strip_secrets(text).unwrap_or_else(|| text.to_owned());
        let out = SCHEMED.replace_all(&out, |c: &regex::Captures<'_>| {
            // "Bearer" is always followed by a token; "basic" may be plain
            // English ("basic authentication"), a credential never is letters only.
            let value = &c[3];
            if c[1].eq_ignore_ascii_case("bearer") || !value.chars().all(char::is_alphabetic) {
                format!("{}{}{REDACTED}", &c[1], &c[2])
            } else {
                c[0].to_owned()
            }
        });
        NAMED
            .replace_all(&out, format!("${{1}}${{2}}{REDACTED}"))
            .into_owned()
    }

    /// A short reason from upstream text: redacted, on one line, at most
    /// [`MAX_REASON_CHARS`] characters. The secrets are removed before the
    /// text is cut, so a cut cannot leave part of one behind.
    pub fn reason(&self, text: &str) -> String {
        let redacted = self.redact(text);
        let one_line = redacted.split_whitespace().collect::<Vec<_>>().join(" ");
        shorten(&one_line, MAX_REASON_CHARS)
    }
}

/// The secret values of an account's credentials, with the header values
/// built from them (a Basic credential travels base64-encoded).
pub fn secrets_of(credentials: &Credentials) -> Vec<String> {
    match credentials {
        Credentials::None => Vec::new(),
        Credentials::Bearer { token } => vec![token.clone()],
        Credentials::Basic { username, password } => vec![
            password.clone(),
            base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}")),
        ],
        Credentials::Header { value, .. } | Credentials::Query { value, .. } => {
            vec![value.clone()]
        }
        Credentials::Oauth2ClientCredentials { client_secret, .. } => vec![client_secret.clone()],
        Credentials::Oauth2RefreshToken {
            client_secret,
            refresh_token,
            ..
        } => vec![client_secret.clone(), refresh_token.clone()],
    }
}

/// `text` cut to at most `max` characters (on a character boundary), with
/// `…` marking a cut.
pub fn shorten(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_owned(),
        Some((end, _)) => {
            let mut cut = text[..end].to_owned();
            cut.push('…');
            cut
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configured_secrets_go_in_every_form() {
        let r = Redactor::new(["s3cr3t-value", "a b&c/d"]);
        let text = "echo: s3cr3t-value and a%20b%26c%2Fd and a b&c/d";
        let out = r.redact(text);
        assert!(!out.contains("s3cr3t"), "{out}");
        assert!(!out.contains("a%20b"), "{out}");
        assert!(!out.contains("a b&c"), "{out}");
        assert_eq!(out.matches(REDACTED).count(), 3, "{out}");
    }

    #[test]
    fn very_short_values_are_not_searched_for() {
        let r = Redactor::new(["t", "abc"]);
        assert!(r.is_empty());
        assert_eq!(r.redact("no such contact"), "no such contact");
    }

    #[test]
    fn stripping_removes_only_the_configured_secrets() {
        let r = Redactor::new(["tok-123456"]);
        assert_eq!(
            r.strip_secrets("use Bearer <token>; ours is tok-123456")
                .as_deref(),
            Some("use Bearer <token>; ours is [redacted]")
        );
        assert_eq!(r.strip_secrets("Authorization: Bearer abcdefgh"), None);
        assert!(Redactor::default().is_empty());
    }

    #[test]
    fn credential_shapes_go_even_when_not_configured() {
        let r = Redactor::default();
        for (text, gone) in [
            (
                "401: got Authorization: Bearer eyJhbGciOi.JIUzI1NiJ9.abc",
                "eyJhbG",
            ),
            ("header Basic dXNlcjpwYXNzd29yZA== refused", "dXNlcjpw"),
            (r#"{"api_key": "k-123456789"}"#, "k-123456789"),
            ("GET /x?access_token=tok_abcdef&x=1", "tok_abcdef"),
            ("X-API-Key: abc123xyz", "abc123xyz"),
            (r#"{"client_secret":"cs-99999"}"#, "cs-99999"),
        ] {
            let out = r.redact(text);
            assert!(!out.contains(gone), "{text:?} → {out:?}");
            assert!(out.contains(REDACTED), "{out}");
        }
        // Ordinary text is left alone.
        for plain in [
            "the tool 'search' failed: rate limited, retry in 5 s",
            "basic authentication is required; the token expired",
        ] {
            assert_eq!(r.redact(plain), plain);
        }
    }

    #[test]
    fn reasons_are_short_single_lines_cut_on_characters() {
        let r = Redactor::new(["tok"]);
        let long = "界".repeat(500);
        let out = r.reason(&long);
        assert_eq!(out.chars().count(), MAX_REASON_CHARS + 1);
        assert!(out.ends_with('…'));
        assert_eq!(r.reason("a\n\n  b\tc"), "a b c");
        assert_eq!(shorten("abc", 3), "abc");
        assert_eq!(shorten("abcd", 3), "abc…");
    }

    #[test]
    fn a_secret_is_removed_before_the_cut() {
        let secret = "x".repeat(50);
        let r = Redactor::new([secret.as_str()]);
        let text = format!("{}{secret}", "y".repeat(MAX_REASON_CHARS - 10));
        let out = r.reason(&text);
        assert!(!out.contains("xxxxx"), "{out}");
    }
}
