//! `--perf`: a `perf record` of the gateway over each gateway row, summarised
//! into what dominates it (kernel or user space, and the hottest symbols), so a
//! regression is attributed in the same run that shows it.

use anyhow::{Context, bail};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A `perf record` attached to the gateway for one row.
pub struct Recording {
    child: Child,
    file: PathBuf,
}

/// Start sampling `pid` (with call graphs) for `length`, into `dir`.
pub fn start(pid: u32, dir: &Path, row: usize, length: Duration) -> anyhow::Result<Recording> {
    let file = dir.join(format!("row{row}.perf.data"));
    let child = Command::new("perf")
        .args(["record", "-q", "-F", "999", "-g", "-p"])
        .arg(pid.to_string())
        .arg("-o")
        .arg(&file)
        .args(["--", "sleep"])
        .arg(format!("{:.1}", length.as_secs_f64()))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("cannot run perf (is linux-perf installed?)")?;
    Ok(Recording { child, file })
}

impl Recording {
    /// Wait for the recording to end and summarise it: the share of samples
    /// per binary (kernel, gateway, libc) and the top symbols by self time.
    pub fn summary(self) -> anyhow::Result<String> {
        let out = self.child.wait_with_output()?;
        if !out.status.success() {
            bail!(
                "perf record failed (perf_event_paranoid too strict?): {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        let report = |sort: &str, limit: &str| -> anyhow::Result<Vec<(f64, String)>> {
            let out = Command::new("perf")
                .args(["report", "--stdio", "--no-children", "-g", "none", "--sort"])
                .arg(sort)
                .args(["--percent-limit", limit, "-i"])
                .arg(&self.file)
                .stderr(Stdio::null())
                .output()?;
            Ok(parse(&String::from_utf8_lossy(&out.stdout)))
        };
        let dsos = report("dso", "1")?;
        let symbols = report("sym", "1.5")?;
        let mut text = String::from("  by binary: ");
        text.push_str(
            &dsos
                .iter()
                .map(|(pct, dso)| format!("{dso} {pct:.0}%"))
                .collect::<Vec<_>>()
                .join(", "),
        );
        text.push_str("\n  hottest symbols (self time):");
        for (pct, sym) in symbols.iter().take(12) {
            text.push_str(&format!("\n    {pct:5.1}%  {sym}"));
        }
        Ok(text)
    }
}

/// The `(percent, name)` lines of a `perf report --stdio` listing.
fn parse(report: &str) -> Vec<(f64, String)> {
    report
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (pct, rest) = l.trim().split_once('%')?;
            let pct: f64 = pct.trim().parse().ok()?;
            // Symbol lines read "[k] name" or "[.] name"; keep the marker.
            Some((pct, rest.trim().to_owned()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn reads_percent_lines_and_skips_comments() {
        let report =
            "# Samples: 10K\n#\n    41.20%  [kernel.kallsyms]\n     3.05%  [.] _int_malloc\n\n";
        assert_eq!(
            parse(report),
            vec![
                (41.2, "[kernel.kallsyms]".to_owned()),
                (3.05, "[.] _int_malloc".to_owned())
            ]
        );
    }
}
