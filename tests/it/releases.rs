//! Safe releases on the local control plane: the migration Job runs (and is waited for)
//! before the Deployment changes, and a failing one stops the deploy with its log tail.

use std::time::Duration;

use crate::support;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams, Patch, PatchParams};
use serde_json::json;
use support::deploy_env::{DeployEnv, run};

const APP: &str = "gpt-service";

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

#[tokio::test(flavor = "multi_thread")]
async fn the_migration_job_completes_before_the_deployment_changes() {
    let env = DeployEnv::new().await;
    run(env.cmd("deploy", &["--image", "v1", "--timeout", "120s"]))
        .await
        .success();
    let out = run(env
        .cmd("deploy", &["--image", "v2", "--timeout", "120s"])
        .env("CLERK_WEBHOOK_SECRET", "whsec_sentinelClerkV2aa41A"))
    .await;
    out.success();
    let migrate_at = out.stdout.find("job.batch/gpt-migrate-").unwrap();
    let completed_at = out.stdout.find(" completed").unwrap();
    let deployment_at = out.stdout.find("deployment.apps/gpt-service").unwrap();
    assert!(
        migrate_at < completed_at && completed_at < deployment_at,
        "{}",
        out.stdout
    );

    let deployments: Api<Deployment> = Api::namespaced(env.ns.client(), &env.ns.name);
    let deployment = deployments.get(APP).await.unwrap();
    assert!(image_of(&deployment).ends_with(":v2"));
    let pod = deployment.spec.unwrap().template.spec.unwrap();
    assert!(
        pod.init_containers.unwrap_or_default().is_empty(),
        "migrations no longer run as an init container"
    );
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
    let status = v2.status.clone().unwrap();
    assert_eq!(status.succeeded, Some(1));
    let done = status.completion_time.expect("completed").0;
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
        "job completed {done:?}, ReplicaSet created {created:?}"
    );

    // Deploying the same image again does not run its migrations again.
    let out = run(env
        .cmd("deploy", &["--image", "v2", "--timeout", "120s"])
        .env("CLERK_WEBHOOK_SECRET", "whsec_sentinelClerkV2aa41A"))
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
    run(env.cmd("deploy", &["--image", "v1", "--timeout", "120s"]))
        .await
        .success();
    let deployments: Api<Deployment> = Api::namespaced(env.ns.client(), &env.ns.name);
    let cronjobs: Api<CronJob> = Api::namespaced(env.ns.client(), &env.ns.name);
    let before = deployments.get(APP).await.unwrap();
    let cron_before = cronjobs.get("gpt-token-cleanup").await.unwrap();
    // The migration pods of this config are never scheduled (so kwok never completes
    // them); below they fail the way the kubelet reports a `migrate` that cannot reach its
    // database.
    env.config.edit(
        "templates/migrate-job.yaml.j2",
        "      restartPolicy: Never\n",
        "      restartPolicy: Never\n      nodeSelector:\n        gpt-deploy.test/no-such-node: \"true\"\n",
    );
    let deploying = tokio::spawn(run(
        env.cmd("deploy", &["--image", "v2", "--timeout", "120s"])
    ));
    let pods: Api<Pod> = Api::namespaced(env.ns.client(), &env.ns.name);
    let failing = async {
        loop {
            let list = pods
                .list(&ListParams::default().labels("app.kubernetes.io/component=migrate"))
                .await
                .unwrap();
            for pod in list.items {
                let phase = pod.status.as_ref().and_then(|s| s.phase.clone());
                if phase.as_deref() == Some("Failed") {
                    continue;
                }
                let name = pod.metadata.name.clone().unwrap();
                let _ = pods
                    .patch_status(
                        &name,
                        &PatchParams::default(),
                        &Patch::Merge(json!({"status": {"phase": "Failed", "containerStatuses": [{
                            "name": "migrate", "image": "x", "imageID": "", "ready": false,
                            "restartCount": 0, "state": {"terminated": {"exitCode": 3,
                            "reason": "Error",
                            "message": "error: cannot connect to the database at postgres://app:***@db:5432/gpt (tried 12 time(s))\n"}}}]}})),
                    )
                    .await;
            }
            if deploying.is_finished() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(180), failing)
        .await
        .expect("the deploy ends");
    let out = deploying.await.unwrap();
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
    let cron_after = cronjobs.get("gpt-token-cleanup").await.unwrap();
    assert_eq!(
        cron_after.metadata.resource_version,
        cron_before.metadata.resource_version
    );
}
