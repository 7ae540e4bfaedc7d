//! A real Kubernetes control plane for integration tests.
//!
//! `namespace().await` gives a test a fresh namespace (deleted again when the
//! returned value is dropped) on a cluster shared by every test of the run:
//!
//! ```ignore
//! let ns = support::cluster::namespace().await;
//! let pods: Api<Pod> = Api::namespaced(ns.client(), &ns.name);
//! // or run the binary: gpt-deploy apply --kubeconfig ns.kubeconfig --namespace ns.name
//! ```
//!
//! Which cluster:
//! - `GPT_DEPLOY_TEST_KUBECONFIG` set: the cluster of that kubeconfig (the
//!   one `tests/cluster/up` started for `scripts/test.sh`, or kind, k3d, AKS).
//! - otherwise the local cluster of `tests/cluster/`: the first test process
//!   builds the binaries if needed and starts it (`up --reuse` in a fixed state
//!   directory), later processes reuse it. Every process holds a shared flock
//!   on `shared.users` while it runs; the cluster's watchdog stops it after it
//!   has been unused for `GPT_DEPLOY_TEST_CLUSTER_IDLE_SECONDS` (default 600),
//!   so back-to-back `cargo test` runs start instantly and nothing lingers.
//!
//! Pods labelled [`NEVER_READY_LABEL`]`=true` are started by kwok but never
//! become Ready (for rollout-failure tests).

use std::env;
use std::fs::{self, File};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use kube::api::{DeleteParams, ObjectMeta, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config};

/// Label that makes kwok keep a pod Running but not Ready (value `"true"`).
pub const NEVER_READY_LABEL: &str = "gpt-deploy.test/never-ready";

/// Label put on every namespace this fixture creates.
pub const FIXTURE_LABEL: &str = "gpt-deploy.test/fixture";

/// Environment variable naming an existing cluster's kubeconfig to test against.
pub const KUBECONFIG_ENV: &str = "GPT_DEPLOY_TEST_KUBECONFIG";

/// The cluster this test process uses.
struct Shared {
    kubeconfig: PathBuf,
    /// Held (shared flock) for the whole process so the idle watchdog leaves
    /// the cluster running; the kernel releases it when the process exits.
    _users: Option<File>,
}

static SHARED: OnceLock<Result<Shared, String>> = OnceLock::new();

/// The kubeconfig of the shared test cluster, starting the cluster on first use.
///
/// # Panics
/// When the cluster cannot be built or started; the message carries the
/// scripts' output.
pub fn kubeconfig() -> &'static Path {
    match SHARED.get_or_init(start_or_reuse) {
        Ok(shared) => &shared.kubeconfig,
        Err(message) => panic!("{message}"),
    }
}

/// The directory that holds `build`, `up` and `down`.
pub fn scripts_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cluster")
}

/// Where `tests/cluster/up` keeps clusters by default (same formula as
/// `clusters_root` in `tests/cluster/lib.sh`).
pub fn clusters_root() -> PathBuf {
    if let Some(dir) = env::var_os("GPT_DEPLOY_CLUSTERS_DIR") {
        return PathBuf::from(dir);
    }
    let tmp = env::var_os("TMPDIR").map_or_else(|| PathBuf::from("/tmp"), PathBuf::from);
    let uid = fs::metadata("/proc/self").map(|m| m.uid()).unwrap_or(0);
    tmp.join(format!("gpt-deploy-clusters-{uid}"))
}

