//! `gpt-deploy cleanup` against a real PostgreSQL server: the retention rules
//! and their exact boundary, batching, `--limit`, `--dry-run`, concurrent and
//! interrupted runs, retries, EXPLAIN plans, bad input and secret redaction.

use crate::support;

use std::time::Duration;

use chrono::{DateTime, Utc};
use gpt_deploy::runtime::cleanup::SESSION_SETTINGS;
use sqlx::PgPool;
use support::bin::{Bin, Output, Running, gpt_deploy};
use support::pg::TestDb;

/// The reference instant most tests evaluate the retention at (`--as-of`).
fn as_of() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

fn secs(s: i64) -> chrono::Duration {
    chrono::Duration::seconds(s)
}

const DAYS_30: i64 = 30 * 86_400;

fn command(url: Option<&str>, args: &[&str]) -> Bin {
    let cmd = gpt_deploy(["cleanup"].iter().chain(args))
        .env("LOG_FORMAT", "json")
        .env("RUST_LOG", "info");
    match url {
        Some(url) => cmd.env("DATABASE_URL", url),
        None => cmd,
    }
}

async fn cleanup(url: Option<&str>, args: &[&str]) -> Output {
    command(url, args).output().await
}

fn spawn(url: &str, args: &[&str]) -> Running {
    command(Some(url), args).spawn()
}

fn text(o: &Output) -> (String, String) {
    (o.stdout.clone(), o.stderr.clone())
}

fn assert_ok(o: &Output) -> String {
    let (out, err) = text(o);
    assert_eq!(o.status.code(), Some(0), "stdout:\n{out}\nstderr:\n{err}");
    out
}

/// The summary line of `table` in `stdout`.
fn line<'a>(stdout: &'a str, table: &str) -> &'a str {
    stdout
        .lines()
        .find(|l| l.starts_with(&format!("{table}:")))
        .unwrap_or_else(|| panic!("no summary line for {table} in:\n{stdout}"))
}

async fn code(pool: &PgPool, tag: &str, expires_at: DateTime<Utc>) {
    sqlx::query(
        "insert into gpt_authorization_codes (code_hash, clerk_user_id, client_id, redirect_uri, expires_at)
         values ($1, 'user_1', 'client', 'https://example.test/cb', $2)",
    )
    .bind(tag)
    .bind(expires_at)
    .execute(pool)
    .await
    .unwrap();
}

async fn token(
    pool: &PgPool,
    tag: &str,
    expires_at: DateTime<Utc>,
    revoked_at: Option<DateTime<Utc>>,
) {
    sqlx::query(
        "insert into gpt_refresh_tokens (token_hash, clerk_user_id, client_id, expires_at, revoked_at)
         values ($1, 'user_1', 'client', $2, $3)",
    )
    .bind(tag)
    .bind(expires_at)
    .bind(revoked_at)
    .execute(pool)
    .await
    .unwrap();
}

async fn session(pool: &PgPool, tag: &str, expires_at: DateTime<Utc>) {
    sqlx::query("insert into gpt_sessions (clerk_user_id, expires_at) values ($1, $2)")
        .bind(tag)
        .bind(expires_at)
        .execute(pool)
        .await
        .unwrap();
}

async fn event(pool: &PgPool, tag: &str, created_at: DateTime<Utc>) {
    sqlx::query("insert into gpt_oauth_events (event_type, clerk_user_id, created_at) values ('test', $1, $2)")
        .bind(tag)
        .bind(created_at)
        .execute(pool)
        .await
        .unwrap();
}

/// The tags left in each table, sorted: (codes, tokens, sessions, events).
async fn left(pool: &PgPool) -> (Vec<String>, Vec<String>, Vec<String>, Vec<String>) {
    let q = |sql: &'static str| async move {
        sqlx::query_scalar::<_, String>(sql)
            .fetch_all(pool)
            .await
            .unwrap()
    };
    (
        q("select code_hash from gpt_authorization_codes order by 1").await,
        q("select token_hash from gpt_refresh_tokens order by 1").await,
        q("select clerk_user_id from gpt_sessions order by 1").await,
        q("select clerk_user_id from gpt_oauth_events order by 1").await,
    )
}

async fn count(pool: &PgPool, table: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!("select count(*) from {table}")))
        .fetch_one(pool)
        .await
        .unwrap()
}

