//! The command line as people meet it: the top-level help with commands grouped by face, the
//! environment variables each command reads (appended to its `--help`), and shell
//! completion that offers the environment names for `--env` and the kubeconfig's contexts
//! for `--context`.
//!
//! Groups and variables are tables matched by command name at run time, so a new command
//! shows up in the help (under "Other commands" until it is placed) without touching this
//! file.

use std::ffi::OsStr;
use std::fmt::Write as _;

use clap::CommandFactory;
use clap_complete::engine::CompletionCandidate;

use crate::cli::Cli;

/// The top-level groups, in order; a command not listed goes under "Other commands".
const GROUPS: [(&str, &[&str]); 4] = [
    (
        "Deploy (laptop and CI)",
        &[
            "render",
            "validate",
            "preview",
            "diff",
            "drift",
            "apply",
            "deploy",
            "rollback",
            "status",
            "history",
            "cleanup-now",
            "uninstall",
        ],
    ),
    ("GitHub secrets", &["secrets"]),
    (
        "Runtime (inside the image)",
        &["serve", "cleanup", "migrate"],
    ),
    ("Setup", &["completions", "version", "help"]),
];

/// Examples at the end of the top-level help.
const EXAMPLES: &str = "\
Examples:
  gpt-deploy validate
  gpt-deploy render --env production
  gpt-deploy diff --env staging
  gpt-deploy deploy --env production --image v1.2.4
  CLERK_WEBHOOK_SECRET=whsec_... gpt-deploy secrets sync --env production
  gpt-deploy help deploy";

/// The operator commands that read the configuration.
const CONFIGURED: &[&str] = &[
    "render",
    "validate",
    "preview",
    "diff",
    "drift",
    "apply",
    "deploy",
    "rollback",
    "status",
    "history",
    "cleanup-now",
    "uninstall",
    "secrets sync",
    "secrets check",
];
/// The operator commands that talk to a cluster.
const CLUSTER: &[&str] = &[
    "diff",
    "drift",
    "apply",
    "deploy",
    "rollback",
    "status",
    "history",
    "cleanup-now",
    "uninstall",
];
/// The commands that put secret values into the rendered Secret.
const SECRET_VALUES: &[&str] = &["render", "diff", "drift", "apply", "deploy"];
/// The commands that call the GitHub API.
const GITHUB: &[&str] = &["secrets sync", "secrets check", "deploy", "preview"];
/// The runtime commands.
const RUNTIME: &[&str] = &["serve", "cleanup", "migrate"];
/// Every command that logs.
const ALL: &[&str] = &[
    "render",
    "validate",
    "preview",
    "diff",
    "drift",
    "apply",
    "deploy",
    "rollback",
    "status",
    "history",
    "cleanup-now",
    "uninstall",
    "secrets sync",
    "secrets check",
    "serve",
    "cleanup",
    "migrate",
];

/// One environment variable: its name, what it does, and the commands that read it.
struct Var {
    name: &'static str,
    what: &'static str,
    commands: &'static [&'static str],
}

