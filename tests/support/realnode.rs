//! The real test node (`tests/cluster/node`): a kubelet with containerd and runc
//! beside the kwok nodes of a cluster of its own, and the service image built from
//! the release binary without Docker (`scripts/oci-image.sh`).
//!
//! ```ignore
//! let node = support::realnode::node();      // started once per process, images imported
//! let ns = support::cluster::namespace_in(&node.kubeconfig).await;
//! let config = support::config_dir::ConfigDir::shipped();
//! support::realnode::pin_to_node(&config);    // pods select and tolerate the node
//! // deploy with --image node.tags[0]; pods really run the image on node.ip's bridge
//! ```
//!
//! Why a cluster of its own: the rendered Deployment spreads its pods over
//! `kubernetes.io/hostname` with `whenUnsatisfiable: DoNotSchedule`, and the
//! scheduler counts tainted nodes as spread domains (`nodeTaintsPolicy: Ignore`
//! is the default). On the shared cluster the empty real node would hold back
//! every kwok rollout that needs two pods on one kwok node (a surge pod beside
//! two replicas). The cluster goes away with the test process (`up --owner-pid`);
//! the node needs root (containerd, a bridge, cgroups).

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use super::cluster;
use super::config_dir::ConfigDir;

/// The node's name.
pub const NODE_NAME: &str = "real-node-0";
/// The label (value `"true"`) on the real node; pods select it.
pub const NODE_LABEL: &str = "gpt-deploy.test/real-node";

/// The running real node and its cluster.
pub struct RealNode {
    /// The kubeconfig of the node's cluster.
    pub kubeconfig: PathBuf,
    /// The node's address on its pod network (the bridge's address).
    pub ip: Ipv4Addr,
    /// The pod network, in CIDR notation.
    pub subnet: String,
    /// Two tags of the service image imported into the node, same binary,
    /// different image (for rolling updates).
    pub tags: [String; 2],
}

/// The release binary: `GPT_DEPLOY_RELEASE_BIN` (scripts/test.sh builds it), else
/// built here with `cargo build --release`.
pub fn release_binary() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(path) = std::env::var_os("GPT_DEPLOY_RELEASE_BIN") {
            return PathBuf::from(path);
        }
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let status = Command::new(env!("CARGO"))
            .args(["build", "--release", "--locked", "--bin", "gpt-deploy"])
            .current_dir(&root)
            .status()
            .expect("run cargo build --release");
        assert!(status.success(), "cargo build --release failed");
        std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join("target"))
            .join("release/gpt-deploy")
    })
}

/// Builds the service image archive of `binary` tagged `tag` into `out`
/// (`scripts/oci-image.sh gpt-service`); returns the manifest digest.
///
/// # Panics
/// When the script fails (its stderr is in the message).
pub fn build_image(binary: &Path, tag: &str, out: &Path) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/oci-image.sh");
    let output = Command::new(script)
        .arg("gpt-service")
        .arg(binary)
        .arg(tag)
        .arg(out)
        .stdin(Stdio::null())
        .output()
        .expect("run scripts/oci-image.sh");
    assert!(
        output.status.success(),
        "scripts/oci-image.sh gpt-service failed ({}):\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    stdout
        .split_whitespace()
        .nth(1)
        .unwrap_or_else(|| panic!("scripts/oci-image.sh printed no digest: {stdout}"))
        .to_string()
}

/// The real node on a cluster of this process, started (and the images built and
/// imported) on first use.
///
/// # Panics
/// When the node cannot be started; the message carries the script's output.
pub fn node() -> &'static RealNode {
    static NODE: OnceLock<RealNode> = OnceLock::new();
    NODE.get_or_init(start)
}

fn start() -> RealNode {
    let scripts = cluster::scripts_dir();
    // Build output goes to the terminal: a cold build takes minutes.
    let build = Command::new(scripts.join("build"))
        .stdout(Stdio::null())
        .status()
        .expect("run tests/cluster/build");
    assert!(
        build.success(),
        "tests/cluster/build failed; its output is above"
    );
    let up = Command::new(scripts.join("up"))
        .arg("--owner-pid")
        .arg(std::process::id().to_string())
        .stdin(Stdio::null())
        .output()
        .expect("run tests/cluster/up");
    assert!(
        up.status.success(),
        "tests/cluster/up failed ({}):\n{}",
        up.status,
        String::from_utf8_lossy(&up.stderr)
    );
    let kubeconfig = PathBuf::from(String::from_utf8_lossy(&up.stdout).trim());
    let binary = release_binary().to_path_buf();
    // Tags named after the binary's content: importing them again on a node
    // that already has them (another test process, a rerun) changes nothing.
    let bytes = std::fs::read(&binary)
        .unwrap_or_else(|e| panic!("reading the release binary {}: {e}", binary.display()));
    let hash = {
        use sha2::Digest as _;
        hex::encode(sha2::Sha256::digest(&bytes))
    };
    let tags = [
        format!("e2e-{}-a", &hash[..12]),
        format!("e2e-{}-b", &hash[..12]),
    ];
    let dir = tempfile::tempdir().expect("create a temporary directory");
    let mut node = Command::new(scripts.join("node"));
    node.arg(&kubeconfig);
    for tag in &tags {
        let archive = dir.path().join(format!("{tag}.tar"));
        build_image(&binary, tag, &archive);
        node.arg("--import").arg(archive);
    }
    let output = node
        .stdin(Stdio::null())
        .output()
        .expect("run tests/cluster/node");
    assert!(
        output.status.success(),
        "tests/cluster/node failed ({}); a real node needs root and Debian's containerd, runc and CNI plugins (installed when missing):\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let ip: Ipv4Addr = String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .unwrap_or_else(|e| panic!("tests/cluster/node printed no node address: {e}"));
    let [a, b, c, _] = ip.octets();
    RealNode {
        kubeconfig,
        ip,
        subnet: format!("{a}.{b}.{c}.0/24"),
        tags,
    }
}

/// Pins every pod template of the configuration copy to the real node: a node
/// selector and a toleration of its taint next to each pod spec's
/// `automountServiceAccountToken` line. Returns how many pod specs were edited.
pub fn pin_to_node(config: &ConfigDir) -> usize {
    let templates = config.path().join("templates");
    let mut edited = 0;
    for entry in std::fs::read_dir(&templates).expect("list the templates") {
        let path = entry.expect("list the templates").path();
        let text = std::fs::read_to_string(&path).expect("read a template");
        let mut out = String::with_capacity(text.len() + 256);
        for line in text.split_inclusive('\n') {
            out.push_str(line);
            if line.trim() == "automountServiceAccountToken: false" {
                let indent = &line[..line.len() - line.trim_start().len()];
                out.push_str(&format!(
                    "{indent}nodeSelector:\n{indent}  {NODE_LABEL}: \"true\"\n\
                     {indent}tolerations:\n{indent}  - key: {NODE_LABEL}\n\
                     {indent}    operator: Equal\n{indent}    value: \"true\"\n\
                     {indent}    effect: NoSchedule\n"
                ));
                edited += 1;
            }
        }
        std::fs::write(&path, out).expect("write a template");
    }
    edited
}
