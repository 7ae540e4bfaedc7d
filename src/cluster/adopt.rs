//! Taking over objects that `kubectl apply` (client side) or `kubectl create` made.
//!
//! Such objects carry `managedFields` entries of the managers `kubectl-client-side-apply`,
//! `kubectl-create`, `before-first-apply` or `kubectl` with operation `Update`. Server-side
//! apply under another manager name conflicts with every field they own whose value
//! changes, and, because lists merge by key, would keep every field only they set (an old
//! `command:`, env var or port) alive forever. As `kubectl apply --server-side` does after
//! its patch (client-go's `csaupgrade`) and Flux does before it, their field sets are moved
//! into this tool's `Apply` entry with one JSON patch guarded by the resourceVersion; the
//! apply that follows then owns everything and removes what the rendered object lacks.
//! Other managers (`kubectl-edit`, `kubectl-scale`, controllers, other tools) are never
//! migrated: their fields stay conflicts.

use kube::core::ApiResource;
use serde_json::{Map, Value, json};

use super::client::{self, Cluster};
use super::resources::ObjectId;
use super::{Error, FIELD_MANAGER, Result};

/// Managers whose `Update` entries are migrated.
pub(crate) const MIGRATED_MANAGERS: &[&str] = &[
    "kubectl-client-side-apply",
    "kubectl-create",
    "before-first-apply",
    "kubectl",
];

/// The annotation client-side apply keeps its last manifest in.
pub(crate) const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// How often the patch is retried when the object changed under it (HTTP 409).
const ATTEMPTS: u32 = 5;

fn is_main_resource(entry: &Value) -> bool {
    entry["subresource"].as_str().unwrap_or_default().is_empty()
}

fn is_migrated(entry: &Value) -> bool {
    entry["operation"].as_str() == Some("Update")
        && is_main_resource(entry)
        && entry["manager"]
            .as_str()
            .is_some_and(|m| MIGRATED_MANAGERS.contains(&m))
}

/// The migrated managers present on a live object, in [`MIGRATED_MANAGERS`] order.
#[must_use]
pub(crate) fn migratable(live: &Value) -> Vec<String> {
    let entries = live["metadata"]["managedFields"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    MIGRATED_MANAGERS
        .iter()
        .filter(|m| {
            entries
                .iter()
                .any(|e| is_migrated(e) && e["manager"].as_str() == Some(m))
        })
        .map(|m| (*m).to_string())
        .collect()
}

/// True when a conflicting manager is one whose fields are migrated.
#[must_use]
pub(crate) fn is_migrated_manager(manager: &str) -> bool {
    MIGRATED_MANAGERS.contains(&manager)
}

/// The union of two `fieldsV1` sets (both are tries of JSON objects).
#[must_use]
pub(crate) fn union(a: &Value, b: &Value) -> Value {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let mut out: Map<String, Value> = x.clone();
            for (key, value) in y {
                let merged = match out.get(key) {
                    Some(existing) => union(existing, value),
                    None => value.clone(),
                };
                out.insert(key.clone(), merged);
            }
            Value::Object(out)
        }
        (Value::Object(_), _) => a.clone(),
        _ => b.clone(),
    }
}

/// The `managedFields` after moving every migrated manager's set into [`FIELD_MANAGER`]'s
/// `Apply` entry (created from the first migrated entry when there is none), or `None`
/// when there is nothing to migrate.
#[must_use]
pub(crate) fn upgraded(managed: &[Value]) -> Option<Vec<Value>> {
    let mut entries = managed.to_vec();
    let mut changed = false;
    for manager in MIGRATED_MANAGERS {
        let Some(csa) = entries
            .iter()
            .position(|e| is_migrated(e) && e["manager"].as_str() == Some(manager))
        else {
            continue;
        };
        changed = true;
        let ssa = entries.iter().position(|e| {
            e["manager"].as_str() == Some(FIELD_MANAGER)
                && e["operation"].as_str() == Some("Apply")
                && is_main_resource(e)
        });
        match ssa {
            None => {
                let entry = &mut entries[csa];
                entry["manager"] = json!(FIELD_MANAGER);
                entry["operation"] = json!("Apply");
            }
            Some(ssa) => {
                let fields = union(&entries[ssa]["fieldsV1"], &entries[csa]["fieldsV1"]);
                entries[ssa]["fieldsV1"] = fields;
                entries.remove(csa);
            }
        }
    }
    changed.then_some(entries)
}

