//! A real, throwaway PostgreSQL server for integration tests, one fresh database per test.
//!
//! ```ignore
//! let db = support::pg::database().await;          // empty database
//! let db = support::pg::migrated_database().await; // with the embedded migrations applied
//! sqlx::query("select 1").execute(db.pool()).await.unwrap();
//! run_binary_with_env("DATABASE_URL", &db.url);
//! ```
//!
//! Server: when `GPT_DEPLOY_TEST_DATABASE_URL` (a superuser URL) is set, that
//! server is used. Otherwise each test process starts its own server (initdb +
//! pg_ctl in a temporary directory, a free loopback port, fsync off, password
//! authentication) the first time a test asks for a database; all tests of the
//! process share it. When running as root the server runs as the `postgres`
//! user, since PostgreSQL refuses to run as root.
//!
//! No server outlives its test process: a detached watchdog stops the server
//! and deletes its directory as soon as the process exits, however it exits
//! (a crash or `kill -9` included). Each directory also records its owner's
//! pid, and every start first removes servers whose owner is gone, in case a
//! watchdog was killed too.
//!
//! Each `TestDb` drops its database when it goes out of scope (also on panic).
//!
//! [`database_for_pods`] gives a database on a second server of the process that
//! also listens on the real test node's bridge address and admits its pod
//! subnet, for pods that connect to it.
//!
//! [`tls_server`] starts a server of its own with `ssl=on` and the caller's
//! certificate and key (for tests of certificate verification).

use std::fs::File;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use sqlx::postgres::{PgConnection, PgPool, PgPoolOptions};
use sqlx::{AssertSqlSafe, Connection, Executor};

/// Prefix of every test database name and server directory.
const PREFIX: &str = "gptdeploy_test_";
const DIR_PREFIX: &str = "gpt-deploy-pg-";

/// The server all tests of this process use.
struct Server {
    /// Superuser URL of the `postgres` database.
    admin_url: url::Url,
}

static SERVER: OnceLock<Server> = OnceLock::new();
static POD_SERVER: OnceLock<Server> = OnceLock::new();

fn server() -> &'static Server {
    SERVER.get_or_init(|| {
        if let Ok(raw) = std::env::var("GPT_DEPLOY_TEST_DATABASE_URL") {
            let admin_url = url::Url::parse(&raw)
                .expect("GPT_DEPLOY_TEST_DATABASE_URL is not a valid postgres:// URL");
            return Server { admin_url };
        }
        start_local(None, None)
            .unwrap_or_else(|e| panic!("cannot start a throwaway PostgreSQL server: {e}"))
    })
}

/// A fresh database on the shared test server, dropped when this value is dropped.
pub struct TestDb {
    /// `postgres://` URL of this database (superuser credentials).
    pub url: String,
    /// The database name.
    pub name: String,
    pool: PgPool,
    admin_url: String,
}

impl TestDb {
    /// A pool connected to this database (the superuser).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The URL of this database for another role.
    pub fn url_for(&self, user: &str, password: &str) -> String {
        let mut url = url::Url::parse(&self.url).expect("test database URL");
        url.set_username(user).expect("set user");
        url.set_password(Some(password)).expect("set password");
        url.to_string()
    }

    /// Creates a login role owning this database's `public` schema objects'
    /// privileges, with `password`; returns its URL. The role is dropped with the database.
    pub async fn login_role(&self, password: &str) -> String {
        let role = format!("{}_app", self.name);
        let escaped = password.replace('\'', "''");
        let sql = format!(
            "create role \"{role}\" login password '{escaped}';
             grant all on database \"{db}\" to \"{role}\";
             grant all on schema public to \"{role}\";
             grant all on all tables in schema public to \"{role}\";
             grant all on all sequences in schema public to \"{role}\";",
            db = self.name
        );
        self.pool
            .execute(sqlx::raw_sql(AssertSqlSafe(sql)))
            .await
            .expect("create login role");
        self.url_for(&role, password)
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let admin = self.admin_url.clone();
        let name = self.name.clone();
        // Drop runs inside the test's async runtime, where blocking on another
        // future is not allowed; a short-lived thread with its own runtime is.
        let joined = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let mut conn = PgConnection::connect(&admin).await?;
                conn.execute(sqlx::raw_sql(AssertSqlSafe(format!(
                    "drop database if exists \"{name}\" with (force)"
                ))))
                .await?;
                conn.execute(sqlx::raw_sql(AssertSqlSafe(format!(
                    "drop role if exists \"{name}_app\""
                ))))
                .await?;
                conn.close().await
            })
        })
        .join();
        if let Ok(Err(e)) = joined {
            eprintln!("warning: could not drop test database {}: {e}", self.name);
        }
    }
}

