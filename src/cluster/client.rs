//! Connecting to the cluster the way kubectl does, retrying transient failures, and
//! turning API errors into sentences that name the object and quote the server.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

use super::{Error, Result};

/// How many times a request is tried when the failure looks transient.
pub(crate) const ATTEMPTS: u32 = 4;
/// First delay between attempts; doubled each time.
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
/// How long to wait for a TCP/TLS connection before calling the server unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the connection settings came from, for messages.
#[derive(Debug, Clone)]
pub(crate) enum Source {
    /// A kubeconfig file (or the `KUBECONFIG` list), with the context used.
    Kubeconfig {
        /// File(s) read, as the user would write them.
        files: String,
        /// The context used.
        context: String,
    },
    /// The pod's service account.
    InCluster,
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Kubeconfig { files, context } => write!(f, "context {context:?} of {files}"),
            Source::InCluster => f.write_str("the in-cluster service account"),
        }
    }
}

/// A connected client plus what it points at.
#[derive(Clone)]
pub(crate) struct Cluster {
    /// The kube-rs client (one shared HTTP connection pool).
    pub(crate) client: Client,
    /// API server URL.
    pub(crate) server: String,
    /// Where the settings came from.
    pub(crate) source: Source,
}

/// Which kubeconfig and context to use.
#[derive(Debug, Clone, Default)]
pub(crate) struct Target<'a> {
    /// `--kubeconfig`.
    pub(crate) kubeconfig: Option<&'a Path>,
    /// `--context`.
    pub(crate) context: Option<&'a str>,
    /// The environment file's `kube_context`, used when `--context` is absent.
    pub(crate) default_context: Option<&'a str>,
    /// `--request-timeout`: the longest wait for one answer of the API server (`None`: no
    /// limit beyond the connect timeout).
    pub(crate) request_timeout: Option<Duration>,
}

/// Loads the configuration like kubectl: `--kubeconfig`, else `$KUBECONFIG` (a list, merged),
/// else `~/.kube/config`, else the in-cluster service account.
///
/// # Errors
/// No configuration found, the file is invalid, or the context does not exist.
pub(crate) async fn connect(target: &Target<'_>) -> Result<Cluster> {
    set_request_timeout(target.request_timeout);
    let (config, source) = load_config(target).await?;
    let server = config.cluster_url.to_string();
    let client = kube::client::ClientBuilder::try_from(config)
        .map_err(|source| Error::ClientBuild {
            server: server.clone(),
            source,
        })?
        .with_layer(&super::warnings::WarningLayer::default())
        .with_layer(&AnswerTimeoutLayer)
        .build();
    Ok(Cluster {
        client,
        server,
        source,
    })
}

async fn load_config(target: &Target<'_>) -> Result<(Config, Source)> {
    let (kubeconfig, files) = match read_kubeconfig(target.kubeconfig)? {
        Some(found) => found,
        None => {
            let config = Config::incluster().map_err(|e| Error::Kubeconfig {
                message: format!(
                    "no kubeconfig found (no --kubeconfig, $KUBECONFIG unset, no {}) and not running in a cluster ({e}); pass --kubeconfig or set KUBECONFIG",
                    default_path().map_or_else(|| "~/.kube/config".into(), |p| p.display().to_string())
                ),
                source: None,
            })?;
            return Ok((tune(config), Source::InCluster));
        }
    };
    let context = pick_context(&kubeconfig, target, &files)?;
    let options = KubeConfigOptions {
        context: Some(context.clone()),
        ..KubeConfigOptions::default()
    };
    let config = Config::from_custom_kubeconfig(kubeconfig, &options)
        .await
        .map_err(|source| Error::Kubeconfig {
            message: format!("cannot use context {context:?} of {files}"),
            source: Some(source),
        })?;
    Ok((tune(config), Source::Kubeconfig { files, context }))
}

fn tune(mut config: Config) -> Config {
    config.connect_timeout = Some(CONNECT_TIMEOUT);
    // Names us in API server audit logs, as kubectl's user agent does.
    config.headers.push((
        http::header::USER_AGENT,
        http::HeaderValue::from_static(concat!("gpt-deploy/v", env!("CARGO_PKG_VERSION"))),
    ));
    config
}

