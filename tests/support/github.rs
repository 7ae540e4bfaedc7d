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
//! Every request must carry the bearer token (else 401), `Accept: application/vnd.github+json`
//! and `X-GitHub-Api-Version: 2022-11-28` (else 400). Access can be reduced to read-only to get
//! GitHub's 403 with `x-accepted-github-permissions` (app / fine-grained tokens) or
//! `x-accepted-oauth-scopes` (classic tokens). Faults (429 with `retry-after`, 5xx, 422, ...) are
//! injected per method and path. Every uploaded sealed box is opened with the environment's
//! private key and the plaintext recorded for comparison.
//!
//! The server runs on its own thread and runtime, so it serves both async tests and the
//! binary, and stops when the value is dropped.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
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
    prefix: String,
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
            prefix: prefix.to_owned(),
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
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                let app = axum::Router::new().fallback(handle).with_state(state);
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

/// GitHub's naming rules for secrets (the 422 cases).
fn bad_name(name: &str) -> bool {
    name.is_empty()
        || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        || name.starts_with(|c: char| c.is_ascii_digit())
        || name.to_ascii_uppercase().starts_with("GITHUB_")
}

async fn handle(
    State(state): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut s = state.lock().unwrap();
    let raw_path = uri.path();
    let Some(path) = raw_path.strip_prefix(s.prefix.as_str()) else {
        return message(404, "Not Found");
    };
    let segments: Vec<String> = path.trim_matches('/').split('/').map(decode).collect();
    let query = uri.query().unwrap_or("").to_owned();
    s.requests.push(Recorded {
        method: method.clone(),
        path: format!("/{}", segments.join("/")),
        query: query.clone(),
    });

    let accept_ok = headers.get_all("accept").iter().any(|v| {
        v.to_str()
            .unwrap_or("")
            .contains("application/vnd.github+json")
    });
    let versions: Vec<_> = headers.get_all("x-github-api-version").iter().collect();
    if !accept_ok || versions.len() != 1 || versions[0] != "2022-11-28" {
        return message(
            400,
            "Accept: application/vnd.github+json and exactly one X-GitHub-Api-Version: 2022-11-28 are required",
        );
    }
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if auth != format!("Bearer {TOKEN}") && auth != format!("token {TOKEN}") {
        return message(401, "Bad credentials");
    }

    let seg_path = format!("/{}", segments.join("/"));
    if let Some(fault) = s.faults.iter_mut().find(|f| {
        f.times > 0
            && f.method.as_ref().is_none_or(|m| m == method)
            && seg_path.ends_with(&f.path_suffix)
    }) {
        fault.times -= 1;
        let mut response = reply(fault.status, fault.body.clone());
        for (k, v) in &fault.headers {
            response.headers_mut().insert(
                axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        return response;
    }

    let segs: Vec<&str> = segments.iter().map(String::as_str).collect();
    // `/repositories/{id}/...` (the form in Link headers) is rewritten to `/repos/{owner}/{repo}/...`.
    let (repo_name, rest): (String, &[&str]) = match segs.as_slice() {
        ["repos", owner, repo, rest @ ..] => (format!("{owner}/{repo}"), rest),
        ["repositories", id, rest @ ..] => {
            let found = s
                .repos
                .iter()
                .find(|(_, r)| r.id.to_string() == *id)
                .map(|(n, _)| n.clone());
            match found {
                Some(name) => (name, rest),
                None => return message(404, "Not Found"),
            }
        }
        _ => return message(404, "Not Found"),
    };
    let writes = matches!(
        method,
        Method::PUT | Method::DELETE | Method::POST | Method::PATCH
    );
    if writes && s.access == Access::ReadOnly {
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
        return response;
    }
    let base = s.base.clone();
    let key_id = s.key_id.clone();
    let public_key = STANDARD.encode(s.secret_key.public_key().as_bytes());
    let secret_key = s.secret_key.clone();
    let next_id = s.next_id + 1;
    let Some(repo) = s.repos.get_mut(&repo_name) else {
        return message(404, "Not Found");
    };
    let repo_id = repo.id;
    match (&method, rest) {
        (&Method::GET, []) => reply(
            200,
            json!({"id": repo_id, "name": repo_name.split('/').nth(1), "full_name": repo_name, "private": true}),
        ),
        (&Method::GET | &Method::PUT, ["environments", env]) => {
            if method == Method::PUT && !repo.environments.contains_key(*env) {
                repo.environments.insert(
                    (*env).to_owned(),
                    Env {
                        id: next_id,
                        created_at: now(),
                        secrets: BTreeMap::new(),
                    },
                );
                s.next_id = next_id;
            }
            let Some(e) = s.repos[&repo_name].environments.get(*env) else {
                return message(404, "Not Found");
            };
            reply(
                200,
                json!({
                    "id": e.id, "node_id": format!("EN_{}", e.id), "name": env,
                    "url": format!("{base}/repos/{repo_name}/environments/{env}"),
                    "html_url": format!("https://github.com/{repo_name}/deployments/activity_log?environments_filter={env}"),
                    "created_at": e.created_at, "updated_at": e.created_at,
                    "protection_rules": [], "deployment_branch_policy": null
                }),
            )
        }
        (_, ["environments", env, "secrets", rest @ ..]) => {
            let Some(e) = repo.environments.get_mut(*env) else {
                return message(404, "Not Found");
            };
            match (&method, rest) {
                (&Method::GET, ["public-key"]) => {
                    reply(200, json!({"key_id": key_id, "key": public_key}))
                }
                (&Method::GET, []) => {
                    let per_page = query_number(&query, "per_page").unwrap_or(30).clamp(1, 100);
                    let page = query_number(&query, "page").unwrap_or(1).max(1);
                    let total = e.secrets.len();
                    let secrets: Vec<Value> = e
                        .secrets
                        .iter()
                        .skip((page - 1) * per_page)
                        .take(per_page)
                        .map(|(n, v)| json!({"name": n, "created_at": v.created_at, "updated_at": v.updated_at}))
                        .collect();
                    let last = total.div_ceil(per_page).max(1);
                    let link = |p: usize, rel: &str| {
                        format!(
                            "<{base}/repositories/{repo_id}/environments/{env}/secrets?per_page={per_page}&page={p}>; rel=\"{rel}\""
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
                    let mut response =
                        reply(200, json!({"total_count": total, "secrets": secrets}));
                    if !links.is_empty() {
                        response
                            .headers_mut()
                            .insert("link", HeaderValue::from_str(&links.join(", ")).unwrap());
                    }
                    response
                }
                (&Method::GET, [name]) => match e.secrets.get(&name.to_ascii_uppercase()) {
                    Some(v) => reply(
                        200,
                        json!({"name": name.to_ascii_uppercase(), "created_at": v.created_at, "updated_at": v.updated_at}),
                    ),
                    None => message(404, "Not Found"),
                },
                (&Method::DELETE, [name]) => match e.secrets.remove(&name.to_ascii_uppercase()) {
                    Some(_) => reply(204, Value::Null),
                    None => message(404, "Not Found"),
                },
                (&Method::PUT, [name]) => {
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
                        repo: repo_name.clone(),
                        environment: (*env).to_owned(),
                        name: (*name).to_owned(),
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
                _ => message(404, "Not Found"),
            }
        }
        (_, ["issues", rest @ ..]) => {
            let id = next_id;
            let response = issues_endpoint(
                repo,
                &repo_name,
                &Page {
                    base: &base,
                    repo_id,
                    query: &query,
                },
                &method,
                rest,
                &body,
                id,
            );
            s.next_id = next_id;
            response
        }
        _ => message(404, "Not Found"),
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
    /// One page of `items` and the `Link` header to the others, in GitHub's form.
    fn reply(&self, path: &str, extra_query: &str, items: Vec<Value>) -> Response {
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
        let mut response = reply(200, Value::Array(shown));
        if !links.is_empty() {
            response
                .headers_mut()
                .insert("link", HeaderValue::from_str(&links.join(", ")).unwrap());
        }
        response
    }
}

fn query_text<'a>(query: &'a str, key: &str) -> Option<&'a str> {
    query.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == key).then_some(v)
    })
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

/// `/repos/{owner}/{repo}/issues/...`: issues, pull requests as issues, and their comments.
#[allow(clippy::too_many_arguments)]
fn issues_endpoint(
    repo: &mut Repo,
    repo_name: &str,
    page: &Page<'_>,
    method: &Method,
    rest: &[&str],
    body: &[u8],
    new_id: u64,
) -> Response {
    let base = page.base;
    let parsed = || serde_json::from_slice::<Value>(body).ok();
    match (method, rest) {
        (&Method::GET, []) => {
            let state = query_text(page.query, "state").unwrap_or("open");
            let ascending = query_text(page.query, "direction") == Some("asc");
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
                .map(|i| issue_json(repo_name, base, i))
                .collect();
            let extra = format!(
                "state={state}&direction={}&",
                if ascending { "asc" } else { "desc" }
            );
            page.reply("issues", &extra, items)
        }
        (&Method::POST, []) => {
            let Some(body) = parsed() else {
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
            let v = issue_json(repo_name, base, &record);
            repo.issues.insert(number, record);
            reply(201, v)
        }
        (&Method::GET, [number]) => {
            match number.parse().ok().and_then(|n: u64| repo.issues.get(&n)) {
                Some(i) => reply(200, issue_json(repo_name, base, i)),
                None => message(404, "Not Found"),
            }
        }
        (&Method::PATCH, [number]) => {
            let Some(issue) = number
                .parse()
                .ok()
                .and_then(|n: u64| repo.issues.get_mut(&n))
            else {
                return message(404, "Not Found");
            };
            let Some(body) = parsed() else {
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
            reply(200, issue_json(repo_name, base, issue))
        }
        (&Method::GET, [number, "comments"]) => {
            let Some(n) = number
                .parse::<u64>()
                .ok()
                .filter(|n| repo.issues.contains_key(n))
            else {
                return message(404, "Not Found");
            };
            let items = repo
                .comments
                .values()
                .filter(|c| c.issue == n)
                .map(|c| comment_json(repo_name, base, c))
                .collect();
            page.reply(&format!("issues/{n}/comments"), "", items)
        }
        (&Method::POST, [number, "comments"]) => {
            let Some(n) = number
                .parse::<u64>()
                .ok()
                .filter(|n| repo.issues.contains_key(n))
            else {
                return message(404, "Not Found");
            };
            let Some(text) = parsed().and_then(|b| b["body"].as_str().map(str::to_owned)) else {
                return message(422, "Invalid request.\n\n\"body\" wasn't supplied.");
            };
            if text.chars().count() > BODY_LIMIT {
                return too_long("IssueComment");
            }
            let record = CommentRecord {
                id: new_id,
                issue: n,
                body: text,
                created_at: now(),
                updated_at: now(),
            };
            let v = comment_json(repo_name, base, &record);
            repo.comments.insert(new_id, record);
            reply(201, v)
        }
        (&Method::PATCH, ["comments", id]) => {
            let Some(comment) = id
                .parse()
                .ok()
                .and_then(|id: u64| repo.comments.get_mut(&id))
            else {
                return message(404, "Not Found");
            };
            let Some(text) = parsed().and_then(|b| b["body"].as_str().map(str::to_owned)) else {
                return message(422, "Invalid request.\n\n\"body\" wasn't supplied.");
            };
            if text.chars().count() > BODY_LIMIT {
                return too_long("IssueComment");
            }
            comment.body = text;
            comment.updated_at = now();
            reply(200, comment_json(repo_name, base, comment))
        }
        (&Method::DELETE, ["comments", id]) => {
            match id
                .parse()
                .ok()
                .and_then(|id: u64| repo.comments.remove(&id))
            {
                Some(_) => reply(204, Value::Null),
                None => message(404, "Not Found"),
            }
        }
        _ => message(404, "Not Found"),
    }
}
