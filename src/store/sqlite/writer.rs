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
    /// Finish what is queued, then stop; the sender hears when the last commit is done.
    Close(oneshot::Sender<()>),
}

pub struct Writer {
    jobs: mpsc::Sender<Message>,
}

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
    pub fn open(path: &Path) -> Result<Writer, StoreError> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(Duration::from_secs(5))?;
        // WAL with NORMAL is durable across a process crash, which is what the outbox needs;
        // only a power loss can drop the last transactions.
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.set_prepared_statement_cache_capacity(64);
        let (jobs, queue) = mpsc::channel();
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || run(&conn, &queue))
            .map_err(|e| StoreError::Other(format!("cannot start the SQLite writer: {e}")))?;
        Ok(Writer { jobs })
    }

    /// Runs `job` on the writer, atomically, and answers once its transaction is committed:
    /// a caller never hears of a write that could still be lost to a crash of the process.
    pub async fn write<R, F>(&self, job: F) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: FnOnce(&Connection) -> Result<R, StoreError> + Send + 'static,
    {
        let (answer, answered) = oneshot::channel();
        let job: Job = Box::new(move |conn| {
            let outcome = in_savepoint(conn, job);
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
    conn.execute_batch("SAVEPOINT job")?;
    // A bug in one job must not take the writer, and with it every later write, down.
    let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| job(conn)))
        .unwrap_or_else(|_| Err(StoreError::Other("a store write panicked".into())));
    let end = if outcome.is_ok() {
        "RELEASE job"
    } else {
        "ROLLBACK TO job; RELEASE job"
    };
    conn.execute_batch(end)?;
    outcome
}

fn run(conn: &Connection, queue: &mpsc::Receiver<Message>) {
    let mut batch: Vec<Job> = Vec::with_capacity(MAX_BATCH);
    loop {
        let mut close = None;
        match queue.recv() {
            Ok(Message::Job(job)) => batch.push(job),
            Ok(Message::Close(done)) => close = Some(done),
            // Every sender is gone: the store was dropped.
            Err(_) => return,
        }
        while close.is_none() && batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(Message::Job(job)) => batch.push(job),
                Ok(Message::Close(done)) => close = Some(done),
                Err(_) => break,
            }
        }
        if !batch.is_empty() {
            commit(conn, &mut batch);
        }
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
