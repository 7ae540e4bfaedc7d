//! `apply` and `deploy`: preflight, the phases of the apply, the wait, prune, retire, and
//! the report of what happened.

use std::time::Duration;

use super::apply::{self, Options, Outcome, Set};
use super::client::{self, Cluster};
use super::outcome::{self, Run};
use super::plan::{self, Plan};
use super::preflight::{CheckOptions, Checked, Prepared};
use super::resources::ObjectId;
use super::summary::{Action, ObjectChange, RolloutResult};
use super::{
    Error, Result, cancel, history, migration, preflight, replace, retire, revert, rollout,
};
use crate::cli::{ApplyArgs, ClusterArgs, DeployArgs};
use crate::report::{self, Progress};
use crate::secret::Redactor;

/// A rendered plan plus a connected cluster: the start of every cluster command.
pub(crate) struct Context {
    /// What will be applied.
    pub(crate) plan: Plan,
    /// Where.
    pub(crate) cluster: Cluster,
    /// No `--image`, and the plan renders the image already running.
    pub(crate) image_kept: bool,
    /// The image running before this run (release record, else live Deployment), if any.
    pub(crate) previous_image: Option<super::kept_image::Running>,
}

impl Context {
    /// Renders (stopping on missing secrets before any network access), then connects.
    ///
    /// # Errors
    /// Render errors, missing secrets, kubeconfig problems.
    pub(crate) async fn prepare(args: &ClusterArgs) -> Result<Self> {
        let mut plan = plan::load(args)?;
        plan.require_secrets()?;
        let target = args.target.client_target(plan.kube_context.as_deref());
        let cluster = client::connect(&target).await?;
        tracing::debug!(server = %cluster.server, source = %cluster.source, "connected");
        let previous_image = super::kept_image::running(&cluster, &plan).await?;
        let mut image_kept = false;
        if args.image.is_none()
            && let Some(running) = &previous_image
        {
            image_kept = match super::kept_image::keep(running, &plan) {
                super::kept_image::Keep::Same => true,
                super::kept_image::Keep::Render(image) => {
                    let mut keeping = args.clone();
                    keeping.image = Some(image);
                    plan = plan::load(&keeping)?;
                    true
                }
                super::kept_image::Keep::Cannot => false,
            };
        }
        Ok(Self {
            plan,
            cluster,
            image_kept,
            previous_image,
        })
    }
}

/// What one run should do.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Steps {
    pub(crate) options: Options,
    pub(crate) check: CheckOptions,
    pub(crate) create_namespace: bool,
    pub(crate) wait: Option<Duration>,
    /// What the release history records as the command.
    pub(crate) origin: history::Origin,
    /// Restore the previous Deployment when the rollout fails.
    pub(crate) rollback: bool,
}

/// What one run did.
#[derive(Debug, Default)]
pub(crate) struct Done {
    pub(crate) outcome: Outcome,
    pub(crate) rollout: Option<RolloutResult>,
    /// The revision this run records, from its first write on.
    pub(crate) revision: Option<history::Recorder>,
}

/// `gpt-deploy apply`.
///
/// # Errors
/// Preflight, apply or rollout errors.
pub(crate) async fn run_apply(args: &ApplyArgs) -> Result<u8> {
    cancel::listen();
    let mut run = Run::start("apply", &args.cluster.target.env, args.dry_run, args.output);
    let mut done = Done::default();
    let mut redactor = Redactor::default();
    let mut waited = false;
    let result = async {
        let ctx = Context::prepare(&args.cluster).await?;
        redactor = ctx.plan.redactor.clone();
        run.connected(&ctx);
        let steps = Steps {
            options: Options {
                dry_run: args.dry_run,
                force_conflicts: args.force_conflicts,
                prune: args.prune,
            },
            check: CheckOptions {
                force_conflicts: args.force_conflicts,
                replace_immutable: args.replace_immutable,
            },
            create_namespace: args.create_namespace,
            wait: (args.wait && !args.dry_run).then_some(outcome::wait_limit(args.timeout)),
            origin: history::Origin::Apply,
            rollback: false,
        };
        waited = steps.wait.is_some();
        execute(&ctx, steps, &mut done).await
    }
    .await
    .map_err(|e| redact(e, &redactor));
    history::settle(done.revision.take(), &result, waited).await;
    run.finish(
        changes(&done.outcome),
        done.rollout.clone(),
        result.as_ref().err().map(error_text),
    );
    result.map(|()| crate::exit::OK)
}

