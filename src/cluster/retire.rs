//! `[[app.retire]]`: objects of an older layout (e.g. a cleanup CronJob under another
//! name) that `deploy` deletes once the new rollout has succeeded, and `diff` lists. The
//! unversioned Secret (`app.secret_name` itself, from before Secrets were versioned) is
//! always one of them while the render holds a version of it: the old pods read it until
//! the new ones serve.

use serde_json::Value;

use super::client::{self, Cluster};
use super::resources::{self, ObjectId};
use super::{Error, Result};
use crate::config::Retired;
use crate::render::Object;

/// The identity of a retired object in `namespace`.
///
/// # Errors
/// The kind is not one gpt-deploy can address (the configuration check prevents this).
pub(crate) fn id_of(entry: &Retired, namespace: &str) -> Result<ObjectId> {
    let api_version = resources::api_version_of(&entry.kind).ok_or_else(|| Error::BadObject {
        object: format!("{} {}", entry.kind, entry.name),
        problem: "gpt-deploy cannot retire this kind".into(),
    })?;
    Ok(ObjectId {
        api_version: api_version.to_string(),
        kind: entry.kind.clone(),
        namespace: namespace.to_string(),
        name: entry.name.clone(),
    })
}

/// What `deploy` retires: the `[[app.retire]]` entries, plus the unversioned Secret
/// `app.secret_name` when the rendered `objects` hold a version of it and not itself.
#[must_use]
pub(crate) fn entries(app: &crate::config::App, objects: &[Object]) -> Vec<Retired> {
    let mut entries = app.retire.clone();
    let base = app.secret_name.as_str();
    let secret_names = || {
        objects
            .iter()
            .filter(|o| o.kind == "Secret")
            .map(|o| o.name.as_str())
    };
    let versioned = secret_names().any(|n| crate::render::is_version(base, n));
    let unversioned = secret_names().any(|n| n == base);
    let listed = entries.iter().any(|e| e.kind == "Secret" && e.name == base);
    if versioned && !unversioned && !listed {
        entries.push(Retired {
            kind: "Secret".into(),
            name: base.to_owned(),
        });
    }
    entries
}

/// Refuses a retire list that names a rendered object: it would be deleted after each deploy.
///
/// # Errors
/// [`Error::BadObject`] naming the entry.
pub(crate) fn refuse_rendered(entries: &[Retired], rendered: &[Object]) -> Result<()> {
    for entry in entries {
        let clash = rendered
            .iter()
            .any(|o| o.kind == entry.kind && o.name == entry.name);
        if clash {
            return Err(Error::BadObject {
                object: format!("{} {}", entry.kind, entry.name),
                problem: "it is listed under [[app.retire]] in deploy.toml but is also rendered; remove the retire entry".into(),
            });
        }
    }
    Ok(())
}

/// The live retired objects (those that still exist).
///
/// # Errors
/// A read failed.
pub(crate) async fn live(
    cluster: &Cluster,
    entries: &[Retired],
    namespace: &str,
) -> Result<Vec<(ObjectId, Value)>> {
    let mut out = Vec::new();
    for entry in entries {
        let id = id_of(entry, namespace)?;
        let resource = resources::api_resource(&cluster.client, &id.api_version, &id.kind).await?;
        let api = resources::namespaced(&cluster.client, namespace, &resource);
        let found = client::retry(|| api.get_opt(&id.name)).await.map_err(|e| {
            client::api_error(format!("read {id}"), &id.to_string(), e, &cluster.server)
        })?;
        if let Some(found) = found {
            let mut v = serde_json::to_value(&found).unwrap_or(Value::Null);
            v["apiVersion"] = Value::String(id.api_version.clone());
            v["kind"] = Value::String(id.kind.clone());
            out.push((id, v));
        }
    }
    Ok(out)
}

/// Deletes every retired object that still exists; returns those deleted.
///
/// # Errors
/// A read or delete failed.
pub(crate) async fn run(
    cluster: &Cluster,
    entries: &[Retired],
    namespace: &str,
    dry_run: bool,
) -> Result<Vec<ObjectId>> {
    let mut deleted = Vec::new();
    for (id, _) in live(cluster, entries, namespace).await? {
        super::prune::delete(cluster, &id, dry_run).await?;
        deleted.push(id);
    }
    Ok(deleted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(api_version: &str, kind: &str, name: &str) -> Object {
        let value = json!({"apiVersion": api_version, "kind": kind,
            "metadata": {"name": name, "namespace": "ns"}});
        super::super::plan::object_from_value(value, "test").unwrap()
    }

    #[test]
    fn retiring_a_rendered_object_is_refused() {
        let entries = vec![Retired {
            kind: "CronJob".into(),
            name: "gpt-token-cleanup".into(),
        }];
        let rendered = vec![object("batch/v1", "CronJob", "gpt-token-cleanup")];
        let err = refuse_rendered(&entries, &rendered)
            .unwrap_err()
            .to_string();
        assert!(err.contains("[[app.retire]]"), "{err}");
        assert!(
            refuse_rendered(
                &entries,
                &[object("apps/v1", "Deployment", "gpt-token-cleanup")]
            )
            .is_ok()
        );
        let id = id_of(&entries[0], "ns").unwrap();
        assert_eq!(id.short(), "cronjob.batch/gpt-token-cleanup");
    }

    #[test]
    fn the_unversioned_secret_is_retired_once_a_version_is_rendered() {
        let config = crate::config::load(None, "development").unwrap();
        let secret = |name: &str| object("v1", "Secret", name);
        let names = |objects: &[Object]| -> Vec<String> {
            entries(&config.app, objects)
                .into_iter()
                .map(|e| format!("{}/{}", e.kind, e.name))
                .collect()
        };
        assert_eq!(
            names(&[secret("gpt-secrets-0a1b2c3d")]),
            ["Secret/gpt-secrets"]
        );
        assert!(names(&[secret("gpt-secrets")]).is_empty());
        assert!(names(&[]).is_empty());
    }
}
