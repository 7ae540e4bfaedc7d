//! A local stand-in for GitHub's REST API, limited to the documented environment-secrets
//! endpoints (API version 2022-11-28):
//!
//! - `GET /repos/{owner}/{repo}` (200 / 404)
//! - `GET|PUT /repos/{owner}/{repo}/environments/{env}` (PUT creates, 200)
//! - `GET .../environments/{env}/secrets/public-key`
//! - `GET .../environments/{env}/secrets?per_page&page` with `total_count` and a `Link` header
//!   whose URLs use the `/repositories/{id}/...` form, as GitHub's do (also served)
//! - `GET|PUT|DELETE .../environments/{env}/secrets/{name}` (PUT: 201 created, 204 updated;
//!   422 for a wrong `key_id`, a box that does not open, or a bad name)
//! - `GET|POST /repos/{owner}/{repo}/issues` (list: `state`, `direction`, `per_page`, `page`,
//!   pull requests included with a `pull_request` key, `Link` header; create: 201, 422 without
//!   a title), `GET|PATCH .../issues/{number}` (`body`, `state`, `state_reason`; 200)
//! - `GET|POST .../issues/{number}/comments` (list paginated like the others; create: 201),
//!   `PATCH|DELETE .../issues/comments/{id}` (200 / 204); 404 for unknown numbers and ids, 422
//!   for a body longer than GitHub's 65,536 characters
//!
//! The API is an axum [`Router`] with one handler per endpoint; one middleware ([`gate`])
//! records every request and answers for the checks GitHub makes before any endpoint runs.
//! Every request must carry the bearer token (else 401), `Accept: application/vnd.github+json`
//! and `X-GitHub-Api-Version: 2022-11-28` (else 400). Access can be reduced to read-only to get
//! GitHub's 403 with `x-accepted-github-permissions` (app / fine-grained tokens) or
//! `x-accepted-oauth-scopes` (classic tokens). Faults (429 with `retry-after`, 5xx, 422, ...) are
//! injected per method and path. Every uploaded sealed box is opened with the environment's
//! private key and the plaintext recorded for comparison.
//!
//! The server runs on its own thread and runtime, so it serves both async tests and the
//! binary, and stops when the value is dropped.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use crypto_box::aead::OsRng;
use serde_json::{Value, json};

/// The token the stand-in accepts.
pub const TOKEN: &str = "ghs_standin_token_0d9f1c";

/// What the token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Everything.
    Full,
    /// Reads only: every PUT/DELETE is 403.
    ReadOnly,
}

/// How GitHub explains a 403.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// GitHub App installation or fine-grained token: `x-accepted-github-permissions`.
    App,
    /// Classic personal access token: `x-oauth-scopes` / `x-accepted-oauth-scopes`.
    Classic,
}

/// One request as received.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// HTTP method.
    pub method: Method,
    /// Path without the API prefix, percent-decoded.
    pub path: String,
    /// Raw query string.
    #[allow(
        dead_code,
        reason = "shown when a test prints the requests it did not expect"
    )]
    pub query: String,
}

/// One uploaded secret, opened with the environment's private key.
#[derive(Debug, Clone)]
pub struct Upload {
    /// `owner/name`.
    pub repo: String,
    /// GitHub environment.
    pub environment: String,
    /// Secret name as sent.
    pub name: String,
    /// The opened plaintext.
    pub plaintext: String,
    /// The `encrypted_value` as sent.
    pub encrypted_value: String,
}

/// A canned response for matching requests, used `times` times.
#[derive(Debug, Clone)]
pub struct Fault {
    /// Only this method (any when `None`).
    pub method: Option<Method>,
    /// Only paths ending with this.
    pub path_suffix: String,
    /// Status to return.
    pub status: u16,
    /// Extra response headers.
    pub headers: Vec<(String, String)>,
    /// JSON body.
    pub body: Value,
    /// How many requests it applies to.
    pub times: usize,
}

impl Fault {
    /// A fault for `method` on paths ending with `suffix`, once, with GitHub's error body.
    #[must_use]
    pub fn new(method: Method, suffix: &str, status: u16, message: &str) -> Self {
        Self {
            method: Some(method),
            path_suffix: suffix.to_owned(),
            status,
            headers: Vec::new(),
            body: json!({"message": message, "documentation_url": "https://docs.github.com/rest"}),
            times: 1,
        }
    }

    /// Adds a response header.
    #[must_use]
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Applies to `n` requests.
    #[must_use]
    pub fn times(mut self, n: usize) -> Self {
        self.times = n;
        self
    }
}

struct Secret {
    created_at: String,
    updated_at: String,
}

struct Env {
    id: u64,
    created_at: String,
    secrets: BTreeMap<String, Secret>,
}

struct Repo {
    id: u64,
    environments: BTreeMap<String, Env>,
    /// Issues and pull requests by number (they share the numbering, as on GitHub).
    issues: BTreeMap<u64, IssueRecord>,
    /// Comments on issues and pull requests by id.
    comments: BTreeMap<u64, CommentRecord>,
}

