//! The HTTP server of the runtime face (`serve`): the Clerk webhook endpoint,
//! health and readiness probes, Prometheus metrics and graceful shutdown.
//!
//! Configuration comes from the process environment only (what the rendered
//! Deployment injects). The secrets, the raw body and the signatures are never
//! logged: log lines carry the svix message id, the event type, the Clerk user
//! id and rejection reasons, nothing else from a request.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use super::db::{self, DatabaseUrl, Outcome};
use super::metrics::{self, Metrics};
use super::webhook::{
    self, Ack, ClerkEvent, DeliveryError, Header, MAX_BODY_BYTES, Verifier, reply,
};
use crate::cli::ServeLimits;
use crate::secret::SecretString;

/// The Clerk webhook endpoint.
pub(crate) const WEBHOOK_PATH: &str = "/v2/oauth/webhooks/clerk";

/// How long `/readyz` waits for the database: below the kubelet's default probe timeout (1 s).
const READY_TIMEOUT: Duration = Duration::from_millis(900);

/// Statement limit of the readiness probe's own connection.
const READY_STATEMENT_TIMEOUT: Duration = Duration::from_millis(500);

/// Largest read buffer of one connection: request heads are small and bodies are read in
/// pieces of this size, so an idle or slow connection holds at most this much.
const READ_BUFFER_BYTES: usize = 16 * 1024;

