//! Checks a rendered object against its k8s-openapi type, including fields the type lacks.
//!
//! k8s-openapi's `Deserialize` ignores unknown fields, so a typo such as `replica:` would
//! vanish. After parsing, the typed value is serialised again and every field of the rendered
//! object that did not survive the round trip is reported by its path.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use k8s_openapi::api::{apps, batch, core, policy};

/// Kinds `render` knows how to check, in the order they are applied.
pub(crate) const KINDS: [(&str, &str); 8] = [
    ("v1", "ServiceAccount"),
    ("v1", "ConfigMap"),
    ("v1", "Secret"),
    ("policy/v1", "PodDisruptionBudget"),
    ("v1", "Service"),
    ("batch/v1", "Job"),
    ("apps/v1", "Deployment"),
    ("batch/v1", "CronJob"),
];

/// Position of a kind in the apply order; unknown kinds sort last.
#[must_use]
pub(crate) fn kind_rank(kind: &str) -> usize {
    KINDS
        .iter()
        .position(|(_, k)| *k == kind)
        .unwrap_or(KINDS.len())
}

/// Checks `value` (an object with `apiVersion` and `kind`) against its type.
///
/// # Errors
/// Every problem found, each naming a field path such as `spec.template.spec.containers[0].image`.
pub(crate) fn check(value: &Value) -> Result<(), Vec<String>> {
    let api_version = value
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let kind = value
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default();
    match (api_version, kind) {
        ("v1", "ServiceAccount") => typed::<core::v1::ServiceAccount>(value),
        ("v1", "ConfigMap") => typed::<core::v1::ConfigMap>(value),
        ("v1", "Secret") if value.get("stringData").is_some() => Err(vec![
            "field `stringData` is not allowed: server-side apply cannot track or remove keys written through it; put base64 values in `data`".to_owned(),
        ]),
        ("v1", "Secret") => typed::<core::v1::Secret>(&without_secret_values(value)),
        ("policy/v1", "PodDisruptionBudget") => typed::<policy::v1::PodDisruptionBudget>(value),
        ("v1", "Service") => typed::<core::v1::Service>(value),
        ("apps/v1", "Deployment") => typed::<apps::v1::Deployment>(value),
        ("batch/v1", "CronJob") => typed::<batch::v1::CronJob>(value),
        ("batch/v1", "Job") => typed::<batch::v1::Job>(value),
        _ => Err(vec![format!(
            "apiVersion `{api_version}` kind `{kind}` is not one gpt-deploy renders; use one of {}",
            KINDS
                .iter()
                .map(|(a, k)| format!("{a} {k}"))
                .collect::<Vec<_>>()
                .join(", ")
        )]),
    }
}

/// The typed check must never see secret values: serde messages quote the offending value.
/// An empty string is valid base64, so the shape is still checked.
fn without_secret_values(value: &Value) -> Value {
    let mut copy = value.clone();
    for field in ["data", "stringData"] {
        if let Some(Value::Object(map)) = copy.get_mut(field) {
            for v in map.values_mut() {
                if v.is_string() {
                    *v = Value::String(String::new());
                }
            }
        }
    }
    copy
}

fn typed<T: DeserializeOwned + Serialize>(value: &Value) -> Result<(), Vec<String>> {
    let parsed: T = serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        vec![if path == "." {
            inner.to_string()
        } else {
            format!("field `{path}`: {inner}")
        }]
    })?;
    let round_trip = serde_json::to_value(&parsed).map_err(|e| vec![e.to_string()])?;
    let mut problems = Vec::new();
    unknown_fields(value, &round_trip, &mut String::new(), &mut problems);
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

/// Reports every path present in `rendered` but absent from `typed`.
fn unknown_fields(rendered: &Value, typed: &Value, path: &mut String, problems: &mut Vec<String>) {
    match (rendered, typed) {
        (Value::Object(r), Value::Object(t)) => {
            for (key, value) in r {
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(key);
                match t.get(key) {
                    Some(typed_value) => unknown_fields(value, typed_value, path, problems),
                    None if value.is_null() => {
                        problems.push(format!("field `{path}` has no value; give it one or remove it"));
                    }
                    None => problems.push(format!(
                        "unknown field `{path}`; check its spelling against the Kubernetes API reference"
                    )),
                }
                path.truncate(len);
            }
        }
        (Value::Array(r), Value::Array(t)) => {
            for (index, (rv, tv)) in r.iter().zip(t).enumerate() {
                let len = path.len();
                path.push_str(&format!("[{index}]"));
                unknown_fields(rv, tv, path, problems);
                path.truncate(len);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployment(spec: Value) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"}, "spec": spec})
    }

    #[test]
    fn a_valid_object_passes() {
        let d = deployment(json!({
            "replicas": 2,
            "selector": {"matchLabels": {"a": "b"}},
            "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}
        }));
        assert_eq!(check(&d), Ok(()));
    }

    #[test]
    fn a_misspelled_field_is_reported_by_path() {
        let d = deployment(json!({
            "replica": 2,
            "selector": {"matchLabels": {"a": "b"}},
            "template": {"spec": {"containers": [{"name": "c", "image": "i", "imagePolicy": "Always"}]}}
        }));
        let problems = check(&d).unwrap_err();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(
            problems[0].starts_with("unknown field `spec.replica`"),
            "{problems:?}"
        );
        assert!(
            problems[1].starts_with("unknown field `spec.template.spec.containers[0].imagePolicy`"),
            "{problems:?}"
        );
    }

    #[test]
    fn a_wrong_type_names_the_path() {
        let d = deployment(json!({"replicas": "two", "selector": {}, "template": {}}));
        let problems = check(&d).unwrap_err();
        assert!(
            problems[0].starts_with("field `spec.replicas`: invalid type"),
            "{problems:?}"
        );
    }

    #[test]
    fn secret_values_never_reach_messages() {
        let s = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "data": {"k": "not base64 sentinel-9d2e"}, "typo": 1});
        let problems = check(&s).unwrap_err();
        assert!(
            problems.iter().all(|p| !p.contains("sentinel")),
            "{problems:?}"
        );
        assert!(problems[0].contains("`typo`"));
    }

    #[test]
    fn secrets_must_use_data() {
        let s = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "stringData": {"k": "v"}});
        assert!(check(&s).unwrap_err()[0].starts_with("field `stringData` is not allowed"));
    }

    #[test]
    fn unknown_kinds_are_rejected() {
        let problems = check(&json!({"apiVersion": "v1", "kind": "Pod"})).unwrap_err();
        assert!(problems[0].contains("kind `Pod` is not one gpt-deploy renders"));
    }

    #[test]
    fn apply_order_puts_secrets_before_workloads() {
        assert!(kind_rank("Secret") < kind_rank("PodDisruptionBudget"));
        assert!(kind_rank("PodDisruptionBudget") < kind_rank("Deployment"));
        assert!(kind_rank("Deployment") < kind_rank("CronJob"));
    }
}