/// An issue or pull request as the stand-in keeps it.
#[derive(Debug, Clone)]
pub struct IssueRecord {
    /// The number.
    pub number: u64,
    /// The title.
    pub title: String,
    /// The body.
    pub body: String,
    /// `open` or `closed`.
    pub state: String,
    /// `completed`, `not_planned`, `reopened` or none.
    pub state_reason: Option<String>,
    /// Whether this is a pull request.
    pub pull_request: bool,
    created_at: String,
    updated_at: String,
}

/// A comment as the stand-in keeps it.
#[derive(Debug, Clone)]
pub struct CommentRecord {
    /// The comment id.
    pub id: u64,
    /// The issue or pull request it belongs to.
    pub issue: u64,
    /// The body.
    pub body: String,
    created_at: String,
    updated_at: String,
}

struct Inner {
    base: String,
    key_id: String,
    secret_key: crypto_box::SecretKey,
    repos: BTreeMap<String, Repo>,
    access: Access,
    kind: TokenKind,
    faults: Vec<Fault>,
    requests: Vec<Recorded>,
    uploads: Vec<Upload>,
    next_id: u64,
}

type Shared = Arc<Mutex<Inner>>;

/// The running stand-in.
pub struct GitHubStandIn {
    url: String,
    inner: Shared,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl GitHubStandIn {
    /// Starts a stand-in at `http://127.0.0.1:{port}`.
    #[must_use]
    pub fn start() -> Self {
        Self::start_with_prefix("")
    }

    /// Starts a stand-in serving under a path prefix, as GitHub Enterprise does (`/api/v3`).
    #[must_use]
    pub fn start_with_prefix(prefix: &str) -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener.set_nonblocking(true).unwrap();
        let base = format!("http://{}{prefix}", listener.local_addr().unwrap());
        let inner = Arc::new(Mutex::new(Inner {
            base: base.clone(),
            key_id: "568250167242549743".to_owned(),
            secret_key: crypto_box::SecretKey::generate(&mut OsRng),
            repos: BTreeMap::new(),
            access: Access::Full,
            kind: TokenKind::App,
            faults: Vec::new(),
            requests: Vec::new(),
            uploads: Vec::new(),
            next_id: 1000,
        }));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let state = inner.clone();
        let prefix = prefix.to_owned();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                let app = router(state, &prefix);
                axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = stopped.await;
                    })
                    .await
                    .unwrap();
            });
        });
        Self {
            url: base,
            inner,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// The API base URL (for `GITHUB_API_URL`).
    #[must_use]
    pub fn url(&self) -> &str {
        &self.url
    }

    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        f(&mut self.inner.lock().unwrap())
    }

    /// Adds a repository (`owner/name`).
    pub fn add_repo(&self, repo: &str) {
        self.with(|s| {
            s.next_id += 1;
            let id = s.next_id;
            s.repos.entry(repo.to_owned()).or_insert(Repo {
                id,
                environments: BTreeMap::new(),
                issues: BTreeMap::new(),
                comments: BTreeMap::new(),
            });
        });
    }

    /// Adds a GitHub environment (and its repository).
    pub fn add_environment(&self, repo: &str, env: &str) {
        self.add_repo(repo);
        self.with(|s| {
            s.next_id += 1;
            let id = s.next_id;
            let r = s.repos.get_mut(repo).unwrap();
            r.environments.entry(env.to_owned()).or_insert(Env {
                id,
                created_at: now(),
                secrets: BTreeMap::new(),
            });
        });
    }

    /// Adds a secret whose value nobody knows (as after an earlier upload).
    pub fn add_secret(&self, repo: &str, env: &str, name: &str) {
        self.add_environment(repo, env);
        self.with(|s| {
            let e = s
                .repos
                .get_mut(repo)
                .unwrap()
                .environments
                .get_mut(env)
                .unwrap();
            e.secrets.insert(
                name.to_ascii_uppercase(),
                Secret {
                    created_at: now(),
                    updated_at: now(),
                },
            );
        });
    }

    /// Opens a pull request (and its repository); returns its number.
    pub fn add_pull_request(&self, repo: &str, title: &str) -> u64 {
        self.add_issue_record(repo, title, "", true)
    }

    /// Opens an issue (and its repository), as a person would; returns its number.
    pub fn add_issue(&self, repo: &str, title: &str, body: &str) -> u64 {
        self.add_issue_record(repo, title, body, false)
    }

    fn add_issue_record(&self, repo: &str, title: &str, body: &str, pull_request: bool) -> u64 {
        self.add_repo(repo);
        self.with(|s| {
            let r = s.repos.get_mut(repo).unwrap();
            let number = r.issues.keys().max().copied().unwrap_or(0) + 1;
            r.issues.insert(
                number,
                IssueRecord {
                    number,
                    title: title.to_owned(),
                    body: body.to_owned(),
                    state: "open".to_owned(),
                    state_reason: None,
                    pull_request,
                    created_at: now(),
                    updated_at: now(),
                },
            );
            number
        })
    }

    /// Adds a comment, as a person would; returns its id.
    pub fn add_comment(&self, repo: &str, issue: u64, body: &str) -> u64 {
        self.with(|s| {
            s.next_id += 1;
            let id = s.next_id;
            let r = s.repos.get_mut(repo).expect("the repository exists");
            assert!(r.issues.contains_key(&issue), "issue #{issue} exists");
            r.comments.insert(
                id,
                CommentRecord {
                    id,
                    issue,
                    body: body.to_owned(),
                    created_at: now(),
                    updated_at: now(),
                },
            );
            id
        })
    }

    /// Every issue and pull request of a repository, by number.
    #[must_use]
    pub fn issues(&self, repo: &str) -> Vec<IssueRecord> {
        self.with(|s| {
            s.repos
                .get(repo)
                .map(|r| r.issues.values().cloned().collect())
                .unwrap_or_default()
        })
    }

    /// The comments on one issue or pull request, oldest first.
    #[must_use]
    pub fn comments(&self, repo: &str, issue: u64) -> Vec<CommentRecord> {
        self.with(|s| {
            s.repos
                .get(repo)
                .map(|r| {
                    r.comments
                        .values()
                        .filter(|c| c.issue == issue)
                        .cloned()
                        .collect()
                })
                .unwrap_or_default()
        })
    }

    /// Secret names stored in an environment.
    #[must_use]
    pub fn secret_names(&self, repo: &str, env: &str) -> Vec<String> {
        self.with(|s| {
            s.repos
                .get(repo)
                .and_then(|r| r.environments.get(env))
                .map(|e| e.secrets.keys().cloned().collect())
                .unwrap_or_default()
        })
    }

    /// Whether an environment exists.
    #[must_use]
    pub fn has_environment(&self, repo: &str, env: &str) -> bool {
        self.with(|s| {
            s.repos
                .get(repo)
                .is_some_and(|r| r.environments.contains_key(env))
        })
    }

    /// Reduces (or restores) what the token may do, and how GitHub explains a 403.
    pub fn set_access(&self, access: Access, kind: TokenKind) {
        self.with(|s| {
            s.access = access;
            s.kind = kind;
        });
    }

    /// Queues a fault.
    pub fn inject(&self, fault: Fault) {
        self.with(|s| s.faults.push(fault));
    }

    /// Every request received so far.
    #[must_use]
    pub fn requests(&self) -> Vec<Recorded> {
        self.with(|s| s.requests.clone())
    }

    /// How many requests had this method and a path ending with `suffix`.
    #[must_use]
    pub fn count(&self, method: &Method, suffix: &str) -> usize {
        self.requests()
            .iter()
            .filter(|r| r.method == *method && r.path.ends_with(suffix))
            .count()
    }

    /// Every upload, opened.
    #[must_use]
    pub fn uploads(&self) -> Vec<Upload> {
        self.with(|s| s.uploads.clone())
    }

    /// The environments' private key (one key for all environments of this stand-in).
    #[must_use]
    pub fn secret_key(&self) -> [u8; 32] {
        self.with(|s| s.secret_key.to_bytes())
    }

    /// The public key as GitHub sends it (base64).
    #[must_use]
    pub fn public_key_base64(&self) -> String {
        self.with(|s| STANDARD.encode(s.secret_key.public_key().as_bytes()))
    }

    /// Opens a base64 sealed box with the stand-in's private key, as the PUT handler does.
    ///
    /// # Errors
    /// Not base64, or the box does not open.
    pub fn open(&self, sealed_base64: &str) -> Result<Vec<u8>, String> {
        self.with(|s| open_box(&s.secret_key, sealed_base64))
    }
}

