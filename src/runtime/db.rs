//! PostgreSQL pool from `DATABASE_URL` and the embedded migrations (`migrate`).
//!
//! The password in `DATABASE_URL` must never reach a log line or an error
//! message: the URL is held as a [`DatabaseUrl`], whose `Display` masks the
//! password, and every driver error is turned into a [`DbCause`] whose text
//! has the password scrubbed out before anything can print it.

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, Instant};

use sqlx::ConnectOptions;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};

use crate::secret::SecretString;

/// The embedded migrations (`migrations/` at build time). Versions the database has
/// applied but this binary does not embed are tolerated (and reported by `migrate`): an
/// older image must keep running against a schema a newer one expanded, which the
/// expand/contract rule for migrations makes safe.
pub static MIGRATOR: Migrator = Migrator {
    ignore_missing: true,
    ..sqlx::migrate!()
};

/// Applied versions the embedded migrations do not know (the database is ahead).
///
/// # Errors
/// The migrations table cannot be read (a database never migrated has none: empty list).
pub async fn unknown_applied(conn: &mut PgConnection) -> Result<Vec<i64>, sqlx::Error> {
    let exists: Option<String> = sqlx::query_scalar("select to_regclass('_sqlx_migrations')::text")
        .fetch_one(&mut *conn)
        .await?;
    if exists.is_none() {
        return Ok(Vec::new());
    }
    let applied: Vec<i64> =
        sqlx::query_scalar("select version from _sqlx_migrations order by version")
            .fetch_all(&mut *conn)
            .await?;
    Ok(applied
        .into_iter()
        .filter(|v| !MIGRATOR.iter().any(|m| m.version == *v))
        .collect())
}

/// How long `migrate` keeps retrying a database that refuses connections (a
/// pod that starts before its database is reachable), unless `MIGRATE_RETRY_FOR` says otherwise.
const CONNECT_RETRY_FOR: Duration = Duration::from_secs(60);

/// Errors of this module.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `DATABASE_URL` is not set (or empty).
    #[error(
        "DATABASE_URL is not set: set it to the PostgreSQL connection URL, e.g. postgres://user:password@host:5432/dbname"
    )]
    MissingUrl,
    /// `DATABASE_URL` is not a usable PostgreSQL URL; the value itself is never shown.
    #[error(
        "DATABASE_URL is not a valid PostgreSQL URL ({reason}); expected postgres://user:password@host:5432/dbname"
    )]
    MalformedUrl {
        /// What is wrong with it, without its value.
        reason: String,
    },
    /// `MIGRATE_RETRY_FOR` is not a duration.
    #[error("MIGRATE_RETRY_FOR {value:?} is not a duration ({reason}); use e.g. 60s or 5m")]
    InvalidRetryFor {
        /// The value given.
        value: String,
        /// Why it was rejected.
        reason: String,
    },
    /// The database could not be reached (after retrying for a bounded time).
    #[error(
        "cannot connect to the database at {target} (tried {attempts} time(s) over {elapsed:?}); check that it is running and that DATABASE_URL is right"
    )]
    Connect {
        /// The URL with its password masked.
        target: String,
        /// Connection attempts made.
        attempts: u32,
        /// Time spent trying.
        elapsed: Duration,
        /// The last driver error, password scrubbed.
        #[source]
        source: DbCause,
    },
    /// Applying the embedded migrations failed.
    #[error(
        "applying the embedded migrations to {target} failed; each migration runs in its own transaction, so the schema stays at the last one that succeeded (applied migration files must never be edited)"
    )]
    Migrate {
        /// The URL with its password masked.
        target: String,
        /// The migrator's error, password scrubbed.
        #[source]
        source: DbCause,
    },
}

/// Result with this module's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl crate::Failure for Error {
    fn exit_code(&self) -> u8 {
        match self {
            Error::MissingUrl | Error::MalformedUrl { .. } | Error::InvalidRetryFor { .. } => {
                crate::exit::CONFIG
            }
            Error::Connect { .. } | Error::Migrate { .. } => crate::exit::API,
        }
    }
}

