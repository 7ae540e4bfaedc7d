//! Replacing a Deployment whose selector changes, with no moment at which its Service has
//! no ready endpoint.
//!
//! A selector is immutable, so the Deployment must be deleted and created again. Deleted
//! with `propagationPolicy: Orphan`, its ReplicaSets and their pods stay and keep serving;
//! the new Deployment (whose selector does not match them) starts its own pods; the deploy
//! switches the Service's selector only once those are ready, and then deletes the
//! orphaned ReplicaSets (and with them the old pods).

use std::time::Duration;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use kube::api::{Api, DeleteParams, ListParams, Preconditions, PropagationPolicy};
use serde_json::Value;

use super::client::{self, Cluster};
use super::watch::{self, End};
use super::{Error, Result};

/// How long the old Deployment may take to disappear after the orphaning delete.
const GONE_TIMEOUT: Duration = Duration::from_secs(120);

/// A Deployment that was deleted and the ReplicaSets it left serving.
#[derive(Debug, Clone)]
pub(crate) struct Replacement {
    /// Namespace.
    pub(crate) namespace: String,
    /// Deployment name.
    #[expect(dead_code, reason = "only shown by the Debug derive (in logs)")]
    pub(crate) name: String,
    /// (name, uid) of every ReplicaSet the old Deployment owned.
    pub(crate) orphans: Vec<(String, String)>,
}

/// The ReplicaSets a controller (by uid) owns, as (name, uid).
#[must_use]
pub(crate) fn owned_by(replica_sets: &[ReplicaSet], owner_uid: &str) -> Vec<(String, String)> {
    replica_sets
        .iter()
        .filter(|rs| {
            rs.metadata
                .owner_references
                .iter()
                .flatten()
                .any(|o| o.uid == owner_uid)
        })
        .filter_map(|rs| Some((rs.metadata.name.clone()?, rs.metadata.uid.clone()?)))
        .collect()
}

/// Deletes the live Deployment, orphaning its ReplicaSets, and waits until it is gone.
///
/// # Errors
/// A request failed, or the Deployment did not disappear in time.
pub(crate) async fn orphan_delete(cluster: &Cluster, live: &Value) -> Result<Replacement> {
    let namespace = live["metadata"]["namespace"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let name = live["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let uid = live["metadata"]["uid"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let what = format!("Deployment {namespace}/{name}");
    let replica_sets: Api<ReplicaSet> = Api::namespaced(cluster.client.clone(), &namespace);
    let all = ListParams::default();
    let list = client::retry(|| replica_sets.list(&all))
        .await
        .map_err(|e| {
            client::api_error(
                format!("list the ReplicaSets of {what}"),
                &what,
                e,
                &cluster.server,
            )
        })?;
    let orphans = owned_by(&list.items, &uid);
    let deployments: Api<Deployment> = Api::namespaced(cluster.client.clone(), &namespace);
    let params = DeleteParams {
        propagation_policy: Some(PropagationPolicy::Orphan),
        preconditions: Some(Preconditions {
            uid: Some(uid.clone()),
            resource_version: None,
        }),
        ..DeleteParams::default()
    };
    match client::retry(|| deployments.delete(&name, &params)).await {
        Ok(_) => {}
        Err(e) if client::is_not_found(&e) => {}
        Err(e) => {
            return Err(client::api_error(
                format!("delete {what} (orphaning its ReplicaSets)"),
                &what,
                e,
                &cluster.server,
            ));
        }
    }
    crate::report::line(&format!(
        "deployment.apps/{name} deleted with its {} ReplicaSet(s) orphaned (they keep serving)",
        orphans.len()
    ));
    watch::await_condition(deployments, &name, GONE_TIMEOUT, watch::is_gone(Some(uid)))
        .await
        .map_err(|end| gone_error(&what, end))?;
    Ok(Replacement {
        namespace,
        name,
        orphans,
    })
}

fn gone_error(what: &str, end: End) -> Error {
    match end {
        End::Failed(source) => Error::Watch {
            what: what.to_string(),
            source,
        },
        End::Timeout | End::Closed => Error::Rollout {
            reason: format!(
                "{what} was deleted but did not disappear within {}",
                humantime::format_duration(GONE_TIMEOUT)
            ),
            diagnostics:
                "its finalizers may be stuck; check `kubectl get deployment -o yaml` and rerun"
                    .into(),
        },
    }
}

/// Deletes the ReplicaSets the replaced Deployment left (their pods go with them).
///
/// # Errors
/// A delete failed (a ReplicaSet already gone is fine).
pub(crate) async fn delete_orphans(cluster: &Cluster, replacement: &Replacement) -> Result<()> {
    let replica_sets: Api<ReplicaSet> =
        Api::namespaced(cluster.client.clone(), &replacement.namespace);
    for (name, uid) in &replacement.orphans {
        let params = DeleteParams {
            preconditions: Some(Preconditions {
                uid: Some(uid.clone()),
                resource_version: None,
            }),
            ..DeleteParams::background()
        };
        match client::retry(|| replica_sets.delete(name, &params)).await {
            Ok(_) => crate::report::line(&format!(
                "replicaset.apps/{name} deleted (orphaned by the replacement)"
            )),
            Err(e) if matches!(client::status_code(&e), Some(404 | 409)) => {}
            Err(e) => {
                let what = format!("ReplicaSet {}/{name}", replacement.namespace);
                return Err(client::api_error(
                    format!("delete {what}"),
                    &what,
                    e,
                    &cluster.server,
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_replica_sets_of_the_old_deployment_are_orphans() {
        let rs = |name: &str, owner: Option<&str>| -> ReplicaSet {
            let owners: Vec<Value> = owner
                .map(|u| vec![json!({"apiVersion": "apps/v1", "kind": "Deployment", "name": "d", "uid": u})])
                .unwrap_or_default();
            serde_json::from_value(
                json!({"metadata": {"name": name, "uid": format!("uid-{name}"),
                "ownerReferences": owners}}),
            )
            .unwrap()
        };
        let list = vec![
            rs("a", Some("old")),
            rs("b", Some("other")),
            rs("c", None),
            rs("d", Some("old")),
        ];
        assert_eq!(
            owned_by(&list, "old"),
            vec![("a".into(), "uid-a".into()), ("d".into(), "uid-d".into())]
        );
    }
}