impl Drop for GitHubStandIn {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn now() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn open_box(key: &crypto_box::SecretKey, sealed_base64: &str) -> Result<Vec<u8>, String> {
    let sealed = STANDARD
        .decode(sealed_base64)
        .map_err(|e| format!("encrypted_value is not base64: {e}"))?;
    key.unseal(&sealed)
        .map_err(|_| "encrypted_value does not open with the environment's key".to_owned())
}

fn reply(status: u16, body: Value) -> Response {
    let status = StatusCode::from_u16(status).unwrap();
    if body.is_null() {
        return status.into_response();
    }
    (status, axum::Json(body)).into_response()
}

fn message(status: u16, text: &str) -> Response {
    reply(
        status,
        json!({"message": text, "documentation_url": "https://docs.github.com/rest"}),
    )
}

/// GitHub's answer to an unknown path, an unknown repository or object, and a method a path
/// does not serve.
async fn not_found() -> Response {
    message(404, "Not Found")
}

fn decode(segment: &str) -> String {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&segment[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn query_number(query: &str, key: &str) -> Option<usize> {
    query.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == key).then(|| v.parse().ok()).flatten()
    })
}

fn query_text<'a>(query: &'a str, key: &str) -> Option<&'a str> {
    query.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == key).then_some(v)
    })
}

