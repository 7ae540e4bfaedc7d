//! Finding and deleting members of the ApplySet that are no longer rendered.
//!
//! Membership is the `part-of` label, read only for the group-kinds the parent records and
//! only in the parent's namespace. As a second guard an object is deleted only when this
//! tool's field manager wrote it: a hand-made object that copied the label is left alone.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use kube::api::{DeleteParams, ListParams};
use serde_json::Value;

use super::applyset::{GroupKind, PART_OF_LABEL};
use super::client::{self, Cluster};
use super::resources::{self, ObjectId};
use super::{Error, FIELD_MANAGER, Result};

/// Live members of the set, by identity.
pub(crate) type Members = BTreeMap<ObjectId, Value>;

/// Lists every live member of the set in `namespace` for the given group-kinds.
///
/// # Errors
/// A list request failed.
pub(crate) async fn list_members(
    cluster: &Cluster,
    namespace: &str,
    set_id: &str,
    kinds: &BTreeSet<GroupKind>,
) -> Result<Members> {
    let params = ListParams::default().labels(&format!("{PART_OF_LABEL}={set_id}"));
    // One list per group-kind, concurrently: they are independent reads.
    let lists = kinds.iter().map(|gk| {
        let params = &params;
        async move {
            let resource = resources::api_resource_for(&cluster.client, gk).await?;
            let api = resources::namespaced(&cluster.client, namespace, &resource);
            let list = client::retry(|| api.list(params)).await.map_err(|e| {
                client::api_error(
                    format!("list {gk} members of the ApplySet in namespace {namespace}"),
                    &gk.to_string(),
                    e,
                    &cluster.server,
                )
            })?;
            Ok::<_, Error>((resource, list.items))
        }
    });
    let mut members = Members::new();
    for (resource, items) in futures::future::try_join_all(lists).await? {
        for item in items {
            let mut value = serde_json::to_value(&item).unwrap_or(Value::Null);
            // List items carry no apiVersion/kind of their own.
            value["apiVersion"] = Value::String(resource.api_version.clone());
            value["kind"] = Value::String(resource.kind.clone());
            if let Ok(id) = ObjectId::of(&value) {
                members.insert(id, value);
            }
        }
    }
    Ok(members)
}

/// Why a listed member is kept rather than pruned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Keep {
    /// It carries the label but this tool never wrote it.
    NotOurs(Vec<String>),
    /// It is already being deleted.
    Deleting,
    /// One of the newest versions of a versioned Secret (see [`super::versions`]).
    Version,
    /// A version of a versioned Secret that a live workload still reads.
    InUse,
    /// The unversioned Secret of the older layout: retired after the rollout, not pruned.
    Retiring,
}

/// Splits live members into those to delete and those kept (with the reason). `recent` is
/// the release history's order of Secret versions ([`super::versions::recency`]), which
/// decides the versions kept.
#[must_use]
pub(crate) fn candidates(
    members: &Members,
    rendered: &HashSet<ObjectId>,
    recent: &[String],
) -> (Vec<ObjectId>, Vec<(ObjectId, Keep)>) {
    let mut delete = Vec::new();
    let mut keep = Vec::new();
    let versions = super::versions::kept(members, rendered, recent);
    for (id, live) in members {
        if rendered.contains(id) {
            continue;
        }
        if let Some(why) = versions.get(id) {
            keep.push((id.clone(), why.clone()));
            continue;
        }
        let managers = resources::managers(live);
        if !managers.iter().any(|m| m == FIELD_MANAGER) {
            keep.push((id.clone(), Keep::NotOurs(managers)));
        } else if !live["metadata"]["deletionTimestamp"].is_null() {
            keep.push((id.clone(), Keep::Deleting));
        } else {
            delete.push(id.clone());
        }
    }
    // Dependents first (CronJob and Deployment before the Secret they read): the reverse
    // of the apply order.
    delete.sort_by_key(|id| std::cmp::Reverse(crate::render::kind_rank(&id.kind)));
    (delete, keep)
}

/// Deletes one member (background propagation, as `kubectl apply --prune` does). A member
/// that is already gone counts as deleted.
///
/// # Errors
/// The delete request failed.
pub(crate) async fn delete(cluster: &Cluster, id: &ObjectId, dry_run: bool) -> Result<()> {
    delete_as(cluster, id, dry_run, "prune").await
}

