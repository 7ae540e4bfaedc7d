//! Config + templates → checked Kubernetes objects → YAML or JSON (`render`, `validate`).
//!
//! Objects stay exactly as rendered (untyped JSON) for output and apply; the typed
//! k8s-openapi structs are used only to check them, because re-serialising a typed struct adds
//! defaulted fields that server-side apply would then claim.

mod command;
mod engine;
mod out_dir;
mod schema;
mod secrets;
pub(crate) mod yaml;
mod yaml_subset;

use std::fmt;

use serde_json::Value;

use crate::config::{self, Config};

pub use command::{cmd_render, cmd_validate};
pub(crate) use schema::kind_rank;
pub use secrets::{PLACEHOLDER, SecretValues, is_version};
pub(crate) use secrets::{redact, version_base, version_name};

/// Errors of this module.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration could not be loaded.
    #[error(transparent)]
    Config(#[from] config::Error),
    /// A template has a syntax error.
    #[error("template {template} has a syntax error")]
    TemplateSyntax {
        /// The template file.
        template: String,
        /// minijinja's error, with the line.
        #[source]
        source: minijinja::Error,
    },
    /// A template failed while rendering, e.g. it used an undefined variable.
    #[error("template {template} failed to render{hint}")]
    Template {
        /// The template file.
        template: String,
        /// What to check, depending on the kind of failure.
        hint: String,
        /// minijinja's error, with the line.
        #[source]
        source: minijinja::Error,
    },
    /// A template rendered text that is not valid YAML.
    #[error(
        "template {template}{} rendered invalid YAML in document {document}: {message}{}",
        template_line.map(|l| format!(":{l}")).unwrap_or_default(),
        if message.contains(" at line ") { " of the rendered output" } else { "" }
    )]
    Yaml {
        /// The template file.
        template: String,
        /// 1-based document index within the template's output.
        document: usize,
        /// The parser's message with line and column of the rendered text.
        message: String,
        /// The template line that produced the rendered line the parser stopped at.
        template_line: Option<usize>,
    },
    /// A rendered object does not match its Kubernetes type.
    #[error("template {template}, document {document} ({object}): {}", problems.join("; "))]
    Invalid {
        /// The template file.
        template: String,
        /// 1-based document index within the template's output.
        document: usize,
        /// `Kind name` of the object.
        object: String,
        /// Every problem, each naming a field path.
        problems: Vec<String>,
    },
    /// A rendered object lacks or changes the environment's namespace.
    #[error(
        "template {template}, document {document} ({object}): metadata.namespace is {found}, expected `{expected}`; write `namespace: {{{{ env.namespace | json }}}}`"
    )]
    Namespace {
        /// The template file.
        template: String,
        /// 1-based document index.
        document: usize,
        /// `Kind name` of the object.
        object: String,
        /// What the object says.
        found: String,
        /// The environment's namespace.
        expected: String,
    },
    /// Two templates render the same kind and name.
    #[error(
        "{object} is rendered twice, by {first} and {second}; each object must come from one template"
    )]
    Duplicate {
        /// `Kind name` of the object.
        object: String,
        /// Template of the first copy.
        first: String,
        /// Template of the second copy.
        second: String,
    },
    /// Secret values the service would refuse at start (named, never shown).
    #[error(
        "{} secret value(s) that the service would refuse: {}; fix the value(s) (they are not shown) and re-run; nothing was written",
        problems.len(), problems.join("; ")
    )]
    SecretValues {
        /// `NAME: what is wrong`, one per bad value.
        problems: Vec<String>,
    },
    /// `--image` is not a tag, a digest or a reference to the configured repository.
    #[error("--image {0}")]
    ImageTag(String),
    /// Several of the errors above (all of one environment's problems).
    #[error("{}", List(.0))]
    Multiple(Vec<Error>),
    /// `--out DIR` is a file, or a directory of files `render` did not write.
    #[error("cannot write into {}: {problem}", dir.display())]
    OutDir {
        /// The directory given.
        dir: std::path::PathBuf,
        /// Why it is refused, and what to do.
        problem: String,
    },
    /// Writing a file of `--out DIR` failed.
    #[error("cannot write {path}")]
    Write {
        /// The file or directory.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Writing to standard output failed.
    #[error("cannot write to standard output")]
    Stdout(#[source] std::io::Error),
    /// `validate` found errors (each already printed).
    #[error("{failed} of {total} environments failed validation (errors above)")]
    ValidationFailed {
        /// Environments with errors.
        failed: usize,
        /// Environments checked.
        total: usize,
    },
}

struct List<'a>(&'a [Error]);

