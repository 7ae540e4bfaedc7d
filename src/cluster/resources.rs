//! Rendered objects as the API server sees them: identity, REST mapping, and the fields
//! that must never be sent (or compared).

use kube::Client;
use kube::api::{Api, DynamicObject};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::Value;

use super::applyset::GroupKind;
use super::{Error, Result};

/// Kinds this tool renders or may prune, with their plural resource names; anything else
/// is looked up through discovery (one request per group).
const KNOWN: &[(&str, &str, &str)] = &[
    ("v1", "Secret", "secrets"),
    ("v1", "ConfigMap", "configmaps"),
    ("v1", "Service", "services"),
    ("v1", "ServiceAccount", "serviceaccounts"),
    ("policy/v1", "PodDisruptionBudget", "poddisruptionbudgets"),
    ("apps/v1", "Deployment", "deployments"),
    ("batch/v1", "CronJob", "cronjobs"),
    ("batch/v1", "Job", "jobs"),
    ("networking.k8s.io/v1", "Ingress", "ingresses"),
    ("networking.k8s.io/v1", "NetworkPolicy", "networkpolicies"),
    (
        "autoscaling/v2",
        "HorizontalPodAutoscaler",
        "horizontalpodautoscalers",
    ),
];

/// The apiVersion gpt-deploy uses for a kind it knows (see `KNOWN`).
#[must_use]
pub(crate) fn api_version_of(kind: &str) -> Option<&'static str> {
    KNOWN
        .iter()
        .find(|(_, k, _)| *k == kind)
        .map(|(v, _, _)| *v)
}

/// Who an object is: enough to address it and to name it in messages.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct ObjectId {
    /// `apiVersion`.
    pub(crate) api_version: String,
    /// `kind`.
    pub(crate) kind: String,
    /// `metadata.namespace`.
    pub(crate) namespace: String,
    /// `metadata.name`.
    pub(crate) name: String,
}

impl ObjectId {
    /// Reads the identity of a rendered object.
    ///
    /// # Errors
    /// A required field is missing.
    pub(crate) fn of(value: &Value) -> Result<Self> {
        let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
        let id = Self {
            api_version: text(&value["apiVersion"]),
            kind: text(&value["kind"]),
            namespace: text(&value["metadata"]["namespace"]),
            name: text(&value["metadata"]["name"]),
        };
        for (field, v) in [
            ("apiVersion", &id.api_version),
            ("kind", &id.kind),
            ("metadata.name", &id.name),
            ("metadata.namespace", &id.namespace),
        ] {
            if v.is_empty() {
                return Err(Error::BadObject {
                    object: format!("{} {}", id.kind, id.name),
                    problem: format!("{field} is missing"),
                });
            }
        }
        Ok(id)
    }

    /// The identity of a rendered object (render checked every field).
    #[must_use]
    pub(crate) fn of_rendered(object: &crate::render::Object) -> Self {
        Self {
            api_version: object.api_version.clone(),
            kind: object.kind.clone(),
            namespace: object.namespace.clone(),
            name: object.name.clone(),
        }
    }

    /// The group-kind, as the ApplySet annotation records it.
    #[must_use]
    pub(crate) fn group_kind(&self) -> GroupKind {
        GroupKind::from_api_version(&self.api_version, &self.kind)
    }

    /// kubectl's short form, e.g. `deployment.apps/gpt-service`.
    #[must_use]
    pub(crate) fn short(&self) -> String {
        let gk = self.group_kind();
        if gk.group.is_empty() {
            format!("{}/{}", gk.kind.to_lowercase(), self.name)
        } else {
            format!("{}.{}/{}", gk.kind.to_lowercase(), gk.group, self.name)
        }
    }
}

impl std::fmt::Display for ObjectId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}/{}", self.kind, self.namespace, self.name)
    }
}

/// The REST mapping for an apiVersion and kind: from the table, else discovery.
///
/// # Errors
/// The cluster does not serve the kind.
pub(crate) async fn api_resource(
    client: &Client,
    api_version: &str,
    kind: &str,
) -> Result<ApiResource> {
    if let Some((_, _, plural)) = KNOWN
        .iter()
        .find(|(v, k, _)| *v == api_version && *k == kind)
    {
        let gvk = gvk_of(api_version, kind);
        return Ok(ApiResource::from_gvk_with_plural(&gvk, plural));
    }
    let gvk = gvk_of(api_version, kind);
    kube::discovery::pinned_kind(client, &gvk)
        .await
        .map(|(resource, _)| resource)
        .map_err(|source| Error::UnknownKind {
            api_version: api_version.to_string(),
            kind: kind.to_string(),
            source,
        })
}

