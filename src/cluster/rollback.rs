//! `gpt-deploy rollback`: applies a recorded revision's objects again (its image, and the
//! Secret version its workloads referenced) through the same preflight, phases and rollout
//! wait as `deploy`, and records the result as a new revision.
//!
//! Nothing is rendered and no secret value is needed: the objects come from the history and
//! the Secret they reference must still be in the cluster (checked before any write). A
//! rollback does not prune (objects added since stay until the next deploy), does not retire,
//! and does not run migrations (an older image runs against a newer schema).

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;

use super::apply::Options;
use super::client;
use super::deploy::{self, Context, Done, Steps};
use super::history::{self, Origin, ReleaseResult, Releases, Revision};
use super::plan::{self, Plan};
use super::preflight::CheckOptions;
use super::summary::{Action, RolloutResult, Summary};
use super::{Error, Result, cancel};
use crate::cli::RollbackArgs;
use crate::report;

/// The revision `rollback` restores without `--to`: the newest succeeded revision older
/// than the one that runs. After an automatic rollback the revision restored is the one
/// that runs; after a failure or a cancellation (the cluster may be part-way), the newest
/// succeeded revision before it is restored.
///
/// # Errors
/// There is no such revision.
pub(crate) fn default_target(revisions: &[Revision]) -> std::result::Result<&Revision, String> {
    let settled: Vec<&Revision> = revisions
        .iter()
        .filter(|r| r.result != ReleaseResult::InProgress)
        .collect();
    let Some(latest) = settled.last() else {
        return Err("no release is recorded yet".to_string());
    };
    let anchor = if latest.result == ReleaseResult::RolledBack {
        latest
            .rolled_back_to
            .or_else(|| {
                settled
                    .iter()
                    .rev()
                    .find(|r| r.number < latest.number && r.result == ReleaseResult::Succeeded)
                    .map(|r| r.number)
            })
            .unwrap_or(latest.number)
    } else {
        latest.number
    };
    settled
        .iter()
        .rev()
        .find(|r| r.number < anchor && r.result == ReleaseResult::Succeeded)
        .copied()
        .ok_or_else(|| format!("no succeeded revision before revision {anchor}"))
}

fn pick<'a>(revisions: &'a [Revision], to: Option<u64>, env: &str) -> Result<&'a Revision> {
    let listed = || {
        let numbers: Vec<String> = revisions.iter().map(|r| r.number.to_string()).collect();
        if numbers.is_empty() {
            "none".to_string()
        } else {
            numbers.join(", ")
        }
    };
    let target = match to {
        Some(n) => revisions.iter().find(|r| r.number == n).ok_or_else(|| Error::Usage {
            message: format!(
                "revision {n} is not in the history (recorded: {}; only the last {} are kept); `gpt-deploy history --env {env}` lists them",
                listed(),
                history::KEEP
            ),
        })?,
        None => default_target(revisions).map_err(|why| Error::Usage {
            message: format!(
                "nothing to roll back to: {why}; `gpt-deploy history --env {env}` lists the revisions, pick one with --to N"
            ),
        })?,
    };
    if !target.restorable() {
        return Err(Error::History {
            message: format!(
                "revision {} has no recorded objects to apply again; deploy its image instead: gpt-deploy deploy --env {env} --image {}",
                target.number,
                target.image_tag()
            ),
        });
    }
    Ok(target)
}

/// Refuses a revision whose Secrets are gone (only the newest Secret versions are kept).
async fn check_secrets(releases: &Releases, target: &Revision, env: &str) -> Result<()> {
    let namespace = &releases.config.env.namespace;
    let api: Api<Secret> = Api::namespaced(releases.cluster.client.clone(), namespace);
    for name in &target.secrets {
        let found = client::retry(|| api.get_metadata_opt(name))
            .await
            .map_err(|e| {
                client::api_error(
                    format!("read Secret {namespace}/{name}"),
                    name,
                    e,
                    &releases.cluster.server,
                )
            })?;
        if found.is_none() {
            return Err(Error::History {
                message: format!(
                    "revision {} cannot be restored: the Secret {name} its workloads read is no longer in namespace {namespace} (only the newest versions are kept); nothing was changed; deploy that image again with its secret values: gpt-deploy deploy --env {env} --image {}",
                    target.number,
                    target.image_tag()
                ),
            });
        }
    }
    Ok(())
}

