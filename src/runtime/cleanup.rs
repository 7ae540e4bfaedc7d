//! Batched retention deletes of expired OAuth artifacts (`cleanup`).
//!
//! With `cutoff = now − retention` (the database's clock, read once per run):
//! authorization codes and sessions go when `expires_at < cutoff`, refresh
//! tokens when `revoked_at < cutoff` or `expires_at < cutoff`. The audit trail
//! (`gpt_oauth_events`) is never touched.
//!
//! Each table is worked down in batches, each one autocommit statement that
//! picks at most `--batch-size` eligible rows, deletes them by `ctid` with the
//! full rule checked again on the row version being deleted, and reports what
//! it picked and deleted (see [`walk`] for the statements). A table is walked
//! one of two ways, chosen per table from the planner's estimates and
//! `pg_stats.correlation` (or forced with `--walk`):
//!
//! - the index walk follows each timestamp index of the rule from the oldest
//!   entry, resuming each batch at the last value the previous one picked; it
//!   reads only the pages of eligible rows, which is right when they are few
//!   and gathered (a regular run on a table in insertion order);
//! - the heap walk reads the table in physical order with TID range scans
//!   (`ctid > '(p,l)' and ctid < '(q,0)'`), each batch the next eligible rows in
//!   `ctid` order; every page is read and dirtied once, which is right when the
//!   eligible rows are many or scattered (where the index walk would read a
//!   random page per row).
//!
//! The heap walk's batches run on the server, a hundred or so per round trip:
//! a temporary procedure commits after each batch and deletes whole TID ranges
//! while they hold under a batch of eligible rows (see
//! [`walk::heap_run_procedure`]); a batch it gives up on (a locked row, a
//! timeout) is run by the client.
//!
//! A row changed concurrently (new `ctid`, or no longer eligible) is skipped,
//! never deleted wrongly: because the cutoff is fixed for the run and only
//! moves forward between runs, a row that is not past the cutoff can never
//! match. A row locked by another transaction is skipped too, counted and
//! reported: the batch waits at most the session's `lock_timeout` for it, then
//! runs again locking its rows with `for update skip locked`. Skipped rows,
//! and rows that turn eligible behind the walk during the run, are left to the
//! next run.
//!
//! A run holds a session-level advisory lock on its one connection; a second
//! concurrent run finds it taken, names the session holding it and exits
//! [`crate::exit::LOCKED`]. Killing a run at any point is safe: every committed
//! batch is complete, the batch in flight is rolled back by the server, and
//! the next run carries on from what is left.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use sqlx::AssertSqlSafe;

use crate::cli::{CleanupArgs, CleanupWalk};
use crate::runtime::db::{self, DatabaseUrl, DbCause};

pub mod session;
pub mod walk;
pub(crate) use session::Holder;
use session::{HeapRunState, HeapStop, Position, Session, Statements};
use walk::{Form, TableStats, Tid, Walk};

/// Advisory lock key shared by every `gpt-deploy cleanup` ("gptclean" in ASCII).
pub const LOCK_KEY: i64 = 0x6770_7463_6c65_616e;

/// `application_name` of cleanup's database sessions (visible in `pg_stat_activity`).
pub(crate) const APPLICATION_NAME: &str = "gpt-deploy cleanup";

/// Longest a server-side run of heap batches goes on before it returns to the
/// client (a quarter of `--statement-timeout` when that is shorter), so that a
/// run is one round trip per few hundred batches yet stops long before the
/// statement timeout that bounds the whole call.
pub(crate) const HEAP_RUN_BUDGET: Duration = Duration::from_millis(100);

/// Largest accepted `--batch-size`: a batch must stay a short transaction.
pub(crate) const MAX_BATCH_SIZE: i64 = 100_000;

