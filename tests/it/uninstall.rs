//! `gpt-deploy uninstall` on the local control plane: refuses without `--yes`, a dry run
//! deletes nothing, then every member and the ApplySet parent go, without any secret value.

use crate::support;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::CronJob;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::Api;
use kube::api::ListParams;
use support::deploy_env::{DeployEnv, run};

async fn count<K>(env: &DeployEnv) -> usize
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
    K::DynamicType: Default,
{
    let api: Api<K> = Api::namespaced(env.ns.client(), &env.ns.name);
    api.list(&ListParams::default()).await.unwrap().items.len()
}

#[tokio::test(flavor = "multi_thread")]
async fn uninstall_removes_every_member_and_the_parent_only_when_told() {
    let env = DeployEnv::new().await;
    run(env.cmd("apply", &[])).await.success();
    assert_eq!(count::<Secret>(&env).await, 2, "the Secret and the parent");
    let ns = env.ns.name.clone();

    // Without --yes: what would go is listed, nothing is deleted (no secret value needed).
    let out = run(env.cmd_with("uninstall", &[], &ns, false)).await;
    out.expect_code(2);
    for name in [
        "cronjob.batch/gpt-token-cleanup",
        "deployment.apps/gpt-service",
        "secret/gpt-secrets",
        "secret/gpt-service-applyset (the ApplySet parent)",
    ] {
        assert!(out.stderr.contains(name), "{name}: {}", out.stderr);
    }
    assert!(out.stderr.contains("--yes"), "{}", out.stderr);
    assert_eq!(count::<Deployment>(&env).await, 1);

    // A dry run: every delete checked by the server, nothing persisted.
    let out = run(env.cmd_with("uninstall", &["--dry-run"], &ns, false)).await;
    out.success();
    assert!(
        out.stdout
            .contains("deployment.apps/gpt-service deleted (server dry run)"),
        "{}",
        out.stdout
    );
    assert_eq!(count::<Deployment>(&env).await, 1);
    assert_eq!(count::<Secret>(&env).await, 2);

    let out = run(env.cmd_with("uninstall", &["--yes"], &ns, false)).await;
    out.success();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(
        lines.last().copied(),
        Some("secret/gpt-service-applyset deleted"),
        "the parent goes last: {}",
        out.stdout
    );
    assert_eq!(lines.len(), 7, "six members and the parent: {}", out.stdout);
    assert_eq!(count::<Deployment>(&env).await, 0);
    assert_eq!(count::<CronJob>(&env).await, 0);
    assert_eq!(count::<Secret>(&env).await, 0);
    let namespaces: Api<Namespace> = Api::all(env.ns.client());
    assert!(
        namespaces.get_opt(&ns).await.unwrap().is_some(),
        "the namespace stays"
    );

    let out = run(env.cmd_with("uninstall", &["--yes"], &ns, false)).await;
    out.success();
    assert!(
        out.stderr.contains("nothing to uninstall"),
        "{}",
        out.stderr
    );
}
