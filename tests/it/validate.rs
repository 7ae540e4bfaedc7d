//! `validate`: schedules checked with the API server's rules, `--env`, environments that
//! would share one ApplySet, and the line saying which configuration was read.

use crate::support;

use support::bin::gpt_deploy;
use support::config_dir::ConfigDir;

/// `text` with each name's content hash (`-` and 8 hex digits ending a name, as in
/// `Job/gpt-migrate-0a1b2c3d`) written `-<hash>`: the hashes follow the image, the
/// migrations and the secret values, the list's order and names do not.
fn hashes_masked(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find('-') {
        out.push_str(&rest[..at]);
        let tail = &rest[at + 1..];
        let hex = tail.len() >= 8
            && tail.as_bytes()[..8]
                .iter()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
            && !tail
                .as_bytes()
                .get(8)
                .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'-');
        if hex {
            out.push_str("-<hash>");
            rest = &tail[8..];
        } else {
            out.push('-');
            rest = tail;
        }
    }
    out.push_str(rest);
    out
}

/// The schedules the API server refuses for a CronJob; each must fail `validate`.
const BAD_SCHEDULES: [(&str, &str); 6] = [
    ("61 * * * *", "minute `61` is out of range: 61 is above 59"),
    ("0 25 * * *", "hour `25` is out of range: 25 is above 23"),
    ("*/0 * * * *", "minute `*/0` has a step of 0"),
    (
        "0 */6 * * MON-XYZ",
        "day of week `MON-XYZ` is not a number: `XYZ`",
    ),
    (
        "0 */6 * * 8",
        "day of week `8` is out of range: 8 is above 6",
    ),
    ("@every 5d", "unknown unit `d`"),
];

#[test]
fn every_schedule_the_api_server_refuses_is_refused_with_its_place() {
    for (schedule, says) in BAD_SCHEDULES {
        let dir = ConfigDir::shipped();
        dir.edit(
            "environments/staging.toml",
            "github_environment = \"staging\"",
            &format!("github_environment = \"staging\"\n\n[cleanup]\nschedule = \"{schedule}\""),
        );
        let line = dir.line_of("environments/staging.toml", "schedule =");
        let out = gpt_deploy(["validate", "--config", dir.arg()]).run();
        out.expect_code(2);
        assert!(out.stdout.contains("FAILED staging"), "{}", out.stdout);
        assert!(out.stdout.contains("ok     production"), "{}", out.stdout);
        let expected = format!(
            "error: environment staging: invalid configuration: {}/environments/staging.toml:{line}:12: `cleanup.schedule` is `{schedule}`: ",
            dir.arg()
        );
        assert!(
            out.stderr.contains(&expected),
            "{schedule}: missing {expected:?} in\n{}",
            out.stderr
        );
        assert!(out.stderr.contains(says), "{schedule}: {}", out.stderr);
    }
}

#[test]
fn schedules_the_api_server_accepts_pass() {
    for schedule in ["0 9-17 * * MON-FRI", "*/15 * * * *", "@daily", "@every 6h"] {
        let dir = ConfigDir::shipped();
        dir.edit(
            "deploy.toml",
            "schedule = \"0 */6 * * *\"",
            &format!("schedule = \"{schedule}\""),
        );
        gpt_deploy(["validate", "--config", dir.arg()])
            .run()
            .success();
    }
}

#[test]
fn validate_env_checks_one_environment() {
    let dir = ConfigDir::shipped();
    dir.edit("environments/staging.toml", "replicas = 2", "replicas = 0");
    let out = gpt_deploy(["validate", "--config", dir.arg(), "--env", "production"]).run();
    out.success();
    assert_eq!(
        hashes_masked(&out.stdout),
        "ok     production: Secret/gpt-secrets-<hash>, PodDisruptionBudget/gpt-service, Service/gpt-service, Job/gpt-migrate-<hash>, Deployment/gpt-service, CronJob/gpt-token-cleanup\n"
    );
    let out = gpt_deploy(["validate", "--config", dir.arg(), "-e", "staging"]).run();
    out.expect_code(2);
    assert_eq!(out.stdout, "FAILED staging\n");
    assert!(
        out.stderr
            .contains("error: 1 of 1 environments failed validation"),
        "{}",
        out.stderr
    );
    let out = gpt_deploy(["validate", "--config", dir.arg(), "--env", "prod"]).run();
    out.expect_code(2);
    assert!(
        out.stderr.contains(
            "unknown environment `prod` in {}/environments; the environments are: development, production, staging"
                .replace("{}", dir.arg())
                .as_str()
        ),
        "{}",
        out.stderr
    );
}

