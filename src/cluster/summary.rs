//! What a deploy did: each object's [`Action`], the rollout's result, and the [`Summary`]
//! as markdown, appended to `$GITHUB_STEP_SUMMARY` under GitHub Actions.

use std::fmt::Write as _;
use std::time::Duration;

/// What happened to one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Action {
    /// The object did not exist and was created.
    Created,
    /// The object existed and was changed.
    Changed,
    /// The object existed and the apply changed nothing.
    Unchanged,
    /// The object was a member of the set, no longer rendered, and was deleted.
    Pruned,
    /// The object belonged to an older layout (`[[app.retire]]`) and was deleted.
    Retired,
}

impl Action {
    /// The verb kubectl would print (`created`, `configured`, `unchanged`, `pruned`).
    #[must_use]
    pub(crate) fn verb(self) -> &'static str {
        match self {
            Action::Created => "created",
            Action::Changed => "configured",
            Action::Unchanged => "unchanged",
            Action::Pruned => "pruned",
            Action::Retired => "retired",
        }
    }
}

/// One object and what happened to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ObjectChange {
    /// `Kind` of the object.
    pub(crate) kind: String,
    /// Name of the object.
    pub(crate) name: String,
    /// What happened.
    pub(crate) action: Action,
    /// What else happened, e.g. `adopted from kubectl-client-side-apply`.
    pub(crate) note: Option<String>,
}

/// The outcome of waiting for the rollout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RolloutResult {
    /// Not waited for (`--no-wait`, dry run, or the run stopped earlier).
    NotWaited,
    /// Every replica is updated and available.
    Complete,
    /// The rollout failed or timed out; the text says why.
    Failed(String),
    /// SIGINT or SIGTERM stopped the wait; the text says what was going on.
    Cancelled(String),
}

/// Everything the step summary reports.
#[derive(Debug, Clone)]
pub(crate) struct Summary {
    /// The command (`deploy`, `rollback`), as the heading names it.
    pub(crate) command: &'static str,
    /// Environment name.
    pub(crate) environment: String,
    /// Target namespace.
    pub(crate) namespace: String,
    /// Image tag deployed.
    pub(crate) image_tag: String,
    /// Per-object results, in apply order, then pruned objects.
    pub(crate) objects: Vec<ObjectChange>,
    /// The rollout outcome.
    pub(crate) rollout: RolloutResult,
    /// Wall time of the whole command.
    pub(crate) duration: Duration,
    /// The error that stopped the run, if any.
    pub(crate) error: Option<String>,
}

impl Summary {
    /// How many objects had the given action.
    #[must_use]
    pub(crate) fn count(&self, action: Action) -> usize {
        self.objects.iter().filter(|o| o.action == action).count()
    }

    /// The summary as GitHub-flavoured markdown.
    #[must_use]
    pub(crate) fn to_markdown(&self) -> String {
        let mut md = String::new();
        let status = match (&self.error, &self.rollout) {
            (_, RolloutResult::Cancelled(_)) => "cancelled",
            (Some(_), _) | (None, RolloutResult::Failed(_)) => "failed",
            _ => "succeeded",
        };
        let _ = writeln!(
            md,
            "### gpt-deploy: {} {} {status}\n",
            escape(&self.environment),
            self.command
        );
        let _ = writeln!(
            md,
            "Namespace `{}` · image tag `{}` · {:.1}s\n",
            escape(&self.namespace),
            escape(&self.image_tag),
            self.duration.as_secs_f64()
        );
        let _ = writeln!(
            md,
            "| created | changed | unchanged | pruned |\n|---:|---:|---:|---:|\n| {} | {} | {} | {} |\n",
            self.count(Action::Created),
            self.count(Action::Changed),
            self.count(Action::Unchanged),
            self.count(Action::Pruned)
        );
        if !self.objects.is_empty() {
            md.push_str("| object | result |\n|---|---|\n");
            for o in &self.objects {
                let note = o
                    .note
                    .as_deref()
                    .map(|n| format!(", {}", escape(n)))
                    .unwrap_or_default();
                let _ = writeln!(
                    md,
                    "| {}/{} | {}{note} |",
                    escape(&o.kind),
                    escape(&o.name),
                    o.action.verb()
                );
            }
            md.push('\n');
        }
        let rollout = match &self.rollout {
            RolloutResult::NotWaited => "not waited for".to_string(),
            RolloutResult::Complete => "complete".to_string(),
            RolloutResult::Failed(why) => format!("**failed**: {}", escape(why)),
            RolloutResult::Cancelled(why) => format!("**cancelled**: {}", escape(why)),
        };
        let _ = writeln!(md, "Rollout: {rollout}\n");
        if let Some(error) = &self.error {
            let _ = writeln!(md, "```\n{}\n```\n", error.replace("```", "'''"));
        }
        md
    }
}

/// Keeps table cells intact: a `|` would end the cell.
fn escape(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary() -> Summary {
        Summary {
            command: "deploy",
            environment: "production".into(),
            namespace: "gpt".into(),
            image_tag: "3f2c1ab".into(),
            objects: vec![
                ObjectChange {
                    kind: "Secret".into(),
                    name: "gpt-service".into(),
                    action: Action::Unchanged,
                    note: None,
                },
                ObjectChange {
                    kind: "Deployment".into(),
                    name: "gpt-service".into(),
                    action: Action::Changed,
                    note: Some("adopted from kubectl-client-side-apply".into()),
                },
                ObjectChange {
                    kind: "ConfigMap".into(),
                    name: "old".into(),
                    action: Action::Pruned,
                    note: None,
                },
            ],
            rollout: RolloutResult::Complete,
            duration: Duration::from_millis(12_340),
            error: None,
        }
    }

    #[test]
    fn markdown_counts_each_action() {
        let md = summary().to_markdown();
        assert!(md.contains("production deploy succeeded"), "{md}");
        assert!(md.contains("| 0 | 1 | 1 | 1 |"), "{md}");
        assert!(
            md.contains(
                "| Deployment/gpt-service | configured, adopted from kubectl-client-side-apply |"
            ),
            "{md}"
        );
        assert!(md.contains("Rollout: complete"), "{md}");
        assert!(md.contains("12.3s"), "{md}");
    }

    #[test]
    fn failed_rollout_marks_the_deploy_failed() {
        let mut s = summary();
        s.rollout = RolloutResult::Failed("timed | out".into());
        let md = s.to_markdown();
        assert!(md.contains("deploy failed"), "{md}");
        assert!(md.contains("timed \\| out"), "{md}");
    }

    #[test]
    fn appends_to_the_step_summary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("summary.md");
        std::fs::write(&path, "before\n").unwrap();
        crate::report::append_summary(&path, &summary().to_markdown()).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("before\n### gpt-deploy"), "{text}");
    }
}
