//! Server-side apply of the rendered objects, in order, inside the ApplySet.
//!
//! Order of writes: the parent (recording a superset of group-kinds), then every member in
//! dependency order, then, when pruning, deletions and the parent again with the exact set.
//! An interrupted run therefore never leaves a member the parent does not account for.

use std::collections::{BTreeSet, HashMap, HashSet};

use kube::api::{Patch, PatchParams};
use kube::core::ApiResource;
use serde_json::Value;

use super::applyset::{self, GroupKind, PART_OF_LABEL, ParentPatch, ParentState};
use super::client::{self, Cluster};
use super::prune::{self, Members};
use super::resources::{self, ObjectId};
use super::{Error, FIELD_MANAGER, Result};
use crate::report::summary::Action;

/// How to apply.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Server-side dry run: the server validates and defaults, nothing persists.
    pub dry_run: bool,
    /// Take ownership of fields another manager owns.
    pub force_conflicts: bool,
    /// Delete members that are no longer rendered.
    pub prune: bool,
}

/// One applied object.
#[derive(Debug, Clone)]
pub struct Applied {
    /// Which object.
    pub id: ObjectId,
    /// What happened to it.
    pub action: Action,
    /// The object as the server returned it.
    pub live: Value,
}

/// The result of a whole apply.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// Applied objects, in apply order.
    pub applied: Vec<Applied>,
    /// Pruned members.
    pub pruned: Vec<ObjectId>,
}

impl Outcome {
    /// The applied Deployment as the server returned it (for the rollout wait).
    #[must_use]
    pub fn deployment(&self) -> Option<&Value> {
        self.applied
            .iter()
            .find(|a| a.id.kind == "Deployment")
            .map(|a| &a.live)
    }
}

/// The ApplySet this run writes to.
#[derive(Debug, Clone)]
pub struct Set {
    /// Parent Secret name.
    pub parent: String,
    /// Namespace of parent and members.
    pub namespace: String,
    /// The set id.
    pub id: String,
}

impl Set {
    /// The set of an application in a namespace.
    #[must_use]
    pub fn new(app: &str, namespace: &str) -> Self {
        let parent = applyset::parent_name(app);
        let id = applyset::secret_parent_id(&parent, namespace);
        Self {
            parent,
            namespace: namespace.to_string(),
            id,
        }
    }
}

/// A rendered object made ready to send: server-owned fields removed, `part-of` label set.
///
/// # Errors
/// The object already carries a different ApplySet label.
pub fn prepare(object: &Value, set_id: &str) -> Result<Value> {
    let mut value = object.clone();
    resources::strip_server_fields(&mut value);
    let id = ObjectId::of(&value)?;
    let labels = value["metadata"]
        .as_object_mut()
        .map(|m| {
            m.entry("labels")
                .or_insert_with(|| Value::Object(Default::default()))
        })
        .and_then(Value::as_object_mut)
        .ok_or_else(|| Error::BadObject {
            object: id.to_string(),
            problem: "metadata.labels is not a map".into(),
        })?;
    match labels.get(PART_OF_LABEL).and_then(Value::as_str) {
        Some(existing) if existing != set_id => {
            return Err(Error::BadObject {
                object: id.to_string(),
                problem: format!(
                    "its template sets the label {PART_OF_LABEL}={existing}, which belongs to another ApplySet; remove it from the template"
                ),
            });
        }
        _ => {
            labels.insert(PART_OF_LABEL.into(), Value::String(set_id.into()));
        }
    }
    Ok(value)
}

/// The content that decides "changed": everything except server bookkeeping and status.
#[must_use]
pub fn comparable(value: &Value) -> Value {
    let mut v = value.clone();
    resources::strip_server_fields(&mut v);
    if let Some(meta) = v["metadata"].as_object_mut() {
        // Bumped by the controller on every rollout, not by us.
        if let Some(annotations) = meta.get_mut("annotations").and_then(Value::as_object_mut) {
            annotations.remove("deployment.kubernetes.io/revision");
            if annotations.is_empty() {
                meta.remove("annotations");
            }
        }
    }
    v
}

/// Decides what happened to an object from its live state before and the server's answer.
#[must_use]
pub fn classify(before: Option<&Value>, after: &Value) -> Action {
    match before {
        Some(before) if comparable(before) == comparable(after) => Action::Unchanged,
        Some(_) => Action::Changed,
        // Not a member before: new unless someone else already wrote it (adoption).
        None => {
            let others = resources::managers(after)
                .into_iter()
                .any(|m| m != FIELD_MANAGER);
            if others {
                Action::Changed
            } else {
                Action::Created
            }
        }
    }
}