/// Every environment variable the binary reads (a test checks the code against this list).
const VARIABLES: &[Var] = &[
    Var {
        name: "GPT_DEPLOY_CONFIG",
        what: "configuration directory, as --config",
        commands: CONFIGURED,
    },
    Var {
        name: "GPT_DEPLOY_ENV",
        what: "environment, as --env",
        commands: &[
            "render",
            "diff",
            "drift",
            "apply",
            "deploy",
            "rollback",
            "status",
            "history",
            "cleanup-now",
            "uninstall",
            "secrets sync",
            "secrets check",
        ],
    },
    Var {
        name: "CLERK_WEBHOOK_SECRET",
        what: "Clerk signing secret (whsec_...) for the Secret; checked before any write",
        commands: SECRET_VALUES,
    },
    Var {
        name: "DATABASE_URL",
        what: "PostgreSQL URL for the Secret; checked before any write",
        commands: SECRET_VALUES,
    },
    Var {
        name: "CLERK_WEBHOOK_SECRET",
        what: "value to upload (names come from [[app.secrets]] in deploy.toml)",
        commands: &["secrets sync"],
    },
    Var {
        name: "DATABASE_URL",
        what: "value to upload (names come from [[app.secrets]] in deploy.toml)",
        commands: &["secrets sync"],
    },
    Var {
        name: "KUBECONFIG",
        what: "kubeconfig file(s), ':'-separated, unless --kubeconfig [default: ~/.kube/config]",
        commands: CLUSTER,
    },
    Var {
        name: "KUBERNETES_SERVICE_HOST",
        what: "inside a pod without kubeconfig: use the pod's service account",
        commands: CLUSTER,
    },
    Var {
        name: "GITHUB_TOKEN",
        what: "GitHub token (GH_TOKEN is read when it is unset); deploy uses it only with --check-github-secrets",
        commands: GITHUB,
    },
    Var {
        name: "GH_TOKEN",
        what: "GitHub token, when GITHUB_TOKEN is unset",
        commands: GITHUB,
    },
    Var {
        name: "GITHUB_API_URL",
        what: "GitHub API base [default: https://api.github.com]",
        commands: GITHUB,
    },
    Var {
        name: "GITHUB_REPOSITORY",
        what: "owner/name, unless --repo [default: deploy.toml's github_repository]",
        commands: GITHUB,
    },
    Var {
        name: "GITHUB_ACTIONS",
        what: "true: errors and warnings also as workflow annotations",
        commands: CONFIGURED,
    },
    Var {
        name: "GITHUB_STEP_SUMMARY",
        what: "file the markdown summary of the run is appended to",
        commands: &[
            "apply",
            "deploy",
            "rollback",
            "preview",
            "secrets sync",
            "secrets check",
        ],
    },
    Var {
        name: "GITHUB_SHA",
        what: "the git commit recorded in the release history",
        commands: &["apply", "deploy", "rollback"],
    },
    Var {
        name: "GITHUB_ACTOR",
        what: "who the release history records [default: USER, LOGNAME, USERNAME]",
        commands: &["apply", "deploy", "rollback"],
    },
    Var {
        name: "GITHUB_EVENT_PATH",
        what: "with --comment and no --pr: the workflow event naming the pull request",
        commands: &["preview"],
    },
    Var {
        name: "GITHUB_SERVER_URL",
        what: "with GITHUB_REPOSITORY and GITHUB_RUN_ID: links a cut comment to the run's summary",
        commands: &["preview"],
    },
    Var {
        name: "GITHUB_RUN_ID",
        what: "see GITHUB_SERVER_URL",
        commands: &["preview"],
    },
    Var {
        name: "NO_COLOR",
        what: "set: no colour on a terminal either, as --no-color",
        commands: ALL,
    },
    Var {
        name: "CLERK_WEBHOOK_SECRET",
        what: "svix signing secret (whsec_...) that verifies deliveries; required unless GPT_ENV=development",
        commands: &["serve"],
    },
    Var {
        name: "CLERK_WEBHOOK_SECRET_PREVIOUS",
        what: "the signing secret before a rotation, still accepted",
        commands: &["serve"],
    },
    Var {
        name: "GPT_ENV",
        what: "development: allows running without CLERK_WEBHOOK_SECRET",
        commands: &["serve"],
    },
    Var {
        name: "DATABASE_URL",
        what: "PostgreSQL URL, postgres://user:password@host:5432/dbname (required)",
        commands: RUNTIME,
    },
    Var {
        name: "LISTEN_ADDR",
        what: "address to listen on, as --listen",
        commands: &["serve"],
    },
    Var {
        name: "SHUTDOWN_DELAY",
        what: "as --shutdown-delay",
        commands: &["serve"],
    },
    Var {
        name: "SHUTDOWN_TIMEOUT",
        what: "as --shutdown-timeout",
        commands: &["serve"],
    },
    Var {
        name: "DATABASE_TIMEOUT",
        what: "as --database-timeout",
        commands: &["serve"],
    },
    Var {
        name: "DATABASE_STATEMENT_TIMEOUT",
        what: "as --database-statement-timeout",
        commands: &["serve"],
    },
    Var {
        name: "DATABASE_LOCK_TIMEOUT",
        what: "as --database-lock-timeout",
        commands: &["serve"],
    },
    Var {
        name: "HEADER_READ_TIMEOUT",
        what: "as --header-read-timeout",
        commands: &["serve"],
    },
    Var {
        name: "BODY_READ_TIMEOUT",
        what: "as --body-read-timeout",
        commands: &["serve"],
    },
    Var {
        name: "HANDLER_TIMEOUT",
        what: "as --handler-timeout",
        commands: &["serve"],
    },
    Var {
        name: "MAX_CONCURRENT_REQUESTS",
        what: "as --max-concurrent-requests",
        commands: &["serve"],
    },
    Var {
        name: "BODY_MEMORY_MIB",
        what: "as --body-memory-mib",
        commands: &["serve"],
    },
    Var {
        name: "MAX_CONNECTIONS",
        what: "as --max-connections",
        commands: &["serve"],
    },
    Var {
        name: "DATABASE_TLS",
        what: "insecure-allow: accept an sslmode weaker than verify-full in production and staging",
        commands: RUNTIME,
    },
    Var {
        name: "DATABASE_CA_FILE",
        what: "PEM file of CA certificates trusted for the database server, beside the webpki roots",
        commands: RUNTIME,
    },
    Var {
        name: "CLEANUP_RETENTION",
        what: "as --retention",
        commands: &["cleanup"],
    },
    Var {
        name: "CLEANUP_BATCH_SIZE",
        what: "as --batch-size",
        commands: &["cleanup"],
    },
    Var {
        name: "CLEANUP_LIMIT",
        what: "as --limit",
        commands: &["cleanup"],
    },
    Var {
        name: "CLEANUP_STATEMENT_TIMEOUT",
        what: "as --statement-timeout",
        commands: &["cleanup"],
    },
    Var {
        name: "CLEANUP_RETRY_FOR",
        what: "as --retry-for",
        commands: &["cleanup"],
    },
    Var {
        name: "CLEANUP_WALK",
        what: "as --walk",
        commands: &["cleanup"],
    },
    Var {
        name: "MIGRATE_RETRY_FOR",
        what: "how long an unreachable database is retried [default: 60s]",
        commands: &["migrate"],
    },
    Var {
        name: "LOG_FORMAT",
        what: "json or text [default: text on a terminal; json for serve, cleanup and migrate elsewhere]",
        commands: ALL,
    },
    Var {
        name: "RUST_LOG",
        what: "log filter, e.g. debug or gpt_deploy=debug",
        commands: ALL,
    },
];

