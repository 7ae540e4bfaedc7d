//! A small typed client for GitHub's environment-secrets REST endpoints, on top of octocrab.
//!
//! octocrab provides the transport, TLS, token header and API base URL; octocrab has no typed
//! calls for environment secrets, so requests go through its generic methods with the request
//! and response structs below. octocrab's own retry layer is turned off: it sleeps for whatever
//! `retry-after` says, without an upper bound, and retries 5xx without backoff. [`RetryPolicy`]
//! replaces it with bounded waits and a bounded number of attempts, and every status that is
//! not retried becomes a typed [`Error`] naming the method, path and what to do.

use std::time::Duration;

use http::{HeaderMap, Method, StatusCode};
use octocrab::Octocrab;
use serde::{Deserialize, Serialize};

use super::errors::{Error, Result, human_wait};
use super::sealing::SealingKey;
use crate::secret::SecretString;

/// GitHub's recommended media type, sent as `Accept` on every request.
pub const ACCEPT: &str = "application/vnd.github+json";
/// The REST API version this client is written against (octocrab sends it on every request).
pub const API_VERSION: &str = "2022-11-28";
/// The public GitHub API.
pub const DEFAULT_API_URL: &str = "https://api.github.com";
/// GitHub's page-size maximum for the secrets list.
const PER_PAGE: u32 = 100;
/// A guard against a server whose `Link: next` never ends.
const MAX_PAGES: u32 = 1000;

/// A repository as `owner/name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repo {
    owner: String,
    name: String,
}

impl Repo {
    /// Parses `owner/name`; `None` when it is not of that form.
    #[must_use]
    pub fn parse(value: &str) -> Option<Self> {
        let (owner, name) = value.trim().split_once('/')?;
        let ok = |s: &str| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        };
        (ok(owner) && ok(name)).then(|| Self {
            owner: owner.to_owned(),
            name: name.to_owned(),
        })
    }
}

impl std::fmt::Display for Repo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.owner, self.name)
    }
}

/// How failed requests are retried. Every wait and the number of attempts are bounded.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts per request, the first one included.
    pub max_attempts: u32,
    /// First backoff for 5xx and transport errors; doubles per attempt.
    pub backoff: Duration,
    /// The longest single wait accepted from `retry-after` / `x-ratelimit-reset`; a longer
    /// requested wait fails at once with [`Error::RateLimited`] instead of hanging the command.
    pub max_wait: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 4,
            backoff: Duration::from_millis(500),
            max_wait: Duration::from_secs(60),
        }
    }
}

/// Where and as whom to connect.
#[derive(Debug, Clone)]
pub struct Connection {
    /// API base URL, e.g. `https://api.github.com` or `https://ghe.example.com/api/v3`.
    pub api_url: String,
    /// The token (`GITHUB_TOKEN` / `GH_TOKEN`).
    pub token: SecretString,
    /// The repository.
    pub repo: Repo,
    /// Retry behaviour.
    pub retry: RetryPolicy,
}

/// What a secret upload did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// HTTP 201: the secret did not exist.
    Created,
    /// HTTP 204: an existing secret was replaced.
    Updated,
}

/// What a request needs from the token, for a 403 message that names it.
#[derive(Debug, Clone, Copy)]
enum Need {
    RepoRead,
    SecretsRead,
    SecretsWrite,
    EnvironmentWrite,
}

impl Need {
    fn describe(self) -> &'static str {
        match self {
            Need::RepoRead => {
                "the token needs read access to the repository (`metadata: read` for a GitHub App \
                 or fine-grained token, the `repo` scope for a classic token)"
            }
            Need::SecretsRead => {
                "the token needs the `secrets: read` repository permission (GitHub App or \
                 fine-grained token) or the `repo` scope (classic token)"
            }
            Need::SecretsWrite => {
                "the token needs the `secrets: write` repository permission (GitHub App or \
                 fine-grained token) or the `repo` scope (classic token)"
            }
            Need::EnvironmentWrite => {
                "creating an environment needs the `administration: write` repository permission \
                 (GitHub App or fine-grained token) or the `repo` scope (classic token)"
            }
        }
    }
}

#[derive(Deserialize)]
struct PublicKeyBody {
    key_id: String,
    key: String,
}

