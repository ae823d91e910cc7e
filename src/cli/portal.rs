//! `mcpgate upstream …` and `mcpgate portal …`: the Cloudflare-style registry
//! of upstream MCP servers and the portals that put them behind one endpoint.

use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::client_config::{self, ClientKind};
use super::{Client, Target, print};

/// The tenant whose registry a command acts on.
#[derive(Args)]
pub struct Tenant {
    /// Tenant (the Cloudflare-style account id); a super-admin uses `default`.
    #[arg(long, global = true, default_value = "default")]
    tenant: String,
}

impl Tenant {
    fn path(&self, rest: &str) -> String {
        format!(
            "/accounts/{}/access/ai-controls/mcp/{rest}",
            self.tenant.trim()
        )
    }
}

/// The admin API under one tenant's registry prefix.
struct Registry<'a> {
    client: &'a Client,
    tenant: &'a Tenant,
}

impl Registry<'_> {
    async fn send(
        &self,
        method: reqwest::Method,
        rest: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        self.client
            .send(method, &self.tenant.path(rest), body)
            .await
    }

    /// The `result` of a GET.
    async fn get(&self, rest: &str) -> anyhow::Result<Value> {
        Ok(self.send(reqwest::Method::GET, rest, None).await?["result"].take())
    }
}

/// `mcpgate upstream …`
#[derive(Subcommand)]
pub enum UpstreamCommand {
    /// Register an upstream MCP server and sync it once.
    Add {
        /// Id (letters, digits, `-`, `_`); it prefixes the tool names in portals.
        #[arg(long)]
        id: String,
        /// Display name (default: the id).
        #[arg(long)]
        name: Option<String>,
        /// The upstream's MCP endpoint URL.
        #[arg(long)]
        url: String,
        /// The gateway's own bearer token for the upstream (never a client's).
        #[arg(long, env = "MCPGATE_UPSTREAM_TOKEN", hide_env_values = true)]
        bearer: Option<String>,
        /// Per-call timeout, seconds.
        #[arg(long)]
        timeout_secs: Option<u64>,
        /// Description.
        #[arg(long)]
        description: Option<String>,
    },
    /// List upstreams with their sync status.
    List,
    /// Show one upstream: status, last error, tools and prompts.
    Show {
        /// Upstream id.
        id: String,
    },
    /// Sync now (and accept tool changes with `--accept-changes`).
    Sync {
        /// Upstream id.
        id: String,
        /// Accept changed or new tools for pinned portals.
        #[arg(long)]
        accept_changes: bool,
    },
    /// Remove an upstream no portal uses.
    Delete {
        /// Upstream id.
        id: String,
    },
}

/// `mcpgate portal …`
#[derive(Subcommand)]
pub enum PortalCommand {
    /// Create a portal over upstreams; prints its URL and token once.
    Create {
        /// Display name.
        #[arg(long)]
        name: String,
        /// Id (default: generated).
        #[arg(long)]
        id: Option<String>,
        /// Upstream ids to aggregate.
        #[arg(long = "upstream", value_delimiter = ',', required = true)]
        upstreams: Vec<String>,
        /// Keep tool names unprefixed (single-upstream portals only).
        #[arg(long)]
        no_prefix: bool,
        /// Withhold changed tools until `upstream sync --accept-changes`.
        #[arg(long)]
        pin_tools: bool,
        /// Also print a ready-to-paste config for these clients.
        #[arg(long = "client", value_enum, value_delimiter = ',')]
        clients: Vec<ClientKind>,
    },
    /// List portals.
    List,
    /// Show one portal.
    Show {
        /// Portal id.
        id: String,
    },
    /// Delete a portal with its endpoint and keys.
    Delete {
        /// Portal id.
        id: String,
    },
}

/// Run an `upstream` subcommand.
pub async fn run_upstream(
    target: Target,
    tenant: Tenant,
    command: UpstreamCommand,
) -> anyhow::Result<()> {
    target.needs_gateway("upstream")?;
    let client = Client::new(&target)?;
    let registry = Registry {
        client: &client,
        tenant: &tenant,
    };
    let shown = match command {
        UpstreamCommand::Add {
            id,
            name,
            url,
            bearer,
            timeout_secs,
            description,
        } => {
            let mut body = json!({
                "id": id,
                "name": name.unwrap_or_else(|| id.clone()),
                "hostname": url,
                "auth_type": if bearer.is_some() { "bearer" } else { "unauthenticated" },
            });
            if let Some(b) = bearer {
                body["auth_credentials"] = json!(b);
            }
            if let Some(t) = timeout_secs {
                body["timeout_secs"] = json!(t);
            }
            if let Some(d) = description {
                body["description"] = json!(d);
            }
            registry
                .send(reqwest::Method::POST, "servers", Some(body))
                .await?;
            sync(&registry, &id, false).await?
        }
        UpstreamCommand::List => {
            let all = registry.get("servers").await?;
            print(&all, target.output, |all| {
                println!(
                    "{:<24}  {:<24}  {:<8}  {:>5}  {:<24}  URL",
                    "ID", "NAME", "STATUS", "TOOLS", "LAST SYNC"
                );
                for u in all.as_array().into_iter().flatten() {
                    println!(
                        "{:<24}  {:<24}  {:<8}  {:>5}  {:<24}  {}",
                        u["id"].as_str().unwrap_or(""),
                        u["name"].as_str().unwrap_or(""),
                        u["status"].as_str().unwrap_or(""),
                        u["tools"].as_array().map_or(0, Vec::len),
                        u["last_synced"].as_str().unwrap_or("never"),
                        u["hostname"].as_str().unwrap_or(""),
                    );
                }
            });
            return Ok(());
        }
        UpstreamCommand::Show { id } => registry.get(&format!("servers/{id}")).await?,
        UpstreamCommand::Sync { id, accept_changes } => {
            sync(&registry, &id, accept_changes).await?
        }
        UpstreamCommand::Delete { id } => {
            registry
                .send(reqwest::Method::DELETE, &format!("servers/{id}"), None)
                .await?;
            println!("deleted upstream {id}");
            return Ok(());
        }
    };
    print(&shown, target.output, |u| {
        print_upstream(u, &target, &tenant)
    });
    Ok(())
}