/// Parses the process's command line (exits with clap's usage error, exit 2, on a bad one).
/// A bad value that came from an environment variable is reported under that variable's
/// name, and where every value came from is recorded for [`origin`].
#[must_use]
pub fn parse() -> Cli {
    use clap::FromArgMatches as _;
    // The derive definitions parse; the help sections (groups, environment variables) are
    // only read when clap prints help or an error, so they are built only then: they cost
    // more than the parse itself, on every start.
    let mut cmd = Cli::command();
    let matches = match cmd.try_get_matches_from_mut(std::env::args_os()) {
        Ok(matches) => matches,
        // `--version` prints no help section.
        Err(e) if e.kind() == clap::error::ErrorKind::DisplayVersion => e.exit(),
        Err(_) => {
            cmd = command();
            match cmd.try_get_matches_from_mut(std::env::args_os()) {
                Ok(matches) => matches,
                Err(e) => name_the_variable(&mut cmd, e).exit(),
            }
        }
    };
    record_origins(&cmd, &matches);
    Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
}

/// Where a flag's value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// The command line: `--listen`.
    Flag(String),
    /// The environment variable behind the flag: `LISTEN_ADDR`.
    Env(String),
    /// Neither: the default of `--listen` (environment variable `LISTEN_ADDR`).
    Default {
        /// The flag.
        flag: String,
        /// Its environment variable.
        env: String,
    },
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::Flag(flag) => f.write_str(flag),
            Origin::Env(env) => f.write_str(env),
            Origin::Default { flag, env } => write!(f, "the default; set {flag} or {env}"),
        }
    }
}

