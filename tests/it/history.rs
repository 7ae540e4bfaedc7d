//! The release history against the local control plane: `deploy` records revisions,
//! `history`, `status` and `rollback` read them without any secret value in the
//! environment, and SIGTERM during the rollout wait records the revision as cancelled.

use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{Api, DeleteParams};
use serde_json::Value;

use crate::support;
use support::deploy_env::{DeployEnv, ROLLOUT_TIMEOUT, SENTINEL_CLERK, SENTINEL_DB, cancel, run};
use support::poll;

const HISTORY: &str = "gpt-service-history";

async fn deploy(env: &DeployEnv, image: &str, sha: &str, actor: &str) {
    deploy_with(env, image, sha, actor, SENTINEL_CLERK).await;
}

/// [`deploy`] with another webhook signing secret (a sentinel too).
async fn deploy_with(env: &DeployEnv, image: &str, sha: &str, actor: &str, clerk: &str) {
    run(env
        .deploy_cmd(image, ROLLOUT_TIMEOUT)
        .env("CLERK_WEBHOOK_SECRET", clerk)
        .env("GITHUB_SHA", sha)
        .env("GITHUB_ACTOR", actor))
    .await
    .success();
}

/// The second release's signing secret (never in any output).
const CLERK_V2: &str = "whsec_sentinelClerkHistV2c";

async fn history_json(env: &DeployEnv) -> Vec<Value> {
    let out = env
        .run_without_secrets("history", &["--output", "json"])
        .await;
    out.success();
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}:\n{}", out.stdout))
}

/// `status` (no secret set) succeeds and says which revision runs and which is the latest.
async fn assert_status(env: &DeployEnv, revision: &str, latest: &str) {
    let out = env.run_without_secrets("status", &[]).await;
    out.success();
    let running = format!("revision:     {revision}");
    assert!(out.stdout.contains(&running), "{}", out.stdout);
    let newest = format!("latest:       {latest}");
    assert!(out.stdout.contains(&newest), "{}", out.stdout);
}

