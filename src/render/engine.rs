//! minijinja setup: strict undefined variables, the `json` filter, and the template context.

use std::collections::BTreeMap;

use minijinja::value::ValueKind;
use minijinja::{Environment, ErrorKind, UndefinedBehavior, Value};

use crate::config::image::Image;
use crate::config::{Config, ResourceList, Template};

/// The variables every template sees (named in error messages about undefined values).
pub(crate) const VARIABLES: &str = "app, env, image, image_tag, image_pull_policy, migrate_job_name, secret_name, secret_keys, secret_data";

/// Builds the template environment; template syntax errors surface here.
///
/// # Errors
/// The first template with a syntax error, with its name and line.
pub(crate) fn environment(
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
pub(crate) struct SecretEntry<'a> {
    /// Key in the Secret.
    pub(crate) key: &'a str,
    /// Base64 value (or the placeholder for a missing secret).
    pub(crate) value: &'a str,
}

/// The template context for one environment.
pub(crate) fn context(
    config: &Config,
    image: &Image,
    secret_name: &str,
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
        ("image", Value::from(&image.reference)),
        ("image_tag", Value::from(&image.version)),
        ("image_pull_policy", Value::from(image.pull_policy())),
        (
            "migrate_job_name",
            Value::from(migrate_job_name(&image.reference, secret_name)),
        ),
        ("secret_name", Value::from(secret_name)),
        ("secret_keys", Value::from(secret_keys)),
        ("secret_data", Value::from(secret_data)),
    ])
}

/// `gpt-migrate-` + 8 hex digits of SHA-256 over the image, the Secret version it reads and
/// the embedded migrations (version and checksum of each): a new image, a new database URL
/// or a new migration gets a new Job, the same ones never run twice.
#[must_use]
pub(crate) fn migrate_job_name(image: &str, secret_name: &str) -> String {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    for part in [image, secret_name] {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part.as_bytes());
    }
    for m in crate::runtime::db::MIGRATOR.iter() {
        hasher.update(m.version.to_be_bytes());
        hasher.update(&*m.checksum);
    }
    let digest = hex::encode(hasher.finalize());
    format!("gpt-migrate-{}", &digest[..8])
}

/// For an undefined-value error, names the attribute that is missing, e.g.
/// "`env.replica` is undefined; `env` has cleanup, github_environment, …, replicas, …".
///
/// The error carries the template and line; every dotted path inside a tag on that line is
/// looked up in the context, and the first one that does not resolve is the culprit (a
/// filter such as `json` only sees the undefined value, so minijinja cannot name it).
pub(crate) fn undefined_attribute(
    error: &minijinja::Error,
    templates: &[Template],
    ctx: &Value,
) -> Option<String> {
    let template = templates
        .iter()
        .find(|t| Some(t.name.as_str()) == error.name())?;
    let line = template.text.lines().nth(error.line()?.checked_sub(1)?)?;
    for expression in tag_contents(line) {
        for path in dotted_paths(expression) {
            let mut parts = path.split('.');
            let first = parts.next()?;
            let mut value = ctx.get_attr(first).ok()?;
            if value.is_undefined() {
                // A loop variable or macro argument, not a context variable: cannot tell.
                continue;
            }
            let mut known = first.to_owned();
            for part in parts {
                let next = value.get_attr(part).ok()?;
                if next.is_undefined() {
                    let keys: Vec<String> = value
                        .try_iter()
                        .map(|keys| keys.map(|k| k.to_string()).collect())
                        .unwrap_or_default();
                    let has = if keys.is_empty() {
                        String::new()
                    } else {
                        format!("; `{known}` has {}", keys.join(", "))
                    };
                    return Some(format!("`{known}.{part}` is undefined{has}"));
                }
                known.push('.');
                known.push_str(part);
                value = next;
            }
        }
    }
    None
}

/// The line of `template` that most likely produced line `line` (1-based) of `rendered`:
/// template lines are matched against the rendered line with every `{{ … }}` and `{% … %}`
/// as a wildcard; among several matches the one nearest the rendered position wins.
#[must_use]
pub(crate) fn template_line(template: &str, rendered: &str, line: usize) -> Option<usize> {
    let target = rendered.lines().nth(line.checked_sub(1)?)?.trim_end();
    if target.trim().is_empty() {
        return None;
    }
    let candidates: Vec<usize> = template
        .lines()
        .enumerate()
        .filter(|(_, text)| matches_rendered(text.trim_end(), target))
        .map(|(index, _)| index + 1)
        .collect();
    candidates.into_iter().min_by_key(|c| c.abs_diff(line))
}

