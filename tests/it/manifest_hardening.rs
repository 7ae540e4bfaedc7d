//! The hardening fields of the rendered manifests as the API server stored them (applied with
//! `fieldValidation=Strict`), and the Pod Security label of a namespace `--create-namespace`
//! makes — on the local control plane.

use crate::support;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::{Api, ListParams};
use support::deploy_env::{DeployEnv, run};

const APP: &str = "gpt-service";

#[tokio::test(flavor = "multi_thread")]
async fn stored_objects_carry_the_shutdown_spread_disruption_and_retry_rules() {
    let env = DeployEnv::new().await;
    run(env.cmd("apply", &[])).await.success();
    let ns = &env.ns.name;
    let deployment = Api::<Deployment>::namespaced(env.ns.client(), ns)
        .get(APP)
        .await
        .unwrap();
    let stored = serde_json::to_value(&deployment).unwrap();
    let pod = &stored["spec"]["template"]["spec"];
    for constraint in pod["topologySpreadConstraints"].as_array().unwrap() {
        assert_eq!(constraint["nodeTaintsPolicy"], "Honor", "{constraint}");
        assert_eq!(
            constraint["matchLabelKeys"],
            serde_json::json!(["pod-template-hash"]),
            "{constraint}"
        );
    }
    let env_of = |name: &str| {
        pod["containers"][0]["env"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == name)
            .map(|e| e["value"].clone())
    };
    assert_eq!(env_of("SHUTDOWN_DELAY"), Some("5s".into()));
    let grace = pod["terminationGracePeriodSeconds"].as_i64().unwrap();
    let drain: i64 = env_of("SHUTDOWN_TIMEOUT")
        .unwrap()
        .as_str()
        .unwrap()
        .trim_end_matches('s')
        .parse()
        .unwrap();
    assert!(
        5 + drain < grace,
        "delay 5 s + drain {drain} s >= grace {grace} s"
    );
    let jobs = Api::<Job>::namespaced(env.ns.client(), ns)
        .list(&ListParams::default().labels("app.kubernetes.io/component=migrate"))
        .await
        .unwrap();
    assert_eq!(jobs.items.len(), 1, "one migration Job");
    let job = serde_json::to_value(&jobs.items[0]).unwrap();
    let job_pod = &job["spec"]["template"]["spec"];
    assert!(
        job_pod["containers"][0]["env"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["name"] == "GPT_ENV"),
        "the migration Job needs GPT_ENV for the TLS rule"
    );
    assert_eq!(
        job_pod["securityContext"]["runAsNonRoot"], true,
        "{job_pod}"
    );

    let pdb = Api::<PodDisruptionBudget>::namespaced(env.ns.client(), ns)
        .get(APP)
        .await
        .unwrap();
    assert_eq!(
        pdb.spec.unwrap().unhealthy_pod_eviction_policy.as_deref(),
        Some("AlwaysAllow")
    );

    let cronjobs = Api::<CronJob>::namespaced(env.ns.client(), ns)
        .list(&Default::default())
        .await
        .unwrap();
    let cronjob = serde_json::to_value(&cronjobs.items[0]).unwrap();
    let rules = &cronjob["spec"]["jobTemplate"]["spec"]["podFailurePolicy"]["rules"];
    assert_eq!(rules[0]["action"], "FailJob", "{rules}");
    assert_eq!(
        rules[0]["onExitCodes"]["values"],
        serde_json::json!([2, 5]),
        "{rules}"
    );
    assert_eq!(rules[1]["action"], "Ignore", "{rules}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_created_namespace_enforces_pod_security_restricted() {
    let env = DeployEnv::new().await;
    let name = format!("{}-psa", env.ns.name);
    let out = run(env.cmd_with("apply", &["--create-namespace"], &name, true)).await;
    let namespaces: Api<Namespace> = Api::all(env.ns.client());
    let created = namespaces.get_opt(&name).await.unwrap();
    // Clean up before asserting, so a failure does not leak the namespace.
    let _ = namespaces.delete(&name, &Default::default()).await;
    out.success();
    let labels = created
        .expect("namespace created")
        .metadata
        .labels
        .unwrap_or_default();
    assert_eq!(
        labels
            .get("pod-security.kubernetes.io/enforce")
            .map(String::as_str),
        Some("restricted"),
        "{labels:?}"
    );
}
