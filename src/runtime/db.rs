//! PostgreSQL pool from `DATABASE_URL`, the embedded migrations (`migrate`), and the
//! webhook's `user.deleted` transaction ([`record_user_deleted`]).
//!
//! The password in `DATABASE_URL` must never reach a log line or an error
//! message: the URL is held as a [`DatabaseUrl`], whose `Display` masks the
//! password, and every driver error is turned into a [`DbCause`] whose text
//! has the password scrubbed out before anything can print it.

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, Instant};

use sqlx::ConnectOptions;
use sqlx::migrate::{MigrateError, Migrator};
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgSslMode};

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
pub(crate) async fn unknown_applied(conn: &mut PgConnection) -> Result<Vec<i64>, sqlx::Error> {
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

/// The versions recorded as applied (empty for a database never migrated).
async fn applied_versions(conn: &mut PgConnection) -> Result<Vec<i64>, sqlx::Error> {
    let exists: Option<String> = sqlx::query_scalar("select to_regclass('_sqlx_migrations')::text")
        .fetch_one(&mut *conn)
        .await?;
    if exists.is_none() {
        return Ok(Vec::new());
    }
    sqlx::query_scalar("select version from _sqlx_migrations where success order by version")
        .fetch_all(&mut *conn)
        .await
}

/// Applies the pending embedded migrations on `conn` and returns the versions this call
/// applied (empty: the database was already up to date). The migrator's advisory lock is
/// taken around the whole (PostgreSQL advisory locks nest within a session), so a
/// `migrate` running at the same time cannot apply anything between the reads.
///
/// # Errors
/// The migrator's error: a migration failed, an applied one was edited, the lock or the
/// migrations table could not be read.
pub(crate) async fn apply_pending(conn: &mut PgConnection) -> Result<Vec<i64>, MigrateError> {
    use sqlx::migrate::Migrate as _;
    conn.lock().await?;
    let applied = async {
        let before = applied_versions(conn).await?;
        MIGRATOR.run(&mut *conn).await?;
        let after = applied_versions(conn).await?;
        Ok::<_, MigrateError>(after.into_iter().filter(|v| !before.contains(v)).collect())
    }
    .await;
    let unlocked = conn.unlock().await;
    let applied = applied?;
    unlocked?;
    Ok(applied)
}

/// How long `migrate` keeps retrying a database that refuses connections (a
/// pod that starts before its database is reachable), unless `MIGRATE_RETRY_FOR` says otherwise.
pub(super) const CONNECT_RETRY_FOR: Duration = Duration::from_secs(60);

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
    /// `GPT_ENV` is production or staging and `DATABASE_URL` does not check the server's certificate.
    #[error(
        "GPT_ENV={env} needs a database connection that checks the server's certificate, but DATABASE_URL \
         asks for sslmode={mode}; add `sslmode=verify-full` to DATABASE_URL (and set DATABASE_CA_FILE to \
         the server's CA bundle if that CA is not a public one), or, only if you accept an unverified \
         connection, set DATABASE_TLS=insecure-allow"
    )]
    WeakTls {
        /// The environment (production or staging).
        env: String,
        /// The effective sslmode.
        mode: &'static str,
    },
    /// `DATABASE_TLS` holds something other than `insecure-allow`.
    #[error(
        "DATABASE_TLS={value:?} is not understood; the only accepted value is `insecure-allow` (leave it unset to require sslmode=verify-full in production and staging)"
    )]
    InvalidTlsSetting {
        /// The value given (not a secret).
        value: String,
    },
    /// `DATABASE_CA_FILE` cannot be used.
    #[error(
        "DATABASE_CA_FILE {path} {problem}; point it at a PEM file holding the CA certificate(s) of the database server"
    )]
    CaFile {
        /// The path given.
        path: String,
        /// What is wrong with it.
        problem: String,
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
        "cannot connect to the database at {target} ({tried}); {next}",
        tried = tried(*attempts, *elapsed),
        next = source.advice().unwrap_or("check that it is running and that DATABASE_URL is right")
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
pub(crate) type Result<T, E = Error> = std::result::Result<T, E>;

impl crate::Failure for Error {
    fn exit_code(&self) -> u8 {
        match self {
            Error::MissingUrl
            | Error::MalformedUrl { .. }
            | Error::InvalidRetryFor { .. }
            | Error::WeakTls { .. }
            | Error::InvalidTlsSetting { .. }
            | Error::CaFile { .. } => crate::exit::CONFIG,
            Error::Connect { .. } | Error::Migrate { .. } => crate::exit::API,
        }
    }
}

/// A validated PostgreSQL connection URL. `Display`/`Debug` mask the password.
#[derive(Clone)]
pub struct DatabaseUrl {
    redacted: String,
    /// The password as written and percent-decoded, for scrubbing driver messages.
    password_forms: Vec<String>,
    options: PgConnectOptions,
}

/// What stands in for a credential in a URL shown to people.
const MASK: &str = "****";

/// Query parameters the driver understands. Anything else is refused at start-up: the
/// driver would otherwise log the unknown parameter with its value (a misspelt
/// `password` would print the password).
const KNOWN_PARAMS: &[&str] = &[
    "sslmode",
    "ssl-mode",
    "sslrootcert",
    "ssl-root-cert",
    "ssl-ca",
    "sslcert",
    "ssl-cert",
    "sslkey",
    "ssl-key",
    "statement-cache-capacity",
    "host",
    "hostaddr",
    "port",
    "dbname",
    "user",
    "password",
    "application_name",
    "options",
];

/// libpq parameters the driver cannot honour, with what to do instead.
const UNSUPPORTED_PARAMS: &[(&str, &str)] = &[
    (
        "sslpassword",
        "encrypted client keys are not supported; decrypt the key (`openssl pkey -in key.pem -out plain.pem`) and drop sslpassword",
    ),
    (
        "passfile",
        "password files are not read from the URL; put the password in DATABASE_URL itself",
    ),
];

/// Parameters whose values are shown as they are; every other value is masked, so an
/// unknown or misspelt parameter never reveals what it holds.
const SHOWN_PARAMS: &[&str] = &[
    "sslmode",
    "ssl-mode",
    "sslrootcert",
    "ssl-root-cert",
    "ssl-ca",
    "sslcert",
    "ssl-cert",
    "sslkey",
    "ssl-key",
    "statement-cache-capacity",
    "host",
    "hostaddr",
    "port",
    "dbname",
    "user",
    "application_name",
    "connect_timeout",
    "target_session_attrs",
];

/// Renders any database URL for people with every credential removed: the userinfo
/// password, the values of `password`, `sslpassword`, `passfile` and of every parameter not
/// known to be harmless, and the fragment. A string that is not a URL is not shown at all.
///
/// This is the only way a database URL reaches a log line, an error or stdout.
#[must_use]
pub(crate) fn mask_database_url(raw: &str) -> String {
    let Ok(mut url) = url::Url::parse(raw.trim()) else {
        return "<DATABASE_URL not shown: it is not a URL>".to_owned();
    };
    if url.password().is_some() && url.set_password(Some(MASK)).is_err() {
        return "<DATABASE_URL not shown: it cannot be masked>".to_owned();
    }
    url.set_fragment(None);
    if url.query().is_some() {
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(k, v)| {
                let shown = SHOWN_PARAMS.contains(&k.as_ref());
                let value = if shown {
                    v.into_owned()
                } else {
                    MASK.to_owned()
                };
                (k.into_owned(), value)
            })
            .collect();
        if pairs.is_empty() {
            url.set_query(None);
        } else {
            url.query_pairs_mut().clear().extend_pairs(pairs);
        }
    }
    url.to_string()
}