fn strs(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[tokio::test]
async fn exact_boundary_one_second_either_side_of_the_cutoff() {
    let db = support::pg::migrated_database().await;
    let p = db.pool();
    let cutoff = as_of() - secs(DAYS_30);
    for (tag, at) in [
        ("a_older", cutoff - secs(1)),
        ("b_exact", cutoff),
        ("c_younger", cutoff + secs(1)),
    ] {
        code(p, tag, at).await;
        session(p, tag, at).await;
        token(p, &format!("exp_{tag}"), at, None).await;
        token(p, &format!("rev_{tag}"), as_of() + secs(3600), Some(at)).await;
    }
    let out = assert_ok(&cleanup(Some(&db.url), &["--as-of", "2026-01-01T00:00:00Z"]).await);
    assert!(
        line(&out, "gpt_authorization_codes").contains("deleted 1 rows"),
        "{out}"
    );
    let (codes, tokens, sessions, _) = left(p).await;
    assert_eq!(codes, strs(&["b_exact", "c_younger"]));
    assert_eq!(sessions, strs(&["b_exact", "c_younger"]));
    assert_eq!(
        tokens,
        strs(&[
            "exp_b_exact",
            "exp_c_younger",
            "rev_b_exact",
            "rev_c_younger"
        ])
    );
}

#[tokio::test]
async fn boundary_against_the_real_clock() {
    let db = support::pg::migrated_database().await;
    let p = db.pool();
    let now: DateTime<Utc> = sqlx::query_scalar("select now()")
        .fetch_one(p)
        .await
        .unwrap();
    // 30 days + 1 s ago is past the cutoff whenever the run starts. The row that
    // must stay is 2 minutes younger than the cutoff, leaving the run that long to start.
    session(p, "gone", now - secs(DAYS_30 + 1)).await;
    session(p, "kept", now - secs(DAYS_30 - 120)).await;
    assert_ok(&cleanup(Some(&db.url), &["--retention", "30d"]).await);
    assert_eq!(left(p).await.2, strs(&["kept"]));
}

#[tokio::test]
async fn every_rule_and_the_audit_trail_is_never_touched() {
    let db = support::pg::migrated_database().await;
    let p = db.pool();
    let old = as_of() - secs(DAYS_30 + 86_400);
    let recent = as_of() - secs(86_400);
    let future = as_of() + secs(86_400);
    code(p, "code_expired_old", old).await;
    code(p, "code_expired_recent", recent).await;
    code(p, "code_valid", future).await;
    sqlx::query(
        "update gpt_authorization_codes set used_at = $1 where code_hash = 'code_expired_recent'",
    )
    .bind(old)
    .execute(p)
    .await
    .unwrap();
    token(p, "tok_expired_old", old, None).await;
    token(p, "tok_revoked_old", future, Some(old)).await;
    token(p, "tok_revoked_recent_expired_old", old, Some(recent)).await;
    token(p, "tok_revoked_recent", future, Some(recent)).await;
    token(p, "tok_expired_recent", recent, None).await;
    token(p, "tok_valid", future, None).await;
    session(p, "sess_expired_old", old).await;
    session(p, "sess_expired_recent", recent).await;
    session(p, "sess_valid", future).await;
    for i in 0..5 {
        event(p, &format!("event_{i}"), old - secs(365 * 86_400)).await;
    }

    let out = assert_ok(&cleanup(Some(&db.url), &["--as-of", "2026-01-01T00:00:00Z"]).await);
    assert!(out.contains("gpt_oauth_events: kept"), "{out}");
    let (codes, tokens, sessions, events) = left(p).await;
    assert_eq!(codes, strs(&["code_expired_recent", "code_valid"]));
    assert_eq!(
        tokens,
        strs(&["tok_expired_recent", "tok_revoked_recent", "tok_valid"])
    );
    assert_eq!(sessions, strs(&["sess_expired_recent", "sess_valid"]));
    assert_eq!(events.len(), 5);
}

/// Inserts `n` eligible rows per table (distinct ages, oldest first) and 3 young ones.
async fn fill(p: &PgPool, n: i64) {
    sqlx::query(
        "insert into gpt_authorization_codes (code_hash, clerk_user_id, client_id, redirect_uri, expires_at)
         select 'old_' || lpad(i::text, 5, '0'), 'u', 'c', 'r', $1 - i * interval '1 minute' from generate_series(1, $2) i
         union all
         select 'young_' || i, 'u', 'c', 'r', $1 + i * interval '1 minute' from generate_series(1, 3) i",
    )
    .bind(as_of() - secs(DAYS_30))
    .bind(n)
    .execute(p)
    .await
    .unwrap();
    sqlx::query(
        "insert into gpt_refresh_tokens (token_hash, clerk_user_id, client_id, expires_at)
         select 'old_' || lpad(i::text, 5, '0'), 'u', 'c', $1 - i * interval '1 minute' from generate_series(1, $2) i
         union all
         select 'young_' || i, 'u', 'c', $1 + i * interval '1 minute' from generate_series(1, 3) i",
    )
    .bind(as_of() - secs(DAYS_30))
    .bind(n)
    .execute(p)
    .await
    .unwrap();
    sqlx::query(
        "insert into gpt_sessions (clerk_user_id, expires_at)
         select 'old_' || lpad(i::text, 5, '0'), $1 - i * interval '1 minute' from generate_series(1, $2) i
         union all
         select 'young_' || i, $1 + i * interval '1 minute' from generate_series(1, 3) i",
    )
    .bind(as_of() - secs(DAYS_30))
    .bind(n)
    .execute(p)
    .await
    .unwrap();
}

async fn assert_only_young_left(p: &PgPool) {
    let young = strs(&["young_1", "young_2", "young_3"]);
    let (codes, tokens, sessions, _) = left(p).await;
    assert_eq!(codes, young);
    assert_eq!(tokens, young);
    assert_eq!(sessions, young);
}

const AS_OF: &str = "--as-of=2026-01-01T00:00:00Z";

#[tokio::test]
async fn deletes_in_several_batches_per_table_on_both_walks() {
    let db = support::pg::migrated_database().await;
    // Refresh tokens by index: one (empty) walk of the revoked index, then 7
    // batches by expires_at; by heap, one pass for the whole rule.
    for (walk, token_batches) in [("index", 8), ("heap", 7)] {
        fill(db.pool(), 25).await;
        let output = command(Some(&db.url), &[AS_OF, "--batch-size", "4", "--walk", walk])
            .env("RUST_LOG", "gpt_deploy=debug")
            .output()
            .await;
        let out = assert_ok(&output);
        // The structured log has one event per batch and one summary per table.
        let events: Vec<serde_json::Value> = text(&output)
            .1
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
            .collect();
        let of = |message: &str, table: &str| {
            events
                .iter()
                .filter(|e| e["message"] == message && e["table"] == table)
                .collect::<Vec<_>>()
        };
        assert_eq!(of("batch", "gpt_sessions").len(), 7, "{walk}");
        assert!(
            of("batch", "gpt_sessions")
                .iter()
                .all(|b| b["rows"].as_u64() <= Some(4)),
            "{walk}: a batch deleted more than --batch-size"
        );
        // The heap walk's batches run on the server, a run per round trip.
        assert_eq!(
            of("server-side heap run", "gpt_sessions").is_empty(),
            walk == "index",
            "{walk}"
        );
        assert!(
            !text(&output)
                .1
                .contains("server-side run of heap batches failed"),
            "{walk}"
        );
        let summary = of("table cleaned", "gpt_sessions");
        assert_eq!(summary.len(), 1);
        assert_eq!(summary[0]["rows"], 25);
        assert_eq!(summary[0]["batches"], 7);
        assert_eq!(summary[0]["walk"], format!("{walk} walk"));
        // 25 rows by 4: six full batches and a short seventh.
        for table in ["gpt_authorization_codes", "gpt_sessions"] {
            let l = line(&out, table);
            assert!(l.contains("deleted 25 rows in 7 batches"), "{walk}: {l}");
            assert!(l.contains(&format!("({walk} walk;")), "{walk}: {l}");
        }
        assert!(
            line(&out, "gpt_refresh_tokens")
                .contains(&format!("deleted 25 rows in {token_batches} batches")),
            "{walk}: {out}"
        );
        assert_only_young_left(db.pool()).await;
        truncate(db.pool()).await;
    }
}

async fn truncate(p: &PgPool) {
    sqlx::query("truncate gpt_authorization_codes, gpt_refresh_tokens, gpt_sessions")
        .execute(p)
        .await
        .unwrap();
}

#[tokio::test]
async fn limit_caps_each_table_and_the_next_run_continues() {
    let db = support::pg::migrated_database().await;
    let p = db.pool();
    // The index walk takes the oldest rows first; the heap walk the first
    // ones in physical order (`fill` inserts the youngest old row first).
    for (walk, first_left) in [("index", "old_00015"), ("heap", "old_00011")] {
        fill(p, 25).await;
        let out = assert_ok(
            &cleanup(
                Some(&db.url),
                &[AS_OF, "--batch-size", "4", "--limit", "10", "--walk", walk],
            )
            .await,
        );
        for table in [
            "gpt_authorization_codes",
            "gpt_refresh_tokens",
            "gpt_sessions",
        ] {
            let l = line(&out, table);
            assert!(
                l.contains("deleted 10 rows") && l.contains("--limit reached"),
                "{walk}: {l}"
            );
            assert_eq!(count(p, table).await, 25 + 3 - 10, "{walk}: {table}");
        }
        let left: Vec<String> = sqlx::query_scalar(
            "select clerk_user_id from gpt_sessions where clerk_user_id like 'old%' order by 1",
        )
        .fetch_all(p)
        .await
        .unwrap();
        let expected_first = if walk == "index" {
            // The oldest left is the 15th oldest: old_00015 (ages grow with the number).
            left.iter().max().cloned()
        } else {
            left.iter().min().cloned()
        };
        assert_eq!(
            expected_first.as_deref(),
            Some(first_left),
            "{walk}: {left:?}"
        );
        let out =
            assert_ok(&cleanup(Some(&db.url), &[AS_OF, "--limit", "100", "--walk", walk]).await);
        assert!(
            line(&out, "gpt_sessions").contains("deleted 15 rows"),
            "{walk}: {out}"
        );
        assert_only_young_left(p).await;
        truncate(p).await;
    }
}

#[tokio::test]
async fn dry_run_counts_and_deletes_nothing() {
    let db = support::pg::migrated_database().await;
    let p = db.pool();
    fill(p, 12).await;
    token(
        p,
        "revoked_only",
        as_of() + secs(3600),
        Some(as_of() - secs(DAYS_30 + 5)),
    )
    .await;
    let out = assert_ok(&cleanup(Some(&db.url), &[AS_OF, "--dry-run"]).await);
    assert!(
        line(&out, "gpt_authorization_codes").contains("would delete 12 rows"),
        "{out}"
    );
    assert!(
        line(&out, "gpt_refresh_tokens").contains("would delete 13 rows"),
        "{out}"
    );
    assert!(
        line(&out, "gpt_sessions").contains("would delete 12 rows"),
        "{out}"
    );
    assert_eq!(count(p, "gpt_authorization_codes").await, 15);
    assert_eq!(count(p, "gpt_refresh_tokens").await, 16);
    assert_eq!(count(p, "gpt_sessions").await, 15);
    let out = assert_ok(&cleanup(Some(&db.url), &[AS_OF, "--dry-run", "--limit", "5"]).await);
    assert!(
        line(&out, "gpt_sessions").contains("would delete 5 rows"),
        "{out}"
    );
}

/// Makes the deletion of one eligible session row (the 13th oldest) wait
/// until [`open_gate`], without taking any lock: a trigger sleeps while the
/// gate is closed. A run with `--batch-size 5 --walk index` then waits in its
/// third sessions batch, after committing every earlier batch.
async fn gate_sessions(db: &TestDb) {
    for sql in [
        "create table test_gate (open boolean not null)",
        "insert into test_gate values (false)",
        "create function test_gate() returns trigger language plpgsql as $$
         begin
             if old.clerk_user_id = 'old_00018' then
                 while not (select open from test_gate) loop
                     perform pg_sleep(0.02);
                 end loop;
             end if;
             return old;
         end $$",
        "create trigger test_gate before delete on gpt_sessions
         for each row execute function test_gate()",
    ] {
        sqlx::query(sql).execute(db.pool()).await.unwrap();
    }
}

async fn open_gate(db: &TestDb) {
    sqlx::query("update test_gate set open = true")
        .execute(db.pool())
        .await
        .unwrap();
}

/// Waits until a cleanup session of `db` waits at the gate; returns its backend pid.
async fn wait_at_gate(db: &TestDb, not_pid: Option<i32>) -> i32 {
    for _ in 0..1200 {
        let pid: Option<i32> = sqlx::query_scalar(
            "select pid from pg_stat_activity
             where datname = current_database() and application_name = 'gpt-deploy cleanup'
               and wait_event = 'PgSleep' and pid is distinct from $1",
        )
        .bind(not_pid)
        .fetch_optional(db.pool())
        .await
        .unwrap();
        if let Some(pid) = pid {
            return pid;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no cleanup run waited at the gate within 60 s");
}

async fn wait_no_cleanup_session(db: &TestDb) {
    for _ in 0..1200 {
        let n: i64 = sqlx::query_scalar(
            "select count(*) from pg_stat_activity
             where datname = current_database() and application_name = 'gpt-deploy cleanup'",
        )
        .fetch_one(db.pool())
        .await
        .unwrap();
        if n == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the killed run's database session did not end within 60 s");
}

const GATED: &[&str] = &[
    AS_OF,
    "--batch-size",
    "5",
    "--statement-timeout",
    "120s",
    "--walk",
    "index",
];

#[tokio::test]
async fn a_second_concurrent_run_names_the_first_and_exits_5() {
    let db = support::pg::migrated_database().await;
    let p = db.pool();
    fill(p, 30).await;
    gate_sessions(&db).await;
    let first = spawn(&db.url, GATED);
    let first_pid = wait_at_gate(&db, None).await;
    let sessions_before = count(p, "gpt_sessions").await;
    assert_eq!(
        sessions_before,
        30 + 3 - 10,
        "two sessions batches committed before the gate"
    );

    let second = cleanup(Some(&db.url), &[AS_OF, "--batch-size", "5"]).await;
    let (out, err) = text(&second);
    assert_eq!(second.status.code(), Some(5), "{out}\n{err}");
    assert!(err.contains("another cleanup is running"), "{err}");
    assert!(
        err.contains(&format!("held by the session with pid {first_pid}")),
        "{err}"
    );
    assert!(
        err.contains("application_name \"gpt-deploy cleanup\""),
        "{err}"
    );
    assert!(err.contains("backend started 20"), "{err}");
    assert!(
        err.contains(&format!("pg_terminate_backend({first_pid})")),
        "{err}"
    );
    assert!(!out.contains("deleted"), "{out}");
    assert_eq!(count(p, "gpt_sessions").await, sessions_before);

    open_gate(&db).await;
    let first = first.finish().await;
    let out = assert_ok(&first);
    assert!(
        line(&out, "gpt_sessions").contains("deleted 30 rows"),
        "{out}"
    );
    assert_only_young_left(p).await;
}

#[tokio::test]
async fn an_advisory_lock_held_by_another_session_exits_5_naming_it() {
    let db = support::pg::migrated_database().await;
    let p = db.pool();
    fill(p, 3).await;
    let mut holder = p.acquire().await.unwrap();
    sqlx::query("set application_name = 'stuck-report-job'")
        .execute(&mut *holder)
        .await
        .unwrap();
    let (pid, started): (i32, DateTime<Utc>) = sqlx::query_as(
        "select pg_backend_pid(), backend_start from pg_stat_activity where pid = pg_backend_pid()",
    )
    .fetch_one(&mut *holder)
    .await
    .unwrap();
    sqlx::query("select pg_advisory_lock($1)")
        .bind(gpt_deploy::runtime::cleanup::LOCK_KEY)
        .execute(&mut *holder)
        .await
        .unwrap();

    let o = cleanup(Some(&db.url), &[AS_OF]).await;
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(5), "{out}\n{err}");
    assert!(err.contains(&format!("pid {pid}")), "{err}");
    assert!(
        err.contains("application_name \"stuck-report-job\""),
        "{err}"
    );
    let started = started.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    assert!(err.contains(&format!("backend started {started}")), "{err}");
    assert!(err.contains("nothing was done"), "{err}");
    assert_eq!(count(p, "gpt_sessions").await, 6, "nothing deleted");
    // A dry run takes no lock and still counts.
    let out = assert_ok(&cleanup(Some(&db.url), &[AS_OF, "--dry-run"]).await);
    assert!(
        line(&out, "gpt_sessions").contains("would delete 3 rows"),
        "{out}"
    );

    sqlx::query("select pg_advisory_unlock($1)")
        .bind(gpt_deploy::runtime::cleanup::LOCK_KEY)
        .execute(&mut *holder)
        .await
        .unwrap();
    assert_ok(&cleanup(Some(&db.url), &[AS_OF]).await);
    assert_only_young_left(p).await;
}

#[tokio::test]
async fn locked_rows_are_skipped_counted_and_left_to_the_next_run() {
    let db = support::pg::migrated_database().await;
    let p = db.pool();
    event(p, "audit", as_of() - secs(400 * 86_400)).await;
    for walk in ["index", "heap"] {
        fill(p, 30).await;
        // A row lock (select for update) on a session, and an uncommitted
        // update of a refresh token, both held for the whole run.
        let mut lock = p.begin().await.unwrap();
        sqlx::query("select 1 from gpt_sessions where clerk_user_id = 'old_00018' for update")
            .execute(&mut *lock)
            .await
            .unwrap();
        sqlx::query(
            "update gpt_refresh_tokens set client_id = 'c2' where token_hash = 'old_00007'",
        )
        .execute(&mut *lock)
        .await
        .unwrap();
        let o = command(Some(&db.url), &[AS_OF, "--batch-size", "5", "--walk", walk])
            .env("RUST_LOG", "gpt_deploy=debug")
            .output()
            .await;
        let out = assert_ok(&o);
        for table in ["gpt_sessions", "gpt_refresh_tokens"] {
            let l = line(&out, table);
            assert!(l.contains("deleted 29 rows"), "{walk}: {l}");
            assert!(
                l.contains("skipped 1 locked or concurrently changed rows"),
                "{walk}: {l}"
            );
        }
        let l = line(&out, "gpt_authorization_codes");
        assert!(
            l.contains("deleted 30 rows") && !l.contains("skipped"),
            "{walk}: {l}"
        );
        assert!(
            text(&o)
                .1
                .contains("were skipped; the next run retries them"),
            "{walk}: the skip is logged"
        );
        if walk == "heap" {
            // The server's run stops at the locked row and hands that batch
            // to the client, which skips the row.
            let stopped = text(&o)
                .1
                .lines()
                .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
                .any(|e| {
                    e["message"] == "server-side heap run"
                        && e["table"] == "gpt_sessions"
                        && e["stop"] == "locked"
                });
            assert!(stopped, "{}", text(&o).1);
        }
        let (_, tokens, sessions, events) = left(p).await;
        assert_eq!(
            sessions,
            strs(&["old_00018", "young_1", "young_2", "young_3"]),
            "{walk}"
        );
        assert_eq!(
            tokens,
            strs(&["old_00007", "young_1", "young_2", "young_3"]),
            "{walk}"
        );
        assert_eq!(events, strs(&["audit"]), "{walk}");
        lock.rollback().await.unwrap();

        let out = assert_ok(&cleanup(Some(&db.url), &[AS_OF, "--walk", walk]).await);
        assert!(
            line(&out, "gpt_sessions").contains("deleted 1 rows"),
            "{walk}: {out}"
        );
        assert_only_young_left(p).await;
        truncate(p).await;
    }
}

#[tokio::test]
async fn a_run_killed_between_batches_leaves_a_consistent_database_and_the_next_run_finishes() {
    let db = support::pg::migrated_database().await;
    let p = db.pool();
    fill(p, 30).await;
    gate_sessions(&db).await;
    let mut run = spawn(&db.url, GATED);
    wait_at_gate(&db, None).await;
    // Everything before the waiting batch is committed; nothing young was touched.
    assert_eq!(count(p, "gpt_authorization_codes").await, 3);
    assert_eq!(count(p, "gpt_refresh_tokens").await, 3);
    assert_eq!(count(p, "gpt_sessions").await, 23);

    run.kill(); // SIGKILL: no chance to clean up
    let status = run.finish().await.status;
    assert!(!status.success());
    open_gate(&db).await;
    wait_no_cleanup_session(&db).await;

    let sessions_after_kill = count(p, "gpt_sessions").await;
    assert!(
        sessions_after_kill == 23 || sessions_after_kill == 18,
        "a batch is all or nothing: {sessions_after_kill}"
    );
    let out = assert_ok(&cleanup(Some(&db.url), &[AS_OF, "--batch-size", "5"]).await);
    assert!(
        line(&out, "gpt_sessions").contains(&format!("deleted {} rows", sessions_after_kill - 3)),
        "{out}"
    );
    assert_only_young_left(p).await;
}

#[tokio::test]
async fn a_dropped_connection_between_batches_is_retried() {
    let db = support::pg::migrated_database().await;
    let p = db.pool();
    fill(p, 30).await;
    gate_sessions(&db).await;
    let run = spawn(&db.url, GATED);
    let pid = wait_at_gate(&db, None).await;
    let killed: bool = sqlx::query_scalar("select pg_terminate_backend($1)")
        .bind(pid)
        .fetch_one(p)
        .await
        .unwrap();
    assert!(killed);
    // The run reconnects, takes the lock again and waits at the same row.
    wait_at_gate(&db, Some(pid)).await;
    open_gate(&db).await;
    let output = run.finish().await;
    let out = assert_ok(&output);
    let (_, err) = text(&output);
    assert!(err.contains("transient database error; retrying"), "{err}");
    assert!(err.contains("took the cleanup lock again"), "{err}");
    assert!(
        line(&out, "gpt_sessions").contains("deleted 30 rows"),
        "{out}"
    );
    assert_only_young_left(p).await;
}

/// A run of `walk` that meets the gate of [`gate_sessions`] in its third
/// sessions batch under a 1 s statement timeout, retried for `retry_for`: it
/// fails with exit code 3, naming the timeout and the retries, after every
/// batch before the gate committed (all codes but the 3 young ones are gone).
/// Returns the stderr (debug log) for the walk's own checks.
async fn run_into_the_statement_timeout(db: &TestDb, walk: &str, retry_for: &str) -> String {
    fill(db.pool(), 30).await;
    gate_sessions(db).await;
    let o = command(
        Some(&db.url),
        &[
            AS_OF,
            "--batch-size",
            "5",
            "--statement-timeout",
            "1s",
            "--retry-for",
            retry_for,
            "--walk",
            walk,
        ],
    )
    .env("RUST_LOG", "gpt_deploy=debug")
    .output()
    .await;
    open_gate(db).await;
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(3), "{walk}: {out}\n{err}");
    assert!(
        err.contains("canceling statement due to statement timeout"),
        "{walk}: {err}"
    );
    assert!(
        err.contains("transient database error; retrying"),
        "{walk}: {err}"
    );
    assert_eq!(
        count(db.pool(), "gpt_authorization_codes").await,
        3,
        "{walk}"
    );
    err
}

#[tokio::test]
async fn a_batch_over_its_statement_timeout_is_retried_then_the_run_fails() {
    let db = support::pg::migrated_database().await;
    let err = run_into_the_statement_timeout(&db, "index", "4s").await;
    assert!(
        err.contains("deleting a batch from gpt_sessions by expires_at"),
        "{err}"
    );
    assert!(err.contains("the next run continues from there"), "{err}");
    // The batches before the waiting one are committed; the waiting one is not.
    assert_eq!(count(db.pool(), "gpt_sessions").await, 23);
}

#[tokio::test]
async fn a_heap_batch_cancelled_on_the_server_is_run_by_the_client_then_the_run_fails() {
    let db = support::pg::migrated_database().await;
    let err = run_into_the_statement_timeout(&db, "heap", "3s").await;
    // The server's run was cancelled at the gate and handed the batch over...
    assert!(
        err.lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .any(|e| e["message"] == "server-side heap run"
                && e["table"] == "gpt_sessions"
                && e["stop"] == "cancelled"),
        "{err}"
    );
    // ...which the client ran under the same timeout, retried, and gave up on.
    assert!(
        err.contains("deleting a batch from gpt_sessions in heap order"),
        "{err}"
    );
    let (_, _, sessions, _) = left(db.pool()).await;
    assert!(sessions.contains(&"old_00018".to_string()), "{sessions:?}");
}

#[tokio::test]
async fn without_temporary_objects_the_client_runs_every_heap_batch() {
    let db = support::pg::migrated_database().await;
    let p = db.pool();
    event(p, "audit", as_of() - secs(400 * 86_400)).await;
    fill(p, 40).await;
    // A role that may delete but not create temporary objects in this database.
    let url = db.login_role("no-temp-role-pw").await;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "revoke temporary on database \"{0}\" from public, \"{0}_app\"",
        db.name
    )))
    .execute(p)
    .await
    .unwrap();
    let o = command(Some(&url), &[AS_OF, "--batch-size", "7", "--walk", "heap"])
        .env("RUST_LOG", "gpt_deploy=debug")
        .output()
        .await;
    let out = assert_ok(&o);
    let err = text(&o).1;
    assert!(
        err.contains("cannot create the temporary procedure"),
        "{err}"
    );
    assert!(!err.contains("\"server-side heap run\""), "{err}");
    for table in [
        "gpt_authorization_codes",
        "gpt_refresh_tokens",
        "gpt_sessions",
    ] {
        let l = line(&out, table);
        assert!(
            l.contains("deleted 40 rows in 6 batches") && l.contains("(heap walk;"),
            "{out}"
        );
    }
    assert_only_young_left(p).await;
    assert_eq!(left(p).await.3, strs(&["audit"]));
}