/// The JSON patch (RFC 6902) of the migration: the new `managedFields`, the
/// resourceVersion as a precondition (a `replace`, so a changed object is a 409 from
/// storage rather than a 422), and the last-applied annotation removed.
#[must_use]
pub(crate) fn patch_body(live: &Value, managed: Vec<Value>) -> Value {
    let mut ops = vec![
        json!({"op": "replace", "path": "/metadata/managedFields", "value": managed}),
        json!({"op": "replace", "path": "/metadata/resourceVersion",
               "value": live["metadata"]["resourceVersion"]}),
    ];
    if !live["metadata"]["annotations"][LAST_APPLIED].is_null() {
        ops.push(json!({"op": "remove",
            "path": format!("/metadata/annotations/{}", LAST_APPLIED.replace('~', "~0").replace('/', "~1"))}));
    }
    Value::Array(ops)
}

/// The REST path of one namespaced object.
fn object_path(resource: &ApiResource, id: &ObjectId) -> String {
    let base = if resource.group.is_empty() {
        format!("/api/{}", resource.version)
    } else {
        format!("/apis/{}/{}", resource.group, resource.version)
    };
    format!(
        "{base}/namespaces/{}/{}/{}?fieldManager={FIELD_MANAGER}",
        id.namespace, resource.plural, id.name
    )
}

