//! `gpt-deploy cleanup-now`: a Job from the CronJob's template, started right away.
//!
//! The Job is what `kubectl create job --from=cronjob/NAME` makes: the template's labels,
//! annotations and spec, the annotation `cronjob.kubernetes.io/instantiate: manual`, and a
//! controller reference to the CronJob so it is garbage-collected with it. The CronJob is
//! read from the cluster (not the render), so the Job runs what is deployed.

use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams, LogParams, PostParams};
use serde_json::{Value, json};

use super::client;
use super::plan;
use super::watch::{self, End, Verdict};
use super::{Error, Result};
use crate::cli::CleanupNowArgs;
use crate::report::{self, Progress};

/// Annotation kubectl puts on Jobs created from a CronJob by hand.
pub(crate) const INSTANTIATE_ANNOTATION: &str = "cronjob.kubernetes.io/instantiate";

/// The exit code of `cleanup` when another session holds the cleanup lock.
const LOCKED_EXIT: i32 = crate::exit::LOCKED as i32;

/// Lines of the pod's log shown by `--logs`.
const LOG_LINES: i64 = 20;

/// The Job object for a CronJob (as returned by the server). Its name is made by the
/// server from `generate_name` (a random suffix), so two runs never collide.
#[must_use]
pub(crate) fn job_from_cronjob(cronjob: &Value, generate_name: &str) -> Value {
    let template = &cronjob["spec"]["jobTemplate"];
    let mut annotations = template["metadata"]["annotations"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    annotations.insert(INSTANTIATE_ANNOTATION.into(), json!("manual"));
    let labels = template["metadata"]["labels"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "generateName": generate_name,
            "namespace": cronjob["metadata"]["namespace"],
            "labels": labels,
            "annotations": annotations,
            "ownerReferences": [{
                "apiVersion": "batch/v1",
                "kind": "CronJob",
                "name": cronjob["metadata"]["name"],
                "uid": cronjob["metadata"]["uid"],
                "controller": true,
                "blockOwnerDeletion": true,
            }],
        },
        "spec": template["spec"],
    })
}

/// `<cronjob>-manual-<suffix>-`, cut so that the name the server makes from it (5 more
/// characters) fits the 63 a Job name may have (its pods' `job-name` label must be a
/// valid label value).
#[must_use]
pub(crate) fn job_name_prefix(cronjob: &str, suffix: &str) -> String {
    let tail = format!("-manual-{suffix}-");
    let keep = 58usize.saturating_sub(tail.len()).min(cronjob.len());
    format!("{}{tail}", cronjob[..keep].trim_end_matches('-'))
}

/// How a Job ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Ended {
    /// `Complete=True`.
    Complete,
    /// `Failed=True`: the condition's reason and message.
    Failed(String),
    /// The Job was deleted before it ended.
    Gone,
}

/// The condition `--wait` waits for: the Job has ended (or is gone).
#[must_use]
pub(crate) fn job_ended(job: Option<&Job>) -> Verdict<Ended> {
    let Some(job) = job else {
        return Some(Ended::Gone);
    };
    let conditions = job.status.as_ref()?.conditions.as_ref()?;
    for c in conditions.iter().filter(|c| c.status == "True") {
        match c.type_.as_str() {
            "Complete" => return Some(Ended::Complete),
            "Failed" => {
                return Some(Ended::Failed(format!(
                    "{}: {}",
                    c.reason.as_deref().unwrap_or("Failed"),
                    c.message.as_deref().unwrap_or("no message")
                )));
            }
            _ => {}
        }
    }
    None
}

/// How a Job ended, if it has: `Ok` for `Complete`, `Err` with the `Failed` condition's
/// reason and message.
#[must_use]
pub(crate) fn finished(job: &Job) -> Option<std::result::Result<(), String>> {
    match job_ended(Some(job))? {
        Ended::Complete => Some(Ok(())),
        Ended::Failed(why) => Some(Err(why)),
        Ended::Gone => None,
    }
}

/// The exit code of the pod's first terminated container, if it has one.
#[must_use]
pub(crate) fn exit_code(pod: &Pod) -> Option<i32> {
    pod.status
        .as_ref()?
        .container_statuses
        .as_ref()?
        .iter()
        .find_map(|c| c.state.as_ref()?.terminated.as_ref().map(|t| t.exit_code))
}