/// The REST mapping for a group-kind read from the ApplySet annotation (version unknown).
///
/// # Errors
/// The cluster does not serve the group-kind.
pub(crate) async fn api_resource_for(client: &Client, gk: &GroupKind) -> Result<ApiResource> {
    if let Some((v, k, plural)) = KNOWN
        .iter()
        .find(|(v, k, _)| GroupKind::from_api_version(v, k) == *gk)
    {
        return Ok(ApiResource::from_gvk_with_plural(&gvk_of(v, k), plural));
    }
    let unknown = |source| Error::UnknownKind {
        api_version: gk.group.clone(),
        kind: gk.kind.clone(),
        source,
    };
    let group = kube::discovery::group(client, &gk.group)
        .await
        .map_err(unknown)?;
    group
        .recommended_kind(&gk.kind)
        .map(|(resource, _)| resource)
        .ok_or_else(|| Error::BadObject {
            object: gk.to_string(),
            problem: format!(
                "the cluster's API group {:?} has no kind {}",
                gk.group, gk.kind
            ),
        })
}

fn gvk_of(api_version: &str, kind: &str) -> GroupVersionKind {
    match api_version.split_once('/') {
        Some((group, version)) => GroupVersionKind::gvk(group, version, kind),
        None => GroupVersionKind::gvk("", api_version, kind),
    }
}

/// A dynamic API handle for objects of this mapping in a namespace.
#[must_use]
pub(crate) fn namespaced(
    client: &Client,
    namespace: &str,
    resource: &ApiResource,
) -> Api<DynamicObject> {
    Api::namespaced_with(client.clone(), namespace, resource)
}

/// Metadata fields the server owns; sending them in an apply is an error or a no-op, and
/// comparing them only shows noise.
const SERVER_METADATA: &[&str] = &[
    "managedFields",
    "resourceVersion",
    "uid",
    "creationTimestamp",
    "generation",
    "selfLink",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
];

/// Removes server-owned fields and `status`, in place.
pub(crate) fn strip_server_fields(value: &mut Value) {
    if let Some(obj) = value.as_object_mut() {
        obj.remove("status");
        if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
            for key in SERVER_METADATA {
                meta.remove(*key);
            }
        }
    }
}

/// The field managers recorded on a live object.
#[must_use]
pub(crate) fn managers(value: &Value) -> Vec<String> {
    value["metadata"]["managedFields"]
        .as_array()
        .map(|entries| {
            entries
                .iter()
                .filter_map(|e| e["manager"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn identity_and_short_names() {
        let v = json!({"apiVersion": "apps/v1", "kind": "Deployment",
                       "metadata": {"name": "gpt-service", "namespace": "gpt"}});
        let id = ObjectId::of(&v).unwrap();
        assert_eq!(id.short(), "deployment.apps/gpt-service");
        assert_eq!(id.to_string(), "Deployment gpt/gpt-service");
        let s = json!({"apiVersion": "v1", "kind": "Secret",
                       "metadata": {"name": "s", "namespace": "gpt"}});
        assert_eq!(ObjectId::of(&s).unwrap().short(), "secret/s");
    }

    #[test]
    fn missing_identity_fields_are_named() {
        let v = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"}});
        let err = ObjectId::of(&v).unwrap_err().to_string();
        assert!(err.contains("metadata.namespace is missing"), "{err}");
    }

    #[test]
    fn server_fields_are_stripped() {
        let mut v = json!({"kind": "Deployment", "status": {"replicas": 1},
            "metadata": {"name": "x", "resourceVersion": "5", "managedFields": [], "uid": "u",
                         "generation": 2, "labels": {"a": "b"}}});
        strip_server_fields(&mut v);
        assert_eq!(
            v,
            json!({"kind": "Deployment", "metadata": {"name": "x", "labels": {"a": "b"}}})
        );
    }

    #[tokio::test]
    async fn known_kinds_need_no_discovery() {
        // A client pointing nowhere proves the table answers without a request.
        crate::init_crypto();
        let config = kube::Config::new("http://127.0.0.1:9".parse().unwrap());
        let client = Client::try_from(config).unwrap();
        let r = api_resource(&client, "policy/v1", "PodDisruptionBudget")
            .await
            .unwrap();
        assert_eq!(r.plural, "poddisruptionbudgets");
        assert_eq!(r.group, "policy");
        let r = api_resource_for(&client, &GroupKind::parse("CronJob.batch"))
            .await
            .unwrap();
        assert_eq!((r.version.as_str(), r.plural.as_str()), ("v1", "cronjobs"));
    }
}
