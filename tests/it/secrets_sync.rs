//! `gpt-deploy secrets sync` against the local GitHub stand-in.
//!
//! Each test starts its own stand-in and runs the real binary with a hermetic environment
//! (built-in configuration: environment `production` → GitHub environment `production`,
//! declared secrets CLERK_WEBHOOK_SECRET and DATABASE_URL, both required). The stand-in opens
//! every uploaded sealed box, so the tests compare what GitHub would store with what was sent.

use crate::support;

use http::Method;
use support::config_dir::ConfigDir;
use support::github::{Fault, GitHubStandIn};
use support::secrets_cli::{CHECK, ENV, REPO, config_args, no_writes, ready, run, sync_args};
use support::sentinel;

#[tokio::test]
async fn sync_uploads_sealed_values_then_reports_updates() {
    let gh = ready();
    let first = run(&gh, &sync_args(&[]), &sentinel::env(), None).await;
    assert_eq!(first.code, 0, "{first:?}");
    assert!(
        first.stdout.contains("created CLERK_WEBHOOK_SECRET"),
        "{first:?}"
    );
    assert!(first.stdout.contains("created DATABASE_URL"), "{first:?}");
    let uploads = gh.uploads();
    assert_eq!(uploads.len(), 2);
    for (name, value) in [
        ("CLERK_WEBHOOK_SECRET", sentinel::CLERK),
        ("DATABASE_URL", sentinel::DATABASE),
    ] {
        let u = uploads.iter().find(|u| u.name == name).unwrap();
        assert_eq!((u.repo.as_str(), u.environment.as_str()), (REPO, ENV));
        assert_eq!(&u.plaintext, value, "{name} decrypts to what was sent");
    }
    sentinel::assert_absent(&first);
    // The happy path needs only the public key and one PUT per secret.
    let sent: Vec<String> = gh
        .requests()
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert_eq!(
        sent,
        [
            "GET /repos/acme/gpt-service/environments/production/secrets/public-key",
            "PUT /repos/acme/gpt-service/environments/production/secrets/CLERK_WEBHOOK_SECRET",
            "PUT /repos/acme/gpt-service/environments/production/secrets/DATABASE_URL",
        ]
    );

    let dir = tempfile::tempdir().unwrap();
    let summary = dir.path().join("summary.md");
    let mut vars = sentinel::env();
    vars.push(("GITHUB_STEP_SUMMARY", summary.display().to_string()));
    let second = run(&gh, &sync_args(&[]), &vars, None).await;
    assert_eq!(
        std::fs::read_to_string(&summary).unwrap(),
        "### GitHub environment `production` in acme/gpt-service\n\n| Secret | Change |\n|---|---|\n\
         | `CLERK_WEBHOOK_SECRET` | updated |\n| `DATABASE_URL` | updated |\n\n"
    );
    assert_eq!(second.code, 0, "{second:?}");
    assert!(
        second.stdout.contains("updated CLERK_WEBHOOK_SECRET"),
        "{second:?}"
    );
    assert!(second.stdout.contains("updated DATABASE_URL"), "{second:?}");
    // Sealed boxes are randomised: the same value never gives the same ciphertext twice.
    let uploads = gh.uploads();
    assert_ne!(uploads[0].encrypted_value, uploads[2].encrypted_value);
    sentinel::assert_absent(&second);
}

#[tokio::test]
async fn dry_run_sends_no_put_and_says_what_would_change() {
    let gh = ready();
    gh.add_secret(REPO, ENV, "CLERK_WEBHOOK_SECRET");
    let out = run(&gh, &sync_args(&["--dry-run"]), &sentinel::env(), None).await;
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stdout.contains("would update CLERK_WEBHOOK_SECRET"),
        "{out:?}"
    );
    assert!(out.stdout.contains("would create DATABASE_URL"), "{out:?}");
    assert!(out.stdout.contains("nothing was changed"), "{out:?}");
    no_writes(&gh);
    sentinel::assert_absent(&out);
}

