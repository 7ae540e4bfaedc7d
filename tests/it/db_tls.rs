//! The database connection over TLS with the server's certificate checked
//! (`sslmode=verify-full`, `DATABASE_CA_FILE`), against a real PostgreSQL server
//! with `ssl=on` and a certificate authority made by the test (openssl CLI).

use crate::support;

use std::path::{Path, PathBuf};
use std::process::Command;

use sqlx::Connection;
use support::bin::{Output, gpt_deploy};

/// A certificate authority and, when `server` is set, a server certificate it signed
/// for `localhost` and 127.0.0.1, all PEM files in `dir`.
struct Pki {
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn make_ca(dir: &Path, name: &str) -> PathBuf {
    let subject = format!("/CN=gpt-deploy test {name}");
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.crt"),
            "-days",
            "2",
            "-subj",
            &subject,
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
    dir.join(format!("{name}.crt"))
}

fn make_pki(dir: &Path) -> Pki {
    let ca = make_ca(dir, "ca");
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=localhost",
        ],
    );
    std::fs::write(
        dir.join("server.ext"),
        "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n\
         extendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "server.ext",
            "-out",
            "server.crt",
        ],
    );
    Pki {
        ca,
        cert: dir.join("server.crt"),
        key: dir.join("server.key"),
    }
}

fn migrate(url: &str, ca: &Path) -> Output {
    gpt_deploy(["migrate"])
        .env("GPT_ENV", "production")
        .env("DATABASE_URL", url)
        .env("DATABASE_CA_FILE", ca.to_str().expect("a UTF-8 path"))
        .env("LOG_FORMAT", "json")
        .run()
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_full_connects_with_the_ca_file_and_refuses_another_ca() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let wrong_ca = make_ca(dir.path(), "other-ca");
    let admin = support::pg::tls_server(&pki.cert, &pki.key);
    let password = admin.password().unwrap().to_string();
    let mut url = admin.clone();
    url.set_query(Some("sslmode=verify-full"));
    let url = url.to_string();

    // migrate: production settings, the server checked against the test CA.
    let out = migrate(&url, &pki.ca);
    let (stdout, stderr) = (out.stdout.clone(), out.stderr.clone());
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(!format!("{stdout}{stderr}").contains(&password));
    let mut conn = sqlx::PgConnection::connect(admin.as_str()).await.unwrap();
    let applied: i64 = sqlx::query_scalar("select count(*) from _sqlx_migrations where success")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(
        applied as usize,
        gpt_deploy::runtime::db::MIGRATOR.iter().count()
    );

    // serve: ready, and its connections are encrypted (the server's own view).
    let ca = pki.ca.to_str().unwrap();
    let server = support::serve::Server::start(&[
        ("CLERK_WEBHOOK_SECRET", support::serve::SECRET),
        ("DATABASE_URL", &url),
        ("DATABASE_CA_FILE", ca),
        ("GPT_ENV", "production"),
    ]);
    let (status, body) = server.wait_ready().await;
    assert_eq!(status, 200, "{body}\n{}", server.logs().join("\n"));
    let encrypted: Vec<(String, bool)> = sqlx::query_as(
        "select a.application_name::text, s.ssl from pg_stat_activity a
         join pg_stat_ssl s using (pid) where a.application_name like 'gpt-deploy%'",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    assert!(!encrypted.is_empty(), "serve holds no connection");
    assert!(encrypted.iter().all(|(_, ssl)| *ssl), "{encrypted:?}");
    let logs = server.stop().join("\n");
    assert!(!logs.contains(&password), "{logs}");
    // Log fields are values, not Rust Debug dumps of internal structs.
    assert!(!logs.contains("Verifier {"), "{logs}");
    assert!(!logs.contains("ServeLimits {"), "{logs}");

    // Another CA: refused, with a message that says what to check.
    let out = migrate(&url, &wrong_ca);
    let stderr = out.stderr.clone();
    let all = format!("{}{stderr}", out.stdout);
    assert_ne!(out.status.code(), Some(0), "{all}");
    assert!(
        all.contains("certificate is not signed by a CA this process trusts"),
        "{all}"
    );
    assert!(all.contains("DATABASE_CA_FILE"), "{all}");
    // Not retried (a refused certificate stays refused), and no driver internals.
    assert!(all.contains("tried once"), "{all}");
    assert!(!all.contains(" at line "), "{all}");
    assert!(!all.contains(&password), "{all}");
    conn.close().await.unwrap();
}