fn start_or_reuse() -> Result<Shared, String> {
    if let Some(path) = env::var_os(KUBECONFIG_ENV).filter(|p| !p.is_empty()) {
        let kubeconfig = PathBuf::from(path);
        if !kubeconfig.is_file() {
            return Err(format!(
                "{KUBECONFIG_ENV}={} does not name a file; point it at a kubeconfig or unset it to let the tests start a local cluster",
                kubeconfig.display()
            ));
        }
        return Ok(Shared {
            kubeconfig,
            _users: None,
        });
    }

    let root = clusters_root();
    fs::create_dir_all(&root).map_err(|e| format!("cannot create {}: {e}", root.display()))?;
    let open = |name: &str| {
        let path = root.join(name);
        File::options()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| format!("cannot open {}: {e}", path.display()))
    };
    // Order matters: taking the users lock first means a watchdog that is
    // tearing the old cluster down finishes before we look at it.
    let users = open("shared.users")?;
    users
        .lock_shared()
        .map_err(|e| format!("cannot lock shared.users: {e}"))?;
    let starting = open("shared.lock")?;
    starting
        .lock()
        .map_err(|e| format!("cannot lock shared.lock: {e}"))?;

    // Build output goes straight to the terminal: a cold build takes many
    // minutes and should not look like a hang.
    let build = Command::new(scripts_dir().join("build"))
        .stdout(Stdio::null())
        .status()
        .map_err(|e| format!("cannot run tests/cluster/build: {e}"))?;
    if !build.success() {
        return Err(format!(
            "tests/cluster/build failed ({build}); its output is above. Install Go 1.26 or newer, or set {KUBECONFIG_ENV} to use an existing cluster."
        ));
    }
    let idle = env::var("GPT_DEPLOY_TEST_CLUSTER_IDLE_SECONDS").unwrap_or_else(|_| "600".into());
    let output = Command::new(scripts_dir().join("up"))
        .arg("--state-dir")
        .arg(root.join("shared"))
        .arg("--reuse")
        .arg("--idle-lock")
        .arg(root.join("shared.users"))
        .arg("--idle-timeout")
        .arg(&idle)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run tests/cluster/up: {e}"))?;
    drop(starting);
    if !output.status.success() {
        return Err(format!(
            "tests/cluster/up failed ({}):\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let kubeconfig = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
    Ok(Shared {
        kubeconfig,
        _users: Some(users),
    })
}

/// A kube client for the kubeconfig at `path`.
///
/// # Errors
/// When the kubeconfig cannot be read or names no usable cluster.
pub async fn client_for(path: &Path) -> Result<Client, String> {
    gpt_deploy::init_crypto();
    let kubeconfig =
        Kubeconfig::read_from(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .map_err(|e| format!("loading {}: {e}", path.display()))?;
    Client::try_from(config).map_err(|e| format!("building a client for {}: {e}", path.display()))
}

/// A namespace that exists for one test; dropping it deletes the namespace.
pub struct TestNamespace {
    /// The namespace's name (`gpt-deploy-test-…`, unique across processes and runs).
    pub name: String,
    /// The kubeconfig of the cluster the namespace lives in.
    pub kubeconfig: PathBuf,
    client: Client,
}

impl TestNamespace {
    /// A client for the namespace's cluster (cluster-wide credentials).
    pub fn client(&self) -> Client {
        self.client.clone()
    }
}

impl Drop for TestNamespace {
    fn drop(&mut self) {
        // Drop runs inside the test's runtime, which must not be blocked on
        // its own client; a fresh client on a private runtime avoids that.
        let name = self.name.clone();
        let kubeconfig = self.kubeconfig.clone();
        let deleted = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            let runtime = runtime.map_err(|e| e.to_string())?;
            runtime.block_on(async {
                let client = client_for(&kubeconfig).await?;
                let namespaces: Api<Namespace> = Api::all(client);
                match namespaces.delete(&name, &DeleteParams::background()).await {
                    Ok(_) => Ok(()),
                    Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
                    Err(e) => Err(format!("deleting namespace {name}: {e}")),
                }
            })
        })
        .join();
        if let Ok(Err(message)) = deleted
            && !std::thread::panicking()
        {
            panic!("{message}");
        }
    }
}

/// A fresh namespace on the test cluster, ready for pods (its `default`
/// ServiceAccount exists).
///
/// # Panics
/// When the cluster cannot be started or the namespace cannot be created.
pub async fn namespace() -> TestNamespace {
    namespace_in(kubeconfig()).await
}

/// A fresh namespace, as [`namespace`], on the cluster of `kubeconfig`.
///
/// # Panics
/// When the namespace cannot be created.
pub async fn namespace_in(kubeconfig: &Path) -> TestNamespace {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let kubeconfig = kubeconfig.to_path_buf();
    let client = client_for(&kubeconfig)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let suffix: u32 = rand::random::<u32>() % 0x10000;
    let name = format!(
        "gpt-deploy-test-{}-{}-{suffix:04x}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    let namespace = Namespace {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            labels: Some([(FIXTURE_LABEL.to_string(), "true".to_string())].into()),
            ..ObjectMeta::default()
        },
        ..Namespace::default()
    };
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &namespace)
        .await
        .unwrap_or_else(|e| {
            panic!(
                "creating namespace {name} on the cluster of {}: {e}",
                kubeconfig.display()
            )
        });
    let namespace = TestNamespace {
        name,
        kubeconfig,
        client,
    };

    let accounts: Api<ServiceAccount> = Api::namespaced(namespace.client(), &namespace.name);
    let ready = tokio::time::timeout(Duration::from_secs(60), async {
        while accounts.get_opt("default").await.ok().flatten().is_none() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    if ready.await.is_err() {
        panic!(
            "namespace {} got no default ServiceAccount within 60s; is kube-controller-manager running?",
            namespace.name
        );
    }
    namespace
}
