//! Admin-time checks of URL fields against the egress policy, so a URL the
//! gateway would refuse to call is refused when it is written (400 naming
//! the field) rather than stored and failing later. A URL is checked for
//! whoever wrote it ([`UrlProvenance`]): by default a super-admin's URLs
//! may reach loopback and private networks, a tenant admin's may not. The
//! same policy is enforced again on every connection
//! (`mcpgate_upstream::egress`), with the HTTP client of the URL's writer.

use mcpgate_catalog::{Credentials, Integration, UrlProvenance, account_url_provenance};
use mcpgate_store::IntegrationRecord;

use super::{ControlError, check};
use mcpgate_upstream::egress::EgressPolicy;

/// `url` (a complete URL) written by `by` must pass the egress policy.
pub(crate) fn check_url(
    egress: &EgressPolicy,
    field: &str,
    url: &str,
    by: UrlProvenance,
) -> Result<(), ControlError> {
    // Syntax first (http(s) with a host), so the field error says what to fix.
    check::url(field, url)?;
    egress
        .check_url(url, by)
        .map(drop)
        .map_err(|denied| ControlError::invalid(field, denied.to_string()))
}

/// An integration's URLs written by `by`: the base URL (a template:
/// placeholders stand for names, the account's values are checked with the
/// account) and the OAuth token endpoint, reported under the fields named.
pub(crate) fn check_integration(
    egress: &EgressPolicy,
    base_url_field: &str,
    token_url_field: &str,
    integration: &Integration,
    by: UrlProvenance,
) -> Result<(), ControlError> {
    // A relative (or missing) base URL names no host: each account
    // completes it with its own base_url, which is checked then.
    let relative = integration.base_url.is_empty() || integration.base_url.starts_with('/');
    if !relative {
        check::url_template(base_url_field, &integration.base_url)?;
        egress
            .check_template(&integration.base_url, by)
            .map_err(|denied| ControlError::invalid(base_url_field, denied.to_string()))?;
    }
    match integration.auth.token_url() {
        Some(url) => check_url(egress, token_url_field, url, by),
        None => Ok(()),
    }
}

/// Every URL an account will call — `resolved`, its base URL with the
/// placeholders filled (reported under `base_url_field`), and its OAuth
/// token endpoint — checked for the provenance the account's calls will
/// have: its own fields written by `account_by`, the integration's by
/// whoever wrote the integration (see [`account_url_provenance`]).
pub(crate) fn check_account(
    egress: &EgressPolicy,
    integration: &IntegrationRecord,
    account_by: UrlProvenance,
    base_url: Option<&str>,
    (base_url_field, resolved): (&str, &str),
    credentials: &Credentials,
) -> Result<(), ControlError> {
    let by = account_url_provenance(
        &integration.definition,
        integration.url_provenance,
        account_by,
        base_url,
        credentials,
    );
    check_url(egress, base_url_field, resolved, by)?;
    match (
        credentials.token_url(),
        integration.definition.auth.token_url(),
    ) {
        (Some(own), _) => check_url(egress, "credentials.token_url", own, by),
        (None, Some(inherited)) => egress.check_url(inherited, by).map(drop).map_err(|denied| {
            ControlError::invalid(
                "credentials.token_url",
                format!("the integration's token URL, used as the credentials name none: {denied}"),
            )
        }),
        (None, None) => Ok(()),
    }
}