/// A validated PostgreSQL connection URL. `Display`/`Debug` mask the password.
#[derive(Clone)]
pub struct DatabaseUrl {
    url: SecretString,
    redacted: String,
    /// The password as written and percent-decoded, for scrubbing driver messages.
    password_forms: Vec<String>,
    options: PgConnectOptions,
}

impl DatabaseUrl {
    /// Reads and validates `DATABASE_URL` from the process environment.
    ///
    /// # Errors
    /// [`Error::MissingUrl`] when unset or empty, [`Error::MalformedUrl`] when unusable.
    pub fn from_env() -> Result<Self> {
        match std::env::var("DATABASE_URL") {
            Ok(v) if !v.trim().is_empty() => Self::parse(&v),
            Ok(_) | Err(std::env::VarError::NotPresent) => Err(Error::MissingUrl),
            Err(std::env::VarError::NotUnicode(_)) => Err(Error::MalformedUrl {
                reason: "it is not valid UTF-8".into(),
            }),
        }
    }

    /// Validates a URL of the form `postgres://user:password@host:port/dbname?params`.
    ///
    /// # Errors
    /// [`Error::MalformedUrl`] naming what is wrong (never echoing the value).
    pub fn parse(raw: &str) -> Result<Self> {
        let malformed = |reason: &str| Error::MalformedUrl {
            reason: reason.to_string(),
        };
        let url = url::Url::parse(raw.trim()).map_err(|e| Error::MalformedUrl {
            reason: format!("cannot parse it as a URL: {e}"),
        })?;
        if !matches!(url.scheme(), "postgres" | "postgresql") {
            return Err(Error::MalformedUrl {
                reason: format!(
                    "the scheme is {:?}, not \"postgres\" or \"postgresql\"",
                    url.scheme()
                ),
            });
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(malformed("it names no host"));
        }
        let mut password_forms = Vec::new();
        if let Some(p) = url.password() {
            password_forms.push(p.to_string());
            if let Some(decoded) = percent_decode(p) {
                password_forms.push(decoded);
            }
        }
        // Short passwords would scrub unrelated text; they are still never printed
        // because nothing below formats the raw URL.
        password_forms.retain(|p| p.len() >= 3);
        password_forms.sort_by_key(|p| std::cmp::Reverse(p.len()));
        password_forms.dedup();

        let options = PgConnectOptions::from_url(&url).map_err(|e| Error::MalformedUrl {
            reason: scrub(&e.to_string(), &password_forms),
        })?;

        let mut masked = url.clone();
        if masked.password().is_some() {
            let _ = masked.set_password(Some("****"));
        }
        Ok(Self {
            url: SecretString::new(raw.trim()),
            redacted: masked.to_string(),
            password_forms,
            options,
        })
    }

    /// The URL with its password masked, safe to print.
    #[must_use]
    pub fn redacted(&self) -> &str {
        &self.redacted
    }

    /// The full URL, password included. Only for handing to a child process or driver.
    #[must_use]
    pub fn expose(&self) -> &str {
        self.url.expose()
    }

    /// Connection options for the driver, with the given `application_name`.
    #[must_use]
    pub fn connect_options(&self, application_name: &str) -> PgConnectOptions {
        self.options
            .clone()
            .application_name(application_name)
            .log_statements(tracing::log::LevelFilter::Trace)
            .log_slow_statements(tracing::log::LevelFilter::Warn, Duration::from_secs(5))
    }

    /// Turns a driver error into a printable cause with the password scrubbed out.
    #[must_use]
    pub fn cause(&self, err: &(dyn std::error::Error + 'static)) -> DbCause {
        DbCause::new(err, &self.password_forms)
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted)
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseUrl({})", self.redacted)
    }
}

impl FromStr for DatabaseUrl {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::parse(s)
    }
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn scrub(text: &str, secrets: &[String]) -> String {
    secrets
        .iter()
        .fold(text.to_string(), |t, s| t.replace(s.as_str(), "****"))
}

