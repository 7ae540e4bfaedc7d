//! A status line that redraws in place on a terminal and prints plain lines elsewhere.
//!
//! Off a terminal (CI logs, pipes) a line is printed only when the text changes, so a
//! rollout that sits at "1 of 2 ready" for a minute produces one line, not sixty.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Progress of one long-running step (a rollout, a Job).
#[derive(Debug)]
pub struct Progress {
    bar: Option<ProgressBar>,
    last: std::sync::Mutex<String>,
    /// `--quiet`: nothing is printed.
    silent: bool,
}

impl Progress {
    /// A spinner on stderr when it is a terminal, else plain lines on stderr.
    #[must_use]
    pub(crate) fn new() -> Self {
        let mut progress = Self::with_tty(super::stderr_is_tty() && !super::quiet());
        progress.silent = super::quiet();
        progress
    }

    /// As [`Progress::new`], choosing the mode explicitly.
    #[must_use]
    pub(crate) fn with_tty(tty: bool) -> Self {
        let bar = tty.then(|| {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            if let Ok(style) = ProgressStyle::with_template("{spinner} {elapsed:>4} {msg}") {
                bar.set_style(style);
            }
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        Self {
            bar,
            last: std::sync::Mutex::new(String::new()),
            silent: false,
        }
    }

    /// Shows the current state.
    pub(crate) fn set(&self, message: &str) {
        let mut last = self
            .last
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if *last == message {
            return;
        }
        message.clone_into(&mut last);
        match &self.bar {
            Some(bar) => bar.set_message(message.to_string()),
            None if self.silent => {}
            None => eprintln!("{message}"),
        }
    }

    /// Clears the live line (if any) and prints a final line.
    pub(crate) fn finish(&self, message: &str) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        if !self.silent {
            eprintln!("{message}");
        }
    }

    /// Removes the live line without printing anything.
    pub(crate) fn clear(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl Default for Progress {
    fn default() -> Self {
        Self::new()
    }
}
