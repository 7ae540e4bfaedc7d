//! `secrets check`: which declared secrets the GitHub environment lacks.
//!
//! Only names are read (GitHub never returns values); every page of the list is read, since an
//! environment can hold more secrets than one page shows.

use std::io::Write;

use super::client::Client;
use super::errors::{Error, Result};
use super::sync::contains;
use super::values::Declared;

/// Declared secrets sorted by presence in the GitHub environment.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct CheckReport {
    /// Declared and present.
    pub(crate) present: Vec<String>,
    /// Required and absent: `secrets check` exits 1, and deploy's preflight stops.
    pub(crate) missing_required: Vec<String>,
    /// Optional and absent.
    pub(crate) missing_optional: Vec<String>,
}

/// Lists the environment's secret names and compares them with the declared ones.
///
/// # Errors
/// GitHub API errors (a missing repository or environment is named as such).
pub(crate) async fn check(
    client: &Client,
    environment: &str,
    declared: &[Declared],
) -> Result<CheckReport> {
    let names = client.secret_names(environment).await?;
    let mut report = CheckReport::default();
    for secret in declared {
        let bucket = if contains(&names, &secret.name) {
            &mut report.present
        } else if secret.required {
            &mut report.missing_required
        } else {
            &mut report.missing_optional
        };
        bucket.push(secret.name.clone());
    }
    Ok(report)
}

/// Prints the report, one line per declared secret.
///
/// # Errors
/// [`Error::Output`] when standard output is closed.
pub(crate) fn print(
    report: &CheckReport,
    repo: &str,
    environment: &str,
    out: &mut dyn Write,
) -> Result<()> {
    let mut lines = vec![format!("GitHub environment `{environment}` in {repo}:")];
    lines.extend(report.present.iter().map(|n| format!("  present  {n}")));
    lines.extend(
        report
            .missing_required
            .iter()
            .map(|n| format!("  MISSING  {n} (required)")),
    );
    lines.extend(
        report
            .missing_optional
            .iter()
            .map(|n| format!("  absent   {n} (optional)")),
    );
    for line in lines {
        writeln!(out, "{line}").map_err(Error::Output)?;
    }
    Ok(())
}

/// The one-paragraph message for missing required secrets, with the command that fixes it.
#[must_use]
pub(crate) fn missing_message(
    missing: &[String],
    repo: &str,
    environment: &str,
    env: &str,
) -> String {
    format!(
        "{} required secret(s) missing from GitHub environment `{environment}` in {repo}: {}; \
         set them with `gpt-deploy secrets sync --env {env}`",
        missing.len(),
        missing.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printed_report_lists_every_declared_secret() {
        let report = CheckReport {
            present: vec!["A".into()],
            missing_required: vec!["B".into()],
            missing_optional: vec!["C".into()],
        };
        let mut out = Vec::new();
        print(&report, "acme/svc", "production", &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "GitHub environment `production` in acme/svc:\n  present  A\n  MISSING  B (required)\n  absent   C (optional)\n"
        );
        let msg = missing_message(&["B".into()], "acme/svc", "production", "prod");
        assert!(msg.contains("secrets sync --env prod"), "{msg}");
    }
}
