//! `mcpgate server …`

use anyhow::{Context, bail};
use clap::Subcommand;
use serde_json::{Value, json};

use super::{Client, Output, Target, list_all, print};

/// `mcpgate server …`
#[derive(Subcommand)]
pub enum ServerCommand {
    /// Create a server and print its URL and token (shown only once).
    Create {
        /// Display name.
        #[arg(long)]
        name: String,
        /// Serve a static toolset (default: the config's default toolset).
        #[arg(long, conflicts_with = "account")]
        toolset: Option<String>,
        /// Serve the tools of this integrated account (its id).
        #[arg(long)]
        account: Option<String>,
        /// Scope: method kinds, groups (read, write, custom) or HTTP verbs.
        #[arg(long, value_delimiter = ',', requires = "account")]
        methods: Vec<String>,
        /// Scope: resource tags.
        #[arg(long, value_delimiter = ',', requires = "account")]
        tags: Vec<String>,
        /// Scope: only these tools.
        #[arg(long, value_delimiter = ',', requires = "account")]
        tools: Option<Vec<String>>,
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
pub async fn run(target: Target, command: ServerCommand) -> anyhow::Result<()> {
    if target.data_dir.is_some() {
        return direct::run(&target, command).await;
    }
    let client = Client::new(&target)?;
    match command {
        ServerCommand::Create {
            name,
            toolset,
            account,
            methods,
            tags,
            tools,
            expires_at,
        } => {
            let mut body = json!({ "name": name });
            if let Some(t) = toolset {
                body["toolset"] = json!(t);
            }
            if let Some(a) = account {
                body["integrated_account_id"] = json!(a);
                let mut config = json!({});
                if !methods.is_empty() {
                    config["methods"] = json!(methods);
                }
                if !tags.is_empty() {
                    config["tags"] = json!(tags);
                }
                body["config"] = config;
                if let Some(t) = tools {
                    body["exposed_tool_ids"] = json!(t);
                }
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
            let all = list_all(&client, "/server").await?;
            print_list(&Value::Array(all), target.output);
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
    print(created, output, |c| {
        println!(
            "Created server {} (id {})\n\n  URL:   {}\n  Token: {}\n\nThe token is shown only this once; it is stored as a hash. Clients may use the URL\nas is, or POST to <gateway>/mcp with \"Authorization: Bearer <token>\".",
            c["name"],
            c["id"].as_str().unwrap_or(""),
            c["url"].as_str().unwrap_or(""),
            c["token"].as_str().unwrap_or("")
        )
    });
}

fn print_list(servers: &Value, output: Output) {
    print(servers, output, |s| {
        println!(
            "{:<36}  {:<24}  {:<38}  {:<8}  EXPIRES",
            "ID", "NAME", "SOURCE", "STATE"
        );
        for s in s.as_array().into_iter().flatten() {
            let source = match (s["toolset"].as_str(), s["integrated_account_id"].as_str()) {
                (Some(t), _) => format!("toolset {t}"),
                (_, Some(a)) => format!("account {a}"),
                _ => String::new(),
            };
            println!(
                "{:<36}  {:<24}  {:<38}  {:<8}  {}",
                s["id"].as_str().unwrap_or(""),
                s["name"].as_str().unwrap_or(""),
                source,
                if s["disabled"] == json!(true) {
                    "disabled"
                } else {
                    "enabled"
                },
                s["expires_at"].as_str().unwrap_or("never"),
            );
        }
    });
}

mod direct {
    //! `--data-dir` mode: the same operations on the store itself.

    use super::*;
    use mcpgate_store::{NewServer, ServerSource};

    pub async fn run(target: &Target, command: ServerCommand) -> anyhow::Result<()> {
        let mut config = crate::config::Config::load(None)?;
        config.data_dir = target.data_dir.clone().expect("checked by caller");
        let store = crate::open_store(&config).await?;
        match command {
            ServerCommand::Create {
                name,
                toolset,
                account,
                expires_at,
                ..
            } => {
                if account.is_some() {
                    bail!(
                        "--account needs a running gateway (its scope is checked against the integration); drop --data-dir"
                    );
                }
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
                let (record, minted) = store
                    .create_server(NewServer {
                        expires_at,
                        ..NewServer::new("default", name, ServerSource::Toolset(toolset))
                    })
                    .await?;
                let (_, key) = minted.context("the store minted no key")?;
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
                        let (toolset, account) = match &s.source {
                            ServerSource::Toolset(t) => (Some(t.clone()), None),
                            ServerSource::Account(a) => (None, Some(a.to_string())),
                            ServerSource::Unbound | ServerSource::Portal(_) => (None, None),
                        };
                        json!({
                            "id": s.id.to_string(), "name": s.name, "toolset": toolset,
                            "integrated_account_id": account, "disabled": s.disabled,
                            "expires_at": s.expires_at.map(mcpgate_gateway::timefmt::rfc3339_ms),
                        })
                    })
                    .collect();
                print_list(&Value::Array(values), target.output);
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
