//! The HTTP layer of mcpgate: the Streamable HTTP data plane, signed
//! sessions, token auth over an in-memory index, the admin API and the
//! operational endpoints. It composes the other crates; nothing depends on it
//! but the binary.

#![warn(missing_docs, unreachable_pub)]

pub mod admin;
pub mod cluster_limits;
pub mod control;
mod cors;
pub mod fixtures;
mod http_util;
pub mod index;
pub mod limits;
pub mod mcp;
pub mod ops;
pub mod origin;
pub mod sandbox;
pub mod session;
pub mod sync;
pub mod timefmt;
pub mod view;

use axum::Router;
use axum::routing::{delete, get, post};
use mcpgate_catalog::Toolset;
use mcpgate_store::{Store, StoreError};
use metrics_exporter_prometheus::PrometheusHandle;
use std::sync::Arc;
use std::time::Duration;

pub use admin::AdminAuth;
pub use index::Index;
pub use origin::OriginPolicy;
pub use session::{SessionKey, Sessions};

/// Tunables of the gateway, resolved from config by the binary.
#[derive(Debug, Clone)]
pub struct Options {
    /// Base URL clients reach the gateway at (no trailing slash).
    pub public_url: String,
    /// Browser origins allowed besides loopback ones.
    pub allowed_origins: Vec<String>,
    /// Whether `http://localhost:*`-style origins are allowed.
    pub allow_loopback_origins: bool,
    /// Largest MCP request body.
    pub max_body_bytes: usize,
    /// Largest body of the admin routes that take an integration document
    /// (`POST /integration`, `PATCH /integration/{id}`); every other admin
    /// route keeps a 1 MiB limit.
    pub max_document_bytes: usize,
    /// Tools per `tools/list` page.
    pub page_size: usize,
    /// Lifetime of a session id.
    pub session_ttl: Duration,
    /// Toolset used when a server is created without naming one.
    pub default_toolset: String,
    /// Timeouts and size caps of REST calls.
    pub rest: mcpgate_upstream::RestSettings,
    /// Caps on what is read from upstream MCP servers.
    pub mcp_limits: mcpgate_upstream::McpLimits,
    /// Default per-key limits.
    pub limits: limits::Effective,
    /// How often upstream MCP servers are resynced (and when `ready` turns `stale`).
    pub resync_interval: Duration,
    /// Limits shared by every replica (`limits.backend = "redis"`); `None`
    /// keeps them per process.
    pub cluster_limits: Option<Arc<cluster_limits::ClusterLimits>>,
    /// Which destinations the gateway's HTTP client may reach (`[egress]`).
    pub egress: Arc<mcpgate_upstream::egress::EgressPolicy>,
}

/// Mark every session the store lists as ended (by any replica) as ended here.
async fn load_ended_sessions(store: &Store, sessions: &Sessions) -> Result<(), StoreError> {
    mark_ended(sessions, store.ended_sessions().await?);
    Ok(())
}

/// Mark these ended sessions (nonce in hex, expiry) as ended here.
fn mark_ended(sessions: &Sessions, ended: Vec<(String, time::OffsetDateTime)>) {
    for (nonce, expires) in ended {
        if let Some(n) = session::nonce_from_hex(&nonce) {
            sessions.mark_ended(n, expires);
        }
    }
}

/// What sandbox twins keep between requests (the twin's state, apart from
/// the live index's).
pub(crate) struct Twins {
    /// What sandbox twins' simulated calls created, per key.
    pub(crate) sandbox: Arc<sandbox::PersistentSandbox>,
    /// Recorded calls, replayed by sandbox twins.
    pub(crate) fixtures: Arc<fixtures::Fixtures>,
    /// Simulated calls per server, so each server's error rate holds on its own.
    pub(crate) fault_calls: dashmap::DashMap<mcpgate_store::ServerId, u64>,
}

