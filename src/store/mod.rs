//! The record of truth: documents, their metadata and passages in SQLite (WAL).
//! Every write goes through one transaction and bumps `commits`, the count of write
//! transactions: two connections that read the same count in their read
//! transactions see the same snapshot, which lets a large table be read on two
//! threads. Writes of documents also bump the store generation, which the index
//! records in its commits so that a stale index is detected on open. Machine
//! codings are kept packed, a block per document and run (`blocks`).
//!
//! Knows nothing of tantivy or of file formats.

mod blocks;
mod checkpoint;
mod scan;

use rusqlite::{params, Connection, OptionalExtension, Transaction};
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};

/// Version 2 keeps the text fields of codings in `labels`, once each, and the
/// codings themselves as numbers. Version 3 adds `commits` to `state`, bumped by
/// every write transaction; a build that did not bump it must not write to an
/// archive that relies on it, hence the new version. Older archives are migrated
/// on open. Version 4 keeps the uniqueness of passage ids in a named index,
/// `passages_by_id`, instead of a column constraint, so that a large ingest can
/// drop it and sort it anew once at the end (see [`Store::drop_passage_id_index`]).
/// Version 5 finds a codebook's machine codings by their id range, kept in
/// `machine_runs`, instead of by an index on (machine, codebook), which cost a
/// sort of every machine coding at every large run. Version 6 keeps human codings
/// only in the passage index of `codings`. Version 7 records, per run, the id range
/// of each document's machine codings (`machine_run_documents`), so that a
/// re-ingested document's machine codings are found without reading every run.
/// Version 8 keeps the machine codings of new runs in `machine_blocks`, one
/// packed value per document and run, instead of a row of `codings` each; rows
/// written before stay until their codebook runs again. Its coding ids are
/// given out by the store (the private `NEXT_CODING_ID`), not by SQLite.
pub const SCHEMA_VERSION: i64 = 8;

/// A store error: what failed, with the store file it concerns.
#[derive(Debug)]
pub struct StoreError {
    pub path: PathBuf,
    pub message: String,
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.message)
    }
}

impl std::error::Error for StoreError {}

/// A document as it is written to the store.
#[derive(Debug, Clone)]
pub struct NewDocument {
    pub id: String,
    pub key: String,
    pub source_path: String,
    pub format: String,
    pub encoding: String,
    pub content_hash: String,
    pub text: String,
    pub metadata: BTreeMap<String, String>,
    pub passages: Vec<NewPassage>,
}

#[derive(Debug, Clone)]
pub struct NewPassage {
    pub id: String,
    pub kind: String,
    pub speaker: Option<String>,
    pub speaker_role: Option<String>,
    pub section: Option<String>,
    pub start: usize,
    pub end: usize,
    pub t_start_ms: Option<u64>,
    pub t_end_ms: Option<u64>,
    pub line: usize,
    pub text: String,
}

/// A passage row read back, with its document's key and metadata.
#[derive(Debug, Clone)]
pub struct PassageRow {
    pub rowid: i64,
    pub id: String,
    pub document_id: String,
    pub document: String,
    pub ordinal: i64,
    pub kind: String,
    pub speaker: Option<String>,
    pub speaker_role: Option<String>,
    pub section: Option<String>,
    pub start: i64,
    pub end: i64,
    pub t_start_ms: Option<i64>,
    pub t_end_ms: Option<i64>,
    pub line: i64,
    pub text: String,
}

/// A passage borrowed from a row being read (see [`Store::scan_passages`]).
#[derive(Debug, Clone, Copy)]
pub struct PassageView<'a> {
    pub id: &'a str,
    pub document_id: &'a str,
    pub start: i64,
    pub end: i64,
    pub text: &'a str,
    /// Read only when asked for.
    pub context: Option<PassageContext<'a>>,
}

/// The fields of a passage that rules' `where` scopes test, besides the
/// document's metadata.
#[derive(Debug, Clone, Copy)]
pub struct PassageContext<'a> {
    pub kind: &'a str,
    /// The document's key.
    pub document: &'a str,
    pub speaker: Option<&'a str>,
    pub speaker_role: Option<&'a str>,
}

#[derive(Debug, Clone)]
pub struct DocumentRow {
    pub id: String,
    pub key: String,
    pub source_path: String,
    pub format: String,
    pub encoding: String,
    pub n_passages: i64,
    pub n_chars: i64,
    pub ingested_at: String,
}

pub struct Store {
    conn: Connection,
    path: PathBuf,
    /// Metadata field names as of a store generation (they change only with it).
    fields_cache: std::sync::Mutex<Option<(u64, Vec<String>)>>,
    /// Documents' metadata as of a store generation, for the documents
    /// [`Store::metadata_of`] was asked for.
    meta_cache: std::sync::Mutex<MetaCache>,
    /// Whether the page cache is [`READ_CACHE_KIB`].
    read_cache: std::sync::atomic::AtomicBool,
    /// A second, read-only connection for reading half of a large table on
    /// another thread; opened when first needed.
    helper: std::sync::Mutex<Option<Connection>>,
    /// Checkpoints the log after large commits on a thread of its own; `None`
    /// where SQLite's automatic checkpoint is kept (the WAL callback could not be set).
    checkpointer: Option<std::sync::Arc<checkpoint::Checkpointer>>,
}

impl Drop for Store {
    /// The checkpoint thread finishes its work before the connection closes.
    fn drop(&mut self) {
        if let Some(c) = &self.checkpointer {
            c.stop();
        }
    }
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS documents (
    id TEXT PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,
    source_path TEXT NOT NULL,
    format TEXT NOT NULL,
    encoding TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    text TEXT NOT NULL,
    n_chars INTEGER NOT NULL,
    ingested_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS document_meta (
    document_id TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    field TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (document_id, field)
);
CREATE TABLE IF NOT EXISTS passages (
    rowid INTEGER PRIMARY KEY,
    id TEXT NOT NULL,
    document_id TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    ordinal INTEGER NOT NULL,
    kind TEXT NOT NULL,
    speaker TEXT,
    speaker_role TEXT,
    section TEXT,
    start INTEGER NOT NULL,
    \"end\" INTEGER NOT NULL,
    t_start_ms INTEGER,
    t_end_ms INTEGER,
    line INTEGER NOT NULL,
    text TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS passages_by_document ON passages(document_id, ordinal);
CREATE TABLE IF NOT EXISTS codebooks (
    id TEXT NOT NULL,
    version TEXT NOT NULL,
    name TEXT NOT NULL,
    source TEXT NOT NULL,
    first_used TEXT NOT NULL,
    PRIMARY KEY (id, version)
);
CREATE TABLE IF NOT EXISTS labels (
    id INTEGER PRIMARY KEY,
    value TEXT NOT NULL UNIQUE
);
CREATE TABLE IF NOT EXISTS codings (
    id INTEGER PRIMARY KEY,
    passage INTEGER NOT NULL,
    document INTEGER NOT NULL,
    code INTEGER NOT NULL,
    start INTEGER NOT NULL,
    \"end\" INTEGER NOT NULL,
    spans TEXT,
    coder INTEGER NOT NULL,
    machine INTEGER NOT NULL,
    rule INTEGER,
    codebook INTEGER,
    codebook_version INTEGER,
    created_at INTEGER NOT NULL
);
-- The id range (first..=last) that holds every machine coding of a codebook
-- (by its label id): one run inserts its codings in one transaction, so they
-- take consecutive ids. The range may also hold other rows; it is a bound.
CREATE TABLE IF NOT EXISTS machine_runs (
    codebook INTEGER PRIMARY KEY,
    first INTEGER NOT NULL,
    last INTEGER NOT NULL
);
-- Within the last run of a codebook, the id range of each document's machine
-- codings (by the document's label id). A run codes passages in the order they
-- are stored, and a document's passages are stored together, so the range holds
-- that document's codings of the run only; it is a bound all the same.
CREATE TABLE IF NOT EXISTS machine_run_documents (
    document INTEGER NOT NULL,
    codebook INTEGER NOT NULL,
    first INTEGER NOT NULL,
    last INTEGER NOT NULL,
    PRIMARY KEY (document, codebook)
) WITHOUT ROWID;
-- The machine codings of a run on one document (by label ids), packed (see
-- `blocks.rs`); `first` and `last` bound the ids of its codings, which no other
-- block's range overlaps.
CREATE TABLE IF NOT EXISTS machine_blocks (
    first INTEGER PRIMARY KEY,
    last INTEGER NOT NULL,
    n INTEGER NOT NULL,
    codebook INTEGER NOT NULL,
    document INTEGER NOT NULL,
    coder INTEGER NOT NULL,
    codebook_version INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    codings BLOB NOT NULL
);
-- (codebook, n): also counts the codings without reading the blocks.
CREATE INDEX IF NOT EXISTS machine_blocks_by_codebook ON machine_blocks(codebook, n);
CREATE INDEX IF NOT EXISTS machine_blocks_by_document ON machine_blocks(document);
CREATE INDEX IF NOT EXISTS machine_blocks_by_last ON machine_blocks(last);
CREATE TABLE IF NOT EXISTS memos (
    id INTEGER PRIMARY KEY,
    target_kind TEXT NOT NULL,
    target_id TEXT NOT NULL,
    author TEXT NOT NULL,
    text TEXT NOT NULL,
    created_at TEXT NOT NULL
);
";

/// Page size of a new archive. Against SQLite's default of 4 KiB, 16 KiB pages
/// hold four times the rows of `codings` each, so a machine-coding run of millions
/// of rows splits, balances and logs a quarter of the pages (100 MB of
/// proceedings, 1,000 rules: 3.8 → 3.45 s for a first run, 4.3 → 3.8 s for a
/// rerun), while a search still reads one page per passage it shows.
const PAGE_SIZE: u32 = 16384;

/// The passage index of human codings (for shifting them when their document
/// changes, and for skipping an imported coding that is already there). Machine
/// codings are left out: a run writes or replaces millions of them, and each
/// would cost an index entry (the index was sorted anew after every large run).
const CODINGS_INDEXES: &str = "
CREATE INDEX IF NOT EXISTS human_codings_by_passage ON codings(passage) WHERE machine = 0;
";

/// The id of the next coding: above every row of `codings` and every block of
/// machine codings. SQLite's own choice, one above the largest rowid, could fall
/// inside a block's range.
const NEXT_CODING_ID: &str = "(SELECT max(coalesce((SELECT max(id) FROM codings), 0),
                                    coalesce((SELECT max(last) FROM machine_blocks), 0)) + 1)";

/// The most codings in one block: a document with more gets several.
const BLOCK_CODINGS: u64 = 1 << 16;

/// The generation of the store a [`MetaCache`] holds, and by document id its
/// metadata (empty for a document without any).
type MetaCache = (Option<u64>, HashMap<String, BTreeMap<String, String>>);

/// Documents whose metadata [`Store::metadata_of`] keeps at most; past this it
/// starts over. A document's metadata is a few fields: a few MB at most.
const META_CACHE_DOCUMENTS: usize = 50_000;

/// Documents whose metadata one statement of [`Store::metadata_of`] reads: a
/// search's page of 20 hits is at most 20 documents.
const METADATA_IDS: usize = 32;

/// The page cache (KiB) a store keeps once it has been read through
/// [`Store::read`] (searches, KWIC, codings), from one read transaction to the
/// next while nothing is written: a search reads its hits' passages (16 KiB
/// pages, one or more each) and their documents' metadata, and with SQLite's
/// default of 2,000 KiB a mix of a dozen searches read them again from the file
/// at every turn. Pages are taken only as they are read; writing keeps the
/// default, which the peak memory of a large ingest counts on.
const READ_CACHE_KIB: u32 = 16384;

/// The page cache (KiB) of a batch of documents written while the unique index
/// of passage ids is in place (SQLite's default is 2,000 KiB): enough for the
/// index of a few million passages, and taken only as pages are read.
const BATCH_CACHE_KIB: u32 = 65536;

/// The unique index of passage ids. Passage ids are hashes, so every batch of new
/// passages lands all over this index; a large ingest drops it and creates it
/// again from a sort at the end ([`Store::drop_passage_id_index`]).
const PASSAGES_ID_INDEX: &str = "CREATE UNIQUE INDEX IF NOT EXISTS passages_by_id ON passages(id);";

/// A document removed when the passage id index was made again, because one of
/// its passages had the id of an earlier stored passage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Collision {
    pub document_id: String,
    pub key: String,
    pub passage_id: String,
    pub passages: u64,
}

/// A coding to store. Offsets are code points into the document text.
#[derive(Debug, Clone)]
pub struct NewCoding {
    pub passage_id: String,
    pub document_id: String,
    pub code_id: String,
    pub start: i64,
    pub end: i64,
    pub spans: Vec<(i64, i64)>,
    pub coder: String,
    pub machine: bool,
    pub rule: Option<String>,
}

/// The machine codings of one autocoding run, compactly: each passage that has
/// codings and each rule are listed once, and the codings point at them.
#[derive(Debug, Clone, Default)]
pub struct MachineCodings {
    pub coder: String,
    /// (passage id, document id).
    pub passages: Vec<(String, String)>,
    /// (code id, rule id), by rule index.
    pub rules: Vec<(String, String)>,
    pub rows: Vec<MachineCoding>,
    /// Every coding's spans (document offsets), in one list.
    pub spans: Vec<(i64, i64)>,
}

impl MachineCodings {
    /// Forget the codings, keeping the coder and the rules.
    pub fn clear(&mut self) {
        self.passages.clear();
        self.rows.clear();
        self.spans.clear();
    }
}

/// One machine coding: indexes into [`MachineCodings`]'s lists.
#[derive(Debug, Clone, Copy)]
pub struct MachineCoding {
    pub passage: u32,
    pub rule: u32,
    pub start: i64,
    pub end: i64,
    /// Range of [`MachineCodings::spans`]; an empty one when the coding's one
    /// span is `start..end`.
    pub spans: (usize, usize),
}

#[derive(Debug, Clone)]
pub struct CodingRow {
    pub id: i64,
    pub passage_id: String,
    pub document_id: String,
    pub code_id: String,
    pub start: i64,
    pub end: i64,
    pub spans: String,
    pub coder: String,
    pub machine: bool,
    pub rule: Option<String>,
    pub codebook_id: Option<String>,
    pub codebook_version: Option<String>,
    pub created_at: String,
}

/// The texts codings refer to (passage, document, code and codebook ids,
/// coders, rules, times), each stored once and referred to by its label id.
#[derive(Debug, Default)]
pub struct Labels {
    /// Every label's text, back to back.
    pub bytes: Vec<u8>,
    /// By label id: where its text is in `bytes`, as (offset, length). Id 0
    /// (never used by SQLite) and ids not in use are empty.
    pub at: Vec<(u32, u32)>,
}

impl Labels {
    /// One more than the highest label id.
    pub fn len(&self) -> usize {
        self.at.len()
    }

    pub fn is_empty(&self) -> bool {
        self.at.is_empty()
    }

    fn put(&mut self, id: u32, text: &str) {
        let i = id as usize;
        if self.at.len() <= i {
            self.at.resize(i + 1, (0, 0));
        }
        self.at[i] = (self.bytes.len() as u32, text.len() as u32);
        self.bytes.extend_from_slice(text.as_bytes());
    }

    /// Add a label with the next free id (ids start at 1).
    pub fn push(&mut self, text: &str) -> u32 {
        let id = self.at.len().max(1) as u32;
        self.put(id, text);
        id
    }

    /// The text of label `id` ("" for none).
    pub fn get(&self, id: u32) -> &str {
        let (off, len) = self.at.get(id as usize).copied().unwrap_or((0, 0));
        // Only whole strings that were checked as UTF-8 are put in `bytes`.
        std::str::from_utf8(&self.bytes[off as usize..(off + len) as usize]).unwrap_or("")
    }
}

/// Codings as columns. Text columns hold label ids into `labels`, 0 for none.
#[derive(Debug, Default)]
pub struct CodingColumns {
    pub id: Vec<i64>,
    pub passage: Vec<u32>,
    pub document: Vec<u32>,
    pub code: Vec<u32>,
    pub start: Vec<i64>,
    pub end: Vec<i64>,
    pub coder: Vec<u32>,
    pub machine: Vec<bool>,
    pub rule: Vec<u32>,
    pub codebook: Vec<u32>,
    pub codebook_version: Vec<u32>,
    pub created_at: Vec<u32>,
    pub labels: Labels,
    /// The spans as stored, JSON after JSON: coding `i` has
    /// `spans_text[spans_end[i - 1]..spans_end[i]]`, empty for one span from
    /// start to end.
    spans_text: String,
    spans_end: Vec<usize>,
}

impl CodingColumns {
    fn with_capacity(n: usize) -> CodingColumns {
        use crate::memory::large_vec;
        CodingColumns {
            id: large_vec(n),
            passage: large_vec(n),
            document: large_vec(n),
            code: large_vec(n),
            start: large_vec(n),
            end: large_vec(n),
            coder: large_vec(n),
            machine: large_vec(n),
            rule: large_vec(n),
            codebook: large_vec(n),
            codebook_version: large_vec(n),
            created_at: large_vec(n),
            labels: Labels::default(),
            spans_text: String::new(),
            spans_end: large_vec(n),
        }
    }

    pub fn len(&self) -> usize {
        self.id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.id.is_empty()
    }

    /// The spans of coding `i` as JSON, `[[start,end],…]`.
    pub fn spans_json(&self, i: usize) -> String {
        let mut s = String::new();
        self.write_spans(i, &mut s);
        s
    }

    /// Append the spans of coding `i` as JSON to `out`.
    fn write_spans(&self, i: usize, out: &mut String) {
        let from = if i == 0 { 0 } else { self.spans_end[i - 1] };
        match &self.spans_text[from..self.spans_end[i]] {
            "" => self.write_one_span(i, out),
            stored => out.push_str(stored),
        }
    }

    /// Append, as JSON, the one span from coding `i`'s start to its end: what
    /// an empty range of the stored spans stands for.
    pub fn write_one_span(&self, i: usize, out: &mut String) {
        crate::table::push_spans_json(out, &[(self.start[i], self.end[i])]);
    }

    /// Takes the stored spans out: the JSON of the codings that store theirs,
    /// end to end, and each coding's end in it (a coding whose range is empty
    /// has one span, which [`CodingColumns::write_one_span`] writes). The
    /// columns hold no spans afterwards.
    pub fn take_spans(&mut self) -> (String, Vec<usize>) {
        (
            std::mem::take(&mut self.spans_text),
            std::mem::take(&mut self.spans_end),
        )
    }

    /// Append codings `range` of `other` (whose labels are ignored).
    fn append_range(&mut self, other: &CodingColumns, range: std::ops::Range<usize>) {
        if range.is_empty() {
            return;
        }
        let r = range.clone();
        self.id.extend_from_slice(&other.id[r.clone()]);
        self.passage.extend_from_slice(&other.passage[r.clone()]);
        self.document.extend_from_slice(&other.document[r.clone()]);
        self.code.extend_from_slice(&other.code[r.clone()]);
        self.start.extend_from_slice(&other.start[r.clone()]);
        self.end.extend_from_slice(&other.end[r.clone()]);
        self.coder.extend_from_slice(&other.coder[r.clone()]);
        self.machine.extend_from_slice(&other.machine[r.clone()]);
        self.rule.extend_from_slice(&other.rule[r.clone()]);
        self.codebook.extend_from_slice(&other.codebook[r.clone()]);
        self.codebook_version
            .extend_from_slice(&other.codebook_version[r.clone()]);
        self.created_at
            .extend_from_slice(&other.created_at[r.clone()]);
        let from = if r.start == 0 {
            0
        } else {
            other.spans_end[r.start - 1]
        };
        let to = other.spans_end[r.end - 1];
        let base = self.spans_text.len();
        self.spans_text.push_str(&other.spans_text[from..to]);
        self.spans_end
            .extend(other.spans_end[r].iter().map(|&e| e - from + base));
    }

    /// Append the codings of `other` (whose labels are ignored).
    fn append(&mut self, mut other: CodingColumns) {
        self.id.append(&mut other.id);
        self.passage.append(&mut other.passage);
        self.document.append(&mut other.document);
        self.code.append(&mut other.code);
        self.start.append(&mut other.start);
        self.end.append(&mut other.end);
        self.coder.append(&mut other.coder);
        self.machine.append(&mut other.machine);
        self.rule.append(&mut other.rule);
        self.codebook.append(&mut other.codebook);
        self.codebook_version.append(&mut other.codebook_version);
        self.created_at.append(&mut other.created_at);
        let shift = self.spans_text.len();
        self.spans_text.push_str(&other.spans_text);
        self.spans_end
            .extend(other.spans_end.iter().map(|&e| e + shift));
    }
}

/// The codings of `a` and `b` in id order; labels are not carried over. Both
/// are read in id order, so runs of either are copied whole; should one not be
/// sorted, every coding is sorted by id.
fn merge_by_id(a: CodingColumns, b: CodingColumns) -> CodingColumns {
    let sorted = |c: &CodingColumns| c.id.windows(2).all(|w| w[0] <= w[1]);
    if !(sorted(&a) && sorted(&b)) {
        let mut order: Vec<(i64, bool, u32)> = Vec::with_capacity(a.len() + b.len());
        order.extend(
            a.id.iter()
                .enumerate()
                .map(|(i, &id)| (id, false, i as u32)),
        );
        order.extend(b.id.iter().enumerate().map(|(i, &id)| (id, true, i as u32)));
        order.sort_unstable();
        let mut out = CodingColumns::with_capacity(order.len());
        for (_, from_b, i) in order {
            let from = if from_b { &b } else { &a };
            out.append_range(from, i as usize..i as usize + 1);
        }
        return out;
    }
    if b.is_empty() {
        return a;
    }
    if a.is_empty() {
        return b;
    }
    let mut out = CodingColumns::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        if a.id[i] <= b.id[j] {
            let to = i + a.id[i..].partition_point(|&id| id <= b.id[j]);
            out.append_range(&a, i..to);
            i = to;
        } else {
            let to = j + b.id[j..].partition_point(|&id| id < a.id[i]);
            out.append_range(&b, j..to);
            j = to;
        }
    }
    out.append_range(&a, i..a.len());
    out.append_range(&b, j..b.len());
    out
}

