//! The image the tests run (`scripts/oci-image.sh`, no Docker) is the Dockerfile's
//! image: the same release binary at the same path and mode, the same user,
//! entrypoint, command, environment and port, on the same Debian release's C
//! runtime. Edit one without the other and this fails.

use crate::support;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

/// The final stage of the Dockerfile, instruction by instruction.
struct FinalStage {
    from: String,
    user: String,
    env: Vec<String>,
    expose: Vec<String>,
    entrypoint: Vec<String>,
    cmd: Vec<String>,
    /// (source, destination) of `COPY --from=build`.
    copy: (String, String),
}

pub(crate) fn dockerfile() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Dockerfile"))
        .expect("read the Dockerfile")
}

/// Logical lines (continuations joined), comments dropped.
pub(crate) fn instructions(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') || (line.is_empty() && current.is_empty()) {
            continue;
        }
        if let Some(part) = line.strip_suffix('\\') {
            current.push_str(part);
            current.push(' ');
        } else {
            current.push_str(line);
            out.push(std::mem::take(&mut current));
        }
    }
    out
}

fn final_stage(text: &str) -> FinalStage {
    let all = instructions(text);
    let start = all
        .iter()
        .rposition(|i| i.starts_with("FROM "))
        .expect("a FROM");
    let mut stage = FinalStage {
        from: all[start][5..].trim().to_string(),
        user: String::new(),
        env: Vec::new(),
        expose: Vec::new(),
        entrypoint: Vec::new(),
        cmd: Vec::new(),
        copy: (String::new(), String::new()),
    };
    for i in &all[start + 1..] {
        let (word, rest) = i.split_once(' ').unwrap_or((i, ""));
        let json = |s: &str| -> Vec<String> {
            serde_json::from_str(s).unwrap_or_else(|e| panic!("{word} is not a JSON array: {e}"))
        };
        match word {
            "USER" => stage.user = rest.trim().to_string(),
            "ENV" => stage.env.push(rest.trim().to_string()),
            "EXPOSE" => stage.expose.push(rest.trim().to_string()),
            "ENTRYPOINT" => stage.entrypoint = json(rest),
            "CMD" => stage.cmd = json(rest),
            "COPY" => {
                let parts: Vec<&str> = rest.split_whitespace().collect();
                assert_eq!(
                    parts.first(),
                    Some(&"--from=build"),
                    "the final stage copies only from the build stage: {i}"
                );
                stage.copy = (parts[1].to_string(), parts[2].to_string());
            }
            other => panic!("an instruction the image recipe does not mirror: {other} ({i})"),
        }
    }
    stage
}

fn json_file(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn blob(dir: &Path, digest: &str) -> std::path::PathBuf {
    dir.join("blobs/sha256")
        .join(digest.strip_prefix("sha256:").unwrap())
}

fn untar(archive: &Path, into: &Path) {
    std::fs::create_dir_all(into).unwrap();
    let ok = Command::new("tar")
        .arg("-xf")
        .arg(archive)
        .arg("-C")
        .arg(into)
        .status()
        .unwrap()
        .success();
    assert!(ok, "tar -xf {} failed", archive.display());
}

#[test]
fn the_oci_recipe_builds_the_dockerfiles_image_from_the_release_binary() {
    let text = dockerfile();
    let stage = final_stage(&text);

    // The build stage installs the release binary with mode 0555 where COPY takes it.
    assert!(
        text.contains("cargo build --release --locked --bin gpt-deploy"),
        "the Dockerfile no longer builds the release binary the recipe packs"
    );
    let install = instructions(&text)
        .into_iter()
        .find(|i| i.contains("install -D -m"))
        .expect("the build stage installs the binary");
    let words: Vec<&str> = install.split_whitespace().collect();
    let at = words.iter().position(|w| *w == "-m").unwrap();
    let (mode, installed) = (words[at + 1], words[at + 3]);
    assert_eq!(installed, stage.copy.0, "COPY takes what install wrote");

    let binary = support::realnode::release_binary();
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("image.tar");
    let digest = support::realnode::build_image(binary, "recipe-check", &archive);
    let again = support::realnode::build_image(binary, "recipe-check", &dir.path().join("b.tar"));
    assert_eq!(digest, again, "the same inputs give the same image");
    assert_eq!(
        std::fs::read(&archive).unwrap(),
        std::fs::read(dir.path().join("b.tar")).unwrap()
    );

    let oci = dir.path().join("oci");
    untar(&archive, &oci);
    let index = json_file(&oci.join("index.json"));
    let entry = &index["manifests"][0];
    assert_eq!(entry["digest"], digest);
    assert_eq!(
        entry["annotations"]["io.containerd.image.name"],
        "gptservice.azurecr.io/gpt-service:recipe-check"
    );
    let manifest = json_file(&blob(&oci, &digest));
    let config = json_file(&blob(&oci, manifest["config"]["digest"].as_str().unwrap()));
    let c = &config["config"];
    assert_eq!(c["User"], stage.user.as_str());
    assert_eq!(c["Entrypoint"], serde_json::json!(stage.entrypoint));
    assert_eq!(c["Cmd"], serde_json::json!(stage.cmd));
    for env in &stage.env {
        assert!(
            c["Env"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e == env.as_str()),
            "ENV {env} is missing from {}",
            c["Env"]
        );
    }
    let exposed: BTreeMap<String, serde_json::Value> =
        serde_json::from_value(c["ExposedPorts"].clone()).unwrap();
    let expected: Vec<String> = stage.expose.iter().map(|p| format!("{p}/tcp")).collect();
    assert_eq!(exposed.keys().cloned().collect::<Vec<_>>(), expected);

    // The layer: the very same bytes at COPY's destination with install's mode.
    let rootfs = dir.path().join("rootfs");
    let layers = manifest["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 1);
    untar(&blob(&oci, layers[0]["digest"].as_str().unwrap()), &rootfs);
    let packed = rootfs.join(stage.copy.1.trim_start_matches('/'));
    assert_eq!(
        std::fs::read(&packed).unwrap(),
        std::fs::read(binary).unwrap(),
        "the image holds the release binary"
    );
    use std::os::unix::fs::PermissionsExt as _;
    let packed_mode = std::fs::metadata(&packed).unwrap().permissions().mode() & 0o7777;
    assert_eq!(format!("{packed_mode:04o}"), mode);

    // The C runtime comes from this machine, so it must be the Debian release the
    // distroless base is made from (cc-debian12 → Debian 12).
    let release = stage
        .from
        .split("cc-debian")
        .nth(1)
        .and_then(|r| r.split(':').next())
        .expect("the final stage is a distroless cc-debian image");
    let os = std::fs::read_to_string("/etc/os-release").unwrap();
    assert!(
        os.lines().any(|l| l == format!("VERSION_ID=\"{release}\"")),
        "the Dockerfile's base is Debian {release}; this machine is not ({os})"
    );
    // And it is complete: the binary starts inside the image's root with nothing
    // from the host, as the user the pods run as.
    let out = Command::new("/usr/sbin/chroot")
        .arg("--userspec")
        .arg(&stage.user)
        .arg(&rootfs)
        .args(&stage.entrypoint)
        .arg("--version")
        .env_clear()
        .output()
        .expect("run chroot (the tests run as root)");
    assert!(
        out.status.success(),
        "the binary does not start inside the image: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let outside = Command::new(binary).arg("--version").output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&outside.stdout),
        "inside the image the binary says what it says on the host"
    );
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("gpt-deploy "));
}
