//! `gpt-deploy status` (what runs: revision, image, replicas, the last cleanup Job, the
//! CronJob's next run, drift) and `gpt-deploy history` (every recorded revision). Both read
//! the cluster only: no secret values, nothing written.

use std::io::Write as _;

use chrono::{DateTime, Utc};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::{CronJob, Job};
use kube::api::{Api, ListParams};
use serde::Serialize;
use serde_json::{Value, json};

use super::apply::Set;
use super::client::{self, Cluster};
use super::deploy::Context;
use super::drift::{self, CompareOptions};
use super::history::{self, ReleaseResult, Releases, Revision, show_time};
use super::{Error, Result, applyset, cleanup_now, plan};
use crate::cli::{HistoryArgs, ReportFormat, StatusArgs};
use crate::render::SecretValues;

/// The revision that runs: the newest that succeeded (or was applied without a wait).
/// A rolled-back, failed or cancelled revision is not it: the one before it still runs (or,
/// after a failure without rollback, part of it does).
#[must_use]
pub(crate) fn current(revisions: &[Revision]) -> Option<&Revision> {
    revisions
        .iter()
        .rev()
        .find(|r| matches!(r.result, ReleaseResult::Succeeded | ReleaseResult::Applied))
}

/// Replicas of the live Deployment.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Replicas {
    /// Ready pods.
    pub(crate) ready: i32,
    /// Pods running the current pod template.
    pub(crate) updated: i32,
    /// `spec.replicas`.
    pub(crate) wanted: i32,
}

/// The newest Job started by the CronJob (on schedule or by `cleanup-now`).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct CleanupRun {
    /// The Job's name.
    pub(crate) job: String,
    /// `succeeded`, `failed: <reason>` or `running`.
    pub(crate) result: String,
    /// When it started.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) started: Option<DateTime<Utc>>,
}

/// Everything `status` reports.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Status {
    /// Environment name.
    pub(crate) environment: String,
    /// Namespace.
    pub(crate) namespace: String,
    /// The revision that runs (see [`current`]), without its objects.
    pub(crate) revision: Option<Value>,
    /// The newest revision when it is not the one that runs (failed, cancelled, in progress).
    pub(crate) latest: Option<Value>,
    /// The live Deployment's application image.
    pub(crate) image: Option<String>,
    /// The live Deployment's replicas.
    pub(crate) replicas: Option<Replicas>,
    /// The newest cleanup Job.
    pub(crate) last_cleanup: Option<CleanupRun>,
    /// The CronJob's schedule.
    pub(crate) schedule: Option<String>,
    /// When the CronJob runs next (RFC 3339), or why that is not known.
    pub(crate) next_cleanup: Option<String>,
    /// Whether the cluster differs from what the configuration renders for the running
    /// image; `None` when that could not be found out.
    pub(crate) drift: Option<bool>,
    /// Why drift is unknown, or what differs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) drift_note: Option<String>,
}

/// A revision for JSON output: every field except the objects, which are named instead.
#[must_use]
pub(crate) fn revision_json(revision: &Revision) -> Value {
    let mut value = serde_json::to_value(revision).unwrap_or(Value::Null);
    let names: Vec<String> = revision
        .objects
        .iter()
        .map(|o| {
            format!(
                "{}/{}",
                o["kind"].as_str().unwrap_or("?"),
                o["metadata"]["name"].as_str().unwrap_or("?")
            )
        })
        .collect();
    value["objects"] = json!(names);
    value
}

fn write_stdout(text: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(Error::Output)
}

fn list_error(what: String, server: &str) -> impl FnOnce(kube::Error) -> Error + '_ {
    move |e| client::api_error(what.clone(), &what, e, server)
}

/// The live members of a kind, found by the set's `part-of` label.
async fn members<K>(cluster: &Cluster, set: &Set, what: &str) -> Result<Vec<K>>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
    K::DynamicType: Default,
{
    let api: Api<K> = Api::namespaced(cluster.client.clone(), &set.namespace);
    let params = ListParams::default().labels(&format!("{}={}", applyset::PART_OF_LABEL, set.id));
    client::retry(|| api.list(&params))
        .await
        .map(|list| list.items)
        .map_err(list_error(
            format!("list the {what} of namespace {}", set.namespace),
            &cluster.server,
        ))
}

