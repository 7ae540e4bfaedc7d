//! The four ways a preview is written: coloured terminal text, plain text, markdown (a summary
//! table, then a collapsible `<details>` block per object, cut to fit a size limit) and JSON.

use std::fmt::Write as _;

use owo_colors::OwoColorize as _;
use serde::Serialize;

use super::compare::{Change, ObjectChange};
use super::{EnvPreview, Preview};
use crate::cluster::diff::colorize;
use crate::report::markdown::{Fitter, details as details_html, html_escape};

/// Terminal or plain text: per environment a line of counts, the objects, then their diffs.
#[must_use]
pub(crate) fn text(preview: &Preview, colour: bool) -> String {
    let mut out = String::new();
    let paint = |s: &str, f: fn(&str) -> String| if colour { f(s) } else { s.to_owned() };
    let _ = writeln!(
        out,
        "{} {} ({}) → {} ({})\n",
        paint("Preview of", |s| s.bold().to_string()),
        preview.base.name,
        preview.base.short(),
        preview.head.name,
        preview.head.short()
    );
    for env in &preview.environments {
        let headline = format!("{}: {}", env.name, env.counts_text());
        let _ = writeln!(out, "{}", paint(&headline, |s| s.bold().to_string()));
        for object in &env.comparison.objects {
            let line = format!(
                "  {} {}{}",
                object.change.sign(),
                object.title(),
                note(object)
            );
            let painted = match object.change {
                Change::Added => paint(&line, |s| s.green().to_string()),
                Change::Removed => paint(&line, |s| s.red().to_string()),
                Change::Changed => paint(&line, |s| s.yellow().to_string()),
            };
            let _ = writeln!(out, "{painted}");
        }
        for object in &env.comparison.objects {
            out.push('\n');
            if colour {
                out.push_str(&colorize(&object.diff));
            } else {
                out.push_str(&object.diff);
            }
        }
        out.push('\n');
    }
    let _ = writeln!(out, "{}", preview.totals_text());
    out
}

/// ` (value changed: a, b)` for a Secret whose values differ, else nothing.
fn note(object: &ObjectChange) -> String {
    if object.secret_values_changed.is_empty() {
        String::new()
    } else {
        format!(
            " (value changed: {})",
            object.secret_values_changed.join(", ")
        )
    }
}

/// How the markdown is cut to a size.
#[derive(Debug, Clone, Default)]
pub(crate) struct MarkdownOptions {
    /// A hidden line put first (the comment's marker).
    pub(crate) marker: Option<String>,
    /// At most this many characters (GitHub's comment limit), diffs left out to fit.
    pub(crate) limit: Option<usize>,
    /// Where the full text is, said when diffs were left out (e.g. the job summary's URL).
    pub(crate) full_text_at: Option<String>,
}

/// Markdown: a heading, the summary table, then per changed environment a `<details>` block per
/// object. With a limit, diffs that do not fit are left out (named, with a pointer to the full
/// text), so the result always is well-formed markdown within the limit.
#[must_use]
pub(crate) fn markdown(preview: &Preview, options: &MarkdownOptions) -> String {
    let mut head = String::new();
    if let Some(marker) = &options.marker {
        let _ = writeln!(head, "{marker}");
    }
    let _ = writeln!(
        head,
        "### Deployment preview\n\n`{}` (`{}`) → `{}` (`{}`): {}\n",
        preview.base.name.replace('`', "'"),
        preview.base.short(),
        preview.head.name.replace('`', "'"),
        preview.head.short(),
        preview.totals_text()
    );
    head.push_str("| Environment | Added | Removed | Changed | Unchanged |\n");
    head.push_str("|---|---:|---:|---:|---:|\n");
    for env in &preview.environments {
        let c = &env.comparison;
        let _ = writeln!(
            head,
            "| `{}`{} | {} | {} | {} | {} |",
            env.name,
            env.presence_note(),
            c.count(Change::Added),
            c.count(Change::Removed),
            c.count(Change::Changed),
            c.unchanged
        );
    }
    let mut fitter = Fitter::new(&head, options.limit);
    for env in preview.environments.iter().filter(|e| e.changed()) {
        fitter.text(&format!("\n#### `{}`\n\n", env.name));
        for object in &env.comparison.objects {
            let summary = format!(
                "{} <code>{}</code>{}",
                object.change.word(),
                html_escape(&object.title()),
                html_escape(&note(object))
            );
            let short = format!(
                "- {} `{}`{} (diff left out)\n",
                object.change.word(),
                object.title(),
                note(object)
            );
            fitter.block(&details_html(&summary, &object.diff), &short);
        }
    }
    fitter.finish(options.full_text_at.as_deref())
}

#[derive(Serialize)]
struct JsonPreview<'a> {
    base: &'a super::git::Revision,
    head: &'a super::git::Revision,
    changed: bool,
    environments: Vec<JsonEnvironment<'a>>,
}

#[derive(Serialize)]
struct JsonEnvironment<'a> {
    name: &'a str,
    status: &'static str,
    added: usize,
    removed: usize,
    changed: usize,
    unchanged: usize,
    objects: &'a [ObjectChange],
}

/// JSON: revisions, a `changed` flag, and per environment its counts and objects with diffs.
#[must_use]
pub(crate) fn json(preview: &Preview) -> String {
    let environments = preview
        .environments
        .iter()
        .map(|env: &EnvPreview| JsonEnvironment {
            name: &env.name,
            status: env.status(),
            added: env.comparison.count(Change::Added),
            removed: env.comparison.count(Change::Removed),
            changed: env.comparison.count(Change::Changed),
            unchanged: env.comparison.unchanged,
            objects: &env.comparison.objects,
        })
        .collect();
    let doc = JsonPreview {
        base: &preview.base,
        head: &preview.head,
        changed: preview.changed(),
        environments,
    };
    let mut text = serde_json::to_string_pretty(&doc).unwrap_or_default();
    text.push('\n');
    text
}
