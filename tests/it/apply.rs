//! `gpt-deploy apply` against the local control plane: server-side apply, ApplySet,
//! pruning, conflicts, dry run, preflight and rollout waiting.

use crate::support;

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::batch::v1::CronJob;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;
use support::deploy_env::{DeployEnv, run};

const APP: &str = "gpt-service";
const PARENT: &str = "gpt-service-applyset";
const PART_OF: &str = "applyset.kubernetes.io/part-of";

fn labels(meta: &kube::api::ObjectMeta) -> BTreeMap<String, String> {
    meta.labels.clone().unwrap_or_default()
}

fn annotations(meta: &kube::api::ObjectMeta) -> BTreeMap<String, String> {
    meta.annotations.clone().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn fresh_apply_creates_the_set_and_waits_for_the_rollout() {
    let env = DeployEnv::new().await;
    let out = run(env.cmd("apply", &["--wait", "--timeout", "120s"])).await;
    out.success();
    let version = env.secret_version().await;
    assert!(
        gpt_deploy::render::is_version("gpt-secrets", &version),
        "{version}"
    );
    for line in [
        &format!("secret/{version} created"),
        "poddisruptionbudget.policy/gpt-service created",
        "service/gpt-service created",
        "deployment.apps/gpt-service created",
        "cronjob.batch/gpt-token-cleanup created",
    ] {
        assert!(
            out.stdout.contains(line),
            "missing {line:?} in:\n{}",
            out.stdout
        );
    }
    // Dependency order: the Secret before the Deployment that reads it.
    let secret_at = out.stdout.find("secret/gpt-secrets").unwrap();
    let deployment_at = out.stdout.find("deployment.apps/").unwrap();
    assert!(secret_at < deployment_at, "{}", out.stdout);
    assert!(
        out.stderr.contains("successfully rolled out"),
        "{}",
        out.stderr
    );

    let client = env.ns.client();
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &env.ns.name);
    let parent = secrets.get(PARENT).await.unwrap();
    let id = labels(&parent.metadata)["applyset.kubernetes.io/id"].clone();
    assert!(id.starts_with("applyset-") && id.ends_with("-v1"), "{id}");
    let notes = annotations(&parent.metadata);
    assert!(notes["applyset.kubernetes.io/tooling"].starts_with("gpt-deploy/v"));
    assert_eq!(
        notes["applyset.kubernetes.io/contains-group-kinds"],
        "CronJob.batch,Deployment.apps,Job.batch,PodDisruptionBudget.policy,Secret,Service"
    );

    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &env.ns.name);
    let deployment = deployments.get(APP).await.unwrap();
    assert_eq!(labels(&deployment.metadata)[PART_OF], id);
    let status = deployment.status.unwrap();
    assert_eq!(status.updated_replicas, Some(1));
    assert_eq!(status.available_replicas, Some(1));
    // Only our field manager wrote the spec.
    let managers: Vec<String> = deployment
        .metadata
        .managed_fields
        .unwrap_or_default()
        .into_iter()
        .filter(|m| m.operation.as_deref() == Some("Apply"))
        .filter_map(|m| m.manager)
        .collect();
    assert_eq!(managers, vec!["gpt-deploy".to_string()]);

    let secret = secrets.get(&version).await.unwrap();
    let data = secret.data.unwrap();
    assert_eq!(
        data["clerk-webhook-secret"].0,
        support::sentinel::CLERK.as_bytes()
    );
    assert_eq!(labels(&secret.metadata)[PART_OF], id);
}

