//! Checks made before the first write: the cluster answers, the namespace exists (or may be
//! created), and, for `deploy` with a GitHub token, the GitHub environment holds every
//! required secret. A failing preflight leaves the cluster untouched.

use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;

use super::client::{self, Cluster};
use super::plan::Plan;
use super::{Error, FIELD_MANAGER, Result};

/// Whether the namespace exists. This is also the reachability check: it is the first
/// request of every command.
///
/// # Errors
/// The server cannot be reached or rejects the credentials.
pub async fn namespace_exists(cluster: &Cluster, namespace: &str) -> Result<bool> {
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
pub async fn create_namespace(cluster: &Cluster, namespace: &str, dry_run: bool) -> Result<()> {
    let api: Api<Namespace> = Api::all(cluster.client.clone());
    let body = Patch::Apply(
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}),
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
pub async fn check_namespace(cluster: &Cluster, namespace: &str, may_create: bool) -> Result<bool> {
    if namespace_exists(cluster, namespace).await? {
        Ok(true)
    } else if may_create {
        Ok(false)
    } else {
        Err(Error::NamespaceMissing(namespace.to_string()))
    }
}

/// The GitHub environment check of `deploy`, run only when a GitHub token is present
/// (`GITHUB_TOKEN` or `GH_TOKEN`); without one there is nothing to ask.
///
/// # Errors
/// [`Error::MissingGithubSecrets`] naming every missing secret, or [`Error::GithubCheck`].
pub async fn check_github_secrets(plan: &Plan) -> Result<()> {
    if crate::github::token_from_env().is_none() {
        return Ok(());
    }
    let missing = crate::github::missing_required(&plan.config, None)
        .await
        .map_err(|e| Error::GithubCheck {
            message: plan.redactor.redact(&error_chain(&e)),
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

fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
