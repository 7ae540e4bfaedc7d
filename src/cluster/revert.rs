//! Automatic rollback of a failed rollout: the Deployment as it was before this deploy (its
//! pod template, image included) is applied again and waited for.
//!
//! The order of the phases keeps the rest in place: the CronJob is applied only after a
//! successful rollout, and nothing is pruned before one. The pod template restored names
//! the Secret version the previous release read (Secrets are versioned by content, see
//! [`super::versions`]); that version is still in the cluster, since prune runs only after
//! a successful rollout and never removes a version a live workload reads. Migrations stay
//! applied (they are written to be safe for the previous image: expand, then contract in a
//! later release). A signal during the wait stops it (exit 130), as during the rollout.

use std::time::Duration;

use serde_json::{Value, json};

use super::preflight::Prepared;
use super::{Error, Result, apply, rollout};
use crate::report::Progress;

/// The release to go back to: the live Deployment read before this deploy changed it.
#[derive(Debug, Clone)]
pub(crate) struct Previous {
    /// The Deployment as the server returned it.
    pub(crate) live: Value,
    /// Image of its first container.
    pub(crate) image: String,
    /// The release history's revision that runs it (the newest that succeeded), when one
    /// is recorded; see [`Previous::revision_of`].
    pub(crate) revision: Option<u64>,
}

impl Previous {
    /// The previous release of a live Deployment, if it has a pod template.
    #[must_use]
    pub(crate) fn of(live: &Value) -> Option<Self> {
        let template = &live["spec"]["template"];
        if !template.is_object() {
            return None;
        }
        Some(Self {
            image: template["spec"]["containers"][0]["image"]
                .as_str()
                .unwrap_or("?")
                .to_owned(),
            revision: None,
            live: live.clone(),
        })
    }

    /// Notes the history's revision of the previous release: the newest that succeeded
    /// before `current` (the run asking), as the history records the rollback. Unknown when
    /// the history cannot be read (the rollback itself does not need it).
    pub(crate) async fn revision_of(
        mut self,
        cluster: &super::client::Cluster,
        store: &super::history::Store,
        current: Option<u64>,
    ) -> Self {
        match super::history::last_succeeded(cluster, store, current).await {
            Ok(found) => self.revision = found.map(|r| r.number),
            Err(e) => tracing::debug!(error = %e, "cannot read the revision rolled back to"),
        }
        self
    }

    /// `<image> (revision N)`, or the image alone when no revision is recorded for it.
    #[must_use]
    pub(crate) fn describe(&self) -> String {
        match self.revision {
            Some(n) => format!("{} (revision {n})", self.image),
            None => self.image.clone(),
        }
    }

    /// What is applied to restore it: the previous spec (pod template included) and labels,
    /// none of the server's own fields.
    #[must_use]
    pub(crate) fn body(&self) -> Value {
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
pub(crate) async fn run(
    cluster: &super::client::Cluster,
    deployment: &Prepared,
    previous: &Previous,
    failure: Error,
    timeout: Duration,
) -> Error {
    crate::report::line(&format!(
        "rolling back deployment.apps/{} to {}",
        deployment.id.name,
        previous.describe()
    ));
    match restore(cluster, deployment, previous, timeout).await {
        Err(cancelled @ Error::Cancelled { .. }) => cancelled,
        Ok(()) => Error::RolledBack {
            failure: Box::new(failure),
            image: previous.image.clone(),
            revision: previous.revision,
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
    let live = apply::apply_one(
        cluster,
        &deployment.id,
        &deployment.resource,
        &previous.body(),
        options,
    )
    .await?;
    let target = rollout::Target::from_applied(&live).ok_or_else(|| Error::BadObject {
        object: deployment.id.to_string(),
        problem: "the restored Deployment has no usable selector".into(),
    })?;
    let progress = Progress::new();
    // A signal stops the wait (a watch, not a write), as during the rollout.
    tokio::select! {
        waited = rollout::wait(cluster, &target, timeout, &progress) => waited,
        signal = super::cancel::cancelled() => Err(super::cancel::error(signal, format!(
            "while waiting for the rollback of Deployment {}/{} to {}",
            target.namespace,
            target.name,
            previous.describe()
        ))),
    }
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
                "annotations": {"deployment.kubernetes.io/revision": "3"}},
            "spec": {"replicas": 2, "template": {"metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "registry/web:v2",
                    "env": [{"name": "A", "valueFrom": {"secretKeyRef":
                        {"name": "gpt-secrets-0a1b2c3d", "key": "a"}}}]}]}}},
            "status": {"replicas": 2}});
        let previous = Previous::of(&live).unwrap();
        assert_eq!(previous.image, "registry/web:v2");
        assert_eq!(
            previous.revision, None,
            "not the controller's revision annotation"
        );
        assert_eq!(previous.describe(), "registry/web:v2");
        let recorded = Previous {
            revision: Some(7),
            ..previous.clone()
        };
        assert_eq!(recorded.describe(), "registry/web:v2 (revision 7)");
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
