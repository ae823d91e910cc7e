//! How the commands printed as hints are spelled.
//!
//! A person who started the gateway with `cargo run --release -- serve` from
//! a checkout has no `mcpgate` on their PATH, so a hint that says
//! `mcpgate server create …` fails as printed. Every hint is therefore
//! spelled the way this binary was started: `cargo run [--release] --` when it
//! is a build in a Cargo `target/` directory, else the name or path it was
//! run by (`mcpgate`, `./mcpgate`, `/opt/mcpgate/bin/mcpgate`).

use std::sync::OnceLock;

/// The program part of a hint: `cargo run --release --`, `cargo run --`,
/// or the binary as it was invoked.
pub fn program() -> &'static str {
    static PROGRAM: OnceLock<String> = OnceLock::new();
    PROGRAM.get_or_init(|| {
        let exe = std::env::current_exe().ok();
        let argv0 = std::env::args_os().next();
        spell(exe.as_deref(), argv0.as_deref().and_then(|a| a.to_str()))
    })
}

/// A whole hint: the program, then `args` (a subcommand and its flags).
pub fn command(args: &str) -> String {
    format!("{} {args}", program())
}

/// `s` as one shell word: as is when it has nothing a shell treats
/// specially, else in single quotes.
pub fn quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars().all(|c| {
            c.is_ascii_alphanumeric()
                || matches!(c, '/' | '.' | '_' | '-' | '+' | ':' | '=' | '@' | ',')
        });
    if plain {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// The program part for a binary at `exe` started as `argv0`.
fn spell(exe: Option<&std::path::Path>, argv0: Option<&str>) -> String {
    // `target/<profile>/mcpgate`: a Cargo build, run by `cargo run` or by its
    // path inside the checkout; `cargo run` works from the checkout either way.
    let profile_dir = exe
        .and_then(|p| p.parent())
        .filter(|d| {
            d.parent()
                .and_then(|t| t.file_name())
                .is_some_and(|n| n == "target")
        })
        .and_then(|d| d.file_name());
    match profile_dir.and_then(|n| n.to_str()) {
        Some("release") => return "cargo run --release --".to_owned(),
        Some("debug") => return "cargo run --".to_owned(),
        _ => {}
    }
    // As invoked, when that can be pasted back into a shell as one word.
    match argv0 {
        Some(a)
            if !a.is_empty()
                && a.chars().all(|c| {
                    c.is_ascii_alphanumeric() || matches!(c, '/' | '.' | '_' | '-' | '+')
                }) =>
        {
            a.to_owned()
        }
        _ => "mcpgate".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::{quote, spell};

    #[test]
    fn words_are_quoted_only_when_a_shell_needs_it() {
        assert_eq!(
            quote("http://127.0.0.1:8080/mcp"),
            "http://127.0.0.1:8080/mcp"
        );
        assert_eq!(quote("mcpg_AbC-1"), "mcpg_AbC-1");
        assert_eq!(quote("HubSpot read"), "'HubSpot read'");
        assert_eq!(quote("it's"), r"'it'\''s'");
        assert_eq!(quote(""), "''");
    }
    use std::path::Path;

    #[test]
    fn a_cargo_build_is_spelled_as_cargo_run_with_its_profile() {
        let release = Path::new("/src/mcpgate/target/release/mcpgate");
        assert_eq!(
            spell(Some(release), Some("target/release/mcpgate")),
            "cargo run --release --"
        );
        let debug = Path::new("/src/mcpgate/target/debug/mcpgate");
        assert_eq!(spell(Some(debug), Some("x")), "cargo run --");
    }

    #[test]
    fn an_installed_binary_is_spelled_as_it_was_invoked() {
        let installed = Path::new("/usr/local/bin/mcpgate");
        assert_eq!(spell(Some(installed), Some("mcpgate")), "mcpgate");
        assert_eq!(spell(Some(installed), Some("./mcpgate")), "./mcpgate");
        assert_eq!(
            spell(Some(installed), Some("/opt/my tools/mcpgate")),
            "mcpgate",
            "not one shell word"
        );
        assert_eq!(spell(None, None), "mcpgate");
        // A `target` that is not Cargo's profile layout is just a path.
        let other = Path::new("/srv/target/mcpgate");
        assert_eq!(
            spell(Some(other), Some("/srv/target/mcpgate")),
            "/srv/target/mcpgate"
        );
    }
}
