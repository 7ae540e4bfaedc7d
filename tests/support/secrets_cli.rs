//! Runs `gpt-deploy secrets ...` against a [`super::github::GitHubStandIn`] with a hermetic
//! environment, and the sentinel values that must never appear in its output.

use std::process::Stdio;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::Method;
use tokio::io::AsyncWriteExt;

use super::config_dir::ConfigDir;
use super::github::{GitHubStandIn, TOKEN};

pub const REPO: &str = "acme/gpt-service";
pub const ENV: &str = "production";

/// Unique sentinel values; none of them may ever appear in any output.
pub struct Sentinels {
    /// A valid `whsec_` Clerk signing secret.
    pub clerk: String,
    /// The key inside it, before base64.
    pub clerk_key: String,
    /// A database URL with a password.
    pub database: String,
}

impl Sentinels {
    pub fn new() -> Self {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let key = format!("sentinel-clerk-{id}");
        Self {
            clerk: format!("whsec_{}", STANDARD.encode(&key)),
            clerk_key: key,
            database: format!("postgres://app:sentinel-db-{id}@db/app"),
        }
    }

    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("CLERK_WEBHOOK_SECRET", self.clerk.clone()),
            ("DATABASE_URL", self.database.clone()),
        ]
    }

    pub fn assert_absent(&self, run: &Run) {
        let all = format!("{}\n{}", run.stdout, run.stderr);
        for needle in [
            self.clerk.as_str(),
            self.clerk_key.as_str(),
            self.clerk.trim_start_matches("whsec_"),
            self.database.as_str(),
            "sentinel-db-",
            TOKEN,
        ] {
            assert!(!all.contains(needle), "output leaks `{needle}`:\n{all}");
        }
    }
}

pub struct Run {
    /// Exit code.
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// Runs the binary with only the variables given (plus PATH), in an empty directory so the
/// built-in configuration is used.
pub async fn run(
    gh: &GitHubStandIn,
    args: &[&str],
    vars: &[(&str, String)],
    stdin: Option<&str>,
) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_gpt-deploy"));
    cmd.args(args)
        .current_dir(dir.path())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("GITHUB_API_URL", gh.url())
        .env("GITHUB_TOKEN", TOKEN)
        .env("GITHUB_REPOSITORY", REPO)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in vars {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("start gpt-deploy");
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().unwrap();
        pipe.write_all(input.as_bytes()).await.unwrap();
        drop(pipe);
    }
    let out = child.wait_with_output().await.unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

pub fn sync_args(extra: &[&'static str]) -> Vec<&'static str> {
    let mut args = vec!["secrets", "sync", "--env", ENV];
    args.extend_from_slice(extra);
    args
}

pub const CHECK: &[&str] = &["secrets", "check", "--env", ENV];

pub fn ready() -> GitHubStandIn {
    let gh = GitHubStandIn::start();
    gh.add_environment(REPO, ENV);
    gh
}

pub fn no_writes(gh: &GitHubStandIn) {
    let writes: Vec<_> = gh
        .requests()
        .into_iter()
        .filter(|r| r.method != Method::GET)
        .collect();
    assert!(writes.is_empty(), "unexpected writes: {writes:?}");
    assert!(gh.uploads().is_empty());
}

pub fn config_args<'a>(cfg: &'a ConfigDir, command: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["secrets", command, "--env", ENV, "--config", cfg.arg()];
    args.extend_from_slice(extra);
    args
}
