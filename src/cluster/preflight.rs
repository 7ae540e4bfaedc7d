//! Checks made before the first write: the cluster answers, the namespace exists (or may be
//! created), for `deploy` with a GitHub token the GitHub environment holds every required
//! secret, and the API server accepts a dry run of every object without force. A failing
//! preflight leaves the cluster untouched: no member, no ApplySet parent.

use std::collections::HashMap;

use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, Patch, PatchParams};
use kube::core::ApiResource;
use serde_json::{Value, json};

use super::client::{self, Cluster};
use super::plan::Plan;
use super::resources::{self, ObjectId};
use super::{Error, FIELD_MANAGER, Result, adopt, apply};
use crate::render::Object;

/// Whether the namespace exists. This is also the reachability check: it is the first
/// request of every command.
///
/// # Errors
/// The server cannot be reached or rejects the credentials.
pub(crate) async fn namespace_exists(cluster: &Cluster, namespace: &str) -> Result<bool> {
    let api: Api<Namespace> = Api::all(cluster.client.clone());
    match client::retry(|| api.get_opt(namespace)).await {
        Ok(found) => Ok(found.is_some()),
        // Deploy credentials are often namespace-scoped and may not read Namespaces; the
        // server answered, so it is reachable, and the apply itself will say if the
        // namespace is really missing.
        Err(e) if client::status_code(&e) == Some(403) => {
            tracing::debug!(
                namespace,
                "no permission to read the namespace; assuming it exists"
            );
            Ok(true)
        }
        Err(e) => Err(client::api_error(
            format!("read namespace {namespace:?} (the connectivity check)"),
            namespace,
            e,
            &cluster.server,
        )),
    }
}

/// Creates the namespace with server-side apply (idempotent if it appeared meanwhile).
///
/// # Errors
/// The server refused.
pub(crate) async fn create_namespace(
    cluster: &Cluster,
    namespace: &str,
    dry_run: bool,
) -> Result<()> {
    let api: Api<Namespace> = Api::all(cluster.client.clone());
    // Pod Security "restricted" is enforced in a namespace we create: the rendered pods meet it.
    let body = Patch::Apply(
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {
            "name": namespace,
            "labels": {
                "pod-security.kubernetes.io/enforce": "restricted",
                "pod-security.kubernetes.io/enforce-version": "latest",
            },
        }}),
    );
    let mut params = PatchParams::apply(FIELD_MANAGER);
    if dry_run {
        params = params.dry_run();
    }
    client::retry(|| api.patch(namespace, &params, &body))
        .await
        .map(|_| ())
        .map_err(|e| {
            client::api_error(
                format!("create namespace {namespace:?}"),
                namespace,
                e,
                &cluster.server,
            )
        })
}

/// The namespace step of the preflight: `Ok(true)` when it exists, `Ok(false)` when it is
/// missing but may be created.
///
/// # Errors
/// [`Error::NamespaceMissing`] without `--create-namespace`, or API errors.
pub(crate) async fn check_namespace(
    cluster: &Cluster,
    namespace: &str,
    may_create: bool,
) -> Result<bool> {
    if namespace_exists(cluster, namespace).await? {
        Ok(true)
    } else if may_create {
        Ok(false)
    } else {
        Err(Error::NamespaceMissing(namespace.to_string()))
    }
}

/// The GitHub environment check of `deploy --check-github-secrets`: says what it asks, then
/// stops when the GitHub environment lacks a required secret. Needs a token (`GITHUB_TOKEN`
/// or `GH_TOKEN`); `deploy` makes no GitHub call without the flag.
///
/// # Errors
/// [`Error::Usage`] without a token; [`Error::MissingGithubSecrets`] naming every missing
/// secret; [`Error::GithubCheck`].
pub(crate) async fn check_github_secrets(plan: &Plan) -> Result<()> {
    if crate::github::token_from_env().is_none() {
        return Err(Error::Usage {
            message: "--check-github-secrets needs a GitHub token that may read the environment's secret names: set GITHUB_TOKEN (or GH_TOKEN), or leave the flag out; nothing was applied".into(),
        });
    }
    crate::report::note(&format!(
        "checking that GitHub environment {:?} holds the required secrets ({})",
        plan.github_environment,
        plan.required_secrets.join(", ")
    ));
    let missing = crate::github::missing_required(&plan.config, None)
        .await
        .map_err(|e| Error::GithubCheck {
            message: plan.redactor.redact(&crate::report::with_causes(&e)),
        })?;
    if missing.is_empty() {
        Ok(())
    } else {
        Err(Error::MissingGithubSecrets {
            environment: plan.github_environment.clone(),
            env: plan.environment.clone(),
            names: missing,
        })
    }
}

