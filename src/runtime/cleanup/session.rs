//! One cleanup run's database session: a single connection that holds the
//! advisory lock, runs the batches with bounded retries, and is reopened (and
//! the lock retaken) when the connection drops.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use sqlx::postgres::PgConnection;
use sqlx::{AssertSqlSafe, Connection};

use super::walk::{self, TableStats, Tid};
use super::{APPLICATION_NAME, Error, LOCK_KEY, Result, SESSION_SETTINGS, Settings, TableRule};
use crate::runtime::db::{self, DatabaseUrl, DbCause};

/// One database session: a connection holding the cleanup lock, reopened after a drop.
pub(super) struct Session<'a> {
    url: &'a DatabaseUrl,
    settings: &'a Settings,
    conn: Option<PgConnection>,
    /// Whether this connection has the heap-run procedure (it is temporary:
    /// a new connection creates it again).
    heap_run_ready: bool,
    /// Set when the server cannot run heap batches itself (the procedure could
    /// not be created, or failed for good): the client runs every batch.
    heap_run_off: bool,
}

impl<'a> Session<'a> {
    /// A session that connects on [`Session::open`].
    pub(super) fn new(url: &'a DatabaseUrl, settings: &'a Settings) -> Self {
        Self {
            url,
            settings,
            conn: None,
            heap_run_ready: false,
            heap_run_off: false,
        }
    }

    /// The driver error `e`, password scrubbed.
    pub(super) fn cause(&self, e: &sqlx::Error) -> DbCause {
        self.url.cause(e)
    }

