//! Batched retention deletes of expired OAuth artifacts (`cleanup`).
//!
//! With `cutoff = now − retention` (the database's clock, read once per run):
//! authorization codes and sessions go when `expires_at < cutoff`, refresh
//! tokens when `revoked_at < cutoff` or `expires_at < cutoff`. The audit trail
//! (`gpt_oauth_events`) is never touched.
//!
//! Each batch is one autocommit statement of the form
//!
//! ```sql
//! with deleted as (
//!     delete from t
//!     where ctid = any(array(
//!         select ctid from t where col >= $3 and col < $1 order by col limit $2))
//!       and <the table's full eligibility rule>
//!     returning col)
//! select count(*), max(col) from deleted
//! ```
//!
//! The inner select walks the `col` index in order, so each batch is an index
//! scan of at most `batch-size` entries whatever the table size; deleting by
//! `ctid` avoids a second lookup through the primary key. `$3` is the largest
//! `col` the previous batch deleted: starting the scan there skips the index
//! entries of rows this run already deleted, which are still in the index
//! until vacuum and would otherwise be walked again by every later batch,
//! making batches slower and slower. The outer rule is checked again on the
//! row version being deleted, so a row changed concurrently (new `ctid`, or no
//! longer eligible) is skipped, never deleted wrongly. Because the cutoff is
//! fixed for the run and only moves forward between runs, a row that is not
//! past the cutoff can never match. (A row that turns eligible behind the
//! walk during the run, by a concurrent update, is left to the next run.)
//!
//! A run holds a session-level advisory lock on its one connection; a second
//! concurrent run finds it taken and exits 0. Killing a run at any point is
//! safe: every committed batch is complete, the batch in flight is rolled back
//! by the server, and the next run carries on from the oldest remaining row.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use sqlx::AssertSqlSafe;

use crate::cli::CleanupArgs;
use crate::runtime::db::{self, DatabaseUrl, DbCause};

mod session;
use session::Session;

/// Advisory lock key shared by every `gpt-deploy cleanup` ("gptclean" in ASCII).
pub const LOCK_KEY: i64 = 0x6770_7463_6c65_616e;

/// `application_name` of cleanup's database sessions (visible in `pg_stat_activity`).
pub const APPLICATION_NAME: &str = "gpt-deploy cleanup";

/// Largest accepted `--batch-size`: a batch must stay a short transaction.
pub const MAX_BATCH_SIZE: i64 = 100_000;

/// What `cleanup` deletes from one table.
#[derive(Debug, Clone, Copy)]
pub struct TableRule {
    /// Table name.
    pub table: &'static str,
    /// The full eligibility rule, with `$1` the cutoff.
    pub eligible: &'static str,
    /// Indexed timestamp columns walked one after the other; together they cover `eligible`.
    pub columns: &'static [&'static str],
}

/// The tables `cleanup` works on, in order. `gpt_oauth_events` is deliberately absent.
pub const TABLES: [TableRule; 3] = [
    TableRule {
        table: "gpt_authorization_codes",
        eligible: "expires_at < $1",
        columns: &["expires_at"],
    },
    TableRule {
        table: "gpt_refresh_tokens",
        eligible: "(revoked_at < $1 or expires_at < $1)",
        // Revoked first: the few revoked rows are spread thinly through the
        // expires_at index, so deleting them first leaves the expires_at walk
        // a few dead entries per batch. The other way round, the revoked walk
        // would start by stepping over the entries of every revoked row the
        // expires_at walk had just deleted, all in one batch (measured: one
        // 290 ms batch on 1,000,000 tokens, against 15 ms for the others).
        columns: &["revoked_at", "expires_at"],
    },
    TableRule {
        table: "gpt_sessions",
        eligible: "expires_at < $1",
        columns: &["expires_at"],
    },
];