/// Loads `n` rows per table, 90% past the cutoff (10% of tokens revoked at
/// random), in issue order (expiry follows the physical order) or scattered.
async fn load(p: &PgPool, n: i64, scattered: bool, eligible_share: f64) {
    truncate(p).await;
    let cutoff = as_of() - secs(DAYS_30);
    let position = if scattered {
        "random()"
    } else {
        "i::float8 / $2"
    };
    let expiry = format!("$1 + (({position}) - $3) * interval '100 days'");
    for sql in [
        format!(
            "insert into gpt_authorization_codes (code_hash, clerk_user_id, client_id, redirect_uri, expires_at)
             select 'c' || i, 'u', 'c', 'r', {expiry} from generate_series(1, $2) i"
        ),
        format!(
            "insert into gpt_refresh_tokens (token_hash, clerk_user_id, client_id, expires_at, revoked_at)
             select 't' || i, 'u', 'c', e, case when i % 10 = 0 then e - random() * interval '60 days' end
             from (select i, {expiry} as e from generate_series(1, $2) i) s"
        ),
        format!(
            "insert into gpt_sessions (clerk_user_id, expires_at)
             select 's' || i, {expiry} from generate_series(1, $2) i"
        ),
    ] {
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(cutoff)
            .bind(n)
            .bind(eligible_share)
            .execute(p)
            .await
            .unwrap();
    }
    sqlx::query("vacuum analyze gpt_authorization_codes, gpt_refresh_tokens, gpt_sessions")
        .execute(p)
        .await
        .unwrap();
}

