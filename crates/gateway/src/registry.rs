//! The in-memory index the hot path reads: key hash → key entry, server id →
//! [`ServerView`], plus the integrations (with their generated, compiled
//! operations) and accounts (with their live connections) views are built
//! from. Rebuilt from the store at start and after every write.

use dashmap::DashMap;
use mcpgate_catalog::{Scope, Toolset, UrlProvenance, account_url_provenance, generate};
use mcpgate_store::{
    AccountId, AccountPatch, AccountRecord, IntegrationId, IntegrationRecord, KeyHash, KeyRecord,
    ServerId, ServerRecord, ServerSource, Store, StoreError,
};
use mcpgate_store::{PortalRecord, PortalServer, UpstreamRecord};
use mcpgate_upstream::egress::Clients;
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

/// Give a portal tool or prompt (an object) its exposed `name`; when that
/// is not the name the portal would otherwise show (`wanted`: the
/// upstream's, prefixed), the original stays visible as `title` unless it
/// has one.
fn keep_original_name(item: &mut Value, wanted: &str, name: &str) {
    let Some(fields) = item.as_object_mut() else {
        return;
    };
    if wanted != name && !fields.contains_key("title") {
        let original = fields.get("name").cloned();
        if let Some(original) = original {
            fields.insert("title".into(), original);
        }
    }
    fields.insert("name".into(), Value::String(name.to_owned()));
}

