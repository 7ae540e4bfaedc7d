//! kube-rs: server-side apply, diff, prune, rollout watch (`apply`, `diff`, `deploy`, `cleanup-now`).
//!
//! Every command follows the same path: [`plan`] renders the objects and checks the
//! secrets (no cluster access), [`client`] connects the way kubectl does, [`preflight`]
//! dry-runs every object before the first write, then [`apply`] (server-side apply in
//! phases, tracked by an ApplySet, see [`applyset`]; kubectl-made objects taken over by
//! [`adopt`], a changed Deployment selector handled by [`replace`]), [`rollout`] (waiting
//! through [`watch`]; a failed rollout undone by [`revert`]), [`prune`] and [`retire`].

pub(crate) mod adopt;
pub(crate) mod apply;
pub mod applyset;
pub(crate) mod cancel;
pub(crate) mod cleanup_now;
pub mod client;
mod command;
pub(crate) mod deploy;
pub(crate) mod diff;
pub(crate) mod drift;
pub(crate) mod history;
pub(crate) mod kept_image;
pub(crate) mod migration;
pub(crate) mod outcome;
pub(crate) mod plan;
pub mod preflight;
pub(crate) mod prune;
pub(crate) mod replace;
pub(crate) mod resources;
pub(crate) mod retire;
pub(crate) mod revert;
pub(crate) mod rollback;
pub(crate) mod rollout;
pub(crate) mod status;
pub(crate) mod summary;
pub(crate) mod uninstall;
pub(crate) mod versions;
pub(crate) mod warnings;
pub(crate) mod watch;

pub use command::{
    cmd_apply, cmd_cleanup_now, cmd_deploy, cmd_diff, cmd_drift, cmd_history, cmd_rollback,
    cmd_status, cmd_uninstall,
};

/// The field manager for every object this tool applies.
pub(crate) const FIELD_MANAGER: &str = "gpt-deploy";

/// Errors of this module.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration could not be loaded or rendered.
    #[error("cannot render environment {env:?}")]
    Render {
        /// Environment name.
        env: String,
        /// What went wrong in config or render (it decides the exit code).
        #[source]
        source: Box<crate::render::Error>,
    },
    /// Required secrets are not set in the process environment; nothing was applied.
    #[error(
        "environment variables not set: {}; each holds a required secret; set them (e.g. from the CI secret store) and re-run; nothing was applied",
        names.join(", ")
    )]
    MissingSecrets {
        /// Names of the environment variables that are missing or empty.
        names: Vec<String>,
    },
    /// Required secrets are missing from the GitHub environment; nothing was applied.
    #[error(
        "{} required secret(s) missing from GitHub environment {environment:?}: {}; run `gpt-deploy secrets sync --env {env}` first; nothing was applied",
        names.len(), names.join(", ")
    )]
    MissingGithubSecrets {
        /// GitHub environment name.
        environment: String,
        /// The deploy environment (for the suggested command).
        env: String,
        /// Names of the missing GitHub secrets.
        names: Vec<String>,
    },
    /// The GitHub secrets check itself failed.
    #[error("cannot check the GitHub environment secrets: {message}")]
    GithubCheck {
        /// What went wrong, already phrased for a person.
        message: String,
    },
    /// No usable kubeconfig (or in-cluster configuration) was found or it is invalid.
    #[error("{message}")]
    Kubeconfig {
        /// What was looked at and what to do.
        message: String,
        /// The loader's error.
        #[source]
        source: Option<kube::config::KubeconfigError>,
    },
    /// The HTTP client for the cluster could not be built.
    #[error("cannot build the Kubernetes client for {server}")]
    ClientBuild {
        /// API server URL.
        server: String,
        /// kube-rs error.
        #[source]
        source: kube::Error,
    },
    /// A request to the API server failed.
    #[error("cannot {action}")]
    Api {
        /// What was being done, naming the object (e.g. `apply Deployment gpt/gpt-service`).
        action: String,
        /// The server's answer or the transport failure.
        #[source]
        cause: client::ApiCause,
    },
    /// Server-side apply found fields owned by another field manager.
    #[error("{}", client::format_conflicts(object, conflicts))]
    Conflict {
        /// `Kind namespace/name`.
        object: String,
        /// (field path, other manager) pairs.
        conflicts: Vec<(String, String)>,
    },
    /// The preflight found objects the server will not accept; nothing was written.
    #[error("{}", preflight_text(problems))]
    Preflight {
        /// Every problem, one per object.
        problems: Vec<preflight::Problem>,
    },
    /// The namespace does not exist and `--create-namespace` was not given.
    #[error(
        "namespace {0:?} does not exist; create it, or pass --create-namespace; nothing was applied"
    )]
    NamespaceMissing(String),
    /// The ApplySet parent exists but is not ours to change.
    #[error(
        "ApplySet parent Secret {namespace}/{name} cannot be used: {problem}; nothing was applied (rename or delete that Secret if it is stale)"
    )]
    ParentNotOurs {
        /// Parent namespace.
        namespace: String,
        /// Parent name.
        name: String,
        /// Why not.
        #[source]
        problem: applyset::ParentProblem,
    },
    /// The rendered object list is empty; pruning would delete the whole set.
    #[error(
        "the render produced no objects; refusing to prune, which would delete every member of the set"
    )]
    EmptyRender,
    /// A rendered object cannot be applied as it is (missing name/kind, foreign set label).
    #[error("rendered object {object} cannot be applied: {problem}")]
    BadObject {
        /// Which object.
        object: String,
        /// What is wrong.
        problem: String,
    },
    /// The API server does not serve a rendered kind.
    #[error(
        "the cluster does not serve {api_version} {kind}; is the cluster too old for this manifest?"
    )]
    UnknownKind {
        /// apiVersion of the object.
        api_version: String,
        /// kind of the object.
        kind: String,
        /// Discovery error.
        #[source]
        source: kube::Error,
    },
    /// The rollout failed or did not finish in time.
    #[error("{reason}\n{diagnostics}")]
    Rollout {
        /// Why it failed (deadline exceeded, image pull back-off, timeout...).
        reason: String,
        /// Per-pod phase, conditions and recent events.
        diagnostics: String,
    },
    /// The rollout failed and the previous release was restored and is serving again.
    #[error(
        "{failure}\nrolled back to {image}{}: the previous release is serving again; fix the cause above and deploy again",
        revision.map(|n| format!(" (revision {n})")).unwrap_or_default()
    )]
    RolledBack {
        /// The failed rollout.
        failure: Box<Error>,
        /// The image running again.
        image: String,
        /// The release history's revision restored, when one is recorded.
        revision: Option<u64>,
    },
    /// The rollout failed and so did the automatic rollback.
    #[error(
        "{failure}\nthe automatic rollback to {image} failed as well: {problem}\nthe cluster is left as it is (the Deployment half-way, the CronJob untouched); look at the pods, then deploy a working image or run `gpt-deploy rollback`"
    )]
    RollbackFailed {
        /// The failed rollout.
        failure: Box<Error>,
        /// The image the rollback tried to restore.
        image: String,
        /// Why the rollback failed.
        problem: Box<Error>,
    },
    /// The watch kept failing, or a request of it got no answer within `--request-timeout`.
    #[error("lost the watch on {what}{}", if watch::timed_out(.source) { "" } else { " after repeated errors" })]
    Watch {
        /// What was watched.
        what: String,
        /// The last watcher error.
        #[source]
        source: kube::runtime::watcher::Error,
    },
    /// The cleanup Job's pod exited with the cleanup's "lock held" code.
    #[error(
        "job {namespace}/{job}: another cleanup is running (this one exited 5: another database session holds the cleanup lock), so nothing was done; the pod's log names the session holding the lock: kubectl --namespace {namespace} logs job/{job}"
    )]
    CleanupLocked {
        /// The Job's name.
        job: String,
        /// Its namespace.
        namespace: String,
    },
    /// The environment's CronJob is not part of the render.
    #[error("environment {env:?} renders no CronJob, so there is nothing to start")]
    NoCronJob {
        /// Environment name.
        env: String,
    },
    /// Writing output failed.
    #[error("cannot write the output")]
    Output(#[source] std::io::Error),
    /// A pull-request comment or drift issue could not be written (or GitHub not reached).
    #[error("cannot {action}")]
    Github {
        /// What was being done.
        action: &'static str,
        /// The GitHub error's exit code (2 for a missing token or repository, else 3).
        code: u8,
        /// The GitHub error.
        #[source]
        source: Box<crate::github::Error>,
    },
    /// The command line asks for something that cannot be done as given.
    #[error("{message}")]
    Usage {
        /// What is wrong and what to do.
        message: String,
    },
    /// The release history cannot be read, written or used as asked.
    #[error("{message}")]
    History {
        /// What is wrong and what to do.
        message: String,
    },
    /// SIGINT or SIGTERM stopped the run between two requests.
    #[error(
        "cancelled by {signal} {during}; the request in flight was completed and nothing more was written, so the cluster may hold part of this release: `gpt-deploy status` shows what runs, `gpt-deploy rollback` restores the previous release"
    )]
    Cancelled {
        /// `SIGINT` or `SIGTERM`.
        signal: &'static str,
        /// What was going on, e.g. `while waiting for the rollout of Deployment ns/name`.
        during: String,
    },
}

