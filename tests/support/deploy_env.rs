//! A deployable environment for cluster tests: a copy of the project's configuration in a
//! temporary directory (editable per test), a fresh namespace, the sentinel secret values of
//! [`super::sentinel`], and a runner for `gpt-deploy <command>` pointed at all of them, with
//! the invocations most tests share (`deploy --image X --timeout 120s`, a command with no
//! secret set, the pinned `kubectl`, SIGTERM to a running command).

use std::path::{Path, PathBuf};
use std::process::Command;

use kube::config::Kubeconfig;

use super::bin::{self, Bin, Output, Running};
use super::cluster::{self, TestNamespace};
use super::config_dir::ConfigDir;
use super::sentinel;

pub use super::sentinel::{CLERK as SENTINEL_CLERK, DATABASE as SENTINEL_DB};

/// The environment the tests deploy (one replica keeps rollouts quick).
pub const ENV: &str = "development";

/// The `--timeout` of a deploy expected to roll out: generous, so a loaded machine does not
/// turn a slow rollout into a failure (tests of a failing rollout pass a short one).
pub const ROLLOUT_TIMEOUT: &str = "120s";

/// A test's environment: configuration copy + namespace.
pub struct DeployEnv {
    /// The configuration directory (deploy.toml, environments/, templates/).
    pub config: ConfigDir,
    /// The namespace (deleted on drop).
    pub ns: TestNamespace,
    /// The kubeconfig context of the test cluster.
    pub context: String,
}

/// The current context of a kubeconfig file.
pub fn current_context(kubeconfig: &Path) -> String {
    Kubeconfig::read_from(kubeconfig)
        .expect("read the test kubeconfig")
        .current_context
        .expect("the test kubeconfig has a current-context")
}

impl DeployEnv {
    /// A fresh namespace and configuration copy.
    pub async fn new() -> Self {
        let ns = cluster::namespace().await;
        let context = current_context(&ns.kubeconfig);
        Self {
            config: ConfigDir::shipped(),
            ns,
            context,
        }
    }

    /// A file of the configuration copy.
    pub fn path(&self, relative: &str) -> PathBuf {
        self.config.path().join(relative)
    }

    /// Removes a template (its objects are then no longer rendered).
    pub fn remove(&self, relative: &str) {
        std::fs::remove_file(self.path(relative)).expect("remove a config file");
    }

    /// Adds the label that makes kwok keep the Deployment's pods NotReady.
    pub fn make_pods_never_ready(&self) {
        let pod_labels = "        {{ h.labels(\"web\") | indent(8) }}\n";
        self.config.edit(
            "templates/deployment.yaml.j2",
            pod_labels,
            &format!(
                "{pod_labels}        {}: \"true\"\n",
                cluster::NEVER_READY_LABEL
            ),
        );
    }

    /// The Secret version (`gpt-secrets-<hash>`) the live Deployment's pod template reads.
    pub async fn secret_version(&self) -> String {
        let deployment = self.deployment().await;
        let template = serde_json::to_value(&deployment.spec.unwrap().template).unwrap();
        let reference = template["spec"]["containers"][0]["env"]
            .as_array()
            .into_iter()
            .flatten()
            .find_map(|e| e["valueFrom"].get("secretKeyRef").cloned())
            .unwrap_or_else(|| panic!("the pod template reads no Secret: {template}"));
        reference["name"].as_str().unwrap().to_owned()
    }

    /// `gpt-deploy <command> --config … --env development --kubeconfig … --context … --namespace …`
    /// with the sentinel secrets set (and, as every run, no other variable but `PATH`).
    pub fn cmd(&self, command: &str, extra: &[&str]) -> Bin {
        self.cmd_with(command, extra, &self.ns.name, true)
    }

