//! `render` end to end: golden files for every environment, determinism, redaction, warnings.
//!
//! Goldens are compared byte for byte. After an intended template change, regenerate them with
//! `GPT_DEPLOY_BLESS=1 cargo test --test it render::` and review the diff.

use crate::support;

use std::path::PathBuf;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE};
use support::bin::{Output, gpt_deploy};
use support::config_dir::ConfigDir;

const CLERK: &str = "whsec_sentinel-clerk-4f8a1c";
const DATABASE: &str = "postgres://app:sentinel-db-9b27e3@db.internal:5432/gpt";
/// What render and validate say on stderr when they use the configuration built into the binary.
const BUILT_IN: &str = concat!(
    "configuration: built-in (gpt-deploy ",
    env!("CARGO_PKG_VERSION"),
    ")\n"
);

fn render_with_secrets(args: &[&str]) -> Output {
    gpt_deploy(args)
        .env("CLERK_WEBHOOK_SECRET", CLERK)
        .env("DATABASE_URL", DATABASE)
        .run()
}

fn golden(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name)
}

#[track_caller]
fn assert_golden(name: &str, actual: &str) {
    let path = golden(name);
    if std::env::var_os("GPT_DEPLOY_BLESS").is_some() {
        std::fs::write(&path, actual).unwrap();
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "read {}: {e} (GPT_DEPLOY_BLESS=1 creates it)",
            path.display()
        )
    });
    pretty_assertions::assert_eq!(expected, actual, "golden file {}", path.display());
}

/// Every encoding of a sentinel that would betray it.
fn leaks(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for secret in [CLERK, DATABASE] {
        let forms = [
            secret.to_owned(),
            STANDARD.encode(secret),
            STANDARD_NO_PAD.encode(secret),
            URL_SAFE.encode(secret),
        ];
        for form in forms {
            if text.contains(&form) {
                found.push(form);
            }
        }
        // A sentinel's distinctive middle, in case it was cut or re-wrapped.
        for marker in ["sentinel-clerk-4f8a1c", "sentinel-db-9b27e3"] {
            if text.contains(marker) {
                found.push(marker.to_owned());
            }
        }
    }
    found
}

#[test]
fn every_environment_matches_its_golden_file() {
    for env in ["development", "staging", "production"] {
        let out = render_with_secrets(&["render", "--env", env]);
        out.success();
        assert_eq!(
            out.stderr, BUILT_IN,
            "{env}: no warning expected with every secret set"
        );
        assert_golden(&format!("{env}.yaml"), &out.stdout);
    }
    let out = render_with_secrets(&["render", "--env", "production", "--output", "json"]);
    out.success();
    assert_golden("production.json", &out.stdout);
}

