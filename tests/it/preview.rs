//! `gpt-deploy preview` end to end: a temporary git repository with commits that change a
//! template, an environment value, a secret's value source, and nothing; every output format;
//! the pull-request comment against the GitHub stand-in (one comment, updated, found across
//! pages, cut to GitHub's limit); the job summary; errors that name the revision and file.

use crate::support;

use std::path::Path;
use std::process::Command;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;
use support::bin::{Bin, Output, gpt_deploy};
use support::config_dir::ConfigDir;
use support::github::{GitHubStandIn, TOKEN};
use support::sentinel;

const REPO: &str = "acme/gpt-service";
const MARKER: &str = "<!-- gpt-deploy:preview -->";

/// The shipped configuration in a fresh git repository, one commit on `main`.
struct Repo {
    config: ConfigDir,
}

impl Repo {
    fn new() -> Self {
        let repo = Self {
            config: ConfigDir::shipped(),
        };
        repo.git(&["init", "-q", "-b", "main"]);
        repo.commit("the shipped configuration");
        repo
    }

    fn path(&self) -> &Path {
        self.config.path()
    }

    #[track_caller]
    fn git(&self, args: &[&str]) -> String {
        let out = Command::new("git")
            .args(["-c", "user.name=Test", "-c", "user.email=test@example.com"])
            .args(["-c", "commit.gpgsign=false"])
            .args(args)
            .current_dir(self.path())
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .output()
            .expect("run git");
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }

    /// Commits everything (or nothing, with `--allow-empty`); returns the commit id.
    fn commit(&self, message: &str) -> String {
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "--allow-empty", "-m", message]);
        self.git(&["rev-parse", "HEAD"])
    }

    fn preview(&self, args: &[&str]) -> Bin {
        gpt_deploy(["preview"].iter().chain(args))
            .cwd(self.path())
            // Preview needs no secret: values in the environment must not reach the output.
            .envs(sentinel::env())
    }
}

/// Panics if a sentinel secret value, the stand-in preview renders instead, or its base64
/// appears.
#[track_caller]
fn assert_no_values(out: &Output) {
    sentinel::assert_absent(out);
    let all = format!("{}\n{}", out.stdout, out.stderr);
    let stand_in = "gpt-deploy preview: the value of CLERK_WEBHOOK_SECRET";
    assert!(!all.contains(stand_in), "{stand_in:?} leaked:\n{all}");
    assert!(
        !all.contains(&STANDARD.encode(stand_in)),
        "base64 of {stand_in:?} leaked:\n{all}"
    );
}

/// `(environment, change, Kind/name, secret keys changed)` for every object in the JSON.
fn changes(json: &Value) -> Vec<(String, String, String, Vec<String>)> {
    let mut out = Vec::new();
    for env in json["environments"].as_array().unwrap() {
        for object in env["objects"].as_array().unwrap() {
            let keys = object["secret_values_changed"]
                .as_array()
                .map(|a| a.iter().map(|k| k.as_str().unwrap().to_owned()).collect())
                .unwrap_or_default();
            out.push((
                env["name"].as_str().unwrap().to_owned(),
                object["change"].as_str().unwrap().to_owned(),
                format!(
                    "{}/{}",
                    object["kind"].as_str().unwrap(),
                    object["name"].as_str().unwrap()
                ),
                keys,
            ));
        }
    }
    out
}

fn json_preview(repo: &Repo, base: &str, head: &str) -> (Output, Value) {
    let out = repo
        .preview(&["--base", base, "--head", head, "--format", "json"])
        .run();
    assert_no_values(&out);
    let json: Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("the JSON does not parse: {e}\n{}", out.stdout));
    (out, json)
}

fn change(
    env: &str,
    what: &str,
    object: &str,
    keys: &[&str],
) -> (String, String, String, Vec<String>) {
    (
        env.to_owned(),
        what.to_owned(),
        object.to_owned(),
        keys.iter().map(|k| (*k).to_owned()).collect(),
    )
}

