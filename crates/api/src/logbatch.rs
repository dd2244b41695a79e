//! Log lines of the runtime's worker threads, gathered per thread and handed to the log writer
//! thread (tracing-appender's `NonBlocking`) a batch at a time.
//!
//! Handing over each line on its own cost a hot read about a tenth of its CPU at the default log
//! level: a queue operation per line, and a writer thread that woke (and spun) per line on a
//! machine of two cores. A worker thread now appends its lines to a buffer of its own and hands
//! the buffer over when it holds `BATCH_BYTES`, or when the worker runs out of work and parks
//! (`on_park`, the runtime's `on_thread_park` hook). So a line is never held while its thread is
//! idle: under light load every line leaves as soon as its request is answered, as before; under
//! load, a worker hands over a batch of about a dozen lines. A sweeper thread hands over whatever
//! a worker has held for `SWEEP_INTERVAL`, so a worker that stays busy (or is stuck) without
//! parking holds its lines that long at most, and a crash loses at most that much.
//!
//! A thread becomes a batching one when it first parks (only the runtime's workers do); every
//! other thread (start-up, sqlx's SQLite threads, the blocking pool) hands over each line at once.
//! `LogFlush`, dropped at exit, hands over what every worker still holds, then flushes the writer.
//! Lines of different threads can therefore reach the log out of their timestamps' order, by as
//! much as `SWEEP_INTERVAL`.
//!
//! Lines that do not fit in the writer's queue are dropped, never waited for, and counted by line
//! (`dropped_lines`, reported as `log_lines_dropped_total`).

use std::cell::RefCell;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use tracing_appender::non_blocking::{NonBlocking, WorkerGuard};
use tracing_subscriber::fmt::MakeWriter;

/// A worker hands its lines over once they fill this much (a dozen access lines or so).
pub const BATCH_BYTES: usize = 2 << 10;
/// The longest a worker holds a line that it has not handed over (the sweeper's period).
pub const SWEEP_INTERVAL: Duration = Duration::from_millis(100);

/// One thread's lines not yet handed over, and how many there are.
#[derive(Default)]
struct Batch {
    bytes: Vec<u8>,
    lines: u64,
}

type SharedBatch = Arc<Mutex<Batch>>;

struct Shared {
    /// The writer thread's queue; its lock also makes each hand-over's drop count exact.
    queue: Mutex<NonBlocking>,
    /// Every batching thread's buffer, for the flush at exit.
    batches: Mutex<Vec<SharedBatch>>,
    dropped: AtomicU64,
}

impl Shared {
    /// Hands `bytes` (`lines` lines) to the writer thread; counts them if its queue is full.
    fn hand_over(&self, bytes: &[u8], lines: u64) {
        if bytes.is_empty() {
            return;
        }
        let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        let before = queue.error_counter().dropped_lines();
        // A lossy `NonBlocking` never fails a write: a full queue drops it and counts one.
        let _ = queue.write_all(bytes);
        if queue.error_counter().dropped_lines() != before {
            self.dropped.fetch_add(lines, Ordering::Relaxed);
        }
    }

    fn hand_over_batch(&self, batch: &mut Batch) {
        self.hand_over(&batch.bytes, batch.lines);
        batch.bytes.clear();
        batch.lines = 0;
        // One long line must not keep its room for good.
        if batch.bytes.capacity() > 4 * BATCH_BYTES {
            batch.bytes = Vec::with_capacity(BATCH_BYTES);
        }
    }

    /// Hands over every worker's batch.
    fn hand_over_all(&self) {
        let batches = self
            .batches
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        for batch in batches {
            let mut batch = batch.lock().unwrap_or_else(|e| e.into_inner());
            self.hand_over_batch(&mut batch);
        }
    }
}

/// The process's batching writer, once logging is set up.
static SHARED: OnceLock<Arc<Shared>> = OnceLock::new();

thread_local! {
    /// This thread's batch, once it has parked as a runtime worker.
    static BATCH: RefCell<Option<SharedBatch>> = const { RefCell::new(None) };
}

/// The `MakeWriter` of the log subscriber: a worker's lines go to its batch, others' straight on.
#[derive(Clone)]
pub struct BatchingWriter {
    shared: Arc<Shared>,
}

/// Counts the lines the writer dropped.
#[derive(Clone)]
pub struct DroppedLines(Arc<Shared>);

impl DroppedLines {
    pub fn dropped_lines(&self) -> u64 {
        self.0.dropped.load(Ordering::Relaxed)
    }
}

/// Kept until the process ends: dropping it hands over every worker's batch, then flushes the
/// writer thread (`WorkerGuard`).
pub struct LogFlush {
    shared: Arc<Shared>,
    _guard: WorkerGuard,
}

