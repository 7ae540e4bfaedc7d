//! Strict TOML parsing, the `[defaults]` overlay, and value checks with file:line:column.
//!
//! The raw structs keep each value's byte span so every check can point at the exact place in
//! the file the value came from (deploy.toml's `[defaults]` or the environment file).

use std::ops::Range;

use serde::Deserialize;
use toml::Spanned;

use super::source::{File, line_column};
use super::{
    App, Cleanup, DeclaredSecret, Environment, Error, Problem, ResourceList, Resources, Result,
    Retired,
};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDeploy {
    app: RawApp,
    #[serde(default)]
    defaults: Layer,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawApp {
    name: Spanned<String>,
    image_repository: Spanned<String>,
    github_repository: Spanned<String>,
    secret_name: Spanned<String>,
    #[serde(default)]
    secrets: Vec<RawSecret>,
    #[serde(default)]
    retire: Vec<RawRetire>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRetire {
    kind: Spanned<String>,
    name: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSecret {
    key: Spanned<String>,
    env: Spanned<String>,
    #[serde(default = "yes")]
    required: bool,
}

fn yes() -> bool {
    true
}

/// The keys an environment file may set, also accepted as `[defaults]` in deploy.toml.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Layer {
    namespace: Option<Spanned<String>>,
    replicas: Option<Spanned<i64>>,
    image_tag: Option<Spanned<String>>,
    kube_context: Option<Spanned<String>>,
    github_environment: Option<Spanned<String>>,
    termination_grace_period_seconds: Option<Spanned<i64>>,
    log_level: Option<Spanned<String>>,
    #[serde(default)]
    resources: RawResources,
    #[serde(default)]
    cleanup: RawCleanup,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawResources {
    #[serde(default)]
    requests: RawList,
    #[serde(default)]
    limits: RawList,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawList {
    cpu: Option<Spanned<String>>,
    memory: Option<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawCleanup {
    schedule: Option<Spanned<String>>,
    retention: Option<Spanned<String>>,
    batch_size: Option<Spanned<i64>>,
}

/// Collects every problem instead of stopping at the first.
struct Checker<'a> {
    deploy: &'a File,
    env_file: &'a File,
    problems: Vec<Problem>,
}

impl Checker<'_> {
    fn report(&mut self, file: &File, span: Range<usize>, message: String) {
        let (line, column) = line_column(&file.text, span.start);
        self.problems.push(Problem {
            file: file.display.clone(),
            line,
            column,
            message,
        });
    }

    /// A value from deploy.toml's `[app]`.
    fn app_value(
        &mut self,
        key: &str,
        value: &Spanned<String>,
        check: fn(&str) -> Option<String>,
    ) -> String {
        if let Some(why) = check(value.get_ref()) {
            self.report(self.deploy, value.span(), format!("`{key}` {why}"));
        }
        value.get_ref().clone()
    }

    /// The environment's value if set, else `[defaults]`'s, checked where it was written.
    fn layered<T: Clone>(
        &mut self,
        key: &str,
        env: Option<&Spanned<T>>,
        defaults: Option<&Spanned<T>>,
        check: impl Fn(&T) -> Option<String>,
    ) -> Option<T> {
        let (value, file) = match (env, defaults) {
            (Some(v), _) => (v, self.env_file),
            (None, Some(v)) => (v, self.deploy),
            (None, None) => {
                self.report(
                    self.env_file,
                    0..0,
                    format!(
                        "`{key}` is not set; set it in this file or under [defaults] in {}",
                        self.deploy.display
                    ),
                );
                return None;
            }
        };
        if let Some(why) = check(value.get_ref()) {
            self.report(file, value.span(), format!("`{key}` {why}"));
        }
        Some(value.get_ref().clone())
    }

    fn optional<T: Clone>(
        &mut self,
        key: &str,
        env: Option<&Spanned<T>>,
        defaults: Option<&Spanned<T>>,
        check: impl Fn(&T) -> Option<String>,
    ) -> Option<T> {
        if env.is_none() && defaults.is_none() {
            return None;
        }
        self.layered(key, env, defaults, check)
    }
}

/// Parses deploy.toml and one environment file into the typed configuration.
pub(super) fn parse(deploy: &File, env_file: &File, env_name: &str) -> Result<(App, Environment)> {
    let mut problems = Vec::new();
    let raw_deploy = strict::<RawDeploy>(deploy, &mut problems);
    let raw_env = strict::<Layer>(env_file, &mut problems);
    let (Some(raw_deploy), Some(raw_env)) = (raw_deploy, raw_env) else {
        return Err(Error::Invalid { problems });
    };
    let mut c = Checker {
        deploy,
        env_file,
        problems,
    };
    let app = check_app(&mut c, &raw_deploy.app);
    let env = check_environment(&mut c, env_name, &raw_env, &raw_deploy.defaults);
    match env {
        Some(env) if c.problems.is_empty() => Ok((app, env)),
        _ => Err(Error::Invalid {
            problems: c.problems,
        }),
    }
}

fn strict<T: for<'de> Deserialize<'de>>(file: &File, problems: &mut Vec<Problem>) -> Option<T> {
    match toml::from_str::<T>(&file.text) {
        Ok(value) => Some(value),
        Err(err) => {
            let (line, column) = line_column(&file.text, err.span().map_or(0, |s| s.start));
            let message = err.message().trim_end().replace('\n', "; ");
            let hint = if message.starts_with("unknown field") {
                " (check the spelling; the file is strict)"
            } else {
                ""
            };
            problems.push(Problem {
                file: file.display.clone(),
                line,
                column,
                message: format!("{message}{hint}"),
            });
            None
        }
    }
}

fn check_app(c: &mut Checker<'_>, raw: &RawApp) -> App {
    let mut secrets: Vec<DeclaredSecret> = Vec::new();
    for s in &raw.secrets {
        let key = c.app_value("key", &s.key, secret_key);
        let env = c.app_value("env", &s.env, env_var_name);
        if secrets.iter().any(|d| d.key == key) {
            c.report(
                c.deploy,
                s.key.span(),
                format!("secret key `{key}` is declared twice"),
            );
        }
        if secrets.iter().any(|d| d.env == env) {
            c.report(
                c.deploy,
                s.env.span(),
                format!("secret env `{env}` is declared twice"),
            );
        }
        secrets.push(DeclaredSecret {
            key,
            env,
            required: s.required,
        });
    }
    let mut retire: Vec<Retired> = Vec::new();
    for r in &raw.retire {
        let kind = c.app_value("kind", &r.kind, retire_kind);
        let name = c.app_value("name", &r.name, dns_subdomain);
        if retire.iter().any(|x| x.kind == kind && x.name == name) {
            c.report(
                c.deploy,
                r.name.span(),
                format!("{kind} `{name}` is listed twice under [[app.retire]]"),
            );
        }
        retire.push(Retired { kind, name });
    }
    App {
        name: c.app_value("name", &raw.name, dns_label),
        image_repository: c.app_value("image_repository", &raw.image_repository, image_repository),
        github_repository: c.app_value(
            "github_repository",
            &raw.github_repository,
            github_repository,
        ),
        secret_name: c.app_value("secret_name", &raw.secret_name, dns_subdomain),
        secrets,
        retire,
    }
}

fn check_environment(
    c: &mut Checker<'_>,
    name: &str,
    env: &Layer,
    def: &Layer,
) -> Option<Environment> {
    let namespace = c.layered(
        "namespace",
        env.namespace.as_ref(),
        def.namespace.as_ref(),
        |v| dns_label(v),
    );
    let replicas = c.layered(
        "replicas",
        env.replicas.as_ref(),
        def.replicas.as_ref(),
        |v| range(*v, 1, 100),
    );
    let image_tag = c.layered(
        "image_tag",
        env.image_tag.as_ref(),
        def.image_tag.as_ref(),
        |v| image_tag(v),
    );
    let kube_context = c.optional(
        "kube_context",
        env.kube_context.as_ref(),
        def.kube_context.as_ref(),
        |v| not_empty(v),
    );
    let github_environment = c.optional(
        "github_environment",
        env.github_environment.as_ref(),
        def.github_environment.as_ref(),
        |v| not_empty(v),
    );
    let grace = c.layered(
        "termination_grace_period_seconds",
        env.termination_grace_period_seconds.as_ref(),
        def.termination_grace_period_seconds.as_ref(),
        // serve's shutdown delay (5 s) and a drain of at least 3 s must fit, with 2 s to spare.
        |v| range(*v, 10, 3600),
    );
    let log_level = c.layered(
        "log_level",
        env.log_level.as_ref(),
        def.log_level.as_ref(),
        |v| not_empty(v),
    );
    let mut list = |prefix: &str, e: &RawList, d: &RawList| -> Option<ResourceList> {
        let cpu = c.layered(
            &format!("{prefix}.cpu"),
            e.cpu.as_ref(),
            d.cpu.as_ref(),
            |v| quantity(v),
        );
        let memory = c.layered(
            &format!("{prefix}.memory"),
            e.memory.as_ref(),
            d.memory.as_ref(),
            |v| quantity(v),
        );
        Some(ResourceList {
            cpu: cpu?,
            memory: memory?,
        })
    };
    let requests = list(
        "resources.requests",
        &env.resources.requests,
        &def.resources.requests,
    );
    let limits = list(
        "resources.limits",
        &env.resources.limits,
        &def.resources.limits,
    );
    let (ec, dc) = (&env.cleanup, &def.cleanup);
    let schedule = c.layered(
        "cleanup.schedule",
        ec.schedule.as_ref(),
        dc.schedule.as_ref(),
        |v| cron(v),
    );
    let retention = c.layered(
        "cleanup.retention",
        ec.retention.as_ref(),
        dc.retention.as_ref(),
        |v| duration(v),
    );
    let batch_size = c.layered(
        "cleanup.batch_size",
        ec.batch_size.as_ref(),
        dc.batch_size.as_ref(),
        |v| range(*v, 1, 100_000),
    );
    Some(Environment {
        name: name.to_owned(),
        namespace: namespace?,
        replicas: u32::try_from(replicas?).ok()?,
        image_tag: image_tag?,
        kube_context,
        github_environment: github_environment.unwrap_or_else(|| name.to_owned()),
        termination_grace_period_seconds: u32::try_from(grace?).ok()?,
        log_level: log_level?,
        resources: Resources {
            requests: requests?,
            limits: limits?,
        },
        cleanup: Cleanup {
            schedule: schedule?,
            retention: retention?,
            batch_size: u32::try_from(batch_size?).ok()?,
        },
    })
}

// Value checks: `None` when fine, else the reason, phrased to follow "`key` ".

fn not_empty(v: &str) -> Option<String> {
    v.trim().is_empty().then(|| "must not be empty".to_owned())
}

fn range(v: i64, min: i64, max: i64) -> Option<String> {
    (!(min..=max).contains(&v)).then(|| format!("is {v}; it must be between {min} and {max}"))
}

/// RFC 1123 label: namespaces, app names (also used as label values).
fn dns_label(v: &str) -> Option<String> {
    let ok = !v.is_empty()
        && v.len() <= 63
        && v.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !v.starts_with('-')
        && !v.ends_with('-');
    (!ok).then(|| {
        format!("is `{v}`; it must be at most 63 lowercase letters, digits or '-', starting and ending with a letter or digit")
    })
}

/// RFC 1123 subdomain: object names such as the Secret's.
fn dns_subdomain(v: &str) -> Option<String> {
    let ok = !v.is_empty() && v.len() <= 253 && v.split('.').all(|part| dns_label(part).is_none());
    (!ok).then(|| {
        format!("is `{v}`; it must be lowercase letters, digits, '-' and '.' (a DNS subdomain)")
    })
}

/// Kinds an `[[app.retire]]` entry may name: those gpt-deploy knows how to address.
fn retire_kind(v: &str) -> Option<String> {
    (!RETIRE_KINDS.contains(&v)).then(|| {
        format!(
            "is `{v}`; a retired object must be one of {}",
            RETIRE_KINDS.join(", ")
        )
    })
}

/// Kinds that may be retired (namespaced kinds of the old layout).
pub(crate) const RETIRE_KINDS: &[&str] = &[
    "ConfigMap",
    "CronJob",
    "Deployment",
    "HorizontalPodAutoscaler",
    "Ingress",
    "Job",
    "NetworkPolicy",
    "PodDisruptionBudget",
    "Secret",
    "Service",
    "ServiceAccount",
];

/// Keys of a Secret's `data`.
fn secret_key(v: &str) -> Option<String> {
    let ok = !v.is_empty()
        && v.len() <= 253
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b));
    (!ok).then(|| format!("is `{v}`; a Secret key may hold only letters, digits, '-', '.' and '_'"))
}

/// Both an environment variable and a GitHub secret name.
fn env_var_name(v: &str) -> Option<String> {
    let ok = v
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_uppercase() || b == b'_')
        && v.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
        && !v.starts_with("GITHUB_");
    (!ok).then(|| {
        format!("is `{v}`; it must be upper-case letters, digits and '_', not start with a digit or GITHUB_")
    })
}

