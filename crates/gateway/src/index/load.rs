//! Reloading from the store: everything that changed since the last load
//! (by table heads), or one server and its keys after a write.

use mcpgate_store::{AccountId, IntegrationId, ServerId, Store, StoreError};
use mcpgate_upstream::McpClient;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use super::upstreams::listens;
use super::{Fault, FaultKey, Index, IntegrationEntry, RecordKind, UpstreamEntry, isolated};

impl Index {
    /// Load everything from the store that changed since the last load:
    /// integrations, accounts, upstreams, portals, servers, keys. A table
    /// whose head (migration 0011) has not moved is not read; of the
    /// integrations, only rows whose `updated_at` moved are read and built.
    /// So the cost of a reload after one write does not grow with the size
    /// of the store's integrations, and a periodic reload with nothing
    /// changed reads one small table.
    pub async fn load_all(&self, store: &Store) -> Result<(), StoreError> {
        let _installing = self.installing.lock().await;
        // Read before the tables: a write after this point moves a head
        // again and is read by the next reload.
        let heads = store.heads().await?;
        let seen = self
            .heads
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        let moved = |table: &str| {
            seen.as_ref()
                .is_none_or(|s| s.get(table) != heads.get(table))
        };
        let previous_faults: Vec<Fault> = self.faults.iter().map(|f| f.clone()).collect();
        let carry = |faults: &mut Vec<Fault>, keep: &dyn Fn(&Fault) -> bool| {
            faults.extend(previous_faults.iter().filter(|f| keep(f)).cloned());
        };
        // A record that does not read or build is set aside as a fault;
        // everything else loads.
        let mut faults: Vec<Fault> = Vec::new();
        let mut integrations_changed = false;
        if moved("integrations") {
            let stamps: HashMap<String, i64> =
                store.integration_stamps().await?.into_iter().collect();
            let stale: Vec<String> = stamps
                .iter()
                .filter(|(id, at)| self.integration_stamps.get(*id).is_none_or(|s| *s != **at))
                .map(|(id, _)| id.clone())
                .collect();
            let count = self.integrations.len();
            self.integrations
                .retain(|id, _| stamps.contains_key(&id.to_string()));
            self.integration_stamps
                .retain(|id, _| stamps.contains_key(id));
            integrations_changed |= self.integrations.len() != count;
            let loaded = store.load_integrations_by_id(&stale).await?;
            for u in loaded.unreadable {
                if let Ok(id) = u.id.parse::<IntegrationId>() {
                    integrations_changed |= self.integrations.remove(&id).is_some();
                }
                if let Some(at) = stamps.get(&u.id) {
                    self.integration_stamps.insert(u.id.clone(), *at);
                }
                faults.push(Fault::from(u));
            }
            for record in loaded.records {
                let (id, tenant) = (record.id, record.tenant.clone());
                let at = stamps.get(&id.to_string()).copied();
                integrations_changed = true;
                match isolated(|| IntegrationEntry::new(record)) {
                    Ok(entry) => {
                        self.integrations.insert(id, Arc::new(entry));
                    }
                    Err(reason) => {
                        self.integrations.remove(&id);
                        faults.push(Fault {
                            kind: RecordKind::Integration,
                            tenant: Some(tenant),
                            id: id.to_string(),
                            reason,
                        });
                    }
                }
                if let Some(at) = at {
                    self.integration_stamps.insert(id.to_string(), at);
                }
            }
            let reread: HashSet<&String> = stale.iter().collect();
            carry(&mut faults, &|f| {
                f.kind == RecordKind::Integration
                    && stamps.contains_key(&f.id)
                    && !reread.contains(&f.id)
            });
        } else {
            carry(&mut faults, &|f| f.kind == RecordKind::Integration);
        }

        let accounts_moved = moved("integrated_accounts") || integrations_changed;
        let mut accounts_changed = false;
        if !accounts_moved {
            carry(&mut faults, &|f| f.kind == RecordKind::Account);
        } else {
            let loaded = store.load_accounts().await?;
            faults.extend(loaded.unreadable.into_iter().map(Fault::from));
            let accounts = loaded.records;
            let live: HashSet<AccountId> = accounts.iter().map(|a| a.id).collect();
            for record in &accounts {
                let integration = self
                    .integrations
                    .get(&record.integration_id)
                    .map(|i| Arc::clone(&i));
                let current = self
                    .accounts
                    .get(&record.id)
                    .is_some_and(|e| e.is_current(record, integration.as_ref()));
                if !current {
                    accounts_changed = true;
                    self.accounts
                        .insert(record.id, Arc::new(self.account_entry(store, record)));
                }
            }
            let count = self.accounts.len();
            self.accounts.retain(|id, _| live.contains(id));
            accounts_changed |= self.accounts.len() != count;
        }

        let upstreams_moved = moved("mcp_upstreams");
        if !upstreams_moved {
            carry(&mut faults, &|f| f.kind == RecordKind::Upstream);
        } else {
            let loaded = store.load_upstreams().await?;
            faults.extend(loaded.unreadable.into_iter().map(Fault::from));
            let upstreams = loaded.records;
            let live: HashSet<(String, String)> = upstreams
                .iter()
                .map(|(u, _)| (u.tenant.clone(), u.id.clone()))
                .collect();
            for (record, credentials) in upstreams {
                let key = (record.tenant.clone(), record.id.clone());
                // Keep the client (and its upstream session) unless the
                // endpoint or credential changed.
                let previous = self.upstreams.get(&key).map(|e| Arc::clone(&e));
                let client = match &previous {
                    Some(e)
                        if e.record.hostname == record.hostname
                            && e.record.url_provenance == record.url_provenance
                            && e.credentials == credentials
                            && e.record.timeout_secs == record.timeout_secs =>
                    {
                        Arc::clone(&e.client)
                    }
                    _ => match McpClient::new(
                        self.http.for_urls_by(record.url_provenance).clone(),
                        &record.hostname,
                        credentials.as_deref(),
                        record
                            .timeout_secs
                            .map_or(self.rest.default_timeout, std::time::Duration::from_secs),
                        self.mcp_limits,
                    ) {
                        Ok(c) => Arc::new(c),
                        Err(e) => {
                            tracing::warn!(upstream = %record.id, error = %e, "unusable upstream URL");
                            faults.push(Fault {
                                kind: RecordKind::Upstream,
                                tenant: Some(record.tenant.clone()),
                                id: record.id.clone(),
                                reason: format!("its hostname cannot be used: {e}"),
                            });
                            continue;
                        }
                    },
                };
                // A change listener for upstreams that announce changes, through
                // the current client (restarted when the client is replaced).
                let listening = self
                    .listeners
                    .get(&key)
                    .is_some_and(|l| Arc::ptr_eq(&l.0, &client));
                if listens(&record) && !listening {
                    let handle = self.spawn_listener(&record, &client);
                    if let Some((_, (_, old))) = self.listeners.remove(&key) {
                        old.abort();
                    }
                    self.listeners
                        .insert(key.clone(), (Arc::clone(&client), handle));
                } else if !listens(&record)
                    && let Some((_, (_, old))) = self.listeners.remove(&key)
                {
                    old.abort();
                }
                let entry = UpstreamEntry {
                    record,
                    client,
                    credentials,
                };
                self.upstreams.insert(key, Arc::new(entry));
            }
            self.upstreams.retain(|k, _| live.contains(k));
            self.listeners.retain(|k, (_, handle)| {
                let keep = live.contains(k);
                if !keep {
                    handle.abort();
                }
                keep
            });
        }
        let portals_moved = moved("portals");
        if !portals_moved {
            carry(&mut faults, &|f| f.kind == RecordKind::Portal);
        } else {
            let loaded = store.load_portals().await?;
            faults.extend(loaded.unreadable.into_iter().map(Fault::from));
            let portals = loaded.records;
            let live: HashSet<(String, String)> = portals
                .iter()
                .map(|p| (p.tenant.clone(), p.id.clone()))
                .collect();
            for p in portals {
                self.portals
                    .insert((p.tenant.clone(), p.id.clone()), Arc::new(p));
            }
            self.portals.retain(|k, _| live.contains(k));
        }

        // Views depend on their server, key, account, upstream and portal
        // records (and, through the account entries, on integrations).
        let servers_moved = moved("servers")
            || moved("server_keys")
            || accounts_changed
            || upstreams_moved
            || portals_moved;
        if !servers_moved {
            carry(&mut faults, &|f| {
                matches!(f.kind, RecordKind::Server | RecordKind::Key)
            });
        } else {
            let loaded = store.load_servers().await?;
            faults.extend(loaded.unreadable.into_iter().map(Fault::from));
            let servers = loaded.records;
            let loaded = store.load_active_keys().await?;
            faults.extend(loaded.unreadable.into_iter().map(Fault::from));
            let keys = loaded.records;
            let mut limits = HashMap::new();
            for s in &servers {
                let unchanged = self.servers.contains_key(&s.id)
                    && self
                        .basis(s)
                        .is_some_and(|now| self.bases.get(&s.id).is_some_and(|then| *then == now));
                let fault = if unchanged {
                    self.fault(RecordKind::Server, &s.tenant, &s.id.to_string())
                        .map(|f| f.reason)
                } else {
                    self.install_view(s)
                };
                if let Some(reason) = fault {
                    faults.push(Fault {
                        kind: RecordKind::Server,
                        tenant: Some(s.tenant.clone()),
                        id: s.id.to_string(),
                        reason,
                    });
                }
                limits.insert(s.id, self.limits_for(s));
            }
            let live: HashSet<ServerId> = servers.iter().map(|s| s.id).collect();
            self.servers.retain(|id, _| live.contains(id));
            self.bases.retain(|id, _| live.contains(id));
            self.prune_offerings();
            self.replace_keys(keys, &limits, |_| true);
        }
        let faults: HashMap<FaultKey, Fault> = faults.into_iter().map(|f| (f.key(), f)).collect();
        // Said once per fault, not on every periodic reload.
        for (key, f) in &faults {
            if self
                .faults
                .get(key)
                .is_none_or(|known| known.reason != f.reason)
            {
                tracing::error!(record = ?f.kind, tenant = ?f.tenant, id = %f.id, reason = %f.reason,
                    "a stored record does not serve; everything else does");
            }
        }
        self.faults.retain(|k, _| faults.contains_key(k));
        for (k, f) in faults {
            self.faults.insert(k, f);
        }
        *self
            .heads
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(heads);
        Ok(())
    }

    /// Re-read one server and its keys after a write (or drop them when the
    /// server is gone). New keys are added before stale ones are removed, so a
    /// valid key never misses in between.
    pub async fn refresh_server(&self, store: &Store, id: ServerId) -> Result<(), StoreError> {
        let _installing = self.installing.lock().await;
        match store.get_server(id).await? {
            Some(record) => {
                let key = (RecordKind::Server, record.tenant.clone(), id.to_string());
                match self.install_view(&record) {
                    Some(reason) => {
                        let fault = Fault {
                            kind: RecordKind::Server,
                            tenant: Some(record.tenant.clone()),
                            id: id.to_string(),
                            reason,
                        };
                        self.faults.insert(key, fault);
                    }
                    None => {
                        self.faults.remove(&key);
                    }
                }
                let keys = store.list_server_keys(id).await?;
                let limits = HashMap::from([(id, self.limits_for(&record))]);
                self.replace_keys(keys, &limits, |e| e.server == id);
            }
            None => {
                self.keys.retain(|_, e| e.server != id);
                self.servers.remove(&id);
                self.bases.remove(&id);
            }
        }
        self.prune_offerings();
        Ok(())
    }
}
