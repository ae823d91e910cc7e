//! `Origin` checks against DNS rebinding and cross-site requests.

use axum::http::{HeaderMap, HeaderValue, header};

/// What a request from a refused origin is told (HTTP 403).
pub(crate) const REFUSED: &str = "Forbidden: this Origin is not in the gateway's allowed_origins";

/// Which browser origins may call the MCP endpoints.
#[derive(Debug, Clone)]
pub struct OriginPolicy {
    allow_any: bool,
    allow_loopback: bool,
    exact: Vec<String>,
}

impl OriginPolicy {
    /// `allowed` holds exact origins (`https://app.example.com`) or `*`;
    /// loopback origins (`localhost`, `127.0.0.1`, `[::1]`, any port) are
    /// allowed when `allow_loopback` is set.
    pub fn new(allowed: &[String], allow_loopback: bool) -> Self {
        Self {
            allow_any: allowed.iter().any(|o| o == "*"),
            allow_loopback,
            exact: allowed
                .iter()
                .map(|o| o.trim_end_matches('/').to_ascii_lowercase())
                .collect(),
        }
    }

    /// Whether a request may proceed. Requests without `Origin` (every
    /// non-browser client) always may.
    pub fn allows(&self, headers: &HeaderMap) -> bool {
        headers
            .get(header::ORIGIN)
            .is_none_or(|origin| self.allows_origin(origin))
    }

    /// Whether the browser origin in an `Origin` header value is allowed
    /// (`null` and values that are not text never are).
    pub fn allows_origin(&self, origin: &HeaderValue) -> bool {
        let Ok(origin) = origin.to_str() else {
            return false;
        };
        let origin = origin.trim_end_matches('/').to_ascii_lowercase();
        self.allow_any
            || self.exact.contains(&origin)
            || (self.allow_loopback && is_loopback_origin(&origin))
    }
}

fn is_loopback_origin(origin: &str) -> bool {
    let Some(rest) = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
    else {
        return false;
    };
    let host = if let Some(v6) = rest.strip_prefix('[') {
        match v6.split_once(']') {
            Some((addr, port)) if port.is_empty() || port.starts_with(':') => {
                return addr == "::1" && valid_port(port);
            }
            _ => return false,
        }
    } else {
        match rest.split_once(':') {
            Some((host, port)) => {
                if !valid_port(&format!(":{port}")) {
                    return false;
                }
                host
            }
            None => rest,
        }
    };
    host == "localhost" || host == "127.0.0.1"
}

fn valid_port(port: &str) -> bool {
    port.is_empty()
        || port
            .strip_prefix(':')
            .is_some_and(|p| !p.is_empty() && p.parse::<u16>().is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn with_origin(o: &'static str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::ORIGIN, HeaderValue::from_static(o));
        h
    }

    #[test]
    fn loopback_exact_and_wildcard() {
        let p = OriginPolicy::new(&["https://app.example.com".into()], true);
        assert!(p.allows(&HeaderMap::new()));
        assert!(p.allows(&with_origin("http://localhost:6274")));
        assert!(p.allows(&with_origin("http://127.0.0.1:8080")));
        assert!(p.allows(&with_origin("http://[::1]:3000")));
        assert!(p.allows(&with_origin("https://app.example.com")));
        assert!(!p.allows(&with_origin("http://evil.example.com")));
        assert!(!p.allows(&with_origin("http://localhost.evil.com")));
        assert!(!p.allows(&with_origin("http://127.0.0.1.evil.com:80")));
        assert!(!p.allows(&with_origin("null")));

        let strict = OriginPolicy::new(&[], false);
        assert!(!strict.allows(&with_origin("http://localhost:1")));
        assert!(OriginPolicy::new(&["*".into()], false).allows(&with_origin("http://x")));
    }
}
