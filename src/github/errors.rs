//! The error type of the GitHub module and its exit-code policy.
//!
//! Messages name the repository, GitHub environment, secret name, HTTP method, path and status,
//! and say what to do next. They never contain a secret value: values are only ever held in
//! [`crate::secret::SecretString`] and no variant has a field that could carry one.

use std::time::Duration;

use http::{HeaderMap, Method, StatusCode};
use serde::Deserialize;

/// Errors of the `secrets` commands and of the GitHub client.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration could not be loaded.
    #[error("cannot load the configuration for environment `{env}`")]
    Config {
        /// The environment asked for with `--env`.
        env: String,
        /// What the configuration loader reported.
        #[source]
        source: crate::config::Error,
    },

    /// No repository was given anywhere.
    #[error(
        "no GitHub repository is known: pass --repo OWNER/NAME, set GITHUB_REPOSITORY, \
         or set `github_repository` in deploy.toml"
    )]
    NoRepository,

    /// The repository is not of the form `owner/name`.
    #[error("the GitHub repository `{value}` (from {origin}) is not of the form OWNER/NAME")]
    BadRepository {
        /// The value as given.
        value: String,
        /// Where it came from (`--repo`, `GITHUB_REPOSITORY`, `deploy.toml`).
        origin: &'static str,
    },

    /// Neither `GITHUB_TOKEN` nor `GH_TOKEN` is set.
    #[error(
        "no GitHub token: set GITHUB_TOKEN (or GH_TOKEN) to a token that may read and write \
         this repository's environment secrets"
    )]
    NoToken,

    /// `GITHUB_API_URL` is not a usable URL.
    #[error("GITHUB_API_URL `{url}` is not an http(s) URL; unset it to use https://api.github.com")]
    BadApiUrl {
        /// The value as given.
        url: String,
    },

    /// `GITHUB_API_URL` is plain `http://` to a host that is not this machine.
    #[error(
        "GITHUB_API_URL `{url}` is plain http to a host other than this machine, which would send \
         the token unencrypted; use https:// (http:// is accepted only for localhost, 127.0.0.0/8 \
         and ::1)"
    )]
    InsecureApiUrl {
        /// The value as given (credentials in it masked).
        url: String,
    },

    /// The token cannot be sent as an HTTP header (never shown).
    #[error(
        "the GitHub token in {var} {problem}; paste the token again without surrounding text \
         (a trailing newline is removed automatically)"
    )]
    BadToken {
        /// The variable it came from.
        var: &'static str,
        /// What is wrong with it, without quoting it.
        problem: &'static str,
    },

    /// A secret name given on the command line is not declared in deploy.toml.
    #[error(
        "`{flag} {name}` names a secret that deploy.toml does not declare; declared: {declared}"
    )]
    UnknownSecret {
        /// The flag that named it (`--only`, `--from-file`).
        flag: &'static str,
        /// The name as given.
        name: String,
        /// The declared names, comma-separated.
        declared: String,
    },

    /// `--from-file` names a declared secret that `--only` leaves out.
    #[error(
        "`--from-file {name}=...` names a secret that --only leaves out; add `--only {name}` \
         or drop the --from-file"
    )]
    NotSelected {
        /// The name as given.
        name: String,
    },

    /// A declared secret name is not a valid GitHub secret name.
    #[error(
        "the secret name `{name}` cannot be used in GitHub: {reason}; rename it in deploy.toml"
    )]
    BadSecretName {
        /// The declared name.
        name: String,
        /// Which GitHub naming rule it breaks.
        reason: &'static str,
    },

    /// A `--from-file` argument is not `NAME=PATH`.
    #[error("`--from-file {arg}` is not of the form NAME=PATH")]
    BadFromFile {
        /// The argument as given.
        arg: String,
    },

    /// Standard input could not be read.
    #[error("cannot read the value of {name} from standard input")]
    ReadStdin {
        /// The secret name.
        name: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },

    /// At least one value is missing or fails its check; nothing was uploaded.
    #[error(
        "nothing was uploaded: {} secret value(s) cannot be used:\n{}",
        problems.len(),
        problems.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n")
    )]
    InvalidValues {
        /// One line per secret: its name and what is wrong (never the value).
        problems: Vec<String>,
    },

    /// The HTTP client could not be built.
    #[error("cannot build the GitHub API client for {base}")]
    Client {
        /// The API base URL.
        base: String,
        /// What octocrab reported.
        #[source]
        source: Box<octocrab::Error>,
    },

    /// The request did not get an HTTP response (connection, TLS, timeout), after retries.
    #[error(
        "{method} {path} failed after {attempts} attempt(s): GitHub API at {base} could not be reached"
    )]
    Transport {
        /// HTTP method.
        method: String,
        /// Request path.
        path: String,
        /// API base URL.
        base: String,
        /// How many attempts were made.
        attempts: u32,
        /// The last transport error.
        #[source]
        source: Box<octocrab::Error>,
    },

    /// 401: the token was refused.
    #[error(
        "{method} {path} returned HTTP 401 Unauthorized: GitHub refused the token \
         (GITHUB_TOKEN/GH_TOKEN is wrong, expired or revoked); create a new token and try again"
    )]
    Unauthorized {
        /// HTTP method.
        method: String,
        /// Request path.
        path: String,
    },

    /// 403 that is not a rate limit: the token lacks a permission.
    #[error("{method} {path} returned HTTP 403 Forbidden ({message}): {hint}")]
    Forbidden {
        /// HTTP method.
        method: String,
        /// Request path.
        path: String,
        /// GitHub's message.
        message: String,
        /// Which permission or scope is missing, from the response headers when GitHub says.
        hint: String,
    },

    /// 404 on the repository itself.
    #[error(
        "repository {repo} was not found (HTTP 404 on GET /repos/{repo}): check the name, \
         or the token cannot see it (a fine-grained token must include this repository)"
    )]
    RepositoryNotFound {
        /// `owner/name`.
        repo: String,
    },

    /// 404 on the GitHub environment, while the repository exists.
    #[error(
        "GitHub environment `{environment}` does not exist in repository {repo} (HTTP 404){hint}"
    )]
    EnvironmentNotFound {
        /// `owner/name`.
        repo: String,
        /// The GitHub environment name.
        environment: String,
        /// What to do next.
        hint: &'static str,
    },

    /// 404 on another path although repository and environment exist.
    #[error("{method} {path} returned HTTP 404 Not Found ({message})")]
    NotFound {
        /// HTTP method.
        method: String,
        /// Request path.
        path: String,
        /// GitHub's message.
        message: String,
    },

    /// 422: GitHub refused the request body.
    #[error("{method} {path} returned HTTP 422 Unprocessable Entity: {message}")]
    Unprocessable {
        /// HTTP method.
        method: String,
        /// Request path.
        path: String,
        /// GitHub's message and error details.
        message: String,
    },

    /// Rate limited, and waiting would exceed the bound (or retries ran out).
    #[error(
        "{method} {path} was rate limited by GitHub (HTTP {status}); {detail}. \
         Nothing more was sent; run the command again later"
    )]
    RateLimited {
        /// HTTP method.
        method: String,
        /// Request path.
        path: String,
        /// 429 or 403.
        status: u16,
        /// How long GitHub asked to wait, and why we stopped.
        detail: String,
    },

    /// 5xx after every retry.
    #[error(
        "{method} {path} returned HTTP {status} after {attempts} attempt(s): GitHub is failing; \
         try again later (https://www.githubstatus.com)"
    )]
    Server {
        /// HTTP method.
        method: String,
        /// Request path.
        path: String,
        /// The last status.
        status: u16,
        /// How many attempts were made.
        attempts: u32,
    },

    /// Any other unexpected status.
    #[error("{method} {path} returned unexpected HTTP {status}: {message}")]
    Unexpected {
        /// HTTP method.
        method: String,
        /// Request path.
        path: String,
        /// The status.
        status: u16,
        /// GitHub's message.
        message: String,
    },

    /// A response body was not what the documented schema says.
    #[error("{method} {path} returned a body that does not match GitHub's documented schema")]
    BadResponse {
        /// HTTP method.
        method: String,
        /// Request path.
        path: String,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },

    /// The environment's public key is not a base64 32-byte Curve25519 key.
    #[error(
        "the public key of GitHub environment `{environment}` (key_id {key_id}) is unusable: {reason}"
    )]
    BadPublicKey {
        /// The GitHub environment.
        environment: String,
        /// The key id GitHub sent.
        key_id: String,
        /// What is wrong with it.
        reason: String,
    },

    /// Sealing failed (the system random number generator failed).
    #[error("cannot encrypt the value of {name} (the system random number generator failed)")]
    Seal {
        /// The secret name.
        name: String,
    },

    /// Writing the report to standard output failed.
    #[error("cannot write to standard output")]
    Output(#[source] std::io::Error),
}

