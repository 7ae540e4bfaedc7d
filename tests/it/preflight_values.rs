//! What `apply` and `deploy` refuse before their first write, on the local control plane:
//! a schedule the API server would refuse for the CronJob, and secret values the service
//! would refuse at start. In both cases the namespace stays empty.

use crate::support;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ListParams};
use support::deploy_env::{DeployEnv, run};

/// Panics unless the namespace holds nothing gpt-deploy writes.
async fn assert_nothing_written(env: &DeployEnv) {
    let client = env.ns.client();
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &env.ns.name);
    let ours = secrets
        .list(&ListParams::default().labels("app.kubernetes.io/managed-by=gpt-deploy"))
        .await
        .unwrap();
    assert!(ours.items.is_empty(), "a Secret was written");
    assert!(
        secrets
            .get_opt("gpt-service-applyset")
            .await
            .unwrap()
            .is_none(),
        "the ApplySet parent was written"
    );
    let deployments: Api<Deployment> = Api::namespaced(client, &env.ns.name);
    assert!(
        deployments
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .is_empty(),
        "a Deployment was written"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn deploy_refuses_a_schedule_the_api_server_would_refuse_before_any_write() {
    let env = DeployEnv::new().await;
    for schedule in [
        "61 * * * *",
        "0 25 * * *",
        "*/0 * * * *",
        "0 */6 * * MON-XYZ",
        "0 */6 * * 8",
    ] {
        env.config.write(
            "environments/development.toml",
            &std::fs::read_to_string(
                std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("environments/development.toml"),
            )
            .unwrap()
            .replace(
                "log_level = \"debug\"",
                &format!("log_level = \"debug\"\n\n[cleanup]\nschedule = \"{schedule}\""),
            ),
        );
        for command in ["deploy", "apply"] {
            let out = run(env.cmd(command, &["--timeout", "30s"])).await;
            out.expect_code(2);
            assert!(
                out.stderr
                    .contains(&format!("`cleanup.schedule` is `{schedule}`")),
                "{command} {schedule}: {}",
                out.stderr
            );
            assert!(out.stdout.is_empty(), "{}", out.stdout);
        }
        assert_nothing_written(&env).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_secret_values_are_refused_before_any_write() {
    let env = DeployEnv::new().await;
    // Not a svix secret: every pod would exit 2 at start.
    let out = run(env
        .cmd("deploy", &["--timeout", "30s"])
        .env("CLERK_WEBHOOK_SECRET", "notasecret-sentinelClerk-x"))
    .await;
    out.expect_code(2);
    assert!(
        out.stderr
            .contains("CLERK_WEBHOOK_SECRET: not a svix signing secret"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("nothing was written"), "{}", out.stderr);
    assert!(!out.stderr.contains("notasecret"), "{}", out.stderr);
    // A DATABASE_URL that does not parse as PostgreSQL, on apply.
    let out = run(env
        .cmd("apply", &[])
        .env("DATABASE_URL", "mysql://app:sentinel-db-pw-x@db/gpt"))
    .await;
    out.expect_code(2);
    assert!(
        out.stderr
            .contains("DATABASE_URL: not a valid PostgreSQL URL"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("mysql://"), "{}", out.stderr);
    assert_nothing_written(&env).await;
    // The same run with good values writes: the refusals above were about the values.
    run(env.cmd("apply", &[])).await.success();
}
