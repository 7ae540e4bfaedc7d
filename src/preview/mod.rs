//! `gpt-deploy preview`: what a change to the configuration does to the rendered objects of
//! every environment, between two git revisions, without a cluster or any secret value.
//!
//! Both revisions are read with `git` (never checked out), loaded and rendered exactly as
//! `render` does, and compared object by object. Each declared secret renders as a stand-in
//! naming where its value comes from, so changing a secret's source shows as "value changed"
//! (compared by keyed hash) while no value is ever read or shown. The result is printed as
//! coloured or plain text, markdown or JSON; `--comment` keeps one pull-request comment up to
//! date with the markdown, and under GitHub Actions the markdown goes to the job summary too.

mod command;
mod compare;
mod format;
pub(crate) mod git;

use std::path::{Path, PathBuf};

pub use command::cmd_preview;
pub(crate) use compare::{Change, Comparison, compare};
pub(crate) use format::{MarkdownOptions, json, markdown, text};
pub(crate) use git::{Repository, Revision};

use crate::config::{self, Config, Source};
use crate::github;
use crate::render::{self, RenderOptions, SecretValues};
use crate::secret::KeyedHash;

/// The hidden line that marks the preview comment on a pull request.
pub(crate) const COMMENT_MARKER: &str = "<!-- gpt-deploy:preview -->";

/// Errors of this module.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The `git` program could not be started.
    #[error("cannot run git; install git and make sure it is on PATH")]
    GitMissing {
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A git command failed.
    #[error("`{command}` failed: {stderr}")]
    Git {
        /// The command line.
        command: String,
        /// What git said.
        stderr: String,
    },
    /// The configuration directory is not inside a git work tree.
    #[error(
        "{} is not inside a git repository ({stderr}); run preview in a clone, or pass --config DIR inside one",
        dir.display()
    )]
    NotARepository {
        /// The directory.
        dir: PathBuf,
        /// What git said.
        stderr: String,
    },
    /// A revision names no commit.
    #[error(
        "`{name}` names no commit in this repository ({stderr}); fetch it first (in GitHub Actions, check out with `fetch-depth: 0`)"
    )]
    UnknownRevision {
        /// The revision as given.
        name: String,
        /// What git said.
        stderr: String,
    },
    /// A revision has no deploy.toml where the configuration is.
    #[error(
        "{path} does not exist in commit {commit}; is --config the directory holding deploy.toml at both revisions?"
    )]
    NoConfig {
        /// `rev:path` of the missing file.
        path: String,
        /// The commit.
        commit: String,
    },
    /// A configuration file is not UTF-8 text.
    #[error("{path} is not UTF-8 text")]
    NotUtf8 {
        /// `rev:path` of the file.
        path: String,
    },
    /// `--env` names an environment that neither revision has.
    #[error(
        "unknown environment `{name}`; the environments at the two revisions are: {}",
        if known.is_empty() { "(none)".to_owned() } else { known.join(", ") }
    )]
    UnknownEnvironment {
        /// The name asked for.
        name: String,
        /// The environments of both revisions.
        known: Vec<String>,
    },
    /// An environment does not load or render at one revision.
    #[error("cannot render environment `{env}` at {revision}")]
    Render {
        /// The environment.
        env: String,
        /// `name (commit)` of the revision.
        revision: String,
        /// What went wrong.
        #[source]
        source: Box<render::Error>,
    },
    /// `--comment` without a pull request number.
    #[error(
        "--comment needs the pull request: pass --pr N, or run in a workflow triggered by `pull_request` (GITHUB_EVENT_PATH names its event)"
    )]
    NoPullRequest,
    /// The workflow event file could not be read.
    #[error("cannot read the workflow event {path} (GITHUB_EVENT_PATH)")]
    Event {
        /// The file.
        path: String,
        /// The I/O or JSON error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The pull-request comment could not be written.
    #[error("cannot write the pull-request comment")]
    Github(#[source] github::Error),
    /// Writing to standard output failed.
    #[error("cannot write to standard output")]
    Output(#[source] std::io::Error),
}

/// Result with this module's [`Error`].
pub(crate) type Result<T, E = Error> = std::result::Result<T, E>;

impl crate::Failure for Error {
    fn exit_code(&self) -> u8 {
        match self {
            Error::Render { source, .. } => source.exit_code(),
            Error::Github(e) => e.exit_code(),
            Error::Output(_) => crate::exit::API,
            _ => crate::exit::CONFIG,
        }
    }

    fn is_broken_pipe(&self) -> bool {
        matches!(self, Error::Output(e) if e.kind() == std::io::ErrorKind::BrokenPipe)
    }
}

/// Whether an environment exists at base, head or both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Presence {
    /// At both revisions.
    Both,
    /// Only at head: every object is added.
    OnlyHead,
    /// Only at base: every object is removed.
    OnlyBase,
}

/// One environment's comparison.
#[derive(Debug, Clone)]
pub(crate) struct EnvPreview {
    /// The environment's name.
    pub(crate) name: String,
    /// Where it exists.
    pub(crate) presence: Presence,
    /// What differs.
    pub(crate) comparison: Comparison,
}

impl EnvPreview {
    /// Whether anything differs.
    #[must_use]
    pub(crate) fn changed(&self) -> bool {
        !self.comparison.objects.is_empty() || self.presence != Presence::Both
    }

    /// `changed`, `unchanged`, `added` (new environment) or `removed`.
    #[must_use]
    pub(crate) fn status(&self) -> &'static str {
        match self.presence {
            Presence::OnlyHead => "added",
            Presence::OnlyBase => "removed",
            Presence::Both if self.changed() => "changed",
            Presence::Both => "unchanged",
        }
    }

    /// ` (new)` / ` (deleted)` after the name in the table.
    fn presence_note(&self) -> &'static str {
        match self.presence {
            Presence::OnlyHead => " (new)",
            Presence::OnlyBase => " (deleted)",
            Presence::Both => "",
        }
    }

    /// `no changes`, or `1 added, 2 changed`.
    #[must_use]
    pub(crate) fn counts_text(&self) -> String {
        let c = &self.comparison;
        let parts: Vec<String> = [Change::Added, Change::Removed, Change::Changed]
            .into_iter()
            .map(|change| (change, c.count(change)))
            .filter(|(_, n)| *n > 0)
            .map(|(change, n)| format!("{n} {}", change.word()))
            .collect();
        let mut text = if parts.is_empty() {
            "no changes".to_owned()
        } else {
            parts.join(", ")
        };
        match self.presence {
            Presence::OnlyHead => text.push_str(" (new environment)"),
            Presence::OnlyBase => text.push_str(" (environment deleted)"),
            Presence::Both => {}
        }
        text
    }
}

