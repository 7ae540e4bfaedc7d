//! The HTTP server of the runtime face (`serve`): the Clerk webhook endpoint,
//! health and readiness probes, Prometheus metrics and graceful shutdown.
//!
//! Configuration comes from the process environment only (what the rendered
//! Deployment injects). The secrets, the raw body and the signatures are never
//! logged: log lines carry the svix message id, the event type, the Clerk user
//! id and rejection reasons, nothing else from a request.

use std::future::{Future, IntoFuture};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use super::db::DatabaseUrl;
use super::metrics::{self, Metrics};
use super::webhook::{self, ClerkEvent, Header, MAX_BODY_BYTES, Outcome, Verifier};
use crate::cli::ServeArgs;
use crate::secret::SecretString;

/// The Clerk webhook endpoint.
pub const WEBHOOK_PATH: &str = "/v2/oauth/webhooks/clerk";

/// How long `/readyz` waits for the database: below the kubelet's default probe timeout (1 s).
const READY_TIMEOUT: Duration = Duration::from_millis(900);

/// How long closing the pool may take at exit.
const POOL_CLOSE_TIMEOUT: Duration = Duration::from_secs(3);

/// Connections per replica; deliveries are short transactions.
const MAX_CONNECTIONS: u32 = 10;

/// Errors of this module.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No signing secret, outside development.
    #[error(
        "CLERK_WEBHOOK_SECRET is not set, and the server will not accept webhooks it cannot verify; \
         set it to the endpoint's Signing Secret from the Clerk dashboard (Configure → Webhooks → \
         your endpoint), e.g. `export CLERK_WEBHOOK_SECRET=whsec_...` or through the environment's \
         Kubernetes Secret (`gpt-deploy secrets sync`); only for local development, GPT_ENV=development \
         starts without verification"
    )]
    MissingSecret,
    /// A signing secret is set but unusable.
    #[error(transparent)]
    Secret(#[from] webhook::Error),
    /// `DATABASE_URL` is missing or malformed (its value is never repeated: it holds a password).
    #[error(transparent)]
    DatabaseUrl(#[from] super::db::Error),
    /// The listener could not be opened.
    #[error("cannot listen on {addr} (--listen / LISTEN_ADDR); is another process using the port?")]
    Bind {
        /// The requested address.
        addr: SocketAddr,
        /// The operating system's reason.
        #[source]
        source: std::io::Error,
    },
    /// The SIGTERM/SIGINT handlers could not be installed.
    #[error("cannot install the SIGTERM handler")]
    Signal(#[source] std::io::Error),
    /// The server stopped with an I/O error.
    #[error("the HTTP server stopped with an error")]
    Serve(#[source] std::io::Error),
}

/// Result with this module's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl crate::Failure for Error {
    fn exit_code(&self) -> u8 {
        match self {
            Error::Signal(_) | Error::Serve(_) => crate::exit::API,
            _ => crate::exit::CONFIG,
        }
    }
}

/// How deliveries are authenticated.
#[derive(Debug)]
pub enum Verification {
    /// svix signatures are checked (the only mode outside development).
    Verify(Verifier),
    /// GPT_ENV=development without a secret: everything is accepted, with a warning each time.
    Disabled,
}

/// Everything `serve` reads from the environment, validated.
#[derive(Debug)]
pub struct Settings {
    /// How deliveries are authenticated.
    pub verification: Verification,
    /// Where the database is (its Display and Debug mask the password).
    pub database: DatabaseUrl,
}

impl Settings {
    /// Reads `CLERK_WEBHOOK_SECRET`, `CLERK_WEBHOOK_SECRET_PREVIOUS`, `GPT_ENV` and `DATABASE_URL`
    /// through `var` (the process environment in production, a map in tests).
    ///
    /// # Errors
    /// [`Error::MissingSecret`] outside development, [`Error::Secret`] for a bad `whsec_`
    /// value, [`Error::DatabaseUrl`] when `DATABASE_URL` is missing or malformed.
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let set = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        let development = set("GPT_ENV").is_some_and(|e| e.trim() == "development");
        let verification = match set("CLERK_WEBHOOK_SECRET").map(SecretString::from) {
            Some(current) => {
                let previous = set("CLERK_WEBHOOK_SECRET_PREVIOUS").map(SecretString::from);
                Verification::Verify(Verifier::new(&current, previous.as_ref())?)
            }
            None if development => Verification::Disabled,
            None => return Err(Error::MissingSecret),
        };
        let url = set("DATABASE_URL")
            .map(SecretString::from)
            .ok_or(super::db::Error::MissingUrl)?;
        let database = DatabaseUrl::parse(url.expose())?;
        Ok(Self {
            verification,
            database,
        })
    }
}

/// Shared state of every handler: cheap to clone.
#[derive(Clone, Debug)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    verification: Verification,
    pool: PgPool,
    database: DatabaseUrl,
    metrics: Metrics,
    shutting_down: AtomicBool,
}

