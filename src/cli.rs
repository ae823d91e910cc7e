//! Admin commands. They talk to a running gateway's admin API, so its
//! in-memory index sees every change at once; `--data-dir` instead writes the
//! store directly (for offline use; a running gateway picks the change up at
//! its next periodic reload).

use anyhow::{Context, bail};
use clap::{Args, Subcommand, ValueEnum};
use serde_json::{Value, json};
use std::path::PathBuf;

/// Where admin commands act.
#[derive(Args)]
pub struct Target {
    /// Base URL of a running gateway.
    #[arg(
        long,
        global = true,
        env = "MCPGATE_ENDPOINT",
        default_value = "http://127.0.0.1:8080"
    )]
    endpoint: String,
    /// Admin token of that gateway.
    #[arg(
        long,
        global = true,
        env = "MCPGATE_ADMIN_TOKEN",
        hide_env_values = true
    )]
    admin_token: Option<String>,
    /// Act on the store in this data directory instead of a running gateway.
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    /// Output format.
    #[arg(long, global = true, value_enum, default_value_t = Output::Table)]
    output: Output,
}

/// How results are printed.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// JSON, as the admin API returns it.
    Json,
    /// Human-readable text.
    Table,
}

/// `mcpgate server …`
#[derive(Subcommand)]
pub enum ServerCommand {
    /// Create a server and print its URL and token (shown only once).
    Create {
        /// Display name.
        #[arg(long)]
        name: String,
        /// Static toolset to serve (default: the config's default toolset).
        #[arg(long)]
        toolset: Option<String>,
        /// Expiry, RFC 3339 (e.g. 2026-12-31T23:59:59Z).
        #[arg(long)]
        expires_at: Option<String>,
    },
    /// List servers.
    List,
    /// Delete a server and its keys.
    Delete {
        /// Server id.
        id: String,
    },
}

/// Run a `server` subcommand.
pub async fn server(target: Target, command: ServerCommand) -> anyhow::Result<()> {
    if target.data_dir.is_some() {
        return direct::server(&target, command).await;
    }
    let client = Client::new(&target)?;
    match command {
        ServerCommand::Create {
            name,
            toolset,
            expires_at,
        } => {
            let mut body = json!({ "name": name });
            if let Some(t) = toolset {
                body["toolset"] = json!(t);
            }
            if let Some(e) = expires_at {
                body["expires_at"] = json!(e);
            }
            let created = client
                .send(reqwest::Method::POST, "/server", Some(body))
                .await?;
            print_created(&created, target.output);
        }
        ServerCommand::List => {
            let mut cursor: Option<String> = None;
            let mut all = Vec::new();
            loop {
                let path = match &cursor {
                    Some(c) => format!("/server?limit=1000&next_cursor={c}"),
                    None => "/server?limit=1000".to_owned(),
                };
                let page = client.send(reqwest::Method::GET, &path, None).await?;
                all.extend(page["result"].as_array().cloned().unwrap_or_default());
                match page["next_cursor"].as_str() {
                    Some(c) => cursor = Some(c.to_owned()),
                    None => break,
                }
            }
            print_list(&all, target.output);
        }
        ServerCommand::Delete { id } => {
            client
                .send(reqwest::Method::DELETE, &format!("/server/{id}"), None)
                .await?;
            println!("deleted server {id}");
        }
    }
    Ok(())
}

fn print_created(created: &Value, output: Output) {
    if output == Output::Json {
        println!("{created:#}");
        return;
    }
    println!(
        "Created server {} (id {})\n\n  URL:   {}\n  Token: {}\n\nThe token is shown only this once; it is stored as a hash. Clients may use the URL\nas is, or POST to <gateway>/mcp with \"Authorization: Bearer <token>\".",
        created["name"],
        created["id"].as_str().unwrap_or(""),
        created["url"].as_str().unwrap_or(""),
        created["token"].as_str().unwrap_or("")
    );
}

