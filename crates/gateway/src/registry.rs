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
use mcpgate_store::{PortalRecord, UpstreamRecord};
use mcpgate_upstream::{
    Executor, Handler, McpClient, McpTool, RestAccount, RestOperation, RestSettings, RotateHook,
    StreamEnd,
};
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, OnceLock};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::limits::{Effective, KeyLimiter};
use crate::view::{Extras, Offering, ServerView};

fn to_raw(v: &Value) -> Box<serde_json::value::RawValue> {
    serde_json::value::to_raw_value(v).expect("JSON serializes")
}

/// A key as the hot path needs it.
pub struct KeyEntry {
    /// The key's id.
    pub id: Uuid,
    hash: KeyHash,
    /// The server it opens.
    pub server: ServerId,
    expires_at_ms: Option<i64>,
    last_used_ms: AtomicI64,
    flushed_ms: AtomicI64,
    limits: Effective,
    // Created on the key's first request (most keys of a large store are
    // idle, and a limiter is a rate cell plus a semaphore), then kept
    // across index rebuilds while the limits stay the same.
    limiter: OnceLock<Arc<KeyLimiter>>,
    sandbox_limiter: OnceLock<Arc<KeyLimiter>>,
}

impl KeyEntry {
    /// Its rate and concurrency limiter.
    pub fn limiter(&self) -> &KeyLimiter {
        self.limiter
            .get_or_init(|| Arc::new(KeyLimiter::new(self.limits)))
    }

    /// The same limits, counted separately for the key's sandbox twin.
    pub fn sandbox_limiter(&self) -> &KeyLimiter {
        self.sandbox_limiter
            .get_or_init(|| Arc::new(KeyLimiter::new(self.limits)))
    }
}

/// A request's credentials, accepted.
pub struct Admitted {
    /// The server.
    pub view: Arc<ServerView>,
    /// The key used.
    pub key: Arc<KeyEntry>,
}

/// Why a token was refused.
pub enum AuthFailure {
    /// Unknown, expired or revoked token, or an expired or missing server.
    Invalid,
    /// A valid key of a disabled server (the server, so a surface that must
    /// say "disabled" can check it is the one it serves).
    Disabled(Arc<ServerView>),
}

/// An integration with its tools generated and their validators compiled,
/// shared by every server of every account of it.
pub struct IntegrationEntry {
    /// The stored record.
    pub record: IntegrationRecord,
    /// One operation per generated tool, in definition order.
    pub operations: Vec<Arc<RestOperation>>,
}

/// An upstream MCP server: its record and the gateway's client for it.
pub struct UpstreamEntry {
    /// The stored record (with its last snapshot).
    pub record: UpstreamRecord,
    /// The client (holds the gateway's session with the upstream).
    pub client: Arc<McpClient>,
    credentials: Option<String>,
}

/// Whether a snapshot's capabilities promise list_changed notifications.
fn announces_changes(record: &UpstreamRecord) -> bool {
    let caps = record.snapshot.as_ref().and_then(|s| s.get("capabilities"));
    ["tools", "prompts", "resources"].iter().any(|c| {
        caps.and_then(|caps| caps.get(c))
            .and_then(|c| c.get("listChanged"))
            .and_then(Value::as_bool)
            == Some(true)
    })
}

/// Whether the gateway keeps the upstream's standalone stream open: to hear
/// its list changes, and, on a 2025 session, the requests to the client and
/// the log lines its tools may send there instead of on the call's stream
/// (as TypeScript-SDK servers do; see `mcpgate_upstream::Attending`).
fn listens(record: &UpstreamRecord) -> bool {
    let version = record
        .snapshot
        .as_ref()
        .and_then(|s| s.get("protocol_version"))
        .and_then(Value::as_str);
    announces_changes(record) || version.is_some_and(|v| v != mcpgate_protocol::stateless::VERSION)
}

struct AccountEntry {
    integration: IntegrationId,
    executor: Executor,
    /// The record's write time and the integration entry it was built with
    /// (held, so the pointer comparison in [`Registry::load_all`] cannot
    /// match a new entry that reuses a freed address).
    built_from: (OffsetDateTime, Option<Arc<IntegrationEntry>>),
}