/// Migrates the object's client-side managers (see the module docs), re-reading and
/// retrying when it changed meanwhile. Returns the managers migrated (empty when there
/// were none left).
///
/// # Errors
/// The object cannot be read or patched.
pub(crate) async fn migrate(
    cluster: &Cluster,
    resource: &ApiResource,
    id: &ObjectId,
    mut live: Value,
) -> Result<Vec<String>> {
    let api = super::resources::namespaced(&cluster.client, &id.namespace, resource);
    let mut attempt = 1;
    loop {
        let managers = migratable(&live);
        let entries = live["metadata"]["managedFields"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let Some(managed) = upgraded(&entries) else {
            return Ok(managers);
        };
        let body = serde_json::to_vec(&patch_body(&live, managed)).unwrap_or_default();
        let request = http::Request::patch(object_path(resource, id))
            .header(http::header::CONTENT_TYPE, "application/json-patch+json")
            .body(body)
            .map_err(|e| Error::BadObject {
                object: id.to_string(),
                problem: format!("cannot build the managed-fields patch: {e}"),
            })?;
        match cluster.client.request::<Value>(request).await {
            Ok(_) => return Ok(managers),
            Err(e) if client::status_code(&e) == Some(409) && attempt < ATTEMPTS => {
                tracing::debug!(object = %id, attempt, "object changed during adoption; re-reading");
                attempt += 1;
                let fresh = client::retry(|| api.get(&id.name)).await.map_err(|e| {
                    client::api_error(format!("read {id}"), &id.to_string(), e, &cluster.server)
                })?;
                live = serde_json::to_value(&fresh).unwrap_or(Value::Null);
            }
            Err(e) => {
                return Err(client::api_error(
                    format!("take over the fields of {id} from {}", managers.join(", ")),
                    &id.to_string(),
                    e,
                    &cluster.server,
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(manager: &str, operation: &str, fields: Value) -> Value {
        json!({"manager": manager, "operation": operation, "apiVersion": "apps/v1",
               "time": "2026-01-01T00:00:00Z", "fieldsType": "FieldsV1", "fieldsV1": fields})
    }

    #[test]
    fn client_side_entries_merge_into_our_apply_entry() {
        let managed = vec![
            entry(
                "kubectl-client-side-apply",
                "Update",
                json!({"f:spec": {"f:replicas": {}, "f:template": {"f:spec": {"f:containers": {
                    "k:{\"name\":\"app\"}": {".": {}, "f:command": {}}}}}}}),
            ),
            entry(
                FIELD_MANAGER,
                "Apply",
                json!({"f:spec": {"f:template": {"f:spec": {"f:containers": {
                    "k:{\"name\":\"app\"}": {"f:args": {}}}}}}}),
            ),
            entry("kube-controller-manager", "Update", json!({"f:status": {}})),
        ];
        let out = upgraded(&managed).unwrap();
        assert_eq!(out.len(), 2);
        let ours = out.iter().find(|e| e["manager"] == FIELD_MANAGER).unwrap();
        let container = &ours["fieldsV1"]["f:spec"]["f:template"]["f:spec"]["f:containers"]["k:{\"name\":\"app\"}"];
        assert!(container.get("f:command").is_some());
        assert!(container.get("f:args").is_some());
        assert!(ours["fieldsV1"]["f:spec"].get("f:replicas").is_some());
        assert!(
            out.iter()
                .any(|e| e["manager"] == "kube-controller-manager")
        );
    }

    #[test]
    fn a_created_object_without_our_entry_gets_one() {
        let managed = vec![entry(
            "kubectl-create",
            "Update",
            json!({"f:data": {"f:a": {}}}),
        )];
        let out = upgraded(&managed).unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0]["manager"], FIELD_MANAGER);
        assert_eq!(out[0]["operation"], "Apply");
        assert_eq!(out[0]["fieldsV1"], json!({"f:data": {"f:a": {}}}));
    }

    #[test]
    fn other_managers_and_server_side_kubectl_are_left_alone() {
        let managed = vec![
            entry(
                "kubectl-edit",
                "Update",
                json!({"f:spec": {"f:replicas": {}}}),
            ),
            entry("kubectl", "Apply", json!({"f:spec": {}})),
            json!({"manager": "kubectl-client-side-apply", "operation": "Update",
                   "subresource": "status", "fieldsV1": {}}),
        ];
        assert!(upgraded(&managed).is_none());
        let live = json!({"metadata": {"managedFields": managed}});
        assert!(migratable(&live).is_empty());
    }

    #[test]
    fn several_client_managers_are_all_migrated() {
        let managed = vec![
            entry("before-first-apply", "Update", json!({"f:a": {}})),
            entry("kubectl-client-side-apply", "Update", json!({"f:b": {}})),
            entry("kubectl", "Update", json!({"f:c": {}})),
        ];
        let live = json!({"metadata": {"managedFields": managed.clone()}});
        assert_eq!(
            migratable(&live),
            ["kubectl-client-side-apply", "before-first-apply", "kubectl"]
        );
        let out = upgraded(&managed).unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0]["fieldsV1"], json!({"f:a": {}, "f:b": {}, "f:c": {}}));
    }

    #[test]
    fn the_patch_guards_the_resource_version_and_drops_last_applied() {
        let live = json!({"metadata": {"resourceVersion": "42",
            "annotations": {LAST_APPLIED: "{}", "other": "x"}}});
        let body = patch_body(&live, vec![]);
        let ops = body.as_array().unwrap();
        assert_eq!(
            ops[1],
            json!({"op": "replace", "path": "/metadata/resourceVersion", "value": "42"})
        );
        assert_eq!(
            ops[2]["path"],
            "/metadata/annotations/kubectl.kubernetes.io~1last-applied-configuration"
        );
        let plain = json!({"metadata": {"resourceVersion": "1"}});
        assert_eq!(patch_body(&plain, vec![]).as_array().unwrap().len(), 2);
    }

    #[test]
    fn paths_address_core_and_grouped_resources() {
        let id = ObjectId {
            api_version: "apps/v1".into(),
            kind: "Deployment".into(),
            namespace: "ns".into(),
            name: "web".into(),
        };
        let r = ApiResource::erase::<k8s_openapi::api::apps::v1::Deployment>(&());
        assert_eq!(
            object_path(&r, &id),
            "/apis/apps/v1/namespaces/ns/deployments/web?fieldManager=gpt-deploy"
        );
        let r = ApiResource::erase::<k8s_openapi::api::core::v1::Secret>(&());
        assert!(object_path(&r, &id).starts_with("/api/v1/namespaces/ns/secrets/"));
    }
}
