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
    let writes = matches!(method, Method::PUT | Method::DELETE);
    if writes && s.access == Access::ReadOnly {
        let mut response = message(403, "Resource not accessible by integration");
        let h = response.headers_mut();
        match s.kind {
            TokenKind::App => {
                let perm = if rest.len() == 2 {
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
        _ => message(404, "Not Found"),
    }
}