impl AppState {
    /// State over an existing pool (lazy pools are fine: the database may be down at start).
    #[must_use]
    pub fn new(verification: Verification, database: DatabaseUrl, pool: PgPool) -> Self {
        Self {
            inner: Arc::new(Inner {
                verification,
                pool,
                database,
                metrics: Metrics::new(),
                shutting_down: AtomicBool::new(false),
            }),
        }
    }

    /// The server's metrics.
    #[must_use]
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// From now on `/readyz` answers 503.
    pub fn begin_shutdown(&self) {
        self.inner.shutting_down.store(true, Ordering::SeqCst);
    }
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("verification", &self.verification)
            .field("shutting_down", &self.shutting_down)
            .finish_non_exhaustive()
    }
}

/// A lazy pool: connections are opened on first use, so `serve` starts (not ready) while
/// the database is down and recovers by itself when it comes back.
#[must_use]
pub fn lazy_pool(database: &DatabaseUrl, acquire_timeout: Duration) -> PgPool {
    PgPoolOptions::new()
        .max_connections(MAX_CONNECTIONS)
        .acquire_timeout(acquire_timeout)
        .connect_lazy_with(database.connect_options("gpt-deploy serve"))
}

/// The application's routes.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route(WEBHOOK_PATH, post(receive))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(render_metrics))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            count_requests,
        ))
        .with_state(state)
}

/// Serves `router(state)` on `listener` until `shutdown` resolves, then drains.
///
/// After `shutdown`: `/readyz` fails at once; the listener stays open for `delay` (so load
/// balancers notice), then closes; in-flight requests get `timeout` to finish.
///
/// # Errors
/// [`Error::Serve`] when accepting connections fails.
pub async fn run(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
    delay: Duration,
    timeout: Duration,
) -> Result<()> {
    let (closed_tx, closed_rx) = oneshot::channel::<()>();
    let draining = state.clone();
    let signal = async move {
        shutdown.await;
        draining.begin_shutdown();
        tracing::info!(delay = ?delay, "shutdown requested; /readyz now fails");
        tokio::time::sleep(delay).await;
        tracing::info!("listener closed; finishing in-flight requests");
        let _ = closed_tx.send(());
    };
    let server = axum::serve(listener, router(state))
        .with_graceful_shutdown(signal)
        .into_future();
    let deadline = async move {
        match closed_rx.await {
            Ok(()) => tokio::time::sleep(timeout).await,
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        result = server => result.map_err(Error::Serve),
        () = deadline => {
            tracing::warn!(timeout = ?timeout, "in-flight requests did not finish in time; exiting anyway");
            Ok(())
        }
    }
}

/// Resolves on the first SIGTERM or SIGINT.
///
/// # Errors
/// [`Error::Signal`] when the handlers cannot be installed.
pub fn shutdown_signal() -> Result<impl Future<Output = ()> + Send + 'static> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).map_err(Error::Signal)?;
    let mut int = signal(SignalKind::interrupt()).map_err(Error::Signal)?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM received"),
            _ = int.recv() => tracing::info!("SIGINT received"),
        }
    })
}

