//! The SQLite write path: one thread that owns the only writing connection
//! and commits the jobs waiting for it together, in one transaction.
//!
//! sqlx runs each SQLite statement through a channel to a worker thread,
//! which cost about 80 µs per statement on the 2-core machine of
//! docs/benchmarks.md. With one writer, that capped the server near 1,800
//! registrations per second.
//! Here a job's statements run directly on rusqlite, and the commit, the
//! only step that waits for the disk, is shared by every job in the batch.
//! A job's result reaches its caller only after that commit.
//!
//! Checkpoints, which copy the write-ahead log into the database file and
//! wait for the disk twice, run on a second thread with its own connection.
//! SQLite's automatic checkpoint runs on the writing connection every 1,000
//! log pages, which stopped all writes for 2 to 4 ms on the machine of
//! docs/benchmarks.md and set the p99 latency of a lightly loaded server. A checkpoint beside the writer cannot empty a log that keeps
//! growing, so once the log is long the writer copies the last few pages
//! itself between two batches, and its next transaction starts the log over.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex};
use std::time::Duration;

use super::StoreError;

/// Jobs committed in one transaction at most.
const MAX_BATCH: usize = 256;

/// When the write-ahead log is copied into the database file.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CheckpointSettings {
    /// How long the checkpointer waits after a commit before it copies, so
    /// that one checkpoint covers many commits.
    pub interval: Duration,
    /// Log pages after which the writer finishes a checkpoint itself, so that
    /// the log starts over. SQLite's own automatic checkpoint is at 1,000.
    pub restart_pages: i64,
}

impl Default for CheckpointSettings {
    fn default() -> Self {
        // 4,096 pages of 4 KiB: a log of at most about 16 MiB plus what
        // arrives during one interval.
        Self { interval: Duration::from_millis(50), restart_pages: 4096 }
    }
}

/// A caller's work and the channel its result goes back on.
trait Job: Send {
    /// Runs the work on the connection and keeps its result. Returns
    /// whether it succeeded. The writer may run a job a second time, in a
    /// new transaction, when another job of the batch failed.
    fn run(&mut self, connection: &rusqlite::Connection) -> bool;
    /// Sends the kept result to the caller, or the failure of the
    /// transaction. A job that never finished a run reports the store closed.
    fn deliver(self: Box<Self>, transaction_error: Option<String>);
}

struct Pending<T, F> {
    work: F,
    result: Option<Result<T, StoreError>>,
    reply: tokio::sync::oneshot::Sender<Result<T, StoreError>>,
}

impl<T, F> Job for Pending<T, F>
where
    T: Send,
    F: Fn(&rusqlite::Connection) -> Result<T, StoreError> + Send,
{
    fn run(&mut self, connection: &rusqlite::Connection) -> bool {
        self.result = None;
        let result = (self.work)(connection);
        let succeeded = result.is_ok();
        self.result = Some(result);
        succeeded
    }

    fn deliver(self: Box<Self>, transaction_error: Option<String>) {
        let outcome = match (transaction_error, self.result) {
            (Some(error), _) => Err(StoreError::Transaction(error)),
            (None, Some(result)) => result,
            (None, None) => Err(StoreError::Closed),
        };
        let _ = self.reply.send(outcome);
    }
}

enum Message {
    Job(Box<dyn Job>),
    Close(tokio::sync::oneshot::Sender<()>),
}

/// A handle to the writer thread. Cloning shares the thread.
#[derive(Debug, Clone)]
pub(crate) struct SqliteWriter {
    sender: mpsc::Sender<Message>,
}

/// State shared by the writer and the checkpointer.
#[derive(Debug, Default)]
struct Checkpoints {
    /// Commits since the checkpointer last copied the log.
    commits: AtomicU64,
    /// Set by the checkpointer when the log is long: the writer then copies
    /// the pages that arrived since, between two batches. The checkpointer
    /// waits until the writer clears it, so the two never checkpoint at once.
    catch_up: AtomicBool,
    /// Whether the checkpointer must stop, guarded for `wake`.
    stop: Mutex<bool>,
    wake: Condvar,
}

