//! `mcpgate client-config`: a ready-to-paste snippet for each MCP client.
//!
//! Every snippet sends the token in an `Authorization` header rather than in
//! the URL where the client allows it, so it stays out of proxy logs and
//! shell history, and names its entry after the server (its `--name`).
//! Formats follow each client's current documentation:
//! Claude Desktop runs remote servers through `mcp-remote` over stdio (the
//! header value sits in `env`, which mcp-remote expands in `${AUTH_HEADER}`);
//! Cursor and Windsurf read `mcpServers` and expand `${env:VAR}` in headers
//! (`--token-env`); VS Code reads `servers` with `"type": "http"` and, by
//! default here, asks for the token through an `inputs` prompt
//! (`"password": true`, kept in its secret storage) instead of holding it in
//! the file; the MCP Inspector reads `mcpServers` with
//! `"type": "streamable-http"` through `--config FILE`, or connects ad hoc
//! with `--transport http --server-url URL` (Inspector 2.x needs Node
//! 22.19 or newer).

use anyhow::bail;
use clap::{Args, ValueEnum};
use serde_json::{Value, json};

/// The entry name when the server's name is not known.
pub const DEFAULT_NAME: &str = "mcpgate";

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
    /// MCP Inspector (a file for `--config FILE`).
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

    /// Whether the client expands `${env:VAR}` in header values.
    fn reads_env_in_headers(self) -> bool {
        matches!(self, ClientKind::Cursor | ClientKind::Windsurf)
    }
}

/// How a snippet holds the token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenForm {
    /// Written into the snippet (Claude Desktop: into mcp-remote's `env`).
    Inline,
    /// Cursor and Windsurf: `${env:VAR}`, read from the environment the
    /// client was started with.
    Env(String),
    /// VS Code: an `inputs` entry (`promptString`, `password: true`) that VS
    /// Code asks for once and keeps in its secret storage, referenced as
    /// `${input:ID}`.
    Prompt,
}

impl TokenForm {
    /// The form a client gets unless told otherwise: VS Code prompts (it
    /// works as pasted and keeps the token out of the file); the others get
    /// the token written in, since `${env:…}` only works once the variable is
    /// set where the client starts.
    pub fn default_for(client: ClientKind) -> Self {
        if client == ClientKind::Vscode {
            TokenForm::Prompt
        } else {
            TokenForm::Inline
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
    /// The name the client shows for this server (use the server's name;
    /// `server create` prints the command with it). Default: mcpgate.
    #[arg(long)]
    pub name: Option<String>,
    /// Cursor and Windsurf: refer to the token as `${env:VAR}` instead of
    /// writing it into the file (set VAR where the client starts).
    #[arg(long, value_name = "VAR", conflicts_with = "inline_token")]
    pub token_env: Option<String>,
    /// VS Code: write the token into the file instead of having VS Code ask
    /// for it once and keep it in its secret storage.
    #[arg(long)]
    pub inline_token: bool,
}

/// Where a client connects and with which token.
#[derive(Debug, PartialEq, Eq)]
pub struct Connection {
    /// The URL the client is given.
    pub url: String,
    /// The token, when it goes in an `Authorization` header rather than in
    /// the URL.
    pub token: Option<String>,
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
                token: None,
            });
        };
        let url = match url.strip_suffix(token) {
            Some(base) if base.ends_with("/mcp/") => base.trim_end_matches('/').to_owned(),
            _ if url.contains(token) => {
                return Ok(Self {
                    url: url.to_owned(),
                    token: None,
                });
            }
            _ => url.to_owned(),
        };
        Ok(Self {
            url,
            token: Some(token.to_owned()),
        })
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

/// The id of VS Code's token prompt for the entry `name`: one per entry, so
/// that two servers merged into one file do not share a prompt.
fn input_id(name: &str) -> String {
    let slug: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    let slug = slug.trim_matches('-');
    if slug.is_empty() {
        "mcpgate-token".to_owned()
    } else {
        format!("{slug}-token")
    }
}

