//! `gpt-deploy deploy` and `cleanup-now` against the local control plane: the CI entry
//! point with its GitHub Actions annotations and step summary.

use crate::support;

use k8s_openapi::api::batch::v1::Job;
use kube::api::{Api, ListParams};
use support::deploy_env::{DeployEnv, run};

#[tokio::test(flavor = "multi_thread")]
async fn deploy_applies_prunes_waits_and_writes_the_step_summary() {
    let env = DeployEnv::new().await;
    let dir = tempfile::tempdir().unwrap();
    let summary = dir.path().join("summary.md");
    let out = run(env
        .cmd("deploy", &["--image", "v1.2.3", "--timeout", "120s"])
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_STEP_SUMMARY", summary.to_str().unwrap()))
    .await;
    out.success();
    assert!(!out.stderr.contains("::error"), "{}", out.stderr);
    let text = std::fs::read_to_string(&summary).unwrap();
    assert!(text.contains("development deploy succeeded"), "{text}");
    assert!(text.contains("image tag `v1.2.3`"), "{text}");
    assert!(text.contains("| 6 | 0 | 0 | 0 |"), "{text}");
    assert!(text.contains("Rollout: complete"), "{text}");

    // Drop an object: the next deploy prunes it (pruning is on by default).
    env.remove("templates/poddisruptionbudget.yaml.j2");
    let out = run(env
        .cmd("deploy", &["--image", "v1.2.3", "--timeout", "120s"])
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_STEP_SUMMARY", summary.to_str().unwrap()))
    .await;
    out.success();
    let text = std::fs::read_to_string(&summary).unwrap();
    assert!(text.contains("| 0 | 0 | 5 | 1 |"), "{text}");
    assert!(
        text.contains("| PodDisruptionBudget/gpt-service | pruned |"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn failed_rollout_is_annotated_and_summarised() {
    let env = DeployEnv::new().await;
    env.make_pods_never_ready();
    let dir = tempfile::tempdir().unwrap();
    let summary = dir.path().join("summary.md");
    let out = run(env
        .cmd("deploy", &["--timeout", "15s"])
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_STEP_SUMMARY", summary.to_str().unwrap()))
    .await;
    out.expect_code(4);
    assert!(
        out.stderr
            .lines()
            .any(|l| l.starts_with("::error::") && l.contains("did not finish rolling out")),
        "{}",
        out.stderr
    );
    let text = std::fs::read_to_string(&summary).unwrap();
    assert!(text.contains("development deploy failed"), "{text}");
    assert!(text.contains("Rollout: **failed**"), "{text}");
    assert!(
        text.contains("phase Running"),
        "diagnostics are in the summary:\n{text}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn cleanup_now_starts_a_job_from_the_cronjob() {
    let env = DeployEnv::new().await;
    run(env.cmd("apply", &[])).await.success();
    let out = run(env.cmd("cleanup-now", &["--wait", "--timeout", "120s"])).await;
    out.success();
    assert!(
        out.stdout.contains("job.batch/gpt-token-cleanup-manual-"),
        "{}",
        out.stdout
    );
    let jobs: Api<Job> = Api::namespaced(env.ns.client(), &env.ns.name);
    // The deploy's own migration Job is the other one.
    let list = jobs
        .list(&ListParams::default().labels("app.kubernetes.io/component=token-cleanup"))
        .await
        .unwrap();
    assert_eq!(list.items.len(), 1);
    let job = &list.items[0];
    let annotations = job.metadata.annotations.clone().unwrap_or_default();
    assert_eq!(annotations["cronjob.kubernetes.io/instantiate"], "manual");
    let owner = &job.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.name.as_str()),
        ("CronJob", "gpt-token-cleanup")
    );
    let conditions = job
        .status
        .as_ref()
        .unwrap()
        .conditions
        .clone()
        .unwrap_or_default();
    assert!(
        conditions
            .iter()
            .any(|c| c.type_ == "Complete" && c.status == "True"),
        "{conditions:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn cleanup_now_needs_the_cronjob_deployed() {
    let env = DeployEnv::new().await;
    let out = run(env.cmd("cleanup-now", &[])).await;
    out.expect_code(3);
    assert!(out.stderr.contains("CronJob"), "{}", out.stderr);
    assert!(out.stderr.contains("404"), "{}", out.stderr);
    assert!(out.stderr.contains("gpt-deploy apply"), "{}", out.stderr);
}

/// GitHub is the one remote this test replaces, with the shared stand-in of its REST API.
#[tokio::test(flavor = "multi_thread")]
async fn deploy_stops_when_the_github_environment_lacks_a_required_secret() {
    let env = DeployEnv::new().await;
    // The GitHub environment holds DATABASE_URL but not CLERK_WEBHOOK_SECRET.
    let github = support::github::GitHubStandIn::start();
    github.add_secret("gpt-service/gpt-service", "development", "DATABASE_URL");
    let out = run(env
        .cmd("deploy", &["--timeout", "60s", "--check-github-secrets"])
        .env("GITHUB_TOKEN", support::github::TOKEN)
        .env("GITHUB_API_URL", github.url())
        .env("GITHUB_REPOSITORY", "gpt-service/gpt-service"))
    .await;
    out.expect_code(2);
    assert!(
        out.stderr.contains("CLERK_WEBHOOK_SECRET"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("GitHub environment \"development\""),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("gpt-deploy secrets sync --env development"),
        "{}",
        out.stderr
    );
    assert!(
        !out.stderr.contains(support::github::TOKEN),
        "{}",
        out.stderr
    );
    assert!(!github.requests().is_empty(), "the GitHub check ran");
    assert!(
        out.stderr.contains(
            "checking that GitHub environment \"development\" holds the required secrets (CLERK_WEBHOOK_SECRET, DATABASE_URL)"
        ),
        "the check announces itself: {}",
        out.stderr
    );
    let deployments: Api<k8s_openapi::api::apps::v1::Deployment> =
        Api::namespaced(env.ns.client(), &env.ns.name);
    assert!(
        deployments
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .is_empty(),
        "nothing was applied"
    );
}

/// A token exported on a laptop does not make `deploy` call GitHub; the flag does, and
/// without a token the flag is a usage error before anything is written.
#[tokio::test(flavor = "multi_thread")]
async fn deploy_calls_github_only_when_asked() {
    let env = DeployEnv::new().await;
    let github = support::github::GitHubStandIn::start();
    let out = run(env
        .cmd("deploy", &["--dry-run"])
        .env("GITHUB_TOKEN", support::github::TOKEN)
        .env("GITHUB_API_URL", github.url())
        .env("GITHUB_REPOSITORY", "gpt-service/gpt-service"))
    .await;
    out.success();
    assert!(
        github.requests().is_empty(),
        "no GitHub request without --check-github-secrets: {:?}",
        github.requests()
    );
    assert!(!out.stderr.contains("GitHub"), "{}", out.stderr);

    let out = run(env.cmd("deploy", &["--check-github-secrets"])).await;
    out.expect_code(2);
    assert!(
        out.stderr
            .contains("--check-github-secrets needs a GitHub token"),
        "{}",
        out.stderr
    );
    let deployments: Api<k8s_openapi::api::apps::v1::Deployment> =
        Api::namespaced(env.ns.client(), &env.ns.name);
    assert!(
        deployments
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .is_empty(),
        "nothing was applied"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn conflict_found_by_the_preflight_is_summarised_and_nothing_is_written() {
    use kube::api::{Patch, PatchParams};
    let env = DeployEnv::new().await;
    run(env.cmd("deploy", &["--timeout", "120s"]))
        .await
        .success();
    let deployments: Api<k8s_openapi::api::apps::v1::Deployment> =
        Api::namespaced(env.ns.client(), &env.ns.name);
    deployments
        .patch(
            "gpt-service",
            &PatchParams {
                field_manager: Some("kubectl-edit".into()),
                ..PatchParams::default()
            },
            &Patch::Merge(serde_json::json!({"spec": {"replicas": 2}})),
        )
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let summary = dir.path().join("summary.md");
    let out = run(env
        .cmd("deploy", &["--timeout", "120s"])
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_STEP_SUMMARY", summary.to_str().unwrap()))
    .await;
    out.expect_code(3);
    assert!(out.stderr.contains("::error::Deployment"), "{}", out.stderr);
    let text = std::fs::read_to_string(&summary).unwrap();
    // The unforced dry run of every object found the conflict before the first write.
    assert!(text.contains("| 0 | 0 | 0 | 0 |"), "{text}");
    assert!(
        text.contains("Nothing was changed in the cluster"),
        "{text}"
    );
    assert!(
        text.contains(".spec.replicas is managed by \"kubectl-edit\""),
        "{text}"
    );
    assert!(text.contains("Rollout: not waited for"), "{text}");
}
