//! Every kind of bad input `render` and `validate` meet, each with the message people see.

use crate::support;

use support::bin::gpt_deploy;
use support::config_dir::ConfigDir;

/// `render --env ENV --config DIR` on an edited copy; must fail with exit code 2.
#[track_caller]
fn render_fails(dir: &ConfigDir, env: &str) -> String {
    let out = gpt_deploy(["render", "--env", env, "--config", dir.arg()]).run();
    out.expect_code(2);
    assert_eq!(out.stdout, "", "nothing is printed when rendering fails");
    without_configuration_line(dir, &out.stderr)
}

/// stderr after the first line, which must name the configuration directory.
#[track_caller]
fn without_configuration_line(dir: &ConfigDir, stderr: &str) -> String {
    let first = format!("configuration: {}\n", dir.arg());
    stderr
        .strip_prefix(&first)
        .unwrap_or_else(|| panic!("stderr does not start with {first:?}:\n{stderr}"))
        .to_owned()
}

#[test]
fn unknown_key_in_deploy_toml_names_file_line_and_column() {
    let dir = ConfigDir::shipped();
    dir.edit("deploy.toml", "secret_name = ", "secrets_name = ");
    let line = dir.line_of("deploy.toml", "secrets_name");
    let stderr = render_fails(&dir, "production");
    let expected = format!(
        "error: invalid configuration: {}/deploy.toml:{line}:1: unknown field `secrets_name`, expected one of `name`, `image_repository`, `github_repository`, `secret_name`, `secrets`, `retire` (check the spelling; the file is strict)\n",
        dir.arg()
    );
    assert_eq!(stderr, expected);
}

#[test]
fn retire_entry_of_an_unknown_kind_names_file_and_line() {
    let dir = ConfigDir::shipped();
    let text = std::fs::read_to_string(dir.path().join("deploy.toml")).unwrap();
    dir.write(
        "deploy.toml",
        &format!("{text}\n[[app.retire]]\nkind = \"Pod\"\nname = \"old\"\n"),
    );
    let line = dir.line_of("deploy.toml", "kind = \"Pod\"");
    let stderr = render_fails(&dir, "production");
    assert!(
        stderr.contains(&format!(
            "deploy.toml:{line}:8: `kind` is `Pod`; a retired object must be one of ConfigMap, CronJob,"
        )),
        "{stderr}"
    );
}

#[test]
fn unknown_key_in_an_environment_file_names_file_line_and_column() {
    let dir = ConfigDir::shipped();
    dir.edit("environments/staging.toml", "replicas = 2", "replica = 2");
    let line = dir.line_of("environments/staging.toml", "replica =");
    let stderr = render_fails(&dir, "staging");
    assert!(
        stderr.starts_with(&format!(
            "error: invalid configuration: {}/environments/staging.toml:{line}:1: unknown field `replica`, expected one of `namespace`, `replicas`,",
            dir.arg()
        )),
        "{stderr}"
    );
}

#[test]
fn unknown_key_in_a_nested_table_points_at_the_key() {
    let dir = ConfigDir::shipped();
    dir.edit(
        "environments/production.toml",
        "memory = \"512Mi\"",
        "memroy = \"512Mi\"",
    );
    let line = dir.line_of("environments/production.toml", "memroy");
    let stderr = render_fails(&dir, "production");
    assert!(
        stderr.contains(&format!(
            "production.toml:{line}:1: unknown field `memroy`, expected `cpu` or `memory`"
        )),
        "{stderr}"
    );
}

#[test]
fn unknown_environment_lists_the_existing_ones() {
    let out = gpt_deploy(["render", "--env", "prod"]).run();
    out.expect_code(2);
    assert_eq!(
        out.stderr,
        concat!(
            "configuration: built-in (gpt-deploy ",
            env!("CARGO_PKG_VERSION"),
            ")\nerror: unknown environment `prod` in (built-in) environments; the environments are: development, production, staging\n"
        )
    );
    let dir = ConfigDir::shipped();
    dir.write(
        "environments/qa.toml",
        "namespace = \"qa\"\nimage_tag = \"main\"\n",
    );
    let stderr = render_fails(&dir, "../deploy");
    assert_eq!(
        stderr,
        format!(
            "error: unknown environment `../deploy` in {}/environments; the environments are: development, production, qa, staging\n",
            dir.arg()
        )
    );
}