/// A fresh, empty database.
pub async fn database() -> TestDb {
    database_on(server()).await
}

/// A fresh, empty database on a server that also listens on `listen` (the real
/// test node's bridge address) and accepts password logins from `subnet` (its
/// pod network, CIDR notation). Started once per process, beside the loopback one.
pub async fn database_for_pods(listen: std::net::IpAddr, subnet: &str) -> TestDb {
    let server = POD_SERVER.get_or_init(|| {
        start_local(Some((listen, subnet)), None).unwrap_or_else(|e| {
            panic!("cannot start a PostgreSQL server for the real node's pods: {e}")
        })
    });
    database_on(server).await
}

async fn database_on(server: &Server) -> TestDb {
    let name = format!("{PREFIX}{}", uuid::Uuid::new_v4().simple());
    let mut admin = PgConnection::connect(server.admin_url.as_str())
        .await
        .expect("connect to the test server as superuser");
    admin
        .execute(sqlx::raw_sql(AssertSqlSafe(format!(
            "create database \"{name}\""
        ))))
        .await
        .expect("create test database");
    let _ = admin.close().await;
    let mut url = server.admin_url.clone();
    url.set_path(&name);
    let pool = PgPoolOptions::new()
        .max_connections(5)
        .acquire_timeout(Duration::from_secs(30))
        .connect(url.as_str())
        .await
        .expect("connect to the test database");
    TestDb {
        url: url.to_string(),
        name,
        pool,
        admin_url: server.admin_url.to_string(),
    }
}

/// A server of its own (not shared with other tests) that speaks TLS with the PEM
/// certificate chain `cert` and private key `key`; returns its superuser URL (host
/// `localhost`, no `sslmode`). It stops with the test process.
///
/// # Panics
/// When the server cannot be started (its log is in the message).
pub fn tls_server(cert: &Path, key: &Path) -> url::Url {
    let mut url = start_local(None, Some((cert, key)))
        .unwrap_or_else(|e| panic!("cannot start a PostgreSQL server with TLS: {e}"))
        .admin_url;
    url.set_host(Some("localhost")).expect("set host");
    url
}

/// A fresh database with the embedded migrations applied.
pub async fn migrated_database() -> TestDb {
    let db = database().await;
    gpt_deploy::runtime::db::migrate(db.pool())
        .await
        .expect("apply migrations to the test database");
    db
}