/// [`delete`] for another command: `verb` names the step in an error (`prune`, `delete`).
///
/// # Errors
/// The delete request failed.
pub(crate) async fn delete_as(
    cluster: &Cluster,
    id: &ObjectId,
    dry_run: bool,
    verb: &str,
) -> Result<()> {
    let resource = resources::api_resource(&cluster.client, &id.api_version, &id.kind).await?;
    let api = resources::namespaced(&cluster.client, &id.namespace, &resource);
    let mut params = DeleteParams::background();
    if dry_run {
        params = params.dry_run();
    }
    match client::retry(|| api.delete(&id.name, &params)).await {
        Ok(_) => Ok(()),
        Err(e) if client::is_not_found(&e) => Ok(()),
        Err(e) => Err(client::api_error(
            format!("{verb} {id}"),
            &id.to_string(),
            e,
            &cluster.server,
        )),
    }
}

/// The lines printed for members that were kept although no longer rendered.
#[must_use]
pub(crate) fn explain_kept(kept: &[(ObjectId, Keep)]) -> Vec<String> {
    kept.iter()
        .filter_map(|(id, why)| match why {
            Keep::NotOurs(managers) => Some(format!(
                "not pruning {id}: it carries the ApplySet label but was written by {} rather than {FIELD_MANAGER}",
                if managers.is_empty() {
                    "an unknown manager".to_string()
                } else {
                    managers.join(", ")
                }
            )),
            Keep::Deleting | Keep::Version | Keep::InUse | Keep::Retiring => None,
        })
        .collect()
}

/// Wraps a prune refusal for an empty render.
///
/// # Errors
/// Always, when `objects` is empty.
pub(crate) fn refuse_empty(objects: &[crate::render::Object]) -> Result<()> {
    if objects.is_empty() {
        Err(Error::EmptyRender)
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn member(kind: &str, name: &str, managers: &[&str]) -> (ObjectId, Value) {
        let api_version = if kind == "Deployment" {
            "apps/v1"
        } else {
            "v1"
        };
        let fields: Vec<Value> = managers
            .iter()
            .map(|m| json!({"manager": m, "operation": "Apply"}))
            .collect();
        let v = json!({"apiVersion": api_version, "kind": kind,
            "metadata": {"name": name, "namespace": "ns", "managedFields": fields}});
        (ObjectId::of(&v).unwrap(), v)
    }

    #[test]
    fn only_unrendered_members_we_wrote_are_deleted() {
        let members: Members = [
            member("Deployment", "web", &[FIELD_MANAGER]),
            member(
                "ConfigMap",
                "old",
                &[FIELD_MANAGER, "kube-controller-manager"],
            ),
            member("ConfigMap", "look-alike", &["kubectl-client-side-apply"]),
        ]
        .into_iter()
        .collect();
        let rendered: HashSet<ObjectId> = [member("Deployment", "web", &[]).0].into();
        let (delete, keep) = candidates(&members, &rendered, &[]);
        assert_eq!(keep.len(), 1);
        assert_eq!(delete.len(), 1);
        assert_eq!(delete[0].name, "old");
        assert_eq!(keep.len(), 1);
        assert_eq!(keep[0].0.name, "look-alike");
        let lines = explain_kept(&keep);
        assert!(lines[0].contains("kubectl-client-side-apply"), "{lines:?}");
    }

    #[test]
    fn dependents_are_deleted_before_what_they_read() {
        let members: Members = [
            member("Secret", "s", &[FIELD_MANAGER]),
            member("Deployment", "web", &[FIELD_MANAGER]),
        ]
        .into_iter()
        .collect();
        let (delete, _) = candidates(&members, &HashSet::new(), &[]);
        let kinds: Vec<&str> = delete.iter().map(|id| id.kind.as_str()).collect();
        assert_eq!(kinds, ["Deployment", "Secret"]);
    }

    #[test]
    fn members_being_deleted_are_left_alone() {
        let (id, mut v) = member("ConfigMap", "going", &[FIELD_MANAGER]);
        v["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
        let members: Members = [(id, v)].into_iter().collect();
        let (delete, keep) = candidates(&members, &HashSet::new(), &[]);
        assert!(delete.is_empty());
        assert_eq!(keep[0].1, Keep::Deleting);
    }

    #[test]
    fn empty_render_is_refused() {
        assert!(matches!(refuse_empty(&[]), Err(Error::EmptyRender)));
        let secret = json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "s", "namespace": "ns"}});
        let objects = [crate::cluster::plan::object_from_value(secret, "test").unwrap()];
        assert!(refuse_empty(&objects).is_ok());
    }
}
