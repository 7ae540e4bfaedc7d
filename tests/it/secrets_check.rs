//! `gpt-deploy secrets check`, the deploy preflight, and every GitHub API error case, against
//! the local GitHub stand-in (see `secrets_sync.rs` for the set-up).

use crate::support;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::Method;
use support::config_dir::ConfigDir;
use support::github::{Access, Fault, GitHubStandIn, TOKEN, TokenKind};
use support::secrets_cli::{CHECK, ENV, REPO, config_args, no_writes, ready, run, sync_args};
use support::sentinel;

#[tokio::test]
async fn check_follows_pagination_and_reports_missing_required() {
    let gh = ready();
    // 44 other secrets sort before the declared one: it is on the second page of 30.
    for i in 0..44 {
        gh.add_secret(REPO, ENV, &format!("ANOTHER_SECRET_{i:02}"));
    }
    gh.add_secret(REPO, ENV, "CLERK_WEBHOOK_SECRET");
    let out = run(&gh, CHECK, &[], None).await;
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stdout.contains("present  CLERK_WEBHOOK_SECRET"),
        "{out:?}"
    );
    assert!(
        out.stdout.contains("MISSING  DATABASE_URL (required)"),
        "{out:?}"
    );
    assert!(out.stderr.contains("1 required secret(s) missing from GitHub environment `production` in acme/gpt-service: DATABASE_URL"), "{out:?}");
    assert!(
        out.stderr
            .contains("gpt-deploy secrets sync --env production"),
        "{out:?}"
    );
    let pages: Vec<_> = gh
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/secrets"))
        .collect();
    assert_eq!(pages.len(), 2, "{pages:?}");
    assert!(
        pages[1].path.starts_with("/repositories/"),
        "the Link URL was followed: {pages:?}"
    );

    gh.add_secret(REPO, ENV, "DATABASE_URL");
    let ok = run(&gh, CHECK, &[], None).await;
    assert_eq!(ok.code, 0, "{ok:?}");
    assert!(ok.stdout.contains("present  DATABASE_URL"), "{ok:?}");
}

#[tokio::test]
async fn bad_token_is_401_and_never_printed() {
    let gh = ready();
    let mut vars = sentinel::env();
    vars.push(("GITHUB_TOKEN", "ghp_sentinel_wrong_token_77".into()));
    for args in [sync_args(&[]), CHECK.to_vec()] {
        let out = run(&gh, &args, &vars, None).await;
        assert_eq!(out.code, 3, "{out:?}");
        assert!(
            out.stderr
                .contains("HTTP 401 Unauthorized: GitHub refused the token"),
            "{out:?}"
        );
        assert!(
            !out.stderr.contains("ghp_sentinel_wrong_token_77"),
            "{out:?}"
        );
        sentinel::assert_absent(&out);
    }
    no_writes(&gh);
}

#[tokio::test]
async fn missing_token_or_bad_repository_is_a_usage_error() {
    let gh = ready();
    let mut cmd_vars = vec![("GITHUB_TOKEN", String::new())];
    let out = run(&gh, CHECK, &cmd_vars, None).await;
    assert_eq!(out.code, 2, "{out:?}");
    assert!(
        out.stderr
            .contains("no GitHub token: set GITHUB_TOKEN (or GH_TOKEN)"),
        "{out:?}"
    );

    // GH_TOKEN is the fallback.
    cmd_vars.push(("GH_TOKEN", TOKEN.into()));
    gh.add_secret(REPO, ENV, "CLERK_WEBHOOK_SECRET");
    gh.add_secret(REPO, ENV, "DATABASE_URL");
    let out = run(&gh, CHECK, &cmd_vars, None).await;
    assert_eq!(out.code, 0, "{out:?}");

    let out = run(
        &gh,
        &["secrets", "check", "--env", ENV, "--repo", "not-a-repo"],
        &[],
        None,
    )
    .await;
    assert_eq!(out.code, 2, "{out:?}");
    assert!(
        out.stderr
            .contains("`not-a-repo` (from --repo) is not of the form OWNER/NAME"),
        "{out:?}"
    );
    assert!(gh.requests().iter().all(|r| r.method == Method::GET));
}