/// GitHub's naming rules for secrets (the 422 cases).
fn bad_name(name: &str) -> bool {
    name.is_empty()
        || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        || name.starts_with(|c: char| c.is_ascii_digit())
        || name.to_ascii_uppercase().starts_with("GITHUB_")
}

/// The REST API: one route per documented path, served under `/repos/{owner}/{repo}` and under
/// `/repositories/{id}` (the form of GitHub's `Link` headers), behind [`gate`].
fn router(state: Shared, prefix: &str) -> Router {
    let repo = Router::new()
        .route("/", get(get_repo))
        .route(
            "/environments/{env}",
            get(get_environment).put(put_environment),
        )
        .route("/environments/{env}/secrets", get(list_secrets))
        .route("/environments/{env}/secrets/public-key", get(public_key))
        .route(
            "/environments/{env}/secrets/{name}",
            get(get_secret).put(put_secret).delete(delete_secret),
        )
        .route("/issues", get(list_issues).post(create_issue))
        .route("/issues/{number}", get(get_issue).patch(update_issue))
        .route(
            "/issues/{number}/comments",
            get(list_comments).post(create_comment),
        )
        .route(
            "/issues/comments/{id}",
            patch(update_comment).delete(delete_comment),
        )
        .method_not_allowed_fallback(not_found);
    let api = Router::new()
        .nest("/repos/{owner}/{repo}", repo.clone())
        .nest("/repositories/{repository_id}", repo)
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(state.clone(), gate))
        .with_state(state);
    if prefix.is_empty() {
        api
    } else {
        Router::new().nest(prefix, api).fallback(not_found)
    }
}

/// Runs before every endpoint, in GitHub's order: records the request, then answers 400 for
/// missing API headers, 401 for a wrong token, an injected fault, and 403 for a write with a
/// read-only token.
async fn gate(State(state): State<Shared>, request: Request, next: Next) -> Response {
    if let Some(response) = screen(&mut state.lock().unwrap(), &request) {
        return response;
    }
    next.run(request).await
}