/// Settings of cleanup's session.
///
/// The planner costs a statement as if it ran once, so for a walk of few
/// eligible rows it may prefer a bitmap scan of every eligible entry plus a
/// sort, or a sequential scan. Cleanup runs the same statement thousands of
/// times while the table is worked down, and only the ordered index scan keeps
/// each batch's cost bounded by the batch size, so the session rules the
/// alternatives out. The session runs nothing but these statements.
///
/// Asynchronous commit saves a WAL flush per batch. A server crash can then
/// forget the last few batches, whose rows the next run simply deletes again;
/// no batch is ever half applied.
///
/// JIT is off because a disabled plan node carries a huge cost estimate, which
/// would make PostgreSQL JIT-compile trivial statements (measured: the schema
/// check took 150 ms instead of under 1 ms).
pub const SESSION_SETTINGS: [&str; 5] = [
    "set enable_seqscan = off",
    "set enable_bitmapscan = off",
    "set enable_sort = off",
    "set synchronous_commit = off",
    "set jit = off",
];

/// Tables the schema must have before `cleanup` can run.
const REQUIRED_TABLES: [&str; 4] = [
    "gpt_authorization_codes",
    "gpt_refresh_tokens",
    "gpt_sessions",
    "gpt_oauth_events",
];

/// Errors of this module.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `DATABASE_URL` is missing or malformed, or the database cannot be reached.
    #[error(transparent)]
    Db(#[from] db::Error),
    /// `--retention` is not a positive duration.
    #[error(
        "--retention (CLEANUP_RETENTION) {value:?} is not valid: {reason}; use a duration such as 30d, 12h or 45d"
    )]
    InvalidRetention {
        /// The value given.
        value: String,
        /// Why it was rejected.
        reason: String,
    },
    /// `--batch-size` is out of range.
    #[error(
        "--batch-size (CLEANUP_BATCH_SIZE) {value} is out of range: use a number of rows from 1 to {MAX_BATCH_SIZE}"
    )]
    InvalidBatchSize {
        /// The value given.
        value: i64,
    },
    /// `--limit` is not positive.
    #[error(
        "--limit (CLEANUP_LIMIT) {value} is out of range: use a number of rows of at least 1, or leave it unset for no limit"
    )]
    InvalidLimit {
        /// The value given.
        value: i64,
    },
    /// `--statement-timeout` is zero (which PostgreSQL reads as "no timeout").
    #[error(
        "--statement-timeout (CLEANUP_STATEMENT_TIMEOUT) must be longer than zero; use e.g. 30s"
    )]
    ZeroStatementTimeout,
    /// `--as-of` is not an RFC 3339 timestamp, or lies in the future.
    #[error("--as-of {value:?} is not valid: {reason}")]
    InvalidAsOf {
        /// The value given.
        value: String,
        /// Why it was rejected.
        reason: String,
    },
    /// The OAuth tables do not exist in the database.
    #[error(
        "the database at {target} has no table(s) {}: its schema is not migrated; run `gpt-deploy migrate` first",
        missing.join(", ")
    )]
    NotMigrated {
        /// The URL with its password masked.
        target: String,
        /// The tables that are missing.
        missing: Vec<String>,
    },
    /// A statement failed for good (not transient, or retried for longer than `--retry-for`).
    #[error("{what} on {target} failed after {attempts} attempt(s) over {elapsed:?}")]
    Query {
        /// What was being done, naming the table.
        what: String,
        /// The URL with its password masked.
        target: String,
        /// Attempts made.
        attempts: u32,
        /// Time spent on this step, retries included.
        elapsed: Duration,
        /// The last driver error, password scrubbed.
        #[source]
        source: DbCause,
    },
    /// A batch failed for good (not transient, or retried for longer than `--retry-for`).
    #[error(
        "{what} on {target} failed after {attempts} attempt(s) over {elapsed:?}; rows deleted by earlier batches stay deleted, and the next run continues from there"
    )]
    Batch {
        /// Which walk of which table.
        what: String,
        /// The URL with its password masked.
        target: String,
        /// Attempts made.
        attempts: u32,
        /// Time spent on this batch, retries included.
        elapsed: Duration,
        /// The last driver error, password scrubbed.
        #[source]
        source: DbCause,
    },
    /// The connection dropped and the cleanup lock could not be taken again in time.
    #[error(
        "lost the connection to {target} and could not take the cleanup lock again within {retry_for:?} (another cleanup may have started); rows deleted so far stay deleted"
    )]
    LockLost {
        /// The URL with its password masked.
        target: String,
        /// The retry budget.
        retry_for: Duration,
    },
}

