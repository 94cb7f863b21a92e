//! Progress reporting and cancellation for long operations. The callback is
//! called between units of work (files, batches); returning `false` cancels the
//! operation at the next consistent point.

/// Receives progress: `done` of `total` units, and what is being worked on.
pub trait Progress {
    fn update(&mut self, done: u64, total: u64, what: &str) -> bool;

    /// Called after a transaction commits, with the keys of the documents it saved:
    /// from here on they survive any crash.
    fn saved(&mut self, _keys: &[String]) {}
}

/// Ignores progress and never cancels.
pub struct Silent;

impl Progress for Silent {
    fn update(&mut self, _: u64, _: u64, _: &str) -> bool {
        true
    }
}

impl<F: FnMut(u64, u64, &str) -> bool> Progress for F {
    fn update(&mut self, done: u64, total: u64, what: &str) -> bool {
        self(done, total, what)
    }
}
