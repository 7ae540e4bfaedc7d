//! The live objects against the render when secret values are not (all) at hand:
//! `gpt-deploy drift` (is the cluster still what `main` renders?), `diff --without-secret-values`
//! and `diff --comment`.
//!
//! Every object goes through the same unforced server-side dry run as `diff`. The render is
//! made again with each secret value from the process environment where there is one and
//! from the Secret version the live Deployment reads where there is not (`drift` reads
//! none): the Secret's versioned name, the references to it and the migration Job's name are
//! then exactly what a deploy would write, and an unknown value is neither shown as a change
//! nor overwritten. What can be said about the Secret's content is reported per key:
//! `unchanged` or `changed` (the value from the environment against the live one, compared
//! by keyed hash), or `not checked`; and whether the live version still holds the data its
//! name was made from (someone may have edited it in place).

use std::collections::HashSet;
use std::io::Write as _;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;

use super::apply::{self, Set};
use super::client;
use super::deploy::Context;
use super::diff::{colorize, object_diff, removal_diff};
use super::plan;
use super::preflight::{self, CheckOptions, Prepared, Problem};
use super::resources::ObjectId;
use super::{Error, Result, history, prune};
use crate::cli::{ClusterArgs, DiffArgs, DriftArgs};
use crate::github;
use crate::render::{Object, PLACEHOLDER, SecretValues, is_version, version_name};
use crate::report::markdown::{Fitter, details, html_escape};
use crate::secret::{KeyedHash, Redactor, SecretString};
use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;

/// How a live object differs from the render.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Drift {
    /// Rendered, not in the cluster.
    Missing,
    /// In the cluster, different.
    Changed,
    /// Another field manager changed a field the render sets.
    Conflict,
    /// A member of the set that is no longer rendered.
    Extra,
}

impl Drift {
    /// One word for lists and tables.
    #[must_use]
    pub(crate) fn word(self) -> &'static str {
        match self {
            Drift::Missing => "missing",
            Drift::Changed => "changed",
            Drift::Conflict => "changed by another manager",
            Drift::Extra => "no longer rendered",
        }
    }
}

/// One object that differs.
#[derive(Debug, Clone)]
pub(crate) struct Difference {
    /// Which object.
    pub(crate) id: ObjectId,
    /// How.
    pub(crate) drift: Drift,
    /// More to say (who owns the conflicting fields).
    pub(crate) note: Option<String>,
    /// Unified diff, live against the dry run, secret values masked.
    pub(crate) diff: String,
}

/// What is known about one key of the Secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyCheck {
    /// The value in the environment equals the live one.
    Unchanged,
    /// The value in the environment differs from the live one.
    Changed,
    /// No value in the environment: the live value is kept and not compared.
    NotChecked,
    /// Neither a value in the environment nor a live key.
    Absent,
}

/// The Secret's content, as far as it can be known without (all) values.
#[derive(Debug, Clone)]
pub(crate) struct SecretCheck {
    /// The Secret's name.
    pub(crate) name: String,
    /// Each declared key and what is known about it, in declaration order.
    pub(crate) keys: Vec<(String, KeyCheck)>,
    /// Whether the live Secret still has the content the live pods were started with
    /// (`None` when there is no live Deployment or no live Secret to compare).
    pub(crate) matches_pods: Option<bool>,
}

impl SecretCheck {
    /// Whether the content differs by what is known.
    #[must_use]
    pub(crate) fn differs(&self) -> bool {
        self.matches_pods == Some(false) || self.keys.iter().any(|(_, c)| *c == KeyCheck::Changed)
    }