/// Result with this module's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl crate::Failure for Error {
    fn exit_code(&self) -> u8 {
        match self {
            Error::Db(e) => e.exit_code(),
            Error::InvalidRetention { .. }
            | Error::InvalidBatchSize { .. }
            | Error::InvalidLimit { .. }
            | Error::ZeroStatementTimeout
            | Error::InvalidAsOf { .. } => crate::exit::CONFIG,
            Error::NotMigrated { .. }
            | Error::Query { .. }
            | Error::Batch { .. }
            | Error::LockLost { .. } => crate::exit::API,
        }
    }
}

/// Validated settings of one run.
#[derive(Debug, Clone)]
pub struct Settings {
    /// How long past expiry (or revocation) a row is kept.
    pub retention: Duration,
    /// Rows per batch.
    pub batch_size: i64,
    /// Rows per table per run, if capped.
    pub limit: Option<i64>,
    /// Count only.
    pub dry_run: bool,
    /// `statement_timeout` of every batch.
    pub statement_timeout: Duration,
    /// How long transient failures are retried before giving up.
    pub retry_for: Duration,
    /// Evaluate the retention as of this instant instead of the database's `now()`.
    pub as_of: Option<DateTime<Utc>>,
}

impl Settings {
    /// Validates the command-line arguments.
    ///
    /// # Errors
    /// The `Invalid*` variants, naming the flag and the accepted range.
    pub fn from_args(args: &CleanupArgs) -> Result<Self> {
        let retention = parse_retention(&args.retention)?;
        if !(1..=MAX_BATCH_SIZE).contains(&args.batch_size) {
            return Err(Error::InvalidBatchSize {
                value: args.batch_size,
            });
        }
        if let Some(limit) = args.limit.filter(|l| *l < 1) {
            return Err(Error::InvalidLimit { value: limit });
        }
        if args.statement_timeout.is_zero() {
            return Err(Error::ZeroStatementTimeout);
        }
        let as_of = args
            .as_of
            .as_deref()
            .map(|raw| {
                DateTime::parse_from_rfc3339(raw)
                    .map(|t| t.with_timezone(&Utc))
                    .map_err(|e| Error::InvalidAsOf {
                        value: raw.to_string(),
                        reason: format!(
                            "{e}; use an RFC 3339 timestamp such as 2026-11-27T12:00:00Z"
                        ),
                    })
            })
            .transpose()?;
        Ok(Self {
            retention,
            batch_size: args.batch_size,
            limit: args.limit,
            dry_run: args.dry_run,
            statement_timeout: args.statement_timeout,
            retry_for: args.retry_for,
            as_of,
        })
    }
}

/// Parses a humantime duration such as `30d`; zero and more than 100 years are refused.
///
/// # Errors
/// [`Error::InvalidRetention`].
pub fn parse_retention(raw: &str) -> Result<Duration> {
    let invalid = |reason: String| Error::InvalidRetention {
        value: raw.to_string(),
        reason,
    };
    let d = humantime::parse_duration(raw.trim()).map_err(|e| invalid(e.to_string()))?;
    if d.is_zero() {
        return Err(invalid("it must be longer than zero".into()));
    }
    if d > Duration::from_secs(100 * 366 * 86_400) {
        return Err(invalid("it must not exceed 100 years".into()));
    }
    Ok(d)
}

/// The statement of one batch walking `column` of `rule`'s table.
///
/// `$1` is the cutoff (timestamptz), `$2` the number of rows (bigint), `$3`
/// where the walk resumes (timestamptz, null for the start of the index). It
/// returns the number of rows deleted and the largest `column` among them.
#[must_use]
pub fn batch_statement(rule: &TableRule, column: &str) -> String {
    format!(
        "with deleted as (\
         delete from {table} \
         where ctid = any(array(\
         select ctid from {table} \
         where {column} >= coalesce($3, '-infinity'::timestamptz) and {column} < $1 \
         order by {column} limit $2)) \
         and {eligible} \
         returning {column}) \
         select count(*), max({column}) from deleted",
        table = rule.table,
        eligible = rule.eligible
    )
}

/// The statement counting what a dry run would delete; `$2` caps the count.
#[must_use]
pub fn count_statement(rule: &TableRule) -> String {
    format!(
        "select count(*) from (select 1 from {table} where {eligible} limit $2) eligible",
        table = rule.table,
        eligible = rule.eligible
    )
}

