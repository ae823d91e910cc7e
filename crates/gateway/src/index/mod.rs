//! The in-memory index the hot path reads: key hash → key entry, server id →
//! [`ServerView`], plus the integrations (with their generated, compiled
//! operations) and accounts (with their live connections) views are built
//! from. Rebuilt from the store at start and after every write.

use dashmap::DashMap;
use mcpgate_catalog::Toolset;
use mcpgate_store::PortalRecord;
use mcpgate_store::{AccountId, IntegrationId, KeyHash, ServerId, ServerRecord};
use mcpgate_upstream::egress::Clients;
use mcpgate_upstream::{McpClient, RestSettings};
use std::collections::HashMap;
use std::sync::Arc;
use time::OffsetDateTime;

use crate::limits::Effective;
use crate::view::{Offering, ServerView};

mod accounts;
mod keys;
mod load;
mod portals;
mod upstreams;
mod views;

use accounts::AccountEntry;
pub use accounts::IntegrationEntry;
pub use keys::{Admitted, AuthFailure, KeyEntry};
pub use upstreams::UpstreamEntry;
use views::Basis;

/// Servers and keys, ready to serve.
pub struct Index {
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

impl Index {
    /// An empty index over the configured toolsets.
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

    /// Number of servers and keys loaded (for logs and readiness detail).
    pub fn counts(&self) -> (usize, usize) {
        (self.servers.len(), self.keys.len())
    }
}