fn default_path() -> Option<PathBuf> {
    std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".kube").join("config"))
}

/// Reads the kubeconfig kubectl would read; `None` means "try in-cluster".
fn read_kubeconfig(flag: Option<&Path>) -> Result<Option<(Kubeconfig, String)>> {
    let invalid = |files: String| {
        move |source| Error::Kubeconfig {
            message: format!("cannot read kubeconfig {files}"),
            source: Some(source),
        }
    };
    if let Some(path) = flag {
        let files = path.display().to_string();
        return Kubeconfig::read_from(path)
            .map(|k| Some((k, files.clone())))
            .map_err(invalid(files));
    }
    if let Some(list) = std::env::var_os("KUBECONFIG").filter(|v| !v.is_empty()) {
        let files = format!("$KUBECONFIG ({})", list.to_string_lossy());
        return read_list(&list)
            .map(|k| Some((k, files.clone())))
            .map_err(|e| match e {
                ListError::Kubeconfig(source) => invalid(files)(source),
                ListError::NoneExists => Error::Kubeconfig {
                    message: format!(
                        "none of the files in {files} exists; fix KUBECONFIG or pass --kubeconfig"
                    ),
                    source: None,
                },
            });
    }
    match default_path() {
        Some(path) if path.exists() => {
            let files = path.display().to_string();
            Kubeconfig::read_from(&path)
                .map(|k| Some((k, files.clone())))
                .map_err(invalid(files))
        }
        _ => Ok(None),
    }
}

/// Why a `KUBECONFIG` list could not be read.
enum ListError {
    /// A file that exists is invalid.
    Kubeconfig(kube::config::KubeconfigError),
    /// No file of the list exists.
    NoneExists,
}

/// Reads and merges the files of a `KUBECONFIG` list, first one winning, skipping files that
/// do not exist (as kubectl does: a list naming a laptop's and a CI's file works on both).
fn read_list(list: &std::ffi::OsStr) -> std::result::Result<Kubeconfig, ListError> {
    let mut merged: Option<Kubeconfig> = None;
    for path in std::env::split_paths(list).filter(|p| !p.as_os_str().is_empty()) {
        if !path.exists() {
            tracing::debug!(file = %path.display(), "KUBECONFIG names a file that does not exist; skipped");
            continue;
        }
        let next = Kubeconfig::read_from(&path).map_err(ListError::Kubeconfig)?;
        merged = Some(match merged {
            None => next,
            Some(m) => m.merge(next).map_err(ListError::Kubeconfig)?,
        });
    }
    merged.ok_or(ListError::NoneExists)
}

/// `--context`, else the environment file's context, else the kubeconfig's current context;
/// a named context must exist (kube-rs would otherwise fail with a less helpful message).
fn pick_context(kubeconfig: &Kubeconfig, target: &Target<'_>, files: &str) -> Result<String> {
    let known: Vec<&str> = kubeconfig
        .contexts
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    let (wanted, from) = match (target.context, target.default_context) {
        (Some(c), _) => (c.to_string(), "--context"),
        (None, Some(c)) => (c.to_string(), "the environment file's kube_context"),
        (None, None) => match &kubeconfig.current_context {
            Some(c) if !c.is_empty() => (c.clone(), "current-context"),
            _ => {
                return Err(Error::Kubeconfig {
                    message: format!(
                        "{files} has no current-context and no context was chosen; pass --context (known: {})",
                        known.join(", ")
                    ),
                    source: None,
                });
            }
        },
    };
    if known.contains(&wanted.as_str()) {
        Ok(wanted)
    } else {
        Err(Error::Kubeconfig {
            message: format!(
                "context {wanted:?} (from {from}) is not in {files}; known contexts: {}; pass --context",
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            ),
            source: None,
        })
    }
}

