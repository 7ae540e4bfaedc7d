//! The image a run deploys when `--image` is not given: the one already running.
//!
//! The environment file's `image_tag` is only the default of a first deploy. Once a release
//! is recorded, a plain `apply` (to change replicas, say) must not roll the pods back to that
//! default; it keeps the image of the newest release that was applied (the release record),
//! else the live Deployment's image (a set deployed before the history existed), and says so.
//! `drift` renders with the same image, so a Deployment changed by hand shows as drift.

use k8s_openapi::api::apps::v1::Deployment;
use kube::Api;

use super::Result;
use super::client::{self, Cluster};
use super::history::{self, ReleaseResult, Store};
use super::plan::Plan;

/// The image running before this run, and where it was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Running {
    /// The image reference.
    pub(crate) image: String,
    /// The release that deployed it, when it comes from the release record.
    pub(crate) revision: Option<u64>,
    /// The live Deployment's image when it differs from the recorded one (changed by hand).
    pub(crate) live: Option<String>,
}

/// The image that runs: the newest release that succeeded or was applied without a wait
/// (a failed, cancelled or rolled-back release is not what should keep running), else the
/// live Deployment's application container (the container named after the app, else the
/// first); `None` on a first deploy.
///
/// # Errors
/// The history or the Deployment cannot be read.
pub(crate) async fn running(cluster: &Cluster, plan: &Plan) -> Result<Option<Running>> {
    let store = Store::new(&plan.app_name, &plan.namespace);
    // Two independent reads: one round trip, not two.
    let (live, recorded) = futures::try_join!(live_image(cluster, plan), store.read(cluster))?;
    let recorded = recorded
        .into_iter()
        .rev()
        .find(|r| matches!(r.result, ReleaseResult::Succeeded | ReleaseResult::Applied));
    Ok(match recorded {
        Some(release) => Some(Running {
            live: live.filter(|l| *l != release.image),
            image: release.image,
            revision: Some(release.number),
        }),
        None => live.map(|image| Running {
            image,
            revision: None,
            live: None,
        }),
    })
}

/// The image of the live Deployment's application container, if the Deployment exists.
async fn live_image(cluster: &Cluster, plan: &Plan) -> Result<Option<String>> {
    let Some(name) = plan.find("Deployment").map(|d| d.name.as_str()) else {
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
    let live = live.map(|d| serde_json::to_value(d).unwrap_or_default());
    Ok(live.and_then(|d| history::deployment_image(&d, &plan.app_name)))
}

/// What to do about the running image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Keep {
    /// The render already uses it.
    Same,
    /// Render again with this `--image`.
    Render(String),
    /// It is not in the configured repository: the environment file's default applies.
    Cannot,
}

/// Whether and how the running image can be kept; says so when the live Deployment runs
/// another image than the release record (someone changed it outside gpt-deploy).
#[must_use]
pub(crate) fn keep(running: &Running, plan: &Plan) -> Keep {
    let repository = &plan.config.app.image_repository;
    if let (Some(live), Some(revision)) = (&running.live, running.revision) {
        crate::report::warning(&format!(
            "the live Deployment runs {live}, not {}, the image of the newest release (revision {revision}); the release's image is used (pass --image to choose another)",
            running.image
        ));
    }
    let running = running.image.as_str();
    let rendered = plan
        .find("Deployment")
        .and_then(|d| history::deployment_image(&d.value, &plan.app_name));
    if rendered.as_deref() == Some(running) {
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
