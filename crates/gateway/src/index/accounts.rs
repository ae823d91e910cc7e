//! Integrations (with their operations, built on first use) and accounts
//! (with the executor that calls their API).

use mcpgate_catalog::{UrlProvenance, account_url_provenance, generate};
use mcpgate_store::{AccountPatch, AccountRecord, IntegrationId, IntegrationRecord, Store};
use mcpgate_upstream::{Executor, RestAccount, RestOperation, RotateHook};
use std::sync::{Arc, OnceLock};
use time::OffsetDateTime;

use super::Index;

/// An integration with the names of its tools; the tools themselves (with
/// their schemas and compiled validators) are built on first use — by a
/// server of an account of it — and then shared by every such server. An
/// integration nothing uses costs its stored definition and its tool names,
/// not its expanded tools: a gateway holding a whole API directory stays
/// small.
pub struct IntegrationEntry {
    /// The stored record.
    pub record: IntegrationRecord,
    /// The names of its tools, in definition order.
    pub tool_names: Vec<String>,
    operations: OnceLock<Vec<Arc<RestOperation>>>,
}

impl IntegrationEntry {
    /// Name its tools (cheap: the tools are built when a server first
    /// needs them, each server's build isolated, so a definition that panics
    /// the generator faults those servers, not the gateway).
    pub(super) fn new(record: IntegrationRecord) -> Self {
        let tool_names = mcpgate_catalog::tool_names(&record.definition);
        Self {
            record,
            tool_names,
            operations: OnceLock::new(),
        }
    }

    /// One operation per generated tool, in definition order (built on the
    /// first call).
    pub fn operations(&self) -> &[Arc<RestOperation>] {
        self.operations.get_or_init(|| {
            generate(&self.record.definition)
                .into_iter()
                .map(|t| Arc::new(RestOperation::new(t)))
                .collect()
        })
    }
}

pub(super) struct AccountEntry {
    pub(super) integration: IntegrationId,
    pub(super) executor: Executor,
    /// The record's write time and the integration entry it was built with
    /// (held, so the pointer comparison in [`Index::load_all`] cannot
    /// match a new entry that reuses a freed address).
    built_from: (OffsetDateTime, Option<Arc<IntegrationEntry>>),
}

impl AccountEntry {
    /// Whose URLs an account of `integration` calls.
    fn url_provenance(integration: &IntegrationRecord, account: &AccountRecord) -> UrlProvenance {
        account_url_provenance(
            &integration.definition,
            integration.url_provenance,
            account.url_provenance,
            account.base_url.as_deref(),
            &account.credentials,
        )
    }

    pub(super) fn is_current(
        &self,
        record: &AccountRecord,
        integration: Option<&Arc<IntegrationEntry>>,
    ) -> bool {
        self.built_from.0 == record.updated_at
            && match (&self.built_from.1, integration) {
                (Some(a), Some(b)) => Arc::ptr_eq(a, b),
                (None, None) => true,
                _ => false,
            }
    }
}

impl Index {
    pub(super) fn account_entry(&self, store: &Store, record: &AccountRecord) -> AccountEntry {
        let executor = match self.integrations.get(&record.integration_id) {
            None => Executor::Unavailable("the account's integration no longer exists".into()),
            Some(integration) => {
                let store = store.clone();
                let id = record.id;
                // Persist refresh tokens the provider rotates, off the request path.
                let hook: RotateHook = Arc::new(move |credentials| {
                    let store = store.clone();
                    tokio::spawn(async move {
                        let patch = AccountPatch {
                            credentials: Some(credentials),
                            ..AccountPatch::default()
                        };
                        if let Err(e) = store.update_account(id, patch).await {
                            tracing::error!(account = %id, error = %e, "could not store a rotated refresh token");
                        }
                    });
                });
                // Called with the client of whoever wrote the URLs it calls.
                let by = AccountEntry::url_provenance(&integration.record, record);
                match RestAccount::new(
                    self.http.for_urls_by(by).clone(),
                    &integration.record.definition,
                    record.base_url.as_deref(),
                    &record.context,
                    &record.credentials,
                    self.rest,
                    Some(hook),
                ) {
                    Ok(account) => {
                        Executor::Rest(Arc::new(account.with_cursor_scope(record.id.to_string())))
                    }
                    Err(e) => {
                        tracing::warn!(account = %record.id, error = %e, "account cannot call its API");
                        Executor::Unavailable(e.into())
                    }
                }
            }
        };
        let integration = self
            .integrations
            .get(&record.integration_id)
            .map(|i| Arc::clone(&i));
        AccountEntry {
            integration: record.integration_id,
            executor,
            built_from: (record.updated_at, integration),
        }
    }
}
