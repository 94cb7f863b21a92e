//! A read-only statement stepped through SQLite's C interface, for the loops
//! where rusqlite's checked access per value (a type query, then a conversion,
//! each through its own call) costs a third of the time: reading every coding,
//! autocoding's pass over every passage, and the pass over the machine codings
//! of re-ingested documents.
//!
//! Reads only; it never writes and never outlives the connection it was
//! prepared on.

use rusqlite::{ffi, Connection};
use std::ffi::{c_int, CStr};
use std::marker::PhantomData;

/// A prepared statement on a connection that outlives it.
pub(super) struct Scan<'c> {
    db: *mut ffi::sqlite3,
    stmt: *mut ffi::sqlite3_stmt,
    _conn: PhantomData<&'c Connection>,
}

fn failure(db: *mut ffi::sqlite3, code: c_int) -> rusqlite::Error {
    // SAFETY: `db` is an open connection; its message is a C string it owns.
    let message = unsafe { CStr::from_ptr(ffi::sqlite3_errmsg(db)) }
        .to_string_lossy()
        .into_owned();
    rusqlite::Error::SqliteFailure(ffi::Error::new(code), Some(message))
}

impl<'c> Scan<'c> {
    /// Prepare `sql`, which must be one read-only statement.
    pub(super) fn new(conn: &'c Connection, sql: &str) -> rusqlite::Result<Scan<'c>> {
        // SAFETY: the handle is used only while `conn` is borrowed, on this
        // thread (a connection is not shared between threads), and only to
        // prepare, step, read and finalize the statement below.
        let db = unsafe { conn.handle() };
        let mut stmt = std::ptr::null_mut();
        let len = c_int::try_from(sql.len()).map_err(|_| rusqlite::Error::InvalidQuery)?;
        // SAFETY: `sql` is valid for `len` bytes; `stmt` receives the statement.
        let rc = unsafe {
            ffi::sqlite3_prepare_v2(
                db,
                sql.as_ptr().cast(),
                len,
                &mut stmt,
                std::ptr::null_mut(),
            )
        };
        if rc != ffi::SQLITE_OK {
            return Err(failure(db, rc));
        }
        let scan = Scan {
            db,
            stmt,
            _conn: PhantomData,
        };
        // SAFETY: `stmt` is the statement just prepared (null for empty SQL,
        // which sqlite3_stmt_readonly treats as read-only, then stepping is done).
        if stmt.is_null() || unsafe { ffi::sqlite3_stmt_readonly(stmt) } == 0 {
            return Err(rusqlite::Error::InvalidQuery);
        }
        Ok(scan)
    }

    /// Bind parameter `i` (from 1) to an integer.
    pub(super) fn bind_int(&mut self, i: c_int, v: i64) -> rusqlite::Result<()> {
        // SAFETY: `stmt` is a live prepared statement.
        match unsafe { ffi::sqlite3_bind_int64(self.stmt, i, v) } {
            ffi::SQLITE_OK => Ok(()),
            rc => Err(failure(self.db, rc)),
        }
    }

    /// Bind parameter `i` (from 1) to a text, or NULL.
    pub(super) fn bind_text(&mut self, i: c_int, v: Option<&str>) -> rusqlite::Result<()> {
        // SAFETY: `stmt` is a live prepared statement; SQLITE_TRANSIENT makes
        // SQLite copy the text before the call returns.
        let rc = unsafe {
            match v {
                None => ffi::sqlite3_bind_null(self.stmt, i),
                Some(t) => ffi::sqlite3_bind_text64(
                    self.stmt,
                    i,
                    t.as_ptr().cast(),
                    t.len() as u64,
                    ffi::SQLITE_TRANSIENT(),
                    ffi::SQLITE_UTF8 as u8,
                ),
            }
        };
        match rc {
            ffi::SQLITE_OK => Ok(()),
            rc => Err(failure(self.db, rc)),
        }
    }

    /// Start the statement over (its bindings stay until bound again).
    pub(super) fn reset(&mut self) -> rusqlite::Result<()> {
        // SAFETY: `stmt` is a live prepared statement.
        match unsafe { ffi::sqlite3_reset(self.stmt) } {
            ffi::SQLITE_OK => Ok(()),
            rc => Err(failure(self.db, rc)),
        }
    }

    /// Move to the next row; false when there is none.
    pub(super) fn step(&mut self) -> rusqlite::Result<bool> {
        // SAFETY: `stmt` is a live prepared statement.
        match unsafe { ffi::sqlite3_step(self.stmt) } {
            ffi::SQLITE_ROW => Ok(true),
            ffi::SQLITE_DONE => Ok(false),
            rc => Err(failure(self.db, rc)),
        }
    }

    /// Column `i` of the current row as an integer (0 for NULL).
    #[inline]
    pub(super) fn int(&self, i: c_int) -> i64 {
        // SAFETY: called only after `step` returned a row; an index out of
        // range gives 0, not undefined behaviour.
        unsafe { ffi::sqlite3_column_int64(self.stmt, i) }
    }

    /// Column `i` of the current row as text bytes, or None for NULL.
    #[inline]
    pub(super) fn text(&self, i: c_int) -> Option<&[u8]> {
        // SAFETY: as in `int`. The pointer stays valid until the next step or
        // finalize, which need `&mut self`, so the borrow cannot outlive it; the
        // length is asked for after the pointer, as SQLite requires.
        unsafe {
            let p = ffi::sqlite3_column_text(self.stmt, i);
            if p.is_null() {
                return None;
            }
            let n = ffi::sqlite3_column_bytes(self.stmt, i);
            Some(std::slice::from_raw_parts(p, n.max(0) as usize))
        }
    }
}

impl Scan<'_> {
    /// Column `i` of the current row as blob bytes (empty for NULL).
    #[inline]
    pub(super) fn blob(&self, i: c_int) -> &[u8] {
        // SAFETY: as in `text`; for a zero-length blob or NULL SQLite returns a
        // null pointer, read as empty.
        unsafe {
            let p = ffi::sqlite3_column_blob(self.stmt, i);
            if p.is_null() {
                return &[];
            }
            let n = ffi::sqlite3_column_bytes(self.stmt, i);
            std::slice::from_raw_parts(p.cast(), n.max(0) as usize)
        }
    }
}

