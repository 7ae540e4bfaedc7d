//! The migration Job of a deploy: applied after the config objects and before the
//! Deployment, waited for (a watch, through [`super::watch`]), and on failure reported
//! with its pods' log tail (exit 4) while the Deployment and CronJob stay as they were.

use std::time::Duration;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams, LogParams};

use super::apply::{self, Applied};
use super::cleanup_now::finished;
use super::client::{self, Cluster};
use super::preflight::{Checked, Prepared};
use super::summary::Action;
use super::watch::{self, End};
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
    let jobs: Api<Job> = Api::namespaced(cluster.client.clone(), &id.namespace);
    if let Some(live) = &checked.live {
        let job: Job = serde_json::from_value(live.clone()).unwrap_or_default();
        match finished(&job) {
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
                let gone = watch::await_condition(
                    jobs.clone(),
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
    let waited = watch::await_condition(jobs, &id.name, timeout, |job: Option<&Job>| match job {
        // A list served from the watch cache may not show the Job created a moment ago;
        // its absence ends nothing (the deadline does).
        None => None,
        Some(job) => finished(job),
    });
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
