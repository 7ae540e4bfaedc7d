//! What `apply` and `deploy` say about a run, on the local control plane: the header line
//! before the first write, the image kept without `--image` (from the release record, even
//! when the Deployment was changed by hand), the summary after the outcome
//! (`FAILED` with what was done, the next step), `--timeout 0`, and `-o json|yaml`.

use crate::support;

use k8s_openapi::api::apps::v1::Deployment;
use kube::Api;
use support::deploy_env::{DeployEnv, ENV, run};

const REPOSITORY: &str = "gptservice.azurecr.io/gpt-service";

/// An `apply` without `--image` that succeeded and kept the release's image `tag`.
#[track_caller]
fn assert_kept(out: &support::bin::Output, tag: &str) {
    out.success();
    let kept = format!("image {tag} (kept; pass --image to change it)");
    assert!(out.stderr.contains(&kept), "{}", out.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_header_says_where_before_anything_is_written() {
    let env = DeployEnv::new().await;
    let out = run(env.cmd("apply", &[])).await;
    out.success();
    let first = out.stderr.lines().next().unwrap_or_default();
    let expected_start = format!("apply {ENV}: context {:?} (https://", env.context);
    assert!(first.starts_with(&expected_start), "{}", out.stderr);
    let expected_end = format!(
        "), namespace {:?}, configuration {}, image main",
        env.ns.name,
        env.config.path().display()
    );
    assert!(first.ends_with(&expected_end), "{}", out.stderr);
    assert!(
        !out.stdout.contains("context"),
        "the header is on stderr: {}",
        out.stdout
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn apply_without_image_keeps_the_running_one() {
    let env = DeployEnv::new().await;
    env.deploy("v1.2.4").await.success();
    assert_eq!(env.live_image().await, format!("{REPOSITORY}:v1.2.4"));
    // A plain apply (say, to change replicas) does not roll the image back to `main`.
    let out = run(env.cmd("apply", &[])).await;
    assert_kept(&out, "v1.2.4");
    assert!(
        out.stdout.contains("deployment.apps/gpt-service unchanged"),
        "{}",
        out.stdout
    );
    assert_eq!(env.live_image().await, format!("{REPOSITORY}:v1.2.4"));
    // diff agrees with apply: nothing to change.
    run(env.cmd("diff", &[])).await.expect_code(0);
    // --image still changes it.
    let out = run(env.cmd("apply", &["--image", "v1.2.5"])).await;
    out.success();
    assert!(!out.stderr.contains("kept"), "{}", out.stderr);
    assert_eq!(env.live_image().await, format!("{REPOSITORY}:v1.2.5"));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_recorded_image_is_kept_when_the_deployment_was_changed_by_hand() {
    let env = DeployEnv::new().await;
    env.deploy("v1.2.4").await.success();
    // Someone sets another image by hand, outside any release.
    let api: Api<Deployment> = Api::namespaced(env.ns.client(), &env.ns.name);
    let patch = serde_json::json!({"spec": {"template": {"spec": {"containers": [
        {"name": "gpt-service", "image": format!("{REPOSITORY}:by-hand")}
    ]}}}});
    api.patch(
        "gpt-service",
        &kube::api::PatchParams::default(),
        &kube::api::Patch::Strategic(&patch),
    )
    .await
    .expect("patch the image by hand");
    assert_eq!(env.live_image().await, format!("{REPOSITORY}:by-hand"));

    // drift renders the recorded image, so the hand-made change shows.
    let out = run(env.cmd_without_secrets("drift", &[])).await;
    out.expect_code(1);
    assert!(
        out.stdout
            .contains(&format!("+        image: {REPOSITORY}:v1.2.4")),
        "{}",
        out.stdout
    );
    // apply keeps the release's image, not the hand-made one, and says both (the hand-made
    // change is another field manager's, hence --force-conflicts).
    let out = run(env.cmd("apply", &["--force-conflicts"])).await;
    assert_kept(&out, "v1.2.4");
    assert!(
        out.stderr.contains(&format!(
            "the live Deployment runs {REPOSITORY}:by-hand, not {REPOSITORY}:v1.2.4, the image of the newest release (revision 1)"
        )),
        "{}",
        out.stderr
    );
    assert_eq!(env.live_image().await, format!("{REPOSITORY}:v1.2.4"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_deploy_says_failed_what_was_done_and_what_next() {
    let env = DeployEnv::new().await;
    env.deploy("v1").await.success();
    env.make_pods_never_ready();
    let out = run(env.deploy_cmd("v2", "10s")).await;
    out.expect_code(4);
    let summary = out
        .stderr
        .lines()
        .find(|l| l.starts_with("deploy development FAILED after"))
        .unwrap_or_else(|| panic!("no FAILED summary line:\n{}", out.stderr));
    // Config objects, the migration Job and the Deployment were applied; the CronJob waits.
    assert!(
        summary.contains("5 of 6 objects applied before the failure"),
        "{summary}"
    );
    assert!(summary.contains("rollout failed"), "{summary}");
    assert!(summary.contains("image v2"), "{summary}");
    assert!(
        summary.contains(&format!("context {:?}", env.context)),
        "{summary}"
    );
    assert!(
        summary.contains(&format!("namespace {:?}", env.ns.name)),
        "{summary}"
    );
    assert!(
        out.stderr.contains(" ready (1 desired)"),
        "progress reads `N ready (M desired)`: {}",
        out.stderr
    );
    // Rolled back automatically: the error says v1 serves again; no step to put it back.
    assert!(
        out.stderr
            .contains("rolled back to gptservice.azurecr.io/gpt-service:v1"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("next:"), "{}", out.stderr);

    // Without the automatic rollback, the next step names the rollback command.
    let out = run(env.cmd(
        "deploy",
        &["--image", "v2", "--timeout", "10s", "--no-rollback"],
    ))
    .await;
    out.expect_code(4);
    // The summary comes after the rollout's diagnostics, and the next step after it.
    let at = out
        .stderr
        .find("deploy development FAILED after")
        .unwrap_or_else(|| panic!("no FAILED summary line:\n{}", out.stderr));
    assert!(
        out.stderr[at..].contains(
            "next: the image before this deploy was v1 (revision 1); put it back with `gpt-deploy rollback --env development --to 1` (or `gpt-deploy deploy --env development --image v1`), or fix the cause above and deploy again"
        ),
        "{}",
        out.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn timeout_zero_means_no_timeout() {
    let env = DeployEnv::new().await;
    let out = run(env.cmd("apply", &["--wait", "--timeout", "0"])).await;
    out.success();
    assert!(
        out.stderr.contains("successfully rolled out"),
        "{}",
        out.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn output_json_and_yaml_are_documents_of_the_result() {
    let env = DeployEnv::new().await;
    let out = run(env.cmd("apply", &["-o", "json"])).await;
    out.success();
    let doc: serde_json::Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is one JSON document ({e}):\n{}", out.stdout));
    assert_eq!(doc["command"], "apply");
    assert_eq!(doc["result"], "succeeded");
    assert_eq!(doc["namespace"], env.ns.name.as_str());
    assert_eq!(doc["context"], env.context.as_str());
    assert_eq!(doc["image"], "main");
    let objects = doc["objects"].as_array().unwrap();
    assert_eq!(objects.len(), 6, "{doc}");
    assert!(objects.iter().all(|o| o["result"] == "created"), "{doc}");
    assert_eq!(doc["rollout"]["result"], "not waited");
    // The per-object lines moved to stderr.
    assert!(
        out.stderr.contains("deployment.apps/gpt-service created"),
        "{}",
        out.stderr
    );

    let out = run(env.cmd("deploy", &["-o", "yaml", "--timeout", "120s"])).await;
    out.success();
    let doc: serde_json::Value = serde_yaml::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is one YAML document ({e}):\n{}", out.stdout));
    assert_eq!(doc["command"], "deploy");
    assert_eq!(doc["rollout"]["result"], "complete");
    assert!(
        doc["objects"]
            .as_array()
            .unwrap()
            .iter()
            .all(|o| o["result"] == "unchanged"),
        "{doc:?}"
    );

    // A failure is a document too, and exits as before.
    let out = run(env.cmd_without_secrets("apply", &["-o", "json"])).await;
    out.expect_code(2);
    let doc: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(doc["result"], "failed");
    assert!(
        doc["error"]
            .as_str()
            .unwrap()
            .contains("environment variables not set"),
        "{doc}"
    );
}
