//! Portals: one MCP endpoint over several upstreams, with its own keys (on
//! a virtual server the portal points at).

use mcpgate_store::{NewServer, PortalRecord, PortalServer, ServerId, ServerSource, Unreadable};
use std::sync::Arc;

use super::{AdminContext, Control, ControlError, RecordStatus, check, own_unreadable};
use crate::index::RecordKind;
use crate::timefmt::now_ms;

/// A portal as an admin writes it (create, or replace in full).
#[derive(Debug, Clone)]
pub struct PortalSpec {
    /// The id to create it under (1-32 of `a-z 0-9 - _`); generated when
    /// absent; ignored by a replace.
    pub id: Option<String>,
    /// Display name (not empty).
    pub name: String,
    /// Free text.
    pub description: Option<String>,
    /// The upstreams it combines, each of the caller's tenant.
    pub servers: Vec<PortalServer>,
    /// Prefix tool names with the upstream's id (default; only a
    /// single-server portal may turn it off).
    pub prefix: Option<bool>,
    /// Serve the tools as they were when accepted.
    pub pin_tools: bool,
}

/// A portal with whether the gateway serves it.
#[derive(Debug, Clone)]
pub struct PortalView {
    /// The stored record.
    pub record: Arc<PortalRecord>,
    /// `ready`, or `error` when the gateway could not load it.
    pub status: RecordStatus,
    /// Why it is in error.
    pub error: Option<String>,
}

impl Control<'_> {
    fn portal_view(&self, record: Arc<PortalRecord>) -> PortalView {
        let (status, error) = self.record_status(RecordKind::Portal, &record.tenant, &record.id);
        PortalView {
            record,
            status,
            error,
        }
    }

    /// Check a portal's fields; returns whether it prefixes tool names.
    async fn check_portal(
        &self,
        ctx: &AdminContext,
        spec: &PortalSpec,
    ) -> Result<bool, ControlError> {
        if spec.name.trim().is_empty() {
            return Err(ControlError::invalid("name", "must not be empty"));
        }
        for (i, s) in spec.servers.iter().enumerate() {
            if self
                .gw
                .store
                .get_upstream(ctx.tenant(), &s.server_id)
                .await?
                .is_none()
            {
                return Err(ControlError::invalid(
                    &format!("servers.{i}.server_id"),
                    format!("no MCP server {:?} in this account", s.server_id),
                ));
            }
        }
        let prefix = spec.prefix.unwrap_or(true);
        if !prefix && spec.servers.len() > 1 {
            return Err(ControlError::invalid(
                "prefix",
                "only a single-server portal may turn prefixing off",
            ));
        }
        Ok(prefix)
    }

    /// Create a portal in the caller's tenant, with its server and first
    /// key (all written together or not at all); returns it and the key's
    /// secret, shown this once.
    pub async fn create_portal(
        &self,
        ctx: &AdminContext,
        spec: PortalSpec,
    ) -> Result<(PortalView, String), ControlError> {
        let prefix = self.check_portal(ctx, &spec).await?;
        let id = check::short_id("id", spec.id)?;
        let now = now_ms();
        let name = spec.name.trim();
        let (record, server, (_, key)) = self
            .gw
            .store
            .create_portal(
                PortalRecord {
                    tenant: ctx.tenant().to_owned(),
                    id,
                    name: name.to_owned(),
                    description: spec.description,
                    servers: spec.servers,
                    prefix,
                    pin_tools: spec.pin_tools,
                    server_id: String::new(),
                    created_at: now,
                    created_by: ctx.actor(),
                    modified_at: now,
                    modified_by: ctx.actor(),
                },
                NewServer {
                    created_by: ctx.actor(),
                    ..NewServer::new(ctx.tenant(), name, ServerSource::Unbound)
                },
            )
            .await?;
        self.reload_index().await?;
        self.refresh_server(server.id).await?;
        Ok((self.portal_view(Arc::new(record)), key.secret))
    }

    /// The caller's tenant's portals, and its records that do not read.
    pub async fn list_portals(
        &self,
        ctx: &AdminContext,
    ) -> Result<(Vec<PortalView>, Vec<Unreadable>), ControlError> {
        let all = self.gw.store.load_portals().await?;
        let views = all
            .records
            .into_iter()
            .filter(|p| p.tenant == ctx.tenant())
            .map(|p| self.portal_view(Arc::new(p)))
            .collect();
        Ok((views, own_unreadable(ctx, all.unreadable)))
    }

    /// The caller's portal `id` as the gateway serves it.
    pub fn find_portal(
        &self,
        ctx: &AdminContext,
        id: &str,
    ) -> Result<Arc<PortalRecord>, ControlError> {
        self.gw
            .index
            .portal(ctx.tenant(), id)
            .ok_or(ControlError::NotFound)
    }

    /// The caller's portal `id`, or (`Err`) why the gateway could not load it.
    pub fn portal(
        &self,
        ctx: &AdminContext,
        id: &str,
    ) -> Result<Result<PortalView, String>, ControlError> {
        if let Some(f) = self.gw.index.fault(RecordKind::Portal, ctx.tenant(), id)
            && self.gw.index.portal(ctx.tenant(), id).is_none()
        {
            return Ok(Err(f.reason));
        }
        Ok(Ok(self.portal_view(self.find_portal(ctx, id)?)))
    }

    /// Replace `current` (from [`Self::find_portal`]) with `spec`, effective at once.
    pub async fn update_portal(
        &self,
        ctx: &AdminContext,
        current: &PortalRecord,
        spec: PortalSpec,
    ) -> Result<PortalView, ControlError> {
        let prefix = self.check_portal(ctx, &spec).await?;
        let mut record = current.clone();
        record.name = spec.name.trim().to_owned();
        record.description = spec.description;
        record.servers = spec.servers;
        record.prefix = prefix;
        record.pin_tools = spec.pin_tools;
        record.modified_at = now_ms();
        record.modified_by = ctx.actor();
        if !self.gw.store.update_portal(&record).await? {
            return Err(ControlError::NotFound);
        }
        self.reload_index().await?;
        let server: ServerId = record
            .server_id
            .parse()
            .map_err(|e| ControlError::Internal(format!("a portal's server id: {e}")))?;
        self.refresh_server(server).await?;
        Ok(self.portal_view(Arc::new(record)))
    }

    /// Delete the caller's portal `id` with its endpoint and keys (also one
    /// whose record does not read); returns it as it was.
    pub async fn delete_portal(
        &self,
        ctx: &AdminContext,
        id: &str,
    ) -> Result<Result<PortalView, Unreadable>, ControlError> {
        let deleted = self
            .gw
            .store
            .delete_portal(ctx.tenant(), id)
            .await?
            .ok_or(ControlError::NotFound)?;
        self.reload_index().await?;
        Ok(deleted.map(|p| self.portal_view(Arc::new(p))))
    }
}
