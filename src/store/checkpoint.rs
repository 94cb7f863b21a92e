//! Checkpoints of the write-ahead log on a thread of their own. SQLite's
//! automatic checkpoint runs inside the commit that leaves the log at 1,000
//! pages or more: it syncs the log, copies its pages into the database file
//! and syncs that, and the writer waits for all three (about 60 ms of a
//! 1.0 s machine-coding run of 100 MB). Here that commit only wakes a helper
//! thread, which runs the same checkpoint on a connection of its own while the
//! writer goes on; readers and the next writer are not held up by it (a
//! passive checkpoint takes no lock that they need).
//!
//! Durability is what it was: the store commits with `synchronous=NORMAL`, so
//! a commit is safe from a crash of the process as soon as it returns and is
//! on disk once the checkpoint after it has synced the file; a crash during a
//! checkpoint loses nothing (SQLite's log is redone on the next open).
//!
//! Touches the log and the database file only through SQLite's checkpoint;
//! never reads or writes a table.

use rusqlite::hooks::Wal;
use rusqlite::{Connection, OpenFlags};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

/// Pages a commit leaves in the log that start a checkpoint: SQLite's own
/// threshold for its automatic one.
pub(super) const WAL_PAGES: i32 = 1000;

/// [`WAL_PAGES`], or `INNSIKT_CHECKPOINT_PAGES` (the crash harness sets a few
/// pages, so that every commit hands a checkpoint to the thread and kills land
/// while one runs).
fn wal_pages() -> i32 {
    std::env::var("INNSIKT_CHECKPOINT_PAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(WAL_PAGES)
}

enum State {
    /// No commit has left enough pages in the log yet: no thread.
    Idle,
    Running {
        wake: mpsc::SyncSender<()>,
        thread: JoinHandle<()>,
    },
    /// The store is closing, or the thread could not be started: a commit
    /// checkpoints in place, as SQLite's automatic checkpoint does.
    InPlace,
}

/// The helper thread of one store's connection, started by the first commit
/// that needs it.
pub(super) struct Checkpointer {
    path: PathBuf,
    state: Mutex<State>,
    /// Checkpoints the thread has finished (for tests, and for a caller that
    /// wants to know the log is in the database file).
    done: Arc<AtomicU64>,
}

impl Checkpointer {
    /// Take over the automatic checkpoints of `conn`, the connection that
    /// writes the store at `path`.
    pub fn install(conn: &mut Connection, path: &Path) -> rusqlite::Result<Arc<Checkpointer>> {
        let checkpointer = Arc::new(Checkpointer {
            path: path.to_path_buf(),
            state: Mutex::new(State::Idle),
            done: Arc::new(AtomicU64::new(0)),
        });
        let hook = Arc::clone(&checkpointer);
        let threshold = wal_pages();
        // Replaces SQLite's automatic checkpoint, which is itself this hook.
        conn.wal_hook(Some(move |wal: &mut Wal, pages: std::ffi::c_int| {
            if pages < threshold || hook.wake() {
                Ok(())
            } else {
                wal.checkpoint()
            }
        }))?;
        Ok(checkpointer)
    }

    /// How many checkpoints the thread has finished.
    #[cfg(test)]
    pub fn done(&self) -> u64 {
        self.done.load(Ordering::Acquire)
    }

    /// Ask the thread for a checkpoint, starting it when there is none; false
    /// when the commit must checkpoint in place.
    fn wake(&self) -> bool {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if matches!(*state, State::Idle) {
            *state = self.start().unwrap_or(State::InPlace);
        }
        let State::Running { wake, .. } = &*state else {
            return false;
        };
        match wake.try_send(()) {
            // A wake already waiting stands for this commit too: the
            // checkpoint it starts copies everything committed by then.
            Ok(()) | Err(mpsc::TrySendError::Full(())) => true,
            Err(mpsc::TrySendError::Disconnected(())) => {
                *state = State::InPlace;
                false
            }
        }
    }

    fn start(&self) -> Option<State> {
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .ok()?;
        conn.busy_timeout(std::time::Duration::from_secs(10)).ok()?;
        let (wake, woken) = mpsc::sync_channel::<()>(1);
        let done = Arc::clone(&self.done);
        let thread = std::thread::Builder::new()
            .name("innsikt-checkpoint".into())
            .spawn(move || {
                while woken.recv().is_ok() {
                    // A passive checkpoint copies what no reader still needs
                    // and never waits for a lock; a failed one is retried by
                    // the next commit's wake, as SQLite retries its own.
                    if conn
                        .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
                        .is_ok()
                    {
                        done.fetch_add(1, Ordering::Release);
                    }
                }
            })
            .ok()?;
        Some(State::Running { wake, thread })
    }

    /// Let the thread finish the checkpoint it has been asked for, and end it;
    /// commits after this checkpoint in place.
    pub fn stop(&self) {
        let state = std::mem::replace(
            &mut *self.state.lock().unwrap_or_else(PoisonError::into_inner),
            State::InPlace,
        );
        if let State::Running { wake, thread } = state {
            drop(wake);
            let _ = thread.join();
        }
    }
}
