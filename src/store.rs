//! The record of truth: documents, their metadata and passages in SQLite (WAL).
//! Every write goes through one transaction and bumps the store generation, which
//! the index records in its commits so that a stale index is detected on open.
//!
//! Knows nothing of tantivy or of file formats.

use rusqlite::{params, Connection, OptionalExtension, Transaction};
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

pub const SCHEMA_VERSION: i64 = 1;

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
    id TEXT NOT NULL UNIQUE,
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
CREATE TABLE IF NOT EXISTS codings (
    id INTEGER PRIMARY KEY,
    passage_id TEXT NOT NULL,
    document_id TEXT NOT NULL,
    code_id TEXT NOT NULL,
    start INTEGER NOT NULL,
    \"end\" INTEGER NOT NULL,
    spans TEXT NOT NULL,
    coder TEXT NOT NULL,
    machine INTEGER NOT NULL,
    rule TEXT,
    codebook_id TEXT,
    codebook_version TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS codings_by_passage ON codings(passage_id);
CREATE INDEX IF NOT EXISTS codings_by_machine ON codings(machine, codebook_id);
CREATE TABLE IF NOT EXISTS memos (
    id INTEGER PRIMARY KEY,
    target_kind TEXT NOT NULL,
    target_id TEXT NOT NULL,
    author TEXT NOT NULL,
    text TEXT NOT NULL,
    created_at TEXT NOT NULL
);
";

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
        let mk = |e: rusqlite::Error| StoreError {
            path: path.to_path_buf(),
            message: e.to_string(),
        };
        let conn = Connection::open(path).map_err(mk)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(mk)?;
        conn.execute_batch(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;",
        )
        .map_err(mk)?;
        let store = Store {
            conn,
            path: path.to_path_buf(),
        };
        store.conn.execute_batch(SCHEMA).map_err(|e| store.err(e))?;
        let version: Option<String> = store
            .conn
            .query_row(
                "SELECT value FROM state WHERE key='schema_version'",
                [],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| store.err(e))?;
        match version {
            None => {
                store
                    .conn
                    .execute(
                        "INSERT INTO state(key, value) VALUES ('schema_version', ?1), ('generation', '0')",
                        [SCHEMA_VERSION.to_string()],
                    )
                    .map_err(|e| store.err(e))?;
            }
            Some(v) if v != SCHEMA_VERSION.to_string() => {
                return Err(store.err(format!(
                "archive schema version {v} is not supported (this build reads {SCHEMA_VERSION})"
            )))
            }
            _ => {}
        }
        Ok(store)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The number of committed write transactions.
    pub fn generation(&self) -> Result<u64, StoreError> {
        let v: String = self
            .conn
            .query_row("SELECT value FROM state WHERE key='generation'", [], |r| {
                r.get(0)
            })
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
        let tx = self.conn.transaction().map_err(mk)?;
        let mut rowids = Vec::with_capacity(docs.len());
        for d in docs {
            rowids.push(write_document(&tx, d).map_err(mk)?);
        }
        let generation = bump_generation(&tx).map_err(mk)?;
        tx.commit().map_err(mk)?;
        Ok((generation, rowids))
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
        tx.commit().map_err(mk)?;
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

    /// Names of all metadata fields in use, sorted.
    pub fn metadata_fields(&self) -> Result<Vec<String>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT DISTINCT field FROM document_meta ORDER BY field")
            .map_err(|e| self.err(e))?;
        let rows = stmt.query_map([], |r| r.get(0)).map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
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
        rows: &[NewCoding],
    ) -> Result<usize, StoreError> {
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
        let removed = tx
            .execute(
                "DELETE FROM codings WHERE machine = 1 AND codebook_id = ?1",
                [id],
            )
            .map_err(mk)?;
        {
            let mut stmt = tx
                .prepare_cached(
                    "INSERT INTO codings(passage_id, document_id, code_id, start, \"end\", spans, coder, machine, rule,
                                         codebook_id, codebook_version, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 1, ?8, ?9, ?10, ?11)",
                )
                .map_err(mk)?;
            let now = now_iso();
            for r in rows {
                let spans = serde_json::to_string(&r.spans).unwrap_or_default();
                stmt.execute(params![
                    r.passage_id,
                    r.document_id,
                    r.code_id,
                    r.start,
                    r.end,
                    spans,
                    r.coder,
                    r.rule,
                    id,
                    version,
                    now
                ])
                .map_err(mk)?;
            }
        }
        tx.commit().map_err(mk)?;
        Ok(removed)
    }

    /// Add one human coding; returns its id.
    pub fn add_coding(&mut self, c: &NewCoding) -> Result<i64, StoreError> {
        let spans = serde_json::to_string(&c.spans).unwrap_or_default();
        self.conn
            .execute(
                "INSERT INTO codings(passage_id, document_id, code_id, start, \"end\", spans, coder, machine, rule,
                                     codebook_id, codebook_version, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, NULL, NULL, ?10)",
                params![c.passage_id, c.document_id, c.code_id, c.start, c.end, spans, c.coder, c.machine, c.rule, now_iso()],
            )
            .map_err(|e| self.err(e))?;
        Ok(self.conn.last_insert_rowid())
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
            let mut stmt = tx
                .prepare_cached(
                    "INSERT INTO codings(passage_id, document_id, code_id, start, \"end\", spans, coder, machine, rule,
                                         codebook_id, codebook_version, created_at)
                     SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, 0, NULL, NULL, NULL, ?8
                     WHERE NOT EXISTS (SELECT 1 FROM codings WHERE passage_id = ?1 AND code_id = ?3 AND coder = ?7
                                       AND start = ?4 AND \"end\" = ?5)",
                )
                .map_err(mk)?;
            let now = now_iso();
            for r in rows {
                let spans = serde_json::to_string(&r.spans).unwrap_or_default();
                added += stmt
                    .execute(params![
                        r.passage_id,
                        r.document_id,
                        r.code_id,
                        r.start,
                        r.end,
                        spans,
                        r.coder,
                        now
                    ])
                    .map_err(mk)?;
            }
        }
        tx.commit().map_err(mk)?;
        Ok(added)
    }

    /// Remove a coding by id; returns whether it existed.
    pub fn remove_coding(&mut self, id: i64) -> Result<bool, StoreError> {
        let n = self
            .conn
            .execute("DELETE FROM codings WHERE id = ?1", [id])
            .map_err(|e| self.err(e))?;
        Ok(n > 0)
    }

    pub fn codings(&self) -> Result<Vec<CodingRow>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT id, passage_id, document_id, code_id, start, \"end\", spans, coder, machine, rule,
                        codebook_id, codebook_version, created_at FROM codings ORDER BY id",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok(CodingRow {
                    id: r.get(0)?,
                    passage_id: r.get(1)?,
                    document_id: r.get(2)?,
                    code_id: r.get(3)?,
                    start: r.get(4)?,
                    end: r.get(5)?,
                    spans: r.get(6)?,
                    coder: r.get(7)?,
                    machine: r.get::<_, i64>(8)? != 0,
                    rule: r.get(9)?,
                    codebook_id: r.get(10)?,
                    codebook_version: r.get(11)?,
                    created_at: r.get(12)?,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
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
        self.conn
            .execute(
                "INSERT INTO memos(target_kind, target_id, author, text, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![kind, target, author, text, now_iso()],
            )
            .map_err(|e| self.err(e))?;
        Ok(self.conn.last_insert_rowid())
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