/// How long closing the pool may take at exit.
pub(super) const POOL_CLOSE_TIMEOUT: Duration = Duration::from_secs(3);

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
    /// A secret variable is present but holds only whitespace (a broken Secret, never "unset").
    #[error(
        "{var} is set but blank; a blank secret is never taken for \"not set\" (that would switch \
         webhook verification off): put the Signing Secret from the Clerk dashboard in it \
         (`gpt-deploy secrets sync`), or remove the variable"
    )]
    BlankSecret {
        /// The variable.
        var: &'static str,
    },
    /// A signing secret is set but unusable.
    #[error(transparent)]
    Secret(#[from] webhook::Error),
    /// `DATABASE_URL` is missing or malformed (its value is never repeated: it holds a password).
    #[error(transparent)]
    DatabaseUrl(#[from] super::db::Error),
    /// The listener could not be opened.
    #[error("cannot listen on {addr} ({origin}); is another process using the port?")]
    Bind {
        /// The requested address.
        addr: SocketAddr,
        /// Where the address came from: `LISTEN_ADDR`, `--listen`, or the default.
        origin: crate::usage::Origin,
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
pub(crate) type Result<T, E = Error> = std::result::Result<T, E>;

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
pub(crate) enum Verification {
    /// svix signatures are checked (the only mode outside development).
    Verify(Verifier),
    /// GPT_ENV=development without a secret: everything is accepted, with a warning each time.
    Disabled,
}

/// Everything `serve` reads from the environment, validated.
#[derive(Debug)]
pub(crate) struct Settings {
    /// How deliveries are authenticated.
    pub(crate) verification: Verification,
    /// Where the database is (its Display and Debug mask the password).
    pub(crate) database: DatabaseUrl,
}

impl Settings {
    /// Reads `CLERK_WEBHOOK_SECRET`, `CLERK_WEBHOOK_SECRET_PREVIOUS`, `GPT_ENV` and the database
    /// variables ([`DatabaseUrl::from_vars`]) through `var` (the process environment in
    /// production, a map in tests).
    ///
    /// # Errors
    /// [`Error::MissingSecret`] outside development, [`Error::BlankSecret`] for a secret that is
    /// present but blank, [`Error::Secret`] for a bad `whsec_` value, [`Error::DatabaseUrl`]
    /// when the database settings are missing, malformed or too weak for `GPT_ENV`.
    pub(crate) fn from_env(var: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let development = var("GPT_ENV").is_some_and(|e| e.trim() == "development");
        let secret = |name: &'static str| match var(name) {
            None => Ok(None),
            Some(v) if v.trim().is_empty() => Err(Error::BlankSecret { var: name }),
            Some(v) => Ok(Some(SecretString::from(v))),
        };
        let verification = match secret("CLERK_WEBHOOK_SECRET")? {
            Some(current) => {
                let previous = secret("CLERK_WEBHOOK_SECRET_PREVIOUS")?;
                Verification::Verify(Verifier::new(&current, previous.as_ref())?)
            }
            None if development => Verification::Disabled,
            None => return Err(Error::MissingSecret),
        };
        let database = DatabaseUrl::from_vars(&var)?;
        Ok(Self {
            verification,
            database,
        })
    }
}

/// Shared state of every handler: cheap to clone.
#[derive(Clone, Debug)]
pub(crate) struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    verification: Verification,
    pool: PgPool,
    ready_pool: PgPool,
    database: DatabaseUrl,
    metrics: Metrics,
    shutting_down: AtomicBool,
    /// What `/readyz` answered last ([`Readiness`] as a number), so each change is logged once.
    readiness: AtomicU8,
    limits: Limits,
    /// One permit per delivery being handled.
    in_flight: Semaphore,
    /// One permit per KiB of request body being received or held.
    body_memory: Semaphore,
}

/// The per-request limits of [`AppState`] (the connection limits live in [`run`]).
#[derive(Clone, Debug)]
pub(crate) struct Limits {
    /// Time for a whole request body to arrive.
    pub(crate) body_read_timeout: Duration,
    /// Time for handling a delivery once its body is in.
    pub(crate) handler_timeout: Duration,
    /// Deliveries handled at once.
    pub(crate) max_concurrent_requests: u32,
    /// Memory for request bodies, in KiB.
    pub(crate) body_memory_kib: u32,
}

impl Limits {
    /// The request limits of `serve`'s arguments.
    #[must_use]
    pub(crate) fn from_args(limits: &ServeLimits) -> Self {
        Self {
            body_read_timeout: limits.body_read_timeout,
            handler_timeout: limits.handler_timeout,
            max_concurrent_requests: limits.max_concurrent_requests,
            body_memory_kib: limits.body_memory_mib.saturating_mul(1024),
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            body_read_timeout: Duration::from_secs(10),
            handler_timeout: Duration::from_secs(10),
            max_concurrent_requests: 64,
            body_memory_kib: 16 * 1024,
        }
    }
}

impl AppState {
    /// State over existing pools (lazy pools are fine: the database may be down at start).
    /// `ready_pool` serves only `/readyz`, so a busy or locked delivery pool never makes the
    /// pod unready.
    #[must_use]
    pub(crate) fn new(
        verification: Verification,
        database: DatabaseUrl,
        pool: PgPool,
        ready_pool: PgPool,
        limits: Limits,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                verification,
                pool,
                ready_pool,
                database,
                metrics: Metrics::new(),
                shutting_down: AtomicBool::new(false),
                readiness: AtomicU8::new(Readiness::Unknown as u8),
                in_flight: Semaphore::new(limits.max_concurrent_requests as usize),
                body_memory: Semaphore::new(limits.body_memory_kib as usize),
                limits,
            }),
        }
    }

    /// The server's metrics.
    #[must_use]
    pub(crate) fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// From now on `/readyz` answers 503.
    pub(crate) fn begin_shutdown(&self) {
        self.inner.shutting_down.store(true, Ordering::SeqCst);
    }
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("verification", &self.verification)
            .field("shutting_down", &self.shutting_down)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

/// The deliveries' pool: lazy (connections open on first use, so `serve` starts, not ready,
/// while the database is down and recovers by itself), with `statement_timeout` and
/// `lock_timeout` on every connection so a locked row costs a delivery a 503, not the pool.
#[must_use]
pub(crate) fn lazy_pool(
    database: &DatabaseUrl,
    acquire_timeout: Duration,
    statement_timeout: Duration,
    lock_timeout: Duration,
) -> PgPool {
    PgPoolOptions::new()
        .max_connections(MAX_CONNECTIONS)
        .acquire_timeout(acquire_timeout)
        .connect_lazy_with(db::with_session_timeouts(
            database.connect_options("gpt-deploy serve"),
            statement_timeout,
            lock_timeout,
        ))
}

/// The readiness probe's own single connection, with its own short limits, opened in the
/// background at start and kept open, so a probe costs one `select 1`, not a connection.
#[must_use]
pub(crate) fn ready_pool(database: &DatabaseUrl) -> PgPool {
    PgPoolOptions::new()
        .max_connections(1)
        .min_connections(1)
        .acquire_timeout(READY_TIMEOUT)
        .connect_lazy_with(db::with_session_timeouts(
            database.connect_options("gpt-deploy serve readyz"),
            READY_STATEMENT_TIMEOUT,
            READY_STATEMENT_TIMEOUT,
        ))
}

