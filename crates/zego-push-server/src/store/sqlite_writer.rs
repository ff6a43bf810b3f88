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

use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use super::StoreError;

/// Jobs committed in one transaction at most.
const MAX_BATCH: usize = 256;

type Deliver = Box<dyn FnOnce(Option<String>) + Send>;
/// A job runs on the connection, or with `None` only produces its failure.
type Job = Box<dyn FnOnce(Option<&rusqlite::Connection>) -> (bool, Deliver) + Send>;

enum Message {
    Job(Job),
    Close(tokio::sync::oneshot::Sender<()>),
}

/// A handle to the writer thread. Cloning shares the thread.
#[derive(Debug, Clone)]
pub(crate) struct SqliteWriter {
    sender: mpsc::Sender<Message>,
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
    /// Opens the database file for writing and starts the writer thread.
    pub(crate) fn open(path: &Path) -> Result<Self, StoreError> {
        let connection = rusqlite::Connection::open(path)?;
        connection.busy_timeout(Duration::from_secs(10))?;
        // WAL with NORMAL survives a process crash; only an OS crash can lose the last commits.
        connection.pragma_update(None, "journal_mode", "wal")?;
        connection.pragma_update(None, "synchronous", "normal")?;
        connection.pragma_update(None, "foreign_keys", "on")?;
        connection.set_prepared_statement_cache_capacity(64);

        let (sender, receiver) = mpsc::channel();
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || run(&connection, &receiver))
            .map_err(|error| StoreError::Corrupt(format!("cannot start the SQLite writer thread: {error}")))?;
        Ok(Self { sender })
    }

    /// Runs `work` in the writer's next transaction and returns its result
    /// once that transaction is committed. A failed `work` is rolled back
    /// alone; the other jobs of the batch still commit.
    pub(crate) async fn run<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&rusqlite::Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let (reply, receive) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |connection| {
            let result = match connection {
                Some(connection) => work(connection),
                None => Err(StoreError::Closed),
            };
            let succeeded = result.is_ok();
            let deliver: Deliver = Box::new(move |commit_error| {
                let outcome = match commit_error {
                    Some(error) => Err(StoreError::Transaction(error)),
                    None => result,
                };
                let _ = reply.send(outcome);
            });
            (succeeded, deliver)
        });
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

/// Runs the writer thread: takes every job waiting, runs each in a savepoint of
/// one transaction, commits, then hands out the results.
fn run(connection: &rusqlite::Connection, receiver: &mpsc::Receiver<Message>) {
    let mut close = None;
    while close.is_none() {
        let Ok(first) = receiver.recv() else { return };
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
        if !jobs.is_empty() {
            commit_batch(connection, jobs);
        }
    }
    if let Some(done) = close {
        let _ = connection.pragma_update(None, "wal_checkpoint", "TRUNCATE");
        let _ = done.send(());
    }
}

/// Runs one statement of the writer's transaction control. They are
/// prepared once: parsing them for every job cost more than the jobs' own SQL.
fn control(connection: &rusqlite::Connection, sql: &str) -> rusqlite::Result<()> {
    connection.prepare_cached(sql)?.execute([]).map(drop)
}

fn commit_batch(connection: &rusqlite::Connection, jobs: Vec<Job>) {
    if let Err(error) = control(connection, "BEGIN IMMEDIATE") {
        let message = error.to_string();
        for job in jobs {
            let (_, deliver) = job(None);
            deliver(Some(message.clone()));
        }
        return;
    }

    let mut deliveries = Vec::with_capacity(jobs.len());
    for job in jobs {
        let _ = control(connection, "SAVEPOINT job");
        // A job that panics is rolled back and its caller sees the store as
        // closed, but the thread lives on for the other jobs.
        let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(Some(connection))));
        let (succeeded, deliver) = if let Ok((succeeded, deliver)) = ran {
            (succeeded, Some(deliver))
        } else {
            tracing::error!("a SQLite write job panicked; its changes are rolled back");
            (false, None)
        };
        if !succeeded {
            let _ = control(connection, "ROLLBACK TO job");
        }
        let _ = control(connection, "RELEASE job");
        deliveries.extend(deliver);
    }

    let commit_error = control(connection, "COMMIT").err().map(|error| error.to_string());
    if commit_error.is_some() {
        let _ = control(connection, "ROLLBACK");
        tracing::error!(error = ?commit_error, "SQLite commit failed");
    }
    for deliver in deliveries {
        deliver(commit_error.clone());
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
    async fn closed_writer_rejects_jobs() {
        let (_dir, writer) = writer_with_table().await;
        writer.close().await;
        let result = writer.run(|_| Ok(())).await;
        assert!(matches!(result, Err(StoreError::Closed)), "{result:?}");
    }
}
