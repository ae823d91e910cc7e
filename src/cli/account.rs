//! `mcpgate account …`

use anyhow::{Context, bail};
use clap::Subcommand;
use mcpgate_catalog::Credentials;
use serde_json::{Map, Value, json};

use super::{Client, Target, list_all, print};

/// `mcpgate account …`
#[derive(Subcommand)]
pub enum AccountCommand {
    /// Connect an account to an integration; prints the account id.
    Create {
        /// Integration name.
        #[arg(long)]
        integration: String,
        /// Display name.
        #[arg(long)]
        name: Option<String>,
        /// Base URL (default: the integration's).
        #[arg(long)]
        base_url: Option<String>,
        /// Values for base URL placeholders, e.g. `--context subdomain=acme`.
        #[arg(long, value_parser = parse_pair)]
        context: Vec<(String, String)>,
        /// Credentials: `bearer:TOKEN`, `basic:USER:PASS`, `header:NAME:VALUE`,
        /// `query:NAME:VALUE`, `oauth2-client:CLIENT_ID:CLIENT_SECRET` or
        /// `oauth2-refresh:CLIENT_ID:CLIENT_SECRET:REFRESH_TOKEN`.
        #[arg(long, default_value = "none")]
        auth: String,
        /// OAuth token endpoint (default: the integration's).
        #[arg(long)]
        token_url: Option<String>,
        /// OAuth scopes (client credentials).
        #[arg(long, value_delimiter = ',')]
        scopes: Vec<String>,
    },
    /// List accounts (credentials are never shown).
    List,
    /// Show one account (its credential type, never its secrets) and the
    /// servers that use it.
    Show {
        /// Account id.
        id: String,
    },
    /// Delete an account no server uses.
    Delete {
        /// Account id.
        id: String,
    },
}

fn parse_pair(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("{s:?} is not KEY=VALUE"))
}

/// Parse `--auth`.
pub fn parse_auth(
    spec: &str,
    token_url: Option<String>,
    scopes: Vec<String>,
) -> anyhow::Result<Credentials> {
    let (kind, rest) = spec.split_once(':').unwrap_or((spec, ""));
    let parts: Vec<&str> = rest.splitn(3, ':').collect();
    let need = |n: usize, form: &str| -> anyhow::Result<()> {
        if parts.len() < n || parts.iter().take(n).any(|p| p.is_empty()) {
            bail!("--auth {kind}: expected {form}");
        }
        Ok(())
    };
    Ok(match kind {
        "none" => Credentials::None,
        "bearer" => {
            need(1, "bearer:TOKEN")?;
            Credentials::Bearer {
                token: rest.to_owned(),
            }
        }
        "basic" => {
            let (user, pass) = rest
                .split_once(':')
                .context("--auth basic: expected basic:USER:PASS")?;
            Credentials::Basic {
                username: user.to_owned(),
                password: pass.to_owned(),
            }
        }
        "header" | "query" => {
            let (name, value) = rest
                .split_once(':')
                .with_context(|| format!("--auth {kind}: expected {kind}:NAME:VALUE"))?;
            if kind == "header" {
                Credentials::Header {
                    name: name.to_owned(),
                    value: value.to_owned(),
                }
            } else {
                Credentials::Query {
                    name: name.to_owned(),
                    value: value.to_owned(),
                }
            }
        }
        "oauth2-client" => {
            need(2, "oauth2-client:CLIENT_ID:CLIENT_SECRET")?;
            let (id, secret) = rest.split_once(':').expect("checked");
            Credentials::Oauth2ClientCredentials {
                client_id: id.to_owned(),
                client_secret: secret.to_owned(),
                token_url,
                scopes,
            }
        }
        "oauth2-refresh" => {
            need(3, "oauth2-refresh:CLIENT_ID:CLIENT_SECRET:REFRESH_TOKEN")?;
            Credentials::Oauth2RefreshToken {
                client_id: parts[0].to_owned(),
                client_secret: parts[1].to_owned(),
                refresh_token: parts[2].to_owned(),
                token_url,
            }
        }
        other => bail!(
            "--auth: unknown scheme {other:?} (bearer, basic, header, query, oauth2-client, oauth2-refresh, none)"
        ),
    })
}

