//! `gpt-deploy secrets sync` and `secrets check` against the local GitHub stand-in.
//!
//! Each test starts its own stand-in and runs the real binary with a hermetic environment
//! (built-in configuration: environment `production` → GitHub environment `production`,
//! declared secrets CLERK_WEBHOOK_SECRET and DATABASE_URL, both required). The stand-in opens
//! every uploaded sealed box, so the tests compare what GitHub would store with what was sent.

mod support;

use std::process::Stdio;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::Method;
use support::config_dir::ConfigDir;
use support::github::{Access, Fault, GitHubStandIn, TOKEN, TokenKind};
use tokio::io::AsyncWriteExt;

const REPO: &str = "acme/gpt-service";
const ENV: &str = "production";

/// Unique sentinel values; none of them may ever appear in any output.
struct Sentinels {
    clerk: String,
    clerk_key: String,
    database: String,
}

impl Sentinels {
    fn new() -> Self {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let key = format!("sentinel-clerk-{id}");
        Self {
            clerk: format!("whsec_{}", STANDARD.encode(&key)),
            clerk_key: key,
            database: format!("postgres://app:sentinel-db-{id}@db/app"),
        }
    }

    fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("CLERK_WEBHOOK_SECRET", self.clerk.clone()),
            ("DATABASE_URL", self.database.clone()),
        ]
    }

    fn assert_absent(&self, run: &Run) {
        let all = format!("{}\n{}", run.stdout, run.stderr);
        for needle in [
            self.clerk.as_str(),
            self.clerk_key.as_str(),
            self.clerk.trim_start_matches("whsec_"),
            self.database.as_str(),
            "sentinel-db-",
            TOKEN,
        ] {
            assert!(!all.contains(needle), "output leaks `{needle}`:\n{all}");
        }
    }
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// Runs the binary with only the variables given (plus PATH), in an empty directory so the
/// built-in configuration is used.
async fn run(
    gh: &GitHubStandIn,
    args: &[&str],
    vars: &[(&str, String)],
    stdin: Option<&str>,
) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_gpt-deploy"));
    cmd.args(args)
        .current_dir(dir.path())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("GITHUB_API_URL", gh.url())
        .env("GITHUB_TOKEN", TOKEN)
        .env("GITHUB_REPOSITORY", REPO)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in vars {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("start gpt-deploy");
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().unwrap();
        pipe.write_all(input.as_bytes()).await.unwrap();
        drop(pipe);
    }
    let out = child.wait_with_output().await.unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn sync_args(extra: &[&'static str]) -> Vec<&'static str> {
    let mut args = vec!["secrets", "sync", "--env", ENV];
    args.extend_from_slice(extra);
    args
}

const CHECK: &[&str] = &["secrets", "check", "--env", ENV];

fn ready() -> GitHubStandIn {
    let gh = GitHubStandIn::start();
    gh.add_environment(REPO, ENV);
    gh
}

fn no_writes(gh: &GitHubStandIn) {
    let writes: Vec<_> = gh
        .requests()
        .into_iter()
        .filter(|r| r.method != Method::GET)
        .collect();
    assert!(writes.is_empty(), "unexpected writes: {writes:?}");
    assert!(gh.uploads().is_empty());
}

#[tokio::test]
async fn sync_uploads_sealed_values_then_reports_updates() {
    let gh = ready();
    let s = Sentinels::new();
    let first = run(&gh, &sync_args(&[]), &s.env(), None).await;
    assert_eq!(first.code, 0, "{first:?}");
    assert!(
        first.stdout.contains("created CLERK_WEBHOOK_SECRET"),
        "{first:?}"
    );
    assert!(first.stdout.contains("created DATABASE_URL"), "{first:?}");
    let uploads = gh.uploads();
    assert_eq!(uploads.len(), 2);
    for (name, value) in [
        ("CLERK_WEBHOOK_SECRET", &s.clerk),
        ("DATABASE_URL", &s.database),
    ] {
        let u = uploads.iter().find(|u| u.name == name).unwrap();
        assert_eq!((u.repo.as_str(), u.environment.as_str()), (REPO, ENV));
        assert_eq!(&u.plaintext, value, "{name} decrypts to what was sent");
    }
    s.assert_absent(&first);

    let second = run(&gh, &sync_args(&[]), &s.env(), None).await;
    assert_eq!(second.code, 0, "{second:?}");
    assert!(
        second.stdout.contains("updated CLERK_WEBHOOK_SECRET"),
        "{second:?}"
    );
    assert!(second.stdout.contains("updated DATABASE_URL"), "{second:?}");
    // Sealed boxes are randomised: the same value never gives the same ciphertext twice.
    let uploads = gh.uploads();
    assert_ne!(uploads[0].encrypted_value, uploads[2].encrypted_value);
    s.assert_absent(&second);
}

#[tokio::test]
async fn dry_run_sends_no_put_and_says_what_would_change() {
    let gh = ready();
    gh.add_secret(REPO, ENV, "CLERK_WEBHOOK_SECRET");
    let s = Sentinels::new();
    let out = run(&gh, &sync_args(&["--dry-run"]), &s.env(), None).await;
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stdout.contains("would update CLERK_WEBHOOK_SECRET"),
        "{out:?}"
    );
    assert!(out.stdout.contains("would create DATABASE_URL"), "{out:?}");
    assert!(out.stdout.contains("nothing was changed"), "{out:?}");
    no_writes(&gh);
    s.assert_absent(&out);
}

#[tokio::test]
async fn missing_environment_is_created_only_when_asked() {
    let gh = GitHubStandIn::start();
    gh.add_repo(REPO);
    let s = Sentinels::new();

    let refused = run(&gh, &sync_args(&[]), &s.env(), None).await;
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
        &s.env(),
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

    let made = run(&gh, &sync_args(&["--create-environment"]), &s.env(), None).await;
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
        s.assert_absent(run);
    }
}