/// `gpt-deploy cleanup-now`.
///
/// Reads no secret value: the Job is a copy of the live CronJob's template.
///
/// # Errors
/// No CronJob rendered or deployed, API errors, or (with `--wait`) the Job failed, timed
/// out, or found another cleanup running.
pub(crate) async fn run(args: &CleanupNowArgs) -> Result<u8> {
    let cluster_args = args.cluster();
    let plan = plan::load_without_secrets(&cluster_args)?;
    let Some(rendered) = plan.find("CronJob") else {
        return Err(Error::NoCronJob {
            env: plan.environment.clone(),
        });
    };
    let name = rendered.name.clone();
    let namespace = plan.namespace.clone();
    let target = args.target.client_target(plan.kube_context.as_deref());
    let cluster = client::connect(&target).await?;
    let cronjobs: Api<CronJob> = Api::namespaced(cluster.client.clone(), &namespace);
    let cronjob = client::retry(|| cronjobs.get(&name)).await.map_err(|e| {
        let mut err = client::api_error(
            format!("read CronJob {namespace}/{name}"),
            &name,
            e,
            &cluster.server,
        );
        if let Error::Api { cause, .. } = &mut err
            && client::is_not_found(&cause.error)
        {
            cause.detail.push_str(&format!(
                "; run `gpt-deploy apply --env {}` first",
                plan.environment
            ));
        }
        err
    })?;
    let cronjob = serde_json::to_value(&cronjob).unwrap_or(Value::Null);
    let suffix = chrono::Utc::now().format("%Y%m%d%H%M%S").to_string();
    let prefix = job_name_prefix(&name, &suffix);
    let job: Job = serde_json::from_value(job_from_cronjob(&cronjob, &prefix)).map_err(|e| {
        Error::BadObject {
            object: format!("CronJob {namespace}/{name}"),
            problem: format!("its jobTemplate does not make a valid Job: {e}"),
        }
    })?;
    let jobs: Api<Job> = Api::namespaced(cluster.client.clone(), &namespace);
    // Not retried: a create whose answer was lost would start a second Job.
    let created = jobs
        .create(&PostParams::default(), &job)
        .await
        .map_err(|e| {
            client::api_error(
                format!("create a Job from CronJob {namespace}/{name}"),
                &name,
                e,
                &cluster.server,
            )
        })?;
    let job_name = created.metadata.name.clone().unwrap_or(prefix);
    report::line(&format!("job.batch/{job_name} created"));
    if args.wait {
        let pods: Api<Pod> = Api::namespaced(cluster.client.clone(), &namespace);
        wait(&jobs, &pods, &namespace, &job_name, args).await?;
    }
    Ok(crate::exit::OK)
}

async fn wait(
    jobs: &Api<Job>,
    pods: &Api<Pod>,
    namespace: &str,
    name: &str,
    args: &CleanupNowArgs,
) -> Result<()> {
    let progress = Progress::new();
    progress.set(&format!("job {name}: running"));
    let ended = watch::await_condition(jobs.clone(), name, args.timeout, job_ended).await;
    progress.clear();
    let describe = format!("kubectl --namespace {namespace} describe job {name}");
    let ended = match ended {
        Ok(ended) => ended,
        Err(End::Failed(source)) => {
            return Err(Error::Watch {
                what: format!("job {name}"),
                source,
            });
        }
        Err(End::Timeout | End::Closed) => {
            return Err(Error::Rollout {
                reason: format!(
                    "job {name:?} did not finish within {} (it keeps running; --timeout waits longer)",
                    humantime::format_duration(args.timeout)
                ),
                diagnostics: format!("inspect it with: {describe}"),
            });
        }
    };
    let pod = last_pod(pods, name).await;
    if args.logs {
        show_log(pods, pod.as_ref()).await;
    }
    let code = pod.as_ref().and_then(exit_code);
    match ended {
        Ended::Complete => {
            report::line(&format!("job.batch/{name} completed"));
            Ok(())
        }
        Ended::Failed(_) if code == Some(LOCKED_EXIT) => Err(Error::CleanupLocked {
            job: name.to_string(),
            namespace: namespace.to_string(),
        }),
        Ended::Failed(why) => Err(Error::Rollout {
            reason: format!(
                "job {name:?} failed: {why}{}",
                code.map(|c| format!(" (the cleanup exited {c})"))
                    .unwrap_or_default()
            ),
            diagnostics: format!(
                "its log: kubectl --namespace {namespace} logs job/{name}\ninspect it with: {describe}"
            ),
        }),
        Ended::Gone => Err(Error::Rollout {
            reason: format!("job {name:?} was deleted before it finished"),
            diagnostics: String::new(),
        }),
    }
}

/// The Job's most recent pod (the one whose end decided the Job's), if any is left.
async fn last_pod(pods: &Api<Pod>, job: &str) -> Option<Pod> {
    let params = ListParams::default().labels(&format!("batch.kubernetes.io/job-name={job}"));
    let list = client::retry(|| pods.list(&params)).await.ok()?;
    list.items.into_iter().max_by(|a, b| {
        a.metadata
            .creation_timestamp
            .cmp(&b.metadata.creation_timestamp)
    })
}

