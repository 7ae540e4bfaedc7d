//! The migration Job of a deploy: applied after the config objects and before the
//! Deployment, waited for (a watch, through [`super::watch`]), and on failure reported
//! with its pods' log tail (exit 4) while the Deployment and CronJob stay as they were.

use std::time::Duration;

use futures::{StreamExt, TryStreamExt, stream};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams, LogParams};
use kube::runtime::{WatchStreamExt, watcher};

use super::apply::{self, Applied};
use super::cleanup_now::finished;
use super::client::{self, Cluster};
use super::preflight::{Checked, Prepared};
use super::summary::Action;
use super::watch::{self, End, Events};
use super::{Error, Result, cancel};
use crate::report::Progress;

/// How long a migration Job may take (its `activeDeadlineSeconds` is 600).
pub(crate) const TIMEOUT: Duration = Duration::from_secs(660);
/// Log lines shown per failed pod.
const TAIL_LINES: i64 = 20;

/// Applies the Job unless an identical one already completed, and waits for it.
/// Returns what was applied (unchanged when a completed Job was found).
///
/// # Errors
/// [`Error::Rollout`] (exit 4) when the Job fails or does not finish in time, with the
/// log tail of its pods; API errors.
pub(crate) async fn run(
    cluster: &Cluster,
    prepared: &Prepared,
    checked: &Checked,
    options: apply::Options,
    timeout: Duration,
) -> Result<Option<Applied>> {
    let id = &prepared.id;
    if let Some(live) = &checked.live {
        let job: Job = serde_json::from_value(live.clone()).unwrap_or_default();
        // A Job whose pod has succeeded is done even before the Job controller says so
        // (see `wait_for`): a deploy run again at once must not count it as a change.
        let verdict = match finished(&job) {
            None if one_pod_succeeded(cluster, &job).await? => Some(Ok(())),
            verdict => verdict,
        };
        match verdict {
            Some(Ok(())) => {
                let note = "migrations of this image already applied";
                crate::report::line(&format!("{} unchanged ({note})", id.short()));
                return Ok(Some(Applied {
                    id: id.clone(),
                    action: Action::Unchanged,
                    live: live.clone(),
                    note: Some(note.into()),
                }));
            }
            Some(Err(_)) => {
                // A failed run of the same image: start it again from scratch.
                super::prune::delete(cluster, id, false).await?;
                let uid = job.metadata.uid.clone();
                let jobs: Api<Job> = Api::namespaced(cluster.client.clone(), &id.namespace);
                let gone = watch::await_condition(
                    jobs,
                    &id.name,
                    Duration::from_secs(60),
                    watch::is_gone(uid),
                );
                tokio::select! {
                    gone = gone => {
                        gone.map_err(|end| end_error(&id.to_string(), end, Duration::from_secs(60)))?;
                    }
                    signal = cancel::cancelled() => {
                        return Err(cancel::error(signal, format!(
                            "while waiting for the failed migration Job {}/{} to be deleted (the Deployment and CronJob were not changed)",
                            id.namespace, id.name
                        )));
                    }
                }
            }
            None => {}
        }
    }
    let fresh = Checked {
        live: None,
        ..checked.clone()
    };
    let mut applied = apply::apply_checked(cluster, prepared, &fresh, options).await?;
    if checked.live.is_some() && applied.action == Action::Created {
        applied.action = Action::Changed;
    }
    crate::report::line(&format!("{} {}", id.short(), applied.action.verb()));
    let progress = Progress::new();
    progress.set(&format!("job {}: running migrations", id.name));
    let job: Job = serde_json::from_value(applied.live.clone()).unwrap_or_default();
    let waited = wait_for(cluster, &id.namespace, &id.name, &job, timeout);
    // A signal stops the wait (a watch, not a write); the Job itself runs to its end.
    let outcome = tokio::select! {
        outcome = waited => outcome,
        signal = cancel::cancelled() => {
            progress.clear();
            return Err(cancel::error(signal, format!(
                "while waiting for the migration Job {}/{} (it keeps running on its own; the Deployment and CronJob were not changed)",
                id.namespace, id.name
            )));
        }
    };
    progress.clear();
    match outcome {
        Ok(Ok(())) => {
            crate::report::line(&format!("{} completed", id.short()));
            Ok(Some(applied))
        }
        Ok(Err(why)) => Err(Error::Rollout {
            reason: format!(
                "migration Job {} failed: {why}; the Deployment and CronJob were not changed",
                id.name
            ),
            diagnostics: log_tail(cluster, &id.namespace, &id.name).await,
        }),
        Err(End::Timeout) => Err(Error::Rollout {
            reason: format!(
                "migration Job {} did not finish within {}; the Deployment and CronJob were not changed",
                id.name,
                humantime::format_duration(timeout)
            ),
            diagnostics: log_tail(cluster, &id.namespace, &id.name).await,
        }),
        Err(end) => Err(end_error(&id.to_string(), end, timeout)),
    }
}

