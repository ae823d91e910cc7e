//! `mcpgate doctor`: check an installation and say what to fix.
//!
//! It reads the config and the store the way `serve` would, but never
//! creates anything: a missing store or key file is reported, not made.

use clap::Args;
use std::path::{Path, PathBuf};
use std::time::Duration;
use time::OffsetDateTime;

use crate::config::Config;

/// `mcpgate doctor` flags.
#[derive(Args)]
pub struct DoctorArgs {
    /// Configuration file (TOML), as given to `serve`.
    #[arg(long, env = "MCPGATE_CONFIG")]
    config: Option<PathBuf>,
    /// Data directory (overrides the config file).
    #[arg(long, env = "MCPGATE_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// A running gateway to check (default: http://<listen address>).
    #[arg(long)]
    endpoint: Option<String>,
    /// Seconds to wait for each network check.
    #[arg(long, default_value_t = 5)]
    timeout_secs: u64,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Level {
    Ok,
    Warn,
    Fail,
}

/// The findings, printed as they come.
#[derive(Default)]
struct Report {
    warnings: usize,
    failures: usize,
}

impl Report {
    fn line(&mut self, level: Level, area: &str, what: impl AsRef<str>, fix: Option<&str>) {
        let tag = match level {
            Level::Ok => "ok  ",
            Level::Warn => {
                self.warnings += 1;
                "warn"
            }
            Level::Fail => {
                self.failures += 1;
                "FAIL"
            }
        };
        println!("[{tag}] {area:<9} {}", what.as_ref());
        if let Some(fix) = fix {
            println!("                 fix: {fix}");
        }
    }
    fn ok(&mut self, area: &str, what: impl AsRef<str>) {
        self.line(Level::Ok, area, what, None);
    }
    fn warn(&mut self, area: &str, what: impl AsRef<str>, fix: &str) {
        self.line(Level::Warn, area, what, Some(fix));
    }
    fn fail(&mut self, area: &str, what: impl AsRef<str>, fix: &str) {
        self.line(Level::Fail, area, what, Some(fix));
    }
}

/// Run every check; an error means at least one check failed.
pub async fn run(args: DoctorArgs) -> anyhow::Result<()> {
    let mut report = Report::default();
    let timeout = Duration::from_secs(args.timeout_secs.max(1));
    let Some(config) = check_config(&mut report, &args) else {
        return finish(&report);
    };
    check_clock(&mut report);
    let secrets_ok = check_data_dir(&mut report, &config);
    let targets = if secrets_ok {
        check_store(&mut report, &config).await
    } else {
        Vec::new()
    };
    let http = reqwest::Client::builder()
        .timeout(timeout)
        .build()
        .map_err(|e| anyhow::anyhow!("cannot build an HTTP client: {e}"))?;
    check_gateway(&mut report, &config, args.endpoint.as_deref(), &http).await;
    for (label, url) in targets {
        check_reachable(&mut report, &http, &label, &url).await;
    }
    finish(&report)
}

fn finish(report: &Report) -> anyhow::Result<()> {
    println!(
        "\n{} problem(s), {} warning(s)",
        report.failures, report.warnings
    );
    if report.failures > 0 {
        anyhow::bail!("doctor found {} problem(s)", report.failures);
    }
    Ok(())
}

fn check_config(report: &mut Report, args: &DoctorArgs) -> Option<Config> {
    let shown = args
        .config
        .as_deref()
        .unwrap_or(Path::new(crate::config::DEFAULT_CONFIG))
        .display()
        .to_string();
    let mut config = match Config::load(args.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            report.fail(
                "config",
                format!("{e:#}"),
                "correct the file (docs/configuration.md lists every key)",
            );
            return None;
        }
    };
    if let Some(dir) = &args.data_dir {
        config.data_dir = dir.clone();
    }
    if args.config.is_none() && !Path::new(crate::config::DEFAULT_CONFIG).exists() {
        report.warn(
            "config",
            format!("no {shown}; built-in defaults apply (no toolsets, no bundled integrations)"),
            "pass --config FILE (the repository ships config/mcpgate.toml)",
        );
    } else {
        report.ok("config", format!("{shown} parses"));
    }
    match config.load_toolsets() {
        Ok(t) => {
            let names: Vec<String> = t.iter().map(|t| t.name.clone()).collect();
            if !config.toolsets.is_empty() && !names.contains(&config.mcp.default_toolset) {
                report.warn(
                    "config",
                    format!(
                        "mcp.default_toolset {:?} is not among the loaded toolsets ({})",
                        config.mcp.default_toolset,
                        names.join(", ")
                    ),
                    "set mcp.default_toolset to one of them, or create servers with --toolset",
                );
            } else {
                report.ok("config", format!("{} toolset(s) load", names.len()));
            }
        }
        Err(e) => report.fail(
            "config",
            format!("{e:#}"),
            "fix or remove that toolset file",
        ),
    }
    match config.load_integrations() {
        Ok(i) => report.ok("config", format!("{} bundled integration(s) load", i.len())),
        Err(e) => report.fail(
            "config",
            format!("{e:#}"),
            "fix that definition (docs/integrations.md) or remove it from integrations_dir",
        ),
    }
    if config.admin.token.is_some() {
        report.warn(
            "config",
            "the admin token is written in the config file",
            "move it to MCPGATE_ADMIN_TOKEN (a secret manager or a 0600 environment file)",
        );
    }
    if !config.listen.ip().is_loopback() && config.public_url.is_none() {
        report.warn(
            "config",
            format!(
                "listening on {} without public_url: printed URLs will use that address",
                config.listen
            ),
            "set public_url to the address clients use (e.g. https://mcp.example.com)",
        );
    }
    Some(config)
}