/// Below this many codings, reading them on a second thread costs more than it saves.
const PARALLEL_CODINGS: i64 = 100_000;

/// The parts of the id range that two threads share when reading codings.
const CODING_CHUNKS: i64 = 64;

/// The codings with ids in `lo..hi`, appended to `c`; `coder` filters as in
/// [`Store::coding_columns`].
fn read_codings(
    conn: &Connection,
    coder: Option<&str>,
    (lo, hi): (i64, i64),
    c: &mut CodingColumns,
) -> rusqlite::Result<()> {
    let mut rows = scan::Scan::new(
        conn,
        "SELECT id, passage, document, code, start, \"end\", spans, coder, machine, rule,
                codebook, codebook_version, created_at FROM codings
         WHERE id >= ?2 AND id < ?3
               AND (?1 IS NULL OR coder = (SELECT id FROM labels WHERE value = ?1)
                    OR (?1 = 'machine' AND machine = 1) OR (?1 = 'human' AND machine = 0))
         ORDER BY id",
    )?;
    rows.bind_text(1, coder)?;
    rows.bind_int(2, lo)?;
    rows.bind_int(3, hi)?;
    // Label ids are positive and below 2^32 (they are checked when labels are
    // read); anything else reads as 0, no label.
    let label = |v: i64| u32::try_from(v).unwrap_or(0);
    while rows.step()? {
        // Columns are read by position from the SELECT above.
        c.id.push(rows.int(0));
        c.passage.push(label(rows.int(1)));
        c.document.push(label(rows.int(2)));
        c.code.push(label(rows.int(3)));
        c.start.push(rows.int(4));
        c.end.push(rows.int(5));
        if let Some(t) = rows.text(6) {
            c.spans_text.push_str(&String::from_utf8_lossy(t));
        }
        c.spans_end.push(c.spans_text.len());
        c.coder.push(label(rows.int(7)));
        c.machine.push(rows.int(8) == 1);
        c.rule.push(label(rows.int(9)));
        c.codebook.push(label(rows.int(10)));
        c.codebook_version.push(label(rows.int(11)));
        c.created_at.push(label(rows.int(12)));
    }
    Ok(())
}

#[derive(Debug, Clone)]
pub struct MemoRow {
    pub id: i64,
    pub target_kind: String,
    pub target_id: String,
    pub author: String,
    pub text: String,
    pub created_at: String,
}

impl Store {
    fn err(&self, e: impl fmt::Display) -> StoreError {
        StoreError {
            path: self.path.clone(),
            message: e.to_string(),
        }
    }

    /// Open (creating if needed) the store at `path`.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        Self::open_with(path, checkpoint::wal_pages())
    }

    /// [`Store::open`], the log checkpointed by the helper thread after a commit
    /// that leaves `checkpoint_pages` pages or more in it.
    fn open_with(path: &Path, checkpoint_pages: i32) -> Result<Store, StoreError> {
        let mk = |e: rusqlite::Error| StoreError {
            path: path.to_path_buf(),
            message: e.to_string(),
        };
        let mut conn = Connection::open(path).map_err(mk)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(mk)?;
        let checkpointer = checkpoint::Checkpointer::install(&mut conn, checkpoint_pages).ok();
        // The page size takes effect only for a new file (before its first table);
        // an archive made with another one keeps it.
        conn.execute_batch(&format!(
            "PRAGMA page_size={PAGE_SIZE}; PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;
             PRAGMA foreign_keys=ON;"
        ))
        .map_err(mk)?;
        // Sorts that make an index anew (after a large ingest or machine-coding
        // run) may use a helper thread per core.
        let sorters = std::thread::available_parallelism().map_or(1, |n| n.get().min(4));
        conn.execute_batch(&format!("PRAGMA threads={sorters};"))
            .map_err(mk)?;
        let store = Store {
            conn,
            path: path.to_path_buf(),
            fields_cache: Default::default(),
            meta_cache: Default::default(),
            read_cache: Default::default(),
            helper: Default::default(),
            checkpointer,
        };
        store
            .conn
            .execute_batch(
                "CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value TEXT NOT NULL);",
            )
            .map_err(|e| store.err(e))?;
        match store.schema_version()? {
            None => {
                let tx = store
                    .conn
                    .unchecked_transaction()
                    .map_err(|e| store.err(e))?;
                tx.execute_batch(SCHEMA).map_err(|e| store.err(e))?;
                tx.execute_batch(CODINGS_INDEXES)
                    .map_err(|e| store.err(e))?;
                tx.execute_batch(PASSAGES_ID_INDEX)
                    .map_err(|e| store.err(e))?;
                tx.execute(
                    "INSERT OR IGNORE INTO state(key, value)
                     VALUES ('schema_version', ?1), ('generation', '0'), ('commits', '0'),
                            ('ranged_commits', '0'), ('documented_commits', '0')",
                    [SCHEMA_VERSION.to_string()],
                )
                .map_err(|e| store.err(e))?;
                tx.commit().map_err(|e| store.err(e))?;
            }
            Some(1) => {
                store.migrate_from_v1()?;
                store.migrate_to_v3()?;
                store.migrate_to_v4()?;
                store.migrate_to_v5()?;
                store.migrate_to_v6()?;
                store.migrate_to_v7()?;
                store.migrate_to_v8()?;
            }
            Some(2) => {
                store.migrate_to_v3()?;
                store.migrate_to_v4()?;
                store.migrate_to_v5()?;
                store.migrate_to_v6()?;
                store.migrate_to_v7()?;
                store.migrate_to_v8()?;
            }
            Some(3) => {
                store.migrate_to_v4()?;
                store.migrate_to_v5()?;
                store.migrate_to_v6()?;
                store.migrate_to_v7()?;
                store.migrate_to_v8()?;
            }
            Some(4) => {
                store.migrate_to_v5()?;
                store.migrate_to_v6()?;
                store.migrate_to_v7()?;
                store.migrate_to_v8()?;
            }
            Some(5) => {
                store.migrate_to_v6()?;
                store.migrate_to_v7()?;
                store.migrate_to_v8()?;
            }
            Some(6) => {
                store.migrate_to_v7()?;
                store.migrate_to_v8()?;
            }
            Some(7) => store.migrate_to_v8()?,
            Some(SCHEMA_VERSION) => {}
            Some(v) => {
                return Err(store.err(format!(
                "archive schema version {v} is not supported (this build reads {SCHEMA_VERSION})"
            )))
            }
        }
        Ok(store)
    }

    fn schema_version(&self) -> Result<Option<i64>, StoreError> {
        let v: Option<String> = self
            .conn
            .query_row(
                "SELECT value FROM state WHERE key='schema_version'",
                [],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.err(e))?;
        v.map(|v| {
            v.parse()
                .map_err(|_| self.err(format!("archive schema version {v:?} is not a number")))
        })
        .transpose()
    }

    /// Run one step of migration in an immediate transaction (a second process
    /// opening the archive meanwhile waits, then finds the newer version): `f`
    /// runs only while the archive is still at version `from`, and all it did is
    /// rolled back when it fails.
    fn migrate(
        &self,
        from: i64,
        f: impl FnOnce(&Connection) -> rusqlite::Result<()>,
    ) -> Result<(), StoreError> {
        let mk =
            |e: rusqlite::Error| self.err(format!("migrating from schema version {from}: {e}"));
        self.conn.execute_batch("BEGIN IMMEDIATE").map_err(mk)?;
        let result = match self.schema_version() {
            Ok(Some(v)) if v == from => f(&self.conn).map_err(mk),
            Ok(_) => Ok(()),
            Err(e) => Err(e),
        };
        match result {
            Ok(()) => self.conn.execute_batch("COMMIT").map_err(mk),
            Err(e) => {
                let _ = self.conn.execute_batch("ROLLBACK");
                Err(e)
            }
        }
    }

    /// Version 1 kept every text field of a coding in its row. Move those texts
    /// to `labels` and keep numbers in `codings`.
    fn migrate_from_v1(&self) -> Result<(), StoreError> {
        self.migrate(1, |c| {
            c.execute_batch(
                "ALTER TABLE codings RENAME TO codings_v1;
                 DROP INDEX IF EXISTS codings_by_passage;
                 DROP INDEX IF EXISTS codings_by_machine;",
            )?;
            c.execute_batch(SCHEMA)?;
            c.execute_batch(CODINGS_INDEXES)?;
            c.execute_batch(
                "INSERT OR IGNORE INTO labels(value)
                     SELECT passage_id FROM codings_v1 UNION SELECT document_id FROM codings_v1
                     UNION SELECT code_id FROM codings_v1 UNION SELECT coder FROM codings_v1
                     UNION SELECT created_at FROM codings_v1
                     UNION SELECT rule FROM codings_v1 WHERE rule IS NOT NULL
                     UNION SELECT codebook_id FROM codings_v1 WHERE codebook_id IS NOT NULL
                     UNION SELECT codebook_version FROM codings_v1 WHERE codebook_version IS NOT NULL;
                 INSERT INTO codings(id, passage, document, code, start, \"end\", spans, coder, machine,
                                     rule, codebook, codebook_version, created_at)
                     SELECT c.id,
                            (SELECT id FROM labels WHERE value = c.passage_id),
                            (SELECT id FROM labels WHERE value = c.document_id),
                            (SELECT id FROM labels WHERE value = c.code_id),
                            c.start, c.\"end\",
                            CASE WHEN c.spans = '[[' || c.start || ',' || c.\"end\" || ']]' THEN NULL
                                 ELSE c.spans END,
                            (SELECT id FROM labels WHERE value = c.coder),
                            c.machine,
                            (SELECT id FROM labels WHERE value = c.rule),
                            (SELECT id FROM labels WHERE value = c.codebook_id),
                            (SELECT id FROM labels WHERE value = c.codebook_version),
                            (SELECT id FROM labels WHERE value = c.created_at)
                     FROM codings_v1 c ORDER BY c.id;
                 DROP TABLE codings_v1;
                 UPDATE state SET value = '2' WHERE key = 'schema_version';",
            )
        })
    }

    /// Version 2 had no `commits` count; add it, from zero.
    fn migrate_to_v3(&self) -> Result<(), StoreError> {
        self.migrate(2, |c| {
            c.execute_batch(
                "INSERT OR IGNORE INTO state(key, value) VALUES ('commits', '0');
                 UPDATE state SET value = '3' WHERE key = 'schema_version';",
            )
        })
    }

    /// Version 3 made passage ids unique by a column constraint, whose index
    /// cannot be dropped. Copy the passages into a table without it and give
    /// them the named index instead. Foreign keys are off meanwhile (the copy
    /// keeps every row as it was; the pragma has no effect inside a transaction).
    fn migrate_to_v4(&self) -> Result<(), StoreError> {
        let mk = |e: rusqlite::Error| self.err(format!("migrating from schema version 3: {e}"));
        self.conn
            .execute_batch("PRAGMA foreign_keys=OFF;")
            .map_err(mk)?;
        let end = self.migrate(3, |c| {
            c.execute_batch(
                "ALTER TABLE passages RENAME TO passages_v3;
                 DROP INDEX IF EXISTS passages_by_document;",
            )?;
            c.execute_batch(SCHEMA)?;
            c.execute_batch(
                "INSERT INTO passages(rowid, id, document_id, ordinal, kind, speaker, speaker_role,
                                      section, start, \"end\", t_start_ms, t_end_ms, line, text)
                     SELECT rowid, id, document_id, ordinal, kind, speaker, speaker_role,
                            section, start, \"end\", t_start_ms, t_end_ms, line, text
                     FROM passages_v3 ORDER BY rowid;
                 DROP TABLE passages_v3;",
            )?;
            c.execute_batch(PASSAGES_ID_INDEX)?;
            c.execute_batch("UPDATE state SET value = '4' WHERE key = 'schema_version';")
        });
        self.conn
            .execute_batch("PRAGMA foreign_keys=ON;")
            .map_err(mk)?;
        end
    }

    /// Version 4 found a codebook's machine codings by an index on (machine,
    /// codebook). Record each codebook's id range instead and drop that index.
    fn migrate_to_v5(&self) -> Result<(), StoreError> {
        self.migrate(4, |c| {
            c.execute_batch(
                "CREATE TABLE IF NOT EXISTS machine_runs (
                     codebook INTEGER PRIMARY KEY,
                     first INTEGER NOT NULL,
                     last INTEGER NOT NULL
                 );
                 INSERT OR REPLACE INTO machine_runs(codebook, first, last)
                     SELECT codebook, min(id), max(id) FROM codings
                     WHERE machine = 1 AND codebook IS NOT NULL GROUP BY codebook;
                 DROP INDEX IF EXISTS codings_by_machine;
                 INSERT OR REPLACE INTO state(key, value)
                     SELECT 'ranged_commits', value FROM state WHERE key = 'commits';
                 UPDATE state SET value = '5' WHERE key = 'schema_version';",
            )
        })
    }

    /// Version 5 kept every coding in the passage index. Keep human codings only.
    fn migrate_to_v6(&self) -> Result<(), StoreError> {
        self.migrate(5, |c| {
            c.execute_batch("DROP INDEX IF EXISTS codings_by_passage;")?;
            c.execute_batch(CODINGS_INDEXES)?;
            c.execute_batch("UPDATE state SET value = '6' WHERE key = 'schema_version';")
        })
    }

    /// Version 6 had no ranges per document; runs made before have none (their
    /// whole range is read when one of their documents is re-ingested).
    fn migrate_to_v7(&self) -> Result<(), StoreError> {
        self.migrate(6, |c| {
            // Makes the new table (everything in the schema is made only if missing).
            c.execute_batch(SCHEMA)?;
            c.execute_batch(
                "INSERT OR REPLACE INTO state(key, value)
                     SELECT 'documented_commits', value FROM state WHERE key = 'commits';
                 UPDATE state SET value = '7' WHERE key = 'schema_version';",
            )
        })
    }

    /// Version 7 kept every machine coding in `codings`. Add `machine_blocks`;
    /// the rows stay until their codebook runs again.
    fn migrate_to_v8(&self) -> Result<(), StoreError> {
        self.migrate(7, |c| {
            c.execute_batch(SCHEMA)?;
            c.execute_batch("UPDATE state SET value = '8' WHERE key = 'schema_version';")
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the unique index of passage ids is in place. It is missing only
    /// while a large ingest runs, or after one was interrupted.
    pub fn has_passage_id_index(&self) -> Result<bool, StoreError> {
        self.conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = 'passages_by_id'",
                [],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n > 0)
            .map_err(|e| self.err(e))
    }

    /// Drop the unique index of passage ids before a large ingest. Until
    /// [`Store::restore_passage_id_index`] runs, writes do not check passage ids
    /// for uniqueness and a lookup by passage id scans the table; the caller holds
    /// the archive's write lock, and whoever opens the archive next under that
    /// lock restores the index if the ingest never did.
    pub fn drop_passage_id_index(&mut self) -> Result<(), StoreError> {
        let path = self.path.clone();
        let mk = |e: rusqlite::Error| StoreError {
            path: path.clone(),
            message: e.to_string(),
        };
        let tx = self.conn.transaction().map_err(mk)?;
        tx.execute_batch("DROP INDEX IF EXISTS passages_by_id;")
            .map_err(mk)?;
        commit(tx).map_err(mk)
    }

    /// Create the unique index of passage ids again, by one sort of the table. A
    /// passage whose id an earlier stored passage already has (two 64-bit hashes
    /// that agree) cannot stay: its whole document is removed, as a row-by-row
    /// insert would have refused it, and reported. Returns the removed documents
    /// and, when there were any, the new store generation.
    pub fn restore_passage_id_index(
        &mut self,
    ) -> Result<(Vec<Collision>, Option<u64>), StoreError> {
        let path = self.path.clone();
        let mk = |e: rusqlite::Error| StoreError {
            path: path.clone(),
            message: format!("making the passage id index: {e}"),
        };
        if self.has_passage_id_index()? {
            return Ok((Vec::new(), None));
        }
        let tx = self.conn.transaction().map_err(mk)?;
        let mut removed: Vec<Collision> = Vec::new();
        let mut generation = None;
        if let Err(e) = tx.execute_batch(PASSAGES_ID_INDEX) {
            let unique = matches!(
                e.sqlite_error_code(),
                Some(rusqlite::ErrorCode::ConstraintViolation)
            );
            if !unique {
                return Err(mk(e));
            }
            // Later copies of a duplicated id, with their documents; the first
            // stored copy stays.
            let later: Vec<(String, String, String, i64)> = {
                let mut stmt = tx
                    .prepare(
                        "SELECT p.id, p.document_id, d.key,
                                (SELECT count(*) FROM passages q WHERE q.document_id = p.document_id)
                         FROM passages p JOIN documents d ON d.id = p.document_id
                         WHERE p.id IN (SELECT id FROM passages GROUP BY id HAVING count(*) > 1)
                           AND p.rowid > (SELECT min(rowid) FROM passages f WHERE f.id = p.id)
                         ORDER BY p.rowid",
                    )
                    .map_err(mk)?;
                let rows = stmt
                    .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
                    .map_err(mk)?;
                rows.collect::<rusqlite::Result<_>>().map_err(mk)?
            };
            for (passage_id, document_id, key, n) in later {
                if removed.iter().any(|c| c.document_id == document_id) {
                    continue;
                }
                tx.execute("DELETE FROM documents WHERE id = ?1", [&document_id])
                    .map_err(mk)?;
                removed.push(Collision {
                    document_id,
                    key,
                    passage_id,
                    passages: n as u64,
                });
            }
            tx.execute_batch(PASSAGES_ID_INDEX).map_err(mk)?;
            generation = Some(bump_generation(&tx).map_err(mk)?);
        }
        commit(tx).map_err(mk)?;
        Ok((removed, generation))
    }

    /// The number of committed write transactions.
    pub fn generation(&self) -> Result<u64, StoreError> {
        // Cached: every search asks, and parsing the statement cost more than
        // running it.
        let v: String = self
            .conn
            .prepare_cached("SELECT value FROM state WHERE key='generation'")
            .and_then(|mut s| s.query_row([], |r| r.get(0)))
            .map_err(|e| self.err(e))?;
        v.parse().map_err(|e| self.err(e))
    }

    /// The id and content hash of the document stored under `key`, if any.
    pub fn document_hash(&self, key: &str) -> Result<Option<(String, String)>, StoreError> {
        self.conn
            .query_row(
                "SELECT id, content_hash FROM documents WHERE key=?1",
                [key],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// Write a batch of documents (replacing any with the same key) in one
    /// transaction. Returns the new generation and the passage rowids per document.
    pub fn write_batch(
        &mut self,
        docs: &[NewDocument],
    ) -> Result<(u64, Vec<Vec<i64>>), StoreError> {
        let path = self.path.clone();
        let mk = |e: rusqlite::Error| StoreError {
            path: path.clone(),
            message: e.to_string(),
        };
        // Passage ids are hashes: with their unique index in place, each new
        // passage lands on another leaf page of it, and in SQLite's default 2 MB
        // page cache nearly every insert pushed a dirty page out to the WAL
        // (3.6 GB written to the WAL for 100 MB of proceedings). Such a batch
        // gets a cache that holds the index; a bulk ingest has dropped it, and
        // its batches and the sort that makes it again keep the default.
        let large_cache = self.has_passage_id_index()?;
        if large_cache {
            self.conn
                .execute_batch(&format!("PRAGMA cache_size = -{BATCH_CACHE_KIB}"))
                .map_err(mk)?;
        } else if self
            .read_cache
            .swap(false, std::sync::atomic::Ordering::Relaxed)
        {
            // A bulk ingest's batches keep the default, reads before or not.
            self.conn
                .execute_batch("PRAGMA cache_size = -2000")
                .map_err(mk)?;
        }
        let written = (|| {
            let tx = self.conn.transaction()?;
            let mut rowids = Vec::with_capacity(docs.len());
            let mut moves = Moves::default();
            for d in docs {
                rowids.push(write_document(&tx, d, &mut moves)?);
            }
            rebase_machine_codings(&tx, &moves)?;
            let generation = bump_generation(&tx)?;
            commit(tx)?;
            Ok((generation, rowids))
        })()
        .map_err(mk);
        if large_cache {
            // The pages beyond the default are freed; a read raises it again.
            let reset = self.conn.execute_batch("PRAGMA cache_size = -2000");
            self.read_cache
                .store(false, std::sync::atomic::Ordering::Relaxed);
            if written.is_ok() {
                reset.map_err(mk)?;
            }
        }
        written
    }

    /// Delete documents by id in one transaction; returns the new generation.
    pub fn delete_documents(&mut self, ids: &[String]) -> Result<u64, StoreError> {
        let path = self.path.clone();
        let mk = |e: rusqlite::Error| StoreError {
            path: path.clone(),
            message: e.to_string(),
        };
        let tx = self.conn.transaction().map_err(mk)?;
        for id in ids {
            tx.execute("DELETE FROM documents WHERE id=?1", [id])
                .map_err(mk)?;
        }
        let g = bump_generation(&tx).map_err(mk)?;
        commit(tx).map_err(mk)?;
        Ok(g)
    }

    /// Number of documents and passages.
    pub fn counts(&self) -> Result<(u64, u64), StoreError> {
        let d: i64 = self
            .conn
            .query_row("SELECT count(*) FROM documents", [], |r| r.get(0))
            .map_err(|e| self.err(e))?;
        let p: i64 = self
            .conn
            .query_row("SELECT count(*) FROM passages", [], |r| r.get(0))
            .map_err(|e| self.err(e))?;
        Ok((d as u64, p as u64))
    }

    pub fn documents(&self) -> Result<Vec<DocumentRow>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT d.id, d.key, d.source_path, d.format, d.encoding,
                        (SELECT count(*) FROM passages p WHERE p.document_id = d.id), d.n_chars, d.ingested_at
                 FROM documents d ORDER BY d.key",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok(DocumentRow {
                    id: r.get(0)?,
                    key: r.get(1)?,
                    source_path: r.get(2)?,
                    format: r.get(3)?,
                    encoding: r.get(4)?,
                    n_passages: r.get(5)?,
                    n_chars: r.get(6)?,
                    ingested_at: r.get(7)?,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// The full text of a document.
    pub fn document_text(&self, id: &str) -> Result<Option<String>, StoreError> {
        self.conn
            .query_row("SELECT text FROM documents WHERE id=?1", [id], |r| r.get(0))
            .optional()
            .map_err(|e| self.err(e))
    }

    /// All metadata, as document id -> field -> value.
    pub fn metadata(&self) -> Result<BTreeMap<String, BTreeMap<String, String>>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT document_id, field, value FROM document_meta")
            .map_err(|e| self.err(e))?;
        let mut out: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                ))
            })
            .map_err(|e| self.err(e))?;
        for row in rows {
            let (d, f, v) = row.map_err(|e| self.err(e))?;
            out.entry(d).or_default().insert(f, v);
        }
        Ok(out)
    }

    /// Metadata of the given documents only, as document id -> field -> value.
    pub fn metadata_of<'a>(
        &self,
        ids: impl IntoIterator<Item = &'a str>,
    ) -> Result<BTreeMap<String, BTreeMap<String, String>>, StoreError> {
        let mut ids: Vec<&str> = ids.into_iter().collect();
        ids.sort_unstable();
        ids.dedup();
        // Past a few hundred documents one scan of the table is cheaper.
        if ids.len() > 256 {
            let mut all = self.metadata()?;
            all.retain(|k, _| ids.binary_search(&k.as_str()).is_ok());
            return Ok(all);
        }
        // Documents met before in this generation of the store are taken from
        // the cache; the others are read, and kept (those without metadata as
        // such). Metadata changes only with documents, which bump the generation.
        let generation = self.generation()?;
        let mut cache = self.meta_cache.lock().unwrap_or_else(|p| p.into_inner());
        if cache.0 != Some(generation) || cache.1.len() > META_CACHE_DOCUMENTS {
            *cache = (Some(generation), HashMap::new());
        }
        let missing: Vec<&str> = ids
            .iter()
            .copied()
            .filter(|id| !cache.1.contains_key(*id))
            .collect();
        let mut read = self.read_metadata_of(&missing)?;
        for id in missing {
            let meta = read.remove(id).unwrap_or_default();
            cache.1.insert(id.to_string(), meta);
        }
        Ok(ids
            .iter()
            .filter_map(|&id| {
                let meta = cache.1.get(id)?;
                (!meta.is_empty()).then(|| (id.to_string(), meta.clone()))
            })
            .collect())
    }

    /// [`Store::metadata_of`] from the table, for at most a few hundred
    /// documents, `ids` sorted and distinct.
    fn read_metadata_of(
        &self,
        ids: &[&str],
    ) -> Result<BTreeMap<String, BTreeMap<String, String>>, StoreError> {
        // One statement per `METADATA_IDS` documents (a search's page of hits
        // needs one), where a statement per document cost a read of the table's
        // root each; every statement has the same number of ids, the last ones
        // repeated, so that one cached statement serves every call.
        let sql = format!(
            "SELECT document_id, field, value FROM document_meta WHERE document_id IN ({})",
            vec!["?"; METADATA_IDS].join(",")
        );
        let mut stmt = self.conn.prepare_cached(&sql).map_err(|e| self.err(e))?;
        let mut out: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        for chunk in ids.chunks(METADATA_IDS) {
            let last = chunk[chunk.len() - 1];
            let params = (0..METADATA_IDS).map(|i| chunk.get(i).copied().unwrap_or(last));
            let rows = stmt
                .query_map(rusqlite::params_from_iter(params), |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                    ))
                })
                .map_err(|e| self.err(e))?;
            for row in rows {
                let (d, f, v) = row.map_err(|e| self.err(e))?;
                out.entry(d).or_default().insert(f, v);
            }
        }
        Ok(out)
    }

    /// Names of all metadata fields in use, sorted. Cached per store generation.
    pub fn metadata_fields(&self) -> Result<Vec<String>, StoreError> {
        let generation = self.generation()?;
        let mut cache = self
            .fields_cache
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some((g, fields)) = cache.as_ref() {
            if *g == generation {
                return Ok(fields.clone());
            }
        }
        let mut stmt = self
            .conn
            .prepare("SELECT DISTINCT field FROM document_meta ORDER BY field")
            .map_err(|e| self.err(e))?;
        let rows = stmt.query_map([], |r| r.get(0)).map_err(|e| self.err(e))?;
        let fields: Vec<String> = rows.collect::<Result<_, _>>().map_err(|e| self.err(e))?;
        *cache = Some((generation, fields.clone()));
        Ok(fields)
    }

    const PASSAGE_COLUMNS: &'static str =
        "p.rowid, p.id, p.document_id, d.key, p.ordinal, p.kind, p.speaker,
        p.speaker_role, p.section, p.start, p.\"end\", p.t_start_ms, p.t_end_ms, p.line, p.text";

    fn passage_row(r: &rusqlite::Row) -> rusqlite::Result<PassageRow> {
        Ok(PassageRow {
            rowid: r.get(0)?,
            id: r.get(1)?,
            document_id: r.get(2)?,
            document: r.get(3)?,
            ordinal: r.get(4)?,
            kind: r.get(5)?,
            speaker: r.get(6)?,
            speaker_role: r.get(7)?,
            section: r.get(8)?,
            start: r.get(9)?,
            end: r.get(10)?,
            t_start_ms: r.get(11)?,
            t_end_ms: r.get(12)?,
            line: r.get(13)?,
            text: r.get(14)?,
        })
    }

    /// Visit every passage in document order (for reindexing and tables), in
    /// chunks so that memory stays bounded.
    /// `f` returns `Ok(false)` to stop early.
    pub fn for_each_passage(
        &self,
        mut f: impl FnMut(PassageRow) -> Result<bool, StoreError>,
    ) -> Result<(), StoreError> {
        let sql = format!(
            "SELECT {} FROM passages p JOIN documents d ON d.id = p.document_id
             WHERE p.rowid > ?1 ORDER BY p.rowid LIMIT 10000",
            Self::PASSAGE_COLUMNS
        );
        let mut stmt = self.conn.prepare(&sql).map_err(|e| self.err(e))?;
        let mut last = 0i64;
        loop {
            let rows: Vec<PassageRow> = stmt
                .query_map([last], Self::passage_row)
                .map_err(|e| self.err(e))?
                .collect::<Result<_, _>>()
                .map_err(|e| self.err(e))?;
            if rows.is_empty() {
                return Ok(());
            }
            last = rows.last().unwrap().rowid;
            for r in rows {
                if !f(r)? {
                    return Ok(());
                }
            }
        }
    }

    /// Visit every passage in rowid order as autocoding needs it: ids, bounds and
    /// text, and with `context` the fields that rules' `where` scopes test. The
    /// values are borrowed from the statement's current row (nothing is copied
    /// or allocated per passage); `f` returns `Ok(false)` to stop early.
    pub fn scan_passages(
        &self,
        context: bool,
        f: impl FnMut(PassageView<'_>) -> Result<bool, StoreError>,
    ) -> Result<(), StoreError> {
        scan_passages(&self.conn, &self.path, context, f)
    }

    /// A read-only connection of its own that scans passages as
    /// [`Store::scan_passages`] does, on any thread, while this store's
    /// connection writes (a machine-coding run reads the passages as it writes
    /// their codings). It sees what was committed when a scan starts. `None`
    /// when the archive is not in WAL mode (a file system without shared
    /// memory): there a reader would keep the writer from spilling its pages.
    pub fn passage_reader(&self) -> Result<Option<PassageReader>, StoreError> {
        let mode: String = self
            .conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .map_err(|e| self.err(e))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Ok(None);
        }
        Ok(Some(PassageReader {
            conn: self.open_helper().map_err(|e| self.err(e))?,
            path: self.path.clone(),
        }))
    }

    /// Set the journal mode of this store's connection (tests of what happens
    /// without WAL). The checkpoint thread is stopped first: leaving WAL needs
    /// the only connection to the file.
    #[cfg(test)]
    pub(crate) fn set_journal_mode(&self, mode: &str) {
        if let Some(c) = &self.checkpointer {
            c.stop();
        }
        let _: String = self
            .conn
            .query_row(&format!("PRAGMA journal_mode={mode}"), [], |r| r.get(0))
            .unwrap();
    }

    /// Run SQL on this store's connection (tests that damage an archive).
    #[cfg(test)]
    pub(crate) fn execute_for_test(&self, sql: &str) {
        self.conn.execute_batch(sql).unwrap();
    }

    /// Passages by rowid, in the order asked for (unknown rowids are skipped).
    pub fn passages_by_rowid(&self, rowids: &[i64]) -> Result<Vec<PassageRow>, StoreError> {
        let mut found = std::collections::HashMap::with_capacity(rowids.len());
        for chunk in rowids.chunks(500) {
            let placeholders = vec!["?"; chunk.len()].join(",");
            let sql = format!(
                "SELECT {} FROM passages p JOIN documents d ON d.id = p.document_id WHERE p.rowid IN ({placeholders})",
                Self::PASSAGE_COLUMNS
            );
            let mut stmt = self.conn.prepare_cached(&sql).map_err(|e| self.err(e))?;
            let rows = stmt
                .query_map(rusqlite::params_from_iter(chunk.iter()), Self::passage_row)
                .map_err(|e| self.err(e))?;
            for r in rows {
                let r = r.map_err(|e| self.err(e))?;
                found.insert(r.rowid, r);
            }
        }
        Ok(rowids.iter().filter_map(|r| found.remove(r)).collect())
    }
}