fn screen(s: &mut Inner, request: &Request) -> Option<Response> {
    let (method, headers) = (request.method(), request.headers());
    let segments: Vec<String> = request
        .uri()
        .path()
        .trim_matches('/')
        .split('/')
        .map(decode)
        .collect();
    let path = format!("/{}", segments.join("/"));
    s.requests.push(Recorded {
        method: method.clone(),
        path: path.clone(),
        query: request.uri().query().unwrap_or("").to_owned(),
    });

    let accept_ok = headers.get_all("accept").iter().any(|v| {
        v.to_str()
            .unwrap_or("")
            .contains("application/vnd.github+json")
    });
    let versions: Vec<_> = headers.get_all("x-github-api-version").iter().collect();
    if !accept_ok || versions.len() != 1 || versions[0] != "2022-11-28" {
        return Some(message(
            400,
            "Accept: application/vnd.github+json and exactly one X-GitHub-Api-Version: 2022-11-28 are required",
        ));
    }
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if auth != format!("Bearer {TOKEN}") && auth != format!("token {TOKEN}") {
        return Some(message(401, "Bad credentials"));
    }

    if let Some(fault) = s.faults.iter_mut().find(|f| {
        f.times > 0
            && f.method.as_ref().is_none_or(|m| m == method)
            && path.ends_with(&f.path_suffix)
    }) {
        fault.times -= 1;
        let mut response = reply(fault.status, fault.body.clone());
        for (k, v) in &fault.headers {
            response.headers_mut().insert(
                axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        return Some(response);
    }

    let segs: Vec<&str> = segments.iter().map(String::as_str).collect();
    let rest = match segs.as_slice() {
        ["repos", _, _, rest @ ..] => rest,
        ["repositories", id, rest @ ..] if s.repos.values().any(|r| r.id.to_string() == *id) => {
            rest
        }
        _ => return Some(message(404, "Not Found")),
    };
    let writes = matches!(
        *method,
        Method::PUT | Method::DELETE | Method::POST | Method::PATCH
    );
    if !writes || s.access == Access::Full {
        return None;
    }
    let mut response = message(403, "Resource not accessible by integration");
    let h = response.headers_mut();
    match s.kind {
        TokenKind::App => {
            let perm = if rest.first() == Some(&"issues") {
                if rest.contains(&"comments") {
                    "issues=write; pull_requests=write"
                } else {
                    "issues=write"
                }
            } else if rest.len() == 2 {
                "administration=write"
            } else {
                "secrets=write,environments=write"
            };
            h.insert(
                "x-accepted-github-permissions",
                HeaderValue::from_static(perm),
            );
        }
        TokenKind::Classic => {
            h.insert(
                "x-oauth-scopes",
                HeaderValue::from_static("read:org, workflow"),
            );
            h.insert("x-accepted-oauth-scopes", HeaderValue::from_static("repo"));
        }
    }
    Some(response)
}

/// The path parameters of a route: the repository (`owner`/`repo` or `repository_id`) and the
/// route's own (`env`, `name`, `number`, `id`).
type Params = Path<HashMap<String, String>>;

impl Inner {
    /// `owner/name` of the repository a route names, if the stand-in has it.
    fn repo_name(&self, params: &HashMap<String, String>) -> Option<String> {
        let name = match (params.get("owner"), params.get("repo")) {
            (Some(owner), Some(repo)) => format!("{owner}/{repo}"),
            _ => {
                let id = params.get("repository_id")?;
                self.repos
                    .iter()
                    .find(|(_, r)| r.id.to_string() == *id)
                    .map(|(n, _)| n.clone())?
            }
        };
        self.repos.contains_key(&name).then_some(name)
    }

    /// The repository a route names and its `owner/name`, or GitHub's 404.
    fn repo(&mut self, params: &HashMap<String, String>) -> Result<(String, &mut Repo), Reject> {
        let name = self.repo_name(params).ok_or(Reject::NotFound)?;
        let repo = self.repos.get_mut(&name).unwrap();
        Ok((name, repo))
    }
}

/// A GitHub error answer, found by a step of a handler.
enum Reject {
    /// 404 with GitHub's body.
    NotFound,
    /// A status with GitHub's body and this message.
    Message(u16, &'static str),
    /// 422 for a body longer than GitHub allows, on this resource.
    TooLong(&'static str),
}

impl IntoResponse for Reject {
    fn into_response(self) -> Response {
        match self {
            Reject::NotFound => message(404, "Not Found"),
            Reject::Message(status, text) => message(status, text),
            Reject::TooLong(resource) => too_long(resource),
        }
    }
}

/// Unwraps a handler step, or answers with its [`Reject`].
macro_rules! or_reply {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(reject) => return Reject::into_response(reject),
        }
    };
}

/// `GET /repos/{owner}/{repo}`
async fn get_repo(State(state): State<Shared>, Path(p): Params) -> Response {
    let mut s = state.lock().unwrap();
    let (name, repo) = or_reply!(s.repo(&p));
    reply(
        200,
        json!({"id": repo.id, "name": name.split('/').nth(1), "full_name": name, "private": true}),
    )
}

fn environment_json(base: &str, repo_name: &str, env: &str, e: &Env) -> Value {
    json!({
        "id": e.id, "node_id": format!("EN_{}", e.id), "name": env,
        "url": format!("{base}/repos/{repo_name}/environments/{env}"),
        "html_url": format!("https://github.com/{repo_name}/deployments/activity_log?environments_filter={env}"),
        "created_at": e.created_at, "updated_at": e.created_at,
        "protection_rules": [], "deployment_branch_policy": null
    })
}

/// `GET /repos/{owner}/{repo}/environments/{env}`
async fn get_environment(State(state): State<Shared>, Path(p): Params) -> Response {
    let mut s = state.lock().unwrap();
    let base = s.base.clone();
    let (name, repo) = or_reply!(s.repo(&p));
    match repo.environments.get(&p["env"]) {
        Some(e) => reply(200, environment_json(&base, &name, &p["env"], e)),
        None => message(404, "Not Found"),
    }
}

/// `PUT /repos/{owner}/{repo}/environments/{env}`: creates it when missing; 200 either way.
async fn put_environment(State(state): State<Shared>, Path(p): Params) -> Response {
    let mut s = state.lock().unwrap();
    let base = s.base.clone();
    let id = s.next_id + 1;
    let (name, repo) = or_reply!(s.repo(&p));
    let env = &p["env"];
    if !repo.environments.contains_key(env) {
        repo.environments.insert(
            env.clone(),
            Env {
                id,
                created_at: now(),
                secrets: BTreeMap::new(),
            },
        );
        s.next_id = id;
    }
    let e = &s.repos[&name].environments[env];
    reply(200, environment_json(&base, &name, env, e))
}

/// The environment a route names, or GitHub's 404.
fn environment<'a>(repo: &'a mut Repo, p: &HashMap<String, String>) -> Result<&'a mut Env, Reject> {
    repo.environments.get_mut(&p["env"]).ok_or(Reject::NotFound)
}

/// `GET .../environments/{env}/secrets/public-key`
async fn public_key(State(state): State<Shared>, Path(p): Params) -> Response {
    let mut s = state.lock().unwrap();
    let key = json!({
        "key_id": s.key_id,
        "key": STANDARD.encode(s.secret_key.public_key().as_bytes()),
    });
    let (_, repo) = or_reply!(s.repo(&p));
    or_reply!(environment(repo, &p));
    reply(200, key)
}

