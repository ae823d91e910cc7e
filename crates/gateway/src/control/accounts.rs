//! Integrated accounts: one customer's connection to an integration (base
//! URL, context filling its placeholders, write-only credentials).

use mcpgate_catalog::{AuthSpec, Credentials, UrlProvenance};
use mcpgate_store::{AccountId, AccountPatch, AccountRecord, IntegrationId, Loaded, NewAccount};
use mcpgate_upstream::rest::account_base_url;
use serde_json::{Map, Value};

use super::{AdminContext, Control, ControlError, check, egress};

/// An account as an admin creates it.
#[derive(Debug, Clone)]
pub struct AccountSpec {
    /// Its integration by id (a UUID); give this or `integration`.
    pub integration_id: Option<String>,
    /// Its integration by name (the caller's own first, then the bundled one).
    pub integration: Option<String>,
    /// Display name.
    pub name: Option<String>,
    /// Its base URL (completes a relative integration URL; a template).
    pub base_url: Option<String>,
    /// Values of the base URL's placeholders.
    pub context: Map<String, Value>,
    /// How it authenticates (write-only).
    pub credentials: Credentials,
}

/// Changes to an account; an absent field keeps its value, `Some(None)`
/// clears it.
#[derive(Debug, Clone, Default)]
pub struct AccountChanges {
    /// Display name.
    pub name: Option<Option<String>>,
    /// Base URL.
    pub base_url: Option<Option<String>>,
    /// Placeholder values (replaced whole).
    pub context: Option<Map<String, Value>>,
    /// Credentials (replaced whole).
    pub credentials: Option<Credentials>,
}

/// OAuth credentials need a token endpoint: their own `token_url`, else
/// the integration's. Without either the account could never get a token.
fn require_token_url(credentials: &Credentials, auth: &AuthSpec) -> Result<(), ControlError> {
    let (Credentials::Oauth2ClientCredentials { .. } | Credentials::Oauth2RefreshToken { .. }) =
        credentials
    else {
        return Ok(());
    };
    if credentials.token_url().is_some() || auth.token_url().is_some() {
        return Ok(());
    }
    Err(ControlError::invalid(
        "credentials.token_url",
        format!(
            "{} credentials need a token URL, and this integration's auth names none: \
             set credentials.token_url",
            credentials.kind()
        ),
    ))
}