/// Shift the offsets of codings on passages that exist in both the old and the new
/// version of a document by how far the passage moved. Codings on passages that no
/// longer exist are kept as they are (their passage id no longer resolves).
fn rebase_codings(
    tx: &Transaction,
    d: &NewDocument,
    old_starts: &std::collections::HashMap<String, i64>,
) -> rusqlite::Result<()> {
    let mut select =
        tx.prepare_cached("SELECT id, start, \"end\", spans FROM codings WHERE passage_id = ?1")?;
    let mut update = tx.prepare_cached(
        "UPDATE codings SET start = ?2, \"end\" = ?3, spans = ?4, document_id = ?5 WHERE id = ?1",
    )?;
    for p in &d.passages {
        let Some(old) = old_starts.get(&p.id) else {
            continue;
        };
        let delta = p.start as i64 - old;
        if delta == 0 {
            continue;
        }
        let rows: Vec<(i64, i64, i64, String)> = select
            .query_map([&p.id], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })?
            .collect::<rusqlite::Result<_>>()?;
        for (id, start, end, spans) in rows {
            let spans: Vec<(i64, i64)> = serde_json::from_str(&spans).unwrap_or_default();
            let spans: Vec<(i64, i64)> = spans
                .into_iter()
                .map(|(a, b)| (a + delta, b + delta))
                .collect();
            update.execute(params![
                id,
                start + delta,
                end + delta,
                serde_json::to_string(&spans).unwrap_or_default(),
                d.id
            ])?;
        }
    }
    Ok(())
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

fn write_document(tx: &Transaction, d: &NewDocument) -> rusqlite::Result<Vec<i64>> {
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
        rebase_codings(tx, d, &old_starts)?;
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