/// `gpt-deploy serve`.
///
/// # Errors
/// Bad configuration (exit 2), the listener cannot bind (exit 2), the server fails (exit 3).
pub async fn cmd_serve(args: &ServeArgs) -> Result<u8> {
    let settings = Settings::from_env(|name| std::env::var(name).ok())?;
    match &settings.verification {
        Verification::Verify(v) => {
            tracing::info!(verifier = ?v, "svix signature verification enabled")
        }
        Verification::Disabled => tracing::warn!(
            "GPT_ENV=development and CLERK_WEBHOOK_SECRET is not set: webhook signatures are NOT \
             verified; anyone who can reach this server can delete users' tokens"
        ),
    }
    let shutdown = shutdown_signal()?;
    let listener = TcpListener::bind(args.listen)
        .await
        .map_err(|source| Error::Bind {
            addr: args.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(Error::Serve)?;
    let pool = lazy_pool(&settings.database, args.database_timeout);
    tracing::info!(addr = %addr, database = %settings.database, "listening");
    let state = AppState::new(settings.verification, settings.database, pool.clone());
    run(
        listener,
        state,
        shutdown,
        args.shutdown_delay,
        args.shutdown_timeout,
    )
    .await?;
    // Closing says goodbye to the database; a peer that stopped answering must not keep us alive.
    if tokio::time::timeout(POOL_CLOSE_TIMEOUT, pool.close())
        .await
        .is_err()
    {
        tracing::warn!("database connections did not close in time; exiting anyway");
    }
    tracing::info!("stopped");
    Ok(crate::exit::OK)
}

/// A short JSON answer: `{"status": ...}` for success, `{"error": ...}` otherwise.
fn reply(status: StatusCode, text: &str) -> Response {
    let key = if status.is_success() {
        "status"
    } else {
        "error"
    };
    (status, axum::Json(json!({ key: text }))).into_response()
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

async fn receive(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: std::result::Result<Bytes, BytesRejection>,
) -> Response {
    let body = match body {
        Ok(body) => body,
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            tracing::warn!(
                limit = MAX_BODY_BYTES,
                "webhook delivery rejected: body too large"
            );
            return reply(StatusCode::PAYLOAD_TOO_LARGE, "body larger than 1 MiB");
        }
        Err(rejection) => {
            tracing::warn!(status = %rejection.status(), "webhook body could not be read");
            return reply(rejection.status(), "body could not be read");
        }
    };
    let started = Instant::now();
    let response = handle(&state, &headers, &body).await;
    state.metrics().processing(started.elapsed());
    response
}

/// Verify, then parse, then act: the order that keeps unverified bytes away from the parser.
async fn handle(state: &AppState, headers: &HeaderMap, body: &[u8]) -> Response {
    let metrics = state.metrics();
    let message_id = match &state.inner.verification {
        Verification::Verify(verifier) => match verifier.verify(headers, body, unix_now()) {
            Ok(verified) => verified.message_id,
            Err(rejection) => {
                metrics.signature_failure(rejection.reason());
                tracing::warn!(
                    reason = rejection.message(),
                    "webhook delivery rejected; nothing written"
                );
                return reply(StatusCode::UNAUTHORIZED, rejection.message());
            }
        },
        Verification::Disabled => {
            tracing::warn!(
                "signature verification is disabled (GPT_ENV=development without \
                 CLERK_WEBHOOK_SECRET): accepting an unverified delivery"
            );
            headers
                .get(Header::Id.names()[0])
                .or_else(|| headers.get(Header::Id.names()[1]))
                .and_then(|v| v.to_str().ok())
                .filter(|v| !v.is_empty())
                .map_or_else(|| format!("dev_{}", uuid::Uuid::new_v4()), str::to_owned)
        }
    };
    let event = match webhook::parse_event(body) {
        Ok(event) => event,
        Err(e) => {
            metrics.event("malformed", "rejected");
            tracing::warn!(message_id = %message_id, error = %e, "delivery body is not a Clerk event");
            return reply(StatusCode::BAD_REQUEST, &e.to_string());
        }
    };
    let user_id = match &event {
        ClerkEvent::Other { kind } => {
            metrics.event(kind, "ignored");
            tracing::info!(message_id = %message_id, event_type = %kind, "event type needs no action; acknowledged");
            return reply(StatusCode::OK, "ignored");
        }
        ClerkEvent::UserDeleted { user_id } => Some(user_id.as_str()),
        ClerkEvent::UserDeletedWithoutId => None,
    };
    match webhook::record_user_deleted(&state.inner.pool, &message_id, user_id).await {
        Ok(Outcome::Processed(deleted)) => {
            metrics.event(event.kind(), "processed");
            tracing::info!(
                message_id = %message_id,
                clerk_user_id = user_id.unwrap_or_default(),
                authorization_codes = deleted.authorization_codes,
                refresh_tokens = deleted.refresh_tokens,
                sessions = deleted.sessions,
                "user.deleted processed"
            );
            reply(StatusCode::OK, "processed")
        }
        Ok(Outcome::Ignored) => {
            metrics.event(event.kind(), "ignored");
            tracing::warn!(message_id = %message_id, "user.deleted without data.id; recorded as ignored");
            reply(StatusCode::OK, "ignored")
        }
        Ok(Outcome::Duplicate) => {
            metrics.event(event.kind(), "duplicate");
            tracing::info!(message_id = %message_id, "svix message already recorded; nothing changed");
            reply(StatusCode::OK, "duplicate")
        }
        Err(e) => {
            metrics.event(event.kind(), "unavailable");
            let cause = state.inner.database.cause(&e);
            tracing::error!(message_id = %message_id, error = %cause, "database unavailable; Clerk will retry");
            reply(StatusCode::SERVICE_UNAVAILABLE, "database unavailable")
        }
    }
}

async fn healthz() -> Response {
    reply(StatusCode::OK, "alive")
}

async fn readyz(State(state): State<AppState>) -> Response {
    if state.inner.shutting_down.load(Ordering::SeqCst) {
        return reply(StatusCode::SERVICE_UNAVAILABLE, "shutting down");
    }
    let ping = sqlx::query("select 1").execute(&state.inner.pool);
    match tokio::time::timeout(READY_TIMEOUT, ping).await {
        Ok(Ok(_)) => reply(StatusCode::OK, "ready"),
        Ok(Err(e)) => {
            let cause = state.inner.database.cause(&e);
            tracing::warn!(error = %cause, "not ready: database unreachable");
            reply(StatusCode::SERVICE_UNAVAILABLE, "database unreachable")
        }
        Err(_) => reply(StatusCode::SERVICE_UNAVAILABLE, "database unreachable"),
    }
}

async fn render_metrics(State(state): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, metrics::CONTENT_TYPE)],
        state.metrics().render(),
    )
        .into_response()
}