fn check_clock(report: &mut Report) {
    let now = OffsetDateTime::now_utc();
    if now.year() < 2025 {
        report.fail(
            "clock",
            format!("the system clock says {now}"),
            "set the clock (NTP): key expiry, session lifetimes and OAuth tokens depend on it",
        );
    } else {
        report.ok(
            "clock",
            format!("system time {}", mcpgate_gateway::timefmt::rfc3339_ms(now)),
        );
    }
}

/// Data directory and key files; false when the store cannot be opened safely.
fn check_data_dir(report: &mut Report, config: &Config) -> bool {
    let dir = &config.data_dir;
    let Ok(meta) = std::fs::metadata(dir) else {
        report.warn(
            "data",
            format!(
                "{} does not exist yet; `{}` creates it",
                dir.display(),
                crate::hint::command("serve")
            ),
            "start the gateway once (or pass the --data-dir it uses)",
        );
        return false;
    };
    if !meta.is_dir() {
        report.fail(
            "data",
            format!("{} is not a directory", dir.display()),
            "point data_dir / --data-dir at a directory",
        );
        return false;
    }
    let probe = dir.join(".doctor-write-probe");
    match std::fs::write(&probe, b"") {
        Ok(()) => {
            let _ = std::fs::remove_file(&probe);
            report.ok("data", format!("{} is writable", dir.display()));
        }
        Err(e) => report.fail(
            "data",
            format!("cannot write in {}: {e}", dir.display()),
            "give the user that runs mcpgate write access to it",
        ),
    }
    if other_writable(&meta) {
        report.warn(
            "data",
            format!("{} is writable by other users", dir.display()),
            &format!("chmod o-w {}", dir.display()),
        );
    }
    let mut ok = true;
    // Some(valid) when configured; validity by the parser `serve` uses.
    let keys = [
        (
            "secret.key",
            "MCPGATE_SECRET_KEY",
            config
                .secret_key()
                .map(|h| mcpgate_store::MasterKey::from_hex(&h).is_some()),
        ),
        (
            "session.key",
            "MCPGATE_SESSION_SECRET",
            config
                .session_secret()
                .map(|h| mcpgate_gateway::SessionKey::from_hex(&h).is_some()),
        ),
    ];
    for (file, env, configured) in keys {
        if let Some(valid) = configured {
            if valid {
                report.ok("secrets", format!("{env} is set"));
            } else {
                report.fail(
                    "secrets",
                    format!("{env} is not 64 hex characters"),
                    "generate one with `openssl rand -hex 32`",
                );
                ok = false;
            }
            continue;
        }
        let path = dir.join(file);
        match std::fs::metadata(&path) {
            Err(_) => report.warn(
                "secrets",
                format!("{} is missing; `serve` generates it", path.display()),
                "start the gateway once; on several replicas set the env var instead",
            ),
            Ok(m) if group_or_other_readable(&m) => {
                report.fail(
                    "secrets",
                    format!("{} can be read by other users", path.display()),
                    &format!("chmod 600 {}", path.display()),
                );
            }
            Ok(_) => report.ok("secrets", format!("{} is private (0600)", path.display())),
        }
    }
    ok
}