/// `GET .../environments/{env}/secrets?per_page&page`: `total_count`, and a `Link` header to
/// the other pages.
async fn list_secrets(
    State(state): State<Shared>,
    Path(p): Params,
    RawQuery(query): RawQuery,
) -> Response {
    let mut s = state.lock().unwrap();
    let base = s.base.clone();
    let (_, repo) = or_reply!(s.repo(&p));
    let repo_id = repo.id;
    let e = or_reply!(environment(repo, &p));
    let page = Page {
        base: &base,
        repo_id,
        query: query.as_deref().unwrap_or(""),
    };
    let items = e
        .secrets
        .iter()
        .map(|(n, v)| json!({"name": n, "created_at": v.created_at, "updated_at": v.updated_at}))
        .collect();
    let path = format!("environments/{}/secrets", p["env"]);
    page.reply(
        &path,
        "",
        items,
        |total, shown| json!({"total_count": total, "secrets": shown}),
    )
}

/// `GET .../environments/{env}/secrets/{name}`
async fn get_secret(State(state): State<Shared>, Path(p): Params) -> Response {
    let mut s = state.lock().unwrap();
    let (_, repo) = or_reply!(s.repo(&p));
    let e = or_reply!(environment(repo, &p));
    let upper = p["name"].to_ascii_uppercase();
    match e.secrets.get(&upper) {
        Some(v) => reply(
            200,
            json!({"name": upper, "created_at": v.created_at, "updated_at": v.updated_at}),
        ),
        None => message(404, "Not Found"),
    }
}

/// `DELETE .../environments/{env}/secrets/{name}`: 204, or 404.
async fn delete_secret(State(state): State<Shared>, Path(p): Params) -> Response {
    let mut s = state.lock().unwrap();
    let (_, repo) = or_reply!(s.repo(&p));
    let e = or_reply!(environment(repo, &p));
    match e.secrets.remove(&p["name"].to_ascii_uppercase()) {
        Some(_) => reply(204, Value::Null),
        None => message(404, "Not Found"),
    }
}

/// `PUT .../environments/{env}/secrets/{name}`: 201 created, 204 updated; 422 for a bad name,
/// a wrong `key_id` or a box that does not open. The opened value is recorded.
async fn put_secret(State(state): State<Shared>, Path(p): Params, body: Bytes) -> Response {
    let mut s = state.lock().unwrap();
    let (key_id, secret_key) = (s.key_id.clone(), s.secret_key.clone());
    let (repo_name, repo) = or_reply!(s.repo(&p));
    let e = or_reply!(environment(repo, &p));
    let name = &p["name"];
    if bad_name(name) {
        return message(
            422,
            "Secret names can only contain alphanumeric characters ([a-z], [A-Z], [0-9]) or underscores (_).",
        );
    }
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return message(400, "Problems parsing JSON");
    };
    let (Some(value), Some(sent_key_id)) =
        (body["encrypted_value"].as_str(), body["key_id"].as_str())
    else {
        return message(
            422,
            "Invalid request.\n\n\"encrypted_value\" and \"key_id\" are required.",
        );
    };
    if sent_key_id != key_id {
        return message(
            422,
            "Bad request - key_id does not match the environment's public key.",
        );
    }
    let plaintext = match open_box(&secret_key, value) {
        Ok(p) => p,
        Err(why) => return message(422, &format!("Bad request - {why}.")),
    };
    let upper = name.to_ascii_uppercase();
    let created = !e.secrets.contains_key(&upper);
    let stamp = now();
    let entry = e.secrets.entry(upper).or_insert(Secret {
        created_at: stamp.clone(),
        updated_at: stamp.clone(),
    });
    entry.updated_at = stamp;
    let upload = Upload {
        repo: repo_name,
        environment: p["env"].clone(),
        name: name.clone(),
        plaintext: String::from_utf8_lossy(&plaintext).into_owned(),
        encrypted_value: value.to_owned(),
    };
    s.uploads.push(upload);
    if created {
        reply(201, json!({}))
    } else {
        reply(204, Value::Null)
    }
}

/// GitHub's limit on issue and comment bodies, in characters.
const BODY_LIMIT: usize = 65_536;

/// What a paginated list needs to build its `Link` header.
struct Page<'a> {
    base: &'a str,
    repo_id: u64,
    query: &'a str,
}

impl Page<'_> {
    /// One page of `items` (`per_page`, default 30, at most 100; `page` from 1), wrapped by
    /// `body` (total, page), and the `Link` header to the others in GitHub's form.
    fn reply(
        &self,
        path: &str,
        extra_query: &str,
        items: Vec<Value>,
        body: impl FnOnce(usize, Value) -> Value,
    ) -> Response {
        let per_page = query_number(self.query, "per_page")
            .unwrap_or(30)
            .clamp(1, 100);
        let page = query_number(self.query, "page").unwrap_or(1).max(1);
        let total = items.len();
        let last = total.div_ceil(per_page).max(1);
        let shown: Vec<Value> = items
            .into_iter()
            .skip((page - 1) * per_page)
            .take(per_page)
            .collect();
        let link = |p: usize, rel: &str| {
            format!(
                "<{}/repositories/{}/{path}?{extra_query}per_page={per_page}&page={p}>; rel=\"{rel}\"",
                self.base, self.repo_id
            )
        };
        let mut links = Vec::new();
        if page > 1 {
            links.push(link(page - 1, "prev"));
            links.push(link(1, "first"));
        }
        if page < last {
            links.push(link(page + 1, "next"));
            links.push(link(last, "last"));
        }
        let mut response = reply(200, body(total, Value::Array(shown)));
        if !links.is_empty() {
            response
                .headers_mut()
                .insert("link", HeaderValue::from_str(&links.join(", ")).unwrap());
        }
        response
    }
}

