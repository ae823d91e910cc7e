//! Applying an account's credentials to upstream requests, including OAuth 2
//! tokens that are fetched, cached until they expire, and refreshed once when
//! the upstream answers 401.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use mcpgate_catalog::{AuthSpec, Credentials};
use reqwest::RequestBuilder;
use reqwest::header::{AUTHORIZATION, HeaderName, HeaderValue};
use serde::Deserialize;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Called with the new credentials when an OAuth server rotates the refresh
/// token, so the caller can persist them.
pub type RotateHook = Arc<dyn Fn(Credentials) + Send + Sync>;

/// The most bytes of a token endpoint's answer that are read.
const TOKEN_ANSWER_BYTES: usize = 64 * 1024;

/// Refresh this long before the server says a token expires.
const EXPIRY_SKEW: Duration = Duration::from_secs(30);

pub(crate) enum Auth {
    None,
    Header(HeaderName, HeaderValue),
    Query(String, String),
    OAuth(OAuth),
}

pub(crate) struct OAuth {
    token_url: String,
    client_id: String,
    client_secret: String,
    scopes: Vec<String>,
    refresh_token: Option<std::sync::Mutex<String>>,
    cached: tokio::sync::Mutex<Option<Token>>,
    on_rotate: Option<RotateHook>,
}

#[derive(Clone)]
struct Token {
    access: String,
    expires: Option<Instant>,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
    #[serde(default)]
    refresh_token: Option<String>,
}

fn sensitive(value: &str) -> Result<HeaderValue, String> {
    let mut v = HeaderValue::from_str(value)
        .map_err(|_| "credentials contain characters not allowed in an HTTP header".to_owned())?;
    v.set_sensitive(true);
    Ok(v)
}

impl Auth {
    /// Build from an account's credentials; OAuth endpoints default to the
    /// integration's.
    pub(crate) fn new(
        credentials: &Credentials,
        spec: &AuthSpec,
        on_rotate: Option<RotateHook>,
    ) -> Result<Self, String> {
        let spec_token_url = match spec {
            AuthSpec::Oauth2ClientCredentials { token_url, .. }
            | AuthSpec::Oauth2RefreshToken { token_url } => Some(token_url.clone()),
            _ => None,
        };
        let spec_scopes = match spec {
            AuthSpec::Oauth2ClientCredentials { scopes, .. } => scopes.clone(),
            _ => Vec::new(),
        };
        Ok(match credentials {
            Credentials::None => Self::None,
            Credentials::Bearer { token } => {
                Self::Header(AUTHORIZATION, sensitive(&format!("Bearer {token}"))?)
            }
            Credentials::Basic { username, password } => Self::Header(
                AUTHORIZATION,
                sensitive(&format!(
                    "Basic {}",
                    STANDARD.encode(format!("{username}:{password}"))
                ))?,
            ),
            Credentials::Header { name, value } => Self::Header(
                HeaderName::from_bytes(name.as_bytes())
                    .map_err(|_| format!("{name:?} is not a valid header name"))?,
                sensitive(value)?,
            ),
            Credentials::Query { name, value } => Self::Query(name.clone(), value.clone()),
            Credentials::Oauth2ClientCredentials {
                client_id,
                client_secret,
                token_url,
                scopes,
            } => Self::OAuth(OAuth {
                token_url: token_url
                    .clone()
                    .or(spec_token_url)
                    .ok_or("OAuth client credentials need a token_url")?,
                client_id: client_id.clone(),
                client_secret: client_secret.clone(),
                scopes: if scopes.is_empty() {
                    spec_scopes
                } else {
                    scopes.clone()
                },
                refresh_token: None,
                cached: tokio::sync::Mutex::new(None),
                on_rotate: None,
            }),
            Credentials::Oauth2RefreshToken {
                client_id,
                client_secret,
                refresh_token,
                token_url,
            } => Self::OAuth(OAuth {
                token_url: token_url
                    .clone()
                    .or(spec_token_url)
                    .ok_or("an OAuth refresh token needs a token_url")?,
                client_id: client_id.clone(),
                client_secret: client_secret.clone(),
                scopes: Vec::new(),
                refresh_token: Some(std::sync::Mutex::new(refresh_token.clone())),
                cached: tokio::sync::Mutex::new(None),
                on_rotate,
            }),
        })
    }