/// The comparison of every selected environment between two revisions.
#[derive(Debug, Clone)]
pub(crate) struct Preview {
    /// The older revision.
    pub(crate) base: Revision,
    /// The newer revision.
    pub(crate) head: Revision,
    /// The environments, sorted by name.
    pub(crate) environments: Vec<EnvPreview>,
}

impl Preview {
    /// Whether any environment differs.
    #[must_use]
    pub(crate) fn changed(&self) -> bool {
        self.environments.iter().any(EnvPreview::changed)
    }

    /// `2 of 3 environments change` / `no environment changes`.
    #[must_use]
    pub(crate) fn totals_text(&self) -> String {
        let changed = self.environments.iter().filter(|e| e.changed()).count();
        match (changed, self.environments.len()) {
            (0, _) => "no environment changes".to_owned(),
            (1, 1) => "the environment changes".to_owned(),
            (c, n) => format!(
                "{c} of {n} environment{} change{}",
                if n == 1 { "" } else { "s" },
                if c == 1 { "s" } else { "" }
            ),
        }
    }
}

/// The stand-in value of each declared secret: where the value comes from, not the value.
fn stand_in_secrets(config: &Config) -> SecretValues {
    SecretValues::from_lookup(config, |env| {
        Some(format!("gpt-deploy preview: the value of {env}"))
    })
}

/// Loads `env` from `source`; `None` when the revision has no such environment.
fn load_at(source: &Source, env: &str, revision: &Revision) -> Result<Option<Config>> {
    let err = |source: render::Error| Error::Render {
        env: env.to_owned(),
        revision: format!("{} ({})", revision.name, revision.short()),
        source: Box::new(source),
    };
    match config::load_from(source.clone(), env) {
        Ok(config) => Ok(Some(config)),
        Err(config::Error::UnknownEnvironment { .. }) => Ok(None),
        Err(e) => Err(err(e.into())),
    }
}

