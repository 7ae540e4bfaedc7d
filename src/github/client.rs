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

use super::errors::{Error, Need, Reply, Result, from_reply, human_wait};
use super::retry::{RetryPolicy, rate_limit_wait};
use super::sealing::SealingKey;
use crate::secret::SecretString;

/// GitHub's recommended media type, sent as `Accept` on every request.
pub(crate) const ACCEPT: &str = "application/vnd.github+json";
/// The public GitHub API.
pub(crate) const DEFAULT_API_URL: &str = "https://api.github.com";
/// Page size of the secrets list: GitHub's documented default, stated explicitly. An
/// environment holds at most 100 secrets, so a full one takes four requests.
const PER_PAGE: u32 = 30;
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

/// The token trimmed (a pasted secret often ends in a newline) and checked to be sendable as an
/// `Authorization` header, so a bad one is a configuration error, never a panic in the client.
///
/// # Errors
/// [`Error::BadToken`] naming what is wrong, never the token.
pub(crate) fn checked_token(token: &SecretString) -> Result<SecretString> {
    let bad = |problem| Error::BadToken {
        var: "GITHUB_TOKEN (or GH_TOKEN)",
        problem,
    };
    let value = token.expose().trim();
    if value.is_empty() {
        return Err(bad("is blank"));
    }
    if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad("contains whitespace or control characters inside it"));
    }
    if !value.is_ascii() {
        return Err(bad("contains non-ASCII characters"));
    }
    if http::HeaderValue::from_str(&format!("Bearer {value}")).is_err() {
        return Err(bad("is not a valid HTTP header value"));
    }
    Ok(SecretString::new(value))
}

/// Whether `url` names this machine (where plain http cannot be overheard).
fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => {
            name.eq_ignore_ascii_case("localhost")
                || name.to_ascii_lowercase().ends_with(".localhost")
        }
        None => false,
    }
}

/// An API URL fit for an error message: credentials in it masked.
fn shown_url(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut url) => {
            if url.password().is_some() {
                let _ = url.set_password(Some("****"));
            }
            if !url.username().is_empty() {
                let _ = url.set_username("****");
            }
            url.set_query(None);
            let shown = url.to_string();
            // Show the address as it was written: the parser adds a `/` to an empty path.
            match shown.strip_suffix('/') {
                Some(without) if !raw.ends_with('/') => without.to_owned(),
                _ => shown,
            }
        }
        Err(_) => "(not shown: it is not a URL)".to_owned(),
    }
}

