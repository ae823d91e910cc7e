//! `mcpgate client-config`: a ready-to-paste snippet for each MCP client.
//!
//! Every snippet sends the token in an `Authorization` header rather than in
//! the URL where the client allows it, so it stays out of proxy logs and
//! shell history. Formats follow each client's current documentation:
//! Claude Desktop runs remote servers through `mcp-remote` over stdio (the
//! header value sits in `env`, which mcp-remote expands in `${AUTH_HEADER}`);
//! Cursor and Windsurf read `mcpServers`; VS Code reads `servers` with
//! `"type": "http"`; the MCP Inspector reads `mcpServers` with
//! `"type": "streamable-http"` through `--config FILE --server NAME`.

use anyhow::bail;
use clap::{Args, ValueEnum};
use serde_json::{Value, json};

/// An MCP client whose configuration format we know.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ClientKind {
    /// Claude Desktop (claude_desktop_config.json), through mcp-remote.
    ClaudeDesktop,
    /// Cursor (~/.cursor/mcp.json or .cursor/mcp.json).
    Cursor,
    /// VS Code (.vscode/mcp.json).
    Vscode,
    /// Windsurf (~/.codeium/windsurf/mcp_config.json).
    Windsurf,
    /// MCP Inspector (a file for `--config FILE --server NAME`).
    Inspector,
}

impl ClientKind {
    /// Every client, in the order hints list them.
    pub const ALL: [ClientKind; 5] = [
        ClientKind::ClaudeDesktop,
        ClientKind::Cursor,
        ClientKind::Vscode,
        ClientKind::Windsurf,
        ClientKind::Inspector,
    ];

    /// The `--for` value.
    pub fn flag(self) -> &'static str {
        match self {
            ClientKind::ClaudeDesktop => "claude-desktop",
            ClientKind::Cursor => "cursor",
            ClientKind::Vscode => "vscode",
            ClientKind::Windsurf => "windsurf",
            ClientKind::Inspector => "inspector",
        }
    }

    /// Where the snippet goes, for the line printed above it.
    fn destination(self) -> &'static str {
        match self {
            ClientKind::ClaudeDesktop => {
                "Claude Desktop: merge into claude_desktop_config.json (Settings → Developer → Edit Config; macOS ~/Library/Application Support/Claude/, Windows %APPDATA%\\Claude\\), then restart Claude. Needs Node.js (npx)."
            }
            ClientKind::Cursor => {
                "Cursor: merge into ~/.cursor/mcp.json (all projects) or .cursor/mcp.json (this project)."
            }
            ClientKind::Vscode => {
                "VS Code: merge into .vscode/mcp.json (or run \"MCP: Open User Configuration\")."
            }
            ClientKind::Windsurf => "Windsurf: merge into ~/.codeium/windsurf/mcp_config.json.",
            ClientKind::Inspector => {
                "MCP Inspector: save as mcp.json, then: npx @modelcontextprotocol/inspector --config mcp.json --server NAME (add --cli --method tools/list for a terminal check)."
            }
        }
    }
}

/// `mcpgate client-config` flags.
#[derive(Args)]
pub struct ClientConfigArgs {
    /// The server's URL (as `server create` printed it) or the gateway's `/mcp`.
    #[arg(long)]
    pub url: String,
    /// The server's token; sent as `Authorization: Bearer …`.
    #[arg(long, env = "MCPGATE_SERVER_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// The client.
    #[arg(long = "for", value_enum)]
    pub client: ClientKind,
    /// The name the client shows for this server.
    #[arg(long, default_value = "mcpgate")]
    pub name: String,
}

/// Where a client connects and with which token.
#[derive(Debug, PartialEq, Eq)]
pub struct Connection {
    /// The URL the client is given.
    pub url: String,
    /// The `Authorization` header value, when the token is not in the URL.
    pub authorization: Option<String>,
}

impl Connection {
    /// From a URL and an optional token. A `…/mcp/<token>` URL with its own
    /// token becomes `…/mcp` plus a header; any other URL is kept as given.
    pub fn new(url: &str, token: Option<&str>) -> anyhow::Result<Self> {
        let url = url.trim();
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            bail!("--url {url:?} must start with http:// or https://");
        }
        let Some(token) = token.map(str::trim).filter(|t| !t.is_empty()) else {
            return Ok(Self {
                url: url.to_owned(),
                authorization: None,
            });
        };
        let url = match url.strip_suffix(token) {
            Some(base) if base.ends_with("/mcp/") => base.trim_end_matches('/').to_owned(),
            _ if url.contains(token) => {
                return Ok(Self {
                    url: url.to_owned(),
                    authorization: None,
                });
            }
            _ => url.to_owned(),
        };
        Ok(Self {
            url,
            authorization: Some(format!("Bearer {token}")),
        })
    }

    fn headers(&self) -> Option<Value> {
        self.authorization
            .as_ref()
            .map(|a| json!({ "Authorization": a }))
    }

    /// Whether mcp-remote needs `--allow-http` (it refuses plain HTTP except
    /// to localhost).
    fn needs_allow_http(&self) -> bool {
        let Some(rest) = self.url.strip_prefix("http://") else {
            return false;
        };
        let host = rest.split(['/', '?']).next().unwrap_or("");
        let host = host.rsplit_once(':').map_or(host, |(h, _)| h);
        !matches!(host, "localhost" | "127.0.0.1" | "[::1]")
    }
}