#[test]
fn invalid_toml_names_file_line_and_column() {
    let dir = ConfigDir::shipped();
    dir.edit(
        "environments/development.toml",
        "replicas = 1",
        "replicas = = 1",
    );
    let line = dir.line_of("environments/development.toml", "replicas = = 1");
    let stderr = render_fails(&dir, "development");
    assert!(
        stderr.starts_with(&format!(
            "error: invalid configuration: {}/environments/development.toml:{line}:12: ",
            dir.arg()
        )),
        "{stderr}"
    );
}

#[test]
fn invalid_values_are_all_reported_with_their_places() {
    let dir = ConfigDir::shipped();
    dir.edit("environments/staging.toml", "replicas = 2", "replicas = 0")
        .edit(
            "environments/staging.toml",
            "namespace = \"gpt-staging\"",
            "namespace = \"GPT Staging\"",
        )
        .edit(
            "deploy.toml",
            "retention = \"30d\"",
            "retention = \"a month\"",
        );
    let (ns, replicas) = (
        dir.line_of("environments/staging.toml", "namespace"),
        dir.line_of("environments/staging.toml", "replicas"),
    );
    let retention = dir.line_of("deploy.toml", "retention =");
    let stderr = render_fails(&dir, "staging");
    let d = dir.arg();
    assert!(
        stderr.starts_with("error: 3 problems in the configuration:\n"),
        "{stderr}"
    );
    assert!(stderr.contains(&format!("  {d}/environments/staging.toml:{ns}:13: `namespace` is `GPT Staging`; it must be at most 63 lowercase letters")), "{stderr}");
    assert!(stderr.contains(&format!("  {d}/environments/staging.toml:{replicas}:12: `replicas` is 0; it must be between 1 and 100\n")), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "  {d}/deploy.toml:{retention}:13: `cleanup.retention` is `a month`"
        )),
        "{stderr}"
    );
}

#[test]
fn a_misspelled_template_field_names_template_document_and_path() {
    let dir = ConfigDir::shipped();
    dir.edit(
        "templates/deployment.yaml.j2",
        "  replicas: {{ env.replicas }}",
        "  replica: {{ env.replicas }}",
    );
    let stderr = render_fails(&dir, "production");
    assert_eq!(
        stderr,
        format!(
            "error: template {}/templates/deployment.yaml.j2, document 1 (Deployment gpt-service): unknown field `spec.replica`; check its spelling against the Kubernetes API reference\n",
            dir.arg()
        )
    );
}

#[test]
fn a_deeply_misspelled_field_names_its_full_path() {
    let dir = ConfigDir::shipped();
    dir.edit(
        "templates/cronjob.yaml.j2",
        "restartPolicy: Never",
        "restartPolicy: Never\n          restartPolicies: Never",
    );
    let stderr = render_fails(&dir, "staging");
    assert!(
        stderr.contains("cronjob.yaml.j2, document 1 (CronJob gpt-token-cleanup): unknown field `spec.jobTemplate.spec.template.spec.restartPolicies`"),
        "{stderr}"
    );
}

#[test]
fn a_wrongly_typed_template_field_names_its_path() {
    let dir = ConfigDir::shipped();
    dir.edit(
        "templates/deployment.yaml.j2",
        "containerPort: 8080",
        "containerPort: http",
    );
    let stderr = render_fails(&dir, "production");
    assert!(
        stderr.contains("deployment.yaml.j2, document 1 (Deployment gpt-service): field `spec.template.spec.containers[0].ports[0].containerPort`: invalid type: string \"http\", expected i32"),
        "{stderr}"
    );
}

#[test]
fn an_undefined_template_variable_names_template_and_line() {
    let dir = ConfigDir::shipped();
    dir.edit(
        "templates/deployment.yaml.j2",
        "{{ env.replicas }}",
        "{{ env.replcas }}",
    );
    let line = dir.line_of("templates/deployment.yaml.j2", "env.replcas");
    let stderr = render_fails(&dir, "production");
    assert!(
        stderr.starts_with(&format!(
            "error: template {}/templates/deployment.yaml.j2 failed to render: `env.replcas` is undefined; `env` has cleanup, github_environment, image_tag, kube_context, log_level, name, namespace, replicas, resources, termination_grace_period_seconds\n  caused by: undefined value",
            dir.arg()
        )),
        "{stderr}"
    );
    assert!(
        stderr.ends_with(&format!("(in deployment.yaml.j2:{line})\n")),
        "{stderr}"
    );
}

