//! Checkpoints of the write-ahead log on a thread of their own. SQLite's
//! automatic checkpoint runs inside a commit after which the log holds 1,000
//! pages or more: it syncs the log, copies its pages into the database file
//! and syncs that, and the writer waits for all three (about 60 ms of a
//! 1.0 s machine-coding run of 100 MB). Here that commit only wakes a helper
//! thread, which runs the same checkpoint on a connection of its own while the
//! writer goes on; readers and the next writer take no lock it holds.
//!
//! The log starts again from its beginning only when a write transaction
//! begins after a checkpoint has copied all of it. Commits that follow each
//! other faster than the thread copies would keep it from ever doing so, and
//! the log would grow without bound: once a commit leaves [`GROWN`] times the
//! threshold in the log while the thread is still busy, the commit waits for
//! the thread and copies the rest in place, as SQLite's own checkpoint would.
//!
//! Durability against a crash of the process is what it was: a commit is in
//! the log when it returns, and the log is read again on the next open. The
//! store commits with `synchronous=NORMAL`, so the log is synced at a
//! checkpoint's first step; a large commit is therefore on disk some
//! milliseconds after it returns instead of before (no promise of `NORMAL`
//! covers the latest commits against a power failure either way).
//!
//! Once started, the thread and its connection live as long as the store.
//! A child process forked from the store's process inherits neither (only
//! the thread that forks goes on in a child): there the store, like any
//! SQLite connection, is not to be used, and dropping it leaves the parent's
//! thread alone instead of waiting for a thread the child does not have, and
//! without taking the lock that thread may have held at the fork.
//! Touches the log and the database file only through SQLite's checkpoint;
//! never reads or writes a table.

use rusqlite::hooks::Wal;
use rusqlite::{Connection, OpenFlags};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

/// Pages left in the log by a commit that start a checkpoint: SQLite's own
/// threshold for its automatic one.
pub(super) const WAL_PAGES: i32 = 1000;

/// How many times the threshold the log may hold while the thread is busy
/// before a commit copies it in place.
const GROWN: i32 = 4;

/// How long a commit waits for a busy thread before it copies in place anyway.
const WAIT: Duration = Duration::from_secs(10);

/// [`WAL_PAGES`], or `INNSIKT_CHECKPOINT_PAGES` (the crash harness sets a few
/// pages, so that every commit hands a checkpoint to the thread and kills land
/// while one runs).
pub(super) fn wal_pages() -> i32 {
    std::env::var("INNSIKT_CHECKPOINT_PAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(WAL_PAGES)
}

/// What the writer and the thread share, under one lock.
#[derive(Default)]
struct State {
    /// The thread, once started (until the store stops it).
    thread: Option<JoinHandle<()>>,
    /// A checkpoint has been asked for and the thread has not begun it.
    requested: bool,
    /// The thread is copying.
    running: bool,
    /// The store is closing, or the thread could not be started: commits
    /// checkpoint in place.
    in_place: bool,
}

/// The helper thread of one store's connection, started by the first commit
/// that needs it.
pub(super) struct Checkpointer {
    /// The process that installed it, whose thread this is: a child forked
    /// from that process has none.
    pid: u32,
    /// The database file, as SQLite named it when the store opened it (an
    /// absolute path, whatever the process's working directory is later).
    path: PathBuf,
    shared: Arc<Shared>,
}

/// What the writer and the thread share.
#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    /// Signalled when a checkpoint is asked for, when one ends and at stop.
    changed: Condvar,
    /// Checkpoints the thread finished having copied the whole log.
    complete: AtomicU64,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The thread: a checkpoint per request, until the store stops it.
    fn run(&self, conn: Connection) {
        loop {
            let mut state = self
                .changed
                .wait_while(self.lock(), |s| !s.requested && !s.in_place)
                .unwrap_or_else(PoisonError::into_inner);
            if !state.requested {
                return;
            }
            state.requested = false;
            state.running = true;
            drop(state);
            // A passive checkpoint copies what no reader still needs and never
            // waits for a lock. One that could not copy everything is
            // finished at the next request, as SQLite's own would be at the
            // next commit.
            let whole = conn
                .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, i64>(2)?,
                    ))
                })
                .is_ok_and(|(busy, log, copied)| busy == 0 && log == copied);
            if whole {
                self.complete.fetch_add(1, Ordering::Release);
            }
            self.lock().running = false;
            self.changed.notify_all();
        }
    }
}

