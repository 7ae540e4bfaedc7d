//! `gpt-deploy migrate` against a real PostgreSQL server: the schema, running
//! twice (also at the same time; the second says "already up to date"), edited migrations,
//! bad input, redaction.

use crate::support;

use sqlx::Row;
use support::bin::{Bin, Output, gpt_deploy};

fn migrate_cmd(url: Option<&str>) -> Bin {
    let cmd = gpt_deploy(["migrate"])
        .env("LOG_FORMAT", "json")
        .env("RUST_LOG", "info");
    match url {
        Some(url) => cmd.env("DATABASE_URL", url),
        None => cmd,
    }
}

fn text(o: &Output) -> (String, String) {
    (o.stdout.clone(), o.stderr.clone())
}

async fn applied(pool: &sqlx::PgPool) -> Vec<(i64, bool)> {
    sqlx::query_as("select version, success from _sqlx_migrations order by version")
        .fetch_all(pool)
        .await
        .unwrap()
}

fn embedded() -> Vec<(i64, bool)> {
    gpt_deploy::runtime::db::MIGRATOR
        .iter()
        .map(|m| (m.version, true))
        .collect()
}

#[tokio::test]
async fn migrations_create_the_four_tables_and_their_indexes() {
    let db = support::pg::database().await;
    gpt_deploy::runtime::db::migrate(db.pool()).await.unwrap();
    let tables: Vec<String> = sqlx::query(
        "select table_name::text from information_schema.tables
         where table_schema = 'public' and table_name like 'gpt_%' order by 1",
    )
    .fetch_all(db.pool())
    .await
    .unwrap()
    .iter()
    .map(|r| r.get(0))
    .collect();
    assert_eq!(
        tables,
        [
            "gpt_authorization_codes",
            "gpt_oauth_events",
            "gpt_refresh_tokens",
            "gpt_sessions"
        ]
    );
    let indexes: Vec<String> = sqlx::query_scalar(
        "select indexname::text from pg_indexes where schemaname = 'public' and indexname like '%_idx' order by 1",
    )
    .fetch_all(db.pool())
    .await
    .unwrap();
    assert_eq!(
        indexes,
        [
            "gpt_authorization_codes_clerk_user_id_idx",
            "gpt_authorization_codes_expires_at_idx",
            "gpt_oauth_events_clerk_user_id_idx",
            "gpt_refresh_tokens_clerk_user_id_idx",
            "gpt_refresh_tokens_expires_at_idx",
            "gpt_refresh_tokens_revoked_at_idx",
            "gpt_sessions_clerk_user_id_idx",
            "gpt_sessions_expires_at_idx",
        ]
    );
    let partial: String = sqlx::query_scalar(
        "select indexdef from pg_indexes where indexname = 'gpt_refresh_tokens_revoked_at_idx'",
    )
    .fetch_one(db.pool())
    .await
    .unwrap();
    assert!(
        partial.ends_with("WHERE (revoked_at IS NOT NULL)"),
        "{partial}"
    );
}

#[tokio::test]
async fn each_svix_message_is_recorded_once() {
    let db = support::pg::migrated_database().await;
    let insert = "insert into gpt_oauth_events (event_type, clerk_user_id, svix_message_id)
                  values ('user.deleted', 'user_1', $1) on conflict (svix_message_id) do nothing";
    for id in [Some("msg_1"), Some("msg_1"), Some("msg_2"), None, None] {
        sqlx::query(insert)
            .bind(id)
            .execute(db.pool())
            .await
            .unwrap();
    }
    let n: i64 = sqlx::query_scalar("select count(*) from gpt_oauth_events")
        .fetch_one(db.pool())
        .await
        .unwrap();
    assert_eq!(
        n, 4,
        "msg_1 once, msg_2 once, both events without a message id"
    );
}

#[tokio::test]
async fn migrate_twice_at_the_same_time_and_again() {
    let db = support::pg::database().await;
    let (a, b) = tokio::join!(
        migrate_cmd(Some(&db.url)).output(),
        migrate_cmd(Some(&db.url)).output()
    );
    for o in [a, b] {
        let (out, err) = text(&o);
        assert_eq!(o.status.code(), Some(0), "{out}\n{err}");
        assert!(out.contains("schema at version"), "{out}");
    }
    assert_eq!(applied(db.pool()).await, embedded());
    let o = migrate_cmd(Some(&db.url)).output().await;
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
    assert_eq!(applied(db.pool()).await, embedded());
}

#[tokio::test]
async fn a_second_migrate_says_already_up_to_date_and_nothing_else() {
    let db = support::pg::database().await;
    let o = migrate_cmd(Some(&db.url)).output().await;
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}\n{err}");
    let n = embedded().len();
    let versions: Vec<String> = embedded().iter().map(|(v, _)| v.to_string()).collect();
    assert!(
        out.contains(&format!(
            ": applied {n} migration{} (version {}); schema at version",
            if n == 1 { "" } else { "s" },
            versions.join(", ")
        )),
        "{out}"
    );
    let o = migrate_cmd(Some(&db.url)).output().await;
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}\n{err}");
    assert!(
        out.contains(": already up to date (schema at version"),
        "{out}"
    );
    assert!(!out.contains("applied"), "{out}");
    // PostgreSQL's notice about the existing migrations table is not passed on.
    for stream in [&out, &err] {
        assert!(!stream.contains("_sqlx_migrations"), "{stream}");
        assert!(!stream.contains("already exists, skipping"), "{stream}");
    }
    assert_eq!(applied(db.pool()).await, embedded());
}

