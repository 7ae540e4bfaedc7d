//! A non-blocking log writer for `serve`: the request path hands each formatted log line to a
//! bounded queue and goes on; one thread writes the queue to stderr in batches.
//!
//! A synchronous writer makes every delivery wait for a `write` to stderr (and, when the pipe
//! to the container runtime is full, for the reader). Here a full queue drops the line
//! instead, and counts it in `gpt_log_lines_dropped_total` (see [`dropped_lines`]), so a slow
//! log consumer can cost log lines but never latency.

use std::io::{self, Write};
use std::sync::LazyLock;
use std::sync::mpsc::{self, Receiver, Sender, SyncSender, TrySendError};
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use tracing_subscriber::fmt::MakeWriter;

/// Lines the queue holds before new ones are dropped: a few seconds of one line per delivery
/// at tens of thousands of deliveries per second, a few MB at most.
pub const QUEUE_LINES: usize = 65_536;

static DROPPED: LazyLock<Counter> = LazyLock::new(Counter::default);

/// The process-wide count of log lines dropped because the queue was full; the metrics
/// registry exposes this counter as `gpt_log_lines_dropped_total`.
#[must_use]
pub(crate) fn dropped_lines() -> &'static Counter {
    &DROPPED
}

/// The writer given to the tracing subscriber; cheap to clone.
#[derive(Clone, Debug)]
pub struct NonBlocking {
    queue: SyncSender<Vec<u8>>,
}

/// Writes out what is queued when dropped (at the end of `main`).
#[derive(Debug)]
pub struct Guard {
    queue: SyncSender<Vec<u8>>,
    flushed: Receiver<()>,
}

/// How long the guard waits for the queued lines to be written at exit.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(2);

/// A non-blocking writer to stderr holding at most `capacity` lines, and the guard that
/// flushes it at exit.
///
/// # Errors
/// When the writing thread cannot be started.
pub fn stderr(capacity: usize) -> io::Result<(NonBlocking, Guard)> {
    let (queue, lines) = mpsc::sync_channel(capacity.max(1));
    let (done, flushed) = mpsc::channel();
    std::thread::Builder::new()
        .name("log-writer".to_owned())
        // Not `stderr().lock()`: the lock would be held for good, and the error messages that
        // the main thread prints with `eprintln!` would wait for it forever.
        .spawn(move || drain(&lines, &mut io::stderr(), &done))?;
    Ok((
        NonBlocking {
            queue: queue.clone(),
        },
        Guard { queue, flushed },
    ))
}

/// How long the writing thread gathers lines before it writes them, while lines keep coming.
const BATCH_INTERVAL: Duration = Duration::from_millis(10);

/// Writes lines in batches: the first line after a quiet spell wakes the thread, which then
/// sleeps [`BATCH_INTERVAL`] at a time and writes out everything queued meanwhile with one
/// `write`, until an interval brings nothing. Under load the thread is asleep, not parked on
/// the queue, so a request that queues a line never has to wake it (no futex call, no
/// context switch per line). An empty line is the guard asking for a flush; it is answered
/// on `done` once everything before it is written.
fn drain(lines: &Receiver<Vec<u8>>, out: &mut impl Write, done: &Sender<()>) {
    let mut buffer = io::BufWriter::with_capacity(64 * 1024, out);
    while let Ok(first) = lines.recv() {
        let mut line = Some(first);
        while let Some(first) = line.take() {
            let mut flush_asked = first.is_empty();
            let _ = buffer.write_all(&first);
            while let Ok(next) = lines.try_recv() {
                flush_asked |= next.is_empty();
                let _ = buffer.write_all(&next);
            }
            let _ = buffer.flush();
            if flush_asked {
                let _ = done.send(());
            }
            std::thread::sleep(BATCH_INTERVAL);
            line = lines.try_recv().ok();
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        // The subscriber keeps its sender for the life of the process, so the queue never
        // closes: ask the thread to write out what is queued, and wait for it (bounded).
        if self.queue.send(Vec::new()).is_ok() {
            let _ = self.flushed.recv_timeout(FLUSH_TIMEOUT);
        }
    }
}

/// One log line on its way to the queue.
#[derive(Debug)]
pub struct Line<'a> {
    queue: &'a SyncSender<Vec<u8>>,
}

impl<'a> MakeWriter<'a> for NonBlocking {
    type Writer = Line<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        Line { queue: &self.queue }
    }
}

impl Write for Line<'_> {
    /// The subscriber formats a whole event and writes it with one call: one call, one line.
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        if bytes.is_empty() {
            return Ok(0);
        }
        match self.queue.try_send(bytes.to_vec()) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                DROPPED.inc();
            }
            // The writing thread is gone (it never stops by itself): write directly.
            Err(TrySendError::Disconnected(line)) => {
                let _ = io::stderr().write_all(&line);
            }
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_arrive_in_order_and_a_flush_request_is_answered() {
        let (queue, lines) = mpsc::sync_channel(8);
        let (done, flushed) = mpsc::channel();
        let writer = NonBlocking { queue };
        for text in ["one\n", "two\n", "three\n"] {
            writer.make_writer().write_all(text.as_bytes()).unwrap();
        }
        writer.queue.send(Vec::new()).unwrap();
        drop(writer);
        let mut out = Vec::new();
        drain(&lines, &mut out, &done);
        assert_eq!(String::from_utf8(out).unwrap(), "one\ntwo\nthree\n");
        assert!(flushed.try_recv().is_ok());
    }

    /// A writer whose bytes the test can read while the draining thread holds it.
    #[derive(Clone, Default)]
    struct Shared(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn lines_after_a_quiet_spell_are_written_too() {
        let (queue, lines) = mpsc::sync_channel(8);
        let (done, flushed) = mpsc::channel();
        let out = Shared::default();
        let mut thread_out = out.clone();
        let thread = std::thread::spawn(move || drain(&lines, &mut thread_out, &done));
        let writer = NonBlocking { queue };
        for (burst, expected) in [("a\n", "a\n"), ("b\n", "a\nb\n")] {
            writer.make_writer().write_all(burst.as_bytes()).unwrap();
            writer.queue.send(Vec::new()).unwrap();
            flushed.recv_timeout(Duration::from_secs(10)).unwrap();
            assert_eq!(*out.0.lock().unwrap(), expected.as_bytes());
            // Longer than a batch interval: the thread goes back to waiting on the queue.
            std::thread::sleep(BATCH_INTERVAL * 3);
        }
        drop(writer);
        thread.join().unwrap();
    }

    #[test]
    fn a_full_queue_drops_the_line_and_counts_it() {
        let (queue, lines) = mpsc::sync_channel(2);
        let writer = NonBlocking { queue };
        let before = dropped_lines().get();
        for n in 0..5 {
            let line = format!("line {n}\n");
            writer.make_writer().write_all(line.as_bytes()).unwrap();
        }
        // Other tests of this process may drop lines too; ours are at least three.
        assert!(dropped_lines().get() >= before + 3);
        let kept: Vec<Vec<u8>> = lines.try_iter().collect();
        assert_eq!(kept, [b"line 0\n".to_vec(), b"line 1\n".to_vec()]);
    }
}