/// Result with this module's [`Error`].
pub(crate) type Result<T, E = Error> = std::result::Result<T, E>;

impl crate::Failure for Error {
    fn exit_code(&self) -> u8 {
        match self {
            Error::Config { .. }
            | Error::NoRepository
            | Error::BadRepository { .. }
            | Error::NoToken
            | Error::BadApiUrl { .. }
            | Error::InsecureApiUrl { .. }
            | Error::BadToken { .. }
            | Error::UnknownSecret { .. }
            | Error::NotSelected { .. }
            | Error::BadSecretName { .. }
            | Error::BadFromFile { .. }
            | Error::ReadStdin { .. }
            | Error::InvalidValues { .. } => crate::exit::CONFIG,
            Error::Client { .. }
            | Error::Transport { .. }
            | Error::Unauthorized { .. }
            | Error::Forbidden { .. }
            | Error::RepositoryNotFound { .. }
            | Error::EnvironmentNotFound { .. }
            | Error::NotFound { .. }
            | Error::Unprocessable { .. }
            | Error::RateLimited { .. }
            | Error::Server { .. }
            | Error::Unexpected { .. }
            | Error::BadResponse { .. }
            | Error::BadPublicKey { .. }
            | Error::Seal { .. }
            | Error::Output(_) => crate::exit::API,
        }
    }

