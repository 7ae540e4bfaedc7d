//! One cleanup run's database session: a single connection that holds the
//! advisory lock, runs the batches with bounded retries, and is reopened (and
//! the lock retaken) when the connection drops.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use sqlx::postgres::PgConnection;
use sqlx::{AssertSqlSafe, Connection};

use super::{APPLICATION_NAME, Error, LOCK_KEY, Result, SESSION_SETTINGS, Settings};
use crate::runtime::db::{self, DatabaseUrl, DbCause};

/// One database session: a connection holding the cleanup lock, reopened after a drop.
pub(super) struct Session<'a> {
    url: &'a DatabaseUrl,
    settings: &'a Settings,
    conn: Option<PgConnection>,
}

impl<'a> Session<'a> {
    /// A session that connects on [`Session::open`].
    pub(super) fn new(url: &'a DatabaseUrl, settings: &'a Settings) -> Self {
        Self {
            url,
            settings,
            conn: None,
        }
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

    /// Runs `sql` with retries: transient failures are retried with backoff for
    /// at most `--retry-for`; a dropped connection is reopened and the lock retaken.
    pub(super) async fn execute(
        &mut self,
        what: &str,
        sql: &str,
        cutoff: DateTime<Utc>,
        n: i64,
        resume: Option<DateTime<Utc>>,
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
                    sql,
                    cutoff,
                    n,
                    resume,
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
        sql: &str,
        cutoff: DateTime<Utc>,
        n: i64,
        resume: Option<DateTime<Utc>>,
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
        Ok(
            sqlx::query_as::<_, (i64, Option<DateTime<Utc>>)>(AssertSqlSafe(sql.to_string()))
                .bind(cutoff)
                .bind(n)
                .bind(resume)
                .fetch_one(conn)
                .await
                .map(|(rows, last)| Batch {
                    rows: rows.max(0) as u64,
                    last,
                })
                .map_err(Some),
        )
    }
}

/// The result of one batch.
pub(super) struct Batch {
    /// Rows deleted.
    pub(super) rows: u64,
    /// The largest walked-column value among them; the next batch resumes there.
    pub(super) last: Option<DateTime<Utc>>,
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