/// `gpt-deploy deploy`.
///
/// # Errors
/// Preflight, apply or rollout errors.
pub(crate) async fn run_deploy(args: &DeployArgs) -> Result<u8> {
    cancel::listen();
    let mut run = Run::start(
        "deploy",
        &args.cluster.target.env,
        args.dry_run,
        args.output,
    );
    let mut done = Done::default();
    let mut redactor = Redactor::default();
    let result = async {
        let ctx = Context::prepare(&args.cluster).await?;
        redactor = ctx.plan.redactor.clone();
        if args.check_github_secrets {
            preflight::check_github_secrets(&ctx.plan).await?;
        }
        run.connected(&ctx);
        let steps = Steps {
            options: Options {
                dry_run: args.dry_run,
                force_conflicts: args.force_conflicts,
                prune: !args.no_prune,
            },
            check: CheckOptions {
                force_conflicts: args.force_conflicts,
                replace_immutable: args.replace_immutable,
            },
            create_namespace: args.create_namespace,
            wait: (!args.no_wait && !args.dry_run).then_some(outcome::wait_limit(args.timeout)),
            origin: history::Origin::Deploy,
            rollback: !args.no_rollback,
        };
        execute(&ctx, steps, &mut done).await
    }
    .await
    .map_err(|e| redact(e, &redactor));
    history::settle(done.revision.take(), &result, !args.no_wait).await;
    if matches!(result, Err(Error::RolledBack { .. })) {
        run.rolled_back();
    }
    run.finish(
        changes(&done.outcome),
        done.rollout.clone(),
        result.as_ref().err().map(error_text),
    );
    result.map(|()| crate::exit::OK)
}

/// Prints one result line, e.g. `deployment.apps/gpt-service configured (adopted from …)`.
fn say(id: &ObjectId, action: Action, note: Option<&str>, suffix: &str) {
    let note = note.map(|n| format!(" ({n})")).unwrap_or_default();
    report::line(&format!("{} {}{suffix}{note}", id.short(), action.verb()));
}

/// A Service whose live selector differs from the rendered one: switching it before the
/// new pods are ready would leave it without endpoints, so it is applied after the wait.
fn switches_selector(prepared: &Prepared, checked: &Checked) -> bool {
    prepared.id.kind == "Service"
        && checked
            .live
            .as_ref()
            .is_some_and(|live| live["spec"]["selector"] != prepared.body["spec"]["selector"])
}

/// The default wait when a replacement needs one and none was asked for.
const REPLACE_WAIT: Duration = Duration::from_secs(600);

/// Preflight (dry run of everything), then the phases: config objects → migration Job
/// (waited for) → Deployment → wait (a failed rollout rolled back) → the rest (CronJob, a
/// Service switching selector) → orphans of a replacement → prune → retire. Nothing an old pod may still
/// read is removed before the new pods serve, and the CronJob never gets an image whose
/// rollout failed.
pub(crate) async fn execute(ctx: &Context, steps: Steps, done: &mut Done) -> Result<()> {
    let plan = &ctx.plan;
    let retired = check_layout(plan, steps)?;
    let set = Set::new(&plan.app_name, &plan.namespace);
    // The namespace read (the connectivity check) and the preflight's reads and dry runs go
    // out together; the namespace answer decides first, as if they had run one after the
    // other. In a namespace that is missing, the preflight is run again once it exists.
    let (exists, speculative) = tokio::join!(
        preflight::check_namespace(&ctx.cluster, &plan.namespace, steps.create_namespace),
        preflight(ctx, &set, true, steps),
    );
    let pre = if exists? {
        speculative?
    } else if create_namespace(ctx, steps).await? {
        preflight(ctx, &set, false, steps).await?
    } else {
        return Ok(());
    };
    if steps.options.dry_run {
        return report_dry_run(ctx, &pre, &retired, steps).await;
    }

    // Everything checkable is checked: the release is on record before the first write.
    done.revision = Some(history::Recorder::begin(&ctx.cluster, plan, steps.origin).await?);
    let superset = apply::open_set(&ctx.cluster, &set, &pre.before, &pre.prepared, false).await?;
    let waits = steps.wait.is_some() || pre.checked.iter().any(|c| c.replace);
    let deferred = apply_config(ctx, &pre, waits, steps, done).await?;
    run_migrations(ctx, &pre, steps, done).await?;
    let deployment = apply_deployment(ctx, &pre, waits, steps, done).await?;
    if waits && let Some(target) = &deployment.target {
        let watch = deployment.watch.unwrap_or_else(|| {
            rollout::Watch::start(&ctx.cluster, target, steps.wait.unwrap_or(REPLACE_WAIT))
        });
        wait_or_roll_back(ctx, target, watch, deployment.previous, steps, done).await?;
    }
    apply_after_rollout(ctx, &pre, deferred, steps, done).await?;
    for replacement in &deployment.replacements {
        replace::delete_orphans(&ctx.cluster, replacement).await?;
    }
    if steps.options.prune {
        // The history as this run recorded it at the start: no read after the rollout.
        let recent = done
            .revision
            .as_ref()
            .and_then(history::Recorder::recorded)
            .map(|revisions| super::versions::recency(&revisions));
        apply::prune_set(
            &ctx.cluster,
            &set,
            &pre.before,
            &pre.prepared,
            &superset,
            recent,
            &mut done.outcome,
            |id, action, note| say(id, action, note, ""),
        )
        .await?;
    }
    retire_old_layout(ctx, &retired, done).await
}

