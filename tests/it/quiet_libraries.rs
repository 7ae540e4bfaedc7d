//! Operator commands print their own messages only: the libraries' log lines (octocrab,
//! hyper, kube-rs) stay off unless RUST_LOG asks for them.

use crate::support;

use http::Method;
use support::github::Fault;
use support::secrets_cli::{CHECK, ready, run};

/// Log lines at WARN or ERROR from a target other than gpt-deploy's own.
fn library_lines(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| l.contains(" WARN ") || l.contains(" ERROR "))
        .filter(|l| !l.contains(" gpt_deploy"))
        .collect()
}

#[tokio::test]
async fn secrets_check_shows_no_library_log_lines() {
    // A server error: octocrab logs an ERROR line for every failed attempt.
    let fault = || Fault::new(Method::GET, "/secrets", 503, "unavailable").times(100);
    // With RUST_LOG=warn the libraries do log for this failure: the case is real.
    let gh = ready();
    gh.inject(fault());
    let noisy = run(&gh, CHECK, &[("RUST_LOG", "warn".to_owned())], None).await;
    assert_eq!(noisy.code, 3, "{noisy:?}");
    assert!(
        !library_lines(&noisy.stderr).is_empty(),
        "expected library log lines with RUST_LOG=warn:\n{}",
        noisy.stderr
    );
    // By default: one line, gpt-deploy's error, which counts the attempts; no library lines,
    // and the retries are quiet (as the Kubernetes requests' are).
    let gh = ready();
    gh.inject(fault());
    let quiet = run(&gh, CHECK, &[], None).await;
    assert_eq!(quiet.code, 3, "{quiet:?}");
    assert_eq!(
        library_lines(&quiet.stderr),
        Vec::<&str>::new(),
        "{}",
        quiet.stderr
    );
    assert_eq!(quiet.stderr.lines().count(), 1, "{}", quiet.stderr);
    assert!(
        quiet.stderr.starts_with("error: GET ") && quiet.stderr.contains("after 4 attempt(s)"),
        "{}",
        quiet.stderr
    );
}
