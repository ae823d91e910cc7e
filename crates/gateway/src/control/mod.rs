//! The control plane: the operations on servers, keys, accounts,
//! integrations, upstreams and portals that every admin surface shares.
//!
//! An operation owns its validation, id generation, the store write (one
//! transaction, in the store) and "write, then refresh the in-memory
//! index". The admin surfaces (`crate::admin`: native, Truto, Fruxon,
//! Cloudflare) only map JSON to these calls and a [`ControlError`] to their
//! own error shape. Nothing here knows HTTP.
//!
//! One room per aggregate: [`servers`], [`keys`], [`accounts`],
//! [`integrations`], [`upstreams`], [`portals`], [`tokens`], and
//! [`settings`] (one integration's MCP settings, a kind of server).
//! [`check`] holds the field rules they share and [`egress`] the egress
//! policy's checks of URL fields.

pub mod accounts;
pub mod check;
pub mod egress;
pub mod integrations;
pub mod keys;
pub mod portals;
pub mod servers;
pub mod settings;
pub mod tokens;
pub mod upstreams;

use mcpgate_store::{ServerId, StoreError, Unreadable};
use std::collections::BTreeMap;
use uuid::Uuid;

use crate::Gateway;
use crate::index::RecordKind;

/// The tenant objects go to when a super-admin creates them.
pub const DEFAULT_TENANT: &str = "default";

/// Who is calling the admin API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminContext {
    /// The admin token's id (recorded as `created_by`/`modified_by`).
    pub id: Uuid,
    /// The one tenant it may act on; `None` for a super-admin.
    pub tenant: Option<String>,
    /// The token is a super-admin's, also while it acts within one tenant
    /// ([`AdminContext::within`]): the URLs it writes are the operator's.
    pub super_admin: bool,
}

impl AdminContext {
    /// The same caller acting inside `tenant` (a path names it), or `None`
    /// when it may not see that tenant.
    pub fn within(&self, tenant: &str) -> Option<Self> {
        self.sees(tenant).then(|| Self {
            id: self.id,
            tenant: Some(tenant.to_owned()),
            super_admin: self.super_admin,
        })
    }

    /// The tenant new objects are created in.
    pub fn tenant(&self) -> &str {
        self.tenant.as_deref().unwrap_or(DEFAULT_TENANT)
    }

    /// Whether objects of `tenant` are visible to this caller. Everything
    /// else answers 404, exactly like a missing object.
    pub fn sees(&self, tenant: &str) -> bool {
        self.tenant.as_deref().is_none_or(|t| t == tenant)
    }

    /// A super-admin (bootstrap or `MCPGATE_ADMIN_TOKEN`).
    pub fn is_super(&self) -> bool {
        self.tenant.is_none()
    }

    /// Whose the URLs this caller writes are: the operator's for a
    /// super-admin token, else a tenant's (`egress.private_networks`).
    pub fn url_provenance(&self) -> mcpgate_catalog::UrlProvenance {
        mcpgate_catalog::UrlProvenance::of_writer(self.super_admin)
    }

    /// The caller's id as recorded in `created_by`/`modified_by`.
    pub(crate) fn actor(&self) -> Option<String> {
        Some(self.id.to_string())
    }
}

/// Why a control-plane operation did not happen. Each admin surface maps
/// these to its own error shape (status, message, field names); nothing was
/// written when one is returned.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// No such object, or one the caller may not see (the same answer, so
    /// a tenant cannot probe another's ids).
    #[error("not found")]
    NotFound,
    /// One field of the request is wrong: which (dotted path, as the native
    /// API names it) and why.
    #[error("{field}: {reason}")]
    Invalid {
        /// The field at fault, e.g. `servers.0.server_id`.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Several fields are wrong at once (a scope's entries), under one message.
    #[error("{message}")]
    InvalidFields {
        /// The summary.
        message: String,
        /// Each bad field and what is wrong with it.
        fields: BTreeMap<String, String>,
    },
    /// The request conflicts with the object's state (retrying as is fails again).
    #[error("{0}")]
    Conflict(String),
    /// The caller may not do this at all.
    #[error("{0}")]
    Forbidden(String),
    /// The store failed: a conflict, contention that outlasted the retries,
    /// an unreachable database, or a fault.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A fault of ours (an invariant broke); the message is for the log only.
    #[error("{0}")]
    Internal(String),
}

impl ControlError {
    /// `field` is wrong because of `reason`.
    pub(crate) fn invalid(field: &str, reason: impl Into<String>) -> Self {
        Self::Invalid {
            field: field.to_owned(),
            reason: reason.into(),
        }
    }

    /// The same error with field `from` called `to` (a surface that names
    /// its fields differently, e.g. Fruxon's camelCase).
    pub(crate) fn rename_field(self, from: &str, to: &str) -> Self {
        match self {
            Self::Invalid { field, reason } if field == from => Self::invalid(to, reason),
            other => other,
        }
    }
}

/// The records of the caller's tenant among those that do not read.
fn own_unreadable(ctx: &AdminContext, all: Vec<Unreadable>) -> Vec<Unreadable> {
    all.into_iter()
        .filter(|u| u.tenant.as_deref() == Some(ctx.tenant()))
        .collect()
}

/// Whether the gateway serves a stored record it loaded (`ready`), or could
/// not (`error`, with the reason an admin can act on).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RecordStatus {
    /// Loaded and served.
    Ready,
    /// Stored, but not served; see the reason.
    Error,
}

/// The control plane over one gateway's store and in-memory index. Cheap to
/// make: `gw.control()`.
#[derive(Clone, Copy)]
pub struct Control<'a> {
    gw: &'a Gateway,
}

impl Gateway {
    /// The control-plane operations on this gateway.
    pub fn control(&self) -> Control<'_> {
        Control { gw: self }
    }
}

impl Control<'_> {
    /// After a write to upstreams, portals, accounts or integrations:
    /// re-read what the hot path serves (unchanged entries are kept).
    async fn reload_index(&self) -> Result<(), ControlError> {
        Ok(self.gw.index.load_all(&self.gw.store).await?)
    }

    /// Whether the index serves record `id` of `kind` in `tenant`, and if
    /// not, why.
    pub fn record_status(
        &self,
        kind: RecordKind,
        tenant: &str,
        id: &str,
    ) -> (RecordStatus, Option<String>) {
        match self.gw.index.fault(kind, tenant, id) {
            Some(f) => (RecordStatus::Error, Some(f.reason)),
            None => (RecordStatus::Ready, None),
        }
    }

    /// After a write to one server or its keys: rebuild that server's view.
    async fn refresh_server(&self, id: ServerId) -> Result<(), ControlError> {
        Ok(self.gw.index.refresh_server(&self.gw.store, id).await?)
    }
}