/// The ids of the rows each table keeps under the rules, as of [`as_of`].
async fn keepers(p: &PgPool) -> [Vec<String>; 3] {
    let cutoff = as_of() - secs(DAYS_30);
    let q = |sql: &'static str| async move {
        sqlx::query_scalar::<_, String>(sql)
            .bind(cutoff)
            .fetch_all(p)
            .await
            .unwrap()
    };
    [
        q("select code_hash from gpt_authorization_codes where not expires_at < $1 order by 1")
            .await,
        q("select token_hash from gpt_refresh_tokens
           where not (expires_at < $1 or coalesce(revoked_at < $1, false)) order by 1")
        .await,
        q("select clerk_user_id from gpt_sessions where not expires_at < $1 order by 1").await,
    ]
}

#[tokio::test]
async fn both_walks_on_both_layouts_delete_exactly_the_eligible_rows() {
    let db = support::pg::migrated_database().await;
    let p = db.pool();
    event(p, "audit", as_of() - secs(400 * 86_400)).await;
    for scattered in [false, true] {
        for walk in ["index", "heap"] {
            load(p, 6000, scattered, 0.9).await;
            let keep = keepers(p).await;
            let context = format!("walk {walk}, scattered {scattered}");
            let out = assert_ok(
                &cleanup(
                    Some(&db.url),
                    &[AS_OF, "--batch-size", "250", "--walk", walk],
                )
                .await,
            );
            let (codes, tokens, sessions, events) = left(p).await;
            assert_eq!(codes, keep[0], "{context}");
            assert_eq!(tokens, keep[1], "{context}");
            assert_eq!(sessions, keep[2], "{context}");
            assert_eq!(events, strs(&["audit"]), "{context}");
            let l = line(&out, "gpt_sessions");
            assert!(
                l.contains(&format!("deleted {} rows", 6000 - keep[2].len())),
                "{context}: {l}"
            );
            assert!(l.contains(&format!("({walk} walk;")), "{context}: {l}");
        }
    }
}

