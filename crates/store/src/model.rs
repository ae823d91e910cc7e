//! Records the store keeps, and the inputs that create or change them.

use mcpgate_catalog::{Credentials, Integration, ScopeConfig, UrlProvenance};
use serde_json::{Map, Value};
use std::fmt;
use std::str::FromStr;
use time::OffsetDateTime;
use uuid::Uuid;

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A new, time-ordered id.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }
    };
}

uuid_id!(
    /// Identifies a virtual MCP server.
    ServerId
);
uuid_id!(
    /// Identifies an integration definition.
    IntegrationId
);
uuid_id!(
    /// Identifies an integrated account (one customer's connection to an API).
    AccountId
);

/// Where a server's tools come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerSource {
    /// A static toolset from the config directory, by name.
    Toolset(String),
    /// The generated tools of an integrated account's integration.
    Account(AccountId),
    /// No source bound yet (an integration's MCP settings without an
    /// account): serves no tools.
    Unbound,
    /// A portal over upstream MCP servers, by portal id (within the tenant).
    Portal(String),
}

impl ServerSource {
    pub(crate) fn to_columns(&self) -> (&'static str, String) {
        match self {
            Self::Toolset(name) => ("toolset", name.clone()),
            Self::Account(id) => ("account", id.to_string()),
            Self::Unbound => ("unbound", String::new()),
            Self::Portal(id) => ("portal", id.clone()),
        }
    }

    pub(crate) fn from_columns(kind: &str, reference: String) -> Option<Self> {
        match kind {
            "toolset" => Some(Self::Toolset(reference)),
            "account" => reference.parse().ok().map(Self::Account),
            "unbound" => Some(Self::Unbound),
            "portal" => Some(Self::Portal(reference)),
            _ => None,
        }
    }
}

/// A virtual MCP server as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerRecord {
    /// Its id.
    pub id: ServerId,
    /// Owning tenant.
    pub tenant: String,
    /// Display name.
    pub name: String,
    /// Tool source.
    pub source: ServerSource,
    /// Method and tag scope (integrated-account servers).
    pub scope: ScopeConfig,
    /// Tool allow-list; `None` exposes every tool in scope.
    pub exposed_tools: Option<Vec<String>>,
    /// Free text.
    pub description: Option<String>,
    /// Per-key limit overrides.
    pub limits: Limits,
    /// Set when the per-integration MCP settings API manages this server.
    pub integration_id: Option<IntegrationId>,
    /// Sandbox twin settings: fault injection and recording.
    pub sandbox: SandboxSettings,
    /// Admin token that created it.
    pub created_by: Option<String>,
    /// Admin token that changed it last.
    pub modified_by: Option<String>,
    /// A disabled server refuses every request.
    pub disabled: bool,
    /// After this instant the server's keys are refused.
    pub expires_at: Option<OffsetDateTime>,
    /// Creation time.
    pub created_at: OffsetDateTime,
    /// Last change.
    pub updated_at: OffsetDateTime,
}

/// What creating a server needs.
#[derive(Debug, Clone)]
pub struct NewServer {
    /// Owning tenant.
    pub tenant: String,
    /// Display name.
    pub name: String,
    /// Tool source.
    pub source: ServerSource,
    /// Method and tag scope.
    pub scope: ScopeConfig,
    /// Tool allow-list.
    pub exposed_tools: Option<Vec<String>>,
    /// Free text.
    pub description: Option<String>,
    /// Per-key limit overrides.
    pub limits: Limits,
    /// For servers managed by the per-integration MCP settings API.
    pub integration_id: Option<IntegrationId>,
    /// Starts disabled.
    pub disabled: bool,
    /// Admin token id of the creator.
    pub created_by: Option<String>,
    /// Optional expiry.
    pub expires_at: Option<OffsetDateTime>,
    /// Mint a first key with the server (true unless keys come later).
    pub mint_key: bool,
}

impl NewServer {
    /// A server of `tenant` named `name` over `source`, everything else default.
    pub fn new(tenant: impl Into<String>, name: impl Into<String>, source: ServerSource) -> Self {
        Self {
            tenant: tenant.into(),
            name: name.into(),
            source,
            scope: ScopeConfig::default(),
            exposed_tools: None,
            description: None,
            limits: Limits::default(),
            integration_id: None,
            disabled: false,
            created_by: None,
            expires_at: None,
            mint_key: true,
        }
    }
}

/// A server's sandbox twin settings.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SandboxSettings {
    /// Added latency of every simulated call, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<u64>,
    /// Share of simulated calls (0.0–1.0) that fail with `error_status`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_rate: Option<f64>,
    /// The HTTP status of injected failures (default 500).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_status: Option<u16>,
    /// Every simulated call times out (after `latency_ms`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub timeout: bool,
    /// Record real (production) calls as fixtures for the sandbox to replay.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub recording: bool,
}

/// Per-key limit overrides of a server; `None` fields use the gateway's defaults.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Sustained requests per second per key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_per_sec: Option<u32>,
    /// Requests a key may make at once above the sustained rate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub burst: Option<u32>,
    /// Calls a key may have in flight at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_concurrency: Option<u32>,
}

