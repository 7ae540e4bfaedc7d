//! Safe releases on the local control plane: the migration Job runs (and is waited for)
//! before the Deployment changes, and a failing one stops the deploy with its log tail;
//! the CronJob follows only a successful rollout; a failed rollout rolls back to the
//! previous release; pods that cannot start or be scheduled fail the rollout early.

use std::time::Duration;

use crate::support;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{Pod, Secret};
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;
use support::bin::Output;
use support::deploy_env::{DeployEnv, ROLLOUT_TIMEOUT, cancel, run};
use support::poll;

const APP: &str = "gpt-service";
const CRON: &str = "gpt-token-cleanup";
/// Signing secrets of the second and third release (sentinels: never in any output).
const CLERK_V2: &str = "whsec_sentinelClerkV2aa41A";
const CLERK_V3: &str = "whsec_sentinelClerkV3bb52B";

fn image_of(d: &Deployment) -> String {
    d.spec
        .as_ref()
        .unwrap()
        .template
        .spec
        .as_ref()
        .unwrap()
        .containers[0]
        .image
        .clone()
        .unwrap()
}

async fn migrate_jobs(env: &DeployEnv) -> Vec<Job> {
    let jobs: Api<Job> = Api::namespaced(env.ns.client(), &env.ns.name);
    jobs.list(&ListParams::default().labels("app.kubernetes.io/component=migrate"))
        .await
        .unwrap()
        .items
}

fn cron_pod(c: &CronJob) -> k8s_openapi::api::core::v1::PodSpec {
    c.spec
        .clone()
        .unwrap()
        .job_template
        .spec
        .unwrap()
        .template
        .spec
        .unwrap()
}

