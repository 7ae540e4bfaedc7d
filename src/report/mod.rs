//! Terminal output, GitHub Actions annotations and the step summary.
//!
//! Everything a command says to a person goes through here, so the same run reads well on
//! a terminal (colour, a live progress line), in a log file (plain lines, one per change)
//! and in GitHub Actions (`::error` annotations and a markdown step summary).

pub(crate) mod markdown;
pub(crate) mod progress;

use std::io::{IsTerminal, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

pub use progress::Progress;

/// `--no-color` was given.
static NO_COLOR_FLAG: AtomicBool = AtomicBool::new(false);
/// `--quiet` was given.
static QUIET: AtomicBool = AtomicBool::new(false);
/// `-o json|yaml`: stdout carries a document, so result lines go to stderr.
static LINES_TO_STDERR: AtomicBool = AtomicBool::new(false);

/// Sends the result lines of [`line`] to stderr from now on (stdout carries a document).
pub(crate) fn lines_to_stderr() {
    LINES_TO_STDERR.store(true, Ordering::Relaxed);
}

/// Applies the global output flags (`--no-color`, `--quiet`) for the rest of the run.
pub fn configure(no_color: bool, quiet: bool) {
    NO_COLOR_FLAG.store(no_color, Ordering::Relaxed);
    QUIET.store(quiet, Ordering::Relaxed);
}

/// True unless `--no-color` was given or `NO_COLOR` is set to something (no-color.org).
#[must_use]
pub fn colour_allowed() -> bool {
    !NO_COLOR_FLAG.load(Ordering::Relaxed)
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// True when what goes to stdout may be coloured: a terminal, and colour allowed.
#[must_use]
pub(crate) fn colour_stdout() -> bool {
    stdout_is_tty() && colour_allowed()
}

/// True when `--quiet` was given: only errors, warnings and requested output are printed.
#[must_use]
pub(crate) fn quiet() -> bool {
    QUIET.load(Ordering::Relaxed)
}

/// Prints a note for a person on stderr (where, what was kept, the outcome), unless `--quiet`.
pub(crate) fn note(message: &str) {
    if !quiet() {
        eprintln!("{message}");
    }
}

/// True when running under GitHub Actions (`GITHUB_ACTIONS=true`).
#[must_use]
pub(crate) fn github_actions() -> bool {
    std::env::var("GITHUB_ACTIONS").as_deref() == Ok("true")
}

/// True when stdout is a terminal (colours and live progress are wanted).
#[must_use]
pub(crate) fn stdout_is_tty() -> bool {
    std::io::stdout().is_terminal()
}

/// True when stderr is a terminal (where the progress line is drawn).
#[must_use]
pub(crate) fn stderr_is_tty() -> bool {
    std::io::stderr().is_terminal()
}

/// The kind of a GitHub Actions annotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Level {
    /// `::error::`
    Error,
    /// `::warning::`
    Warning,
}

/// Writes one GitHub Actions annotation (a workflow command) on stderr. Every annotation goes
/// through here: stderr, because Actions reads workflow commands on both streams and stdout may
/// carry a document (`render`'s YAML, `-o json`) that an annotation would corrupt.
pub(crate) fn annotate(level: Level, message: &str) {
    let command = match level {
        Level::Error => "error",
        Level::Warning => "warning",
    };
    eprintln!("::{command}::{}", escape_data(message));
}

/// Escapes the message of a workflow command (GitHub's escaping): an annotation is one line,
/// so `%`, `\r` and `\n` become `%25`, `%0D` and `%0A`.
#[must_use]
pub(crate) fn escape_data(message: &str) -> String {
    message
        .replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Prints an error for a person; under GitHub Actions also as an `::error` annotation.
pub fn error(message: &str) {
    eprintln!("{message}");
    if github_actions() {
        // The annotation is already labelled an error by GitHub.
        annotate(
            Level::Error,
            message.strip_prefix("error: ").unwrap_or(message),
        );
    }
}

/// Prints a warning for a person; under GitHub Actions also as a `::warning` annotation.
pub(crate) fn warning(message: &str) {
    eprintln!("warning: {message}");
    if github_actions() {
        annotate(Level::Warning, message);
    }
}

/// The causes of `error`, outermost first (its `source()` chain, without `error` itself).
pub(crate) fn causes<'a>(
    error: &'a dyn std::error::Error,
) -> impl Iterator<Item = &'a (dyn std::error::Error + 'static)> {
    std::iter::successors(error.source(), |cause| cause.source())
}

