//! `diff --without-secret-values` and `drift` against the local control plane, with no secret
//! value in the environment: exit codes, the Secret's content check against a known value, the
//! deployed image, `kubectl`-made changes and their revert, members no longer rendered, and
//! the one "Drift in <env>" issue on the GitHub stand-in across runs.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::support;
use support::bin::Bin;
use support::deploy_env::{DeployEnv, ENV, SENTINEL_DB, run};
use support::github::{GitHubStandIn, TOKEN};

const REPO: &str = "acme/gpt-service";

#[tokio::test(flavor = "multi_thread")]
async fn diff_without_secret_values_checks_what_it_can() {
    let env = DeployEnv::new().await;
    run(env.cmd("apply", &[])).await.success();

    // A plain diff needs every value; without them it is a usage error.
    let out = run(env.cmd_without_secrets("diff", &[])).await;
    out.expect_code(2);
    assert!(
        out.stderr.contains("CLERK_WEBHOOK_SECRET, DATABASE_URL"),
        "{}",
        out.stderr
    );

    let version = env.secret_version().await;
    let out = run(env.cmd_without_secrets("diff", &["--without-secret-values"])).await;
    out.expect_code(0);
    assert!(
        out.stdout.contains(&format!(
            "Secret {version}: not checked: clerk-webhook-secret, database-url (no value in the environment); the running pods were started with this content"
        )),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .ends_with("0 changed, 0 would be pruned, 6 unchanged\n"),
        "{}",
        out.stdout
    );

    // The known value of one key: unchanged; another value: changed, and the pods would roll.
    let out = run(env
        .cmd_without_secrets("diff", &["--without-secret-values"])
        .env("DATABASE_URL", SENTINEL_DB))
    .await;
    out.expect_code(0);
    assert!(
        out.stdout
            .contains("content unchanged (database-url); not checked: clerk-webhook-secret"),
        "{}",
        out.stdout
    );
    let other = "postgres://app:sentinel-db-pw-other-77@db:5432/gpt";
    let out = run(env
        .cmd_without_secrets("diff", &["--without-secret-values"])
        .env("DATABASE_URL", other))
    .await;
    out.expect_code(1);
    assert!(
        out.stdout.contains("content changed (database-url)"),
        "{}",
        out.stdout
    );
    // A new Secret version, which the pods would read (so they would roll).
    assert!(
        out.stdout.contains("+  database-url: '***'"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains(&format!("-              name: {version}")),
        "{}",
        out.stdout
    );
    for leak in [
        other.to_owned(),
        STANDARD.encode(other),
        "sentinel-db-pw-other".to_owned(),
    ] {
        assert!(!out.stdout.contains(&leak) && !out.stderr.contains(&leak));
    }

    // An image change is a difference; the Secret's data is untouched by it.
    let out =
        run(env.cmd_without_secrets("diff", &["--without-secret-values", "--image", "v9.9.9"]))
            .await;
    out.expect_code(1);
    assert!(
        out.stdout
            .contains("+        image: gptservice.azurecr.io/gpt-service:v9.9.9"),
        "{}",
        out.stdout
    );
    // The Secret does not change with the image: it carries no version label, and its
    // name and data stay.
    assert!(!out.stdout.contains("(before)"), "{}", out.stdout);
    assert!(!out.stdout.contains("/v1/Secret/"), "{}", out.stdout);
}

fn with_github(bin: Bin, gh: &GitHubStandIn) -> Bin {
    bin.env("GITHUB_API_URL", gh.url())
        .env("GITHUB_TOKEN", TOKEN)
        .env("GITHUB_REPOSITORY", REPO)
}

fn open_drift_issues(gh: &GitHubStandIn) -> Vec<support::github::IssueRecord> {
    gh.issues(REPO)
        .into_iter()
        .filter(|i| i.title == format!("Drift in {ENV}") && i.state == "open")
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn drift_opens_updates_and_closes_one_issue() {
    let env = DeployEnv::new().await;
    run(env.cmd("apply", &["--image", "v7.7.7"]))
        .await
        .success();
    let gh = GitHubStandIn::start();
    gh.add_repo(REPO);

    // In sync, with the deployed image read from the cluster: no issue.
    let out = run(with_github(
        env.cmd_without_secrets("drift", &["--issue"]),
        &gh,
    ))
    .await;
    out.expect_code(0);
    assert!(
        out.stdout.contains("development is in sync"),
        "{}",
        out.stdout
    );
    assert!(gh.issues(REPO).is_empty());
    // Another image than the deployed one is drift.
    let out = run(env.cmd_without_secrets("drift", &["--image", "main"])).await;
    out.expect_code(1);
    assert!(
        out.stdout
            .contains("+        image: gptservice.azurecr.io/gpt-service:main"),
        "{}",
        out.stdout
    );

    // Someone edits the Deployment by hand: the conflict and the diff are reported, one issue
    // opens.
    env.kubectl(&[
        "patch",
        "deployment/gpt-service",
        "--type=merge",
        "-p",
        r#"{"spec":{"replicas":3}}"#,
    ]);
    let out = run(with_github(
        env.cmd_without_secrets("drift", &["--issue"]),
        &gh,
    ))
    .await;
    out.expect_code(1);
    assert!(out.stdout.contains(".spec.replicas"), "{}", out.stdout);
    assert!(
        out.stdout.contains("-  replicas: 3\n+  replicas: 1\n"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("development has drifted"),
        "{}",
        out.stdout
    );
    let open = open_drift_issues(&gh);
    assert_eq!(open.len(), 1, "{:?}", gh.issues(REPO));
    let number = open[0].number;
    assert!(
        open[0].body.contains("changed by another manager"),
        "{}",
        open[0].body
    );
    assert!(open[0].body.contains("+  replicas: 1"), "{}", open[0].body);

    // Someone also edits the Secret: the pods no longer match it; the same issue is updated.
    let version = env.secret_version().await;
    let edited = STANDARD.encode("postgres://edited-by-hand@db/gpt");
    env.kubectl(&[
        "patch",
        &format!("secret/{version}"),
        "--type=merge",
        "-p",
        &format!("{{\"data\":{{\"database-url\":\"{edited}\"}}}}"),
    ]);
    let out = run(with_github(
        env.cmd_without_secrets("drift", &["--issue"]),
        &gh,
    ))
    .await;
    out.expect_code(1);
    assert!(
        out.stdout
            .contains("the live data differs from what the running pods were started with"),
        "{}",
        out.stdout
    );
    assert!(!out.stdout.contains(&edited), "{}", out.stdout);
    let open = open_drift_issues(&gh);
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].number, number, "updated, not opened again");
    assert!(
        open[0].body.contains("running pods were started with"),
        "{}",
        open[0].body
    );
    assert!(!open[0].body.contains(&edited));

    // Both reverted: back in sync, the issue is closed with a comment.
    env.kubectl(&[
        "patch",
        "deployment/gpt-service",
        "--type=merge",
        "-p",
        r#"{"spec":{"replicas":1}}"#,
    ]);
    env.kubectl(&[
        "patch",
        &format!("secret/{version}"),
        "--type=merge",
        "-p",
        &format!(
            "{{\"data\":{{\"database-url\":\"{}\"}}}}",
            STANDARD.encode(SENTINEL_DB)
        ),
    ]);
    let out = run(with_github(
        env.cmd_without_secrets("drift", &["--issue"]),
        &gh,
    ))
    .await;
    out.expect_code(0);
    assert!(
        out.stderr.contains(&format!("closed issue #{number}")),
        "{}",
        out.stderr
    );
    assert!(open_drift_issues(&gh).is_empty());
    let issues = gh.issues(REPO);
    assert_eq!(issues.len(), 1, "exactly one drift issue ever");
    assert_eq!(issues[0].state_reason.as_deref(), Some("completed"));
    let comments = gh.comments(REPO, number);
    assert!(
        comments.last().unwrap().body.contains("back in sync"),
        "{comments:?}"
    );

    // A member of the set that is no longer rendered is drift too.
    env.remove("templates/poddisruptionbudget.yaml.j2");
    let out = run(env.cmd_without_secrets("drift", &[])).await;
    out.expect_code(1);
    assert!(
        out.stdout
            .contains("+++ pruned/policy/v1/PodDisruptionBudget/gpt-service"),
        "{}",
        out.stdout
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn live_diff_comment_is_one_comment_per_environment() {
    let env = DeployEnv::new().await;
    run(env.cmd("apply", &[])).await.success();
    let gh = GitHubStandIn::start();
    let pr = gh.add_pull_request(REPO, "a change");
    let marker = format!("<!-- gpt-deploy:diff:{ENV} -->");
    let pr_arg = pr.to_string();
    let args = [
        "--without-secret-values",
        "--image",
        "v2.0.0",
        "--comment",
        "--pr",
        &pr_arg,
    ];
    for _ in 0..2 {
        let out = run(with_github(env.cmd_without_secrets("diff", &args), &gh)).await;
        out.expect_code(1);
    }
    let comments = gh.comments(REPO, pr);
    assert_eq!(comments.len(), 1, "{comments:?}");
    let body = &comments[0].body;
    assert!(body.starts_with(&marker), "{body}");
    assert!(body.contains("### Live diff: `development`"), "{body}");
    assert!(body.contains("| `Deployment "), "{body}");
    assert!(
        body.contains("+        image: gptservice.azurecr.io/gpt-service:v2.0.0"),
        "{body}"
    );
    assert!(
        body.contains("not checked: clerk-webhook-secret, database-url"),
        "{body}"
    );
    // Back in sync: the comment says so instead of going stale.
    let out = run(with_github(
        env.cmd_without_secrets(
            "diff",
            &["--without-secret-values", "--comment", "--pr", &pr_arg],
        ),
        &gh,
    ))
    .await;
    out.expect_code(0);
    let comments = gh.comments(REPO, pr);
    assert_eq!(comments.len(), 1);
    assert!(
        comments[0].body.contains("No object differs."),
        "{}",
        comments[0].body
    );
}
