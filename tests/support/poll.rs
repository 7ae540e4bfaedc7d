//! Waiting in a test for something another process does (a command applying an object, a
//! controller changing it): check every 100 ms, fail the test after 600 checks.

use std::future::Future;
use std::time::Duration;

/// Checks `done` every 100 ms until it holds; fails the test with `never` after 600 checks
/// (a minute at least, as each check takes its own time too).
pub async fn until<F, Fut>(never: &str, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let mut tries = 0;
    while !done().await {
        tries += 1;
        assert!(tries < 600, "{never}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