#[tokio::test]
async fn an_edited_migration_is_refused() {
    let db = support::pg::migrated_database().await;
    sqlx::query("update _sqlx_migrations set checksum = '\\x00'")
        .execute(db.pool())
        .await
        .unwrap();
    let o = migrate_cmd(Some(&db.url)).output().await;
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(3), "{err}");
    assert!(err.contains("applying the embedded migrations"), "{err}");
    assert!(
        err.contains("was previously applied but has been modified"),
        "{err}"
    );
}

#[tokio::test]
async fn missing_or_malformed_database_url() {
    let o = migrate_cmd(None).output().await;
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o).1.contains("DATABASE_URL is not set"),
        "{:?}",
        text(&o)
    );
    let o = migrate_cmd(Some("http://u:pw-sentinel-3@db/x"))
        .output()
        .await;
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        err.contains("DATABASE_URL is not a valid PostgreSQL URL"),
        "{err}"
    );
    assert!(!format!("{out}{err}").contains("pw-sentinel"), "{err}");
    let o = migrate_cmd(Some("postgres://u@db/x"))
        .env("MIGRATE_RETRY_FOR", "soon")
        .output()
        .await;
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o)
            .1
            .contains("MIGRATE_RETRY_FOR \"soon\" is not a duration"),
        "{:?}",
        text(&o)
    );
}

#[tokio::test]
async fn the_password_never_appears_and_refused_connections_are_retried() {
    const SENTINEL: &str = "Sentinel-pw-migrate-42";
    let db = support::pg::database().await;
    let url = db.login_role(SENTINEL).await;
    let o = migrate_cmd(Some(&url))
        .env("RUST_LOG", "trace")
        .output()
        .await;
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(out.contains(":****@"), "{out}");
    assert!(!format!("{out}{err}").contains("Sentinel"), "{out}\n{err}");
    assert_eq!(applied(db.pool()).await, embedded());

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let o = migrate_cmd(Some(&format!(
        "postgres://app:{SENTINEL}@127.0.0.1:{port}/db"
    )))
    .env("MIGRATE_RETRY_FOR", "1s")
    .output()
    .await;
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(3), "{err}");
    assert!(
        err.contains("cannot connect to the database at postgres://app:****@127.0.0.1"),
        "{err}"
    );
    assert!(err.contains("retrying"), "{err}");
    assert!(!format!("{out}{err}").contains("Sentinel"), "{out}\n{err}");
}

/// `url` with its userinfo password moved to the `password=` query parameter.
fn query_password_form(url: &str) -> String {
    let mut parsed = url::Url::parse(url).unwrap();
    let password = parsed.password().unwrap().to_owned();
    parsed.set_password(None).unwrap();
    parsed.query_pairs_mut().append_pair("password", &password);
    parsed.to_string()
}

#[tokio::test]
async fn a_password_in_the_query_never_appears_in_migrate_serve_or_cleanup_output() {
    const SENTINEL: &str = "Sentinel-query-pw-7";
    let db = support::pg::database().await;
    let url = query_password_form(&db.login_role(SENTINEL).await);
    assert!(url.contains("?password=Sentinel"), "{url}");

    let o = migrate_cmd(Some(&url))
        .env("RUST_LOG", "trace")
        .output()
        .await;
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(out.contains("password=****"), "{out}");
    assert!(!format!("{out}{err}").contains("Sentinel"), "{out}\n{err}");
    assert_eq!(applied(db.pool()).await, embedded());

    // The same URL in serve's "listening" line and in cleanup's log.
    let server = support::serve::Server::start(&[
        ("CLERK_WEBHOOK_SECRET", support::serve::SECRET),
        ("DATABASE_URL", &url),
    ]);
    assert_eq!(
        server.wait_ready().await.0,
        200,
        "the query password was not used"
    );
    let logs = server.stop().join("\n");
    assert!(logs.contains("password=****"), "{logs}");
    assert!(!logs.contains("Sentinel"), "{logs}");

    let o = gpt_deploy(["cleanup", "--dry-run"])
        .env("DATABASE_URL", &url)
        .env("LOG_FORMAT", "json")
        .env("RUST_LOG", "debug")
        .output()
        .await;
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}\n{err}");
    assert!(
        format!("{out}{err}").contains("password=****"),
        "{out}\n{err}"
    );
    assert!(!format!("{out}{err}").contains("Sentinel"), "{out}\n{err}");
}