fn cron_image(c: &CronJob) -> String {
    cron_pod(c).containers[0].image.clone().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_migration_pod_succeeds_before_the_deployment_changes() {
    let env = DeployEnv::new().await;
    env.deploy("v1").await.success();
    let out = run(env
        .deploy_cmd("v2", ROLLOUT_TIMEOUT)
        .env("CLERK_WEBHOOK_SECRET", CLERK_V2))
    .await;
    out.success();
    // The phases: the new Secret version first, the CronJob only after the rollout.
    let secret_at = out.stdout.find("secret/gpt-secrets").unwrap();
    let cron_at = out
        .stdout
        .find("cronjob.batch/gpt-token-cleanup configured")
        .unwrap();
    assert!(secret_at < out.stdout.find("job.batch/gpt-migrate-").unwrap());
    assert!(
        out.stderr.contains("successfully rolled out"),
        "{}",
        out.stderr
    );
    let migrate_at = out.stdout.find("job.batch/gpt-migrate-").unwrap();
    let completed_at = out.stdout.find(" completed").unwrap();
    let deployment_at = out.stdout.find("deployment.apps/gpt-service").unwrap();
    assert!(
        migrate_at < completed_at && completed_at < deployment_at,
        "{}",
        out.stdout
    );

    assert!(deployment_at < cron_at, "{}", out.stdout);

    let deployments: Api<Deployment> = Api::namespaced(env.ns.client(), &env.ns.name);
    let deployment = deployments.get(APP).await.unwrap();
    assert!(image_of(&deployment).ends_with(":v2"));
    let pod = deployment.spec.clone().unwrap().template.spec.unwrap();
    assert!(
        pod.init_containers.clone().unwrap_or_default().is_empty(),
        "migrations no longer run as an init container"
    );
    let cronjobs: Api<CronJob> = Api::namespaced(env.ns.client(), &env.ns.name);
    let cron = cronjobs.get(CRON).await.unwrap();
    assert!(cron_image(&cron).ends_with(":v2"));
    // v2's Job finished before v2's ReplicaSet was created.
    let jobs = migrate_jobs(&env).await;
    let v2 = jobs
        .iter()
        .find(|j| {
            j.spec
                .as_ref()
                .unwrap()
                .template
                .spec
                .as_ref()
                .unwrap()
                .containers[0]
                .image
                .as_deref()
                .is_some_and(|i| i.ends_with(":v2"))
        })
        .expect("a migration Job for v2");
    // The deploy goes on once the migration pod has succeeded; the Job controller marks
    // the Job complete in its next sync.
    let uid = v2.metadata.uid.clone().unwrap();
    let pods: Api<Pod> = Api::namespaced(env.ns.client(), &env.ns.name);
    let by_job = ListParams::default().labels(&format!("batch.kubernetes.io/controller-uid={uid}"));
    let succeeded: Vec<Pod> = pods
        .list(&by_job)
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|p| p.status.as_ref().unwrap().phase.as_deref() == Some("Succeeded"))
        .collect();
    assert_eq!(succeeded.len(), 1, "one succeeded migration pod");
    let done = support::deploy_env::terminated(&succeeded[0], "the migration container")
        .finished_at
        .expect("finishedAt")
        .0;
    let v2_name = v2.metadata.name.clone().unwrap();
    poll::until("the migration Job was never marked complete", || async {
        migrate_jobs(&env).await.iter().any(|j| {
            j.metadata.name.as_deref() == Some(v2_name.as_str())
                && j.status.as_ref().and_then(|s| s.succeeded) == Some(1)
                && j.status
                    .as_ref()
                    .and_then(|s| s.completion_time.as_ref())
                    .is_some()
        })
    })
    .await;
    let replica_sets: Api<ReplicaSet> = Api::namespaced(env.ns.client(), &env.ns.name);
    let new_rs = replica_sets
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .find(|rs| {
            rs.spec
                .as_ref()
                .unwrap()
                .template
                .as_ref()
                .unwrap()
                .spec
                .as_ref()
                .unwrap()
                .containers[0]
                .image
                .as_deref()
                .is_some_and(|i| i.ends_with(":v2"))
        })
        .expect("v2's ReplicaSet");
    let created = new_rs.metadata.creation_timestamp.unwrap().0;
    assert!(
        done <= created,
        "migration pod finished {done:?}, ReplicaSet created {created:?}"
    );

    // Deploying the same image and values again runs no migration and makes no version.
    let out = run(env
        .deploy_cmd("v2", ROLLOUT_TIMEOUT)
        .env("CLERK_WEBHOOK_SECRET", CLERK_V2))
    .await;
    out.success();
    assert!(
        out.stdout
            .contains("unchanged (migrations of this image already applied)"),
        "{}",
        out.stdout
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_migration_stops_the_deploy_with_its_log_tail() {
    let env = DeployEnv::new().await;
    env.deploy("v1").await.success();
    let deployments: Api<Deployment> = Api::namespaced(env.ns.client(), &env.ns.name);
    let cronjobs: Api<CronJob> = Api::namespaced(env.ns.client(), &env.ns.name);
    let before = deployments.get(APP).await.unwrap();
    let cron_before = cronjobs.get(CRON).await.unwrap();
    // The migration pods of this config are never scheduled (so kwok never completes
    // them); below they fail the way the kubelet reports a `migrate` that cannot reach its
    // database.
    env.config.edit(
        "templates/migrate-job.yaml.j2",
        "      restartPolicy: Never\n",
        "      restartPolicy: Never\n      nodeSelector:\n        gpt-deploy.test/no-such-node: \"true\"\n",
    );
    let deploying = tokio::spawn(run(env.deploy_cmd("v2", ROLLOUT_TIMEOUT)));
    let failed = |pod: &Pod| {
        let phase = pod.status.as_ref().and_then(|s| s.phase.clone());
        (phase.as_deref() != Some("Failed")).then(|| {
            json!({"phase": "Failed", "containerStatuses": [{
                "name": "migrate", "image": "x", "imageID": "", "ready": false,
                "restartCount": 0, "state": {"terminated": {"exitCode": 3,
                "reason": "Error",
                "message": "error: cannot connect to the database at postgres://app:***@db:5432/gpt (tried 12 time(s))\n"}}}]})
        })
    };
    let out = act_as_kubelet(&env, deploying, "migrate", Duration::from_secs(180), failed).await;
    out.expect_code(4);
    assert!(
        out.stderr.contains("migration Job gpt-migrate-"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("the Deployment and CronJob were not changed"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("  error: cannot connect to the database at postgres://app:***@db"),
        "the log tail is printed:\n{}",
        out.stderr
    );
    let after = deployments.get(APP).await.unwrap();
    assert_eq!(after.metadata.generation, before.metadata.generation);
    assert!(image_of(&after).ends_with(":v1"));
    let cron_after = cronjobs.get(CRON).await.unwrap();
    assert_eq!(
        cron_after.metadata.resource_version,
        cron_before.metadata.resource_version
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_during_the_migration_wait_exits_130_before_the_deployment() {
    let env = DeployEnv::new().await;
    // The migration pods are never scheduled: the deploy waits on the Job.
    env.config.edit(
        "templates/migrate-job.yaml.j2",
        "      restartPolicy: Never\n",
        "      restartPolicy: Never\n      nodeSelector:\n        gpt-deploy.test/no-such-node: \"true\"\n",
    );
    let running = env.deploy_cmd("v1", "300s").spawn();
    poll::until("the deploy never applied the migration Job", || async {
        !migrate_jobs(&env).await.is_empty()
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    cancel(running, "the migration Job", 1).await;
    let deployments: Api<Deployment> = Api::namespaced(env.ns.client(), &env.ns.name);
    assert!(
        deployments.get_opt(APP).await.unwrap().is_none(),
        "the Deployment is never applied"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_unversioned_secret_is_retired_only_after_a_successful_rollout() {
    let env = DeployEnv::new().await;
    env.deploy("v1").await.success();
    // The Secret of the older layout, as `kubectl create secret` left it.
    let secrets: Api<Secret> = Api::namespaced(env.ns.client(), &env.ns.name);
    let old: Secret = serde_json::from_value(json!({"metadata": {"name": "gpt-secrets"},
        "data": {"database-url": "cG9zdGdyZXM6Ly9vbGQ="}}))
    .unwrap();
    secrets.create(&PostParams::default(), &old).await.unwrap();

    // A failed rollout (rolled back) retires nothing: the old pods may still need it.
    env.make_pods_never_ready();
    let out = run(env.deploy_cmd("v2", "15s")).await;
    out.expect_code(4);
    assert!(out.stderr.contains("rolled back to"), "{}", out.stderr);
    assert!(!out.stdout.contains("retired"), "{}", out.stdout);
    assert!(secrets.get_opt("gpt-secrets").await.unwrap().is_some());

    // Once a rollout succeeds, it goes (after the CronJob, which waits for the rollout).
    env.config.edit(
        "templates/deployment.yaml.j2",
        &format!(
            "        {}: \"true\"\n",
            support::cluster::NEVER_READY_LABEL
        ),
        "",
    );
    let out = env.deploy("v2").await;
    out.success();
    let retired = out
        .stdout
        .find("secret/gpt-secrets retired")
        .unwrap_or_else(|| {
            panic!("not retired:\n{}", out.stdout);
        });
    let cron = out
        .stdout
        .find("cronjob.batch/gpt-token-cleanup configured")
        .unwrap();
    assert!(cron < retired, "{}", out.stdout);
    assert!(secrets.get_opt("gpt-secrets").await.unwrap().is_none());
    // The versions stay.
    assert!(
        secrets
            .get_opt(&env.secret_version().await)
            .await
            .unwrap()
            .is_some()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_during_the_automatic_rollback_exits_130() {
    let env = DeployEnv::new().await;
    // Neither release's pods ever become ready, so the rollback's wait goes on too.
    env.make_pods_never_ready();
    run(env.cmd("deploy", &["--image", "v1", "--no-wait"]))
        .await
        .success();
    let running = env.deploy_cmd("v2", "15s").spawn();
    let deployments: Api<Deployment> = Api::namespaced(env.ns.client(), &env.ns.name);
    let image = || async { image_of(&deployments.get(APP).await.unwrap()) };
    // v2 is applied, fails to roll out within 15 s, then v1's template is applied again.
    for tag in [":v2", ":v1"] {
        poll::until(&format!("the Deployment never ran {tag}"), || async {
            image().await.ends_with(tag)
        })
        .await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rollback = format!(
        "the rollback of Deployment {}/{APP} to gptservice.azurecr.io/gpt-service:v1",
        env.ns.name
    );
    cancel(running, &rollback, 2).await;
}

/// Stands in for the kubelet of pods no node runs while `deploying` runs: every 300 ms each
/// pod of `component` for which `status` gives a status gets it (a merge patch of the pod's
/// status). Fails the test unless the deploy ends within `limit`; returns its output.
async fn act_as_kubelet(
    env: &DeployEnv,
    deploying: tokio::task::JoinHandle<Output>,
    component: &str,
    limit: Duration,
    status: impl Fn(&Pod) -> Option<serde_json::Value>,
) -> Output {
    let pods: Api<Pod> = Api::namespaced(env.ns.client(), &env.ns.name);
    let selector = format!("app.kubernetes.io/component={component}");
    let reporting = async {
        while !deploying.is_finished() {
            let list = pods
                .list(&ListParams::default().labels(&selector))
                .await
                .unwrap();
            for pod in list.items {
                let Some(status) = status(&pod) else {
                    continue;
                };
                let name = pod.metadata.name.clone().unwrap();
                let patch = Patch::Merge(json!({ "status": status }));
                let _ = pods
                    .patch_status(&name, &PatchParams::default(), &patch)
                    .await;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    };
    tokio::time::timeout(limit, reporting)
        .await
        .expect("the deploy ends");
    deploying.await.unwrap()
}

/// The names of the Secret's versions in the namespace.
async fn secret_versions(env: &DeployEnv) -> Vec<String> {
    let secrets: Api<Secret> = Api::namespaced(env.ns.client(), &env.ns.name);
    let mut names: Vec<String> = secrets
        .list(&ListParams::default().labels("app.kubernetes.io/component=secrets"))
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|s| s.metadata.name)
        .filter(|n| gpt_deploy::render::is_version("gpt-secrets", n))
        .collect();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread")]
async fn a_changed_value_is_a_new_secret_version_and_five_are_kept() {
    let env = DeployEnv::new().await;
    let mut made = Vec::new();
    // Six releases, each with another signing secret (sentinels, never in any output).
    for n in 0..6 {
        let clerk = format!("whsec_sentinelClerkKeep{n}aA");
        let out = run(env
            .deploy_cmd("v1", ROLLOUT_TIMEOUT)
            .env("CLERK_WEBHOOK_SECRET", &clerk))
        .await;
        out.success();
        assert!(!out.stdout.contains(&clerk) && !out.stderr.contains(&clerk));
        let version = env.secret_version().await;
        assert!(
            out.stdout.contains(&format!("secret/{version} created")),
            "{}",
            out.stdout
        );
        assert!(!made.contains(&version), "a new version each time");
        if let Some(previous) = made.last() {
            // The previous release's version stays: its pods read it until replaced.
            assert!(
                secret_versions(&env).await.contains(previous),
                "{previous} is kept"
            );
        }
        made.push(version);
    }
    // The newest five, the one in use among them; only the first went, with the prune.
    let mut newest: Vec<String> = made[1..].to_vec();
    newest.sort();
    assert_eq!(secret_versions(&env).await, newest);
    let secrets: Api<Secret> = Api::namespaced(env.ns.client(), &env.ns.name);
    assert!(secrets.get_opt(&made[0]).await.unwrap().is_none());

    // Deploying the same values again makes no version and prunes none.
    let out = run(env
        .deploy_cmd("v1", ROLLOUT_TIMEOUT)
        .env("CLERK_WEBHOOK_SECRET", "whsec_sentinelClerkKeep5aA"))
    .await;
    out.success();
    assert!(
        out.stdout
            .contains(&format!("secret/{} unchanged", made[5])),
        "{}",
        out.stdout
    );
    assert!(!out.stdout.contains("pruned"), "{}", out.stdout);
    assert_eq!(secret_versions(&env).await, newest);
}

/// A development environment with two replicas (a rollout then has old pods to keep).
async fn two_replicas() -> DeployEnv {
    let env = DeployEnv::new().await;
    env.config.edit(
        "environments/development.toml",
        "replicas = 1",
        "replicas = 2",
    );
    env
}

async fn available(env: &DeployEnv) -> (Option<i32>, Option<i32>) {
    let deployments: Api<Deployment> = Api::namespaced(env.ns.client(), &env.ns.name);
    let status = deployments.get(APP).await.unwrap().status.unwrap();
    (status.available_replicas, status.updated_replicas)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_rollout_rolls_back_to_the_previous_release() {
    let env = two_replicas().await;
    // v1 twice: the history's revision numbers (3 for v2) then differ from the Deployment
    // controller's (2 for v2), and the message must give the history's.
    for _ in 0..2 {
        env.deploy("v1").await.success();
    }
    run(env
        .deploy_cmd("v2", ROLLOUT_TIMEOUT)
        .env("CLERK_WEBHOOK_SECRET", CLERK_V2))
    .await
    .success();
    let deployments: Api<Deployment> = Api::namespaced(env.ns.client(), &env.ns.name);
    let cronjobs: Api<CronJob> = Api::namespaced(env.ns.client(), &env.ns.name);
    let v2_template = deployments.get(APP).await.unwrap().spec.unwrap().template;
    let cron_v2 = cronjobs.get(CRON).await.unwrap();
    let v2_secret = env.secret_version().await;

    // v3's pods never become ready, and it brings another secret value.
    env.make_pods_never_ready();
    let out = run(env
        .deploy_cmd("v3", "20s")
        .env("CLERK_WEBHOOK_SECRET", CLERK_V3))
    .await;
    out.expect_code(4);
    assert!(
        out.stderr.contains("did not finish rolling out within 20s"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("rolled back to gptservice.azurecr.io/gpt-service:v2 (revision 3)"),
        "{}",
        out.stderr
    );
    let deployment = deployments.get(APP).await.unwrap();
    // The pods read v2's Secret version again, which holds v2's value; v3's version was
    // made and stays (nothing is pruned after a failed rollout).
    assert_eq!(env.secret_version().await, v2_secret);
    let secrets: Api<Secret> = Api::namespaced(env.ns.client(), &env.ns.name);
    let data = secrets.get(&v2_secret).await.unwrap().data.unwrap();
    assert_eq!(data["clerk-webhook-secret"].0, CLERK_V2.as_bytes());
    let versions = secret_versions(&env).await;
    assert_eq!(versions.len(), 3, "v1's, v2's and v3's: {versions:?}");
    assert!(image_of(&deployment).ends_with(":v2"));
    assert_eq!(available(&env).await, (Some(2), Some(2)));
    assert_eq!(
        deployment.spec.unwrap().template,
        v2_template,
        "v2's pod template again"
    );
    // The running pods are v2's.
    let pods: Api<Pod> = Api::namespaced(env.ns.client(), &env.ns.name);
    let running: Vec<Pod> = pods
        .list(&ListParams::default().labels("app.kubernetes.io/component=web"))
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .collect();
    for p in &running {
        let spec = p.spec.as_ref().unwrap();
        assert!(
            spec.containers[0]
                .image
                .as_deref()
                .unwrap()
                .ends_with(":v2")
        );
    }
    // The CronJob never saw v3.
    let cron = cronjobs.get(CRON).await.unwrap();
    assert_eq!(
        cron.metadata.resource_version,
        cron_v2.metadata.resource_version
    );
    assert!(cron_image(&cron).ends_with(":v2"));

    // With --no-rollback the failed release stays as it is.
    let out = run(env
        .cmd(
            "deploy",
            &["--image", "v3", "--timeout", "10s", "--no-rollback"],
        )
        .env("CLERK_WEBHOOK_SECRET", CLERK_V3))
    .await;
    out.expect_code(4);
    assert!(!out.stderr.contains("rolled back"), "{}", out.stderr);
    assert!(image_of(&deployments.get(APP).await.unwrap()).ends_with(":v3"));
}

#[tokio::test(flavor = "multi_thread")]
async fn unschedulable_pods_fail_the_rollout_before_the_timeout() {
    let env = two_replicas().await;
    env.deploy("v1").await.success();
    // v2's pods ask for a node that does not exist: the scheduler marks them Unschedulable.
    env.config.edit(
        "templates/deployment.yaml.j2",
        "      automountServiceAccountToken: false\n",
        "      automountServiceAccountToken: false\n      nodeSelector:\n        gpt-deploy.test/no-such-node: \"true\"\n",
    );
    let out = run(env.deploy_cmd("v2", "300s")).await;
    out.expect_code(4);
    assert!(
        out.stderr.contains("no node can run it (Unschedulable for"),
        "{}",
        out.stderr
    );
    assert!(
        !out.stderr.contains("did not finish rolling out"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("rolled back to gptservice.azurecr.io/gpt-service:v1 (revision 1)"),
        "{}",
        out.stderr
    );
    assert_eq!(available(&env).await, (Some(2), Some(2)));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_container_that_cannot_be_configured_fails_the_rollout_at_once() {
    let env = DeployEnv::new().await;
    env.deploy("v1").await.success();
    // v2's pods are never scheduled, so kwok leaves them alone; below they get the status
    // the kubelet reports for a container whose Secret key is missing.
    env.config.edit(
        "templates/deployment.yaml.j2",
        "      automountServiceAccountToken: false\n",
        "      automountServiceAccountToken: false\n      nodeSelector:\n        gpt-deploy.test/no-such-node: \"true\"\n",
    );
    let deploying = tokio::spawn(run(env.deploy_cmd("v2", "300s")));
    let unconfigurable = |pod: &Pod| {
        let spec = pod.spec.as_ref().unwrap();
        spec.node_selector.as_ref().map(|_| {
            json!({"containerStatuses": [{
                "name": APP, "image": spec.containers[0].image, "imageID": "",
                "ready": false, "restartCount": 0, "state": {"waiting": {
                "reason": "CreateContainerConfigError",
                "message": "couldn't find key database-url in Secret gpt-secrets-0000aaaa"}}}]})
        })
    };
    let out = act_as_kubelet(
        &env,
        deploying,
        "web",
        Duration::from_secs(240),
        unconfigurable,
    )
    .await;
    out.expect_code(4);
    assert!(
        out.stderr
            .contains("is in CreateContainerConfigError: couldn't find key database-url"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("Unschedulable for"), "{}", out.stderr);
    assert!(
        out.stderr
            .contains("rolled back to gptservice.azurecr.io/gpt-service:v1"),
        "{}",
        out.stderr
    );
}