#[tokio::test]
async fn bad_values_stop_everything_before_any_request() {
    let gh = ready();
    let s = Sentinels::new();
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
    s.assert_absent(&out);
}

#[tokio::test]
async fn only_with_stdin_and_from_file() {
    let gh = ready();
    let s = Sentinels::new();
    let piped = run(
        &gh,
        &sync_args(&["--only", "CLERK_WEBHOOK_SECRET"]),
        &[],
        Some(&format!("{}\n", s.clerk)),
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
    assert_eq!(gh.uploads()[0].plaintext, s.clerk);

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("db-url");
    std::fs::write(&file, format!("{}\n", s.database)).unwrap();
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
    assert_eq!(gh.uploads()[1].plaintext, s.database);

    let unknown = run(&gh, &sync_args(&["--only", "NOT_DECLARED"]), &[], None).await;
    assert_eq!(unknown.code, 2, "{unknown:?}");
    assert!(
        unknown
            .stderr
            .contains("`--only NOT_DECLARED` names a secret that deploy.toml does not declare"),
        "{unknown:?}"
    );
    for run in [&piped, &from_file, &unknown] {
        s.assert_absent(run);
    }
}

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
    let s = Sentinels::new();
    let mut vars = s.env();
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
        s.assert_absent(&out);
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
    let s = Sentinels::new();
    gh.set_access(Access::ReadOnly, TokenKind::App);
    let app = run(&gh, &sync_args(&[]), &s.env(), None).await;
    assert_eq!(app.code, 3, "{app:?}");
    assert!(app.stderr.contains("HTTP 403 Forbidden"), "{app:?}");
    assert!(
        app.stderr
            .contains("lacks the `secrets: write` repository permission"),
        "{app:?}"
    );

    gh.set_access(Access::ReadOnly, TokenKind::Classic);
    let classic = run(&gh, &sync_args(&[]), &s.env(), None).await;
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
    let env = run(&gh2, &sync_args(&["--create-environment"]), &s.env(), None).await;
    assert_eq!(env.code, 3, "{env:?}");
    assert!(env.stderr.contains("`administration: write`"), "{env:?}");
    for run in [&app, &classic, &env] {
        s.assert_absent(run);
    }
}