/// True for failures worth another attempt: the connection broke, or the server said
/// "busy, try again" (429, 500 with a timeout reason, 502, 503, 504).
#[must_use]
pub(crate) fn is_transient(err: &kube::Error) -> bool {
    match err {
        // A request that ran out of --request-timeout is not repeated.
        kube::Error::Service(e) => !e.is::<RequestTimedOut>(),
        kube::Error::HyperError(_) => true,
        kube::Error::Api(status) => match status.code {
            429 | 502 | 503 | 504 => true,
            // etcd hiccups surface as 500s that succeed when repeated.
            500 => {
                status.reason == "ServerTimeout"
                    || status.message.contains("etcdserver")
                    || status.message.contains("timeout")
            }
            _ => false,
        },
        _ => false,
    }
}

/// `--request-timeout` in milliseconds for every request of this process (0: none). Held
/// process-wide because [`retry`], which enforces it, wraps requests built everywhere.
static REQUEST_TIMEOUT_MS: AtomicU64 = AtomicU64::new(0);

fn set_request_timeout(limit: Option<Duration>) {
    let ms = limit.map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    REQUEST_TIMEOUT_MS.store(ms, Ordering::Relaxed);
}

fn request_timeout() -> Option<Duration> {
    match REQUEST_TIMEOUT_MS.load(Ordering::Relaxed) {
        0 => None,
        ms => Some(Duration::from_millis(ms)),
    }
}

/// A request that got no answer within `--request-timeout`.
#[derive(Debug, thiserror::Error)]
#[error("no answer within {} (--request-timeout)", humantime::format_duration(*.0))]
pub(crate) struct RequestTimedOut(pub Duration);

/// True when `err` is a request that got no answer within `--request-timeout`.
#[must_use]
pub(crate) fn timed_out(err: &kube::Error) -> bool {
    matches!(err, kube::Error::Service(e) if e.is::<RequestTimedOut>())
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Bounds, by `--request-timeout`, the wait for the head of every response of the API
/// server: the whole of an ordinary request (whose body follows at once), and the start of
/// a watch (the server answers a watch at once and then streams events for as long as it
/// lasts, so the quiet between events is left to the watch's own deadline). The outermost
/// layer of the client, so it also covers requests made by kube's watcher, which [`retry`]
/// does not wrap.
#[derive(Clone, Copy)]
struct AnswerTimeoutLayer;

impl<S> tower_layer::Layer<S> for AnswerTimeoutLayer {
    type Service = AnswerTimeout<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AnswerTimeout { inner }
    }
}

/// The service made by [`AnswerTimeoutLayer`].
#[derive(Clone)]
struct AnswerTimeout<S> {
    inner: S,
}

impl<S, Request> tower_service::Service<Request> for AnswerTimeout<S>
where
    S: tower_service::Service<Request>,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = std::pin::Pin<
        Box<dyn Future<Output = std::result::Result<Self::Response, Self::Error>> + Send>,
    >;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::result::Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let limit = request_timeout();
        let answer = self.inner.call(request);
        Box::pin(async move {
            match limit {
                None => answer.await.map_err(Into::into),
                Some(limit) => match tokio::time::timeout(limit, answer).await {
                    Ok(answer) => answer.map_err(Into::into),
                    Err(_) => Err(Box::new(RequestTimedOut(limit)) as BoxError),
                },
            }
        })
    }
}

/// Parses `--request-timeout` as kubectl does: `0` (no limit), a number of seconds, or a
/// duration such as `30s` or `1m`.
///
/// # Errors
/// The text is neither.
pub(crate) fn parse_request_timeout(text: &str) -> std::result::Result<Duration, String> {
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return text
            .parse::<u64>()
            .map(Duration::from_secs)
            .map_err(|e| e.to_string());
    }
    humantime::parse_duration(text)
        .map_err(|e| format!("{e}; give a duration such as 30s or 1m, or 0 for no limit"))
}

