//! The field rules the operations share: tenant names, outbound URLs,
//! display names, expiries, short ids. Each returns
//! [`ControlError::Invalid`] naming the field it was given.

use time::OffsetDateTime;
use uuid::Uuid;

use super::ControlError;
use crate::timefmt::parse_rfc3339;

/// A tenant name: non-empty, at most 128 of `A-Z a-z 0-9 - _ .`. The one
/// rule for a tenant wherever it is given (`/admin-token`, and the account
/// or tenant in a Cloudflare or Fruxon path), so no object can be made in a
/// tenant no admin token can be minted for.
pub(crate) fn tenant(field: &str, tenant: &str) -> Result<(), ControlError> {
    if tenant.is_empty()
        || tenant.len() > 128
        || !tenant
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(ControlError::invalid(
            field,
            "must be a name of 1-128 letters, digits, '-', '_' or '.'",
        ));
    }
    Ok(())
}

/// An outbound URL an admin configures (an upstream MCP server's endpoint,
/// an account's or integration's base URL, an OAuth token endpoint): an
/// absolute `http://` or `https://` URL with a host. The one place such
/// fields are judged, so every rule about where the gateway may connect
/// belongs here. `http://`, `https://` and `http:///etc/passwd` (which URL
/// parsers would read as host `etc`) have no host and are refused.
pub(crate) fn url(field: &str, value: &str) -> Result<reqwest::Url, ControlError> {
    let lower = value.get(..8).unwrap_or(value).to_ascii_lowercase();
    let authority = if lower.starts_with("https://") {
        &value[8..]
    } else if lower.starts_with("http://") {
        &value[7..]
    } else {
        return Err(ControlError::invalid(
            field,
            format!("{value:?} must be an http:// or https:// URL"),
        ));
    };
    let no_host = || {
        ControlError::invalid(
            field,
            format!("{value:?} has no host; give one, as in https://mcp.example.com/mcp"),
        )
    };
    if authority.is_empty() || authority.starts_with(['/', '\\', '?', '#', '@']) {
        return Err(no_host());
    }
    let url = reqwest::Url::parse(value)
        .map_err(|e| ControlError::invalid(field, format!("{value:?} is not a valid URL: {e}")))?;
    if url.host_str().is_none_or(str::is_empty) {
        return Err(no_host());
    }
    Ok(url)
}

/// [`url`] for a URL template whose `{placeholders}` an account's context
/// fills in later: judged with each placeholder as a plain name.
pub(crate) fn url_template(field: &str, template: &str) -> Result<(), ControlError> {
    let names = mcpgate_catalog::integration::placeholders(template)
        .map_err(|e| ControlError::invalid(field, e))?;
    let mut sample = template.to_owned();
    for name in names {
        sample = sample.replace(&format!("{{{name}}}"), "x");
    }
    url(field, &sample).map(drop)
}

/// A display name: trimmed, 1-200 characters.
pub(crate) fn name(field: &str, name: &str) -> Result<String, ControlError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(ControlError::invalid(field, "must not be empty"));
    }
    if name.chars().count() > 200 {
        return Err(ControlError::invalid(
            field,
            "must be at most 200 characters",
        ));
    }
    Ok(name.to_owned())
}

/// An RFC 3339 instant (any offset; kept to the millisecond).
pub(crate) fn expiry(field: &str, value: &str) -> Result<OffsetDateTime, ControlError> {
    parse_rfc3339(value).ok_or_else(|| {
        ControlError::invalid(
            field,
            format!("{value:?} is not an RFC 3339 timestamp such as 2026-12-31T23:59:59Z"),
        )
    })
}

/// The expiry of an object being created: an RFC 3339 instant still in the
/// future (a key or server born expired could never be used). A PATCH may
/// still set a past instant, which expires an existing server at once.
pub(crate) fn future_expiry(field: &str, value: &str) -> Result<OffsetDateTime, ControlError> {
    let t = expiry(field, value)?;
    if t <= OffsetDateTime::now_utc() {
        return Err(ControlError::invalid(
            field,
            format!("{value:?} is in the past; an expiry must be in the future"),
        ));
    }
    Ok(t)
}

/// The id of an upstream or portal: the one given (1-32 of `a-z 0-9 - _`),
/// or a fresh time-ordered one of 12 hex digits.
pub(crate) fn short_id(field: &str, given: Option<String>) -> Result<String, ControlError> {
    let Some(id) = given else {
        return Ok(Uuid::now_v7().simple().to_string()[..12].to_owned());
    };
    if id.is_empty()
        || id.len() > 32
        || !id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
    {
        return Err(ControlError::invalid(
            field,
            "must be 1-32 characters of a-z, 0-9, '-' or '_'",
        ));
    }
    Ok(id)
}