/// What happened to one table.
#[derive(Debug, Clone, Default)]
pub struct TableReport {
    /// Table name.
    pub table: &'static str,
    /// Rows deleted (or, in a dry run, that would be).
    pub rows: u64,
    /// Batches run.
    pub batches: u64,
    /// Wall time spent on the table.
    pub elapsed: Duration,
    /// The slowest batch.
    pub slowest_batch: Duration,
    /// Whether `--limit` stopped the table early.
    pub limit_reached: bool,
}

impl TableReport {
    /// The stdout summary line.
    #[must_use]
    pub fn summary(&self, dry_run: bool) -> String {
        if dry_run {
            return format!(
                "{}: would delete {} rows (dry run, nothing deleted)",
                self.table, self.rows
            );
        }
        let mut line = format!(
            "{}: deleted {} rows in {} batches in {:.3}s (slowest batch {:.1} ms)",
            self.table,
            self.rows,
            self.batches,
            self.elapsed.as_secs_f64(),
            self.slowest_batch.as_secs_f64() * 1000.0
        );
        if self.limit_reached {
            line.push_str("; --limit reached, the next run continues");
        }
        line
    }
}

/// The outcome of a run.
#[derive(Debug)]
pub enum Outcome {
    /// The run went through every table.
    Done {
        /// The cutoff used.
        cutoff: DateTime<Utc>,
        /// One report per table of [`TABLES`].
        tables: Vec<TableReport>,
    },
    /// Another run holds the lock; nothing was done.
    AlreadyRunning,
}

/// Runs one cleanup against `url`.
///
/// # Errors
/// Connection failures, a schema that is not migrated, or a batch that keeps
/// failing past `--retry-for`.
pub async fn run(url: &DatabaseUrl, settings: &Settings) -> Result<Outcome> {
    let mut session = Session::new(url, settings);
    let started = Instant::now();
    let conn = session.open(settings.retry_for).await?;
    let step_error = |what: &str, e: sqlx::Error| Error::Query {
        what: what.to_string(),
        target: url.redacted().to_string(),
        attempts: 1,
        elapsed: started.elapsed(),
        source: url.cause(&e),
    };

    let missing: Vec<String> = sqlx::query_scalar(
        "select t from unnest($1::text[]) as t where to_regclass(t) is null order by t",
    )
    .bind(REQUIRED_TABLES.map(String::from).to_vec())
    .fetch_all(&mut *conn)
    .await
    .map_err(|e| step_error("checking the schema", e))?;
    if !missing.is_empty() {
        return Err(Error::NotMigrated {
            target: url.redacted().to_string(),
            missing,
        });
    }

    let now: DateTime<Utc> = sqlx::query_scalar("select now()")
        .fetch_one(&mut *conn)
        .await
        .map_err(|e| step_error("reading the database clock", e))?;
    let reference = match settings.as_of {
        Some(as_of) if as_of > now => {
            return Err(Error::InvalidAsOf {
                value: as_of.to_rfc3339(),
                reason: format!(
                    "it lies after the database's current time {}; a cutoff in the future could delete rows that are not yet past the retention",
                    now.to_rfc3339()
                ),
            });
        }
        Some(as_of) => as_of,
        None => now,
    };
    let retention = chrono::Duration::from_std(settings.retention).unwrap_or(chrono::Duration::MAX);
    let cutoff = reference - retention;
    tracing::info!(%cutoff, retention = %humantime::format_duration(settings.retention), batch_size = settings.batch_size, limit = settings.limit, dry_run = settings.dry_run, target_db = %url, "cleanup starting");

    if settings.dry_run {
        let mut tables = Vec::new();
        for rule in &TABLES {
            let t0 = Instant::now();
            let count: i64 = sqlx::query_scalar(AssertSqlSafe(count_statement(rule)))
                .bind(cutoff)
                .bind(settings.limit.unwrap_or(i64::MAX))
                .fetch_one(&mut *conn)
                .await
                .map_err(|e| step_error(&format!("counting eligible rows of {}", rule.table), e))?;
            tables.push(TableReport {
                table: rule.table,
                rows: count.max(0) as u64,
                elapsed: t0.elapsed(),
                limit_reached: settings.limit == Some(count),
                ..TableReport::default()
            });
        }
        return Ok(Outcome::Done { cutoff, tables });
    }

    if !session
        .try_lock()
        .await
        .map_err(|e| step_error("taking the cleanup lock", e))?
    {
        return Ok(Outcome::AlreadyRunning);
    }
    session
        .limit_statements()
        .await
        .map_err(|e| step_error("setting statement_timeout", e))?;

    let mut tables = Vec::new();
    for rule in &TABLES {
        let report = clean_table(&mut session, rule, cutoff).await?;
        tracing::info!(
            table = report.table,
            rows = report.rows,
            batches = report.batches,
            elapsed_ms = report.elapsed.as_millis() as u64,
            slowest_batch_us = report.slowest_batch.as_micros() as u64,
            limit_reached = report.limit_reached,
            "table cleaned"
        );
        tables.push(report);
    }
    session.close().await;
    Ok(Outcome::Done { cutoff, tables })
}

