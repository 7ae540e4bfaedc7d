//! The command line on its own: help that lists the environment variables each command
//! reads, grouped top-level help, `version`, shell completion through a real bash, and the
//! forms `--image` accepts.

use crate::support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use support::bin::gpt_deploy;
use support::config_dir::ConfigDir;

fn help(args: &[&str]) -> String {
    let mut all: Vec<&str> = args.to_vec();
    all.push("--help");
    let out = gpt_deploy(all).run();
    out.success();
    out.stdout
}

/// The environment variables named in a help text's "Environment variables:" section.
fn documented(help: &str) -> BTreeSet<String> {
    help.split("Environment variables:")
        .nth(1)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|w| w.chars().all(|c| c.is_ascii_uppercase() || c == '_'))
        .map(str::to_owned)
        .collect()
}

#[test]
fn each_command_lists_the_environment_variables_it_reads() {
    let cases: [(&[&str], &[&str]); 7] = [
        (
            &["serve"],
            &[
                "CLERK_WEBHOOK_SECRET",
                "CLERK_WEBHOOK_SECRET_PREVIOUS",
                "DATABASE_URL",
                "GPT_ENV",
                "LISTEN_ADDR",
                "LOG_FORMAT",
                "RUST_LOG",
            ],
        ),
        (
            &["migrate"],
            &["DATABASE_URL", "MIGRATE_RETRY_FOR", "LOG_FORMAT"],
        ),
        (
            &["cleanup"],
            &["DATABASE_URL", "CLEANUP_RETENTION", "CLEANUP_RETRY_FOR"],
        ),
        (
            &["deploy"],
            &[
                "CLERK_WEBHOOK_SECRET",
                "DATABASE_URL",
                "KUBECONFIG",
                "GITHUB_TOKEN",
                "GPT_DEPLOY_ENV",
                "GITHUB_STEP_SUMMARY",
            ],
        ),
        (&["render"], &["CLERK_WEBHOOK_SECRET", "GPT_DEPLOY_CONFIG"]),
        (
            &["secrets", "check"],
            &[
                "GITHUB_TOKEN",
                "GH_TOKEN",
                "GITHUB_API_URL",
                "GITHUB_REPOSITORY",
            ],
        ),
        (&["validate"], &["GPT_DEPLOY_CONFIG", "GITHUB_ACTIONS"]),
    ];
    for (command, expected) in cases {
        let text = help(command);
        let listed = documented(&text);
        for name in expected {
            assert!(listed.contains(*name), "{command:?} lacks {name}:\n{text}");
        }
    }
    // validate reads no secret, so its help must not suggest it does.
    assert!(!documented(&help(&["validate"])).contains("CLERK_WEBHOOK_SECRET"));
}