#[cfg(unix)]
fn other_writable(meta: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    meta.permissions().mode() & 0o002 != 0
}

#[cfg(unix)]
fn group_or_other_readable(meta: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    meta.permissions().mode() & 0o077 != 0
}

#[cfg(not(unix))]
fn other_writable(_: &std::fs::Metadata) -> bool {
    false
}

#[cfg(not(unix))]
fn group_or_other_readable(_: &std::fs::Metadata) -> bool {
    false
}

/// Open the store and read it back; returns the upstream URLs to probe.
async fn check_store(report: &mut Report, config: &Config) -> Vec<(String, String)> {
    let path = config.data_dir.join("mcpgate.db");
    if config.store_url().is_none() && !path.exists() {
        report.warn(
            "store",
            format!("no store at {} yet", path.display()),
            "start the gateway once; it creates and migrates the store",
        );
        return Vec::new();
    }
    let store = match crate::open_store(config).await {
        Ok(s) => s,
        Err(e) => {
            let wrong_key = e
                .downcast_ref::<mcpgate_store::StoreError>()
                .is_some_and(|e| matches!(e, mcpgate_store::StoreError::WrongKey));
            let fix = if wrong_key {
                "the sealed credentials need the key the store was created with: use that \
                 MCPGATE_SECRET_KEY (or restore the data directory's original secret.key)"
            } else if config.store_url().is_some() {
                "check store.url / MCPGATE_STORE_URL, that the database server is up and the \
                 role may create tables in it"
            } else {
                "check the file's permissions and free disk space; restore from a backup if it is corrupt"
            };
            report.fail("store", format!("{e:#}"), fix);
            return Vec::new();
        }
    };
    let mut targets = Vec::new();
    match store.load_servers().await {
        Ok(servers) => {
            report.ok(
                "store",
                format!(
                    "{} opens; {} server(s)",
                    store.location(),
                    servers.records.len()
                ),
            );
            unreadable(report, &servers.unreadable);
        }
        Err(e) => report.fail(
            "store",
            format!("cannot read servers: {e}"),
            "see the error",
        ),
    }
    let integrations = match store.load_integrations().await {
        Ok(loaded) => {
            unreadable(report, &loaded.unreadable);
            loaded.records
        }
        Err(_) => Vec::new(),
    };
    if let Ok(keys) = store.load_active_keys().await {
        unreadable(report, &keys.unreadable);
    }
    if let Ok(portals) = store.load_portals().await {
        unreadable(report, &portals.unreadable);
    }
    match store.load_accounts().await {
        Ok(loaded) => {
            let accounts = loaded.records;
            report.ok(
                "store",
                format!(
                    "{} integrated account(s) whose credentials decrypt",
                    accounts.len()
                ),
            );
            unreadable(report, &loaded.unreadable);
            for a in accounts {
                let template = a.base_url.clone().or_else(|| {
                    integrations
                        .iter()
                        .find(|i| i.id == a.integration_id)
                        .map(|i| i.definition.base_url.clone())
                });
                if let Some(Ok(url)) =
                    template.map(|t| mcpgate_upstream::rest::resolve_base_url(&t, &a.context))
                {
                    targets.push((format!("account {}", a.id), url));
                }
            }
        }
        Err(e) => report.fail(
            "store",
            format!("cannot open the integrated accounts' sealed credentials: {e}"),
            "use the MCPGATE_SECRET_KEY (or secret.key) the store was created with",
        ),
    }
    match store.load_upstreams().await {
        Ok(loaded) => {
            unreadable(report, &loaded.unreadable);
            for (u, _) in loaded.records {
                if u.status == "error" {
                    let why = u.error.as_ref().and_then(|e| e.get("message"));
                    report.warn(
                        "upstream",
                        format!(
                            "upstream {} (tenant {}): its last sync failed: {}",
                            u.id,
                            u.tenant,
                            why.and_then(|m| m.as_str()).unwrap_or("no reason recorded")
                        ),
                        "fix the upstream or its registration, then sync it again",
                    );
                }
                targets.push((format!("upstream {}", u.id), u.hostname));
            }
        }
        Err(e) => report.fail(
            "store",
            format!("cannot read the upstream MCP servers: {e}"),
            "use the MCPGATE_SECRET_KEY (or secret.key) the store was created with",
        ),
    }
    targets
}

