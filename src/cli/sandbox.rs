//! `mcpgate sandbox …`

use clap::Subcommand;

use super::{Client, Target, print};

/// `mcpgate sandbox …`
#[derive(Subcommand)]
pub enum SandboxCommand {
    /// Forget every object a server's sandbox twins created.
    Reset {
        /// Server id.
        server: String,
    },
}

/// Run a `sandbox` subcommand against a running gateway: it holds sandbox
/// state in memory too, so editing the store behind its back would not reset it.
pub async fn run(target: Target, command: SandboxCommand) -> anyhow::Result<()> {
    target.needs_gateway("sandbox")?;
    let client = Client::new(&target)?;
    match command {
        SandboxCommand::Reset { server } => {
            let done = client
                .send(
                    reqwest::Method::DELETE,
                    &format!("/server/{server}/sandbox"),
                    None,
                )
                .await?;
            print(&done, target.output, |d| {
                println!(
                    "reset the sandbox of server {server}: {} object(s) removed",
                    d["removed"]
                )
            });
        }
    }
    Ok(())
}