/// A parameter name fit to repeat in an error (a pasted secret is never echoed).
fn printable_param(key: &str) -> Option<&str> {
    let plain = !key.is_empty()
        && key.len() <= 32
        && key
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '-'));
    plain.then_some(key)
}

/// The closest known parameter, for "did you mean".
fn closest_param(key: &str) -> Option<&'static str> {
    fn distance(a: &str, b: &str) -> usize {
        let b: Vec<char> = b.chars().collect();
        let mut row: Vec<usize> = (0..=b.len()).collect();
        for (i, ca) in a.chars().enumerate() {
            let mut prev = row[0];
            row[0] = i + 1;
            for (j, cb) in b.iter().enumerate() {
                let cur = row[j + 1];
                row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
                prev = cur;
            }
        }
        row[b.len()]
    }
    KNOWN_PARAMS
        .iter()
        .map(|k| (distance(key, k), *k))
        .filter(|(d, _)| *d <= 2)
        .min()
        .map(|(_, k)| k)
}

/// Checks every query parameter before the driver sees it.
fn check_params(url: &url::Url) -> Result<()> {
    for (key, _) in url.query_pairs() {
        let key = key.as_ref();
        if KNOWN_PARAMS.contains(&key) || (key.starts_with("options[") && key.ends_with(']')) {
            continue;
        }
        let reason = if let Some((name, help)) = UNSUPPORTED_PARAMS.iter().find(|(k, _)| *k == key)
        {
            format!("the parameter `{name}` is not supported: {help}")
        } else {
            match (printable_param(key), closest_param(key)) {
                (Some(k), Some(near)) => format!(
                    "unknown parameter `{k}` (did you mean `{near}`?); its value is not shown"
                ),
                (Some(k), None) => format!(
                    "unknown parameter `{k}`; its value is not shown; known parameters: {}",
                    KNOWN_PARAMS.join(", ")
                ),
                (None, _) => format!(
                    "a query parameter has an unexpected name (not shown); known parameters: {}",
                    KNOWN_PARAMS.join(", ")
                ),
            }
        };
        return Err(Error::MalformedUrl { reason });
    }
    Ok(())
}