/// `(long flag, environment variable, where the value came from)` of the command run.
static ORIGINS: std::sync::OnceLock<Vec<(String, String, Option<clap::parser::ValueSource>)>> =
    std::sync::OnceLock::new();

/// Where the value of `--long` came from, for messages that name it; `--long` itself when
/// the command line was not parsed by [`parse`] (tests, library use).
#[must_use]
pub(crate) fn origin(long: &str) -> Origin {
    use clap::parser::ValueSource;
    let flag = format!("--{long}");
    let found = ORIGINS
        .get()
        .and_then(|all| all.iter().find(|(l, _, _)| l == long));
    match found {
        Some((_, env, Some(ValueSource::EnvVariable))) => Origin::Env(env.clone()),
        Some((_, env, Some(ValueSource::DefaultValue) | None)) => Origin::Default {
            flag,
            env: env.clone(),
        },
        _ => Origin::Flag(flag),
    }
}

/// Records where each flag that has an environment variable got its value, along the
/// subcommands that were run.
fn record_origins(cmd: &clap::Command, matches: &clap::ArgMatches) {
    let mut found = Vec::new();
    let (mut cmd, mut matches) = (cmd, matches);
    loop {
        for arg in cmd.get_arguments() {
            if let (Some(long), Some(env)) = (arg.get_long(), arg.get_env()) {
                found.push((
                    long.to_owned(),
                    env.to_string_lossy().into_owned(),
                    matches.value_source(arg.get_id().as_str()),
                ));
            }
        }
        let Some((name, sub_matches)) = matches.subcommand() else {
            break;
        };
        let Some(sub) = cmd.find_subcommand(name) else {
            break;
        };
        (cmd, matches) = (sub, sub_matches);
    }
    let _ = ORIGINS.set(found);
}

/// Rewrites clap's "invalid value '…' for '--listen <LISTEN>'" as "… for LISTEN_ADDR" when
/// the value came from that environment variable (the flag was not on the command line),
/// so the person looks where the value really is.
fn name_the_variable(cmd: &mut clap::Command, e: clap::Error) -> clap::Error {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    if !matches!(
        e.kind(),
        ErrorKind::ValueValidation | ErrorKind::InvalidValue
    ) {
        return e;
    }
    let (Some(ContextValue::String(arg)), Some(ContextValue::String(value))) = (
        e.get(ContextKind::InvalidArg),
        e.get(ContextKind::InvalidValue),
    ) else {
        return e;
    };
    let Some(long) = arg
        .strip_prefix("--")
        .and_then(|a| a.split([' ', '=']).next())
    else {
        return e;
    };
    let flag = format!("--{long}");
    let on_command_line = std::env::args_os().any(|a| {
        let a = a.to_string_lossy();
        a == flag || a.starts_with(&format!("{flag}="))
    });
    if on_command_line {
        return e;
    }
    let mut names = Vec::new();
    cmd.build(); // every subcommand's flags, not only the invoked one's (`defer`)
    collect_env_names(cmd, long, &mut names);
    names.sort_unstable();
    names.dedup();
    let names: Vec<String> = names
        .into_iter()
        .filter(|n| std::env::var_os(n).is_some_and(|v| v.to_string_lossy() == value.as_str()))
        .collect();
    let [env] = names.as_slice() else {
        return e;
    };
    let reason = match (e.kind(), e.get(ContextKind::ValidValue)) {
        (ErrorKind::InvalidValue, Some(ContextValue::Strings(valid))) => {
            format!("possible values: {}", valid.join(", "))
        }
        _ => std::error::Error::source(&e).map_or_else(String::new, ToString::to_string),
    };
    let message = format!(
        "invalid value '{value}' in the environment variable {env} (the value of {flag}): {reason}\n"
    );
    clap::Error::raw(ErrorKind::ValueValidation, message).with_cmd(cmd)
}