/// What `cleanup` deletes from one table.
#[derive(Debug, Clone, Copy)]
pub struct TableRule {
    /// Table name.
    pub table: &'static str,
    /// The full eligibility rule, with `$1` the cutoff.
    pub(crate) eligible: &'static str,
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
///
/// The short `lock_timeout` bounds the wait of a batch on a row locked by
/// another transaction; the batch then runs again skipping locked rows.
pub const SESSION_SETTINGS: [&str; 6] = [
    "set enable_seqscan = off",
    "set enable_bitmapscan = off",
    "set enable_sort = off",
    "set synchronous_commit = off",
    "set jit = off",
    "set lock_timeout = '10ms'",
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
    #[error("{what} on {target} failed ({})", db::tried(*attempts, *elapsed))]
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
        "{what} on {target} failed ({}); rows deleted by earlier batches stay deleted, and the next run continues from there",
        db::tried(*attempts, *elapsed)
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
    /// Another session holds the cleanup lock (another run, or a stuck one).
    #[error(
        "another cleanup is running on {target}: {}; nothing was done. If that session is stuck, end it with `select pg_terminate_backend({})` and run again",
        holder.as_ref().map_or_else(|| "the session holding the lock ended just now".to_string(), Holder::describe),
        holder.as_ref().map_or(0, |h| h.pid)
    )]
    Locked {
        /// The URL with its password masked.
        target: String,
        /// Who holds the lock (none when it was released in the meantime).
        holder: Option<Holder>,
    },
    /// The connection dropped and the cleanup lock could not be taken again in time.
    #[error(
        "lost the connection to {target} and could not take the cleanup lock again within {} (another cleanup may have started); rows deleted so far stay deleted"
    ,
        humantime::format_duration(*retry_for)
    )]
    LockLost {
        /// The URL with its password masked.
        target: String,
        /// The retry budget.
        retry_for: Duration,
    },
}

/// Result with this module's [`Error`].
pub(crate) type Result<T, E = Error> = std::result::Result<T, E>;

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
            Error::Locked { .. } => crate::exit::LOCKED,
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
    /// How tables are walked.
    pub walk: CleanupWalk,
}

impl Settings {
    /// Validates the command-line arguments.
    ///
    /// # Errors
    /// The `Invalid*` variants, naming the flag and the accepted range.
    pub(crate) fn from_args(args: &CleanupArgs) -> Result<Self> {
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
            walk: args.walk,
        })
    }
}

/// Parses a humantime duration such as `30d`; zero and more than 100 years are refused.
///
/// # Errors
/// [`Error::InvalidRetention`].
pub(crate) fn parse_retention(raw: &str) -> Result<Duration> {
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

/// The statement counting what a dry run would delete; `$2` caps the count.
#[must_use]
pub(crate) fn count_statement(rule: &TableRule) -> String {
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
    /// How the table was walked (none in a dry run).
    pub(crate) walk: Option<Walk>,
    /// Rows deleted (or, in a dry run, that would be).
    pub rows: u64,
    /// Eligible rows skipped because another transaction held a lock on them
    /// or changed them; the next run retries them.
    pub(crate) skipped: u64,
    /// Batches run.
    pub(crate) batches: u64,
    /// Wall time spent on the table.
    pub(crate) elapsed: Duration,
    /// The slowest batch.
    pub(crate) slowest_batch: Duration,
    /// Whether `--limit` stopped the table early.
    pub(crate) limit_reached: bool,
}

impl TableReport {
    /// The stdout summary line.
    #[must_use]
    pub(crate) fn summary(&self, dry_run: bool) -> String {
        if dry_run {
            return format!(
                "{}: would delete {} rows (dry run, nothing deleted)",
                self.table, self.rows
            );
        }
        let mut line = format!(
            "{}: deleted {} rows in {} batches in {:.3}s ({}; slowest batch {:.1} ms)",
            self.table,
            self.rows,
            self.batches,
            self.elapsed.as_secs_f64(),
            self.walk.map_or("no walk", Walk::name),
            self.slowest_batch.as_secs_f64() * 1000.0
        );
        if self.skipped > 0 {
            line.push_str(&format!(
                "; skipped {} locked or concurrently changed rows, the next run retries them",
                self.skipped
            ));
        }
        if self.limit_reached {
            line.push_str("; --limit reached, the next run continues");
        }
        line
    }
}

/// The outcome of a run.
#[derive(Debug)]
pub struct Outcome {
    /// The cutoff used.
    pub(crate) cutoff: DateTime<Utc>,
    /// One report per table of [`TABLES`].
    pub tables: Vec<TableReport>,
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
        return Ok(Outcome { cutoff, tables });
    }

    if !session
        .try_lock()
        .await
        .map_err(|e| step_error("taking the cleanup lock", e))?
    {
        let holder = session
            .lock_holder()
            .await
            .map_err(|e| step_error("finding the session holding the cleanup lock", e))?;
        return Err(Error::Locked {
            target: url.redacted().to_string(),
            holder,
        });
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
            walk = report.walk.map_or("none", Walk::name),
            rows = report.rows,
            skipped = report.skipped,
            batches = report.batches,
            elapsed_ms = report.elapsed.as_millis() as u64,
            slowest_batch_us = report.slowest_batch.as_micros() as u64,
            limit_reached = report.limit_reached,
            "table cleaned"
        );
        tables.push(report);
    }
    session.close().await;
    Ok(Outcome { cutoff, tables })
}

