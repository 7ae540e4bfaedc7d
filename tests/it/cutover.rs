//! The first `deploy` into a namespace that `kubectl apply` (client side) and
//! `kubectl create secret` filled: refused without `--replace-immutable` with nothing
//! changed, then a takeover with no moment without a ready endpoint.

use crate::support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::CronJob;
use k8s_openapi::api::core::v1::{ConfigMap, Secret, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube::runtime::{WatchStreamExt, watcher};
use serde_json::json;
use support::deploy_env::{DeployEnv, run};

const APP: &str = "gpt-service";
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";
const KUBECTL_MANAGERS: &[&str] = &[
    "kubectl-client-side-apply",
    "kubectl-create",
    "kubectl",
    "before-first-apply",
];

/// Puts the old layout into the namespace as deploy-aks.yml did and waits for 2/2 ready.
async fn old_layout(env: &DeployEnv) {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/deploy-aks");
    env.kubectl(&["apply", "-f", fixtures.to_str().unwrap()]);
    env.kubectl(&[
        "create",
        "secret",
        "generic",
        "gpt-secrets",
        "--from-literal=clerk-webhook-secret=old-clerk-value",
        "--from-literal=database-url=postgres://old-database",
        "--from-literal=legacy-extra=old-only",
    ]);
    let deployments: Api<Deployment> = Api::namespaced(env.ns.client(), &env.ns.name);
    wait_for(Duration::from_secs(120), || async {
        let d = deployments.get(APP).await.unwrap();
        d.status.and_then(|s| s.available_replicas) == Some(2)
    })
    .await;
}

async fn wait_for<F, Fut>(timeout: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    tokio::time::timeout(timeout, async {
        while !check().await {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await
    .expect("condition not met in time");
}

/// Watches the Service's EndpointSlices and records every total of ready endpoints.
fn watch_ready_endpoints(env: &DeployEnv) -> (Arc<Mutex<Vec<usize>>>, tokio::task::JoinHandle<()>) {
    let slices: Api<EndpointSlice> = Api::namespaced(env.ns.client(), &env.ns.name);
    let totals = Arc::new(Mutex::new(Vec::new()));
    let seen = totals.clone();
    let task = tokio::spawn(async move {
        let config =
            watcher::Config::default().labels(&format!("kubernetes.io/service-name={APP}"));
        let mut ready: BTreeMap<String, usize> = BTreeMap::new();
        let mut listing = true;
        let mut events = watcher(slices, config).default_backoff().boxed();
        while let Some(event) = events.next().await {
            let Ok(event) = event else { continue };
            let count = |s: &EndpointSlice| {
                s.endpoints
                    .iter()
                    .filter(|e| e.conditions.as_ref().and_then(|c| c.ready) == Some(true))
                    .count()
            };
            match event {
                watcher::Event::Init => {
                    listing = true;
                    ready.clear();
                }
                watcher::Event::InitApply(s) => {
                    ready.insert(s.metadata.name.clone().unwrap_or_default(), count(&s));
                }
                watcher::Event::InitDone => listing = false,
                watcher::Event::Apply(s) => {
                    ready.insert(s.metadata.name.clone().unwrap_or_default(), count(&s));
                }
                watcher::Event::Delete(s) => {
                    ready.remove(&s.metadata.name.clone().unwrap_or_default());
                }
            }
            if !listing {
                seen.lock().unwrap().push(ready.values().sum());
            }
        }
    });
    (totals, task)
}

async fn resource_versions(env: &DeployEnv) -> BTreeMap<String, String> {
    let ns = &env.ns.name;
    let c = env.ns.client();
    let rv = |m: &kube::api::ObjectMeta| m.resource_version.clone().unwrap();
    let mut out = BTreeMap::new();
    out.insert(
        "deployment".into(),
        rv(&Api::<Deployment>::namespaced(c.clone(), ns)
            .get(APP)
            .await
            .unwrap()
            .metadata),
    );
    out.insert(
        "service".into(),
        rv(&Api::<Service>::namespaced(c.clone(), ns)
            .get(APP)
            .await
            .unwrap()
            .metadata),
    );
    out.insert(
        "cronjob".into(),
        rv(&Api::<CronJob>::namespaced(c.clone(), ns)
            .get("gpt-token-cleanup")
            .await
            .unwrap()
            .metadata),
    );
    out.insert(
        "secret".into(),
        rv(&Api::<Secret>::namespaced(c.clone(), ns)
            .get("gpt-secrets")
            .await
            .unwrap()
            .metadata),
    );
    out.insert(
        "configmap".into(),
        rv(&Api::<ConfigMap>::namespaced(c, ns)
            .get("gpt-service-config")
            .await
            .unwrap()
            .metadata),
    );
    out
}

/// Managers of the main resource (not status) recorded on an object.
fn spec_managers(meta: &kube::api::ObjectMeta) -> Vec<(String, String)> {
    meta.managed_fields
        .iter()
        .flatten()
        .filter(|m| m.subresource.as_deref().unwrap_or_default().is_empty())
        .map(|m| {
            (
                m.manager.clone().unwrap_or_default(),
                m.operation.clone().unwrap_or_default(),
            )
        })
        .collect()
}

fn assert_taken_over(what: &str, meta: &kube::api::ObjectMeta) {
    let annotations = meta.annotations.clone().unwrap_or_default();
    assert!(
        !annotations.contains_key(LAST_APPLIED),
        "{what} keeps the last-applied annotation: {annotations:?}"
    );
    for (manager, operation) in spec_managers(meta) {
        assert!(
            !KUBECTL_MANAGERS.contains(&manager.as_str()),
            "{what} still has fields owned by {manager} ({operation})"
        );
    }
}

fn selector_labels() -> BTreeMap<String, String> {
    let instance = format!("{APP}-{}", support::deploy_env::ENV);
    [
        ("app.kubernetes.io/name", APP),
        ("app.kubernetes.io/instance", instance.as_str()),
        ("app.kubernetes.io/component", "web"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn first_deploy_takes_over_the_kubectl_layout_without_a_gap() {
    let env = DeployEnv::new().await;
    env.config.edit(
        "environments/development.toml",
        "replicas = 1",
        "replicas = 2",
    );
    let deploy_toml = std::fs::read_to_string(env.path("deploy.toml")).unwrap();
    env.config.write(
        "deploy.toml",
        &format!(
            "{deploy_toml}\n[[app.retire]]\nkind = \"ConfigMap\"\nname = \"gpt-service-config\"\n"
        ),
    );
    old_layout(&env).await;
    let before = resource_versions(&env).await;

    // Without the flag: refused in the preflight, nothing written.
    let out = env.deploy("v2.0.0").await;
    out.expect_code(3);
    assert!(
        out.stderr.contains(
            "the live Deployment gpt-service selects {app: gpt-service}, the rendered one selects {app.kubernetes.io/component: web, app.kubernetes.io/instance: gpt-service-development, app.kubernetes.io/name: gpt-service}; a selector cannot change; rerun with --replace-immutable"
        ),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("Nothing was changed"), "{}", out.stderr);
    assert_eq!(resource_versions(&env).await, before, "nothing was written");
    let secrets: Api<Secret> = Api::namespaced(env.ns.client(), &env.ns.name);
    assert!(
        secrets
            .get_opt("gpt-service-applyset")
            .await
            .unwrap()
            .is_none(),
        "no ApplySet parent"
    );

    // `diff` shows the takeover, the replacement and the retired ConfigMap.
    let out = run(env.cmd("diff", &["--image", "v2.0.0"])).await;
    out.expect_code(1);
    assert!(
        out.stdout
            .contains("+++ retired/v1/ConfigMap/gpt-service-config"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("-      - command:") || out.stdout.contains("command:"),
        "{}",
        out.stdout
    );
    assert!(
        out.stderr
            .contains("would be adopted from kubectl-client-side-apply"),
        "{}",
        out.stderr
    );
    // The unversioned Secret of the old layout goes after the rollout; a version replaces it.
    assert!(
        out.stdout.contains("+++ retired/v1/Secret/gpt-secrets\n"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("+++ merged/v1/Secret/gpt-secrets-"),
        "{}",
        out.stdout
    );
    assert_eq!(resource_versions(&env).await, before, "diff wrote nothing");

    // With the flag: replaced while a watcher counts the Service's ready endpoints.
    let (totals, watcher) = watch_ready_endpoints(&env);
    let watching = totals.clone();
    wait_for(Duration::from_secs(30), || {
        let watching = watching.clone();
        async move { watching.lock().unwrap().last() == Some(&2) }
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let summary = dir.path().join("summary.md");
    let out = run(env
        .cmd(
            "deploy",
            &[
                "--image",
                "v2.0.0",
                "--timeout",
                "120s",
                "--replace-immutable",
            ],
        )
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_STEP_SUMMARY", summary.to_str().unwrap()))
    .await;
    out.success();
    println!("{}\n{}", out.stdout, out.stderr);
    // Let the endpoint changes of the last deletions arrive.
    tokio::time::sleep(Duration::from_secs(2)).await;
    watcher.abort();
    let totals = totals.lock().unwrap().clone();
    assert!(
        totals.iter().all(|&n| n > 0),
        "the Service had no ready endpoint at some moment: {totals:?}"
    );
    let version = env.secret_version().await;
    assert!(
        gpt_deploy::render::is_version("gpt-secrets", &version),
        "{version}"
    );
    for line in [
        "service/gpt-service configured (adopted from kubectl-client-side-apply)",
        "cronjob.batch/gpt-token-cleanup configured (adopted from kubectl-client-side-apply)",
        &format!("secret/{version} created"),
        "deployment.apps/gpt-service configured (replaced (selector changed))",
        "configmap/gpt-service-config retired",
        "secret/gpt-secrets retired",
    ] {
        assert!(
            out.stdout.contains(line),
            "missing {line:?}:\n{}",
            out.stdout
        );
    }
    // Retired only once the new pods serve: after the CronJob, which waits for the rollout.
    let position = |line: &str| out.stdout.find(line).unwrap();
    assert!(
        position("cronjob.batch/gpt-token-cleanup configured")
            < position("secret/gpt-secrets retired"),
        "{}",
        out.stdout
    );
    let md = std::fs::read_to_string(&summary).unwrap();
    assert!(md.contains("| Secret/gpt-secrets | retired |"), "{md}");
    assert!(
        md.contains(&format!("| Secret/{version} | created |")),
        "{md}"
    );

    let client = env.ns.client();
    let ns = &env.ns.name;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), ns);
    let deployment = deployments.get(APP).await.unwrap();
    let spec = deployment.spec.clone().unwrap();
    assert_eq!(
        spec.selector.match_labels.clone().unwrap(),
        selector_labels()
    );
    let pod = spec.template.spec.clone().unwrap();
    assert_eq!(pod.containers.len(), 1, "{:?}", pod.containers);
    let container = &pod.containers[0];
    assert_eq!(container.command, None);
    assert_eq!(container.args.as_deref(), Some(&["serve".to_string()][..]));
    assert!(container.image.as_deref().unwrap().ends_with(":v2.0.0"));
    let env_names: BTreeSet<String> = container
        .env
        .iter()
        .flatten()
        .map(|e| e.name.clone())
        .collect();
    assert!(!env_names.contains("NODE_ENV"), "{env_names:?}");
    let ports: Vec<i32> = container
        .ports
        .iter()
        .flatten()
        .map(|p| p.container_port)
        .collect();
    assert_eq!(ports, vec![8080]);
    let status = deployment.status.clone().unwrap();
    assert_eq!(
        (status.available_replicas, status.ready_replicas),
        (Some(2), Some(2))
    );
    assert_taken_over("Deployment", &deployment.metadata);

    let services: Api<Service> = Api::namespaced(client.clone(), ns);
    let service = services.get(APP).await.unwrap();
    assert_eq!(
        service.spec.clone().unwrap().selector.unwrap(),
        selector_labels()
    );
    assert_taken_over("Service", &service.metadata);
    // Its endpoints are the new pods only (the orphaned ReplicaSet is gone).
    let slices: Api<EndpointSlice> = Api::namespaced(client.clone(), ns);
    wait_for(Duration::from_secs(30), || async {
        let list = slices
            .list(&ListParams::default().labels(&format!("kubernetes.io/service-name={APP}")))
            .await
            .unwrap();
        let endpoints: Vec<_> = list.items.iter().flat_map(|s| s.endpoints.iter()).collect();
        endpoints.len() == 2
            && endpoints.iter().all(|e| {
                e.conditions.as_ref().and_then(|c| c.ready) == Some(true)
                    && e.target_ref
                        .as_ref()
                        .and_then(|t| t.name.clone())
                        .is_some_and(|n| n.starts_with("gpt-service-"))
            })
    })
    .await;
    let pods: Api<k8s_openapi::api::core::v1::Pod> = Api::namespaced(client.clone(), ns);
    wait_for(Duration::from_secs(60), || async {
        pods.list(&ListParams::default().labels("app=gpt-service"))
            .await
            .unwrap()
            .items
            .iter()
            .all(|p| p.metadata.deletion_timestamp.is_some())
    })
    .await;

    assert!(
        secrets.get_opt("gpt-secrets").await.unwrap().is_none(),
        "the unversioned Secret is retired"
    );
    let secret = secrets.get(&version).await.unwrap();
    let keys: BTreeSet<String> = secret.data.clone().unwrap().into_keys().collect();
    assert_eq!(
        keys,
        ["clerk-webhook-secret", "database-url"]
            .into_iter()
            .map(String::from)
            .collect()
    );
    assert_eq!(
        secret.data.unwrap()["database-url"].0,
        support::deploy_env::SENTINEL_DB.as_bytes()
    );
    assert_taken_over("Secret", &secret.metadata);

    let cronjobs: Api<CronJob> = Api::namespaced(client.clone(), ns);
    let cronjob = cronjobs.get("gpt-token-cleanup").await.unwrap();
    let job_pod = cronjob
        .spec
        .clone()
        .unwrap()
        .job_template
        .spec
        .unwrap()
        .template
        .spec
        .unwrap();
    assert_eq!(job_pod.containers.len(), 1, "{:?}", job_pod.containers);
    assert_eq!(job_pod.containers[0].command, None);
    assert_eq!(
        job_pod.containers[0].args.as_deref(),
        Some(&["cleanup".to_string()][..])
    );
    assert_taken_over("CronJob", &cronjob.metadata);

    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
    assert!(
        configmaps
            .get_opt("gpt-service-config")
            .await
            .unwrap()
            .is_none(),
        "retired"
    );

    // A second deploy changes nothing.
    let generation = deployment.metadata.generation;
    let out = env.deploy("v2.0.0").await;
    out.success();
    assert!(!out.stdout.contains("configured"), "{}", out.stdout);
    assert_eq!(
        deployments.get(APP).await.unwrap().metadata.generation,
        generation
    );

    // A field someone changed with `kubectl edit` is still a conflict, in diff and deploy.
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
    for (command, extra) in [("diff", &[][..]), ("deploy", &["--timeout", "120s"][..])] {
        let args: Vec<&str> = ["--image", "v2.0.0"]
            .into_iter()
            .chain(extra.iter().copied())
            .collect();
        let out = run(env.cmd(command, &args)).await;
        out.expect_code(3);
        assert!(
            out.stderr
                .contains(".spec.replicas is managed by \"kubectl-edit\""),
            "{command}: {}",
            out.stderr
        );
    }
    assert_eq!(
        deployments.get(APP).await.unwrap().spec.unwrap().replicas,
        Some(3),
        "the conflict stopped the deploy before any write"
    );
    println!("endpoint totals seen: {totals:?}");
}
