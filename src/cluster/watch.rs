//! The one way this tool waits for the cluster: a watch (never a poll loop), shaped like
//! kube-runtime's `await_condition`, with what that function leaves to its callers:
//!
//! - a streaming list first (one request per watch), falling back to list + watch on
//!   servers that refuse it;
//! - a deadline, because `await_condition` has none of its own;
//! - an error budget: the watcher backs off and retries, but not forever;
//! - `--request-timeout`: a watch request the server does not answer in time ends the
//!   watch at once (the client bounds each answer; see `client`), as an ordinary request
//!   that runs out of it is not repeated;
//! - the end of the stream is an error, never a busy loop.
//!
//! [`Events`] is the loop's engine (used by the rollout wait, which merges several
//! watches), [`await_condition`] the single-object form (Jobs, deletions).

use std::fmt::Debug;
use std::time::Duration;

use futures::StreamExt;
use futures::stream::BoxStream;
use kube::Resource;
use kube::api::Api;
use kube::runtime::{WatchStreamExt, watcher};
use serde::de::DeserializeOwned;
use tokio::time::Instant;

/// Consecutive watch errors tolerated before giving up (the watcher backs off between them).
pub(crate) const ERROR_BUDGET: u32 = 6;

/// Why a watch stopped without its condition being met.
#[derive(Debug)]
pub(crate) enum End {
    /// The deadline passed.
    Timeout,
    /// The stream ended (the server or the connection closed it for good).
    Closed,
    /// The watch kept failing; the last error.
    Failed(watcher::Error),
}

/// A stream of watch items of type `T`, rebuilt without streaming lists when the server
/// refuses them.
pub(crate) struct Events<T> {
    make: Box<dyn FnMut(bool) -> BoxStream<'static, Result<T, watcher::Error>> + Send>,
    stream: BoxStream<'static, Result<T, watcher::Error>>,
    streaming: bool,
    received: bool,
    errors: u32,
    deadline: Instant,
}

impl<T> Events<T> {
    /// Starts the watch: `make(streaming)` builds the stream (with or without streaming lists).
    pub(crate) fn new(
        timeout: Duration,
        mut make: impl FnMut(bool) -> BoxStream<'static, Result<T, watcher::Error>> + Send + 'static,
    ) -> Self {
        let stream = make(true);
        Self {
            make: Box::new(make),
            stream,
            streaming: true,
            received: false,
            errors: 0,
            deadline: Instant::now() + timeout,
        }
    }

    /// The next item, or why there will be none.
    ///
    /// # Errors
    /// [`End`]: deadline passed, stream closed, or the error budget used up.
    pub(crate) async fn next(&mut self) -> Result<T, End> {
        loop {
            match tokio::time::timeout_at(self.deadline, self.stream.next()).await {
                Err(_) => return Err(End::Timeout),
                Ok(None) => return Err(End::Closed),
                Ok(Some(Ok(item))) => {
                    self.received = true;
                    self.errors = 0;
                    return Ok(item);
                }
                Ok(Some(Err(error))) if timed_out(&error) => return Err(End::Failed(error)),
                Ok(Some(Err(error))) if self.streaming && !self.received => {
                    tracing::debug!(%error, "streaming list refused; using list + watch");
                    self.streaming = false;
                    self.stream = (self.make)(false);
                }
                Ok(Some(Err(error))) => {
                    self.errors += 1;
                    tracing::warn!(%error, attempt = self.errors, "watch error, retrying");
                    if self.errors >= ERROR_BUDGET {
                        return Err(End::Failed(error));
                    }
                }
            }
        }
    }
}

/// True when a request of the watch got no answer within `--request-timeout`.
#[must_use]
pub(crate) fn timed_out(error: &watcher::Error) -> bool {
    match error {
        watcher::Error::InitialListFailed(e)
        | watcher::Error::WatchStartFailed(e)
        | watcher::Error::WatchFailed(e) => super::client::timed_out(e),
        watcher::Error::WatchError(_) | watcher::Error::NoResourceVersion => false,
    }
}

/// The watcher configuration for one object by name.
fn by_name(name: &str, streaming: bool) -> watcher::Config {
    let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
    if streaming {
        config.streaming_lists()
    } else {
        config
    }
}

