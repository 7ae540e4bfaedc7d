//! Cancellation of `deploy`, `apply` and `rollback` by SIGINT or SIGTERM (a cancelled
//! GitHub Actions job sends SIGINT, then SIGTERM, then SIGKILL after about ten seconds).
//!
//! A signal never interrupts a request in flight: it is noted, the request finishes, the
//! next write does not start ([`check`]) and the rollout wait stops ([`cancelled`]). The
//! command then records its revision as cancelled, writes the step summary and the `::error`
//! annotation, and exits 130. Further signals change nothing; SIGKILL is the way to stop at
//! once.

use std::sync::OnceLock;

use tokio::sync::watch;

use super::{Error, Result};

/// The signal received: `None` until one arrives.
static SIGNAL: OnceLock<watch::Sender<Option<&'static str>>> = OnceLock::new();

fn channel() -> &'static watch::Sender<Option<&'static str>> {
    SIGNAL.get_or_init(|| watch::channel(None).0)
}

/// Starts listening for SIGINT and SIGTERM (once per process; later calls do nothing).
/// Call it inside the tokio runtime at the start of a command that writes to the cluster.
pub(crate) fn listen() {
    static STARTED: OnceLock<()> = OnceLock::new();
    if STARTED.set(()).is_err() {
        return;
    }
    let sender = channel();
    tokio::spawn(async move {
        loop {
            let name = next_signal().await;
            if sender.borrow().is_some() {
                eprintln!(
                    "{name} received: already stopping (finishing the request in flight, then recording the revision)"
                );
                continue;
            }
            eprintln!(
                "{name} received: stopping after the request in flight; nothing more will be written"
            );
            sender.send_replace(Some(name));
        }
    });
}

#[cfg(unix)]
async fn next_signal() -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};
    // Registering can only fail when the process is out of file descriptors; then only
    // Ctrl-C is caught.
    match (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) {
        (Ok(mut int), Ok(mut term)) => {
            tokio::select! {
                _ = int.recv() => "SIGINT",
                _ = term.recv() => "SIGTERM",
            }
        }
        _ => {
            let _ = tokio::signal::ctrl_c().await;
            "SIGINT"
        }
    }
}

#[cfg(not(unix))]
async fn next_signal() -> &'static str {
    let _ = tokio::signal::ctrl_c().await;
    "SIGINT"
}

/// The signal received so far, if any.
#[must_use]
pub(crate) fn requested() -> Option<&'static str> {
    *channel().borrow()
}

/// Completes when a signal has been received, with its name; never completes otherwise.
pub(crate) async fn cancelled() -> &'static str {
    let mut receiver = channel().subscribe();
    match receiver.wait_for(Option::is_some).await {
        Ok(signal) => signal.unwrap_or("a signal"),
        // The sender lives in a static, so it is never dropped.
        Err(_) => std::future::pending().await,
    }
}

/// The error for a run stopped by `signal` while it was `during` (e.g. `waiting for the
/// rollout of Deployment ns/name`).
#[must_use]
pub(crate) fn error(signal: &'static str, during: impl Into<String>) -> Error {
    Error::Cancelled {
        signal,
        during: during.into(),
    }
}

/// Stops before the next step when a signal has been received.
///
/// # Errors
/// [`Error::Cancelled`], naming what was about to happen.
pub(crate) fn check(next: impl FnOnce() -> String) -> Result<()> {
    match requested() {
        Some(signal) => Err(error(signal, format!("before {}", next()))),
        None => Ok(()),
    }
}
