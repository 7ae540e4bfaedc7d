//! The optimised binary that goes into the image runs every face it is shipped for:
//! `--version`, `render` on its embedded configuration from an empty directory, and
//! the runtime subcommands (`migrate`, `cleanup --dry-run`, `serve`) against a real
//! PostgreSQL database.
//!
//! The binary is `GPT_DEPLOY_RELEASE_BIN` when set (scripts/test.sh builds it first),
//! otherwise this test builds it with `cargo build --release`.

use crate::support;

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

const SENTINEL: &str = "whsec_c2VudGluZWwtcmVsZWFzZS1iaW5hcnktOTQxNw==";

fn release_binary() -> &'static PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(path) = std::env::var_os("GPT_DEPLOY_RELEASE_BIN") {
            return PathBuf::from(path);
        }
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let status = Command::new(env!("CARGO"))
            .args(["build", "--release", "--locked", "--bin", "gpt-deploy"])
            .current_dir(&root)
            .status()
            .expect("run cargo build --release");
        assert!(status.success(), "cargo build --release failed");
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join("target"));
        target.join("release/gpt-deploy")
    })
}

/// Runs the release binary in a fresh empty directory (the shared runner's defaults).
fn run(args: &[&str], env: &[(&str, &str)]) -> support::bin::Output {
    env.iter()
        .fold(
            support::bin::gpt_deploy(args).program(release_binary()),
            |bin, (k, v)| bin.env(*k, *v),
        )
        .run()
}

#[test]
fn prints_its_version() {
    let out = run(&["--version"], &[]);
    out.success();
    // `gpt-deploy 0.1.0 (commit 3f2c1ab4d5e6, built 2026-12-02)`: the image's binary says
    // which commit it was built from.
    let prefix = format!("gpt-deploy {} (commit ", env!("CARGO_PKG_VERSION"));
    assert!(out.stdout.starts_with(&prefix), "{}", out.stdout);
    assert!(out.stdout.contains(", built "), "{}", out.stdout);
}

#[test]
fn renders_production_from_the_embedded_config_in_an_empty_directory() {
    let out = run(
        &["render", "--env", "production"],
        &[
            ("CLERK_WEBHOOK_SECRET", SENTINEL),
            ("DATABASE_URL", "postgres://u:pw-sentinel-5521@db/gpt"),
        ],
    );
    out.success();
    let all = format!("{}{}", out.stdout, out.stderr);
    assert!(
        !all.contains(SENTINEL) && !all.contains("pw-sentinel-5521"),
        "a secret leaked:\n{all}"
    );

    let stdout = out.stdout;
    let docs: Vec<serde_json::Value> = stdout
        .split("\n---\n")
        .map(|d| d.trim_start_matches("---\n"))
        .filter(|d| !d.trim().is_empty())
        .map(|d| serde_yaml::from_str(d).expect("each document is YAML"))
        .collect();
    let find = |kind: &str| {
        docs.iter()
            .find(|d| d["kind"] == kind)
            .unwrap_or_else(|| panic!("no {kind} in the render:\n{stdout}"))
    };
    assert_eq!(find("Deployment")["spec"]["replicas"], 2);
    let cron = find("CronJob");
    assert_eq!(cron["spec"]["schedule"], "0 */6 * * *");
    assert_eq!(cron["spec"]["concurrencyPolicy"], "Forbid");
    assert_eq!(find("PodDisruptionBudget")["spec"]["minAvailable"], 1);
    let secret = find("Secret");
    let name = secret["metadata"]["name"].as_str().unwrap();
    assert!(
        gpt_deploy::render::is_version("gpt-secrets", name),
        "a versioned Secret: {name}"
    );
    let value = secret["data"]["clerk-webhook-secret"]
        .as_str()
        .expect("a data value");
    use base64::Engine as _;
    let encoded = base64::engine::general_purpose::STANDARD.encode(SENTINEL);
    assert_ne!(
        value, encoded,
        "the secret must be redacted, not base64-encoded"
    );
}

#[tokio::test]
async fn migrates_and_dry_runs_cleanup_against_a_real_database() {
    let db = support::pg::database().await;
    let out = run(&["migrate"], &[("DATABASE_URL", &db.url)]);
    out.success();

    let out = run(&["cleanup", "--dry-run"], &[("DATABASE_URL", &db.url)]);
    out.success();
    let stdout = &out.stdout;
    for table in [
        "gpt_authorization_codes",
        "gpt_refresh_tokens",
        "gpt_sessions",
    ] {
        assert!(
            stdout.contains(table),
            "no summary line for {table}:\n{stdout}"
        );
    }
    assert!(
        stdout.contains("gpt_oauth_events: kept"),
        "the audit table is reported as kept, never cleaned:\n{stdout}"
    );
}

#[tokio::test]
async fn serves_health_and_stops_on_sigterm() {
    let db = support::pg::migrated_database().await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let listen = format!("127.0.0.1:{port}");
    let mut child = support::bin::gpt_deploy(["serve"])
        .program(release_binary())
        .env("CLERK_WEBHOOK_SECRET", SENTINEL)
        .env("DATABASE_URL", &db.url)
        .env("LISTEN_ADDR", &listen)
        .env("LOG_FORMAT", "json")
        .spawn();

    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut ready = false;
    while Instant::now() < deadline {
        let response = client.get(format!("http://{listen}/readyz")).send().await;
        if response.is_ok_and(|r| r.status() == 200) {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let health = client
        .get(format!("http://{listen}/healthz"))
        .send()
        .await
        .map(|r| r.status().as_u16());

    // The same signal the kubelet sends when a pod is stopped.
    child.signal("TERM");
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "serve did not exit within 20 s of SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let out = child.wait();
    let logs = format!("{}{}", out.stdout, out.stderr);
    assert!(ready, "serve never became ready:\n{logs}");
    assert_eq!(health.ok(), Some(200), "healthz:\n{logs}");
    assert!(
        status.success(),
        "serve exited with {status} after SIGTERM:\n{logs}"
    );
    assert!(
        !logs.contains(SENTINEL),
        "the webhook secret appeared in the logs"
    );
}