    /// Add credentials to a request. For OAuth, returns the access token used,
    /// so a 401 can invalidate exactly that token.
    pub(crate) async fn apply(
        &self,
        http: &reqwest::Client,
        request: RequestBuilder,
    ) -> Result<(RequestBuilder, Option<String>), String> {
        Ok(match self {
            Self::None => (request, None),
            Self::Header(name, value) => (request.header(name, value), None),
            Self::Query(name, value) => (request.query(&[(name, value)]), None),
            Self::OAuth(oauth) => {
                let token = oauth.token(http).await?;
                (request.bearer_auth(&token), Some(token))
            }
        })
    }

    /// Whether a 401 should trigger one token refresh and retry.
    pub(crate) fn refreshes_on_401(&self) -> bool {
        matches!(self, Self::OAuth(_))
    }

    /// Forget a rejected access token (unless another call already replaced it).
    pub(crate) async fn invalidate(&self, rejected: &str) {
        if let Self::OAuth(oauth) = self {
            let mut cached = oauth.cached.lock().await;
            if cached.as_ref().is_some_and(|t| t.access == rejected) {
                *cached = None;
            }
        }
    }
}

impl OAuth {
    async fn token(&self, http: &reqwest::Client) -> Result<String, String> {
        // Held across the fetch so concurrent calls wait for one token request.
        let mut cached = self.cached.lock().await;
        if let Some(t) = cached.as_ref()
            && t.expires.is_none_or(|e| Instant::now() + EXPIRY_SKEW < e)
        {
            return Ok(t.access.clone());
        }
        let token = self.fetch(http).await?;
        *cached = Some(token.clone());
        Ok(token.access)
    }

    async fn fetch(&self, http: &reqwest::Client) -> Result<Token, String> {
        let scope = self.scopes.join(" ");
        let refresh = self
            .refresh_token
            .as_ref()
            .map(|r| r.lock().expect("refresh token lock").clone());
        let mut form: Vec<(&str, &str)> = vec![
            ("client_id", &self.client_id),
            ("client_secret", &self.client_secret),
        ];
        match &refresh {
            Some(rt) => {
                form.push(("grant_type", "refresh_token"));
                form.push(("refresh_token", rt));
            }
            None => {
                form.push(("grant_type", "client_credentials"));
                if !scope.is_empty() {
                    form.push(("scope", &scope));
                }
            }
        }
        let response = http
            .post(&self.token_url)
            .form(&form)
            .timeout(Duration::from_secs(30))
            .send()
            .await
            .map_err(|e| {
                format!(
                    "could not reach the OAuth token endpoint: {}",
                    crate::egress::reason(e)
                )
            })?;
        let status = response.status();
        if !status.is_success() {
            return Err(format!(
                "the OAuth token endpoint answered {status}; check the account's OAuth credentials"
            ));
        }
        // A token answer is small; a larger one is not read whole.
        let body = crate::bounded::body(response, TOKEN_ANSWER_BYTES)
            .await
            .map_err(|e| match e {
                crate::bounded::ReadError::TooLarge(max) => {
                    format!("the OAuth token endpoint answered more than {max} bytes")
                }
                crate::bounded::ReadError::Broken(e) => format!(
                    "the OAuth token endpoint's answer broke off: {}",
                    e.without_url()
                ),
            })?;
        let body: TokenResponse = serde_json::from_slice(&body)
            .map_err(|_| "the OAuth token endpoint answered without an access_token".to_owned())?;
        if let (Some(new), Some(current)) = (&body.refresh_token, &self.refresh_token) {
            let mut current = current.lock().expect("refresh token lock");
            if *current != *new {
                *current = new.clone();
                if let Some(hook) = &self.on_rotate {
                    hook(Credentials::Oauth2RefreshToken {
                        client_id: self.client_id.clone(),
                        client_secret: self.client_secret.clone(),
                        refresh_token: new.clone(),
                        token_url: Some(self.token_url.clone()),
                    });
                }
            }
        }
        Ok(Token {
            access: body.access_token,
            // A provider's `expires_in` may be any number: one past what an
            // Instant holds means "no known expiry", never an overflow.
            expires: body
                .expires_in
                .and_then(|s| Instant::now().checked_add(Duration::from_secs(s))),
        })
    }
}