    /// One line for people, e.g. `Secret gpt-secrets: content unchanged (database-url); not
    /// checked: clerk-webhook-secret (no value in the environment)`.
    #[must_use]
    pub(crate) fn line(&self) -> String {
        let with = |check: KeyCheck| -> Vec<&str> {
            self.keys
                .iter()
                .filter(|(_, c)| *c == check)
                .map(|(k, _)| k.as_str())
                .collect()
        };
        let mut parts = Vec::new();
        let changed = with(KeyCheck::Changed);
        let unchanged = with(KeyCheck::Unchanged);
        if !changed.is_empty() {
            parts.push(format!("content changed ({})", changed.join(", ")));
        }
        if !unchanged.is_empty() {
            parts.push(format!("content unchanged ({})", unchanged.join(", ")));
        }
        let unchecked = with(KeyCheck::NotChecked);
        if !unchecked.is_empty() {
            parts.push(format!(
                "not checked: {} (no value in the environment)",
                unchecked.join(", ")
            ));
        }
        let absent = with(KeyCheck::Absent);
        if !absent.is_empty() {
            parts.push(format!(
                "missing: {} (not in the cluster and no value in the environment)",
                absent.join(", ")
            ));
        }
        match self.matches_pods {
            Some(false) => parts.push(
                "the live data differs from what the running pods were started with (changed after the last deploy)"
                    .to_owned(),
            ),
            Some(true) => parts.push("the running pods were started with this content".to_owned()),
            None => {}
        }
        format!("Secret {}: {}", self.name, parts.join("; "))
    }
}

/// The whole comparison.
#[derive(Debug, Clone)]
pub(crate) struct Comparison {
    /// Environment name.
    pub(crate) environment: String,
    /// Namespace.
    pub(crate) namespace: String,
    /// The image tag the render used.
    pub(crate) image_tag: String,
    /// Every object that differs.
    pub(crate) differences: Vec<Difference>,
    /// The Secret's content check.
    pub(crate) secret: Option<SecretCheck>,
    /// How many objects were rendered (and compared).
    pub(crate) rendered: usize,
}

impl Comparison {
    /// Whether anything differs.
    #[must_use]
    pub(crate) fn differs(&self) -> bool {
        !self.differences.is_empty() || self.secret.as_ref().is_some_and(SecretCheck::differs)
    }
}

/// How [`compare`] treats what it finds.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CompareOptions {
    /// Also report members of the set that are no longer rendered.
    pub(crate) prune: bool,
    /// A conflict with another field manager is a difference (drift) instead of an error.
    pub(crate) conflicts_are_differences: bool,
    /// Migration Jobs are no difference (`drift`, `status`), whether one rendered is not in
    /// the cluster or one in the cluster is no longer rendered: each is a one-off, deleted
    /// after its TTL or by the next deploy's prune, and a rollback runs none.
    pub(crate) jobs_are_one_off: bool,
}

/// Each declared key and what is known about it.
type KeyChecks = Vec<(String, KeyCheck)>;

/// The secret values to render with: each from `values` where present, else the live
/// Secret's, and per key what is known (the value in the environment against the live one).
fn fill_values(
    declared: &[crate::config::DeclaredSecret],
    values: &SecretValues,
    live: Option<&Value>,
    hasher: &KeyedHash,
) -> (SecretValues, KeyChecks) {
    let live_data = live.and_then(|l| l["data"].as_object());
    let mut filled = SecretValues::empty();
    let mut checks = Vec::new();
    for secret in declared {
        let live_value = live_data
            .and_then(|d| d.get(&secret.key))
            .and_then(Value::as_str);
        let check = match (values.get(&secret.env), live_value) {
            (Some(v), Some(l)) => {
                filled.insert(&secret.env, v.clone());
                let ours = STANDARD.encode(v.expose());
                if hasher.fingerprint(ours.as_bytes()) == hasher.fingerprint(l.as_bytes()) {
                    KeyCheck::Unchanged
                } else {
                    KeyCheck::Changed
                }
            }
            (Some(v), None) => {
                filled.insert(&secret.env, v.clone());
                KeyCheck::Changed
            }
            (None, Some(l)) => {
                // The live value goes back unchanged, so the version name stays the live one.
                if let Some(text) = STANDARD
                    .decode(l)
                    .ok()
                    .and_then(|bytes| String::from_utf8(bytes).ok())
                {
                    filled.insert(&secret.env, SecretString::new(text));
                }
                KeyCheck::NotChecked
            }
            (None, None) => KeyCheck::Absent,
        };
        checks.push((secret.key.clone(), check));
    }
    (filled, checks)
}

/// Drops the placeholder of a value that is neither in the environment nor in the cluster
/// from the rendered Secrets (the server would refuse it as base64).
fn drop_placeholders(objects: &mut [Object]) {
    for object in objects.iter_mut().filter(|o| o.kind == "Secret") {
        if let Some(data) = object.value["data"].as_object_mut() {
            data.retain(|_, v| v.as_str() != Some(PLACEHOLDER));
        }
    }
}

