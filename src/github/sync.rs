//! `secrets sync`: make sure the GitHub environment exists, fetch its public key, seal each
//! value and upload it, reporting created / updated per secret.
//!
//! Values are gathered and checked before this runs (see [`super::values`]), so a bad value
//! never leaves a half-synced environment. With `dry_run` only GET requests are sent.

use std::io::Write;

use super::client::{Client, Outcome};
use super::errors::{Error, Result};
use super::values::{Origin, Value};

/// What sync should do.
#[derive(Debug)]
pub(crate) struct SyncPlan {
    /// The GitHub environment.
    pub(crate) environment: String,
    /// Checked values, in declaration order.
    pub(crate) values: Vec<Value>,
    /// Optional secrets without a value, reported as skipped.
    pub(crate) skipped: Vec<String>,
    /// Send no PUT; say what would change.
    pub(crate) dry_run: bool,
    /// Create the GitHub environment when it is missing.
    pub(crate) create_environment: bool,
}

/// What happened (or would happen) to one secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Change {
    /// Uploaded; it did not exist.
    Created,
    /// Uploaded; it replaced a value.
    Updated,
    /// Dry run: it does not exist yet.
    WouldCreate,
    /// Dry run: it exists and would be replaced.
    WouldUpdate,
}

impl Change {
    /// The word printed for this change (`created`, `would update`, ...).
    #[must_use]
    pub(crate) fn verb(self) -> &'static str {
        match self {
            Change::Created => "created",
            Change::Updated => "updated",
            Change::WouldCreate => "would create",
            Change::WouldUpdate => "would update",
        }
    }
}

/// The result of a sync, one entry per uploaded (or would-be uploaded) secret.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct SyncReport {
    /// Whether the environment was created (or, in a dry run, would be).
    pub(crate) environment_created: bool,
    /// Secret name and what happened to it.
    pub(crate) changes: Vec<(String, Change)>,
}

/// Runs the plan against GitHub, printing one line per step to `out` as it happens (so a
/// failure half-way still shows which secrets were uploaded).
///
/// # Errors
/// GitHub API errors; [`Error::EnvironmentNotFound`] when the environment is missing and
/// `create_environment` is off.
pub(crate) async fn sync(
    client: &Client,
    plan: &SyncPlan,
    out: &mut dyn Write,
) -> Result<SyncReport> {
    let env = plan.environment.as_str();
    let mut report = SyncReport::default();
    say(
        out,
        format_args!(
            "GitHub environment `{env}` in {}{}:",
            client.repo(),
            if plan.dry_run { " (dry run)" } else { "" }
        ),
    )?;
    // The public key comes first: it needs only the permissions the upload needs anyway, and a
    // 404 on it is resolved into "environment missing" or "repository missing".
    let key = match client.public_key(env).await {
        Ok(key) => key,
        Err(Error::EnvironmentNotFound {
            repo, environment, ..
        }) if !plan.create_environment => {
            return Err(Error::EnvironmentNotFound {
                repo,
                environment,
                hint: "; pass --create-environment to create it, or create it in the \
                       repository settings (Settings → Environments)",
            });
        }
        Err(Error::EnvironmentNotFound { .. }) => {
            report.environment_created = true;
            if plan.dry_run {
                say(out, format_args!("  would create the environment `{env}`"))?;
                for value in &plan.values {
                    report_change(out, &mut report, value, Change::WouldCreate)?;
                }
                return finish(out, plan, report);
            }
            client.create_environment(env).await?;
            say(out, format_args!("  created the environment `{env}`"))?;
            client.public_key(env).await?
        }
        Err(e) => return Err(e),
    };
    if plan.dry_run {
        let existing = client.secret_names(env).await?;
        for value in &plan.values {
            let change = if contains(&existing, &value.name) {
                Change::WouldUpdate
            } else {
                Change::WouldCreate
            };
            report_change(out, &mut report, value, change)?;
        }
        return finish(out, plan, report);
    }
    for value in &plan.values {
        let sealed = key.seal(&value.value).map_err(|_| Error::Seal {
            name: value.name.clone(),
        })?;
        let change = match client.put_secret(env, &value.name, &key, &sealed).await? {
            Outcome::Created => Change::Created,
            Outcome::Updated => Change::Updated,
        };
        tracing::info!(environment = env, secret = %value.name, change = change.verb(), "secret uploaded");
        report_change(out, &mut report, value, change)?;
    }
    finish(out, plan, report)
}

fn finish(out: &mut dyn Write, plan: &SyncPlan, report: SyncReport) -> Result<SyncReport> {
    for name in &plan.skipped {
        say(
            out,
            format_args!("  skipped {name} (optional, and no value was given)"),
        )?;
    }
    if plan.dry_run {
        say(out, format_args!("dry run: nothing was changed"))?;
    }
    Ok(report)
}

fn report_change(
    out: &mut dyn Write,
    report: &mut SyncReport,
    value: &Value,
    change: Change,
) -> Result<()> {
    let from = match &value.origin {
        Origin::Environment => format!("environment variable {}", value.name),
        Origin::File(path) => format!("file {}", path.display()),
        Origin::Stdin => "standard input".to_owned(),
    };
    say(
        out,
        format_args!("  {} {} (from {from})", change.verb(), value.name),
    )?;
    report.changes.push((value.name.clone(), change));
    Ok(())
}

/// GitHub stores secret names upper-cased and compares them without case.
pub(crate) fn contains(names: &[String], name: &str) -> bool {
    names.iter().any(|n| n.eq_ignore_ascii_case(name))
}

fn say(out: &mut dyn Write, line: std::fmt::Arguments<'_>) -> Result<()> {
    writeln!(out, "{line}").map_err(Error::Output)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_compare_without_case() {
        let names = vec!["CLERK_WEBHOOK_SECRET".to_owned()];
        assert!(contains(&names, "clerk_webhook_secret"));
        assert!(!contains(&names, "DATABASE_URL"));
    }
}
