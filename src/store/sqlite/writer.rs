//! The one writer of the SQLite file: a thread of its own holding one rusqlite connection. Every
//! write of the gateway is a job sent to it; whatever jobs are waiting when it wakes are run in
//! one transaction and committed together (group commit), each job inside a savepoint of its
//! own so that one job's failure undoes only that job.
//!
//! Why not sqlx's connection for writes: there every statement is a hand-off to the
//! connection's worker thread and back, and every write its own commit. A create makes several
//! writes, so under load the write path spent its time switching threads and committing, at a
//! tenth of the read path's throughput. Here a create's writes are one job, and a burst of
//! creates one commit. Reads stay on sqlx's pool: WAL lets them run beside this writer.

use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use rusqlite::Connection;
use tokio::sync::oneshot;

use crate::store::StoreError;

/// The most jobs in one transaction: enough to amortise a commit, few enough that the first
/// job of a burst does not wait long for the last.
const MAX_BATCH: usize = 256;

/// Called once the transaction a job ran in is committed or rolled back.
type Reply = Box<dyn FnOnce(Result<(), StoreError>) + Send>;
type Job = Box<dyn FnOnce(&Connection) -> Reply + Send>;

enum Message {
    Job(Job),
    /// The checkpointer copied the WAL back: copy what came since, so that the next write
    /// starts the WAL over instead of growing it.
    Checkpoint,
    /// Finish what is queued, then stop; the sender hears when the last commit is done.
    Close(oneshot::Sender<()>),
}

pub struct Writer {
    jobs: mpsc::Sender<Message>,
    /// Stops the checkpointer (so does dropping it).
    stop: mpsc::Sender<()>,
}

/// How often the WAL is copied back into the database file. Between two checkpoints the WAL
/// holds at most this long's writes. A page written many times in between (an index leaf, the
/// table's last page) is copied once, so a longer period copies less per write: at 250 ms a
/// create cost 1.5 KB more of writes than at a second, under a burst of 10,000 creates a second.
const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode::{
            CannotOpen, DatabaseBusy, DatabaseLocked, DiskFull, SystemIoFailure,
        };
        match e.sqlite_error_code() {
            Some(DatabaseBusy | DatabaseLocked | CannotOpen | SystemIoFailure | DiskFull) => {
                StoreError::Unavailable(e.to_string())
            }
            _ => StoreError::Other(e.to_string()),
        }
    }
}

fn closed() -> StoreError {
    StoreError::Unavailable("the store is closed".into())
}

impl Writer {
    /// Opens the file (already created and migrated) and starts the writer thread.
    pub fn open(path: &Path, housekeeping: Housekeeping) -> Result<Writer, StoreError> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(Duration::from_secs(5))?;
        // WAL with NORMAL is durable across a process crash, which is what the outbox needs;
        // only a power loss can drop the last transactions.
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        // Checkpoints are the checkpointer's: run by the writer, each one stalled every write
        // behind it for its copy and its two fsyncs (a third of the create path's latency).
        conn.pragma_update(None, "wal_autocheckpoint", 0)?;
        conn.set_prepared_statement_cache_capacity(64);
        let checkpointer = Connection::open(path)?;
        checkpointer.busy_timeout(Duration::from_secs(5))?;
        // The WAL file is cut back to this after a checkpoint, so a burst does not leave it big.
        checkpointer.pragma_update(None, "journal_size_limit", 64 * 1024 * 1024)?;
        let (jobs, queue) = mpsc::channel();
        let (stop, stopped) = mpsc::channel();
        let spawn = |name: &str, f: Box<dyn FnOnce() + Send>| {
            std::thread::Builder::new()
                .name(name.into())
                .spawn(f)
                .map(drop)
                .map_err(|e| StoreError::Other(format!("cannot start the SQLite {name}: {e}")))
        };
        spawn(
            "sqlite-writer",
            Box::new(move || run(&conn, &queue, &housekeeping)),
        )?;
        let writer = jobs.clone();
        spawn(
            "sqlite-checkpoint",
            Box::new(move || checkpoints(&checkpointer, &stopped, &writer)),
        )?;
        Ok(Writer { jobs, stop })
    }

    /// Runs `job` on the writer, atomically, and answers once its transaction is committed:
    /// a caller never hears of a write that could still be lost to a crash of the process.
    pub async fn write<R, F>(&self, job: F) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: FnOnce(&Connection) -> Result<R, StoreError> + Send + 'static,
    {
        self.submit(job, true).await
    }

    /// [`Writer::write`] for a job that makes at most one change (one statement that writes,
    /// any number that read): SQLite undoes a failed statement by itself, so the job needs no
    /// savepoint of its own.
    pub async fn write_one<R, F>(&self, job: F) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: FnOnce(&Connection) -> Result<R, StoreError> + Send + 'static,
    {
        self.submit(job, false).await
    }

    async fn submit<R, F>(&self, job: F, savepoint: bool) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: FnOnce(&Connection) -> Result<R, StoreError> + Send + 'static,
    {
        let (answer, answered) = oneshot::channel();
        let job: Job = Box::new(move |conn| {
            let outcome = if savepoint {
                in_savepoint(conn, job)
            } else {
                guarded(conn, job)
            };
            Box::new(move |committed| {
                let _ = answer.send(committed.and(outcome));
            })
        });
        self.jobs.send(Message::Job(job)).map_err(|_| closed())?;
        // A dropped answer means the writer stopped (or the job panicked) before committing.
        answered.await.map_err(|_| closed())?
    }

    /// Commits what is queued and stops the thread; later writes fail as unavailable.
    pub async fn close(&self) {
        let _ = self.stop.send(());
        let (done, finished) = oneshot::channel();
        if self.jobs.send(Message::Close(done)).is_ok() {
            let _ = finished.await;
        }
    }
}