/// The application's routes.
pub(crate) fn router(state: AppState) -> Router {
    Router::new()
        .route(WEBHOOK_PATH, post(receive))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(render_metrics))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            count_requests,
        ))
        .with_state(state)
}

/// How connections are accepted and drained by [`run`].
#[derive(Clone, Debug)]
pub(crate) struct Connections {
    /// Time for a request head to arrive (also closes idle keep-alive connections).
    pub(crate) header_read_timeout: Duration,
    /// Open connections at once; more are closed when accepted.
    pub(crate) max_connections: u32,
    /// After the shutdown signal, how long to keep accepting while `/readyz` fails.
    pub(crate) shutdown_delay: Duration,
    /// After the listener closed, how long in-flight requests may take.
    pub(crate) shutdown_timeout: Duration,
}

impl Default for Connections {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            max_connections: 512,
            shutdown_delay: Duration::ZERO,
            shutdown_timeout: Duration::from_secs(20),
        }
    }
}

/// Serves `router(state)` on `listener` until `shutdown` resolves, then drains.
///
/// HTTP/1.1 only, with a header read timeout, a bounded read buffer and a bound on open
/// connections. After `shutdown`: `/readyz` fails at once; the listener stays open for
/// `shutdown_delay` (so endpoints and load balancers stop routing here), then closes;
/// in-flight requests get `shutdown_timeout` to finish.
///
/// # Errors
/// [`Error::Serve`] never in practice: accept errors are logged and retried.
pub(crate) async fn run(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
    connections: Connections,
) -> Result<()> {
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(connections.header_read_timeout)
        .max_buf_size(READ_BUFFER_BYTES)
        .keep_alive(true);
    let service = TowerToHyperService::new(router(state.clone()));
    let open = Arc::new(Semaphore::new(connections.max_connections as usize));
    let graceful = GracefulShutdown::new();
    let metrics = state.metrics().clone();

    let draining = state.clone();
    let delay = connections.shutdown_delay;
    let signal = async move {
        shutdown.await;
        draining.begin_shutdown();
        tracing::info!(delay = %humantime::format_duration(delay), "shutdown requested; /readyz now fails");
        tokio::time::sleep(delay).await;
    };
    tokio::pin!(signal);
    loop {
        let (stream, _peer) = tokio::select! {
            () = &mut signal => break,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors or a connection reset before accept: wait a
                    // little instead of spinning, and keep serving.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Ok(permit) = open.clone().try_acquire_owned() else {
            metrics.connection_refused();
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let conn = http.serve_connection(TokioIo::new(stream), service.clone());
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            // Client errors (resets, header timeouts, malformed requests) end one connection.
            let _ = conn.await;
            drop(permit);
        });
    }
    drop(listener);
    tracing::info!("listener closed; finishing in-flight requests");
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(connections.shutdown_timeout) => {
            tracing::warn!(timeout = ?connections.shutdown_timeout, "in-flight requests did not finish in time; exiting anyway");
        }
    }
    Ok(())
}

/// Resolves on the first SIGTERM or SIGINT.
///
/// # Errors
/// [`Error::Signal`] when the handlers cannot be installed.
pub(crate) fn shutdown_signal() -> Result<impl Future<Output = ()> + Send + 'static> {
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

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// The webhook: admission (concurrency, body memory), the body under a deadline, then
/// [`handle`] under a deadline. Every limit answers at once; nothing queues without bound.
/// Every refusal is a [`DeliveryError`], counted and answered here.
async fn receive(State(state): State<AppState>, request: Request) -> Response {
    match admit(&state, request).await {
        Ok(ack) => ack.into_response(),
        Err(e) => {
            e.count(state.metrics());
            e.into_response()
        }
    }
}

