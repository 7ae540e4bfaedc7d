//! What `apply` and `deploy` tell a person about a run: the header line before the first
//! write (context, server, namespace, configuration, image), the summary line after the
//! outcome (`FAILED` with what was done before the failure), the next step after a failed
//! rollout, and the machine-readable result of `-o json|yaml`.

use std::time::Duration;

use serde::Serialize;

use super::client::Source;
use super::deploy::Context;
use super::kept_image::Running;
use super::summary::{Action, RolloutResult, Summary};
use crate::cli::OutputFormat;

/// Where a run writes, and with which image; known once the cluster is connected.
#[derive(Debug, Clone, Default)]
pub(crate) struct Where {
    /// The kubeconfig context (empty in a pod, where the service account is used).
    pub(crate) context: String,
    /// The API server URL.
    pub(crate) server: String,
    /// The target namespace.
    pub(crate) namespace: String,
    /// The configuration read: `built-in (gpt-deploy 0.1.0)` or a directory.
    pub(crate) configuration: String,
    /// The image deployed, as a tag or digest when it is in the configured repository.
    pub(crate) image: String,
    /// The image is the one already running (no `--image`).
    pub(crate) image_kept: bool,
    /// The image running before this run (release record, else live Deployment).
    pub(crate) previous_image: Option<String>,
    /// The release that deployed [`Where::previous_image`], when it is recorded.
    pub(crate) previous_revision: Option<u64>,
    /// The failed rollout was rolled back automatically (the previous release serves).
    pub(crate) rolled_back: bool,
}

impl Where {
    /// Reads where a prepared context points.
    #[must_use]
    pub(crate) fn of(ctx: &Context, image_kept: bool, previous: Option<&Running>) -> Self {
        let repository = &ctx.plan.config.app.image_repository;
        Self {
            context: match &ctx.cluster.source {
                Source::Kubeconfig { context, .. } => context.clone(),
                Source::InCluster => String::new(),
            },
            server: ctx.cluster.server.clone(),
            namespace: ctx.plan.namespace.clone(),
            configuration: ctx.plan.config.source.to_string(),
            image: short_image(&ctx.plan.image_tag, repository),
            image_kept,
            previous_image: previous.map(|p| short_image(&p.image, repository)),
            previous_revision: previous.and_then(|p| p.revision),
            rolled_back: false,
        }
    }

    /// `context "aks-prod"` or `the in-cluster service account`.
    fn context_words(&self) -> String {
        if self.context.is_empty() {
            "the in-cluster service account".to_owned()
        } else {
            format!("context {:?}", self.context)
        }
    }

    /// `image v1.2.4`, or `image v1.2.4 (kept; pass --image to change it)`.
    #[must_use]
    pub(crate) fn image_words(&self) -> String {
        if self.image_kept {
            format!("image {} (kept; pass --image to change it)", self.image)
        } else {
            format!("image {}", self.image)
        }
    }

    /// The line printed before the first write, e.g. `deploy development: context "aks-prod"
    /// (https://…), namespace "gpt-production", configuration built-in (gpt-deploy 0.1.0),
    /// image v1.2.4`.
    #[must_use]
    pub(crate) fn header(&self, command: &str, environment: &str, dry_run: bool) -> String {
        format!(
            "{command} {environment}{}: {} ({}), namespace {:?}, configuration {}, {}",
            if dry_run { " (server dry run)" } else { "" },
            self.context_words(),
            self.server,
            self.namespace,
            self.configuration,
            self.image_words()
        )
    }
}

/// The tag or digest of a reference in `repository` (`repo:v1` → `v1`, `repo@sha256:…` →
/// `@sha256:…`); anything else as it is.
#[must_use]
pub(crate) fn short_image(reference: &str, repository: &str) -> String {
    match reference.strip_prefix(repository) {
        Some(rest) if rest.starts_with(':') => rest[1..].to_owned(),
        Some(rest) if rest.starts_with('@') => rest.to_owned(),
        _ => reference.to_owned(),
    }
}

/// `--timeout 0` means no timeout, as in kubectl; a wait needs some deadline, so "none" is a
/// hundred years.
#[must_use]
pub(crate) fn wait_limit(timeout: Duration) -> Duration {
    if timeout.is_zero() {
        Duration::from_secs(100 * 365 * 24 * 3600)
    } else {
        timeout
    }
}

/// Objects the run applied (created, changed or unchanged): what "N of M applied" counts.
fn applied(summary: &Summary) -> usize {
    summary
        .objects
        .iter()
        .filter(|o| {
            matches!(
                o.action,
                Action::Created | Action::Changed | Action::Unchanged
            )
        })
        .count()
}