/// Reads both revisions and compares the selected environments (all when `only` is empty).
///
/// # Errors
/// Git, configuration and render errors, each naming the revision and file.
pub(crate) fn build(
    repo: &Repository,
    base: &str,
    head: &str,
    only: &[String],
) -> Result<(Preview, Option<Config>)> {
    let base = repo.resolve(base)?;
    let head = repo.resolve(head)?;
    let base_source = repo.source(&base)?;
    let head_source = repo.source(&head)?;
    let names_of = |source: &Source| {
        source.environment_names().map_err(|e| Error::Render {
            env: "(all)".to_owned(),
            revision: source.to_string(),
            source: Box::new(e.into()),
        })
    };
    let mut known = names_of(&base_source)?;
    known.extend(names_of(&head_source)?);
    known.sort();
    known.dedup();
    for name in only {
        if !known.contains(name) {
            return Err(Error::UnknownEnvironment {
                name: name.clone(),
                known,
            });
        }
    }
    let hasher = KeyedHash::random();
    let mut environments = Vec::new();
    let mut head_config = None;
    for name in known.iter().filter(|n| only.is_empty() || only.contains(n)) {
        let old = load_at(&base_source, name, &base)?;
        let new = load_at(&head_source, name, &head)?;
        let render_one = |config: &Option<Config>, revision: &Revision| {
            let Some(config) = config else {
                return Ok(Vec::new());
            };
            let options = RenderOptions {
                image_tag: None,
                secrets: stand_in_secrets(config),
            };
            render::render(config, &options)
                .map(|r| r.objects)
                .map_err(|source| Error::Render {
                    env: name.clone(),
                    revision: format!("{} ({})", revision.name, revision.short()),
                    source: Box::new(source),
                })
        };
        let base_objects = render_one(&old, &base)?;
        let head_objects = render_one(&new, &head)?;
        let presence = match (&old, &new) {
            (Some(_), None) => Presence::OnlyBase,
            (None, Some(_)) => Presence::OnlyHead,
            _ => Presence::Both,
        };
        if head_config.is_none() {
            head_config = new;
        }
        environments.push(EnvPreview {
            name: name.clone(),
            presence,
            comparison: compare(name, &base_objects, &head_objects, &hasher),
        });
    }
    Ok((
        Preview {
            base,
            head,
            environments,
        },
        head_config,
    ))
}

/// The pull request number from `--pr`, else the workflow event (`pull_request.number`, or
/// `issue.number` for comment events).
///
/// # Errors
/// [`Error::NoPullRequest`], or [`Error::Event`] when the event file cannot be read.
pub(crate) fn pull_request_number(flag: Option<u64>) -> Result<u64> {
    if let Some(n) = flag {
        return Ok(n);
    }
    let Some(path) = std::env::var_os("GITHUB_EVENT_PATH").filter(|p| !p.is_empty()) else {
        return Err(Error::NoPullRequest);
    };
    let event_error = |source: Box<dyn std::error::Error + Send + Sync>| Error::Event {
        path: Path::new(&path).display().to_string(),
        source,
    };
    let text = std::fs::read_to_string(&path).map_err(|e| event_error(Box::new(e)))?;
    let event: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| event_error(Box::new(e)))?;
    ["/pull_request/number", "/issue/number", "/number"]
        .iter()
        .find_map(|pointer| event.pointer(pointer).and_then(serde_json::Value::as_u64))
        .ok_or(Error::NoPullRequest)
}

/// The URL of this workflow run (where its job summary is), when running in GitHub Actions.
#[must_use]
pub(crate) fn run_url() -> Option<String> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    Some(format!(
        "{}/{}/actions/runs/{}",
        var("GITHUB_SERVER_URL")?,
        var("GITHUB_REPOSITORY")?,
        var("GITHUB_RUN_ID")?
    ))
}

/// Appends `markdown` and a blank line to `$GITHUB_STEP_SUMMARY` when it is set (the diff
/// summaries of `preview`, `diff` and `drift`).
pub(crate) fn append_step_summary(markdown: &str) {
    crate::report::step_summary(&format!("{markdown}\n"));
}