/// The snippet for `client`, as JSON.
pub fn snippet(client: ClientKind, name: &str, conn: &Connection) -> Value {
    let mut entry = match client {
        ClientKind::ClaudeDesktop => {
            let mut args = vec![json!("-y"), json!("mcp-remote"), json!(conn.url)];
            let mut entry = json!({ "command": "npx" });
            if let Some(auth) = &conn.authorization {
                args.push(json!("--header"));
                args.push(json!("Authorization:${AUTH_HEADER}"));
                entry["env"] = json!({ "AUTH_HEADER": auth });
            }
            if conn.needs_allow_http() {
                args.push(json!("--allow-http"));
            }
            entry["args"] = Value::Array(args);
            entry
        }
        ClientKind::Cursor => json!({ "url": conn.url }),
        ClientKind::Vscode => json!({ "type": "http", "url": conn.url }),
        ClientKind::Windsurf => json!({ "serverUrl": conn.url }),
        ClientKind::Inspector => json!({ "type": "streamable-http", "url": conn.url }),
    };
    if client != ClientKind::ClaudeDesktop
        && let Some(headers) = conn.headers()
    {
        entry["headers"] = headers;
    }
    let top = if client == ClientKind::Vscode {
        "servers"
    } else {
        "mcpServers"
    };
    json!({ top: { name: entry } })
}

/// Print a snippet with a line (on stderr) saying where it goes, so that
/// stdout alone can be redirected into the file.
pub fn print_snippet(client: ClientKind, name: &str, conn: &Connection) {
    eprintln!("{}", client.destination().replace("NAME", name));
    println!("{:#}", snippet(client, name, conn));
}

/// After a token is minted: print the snippets asked for with `--client`,
/// or say how to get one.
pub fn offer(clients: &[ClientKind], name: &str, url: &str, token: &str) {
    let Ok(conn) = Connection::new(url, Some(token)) else {
        return;
    };
    if clients.is_empty() {
        println!("\nConnect a client (each prints a ready-to-paste snippet):");
        for c in ClientKind::ALL {
            println!(
                "  mcpgate client-config --for {} --url {} --token {}",
                c.flag(),
                conn.url,
                token
            );
        }
        return;
    }
    for &client in clients {
        println!();
        print_snippet(client, name, &conn);
    }
}

/// Run `mcpgate client-config`.
pub fn run(args: ClientConfigArgs) -> anyhow::Result<()> {
    let conn = Connection::new(&args.url, args.token.as_deref())?;
    print_snippet(args.client, &args.name, &conn);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "mcpg_abc";

    #[test]
    fn a_path_token_url_becomes_a_header() {
        let conn = Connection::new("http://127.0.0.1:8080/mcp/mcpg_abc", Some(TOKEN)).unwrap();
        assert_eq!(conn.url, "http://127.0.0.1:8080/mcp");
        assert_eq!(conn.authorization.as_deref(), Some("Bearer mcpg_abc"));
    }

    #[test]
    fn other_urls_are_kept() {
        let fruxon = "https://gw.example/v1/tenants/t/integrations/i/mcp:call";
        let conn = Connection::new(fruxon, Some(TOKEN)).unwrap();
        assert_eq!(conn.url, fruxon);
        assert!(conn.authorization.is_some());
        let twin = "http://127.0.0.1:8080/mcp/mcpg_abc:test";
        let conn = Connection::new(twin, Some(TOKEN)).unwrap();
        assert_eq!((conn.url.as_str(), conn.authorization), (twin, None));
        assert!(Connection::new("127.0.0.1:8080/mcp", None).is_err());
    }

    #[test]
    fn claude_desktop_keeps_the_token_in_env() {
        let conn = Connection::new("http://127.0.0.1:8080/mcp/mcpg_abc", Some(TOKEN)).unwrap();
        let s = snippet(ClientKind::ClaudeDesktop, "crm", &conn);
        let entry = &s["mcpServers"]["crm"];
        assert_eq!(entry["command"], "npx");
        assert_eq!(
            entry["args"],
            json!([
                "-y",
                "mcp-remote",
                "http://127.0.0.1:8080/mcp",
                "--header",
                "Authorization:${AUTH_HEADER}"
            ])
        );
        assert_eq!(entry["env"]["AUTH_HEADER"], "Bearer mcpg_abc");
        assert!(!entry["args"].to_string().contains("mcpg_abc"));
    }

    #[test]
    fn plain_http_to_another_host_needs_allow_http() {
        let conn = Connection::new("http://10.0.0.5:8080/mcp", Some(TOKEN)).unwrap();
        let s = snippet(ClientKind::ClaudeDesktop, "x", &conn);
        assert_eq!(s["mcpServers"]["x"]["args"][5], "--allow-http");
        let conn = Connection::new("https://gw.example/mcp", Some(TOKEN)).unwrap();
        let s = snippet(ClientKind::ClaudeDesktop, "x", &conn);
        assert_eq!(s["mcpServers"]["x"]["args"].as_array().unwrap().len(), 5);
    }

    #[test]
    fn each_client_gets_its_own_shape() {
        let conn = Connection::new("https://gw.example/mcp", Some(TOKEN)).unwrap();
        let headers = json!({"Authorization": "Bearer mcpg_abc"});
        assert_eq!(
            snippet(ClientKind::Cursor, "n", &conn),
            json!({"mcpServers": {"n": {"url": "https://gw.example/mcp", "headers": headers}}})
        );
        assert_eq!(
            snippet(ClientKind::Vscode, "n", &conn),
            json!({"servers": {"n": {"type": "http", "url": "https://gw.example/mcp", "headers": headers}}})
        );
        assert_eq!(
            snippet(ClientKind::Windsurf, "n", &conn),
            json!({"mcpServers": {"n": {"serverUrl": "https://gw.example/mcp", "headers": headers}}})
        );
        assert_eq!(
            snippet(ClientKind::Inspector, "n", &conn),
            json!({"mcpServers": {"n": {"type": "streamable-http", "url": "https://gw.example/mcp", "headers": headers}}})
        );
    }
}