/// Prints the last lines of the pod's log (a warning when it cannot be read).
async fn show_log(pods: &Api<Pod>, pod: Option<&Pod>) {
    let Some(name) = pod.and_then(|p| p.metadata.name.clone()) else {
        report::warning("the Job has no pod left, so there is no log to show");
        return;
    };
    let params = LogParams {
        tail_lines: Some(LOG_LINES),
        ..LogParams::default()
    };
    match pods.logs(&name, &params).await {
        Ok(text) => {
            report::line(&format!("--- last lines of the log of pod {name} ---"));
            for line in text.lines() {
                report::line(line);
            }
            report::line("---");
        }
        Err(e) => report::warning(&format!(
            "cannot read the log of pod {name}: {}",
            client::describe(&e, "the API server")
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_copies_the_template_and_points_at_the_cronjob() {
        let cronjob = json!({
            "apiVersion": "batch/v1", "kind": "CronJob",
            "metadata": {"name": "cleanup", "namespace": "ns", "uid": "u-1"},
            "spec": {"schedule": "0 * * * *", "jobTemplate": {
                "metadata": {"labels": {"app": "x"}, "annotations": {"a": "b"}},
                "spec": {"backoffLimit": 2, "template": {"spec": {
                    "restartPolicy": "Never", "containers": [{"name": "c", "image": "i"}]}}}}}
        });
        let job = job_from_cronjob(&cronjob, "cleanup-manual-1-");
        assert_eq!(job["metadata"]["generateName"], "cleanup-manual-1-");
        assert!(job["metadata"].get("name").is_none());
        assert_eq!(
            job["metadata"]["annotations"][INSTANTIATE_ANNOTATION],
            "manual"
        );
        assert_eq!(job["metadata"]["annotations"]["a"], "b");
        assert_eq!(job["metadata"]["labels"]["app"], "x");
        let owner = &job["metadata"]["ownerReferences"][0];
        assert_eq!(owner["kind"], "CronJob");
        assert_eq!(owner["uid"], "u-1");
        assert_eq!(owner["controller"], true);
        assert_eq!(job["spec"]["backoffLimit"], 2);
        let typed: Job = serde_json::from_value(job).unwrap();
        assert_eq!(typed.metadata.namespace.as_deref(), Some("ns"));
    }

    #[test]
    fn generated_job_names_fit_a_label_value() {
        let long = "x".repeat(80);
        let prefix = job_name_prefix(&long, "20260101000000");
        // The server adds five characters.
        assert!(prefix.len() + 5 <= 63, "{prefix}");
        assert!(prefix.ends_with("-manual-20260101000000-"));
        assert_eq!(job_name_prefix("gpt-cleanup", "1"), "gpt-cleanup-manual-1-");
    }

    fn job(conds: Value) -> Job {
        serde_json::from_value(json!({"metadata": {"name": "j"}, "status": {"conditions": conds}}))
            .unwrap()
    }

    #[test]
    fn job_conditions_decide_the_end() {
        assert_eq!(job_ended(Some(&job(json!([])))), None);
        let running: Job = serde_json::from_value(json!({"metadata": {"name": "j"}})).unwrap();
        assert_eq!(job_ended(Some(&running)), None);
        assert_eq!(
            job_ended(Some(&job(json!([{"type": "Complete", "status": "True"}])))),
            Some(Ended::Complete)
        );
        assert_eq!(
            job_ended(Some(&job(json!([{"type": "Failed", "status": "False"}])))),
            None
        );
        let failed = job_ended(Some(&job(json!([{"type": "Failed", "status": "True",
            "reason": "PodFailurePolicy", "message": "Container token-cleanup for pod ns/p failed with exit code 5 matching FailJob rule at index 0"}]))));
        assert!(
            matches!(&failed, Some(Ended::Failed(m)) if m.starts_with("PodFailurePolicy: ")),
            "{failed:?}"
        );
        assert_eq!(job_ended(None), Some(Ended::Gone));
    }

    #[test]
    fn the_terminated_containers_exit_code_is_read() {
        let pod: Pod = serde_json::from_value(json!({"metadata": {"name": "p"}, "status": {
            "containerStatuses": [{"name": "token-cleanup", "image": "i", "imageID": "", "ready": false,
                "restartCount": 0, "state": {"terminated": {"exitCode": 5}}}]}}))
        .unwrap();
        assert_eq!(exit_code(&pod), Some(LOCKED_EXIT));
        let running: Pod = serde_json::from_value(json!({"metadata": {"name": "p"}})).unwrap();
        assert_eq!(exit_code(&running), None);
    }
}