/// The environment variables of every `--long` flag in `cmd` and its subcommands.
fn collect_env_names(cmd: &clap::Command, long: &str, out: &mut Vec<String>) {
    for arg in cmd.get_arguments() {
        if arg.get_long() == Some(long)
            && let Some(env) = arg.get_env()
        {
            out.push(env.to_string_lossy().into_owned());
        }
    }
    for sub in cmd.get_subcommands() {
        collect_env_names(sub, long, out);
    }
}

/// The full command line: the derive definitions plus grouped help and environment sections.
#[must_use]
pub(crate) fn command() -> clap::Command {
    let cmd = with_environment(Cli::command(), "");
    let groups = grouped_commands(&cmd);
    cmd.help_template(format!(
        "{{before-help}}{{about-with-newline}}\n{{usage-heading}} {{usage}}\n\n{groups}Options:\n{{options}}{{after-help}}"
    ))
    .after_help(EXAMPLES)
}

/// Appends "Environment variables:" to the help of every (sub)command that reads some.
fn with_environment(cmd: clap::Command, path: &str) -> clap::Command {
    let names: Vec<String> = cmd
        .get_subcommands()
        .map(|c| c.get_name().to_owned())
        .collect();
    let mut cmd = cmd;
    for name in names {
        let sub_path = if path.is_empty() {
            name.clone()
        } else {
            format!("{path} {name}")
        };
        cmd = cmd.mut_subcommand(&name, |sub| {
            let sub = with_environment(sub, &sub_path);
            let vars: Vec<&Var> = VARIABLES
                .iter()
                .filter(|v| v.commands.contains(&sub_path.as_str()))
                .collect();
            if vars.is_empty() {
                return sub;
            }
            let width = vars.iter().map(|v| v.name.len()).max().unwrap_or(0);
            let mut text = String::from("Environment variables:");
            for var in vars {
                // Wrapped here, with a hanging indent: clap would wrap without one.
                let lines = wrap(var.what, HELP_WIDTH.saturating_sub(width + 4).max(30));
                let indent = " ".repeat(width + 4);
                let _ = write!(
                    text,
                    "\n  {:width$}  {}",
                    var.name,
                    lines.join(&format!("\n{indent}"))
                );
            }
            let help = match sub.get_after_help() {
                Some(existing) => format!("{existing}\n\n{text}"),
                None => text,
            };
            sub.after_help(help)
        });
    }
    cmd
}

/// Width the environment sections are wrapped to (clap's default for help that is not
/// printed to a terminal is 100 columns).
const HELP_WIDTH: usize = 96;

/// Splits `text` into lines of at most `width` characters at spaces.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    for word in text.split(' ') {
        if !line.is_empty() && line.len() + 1 + word.len() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    lines.push(line);
    lines
}

/// The subcommand list of the top-level help, one section per group.
fn grouped_commands(cmd: &clap::Command) -> String {
    let mut entries: Vec<(String, String)> = cmd
        .get_subcommands()
        .filter(|c| !c.is_hide_set())
        .map(|c| {
            let about = c.get_about().map(ToString::to_string).unwrap_or_default();
            (c.get_name().to_owned(), about)
        })
        .collect();
    entries.push((
        "help".to_owned(),
        "Print this message or the help of the given command".to_owned(),
    ));
    let width = entries.iter().map(|(n, _)| n.len()).max().unwrap_or(0);
    let placed: Vec<&str> = GROUPS
        .iter()
        .flat_map(|(_, names)| names.iter().copied())
        .collect();
    let other: Vec<&str> = entries
        .iter()
        .map(|(n, _)| n.as_str())
        .filter(|n| !placed.contains(n))
        .collect();
    let mut text = String::new();
    let sections = GROUPS
        .iter()
        .map(|(heading, names)| (*heading, names.to_vec()))
        .chain(std::iter::once(("Other commands", other)));
    for (heading, names) in sections {
        let lines: Vec<String> = names
            .iter()
            .filter_map(|name| entries.iter().find(|(n, _)| n == name))
            .map(|(name, about)| format!("  {name:width$}  {about}\n"))
            .collect();
        if !lines.is_empty() {
            let _ = write!(text, "{heading}:\n{}\n", lines.concat());
        }
    }
    text
}

