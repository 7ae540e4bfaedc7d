//! The runtime commands: `serve`, `cleanup`, `migrate`.

use std::time::Instant;

use tokio::net::TcpListener;

use super::db::{self, DatabaseUrl};
use super::{cleanup, serve};
use crate::cli::{CleanupArgs, ServeArgs};

/// `gpt-deploy serve`.
///
/// # Errors
/// Bad configuration (exit 2), the listener cannot bind (exit 2), the server fails (exit 3).
pub async fn cmd_serve(args: &ServeArgs) -> serve::Result<u8> {
    let settings = serve::Settings::from_env(|name| std::env::var(name).ok())?;
    match &settings.verification {
        serve::Verification::Verify(v) => {
            tracing::info!(
                rotating = v.rotating(),
                "svix signature verification enabled"
            );
        }
        serve::Verification::Disabled => tracing::warn!(
            "GPT_ENV=development and CLERK_WEBHOOK_SECRET is not set: webhook signatures are NOT \
             verified; anyone who can reach this server can delete users' tokens"
        ),
    }
    let shutdown = serve::shutdown_signal()?;
    let listener = TcpListener::bind(args.listen)
        .await
        .map_err(|source| serve::Error::Bind {
            addr: args.listen,
            origin: crate::usage::origin("listen"),
            source,
        })?;
    let addr = listener.local_addr().map_err(serve::Error::Serve)?;
    let pool = serve::lazy_pool(
        &settings.database,
        args.database_timeout,
        args.database_statement_timeout,
        args.database_lock_timeout,
    );
    let readiness = serve::ready_pool(&settings.database);
    let limits = serve::Limits::from_args(&args.limits);
    let l = &args.limits;
    tracing::info!(
        addr = %addr,
        database = %settings.database,
        header_read_timeout = %humantime::format_duration(l.header_read_timeout),
        body_read_timeout = %humantime::format_duration(l.body_read_timeout),
        handler_timeout = %humantime::format_duration(l.handler_timeout),
        max_concurrent_requests = l.max_concurrent_requests,
        body_memory_mib = l.body_memory_mib,
        max_connections = l.max_connections,
        "listening"
    );
    let state = serve::AppState::new(
        settings.verification,
        settings.database,
        pool.clone(),
        readiness.clone(),
        limits,
    );
    let connections = serve::Connections {
        header_read_timeout: args.limits.header_read_timeout,
        max_connections: args.limits.max_connections,
        shutdown_delay: args.shutdown_delay,
        shutdown_timeout: args.shutdown_timeout,
    };
    serve::run(listener, state, shutdown, connections).await?;
    // Closing says goodbye to the database; a peer that stopped answering must not keep us alive.
    let close = async { tokio::join!(pool.close(), readiness.close()) };
    if tokio::time::timeout(serve::POOL_CLOSE_TIMEOUT, close)
        .await
        .is_err()
    {
        tracing::warn!("database connections did not close in time; exiting anyway");
    }
    tracing::info!("stopped");
    Ok(crate::exit::OK)
}

/// `gpt-deploy cleanup`.
///
/// # Errors
/// Bad arguments, missing or malformed `DATABASE_URL`, connection or query errors.
pub async fn cmd_cleanup(args: &CleanupArgs) -> cleanup::Result<u8> {
    let settings = cleanup::Settings::from_args(args)?;
    let url = DatabaseUrl::from_env()?;
    let cleanup::Outcome { cutoff, tables } = cleanup::run(&url, &settings).await?;
    for t in &tables {
        println!("{}", t.summary(settings.dry_run));
    }
    println!("gpt_oauth_events: kept (audit trail, never deleted)");
    tracing::info!(%cutoff, "cleanup finished");
    Ok(crate::exit::OK)
}

/// `gpt-deploy migrate`.
///
/// # Errors
/// Missing or malformed `DATABASE_URL`, connection or migration errors.
pub async fn cmd_migrate() -> db::Result<u8> {
    let retry_for = match std::env::var("MIGRATE_RETRY_FOR") {
        Ok(v) => humantime::parse_duration(v.trim()).map_err(|e| db::Error::InvalidRetryFor {
            value: v.clone(),
            reason: e.to_string(),
        })?,
        Err(_) => db::CONNECT_RETRY_FOR,
    };
    let url = DatabaseUrl::from_env()?;
    // PostgreSQL's notices ("relation \"_sqlx_migrations\" already exists, skipping" on
    // every run after the first) say nothing to a person; warnings still come through.
    let options = url
        .connect_options("gpt-deploy migrate")
        .options([("client_min_messages", "warning")]);
    let mut conn = db::connect_one_with(&url, options, retry_for).await?;
    let started = Instant::now();
    let applied = db::apply_pending(&mut conn)
        .await
        .map_err(|e| db::Error::Migrate {
            target: url.redacted().to_string(),
            source: url.cause(&e),
        })?;
    match db::unknown_applied(&mut conn).await {
        Ok(unknown) if !unknown.is_empty() => {
            let versions: Vec<String> = unknown.iter().map(ToString::to_string).collect();
            tracing::warn!(versions = %versions.join(","), "database is ahead of this binary");
            println!(
                "the database has {} this binary does not know (version {}): a newer release applied {}; continuing, as migrations only expand the schema",
                count(unknown.len(), "migration"),
                versions.join(", "),
                if unknown.len() == 1 { "it" } else { "them" }
            );
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %url.cause(&e), "cannot list the applied migrations"),
    }
    let latest = db::MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0);
    tracing::info!(target_db = %url, latest_version = latest, applied = applied.len(), elapsed_ms = started.elapsed().as_millis() as u64, "migrations applied");
    let embedded = count(db::MIGRATOR.iter().count(), "migration");
    if applied.is_empty() {
        println!(
            "{}: already up to date (schema at version {latest}; {embedded} embedded)",
            url.redacted()
        );
    } else {
        let versions: Vec<String> = applied.iter().map(ToString::to_string).collect();
        println!(
            "migrated {}: applied {} (version {}); schema at version {latest} ({embedded} embedded)",
            url.redacted(),
            count(applied.len(), "migration"),
            versions.join(", ")
        );
    }
    Ok(crate::exit::OK)
}

/// `1 migration`, `2 migrations`.
fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}