#[test]
fn two_environments_with_one_context_and_namespace_are_refused() {
    let dir = ConfigDir::shipped();
    dir.edit(
        "environments/staging.toml",
        "namespace = \"gpt-staging\"",
        "namespace = \"gpt-production\"",
    )
    .edit(
        "environments/staging.toml",
        "kube_context = \"gpt-staging\"",
        "kube_context = \"gpt-production\"",
    );
    let out = gpt_deploy(["validate", "--config", dir.arg()]).run();
    out.expect_code(2);
    assert_eq!(
        hashes_masked(&out.stdout),
        "ok     development: Secret/gpt-secrets-<hash>, PodDisruptionBudget/gpt-service, Service/gpt-service, Job/gpt-migrate-<hash>, Deployment/gpt-service, CronJob/gpt-token-cleanup\nFAILED production\nFAILED staging\n"
    );
    for (env, other) in [("production", "staging"), ("staging", "production")] {
        let expected = format!(
            "error: environment {env}: deploys to namespace `gpt-production` in context `gpt-production`, like environment {other}; they would share one ApplySet"
        );
        assert!(out.stderr.contains(&expected), "{expected}\n{}", out.stderr);
    }
    // --env staging still sees the clash with production.
    let out = gpt_deploy(["validate", "--config", dir.arg(), "--env", "staging"]).run();
    out.expect_code(2);
    assert!(
        out.stderr.contains("like environment production"),
        "{}",
        out.stderr
    );

    // The same namespace in different contexts (clusters) is fine.
    let dir = ConfigDir::shipped();
    dir.edit(
        "environments/staging.toml",
        "namespace = \"gpt-staging\"",
        "namespace = \"gpt-production\"",
    );
    gpt_deploy(["validate", "--config", dir.arg()])
        .run()
        .success();
}

#[test]
fn render_and_validate_say_which_configuration_they_read() {
    // From an empty directory: the built-in copy, with the version that carries it.
    let built_in = format!(
        "configuration: built-in (gpt-deploy {})\n",
        env!("CARGO_PKG_VERSION")
    );
    let out = gpt_deploy(["validate"]).run();
    out.success();
    assert_eq!(out.stderr, built_in);
    let out = gpt_deploy(["render", "--env", "staging"]).run();
    out.success();
    assert!(out.stderr.starts_with(&built_in), "{}", out.stderr);

    // With --config, and from a directory holding deploy.toml: that directory, absolute.
    let dir = ConfigDir::shipped();
    let out = gpt_deploy(["validate", "--config", dir.arg()]).run();
    out.success();
    assert_eq!(out.stderr, format!("configuration: {}\n", dir.arg()));
    let out = gpt_deploy(["render", "--env", "staging"])
        .cwd(dir.path())
        .run();
    out.success();
    let canonical = std::fs::canonicalize(dir.path()).unwrap();
    let named = out.stderr.lines().next().unwrap_or_default();
    let named = named.strip_prefix("configuration: ").unwrap_or(named);
    assert_eq!(
        std::fs::canonicalize(named).ok(),
        Some(canonical),
        "{}",
        out.stderr
    );
    // Inside templates/ there is no deploy.toml: the built-in copy, and it says so.
    let out = gpt_deploy(["validate"])
        .cwd(dir.path().join("templates"))
        .run();
    out.success();
    assert_eq!(out.stderr, built_in);
}