/// The line printed after the outcome, e.g.
/// `deploy development FAILED after 4.1s: 3 of 5 objects applied (1 created, 2 changed, 0 unchanged), 0 pruned; rollout failed: …; image v1.2.4, context "aks", namespace "gpt"`.
#[must_use]
pub(crate) fn summary_line(
    command: &str,
    summary: &Summary,
    place: Option<&Where>,
    planned: usize,
    dry_run: bool,
) -> String {
    let failed = summary.error.is_some() || matches!(summary.rollout, RolloutResult::Failed(_));
    let outcome = match (failed, dry_run) {
        (true, _) => format!("FAILED after {:.1}s", summary.duration.as_secs_f64()),
        (false, true) => format!(
            "server dry run succeeded in {:.1}s (nothing was changed)",
            summary.duration.as_secs_f64()
        ),
        (false, false) => format!("succeeded in {:.1}s", summary.duration.as_secs_f64()),
    };
    let counts = format!(
        "{} created, {} changed, {} unchanged",
        summary.count(Action::Created),
        summary.count(Action::Changed),
        summary.count(Action::Unchanged)
    );
    if failed && place.is_none() {
        return format!(
            "{command} {} {outcome} before reaching the cluster; nothing was changed",
            summary.environment
        );
    }
    let objects = if failed {
        let done = applied(summary);
        if done == 0 && summary.count(Action::Pruned) == 0 {
            format!("0 of {planned} objects applied; nothing was changed")
        } else {
            format!("{done} of {planned} objects applied before the failure ({counts})")
        }
    } else {
        counts
    };
    let mut line = format!(
        "{command} {} {outcome}: {objects}, {} pruned",
        summary.environment,
        summary.count(Action::Pruned)
    );
    match &summary.rollout {
        RolloutResult::Complete => line.push_str("; rollout complete"),
        RolloutResult::Failed(_) => line.push_str("; rollout failed"),
        RolloutResult::Cancelled(_) => line.push_str("; rollout cancelled"),
        RolloutResult::NotWaited => {}
    }
    if let Some(place) = place {
        line.push_str(&format!(
            "; {}, {}, namespace {:?}",
            place.image_words(),
            place.context_words(),
            place.namespace
        ));
    }
    line
}

/// After a failed rollout that was not rolled back: how to put the previous image back (the
/// `rollback` command when a release is recorded, else a deploy of that image).
#[must_use]
pub(crate) fn next_step(summary: &Summary, place: Option<&Where>) -> Option<String> {
    if !matches!(summary.rollout, RolloutResult::Failed(_)) {
        return None;
    }
    let place = place?;
    if place.rolled_back {
        // The error already says which release serves again.
        return None;
    }
    let previous = place.previous_image.as_ref()?;
    let env = &summary.environment;
    let command = summary.command;
    if *previous == place.image {
        return Some(format!(
            "next: the pods of image {previous} that were running before are still serving; fix the cause above and {command} again"
        ));
    }
    let deploy = format!("gpt-deploy deploy --env {env} --image {previous}");
    Some(match place.previous_revision {
        Some(revision) => format!(
            "next: the image before this {command} was {previous} (revision {revision}); put it back with `gpt-deploy rollback --env {env} --to {revision}` (or `{deploy}`), or fix the cause above and {command} again"
        ),
        None => format!(
            "next: the image before this {command} was {previous}; put it back with `{deploy}`, or fix the cause above and {command} again"
        ),
    })
}

/// One object in the `-o json|yaml` result.
#[derive(Debug, Serialize)]
struct ObjectResult<'a> {
    kind: &'a str,
    name: &'a str,
    namespace: &'a str,
    /// `created`, `changed`, `unchanged`, `pruned` or `retired`.
    result: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    note: Option<&'a str>,
}

/// The rollout in the `-o json|yaml` result.
#[derive(Debug, Serialize)]
struct RolloutDoc<'a> {
    /// `complete`, `failed` or `not waited`.
    result: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'a str>,
}

/// The `-o json|yaml` result of `apply`/`deploy`.
#[derive(Debug, Serialize)]
struct Document<'a> {
    command: &'a str,
    environment: &'a str,
    /// `succeeded` or `failed`.
    result: &'static str,
    dry_run: bool,
    context: &'a str,
    server: &'a str,
    namespace: &'a str,
    configuration: &'a str,
    image: &'a str,
    image_kept: bool,
    duration_seconds: f64,
    objects: Vec<ObjectResult<'a>>,
    rollout: RolloutDoc<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
}

fn word(action: Action) -> &'static str {
    match action {
        Action::Created => "created",
        Action::Changed => "changed",
        Action::Unchanged => "unchanged",
        Action::Pruned => "pruned",
        Action::Retired => "retired",
    }
}

