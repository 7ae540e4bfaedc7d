//! Pull-request comments and issues: the one comment `preview --comment` keeps up to date, and
//! the one "Drift in <env>" issue `drift --issue` opens, updates and closes.
//!
//! GitHub's REST API treats a pull request as an issue for comments, so both go through the
//! issues endpoints (API version 2022-11-28):
//! `GET|POST /repos/{owner}/{repo}/issues/{number}/comments`,
//! `PATCH|DELETE /repos/{owner}/{repo}/issues/comments/{id}`,
//! `GET|POST /repos/{owner}/{repo}/issues`, `PATCH /repos/{owner}/{repo}/issues/{number}`.
//! Lists follow `Link: rel="next"`. A comment is found again by a hidden HTML marker in its
//! body, an issue by its exact title; duplicates (a retried create, a hand-made copy) are
//! removed or closed, so there is exactly one of each.

use http::{Method, StatusCode};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::client::{Client, next_link, parse};
use super::errors::{Error, Need, Result, from_reply};

/// GitHub's limit on the body of a comment or an issue, in characters.
pub const BODY_LIMIT: usize = 65_536;
/// Page size of the lists (GitHub's maximum).
const PER_PAGE: u32 = 100;
/// A guard against a server whose `Link: next` never ends.
const MAX_PAGES: u32 = 200;

/// A comment on an issue or pull request.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Comment {
    /// The comment id.
    pub(crate) id: u64,
    /// The markdown body.
    #[serde(default)]
    pub(crate) body: Option<String>,
    /// Where people read it.
    #[serde(default)]
    pub(crate) html_url: String,
}

/// An issue (pull requests, which the issues list also returns, are left out).
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Issue {
    /// The issue number.
    pub(crate) number: u64,
    /// The title.
    pub(crate) title: String,
    /// `open` or `closed`.
    pub(crate) state: String,
    /// Where people read it.
    #[serde(default)]
    pub(crate) html_url: String,
    /// Present only on pull requests.
    #[serde(default)]
    pull_request: Option<serde_json::Value>,
}

/// What [`upsert_comment`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommentOutcome {
    /// A new comment was posted.
    Created {
        /// Its URL.
        url: String,
    },
    /// The existing comment was rewritten.
    Updated {
        /// Its URL.
        url: String,
    },
    /// No comment exists and none was wanted (nothing to say).
    Skipped,
}

/// What [`sync_issue`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IssueOutcome {
    /// A new issue was opened.
    Opened {
        /// Its number.
        number: u64,
        /// Its URL.
        url: String,
    },
    /// The open issue's body was rewritten.
    Updated {
        /// Its number.
        number: u64,
        /// Its URL.
        url: String,
    },
    /// The open issue was commented on and closed.
    Closed {
        /// Its number.
        number: u64,
        /// Its URL.
        url: String,
    },
    /// No issue is open and none is needed.
    NothingOpen,
}

impl Client {
    /// Every comment on issue or pull request `number`, oldest first.
    ///
    /// # Errors
    /// Any status but 200, after retries (403 names the missing permission).
    pub(crate) async fn issue_comments(&self, number: u64) -> Result<Vec<Comment>> {
        let path = format!(
            "{}/issues/{number}/comments?per_page={PER_PAGE}&page=1",
            self.repo_path()
        );
        match self.list_all(path, Need::PullRequestComment).await {
            Err(Error::NotFound { method, path, .. }) => Err(Error::NotFound {
                method,
                path,
                message: format!(
                    "there is no pull request or issue #{number} in {}, or the token cannot see it",
                    self.repo()
                ),
            }),
            other => other,
        }
    }

    /// Posts a comment on issue or pull request `number` (201).
    ///
    /// # Errors
    /// Any status but 201.
    pub(crate) async fn create_comment(&self, number: u64, body: &str) -> Result<Comment> {
        let path = format!("{}/issues/{number}/comments", self.repo_path());
        let body = serde_json::json!({ "body": body });
        self.expect(
            Method::POST,
            &path,
            Some(body),
            StatusCode::CREATED,
            Need::PullRequestComment,
        )
        .await
    }

