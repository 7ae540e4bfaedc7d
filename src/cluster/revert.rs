//! Automatic rollback of a failed rollout: the Deployment as it was before this deploy (its
//! pod template, image included) is applied again and waited for.
//!
//! The order of the phases keeps the rest in place: the CronJob is applied only after a
//! successful rollout, and nothing is pruned before one. The Secret keeps this deploy's
//! values: the previous pods, which a rolling update with `maxUnavailable: 0` never took
//! down, read theirs when they started. Migrations stay applied (they are written to be
//! safe for the previous image: expand, then contract in a later release).

use std::time::Duration;

use serde_json::{Value, json};

use super::preflight::Prepared;
use super::{Error, Result, apply, rollout};
use crate::report::Progress;

/// The annotation the Deployment controller numbers its rollouts with.
const REVISION: &str = "deployment.kubernetes.io/revision";

/// The release to go back to: the live Deployment read before this deploy changed it.
#[derive(Debug, Clone)]
pub struct Previous {
    /// The Deployment as the server returned it.
    pub live: Value,
    /// Image of its first container.
    pub image: String,
    /// Its revision number.
    pub revision: String,
}

impl Previous {
    /// The previous release of a live Deployment, if it has a pod template.
    #[must_use]
    pub fn of(live: &Value) -> Option<Self> {
        let template = &live["spec"]["template"];
        if !template.is_object() {
            return None;
        }
        Some(Self {
            image: template["spec"]["containers"][0]["image"]
                .as_str()
                .unwrap_or("?")
                .to_owned(),
            revision: live["metadata"]["annotations"][REVISION]
                .as_str()
                .unwrap_or("?")
                .to_owned(),
            live: live.clone(),
        })
    }

    /// What is applied to restore it: the previous spec (pod template included) and labels,
    /// none of the server's own fields.
    #[must_use]
    pub fn body(&self) -> Value {
        let meta = &self.live["metadata"];
        let mut metadata = json!({"name": meta["name"], "namespace": meta["namespace"]});
        if meta["labels"].is_object() {
            metadata["labels"] = meta["labels"].clone();
        }
        json!({
            "apiVersion": self.live["apiVersion"].as_str().unwrap_or("apps/v1"),
            "kind": "Deployment",
            "metadata": metadata,
            "spec": self.live["spec"],
        })
    }
}

/// Applies the previous Deployment again and waits for it; `failure` is the failed rollout.
/// Always returns an error (exit 4): [`Error::RolledBack`] when the previous release serves
/// again, [`Error::RollbackFailed`] when the rollback did not get there either.
pub async fn run(
    cluster: &super::client::Cluster,
    deployment: &Prepared,
    previous: &Previous,
    failure: Error,
    timeout: Duration,
) -> Error {
    crate::report::line(&format!(
        "rolling back deployment.apps/{} to {} (revision {})",
        deployment.id.name, previous.image, previous.revision
    ));
    match restore(cluster, deployment, previous, timeout).await {
        Ok(()) => Error::RolledBack {
            failure: Box::new(failure),
            image: previous.image.clone(),
            revision: previous.revision.clone(),
        },
        Err(problem) => Error::RollbackFailed {
            failure: Box::new(failure),
            image: previous.image.clone(),
            problem: Box::new(problem),
        },
    }
}

async fn restore(
    cluster: &super::client::Cluster,
    deployment: &Prepared,
    previous: &Previous,
    timeout: Duration,
) -> Result<()> {
    // Forced: the failed release's fields are ours, and so is taking them back.
    let options = apply::Options {
        dry_run: false,
        force_conflicts: true,
        prune: false,
    };
    let live = apply::apply_one(cluster, &deployment.resource, &previous.body(), options).await?;
    let target = rollout::Target::from_applied(&live).ok_or_else(|| Error::BadObject {
        object: deployment.id.to_string(),
        problem: "the restored Deployment has no usable selector".into(),
    })?;
    let progress = Progress::new();
    rollout::wait(cluster, &target, timeout, &progress).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_previous_release_is_its_spec_and_labels_without_server_fields() {
        let live = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "ns", "uid": "u", "resourceVersion": "7",
                "generation": 4, "managedFields": [{"manager": "gpt-deploy"}],
                "labels": {"app.kubernetes.io/version": "v2"},
                "annotations": {REVISION: "3"}},
            "spec": {"replicas": 2, "template": {"metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "registry/web:v2",
                    "env": [{"name": "A", "valueFrom": {"secretKeyRef":
                        {"name": "gpt-secrets-0a1b2c3d", "key": "a"}}}]}]}}},
            "status": {"replicas": 2}});
        let previous = Previous::of(&live).unwrap();
        assert_eq!(previous.image, "registry/web:v2");
        assert_eq!(previous.revision, "3");
        let body = previous.body();
        assert_eq!(
            body,
            json!({"apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "web", "namespace": "ns",
                    "labels": {"app.kubernetes.io/version": "v2"}},
                "spec": live["spec"]})
        );
        assert!(Previous::of(&json!({"metadata": {"name": "x"}})).is_none());
    }
}