/// Neither a sentinel value nor its base64 form is in the history ConfigMap.
async fn assert_history_holds_no_secret(env: &DeployEnv) {
    use base64::Engine as _;
    let configmaps: Api<ConfigMap> = Api::namespaced(env.ns.client(), &env.ns.name);
    let cm = configmaps.get(HISTORY).await.unwrap();
    let text = serde_json::to_string(&cm).unwrap();
    for value in [SENTINEL_CLERK, SENTINEL_DB] {
        let b64 = base64::engine::general_purpose::STANDARD.encode(value);
        assert!(!text.contains(value), "a secret value is in the history");
        assert!(
            !text.contains(&b64),
            "a secret value (base64) is in the history"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn deploys_are_recorded_and_rollback_restores_an_earlier_revision() {
    let env = DeployEnv::new().await;
    let out = env.run_without_secrets("history", &[]).await;
    out.success();
    assert!(out.stdout.contains("no release recorded"), "{}", out.stdout);

    deploy(
        &env,
        "v1",
        "1111111111111111111111111111111111111111",
        "alice",
    )
    .await;
    let v1_secret = env.secret_version().await;
    deploy_with(
        &env,
        "v2",
        "2222222222222222222222222222222222222222",
        "bob",
        CLERK_V2,
    )
    .await;
    let v2_secret = env.secret_version().await;
    assert_ne!(v1_secret, v2_secret, "a new value is a new Secret version");

    let out = env.run_without_secrets("history", &[]).await;
    out.success();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(
        lines.len(),
        3,
        "a header and two revisions:\n{}",
        out.stdout
    );
    assert!(lines[0].starts_with("REVISION"), "{}", out.stdout);
    for (line, (n, tag, commit, actor)) in lines[1..].iter().zip([
        ("1 ", ":v1", "111111111111 ", "alice"),
        ("2*", ":v2", "222222222222 ", "bob"),
    ]) {
        assert!(line.starts_with(n), "{line}");
        assert!(line.contains(tag), "{line}");
        assert!(line.contains(commit), "{line}");
        assert!(line.contains(actor), "{line}");
        assert!(line.contains("succeeded"), "{line}");
    }

    let revisions = history_json(&env).await;
    assert_eq!(revisions.len(), 2);
    assert_eq!(revisions[0]["number"], 1);
    assert_eq!(revisions[0]["actor"], "alice");
    assert_eq!(
        revisions[0]["commit"],
        "1111111111111111111111111111111111111111"
    );
    assert!(
        revisions[0]["image"].as_str().unwrap().ends_with(":v1"),
        "{revisions:?}"
    );
    assert_eq!(revisions[1]["result"], "succeeded");
    assert!(revisions[1]["finished"].is_string(), "{revisions:?}");
    assert_eq!(
        revisions[1]["secrets"],
        serde_json::json!([v2_secret]),
        "the Secret version is recorded: {revisions:?}"
    );
    let objects = revisions[1]["objects"].as_array().unwrap();
    assert!(
        objects.iter().any(|o| o == "Deployment/gpt-service"),
        "{objects:?}"
    );
    assert!(
        !objects
            .iter()
            .any(|o| o.as_str().unwrap().starts_with("Secret/")),
        "no Secret is recorded: {objects:?}"
    );
    assert_history_holds_no_secret(&env).await;
    let out = env.run_without_secrets("status", &[]).await;
    out.success();
    assert!(out.stdout.contains("drift:        no\n"), "{}", out.stdout);

    // Back to v1 without any secret value, through the same wait as deploy.
    let out = run(env
        .cmd_without_secrets("rollback", &["--to", "1", "--timeout", "120s"])
        .env("GITHUB_ACTOR", "carol"))
    .await;
    out.success();
    assert!(
        out.stdout
            .contains("deployment.apps/gpt-service configured"),
        "{}",
        out.stdout
    );
    assert!(env.live_image().await.ends_with(":v1"));
    assert_eq!(
        env.secret_version().await,
        v1_secret,
        "v1's Secret version again"
    );

    let out = env.run_without_secrets("status", &[]).await;
    out.success();
    let status = &out.stdout;
    assert!(
        status.contains("revision:     3 (rollback to revision 1), succeeded"),
        "{status}"
    );
    assert!(status.contains("by carol, commit 111111111111"), "{status}");
    assert!(
        status.contains("image:        gptservice.azurecr.io/gpt-service:v1"),
        "{status}"
    );
    assert!(status.contains("replicas:     1/1 ready"), "{status}");
    assert!(status.contains("last cleanup: none yet"), "{status}");
    assert!(status.contains("next cleanup: 20"), "{status}");
    // The cluster is what the configuration renders for v1 with v1's Secret version: the
    // Secret carries no image tag, and v1's migration Job (run once, pruned since) is no
    // drift.
    assert!(status.contains("drift:        no\n"), "{status}");

    let out = env
        .run_without_secrets("status", &["--output", "json"])
        .await;
    out.success();
    let status: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(status["revision"]["number"], 3);
    assert_eq!(status["revision"]["rollback_of"], 1);
    assert_eq!(status["replicas"]["ready"], 1);
    assert_eq!(status["drift"], false);

    // Without --to: the succeeded revision before the running one (2, v2).
    let out = env
        .run_without_secrets("rollback", &["--timeout", "120s"])
        .await;
    out.success();
    assert!(out.stderr.contains("back to revision 2"), "{}", out.stderr);
    assert!(env.live_image().await.ends_with(":v2"));
    assert_eq!(env.secret_version().await, v2_secret);
    let revisions = history_json(&env).await;
    assert_eq!(revisions.len(), 4);
    assert_eq!(revisions[3]["rollback_of"], 2);
    assert_eq!(revisions[3]["commit"], revisions[1]["commit"]);
    assert_history_holds_no_secret(&env).await;

    // A revision whose Secret is gone cannot be restored, and nothing is changed.
    let secret = revisions[0]["secrets"][0].as_str().unwrap().to_string();
    let secrets: Api<Secret> = Api::namespaced(env.ns.client(), &env.ns.name);
    secrets
        .delete(&secret, &DeleteParams::default())
        .await
        .unwrap();
    let out = env.run_without_secrets("rollback", &["--to", "1"]).await;
    out.expect_code(3);
    assert!(out.stderr.contains(&secret), "{}", out.stderr);
    assert!(out.stderr.contains("nothing was changed"), "{}", out.stderr);
    assert!(env.live_image().await.ends_with(":v2"));
    assert_eq!(history_json(&env).await.len(), 4, "no revision recorded");
}

#[tokio::test(flavor = "multi_thread")]
async fn rollback_says_what_it_cannot_do() {
    let env = DeployEnv::new().await;
    let out = env.run_without_secrets("rollback", &[]).await;
    out.expect_code(2);
    assert!(
        out.stderr.contains("nothing to roll back to"),
        "{}",
        out.stderr
    );
    deploy(
        &env,
        "v1",
        "1111111111111111111111111111111111111111",
        "alice",
    )
    .await;
    let out = env.run_without_secrets("rollback", &["--to", "9"]).await;
    out.expect_code(2);
    assert!(
        out.stderr
            .contains("revision 9 is not in the history (recorded: 1"),
        "{}",
        out.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_during_the_wait_exits_130_and_records_the_revision_as_cancelled() {
    let env = DeployEnv::new().await;
    env.make_pods_never_ready();
    let dir = tempfile::tempdir().unwrap();
    let summary = dir.path().join("summary.md");
    let running = env
        .deploy_cmd("v7", "300s")
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_STEP_SUMMARY", summary.to_str().unwrap())
        .spawn();
    // The Deployment is applied just before the wait starts.
    let deployments: Api<Deployment> = Api::namespaced(env.ns.client(), &env.ns.name);
    poll::until("the deploy never applied the Deployment", || async {
        deployments.get_opt("gpt-service").await.unwrap().is_some()
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let out = cancel(running, "the rollout", 1).await;
    // In GitHub Actions the message is an error annotation.
    assert!(
        out.stderr
            .contains("::error::cancelled by SIGTERM while waiting for the rollout"),
        "{}",
        out.stderr
    );
    let text = std::fs::read_to_string(&summary).unwrap();
    assert!(text.contains("development deploy cancelled"), "{text}");
    assert!(text.contains("Rollout: **cancelled**"), "{text}");
    // The CronJob comes after the wait: never applied.
    assert!(!text.contains("CronJob/"), "{text}");

    let revisions = history_json(&env).await;
    assert_eq!(revisions.len(), 1);
    assert_eq!(revisions[0]["result"], "cancelled");
    assert!(
        revisions[0]["message"]
            .as_str()
            .unwrap()
            .contains("SIGTERM"),
        "{revisions:?}"
    );
    assert_status(&env, "none recorded", "1, cancelled").await;
    assert_history_holds_no_secret(&env).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_automatic_rollback_is_recorded_with_the_revision_that_runs_again() {
    let env = DeployEnv::new().await;
    deploy(
        &env,
        "v1",
        "1111111111111111111111111111111111111111",
        "alice",
    )
    .await;
    env.make_pods_never_ready();
    let out = run(env.deploy_cmd("v2", "15s")).await;
    out.expect_code(4);
    assert!(out.stderr.contains("rolled back to"), "{}", out.stderr);
    let revisions = history_json(&env).await;
    assert_eq!(revisions.len(), 2);
    assert_eq!(revisions[1]["result"], "rolled-back");
    assert_eq!(revisions[1]["rolled_back_to"], 1);
    assert_status(&env, "1, succeeded", "2, rolled back").await;
}