#[tokio::test]
async fn the_walk_follows_the_layout() {
    let db = support::pg::migrated_database().await;
    let p = db.pool();
    // (scattered, eligible share, expected walk of gpt_sessions)
    for (scattered, share, expected) in [
        (false, 0.9, "heap walk"),
        (true, 0.9, "heap walk"),
        (true, 0.1, "heap walk"),
        (false, 0.02, "index walk"),
    ] {
        load(p, 20_000, scattered, share).await;
        let keep = keepers(p).await;
        let o = cleanup(Some(&db.url), &[AS_OF]).await;
        let out = assert_ok(&o);
        let context = format!("scattered {scattered}, share {share}");
        let chosen: Vec<serde_json::Value> = text(&o)
            .1
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|e| e["message"] == "walk chosen" && e["table"] == "gpt_sessions")
            .collect();
        assert_eq!(chosen.len(), 1, "{context}");
        assert_eq!(chosen[0]["walk"], expected, "{context}: {}", chosen[0]);
        assert!(
            line(&out, "gpt_sessions").contains(&format!("({expected};")),
            "{context}: {out}"
        );
        assert_eq!(left(p).await.2, keep[2], "{context}");
    }
}

/// The heap walk sizes a whole-range delete from the density of eligible rows
/// it has seen; where a stretch without eligible rows is followed by a dense
/// one, the delete that meets the dense stretch holds more than a batch and is
/// rolled back. That attempt must stay a few batches wide, not swallow the whole
/// dense stretch in one transaction. PostgreSQL counts the rows of rolled-back
/// deletes in `n_tup_del` too, so the excess over the rows deleted is what the
/// attempts touched and undid.
#[tokio::test]
async fn a_dense_stretch_after_an_empty_one_is_not_deleted_whole_and_undone() {
    let db = support::pg::migrated_database().await;
    let p = db.pool();
    let cutoff = as_of() - secs(DAYS_30);
    // 30,000 young rows on the first pages, then 30,000 eligible ones.
    for (tag, offset) in [("young", 86_400), ("old", -86_400)] {
        sqlx::query(
            "insert into gpt_sessions (clerk_user_id, expires_at)
             select $1 || i, $2 from generate_series(1, 30000) i",
        )
        .bind(tag)
        .bind(cutoff + secs(offset))
        .execute(p)
        .await
        .unwrap();
    }
    sqlx::query("vacuum analyze gpt_sessions")
        .execute(p)
        .await
        .unwrap();
    let batch = 500;
    let out = assert_ok(
        &cleanup(
            Some(&db.url),
            &[AS_OF, "--batch-size", &batch.to_string(), "--walk", "heap"],
        )
        .await,
    );
    assert!(
        line(&out, "gpt_sessions").contains("deleted 30000 rows"),
        "{out}"
    );
    assert_eq!(count(p, "gpt_sessions").await, 30_000);
    // A backend's statistics are flushed before it leaves pg_stat_activity.
    wait_no_cleanup_session(&db).await;
    let touched: i64 = sqlx::query_scalar(
        "select n_tup_del from pg_stat_user_tables where relname = 'gpt_sessions'",
    )
    .fetch_one(p)
    .await
    .unwrap();
    assert!(touched >= 30_000, "statistics not flushed: {touched}");
    let undone = touched - 30_000;
    assert!(
        undone <= gpt_deploy::runtime::cleanup::walk::RANGE_SLOTS * batch,
        "rolled-back whole-range deletes touched {undone} rows (batch size {batch})"
    );
}