#[test]
fn a_template_syntax_error_names_template_and_line() {
    let dir = ConfigDir::shipped();
    dir.edit(
        "templates/cronjob.yaml.j2",
        "{{ env.cleanup.schedule | json }}",
        "{{ env.cleanup.schedule | json }",
    );
    let line = dir.line_of("templates/cronjob.yaml.j2", "env.cleanup.schedule");
    let stderr = render_fails(&dir, "production");
    assert!(
        stderr.starts_with(&format!("error: template {}/templates/cronjob.yaml.j2 has a syntax error\n  caused by: syntax error:", dir.arg())),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("(in cronjob.yaml.j2:{line})")),
        "{stderr}"
    );
}

#[test]
fn invalid_yaml_from_a_template_names_template_and_document() {
    let dir = ConfigDir::shipped();
    dir.edit(
        "templates/poddisruptionbudget.yaml.j2",
        "kind: PodDisruptionBudget",
        "kind: PodDisruptionBudget\n  oops: [",
    );
    let stderr = render_fails(&dir, "production");
    // The template line the broken YAML came from, then the parser's place in the output.
    let line = dir.line_of("templates/poddisruptionbudget.yaml.j2", "oops: [");
    assert_eq!(
        stderr,
        format!(
            "error: template {}/templates/poddisruptionbudget.yaml.j2:{line} rendered invalid YAML in document 1: mapping values are not allowed in this context at line 3 column 7 of the rendered output\n",
            dir.arg()
        )
    );
}