fn print_list(servers: &[Value], output: Output) {
    if output == Output::Json {
        println!("{:#}", Value::Array(servers.to_vec()));
        return;
    }
    println!(
        "{:<36}  {:<24}  {:<10}  {:<8}  EXPIRES",
        "ID", "NAME", "TOOLSET", "STATE"
    );
    for s in servers {
        println!(
            "{:<36}  {:<24}  {:<10}  {:<8}  {}",
            s["id"].as_str().unwrap_or(""),
            s["name"].as_str().unwrap_or(""),
            s["toolset"].as_str().unwrap_or(""),
            if s["disabled"] == json!(true) {
                "disabled"
            } else {
                "enabled"
            },
            s["expires_at"].as_str().unwrap_or("never"),
        );
    }
}

struct Client {
    http: reqwest::Client,
    endpoint: String,
    token: String,
}

impl Client {
    fn new(target: &Target) -> anyhow::Result<Self> {
        let Some(token) = target.admin_token.clone() else {
            bail!(
                "no admin token: pass --admin-token or set MCPGATE_ADMIN_TOKEN (the gateway prints a bootstrap token on its first start)"
            );
        };
        Ok(Self {
            http: reqwest::Client::new(),
            endpoint: target.endpoint.trim_end_matches('/').to_owned(),
            token,
        })
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let url = format!("{}{}", self.endpoint, path);
        let mut request = self.http.request(method, &url).bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.with_context(|| {
            format!(
                "cannot reach the gateway at {} (is `mcpgate serve` running? see --endpoint)",
                self.endpoint
            )
        })?;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        if !status.is_success() {
            let message = serde_json::from_str::<Value>(&text)
                .ok()
                .and_then(|v| v["error"]["message"].as_str().map(str::to_owned))
                .unwrap_or(text);
            bail!("the gateway answered {status}: {message}");
        }
        if text.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&text).context("the gateway answered with invalid JSON")
    }
}

mod direct {
    //! `--data-dir` mode: the same operations on the store itself.

    use super::*;
    use mcpgate_store::{NewServer, ServerSource};

    pub async fn server(target: &Target, command: ServerCommand) -> anyhow::Result<()> {
        let dir = target.data_dir.as_ref().expect("checked by caller");
        let store = crate::open_store(dir).await?;
        match command {
            ServerCommand::Create {
                name,
                toolset,
                expires_at,
            } => {
                let config = crate::config::Config::load(None)?;
                let toolset = toolset.unwrap_or(config.mcp.default_toolset.clone());
                let known: Vec<String> = config
                    .load_toolsets()?
                    .into_iter()
                    .map(|t| t.name)
                    .collect();
                if !known.contains(&toolset) {
                    bail!(
                        "no toolset named {toolset:?} in {}; configured: {}",
                        crate::config::DEFAULT_CONFIG,
                        known.join(", ")
                    );
                }
                let expires_at = expires_at
                    .map(|e| {
                        mcpgate_gateway::timefmt::parse_rfc3339(&e)
                            .with_context(|| format!("--expires-at {e:?} is not RFC 3339"))
                    })
                    .transpose()?;
                let (record, _, key) = store
                    .create_server(NewServer {
                        tenant: "default".into(),
                        name,
                        source: ServerSource::Toolset(toolset),
                        expires_at,
                    })
                    .await?;
                let base = config
                    .public_url
                    .unwrap_or_else(|| format!("http://{}", config.listen));
                print_created(
                    &json!({
                        "id": record.id.to_string(),
                        "name": record.name,
                        "url": format!("{}/mcp/{}", base.trim_end_matches('/'), key.secret),
                        "token": key.secret,
                    }),
                    target.output,
                );
            }
            ServerCommand::List => {
                let servers = store.list_servers().await?;
                let values: Vec<Value> = servers
                    .iter()
                    .map(|s| {
                        let ServerSource::Toolset(t) = &s.source;
                        json!({
                            "id": s.id.to_string(), "name": s.name, "toolset": t,
                            "disabled": s.disabled,
                            "expires_at": s.expires_at.map(mcpgate_gateway::timefmt::rfc3339_ms),
                        })
                    })
                    .collect();
                print_list(&values, target.output);
            }
            ServerCommand::Delete { id } => {
                let id = id.parse().context("not a server id")?;
                if !store.delete_server(id).await? {
                    bail!("no server {id}");
                }
                println!("deleted server {id}");
            }
        }
        Ok(())
    }
}