#[derive(Deserialize)]
struct SecretListBody {
    total_count: u64,
    secrets: Vec<SecretEntry>,
}

#[derive(Deserialize)]
struct SecretEntry {
    name: String,
}

#[derive(Serialize)]
struct PutSecretBody<'a> {
    encrypted_value: &'a str,
    key_id: &'a str,
}

#[derive(Deserialize, Default)]
struct MessageBody {
    #[serde(default)]
    message: String,
    #[serde(default)]
    errors: Vec<serde_json::Value>,
}

/// A response that was not retried: status, headers and the whole body.
struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

/// The GitHub client of one repository.
#[derive(Debug, Clone)]
pub struct Client {
    octo: Octocrab,
    api_url: String,
    repo: Repo,
    retry: RetryPolicy,
}

impl Client {
    /// Builds the client. Call [`crate::init_crypto`] first.
    ///
    /// # Errors
    /// [`Error::BadApiUrl`] or [`Error::Client`].
    pub fn new(connection: Connection) -> Result<Self> {
        let api_url = connection.api_url.trim_end_matches('/').to_owned();
        let parsed = url::Url::parse(&api_url).map_err(|_| Error::BadApiUrl {
            url: api_url.clone(),
        })?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
            return Err(Error::BadApiUrl { url: api_url });
        }
        let client_error = |source| Error::Client {
            base: api_url.clone(),
            source,
        };
        let octo = Octocrab::builder()
            .base_uri(api_url.as_str())
            .map_err(client_error)?
            .personal_token(connection.token.expose().to_owned())
            .add_header(http::header::ACCEPT, ACCEPT.to_owned())
            .add_retry_config(octocrab::service::middleware::retry::RetryConfig::None)
            .set_connect_timeout(Some(Duration::from_secs(10)))
            .set_read_timeout(Some(Duration::from_secs(30)))
            .build()
            .map_err(client_error)?;
        Ok(Self {
            octo,
            api_url,
            repo: connection.repo,
            retry: connection.retry,
        })
    }

    /// The repository this client works on.
    #[must_use]
    pub fn repo(&self) -> &Repo {
        &self.repo
    }

    fn repo_path(&self) -> String {
        format!(
            "/repos/{}/{}",
            segment(&self.repo.owner),
            segment(&self.repo.name)
        )
    }

    fn env_path(&self, environment: &str) -> String {
        format!("{}/environments/{}", self.repo_path(), segment(environment))
    }

    /// Whether the repository is visible to the token (`GET /repos/{owner}/{repo}`).
    ///
    /// # Errors
    /// Any status but 200 and 404, after retries.
    pub async fn repository_exists(&self) -> Result<bool> {
        let path = self.repo_path();
        let reply = self.send(Method::GET, &path, None).await?;
        match reply.status {
            StatusCode::OK => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            _ => Err(self.fail(&Method::GET, &path, reply, Need::RepoRead)),
        }
    }

    /// Whether the GitHub environment exists (`GET /repos/{owner}/{repo}/environments/{env}`).
    ///
    /// # Errors
    /// [`Error::RepositoryNotFound`], or any status but 200 and 404.
    pub async fn environment_exists(&self, environment: &str) -> Result<bool> {
        let path = self.env_path(environment);
        let reply = self.send(Method::GET, &path, None).await?;
        match reply.status {
            StatusCode::OK => Ok(true),
            StatusCode::NOT_FOUND if self.repository_exists().await? => Ok(false),
            StatusCode::NOT_FOUND => Err(Error::RepositoryNotFound {
                repo: self.repo.to_string(),
            }),
            _ => Err(self.fail(&Method::GET, &path, reply, Need::RepoRead)),
        }
    }

    /// Creates the GitHub environment with default protection rules
    /// (`PUT /repos/{owner}/{repo}/environments/{env}`).
    ///
    /// # Errors
    /// 403 names the `administration: write` permission; other statuses as usual.
    pub async fn create_environment(&self, environment: &str) -> Result<()> {
        let path = self.env_path(environment);
        let reply = self
            .send(Method::PUT, &path, Some(serde_json::json!({})))
            .await?;
        match reply.status {
            StatusCode::OK | StatusCode::CREATED => Ok(()),
            StatusCode::NOT_FOUND => Err(Error::RepositoryNotFound {
                repo: self.repo.to_string(),
            }),
            _ => Err(self.fail(&Method::PUT, &path, reply, Need::EnvironmentWrite)),
        }
    }

    /// The environment's public key for sealing values.
    ///
    /// # Errors
    /// 404 is resolved into [`Error::RepositoryNotFound`] or [`Error::EnvironmentNotFound`];
    /// an unusable key is [`Error::BadPublicKey`].
    pub async fn public_key(&self, environment: &str) -> Result<SealingKey> {
        let path = format!("{}/secrets/public-key", self.env_path(environment));
        let reply = self.send(Method::GET, &path, None).await?;
        if reply.status != StatusCode::OK {
            return Err(self
                .explain(&Method::GET, &path, reply, Need::SecretsRead, environment)
                .await);
        }
        let body: PublicKeyBody = parse(&Method::GET, &path, &reply.body)?;
        SealingKey::from_github(&body.key_id, &body.key).map_err(|e| Error::BadPublicKey {
            environment: environment.to_owned(),
            key_id: body.key_id,
            reason: e.to_string(),
        })
    }

    /// Every secret name in the environment, following `Link: rel="next"` pagination.
    ///
    /// # Errors
    /// As [`Client::public_key`].
    pub async fn secret_names(&self, environment: &str) -> Result<Vec<String>> {
        let first = format!(
            "{}/secrets?per_page={PER_PAGE}&page=1",
            self.env_path(environment)
        );
        let mut next = Some(first);
        let mut names = Vec::new();
        let mut total = 0;
        let mut pages = 0;
        while let Some(path) = next.take() {
            pages += 1;
            let reply = self.send(Method::GET, &path, None).await?;
            if reply.status != StatusCode::OK {
                return Err(self
                    .explain(&Method::GET, &path, reply, Need::SecretsRead, environment)
                    .await);
            }
            let body: SecretListBody = parse(&Method::GET, &path, &reply.body)?;
            total = body.total_count;
            names.extend(body.secrets.into_iter().map(|s| s.name));
            next = next_link(&reply.headers).filter(|_| pages < MAX_PAGES);
        }
        if names.len() as u64 != total {
            // The list changed while paging; the names seen are still the best answer.
            tracing::warn!(
                environment,
                seen = names.len(),
                total_count = total,
                "the secret list changed while it was being read"
            );
        }
        Ok(names)
    }

    /// Uploads one sealed value (`PUT .../secrets/{name}`).
    ///
    /// # Errors
    /// 403 names the `secrets: write` permission; 422 carries GitHub's message.
    pub async fn put_secret(
        &self,
        environment: &str,
        name: &str,
        key: &SealingKey,
        encrypted_value: &str,
    ) -> Result<Outcome> {
        let path = format!("{}/secrets/{}", self.env_path(environment), segment(name));
        let body = serde_json::to_value(PutSecretBody {
            encrypted_value,
            key_id: key.key_id(),
        })
        .expect("two strings always serialize");
        let reply = self.send(Method::PUT, &path, Some(body)).await?;
        match reply.status {
            StatusCode::CREATED => Ok(Outcome::Created),
            StatusCode::NO_CONTENT => Ok(Outcome::Updated),
            _ => Err(self
                .explain(&Method::PUT, &path, reply, Need::SecretsWrite, environment)
                .await),
        }
    }

    /// Turns a failed environment-scoped reply into an error; a 404 is resolved into
    /// "repository not found" or "environment not found" by asking about both.
    async fn explain(
        &self,
        method: &Method,
        path: &str,
        reply: Reply,
        need: Need,
        environment: &str,
    ) -> Error {
        if reply.status != StatusCode::NOT_FOUND {
            return self.fail(method, path, reply, need);
        }
        match self.environment_exists(environment).await {
            Ok(false) => Error::EnvironmentNotFound {
                repo: self.repo.to_string(),
                environment: environment.to_owned(),
                hint: "; create it in the repository settings, or run `gpt-deploy secrets sync` \
                       with --create-environment",
            },
            Ok(true) => self.fail(method, path, reply, need),
            Err(e) => e,
        }
    }

    /// Maps a non-retried, unexpected reply to an error.
    fn fail(&self, method: &Method, path: &str, reply: Reply, need: Need) -> Error {
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

    /// Sends one request, retrying rate limits, 5xx and transport errors within the policy.
    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Result<Reply> {
        let max = self.retry.max_attempts.max(1);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let backoff = self.retry.backoff * 2u32.saturating_pow(attempt - 1);
            let sent = match method {
                Method::PUT => self.octo._put(path, body.as_ref()).await,
                Method::DELETE => self.octo._delete(path, body.as_ref()).await,
                _ => self.octo._get(path).await,
            };
            let response = match sent {
                Ok(response) => response,
                Err(source) if attempt >= max => {
                    return Err(Error::Transport {
                        method: method.to_string(),
                        path: path.to_owned(),
                        base: self.api_url.clone(),
                        attempts: attempt,
                        source,
                    });
                }
                Err(e) => {
                    tracing::warn!(%method, path, attempt, error = %e, "request failed; retrying");
                    tokio::time::sleep(backoff).await;
                    continue;
                }
            };
            let status = response.status();
            let headers = response.headers().clone();
            let body_text = match self.octo.body_to_string(response).await {
                Ok(text) => text,
                Err(e) if attempt < max => {
                    tracing::warn!(%method, path, attempt, error = %e, "response body lost; retrying");
                    tokio::time::sleep(backoff).await;
                    continue;
                }
                Err(source) => {
                    return Err(Error::Transport {
                        method: method.to_string(),
                        path: path.to_owned(),
                        base: self.api_url.clone(),
                        attempts: attempt,
                        source,
                    });
                }
            };
            tracing::debug!(%method, path, status = status.as_u16(), attempt, "GitHub replied");
            if let Some(wait) = rate_limit_wait(status, &headers, &body_text, backoff) {
                let limited = |detail: String| Error::RateLimited {
                    method: method.to_string(),
                    path: path.to_owned(),
                    status: status.as_u16(),
                    detail,
                };
                if wait > self.retry.max_wait {
                    return Err(limited(format!(
                        "GitHub asks to wait {}, longer than the {} this command waits",
                        human_wait(wait),
                        human_wait(self.retry.max_wait)
                    )));
                }
                if attempt >= max {
                    return Err(limited(format!("still limited after {attempt} attempts")));
                }
                tracing::warn!(%method, path, wait_secs = wait.as_secs_f64(), "rate limited by GitHub; waiting");
                tokio::time::sleep(wait).await;
                continue;
            }
            if status.is_server_error() {
                if attempt >= max {
                    return Err(Error::Server {
                        method: method.to_string(),
                        path: path.to_owned(),
                        status: status.as_u16(),
                        attempts: attempt,
                    });
                }
                tracing::warn!(%method, path, status = status.as_u16(), attempt, "GitHub server error; retrying");
                tokio::time::sleep(backoff).await;
                continue;
            }
            return Ok(Reply {
                status,
                headers,
                body: body_text,
            });
        }
    }
}