/// Every spelling of every credential in `url` (raw and percent-decoded), longest first,
/// for scrubbing driver messages.
fn credential_forms(url: &url::Url) -> Vec<String> {
    let mut forms = Vec::new();
    if let Some(p) = url.password() {
        forms.push(p.to_owned());
        if let Some(decoded) = percent_decode(p) {
            forms.push(decoded);
        }
    }
    for (key, value) in url.query_pairs() {
        if !SHOWN_PARAMS.contains(&key.as_ref()) {
            forms.push(value.into_owned());
        }
    }
    for pair in url.query().unwrap_or_default().split('&') {
        if let Some((key, value)) = pair.split_once('=')
            && !SHOWN_PARAMS.contains(&key)
        {
            forms.push(value.to_owned());
        }
    }
    // Short values would scrub unrelated text; they are still never printed because
    // nothing formats the raw URL.
    forms.retain(|p| p.len() >= 3);
    forms.sort_by_key(|p| std::cmp::Reverse(p.len()));
    forms.dedup();
    forms
}

/// The name of an sslmode, as written in a URL.
fn ssl_mode_name(mode: PgSslMode) -> &'static str {
    match mode {
        PgSslMode::Disable => "disable",
        PgSslMode::Allow => "allow",
        PgSslMode::Prefer => "prefer",
        PgSslMode::Require => "require",
        PgSslMode::VerifyCa => "verify-ca",
        PgSslMode::VerifyFull => "verify-full",
    }
}

impl DatabaseUrl {
    /// Reads and validates `DATABASE_URL` from the process environment, with the TLS policy
    /// of `GPT_ENV` and `DATABASE_TLS` and the CA bundle of `DATABASE_CA_FILE`.
    ///
    /// # Errors
    /// See [`DatabaseUrl::from_vars`]; also [`Error::MalformedUrl`] when it is not UTF-8.
    pub(crate) fn from_env() -> Result<Self> {
        if let Err(std::env::VarError::NotUnicode(_)) = std::env::var("DATABASE_URL") {
            return Err(Error::MalformedUrl {
                reason: "it is not valid UTF-8".into(),
            });
        }
        Self::from_vars(|name| std::env::var(name).ok())
    }