/// Reads the live parent, refusing one that another tool owns.
///
/// # Errors
/// The request failed or the parent is not ours.
pub async fn read_parent(cluster: &Cluster, set: &Set) -> Result<ParentState> {
    let api = resources::namespaced(
        &cluster.client,
        &set.namespace,
        &ApiResource::erase::<k8s_openapi::api::core::v1::Secret>(&()),
    );
    let live = client::retry(|| api.get_opt(&set.parent))
        .await
        .map_err(|e| {
            client::api_error(
                format!(
                    "read ApplySet parent Secret {}/{}",
                    set.namespace, set.parent
                ),
                &set.parent,
                e,
                &cluster.server,
            )
        })?;
    let Some(live) = live else {
        return Ok(ParentState::default());
    };
    let live = serde_json::to_value(&live).unwrap_or(Value::Null);
    applyset::read_parent(&live, &set.id).map_err(|problem| Error::ParentNotOurs {
        namespace: set.namespace.clone(),
        name: set.parent.clone(),
        problem,
    })
}

/// Writes the parent with these group-kinds.
///
/// # Errors
/// The request failed.
pub async fn write_parent(
    cluster: &Cluster,
    set: &Set,
    kinds: &BTreeSet<GroupKind>,
    dry_run: bool,
) -> Result<()> {
    let patch = ParentPatch {
        name: set.parent.clone(),
        namespace: set.namespace.clone(),
        group_kinds: kinds.clone(),
    };
    let api = resources::namespaced(
        &cluster.client,
        &set.namespace,
        &ApiResource::erase::<k8s_openapi::api::core::v1::Secret>(&()),
    );
    // The parent holds only our bookkeeping, so forcing is safe (kubectl retries with force too).
    let mut params = PatchParams::apply(applyset::PARENT_FIELD_MANAGER).force();
    if dry_run {
        params = params.dry_run();
    }
    let body = Patch::Apply(patch.body());
    client::retry(|| api.patch(&set.parent, &params, &body))
        .await
        .map(|_| ())
        .map_err(|e| {
            client::api_error(
                format!(
                    "write ApplySet parent Secret {}/{}",
                    set.namespace, set.parent
                ),
                &set.parent,
                e,
                &cluster.server,
            )
        })
}

/// Applies one prepared object.
///
/// # Errors
/// The server rejected it (conflict, validation, permissions) or could not be reached.
pub async fn apply_one(
    cluster: &Cluster,
    resource: &ApiResource,
    object: &Value,
    options: Options,
) -> Result<Value> {
    let id = ObjectId::of(object)?;
    let api = resources::namespaced(&cluster.client, &id.namespace, resource);
    let mut params = PatchParams::apply(FIELD_MANAGER);
    if options.force_conflicts {
        params = params.force();
    }
    if options.dry_run {
        params = params.dry_run();
    }
    let body = Patch::Apply(object);
    let answer = client::retry(|| api.patch(&id.name, &params, &body))
        .await
        .map_err(|e| {
            client::api_error(format!("apply {id}"), &id.to_string(), e, &cluster.server)
        })?;
    Ok(serde_json::to_value(&answer).unwrap_or(Value::Null))
}

