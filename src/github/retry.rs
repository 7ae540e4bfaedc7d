//! Bounded retries: how long to wait after a rate limit, a 5xx or a lost connection.
//!
//! octocrab's own retry layer sleeps for whatever `retry-after` says with no upper bound and
//! retries 5xx at once; this policy caps every wait and the number of attempts instead, so a
//! command in CI fails with a clear message rather than hanging.

use std::time::Duration;

use http::{HeaderMap, StatusCode};

/// How failed requests are retried. Every wait and the number of attempts are bounded.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts per request, the first one included.
    pub(crate) max_attempts: u32,
    /// First backoff for 5xx and transport errors; doubles per attempt.
    pub(crate) backoff: Duration,
    /// The longest single wait accepted from `retry-after` / `x-ratelimit-reset`; a longer
    /// requested wait fails at once with [`Error::RateLimited`] instead of hanging the command.
    pub(crate) max_wait: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 4,
            backoff: Duration::from_millis(500),
            max_wait: Duration::from_secs(60),
        }
    }
}

/// How long a rate-limited reply asks us to wait; `None` when the reply is not a rate limit.
///
/// GitHub's rules: `retry-after` wins; else `x-ratelimit-remaining: 0` means wait until
/// `x-ratelimit-reset` (epoch seconds); a 429, or a 403 whose message says "rate limit", without
/// those headers gets exponential backoff. A plain 403 is a permission problem, not a limit.
pub(crate) fn rate_limit_wait(
    status: StatusCode,
    headers: &HeaderMap,
    body: &str,
    backoff: Duration,
) -> Option<Duration> {
    if status != StatusCode::TOO_MANY_REQUESTS && status != StatusCode::FORBIDDEN {
        return None;
    }
    let number =
        |name: &str| -> Option<i64> { headers.get(name)?.to_str().ok()?.trim().parse().ok() };
    if let Some(secs) = number("retry-after") {
        return Some(Duration::from_secs(secs.max(0).unsigned_abs()));
    }
    if number("x-ratelimit-remaining") == Some(0)
        && let Some(reset) = number("x-ratelimit-reset")
    {
        let now = chrono::Utc::now().timestamp();
        return Some(Duration::from_secs((reset - now).max(1).unsigned_abs()));
    }
    let says_limit = body.to_ascii_lowercase().contains("rate limit");
    (status == StatusCode::TOO_MANY_REQUESTS || says_limit).then_some(backoff)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::github::test_headers as headers;

    #[test]
    fn rate_limit_rules() {
        let b = Duration::from_millis(500);
        let ra = headers(&[("retry-after", "7")]);
        assert_eq!(
            rate_limit_wait(StatusCode::TOO_MANY_REQUESTS, &ra, "", b),
            Some(Duration::from_secs(7))
        );
        let reset = (chrono::Utc::now().timestamp() + 30).to_string();
        let primary = headers(&[
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset", &reset),
        ]);
        let wait = rate_limit_wait(StatusCode::FORBIDDEN, &primary, "", b).unwrap();
        assert!((28..=31).contains(&wait.as_secs()), "{wait:?}");
        assert_eq!(
            rate_limit_wait(
                StatusCode::FORBIDDEN,
                &HeaderMap::new(),
                "Resource not accessible by integration",
                b
            ),
            None
        );
        assert_eq!(
            rate_limit_wait(
                StatusCode::FORBIDDEN,
                &HeaderMap::new(),
                "You have exceeded a secondary rate limit",
                b
            ),
            Some(b)
        );
        assert_eq!(rate_limit_wait(StatusCode::OK, &ra, "", b), None);
    }
}