    /// Like [`DatabaseUrl::from_env`], reading variables through `var`.
    ///
    /// In production and staging (`GPT_ENV`) the connection must use `sslmode=verify-full`
    /// unless `DATABASE_TLS=insecure-allow` says otherwise (logged as a warning). The server
    /// certificate is checked against the webpki roots plus `DATABASE_CA_FILE` when set.
    ///
    /// # Errors
    /// [`Error::MissingUrl`], [`Error::MalformedUrl`], [`Error::WeakTls`],
    /// [`Error::InvalidTlsSetting`], [`Error::CaFile`].
    pub(crate) fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let raw = var("DATABASE_URL").map(SecretString::from);
        let raw = raw
            .filter(|v| !v.expose().trim().is_empty())
            .ok_or(Error::MissingUrl)?;
        let mut url = Self::parse(raw.expose())?;
        if let Some(path) = var("DATABASE_CA_FILE").filter(|p| !p.trim().is_empty()) {
            url = url.with_ca_file(path.trim())?;
        }
        let insecure_allowed = match var("DATABASE_TLS").as_deref().map(str::trim) {
            None | Some("") => false,
            Some("insecure-allow") => true,
            Some(other) => {
                return Err(Error::InvalidTlsSetting {
                    value: other.to_owned(),
                });
            }
        };
        let env = var("GPT_ENV").unwrap_or_default();
        let env = env.trim();
        let strict = env.eq_ignore_ascii_case("production") || env.eq_ignore_ascii_case("staging");
        let mode = url.options.get_ssl_mode();
        if strict && !matches!(mode, PgSslMode::VerifyFull) {
            if !insecure_allowed {
                return Err(Error::WeakTls {
                    env: env.to_owned(),
                    mode: ssl_mode_name(mode),
                });
            }
            tracing::warn!(
                gpt_env = env,
                sslmode = ssl_mode_name(mode),
                "DATABASE_TLS=insecure-allow: the database server's certificate is NOT checked; \
                 anyone on the network path can read and change what this process sends, \
                 passwords included; use sslmode=verify-full"
            );
        }
        Ok(url)
    }

    /// Checks the server certificate against `path` (PEM) in addition to the webpki roots.
    fn with_ca_file(mut self, path: &str) -> Result<Self> {
        let problem = |problem: String| Error::CaFile {
            path: path.to_owned(),
            problem,
        };
        let pem = std::fs::read(path).map_err(|e| problem(format!("cannot be read: {e}")))?;
        let text = String::from_utf8_lossy(&pem);
        if !text.contains("-----BEGIN CERTIFICATE-----") {
            return Err(problem("holds no PEM certificate".into()));
        }
        self.options = self.options.ssl_root_cert(path);
        Ok(self)
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
        check_params(&url)?;
        let password_forms = credential_forms(&url);
        let options = PgConnectOptions::from_url(&url).map_err(|e| Error::MalformedUrl {
            reason: scrub(&e.to_string(), &password_forms),
        })?;
        Ok(Self {
            redacted: mask_database_url(raw),
            password_forms,
            options,
        })
    }

    /// The URL with every credential masked ([`mask_database_url`]), safe to print.
    #[must_use]
    pub(crate) fn redacted(&self) -> &str {
        &self.redacted
    }

    /// Connection options for the driver, with the given `application_name`.
    #[must_use]
    pub(crate) fn connect_options(&self, application_name: &str) -> PgConnectOptions {
        self.options
            .clone()
            .application_name(application_name)
            .log_statements(tracing::log::LevelFilter::Trace)
            .log_slow_statements(tracing::log::LevelFilter::Warn, Duration::from_secs(5))
    }

    /// Turns a driver error into a printable cause with the password scrubbed out.
    #[must_use]
    pub(crate) fn cause(&self, err: &(dyn std::error::Error + 'static)) -> DbCause {
        DbCause::new(err, &self.password_forms)
    }
}

/// `options` with per-session limits: no statement runs longer than `statement`, no lock is
/// waited for longer than `lock` (PostgreSQL `statement_timeout` and `lock_timeout`, sent at
/// connection start-up so they hold for every statement on the connection).
#[must_use]
pub(crate) fn with_session_timeouts(
    options: PgConnectOptions,
    statement: Duration,
    lock: Duration,
) -> PgConnectOptions {
    let ms = |d: Duration| d.as_millis().max(1).to_string();
    options.options([
        ("statement_timeout", ms(statement)),
        ("lock_timeout", ms(lock)),
    ])
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

/// "tried once" or "tried 3 times over 1.2s" (milliseconds at most, never nanoseconds).
#[must_use]
pub(crate) fn tried(attempts: u32, elapsed: Duration) -> String {
    if attempts <= 1 {
        return "tried once".into();
    }
    format!(
        "tried {attempts} times over {}",
        humantime::format_duration(Duration::from_millis(elapsed.as_millis() as u64))
    )
}

/// PostgreSQL's error text says where in its own source the error was raised (` at line
/// 768`); that helps nobody running this tool.
fn drop_server_source_lines(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(" at line ") {
        let after = &rest[at + " at line ".len()..];
        let digits = after.bytes().take_while(u8::is_ascii_digit).count();
        out.push_str(&rest[..at]);
        if digits == 0 {
            out.push_str(" at line ");
        }
        rest = &after[digits..];
    }
    out.push_str(rest);
    out
}

/// The TLS error inside a driver error chain, if the connection failed on TLS.
fn tls_error<'a>(err: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    for e in std::iter::once(err).chain(crate::report::causes(err)) {
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        let io =
            e.downcast_ref::<std::io::Error>()
                .or_else(|| match e.downcast_ref::<sqlx::Error>() {
                    Some(sqlx::Error::Io(io)) => Some(io),
                    _ => None,
                });
        if let Some(tls) = io
            .and_then(std::io::Error::get_ref)
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        {
            return Some(tls);
        }
        if let Some(sqlx::Error::Tls(inner)) = e.downcast_ref::<sqlx::Error>()
            && let Some(tls) = inner.downcast_ref::<rustls::Error>()
        {
            return Some(tls);
        }
    }
    None
}

