//! `mcpgate server …`

use anyhow::{Context, bail};
use clap::Subcommand;
use serde_json::{Value, json};

use super::client_config::{self, ClientKind};
use super::{Client, Output, Target, list_all, print};

/// `mcpgate server update` flags.
#[derive(clap::Args)]
pub struct UpdateArgs {
    /// Server id.
    id: String,
    /// New display name.
    #[arg(long)]
    name: Option<String>,
    /// New description.
    #[arg(long)]
    description: Option<String>,
    /// Refuse every key of this server until `--enable`.
    #[arg(long, conflicts_with = "enable")]
    disable: bool,
    /// Serve again after `--disable`.
    #[arg(long)]
    enable: bool,
    /// New expiry, RFC 3339.
    #[arg(long, conflicts_with = "no_expiry")]
    expires_at: Option<String>,
    /// Remove the expiry.
    #[arg(long)]
    no_expiry: bool,
    /// Scope: method kinds, groups or HTTP verbs (replaces the current list).
    #[arg(long, value_delimiter = ',')]
    methods: Option<Vec<String>>,
    /// Scope: resource tags (replaces the current list).
    #[arg(long, value_delimiter = ',')]
    tags: Option<Vec<String>>,
    /// Scope: only these tools (replaces the allow-list).
    #[arg(long, value_delimiter = ',', conflicts_with = "all_tools")]
    tools: Option<Vec<String>>,
    /// Remove the tool allow-list.
    #[arg(long)]
    all_tools: bool,
    /// Per-key sustained requests per second.
    #[arg(long)]
    rate_per_sec: Option<u32>,
    /// Per-key burst.
    #[arg(long)]
    burst: Option<u32>,
    /// Per-key calls in flight.
    #[arg(long)]
    max_concurrency: Option<u32>,
}

impl UpdateArgs {
    /// The PATCH body; scope and limits are merged into `current` so that
    /// naming one list or limit keeps the others.
    fn body(&self, current: &Value) -> anyhow::Result<Value> {
        let mut body = json!({});
        if let Some(n) = &self.name {
            body["name"] = json!(n);
        }
        if let Some(d) = &self.description {
            body["description"] = json!(d);
        }
        if self.disable || self.enable {
            body["disabled"] = json!(self.disable);
        }
        if let Some(e) = &self.expires_at {
            body["expires_at"] = json!(e);
        } else if self.no_expiry {
            body["expires_at"] = Value::Null;
        }
        if self.methods.is_some() || self.tags.is_some() {
            let mut config = current["config"].clone();
            if !config.is_object() {
                config = json!({});
            }
            if let Some(m) = &self.methods {
                config["methods"] = json!(m);
            }
            if let Some(t) = &self.tags {
                config["tags"] = json!(t);
            }
            body["config"] = config;
        }
        if let Some(t) = &self.tools {
            body["exposed_tool_ids"] = json!(t);
        } else if self.all_tools {
            body["exposed_tool_ids"] = Value::Null;
        }
        let limits = [
            ("rate_per_sec", self.rate_per_sec),
            ("burst", self.burst),
            ("max_concurrency", self.max_concurrency),
        ];
        if limits.iter().any(|(_, v)| v.is_some()) {
            let mut merged = current["limits"].clone();
            if !merged.is_object() {
                merged = json!({});
            }
            for (name, value) in limits {
                if let Some(v) = value {
                    merged[name] = json!(v);
                }
            }
            body["limits"] = merged;
        }
        if body.as_object().is_some_and(|b| b.is_empty()) {
            bail!("nothing to change: name at least one setting (see --help)");
        }
        Ok(body)
    }
}

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
        /// Also print a ready-to-paste config for these clients.
        #[arg(long = "client", value_enum, value_delimiter = ',')]
        clients: Vec<ClientKind>,
    },
    /// List servers.
    List,
    /// Show one server (its scope, limits and key prefixes).
    Show {
        /// Server id.
        id: String,
    },
    /// Change a server; unnamed settings stay as they are.
    Update(UpdateArgs),
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
            clients,
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
            print_created(&created, target.output, &clients);
        }
        ServerCommand::List => {
            let all = list_all(&client, "/server").await?;
            print_list(&Value::Array(all), target.output);
        }
        ServerCommand::Show { id } => {
            let server = client
                .send(reqwest::Method::GET, &format!("/server/{id}"), None)
                .await?;
            print(&server, target.output, print_one);
        }
        ServerCommand::Update(args) => {
            let path = format!("/server/{}", args.id);
            let current = client.send(reqwest::Method::GET, &path, None).await?;
            let body = args.body(&current)?;
            let updated = client
                .send(reqwest::Method::PATCH, &path, Some(body))
                .await?;
            print(&updated, target.output, |s| {
                println!("updated server {}\n", args.id);
                print_one(s);
            });
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

fn print_created(created: &Value, output: Output, clients: &[ClientKind]) {
    print(created, output, |c| {
        let url = c["url"].as_str().unwrap_or("");
        let token = c["token"].as_str().unwrap_or("");
        println!(
            "Created server {} (id {})\n\n  URL:   {url}\n  Token: {token}\n\nThe token is shown only this once; it is stored as a hash. Clients may use the URL\nas is, or POST to <gateway>/mcp with \"Authorization: Bearer <token>\".",
            c["name"],
            c["id"].as_str().unwrap_or(""),
        );
        let name = c["name"].as_str().unwrap_or(client_config::DEFAULT_NAME);
        client_config::offer(clients, name, url, token);
    });
}

/// One server, as `server show` prints it.
fn print_one(s: &Value) {
    let text = |v: &Value, none: &str| match v {
        Value::Null => none.to_owned(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let source = match (s["toolset"].as_str(), s["integrated_account_id"].as_str()) {
        (Some(t), _) => format!("toolset {t}"),
        (_, Some(a)) => format!("integrated account {a}"),
        _ => "portal or unbound".to_owned(),
    };
    let rows = [
        ("id", text(&s["id"], "")),
        ("name", text(&s["name"], "")),
        ("description", text(&s["description"], "-")),
        ("source", source),
        ("scope", text(&s["config"], "{}")),
        ("tools", text(&s["exposed_tool_ids"], "all in scope")),
        ("limits", text(&s["limits"], "{}")),
        ("sandbox", text(&s["sandbox"], "{}")),
        (
            "state",
            if s["disabled"] == json!(true) {
                "disabled"
            } else {
                "enabled"
            }
            .to_owned(),
        ),
        ("expires", text(&s["expires_at"], "never")),
        ("keys", text(&s["key_prefixes"], "[]")),
        ("created", text(&s["created_at"], "")),
        ("updated", text(&s["updated_at"], "")),
    ];
    for (label, value) in rows {
        println!("{label:<12} {value}");
    }
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
                clients,
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
                    &clients,
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
            ServerCommand::Show { .. } | ServerCommand::Update(_) => {
                bail!("`server show` and `server update` need a running gateway; drop --data-dir");
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