/// A database error, flattened to text with the password scrubbed out.
///
/// The driver's error chain is rendered once, at the boundary, so that no later
/// `{:?}` or `{}` of an error can reach a password-bearing string.
#[derive(Debug, Clone)]
pub struct DbCause {
    message: String,
    transient: bool,
    sqlstate: Option<String>,
}

impl DbCause {
    /// Renders `err` and its sources, removing every form of the password.
    #[must_use]
    pub fn new(err: &(dyn std::error::Error + 'static), secrets: &[String]) -> Self {
        let mut message = err.to_string();
        let mut source = err.source();
        while let Some(cause) = source {
            let text = cause.to_string();
            if !message.contains(&text) {
                message.push_str(": ");
                message.push_str(&text);
            }
            source = cause.source();
        }
        let sqlx_err = err.downcast_ref::<sqlx::Error>();
        Self {
            message: scrub(&message, secrets),
            transient: sqlx_err.is_some_and(is_transient),
            sqlstate: sqlx_err
                .and_then(|e| e.as_database_error())
                .and_then(|d| d.code())
                .map(|c| c.into_owned()),
        }
    }

    /// Whether retrying the same operation later may succeed.
    #[must_use]
    pub fn is_transient(&self) -> bool {
        self.transient
    }

    /// The PostgreSQL SQLSTATE code, when the server reported one.
    #[must_use]
    pub fn sqlstate(&self) -> Option<&str> {
        self.sqlstate.as_deref()
    }
}

impl fmt::Display for DbCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for DbCause {}

/// Whether a driver error is worth retrying: the connection failed or was
/// dropped, the server is starting or shutting down, or the statement lost a
/// lock race or ran out of time.
#[must_use]
pub fn is_transient(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::Protocol(_)
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            // 08: connection exception; 57P01-3: admin/crash shutdown, cannot
            // connect now; 40001/40P01: serialization failure, deadlock;
            // 57014: statement timeout or cancel; 55P03: lock not available;
            // 53300: too many connections.
            code.starts_with("08")
                || matches!(
                    code.as_ref(),
                    "57P01" | "57P02" | "57P03" | "40001" | "40P01" | "57014" | "55P03" | "53300"
                )
        }),
        _ => false,
    }
}

/// The backoff before retry number `attempt` (1-based): 250 ms doubling, capped at 5 s.
#[must_use]
pub fn backoff(attempt: u32) -> Duration {
    let ms = 250u64.saturating_mul(1u64 << attempt.saturating_sub(1).min(5));
    Duration::from_millis(ms.min(5_000))
}

/// Opens one connection, retrying transient failures for at most `retry_for`.
///
/// # Errors
/// [`Error::Connect`] with the last (scrubbed) driver error.
pub async fn connect_one(
    url: &DatabaseUrl,
    application_name: &str,
    retry_for: Duration,
) -> Result<PgConnection> {
    let options = url.connect_options(application_name);
    let started = Instant::now();
    let mut attempts = 0;
    loop {
        attempts += 1;
        match options.connect().await {
            Ok(conn) => return Ok(conn),
            Err(e) => {
                let cause = url.cause(&e);
                let wait = backoff(attempts);
                if !cause.is_transient() || started.elapsed() + wait > retry_for {
                    return Err(Error::Connect {
                        target: url.redacted().to_string(),
                        attempts,
                        elapsed: started.elapsed(),
                        source: cause,
                    });
                }
                tracing::warn!(target_db = %url, attempt = attempts, error = %cause, retry_in_ms = wait.as_millis() as u64, "cannot connect to the database; retrying");
                tokio::time::sleep(wait).await;
            }
        }
    }
}

/// A connection pool for `url` (a `postgres://` URL).
///
/// The pool connects lazily after the first connection succeeded, so a
/// database that goes away later is retried per request, not fatal.
///
/// # Errors
/// [`Error::MalformedUrl`] for a bad URL, [`Error::Connect`] when the first
/// connection fails.
pub async fn connect(url: &str) -> Result<PgPool> {
    let url = DatabaseUrl::parse(url)?;
    connect_url(&url, "gpt-deploy").await
}

