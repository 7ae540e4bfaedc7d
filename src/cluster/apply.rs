//! Server-side apply of the rendered objects, in order, inside the ApplySet.
//!
//! Order of writes (after the preflight has dry-run everything): the parent (recording a
//! superset of group-kinds), then every member in the order of the deploy's phases, then,
//! when pruning, deletions and the parent again with the exact set. An interrupted run
//! therefore never leaves a member the parent does not account for.

use std::collections::{BTreeSet, HashSet};

use kube::api::{Patch, PatchParams};
use kube::core::ApiResource;
use serde_json::Value;

use super::applyset::{self, GroupKind, PART_OF_LABEL, ParentPatch, ParentState};
use super::client::{self, Cluster};
use super::preflight::{Checked, Prepared};
use super::prune::{self, Members};
use super::resources::{self, ObjectId};
use super::summary::Action;
use super::{Error, FIELD_MANAGER, Result, adopt};

/// How to apply.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Options {
    /// Server-side dry run: the server validates and defaults, nothing persists.
    pub(crate) dry_run: bool,
    /// Take ownership of fields another manager owns.
    pub(crate) force_conflicts: bool,
    /// Delete members that are no longer rendered.
    pub(crate) prune: bool,
}

/// One applied object.
#[derive(Debug, Clone)]
pub(crate) struct Applied {
    /// Which object.
    pub(crate) id: ObjectId,
    /// What happened to it.
    pub(crate) action: Action,
    /// The object as the server returned it.
    pub(crate) live: Value,
    /// What else happened (e.g. `adopted from kubectl-client-side-apply`).
    pub(crate) note: Option<String>,
}

/// The result of a whole apply.
#[derive(Debug, Clone, Default)]
pub(crate) struct Outcome {
    /// Applied objects, in apply order.
    pub(crate) applied: Vec<Applied>,
    /// Pruned members.
    pub(crate) pruned: Vec<ObjectId>,
    /// Deleted objects of an older layout (`[[app.retire]]`).
    pub(crate) retired: Vec<ObjectId>,
}

impl Outcome {}

/// The ApplySet this run writes to.
#[derive(Debug, Clone)]
pub(crate) struct Set {
    /// Parent Secret name.
    pub(crate) parent: String,
    /// Namespace of parent and members.
    pub(crate) namespace: String,
    /// The set id.
    pub(crate) id: String,
    /// The application (names the release history beside the parent).
    pub(crate) app: String,
}

impl Set {
    /// The set of an application in a namespace.
    #[must_use]
    pub(crate) fn new(app: &str, namespace: &str) -> Self {
        let parent = applyset::parent_name(app);
        let id = applyset::secret_parent_id(&parent, namespace);
        Self {
            parent,
            namespace: namespace.to_string(),
            id,
            app: app.to_string(),
        }
    }
}

