//! What a cluster command will send: the rendered objects of one environment and the
//! facts about them the later steps need. Built without touching the cluster.

use serde_json::Value;

use super::resources::ObjectId;
use super::{Error, Result};
use crate::cli::ClusterArgs;
use crate::config;
use crate::render::{self, LoadOptions, Loaded, Object};
use crate::secret::{Redactor, SecretString};

/// The rendered environment, ready to apply.
#[derive(Debug)]
pub(crate) struct Plan {
    /// Application name (names the ApplySet parent).
    pub(crate) app_name: String,
    /// Environment name.
    pub(crate) environment: String,
    /// Target namespace (the environment's, or `--namespace`).
    pub(crate) namespace: String,
    /// Image tag being deployed.
    pub(crate) image_tag: String,
    /// The environment file's kubeconfig context.
    pub(crate) kube_context: Option<String>,
    /// The GitHub environment holding the secrets.
    pub(crate) github_environment: String,
    /// Env var names of declared required secrets (what the GitHub environment must hold).
    pub(crate) required_secrets: Vec<String>,
    /// Env var names of required secrets missing from the process environment.
    pub(crate) missing_secrets: Vec<String>,
    /// Objects in dependency order, with real secret data: render checked their kind, name
    /// and namespace, so nothing downstream reads them from the JSON again.
    pub(crate) objects: Vec<Object>,
    /// Hides the secret values in anything printed.
    pub(crate) redactor: Redactor,
    /// The loaded configuration (namespace override applied).
    pub(crate) config: config::Config,
}

/// Loads the configuration and renders it with the secrets from the process environment.
///
/// # Errors
/// [`Error::Render`] for configuration or template problems.
pub(crate) fn load(args: &ClusterArgs) -> Result<Plan> {
    load_with(args, true)
}

/// Like [`load`] without reading any secret value (for commands that only need the
/// objects' names and the namespace, such as `cleanup-now`).
///
/// # Errors
/// [`Error::Render`] for configuration or template problems.
pub(crate) fn load_without_secrets(args: &ClusterArgs) -> Result<Plan> {
    load_with(args, false)
}

fn load_with(args: &ClusterArgs, with_secrets: bool) -> Result<Plan> {
    let options = LoadOptions {
        namespace: args.target.namespace.clone(),
        image_tag: args.image.clone(),
        secrets_from_env: with_secrets,
    };
    let Loaded {
        config,
        secrets,
        rendered,
    } = render::load_and_render(
        args.target.config.config.as_deref(),
        &args.target.env,
        &options,
    )
    .map_err(|source| Error::Render {
        env: args.target.env.clone(),
        source: Box::new(source),
    })?;
    let values: Vec<SecretString> = config
        .app
        .secrets
        .iter()
        .filter_map(|d| secrets.get(&d.env).cloned())
        .collect();
    Ok(Plan {
        app_name: config.app.name.clone(),
        environment: config.env.name.clone(),
        namespace: config.env.namespace.clone(),
        image_tag: args
            .image
            .clone()
            .unwrap_or_else(|| config.env.image_tag.clone()),
        kube_context: config.env.kube_context.clone(),
        github_environment: config.env.github_environment.clone(),
        required_secrets: config
            .app
            .secrets
            .iter()
            .filter(|d| d.required)
            .map(|d| d.env.clone())
            .collect(),
        missing_secrets: rendered.missing_secrets,
        objects: rendered.objects,
        redactor: Redactor::new(values.iter()),
        config,
    })
}

impl Plan {
    /// Stops when any required secret is missing, naming all of them.
    ///
    /// # Errors
    /// [`Error::MissingSecrets`].
    pub(crate) fn require_secrets(&self) -> Result<()> {
        if self.missing_secrets.is_empty() {
            Ok(())
        } else {
            Err(Error::MissingSecrets {
                names: self.missing_secrets.clone(),
            })
        }
    }

    /// The rendered object of this kind, if any.
    #[must_use]
    pub(crate) fn find(&self, kind: &str) -> Option<&Object> {
        self.objects.iter().find(|o| o.kind == kind)
    }
}

/// An object recorded in the release history (or written by hand) as a typed object, the
/// way render would have produced it; `source` says where it came from in messages.
///
/// # Errors
/// [`Error::BadObject`] when `apiVersion`, `kind`, `metadata.name` or `metadata.namespace`
/// is missing: recorded objects come from the cluster, not from render's checks.
pub(crate) fn object_from_value(value: Value, source: &str) -> Result<Object> {
    let id = ObjectId::of(&value)?;
    Ok(Object {
        api_version: id.api_version,
        kind: id.kind,
        name: id.name,
        namespace: id.namespace,
        template: source.to_owned(),
        value,
    })
}
