//! The local control plane is a real one: controllers reconcile, the scheduler
//! binds, kwok plays the kubelet, and the API server validates.

use crate::support;

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec, ReplicaSet};
use k8s_openapi::api::batch::v1::{CronJob, CronJobSpec, JobSpec, JobTemplateSpec};
use k8s_openapi::api::core::v1::{Container, Namespace, Pod, PodSpec, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::api::{ListParams, ObjectMeta, PostParams};
use kube::runtime::wait::{Condition, await_condition};
use kube::{Api, Resource};
use support::cluster::{NEVER_READY_LABEL, namespace};

/// Upper bound for anything the cluster does on its own; only guards against
/// hangs, the expected time is well under a second.
const WAIT: Duration = Duration::from_secs(60);

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
        .collect()
}

fn pod_spec() -> PodSpec {
    PodSpec {
        containers: vec![Container {
            name: "app".into(),
            image: Some("registry.invalid/gpt-service:test".into()),
            ..Container::default()
        }],
        ..PodSpec::default()
    }
}

/// Waits for `cond` on object `name`, failing the test after [`WAIT`].
async fn wait_until<K>(api: &Api<K>, name: &str, what: &str, cond: impl Condition<K>) -> K
where
    K: Clone + std::fmt::Debug + Send + serde::de::DeserializeOwned + Resource + 'static,
{
    match tokio::time::timeout(WAIT, await_condition(api.clone(), name, cond)).await {
        Ok(Ok(Some(object))) => object,
        Ok(Ok(None)) => panic!("{name} was deleted while waiting for {what}"),
        Ok(Err(e)) => panic!("watching {name} for {what} failed: {e}"),
        Err(_) => panic!(
            "{name}: no {what} within {WAIT:?}; current state: {:#?}",
            api.get_opt(name).await
        ),
    }
}

fn ready_condition(pod: &Pod) -> Option<String> {
    pod.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "Ready")
        .map(|c| c.status.clone())
}

fn phase(pod: &Pod) -> Option<&str> {
    pod.status.as_ref()?.phase.as_deref()
}

#[tokio::test]
async fn deployment_rolls_out_to_two_available_replicas_on_kwok_nodes() {
    let ns = namespace().await;
    let deployments: Api<Deployment> = Api::namespaced(ns.client(), &ns.name);
    let app = labels(&[("app", "web")]);
    let deployment = Deployment {
        metadata: ObjectMeta {
            name: Some("web".into()),
            ..ObjectMeta::default()
        },
        spec: Some(DeploymentSpec {
            replicas: Some(2),
            selector: LabelSelector {
                match_labels: Some(app.clone()),
                ..LabelSelector::default()
            },
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(app),
                    ..ObjectMeta::default()
                }),
                spec: Some(pod_spec()),
            },
            ..DeploymentSpec::default()
        }),
        ..Deployment::default()
    };
    deployments
        .create(&PostParams::default(), &deployment)
        .await
        .expect("create Deployment");

    let available = |d: Option<&Deployment>| {
        d.and_then(|d| d.status.as_ref())
            .and_then(|s| s.available_replicas)
            == Some(2)
    };
    wait_until(&deployments, "web", "availableReplicas 2", available).await;

    // The controller-manager made the ReplicaSet ...
    let sets = Api::<ReplicaSet>::namespaced(ns.client(), &ns.name)
        .list(&ListParams::default())
        .await
        .unwrap();
    assert_eq!(
        sets.items.len(),
        1,
        "one ReplicaSet expected: {:#?}",
        sets.items
    );
    let owner = &sets.items[0]
        .metadata
        .owner_references
        .as_ref()
        .expect("ReplicaSet has an owner")[0];
    assert_eq!(
        (owner.kind.as_str(), owner.name.as_str()),
        ("Deployment", "web")
    );
    // ... the scheduler bound its pods to the fake nodes, and kwok made them Ready.
    let pods = Api::<Pod>::namespaced(ns.client(), &ns.name)
        .list(&ListParams::default())
        .await
        .unwrap();
    assert_eq!(pods.items.len(), 2);
    for pod in &pods.items {
        let node = pod
            .spec
            .as_ref()
            .and_then(|s| s.node_name.as_deref())
            .unwrap_or_default();
        assert!(
            node.starts_with("kwok-node-"),
            "pod bound to {node:?}, not a kwok node"
        );
        assert_eq!(phase(pod), Some("Running"));
        assert_eq!(ready_condition(pod).as_deref(), Some("True"));
    }
}

fn cron_job(name: &str, schedule: &str) -> CronJob {
    CronJob {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..ObjectMeta::default()
        },
        spec: Some(CronJobSpec {
            schedule: schedule.into(),
            job_template: JobTemplateSpec {
                spec: Some(JobSpec {
                    template: PodTemplateSpec {
                        spec: Some(PodSpec {
                            restart_policy: Some("Never".into()),
                            ..pod_spec()
                        }),
                        ..PodTemplateSpec::default()
                    },
                    ..JobSpec::default()
                }),
                ..JobTemplateSpec::default()
            },
            ..CronJobSpec::default()
        }),
        ..CronJob::default()
    }
}