/// What a secret upload did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// HTTP 201: the secret did not exist.
    Created,
    /// HTTP 204: an existing secret was replaced.
    Updated,
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
        let api_url = connection.api_url.trim().trim_end_matches('/').to_owned();
        let parsed = url::Url::parse(&api_url).map_err(|_| Error::BadApiUrl {
            url: shown_url(&api_url),
        })?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
            return Err(Error::BadApiUrl {
                url: shown_url(&api_url),
            });
        }
        if parsed.scheme() == "http" && !is_loopback(&parsed) {
            return Err(Error::InsecureApiUrl {
                url: shown_url(&api_url),
            });
        }
        let token = checked_token(&connection.token)?;
        let client_error = |source| Error::Client {
            base: api_url.clone(),
            source: Box::new(source),
        };
        let octo = Octocrab::builder()
            .base_uri(api_url.as_str())
            .map_err(client_error)?
            .personal_token(token.expose().to_owned())
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
    pub(crate) fn repo(&self) -> &Repo {
        &self.repo
    }

    pub(super) fn repo_path(&self) -> String {
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
    pub(crate) async fn repository_exists(&self) -> Result<bool> {
        let path = self.repo_path();
        let reply = self.send(Method::GET, &path, None).await?;
        match reply.status {
            StatusCode::OK => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            _ => Err(from_reply(&Method::GET, &path, reply, Need::RepoRead)),
        }
    }

    /// Whether the GitHub environment exists (`GET /repos/{owner}/{repo}/environments/{env}`).
    ///
    /// # Errors
    /// [`Error::RepositoryNotFound`], or any status but 200 and 404.
    pub(crate) async fn environment_exists(&self, environment: &str) -> Result<bool> {
        let path = self.env_path(environment);
        let reply = self.send(Method::GET, &path, None).await?;
        match reply.status {
            StatusCode::OK => Ok(true),
            StatusCode::NOT_FOUND if self.repository_exists().await? => Ok(false),
            StatusCode::NOT_FOUND => Err(Error::RepositoryNotFound {
                repo: self.repo.to_string(),
            }),
            _ => Err(from_reply(&Method::GET, &path, reply, Need::RepoRead)),
        }
    }

    /// Creates the GitHub environment with default protection rules
    /// (`PUT /repos/{owner}/{repo}/environments/{env}`).
    ///
    /// # Errors
    /// 403 names the `administration: write` permission; other statuses as usual.
    pub(crate) async fn create_environment(&self, environment: &str) -> Result<()> {
        let path = self.env_path(environment);
        let reply = self
            .send(Method::PUT, &path, Some(serde_json::json!({})))
            .await?;
        match reply.status {
            StatusCode::OK | StatusCode::CREATED => Ok(()),
            StatusCode::NOT_FOUND => Err(Error::RepositoryNotFound {
                repo: self.repo.to_string(),
            }),
            _ => Err(from_reply(
                &Method::PUT,
                &path,
                reply,
                Need::EnvironmentWrite,
            )),
        }
    }

    /// The environment's public key for sealing values.
    ///
    /// # Errors
    /// 404 is resolved into [`Error::RepositoryNotFound`] or [`Error::EnvironmentNotFound`];
    /// an unusable key is [`Error::BadPublicKey`].
    pub(crate) async fn public_key(&self, environment: &str) -> Result<SealingKey> {
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
    pub(crate) async fn secret_names(&self, environment: &str) -> Result<Vec<String>> {
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
    /// 403 names the `secrets: write` and `environments: write` permissions; 422 carries
    /// GitHub's message.
    pub(crate) async fn put_secret(
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
            return from_reply(method, path, reply, need);
        }
        match self.environment_exists(environment).await {
            Ok(false) => Error::EnvironmentNotFound {
                repo: self.repo.to_string(),
                environment: environment.to_owned(),
                hint: "; create it in the repository settings, or run `gpt-deploy secrets sync` \
                       with --create-environment",
            },
            Ok(true) => from_reply(method, path, reply, need),
            Err(e) => e,
        }
    }

    /// Sends one request, retrying rate limits, 5xx and transport errors within the policy.
    pub(super) async fn send(
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
                Method::POST => self.octo._post(path, body.as_ref()).await,
                Method::PATCH => self.octo._patch(path, body.as_ref()).await,
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
                        source: Box::new(source),
                    });
                }
                Err(e) => {
                    tracing::debug!(%method, path, attempt, error = %e, "request failed; retrying");
                    tokio::time::sleep(backoff).await;
                    continue;
                }
            };
            let status = response.status();
            let headers = response.headers().clone();
            let body_text = match self.octo.body_to_string(response).await {
                Ok(text) => text,
                Err(e) if attempt < max => {
                    tracing::debug!(%method, path, attempt, error = %e, "response body lost; retrying");
                    tokio::time::sleep(backoff).await;
                    continue;
                }
                Err(source) => {
                    return Err(Error::Transport {
                        method: method.to_string(),
                        path: path.to_owned(),
                        base: self.api_url.clone(),
                        attempts: attempt,
                        source: Box::new(source),
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
                tracing::debug!(%method, path, status = status.as_u16(), attempt, "GitHub server error; retrying");
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

/// The `rel="next"` target of a `Link` header, as a path (so credentials stay on the API host).
pub(super) fn next_link(headers: &HeaderMap) -> Option<String> {
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

pub(super) fn parse<T: serde::de::DeserializeOwned>(
    method: &Method,
    path: &str,
    body: &str,
) -> Result<T> {
    serde_json::from_str(body).map_err(|source| Error::BadResponse {
        method: method.to_string(),
        path: path.to_owned(),
        source,
    })
}

/// Percent-encodes one path segment (environment names may hold spaces).
pub(super) fn segment(raw: &str) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::github::test_headers as headers;

    fn connection(api_url: &str, token: &str) -> Connection {
        Connection {
            api_url: api_url.to_owned(),
            token: SecretString::new(token),
            repo: Repo::parse("acme/gpt").unwrap(),
            retry: RetryPolicy::default(),
        }
    }

    #[tokio::test]
    async fn tokens_are_trimmed_and_checked_without_being_shown() {
        crate::init_crypto();
        for ok in ["ghp_sentinel\n", "  ghp_sentinel\r\n", "ghp_sentinel"] {
            assert_eq!(
                checked_token(&SecretString::new(ok)).unwrap().expose(),
                "ghp_sentinel"
            );
            Client::new(connection("https://api.github.com", ok)).unwrap();
        }
        for bad in [
            "",
            " \n",
            "ghp_sen\ntinel",
            "ghp_sen tinel",
            "ghp_sentinel\u{7f}",
            "ghp_séntinel",
        ] {
            let err = Client::new(connection("https://api.github.com", bad)).unwrap_err();
            assert!(matches!(err, Error::BadToken { .. }), "{bad:?}: {err}");
            assert_eq!(crate::Failure::exit_code(&err), crate::exit::CONFIG);
            let text = format!("{err} {err:?}");
            assert!(!text.contains("sen"), "{text}");
        }
    }

    #[tokio::test]
    async fn plain_http_is_only_for_this_machine() {
        crate::init_crypto();
        for ok in [
            "http://127.0.0.1:8080",
            "http://127.1.2.3/api/v3",
            "http://[::1]:9000",
            "http://localhost:3000/",
            "https://ghe.example.com/api/v3",
        ] {
            Client::new(connection(ok, "tok")).unwrap();
        }
        for bad in [
            "http://api.github.com",
            "http://10.0.0.1",
            "http://localhost.example.com",
            "http://user:sentinel@ghe.example.com",
        ] {
            let err = Client::new(connection(bad, "tok")).unwrap_err();
            assert!(matches!(err, Error::InsecureApiUrl { .. }), "{bad}: {err}");
            assert!(err.to_string().contains("https://"), "{err}");
            assert!(!err.to_string().contains("sentinel"), "{err}");
            assert_eq!(crate::Failure::exit_code(&err), crate::exit::CONFIG);
        }
    }

    #[test]
    fn repo_parsing() {
        assert_eq!(
            Repo::parse("acme/gpt-service").unwrap().to_string(),
            "acme/gpt-service"
        );
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
    fn segments_are_encoded() {
        assert_eq!(segment("production"), "production");
        assert_eq!(segment("prod east/1"), "prod%20east%2F1");
    }
}