/// Rename a prompt's argument names (`arguments[].name`) that some client
/// would refuse, like input-schema keys (`^[a-zA-Z0-9_.-]{1,64}$`, the
/// original kept as `title`); the exposed → upstream names when any
/// changed.
fn client_safe_prompt_arguments(prompt: &mut Value) -> Option<HashMap<String, String>> {
    use mcpgate_catalog::naming::is_client_safe_property_key;
    use mcpgate_catalog::schema_keys::unique_key;
    let mut arguments: Vec<&mut Value> = prompt
        .get_mut("arguments")?
        .as_array_mut()?
        .iter_mut()
        .filter(|a| a.get("name").is_some_and(Value::is_string))
        .collect();
    let originals: Vec<String> = arguments
        .iter()
        .map(|a| {
            a.get("name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    // Names that pass keep themselves; the others take the key rule.
    let mut taken: HashSet<String> = originals
        .iter()
        .filter(|o| is_client_safe_property_key(o))
        .cloned()
        .collect();
    let mut renamed = HashMap::new();
    for (argument, original) in arguments.iter_mut().zip(originals) {
        if is_client_safe_property_key(&original) {
            continue;
        }
        let name = unique_key(&original, &mut taken);
        keep_original_name(argument, &original, &name);
        renamed.insert(name, original);
    }
    (!renamed.is_empty()).then_some(renamed)
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
    fn new(record: IntegrationRecord) -> Self {
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
    /// One HTTP client per URL provenance: each upstream and account is
    /// called with the client of whoever wrote its URLs.
    http: Clients,
    rest: RestSettings,
    limits: Effective,
    mcp_limits: mcpgate_upstream::McpLimits,
    /// Where upstreams' change announcements go (coalesced there).
    resyncs: Arc<crate::sync::Resyncs>,
    /// One change listener per upstream, with the client it listens through.
    listeners: DashMap<(String, String), (Arc<McpClient>, tokio::task::AbortHandle)>,
    /// Held by a full reload and by a refresh after a write, each for its
    /// read and its install: a reload that read the store before a write
    /// must not install its older records over the refresh's newer ones.
    installing: tokio::sync::Mutex<()>,
    /// Stored records that did not load or build at the last reload.
    faults: DashMap<FaultKey, Fault>,
    /// The store's table heads as of the last complete reload (`None`
    /// before the first): a reload reads only the tables whose head moved.
    heads: std::sync::Mutex<Option<HashMap<String, i64>>>,
    /// Each stored integration row's `updated_at` (ms) as last read, by id
    /// as stored (unreadable rows too): a reload reads only rows whose
    /// stamp moved.
    integration_stamps: DashMap<String, i64>,
}

/// What kind of stored record a [`Fault`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordKind {
    /// An integration definition (`integrations`).
    Integration,
    /// An integrated account (`integrated_accounts`).
    Account,
    /// An upstream MCP server (`mcp_upstreams`).
    Upstream,
    /// A portal (`portals`).
    Portal,
    /// An MCP server (`servers`).
    Server,
    /// A server key (`server_keys`).
    Key,
}

impl RecordKind {
    fn of_table(table: &str) -> Self {
        match table {
            "integrations" => Self::Integration,
            "integrated_accounts" => Self::Account,
            "mcp_upstreams" => Self::Upstream,
            "portals" => Self::Portal,
            "server_keys" => Self::Key,
            _ => Self::Server,
        }
    }
}

/// A stored record the gateway could not load or build, and why. It serves
/// nothing until it is fixed (or deleted); every other record serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// What it is.
    pub kind: RecordKind,
    /// Its tenant, when known.
    pub tenant: Option<String>,
    /// Its id as stored.
    pub id: String,
    /// Why it does not serve, for an admin to act on.
    pub reason: String,
}

/// Faults by (kind, tenant or "", id).
type FaultKey = (RecordKind, String, String);

impl Fault {
    fn key(&self) -> FaultKey {
        (
            self.kind,
            self.tenant.clone().unwrap_or_default(),
            self.id.clone(),
        )
    }
}

impl From<mcpgate_store::Unreadable> for Fault {
    fn from(u: mcpgate_store::Unreadable) -> Self {
        Self {
            kind: RecordKind::of_table(u.table),
            tenant: u.tenant,
            id: u.id,
            reason: format!("the stored record cannot be read: {}", u.reason),
        }
    }
}

/// Run one record's build, turning a panic (a bug, met on data someone else
/// wrote) into that record's fault instead of the gateway's end.
fn isolated<T>(build: impl FnOnce() -> T) -> Result<T, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(build)).map_err(|panic| {
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic".to_owned());
        format!("building it failed (a bug; please report it): {what}")
    })
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
        http: Clients,
        rest: RestSettings,
        limits: Effective,
        resyncs: Arc<crate::sync::Resyncs>,
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
            mcp_limits: mcpgate_upstream::McpLimits {
                max_response_bytes: rest.max_response_bytes,
                ..Default::default()
            },
            resyncs,
            listeners: DashMap::new(),
            installing: tokio::sync::Mutex::new(()),
            faults: DashMap::new(),
            heads: std::sync::Mutex::new(None),
            integration_stamps: DashMap::new(),
        }
    }

    /// The caps on what upstream MCP clients read.
    pub fn with_mcp_limits(mut self, limits: mcpgate_upstream::McpLimits) -> Self {
        self.mcp_limits = limits;
        self
    }

    /// The clients of every upstream MCP server (to end their sessions).
    pub fn upstream_clients(&self) -> Vec<Arc<McpClient>> {
        self.upstreams
            .iter()
            .map(|e| Arc::clone(&e.client))
            .collect()
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
        let resyncs = Arc::clone(&self.resyncs);
        tokio::spawn(async move {
            const QUICK: std::time::Duration = std::time::Duration::from_millis(100);
            let mut backoff = QUICK;
            let mut renewals = client.renewals();
            loop {
                renewals.mark_unchanged();
                let notify = |method: &str| {
                    // A burst is coalesced: one resync runs, one more is due.
                    if resyncs.announce(&key.0, &key.1) {
                        tracing::info!(upstream = %key.1, method, "upstream announced a change; resyncing");
                    } else {
                        tracing::debug!(upstream = %key.1, method, "upstream announced a change; a resync is already due");
                    }
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
    /// Build (or rebuild) a server's view and remember what it was built
    /// from; a build that fails leaves the server unavailable, with the
    /// returned reason.
    fn install_view(&self, record: &ServerRecord) -> Option<String> {
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

    /// The fault of a stored record, if it did not load or build.
    pub fn fault(&self, kind: RecordKind, tenant: &str, id: &str) -> Option<Fault> {
        let found = |t: &str| self.faults.get(&(kind, t.to_owned(), id.to_owned()));
        found(tenant).or_else(|| found("")).map(|f| f.clone())
    }

    /// Every record of `kind` that did not load or build, by id.
    pub fn faults(&self, kind: RecordKind) -> Vec<Fault> {
        let mut all: Vec<Fault> = self
            .faults
            .iter()
            .filter(|f| f.kind == kind)
            .map(|f| f.clone())
            .collect();
        all.sort_by(|a, b| a.id.cmp(&b.id));
        all
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
        let members: Vec<(&PortalServer, Arc<UpstreamEntry>)> = portal
            .servers
            .iter()
            .filter_map(|m| Some((m, self.upstream(&record.tenant, &m.server_id)?)))
            .collect();
        let offering = portal_offering(
            &portal,
            members.iter().map(|(m, up)| (*m, &up.record, &up.client)),
            self.page_size,
        );
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

/// A portal's offering, from what its members' upstreams last synced (no
/// I/O, so a test can build it from any tool list): tools, prompts and
/// resources under names and keys every client accepts (`naming`,
/// `schema_keys`), each routed to its upstream under its real name.
fn portal_offering<'a>(
    portal: &PortalRecord,
    members: impl Iterator<Item = (&'a PortalServer, &'a UpstreamRecord, &'a Arc<McpClient>)>,
    page_size: usize,
) -> Offering {
    let mut names = Vec::new();
    let mut tools: Vec<(Value, Handler)> = Vec::new();
    let mut extras = Extras::default();
    let mut prompts: Vec<(String, Value, Arc<McpClient>, String)> = Vec::new();
    for (member, record, client) in members {
        let Some(snapshot) = &record.snapshot else {
            continue;
        };
        let exposed = |name: &str| {
            if portal.prefix {
                format!("{}_{name}", member.server_id)
            } else {
                name.to_owned()
            }
        };
        let mut listed_here = HashSet::new();
        for tool in snapshot
            .get("tools")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let Some(name) = tool.get("name").and_then(Value::as_str) else {
                continue;
            };
            // An upstream that lists a name twice offers one tool.
            if !listed_here.insert(name) {
                continue;
            }
            let listed =
                |l: &Option<Vec<String>>| l.as_ref().is_some_and(|l| l.iter().any(|t| t == name));
            if (member.default_disabled && !listed(&member.enabled_tools))
                || listed(&member.disabled_tools)
            {
                continue;
            }
            // A pinned portal withholds a tool whose definition changed
            // since an admin last accepted it.
            if portal.pin_tools
                && record
                    .changes
                    .iter()
                    .any(|c| c.get("tool").and_then(Value::as_str) == Some(name))
            {
                continue;
            }
            names.push(exposed(name));
            let mut shown = tool.clone();
            // Clients require an object schema; a tool without one takes none.
            if !shown.get("inputSchema").is_some_and(Value::is_object) {
                shown["inputSchema"] = serde_json::json!({"type": "object"});
            }
            // Property keys every client accepts; the call maps them back.
            let renamed = shown
                .get_mut("inputSchema")
                .map(mcpgate_catalog::schema_keys::make_safe)
                .filter(|keys| !keys.is_empty())
                .map(|keys| Arc::new((shown["inputSchema"].clone(), keys)));
            tools.push((
                shown,
                Handler::Mcp(Arc::new(McpTool {
                    client: Arc::clone(client),
                    upstream: member.server_id.clone(),
                    name: name.to_owned(),
                    output_schema: tool.get("outputSchema").cloned(),
                    param_headers: mcpgate_protocol::stateless::param_headers(
                        tool.get("inputSchema"),
                    ),
                    renamed_arguments: renamed,
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
                Arc::clone(client),
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
                .insert(uri.to_owned(), Arc::clone(client));
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
                    .or_insert_with(|| Arc::clone(client));
            }
            extras.templates.push(to_raw(template));
        }
        let caps = snapshot.get("capabilities");
        if caps.and_then(|c| c.get("logging")).is_some() {
            extras.routes.logging.push(Arc::clone(client));
        }
        if caps.and_then(|c| c.get("completions")).is_some() {
            extras.routes.completions = true;
        }
    }
    // Names every client accepts (`^[a-zA-Z0-9_-]{1,64}$`), unique, each
    // a function of its own upstream name (stable across syncs).
    use mcpgate_catalog::naming::{MAX_TOOL_NAME, exposed_tool_name, unique_exposed};
    let exposed_names = unique_exposed(&names, exposed_tool_name, MAX_TOOL_NAME);
    let view_tools = tools
        .into_iter()
        .zip(names.iter().zip(exposed_names))
        .map(|((mut tool, handler), (wanted, name))| {
            keep_original_name(&mut tool, wanted, &name);
            (name, to_raw(&tool), handler)
        })
        .collect();
    let wanted: Vec<&str> = prompts.iter().map(|p| p.0.as_str()).collect();
    let prompt_names = unique_exposed(&wanted, exposed_tool_name, MAX_TOOL_NAME);
    for ((wanted, mut prompt, client, original), name) in prompts.into_iter().zip(prompt_names) {
        keep_original_name(&mut prompt, &wanted, &name);
        if let Some(renamed) = client_safe_prompt_arguments(&mut prompt) {
            extras.routes.prompt_arguments.insert(name.clone(), renamed);
        }
        extras.prompts.push(to_raw(&prompt));
        extras.routes.prompts.insert(name, (client, original));
    }
    Offering::from_portal(view_tools, extras, page_size)
}

#[cfg(test)]
mod tests {
    use super::*;
    use mcpgate_catalog::naming::{is_client_safe_property_key, is_client_safe_tool_name};
    use mcpgate_catalog::schema_keys::property_keys;
    use mcpgate_catalog::strategies::{hostile_string, hostile_tool};
    use proptest::collection::vec;
    use proptest::prelude::*;
    use serde_json::json;

    fn upstream(id: &str, tools: Vec<Value>, prompts: Vec<Value>) -> UpstreamRecord {
        UpstreamRecord {
            tenant: "default".into(),
            id: id.into(),
            name: id.into(),
            hostname: "http://127.0.0.1:9/mcp".into(),
            auth_type: "unauthenticated".into(),
            timeout_secs: None,
            description: None,
            status: "ready".into(),
            error: None,
            snapshot: Some(json!({"tools": tools, "prompts": prompts})),
            accepted: Default::default(),
            changes: Vec::new(),
            last_synced: None,
            last_successful_sync: None,
            created_at: 0,
            created_by: None,
            modified_at: 0,
            modified_by: None,
            config_version: 0,
            url_provenance: mcpgate_catalog::UrlProvenance::Operator,
            warnings: Vec::new(),
        }
    }

    /// A portal over upstreams `ups` (each with its tool and prompt list).
    fn offering(ups: &[(String, Vec<Value>, Vec<Value>)], prefix: bool) -> Offering {
        // One client for every case: building an HTTP client is slow.
        static CLIENT: OnceLock<Arc<McpClient>> = OnceLock::new();
        let client = CLIENT.get_or_init(|| {
            let http = reqwest::Client::new();
            let timeout = std::time::Duration::from_secs(1);
            Arc::new(
                McpClient::new(
                    http,
                    "http://127.0.0.1:9/mcp",
                    None,
                    timeout,
                    mcpgate_upstream::McpLimits::default(),
                )
                .unwrap(),
            )
        });
        let records: Vec<(PortalServer, UpstreamRecord)> = ups
            .iter()
            .map(|(id, tools, prompts)| {
                let member = PortalServer {
                    server_id: id.clone(),
                    default_disabled: false,
                    enabled_tools: None,
                    disabled_tools: None,
                };
                (member, upstream(id, tools.clone(), prompts.clone()))
            })
            .collect();
        let portal = PortalRecord {
            tenant: "default".into(),
            id: "p".into(),
            name: "p".into(),
            description: None,
            servers: records.iter().map(|(m, _)| m.clone()).collect(),
            prefix,
            pin_tools: false,
            server_id: ServerId::new().to_string(),
            created_at: 0,
            created_by: None,
            modified_at: 0,
            modified_by: None,
        };
        portal_offering(&portal, records.iter().map(|(m, r)| (m, r, client)), 7)
    }

    /// The upstream name each listed tool calls, by exposed name.
    fn routes(o: &Offering) -> Vec<(String, String)> {
        o.listed("tools")
            .iter()
            .map(|t| {
                let name = t["name"].as_str().expect("names are strings").to_owned();
                match o.handler(&name) {
                    Some(Handler::Mcp(tool)) => (name, tool.name.clone()),
                    _ => panic!("{name} has no upstream handler"),
                }
            })
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 96, failure_persistence: None, ..ProptestConfig::default() })]

        /// Any tool list an upstream sends builds a portal whose names and
        /// keys every client accepts, each routed to the upstream's name;
        /// a tool added upstream renames none of the others.
        #[test]
        fn any_upstream_tool_list_builds_a_client_safe_portal(
            first in vec(hostile_tool(), 0..12),
            second in vec(hostile_tool(), 0..6),
            added in hostile_string(40),
            prompt_args in vec(hostile_string(20), 0..4),
            prefix in any::<bool>(),
        ) {
            let prompts = vec![json!({"name": added.clone(),
                "arguments": prompt_args.iter().map(|a| json!({"name": a})).collect::<Vec<_>>()})];
            let ups = vec![
                ("up-1".to_owned(), first.clone(), prompts),
                ("up_2".to_owned(), second.clone(), Vec::new()),
            ];
            let o = offering(&ups, prefix);
            let tools = o.listed("tools");
            let mut names = Vec::new();
            for t in &tools {
                let name = t["name"].as_str().unwrap();
                prop_assert!(is_client_safe_tool_name(name), "{name:?}");
                prop_assert!(t["inputSchema"].is_object());
                for key in property_keys(&t["inputSchema"]) {
                    prop_assert!(is_client_safe_property_key(key), "{key:?} of {name}");
                }
                names.push(name.to_owned());
            }
            names.sort();
            let count = names.len();
            names.dedup();
            prop_assert_eq!(names.len(), count, "unique names");
            for p in o.listed("prompts") {
                prop_assert!(is_client_safe_tool_name(p["name"].as_str().unwrap()));
                for a in p["arguments"].as_array().unwrap() {
                    prop_assert!(is_client_safe_property_key(a["name"].as_str().unwrap()));
                }
            }
            // Every upstream tool with a name is listed once and routed to it.
            let before = routes(&o);
            let mut upstream_names: Vec<String> = ups
                .iter()
                .flat_map(|(_, tools, _)| {
                    let mut seen = HashSet::new();
                    tools
                        .iter()
                        .filter_map(|t| t.get("name")?.as_str())
                        .filter(|n| seen.insert(*n))
                        .map(str::to_owned)
                        .collect::<Vec<_>>()
                })
                .collect();
            let mut routed: Vec<String> = before.iter().map(|(_, u)| u.clone()).collect();
            upstream_names.sort();
            routed.sort();
            prop_assert_eq!(routed, upstream_names);

            // The upstream adds a tool at the front of its list.
            prop_assume!(!first.iter().any(|t| t.get("name") == Some(&json!(added))));
            let mut grown = ups.clone();
            grown[0].1.insert(0, json!({"name": added, "inputSchema": {"type": "object"}}));
            let after = routes(&offering(&grown, prefix));
            for pair in &before {
                // Unprefixed, the same name on two upstreams is numbered in
                // member order; only then may the second one move.
                if prefix || !after.iter().any(|(n, u)| n == &pair.0 && u != &pair.1) {
                    prop_assert!(after.contains(pair), "{pair:?} renamed: {after:?}");
                }
            }
        }
    }
}