/// Prints the registration script for `shell`: sourcing it makes the shell ask
/// `gpt-deploy` itself for completions, so they follow the configuration and kubeconfig.
///
/// # Errors
/// Writing to standard output failed.
pub fn write_completions(
    shell: clap_complete::Shell,
    out: &mut dyn std::io::Write,
) -> std::io::Result<()> {
    use clap_complete::env::{Bash, Elvish, EnvCompleter, Fish, Powershell, Zsh};
    let completer: &dyn EnvCompleter = match shell {
        clap_complete::Shell::Bash => &Bash,
        clap_complete::Shell::Elvish => &Elvish,
        clap_complete::Shell::Fish => &Fish,
        clap_complete::Shell::PowerShell => &Powershell,
        clap_complete::Shell::Zsh => &Zsh,
        _ => &Bash,
    };
    completer.write_registration(COMPLETE_VAR, "gpt-deploy", "gpt-deploy", "gpt-deploy", out)
}

/// The environment variable through which the shell asks for completions.
pub(crate) const COMPLETE_VAR: &str = "GPT_DEPLOY_COMPLETE";

/// Answers a completion request from the shell (when `COMPLETE` is set) and exits; returns
/// otherwise. Called first thing in `main`, before anything is printed.
pub fn complete_if_asked() {
    clap_complete::CompleteEnv::with_factory(command)
        .var(COMPLETE_VAR)
        .complete();
}

/// Completes `--env`: the environment names of `GPT_DEPLOY_CONFIG`, else `./deploy.toml`'s
/// directory, else the built-in configuration (what the command itself would read).
#[must_use]
pub(crate) fn complete_environment(current: &OsStr) -> Vec<CompletionCandidate> {
    let current = current.to_string_lossy();
    let dir = std::env::var_os("GPT_DEPLOY_CONFIG").map(std::path::PathBuf::from);
    crate::config::environment_names(dir.as_deref())
        .unwrap_or_default()
        .into_iter()
        .filter(|name| name.starts_with(current.as_ref()))
        .map(CompletionCandidate::new)
        .collect()
}

/// Completes `--context`: the contexts of `$KUBECONFIG` (every readable file of the list)
/// or `~/.kube/config`.
#[must_use]
pub(crate) fn complete_context(current: &OsStr) -> Vec<CompletionCandidate> {
    let current = current.to_string_lossy();
    let files: Vec<std::path::PathBuf> = match std::env::var_os("KUBECONFIG") {
        Some(list) if !list.is_empty() => std::env::split_paths(&list).collect(),
        _ => std::env::var_os("HOME")
            .map(|home| std::path::Path::new(&home).join(".kube/config"))
            .into_iter()
            .collect(),
    };
    let mut names: Vec<String> = files
        .iter()
        .filter_map(|file| kube::config::Kubeconfig::read_from(file).ok())
        .flat_map(|config| config.contexts.into_iter().map(|c| c.name))
        .filter(|name| name.starts_with(current.as_ref()))
        .collect();
    names.sort();
    names.dedup();
    names.into_iter().map(CompletionCandidate::new).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        command().debug_assert();
    }

    #[test]
    fn every_command_is_in_a_group_of_the_top_level_help() {
        let help = command().render_help().to_string();
        for (heading, _) in GROUPS {
            assert!(help.contains(&format!("{heading}:")), "{help}");
        }
        assert!(!help.contains("Other commands:"), "{help}");
        assert!(help.contains("Examples:"), "{help}");
    }
}