impl Control<'_> {
    /// Check that an account can reach its API: a usable base URL with
    /// every placeholder filled, complete credentials, and URLs the egress
    /// policy lets the account's calls reach, its own URL fields written by `by`.
    fn check_connection(
        &self,
        integration: IntegrationId,
        base_url: Option<&str>,
        context: &Map<String, Value>,
        credentials: &Credentials,
        by: UrlProvenance,
    ) -> Result<(), ControlError> {
        credentials
            .validate()
            .map_err(|e| ControlError::invalid("credentials", e))?;
        let entry = self
            .gw
            .index
            .integration(integration)
            .ok_or_else(|| ControlError::invalid("integration_id", "no such integration"))?;
        if let Some(url) = base_url {
            check::url_template("base_url", url)?;
        }
        // The URL the account will call: a relative integration URL completed
        // by the account's, placeholders filled from its context.
        let resolved = account_base_url(&entry.record.definition.base_url, base_url, context)
            .map_err(|e| {
                // A relative integration URL needs the account's: name that field.
                let field = if e.contains("base_url") {
                    "base_url"
                } else {
                    "context"
                };
                ControlError::invalid(field, e)
            })?;
        // The context fills the template: what it makes must still be a URL
        // the egress policy lets the gateway call.
        let field = if base_url.is_none() && entry.record.definition.base_url.contains('{') {
            "context"
        } else {
            "base_url"
        };
        egress::check_account(
            &self.gw.egress,
            &entry.record,
            by,
            base_url,
            (field, &resolved),
            credentials,
        )?;
        require_token_url(credentials, &entry.record.definition.auth)
    }

    /// Create an account in the caller's tenant, live at once.
    pub async fn create_account(
        &self,
        ctx: &AdminContext,
        spec: AccountSpec,
    ) -> Result<AccountRecord, ControlError> {
        let integration_id = match (spec.integration_id, spec.integration) {
            (Some(id), None) => {
                id.parse::<IntegrationId>()
                    .map_err(|_| ControlError::invalid("integration_id", "is not a UUID"))?;
                self.find_integration(ctx, &id)
                    .await?
                    .ok_or_else(|| ControlError::invalid("integration_id", "no such integration"))?
                    .id
            }
            (None, Some(name)) => {
                self.find_integration(ctx, &name)
                    .await?
                    .ok_or_else(|| {
                        ControlError::invalid(
                            "integration",
                            format!("no integration named {name:?}"),
                        )
                    })?
                    .id
            }
            _ => {
                return Err(ControlError::invalid(
                    "integration_id",
                    "give either integration_id or integration (a name)",
                ));
            }
        };
        self.check_connection(
            integration_id,
            spec.base_url.as_deref(),
            &spec.context,
            &spec.credentials,
            ctx.url_provenance(),
        )?;
        let record = self
            .gw
            .store
            .create_account(NewAccount {
                tenant: ctx.tenant().to_owned(),
                integration_id,
                name: spec.name,
                base_url: spec.base_url,
                context: spec.context,
                credentials: spec.credentials,
                url_provenance: ctx.url_provenance(),
            })
            .await?;
        self.reload_index().await?;
        tracing::info!(account = %record.id, kind = record.credentials.kind(), "integrated account created");
        Ok(record)
    }

    /// Every account, those the caller sees among the records that read.
    pub async fn list_accounts(
        &self,
        ctx: &AdminContext,
    ) -> Result<Loaded<AccountRecord>, ControlError> {
        let mut loaded = self.gw.store.load_accounts().await?;
        loaded.records.retain(|a| ctx.sees(&a.tenant));
        Ok(loaded)
    }

    /// The account `id` (a UUID) if the caller may see it.
    pub async fn account(
        &self,
        ctx: &AdminContext,
        id: &str,
    ) -> Result<AccountRecord, ControlError> {
        let id: AccountId = id.parse().map_err(|_| ControlError::NotFound)?;
        self.visible_account(ctx, id)
            .await?
            .ok_or(ControlError::NotFound)
    }

    /// Apply `changes` to `current` (an account the caller sees), live at once.
    pub async fn update_account(
        &self,
        ctx: &AdminContext,
        current: &AccountRecord,
        changes: AccountChanges,
    ) -> Result<AccountRecord, ControlError> {
        let base_url = match &changes.base_url {
            Some(b) => b.clone(),
            None => current.base_url.clone(),
        };
        let context = changes.context.clone().unwrap_or(current.context.clone());
        let credentials = changes
            .credentials
            .clone()
            .unwrap_or(current.credentials.clone());
        // A change that writes a URL field (the base URL, the context
        // filling its placeholders, credentials naming a token URL) makes
        // the account's URLs the caller's; one that does not keeps who
        // wrote them.
        let writes_urls = changes.base_url.is_some()
            || changes.context.is_some()
            || changes
                .credentials
                .as_ref()
                .is_some_and(|c| c.token_url().is_some());
        let url_provenance = writes_urls.then(|| ctx.url_provenance());
        self.check_connection(
            current.integration_id,
            base_url.as_deref(),
            &context,
            &credentials,
            url_provenance.unwrap_or(current.url_provenance),
        )?;
        let record = self
            .gw
            .store
            .update_account(
                current.id,
                AccountPatch {
                    name: changes.name,
                    base_url: changes.base_url,
                    context: changes.context,
                    credentials: changes.credentials,
                    url_provenance,
                },
            )
            .await?
            .ok_or(ControlError::NotFound)?;
        self.reload_index().await?;
        Ok(record)
    }

    /// Delete an account (one the caller sees), effective at once.
    pub async fn delete_account(&self, id: AccountId) -> Result<(), ControlError> {
        if !self.gw.store.delete_account(id).await? {
            return Err(ControlError::NotFound);
        }
        self.reload_index().await
    }

    /// The name of integration `id`, when the gateway has it loaded.
    pub fn integration_name(&self, id: IntegrationId) -> Option<String> {
        self.gw
            .index
            .integration(id)
            .map(|i| i.record.definition.name.clone())
    }
}