/// What the preflight found: every object prepared and dry-run, and the set before the run.
struct Preflighted {
    prepared: Vec<Prepared>,
    checked: Vec<Checked>,
    before: apply::Before,
}

impl Preflighted {
    /// The objects whose kind ranks as `keep` says, with what the preflight found.
    fn ranked(&self, keep: impl Fn(usize) -> bool) -> impl Iterator<Item = (&Prepared, &Checked)> {
        self.prepared
            .iter()
            .zip(&self.checked)
            .filter(move |(p, _)| keep(crate::render::kind_rank(&p.id.kind)))
    }
}

/// Checks the plan against the configuration (no request): an empty render is never
/// pruned, a retire entry must not name a rendered object. Returns what this run retires
/// (a rollback restores, so objects of an older layout are deleted by deploys only).
fn check_layout(plan: &Plan, steps: Steps) -> Result<Vec<crate::config::Retired>> {
    if steps.options.prune {
        super::prune::refuse_empty(&plan.objects)?;
    }
    retire::refuse_rendered(&plan.config.app.retire, &plan.objects)?;
    Ok(match steps.origin {
        history::Origin::Rollback { .. } => Vec::new(),
        _ => retire::entries(&plan.config.app, &plan.objects),
    })
}

/// Creates the missing namespace (`--create-namespace`); `false` when a dry run stops here
/// because nothing can be validated inside a namespace it did not create.
async fn create_namespace(ctx: &Context, steps: Steps) -> Result<bool> {
    let plan = &ctx.plan;
    let dry = steps.options.dry_run;
    let suffix = if dry { " (server dry run)" } else { "" };
    preflight::create_namespace(&ctx.cluster, &plan.namespace, dry).await?;
    report::line(&format!("namespace/{} created{suffix}", plan.namespace));
    if !dry {
        return Ok(true);
    }
    eprintln!(
        "namespace {:?} does not exist, so the objects cannot be dry-run on the server; they would all be created",
        plan.namespace
    );
    for object in &plan.objects {
        say(
            &ObjectId::of_rendered(object),
            Action::Created,
            None,
            suffix,
        );
    }
    Ok(false)
}

/// Prepares every object, reads the set as it is and dry-runs everything; stops on any
/// problem before the first write.
async fn preflight(ctx: &Context, set: &Set, exists: bool, steps: Steps) -> Result<Preflighted> {
    let cluster = &ctx.cluster;
    let prepared = preflight::prepare_all(cluster, &set.id, &ctx.plan.objects).await?;
    let check = async {
        if exists {
            preflight::check_all(cluster, &prepared, steps.check).await
        } else {
            Ok(vec![Checked::default(); prepared.len()])
        }
    };
    let (before, checked) = tokio::try_join!(apply::read_set(cluster, set), check)?;
    preflight::refuse_problems(&checked)?;
    Ok(Preflighted {
        prepared,
        checked,
        before,
    })
}