#[tokio::test]
async fn missing_environment_is_created_only_when_asked() {
    let gh = GitHubStandIn::start();
    gh.add_repo(REPO);

    let refused = run(&gh, &sync_args(&[]), &sentinel::env(), None).await;
    assert_eq!(refused.code, 3, "{refused:?}");
    assert!(
        refused.stderr.contains(
            "GitHub environment `production` does not exist in repository acme/gpt-service"
        ),
        "{refused:?}"
    );
    assert!(
        refused.stderr.contains("--create-environment"),
        "{refused:?}"
    );
    no_writes(&gh);

    let dry = run(
        &gh,
        &sync_args(&["--create-environment", "--dry-run"]),
        &sentinel::env(),
        None,
    )
    .await;
    assert_eq!(dry.code, 0, "{dry:?}");
    assert!(
        dry.stdout
            .contains("would create the environment `production`"),
        "{dry:?}"
    );
    assert!(dry.stdout.contains("would create DATABASE_URL"), "{dry:?}");
    no_writes(&gh);

    let made = run(
        &gh,
        &sync_args(&["--create-environment"]),
        &sentinel::env(),
        None,
    )
    .await;
    assert_eq!(made.code, 0, "{made:?}");
    assert!(
        made.stdout.contains("created the environment `production`"),
        "{made:?}"
    );
    assert!(gh.has_environment(REPO, ENV));
    assert_eq!(gh.count(&Method::PUT, "/environments/production"), 1);
    assert_eq!(
        gh.secret_names(REPO, ENV),
        ["CLERK_WEBHOOK_SECRET", "DATABASE_URL"]
    );
    for run in [&refused, &dry, &made] {
        sentinel::assert_absent(run);
    }
}

#[tokio::test]
async fn bad_values_stop_everything_before_any_request() {
    let gh = ready();
    let not_svix = format!("sentinel-db-{}", "x".repeat(8));
    let out = run(
        &gh,
        &sync_args(&[]),
        &[
            ("CLERK_WEBHOOK_SECRET", not_svix.clone()),
            ("DATABASE_URL", String::new()),
        ],
        None,
    )
    .await;
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("nothing was uploaded"), "{out:?}");
    assert!(
        out.stderr
            .contains("CLERK_WEBHOOK_SECRET: not a svix signing secret"),
        "{out:?}"
    );
    assert!(
        out.stderr.contains("DATABASE_URL: the value is empty"),
        "{out:?}"
    );
    assert!(!out.stderr.contains(&not_svix), "{out:?}");
    assert!(gh.requests().is_empty(), "{:?}", gh.requests());

    // A whsec_ prefix with a body that is not base64 is refused too, and an unset required
    // secret is named with the ways to provide it.
    let out = run(
        &gh,
        &sync_args(&[]),
        &[("CLERK_WEBHOOK_SECRET", "whsec_%%%".into())],
        None,
    )
    .await;
    assert_eq!(out.code, 2, "{out:?}");
    assert!(
        out.stderr.contains("must be non-empty standard base64"),
        "{out:?}"
    );
    assert!(
        out.stderr
            .contains("DATABASE_URL: no value; set the environment variable DATABASE_URL"),
        "{out:?}"
    );
    assert!(gh.requests().is_empty());
    sentinel::assert_absent(&out);
}

#[tokio::test]
async fn only_with_stdin_and_from_file() {
    let gh = ready();
    let piped = run(
        &gh,
        &sync_args(&["--only", "CLERK_WEBHOOK_SECRET"]),
        &[],
        Some(&format!("{}\n", sentinel::CLERK)),
    )
    .await;
    assert_eq!(piped.code, 0, "{piped:?}");
    assert!(
        piped
            .stdout
            .contains("created CLERK_WEBHOOK_SECRET (from standard input)"),
        "{piped:?}"
    );
    assert_eq!(gh.uploads().len(), 1, "only the named secret is touched");
    assert_eq!(gh.uploads()[0].plaintext, sentinel::CLERK);

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("db-url");
    std::fs::write(&file, format!("{}\n", sentinel::DATABASE)).unwrap();
    let arg = format!("DATABASE_URL={}", file.display());
    let args = [
        "secrets",
        "sync",
        "--env",
        ENV,
        "--only",
        "DATABASE_URL",
        "--from-file",
        &arg,
    ];
    let from_file = run(&gh, &args, &[], None).await;
    assert_eq!(from_file.code, 0, "{from_file:?}");
    assert!(
        from_file.stdout.contains("created DATABASE_URL (from file"),
        "{from_file:?}"
    );
    assert_eq!(gh.uploads()[1].plaintext, sentinel::DATABASE);

    let unknown = run(&gh, &sync_args(&["--only", "NOT_DECLARED"]), &[], None).await;
    assert_eq!(unknown.code, 2, "{unknown:?}");
    assert!(
        unknown
            .stderr
            .contains("`--only NOT_DECLARED` names a secret that deploy.toml does not declare"),
        "{unknown:?}"
    );
    for run in [&piped, &from_file, &unknown] {
        sentinel::assert_absent(run);
    }
}

