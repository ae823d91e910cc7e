//! The in-memory index the hot path reads: key hash → key entry, server id →
//! [`ServerView`], plus the integrations (with their generated, compiled
//! operations) and accounts (with their live connections) views are built
//! from. Rebuilt from the store at start and after every write.

use dashmap::DashMap;
use mcpgate_catalog::{Scope, Toolset, generate};
use mcpgate_store::{
    AccountId, AccountPatch, AccountRecord, IntegrationId, IntegrationRecord, KeyHash, KeyRecord,
    ServerId, ServerRecord, ServerSource, Store, StoreError,
};
use mcpgate_upstream::{Executor, RestAccount, RestOperation, RestSettings, RotateHook};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use time::OffsetDateTime;

use crate::view::ServerView;

/// A key as the hot path needs it.
#[derive(Debug, Clone)]
struct KeyEntry {
    hash: KeyHash,
    server: ServerId,
    expires_at_ms: Option<i64>,
}

/// An integration with its tools generated and their validators compiled,
/// shared by every server of every account of it.
pub struct IntegrationEntry {
    /// The stored record.
    pub record: IntegrationRecord,
    /// One operation per generated tool, in definition order.
    pub operations: Vec<Arc<RestOperation>>,
}

struct AccountEntry {
    integration: IntegrationId,
    executor: Executor,
}

/// Servers and keys, ready to serve.
pub struct Registry {
    toolsets: HashMap<String, Arc<Toolset>>,
    integrations: DashMap<IntegrationId, Arc<IntegrationEntry>>,
    accounts: DashMap<AccountId, Arc<AccountEntry>>,
    servers: DashMap<ServerId, Arc<ServerView>>,
    keys: DashMap<KeyHash, KeyEntry>,
    page_size: usize,
    http: reqwest::Client,
    rest: RestSettings,
}