    /// The run's settings.
    pub(super) fn settings(&self) -> &'a Settings {
        self.settings
    }

    /// Ends the session, which also releases the advisory lock.
    pub(super) async fn close(&mut self) {
        if let Some(conn) = self.conn.take() {
            let _ = conn.close().await;
        }
    }

    fn query_error(&self, what: String, attempts: u32, started: Instant, source: DbCause) -> Error {
        Error::Query {
            what,
            target: self.url.redacted().to_string(),
            attempts,
            elapsed: started.elapsed(),
            source,
        }
    }

    /// Opens the connection and applies [`SESSION_SETTINGS`].
    pub(super) async fn open(&mut self, budget: Duration) -> Result<&mut PgConnection> {
        let mut conn = db::connect_one(self.url, APPLICATION_NAME, budget).await?;
        for setting in SESSION_SETTINGS {
            sqlx::query(setting).execute(&mut conn).await.map_err(|e| {
                self.query_error(setting.into(), 1, Instant::now(), self.url.cause(&e))
            })?;
        }
        // Lets the server abort a statement whose client died (PostgreSQL 14+);
        // older servers reject the setting, which only loses that nicety.
        let _ = sqlx::query("set client_connection_check_interval = 2000")
            .execute(&mut conn)
            .await;
        self.heap_run_ready = false;
        Ok(self.conn.insert(conn))
    }

    /// Sets `statement_timeout` for the batches to come. Only batches run under
    /// it: the setup queries before them are not what the limit is about.
    pub(super) async fn limit_statements(&mut self) -> std::result::Result<(), sqlx::Error> {
        let ms = self.settings.statement_timeout.as_millis().max(1);
        let conn = self.conn.as_mut().expect("connection is open");
        sqlx::query(AssertSqlSafe(format!("set statement_timeout = {ms}")))
            .execute(conn)
            .await
            .map(drop)
    }

    /// Takes the advisory lock; `false` when another session holds it.
    pub(super) async fn try_lock(&mut self) -> std::result::Result<bool, sqlx::Error> {
        let conn = self.conn.as_mut().expect("connection is open");
        sqlx::query_scalar::<_, bool>("select pg_try_advisory_lock($1)")
            .bind(LOCK_KEY)
            .fetch_one(conn)
            .await
    }

    /// What the planner knows about `rule`'s table: its size now, the
    /// estimated rows, eligible rows and rows below the cutoff per walked
    /// column, and each column's correlation with the physical order.
    pub(super) async fn table_stats(
        &mut self,
        rule: &TableRule,
        cutoff: DateTime<Utc>,
    ) -> std::result::Result<TableStats, sqlx::Error> {
        let Some(conn) = self.conn.as_mut() else {
            return Err(sqlx::Error::PoolClosed);
        };
        let table = rule.table;
        let pages: i64 = sqlx::query_scalar(
            "select pg_relation_size($1::regclass) / current_setting('block_size')::bigint",
        )
        .bind(table)
        .fetch_one(&mut *conn)
        .await?;
        let rows = estimate(conn, &format!("select 1 from {table}"), cutoff).await?;
        let eligible = estimate(
            conn,
            &format!("select 1 from {table} where {}", rule.eligible),
            cutoff,
        )
        .await?;
        let mut columns = Vec::new();
        for column in rule.columns {
            let below = estimate(
                conn,
                &format!("select 1 from {table} where {column} < $1"),
                cutoff,
            )
            .await?;
            let correlation: Option<f32> = sqlx::query_scalar(
                "select s.correlation from pg_stats s
                 join pg_class c on c.relname = s.tablename
                 join pg_namespace n on n.oid = c.relnamespace and n.nspname = s.schemaname
                 where c.oid = $1::regclass and s.attname = $2",
            )
            .bind(table)
            .bind(*column)
            .fetch_optional(&mut *conn)
            .await?
            .flatten();
            columns.push((below, f64::from(correlation.unwrap_or(0.0))));
        }
        Ok(TableStats {
            pages: pages as f64,
            rows,
            eligible,
            columns,
        })
    }

    /// Names the session holding the cleanup lock, if it still does.
    pub(super) async fn lock_holder(&mut self) -> std::result::Result<Option<Holder>, sqlx::Error> {
        let conn = self.conn.as_mut().expect("connection is open");
        // A bigint advisory key is stored as its high and low 32 bits.
        let key = LOCK_KEY as u64;
        sqlx::query_as::<_, (i32, Option<String>, Option<DateTime<Utc>>, Option<String>)>(
            "select a.pid, a.application_name, a.backend_start, a.usename::text
             from pg_locks l join pg_stat_activity a on a.pid = l.pid
             where l.locktype = 'advisory' and l.granted
               and l.database = (select oid from pg_database where datname = current_database())
               and l.classid = $1::bigint::oid and l.objid = $2::bigint::oid and l.objsubid = 1
               and l.pid <> pg_backend_pid()
             limit 1",
        )
        .bind((key >> 32) as i64)
        .bind((key & 0xffff_ffff) as i64)
        .fetch_optional(conn)
        .await
        .map(|row| {
            row.map(|(pid, application_name, backend_start, user)| Holder {
                pid,
                application_name,
                backend_start,
                user,
            })
        })
    }

    /// Runs one batch with retries: transient failures are retried with
    /// backoff for at most `--retry-for`; a dropped connection is reopened and
    /// the lock retaken. A batch that meets a locked row runs again at once in
    /// the skip-locked form.
    pub(super) async fn execute(
        &mut self,
        what: &str,
        statements: &Statements,
        cutoff: DateTime<Utc>,
        n: i64,
        position: Position,
    ) -> Result<Batch> {
        let retry_for = self.settings.retry_for;
        let started = Instant::now();
        let mut attempts = 0;
        loop {
            attempts += 1;
            let wait = db::backoff(attempts);
            let out_of_time = started.elapsed() + wait > retry_for;
            let failure = match self
                .try_execute(
                    statements,
                    cutoff,
                    n,
                    position,
                    retry_for.saturating_sub(started.elapsed()),
                )
                .await?
            {
                Ok(rows) => return Ok(rows),
                Err(None) if out_of_time => {
                    return Err(Error::LockLost {
                        target: self.url.redacted().to_string(),
                        retry_for,
                    });
                }
                Err(None) => {
                    tracing::warn!(
                        attempt = attempts,
                        "after reconnecting, the cleanup lock is held by another session; retrying"
                    );
                    None
                }
                Err(Some(e)) => Some(e),
            };
            if let Some(e) = failure {
                let cause = self.url.cause(&e);
                if !cause.is_transient() || out_of_time {
                    return Err(Error::Batch {
                        what: what.to_string(),
                        target: self.url.redacted().to_string(),
                        attempts,
                        elapsed: started.elapsed(),
                        source: cause,
                    });
                }
                if connection_lost(&e) {
                    self.conn = None;
                }
                tracing::warn!(step = what, attempt = attempts, error = %cause, retry_in_ms = wait.as_millis() as u64, "transient database error; retrying");
            }
            tokio::time::sleep(wait).await;
        }
    }

    /// One attempt. `Err(None)`: reconnected but the lock is taken;
    /// `Err(Some(e))`: the statement (or retaking the lock) failed.
    async fn try_execute(
        &mut self,
        statements: &Statements,
        cutoff: DateTime<Utc>,
        n: i64,
        position: Position,
        budget: Duration,
    ) -> Result<std::result::Result<Batch, Option<sqlx::Error>>> {
        if self.conn.is_none() {
            // connect_one retries within what is left of the budget by itself.
            self.open(budget).await?;
            match self.try_lock().await {
                Ok(true) => {
                    if let Err(e) = self.limit_statements().await {
                        self.conn = None;
                        return Ok(Err(Some(e)));
                    }
                    tracing::info!("reconnected and took the cleanup lock again");
                }
                Ok(false) => {
                    self.conn = None;
                    return Ok(Err(None));
                }
                Err(e) => {
                    self.conn = None;
                    return Ok(Err(Some(e)));
                }
            }
        }
        let conn = self.conn.as_mut().expect("connection is open");
        match run_batch(conn, &statements.plain, cutoff, n, position).await {
            Err(e) if lock_not_available(&e) => {
                // A row of the batch is locked (or changed by a transaction
                // still open): the plain form waited `lock_timeout` for it and
                // was rolled back. The skip-locked form leaves such rows alone.
                let batch = run_batch(conn, &statements.skip_locked, cutoff, n, position).await;
                Ok(batch
                    .map(|b| Batch {
                        skip_locked: true,
                        ..b
                    })
                    .map_err(Some))
            }
            other => Ok(other.map_err(Some)),
        }
    }
}