impl AccountEntry {
    fn is_current(
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

/// What a server's view was built from. A full reload skips servers whose
/// basis is unchanged: at ten thousand servers, rebuilding every view every
/// reload churns tens of megabytes, and an account's executor (with its
/// cached OAuth token) must survive reloads that did not touch it.
enum Basis {
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

/// Servers and keys, ready to serve.
pub struct Registry {
    toolsets: HashMap<String, Arc<Toolset>>,
    /// Each toolset's offering, shared by all its servers.
    toolset_offerings: HashMap<String, Arc<Offering>>,
    /// Offerings of account servers by what they offer (the identities of
    /// their operations, which the offering keeps alive, and their
    /// instructions), so servers with the same integration and scope share
    /// one. Weak: an offering no server holds any more is dropped.
    operation_offerings: DashMap<OperationsKey, std::sync::Weak<Offering>>,
    integrations: DashMap<IntegrationId, Arc<IntegrationEntry>>,
    accounts: DashMap<AccountId, Arc<AccountEntry>>,
    servers: DashMap<ServerId, Arc<ServerView>>,
    upstreams: DashMap<(String, String), Arc<UpstreamEntry>>,
    portals: DashMap<(String, String), Arc<PortalRecord>>,
    keys: DashMap<KeyHash, Arc<KeyEntry>>,
    bases: DashMap<ServerId, Basis>,
    page_size: usize,
    http: reqwest::Client,
    rest: RestSettings,
    limits: Effective,
    changes: tokio::sync::mpsc::UnboundedSender<(String, String)>,
    /// One change listener per upstream, with the client it listens through.
    listeners: DashMap<(String, String), (Arc<McpClient>, tokio::task::AbortHandle)>,
    /// Held by a full reload and by a refresh after a write, each for its
    /// read and its install: a reload that read the store before a write
    /// must not install its older records over the refresh's newer ones.
    installing: tokio::sync::Mutex<()>,
}

/// What makes two account servers' offerings identical.
type OperationsKey = (Vec<usize>, Option<String>);

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
        limits: Effective,
        changes: tokio::sync::mpsc::UnboundedSender<(String, String)>,
    ) -> Self {
        let toolset_offerings = toolsets
            .iter()
            .map(|t| {
                let offering = Offering::from_toolset(Some(t), page_size);
                (t.name.clone(), Arc::new(offering))
            })
            .collect();
        Self {
            toolsets: toolsets
                .into_iter()
                .map(|t| (t.name.clone(), Arc::new(t)))
                .collect(),
            toolset_offerings,
            operation_offerings: DashMap::new(),
            integrations: DashMap::new(),
            accounts: DashMap::new(),
            servers: DashMap::new(),
            upstreams: DashMap::new(),
            portals: DashMap::new(),
            keys: DashMap::new(),
            bases: DashMap::new(),
            page_size,
            http,
            rest,
            limits,
            changes,
            listeners: DashMap::new(),
            installing: tokio::sync::Mutex::new(()),
        }
    }

    /// Keep a connection to the upstream's SSE stream, asking for a resync
    /// whenever it announces a list change; reconnects with backoff.
    fn spawn_listener(
        &self,
        record: &UpstreamRecord,
        client: &Arc<McpClient>,
    ) -> tokio::task::AbortHandle {
        let client = Arc::clone(client);
        let key = (record.tenant.clone(), record.id.clone());
        let changes = self.changes.clone();
        tokio::spawn(async move {
            const QUICK: std::time::Duration = std::time::Duration::from_millis(100);
            let mut backoff = QUICK;
            let mut renewals = client.renewals();
            loop {
                renewals.mark_unchanged();
                let notify = |method: &str| {
                    tracing::info!(upstream = %key.1, method, "upstream announced a change; resyncing");
                    let _ = changes.send(key.clone());
                };
                let opened = std::time::Instant::now();
                match client.listen_for_changes(&notify).await {
                    Ok(StreamEnd::Unsupported) => return, // no stream on this upstream
                    Ok(StreamEnd::Renewed) => {
                        backoff = QUICK;
                        continue; // the new session's stream, at once
                    }
                    // A stream that lived a while is reopened soon; one that
                    // keeps ending or failing, less and less often.
                    Ok(StreamEnd::Ended) if opened.elapsed() > std::time::Duration::from_secs(5) => {
                        backoff = QUICK;
                    }
                    Ok(StreamEnd::Ended) => {}
                    Err(e) => tracing::debug!(upstream = %key.1, error = %e, "upstream stream failed"),
                }
                // A new session (a call re-initialized) needs its stream now:
                // the upstream may ask that call's client on it.
                tokio::select! {
                    () = tokio::time::sleep(backoff) => {
                        backoff = (backoff * 2).min(std::time::Duration::from_secs(60));
                    }
                    _ = renewals.changed() => backoff = QUICK,
                }
            }
        })
        .abort_handle()
    }

    /// The limits a server's keys get.
    pub fn limits_for(&self, record: &ServerRecord) -> Effective {
        Effective::resolve(self.limits, &record.limits)
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

    /// What `record`'s view is built from, or `None` when it must be rebuilt
    /// on every reload (portals, which depend on upstream snapshots, and
    /// servers whose account is missing).
    fn basis(&self, record: &ServerRecord) -> Option<Basis> {
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
    fn install_view(&self, record: &ServerRecord) {
        self.servers.insert(record.id, Arc::new(self.view(record)));
        match self.basis(record) {
            Some(b) => self.bases.insert(record.id, b),
            None => self.bases.remove(&record.id).map(|(_, b)| b),
        };
    }

    fn view(&self, record: &ServerRecord) -> ServerView {
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
    fn offering_of(
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
    fn prune_offerings(&self) {
        self.operation_offerings
            .retain(|_, offering| offering.strong_count() > 0);
    }

    /// An upstream by tenant and id.
    pub fn upstream(&self, tenant: &str, id: &str) -> Option<Arc<UpstreamEntry>> {
        self.upstreams
            .get(&(tenant.to_owned(), id.to_owned()))
            .map(|e| Arc::clone(&e))
    }

    /// A portal by tenant and id.
    pub fn portal(&self, tenant: &str, id: &str) -> Option<Arc<PortalRecord>> {
        self.portals
            .get(&(tenant.to_owned(), id.to_owned()))
            .map(|e| Arc::clone(&e))
    }

    /// A portal's view: the synced tools, prompts and resources of its
    /// upstreams. An upstream that never synced (or was removed) simply
    /// contributes nothing; the others are unaffected.
    fn portal_view(&self, record: &ServerRecord, portal_id: &str) -> ServerView {
        let Some(portal) = self.portal(&record.tenant, portal_id) else {
            let offering = Offering::from_portal(Vec::new(), Extras::default(), self.page_size);
            return ServerView::new(record, Arc::new(offering), Executor::Portal);
        };
        let mut names = Vec::new();
        let mut tools: Vec<(Value, Handler)> = Vec::new();
        let mut extras = Extras::default();
        let mut prompts: Vec<(String, Value, Arc<McpClient>, String)> = Vec::new();
        for member in &portal.servers {
            let Some(up) = self.upstream(&record.tenant, &member.server_id) else {
                continue;
            };
            let Some(snapshot) = &up.record.snapshot else {
                continue;
            };
            let exposed = |name: &str| {
                if portal.prefix {
                    format!("{}_{name}", member.server_id)
                } else {
                    name.to_owned()
                }
            };
            for tool in snapshot
                .get("tools")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let Some(name) = tool.get("name").and_then(Value::as_str) else {
                    continue;
                };
                let listed = |l: &Option<Vec<String>>| {
                    l.as_ref().is_some_and(|l| l.iter().any(|t| t == name))
                };
                if (member.default_disabled && !listed(&member.enabled_tools))
                    || listed(&member.disabled_tools)
                {
                    continue;
                }
                // A pinned portal withholds a tool whose definition changed
                // since an admin last accepted it.
                if portal.pin_tools
                    && up
                        .record
                        .changes
                        .iter()
                        .any(|c| c.get("tool").and_then(Value::as_str) == Some(name))
                {
                    continue;
                }
                names.push(exposed(name));
                tools.push((
                    tool.clone(),
                    Handler::Mcp(Arc::new(McpTool {
                        client: Arc::clone(&up.client),
                        upstream: member.server_id.clone(),
                        name: name.to_owned(),
                        output_schema: tool.get("outputSchema").cloned(),
                        param_headers: mcpgate_protocol::stateless::param_headers(
                            tool.get("inputSchema"),
                        ),
                    })),
                ));
            }
            for prompt in snapshot
                .get("prompts")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let Some(name) = prompt.get("name").and_then(Value::as_str) else {
                    continue;
                };
                prompts.push((
                    exposed(name),
                    prompt.clone(),
                    Arc::clone(&up.client),
                    name.to_owned(),
                ));
            }
            for resource in snapshot
                .get("resources")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let Some(uri) = resource.get("uri").and_then(Value::as_str) else {
                    continue;
                };
                if extras.routes.resources.contains_key(uri) {
                    continue;
                }
                extras
                    .routes
                    .resources
                    .insert(uri.to_owned(), Arc::clone(&up.client));
                extras.resources.push(to_raw(resource));
            }
            for template in snapshot
                .get("resource_templates")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Some(t) = template.get("uriTemplate").and_then(Value::as_str) {
                    extras
                        .routes
                        .templates
                        .entry(t.to_owned())
                        .or_insert_with(|| Arc::clone(&up.client));
                }
                extras.templates.push(to_raw(template));
            }
            let caps = snapshot.get("capabilities");
            if caps.and_then(|c| c.get("logging")).is_some() {
                extras.routes.logging.push(Arc::clone(&up.client));
            }
            if caps.and_then(|c| c.get("completions")).is_some() {
                extras.routes.completions = true;
            }
        }
        // Names within 64 characters and unique, shortened deterministically.
        let names = mcpgate_catalog::naming::unique(names, mcpgate_catalog::naming::MAX_TOOL_NAME);
        let view_tools = tools
            .into_iter()
            .zip(names)
            .map(|((mut tool, handler), name)| {
                tool["name"] = Value::String(name.clone());
                (name, to_raw(&tool), handler)
            })
            .collect();
        let prompt_names = mcpgate_catalog::naming::unique(
            prompts.iter().map(|p| p.0.clone()).collect(),
            mcpgate_catalog::naming::MAX_TOOL_NAME,
        );
        for ((_, mut prompt, client, original), name) in prompts.into_iter().zip(prompt_names) {
            prompt["name"] = Value::String(name.clone());
            extras.prompts.push(to_raw(&prompt));
            extras.routes.prompts.insert(name, (client, original));
        }
        let offering = Offering::from_portal(view_tools, extras, self.page_size);
        ServerView::new(record, Arc::new(offering), Executor::Portal)
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
        let _installing = self.installing.lock().await;
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
            let integration = self
                .integrations
                .get(&record.integration_id)
                .map(|i| Arc::clone(&i));
            let current = self
                .accounts
                .get(&record.id)
                .is_some_and(|e| e.is_current(record, integration.as_ref()));
            if !current {
                self.accounts
                    .insert(record.id, Arc::new(self.account_entry(store, record)));
            }
        }
        self.accounts.retain(|id, _| live.contains(id));

        let upstreams = store.list_upstreams().await?;
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
                        && e.credentials == credentials
                        && e.record.timeout_secs == record.timeout_secs =>
                {
                    Arc::clone(&e.client)
                }
                _ => match McpClient::new(
                    self.http.clone(),
                    &record.hostname,
                    credentials.as_deref(),
                    record
                        .timeout_secs
                        .map_or(self.rest.default_timeout, std::time::Duration::from_secs),
                ) {
                    Ok(c) => Arc::new(c),
                    Err(e) => {
                        tracing::warn!(upstream = %record.id, error = %e, "unusable upstream URL");
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
        let portals = store.list_portals().await?;
        let live: HashSet<(String, String)> = portals
            .iter()
            .map(|p| (p.tenant.clone(), p.id.clone()))
            .collect();
        for p in portals {
            self.portals
                .insert((p.tenant.clone(), p.id.clone()), Arc::new(p));
        }
        self.portals.retain(|k, _| live.contains(k));

        let servers = store.list_servers().await?;
        let keys = store.list_active_keys().await?;
        let mut limits = HashMap::new();
        for s in &servers {
            let unchanged = self.servers.contains_key(&s.id)
                && self
                    .basis(s)
                    .is_some_and(|now| self.bases.get(&s.id).is_some_and(|then| *then == now));
            if !unchanged {
                self.install_view(s);
            }
            limits.insert(s.id, self.limits_for(s));
        }
        let live: HashSet<ServerId> = servers.iter().map(|s| s.id).collect();
        self.servers.retain(|id, _| live.contains(id));
        self.bases.retain(|id, _| live.contains(id));
        self.prune_offerings();
        self.replace_keys(keys, &limits, |_| true);
        Ok(())
    }

    /// Re-read one server and its keys after a write (or drop them when the
    /// server is gone). New keys are added before stale ones are removed, so a
    /// valid key never misses in between.
    pub async fn refresh_server(&self, store: &Store, id: ServerId) -> Result<(), StoreError> {
        let _installing = self.installing.lock().await;
        match store.get_server(id).await? {
            Some(record) => {
                self.install_view(&record);
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

    fn replace_keys(
        &self,
        keys: Vec<KeyRecord>,
        limits: &HashMap<ServerId, Effective>,
        in_scope: impl Fn(&KeyEntry) -> bool,
    ) {
        let fresh: HashSet<KeyHash> = keys.iter().map(|k| k.hash).collect();
        for k in keys {
            let want = limits.get(&k.server_id).copied().unwrap_or(self.limits);
            let expires_at_ms = k.expires_at.map(ms);
            let previous = self.keys.get(&k.hash).map(|e| Arc::clone(&e));
            if let Some(p) = &previous
                && p.id == k.id
                && p.expires_at_ms == expires_at_ms
                && p.limits == want
            {
                continue;
            }
            // Keep the limiters (their budgets and calls in flight) when only
            // other fields changed. A limiter first created on the old entry
            // after this point is not carried over: at worst one request's
            // worth of budget, on a key whose record just changed.
            let kept = previous.as_ref().filter(|p| p.limits == want);
            let carry = |cell: fn(&KeyEntry) -> &OnceLock<Arc<KeyLimiter>>| {
                kept.and_then(|p| cell(p).get().cloned())
                    .map(OnceLock::from)
                    .unwrap_or_default()
            };
            let limiter = carry(|e| &e.limiter);
            let sandbox_limiter = carry(|e| &e.sandbox_limiter);
            let used = previous
                .as_ref()
                .map_or(0, |p| p.last_used_ms.load(Ordering::Relaxed));
            self.keys.insert(
                k.hash,
                Arc::new(KeyEntry {
                    id: k.id,
                    hash: k.hash,
                    server: k.server_id,
                    expires_at_ms,
                    last_used_ms: AtomicI64::new(used),
                    flushed_ms: AtomicI64::new(used),
                    limits: want,
                    limiter,
                    sandbox_limiter,
                }),
            );
        }
        self.keys.retain(|h, e| !in_scope(e) || fresh.contains(h));
    }

    /// Resolve a presented token to a live server and its key. The same
    /// `Invalid` answers unknown, expired, revoked and deleted, so a caller
    /// cannot tell which; `Disabled` is for surfaces that must say so.
    pub fn authenticate(&self, token: &str) -> Result<Admitted, AuthFailure> {
        let hash = KeyHash::of(token);
        let now = now_ms();
        let key = self
            .keys
            .get(&hash)
            .map(|e| Arc::clone(&e))
            .ok_or(AuthFailure::Invalid)?;
        // The map lookup is by hash of the token, which leaks nothing useful;
        // the explicit constant-time check keeps the comparison itself
        // timing-safe regardless of the map's implementation.
        if !key.hash.ct_eq(&hash) || key.expires_at_ms.is_some_and(|e| now >= e) {
            return Err(AuthFailure::Invalid);
        }
        let view = self
            .servers
            .get(&key.server)
            .map(|v| Arc::clone(&v))
            .ok_or(AuthFailure::Invalid)?;
        if view.expires_at_ms.is_some_and(|e| now >= e) {
            return Err(AuthFailure::Invalid);
        }
        if view.disabled {
            return Err(AuthFailure::Disabled(view));
        }
        key.last_used_ms.store(now, Ordering::Relaxed);
        Ok(Admitted { view, key })
    }

    /// Last-use times recorded since the previous call, for a batched write.
    pub fn take_used(&self) -> Vec<(Uuid, OffsetDateTime)> {
        self.keys
            .iter()
            .filter_map(|e| {
                let used = e.last_used_ms.load(Ordering::Relaxed);
                let flushed = e.flushed_ms.swap(used, Ordering::Relaxed);
                (used > flushed).then(|| {
                    let at =
                        OffsetDateTime::from_unix_timestamp_nanos(i128::from(used) * 1_000_000)
                            .unwrap_or(OffsetDateTime::UNIX_EPOCH);
                    (e.id, at)
                })
            })
            .collect()
    }

    /// Number of servers and keys loaded (for logs and readiness detail).
    pub fn counts(&self) -> (usize, usize) {
        (self.servers.len(), self.keys.len())
    }
}
