//! Every shell script of the project passes shellcheck (warnings and errors).
//!
//! `scripts/test.sh` installs shellcheck; run through it, or put it on PATH.

use std::path::{Path, PathBuf};
use std::process::Command;

const INSTALL_HINT: &str = "scripts/test.sh installs it (apt-get install shellcheck)";

/// Directories that hold no project scripts (build output, dependencies, git's own files).
const SKIPPED: [&str; 3] = [".git", "target", "node_modules"];

/// A shell script: a `#!` line naming sh or bash, or a sourced file with a
/// `# shellcheck shell=` directive on its first line.
fn is_shell_script(path: &Path) -> bool {
    let Ok(text) = std::fs::read(path) else {
        return false;
    };
    let first = text.split(|b| *b == b'\n').next().unwrap_or_default();
    let first = String::from_utf8_lossy(first);
    let shebang = first.starts_with("#!")
        && first
            .split(|c: char| c == '/' || c.is_whitespace())
            .any(|word| word == "sh" || word == "bash");
    shebang || first.starts_with("# shellcheck shell=")
}

fn collect(dir: &Path, found: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("read {}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("directory entry").path();
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        if path.is_dir() {
            if !SKIPPED.contains(&name.as_ref()) {
                collect(&path, found);
            }
        } else if is_shell_script(&path) {
            found.push(path);
        }
    }
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn shell_scripts() -> Vec<PathBuf> {
    let mut found = Vec::new();
    collect(root(), &mut found);
    found.sort();
    found
}

fn shellcheck(files: &[PathBuf]) -> (Option<i32>, String) {
    let output = Command::new("shellcheck")
        .args(["--severity=warning", "--external-sources", "--format=gcc"])
        .args(files)
        .current_dir(root())
        .output()
        .unwrap_or_else(|e| panic!("cannot run `shellcheck` ({e}); {INSTALL_HINT}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.code(), text)
}

#[test]
fn every_shell_script_passes_shellcheck() {
    let scripts = shell_scripts();
    for expected in [
        "scripts/test.sh",
        ".ci/run",
        "tests/cluster/up",
        "tests/cluster/lib.sh",
        "tests/support/ensure-postgres.sh",
    ] {
        assert!(
            scripts.contains(&root().join(expected)),
            "{expected} was not recognised as a shell script; found {scripts:?}"
        );
    }
    let (code, text) = shellcheck(&scripts);
    assert_eq!(code, Some(0), "shellcheck reported problems:\n{text}");
}

#[test]
fn shellcheck_is_really_checking() {
    // A checker that accepts anything would make the test above meaningless.
    let dir = tempfile::tempdir().expect("temporary directory");
    let script = dir.path().join("broken.sh");
    std::fs::write(&script, "#!/usr/bin/env bash\nnever_used=1\n").expect("write script");
    assert!(is_shell_script(&script));
    let (code, text) = shellcheck(&[script]);
    assert_eq!(code, Some(1), "shellcheck must reject the script:\n{text}");
    assert!(
        text.contains("SC2034"),
        "shellcheck must name the unused variable:\n{text}"
    );
}
