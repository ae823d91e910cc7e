//! The TOML configuration file, with defaults and environment overrides.

use anyhow::{Context, bail};
use mcpgate_catalog::{Integration, Toolset};
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Where `serve` looks when `--config` is not given.
pub const DEFAULT_CONFIG: &str = "config/mcpgate.toml";

/// The whole configuration file. Every key is optional.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Directory of the embedded store and generated keys.
    pub data_dir: PathBuf,
    /// Base URL clients use; defaults to `http://<listen address>`.
    pub public_url: Option<String>,
    /// HTTP limits and origin policy.
    pub http: HttpConfig,
    /// MCP behaviour.
    pub mcp: McpConfig,
    /// Admin API.
    pub admin: AdminConfig,
    /// Session signing.
    pub session: SessionConfig,
    /// Static toolset files, relative to the config file.
    pub toolsets: Vec<PathBuf>,
    /// Directory of bundled integration definitions (`*.yaml`), relative to
    /// the config file.
    pub integrations_dir: Option<PathBuf>,
    /// Calls to upstream APIs.
    pub upstream: UpstreamConfig,
    /// Default per-key limits.
    pub limits: LimitsConfig,
    /// Where the data lives.
    pub store: StoreConfig,
    /// Which destinations the gateway may call.
    pub egress: EgressConfig,
    #[serde(skip)]
    base_dir: PathBuf,
}

/// `[http]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Largest MCP request body in bytes.
    pub max_body_bytes: usize,
    /// Extra browser origins allowed to call the MCP endpoints (`*` = any).
    pub allowed_origins: Vec<String>,
    /// Allow `http://localhost:*`, `127.0.0.1`, `[::1]` origins.
    pub allow_loopback_origins: bool,
    /// Seconds in-flight requests get to finish after SIGINT/SIGTERM.
    pub shutdown_grace_secs: u64,
    /// Open client connections at most; at the cap the one idle longest is
    /// closed to make room.
    pub max_connections: usize,
    /// Seconds a client has to send a complete request head (counted from
    /// the connection, or from the first byte of a later request).
    pub header_read_timeout_secs: u64,
    /// Seconds a kept-alive connection may wait for its next request.
    pub idle_timeout_secs: u64,
}

/// `[mcp]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct McpConfig {
    /// Tools per `tools/list` page.
    pub page_size: usize,
    /// Lifetime of a session in seconds.
    pub session_ttl_secs: u64,
    /// Toolset for servers created without one.
    pub default_toolset: String,
    /// Seconds between full reloads from the store.
    pub reload_interval_secs: u64,
    /// Milliseconds between checks of the store's revision (a change by
    /// another replica or the CLI triggers a reload).
    pub change_poll_ms: u64,
    /// Seconds between batched writes of keys' last-use times.
    pub usage_flush_secs: u64,
}

/// `[upstream]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UpstreamConfig {
    /// Timeout of one upstream call in seconds (an integration may override it).
    pub timeout_secs: u64,
    /// Larger REST responses are truncated, with a note to the model; a
    /// larger answer (or SSE event) of an upstream MCP server is refused.
    pub max_response_bytes: usize,
    /// Largest file (bytes) a REST tool's multipart part or binary body may
    /// carry, inline or downloaded from a `url` argument.
    pub max_upload_bytes: usize,
    /// Seconds between syncs of each upstream MCP server (with jitter); a
    /// server whose last success is older shows as `stale`.
    pub mcp_resync_secs: u64,
    /// Resync upstreams periodically (turn off when an external scheduler
    /// calls `…/sync`).
    pub mcp_periodic_resync: bool,
    /// The most pages a sync reads of one list of an upstream MCP server.
    pub mcp_max_list_pages: usize,
    /// The most bytes one list of an upstream MCP server may take over all
    /// its pages.
    pub mcp_max_list_bytes: usize,
}