/// `--dry-run`: says what would happen to every object, what would be pruned (the server
/// dry-runs the deletions) and retired.
async fn report_dry_run(
    ctx: &Context,
    pre: &Preflighted,
    retired: &[crate::config::Retired],
    steps: Steps,
) -> Result<()> {
    let (cluster, plan) = (&ctx.cluster, &ctx.plan);
    let suffix = " (server dry run)";
    for (p, c) in pre.prepared.iter().zip(&pre.checked) {
        let action = match (&c.merged, c.replace) {
            (_, true) => Action::Changed,
            (Some(merged), false) => apply::classify(c.live.as_ref(), merged),
            (None, false) => Action::Created,
        };
        let note = if c.replace {
            Some("would be replaced: its selector changes".to_string())
        } else if c.adopt_from.is_empty() {
            None
        } else {
            Some(format!("would be adopted from {}", c.adopt_from.join(", ")))
        };
        say(&p.id, action, note.as_deref(), suffix);
    }
    if steps.options.prune {
        let ids = pre.prepared.iter().map(|p| p.id.clone()).collect();
        let recent = super::versions::recent(cluster, &plan.app_name, &plan.namespace).await?;
        let (delete, _) = super::prune::candidates(&pre.before.members, &ids, &recent);
        for id in delete {
            super::prune::delete(cluster, &id, true).await?;
            say(&id, Action::Pruned, None, suffix);
        }
    }
    for (id, _) in retire::live(cluster, retired, &plan.namespace).await? {
        say(
            &id,
            Action::Retired,
            Some("after a successful rollout"),
            suffix,
        );
    }
    Ok(())
}

/// Says what happened to an applied object and keeps it for the summary.
fn record(applied: apply::Applied, done: &mut Done) {
    say(&applied.id, applied.action, applied.note.as_deref(), "");
    done.outcome.applied.push(applied);
}

/// Config objects: everything the migration Job and the Deployment read. Returns the
/// Services that switch selector, which wait for the new pods when the run waits.
async fn apply_config<'a>(
    ctx: &Context,
    pre: &'a Preflighted,
    waits: bool,
    steps: Steps,
    done: &mut Done,
) -> Result<Vec<(&'a Prepared, &'a Checked)>> {
    let job_rank = crate::render::kind_rank("Job");
    let mut deferred = Vec::new();
    for (p, c) in pre.ranked(|rank| rank < job_rank) {
        if waits && switches_selector(p, c) {
            deferred.push((p, c));
            continue;
        }
        let applied = apply::apply_checked(&ctx.cluster, p, c, steps.options).await?;
        record(applied, done);
    }
    Ok(deferred)
}

/// Migrations, before anything runs the new image.
async fn run_migrations(
    ctx: &Context,
    pre: &Preflighted,
    steps: Steps,
    done: &mut Done,
) -> Result<()> {
    let job_rank = crate::render::kind_rank("Job");
    for (p, c) in pre.ranked(|rank| rank == job_rank) {
        if let Some(applied) =
            migration::run(&ctx.cluster, p, c, steps.options, migration::TIMEOUT).await?
        {
            done.outcome.applied.push(applied);
        }
    }
    Ok(())
}

/// What applying the Deployment left for the later phases.
struct DeploymentPhase<'a> {
    /// Deployments being replaced (selector change), whose orphans go after the wait.
    replacements: Vec<replace::Replacement>,
    /// The rollout to wait for.
    target: Option<rollout::Target>,
    /// The watch on it, started before the write when the run waits.
    watch: Option<rollout::Watch>,
    /// What a failed rollout goes back to: the Deployment as it was (not one being
    /// replaced, whose old pods keep serving on their own).
    previous: Option<(&'a Prepared, revert::Previous)>,
}

