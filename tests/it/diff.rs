//! `gpt-deploy diff` against the local control plane: exit codes and secret masking.

use crate::support;

use support::deploy_env::{DeployEnv, run};

#[tokio::test(flavor = "multi_thread")]
async fn diff_shows_new_objects_then_nothing_after_apply() {
    let env = DeployEnv::new().await;
    let out = run(env.cmd("diff", &[])).await;
    out.expect_code(1);
    assert!(
        out.stdout
            .contains("+++ merged/apps/v1/Deployment/gpt-service"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("+kind: Deployment"), "{}", out.stdout);
    // Secret values are masked; the rest of the Secret is shown.
    assert!(out.stdout.contains("+kind: Secret"), "{}", out.stdout);
    assert!(
        out.stdout.contains("clerk-webhook-secret: '***'"),
        "{}",
        out.stdout
    );
    assert!(!out.stdout.contains("managedFields"), "{}", out.stdout);
    assert!(
        !out.stdout.contains("\u{1b}["),
        "no colour without a terminal"
    );

    assert!(
        out.stdout
            .ends_with("6 would be created, 0 changed, 0 would be pruned, 0 unchanged\n"),
        "{}",
        out.stdout
    );

    run(env.cmd("apply", &[])).await.success();
    let out = run(env.cmd("diff", &[])).await;
    out.expect_code(0);
    assert_eq!(
        out.stdout, "0 changed, 0 would be pruned, 6 unchanged\n",
        "nothing but the last line"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn changed_secret_shows_as_changed_without_its_value() {
    let env = DeployEnv::new().await;
    run(env.cmd("apply", &[])).await.success();
    let old = env.secret_version().await;
    let rotated = "whsec_sentinelClerkRotated3AAA";
    let out = run(env.cmd("diff", &[]).env("CLERK_WEBHOOK_SECRET", rotated)).await;
    out.expect_code(1);
    // A changed value is a new Secret version, values masked; the workloads would read it.
    let created = out
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("+++ merged/v1/Secret/"))
        .unwrap_or_else(|| panic!("no new Secret version in:\n{}", out.stdout))
        .to_owned();
    assert_ne!(created, old);
    assert!(
        out.stderr.contains(&format!(
            "Secret {}/{created} would be a new version of {old} (values changed: clerk-webhook-secret)",
            env.ns.name
        )),
        "{}",
        out.stderr
    );
    assert!(
        out.stdout.contains("+  clerk-webhook-secret: '***'"),
        "{}",
        out.stdout
    );
    for reader in ["Deployment/gpt-service", "CronJob/gpt-token-cleanup"] {
        assert!(out.stdout.contains(reader), "{reader}: {}", out.stdout);
    }
    assert!(
        out.stdout.contains(&format!("-              name: {old}"))
            && out
                .stdout
                .contains(&format!("+              name: {created}")),
        "{}",
        out.stdout
    );
    // The old version is kept for the pods that read it: not shown as pruned (the previous
    // migration Job is).
    assert!(!out.stdout.contains("pruned/v1/Secret"), "{}", out.stdout);
    assert!(
        out.stdout.contains("+++ pruned/batch/v1/Job/gpt-migrate-"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .ends_with("2 would be created, 2 changed, 1 would be pruned, 2 unchanged\n"),
        "{}",
        out.stdout
    );
    assert!(!out.stdout.contains(rotated));
    use base64::Engine as _;
    assert!(
        !out.stdout
            .contains(&base64::engine::general_purpose::STANDARD.encode(rotated))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn image_change_is_a_one_line_difference() {
    let env = DeployEnv::new().await;
    run(env.cmd("apply", &[])).await.success();
    let out = run(env.cmd("diff", &["--image", "v9.9.9"])).await;
    out.expect_code(1);
    assert!(
        out.stdout
            .contains("+        image: gptservice.azurecr.io/gpt-service:v9.9.9"),
        "{}",
        out.stdout
    );
    // The live Deployment is unchanged by a diff.
    let out = run(env.cmd("diff", &[])).await;
    out.expect_code(0);
}

#[tokio::test(flavor = "multi_thread")]
async fn diff_shows_what_deploy_would_prune_unless_told_not_to() {
    let env = DeployEnv::new().await;
    run(env.cmd("apply", &[])).await.success();
    env.remove("templates/poddisruptionbudget.yaml.j2");
    // deploy prunes by default, so diff shows the removal by default.
    let out = run(env.cmd("diff", &[])).await;
    out.expect_code(1);
    assert!(
        out.stdout
            .ends_with("0 changed, 1 would be pruned, 5 unchanged\n"),
        "{}",
        out.stdout
    );
    // --no-prune: nothing else differs, the dropped object would stay, and the line says so.
    let out = run(env.cmd("diff", &["--no-prune"])).await;
    out.expect_code(0);
    assert_eq!(
        out.stdout,
        "0 changed, 5 unchanged (objects that would be pruned not shown: --no-prune)\n"
    );
    // The older spelling still works and means the default.
    let out = run(env.cmd("diff", &["--prune"])).await;
    out.expect_code(1);
    assert!(
        out.stdout
            .contains("+++ pruned/policy/v1/PodDisruptionBudget/gpt-service"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("-kind: PodDisruptionBudget"),
        "{}",
        out.stdout
    );
    assert!(
        !out.stdout.contains("Deployment/gpt-service"),
        "{}",
        out.stdout
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn kubeconfig_is_found_through_the_environment_like_kubectl() {
    let env = DeployEnv::new().await;
    let config = env.config.path().to_str().unwrap().to_string();
    // No --kubeconfig: the file comes from $KUBECONFIG, the context from --context.
    let out = run(support::bin::gpt_deploy([
        "diff",
        "--config",
        &config,
        "--env",
        "development",
        "--context",
        &env.context,
        "--namespace",
        &env.ns.name,
    ])
    .env("KUBECONFIG", env.ns.kubeconfig.to_str().unwrap())
    .envs(support::sentinel::env()))
    .await;
    out.expect_code(1);
    assert!(out.stdout.contains("+kind: Deployment"), "{}", out.stdout);
    // The environment file's kube_context is the default, and it is not in this kubeconfig.
    let out = run(support::bin::gpt_deploy([
        "diff",
        "--config",
        &config,
        "--env",
        "development",
        "--namespace",
        &env.ns.name,
    ])
    .env("KUBECONFIG", env.ns.kubeconfig.to_str().unwrap())
    .envs(support::sentinel::env()))
    .await;
    out.expect_code(2);
    assert!(
        out.stderr
            .contains("context \"gpt-development\" (from the environment file's kube_context)"),
        "{}",
        out.stderr
    );
}