impl Checkpointer {
    /// Take over the automatic checkpoints of `conn`, the connection that
    /// writes its store, at `threshold` pages (normally [`wal_pages`]).
    pub fn install(conn: &mut Connection, threshold: i32) -> rusqlite::Result<Arc<Checkpointer>> {
        let Some(path) = conn.path().filter(|p| !p.is_empty()) else {
            return Err(rusqlite::Error::InvalidPath(PathBuf::new()));
        };
        let checkpointer = Arc::new(Checkpointer {
            pid: std::process::id(),
            path: PathBuf::from(path),
            shared: Arc::default(),
        });
        let callback = Arc::clone(&checkpointer);
        // Replaces SQLite's automatic checkpoint, which is itself such a
        // WAL callback.
        conn.wal_hook(Some(move |wal: &mut Wal, pages: std::ffi::c_int| {
            if pages >= threshold && !callback.hand_over(pages >= threshold.saturating_mul(GROWN)) {
                // As SQLite's own: the commit has happened whatever this
                // checkpoint meets (a reader, another checkpoint), so it
                // reports nothing.
                let _ = wal.checkpoint();
            }
            Ok(())
        }))?;
        Ok(checkpointer)
    }

    /// How many checkpoints the thread has finished having copied the whole log.
    #[cfg(test)]
    pub fn complete(&self) -> u64 {
        self.shared.complete.load(Ordering::Acquire)
    }

    /// Whether the thread runs (started, and not stopped).
    #[cfg(test)]
    pub fn started(&self) -> bool {
        self.shared.lock().thread.is_some()
    }

    /// Ask the thread for a checkpoint, starting it when there is none; false
    /// when the commit must checkpoint in place: the thread is gone, or the
    /// log has `grown` while the thread was busy (then after waiting for it).
    fn hand_over(&self, grown: bool) -> bool {
        if self.forked() {
            return false;
        }
        let mut state = self.shared.lock();
        if state.thread.is_none() && !state.in_place {
            state.thread = self.start();
            state.in_place = state.thread.is_none();
        }
        if state.in_place {
            return false;
        }
        if grown && (state.requested || state.running) {
            let (state, _) = self
                .shared
                .changed
                .wait_timeout_while(state, WAIT, |s| s.requested || s.running)
                .unwrap_or_else(PoisonError::into_inner);
            drop(state);
            return false;
        }
        state.requested = true;
        self.shared.changed.notify_all();
        true
    }

    /// Whether this is a child forked from the process that installed it.
    fn forked(&self) -> bool {
        std::process::id() != self.pid
    }

    fn start(&self) -> Option<JoinHandle<()>> {
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .ok()?;
        conn.busy_timeout(Duration::from_secs(10)).ok()?;
        let shared = Arc::clone(&self.shared);
        std::thread::Builder::new()
            .name("innsikt-checkpoint".into())
            .spawn(move || shared.run(conn))
            .ok()
    }

    /// Let the thread finish the checkpoint it has been asked for, and end it;
    /// commits after this checkpoint in place. In a forked child, only the
    /// latter.
    pub fn stop(&self) {
        if self.forked() {
            // The thread and the lock belong to the parent (the lock may have
            // been held when it forked): what they share is kept from ever
            // being dropped here, so no call reaches either.
            std::mem::forget(Arc::clone(&self.shared));
            return;
        }
        let thread = {
            let mut state = self.shared.lock();
            state.in_place = true;
            self.shared.changed.notify_all();
            state.thread.take()
        };
        if let Some(thread) = thread {
            let _ = thread.join();
        }
    }
}