fn too_long(resource: &str) -> Response {
    reply(
        422,
        json!({
            "message": "Validation Failed",
            "errors": [{"resource": resource, "code": "custom", "field": "body",
                        "message": format!("body is too long (maximum is {BODY_LIMIT} characters)")}],
            "documentation_url": "https://docs.github.com/rest"
        }),
    )
}

fn issue_json(repo_name: &str, base: &str, i: &IssueRecord) -> Value {
    let mut v = json!({
        "id": 500_000 + i.number, "number": i.number, "title": i.title, "body": i.body,
        "state": i.state, "state_reason": i.state_reason,
        "url": format!("{base}/repos/{repo_name}/issues/{}", i.number),
        "html_url": format!("https://github.com/{repo_name}/{}/{}",
            if i.pull_request { "pull" } else { "issues" }, i.number),
        "user": {"login": "github-actions[bot]", "type": "Bot"},
        "created_at": i.created_at, "updated_at": i.updated_at,
    });
    if i.pull_request {
        v["pull_request"] = json!({"url": format!("{base}/repos/{repo_name}/pulls/{}", i.number)});
    }
    v
}

fn comment_json(repo_name: &str, base: &str, c: &CommentRecord) -> Value {
    json!({
        "id": c.id, "body": c.body,
        "url": format!("{base}/repos/{repo_name}/issues/comments/{}", c.id),
        "html_url": format!("https://github.com/{repo_name}/issues/{}#issuecomment-{}", c.issue, c.id),
        "issue_url": format!("{base}/repos/{repo_name}/issues/{}", c.issue),
        "user": {"login": "github-actions[bot]", "type": "Bot"},
        "created_at": c.created_at, "updated_at": c.updated_at,
    })
}

/// The issue (or pull request) a route's `{number}` names, or GitHub's 404.
fn issue_number(repo: &Repo, p: &HashMap<String, String>) -> Result<u64, Reject> {
    p["number"]
        .parse::<u64>()
        .ok()
        .filter(|n| repo.issues.contains_key(n))
        .ok_or(Reject::NotFound)
}

/// The comment a route's `{id}` names, or GitHub's 404.
fn comment_id(repo: &Repo, p: &HashMap<String, String>) -> Result<u64, Reject> {
    p["id"]
        .parse::<u64>()
        .ok()
        .filter(|id| repo.comments.contains_key(id))
        .ok_or(Reject::NotFound)
}

/// `GET /repos/{owner}/{repo}/issues?state&direction&per_page&page`: newest first unless
/// `direction=asc`; pull requests included with a `pull_request` key.
async fn list_issues(
    State(state): State<Shared>,
    Path(p): Params,
    RawQuery(query): RawQuery,
) -> Response {
    let mut s = state.lock().unwrap();
    let base = s.base.clone();
    let (name, repo) = or_reply!(s.repo(&p));
    let query = query.as_deref().unwrap_or("");
    let state = query_text(query, "state").unwrap_or("open");
    let ascending = query_text(query, "direction") == Some("asc");
    let mut items: Vec<&IssueRecord> = repo
        .issues
        .values()
        .filter(|i| state == "all" || i.state == state)
        .collect();
    if !ascending {
        items.reverse();
    }
    let items = items
        .into_iter()
        .map(|i| issue_json(&name, &base, i))
        .collect();
    let extra = format!(
        "state={state}&direction={}&",
        if ascending { "asc" } else { "desc" }
    );
    let page = Page {
        base: &base,
        repo_id: repo.id,
        query,
    };
    page.reply("issues", &extra, items, |_, shown| shown)
}

/// `POST /repos/{owner}/{repo}/issues`: 201; 422 without a title or with a body too long.
async fn create_issue(State(state): State<Shared>, Path(p): Params, body: Bytes) -> Response {
    let mut s = state.lock().unwrap();
    let base = s.base.clone();
    let (name, repo) = or_reply!(s.repo(&p));
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return message(400, "Problems parsing JSON");
    };
    let Some(title) = body["title"].as_str().filter(|t| !t.is_empty()) else {
        return message(422, "Invalid request.\n\n\"title\" wasn't supplied.");
    };
    let text = body["body"].as_str().unwrap_or("").to_owned();
    if text.chars().count() > BODY_LIMIT {
        return too_long("Issue");
    }
    let number = repo.issues.keys().max().copied().unwrap_or(0) + 1;
    let record = IssueRecord {
        number,
        title: title.to_owned(),
        body: text,
        state: "open".to_owned(),
        state_reason: None,
        pull_request: false,
        created_at: now(),
        updated_at: now(),
    };
    let v = issue_json(&name, &base, &record);
    repo.issues.insert(number, record);
    reply(201, v)
}