impl Session<'_> {
    /// Whether the server can run heap batches itself on the current
    /// connection, creating the procedure on first use. `false` without a
    /// connection (the next client batch reconnects) or when it is turned off.
    async fn heap_run_available(&mut self) -> bool {
        if self.heap_run_off {
            return false;
        }
        let Some(conn) = self.conn.as_mut() else {
            return false;
        };
        if self.heap_run_ready {
            return true;
        }
        match sqlx::raw_sql(AssertSqlSafe(walk::heap_run_procedure()))
            .execute(conn)
            .await
        {
            Ok(_) => {
                self.heap_run_ready = true;
                true
            }
            Err(e) => {
                self.heap_run_off = true;
                tracing::warn!(error = %self.url.cause(&e), "cannot create the temporary procedure that runs heap batches on the server; the client runs every batch (one round trip each)");
                false
            }
        }
    }

    /// Runs heap-walk batches on the server from `run.after` until the walk
    /// ends, the limit is reached, `budget` is spent or a batch fails; `None`
    /// when the server cannot run them now (the caller runs the next batch).
    /// A failed call is logged: the batches it committed stay committed, but
    /// their rows are missing from the counts.
    pub(super) async fn heap_run(
        &mut self,
        rule: &TableRule,
        cutoff: DateTime<Utc>,
        remaining: i64,
        end_page: u32,
        budget: Duration,
        run: &HeapRunState,
    ) -> Option<HeapRun> {
        if !self.heap_run_available().await {
            return None;
        }
        let conn = self.conn.as_mut()?;
        type Row = (
            String,
            f64,
            bool,
            i64,
            i64,
            Vec<i64>,
            Vec<i64>,
            Vec<i64>,
            String,
        );
        let result = sqlx::query_as::<_, Row>(walk::HEAP_RUN_CALL)
            .bind(rule.table)
            .bind(cutoff)
            .bind(self.settings.batch_size)
            .bind(remaining)
            .bind(i32::try_from(end_page).unwrap_or(i32::MAX))
            .bind(budget.as_secs_f64() * 1000.0)
            .bind(run.after.to_string())
            .bind(run.density)
            .bind(run.dense)
            .fetch_one(conn)
            .await;
        match result {
            Ok((after, density, dense, _deleted, skipped, rows, picked, micros, stop)) => {
                let Some(after) = Tid::parse(&after) else {
                    self.heap_run_off = true;
                    tracing::warn!(
                        position = after,
                        "the server-side heap run returned a position that is not a ctid; the client runs every batch"
                    );
                    return None;
                };
                Some(HeapRun {
                    state: HeapRunState {
                        after,
                        density,
                        dense,
                    },
                    skipped: skipped.max(0) as u64,
                    batches: rows
                        .into_iter()
                        .zip(picked)
                        .zip(micros)
                        .map(|((rows, picked), us)| {
                            (
                                rows.max(0) as u64,
                                picked.max(0) as u64,
                                Duration::from_micros(us.max(0) as u64),
                            )
                        })
                        .collect(),
                    stop: match stop.as_str() {
                        "done" => HeapStop::Done,
                        "limit" => HeapStop::Limit,
                        "budget" => HeapStop::Budget,
                        "locked" => HeapStop::Locked,
                        _ => HeapStop::Cancelled,
                    },
                })
            }
            Err(e) => {
                let cause = self.url.cause(&e);
                if connection_lost(&e) {
                    self.conn = None;
                } else if !cause.is_transient() {
                    self.heap_run_off = true;
                }
                tracing::warn!(table = rule.table, error = %cause, "a server-side run of heap batches failed; rows its committed batches deleted are not in the counts; the client runs the next batch");
                None
            }
        }
    }
}