async fn clean_table(
    session: &mut Session<'_>,
    rule: &TableRule,
    cutoff: DateTime<Utc>,
) -> Result<TableReport> {
    let settings = session.settings();
    let started = Instant::now();
    let stats = match session.table_stats(rule, cutoff).await {
        Ok(stats) => Some(stats),
        Err(e) => {
            // Only the choice of walk depends on it; the index walk needs nothing.
            tracing::warn!(table = rule.table, error = %session.cause(&e), "cannot read the table's statistics; walking its indexes");
            None
        }
    };
    let walk = match (&stats, settings.walk) {
        (Some(stats), choice) => walk::decide(choice, stats),
        (None, _) => Walk::Index,
    };
    if let Some(stats) = &stats {
        tracing::info!(
            table = rule.table,
            walk = walk.name(),
            pages = stats.pages,
            rows = stats.rows,
            eligible = stats.eligible,
            index_walk_pages = stats.index_pages(),
            "walk chosen"
        );
    }
    let mut walker = Walker {
        report: TableReport {
            table: rule.table,
            walk: Some(walk),
            ..TableReport::default()
        },
        remaining: settings.limit.unwrap_or(i64::MAX),
        batch_size: settings.batch_size,
    };
    match (walk, stats) {
        (Walk::Heap, Some(stats)) => walker.heap(session, rule, cutoff, &stats).await?,
        _ => walker.index(session, rule, cutoff).await?,
    }
    let mut report = walker.report;
    report.limit_reached = settings.limit.is_some() && walker.remaining == 0;
    report.elapsed = started.elapsed();
    Ok(report)
}

/// One table's walk in progress.
struct Walker {
    report: TableReport,
    /// Rows `--limit` still allows.
    remaining: i64,
    batch_size: i64,
}

impl Walker {
    /// Rows the next batch may delete.
    fn next_size(&self) -> i64 {
        self.batch_size.min(self.remaining)
    }

    /// Accounts for one committed batch and logs it.
    fn record(&mut self, deleted: u64, picked: u64, took: Duration) {
        let skipped = picked.saturating_sub(deleted);
        self.report.batches += 1;
        self.report.rows += deleted;
        self.report.skipped += skipped;
        self.report.slowest_batch = self.report.slowest_batch.max(took);
        self.remaining -= deleted as i64;
        tracing::debug!(
            table = self.report.table,
            rows = deleted,
            picked,
            elapsed_us = took.as_micros() as u64,
            "batch"
        );
    }

    /// Runs one batch and accounts for it.
    async fn batch(
        &mut self,
        session: &mut Session<'_>,
        what: &str,
        statements: &Statements,
        cutoff: DateTime<Utc>,
        n: i64,
        position: Position,
    ) -> Result<session::Batch> {
        let t0 = Instant::now();
        let batch = session
            .execute(what, statements, cutoff, n, position)
            .await?;
        self.record(batch.deleted, batch.picked, t0.elapsed());
        let skipped = batch.picked.saturating_sub(batch.deleted);
        if skipped > 0 {
            tracing::warn!(
                table = self.report.table,
                skipped,
                locked = batch.skip_locked,
                "rows locked or changed by another transaction were skipped; the next run retries them"
            );
        }
        Ok(batch)
    }

    /// Walks each of the rule's timestamp indexes from its oldest entry.
    async fn index(
        &mut self,
        session: &mut Session<'_>,
        rule: &TableRule,
        cutoff: DateTime<Utc>,
    ) -> Result<()> {
        for column in rule.columns {
            let statements = Statements {
                plain: walk::index_statement(rule, column, Form::Plain),
                skip_locked: walk::index_statement(rule, column, Form::SkipLocked),
            };
            let what = format!("deleting a batch from {} by {column}", rule.table);
            let mut resume = None;
            while self.remaining > 0 {
                let n = self.next_size();
                let batch = self
                    .batch(
                        session,
                        &what,
                        &statements,
                        cutoff,
                        n,
                        Position::Index(resume),
                    )
                    .await?;
                if (batch.picked as i64) < n {
                    break;
                }
                if batch.deleted == 0 && batch.last_time == resume {
                    // A full batch of rows that share the resume value and
                    // are all locked: the walk cannot get past them this run.
                    tracing::warn!(
                        table = rule.table,
                        column,
                        "a full batch of locked rows with the same timestamp; the rest of this walk is left to the next run"
                    );
                    break;
                }
                resume = batch.last_time.or(resume);
            }
        }
        Ok(())
    }