/// One rendered object, ready to send, with its REST mapping.
#[derive(Debug, Clone)]
pub(crate) struct Prepared {
    /// Which object.
    pub(crate) id: ObjectId,
    /// Its REST mapping.
    pub(crate) resource: ApiResource,
    /// The body to apply (server fields stripped, ApplySet label set).
    pub(crate) body: Value,
}

/// Prepares every rendered object and resolves its REST mapping (one lookup per kind).
///
/// # Errors
/// An object labelled for another ApplySet, or a kind the cluster does not serve.
pub(crate) async fn prepare_all(
    cluster: &Cluster,
    set_id: &str,
    objects: &[Object],
) -> Result<Vec<Prepared>> {
    let mut mappings: HashMap<(String, String), ApiResource> = HashMap::new();
    let mut out = Vec::with_capacity(objects.len());
    for object in objects {
        let id = ObjectId::of_rendered(object);
        let body = apply::prepare(&id, &object.value, set_id)?;
        let key = (id.api_version.clone(), id.kind.clone());
        let resource = match mappings.get(&key) {
            Some(r) => r.clone(),
            None => {
                let r = resources::api_resource(&cluster.client, &id.api_version, &id.kind).await?;
                mappings.insert(key, r.clone());
                r
            }
        };
        out.push(Prepared { id, resource, body });
    }
    Ok(out)
}

/// What the preflight learnt about one object.
#[derive(Debug, Clone, Default)]
pub(crate) struct Checked {
    /// The live object before anything was written, if it exists.
    pub(crate) live: Option<Value>,
    /// Client-side managers (kubectl) whose fields will be taken over before the apply.
    pub(crate) adopt_from: Vec<String>,
    /// A Deployment whose selector changes: replaced without downtime (`--replace-immutable`).
    pub(crate) replace: bool,
    /// The server's answer to the dry run (what the object will look like), if it ran.
    pub(crate) merged: Option<Value>,
    /// A problem that stops the run (nothing is written when any object has one).
    pub(crate) problem: Option<Problem>,
}

/// Why an object cannot be applied as it is.
#[derive(Debug, Clone)]
pub enum Problem {
    /// Fields owned by another field manager would change.
    Conflict {
        /// `Kind namespace/name`.
        object: String,
        /// (field path, manager) pairs.
        conflicts: Vec<(String, String)>,
    },
    /// A Deployment's selector would change.
    Selector {
        /// The Deployment's name.
        name: String,
        /// The live selector, as `{k: v, …}`.
        live: String,
        /// The rendered selector.
        rendered: String,
    },
    /// Another immutable field would change; no safe replacement exists.
    Immutable {
        /// `Kind namespace/name`.
        object: String,
        /// The server's answer.
        detail: String,
        /// `kubectl delete` arguments for the way out.
        kind_name: String,
    },
    /// The server rejected the object for another reason.
    Rejected {
        /// `Kind namespace/name`.
        object: String,
        /// The server's answer.
        detail: String,
    },
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problem::Conflict { object, conflicts } => {
                f.write_str(&client::format_conflicts(object, conflicts))
            }
            Problem::Selector {
                name,
                live,
                rendered,
            } => write!(
                f,
                "the live Deployment {name} selects {live}, the rendered one selects {rendered}; a selector cannot change; rerun with --replace-immutable to replace it without downtime"
            ),
            Problem::Immutable {
                object,
                detail,
                kind_name,
            } => write!(
                f,
                "{object}: a field that cannot change would change ({detail}); gpt-deploy replaces only Deployments without interruption, so delete the object in a maintenance window (kubectl delete {kind_name}) and rerun"
            ),
            Problem::Rejected { object, detail } => write!(f, "cannot apply {object}: {detail}"),
        }
    }
}

/// Formats a `matchLabels` map the way messages show it: `{k: v, …}` in key order.
#[must_use]
pub(crate) fn show_labels(labels: &Value) -> String {
    let mut pairs: Vec<String> = labels
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}: {}", v.as_str().unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default();
    pairs.sort();
    format!("{{{}}}", pairs.join(", "))
}

/// The selector of a Deployment (live or rendered), `None` for other kinds.
fn selector(object: &Value) -> Option<&Value> {
    (object["kind"].as_str() == Some("Deployment")).then(|| &object["spec"]["selector"])
}