/// Where the heap walk stands between server-side runs.
#[derive(Debug, Clone, Copy)]
pub(super) struct HeapRunState {
    /// The walk goes on after this `ctid`.
    pub(super) after: Tid,
    /// Eligible rows per page seen so far.
    pub(super) density: f64,
    /// Inside a range too dense for one whole-range batch.
    pub(super) dense: bool,
}

/// What one server-side run of heap batches did.
#[derive(Debug)]
pub(super) struct HeapRun {
    /// Where the walk stands now.
    pub(super) state: HeapRunState,
    /// Rows picked but changed by another transaction before the delete.
    pub(super) skipped: u64,
    /// Per committed batch: rows deleted, rows picked, time on the server.
    pub(super) batches: Vec<(u64, u64, Duration)>,
    /// Why the run stopped.
    pub(super) stop: HeapStop,
}

impl HeapStop {
    /// The name in the logs.
    pub(super) fn name(self) -> &'static str {
        match self {
            HeapStop::Done => "done",
            HeapStop::Limit => "limit",
            HeapStop::Budget => "budget",
            HeapStop::Locked => "locked",
            HeapStop::Cancelled => "cancelled",
        }
    }
}

/// Why a server-side run of heap batches stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum HeapStop {
    /// The walk reached the end of the heap.
    Done,
    /// `--limit` is reached.
    Limit,
    /// Its time budget is spent; the walk goes on in another run.
    Budget,
    /// A batch met a row locked by another transaction; that batch is the client's.
    Locked,
    /// A batch was cancelled (`statement_timeout`); that batch is the client's.
    Cancelled,
}

/// The two forms of one walk's batch statement.
pub(super) struct Statements {
    /// Deletes directly (waits up to `lock_timeout` on a locked row).
    pub(super) plain: String,
    /// Locks with `for update skip locked`, then deletes what it locked.
    pub(super) skip_locked: String,
}

/// Where a batch starts.
#[derive(Debug, Clone, Copy)]
pub(super) enum Position {
    /// Index walk: the walked column's value to resume from (inclusive).
    Index(Option<DateTime<Utc>>),
    /// Heap walk: the rows strictly between these two `ctid`s.
    Heap {
        /// Exclusive start.
        after: Tid,
        /// Exclusive end.
        before: Tid,
    },
}

/// The planner's row estimate for `select` (which may use `$1`, the cutoff).
async fn estimate(
    conn: &mut PgConnection,
    select: &str,
    cutoff: DateTime<Utc>,
) -> std::result::Result<f64, sqlx::Error> {
    let sql = format!("explain (format json) {select}");
    let mut query = sqlx::query_scalar::<_, serde_json::Value>(AssertSqlSafe(sql));
    if select.contains("$1") {
        query = query.bind(cutoff);
    }
    let plan = query.fetch_one(conn).await?;
    Ok(plan[0]["Plan"]["Plan Rows"].as_f64().unwrap_or(0.0))
}