impl Drop for LogFlush {
    fn drop(&mut self) {
        self.shared.hand_over_all();
    }
}

/// A batching writer over `queue` (and the guard of its writer thread), swept every
/// `SWEEP_INTERVAL`. The first one made is the one the runtime's park hook serves.
pub fn batching(queue: NonBlocking, guard: WorkerGuard) -> (BatchingWriter, LogFlush) {
    batching_swept_every(queue, guard, SWEEP_INTERVAL)
}

fn batching_swept_every(
    queue: NonBlocking,
    guard: WorkerGuard,
    sweep: Duration,
) -> (BatchingWriter, LogFlush) {
    let shared = Arc::new(Shared {
        queue: Mutex::new(queue),
        batches: Mutex::new(Vec::new()),
        dropped: AtomicU64::new(0),
    });
    let _ = SHARED.set(Arc::clone(&shared));
    start_sweeper(Arc::downgrade(&shared), sweep);
    let flush = LogFlush {
        shared: Arc::clone(&shared),
        _guard: guard,
    };
    (BatchingWriter { shared }, flush)
}

/// A thread that hands over every worker's batch each `period`, until the writer is gone.
fn start_sweeper(shared: Weak<Shared>, period: Duration) {
    let started = std::thread::Builder::new()
        .name("log-sweeper".into())
        .spawn(move || loop {
            std::thread::sleep(period);
            match shared.upgrade() {
                Some(shared) => shared.hand_over_all(),
                None => return,
            }
        });
    if let Err(error) = started {
        // Lines still leave when their worker parks or fills a batch, and at exit.
        eprintln!("log sweeper could not start: {error}");
    }
}

impl BatchingWriter {
    pub fn dropped(&self) -> DroppedLines {
        DroppedLines(Arc::clone(&self.shared))
    }

    /// Makes this thread a batching one (as parking does).
    #[cfg(test)]
    fn adopt_this_thread(&self) {
        adopt(&self.shared);
    }
}

/// The runtime's `on_thread_park` hook: hands over this worker's batch (making the thread a
/// batching one the first time).
pub fn on_park() {
    if let Some(shared) = SHARED.get() {
        if !hand_over_this_thread(shared) {
            adopt(shared);
        }
    }
}

/// The runtime's `on_thread_stop` hook: hands over this thread's batch and forgets it.
pub fn on_stop() {
    let Some(shared) = SHARED.get() else {
        return;
    };
    hand_over_this_thread(shared);
    let taken = BATCH.try_with(|cell| cell.try_borrow_mut().ok().and_then(|mut b| b.take()));
    if let Ok(Some(batch)) = taken {
        let mut batches = shared.batches.lock().unwrap_or_else(|e| e.into_inner());
        batches.retain(|other| !Arc::ptr_eq(other, &batch));
    }
}

/// `work` on this thread's batch, locked; `None` if the thread does not batch (or its locals are
/// being torn down). Borrowed in place: a line costs no reference count.
fn with_this_threads_batch<R>(work: impl FnOnce(&mut Batch) -> R) -> Option<R> {
    BATCH
        .try_with(|cell| {
            let cell = cell.try_borrow().ok()?;
            let mut batch = cell.as_ref()?.lock().unwrap_or_else(|e| e.into_inner());
            Some(work(&mut batch))
        })
        .ok()
        .flatten()
}

/// Hands over this thread's batch; false if the thread does not batch.
fn hand_over_this_thread(shared: &Shared) -> bool {
    with_this_threads_batch(|batch| shared.hand_over_batch(batch)).is_some()
}

fn adopt(shared: &Shared) {
    let _ = BATCH.try_with(|cell| {
        let Ok(mut cell) = cell.try_borrow_mut() else {
            return;
        };
        if cell.is_none() {
            let batch = SharedBatch::default();
            shared
                .batches
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(Arc::clone(&batch));
            *cell = Some(batch);
        }
    });
}

/// One line's writer.
pub struct LineWriter<'a> {
    shared: &'a Shared,
}

impl<'a> MakeWriter<'a> for BatchingWriter {
    type Writer = LineWriter<'a>;