impl fmt::Display for List<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} problems:", self.0.len())?;
        for e in self.0 {
            write!(f, "\n  {}", crate::report::with_causes(e))?;
        }
        Ok(())
    }
}

/// Result with this module's [`Error`].
pub(crate) type Result<T, E = Error> = std::result::Result<T, E>;

impl crate::Failure for Error {
    fn exit_code(&self) -> u8 {
        match self {
            Error::Stdout(_) | Error::Write { .. } => crate::exit::API,
            _ => crate::exit::CONFIG,
        }
    }

    fn is_broken_pipe(&self) -> bool {
        matches!(self, Error::Stdout(e) if e.kind() == std::io::ErrorKind::BrokenPipe)
    }
}

/// What to render besides the configuration.
#[derive(Debug, Clone, Default)]
pub struct RenderOptions {
    /// `--image`: a tag, a digest or a full reference (see [`config::image::parse`]) instead
    /// of the environment's `image_tag`.
    pub image_tag: Option<String>,
    /// Values of the declared secrets.
    pub secrets: SecretValues,
}

/// The objects of one environment, in apply order.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    /// Secret, PodDisruptionBudget, Deployment, CronJob (see [`kind_rank`]).
    pub objects: Vec<Object>,
    /// Env var names of required secrets that were not set (rendered as [`PLACEHOLDER`]).
    pub missing_secrets: Vec<String>,
}

/// One rendered Kubernetes object.
#[derive(Clone, PartialEq)]
pub struct Object {
    /// e.g. `apps/v1`.
    pub(crate) api_version: String,
    /// e.g. `Deployment`.
    pub kind: String,
    /// `metadata.name`.
    pub(crate) name: String,
    /// `metadata.namespace`.
    pub(crate) namespace: String,
    /// The template file it came from.
    pub(crate) template: String,
    /// The object exactly as rendered, with real secret data.
    pub value: Value,
}

impl fmt::Debug for Object {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The value is redacted: a Secret's data must not reach logs or panics.
        f.debug_struct("Object")
            .field("api_version", &self.api_version)
            .field("kind", &self.kind)
            .field("name", &self.name)
            .field("namespace", &self.namespace)
            .field("template", &self.template)
            .field("value", &redact(&self.value))
            .finish()
    }
}

impl fmt::Display for Object {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.kind, self.name)
    }
}

impl Object {
    /// The object as printed: redacted unless `show_secrets`.
    #[must_use]
    pub(crate) fn output_value(&self, show_secrets: bool) -> std::borrow::Cow<'_, Value> {
        if show_secrets || self.kind != "Secret" {
            std::borrow::Cow::Borrowed(&self.value)
        } else {
            std::borrow::Cow::Owned(redact(&self.value))
        }
    }
}

impl Rendered {
    /// A multi-document YAML stream (`---` before each object) that `kubectl apply -f -` reads.
    #[must_use]
    pub fn to_yaml(&self, show_secrets: bool) -> String {
        let mut out = String::new();
        for object in &self.objects {
            out.push_str("---\n");
            out.push_str(&yaml::to_string(&object.output_value(show_secrets)));
        }
        out
    }

    /// A pretty-printed JSON `List` of the objects, with a trailing newline.
    #[must_use]
    pub fn to_json(&self, show_secrets: bool) -> String {
        let items: Vec<Value> = self
            .objects
            .iter()
            .map(|o| o.output_value(show_secrets).into_owned())
            .collect();
        let list = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": items});
        let mut out = serde_json::to_string_pretty(&list).unwrap_or_default();
        out.push('\n');
        out
    }
}