/// The Secret the live Deployment reads (the unversioned one or a version of it), with its
/// name, when both exist.
pub(crate) async fn live_secret(
    ctx: &Context,
    prepared: &[Prepared],
) -> Result<Option<(String, Value)>> {
    let base = &ctx.plan.config.app.secret_name;
    let Some(deployment) = prepared.iter().find(|p| p.id.kind == "Deployment") else {
        return Ok(None);
    };
    let Some(live) = preflight::read_live(&ctx.cluster, deployment).await? else {
        return Ok(None);
    };
    let Some(name) = history::referenced_secrets([&live])
        .into_iter()
        .find(|n| n == base || is_version(base, n))
    else {
        return Ok(None);
    };
    let namespace = &ctx.plan.namespace;
    let api: Api<Secret> = Api::namespaced(ctx.cluster.client.clone(), namespace);
    let found = client::retry(|| api.get_opt(&name)).await.map_err(|e| {
        client::api_error(
            format!("read Secret {namespace}/{name}"),
            &name,
            e,
            &ctx.cluster.server,
        )
    })?;
    Ok(found.map(|secret| (name, serde_json::to_value(&secret).unwrap_or(Value::Null))))
}

/// Whether a live Secret version still holds the data its name was made from (`None` for
/// the unversioned Secret, whose name says nothing about its data).
fn holds_its_version(
    name: &str,
    live: &Value,
    declared: &[crate::config::DeclaredSecret],
) -> Option<bool> {
    let base = crate::render::version_base(name)?;
    let entries: Vec<(&str, &str)> = declared
        .iter()
        .filter_map(|d| Some((d.key.as_str(), live["data"][&d.key].as_str()?)))
        .collect();
    Some(version_name(base, entries) == name)
}

/// Compares the live objects with the plan (see the module documentation). Nothing is written.
///
/// # Errors
/// API errors, and preflight problems other than conflicts (and conflicts too unless
/// `conflicts_are_differences`).
pub(crate) async fn compare(
    ctx: &Context,
    values: &SecretValues,
    options: CompareOptions,
) -> Result<Comparison> {
    let plan = &ctx.plan;
    let cluster = &ctx.cluster;
    let namespace_exists = preflight::namespace_exists(cluster, &plan.namespace).await?;
    let set = Set::new(&plan.app_name, &plan.namespace);
    let mut prepared = preflight::prepare_all(cluster, &set.id, &plan.objects).await?;
    let mut secret = None;
    if prepared.iter().any(|p| p.id.kind == "Secret") {
        let (with_values, check) =
            with_secret_values(ctx, &set, &prepared, values, namespace_exists).await?;
        prepared = with_values;
        secret = Some(check);
    }
    let mut differences = if namespace_exists {
        live_differences(cluster, &prepared, options).await?
    } else {
        prepared
            .iter()
            .filter_map(|p| {
                object_diff(&p.id, None, &p.body).map(|diff| Difference {
                    id: p.id.clone(),
                    drift: Drift::Missing,
                    note: None,
                    diff,
                })
            })
            .collect()
    };
    if options.prune && namespace_exists {
        differences.extend(extras(ctx, &set, &prepared, options).await?);
    }
    Ok(Comparison {
        environment: plan.environment.clone(),
        namespace: plan.namespace.clone(),
        image_tag: plan.image_tag.clone(),
        differences,
        secret,
        rendered: plan.objects.len(),
    })
}

