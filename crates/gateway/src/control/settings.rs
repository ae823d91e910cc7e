//! One integration's MCP settings in a tenant (Fruxon's surface): a server
//! per (tenant, integration), made on first use, whose first key is minted
//! when it is first enabled.

use mcpgate_catalog::ScopeConfig;
use mcpgate_store::{
    AccountId, IntegrationRecord, KeyRecord, Limits, NewServer, ServerPatch, ServerRecord,
    ServerSource,
};
use uuid::Uuid;

use super::{AdminContext, Control, ControlError};

/// Changes to one integration's MCP settings in a tenant; an absent field
/// keeps its value.
#[derive(Debug, Clone, Default)]
pub struct SettingsChanges {
    /// Serve (and mint the first key) or stop serving.
    pub enabled: Option<bool>,
    /// The integrated account it serves (of this integration and tenant);
    /// the nil UUID unbinds it. Errors name `config_id`.
    pub config_id: Option<Uuid>,
    /// The tools it exposes, each a tool of the integration; empty exposes all.
    pub exposed_tool_ids: Option<Vec<String>>,
    /// Free text.
    pub description: Option<String>,
    /// Per-key limits.
    pub limits: Option<Limits>,
}

impl Control<'_> {
    /// One integration's MCP settings server in the caller's tenant, if
    /// made, and its newest live key.
    pub async fn integration_settings(
        &self,
        ctx: &AdminContext,
        integration: &IntegrationRecord,
    ) -> Result<(Option<ServerRecord>, Option<KeyRecord>), ControlError> {
        let server = self
            .gw
            .store
            .integration_server(ctx.tenant(), integration.id)
            .await?;
        let key = match &server {
            Some(s) => self.newest_key(s.id).await?,
            None => None,
        };
        Ok((server, key))
    }

    /// Change one integration's MCP settings in the caller's tenant,
    /// creating them on first use. Creating, changing and minting the
    /// first key (when first enabled) are one store transaction, so
    /// concurrent first changes all succeed and one gets the key. Returns
    /// that key's secret, shown this once.
    pub async fn save_integration_settings(
        &self,
        ctx: &AdminContext,
        integration: &IntegrationRecord,
        changes: SettingsChanges,
    ) -> Result<Option<String>, ControlError> {
        // config_id: an account of this tenant and integration; nil unbinds.
        let source = match changes.config_id {
            None => None,
            Some(id) if id.is_nil() => Some(ServerSource::Unbound),
            Some(id) => {
                let account = self
                    .visible_account(ctx, AccountId(id))
                    .await?
                    .filter(|a| a.integration_id == integration.id)
                    .ok_or_else(|| {
                        ControlError::invalid(
                            "config_id",
                            "no integrated account of this integration has that id",
                        )
                    })?;
                Some(ServerSource::Account(account.id))
            }
        };
        // Every exposed id must be a tool of the integration; [] clears the
        // list (all tools), since an absent list means "keep".
        let exposed = match changes.exposed_tool_ids {
            None => None,
            Some(list) if list.is_empty() => Some(None),
            Some(list) => {
                self.check_scope(
                    integration.id,
                    &integration.definition,
                    &ScopeConfig::default(),
                    Some(&list),
                    "",
                )?;
                Some(Some(list))
            }
        };
        let label = integration
            .definition
            .label
            .clone()
            .unwrap_or_else(|| integration.definition.name.clone());
        let (server, minted) = self
            .gw
            .store
            .save_integration_settings(
                NewServer {
                    exposed_tools: exposed.clone().flatten(),
                    description: changes.description.clone(),
                    limits: changes.limits.unwrap_or_default(),
                    integration_id: Some(integration.id),
                    disabled: !changes.enabled.unwrap_or(false),
                    created_by: ctx.actor(),
                    mint_key: false,
                    ..NewServer::new(
                        ctx.tenant(),
                        format!("{label} MCP"),
                        source.clone().unwrap_or(ServerSource::Unbound),
                    )
                },
                ServerPatch {
                    disabled: changes.enabled.map(|e| !e),
                    source,
                    exposed_tools: exposed,
                    description: changes.description.map(Some),
                    limits: changes.limits,
                    modified_by: ctx.actor(),
                    ..ServerPatch::default()
                },
            )
            .await?;
        self.refresh_server(server.id).await?;
        Ok(minted.map(|(_, key)| {
            tracing::info!(server = %server.id, key_prefix = %key.prefix, "integration MCP key minted");
            key.secret
        }))
    }

    /// Rotate the key of one integration's MCP settings in the caller's
    /// tenant (`grace` from [`super::keys::grace`]); returns the new
    /// secret. A conflict while the settings have no key yet.
    pub async fn rotate_integration_key(
        &self,
        ctx: &AdminContext,
        integration: &IntegrationRecord,
        grace: time::Duration,
    ) -> Result<String, ControlError> {
        let (server, key) = self.integration_settings(ctx, integration).await?;
        let (Some(server), Some(_)) = (server, key) else {
            return Err(ControlError::Conflict(
                "this integration's MCP has no key yet; enable it first (PATCH …/mcp {\"enabled\": true})"
                    .to_owned(),
            ));
        };
        let (_, secret) = self.rotate_keys(server.id, grace).await?;
        Ok(secret)
    }
}
