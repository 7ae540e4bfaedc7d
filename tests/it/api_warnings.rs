//! The API server's warnings (`Warning` response headers) reach the operator: a deprecated
//! node label in the Deployment's pod template, applied to the local control plane.

use crate::support;

use support::deploy_env::{DeployEnv, run};

const WARNING: &str = "warning: the API server warns about deployments.apps/gpt-service: \
     spec.template.spec.nodeSelector[beta.kubernetes.io/os]: deprecated since v1.14; use \"kubernetes.io/os\" instead";

#[tokio::test(flavor = "multi_thread")]
async fn api_server_warnings_are_shown_once_and_annotated_under_actions() {
    let env = DeployEnv::new().await;
    // The shipped manifests draw no warning.
    let out = run(env.cmd("apply", &["--dry-run"])).await;
    out.success();
    assert!(
        !out.stderr.contains("the API server warns"),
        "{}",
        out.stderr
    );

    env.config.edit(
        "templates/deployment.yaml.j2",
        "      automountServiceAccountToken: false\n",
        "      automountServiceAccountToken: false\n      nodeSelector:\n        beta.kubernetes.io/os: linux\n",
    );
    let out = run(env.cmd("apply", &[]).env("GITHUB_ACTIONS", "true")).await;
    out.success();
    // The preflight's dry run and the write both draw it; it is printed once.
    assert_eq!(out.stderr.matches(WARNING).count(), 1, "{}", out.stderr);
    let annotation = format!("::warning::{}", WARNING.trim_start_matches("warning: "));
    assert_eq!(out.stderr.matches(&annotation).count(), 1, "{}", out.stderr);
}