async fn run_batch(
    conn: &mut PgConnection,
    sql: &str,
    cutoff: DateTime<Utc>,
    n: i64,
    position: Position,
) -> std::result::Result<Batch, sqlx::Error> {
    let count = |v: i64| v.max(0) as u64;
    match position {
        Position::Index(resume) => {
            sqlx::query_as::<_, (i64, i64, Option<DateTime<Utc>>)>(AssertSqlSafe(sql.to_string()))
                .bind(cutoff)
                .bind(n)
                .bind(resume)
                .fetch_one(conn)
                .await
                .map(|(picked, deleted, last)| Batch {
                    picked: count(picked),
                    deleted: count(deleted),
                    last_time: last,
                    last_tid: None,
                    skip_locked: false,
                })
        }
        Position::Heap { after, before } => {
            sqlx::query_as::<_, (i64, i64, Option<String>)>(AssertSqlSafe(sql.to_string()))
                .bind(cutoff)
                .bind(n)
                .bind(after.to_string())
                .bind(before.to_string())
                .fetch_one(conn)
                .await
                .map(|(picked, deleted, last)| Batch {
                    picked: count(picked),
                    deleted: count(deleted),
                    last_time: None,
                    last_tid: last.as_deref().and_then(Tid::parse),
                    skip_locked: false,
                })
        }
    }
}

/// The result of one batch.
#[derive(Debug)]
pub(super) struct Batch {
    /// Eligible rows the batch picked.
    pub(super) picked: u64,
    /// Rows deleted; the others were locked or changed by another transaction.
    pub(super) deleted: u64,
    /// Index walk: the largest walked-column value picked; the next batch resumes there.
    pub(super) last_time: Option<DateTime<Utc>>,
    /// Heap walk: the largest `ctid` picked; the next batch starts after it.
    pub(super) last_tid: Option<Tid>,
    /// Whether the batch met a locked row and ran in the skip-locked form.
    pub(super) skip_locked: bool,
}

/// The session holding the cleanup lock, as `pg_stat_activity` shows it.
#[derive(Debug, Clone)]
pub struct Holder {
    /// Backend process id.
    pub(crate) pid: i32,
    /// Its `application_name` (null when hidden from this role).
    pub(crate) application_name: Option<String>,
    /// When that session started (null when hidden from this role).
    pub(crate) backend_start: Option<DateTime<Utc>>,
    /// The role it is logged in as.
    pub(crate) user: Option<String>,
}

impl Holder {
    /// "pid 123 (application_name "x", user "y", backend started 2026-… , 3h 2m ago)".
    #[must_use]
    pub(crate) fn describe(&self) -> String {
        let mut parts = vec![format!(
            "application_name {:?}",
            self.application_name.as_deref().unwrap_or("(hidden)")
        )];
        if let Some(user) = &self.user {
            parts.push(format!("user {user:?}"));
        }
        match self.backend_start {
            Some(start) => {
                let age = (Utc::now() - start).to_std().unwrap_or_default();
                let age = Duration::from_secs(age.as_secs());
                parts.push(format!(
                    "backend started {} ({} ago)",
                    start.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                    humantime::format_duration(age)
                ));
            }
            None => parts.push("backend start hidden from this role".into()),
        }
        format!(
            "held by the session with pid {} ({})",
            self.pid,
            parts.join(", ")
        )
    }
}

/// Whether `e` is PostgreSQL's `lock_not_available` (the session's `lock_timeout`).
fn lock_not_available(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .and_then(|d| d.code())
        .is_some_and(|c| c == "55P03")
}

/// Whether the connection itself is gone (as opposed to the statement failing on it).
fn connection_lost(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_) | sqlx::Error::Tls(_) | sqlx::Error::Protocol(_) => true,
        sqlx::Error::Database(d) => d
            .code()
            .is_some_and(|c| c.starts_with("08") || c.starts_with("57P")),
        _ => false,
    }
}