/// Runs `op` up to [`ATTEMPTS`] times while it fails transiently, with doubling back-off,
/// saying on stderr when it tries again. Each attempt is bounded by `--request-timeout`; an
/// attempt that runs out of it is not repeated.
///
/// # Errors
/// The last error, once the attempts are used up or the error is not transient.
pub(crate) async fn retry<T, F, Fut>(mut op: F) -> std::result::Result<T, kube::Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = std::result::Result<T, kube::Error>>,
{
    let mut delay = FIRST_BACKOFF;
    let mut attempt = 1;
    loop {
        let answer = match request_timeout() {
            None => op().await,
            Some(limit) => match tokio::time::timeout(limit, op()).await {
                Ok(answer) => answer,
                Err(_) => return Err(kube::Error::Service(Box::new(RequestTimedOut(limit)))),
            },
        };
        match answer {
            Err(err) if attempt < ATTEMPTS && is_transient(&err) => {
                crate::report::note(&format!(
                    "the API server could not be reached or was busy ({}); trying again in {} (attempt {} of {ATTEMPTS})",
                    root_cause(&err),
                    humantime::format_duration(delay),
                    attempt + 1
                ));
                tokio::time::sleep(delay).await;
                delay *= 2;
                attempt += 1;
            }
            other => return other,
        }
    }
}

/// The status code of an API answer, if the error is one.
#[must_use]
pub(crate) fn status_code(err: &kube::Error) -> Option<u16> {
    match err {
        kube::Error::Api(status) => Some(status.code),
        _ => None,
    }
}

/// True when the server answered 404.
#[must_use]
pub(crate) fn is_not_found(err: &kube::Error) -> bool {
    status_code(err) == Some(404)
}

/// Describes an error for a person: the HTTP status and the server's message, or why the
/// server could not be reached, plus what to try next.
#[must_use]
pub(crate) fn describe(err: &kube::Error, server: &str) -> String {
    match err {
        kube::Error::Api(status) => {
            let hint = match status.code {
                401 => {
                    " (the credentials in the kubeconfig were rejected; log in again or refresh the token)"
                }
                403 => {
                    " (the user lacks permission for this; ask for the RBAC role or use another context)"
                }
                404 => " (not found)",
                409 => " (conflict)",
                422 => " (the object is invalid; fix the template or environment file)",
                _ => "",
            };
            let mut text = format!(
                "the API server answered HTTP {} {}: {}{hint}",
                status.code,
                if status.reason.is_empty() {
                    ""
                } else {
                    &status.reason
                },
                status.message
            );
            if let Some(details) = &status.details {
                // Causes repeat the message on most servers; show only what it lacks.
                for cause in details
                    .causes
                    .iter()
                    .filter(|c| !c.field.is_empty() && !status.message.contains(&c.message))
                {
                    text.push_str(&format!("\n  field {}: {}", cause.field, cause.message));
                }
            }
            text
        }
        kube::Error::HyperError(_) | kube::Error::Service(_) => format!(
            "cannot reach the API server at {server}: {}; check that the cluster is running and the kubeconfig points at it",
            root_cause(err)
        ),
        kube::Error::Auth(e) => {
            format!("cannot authenticate to {server}: {e}; refresh the kubeconfig credentials")
        }
        other => other.to_string(),
    }
}

/// The innermost cause's message (e.g. "Connection refused (os error 111)").
fn root_cause(err: &(dyn std::error::Error + 'static)) -> String {
    crate::report::causes(err)
        .last()
        .map_or_else(|| err.to_string(), ToString::to_string)
}

/// Builds [`Error::Api`] or, for an apply conflict, [`Error::Conflict`].
#[must_use]
pub(crate) fn api_error(action: String, object: &str, err: kube::Error, server: &str) -> Error {
    if let Some(conflicts) = conflicts(&err) {
        return Error::Conflict {
            object: object.to_string(),
            conflicts,
        };
    }
    Error::Api {
        action,
        cause: ApiCause {
            detail: describe(&err, server),
            error: err,
        },
    }
}

/// An API failure described for people: the HTTP status and the server's message, or why
/// the server could not be reached. Its description already includes the transport's root
/// cause, so it ends the error chain instead of repeating kube-rs's wording.
#[derive(Debug)]
pub struct ApiCause {
    /// The description shown (secret values redacted before printing).
    pub(crate) detail: String,
    /// The original error, for callers that need the status code.
    pub(crate) error: kube::Error,
}

impl std::fmt::Display for ApiCause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.detail)
    }
}

impl std::error::Error for ApiCause {}