impl Checkpoints {
    /// Counts a commit and wakes the checkpointer if it was waiting for one.
    fn committed(&self) {
        if self.commits.fetch_add(1, Ordering::AcqRel) == 0 {
            self.wake_checkpointer();
        }
    }

    /// Clears `catch_up` and wakes the checkpointer, which waits for that.
    fn caught_up(&self) {
        self.catch_up.store(false, Ordering::Release);
        self.wake_checkpointer();
    }

    /// Wakes the checkpointer after a change to `commits` or `catch_up`.
    fn wake_checkpointer(&self) {
        // The checkpointer reads both while it holds the lock, so taking the
        // lock here means it either saw the change or is waiting for this wake.
        drop(self.stop.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
        self.wake.notify_one();
    }

    fn stop(&self) {
        *self.stop.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = true;
        self.wake.notify_one();
    }
}

impl std::fmt::Debug for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Message::Job(_) => "Job",
            Message::Close(_) => "Close",
        })
    }
}

impl SqliteWriter {
    /// Opens the database file for writing and starts the writer thread
    /// and the checkpointer thread.
    pub(crate) fn open(path: &Path) -> Result<Self, StoreError> {
        Self::open_with(path, CheckpointSettings::default())
    }

    pub(crate) fn open_with(path: &Path, settings: CheckpointSettings) -> Result<Self, StoreError> {
        let connection = open_connection(path)?;
        // The checkpointer thread copies the log instead.
        connection.pragma_update(None, "wal_autocheckpoint", 0)?;
        connection.set_prepared_statement_cache_capacity(64);
        let checkpointer = open_connection(path)?;
        // A checkpoint copies pages through its own buffer, not the page cache.
        checkpointer.pragma_update(None, "cache_size", 16)?;

        let checkpoints = Arc::new(Checkpoints::default());
        let (sender, receiver) = mpsc::channel();
        let shared = Arc::clone(&checkpoints);
        let checkpoint_thread = std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || run_checkpoints(&checkpointer, &shared, settings))
            .map_err(|error| {
                StoreError::Corrupt(format!("cannot start the SQLite checkpoint thread: {error}"))
            })?;
        let on_failure = Arc::clone(&checkpoints);
        let started = std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || run(&connection, &receiver, &checkpoints, checkpoint_thread));
        if let Err(error) = started {
            on_failure.stop();
            return Err(StoreError::Corrupt(format!("cannot start the SQLite writer thread: {error}")));
        }
        Ok(Self { sender })
    }

    /// Runs `work` in the writer's next transaction and returns its result
    /// once that transaction is committed. A failed `work` is rolled back
    /// alone; the other jobs of the batch still commit.
    ///
    /// `work` may run twice: when a job of the batch fails, the writer rolls
    /// the batch back and runs every job again, each in its own savepoint.
    /// So it must change nothing but the database.
    pub(crate) async fn run<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: Fn(&rusqlite::Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let (reply, receive) = tokio::sync::oneshot::channel();
        let job = Box::new(Pending { work, result: None, reply });
        self.sender.send(Message::Job(job)).map_err(|_| StoreError::Closed)?;
        receive.await.map_err(|_| StoreError::Closed)?
    }

    /// Checks that the writer thread runs and its connection executes a query.
    pub(crate) async fn ping(&self) -> Result<(), StoreError> {
        self.run(|connection| Ok(connection.execute_batch("SELECT 1")?)).await
    }

    /// Finishes the queued jobs and stops the thread, closing the connection.
    pub(crate) async fn close(&self) {
        let (done, wait) = tokio::sync::oneshot::channel();
        if self.sender.send(Message::Close(done)).is_ok() {
            let _ = wait.await;
        }
    }
}

fn open_connection(path: &Path) -> Result<rusqlite::Connection, StoreError> {
    let connection = rusqlite::Connection::open(path)?;
    connection.busy_timeout(Duration::from_secs(10))?;
    // WAL with NORMAL survives a process crash; only an OS crash can lose the last commits.
    connection.pragma_update(None, "journal_mode", "wal")?;
    connection.pragma_update(None, "synchronous", "normal")?;
    connection.pragma_update(None, "foreign_keys", "on")?;
    Ok(connection)
}