/// Counts every response by route template (never the raw path), method and status.
async fn count_requests(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let route = match request
        .extensions()
        .get::<MatchedPath>()
        .map(MatchedPath::as_str)
    {
        Some(WEBHOOK_PATH) => WEBHOOK_PATH,
        Some("/healthz") => "/healthz",
        Some("/readyz") => "/readyz",
        Some("/metrics") => "/metrics",
        _ => "unmatched",
    };
    let method = match *request.method() {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::HEAD => "HEAD",
        _ => "other",
    };
    let response = next.run(request).await;
    state
        .metrics()
        .request(route, method, response.status().as_u16());
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |k| map.get(k).cloned()
    }

    const DB: (&str, &str) = ("DATABASE_URL", "postgres://u:sentinel-pw@127.0.0.1:1/db");

    #[test]
    fn no_secret_is_refused_outside_development() {
        for gpt_env in [
            None,
            Some("production"),
            Some("staging"),
            Some("Development "),
        ] {
            let mut vars = vec![DB];
            if let Some(e) = gpt_env {
                vars.push(("GPT_ENV", e));
            }
            let err = Settings::from_env(env(&vars)).unwrap_err();
            assert!(matches!(err, Error::MissingSecret), "{gpt_env:?}: {err}");
            assert!(
                err.to_string()
                    .contains("export CLERK_WEBHOOK_SECRET=whsec_")
            );
        }
    }

    #[test]
    fn development_without_secret_disables_verification() {
        let s = Settings::from_env(env(&[DB, ("GPT_ENV", "development")])).unwrap();
        assert!(matches!(s.verification, Verification::Disabled));
        // An empty value is "not set", not an invalid secret.
        let s = Settings::from_env(env(&[
            DB,
            ("GPT_ENV", "development"),
            ("CLERK_WEBHOOK_SECRET", ""),
        ]))
        .unwrap();
        assert!(matches!(s.verification, Verification::Disabled));
    }

    #[test]
    fn development_with_a_secret_still_verifies() {
        let s = Settings::from_env(env(&[
            DB,
            ("GPT_ENV", "development"),
            (
                "CLERK_WEBHOOK_SECRET",
                "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            ),
        ]))
        .unwrap();
        assert!(matches!(s.verification, Verification::Verify(_)));
    }

    #[test]
    fn invalid_secret_is_a_startup_error_even_in_development() {
        let err = Settings::from_env(env(&[
            DB,
            ("GPT_ENV", "development"),
            ("CLERK_WEBHOOK_SECRET", "sentinel-not-a-secret"),
        ]))
        .unwrap_err();
        assert!(matches!(err, Error::Secret(_)));
        assert!(!format!("{err} {err:?}").contains("sentinel"));
    }

    #[test]
    fn database_url_is_required_and_never_echoed() {
        let secret = (
            "CLERK_WEBHOOK_SECRET",
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        );
        let err = Settings::from_env(env(&[secret])).unwrap_err();
        assert!(matches!(
            err,
            Error::DatabaseUrl(super::super::db::Error::MissingUrl)
        ));
        let err = Settings::from_env(env(&[
            secret,
            ("DATABASE_URL", "postgres://u:sentinel-pw@host:notaport/db"),
        ]))
        .unwrap_err();
        assert!(matches!(err, Error::DatabaseUrl(_)));
        let mut text = err.to_string();
        let mut source = std::error::Error::source(&err);
        while let Some(s) = source {
            text.push_str(&s.to_string());
            source = s.source();
        }
        assert!(!text.contains("sentinel-pw"), "{text}");
        let ok = Settings::from_env(env(&[secret, DB])).unwrap();
        assert!(!format!("{ok:?}").contains("sentinel-pw"));
    }
}