    /// Rewrites comment `id` (200).
    ///
    /// # Errors
    /// Any status but 200.
    pub(crate) async fn update_comment(&self, id: u64, body: &str) -> Result<Comment> {
        let path = format!("{}/issues/comments/{id}", self.repo_path());
        let body = serde_json::json!({ "body": body });
        self.expect(
            Method::PATCH,
            &path,
            Some(body),
            StatusCode::OK,
            Need::PullRequestComment,
        )
        .await
    }

    /// Deletes comment `id` (204; 404 counts as already gone).
    ///
    /// # Errors
    /// Any status but 204 and 404.
    pub(crate) async fn delete_comment(&self, id: u64) -> Result<()> {
        let path = format!("{}/issues/comments/{id}", self.repo_path());
        let reply = self.send(Method::DELETE, &path, None).await?;
        match reply.status {
            StatusCode::NO_CONTENT | StatusCode::NOT_FOUND => Ok(()),
            _ => Err(from_reply(
                &Method::DELETE,
                &path,
                reply,
                Need::PullRequestComment,
            )),
        }
    }

    /// Every open issue of the repository (not pull requests), oldest first.
    ///
    /// # Errors
    /// Any status but 200.
    pub(crate) async fn open_issues(&self) -> Result<Vec<Issue>> {
        let path = format!(
            "{}/issues?state=open&sort=created&direction=asc&per_page={PER_PAGE}&page=1",
            self.repo_path()
        );
        let all: Vec<Issue> = self.list_all(path, Need::IssuesWrite).await?;
        Ok(all
            .into_iter()
            .filter(|i| i.pull_request.is_none())
            .collect())
    }

    /// Opens an issue (201).
    ///
    /// # Errors
    /// Any status but 201 (410 when the repository has issues turned off).
    pub(crate) async fn create_issue(&self, title: &str, body: &str) -> Result<Issue> {
        let path = format!("{}/issues", self.repo_path());
        let body = serde_json::json!({ "title": title, "body": body });
        self.expect(
            Method::POST,
            &path,
            Some(body),
            StatusCode::CREATED,
            Need::IssuesWrite,
        )
        .await
    }

    /// Rewrites an issue's body (200).
    ///
    /// # Errors
    /// Any status but 200.
    pub(crate) async fn update_issue_body(&self, number: u64, body: &str) -> Result<Issue> {
        let path = format!("{}/issues/{number}", self.repo_path());
        let body = serde_json::json!({ "body": body });
        self.expect(
            Method::PATCH,
            &path,
            Some(body),
            StatusCode::OK,
            Need::IssuesWrite,
        )
        .await
    }

    /// Closes an issue as completed (200).
    ///
    /// # Errors
    /// Any status but 200.
    pub(crate) async fn close_issue(&self, number: u64) -> Result<Issue> {
        let path = format!("{}/issues/{number}", self.repo_path());
        let body = serde_json::json!({ "state": "closed", "state_reason": "completed" });
        self.expect(
            Method::PATCH,
            &path,
            Some(body),
            StatusCode::OK,
            Need::IssuesWrite,
        )
        .await
    }

    /// One request that must answer `want`; its body parsed as `T`.
    async fn expect<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<serde_json::Value>,
        want: StatusCode,
        need: Need,
    ) -> Result<T> {
        let reply = self.send(method.clone(), path, body).await?;
        if reply.status != want {
            return Err(from_reply(&method, path, reply, need));
        }
        parse(&method, path, &reply.body)
    }

    /// Every item of a paginated list, following `Link: rel="next"`.
    async fn list_all<T: DeserializeOwned>(&self, first: String, need: Need) -> Result<Vec<T>> {
        let mut next = Some(first);
        let mut items = Vec::new();
        let mut pages = 0;
        while let Some(path) = next.take() {
            pages += 1;
            let reply = self.send(Method::GET, &path, None).await?;
            if reply.status != StatusCode::OK {
                return Err(from_reply(&Method::GET, &path, reply, need));
            }
            let page: Vec<T> = parse(&Method::GET, &path, &reply.body)?;
            items.extend(page);
            next = next_link(&reply.headers).filter(|_| pages < MAX_PAGES);
        }
        Ok(items)
    }
}

