//! Upstream MCP servers: the endpoints the gateway syncs (what they offer,
//! whether they are healthy) and portals combine. Cloudflare's surface
//! calls them "MCP servers".

use mcpgate_store::{Unreadable, UpstreamRecord};
use serde::Serialize;
use serde_json::{Value, json};

use super::{AdminContext, Control, ControlError, check, egress, own_unreadable};
use crate::index::RecordKind;
use crate::sync::{Synced, status, sync_upstream};
use crate::timefmt::now_ms;

/// How the gateway authenticates to an upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthType {
    /// No credential.
    Unauthenticated,
    /// A bearer token the admin gave.
    Bearer,
    /// An OAuth access token the admin gave.
    Oauth,
}

impl AuthType {
    /// The name on the wire and in the store.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unauthenticated => "unauthenticated",
            Self::Bearer => "bearer",
            Self::Oauth => "oauth",
        }
    }

    /// Parse the `auth_type` field.
    pub fn parse(field: &str, value: &str) -> Result<Self, ControlError> {
        match value {
            "unauthenticated" => Ok(Self::Unauthenticated),
            "bearer" => Ok(Self::Bearer),
            "oauth" => Ok(Self::Oauth),
            other => Err(ControlError::invalid(
                field,
                format!("{other:?} is not one of unauthenticated, bearer, oauth"),
            )),
        }
    }
}

/// An upstream's health as shown: its last sync's outcome, `stale` once a
/// success is older than the resync interval, `error` also when the
/// gateway could not load the record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SyncStatus {
    /// Not synced since it was created or its endpoint changed.
    Waiting,
    /// The last sync succeeded, recently.
    Ready,
    /// The last sync succeeded, longer ago than the resync interval.
    Stale,
    /// The last sync failed, or the record cannot be served.
    Error,
}

impl SyncStatus {
    /// The name on the wire and in the store.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Waiting => "waiting",
            Self::Ready => "ready",
            Self::Stale => "stale",
            Self::Error => "error",
        }
    }

    /// A stored (or computed) status; anything unknown is an error.
    fn of(stored: &str) -> Self {
        match stored {
            "waiting" => Self::Waiting,
            "ready" => Self::Ready,
            "stale" => Self::Stale,
            _ => Self::Error,
        }
    }
}

/// An upstream as an admin writes it (create, or replace in full).
#[derive(Debug, Clone)]
pub struct UpstreamSpec {
    /// The id to create it under (1-32 of `a-z 0-9 - _`); generated when absent.
    pub id: Option<String>,
    /// Display name (not empty).
    pub name: String,
    /// The MCP endpoint URL (checked against the egress policy).
    pub hostname: String,
    /// `unauthenticated`, `bearer` or `oauth` (see [`AuthType`]).
    pub auth_type: String,
    /// The gateway's token for this upstream (bearer, oauth); write-only.
    pub auth_credentials: Option<String>,
    /// Free text.
    pub description: Option<String>,
    /// Per-call timeout in seconds, 1-3600 (default: the gateway's).
    pub timeout_secs: Option<u64>,
}

impl UpstreamSpec {
    /// Check the fields that need nothing but themselves; returns the
    /// credential to store.
    fn check(&self) -> Result<(AuthType, Option<String>), ControlError> {
        if self.name.trim().is_empty() {
            return Err(ControlError::invalid("name", "must not be empty"));
        }
        if self.timeout_secs.is_some_and(|t| t == 0 || t > 3600) {
            return Err(ControlError::invalid(
                "timeout_secs",
                "must be between 1 and 3600",
            ));
        }
        check::url("hostname", &self.hostname)?;
        let auth = AuthType::parse("auth_type", &self.auth_type)?;
        match auth {
            AuthType::Unauthenticated => Ok((auth, None)),
            AuthType::Bearer | AuthType::Oauth => {
                match self.auth_credentials.as_deref().map(str::trim) {
                    Some(c) if !c.is_empty() => Ok((auth, Some(c.to_owned()))),
                    _ => Err(ControlError::invalid(
                        "auth_credentials",
                        format!(
                            "auth_type {} needs auth_credentials (the gateway's token for this server)",
                            auth.as_str()
                        ),
                    )),
                }
            }
        }
    }
}