#[test]
fn production_from_an_empty_directory_has_what_the_issue_asks_for() {
    let out = gpt_deploy(["render", "--env", "production"]).run();
    out.success();
    let docs: Vec<serde_json::Value> = out
        .stdout
        .split("---\n")
        .filter(|d| !d.trim().is_empty())
        .map(|d| {
            serde_json::to_value(serde_yaml::from_str::<serde_yaml::Value>(d).unwrap()).unwrap()
        })
        .collect();
    let kinds: Vec<&str> = docs.iter().map(|d| d["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "Secret",
            "PodDisruptionBudget",
            "Service",
            "Job",
            "Deployment",
            "CronJob"
        ]
    );
    for doc in &docs {
        assert_eq!(doc["metadata"]["namespace"], "gpt-production", "{doc}");
        assert_eq!(
            doc["metadata"]["labels"]["app.kubernetes.io/managed-by"],
            "gpt-deploy"
        );
    }
    let (secret, pdb, service, job, deployment, cronjob) =
        (&docs[0], &docs[1], &docs[2], &docs[3], &docs[4], &docs[5]);
    // Migrations run as a Job named after the image and migrations, not in the pods.
    assert!(
        job["metadata"]["name"]
            .as_str()
            .unwrap()
            .starts_with("gpt-migrate-"),
        "{job}"
    );
    assert_eq!(job["spec"]["backoffLimit"], 1);
    assert_eq!(
        job["spec"]["template"]["spec"]["containers"][0]["args"][0],
        "migrate"
    );
    assert!(
        deployment["spec"]["template"]["spec"]
            .get("initContainers")
            .is_none()
    );
    // The Service routes to the Deployment's pods through its stable selector and named port.
    assert_eq!(service["metadata"]["name"], "gpt-service");
    assert_eq!(service["spec"]["type"], "ClusterIP");
    assert_eq!(
        service["spec"]["selector"],
        deployment["spec"]["selector"]["matchLabels"]
    );
    assert_eq!(service["spec"]["ports"][0]["port"], 80);
    assert_eq!(service["spec"]["ports"][0]["targetPort"], "http");
    assert_eq!(
        deployment["spec"]["template"]["spec"]["containers"][0]["ports"][0]["name"],
        "http"
    );
    assert_eq!(
        mask_job_hash(secret["metadata"]["name"].as_str().unwrap()),
        "gpt-secrets-HASH"
    );
    assert_eq!(secret["data"]["clerk-webhook-secret"], "<redacted>");
    assert!(secret.get("stringData").is_none());
    assert_eq!(pdb["spec"]["minAvailable"], 1);
    assert_eq!(deployment["spec"]["replicas"], 2);
    assert_eq!(
        deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"],
        0
    );
    let pod = &deployment["spec"]["template"]["spec"];
    assert_eq!(pod["containers"][0]["args"][0], "serve");
    assert_eq!(
        pod["containers"][0]["securityContext"]["readOnlyRootFilesystem"],
        true
    );
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(cronjob["metadata"]["name"], "gpt-token-cleanup");
    assert_eq!(cronjob["spec"]["schedule"], "0 */6 * * *");
    assert_eq!(cronjob["spec"]["concurrencyPolicy"], "Forbid");
    // Without the secrets in the environment a redacted render needs no values: no warning.
    assert_eq!(out.stderr, BUILT_IN);
}

#[test]
fn output_is_byte_identical_across_runs() {
    for env in ["development", "staging", "production"] {
        let first = render_with_secrets(&["render", "--env", env]);
        let second = render_with_secrets(&["render", "--env", env]);
        first.success();
        assert_eq!(first.stdout, second.stdout, "{env}");
    }
}