/// Everything a request handler needs, shared behind an `Arc`.
pub struct Gateway {
    /// Persistence.
    pub(crate) store: Store,
    /// Hot-path index of servers and keys.
    pub(crate) index: Index,
    /// Session issuing and validation.
    pub(crate) sessions: Sessions,
    /// Accepted admin tokens.
    pub(crate) admin: AdminAuth,
    /// Prometheus rendering.
    pub(crate) metrics: PrometheusHandle,
    origins: OriginPolicy,
    public_url: String,
    max_body_bytes: usize,
    pub(crate) max_document_bytes: usize,
    default_toolset: String,
    resync_interval: Duration,
    /// What sandbox twins keep.
    pub(crate) twins: Twins,
    /// Resyncs of upstreams that announced a list change, coalesced.
    pub(crate) resyncs: Arc<sync::Resyncs>,
    /// What the MCP relay keeps between requests: portal calls in flight,
    /// relayed requests awaiting answers, paused 2026 calls, log levels.
    relays: mcp::relay::Relays,
    /// Cluster-wide limits, when configured.
    pub(crate) cluster_limits: Option<Arc<cluster_limits::ClusterLimits>>,
    /// The egress policy, for admin validation of URLs (the HTTP client
    /// enforces it on every connection).
    pub(crate) egress: Arc<mcpgate_upstream::egress::EgressPolicy>,
}

impl Gateway {
    /// Build the gateway and load every server, key and ended session from the store.
    pub async fn new(
        store: Store,
        toolsets: Vec<Toolset>,
        session_key: SessionKey,
        admin: AdminAuth,
        metrics: PrometheusHandle,
        options: Options,
    ) -> Result<Arc<Self>, StoreError> {
        // The clients of every upstream call, one per URL provenance: the
        // egress policy's resolver, connect check and redirect rules are
        // built in.
        let http = options
            .egress
            .clients(|builder| {
                builder
                    .pool_idle_timeout(Duration::from_secs(90))
                    .user_agent(concat!("mcpgate/", env!("CARGO_PKG_VERSION")))
            })
            .expect("the HTTP clients build");
        let resyncs = Arc::new(sync::Resyncs::default());
        let index = Index::new(
            toolsets,
            options.page_size,
            http,
            options.rest,
            options.limits,
            Arc::clone(&resyncs),
        )
        .with_mcp_limits(options.mcp_limits);
        index.load_all(&store).await?;
        admin.reload(&store).await?;
        let sessions = Sessions::new(session_key, options.session_ttl);
        load_ended_sessions(&store, &sessions).await?;
        let sandbox = Arc::new(sandbox::PersistentSandbox::load(&store).await?);
        let fixtures = Arc::new(fixtures::Fixtures::load(&store).await?);
        Ok(Arc::new(Self {
            store,
            index,
            sessions,
            admin,
            metrics,
            origins: OriginPolicy::new(&options.allowed_origins, options.allow_loopback_origins),
            public_url: options.public_url.trim_end_matches('/').to_owned(),
            max_body_bytes: options.max_body_bytes,
            max_document_bytes: options.max_document_bytes,
            default_toolset: options.default_toolset,
            resync_interval: options.resync_interval,
            twins: Twins {
                sandbox,
                fixtures,
                fault_calls: dashmap::DashMap::new(),
            },
            resyncs,
            relays: mcp::relay::Relays::default(),
            cluster_limits: options.cluster_limits.clone(),
            egress: options.egress,
        }))
    }

    /// Persistence.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The in-memory index the hot path reads.
    pub fn index(&self) -> &Index {
        &self.index
    }

    /// The MCP URL of a server key.
    pub fn mcp_url(&self, token: &str) -> String {
        format!("{}/mcp/{token}", self.public_url)
    }

    /// End the gateway's sessions with its upstream MCP servers (`DELETE`),
    /// waiting at most `within`; for shutdown.
    pub async fn end_upstream_sessions(&self, within: Duration) {
        let clients = self.index.upstream_clients();
        let ending = futures_util::future::join_all(clients.iter().map(|c| c.close()));
        if tokio::time::timeout(within, ending).await.is_err() {
            tracing::warn!("not every upstream session was ended before shutdown");
        }
    }