/// Commits: a template change, an environment value, a secret's value source, nothing.
fn four_commits(repo: &Repo) -> [String; 5] {
    let base = repo.git(&["rev-parse", "HEAD"]);
    repo.config.edit(
        "templates/deployment.yaml.j2",
        "revisionHistoryLimit: 5",
        "revisionHistoryLimit: 7",
    );
    let template = repo.commit("keep more ReplicaSets");
    repo.config
        .edit("environments/staging.toml", "replicas = 2", "replicas = 3");
    let value = repo.commit("staging: three replicas");
    repo.config.edit(
        "deploy.toml",
        "env = \"CLERK_WEBHOOK_SECRET\"",
        "env = \"CLERK_SIGNING_SECRET\"",
    );
    repo.config.edit(
        "templates/deployment.yaml.j2",
        "h.secret_env(\"CLERK_WEBHOOK_SECRET\")",
        "h.secret_env(\"CLERK_SIGNING_SECRET\")",
    );
    let source = repo.commit("the Clerk secret comes from CLERK_SIGNING_SECRET");
    let nothing = repo.commit("nothing");
    [base, template, value, source, nothing]
}

#[test]
fn each_kind_of_commit_shows_exactly_its_changes() {
    let repo = Repo::new();
    let [base, template, value, source, nothing] = four_commits(&repo);

    let (out, json) = json_preview(&repo, &base, &template);
    out.expect_code(1);
    assert_eq!(json["changed"], true);
    assert_eq!(json["base"]["commit"], base.as_str());
    assert_eq!(json["head"]["commit"], template.as_str());
    assert_eq!(
        changes(&json),
        ["development", "production", "staging"].map(|e| change(
            e,
            "changed",
            "Deployment/gpt-service",
            &[]
        ))
    );
    let diff = json["environments"][0]["objects"][0]["diff"]
        .as_str()
        .unwrap();
    assert!(
        diff.contains("-  revisionHistoryLimit: 5\n+  revisionHistoryLimit: 7\n"),
        "{diff}"
    );
    assert!(
        diff.starts_with(
            "--- base/development/Deployment/gpt-service\n+++ head/development/Deployment/gpt-service\n"
        ),
        "{diff}"
    );

    let (out, json) = json_preview(&repo, &template, &value);
    out.expect_code(1);
    assert_eq!(
        changes(&json),
        [change("staging", "changed", "Deployment/gpt-service", &[])]
    );
    let statuses: Vec<_> = json["environments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["name"].as_str().unwrap(), e["status"].as_str().unwrap()))
        .collect();
    assert_eq!(
        statuses,
        [
            ("development", "unchanged"),
            ("production", "unchanged"),
            ("staging", "changed")
        ]
    );
    let diff = json["environments"][2]["objects"][0]["diff"]
        .as_str()
        .unwrap();
    assert!(diff.contains("-  replicas: 2\n+  replicas: 3\n"), "{diff}");

    let (out, json) = json_preview(&repo, &value, &source);
    out.expect_code(1);
    let mut expected = Vec::new();
    for env in ["development", "production", "staging"] {
        expected.push(change(
            env,
            "changed",
            "Secret/gpt-secrets-<version>",
            &["clerk-webhook-secret"],
        ));
        // A new Secret version: everything that reads it changes with it.
        for reader in [
            "Job/gpt-migrate-<version>",
            "Deployment/gpt-service",
            "CronJob/gpt-token-cleanup",
        ] {
            expected.push(change(env, "changed", reader, &[]));
        }
    }
    assert_eq!(changes(&json), expected);
    let secret_diff = json["environments"][0]["objects"][0]["diff"]
        .as_str()
        .unwrap();
    assert!(
        secret_diff.contains("-  clerk-webhook-secret: <redacted>\n+  clerk-webhook-secret: <redacted> (value changed)\n"),
        "{secret_diff}"
    );
    // The other key kept its source: no line about it.
    assert!(!secret_diff.contains("-  database-url"), "{secret_diff}");

    let (out, json) = json_preview(&repo, &source, &nothing);
    out.expect_code(0);
    assert_eq!(json["changed"], false);
    assert!(changes(&json).is_empty());

    // Across all four commits the changes add up; `--env` narrows them.
    let (out, json) = json_preview(&repo, &base, &nothing);
    out.expect_code(1);
    // Per environment: the Secret version, and the Job, Deployment and CronJob reading it.
    assert_eq!(changes(&json).len(), 12, "{json:#}");
    let out = repo
        .preview(&["--base", &base, "--env", "staging", "--format", "json"])
        .run();
    out.expect_code(1);
    let json: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(json["environments"].as_array().unwrap().len(), 1);
    assert_eq!(json["environments"][0]["name"], "staging");
}

#[test]
fn every_format_says_the_same_without_secret_values() {
    let repo = Repo::new();
    let [base, _, _, _, head] = four_commits(&repo);
    let run = |format: &str| {
        let out = repo
            .preview(&["--base", &base, "--head", &head, "--format", format])
            .run();
        assert_no_values(&out);
        out.expect_code(1);
        out.stdout
    };

    let plain = run("plain");
    assert!(!plain.contains('\u{1b}'), "{plain}");
    assert!(plain.contains("staging: 4 changed\n"), "{plain}");
    assert!(
        plain.contains("  ~ Secret/gpt-secrets-<version> (value changed: clerk-webhook-secret)\n"),
        "{plain}"
    );
    assert!(plain.contains("  ~ Deployment/gpt-service\n"), "{plain}");
    assert!(plain.contains("+  replicas: 3\n"), "{plain}");
    assert!(plain.contains("3 of 3 environments change"), "{plain}");
    // Without --format and off a terminal, the output is plain.
    let default = repo.preview(&["--base", &base, "--head", &head]).run();
    assert_eq!(default.stdout, plain);

    let terminal = run("terminal");
    assert!(
        terminal.contains("\u{1b}[32m+  replicas: 3"),
        "{terminal:?}"
    );
    assert!(
        terminal.contains("\u{1b}[31m-  replicas: 2"),
        "{terminal:?}"
    );

    let markdown = run("markdown");
    assert!(
        markdown.contains(
            "| Environment | Added | Removed | Changed | Unchanged |\n|---|---:|---:|---:|---:|\n"
        ),
        "{markdown}"
    );
    assert!(
        markdown.contains("| `staging` | 0 | 0 | 4 | 2 |\n"),
        "{markdown}"
    );
    assert!(
        markdown.contains("| `production` | 0 | 0 | 4 | 2 |\n"),
        "{markdown}"
    );
    assert_eq!(markdown.matches("<details>").count(), 12, "{markdown}");
    assert_eq!(markdown.matches("</details>").count(), 12, "{markdown}");
    assert!(
        markdown.contains(
            "<details><summary>changed <code>Secret/gpt-secrets-&lt;version&gt;</code> (value changed: clerk-webhook-secret)</summary>"
        ),
        "{markdown}"
    );
    assert!(
        markdown.contains("```diff\n--- base/staging/"),
        "{markdown}"
    );
    assert!(
        !markdown.contains(MARKER),
        "the marker is only for comments"
    );

    let json: Value = serde_json::from_str(&run("json")).unwrap();
    assert_eq!(json["environments"][2]["changed"], 4);
    assert_eq!(json["environments"][2]["unchanged"], 2);
}

#[test]
fn added_and_removed_objects_and_environments() {
    let repo = Repo::new();
    let base = repo.git(&["rev-parse", "HEAD"]);
    std::fs::remove_file(repo.path().join("templates/poddisruptionbudget.yaml.j2")).unwrap();
    std::fs::copy(
        repo.path().join("environments/staging.toml"),
        repo.path().join("environments/qa.toml"),
    )
    .unwrap();
    repo.config
        .edit("environments/qa.toml", "gpt-staging\"", "gpt-qa\"");
    std::fs::remove_file(repo.path().join("environments/development.toml")).unwrap();
    let head = repo.commit("no PDB; qa instead of development");
    let (out, json) = json_preview(&repo, &base, &head);
    out.expect_code(1);
    let statuses: Vec<_> = json["environments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["name"].as_str().unwrap(), e["status"].as_str().unwrap()))
        .collect();
    assert_eq!(
        statuses,
        [
            ("development", "removed"),
            ("production", "changed"),
            ("qa", "added"),
            ("staging", "changed")
        ]
    );
    let all = changes(&json);
    assert!(all.contains(&change(
        "production",
        "removed",
        "PodDisruptionBudget/gpt-service",
        &[]
    )));
    assert!(all.contains(&change("qa", "added", "Deployment/gpt-service", &[])));
    assert!(all.contains(&change(
        "development",
        "removed",
        "Secret/gpt-secrets-<version>",
        &[]
    )));
    assert!(
        !all.iter().any(|c| c.0 == "qa" && c.1 != "added"),
        "{all:?}"
    );
    // A Secret that is only added shows its keys, never a value.
    let plain = repo
        .preview(&["--base", &base, "--head", &head, "--format", "plain"])
        .run();
    assert_no_values(&plain);
    assert!(
        plain.stdout.contains("qa: 5 added (new environment)"),
        "{}",
        plain.stdout
    );
    assert!(
        plain.stdout.contains("+  database-url: <redacted>\n"),
        "{}",
        plain.stdout
    );
}

#[test]
fn configuration_in_a_subdirectory_is_read_from_there() {
    let repo = Repo::new();
    let base = repo.git(&["rev-parse", "HEAD"]);
    std::fs::create_dir(repo.path().join("deploy")).unwrap();
    for entry in ["deploy.toml", "environments", "templates"] {
        repo.git(&["mv", entry, &format!("deploy/{entry}")]);
    }
    let moved = repo.commit("configuration under deploy/");
    repo.config.edit(
        "deploy/environments/production.toml",
        "replicas = 2",
        "replicas = 4",
    );
    let head = repo.commit("production: four replicas");
    let out = repo
        .preview(&[
            "--base", &moved, "--head", &head, "--config", "deploy", "--format", "json",
        ])
        .run();
    out.expect_code(1);
    let json: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(
        changes(&json),
        [change(
            "production",
            "changed",
            "Deployment/gpt-service",
            &[]
        )]
    );
    // At the first commit there is no deploy/deploy.toml: the error names revision and path.
    let out = repo
        .preview(&["--base", &base, "--head", &head, "--config", "deploy"])
        .run();
    out.expect_code(2);
    assert!(
        out.stderr.contains(&format!(
            "{base}:deploy/deploy.toml does not exist in commit {base}"
        )),
        "{}",
        out.stderr
    );
}

#[test]
fn errors_name_the_revision_and_the_file() {
    let repo = Repo::new();
    let out = repo.preview(&["--base", "no-such-branch"]).run();
    out.expect_code(2);
    assert!(
        out.stderr
            .contains("`no-such-branch` names no commit in this repository"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("fetch-depth: 0"), "{}", out.stderr);

    let out = repo.preview(&["--base", "main", "--env", "prod"]).run();
    out.expect_code(2);
    assert!(
        out.stderr.contains(
            "unknown environment `prod`; the environments at the two revisions are: development, production, staging"
        ),
        "{}",
        out.stderr
    );

    repo.config.edit(
        "templates/deployment.yaml.j2",
        "revisionHistoryLimit: 5",
        "revisionHistoryLimit: {{ env.replicas",
    );
    repo.commit("broken template");
    let out = repo.preview(&["--base", "main~1"]).run();
    out.expect_code(2);
    assert!(
        out.stderr
            .contains("cannot render environment `development` at HEAD ("),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("template HEAD:templates/deployment.yaml.j2 has a syntax error"),
        "{}",
        out.stderr
    );

    let elsewhere = tempfile::tempdir().unwrap();
    let out = gpt_deploy(["preview", "--base", "main"])
        .cwd(elsewhere.path())
        .run();
    out.expect_code(2);
    assert!(
        out.stderr.contains("is not inside a git repository"),
        "{}",
        out.stderr
    );
}

/// A stand-in with the repository and an open pull request; the variables a workflow sets.
fn pull_request(gh: &GitHubStandIn, dir: &Path) -> (u64, Vec<(&'static str, String)>) {
    gh.add_repo(REPO);
    let other = gh.add_pull_request(REPO, "someone else's change");
    gh.add_comment(REPO, other, &format!("{MARKER}\nnot this pull request"));
    let number = gh.add_pull_request(REPO, "keep more ReplicaSets");
    let event = dir.join("event.json");
    std::fs::write(
        &event,
        serde_json::json!({"action": "synchronize", "number": number,
                           "pull_request": {"number": number}})
        .to_string(),
    )
    .unwrap();
    let summary = dir.join("summary.md");
    let vars = vec![
        ("GITHUB_API_URL", gh.url().to_owned()),
        ("GITHUB_TOKEN", TOKEN.to_owned()),
        ("GITHUB_REPOSITORY", REPO.to_owned()),
        ("GITHUB_EVENT_PATH", event.display().to_string()),
        ("GITHUB_STEP_SUMMARY", summary.display().to_string()),
        ("GITHUB_SERVER_URL", "https://github.com".to_owned()),
        ("GITHUB_RUN_ID", "4242".to_owned()),
    ];
    (number, vars)
}

fn with_vars(mut bin: Bin, vars: &[(&'static str, String)]) -> Bin {
    for (k, v) in vars {
        bin = bin.env(*k, v);
    }
    bin
}

#[test]
fn comment_is_posted_once_then_updated_in_place() {
    let repo = Repo::new();
    let gh = GitHubStandIn::start();
    let scratch = tempfile::tempdir().unwrap();
    let (number, vars) = pull_request(&gh, scratch.path());
    // 120 comments by people come first: the preview's own is found on the second page.
    for i in 0..120 {
        gh.add_comment(REPO, number, &format!("review comment {i}"));
    }
    let base = repo.git(&["rev-parse", "HEAD"]);
    repo.config
        .edit("environments/staging.toml", "replicas = 2", "replicas = 3");
    repo.commit("staging: three replicas");

    let first = with_vars(repo.preview(&["--base", &base, "--comment"]), &vars).run();
    assert_no_values(&first);
    first.expect_code(1);
    assert!(
        first
            .stderr
            .contains(&format!("posted the preview on pull request #{number}")),
        "{}",
        first.stderr
    );
    let ours: Vec<_> = gh
        .comments(REPO, number)
        .into_iter()
        .filter(|c| c.body.contains(MARKER))
        .collect();
    assert_eq!(ours.len(), 1);
    assert!(ours[0].body.contains("+  replicas: 3"), "{}", ours[0].body);
    let first_id = ours[0].id;

    repo.config
        .edit("environments/staging.toml", "replicas = 3", "replicas = 5");
    repo.commit("staging: five replicas");
    let second = with_vars(repo.preview(&["--base", &base, "--comment"]), &vars).run();
    assert_no_values(&second);
    second.expect_code(1);
    assert!(
        second
            .stderr
            .contains(&format!("updated the preview on pull request #{number}")),
        "{}",
        second.stderr
    );
    let comments = gh.comments(REPO, number);
    assert_eq!(comments.len(), 121, "one comment of ours, none duplicated");
    let ours: Vec<_> = comments
        .iter()
        .filter(|c| c.body.contains(MARKER))
        .collect();
    assert_eq!(ours.len(), 1);
    assert_eq!(ours[0].id, first_id, "the same comment, edited");
    assert!(ours[0].body.contains("+  replicas: 5"), "{}", ours[0].body);
    assert!(!ours[0].body.contains("+  replicas: 3"), "{}", ours[0].body);
    assert!(
        gh.requests()
            .iter()
            .any(|r| r.path.starts_with("/repositories/") && r.path.ends_with("/comments")),
        "the Link header's next page was followed"
    );
    // The other pull request's comment with the same marker was left alone.
    let other = gh.comments(REPO, 1);
    assert_eq!(other[0].body, format!("{MARKER}\nnot this pull request"));
    // The job summary got the full markdown, once per run.
    let summary = std::fs::read_to_string(scratch.path().join("summary.md")).unwrap();
    assert_eq!(summary.matches("### Deployment preview").count(), 2);
    assert!(summary.contains("+  replicas: 5"), "{summary}");

    // Back to the base's values: the comment says so instead of going stale.
    repo.config
        .edit("environments/staging.toml", "replicas = 5", "replicas = 2");
    repo.commit("staging: back to two");
    let third = with_vars(repo.preview(&["--base", &base, "--comment"]), &vars).run();
    third.expect_code(0);
    let ours: Vec<_> = gh
        .comments(REPO, number)
        .into_iter()
        .filter(|c| c.body.contains(MARKER))
        .collect();
    assert_eq!(ours.len(), 1);
    assert!(
        ours[0].body.contains("no environment changes"),
        "{}",
        ours[0].body
    );
}

#[test]
fn a_preview_without_changes_posts_nothing_new() {
    let repo = Repo::new();
    let gh = GitHubStandIn::start();
    let scratch = tempfile::tempdir().unwrap();
    let (number, vars) = pull_request(&gh, scratch.path());
    repo.commit("nothing");
    let out = with_vars(repo.preview(&["--base", "main~1", "--comment"]), &vars).run();
    out.expect_code(0);
    assert!(gh.comments(REPO, number).is_empty());
    assert!(out.stderr.contains("nothing posted"), "{}", out.stderr);
}

#[test]
fn a_long_preview_is_cut_to_the_comment_limit_and_points_to_the_summary() {
    let repo = Repo::new();
    let gh = GitHubStandIn::start();
    let scratch = tempfile::tempdir().unwrap();
    let (number, vars) = pull_request(&gh, scratch.path());
    let base = repo.git(&["rev-parse", "HEAD"]);
    // Forty kilobytes of annotation in every environment: only one diff fits in a comment.
    let long = "x".repeat(40_000);
    repo.config.edit(
        "templates/deployment.yaml.j2",
        "  name: {{ app.name | json }}\n",
        &format!(
            "  name: {{{{ app.name | json }}}}\n  annotations:\n    example.com/long: \"{long}\"\n"
        ),
    );
    repo.commit("a long annotation");
    let out = with_vars(repo.preview(&["--base", &base, "--comment"]), &vars).run();
    out.expect_code(1);
    let ours: Vec<_> = gh
        .comments(REPO, number)
        .into_iter()
        .filter(|c| c.body.contains(MARKER))
        .collect();
    assert_eq!(ours.len(), 1, "{}", out.stderr);
    let body = &ours[0].body;
    assert!(body.chars().count() <= 65_536, "{}", body.chars().count());
    assert!(
        body.contains("2 of 3 diffs are left out. The full text is in the [job summary](https://github.com/acme/gpt-service/actions/runs/4242)."),
        "{}",
        body.chars()
            .skip(body.chars().count().saturating_sub(1500))
            .collect::<String>()
    );
    assert_eq!(
        body.matches("<details>").count(),
        body.matches("</details>").count()
    );
    assert!(body.contains("- changed `Deployment/gpt-service` (diff left out)"));
    let summary = std::fs::read_to_string(scratch.path().join("summary.md")).unwrap();
    assert_eq!(
        summary.matches(&long).count(),
        3,
        "the summary has every diff"
    );
}

#[test]
fn comment_needs_a_pull_request_and_a_token_before_anything_is_posted() {
    let repo = Repo::new();
    let gh = GitHubStandIn::start();
    gh.add_repo(REPO);
    let out = repo
        .preview(&["--base", "main", "--comment"])
        .env("GITHUB_TOKEN", TOKEN)
        .env("GITHUB_API_URL", gh.url())
        .env("GITHUB_REPOSITORY", REPO)
        .run();
    out.expect_code(2);
    assert!(
        out.stderr
            .contains("--comment needs the pull request: pass --pr N"),
        "{}",
        out.stderr
    );
    assert!(
        out.stdout.is_empty(),
        "nothing printed before the check: {}",
        out.stdout
    );

    let out = repo
        .preview(&["--base", "main", "--comment", "--pr", "7"])
        .env("GITHUB_API_URL", gh.url())
        .env("GITHUB_REPOSITORY", REPO)
        .run();
    out.expect_code(2);
    assert!(out.stderr.contains("no GitHub token"), "{}", out.stderr);
    assert!(gh.requests().is_empty());

    // A pull request that does not exist: GitHub's 404, named.
    repo.commit("nothing");
    repo.config
        .edit("environments/staging.toml", "replicas = 2", "replicas = 3");
    repo.commit("staging: three replicas");
    let out = repo
        .preview(&["--base", "main~2", "--comment", "--pr", "7"])
        .env("GITHUB_TOKEN", TOKEN)
        .env("GITHUB_API_URL", gh.url())
        .env("GITHUB_REPOSITORY", REPO)
        .run();
    out.expect_code(3);
    assert!(
        out.stderr
            .contains("GET /repos/acme/gpt-service/issues/7/comments"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("404"), "{}", out.stderr);
}