/// The (field, manager) pairs of a server-side apply conflict, if this error is one.
#[must_use]
pub(crate) fn conflicts(err: &kube::Error) -> Option<Vec<(String, String)>> {
    let kube::Error::Api(status) = err else {
        return None;
    };
    if status.code != 409 || !status.message.contains("conflict") {
        return None;
    }
    let from_causes: Vec<(String, String)> = status
        .details
        .iter()
        .flat_map(|d| d.causes.iter())
        .filter(|c| c.reason == "FieldManagerConflict" || !c.field.is_empty())
        .map(|c| (c.field.clone(), quoted(&c.message).unwrap_or_default()))
        .collect();
    if !from_causes.is_empty() {
        return Some(from_causes);
    }
    // Older servers put everything in the message:
    // `Apply failed with 1 conflict: conflict with "kubectl-edit" using apps/v1: .spec.replicas`.
    let manager = quoted(&status.message).unwrap_or_default();
    let fields: Vec<(String, String)> = status
        .message
        .split([':', '\n'])
        .map(|s| s.trim().trim_start_matches("- "))
        .filter(|s| s.starts_with('.'))
        .map(|f| (f.to_string(), manager.clone()))
        .collect();
    Some(if fields.is_empty() {
        vec![(String::from("(unknown field)"), manager)]
    } else {
        fields
    })
}

fn quoted(text: &str) -> Option<String> {
    let start = text.find('"')? + 1;
    let len = text[start..].find('"')?;
    Some(text[start..start + len].to_string())
}

