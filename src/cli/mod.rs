//! Admin commands. They talk to a running gateway's admin API, so its
//! in-memory index sees every change at once; `server` commands also take
//! `--data-dir` to write the store directly (for offline use; a running
//! gateway picks the change up at its next periodic reload).

pub mod account;
pub mod client_config;
pub mod doctor;
pub mod integration;
pub mod key;
pub mod portal;
pub mod sandbox;
pub mod server;
pub mod token;

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use serde_json::Value;
use std::path::PathBuf;

/// The gateway admin commands talk to unless told otherwise.
pub const DEFAULT_ENDPOINT: &str = "http://127.0.0.1:8080";

/// Where admin commands act.
#[derive(Args)]
pub struct Target {
    /// Base URL of a running gateway.
    #[arg(
        long,
        global = true,
        env = "MCPGATE_ENDPOINT",
        default_value = DEFAULT_ENDPOINT
    )]
    pub endpoint: String,
    /// Admin token of that gateway.
    #[arg(
        long,
        global = true,
        env = "MCPGATE_ADMIN_TOKEN",
        hide_env_values = true
    )]
    pub admin_token: Option<String>,
    /// Act on the store in this data directory instead of a running gateway.
    #[arg(long, global = true)]
    pub data_dir: Option<PathBuf>,
    /// Output format.
    #[arg(long, global = true, value_enum, default_value_t = Output::Table)]
    pub output: Output,
    /// Seconds to wait for the gateway's answer to one request (an import
    /// of a large document is converted and stored within it).
    #[arg(long, global = true, env = "MCPGATE_TIMEOUT", default_value_t = 300)]
    pub timeout: u64,
}

impl Target {
    /// Refuse `--data-dir` for commands that only work through the admin API.
    pub fn needs_gateway(&self, command: &str) -> anyhow::Result<()> {
        if self.data_dir.is_some() {
            bail!("`{command}` commands need a running gateway; drop --data-dir");
        }
        Ok(())
    }

    /// A next command to print: spelled the way this binary was started
    /// (see [`crate::hint`]), with `--endpoint` when this command was given
    /// one by flag (an endpoint from `MCPGATE_ENDPOINT` carries over by
    /// itself).
    pub fn hint(&self, args: &str) -> String {
        let from_env = std::env::var("MCPGATE_ENDPOINT").is_ok_and(|e| e == self.endpoint);
        if self.endpoint == DEFAULT_ENDPOINT || from_env {
            crate::hint::command(args)
        } else {
            crate::hint::command(&format!("{args} --endpoint {}", self.endpoint))
        }
    }
}

/// How results are printed.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// JSON, as the admin API returns it.
    Json,
    /// Human-readable text.
    Table,
}

/// A client of the admin API.
pub struct Client {
    http: reqwest::Client,
    endpoint: String,
    token: String,
    timeout: std::time::Duration,
}

impl Client {
    /// From the target flags; fails without an admin token.
    pub fn new(target: &Target) -> anyhow::Result<Self> {
        let Some(token) = target.admin_token.clone() else {
            bail!(
                "no admin token: pass --admin-token or set MCPGATE_ADMIN_TOKEN (the gateway prints a bootstrap token on its first start)"
            );
        };
        let timeout = std::time::Duration::from_secs(target.timeout.max(1));
        Ok(Self {
            http: reqwest::Client::builder()
                .timeout(timeout)
                .build()
                .context("cannot build the HTTP client")?,
            endpoint: target.endpoint.trim_end_matches('/').to_owned(),
            token,
            timeout,
        })
    }

    /// Send a request; a non-2xx answer becomes an error with the API's message.
    pub async fn send(
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
        let response = request.send().await.map_err(|e| self.failed(&e))?;
        let status = response.status();
        let text = response.text().await.map_err(|e| self.failed(&e))?;
        if !status.is_success() {
            let message = serde_json::from_str::<Value>(&text)
                .ok()
                .and_then(|v| api_message(&v))
                .unwrap_or(text);
            if status == reqwest::StatusCode::PAYLOAD_TOO_LARGE {
                // The gateway's message names both sizes and the setting.
                bail!("the gateway refused the request as too large (413): {message}");
            }
            bail!("the gateway answered {status}: {message}");
        }
        if text.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&text).context("the gateway answered with invalid JSON")
    }
}

impl Client {
    /// What a failed exchange was: no answer in time, no connection at
    /// all, or a connection that broke during the exchange.
    fn failed(&self, e: &reqwest::Error) -> anyhow::Error {
        if e.is_timeout() {
            anyhow::anyhow!(
                "the gateway at {} did not answer within {} s (raise --timeout or MCPGATE_TIMEOUT)",
                self.endpoint,
                self.timeout.as_secs()
            )
        } else if e.is_connect() {
            anyhow::anyhow!(
                "cannot reach the gateway at {} (is `{}` running? see --endpoint): {e}",
                self.endpoint,
                crate::hint::command("serve")
            )
        } else {
            anyhow::anyhow!(
                "the connection to the gateway at {} broke during the request: {e}",
                self.endpoint
            )
        }
    }
}

/// The message of an error answer in any of the admin API's three shapes:
/// native `{error: {message}}`, Cloudflare `{errors: [{message}]}` or
/// RFC 7807 `{detail}`.
fn api_message(v: &Value) -> Option<String> {
    if let Some(m) = v["error"]["message"].as_str() {
        return Some(m.to_owned());
    }
    if let Some(errors) = v["errors"].as_array().filter(|e| !e.is_empty()) {
        let all: Vec<String> = errors
            .iter()
            .map(|e| {
                let path = e["path"].as_array().map(|p| {
                    p.iter()
                        .map(|x| x.as_str().map_or_else(|| x.to_string(), str::to_owned))
                        .collect::<Vec<_>>()
                        .join(".")
                });
                match path.filter(|p| !p.is_empty()) {
                    Some(p) => format!("{p}: {}", e["message"].as_str().unwrap_or("")),
                    None => e["message"].as_str().unwrap_or("").to_owned(),
                }
            })
            .collect();
        return Some(all.join("; "));
    }
    v["detail"].as_str().map(str::to_owned)
}

/// Print a JSON value, or a table built by `table` from it.
pub fn print(value: &Value, output: Output, table: impl FnOnce(&Value)) {
    match output {
        Output::Json => println!("{value:#}"),
        Output::Table => table(value),
    }
}

/// Fetch every page of a list endpoint.
pub async fn list_all(client: &Client, path: &str) -> anyhow::Result<Vec<Value>> {
    let mut cursor: Option<String> = None;
    let mut all = Vec::new();
    loop {
        let url = match &cursor {
            Some(c) => format!("{path}?limit=1000&next_cursor={c}"),
            None => format!("{path}?limit=1000"),
        };
        let page = client.send(reqwest::Method::GET, &url, None).await?;
        all.extend(page["result"].as_array().cloned().unwrap_or_default());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return Ok(all),
        }
    }
}