/// What to do about a refused server certificate.
fn certificate_advice(err: &rustls::Error) -> Option<&'static str> {
    use rustls::CertificateError as C;
    let rustls::Error::InvalidCertificate(problem) = err else {
        return None;
    };
    Some(match problem {
        C::UnknownIssuer | C::BadSignature | C::UnhandledCriticalExtension => {
            "the database server's certificate is not signed by a CA this process trusts: set \
             DATABASE_CA_FILE to a PEM file holding the CA that signed it (the public webpki \
             roots are always trusted)"
        }
        C::NotValidForName | C::NotValidForNameContext { .. } => {
            "the database server's certificate is not issued for the host named in DATABASE_URL: \
             use the host name the certificate names (sslmode=verify-full checks it)"
        }
        C::Expired | C::ExpiredContext { .. } => {
            "the database server's certificate has expired: renew it on the server"
        }
        C::NotValidYet | C::NotValidYetContext { .. } => {
            "the database server's certificate is not valid yet: check the clocks of this machine \
             and of the server"
        }
        C::Revoked => {
            "the database server's certificate has been revoked: replace it on the server"
        }
        _ => {
            "the database server's certificate was refused: check it against DATABASE_CA_FILE \
             and the host named in DATABASE_URL"
        }
    })
}

/// A database error, flattened to text with the password scrubbed out.
///
/// The driver's error chain is rendered once, at the boundary, so that no later
/// `{:?}` or `{}` of an error can reach a password-bearing string.
#[derive(Debug, Clone)]
pub struct DbCause {
    message: Box<str>,
    transient: bool,
    pool_timeout: bool,
    sqlstate: Option<Box<str>>,
    advice: Option<&'static str>,
}

impl DbCause {
    /// Renders `err` and its sources, removing every form of the password.
    #[must_use]
    pub(crate) fn new(err: &(dyn std::error::Error + 'static), secrets: &[String]) -> Self {
        let mut message = err.to_string();
        for cause in crate::report::causes(err) {
            let text = cause.to_string();
            if !message.contains(&text) {
                message.push_str(": ");
                message.push_str(&text);
            }
        }
        let sqlx_err = err.downcast_ref::<sqlx::Error>();
        // A refused certificate stays refused: retrying it only delays the message.
        let advice = tls_error(err).and_then(certificate_advice);
        Self {
            message: drop_server_source_lines(&scrub(&message, secrets)).into_boxed_str(),
            transient: advice.is_none() && sqlx_err.is_some_and(is_transient),
            pool_timeout: matches!(sqlx_err, Some(sqlx::Error::PoolTimedOut)),
            advice,
            sqlstate: sqlx_err
                .and_then(|e| e.as_database_error())
                .and_then(|d| d.code())
                .map(|c| c.into_owned().into_boxed_str()),
        }
    }

    /// Whether retrying the same operation later may succeed.
    #[must_use]
    pub(crate) fn is_transient(&self) -> bool {
        self.transient
    }

    /// Whether it is a pool's wait for a connection that ran out (the reason is not known).
    #[must_use]
    pub(crate) fn is_pool_timeout(&self) -> bool {
        self.pool_timeout
    }

    /// What to do about it, when the cause is clear enough to say (a refused certificate).
    #[must_use]
    pub(crate) fn advice(&self) -> Option<&'static str> {
        self.advice
    }