/// The message of [`Error::Conflict`].
#[must_use]
pub(crate) fn format_conflicts(object: &str, conflicts: &[(String, String)]) -> String {
    let mut text = format!(
        "{object}: server-side apply conflict; {} field(s) are managed by another field manager:",
        conflicts.len()
    );
    for (field, manager) in conflicts {
        text.push_str(&format!("\n  {field} is managed by {manager:?}"));
    }
    text.push_str(
        "\nSomeone changed these fields outside gpt-deploy (e.g. `kubectl edit` or `kubectl scale`). \
         Re-run with --force-conflicts to take ownership, or put the change into the environment file.",
    );
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::core::response::{StatusCause, StatusDetails};

    fn status(code: u16, reason: &str, message: &str, causes: Vec<StatusCause>) -> kube::Error {
        let mut s = kube::core::Status::failure(message, reason).with_code(code);
        if !causes.is_empty() {
            s = s.with_details(StatusDetails {
                name: String::new(),
                group: String::new(),
                kind: String::new(),
                uid: String::new(),
                causes,
                retry_after_seconds: 0,
            });
        }
        kube::Error::Api(s.boxed())
    }

    #[test]
    fn conflict_causes_name_field_and_manager() {
        let err = status(
            409,
            "Conflict",
            "Apply failed with 1 conflict: conflict with \"kubectl-edit\" using apps/v1: .spec.replicas",
            vec![StatusCause {
                reason: "FieldManagerConflict".into(),
                message: "conflict with \"kubectl-edit\" using apps/v1".into(),
                field: ".spec.replicas".into(),
            }],
        );
        let c = conflicts(&err).unwrap();
        assert_eq!(c, vec![(".spec.replicas".into(), "kubectl-edit".into())]);
        let text = format_conflicts("Deployment gpt/gpt-service", &c);
        assert!(text.starts_with("Deployment gpt/gpt-service: server-side apply conflict"));
        assert!(text.contains(".spec.replicas is managed by \"kubectl-edit\""));
        assert!(text.contains("--force-conflicts"));
    }

    #[test]
    fn conflict_without_causes_is_read_from_the_message() {
        let err = status(
            409,
            "Conflict",
            "Apply failed with 2 conflicts: conflicts with \"kubectl-client-side-apply\" using apps/v1:\n- .spec.replicas\n- .spec.template.spec.containers[name=\"app\"].image",
            vec![],
        );
        let c = conflicts(&err).unwrap();
        assert_eq!(c.len(), 2);
        assert_eq!(
            c[0],
            (".spec.replicas".into(), "kubectl-client-side-apply".into())
        );
    }

    #[test]
    fn other_409s_are_not_conflicts() {
        let err = status(
            409,
            "AlreadyExists",
            "jobs.batch \"x\" already exists",
            vec![],
        );
        assert!(conflicts(&err).is_none());
    }

    #[test]
    fn api_errors_quote_the_server_and_hint() {
        let err = status(
            422,
            "Invalid",
            "Deployment.apps \"x\" is invalid: spec.replicas: Invalid value: -1",
            vec![StatusCause {
                reason: "FieldValueInvalid".into(),
                message: "Invalid value: -1: must be greater than or equal to 0".into(),
                field: "spec.replicas".into(),
            }],
        );
        let text = describe(&err, "https://127.0.0.1:6443/");
        assert!(text.contains("HTTP 422 Invalid"), "{text}");
        assert!(
            text.contains("field spec.replicas: Invalid value"),
            "{text}"
        );
        assert!(describe(&status(403, "Forbidden", "no", vec![]), "s").contains("RBAC"));
        assert!(describe(&status(401, "Unauthorized", "no", vec![]), "s").contains("credentials"));
    }

    #[test]
    fn transient_errors_are_recognised() {
        assert!(is_transient(&status(
            503,
            "ServiceUnavailable",
            "x",
            vec![]
        )));
        assert!(is_transient(&status(429, "TooManyRequests", "x", vec![])));
        assert!(!is_transient(&status(422, "Invalid", "x", vec![])));
        assert!(!is_transient(&status(404, "NotFound", "x", vec![])));
        assert!(!is_transient(&status(500, "InternalError", "boom", vec![])));
    }

    #[tokio::test]
    async fn retry_gives_up_after_the_bound() {
        let mut calls = 0;
        let result: std::result::Result<(), _> = retry(|| {
            calls += 1;
            async { Err(status(503, "ServiceUnavailable", "busy", vec![])) }
        })
        .await;
        assert!(result.is_err());
        assert_eq!(calls, ATTEMPTS);
        let mut calls = 0;
        let _ = retry(|| {
            calls += 1;
            async { Err::<(), _>(status(422, "Invalid", "bad", vec![])) }
        })
        .await;
        assert_eq!(calls, 1);
    }

    #[test]
    fn request_timeout_reads_like_kubectl() {
        assert_eq!(parse_request_timeout("0").unwrap(), Duration::ZERO);
        assert_eq!(parse_request_timeout("5").unwrap(), Duration::from_secs(5));
        assert_eq!(
            parse_request_timeout("1m").unwrap(),
            Duration::from_secs(60)
        );
        assert!(parse_request_timeout("soon").is_err());
    }

    #[test]
    fn kubeconfig_list_skips_missing_files() {
        let dir = tempfile::tempdir().unwrap();
        let present = dir.path().join("present");
        std::fs::write(
            &present,
            "apiVersion: v1\nkind: Config\ncontexts:\n- name: here\n  context: {cluster: c, user: u}\n",
        )
        .unwrap();
        let missing = dir.path().join("missing");
        let list = std::env::join_paths([&missing, &present]).unwrap();
        let merged = read_list(&list).ok().expect("the present file is read");
        assert_eq!(merged.contexts[0].name, "here");
        let only_missing = std::env::join_paths([&missing]).unwrap();
        assert!(matches!(
            read_list(&only_missing),
            Err(ListError::NoneExists)
        ));
    }

    #[test]
    fn missing_context_lists_the_known_ones() {
        let kc = Kubeconfig::from_yaml(
            "apiVersion: v1\nkind: Config\ncontexts:\n- name: local\n  context: {cluster: c, user: u}\ncurrent-context: local\n",
        )
        .unwrap();
        let target = Target {
            kubeconfig: None,
            context: None,
            default_context: Some("aks-prod"),
            request_timeout: None,
        };
        let err = pick_context(&kc, &target, "kc.yaml").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("\"aks-prod\""), "{text}");
        assert!(text.contains("kube_context"), "{text}");
        assert!(text.contains("known contexts: local"), "{text}");
        let target = Target::default();
        assert_eq!(pick_context(&kc, &target, "kc.yaml").unwrap(), "local");
    }
}