fn in_savepoint<R>(
    conn: &Connection,
    job: impl FnOnce(&Connection) -> Result<R, StoreError>,
) -> Result<R, StoreError> {
    conn.prepare_cached("SAVEPOINT job")?.execute([])?;
    let outcome = guarded(conn, job);
    if outcome.is_err() {
        conn.prepare_cached("ROLLBACK TO job")?.execute([])?;
    }
    conn.prepare_cached("RELEASE job")?.execute([])?;
    outcome
}

/// A bug in one job must not take the writer, and with it every later write, down.
fn guarded<R>(
    conn: &Connection,
    job: impl FnOnce(&Connection) -> Result<R, StoreError>,
) -> Result<R, StoreError> {
    std::panic::catch_unwind(AssertUnwindSafe(|| job(conn)))
        .unwrap_or_else(|_| Err(StoreError::Other("a store write panicked".into())))
}

/// Clean-up the store asks of its writer now and then (dropping expired rows), run between
/// batches so that it never holds a caller's write up.
pub struct Housekeeping {
    pub every: Duration,
    pub task: fn(&Connection) -> Result<(), StoreError>,
}

impl Housekeeping {
    fn run_if_due(&self, conn: &Connection, last: &mut std::time::Instant) {
        if last.elapsed() < self.every {
            return;
        }
        *last = std::time::Instant::now();
        let done = conn
            .execute_batch("BEGIN IMMEDIATE")
            .map_err(StoreError::from)
            .and_then(|()| (self.task)(conn))
            .and_then(|()| conn.execute_batch("COMMIT").map_err(StoreError::from));
        if let Err(e) = done {
            tracing::warn!(error = %e, "SQLite housekeeping failed");
            let _ = conn.execute_batch("ROLLBACK");
        }
    }
}

fn run(conn: &Connection, queue: &mpsc::Receiver<Message>, housekeeping: &Housekeeping) {
    let mut batch: Vec<Job> = Vec::with_capacity(MAX_BATCH);
    let mut last_housekeeping = std::time::Instant::now();
    loop {
        let mut close = None;
        match queue.recv() {
            Ok(Message::Job(job)) => batch.push(job),
            Ok(Message::Checkpoint) => {
                checkpoint(conn);
                housekeeping.run_if_due(conn, &mut last_housekeeping);
                continue;
            }
            Ok(Message::Close(done)) => close = Some(done),
            // Every sender is gone: the store was dropped.
            Err(_) => return,
        }
        // One yield before taking what else is queued: when the cores are busy, the tasks
        // that run meanwhile add their writes to this commit instead of each waiting for one of
        // its own (a commit writes every page it touched to the WAL, whatever it holds); when
        // they are idle, it returns at once.
        std::thread::yield_now();
        let mut checkpoint_due = false;
        while close.is_none() && batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(Message::Job(job)) => batch.push(job),
                Ok(Message::Checkpoint) => checkpoint_due = true,
                Ok(Message::Close(done)) => close = Some(done),
                Err(_) => break,
            }
        }
        if !batch.is_empty() {
            commit(conn, &mut batch);
        }
        if checkpoint_due {
            checkpoint(conn);
        }
        housekeeping.run_if_due(conn, &mut last_housekeeping);
        if let Some(done) = close {
            let _ = done.send(());
            return;
        }
    }
}

