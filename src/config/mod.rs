//! Typed configuration: `deploy.toml` (app-wide) overlaid by `environments/<env>.toml`.
//!
//! Both files are strict: unknown keys and invalid values are errors that name the file, line
//! and column. Configuration comes from `--config DIR`, else `./deploy.toml`, else the copy
//! compiled into the binary, so `gpt-deploy render --env production` works anywhere.

pub(crate) mod cron;
pub(crate) mod image;
mod parse;
mod source;

use std::fmt;
use std::path::{Path, PathBuf};

pub(crate) use source::{DEPLOY_FILE, ENVIRONMENTS_DIR, TEMPLATES_DIR, Template};
pub use source::{FileSet, Source};

/// Errors of this module.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A configuration file or directory could not be read.
    #[error("cannot read {path}; check that it exists and is readable")]
    Read {
        /// The file or directory.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// `--config DIR` names a directory without `deploy.toml`.
    #[error(
        "{} has no {DEPLOY_FILE}; --config must name a directory holding {DEPLOY_FILE}, {ENVIRONMENTS_DIR}/ and {TEMPLATES_DIR}/",
        dir.display()
    )]
    NoConfigDir {
        /// The directory given.
        dir: PathBuf,
    },
    /// The templates directory holds no `*.yaml.j2` template.
    #[error(
        "{dir} holds no *.yaml.j2 template; add the templates or run without --config to use the built-in ones"
    )]
    NoTemplates {
        /// The templates directory.
        dir: String,
    },
    /// The environments directory holds no `*.toml` file.
    #[error("{dir} holds no environment file; add one such as {dir}/production.toml")]
    NoEnvironments {
        /// The environments directory.
        dir: String,
    },
    /// The requested environment has no file.
    #[error(
        "unknown environment `{name}` in {location}; the environments are: {}",
        if known.is_empty() { "(none)".to_owned() } else { known.join(", ") }
    )]
    UnknownEnvironment {
        /// The name asked for.
        name: String,
        /// The environments that exist.
        known: Vec<String>,
        /// Where they were looked up.
        location: String,
    },
    /// One or more problems in the configuration files, each with file, line and column.
    #[error("{}", Problems(problems))]
    Invalid {
        /// Every problem found, in file order.
        problems: Vec<Problem>,
    },
}

/// Result with this module's [`Error`].
pub(crate) type Result<T, E = Error> = std::result::Result<T, E>;

/// One problem in a configuration file, located by file, line and column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The file, as shown to people.
    pub(crate) file: String,
    /// 1-based line.
    pub(crate) line: usize,
    /// 1-based column.
    pub(crate) column: usize,
    /// What is wrong and how to fix it.
    pub(crate) message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file, self.line, self.column, self.message
        )
    }
}

struct Problems<'a>(&'a [Problem]);

impl fmt::Display for Problems<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            [one] => write!(f, "invalid configuration: {one}"),
            many => {
                write!(f, "{} problems in the configuration:", many.len())?;
                for problem in many {
                    write!(f, "\n  {problem}")?;
                }
                Ok(())
            }
        }
    }
}

/// The configuration of one environment, ready to render.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// App-wide settings from `deploy.toml`.
    pub app: App,
    /// The selected environment, with `[defaults]` applied.
    pub(crate) env: Environment,
    /// Where the configuration was loaded from.
    pub(crate) source: Source,
    /// Every template file, sorted by name.
    pub(crate) templates: Vec<Template>,
}

/// App-wide settings (`[app]` in `deploy.toml`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct App {
    /// Application name, e.g. `gpt-service`: the Deployment's name and `app.kubernetes.io/name`.
    pub(crate) name: String,
    /// Image repository without tag, e.g. `ghcr.io/owner/gpt-service`.
    pub(crate) image_repository: String,
    /// GitHub repository holding the environment secrets, `owner/name`.
    pub(crate) github_repository: String,
    /// Name of the Kubernetes Secret holding every declared secret, e.g. `gpt-secrets`.
    pub(crate) secret_name: String,
    /// The declared secrets, in file order.
    pub secrets: Vec<DeclaredSecret>,
    /// Objects of an older layout to delete once a rollout has succeeded (`[[app.retire]]`).
    pub(crate) retire: Vec<Retired>,
}

/// An object of an older layout that `deploy` deletes after a successful rollout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retired {
    /// Kind, e.g. `CronJob`.
    pub(crate) kind: String,
    /// Name in the environment's namespace.
    pub(crate) name: String,
}

