//! Server views: what each server offers and how it executes, built from
//! its record, and shared offerings.

use mcpgate_catalog::Scope;
use mcpgate_store::{ServerRecord, ServerSource};
use mcpgate_upstream::{Executor, RestOperation};
use std::sync::Arc;
use time::OffsetDateTime;

use super::{AccountEntry, Index, IntegrationEntry, OperationsKey, isolated};
use crate::view::{Offering, ServerView};

/// What a server's view was built from. A full reload skips servers whose
/// basis is unchanged: at ten thousand servers, rebuilding every view every
/// reload churns tens of megabytes, and an account's executor (with its
/// cached OAuth token) must survive reloads that did not touch it.
pub(super) enum Basis {
    /// A toolset or unbound server: only its own record matters.
    Record(OffsetDateTime),
    /// An account server: its record and the account entry in use.
    Account(OffsetDateTime, Arc<AccountEntry>),
}

impl PartialEq for Basis {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Record(a), Self::Record(b)) => a == b,
            (Self::Account(a, x), Self::Account(b, y)) => a == b && Arc::ptr_eq(x, y),
            _ => false,
        }
    }
}

impl Index {
    /// What `record`'s view is built from, or `None` when it must be rebuilt
    /// on every reload (portals, which depend on upstream snapshots, and
    /// servers whose account is missing).
    pub(super) fn basis(&self, record: &ServerRecord) -> Option<Basis> {
        match &record.source {
            ServerSource::Toolset(_) | ServerSource::Unbound => {
                Some(Basis::Record(record.updated_at))
            }
            ServerSource::Account(id) => self
                .accounts
                .get(id)
                .map(|a| Basis::Account(record.updated_at, Arc::clone(&a))),
            ServerSource::Portal(_) => None,
        }
    }

    /// Build (or rebuild) a server's view and remember what it was built from.
    /// Build (or rebuild) a server's view and remember what it was built
    /// from; a build that fails leaves the server unavailable, with the
    /// returned reason.
    pub(super) fn install_view(&self, record: &ServerRecord) -> Option<String> {
        let (view, fault) = match isolated(|| self.view(record)) {
            Ok(view) => (view, None),
            Err(why) => {
                tracing::error!(server = %record.id, error = %why, "server cannot be served");
                let executor = Executor::Unavailable(why.clone().into());
                (
                    ServerView::new(record, self.offering_of(&[], None), executor),
                    Some(why),
                )
            }
        };
        self.servers.insert(record.id, Arc::new(view));
        match self.basis(record) {
            Some(b) => self.bases.insert(record.id, b),
            None => self.bases.remove(&record.id).map(|(_, b)| b),
        };
        fault
    }

    pub(super) fn view(&self, record: &ServerRecord) -> ServerView {
        match &record.source {
            ServerSource::Toolset(name) => {
                let offering = self.toolset_offerings.get(name).cloned();
                let offering = offering.unwrap_or_else(|| {
                    tracing::warn!(server = %record.id, toolset = %name,
                        "server refers to a toolset that is not configured; it serves no tools");
                    self.offering_of(&[], None)
                });
                ServerView::new(record, offering, Executor::Builtin)
            }
            ServerSource::Portal(portal) => self.portal_view(record, portal),
            ServerSource::Unbound => ServerView::new(
                record,
                self.offering_of(&[], None),
                Executor::Unavailable("no integrated account is bound to this MCP server".into()),
            ),
            ServerSource::Account(account_id) => {
                let account = self.accounts.get(account_id).map(|a| Arc::clone(&a));
                let integration = account.as_ref().and_then(|a| {
                    self.integrations
                        .get(&a.integration)
                        .map(|i| Arc::clone(&i))
                });
                let (Some(account), Some(integration)) = (account, integration) else {
                    tracing::warn!(server = %record.id, account = %account_id,
                        "server's account or integration is missing; it serves no tools");
                    return ServerView::new(
                        record,
                        self.offering_of(&[], None),
                        Executor::Unavailable("the server's account no longer exists".into()),
                    );
                };
                let operations = self.scoped(record, &integration);
                let instructions = integration.record.definition.description.as_deref();
                ServerView::new(
                    record,
                    self.offering_of(&operations, instructions),
                    account.executor.clone(),
                )
            }
        }
    }

    /// The shared offering of these operations, built on first use.
    pub(super) fn offering_of(
        &self,
        operations: &[Arc<RestOperation>],
        instructions: Option<&str>,
    ) -> Arc<Offering> {
        let key: OperationsKey = (
            operations.iter().map(|o| Arc::as_ptr(o) as usize).collect(),
            instructions.map(str::to_owned),
        );
        let mut slot = self.operation_offerings.entry(key).or_default();
        if let Some(live) = slot.upgrade() {
            return live;
        }
        let offering = Arc::new(Offering::from_operations(
            operations,
            instructions,
            self.page_size,
        ));
        *slot = Arc::downgrade(&offering);
        offering
    }

    /// Forget offerings no server holds any more.
    pub(super) fn prune_offerings(&self) {
        self.operation_offerings
            .retain(|_, offering| offering.strong_count() > 0);
    }

    /// The operations a server's scope exposes. A scope that no longer fits
    /// its integration (a tag or method was removed) exposes nothing: scopes
    /// fail closed.
    pub(super) fn scoped(
        &self,
        record: &ServerRecord,
        integration: &IntegrationEntry,
    ) -> Vec<Arc<RestOperation>> {
        let names: Vec<&str> = integration.tool_names.iter().map(String::as_str).collect();
        match Scope::parse(
            &record.scope,
            record.exposed_tools.as_deref(),
            &integration.record.definition,
            &names,
        ) {
            Ok(scope) => integration
                .operations()
                .iter()
                .filter(|o| scope.allows(&o.tool))
                .cloned()
                .collect(),
            Err(e) => {
                tracing::warn!(server = %record.id, error = %e,
                    "server scope no longer matches its integration; it serves no tools until fixed");
                Vec::new()
            }
        }
    }
}