#[tokio::test]
async fn forbidden_names_the_missing_permission() {
    let gh = ready();
    gh.set_access(Access::ReadOnly, TokenKind::App);
    let app = run(&gh, &sync_args(&[]), &sentinel::env(), None).await;
    assert_eq!(app.code, 3, "{app:?}");
    assert!(app.stderr.contains("HTTP 403 Forbidden"), "{app:?}");
    assert!(
        app.stderr
            .contains("lacks the repository permissions GitHub asks for (`secrets: write` and `environments: write`)"),
        "{app:?}"
    );

    gh.set_access(Access::ReadOnly, TokenKind::Classic);
    let classic = run(&gh, &sync_args(&[]), &sentinel::env(), None).await;
    assert_eq!(classic.code, 3, "{classic:?}");
    assert!(
        classic
            .stderr
            .contains("the classic token needs the `repo` scope"),
        "{classic:?}"
    );
    assert!(gh.uploads().is_empty());

    // Creating an environment needs administration rights, and says so.
    let gh2 = GitHubStandIn::start();
    gh2.add_repo(REPO);
    gh2.set_access(Access::ReadOnly, TokenKind::App);
    let env = run(
        &gh2,
        &sync_args(&["--create-environment"]),
        &sentinel::env(),
        None,
    )
    .await;
    assert_eq!(env.code, 3, "{env:?}");
    assert!(env.stderr.contains("(`administration: write`)"), "{env:?}");
    for run in [&app, &classic, &env] {
        sentinel::assert_absent(run);
    }
}

#[tokio::test]
async fn not_found_says_whether_repository_or_environment() {
    let gh = ready();
    let mut vars = sentinel::env();
    vars.push(("GITHUB_REPOSITORY", "acme/nope".into()));
    for args in [sync_args(&[]), CHECK.to_vec()] {
        let out = run(&gh, &args, &vars, None).await;
        assert_eq!(out.code, 3, "{out:?}");
        assert!(
            out.stderr.contains("repository acme/nope was not found"),
            "{out:?}"
        );
    }
    let other_env = GitHubStandIn::start();
    other_env.add_environment(REPO, "staging");
    let out = run(&other_env, CHECK, &[], None).await;
    assert_eq!(out.code, 3, "{out:?}");
    assert!(
        out.stderr.contains(
            "GitHub environment `production` does not exist in repository acme/gpt-service"
        ),
        "{out:?}"
    );
    no_writes(&gh);
}

#[tokio::test]
async fn unprocessable_entity_is_reported_with_githubs_message() {
    let gh = ready();
    gh.inject(Fault::new(
        Method::PUT,
        "/secrets/CLERK_WEBHOOK_SECRET",
        422,
        "Bad request - key_id is stale",
    ));
    let out = run(&gh, &sync_args(&[]), &sentinel::env(), None).await;
    assert_eq!(out.code, 3, "{out:?}");
    assert!(out.stderr.contains("PUT /repos/acme/gpt-service/environments/production/secrets/CLERK_WEBHOOK_SECRET returned HTTP 422 Unprocessable Entity: Bad request - key_id is stale"), "{out:?}");
    assert!(gh.uploads().is_empty());
    sentinel::assert_absent(&out);
}

#[tokio::test]
async fn rate_limits_are_waited_out_within_bounds() {
    let gh = ready();
    gh.inject(
        Fault::new(Method::GET, "/secrets/public-key", 429, "slow down").header("retry-after", "1"),
    );
    let reset = (chrono::Utc::now().timestamp() + 1).to_string();
    gh.inject(
        Fault::new(
            Method::PUT,
            "/secrets/DATABASE_URL",
            403,
            "API rate limit exceeded",
        )
        .header("x-ratelimit-remaining", "0")
        .header("x-ratelimit-reset", &reset),
    );
    let out = run(&gh, &sync_args(&[]), &sentinel::env(), None).await;
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(gh.count(&Method::GET, "/secrets/public-key"), 2);
    assert_eq!(gh.count(&Method::PUT, "/secrets/DATABASE_URL"), 2);
    assert_eq!(gh.uploads().len(), 2);

    // A wait beyond the bound fails at once instead of hanging.
    let gh = ready();
    gh.inject(
        Fault::new(Method::GET, "/secrets/public-key", 429, "slow down")
            .header("retry-after", "3600"),
    );
    let out = run(&gh, &sync_args(&[]), &sentinel::env(), None).await;
    assert_eq!(out.code, 3, "{out:?}");
    assert!(out.stderr.contains("rate limited by GitHub (HTTP 429); GitHub asks to wait 60 min, longer than the 60 s this command waits"), "{out:?}");
    assert_eq!(gh.count(&Method::GET, "/secrets/public-key"), 1);
    no_writes(&gh);
    sentinel::assert_absent(&out);
}