/// How long a rate-limited reply asks us to wait; `None` when the reply is not a rate limit.
///
/// GitHub's rules: `retry-after` wins; else `x-ratelimit-remaining: 0` means wait until
/// `x-ratelimit-reset` (epoch seconds); a 429, or a 403 whose message says "rate limit", without
/// those headers gets exponential backoff. A plain 403 is a permission problem, not a limit.
fn rate_limit_wait(
    status: StatusCode,
    headers: &HeaderMap,
    body: &str,
    backoff: Duration,
) -> Option<Duration> {
    if status != StatusCode::TOO_MANY_REQUESTS && status != StatusCode::FORBIDDEN {
        return None;
    }
    let number = |name: &str| -> Option<i64> { headers.get(name)?.to_str().ok()?.trim().parse().ok() };
    if let Some(secs) = number("retry-after") {
        return Some(Duration::from_secs(secs.max(0).unsigned_abs()));
    }
    if number("x-ratelimit-remaining") == Some(0)
        && let Some(reset) = number("x-ratelimit-reset")
    {
        let now = chrono::Utc::now().timestamp();
        return Some(Duration::from_secs((reset - now).max(1).unsigned_abs()));
    }
    let says_limit = body.to_ascii_lowercase().contains("rate limit");
    (status == StatusCode::TOO_MANY_REQUESTS || says_limit).then_some(backoff)
}