/// What the migration wait sees: the Job, or one of its pods.
#[derive(Debug)]
enum Seen {
    Job(Box<Job>),
    Pod(Box<Pod>),
}

/// Waits until the migration has run: the Job says `Complete` or `Failed`, or, for a
/// Job that needs one successful pod (no `completions` above 1, no success policy), that
/// pod has `Succeeded`. A pod's exit is what the deploy waits for: the Job controller
/// records it in the Job's status only in its next batched sync (about a second later),
/// while the migrations are already committed when the container exits 0.
async fn wait_for(
    cluster: &Cluster,
    namespace: &str,
    name: &str,
    job: &Job,
    timeout: Duration,
) -> Result<std::result::Result<(), String>, End> {
    let jobs: Api<Job> = Api::namespaced(cluster.client.clone(), namespace);
    let pods: Api<Pod> = Api::namespaced(cluster.client.clone(), namespace);
    let by_name = format!("metadata.name={name}");
    // The Job's own pods only: the uid label the Job controller sets on every pod it makes.
    let pods_of_job = pods_of(job);
    let mut events = Events::new(timeout, move |streaming| {
        let config = |c: watcher::Config| if streaming { c.streaming_lists() } else { c };
        let job_events = watcher(
            jobs.clone(),
            config(watcher::Config::default().fields(&by_name)),
        )
        .default_backoff()
        .applied_objects()
        .map_ok(|j| Seen::Job(Box::new(j)));
        match &pods_of_job {
            Some(selector) => {
                let pod_events = watcher(
                    pods.clone(),
                    config(watcher::Config::default().labels(selector)),
                )
                .default_backoff()
                .applied_objects()
                .map_ok(|p| Seen::Pod(Box::new(p)));
                stream::select(job_events.boxed(), pod_events.boxed()).boxed()
            }
            None => job_events.boxed(),
        }
    });
    loop {
        // A list served from the watch cache may not show the Job created a moment ago;
        // its absence ends nothing (the deadline does).
        if let Some(verdict) = migration_verdict(&events.next().await?) {
            return Ok(verdict);
        }
    }
}

/// The label selector of the pods the Job controller made for `job` (by the Job's uid),
/// when one succeeded pod completes it; `None` otherwise.
fn pods_of(job: &Job) -> Option<String> {
    let uid = job.metadata.uid.as_deref().filter(|u| !u.is_empty())?;
    one_pod_completes(job).then(|| format!("batch.kubernetes.io/controller-uid={uid}"))
}

/// True when a pod of `job` (one that one success completes) has `Succeeded`.
async fn one_pod_succeeded(cluster: &Cluster, job: &Job) -> Result<bool> {
    let (Some(selector), Some(namespace)) = (pods_of(job), job.metadata.namespace.as_deref())
    else {
        return Ok(false);
    };
    let pods: Api<Pod> = Api::namespaced(cluster.client.clone(), namespace);
    let params = ListParams::default().labels(&selector);
    let listed = client::retry(|| pods.list(&params)).await.map_err(|e| {
        let object = format!(
            "Job {namespace}/{}",
            job.metadata.name.as_deref().unwrap_or("")
        );
        client::api_error(
            format!("list the pods of {object}"),
            &object,
            e,
            &cluster.server,
        )
    })?;
    Ok(listed.items.into_iter().any(|pod| succeeded(&pod)))
}

/// True when the Job is complete as soon as one of its pods succeeds: `completions` unset
/// or 1 and no `successPolicy` (the migration Job of the built-in templates).
fn one_pod_completes(job: &Job) -> bool {
    job.spec
        .as_ref()
        .is_some_and(|s| s.completions.unwrap_or(1) == 1 && s.success_policy.is_none())
}

/// What one watch event says about the migration: done, failed (the Job's `Failed`
/// condition), or nothing yet.
fn migration_verdict(seen: &Seen) -> Option<std::result::Result<(), String>> {
    match seen {
        Seen::Job(job) => finished(job),
        Seen::Pod(pod) => succeeded(pod).then_some(Ok(())),
    }
}

/// The pod's phase is `Succeeded`: every container exited 0.
fn succeeded(pod: &Pod) -> bool {
    pod.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Succeeded")
}

fn end_error(what: &str, end: End, timeout: Duration) -> Error {
    match end {
        End::Failed(source) => Error::Watch {
            what: what.to_string(),
            source,
        },
        End::Timeout | End::Closed => Error::Rollout {
            reason: format!(
                "{what} did not reach the expected state within {}",
                humantime::format_duration(timeout)
            ),
            diagnostics: String::new(),
        },
    }
}

