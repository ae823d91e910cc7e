//! Virtual MCP servers: over a toolset, an integrated account, a portal's
//! upstreams, or one integration's MCP settings in a tenant (Fruxon's
//! surface). Each has keys ([`super::keys`]), limits, a scope and a sandbox.

use mcpgate_catalog::{Integration, Scope, ScopeConfig, ScopeError};
use mcpgate_store::{
    AccountId, AccountRecord, Fixture, IntegrationId, KeyRecord, Limits, Loaded, NewServer,
    SandboxSettings, ServerId, ServerPatch, ServerRecord, ServerSource,
};
use std::collections::BTreeMap;
use uuid::Uuid;

use super::{AdminContext, Control, ControlError, check};
use crate::index::{Fault, RecordKind};

/// A server as the native API creates it.
#[derive(Debug, Clone, Default)]
pub struct ServerSpec {
    /// Display name (1-200 characters).
    pub name: String,
    /// Free text.
    pub description: Option<String>,
    /// Per-key limits.
    pub limits: Limits,
    /// The toolset it serves (default: the gateway's); not with an account.
    pub toolset: Option<String>,
    /// The integrated account (a UUID) it serves; not with a toolset.
    pub integrated_account_id: Option<String>,
    /// The account's scope (integrated-account servers only).
    pub config: Option<ScopeConfig>,
    /// The tools it exposes, by name (integrated-account servers only).
    pub exposed_tool_ids: Option<Vec<String>>,
    /// When it stops serving: RFC 3339, in the future.
    pub expires_at: Option<String>,
}

/// A server of one integrated account as Truto's surface creates it.
#[derive(Debug, Clone, Default)]
pub struct AccountServerSpec {
    /// Display name (default: the account's name).
    pub name: Option<String>,
    /// The account's scope.
    pub config: Option<ScopeConfig>,
    /// When it stops serving: RFC 3339, in the future.
    pub expires_at: Option<String>,
    /// Per-key limits.
    pub limits: Limits,
}

/// Changes to a server; an absent field keeps its value, `Some(None)`
/// clears it.
#[derive(Debug, Clone, Default)]
pub struct ServerChanges {
    /// Display name (1-200 characters).
    pub name: Option<String>,
    /// Stop (or resume) serving.
    pub disabled: Option<bool>,
    /// RFC 3339; a past instant expires the server at once, on purpose.
    pub expires_at: Option<Option<String>>,
    /// The account's scope (integrated-account servers only).
    pub config: Option<ScopeConfig>,
    /// The tools it exposes (integrated-account servers only).
    pub exposed_tool_ids: Option<Option<Vec<String>>>,
    /// Free text.
    pub description: Option<Option<String>>,
    /// Per-key limits.
    pub limits: Option<Limits>,
    /// The sandbox's simulated faults.
    pub sandbox: Option<SandboxSettings>,
}

/// A scope's problems as one error naming each bad entry: `tools` as
/// `exposed_tool_ids`, the others under `field_prefix`.
fn scope_error(e: ScopeError, field_prefix: &str) -> ControlError {
    let fields: BTreeMap<String, String> = e
        .problems
        .iter()
        .map(|p| {
            let field = match p.field {
                "tools" => "exposed_tool_ids".to_owned(),
                f => format!("{field_prefix}{f}"),
            };
            (field, p.to_string())
        })
        .collect();
    ControlError::InvalidFields {
        message: e.to_string(),
        fields,
    }
}

fn check_sandbox(s: SandboxSettings) -> Result<SandboxSettings, ControlError> {
    if s.error_rate.is_some_and(|r| !(0.0..=1.0).contains(&r)) {
        return Err(ControlError::invalid(
            "sandbox.error_rate",
            "must be between 0 and 1",
        ));
    }
    if s.error_status.is_some_and(|c| !(400..=599).contains(&c)) {
        return Err(ControlError::invalid(
            "sandbox.error_status",
            "must be an HTTP error status (400-599)",
        ));
    }
    if s.latency_ms.is_some_and(|l| l > 60_000) {
        return Err(ControlError::invalid(
            "sandbox.latency_ms",
            "must be at most 60000",
        ));
    }
    Ok(s)
}

/// An optional future expiry field.
fn future_expiry(value: Option<&str>) -> Result<Option<time::OffsetDateTime>, ControlError> {
    value
        .map(|v| check::future_expiry("expires_at", v))
        .transpose()
}