    /// As [`DeployEnv::cmd`], in another namespace and optionally without any secret set.
    pub fn cmd_with(&self, command: &str, extra: &[&str], namespace: &str, secrets: bool) -> Bin {
        let mut args: Vec<String> = vec![
            command.into(),
            "--config".into(),
            self.config.path().display().to_string(),
            "--env".into(),
            ENV.into(),
            "--kubeconfig".into(),
            self.ns.kubeconfig.display().to_string(),
            "--context".into(),
            self.context.clone(),
            "--namespace".into(),
            namespace.into(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        let bin = bin::gpt_deploy(args);
        if secrets {
            bin.envs(sentinel::env())
        } else {
            bin
        }
    }
}

impl DeployEnv {
    /// `gpt-deploy deploy --image <image> --timeout <timeout>` with the sentinel secrets set.
    pub fn deploy_cmd(&self, image: &str, timeout: &str) -> Bin {
        self.cmd("deploy", &["--image", image, "--timeout", timeout])
    }

    /// Runs `deploy --image <image> --timeout 120s` ([`ROLLOUT_TIMEOUT`]), checks that no
    /// sentinel leaked, and returns its output (the caller checks the exit code).
    pub async fn deploy(&self, image: &str) -> Output {
        run(self.deploy_cmd(image, ROLLOUT_TIMEOUT)).await
    }

    /// `gpt-deploy <command> …` in the test's namespace with no secret value set.
    pub fn cmd_without_secrets(&self, command: &str, extra: &[&str]) -> Bin {
        self.cmd_with(command, extra, &self.ns.name, false)
    }

    /// Runs [`DeployEnv::cmd_without_secrets`] and checks that no sentinel leaked.
    pub async fn run_without_secrets(&self, command: &str, extra: &[&str]) -> Output {
        run(self.cmd_without_secrets(command, extra)).await
    }

    /// Runs the pinned `kubectl` (tests/cluster/kubectl) against the test's namespace and
    /// fails the test, with kubectl's output, unless it succeeds.
    #[track_caller]
    pub fn kubectl(&self, args: &[&str]) {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cluster/kubectl");
        let out = Command::new(script)
            .arg("--kubeconfig")
            .arg(&self.ns.kubeconfig)
            .arg("--namespace")
            .arg(&self.ns.name)
            .args(args)
            .output()
            .expect("run the pinned kubectl");
        assert!(
            out.status.success(),
            "kubectl {args:?} failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The image of the live Deployment's first container.
    pub async fn live_image(&self) -> String {
        let deployment = self.deployment().await;
        deployment.spec.unwrap().template.spec.unwrap().containers[0]
            .image
            .clone()
            .unwrap()
    }
}

impl DeployEnv {
    /// The live Deployment `gpt-service` (the test fails if there is none).
    async fn deployment(&self) -> k8s_openapi::api::apps::v1::Deployment {
        kube::Api::namespaced(self.ns.client(), &self.ns.name)
            .get("gpt-service")
            .await
            .expect("the Deployment is live")
    }
}

/// Sends SIGTERM to a running command, waits for it off the async runtime's worker and checks
/// that no sentinel leaked.
pub async fn terminate(running: Running) -> Output {
    running.signal("TERM");
    let out = tokio::task::spawn_blocking(move || running.wait())
        .await
        .expect("wait for the terminated command");
    sentinel::assert_absent(&out);
    out
}

/// Sends SIGTERM to a deploy that waits on something and checks what it must say: exit code
/// 130, `cancelled by SIGTERM while waiting for <waiting_for>` and `recorded revision
/// <revision>: cancelled` on stderr, no sentinel anywhere. Returns the output for the test's
/// own checks.
pub async fn cancel(running: Running, waiting_for: &str, revision: u32) -> Output {
    let out = terminate(running).await;
    out.expect_code(130);
    let said = format!("cancelled by SIGTERM while waiting for {waiting_for}");
    assert!(out.stderr.contains(&said), "{}", out.stderr);
    let recorded = format!("recorded revision {revision}: cancelled");
    assert!(out.stderr.contains(&recorded), "{}", out.stderr);
    out
}

/// Runs the binary off the async runtime's worker and checks that no sentinel leaked.
pub async fn run(bin: Bin) -> Output {
    let output = bin.output().await;
    sentinel::assert_absent(&output);
    output
}

/// The terminated state of `pod`'s first container; fails the test with `what` when it has
/// not terminated.
#[track_caller]
pub fn terminated(
    pod: &k8s_openapi::api::core::v1::Pod,
    what: &str,
) -> k8s_openapi::api::core::v1::ContainerStateTerminated {
    pod.status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .and_then(|c| c.first())
        .and_then(|c| c.state.as_ref())
        .and_then(|s| s.terminated.clone())
        .unwrap_or_else(|| panic!("{what} has not terminated: {:?}", pod.status))
}
