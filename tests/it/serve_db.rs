//! `gpt-deploy serve` against a real PostgreSQL server: `user.deleted`
//! processing, idempotency across redeliveries and replicas, database outages (and the
//! readiness changes they log),
//! locked rows (lock and statement timeouts, readiness on its own connection) and
//! graceful shutdown with a delivery in flight.

use crate::support;

use std::time::Duration;

use sqlx::{PgPool, Row};
use support::serve::{SECRET, Server, now};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn deleted_event(user: &str) -> Vec<u8> {
    format!(
        r#"{{"data":{{"deleted":true,"id":"{user}","object":"user"}},"event_attributes":{{"http_request":{{"client_ip":"","user_agent":""}}}},"object":"event","timestamp":1716883200000,"type":"user.deleted"}}"#
    )
    .into_bytes()
}

/// Gives `user` `codes` authorization codes, `tokens` refresh tokens and `sessions` sessions.
async fn seed(pool: &PgPool, user: &str, codes: i32, tokens: i32, sessions: i32) {
    sqlx::query(
        "insert into gpt_authorization_codes (code_hash, clerk_user_id, client_id, redirect_uri, expires_at)
         select $1 || '-code-' || g || '-' || gen_random_uuid(), $1, 'chatgpt', 'https://chat.openai.com/cb', now() + interval '10 minutes'
         from generate_series(1, $2) g",
    )
    .bind(user)
    .bind(codes)
    .execute(pool)
    .await
    .unwrap();
    sqlx::query(
        "insert into gpt_refresh_tokens (token_hash, clerk_user_id, client_id, expires_at)
         select $1 || '-token-' || g || '-' || gen_random_uuid(), $1, 'chatgpt', now() + interval '30 days'
         from generate_series(1, $2) g",
    )
    .bind(user)
    .bind(tokens)
    .execute(pool)
    .await
    .unwrap();
    sqlx::query(
        "insert into gpt_sessions (clerk_user_id, expires_at)
         select $1, now() + interval '1 day' from generate_series(1, $2)",
    )
    .bind(user)
    .bind(sessions)
    .execute(pool)
    .await
    .unwrap();
}

/// (codes, tokens, sessions) still held by `user`.
async fn held(pool: &PgPool, user: &str) -> (i64, i64, i64) {
    let row = sqlx::query(
        "select (select count(*) from gpt_authorization_codes where clerk_user_id = $1),
                (select count(*) from gpt_refresh_tokens where clerk_user_id = $1),
                (select count(*) from gpt_sessions where clerk_user_id = $1)",
    )
    .bind(user)
    .fetch_one(pool)
    .await
    .unwrap();
    (row.get(0), row.get(1), row.get(2))
}

/// Every event row of one svix message: (event_type, clerk_user_id, details).
async fn events(
    pool: &PgPool,
    message_id: &str,
) -> Vec<(String, Option<String>, serde_json::Value)> {
    sqlx::query(
        "select event_type, clerk_user_id, details from gpt_oauth_events
         where svix_message_id = $1 or details ->> 'svix_message_id' = $1",
    )
    .bind(message_id)
    .fetch_all(pool)
    .await
    .unwrap()
    .iter()
    .map(|r| (r.get(0), r.get(1), r.get(2)))
    .collect()
}