/// The last log lines of every pod of the Job, falling back to what the kubelet kept as
/// the container's termination message when the logs cannot be read.
pub(crate) async fn log_tail(cluster: &Cluster, namespace: &str, job: &str) -> String {
    let pods: Api<Pod> = Api::namespaced(cluster.client.clone(), namespace);
    let selector = ListParams::default().labels(&format!("batch.kubernetes.io/job-name={job}"));
    let list = match client::retry(|| pods.list(&selector)).await {
        Ok(list) => list.items,
        Err(e) => {
            return format!(
                "(cannot list the Job's pods: {})\n",
                client::describe(&e, &cluster.server)
            );
        }
    };
    let mut out = String::new();
    for pod in list {
        let name = pod.metadata.name.clone().unwrap_or_default();
        let params = LogParams {
            tail_lines: Some(TAIL_LINES),
            ..LogParams::default()
        };
        let logs = pods
            .logs(&name, &params)
            .await
            .ok()
            .filter(|l| !l.trim().is_empty());
        let text = logs.or_else(|| termination_message(&pod));
        match text {
            Some(text) => {
                out.push_str(&format!("log tail of pod {name}:\n"));
                for line in text.lines() {
                    out.push_str(&format!("  {line}\n"));
                }
            }
            None => out.push_str(&format!("pod {name}: no log available\n")),
        }
    }
    if out.is_empty() {
        out.push_str("the Job started no pod\n");
    }
    out
}

/// The termination message of the pod's first terminated container.
#[must_use]
pub(crate) fn termination_message(pod: &Pod) -> Option<String> {
    pod.status
        .as_ref()?
        .container_statuses
        .iter()
        .flatten()
        .find_map(|c| {
            let terminated = c.state.as_ref()?.terminated.as_ref()?;
            let mut text = terminated.message.clone().unwrap_or_default();
            if text.trim().is_empty() {
                text = format!(
                    "exit code {}{}",
                    terminated.exit_code,
                    terminated
                        .reason
                        .as_deref()
                        .map(|r| format!(" ({r})"))
                        .unwrap_or_default()
                );
            }
            Some(text)
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn job(spec: serde_json::Value, conditions: serde_json::Value) -> Job {
        serde_json::from_value(json!({"metadata": {"name": "m", "uid": "u1"},
            "spec": spec, "status": {"conditions": conditions}}))
        .unwrap()
    }

    fn pod(phase: &str) -> Pod {
        serde_json::from_value(json!({"metadata": {"name": "m-x"}, "status": {"phase": phase}}))
            .unwrap()
    }

    #[test]
    fn a_succeeded_pod_or_the_job_conditions_end_the_migration_wait() {
        let template = json!({"template": {"spec": {"containers": []}}});
        let running = job(template.clone(), json!([]));
        assert_eq!(migration_verdict(&Seen::Job(Box::new(running))), None);
        let complete = job(
            template.clone(),
            json!([{"type": "Complete", "status": "True"}]),
        );
        assert_eq!(
            migration_verdict(&Seen::Job(Box::new(complete))),
            Some(Ok(()))
        );
        let failed = job(
            template,
            json!([{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded",
                "message": "Job has reached the specified backoff limit"}]),
        );
        assert_eq!(
            migration_verdict(&Seen::Job(Box::new(failed))),
            Some(Err(
                "BackoffLimitExceeded: Job has reached the specified backoff limit".into()
            ))
        );
        for phase in ["Pending", "Running", "Failed", "Unknown"] {
            assert_eq!(
                migration_verdict(&Seen::Pod(Box::new(pod(phase)))),
                None,
                "{phase}"
            );
        }
        assert_eq!(
            migration_verdict(&Seen::Pod(Box::new(pod("Succeeded")))),
            Some(Ok(()))
        );
    }

    #[test]
    fn pods_are_watched_only_when_one_success_completes_the_job() {
        let template = json!({"containers": []});
        let spec = |extra: serde_json::Value| {
            let mut s = json!({"template": {"spec": template}});
            s.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            job(s, json!([]))
        };
        assert!(one_pod_completes(&spec(json!({}))));
        assert!(one_pod_completes(&spec(
            json!({"completions": 1, "backoffLimit": 1})
        )));
        assert!(!one_pod_completes(&spec(json!({"completions": 3}))));
        assert!(!one_pod_completes(&spec(
            json!({"successPolicy": {"rules": [
            {"succeededIndexes": "0"}]}})
        )));
        assert!(!one_pod_completes(&Job::default()));
    }

    #[test]
    fn termination_message_is_the_log_tail_the_kubelet_kept() {
        let pod: Pod = serde_json::from_value(json!({"metadata": {"name": "p"}, "status": {
            "containerStatuses": [{"name": "migrate", "image": "x", "imageID": "", "ready": false,
                "restartCount": 0, "state": {"terminated": {"exitCode": 3,
                "message": "error: cannot connect to the database\n"}}}]}}))
        .unwrap();
        assert_eq!(
            termination_message(&pod).unwrap(),
            "error: cannot connect to the database\n"
        );
        let bare: Pod = serde_json::from_value(json!({"metadata": {"name": "p"}, "status": {
            "containerStatuses": [{"name": "migrate", "image": "x", "imageID": "", "ready": false,
                "restartCount": 0, "state": {"terminated": {"exitCode": 1, "reason": "Error"}}}]}}))
        .unwrap();
        assert_eq!(termination_message(&bare).unwrap(), "exit code 1 (Error)");
    }
}