impl Store {
    /// Replace every machine coding made with codebook `id` (any version) by `rows`,
    /// and record this codebook version, in one transaction. Human codings are not
    /// touched: the statement only ever selects rows with machine = 1.
    pub fn replace_machine_codings(
        &mut self,
        codebook: (&str, &str, &str, &str),
        codings: &MachineCodings,
    ) -> Result<usize, StoreError> {
        let mut run = self.begin_machine_run(codebook)?;
        run.write(codings)?;
        run.finish()
    }

    /// [`Store::begin_machine_run`], writing a row of `codings` per coding as
    /// builds before schema version 8 did: for tests of the archives they wrote.
    #[cfg(test)]
    pub(crate) fn begin_machine_run_as_rows(
        &mut self,
        codebook: (&str, &str, &str, &str),
    ) -> Result<MachineRun<'_>, StoreError> {
        let mut run = self.begin_machine_run(codebook)?;
        run.as_rows = true;
        Ok(run)
    }

    /// Start replacing every machine coding made with codebook `codebook.0` (any
    /// version) and recording this version (id, version, name, source): the
    /// previous run's codings are deleted at once, the new ones come in batches
    /// ([`MachineRun::write`]), and nothing is visible to readers until
    /// [`MachineRun::finish`] commits; a run dropped unfinished leaves the
    /// archive as it was. Human codings are not touched: the statements only
    /// ever select rows with machine = 1.
    pub fn begin_machine_run(
        &mut self,
        codebook: (&str, &str, &str, &str),
    ) -> Result<MachineRun<'_>, StoreError> {
        let (id, version, name, source) = codebook;
        let path = self.path.clone();
        let mk = |e: rusqlite::Error| StoreError {
            path: path.clone(),
            message: e.to_string(),
        };
        let tx = self.conn.transaction().map_err(mk)?;
        tx.execute(
            "INSERT OR IGNORE INTO codebooks(id, version, name, source, first_used) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![id, version, name, source, now_iso()],
        )
        .map_err(mk)?;
        // A write by a build older than schema version 5 (one that had the archive
        // open before it was migrated) counts in `commits` but not in
        // `ranged_commits`, and may have written machine codings outside the
        // recorded ranges: then every codebook's range is made anew from one scan
        // of the table (as the migration to version 5 does). Likewise a write by
        // a build older than version 7 does not count in `documented_commits` and
        // may have moved a codebook's codings away from its documents' ranges:
        // those are forgotten (until each codebook's next run records them again).
        let (foreign, undocumented): (bool, bool) = tx
            .query_row(
                "SELECT c IS NOT coalesce((SELECT value FROM state WHERE key = 'ranged_commits'), ''),
                        c IS NOT coalesce((SELECT value FROM state WHERE key = 'documented_commits'), '')
                 FROM (SELECT coalesce((SELECT value FROM state WHERE key = 'commits'), '') AS c)",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(mk)?;
        if foreign {
            tx.execute_batch(
                "DELETE FROM machine_runs;
                 INSERT INTO machine_runs(codebook, first, last)
                     SELECT codebook, min(id), max(id) FROM codings
                     WHERE machine = 1 AND codebook IS NOT NULL GROUP BY codebook;
                 DROP INDEX IF EXISTS codings_by_machine;
                 INSERT OR REPLACE INTO state(key, value)
                     SELECT 'ranged_commits', value FROM state WHERE key = 'commits';",
            )
            .map_err(mk)?;
        }
        if foreign || undocumented {
            tx.execute_batch(
                "DELETE FROM machine_run_documents;
                 INSERT OR REPLACE INTO state(key, value)
                     SELECT 'documented_commits', value FROM state WHERE key = 'commits';",
            )
            .map_err(mk)?;
        }
        // A build of schema version 5 that had the archive open when it was
        // migrated makes its passage index of all codings again after a large
        // run (and counts its commits as this build does); each machine coding
        // would then cost an entry in it, so it goes (free when it is not there).
        tx.execute_batch("DROP INDEX IF EXISTS codings_by_passage;")
            .map_err(mk)?;
        let previous: Option<(i64, i64, i64)> = tx
            .query_row(
                "SELECT r.codebook, r.first, r.last FROM machine_runs r
                 WHERE r.codebook = (SELECT id FROM labels WHERE value = ?1)",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()
            .map_err(mk)?;
        // Every machine coding of this codebook lies in its recorded range; without
        // one (a codebook run for the first time, or ranges forgotten) the table
        // is scanned.
        let removed = match previous {
            Some((book, first, last)) => tx
                .execute(
                    "DELETE FROM codings WHERE id BETWEEN ?1 AND ?2 AND machine = 1 AND codebook = ?3",
                    params![first, last, book],
                )
                .map_err(mk)?,
            None => tx
                .execute(
                    "DELETE FROM codings WHERE machine = 1
                         AND codebook = (SELECT id FROM labels WHERE value = ?1)",
                    [id],
                )
                .map_err(mk)?,
        };
        let (book, book_version, now, known) = {
            let mut labels = LabelWriter::new(&tx).map_err(mk)?;
            (
                labels.id(id).map_err(mk)?,
                labels.id(version).map_err(mk)?,
                labels.id(&now_iso()).map_err(mk)?,
                labels.known,
            )
        };
        let in_blocks: i64 = tx
            .query_row(
                "SELECT coalesce(sum(n), 0) FROM machine_blocks WHERE codebook = ?1",
                [book],
                |r| r.get(0),
            )
            .map_err(mk)?;
        tx.execute("DELETE FROM machine_blocks WHERE codebook = ?1", [book])
            .map_err(mk)?;
        let next_id: i64 = tx
            .query_row(&format!("SELECT {NEXT_CODING_ID}"), [], |r| r.get(0))
            .map_err(mk)?;
        Ok(MachineRun {
            tx,
            path,
            removed: removed + in_blocks as usize,
            as_rows: false,
            next_id,
            block: Default::default(),
            block_of: None,
            book,
            book_version,
            now,
            known,
            rules: None,
            json: String::new(),
            range: None,
            documents: Default::default(),
            current: None,
            failed: false,
        })
    }
}

/// A read-only connection for scanning passages (see [`Store::passage_reader`]).
pub struct PassageReader {
    conn: Connection,
    path: PathBuf,
}

impl PassageReader {
    /// [`Store::scan_passages`] on this reader's connection.
    pub fn scan(
        &self,
        context: bool,
        f: impl FnMut(PassageView<'_>) -> Result<bool, StoreError>,
    ) -> Result<(), StoreError> {
        scan_passages(&self.conn, &self.path, context, f)
    }
}

fn scan_passages(
    conn: &Connection,
    path: &Path,
    context: bool,
    mut f: impl FnMut(PassageView<'_>) -> Result<bool, StoreError>,
) -> Result<(), StoreError> {
    let err = |e: &dyn fmt::Display| StoreError {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let sql = if context {
        "SELECT p.id, p.document_id, p.start, p.\"end\", p.text, p.kind, d.key,
                p.speaker, p.speaker_role
         FROM passages p JOIN documents d ON d.id = p.document_id ORDER BY p.rowid"
    } else {
        "SELECT id, document_id, start, \"end\", text FROM passages ORDER BY rowid"
    };
    let mut scan = scan::Scan::new(conn, sql).map_err(|e| err(&e))?;
    while scan.step().map_err(|e| err(&e))? {
        let text = |i: i32, what: &str| -> Result<Option<&str>, StoreError> {
            scan.text(i)
                .map(|t| {
                    crate::decode::utf8(t)
                        .map_err(|_| err(&format!("a passage's {what} is not valid utf-8")))
                })
                .transpose()
        };
        let id = text(0, "id")?.unwrap_or_default();
        let view = PassageView {
            id,
            document_id: text(1, "document id")?.unwrap_or_default(),
            start: scan.int(2),
            end: scan.int(3),
            text: text(4, "text")?.unwrap_or_default(),
            context: if context {
                Some(PassageContext {
                    kind: text(5, "kind")?.unwrap_or_default(),
                    document: text(6, "document key")?.unwrap_or_default(),
                    speaker: text(7, "speaker")?,
                    speaker_role: text(8, "speaker role")?,
                })
            } else {
                None
            },
        };
        if !f(view)? {
            break;
        }
    }
    Ok(())
}

/// A machine-coding run being written, in one transaction of the store's
/// connection (see [`Store::begin_machine_run`]). Batches come in the order
/// the passages are stored, as a run reads them, so that each document's
/// codings take one range of ids.
pub struct MachineRun<'s> {
    tx: Transaction<'s>,
    path: PathBuf,
    /// Codings of the previous run deleted.
    removed: usize,
    /// Label ids of the codebook, its version and the run's time.
    book: i64,
    book_version: i64,
    now: i64,
    /// Labels already looked up (coder, codes, rules, documents).
    known: rustc_hash::FxHashMap<String, i64>,
    /// By rule index: the label ids of its code and rule, once used. Every
    /// batch of a run names the same rules.
    rules: Option<Vec<Option<(i64, i64)>>>,
    json: String,
    /// The ids this run's codings take: consecutive, in one transaction; and
    /// those of each document's codings (by its label id). The document being
    /// written is `current`, added to `documents` when the next one starts.
    range: Option<(i64, i64)>,
    documents: rustc_hash::FxHashMap<i64, (i64, i64)>,
    current: Option<(i64, (i64, i64))>,
    /// A batch failed: part of it may be written, so the run cannot go on.
    failed: bool,
    /// Write a row of `codings` per coding, as builds before schema version 8
    /// did (for tests of archives those builds wrote).
    as_rows: bool,
    /// The id of the run's next coding in a block.
    next_id: i64,
    /// The block being filled, and the (document, coder) label ids it is of.
    block: blocks::BlockWriter,
    block_of: Option<(i64, i64)>,
}

impl MachineRun<'_> {
    fn err(&self, message: impl fmt::Display) -> StoreError {
        StoreError {
            path: self.path.clone(),
            message: message.to_string(),
        }
    }

    /// Refuse to go on after a failed batch, or when the transaction is gone
    /// (SQLite ends it by itself on some errors, a full disk for one).
    fn check_usable(&self) -> Result<(), StoreError> {
        if self.failed {
            return Err(self.err("a batch of this machine-coding run failed; the run cannot go on"));
        }
        if self.tx.is_autocommit() {
            return Err(self.err("the machine-coding run's transaction has ended"));
        }
        Ok(())
    }

    /// Add a batch of the run's codings. A batch that fails leaves the run
    /// unfinishable (both this and [`MachineRun::finish`] refuse from then
    /// on): drop it, and the archive stays as it was.
    pub fn write(&mut self, codings: &MachineCodings) -> Result<(), StoreError> {
        self.check_usable()?;
        let r = self.write_batch(codings);
        self.failed |= r.is_err();
        r
    }

    fn write_batch(&mut self, codings: &MachineCodings) -> Result<(), StoreError> {
        let rules = self
            .rules
            .get_or_insert_with(|| vec![None; codings.rules.len()]);
        if rules.len() != codings.rules.len() {
            let message = format!(
                "a batch of machine codings names {} rules, the run's first named {}",
                codings.rules.len(),
                rules.len()
            );
            return Err(self.err(message));
        }
        let mut rules = std::mem::take(rules);
        let mut known = std::mem::take(&mut self.known);
        let r = self.write_rows(codings, &mut rules, &mut known);
        self.rules = Some(rules);
        self.known = known;
        r.map_err(|e| match e {
            RowError::Sql(e) => self.err(e),
            RowError::Bad(what, i, n) => {
                self.err(format!("machine coding names {what} {i}, of {n}"))
            }
        })
    }

    fn write_rows(
        &mut self,
        codings: &MachineCodings,
        rules: &mut [Option<(i64, i64)>],
        known: &mut rustc_hash::FxHashMap<String, i64>,
    ) -> Result<(), RowError> {
        let mut labels = LabelWriter::new(&self.tx)?;
        std::mem::swap(&mut labels.known, known);
        let mut stmt = self.tx.prepare_cached(
            "INSERT INTO codings(passage, document, code, start, \"end\", spans, coder, machine, rule,
                                 codebook, codebook_version, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 1, ?8, ?9, ?10, ?11)",
        )?;
        let result = (|| {
            let coder = labels.id(&codings.coder)?;
            // Passage ids are hashes: looked up in passage order, each would land
            // on another page of the labels' index. In the order of the ids, the
            // lookups (and the inserts of new ones) walk the index once.
            // In a block, a passage whose id ingest made is kept as the id's
            // 64 bits and needs no label: a run of 100 MB would add 300,000.
            let mut keys = vec![blocks::PassageKey::Label(0); codings.passages.len()];
            let mut order: Vec<usize> = Vec::with_capacity(codings.passages.len());
            for (i, (id, _)) in codings.passages.iter().enumerate() {
                match blocks::passage_hash(id).filter(|_| !self.as_rows) {
                    Some(h) => keys[i] = blocks::PassageKey::Hash(h),
                    None => order.push(i),
                }
            }
            order.sort_unstable_by(|&a, &b| codings.passages[a].0.cmp(&codings.passages[b].0));
            for i in order {
                keys[i] = blocks::PassageKey::Label(labels.id_once(&codings.passages[i].0)?);
            }
            // What every row of the batch shares is bound once (SQLite keeps
            // bindings across executions); each row binds the rest.
            stmt.raw_bind_parameter(7, coder)?;
            stmt.raw_bind_parameter(9, self.book)?;
            stmt.raw_bind_parameter(10, self.book_version)?;
            stmt.raw_bind_parameter(11, self.now)?;
            let mut at = (u32::MAX, blocks::PassageKey::Label(0), 0);
            // The document of the passage before: the passages of a document
            // come one after another, and its label is looked up once for them.
            let mut last_document: Option<&str> = None;
            for r in &codings.rows {
                if r.passage != at.0 {
                    let (_, document) =
                        codings
                            .passages
                            .get(r.passage as usize)
                            .ok_or(RowError::Bad(
                                "passage",
                                r.passage as usize,
                                codings.passages.len(),
                            ))?;
                    let label = match last_document {
                        Some(d) if d == document => at.2,
                        _ => labels.id(document)?,
                    };
                    last_document = Some(document);
                    at = (r.passage, keys[r.passage as usize], label);
                }
                let slot = rules.get_mut(r.rule as usize).ok_or(RowError::Bad(
                    "rule",
                    r.rule as usize,
                    codings.rules.len(),
                ))?;
                let (code, rule) = match *slot {
                    Some(ids) => ids,
                    None => {
                        let (code, rule) = &codings.rules[r.rule as usize];
                        let ids = (labels.id(code)?, labels.id(rule)?);
                        *slot = Some(ids);
                        ids
                    }
                };
                let spans = codings
                    .spans
                    .get(r.spans.0..r.spans.1)
                    .ok_or(RowError::Bad(
                        "spans ending at",
                        r.spans.1,
                        codings.spans.len(),
                    ))?;
                if !self.as_rows {
                    if self.block_of != Some((at.2, coder)) || self.block.len() >= BLOCK_CODINGS {
                        flush_block(
                            &self.tx,
                            &mut self.block,
                            self.block_of,
                            (self.book, self.book_version, self.now),
                        )?;
                        self.block_of = Some((at.2, coder));
                    }
                    self.block.push(
                        self.next_id,
                        at.1,
                        Some(r.rule as usize),
                        (code, rule),
                        (r.start, r.end),
                        spans,
                    );
                    self.next_id += 1;
                    continue;
                }
                let blocks::PassageKey::Label(passage) = at.1 else {
                    unreachable!("a run written as rows labels every passage")
                };
                stmt.raw_bind_parameter(1, passage)?;
                stmt.raw_bind_parameter(2, at.2)?;
                stmt.raw_bind_parameter(3, code)?;
                stmt.raw_bind_parameter(4, r.start)?;
                stmt.raw_bind_parameter(5, r.end)?;
                // An empty range stands for the one span start..end.
                let spans = if spans.is_empty() {
                    None
                } else {
                    stored_spans_in(spans, r.start, r.end, &mut self.json)
                };
                stmt.raw_bind_parameter(6, spans)?;
                stmt.raw_bind_parameter(8, rule)?;
                stmt.raw_execute()?;
                // Normally each id is one more than the last; past the largest
                // rowid SQLite picks free ones at random, so keep the bounds.
                let rowid = self.tx.last_insert_rowid();
                self.range = Some(widen(self.range, (rowid, rowid)));
                // Rows come passage by passage: a document's range is added to the
                // map when the next document starts.
                match &mut self.current {
                    Some((doc, r)) if *doc == at.2 => *r = widen(Some(*r), (rowid, rowid)),
                    _ => {
                        if let Some((doc, r)) = self.current.replace((at.2, (rowid, rowid))) {
                            let known = self.documents.get(&doc).copied();
                            self.documents.insert(doc, widen(known, r));
                        }
                    }
                }
            }
            Ok(())
        })();
        std::mem::swap(&mut labels.known, known);
        result
    }