impl Control<'_> {
    /// An account the caller may see, or `None`.
    pub async fn visible_account(
        &self,
        ctx: &AdminContext,
        id: AccountId,
    ) -> Result<Option<AccountRecord>, ControlError> {
        Ok(self
            .gw
            .store
            .get_account(id)
            .await?
            .filter(|a| ctx.sees(&a.tenant)))
    }

    /// The server `id` (a UUID) if the caller may see it.
    pub async fn server(&self, ctx: &AdminContext, id: &str) -> Result<ServerRecord, ControlError> {
        let id: ServerId = id.parse().map_err(|_| ControlError::NotFound)?;
        self.gw
            .store
            .get_server(id)
            .await?
            .filter(|s| ctx.sees(&s.tenant))
            .ok_or(ControlError::NotFound)
    }

    /// The server `id`, or (`Err`) why its stored row does not read.
    pub async fn server_or_fault(
        &self,
        ctx: &AdminContext,
        id: &str,
    ) -> Result<Result<ServerRecord, Fault>, ControlError> {
        let parsed: ServerId = id.parse().map_err(|_| ControlError::NotFound)?;
        if let Err(mcpgate_store::StoreError::Corrupt { .. }) =
            self.gw.store.get_server(parsed).await
            && let Some(f) = self
                .gw
                .index
                .faults(RecordKind::Server)
                .into_iter()
                .find(|f| f.id == id && f.tenant.as_deref().is_some_and(|t| ctx.sees(t)))
        {
            return Ok(Err(f));
        }
        self.server(ctx, id).await.map(Ok)
    }

    /// A page of the servers the caller sees, after the server `after` (a
    /// cursor this API returned), and whether more follow.
    pub async fn list_servers(
        &self,
        ctx: &AdminContext,
        after: Option<&str>,
        limit: u32,
    ) -> Result<(Loaded<ServerRecord>, bool), ControlError> {
        let after = after
            .map(|a| a.parse::<ServerId>().map_err(|_| ControlError::NotFound))
            .transpose()?;
        Ok(self
            .gw
            .store
            .load_servers_page(ctx.tenant.as_deref(), after, limit)
            .await?)
    }

    /// The servers of one integrated account, in id order.
    pub async fn account_servers(
        &self,
        account: AccountId,
    ) -> Result<Vec<ServerRecord>, ControlError> {
        Ok(self.gw.store.list_account_servers(account).await?)
    }

    /// The live keys of `server`, oldest first.
    pub async fn live_keys(&self, server: ServerId) -> Result<Vec<KeyRecord>, ControlError> {
        Ok(self.gw.store.list_server_keys(server).await?)
    }

    /// Check `scope` and `tools` against integration `id` (its definition
    /// and the tools the gateway built from it).
    pub(super) fn check_scope(
        &self,
        id: IntegrationId,
        definition: &Integration,
        scope: &ScopeConfig,
        tools: Option<&[String]>,
        field_prefix: &str,
    ) -> Result<(), ControlError> {
        let entry = self
            .gw
            .index
            .integration(id)
            .ok_or_else(|| ControlError::Internal("an integration is not loaded".into()))?;
        let names: Vec<&str> = entry.tool_names.iter().map(String::as_str).collect();
        Scope::parse(scope, tools, definition, &names)
            .map(drop)
            .map_err(|e| scope_error(e, field_prefix))
    }

    /// Check a scope against an account's integration; errors name
    /// `config.*` and `exposed_tool_ids`.
    pub fn validate_scope(
        &self,
        account: &AccountRecord,
        scope: &ScopeConfig,
        tools: Option<&[String]>,
    ) -> Result<(), ControlError> {
        let entry = self
            .gw
            .index
            .integration(account.integration_id)
            .ok_or_else(|| {
                ControlError::Internal("an account's integration is not loaded".into())
            })?;
        self.check_scope(
            account.integration_id,
            &entry.record.definition,
            scope,
            tools,
            "config.",
        )
    }

    /// Store a new server with its first key and make it live; returns it
    /// and the key's secret (shown this once).
    async fn mint_server(&self, new: NewServer) -> Result<(ServerRecord, String), ControlError> {
        let (record, minted) = self.gw.store.create_server(new).await?;
        self.refresh_server(record.id).await?;
        let (_, key) = minted
            .ok_or_else(|| ControlError::Internal("a server was created without a key".into()))?;
        tracing::info!(server = %record.id, key_prefix = %key.prefix, "server created");
        Ok((record, key.secret))
    }

    /// Create a server in the caller's tenant over a toolset or an
    /// integrated account; returns it and its first key's secret.
    pub async fn create_server(
        &self,
        ctx: &AdminContext,
        spec: ServerSpec,
    ) -> Result<(ServerRecord, String), ControlError> {
        let name = check::name("name", &spec.name)?;
        let scope = spec.config.unwrap_or_default();
        let source = match (spec.toolset, spec.integrated_account_id) {
            (Some(_), Some(_)) => {
                return Err(ControlError::invalid(
                    "toolset",
                    "give either toolset or integrated_account_id, not both",
                ));
            }
            (None, Some(account)) => {
                let id: AccountId = account
                    .parse()
                    .map_err(|_| ControlError::invalid("integrated_account_id", "is not a UUID"))?;
                let record = self.visible_account(ctx, id).await?.ok_or_else(|| {
                    ControlError::invalid("integrated_account_id", "no such integrated account")
                })?;
                self.validate_scope(&record, &scope, spec.exposed_tool_ids.as_deref())?;
                ServerSource::Account(id)
            }
            (toolset, None) => {
                let index = &self.gw.index;
                let toolset = toolset.unwrap_or_else(|| self.gw.default_toolset.clone());
                if !index.has_toolset(&toolset) {
                    return Err(ControlError::invalid(
                        "toolset",
                        format!(
                            "no toolset named {toolset:?}; configured: {}",
                            index.toolset_names().join(", ")
                        ),
                    ));
                }
                if scope != ScopeConfig::default() || spec.exposed_tool_ids.is_some() {
                    return Err(ControlError::invalid(
                        "config",
                        "scopes apply to integrated-account servers only",
                    ));
                }
                ServerSource::Toolset(toolset)
            }
        };
        let expires_at = future_expiry(spec.expires_at.as_deref())?;
        self.mint_server(NewServer {
            scope,
            exposed_tools: spec.exposed_tool_ids,
            description: spec.description,
            limits: spec.limits,
            created_by: ctx.actor(),
            expires_at,
            ..NewServer::new(ctx.tenant(), name, source)
        })
        .await
    }

    /// Create a server over `account` (one the caller sees) in its tenant;
    /// returns it and its first key's secret.
    pub async fn create_account_server(
        &self,
        ctx: &AdminContext,
        account: &AccountRecord,
        spec: AccountServerSpec,
    ) -> Result<(ServerRecord, String), ControlError> {
        let name = match spec.name {
            Some(n) => check::name("name", &n)?,
            None => account.name.clone().unwrap_or_else(|| "MCP server".into()),
        };
        let scope = spec.config.unwrap_or_default();
        self.validate_scope(account, &scope, None)?;
        let expires_at = future_expiry(spec.expires_at.as_deref())?;
        self.mint_server(NewServer {
            scope,
            limits: spec.limits,
            created_by: ctx.actor(),
            expires_at,
            ..NewServer::new(
                account.tenant.clone(),
                name,
                ServerSource::Account(account.id),
            )
        })
        .await
    }

    /// Apply `changes` to `current` (a server the caller sees), effective at
    /// once; returns the new record.
    pub async fn update_server(
        &self,
        ctx: &AdminContext,
        current: &ServerRecord,
        changes: ServerChanges,
    ) -> Result<ServerRecord, ControlError> {
        if changes.config.is_some() || changes.exposed_tool_ids.is_some() {
            let ServerSource::Account(account) = current.source else {
                return Err(ControlError::invalid(
                    "config",
                    "scopes apply to integrated-account servers only",
                ));
            };
            let scope = changes.config.clone().unwrap_or(current.scope.clone());
            let tools = match &changes.exposed_tool_ids {
                Some(t) => t.clone(),
                None => current.exposed_tools.clone(),
            };
            let record = self
                .visible_account(ctx, account)
                .await?
                .ok_or_else(|| ControlError::Internal("a server's account is missing".into()))?;
            self.validate_scope(&record, &scope, tools.as_deref())?;
        }
        let patch = ServerPatch {
            name: changes
                .name
                .as_deref()
                .map(|n| check::name("name", n))
                .transpose()?,
            disabled: changes.disabled,
            expires_at: match changes.expires_at {
                None => None,
                Some(None) => Some(None),
                // A past instant expires the server at once, on purpose.
                Some(Some(v)) => Some(Some(check::expiry("expires_at", &v)?)),
            },
            scope: changes.config,
            exposed_tools: changes.exposed_tool_ids,
            description: changes.description,
            limits: changes.limits,
            sandbox: changes.sandbox.map(check_sandbox).transpose()?,
            modified_by: ctx.actor(),
            source: None,
        };
        let record = self
            .gw
            .store
            .update_server(current.id, patch)
            .await?
            .ok_or(ControlError::NotFound)?;
        self.refresh_server(current.id).await?;
        Ok(record)
    }

    /// Delete a server and its keys, effective at once.
    pub async fn delete_server(&self, id: ServerId) -> Result<(), ControlError> {
        if !self.gw.store.delete_server(id).await? {
            return Err(ControlError::NotFound);
        }
        self.refresh_server(id).await?;
        tracing::info!(server = %id, "server deleted");
        Ok(())
    }

    /// Forget what the server's sandbox twins created; returns how many
    /// records went.
    pub async fn reset_sandbox(&self, server: ServerId) -> Result<u64, ControlError> {
        let mut removed = 0;
        for k in self.gw.store.all_server_keys(server).await? {
            removed += self
                .gw
                .twins
                .sandbox
                .reset(&self.gw.store, &k.id.to_string())
                .await?;
        }
        Ok(removed)
    }

    /// The calls recorded for `server`'s sandbox twins to replay.
    pub async fn fixtures(&self, server: ServerId) -> Result<Vec<Fixture>, ControlError> {
        Ok(self.gw.store.list_fixtures(Some(server)).await?)
    }

    /// Delete recorded call `fixture` (a UUID) of `server`, effective at once.
    pub async fn delete_fixture(
        &self,
        server: ServerId,
        fixture: &str,
    ) -> Result<(), ControlError> {
        let fixture: Uuid = fixture.parse().map_err(|_| ControlError::NotFound)?;
        if !self.gw.store.delete_fixture(server, fixture).await? {
            return Err(ControlError::NotFound);
        }
        self.gw.twins.fixtures.remove(server, fixture);
        Ok(())
    }
}