    fn is_broken_pipe(&self) -> bool {
        matches!(self, Error::Output(e) if e.kind() == std::io::ErrorKind::BrokenPipe)
    }
}

/// Formats a wait for people: `45 s`, `12 min`.
pub(crate) fn human_wait(wait: Duration) -> String {
    let secs = wait.as_secs();
    if secs < 120 {
        format!("{secs} s")
    } else {
        format!("{} min", secs.div_ceil(60))
    }
}

/// What a request needs from the token, for a 403 message that names it.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Need {
    /// Reading the repository or environment.
    RepoRead,
    /// Listing secrets or reading the public key.
    SecretsRead,
    /// Uploading a secret.
    SecretsWrite,
    /// Creating an environment.
    EnvironmentWrite,
    /// Reading or writing pull-request comments.
    PullRequestComment,
    /// Reading, opening, updating or closing issues.
    IssuesWrite,
}

impl Need {
    fn describe(self) -> &'static str {
        match self {
            Need::RepoRead => {
                "the token needs read access to the repository (`metadata: read` for a GitHub App \
                 or fine-grained token, the `repo` scope for a classic token)"
            }
            Need::SecretsRead => {
                "the token needs the `secrets: read` and `environments: read` repository \
                 permissions (GitHub App or fine-grained token) or the `repo` scope (classic token)"
            }
            Need::SecretsWrite => {
                "the token needs the `secrets: write` and `environments: write` repository \
                 permissions (GitHub App or fine-grained token) or the `repo` scope (classic token)"
            }
            Need::EnvironmentWrite => {
                "creating an environment needs the `administration: write` repository permission \
                 (GitHub App or fine-grained token) or the `repo` scope (classic token)"
            }
            Need::PullRequestComment => {
                "commenting on a pull request needs the `pull-requests: write` repository \
                 permission (in a workflow: `permissions: pull-requests: write`) or the `repo` \
                 scope (classic token)"
            }
            Need::IssuesWrite => {
                "opening and updating issues needs the `issues: write` repository permission \
                 (in a workflow: `permissions: issues: write`) or the `repo` scope (classic token)"
            }
        }
    }
}