/// The `-o json|yaml` result as text (secret values never appear: the summary holds none,
/// and its error text was redacted).
#[must_use]
pub(crate) fn document(
    command: &str,
    summary: &Summary,
    place: Option<&Where>,
    dry_run: bool,
    format: OutputFormat,
) -> String {
    let empty = Where::default();
    let place = place.unwrap_or(&empty);
    let failed = summary.error.is_some() || matches!(summary.rollout, RolloutResult::Failed(_));
    let doc = Document {
        command,
        environment: &summary.environment,
        result: if failed { "failed" } else { "succeeded" },
        dry_run,
        context: &place.context,
        server: &place.server,
        namespace: &place.namespace,
        configuration: &place.configuration,
        image: &place.image,
        image_kept: place.image_kept,
        duration_seconds: (summary.duration.as_secs_f64() * 10.0).round() / 10.0,
        objects: summary
            .objects
            .iter()
            .map(|o| ObjectResult {
                kind: &o.kind,
                name: &o.name,
                namespace: &place.namespace,
                result: word(o.action),
                note: o.note.as_deref(),
            })
            .collect(),
        rollout: match &summary.rollout {
            RolloutResult::NotWaited => RolloutDoc {
                result: "not waited",
                reason: None,
            },
            RolloutResult::Complete => RolloutDoc {
                result: "complete",
                reason: None,
            },
            RolloutResult::Failed(why) => RolloutDoc {
                result: "failed",
                reason: Some(why),
            },
            RolloutResult::Cancelled(why) => RolloutDoc {
                result: "cancelled",
                reason: Some(why),
            },
        },
        error: summary.error.as_deref(),
    };
    let value = serde_json::to_value(&doc).unwrap_or_default();
    match format {
        OutputFormat::Json => {
            let mut text = serde_json::to_string_pretty(&value).unwrap_or_default();
            text.push('\n');
            text
        }
        OutputFormat::Yaml => crate::render::yaml::to_string(&value),
    }
}

/// Says how the run ended: the `-o` document on stdout when asked for, else the summary line
/// (and the next step after a failed rollout) on stderr.
pub(crate) fn finish(
    command: &str,
    summary: &Summary,
    place: Option<&Where>,
    planned: usize,
    dry_run: bool,
    format: Option<OutputFormat>,
) {
    if let Some(format) = format {
        print!("{}", document(command, summary, place, dry_run, format));
        return;
    }
    crate::report::note(&summary_line(command, summary, place, planned, dry_run));
    if let Some(next) = next_step(summary, place) {
        crate::report::note(&next);
    }
}

/// One `apply` or `deploy` run, from its start to the line (or document) that ends it.
#[derive(Debug)]
pub(crate) struct Run {
    command: &'static str,
    started: std::time::Instant,
    dry_run: bool,
    format: Option<OutputFormat>,
    place: Option<Where>,
    planned: usize,
    /// What the run did, filled as it goes.
    pub(crate) summary: Summary,
}

impl Run {
    /// Starts the clock. Until [`Run::connected`], the summary knows only the environment.
    #[must_use]
    pub(crate) fn start(
        command: &'static str,
        environment: &str,
        dry_run: bool,
        format: Option<OutputFormat>,
    ) -> Self {
        if format.is_some() {
            // stdout carries the document; the per-object lines go to stderr.
            crate::report::lines_to_stderr();
        }
        Self {
            command,
            started: std::time::Instant::now(),
            dry_run,
            format,
            place: None,
            planned: 0,
            summary: Summary {
                command,
                environment: environment.to_owned(),
                namespace: String::new(),
                image_tag: String::new(),
                objects: Vec::new(),
                rollout: RolloutResult::NotWaited,
                duration: Duration::ZERO,
                error: None,
            },
        }
    }

    /// Records where the run writes and says it on stderr, before the first write.
    pub(crate) fn connected(&mut self, ctx: &Context) {
        let place = Where::of(ctx, ctx.image_kept, ctx.previous_image.as_ref());
        crate::report::note(&place.header(self.command, &ctx.plan.environment, self.dry_run));
        self.summary.environment.clone_from(&ctx.plan.environment);
        self.summary.namespace.clone_from(&ctx.plan.namespace);
        self.summary.image_tag.clone_from(&place.image);
        self.planned = ctx.plan.objects.len();
        self.place = Some(place);
    }

    /// Records that the failed rollout was rolled back automatically (no next step to give).
    pub(crate) fn rolled_back(&mut self) {
        if let Some(place) = &mut self.place {
            place.rolled_back = true;
        }
    }