/// The snippet for `client`, as JSON.
pub fn snippet(client: ClientKind, name: &str, conn: &Connection, form: &TokenForm) -> Value {
    let bearer = conn.token.as_ref().map(|token| match form {
        TokenForm::Inline => format!("Bearer {token}"),
        TokenForm::Env(var) => format!("Bearer ${{env:{var}}}"),
        TokenForm::Prompt => format!("Bearer ${{input:{}}}", input_id(name)),
    });
    let mut entry = match client {
        ClientKind::ClaudeDesktop => {
            let mut args = vec![json!("-y"), json!("mcp-remote"), json!(conn.url)];
            let mut entry = json!({ "command": "npx" });
            if let Some(auth) = &bearer {
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
        && let Some(auth) = &bearer
    {
        entry["headers"] = json!({ "Authorization": auth });
    }
    if client == ClientKind::Vscode {
        let mut top = json!({ "servers": { name: entry } });
        if bearer.is_some() && *form == TokenForm::Prompt {
            top["inputs"] = json!([{
                "type": "promptString",
                "id": input_id(name),
                "description": format!("mcpgate token for {name} (mcpg_…)"),
                "password": true,
            }]);
        }
        return top;
    }
    json!({ "mcpServers": { name: entry } })
}

/// The line printed (on stderr) above a snippet: where it goes and what
/// else the client needs.
pub fn destination(client: ClientKind, name: &str, conn: &Connection, form: &TokenForm) -> String {
    let env_note = match form {
        TokenForm::Env(var) if conn.token.is_some() => {
            format!(" Set {var} to the token in the environment the client starts with.")
        }
        _ => String::new(),
    };
    match client {
        ClientKind::ClaudeDesktop => "Claude Desktop: merge into claude_desktop_config.json (Settings → Developer → Edit Config; macOS ~/Library/Application Support/Claude/, Windows %APPDATA%\\Claude\\), then restart Claude. Needs Node.js (npx).".to_owned(),
        ClientKind::Cursor => format!(
            "Cursor: merge into ~/.cursor/mcp.json (all projects) or .cursor/mcp.json (this project).{env_note}"
        ),
        ClientKind::Vscode => {
            let prompt = if conn.token.is_some() && *form == TokenForm::Prompt {
                " VS Code asks for the token the first time it starts the server and keeps it in its secret storage."
            } else {
                ""
            };
            format!(
                "VS Code: merge into .vscode/mcp.json (or run \"MCP: Open User Configuration\").{prompt}"
            )
        }
        ClientKind::Windsurf => {
            format!("Windsurf: merge into ~/.codeium/windsurf/mcp_config.json.{env_note}")
        }
        ClientKind::Inspector => {
            let mut adhoc = format!(
                "npx @modelcontextprotocol/inspector --transport http --server-url {}",
                crate::hint::quote(&conn.url)
            );
            if let Some(token) = &conn.token {
                adhoc.push_str(&format!(" --header 'Authorization: Bearer {token}'"));
            }
            // Mode flags (`--cli`) must come first on Inspector 2.x.
            format!(
                "MCP Inspector (2.x needs Node 22.19 or newer), web UI:\n  {adhoc}\nIn the terminal: put --cli right after `inspector` and add --method tools/list. Or save the snippet as mcp.json: npx @modelcontextprotocol/inspector --config mcp.json (terminal: npx @modelcontextprotocol/inspector --cli --config mcp.json --server {} --method tools/list).",
                crate::hint::quote(name)
            )
        }
    }
}

/// Print a snippet with a line (on stderr) saying where it goes, so that
/// stdout alone can be redirected into the file.
pub fn print_snippet(client: ClientKind, name: &str, conn: &Connection, form: &TokenForm) {
    eprintln!("{}", destination(client, name, conn, form));
    println!("{:#}", snippet(client, name, conn, form));
}

/// After a token is minted: print the snippets asked for with `--client`,
/// or the commands that print them (spelled the way this binary was
/// started, for the server's name).
pub fn offer(clients: &[ClientKind], name: &str, url: &str, token: &str) {
    let Ok(conn) = Connection::new(url, Some(token)) else {
        return;
    };
    if clients.is_empty() {
        println!("\nConnect a client (each prints a ready-to-paste snippet):");
        for c in ClientKind::ALL {
            println!(
                "  {}",
                crate::hint::command(&format!(
                    "client-config --for {} --url {} --token {} --name {}",
                    c.flag(),
                    crate::hint::quote(&conn.url),
                    crate::hint::quote(token),
                    crate::hint::quote(name),
                ))
            );
        }
        return;
    }
    for &client in clients {
        println!();
        print_snippet(client, name, &conn, &TokenForm::default_for(client));
    }
}

/// Run `mcpgate client-config`.
pub fn run(args: ClientConfigArgs) -> anyhow::Result<()> {
    let conn = Connection::new(&args.url, args.token.as_deref())?;
    let form = match (&args.token_env, args.inline_token) {
        (Some(var), _) => {
            if !args.client.reads_env_in_headers() {
                bail!(
                    "--token-env works for Cursor and Windsurf, which read ${{env:…}} in headers; {} does not (Claude Desktop keeps the token in mcp-remote's env, VS Code asks for it)",
                    args.client.flag()
                );
            }
            if var.is_empty() || !var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                bail!(
                    "--token-env {var:?} is not an environment variable name (letters, digits, _)"
                );
            }
            TokenForm::Env(var.clone())
        }
        (None, true) => TokenForm::Inline,
        (None, false) => TokenForm::default_for(args.client),
    };
    let name = args.name.as_deref().unwrap_or(DEFAULT_NAME);
    print_snippet(args.client, name, &conn, &form);
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
        assert_eq!(conn.token.as_deref(), Some("mcpg_abc"));
    }

    #[test]
    fn other_urls_are_kept() {
        let fruxon = "https://gw.example/v1/tenants/t/integrations/i/mcp:call";
        let conn = Connection::new(fruxon, Some(TOKEN)).unwrap();
        assert_eq!(conn.url, fruxon);
        assert!(conn.token.is_some());
        let twin = "http://127.0.0.1:8080/mcp/mcpg_abc:test";
        let conn = Connection::new(twin, Some(TOKEN)).unwrap();
        assert_eq!((conn.url.as_str(), conn.token), (twin, None));
        assert!(Connection::new("127.0.0.1:8080/mcp", None).is_err());
    }

    #[test]
    fn claude_desktop_keeps_the_token_in_env() {
        let conn = Connection::new("http://127.0.0.1:8080/mcp/mcpg_abc", Some(TOKEN)).unwrap();
        let s = snippet(ClientKind::ClaudeDesktop, "crm", &conn, &TokenForm::Inline);
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
        let s = snippet(ClientKind::ClaudeDesktop, "x", &conn, &TokenForm::Inline);
        assert_eq!(s["mcpServers"]["x"]["args"][5], "--allow-http");
        let conn = Connection::new("https://gw.example/mcp", Some(TOKEN)).unwrap();
        let s = snippet(ClientKind::ClaudeDesktop, "x", &conn, &TokenForm::Inline);
        assert_eq!(s["mcpServers"]["x"]["args"].as_array().unwrap().len(), 5);
    }

    #[test]
    fn each_client_gets_its_own_shape() {
        let conn = Connection::new("https://gw.example/mcp", Some(TOKEN)).unwrap();
        let headers = json!({"Authorization": "Bearer mcpg_abc"});
        let inline = TokenForm::Inline;
        assert_eq!(
            snippet(ClientKind::Cursor, "n", &conn, &inline),
            json!({"mcpServers": {"n": {"url": "https://gw.example/mcp", "headers": headers}}})
        );
        assert_eq!(
            snippet(ClientKind::Vscode, "n", &conn, &inline),
            json!({"servers": {"n": {"type": "http", "url": "https://gw.example/mcp", "headers": headers}}})
        );
        assert_eq!(
            snippet(ClientKind::Windsurf, "n", &conn, &inline),
            json!({"mcpServers": {"n": {"serverUrl": "https://gw.example/mcp", "headers": headers}}})
        );
        assert_eq!(
            snippet(ClientKind::Inspector, "n", &conn, &inline),
            json!({"mcpServers": {"n": {"type": "streamable-http", "url": "https://gw.example/mcp", "headers": headers}}})
        );
    }

    #[test]
    fn the_safer_forms_keep_the_token_out_of_the_file() {
        let conn = Connection::new("https://gw.example/mcp", Some(TOKEN)).unwrap();
        let env = TokenForm::Env("CRM_TOKEN".into());
        for client in [ClientKind::Cursor, ClientKind::Windsurf] {
            let s = snippet(client, "crm", &conn, &env);
            assert_eq!(
                s["mcpServers"]["crm"]["headers"]["Authorization"],
                "Bearer ${env:CRM_TOKEN}"
            );
            assert!(!s.to_string().contains(TOKEN), "{s}");
        }
        let s = snippet(
            ClientKind::Vscode,
            "HubSpot read",
            &conn,
            &TokenForm::Prompt,
        );
        assert_eq!(
            s,
            json!({
                "inputs": [{"type": "promptString", "id": "hubspot-read-token",
                    "description": "mcpgate token for HubSpot read (mcpg_…)", "password": true}],
                "servers": {"HubSpot read": {"type": "http", "url": "https://gw.example/mcp",
                    "headers": {"Authorization": "Bearer ${input:hubspot-read-token}"}}}
            })
        );
        // No token, no prompt.
        let open = Connection::new("https://gw.example/mcp", None).unwrap();
        let s = snippet(ClientKind::Vscode, "n", &open, &TokenForm::Prompt);
        assert!(s.get("inputs").is_none() && s["servers"]["n"].get("headers").is_none());
        assert_eq!(
            TokenForm::default_for(ClientKind::Vscode),
            TokenForm::Prompt
        );
        assert_eq!(
            TokenForm::default_for(ClientKind::Cursor),
            TokenForm::Inline
        );
    }

    #[test]
    fn the_inspector_line_is_a_command_current_releases_accept() {
        let conn = Connection::new("http://127.0.0.1:8080/mcp/mcpg_abc", Some(TOKEN)).unwrap();
        let line = destination(ClientKind::Inspector, "my gw", &conn, &TokenForm::Inline);
        assert!(
            line.contains(
                "npx @modelcontextprotocol/inspector --transport http --server-url http://127.0.0.1:8080/mcp --header 'Authorization: Bearer mcpg_abc'"
            ),
            "{line}"
        );
        assert!(line.contains("Node 22.19"), "{line}");
        assert!(line.contains("--server 'my gw'"), "{line}");
    }
}