/// `error: cause: cause…` on one line, for places that print several errors in a list.
#[must_use]
pub(crate) fn with_causes(error: &dyn std::error::Error) -> String {
    causes(error).fold(error.to_string(), |text, cause| format!("{text}: {cause}"))
}

/// `error` followed by one `  caused by: …` line per cause, for a command's final error.
#[must_use]
pub fn caused_by(error: &dyn std::error::Error) -> String {
    causes(error).fold(error.to_string(), |text, cause| {
        format!("{text}\n  caused by: {cause}")
    })
}

/// The file named by `$GITHUB_STEP_SUMMARY`, when it is set and not empty.
#[must_use]
pub(crate) fn step_summary_path() -> Option<PathBuf> {
    std::env::var_os("GITHUB_STEP_SUMMARY")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
}

/// Appends `markdown` to the job summary file at `path` (created when missing).
///
/// # Errors
/// The file cannot be opened or written.
pub(crate) fn append_summary(path: &Path, markdown: &str) -> std::io::Result<()> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?
        .write_all(markdown.as_bytes())
}

/// Appends `markdown` to `$GITHUB_STEP_SUMMARY` when it is set. A summary that cannot be
/// written is only a warning: the command itself succeeded or failed already.
pub(crate) fn step_summary(markdown: &str) {
    let Some(path) = step_summary_path() else {
        return;
    };
    if let Err(e) = append_summary(&path, markdown) {
        warning(&format!(
            "cannot append to the job summary {}: {e}",
            path.display()
        ));
    }
}

/// Prints one result line on stdout (e.g. `deployment.apps/gpt-service configured`),
/// unless `--quiet`.
pub(crate) fn line(message: &str) {
    if quiet() {
    } else if LINES_TO_STDERR.load(Ordering::Relaxed) {
        eprintln!("{message}");
    } else {
        println!("{message}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn annotations_stay_on_one_line() {
        assert_eq!(escape_data("a\nb\r%"), "a%0Ab%0D%25");
        assert_eq!(escape_data("a: b, c"), "a: b, c");
    }

    #[derive(Debug)]
    struct Chain(&'static str, Option<Box<Chain>>);

    impl std::fmt::Display for Chain {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }

    impl std::error::Error for Chain {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            self.1.as_deref().map(|c| c as _)
        }
    }

    #[test]
    fn causes_walk_the_source_chain_outermost_first() {
        let err = Chain(
            "cannot apply",
            Some(Box::new(Chain(
                "request failed",
                Some(Box::new(Chain("connection refused", None))),
            ))),
        );
        let names: Vec<String> = causes(&err).map(ToString::to_string).collect();
        assert_eq!(names, ["request failed", "connection refused"]);
        assert_eq!(
            with_causes(&err),
            "cannot apply: request failed: connection refused"
        );
        assert_eq!(
            caused_by(&err),
            "cannot apply\n  caused by: request failed\n  caused by: connection refused"
        );
        assert_eq!(caused_by(&Chain("alone", None)), "alone");
    }

    #[test]
    fn the_summary_is_appended_to_the_file_given() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("summary.md");
        std::fs::write(&path, "before\n").unwrap();
        append_summary(&path, "### one\n").unwrap();
        append_summary(&path, "### two\n").unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text, "before\n### one\n### two\n");
        let missing = dir.path().join("no-such-dir/summary.md");
        assert!(append_summary(&missing, "x").is_err());
    }
}