    /// Walks the heap in physical order, a range of pages per batch. Each
    /// range is sized from the density of eligible rows seen so far, so that it
    /// holds about one batch; a batch that fills up before its range ends
    /// resumes right after its last row.
    ///
    /// The server runs the batches itself in runs of up to [`HEAP_RUN_BUDGET`]
    /// (one round trip per run instead of per batch, see
    /// [`walk::heap_run_procedure`]); a batch the server gives up on (a locked
    /// row, a timeout) and every batch on a server that cannot run them is run
    /// by the client, with its retries and the skip-locked form.
    async fn heap(
        &mut self,
        session: &mut Session<'_>,
        rule: &TableRule,
        cutoff: DateTime<Utc>,
        stats: &TableStats,
    ) -> Result<()> {
        let statements = Statements {
            plain: walk::heap_statement(rule, Form::Plain),
            skip_locked: walk::heap_statement(rule, Form::SkipLocked),
        };
        let what = format!("deleting a batch from {} in heap order", rule.table);
        // Rows added after this point are younger than the cutoff.
        let end = stats.pages as u32;
        let budget = HEAP_RUN_BUDGET.min(session.settings().statement_timeout / 4);
        let mut state = HeapRunState {
            after: Tid::page_start(0),
            density: stats.eligible / stats.pages.max(1.0),
            dense: false,
        };
        while self.remaining > 0 && state.after.page < end {
            if let Some(run) = session
                .heap_run(rule, cutoff, self.remaining, end, budget, &state)
                .await
            {
                for &(deleted, picked, took) in &run.batches {
                    self.record(deleted, picked, took);
                }
                tracing::debug!(
                    table = self.report.table,
                    batches = run.batches.len(),
                    stop = run.stop.name(),
                    "server-side heap run"
                );
                if run.skipped > 0 {
                    tracing::warn!(
                        table = self.report.table,
                        skipped = run.skipped,
                        locked = false,
                        "rows locked or changed by another transaction were skipped; the next run retries them"
                    );
                }
                state = run.state;
                match run.stop {
                    HeapStop::Done | HeapStop::Limit | HeapStop::Budget => continue,
                    // The batch the server gave up on is the client's.
                    HeapStop::Locked | HeapStop::Cancelled => {}
                }
            }
            let after = state.after;
            let n = self.next_size();
            let pages = walk::pages_for(self.batch_size, state.density);
            let before = Tid::page_start(after.page.saturating_add(pages).min(end));
            let batch = self
                .batch(
                    session,
                    &what,
                    &statements,
                    cutoff,
                    n,
                    Position::Heap { after, before },
                )
                .await?;
            let (next, scanned) = match batch.last_tid {
                Some(last) if batch.picked as i64 >= n => (last, last.page - after.page + 1),
                _ => (before, before.page - after.page),
            };
            state = HeapRunState {
                after: next,
                density: batch.picked as f64 / f64::from(scanned.max(1)),
                dense: false,
            };
        }
        Ok(())
    }
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
    fn the_lock_error_names_the_holder() {
        let holder = Holder {
            pid: 4242,
            application_name: Some("gpt-deploy cleanup".into()),
            backend_start: DateTime::parse_from_rfc3339("2026-11-27T03:00:00Z")
                .ok()
                .map(|t| t.with_timezone(&Utc)),
            user: Some("gpt".into()),
        };
        let e = Error::Locked {
            target: "postgres://gpt@db/gpt".into(),
            holder: Some(holder),
        };
        let text = e.to_string();
        assert!(text.contains("pid 4242"), "{text}");
        assert!(text.contains("\"gpt-deploy cleanup\""), "{text}");
        assert!(text.contains("2026-11-27T03:00:00"), "{text}");
        assert!(text.contains("pg_terminate_backend(4242)"), "{text}");
        assert_eq!(crate::Failure::exit_code(&e), crate::exit::LOCKED);
        assert!(TABLES.iter().all(|t| t.table != "gpt_oauth_events"));
    }
}
