//! `render --out DIR`: only its own directory, only its own files, secrets owner-only; and
//! what `render` says (and no longer says) about secrets that are not set.

use crate::support;

use std::path::Path;

use support::bin::gpt_deploy;

const CLERK: &str = "whsec_c2VudGluZWwtb3V0LWRpci03ZTJh";
const DATABASE: &str = "postgres://app:sentinel-out-db-7e2a@db:5432/gpt";

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

#[test]
fn a_file_or_someone_elses_directory_is_refused() {
    let root = tempfile::tempdir().unwrap();
    let file = root.path().join("notes.txt");
    std::fs::write(&file, "keep me").unwrap();
    let out = gpt_deploy([
        "render",
        "--env",
        "staging",
        "--out",
        file.to_str().unwrap(),
    ])
    .run();
    out.expect_code(2);
    assert!(
        out.stderr.contains("--out must be a directory"),
        "{}",
        out.stderr
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "keep me");

    let theirs = root.path().join("theirs");
    std::fs::create_dir(&theirs).unwrap();
    std::fs::write(theirs.join("README"), "not ours").unwrap();
    let out = gpt_deploy([
        "render",
        "--env",
        "staging",
        "--out",
        theirs.to_str().unwrap(),
    ])
    .run();
    out.expect_code(2);
    assert!(
        out.stderr
            .contains("is not empty and was not written by render --out"),
        "{}",
        out.stderr
    );
    assert_eq!(names(&theirs), ["README"]);
}

/// The file written for the object of `kind` (`NN-kind-name.yaml`), found by kind: the
/// number is the object's place in the apply order, which moves when objects are added.
fn file_of(dir: &Path, kind: &str) -> String {
    let found: Vec<String> = names(dir)
        .into_iter()
        .filter(|n| object_part(n).is_some_and(|o| o.starts_with(&format!("{kind}-"))))
        .collect();
    assert_eq!(found.len(), 1, "one {kind} file in {:?}", names(dir));
    found.into_iter().next().unwrap()
}

/// `kind-name.yaml` of `NN-kind-name.yaml`, or `None` for a file render does not name.
fn object_part(name: &str) -> Option<&str> {
    let (number, rest) = name.split_once('-')?;
    (number.len() == 2 && number.bytes().all(|b| b.is_ascii_digit())).then_some(rest)
}

#[test]
fn a_second_render_replaces_only_its_own_files() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("m");
    let arg = dir.to_str().unwrap();
    gpt_deploy(["render", "--env", "staging", "--out", arg])
        .run()
        .success();
    let pdb = file_of(&dir, "poddisruptionbudget");
    // Someone adds a file; the next render keeps it and replaces its own.
    std::fs::write(dir.join("kustomization.yaml"), "resources: []\n").unwrap();
    std::fs::write(dir.join(file_of(&dir, "deployment")), "stale").unwrap();
    let config = support::config_dir::ConfigDir::shipped();
    std::fs::remove_file(config.path().join("templates/poddisruptionbudget.yaml.j2")).unwrap();
    let out = gpt_deploy([
        "render",
        "--env",
        "staging",
        "--out",
        arg,
        "--config",
        config.arg(),
    ])
    .run();
    out.success();
    let all = names(&dir);
    let numbered: Vec<&String> = all.iter().filter(|n| object_part(n).is_some()).collect();
    let others: Vec<&String> = all.iter().filter(|n| object_part(n).is_none()).collect();
    assert_eq!(
        others,
        [".gpt-deploy-render", "kustomization.yaml"],
        "the foreign file stayed"
    );
    // Numbered 01.. in apply order, without a gap where the PodDisruptionBudget was.
    let kinds: Vec<&str> = numbered
        .iter()
        .enumerate()
        .map(|(i, n)| {
            assert!(n.starts_with(&format!("{:02}-", i + 1)), "{all:?}");
            object_part(n).unwrap().split('-').next().unwrap()
        })
        .collect();
    assert_eq!(
        kinds,
        ["secret", "service", "job", "deployment", "cronjob"],
        "the PodDisruptionBudget's old file went: {all:?}"
    );
    assert!(!dir.join(&pdb).exists());
    assert_eq!(
        std::fs::read_to_string(dir.join("kustomization.yaml")).unwrap(),
        "resources: []\n"
    );
    assert!(
        std::fs::read_to_string(dir.join(file_of(&dir, "deployment")))
            .unwrap()
            .contains("kind: Deployment")
    );
    // A foreign file where render wants to write is never overwritten.
    let theirs = dir.join(&pdb);
    std::fs::write(&theirs, "mine").unwrap();
    let out = gpt_deploy(["render", "--env", "staging", "--out", arg]).run();
    out.expect_code(2);
    assert!(
        out.stderr.contains(&format!(
            "{pdb}, which an earlier render --out did not write"
        )),
        "{}",
        out.stderr
    );
    assert_eq!(std::fs::read_to_string(&theirs).unwrap(), "mine");
}

#[cfg(unix)]
#[test]
fn files_with_secret_values_are_readable_by_the_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("m");
    let arg = dir.to_str().unwrap();
    let mode = |name: &str| {
        std::fs::metadata(dir.join(name))
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    };
    // A redacted render first: nothing secret, ordinary modes.
    gpt_deploy(["render", "--env", "production", "--out", arg])
        .run()
        .success();
    let secret_file = file_of(&dir, "secret");
    assert_ne!(mode(&secret_file) & 0o077, 0, "umask 022 expected");
    let out = gpt_deploy([
        "render",
        "--env",
        "production",
        "--out",
        arg,
        "--show-secrets",
    ])
    .env("CLERK_WEBHOOK_SECRET", CLERK)
    .env("DATABASE_URL", DATABASE)
    .run();
    out.success();
    // The secret's file name may follow its content (a versioned Secret).
    let secret_file = file_of(&dir, "secret");
    assert_eq!(mode(&secret_file), 0o600);
    assert_ne!(
        mode(&file_of(&dir, "deployment")) & 0o044,
        0,
        "only files with secret values are restricted"
    );
    let secret = std::fs::read_to_string(dir.join(&secret_file)).unwrap();
    assert!(
        !secret.contains("<redacted>"),
        "the real values were written"
    );
    for text in [&out.stdout, &out.stderr] {
        assert!(!text.contains("sentinel-out"), "{text}");
        assert!(!text.contains(CLERK), "{text}");
    }
}

#[test]
fn a_redacted_render_does_not_ask_for_secrets() {
    let out = gpt_deploy(["render", "--env", "production"]).run();
    out.success();
    assert!(!out.stderr.contains("warning"), "{}", out.stderr);
    assert!(
        !out.stderr.contains("CLERK_WEBHOOK_SECRET"),
        "{}",
        out.stderr
    );

    let out = gpt_deploy(["render", "--env", "production", "--show-secrets"])
        .env("DATABASE_URL", DATABASE)
        .run();
    out.success();
    assert!(
        out.stderr.contains(
            "warning: environment variables not set: CLERK_WEBHOOK_SECRET; the Secret gpt-secrets shows <redacted> for them"
        ),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("missing from the environment"));
    assert!(!out.stderr.contains("sentinel-out"), "{}", out.stderr);
}
