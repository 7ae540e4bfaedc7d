//! `gpt-deploy cleanup-now` on the local control plane: no secret values needed, two runs
//! in the same second, and `--wait` telling "another cleanup is running" (the cleanup's
//! exit 5, which the CronJob's pod failure policy does not retry) from a completed run.

use crate::support;

use std::time::Duration;

use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams, Patch, PatchParams};
use serde_json::json;
use support::deploy_env::{DeployEnv, run};

const CRONJOB: &str = "gpt-token-cleanup";

fn job_names(out: &str) -> Vec<String> {
    out.lines()
        .filter_map(|l| l.strip_prefix("job.batch/"))
        .filter_map(|l| l.strip_suffix(" created"))
        .map(str::to_string)
        .collect()
}

/// The Jobs `cleanup-now` made (apply's migration step makes one of its own).
async fn manual_jobs(jobs: &Api<Job>) -> Vec<Job> {
    let mut listed = jobs.list(&ListParams::default()).await.unwrap().items;
    listed.retain(|j| {
        j.metadata
            .name
            .as_deref()
            .is_some_and(|n| n.starts_with("gpt-token-cleanup-manual-"))
    });
    listed
}

#[tokio::test(flavor = "multi_thread")]
async fn cleanup_now_needs_no_secrets_and_two_runs_in_one_second_both_start() {
    let env = DeployEnv::new().await;
    run(env.cmd("apply", &[])).await.success();
    // No CLERK_WEBHOOK_SECRET, no DATABASE_URL: the Job copies the live CronJob.
    let start = || run(env.cmd_without_secrets("cleanup-now", &["--wait", "--timeout", "120s"]));
    let (first, second) = tokio::join!(start(), start());
    for out in [&first, &second] {
        out.success();
        assert!(out.stdout.contains(" completed"), "{}", out.stdout);
    }
    let mut names = job_names(&first.stdout);
    names.extend(job_names(&second.stdout));
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 2, "{}\n{}", first.stdout, second.stdout);
    for name in &names {
        assert!(name.starts_with("gpt-token-cleanup-manual-"), "{name}");
        assert!(name.len() <= 63, "{name}");
    }
    let jobs: Api<Job> = Api::namespaced(env.ns.client(), &env.ns.name);
    let listed = manual_jobs(&jobs).await;
    assert_eq!(listed.len(), 2);

    // --image is gone (the Job runs what is deployed); the hint names --env.
    let out = run(env.cmd_without_secrets("cleanup-now", &["--image", "v9"])).await;
    out.expect_code(2);
    let out = run(env.cmd_with("cleanup-now", &[], "gpt-deploy-no-such-ns", false)).await;
    out.expect_code(3);
    assert!(
        out.stderr.contains("gpt-deploy apply --env development"),
        "{}",
        out.stderr
    );
}

/// The test plays the kubelet for one pod (scheduled to a node no kubelet serves) and
/// reports its container ended with exit code 5, as `cleanup` does when the lock is held;
/// the Job controller and the rendered pod failure policy do the rest.
#[tokio::test(flavor = "multi_thread")]
async fn cleanup_now_wait_reports_another_cleanup_running_and_is_not_retried() {
    let env = DeployEnv::new().await;
    run(env.cmd("apply", &[])).await.success();
    let cronjobs: Api<CronJob> = Api::namespaced(env.ns.client(), &env.ns.name);
    cronjobs
        .patch(
            CRONJOB,
            &PatchParams::default(),
            &Patch::Merge(
                json!({"spec": {"jobTemplate": {"spec": {"template": {"spec": {
                "nodeName": "gpt-deploy-test-no-kubelet"}}}}}}),
            ),
        )
        .await
        .unwrap();

    let waiting = tokio::spawn(run(
        env.cmd_without_secrets("cleanup-now", &["--wait", "--logs", "--timeout", "120s"])
    ));
    let pods: Api<Pod> = Api::namespaced(env.ns.client(), &env.ns.name);
    let jobs: Api<Job> = Api::namespaced(env.ns.client(), &env.ns.name);
    let (job_name, pod) = loop {
        if let Some(job) = manual_jobs(&jobs).await.into_iter().next() {
            let job_name = job.metadata.name.clone().unwrap();
            let selector = format!("batch.kubernetes.io/job-name={job_name}");
            let listed = pods
                .list(&ListParams::default().labels(&selector))
                .await
                .unwrap()
                .items;
            if let Some(pod) = listed.into_iter().next() {
                break (job_name, pod);
            }
        }
        assert!(
            !waiting.is_finished(),
            "cleanup-now ended before its pod existed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let name = pod.metadata.name.clone().unwrap();
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    pods.patch_status(
        &name,
        &PatchParams::default(),
        &Patch::Merge(json!({"status": {
            "phase": "Failed",
            "containerStatuses": [{
                "name": "token-cleanup", "image": "gpt-service", "imageID": "", "ready": false,
                "restartCount": 0,
                "state": {"terminated": {"exitCode": 5, "reason": "Error",
                    "startedAt": now, "finishedAt": now}}
            }]
        }})),
    )
    .await
    .unwrap();

    let out = waiting.await.unwrap();
    out.expect_code(5);
    assert!(
        out.stderr.contains("another cleanup is running"),
        "{}",
        out.stderr
    );
    assert!(!out.stdout.contains("completed"), "{}", out.stdout);
    assert!(
        out.stderr.contains("logs job/gpt-token-cleanup-manual-"),
        "{}",
        out.stderr
    );
    // No kubelet serves this node's logs: --logs says so instead of failing the command.
    assert!(
        out.stderr
            .contains(&format!("cannot read the log of pod {name}")),
        "{}",
        out.stderr
    );

    // Failed by the policy at once: one pod, no retry.
    let job = &manual_jobs(&jobs).await[0];
    let failed = job
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == "Failed" && c.status == "True"))
        .cloned()
        .expect("the Job failed");
    assert_eq!(
        failed.reason.as_deref(),
        Some("PodFailurePolicy"),
        "{failed:?}"
    );
    let all = pods
        .list(&ListParams::default().labels(&format!("batch.kubernetes.io/job-name={job_name}")))
        .await
        .unwrap()
        .items;
    assert_eq!(all.len(), 1, "the Job was retried");
}