/// How [`load_and_render`] loads and renders an environment.
#[derive(Debug, Clone, Default)]
pub(crate) struct LoadOptions {
    /// `--namespace`: renders every object into this namespace instead of the environment's.
    pub(crate) namespace: Option<String>,
    /// `--image` (see [`RenderOptions::image_tag`]).
    pub(crate) image_tag: Option<String>,
    /// Reads the declared secrets from the process environment (and checks them); without
    /// it every secret renders as [`PLACEHOLDER`].
    pub(crate) secrets_from_env: bool,
}

/// An environment loaded and rendered by [`load_and_render`].
#[derive(Debug)]
pub(crate) struct Loaded {
    /// The configuration, with the namespace override applied.
    pub(crate) config: Config,
    /// The secret values the objects were rendered with.
    pub(crate) secrets: SecretValues,
    /// The objects.
    pub(crate) rendered: Rendered,
}

/// Loads environment `env` (see [`config::load`]), applies the namespace override, reads and
/// checks the declared secrets and renders: what every cluster command starts with.
///
/// # Errors
/// As [`config::load`], [`check_secret_values`] and [`render`].
pub(crate) fn load_and_render(
    config_dir: Option<&std::path::Path>,
    env: &str,
    options: &LoadOptions,
) -> Result<Loaded> {
    let mut config = config::load(config_dir, env)?;
    if let Some(namespace) = &options.namespace {
        // Templates read the namespace from the environment, so overriding it here moves
        // every object (and the render's namespace check) consistently.
        config.env.namespace.clone_from(namespace);
    }
    let secrets = if options.secrets_from_env {
        SecretValues::from_process_env(&config)
    } else {
        SecretValues::empty()
    };
    check_secret_values(&secrets)?;
    let options = RenderOptions {
        image_tag: options.image_tag.clone(),
        secrets,
    };
    let rendered = render(&config, &options)?;
    Ok(Loaded {
        config,
        secrets: options.secrets,
        rendered,
    })
}

/// Checks the secret values that are set (see [`SecretValues::problems`]); what `apply` and
/// `deploy` call before anything is written.
///
/// # Errors
/// [`Error::SecretValues`] naming every bad value.
pub(crate) fn check_secret_values(values: &SecretValues) -> Result<()> {
    let problems = values.problems();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Error::SecretValues { problems })
    }
}

/// Prints one warning on stderr naming the required secrets whose environment variables are
/// not set (a GitHub Actions `::warning` annotation under Actions). Names, never values.
pub(crate) fn warn_missing_secrets(config: &Config, rendered: &Rendered) {
    if rendered.missing_secrets.is_empty() {
        return;
    }
    let message = format!(
        "environment variables not set: {}; the Secret {} shows {PLACEHOLDER} for them",
        rendered.missing_secrets.join(", "),
        config.app.secret_name
    );
    // Under Actions the annotation alone: it shows in the log as the warning line.
    if crate::report::github_actions() {
        crate::report::annotate(crate::report::Level::Warning, &message);
    } else {
        eprintln!("warning: {message}");
    }
}