    fn make_writer(&'a self) -> LineWriter<'a> {
        LineWriter {
            shared: &self.shared,
        }
    }
}

impl Write for LineWriter<'_> {
    /// The subscriber writes each line whole, in one call.
    fn write(&mut self, line: &[u8]) -> std::io::Result<usize> {
        let batched = with_this_threads_batch(|batch| {
            batch.bytes.extend_from_slice(line);
            batch.lines += 1;
            if batch.bytes.len() >= BATCH_BYTES {
                self.shared.hand_over_batch(batch);
            }
        });
        if batched.is_none() {
            self.shared.hand_over(line, 1);
        }
        Ok(line.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// What reached the writer thread's output.
    #[derive(Clone, Default)]
    struct Output(Arc<Mutex<Vec<u8>>>);

    impl Output {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }

        /// The output once it stops changing (the writer thread is asynchronous).
        fn settled(&self) -> String {
            let mut last = self.text();
            loop {
                std::thread::sleep(Duration::from_millis(50));
                let now = self.text();
                if now == last {
                    return now;
                }
                last = now;
            }
        }
    }

    impl Write for Output {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// Never swept during a test, unless it says so.
    const NO_SWEEP: Duration = Duration::from_secs(3600);

    fn writer_over(output: &Output, sweep: Duration) -> (BatchingWriter, LogFlush) {
        let (queue, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
            .lossy(true)
            .buffered_lines_limit(64)
            .finish(output.clone());
        batching_swept_every(queue, guard, sweep)
    }

    fn line(writer: &BatchingWriter, text: &str) {
        writer.make_writer().write_all(text.as_bytes()).unwrap();
    }

    #[test]
    fn a_thread_that_never_parked_hands_each_line_over_at_once() {
        let output = Output::default();
        let (writer, _flush) = writer_over(&output, NO_SWEEP);
        std::thread::scope(|scope| {
            scope.spawn(|| line(&writer, "one\n"));
        });
        assert_eq!(output.settled(), "one\n");
    }

    #[test]
    fn a_worker_holds_its_lines_until_it_parks_or_fills_a_batch() {
        let output = Output::default();
        let (writer, _flush) = writer_over(&output, NO_SWEEP);
        std::thread::scope(|scope| {
            scope.spawn(|| {
                writer.adopt_this_thread();
                line(&writer, "held\n");
                assert_eq!(output.settled(), "", "nothing leaves before the park");
                hand_over_this_thread(&writer.shared);
                assert_eq!(output.settled(), "held\n", "the park hands it over");
                let long = format!("{}\n", "x".repeat(BATCH_BYTES));
                line(&writer, "a\n");
                line(&writer, &long);
                assert_eq!(
                    output.settled(),
                    format!("held\na\n{long}"),
                    "a full batch leaves without a park"
                );
            });
        });
    }

    #[test]
    fn the_sweeper_hands_over_what_a_busy_worker_holds() {
        let output = Output::default();
        let (writer, _flush) = writer_over(&output, Duration::from_millis(20));
        std::thread::scope(|scope| {
            scope.spawn(|| {
                writer.adopt_this_thread();
                line(&writer, "held by a worker that never parks\n");
                let deadline = std::time::Instant::now() + Duration::from_secs(5);
                while output.text().is_empty() {
                    assert!(std::time::Instant::now() < deadline, "never swept");
                    std::thread::sleep(Duration::from_millis(5));
                }
            });
        });
        assert_eq!(output.text(), "held by a worker that never parks\n");
    }

    #[test]
    fn the_flush_at_exit_hands_over_every_workers_batch() {
        let output = Output::default();
        let (writer, flush) = writer_over(&output, NO_SWEEP);
        std::thread::scope(|scope| {
            for n in 0..2 {
                let writer = &writer;
                scope.spawn(move || {
                    writer.adopt_this_thread();
                    line(writer, &format!("worker {n}\n"));
                });
            }
        });
        assert_eq!(output.settled(), "");
        drop(flush);
        let text = output.text();
        assert!(
            text.contains("worker 0\n") && text.contains("worker 1\n"),
            "{text:?}"
        );
    }

    /// Blocks every write until the gate opens.
    struct Gated(Arc<Mutex<()>>);

    impl Write for Gated {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            drop(self.0.lock().unwrap());
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_dropped_batch_counts_each_of_its_lines() {
        let gate = Arc::new(Mutex::new(()));
        let closed = gate.lock().unwrap();
        let (queue, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
            .lossy(true)
            .buffered_lines_limit(1)
            .finish(Gated(Arc::clone(&gate)));
        let (writer, flush) = batching_swept_every(queue, guard, NO_SWEEP);
        let dropped = writer.dropped();
        std::thread::scope(|scope| {
            scope.spawn(|| {
                writer.adopt_this_thread();
                // The writer thread takes at most one write (and blocks on it), the queue holds
                // one more: of 4 batches of 3 lines, at least 2 are dropped.
                for _ in 0..4 {
                    for _ in 0..3 {
                        line(&writer, "line\n");
                    }
                    hand_over_this_thread(&writer.shared);
                }
            });
        });
        let count = dropped.dropped_lines();
        assert!(
            count >= 6 && count % 3 == 0,
            "{count} lines counted as dropped"
        );
        drop(closed);
        drop(flush);
    }
}
