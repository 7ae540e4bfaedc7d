//! `apply` and `deploy`: preflight, apply, prune, wait, and the report of what happened.

use std::time::{Duration, Instant};

use super::apply::{self, Options, Outcome, Set};
use super::client::{self, Cluster, Redactor};
use super::plan::{self, Plan};
use super::resources::ObjectId;
use super::{Error, Result, preflight, rollout};
use crate::cli::{ApplyArgs, ClusterArgs, DeployArgs};
use crate::report::{self, Progress, RolloutResult, Summary, summary::Action};

/// A rendered plan plus a connected cluster: the start of every cluster command.
pub struct Context {
    /// What will be applied.
    pub plan: Plan,
    /// Where.
    pub cluster: Cluster,
}

impl Context {
    /// Renders (stopping on missing secrets before any network access), then connects.
    ///
    /// # Errors
    /// Render errors, missing secrets, kubeconfig problems.
    pub async fn prepare(args: &ClusterArgs) -> Result<Self> {
        let plan = plan::load(args)?;
        plan.require_secrets()?;
        let target = client::Target {
            kubeconfig: args.kubeconfig.as_deref(),
            context: args.context.as_deref(),
            default_context: plan.kube_context.as_deref(),
        };
        let cluster = client::connect(&target).await?;
        tracing::debug!(server = %cluster.server, source = %cluster.source, "connected");
        Ok(Self { plan, cluster })
    }
}

/// What one run should do.
#[derive(Debug, Clone, Copy)]
struct Steps {
    options: Options,
    create_namespace: bool,
    wait: Option<Duration>,
}

/// What one run did.
#[derive(Debug, Default)]
struct Done {
    outcome: Outcome,
    rollout: Option<RolloutResult>,
}

/// `gpt-deploy apply`.
///
/// # Errors
/// Preflight, apply or rollout errors.
pub async fn run_apply(args: &ApplyArgs) -> Result<u8> {
    let ctx = Context::prepare(&args.cluster).await?;
    let steps = Steps {
        options: Options {
            dry_run: args.dry_run,
            force_conflicts: args.force_conflicts,
            prune: args.prune,
        },
        create_namespace: args.create_namespace,
        wait: (args.wait && !args.dry_run).then_some(args.timeout),
    };
    let mut done = Done::default();
    execute(&ctx, steps, &mut done)
        .await
        .map_err(|e| redact(e, &ctx.plan.redactor))?;
    Ok(crate::exit::OK)
}

/// `gpt-deploy deploy`.
///
/// # Errors
/// Preflight, apply or rollout errors.
pub async fn run_deploy(args: &DeployArgs) -> Result<u8> {
    let started = Instant::now();
    let mut summary = Summary {
        environment: args.cluster.env.clone(),
        namespace: args.cluster.namespace.clone().unwrap_or_default(),
        image_tag: args.cluster.image.clone().unwrap_or_default(),
        objects: Vec::new(),
        rollout: RolloutResult::NotWaited,
        duration: Duration::ZERO,
        error: None,
    };
    let mut done = Done::default();
    let mut redactor = Redactor::default();
    let result = async {
        let ctx = Context::prepare(&args.cluster).await?;
        redactor = ctx.plan.redactor.clone();
        summary.environment.clone_from(&ctx.plan.environment);
        summary.namespace.clone_from(&ctx.plan.namespace);
        summary.image_tag.clone_from(&ctx.plan.image_tag);
        preflight::check_github_secrets(&ctx.plan).await?;
        let steps = Steps {
            options: Options {
                dry_run: false,
                force_conflicts: args.force_conflicts,
                prune: !args.no_prune,
            },
            create_namespace: args.create_namespace,
            wait: (!args.no_wait).then_some(args.timeout),
        };
        execute(&ctx, steps, &mut done).await
    }
    .await
    .map_err(|e| redact(e, &redactor));

    summary.objects = changes(&done.outcome);
    summary.rollout = done.rollout.unwrap_or(RolloutResult::NotWaited);
    summary.duration = started.elapsed();
    if let Err(e) = &result {
        summary.error = Some(error_text(e));
    }
    if report::github_actions()
        && let Err(e) = summary.append_to_step_summary()
    {
        report::warning(&format!("cannot write the GitHub step summary: {e}"));
    }
    eprintln!(
        "deploy of {} to namespace {:?}: {} created, {} changed, {} unchanged, {} pruned in {:.1}s",
        summary.environment,
        summary.namespace,
        summary.count(Action::Created),
        summary.count(Action::Changed),
        summary.count(Action::Unchanged),
        summary.count(Action::Pruned),
        summary.duration.as_secs_f64()
    );
    result.map(|()| crate::exit::OK)
}