#[tokio::test]
async fn not_found_says_whether_repository_or_environment() {
    let gh = ready();
    let s = Sentinels::new();
    let mut vars = s.env();
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
    let s = Sentinels::new();
    gh.inject(Fault::new(
        Method::PUT,
        "/secrets/CLERK_WEBHOOK_SECRET",
        422,
        "Bad request - key_id is stale",
    ));
    let out = run(&gh, &sync_args(&[]), &s.env(), None).await;
    assert_eq!(out.code, 3, "{out:?}");
    assert!(out.stderr.contains("PUT /repos/acme/gpt-service/environments/production/secrets/CLERK_WEBHOOK_SECRET returned HTTP 422 Unprocessable Entity: Bad request - key_id is stale"), "{out:?}");
    assert!(gh.uploads().is_empty());
    s.assert_absent(&out);
}

#[tokio::test]
async fn rate_limits_are_waited_out_within_bounds() {
    let gh = ready();
    let s = Sentinels::new();
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
    let out = run(&gh, &sync_args(&[]), &s.env(), None).await;
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
    let out = run(&gh, &sync_args(&[]), &s.env(), None).await;
    assert_eq!(out.code, 3, "{out:?}");
    assert!(out.stderr.contains("rate limited by GitHub (HTTP 429); GitHub asks to wait 60 min, longer than the 60 s this command waits"), "{out:?}");
    assert_eq!(gh.count(&Method::GET, "/secrets/public-key"), 1);
    no_writes(&gh);
    s.assert_absent(&out);
}

#[tokio::test]
async fn server_errors_are_retried_a_bounded_number_of_times() {
    let gh = ready();
    let s = Sentinels::new();
    gh.inject(
        Fault::new(
            Method::PUT,
            "/secrets/CLERK_WEBHOOK_SECRET",
            502,
            "Bad Gateway",
        )
        .times(2),
    );
    let out = run(&gh, &sync_args(&[]), &s.env(), None).await;
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
    s.assert_absent(&out);
}

#[tokio::test]
async fn nothing_secret_is_printed_even_with_trace_logging() {
    let gh = ready();
    let s = Sentinels::new();
    let mut vars = s.env();
    vars.push(("RUST_LOG", "trace".into()));
    let ok = run(&gh, &sync_args(&[]), &vars, None).await;
    assert_eq!(ok.code, 0, "{ok:?}");
    assert!(
        ok.stderr.contains("TRACE") || ok.stderr.contains("DEBUG"),
        "trace logging is on: {ok:?}"
    );
    s.assert_absent(&ok);
    let dry = run(&gh, &sync_args(&["--dry-run"]), &vars, None).await;
    s.assert_absent(&dry);
    gh.inject(Fault::new(
        Method::PUT,
        "/secrets/DATABASE_URL",
        422,
        "refused",
    ));
    let failed = run(&gh, &sync_args(&[]), &vars, None).await;
    assert_eq!(failed.code, 3, "{failed:?}");
    s.assert_absent(&failed);
    for (name, value) in [
        ("CLERK_WEBHOOK_SECRET", &s.clerk),
        ("DATABASE_URL", &s.database),
    ] {
        assert!(
            gh.uploads()
                .iter()
                .any(|u| u.name == name && &u.plaintext == value)
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
    let s = Sentinels::new();
    let out = run(&gh, &sync_args(&[]), &s.env(), None).await;
    assert_eq!(out.code, 0, "{out:?}");
    let out = run(&gh, CHECK, &[], None).await;
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(gh.count(&Method::GET, "/secrets"), 2);
}

/// The stand-in itself keeps GitHub's contract, so the tests above cannot pass against a
/// server that accepts anything.
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

fn config_args<'a>(cfg: &'a ConfigDir, command: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["secrets", command, "--env", ENV, "--config", cfg.arg()];
    args.extend_from_slice(extra);
    args
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
    let s = Sentinels::new();
    // An empty GITHUB_REPOSITORY counts as unset: the repository comes from deploy.toml.
    let mut vars = s.env();
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
        s.assert_absent(run);
    }
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

/// What `deploy` calls in its preflight.
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
