//! Which database a store runs on, and how to reach it.

use std::path::Path;

use crate::StoreError;

/// The database behind a [`Store`](crate::Store).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// One file in the data directory (the embedded default): one host.
    Sqlite,
    /// A PostgreSQL server, shared by any number of replicas.
    Postgres,
}

impl Backend {
    /// The backend a store URL names, by its scheme.
    pub fn of(url: &str) -> Result<Self, StoreError> {
        let scheme = url.split_once(':').map(|(s, _)| s).unwrap_or_default();
        match scheme {
            "sqlite" => Ok(Self::Sqlite),
            "postgres" | "postgresql" => Ok(Self::Postgres),
            _ => Err(StoreError::Config(format!(
                "store URL {:?} names no supported database; use postgres://user@host:5432/db \
                 or sqlite:///path/to/mcpgate.db",
                redact(url)
            ))),
        }
    }

    /// The name used in logs and `/readyz`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        }
    }
}

/// `url` with any password replaced by `***`, fit for logs and errors.
pub fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            // Cannot fail: the URL has a host, since it has a password.
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        Ok(_) => url.to_owned(),
        Err(_) => "<unparsable URL>".to_owned(),
    }
}

/// The `sqlite://` URL of a database file. sqlx percent-decodes the path, so
/// the characters that would end or escape it are encoded.
pub(crate) fn sqlite_url(path: &Path) -> Result<String, StoreError> {
    let absolute = std::path::absolute(path)
        .map_err(|e| StoreError::Config(format!("{}: {e}", path.display())))?;
    let text = absolute
        .to_str()
        .ok_or_else(|| StoreError::Config(format!("{} is not valid UTF-8", absolute.display())))?;
    let mut url = String::from("sqlite://");
    for c in text.chars() {
        match c {
            '%' => url.push_str("%25"),
            '?' => url.push_str("%3F"),
            '#' => url.push_str("%23"),
            c => url.push(c),
        }
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backends_by_scheme_and_clear_refusals() {
        assert_eq!(Backend::of("postgres://h/db").unwrap(), Backend::Postgres);
        assert_eq!(Backend::of("postgresql://h/db").unwrap(), Backend::Postgres);
        assert_eq!(Backend::of("sqlite:///tmp/x.db").unwrap(), Backend::Sqlite);
        let e = Backend::of("mysql://root:hunter2@h/db")
            .unwrap_err()
            .to_string();
        assert!(e.contains("postgres://"), "{e}");
        assert!(!e.contains("hunter2"), "the password is not repeated: {e}");
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact("postgres://app:s3cret@db:5432/mcpgate"),
            "postgres://app:***@db:5432/mcpgate"
        );
        assert_eq!(redact("postgres://db/mcpgate"), "postgres://db/mcpgate");
    }

    #[test]
    fn file_urls_survive_awkward_paths() {
        let url = sqlite_url(Path::new("/data/100% #1?/mcpgate.db")).unwrap();
        assert_eq!(url, "sqlite:///data/100%25 %231%3F/mcpgate.db");
    }
}
