//! An integrated account's credentials. Secret by nature: `Debug` redacts,
//! and [`Credentials::describe`] is the only view an API may return.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::fmt;

/// How mcpgate authenticates to the upstream API on an account's behalf.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Credentials {
    /// No authentication.
    None,
    /// `Authorization: Bearer <token>`.
    Bearer {
        /// The token.
        token: String,
    },
    /// HTTP basic authentication.
    Basic {
        /// User name.
        username: String,
        /// Password.
        password: String,
    },
    /// An API key in a request header.
    Header {
        /// Header name.
        name: String,
        /// Header value.
        value: String,
    },
    /// An API key in a query parameter.
    Query {
        /// Parameter name.
        name: String,
        /// Parameter value.
        value: String,
    },
    /// OAuth 2 client credentials: a token is fetched and cached until it expires.
    Oauth2ClientCredentials {
        /// Client id.
        client_id: String,
        /// Client secret.
        client_secret: String,
        /// Token endpoint (default: the integration's).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        token_url: Option<String>,
        /// Scopes to request (default: the integration's).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        scopes: Vec<String>,
    },
    /// OAuth 2 refresh token: access tokens are refreshed, and a rotated
    /// refresh token is stored.
    Oauth2RefreshToken {
        /// Client id.
        client_id: String,
        /// Client secret.
        client_secret: String,
        /// The current refresh token.
        refresh_token: String,
        /// Token endpoint (default: the integration's).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        token_url: Option<String>,
    },
}

impl Credentials {
    /// The scheme's name.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Bearer { .. } => "bearer",
            Self::Basic { .. } => "basic",
            Self::Header { .. } => "header",
            Self::Query { .. } => "query",
            Self::Oauth2ClientCredentials { .. } => "oauth2_client_credentials",
            Self::Oauth2RefreshToken { .. } => "oauth2_refresh_token",
        }
    }

    /// What may be shown about the credentials: the scheme and non-secret
    /// parameters, never a secret.
    pub fn describe(&self) -> Value {
        match self {
            Self::Header { name, .. } | Self::Query { name, .. } => {
                json!({ "type": self.kind(), "name": name })
            }
            Self::Oauth2ClientCredentials { token_url, .. }
            | Self::Oauth2RefreshToken { token_url, .. } => {
                json!({ "type": self.kind(), "token_url": token_url })
            }
            _ => json!({ "type": self.kind() }),
        }
    }

    /// The OAuth token endpoint these credentials name, if any (`None`:
    /// the integration's, or no token endpoint at all).
    pub fn token_url(&self) -> Option<&str> {
        match self {
            Self::Oauth2ClientCredentials { token_url, .. }
            | Self::Oauth2RefreshToken { token_url, .. } => token_url.as_deref(),
            _ => None,
        }
    }

    /// Reject empty secrets and names, naming the field.
    pub fn validate(&self) -> Result<(), String> {
        let empty = |field: &str, v: &str| {
            if v.trim().is_empty() {
                Err(format!("credentials.{field} must not be empty"))
            } else {
                Ok(())
            }
        };
        match self {
            Self::None => Ok(()),
            Self::Bearer { token } => empty("token", token),
            Self::Basic { username, .. } => empty("username", username),
            Self::Header { name, value } | Self::Query { name, value } => {
                empty("name", name)?;
                empty("value", value)
            }
            Self::Oauth2ClientCredentials {
                client_id,
                client_secret,
                ..
            } => {
                empty("client_id", client_id)?;
                empty("client_secret", client_secret)
            }
            Self::Oauth2RefreshToken {
                client_id,
                refresh_token,
                ..
            } => {
                empty("client_id", client_id)?;
                empty("refresh_token", refresh_token)
            }
        }
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Credentials({}, redacted)", self.kind())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_describe_never_show_secrets() {
        let c: Credentials = serde_json::from_value(json!({
            "type": "oauth2_client_credentials", "client_id": "id-1",
            "client_secret": "s3cr3t", "token_url": "https://auth.example.com/token"
        }))
        .unwrap();
        assert!(!format!("{c:?}").contains("s3cr3t"));
        assert!(!c.describe().to_string().contains("s3cr3t"));
        assert_eq!(c.describe()["token_url"], "https://auth.example.com/token");
        let h = Credentials::Header {
            name: "X-Key".into(),
            value: "v".into(),
        };
        assert_eq!(h.describe(), json!({"type": "header", "name": "X-Key"}));
    }

    #[test]
    fn validation_names_the_empty_field() {
        let c = Credentials::Bearer { token: " ".into() };
        assert_eq!(
            c.validate().unwrap_err(),
            "credentials.token must not be empty"
        );
        assert!(
            serde_json::from_value::<Credentials>(json!({"type":"bearer","token":"x","extra":1}))
                .is_err()
        );
    }
}
