//! Records the store keeps, and the inputs that create or change them.

use std::fmt;
use std::str::FromStr;
use time::OffsetDateTime;
use uuid::Uuid;

/// Identifies a virtual MCP server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServerId(pub Uuid);

impl ServerId {
    /// A new, time-ordered id.
    pub fn new() -> Self {
        Self(Uuid::now_v7())
    }
}

impl Default for ServerId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for ServerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for ServerId {
    type Err = uuid::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uuid::parse_str(s).map(Self)
    }
}

/// Where a server's tools come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerSource {
    /// A static toolset from the config directory, by name.
    Toolset(String),
}

impl ServerSource {
    pub(crate) fn to_columns(&self) -> (&'static str, &str) {
        match self {
            Self::Toolset(name) => ("toolset", name),
        }
    }

    pub(crate) fn from_columns(kind: &str, reference: String) -> Option<Self> {
        match kind {
            "toolset" => Some(Self::Toolset(reference)),
            _ => None,
        }
    }
}

/// A virtual MCP server as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerRecord {
    /// Its id.
    pub id: ServerId,
    /// Owning tenant.
    pub tenant: String,
    /// Display name.
    pub name: String,
    /// Tool source.
    pub source: ServerSource,
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
    /// Optional expiry.
    pub expires_at: Option<OffsetDateTime>,
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
}