/// What a condition says about the object (or its absence).
pub(crate) type Verdict<R> = Option<R>;

/// Watches the object `name` until `condition` returns `Some` (with the object, or `None`
/// once it is gone), as kube-runtime's `await_condition` does, within `timeout`.
///
/// # Errors
/// [`End`] when the deadline passes, the stream ends or the watch keeps failing.
pub(crate) async fn await_condition<K, R>(
    api: Api<K>,
    name: &str,
    timeout: Duration,
    mut condition: impl FnMut(Option<&K>) -> Verdict<R>,
) -> Result<R, End>
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + 'static,
{
    let owned = name.to_string();
    let mut events = Events::new(timeout, move |streaming| {
        watcher(api.clone(), by_name(&owned, streaming))
            .default_backoff()
            .boxed()
    });
    // With a name field selector the initial list holds the object or nothing; an empty
    // list is the object's absence.
    let mut listed = false;
    loop {
        let verdict = match events.next().await? {
            watcher::Event::Init => {
                listed = false;
                None
            }
            watcher::Event::InitApply(o) => {
                listed = true;
                condition(Some(&o))
            }
            watcher::Event::InitDone if !listed => condition(None),
            watcher::Event::InitDone => None,
            watcher::Event::Apply(o) => condition(Some(&o)),
            watcher::Event::Delete(_) => condition(None),
        };
        if let Some(result) = verdict {
            return Ok(result);
        }
    }
}

/// A condition: the object no longer exists (or has another uid, i.e. was recreated).
pub(crate) fn is_gone<K: Resource>(uid: Option<String>) -> impl FnMut(Option<&K>) -> Verdict<()> {
    move |object| match object {
        None => Some(()),
        Some(o) if uid.is_some() && o.meta().uid != uid => Some(()),
        Some(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1::Deployment;
    use serde_json::json;

    fn deployment(uid: &str) -> Deployment {
        serde_json::from_value(json!({"metadata": {"name": "d", "uid": uid}})).unwrap()
    }

    #[test]
    fn gone_means_absent_or_recreated() {
        let mut gone = is_gone::<Deployment>(Some("u1".into()));
        assert_eq!(gone(Some(&deployment("u1"))), None);
        assert_eq!(gone(Some(&deployment("u2"))), Some(()));
        assert_eq!(gone(None), Some(()));
        let mut any = is_gone::<Deployment>(None);
        assert_eq!(any(Some(&deployment("u1"))), None);
    }

    #[tokio::test]
    async fn events_end_on_deadline_close_and_error_budget() {
        use futures::stream;
        let mut closed: Events<u32> = Events::new(Duration::from_secs(5), |_| {
            stream::iter(vec![Ok(1)]).boxed()
        });
        assert_eq!(closed.next().await.unwrap(), 1);
        assert!(matches!(closed.next().await, Err(End::Closed)));

        let mut silent: Events<u32> =
            Events::new(Duration::from_millis(50), |_| stream::pending().boxed());
        assert!(matches!(silent.next().await, Err(End::Timeout)));

        // The first error before any item switches off streaming lists; later ones count.
        let builds = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = builds.clone();
        let mut failing: Events<u32> = Events::new(Duration::from_secs(5), move |streaming| {
            seen.lock().unwrap().push(streaming);
            let errors = (0..10).map(|_| Err(watcher::Error::NoResourceVersion));
            stream::iter(errors).boxed()
        });
        assert!(matches!(failing.next().await, Err(End::Failed(_))));
        assert_eq!(*builds.lock().unwrap(), vec![true, false]);

        // A request that ran out of --request-timeout ends the watch at once, even before
        // the first item (no fallback, no retry).
        let builds = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = builds.clone();
        let mut hung: Events<u32> = Events::new(Duration::from_secs(5), move |streaming| {
            seen.lock().unwrap().push(streaming);
            let timed_out = kube::Error::Service(Box::new(super::super::client::RequestTimedOut(
                Duration::from_secs(1),
            )));
            stream::iter(vec![
                Err(watcher::Error::WatchStartFailed(timed_out)),
                Ok(1),
            ])
            .boxed()
        });
        assert!(matches!(hung.next().await, Err(End::Failed(e)) if timed_out(&e)));
        assert_eq!(*builds.lock().unwrap(), vec![true]);
    }
}
