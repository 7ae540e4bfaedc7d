//! The GitHub token and API URL as they arrive from CI or a pasted secret: trimmed, checked
//! before any request (exit 2, never a panic), and never sent in clear to another machine.

use crate::support;

use support::github::TOKEN;
use support::secrets_cli::{CHECK, ready, run};

#[tokio::test]
async fn a_token_with_a_trailing_newline_works() {
    let gh = ready();
    for token in [format!("{TOKEN}\n"), format!("  {TOKEN}\r\n")] {
        let out = run(&gh, CHECK, &[("GITHUB_TOKEN", token)], None).await;
        // 1: GitHub answered and the declared secrets are missing there.
        assert_eq!(out.code, 1, "{out:?}");
        assert!(out.stdout.contains("MISSING  DATABASE_URL"), "{out:?}");
        assert!(!out.stderr.contains(TOKEN), "{out:?}");
    }
}

#[tokio::test]
async fn a_token_that_cannot_be_a_header_is_a_usage_error_before_any_request() {
    let gh = ready();
    for token in [
        format!("{}\n{}", &TOKEN[..4], &TOKEN[4..]),
        format!("{TOKEN} extra"),
        format!("{TOKEN}\u{7f}x"),
    ] {
        let out = run(&gh, CHECK, &[("GITHUB_TOKEN", token)], None).await;
        assert_eq!(out.code, 2, "{out:?}");
        assert!(
            out.stderr
                .contains("the GitHub token in GITHUB_TOKEN (or GH_TOKEN) contains"),
            "{out:?}"
        );
        assert!(!out.stderr.contains(&TOKEN[4..]), "{out:?}");
        assert!(!out.stderr.contains("panicked"), "{out:?}");
    }
    assert!(gh.requests().is_empty(), "{:?}", gh.requests());
}

#[tokio::test]
async fn plain_http_to_another_machine_is_refused_before_any_request() {
    let gh = ready();
    for url in ["http://api.github.com", "http://192.0.2.1:8080/api/v3"] {
        let out = run(&gh, CHECK, &[("GITHUB_API_URL", url.to_owned())], None).await;
        assert_eq!(out.code, 2, "{out:?}");
        assert!(out.stderr.contains("is plain http"), "{out:?}");
        assert!(out.stderr.contains("use https://"), "{out:?}");
        assert!(!out.stderr.contains(TOKEN), "{out:?}");
    }
    assert!(gh.requests().is_empty(), "{:?}", gh.requests());
}