    /// The PostgreSQL SQLSTATE code, when the server reported one.
    #[must_use]
    pub(crate) fn sqlstate(&self) -> Option<&str> {
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
pub(crate) fn is_transient(err: &sqlx::Error) -> bool {
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
pub(crate) fn backoff(attempt: u32) -> Duration {
    let ms = 250u64.saturating_mul(1u64 << attempt.saturating_sub(1).min(5));
    Duration::from_millis(ms.min(5_000))
}

/// Opens one connection, retrying transient failures for at most `retry_for`.
///
/// # Errors
/// [`Error::Connect`] with the last (scrubbed) driver error.
pub(crate) async fn connect_one(
    url: &DatabaseUrl,
    application_name: &str,
    retry_for: Duration,
) -> Result<PgConnection> {
    connect_one_with(url, url.connect_options(application_name), retry_for).await
}

/// [`connect_one`] with these connection options (made from `url`).
///
/// # Errors
/// [`Error::Connect`] with the last (scrubbed) driver error.
pub(crate) async fn connect_one_with(
    url: &DatabaseUrl,
    options: PgConnectOptions,
    retry_for: Duration,
) -> Result<PgConnection> {
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

/// Rows removed for one deleted user.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Deleted {
    /// From `gpt_authorization_codes`.
    pub(crate) authorization_codes: i64,
    /// From `gpt_refresh_tokens`.
    pub(crate) refresh_tokens: i64,
    /// From `gpt_sessions`.
    pub(crate) sessions: i64,
}

/// What recording a `user.deleted` delivery did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The user's rows were deleted and the event recorded.
    Processed(Deleted),
    /// The event had no user id; it was recorded as ignored.
    Ignored,
    /// This svix message was already recorded; nothing changed.
    Duplicate,
}

/// Records a `user.deleted` delivery exactly once per svix message id.
///
/// One transaction: the event row is inserted first with
/// `on conflict (svix_message_id) do nothing`, which claims the message id. A
/// concurrent delivery of the same message (the other replica) blocks on that
/// unique index until this transaction ends and then inserts nothing, so the
/// user's rows are deleted once and one event row exists. Only after the claim
/// are the rows deleted and the counts written into the event's `details`.
///
/// # Errors
/// Any database error; the transaction is rolled back, so a retry starts clean.
pub(crate) async fn record_user_deleted(
    pool: &sqlx::PgPool,
    message_id: &str,
    user_id: Option<&str>,
) -> std::result::Result<Outcome, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let details = match user_id {
        Some(_) => serde_json::json!({ "svix_message_id": message_id, "outcome": "processed" }),
        None => serde_json::json!({
            "svix_message_id": message_id,
            "outcome": "ignored",
            "reason": "data.id missing",
        }),
    };
    let claimed: Option<i64> = sqlx::query_scalar(
        "insert into gpt_oauth_events (event_type, clerk_user_id, details, svix_message_id)
         values ('user.deleted', $1, $2, $3)
         on conflict (svix_message_id) do nothing
         returning id",
    )
    .bind(user_id)
    .bind(&details)
    .bind(message_id)
    .fetch_optional(&mut *tx)
    .await?;
    let (Some(event_id), Some(user_id)) = (claimed, user_id) else {
        tx.commit().await?;
        return Ok(if claimed.is_some() {
            Outcome::Ignored
        } else {
            Outcome::Duplicate
        });
    };
    // One round trip for the three deletes and the counts.
    let deleted: sqlx::types::Json<Deleted> = sqlx::query_scalar(
        "with codes as (delete from gpt_authorization_codes where clerk_user_id = $1 returning 1),
              tokens as (delete from gpt_refresh_tokens where clerk_user_id = $1 returning 1),
              sessions as (delete from gpt_sessions where clerk_user_id = $1 returning 1),
              counts as (
                  select jsonb_build_object(
                      'authorization_codes', (select count(*) from codes),
                      'refresh_tokens', (select count(*) from tokens),
                      'sessions', (select count(*) from sessions)) as deleted
              )
         update gpt_oauth_events
            set details = details || jsonb_build_object('deleted', (select deleted from counts))
          where id = $2
         returning details -> 'deleted'",
    )
    .bind(user_id)
    .bind(event_id)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Outcome::Processed(deleted.0))
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

