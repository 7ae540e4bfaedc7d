//! `gpt-deploy migrate` against a real PostgreSQL server.

mod support;

use sqlx::Row;

#[tokio::test]
async fn migrations_create_the_four_tables() {
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
}
