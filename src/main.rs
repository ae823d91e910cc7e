//! `mcpgate`: an MCP gateway. See `mcpgate --help`.

mod cli;
mod config;
mod connections;
mod hint;
mod serve;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// mcpgate: REST integrations and upstream MCP servers behind scoped,
/// authenticated MCP endpoints.
#[derive(Parser)]
#[command(version, about, propagate_version = true)]
struct Cli {
    /// Log format on stderr (filter with RUST_LOG, default "info").
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Pretty, env = "MCPGATE_LOG_FORMAT")]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    /// One JSON object per line.
    Json,
    /// Human-readable lines.
    Pretty,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway.
    Serve {
        /// Configuration file (TOML).
        #[arg(long, env = "MCPGATE_CONFIG")]
        config: Option<PathBuf>,
        /// Address to listen on (overrides the config file).
        #[arg(long, env = "MCPGATE_LISTEN")]
        listen: Option<std::net::SocketAddr>,
        /// Data directory for the embedded store (overrides the config file).
        #[arg(long, env = "MCPGATE_DATA_DIR")]
        data_dir: Option<PathBuf>,
        /// Base of the URLs handed to clients, e.g. https://mcp.example.com
        /// (overrides the config file).
        #[arg(long, env = "MCPGATE_PUBLIC_URL")]
        public_url: Option<String>,
        /// Database shared by replicas, e.g. postgres://mcpgate@db:5432/mcpgate
        /// (overrides the config file; default: SQLite in the data directory).
        #[arg(long, env = "MCPGATE_STORE_URL", hide_env_values = true)]
        store: Option<String>,
    },
    /// Manage virtual MCP servers.
    Server {
        #[command(flatten)]
        target: cli::Target,
        #[command(subcommand)]
        command: cli::server::ServerCommand,
    },
    /// Manage integration definitions (REST APIs).
    Integration {
        #[command(flatten)]
        target: cli::Target,
        #[command(subcommand)]
        command: cli::integration::IntegrationCommand,
    },
    /// Manage tenant-scoped admin tokens.
    AdminToken {
        #[command(flatten)]
        target: cli::Target,
        #[command(subcommand)]
        command: cli::token::TokenCommand,
    },
    /// Manage sandbox twins' state.
    Sandbox {
        #[command(flatten)]
        target: cli::Target,
        #[command(subcommand)]
        command: cli::sandbox::SandboxCommand,
    },
    /// Manage integrated accounts (one customer's connection to an API).
    Account {
        #[command(flatten)]
        target: cli::Target,
        #[command(subcommand)]
        command: cli::account::AccountCommand,
    },
    /// Manage a server's API keys (create, list, revoke, rotate).
    Key {
        #[command(flatten)]
        target: cli::Target,
        #[command(subcommand)]
        command: cli::key::KeyCommand,
    },
    /// Manage upstream MCP servers (the registry portals draw from).
    Upstream {
        #[command(flatten)]
        target: cli::Target,
        #[command(flatten)]
        tenant: cli::portal::Tenant,
        #[command(subcommand)]
        command: cli::portal::UpstreamCommand,
    },
    /// Manage portals: several upstream MCP servers behind one endpoint.
    Portal {
        #[command(flatten)]
        target: cli::Target,
        #[command(flatten)]
        tenant: cli::portal::Tenant,
        #[command(subcommand)]
        command: cli::portal::PortalCommand,
    },
    /// Print a ready-to-paste config for Claude Desktop, Cursor, VS Code,
    /// Windsurf or the MCP Inspector.
    ClientConfig(cli::client_config::ClientConfigArgs),
    /// Check the config, store, secrets, clock, a running gateway and the
    /// upstreams it calls, and say what to fix.
    Doctor(cli::doctor::DoctorArgs),
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let colour = colour(
        std::io::IsTerminal::is_terminal(&std::io::stderr()),
        std::env::var_os("NO_COLOR").as_deref(),
    );
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Pretty => builder.compact().init(),
    }
}

/// Whether log lines get ANSI colours: only on a terminal (a log file or a
/// journal would keep the escape codes), and never when `NO_COLOR` is set to
/// anything but the empty string (<https://no-color.org>).
fn colour(terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    terminal && no_color.is_none_or(|v| v.is_empty())
}

/// Open (and migrate) the store: the database of `store.url` when set, else
/// the embedded SQLite file of the data directory. The credentials master key
/// comes from `MCPGATE_SECRET_KEY` or `<data_dir>/secret.key` (generated, mode
/// 0600, on first use; replicas on several hosts must share it, which the
/// store checks).
pub(crate) async fn open_store(config: &config::Config) -> anyhow::Result<mcpgate_store::Store> {
    let data_dir = &config.data_dir;
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("cannot create data directory {}", data_dir.display()))?;
    let hex = match config.secret_key() {
        Some(hex) => hex,
        None => serve::key_file(&data_dir.join("secret.key"), || {
            mcpgate_store::MasterKey::generate().1
        })?,
    };
    let key = mcpgate_store::MasterKey::from_hex(&hex)
        .context("the credentials key (MCPGATE_SECRET_KEY or <data_dir>/secret.key) must be 64 hex characters")?;
    match config.store_url() {
        Some(url) => mcpgate_store::Store::connect(&url, key)
            .await
            .with_context(|| format!("cannot open the store at {}", mcpgate_store::redact(&url))),
        None => {
            let path = data_dir.join("mcpgate.db");
            mcpgate_store::Store::open(&path, key)
                .await
                .with_context(|| format!("cannot open the store at {}", path.display()))
        }
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    let result = match cli.command {
        Command::Serve {
            config,
            listen,
            data_dir,
            public_url,
            store,
        } => {
            async {
                let mut config = config::Config::load(config.as_deref())?;
                if let Some(listen) = listen {
                    config.listen = listen;
                }
                if let Some(dir) = data_dir {
                    config.data_dir = dir;
                }
                if let Some(url) = store {
                    config.store.url = Some(url);
                }
                if let Some(url) = public_url {
                    config.public_url = Some(url.trim_end_matches('/').to_owned());
                }
                serve::run(config).await
            }
            .await
        }
        Command::Server { target, command } => cli::server::run(target, command).await,
        Command::Integration { target, command } => cli::integration::run(target, command).await,
        Command::Account { target, command } => cli::account::run(target, command).await,
        Command::AdminToken { target, command } => cli::token::run(target, command).await,
        Command::Sandbox { target, command } => cli::sandbox::run(target, command).await,
        Command::Key { target, command } => cli::key::run(target, command).await,
        Command::Upstream {
            target,
            tenant,
            command,
        } => cli::portal::run_upstream(target, tenant, command).await,
        Command::Portal {
            target,
            tenant,
            command,
        } => cli::portal::run_portal(target, tenant, command).await,
        Command::ClientConfig(args) => cli::client_config::run(args),
        Command::Doctor(args) => cli::doctor::run(args).await,
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use std::ffi::OsStr;

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        assert!(super::colour(true, None));
        assert!(
            super::colour(true, Some(OsStr::new(""))),
            "empty NO_COLOR is unset"
        );
        assert!(!super::colour(true, Some(OsStr::new("1"))));
        assert!(!super::colour(false, None));
    }
}