/// Every environment variable the code reads (`var("X")`, `var_os("X")`, `env = "X"`)
/// appears in the help of some command.
#[test]
fn every_variable_the_code_reads_is_documented() {
    let mut read = BTreeSet::new();
    let mut files = vec![PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src")];
    while let Some(path) = files.pop() {
        if path.is_dir() {
            files.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
            continue;
        }
        if path.extension().and_then(|e| e.to_str()) != Some("rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        // Only the code before the unit tests: tests set variables of their own.
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        for opener in ["var(\"", "var_os(\"", "env = \""] {
            for piece in code.split(opener).skip(1) {
                let name: String = piece
                    .chars()
                    .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
                    .collect();
                if piece[name.len()..].starts_with('"') && name.len() > 2 {
                    read.insert(name);
                }
            }
        }
    }
    assert!(read.contains("MIGRATE_RETRY_FOR"), "{read:?}");
    let mut all_help = String::new();
    let top = help(&[]);
    let commands: Vec<String> = top
        .lines()
        .filter(|l| l.starts_with("  ") && !l.trim_start().starts_with('-'))
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .filter(|c| {
            c != "help"
                && c != "gpt-deploy"
                && c.chars().all(|ch| ch.is_ascii_lowercase() || ch == '-')
        })
        .collect();
    for command in &commands {
        let text = help(&[command]);
        all_help.push_str(&text);
        if command == "secrets" {
            for sub in ["sync", "check"] {
                all_help.push_str(&help(&[command, sub]));
            }
        }
    }
    let documented = documented_everywhere(&all_help);
    let missing: Vec<&String> = read
        .iter()
        .filter(|name| !documented.contains(*name) && *name != "HOME")
        .collect();
    assert!(missing.is_empty(), "not in any --help: {missing:?}");
}

fn documented_everywhere(all_help: &str) -> BTreeSet<String> {
    all_help
        .split("Environment variables:")
        .skip(1)
        .flat_map(|section| {
            section
                .lines()
                .skip(1)
                .take_while(|l| l.starts_with("  "))
                .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The commands a help text lists, each with the description the list gives it.
fn listed(help: &str) -> Vec<(String, String)> {
    help.lines()
        .take_while(|l| !l.starts_with("Options:"))
        .filter_map(|l| {
            let rest = l.strip_prefix("  ")?;
            if !rest.starts_with(|c: char| c.is_ascii_lowercase()) {
                return None;
            }
            let (name, about) = rest.split_once("  ")?;
            Some((name.to_owned(), about.trim().to_owned()))
        })
        .filter(|(name, _)| name != "help")
        .collect()
}

#[test]
fn every_commands_help_opens_with_what_the_list_says_it_does() {
    // Both come from the doc comment on the command's variant in src/cli.rs; the flags are
    // defined later (clap's `defer`), and a description on an `Args` struct would then
    // replace it in the command's own help.
    let mut checked = Vec::new();
    for parent in [vec![], vec!["secrets"]] {
        for (name, about) in listed(&help(&parent)) {
            let mut words = parent.clone();
            words.push(name.as_str());
            let own = help(&words);
            let first = own
                .lines()
                .take_while(|l| !l.trim().is_empty())
                .map(str::trim)
                .collect::<Vec<_>>()
                .join(" ");
            assert!(
                first.starts_with(&about),
                "`gpt-deploy {} --help` opens with {first:?}; the list says {about:?}",
                words.join(" ")
            );
            checked.push(words.join(" "));
        }
    }
    for expected in [
        "render",
        "deploy",
        "secrets",
        "secrets sync",
        "serve",
        "cleanup",
    ] {
        assert!(
            checked.iter().any(|c| c == expected),
            "{expected} not checked: {checked:?}"
        );
    }
}

#[test]
fn top_level_help_groups_commands_and_shows_examples() {
    let text = help(&[]);
    let position = |needle: &str| {
        text.find(needle)
            .unwrap_or_else(|| panic!("{needle:?} missing from\n{text}"))
    };
    let deploy = position("Deploy (laptop and CI):");
    let github = position("GitHub secrets:");
    let runtime = position("Runtime (inside the image):");
    assert!(deploy < github && github < runtime, "{text}");
    assert!(position("  render ") > deploy && position("  render ") < github);
    assert!(position("  secrets ") > github && position("  secrets ") < runtime);
    assert!(position("  serve ") > runtime);
    assert!(position("Examples:\n  gpt-deploy validate") > runtime);
    assert!(!text.contains("Other commands:"), "{text}");
}

#[test]
fn version_shows_the_commit_and_the_build_date() {
    let out = gpt_deploy(["version"]).run();
    out.success();
    let flag = gpt_deploy(["--version"]).run();
    flag.success();
    assert_eq!(out.stdout, flag.stdout);
    // This test runs from a git checkout: the commit must be the one checked out.
    let head = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    let commit = head.unwrap_or_else(|| "unknown".to_owned());
    let prefix = format!(
        "gpt-deploy {} (commit {commit}, built ",
        env!("CARGO_PKG_VERSION")
    );
    assert!(out.stdout.starts_with(&prefix), "{}", out.stdout);
    let date = out
        .stdout
        .trim_end()
        .strip_prefix(&prefix)
        .unwrap_or_default();
    let date = date.strip_suffix(')').unwrap_or_default();
    assert_eq!(date.len(), 10, "{}", out.stdout);
    assert!(
        chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").is_ok(),
        "{}",
        out.stdout
    );
}

/// Runs bash with the registration script sourced and returns the candidates it offers for
/// `line` (the word being completed is the last, possibly empty).
fn bash_complete(line: &str, envs: &[(&str, &Path)]) -> Vec<String> {
    let exe = PathBuf::from(env!("CARGO_BIN_EXE_gpt-deploy"));
    let dir = exe.parent().unwrap();
    let path = format!(
        "{}:{}",
        dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let script = format!(
        r#"source <(gpt-deploy completions bash) || exit 9
COMP_LINE='{line}'
COMP_POINT=${{#COMP_LINE}}
read -r -a COMP_WORDS <<< "$COMP_LINE"
if [[ "$COMP_LINE" == *' ' ]]; then COMP_WORDS+=(''); fi
COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 ))
COMP_TYPE=9
_clap_complete_gpt_deploy gpt-deploy "${{COMP_WORDS[COMP_CWORD]}}" "${{COMP_WORDS[COMP_CWORD-1]}}"
printf '%s\n' "${{COMPREPLY[@]}}"
"#
    );
    let mut command = std::process::Command::new("bash");
    command
        .args(["--norc", "--noprofile", "-c", &script])
        .env("PATH", path)
        .env_remove("GPT_DEPLOY_CONFIG")
        .env_remove("KUBECONFIG")
        .current_dir(std::env::temp_dir());
    for (key, value) in envs {
        command.env(key, value);
    }
    let output = command.output().expect("run bash");
    assert!(
        output.status.success(),
        "bash failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut words: Vec<String> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|l| l.trim().to_owned())
        .filter(|l| !l.is_empty())
        .collect();
    words.sort();
    words
}

#[test]
fn completion_offers_environments_and_kubeconfig_contexts() {
    let dir = ConfigDir::shipped();
    dir.write(
        "environments/qa.toml",
        "namespace = \"gpt-qa\"\nimage_tag = \"main\"\n",
    );
    let config: &Path = dir.path();
    assert_eq!(
        bash_complete("gpt-deploy render --env ", &[("GPT_DEPLOY_CONFIG", config)]),
        ["development", "production", "qa", "staging"]
    );
    assert_eq!(
        bash_complete("gpt-deploy deploy --env st", &[]),
        ["staging"],
        "the built-in environments without a configuration"
    );
    let kube = tempfile::tempdir().unwrap();
    let kubeconfig = kube.path().join("config");
    std::fs::write(
        &kubeconfig,
        "apiVersion: v1\nkind: Config\nclusters: []\nusers: []\ncontexts:\n- name: aks-prod\n  context: {cluster: c, user: u}\n- name: aks-staging\n  context: {cluster: c, user: u}\n- name: kind-local\n  context: {cluster: c, user: u}\n",
    )
    .unwrap();
    let missing = kube.path().join("missing");
    let list = std::env::join_paths([missing.as_path(), kubeconfig.as_path()]).unwrap();
    let list = PathBuf::from(list);
    assert_eq!(
        bash_complete(
            "gpt-deploy diff --env staging --context aks",
            &[("KUBECONFIG", &list)]
        ),
        ["aks-prod", "aks-staging"]
    );
    // Subcommands complete too.
    assert!(bash_complete("gpt-deploy val", &[]).contains(&"validate".to_owned()));
}

#[test]
fn image_accepts_a_tag_a_digest_or_the_configured_repository() {
    let digest = format!("sha256:{}", "ab12".repeat(16));
    let repository = "gptservice.azurecr.io/gpt-service";
    let image_of = |arg: &str| {
        let out = gpt_deploy(["render", "--env", "production", "--image", arg]).run();
        out.success();
        let line = out
            .stdout
            .lines()
            .find(|l| l.trim_start().starts_with("image: "))
            .unwrap()
            .trim()
            .to_owned();
        let version = out
            .stdout
            .lines()
            .find(|l| l.trim_start().starts_with("app.kubernetes.io/version: "))
            .unwrap()
            .trim()
            .to_owned();
        (line, version)
    };
    assert_eq!(
        image_of("v1.2.4"),
        (
            format!("image: {repository}:v1.2.4"),
            "app.kubernetes.io/version: v1.2.4".to_owned()
        )
    );
    assert_eq!(
        image_of(&format!("@{digest}")),
        (
            format!("image: {repository}@{digest}"),
            "app.kubernetes.io/version: sha256-ab12ab12ab12".to_owned()
        )
    );
    assert_eq!(
        image_of(&format!("{repository}:v2")).0,
        format!("image: {repository}:v2")
    );

    for (arg, says) in [
        (
            "ghcr.io/someone/gpt-service:v2".to_owned(),
            "drop `ghcr.io/someone/gpt-service` and pass only v2".to_owned(),
        ),
        (
            "v1 beta".to_owned(),
            "may hold only letters, digits".to_owned(),
        ),
        (
            "release-".to_owned(),
            "must end with a letter or digit".to_owned(),
        ),
        (
            "@sha256:1234".to_owned(),
            "64 lower-case hex digits".to_owned(),
        ),
        (repository.to_owned(), "names no tag or digest".to_owned()),
    ] {
        let out = gpt_deploy(["render", "--env", "production", "--image", &arg]).run();
        out.expect_code(2);
        assert!(
            out.stderr.contains(&format!("error: --image `{arg}`")),
            "{arg}: {}",
            out.stderr
        );
        assert!(out.stderr.contains(&says), "{arg}: {}", out.stderr);
        assert_eq!(out.stdout, "");
    }
}