/// Like [`connect`] for an already validated URL.
///
/// # Errors
/// [`Error::Connect`] when the first connection fails.
pub async fn connect_url(url: &DatabaseUrl, application_name: &str) -> Result<PgPool> {
    let started = Instant::now();
    PgPoolOptions::new()
        .max_connections(10)
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(url.connect_options(application_name))
        .await
        .map_err(|e| Error::Connect {
            target: url.redacted().to_string(),
            attempts: 1,
            elapsed: started.elapsed(),
            source: url.cause(&e),
        })
}

/// Applies every pending embedded migration.
///
/// Safe to run from several processes at once: the migrator holds a
/// PostgreSQL advisory lock for the whole run, so the second process waits
/// and then finds nothing left to apply.
///
/// # Errors
/// [`Error::Migrate`] when a migration fails or the database was migrated with
/// different (edited) migration files.
pub async fn migrate(pool: &PgPool) -> Result<()> {
    MIGRATOR.run(pool).await.map_err(|e| Error::Migrate {
        target: "the database".into(),
        source: DbCause::new(&e, &[]),
    })
}

/// `gpt-deploy migrate`.
///
/// # Errors
/// Missing or malformed `DATABASE_URL`, connection or migration errors.
pub async fn cmd_migrate() -> Result<u8> {
    let retry_for = match std::env::var("MIGRATE_RETRY_FOR") {
        Ok(v) => humantime::parse_duration(v.trim()).map_err(|e| Error::InvalidRetryFor {
            value: v.clone(),
            reason: e.to_string(),
        })?,
        Err(_) => CONNECT_RETRY_FOR,
    };
    let url = DatabaseUrl::from_env()?;
    let mut conn = connect_one(&url, "gpt-deploy migrate", retry_for).await?;
    let started = Instant::now();
    MIGRATOR.run(&mut conn).await.map_err(|e| Error::Migrate {
        target: url.redacted().to_string(),
        source: url.cause(&e),
    })?;
    match unknown_applied(&mut conn).await {
        Ok(unknown) if !unknown.is_empty() => {
            let versions: Vec<String> = unknown.iter().map(ToString::to_string).collect();
            tracing::warn!(versions = %versions.join(","), "database is ahead of this binary");
            println!(
                "the database has {} migration(s) this binary does not know (version {}): a newer release applied them; continuing, as migrations only expand the schema",
                unknown.len(),
                versions.join(", ")
            );
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %url.cause(&e), "cannot list the applied migrations"),
    }
    let latest = MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0);
    tracing::info!(target_db = %url, latest_version = latest, elapsed_ms = started.elapsed().as_millis() as u64, "migrations applied");
    println!(
        "migrated {}: schema at version {latest} ({} migration(s) embedded)",
        url.redacted(),
        MIGRATOR.iter().count()
    );
    Ok(crate::exit::OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_password_everywhere() {
        let url =
            DatabaseUrl::parse("postgres://app:s3cr%40t-pw@db.example:5432/gpt?sslmode=disable")
                .unwrap();
        assert_eq!(
            url.redacted(),
            "postgres://app:****@db.example:5432/gpt?sslmode=disable"
        );
        assert!(!format!("{url} {url:?}").contains("s3cr"));
        let err = std::io::Error::other("bad s3cr@t-pw and s3cr%40t-pw");
        let cause = url.cause(&err);
        assert_eq!(cause.to_string(), "bad **** and ****");
    }

    #[test]
    fn rejects_bad_urls_without_echoing_them() {
        for (raw, needle) in [
            ("not a url secretpw", "cannot parse"),
            ("mysql://u:secretpw@h/db", "scheme"),
            ("postgres://u:secretpw@/db", "host"),
        ] {
            let err = DatabaseUrl::parse(raw).unwrap_err().to_string();
            assert!(err.contains(needle), "{err}");
            assert!(!err.contains("secretpw"), "{err}");
        }
    }

    #[test]
    fn backoff_is_bounded() {
        assert_eq!(backoff(1), Duration::from_millis(250));
        assert_eq!(backoff(2), Duration::from_millis(500));
        assert_eq!(backoff(30), Duration::from_secs(5));
    }
}
