//! `gpt-deploy cleanup-now`: a Job from the CronJob's template, started right away.
//!
//! The Job is what `kubectl create job --from=cronjob/NAME` makes: the template's labels,
//! annotations and spec, the annotation `cronjob.kubernetes.io/instantiate: manual`, and a
//! controller reference to the CronJob so it is garbage-collected with it. The CronJob is
//! read from the cluster (not the render), so the Job runs what is deployed.

use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::batch::v1::{CronJob, Job};
use kube::api::{Api, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use serde_json::{Value, json};

use super::client;
use super::deploy::Context;
use super::{Error, Result};
use crate::cli::CleanupNowArgs;
use crate::report::{self, Progress};

/// Annotation kubectl puts on Jobs created from a CronJob by hand.
pub const INSTANTIATE_ANNOTATION: &str = "cronjob.kubernetes.io/instantiate";

/// The Job object for a CronJob (as returned by the server), named `name`.
#[must_use]
pub fn job_from_cronjob(cronjob: &Value, name: &str) -> Value {
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
            "name": name,
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

/// `<cronjob>-manual-<suffix>`, cut to fit the 63 characters a Job name may have (its pods'
/// `job-name` label must be a valid label value).
#[must_use]
pub fn job_name(cronjob: &str, suffix: &str) -> String {
    let tail = format!("-manual-{suffix}");
    let keep = 63usize.saturating_sub(tail.len()).min(cronjob.len());
    format!("{}{tail}", cronjob[..keep].trim_end_matches('-'))
}

/// How a Job ended, if it has.
#[must_use]
pub fn finished(job: &Job) -> Option<std::result::Result<(), String>> {
    let conditions = job.status.as_ref()?.conditions.as_ref()?;
    for c in conditions.iter().filter(|c| c.status == "True") {
        match c.type_.as_str() {
            "Complete" => return Some(Ok(())),
            "Failed" => {
                return Some(Err(format!(
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

/// `gpt-deploy cleanup-now`.
///
/// # Errors
/// No CronJob rendered or deployed, API errors, or (with `--wait`) the Job failed or timed out.
pub async fn run(args: &CleanupNowArgs) -> Result<u8> {
    let ctx = Context::prepare(&args.cluster).await?;
    let Some(rendered) = ctx.plan.find("CronJob") else {
        return Err(Error::NoCronJob {
            env: ctx.plan.environment.clone(),
        });
    };
    let name = rendered["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let namespace = ctx.plan.namespace.clone();
    let cronjobs: Api<CronJob> = Api::namespaced(ctx.cluster.client.clone(), &namespace);
    let cronjob = client::retry(|| cronjobs.get(&name)).await.map_err(|e| {
        let mut err = client::api_error(
            format!("read CronJob {namespace}/{name}"),
            &name,
            e,
            &ctx.cluster.server,
        );
        if let Error::Api { cause, .. } = &mut err
            && client::is_not_found(&cause.error)
        {
            cause.detail.push_str("; run `gpt-deploy apply` first");
        }
        err
    })?;
    let cronjob = serde_json::to_value(&cronjob).unwrap_or(Value::Null);
    let suffix = chrono::Utc::now().format("%Y%m%d%H%M%S").to_string();
    let job_name = job_name(&name, &suffix);
    let job: Job = serde_json::from_value(job_from_cronjob(&cronjob, &job_name)).map_err(|e| {
        Error::BadObject {
            object: format!("CronJob {namespace}/{name}"),
            problem: format!("its jobTemplate does not make a valid Job: {e}"),
        }
    })?;
    let jobs: Api<Job> = Api::namespaced(ctx.cluster.client.clone(), &namespace);
    // Not retried: a create whose answer was lost would fail the retry with AlreadyExists.
    jobs.create(&PostParams::default(), &job)
        .await
        .map_err(|e| {
            client::api_error(
                format!("create Job {namespace}/{job_name}"),
                &job_name,
                e,
                &ctx.cluster.server,
            )
        })?;
    report::line(&format!("job.batch/{job_name} created"));
    if args.wait {
        wait(&jobs, &namespace, &job_name, args.timeout).await?;
    }
    Ok(crate::exit::OK)
}

async fn wait(jobs: &Api<Job>, namespace: &str, name: &str, timeout: Duration) -> Result<()> {
    let progress = Progress::new();
    progress.set(&format!("job {name}: running"));
    let watch = |streaming: bool| {
        let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
        let config = if streaming {
            config.streaming_lists()
        } else {
            config
        };
        watcher(jobs.clone(), config)
            .default_backoff()
            .applied_objects()
            .boxed()
    };
    // Streaming list first; servers without it reject the request and get list + watch.
    let mut streaming = true;
    let mut events = watch(streaming);
    let deadline = tokio::time::Instant::now() + timeout;
    let mut errors = 0;
    loop {
        let next = tokio::time::timeout_at(deadline, events.next()).await;
        let job = match next {
            Err(_) => {
                progress.clear();
                return Err(Error::Rollout {
                    reason: format!(
                        "job {name:?} did not finish within {}",
                        humantime::format_duration(timeout)
                    ),
                    diagnostics: format!(
                        "inspect it with: kubectl --namespace {namespace} describe job {name}"
                    ),
                });
            }
            Ok(None) => continue,
            Ok(Some(Err(source))) if streaming => {
                tracing::debug!(error = %source, "streaming list refused; using list + watch");
                streaming = false;
                events = watch(streaming);
                continue;
            }
            Ok(Some(Err(source))) => {
                errors += 1;
                if errors >= 6 {
                    return Err(Error::Watch {
                        what: format!("job {name}"),
                        source,
                    });
                }
                continue;
            }
            Ok(Some(Ok(job))) => {
                streaming = false;
                job
            }
        };
        errors = 0;
        let status = job.status.clone().unwrap_or_default();
        progress.set(&format!(
            "job {name}: {} active, {} succeeded, {} failed",
            status.active.unwrap_or(0),
            status.succeeded.unwrap_or(0),
            status.failed.unwrap_or(0)
        ));
        match finished(&job) {
            Some(Ok(())) => {
                progress.finish(&format!("job {name:?} completed"));
                return Ok(());
            }
            Some(Err(why)) => {
                progress.clear();
                return Err(Error::Rollout {
                    reason: format!("job {name:?} failed: {why}"),
                    diagnostics: String::new(),
                });
            }
            None => {}
        }
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
        let job = job_from_cronjob(&cronjob, "cleanup-manual-1");
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
    fn job_names_fit_a_label_value() {
        let long = "x".repeat(80);
        let name = job_name(&long, "20260101000000");
        assert!(name.len() <= 63, "{name}");
        assert!(name.ends_with("-manual-20260101000000"));
        assert_eq!(job_name("gpt-cleanup", "1"), "gpt-cleanup-manual-1");
    }

    #[test]
    fn job_conditions_decide_the_end() {
        let job = |conds: Value| -> Job {
            serde_json::from_value(
                json!({"metadata": {"name": "j"}, "status": {"conditions": conds}}),
            )
            .unwrap()
        };
        assert_eq!(finished(&job(json!([]))), None);
        assert_eq!(
            finished(&job(json!([{"type": "Complete", "status": "True"}]))),
            Some(Ok(()))
        );
        let failed = finished(&job(json!([{"type": "Failed", "status": "True",
            "reason": "BackoffLimitExceeded", "message": "Job has reached the specified backoff limit"}])));
        assert!(matches!(failed, Some(Err(m)) if m.starts_with("BackoffLimitExceeded")));
    }
}