/// Preflight, apply (+ prune), wait.
async fn execute(ctx: &Context, steps: Steps, done: &mut Done) -> Result<()> {
    let plan = &ctx.plan;
    let cluster = &ctx.cluster;
    let dry = steps.options.dry_run;
    let suffix = if dry { " (server dry run)" } else { "" };
    if steps.options.prune {
        super::prune::refuse_empty(&plan.objects)?;
    }
    let exists =
        preflight::check_namespace(cluster, &plan.namespace, steps.create_namespace).await?;
    if !exists {
        preflight::create_namespace(cluster, &plan.namespace, dry).await?;
        report::line(&format!("namespace/{} created{suffix}", plan.namespace));
        if dry {
            // Nothing can be validated inside a namespace that a dry run did not create.
            eprintln!(
                "namespace {:?} does not exist, so the objects cannot be dry-run on the server; they would all be created",
                plan.namespace
            );
            for object in &plan.objects {
                let id = ObjectId::of(object)?;
                report::line(&format!(
                    "{} {}{suffix}",
                    id.short(),
                    Action::Created.verb()
                ));
            }
            return Ok(());
        }
    }
    let set = Set::new(&plan.app_name, &plan.namespace);
    apply::run(
        cluster,
        &set,
        &plan.objects,
        steps.options,
        &mut done.outcome,
        |id, action| {
            report::line(&format!("{} {}{suffix}", id.short(), action.verb()));
        },
    )
    .await?;
    let Some(timeout) = steps.wait else {
        return Ok(());
    };
    let Some(target) = done
        .outcome
        .deployment()
        .and_then(rollout::Target::from_applied)
    else {
        return Ok(());
    };
    let progress = Progress::new();
    match rollout::wait(cluster, &target, timeout, &progress).await {
        Ok(()) => {
            done.rollout = Some(RolloutResult::Complete);
            Ok(())
        }
        Err(e) => {
            done.rollout = Some(RolloutResult::Failed(match &e {
                Error::Rollout { reason, .. } => plan.redactor.redact(reason),
                other => plan.redactor.redact(&other.to_string()),
            }));
            Err(e)
        }
    }
}

fn changes(outcome: &Outcome) -> Vec<report::ObjectChange> {
    let applied = outcome.applied.iter().map(|a| report::ObjectChange {
        kind: a.id.kind.clone(),
        name: a.id.name.clone(),
        action: a.action,
    });
    let pruned = outcome.pruned.iter().map(|id| report::ObjectChange {
        kind: id.kind.clone(),
        name: id.name.clone(),
        action: Action::Pruned,
    });
    applied.chain(pruned).collect()
}

fn error_text(err: &Error) -> String {
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        text.push_str("\n  caused by: ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Hides secret values in the parts of an error that quote the server.
fn redact(err: Error, redactor: &Redactor) -> Error {
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
            }],
            pruned: vec![id("ConfigMap", "old")],
        };
        let rows = changes(&outcome);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[1].action, Action::Pruned);
        assert_eq!(rows[1].name, "old");
    }
}