/// The Deployment, replaced when its selector changes. When the run waits, the watch on
/// the rollout starts before the write (see [`rollout::Watch`]).
async fn apply_deployment<'a>(
    ctx: &Context,
    pre: &'a Preflighted,
    waits: bool,
    steps: Steps,
    done: &mut Done,
) -> Result<DeploymentPhase<'a>> {
    let deployment_rank = crate::render::kind_rank("Deployment");
    let mut phase = DeploymentPhase {
        replacements: Vec::new(),
        target: None,
        watch: None,
        previous: None,
    };
    for (p, c) in pre.ranked(|rank| rank == deployment_rank) {
        // Not for a replacement: until the old Deployment is gone, a watch by name sees its
        // finished rollout, and the new object starts again at generation 1, so the old
        // status would pass for the new one (and its orphans would go before new pods are
        // ready). Its watch starts after the write.
        if waits
            && !c.replace
            && phase.watch.is_none()
            && let Some(rendered) = rollout::Target::from_applied(&p.body)
        {
            let timeout = steps.wait.unwrap_or(REPLACE_WAIT);
            phase.watch = Some(rollout::Watch::start(&ctx.cluster, &rendered, timeout));
        }
        if c.replace
            && let Some(live) = &c.live
        {
            phase
                .replacements
                .push(replace::orphan_delete(&ctx.cluster, live).await?);
        } else if phase.previous.is_none() {
            phase.previous = c
                .live
                .as_ref()
                .and_then(revert::Previous::of)
                .map(|v| (p, v));
        }
        let applied = apply::apply_checked(&ctx.cluster, p, c, steps.options).await?;
        phase.target = phase
            .target
            .or_else(|| rollout::Target::from_applied(&applied.live));
        record(applied, done);
    }
    Ok(phase)
}

/// Waits for the rollout; a failed one is rolled back to `previous` when the run asks for it.
async fn wait_or_roll_back(
    ctx: &Context,
    target: &rollout::Target,
    watch: rollout::Watch,
    previous: Option<(&Prepared, revert::Previous)>,
    steps: Steps,
    done: &mut Done,
) -> Result<()> {
    let cluster = &ctx.cluster;
    let plan = &ctx.plan;
    let timeout = steps.wait.unwrap_or(REPLACE_WAIT);
    let Err(failure) = wait_rollout(ctx, target, watch, done).await else {
        return Ok(());
    };
    Err(match (&failure, previous) {
        (Error::Rollout { .. }, Some((deployment, previous))) if steps.rollback => {
            let store = history::Store::new(&plan.app_name, &plan.namespace);
            let current = done.revision.as_ref().map(history::Recorder::number);
            let previous = previous.revision_of(cluster, &store, current).await;
            let outcome = revert::run(cluster, deployment, &previous, failure, timeout).await;
            match (&outcome, &mut done.rollout) {
                (Error::Cancelled { .. }, rollout) => {
                    *rollout = Some(RolloutResult::Cancelled(outcome.to_string()));
                }
                (Error::RolledBack { .. }, Some(RolloutResult::Failed(reason))) => {
                    reason.push_str(&format!("; rolled back to {}", previous.describe()));
                }
                (_, Some(RolloutResult::Failed(reason))) => {
                    reason.push_str(&format!(
                        "; the rollback to {} failed as well",
                        previous.describe()
                    ));
                }
                _ => {}
            }
            outcome
        }
        _ => failure,
    })
}

/// What may run only once the new pods serve: the CronJob, a Service switching selector.
async fn apply_after_rollout(
    ctx: &Context,
    pre: &Preflighted,
    deferred: Vec<(&Prepared, &Checked)>,
    steps: Steps,
    done: &mut Done,
) -> Result<()> {
    let deployment_rank = crate::render::kind_rank("Deployment");
    for (p, c) in pre.ranked(|rank| rank > deployment_rank).chain(deferred) {
        let applied = apply::apply_checked(&ctx.cluster, p, c, steps.options).await?;
        record(applied, done);
    }
    Ok(())
}

/// Deletes the objects of an older layout once the rollout is complete; warns when they
/// are still there and the run did not wait.
async fn retire_old_layout(
    ctx: &Context,
    retired: &[crate::config::Retired],
    done: &mut Done,
) -> Result<()> {
    if retired.is_empty() {
        return Ok(());
    }
    let namespace = &ctx.plan.namespace;
    if done.rollout == Some(RolloutResult::Complete) {
        for id in retire::run(&ctx.cluster, retired, namespace, false).await? {
            say(&id, Action::Retired, None, "");
            done.outcome.retired.push(id);
        }
    } else if !retire::live(&ctx.cluster, retired, namespace)
        .await?
        .is_empty()
    {
        report::warning(
            "the objects of the older layout (the unversioned Secret, [[app.retire]]) are deleted only after a rollout that was waited for; rerun with the wait",
        );
    }
    Ok(())
}