    /// Record the run's id ranges and commit; returns how many codings of the
    /// previous run were replaced.
    pub fn finish(mut self) -> Result<usize, StoreError> {
        self.check_usable()?;
        let path = self.path.clone();
        let mk = |e: rusqlite::Error| StoreError {
            path: path.clone(),
            message: e.to_string(),
        };
        flush_block(
            &self.tx,
            &mut self.block,
            self.block_of,
            (self.book, self.book_version, self.now),
        )
        .map_err(mk)?;

        if let Some((doc, r)) = self.current.take() {
            let known = self.documents.get(&doc).copied();
            self.documents.insert(doc, widen(known, r));
        }
        let book = self.book;
        self.tx
            .execute(
                "DELETE FROM machine_run_documents WHERE codebook = ?1",
                [book],
            )
            .map_err(mk)?;
        {
            let mut add = self
                .tx
                .prepare(
                    "INSERT OR REPLACE INTO machine_run_documents(document, codebook, first, last)
                     VALUES (?1, ?2, ?3, ?4)",
                )
                .map_err(mk)?;
            for (document, (first, last)) in &self.documents {
                add.execute(params![document, book, first, last])
                    .map_err(mk)?;
            }
        }
        match self.range {
            Some((first, last)) => self.tx.execute(
                "INSERT OR REPLACE INTO machine_runs(codebook, first, last) VALUES (?1, ?2, ?3)",
                params![book, first, last],
            ),
            None => self
                .tx
                .execute("DELETE FROM machine_runs WHERE codebook = ?1", [book]),
        }
        .map_err(mk)?;
        commit(self.tx).map_err(mk)?;
        Ok(self.removed)
    }
}

/// Write the block being filled, if it holds any coding, for the (document,
/// coder) `of`, with the run's (codebook, version, time) label ids.
fn flush_block(
    tx: &Transaction,
    block: &mut blocks::BlockWriter,
    of: Option<(i64, i64)>,
    (book, book_version, now): (i64, i64, i64),
) -> rusqlite::Result<()> {
    let Some((document, coder)) = of else {
        return Ok(());
    };
    if block.is_empty() {
        return Ok(());
    }
    let (first, last) = block.bounds();
    let n = block.len() as i64;
    let bytes = block.finish();
    tx.prepare_cached(
        "INSERT INTO machine_blocks(first, last, n, codebook, document, coder,
                                            codebook_version, created_at, codings)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![
        first,
        last,
        n,
        book,
        document,
        coder,
        book_version,
        now,
        bytes
    ])?;
    Ok(())
}

/// A block's bytes could not be read: what is wrong with them.
fn damaged(message: String) -> rusqlite::Error {
    rusqlite::Error::ToSqlConversionFailure(message.into())
}