fn ms(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

/// Now in Unix milliseconds.
pub fn now_ms() -> i64 {
    ms(OffsetDateTime::now_utc())
}

impl Registry {
    /// An empty registry over the configured toolsets.
    pub fn new(
        toolsets: Vec<Toolset>,
        page_size: usize,
        http: reqwest::Client,
        rest: RestSettings,
    ) -> Self {
        Self {
            toolsets: toolsets
                .into_iter()
                .map(|t| (t.name.clone(), Arc::new(t)))
                .collect(),
            integrations: DashMap::new(),
            accounts: DashMap::new(),
            servers: DashMap::new(),
            keys: DashMap::new(),
            page_size,
            http,
            rest,
        }
    }

    /// Names of the configured toolsets, sorted.
    pub fn toolset_names(&self) -> Vec<&str> {
        let mut names: Vec<_> = self.toolsets.keys().map(String::as_str).collect();
        names.sort_unstable();
        names
    }

    /// Whether a toolset of that name is configured.
    pub fn has_toolset(&self, name: &str) -> bool {
        self.toolsets.contains_key(name)
    }

    /// An integration with its generated operations.
    pub fn integration(&self, id: IntegrationId) -> Option<Arc<IntegrationEntry>> {
        self.integrations.get(&id).map(|e| Arc::clone(&e))
    }

    fn integration_entry(record: IntegrationRecord) -> IntegrationEntry {
        let operations = generate(&record.definition)
            .into_iter()
            .map(|t| Arc::new(RestOperation::new(t)))
            .collect();
        IntegrationEntry { record, operations }
    }

    fn account_entry(&self, store: &Store, record: &AccountRecord) -> AccountEntry {
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
                match RestAccount::new(
                    self.http.clone(),
                    &integration.record.definition,
                    record.base_url.as_deref(),
                    &record.context,
                    &record.credentials,
                    self.rest,
                    Some(hook),
                ) {
                    Ok(account) => Executor::Rest(Arc::new(account)),
                    Err(e) => {
                        tracing::warn!(account = %record.id, error = %e, "account cannot call its API");
                        Executor::Unavailable(e.into())
                    }
                }
            }
        };
        AccountEntry {
            integration: record.integration_id,
            executor,
        }
    }

    fn view(&self, record: &ServerRecord) -> ServerView {
        match &record.source {
            ServerSource::Toolset(name) => {
                let toolset = self.toolsets.get(name);
                if toolset.is_none() {
                    tracing::warn!(server = %record.id, toolset = %name,
                        "server refers to a toolset that is not configured; it serves no tools");
                }
                ServerView::from_toolset(record, toolset.map(|t| &**t), self.page_size)
            }
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
                    return ServerView::from_account(
                        record,
                        &[],
                        Executor::Unavailable("the server's account no longer exists".into()),
                        None,
                        self.page_size,
                    );
                };
                let operations = self.scoped(record, &integration);
                ServerView::from_account(
                    record,
                    &operations,
                    account.executor.clone(),
                    integration.record.definition.description.as_deref(),
                    self.page_size,
                )
            }
        }
    }

    /// The operations a server's scope exposes. A scope that no longer fits
    /// its integration (a tag or method was removed) exposes nothing: scopes
    /// fail closed.
    fn scoped(
        &self,
        record: &ServerRecord,
        integration: &IntegrationEntry,
    ) -> Vec<Arc<RestOperation>> {
        let names: Vec<&str> = integration
            .operations
            .iter()
            .map(|o| o.tool.tool.name.as_str())
            .collect();
        match Scope::parse(
            &record.scope,
            record.exposed_tools.as_deref(),
            &integration.record.definition,
            &names,
        ) {
            Ok(scope) => integration
                .operations
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

    /// Load everything from the store: integrations, accounts, servers, keys.
    pub async fn load_all(&self, store: &Store) -> Result<(), StoreError> {
        let integrations = store.list_integrations().await?;
        let live: HashSet<IntegrationId> = integrations.iter().map(|i| i.id).collect();
        for record in integrations {
            let unchanged = self
                .integrations
                .get(&record.id)
                .is_some_and(|e| e.record == record);
            if !unchanged {
                self.integrations
                    .insert(record.id, Arc::new(Self::integration_entry(record)));
            }
        }
        self.integrations.retain(|id, _| live.contains(id));

        let accounts = store.list_accounts().await?;
        let live: HashSet<AccountId> = accounts.iter().map(|a| a.id).collect();
        for record in &accounts {
            self.accounts
                .insert(record.id, Arc::new(self.account_entry(store, record)));
        }
        self.accounts.retain(|id, _| live.contains(id));

        let servers = store.list_servers().await?;
        let keys = store.list_active_keys().await?;
        for s in &servers {
            self.servers.insert(s.id, Arc::new(self.view(s)));
        }
        let live: HashSet<ServerId> = servers.iter().map(|s| s.id).collect();
        self.servers.retain(|id, _| live.contains(id));
        self.replace_keys(keys, |_| true);
        Ok(())
    }

    /// Re-read one server and its keys after a write (or drop them when the
    /// server is gone). New keys are added before stale ones are removed, so a
    /// valid key never misses in between.
    pub async fn refresh_server(&self, store: &Store, id: ServerId) -> Result<(), StoreError> {
        match store.get_server(id).await? {
            Some(record) => {
                self.servers.insert(id, Arc::new(self.view(&record)));
                let keys = store.list_server_keys(id).await?;
                self.replace_keys(keys, |e| e.server == id);
            }
            None => {
                self.keys.retain(|_, e| e.server != id);
                self.servers.remove(&id);
            }
        }
        Ok(())
    }

    fn replace_keys(&self, keys: Vec<KeyRecord>, in_scope: impl Fn(&KeyEntry) -> bool) {
        let fresh: HashSet<KeyHash> = keys.iter().map(|k| k.hash).collect();
        for k in keys {
            self.keys.insert(
                k.hash,
                KeyEntry {
                    hash: k.hash,
                    server: k.server_id,
                    expires_at_ms: k.expires_at.map(ms),
                },
            );
        }
        self.keys.retain(|h, e| !in_scope(e) || fresh.contains(h));
    }

    /// Resolve a presented token to a live server, or `None` — the same
    /// `None` for unknown, expired, revoked and disabled, so a caller can
    /// never tell which.
    pub fn authenticate(&self, token: &str) -> Option<Arc<ServerView>> {
        let hash = KeyHash::of(token);
        let now = now_ms();
        let server = {
            let entry = self.keys.get(&hash)?;
            // The map lookup is by hash of the token, which leaks nothing
            // useful; the explicit constant-time check keeps the comparison
            // itself timing-safe regardless of the map's implementation.
            if !entry.hash.ct_eq(&hash) || entry.expires_at_ms.is_some_and(|e| now >= e) {
                return None;
            }
            entry.server
        };
        let view = self.servers.get(&server)?.clone();
        view.is_live(now).then_some(view)
    }

    /// Number of servers and keys loaded (for logs and readiness detail).
    pub fn counts(&self) -> (usize, usize) {
        (self.servers.len(), self.keys.len())
    }
}
