//! GitHub environment secrets: public key, sealed box, upload, presence check.
//!
//! `secrets sync` reads each declared secret's value (environment variable of the same name,
//! `--from-file`, or standard input), checks every value, then seals each one with the GitHub
//! environment's public key and uploads it. `secrets check` lists the environment's secret
//! names and reports the declared required ones that are missing; `deploy` calls
//! [`missing_required`] for the same answer in its preflight.
//!
//! Where things come from: the repository from `--repo`, else `GITHUB_REPOSITORY`, else
//! `github_repository` in deploy.toml; the API base from `GITHUB_API_URL`, else
//! `https://api.github.com`; the token from `GITHUB_TOKEN`, else `GH_TOKEN`; the GitHub
//! environment name from the environment file's `github_environment`.

pub(crate) mod client;
mod command;
mod errors;
pub mod issues;
pub(crate) mod missing;
mod retry;
pub mod sealing;
pub(crate) mod sync;
pub(crate) mod values;

pub use client::{Client, Connection, Repo};
pub use command::{cmd_check, cmd_sync};
pub use errors::Error;
pub(crate) use errors::Result;
pub use retry::RetryPolicy;
pub(crate) use values::Declared;

use crate::secret::SecretString;

/// Picks the repository: `--repo`, then `GITHUB_REPOSITORY`, then deploy.toml.
///
/// # Errors
/// [`Error::NoRepository`] or [`Error::BadRepository`].
pub(crate) fn resolve_repo(
    flag: Option<&str>,
    from_env: Option<&str>,
    from_config: Option<&str>,
) -> Result<Repo> {
    fn nonempty(v: Option<&str>) -> Option<&str> {
        v.map(str::trim).filter(|v| !v.is_empty())
    }
    let (value, origin) = if let Some(v) = nonempty(flag) {
        (v, "--repo")
    } else if let Some(v) = nonempty(from_env) {
        (v, "GITHUB_REPOSITORY")
    } else if let Some(v) = nonempty(from_config) {
        (v, "deploy.toml github_repository")
    } else {
        return Err(Error::NoRepository);
    };
    Repo::parse(value).ok_or_else(|| Error::BadRepository {
        value: value.to_owned(),
        origin,
    })
}

/// The token from `GITHUB_TOKEN`, else `GH_TOKEN` (empty values count as unset).
#[must_use]
pub(crate) fn token_from_env() -> Option<SecretString> {
    ["GITHUB_TOKEN", "GH_TOKEN"]
        .iter()
        .filter_map(|name| std::env::var(name).ok())
        .find(|v| !v.trim().is_empty())
        .map(SecretString::new)
}

/// The API base from `GITHUB_API_URL`, else the public GitHub API.
#[must_use]
pub(crate) fn api_url_from_env() -> String {
    std::env::var("GITHUB_API_URL")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| client::DEFAULT_API_URL.to_owned())
}

/// Builds the client from the process environment and the resolved repository.
///
/// # Errors
/// [`Error::NoToken`], [`Error::BadApiUrl`], [`Error::Client`].
pub(crate) fn client_from_env(repo: Repo) -> Result<Client> {
    let token = token_from_env().ok_or(Error::NoToken)?;
    Client::new(Connection {
        api_url: api_url_from_env(),
        token,
        repo,
        retry: RetryPolicy::default(),
    })
}

/// Checks declared names against GitHub's naming rules before any request is made.
fn check_declared(declared: &[Declared]) -> Result<()> {
    for secret in declared {
        values::check_name(&secret.name).map_err(|reason| Error::BadSecretName {
            name: secret.name.clone(),
            reason,
        })?;
    }
    Ok(())
}

/// What the configuration says about the GitHub side of one environment.
#[derive(Debug, Clone)]
pub struct Target {
    /// The repository (after `--repo` / `GITHUB_REPOSITORY` / deploy.toml).
    pub repo: Repo,
    /// The GitHub environment name from the environment file.
    pub(crate) environment: String,
    /// The declared secrets, in declaration order.
    pub(crate) declared: Vec<Declared>,
}

