//! Checks a rendered object against its k8s-openapi type, including fields the type lacks.
//!
//! k8s-openapi's `Deserialize` ignores unknown fields, so a typo such as `replica:` would
//! vanish. The fields it ignores are collected while it reads (serde_ignored) and reported by
//! their path, as are fields set to null, which the type would take as absent.

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

fn typed<T: DeserializeOwned>(value: &Value) -> Result<(), Vec<String>> {
    // Fields the type does not have are named while it reads the object: k8s-openapi reads
    // them as `IgnoredAny`, which serde_ignored reports with their path.
    let mut ignored = Vec::new();
    let parsed: Result<T, _> = serde_ignored::deserialize(value, |path| {
        let mut text = String::new();
        path_text(&path, &mut text);
        ignored.push(text);
    });
    if let Err(first) = parsed {
        // Read again to learn where it failed: tracking the path on every read would run
        // another copy of each type's reader, which a short command pays for in page faults.
        return Err(vec![
            match serde_path_to_error::deserialize::<_, T>(value) {
                Err(e) => {
                    let path = e.path().to_string();
                    let inner = e.into_inner();
                    if path == "." {
                        inner.to_string()
                    } else {
                        format!("field `{path}`: {inner}")
                    }
                }
                Ok(_) => first.to_string(),
            },
        ]);
    }
    let mut problems = Vec::new();
    unknown_fields(value, &ignored, &mut String::new(), &mut problems);
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

/// A serde_ignored path as `spec.containers[0].image`.
fn path_text(path: &serde_ignored::Path<'_>, out: &mut String) {
    use serde_ignored::Path;
    match path {
        Path::Root => {}
        Path::Seq { parent, index } => {
            path_text(parent, out);
            out.push_str(&format!("[{index}]"));
        }
        Path::Map { parent, key } => {
            path_text(parent, out);
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(key);
        }
        Path::Some { parent }
        | Path::NewtypeStruct { parent }
        | Path::NewtypeVariant { parent } => {
            path_text(parent, out);
        }
    }
}

/// Reports, in the rendered order, every field without a value (a null the type would drop
/// as absent) and every field the type ignored (`ignored`, by path).
fn unknown_fields(
    rendered: &Value,
    ignored: &[String],
    path: &mut String,
    problems: &mut Vec<String>,
) {
    match rendered {
        Value::Object(map) => {
            for (key, value) in map {
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(key);
                if value.is_null() {
                    problems.push(format!(
                        "field `{path}` has no value; give it one or remove it"
                    ));
                } else if ignored.iter().any(|p| p == path) {
                    problems.push(format!(
                        "unknown field `{path}`; check its spelling against the Kubernetes API reference"
                    ));
                } else {
                    unknown_fields(value, ignored, path, problems);
                }
                path.truncate(len);
            }
        }
        Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                let len = path.len();
                path.push_str(&format!("[{index}]"));
                unknown_fields(item, ignored, path, problems);
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