/// An upstream with its health as the gateway sees it now.
#[derive(Debug, Clone)]
pub struct UpstreamView {
    /// The stored record.
    pub record: UpstreamRecord,
    /// Its status.
    pub status: SyncStatus,
    /// The failure's message, when in error.
    pub error: Option<Value>,
    /// The failure: `{message, status?, retryable}`.
    pub error_detail: Option<Value>,
}

/// An upstream whose stored record reads, or the reason it does not.
pub type UpstreamOrUnreadable = Result<UpstreamView, Unreadable>;

impl Control<'_> {
    fn upstream_view(&self, record: UpstreamRecord) -> UpstreamView {
        // A record the gateway could not load (e.g. an unusable hostname) is
        // in error whatever its last sync said.
        let fault = self
            .gw
            .index
            .fault(RecordKind::Upstream, &record.tenant, &record.id);
        let (status, error, error_detail) = match fault {
            Some(f) => (
                SyncStatus::Error,
                Some(json!(f.reason)),
                Some(json!({"message": f.reason, "retryable": false})),
            ),
            None => (
                SyncStatus::of(status(&record, self.gw.resync_interval)),
                record
                    .error
                    .as_ref()
                    .and_then(|e| e.get("message"))
                    .cloned(),
                record.error.clone(),
            ),
        };
        UpstreamView {
            record,
            status,
            error,
            error_detail,
        }
    }

    /// Create an upstream in the caller's tenant; it waits for its first sync.
    pub async fn create_upstream(
        &self,
        ctx: &AdminContext,
        spec: UpstreamSpec,
    ) -> Result<UpstreamView, ControlError> {
        let (auth, credentials) = spec.check()?;
        egress::check_url(
            &self.gw.egress,
            "hostname",
            &spec.hostname,
            ctx.url_provenance(),
        )?;
        let id = check::short_id("id", spec.id)?;
        let now = now_ms();
        let record = UpstreamRecord {
            tenant: ctx.tenant().to_owned(),
            id,
            name: spec.name.trim().to_owned(),
            hostname: spec.hostname,
            url_provenance: ctx.url_provenance(),
            auth_type: auth.as_str().to_owned(),
            timeout_secs: spec.timeout_secs,
            description: spec.description,
            status: SyncStatus::Waiting.as_str().to_owned(),
            error: None,
            snapshot: None,
            accepted: Default::default(),
            changes: Vec::new(),
            last_synced: None,
            last_successful_sync: None,
            created_at: now,
            created_by: ctx.actor(),
            modified_at: now,
            modified_by: ctx.actor(),
            config_version: 0,
            warnings: Vec::new(),
        };
        self.gw
            .store
            .create_upstream(&record, credentials.as_deref())
            .await?;
        self.reload_index().await?;
        Ok(self.upstream_view(record))
    }

    /// The caller's tenant's upstreams, and its records that do not read.
    pub async fn list_upstreams(
        &self,
        ctx: &AdminContext,
    ) -> Result<(Vec<UpstreamView>, Vec<Unreadable>), ControlError> {
        let all = self.gw.store.load_upstreams().await?;
        let views = all
            .records
            .into_iter()
            .filter(|(r, _)| r.tenant == ctx.tenant())
            .map(|(r, _)| self.upstream_view(r))
            .collect();
        Ok((views, own_unreadable(ctx, all.unreadable)))
    }

    /// The caller's upstream `id` as stored.
    pub async fn find_upstream(
        &self,
        ctx: &AdminContext,
        id: &str,
    ) -> Result<UpstreamRecord, ControlError> {
        self.gw
            .store
            .get_upstream(ctx.tenant(), id)
            .await?
            .ok_or(ControlError::NotFound)
    }

    /// The caller's upstream `id` when its stored record does not read.
    async fn unreadable_upstream(
        &self,
        ctx: &AdminContext,
        id: &str,
    ) -> Result<Option<Unreadable>, ControlError> {
        if self
            .gw
            .index
            .fault(RecordKind::Upstream, ctx.tenant(), id)
            .is_none()
        {
            return Ok(None);
        }
        let all = self.gw.store.load_upstreams().await?;
        Ok(all
            .unreadable
            .into_iter()
            .find(|u| u.id == id && u.tenant.as_deref() == Some(ctx.tenant())))
    }

    /// The caller's upstream `id`, or why its record does not read.
    pub async fn upstream(
        &self,
        ctx: &AdminContext,
        id: &str,
    ) -> Result<UpstreamOrUnreadable, ControlError> {
        if let Some(u) = self.unreadable_upstream(ctx, id).await? {
            return Ok(Err(u));
        }
        Ok(Ok(self.upstream_view(self.find_upstream(ctx, id).await?)))
    }

    /// Replace `current` (from [`Self::find_upstream`]) with `spec`. A new
    /// endpoint waits for a sync again; a sync running on the previous
    /// configuration will not record its outcome.
    pub async fn update_upstream(
        &self,
        ctx: &AdminContext,
        mut record: UpstreamRecord,
        spec: UpstreamSpec,
    ) -> Result<UpstreamView, ControlError> {
        if spec.id.as_deref().is_some_and(|given| given != record.id) {
            return Err(ControlError::invalid("id", "cannot change a server's id"));
        }
        let (auth, credentials) = spec.check()?;
        let endpoint_changed = record.hostname != spec.hostname;
        // A new URL is the caller's; an unchanged one stays the operator's
        // when the operator wrote it (a tenant renaming the server does not
        // take its URL over), and a super-admin saving it makes it the
        // operator's.
        if endpoint_changed || ctx.super_admin {
            record.url_provenance = ctx.url_provenance();
        }
        egress::check_url(
            &self.gw.egress,
            "hostname",
            &spec.hostname,
            record.url_provenance,
        )?;
        record.name = spec.name.trim().to_owned();
        record.hostname = spec.hostname;
        record.auth_type = auth.as_str().to_owned();
        record.timeout_secs = spec.timeout_secs;
        record.description = spec.description;
        record.modified_at = now_ms();
        record.modified_by = ctx.actor();
        // A sync running on the previous configuration must not record its
        // outcome (see `Store::record_sync`).
        record.config_version += 1;
        if endpoint_changed {
            record.status = SyncStatus::Waiting.as_str().to_owned();
        }
        if !self
            .gw
            .store
            .update_upstream(&record, Some(credentials.as_deref()))
            .await?
        {
            return Err(ControlError::NotFound);
        }
        self.reload_index().await?;
        Ok(self.upstream_view(record))
    }

    /// Delete the caller's upstream `id` (also one whose record does not
    /// read, so it can be created anew); returns it as it was. A portal
    /// still naming it is a conflict.
    pub async fn delete_upstream(
        &self,
        ctx: &AdminContext,
        id: &str,
    ) -> Result<UpstreamOrUnreadable, ControlError> {
        let shown = self.upstream(ctx, id).await?;
        if !self.gw.store.delete_upstream(ctx.tenant(), id).await? {
            return Err(ControlError::NotFound);
        }
        self.reload_index().await?;
        Ok(shown)
    }

    /// Sync the caller's upstream `id` once; its outcome shows on the
    /// upstream. With `accept_changes`, its current tool definitions become
    /// the accepted ones.
    pub async fn sync_upstream(
        &self,
        ctx: &AdminContext,
        id: &str,
        accept_changes: bool,
    ) -> Result<(), ControlError> {
        match sync_upstream(self.gw, ctx.tenant(), id, accept_changes).await? {
            None => Err(ControlError::NotFound),
            Some(Synced::Superseded) => Err(ControlError::Conflict(
                "the MCP server's configuration changed while it synced, so that sync's \
                 outcome was dropped; sync again"
                    .to_owned(),
            )),
            Some(Synced::Recorded(_)) => Ok(()),
        }
    }
}
