//! Who wrote the URLs a tool source calls. The operator controls the
//! gateway's network and may point it at loopback and private addresses; a
//! tenant admin (a customer) may not, unless the operator allows it
//! (`egress.private_networks`). So every stored URL carries its provenance,
//! and the gateway calls it with the HTTP client that provenance allows.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

use crate::{Credentials, Integration};

/// Who last wrote a record's URL fields.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UrlProvenance {
    /// The operator: a super-admin token (`MCPGATE_ADMIN_TOKEN`, the
    /// bootstrap token, a stored token without a tenant) or the config
    /// directory (bundled integrations).
    Operator,
    /// A tenant-scoped admin token. Also what a record whose provenance is
    /// unknown (written before it was recorded) counts as, so an unknown
    /// writer gets the stricter policy.
    #[default]
    Tenant,
}

impl UrlProvenance {
    /// The provenance of a write by a super-admin (`true`) or a tenant admin.
    pub fn of_writer(super_admin: bool) -> Self {
        if super_admin {
            Self::Operator
        } else {
            Self::Tenant
        }
    }

    /// The provenance of a URL built from parts of both: a tenant's part
    /// makes the whole a tenant's.
    pub fn and(self, other: Self) -> Self {
        if self == Self::Operator && other == Self::Operator {
            Self::Operator
        } else {
            Self::Tenant
        }
    }

    /// The stored spelling: `operator` or `tenant`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Operator => "operator",
            Self::Tenant => "tenant",
        }
    }
}

impl fmt::Display for UrlProvenance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for UrlProvenance {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "operator" => Ok(Self::Operator),
            "tenant" => Ok(Self::Tenant),
            other => Err(format!(
                "{other:?} is not a URL provenance (operator or tenant)"
            )),
        }
    }
}

/// The provenance of every URL an integrated account's calls use, given
/// who wrote the integration (`integration_by`) and the account's URL
/// fields (`account_by`):
///
/// - the base URL: the account's own `base_url`, else the integration's
///   template — and the account's `context` too when the template has
///   `{placeholders}`, since its values become part of the URL;
/// - the OAuth token endpoint: the credentials' `token_url` unless it is
///   the integration's own (the gateway copies it there when it stores a
///   rotated refresh token), else the integration's.
///
/// One client makes all of an account's calls, so a tenant's part anywhere
/// makes the whole account a tenant's.
pub fn account_url_provenance(
    integration: &Integration,
    integration_by: UrlProvenance,
    account_by: UrlProvenance,
    base_url: Option<&str>,
    credentials: &Credentials,
) -> UrlProvenance {
    let base = match base_url {
        Some(_) => account_by,
        None if integration.base_url.contains('{') => integration_by.and(account_by),
        None => integration_by,
    };
    let token = match (credentials.token_url(), integration.auth.token_url()) {
        (Some(own), spec) if Some(own) != spec => account_by,
        (_, Some(_)) => integration_by,
        (_, None) => UrlProvenance::Operator,
    };
    base.and(token)
}

#[cfg(test)]
mod tests {
    use super::*;
    use UrlProvenance::{Operator, Tenant};

    fn integration(base_url: &str, token_url: Option<&str>) -> Integration {
        let auth = match token_url {
            Some(url) => serde_json::json!({"type": "oauth2_refresh_token", "token_url": url}),
            None => serde_json::json!({"type": "bearer"}),
        };
        Integration::from_json(serde_json::json!({
            "name": "crm", "base_url": base_url, "auth": auth,
            "resources": [{"name": "items", "methods": [{"kind": "list", "method": "GET", "path": "/items"}]}]
        }))
        .unwrap()
    }

    fn refresh(token_url: Option<&str>) -> Credentials {
        Credentials::Oauth2RefreshToken {
            client_id: "c".into(),
            client_secret: "s".into(),
            refresh_token: "r".into(),
            token_url: token_url.map(str::to_owned),
        }
    }

    #[test]
    fn an_account_is_an_operators_only_when_every_url_it_calls_is() {
        let fixed = integration("http://10.0.0.5/api", None);
        let bearer = Credentials::Bearer { token: "t".into() };
        let by = |i: &Integration, ib, ab, base: Option<&str>, c: &Credentials| {
            account_url_provenance(i, ib, ab, base, c)
        };
        // Without its own base URL, the account calls the integration's.
        assert_eq!(by(&fixed, Operator, Tenant, None, &bearer), Operator);
        assert_eq!(by(&fixed, Tenant, Operator, None, &bearer), Tenant);
        // Its own base URL is the account writer's.
        let own = Some("http://10.0.0.6/");
        assert_eq!(by(&fixed, Operator, Tenant, own, &bearer), Tenant);
        assert_eq!(by(&fixed, Tenant, Operator, own, &bearer), Operator);
        // A template's placeholders are filled from the account's context.
        let templated = integration("http://{host}/api", None);
        assert_eq!(by(&templated, Operator, Tenant, None, &bearer), Tenant);
        assert_eq!(by(&templated, Operator, Operator, None, &bearer), Operator);
        // The token endpoint: the credentials' own, else the integration's.
        let oauth = integration("https://api.example.com", Some("http://10.0.0.7/token"));
        let own_base = Some("https://api.example.com");
        assert_eq!(
            by(&oauth, Tenant, Operator, own_base, &refresh(None)),
            Tenant
        );
        assert_eq!(
            by(
                &oauth,
                Tenant,
                Operator,
                own_base,
                &refresh(Some("http://10.0.0.8/t"))
            ),
            Operator
        );
        assert_eq!(
            by(
                &oauth,
                Operator,
                Tenant,
                own_base,
                &refresh(Some("http://10.0.0.8/t"))
            ),
            Tenant
        );
        // The integration's own token URL copied into the credentials is still the integration's.
        assert_eq!(
            by(
                &oauth,
                Operator,
                Operator,
                None,
                &refresh(Some("http://10.0.0.7/token"))
            ),
            Operator
        );
        assert_eq!(
            by(
                &oauth,
                Tenant,
                Operator,
                None,
                &refresh(Some("http://10.0.0.7/token"))
            ),
            Tenant
        );
    }

    #[test]
    fn the_stored_spelling_round_trips() {
        for p in [Operator, Tenant] {
            assert_eq!(p.as_str().parse::<UrlProvenance>(), Ok(p));
            assert_eq!(serde_json::to_value(p).unwrap(), p.as_str());
        }
        assert!("super".parse::<UrlProvenance>().is_err());
        assert_eq!(UrlProvenance::default(), Tenant);
    }
}
