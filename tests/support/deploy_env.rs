//! A deployable environment for cluster tests: a copy of the project's configuration in a
//! temporary directory (editable per test), a fresh namespace, the sentinel secret values of
//! [`super::sentinel`], and a runner for `gpt-deploy <command>` pointed at all of them.

use std::path::{Path, PathBuf};

use kube::config::Kubeconfig;

use super::bin::{self, Bin, Output};
use super::cluster::{self, TestNamespace};
use super::config_dir::ConfigDir;
use super::sentinel;

pub use super::sentinel::{
    CLERK as SENTINEL_CLERK, DATABASE as SENTINEL_DB, assert_absent as assert_no_secrets,
};
/// The environment the tests deploy (one replica keeps rollouts quick).
pub const ENV: &str = "development";

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
        use k8s_openapi::api::apps::v1::Deployment;
        let deployments: kube::Api<Deployment> =
            kube::Api::namespaced(self.ns.client(), &self.ns.name);
        let deployment = deployments
            .get("gpt-service")
            .await
            .expect("read the Deployment");
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

/// Runs the binary off the async runtime's worker and checks that no sentinel leaked.
pub async fn run(bin: Bin) -> Output {
    let output = bin.output().await;
    sentinel::assert_absent(&output);
    output
}
