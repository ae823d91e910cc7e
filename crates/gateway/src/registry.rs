//! The in-memory index the hot path reads: key hash → key entry, server id →
//! [`ServerView`]. Rebuilt from the store at start and after every write.

use dashmap::DashMap;
use mcpgate_catalog::Toolset;
use mcpgate_store::{KeyHash, KeyRecord, ServerId, ServerRecord, ServerSource, Store, StoreError};
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

/// Servers and keys, ready to serve.
pub struct Registry {
    toolsets: HashMap<String, Arc<Toolset>>,
    servers: DashMap<ServerId, Arc<ServerView>>,
    keys: DashMap<KeyHash, KeyEntry>,
    page_size: usize,
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
    pub fn new(toolsets: Vec<Toolset>, page_size: usize) -> Self {
        Self {
            toolsets: toolsets
                .into_iter()
                .map(|t| (t.name.clone(), Arc::new(t)))
                .collect(),
            servers: DashMap::new(),
            keys: DashMap::new(),
            page_size,
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
        }
    }

    /// Load every server and key from the store.
    pub async fn load_all(&self, store: &Store) -> Result<(), StoreError> {
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