/// Remove the machine coding `id` from the block that holds it; false when no
/// block does. A block left without codings goes.
fn remove_from_block(tx: &Transaction, id: i64) -> rusqlite::Result<bool> {
    // Blocks' ranges do not overlap: the one that may hold `id` is the last
    // to start at or before it.
    let block: Option<(i64, Vec<u8>)> = tx
        .query_row(
            "SELECT first, codings FROM machine_blocks
             WHERE first = (SELECT max(first) FROM machine_blocks WHERE first <= ?1) AND last >= ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let Some((first, bytes)) = block else {
        return Ok(false);
    };
    let mut entries = blocks::entries(first, &bytes).map_err(damaged)?;
    let Some(i) = entries.iter().position(|e| e.id == id) else {
        return Ok(false);
    };
    entries.remove(i);
    if entries.is_empty() {
        tx.execute("DELETE FROM machine_blocks WHERE first = ?1", [first])?;
    } else {
        tx.execute(
            "UPDATE machine_blocks SET n = ?2, codings = ?3 WHERE first = ?1",
            params![first, entries.len() as i64, blocks::encode(first, &entries)],
        )?;
    }
    Ok(true)
}

/// Why a row of a machine run could not be written.
enum RowError {
    Sql(rusqlite::Error),
    /// A coding names an entry its batch does not have: (what, index, entries).
    Bad(&'static str, usize, usize),
}

impl From<rusqlite::Error> for RowError {
    fn from(e: rusqlite::Error) -> Self {
        RowError::Sql(e)
    }
}

impl Store {
    /// Add one human coding; returns its id. Machine codings come only from a
    /// machine-coding run ([`Store::begin_machine_run`]), which records the id
    /// ranges it writes.
    pub fn add_coding(&mut self, c: &NewCoding) -> Result<i64, StoreError> {
        let path = self.path.clone();
        if c.machine {
            return Err(StoreError {
                path,
                message: "a machine coding is added by a codebook run, not one by one".into(),
            });
        }
        let mk = |e: rusqlite::Error| StoreError {
            path: path.clone(),
            message: e.to_string(),
        };
        let tx = self.conn.transaction().map_err(mk)?;
        {
            let mut labels = LabelWriter::new(&tx).map_err(mk)?;
            tx.execute(
                &format!(
                    "INSERT INTO codings(id, passage, document, code, start, \"end\", spans, coder,
                                         machine, rule, codebook, codebook_version, created_at)
                     VALUES ({NEXT_CODING_ID}, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, NULL, NULL, ?10)"
                ),
                params![
                    labels.id(&c.passage_id).map_err(mk)?,
                    labels.id(&c.document_id).map_err(mk)?,
                    labels.id(&c.code_id).map_err(mk)?,
                    c.start,
                    c.end,
                    stored_spans(&c.spans, c.start, c.end),
                    labels.id(&c.coder).map_err(mk)?,
                    false,
                    labels.opt(c.rule.as_deref()).map_err(mk)?,
                    labels.id(&now_iso()).map_err(mk)?
                ],
            )
            .map_err(mk)?;
        }
        let id = tx.last_insert_rowid();
        commit(tx).map_err(mk)?;
        Ok(id)
    }

    /// Add human codings in one transaction, skipping any that already exist
    /// (same passage, code, coder and span). Returns how many were added.
    pub fn add_codings(&mut self, rows: &[NewCoding]) -> Result<usize, StoreError> {
        let path = self.path.clone();
        let mk = |e: rusqlite::Error| StoreError {
            path: path.clone(),
            message: e.to_string(),
        };
        let tx = self.conn.transaction().map_err(mk)?;
        let mut added = 0;
        {
            let mut labels = LabelWriter::new(&tx).map_err(mk)?;
            let mut stmt = tx
                .prepare_cached(&format!(
                    "INSERT INTO codings(id, passage, document, code, start, \"end\", spans, coder,
                                         machine, rule, codebook, codebook_version, created_at)
                     SELECT {NEXT_CODING_ID}, ?1, ?2, ?3, ?4, ?5, ?6, ?7, 0, NULL, NULL, NULL, ?8
                     WHERE NOT EXISTS (SELECT 1 FROM codings WHERE passage = ?1 AND code = ?3 AND coder = ?7
                                       AND start = ?4 AND \"end\" = ?5 AND machine = 0)"
                ))
                .map_err(mk)?;
            let now = labels.id(&now_iso()).map_err(mk)?;
            for r in rows {
                added += stmt
                    .execute(params![
                        labels.id(&r.passage_id).map_err(mk)?,
                        labels.id(&r.document_id).map_err(mk)?,
                        labels.id(&r.code_id).map_err(mk)?,
                        r.start,
                        r.end,
                        stored_spans(&r.spans, r.start, r.end),
                        labels.id(&r.coder).map_err(mk)?,
                        now
                    ])
                    .map_err(mk)?;
            }
        }
        commit(tx).map_err(mk)?;
        Ok(added)
    }

    /// Remove a coding by id; returns whether it existed.
    pub fn remove_coding(&mut self, id: i64) -> Result<bool, StoreError> {
        let path = self.path.clone();
        let mk = |e: rusqlite::Error| StoreError {
            path: path.clone(),
            message: e.to_string(),
        };
        let tx = self.conn.transaction().map_err(mk)?;
        let n = tx
            .execute("DELETE FROM codings WHERE id = ?1", [id])
            .map_err(mk)?;
        let found = n > 0 || remove_from_block(&tx, id).map_err(mk)?;
        commit(tx).map_err(mk)?;
        Ok(found)
    }

    /// Every label, by id.
    fn labels(&self) -> Result<Labels, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT id, value FROM labels ORDER BY id")
            .map_err(|e| self.err(e))?;
        let mut rows = stmt.query([]).map_err(|e| self.err(e))?;
        let mut labels = Labels::default();
        while let Some(r) = rows.next().map_err(|e| self.err(e))? {
            let id: i64 = r.get(0).map_err(|e| self.err(e))?;
            let value = r.get_ref(1).map_err(|e| self.err(e))?;
            let text = value
                .as_str()
                .map_err(|e| self.err(format!("label {id}: {e}")))?;
            let id =
                u32::try_from(id).map_err(|_| self.err(format!("label id {id} out of range")))?;
            labels.put(id, text);
        }
        Ok(labels)
    }

    /// Every coding as columns, in id order; `coder` keeps only a coder's codings,
    /// or "machine" / "human" ones. Many codings are read on two threads, each
    /// with its own connection, when both see the same snapshot.
    pub fn coding_columns(&self, coder: Option<&str>) -> Result<CodingColumns, StoreError> {
        self.coding_columns_split(coder, PARALLEL_CODINGS)
    }

    /// [`Store::coding_columns`], on two threads from `split_from` codings on.
    fn coding_columns_split(
        &self,
        coder: Option<&str>,
        split_from: i64,
    ) -> Result<CodingColumns, StoreError> {
        self.read(|| {
            let (lo, hi, commits): (i64, i64, String) = self
                .conn
                .query_row(
                    // Separate subqueries: SQLite answers a lone min() or max()
                    // from the end of the table, both together by a full scan.
                    "SELECT coalesce((SELECT min(id) FROM codings), 0),
                            coalesce((SELECT max(id) FROM codings), -1) + 1,
                            (SELECT value FROM state WHERE key = 'commits')",
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .map_err(|e| self.err(e))?;
            let parallel = hi - lo >= split_from.max(2)
                && std::thread::available_parallelism().map_or(1, |n| n.get()) > 1;
            let parts = if parallel {
                self.read_codings_in_parts(coder, (lo, hi), &commits)?
            } else {
                None
            };
            let rows = match parts {
                Some(c) => c,
                None => {
                    // An upper bound on the row count, so that no column grows by copying.
                    let mut c = CodingColumns::with_capacity((hi - lo).clamp(0, 1 << 28) as usize);
                    read_codings(&self.conn, coder, (lo, hi), &mut c).map_err(|e| self.err(e))?;
                    c
                }
            };
            let (in_blocks, passages) = self.read_blocks(coder)?;
            let mut c = merge_by_id(rows, in_blocks);
            c.labels = self.labels()?;
            // The passages that blocks keep by their ids' bits take the label
            // ids after the store's, in the order `read_blocks` numbered them.
            let mut id = [0; 17];
            for h in passages {
                c.labels.push(blocks::passage_id_in(h, &mut id));
            }
            Ok(c)
        })
    }

    /// The codings with ids in `lo..hi`, read on two threads: this connection and
    /// another thread with the helper connection; `None` when the helper cannot
    /// be opened or does not see the snapshot of this connection's open read
    /// transaction, whose `commits` count is `commits`.
    ///
    /// The id range is cut into [`CODING_CHUNKS`] equal parts. This thread reads
    /// them from the front and the helper from the back until they meet, so the
    /// two share the work even where the ids have gaps (a rerun of a codebook
    /// deletes one block of ids and appends another at the end).
    fn read_codings_in_parts(
        &self,
        coder: Option<&str>,
        (lo, hi): (i64, i64),
        commits: &str,
    ) -> Result<Option<CodingColumns>, StoreError> {
        let mut slot = self
            .helper
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let helper = match slot.take() {
            Some(h) => h,
            None => match self.open_helper() {
                Ok(h) => h,
                Err(_) => return Ok(None),
            },
        };
        let seen: rusqlite::Result<String> = helper.execute_batch("BEGIN").and_then(|_| {
            helper.query_row("SELECT value FROM state WHERE key = 'commits'", [], |r| {
                r.get(0)
            })
        });
        if seen.as_deref().ok() != Some(commits) {
            // A write committed between the two reads began: read on one thread.
            let _ = helper.execute_batch("ROLLBACK");
            *slot = Some(helper);
            return Ok(None);
        }
        let chunks = CODING_CHUNKS.min(hi - lo) as usize;
        let bounds = |i: usize| {
            let at = |k: usize| lo + ((hi - lo) as i128 * k as i128 / chunks as i128) as i64;
            (at(i), at(i + 1))
        };
        // (next chunk from the front, one past the next chunk from the back)
        let left = std::sync::Mutex::new((0usize, chunks));
        let take = |front: bool| {
            let mut g = left.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            let (f, b) = &mut *g;
            (*f < *b).then(|| {
                if front {
                    *f += 1;
                    *f - 1
                } else {
                    *b -= 1;
                    *b
                }
            })
        };
        let (first, (helper, second)) = std::thread::scope(|s| {
            let other = s.spawn(|| {
                // Chunks from the back, last first.
                let mut parts = Vec::new();
                let r = (|| {
                    while let Some(i) = take(false) {
                        let (a, b) = bounds(i);
                        let mut c = CodingColumns::with_capacity((b - a) as usize);
                        read_codings(&helper, coder, (a, b), &mut c)?;
                        parts.push(c);
                    }
                    Ok(())
                })();
                let _ = helper.execute_batch("ROLLBACK");
                (helper, r.map(|()| parts))
            });
            let mut c = CodingColumns::with_capacity(((hi - lo).min(1 << 28)) as usize);
            let r = (|| {
                while let Some(i) = take(true) {
                    read_codings(&self.conn, coder, bounds(i), &mut c)?;
                }
                Ok(())
            })()
            .map(|()| c);
            (
                r,
                other
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
            )
        });
        *slot = Some(helper);
        let mut first: CodingColumns = first.map_err(|e: rusqlite::Error| self.err(e))?;
        let second: Vec<CodingColumns> = second.map_err(|e: rusqlite::Error| self.err(e))?;
        for part in second.into_iter().rev() {
            first.append(part);
        }
        Ok(Some(first))
    }

    /// The machine codings kept in blocks, in id order; `coder` filters as in
    /// [`Store::coding_columns`]. A passage kept by its id's bits gets a label id
    /// above the store's highest, in the order of the list returned with the
    /// codings (the caller adds their texts to the labels).
    fn read_blocks(&self, coder: Option<&str>) -> Result<(CodingColumns, Vec<u64>), StoreError> {
        let err = |e: &dyn fmt::Display| self.err(e);
        let n: i64 = self
            .conn
            .query_row("SELECT coalesce(sum(n), 0) FROM machine_blocks", [], |r| {
                r.get(0)
            })
            .map_err(|e| err(&e))?;
        let mut c = CodingColumns::with_capacity(n.clamp(0, 1 << 28) as usize);
        let mut hashes = Vec::new();
        if n == 0 {
            return Ok((c, hashes));
        }
        let base: i64 = self
            .conn
            .query_row("SELECT coalesce(max(id), 0) + 1 FROM labels", [], |r| {
                r.get(0)
            })
            .map_err(|e| err(&e))?;
        let base = u32::try_from(base).map_err(|_| err(&"label ids out of range"))?;
        let mut numbered: rustc_hash::FxHashMap<u64, u32> = Default::default();
        // By slot of the block being read: its passages' label ids.
        let slots: std::cell::RefCell<Vec<u32>> = Default::default();
        let mut rows = scan::Scan::new(
            &self.conn,
            "SELECT first, document, coder, codebook, codebook_version, created_at, codings
             FROM machine_blocks
             WHERE ?1 IS NULL OR ?1 = 'machine' OR coder = (SELECT id FROM labels WHERE value = ?1)
             ORDER BY first",
        )
        .map_err(|e| err(&e))?;
        rows.bind_text(1, coder).map_err(|e| err(&e))?;
        let label = |v: i64| u32::try_from(v).unwrap_or(0);
        while rows.step().map_err(|e| err(&e))? {
            let first = rows.int(0);
            let (document, coder, book, version, at) = (
                label(rows.int(1)),
                label(rows.int(2)),
                label(rows.int(3)),
                label(rows.int(4)),
                label(rows.int(5)),
            );
            let table = |keys: &[blocks::PassageKey]| {
                let mut slots = slots.borrow_mut();
                slots.clear();
                slots.extend(keys.iter().map(|k| match *k {
                    blocks::PassageKey::Label(l) => label(l),
                    blocks::PassageKey::Hash(h) => *numbered.entry(h).or_insert_with(|| {
                        hashes.push(h);
                        base.saturating_add(hashes.len() as u32 - 1)
                    }),
                }));
            };
            let slots = &slots;
            blocks::decode_with_table(first, rows.blob(6), table, |e| {
                c.id.push(e.id);
                c.passage.push(match e.passage {
                    blocks::PassageKey::Label(l) => label(l),
                    blocks::PassageKey::Hash(_) => slots.borrow()[e.slot],
                });
                c.document.push(document);
                c.code.push(label(e.code));
                c.start.push(e.start);
                c.end.push(e.end);
                if !e.spans.is_empty() {
                    crate::table::push_spans_json(&mut c.spans_text, e.spans);
                }
                c.spans_end.push(c.spans_text.len());
                c.coder.push(coder);
                c.machine.push(true);
                c.rule.push(label(e.rule));
                c.codebook.push(book);
                c.codebook_version.push(version);
                c.created_at.push(at);
            })
            .map_err(|e| err(&e))?;
        }
        Ok((c, hashes))
    }

    fn open_helper(&self) -> rusqlite::Result<Connection> {
        use rusqlite::OpenFlags;
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        Ok(conn)
    }

    /// Run `f` in one read transaction, so that everything it reads through this
    /// store comes from one snapshot. Inside a transaction already open, `f` just
    /// runs.
    pub fn read<T, E: From<StoreError>>(&self, f: impl FnOnce() -> Result<T, E>) -> Result<T, E> {
        if !self.conn.is_autocommit() {
            return f();
        }
        if !self
            .read_cache
            .swap(true, std::sync::atomic::Ordering::Relaxed)
        {
            self.conn
                .execute_batch(&format!("PRAGMA cache_size = -{READ_CACHE_KIB}"))
                .map_err(|e| E::from(self.err(e)))?;
        }
        // Cached statements: a search begins and ends one of these.
        let run = |sql: &str| {
            self.conn
                .prepare_cached(sql)
                .and_then(|mut s| s.execute([]))
                .map(|_| ())
        };
        run("BEGIN").map_err(|e| E::from(self.err(e)))?;
        let result = f();
        // The transaction only read: ending it either way loses nothing.
        let end = run("COMMIT");
        if end.is_err() {
            let _ = self.conn.execute_batch("ROLLBACK");
        }
        let value = result?;
        end.map_err(|e| E::from(self.err(e)))?;
        Ok(value)
    }

    /// Every coding as rows, in id order; `coder` filters as in
    /// [`Store::coding_columns`].
    pub fn codings(&self, coder: Option<&str>) -> Result<Vec<CodingRow>, StoreError> {
        let c = self.coding_columns(coder)?;
        let l = &c.labels;
        let opt = |id: u32| (id != 0).then(|| l.get(id).to_string());
        Ok((0..c.id.len())
            .map(|i| CodingRow {
                id: c.id[i],
                passage_id: l.get(c.passage[i]).to_string(),
                document_id: l.get(c.document[i]).to_string(),
                code_id: l.get(c.code[i]).to_string(),
                start: c.start[i],
                end: c.end[i],
                spans: c.spans_json(i),
                coder: l.get(c.coder[i]).to_string(),
                machine: c.machine[i],
                rule: opt(c.rule[i]),
                codebook_id: opt(c.codebook[i]),
                codebook_version: opt(c.codebook_version[i]),
                created_at: l.get(c.created_at[i]).to_string(),
            })
            .collect())
    }

    /// Codebook versions that produced codings: (id, version, name, first used).
    pub fn codebook_versions(&self) -> Result<Vec<(String, String, String, String)>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT id, version, name, first_used FROM codebooks ORDER BY id, first_used")
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// A passage by id: (document id, start, end).
    pub fn passage_bounds(&self, id: &str) -> Result<Option<(String, i64, i64)>, StoreError> {
        self.conn
            .query_row(
                "SELECT document_id, start, \"end\" FROM passages WHERE id = ?1",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    pub fn add_memo(
        &mut self,
        kind: &str,
        target: &str,
        author: &str,
        text: &str,
    ) -> Result<i64, StoreError> {
        let path = self.path.clone();
        let mk = |e: rusqlite::Error| StoreError {
            path: path.clone(),
            message: e.to_string(),
        };
        let tx = self.conn.transaction().map_err(mk)?;
        tx.execute(
            "INSERT INTO memos(target_kind, target_id, author, text, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![kind, target, author, text, now_iso()],
        )
        .map_err(mk)?;
        let id = tx.last_insert_rowid();
        commit(tx).map_err(mk)?;
        Ok(id)
    }

    pub fn memos(&self) -> Result<Vec<MemoRow>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT id, target_kind, target_id, author, text, created_at FROM memos ORDER BY id")
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok(MemoRow {
                    id: r.get(0)?,
                    target_kind: r.get(1)?,
                    target_id: r.get(2)?,
                    author: r.get(3)?,
                    text: r.get(4)?,
                    created_at: r.get(5)?,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }
}

/// Passages of a batch's documents that moved: by passage label id (those that
/// have one) and by the bits of their ids (those that ingest made), how far
/// and the index of their document (in [`Moves::documents`]), so that the
/// machine codings on them are shifted in one pass after the batch.
#[derive(Default)]
struct Moves {
    by_passage: rustc_hash::FxHashMap<i64, (i64, usize)>,
    by_hash: rustc_hash::FxHashMap<u64, (i64, usize)>,
    documents: Vec<String>,
}

/// Shift a coding's offsets by `delta` and point it at `document`.
fn shift_coding(
    update: &mut rusqlite::CachedStatement,
    (id, start, end, spans): (i64, i64, i64, Option<String>),
    delta: i64,
    document: i64,
) -> rusqlite::Result<()> {
    // A coding whose one span is its start..end stores no spans; it moves as one.
    let spans = spans.map(|s| {
        let spans: Vec<(i64, i64)> = serde_json::from_str(&s).unwrap_or_default();
        let spans: Vec<(i64, i64)> = spans
            .into_iter()
            .map(|(a, b)| (a + delta, b + delta))
            .collect();
        serde_json::to_string(&spans).unwrap_or_default()
    });
    update.execute(params![id, start + delta, end + delta, spans, document])?;
    Ok(())
}

const SHIFT_CODING: &str =
    "UPDATE codings SET start = ?2, \"end\" = ?3, spans = ?4, document = ?5 WHERE id = ?1";

/// Shift the offsets of codings on passages that exist in both the old and the new
/// version of a document by how far the passage moved. Codings on passages that no
/// longer exist are kept as they are (their passage id no longer resolves).
/// Human codings are shifted here, found by their passage index; the moves are
/// added to `moves` for the machine codings (see [`rebase_machine_codings`]).
fn rebase_codings(
    tx: &Transaction,
    d: &NewDocument,
    old_starts: &std::collections::HashMap<String, i64>,
    moves: &mut Moves,
) -> rusqlite::Result<()> {
    let mut passage = tx.prepare_cached("SELECT id FROM labels WHERE value = ?1")?;
    let mut select = tx.prepare_cached(
        "SELECT id, start, \"end\", spans FROM codings WHERE passage = ?1 AND machine = 0",
    )?;
    let mut update = tx.prepare_cached(SHIFT_CODING)?;
    let mut labels = LabelWriter::new(tx)?;
    for p in &d.passages {
        let Some(old) = old_starts.get(&p.id) else {
            continue;
        };
        let delta = p.start as i64 - old;
        if delta == 0 {
            continue;
        }
        if moves.documents.last() != Some(&d.id) {
            moves.documents.push(d.id.clone());
        }
        // The same document twice in a batch moves a passage twice.
        let doc = moves.documents.len() - 1;
        // Blocks keep a passage whose id ingest made by the id's bits.
        if let Some(h) = blocks::passage_hash(&p.id) {
            moves
                .by_hash
                .entry(h)
                .and_modify(|m| *m = (m.0 + delta, doc))
                .or_insert((delta, doc));
        }
        // A passage that no person coded (nor a run written as rows) has no label.
        let Some(label) = passage
            .query_row([&p.id], |r| r.get::<_, i64>(0))
            .optional()?
        else {
            continue;
        };
        moves
            .by_passage
            .entry(label)
            .and_modify(|m| *m = (m.0 + delta, doc))
            .or_insert((delta, doc));
        let rows: Vec<(i64, i64, i64, Option<String>)> = select
            .query_map([label], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })?
            .collect::<rusqlite::Result<_>>()?;
        if rows.is_empty() {
            continue;
        }
        let document = labels.id(&d.id)?;
        for row in rows {
            shift_coding(&mut update, row, delta, document)?;
        }
    }
    Ok(())
}

/// Shift the machine codings on the passages in `moves`. They are not in the
/// passage index (which holds human codings only, so that machine-coding runs of
/// millions of rows do not have to maintain it): they are read from the id
/// ranges the runs recorded for the moved passages' documents.
fn rebase_machine_codings(tx: &Transaction, moves: &Moves) -> rusqlite::Result<()> {
    if moves.by_passage.is_empty() {
        return rebase_blocks(tx, moves);
    }
    // Every machine coding lies in the id range of its run, and a document's in
    // the range its run recorded for it, unless an older build wrote since (see
    // `replace_machine_codings`): then the runs' ranges, or the whole table, are
    // read.
    let (ranged, documented): (bool, bool) = tx.query_row(
        "SELECT c IS coalesce((SELECT value FROM state WHERE key = 'ranged_commits'), ''),
                c IS coalesce((SELECT value FROM state WHERE key = 'documented_commits'), '')
         FROM (SELECT coalesce((SELECT value FROM state WHERE key = 'commits'), '') AS c)",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let ranges: Vec<(i64, i64)> = if ranged && !documented {
        let mut q = tx.prepare("SELECT first, last FROM machine_runs")?;
        let rows = q.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        rows.collect::<rusqlite::Result<_>>()?
    } else if ranged {
        // The ranges of the moved documents in each run, and the whole range of
        // each run that recorded none (made before schema version 7).
        let mut ranges = Vec::new();
        let mut of_document = tx.prepare_cached(
            "SELECT r.first, r.last FROM machine_run_documents r
             WHERE r.document = (SELECT id FROM labels WHERE value = ?1)",
        )?;
        for d in &moves.documents {
            let rows = of_document.query_map([d], |r| Ok((r.get(0)?, r.get(1)?)))?;
            for r in rows {
                ranges.push(r?);
            }
        }
        let mut unrecorded = tx.prepare(
            "SELECT first, last FROM machine_runs r WHERE NOT EXISTS
                 (SELECT 1 FROM machine_run_documents d WHERE d.codebook = r.codebook)",
        )?;
        let rows = unrecorded.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        for r in rows {
            ranges.push(r?);
        }
        ranges
    } else {
        vec![(i64::MIN, i64::MAX)]
    };
    // Ranges may overlap (a document asked for twice, ids reused after a run's
    // end was removed): each id is read once.
    let mut ranges = ranges;
    ranges.sort_unstable();
    let mut merged: Vec<(i64, i64)> = Vec::with_capacity(ranges.len());
    for r in ranges {
        match merged.last_mut() {
            Some(last) if r.0 <= last.1.saturating_add(1) => last.1 = last.1.max(r.1),
            _ => merged.push(r),
        }
    }
    let mut found = Vec::new();
    {
        let mut scan = scan::Scan::new(
            tx,
            "SELECT id, passage, start, \"end\", spans FROM codings
             WHERE id BETWEEN ?1 AND ?2 AND machine = 1",
        )?;
        for (first, last) in merged {
            scan.reset()?;
            scan.bind_int(1, first)?;
            scan.bind_int(2, last)?;
            while scan.step()? {
                if let Some(&(delta, doc)) = moves.by_passage.get(&scan.int(1)) {
                    let spans = scan
                        .text(4)
                        .map(|t| String::from_utf8_lossy(t).into_owned());
                    found.push(((scan.int(0), scan.int(2), scan.int(3), spans), delta, doc));
                }
            }
        }
    }
    let mut update = tx.prepare_cached(SHIFT_CODING)?;
    let mut labels = LabelWriter::new(tx)?;
    for (row, delta, doc) in found {
        let document = labels.id(&moves.documents[doc])?;
        shift_coding(&mut update, row, delta, document)?;
    }
    rebase_blocks(tx, moves)
}

/// Shift the machine codings kept in blocks on the passages in `moves`. A
/// passage stays in its document (both ids derive from the document's key), so
/// the blocks to read are those of the moved documents.
fn rebase_blocks(tx: &Transaction, moves: &Moves) -> rusqlite::Result<()> {
    let mut of_document = tx.prepare_cached(
        "SELECT first, codings FROM machine_blocks
         WHERE document = (SELECT id FROM labels WHERE value = ?1)",
    )?;
    let mut update =
        tx.prepare_cached("UPDATE machine_blocks SET codings = ?2 WHERE first = ?1")?;
    let mut seen = rustc_hash::FxHashSet::default();
    for d in &moves.documents {
        if !seen.insert(d) {
            continue;
        }
        let found: Vec<(i64, Vec<u8>)> = of_document
            .query_map([d], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        for (first, bytes) in found {
            let mut entries = blocks::entries(first, &bytes).map_err(damaged)?;
            let mut moved = false;
            for e in &mut entries {
                let by = match e.passage {
                    blocks::PassageKey::Label(l) => moves.by_passage.get(&l),
                    blocks::PassageKey::Hash(h) => moves.by_hash.get(&h),
                };
                if let Some(&(delta, _)) = by {
                    e.start += delta;
                    e.end += delta;
                    for s in &mut e.spans {
                        *s = (s.0 + delta, s.1 + delta);
                    }
                    moved = true;
                }
            }
            if moved {
                update.execute(params![first, blocks::encode(first, &entries)])?;
            }
        }
    }
    Ok(())
}

/// The smallest id range holding `range` (if any) and `more`.
fn widen(range: Option<(i64, i64)>, more: (i64, i64)) -> (i64, i64) {
    range.map_or(more, |r| (r.0.min(more.0), r.1.max(more.1)))
}

/// The spans of a coding as stored: none when the coding is one span from
/// `start` to `end` (the common case), JSON otherwise.
fn stored_spans(spans: &[(i64, i64)], start: i64, end: i64) -> Option<String> {
    stored_spans_in(spans, start, end, &mut String::new()).map(str::to_string)
}

/// [`stored_spans`], written into `buf` (cleared first).
fn stored_spans_in<'b>(
    spans: &[(i64, i64)],
    start: i64,
    end: i64,
    buf: &'b mut String,
) -> Option<&'b str> {
    if spans == [(start, end)] {
        None
    } else {
        buf.clear();
        crate::table::push_spans_json(buf, spans);
        Some(buf.as_str())
    }
}

/// Label ids for texts within one transaction, adding labels that are new.
struct LabelWriter<'t> {
    find: rusqlite::CachedStatement<'t>,
    add: rusqlite::CachedStatement<'t>,
    conn: &'t Connection,
    known: rustc_hash::FxHashMap<String, i64>,
}

impl<'t> LabelWriter<'t> {
    fn new(tx: &'t Transaction) -> rusqlite::Result<Self> {
        Ok(LabelWriter {
            find: tx.prepare_cached("SELECT id FROM labels WHERE value = ?1")?,
            // `OR IGNORE`, without `RETURNING`: a statement that may abort halfway
            // keeps a journal of its own, and in a transaction that already
            // changed the page it writes, SQLite copies that page into it first.
            // With `RETURNING` (or a possible abort) every new label of a large
            // run cost two page copies to a temporary file: 11 GB of writes for
            // the 300,000 passage labels of a first run on 100 MB.
            add: tx.prepare_cached("INSERT OR IGNORE INTO labels(value) VALUES (?1)")?,
            conn: tx,
            known: Default::default(),
        })
    }

    fn id(&mut self, text: &str) -> rusqlite::Result<i64> {
        if let Some(&id) = self.known.get(text) {
            return Ok(id);
        }
        let id = self.find_or_add(text)?;
        self.known.insert(text.to_string(), id);
        Ok(id)
    }

    /// Like [`LabelWriter::id`], for a text that will not be asked for again
    /// (it is not remembered).
    fn id_once(&mut self, text: &str) -> rusqlite::Result<i64> {
        match self.known.get(text) {
            Some(&id) => Ok(id),
            None => self.find_or_add(text),
        }
    }

    fn find_or_add(&mut self, text: &str) -> rusqlite::Result<i64> {
        if let Some(id) = self.find.query_row([text], |r| r.get(0)).optional()? {
            return Ok(id);
        }
        if self.add.execute([text])? == 1 {
            Ok(self.conn.last_insert_rowid())
        } else {
            // Not added, so it is there after all.
            self.find.query_row([text], |r| r.get(0))
        }
    }

    fn opt(&mut self, text: Option<&str>) -> rusqlite::Result<Option<i64>> {
        text.map(|t| self.id(t)).transpose()
    }
}

/// Commit a write transaction, counting it in `commits` (see the module doc):
/// every write of the store ends here. `ranged_commits` and `documented_commits`
/// count along while they are equal to `commits`; a build that does not know one
/// of them leaves it behind, and it stays behind (whatever this build writes
/// meanwhile) until the next machine-coding run has forgotten what it vouched for.
fn commit(tx: Transaction) -> rusqlite::Result<()> {
    tx.execute_batch(
        "UPDATE state SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT)
             WHERE key IN ('ranged_commits', 'documented_commits')
               AND value = (SELECT value FROM state WHERE key = 'commits');
         UPDATE state SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT) WHERE key='commits';",
    )?;
    tx.commit()
}

fn bump_generation(tx: &Transaction) -> rusqlite::Result<u64> {
    tx.execute(
        "UPDATE state SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT) WHERE key='generation'",
        [],
    )?;
    let v: String = tx.query_row("SELECT value FROM state WHERE key='generation'", [], |r| {
        r.get(0)
    })?;
    Ok(v.parse().unwrap_or(0))
}

