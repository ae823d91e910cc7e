//! `mcpgate serve`: open the store, load config, serve until a signal.

use anyhow::{Context, bail};
use mcpgate_gateway::{AdminAuth, Gateway, Options, SessionKey};
use mcpgate_store::{ApiKey, KeyHash, Store};
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::config::Config;

const BOOTSTRAP_SETTING: &str = "admin_bootstrap_token_sha256";

/// Run the gateway.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let toolsets = config.load_toolsets()?;
    let integrations = config.load_integrations()?;
    let store = crate::open_store(&config).await?;
    for integration in &integrations {
        store
            .upsert_config_integration("default", integration)
            .await
            .with_context(|| format!("cannot store bundled integration {:?}", integration.name))?;
    }
    let session_key = session_key(&config)?;
    let (admin, bootstrap) = admin_auth(&config, &store).await?;
    let metrics = mcpgate_gateway::ops::install_metrics().map_err(anyhow::Error::msg)?;

    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let local = listener.local_addr()?;
    let public_url = config
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{local}"));

    let egress = Arc::new(mcpgate_upstream::egress::EgressPolicy::new(
        mcpgate_upstream::egress::EgressSettings {
            private_networks: config.egress_private_networks()?,
            allow: config.egress_rules()?,
            listeners: vec![local],
            own_urls: vec![public_url.clone()],
        },
    ));
    let options = Options {
        public_url: public_url.clone(),
        allowed_origins: config.http.allowed_origins.clone(),
        allow_loopback_origins: config.http.allow_loopback_origins,
        max_body_bytes: config.http.max_body_bytes,
        max_document_bytes: config.max_document_bytes()?,
        page_size: config.mcp.page_size,
        session_ttl: Duration::from_secs(config.mcp.session_ttl_secs),
        default_toolset: config.mcp.default_toolset.clone(),
        rest: mcpgate_upstream::RestSettings {
            default_timeout: Duration::from_secs(config.upstream.timeout_secs),
            max_response_bytes: config.upstream.max_response_bytes,
            max_upload_bytes: config.upstream.max_upload_bytes,
            // Cursors must open on every replica: derived from the shared
            // session key.
            cursor_key: mcpgate_upstream::paging::CursorKey::new(
                session_key.derive("mcpgate rest next_cursor v1"),
            ),
        },
        mcp_limits: mcpgate_upstream::McpLimits {
            max_response_bytes: config.upstream.max_response_bytes,
            max_list_pages: config.upstream.mcp_max_list_pages.max(1),
            max_list_bytes: config.upstream.mcp_max_list_bytes,
        },
        limits: mcpgate_gateway::limits::Effective {
            rate_per_sec: config.limits.rate_per_sec,
            burst: config.limits.burst,
            max_concurrency: config.limits.max_concurrency,
        },
        resync_interval: Duration::from_secs(config.upstream.mcp_resync_secs.max(1)),
        cluster_limits: match config.limits.backend {
            crate::config::LimitsBackend::Local => None,
            crate::config::LimitsBackend::Redis => {
                let url = config.redis_url().unwrap_or_default();
                let ttl = Duration::from_secs(config.limits.lease_ttl_secs.max(1));
                Some(Arc::new(
                    mcpgate_gateway::cluster_limits::ClusterLimits::new(&url, ttl)
                        .map_err(anyhow::Error::msg)
                        .context("limits.redis_url")?,
                ))
            }
        },
        egress,
    };
    let gateway = Gateway::new(store, toolsets, session_key, admin, metrics, options).await?;
    let (servers, keys) = gateway.index().counts();
    gateway.spawn_maintenance(Duration::from_secs(config.mcp.reload_interval_secs.max(1)));
    gateway.spawn_change_watch(Duration::from_millis(config.mcp.change_poll_ms.max(50)));
    mcpgate_gateway::sync::spawn_resync(
        Arc::clone(&gateway),
        Duration::from_secs(config.upstream.mcp_resync_secs.max(1)),
        config.upstream.mcp_periodic_resync,
    );
    gateway.spawn_usage_flush(Duration::from_secs(config.mcp.usage_flush_secs.max(1)));

    let store = gateway.store().location();
    tracing::info!(%local, %public_url, %store, servers, keys, "mcpgate listening");
    if let Some(secret) = bootstrap {
        print_bootstrap(&secret, local);
    }
    // One plain line on stdout, for scripts and tests that wait for readiness.
    println!("mcpgate listening on http://{local}");
    std::io::stdout().flush().ok();

    let grace = Duration::from_secs(config.http.shutdown_grace_secs);
    let limits = crate::connections::ConnectionLimits {
        max_connections: config.http.max_connections,
        header_read_timeout: Duration::from_secs(config.http.header_read_timeout_secs),
        idle_timeout: Duration::from_secs(config.http.idle_timeout_secs),
    };
    crate::connections::serve(
        listener,
        mcpgate_gateway::router(Arc::clone(&gateway)),
        limits,
        shutdown_signal(grace),
    )
    .await;
    gateway.flush_usage().await;
    // Sessions the gateway opened on upstream MCP servers end with it.
    gateway.end_upstream_sessions(Duration::from_secs(5)).await;
    tracing::info!("mcpgate stopped");
    Ok(())
}