#[derive(Deserialize, Default)]
struct MessageBody {
    #[serde(default)]
    message: String,
    #[serde(default)]
    errors: Vec<serde_json::Value>,
}

/// A response that was not retried: status, headers and the whole body.
pub(crate) struct Reply {
    /// The status.
    pub(crate) status: StatusCode,
    /// The headers.
    pub(crate) headers: HeaderMap,
    /// The whole body as text.
    pub(crate) body: String,
}

/// Maps a reply with an unexpected status to an error.
pub(crate) fn from_reply(method: &Method, path: &str, reply: Reply, need: Need) -> Error {
    let method = method.to_string();
    let path = path.to_owned();
    let body: MessageBody = serde_json::from_str(&reply.body).unwrap_or_default();
    let message = short(&body.message);
    match reply.status {
        StatusCode::UNAUTHORIZED => Error::Unauthorized { method, path },
        StatusCode::FORBIDDEN => Error::Forbidden {
            method,
            path,
            message,
            hint: forbidden_hint(&reply.headers, need),
        },
        StatusCode::NOT_FOUND => Error::NotFound {
            method,
            path,
            message,
        },
        StatusCode::UNPROCESSABLE_ENTITY => {
            let mut message = message;
            for e in body.errors.iter().take(5) {
                message.push_str(&format!("; {}", short(&e.to_string())));
            }
            Error::Unprocessable {
                method,
                path,
                message,
            }
        }
        status => Error::Unexpected {
            method,
            path,
            status: status.as_u16(),
            message,
        },
    }
}

/// The 403 hint: GitHub's own headers when it sends them, else what this call needs.
fn forbidden_hint(headers: &HeaderMap, need: Need) -> String {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(accepted) = header("x-accepted-github-permissions").filter(|v| !v.is_empty()) {
        // Sets of permissions are alternatives (`;`); permissions within a set all apply (`,`).
        let wanted = accepted
            .split(';')
            .map(|set| {
                set.split(',')
                    .map(|p| format!("`{}`", p.trim().replace('=', ": ")))
                    .collect::<Vec<_>>()
                    .join(" and ")
            })
            .collect::<Vec<_>>()
            .join(" or ");
        return format!(
            "the GitHub App or fine-grained token lacks the repository permissions GitHub asks \
             for ({wanted}); grant them and try again"
        );
    }
    if let Some(scopes) = header("x-accepted-oauth-scopes").filter(|v| !v.is_empty()) {
        let has = header("x-oauth-scopes").unwrap_or("");
        return format!(
            "the classic token needs the `{scopes}` scope (it has: `{has}`); \
             add the scope and try again"
        );
    }
    need.describe().to_owned()
}

/// Keeps server messages to one short line.
fn short(text: &str) -> String {
    let line = text.lines().next().unwrap_or("").trim();
    if line.chars().count() > 300 {
        format!("{}…", line.chars().take(300).collect::<String>())
    } else {
        line.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::github::test_headers as headers;

    #[test]
    fn forbidden_hints_prefer_github_headers() {
        let app = headers(&[(
            "x-accepted-github-permissions",
            "secrets=write,environments=write; administration=admin",
        )]);
        let hint = forbidden_hint(&app, Need::SecretsWrite);
        assert!(
            hint.contains(
                "(`secrets: write` and `environments: write` or `administration: admin`)"
            ),
            "{hint}"
        );
        let classic = headers(&[
            ("x-accepted-oauth-scopes", "repo"),
            ("x-oauth-scopes", "read:org"),
        ]);
        let hint = forbidden_hint(&classic, Need::SecretsWrite);
        assert!(
            hint.contains("`repo`") && hint.contains("read:org"),
            "{hint}"
        );
        let bare = forbidden_hint(&HeaderMap::new(), Need::SecretsWrite);
        assert!(
            bare.contains("secrets: write") && bare.contains("`repo` scope"),
            "{bare}"
        );
    }
}