/// The objects prepared again from a render with the secret values filled in (the
/// environment's, else the live Secret's), and what is known about the Secret.
async fn with_secret_values(
    ctx: &Context,
    set: &Set,
    prepared: &[Prepared],
    values: &SecretValues,
    namespace_exists: bool,
) -> Result<(Vec<Prepared>, SecretCheck)> {
    let plan = &ctx.plan;
    let declared = &plan.config.app.secrets;
    let live = if namespace_exists {
        live_secret(ctx, prepared).await?
    } else {
        None
    };
    let hasher = KeyedHash::random();
    let (filled, keys) = fill_values(declared, values, live.as_ref().map(|(_, v)| v), &hasher);
    // Rendered again with the values filled in: the Secret's version name, the
    // references to it and the migration Job's name are then what a deploy with the
    // environment's values (and the live ones for the rest) would write.
    let render_options = crate::render::RenderOptions {
        image_tag: Some(plan.image_tag.clone()),
        secrets: filled,
    };
    let rendered =
        crate::render::render(&plan.config, &render_options).map_err(|e| Error::Render {
            env: plan.environment.clone(),
            source: Box::new(e),
        })?;
    let mut objects = rendered.objects;
    drop_placeholders(&mut objects);
    let prepared = preflight::prepare_all(&ctx.cluster, &set.id, &objects).await?;
    let name = prepared
        .iter()
        .find(|p| p.id.kind == "Secret")
        .map(|p| p.id.name.clone())
        .unwrap_or_default();
    let check = SecretCheck {
        name,
        keys,
        matches_pods: live
            .as_ref()
            .and_then(|(name, v)| holds_its_version(name, v, declared)),
    };
    Ok((prepared, check))
}

/// Each rendered object that differs from its live copy (or has none), as the server
/// would merge it.
///
/// # Errors
/// API errors; preflight problems other than conflicts (and conflicts too unless
/// `conflicts_are_differences`).
async fn live_differences(
    cluster: &client::Cluster,
    prepared: &[Prepared],
    options: CompareOptions,
) -> Result<Vec<Difference>> {
    let check = CheckOptions {
        force_conflicts: false,
        replace_immutable: true,
    };
    let mut differences = Vec::new();
    let mut problems = Vec::new();
    for p in prepared {
        let checked = preflight::check_one(cluster, p, check).await?;
        if options.jobs_are_one_off && p.id.kind == "Job" && checked.live.is_none() {
            continue;
        }
        let (drift, note, merged) = match checked.problem {
            None => {
                let drift = if checked.live.is_some() {
                    Drift::Changed
                } else {
                    Drift::Missing
                };
                (
                    drift,
                    None,
                    checked.merged.unwrap_or_else(|| p.body.clone()),
                )
            }
            Some(Problem::Conflict { object, conflicts }) if options.conflicts_are_differences => {
                // What the object would be if the render took its fields back: a forced dry run.
                let forced = apply::Options {
                    dry_run: true,
                    force_conflicts: true,
                    prune: false,
                };
                let merged = apply::apply_one(cluster, &p.id, &p.resource, &p.body, forced).await?;
                let note = client::format_conflicts(&object, &conflicts);
                (Drift::Conflict, Some(note), merged)
            }
            Some(problem) => {
                problems.push(problem);
                continue;
            }
        };
        if let Some(diff) = object_diff(&p.id, checked.live.as_ref(), &merged) {
            differences.push(Difference {
                id: p.id.clone(),
                drift,
                note,
                diff,
            });
        }
    }
    if problems.is_empty() {
        Ok(differences)
    } else {
        Err(Error::Preflight { problems })
    }
}

/// Members of the set that are no longer rendered and a deploy would prune.
async fn extras(
    ctx: &Context,
    set: &Set,
    prepared: &[Prepared],
    options: CompareOptions,
) -> Result<Vec<Difference>> {
    let cluster = &ctx.cluster;
    let plan = &ctx.plan;
    let parent = apply::read_parent(cluster, set).await?;
    if !parent.exists {
        return Ok(Vec::new());
    }
    let members =
        prune::list_members(cluster, &set.namespace, &set.id, &parent.group_kinds).await?;
    let rendered: HashSet<ObjectId> = prepared.iter().map(|p| p.id.clone()).collect();
    let recent = super::versions::recent(cluster, &plan.app_name, &plan.namespace).await?;
    let (delete, _kept) = prune::candidates(&members, &rendered, &recent);
    Ok(delete
        .into_iter()
        .filter(|id| !(options.jobs_are_one_off && id.kind == "Job"))
        .filter_map(|id| {
            let diff = removal_diff(&id, &members[&id])?;
            Some(Difference {
                id,
                drift: Drift::Extra,
                note: None,
                diff,
            })
        })
        .collect())
}

/// Renders without requiring the secrets, then connects.
async fn context_without_secrets(args: &ClusterArgs) -> Result<Context> {
    let plan = plan::load(args)?;
    let target = args.target.client_target(plan.kube_context.as_deref());
    let cluster = client::connect(&target).await?;
    Ok(Context {
        plan,
        cluster,
        image_kept: false,
        previous_image: None,
    })
}