fn image_repository(v: &str) -> Option<String> {
    let last = v.rsplit('/').next().unwrap_or(v);
    let ok = !v.is_empty()
        && !v.contains(char::is_whitespace)
        && !v.contains('@')
        && !last.contains(':')
        && v == v.to_lowercase();
    (!ok).then(|| format!("is `{v}`; give the lower-case repository without tag or digest, e.g. ghcr.io/owner/gpt-service"))
}

/// An image tag that is also a label value (see [`super::image::tag_problem`]).
fn image_tag(v: &str) -> Option<String> {
    super::image::tag_problem(v)
}

fn github_repository(v: &str) -> Option<String> {
    let part = |p: &str| {
        !p.is_empty()
            && p.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b))
    };
    let ok = matches!(v.split_once('/'), Some((owner, name)) if part(owner) && part(name));
    (!ok).then(|| format!("is `{v}`; it must be owner/name"))
}

/// A Kubernetes quantity such as `250m`, `1`, `0.5`, `256Mi` or `1e3`.
fn quantity(v: &str) -> Option<String> {
    const SUFFIXES: [&str; 14] = [
        "Ki", "Mi", "Gi", "Ti", "Pi", "Ei", "n", "u", "m", "k", "M", "G", "T", "P",
    ];
    let number_end = v
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(v.len());
    let (number, suffix) = v.split_at(number_end);
    let number_ok = !number.is_empty() && number != "." && number.matches('.').count() <= 1;
    let suffix_ok = suffix.is_empty()
        || SUFFIXES.contains(&suffix)
        || suffix == "E"
        || (suffix.len() > 1
            && (suffix.starts_with('e') || suffix.starts_with('E'))
            && suffix[1..].bytes().all(|b| b.is_ascii_digit()));
    (!(number_ok && suffix_ok))
        .then(|| format!("is `{v}`; give a Kubernetes quantity such as 250m, 1, 256Mi or 1Gi"))
}