/// Keeps exactly one comment carrying `marker` on pull request `number`: rewrites the oldest
/// one with `body` (which must contain the marker), deletes any other, or posts a new one when
/// there is none and `create` is true.
///
/// # Errors
/// GitHub API errors; nothing is deleted before the kept comment was written.
pub async fn upsert_comment(
    client: &Client,
    number: u64,
    marker: &str,
    body: &str,
    create: bool,
) -> Result<CommentOutcome> {
    debug_assert!(body.contains(marker), "the body must carry its marker");
    let mut ours: Vec<Comment> = client
        .issue_comments(number)
        .await?
        .into_iter()
        .filter(|c| c.body.as_deref().is_some_and(|b| b.contains(marker)))
        .collect();
    if ours.is_empty() {
        if !create {
            return Ok(CommentOutcome::Skipped);
        }
        let comment = client.create_comment(number, body).await?;
        return Ok(CommentOutcome::Created {
            url: comment.html_url,
        });
    }
    let kept = ours.remove(0);
    let comment = client.update_comment(kept.id, body).await?;
    for extra in ours {
        client.delete_comment(extra.id).await?;
    }
    Ok(CommentOutcome::Updated {
        url: comment.html_url,
    })
}

/// Keeps the open issues titled `title` in step with the state: with `Some(body)` exactly one
/// is open with that body (opened or rewritten); with `None` every one is commented on with
/// `closing_comment` and closed. Extra open copies are closed with a pointer to the kept one.
///
/// # Errors
/// GitHub API errors.
pub async fn sync_issue(
    client: &Client,
    title: &str,
    body: Option<&str>,
    closing_comment: &str,
) -> Result<IssueOutcome> {
    let mut open: Vec<Issue> = client
        .open_issues()
        .await?
        .into_iter()
        .filter(|i| i.title == title && i.state == "open")
        .collect();
    let Some(body) = body else {
        let mut outcome = IssueOutcome::NothingOpen;
        for issue in open {
            client.create_comment(issue.number, closing_comment).await?;
            let closed = client.close_issue(issue.number).await?;
            if outcome == IssueOutcome::NothingOpen {
                outcome = IssueOutcome::Closed {
                    number: closed.number,
                    url: closed.html_url,
                };
            }
        }
        return Ok(outcome);
    };
    if open.is_empty() {
        let issue = client.create_issue(title, body).await?;
        return Ok(IssueOutcome::Opened {
            number: issue.number,
            url: issue.html_url,
        });
    }
    let kept = open.remove(0);
    let issue = client.update_issue_body(kept.number, body).await?;
    for extra in open {
        let note = format!("Duplicate of #{}; closing this copy.", kept.number);
        client.create_comment(extra.number, &note).await?;
        client.close_issue(extra.number).await?;
    }
    Ok(IssueOutcome::Updated {
        number: issue.number,
        url: issue.html_url,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pull_requests_are_not_issues() {
        let list: Vec<Issue> = serde_json::from_str(
            r#"[{"number": 1, "title": "Drift in staging", "state": "open", "html_url": "u"},
                {"number": 2, "title": "Drift in staging", "state": "open", "html_url": "v",
                 "pull_request": {"url": "x"}}]"#,
        )
        .unwrap();
        assert!(list[0].pull_request.is_none());
        assert!(list[1].pull_request.is_some());
    }
}