/// Sync one upstream now and read it back.
async fn sync(registry: &Registry<'_>, id: &str, accept_changes: bool) -> anyhow::Result<Value> {
    registry
        .send(
            reqwest::Method::POST,
            &format!("servers/{id}/sync"),
            Some(json!({ "accept_changes": accept_changes })),
        )
        .await?;
    registry.get(&format!("servers/{id}")).await
}

fn print_upstream(u: &Value, target: &Target, tenant: &Tenant) {
    for field in ["id", "name", "hostname", "auth_type", "status"] {
        println!("{field:<14} {}", u[field].as_str().unwrap_or("-"));
    }
    if let Some(e) = u["error"].as_str() {
        println!("{:<14} {e}", "error");
    }
    println!(
        "{:<14} {}",
        "last synced",
        u["last_synced"].as_str().unwrap_or("never")
    );
    println!(
        "{:<14} {}",
        "last success",
        u["last_successful_sync"].as_str().unwrap_or("never")
    );
    for list in ["tools", "prompts"] {
        let names: Vec<&str> = u[list]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t["name"].as_str())
            .collect();
        println!("{list:<14} {} {}", names.len(), names.join(", "));
    }
    if let Some(changes) = u["changes"].as_array().filter(|c| !c.is_empty()) {
        let mut accept = format!(
            "upstream sync {} --accept-changes",
            u["id"].as_str().unwrap_or("ID")
        );
        if tenant.tenant != "default" {
            accept.push_str(&format!(" --tenant {}", tenant.tenant));
        }
        println!(
            "{:<14} {} changed tool(s); accept with `{}`",
            "changes",
            changes.len(),
            target.hint(&accept)
        );
    }
}

/// Run a `portal` subcommand.
pub async fn run_portal(
    target: Target,
    tenant: Tenant,
    command: PortalCommand,
) -> anyhow::Result<()> {
    target.needs_gateway("portal")?;
    let client = Client::new(&target)?;
    let registry = Registry {
        client: &client,
        tenant: &tenant,
    };
    match command {
        PortalCommand::Create {
            name,
            id,
            upstreams,
            no_prefix,
            pin_tools,
            clients,
        } => {
            let servers: Vec<Value> = upstreams
                .iter()
                .map(|u| json!({ "server_id": u.trim() }))
                .collect();
            let mut body = json!({ "name": name, "servers": servers, "pin_tools": pin_tools });
            if let Some(id) = id {
                body["id"] = json!(id);
            }
            if no_prefix {
                body["prefix"] = json!(false);
            }
            let created = registry
                .send(reqwest::Method::POST, "portals", Some(body))
                .await?;
            print(&created["result"], target.output, |p| {
                let url = p["url"].as_str().unwrap_or("");
                let token = p["token"].as_str().unwrap_or("");
                println!(
                    "Created portal {} (id {}, server {})\n\n  URL:   {url}\n  Token: {token}\n\nThe token is shown only this once; it is stored as a hash. More keys:\n{}",
                    p["name"],
                    p["id"].as_str().unwrap_or(""),
                    p["server_id"].as_str().unwrap_or(""),
                    target.hint(&format!(
                        "key create --server {}",
                        p["server_id"].as_str().unwrap_or("")
                    )),
                );
                client_config::offer(&clients, p["id"].as_str().unwrap_or("portal"), url, token);
            });
        }
        PortalCommand::List => {
            let all = registry.get("portals").await?;
            print(&all, target.output, |all| {
                println!("{:<24}  {:<24}  {:<36}  UPSTREAMS", "ID", "NAME", "SERVER");
                for p in all.as_array().into_iter().flatten() {
                    let upstreams: Vec<&str> = p["servers"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|s| s["server_id"].as_str())
                        .collect();
                    println!(
                        "{:<24}  {:<24}  {:<36}  {}",
                        p["id"].as_str().unwrap_or(""),
                        p["name"].as_str().unwrap_or(""),
                        p["server_id"].as_str().unwrap_or(""),
                        upstreams.join(", ")
                    );
                }
            });
        }
        PortalCommand::Show { id } => {
            let shown = registry.get(&format!("portals/{id}")).await?;
            print(&shown, target.output, |p| println!("{p:#}"));
        }
        PortalCommand::Delete { id } => {
            registry
                .send(reqwest::Method::DELETE, &format!("portals/{id}"), None)
                .await?;
            println!("deleted portal {id}");
        }
    }
    Ok(())
}