/// True when a live Deployment's selector differs from the rendered one.
#[must_use]
pub(crate) fn selector_changes(live: &Value, rendered: &Value) -> bool {
    match (selector(live), selector(rendered)) {
        (Some(a), Some(b)) => {
            let labels = |s: &Value| s["matchLabels"].clone();
            labels(a) != labels(b) || a["matchExpressions"] != b["matchExpressions"]
        }
        _ => false,
    }
}

/// How the preflight runs.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct CheckOptions {
    /// `--force-conflicts`: conflicts are the user's to override.
    pub(crate) force_conflicts: bool,
    /// `--replace-immutable`: a Deployment selector change is replaced, not refused.
    pub(crate) replace_immutable: bool,
}

/// A name for a dry-run create next to the real object (never persisted).
fn check_name(name: &str) -> String {
    let suffix = "-gpt-deploy-check";
    let keep = 63usize.saturating_sub(suffix.len()).min(name.len());
    format!("{}{suffix}", name[..keep].trim_end_matches('-'))
}

/// Reads the live object, if any.
///
/// # Errors
/// The read failed.
pub(crate) async fn read_live(cluster: &Cluster, prepared: &Prepared) -> Result<Option<Value>> {
    let id = &prepared.id;
    let api = resources::namespaced(&cluster.client, &id.namespace, &prepared.resource);
    let live = client::retry(|| api.get_opt(&id.name)).await.map_err(|e| {
        client::api_error(format!("read {id}"), &id.to_string(), e, &cluster.server)
    })?;
    Ok(live.map(|l| {
        let mut v = serde_json::to_value(&l).unwrap_or(Value::Null);
        v["apiVersion"] = Value::String(id.api_version.clone());
        v["kind"] = Value::String(id.kind.clone());
        v
    }))
}

/// A server-side dry run of one object. Returns the server's answer or the problem.
async fn dry_run(
    cluster: &Cluster,
    prepared: &Prepared,
    force: bool,
) -> Result<std::result::Result<Value, Problem>> {
    let options = apply::Options {
        dry_run: true,
        force_conflicts: force,
        prune: false,
    };
    match apply::apply_one(
        cluster,
        &prepared.id,
        &prepared.resource,
        &prepared.body,
        options,
    )
    .await
    {
        Ok(merged) => Ok(Ok(merged)),
        Err(Error::Conflict { object, conflicts }) => {
            Ok(Err(Problem::Conflict { object, conflicts }))
        }
        Err(Error::Api { cause, .. }) if client::status_code(&cause.error) == Some(422) => {
            let object = prepared.id.to_string();
            let immutable = cause.detail.contains("immutable");
            Ok(Err(if immutable {
                Problem::Immutable {
                    object,
                    detail: cause.detail,
                    kind_name: format!(
                        "--namespace {} {}",
                        prepared.id.namespace,
                        prepared.id.short()
                    ),
                }
            } else {
                Problem::Rejected {
                    object,
                    detail: cause.detail,
                }
            }))
        }
        Err(e) => Err(e),
    }
}

/// A dry-run create of the rendered object under another name: validates an object that
/// will replace the live one (whose own dry run would fail on the immutable field).
async fn dry_run_create(
    cluster: &Cluster,
    prepared: &Prepared,
) -> Result<std::result::Result<Value, Problem>> {
    let mut body = prepared.body.clone();
    body["metadata"]["name"] = Value::String(check_name(&prepared.id.name));
    let api = resources::namespaced(&cluster.client, &prepared.id.namespace, &prepared.resource);
    let object: kube::api::DynamicObject =
        serde_json::from_value(body).map_err(|e| Error::BadObject {
            object: prepared.id.to_string(),
            problem: e.to_string(),
        })?;
    let params = kube::api::PostParams {
        dry_run: true,
        field_manager: Some(FIELD_MANAGER.to_string()),
    };
    match client::retry(|| api.create(&params, &object)).await {
        Ok(created) => {
            let mut v = serde_json::to_value(&created).unwrap_or(Value::Null);
            v["metadata"]["name"] = Value::String(prepared.id.name.clone());
            v["apiVersion"] = Value::String(prepared.id.api_version.clone());
            v["kind"] = Value::String(prepared.id.kind.clone());
            Ok(Ok(v))
        }
        Err(e) if client::status_code(&e) == Some(422) => Ok(Err(Problem::Rejected {
            object: prepared.id.to_string(),
            detail: client::describe(&e, &cluster.server),
        })),
        Err(e) => Err(client::api_error(
            format!("dry-run create {}", prepared.id),
            &prepared.id.to_string(),
            e,
            &cluster.server,
        )),
    }
}

