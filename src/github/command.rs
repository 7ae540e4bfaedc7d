//! The `secrets sync` and `secrets check` commands.

use std::io::IsTerminal;

use super::{Declared, Error, Repo, Result, Target, client_from_env, missing, sync, values};
use crate::cli::{SecretsCheckArgs, SecretsSyncArgs};

/// `gpt-deploy secrets sync`.
///
/// # Errors
/// Configuration and usage problems, bad values (nothing is uploaded), GitHub API errors.
pub async fn cmd_sync(args: &SecretsSyncArgs) -> Result<u8> {
    let target = Target::load(&args.github)?;
    let selected = select(&target.declared, &args.only)?;
    let from_files = values::parse_from_file(&args.from_file)?;
    for name in from_files.keys() {
        if !target.declared.iter().any(|d| &d.name == name) {
            return Err(Error::UnknownSecret {
                flag: "--from-file",
                name: name.clone(),
                declared: names(&target.declared),
            });
        }
        if !selected.iter().any(|d| &d.name == name) {
            return Err(Error::NotSelected { name: name.clone() });
        }
    }
    // The token is checked before values are read, so a missing token never costs a
    // consumed standard input.
    let client = client_from_env(target.repo.clone())?;
    let mut stdin = tokio::io::stdin();
    let stdin: Option<&mut (dyn tokio::io::AsyncRead + Unpin + Send)> = if stdin_allowed(&args.only)
    {
        Some(&mut stdin)
    } else {
        None
    };
    let gathered = values::gather(
        &selected,
        !args.only.is_empty(),
        &from_files,
        |name| std::env::var(name).ok(),
        stdin,
    )
    .await?;
    let plan = sync::SyncPlan {
        environment: target.environment,
        values: gathered.values,
        skipped: gathered.skipped,
        dry_run: args.dry_run,
        create_environment: args.create_environment,
    };
    // Not a lock: each line takes stdout's lock only while it is written, never across an await.
    let report = sync::sync(&client, &plan, &mut std::io::stdout()).await?;
    let mut rows: Vec<(String, &str)> = report
        .changes
        .iter()
        .map(|(name, change)| (name.clone(), change.verb()))
        .collect();
    rows.extend(
        plan.skipped
            .iter()
            .map(|n| (n.clone(), "skipped (optional, no value)")),
    );
    step_summary(
        &target.repo,
        &plan.environment,
        plan.dry_run,
        "Change",
        &rows,
    );
    Ok(crate::exit::OK)
}

/// `gpt-deploy secrets check`.
///
/// # Errors
/// Configuration problems and GitHub API errors.
pub async fn cmd_check(args: &SecretsCheckArgs) -> Result<u8> {
    let target = Target::load(&args.github)?;
    let client = client_from_env(target.repo.clone())?;
    let report = missing::check(&client, &target.environment, &target.declared).await?;
    let repo = target.repo.to_string();
    missing::print(&report, &repo, &target.environment, &mut std::io::stdout())?;
    let rows: Vec<(String, &str)> = [
        (&report.present, "present"),
        (&report.missing_required, "**missing** (required)"),
        (&report.missing_optional, "absent (optional)"),
    ]
    .iter()
    .flat_map(|(names, status)| names.iter().map(|n| (n.clone(), *status)))
    .collect();
    step_summary(&target.repo, &target.environment, false, "Status", &rows);
    if report.missing_required.is_empty() {
        return Ok(crate::exit::OK);
    }
    crate::report::error(&missing::missing_message(
        &report.missing_required,
        &repo,
        &target.environment,
        &args.github.env,
    ));
    Ok(crate::exit::DIFFERENCES)
}

/// Narrows the declared secrets to `--only` (all when empty), in declaration order.
fn select(declared: &[Declared], only: &[String]) -> Result<Vec<Declared>> {
    for name in only {
        if !declared.iter().any(|d| d.name.eq_ignore_ascii_case(name)) {
            return Err(Error::UnknownSecret {
                flag: "--only",
                name: name.clone(),
                declared: names(declared),
            });
        }
    }
    Ok(declared
        .iter()
        .filter(|d| only.is_empty() || only.iter().any(|o| o.eq_ignore_ascii_case(&d.name)))
        .cloned()
        .collect())
}

/// Appends a table of what happened to `$GITHUB_STEP_SUMMARY` (under GitHub Actions).
fn step_summary(
    repo: &Repo,
    environment: &str,
    dry_run: bool,
    column: &str,
    rows: &[(String, &str)],
) {
    let mut text = format!(
        "### GitHub environment `{environment}` in {repo}{}\n\n| Secret | {column} |\n|---|---|\n",
        if dry_run { " (dry run)" } else { "" }
    );
    for (name, what) in rows {
        text.push_str(&format!("| `{name}` | {what} |\n"));
    }
    text.push('\n');
    crate::report::step_summary(&text);
}

/// The declared names, comma-separated, for messages.
fn names(declared: &[Declared]) -> String {
    declared
        .iter()
        .map(|d| d.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Whether standard input may supply the value: exactly one `--only` and no terminal.
fn stdin_allowed(only: &[String]) -> bool {
    only.len() == 1 && !std::io::stdin().is_terminal()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::github::test_declared as declared;

    #[test]
    fn only_selects_declared_secrets_in_order() {
        let d = declared(&["A", "B", "C"]);
        let picked = select(&d, &["c".into(), "A".into()]).unwrap();
        assert_eq!(
            picked.iter().map(|d| d.name.as_str()).collect::<Vec<_>>(),
            ["A", "C"]
        );
        let err = select(&d, &["X".into()]).unwrap_err().to_string();
        assert!(
            err.contains("`--only X`") && err.contains("A, B, C"),
            "{err}"
        );
    }
}