/// Object `id` made ready to send: server-owned fields removed, `part-of` label set.
///
/// # Errors
/// The object already carries a different ApplySet label.
pub(crate) fn prepare(id: &ObjectId, object: &Value, set_id: &str) -> Result<Value> {
    let mut value = object.clone();
    resources::strip_server_fields(&mut value);
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
pub(crate) fn comparable(value: &Value) -> Value {
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
pub(crate) fn classify(before: Option<&Value>, after: &Value) -> Action {
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
pub(crate) async fn read_parent(cluster: &Cluster, set: &Set) -> Result<ParentState> {
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
pub(crate) async fn write_parent(
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

/// Applies one prepared object, `id`.
///
/// # Errors
/// The server rejected it (conflict, validation, permissions) or could not be reached.
pub(crate) async fn apply_one(
    cluster: &Cluster,
    id: &ObjectId,
    resource: &ApiResource,
    object: &Value,
    options: Options,
) -> Result<Value> {
    let api = resources::namespaced(&cluster.client, &id.namespace, resource);
    // Strict: a field the server does not know is an error, never silently dropped.
    let mut params = PatchParams::apply(FIELD_MANAGER).validation_strict();
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

/// The set as it was before this run wrote anything.
#[derive(Debug, Clone, Default)]
pub(crate) struct Before {
    /// The live parent.
    pub(crate) parent: ParentState,
    /// Its live members.
    pub(crate) members: Members,
}

/// Reads the parent (refusing a foreign one) and lists the live members. No writes.
///
/// # Errors
/// The parent is not ours, or a request failed.
pub(crate) async fn read_set(cluster: &Cluster, set: &Set) -> Result<Before> {
    let parent = read_parent(cluster, set).await?;
    // Every live member has a group-kind the parent records, so these lists see them all.
    let members = if parent.exists {
        prune::list_members(cluster, &set.namespace, &set.id, &parent.group_kinds).await?
    } else {
        Members::new()
    };
    Ok(Before { parent, members })
}

/// Writes the parent with the union of the recorded and the rendered group-kinds (before
/// any member), so an interrupted run never leaves a member the parent does not list.
/// Returns that union.
///
/// # Errors
/// The request failed.
pub(crate) async fn open_set(
    cluster: &Cluster,
    set: &Set,
    before: &Before,
    rendered: &[Prepared],
    dry_run: bool,
) -> Result<BTreeSet<GroupKind>> {
    let rendered_kinds: BTreeSet<GroupKind> = rendered.iter().map(|p| p.id.group_kind()).collect();
    let superset: BTreeSet<GroupKind> = before
        .parent
        .group_kinds
        .union(&rendered_kinds)
        .cloned()
        .collect();
    if !before.parent.exists || superset != before.parent.group_kinds {
        write_parent(cluster, set, &superset, dry_run).await?;
    }
    Ok(superset)
}

/// Applies one checked object: takes over kubectl's client-side fields first when the
/// preflight found them, then applies. The action is judged against the live object the
/// preflight read.
///
/// # Errors
/// The server rejected the adoption patch or the apply.
pub(crate) async fn apply_checked(
    cluster: &Cluster,
    prepared: &Prepared,
    checked: &Checked,
    options: Options,
) -> Result<Applied> {
    // After SIGINT/SIGTERM the write in flight finishes; the next one does not start.
    super::cancel::check(|| format!("applying {}", prepared.id))?;
    let mut note = None;
    if !checked.adopt_from.is_empty()
        && let Some(live) = checked.live.clone()
    {
        let from = adopt::migrate(cluster, &prepared.resource, &prepared.id, live).await?;
        if !from.is_empty() {
            note = Some(format!("adopted from {}", from.join(", ")));
        }
    }
    let live = apply_one(
        cluster,
        &prepared.id,
        &prepared.resource,
        &prepared.body,
        options,
    )
    .await?;
    let action = match (&checked.live, checked.replace) {
        (Some(_), true) => Action::Changed,
        (before, _) => classify(before.as_ref(), &live),
    };
    if checked.replace {
        note = Some("replaced (selector changed)".into());
    }
    Ok(Applied {
        id: prepared.id.clone(),
        action,
        live,
        note,
    })
}

/// Deletes the members of the set that are no longer rendered, then records the exact
/// group-kinds on the parent. `recent` is the release history's Secret recency (see
/// [`super::versions::recency`]) when the run already holds it, else it is read.
///
/// # Errors
/// A delete or the parent write failed.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn prune_set(
    cluster: &Cluster,
    set: &Set,
    before: &Before,
    rendered: &[Prepared],
    superset: &BTreeSet<GroupKind>,
    recent: Option<Vec<String>>,
    outcome: &mut Outcome,
    mut report: impl FnMut(&ObjectId, Action, Option<&str>),
) -> Result<()> {
    let ids: HashSet<ObjectId> = rendered.iter().map(|p| p.id.clone()).collect();
    // Which Secret versions are the newest follows the release history.
    let recent = match recent {
        Some(recent) => recent,
        None => super::versions::recent(cluster, &set.app, &set.namespace).await?,
    };
    let (delete, kept) = prune::candidates(&before.members, &ids, &recent);
    for line in prune::explain_kept(&kept) {
        crate::report::warning(&line);
    }
    for id in delete {
        prune::delete(cluster, &id, false).await?;
        report(&id, Action::Pruned, None);
        outcome.pruned.push(id);
    }
    // Kinds of kept look-alikes stay recorded so a later run still sees them.
    let mut latest: BTreeSet<GroupKind> = rendered.iter().map(|p| p.id.group_kind()).collect();
    latest.extend(kept.iter().map(|(id, _)| id.group_kind()));
    if &latest != superset {
        write_parent(cluster, set, &latest, false).await?;
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
        let d = deployment();
        let v = prepare(&ObjectId::of(&d).unwrap(), &d, &set.id).unwrap();
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
        let out = prepare(&ObjectId::of(&v).unwrap(), &v, "applyset-x-v1").unwrap();
        assert_eq!(out["metadata"]["labels"][PART_OF_LABEL], "applyset-x-v1");
    }

    #[test]
    fn prepare_refuses_a_foreign_set_label() {
        let mut v = deployment();
        v["metadata"]["labels"][PART_OF_LABEL] = json!("applyset-other-v1");
        let err = prepare(&ObjectId::of(&v).unwrap(), &v, "applyset-mine-v1")
            .unwrap_err()
            .to_string();
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
