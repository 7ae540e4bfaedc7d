//! The `preview` command: build both revisions, print, and keep the pull-request comment.

use std::io::Write as _;

use super::{
    COMMENT_MARKER, Error, MarkdownOptions, Repository, Result, append_step_summary, build, json,
    markdown, pull_request_number, run_url, text,
};
use crate::cli::{PreviewArgs, PreviewFormat};
use crate::config::Config;
use crate::github;

/// Where `--comment` writes: the client and the pull request number.
struct CommentTarget {
    client: github::Client,
    number: u64,
}

fn comment_target(args: &PreviewArgs, config: Option<&Config>) -> Result<CommentTarget> {
    let number = pull_request_number(args.pr)?;
    let repo = github::resolve_repo(
        args.repo.as_deref(),
        std::env::var("GITHUB_REPOSITORY").ok().as_deref(),
        config.map(|c| c.app.github_repository.as_str()),
    )
    .map_err(Error::Github)?;
    let client = github::client_from_env(repo).map_err(Error::Github)?;
    Ok(CommentTarget { client, number })
}

/// `gpt-deploy preview`: exit 0 when no environment changes, 1 when one does.
///
/// # Errors
/// Git, configuration and render errors (exit 2), output and GitHub errors (exit 3).
pub async fn cmd_preview(args: &PreviewArgs) -> Result<u8> {
    let repo = Repository::open(&args.config)?;
    let (preview, head_config) = build(&repo, &args.base, &args.head, &args.env)?;
    // Everything that can be checked is checked before anything is printed or posted.
    let target = if args.comment {
        Some(comment_target(args, head_config.as_ref())?)
    } else {
        None
    };
    let format = args.format.unwrap_or_else(|| {
        if crate::report::colour_stdout() {
            PreviewFormat::Terminal
        } else {
            PreviewFormat::Plain
        }
    });
    let full = markdown(&preview, &MarkdownOptions::default());
    let printed = match format {
        PreviewFormat::Terminal => text(&preview, true),
        PreviewFormat::Plain => text(&preview, false),
        PreviewFormat::Markdown => full.clone(),
        PreviewFormat::Json => json(&preview),
    };
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(printed.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(Error::Output)?;
    drop(stdout);
    append_step_summary(&full);
    if let Some(target) = target {
        let body = markdown(
            &preview,
            &MarkdownOptions {
                marker: Some(COMMENT_MARKER.to_owned()),
                limit: Some(github::issues::BODY_LIMIT),
                full_text_at: run_url().map(|url| format!("the [job summary]({url})")),
            },
        );
        // A preview without changes is only posted to replace an earlier one.
        let outcome = github::issues::upsert_comment(
            &target.client,
            target.number,
            COMMENT_MARKER,
            &body,
            preview.changed(),
        )
        .await
        .map_err(Error::Github)?;
        match outcome {
            github::issues::CommentOutcome::Created { url } => {
                eprintln!(
                    "posted the preview on pull request #{}: {url}",
                    target.number
                );
            }
            github::issues::CommentOutcome::Updated { url } => {
                eprintln!(
                    "updated the preview on pull request #{}: {url}",
                    target.number
                );
            }
            github::issues::CommentOutcome::Skipped => {
                eprintln!(
                    "no changes and no earlier preview on pull request #{}: nothing posted",
                    target.number
                );
            }
        }
    }
    Ok(if preview.changed() {
        crate::exit::DIFFERENCES
    } else {
        crate::exit::OK
    })
}