async fn clean_table(
    session: &mut Session<'_>,
    rule: &TableRule,
    cutoff: DateTime<Utc>,
) -> Result<TableReport> {
    let settings = session.settings();
    let limit = settings.limit.unwrap_or(i64::MAX);
    let started = Instant::now();
    let mut report = TableReport {
        table: rule.table,
        ..TableReport::default()
    };
    let mut remaining = limit;
    for column in rule.columns {
        let sql = batch_statement(rule, column);
        let mut resume = None;
        let what = format!("deleting a batch from {} by {column}", rule.table);
        while remaining > 0 {
            let n = settings.batch_size.min(remaining);
            let t0 = Instant::now();
            let batch = session.execute(&what, &sql, cutoff, n, resume).await?;
            let rows = batch.rows;
            resume = batch.last.or(resume);
            let took = t0.elapsed();
            report.batches += 1;
            report.rows += rows;
            report.slowest_batch = report.slowest_batch.max(took);
            remaining -= rows as i64;
            tracing::debug!(
                table = rule.table,
                column,
                rows,
                elapsed_us = took.as_micros() as u64,
                "batch"
            );
            if (rows as i64) < n {
                break;
            }
        }
    }
    report.limit_reached = settings.limit.is_some() && remaining == 0;
    report.elapsed = started.elapsed();
    Ok(report)
}

/// `gpt-deploy cleanup`.
///
/// # Errors
/// Bad arguments, missing or malformed `DATABASE_URL`, connection or query errors.
pub async fn cmd_cleanup(args: &CleanupArgs) -> Result<u8> {
    let settings = Settings::from_args(args)?;
    let url = DatabaseUrl::from_env()?;
    match run(&url, &settings).await? {
        Outcome::AlreadyRunning => {
            tracing::info!(target_db = %url, "another cleanup holds the lock; nothing done");
            println!("another cleanup is already running on this database; nothing done");
        }
        Outcome::Done { cutoff, tables } => {
            for t in &tables {
                println!("{}", t.summary(settings.dry_run));
            }
            println!("gpt_oauth_events: kept (audit trail, never deleted)");
            tracing::info!(%cutoff, "cleanup finished");
        }
    }
    Ok(crate::exit::OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retention_values() {
        assert_eq!(
            parse_retention("30d").unwrap(),
            Duration::from_secs(30 * 86_400)
        );
        assert_eq!(
            parse_retention("12h").unwrap(),
            Duration::from_secs(12 * 3_600)
        );
        for bad in ["", "0s", "thirty days", "-5d", "1000y"] {
            let err = parse_retention(bad).unwrap_err().to_string();
            assert!(err.contains("--retention"), "{err}");
        }
    }

    #[test]
    fn statements_recheck_the_full_rule() {
        let sql = batch_statement(&TABLES[1], "revoked_at");
        assert!(sql.contains(
            "where revoked_at >= coalesce($3, '-infinity'::timestamptz) and revoked_at < $1 order by revoked_at limit $2"
        ));
        assert!(sql.contains("and (revoked_at < $1 or expires_at < $1) returning revoked_at"));
        assert!(TABLES.iter().all(|t| t.table != "gpt_oauth_events"));
    }
}
