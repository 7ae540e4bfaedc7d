//! The pull-request comment and issue client against the GitHub stand-in: exactly one comment
//! per marker and one open issue per title, across pages, duplicates cleaned up, and GitHub's
//! errors (403 naming the permission, 422 for a body over the limit) passed on.

use crate::support;

use gpt_deploy::github::issues::{
    BODY_LIMIT, CommentOutcome, IssueOutcome, sync_issue, upsert_comment,
};
use gpt_deploy::github::{Client, Connection, Repo, RetryPolicy};
use gpt_deploy::secret::SecretString;
use support::github::{Access, GitHubStandIn, TOKEN, TokenKind};

const REPO: &str = "acme/gpt-service";
const MARKER: &str = "<!-- gpt-deploy:test -->";
const TITLE: &str = "Drift in staging";

fn client(gh: &GitHubStandIn) -> Client {
    gpt_deploy::init_crypto();
    Client::new(Connection {
        api_url: gh.url().to_owned(),
        token: SecretString::new(TOKEN),
        repo: Repo::parse(REPO).unwrap(),
        retry: RetryPolicy::default(),
    })
    .unwrap()
}

#[tokio::test]
async fn one_comment_per_marker_created_updated_and_deduplicated() {
    let gh = GitHubStandIn::start();
    let pr = gh.add_pull_request(REPO, "a change");
    let c = client(&gh);
    let body = |n: u32| format!("{MARKER}\nversion {n}");

    let skipped = upsert_comment(&c, pr, MARKER, &body(0), false)
        .await
        .unwrap();
    assert_eq!(skipped, CommentOutcome::Skipped);
    assert!(gh.comments(REPO, pr).is_empty());

    let created = upsert_comment(&c, pr, MARKER, &body(1), true)
        .await
        .unwrap();
    assert!(
        matches!(created, CommentOutcome::Created { .. }),
        "{created:?}"
    );
    // 150 comments by people after ours: lists take two pages of 100.
    for i in 0..150 {
        gh.add_comment(REPO, pr, &format!("looks good {i}"));
    }
    // A copy of ours (e.g. a create that was retried) is removed on the next update.
    gh.add_comment(REPO, pr, &body(1));
    let updated = upsert_comment(&c, pr, MARKER, &body(2), true)
        .await
        .unwrap();
    assert!(
        matches!(updated, CommentOutcome::Updated { .. }),
        "{updated:?}"
    );
    let ours: Vec<_> = gh
        .comments(REPO, pr)
        .into_iter()
        .filter(|c| c.body.contains(MARKER))
        .collect();
    assert_eq!(ours.len(), 1);
    assert_eq!(ours[0].body, body(2));
    assert_eq!(gh.comments(REPO, pr).len(), 151);
}

#[tokio::test]
async fn one_drift_issue_opened_updated_and_closed() {
    let gh = GitHubStandIn::start();
    // Pull requests with the same title and many other issues do not confuse the search.
    gh.add_pull_request(REPO, TITLE);
    for i in 0..130 {
        gh.add_issue(REPO, &format!("bug {i}"), "");
    }
    let c = client(&gh);
    let closing = "Back in sync.";

    let none = sync_issue(&c, TITLE, None, closing).await.unwrap();
    assert_eq!(none, IssueOutcome::NothingOpen);

    let opened = sync_issue(&c, TITLE, Some("drift 1"), closing)
        .await
        .unwrap();
    let IssueOutcome::Opened { number, .. } = opened else {
        panic!("{opened:?}")
    };
    let updated = sync_issue(&c, TITLE, Some("drift 2"), closing)
        .await
        .unwrap();
    assert!(
        matches!(updated, IssueOutcome::Updated { number: n, .. } if n == number),
        "{updated:?}"
    );
    let open_drift = |gh: &GitHubStandIn| {
        gh.issues(REPO)
            .into_iter()
            .filter(|i| i.title == TITLE && !i.pull_request && i.state == "open")
            .collect::<Vec<_>>()
    };
    let open = open_drift(&gh);
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].body, "drift 2");

    // Someone opened a copy by hand: it is closed with a pointer, the oldest is kept.
    let copy = gh.add_issue(REPO, TITLE, "by hand");
    sync_issue(&c, TITLE, Some("drift 3"), closing)
        .await
        .unwrap();
    let open = open_drift(&gh);
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].number, number);
    let copy_comments = gh.comments(REPO, copy);
    assert_eq!(
        copy_comments[0].body,
        format!("Duplicate of #{number}; closing this copy.")
    );

    let closed = sync_issue(&c, TITLE, None, closing).await.unwrap();
    assert!(
        matches!(closed, IssueOutcome::Closed { number: n, .. } if n == number),
        "{closed:?}"
    );
    assert!(open_drift(&gh).is_empty());
    let issue = gh
        .issues(REPO)
        .into_iter()
        .find(|i| i.number == number)
        .unwrap();
    assert_eq!(issue.state, "closed");
    assert_eq!(issue.state_reason.as_deref(), Some("completed"));
    assert_eq!(gh.comments(REPO, number).last().unwrap().body, closing);
    // The pull request with the same title was never touched.
    assert_eq!(gh.issues(REPO)[0].state, "open");
}

#[tokio::test]
async fn github_errors_name_the_request_and_the_permission() {
    let gh = GitHubStandIn::start();
    let pr = gh.add_pull_request(REPO, "a change");
    let c = client(&gh);
    let too_long = format!("{MARKER}\n{}", "x".repeat(BODY_LIMIT));
    let err = upsert_comment(&c, pr, MARKER, &too_long, true)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("POST /repos/acme/gpt-service/issues/1/comments returned HTTP 422"),
        "{err}"
    );
    assert!(err.contains("maximum is 65536 characters"), "{err}");

    gh.set_access(Access::ReadOnly, TokenKind::App);
    let err = sync_issue(&c, TITLE, Some("drift"), "")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("POST /repos/acme/gpt-service/issues returned HTTP 403"),
        "{err}"
    );
    assert!(err.contains("`issues: write`"), "{err}");
    gh.set_access(Access::ReadOnly, TokenKind::Classic);
    let err = upsert_comment(&c, pr, MARKER, MARKER, true)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("needs the `repo` scope"), "{err}");

    let err = upsert_comment(&c, 99, MARKER, MARKER, true)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(
            "GET /repos/acme/gpt-service/issues/99/comments?per_page=100&page=1 returned HTTP 404"
        ),
        "{err}"
    );
    assert!(
        err.contains("there is no pull request or issue #99 in acme/gpt-service"),
        "{err}"
    );
}