/// A secret the application needs (`[[app.secrets]]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeclaredSecret {
    /// Key in the Kubernetes Secret, e.g. `clerk-webhook-secret`.
    pub(crate) key: String,
    /// Environment variable and GitHub environment secret name, e.g. `CLERK_WEBHOOK_SECRET`.
    pub env: String,
    /// Whether deploying without it is an error.
    pub(crate) required: bool,
}

/// One environment (`environments/<name>.toml` over `[defaults]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Environment {
    /// Environment name (the file stem), e.g. `production`.
    pub(crate) name: String,
    /// Kubernetes namespace of every object.
    pub(crate) namespace: String,
    /// Replicas of the Deployment.
    pub(crate) replicas: u32,
    /// Image tag, unless `--image` overrides it.
    pub(crate) image_tag: String,
    /// kubeconfig context to use, unless `--context` overrides it.
    pub(crate) kube_context: Option<String>,
    /// Name of the GitHub environment holding this environment's secrets.
    pub(crate) github_environment: String,
    /// Seconds between SIGTERM and SIGKILL for the service's pods.
    pub(crate) termination_grace_period_seconds: u32,
    /// `RUST_LOG` filter for the pods, e.g. `info`.
    pub(crate) log_level: String,
    /// Container resources (service and cleanup job).
    pub(crate) resources: Resources,
    /// The token-cleanup CronJob.
    pub(crate) cleanup: Cleanup,
}

/// Requests and limits of a container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Resources {
    /// What the scheduler reserves.
    pub(crate) requests: ResourceList,
    /// What the container may use at most.
    pub(crate) limits: ResourceList,
}

/// CPU and memory as Kubernetes quantities.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ResourceList {
    /// CPU, e.g. `250m`.
    pub(crate) cpu: String,
    /// Memory, e.g. `256Mi`.
    pub(crate) memory: String,
}

/// Settings of the token-cleanup CronJob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Cleanup {
    /// Cron schedule (UTC), e.g. `0 */6 * * *`.
    pub(crate) schedule: String,
    /// How long after expiry artifacts are kept, e.g. `30d` (passed as `CLEANUP_RETENTION`).
    pub(crate) retention: String,
    /// Rows deleted per transaction (passed as `CLEANUP_BATCH_SIZE`).
    pub(crate) batch_size: u32,
}

/// Loads the configuration of environment `env`.
///
/// # Errors
/// [`Error::Invalid`] with file, line and column for syntax errors, unknown keys and invalid
/// values; [`Error::UnknownEnvironment`] listing the environments that exist; [`Error::Read`]
/// and [`Error::NoConfigDir`] when files are missing.
pub fn load(config_dir: Option<&Path>, env: &str) -> Result<Config> {
    let source = Source::resolve(config_dir)?;
    load_from(source, env)
}

/// Like [`load`], from an already resolved [`Source`].
///
/// # Errors
/// As [`load`].
pub fn load_from(source: Source, env: &str) -> Result<Config> {
    let deploy = source.deploy_file()?;
    let Some(env_file) = source.environment_file(env)? else {
        return Err(Error::UnknownEnvironment {
            name: env.to_owned(),
            known: source.environment_names()?,
            location: source.display_path(ENVIRONMENTS_DIR),
        });
    };
    let (app, env) = parse::parse(&deploy, &env_file, env)?;
    let templates = source.templates()?;
    Ok(Config {
        app,
        env,
        source,
        templates,
    })
}

/// Names of every environment, sorted.
///
/// # Errors
/// [`Error::Read`] or [`Error::NoConfigDir`] when the configuration cannot be found.
pub(crate) fn environment_names(config_dir: Option<&Path>) -> Result<Vec<String>> {
    Source::resolve(config_dir)?.environment_names()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_production_has_two_replicas_and_the_cleanup_schedule() {
        let config = load_from(Source::Embedded, "production").unwrap();
        assert_eq!(config.app.name, "gpt-service");
        assert_eq!(config.app.secret_name, "gpt-secrets");
        assert_eq!(config.env.name, "production");
        assert_eq!(config.env.replicas, 2);
        assert_eq!(config.env.cleanup.schedule, "0 */6 * * *");
        assert_eq!(config.env.cleanup.retention, "30d");
        assert_eq!(config.env.cleanup.batch_size, 1000);
        assert_eq!(config.env.github_environment, "production");
        let envs: Vec<_> = config.app.secrets.iter().map(|s| s.env.as_str()).collect();
        assert_eq!(envs, ["CLERK_WEBHOOK_SECRET", "DATABASE_URL"]);
    }

    #[test]
    fn unknown_environment_lists_the_real_ones() {
        let err = load_from(Source::Embedded, "prod").unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown environment `prod` in (built-in) environments; the environments are: development, production, staging"
        );
    }
}