/// The newest Job a CronJob started, and how it ended.
async fn last_cleanup(cluster: &Cluster, cronjob: &CronJob) -> Result<Option<CleanupRun>> {
    let namespace = cronjob.metadata.namespace.clone().unwrap_or_default();
    let name = cronjob.metadata.name.clone().unwrap_or_default();
    let api: Api<Job> = Api::namespaced(cluster.client.clone(), &namespace);
    let params = ListParams::default();
    let jobs = client::retry(|| api.list(&params))
        .await
        .map_err(list_error(
            format!("list the Jobs of namespace {namespace}"),
            &cluster.server,
        ))?;
    let newest = jobs
        .items
        .into_iter()
        .filter(|j| {
            j.metadata
                .owner_references
                .iter()
                .flatten()
                .any(|o| o.kind == "CronJob" && o.name == name)
        })
        .max_by_key(|j| j.metadata.creation_timestamp.clone().map(|t| t.0));
    Ok(newest.map(|j| {
        let result = match cleanup_now::finished(&j) {
            Some(Ok(())) => "succeeded".to_string(),
            Some(Err(why)) => format!("failed: {why}"),
            None => "running".to_string(),
        };
        CleanupRun {
            job: j.metadata.name.clone().unwrap_or_default(),
            result,
            started: j
                .status
                .as_ref()
                .and_then(|s| s.start_time.clone())
                .or(j.metadata.creation_timestamp.clone())
                .and_then(|t| utc(&t)),
        }
    }))
}

/// A Kubernetes time as a chrono time.
fn utc(time: &k8s_openapi::apimachinery::pkg::apis::meta::v1::Time) -> Option<DateTime<Utc>> {
    let nanos = u32::try_from(time.0.subsec_nanosecond()).ok()?;
    DateTime::from_timestamp(time.0.as_second(), nanos)
}

/// When the CronJob runs next, or why that is not known.
fn next_cleanup(cronjob: &CronJob, now: DateTime<Utc>) -> Option<String> {
    let spec = cronjob.spec.as_ref()?;
    if spec.suspend == Some(true) {
        return Some("suspended".to_string());
    }
    match spec.time_zone.as_deref() {
        None | Some("Etc/UTC" | "UTC") => {}
        Some(zone) => return Some(format!("not computed (time zone {zone})")),
    }
    Some(
        crate::config::cron::next_after(&spec.schedule, now).map_or_else(
            || format!("not computed (schedule {:?})", spec.schedule),
            |at| show_time(&at),
        ),
    )
}

/// Whether the cluster differs from the configuration's render at the running image.
async fn drift_of(
    releases: &Releases,
    args: &StatusArgs,
    image: Option<&str>,
) -> (Option<bool>, Option<String>) {
    let tag = image.map(|i| history::image_tag(i).to_string());
    let plan = match plan::load(&args.release.cluster_args(tag)) {
        Ok(plan) => plan,
        Err(e) => return (None, Some(crate::report::with_causes(&e))),
    };
    let ctx = Context {
        plan,
        cluster: releases.cluster.clone(),
        image_kept: false,
        previous_image: None,
    };
    let options = CompareOptions {
        prune: true,
        conflicts_are_differences: true,
        jobs_are_one_off: true,
    };
    match drift::compare(&ctx, &SecretValues::empty(), options).await {
        Ok(c) if c.differs() => {
            let mut what: Vec<String> = c
                .differences
                .iter()
                .map(|d| format!("{} {}", d.id, d.drift.word()))
                .collect();
            if c.secret.as_ref().is_some_and(drift::SecretCheck::differs) {
                what.push("the Secret's content".to_string());
            }
            (
                Some(true),
                Some(format!(
                    "{}; `gpt-deploy drift --env {}` shows the diff",
                    what.join(", "),
                    args.release.env
                )),
            )
        }
        Ok(_) => (Some(false), None),
        Err(e) => (
            None,
            Some(ctx.plan.redactor.redact(&crate::report::with_causes(&e))),
        ),
    }
}