/// The 403 hint: GitHub's own headers when it sends them, else what this call needs.
fn forbidden_hint(headers: &HeaderMap, need: Need) -> String {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(accepted) = header("x-accepted-github-permissions").filter(|v| !v.is_empty()) {
        let wanted = accepted.replace('=', ": ").replace(';', ", ");
        return format!(
            "the GitHub App or fine-grained token lacks the `{wanted}` repository permission \
             GitHub asks for; grant it and try again"
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

/// The `rel="next"` target of a `Link` header, as a path (so credentials stay on the API host).
fn next_link(headers: &HeaderMap) -> Option<String> {
    let link = headers.get(http::header::LINK)?.to_str().ok()?;
    link.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        let is_next = params
            .split(';')
            .any(|p| matches!(p.trim(), "rel=\"next\"" | "rel=next"));
        let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
        let url = url::Url::parse(target).ok()?;
        is_next.then(|| match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        })
    })
}

fn parse<T: serde::de::DeserializeOwned>(method: &Method, path: &str, body: &str) -> Result<T> {
    serde_json::from_str(body).map_err(|source| Error::BadResponse {
        method: method.to_string(),
        path: path.to_owned(),
        source,
    })
}

/// Percent-encodes one path segment (environment names may hold spaces).
fn segment(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for b in raw.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
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

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(*k, v.parse().unwrap());
        }
        map
    }

    #[test]
    fn repo_parsing() {
        assert_eq!(Repo::parse("acme/gpt-service").unwrap().to_string(), "acme/gpt-service");
        for bad in ["acme", "/x", "acme/", "a/b/c", "a b/c", ""] {
            assert!(Repo::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn next_link_is_found_among_others_and_made_relative() {
        let h = headers(&[(
            "link",
            "<https://api.github.com/repositories/1/environments/p/secrets?per_page=100&page=2>; rel=\"next\", \
             <https://api.github.com/repositories/1/environments/p/secrets?per_page=100&page=3>; rel=\"last\"",
        )]);
        assert_eq!(
            next_link(&h).unwrap(),
            "/repositories/1/environments/p/secrets?per_page=100&page=2"
        );
        let last_only = headers(&[("link", "<https://x/y?page=1>; rel=\"prev\"")]);
        assert_eq!(next_link(&last_only), None);
        assert_eq!(next_link(&HeaderMap::new()), None);
    }

    #[test]
    fn rate_limit_rules() {
        let b = Duration::from_millis(500);
        let ra = headers(&[("retry-after", "7")]);
        assert_eq!(
            rate_limit_wait(StatusCode::TOO_MANY_REQUESTS, &ra, "", b),
            Some(Duration::from_secs(7))
        );
        let reset = (chrono::Utc::now().timestamp() + 30).to_string();
        let primary = headers(&[("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", &reset)]);
        let wait = rate_limit_wait(StatusCode::FORBIDDEN, &primary, "", b).unwrap();
        assert!((28..=31).contains(&wait.as_secs()), "{wait:?}");
        assert_eq!(
            rate_limit_wait(StatusCode::FORBIDDEN, &HeaderMap::new(), "Resource not accessible by integration", b),
            None
        );
        assert_eq!(
            rate_limit_wait(StatusCode::FORBIDDEN, &HeaderMap::new(), "You have exceeded a secondary rate limit", b),
            Some(b)
        );
        assert_eq!(rate_limit_wait(StatusCode::OK, &ra, "", b), None);
    }

    #[test]
    fn forbidden_hints_prefer_github_headers() {
        let app = headers(&[("x-accepted-github-permissions", "secrets=write")]);
        assert!(forbidden_hint(&app, Need::SecretsWrite).contains("`secrets: write`"));
        let classic = headers(&[("x-accepted-oauth-scopes", "repo"), ("x-oauth-scopes", "read:org")]);
        let hint = forbidden_hint(&classic, Need::SecretsWrite);
        assert!(hint.contains("`repo`") && hint.contains("read:org"), "{hint}");
        let bare = forbidden_hint(&HeaderMap::new(), Need::SecretsWrite);
        assert!(bare.contains("secrets: write") && bare.contains("`repo` scope"), "{bare}");
    }

    #[test]
    fn segments_are_encoded() {
        assert_eq!(segment("production"), "production");
        assert_eq!(segment("prod east/1"), "prod%20east%2F1");
    }
}