impl Default for UpstreamConfig {
    fn default() -> Self {
        Self {
            timeout_secs: 30,
            max_response_bytes: 1 << 20,
            max_upload_bytes: 16 << 20,
            mcp_resync_secs: 3600,
            mcp_periodic_resync: true,
            mcp_max_list_pages: 100,
            mcp_max_list_bytes: 4 << 20,
        }
    }
}

/// `[limits]`: what every key gets unless its server overrides it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Sustained requests per second per key.
    pub rate_per_sec: u32,
    /// Requests a key may make at once above the sustained rate.
    pub burst: u32,
    /// Calls a key may have in flight at once.
    pub max_concurrency: u32,
    /// Where the counts live: `local` (per process) or `redis` (shared by
    /// every replica).
    pub backend: LimitsBackend,
    /// The Redis of `backend = "redis"`.
    pub redis_url: Option<String>,
    /// How long a concurrency lease outlives a replica that stopped renewing it.
    pub lease_ttl_secs: u64,
}

/// Where per-key limit counts are kept.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LimitsBackend {
    /// In this process: each replica enforces the limits on its own.
    #[default]
    Local,
    /// In Redis: one limit across every replica.
    Redis,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            rate_per_sec: 20,
            burst: 40,
            max_concurrency: 8,
            backend: LimitsBackend::Local,
            redis_url: None,
            lease_ttl_secs: 30,
        }
    }
}

/// `[store]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// `postgres://user:password@host:5432/db` for replicas sharing one
    /// database; unset, the embedded SQLite file `<data_dir>/mcpgate.db`.
    /// `MCPGATE_STORE_URL` (or `serve --store`) overrides it.
    pub url: Option<String>,
}

/// `[egress]`: which destinations upstream calls may reach (see
/// docs/security.md). Metadata, link-local and the gateway's own listeners
/// are refused whatever is set here.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EgressConfig {
    /// Whose URLs may reach loopback and private networks (127.0.0.0/8,
    /// ::1, 10/8, 172.16/12, 192.168/16, fc00::/7…): `"super-admins"`
    /// (default: URLs a super-admin token or the config directory wrote,
    /// not a tenant admin's — the operator controls the network, a tenant
    /// must not reach into it), `"everyone"` or `"nobody"`.
    /// `MCPGATE_EGRESS_PRIVATE_NETWORKS` overrides it.
    pub private_networks: mcpgate_upstream::egress::PrivateNetworks,
    /// Addresses, networks or address:port pairs allowed even when
    /// private, e.g. `["10.1.0.0/16", "127.0.0.1:9000"]`.
    pub allow: Vec<String>,
}

/// `[admin]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    /// Admin bearer token; `MCPGATE_ADMIN_TOKEN` overrides it.
    pub token: Option<String>,
    /// Largest integration document (request body of `POST /integration`
    /// and `PATCH /integration/{id}`) in bytes;
    /// `MCPGATE_ADMIN_MAX_DOCUMENT_BYTES` overrides it. Vendors' OpenAPI
    /// descriptions run to tens of megabytes (Microsoft Graph: 20 MB).
    pub max_document_bytes: usize,
}

impl Default for AdminConfig {
    fn default() -> Self {
        Self {
            token: None,
            max_document_bytes: 64 << 20,
        }
    }
}

/// `[session]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SessionConfig {
    /// 64 hex characters; `MCPGATE_SESSION_SECRET` overrides it. When unset,
    /// a key is generated into `<data_dir>/session.key` on first start.
    pub secret: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("./data"),
            public_url: None,
            http: HttpConfig::default(),
            mcp: McpConfig::default(),
            admin: AdminConfig::default(),
            session: SessionConfig::default(),
            toolsets: Vec::new(),
            integrations_dir: None,
            upstream: UpstreamConfig::default(),
            limits: LimitsConfig::default(),
            store: StoreConfig::default(),
            egress: EgressConfig::default(),
            base_dir: PathBuf::from("."),
        }
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            max_body_bytes: 4 * 1024 * 1024,
            allowed_origins: Vec::new(),
            allow_loopback_origins: true,
            shutdown_grace_secs: 30,
            max_connections: 10_000,
            header_read_timeout_secs: 10,
            // Above the 60 s idle timeout of common load balancers, so the
            // balancer, not mcpgate, closes a kept-alive connection first.
            idle_timeout_secs: 75,
        }
    }
}

