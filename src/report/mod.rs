//! Terminal output, GitHub Actions annotations and the step summary.
//!
//! Everything a command says to a person goes through here, so the same run reads well on
//! a terminal (colour, a live progress line), in a log file (plain lines, one per change)
//! and in GitHub Actions (`::error` annotations and a markdown step summary).

pub mod markdown;
pub mod progress;

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};

pub use progress::Progress;

/// `--no-color` was given.
static NO_COLOR_FLAG: AtomicBool = AtomicBool::new(false);
/// `--quiet` was given.
static QUIET: AtomicBool = AtomicBool::new(false);
/// `-o json|yaml`: stdout carries a document, so result lines go to stderr.
static LINES_TO_STDERR: AtomicBool = AtomicBool::new(false);

/// Sends the result lines of [`line`] to stderr from now on (stdout carries a document).
pub fn lines_to_stderr() {
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
pub fn colour_stdout() -> bool {
    stdout_is_tty() && colour_allowed()
}

/// True when `--quiet` was given: only errors, warnings and requested output are printed.
#[must_use]
pub fn quiet() -> bool {
    QUIET.load(Ordering::Relaxed)
}

/// Prints a note for a person on stderr (where, what was kept, the outcome), unless `--quiet`.
pub fn note(message: &str) {
    if !quiet() {
        eprintln!("{message}");
    }
}

/// True when running under GitHub Actions (`GITHUB_ACTIONS=true`).
#[must_use]
pub fn github_actions() -> bool {
    std::env::var("GITHUB_ACTIONS").as_deref() == Ok("true")
}

/// True when stdout is a terminal (colours and live progress are wanted).
#[must_use]
pub fn stdout_is_tty() -> bool {
    std::io::stdout().is_terminal()
}

/// True when stderr is a terminal (where the progress line is drawn).
#[must_use]
pub fn stderr_is_tty() -> bool {
    std::io::stderr().is_terminal()
}

/// Escapes a message for a workflow command; annotations are one line and GitHub's
/// escaping for newlines is `%0A`.
fn escape_annotation(message: &str) -> String {
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
        let text = message.strip_prefix("error: ").unwrap_or(message);
        println!("::error::{}", escape_annotation(text));
    }
}

/// Prints a warning for a person; under GitHub Actions also as a `::warning` annotation.
pub fn warning(message: &str) {
    eprintln!("warning: {message}");
    if github_actions() {
        println!("::warning::{}", escape_annotation(message));
    }
}

/// Prints one result line on stdout (e.g. `deployment.apps/gpt-service configured`),
/// unless `--quiet`.
pub fn line(message: &str) {
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
        assert_eq!(escape_annotation("a\nb\r%"), "a%0Ab%0D%25");
    }
}
