//! `mcpgate integration …`

use anyhow::Context;
use clap::Subcommand;
use mcpgate_catalog::Integration;
use mcpgate_catalog::openapi::{self, ImportOptions};
use serde_json::{Value, json};
use std::io::Write;
use std::path::PathBuf;

use super::{Client, Target, list_all, print};

/// `mcpgate integration …`
#[derive(Subcommand)]
pub enum IntegrationCommand {
    /// Import an integration from an mcpgate definition or an OpenAPI 3
    /// document (JSON or YAML).
    Import {
        /// The file.
        file: PathBuf,
        /// Integration name (default: the definition's, or from the OpenAPI title).
        #[arg(long)]
        name: Option<String>,
        /// Base URL (default: the definition's, or the OpenAPI document's
        /// first server; a relative or missing one is completed by each
        /// account's base URL).
        #[arg(long)]
        base_url: Option<String>,
        /// List every skipped operation and warning (default: a summary by
        /// reason and the first 20).
        #[arg(long, short)]
        verbose: bool,
    },
    /// List integrations.
    List,
    /// Show an integration with its generated tools.
    Show {
        /// Integration id.
        id: String,
    },
}

/// Run an `integration` subcommand.
pub async fn run(target: Target, command: IntegrationCommand) -> anyhow::Result<()> {
    target.needs_gateway("integration")?;
    let client = Client::new(&target)?;
    match command {
        IntegrationCommand::Import {
            file,
            name,
            base_url,
            verbose,
        } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            let doc = openapi::parse_document(&text)
                .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
            let definition = if openapi::is_openapi(&doc) {
                convert_openapi(&file, &doc, name, base_url, verbose)?
            } else {
                let mut integration = Integration::from_json(doc).map_err(|e| e.in_file(&file))?;
                if let Some(n) = name {
                    integration.name = n;
                }
                if let Some(u) = base_url {
                    integration.base_url = u;
                }
                integration
            };
            let body = json!({ "definition": definition });
            let created = client
                .send(reqwest::Method::POST, "/integration", Some(body))
                .await?;
            print(&created, target.output, |c| {
                let tools = c["tools"].as_array().map_or(0, Vec::len);
                println!(
                    "Imported integration {} (id {}) with {} resources and {tools} tools.",
                    c["name"],
                    c["id"].as_str().unwrap_or(""),
                    c["resources"].as_array().map_or(0, Vec::len),
                );
                println!(
                    "Next: {}",
                    target.hint(&format!(
                        "account create --integration {} --auth …",
                        c["name"].as_str().unwrap_or("")
                    ))
                );
            });
        }
        IntegrationCommand::List => {
            let all = Value::Array(list_all(&client, "/integration").await?);
            print(&all, target.output, |all| {
                println!(
                    "{:<36}  {:<20}  {:<7}  {:>5}  BASE URL",
                    "ID", "NAME", "ORIGIN", "TOOLS"
                );
                for i in all.as_array().into_iter().flatten() {
                    println!(
                        "{:<36}  {:<20}  {:<7}  {:>5}  {}",
                        i["id"].as_str().unwrap_or(""),
                        i["name"].as_str().unwrap_or(""),
                        i["origin"].as_str().unwrap_or(""),
                        i["tools"].as_array().map_or(0, Vec::len),
                        i["base_url"].as_str().unwrap_or(""),
                    );
                }
            });
        }
        IntegrationCommand::Show { id } => {
            let one = client
                .send(reqwest::Method::GET, &format!("/integration/{id}"), None)
                .await?;
            print(&one, target.output, |i| {
                println!(
                    "{} ({}) — {}",
                    i["name"].as_str().unwrap_or(""),
                    i["origin"].as_str().unwrap_or(""),
                    i["base_url"].as_str().unwrap_or("")
                );
                for t in i["tools"].as_array().into_iter().flatten() {
                    println!("  {}", t.as_str().unwrap_or(""));
                }
            });
        }
    }
    Ok(())
}

/// Convert OpenAPI locally, showing progress on stderr for long documents.
fn convert_openapi(
    file: &std::path::Path,
    doc: &Value,
    name: Option<String>,
    base_url: Option<String>,
    verbose: bool,
) -> anyhow::Result<Integration> {
    let started = std::time::Instant::now();
    let mut last_shown = 0;
    let mut progress = |done: usize, total: usize| {
        // A line every 5% (at least every 250 operations) on big documents.
        let step = (total / 20).clamp(1, 250);
        if total >= 200 && (done - last_shown >= step || done == total) {
            last_shown = done;
            eprint!("\rconverting operations: {done}/{total}");
            if done == total {
                eprintln!();
            }
            std::io::stderr().flush().ok();
        }
    };
    let imported = openapi::import(doc, &ImportOptions { name, base_url }, &mut progress)
        .map_err(|e| e.in_file(file))?;
    eprintln!(
        "{}: converted {} of {} operations in {:.1} s",
        file.display(),
        imported.converted,
        imported.operations,
        started.elapsed().as_secs_f64()
    );
    if !imported.skipped.is_empty() {
        let summary: Vec<String> = openapi::skip_summary(&imported.skipped)
            .iter()
            .map(|(reason, n)| format!("{n} {reason}"))
            .collect();
        eprintln!(
            "  skipped {} operations by reason: {}",
            imported.skipped.len(),
            summary.join(", ")
        );
    }
    let shown = if verbose { usize::MAX } else { 20 };
    for w in imported.warnings.iter().take(shown) {
        eprintln!("  warning: {w}");
    }
    if imported.warnings.len() > shown {
        eprintln!(
            "  … and {} more warnings (--verbose lists them all)",
            imported.warnings.len() - shown
        );
    }
    Ok(imported.integration)
}