/// Checks one object: reads it, decides adoption or replacement, and dry-runs it without
/// force (conflicts with client-side kubectl managers are expected: those fields are taken
/// over, so the object is then dry-run with force to validate the rest).
///
/// # Errors
/// Requests that fail for other reasons than the object itself (network, permissions).
pub(crate) async fn check_one(
    cluster: &Cluster,
    prepared: &Prepared,
    options: CheckOptions,
) -> Result<Checked> {
    let live = read_live(cluster, prepared).await?;
    let mut checked = Checked {
        adopt_from: live.as_ref().map(adopt::migratable).unwrap_or_default(),
        ..Checked::default()
    };
    if let Some(live_object) = &live
        && selector_changes(live_object, &prepared.body)
    {
        if !options.replace_immutable {
            checked.problem = Some(Problem::Selector {
                name: prepared.id.name.clone(),
                live: show_labels(&live_object["spec"]["selector"]["matchLabels"]),
                rendered: show_labels(&prepared.body["spec"]["selector"]["matchLabels"]),
            });
            checked.live = live;
            return Ok(checked);
        }
        checked.replace = true;
        checked.adopt_from.clear();
        match dry_run_create(cluster, prepared).await? {
            Ok(merged) => checked.merged = Some(merged),
            Err(problem) => checked.problem = Some(problem),
        }
        checked.live = live;
        return Ok(checked);
    }
    let first = dry_run(cluster, prepared, options.force_conflicts).await?;
    let result = match first {
        Err(Problem::Conflict { object, conflicts }) => {
            let foreign: Vec<(String, String)> = conflicts
                .iter()
                .filter(|(_, manager)| !adopt::is_migrated_manager(manager))
                .cloned()
                .collect();
            if foreign.is_empty() {
                // Only kubectl's client-side fields conflict; they are taken over first.
                dry_run(cluster, prepared, true).await?
            } else {
                Err(Problem::Conflict {
                    object,
                    conflicts: foreign,
                })
            }
        }
        other => other,
    };
    match result {
        Ok(merged) => checked.merged = Some(merged),
        Err(problem) => checked.problem = Some(problem),
    }
    checked.live = live;
    Ok(checked)
}

/// The preflight of every object: read, decide, dry-run. Nothing is written.
///
/// # Errors
/// Requests that fail for other reasons than the objects themselves.
pub(crate) async fn check_all(
    cluster: &Cluster,
    prepared: &[Prepared],
    options: CheckOptions,
) -> Result<Vec<Checked>> {
    let checks = prepared.iter().map(|p| check_one(cluster, p, options));
    futures::future::try_join_all(checks).await
}

/// Stops with every problem found, or passes.
///
/// # Errors
/// [`Error::Preflight`] listing each problem.
pub(crate) fn refuse_problems(checked: &[Checked]) -> Result<()> {
    let problems: Vec<Problem> = checked.iter().filter_map(|c| c.problem.clone()).collect();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Error::Preflight { problems })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selector_changes_are_noticed_on_deployments_only() {
        let d = |labels: Value| json!({"kind": "Deployment", "spec": {"selector": {"matchLabels": labels}}});
        let old = d(json!({"app": "gpt-service"}));
        let new = d(json!({"app.kubernetes.io/name": "gpt-service"}));
        assert!(selector_changes(&old, &new));
        assert!(!selector_changes(&new, &new.clone()));
        let svc = json!({"kind": "Service", "spec": {"selector": {"app": "x"}}});
        assert!(!selector_changes(
            &svc,
            &json!({"kind": "Service", "spec": {"selector": {"app": "y"}}})
        ));
    }

    #[test]
    fn selector_message_names_both_sides_and_the_way_out() {
        let p = Problem::Selector {
            name: "gpt-service".into(),
            live: show_labels(&json!({"app": "gpt-service"})),
            rendered: show_labels(&json!({"b": "2", "a": "1"})),
        };
        assert_eq!(
            p.to_string(),
            "the live Deployment gpt-service selects {app: gpt-service}, the rendered one selects {a: 1, b: 2}; a selector cannot change; rerun with --replace-immutable to replace it without downtime"
        );
    }

    #[test]
    fn check_names_fit_and_differ() {
        assert_eq!(check_name("gpt-service"), "gpt-service-gpt-deploy-check");
        assert!(check_name(&"x".repeat(80)).len() <= 63);
    }
}
