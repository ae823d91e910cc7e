//! `mcpgate key …`: a server's API keys.

use clap::Subcommand;
use serde_json::{Value, json};

use super::client_config::{self, ClientKind};
use super::{Client, Output, Target, print};

/// `mcpgate key …`
#[derive(Subcommand)]
pub enum KeyCommand {
    /// Add a key to a server; prints it once.
    Create {
        /// Server id.
        #[arg(long)]
        server: String,
        /// Expiry, RFC 3339.
        #[arg(long)]
        expires_at: Option<String>,
        /// Also print a ready-to-paste config for these clients.
        #[arg(long = "client", value_enum, value_delimiter = ',')]
        clients: Vec<ClientKind>,
    },
    /// List a server's keys (prefixes, never secrets).
    List {
        /// Server id.
        #[arg(long)]
        server: String,
    },
    /// Revoke a key now, or after a grace period.
    Revoke {
        /// Server id.
        #[arg(long)]
        server: String,
        /// Key id (from `key list`).
        key: String,
        /// Keep the key valid this many seconds more (at most a week).
        #[arg(long)]
        grace_seconds: Option<u64>,
    },
    /// Replace every live key of a server with one new key; prints it once.
    Rotate {
        /// Server id.
        #[arg(long)]
        server: String,
        /// Keep the old keys valid this many seconds more (at most a week).
        #[arg(long)]
        grace_seconds: Option<u64>,
        /// Also print a ready-to-paste config for these clients.
        #[arg(long = "client", value_enum, value_delimiter = ',')]
        clients: Vec<ClientKind>,
    },
}

/// Run a `key` subcommand.
pub async fn run(target: Target, command: KeyCommand) -> anyhow::Result<()> {
    target.needs_gateway("key")?;
    let client = Client::new(&target)?;
    match command {
        KeyCommand::Create {
            server,
            expires_at,
            clients,
        } => {
            let body = match expires_at {
                Some(e) => json!({ "expires_at": e }),
                None => json!({}),
            };
            let key = client
                .send(
                    reqwest::Method::POST,
                    &format!("/server/{server}/keys"),
                    Some(body),
                )
                .await?;
            let name = server_name(&client, &server, target.output).await;
            print_minted(&key, target.output, &clients, "new key", &name);
        }
        KeyCommand::List { server } => {
            let keys = client
                .send(
                    reqwest::Method::GET,
                    &format!("/server/{server}/keys"),
                    None,
                )
                .await?;
            print(&keys["result"], target.output, |keys| {
                println!(
                    "{:<36}  {:<13}  {:<24}  {:<24}  {:<24}  LAST USED",
                    "ID", "PREFIX", "CREATED", "EXPIRES", "REVOKED"
                );
                for k in keys.as_array().into_iter().flatten() {
                    let field = |name: &str, none: &'static str| {
                        k[name].as_str().unwrap_or(none).to_owned()
                    };
                    println!(
                        "{:<36}  {:<13}  {:<24}  {:<24}  {:<24}  {}",
                        field("id", ""),
                        field("prefix", ""),
                        field("created_at", ""),
                        field("expires_at", "never"),
                        field("revoked_at", "-"),
                        field("last_used_at", "never"),
                    );
                }
            });
        }
        KeyCommand::Revoke {
            server,
            key,
            grace_seconds,
        } => {
            let mut path = format!("/server/{server}/keys/{key}");
            if let Some(g) = grace_seconds {
                path.push_str(&format!("?grace_seconds={g}"));
            }
            client.send(reqwest::Method::DELETE, &path, None).await?;
            match grace_seconds {
                Some(g) if g > 0 => println!("key {key} stops working in {g} s"),
                _ => println!("revoked key {key}"),
            }
        }
        KeyCommand::Rotate {
            server,
            grace_seconds,
            clients,
        } => {
            let body = json!({ "grace_seconds": grace_seconds });
            let key = client
                .send(
                    reqwest::Method::POST,
                    &format!("/server/{server}/rotate"),
                    Some(body),
                )
                .await?;
            let what = match grace_seconds {
                Some(g) if g > 0 => format!("new key; the old keys stop working in {g} s"),
                _ => "new key; the old keys no longer work".to_owned(),
            };
            let name = server_name(&client, &server, target.output).await;
            print_minted(&key, target.output, &clients, &what, &name);
        }
    }
    Ok(())
}

/// The server's name, for the client config entry; the generic name when
/// only JSON is printed or the server cannot be read.
async fn server_name(client: &Client, server: &str, output: Output) -> String {
    if output == Output::Json {
        return client_config::DEFAULT_NAME.to_owned();
    }
    client
        .send(reqwest::Method::GET, &format!("/server/{server}"), None)
        .await
        .ok()
        .and_then(|s| s["name"].as_str().map(str::to_owned))
        .unwrap_or_else(|| client_config::DEFAULT_NAME.to_owned())
}

fn print_minted(key: &Value, output: Output, clients: &[ClientKind], what: &str, name: &str) {
    print(key, output, |k| {
        let token = k["token"].as_str().unwrap_or("");
        let url = k["url"].as_str().unwrap_or("");
        println!(
            "Created a {what} (id {}, prefix {})\n\n  URL:   {url}\n  Token: {token}\n\nThe token is shown only this once; it is stored as a hash.",
            k["id"].as_str().unwrap_or(""),
            k["prefix"].as_str().unwrap_or(""),
        );
        client_config::offer(clients, name, url, token);
    });
}