#[test]
fn secret_values_are_redacted_everywhere_by_default() {
    let yaml = render_with_secrets(&["render", "--env", "production"]);
    let json = render_with_secrets(&["render", "--env", "staging", "--output", "json"]);
    let validate = render_with_secrets(&["validate"]);
    for out in [&yaml, &json, &validate] {
        out.success();
        assert_eq!(
            leaks(&out.stdout),
            Vec::<String>::new(),
            "stdout:\n{}",
            out.stdout
        );
        assert_eq!(
            leaks(&out.stderr),
            Vec::<String>::new(),
            "stderr:\n{}",
            out.stderr
        );
    }
    assert!(yaml.stdout.contains("clerk-webhook-secret: <redacted>"));
    assert!(json.stdout.contains("\"database-url\": \"<redacted>\""));

    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("manifests");
    let out = render_with_secrets(&[
        "render",
        "--env",
        "production",
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    out.success();
    for entry in std::fs::read_dir(&out_dir).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        assert_eq!(leaks(&text), Vec::<String>::new());
    }
}

#[test]
fn show_secrets_prints_the_real_base64_values() {
    let out = render_with_secrets(&["render", "--env", "production", "--show-secrets"]);
    out.success();
    assert!(
        out.stdout
            .contains(&format!("clerk-webhook-secret: {}", STANDARD.encode(CLERK)))
    );
    assert!(
        out.stdout
            .contains(&format!("database-url: {}", STANDARD.encode(DATABASE)))
    );
    // Only the encoded form: the plain value never appears, even when shown.
    assert!(!out.stdout.contains(CLERK));
    assert!(!out.stdout.contains("<redacted>"));
}

#[test]
fn errors_do_not_reveal_secret_values() {
    // A template that fails after the secrets are known: the error must not quote them.
    let dir = ConfigDir::shipped();
    dir.edit(
        "templates/secret.yaml.j2",
        "type: Opaque",
        "type: Opaque\ntypo: {{ secret_data[0].value | json }}",
    );
    let out = render_with_secrets(&[
        "render",
        "--env",
        "production",
        "--show-secrets",
        "--config",
        dir.arg(),
    ]);
    out.expect_code(2);
    assert!(
        out.stderr.contains("unknown field `typo`"),
        "{}",
        out.stderr
    );
    assert_eq!(leaks(&out.stderr), Vec::<String>::new(), "{}", out.stderr);
    assert_eq!(out.stdout, "");
}

#[test]
fn a_changed_secret_value_is_a_new_secret_version() {
    let names = |clerk: &str| {
        let out = gpt_deploy(["render", "--env", "staging", "--output", "json"])
            .env("CLERK_WEBHOOK_SECRET", clerk)
            .env("DATABASE_URL", DATABASE)
            .run();
        out.success();
        assert_eq!(leaks(&out.stdout), Vec::<String>::new());
        let list: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
        let items = list["items"].as_array().unwrap().clone();
        let find = |kind: &str| items.iter().find(|o| o["kind"] == kind).unwrap().clone();
        let secret = find("Secret")["metadata"]["name"]
            .as_str()
            .unwrap()
            .to_owned();
        let deployment = find("Deployment");
        assert!(
            deployment["spec"]["template"]["metadata"]["annotations"].is_null(),
            "no pod-template hash annotation: {deployment}"
        );
        // Every reference reads this version: the Deployment, the CronJob, the migration Job.
        let text = serde_json::to_string(&items).unwrap();
        assert_eq!(
            text.matches("\"secretKeyRef\"").count(),
            text.matches(&format!("\"name\":\"{secret}\"")).count() - 1,
            "{text}"
        );
        let job = find("Job")["metadata"]["name"].as_str().unwrap().to_owned();
        (secret, job)
    };
    let (a, job_a) = names("whsec_b25l");
    assert_eq!(mask_job_hash(&a), "gpt-secrets-HASH");
    assert_eq!((a.clone(), job_a.clone()), names("whsec_b25l"));
    let (b, job_b) = names("whsec_dHdv");
    assert_ne!(a, b, "a changed value is a new Secret");
    assert_ne!(
        job_a, job_b,
        "the migration Job's name follows the Secret's"
    );
}

#[test]
fn an_empty_secret_counts_as_missing() {
    let out = gpt_deploy(["render", "--env", "development", "--show-secrets"])
        .env("CLERK_WEBHOOK_SECRET", "")
        .env("DATABASE_URL", DATABASE)
        .run();
    out.success();
    assert!(
        out.stderr
            .contains("warning: environment variables not set: CLERK_WEBHOOK_SECRET;"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("DATABASE_URL"), "{}", out.stderr);
}

#[test]
fn image_flag_overrides_the_tag_everywhere() {
    let out = gpt_deploy(["render", "--env", "production", "--image", "3f2c1ab"]).run();
    out.success();
    assert_eq!(
        out.stdout
            .matches("image: gptservice.azurecr.io/gpt-service:3f2c1ab")
            .count(),
        3,
        "the migration Job, the server and the cleanup job"
    );
    assert!(!out.stdout.contains("gpt-service:main"));
}

#[test]
fn out_dir_gets_one_file_per_object_in_apply_order() {
    let dir = tempfile::tempdir().unwrap();
    let out = gpt_deploy(["render", "--env", "staging", "--out", "m"])
        .cwd(dir.path())
        .run();
    out.success();
    let mut names: Vec<String> = std::fs::read_dir(dir.path().join("m"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    // The marker that lets a later render replace exactly these files.
    assert_eq!(names.remove(0), ".gpt-deploy-render");
    assert_eq!(
        names.iter().map(|n| mask_job_hash(n)).collect::<Vec<_>>(),
        [
            "01-secret-gpt-secrets-HASH.yaml",
            "02-poddisruptionbudget-gpt-service.yaml",
            "03-service-gpt-service.yaml",
            "04-job-gpt-migrate-HASH.yaml",
            "05-deployment-gpt-service.yaml",
            "06-cronjob-gpt-token-cleanup.yaml"
        ]
    );
    // The files together are the stream `render` prints.
    let joined: String = names
        .iter()
        .map(|n| std::fs::read_to_string(dir.path().join("m").join(n)).unwrap())
        .collect();
    let stream = gpt_deploy(["render", "--env", "staging"]).run();
    assert_eq!(joined, stream.stdout);
}

#[test]
fn local_deploy_toml_is_preferred_over_the_built_in_copy() {
    let dir = ConfigDir::shipped();
    dir.edit("environments/staging.toml", "replicas = 2", "replicas = 3");
    let out = gpt_deploy(["render", "--env", "staging"])
        .cwd(dir.path())
        .run();
    out.success();
    assert!(out.stdout.contains("replicas: 3"), "{}", out.stdout);
}

#[test]
fn a_closed_stdout_is_not_an_error() {
    let out = gpt_deploy(["render", "--env", "production"])
        .close_stdout()
        .run();
    out.success();
    assert_eq!(
        out.stderr
            .lines()
            .filter(|l| l.starts_with("error"))
            .count(),
        0,
        "{}",
        out.stderr
    );
}

#[test]
fn validate_passes_on_the_shipped_configuration() {
    let out = gpt_deploy(["validate"]).run();
    out.success();
    assert_eq!(
        mask_job_hash(&out.stdout),
        "ok     development: Secret/gpt-secrets-HASH, PodDisruptionBudget/gpt-service, Service/gpt-service, Job/gpt-migrate-HASH, Deployment/gpt-service, CronJob/gpt-token-cleanup\n\
         ok     production: Secret/gpt-secrets-HASH, PodDisruptionBudget/gpt-service, Service/gpt-service, Job/gpt-migrate-HASH, Deployment/gpt-service, CronJob/gpt-token-cleanup\n\
         ok     staging: Secret/gpt-secrets-HASH, PodDisruptionBudget/gpt-service, Service/gpt-service, Job/gpt-migrate-HASH, Deployment/gpt-service, CronJob/gpt-token-cleanup\n"
    );
    assert_eq!(out.stderr, BUILT_IN);
}

#[test]
fn under_github_actions_a_missing_secret_is_a_warning_annotation() {
    let out = gpt_deploy(["render", "--env", "staging", "--show-secrets"])
        .env("GITHUB_ACTIONS", "true")
        .env("DATABASE_URL", DATABASE)
        .run();
    out.success();
    assert_eq!(
        out.stderr,
        format!(
            "{BUILT_IN}::warning::environment variables not set: CLERK_WEBHOOK_SECRET; the Secret gpt-secrets shows <redacted> for them\n"
        )
    );
    // --show-secrets prints the value that is set on stdout; the warning never does.
    assert_eq!(leaks(&out.stderr), Vec::<String>::new());
}

/// Replaces the 8 hex digits of `gpt-migrate-<hash>` (they depend on the image and the
/// embedded migrations) with `HASH`.
/// `gpt-migrate-` and `gpt-secrets-` names with their 8-digit hash shown as `HASH`.
fn mask_job_hash(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    let next = |rest: &str| {
        ["gpt-migrate-", "gpt-secrets-"]
            .iter()
            .filter_map(|p| rest.find(p).map(|at| at + p.len()))
            .min()
    };
    while let Some(at) = next(rest) {
        let (head, tail) = rest.split_at(at);
        out.push_str(head);
        let hash: String = tail.chars().take_while(char::is_ascii_hexdigit).collect();
        assert_eq!(hash.len(), 8, "{text}");
        out.push_str("HASH");
        rest = &tail[hash.len()..];
    }
    out.push_str(rest);
    out
}