/// Text for a terminal or a log: the Secret line, each diff (with its note), a last line.
fn text(comparison: &Comparison, redactor: &Redactor, colour: bool, last: &str) -> String {
    let mut out = String::new();
    if let Some(secret) = &comparison.secret {
        out.push_str(&secret.line());
        out.push('\n');
    }
    for d in &comparison.differences {
        if let Some(note) = &d.note {
            out.push_str(&format!("{}: {}\n", d.id, note));
        }
        let diff = redactor.redact(&d.diff);
        out.push_str(&if colour { colorize(&diff) } else { diff });
    }
    out.push_str(last);
    out.push('\n');
    out
}

/// Markdown for a comment or an issue: a heading, the Secret line, a table, a block per diff.
fn markdown(
    comparison: &Comparison,
    redactor: &Redactor,
    heading: &str,
    marker: &str,
    limit: Option<usize>,
) -> String {
    let mut head = format!(
        "{marker}\n### {heading}\n\nNamespace `{}`, image tag `{}`.\n\n",
        comparison.namespace, comparison.image_tag
    );
    if let Some(secret) = &comparison.secret {
        head.push_str(&format!("- {}\n\n", secret.line()));
    }
    if comparison.differences.is_empty() {
        head.push_str("No object differs.\n");
    } else {
        head.push_str("| Object | Difference |\n|---|---|\n");
        for d in &comparison.differences {
            head.push_str(&format!("| `{}` | {} |\n", d.id, d.drift.word()));
        }
        head.push('\n');
    }
    let mut fitter = Fitter::new(&head, limit);
    for d in &comparison.differences {
        let summary = format!(
            "{} <code>{}</code>{}",
            d.drift.word(),
            html_escape(&d.id.to_string()),
            d.note
                .as_ref()
                .map(|n| format!(": {}", html_escape(n)))
                .unwrap_or_default()
        );
        let short = format!("- {} `{}` (diff left out)\n", d.drift.word(), d.id);
        fitter.block(&details(&summary, &redactor.redact(&d.diff)), &short);
    }
    let at = crate::preview::run_url().map(|url| format!("the [job summary]({url})"));
    fitter.finish(at.as_deref())
}

fn write_stdout(text: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(Error::Output)
}

fn github_error(action: &'static str) -> impl FnOnce(github::Error) -> Error {
    move |e| Error::Github {
        action,
        code: crate::Failure::exit_code(&e),
        source: Box::new(e),
    }
}

/// The counts of `diff`'s last line.
fn diff_tally(comparison: &Comparison) -> super::diff::Tally {
    let count = |drift: Drift| {
        comparison
            .differences
            .iter()
            .filter(|d| d.drift == drift)
            .count()
    };
    let created = count(Drift::Missing);
    let changed = count(Drift::Changed) + count(Drift::Conflict);
    super::diff::Tally {
        created,
        changed,
        unchanged: comparison.rendered.saturating_sub(created + changed),
        pruned: count(Drift::Extra),
        retired: 0,
    }
}

/// `diff --without-secret-values` and `diff --comment`: the live diff, the Secret's content
/// check, and the comment on the pull request.
///
/// # Errors
/// Render, cluster and GitHub errors.
pub(crate) async fn run_diff(args: &DiffArgs) -> Result<u8> {
    let ctx = context_without_secrets(&args.cluster).await?;
    if !args.without_secret_values {
        ctx.plan.require_secrets()?;
    }
    let target = if args.comment {
        Some(comment_target(args.pr, &ctx)?)
    } else {
        None
    };
    let values = SecretValues::from_process_env(&ctx.plan.config);
    let options = CompareOptions {
        prune: !args.no_prune,
        conflicts_are_differences: false,
        jobs_are_one_off: false,
    };
    let comparison = compare(&ctx, &values, options).await?;
    let colour = crate::report::colour_stdout();
    let last = diff_tally(&comparison).line(options.prune);
    write_stdout(&text(&comparison, &ctx.plan.redactor, colour, &last))?;
    let heading = format!("Live diff: `{}`", comparison.environment);
    let marker = format!("<!-- gpt-deploy:diff:{} -->", comparison.environment);
    crate::preview::append_step_summary(&markdown(
        &comparison,
        &ctx.plan.redactor,
        &heading,
        &marker,
        None,
    ));
    if let Some((client, number)) = target {
        let body = markdown(
            &comparison,
            &ctx.plan.redactor,
            &heading,
            &marker,
            Some(github::issues::BODY_LIMIT),
        );
        let outcome =
            github::issues::upsert_comment(&client, number, &marker, &body, comparison.differs())
                .await
                .map_err(github_error("write the pull-request comment"))?;
        report_comment(&outcome, number);
    }
    Ok(if comparison.differs() {
        crate::exit::DIFFERENCES
    } else {
        crate::exit::OK
    })
}