async fn event_count(pool: &PgPool) -> i64 {
    sqlx::query_scalar("select count(*) from gpt_oauth_events")
        .fetch_one(pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn user_deleted_removes_that_users_rows_once_and_records_the_counts() {
    let db = support::pg::migrated_database().await;
    let pool = db.pool();
    seed(pool, "user_gone", 2, 1, 3).await;
    seed(pool, "user_stays", 1, 1, 1).await;
    let server = Server::start(&[("CLERK_WEBHOOK_SECRET", SECRET), ("DATABASE_URL", &db.url)]);
    assert_eq!(
        server.wait_ready().await,
        (200, r#"{"status":"ready"}"#.to_owned())
    );

    let body = deleted_event("user_gone");
    let (status, json) = server.deliver(SECRET, "msg_once", now(), &body).await;
    assert_eq!((status, json["status"].as_str()), (200, Some("processed")));
    assert_eq!(held(pool, "user_gone").await, (0, 0, 0));
    assert_eq!(held(pool, "user_stays").await, (1, 1, 1));
    let rows = events(pool, "msg_once").await;
    assert_eq!(rows.len(), 1);
    let (kind, user, details) = &rows[0];
    assert_eq!(kind, "user.deleted");
    assert_eq!(user.as_deref(), Some("user_gone"));
    assert_eq!(details["svix_message_id"], "msg_once");
    assert_eq!(
        details["deleted"],
        serde_json::json!({"authorization_codes": 2, "refresh_tokens": 1, "sessions": 3})
    );

    // Svix redelivers with a fresh timestamp and signature; the message id is what repeats.
    // Rows created since must survive: a redelivery changes nothing.
    seed(pool, "user_gone", 0, 0, 1).await;
    let (status, json) = server.deliver(SECRET, "msg_once", now() + 1, &body).await;
    assert_eq!((status, json["status"].as_str()), (200, Some("duplicate")));
    assert_eq!(held(pool, "user_gone").await, (0, 0, 1));
    assert_eq!(events(pool, "msg_once").await.len(), 1);
    assert_eq!(event_count(pool).await, 1);

    let (_, metrics) = server.get("/metrics").await;
    assert!(
        metrics.contains(r#"gpt_webhook_events_total{type="user.deleted",outcome="processed"} 1"#)
    );
    assert!(
        metrics.contains(r#"gpt_webhook_events_total{type="user.deleted",outcome="duplicate"} 1"#)
    );
    server.stop();
}

#[tokio::test]
async fn rejected_deliveries_write_nothing() {
    let db = support::pg::migrated_database().await;
    let pool = db.pool();
    seed(pool, "user_safe", 1, 1, 1).await;
    let server = Server::start(&[("CLERK_WEBHOOK_SECRET", SECRET), ("DATABASE_URL", &db.url)]);
    let body = deleted_event("user_safe");
    let other = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
    assert_eq!(
        server.deliver(other, "msg_forged", now(), &body).await.0,
        401
    );
    assert_eq!(
        server
            .deliver(SECRET, "msg_stale", now() - 600, &body)
            .await
            .0,
        401
    );
    let (status, _) = server.post(&[("svix-id", "msg_bare")], body.clone()).await;
    assert_eq!(status, 401);
    let mut truncated = body.clone();
    truncated.truncate(body.len() - 3);
    assert_eq!(
        server.deliver(SECRET, "msg_cut", now(), &truncated).await.0,
        400
    );
    assert_eq!(held(pool, "user_safe").await, (1, 1, 1));
    assert_eq!(event_count(pool).await, 0);
    server.stop();
}

#[tokio::test]
async fn user_deleted_without_id_is_acknowledged_and_recorded_as_ignored_once() {
    let db = support::pg::migrated_database().await;
    let pool = db.pool();
    let server = Server::start(&[("CLERK_WEBHOOK_SECRET", SECRET), ("DATABASE_URL", &db.url)]);
    let body =
        br#"{"data":{"deleted":true,"object":"user"},"object":"event","type":"user.deleted"}"#;
    let (status, json) = server.deliver(SECRET, "msg_noid", now(), body).await;
    assert_eq!((status, json["status"].as_str()), (200, Some("ignored")));
    let (status, json) = server.deliver(SECRET, "msg_noid", now(), body).await;
    assert_eq!((status, json["status"].as_str()), (200, Some("duplicate")));
    let rows = events(pool, "msg_noid").await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].0, "user.deleted");
    assert_eq!(rows[0].1, None);
    assert_eq!(rows[0].2["outcome"], "ignored");
    // Other event types are acknowledged without touching the database.
    let (status, _) = server
        .deliver(
            SECRET,
            "msg_created",
            now(),
            br#"{"type":"user.created","data":{"id":"user_new"}}"#,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(event_count(pool).await, 1);
    server.stop();
}

#[tokio::test]
async fn two_replicas_receiving_the_same_message_at_once_record_it_once() {
    let db = support::pg::migrated_database().await;
    let pool = db.pool();
    let env = [
        ("CLERK_WEBHOOK_SECRET", SECRET),
        ("DATABASE_URL", db.url.as_str()),
    ];
    // Generous: each replica opens up to 10 connections at once, and SCRAM
    // authentication is slow in a debug build on a busy machine.
    let args = ["--database-timeout", "30s"];
    let (a, b) = (
        Server::start_with(&env, &args),
        Server::start_with(&env, &args),
    );
    const MESSAGES: usize = 25;
    for i in 0..MESSAGES {
        seed(pool, &format!("user_race_{i}"), 2, 2, 2).await;
    }
    let (a_ref, b_ref) = (&a, &b);
    let mut tasks = Vec::new();
    for i in 0..MESSAGES {
        let body = deleted_event(&format!("user_race_{i}"));
        let id = format!("msg_race_{i}");
        let ts = now();
        // Both replicas get the identical delivery, as when svix retries after a timeout.
        tasks.push(async move {
            let (ra, rb) = tokio::join!(
                a_ref.deliver(SECRET, &id, ts, &body),
                b_ref.deliver(SECRET, &id, ts, &body)
            );
            (ra, rb)
        });
    }
    let results = futures::future::join_all(tasks).await;
    let mut processed = 0;
    for ((sa, ja), (sb, jb)) in &results {
        assert_eq!(
            (*sa, *sb),
            (200, 200),
            "{:#?}",
            a.logs()
                .iter()
                .filter(|l| l.contains("ERROR"))
                .collect::<Vec<_>>()
        );
        let mut outcomes = [
            ja["status"].as_str().unwrap(),
            jb["status"].as_str().unwrap(),
        ];
        outcomes.sort_unstable();
        assert_eq!(outcomes, ["duplicate", "processed"]);
        processed += 1;
    }
    assert_eq!(processed, MESSAGES);
    assert_eq!(event_count(pool).await, MESSAGES as i64);
    for i in 0..MESSAGES {
        assert_eq!(held(pool, &format!("user_race_{i}")).await, (0, 0, 0));
        let rows = events(pool, &format!("msg_race_{i}")).await;
        assert_eq!(rows.len(), 1);
        assert_eq!(
            rows[0].2["deleted"],
            serde_json::json!({"authorization_codes": 2, "refresh_tokens": 2, "sessions": 2})
        );
    }
    a.stop();
    b.stop();
}

/// Forwards every connection on `listener` to `upstream` until the task is aborted.
async fn forward(listener: tokio::net::TcpListener, upstream: String) {
    loop {
        let Ok((mut inbound, _)) = listener.accept().await else {
            return;
        };
        let upstream = upstream.clone();
        tokio::spawn(async move {
            if let Ok(mut outbound) = tokio::net::TcpStream::connect(&upstream).await {
                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
            }
        });
    }
}

// Multi-threaded: the forwarder's tasks must keep running while the test thread
// blocks waiting for the server process to exit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_down_then_up_gives_503_then_success() {
    let db = support::pg::migrated_database().await;
    let pool = db.pool();
    seed(pool, "user_later", 1, 1, 1).await;
    // The server's DATABASE_URL points at a port where nothing listens yet.
    let real = url::Url::parse(&db.url).unwrap();
    let upstream = format!("{}:{}", real.host_str().unwrap(), real.port().unwrap());
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let mut via_proxy = real.clone();
    via_proxy.set_host(Some("127.0.0.1")).unwrap();
    via_proxy.set_port(Some(port)).unwrap();
    let server = Server::start_with(
        &[
            ("CLERK_WEBHOOK_SECRET", SECRET),
            ("DATABASE_URL", via_proxy.as_str()),
        ],
        &["--database-timeout", "1s"],
    );
    let body = deleted_event("user_later");
    let (status, json) = server.deliver(SECRET, "msg_retry", now(), &body).await;
    assert_eq!(
        (status, json["error"].as_str()),
        (503, Some("database unavailable"))
    );
    assert_eq!(server.get("/readyz").await.0, 503);
    assert_eq!(held(pool, "user_later").await, (1, 1, 1));
    assert_eq!(event_count(pool).await, 0);

    // The database comes back on the same address; Clerk's retry succeeds.
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    let proxy = tokio::spawn(forward(listener, upstream));
    let (status, json) = server.deliver(SECRET, "msg_retry", now(), &body).await;
    assert_eq!((status, json["status"].as_str()), (200, Some("processed")));
    assert_eq!(server.wait_ready().await.0, 200);
    assert_eq!(held(pool, "user_later").await, (0, 0, 0));
    assert_eq!(events(pool, "msg_retry").await.len(), 1);
    server.stop();
    proxy.abort();
}

/// The `message` of every JSON log line of `server` that starts with `prefix`.
fn messages(server: &Server, prefix: &str) -> Vec<serde_json::Value> {
    server
        .logs()
        .iter()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["message"].as_str().is_some_and(|m| m.starts_with(prefix)))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_changes_are_logged_once_each_with_their_cause() {
    use sqlx::Connection as _;
    let db = support::pg::migrated_database().await;
    let mut admin_url = url::Url::parse(&db.url).unwrap();
    admin_url.set_path("/postgres");
    let mut admin = sqlx::PgConnection::connect(admin_url.as_str())
        .await
        .unwrap();
    let server = Server::start(&[("CLERK_WEBHOOK_SECRET", SECRET), ("DATABASE_URL", &db.url)]);
    assert_eq!(server.wait_ready().await.0, 200);
    assert_eq!(server.get("/readyz").await.0, 200);
    assert_eq!(messages(&server, "ready (/readyz answers 200)").len(), 1);

    // The database stops accepting connections and drops the ones it had.
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "alter database \"{}\" allow_connections false",
        db.name
    )))
    .execute(&mut admin)
    .await
    .unwrap();
    sqlx::query("select pg_terminate_backend(pid) from pg_stat_activity where datname = $1")
        .bind(&db.name)
        .execute(&mut admin)
        .await
        .unwrap();
    for _ in 0..4 {
        assert_eq!(server.get("/readyz").await.0, 503);
    }
    // The cause is logged by a background connection attempt: wait for it.
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while messages(&server, "not ready").is_empty() && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let unready = messages(&server, "not ready");
    assert_eq!(
        unready.len(),
        1,
        "one line for four failed probes: {unready:?}"
    );
    assert_eq!(unready[0]["level"], "WARN", "{unready:?}");
    assert_eq!(
        unready[0]["message"],
        "not ready (/readyz answers 503): database unreachable"
    );
    assert!(
        unready[0]["error"]
            .as_str()
            .is_some_and(|e| e.contains("is not currently accepting connections")),
        "the cause is PostgreSQL's: {unready:?}"
    );

    // It comes back: one line says so.
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "alter database \"{}\" allow_connections true",
        db.name
    )))
    .execute(&mut admin)
    .await
    .unwrap();
    assert_eq!(server.wait_ready().await.0, 200);
    assert_eq!(server.get("/readyz").await.0, 200);
    let again = messages(&server, "ready again");
    assert_eq!(again.len(), 1, "{:?}", server.logs());
    assert_eq!(again[0]["level"], "INFO");
    assert_eq!(messages(&server, "not ready").len(), 1);
    admin.close().await.unwrap();
    server.stop();
}