/// One failure per stored record that does not read: the gateway serves
/// everything else and marks these in error.
fn unreadable(report: &mut Report, rows: &[mcpgate_store::Unreadable]) {
    for u in rows {
        let fix = if u.reason.contains("cannot be opened") {
            "use the MCPGATE_SECRET_KEY (or secret.key) the record was sealed with, or delete it \
             and create it again"
        } else {
            "delete the record through the admin API and create it again, or restore it from a \
             backup; the gateway serves everything else meanwhile"
        };
        report.fail("store", format!("unreadable record: {u}"), fix);
    }
}

async fn check_gateway(
    report: &mut Report,
    config: &Config,
    endpoint: Option<&str>,
    http: &reqwest::Client,
) {
    let endpoint = endpoint
        .map(|e| e.trim_end_matches('/').to_owned())
        .unwrap_or_else(|| format!("http://{}", config.listen));
    match http.get(format!("{endpoint}/readyz")).send().await {
        Ok(r) if r.status().is_success() => {
            let skew = r
                .headers()
                .get(reqwest::header::DATE)
                .and_then(|d| d.to_str().ok())
                .and_then(http_date_skew);
            report.ok("gateway", format!("{endpoint} is ready"));
            if let Some(skew) = skew.filter(|s| *s > 5) {
                report.warn(
                    "clock",
                    format!("the gateway's clock differs from this machine's by {skew} s"),
                    "run NTP on both machines",
                );
            }
        }
        Ok(r) => report.fail(
            "gateway",
            format!("{endpoint}/readyz answered {}", r.status()),
            "read the gateway's log: the store is probably unreachable",
        ),
        Err(_) => {
            if std::net::TcpListener::bind(config.listen).is_ok() {
                report.warn(
                    "gateway",
                    format!(
                        "no gateway answers at {endpoint}; {} is free for `{}`",
                        config.listen,
                        crate::hint::command("serve")
                    ),
                    &format!(
                        "start it with `{}` (or pass --endpoint)",
                        crate::hint::command("serve")
                    ),
                );
            } else {
                report.fail(
                    "gateway",
                    format!(
                        "{} is taken by another program, and no gateway answers at {endpoint}",
                        config.listen
                    ),
                    "stop that program or choose another address with --listen",
                );
            }
        }
    }
}

/// Seconds between an HTTP `Date` and now.
fn http_date_skew(date: &str) -> Option<i64> {
    let format = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    let then = time::PrimitiveDateTime::parse(date, format)
        .ok()?
        .assume_utc();
    Some((OffsetDateTime::now_utc() - then).whole_seconds().abs())
}

async fn check_reachable(report: &mut Report, http: &reqwest::Client, label: &str, url: &str) {
    match http.head(url).send().await {
        Ok(r) => report.ok(
            "upstream",
            format!("{label}: {url} answers ({})", r.status()),
        ),
        Err(e) => {
            let why = if e.is_timeout() {
                "timed out".to_owned()
            } else if e.is_connect() {
                "connection refused or host unknown".to_owned()
            } else {
                e.to_string()
            };
            report.warn(
                "upstream",
                format!("{label}: {url} cannot be reached ({why})"),
                "check the URL, DNS, firewalls and proxies from this machine",
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_dates_parse_into_a_skew() {
        let now = OffsetDateTime::now_utc();
        let format = time::macros::format_description!(
            "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
        );
        let date = (now - time::Duration::seconds(30)).format(format).unwrap();
        let skew = http_date_skew(&date).unwrap();
        assert!((29..=31).contains(&skew), "{skew}");
        assert_eq!(http_date_skew("yesterday"), None);
    }
}