#[tokio::test]
async fn misspelt_and_unsupported_parameters_are_refused_without_their_values() {
    for (url, needle) in [
        (
            "postgres://app@127.0.0.1:1/db?pasword=Sentinel-typo",
            "unknown parameter `pasword` (did you mean `password`?)",
        ),
        (
            "postgres://app@127.0.0.1:1/db?sslpassword=Sentinel-sslpw",
            "the parameter `sslpassword` is not supported",
        ),
        (
            "postgres://app@127.0.0.1:1/db?passfile=/run/Sentinel-file",
            "the parameter `passfile` is not supported",
        ),
    ] {
        let o = migrate_cmd(Some(url)).output().await;
        let (out, err) = text(&o);
        assert_eq!(o.status.code(), Some(2), "{url}: {err}");
        assert!(err.contains(needle), "{url}: {err}");
        assert!(!format!("{out}{err}").contains("Sentinel"), "{out}\n{err}");
        let exit = support::serve::start_fails(&[
            ("CLERK_WEBHOOK_SECRET", support::serve::SECRET),
            ("DATABASE_URL", url),
        ]);
        assert_eq!(exit.status.code(), Some(2), "{}", exit.stderr);
        assert!(exit.stderr.contains(needle), "{}", exit.stderr);
        assert!(!exit.stderr.contains("Sentinel"), "{}", exit.stderr);
    }
}

#[tokio::test]
async fn production_refuses_a_database_connection_that_does_not_verify_the_server() {
    for (mode, shown) in [
        ("", "prefer"),
        ("?sslmode=require", "require"),
        ("?sslmode=verify-ca", "verify-ca"),
    ] {
        let url = format!("postgres://app:Sentinel-tls@127.0.0.1:1/db{mode}");
        for env in ["production", "staging"] {
            let o = migrate_cmd(Some(&url)).env("GPT_ENV", env).output().await;
            let (out, err) = text(&o);
            assert_eq!(o.status.code(), Some(2), "{err}");
            assert!(
                err.contains(&format!(
                    "GPT_ENV={env} needs a database connection that checks the server's certificate"
                )),
                "{err}"
            );
            assert!(err.contains(&format!("sslmode={shown}")), "{err}");
            assert!(!format!("{out}{err}").contains("Sentinel"), "{out}\n{err}");
            let exit = support::serve::start_fails(&[
                ("CLERK_WEBHOOK_SECRET", support::serve::SECRET),
                ("DATABASE_URL", &url),
                ("GPT_ENV", env),
            ]);
            assert_eq!(exit.status.code(), Some(2), "{}", exit.stderr);
            assert!(
                exit.stderr.contains("sslmode=verify-full"),
                "{}",
                exit.stderr
            );
        }
    }
    // The explicit override starts (and says loudly what it gives up).
    let server = support::serve::Server::start(&[
        ("CLERK_WEBHOOK_SECRET", support::serve::SECRET),
        (
            "DATABASE_URL",
            "postgres://app:pw@127.0.0.1:1/db?sslmode=require",
        ),
        ("GPT_ENV", "production"),
        ("DATABASE_TLS", "insecure-allow"),
    ]);
    let logs = server.stop().join("\n");
    assert!(
        logs.contains("the database server's certificate is NOT checked"),
        "{logs}"
    );
}

#[tokio::test]
async fn an_older_binary_migrates_against_a_schema_a_newer_release_expanded() {
    let db = support::pg::database().await;
    let o = migrate_cmd(Some(&db.url)).output().await;
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
    // A newer release applied one more (expanding) migration this binary does not embed.
    let newer = embedded().last().unwrap().0 + 1;
    sqlx::query("create table gpt_added_by_a_newer_release (id bigint primary key)")
        .execute(db.pool())
        .await
        .unwrap();
    sqlx::query(
        "insert into _sqlx_migrations (version, description, success, checksum, execution_time)
         values ($1, 'added by a newer release', true, '\\x00'::bytea, 1)",
    )
    .bind(newer)
    .execute(db.pool())
    .await
    .unwrap();
    let o = migrate_cmd(Some(&db.url)).output().await;
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}\n{err}");
    assert!(
        out.contains(&format!(
            "the database has 1 migration this binary does not know (version {newer}): a newer release applied it"
        )),
        "{out}"
    );
    assert!(out.contains("schema at version"), "{out}");
    // The library path `serve` and `cleanup` take accepts it too.
    gpt_deploy::runtime::db::migrate(db.pool()).await.unwrap();
    let mut expected = embedded();
    expected.push((newer, true));
    assert_eq!(applied(db.pool()).await, expected);
}

#[tokio::test]
async fn an_unknown_log_format_is_an_error() {
    let o = migrate_cmd(Some("postgres://app:Sentinel-fmt@127.0.0.1:1/db"))
        .env("LOG_FORMAT", "xml")
        .output()
        .await;
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}\n{err}");
    assert!(
        err.contains("LOG_FORMAT=\"xml\" is not understood"),
        "{err}"
    );
    assert!(!format!("{out}{err}").contains("Sentinel"), "{out}\n{err}");
}