/// Whether a template line can render to `target`: its literal parts appear in order, the
/// first at the start and the last at the end.
fn matches_rendered(template_line: &str, target: &str) -> bool {
    let mut literals = Vec::new();
    let mut rest = template_line;
    loop {
        let next = ["{{", "{%", "{#"]
            .iter()
            .filter_map(|open| rest.find(open).map(|i| (i, *open)))
            .min();
        let Some((start, open)) = next else {
            literals.push(rest);
            break;
        };
        literals.push(&rest[..start]);
        let close = match open {
            "{{" => "}}",
            "{%" => "%}",
            _ => "#}",
        };
        match rest[start + 2..].find(close) {
            Some(end) => rest = &rest[start + 2 + end + 2..],
            // An expression continued on the next line: only the start can be checked.
            None => {
                rest = "";
                literals.push(rest);
                break;
            }
        }
    }
    if literals.len() == 1 {
        return template_line == target;
    }
    // A line of tags only (`{% if %}`, `{{ x }}`) could be anything: no evidence either way.
    if literals.iter().all(|l| l.trim().is_empty()) {
        return false;
    }
    let (first, last) = (literals[0], literals[literals.len() - 1]);
    if !target.starts_with(first) || !target[first.len()..].ends_with(last) {
        return false;
    }
    let mut middle = &target[first.len()..target.len() - last.len()];
    for literal in &literals[1..literals.len() - 1] {
        match middle.find(literal) {
            Some(i) => middle = &middle[i + literal.len()..],
            None => return false,
        }
    }
    true
}

/// The insides of every `{{ … }}` and `{% … %}` on a line.
fn tag_contents(line: &str) -> Vec<&str> {
    let mut found = Vec::new();
    let mut rest = line;
    while let Some(start) = rest.find(['{']) {
        let after = &rest[start..];
        let close = if after.starts_with("{{") {
            "}}"
        } else if after.starts_with("{%") {
            "%}"
        } else {
            rest = &rest[start + 1..];
            continue;
        };
        let Some(end) = after[2..].find(close) else {
            break;
        };
        found.push(&after[2..2 + end]);
        rest = &after[2 + end + 2..];
    }
    found
}

/// Identifiers joined by dots (`env.cleanup.schedule`), outside string literals.
fn dotted_paths(expression: &str) -> Vec<&str> {
    let mut paths = Vec::new();
    let bytes = expression.as_bytes();
    let mut i = 0;
    let mut quote: Option<u8> = None;
    while i < bytes.len() {
        let b = bytes[i];
        if let Some(q) = quote {
            if b == q {
                quote = None;
            }
            i += 1;
            continue;
        }
        if b == b'"' || b == b'\'' {
            quote = Some(b);
            i += 1;
            continue;
        }
        let starts = (b.is_ascii_alphabetic() || b == b'_')
            && (i == 0
                || !(bytes[i - 1].is_ascii_alphanumeric()
                    || bytes[i - 1] == b'_'
                    || bytes[i - 1] == b'.'));
        if !starts {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len()
            && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_' || bytes[i] == b'.')
        {
            i += 1;
        }
        let path = expression[start..i].trim_end_matches('.');
        if path.contains('.') {
            paths.push(path);
        }
    }
    paths
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
    fn an_undefined_attribute_behind_a_filter_is_named() {
        let templates = [Template {
            name: "t.yaml.j2".into(),
            text: "a: 1\nreplicas: {{ env.replica | json }} # \"x.y\"\n".into(),
        }];
        let ctx = map([(
            "env",
            map([("replicas", Value::from(2)), ("name", Value::from("x"))]),
        )]);
        let env = environment(&templates).map_err(|(_, e)| e).unwrap();
        let err = env
            .get_template("t.yaml.j2")
            .unwrap()
            .render(&ctx)
            .unwrap_err();
        assert_eq!(
            undefined_attribute(&err, &templates, &ctx).as_deref(),
            Some("`env.replica` is undefined; `env` has name, replicas")
        );
    }

    #[test]
    fn rendered_lines_are_traced_to_their_template_line() {
        let template = "kind: X\n{% if a %}\nspec:\n  replicas: {{ n }}\n  name: {{ x }}-{{ y }}\n{% endif %}\n";
        let rendered = "kind: X\nspec:\n  replicas: 2\n  name: a-b\n";
        assert_eq!(template_line(template, rendered, 1), Some(1));
        assert_eq!(template_line(template, rendered, 3), Some(4));
        assert_eq!(template_line(template, rendered, 4), Some(5));
        assert_eq!(template_line(template, "kind: X\n  other: 1\n", 2), None);
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