/// A schedule the API server accepts for a CronJob (see [`super::cron`]).
fn cron(v: &str) -> Option<String> {
    super::cron::problem(v)
}

/// A duration the `cleanup` subcommand accepts, e.g. `30d` or `12h`.
fn duration(v: &str) -> Option<String> {
    match humantime::parse_duration(v) {
        Ok(d) if !d.is_zero() => None,
        Ok(_) => Some("must be longer than zero".to_owned()),
        Err(e) => Some(format!(
            "is `{v}` ({e}); give a duration such as 30d or 12h"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(display: &str, text: &str) -> File {
        File {
            display: display.to_owned(),
            text: text.to_owned(),
        }
    }

    const DEPLOY: &str = include_str!("../../deploy.toml");

    #[test]
    fn unknown_key_in_environment_names_file_line_and_column() {
        let env = file(
            "environments/x.toml",
            "namespace = \"a\"\nimage_tag = \"t\"\nreplica = 2\n",
        );
        let err = parse(&file("deploy.toml", DEPLOY), &env, "x").unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("invalid configuration: environments/x.toml:3:1: unknown field `replica`, expected one of"),
            "{text}"
        );
    }

    #[test]
    fn every_invalid_value_is_reported_with_its_place() {
        let env = file(
            "x.toml",
            "namespace = \"Bad_NS\"\nimage_tag = \"t\"\nreplicas = 0\n[cleanup]\nschedule = \"every hour\"\n",
        );
        let Error::Invalid { problems } =
            parse(&file("deploy.toml", DEPLOY), &env, "x").unwrap_err()
        else {
            panic!("expected Invalid");
        };
        let places: Vec<_> = problems.iter().map(|p| (p.line, p.column)).collect();
        assert_eq!(places, [(1, 13), (3, 12), (5, 12)], "{problems:#?}");
        assert!(problems[1].message.contains("`replicas` is 0"));
    }

    #[test]
    fn defaults_fill_in_and_environment_overrides() {
        let env = file(
            "x.toml",
            "namespace = \"ns\"\nimage_tag = \"v1\"\n[resources.limits]\ncpu = \"2\"\n",
        );
        let (app, env) = parse(&file("deploy.toml", DEPLOY), &env, "x").unwrap();
        assert_eq!(app.secrets.len(), 2);
        assert_eq!(env.replicas, 2);
        assert_eq!(env.resources.limits.cpu, "2");
        assert_eq!(env.resources.limits.memory, "256Mi");
        assert_eq!(env.github_environment, "x");
        assert_eq!(env.kube_context, None);
    }

    #[test]
    fn missing_key_points_at_the_environment_file() {
        let env = file("x.toml", "image_tag = \"v1\"\n");
        let err = parse(&file("deploy.toml", DEPLOY), &env, "x").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid configuration: x.toml:1:1: `namespace` is not set; set it in this file or under [defaults] in deploy.toml"
        );
    }

    #[test]
    fn value_checks() {
        assert!(quantity("250m").is_none());
        assert!(quantity("1.5Gi").is_none());
        assert!(quantity("1e3").is_none());
        assert!(quantity("lots").is_some());
        assert!(quantity("12XB").is_some());
        assert!(cron("0 */6 * * *").is_none());
        assert!(cron("@daily").is_none());
        assert!(cron("0 */6 * *").is_some());
        assert!(cron("61 * * * *").is_some());
        assert!(duration("30d").is_none());
        assert!(duration("30 parsecs").is_some());
        assert!(image_tag("3f2c1ab").is_none());
        assert!(image_tag("-bad").is_some());
        assert!(env_var_name("GITHUB_TOKEN").is_some());
        assert!(github_repository("owner/name").is_none());
        assert!(github_repository("owner").is_some());
    }
}