/// Waits for the rollout, recording its result.
async fn wait_rollout(
    ctx: &Context,
    target: &rollout::Target,
    watch: rollout::Watch,
    done: &mut Done,
) -> Result<()> {
    let progress = Progress::new();
    // A signal stops the wait (a watch, not a write) and nothing after it.
    let waited = tokio::select! {
        waited = rollout::wait_with(&ctx.cluster, target, watch, &progress) => waited,
        signal = cancel::cancelled() => Err(cancel::error(signal, format!(
            "while waiting for the rollout of Deployment {}/{}", target.namespace, target.name
        ))),
    };
    match waited {
        Ok(()) => {
            done.rollout = Some(RolloutResult::Complete);
            Ok(())
        }
        Err(e @ Error::Cancelled { .. }) => {
            done.rollout = Some(RolloutResult::Cancelled(e.to_string()));
            Err(e)
        }
        Err(e) => {
            done.rollout = Some(RolloutResult::Failed(match &e {
                Error::Rollout { reason, .. } => ctx.plan.redactor.redact(reason),
                other => ctx.plan.redactor.redact(&other.to_string()),
            }));
            Err(e)
        }
    }
}

pub(crate) fn changes(outcome: &Outcome) -> Vec<ObjectChange> {
    let applied = outcome.applied.iter().map(|a| ObjectChange {
        kind: a.id.kind.clone(),
        name: a.id.name.clone(),
        action: a.action,
        note: a.note.clone(),
    });
    let removed = |ids: &[ObjectId], action: Action| -> Vec<ObjectChange> {
        ids.iter()
            .map(|id| ObjectChange {
                kind: id.kind.clone(),
                name: id.name.clone(),
                action,
                note: None,
            })
            .collect()
    };
    applied
        .chain(removed(&outcome.pruned, Action::Pruned))
        .chain(removed(&outcome.retired, Action::Retired))
        .collect()
}

pub(crate) fn error_text(err: &Error) -> String {
    crate::report::caused_by(err)
}

/// Hides secret values in the parts of an error that quote the server.
pub(crate) fn redact(err: Error, redactor: &Redactor) -> Error {
    match err {
        Error::Api { action, mut cause } => {
            cause.detail = redactor.redact(&cause.detail);
            Error::Api {
                action: redactor.redact(&action),
                cause,
            }
        }
        Error::Rollout {
            reason,
            diagnostics,
        } => Error::Rollout {
            reason: redactor.redact(&reason),
            diagnostics: redactor.redact(&diagnostics),
        },
        Error::GithubCheck { message } => Error::GithubCheck {
            message: redactor.redact(&message),
        },
        Error::RolledBack {
            failure,
            image,
            revision,
        } => Error::RolledBack {
            failure: Box::new(redact(*failure, redactor)),
            image,
            revision,
        },
        Error::RollbackFailed {
            failure,
            image,
            problem,
        } => Error::RollbackFailed {
            failure: Box::new(redact(*failure, redactor)),
            image,
            problem: Box::new(redact(*problem, redactor)),
        },
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::SecretString;

    #[test]
    fn errors_quoting_the_server_are_redacted() {
        let secret = SecretString::new("sentinel-value-42");
        let redactor = Redactor::new([&secret]);
        let err = Error::Rollout {
            reason: "pod x: container failed: sentinel-value-42".into(),
            diagnostics: "env DATABASE_URL=sentinel-value-42".into(),
        };
        let text = redact(err, &redactor).to_string();
        assert!(!text.contains("sentinel-value-42"), "{text}");
        assert!(text.contains("<redacted>"), "{text}");
    }

    #[test]
    fn summary_lists_applied_then_pruned() {
        let id = |kind: &str, name: &str| ObjectId {
            api_version: "v1".into(),
            kind: kind.into(),
            namespace: "ns".into(),
            name: name.into(),
        };
        let outcome = Outcome {
            applied: vec![apply::Applied {
                id: id("Secret", "s"),
                action: Action::Unchanged,
                live: serde_json::Value::Null,
                note: None,
            }],
            pruned: vec![id("ConfigMap", "old")],
            retired: vec![],
        };
        let rows = changes(&outcome);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[1].action, Action::Pruned);
        assert_eq!(rows[1].name, "old");
    }
}