fn commit(conn: &Connection, batch: &mut Vec<Job>) {
    if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
        tracing::warn!(error = %e, "the SQLite writer could not begin a transaction");
        // Dropping a job unrun drops its answer: its caller hears the store is unavailable.
        batch.clear();
        return;
    }
    let replies: Vec<Reply> = batch.drain(..).map(|job| job(conn)).collect();
    let committed = match conn.execute_batch("COMMIT") {
        Ok(()) => Ok(()),
        Err(e) => {
            tracing::warn!(error = %e, "the SQLite writer could not commit");
            let _ = conn.execute_batch("ROLLBACK");
            Err(StoreError::from(e))
        }
    };
    for reply in replies {
        reply(match &committed {
            Ok(()) => Ok(()),
            Err(e) => Err(StoreError::Unavailable(e.to_string())),
        });
    }
}

/// PASSIVE checkpoints, beside the writer: they copy what no reader still needs and never make
/// the writer wait.
fn checkpoints(conn: &Connection, stop: &mpsc::Receiver<()>, writer: &mpsc::Sender<Message>) {
    while let Err(mpsc::RecvTimeoutError::Timeout) = stop.recv_timeout(CHECKPOINT_EVERY) {
        if !checkpoint(conn) {
            continue;
        }
        // Writes go on during a passive checkpoint, so it never catches up by itself: the
        // writer copies the little that came since, between two batches, and the WAL restarts.
        if writer.send(Message::Checkpoint).is_err() {
            return;
        }
    }
}

/// A PASSIVE checkpoint; false when it failed (logged).
fn checkpoint(conn: &Connection) -> bool {
    let done = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
    if let Err(e) = &done {
        tracing::warn!(error = %e, "SQLite checkpoint failed");
    }
    done.is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn writer() -> (Writer, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("w.db");
        let setup = Connection::open(&path).expect("opens");
        setup
            .execute_batch("PRAGMA journal_mode=WAL; CREATE TABLE t (k TEXT PRIMARY KEY);")
            .expect("schema");
        let housekeeping = Housekeeping {
            every: Duration::ZERO,
            task: |conn| {
                conn.execute("DELETE FROM t WHERE k LIKE 'old%'", [])?;
                Ok(())
            },
        };
        (
            Writer::open(&path, housekeeping).expect("writer opens"),
            dir,
        )
    }

    #[tokio::test]
    async fn housekeeping_runs_between_batches() {
        let (w, _dir) = writer();
        w.write(insert("old-1")).await.expect("commits");
        // The batch that wrote old-1 was followed by housekeeping before this job ran.
        assert_eq!(w.write(count).await.expect("count"), 0);
    }

    fn insert(k: &'static str) -> impl FnOnce(&Connection) -> Result<(), StoreError> {
        move |conn| {
            conn.execute("INSERT INTO t (k) VALUES (?1)", [k])?;
            Ok(())
        }
    }

    fn count(conn: &Connection) -> Result<i64, StoreError> {
        Ok(conn.query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0))?)
    }

    #[tokio::test]
    async fn a_failing_job_undoes_only_itself() {
        let (w, _dir) = writer();
        // Sent together, so that they share one transaction.
        let ok = w.write(insert("a"));
        let failing = w.write(|conn| {
            conn.execute("INSERT INTO t (k) VALUES ('b')", [])?;
            conn.execute("INSERT INTO t (k) VALUES ('a')", [])?; // the key is taken
            Ok(())
        });
        let panicking = w.write(|conn| -> Result<(), StoreError> {
            conn.execute("INSERT INTO t (k) VALUES ('c')", [])?;
            panic!("a bug in a job");
        });
        let (ok, failing, panicking) = tokio::join!(ok, failing, panicking);
        ok.expect("the first job commits");
        assert!(matches!(failing, Err(StoreError::Other(_))), "{failing:?}");
        assert!(panicking.is_err());
        assert_eq!(w.write(count).await.expect("count"), 1, "only 'a' is kept");
        w.write(insert("d")).await.expect("the writer goes on");
    }

    #[tokio::test]
    async fn many_concurrent_jobs_all_commit() {
        let (w, _dir) = writer();
        let w = std::sync::Arc::new(w);
        let mut jobs = tokio::task::JoinSet::new();
        for i in 0..500 {
            let w = w.clone();
            jobs.spawn(async move {
                w.write(move |conn| {
                    conn.execute("INSERT INTO t (k) VALUES (?1)", [format!("k{i}")])?;
                    Ok(())
                })
                .await
            });
        }
        while let Some(job) = jobs.join_next().await {
            job.expect("joins").expect("commits");
        }
        assert_eq!(w.write(count).await.expect("count"), 500);
    }

    #[tokio::test]
    async fn after_close_writes_are_unavailable() {
        let (w, _dir) = writer();
        w.write(insert("a")).await.expect("commits");
        w.close().await;
        assert!(matches!(
            w.write(insert("b")).await,
            Err(StoreError::Unavailable(_))
        ));
    }
}