/// `GET /repos/{owner}/{repo}/issues/{number}`
async fn get_issue(State(state): State<Shared>, Path(p): Params) -> Response {
    let mut s = state.lock().unwrap();
    let base = s.base.clone();
    let (name, repo) = or_reply!(s.repo(&p));
    let number = or_reply!(issue_number(repo, &p));
    reply(200, issue_json(&name, &base, &repo.issues[&number]))
}

/// `PATCH /repos/{owner}/{repo}/issues/{number}`: `body`, `title`, `state`, `state_reason`.
async fn update_issue(State(state): State<Shared>, Path(p): Params, body: Bytes) -> Response {
    let mut s = state.lock().unwrap();
    let base = s.base.clone();
    let (name, repo) = or_reply!(s.repo(&p));
    let number = or_reply!(issue_number(repo, &p));
    let issue = repo.issues.get_mut(&number).unwrap();
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return message(400, "Problems parsing JSON");
    };
    if let Some(text) = body["body"].as_str() {
        if text.chars().count() > BODY_LIMIT {
            return too_long("Issue");
        }
        issue.body = text.to_owned();
    }
    if let Some(title) = body["title"].as_str() {
        issue.title = title.to_owned();
    }
    match body["state"].as_str() {
        None => {}
        Some(state @ ("open" | "closed")) => {
            issue.state = state.to_owned();
            issue.state_reason = body["state_reason"].as_str().map(str::to_owned);
        }
        Some(_) => {
            return message(422, "Validation Failed: state must be open or closed");
        }
    }
    issue.updated_at = now();
    reply(200, issue_json(&name, &base, issue))
}

/// `GET /repos/{owner}/{repo}/issues/{number}/comments?per_page&page`, oldest first.
async fn list_comments(
    State(state): State<Shared>,
    Path(p): Params,
    RawQuery(query): RawQuery,
) -> Response {
    let mut s = state.lock().unwrap();
    let base = s.base.clone();
    let (name, repo) = or_reply!(s.repo(&p));
    let number = or_reply!(issue_number(repo, &p));
    let items = repo
        .comments
        .values()
        .filter(|c| c.issue == number)
        .map(|c| comment_json(&name, &base, c))
        .collect();
    let page = Page {
        base: &base,
        repo_id: repo.id,
        query: query.as_deref().unwrap_or(""),
    };
    page.reply(
        &format!("issues/{number}/comments"),
        "",
        items,
        |_, shown| shown,
    )
}

/// The `body` of a comment request, or GitHub's 422.
fn comment_body(body: &[u8]) -> Result<String, Reject> {
    let text = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|b| b["body"].as_str().map(str::to_owned))
        .ok_or(Reject::Message(
            422,
            "Invalid request.\n\n\"body\" wasn't supplied.",
        ))?;
    if text.chars().count() > BODY_LIMIT {
        return Err(Reject::TooLong("IssueComment"));
    }
    Ok(text)
}

/// `POST /repos/{owner}/{repo}/issues/{number}/comments`: 201.
async fn create_comment(State(state): State<Shared>, Path(p): Params, body: Bytes) -> Response {
    let mut s = state.lock().unwrap();
    let base = s.base.clone();
    let id = s.next_id + 1;
    let (name, repo) = or_reply!(s.repo(&p));
    let number = or_reply!(issue_number(repo, &p));
    let text = or_reply!(comment_body(&body));
    let record = CommentRecord {
        id,
        issue: number,
        body: text,
        created_at: now(),
        updated_at: now(),
    };
    let v = comment_json(&name, &base, &record);
    repo.comments.insert(id, record);
    s.next_id = id;
    reply(201, v)
}

/// `PATCH /repos/{owner}/{repo}/issues/comments/{id}`: 200.
async fn update_comment(State(state): State<Shared>, Path(p): Params, body: Bytes) -> Response {
    let mut s = state.lock().unwrap();
    let base = s.base.clone();
    let (name, repo) = or_reply!(s.repo(&p));
    let id = or_reply!(comment_id(repo, &p));
    let text = or_reply!(comment_body(&body));
    let comment = repo.comments.get_mut(&id).unwrap();
    comment.body = text;
    comment.updated_at = now();
    reply(200, comment_json(&name, &base, comment))
}

/// `DELETE /repos/{owner}/{repo}/issues/comments/{id}`: 204.
async fn delete_comment(State(state): State<Shared>, Path(p): Params) -> Response {
    let mut s = state.lock().unwrap();
    let (_, repo) = or_reply!(s.repo(&p));
    let id = or_reply!(comment_id(repo, &p));
    repo.comments.remove(&id);
    reply(204, Value::Null)
}