    /// Records the end (objects, rollout, error) and says how it went; under GitHub Actions
    /// also appends the step summary.
    pub(crate) fn finish(
        mut self,
        objects: Vec<crate::cluster::summary::ObjectChange>,
        rollout: Option<RolloutResult>,
        error: Option<String>,
    ) {
        self.summary.objects = objects;
        self.summary.rollout = rollout.unwrap_or(RolloutResult::NotWaited);
        self.summary.duration = self.started.elapsed();
        self.summary.error = error;
        if crate::report::github_actions() {
            crate::report::step_summary(&self.summary.to_markdown());
        }
        finish(
            self.command,
            &self.summary,
            self.place.as_ref(),
            self.planned,
            self.dry_run,
            self.format,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::summary::ObjectChange;

    fn summary(actions: &[Action]) -> Summary {
        Summary {
            command: "deploy",
            environment: "production".into(),
            namespace: "gpt".into(),
            image_tag: "v2".into(),
            objects: actions
                .iter()
                .map(|a| ObjectChange {
                    kind: "Secret".into(),
                    name: "s".into(),
                    action: *a,
                    note: None,
                })
                .collect(),
            rollout: RolloutResult::NotWaited,
            duration: Duration::from_millis(4_100),
            error: None,
        }
    }

    fn place() -> Where {
        Where {
            context: "aks".into(),
            server: "https://aks:443".into(),
            namespace: "gpt-production".into(),
            configuration: "built-in (gpt-deploy 0.1.0)".into(),
            image: "v2".into(),
            image_kept: false,
            previous_image: Some("v1".into()),
            previous_revision: None,
            rolled_back: false,
        }
    }

    #[test]
    fn a_failure_says_what_was_done_before_it() {
        let mut s = summary(&[Action::Created, Action::Changed, Action::Unchanged]);
        s.error = Some("boom".into());
        let line = summary_line("deploy", &s, Some(&place()), 5, false);
        assert_eq!(
            line,
            "deploy production FAILED after 4.1s: 3 of 5 objects applied before the failure (1 created, 1 changed, 1 unchanged), 0 pruned; image v2, context \"aks\", namespace \"gpt-production\""
        );
        let s = Summary {
            error: Some("refused".into()),
            ..summary(&[])
        };
        let line = summary_line("apply", &s, Some(&place()), 5, false);
        assert!(
            line.contains("0 of 5 objects applied; nothing was changed"),
            "{line}"
        );
        let line = summary_line("apply", &s, None, 0, false);
        assert_eq!(
            line,
            "apply production FAILED after 4.1s before reaching the cluster; nothing was changed"
        );
    }

    #[test]
    fn a_failed_rollout_names_the_previous_image() {
        let mut s = summary(&[Action::Changed]);
        s.rollout = RolloutResult::Failed("timed out".into());
        let line = summary_line("deploy", &s, Some(&place()), 1, false);
        assert!(line.contains("FAILED"), "{line}");
        assert!(line.contains("rollout failed"), "{line}");
        let next = next_step(&s, Some(&place())).unwrap();
        assert_eq!(
            next,
            "next: the image before this deploy was v1; put it back with `gpt-deploy deploy --env production --image v1`, or fix the cause above and deploy again"
        );
        // A recorded release: the rollback command.
        let recorded = Where {
            previous_revision: Some(7),
            ..place()
        };
        let next = next_step(&s, Some(&recorded)).unwrap();
        assert_eq!(
            next,
            "next: the image before this deploy was v1 (revision 7); put it back with `gpt-deploy rollback --env production --to 7` (or `gpt-deploy deploy --env production --image v1`), or fix the cause above and deploy again"
        );
        // Rolled back already: the error says so, no next step.
        let restored = Where {
            rolled_back: true,
            ..recorded
        };
        assert_eq!(next_step(&s, Some(&restored)), None);
    }

    #[test]
    fn the_header_names_everything() {
        let mut p = place();
        p.image_kept = true;
        assert_eq!(
            p.header("apply", "production", false),
            "apply production: context \"aks\" (https://aks:443), namespace \"gpt-production\", configuration built-in (gpt-deploy 0.1.0), image v2 (kept; pass --image to change it)"
        );
    }

    #[test]
    fn images_of_the_repository_are_shortened() {
        assert_eq!(short_image("r.io/app:v1", "r.io/app"), "v1");
        assert_eq!(short_image("r.io/app@sha256:ab", "r.io/app"), "@sha256:ab");
        assert_eq!(
            short_image("other.io/app:v1", "r.io/app"),
            "other.io/app:v1"
        );
        assert_eq!(short_image("v1", "r.io/app"), "v1");
    }

    #[test]
    fn zero_timeout_is_no_timeout() {
        assert!(wait_limit(Duration::ZERO) > Duration::from_secs(3600 * 24 * 365));
        assert_eq!(wait_limit(Duration::from_secs(5)), Duration::from_secs(5));
    }

    #[test]
    fn the_json_result_parses() {
        let text = document(
            "deploy",
            &summary(&[Action::Created]),
            Some(&place()),
            false,
            OutputFormat::Json,
        );
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["objects"][0]["result"], "created");
        assert_eq!(v["rollout"]["result"], "not waited");
        assert_eq!(v["result"], "succeeded");
    }
}