fn preflight_text(problems: &[preflight::Problem]) -> String {
    match problems {
        [one] => format!("{one}\nNothing was changed in the cluster."),
        many => {
            let mut text = format!(
                "{} objects cannot be applied; nothing was changed in the cluster:",
                many.len()
            );
            for p in many {
                text.push_str(&format!("\n- {}", p.to_string().replace('\n', "\n  ")));
            }
            text
        }
    }
}

/// Result with this module's [`Error`].
pub(crate) type Result<T, E = Error> = std::result::Result<T, E>;

impl crate::Failure for Error {
    fn exit_code(&self) -> u8 {
        use crate::exit;
        match self {
            Error::Render { source, .. } => crate::Failure::exit_code(source.as_ref()),
            Error::Github { code, .. } => *code,
            Error::Usage { .. } => exit::CONFIG,
            Error::MissingSecrets { .. }
            | Error::MissingGithubSecrets { .. }
            | Error::Kubeconfig { .. }
            | Error::EmptyRender
            | Error::BadObject { .. } => exit::CONFIG,
            Error::GithubCheck { .. }
            | Error::ClientBuild { .. }
            | Error::Api { .. }
            | Error::Conflict { .. }
            | Error::Preflight { .. }
            | Error::NamespaceMissing(_)
            | Error::ParentNotOurs { .. }
            | Error::UnknownKind { .. }
            | Error::Watch { .. }
            | Error::NoCronJob { .. } => exit::API,
            Error::Rollout { .. } | Error::RolledBack { .. } | Error::RollbackFailed { .. } => {
                exit::ROLLOUT
            }
            Error::CleanupLocked { .. } => exit::LOCKED,
            Error::Output(_) | Error::History { .. } => exit::API,
            Error::Cancelled { .. } => exit::CANCELLED,
        }
    }

    fn is_broken_pipe(&self) -> bool {
        matches!(self, Error::Output(e) if e.kind() == std::io::ErrorKind::BrokenPipe)
    }
}