    /// Every way a credential can sit in a URL, each with its own sentinel.
    const CREDENTIAL_FORMS: &[(&str, &str)] = &[
        (
            "postgres://app:sentinel-userinfo@db:5432/gpt",
            "sentinel-userinfo",
        ),
        ("postgres://app:sentinel%2Fenc@db/gpt", "sentinel"),
        (
            "postgres://app@db/gpt?password=sentinel-query",
            "sentinel-query",
        ),
        (
            "postgres://app@db/gpt?sslmode=require&password=sentinel%26amp",
            "sentinel",
        ),
        (
            "postgres://app@db/gpt?sslpassword=sentinel-sslpw",
            "sentinel-sslpw",
        ),
        (
            "postgres://app@db/gpt?passfile=/run/sentinel-passfile",
            "sentinel-passfile",
        ),
        (
            "postgres://app@db/gpt?pasword=sentinel-typo",
            "sentinel-typo",
        ),
        (
            "postgres://app@db/gpt#sentinel-fragment",
            "sentinel-fragment",
        ),
        (
            "postgres://app:sentinel-both@db/gpt?password=sentinel-both2",
            "sentinel-both",
        ),
    ];

    #[test]
    fn masking_removes_every_credential_form() {
        for (raw, sentinel) in CREDENTIAL_FORMS {
            let masked = mask_database_url(raw);
            assert!(!masked.contains(sentinel), "{raw} -> {masked}");
            assert!(masked.starts_with("postgres://app"), "{raw} -> {masked}");
            assert!(masked.contains("db"), "{raw} -> {masked}");
        }
        assert_eq!(
            mask_database_url("postgres://app:pw@db:5432/gpt?sslmode=verify-full&password=pw2"),
            "postgres://app:****@db:5432/gpt?sslmode=verify-full&password=****"
        );
        assert_eq!(
            mask_database_url("postgres://app@db/gpt?application_name=x&sslpassword=s&passfile=/p"),
            "postgres://app@db/gpt?application_name=x&sslpassword=****&passfile=****"
        );
        assert!(!mask_database_url("not a url sentinel-raw").contains("sentinel"));
    }

    #[test]
    fn parsed_urls_show_only_the_masked_form_and_scrub_driver_text() {
        for raw in [
            "postgres://app:sentinel-a@db/gpt",
            "postgres://app@db/gpt?password=sentinel-a",
            "postgres://app@db/gpt?password=sentinel%2Da",
        ] {
            let url = DatabaseUrl::parse(raw).unwrap();
            let shown = format!("{url} {url:?} {}", url.redacted());
            assert!(!shown.contains("sentinel"), "{shown}");
            let cause = url.cause(&std::io::Error::other("auth failed for sentinel-a"));
            assert!(!cause.to_string().contains("sentinel"), "{cause}");
        }
    }