    /// Re-read everything the hot path serves from the store (unchanged
    /// servers and accounts are kept as they are).
    async fn reload(&self, why: &str) {
        tracing::debug!(why, "reloading from the store");
        if let Err(e) = self.index.load_all(&self.store).await {
            tracing::warn!(error = %e, why, "reload from the store failed");
        }
        if let Err(e) = self.admin.reload(&self.store).await {
            tracing::warn!(error = %e, why, "reload of admin tokens failed");
        }
        // Sessions other replicas ended (DELETE) end here too.
        if let Err(e) = load_ended_sessions(&self.store, &self.sessions).await {
            tracing::warn!(error = %e, why, "reload of ended sessions failed");
        }
    }

    /// Periodically re-read the store in full — the safety net behind
    /// [`Self::spawn_change_watch`] — and forget ended sessions that have
    /// expired anyway.
    pub fn spawn_maintenance(self: &Arc<Self>, every: Duration) -> tokio::task::JoinHandle<()> {
        let gw = Arc::clone(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.tick().await;
            loop {
                tick.tick().await;
                gw.reload("periodic").await;
                gw.sessions.purge_ended();
                gw.relays.purge_expired();
            }
        })
    }

    /// Reload when another process (a replica, or the CLI in `--data-dir`
    /// mode) changed something. On PostgreSQL a LISTEN connection wakes this
    /// at once; on every backend the store's revision is also read every
    /// `every`, which is all SQLite has and PostgreSQL's safety net (a
    /// notification sent while the listener reconnects is lost). This is what
    /// makes a key revoked through one replica refused by all of them.
    pub fn spawn_change_watch(self: &Arc<Self>, every: Duration) -> tokio::task::JoinHandle<()> {
        let gw = Arc::clone(self);
        tokio::spawn(async move {
            let mut seen = gw.store.revision().await.ok();
            // Sessions ended before this process loaded them are read once
            // more on the first tick (from 0): cheap, and none is missed.
            let mut sessions_seen = 0;
            let mut listener = match gw.store.listen().await {
                Ok(listener) => listener,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot LISTEN for store changes; polling only");
                    None
                }
            };
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                match listener.as_mut() {
                    Some(l) => tokio::select! {
                        heard = l.changed() => if let Err(e) = heard {
                            tracing::debug!(error = %e, "store change listener interrupted");
                            // Reconnects on the next call; meanwhile the tick rules.
                            tick.tick().await;
                        },
                        _ = tick.tick() => {}
                    },
                    None => {
                        tick.tick().await;
                    }
                }
                match gw.store.change_marks().await {
                    Ok(now) if Some(now.revision) != seen => {
                        // A full reload reads every ended session too.
                        gw.reload("store changed").await;
                        seen = Some(now.revision);
                        sessions_seen = now.sessions_ended;
                    }
                    // Only sessions ended (here or on another replica):
                    // read just those, never a reload.
                    Ok(now) if now.sessions_ended != sessions_seen => {
                        match gw.store.ended_sessions_after(sessions_seen).await {
                            Ok((ended, mark)) => {
                                mark_ended(&gw.sessions, ended);
                                sessions_seen = mark;
                            }
                            Err(e) => tracing::debug!(error = %e, "could not read ended sessions"),
                        }
                    }
                    Ok(_) => {}
                    Err(e) => tracing::debug!(error = %e, "could not read the store's revision"),
                }
            }
        })
    }

    /// Write keys' last-use times to the store every `every`, in one batch.
    pub fn spawn_usage_flush(self: &Arc<Self>, every: Duration) -> tokio::task::JoinHandle<()> {
        let gw = Arc::clone(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.tick().await;
            loop {
                tick.tick().await;
                gw.flush_usage().await;
            }
        })
    }

    /// Write pending last-use times now (also called on shutdown).
    pub async fn flush_usage(&self) {
        let used = self.index.take_used();
        if let Err(e) = self.store.touch_keys(&used).await {
            tracing::warn!(error = %e, keys = used.len(), "could not record key use");
        }
    }
}