fn report_comment(outcome: &github::issues::CommentOutcome, number: u64) {
    use github::issues::CommentOutcome;
    match outcome {
        CommentOutcome::Created { url } => {
            eprintln!("posted the diff on pull request #{number}: {url}");
        }
        CommentOutcome::Updated { url } => {
            eprintln!("updated the diff on pull request #{number}: {url}");
        }
        CommentOutcome::Skipped => {
            eprintln!(
                "no difference and no earlier diff on pull request #{number}: nothing posted"
            );
        }
    }
}

/// The GitHub client and pull request number for `--comment`.
fn comment_target(pr: Option<u64>, ctx: &Context) -> Result<(github::Client, u64)> {
    let number = crate::preview::pull_request_number(pr).map_err(|e| Error::Usage {
        message: crate::report::with_causes(&e),
    })?;
    Ok((github_client(ctx, None)?, number))
}

fn github_client(ctx: &Context, repo: Option<&str>) -> Result<github::Client> {
    let repo = github::resolve_repo(
        repo,
        std::env::var("GITHUB_REPOSITORY").ok().as_deref(),
        Some(ctx.plan.config.app.github_repository.as_str()),
    )
    .map_err(github_error("reach GitHub"))?;
    github::client_from_env(repo).map_err(github_error("reach GitHub"))
}

/// The image the cluster should run, found as `apply` finds the image it keeps (the release
/// record, else the live Deployment); `None` when the render's default is that image.
async fn deployed_image(args: &ClusterArgs) -> Result<Option<String>> {
    let ctx = context_without_secrets(args).await?;
    let Some(running) = super::kept_image::running(&ctx.cluster, &ctx.plan).await? else {
        return Ok(None);
    };
    Ok(match super::kept_image::keep(&running, &ctx.plan) {
        super::kept_image::Keep::Render(image) => Some(image),
        super::kept_image::Keep::Same | super::kept_image::Keep::Cannot => None,
    })
}

