//! `mcpgate admin-token …`

use anyhow::{Context, bail};
use clap::Subcommand;
use serde_json::{Value, json};

use super::{Client, Target, print};

/// `mcpgate admin-token …`
#[derive(Subcommand)]
pub enum TokenCommand {
    /// Mint an admin token for one tenant; prints it once.
    Create {
        /// The tenant it may act on.
        #[arg(long)]
        tenant: String,
    },
    /// List admin tokens (prefixes only).
    List,
    /// Revoke an admin token.
    Revoke {
        /// Token id.
        id: String,
    },
}

/// Run an `admin-token` subcommand. With `--data-dir`, `create` writes the
/// store directly (no super-admin token needed: whoever can read the data
/// directory owns the gateway anyway).
pub async fn run(target: Target, command: TokenCommand) -> anyhow::Result<()> {
    if let Some(dir) = &target.data_dir {
        let TokenCommand::Create { tenant } = command else {
            bail!("only `admin-token create` works with --data-dir");
        };
        let mut config = crate::config::Config::load(None)?;
        config.data_dir = dir.clone();
        let store = crate::open_store(&config).await?;
        let (record, key) = store.create_admin_token(Some(&tenant)).await?;
        let value = json!({"id": record.id.to_string(), "tenant": tenant, "prefix": record.prefix, "token": key.secret});
        print(&value, target.output, show_created);
        return Ok(());
    }
    let client = Client::new(&target)?;
    match command {
        TokenCommand::Create { tenant } => {
            let created = client
                .send(
                    reqwest::Method::POST,
                    "/admin-token",
                    Some(json!({ "tenant": tenant })),
                )
                .await?;
            print(&created, target.output, show_created);
        }
        TokenCommand::List => {
            let list = client
                .send(reqwest::Method::GET, "/admin-token", None)
                .await?;
            print(&list["result"], target.output, |all| {
                println!("{:<36}  {:<20}  PREFIX", "ID", "TENANT");
                for t in all.as_array().into_iter().flatten() {
                    println!(
                        "{:<36}  {:<20}  {}",
                        t["id"].as_str().unwrap_or(""),
                        t["tenant"].as_str().unwrap_or(""),
                        t["prefix"].as_str().unwrap_or("")
                    );
                }
            });
        }
        TokenCommand::Revoke { id } => {
            client
                .send(reqwest::Method::DELETE, &format!("/admin-token/{id}"), None)
                .await
                .context("revoking the admin token")?;
            println!("revoked admin token {id}");
        }
    }
    Ok(())
}

fn show_created(v: &Value) {
    println!(
        "Admin token for tenant {} (id {}):\n\n  {}\n\nIt is shown only this once; it is stored as a hash.",
        v["tenant"],
        v["id"].as_str().unwrap_or(""),
        v["token"].as_str().unwrap_or("")
    );
}