impl Drop for Scan<'_> {
    fn drop(&mut self) {
        // SAFETY: `stmt` was prepared on `db` and is finalized once, here.
        unsafe {
            ffi::sqlite3_finalize(self.stmt);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_integers_texts_and_nulls_and_reports_errors() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE t (a INTEGER, b TEXT);
             INSERT INTO t VALUES (1, 'æøå'), (2, NULL), (NULL, 'x');",
        )
        .unwrap();
        let mut s = Scan::new(
            &conn,
            "SELECT a, b FROM t WHERE a >= ?1 OR b = ?2 ORDER BY rowid",
        )
        .unwrap();
        s.bind_int(1, 2).unwrap();
        s.bind_text(2, Some("x")).unwrap();
        let mut rows = Vec::new();
        while s.step().unwrap() {
            rows.push((
                s.int(0),
                s.text(1).map(|t| String::from_utf8(t.to_vec()).unwrap()),
            ));
        }
        assert_eq!(rows, vec![(2, None), (0, Some("x".to_string()))]);
        let mut s = Scan::new(&conn, "SELECT b FROM t WHERE a = 1").unwrap();
        assert!(s.step().unwrap());
        assert_eq!(s.text(0), Some("æøå".as_bytes()));
        assert!(!s.step().unwrap());
        let e = Scan::new(&conn, "SELECT missing FROM t").err().unwrap();
        assert!(e.to_string().contains("no such column"), "{e}");
        assert!(Scan::new(&conn, "DELETE FROM t").is_err());
    }
}