#[tokio::test]
async fn each_batch_is_an_index_scan_or_a_tid_range_scan() {
    use gpt_deploy::runtime::cleanup::walk::{Form, heap_statement, index_statement};
    let db = support::pg::migrated_database().await;
    let p = db.pool();
    fill(p, 20_000).await;
    // Timestamps in random physical order, and many revoked tokens of which
    // few are past the cutoff: left to itself, the planner prefers to
    // bitmap-scan and sort every eligible entry over walking the index.
    let cutoff = as_of() - secs(DAYS_30);
    sqlx::query(
        "update gpt_refresh_tokens set revoked_at = case when random() < 0.1
           then $1 - random() * interval '10 days' else $1 + random() * interval '40 days' end",
    )
    .bind(cutoff)
    .execute(p)
    .await
    .unwrap();
    for table in [
        "gpt_authorization_codes",
        "gpt_sessions",
        "gpt_refresh_tokens",
    ] {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "update {table} set expires_at = $1 - random() * interval '10 days' where expires_at < $1"
        )))
        .bind(cutoff)
        .execute(p)
        .await
        .unwrap();
    }
    sqlx::query("vacuum analyze").execute(p).await.unwrap();
    let mut conn = p.acquire().await.unwrap();
    for setting in SESSION_SETTINGS {
        sqlx::query(setting).execute(&mut *conn).await.unwrap();
    }
    let explain = async |conn: &mut sqlx::PgConnection,
                         sql: &str,
                         resume: Option<DateTime<Utc>>,
                         tids: Option<(&str, &str)>| {
        let sql = format!("explain {sql}");
        let mut q = sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(sql))
            .bind(cutoff)
            .bind(1000_i64);
        q = match tids {
            Some((after, before)) => q.bind(after.to_string()).bind(before.to_string()),
            None => q.bind(resume),
        };
        q.fetch_all(&mut *conn).await.unwrap().join("\n")
    };
    for mode in ["auto", "force_generic_plan"] {
        sqlx::query(sqlx::AssertSqlSafe(format!("set plan_cache_mode = {mode}")))
            .execute(&mut *conn)
            .await
            .unwrap();
        // The server-side runs' whole-range delete: a TID range scan of its pages.
        for rule in &gpt_deploy::runtime::cleanup::TABLES {
            let name = format!("range_{}", rule.table);
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                "prepare {name}(timestamptz, bigint, text, text) as {}",
                gpt_deploy::runtime::cleanup::walk::range_statement(rule)
            )))
            .execute(&mut *conn)
            .await
            .unwrap();
            let plan = sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(format!(
                "explain execute {name}('{}', 1000, '(10,3)', '(20,0)')",
                cutoff.to_rfc3339()
            )))
            .fetch_all(&mut *conn)
            .await
            .unwrap()
            .join("\n");
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!("deallocate {name}")))
                .execute(&mut *conn)
                .await
                .unwrap();
            assert!(
                plan.contains(&format!("Tid Range Scan on {}", rule.table)),
                "{mode}: {plan}"
            );
            assert!(
                !plan.contains("Seq Scan") && !plan.contains("Index"),
                "{mode}: {plan}"
            );
        }
        for rule in &gpt_deploy::runtime::cleanup::TABLES {
            for form in [Form::Plain, Form::SkipLocked] {
                for (column, resume) in rule
                    .columns
                    .iter()
                    .flat_map(|c| [(c, None), (c, Some(cutoff - secs(5 * 86_400)))])
                {
                    let sql = index_statement(rule, column, form);
                    let plan = explain(&mut conn, &sql, resume, None).await;
                    let index = if *column == "revoked_at" {
                        format!("{}_revoked_at_idx", rule.table)
                    } else {
                        format!("{}_expires_at_idx", rule.table)
                    };
                    let context = format!("{mode} {sql} resume={resume:?}:\n{plan}");
                    assert!(
                        plan.contains(&format!("Index Scan using {index}")),
                        "{context}"
                    );
                    // Both ends of the walk bound the index scan itself.
                    assert!(
                        plan.contains(&format!("Index Cond: (({column} >= ")),
                        "{context}"
                    );
                    assert!(plan.contains("Tid Scan"), "{context}");
                    assert!(
                        !plan.contains("Seq Scan") && !plan.contains("Sort"),
                        "{context}"
                    );
                }
                let sql = heap_statement(rule, form);
                let plan = explain(&mut conn, &sql, None, Some(("(10,3)", "(20,0)"))).await;
                let context = format!("{mode} {sql}:\n{plan}");
                // The page range bounds the scan itself; only its eligible rows are sorted.
                assert!(
                    plan.contains(&format!("Tid Range Scan on {}", rule.table)),
                    "{context}"
                );
                assert!(plan.contains("TID Cond: ((ctid > "), "{context}");
                assert!(plan.contains("AND (ctid < "), "{context}");
                assert!(plan.contains("Tid Scan"), "{context}");
                assert!(
                    !plan.contains("Seq Scan") && !plan.contains("Index"),
                    "{context}"
                );
            }
        }
    }
}