/// Applies every object (already in dependency order) into the set, then prunes.
/// `report` is called once per object as soon as its result is known, and `outcome`
/// records it, so a run that fails half-way still says what it did.
///
/// # Errors
/// The first failing request; objects before it stay applied (apply is idempotent, so
/// re-running after fixing the cause converges).
pub async fn run(
    cluster: &Cluster,
    set: &Set,
    objects: &[Value],
    options: Options,
    outcome: &mut Outcome,
    mut report: impl FnMut(&ObjectId, Action),
) -> Result<()> {
    if options.prune {
        prune::refuse_empty(objects)?;
    }
    let prepared: Vec<Value> = objects
        .iter()
        .map(|o| prepare(o, &set.id))
        .collect::<Result<_>>()?;
    let ids: Vec<ObjectId> = prepared.iter().map(ObjectId::of).collect::<Result<_>>()?;
    let mut mappings: HashMap<(String, String), ApiResource> = HashMap::new();
    for id in &ids {
        let key = (id.api_version.clone(), id.kind.clone());
        if let std::collections::hash_map::Entry::Vacant(slot) = mappings.entry(key) {
            slot.insert(resources::api_resource(&cluster.client, &id.api_version, &id.kind).await?);
        }
    }
    let rendered_kinds: BTreeSet<GroupKind> = ids.iter().map(ObjectId::group_kind).collect();

    let parent = read_parent(cluster, set).await?;
    // Every live member has a group-kind the parent records, so these lists see them all.
    let before: Members = if parent.exists {
        prune::list_members(cluster, &set.namespace, &set.id, &parent.group_kinds).await?
    } else {
        Members::new()
    };
    let superset: BTreeSet<GroupKind> =
        parent.group_kinds.union(&rendered_kinds).cloned().collect();
    if !parent.exists || superset != parent.group_kinds {
        write_parent(cluster, set, &superset, options.dry_run).await?;
    }

    for (object, id) in prepared.iter().zip(&ids) {
        let resource = &mappings[&(id.api_version.clone(), id.kind.clone())];
        let live = apply_one(cluster, resource, object, options).await?;
        let action = classify(before.get(id), &live);
        report(id, action);
        outcome.applied.push(Applied {
            id: id.clone(),
            action,
            live,
        });
    }

    if options.prune {
        let rendered: HashSet<ObjectId> = ids.iter().cloned().collect();
        let (delete, kept) = prune::candidates(&before, &rendered);
        for line in prune::explain_kept(&kept) {
            crate::report::warning(&line);
        }
        for id in delete {
            prune::delete(cluster, &id, options.dry_run).await?;
            report(&id, Action::Pruned);
            outcome.pruned.push(id);
        }
        // Kinds of kept look-alikes stay recorded so a later run still sees them.
        let mut latest = rendered_kinds.clone();
        latest.extend(kept.iter().map(|(id, _)| id.group_kind()));
        if latest != superset {
            write_parent(cluster, set, &latest, options.dry_run).await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployment() -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "ns", "resourceVersion": "9",
                         "managedFields": [{"manager": "x"}], "labels": {"app": "web"}},
            "spec": {"replicas": 2}, "status": {"replicas": 1}})
    }

    #[test]
    fn prepare_strips_server_fields_and_labels_the_member() {
        let set = Set::new("gpt-service", "ns");
        let v = prepare(&deployment(), &set.id).unwrap();
        assert_eq!(v["metadata"]["labels"][PART_OF_LABEL], set.id.as_str());
        assert_eq!(v["metadata"]["labels"]["app"], "web");
        assert!(v["metadata"]["resourceVersion"].is_null());
        assert!(v["metadata"]["managedFields"].is_null());
        assert!(v["status"].is_null());
    }

    #[test]
    fn prepare_adds_labels_when_there_are_none() {
        let v = json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "s", "namespace": "ns"}});
        let out = prepare(&v, "applyset-x-v1").unwrap();
        assert_eq!(out["metadata"]["labels"][PART_OF_LABEL], "applyset-x-v1");
    }

    #[test]
    fn prepare_refuses_a_foreign_set_label() {
        let mut v = deployment();
        v["metadata"]["labels"][PART_OF_LABEL] = json!("applyset-other-v1");
        let err = prepare(&v, "applyset-mine-v1").unwrap_err().to_string();
        assert!(err.contains("another ApplySet"), "{err}");
    }

    #[test]
    fn classification() {
        let mut after = deployment();
        after["metadata"]["managedFields"] = json!([{"manager": FIELD_MANAGER}]);
        assert_eq!(classify(None, &after), Action::Created);
        let mut adopted = after.clone();
        adopted["metadata"]["managedFields"] =
            json!([{"manager": FIELD_MANAGER}, {"manager": "kubectl-client-side-apply"}]);
        assert_eq!(classify(None, &adopted), Action::Changed);
        // Status, resourceVersion and the revision annotation are not changes.
        let mut before = after.clone();
        before["status"] = json!({"replicas": 2});
        before["metadata"]["resourceVersion"] = json!("8");
        before["metadata"]["annotations"] = json!({"deployment.kubernetes.io/revision": "1"});
        let mut after2 = after.clone();
        after2["metadata"]["annotations"] = json!({"deployment.kubernetes.io/revision": "2"});
        assert_eq!(classify(Some(&before), &after2), Action::Unchanged);
        let mut changed = after.clone();
        changed["spec"]["replicas"] = json!(3);
        assert_eq!(classify(Some(&before), &changed), Action::Changed);
    }
}
