//! Admin-time checks of URL fields against the egress policy, so a URL the
//! gateway would refuse to call is refused when it is written (400 naming
//! the field) rather than stored and failing later. The same policy is
//! enforced again on every connection (`mcpgate_upstream::egress`).

use mcpgate_catalog::{AuthSpec, Integration};

use super::ApiError;
use crate::Gateway;

/// `url` (a complete URL) must pass the egress policy.
pub(crate) fn check_url(gw: &Gateway, field: &str, url: &str) -> Result<(), ApiError> {
    // Syntax first (http(s) with a host), so the field error says what to fix.
    super::check_url(field, url)?;
    gw.egress
        .check_url(url)
        .map(drop)
        .map_err(|denied| ApiError::field(field, denied.to_string()))
}

/// An integration's URLs: the base URL (a template: placeholders stand for
/// names, the account's values are checked with the account) and the OAuth
/// token endpoint, reported under the fields named.
pub(crate) fn check_integration(
    gw: &Gateway,
    base_url_field: &str,
    token_url_field: &str,
    integration: &Integration,
) -> Result<(), ApiError> {
    // A relative (or missing) base URL names no host: each account
    // completes it with its own base_url, which is checked then.
    let relative = integration.base_url.is_empty() || integration.base_url.starts_with('/');
    if !relative {
        super::check_url_template(base_url_field, &integration.base_url)?;
        gw.egress
            .check_template(&integration.base_url)
            .map_err(|denied| ApiError::field(base_url_field, denied.to_string()))?;
    }
    match &integration.auth {
        AuthSpec::Oauth2ClientCredentials { token_url, .. }
        | AuthSpec::Oauth2RefreshToken { token_url } => check_url(gw, token_url_field, token_url),
        _ => Ok(()),
    }
}