#[tokio::test]
async fn bad_input_is_refused_with_a_clear_message() {
    let cases: &[(&[&str], Option<&str>, u8, &str)] = &[
        (&[], None, 2, "DATABASE_URL is not set"),
        (
            &[],
            Some("mysql://u:pw-sentinel-1@h/db"),
            2,
            "not a valid PostgreSQL URL",
        ),
        (
            &[],
            Some("postgres://u:pw-sentinel-1@:5432/db"),
            2,
            "not a valid PostgreSQL URL",
        ),
        (
            &["--retention", "thirty"],
            Some("postgres://u@h/db"),
            2,
            "--retention (CLEANUP_RETENTION) \"thirty\" is not valid",
        ),
        (
            &["--retention", "0s"],
            Some("postgres://u@h/db"),
            2,
            "longer than zero",
        ),
        (
            &["--batch-size", "0"],
            Some("postgres://u@h/db"),
            2,
            "--batch-size (CLEANUP_BATCH_SIZE) 0 is out of range",
        ),
        (
            &["--batch-size", "1000000"],
            Some("postgres://u@h/db"),
            2,
            "from 1 to 100000",
        ),
        (
            &["--limit=-3"],
            Some("postgres://u@h/db"),
            2,
            "--limit (CLEANUP_LIMIT) -3 is out of range",
        ),
        (
            &["--statement-timeout", "0s"],
            Some("postgres://u@h/db"),
            2,
            "--statement-timeout (CLEANUP_STATEMENT_TIMEOUT) must be longer than zero",
        ),
        (
            &["--as-of", "yesterday"],
            Some("postgres://u@h/db"),
            2,
            "RFC 3339",
        ),
        (
            &["--batch-size", "many"],
            Some("postgres://u@h/db"),
            2,
            "invalid value 'many'",
        ),
    ];
    for (args, url, exit, needle) in cases {
        let o = cleanup(*url, args).await;
        let (out, err) = text(&o);
        assert_eq!(o.status.code(), Some(i32::from(*exit)), "{args:?}: {err}");
        assert!(
            err.contains(needle),
            "{args:?}: expected {needle:?} in:\n{err}"
        );
        assert!(!format!("{out}{err}").contains("pw-sentinel"), "{err}");
    }
    let o = command(Some("postgres://u@h/db"), &[])
        .env("CLEANUP_BATCH_SIZE", "-1")
        .output()
        .await;
    assert!(text(&o).1.contains("CLEANUP_BATCH_SIZE"), "{}", text(&o).1);
}

#[tokio::test]
async fn a_database_that_is_not_migrated_is_named() {
    let db = support::pg::database().await;
    let o = cleanup(Some(&db.url), &[]).await;
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(3), "{err}");
    assert!(
        err.contains("schema is not migrated; run `gpt-deploy migrate` first"),
        "{err}"
    );
    assert!(err.contains("gpt_sessions"), "{err}");
}

#[tokio::test]
async fn a_future_as_of_is_refused() {
    let db = support::pg::migrated_database().await;
    session(db.pool(), "young", Utc::now() - secs(60)).await;
    let o = cleanup(
        Some(&db.url),
        &["--as-of", "2999-01-01T00:00:00Z", "--retention", "1s"],
    )
    .await;
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("lies after the database's current time"),
        "{err}"
    );
    assert_eq!(count(db.pool(), "gpt_sessions").await, 1);
}

#[tokio::test]
async fn connection_refused_is_retried_for_a_bounded_time() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("postgres://app:pw-sentinel-2@127.0.0.1:{port}/gpt");
    let started = std::time::Instant::now();
    let o = cleanup(Some(&url), &["--retry-for", "2s"]).await;
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(3), "{err}");
    assert!(
        err.contains(&format!(
            "cannot connect to the database at postgres://app:****@127.0.0.1:{port}/gpt"
        )),
        "{err}"
    );
    assert!(err.contains("retrying"), "the retries are logged: {err}");
    assert!(started.elapsed() >= Duration::from_secs(1), "it retried");
    assert!(!format!("{out}{err}").contains("pw-sentinel"), "{err}");
}

#[tokio::test]
async fn the_database_password_never_appears_in_output() {
    const SENTINEL: &str = "Sentinel-pw-7f3a9c";
    let db = support::pg::migrated_database().await;
    fill(db.pool(), 7).await;
    let url = db.login_role(SENTINEL).await;
    assert!(url.contains(SENTINEL));
    for args in [&[AS_OF, "--dry-run"][..], &[AS_OF, "--batch-size", "2"][..]] {
        let o = command(Some(&url), args)
            .env("RUST_LOG", "trace")
            .output()
            .await;
        let (out, err) = text(&o);
        assert_eq!(o.status.code(), Some(0), "{err}");
        assert!(
            !out.contains(SENTINEL) && !err.contains(SENTINEL),
            "{out}\n{err}"
        );
        assert!(!out.contains("Sentinel") && !err.contains("Sentinel"));
    }
    assert_only_young_left(db.pool()).await;
    // A wrong password: the server's refusal is reported, the password is not.
    let wrong = url.replace(SENTINEL, "Wrong-Sentinel-pw-1b2c");
    let o = cleanup(Some(&wrong), &["--retry-for", "1s"]).await;
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(3), "{err}");
    assert!(err.contains("password authentication failed"), "{err}");
    assert!(!format!("{out}{err}").contains("Sentinel"), "{err}");
}