/// `gpt-deploy status`.
///
/// # Errors
/// Configuration errors, or the cluster cannot be read.
pub(crate) async fn run(args: &StatusArgs) -> Result<u8> {
    let releases = Releases::connect(&args.release).await?;
    let cluster = &releases.cluster;
    let app = &releases.config.app.name;
    let namespace = releases.config.env.namespace.clone();
    let set = Set::new(app, &namespace);
    let revisions = releases.store.read(cluster).await?;
    let current = current(&revisions);
    let latest = revisions
        .iter()
        .rev()
        .find(|r| Some(r.number) != current.map(|c| c.number))
        .filter(|l| current.is_none_or(|c| l.number > c.number));
    let deployments: Vec<Deployment> = members(cluster, &set, "Deployments").await?;
    let deployment = deployments
        .iter()
        .find(|d| d.metadata.name.as_deref() == Some(app.as_str()))
        .or_else(|| deployments.first());
    let live = deployment.and_then(|d| serde_json::to_value(d).ok());
    let image = live
        .as_ref()
        .and_then(|d| history::deployment_image(d, app));
    let replicas = deployment.map(|d| {
        let status = d.status.clone().unwrap_or_default();
        Replicas {
            ready: status.ready_replicas.unwrap_or(0),
            updated: status.updated_replicas.unwrap_or(0),
            wanted: d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1),
        }
    });
    let cronjobs: Vec<CronJob> = members(cluster, &set, "CronJobs").await?;
    let (last_cleanup, schedule, next_cleanup) = match cronjobs.first() {
        Some(c) => (
            last_cleanup(cluster, c).await?,
            c.spec.as_ref().map(|s| s.schedule.clone()),
            next_cleanup(c, Utc::now()),
        ),
        None => (None, None, None),
    };
    let (drift, drift_note) = drift_of(&releases, args, image.as_deref()).await;
    let status = Status {
        environment: releases.config.env.name.clone(),
        namespace,
        revision: current.map(revision_json),
        latest: latest.map(revision_json),
        image,
        replicas,
        last_cleanup,
        schedule,
        next_cleanup,
        drift,
        drift_note,
    };
    let text = match args.output {
        ReportFormat::Json => {
            let mut text = serde_json::to_string_pretty(&status).unwrap_or_default();
            text.push('\n');
            text
        }
        ReportFormat::Text => status_text(&status, current, latest),
    };
    write_stdout(&text)?;
    Ok(crate::exit::OK)
}

/// One line about a revision: `4 (rollback of 1), succeeded 2026-…Z by alice, commit abc`.
fn revision_line(r: &Revision) -> String {
    let mut line = r.number.to_string();
    if let Some(of) = r.rollback_of {
        line.push_str(&format!(" (rollback to revision {of})"));
    }
    let at = r.finished.unwrap_or(r.started);
    line.push_str(&format!(
        ", {} {} by {}",
        r.result.word(),
        show_time(&at),
        r.actor
    ));
    if let Some(commit) = &r.commit {
        line.push_str(&format!(", commit {}", short_commit(commit)));
    }
    line.push_str(&format!(", image {}", r.image));
    if let Some(to) = r.rolled_back_to {
        line.push_str(&format!(", rolled back to revision {to}"));
    }
    if let Some(message) = &r.message {
        line.push_str(&format!(": {message}"));
    }
    line
}

fn short_commit(commit: &str) -> &str {
    commit.get(..12).unwrap_or(commit)
}

fn status_text(status: &Status, current: Option<&Revision>, latest: Option<&Revision>) -> String {
    let mut rows: Vec<(&str, String)> = vec![(
        "environment",
        format!("{} (namespace {})", status.environment, status.namespace),
    )];
    rows.push((
        "revision",
        current.map_or_else(|| "none recorded".to_string(), revision_line),
    ));
    if let Some(latest) = latest {
        rows.push(("latest", revision_line(latest)));
    }
    rows.push((
        "image",
        status
            .image
            .clone()
            .unwrap_or_else(|| "no Deployment in the cluster".to_string()),
    ));
    if let Some(r) = &status.replicas {
        rows.push((
            "replicas",
            format!("{}/{} ready ({} updated)", r.ready, r.wanted, r.updated),
        ));
    }
    rows.push((
        "last cleanup",
        status.last_cleanup.as_ref().map_or_else(
            || "none yet".to_string(),
            |c| match c.started {
                Some(at) => format!("{} (Job {}, started {})", c.result, c.job, show_time(&at)),
                None => format!("{} (Job {})", c.result, c.job),
            },
        ),
    ));
    rows.push((
        "next cleanup",
        match (&status.next_cleanup, &status.schedule) {
            (Some(next), Some(schedule)) => format!("{next} (schedule {schedule:?})"),
            _ => "no CronJob in the cluster".to_string(),
        },
    ));
    rows.push((
        "drift",
        match (status.drift, &status.drift_note) {
            (Some(true), Some(note)) => format!("yes: {note}"),
            (Some(true), None) => "yes".to_string(),
            (Some(false), _) => "no".to_string(),
            (None, note) => format!("unknown: {}", note.as_deref().unwrap_or("not checked")),
        },
    ));
    let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0) + 1;
    rows.iter().fold(String::new(), |mut out, (k, v)| {
        use std::fmt::Write as _;
        let _ = writeln!(out, "{:width$} {v}", format!("{k}:"));
        out
    })
}