    #[test]
    fn unknown_and_unsupported_parameters_are_refused_without_their_values() {
        for (raw, needle) in [
            (
                "postgres://app@db/gpt?pasword=sentinel-v",
                "did you mean `password`",
            ),
            (
                "postgres://app@db/gpt?sslmdoe=sentinel-v",
                "did you mean `sslmode`",
            ),
            (
                "postgres://app@db/gpt?zzzzzzzzzz=sentinel-v",
                "unknown parameter `zzzzzzzzzz`",
            ),
            ("postgres://app@db/gpt?sentinel-Key%21=1", "unexpected name"),
            (
                "postgres://app@db/gpt?sslpassword=sentinel-v",
                "`sslpassword` is not supported",
            ),
            (
                "postgres://app@db/gpt?passfile=/sentinel-v",
                "`passfile` is not supported",
            ),
        ] {
            let err = DatabaseUrl::parse(raw).unwrap_err();
            let text = format!("{err} {err:?}");
            assert!(text.contains(needle), "{raw}: {text}");
            assert!(!text.contains("sentinel"), "{raw}: {text}");
            assert_eq!(crate::Failure::exit_code(&err), crate::exit::CONFIG);
        }
    }

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: std::collections::HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn production_and_staging_need_verify_full() {
        for env in ["production", "staging", " Production "] {
            for mode in [
                "",
                "?sslmode=disable",
                "?sslmode=prefer",
                "?sslmode=require",
                "?sslmode=verify-ca",
            ] {
                let url = format!("postgres://app:sentinel-pw@db/gpt{mode}");
                let err = DatabaseUrl::from_vars(vars(&[("DATABASE_URL", &url), ("GPT_ENV", env)]))
                    .unwrap_err();
                assert!(matches!(err, Error::WeakTls { .. }), "{env} {mode}: {err}");
                let text = err.to_string();
                assert!(text.contains("sslmode=verify-full"), "{text}");
                assert!(text.contains("DATABASE_TLS=insecure-allow"), "{text}");
                assert!(!text.contains("sentinel"), "{text}");
                // The explicit escape hatch lets it start.
                DatabaseUrl::from_vars(vars(&[
                    ("DATABASE_URL", &url),
                    ("GPT_ENV", env),
                    ("DATABASE_TLS", "insecure-allow"),
                ]))
                .unwrap();
            }
            DatabaseUrl::from_vars(vars(&[
                (
                    "DATABASE_URL",
                    "postgres://app:pw@db/gpt?sslmode=verify-full",
                ),
                ("GPT_ENV", env),
            ]))
            .unwrap();
        }
        // Development (and no GPT_ENV) keep the driver's default.
        for env in [None, Some("development")] {
            let mut v = vec![("DATABASE_URL", "postgres://app:pw@db/gpt")];
            v.extend(env.map(|e| ("GPT_ENV", e)));
            DatabaseUrl::from_vars(vars(&v)).unwrap();
        }
        let err = DatabaseUrl::from_vars(vars(&[
            (
                "DATABASE_URL",
                "postgres://app:pw@db/gpt?sslmode=verify-full",
            ),
            ("DATABASE_TLS", "insecure"),
        ]))
        .unwrap_err();
        assert!(matches!(err, Error::InvalidTlsSetting { .. }), "{err}");
    }

    #[test]
    fn the_ca_file_must_hold_a_certificate() {
        let dir = std::env::temp_dir().join(format!("gpt-deploy-ca-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "not a certificate").unwrap();
        for path in [dir.join("missing.pem"), empty] {
            let err = DatabaseUrl::from_vars(vars(&[
                (
                    "DATABASE_URL",
                    "postgres://app:pw@db/gpt?sslmode=verify-full",
                ),
                ("DATABASE_CA_FILE", path.to_str().unwrap()),
            ]))
            .unwrap_err();
            assert!(matches!(err, Error::CaFile { .. }), "{err}");
            assert!(err.to_string().contains(path.to_str().unwrap()), "{err}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn counts_and_durations_read_as_people_write_them() {
        assert_eq!(tried(1, Duration::from_nanos(68_221_164)), "tried once");
        assert_eq!(
            tried(3, Duration::from_nanos(1_234_567_891)),
            "tried 3 times over 1s 234ms"
        );
    }

    #[test]
    fn the_servers_source_line_is_dropped() {
        assert_eq!(
            drop_server_source_lines(
                "error returned from database: password authentication failed for user \"app\" at line 326"
            ),
            "error returned from database: password authentication failed for user \"app\""
        );
        assert_eq!(drop_server_source_lines("at line x"), "at line x");
        assert_eq!(
            drop_server_source_lines("a at line 1: b at line 22"),
            "a: b"
        );
    }

    #[test]
    fn a_refused_certificate_says_what_to_do_and_is_not_retried() {
        let io = std::io::Error::other(rustls::Error::InvalidCertificate(
            rustls::CertificateError::UnknownIssuer,
        ));
        let cause = DbCause::new(&sqlx::Error::Io(io), &[]);
        assert!(!cause.is_transient());
        assert!(cause.advice().unwrap().contains("DATABASE_CA_FILE"));
        let refused = DbCause::new(
            &sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionRefused)),
            &[],
        );
        assert!(refused.is_transient());
        assert_eq!(refused.advice(), None);
    }

    #[test]
    fn backoff_is_bounded() {
        assert_eq!(backoff(1), Duration::from_millis(250));
        assert_eq!(backoff(2), Duration::from_millis(500));
        assert_eq!(backoff(30), Duration::from_secs(5));
    }
}