#[tokio::test]
async fn server_errors_are_retried_a_bounded_number_of_times() {
    let gh = ready();
    gh.inject(
        Fault::new(
            Method::PUT,
            "/secrets/CLERK_WEBHOOK_SECRET",
            502,
            "Bad Gateway",
        )
        .times(2),
    );
    let out = run(&gh, &sync_args(&[]), &sentinel::env(), None).await;
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(gh.count(&Method::PUT, "/secrets/CLERK_WEBHOOK_SECRET"), 3);

    let gh = ready();
    gh.inject(Fault::new(Method::GET, "/secrets", 503, "unavailable").times(100));
    let out = run(&gh, CHECK, &[], None).await;
    assert_eq!(out.code, 3, "{out:?}");
    assert!(
        out.stderr.contains("returned HTTP 503 after 4 attempt(s)"),
        "{out:?}"
    );
    assert_eq!(gh.count(&Method::GET, "/secrets"), 4);
    sentinel::assert_absent(&out);
}

#[tokio::test]
async fn stand_in_keeps_githubs_contract() {
    let gh = ready();
    gh.add_secret(REPO, ENV, "EXISTING");
    let http = reqwest::Client::new();
    let url = |path: &str| format!("{}/repos/{REPO}/environments/{ENV}{path}", gh.url());
    let github = |rb: reqwest::RequestBuilder| {
        rb.bearer_auth(TOKEN)
            .header("accept", "application/vnd.github+json")
            .header("x-github-api-version", "2022-11-28")
    };
    let status = |r: reqwest::Response| r.status().as_u16();

    // Headers and token are enforced.
    let bare = http
        .get(url("/secrets"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(status(bare), 400);
    let anonymous = http
        .get(url("/secrets"))
        .header("accept", "application/vnd.github+json")
        .header("x-github-api-version", "2022-11-28")
        .send()
        .await
        .unwrap();
    assert_eq!(status(anonymous), 401);

    // Single-secret GET and DELETE.
    let got = github(http.get(url("/secrets/existing")))
        .send()
        .await
        .unwrap();
    assert_eq!(got.status().as_u16(), 200);
    let body: serde_json::Value = got.json().await.unwrap();
    assert_eq!(body["name"], "EXISTING");
    assert_eq!(
        status(
            github(http.delete(url("/secrets/EXISTING")))
                .send()
                .await
                .unwrap()
        ),
        204
    );
    assert_eq!(
        status(
            github(http.get(url("/secrets/EXISTING")))
                .send()
                .await
                .unwrap()
        ),
        404
    );

    // A box sealed for another key, a wrong key_id and a bad name are 422; nothing is stored.
    let other = crypto_box::SecretKey::generate(&mut crypto_box::aead::OsRng);
    let foreign = STANDARD.encode(
        other
            .public_key()
            .seal(&mut crypto_box::aead::OsRng, b"v")
            .unwrap(),
    );
    let put = |name: &str, value: &str, key_id: &str| {
        github(http.put(url(&format!("/secrets/{name}"))))
            .json(&serde_json::json!({"encrypted_value": value, "key_id": key_id}))
            .send()
    };
    assert_eq!(
        status(put("A", &foreign, "568250167242549743").await.unwrap()),
        422
    );
    let own =
        gpt_deploy::github::sealing::SealingKey::from_github("x", &gh.public_key_base64()).unwrap();
    let sealed = own
        .seal(&gpt_deploy::secret::SecretString::new("v"))
        .unwrap();
    assert_eq!(status(put("A", &sealed, "wrong").await.unwrap()), 422);
    assert_eq!(
        status(
            put("GITHUB_A", &sealed, "568250167242549743")
                .await
                .unwrap()
        ),
        422
    );
    assert!(gh.uploads().is_empty());
    assert_eq!(
        status(put("A", &sealed, "568250167242549743").await.unwrap()),
        201
    );
    assert_eq!(
        status(put("a", &sealed, "568250167242549743").await.unwrap()),
        204
    );

    // Pagination: per_page is honoured and total_count counts everything.
    for i in 0..5 {
        gh.add_secret(REPO, ENV, &format!("S{i}"));
    }
    let page = github(http.get(url("/secrets?per_page=2&page=3")))
        .send()
        .await
        .unwrap();
    let link = page.headers()["link"].to_str().unwrap().to_owned();
    assert!(
        link.contains("page=2>; rel=\"prev\"") && !link.contains("rel=\"next\""),
        "{link}"
    );
    let body: serde_json::Value = page.json().await.unwrap();
    assert_eq!(body["total_count"], 6);
    assert_eq!(body["secrets"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn configuration_problems_are_usage_errors() {
    let gh = ready();
    let unknown = run(&gh, &["secrets", "check", "--env", "nowhere"], &[], None).await;
    assert_eq!(unknown.code, 2, "{unknown:?}");
    assert!(
        unknown
            .stderr
            .contains("cannot load the configuration for environment `nowhere`"),
        "{unknown:?}"
    );
    assert!(
        unknown.stderr.contains("unknown environment `nowhere`"),
        "{unknown:?}"
    );

    let cfg = ConfigDir::shipped();
    cfg.edit(
        "deploy.toml",
        "env = \"DATABASE_URL\"",
        "env = \"GITHUB_DATABASE_URL\"",
    );
    let reserved = run(&gh, &config_args(&cfg, "check", &[]), &[], None).await;
    assert_eq!(reserved.code, 2, "{reserved:?}");
    let line = cfg.line_of("deploy.toml", "GITHUB_DATABASE_URL");
    let located = format!("deploy.toml:{line}:7: `env` is `GITHUB_DATABASE_URL`");
    assert!(reserved.stderr.contains(&located), "{reserved:?}");
    assert!(gh.requests().is_empty());
}

#[tokio::test]
async fn preflight_reports_missing_required_secrets() {
    gpt_deploy::init_crypto();
    let gh = ready();
    gh.add_secret(REPO, ENV, "DATABASE_URL");
    let config = gpt_deploy::config::load(Some(ConfigDir::shipped().path()), ENV).unwrap();
    let target = gpt_deploy::github::Target::from_config(&config, Some(REPO)).unwrap();
    let client = gpt_deploy::github::Client::new(gpt_deploy::github::Connection {
        api_url: gh.url().to_owned(),
        token: gpt_deploy::secret::SecretString::new(TOKEN),
        repo: target.repo.clone(),
        retry: gpt_deploy::github::RetryPolicy::default(),
    })
    .unwrap();
    assert!(
        !format!("{client:?} {target:?}").contains(TOKEN),
        "Debug never shows the token"
    );
    let missing = gpt_deploy::github::missing_required_with(&client, &target)
        .await
        .unwrap();
    assert_eq!(missing, ["CLERK_WEBHOOK_SECRET"]);
    gh.add_secret(REPO, ENV, "CLERK_WEBHOOK_SECRET");
    assert!(
        gpt_deploy::github::missing_required_with(&client, &target)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn unreachable_api_and_bad_api_url() {
    let gh = ready();
    // A server that hangs up on every connection (holding the port, so no other test's server
    // can take it meanwhile).
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let hang_up = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            drop(stream);
        }
    });
    let vars = [("GITHUB_API_URL", format!("http://127.0.0.1:{port}"))];
    let out = run(&gh, CHECK, &vars, None).await;
    hang_up.abort();
    assert_eq!(out.code, 3, "{out:?}");
    assert!(
        out.stderr.contains(&format!(
            "failed after 4 attempt(s): GitHub API at http://127.0.0.1:{port} could not be reached"
        )),
        "{out:?}"
    );

    let vars = [("GITHUB_API_URL", "ftp://example.com".to_owned())];
    let out = run(&gh, CHECK, &vars, None).await;
    assert_eq!(out.code, 2, "{out:?}");
    assert!(
        out.stderr
            .contains("GITHUB_API_URL `ftp://example.com` is not an http(s) URL"),
        "{out:?}"
    );
    assert!(gh.requests().is_empty());
}

#[tokio::test]
async fn check_forbidden_and_actions_annotation() {
    let gh = ready();
    gh.inject(Fault::new(
        Method::GET,
        "/secrets",
        403,
        "Resource not accessible by personal access token",
    ));
    let out = run(&gh, CHECK, &[], None).await;
    assert_eq!(out.code, 3, "{out:?}");
    assert!(out.stderr.contains("needs the `secrets: read` and `environments: read` repository permissions (GitHub App or fine-grained token) or the `repo` scope (classic token)"), "{out:?}");

    // Under GitHub Actions the missing secrets are also an ::error annotation and a table in
    // the step summary.
    let dir = tempfile::tempdir().unwrap();
    let summary = dir.path().join("summary.md");
    gh.add_secret(REPO, ENV, "DATABASE_URL");
    let vars = [
        ("GITHUB_ACTIONS", "true".to_owned()),
        ("GITHUB_STEP_SUMMARY", summary.display().to_string()),
    ];
    let out = run(&gh, CHECK, &vars, None).await;
    assert_eq!(out.code, 1, "{out:?}");
    assert_eq!(
        std::fs::read_to_string(&summary).unwrap(),
        "### GitHub environment `production` in acme/gpt-service\n\n| Secret | Status |\n|---|---|\n\
         | `DATABASE_URL` | present |\n| `CLERK_WEBHOOK_SECRET` | **missing** (required) |\n\n"
    );
    assert!(
        out.stderr
            .contains("::error::1 required secret(s) missing from GitHub environment `production`"),
        "{out:?}"
    );
}