/// Runs the writer thread: takes every job waiting and commits them in one
/// transaction ([`commit_batch`]).
fn run(
    connection: &rusqlite::Connection,
    receiver: &mpsc::Receiver<Message>,
    checkpoints: &Checkpoints,
    checkpoint_thread: std::thread::JoinHandle<()>,
) {
    let mut close = None;
    let mut checkpointer_alive = true;
    let mut previous_batch = 0;
    let one_cpu = std::thread::available_parallelism().is_ok_and(|cpus| cpus.get() == 1);
    while close.is_none() {
        if checkpointer_alive && checkpoint_thread.is_finished() {
            checkpointer_alive = false;
            tracing::error!("the SQLite checkpoint thread stopped; the writer checkpoints from now on");
            let _ = connection.pragma_update(None, "wal_autocheckpoint", 1000);
        }
        if checkpoints.catch_up.load(Ordering::Acquire) {
            // Between batches: copy the pages the checkpointer has not, so that
            // the next transaction can start the log over.
            if let Err(error) = checkpoint(connection, "PASSIVE") {
                tracing::warn!(%error, "SQLite checkpoint failed, so the write-ahead log keeps growing; check the disk's free space and I/O errors");
            }
            checkpoints.caught_up();
        }
        let Ok(first) = receiver.recv() else { break };
        // On one CPU, the first job of a burst wakes this thread, which then
        // tends to run at once, before the request thread has queued the
        // rest. So under load it lets that thread run first. With the server
        // on one CPU in bench/load.sh, batches grew from about 11 to 60 jobs
        // and the server's CPU time per registration fell from 54 to 49 µs.
        // On two CPUs shared with wrk and zego-mock, the same yield made
        // batches only a little larger and cost 8 to 19 % of the
        // throughput, so it is left out there. After a batch of one job
        // (light load) there is no yield, so a lone request's write waits
        // no longer.
        if one_cpu && previous_batch > 1 {
            std::thread::yield_now();
        }
        let mut jobs = Vec::new();
        match first {
            Message::Job(job) => jobs.push(job),
            Message::Close(done) => close = Some(done),
        }
        while close.is_none() && jobs.len() < MAX_BATCH {
            match receiver.try_recv() {
                Ok(Message::Job(job)) => jobs.push(job),
                Ok(Message::Close(done)) => close = Some(done),
                Err(_) => break,
            }
        }
        previous_batch = jobs.len();
        if !jobs.is_empty() {
            commit_batch(connection, jobs);
            checkpoints.committed();
        }
    }
    checkpoints.stop();
    let _ = checkpoint_thread.join();
    if let Some(done) = close {
        let _ = connection.pragma_update(None, "wal_checkpoint", "TRUNCATE");
        let _ = done.send(());
    }
}

/// Runs `PRAGMA wal_checkpoint(MODE)` and returns the pages in the log.
fn checkpoint(connection: &rusqlite::Connection, mode: &str) -> rusqlite::Result<i64> {
    connection.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |row| row.get(1))
}

/// Runs the checkpointer thread: after commits, waits `interval`, then copies
/// the log into the database file without blocking the writer. Once the log
/// is longer than `restart_pages`, sets `catch_up` for the writer.
fn run_checkpoints(
    connection: &rusqlite::Connection,
    checkpoints: &Checkpoints,
    settings: CheckpointSettings,
) {
    let mut failures_logged = false;
    loop {
        {
            let guard = checkpoints.stop.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let guard = checkpoints
                .wake
                .wait_while(guard, |stop| {
                    !*stop
                        && (checkpoints.commits.load(Ordering::Acquire) == 0
                            || checkpoints.catch_up.load(Ordering::Acquire))
                })
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            // Let more commits arrive, so that one checkpoint covers them.
            let (guard, _) = checkpoints
                .wake
                .wait_timeout_while(guard, settings.interval, |stop| !*stop)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if *guard {
                return;
            }
        }
        checkpoints.commits.store(0, Ordering::Release);
        match checkpoint(connection, "PASSIVE") {
            Ok(pages) => {
                failures_logged = false;
                if pages >= settings.restart_pages {
                    checkpoints.catch_up.store(true, Ordering::Release);
                }
            }
            Err(error) if !failures_logged => {
                failures_logged = true;
                tracing::warn!(%error, "SQLite checkpoint failed; retrying after the next commits, and check the disk's free space and I/O errors");
            }
            Err(_) => {}
        }
    }
}