fn now_iso() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn write_document(
    tx: &Transaction,
    d: &NewDocument,
    moves: &mut Moves,
) -> rusqlite::Result<Vec<i64>> {
    // Where the passages of the version being replaced started, so that codings on
    // passages that survive keep pointing at the same text after earlier text moved.
    let old_starts: std::collections::HashMap<String, i64> = {
        let mut stmt =
            tx.prepare_cached("SELECT id, start FROM passages WHERE document_id = ?1")?;
        let rows = stmt.query_map([&d.id], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
        })?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    tx.execute(
        "DELETE FROM documents WHERE key=?1 OR id=?2",
        params![d.key, d.id],
    )?;
    if !old_starts.is_empty() {
        rebase_codings(tx, d, &old_starts, moves)?;
    }
    tx.execute(
        "INSERT INTO documents(id, key, source_path, format, encoding, content_hash, text, n_chars, ingested_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            d.id,
            d.key,
            d.source_path,
            d.format,
            d.encoding,
            d.content_hash,
            d.text,
            d.text.chars().count() as i64,
            now_iso()
        ],
    )?;
    {
        let mut meta = tx.prepare_cached(
            "INSERT INTO document_meta(document_id, field, value) VALUES (?1, ?2, ?3)",
        )?;
        for (k, v) in &d.metadata {
            meta.execute(params![d.id, k, v])?;
        }
    }
    let mut stmt = tx.prepare_cached(
        "INSERT INTO passages(id, document_id, ordinal, kind, speaker, speaker_role, section, start, \"end\",
                              t_start_ms, t_end_ms, line, text)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
    )?;
    let mut rowids = Vec::with_capacity(d.passages.len());
    for (i, p) in d.passages.iter().enumerate() {
        stmt.execute(params![
            p.id,
            d.id,
            i as i64,
            p.kind,
            p.speaker,
            p.speaker_role,
            p.section,
            p.start as i64,
            p.end as i64,
            p.t_start_ms.map(|v| v as i64),
            p.t_end_ms.map(|v| v as i64),
            p.line as i64,
            p.text
        ])?;
        rowids.push(tx.last_insert_rowid());
    }
    Ok(rowids)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn coding(i: usize, coder: &str) -> NewCoding {
        let at = i as i64 * 10;
        NewCoding {
            passage_id: format!("d{}#p{i}", i % 7),
            document_id: format!("d{}", i % 7),
            code_id: format!("kode.{}", i % 13),
            start: at,
            end: at + 5,
            spans: if i.is_multiple_of(3) {
                vec![(at, at + 1), (at + 3, at + 5)]
            } else {
                vec![(at, at + 5)]
            },
            coder: coder.to_string(),
            machine: false,
            rule: None,
        }
    }

    fn store_with_codings(n: usize) -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&dir.path().join("store.sqlite")).unwrap();
        let rows: Vec<NewCoding> = (0..n)
            .map(|i| coding(i, if i.is_multiple_of(2) { "kari" } else { "ola" }))
            .collect();
        assert_eq!(s.add_codings(&rows).unwrap(), n);
        (dir, s)
    }

    /// Each coding as (id, passage, code, coder, spans).
    fn rows(c: &CodingColumns) -> Vec<(i64, String, String, String, String)> {
        let l = &c.labels;
        (0..c.len())
            .map(|i| {
                (
                    c.id[i],
                    l.get(c.passage[i]).to_string(),
                    l.get(c.code[i]).to_string(),
                    l.get(c.coder[i]).to_string(),
                    c.spans_json(i),
                )
            })
            .collect()
    }

    /// A counter kept in `state`.
    fn counter(s: &Store, key: &str) -> u64 {
        s.conn
            .query_row("SELECT value FROM state WHERE key = ?1", [key], |r| {
                r.get::<_, String>(0)
            })
            .unwrap()
            .parse()
            .unwrap()
    }

    fn ranged_commits(s: &Store) -> u64 {
        counter(s, "ranged_commits")
    }

    fn commits(s: &Store) -> u64 {
        counter(s, "commits")
    }

    #[test]
    fn codings_read_in_two_halves_are_the_codings_read_in_one() {
        let (_dir, s) = store_with_codings(2001);
        for coder in [None, Some("kari"), Some("human"), Some("machine")] {
            let one = rows(&s.coding_columns_split(coder, i64::MAX).unwrap());
            let two = rows(&s.coding_columns_split(coder, 1).unwrap());
            assert_eq!(one, two, "{coder:?}");
        }
        let all = rows(&s.coding_columns_split(None, 1).unwrap());
        assert_eq!(all.len(), 2001);
        assert_eq!(all[3].4, "[[30,31],[33,35]]");
        assert_eq!(all[4].4, "[[40,45]]");
        assert!(all.windows(2).all(|w| w[0].0 < w[1].0));
    }

    #[test]
    fn codings_whose_ids_have_gaps_read_in_parts_are_the_codings_read_in_one() {
        // A rerun of a codebook deletes a block of ids and appends its codings
        // at the end; the parts of the id range then hold very different counts.
        for (n, gap) in [
            (1, 0..0),
            (2, 0..0),
            (3, 1..2),
            (65, 10..60),
            (3000, 100..2900),
        ] {
            let (_dir, s) = store_with_codings(n);
            let ids: Vec<i64> = rows(&s.coding_columns_split(None, i64::MAX).unwrap())
                .iter()
                .map(|r| r.0)
                .collect();
            for &id in &ids[gap.clone()] {
                s.conn
                    .execute("DELETE FROM codings WHERE id = ?1", [id])
                    .unwrap();
            }
            for coder in [None, Some("kari"), Some("machine")] {
                let one = rows(&s.coding_columns_split(coder, i64::MAX).unwrap());
                let parts = rows(&s.coding_columns_split(coder, 1).unwrap());
                assert_eq!(one, parts, "{n} codings, gap {gap:?}, {coder:?}");
            }
            let all = rows(&s.coding_columns_split(None, 1).unwrap());
            assert_eq!(all.len(), n - gap.len());
            assert!(all.windows(2).all(|w| w[0].0 < w[1].0));
        }
    }

    #[test]
    fn a_write_committed_while_codings_are_read_is_not_mixed_in() {
        let (dir, s) = store_with_codings(500);
        let before = rows(&s.coding_columns_split(None, 1).unwrap());
        let mut other = Store::open(&dir.path().join("store.sqlite")).unwrap();
        let during = s
            .read(|| {
                // The first read fixes this connection's snapshot; then another
                // connection commits, so the helper would see a newer one: one
                // without a coding in the second half, which it reads.
                s.generation()?;
                assert!(other.remove_coding(before[400].0)?);
                s.coding_columns_split(None, 1)
            })
            .unwrap();
        assert_eq!(rows(&during), before);
        let after = rows(&s.coding_columns_split(None, 1).unwrap());
        assert_eq!(after.len(), 499);
        assert!(!after.contains(&before[400]));
    }

    #[test]
    fn every_write_counts_in_commits() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&dir.path().join("store.sqlite")).unwrap();
        let mut n = commits(&s);
        let mut wrote = |s: &Store, what: &str| {
            let now = commits(s);
            assert_eq!(now, n + 1, "{what}");
            n = now;
        };
        let doc = NewDocument {
            id: "d1".into(),
            key: "a.txt".into(),
            source_path: "a.txt".into(),
            format: "text".into(),
            encoding: "utf-8".into(),
            content_hash: "h".into(),
            text: "Hei".into(),
            metadata: BTreeMap::new(),
            passages: vec![NewPassage {
                id: "d1#p1".into(),
                kind: "paragraph".into(),
                speaker: None,
                speaker_role: None,
                section: None,
                start: 0,
                end: 3,
                t_start_ms: None,
                t_end_ms: None,
                line: 1,
                text: "Hei".into(),
            }],
        };
        s.write_batch(std::slice::from_ref(&doc)).unwrap();
        wrote(&s, "write_batch");
        let id = s.add_coding(&coding(1, "kari")).unwrap();
        wrote(&s, "add_coding");
        s.add_codings(&[coding(2, "kari")]).unwrap();
        wrote(&s, "add_codings");
        s.remove_coding(id).unwrap();
        wrote(&s, "remove_coding");
        s.add_memo("code", "kode.1", "kari", "notat").unwrap();
        wrote(&s, "add_memo");
        let machine = MachineCodings {
            coder: "machine:bok".into(),
            passages: vec![("d1#p1".into(), "d1".into())],
            rules: vec![("kode.1".into(), "r1".into())],
            rows: vec![MachineCoding {
                passage: 0,
                rule: 0,
                start: 0,
                end: 3,
                spans: (0, 1),
            }],
            spans: vec![(0, 3)],
        };
        s.replace_machine_codings(("bok", "1", "Bok", ""), &machine)
            .unwrap();
        wrote(&s, "replace_machine_codings");
        s.drop_passage_id_index().unwrap();
        wrote(&s, "drop_passage_id_index");
        s.restore_passage_id_index().unwrap();
        wrote(&s, "restore_passage_id_index");
        s.delete_documents(&["d1".to_string()]).unwrap();
        wrote(&s, "delete_documents");
    }

    /// A document `id` stored as `key`, with one passage per id in `passages`.
    fn document(id: &str, key: &str, passages: &[&str]) -> NewDocument {
        let text = passages.join("\n\n");
        let mut at = 0;
        NewDocument {
            id: id.into(),
            key: key.into(),
            source_path: key.into(),
            format: "text".into(),
            encoding: "utf-8".into(),
            content_hash: format!("h-{id}"),
            text: text.clone(),
            metadata: BTreeMap::new(),
            passages: passages
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    let start = at;
                    at += p.chars().count() + 2;
                    NewPassage {
                        id: p.to_string(),
                        kind: "paragraph".into(),
                        speaker: None,
                        speaker_role: None,
                        section: None,
                        start,
                        end: start + p.chars().count(),
                        t_start_ms: None,
                        t_end_ms: None,
                        line: 1 + 2 * i,
                        text: p.to_string(),
                    }
                })
                .collect(),
        }
    }

    /// Regression: the metadata of a search's documents took one statement per
    /// document; it is now read `METADATA_IDS` documents a statement, the last
    /// id repeated to fill one, and kept until documents change. Any number of
    /// ids, repeated or unknown ones among them, gets exactly those documents'
    /// metadata, also after documents are written again.
    #[test]
    fn metadata_of_any_number_of_documents_is_theirs_and_only_theirs() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&dir.path().join("store.sqlite")).unwrap();
        let docs: Vec<NewDocument> = (0..3 * METADATA_IDS + 5)
            .map(|i| {
                let mut d = document(
                    &format!("d{i:03}"),
                    &format!("{i}.txt"),
                    &[&format!("p{i}")],
                );
                if i % 7 != 3 {
                    d.metadata
                        .insert("municipality".into(), format!("Kommune {}", i % 5));
                }
                if i % 2 == 0 {
                    d.metadata
                        .insert("date".into(), format!("2024-01-{:02}", 1 + i % 28));
                }
                d
            })
            .collect();
        s.write_batch(&docs).unwrap();
        let all = s.metadata().unwrap();
        let ids: Vec<String> = docs.iter().map(|d| d.id.clone()).collect();
        for n in [
            0,
            1,
            2,
            METADATA_IDS - 1,
            METADATA_IDS,
            METADATA_IDS + 1,
            2 * METADATA_IDS + 3,
            ids.len(),
        ] {
            // Every third id from the back, then a repeat and an unknown id.
            let mut asked: Vec<&str> = ids
                .iter()
                .rev()
                .step_by(3)
                .chain(ids.iter())
                .take(n)
                .map(String::as_str)
                .collect();
            if n > 0 {
                asked.push(asked[0]);
                asked.push("no-such-document");
            }
            let want: BTreeMap<String, BTreeMap<String, String>> = all
                .iter()
                .filter(|(d, _)| asked.contains(&d.as_str()))
                .map(|(d, m)| (d.clone(), m.clone()))
                .collect();
            assert_eq!(
                s.metadata_of(asked.iter().copied()).unwrap(),
                want,
                "{n} ids"
            );
        }
        // Kept between calls until documents change: a document written again
        // with other metadata has the new, one without any has none.
        let mut changed = document("d000", "0.txt", &["p0"]);
        changed
            .metadata
            .insert("municipality".into(), "Ny kommune".into());
        let stripped = document("d002", "2.txt", &["p2"]);
        s.write_batch(&[changed, stripped]).unwrap();
        let got = s.metadata_of(["d000", "d001", "d002"]).unwrap();
        assert_eq!(got["d000"].len(), 1);
        assert_eq!(got["d000"]["municipality"], "Ny kommune");
        assert_eq!(got["d001"], all["d001"]);
        assert!(!got.contains_key("d002"));
        assert_eq!(got, s.read_metadata_of(&["d000", "d001", "d002"]).unwrap());
    }

    /// A batch written with the passage-id index in place gets a large page
    /// cache (the index's leaves are all over it) and gives it back after, also
    /// when the batch fails. Reads raise the cache to what searches keep; any
    /// batch, of a bulk ingest too, writes with the default.
    #[test]
    fn a_batch_gives_back_its_large_page_cache() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&dir.path().join("store.sqlite")).unwrap();
        let cache = |s: &Store| -> i64 {
            s.conn
                .query_row("PRAGMA cache_size", [], |r| r.get(0))
                .unwrap()
        };
        let own = -2000;
        assert_eq!(cache(&s), own);
        s.write_batch(&[document("d1", "a.txt", &["p1"])]).unwrap();
        assert_eq!(cache(&s), own);
        // A read raises it for the reads after; a batch lowers it again.
        s.read(|| s.generation()).unwrap();
        assert_eq!(cache(&s), -i64::from(READ_CACHE_KIB));
        s.write_batch(&[document("d3", "c.txt", &["p3"])]).unwrap();
        assert_eq!(cache(&s), own);
        s.read(|| s.generation()).unwrap();
        assert_eq!(cache(&s), -i64::from(READ_CACHE_KIB));
        // A failing batch (a passage id written twice) gives it back as well.
        let e = s
            .write_batch(&[document("d2", "b.txt", &["p1"])])
            .unwrap_err();
        assert!(e.message.contains("UNIQUE"), "{e}");
        assert_eq!(cache(&s), own);
        // So does a batch of a bulk ingest (without the passage-id index).
        s.read(|| s.generation()).unwrap();
        s.drop_passage_id_index().unwrap();
        s.write_batch(&[document("d4", "d.txt", &["p4"])]).unwrap();
        assert_eq!(cache(&s), own);
        s.read(|| s.generation()).unwrap();
        assert_eq!(cache(&s), -i64::from(READ_CACHE_KIB));
    }

    #[test]
    fn a_new_archive_has_16_kib_pages_and_an_old_one_keeps_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let page_size = |s: &Store| -> u32 {
            s.conn
                .query_row("PRAGMA page_size", [], |r| r.get(0))
                .unwrap()
        };
        let s = Store::open(&dir.path().join("new.sqlite")).unwrap();
        assert_eq!(page_size(&s), PAGE_SIZE);
        let old = dir.path().join("old.sqlite");
        Connection::open(&old)
            .unwrap()
            .execute_batch("PRAGMA page_size=4096; CREATE TABLE t(x);")
            .unwrap();
        let s = Store::open(&old).unwrap();
        assert_eq!(page_size(&s), 4096);
    }

    #[test]
    fn scanned_passages_are_the_passages_read_row_by_row() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&dir.path().join("store.sqlite")).unwrap();
        let mut d = document("d1", "a.txt", &["første «avsnitt»", "ærlig talt", ""]);
        d.passages[1].kind = "turn".into();
        d.passages[1].speaker = Some("Kari".into());
        d.passages[1].speaker_role = Some("informant".into());
        s.write_batch(&[d, document("d2", "b.txt", &["øy"])])
            .unwrap();
        let mut full = Vec::new();
        s.for_each_passage(|p| {
            full.push(p);
            Ok(true)
        })
        .unwrap();
        assert_eq!(full.len(), 4);
        for context in [false, true] {
            let mut seen = 0;
            s.scan_passages(context, |v| {
                let p = &full[seen];
                assert_eq!(
                    (v.id, v.document_id, v.start, v.end, v.text),
                    (
                        p.id.as_str(),
                        p.document_id.as_str(),
                        p.start,
                        p.end,
                        p.text.as_str()
                    )
                );
                match v.context {
                    Some(c) => {
                        assert!(context);
                        assert_eq!(
                            (c.kind, c.document, c.speaker, c.speaker_role),
                            (
                                p.kind.as_str(),
                                p.document.as_str(),
                                p.speaker.as_deref(),
                                p.speaker_role.as_deref()
                            )
                        );
                    }
                    None => assert!(!context),
                }
                seen += 1;
                Ok(true)
            })
            .unwrap();
            assert_eq!(seen, full.len());
        }
        // Stopping early stops the scan.
        let mut seen = 0;
        s.scan_passages(false, |_| {
            seen += 1;
            Ok(seen < 2)
        })
        .unwrap();
        assert_eq!(seen, 2);
    }

    fn passage_ids(s: &Store) -> Vec<(i64, String, String)> {
        let mut stmt = s
            .conn
            .prepare("SELECT rowid, id, document_id FROM passages ORDER BY rowid")
            .unwrap();
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap();
        rows.collect::<rusqlite::Result<_>>().unwrap()
    }

    fn uses_passage_id_index(s: &Store) -> bool {
        let plan: Vec<String> = {
            let mut stmt = s
                .conn
                .prepare("EXPLAIN QUERY PLAN SELECT start FROM passages WHERE id = 'x'")
                .unwrap();
            let rows = stmt.query_map([], |r| r.get::<_, String>(3)).unwrap();
            rows.collect::<rusqlite::Result<_>>().unwrap()
        };
        plan.iter().any(|p| p.contains("passages_by_id"))
    }

    #[test]
    fn passage_id_index_dropped_for_a_bulk_write_is_made_again_and_unique() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&dir.path().join("store.sqlite")).unwrap();
        s.write_batch(&[document("d1", "a.txt", &["pa1", "pa2"])])
            .unwrap();
        assert!(s.has_passage_id_index().unwrap() && uses_passage_id_index(&s));
        s.drop_passage_id_index().unwrap();
        assert!(!s.has_passage_id_index().unwrap());
        s.write_batch(&[document("d2", "b.txt", &["pb1"])]).unwrap();
        s.write_batch(&[document("d3", "c.txt", &["pc1", "pc2", "pc3"])])
            .unwrap();
        let g = s.generation().unwrap();
        assert_eq!(s.restore_passage_id_index().unwrap(), (Vec::new(), None));
        assert_eq!(s.generation().unwrap(), g);
        assert!(s.has_passage_id_index().unwrap() && uses_passage_id_index(&s));
        assert_eq!(
            s.passage_bounds("pc2").unwrap(),
            Some(("d3".to_string(), 5, 8))
        );
        assert_eq!(passage_ids(&s).len(), 6);
        // Uniqueness holds again: a passage with a stored id is refused.
        let err = s
            .write_batch(&[document("d4", "d.txt", &["pa1"])])
            .unwrap_err();
        assert!(err.message.contains("UNIQUE"), "{err}");
        assert_eq!(passage_ids(&s).len(), 6);
    }

    #[test]
    fn colliding_passage_ids_written_in_bulk_remove_the_later_document() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&dir.path().join("store.sqlite")).unwrap();
        s.write_batch(&[document("d1", "a.txt", &["p1", "p2"])])
            .unwrap();
        s.drop_passage_id_index().unwrap();
        s.write_batch(&[
            document("d2", "b.txt", &["p3", "p2", "p4"]),
            document("d3", "c.txt", &["p5"]),
        ])
        .unwrap();
        let g = s.generation().unwrap();
        let (removed, generation) = s.restore_passage_id_index().unwrap();
        assert_eq!(
            removed,
            vec![Collision {
                document_id: "d2".into(),
                key: "b.txt".into(),
                passage_id: "p2".into(),
                passages: 3,
            }]
        );
        assert_eq!(generation, Some(g + 1));
        assert_eq!(s.generation().unwrap(), g + 1);
        assert!(s.has_passage_id_index().unwrap());
        let ids: Vec<String> = passage_ids(&s).into_iter().map(|r| r.1).collect();
        assert_eq!(ids, ["p1", "p2", "p5"]);
        assert_eq!(s.document_hash("b.txt").unwrap(), None);
        assert_eq!(
            s.passage_bounds("p2").unwrap().map(|b| b.0),
            Some("d1".to_string())
        );
    }

    #[test]
    fn archive_of_schema_version_3_moves_passage_ids_to_a_named_index() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.sqlite");
        let mut s = Store::open(&path).unwrap();
        s.write_batch(&[
            document("d1", "a.txt", &["p1", "p2"]),
            document("d2", "b.txt", &["p3"]),
        ])
        .unwrap();
        s.delete_documents(&["d1".to_string()]).unwrap();
        s.write_batch(&[document("d1", "a.txt", &["p1", "p4"])])
            .unwrap();
        let before = passage_ids(&s);
        // The layout of version 3: uniqueness as a column constraint.
        let v3 = SCHEMA
            .split_once("CREATE TABLE IF NOT EXISTS passages (")
            .and_then(|(_, rest)| rest.split_once(");"))
            .unwrap()
            .0
            .replace("id TEXT NOT NULL,", "id TEXT NOT NULL UNIQUE,");
        s.conn
            .execute_batch(&format!(
                "PRAGMA foreign_keys=OFF;
                 DROP INDEX passages_by_id; DROP INDEX passages_by_document;
                 ALTER TABLE passages RENAME TO old;
                 CREATE TABLE passages ({v3});
                 INSERT INTO passages SELECT * FROM old; DROP TABLE old;
                 CREATE INDEX passages_by_document ON passages(document_id, ordinal);
                 UPDATE state SET value = '3' WHERE key = 'schema_version';
                 PRAGMA foreign_keys=ON;"
            ))
            .unwrap();
        let autoindex = |s: &Store| -> i64 {
            s.conn
                .query_row(
                    "SELECT count(*) FROM sqlite_master WHERE name LIKE 'sqlite_autoindex_passages%'",
                    [],
                    |r| r.get(0),
                )
                .unwrap()
        };
        assert_eq!(autoindex(&s), 1);
        drop(s);
        let mut s = Store::open(&path).unwrap();
        assert_eq!(s.schema_version().unwrap(), Some(SCHEMA_VERSION));
        assert_eq!(autoindex(&s), 0);
        assert!(s.has_passage_id_index().unwrap() && uses_passage_id_index(&s));
        assert_eq!(passage_ids(&s), before);
        // The foreign key to documents still holds: deleting cascades.
        s.delete_documents(&["d2".to_string()]).unwrap();
        assert_eq!(passage_ids(&s).len(), before.len() - 1);
        let fk: i64 = s
            .conn
            .query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(fk, 0);
    }

    /// [`Store::replace_machine_codings`] as builds before schema version 8 did
    /// it: a row of `codings` per coding.
    fn replace_as_rows(
        s: &mut Store,
        book: (&str, &str, &str, &str),
        codings: &MachineCodings,
    ) -> Result<usize, StoreError> {
        let mut run = s.begin_machine_run_as_rows(book)?;
        run.write(codings)?;
        run.finish()
    }

    fn machine_run(passages: usize, rules: usize) -> MachineCodings {
        let mut m = MachineCodings {
            coder: "machine:bok".into(),
            passages: (0..passages)
                .map(|p| (format!("m{}#p{p}", p % 5), format!("m{}", p % 5)))
                .collect(),
            rules: (0..rules)
                .map(|r| (format!("kode.{r}"), format!("regel.{r}")))
                .collect(),
            ..MachineCodings::default()
        };
        for p in 0..passages {
            for r in 0..rules {
                let at = (p * 100 + r) as i64;
                m.spans.push((at, at + 2));
                m.rows.push(MachineCoding {
                    passage: p as u32,
                    rule: r as u32,
                    start: at,
                    end: at + 2,
                    spans: (m.spans.len() - 1, m.spans.len()),
                });
            }
        }
        m
    }

    /// The names of the indexes on `codings`.
    fn codings_indexes(s: &Store) -> Vec<String> {
        let mut q = s
            .conn
            .prepare(
                "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'codings'
                 ORDER BY name",
            )
            .unwrap();
        q.query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
    }

    fn runs(s: &Store) -> Vec<(String, i64, i64)> {
        let mut q = s
            .conn
            .prepare(
                "SELECT l.value, r.first, r.last FROM machine_runs r
                 JOIN labels l ON l.id = r.codebook ORDER BY l.value",
            )
            .unwrap();
        q.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
    }

    /// A codebook's machine codings are found by the id range its last run took;
    /// a rerun replaces exactly them, whatever was written in between.
    #[test]
    fn a_rerun_replaces_the_codings_in_its_recorded_range_only() {
        let (_dir, mut s) = store_with_codings(3);
        let (a, b) = (("a", "1", "A", ""), ("b", "1", "B", ""));
        assert_eq!(replace_as_rows(&mut s, a, &machine_run(20, 3)).unwrap(), 0);
        s.add_codings(&[coding(7, "kari")]).unwrap();
        assert_eq!(replace_as_rows(&mut s, b, &machine_run(5, 2)).unwrap(), 0);
        assert_eq!(runs(&s), vec![("a".into(), 4, 63), ("b".into(), 65, 74)]);
        // Rerunning a: its 60 codings go, b's and the human ones stay, and its
        // new codings take the ids after the end of the table.
        assert_eq!(replace_as_rows(&mut s, a, &machine_run(10, 3)).unwrap(), 60);
        assert_eq!(runs(&s), vec![("a".into(), 75, 104), ("b".into(), 65, 74)]);
        let all = rows(&s.coding_columns_split(None, i64::MAX).unwrap());
        assert_eq!(all.len(), 4 + 10 + 30);
        assert_eq!(
            all.iter().filter(|r| r.3 == "kari" || r.3 == "ola").count(),
            4
        );
        // A run without codings removes the range too.
        let none = MachineCodings {
            coder: "machine:b".into(),
            ..MachineCodings::default()
        };
        assert_eq!(replace_as_rows(&mut s, b, &none).unwrap(), 10);
        assert_eq!(runs(&s), vec![("a".into(), 75, 104)]);
        assert_eq!(
            rows(&s.coding_columns_split(None, i64::MAX).unwrap()).len(),
            34
        );
    }

    /// A build older than schema version 5 that had the archive open before it
    /// was migrated writes machine codings without recording their range; the
    /// next run of that codebook still replaces them.
    #[test]
    fn machine_codings_written_by_an_older_build_are_still_replaced() {
        let (_dir, mut s) = store_with_codings(2);
        let (a, b) = (("a", "1", "A", ""), ("b", "1", "B", ""));
        replace_as_rows(&mut s, a, &machine_run(4, 2)).unwrap();
        replace_as_rows(&mut s, b, &machine_run(2, 1)).unwrap();
        assert_eq!(commits(&s), ranged_commits(&s));
        // What an older build's rerun of `a` does: delete its codings, insert new
        // ones at the end, count the commit, and leave the ranges alone.
        s.conn
            .execute_batch(
                "BEGIN;
                 DELETE FROM codings WHERE machine = 1
                     AND codebook = (SELECT id FROM labels WHERE value = 'a');
                 INSERT INTO codings(passage, document, code, start, \"end\", spans, coder,
                                     machine, rule, codebook, codebook_version, created_at)
                     SELECT passage, document, code, start, \"end\", spans, coder, 1, rule,
                            (SELECT id FROM labels WHERE value = 'a'), codebook_version, created_at
                     FROM codings WHERE machine = 0;
                 CREATE INDEX IF NOT EXISTS codings_by_machine ON codings(machine, codebook);
                 CREATE INDEX IF NOT EXISTS codings_by_passage ON codings(passage);
                 UPDATE state SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT) WHERE key = 'commits';
                 COMMIT;",
            )
            .unwrap();
        assert_ne!(commits(&s), ranged_commits(&s));
        // A write of this build in between does not hide the older build's write.
        s.add_codings(&[coding(9, "kari")]).unwrap();
        assert_ne!(commits(&s), ranged_commits(&s));
        assert_eq!(replace_as_rows(&mut s, a, &machine_run(1, 1)).unwrap(), 2);
        assert_eq!(replace_as_rows(&mut s, b, &machine_run(1, 1)).unwrap(), 2);
        let all = rows(&s.coding_columns_split(None, i64::MAX).unwrap());
        assert_eq!(all.len(), 3 + 1 + 1, "{all:?}");
        assert_eq!(commits(&s), ranged_commits(&s));
        assert_eq!(runs(&s).len(), 2);
        // The older build's indexes on all codings are gone.
        assert_eq!(codings_indexes(&s), vec!["human_codings_by_passage"]);
    }

    #[test]
    fn archive_of_schema_version_4_gets_the_ranges_of_its_machine_runs() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.sqlite");
        let mut s = Store::open(&path).unwrap();
        s.add_codings(&[coding(0, "kari")]).unwrap();
        let (a, b) = (("a", "1", "A", ""), ("b", "1", "B", ""));
        replace_as_rows(&mut s, a, &machine_run(8, 2)).unwrap();
        replace_as_rows(&mut s, b, &machine_run(3, 1)).unwrap();
        let ranges = runs(&s);
        // The layout of version 4: an index on (machine, codebook), no ranges.
        s.conn
            .execute_batch(
                "DROP TABLE machine_runs;
                 CREATE INDEX codings_by_machine ON codings(machine, codebook);
                 UPDATE state SET value = '4' WHERE key = 'schema_version';",
            )
            .unwrap();
        drop(s);
        let mut s = Store::open(&path).unwrap();
        assert_eq!(s.schema_version().unwrap(), Some(SCHEMA_VERSION));
        assert_eq!(runs(&s), ranges);
        let gone: i64 = s
            .conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE name = 'codings_by_machine'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(gone, 0);
        assert_eq!(replace_as_rows(&mut s, a, &machine_run(1, 1)).unwrap(), 16);
        assert_eq!(
            rows(&s.coding_columns_split(None, i64::MAX).unwrap()).len(),
            1 + 3 + 1
        );
    }

    /// Machine codings, however many, are not in the passage index: it holds the
    /// human ones, for the duplicate check of imported codings and for shifting
    /// codings when their document changes.
    #[test]
    fn machine_codings_large_or_small_leave_the_human_codings_and_their_index() {
        let (_dir, mut s) = store_with_codings(10);
        let human = rows(&s.coding_columns_split(Some("human"), i64::MAX).unwrap());
        let big = machine_run(3_000, 10);
        let book = ("bok", "1", "Bok", "");
        assert_eq!(s.replace_machine_codings(book, &big).unwrap(), 0);
        assert_eq!(s.replace_machine_codings(book, &big).unwrap(), 30_000);
        let small = machine_run(4, 2);
        assert_eq!(
            s.replace_machine_codings(("liten", "1", "Liten", ""), &small)
                .unwrap(),
            0
        );
        assert_eq!(codings_indexes(&s), vec!["human_codings_by_passage"]);
        let machine = rows(&s.coding_columns_split(Some("machine"), i64::MAX).unwrap());
        assert_eq!(machine.len(), 30_008);
        assert_eq!(machine[0].1, "m0#p0");
        assert_eq!(machine[0].4, "[[0,2]]");
        assert_eq!(
            rows(&s.coding_columns_split(Some("human"), i64::MAX).unwrap()),
            human
        );
        let indexed: i64 = s
            .conn
            .query_row(
                "SELECT count(*) FROM codings INDEXED BY human_codings_by_passage
                 WHERE machine = 0 AND passage > 0",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(indexed, 10);
        // The index serves the duplicate check of human codings.
        assert_eq!(s.add_codings(&[coding(0, "kari")]).unwrap(), 0);
        let plan: String = s
            .conn
            .query_row(
                "EXPLAIN QUERY PLAN SELECT id FROM codings WHERE passage = 1 AND machine = 0",
                [],
                |r| r.get(3),
            )
            .unwrap();
        assert!(plan.contains("human_codings_by_passage"), "{plan}");
    }

    /// A run with one coding, of passage `passage` in document `document`, one
    /// span from `start` to `start + 2`.
    fn one_coding(passage: &str, document: &str, start: i64) -> MachineCodings {
        MachineCodings {
            coder: "auto:bok".into(),
            passages: vec![(passage.into(), document.into())],
            rules: vec![("k".into(), "r".into())],
            rows: vec![MachineCoding {
                passage: 0,
                rule: 0,
                start,
                end: start + 2,
                spans: (0, 1),
            }],
            spans: vec![(start, start + 2)],
        }
    }

    /// (document label, first, last) for each document range of codebook `book`.
    fn document_ranges(s: &Store, book: &str) -> Vec<(String, i64, i64)> {
        let mut q = s
            .conn
            .prepare(
                "SELECT l.value, r.first, r.last FROM machine_run_documents r
                 JOIN labels l ON l.id = r.document
                 WHERE r.codebook = (SELECT id FROM labels WHERE value = ?1) ORDER BY l.value",
            )
            .unwrap();
        q.query_map([book], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
    }

    fn documented_commits(s: &Store) -> u64 {
        counter(s, "documented_commits")
    }

    /// A run records, per document, the range of ids its codings of that document
    /// took; a rerun replaces the codebook's ranges.
    #[test]
    fn a_run_records_the_id_range_of_each_documents_codings() {
        let (_dir, mut s) = store_with_codings(1);
        let book = ("a", "1", "A", "");
        // Passages m0#p0 … m2#p2 of documents m0, m1 and m2, two rules each:
        // passage p takes ids 2 + 2p and 3 + 2p.
        replace_as_rows(&mut s, book, &machine_run(3, 2)).unwrap();
        assert_eq!(
            document_ranges(&s, "a"),
            vec![
                ("m0".into(), 2, 3),
                ("m1".into(), 4, 5),
                ("m2".into(), 6, 7)
            ]
        );
        // The rerun's one coding takes the first free id after the human coding
        // (the previous run was the end of the table).
        replace_as_rows(&mut s, book, &machine_run(1, 1)).unwrap();
        assert_eq!(document_ranges(&s, "a"), vec![("m0".into(), 2, 2)]);
        assert_eq!(documented_commits(&s), commits(&s));
    }

    /// A build older than schema version 7 does not count its writes in
    /// `documented_commits`: the document ranges are then not trusted (the runs'
    /// whole ranges are read) until the next run forgets and records them anew.
    #[test]
    fn document_ranges_are_not_trusted_after_an_older_build_wrote() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&dir.path().join("store.sqlite")).unwrap();
        s.write_batch(&[document("d1", "a.txt", &["p1", "p2"])])
            .unwrap();
        let run = |start: i64| one_coding("p2", "d1", start);
        let book = ("bok", "1", "Bok", "");
        replace_as_rows(&mut s, book, &run(4)).unwrap();
        // What a build of version 6 does on a rerun: its codings take other ids,
        // it counts the commit and its ranges, but knows nothing of documents.
        s.conn
            .execute_batch(
                "BEGIN;
                 INSERT INTO codings(passage, document, code, start, \"end\", spans, coder,
                                     machine, rule, codebook, codebook_version, created_at)
                     SELECT passage, document, code, start, \"end\", spans, coder, 1, rule,
                            codebook, codebook_version, created_at
                     FROM codings WHERE machine = 1;
                 DELETE FROM codings WHERE id = (SELECT min(id) FROM codings);
                 UPDATE machine_runs SET first = (SELECT max(id) FROM codings),
                                         last = (SELECT max(id) FROM codings);
                 UPDATE state SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT) WHERE key = 'commits';
                 INSERT OR REPLACE INTO state(key, value)
                     SELECT 'ranged_commits', value FROM state WHERE key = 'commits';
                 COMMIT;",
            )
            .unwrap();
        assert_ne!(documented_commits(&s), commits(&s));
        // The stale document range points at the deleted id; the coding is still
        // found (by its run's range) and moves with its passage.
        s.write_batch(&[document("d1", "a.txt", &["p1xx", "p2"])])
            .unwrap();
        assert_ne!(documented_commits(&s), commits(&s));
        let c = s.coding_columns_split(None, i64::MAX).unwrap();
        assert_eq!((c.start.clone(), c.end.clone()), (vec![6], vec![8]));
        // The next run forgets the stale ranges and records its own.
        replace_as_rows(&mut s, book, &run(6)).unwrap();
        assert_eq!(documented_commits(&s), commits(&s));
        let c = s.coding_columns_split(None, i64::MAX).unwrap();
        let id = c.id[0];
        assert_eq!(document_ranges(&s, "bok"), vec![("d1".into(), id, id)]);
    }

    /// After a build older than schema version 5 wrote, one codebook's run makes
    /// every codebook's range anew, so that the codings of the others still move
    /// with their passages (their document ranges are forgotten; their whole
    /// ranges are read).
    #[test]
    fn every_codebooks_codings_still_move_after_an_older_build_wrote() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&dir.path().join("store.sqlite")).unwrap();
        s.write_batch(&[document("d1", "a.txt", &["p1", "p2"])])
            .unwrap();
        let run = one_coding("p2", "d1", 4);
        let (a, b) = (("a", "1", "A", ""), ("b", "1", "B", ""));
        replace_as_rows(&mut s, a, &run).unwrap();
        replace_as_rows(&mut s, b, &run).unwrap();
        // An older build's write: it counts in `commits` only.
        s.conn
            .execute_batch(
                "UPDATE state SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT)
                 WHERE key = 'commits';",
            )
            .unwrap();
        assert_eq!(replace_as_rows(&mut s, a, &run).unwrap(), 1);
        assert_eq!(runs(&s).len(), 2);
        s.write_batch(&[document("d1", "a.txt", &["p1xx", "p2"])])
            .unwrap();
        let c = s.coding_columns_split(None, i64::MAX).unwrap();
        assert_eq!((c.start.clone(), c.end.clone()), (vec![6, 6], vec![8, 8]));
    }

    /// An archive of version 6 gets the table of document ranges, empty: the runs
    /// made before are read whole when one of their documents moves.
    #[test]
    fn archive_of_schema_version_6_reads_its_runs_whole_when_a_document_moves() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.sqlite");
        let mut s = Store::open(&path).unwrap();
        s.write_batch(&[document("d1", "a.txt", &["p1", "p2"])])
            .unwrap();
        let run = one_coding("p2", "d1", 4);
        replace_as_rows(&mut s, ("a", "1", "A", ""), &run).unwrap();
        // The layout of version 6.
        s.conn
            .execute_batch(
                "DROP TABLE machine_run_documents;
                 DELETE FROM state WHERE key = 'documented_commits';
                 UPDATE state SET value = '6' WHERE key = 'schema_version';",
            )
            .unwrap();
        drop(s);
        let mut s = Store::open(&path).unwrap();
        assert_eq!(s.schema_version().unwrap(), Some(SCHEMA_VERSION));
        assert_eq!(documented_commits(&s), commits(&s));
        assert!(document_ranges(&s, "a").is_empty());
        s.write_batch(&[document("d1", "a.txt", &["p1xx", "p2"])])
            .unwrap();
        let c = s.coding_columns_split(None, i64::MAX).unwrap();
        assert_eq!((c.start.clone(), c.end.clone()), (vec![6], vec![8]));
    }

    #[test]
    fn a_machine_coding_cannot_be_added_one_by_one() {
        let (_dir, mut s) = store_with_codings(1);
        let mut c = coding(5, "auto:bok");
        c.machine = true;
        let e = s.add_coding(&c).unwrap_err();
        assert!(e.to_string().contains("codebook run"), "{e}");
        assert_eq!(
            rows(&s.coding_columns_split(None, i64::MAX).unwrap()).len(),
            1
        );
    }

    /// A build of schema version 5 that had the archive open when it was migrated
    /// counts its commits like this one, and makes its passage index of all codings
    /// again after a large run; the next run drops it.
    #[test]
    fn a_passage_index_of_all_codings_made_again_by_an_older_build_is_dropped() {
        let (_dir, mut s) = store_with_codings(2);
        s.conn
            .execute_batch("CREATE INDEX codings_by_passage ON codings(passage);")
            .unwrap();
        assert_eq!(commits(&s), ranged_commits(&s));
        replace_as_rows(&mut s, ("a", "1", "A", ""), &machine_run(3, 1)).unwrap();
        assert_eq!(codings_indexes(&s), vec!["human_codings_by_passage"]);
    }

    /// The same document written twice in one batch moves its passages twice;
    /// its human and machine codings follow both moves.
    #[test]
    fn codings_follow_a_document_written_twice_in_one_batch() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&dir.path().join("store.sqlite")).unwrap();
        s.write_batch(&[document("d1", "a.txt", &["p1", "p2"])])
            .unwrap();
        // "p2" starts at 4 (after "p1" and a blank line).
        s.add_coding(&NewCoding {
            passage_id: "p2".into(),
            document_id: "d1".into(),
            code_id: "k".into(),
            start: 4,
            end: 6,
            spans: vec![(4, 6)],
            coder: "kari".into(),
            machine: false,
            rule: None,
        })
        .unwrap();
        // One coding of two spans.
        let mut run = one_coding("p2", "d1", 4);
        run.spans = vec![(4, 5), (5, 6)];
        run.rows[0].spans = (0, 2);
        s.replace_machine_codings(("bok", "1", "Bok", ""), &run)
            .unwrap();
        s.write_batch(&[
            document("d1", "a.txt", &["p1x", "p2"]),
            document("d1", "a.txt", &["p1xx", "p2"]),
        ])
        .unwrap();
        let c = s.coding_columns_split(None, i64::MAX).unwrap();
        let moved: Vec<(i64, i64, String)> = (0..c.len())
            .map(|i| (c.start[i], c.end[i], c.spans_json(i)))
            .collect();
        assert_eq!(
            moved,
            vec![(6, 8, "[[6,8]]".into()), (6, 8, "[[6,7],[7,8]]".into())]
        );
    }

    #[test]
    fn archive_of_schema_version_5_keeps_only_human_codings_in_the_passage_index() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.sqlite");
        let mut s = Store::open(&path).unwrap();
        s.add_codings(&[coding(0, "kari"), coding(1, "ola")])
            .unwrap();
        replace_as_rows(&mut s, ("a", "1", "A", ""), &machine_run(8, 2)).unwrap();
        let before = rows(&s.coding_columns_split(None, i64::MAX).unwrap());
        // The layout of version 5: every coding in the passage index.
        s.conn
            .execute_batch(
                "DROP INDEX human_codings_by_passage;
                 CREATE INDEX codings_by_passage ON codings(passage);
                 UPDATE state SET value = '5' WHERE key = 'schema_version';",
            )
            .unwrap();
        drop(s);
        let mut s = Store::open(&path).unwrap();
        assert_eq!(s.schema_version().unwrap(), Some(SCHEMA_VERSION));
        assert_eq!(codings_indexes(&s), vec!["human_codings_by_passage"]);
        assert_eq!(
            rows(&s.coding_columns_split(None, i64::MAX).unwrap()),
            before
        );
        assert_eq!(s.add_codings(&[coding(1, "ola")]).unwrap(), 0);
    }

    #[test]
    fn archive_of_schema_version_2_gets_commits_on_open() {
        let (dir, s) = store_with_codings(3);
        s.conn
            .execute_batch(
                "DELETE FROM state WHERE key = 'commits';
                 UPDATE state SET value = '2' WHERE key = 'schema_version';",
            )
            .unwrap();
        drop(s);
        let s = Store::open(&dir.path().join("store.sqlite")).unwrap();
        assert_eq!(s.schema_version().unwrap(), Some(SCHEMA_VERSION));
        assert_eq!(commits(&s), 0);
        assert_eq!(rows(&s.coding_columns_split(None, 1).unwrap()).len(), 3);
    }

    /// A run of `passages` passages, seven to a document (`d0`, `d1`, …), as a
    /// run reads them, each with `rules` codings.
    fn run_by_document(passages: usize, rules: usize) -> MachineCodings {
        let mut m = machine_run(passages, rules);
        for (p, (passage, document)) in m.passages.iter_mut().enumerate() {
            *document = format!("d{}", p / 7);
            *passage = format!("{document}#p{p}");
        }
        m
    }

    /// `m` cut into batches of `per` passages, as a run codes them.
    fn batches(m: &MachineCodings, per: usize) -> Vec<MachineCodings> {
        let mut out: Vec<MachineCodings> = Vec::new();
        for r in &m.rows {
            let batch = r.passage as usize / per;
            if out.len() <= batch {
                out.resize_with(batch + 1, || MachineCodings {
                    coder: m.coder.clone(),
                    rules: m.rules.clone(),
                    ..MachineCodings::default()
                });
            }
            let b = &mut out[batch];
            let first = batch * per;
            b.passages = m.passages[first..(first + per).min(m.passages.len())].to_vec();
            let from = b.spans.len();
            b.spans.extend_from_slice(&m.spans[r.spans.0..r.spans.1]);
            b.rows.push(MachineCoding {
                passage: (r.passage as usize - first) as u32,
                spans: (from, b.spans.len()),
                ..*r
            });
        }
        out
    }

    /// Everything a run leaves in the store: its codings (in id order, with
    /// their ids), its ranges and its blocks.
    type RunState = (
        Vec<(i64, String, String, String, String)>,
        Vec<(String, i64, i64)>,
        (i64, i64),
        Vec<(String, i64, i64, i64)>,
    );

    /// (document, first, last, codings) of each block of codebook `book`.
    fn blocks_of(s: &Store, book: &str) -> Vec<(String, i64, i64, i64)> {
        let mut q = s
            .conn
            .prepare(
                "SELECT l.value, b.first, b.last, b.n FROM machine_blocks b
                 JOIN labels l ON l.id = b.document
                 WHERE b.codebook = (SELECT id FROM labels WHERE value = ?1) ORDER BY b.first",
            )
            .unwrap();
        q.query_map([book], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
    }

    fn machine_rows(s: &Store) -> i64 {
        s.conn
            .query_row("SELECT count(*) FROM codings WHERE machine = 1", [], |r| {
                r.get(0)
            })
            .unwrap()
    }

    fn run_state(s: &Store, book: &str) -> RunState {
        let range = s
            .conn
            .query_row(
                "SELECT first, last FROM machine_runs
                 WHERE codebook = (SELECT id FROM labels WHERE value = ?1)",
                [book],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap_or((0, 0));
        (
            rows(&s.coding_columns(None).unwrap()),
            document_ranges(s, book),
            range,
            blocks_of(s, book),
        )
    }

    /// A run written in batches, a document's passages split between two of
    /// them, stores what the same run written at once stores: the same codings
    /// with the same ids, and the same blocks (or, as rows, the same ranges).
    #[test]
    fn a_run_written_in_batches_stores_what_it_stores_written_at_once() {
        let book = ("a", "1", "A", "");
        let whole = run_by_document(30, 3);
        for as_rows in [false, true] {
            let (_d1, mut at_once) = store_with_codings(2);
            if as_rows {
                replace_as_rows(&mut at_once, book, &whole).unwrap();
            } else {
                at_once.replace_machine_codings(book, &whole).unwrap();
            }
            let expected = run_state(&at_once, "a");
            assert_eq!(expected.0.len(), 2 + 90);
            // Passages of 5 documents: a range or a block each.
            assert_eq!(expected.1.len(), if as_rows { 5 } else { 0 });
            assert_eq!(expected.3.len(), if as_rows { 0 } else { 5 });
            for per in [1, 4, 10, 30] {
                let (_d2, mut s) = store_with_codings(2);
                let mut run = if as_rows {
                    s.begin_machine_run_as_rows(book).unwrap()
                } else {
                    s.begin_machine_run(book).unwrap()
                };
                for b in batches(&whole, per) {
                    run.write(&b).unwrap();
                }
                assert_eq!(run.finish().unwrap(), 0);
                assert_eq!(run_state(&s, "a"), expected, "{per} passages a batch");
                assert_eq!(documented_commits(&s), commits(&s));
            }
        }
    }

    /// A run that ends before it is finished (an error, Ctrl-C, a crash) leaves
    /// the previous run's codings and ranges as they were, and a later run
    /// replaces them as usual.
    #[test]
    fn a_run_dropped_before_it_finishes_changes_nothing() {
        let book = ("a", "1", "A", "");
        let (_dir, mut s) = store_with_codings(2);
        s.replace_machine_codings(book, &run_by_document(20, 2))
            .unwrap();
        let before = run_state(&s, "a");
        let commits_before = commits(&s);
        {
            let mut run = s.begin_machine_run(book).unwrap();
            run.write(&batches(&run_by_document(30, 3), 10)[0]).unwrap();
        }
        assert_eq!(run_state(&s, "a"), before);
        assert_eq!(commits(&s), commits_before);
        assert_eq!(
            s.replace_machine_codings(book, &run_by_document(30, 3))
                .unwrap(),
            40
        );
        assert_eq!(run_state(&s, "a").0.len(), 2 + 90);
    }

    /// Every batch of a run codes with the run's codebook: one that names
    /// another number of rules is refused, and the run can still be dropped.
    #[test]
    fn a_batch_with_other_rules_than_its_run_is_refused() {
        let book = ("a", "1", "A", "");
        let (_dir, mut s) = store_with_codings(2);
        s.replace_machine_codings(book, &run_by_document(7, 2))
            .unwrap();
        let before = run_state(&s, "a");
        {
            let mut run = s.begin_machine_run(book).unwrap();
            run.write(&run_by_document(7, 2)).unwrap();
            let e = run.write(&run_by_document(7, 3)).unwrap_err();
            assert!(
                e.message.contains("names 3 rules, the run's first named 2"),
                "{e}"
            );
            // From a failed batch on, the run is over.
            let e = run.write(&run_by_document(7, 2)).unwrap_err();
            assert!(e.message.contains("cannot go on"), "{e}");
            let e = run.finish().unwrap_err();
            assert!(e.message.contains("cannot go on"), "{e}");
        }
        assert_eq!(run_state(&s, "a"), before);
    }

    /// A batch that fails halfway has written its first rows: the run cannot
    /// be finished, and dropping it leaves the previous run as it was.
    #[test]
    fn a_run_whose_batch_failed_halfway_cannot_be_finished() {
        let book = ("a", "1", "A", "");
        let (dir, mut s) = store_with_codings(2);
        s.replace_machine_codings(book, &run_by_document(7, 2))
            .unwrap();
        let before = run_state(&s, "a");
        let mut bad = run_by_document(7, 2);
        bad.rows[3].passage = 99;
        {
            let mut run = s.begin_machine_run(book).unwrap();
            let e = run.write(&bad).unwrap_err();
            assert!(
                e.message.contains("machine coding names passage 99, of 7"),
                "{e}"
            );
            assert_eq!(e.path, dir.path().join("store.sqlite"));
            let e = run.finish().unwrap_err();
            assert!(e.message.contains("cannot go on"), "{e}");
        }
        assert_eq!(run_state(&s, "a"), before);
    }

    /// Columns of codings with these ids and stored spans ("" for none).
    fn columns(ids: &[i64], spans: &[&str]) -> CodingColumns {
        let mut c = CodingColumns::with_capacity(ids.len());
        for (&id, &sp) in ids.iter().zip(spans) {
            c.id.push(id);
            c.passage.push(id as u32);
            c.document.push(1);
            c.code.push(2);
            c.start.push(id * 10);
            c.end.push(id * 10 + 1);
            c.coder.push(3);
            c.machine.push(id % 2 == 0);
            c.rule.push(4);
            c.codebook.push(5);
            c.codebook_version.push(6);
            c.created_at.push(7);
            c.spans_text.push_str(sp);
            c.spans_end.push(c.spans_text.len());
        }
        c
    }

    fn ids_and_spans(c: &CodingColumns) -> Vec<(i64, u32, i64, String)> {
        (0..c.len())
            .map(|i| (c.id[i], c.passage[i], c.start[i], c.spans_json(i)))
            .collect()
    }

    /// Rows and blocks merge into one id order, runs of either copied whole,
    /// their spans with them; out-of-order input is sorted.
    #[test]
    fn codings_of_rows_and_blocks_merge_in_id_order() {
        let a = columns(&[1, 2, 7, 8, 20], &["", "[[1,2]]", "", "[[3,4],[5,6]]", ""]);
        let b = columns(
            &[3, 4, 5, 9, 21, 22],
            &["[[7,8]]", "", "", "", "[[9,9]]", ""],
        );
        let merged = ids_and_spans(&merge_by_id(a, b));
        let ids: Vec<i64> = merged.iter().map(|m| m.0).collect();
        assert_eq!(ids, vec![1, 2, 3, 4, 5, 7, 8, 9, 20, 21, 22]);
        assert_eq!(merged[1].3, "[[1,2]]");
        assert_eq!(merged[2].3, "[[7,8]]");
        assert_eq!(merged[3].3, "[[40,41]]");
        assert_eq!(merged[6].3, "[[3,4],[5,6]]");
        assert_eq!(merged[9].3, "[[9,9]]");
        assert!(merged.iter().all(|m| m.1 as i64 == m.0 && m.2 == m.0 * 10));
        let unsorted = merge_by_id(
            columns(&[8, 1], &["[[3,4]]", ""]),
            columns(&[5, 2], &["", "[[1,1]]"]),
        );
        assert_eq!(
            ids_and_spans(&unsorted),
            vec![
                (1, 1, 10, "[[10,11]]".to_string()),
                (2, 2, 20, "[[1,1]]".to_string()),
                (5, 5, 50, "[[50,51]]".to_string()),
                (8, 8, 80, "[[3,4]]".to_string()),
            ]
        );
        assert!(merge_by_id(columns(&[], &[]), columns(&[], &[])).is_empty());
    }

    /// A run keeps its codings in one block per document, none of them a row;
    /// they read back with consecutive ids after the human codings, spans and
    /// all, and the human codings added later take ids above the blocks.
    #[test]
    fn a_run_keeps_its_codings_in_blocks_and_later_codings_take_ids_above_them() {
        let (_dir, mut s) = store_with_codings(3);
        let mut m = run_by_document(30, 3);
        // One coding with two spans.
        m.spans.push((5, 6));
        m.spans.push((8, 9));
        m.rows[4].spans = (m.spans.len() - 2, m.spans.len());
        assert_eq!(
            s.replace_machine_codings(("a", "1", "A", ""), &m).unwrap(),
            0
        );
        assert_eq!(machine_rows(&s), 0);
        let blocks = blocks_of(&s, "a");
        assert_eq!(blocks.len(), 5);
        assert_eq!(blocks.iter().map(|b| b.3).sum::<i64>(), 90);
        let all = rows(&s.coding_columns(None).unwrap());
        let ids: Vec<i64> = all.iter().map(|r| r.0).collect();
        assert_eq!(ids, (1..=93).collect::<Vec<i64>>());
        let machine = &all[3..];
        assert_eq!(machine[0].1, "d0#p0");
        assert_eq!(machine[0].2, "kode.0");
        assert_eq!(machine[0].3, "machine:bok");
        assert_eq!(machine[0].4, "[[0,2]]");
        assert_eq!(machine[4].4, "[[5,6],[8,9]]");
        assert_eq!(machine[89].1, "d4#p29");
        // A human coding added now takes the id after the last block.
        s.add_codings(&[coding(5, "kari")]).unwrap();
        let id = s.add_coding(&coding(6, "ola")).unwrap();
        assert_eq!(id, 95);
        // A second codebook's run goes after them; every id is read once, in order.
        s.replace_machine_codings(("b", "1", "B", ""), &machine_run(2, 2))
            .unwrap();
        let ids: Vec<i64> = rows(&s.coding_columns(None).unwrap())
            .iter()
            .map(|r| r.0)
            .collect();
        assert_eq!(ids, (1..=99).collect::<Vec<i64>>());
        // The same on two threads.
        let split: Vec<i64> = rows(&s.coding_columns_split(None, 2).unwrap())
            .iter()
            .map(|r| r.0)
            .collect();
        assert_eq!(split, ids);
        // Coder filters see the blocks' coder.
        assert_eq!(s.coding_columns(Some("machine")).unwrap().len(), 94);
        assert_eq!(s.coding_columns(Some("human")).unwrap().len(), 5);
        assert_eq!(s.coding_columns(Some("machine:bok")).unwrap().len(), 94);
        assert_eq!(s.coding_columns(Some("kari")).unwrap().len(), 3);
    }

    /// A rerun replaces the codebook's blocks and any rows an older build
    /// wrote for it, and counts both; other codebooks and human codings stay.
    #[test]
    fn a_rerun_replaces_its_blocks_and_the_rows_of_an_older_build() {
        let (_dir, mut s) = store_with_codings(2);
        let (a, b) = (("a", "1", "A", ""), ("b", "1", "B", ""));
        replace_as_rows(&mut s, a, &machine_run(5, 2)).unwrap();
        s.replace_machine_codings(b, &machine_run(4, 1)).unwrap();
        assert_eq!(machine_rows(&s), 10);
        assert_eq!(
            s.replace_machine_codings(a, &machine_run(3, 3)).unwrap(),
            10
        );
        assert_eq!(machine_rows(&s), 0);
        assert!(runs(&s).is_empty());
        assert_eq!(s.coding_columns(None).unwrap().len(), 2 + 4 + 9);
        assert_eq!(s.replace_machine_codings(a, &machine_run(1, 1)).unwrap(), 9);
        assert_eq!(s.replace_machine_codings(b, &machine_run(0, 1)).unwrap(), 4);
        assert!(blocks_of(&s, "b").is_empty());
        let all = rows(&s.coding_columns(None).unwrap());
        assert_eq!(all.len(), 3, "{all:?}");
    }

    /// A machine coding in a block can be removed by its id, like any coding;
    /// a block whose last coding goes is dropped, and the ids of the rest stay.
    #[test]
    fn a_machine_coding_in_a_block_is_removed_by_its_id() {
        let (_dir, mut s) = store_with_codings(1);
        s.replace_machine_codings(("a", "1", "A", ""), &machine_run(2, 2))
            .unwrap();
        // m0#p0 takes ids 2 and 3, m1#p1 4 and 5: one block each.
        assert_eq!(blocks_of(&s, "a").len(), 2);
        assert!(s.remove_coding(2).unwrap());
        assert!(!s.remove_coding(2).unwrap());
        assert!(s.remove_coding(5).unwrap());
        let ids: Vec<i64> = rows(&s.coding_columns(None).unwrap())
            .iter()
            .map(|r| r.0)
            .collect();
        assert_eq!(ids, vec![1, 3, 4]);
        assert!(s.remove_coding(3).unwrap());
        assert_eq!(blocks_of(&s, "a"), vec![("m1".into(), 4, 5, 1)]);
        assert!(!s.remove_coding(99).unwrap());
        assert!(s.remove_coding(1).unwrap());
        assert_eq!(rows(&s.coding_columns(None).unwrap()).len(), 1);
    }

    /// Machine codings in blocks move with their passage when the document is
    /// ingested again with earlier text changed; those of a passage that did not
    /// move stay.
    #[test]
    fn machine_codings_in_blocks_move_with_their_passages() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&dir.path().join("store.sqlite")).unwrap();
        s.write_batch(&[document("d1", "a.txt", &["p1", "p2"])])
            .unwrap();
        let mut m = one_coding("p2", "d1", 4);
        m.passages.push(("p1".into(), "d1".into()));
        m.spans = vec![(4, 6), (0, 2), (4, 5), (5, 6)];
        m.rows.push(MachineCoding {
            passage: 1,
            rule: 0,
            start: 0,
            end: 2,
            spans: (1, 2),
        });
        m.rows.push(MachineCoding {
            passage: 0,
            rule: 0,
            start: 4,
            end: 6,
            spans: (2, 4),
        });
        s.replace_machine_codings(("a", "1", "A", ""), &m).unwrap();
        assert_eq!(machine_rows(&s), 0);
        s.write_batch(&[document("d1", "a.txt", &["p1", "p0", "p2"])])
            .unwrap();
        let c = s.coding_columns(None).unwrap();
        // p2 moved from 4 to 8; p1 stayed.
        assert_eq!(c.start, vec![8, 0, 8]);
        assert_eq!(c.end, vec![10, 2, 10]);
        assert_eq!(c.spans_json(1), "[[0,2]]");
        assert_eq!(c.spans_json(2), "[[8,9],[9,10]]");
    }

    /// Passages with the ids ingest makes are kept in blocks by the ids' bits,
    /// without a label each; they read back as the same ids, beside human
    /// codings of the same passages, and move with their passages.
    #[test]
    fn passages_with_ingest_ids_need_no_label_and_still_read_and_move() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&dir.path().join("store.sqlite")).unwrap();
        let (p1, p2) = ("p00000000000000a1", "pffffffff000000a2");
        s.write_batch(&[document("d1", "a.txt", &[p1, p2])])
            .unwrap();
        let labels = |s: &Store| -> i64 {
            s.conn
                .query_row("SELECT count(*) FROM labels", [], |r| r.get(0))
                .unwrap()
        };
        let mut m = one_coding(p2, "d1", 19);
        m.passages.push((p1.into(), "d1".into()));
        m.spans.push((1, 3));
        m.rows.push(MachineCoding {
            passage: 1,
            rule: 0,
            start: 1,
            end: 3,
            spans: (1, 2),
        });
        let before = labels(&s);
        s.replace_machine_codings(("a", "1", "A", ""), &m).unwrap();
        // The codebook, its version, the time, the coder, the code, the rule and
        // the document: no passage.
        assert_eq!(labels(&s) - before, 7);
        s.add_coding(&NewCoding {
            passage_id: p2.into(),
            document_id: "d1".into(),
            code_id: "k".into(),
            start: 19,
            end: 21,
            spans: vec![(19, 21)],
            coder: "kari".into(),
            machine: false,
            rule: None,
        })
        .unwrap();
        let c = s.coding_columns(None).unwrap();
        let passages: Vec<&str> = c.passage.iter().map(|&l| c.labels.get(l)).collect();
        assert_eq!(passages, vec![p2, p1, p2]);
        assert_eq!(c.start, vec![19, 1, 19]);
        // The first passage grows by two characters: both codings of p2 move.
        let longer = format!("{p1}xx");
        let mut d = document("d1", "a.txt", &[p1, p2]);
        d.passages[1].start += 2;
        d.passages[1].end += 2;
        d.text = format!("{longer}\n\n{p2}");
        d.content_hash = "h-2".into();
        s.write_batch(&[d]).unwrap();
        let c = s.coding_columns(None).unwrap();
        assert_eq!(c.start, vec![21, 1, 21]);
        assert_eq!(c.end, vec![23, 3, 23]);
        let rows_of = |s: &Store| rows(&s.coding_columns(Some("machine")).unwrap());
        assert_eq!(rows_of(&s)[0].1, p2);
        assert!(s.remove_coding(c.id[0]).unwrap());
        assert_eq!(rows_of(&s).len(), 1);
        assert_eq!(rows_of(&s)[0].1, p1);
    }

    /// A block whose bytes are damaged is an error that names it, not a panic    /// A block whose bytes are damaged is an error that names it, not a panic
    /// and not codings made up.
    #[test]
    fn a_damaged_block_is_an_error_naming_it() {
        let (dir, mut s) = store_with_codings(1);
        s.replace_machine_codings(("a", "1", "A", ""), &machine_run(1, 2))
            .unwrap();
        s.conn
            .execute_batch("UPDATE machine_blocks SET codings = substr(codings, 1, 5)")
            .unwrap();
        let e = s.coding_columns(None).unwrap_err();
        assert!(
            e.message
                .contains("machine-coding block at id 2: truncated"),
            "{e}"
        );
        assert_eq!(e.path, dir.path().join("store.sqlite"));
        assert!(s.remove_coding(3).is_err());
        // A rerun replaces it.
        s.replace_machine_codings(("a", "1", "A", ""), &machine_run(1, 1))
            .unwrap();
        assert_eq!(s.coding_columns(None).unwrap().len(), 2);
    }

    /// An archive of version 7 gets the table of blocks; its machine codings
    /// stay rows, read and moved as before, until their codebook runs again.
    #[test]
    fn archive_of_schema_version_7_keeps_its_rows_until_the_next_run() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.sqlite");
        let mut s = Store::open(&path).unwrap();
        s.write_batch(&[document("d1", "a.txt", &["p1", "p2"])])
            .unwrap();
        let book = ("a", "1", "A", "");
        replace_as_rows(&mut s, book, &one_coding("p2", "d1", 4)).unwrap();
        s.conn
            .execute_batch(
                "DROP TABLE machine_blocks;
                 UPDATE state SET value = '7' WHERE key = 'schema_version';",
            )
            .unwrap();
        drop(s);
        let mut s = Store::open(&path).unwrap();
        assert_eq!(s.schema_version().unwrap(), Some(SCHEMA_VERSION));
        assert_eq!(machine_rows(&s), 1);
        s.write_batch(&[document("d1", "a.txt", &["p1xx", "p2"])])
            .unwrap();
        assert_eq!(s.coding_columns(None).unwrap().start, vec![6]);
        assert_eq!(
            s.replace_machine_codings(book, &one_coding("p2", "d1", 6))
                .unwrap(),
            1
        );
        assert_eq!(machine_rows(&s), 0);
        assert_eq!(blocks_of(&s, "a").len(), 1);
    }

    /// Without WAL a reader's lock would keep a writer from spilling its pages,
    /// so there is no passage reader then.
    #[test]
    fn there_is_no_passage_reader_without_wal() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("store.sqlite")).unwrap();
        assert!(s.passage_reader().unwrap().is_some());
        s.set_journal_mode("DELETE");
        assert!(s.passage_reader().unwrap().is_none());
    }

    /// The passage reader sees what the store's own scan sees, also while a
    /// machine run holds the store's connection.
    #[test]
    fn a_passage_reader_scans_while_a_run_writes() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&dir.path().join("store.sqlite")).unwrap();
        s.write_batch(&[
            document("d1", "a.txt", &["p1", "p2"]),
            document("d2", "b.txt", &["p3"]),
        ])
        .unwrap();
        let row = |p: PassageView<'_>| {
            (
                p.id.to_string(),
                p.document_id.to_string(),
                p.text.to_string(),
            )
        };
        let mut own = Vec::new();
        s.scan_passages(false, |p| {
            own.push(row(p));
            Ok(true)
        })
        .unwrap();
        assert_eq!(own.len(), 3);
        let reader = s.passage_reader().unwrap().unwrap();
        let mut run = s.begin_machine_run(("a", "1", "A", "")).unwrap();
        run.write(&one_coding("p2", "d1", 4)).unwrap();
        let mut read = Vec::new();
        reader
            .scan(false, |p| {
                read.push(row(p));
                Ok(true)
            })
            .unwrap();
        assert_eq!(read, own);
        run.finish().unwrap();
    }

    /// Writes about 20 MB in one commit: more than [`checkpoint::WAL_PAGES`]
    /// pages in the log.
    fn large_commit(s: &Store) {
        s.execute_for_test(
            "CREATE TABLE IF NOT EXISTS big(b BLOB);
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200)
             INSERT INTO big SELECT randomblob(100000) FROM n;",
        );
    }

    fn file_size(path: &Path) -> u64 {
        std::fs::metadata(path).map_or(0, |m| m.len())
    }

    /// The rows of `table` (a name the test chose) in the store.
    fn rows_in(s: &Store, table: &str) -> i64 {
        s.conn
            .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
            .unwrap()
    }

    /// A new store whose log is checkpointed after commits that leave
    /// `checkpoint_pages` in it, and its database file's path.
    fn store_checkpointed_at(checkpoint_pages: i32) -> (tempfile::TempDir, PathBuf, Store) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.sqlite");
        let s = Store::open_with(&path, checkpoint_pages).unwrap();
        (dir, path, s)
    }

    #[test]
    fn a_large_commit_is_copied_into_the_database_file_by_the_checkpoint_thread() {
        let (_dir, path, s) = store_checkpointed_at(checkpoint::WAL_PAGES);
        let checkpointer = s.checkpointer.clone().expect("the WAL callback is set");
        s.execute_for_test("CREATE TABLE small(x); INSERT INTO small VALUES (1);");
        assert!(
            !checkpointer.started(),
            "a small commit starts no checkpoint"
        );
        large_commit(&s);
        assert!(checkpointer.started());
        let until = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while checkpointer.complete() == 0 && std::time::Instant::now() < until {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert_eq!(checkpointer.complete(), 1);
        // While the store is still open, the pages are in the database file.
        assert!(file_size(&path) > 20_000_000, "{}", file_size(&path));
        let n = rows_in(&s, "big");
        assert_eq!(n, 200);
    }

    #[test]
    fn once_the_checkpoint_thread_has_stopped_a_large_commit_checkpoints_in_place() {
        let (_dir, path, s) = store_checkpointed_at(checkpoint::WAL_PAGES);
        let checkpointer = s.checkpointer.clone().expect("the WAL callback is set");
        checkpointer.stop();
        large_commit(&s);
        // Copied before the commit returned, as SQLite's own checkpoint does.
        assert!(file_size(&path) > 20_000_000, "{}", file_size(&path));
        assert!(!checkpointer.started());
    }

    #[test]
    fn commits_faster_than_the_checkpoint_thread_do_not_grow_the_log_without_bound() {
        // A checkpoint after every commit that leaves 8 pages or more (of 16
        // KiB) in the log.
        let (dir, _path, s) = store_checkpointed_at(8);
        s.execute_for_test("CREATE TABLE t(b BLOB)");
        let wal = dir.path().join("store.sqlite-wal");
        let mut largest = 0;
        for _ in 0..300 {
            // About ten pages a commit, one after the other: the log starts
            // again only when a transaction begins after a checkpoint copied
            // all of it.
            s.execute_for_test("INSERT INTO t VALUES (randomblob(150000))");
            largest = largest.max(file_size(&wal));
        }
        // Three thousand pages were logged (49 MB); the log held at most a few
        // times the threshold and one commit.
        assert!(largest < 3_000_000, "the log grew to {largest} bytes");
        let n = rows_in(&s, "t");
        assert_eq!(n, 300);
    }

    #[test]
    fn a_store_closed_while_its_thread_checkpoints_reopens_with_every_commit() {
        let (dir, path, s) = store_checkpointed_at(checkpoint::WAL_PAGES);
        large_commit(&s);
        large_commit(&s);
        // Dropped at once: the thread is still copying the second commit.
        drop(s);
        assert!(!dir.path().join("store.sqlite-wal").exists());
        let s = Store::open(&path).unwrap();
        let n = rows_in(&s, "big");
        assert_eq!(n, 400);
    }
}