#[tokio::test]
async fn sigterm_finishes_the_delivery_in_flight_then_exits() {
    let db = support::pg::migrated_database().await;
    let pool = db.pool();
    seed(pool, "user_inflight", 1, 1, 1).await;
    let mut server = Server::start_with(
        &[("CLERK_WEBHOOK_SECRET", SECRET), ("DATABASE_URL", &db.url)],
        &[
            "--shutdown-delay",
            "1s",
            "--shutdown-timeout",
            "20s",
            // This test holds a lock on purpose; the delivery must wait for it, not give up.
            "--database-lock-timeout",
            "60s",
            "--database-statement-timeout",
            "60s",
            "--handler-timeout",
            "60s",
        ],
    );
    // Hold a lock the delivery needs, so it is provably in flight when SIGTERM arrives.
    let mut blocker = pool.begin().await.unwrap();
    sqlx::query("lock table gpt_sessions in access exclusive mode")
        .execute(&mut *blocker)
        .await
        .unwrap();
    let body = deleted_event("user_inflight");
    let ts = now();
    let sig = support::serve::sign(SECRET, "msg_inflight", ts, &body);
    let request = format!(
        "POST {} HTTP/1.1\r\nhost: {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
         svix-id: msg_inflight\r\nsvix-timestamp: {ts}\r\nsvix-signature: {sig}\r\n\r\n",
        support::serve::WEBHOOK,
        server.addr,
        body.len()
    );
    let mut conn = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    conn.write_all(request.as_bytes()).await.unwrap();
    conn.write_all(&body).await.unwrap();
    // Wait until the delivery's transaction is queued behind our lock.
    let waiting = async {
        loop {
            let n: i64 = sqlx::query_scalar(
                "select count(*) from pg_stat_activity where wait_event_type = 'Lock' and datname = current_database()",
            )
            .fetch_one(pool)
            .await
            .unwrap();
            if n > 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(20), waiting)
        .await
        .expect("delivery never reached the database");

    server.sigterm();
    // During the shutdown delay the server still answers, but is no longer ready.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        server.get("/readyz").await,
        (503, r#"{"error":"shutting down"}"#.to_owned())
    );
    // After the delay the listener is closed while the delivery is still waiting.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert!(
        tokio::net::TcpStream::connect(server.addr).await.is_err(),
        "listener still open"
    );
    assert!(
        server
            .wait_exit_or_running(Duration::from_millis(100))
            .is_none(),
        "exited with a request in flight"
    );

    blocker.rollback().await.unwrap();
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), conn.read_to_end(&mut response))
        .await
        .expect("response")
        .unwrap();
    let response = String::from_utf8_lossy(&response);
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains(r#"{"status":"processed"}"#), "{response}");
    let status = server.wait_exit(Duration::from_secs(20));
    assert!(status.success(), "{status}");
    assert_eq!(held(pool, "user_inflight").await, (0, 0, 0));
    assert_eq!(events(pool, "msg_inflight").await.len(), 1);
}