/// The directory holding PostgreSQL's server programs.
fn bin_dir() -> Result<PathBuf, String> {
    if let Ok(dir) = std::env::var("GPT_DEPLOY_PG_BIN") {
        return Ok(PathBuf::from(dir));
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((v, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Ok(bin);
    }
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output() {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if dir.join("initdb").exists() {
            return Ok(dir);
        }
    }
    Err("PostgreSQL server programs (initdb, pg_ctl) not found; run tests/support/ensure-postgres.sh or set GPT_DEPLOY_PG_BIN".into())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// A command for a PostgreSQL program, run as `postgres` when we are root.
fn pg_command(bin: &Path, program: &str) -> Command {
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(bin.join(program));
        c
    } else {
        Command::new(bin.join(program))
    }
}

fn chown_to_postgres(path: &Path) -> Result<(), String> {
    if !is_root() {
        return Ok(());
    }
    let id = |flag: &str| -> Result<u32, String> {
        let out = Command::new("id")
            .args([flag, "postgres"])
            .output()
            .map_err(|e| format!("id {flag} postgres: {e}"))?;
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .map_err(|_| "there is no `postgres` user to run the server as; install PostgreSQL with tests/support/ensure-postgres.sh".to_string())
    };
    std::os::unix::fs::chown(path, Some(id("-u")?), Some(id("-g")?))
        .map_err(|e| format!("chown {}: {e}", path.display()))
}

fn free_port() -> Result<u16, String> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(l.local_addr().map_err(|e| e.to_string())?.port())
}

/// Stops and removes servers left by test processes that no longer exist.
fn sweep_stale(bin: &Path) {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        if !name.to_string_lossy().starts_with(DIR_PREFIX) {
            continue;
        }
        let dir = entry.path();
        let Ok(owner) = std::fs::read_to_string(dir.join("owner.pid")) else {
            continue;
        };
        if Path::new(&format!("/proc/{}", owner.trim())).exists() {
            continue;
        }
        let _ = pg_command(bin, "pg_ctl")
            .arg("-D")
            .arg(dir.join("data"))
            .args(["stop", "-m", "immediate", "-w"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// Starts a server on loopback; with `pods`, also on that address, admitting that subnet;
/// with `tls` (certificate chain, key), with `ssl=on`.
fn start_local(
    pods: Option<(std::net::IpAddr, &str)>,
    tls: Option<(&Path, &Path)>,
) -> Result<Server, String> {
    let bin = bin_dir()?;
    sweep_stale(&bin);
    let dir = tempfile::Builder::new()
        .prefix(DIR_PREFIX)
        .tempdir()
        .map_err(|e| format!("create a temporary directory: {e}"))?
        .keep();
    std::fs::write(dir.join("owner.pid"), std::process::id().to_string())
        .map_err(|e| e.to_string())?;
    chown_to_postgres(&dir)?;
    let password = format!("pg-{}", uuid::Uuid::new_v4().simple());
    let pwfile = dir.join("pwfile");
    std::fs::write(&pwfile, &password).map_err(|e| e.to_string())?;
    chown_to_postgres(&pwfile)?;
    let data = dir.join("data");

    // The watchdog first, so that even a failed start is cleaned up.
    let data_arg = data.display().to_string();
    let pg_ctl = bin.join("pg_ctl").display().to_string();
    let run_as = if is_root() {
        "runuser -u postgres -- "
    } else {
        ""
    };
    Command::new("sh")
        .arg("-c")
        .arg(format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 0.5; done; \
             {run_as}'{pg_ctl}' -D '{data_arg}' stop -m immediate -w; rm -rf '{dir}'",
            pid = std::process::id(),
            dir = dir.display()
        ))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .map_err(|e| format!("start the server watchdog: {e}"))?;

    let out = pg_command(&bin, "initdb")
        .arg("-D")
        .arg(&data)
        .args([
            "-U",
            "postgres",
            "--auth=scram-sha-256",
            "-N",
            "-E",
            "UTF8",
            "--locale=C",
        ])
        .arg(format!("--pwfile={}", pwfile.display()))
        .output()
        .map_err(|e| format!("run initdb: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "initdb failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let mut listen = "127.0.0.1".to_string();
    if let Some((address, subnet)) = pods {
        listen = format!("127.0.0.1,{address}");
        let hba = data.join("pg_hba.conf");
        let mut rules = std::fs::read_to_string(&hba).map_err(|e| e.to_string())?;
        rules.push_str(&format!("host all all {subnet} scram-sha-256\n"));
        std::fs::write(&hba, rules).map_err(|e| e.to_string())?;
    }
    let mut ssl = String::new();
    if let Some((cert, key)) = tls {
        // The server refuses a key that others can read; both files must be its own.
        for (from, name, mode) in [(cert, "server.crt", 0o644), (key, "server.key", 0o600)] {
            let to = dir.join(name);
            std::fs::copy(from, &to).map_err(|e| format!("copy {}: {e}", from.display()))?;
            std::fs::set_permissions(&to, std::os::unix::fs::PermissionsExt::from_mode(mode))
                .map_err(|e| e.to_string())?;
            chown_to_postgres(&to)?;
        }
        ssl = format!(
            " -c ssl=on -c ssl_cert_file={dir}/server.crt -c ssl_key_file={dir}/server.key",
            dir = dir.display()
        );
    }

    let mut last_error = String::new();
    for _ in 0..5 {
        let port = free_port()?;
        let ctl_log = dir.join("pg_ctl.out");
        let ctl_out = File::create(&ctl_log).map_err(|e| e.to_string())?;
        let status = pg_command(&bin, "pg_ctl")
            .arg("-D")
            .arg(&data)
            .arg("-l")
            .arg(dir.join("server.log"))
            .args(["-w", "-t", "120", "-o"])
            .arg(format!(
                "-p {port} -h {listen} -k {dir} -c fsync=off -c synchronous_commit=off \
                 -c full_page_writes=off -c max_connections=300 -c shared_buffers=64MB{ssl}",
                dir = dir.display()
            ))
            .arg("start")
            .stdin(Stdio::null())
            .stdout(ctl_out.try_clone().map_err(|e| e.to_string())?)
            .stderr(ctl_out)
            .process_group(0)
            .status()
            .map_err(|e| format!("run pg_ctl: {e}"))?;
        if status.success() {
            let admin_url = url::Url::parse(&format!(
                "postgres://postgres:{password}@127.0.0.1:{port}/postgres"
            ))
            .map_err(|e| e.to_string())?;
            return Ok(Server { admin_url });
        }
        last_error = format!(
            "{}\n{}",
            std::fs::read_to_string(&ctl_log).unwrap_or_default(),
            std::fs::read_to_string(dir.join("server.log")).unwrap_or_default()
        );
    }
    Err(format!("pg_ctl start failed 5 times: {last_error}"))
}