/// Resolves on SIGINT or SIGTERM; in-flight requests then get `grace` to
/// finish before the process exits regardless.
async fn shutdown_signal(grace: Duration) {
    let ctrl_c = async {
        tokio::signal::ctrl_c().await.ok();
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!(
        grace_secs = grace.as_secs(),
        "shutdown requested; finishing in-flight requests"
    );
    tokio::spawn(async move {
        tokio::time::sleep(grace).await;
        tracing::warn!("shutdown grace period over; exiting with requests still in flight");
        std::process::exit(1);
    });
}

fn session_key(config: &Config) -> anyhow::Result<SessionKey> {
    if let Some(secret) = config.session_secret() {
        return SessionKey::from_hex(&secret).context(
            "the session secret (MCPGATE_SESSION_SECRET or session.secret) must be 64 hex characters",
        );
    }
    let hex = key_file(&config.data_dir.join("session.key"), || {
        SessionKey::generate().to_hex()
    })?;
    SessionKey::from_hex(&hex).context("session.key does not hold a 64-hex-character key")
}

/// The hex key in `path`, generating it (mode 0600) on first use.
pub(crate) fn key_file(path: &Path, generate: impl FnOnce() -> String) -> anyhow::Result<String> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(text.trim().to_owned()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let hex = generate();
            write_secret_file(path, &hex)?;
            tracing::info!(path = %path.display(), "generated a key");
            Ok(hex)
        }
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// Write a file only its owner can read, failing if it already exists.
fn write_secret_file(path: &Path, contents: &str) -> anyhow::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(contents.as_bytes())?;
    file.sync_all()?;
    Ok(())
}

/// The admin credentials, and the bootstrap token when this start minted it
/// (to be shown once, after the listener is up).
async fn admin_auth(config: &Config, store: &Store) -> anyhow::Result<(AdminAuth, Option<String>)> {
    if let Some(token) = config.admin_token() {
        if token.len() < 16 {
            bail!("the admin token must be at least 16 characters");
        }
        return Ok((AdminAuth::new(vec![KeyHash::of(&token)]), None));
    }
    if let Some(hex) = store.get_setting(BOOTSTRAP_SETTING).await? {
        let hash = KeyHash::from_hex(&hex).context("corrupt bootstrap admin token hash")?;
        return Ok((AdminAuth::new(vec![hash]), None));
    }
    let key = ApiKey::generate();
    let stored = store
        .init_setting(BOOTSTRAP_SETTING, &key.hash.to_hex())
        .await?;
    if stored != key.hash.to_hex() {
        // Another process bootstrapped first; its token stands.
        let hash = KeyHash::from_hex(&stored).context("corrupt bootstrap admin token hash")?;
        return Ok((AdminAuth::new(vec![hash]), None));
    }
    Ok((AdminAuth::new(vec![key.hash]), Some(key.secret)))
}

/// The first-start message: the bootstrap token and the next command, spelled
/// the way this binary was started (see [`crate::hint`]) and with
/// `--endpoint` when the address is not the CLI's default.
fn print_bootstrap(secret: &str, local: std::net::SocketAddr) {
    let endpoint = if local == std::net::SocketAddr::from(([127, 0, 0, 1], 8080)) {
        String::new()
    } else {
        format!(" --endpoint http://{local}")
    };
    let next = crate::hint::command(&format!("server create --name demo{endpoint}"));
    eprintln!(
        "\nNo admin token is configured, so mcpgate generated one. It is shown only this once:\n\n    {secret}\n\nKeep it, then create an MCP server in another terminal:\n\n    MCPGATE_ADMIN_TOKEN={secret} {next}\n"
    );
}