#[tokio::test]
async fn api_server_rejects_a_cron_job_with_an_invalid_schedule() {
    let ns = namespace().await;
    let cron_jobs: Api<CronJob> = Api::namespaced(ns.client(), &ns.name);

    let error = cron_jobs
        .create(
            &PostParams::default(),
            &cron_job("broken", "every tuesday at noon"),
        )
        .await
        .expect_err("the API server accepted an invalid schedule");
    match error {
        kube::Error::Api(status) => {
            assert_eq!(status.code, 422, "{status:?}");
            assert!(
                status.message.contains("spec.schedule"),
                "{}",
                status.message
            );
        }
        other => panic!("expected a 422 validation error, got {other}"),
    }
    assert!(
        cron_jobs.get_opt("broken").await.unwrap().is_none(),
        "rejected CronJob was stored"
    );

    // The same object with a valid schedule is accepted, so the schedule alone was at fault.
    cron_jobs
        .create(&PostParams::default(), &cron_job("nightly", "17 3 * * *"))
        .await
        .expect("valid CronJob");
}

async fn create_pod(
    ns: &support::cluster::TestNamespace,
    name: &str,
    extra: &[(&str, &str)],
) -> Api<Pod> {
    let pods: Api<Pod> = Api::namespaced(ns.client(), &ns.name);
    let pod = Pod {
        metadata: ObjectMeta {
            name: Some(name.into()),
            labels: Some(labels(extra)),
            ..ObjectMeta::default()
        },
        spec: Some(pod_spec()),
        ..Pod::default()
    };
    pods.create(&PostParams::default(), &pod)
        .await
        .expect("create Pod");
    pods
}

#[tokio::test]
async fn pod_with_the_never_ready_label_runs_but_stays_not_ready() {
    let ns = namespace().await;
    let pods = create_pod(&ns, "stuck", &[(NEVER_READY_LABEL, "true")]).await;
    create_pod(&ns, "healthy", &[]).await;

    let running = |p: Option<&Pod>| p.and_then(phase) == Some("Running");
    let stuck = wait_until(&pods, "stuck", "phase Running", running).await;
    assert_eq!(
        ready_condition(&stuck).as_deref(),
        Some("False"),
        "{:#?}",
        stuck.status
    );
    // The unlabelled pod beside it becomes Ready, so the label is what holds the other back.
    let ready = |p: Option<&Pod>| p.and_then(ready_condition).as_deref() == Some("True");
    wait_until(&pods, "healthy", "Ready=True", ready).await;

    // It must stay that way, not merely be slow: give kwok time to act again.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let stuck = pods.get("stuck").await.unwrap();
    assert_eq!(phase(&stuck), Some("Running"));
    assert_eq!(
        ready_condition(&stuck).as_deref(),
        Some("False"),
        "{:#?}",
        stuck.status
    );
}

#[tokio::test]
async fn deployment_of_never_ready_pods_exceeds_its_progress_deadline() {
    let ns = namespace().await;
    let deployments: Api<Deployment> = Api::namespaced(ns.client(), &ns.name);
    let selector = labels(&[("app", "stuck")]);
    let deployment = Deployment {
        metadata: ObjectMeta {
            name: Some("stuck".into()),
            ..ObjectMeta::default()
        },
        spec: Some(DeploymentSpec {
            replicas: Some(1),
            progress_deadline_seconds: Some(2),
            selector: LabelSelector {
                match_labels: Some(selector),
                ..LabelSelector::default()
            },
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels(&[("app", "stuck"), (NEVER_READY_LABEL, "true")])),
                    ..ObjectMeta::default()
                }),
                spec: Some(pod_spec()),
            },
            ..DeploymentSpec::default()
        }),
        ..Deployment::default()
    };
    deployments
        .create(&PostParams::default(), &deployment)
        .await
        .expect("create Deployment");

    let deadline_exceeded = |d: Option<&Deployment>| {
        let conditions = d.and_then(|d| d.status.as_ref()?.conditions.as_ref());
        conditions.is_some_and(|c| {
            c.iter().any(|c| {
                c.type_ == "Progressing" && c.reason.as_deref() == Some("ProgressDeadlineExceeded")
            })
        })
    };
    let stuck = wait_until(
        &deployments,
        "stuck",
        "ProgressDeadlineExceeded",
        deadline_exceeded,
    )
    .await;
    let status = stuck.status.expect("status");
    assert_eq!(status.updated_replicas, Some(1), "{status:?}");
    assert_eq!(status.available_replicas.unwrap_or(0), 0, "{status:?}");
}

#[tokio::test]
async fn dropping_a_test_namespace_deletes_it() {
    let ns = namespace().await;
    let name = ns.name.clone();
    let namespaces: Api<Namespace> = Api::all(ns.client());
    assert!(namespaces.get_opt(&name).await.unwrap().is_some());
    drop(ns);
    let gone = namespaces.get_opt(&name).await.unwrap();
    assert!(
        gone.is_none_or(|n| n.metadata.deletion_timestamp.is_some()),
        "namespace {name} is neither gone nor terminating after drop"
    );
}