impl Target {
    /// Reads the target from a loaded configuration; `repo_flag` is `--repo`.
    ///
    /// # Errors
    /// [`Error::NoRepository`], [`Error::BadRepository`], [`Error::BadSecretName`].
    pub fn from_config(config: &crate::config::Config, repo_flag: Option<&str>) -> Result<Self> {
        let repo = resolve_repo(
            repo_flag,
            std::env::var("GITHUB_REPOSITORY").ok().as_deref(),
            Some(config.app.github_repository.as_str()),
        )?;
        let declared: Vec<Declared> = config
            .app
            .secrets
            .iter()
            .map(|s| Declared {
                name: s.env.clone(),
                required: s.required,
            })
            .collect();
        check_declared(&declared)?;
        Ok(Self {
            repo,
            environment: config.env.github_environment.clone(),
            declared,
        })
    }

    /// Loads the configuration named by the command-line arguments and reads the target.
    ///
    /// # Errors
    /// [`Error::Config`], and as [`Target::from_config`].
    pub(crate) fn load(args: &crate::cli::GithubArgs) -> Result<Self> {
        let config =
            crate::config::load(args.config.config.as_deref(), &args.env).map_err(|source| {
                Error::Config {
                    env: args.env.clone(),
                    source,
                }
            })?;
        Self::from_config(&config, args.repo.as_deref())
    }
}

/// The declared required secrets missing from the configured environment's GitHub
/// environment. `deploy` calls this in its preflight when [`token_from_env`] finds a token.
///
/// # Errors
/// [`Error::NoToken`] without a token; configuration problems (exit 2) and GitHub API errors
/// (exit 3) as in `secrets check`.
pub(crate) async fn missing_required(
    config: &crate::config::Config,
    repo: Option<&str>,
) -> Result<Vec<String>> {
    let target = Target::from_config(config, repo)?;
    let client = client_from_env(target.repo.clone())?;
    missing_required_with(&client, &target).await
}

/// [`missing_required`] with an explicit client (what it does after reading the environment).
///
/// # Errors
/// GitHub API errors, as in `secrets check`.
pub async fn missing_required_with(client: &Client, target: &Target) -> Result<Vec<String>> {
    let report = missing::check(client, &target.environment, &target.declared).await?;
    Ok(report.missing_required)
}

/// A header map from name/value pairs, for the unit tests of this module's files.
#[cfg(test)]
pub(crate) fn test_headers(pairs: &[(&'static str, &str)]) -> http::HeaderMap {
    let mut map = http::HeaderMap::new();
    for (k, v) in pairs {
        map.insert(*k, v.parse().expect("a valid header value"));
    }
    map
}

/// Required declared secrets with these names, for the unit tests of this module's files.
#[cfg(test)]
pub(crate) fn test_declared(names: &[&str]) -> Vec<Declared> {
    names
        .iter()
        .map(|n| Declared {
            name: (*n).to_owned(),
            required: true,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::test_declared as declared;
    use super::*;

    #[test]
    fn repository_precedence() {
        let r = |f, e, c| resolve_repo(f, e, c).map(|r| r.to_string());
        assert_eq!(
            r(Some("a/flag"), Some("b/env"), Some("c/cfg")).unwrap(),
            "a/flag"
        );
        assert_eq!(r(None, Some("b/env"), Some("c/cfg")).unwrap(), "b/env");
        assert_eq!(r(None, Some(" "), Some("c/cfg")).unwrap(), "c/cfg");
        assert!(matches!(r(None, None, None), Err(Error::NoRepository)));
        assert!(matches!(
            r(Some("nope"), None, None),
            Err(Error::BadRepository {
                origin: "--repo",
                ..
            })
        ));
    }

    #[test]
    fn declared_names_follow_github_rules() {
        assert!(check_declared(&declared(&["OK_NAME"])).is_ok());
        let err = check_declared(&declared(&["GITHUB_X"])).unwrap_err();
        assert!(err.to_string().contains("GITHUB_"), "{err}");
    }
}