/// Waits until at least `n` sessions of this database wait for a lock.
async fn lock_waiters(pool: &PgPool, n: i64) {
    let waiting = async {
        loop {
            let waiting: i64 = sqlx::query_scalar(
                "select count(*) from pg_stat_activity where wait_event_type = 'Lock' and datname = current_database()",
            )
            .fetch_one(pool)
            .await
            .unwrap();
            if waiting >= n {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(20), waiting)
        .await
        .expect("no delivery reached the lock");
}

/// A signed delivery sent on its own task: (status, Retry-After, body, time to answer).
fn spawn_delivery(
    server: &Server,
    id: String,
    body: Vec<u8>,
) -> tokio::task::JoinHandle<(u16, Option<String>, String, Duration)> {
    let client = server.client().clone();
    let url = server.url(support::serve::WEBHOOK);
    tokio::spawn(async move {
        let ts = now();
        let sig = support::serve::sign(SECRET, &id, ts, &body);
        let started = std::time::Instant::now();
        let res = client
            .post(url)
            .header("svix-id", &id)
            .header("svix-timestamp", ts.to_string())
            .header("svix-signature", sig)
            .body(body)
            .send()
            .await
            .unwrap();
        let retry_after = res
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_owned());
        let status = res.status().as_u16();
        (
            status,
            retry_after,
            res.text().await.unwrap(),
            started.elapsed(),
        )
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_user_gets_quick_503s_while_other_users_and_readiness_carry_on() {
    let db = support::pg::migrated_database().await;
    let pool = db.pool();
    seed(pool, "user_locked", 1, 2, 1).await;
    seed(pool, "user_free", 1, 1, 1).await;
    // Default lock and statement timeouts; a long wait for a pool connection, so that on a
    // loaded machine a delivery queued behind the others still reaches the lock (and shows
    // that lock_timeout hands the connections back) instead of timing out in the queue.
    let server = Server::start_with(
        &[("CLERK_WEBHOOK_SECRET", SECRET), ("DATABASE_URL", &db.url)],
        &["--database-timeout", "15s"],
    );
    // Open the pool's connections first (a steady-state server has them): this test is about
    // locks, not about how fast this machine opens ten connections.
    let warm: Vec<_> = (0..10)
        .map(|i| spawn_delivery(&server, format!("msg_warm_{i}"), deleted_event("user_none")))
        .collect();
    for task in warm {
        assert_eq!(task.await.unwrap().0, 200);
    }
    // Likewise the readiness probe's own connection (the kubelet probes every few seconds).
    assert_eq!(server.wait_ready().await.0, 200);
    // A real row lock on the locked user's refresh tokens, held for the whole test.
    let mut blocker = pool.begin().await.unwrap();
    sqlx::query("select 1 from gpt_refresh_tokens where clerk_user_id = 'user_locked' for update")
        .execute(&mut *blocker)
        .await
        .unwrap();

    // More deliveries for the locked user than the pool has connections (10).
    let locked = deleted_event("user_locked");
    let tasks: Vec<_> = (0..14)
        .map(|i| spawn_delivery(&server, format!("msg_locked_{i}"), locked.clone()))
        .collect();
    lock_waiters(pool, 1).await;
    // While those wait on the lock: another user's delivery and the readiness probe succeed.
    let (status, json) = server
        .deliver(SECRET, "msg_free", now(), &deleted_event("user_free"))
        .await;
    assert_eq!((status, json["status"].as_str()), (200, Some("processed")));
    assert_eq!(held(pool, "user_free").await, (0, 0, 0));
    let (status, text) = server.get("/readyz").await;
    assert_eq!((status, text.as_str()), (200, r#"{"status":"ready"}"#));

    for task in tasks {
        let (status, retry_after, text, elapsed) = task.await.unwrap();
        assert_eq!(status, 503, "{text}");
        assert_eq!(retry_after.as_deref(), Some("5"));
        // Mostly the lock timeout (1 s); on a loaded machine a delivery queued behind the others
        // for the same rows can reach the statement timeout (2 s) first. Both answer at once,
        // commit nothing and hand the connection back.
        assert!(
            [
                r#"{"error":"the user's rows are locked; retry later"}"#,
                r#"{"error":"database statement timed out"}"#
            ]
            .contains(&text.as_str()),
            "{text}\n{}",
            server.logs().join("\n")
        );
        // lock_timeout is 1 s; even queued behind the other deliveries for a connection, each
        // answer comes long before the ~40 s a held lock used to cost.
        assert!(
            elapsed < Duration::from_secs(15),
            "answered after {elapsed:?}"
        );
    }
    // Nothing of the locked user's deliveries was committed, so Clerk's retry will work.
    assert_eq!(held(pool, "user_locked").await, (1, 2, 1));
    assert!(events(pool, "msg_locked_0").await.is_empty());
    let (_, metrics) = server.get("/metrics").await;
    let shed = |reason: &str| {
        metrics
            .lines()
            .find_map(|l| {
                l.strip_prefix(&format!("gpt_webhook_shed_total{{reason=\"{reason}\"}} "))
            })
            .map_or(0, |n| n.parse::<u64>().unwrap())
    };
    assert!(shed("database_lock") >= 1, "{metrics}");
    assert_eq!(
        shed("database_lock") + shed("database_timeout"),
        14,
        "{metrics}"
    );

    blocker.rollback().await.unwrap();
    let (status, json) = server.deliver(SECRET, "msg_locked_0", now(), &locked).await;
    assert_eq!((status, json["status"].as_str()), (200, Some("processed")));
    assert_eq!(held(pool, "user_locked").await, (0, 0, 0));
    server.stop();
}

#[tokio::test]
async fn a_delivery_past_the_handler_timeout_gets_503_and_commits_nothing() {
    let db = support::pg::migrated_database().await;
    let pool = db.pool();
    seed(pool, "user_slow", 1, 1, 1).await;
    let server = Server::start_with(
        &[("CLERK_WEBHOOK_SECRET", SECRET), ("DATABASE_URL", &db.url)],
        &[
            "--handler-timeout",
            "1s",
            "--database-lock-timeout",
            "60s",
            "--database-statement-timeout",
            "60s",
        ],
    );
    let mut blocker = pool.begin().await.unwrap();
    sqlx::query("lock table gpt_sessions in access exclusive mode")
        .execute(&mut *blocker)
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let (status, json) = server
        .deliver(SECRET, "msg_slow", now(), &deleted_event("user_slow"))
        .await;
    let elapsed = started.elapsed();
    assert_eq!(
        (status, json["error"].as_str()),
        (503, Some("delivery not handled in time"))
    );
    assert!(
        elapsed < Duration::from_secs(10),
        "answered after {elapsed:?}"
    );
    blocker.rollback().await.unwrap();
    assert_eq!(held(pool, "user_slow").await, (1, 1, 1));
    // The abandoned transaction was rolled back: the retry is processed, once.
    let mut status = 0;
    for _ in 0..50 {
        status = server
            .deliver(SECRET, "msg_slow", now(), &deleted_event("user_slow"))
            .await
            .0;
        if status == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, 200);
    assert_eq!(held(pool, "user_slow").await, (0, 0, 0));
    assert_eq!(events(pool, "msg_slow").await.len(), 1);
    server.stop();
}