/// Run an `account` subcommand.
pub async fn run(target: Target, command: AccountCommand) -> anyhow::Result<()> {
    target.needs_gateway("account")?;
    let client = Client::new(&target)?;
    match command {
        AccountCommand::Create {
            integration,
            name,
            base_url,
            context,
            auth,
            token_url,
            scopes,
        } => {
            let credentials = parse_auth(&auth, token_url, scopes)?;
            let context: Map<String, Value> =
                context.into_iter().map(|(k, v)| (k, json!(v))).collect();
            let body = json!({
                "integration": integration, "name": name, "base_url": base_url,
                "context": context, "credentials": credentials,
            });
            let created = client
                .send(reqwest::Method::POST, "/integrated-account", Some(body))
                .await?;
            print(&created, target.output, |c| {
                println!("{}", c["id"].as_str().unwrap_or(""));
                eprintln!(
                    "Created integrated account for {}. Next: {}",
                    c["integration"].as_str().unwrap_or("?"),
                    target.hint(&format!(
                        "server create --account {} --name NAME",
                        c["id"].as_str().unwrap_or("")
                    ))
                );
            });
        }
        AccountCommand::List => {
            let all = Value::Array(list_all(&client, "/integrated-account").await?);
            print(&all, target.output, |all| {
                println!("{:<36}  {:<16}  {:<20}  AUTH", "ID", "INTEGRATION", "NAME");
                for a in all.as_array().into_iter().flatten() {
                    println!(
                        "{:<36}  {:<16}  {:<20}  {}",
                        a["id"].as_str().unwrap_or(""),
                        a["integration"].as_str().unwrap_or(""),
                        a["name"].as_str().unwrap_or(""),
                        a["credentials"]["type"].as_str().unwrap_or(""),
                    );
                }
            });
        }
        AccountCommand::Show { id } => {
            let account = client
                .send(
                    reqwest::Method::GET,
                    &format!("/integrated-account/{id}"),
                    None,
                )
                .await?;
            let servers = client
                .send(
                    reqwest::Method::GET,
                    &format!("/integrated-account/{id}/mcp"),
                    None,
                )
                .await?;
            let mut shown = account.clone();
            shown["mcp_servers"] = servers["result"].clone();
            print(&shown, target.output, |a| {
                for field in ["id", "integration", "name", "base_url", "created_at"] {
                    println!("{field:<12} {}", a[field].as_str().unwrap_or("-"));
                }
                println!("{:<12} {}", "context", a["context"]);
                println!(
                    "{:<12} {} (secrets are never shown)",
                    "credentials",
                    a["credentials"]["type"].as_str().unwrap_or("none")
                );
                let servers = a["mcp_servers"].as_array().cloned().unwrap_or_default();
                println!("{:<12} {}", "servers", servers.len());
                for s in servers {
                    println!(
                        "  {}  {}",
                        s["id"].as_str().unwrap_or(""),
                        s["name"].as_str().unwrap_or("")
                    );
                }
            });
        }
        AccountCommand::Delete { id } => {
            client
                .send(
                    reqwest::Method::DELETE,
                    &format!("/integrated-account/{id}"),
                    None,
                )
                .await?;
            println!("deleted account {id}");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_specs() {
        assert_eq!(
            parse_auth("bearer:abc:def", None, vec![]).unwrap(),
            Credentials::Bearer {
                token: "abc:def".into()
            }
        );
        assert_eq!(
            parse_auth("basic:u:p:w", None, vec![]).unwrap(),
            Credentials::Basic {
                username: "u".into(),
                password: "p:w".into()
            }
        );
        assert_eq!(
            parse_auth("header:X-Key:v", None, vec![]).unwrap(),
            Credentials::Header {
                name: "X-Key".into(),
                value: "v".into()
            }
        );
        assert!(matches!(
            parse_auth("oauth2-refresh:id:secret:rt", Some("https://t".into()), vec![]).unwrap(),
            Credentials::Oauth2RefreshToken { refresh_token, .. } if refresh_token == "rt"
        ));
        assert!(parse_auth("bearer:", None, vec![]).is_err());
        assert!(parse_auth("oauth2-client:onlyid", None, vec![]).is_err());
        assert!(
            parse_auth("kerberos:x", None, vec![])
                .unwrap_err()
                .to_string()
                .contains("kerberos")
        );
    }
}