impl Default for McpConfig {
    fn default() -> Self {
        Self {
            page_size: 100,
            session_ttl_secs: 24 * 3600,
            default_toolset: "demo".into(),
            reload_interval_secs: 30,
            change_poll_ms: 250,
            usage_flush_secs: 5,
        }
    }
}

impl Config {
    /// Load `path`. A missing file is an error only when it was asked for
    /// explicitly; the default path falls back to built-in defaults.
    pub fn load(path: Option<&Path>) -> anyhow::Result<Self> {
        let (path, explicit) = match path {
            Some(p) => (p.to_owned(), true),
            None => (PathBuf::from(DEFAULT_CONFIG), false),
        };
        let mut config = match std::fs::read_to_string(&path) {
            Ok(text) => toml::from_str::<Config>(&text)
                .with_context(|| format!("invalid config file {}", path.display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => {
                tracing::warn!(path = %path.display(), "no config file; using built-in defaults");
                Config::default()
            }
            Err(e) => {
                return Err(e)
                    .with_context(|| format!("cannot read config file {}", path.display()));
            }
        };
        config.base_dir = path
            .parent()
            .map(Path::to_owned)
            .unwrap_or_else(|| PathBuf::from("."));
        if config.mcp.page_size == 0 {
            bail!("{}: mcp.page_size must be at least 1", path.display());
        }
        if config.limits.rate_per_sec == 0
            || config.limits.burst == 0
            || config.limits.max_concurrency == 0
        {
            bail!(
                "{}: limits.rate_per_sec, limits.burst and limits.max_concurrency must be at least 1",
                path.display()
            );
        }
        if config.limits.backend == LimitsBackend::Redis
            && config.limits.redis_url.is_none()
            && std::env::var("MCPGATE_REDIS_URL").map_or(true, |v| v.trim().is_empty())
        {
            bail!(
                "{}: limits.backend = \"redis\" needs limits.redis_url (or MCPGATE_REDIS_URL), e.g. \"redis://127.0.0.1:6379\"",
                path.display()
            );
        }
        if !(1..=1_000_000).contains(&config.http.max_connections) {
            bail!(
                "{}: http.max_connections must be between 1 and 1000000",
                path.display()
            );
        }
        let day = 1..=86_400;
        if !day.contains(&config.http.header_read_timeout_secs)
            || !day.contains(&config.http.idle_timeout_secs)
        {
            bail!(
                "{}: http.header_read_timeout_secs and http.idle_timeout_secs must be between 1 and 86400",
                path.display()
            );
        }
        if config.http.max_body_bytes < 1024 {
            bail!(
                "{}: http.max_body_bytes must be at least 1024",
                path.display()
            );
        }
        config
            .egress_rules()
            .with_context(|| path.display().to_string())?;
        config.egress_private_networks()?;
        Ok(config)
    }

    /// The parsed `egress.allow` rules; an entry that is not an address,
    /// network or address:port is an error naming it.
    pub fn egress_rules(&self) -> anyhow::Result<Vec<mcpgate_upstream::egress::AllowRule>> {
        self.egress
            .allow
            .iter()
            .map(|rule| {
                rule.parse()
                    .map_err(|e: String| anyhow::anyhow!("egress.allow: {e}"))
            })
            .collect()
    }

    /// `egress.private_networks`, which `MCPGATE_EGRESS_PRIVATE_NETWORKS`
    /// (`super-admins`, `everyone`, `nobody`) overrides.
    pub fn egress_private_networks(
        &self,
    ) -> anyhow::Result<mcpgate_upstream::egress::PrivateNetworks> {
        match std::env::var("MCPGATE_EGRESS_PRIVATE_NETWORKS") {
            Ok(v) if !v.trim().is_empty() => v
                .parse()
                .map_err(|e: String| anyhow::anyhow!("MCPGATE_EGRESS_PRIVATE_NETWORKS: {e}")),
            _ => Ok(self.egress.private_networks),
        }
    }

    /// Load every configured toolset; any invalid file stops startup with its error.
    pub fn load_toolsets(&self) -> anyhow::Result<Vec<Toolset>> {
        let mut out: Vec<Toolset> = Vec::new();
        for rel in &self.toolsets {
            let toolset = Toolset::load(&self.base_dir.join(rel))?;
            if out.iter().any(|t| t.name == toolset.name) {
                bail!(
                    "{}: a toolset named {:?} is already loaded",
                    rel.display(),
                    toolset.name
                );
            }
            out.push(toolset);
        }
        Ok(out)
    }

    /// Load every bundled integration definition; an invalid file stops
    /// startup with an error naming the file, the place in it and the fault.
    pub fn load_integrations(&self) -> anyhow::Result<Vec<Integration>> {
        let Some(dir) = &self.integrations_dir else {
            return Ok(Vec::new());
        };
        let dir = self.base_dir.join(dir);
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .with_context(|| format!("cannot read integrations_dir {}", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
            .collect();
        files.sort();
        let mut out: Vec<Integration> = Vec::new();
        for file in files {
            let integration = Integration::load(&file)?;
            if out.iter().any(|i| i.name == integration.name) {
                bail!(
                    "{}: a second integration named {:?}",
                    file.display(),
                    integration.name
                );
            }
            out.push(integration);
        }
        Ok(out)
    }

    /// `admin.max_document_bytes`, which `MCPGATE_ADMIN_MAX_DOCUMENT_BYTES`
    /// overrides; at least 1 KiB (a smaller limit refuses every document).
    pub fn max_document_bytes(&self) -> anyhow::Result<usize> {
        let bytes = match std::env::var("MCPGATE_ADMIN_MAX_DOCUMENT_BYTES") {
            Ok(v) if !v.trim().is_empty() => v.trim().parse::<usize>().map_err(|e| {
                anyhow::anyhow!("MCPGATE_ADMIN_MAX_DOCUMENT_BYTES: {e} (a number of bytes)")
            })?,
            _ => self.admin.max_document_bytes,
        };
        if bytes < 1024 {
            bail!("admin.max_document_bytes must be at least 1024 (bytes), not {bytes}");
        }
        Ok(bytes)
    }

    /// The admin token from the environment or the file.
    pub fn admin_token(&self) -> Option<String> {
        std::env::var("MCPGATE_ADMIN_TOKEN")
            .ok()
            .or_else(|| self.admin.token.clone())
            .filter(|t| !t.trim().is_empty())
    }

    /// The credentials master key (64 hex characters) from the environment.
    pub fn secret_key(&self) -> Option<String> {
        std::env::var("MCPGATE_SECRET_KEY")
            .ok()
            .filter(|t| !t.trim().is_empty())
    }

    /// The Redis URL of `limits.backend = "redis"`: `MCPGATE_REDIS_URL`
    /// overrides the file.
    pub fn redis_url(&self) -> Option<String> {
        std::env::var("MCPGATE_REDIS_URL")
            .ok()
            .or_else(|| self.limits.redis_url.clone())
            .filter(|t| !t.trim().is_empty())
    }

    /// The store URL: `MCPGATE_STORE_URL` overrides the file; `None` means
    /// the embedded SQLite file in the data directory.
    pub fn store_url(&self) -> Option<String> {
        std::env::var("MCPGATE_STORE_URL")
            .ok()
            .or_else(|| self.store.url.clone())
            .filter(|t| !t.trim().is_empty())
    }

    /// The session secret from the environment or the file.
    pub fn session_secret(&self) -> Option<String> {
        std::env::var("MCPGATE_SESSION_SECRET")
            .ok()
            .or_else(|| self.session.secret.clone())
            .filter(|t| !t.trim().is_empty())
    }
}
