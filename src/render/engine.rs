//! minijinja setup: strict undefined variables, the `json` filter, and the template context.

use std::collections::BTreeMap;

use minijinja::value::ValueKind;
use minijinja::{Environment, ErrorKind, UndefinedBehavior, Value};

use crate::config::{Config, ResourceList, Template};

/// The variables every template sees (named in error messages about undefined values).
pub const VARIABLES: &str =
    "app, env, image, image_tag, migrate_job_name, secret_hash, secret_keys, secret_data";

/// Builds the template environment; template syntax errors surface here.
///
/// # Errors
/// The first template with a syntax error, with its name and line.
pub fn environment(
    templates: &[Template],
) -> Result<Environment<'static>, (String, minijinja::Error)> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    // YAML is not HTML: never escape.
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
    env.add_filter("json", json);
    for template in templates {
        env.add_template_owned(template.name.clone(), template.text.clone())
            .map_err(|e| (template.name.clone(), e))?;
    }
    Ok(env)
}

/// Quotes a scalar as JSON, which is also valid YAML, so values can never break the document.
fn json(value: Value) -> Result<String, minijinja::Error> {
    match value.kind() {
        ValueKind::String => Ok(serde_json::Value::String(
            value.as_str().unwrap_or_default().to_owned(),
        )
        .to_string()),
        ValueKind::Number | ValueKind::Bool => Ok(value.to_string()),
        ValueKind::Undefined => Err(minijinja::Error::new(
            ErrorKind::UndefinedError,
            "the value passed to `json` is undefined",
        )),
        other => Err(minijinja::Error::new(
            ErrorKind::InvalidOperation,
            format!("`json` quotes strings, numbers and booleans, not {other}"),
        )),
    }
}

/// One entry of the Secret's data as templates see it.
pub struct SecretEntry<'a> {
    /// Key in the Secret.
    pub key: &'a str,
    /// Base64 value (or the placeholder for a missing secret).
    pub value: &'a str,
}

/// The template context for one environment.
pub fn context(
    config: &Config,
    image_tag: &str,
    secret_hash: &str,
    data: &[SecretEntry<'_>],
) -> Value {
    let app = &config.app;
    let env = &config.env;
    let secrets: Vec<Value> = app
        .secrets
        .iter()
        .map(|s| {
            map([
                ("key", Value::from(&s.key)),
                ("env", Value::from(&s.env)),
                ("required", Value::from(s.required)),
            ])
        })
        .collect();
    let secret_keys: BTreeMap<String, Value> = app
        .secrets
        .iter()
        .map(|s| (s.env.clone(), Value::from(&s.key)))
        .collect();
    let secret_data: Vec<Value> = data
        .iter()
        .map(|e| map([("key", Value::from(e.key)), ("value", Value::from(e.value))]))
        .collect();
    let list = |l: &ResourceList| {
        map([
            ("cpu", Value::from(&l.cpu)),
            ("memory", Value::from(&l.memory)),
        ])
    };
    map([
        (
            "app",
            map([
                ("name", Value::from(&app.name)),
                ("image_repository", Value::from(&app.image_repository)),
                ("github_repository", Value::from(&app.github_repository)),
                ("secret_name", Value::from(&app.secret_name)),
                ("secrets", Value::from(secrets)),
            ]),
        ),
        (
            "env",
            map([
                ("name", Value::from(&env.name)),
                ("namespace", Value::from(&env.namespace)),
                ("replicas", Value::from(env.replicas)),
                ("image_tag", Value::from(&env.image_tag)),
                ("kube_context", Value::from(env.kube_context.clone())),
                ("github_environment", Value::from(&env.github_environment)),
                (
                    "termination_grace_period_seconds",
                    Value::from(env.termination_grace_period_seconds),
                ),
                ("log_level", Value::from(&env.log_level)),
                (
                    "resources",
                    map([
                        ("requests", list(&env.resources.requests)),
                        ("limits", list(&env.resources.limits)),
                    ]),
                ),
                (
                    "cleanup",
                    map([
                        ("schedule", Value::from(&env.cleanup.schedule)),
                        ("retention", Value::from(&env.cleanup.retention)),
                        ("batch_size", Value::from(env.cleanup.batch_size)),
                    ]),
                ),
            ]),
        ),
        ("image", Value::from(config.image(Some(image_tag)))),
        ("image_tag", Value::from(image_tag)),
        (
            "migrate_job_name",
            Value::from(migrate_job_name(&config.image(Some(image_tag)))),
        ),
        ("secret_hash", Value::from(secret_hash)),
        ("secret_keys", Value::from(secret_keys)),
        ("secret_data", Value::from(secret_data)),
    ])
}

/// `gpt-migrate-` + 8 hex digits of SHA-256 over the image and the embedded migrations
/// (version and checksum of each): a new image or a new migration gets a new Job, the same
/// ones never run twice.
#[must_use]
pub fn migrate_job_name(image: &str) -> String {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    hasher.update((image.len() as u64).to_be_bytes());
    hasher.update(image.as_bytes());
    for m in crate::runtime::db::MIGRATOR.iter() {
        hasher.update(m.version.to_be_bytes());
        hasher.update(&*m.checksum);
    }
    let digest = hex::encode(hasher.finalize());
    format!("gpt-migrate-{}", &digest[..8])
}

fn map<const N: usize>(pairs: [(&str, Value); N]) -> Value {
    Value::from(
        pairs
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect::<BTreeMap<String, Value>>(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(source: &str, ctx: Value) -> Result<String, minijinja::Error> {
        let env = environment(&[Template {
            name: "t.yaml.j2".into(),
            text: source.into(),
        }])
        .map_err(|(_, e)| e)?;
        env.get_template("t.yaml.j2")?.render(ctx)
    }

    #[test]
    fn json_quotes_strings_that_would_break_yaml() {
        let ctx = map([("v", Value::from("a: b\n# c")), ("n", Value::from(3))]);
        assert_eq!(
            render("{{ v | json }} {{ n | json }}", ctx).unwrap(),
            r#""a: b\n# c" 3"#
        );
    }

    #[test]
    fn undefined_variables_are_errors() {
        let err = render(
            "replicas: {{ env.replcas }}",
            map([("env", map([("replicas", Value::from(2))]))]),
        )
        .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::UndefinedError);
        assert_eq!(err.line(), Some(1));
    }
}