/// Renders every template of `config` into checked objects in apply order.
///
/// # Errors
/// Template syntax or render errors, invalid YAML, objects that do not match their Kubernetes
/// type (unknown fields included), a wrong namespace or duplicate objects; all problems found
/// are returned together as [`Error::Multiple`].
pub fn render(config: &Config, options: &RenderOptions) -> Result<Rendered> {
    let template_path = |name: &str| {
        config
            .source
            .display_path(&format!("{}/{name}", config::TEMPLATES_DIR))
    };
    let (env, ctx, missing_secrets) = prepare(config, options)?;
    let mut errors = Vec::new();
    let mut objects: Vec<Object> = Vec::new();
    for template in config.templates.iter().filter(|t| t.is_manifest()) {
        let path = template_path(&template.name);
        let text = match env
            .get_template(&template.name)
            .and_then(|t| t.render(&ctx))
        {
            Ok(text) => text,
            Err(source) => {
                let hint = if source.kind() == minijinja::ErrorKind::UndefinedError {
                    match engine::undefined_attribute(&source, &config.templates, &ctx) {
                        Some(what) => format!(": {what}"),
                        None => format!(
                            " (undefined variables are errors; the variables are {})",
                            engine::VARIABLES
                        ),
                    }
                } else {
                    String::new()
                };
                errors.push(Error::Template {
                    template: path,
                    hint,
                    source,
                });
                continue;
            }
        };
        let documents = match yaml::parse_documents(&text) {
            Ok(documents) => documents,
            Err(e) => {
                errors.push(Error::Yaml {
                    template: path,
                    document: e.document,
                    template_line: e
                        .line
                        .and_then(|line| engine::template_line(&template.text, &text, line)),
                    message: e.message,
                });
                continue;
            }
        };
        for (index, value) in documents.into_iter().enumerate() {
            match to_object(value, &path, index + 1, &config.env.namespace) {
                Ok(object) => {
                    if let Some(first) = objects
                        .iter()
                        .find(|o| o.kind == object.kind && o.name == object.name)
                    {
                        errors.push(Error::Duplicate {
                            object: object.to_string(),
                            first: first.template.clone(),
                            second: object.template.clone(),
                        });
                    } else {
                        objects.push(object);
                    }
                }
                Err(e) => errors.push(e),
            }
        }
    }
    match errors.len() {
        0 => {}
        1 => return Err(errors.remove(0)),
        _ => return Err(Error::Multiple(errors)),
    }
    objects.sort_by(|a, b| (kind_rank(&a.kind), &a.name).cmp(&(kind_rank(&b.kind), &b.name)));
    Ok(Rendered {
        objects,
        missing_secrets,
    })
}

/// The template environment and context for `config`, and the required secrets whose values
/// are missing.
fn prepare(
    config: &Config,
    options: &RenderOptions,
) -> Result<(
    minijinja::Environment<'static>,
    minijinja::Value,
    Vec<String>,
)> {
    let image = match options.image_tag.as_deref() {
        Some(arg) => config::image::parse(arg, &config.app.image_repository),
        None => config::image::parse(&config.env.image_tag, &config.app.image_repository),
    }
    .map_err(Error::ImageTag)?;
    let env =
        engine::environment(&config.templates).map_err(|(name, source)| Error::TemplateSyntax {
            template: config
                .source
                .display_path(&format!("{}/{name}", config::TEMPLATES_DIR)),
            source,
        })?;
    let (data, missing_secrets) = secrets::secret_data(config, &options.secrets);
    let secret_name = secrets::data_version_name(&config.app.secret_name, &data);
    let entries: Vec<_> = data
        .iter()
        .map(|d| engine::SecretEntry {
            key: &d.key,
            value: &d.base64,
        })
        .collect();
    let ctx = engine::context(config, &image, &secret_name, &entries);
    Ok((env, ctx, missing_secrets))
}

fn to_object(value: Value, template: &str, document: usize, namespace: &str) -> Result<Object> {
    let text = |pointer: &str| {
        value
            .pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let (api_version, kind, name) = (text("/apiVersion"), text("/kind"), text("/metadata/name"));
    let object = format!(
        "{} {}",
        if kind.is_empty() { "object" } else { &kind },
        if name.is_empty() {
            "without name"
        } else {
            &name
        }
    );
    schema::check(&value).map_err(|problems| Error::Invalid {
        template: template.to_owned(),
        document,
        object: object.clone(),
        problems,
    })?;
    if name.is_empty() {
        return Err(Error::Invalid {
            template: template.to_owned(),
            document,
            object,
            problems: vec!["metadata.name is missing".to_owned()],
        });
    }
    let found = value.pointer("/metadata/namespace").and_then(Value::as_str);
    if found != Some(namespace) {
        return Err(Error::Namespace {
            template: template.to_owned(),
            document,
            object,
            found: found.map_or_else(|| "missing".to_owned(), |f| format!("`{f}`")),
            expected: namespace.to_owned(),
        });
    }
    Ok(Object {
        api_version,
        kind,
        name,
        namespace: namespace.to_owned(),
        template: template.to_owned(),
        value,
    })
}