/// Runs one statement of the writer's transaction control. They are
/// prepared once: parsing them for every job cost more than the jobs' own SQL.
fn control(connection: &rusqlite::Connection, sql: &str) -> rusqlite::Result<()> {
    connection.prepare_cached(sql)?.execute([]).map(drop)
}

/// Runs `job` and returns whether it succeeded, or `None` when it panicked.
/// The thread goes on with the other jobs either way.
fn run_job(job: &mut dyn Job, connection: &rusqlite::Connection) -> Option<bool> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job.run(connection))).ok()
}

/// Commits the jobs in one transaction, then hands out their results.
///
/// The jobs first run one after another with nothing between them: a
/// savepoint around each one, needed only to undo a failed job alone, cost
/// two statements per job and a copy of every page it changed. When a job
/// fails, the transaction is rolled back and every job runs again, each in
/// its own savepoint, so that only the failed ones are undone.
fn commit_batch(connection: &rusqlite::Connection, mut jobs: Vec<Box<dyn Job>>) {
    let fail_all = |jobs: Vec<Box<dyn Job>>, error: rusqlite::Error| {
        let message = error.to_string();
        tracing::error!(error = %message, "SQLite write transaction failed");
        for job in jobs {
            job.deliver(Some(message.clone()));
        }
    };
    if let Err(error) = control(connection, "BEGIN IMMEDIATE") {
        return fail_all(jobs, error);
    }
    if !jobs.iter_mut().all(|job| run_job(job.as_mut(), connection) == Some(true)) {
        if let Err(error) =
            control(connection, "ROLLBACK").and_then(|()| control(connection, "BEGIN IMMEDIATE"))
        {
            return fail_all(jobs, error);
        }
        for job in &mut jobs {
            let _ = control(connection, "SAVEPOINT job");
            let succeeded = run_job(job.as_mut(), connection).unwrap_or_else(|| {
                tracing::error!("a SQLite write job panicked; its changes are rolled back");
                false
            });
            if !succeeded {
                let _ = control(connection, "ROLLBACK TO job");
            }
            let _ = control(connection, "RELEASE job");
        }
    }
    if let Err(error) = control(connection, "COMMIT") {
        let _ = control(connection, "ROLLBACK");
        return fail_all(jobs, error);
    }
    for job in jobs {
        job.deliver(None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn writer_with_table() -> (tempfile::TempDir, SqliteWriter) {
        let dir = tempfile::tempdir().unwrap();
        let writer = SqliteWriter::open(&dir.path().join("writer.db")).unwrap();
        writer
            .run(|connection| Ok(connection.execute_batch("CREATE TABLE t (v INTEGER UNIQUE)")?))
            .await
            .unwrap();
        (dir, writer)
    }

    async fn count(writer: &SqliteWriter) -> i64 {
        writer
            .run(|connection| Ok(connection.query_row("SELECT COUNT(*) FROM t", [], |row| row.get(0))?))
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn failed_job_rolls_back_alone() {
        let (_dir, writer) = writer_with_table().await;
        let mut jobs = Vec::new();
        for value in [1, 2, 2, 3] {
            let writer = writer.clone();
            // The second 2 breaks the UNIQUE constraint after inserting 100, which must vanish too.
            jobs.push(tokio::spawn(async move {
                writer
                    .run(move |connection| {
                        connection.execute("INSERT INTO t (v) VALUES (?1)", [value * 100])?;
                        connection.execute("INSERT INTO t (v) VALUES (?1)", [value])?;
                        Ok(())
                    })
                    .await
            }));
        }
        let mut failures = 0;
        for job in jobs {
            failures += usize::from(job.await.unwrap().is_err());
        }
        assert_eq!(failures, 1);
        assert_eq!(count(&writer).await, 6);
    }

    #[tokio::test]
    async fn batch_reruns_after_failed_job() {
        let (_dir, writer) = writer_with_table().await;
        // A slow job keeps the writer busy, so the three jobs after it queue
        // up and share the next batch. The test runtime polls spawned tasks in
        // order, so they queue in this order.
        let slow = writer.clone();
        let hold = tokio::spawn(async move {
            slow.run(|_| {
                std::thread::sleep(Duration::from_millis(300));
                Ok(())
            })
            .await
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        let failing = writer.clone();
        let failed = tokio::spawn(async move {
            failing
                .run(|connection| {
                    connection.execute("INSERT INTO t (v) VALUES (100)", [])?;
                    connection.execute("INSERT INTO t (v) VALUES (100)", [])?;
                    Ok(())
                })
                .await
        });
        let reading = writer.clone();
        let seen = tokio::spawn(async move { count_with(&reading).await });
        let inserting = writer.clone();
        let inserted = tokio::spawn(async move {
            inserting.run(|connection| Ok(connection.execute("INSERT INTO t (v) VALUES (5)", [])?)).await
        });

        hold.await.unwrap().unwrap();
        assert!(failed.await.unwrap().is_err());
        assert_eq!(seen.await.unwrap().unwrap(), 0, "a job never sees the changes of a failed one");
        assert_eq!(inserted.await.unwrap().unwrap(), 1);
        assert_eq!(count(&writer).await, 1);
    }

    async fn count_with(writer: &SqliteWriter) -> Result<i64, StoreError> {
        writer
            .run(|connection| Ok(connection.query_row("SELECT COUNT(*) FROM t", [], |row| row.get(0))?))
            .await
    }

    #[tokio::test]
    async fn panicking_job_leaves_writer_running() {
        let (_dir, writer) = writer_with_table().await;
        let panicked = writer
            .run(|connection| -> Result<(), StoreError> {
                connection.execute("INSERT INTO t (v) VALUES (1)", [])?;
                panic!("a bug in a job");
            })
            .await;
        assert!(matches!(panicked, Err(StoreError::Closed)), "{panicked:?}");
        assert_eq!(count(&writer).await, 0, "the panicking job's insert is rolled back");
        writer.ping().await.unwrap();
    }

    #[tokio::test]
    async fn checkpoints_keep_the_log_short() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.db");
        let settings = CheckpointSettings { interval: Duration::from_millis(1), restart_pages: 64 };
        let writer = SqliteWriter::open_with(&path, settings).unwrap();
        writer.run(|connection| Ok(connection.execute_batch("CREATE TABLE b (v BLOB)")?)).await.unwrap();
        let wal = dir.path().join("log.db-wal");

        // One commit per row of 4 KiB: at least 8,000 pages, 32 MiB, go
        // through the log. Each time the log starts over, SQLite rewrites its
        // header with the checkpoint sequence number (bytes 12 to 15,
        // big-endian) one higher. The log's size is no measure: how far it
        // grows before a restart depends on when the checkpoint thread gets a
        // core, and it passed 24 MiB with builds running beside the tests.
        for _ in 0..4000 {
            writer
                .run(|connection| Ok(connection.execute("INSERT INTO b (v) VALUES (zeroblob(4096))", [])?))
                .await
                .unwrap();
        }
        let header = std::fs::read(&wal).unwrap();
        let restarts = u32::from_be_bytes(header[12..16].try_into().unwrap());
        assert!(restarts >= 1, "the log never started over in 4,000 commits");

        writer.close().await;
        assert_eq!(std::fs::metadata(&wal).map_or(0, |m| m.len()), 0, "closing empties the log");
        let reopened = rusqlite::Connection::open(&path).unwrap();
        let rows: i64 = reopened.query_row("SELECT COUNT(*) FROM b", [], |row| row.get(0)).unwrap();
        assert_eq!(rows, 4000);
    }

    #[tokio::test]
    async fn closed_writer_rejects_jobs() {
        let (_dir, writer) = writer_with_table().await;
        writer.close().await;
        let result = writer.run(|_| Ok(())).await;
        assert!(matches!(result, Err(StoreError::Closed)), "{result:?}");
    }
}