#[test]
fn an_undefined_attribute_behind_a_filter_is_named() {
    // The shipped templates pass values through `json`, which sees only "undefined".
    let dir = ConfigDir::shipped();
    dir.edit(
        "templates/cronjob.yaml.j2",
        "{{ env.cleanup.schedule | json }}",
        "{{ env.cleanup.schedul | json }}",
    );
    let line = dir.line_of("templates/cronjob.yaml.j2", "env.cleanup.schedul");
    let stderr = render_fails(&dir, "production");
    assert!(
        stderr.starts_with(&format!(
            "error: template {}/templates/cronjob.yaml.j2 failed to render: `env.cleanup.schedul` is undefined; `env.cleanup` has batch_size, retention, schedule\n",
            dir.arg()
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("cronjob.yaml.j2:{line}")),
        "{stderr}"
    );
}

#[test]
fn a_duplicate_key_in_a_template_is_an_error() {
    let dir = ConfigDir::shipped();
    dir.edit(
        "templates/deployment.yaml.j2",
        "  revisionHistoryLimit: 5",
        "  revisionHistoryLimit: 5\n  replicas: 9",
    );
    let stderr = render_fails(&dir, "production");
    // The parser places the error at the start of the mapping, the first `replicas`.
    let line = dir.line_of(
        "templates/deployment.yaml.j2",
        "  replicas: {{ env.replicas }}",
    );
    assert!(
        stderr.contains(&format!("deployment.yaml.j2:{line} rendered invalid YAML in document 1: spec: duplicate key `replicas` at line 15 column 3 of the rendered output\n")),
        "{stderr}"
    );
}

#[test]
fn an_object_outside_the_environment_namespace_is_an_error() {
    let dir = ConfigDir::shipped();
    dir.edit(
        "templates/cronjob.yaml.j2",
        "namespace: {{ env.namespace | json }}",
        "namespace: default",
    );
    let stderr = render_fails(&dir, "staging");
    assert!(
        stderr.contains("cronjob.yaml.j2, document 1 (CronJob gpt-token-cleanup): metadata.namespace is `default`, expected `gpt-staging`"),
        "{stderr}"
    );
}

#[test]
fn a_bad_image_tag_is_refused() {
    let out = gpt_deploy(["render", "--env", "production", "--image", "v1 beta"]).run();
    out.expect_code(2);
    assert!(
        out.stderr
            .contains("error: --image `v1 beta`: the tag `v1 beta` may hold only letters, digits"),
        "{}",
        out.stderr
    );
    assert_eq!(out.stdout, "");
}

#[test]
fn config_dir_without_deploy_toml_says_what_it_needs() {
    let empty = tempfile::tempdir().unwrap();
    let out = gpt_deploy([
        "render",
        "--env",
        "production",
        "--config",
        empty.path().to_str().unwrap(),
    ])
    .run();
    out.expect_code(2);
    assert_eq!(
        out.stderr,
        format!(
            "error: {} has no deploy.toml; --config must name a directory holding deploy.toml, environments/ and templates/\n",
            empty.path().display()
        )
    );
}

#[test]
fn a_failed_render_with_out_writes_nothing() {
    let dir = ConfigDir::shipped();
    dir.edit(
        "templates/cronjob.yaml.j2",
        "concurrencyPolicy: Forbid",
        "concurrency: Forbid",
    );
    let target = tempfile::tempdir().unwrap();
    let out_dir = target.path().join("manifests");
    let out = gpt_deploy([
        "render",
        "--env",
        "staging",
        "--config",
        dir.arg(),
        "--out",
        out_dir.to_str().unwrap(),
    ])
    .run();
    out.expect_code(2);
    assert!(
        !out_dir.exists(),
        "no directory or file may be written when rendering fails"
    );
}

#[test]
fn validate_reports_every_error_not_just_the_first() {
    let dir = ConfigDir::shipped();
    dir.edit("environments/staging.toml", "replicas = 2", "replica = 2")
        .edit(
            "environments/development.toml",
            "replicas = 1",
            "replicas = -1",
        )
        .edit(
            "templates/cronjob.yaml.j2",
            "concurrencyPolicy: Forbid",
            "concurrency: Forbid",
        )
        .edit(
            "templates/deployment.yaml.j2",
            "  replicas: {{ env.replicas }}",
            "  replica: {{ env.replicas }}",
        );
    let out = gpt_deploy(["validate", "--config", dir.arg()]).run();
    out.expect_code(2);
    assert_eq!(
        out.stdout,
        "FAILED development\nFAILED production\nFAILED staging\n"
    );
    let d = dir.arg();
    let dev_line = dir.line_of("environments/development.toml", "replicas");
    let staging_line = dir.line_of("environments/staging.toml", "replica");
    for expected in [
        format!(
            "error: environment development: invalid configuration: {d}/environments/development.toml:{dev_line}:12: `replicas` is -1"
        ),
        format!(
            "error: environment production: 2 problems:\n  template {d}/templates/cronjob.yaml.j2, document 1 (CronJob gpt-token-cleanup): unknown field `spec.concurrency`"
        ),
        format!(
            "\n  template {d}/templates/deployment.yaml.j2, document 1 (Deployment gpt-service): unknown field `spec.replica`"
        ),
        format!(
            "error: environment staging: invalid configuration: {d}/environments/staging.toml:{staging_line}:1: unknown field `replica`"
        ),
        "error: 3 of 3 environments failed validation (errors above)\n".to_owned(),
    ] {
        assert!(
            out.stderr.contains(&expected),
            "missing {expected:?} in\n{}",
            out.stderr
        );
    }
}

#[test]
fn validate_without_environments_says_so() {
    let dir = ConfigDir::shipped();
    for env in ["development", "staging", "production"] {
        std::fs::remove_file(dir.path().join(format!("environments/{env}.toml"))).unwrap();
    }
    let out = gpt_deploy(["validate", "--config", dir.arg()]).run();
    out.expect_code(2);
    assert_eq!(
        without_configuration_line(&dir, &out.stderr),
        format!(
            "error: {d}/environments holds no environment file; add one such as {d}/environments/production.toml\n",
            d = dir.arg()
        )
    );
}

#[test]
fn a_failing_filter_names_template_and_line_without_the_undefined_hint() {
    let dir = ConfigDir::shipped();
    dir.edit(
        "templates/deployment.yaml.j2",
        "{{ env.replicas }}",
        "{{ env.resources | json }}",
    );
    let line = dir.line_of("templates/deployment.yaml.j2", "env.resources | json");
    let stderr = render_fails(&dir, "production");
    assert_eq!(
        stderr,
        format!(
            "error: template {}/templates/deployment.yaml.j2 failed to render\n  caused by: invalid operation: `json` quotes strings, numbers and booleans, not map (in deployment.yaml.j2:{line})\n",
            dir.arg()
        )
    );
}