#[tokio::test(flavor = "multi_thread")]
async fn unchanged_reapply_makes_no_new_generation() {
    let env = DeployEnv::new().await;
    run(env.cmd("apply", &["--wait", "--timeout", "120s"]))
        .await
        .success();
    let deployments: Api<Deployment> = Api::namespaced(env.ns.client(), &env.ns.name);
    let before = deployments.get(APP).await.unwrap();
    let out = run(env.cmd("apply", &[])).await;
    out.success();
    assert_eq!(
        out.stdout.matches(" unchanged").count(),
        6,
        "{}",
        out.stdout
    );
    assert!(!out.stdout.contains("configured"), "{}", out.stdout);
    let after = deployments.get(APP).await.unwrap();
    assert_eq!(before.metadata.generation, after.metadata.generation);
    let replica_sets: Api<ReplicaSet> = Api::namespaced(env.ns.client(), &env.ns.name);
    assert_eq!(
        replica_sets
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .len(),
        1,
        "no rollout"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn image_change_rolls_out() {
    let env = DeployEnv::new().await;
    run(env.cmd("apply", &["--wait", "--timeout", "120s"]))
        .await
        .success();
    let deployments: Api<Deployment> = Api::namespaced(env.ns.client(), &env.ns.name);
    let first = deployments.get(APP).await.unwrap();
    let out = run(env.cmd(
        "apply",
        &["--image", "v2.0.1", "--wait", "--timeout", "120s"],
    ))
    .await;
    out.success();
    assert!(
        out.stdout
            .contains("deployment.apps/gpt-service configured"),
        "{}",
        out.stdout
    );
    let second = deployments.get(APP).await.unwrap();
    assert!(second.metadata.generation > first.metadata.generation);
    let spec = second.spec.unwrap().template.spec.unwrap();
    assert!(
        spec.containers[0]
            .image
            .as_deref()
            .unwrap()
            .ends_with(":v2.0.1")
    );
    let status = second.status.unwrap();
    assert_eq!(status.observed_generation, second.metadata.generation);
    assert_eq!(status.updated_replicas, Some(1));
    assert_eq!(status.replicas, Some(1), "the old pod is gone");
}

#[tokio::test(flavor = "multi_thread")]
async fn changed_secret_rolls_the_pods() {
    let env = DeployEnv::new().await;
    run(env.cmd("apply", &["--wait", "--timeout", "120s"]))
        .await
        .success();
    let old = env.secret_version().await;
    let rotated = "whsec_sentinelClerkRotated2AAA";
    let out = run(env
        .cmd("apply", &["--wait", "--timeout", "120s", "--prune"])
        .env("CLERK_WEBHOOK_SECRET", rotated))
    .await;
    out.success();
    // A changed value is a new Secret version; the old pods' version stays.
    let new = env.secret_version().await;
    assert_ne!(new, old);
    assert!(
        out.stdout.contains(&format!("secret/{new} created")),
        "{}",
        out.stdout
    );
    assert!(!out.stdout.contains(&old), "{}", out.stdout);
    let secrets: Api<Secret> = Api::namespaced(env.ns.client(), &env.ns.name);
    let kept = secrets.get(&old).await.unwrap().data.unwrap();
    assert_eq!(
        kept["clerk-webhook-secret"].0,
        support::sentinel::CLERK.as_bytes()
    );
    let current = secrets.get(&new).await.unwrap().data.unwrap();
    assert_eq!(current["clerk-webhook-secret"].0, rotated.as_bytes());
    assert!(
        out.stdout
            .contains("deployment.apps/gpt-service configured"),
        "{}",
        out.stdout
    );
    assert!(!out.stdout.contains(rotated) && !out.stderr.contains(rotated));
    // A second ReplicaSet means the pods were replaced.
    let replica_sets: Api<ReplicaSet> = Api::namespaced(env.ns.client(), &env.ns.name);
    let list = replica_sets.list(&ListParams::default()).await.unwrap();
    assert_eq!(
        list.items.len(),
        2,
        "expected a new ReplicaSet after the secret change"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn conflict_names_field_and_manager_then_force_takes_ownership() {
    let env = DeployEnv::new().await;
    run(env.cmd("apply", &[])).await.success();
    // What `kubectl scale` / `kubectl edit` does: an update by another manager.
    let deployments: Api<Deployment> = Api::namespaced(env.ns.client(), &env.ns.name);
    deployments
        .patch(
            APP,
            &PatchParams {
                field_manager: Some("kubectl-edit".into()),
                ..PatchParams::default()
            },
            &Patch::Merge(json!({"spec": {"replicas": 3}})),
        )
        .await
        .unwrap();
    let out = run(env.cmd("apply", &[])).await;
    out.expect_code(3);
    assert!(out.stderr.contains("Deployment"), "{}", out.stderr);
    assert!(out.stderr.contains(".spec.replicas"), "{}", out.stderr);
    assert!(out.stderr.contains("\"kubectl-edit\""), "{}", out.stderr);
    assert!(out.stderr.contains("--force-conflicts"), "{}", out.stderr);
    assert_eq!(
        deployments.get(APP).await.unwrap().spec.unwrap().replicas,
        Some(3)
    );

    run(env.cmd("apply", &["--force-conflicts"]))
        .await
        .success();
    assert_eq!(
        deployments.get(APP).await.unwrap().spec.unwrap().replicas,
        Some(1)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn prune_deletes_a_dropped_member_and_nothing_else() {
    let env = DeployEnv::new().await;
    run(env.cmd("apply", &[])).await.success();
    let client = env.ns.client();
    let pdbs: Api<PodDisruptionBudget> = Api::namespaced(client.clone(), &env.ns.name);
    let ours = pdbs.get(APP).await.unwrap();
    let id = labels(&ours.metadata)[PART_OF].clone();
    // Look-alikes: same app labels and selector; one even carries the set's label, but
    // neither was written by gpt-deploy.
    for (name, with_set_label) in [("lookalike", false), ("lookalike-labelled", true)] {
        let mut value = serde_json::to_value(&ours).unwrap();
        let meta = value["metadata"].as_object_mut().unwrap();
        meta.retain(|k, _| k == "labels" || k == "namespace");
        meta.insert("name".into(), json!(name));
        if !with_set_label {
            meta["labels"].as_object_mut().unwrap().remove(PART_OF);
        }
        value.as_object_mut().unwrap().remove("status");
        let pdb: PodDisruptionBudget = serde_json::from_value(value).unwrap();
        pdbs.create(
            &PostParams {
                field_manager: Some("someone-else".into()),
                ..PostParams::default()
            },
            &pdb,
        )
        .await
        .unwrap();
    }

    env.remove("templates/poddisruptionbudget.yaml.j2");
    // Without --prune the dropped object stays.
    let out = run(env.cmd("apply", &[])).await;
    out.success();
    assert!(!out.stdout.contains("pruned"), "{}", out.stdout);
    assert!(pdbs.get_opt(APP).await.unwrap().is_some());

    let out = run(env.cmd("apply", &["--prune"])).await;
    out.success();
    assert!(
        out.stdout
            .contains("poddisruptionbudget.policy/gpt-service pruned"),
        "{}",
        out.stdout
    );
    assert!(
        out.stderr.contains("not pruning PodDisruptionBudget"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("lookalike-labelled"), "{}", out.stderr);
    let gone = pdbs.get_opt(APP).await.unwrap();
    assert!(gone.is_none() || gone.unwrap().metadata.deletion_timestamp.is_some());
    assert!(pdbs.get_opt("lookalike").await.unwrap().is_some());
    assert!(pdbs.get_opt("lookalike-labelled").await.unwrap().is_some());
    // The rest of the set is untouched and the parent still names its kinds.
    let cronjobs: Api<CronJob> = Api::namespaced(client.clone(), &env.ns.name);
    assert!(
        cronjobs
            .get_opt("gpt-token-cleanup")
            .await
            .unwrap()
            .is_some()
    );
    let secrets: Api<Secret> = Api::namespaced(client, &env.ns.name);
    let parent = secrets.get(PARENT).await.unwrap();
    assert_eq!(labels(&parent.metadata)["applyset.kubernetes.io/id"], id);
    assert_eq!(
        annotations(&parent.metadata)["applyset.kubernetes.io/contains-group-kinds"],
        "CronJob.batch,Deployment.apps,Job.batch,PodDisruptionBudget.policy,Secret,Service",
        "the labelled look-alike keeps its kind recorded"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn dry_run_persists_nothing() {
    let env = DeployEnv::new().await;
    let out = run(env.cmd("apply", &["--dry-run", "--prune"])).await;
    out.success();
    assert!(
        out.stdout
            .contains("deployment.apps/gpt-service created (server dry run)"),
        "{}",
        out.stdout
    );
    let client = env.ns.client();
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &env.ns.name);
    let deployments: Api<Deployment> = Api::namespaced(client, &env.ns.name);
    assert!(
        deployments
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
    let names: Vec<String> = secrets
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|s| s.metadata.name)
        .collect();
    assert!(
        !names
            .iter()
            .any(|n| n == PARENT || n.starts_with("gpt-secrets")),
        "{names:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_secrets_stop_before_any_write() {
    let env = DeployEnv::new().await;
    let out = run(env.cmd_with("apply", &["--wait"], &env.ns.name, false)).await;
    out.expect_code(2);
    assert!(
        out.stderr.contains("CLERK_WEBHOOK_SECRET"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("DATABASE_URL"), "{}", out.stderr);
    assert!(out.stdout.is_empty(), "{}", out.stdout);
    let secrets: Api<Secret> = Api::namespaced(env.ns.client(), &env.ns.name);
    let ours = secrets
        .list(&ListParams::default().labels("app.kubernetes.io/managed-by=gpt-deploy"))
        .await
        .unwrap();
    assert!(ours.items.is_empty());
    assert!(secrets.get_opt(PARENT).await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn rollout_that_never_becomes_ready_exits_4_with_pod_diagnostics() {
    let env = DeployEnv::new().await;
    env.make_pods_never_ready();
    let out = run(env.cmd("apply", &["--wait", "--timeout", "20s"])).await;
    out.expect_code(4);
    assert!(
        out.stderr.contains("did not finish rolling out within 20s"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("pod gpt-service-"), "{}", out.stderr);
    assert!(out.stderr.contains("phase Running"), "{}", out.stderr);
    assert!(
        out.stderr
            .contains("condition Ready=False ContainersNotReady"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("event "),
        "recent events are shown:\n{}",
        out.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_namespace_is_an_error_unless_created() {
    let env = DeployEnv::new().await;
    let name = format!("{}-new", env.ns.name);
    let cmd = |extra: &[&str]| env.cmd_with("apply", extra, &name, true);
    let out = run(cmd(&[])).await;
    out.expect_code(3);
    assert!(
        out.stderr
            .contains(&format!("namespace {name:?} does not exist")),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("--create-namespace"), "{}", out.stderr);

    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(env.ns.client());
    let out = run(cmd(&["--create-namespace"])).await;
    let created = namespaces.get_opt(&name).await.unwrap().is_some();
    // Clean up before asserting, so a failure does not leak the namespace.
    let _ = namespaces.delete(&name, &Default::default()).await;
    out.success();
    assert!(created);
    assert!(
        out.stdout.contains(&format!("namespace/{name} created")),
        "{}",
        out.stdout
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn parent_owned_by_another_tool_is_refused() {
    let env = DeployEnv::new().await;
    let secrets: Api<Secret> = Api::namespaced(env.ns.client(), &env.ns.name);
    let parent: Secret = serde_json::from_value(json!({
        "metadata": {"name": PARENT, "namespace": env.ns.name,
            "labels": {"applyset.kubernetes.io/id": "applyset-other-v1"},
            "annotations": {"applyset.kubernetes.io/tooling": "kubectl/v1.35.4",
                            "applyset.kubernetes.io/contains-group-kinds": ""}}
    }))
    .unwrap();
    secrets
        .create(&PostParams::default(), &parent)
        .await
        .unwrap();
    let out = run(env.cmd("apply", &["--prune"])).await;
    out.expect_code(3);
    assert!(out.stderr.contains("kubectl/v1.35.4"), "{}", out.stderr);
    let deployments: Api<Deployment> = Api::namespaced(env.ns.client(), &env.ns.name);
    assert!(
        deployments.get_opt(APP).await.unwrap().is_none(),
        "nothing was applied"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn unreachable_api_server_is_a_clear_error() {
    // A port nobody listens on: bind, read the port, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: gone\n  cluster:\n    server: https://127.0.0.1:{port}\n    insecure-skip-tls-verify: true\nusers:\n- name: u\n  user:\n    token: t\ncontexts:\n- name: gone\n  context: {{cluster: gone, user: u}}\ncurrent-context: gone\n"
        ),
    )
    .unwrap();
    let config = support::config_dir::ConfigDir::shipped();
    let out = run(support::bin::gpt_deploy([
        "apply",
        "--config",
        config.path().to_str().unwrap(),
        "--env",
        "development",
        "--kubeconfig",
        kubeconfig.to_str().unwrap(),
        "--context",
        "gone",
    ])
    .envs(support::sentinel::env()))
    .await;
    out.expect_code(3);
    assert!(
        out.stderr.contains(&format!(
            "cannot reach the API server at https://127.0.0.1:{port}"
        )),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.to_lowercase().contains("connection refused"),
        "{}",
        out.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn invalid_object_names_the_object_and_quotes_the_server() {
    let env = DeployEnv::new().await;
    // Well-typed (an integer) but invalid for the API server.
    env.config.edit(
        "templates/deployment.yaml.j2",
        "progressDeadlineSeconds: 300",
        "progressDeadlineSeconds: -5",
    );
    let out = run(env.cmd("apply", &[])).await;
    out.expect_code(3);
    assert!(
        out.stderr.contains(&format!(
            "cannot apply Deployment {}/gpt-service",
            env.ns.name
        )),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("HTTP 422 Invalid"), "{}", out.stderr);
    assert!(
        out.stderr.contains("spec.progressDeadlineSeconds"),
        "{}",
        out.stderr
    );
    // The preflight's dry run caught it: nothing was written, not even the parent.
    let secrets: Api<Secret> = Api::namespaced(env.ns.client(), &env.ns.name);
    assert!(secrets.get_opt(PARENT).await.unwrap().is_none());
    let names: Vec<String> = secrets
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|s| s.metadata.name)
        .collect();
    assert!(
        !names.iter().any(|n| n.starts_with("gpt-secrets")),
        "{names:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn forbidden_is_reported_with_the_permission_hint() {
    use k8s_openapi::api::authentication::v1::TokenRequest;
    use k8s_openapi::api::core::v1::ServiceAccount;
    let env = DeployEnv::new().await;
    // A service account with no roles at all: every request but discovery is 403.
    let accounts: Api<ServiceAccount> = Api::namespaced(env.ns.client(), &env.ns.name);
    let account: ServiceAccount =
        serde_json::from_value(json!({"metadata": {"name": "nobody"}})).unwrap();
    accounts
        .create(&PostParams::default(), &account)
        .await
        .unwrap();
    let request: TokenRequest =
        serde_json::from_value(json!({"spec": {"audiences": [], "expirationSeconds": 600}}))
            .unwrap();
    let token = accounts
        .create_token_request("nobody", &PostParams::default(), &request)
        .await
        .unwrap()
        .status
        .unwrap()
        .token;
    // Same cluster and CA as the admin kubeconfig, with the token as the user.
    let admin = kube::config::Kubeconfig::read_from(&env.ns.kubeconfig).unwrap();
    let cluster = admin.clusters[0].cluster.clone().unwrap();
    let kubeconfig = json!({
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "c", "cluster": {
            "server": cluster.server,
            "certificate-authority-data": cluster.certificate_authority_data}}],
        "users": [{"name": "nobody", "user": {"token": token}}],
        "contexts": [{"name": "nobody", "context": {"cluster": "c", "user": "nobody"}}],
        "current-context": "nobody",
    });
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kubeconfig");
    std::fs::write(&path, serde_json::to_string(&kubeconfig).unwrap()).unwrap();
    let out = run(support::bin::gpt_deploy([
        "apply",
        "--config",
        env.config.arg(),
        "--env",
        "development",
        "--kubeconfig",
        path.to_str().unwrap(),
        "--context",
        "nobody",
        "--namespace",
        &env.ns.name,
    ])
    .envs(support::sentinel::env()))
    .await;
    out.expect_code(3);
    assert!(out.stderr.contains("HTTP 403 Forbidden"), "{}", out.stderr);
    assert!(
        out.stderr.contains("system:serviceaccount"),
        "the server's message is quoted:\n{}",
        out.stderr
    );
    assert!(out.stderr.contains("RBAC"), "{}", out.stderr);
    assert!(!out.stderr.contains(&token), "the token is never printed");
}

#[tokio::test(flavor = "multi_thread")]
async fn exceeded_progress_deadline_fails_before_the_timeout() {
    let env = DeployEnv::new().await;
    env.make_pods_never_ready();
    env.config.edit(
        "templates/deployment.yaml.j2",
        "progressDeadlineSeconds: 300",
        "progressDeadlineSeconds: 2",
    );
    // The timeout is far away: only the controller's ProgressDeadlineExceeded can end this.
    let out = run(env.cmd("apply", &["--wait", "--timeout", "10m"])).await;
    out.expect_code(4);
    assert!(
        out.stderr
            .contains("deployment \"gpt-service\" exceeded its progress deadline"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("condition Progressing=False ProgressDeadlineExceeded"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("pod gpt-service-"), "{}", out.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn crash_looping_pod_of_the_new_revision_fails_at_once() {
    use k8s_openapi::api::core::v1::Pod;
    let env = DeployEnv::new().await;
    env.make_pods_never_ready();
    let waiting = tokio::spawn(run(env.cmd("apply", &["--wait", "--timeout", "10m"])));
    // Once kwok runs the pod, report its container the way the kubelet reports a crash loop.
    let pods: Api<Pod> = Api::namespaced(env.ns.client(), &env.ns.name);
    let pod = tokio::time::timeout(std::time::Duration::from_secs(60), async {
        loop {
            let list = pods.list(&ListParams::default()).await.unwrap();
            if let Some(pod) = list
                .items
                .into_iter()
                // The Deployment's pod, not the migration Job's (which runs first and ends).
                .find(|p| {
                    p.metadata
                        .name
                        .as_deref()
                        .is_some_and(|n| n.starts_with("gpt-service-"))
                        && p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running")
                })
            {
                break pod;
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    })
    .await
    .expect("a running pod within 60s");
    let name = pod.metadata.name.clone().unwrap();
    let container = pod.spec.unwrap().containers[0].name.clone();
    pods.patch_status(
        &name,
        &PatchParams::default(),
        &Patch::Merge(json!({"status": {"containerStatuses": [{
            "name": container, "image": "x", "imageID": "", "ready": false, "restartCount": 5,
            "state": {"waiting": {"reason": "CrashLoopBackOff",
                                  "message": "back-off 2m40s restarting failed container"}}}]}})),
    )
    .await
    .unwrap();
    let out = waiting.await.unwrap();
    out.expect_code(4);
    assert!(
        out.stderr.contains(&format!(
            "pod {name}: container \"{container}\" is in CrashLoopBackOff"
        )),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("waiting: CrashLoopBackOff"),
        "{}",
        out.stderr
    );
}