/// `gpt-deploy drift`: exit 0 when the cluster matches what the configuration renders, 1 when
/// it has drifted; with `--issue`, keeps the environment's drift issue in step.
///
/// # Errors
/// Render, cluster and GitHub errors.
pub(crate) async fn run_drift(args: &DriftArgs) -> Result<u8> {
    let mut cluster_args = args.cluster.clone();
    if cluster_args.image.is_none() {
        cluster_args.image = deployed_image(&args.cluster).await?;
    }
    let ctx = context_without_secrets(&cluster_args).await?;
    // Everything about GitHub is checked before the cluster is compared.
    let client = if args.issue {
        Some(github_client(&ctx, args.repo.as_deref())?)
    } else {
        None
    };
    let options = CompareOptions {
        prune: true,
        conflicts_are_differences: true,
        jobs_are_one_off: true,
    };
    let comparison = compare(&ctx, &SecretValues::empty(), options).await?;
    let env = &comparison.environment;
    let last = if comparison.differs() {
        format!(
            "{env} has drifted: {} object(s) differ from what the configuration renders",
            comparison.differences.len()
        )
    } else {
        format!("{env} is in sync with what the configuration renders")
    };
    let colour = crate::report::colour_stdout();
    write_stdout(&text(&comparison, &ctx.plan.redactor, colour, &last))?;
    let heading = format!("Drift in `{env}`");
    let marker = format!("<!-- gpt-deploy:drift:{env} -->");
    let full = markdown(&comparison, &ctx.plan.redactor, &heading, &marker, None);
    crate::preview::append_step_summary(&full);
    if let Some(client) = client {
        let title = format!("Drift in {env}");
        let body = comparison.differs().then(|| {
            markdown(
                &comparison,
                &ctx.plan.redactor,
                &heading,
                &marker,
                Some(github::issues::BODY_LIMIT),
            )
        });
        let closing = format!(
            "{marker}\nThe cluster is back in sync with what the configuration renders (namespace `{}`, image tag `{}`); closing.",
            comparison.namespace, comparison.image_tag
        );
        let outcome = github::issues::sync_issue(&client, &title, body.as_deref(), &closing)
            .await
            .map_err(github_error("update the drift issue"))?;
        use github::issues::IssueOutcome;
        match outcome {
            IssueOutcome::Opened { number, url } => eprintln!("opened issue #{number}: {url}"),
            IssueOutcome::Updated { number, url } => eprintln!("updated issue #{number}: {url}"),
            IssueOutcome::Closed { number, url } => eprintln!("closed issue #{number}: {url}"),
            IssueOutcome::NothingOpen => {}
        }
    }
    Ok(if comparison.differs() {
        crate::exit::DIFFERENCES
    } else {
        crate::exit::OK
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DeclaredSecret;
    use crate::render::PLACEHOLDER;
    use crate::secret::SecretString;
    use serde_json::json;

    fn declared() -> Vec<DeclaredSecret> {
        ["a", "b", "c"]
            .iter()
            .map(|k| DeclaredSecret {
                key: (*k).to_owned(),
                env: k.to_uppercase(),
                required: true,
            })
            .collect()
    }

    #[test]
    fn values_are_filled_from_the_environment_then_the_live_object() {
        let hasher = KeyedHash::random();
        let mut values = SecretValues::empty();
        values.insert("A", SecretString::new("same"));
        values.insert("B", SecretString::new("new"));
        let live = json!({"data": {"a": STANDARD.encode("same"), "b": STANDARD.encode("old"),
                                    "c": STANDARD.encode("kept")}});
        let (filled, keys) = fill_values(&declared(), &values, Some(&live), &hasher);
        assert_eq!(
            keys,
            [
                ("a".to_owned(), KeyCheck::Unchanged),
                ("b".to_owned(), KeyCheck::Changed),
                ("c".to_owned(), KeyCheck::NotChecked)
            ]
        );
        assert_eq!(filled.get("C").map(SecretString::expose), Some("kept"));
        assert_eq!(filled.get("B").map(SecretString::expose), Some("new"));
        // Without a live Secret and without values, keys are absent.
        let (filled, keys) = fill_values(&declared(), &SecretValues::empty(), None, &hasher);
        assert!(keys.iter().all(|(_, c)| *c == KeyCheck::Absent));
        assert_eq!(filled, SecretValues::empty());
        let secret = json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "s", "namespace": "ns"}, "data": {"a": PLACEHOLDER, "b": "Yg=="}});
        let mut objects = vec![plan::object_from_value(secret, "test").unwrap()];
        drop_placeholders(&mut objects);
        assert_eq!(objects[0].value["data"], json!({"b": "Yg=="}));
    }

    #[test]
    fn a_version_edited_in_place_no_longer_matches_its_name() {
        let data = [("a", STANDARD.encode("x")), ("b", STANDARD.encode("y"))];
        let name = version_name("s", data.iter().map(|(k, v)| (*k, v.as_str())));
        let declared: Vec<DeclaredSecret> = declared().into_iter().take(2).collect();
        let live = json!({"data": {"a": data[0].1, "b": data[1].1}});
        assert_eq!(holds_its_version(&name, &live, &declared), Some(true));
        let edited = json!({"data": {"a": data[0].1, "b": STANDARD.encode("z")}});
        assert_eq!(holds_its_version(&name, &edited, &declared), Some(false));
        assert_eq!(holds_its_version("s", &live, &declared), None);
    }

    #[test]
    fn lines_say_what_is_known() {
        let check = SecretCheck {
            name: "s".into(),
            keys: vec![
                ("a".into(), KeyCheck::Unchanged),
                ("b".into(), KeyCheck::NotChecked),
            ],
            matches_pods: Some(true),
        };
        assert_eq!(
            check.line(),
            "Secret s: content unchanged (a); not checked: b (no value in the environment); the running pods were started with this content"
        );
        assert!(!check.differs());
        let changed = SecretCheck {
            matches_pods: Some(false),
            ..check
        };
        assert!(changed.differs());
    }
}