/// The complete HTTP application.
pub fn router(gw: Arc<Gateway>) -> Router {
    // Browser clients reach the MCP endpoints (only) across origins.
    let cors = |route| cors::mcp(route, &gw.origins);
    Router::new()
        .route(
            "/mcp",
            cors(
                post(mcp::post_bearer)
                    .get(mcp::get_bearer)
                    .delete(mcp::delete_bearer),
            ),
        )
        .route(
            "/mcp/{token}",
            cors(
                post(mcp::post_path)
                    .get(mcp::get_path)
                    .delete(mcp::delete_path),
            ),
        )
        .route(
            "/server",
            post(admin::servers::create).get(admin::servers::list),
        )
        .route(
            "/server/{id}",
            get(admin::servers::get)
                .patch(admin::servers::patch)
                .delete(admin::servers::delete),
        )
        .route(
            "/integration",
            post(admin::integrations::create).get(admin::integrations::list),
        )
        .route(
            "/integration/{id}",
            get(admin::integrations::get)
                .patch(admin::integrations::patch)
                .delete(admin::integrations::delete),
        )
        .route(
            "/integrated-account",
            post(admin::accounts::create).get(admin::accounts::list),
        )
        .route(
            "/integrated-account/{id}",
            get(admin::accounts::get)
                .patch(admin::accounts::patch)
                .delete(admin::accounts::delete),
        )
        .route(
            "/server/{id}/keys",
            get(admin::keys::list).post(admin::keys::create),
        )
        .route("/server/{id}/keys/{key}", delete(admin::keys::revoke))
        .route("/server/{id}/rotate", post(admin::keys::rotate_handler))
        .route(
            "/server/{id}/sandbox",
            delete(admin::servers::reset_sandbox),
        )
        .route("/server/{id}/fixtures", get(admin::servers::list_fixtures))
        .route(
            "/server/{id}/fixtures/export",
            get(admin::servers::export_fixtures),
        )
        .route(
            "/server/{id}/fixtures/{fixture}",
            delete(admin::servers::delete_fixture),
        )
        .route(
            "/integrated-account/{id}/mcp",
            post(admin::truto::create).get(admin::truto::list),
        )
        .route(
            "/integrated-account/{id}/mcp/{mcp}",
            get(admin::truto::get)
                .patch(admin::truto::patch)
                .delete(admin::truto::delete),
        )
        .route(
            "/v1/tenants/{tenant}/integrations/{integration}/mcp",
            get(admin::fruxon::get).patch(admin::fruxon::patch),
        )
        .route(
            "/v1/tenants/{tenant}/integrations/{integration}/mcp:rotateKey",
            post(admin::fruxon::rotate_key),
        )
        .route(
            "/v1/tenants/{tenant}/integrations/{integration}/mcp:call",
            cors(
                post(mcp::post_integration)
                    .get(mcp::get_integration)
                    .delete(mcp::delete_integration),
            ),
        )
        .route(
            "/v1/tenants/{tenant}/integrations/{integration}/mcp:test",
            cors(
                post(mcp::post_integration_test)
                    .get(mcp::get_integration)
                    .delete(mcp::delete_integration),
            ),
        )
        .route(
            "/admin-token",
            post(admin::tokens::create).get(admin::tokens::list),
        )
        .route("/admin-token/{id}", delete(admin::tokens::revoke))
        .route(
            "/accounts/{account}/access/ai-controls/mcp/servers",
            post(admin::cloudflare::create_server_handler).get(admin::cloudflare::list_servers),
        )
        .route(
            "/accounts/{account}/access/ai-controls/mcp/servers/{id}",
            get(admin::cloudflare::get_server)
                .put(admin::cloudflare::put_server)
                .delete(admin::cloudflare::delete_server),
        )
        .route(
            "/accounts/{account}/access/ai-controls/mcp/servers/{id}/sync",
            post(admin::cloudflare::sync),
        )
        .route(
            "/accounts/{account}/access/ai-controls/mcp/portals",
            post(admin::cloudflare::create_portal).get(admin::cloudflare::list_portals),
        )
        .route(
            "/accounts/{account}/access/ai-controls/mcp/portals/{id}",
            get(admin::cloudflare::get_portal)
                .put(admin::cloudflare::put_portal)
                .delete(admin::cloudflare::delete_portal),
        )
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .fallback(not_found)
        // Admin errors axum writes (405, path rejections) in each surface's shape.
        .layer(axum::middleware::from_fn(admin::shape::shape_errors))
        .with_state(gw)
}

async fn not_found(uri: axum::http::Uri) -> axum::response::Response {
    admin::shape::not_found(uri.path())
}