/// `gpt-deploy history`.
///
/// # Errors
/// Configuration errors, or the cluster cannot be read.
pub(crate) async fn run_history(args: &HistoryArgs) -> Result<u8> {
    let releases = Releases::connect(&args.release).await?;
    let revisions = releases.store.read(&releases.cluster).await?;
    let text = match args.output {
        ReportFormat::Json => {
            let list: Vec<Value> = revisions.iter().map(revision_json).collect();
            let mut text = serde_json::to_string_pretty(&list).unwrap_or_default();
            text.push('\n');
            text
        }
        ReportFormat::Text if revisions.is_empty() => format!(
            "no release recorded in namespace {} yet (the first deploy records revision 1)\n",
            releases.config.env.namespace
        ),
        ReportFormat::Text => history_table(&revisions),
    };
    write_stdout(&text)?;
    Ok(crate::exit::OK)
}

/// The revisions as an aligned table, oldest first; the running one is marked `*`.
#[must_use]
pub(crate) fn history_table(revisions: &[Revision]) -> String {
    let running = current(revisions).map(|r| r.number);
    let mut rows = vec![
        [
            "REVISION", "RESULT", "IMAGE", "COMMIT", "ACTOR", "STARTED", "DURATION", "NOTE",
        ]
        .map(String::from),
    ];
    for r in revisions {
        let mark = if Some(r.number) == running { "*" } else { "" };
        let duration = r.finished.map_or_else(String::new, |f| {
            let secs = (f - r.started).num_seconds().max(0);
            if secs >= 60 {
                format!("{}m{:02}s", secs / 60, secs % 60)
            } else {
                format!("{secs}s")
            }
        });
        let mut note = Vec::new();
        if let Some(of) = r.rollback_of {
            note.push(format!("rollback to {of}"));
        }
        if let Some(to) = r.rolled_back_to {
            note.push(format!("rolled back to {to}"));
        }
        if let Some(message) = &r.message {
            let cut: String = message.chars().take(80).collect();
            note.push(if cut.len() < message.len() {
                format!("{cut}…")
            } else {
                cut
            });
        }
        rows.push([
            format!("{}{mark}", r.number),
            r.result.word().to_string(),
            r.image.clone(),
            r.commit
                .as_deref()
                .map(short_commit)
                .unwrap_or("-")
                .to_string(),
            r.actor.clone(),
            show_time(&r.started),
            duration,
            note.join("; "),
        ]);
    }
    let mut widths = [0usize; 8];
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in &rows {
        let line: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(cell, w)| format!("{cell:w$}"))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn revision(number: u64, result: ReleaseResult) -> Revision {
        Revision {
            number,
            command: "deploy".into(),
            image: format!("ghcr.io/o/gpt-service:v{number}"),
            commit: Some("0123456789abcdef".into()),
            actor: "alice".into(),
            started: "2026-12-02T14:00:00Z".parse().unwrap(),
            finished: Some("2026-12-02T14:01:05Z".parse().unwrap()),
            result,
            secrets: vec![],
            rollback_of: None,
            rolled_back_to: None,
            message: None,
            objects: vec![json!({"kind": "Deployment", "metadata": {"name": "gpt-service"}})],
        }
    }

    #[test]
    fn the_running_revision_is_the_newest_that_succeeded() {
        let revisions = vec![
            revision(1, ReleaseResult::Succeeded),
            revision(2, ReleaseResult::Applied),
            revision(3, ReleaseResult::RolledBack),
            revision(4, ReleaseResult::Cancelled),
        ];
        assert_eq!(current(&revisions).map(|r| r.number), Some(2));
        assert!(current(&revisions[2..]).is_none());
    }

    #[test]
    fn the_table_marks_the_running_revision_and_shortens_commits() {
        let mut failed = revision(2, ReleaseResult::RolledBack);
        failed.rolled_back_to = Some(1);
        failed.message = Some("rollout timed out".into());
        let table = history_table(&[revision(1, ReleaseResult::Succeeded), failed]);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 3, "{table}");
        assert!(lines[0].starts_with("REVISION  RESULT"), "{table}");
        assert!(lines[1].starts_with("1*"), "{table}");
        assert!(lines[1].contains("0123456789ab "), "{table}");
        assert!(lines[1].contains("1m05s"), "{table}");
        assert!(
            lines[2].contains("rolled back to 1; rollout timed out"),
            "{table}"
        );
    }

    #[test]
    fn json_names_the_objects_instead_of_holding_them() {
        let value = revision_json(&revision(1, ReleaseResult::Succeeded));
        assert_eq!(value["objects"], json!(["Deployment/gpt-service"]));
        assert_eq!(value["result"], "succeeded");
    }
}
