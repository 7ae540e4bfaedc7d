//! Runs `gpt-deploy secrets ...` against a [`super::github::GitHubStandIn`], with the
//! sentinel secret values of [`super::sentinel`].

use http::Method;

use super::bin::{Output, gpt_deploy};
use super::config_dir::ConfigDir;
use super::github::{GitHubStandIn, TOKEN};

pub const REPO: &str = "acme/gpt-service";
pub const ENV: &str = "production";

/// Runs the binary (see [`super::bin`] for the environment) pointed at the stand-in, with
/// `vars` and, when given, `stdin`, in an empty directory so the built-in configuration is
/// used.
pub async fn run(
    gh: &GitHubStandIn,
    args: &[&str],
    vars: &[(&str, String)],
    stdin: Option<&str>,
) -> Output {
    let mut bin = gpt_deploy(args)
        .env("GITHUB_API_URL", gh.url())
        .env("GITHUB_TOKEN", TOKEN)
        .env("GITHUB_REPOSITORY", REPO)
        .envs(vars.iter().map(|(k, v)| (*k, v.as_str())));
    if let Some(input) = stdin {
        bin = bin.stdin(input);
    }
    bin.output().await
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