/// Rows of one proptest case: offsets from the cutoff in microseconds.
#[derive(Debug, Clone)]
struct Case {
    codes: Vec<i64>,
    tokens: Vec<(i64, Option<i64>)>,
    sessions: Vec<i64>,
    batch_size: i64,
    limit: Option<i64>,
    walk: gpt_deploy::cli::CleanupWalk,
}

fn offset() -> impl proptest::strategy::Strategy<Value = i64> {
    use proptest::prelude::*;
    prop_oneof![
        -2i64..=2,                                       // the boundary itself, to the microsecond
        -3_000_000i64..=3_000_000,                       // within seconds of it
        -(90 * 86_400_000_000i64)..=90 * 86_400_000_000, // anywhere within months
    ]
}

fn case() -> impl proptest::strategy::Strategy<Value = Case> {
    use proptest::collection::vec;
    use proptest::prelude::*;
    (
        vec(offset(), 0..25),
        vec((offset(), proptest::option::of(offset())), 0..25),
        vec(offset(), 0..25),
        1i64..7,
        proptest::option::of(1i64..20),
        prop_oneof![
            Just(gpt_deploy::cli::CleanupWalk::Index),
            Just(gpt_deploy::cli::CleanupWalk::Heap),
            Just(gpt_deploy::cli::CleanupWalk::Auto),
        ],
    )
        .prop_map(|(codes, tokens, sessions, batch_size, limit, walk)| Case {
            codes,
            tokens,
            sessions,
            batch_size,
            limit,
            walk,
        })
}

/// Tags (row numbers) of eligible and ineligible rows.
fn split(eligible: impl Iterator<Item = bool>) -> (Vec<String>, Vec<String>) {
    let (mut yes, mut no) = (Vec::new(), Vec::new());
    for (i, e) in eligible.enumerate() {
        let tag = format!("{i:03}");
        if e { yes.push(tag) } else { no.push(tag) }
    }
    (yes, no)
}

async fn run_case(
    db: &TestDb,
    url: &gpt_deploy::runtime::db::DatabaseUrl,
    case: &Case,
) -> Result<(), String> {
    use gpt_deploy::runtime::cleanup::{Settings, run};
    let p = db.pool();
    sqlx::query(
        "truncate gpt_authorization_codes, gpt_refresh_tokens, gpt_sessions, gpt_oauth_events",
    )
    .execute(p)
    .await
    .unwrap();
    let cutoff = as_of() - secs(DAYS_30);
    let at = |us: i64| cutoff + chrono::Duration::microseconds(us);
    for (i, o) in case.codes.iter().enumerate() {
        code(p, &format!("{i:03}"), at(*o)).await;
    }
    for (i, (e, r)) in case.tokens.iter().enumerate() {
        token(p, &format!("{i:03}"), at(*e), r.map(at)).await;
    }
    for (i, o) in case.sessions.iter().enumerate() {
        session(p, &format!("{i:03}"), at(*o)).await;
    }
    event(p, "audit", at(-365 * 86_400_000_000)).await;
    let expected = [
        split(case.codes.iter().map(|o| *o < 0)),
        split(
            case.tokens
                .iter()
                .map(|(e, r)| *e < 0 || r.is_some_and(|r| r < 0)),
        ),
        split(case.sessions.iter().map(|o| *o < 0)),
    ];
    let settings = |limit| Settings {
        retention: Duration::from_secs(DAYS_30 as u64),
        batch_size: case.batch_size,
        limit,
        dry_run: false,
        statement_timeout: Duration::from_secs(60),
        retry_for: Duration::from_secs(10),
        as_of: Some(as_of()),
        walk: case.walk,
    };

    // First run, with the case's limit: only eligible rows go, at most `limit` per table.
    let first = run(url, &settings(case.limit))
        .await
        .map_err(|e| e.to_string())?
        .tables;
    let (codes, tokens, sessions, events) = left(p).await;
    for ((table_left, (eligible, kept)), report) in
        [codes, tokens, sessions].iter().zip(&expected).zip(&first)
    {
        let gone = eligible.len() + kept.len() - table_left.len();
        let cap = case
            .limit
            .map_or(eligible.len(), |l| eligible.len().min(l as usize));
        if gone != cap || report.rows as usize != cap {
            return Err(format!(
                "{}: {gone} rows gone, report says {}, expected {cap}",
                report.table, report.rows
            ));
        }
        if let Some(missing) = kept.iter().find(|k| !table_left.contains(k)) {
            return Err(format!(
                "{}: ineligible row {missing} was deleted",
                report.table
            ));
        }
    }
    if events != ["audit"] {
        return Err("the audit trail was touched".into());
    }

    // Second run without a limit: exactly the ineligible rows are left.
    run(url, &settings(None)).await.map_err(|e| e.to_string())?;
    let (codes, tokens, sessions, events) = left(p).await;
    for (table_left, (_, kept)) in [codes, tokens, sessions].iter().zip(&expected) {
        if table_left != kept {
            return Err(format!("left {table_left:?}, expected exactly {kept:?}"));
        }
    }
    if events != ["audit"] {
        return Err("the audit trail was touched".into());
    }
    Ok(())
}

#[test]
fn property_exactly_the_eligible_rows_are_deleted() {
    use proptest::test_runner::{Config, TestCaseError, TestRunner};
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let db = rt.block_on(support::pg::migrated_database());
    let url = gpt_deploy::runtime::db::DatabaseUrl::parse(&db.url).unwrap();
    let mut runner = TestRunner::new(Config {
        cases: 32,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&case(), |case| {
        rt.block_on(run_case(&db, &url, &case))
            .map_err(TestCaseError::fail)
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    drop(db);
}

/// Regression: with sorts disabled, PostgreSQL's cost estimates pass the JIT
/// threshold and it JIT-compiled even the schema check (150 ms per run).
#[tokio::test]
async fn cleanup_session_never_jit_compiles() {
    let db = support::pg::migrated_database().await;
    let mut conn = db.pool().acquire().await.unwrap();
    for setting in SESSION_SETTINGS {
        sqlx::query(setting).execute(&mut *conn).await.unwrap();
    }
    // A statement with a sort, as the schema check has: disabled, so its cost is huge.
    let plan: Vec<String> = sqlx::query_scalar(
        "explain select t from unnest($1::text[]) as t where to_regclass(t) is null order by t",
    )
    .bind(vec!["gpt_sessions".to_string()])
    .fetch_all(&mut *conn)
    .await
    .unwrap();
    let plan = plan.join("\n");
    assert!(plan.contains("Sort"), "the statement still sorts:\n{plan}");
    assert!(
        !plan.contains("JIT"),
        "the cleanup session JIT-compiles:\n{plan}"
    );
}
