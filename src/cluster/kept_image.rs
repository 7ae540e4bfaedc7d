//! The image a run deploys when `--image` is not given: the one already running.
//!
//! The environment file's `image_tag` is only the default of a first deploy. Once a
//! Deployment is live, a plain `apply` (to change replicas, say) must not roll the pods back
//! to that default; it keeps the live Deployment's image and says so.

use k8s_openapi::api::apps::v1::Deployment;
use kube::Api;

use super::Result;
use super::client::{self, Cluster};
use super::plan::Plan;

/// The image of the live Deployment's application container (the container named after the
/// app, else the first), if the Deployment exists.
///
/// # Errors
/// The read failed.
pub async fn running(cluster: &Cluster, plan: &Plan) -> Result<Option<String>> {
    let Some(name) = plan
        .find("Deployment")
        .and_then(|d| d["metadata"]["name"].as_str())
    else {
        return Ok(None);
    };
    let api: Api<Deployment> = Api::namespaced(cluster.client.clone(), &plan.namespace);
    let live = client::retry(|| api.get_opt(name)).await.map_err(|e| {
        client::api_error(
            format!("read Deployment {}/{name}", plan.namespace),
            name,
            e,
            &cluster.server,
        )
    })?;
    let containers = live
        .and_then(|d| d.spec)
        .and_then(|s| s.template.spec)
        .map(|s| s.containers)
        .unwrap_or_default();
    Ok(containers
        .iter()
        .find(|c| c.name == plan.app_name)
        .or_else(|| containers.first())
        .and_then(|c| c.image.clone()))
}

/// What to do about the running image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Keep {
    /// The render already uses it.
    Same,
    /// Render again with this `--image`.
    Render(String),
    /// It is not in the configured repository: the environment file's default applies.
    Cannot,
}

/// Whether and how the running image can be kept.
#[must_use]
pub fn keep(running: &str, plan: &Plan) -> Keep {
    let repository = &plan.config.app.image_repository;
    let rendered = plan
        .find("Deployment")
        .and_then(|d| d["spec"]["template"]["spec"]["containers"].as_array())
        .and_then(|c| {
            c.iter()
                .find(|c| c["name"].as_str() == Some(plan.app_name.as_str()))
                .or_else(|| c.first())
        })
        .and_then(|c| c["image"].as_str());
    if rendered == Some(running) {
        return Keep::Same;
    }
    match crate::config::image::parse(running, repository) {
        Ok(_) => Keep::Render(running.to_owned()),
        Err(_) => {
            crate::report::warning(&format!(
                "the running image {running} is not in {repository} (deploy.toml's image_repository), so the environment file's image_tag {} is used; pass --image to choose",
                plan.config.env.image_tag
            ));
            Keep::Cannot
        }
    }
}