#[tokio::test]
async fn from_file_must_name_a_selected_secret() {
    let gh = ready();
    let cases = [
        (
            sync_args(&[
                "--only",
                "CLERK_WEBHOOK_SECRET",
                "--from-file",
                "database_url=/dev/null",
            ]),
            "`--from-file DATABASE_URL=...` names a secret that --only leaves out",
        ),
        (
            sync_args(&["--from-file", "NOPE=/dev/null"]),
            "`--from-file NOPE` names a secret that deploy.toml does not declare",
        ),
        (
            sync_args(&["--from-file", "no-equals-sign"]),
            "`--from-file no-equals-sign` is not of the form NAME=PATH",
        ),
    ];
    for (args, said) in cases {
        run(&gh, &args, &[], None)
            .await
            .expect_code(2)
            .expect_stderr(said);
    }
    assert!(gh.requests().is_empty());
}

#[tokio::test]
async fn configuration_decides_repository_environment_and_optional_secrets() {
    let cfg = ConfigDir::shipped();
    cfg.edit(
        "environments/production.toml",
        "github_environment = \"production\"",
        "github_environment = \"prod-east\"",
    );
    cfg.edit(
        "deploy.toml",
        "env = \"DATABASE_URL\"\nrequired = true",
        "env = \"DATABASE_URL\"\nrequired = true\n\n[[app.secrets]]\nkey = \"sentry-dsn\"\nenv = \"SENTRY_DSN\"\nrequired = false",
    );
    let gh = GitHubStandIn::start();
    gh.add_environment("gpt-service/gpt-service", "prod-east");
    // An empty GITHUB_REPOSITORY counts as unset: the repository comes from deploy.toml.
    let mut vars = sentinel::env();
    vars.push(("GITHUB_REPOSITORY", String::new()));

    let synced = run(&gh, &config_args(&cfg, "sync", &[]), &vars, None).await;
    assert_eq!(synced.code, 0, "{synced:?}");
    assert!(
        synced
            .stdout
            .contains("GitHub environment `prod-east` in gpt-service/gpt-service"),
        "{synced:?}"
    );
    assert!(
        synced
            .stdout
            .contains("skipped SENTRY_DSN (optional, and no value was given)"),
        "{synced:?}"
    );
    assert_eq!(
        gh.secret_names("gpt-service/gpt-service", "prod-east"),
        ["CLERK_WEBHOOK_SECRET", "DATABASE_URL"]
    );

    let checked = run(&gh, &config_args(&cfg, "check", &[]), &vars, None).await;
    assert_eq!(checked.code, 0, "{checked:?}");
    assert!(
        checked.stdout.contains("absent   SENTRY_DSN (optional)"),
        "{checked:?}"
    );

    // Named explicitly, an optional secret without a value is an error.
    let named = run(
        &gh,
        &config_args(&cfg, "sync", &["--only", "SENTRY_DSN"]),
        &vars,
        None,
    )
    .await;
    assert_eq!(named.code, 2, "{named:?}");
    assert!(
        named
            .stderr
            .contains("SENTRY_DSN: the value is empty (read from standard input)"),
        "{named:?}"
    );
    for run in [&synced, &checked, &named] {
        sentinel::assert_absent(run);
    }
}

#[tokio::test]
async fn nothing_secret_is_printed_even_with_trace_logging() {
    let gh = ready();
    let mut vars = sentinel::env();
    vars.push(("RUST_LOG", "trace".into()));
    let ok = run(&gh, &sync_args(&[]), &vars, None).await;
    assert_eq!(ok.code, 0, "{ok:?}");
    assert!(
        ok.stderr.contains("TRACE") || ok.stderr.contains("DEBUG"),
        "trace logging is on: {ok:?}"
    );
    sentinel::assert_absent(&ok);
    let dry = run(&gh, &sync_args(&["--dry-run"]), &vars, None).await;
    sentinel::assert_absent(&dry);
    gh.inject(Fault::new(
        Method::PUT,
        "/secrets/DATABASE_URL",
        422,
        "refused",
    ));
    let failed = run(&gh, &sync_args(&[]), &vars, None).await;
    assert_eq!(failed.code, 3, "{failed:?}");
    sentinel::assert_absent(&failed);
    for (name, value) in [
        ("CLERK_WEBHOOK_SECRET", sentinel::CLERK),
        ("DATABASE_URL", sentinel::DATABASE),
    ] {
        assert!(
            gh.uploads()
                .iter()
                .any(|u| u.name == name && u.plaintext == value)
        );
    }
}

#[tokio::test]
async fn enterprise_api_base_with_a_path_prefix() {
    let gh = GitHubStandIn::start_with_prefix("/api/v3");
    gh.add_environment(REPO, ENV);
    for i in 0..35 {
        gh.add_secret(REPO, ENV, &format!("A_{i:02}"));
    }
    let out = run(&gh, &sync_args(&[]), &sentinel::env(), None).await;
    assert_eq!(out.code, 0, "{out:?}");
    let out = run(&gh, CHECK, &[], None).await;
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(gh.count(&Method::GET, "/secrets"), 2);
}