/// `gpt-deploy rollback`.
///
/// # Errors
/// No revision to restore, configuration or cluster errors, the rollout failed, or a
/// signal stopped it.
pub(crate) async fn run(args: &RollbackArgs) -> Result<u8> {
    cancel::listen();
    let started = Instant::now();
    let env = args.release.env.clone();
    let mut summary = Summary {
        command: "rollback",
        environment: env.clone(),
        namespace: args.release.namespace.clone().unwrap_or_default(),
        image_tag: String::new(),
        objects: Vec::new(),
        rollout: RolloutResult::NotWaited,
        duration: Duration::ZERO,
        error: None,
    };
    let mut done = Done::default();
    let mut restored = None;
    let result = async {
        let releases = Releases::connect(&args.release).await?;
        summary.namespace.clone_from(&releases.config.env.namespace);
        let revisions = releases.store.read(&releases.cluster).await?;
        let target = pick(&revisions, args.to, &env)?.clone();
        summary.image_tag = target.image.clone();
        check_secrets(&releases, &target, &env).await?;
        report::note(&format!(
            "rolling {env} back to revision {} (image {})",
            target.number, target.image
        ));
        restored = Some(target.number);
        let mut config = releases.config;
        // Objects of an older layout are deleted by deploys only.
        config.app.retire.clear();
        let plan = Plan {
            app_name: config.app.name.clone(),
            environment: config.env.name.clone(),
            namespace: config.env.namespace.clone(),
            image_tag: target.image_tag().to_string(),
            kube_context: config.env.kube_context.clone(),
            github_environment: config.env.github_environment.clone(),
            required_secrets: Vec::new(),
            missing_secrets: Vec::new(),
            objects: target
                .objects
                .iter()
                .map(|o| plan::object_from_value(o.clone(), &format!("revision {}", target.number)))
                .collect::<Result<_>>()?,
            redactor: crate::secret::Redactor::default(),
            config,
        };
        let ctx = Context {
            plan,
            cluster: releases.cluster,
            image_kept: false,
            previous_image: None,
        };
        let steps = Steps {
            options: Options {
                dry_run: false,
                force_conflicts: args.force_conflicts,
                prune: false,
            },
            check: CheckOptions {
                force_conflicts: args.force_conflicts,
                replace_immutable: args.replace_immutable,
            },
            create_namespace: false,
            wait: Some(args.timeout),
            origin: Origin::Rollback { of: target.number },
            // A failed rollback stays as it is for a person to look at.
            rollback: false,
        };
        deploy::execute(&ctx, steps, &mut done).await
    }
    .await;
    history::settle(done.revision.take(), &result, true).await;

    summary.objects = deploy::changes(&done.outcome);
    summary.rollout = done.rollout.unwrap_or(RolloutResult::NotWaited);
    summary.duration = started.elapsed();
    if let Err(e) = &result {
        summary.error = Some(deploy::error_text(e));
    }
    if report::github_actions() {
        report::step_summary(&summary.to_markdown());
    }
    if let Some(number) = restored {
        report::note(&format!(
            "rollback of {env} to revision {number}: {} created, {} changed, {} unchanged in {:.1}s",
            summary.count(Action::Created),
            summary.count(Action::Changed),
            summary.count(Action::Unchanged),
            summary.duration.as_secs_f64()
        ));
    }
    result.map(|()| crate::exit::OK)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn revision(number: u64, result: ReleaseResult) -> Revision {
        Revision {
            number,
            command: "deploy".into(),
            image: format!("r/gpt-service:v{number}"),
            commit: None,
            actor: "a".into(),
            started: chrono::Utc::now(),
            finished: None,
            result,
            secrets: vec![],
            rollback_of: None,
            rolled_back_to: None,
            message: None,
            objects: vec![json!({"kind": "Deployment"})],
        }
    }

    fn target(results: &[ReleaseResult]) -> std::result::Result<u64, String> {
        let revisions: Vec<Revision> = results
            .iter()
            .enumerate()
            .map(|(i, r)| revision(i as u64 + 1, *r))
            .collect();
        default_target(&revisions).map(|r| r.number)
    }

    #[test]
    fn the_default_is_the_succeeded_revision_before_the_running_one() {
        use ReleaseResult::*;
        assert_eq!(target(&[Succeeded, Succeeded]), Ok(1));
        // An automatic rollback restored 2, which runs: go back to 1.
        assert_eq!(target(&[Succeeded, Succeeded, RolledBack]), Ok(1));
        // A failure without rollback (or a cancellation) left 3 part-way: restore 2.
        assert_eq!(target(&[Succeeded, Succeeded, Failed]), Ok(2));
        assert_eq!(target(&[Succeeded, Succeeded, Cancelled]), Ok(2));
        // Another run in progress is not the anchor.
        assert_eq!(target(&[Succeeded, Succeeded, InProgress]), Ok(1));
        assert!(
            target(&[Succeeded])
                .unwrap_err()
                .contains("before revision 1")
        );
        assert!(target(&[]).unwrap_err().contains("no release"));
    }

    #[test]
    fn an_explicit_revision_must_be_recorded_and_restorable() {
        let mut revisions = vec![
            revision(1, ReleaseResult::Succeeded),
            revision(2, ReleaseResult::Succeeded),
        ];
        assert_eq!(pick(&revisions, Some(2), "e").unwrap().number, 2);
        let err = pick(&revisions, Some(7), "e").unwrap_err().to_string();
        assert!(err.contains("recorded: 1, 2"), "{err}");
        revisions[0].objects.clear();
        let err = pick(&revisions, Some(1), "e").unwrap_err().to_string();
        assert!(err.contains("--image v1"), "{err}");
    }
}