async fn admit(state: &AppState, request: Request) -> Result<Ack, DeliveryError> {
    let inner = &state.inner;
    let Ok(_slot) = inner.in_flight.try_acquire() else {
        return Err(DeliveryError::Busy {
            limit: inner.limits.max_concurrent_requests,
        });
    };
    let (parts, body) = request.into_parts();
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        return Err(DeliveryError::TooLarge);
    }
    // Reserve the body's memory before reading a byte of it; without a length, the most a
    // body may be.
    let reserve = declared
        .unwrap_or(MAX_BODY_BYTES as u64)
        .div_ceil(1024)
        .max(1);
    let Ok(_memory) = inner
        .body_memory
        .try_acquire_many(u32::try_from(reserve).unwrap_or(u32::MAX))
    else {
        return Err(DeliveryError::BodyMemory {
            limit_kib: inner.limits.body_memory_kib,
        });
    };
    let read = Limited::new(body, MAX_BODY_BYTES).collect();
    let body = match tokio::time::timeout(inner.limits.body_read_timeout, read).await {
        Ok(Ok(collected)) => collected.to_bytes(),
        Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => {
            return Err(DeliveryError::TooLarge);
        }
        Ok(Err(_)) => return Err(DeliveryError::Unreadable),
        Err(_) => {
            return Err(DeliveryError::BodyTimeout {
                timeout: inner.limits.body_read_timeout,
            });
        }
    };
    let started = Instant::now();
    let handled = tokio::time::timeout(
        inner.limits.handler_timeout,
        handle(state, &parts.headers, &body),
    )
    .await;
    state.metrics().processing(started.elapsed());
    handled.unwrap_or(Err(DeliveryError::HandlerTimeout {
        timeout: inner.limits.handler_timeout,
    }))
}

/// Verify, then parse, then act: the order that keeps unverified bytes away from the parser.
async fn handle(state: &AppState, headers: &HeaderMap, body: &[u8]) -> Result<Ack, DeliveryError> {
    let metrics = state.metrics();
    let message_id = match &state.inner.verification {
        Verification::Verify(verifier) => {
            verifier
                .verify(headers, body, unix_now())
                .map_err(DeliveryError::Rejected)?
                .message_id
        }
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
        Err(error) => return Err(DeliveryError::Malformed { message_id, error }),
    };
    let user_id = match &event {
        ClerkEvent::Other { kind } => {
            metrics.event(kind, "ignored");
            tracing::info!(message_id = %message_id, event_type = %kind, "event type needs no action; acknowledged");
            return Ok(Ack::Ignored);
        }
        ClerkEvent::UserDeleted { user_id } => Some(user_id.as_str()),
        ClerkEvent::UserDeletedWithoutId => None,
    };
    match db::record_user_deleted(&state.inner.pool, &message_id, user_id).await {
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
            Ok(Ack::Processed)
        }
        Ok(Outcome::Ignored) => {
            metrics.event(event.kind(), "ignored");
            tracing::warn!(message_id = %message_id, "user.deleted without data.id; recorded as ignored");
            Ok(Ack::Ignored)
        }
        Ok(Outcome::Duplicate) => {
            metrics.event(event.kind(), "duplicate");
            tracing::info!(message_id = %message_id, "svix message already recorded; nothing changed");
            Ok(Ack::Duplicate)
        }
        Err(e) => Err(DeliveryError::Database {
            message_id,
            kind: event.kind().to_owned(),
            cause: state.inner.database.cause(&e),
        }),
    }
}

async fn healthz() -> Response {
    reply(StatusCode::OK, "alive")
}

/// What `/readyz` answers, remembered between probes so that only changes are logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Readiness {
    /// No probe yet.
    Unknown = 0,
    /// 200.
    Ready = 1,
    /// 503: the database did not answer.
    DatabaseUnreachable = 2,
    /// 503: draining after SIGTERM.
    ShuttingDown = 3,
}

impl AppState {
    /// Records what `/readyz` answers now; returns the previous answer when it was another.
    fn readiness_changed(&self, now: Readiness) -> Option<Readiness> {
        let before = self.inner.readiness.swap(now as u8, Ordering::SeqCst);
        (before != now as u8).then_some(match before {
            1 => Readiness::Ready,
            2 => Readiness::DatabaseUnreachable,
            3 => Readiness::ShuttingDown,
            _ => Readiness::Unknown,
        })
    }
}