/// A partial update; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct ServerPatch {
    /// New name.
    pub name: Option<String>,
    /// New disabled flag.
    pub disabled: Option<bool>,
    /// `Some(None)` clears the expiry.
    pub expires_at: Option<Option<OffsetDateTime>>,
    /// New scope.
    pub scope: Option<ScopeConfig>,
    /// `Some(None)` removes the allow-list.
    pub exposed_tools: Option<Option<Vec<String>>>,
    /// New source (rebinding an integration's MCP settings).
    pub source: Option<ServerSource>,
    /// `Some(None)` clears the description.
    pub description: Option<Option<String>>,
    /// New limit overrides.
    pub limits: Option<Limits>,
    /// New sandbox settings.
    pub sandbox: Option<SandboxSettings>,
    /// Admin token id making the change.
    pub modified_by: Option<String>,
}

/// An API key of a server, without its secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRecord {
    /// Key id (UUID).
    pub id: Uuid,
    /// The server it opens.
    pub server_id: ServerId,
    /// SHA-256 of the secret.
    pub hash: crate::KeyHash,
    /// Visible prefix.
    pub prefix: String,
    /// Creation time.
    pub created_at: OffsetDateTime,
    /// Optional expiry of this key alone.
    pub expires_at: Option<OffsetDateTime>,
    /// Set when the key was revoked.
    pub revoked_at: Option<OffsetDateTime>,
    /// Last time the key was used (recorded in batches).
    pub last_used_at: Option<OffsetDateTime>,
}

/// An admin token as stored (without its secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminTokenRecord {
    /// Its id (recorded as `created_by`/`modified_by`).
    pub id: Uuid,
    /// The tenant it may act on; `None` for a super-admin.
    pub tenant: Option<String>,
    /// SHA-256 of the secret.
    pub hash: crate::KeyHash,
    /// Visible prefix.
    pub prefix: String,
    /// Creation time.
    pub created_at: OffsetDateTime,
}

/// Where an integration definition came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// A bundled file in the config directory (read-only through the API).
    Config,
    /// Created through the admin API.
    Api,
}

impl Origin {
    /// Column value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Config => "config",
            Self::Api => "api",
        }
    }
}

/// An integration definition as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct IntegrationRecord {
    /// Its id.
    pub id: IntegrationId,
    /// Owning tenant.
    pub tenant: String,
    /// Where it came from.
    pub origin: Origin,
    /// The validated definition (its `name` is unique per tenant).
    pub definition: Integration,
    /// Who last wrote the definition (and so its base and token URLs);
    /// always the operator for a bundled integration.
    pub url_provenance: UrlProvenance,
    /// Creation time.
    pub created_at: OffsetDateTime,
    /// Last change.
    pub updated_at: OffsetDateTime,
}

/// An integrated account as stored, credentials decrypted.
#[derive(Debug, Clone, PartialEq)]
pub struct AccountRecord {
    /// Its id.
    pub id: AccountId,
    /// Owning tenant.
    pub tenant: String,
    /// The integration it connects to.
    pub integration_id: IntegrationId,
    /// Display name.
    pub name: Option<String>,
    /// Overrides the integration's base URL.
    pub base_url: Option<String>,
    /// Values for the base URL's `{placeholders}`.
    pub context: Map<String, Value>,
    /// Credentials (sealed at rest).
    pub credentials: Credentials,
    /// Who last wrote its URL fields (`base_url`, `context`, a token URL in
    /// the credentials); see `mcpgate_catalog::account_url_provenance` for
    /// how it combines with the integration's.
    pub url_provenance: UrlProvenance,
    /// Creation time.
    pub created_at: OffsetDateTime,
    /// Last change.
    pub updated_at: OffsetDateTime,
}

/// What creating an account needs.
#[derive(Debug, Clone)]
pub struct NewAccount {
    /// Owning tenant.
    pub tenant: String,
    /// The integration.
    pub integration_id: IntegrationId,
    /// Display name.
    pub name: Option<String>,
    /// Base URL override.
    pub base_url: Option<String>,
    /// Template values.
    pub context: Map<String, Value>,
    /// Credentials.
    pub credentials: Credentials,
    /// Who wrote its URL fields.
    pub url_provenance: UrlProvenance,
}

/// A partial update of an account; `None` keeps a field.
#[derive(Debug, Clone, Default)]
pub struct AccountPatch {
    /// `Some(None)` clears the name.
    pub name: Option<Option<String>>,
    /// `Some(None)` clears the override.
    pub base_url: Option<Option<String>>,
    /// Replaces the context.
    pub context: Option<Map<String, Value>>,
    /// Replaces the credentials.
    pub credentials: Option<Credentials>,
    /// Who wrote the URL fields this patch sets; `None` keeps the
    /// provenance (a patch that leaves the URLs alone, a rotated refresh
    /// token stored by the gateway).
    pub url_provenance: Option<UrlProvenance>,
}
