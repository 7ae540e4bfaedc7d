//! Rebuilds when the embedded configuration or the migrations change, including files added
//! or removed (include_dir and sqlx::migrate! only track the files that existed at the last
//! build), and records the git commit and the build date for `gpt-deploy version`.
//!
//! The commit comes from `GPT_DEPLOY_GIT_COMMIT` (an image build passes it, as the build
//! context has no `.git`), else from `git`; from a source tarball without either it is
//! `unknown`. The date honours `SOURCE_DATE_EPOCH` for reproducible builds.

use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

fn main() {
    for path in ["deploy.toml", "environments", "templates", "migrations"] {
        println!("cargo:rerun-if-changed={path}");
    }
    println!("cargo:rerun-if-env-changed=GPT_DEPLOY_GIT_COMMIT");
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");

    let commit = std::env::var("GPT_DEPLOY_GIT_COMMIT")
        .ok()
        .map(|c| c.trim().to_owned())
        .filter(|c| !c.is_empty())
        .or_else(git_commit)
        .unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=GPT_DEPLOY_GIT_COMMIT={commit}");

    let seconds = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs())
        });
    println!("cargo:rustc-env=GPT_DEPLOY_BUILD_DATE={}", date(seconds));

    // Start-up cost: a position-independent executable of this size carries ~36,000
    // relative relocations that the loader applies at every start, writing (and so
    // copying) 0.6 MB of pages. Linked position-dependent there are none: measured
    // ~160 fewer page faults and ~30% less CPU for `--version`. The executable's own
    // addresses are then fixed (shared libraries, heap and stack stay randomised);
    // GPT_DEPLOY_PIE=1 at build time keeps the PIE link.
    println!("cargo:rerun-if-env-changed=GPT_DEPLOY_PIE");
    let linux = std::env::var("CARGO_CFG_TARGET_OS").is_ok_and(|os| os == "linux");
    let pie = std::env::var("GPT_DEPLOY_PIE").is_ok_and(|v| v == "1");
    if linux && !pie {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }

    // Start-up cost, continued: the code a short command runs is spread over the 21 MB of
    // .text, and every 64 kB stretch it touches costs a page fault. link/startup.order
    // (written by scripts/startup-order.sh) names those functions; the linker places them
    // side by side. Names it does not find (code changed since) are skipped, so a stale
    // file costs only speed. Rust's default linker on this target is LLD, which reads it;
    // GPT_DEPLOY_STARTUP_ORDER=0 leaves it out (for another linker).
    println!("cargo:rerun-if-changed=link/startup.order");
    println!("cargo:rerun-if-env-changed=GPT_DEPLOY_STARTUP_ORDER");
    let lld_default = std::env::var("TARGET").is_ok_and(|t| t == "x86_64-unknown-linux-gnu");
    let wanted = !std::env::var("GPT_DEPLOY_STARTUP_ORDER").is_ok_and(|v| v == "0");
    let order = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("link/startup.order");
    if lld_default && wanted && order.is_file() {
        println!(
            "cargo:rustc-link-arg-bins=-Wl,--symbol-ordering-file={},--no-warn-symbol-ordering",
            order.display()
        );
    }

    // scripts/startup-order.sh names the functions of the shipped (stripped) build from the
    // linker's map: GPT_DEPLOY_LINK_MAP=<file> writes it. A link argument leaves every
    // crate's symbol names as they are, where other profile settings (keeping symbols,
    // line tables) would change their hashes.
    println!("cargo:rerun-if-env-changed=GPT_DEPLOY_LINK_MAP");
    if let Some(map) = std::env::var_os("GPT_DEPLOY_LINK_MAP").filter(|m| !m.is_empty()) {
        println!(
            "cargo:rustc-link-arg-bins=-Wl,-Map={}",
            map.to_string_lossy()
        );
    }
}

fn git(args: &[&str]) -> Option<String> {
    let output = Command::new("git").args(args).output().ok()?;
    if !output.status.success() {
        return None;
    }
    let text = String::from_utf8(output.stdout).ok()?.trim().to_owned();
    (!text.is_empty()).then_some(text)
}

/// The short commit; also asks Cargo to rerun when HEAD moves (a commit, a checkout).
fn git_commit() -> Option<String> {
    let commit = git(&["rev-parse", "--short=12", "HEAD"])?;
    let path = |name: &str| git(&["rev-parse", "--git-path", name]).map(std::path::PathBuf::from);
    let mut watched: Vec<std::path::PathBuf> = ["HEAD", "packed-refs"]
        .into_iter()
        .filter_map(path)
        .collect();
    // The branch's directory, which Cargo scans file by file: it covers the branch's own
    // file, also when a fresh clone keeps the branch in packed-refs and the file appears
    // only with the next commit.
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]).and_then(|b| path(&b)) {
        watched.extend(branch.parent().map(std::path::Path::to_path_buf));
    }
    // Only what exists: Cargo takes a missing path as changed and would rebuild the crate
    // on every run.
    for file in watched.iter().filter(|p| p.exists()) {
        println!("cargo:rerun-if-changed={}", file.display());
    }
    Some(commit)
}

/// `YYYY-MM-DD` (UTC) of a Unix time, by the days-to-civil algorithm (no date crate needed).
fn date(seconds: u64) -> String {
    let days = i64::try_from(seconds / 86_400).unwrap_or(0);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}