/// Logs why the pod turned unready, once per change. A probe that ran out of time (or of
/// the pool's wait) does not know why, so one connection is tried outside the pool, in the
/// background, to name the cause (`connection refused`, a rejected login, ...).
fn log_unready(state: &AppState, cause: Option<db::DbCause>) {
    if let Some(cause) = cause.filter(|c| !c.is_pool_timeout()) {
        tracing::warn!(error = %cause, "not ready (/readyz answers 503): database unreachable");
        return;
    }
    let database = state.inner.database.clone();
    tokio::spawn(async move {
        let options = database.connect_options("gpt-deploy serve readyz");
        let attempt = sqlx::ConnectOptions::connect(&options);
        match tokio::time::timeout(READY_DIAGNOSIS_TIMEOUT, attempt).await {
            Ok(Ok(conn)) => {
                let _ = sqlx::Connection::close(conn).await;
                tracing::warn!(
                    timeout = %humantime::format_duration(READY_TIMEOUT),
                    "not ready (/readyz answers 503): the database did not answer in time, though it accepts connections (overloaded?)"
                );
            }
            Ok(Err(e)) => tracing::warn!(
                error = %database.cause(&e),
                "not ready (/readyz answers 503): database unreachable"
            ),
            Err(_) => tracing::warn!(
                error = %format!("no answer within {}", humantime::format_duration(READY_DIAGNOSIS_TIMEOUT)),
                "not ready (/readyz answers 503): database unreachable"
            ),
        }
    });
}

/// How long the background connection attempt of [`log_unready`] may take.
const READY_DIAGNOSIS_TIMEOUT: Duration = Duration::from_secs(5);

async fn readyz(State(state): State<AppState>) -> Response {
    if state.inner.shutting_down.load(Ordering::SeqCst) {
        if state.readiness_changed(Readiness::ShuttingDown).is_some() {
            tracing::info!("not ready (/readyz answers 503): shutting down");
        }
        return reply(StatusCode::SERVICE_UNAVAILABLE, "shutting down");
    }
    let ping = sqlx::query("select 1").execute(&state.inner.ready_pool);
    let failed = match tokio::time::timeout(READY_TIMEOUT, ping).await {
        Ok(Ok(_)) => {
            match state.readiness_changed(Readiness::Ready) {
                Some(Readiness::Unknown) => {
                    tracing::info!("ready (/readyz answers 200): the database answers");
                }
                Some(_) => {
                    tracing::info!("ready again (/readyz answers 200): the database answers");
                }
                None => {}
            }
            return reply(StatusCode::OK, "ready");
        }
        Ok(Err(e)) => Some(state.inner.database.cause(&e)),
        Err(_) => None,
    };
    if state
        .readiness_changed(Readiness::DatabaseUnreachable)
        .is_some()
    {
        log_unready(&state, failed);
    }
    reply(StatusCode::SERVICE_UNAVAILABLE, "database unreachable")
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
    }

    #[test]
    fn a_blank_secret_is_an_error_never_unset() {
        for gpt_env in ["development", "production"] {
            for blank in ["", " ", "\n", " \t\n"] {
                let err = Settings::from_env(env(&[
                    DB,
                    ("GPT_ENV", gpt_env),
                    ("CLERK_WEBHOOK_SECRET", blank),
                ]))
                .unwrap_err();
                assert!(
                    matches!(
                        err,
                        Error::BlankSecret {
                            var: "CLERK_WEBHOOK_SECRET"
                        }
                    ),
                    "{gpt_env} {blank:?}: {err}"
                );
                assert_eq!(crate::Failure::exit_code(&err), crate::exit::CONFIG);
            }
            let err = Settings::from_env(env(&[
                DB,
                ("GPT_ENV", gpt_env),
                (
                    "CLERK_WEBHOOK_SECRET",
                    "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                ),
                ("CLERK_WEBHOOK_SECRET_PREVIOUS", "  "),
            ]))
            .unwrap_err();
            assert!(
                matches!(
                    err,
                    Error::BlankSecret {
                        var: "CLERK_WEBHOOK_SECRET_PREVIOUS"
                    }
                ),
                "{err}"
            );
        }
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
        let text = crate::report::with_causes(&err);
        assert!(!text.contains("sentinel-pw"), "{text}");
        let ok = Settings::from_env(env(&[secret, DB])).unwrap();
        assert!(!format!("{ok:?}").contains("sentinel-pw"));
    }
}
