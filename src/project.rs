//! An archive on disk: a directory holding the store (`store.sqlite`), the derived
//! index (`index/`) and a write lock (`write.lock`). This is the public face of the
//! core: ingest, reindex, tables, search and KWIC.
//!
//! Writes go store first, then index; the index is rebuilt from the store whenever
//! the two disagree.

use crate::analysis::ANALYSIS_VERSION;
use crate::codebook::{Codebook, Context, Matchers};
use crate::error::{Error, Result};
use crate::index::{DocumentFields, IndexUpdate, PassageFields, SearchIndex, FACETS};
use crate::ingest::{self, STANDARD_FIELDS};
use crate::progress::Progress;
use crate::search::{self, marks_at, snippet};
use crate::store::{
    MachineCoding, MachineCodings, MachineRun, NewCoding, NewDocument, PassageRow, Store,
    StoreError,
};
use crate::table::{build_columns, views_over, ColumnJob, LabelViews, TableBuilder};
use arrow_array::{ArrayRef, Int64Array, RecordBatch};
use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

const MARKER: &str = "innsikt-archive.json";
const BATCH_DOCS: usize = 256;

/// Documents per ingest transaction: 256, or `INNSIKT_BATCH_DOCUMENTS` (the crash
/// harness uses small batches so that kills land between commits).
fn batch_docs() -> usize {
    std::env::var("INNSIKT_BATCH_DOCUMENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(BATCH_DOCS)
}
const BATCH_BYTES: usize = 32 * 1024 * 1024;

/// What an ingest did.
#[derive(Debug, Default, Clone)]
pub struct IngestReport {
    pub added: u64,
    pub updated: u64,
    pub unchanged: u64,
    /// (file or file:line, message) for everything that could not be ingested.
    pub errors: Vec<(String, String)>,
    /// (document key, "added" | "updated" | "unchanged")
    pub documents: Vec<(String, String)>,
    pub passages: u64,
}

impl IngestReport {
    /// Take back a document that was stored and then removed because one of its
    /// passage ids collided with an earlier passage's.
    fn remove_collision(&mut self, c: &crate::store::Collision) {
        if let Some(i) = self.documents.iter().rposition(|(k, _)| *k == c.key) {
            let (_, status) = self.documents.remove(i);
            match status.as_str() {
                "added" => self.added = self.added.saturating_sub(1),
                _ => self.updated = self.updated.saturating_sub(1),
            }
            self.passages = self.passages.saturating_sub(c.passages);
        }
        self.errors.push((
            c.key.clone(),
            format!(
                "passage {} has the id of a passage stored earlier (two 64-bit hashes agree); the document was removed from the archive",
                c.passage_id
            ),
        ));
    }
}

/// An ingest that will write at least this many batches ...
const BULK_BATCHES: u64 = 4;
/// ... and brings at least this many bytes of files per passage already stored
/// drops the passage id index and sorts it anew at the end.
const BULK_BYTES_PER_PASSAGE: u64 = 100;

/// Whether an ingest whose files still to write are `files` files of `bytes`
/// bytes, into an archive of `stored` passages, should drop the passage id index
/// for its duration. Passage ids are hashes: each batch of new passages touches
/// leaf pages all over that index, so a large archive rewrites most of it per
/// batch, while making it anew is one sort of all ids.
fn bulk_ingest(files: u64, bytes: u64, batch_docs: u64, stored: u64) -> bool {
    let batches = files
        .div_ceil(batch_docs.max(1))
        .max(bytes.div_ceil(BATCH_BYTES as u64));
    batches >= BULK_BATCHES && bytes >= BULK_BYTES_PER_PASSAGE.saturating_mul(stored)
}

/// What an autocoding run did.
#[derive(Debug, Default, Clone)]
pub struct AutocodeReport {
    pub passages: u64,
    pub codings: u64,
    /// Machine codings of earlier runs with this codebook that were replaced.
    pub replaced: u64,
    /// code id -> number of codings
    pub by_code: BTreeMap<String, u64>,
    /// Rules that matched nothing in the archive: (code id, rule id).
    pub silent_rules: Vec<(String, String)>,
}

/// The machine coder's name for a codebook.
pub fn machine_coder(codebook_id: &str) -> String {
    format!("auto:{codebook_id}")
}

/// A search's hits, their passages and the words to mark in each.
struct Marked {
    found: search::Found,
    rows: Vec<PassageRow>,
    /// By hit, as [`search::Found::marked_words`] gives them.
    words: Vec<Vec<u32>>,
    /// A passage's rowid → its hit.
    hit_of: std::collections::HashMap<i64, usize>,
}

impl Marked {
    /// The code-point spans of the words to mark in `row`.
    fn marks(&self, row: &PassageRow) -> Vec<(usize, usize)> {
        let at = self
            .hit_of
            .get(&row.rowid)
            .map_or(&[][..], |&i| &self.words[i][..]);
        marks_at(&row.text, at)
    }
}

/// Search results as a table, with the total hit count and facet counts.
pub struct SearchResult {
    pub table: RecordBatch,
    pub total: usize,
    pub facets: BTreeMap<String, Vec<(String, u64)>>,
}

pub struct Project {
    root: PathBuf,
    store: Store,
    index: SearchIndex,
    /// Things worth telling the user about opening the archive (e.g. a rebuilt index).
    pub notes: Vec<String>,
}

/// Held while writing; released when dropped (and by the OS if the process dies).
struct WriteLock {
    _file: File,
}

fn lock(root: &Path) -> Result<WriteLock> {
    let path = root.join("write.lock");
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| Error::io(&path, e))?;
    match file.try_lock() {
        Ok(()) => {
            file.set_len(0).map_err(|e| Error::io(&path, e))?;
            file.rewind().map_err(|e| Error::io(&path, e))?;
            write!(file, "{}", std::process::id()).map_err(|e| Error::io(&path, e))?;
            file.flush().map_err(|e| Error::io(&path, e))?;
            Ok(WriteLock { _file: file })
        }
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut pid = String::new();
            let _ = File::open(&path).and_then(|mut f| f.read_to_string(&mut pid));
            let pid = pid.trim();
            Err(Error::Locked {
                path: root.to_path_buf(),
                pid: if pid.is_empty() {
                    "unknown".into()
                } else {
                    pid.to_string()
                },
            })
        }
        Err(std::fs::TryLockError::Error(e)) => Err(Error::io(&path, e)),
    }
}

impl Project {
    /// Create a new, empty archive directory (it may exist but must be empty).
    pub fn create(path: impl AsRef<Path>) -> Result<Project> {
        let root = path.as_ref().to_path_buf();
        if root.join(MARKER).exists() || root.join("store.sqlite").exists() {
            return Err(Error::Exists(root));
        }
        if root.exists()
            && std::fs::read_dir(&root)
                .map_err(|e| Error::io(&root, e))?
                .next()
                .is_some()
        {
            return Err(Error::Invalid(format!(
                "{} exists and is not empty",
                root.display()
            )));
        }
        std::fs::create_dir_all(&root).map_err(|e| Error::io(&root, e))?;
        std::fs::write(
            root.join(MARKER),
            format!(
                "{{\"format\": \"innsikt-archive\", \"version\": {}}}\n",
                crate::store::SCHEMA_VERSION
            ),
        )
        .map_err(|e| Error::io(&root, e))?;
        Self::open(root)
    }

    /// Open an existing archive. A stale or damaged index is rebuilt from the store
    /// (unless another process is writing), and a note says so.
    pub fn open(path: impl AsRef<Path>) -> Result<Project> {
        let root = path.as_ref().to_path_buf();
        if !root.join(MARKER).exists() {
            return Err(Error::NotFound(root));
        }
        let store = Store::open(&root.join("store.sqlite"))?;
        let index_dir = root.join("index");
        let mut notes = Vec::new();
        let index = match SearchIndex::open_or_create(&index_dir) {
            Ok(i) => i,
            Err(e) => {
                notes.push(format!(
                    "the index could not be opened ({e}); it was rebuilt from the store"
                ));
                let _guard = lock(&root)?;
                std::fs::remove_dir_all(&index_dir).map_err(|e| Error::io(&index_dir, e))?;
                SearchIndex::open_or_create(&index_dir)?
            }
        };
        let mut p = Project {
            root,
            store,
            index,
            notes,
        };
        if !p.store.has_passage_id_index()? {
            // An ingest that dropped it was interrupted, or is running now (then
            // the lock is taken and the index is left to it).
            match lock(&p.root) {
                // Re-checked under the lock: a writer may have finished meanwhile.
                Ok(_guard) if !p.store.has_passage_id_index()? => {
                    let (removed, _) = p.store.restore_passage_id_index()?;
                    p.notes.push(format!(
                        "an interrupted ingest had left out the passage id index; it was rebuilt{}",
                        if removed.is_empty() {
                            String::new()
                        } else {
                            format!(
                                " and {} document(s) whose passage ids collided were removed: {}",
                                removed.len(),
                                removed
                                    .iter()
                                    .map(|c| c.key.as_str())
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            )
                        }
                    ));
                }
                Ok(_) | Err(Error::Locked { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        if p.index_stale()? {
            match lock(&p.root) {
                // Re-checked under the lock: a writer may have finished meanwhile.
                Ok(_guard) => {
                    if let Some(note) = p.refresh_index(&mut crate::progress::Silent)? {
                        p.notes.push(note);
                    }
                }
                // Behind the store while another process writes is the normal
                // state of an ingest between its two commits; terms of another
                // analysis are not, and searches miss words until the rebuild.
                Err(Error::Locked { .. }) => {
                    let recorded = p.index.recorded();
                    if recorded.analysis_outdated() {
                        p.notes.push(format!(
                            "the index holds the terms of another analysis of Norwegian (version {}, now \
                             {ANALYSIS_VERSION}) and another process is writing; it is rebuilt when the \
                             archive is next opened or written to",
                            recorded.analysis.unwrap_or(0)
                        ));
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Ok(p)
    }

    /// Whether the index must be rebuilt: its terms are of another analysis, or
    /// its generation is not the store's.
    fn index_stale(&self) -> Result<bool> {
        let recorded = self.index.recorded();
        Ok(recorded.analysis_outdated()
            || self.store.generation()? != recorded.generation.unwrap_or(0))
    }

    /// Rebuild the index if [`Project::index_stale`]; what was done, as a note.
    /// Call under the write lock.
    fn refresh_index(&mut self, progress: &mut dyn Progress) -> Result<Option<String>> {
        let (g_store, recorded) = (self.store.generation()?, self.index.recorded());
        let g_index = recorded.generation.unwrap_or(0);
        let why = if recorded.analysis_outdated() {
            format!(
                "the index held the terms of another analysis of Norwegian (version {}, now {ANALYSIS_VERSION})",
                recorded.analysis.unwrap_or(0)
            )
        } else if g_store != g_index {
            format!("the index was behind the store (generation {g_index} < {g_store})")
        } else {
            return Ok(None);
        };
        let n = self.rebuild_index(progress)?;
        Ok(Some(format!("{why}; rebuilt {n} passages")))
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// (documents, passages) in the archive.
    pub fn counts(&self) -> Result<(u64, u64)> {
        Ok(self.store.counts()?)
    }

    /// Ingest files and folders. Unchanged files are skipped; a changed file
    /// replaces its document; unreadable files are reported and the rest go on.
    pub fn ingest(
        &mut self,
        paths: &[PathBuf],
        metadata: Option<&Path>,
        progress: &mut dyn Progress,
    ) -> Result<IngestReport> {
        let _guard = lock(&self.root)?;
        // Opened while another process held the lock, or an earlier batch of
        // this project's reached the store but not the index: the new batches'
        // commits would otherwise mark the index current.
        if let Some(note) = self.refresh_index(progress)? {
            self.notes.push(note);
        }
        let mut report = IngestReport::default();
        let sidecar = match metadata {
            Some(m) => {
                let (s, errs) = ingest::read_sidecar(m)?;
                report.errors.extend(errs);
                Some(s)
            }
            None => None,
        };
        let (candidates, errs) = ingest::collect(paths);
        report.errors.extend(errs);
        let total = candidates.len() as u64;
        let sizes: Vec<u64> = candidates
            .iter()
            .map(|c| std::fs::metadata(&c.path).map_or(0, |m| m.len()))
            .collect();
        let mut batch: Vec<NewDocument> = Vec::new();
        let mut batch_bytes = 0usize;
        let mut cancelled = !progress.update(0, total, "");
        let batch_docs = batch_docs();
        // One index writer for the whole call: each batch is committed (store
        // first, then index), and merges run in the background between batches.
        let mut writer: Option<IndexUpdate> = None;
        // Whether the passage id index is out during this ingest (decided at its
        // first write); it is made again below on every way out. An earlier
        // ingest, killed or failed, may have left it out already.
        let mut bulk: Option<bool> = if self.store.has_passage_id_index()? {
            None
        } else {
            Some(true)
        };
        let store = &mut self.store;
        let index = &self.index;
        let mut run = || -> Result<()> {
            for (i, c) in candidates.iter().enumerate() {
                if cancelled {
                    break;
                }
                let meta = sidecar
                    .as_ref()
                    .and_then(|s| {
                        c.path
                            .canonicalize()
                            .ok()
                            .and_then(|p| s.rows.get(&p).cloned())
                    })
                    .unwrap_or_default();
                let existing = store.document_hash(&c.key)?;
                let in_batch = batch.iter().any(|d| d.key == c.key);
                match ingest::read_document(
                    c,
                    meta,
                    existing
                        .as_ref()
                        .map(|e| e.1.as_str())
                        .filter(|_| !in_batch),
                ) {
                    Ok(None) => {
                        report.unchanged += 1;
                        report.documents.push((c.key.clone(), "unchanged".into()));
                    }
                    Ok(Some(doc)) => {
                        let status = if existing.is_some() || in_batch {
                            "updated"
                        } else {
                            "added"
                        };
                        if status == "added" {
                            report.added += 1;
                        } else {
                            report.updated += 1;
                        }
                        report.passages += doc.passages.len() as u64;
                        report.documents.push((c.key.clone(), status.into()));
                        batch_bytes += doc.text.len();
                        batch.retain(|d| d.key != doc.key);
                        batch.push(doc);
                    }
                    Err(e) => report.errors.push(e),
                }
                let last = i + 1 == candidates.len();
                if batch.len() >= batch_docs
                    || batch_bytes >= BATCH_BYTES
                    || (last && !batch.is_empty())
                {
                    if bulk.is_none() {
                        // What is still to write: this batch's documents (unchanged
                        // files are not in it) and the files not read yet.
                        let (_, stored) = store.counts()?;
                        let go = bulk_ingest(
                            (batch.len() + candidates.len() - i - 1) as u64,
                            batch_bytes as u64 + sizes[i + 1..].iter().sum::<u64>(),
                            batch_docs as u64,
                            stored,
                        );
                        if go {
                            store.drop_passage_id_index()?;
                        }
                        bulk = Some(go);
                    }
                    let w = match writer {
                        Some(ref mut w) => w,
                        None => writer.insert(index.writer()?),
                    };
                    write_batch(store, w, std::mem::take(&mut batch), progress)?;
                    batch_bytes = 0;
                }
                cancelled = !progress.update(i as u64 + 1, total, &c.key);
            }
            if !batch.is_empty() {
                // Left by a cancel: what was read is still stored.
                let w = match writer {
                    Some(ref mut w) => w,
                    None => writer.insert(index.writer()?),
                };
                write_batch(store, w, std::mem::take(&mut batch), progress)?;
            }
            Ok(())
        };
        let mut outcome = run();
        if bulk == Some(true) {
            match self.store.restore_passage_id_index() {
                Ok((removed, generation)) => {
                    for c in &removed {
                        report.remove_collision(c);
                    }
                    // After an error the index may hold part of a batch: leave it
                    // behind the store's generation, so that the next open rebuilds it.
                    if let (Some(g), true) = (generation, outcome.is_ok()) {
                        let w = match writer {
                            Some(ref mut w) => w,
                            None => writer.insert(self.index.writer()?),
                        };
                        for c in &removed {
                            w.delete_document(&c.document_id);
                        }
                        if let Err(e) = w.commit(g) {
                            outcome = Err(e.into());
                        }
                    }
                }
                // A failed restore leaves the index missing; the next ingest,
                // or the next open under the write lock, makes it.
                Err(e) => outcome = outcome.and(Err(e.into())),
            }
        }
        outcome?;
        if let Some(w) = writer {
            w.finish()?;
        }
        if cancelled {
            return Err(Error::Cancelled);
        }
        Ok(report)
    }

    /// Rebuild the index from the store.
    pub fn reindex(&mut self, progress: &mut dyn Progress) -> Result<u64> {
        let _guard = lock(&self.root)?;
        self.rebuild_index(progress)
    }

    fn rebuild_index(&mut self, progress: &mut dyn Progress) -> Result<u64> {
        let generation = self.store.generation()?;
        let docs: BTreeMap<String, (String, String)> = self
            .store
            .documents()?
            .into_iter()
            .map(|d| (d.id, (d.key, d.format)))
            .collect();
        let meta = self.store.metadata()?;
        let empty = BTreeMap::new();
        let (_, total) = self.store.counts()?;
        let mut w = self.index.writer()?;
        w.delete_all()?;
        let mut n = 0u64;
        let mut cancelled = false;
        self.store.for_each_passage(|p| {
            let (key, format) = docs.get(&p.document_id).cloned().unwrap_or_default();
            let fields = DocumentFields {
                id: &p.document_id,
                key: &key,
                format: &format,
                metadata: meta.get(&p.document_id).unwrap_or(&empty),
            };
            w.add_passage(
                &fields,
                &PassageFields {
                    rowid: p.rowid,
                    text: &p.text,
                    kind: &p.kind,
                    speaker: p.speaker.as_deref(),
                    speaker_role: p.speaker_role.as_deref(),
                    section: p.section.as_deref(),
                },
            )
            .map_err(|e| crate::store::StoreError {
                path: e.path.clone(),
                message: e.message,
            })?;
            n += 1;
            if n.is_multiple_of(10_000) && !progress.update(n, total, "reindex") {
                cancelled = true;
                return Ok(false);
            }
            Ok(true)
        })?;
        if cancelled {
            // The writer is dropped uncommitted: the old index stays as it was.
            return Err(Error::Cancelled);
        }
        w.commit(generation)?;
        w.finish()?;
        progress.update(n, total, "reindex");
        Ok(n)
    }

    /// One column per metadata field, each row holding its document's value.
    fn with_metadata(
        &self,
        mut t: TableBuilder,
        document_ids: &[&str],
        meta: &BTreeMap<String, BTreeMap<String, String>>,
    ) -> Result<TableBuilder> {
        for c in self.meta_columns()? {
            t = t.str(
                &c,
                document_ids
                    .iter()
                    .map(|d| meta.get(*d).and_then(|m| m.get(&c))),
            );
        }
        Ok(t)
    }

    fn meta_columns(&self) -> Result<Vec<String>> {
        let mut cols: Vec<String> = STANDARD_FIELDS.iter().map(|s| s.to_string()).collect();
        for f in self.store.metadata_fields()? {
            if !cols.contains(&f) {
                cols.push(f);
            }
        }
        Ok(cols)
    }

    /// One row per document, with its metadata columns.
    pub fn documents(&self) -> Result<RecordBatch> {
        let docs = self.store.documents()?;
        let meta = self.store.metadata()?;
        let mut t = TableBuilder::new()
            .str("document_id", docs.iter().map(|d| Some(&d.id)))
            .str("document", docs.iter().map(|d| Some(&d.key)))
            .str("format", docs.iter().map(|d| Some(&d.format)))
            .str("encoding", docs.iter().map(|d| Some(&d.encoding)))
            .i64("passages", docs.iter().map(|d| Some(d.n_passages)))
            .i64("chars", docs.iter().map(|d| Some(d.n_chars)))
            .str("source_path", docs.iter().map(|d| Some(&d.source_path)))
            .str("ingested_at", docs.iter().map(|d| Some(&d.ingested_at)));
        let doc_ids: Vec<&str> = docs.iter().map(|d| d.id.as_str()).collect();
        t = self.with_metadata(t, &doc_ids, &meta)?;
        Ok(t.build())
    }

    fn passage_table(
        &self,
        rows: &[PassageRow],
        extra: Option<(&[f32], &[String])>,
    ) -> Result<RecordBatch> {
        let meta = self
            .store
            .metadata_of(rows.iter().map(|p| p.document_id.as_str()))?;
        let mut t = TableBuilder::new()
            .str("passage_id", rows.iter().map(|p| Some(&p.id)))
            .str("document_id", rows.iter().map(|p| Some(&p.document_id)))
            .str("document", rows.iter().map(|p| Some(&p.document)));
        if let Some((scores, snippets)) = extra {
            t = t
                .f32("score", scores.iter().copied())
                .str("snippet", snippets.iter().map(Some));
        }
        t = t
            .i64("ordinal", rows.iter().map(|p| Some(p.ordinal)))
            .str("kind", rows.iter().map(|p| Some(&p.kind)))
            .str("speaker", rows.iter().map(|p| p.speaker.as_ref()))
            .str("speaker_role", rows.iter().map(|p| p.speaker_role.as_ref()))
            .str("section", rows.iter().map(|p| p.section.as_ref()))
            .i64("start", rows.iter().map(|p| Some(p.start)))
            .i64("end", rows.iter().map(|p| Some(p.end)))
            .i64("t_start_ms", rows.iter().map(|p| p.t_start_ms))
            .i64("t_end_ms", rows.iter().map(|p| p.t_end_ms))
            .i64("line", rows.iter().map(|p| Some(p.line)))
            .str("text", rows.iter().map(|p| Some(&p.text)));
        let doc_ids: Vec<&str> = rows.iter().map(|p| p.document_id.as_str()).collect();
        t = self.with_metadata(t, &doc_ids, &meta)?;
        Ok(t.build())
    }

    /// Every passage, in document order, with its document's metadata.
    pub fn passages(&self) -> Result<RecordBatch> {
        let mut rows = Vec::new();
        self.store.for_each_passage(|p| {
            rows.push(p);
            Ok(true)
        })?;
        self.passage_table(&rows, None)
    }

    fn search_error(&self, e: search::SearchError) -> Error {
        match e {
            search::SearchError::Query(q) => Error::Query(q),
            search::SearchError::Index(m) => Error::Index(crate::index::IndexError {
                path: self.index.path().to_path_buf(),
                message: m,
            }),
        }
    }

    /// Per hit of `found`, the words the index holds its query's terms at.
    fn marked_words(&self, found: &search::Found) -> Result<Vec<Vec<u32>>> {
        found.marked_words().map_err(|e| self.search_error(e))
    }

    fn run(&self, query: &str, limit: Option<usize>) -> Result<(search::Found, Vec<PassageRow>)> {
        self.index.reload()?;
        let found = search::run(&self.index, query, limit).map_err(|e| self.search_error(e))?;
        let rowids: Vec<i64> = found.hits.iter().map(|(_, r)| *r as i64).collect();
        let rows = self.store.passages_by_rowid(&rowids)?;
        Ok((found, rows))
    }

    /// [`Project::run`], and the words to mark in each hit's passage.
    fn run_marked(&self, query: &str, limit: Option<usize>) -> Result<Marked> {
        let (found, rows) = self.run(query, limit)?;
        let words = self.marked_words(&found)?;
        let hit_of = found
            .hits
            .iter()
            .enumerate()
            .map(|(i, (_, r))| (*r as i64, i))
            .collect();
        Ok(Marked {
            found,
            rows,
            words,
            hit_of,
        })
    }

    /// Search passages. `limit: None` returns every hit. Facet counts cover all hits.
    pub fn search(&self, query: &str, limit: Option<usize>) -> Result<SearchResult> {
        // One read transaction: the passages and their documents' metadata come
        // from one snapshot, and the store's lock is taken once, not per statement.
        self.store.read(|| self.search_now(query, limit))
    }

    fn search_now(&self, query: &str, limit: Option<usize>) -> Result<SearchResult> {
        let m = self.run_marked(query, limit)?;
        let scores: Vec<f32> = m
            .rows
            .iter()
            .map(|r| m.hit_of.get(&r.rowid).map_or(0.0, |&i| m.found.hits[i].0))
            .collect();
        let snippets: Vec<String> = m
            .rows
            .iter()
            .map(|r| snippet(&r.text, &m.marks(r), 200))
            .collect();
        let table = self.passage_table(&m.rows, Some((&scores, &snippets)))?;
        Ok(SearchResult {
            table,
            total: m.found.total,
            facets: m.found.facets,
        })
    }

    /// Keyword-in-context lines: every matching word in every hit, with `width`
    /// characters of context on each side.
    pub fn kwic(&self, query: &str, width: usize, limit: Option<usize>) -> Result<RecordBatch> {
        self.store.read(|| self.kwic_now(query, width, limit))
    }

    fn kwic_now(&self, query: &str, width: usize, limit: Option<usize>) -> Result<RecordBatch> {
        let m = self.run_marked(query, None)?;
        let meta = self.store.metadata()?;
        // passage id, document id, document, left context, keyword, right context
        let mut cols: [Vec<String>; 6] = Default::default();
        let mut starts = Vec::new();
        let mut ends = Vec::new();
        let mut speakers = Vec::new();
        let mut municipality = Vec::new();
        let mut rows_sorted: Vec<&PassageRow> = m.rows.iter().collect();
        rows_sorted.sort_by(|a, b| a.document.cmp(&b.document).then(a.ordinal.cmp(&b.ordinal)));
        'outer: for r in &rows_sorted {
            let chars: Vec<char> = r.text.chars().collect();
            for (a, b) in m.marks(r) {
                if limit.is_some_and(|l| starts.len() >= l) {
                    break 'outer;
                }
                let left: String = chars[a.saturating_sub(width)..a].iter().collect();
                let right: String = chars[b..(b + width).min(chars.len())].iter().collect();
                let flat = |s: String| s.split_whitespace().collect::<Vec<_>>().join(" ");
                cols[0].push(r.id.clone());
                cols[1].push(r.document_id.clone());
                cols[2].push(r.document.clone());
                cols[3].push(flat(left));
                cols[4].push(chars[a..b].iter().collect());
                cols[5].push(flat(right));
                starts.push(Some(r.start + a as i64));
                ends.push(Some(r.start + b as i64));
                speakers.push(r.speaker.clone());
                municipality.push(
                    meta.get(&r.document_id)
                        .and_then(|m| m.get("municipality"))
                        .cloned(),
                );
            }
        }
        Ok(TableBuilder::new()
            .str("passage_id", cols[0].iter().map(Some))
            .str("document_id", cols[1].iter().map(Some))
            .str("document", cols[2].iter().map(Some))
            .str("left", cols[3].iter().map(Some))
            .str("keyword", cols[4].iter().map(Some))
            .str("right", cols[5].iter().map(Some))
            .i64("start", starts)
            .i64("end", ends)
            .str("speaker", speakers)
            .str("municipality", municipality)
            .build())
    }

    /// The facet fields that search counts.
    pub fn facet_fields() -> &'static [&'static str] {
        &FACETS
    }

    /// Full text of a document by id.
    pub fn document_text(&self, document_id: &str) -> Result<Option<String>> {
        Ok(self.store.document_text(document_id)?)
    }

    /// Distinct values of a metadata field across documents.
    pub fn metadata_values(&self, field: &str) -> Result<BTreeSet<String>> {
        Ok(self
            .store
            .metadata()?
            .values()
            .filter_map(|m| m.get(field).cloned())
            .collect())
    }
}

impl Project {
    /// Code every passage with `codebook`. Replaces this codebook's earlier machine
    /// codings (of any version) in one transaction; human codings are never touched.
    pub fn autocode(
        &mut self,
        codebook: &Codebook,
        progress: &mut dyn Progress,
    ) -> Result<AutocodeReport> {
        self.autocode_with_threads(codebook, progress, crate::codebook::default_threads())
    }

    /// [`Project::autocode`] on `threads` worker threads (the codings are the same
    /// for any number).
    pub fn autocode_with_threads(
        &mut self,
        codebook: &Codebook,
        progress: &mut dyn Progress,
        threads: usize,
    ) -> Result<AutocodeReport> {
        self.autocode_in_batches(codebook, progress, threads, BatchCoder::BATCH_BYTES)
    }

    /// [`Project::autocode_with_threads`], reading passages in batches of about
    /// `batch_bytes` of text.
    fn autocode_in_batches(
        &mut self,
        codebook: &Codebook,
        progress: &mut dyn Progress,
        threads: usize,
        batch_bytes: usize,
    ) -> Result<AutocodeReport> {
        let _guard = lock(&self.root)?;
        let meta = self.store.metadata()?;
        let (_, total) = self.store.counts()?;
        // The forms the index's analyzer met, with their terms: a form found
        // there is not analysed again (on a first run, most of the matching's
        // work beyond the words themselves).
        let known = self
            .index
            .vocabulary()
            .map(|lines| codebook.known_forms(&lines))
            .unwrap_or_default();
        let mut coder = BatchCoder::new(codebook, &meta, threads, batch_bytes);
        // Forms the vocabulary lacks (an archive made before it was kept, or
        // forms of passages an older build stored) are noted as they are
        // analysed, and added to it after the run.
        coder.matchers = coder.matchers.with_known_forms(&known).noting();
        let uses_context = coder.uses_context;
        let m = &codebook.meta;
        let book = (&*m.id, &*m.version, &*m.name, &*codebook.source);
        let mut fired = vec![0u64; codebook.rule_count()];
        let mut report = AutocodeReport::default();
        // Passages are read on a connection of their own while the run's
        // transaction writes the codings of each batch as it is coded; nothing
        // is visible until the run commits, and a run that ends early (an error,
        // Ctrl-C) is rolled back, leaving the earlier machine codings as they were.
        let cancelled = match self.store.passage_reader()? {
            Some(reader) => {
                let mut run = self.store.begin_machine_run(book)?;
                // Writes a coded batch; false when the caller asked to stop.
                let mut take = |codings: &MachineCodings,
                                passages: u64,
                                run: &mut MachineRun|
                 -> Result<bool> {
                    run.write(codings)?;
                    for r in &codings.rows {
                        fired[r.rule as usize] += 1;
                    }
                    report.codings += codings.rows.len() as u64;
                    report.passages += passages;
                    Ok(progress.update(report.passages, total, "autocode"))
                };
                let cancelled = if coder.matchers.threads() > 1 {
                    // One thread reads and codes (the matching itself on every
                    // worker thread) while this one writes the batch before:
                    // writing a large run's codings takes about as long as
                    // finding them. The hand-over waits for both, so at most
                    // two coded batches exist at a time.
                    std::thread::scope(|s| -> Result<bool> {
                        let (to_writer, batches) = std::sync::mpsc::sync_channel::<CodedBatch>(0);
                        // Written batches go back to the reader for their buffers.
                        let (to_reader, written) =
                            std::sync::mpsc::sync_channel::<MachineCodings>(1);
                        let coder = &mut coder;
                        let scanner = s.spawn(move || {
                            let send = |c: &mut BatchCoder| {
                                let n = c.code();
                                if let Ok(done) = written.try_recv() {
                                    c.recycle(done);
                                }
                                to_writer.send(Ok((c.take(), n))).is_ok()
                            };
                            match reader.scan(uses_context, |p| Ok(!coder.push(&p) || send(coder)))
                            {
                                Ok(()) if coder.has_passages() => {
                                    send(coder);
                                }
                                Ok(()) => {}
                                Err(e) => {
                                    let _ = to_writer.send(Err(e));
                                }
                            }
                        });
                        let mut outcome = Ok(false);
                        for batch in batches.iter() {
                            match batch.map_err(Error::from).and_then(|(c, n)| {
                                let more = take(&c, n, &mut run);
                                // Full or gone: the buffers are then simply dropped.
                                let _ = to_reader.try_send(c);
                                more
                            }) {
                                Ok(true) => {}
                                Ok(false) => {
                                    outcome = Ok(true);
                                    break;
                                }
                                Err(e) => {
                                    outcome = Err(e);
                                    break;
                                }
                            }
                        }
                        // The reader stops at its next batch once nobody takes it.
                        drop(batches);
                        scanner
                            .join()
                            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
                        outcome
                    })?
                } else {
                    let mut stopped: Option<Result<bool>> = None;
                    reader.scan(uses_context, |p| {
                        if coder.push(&p) {
                            let n = coder.code();
                            match take(&coder.out, n, &mut run) {
                                Ok(true) => coder.clear_out(),
                                other => {
                                    stopped = Some(other.map(|_| true));
                                    return Ok(false);
                                }
                            }
                        }
                        Ok(true)
                    })?;
                    drop(reader);
                    match stopped {
                        Some(r) => r?,
                        None if coder.has_passages() => {
                            let n = coder.code();
                            !take(&coder.out, n, &mut run)?
                        }
                        None => false,
                    }
                };
                if !cancelled {
                    report.replaced = run.finish()? as u64;
                }
                cancelled
            }
            None => {
                // Without WAL, reading and writing cannot overlap: every batch is
                // coded first, and the codings are written at the end.
                let mut stopped = false;
                self.store.scan_passages(uses_context, |p| {
                    if coder.push(&p) {
                        report.passages += coder.code();
                        if !progress.update(report.passages, total, "autocode") {
                            stopped = true;
                            return Ok(false);
                        }
                    }
                    Ok(true)
                })?;
                if !stopped && coder.has_passages() {
                    report.passages += coder.code();
                    stopped = !progress.update(report.passages, total, "autocode");
                }
                if !stopped {
                    let mut run = self.store.begin_machine_run(book)?;
                    run.write(&coder.out)?;
                    report.replaced = run.finish()? as u64;
                    for r in &coder.out.rows {
                        fired[r.rule as usize] += 1;
                    }
                    report.codings = coder.out.rows.len() as u64;
                }
                stopped
            }
        };
        self.index.add_to_vocabulary(&coder.matchers.take_noted());
        if cancelled {
            // Nothing was committed: the earlier machine codings stay as they were.
            return Err(Error::Cancelled);
        }
        for (r, n) in fired.iter().enumerate() {
            if *n > 0 {
                *report
                    .by_code
                    .entry(codebook.rule_name(r).0.to_string())
                    .or_insert(0) += n;
            }
        }
        for (i, n) in fired.iter().enumerate() {
            if *n == 0 {
                let (c, r) = codebook.rule_name(i);
                report.silent_rules.push((c.to_string(), r.to_string()));
            }
        }
        progress.update(report.passages, total, "autocode");
        Ok(report)
    }

    /// Add a human coding on a passage (whole passage, or `start..end` in document
    /// offsets within it). Returns the coding id.
    pub fn code(
        &mut self,
        passage_id: &str,
        code_id: &str,
        coder: &str,
        span: Option<(i64, i64)>,
    ) -> Result<i64> {
        if coder.trim().is_empty() || coder.starts_with("auto:") {
            return Err(Error::Invalid(format!(
                "{coder:?} is not a human coder's name"
            )));
        }
        if code_id.trim().is_empty() {
            return Err(Error::Invalid("empty code id".into()));
        }
        let (document_id, p_start, p_end) = self
            .store
            .passage_bounds(passage_id)?
            .ok_or_else(|| Error::Invalid(format!("no passage {passage_id}")))?;
        let (start, end) = span.unwrap_or((p_start, p_end));
        if start < p_start || end > p_end || start >= end {
            return Err(Error::Invalid(format!(
                "span {start}..{end} is not inside passage {passage_id} ({p_start}..{p_end})"
            )));
        }
        let _guard = lock(&self.root)?;
        Ok(self.store.add_coding(&NewCoding {
            passage_id: passage_id.into(),
            document_id,
            code_id: code_id.into(),
            start,
            end,
            spans: vec![(start, end)],
            coder: coder.into(),
            machine: false,
            rule: None,
        })?)
    }

    /// Import human codings from a CSV with columns `passage_id`, `coder` and either
    /// `code_id` or `codes` (several ids separated by `;`), and optionally `start`,
    /// `end` (document offsets; the whole passage when absent). Rows already in the
    /// archive are skipped. Returns (added, errors as (file:line, message)).
    pub fn import_codings(&mut self, path: &Path) -> Result<(u64, Vec<(String, String)>)> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let records = ingest::csv_records(&text, ',').map_err(|line| Error::Metadata {
            path: path.into(),
            line,
            message: "unclosed quote".into(),
        })?;
        let mut it = records.into_iter();
        let (hline, header) = it.next().ok_or_else(|| Error::Metadata {
            path: path.into(),
            line: 1,
            message: "empty file".into(),
        })?;
        let col = |name: &str| header.iter().position(|h| h.eq_ignore_ascii_case(name));
        let (pid, coder_col) = match (col("passage_id"), col("coder")) {
            (Some(p), Some(c)) => (p, c),
            _ => {
                return Err(Error::Metadata {
                    path: path.into(),
                    line: hline,
                    message: "the header needs 'passage_id' and 'coder' columns".into(),
                })
            }
        };
        let code_col = col("code_id")
            .or(col("codes"))
            .ok_or_else(|| Error::Metadata {
                path: path.into(),
                line: hline,
                message: "the header needs a 'code_id' or 'codes' column".into(),
            })?;
        let (start_col, end_col) = (col("start"), col("end"));
        let mut rows = Vec::new();
        let mut errors = Vec::new();
        for (line, rec) in it {
            let here = format!("{}:{line}", path.display());
            if rec.len() != header.len() {
                errors.push((
                    here,
                    format!("{} cells where the header has {}", rec.len(), header.len()),
                ));
                continue;
            }
            let coder = rec[coder_col].clone();
            if coder.is_empty() || coder.starts_with("auto:") {
                errors.push((here, format!("{coder:?} is not a human coder's name")));
                continue;
            }
            let Some((document_id, ps, pe)) = self.store.passage_bounds(&rec[pid])? else {
                errors.push((here, format!("no passage {}", rec[pid])));
                continue;
            };
            let span = match (
                start_col.map(|c| rec[c].parse::<i64>()),
                end_col.map(|c| rec[c].parse::<i64>()),
            ) {
                (Some(Ok(a)), Some(Ok(b))) if a >= ps && b <= pe && a < b => (a, b),
                (Some(Ok(_)), Some(Ok(_))) => {
                    errors.push((
                        here,
                        format!("span is not inside passage {} ({ps}..{pe})", rec[pid]),
                    ));
                    continue;
                }
                _ => (ps, pe),
            };
            for code in rec[code_col]
                .split(';')
                .map(str::trim)
                .filter(|c| !c.is_empty())
            {
                rows.push(NewCoding {
                    passage_id: rec[pid].clone(),
                    document_id: document_id.clone(),
                    code_id: code.to_string(),
                    start: span.0,
                    end: span.1,
                    spans: vec![span],
                    coder: coder.clone(),
                    machine: false,
                    rule: None,
                });
            }
        }
        let _guard = lock(&self.root)?;
        let added = self.store.add_codings(&rows)? as u64;
        Ok((added, errors))
    }

    /// Agreement between two coders at passage level, per code that coder `a`
    /// uses: counts, precision and recall of `b` against `a`, percent agreement and
    /// Cohen's kappa. `passages` is the universe (passages both were to code); by
    /// default every passage `a` coded.
    pub fn agreement(&self, a: &str, b: &str, passages: Option<&[String]>) -> Result<RecordBatch> {
        let rows = self.store.codings(None)?;
        let mut sets: BTreeMap<(&str, &str), BTreeSet<&str>> = BTreeMap::new(); // (coder, code) -> passages
        let mut codes = BTreeSet::new();
        let mut coded_by_a = BTreeSet::new();
        for r in &rows {
            let who = if r.coder == a {
                a
            } else if r.coder == b || (b == "machine" && r.machine) {
                b
            } else {
                continue;
            };
            if who == a {
                codes.insert(r.code_id.as_str());
                coded_by_a.insert(r.passage_id.as_str());
            }
            sets.entry((who, &r.code_id))
                .or_default()
                .insert(&r.passage_id);
        }
        let universe: BTreeSet<&str> = match passages {
            Some(p) => p.iter().map(String::as_str).collect(),
            None => coded_by_a,
        };
        let n = universe.len() as f64;
        let empty = BTreeSet::new();
        let mut cols: Vec<(String, [f64; 9])> = Vec::new();
        for code in codes {
            let sa: BTreeSet<&str> = sets
                .get(&(a, code))
                .unwrap_or(&empty)
                .intersection(&universe)
                .copied()
                .collect();
            let sb: BTreeSet<&str> = sets
                .get(&(b, code))
                .unwrap_or(&empty)
                .intersection(&universe)
                .copied()
                .collect();
            let both = sa.intersection(&sb).count() as f64;
            let (na, nb) = (sa.len() as f64, sb.len() as f64);
            let neither = n - na - nb + both;
            let po = if n > 0.0 {
                (both + neither) / n
            } else {
                f64::NAN
            };
            let pe = if n > 0.0 {
                (na * nb + (n - na) * (n - nb)) / (n * n)
            } else {
                f64::NAN
            };
            let kappa = if (1.0 - pe).abs() < 1e-12 {
                f64::NAN
            } else {
                (po - pe) / (1.0 - pe)
            };
            let precision = if nb > 0.0 { both / nb } else { f64::NAN };
            let recall = if na > 0.0 { both / na } else { f64::NAN };
            let f1 = if precision + recall > 0.0 {
                2.0 * precision * recall / (precision + recall)
            } else {
                f64::NAN
            };
            cols.push((
                code.to_string(),
                [n, na, nb, both, precision, recall, f1, po, kappa],
            ));
        }
        let f = |i: usize| cols.iter().map(move |c| c.1[i]).collect::<Vec<f64>>();
        let as_i = |i: usize| {
            cols.iter()
                .map(move |c| Some(c.1[i] as i64))
                .collect::<Vec<_>>()
        };
        Ok(TableBuilder::new()
            .str("code_id", cols.iter().map(|c| Some(&c.0)))
            .i64("passages", as_i(0))
            .i64(a, as_i(1))
            .i64(b, as_i(2))
            .i64("both", as_i(3))
            .f64("precision", f(4))
            .f64("recall", f(5))
            .f64("f1", f(6))
            .f64("percent_agreement", f(7))
            .f64("kappa", f(8))
            .build())
    }

    /// Remove a coding by id.
    pub fn uncode(&mut self, coding_id: i64) -> Result<bool> {
        let _guard = lock(&self.root)?;
        Ok(self.store.remove_coding(coding_id)?)
    }

    /// Attach a memo to a document, passage, code or coding.
    pub fn memo(&mut self, kind: &str, target: &str, author: &str, text: &str) -> Result<i64> {
        if !["document", "passage", "code", "coding"].contains(&kind) {
            return Err(Error::Invalid(format!(
                "memos attach to a document, passage, code or coding, not {kind:?}"
            )));
        }
        let _guard = lock(&self.root)?;
        Ok(self.store.add_memo(kind, target, author, text)?)
    }

    pub fn memos(&self) -> Result<RecordBatch> {
        let m = self.store.memos()?;
        Ok(TableBuilder::new()
            .i64("memo_id", m.iter().map(|r| Some(r.id)))
            .str("target_kind", m.iter().map(|r| Some(&r.target_kind)))
            .str("target_id", m.iter().map(|r| Some(&r.target_id)))
            .str("author", m.iter().map(|r| Some(&r.author)))
            .str("text", m.iter().map(|r| Some(&r.text)))
            .str("created_at", m.iter().map(|r| Some(&r.created_at)))
            .build())
    }

    fn coding_rows(&self, coder: Option<&str>) -> Result<Vec<crate::store::CodingRow>> {
        Ok(self.store.codings(coder)?)
    }

    /// Every coding, with its document's metadata. `coder` filters by a coder's
    /// name, or "machine" / "human". Text columns are Arrow string views into one
    /// shared copy of each distinct text.
    pub fn codings(&self, coder: Option<&str>) -> Result<RecordBatch> {
        // The codings and their documents' metadata from one snapshot.
        self.store.read(|| self.codings_now(coder))
    }

    fn codings_now(&self, coder: Option<&str>) -> Result<RecordBatch> {
        let mut cols = self.store.coding_columns(coder)?;
        let c = &cols;
        let views = LabelViews::new(&c.labels);
        // Metadata: one value per document, spread over its codings by label id.
        let mut slot_of_label = vec![u32::MAX; c.labels.len()];
        let mut documents: Vec<u32> = Vec::new();
        let keys: Vec<u32> = c
            .document
            .iter()
            .map(|&d| match slot_of_label.get_mut(d as usize) {
                Some(slot) => {
                    if *slot == u32::MAX {
                        *slot = documents.len() as u32;
                        documents.push(d);
                    }
                    *slot
                }
                None => u32::MAX,
            })
            .collect();
        let meta = self
            .store
            .metadata_of(documents.iter().map(|&d| c.labels.get(d)))?;
        let fields = self.meta_columns()?;
        let per_field: Vec<Vec<Option<&str>>> = fields
            .iter()
            .map(|field| {
                documents
                    .iter()
                    .map(|&d| {
                        meta.get(c.labels.get(d))
                            .and_then(|m| m.get(field))
                            .map(String::as_str)
                    })
                    .collect()
            })
            .collect();
        let (views, keys) = (&views, &keys);
        // Each column of label ids goes to the job that makes its views and is
        // freed when that job ends, so that the peak does not hold them all
        // beside the finished table.
        let [passage, document, code, coder, rule, book, version, created] = [
            &mut cols.passage,
            &mut cols.document,
            &mut cols.code,
            &mut cols.coder,
            &mut cols.rule,
            &mut cols.codebook,
            &mut cols.codebook_version,
            &mut cols.created_at,
        ]
        .map(std::mem::take);
        let (spans_text, spans_end) = cols.take_spans();
        let c = &cols;
        let mut jobs: Vec<ColumnJob> = vec![
            Box::new(move || views_over(spans_text, &spans_end, |i, s| c.write_one_span(i, s))),
            Box::new(move || views.column(&passage)),
            Box::new(move || views.column(&document)),
            Box::new(move || views.column(&code)),
            Box::new(move || views.column(&coder)),
            Box::new(move || {
                let mut kinds = crate::store::Labels::default();
                let (machine, human) = (kinds.push("machine"), kinds.push("human"));
                LabelViews::new(&kinds).column_of(c.machine.iter().map(|&m| {
                    if m {
                        machine
                    } else {
                        human
                    }
                }))
            }),
            Box::new(move || views.column(&rule)),
            Box::new(move || views.column(&book)),
            Box::new(move || views.column(&version)),
            Box::new(move || views.column(&created)),
        ];
        for per_doc in &per_field {
            jobs.push(Box::new(move || LabelViews::by_key(keys, per_doc)));
        }
        let mut built = build_columns(jobs, crate::codebook::default_threads()).into_iter();
        let mut next = || built.next().expect("a column per job");
        // The integer columns become Arrow arrays without a copy.
        let ints = |v: &mut Vec<i64>| -> ArrayRef { Arc::new(Int64Array::from(std::mem::take(v))) };
        let spans = next();
        let mut t = TableBuilder::new()
            .array("coding_id", ints(&mut cols.id))
            .array("passage_id", next())
            .array("document_id", next())
            .array("code_id", next())
            .array("start", ints(&mut cols.start))
            .array("end", ints(&mut cols.end))
            .array("spans", spans)
            .array("coder", next())
            .array("kind", next())
            .array("rule", next())
            .array("codebook_id", next())
            .array("codebook_version", next())
            .array("created_at", next());
        for field in &fields {
            t = t.array(field, next());
        }
        Ok(t.build())
    }

    /// Coded passages per code (rows) and value of metadata field `by` (columns).
    pub fn crosstab(&self, by: &str, coder: Option<&str>) -> Result<RecordBatch> {
        let rows = self.coding_rows(coder)?;
        let meta = self.store.metadata()?;
        let speaker_field = matches!(by, "speaker" | "speaker_role" | "kind");
        let passage_field: std::collections::HashMap<String, Option<String>> = if speaker_field {
            let mut m = std::collections::HashMap::new();
            self.store.for_each_passage(|p| {
                let v = match by {
                    "speaker" => p.speaker,
                    "speaker_role" => p.speaker_role,
                    _ => Some(p.kind),
                };
                m.insert(p.id, v);
                Ok(true)
            })?;
            m
        } else {
            Default::default()
        };
        let mut cells: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
        let mut values = BTreeSet::new();
        for r in &rows {
            let v = if speaker_field {
                passage_field.get(&r.passage_id).cloned().flatten()
            } else {
                meta.get(&r.document_id).and_then(|m| m.get(by)).cloned()
            }
            .unwrap_or_else(|| "(none)".into());
            values.insert(v.clone());
            cells
                .entry((r.code_id.clone(), v))
                .or_default()
                .insert(r.passage_id.clone());
        }
        let codes: BTreeSet<String> = rows.iter().map(|r| r.code_id.clone()).collect();
        let mut t = TableBuilder::new().str("code_id", codes.iter().map(Some));
        for v in &values {
            t = t.i64(
                v,
                codes.iter().map(|c| {
                    Some(
                        cells
                            .get(&(c.clone(), v.clone()))
                            .map(|s| s.len() as i64)
                            .unwrap_or(0),
                    )
                }),
            );
        }
        Ok(t.build())
    }

    /// Passages coded with both codes, for every pair of codes (a symmetric matrix;
    /// the diagonal is the number of passages with the code).
    pub fn cooccurrence(&self, coder: Option<&str>) -> Result<RecordBatch> {
        let rows = self.coding_rows(coder)?;
        let mut by_passage: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        for r in &rows {
            by_passage
                .entry(&r.passage_id)
                .or_default()
                .insert(&r.code_id);
        }
        let codes: Vec<&str> = rows
            .iter()
            .map(|r| r.code_id.as_str())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let index: std::collections::HashMap<&str, usize> =
            codes.iter().enumerate().map(|(i, c)| (*c, i)).collect();
        let mut m = vec![vec![0i64; codes.len()]; codes.len()];
        for set in by_passage.values() {
            let ids: Vec<usize> = set.iter().map(|c| index[c]).collect();
            for &a in &ids {
                for &b in &ids {
                    m[a][b] += 1;
                }
            }
        }
        let mut t = TableBuilder::new().str("code_id", codes.iter().map(Some));
        for (j, c) in codes.iter().enumerate() {
            t = t.i64(c, m.iter().map(|row| Some(row[j])));
        }
        Ok(t.build())
    }

    /// Coded segments with context: the coded text of every coding of `code_id`
    /// (all codes when None), with `context` characters of the document before and after.
    pub fn segments(
        &self,
        code_id: Option<&str>,
        coder: Option<&str>,
        context: usize,
    ) -> Result<RecordBatch> {
        let mut rows = self.coding_rows(coder)?;
        if let Some(c) = code_id {
            rows.retain(|r| r.code_id == c || r.code_id.starts_with(&format!("{c}.")));
        }
        let docs: std::collections::HashMap<String, String> = self
            .store
            .documents()?
            .into_iter()
            .map(|d| (d.id, d.key))
            .collect();
        let meta = self.store.metadata()?;
        let mut texts: std::collections::HashMap<String, Vec<char>> =
            std::collections::HashMap::new();
        let mut before = Vec::new();
        let mut coded = Vec::new();
        let mut after = Vec::new();
        for r in &rows {
            if !texts.contains_key(&r.document_id) {
                let t = self
                    .store
                    .document_text(&r.document_id)?
                    .unwrap_or_default();
                texts.insert(r.document_id.clone(), t.chars().collect());
            }
            let chars = &texts[&r.document_id];
            let (s, e) = (
                (r.start.max(0) as usize).min(chars.len()),
                (r.end.max(0) as usize).min(chars.len()),
            );
            let flat = |v: &[char]| {
                v.iter()
                    .collect::<String>()
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
            };
            before.push(flat(&chars[s.saturating_sub(context)..s]));
            coded.push(chars[s..e].iter().collect::<String>());
            after.push(flat(&chars[e..(e + context).min(chars.len())]));
        }
        let mut t = TableBuilder::new()
            .i64("coding_id", rows.iter().map(|r| Some(r.id)))
            .str("code_id", rows.iter().map(|r| Some(&r.code_id)))
            .str("coder", rows.iter().map(|r| Some(&r.coder)))
            .str("rule", rows.iter().map(|r| r.rule.as_ref()))
            .str("document", rows.iter().map(|r| docs.get(&r.document_id)))
            .str("passage_id", rows.iter().map(|r| Some(&r.passage_id)))
            .i64("start", rows.iter().map(|r| Some(r.start)))
            .i64("end", rows.iter().map(|r| Some(r.end)))
            .str("before", before.iter().map(Some))
            .str("text", coded.iter().map(Some))
            .str("after", after.iter().map(Some));
        let doc_ids: Vec<&str> = rows.iter().map(|r| r.document_id.as_str()).collect();
        t = self.with_metadata(t, &doc_ids, &meta)?;
        Ok(t.build())
    }

    /// Codebook versions that produced codings in this archive.
    pub fn codebook_versions(&self) -> Result<Vec<(String, String, String, String)>> {
        Ok(self.store.codebook_versions()?)
    }
}

/// A batch's codings and how many passages it had, or why the passages could
/// not be read.
type CodedBatch = std::result::Result<(MachineCodings, u64), StoreError>;

/// Reads passages into batches of about `batch_bytes` of text and
/// codes each batch on every worker thread into machine codings, in passage
/// order. A rule fires at most once on a passage, so each hit is one coding.
struct BatchCoder<'a> {
    matchers: Matchers<'a>,
    meta: &'a BTreeMap<String, BTreeMap<String, String>>,
    uses_context: bool,
    /// The fields the codebook's scopes look at (see [`Codebook::context_fields`]).
    context_fields: Vec<String>,
    batch: PassageBatch,
    batch_bytes: usize,
    /// The codings of the batches coded since the last [`BatchCoder::take`].
    out: MachineCodings,
    /// Codings the writer has written and handed back ([`BatchCoder::recycle`]):
    /// their buffers hold the next batch, so a run does not fault in fresh pages
    /// for every batch.
    spare: Option<MachineCodings>,
    /// The id strings of passages written, for the next passages' ids: a
    /// batch of 1,000 rules names nearly every passage, two strings each.
    spare_ids: Vec<(String, String)>,
    /// The empty contexts of a batch, when no rule has a `where` scope.
    none: Vec<Context>,
}

impl<'a> BatchCoder<'a> {
    /// What a run reads and codes at a time.
    const BATCH_BYTES: usize = 8 << 20;

    fn new(
        codebook: &'a Codebook,
        meta: &'a BTreeMap<String, BTreeMap<String, String>>,
        threads: usize,
        batch_bytes: usize,
    ) -> BatchCoder<'a> {
        BatchCoder {
            matchers: Matchers::new(codebook, threads),
            meta,
            uses_context: codebook.uses_context(),
            context_fields: codebook
                .context_fields()
                .into_iter()
                .map(String::from)
                .collect(),
            batch: PassageBatch::default(),
            batch_bytes,
            out: MachineCodings {
                coder: machine_coder(&codebook.meta.id),
                rules: (0..codebook.rule_count())
                    .map(|r| {
                        let (code, rule) = codebook.rule_name(r);
                        (code.to_string(), rule.to_string())
                    })
                    .collect(),
                ..MachineCodings::default()
            },
            spare: None,
            spare_ids: Vec::new(),
            none: Vec::new(),
        }
    }

    /// Add a passage; true when the batch is full.
    fn push(&mut self, p: &crate::store::PassageView<'_>) -> bool {
        let (meta, fields) = (self.meta, &self.context_fields);
        self.batch.push(p, |c| {
            // Only the fields the scopes look at: the passage's own (its speaker
            // and role where it has them), else the document's metadata.
            let document = meta.get(p.document_id);
            let of_document = |f: &str| document.and_then(|m| m.get(f)).map(String::as_str);
            let mut ctx = Context::new();
            for f in fields {
                let value = match f.as_str() {
                    "kind" => Some(c.kind),
                    "document" => Some(c.document),
                    "speaker" => c.speaker.or_else(|| of_document("speaker")),
                    "speaker_role" => c.speaker_role.or_else(|| of_document("speaker_role")),
                    other => of_document(other),
                };
                if let Some(v) = value {
                    ctx.insert(f.clone(), v.to_string());
                }
            }
            ctx
        });
        self.batch.text_bytes >= self.batch_bytes
    }

    fn has_passages(&self) -> bool {
        !self.batch.slots.is_empty()
    }

    /// Code the batch, adding its codings to `out`; returns how many passages
    /// it had.
    fn code(&mut self) -> u64 {
        let batch = &mut self.batch;
        let out = &mut self.out;
        let texts: Vec<&str> = batch.slots.iter().map(|p| batch.text(p)).collect();
        let hits = if self.uses_context {
            self.matchers.apply_all(&texts, &batch.contexts)
        } else {
            // Without `where` scopes every text gets the empty context (which
            // allocates nothing).
            self.none.resize(texts.len(), Context::new());
            self.matchers.apply_all(&texts, &self.none[..texts.len()])
        };
        let mut last = u32::MAX;
        for hit in hits.rows() {
            let p = &batch.slots[hit.text as usize];
            if hit.text != last {
                last = hit.text;
                let (mut id, mut document) = self.spare_ids.pop().unwrap_or_default();
                id.clear();
                id.push_str(batch.id(p.id));
                document.clear();
                document.push_str(batch.id(p.document_id));
                out.passages.push((id, document));
            }
            let from = out.spans.len();
            // Most hits have one span: it is the coding's start and end, and
            // is not listed (see `MachineCoding::spans`).
            let (start, end) = match hits.spans(hit) {
                &[(a, b)] => (p.start + i64::from(a), p.start + i64::from(b)),
                many => {
                    out.spans.extend(
                        many.iter()
                            .map(|&(a, b)| (p.start + i64::from(a), p.start + i64::from(b))),
                    );
                    let spans = &out.spans[from..];
                    (
                        spans.iter().map(|s| s.0).min().unwrap_or(p.start),
                        spans.iter().map(|s| s.1).max().unwrap_or(p.end),
                    )
                }
            };
            out.rows.push(MachineCoding {
                passage: (out.passages.len() - 1) as u32,
                rule: hit.rule,
                start,
                end,
                spans: (from, out.spans.len()),
            });
        }
        self.matchers.recycle(hits);
        let n = batch.slots.len() as u64;
        batch.clear();
        n
    }

    /// The codings coded so far, leaving none.
    fn take(&mut self) -> MachineCodings {
        let empty = match self.spare.take() {
            Some(spare) => spare,
            None => MachineCodings {
                coder: self.out.coder.clone(),
                rules: self.out.rules.clone(),
                ..MachineCodings::default()
            },
        };
        std::mem::replace(&mut self.out, empty)
    }

    /// Keep written codings' buffers for the next [`BatchCoder::take`].
    fn recycle(&mut self, mut written: MachineCodings) {
        self.spare_ids.append(&mut written.passages);
        written.clear();
        self.spare = Some(written);
    }

    /// Forget the codings written from `out`, keeping their buffers.
    fn clear_out(&mut self) {
        self.spare_ids.append(&mut self.out.passages);
        self.out.clear();
    }
}

/// Passages read for autocoding, kept in one reused buffer: each passage's id,
/// document id and text are ranges of it, so a batch of thousands of passages
/// costs no allocation once the buffer has grown.
#[derive(Default)]
struct PassageBatch {
    /// The passages' texts.
    buf: String,
    /// Their ids and document ids, apart from the texts: the codings of a
    /// batch look them up after the texts have left the CPU's caches.
    ids: String,
    slots: Vec<PassageSlot>,
    /// One per slot, when the codebook has `where` scopes.
    contexts: Vec<Context>,
    text_bytes: usize,
}

struct PassageSlot {
    id: (usize, usize),
    document_id: (usize, usize),
    text: (usize, usize),
    start: i64,
    end: i64,
}

impl PassageBatch {
    fn put(buf: &mut String, s: &str) -> (usize, usize) {
        let from = buf.len();
        buf.push_str(s);
        (from, buf.len())
    }

    fn text(&self, p: &PassageSlot) -> &str {
        &self.buf[p.text.0..p.text.1]
    }

    fn id(&self, (from, to): (usize, usize)) -> &str {
        &self.ids[from..to]
    }

    /// Add a passage; `context` makes its context when the scan read one.
    fn push(
        &mut self,
        p: &crate::store::PassageView<'_>,
        context: impl FnOnce(&crate::store::PassageContext<'_>) -> Context,
    ) {
        let slot = PassageSlot {
            id: Self::put(&mut self.ids, p.id),
            document_id: Self::put(&mut self.ids, p.document_id),
            text: Self::put(&mut self.buf, p.text),
            start: p.start,
            end: p.end,
        };
        self.slots.push(slot);
        self.text_bytes += p.text.len();
        if let Some(c) = &p.context {
            self.contexts.push(context(c));
        }
    }

    fn clear(&mut self) {
        self.buf.clear();
        self.ids.clear();
        self.slots.clear();
        self.contexts.clear();
        self.text_bytes = 0;
    }
}

/// Store a batch, then bring the index up to the store's generation.
fn write_batch(
    store: &mut Store,
    w: &mut IndexUpdate,
    docs: Vec<NewDocument>,
    progress: &mut dyn Progress,
) -> Result<()> {
    if docs.is_empty() {
        return Ok(());
    }
    let (generation, rowids) = store.write_batch(&docs)?;
    progress.saved(&docs.iter().map(|d| d.key.clone()).collect::<Vec<_>>());
    for (d, ids) in docs.iter().zip(rowids) {
        w.delete_document(&d.id);
        let fields = DocumentFields {
            id: &d.id,
            key: &d.key,
            format: &d.format,
            metadata: &d.metadata,
        };
        for (p, rowid) in d.passages.iter().zip(ids) {
            w.add_passage(
                &fields,
                &PassageFields {
                    rowid,
                    text: &p.text,
                    kind: &p.kind,
                    speaker: p.speaker.as_deref(),
                    speaker_role: p.speaker_role.as_deref(),
                    section: p.section.as_deref(),
                },
            )?;
        }
    }
    w.commit(generation)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::Silent;

    /// An archive of the sample corpus, and its PD codebook.
    fn sample() -> (tempfile::TempDir, Project, Codebook) {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let dir = tempfile::tempdir().unwrap();
        let mut p = Project::create(dir.path().join("arkiv")).unwrap();
        let sample = root.join("corpus-sample");
        p.ingest(
            std::slice::from_ref(&sample),
            Some(&sample.join("metadata.csv")),
            &mut Silent,
        )
        .unwrap();
        let cb = Codebook::load(&sample.join("codebooks/pd.toml")).unwrap();
        (dir, p, cb)
    }

    /// A machine coding: coder, passage, code, start, end, spans and rule.
    type Coded = (String, String, String, i64, i64, String, Option<String>);

    /// The machine codings in id order, without the time they were made.
    fn machine_codings(p: &Project) -> Vec<Coded> {
        p.store
            .codings(Some("machine"))
            .unwrap()
            .into_iter()
            .map(|c| {
                (
                    c.coder,
                    c.passage_id,
                    c.code_id,
                    c.start,
                    c.end,
                    c.spans,
                    c.rule,
                )
            })
            .collect()
    }

    /// A passage's context holds only the fields the codebook's scopes look at,
    /// each with the value a context of every field would give it: the passage's
    /// own kind, document, speaker and role, the document's metadata otherwise.
    #[test]
    fn a_passage_context_holds_what_the_scopes_ask_for_as_a_full_one_would() {
        let (_dir, p, _) = sample();
        let cb = Codebook::parse(
            r#"format = 1
[codebook]
id = "t"
version = "1"
[[code]]
id = "a"
name = "A"
  [[code.rule]]
  query = "ungdom"
  where = { kind = ["turn"], speaker = ["!x"], speaker_role = ["!intervjuer"], municipality = ["Grue", "Åsnes"] }
  [[code.rule]]
  query = "skole"
  where = { document_type = ["intervju"], document = ["!x"], nowhere = ["!y"] }
"#,
            false,
            None,
        )
        .unwrap();
        let meta = p.store.metadata().unwrap();
        let mut coder = BatchCoder::new(&cb, &meta, 1, usize::MAX);
        let fields = coder.context_fields.clone();
        assert_eq!(fields.len(), 7, "{fields:?}");
        let mut full = Vec::new();
        p.store
            .scan_passages(true, |v| {
                let c = v.context.as_ref().unwrap();
                let mut ctx: Context = meta.get(v.document_id).cloned().unwrap_or_default();
                ctx.insert("kind".into(), c.kind.to_string());
                ctx.insert("document".into(), c.document.to_string());
                if let Some(s) = c.speaker {
                    ctx.insert("speaker".into(), s.to_string());
                }
                if let Some(s) = c.speaker_role {
                    ctx.insert("speaker_role".into(), s.to_string());
                }
                full.push(ctx);
                coder.push(&v);
                Ok(true)
            })
            .unwrap();
        assert!(full.len() > 100);
        assert_eq!(coder.batch.contexts.len(), full.len());
        let mut with_speaker = 0;
        for (got, full) in coder.batch.contexts.iter().zip(&full) {
            let want: Context = full
                .iter()
                .filter(|(k, _)| fields.contains(k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            assert_eq!(got, &want);
            with_speaker += usize::from(got.contains_key("speaker"));
        }
        assert!(
            with_speaker > 10 && with_speaker < full.len(),
            "{with_speaker}"
        );
    }

    /// Ingest leaves the index a vocabulary of every word form in the archive
    /// with its terms; autocoding with it writes what autocoding without it
    /// writes, which notes the forms it analysed, and a rebuilt index makes
    /// it again.
    #[test]
    fn the_index_vocabulary_holds_every_form_and_autocoding_with_it_changes_nothing() {
        let (_dir, mut p, cb) = sample();
        let file = p.index.path().join(crate::index::vocabulary::FILE);
        let lines = p.index.vocabulary().expect("ingest wrote a vocabulary");
        let held: std::collections::HashMap<&str, &str> =
            lines.lines().map(|l| l.split_once('\t').unwrap()).collect();
        assert_eq!(held.len(), lines.lines().count(), "each form once");
        let mut forms = std::collections::BTreeSet::new();
        p.store
            .for_each_passage(|row| {
                forms.extend(crate::analysis::words(&row.text).map(|w| w.lower));
                Ok(true)
            })
            .unwrap();
        assert!(forms.len() > 1000, "{}", forms.len());
        for f in &forms {
            let a = crate::analysis::analyze_word(f);
            let terms: Vec<&str> = a.full.iter().chain(&a.parts).map(String::as_str).collect();
            assert_eq!(held.get(f.as_str()), Some(&&*terms.join("\t")), "{f}");
        }
        p.autocode(&cb, &mut Silent).unwrap();
        let with = machine_codings(&p);
        assert!(with.len() > 100, "{}", with.len());
        std::fs::remove_file(&file).unwrap();
        let cb = Codebook::parse(&cb.source, false, None).unwrap();
        p.autocode(&cb, &mut Silent).unwrap();
        assert_eq!(machine_codings(&p), with);
        // The run without a vocabulary noted the forms it analysed.
        let noted = p.index.vocabulary().expect("autocoding wrote a vocabulary");
        let mut noted: Vec<&str> = noted.lines().collect();
        let mut all: Vec<&str> = lines.lines().collect();
        noted.sort_unstable();
        all.sort_unstable();
        assert_eq!(noted, all);
        std::fs::remove_file(&file).unwrap();
        // A rebuild, in a new process as far as the index knows: every form again.
        drop(p);
        let mut p = Project::open(_dir.path().join("arkiv")).unwrap();
        p.reindex(&mut Silent).unwrap();
        assert_eq!(p.index.vocabulary().unwrap().lines().count(), held.len());
    }

    /// A run writes each batch as it is coded (on a thread of its own when it
    /// has more than one): however the passages are cut into batches, and on
    /// however many threads, it writes what one batch on one thread writes.
    #[test]
    fn autocode_in_many_batches_on_any_threads_writes_what_one_batch_writes() {
        let (_dir, mut p, cb) = sample();
        let one = p
            .autocode_in_batches(&cb, &mut Silent, 1, usize::MAX)
            .unwrap();
        let expected = machine_codings(&p);
        assert!(expected.len() > 100, "{}", expected.len());
        for (threads, bytes) in [(1, 4096), (2, 4096), (2, 1), (3, 20_000)] {
            let mut updates = 0;
            let mut count = |_: u64, _: u64, _: &str| {
                updates += 1;
                true
            };
            let r = p
                .autocode_in_batches(&cb, &mut count, threads, bytes)
                .unwrap();
            assert_eq!(
                (
                    r.codings,
                    r.passages,
                    r.replaced,
                    &r.by_code,
                    &r.silent_rules
                ),
                (
                    one.codings,
                    one.passages,
                    one.codings,
                    &one.by_code,
                    &one.silent_rules
                ),
                "{threads} threads, {bytes} bytes"
            );
            assert!(updates > 10, "{updates} progress updates");
            assert_eq!(
                machine_codings(&p),
                expected,
                "{threads} threads, {bytes} bytes"
            );
        }
    }

    /// A passage that cannot be read (its text is not UTF-8) ends the run with
    /// an error naming it, whichever thread read it, and the codebook's previous
    /// run stays as it was.
    #[test]
    fn autocode_that_cannot_read_a_passage_keeps_the_previous_run() {
        let (_dir, mut p, cb) = sample();
        p.autocode(&cb, &mut Silent).unwrap();
        let expected = machine_codings(&p);
        p.store.execute_for_test(
            "UPDATE passages SET text = CAST(x'ff' AS TEXT)
             WHERE rowid = (SELECT max(rowid) FROM passages)",
        );
        for threads in [1, 2] {
            let e = p
                .autocode_in_batches(&cb, &mut Silent, threads, 4096)
                .unwrap_err();
            assert!(e.to_string().contains("text is not valid utf-8"), "{e}");
            assert!(e.to_string().contains("store.sqlite"), "{e}");
            assert_eq!(machine_codings(&p), expected, "{threads} threads");
        }
    }

    /// Without WAL (a file system without shared memory) passages cannot be read
    /// while the run writes: everything is coded first, and the codings are
    /// the same.
    #[test]
    fn autocode_without_wal_writes_the_same_codings() {
        let (_dir, mut p, cb) = sample();
        p.autocode_in_batches(&cb, &mut Silent, 2, 4096).unwrap();
        let expected = machine_codings(&p);
        p.store.set_journal_mode("DELETE");
        for threads in [1, 2] {
            let r = p
                .autocode_in_batches(&cb, &mut Silent, threads, 4096)
                .unwrap();
            assert_eq!(r.codings as usize, expected.len());
            assert_eq!(r.replaced as usize, expected.len());
            assert_eq!(machine_codings(&p), expected, "{threads} threads");
        }
        let mut updates = 0;
        let mut stop = |_: u64, _: u64, _: &str| {
            updates += 1;
            updates < 3
        };
        assert!(matches!(
            p.autocode_in_batches(&cb, &mut stop, 1, 4096),
            Err(Error::Cancelled)
        ));
        assert_eq!(machine_codings(&p), expected);
    }

    /// Ctrl-C after some batches were written: the run is rolled back and the
    /// codings of the codebook's previous run stay as they were.
    #[test]
    fn autocode_cancelled_after_batches_were_written_keeps_the_previous_run() {
        let (_dir, mut p, cb) = sample();
        p.autocode(&cb, &mut Silent).unwrap();
        let expected = machine_codings(&p);
        // The same codebook id, other rules: had the run been kept, every
        // coding would be another.
        let other = Codebook::parse(
            &format!(
                "format = 1\n[codebook]\nid = \"{}\"\nversion = \"2\"\n\
                 [[code]]\nid = \"alt\"\nname = \"Alt\"\n  [[code.rule]]\n  query = \"og\"\n",
                cb.meta.id
            ),
            false,
            None,
        )
        .unwrap();
        for threads in [1, 2] {
            let mut updates = 0;
            let mut stop = |_: u64, _: u64, _: &str| {
                updates += 1;
                updates < 3
            };
            let e = p
                .autocode_in_batches(&other, &mut stop, threads, 4096)
                .unwrap_err();
            assert!(matches!(e, Error::Cancelled), "{e}");
            assert_eq!(updates, 3);
            assert_eq!(machine_codings(&p), expected, "{threads} threads");
        }
        // The archive takes the next run as usual.
        let r = p.autocode_in_batches(&other, &mut Silent, 2, 4096).unwrap();
        assert_eq!(r.replaced as usize, expected.len());
        assert!(machine_codings(&p).iter().all(|c| c.2 == "alt"));
    }

    #[test]
    fn bulk_ingest_when_many_batches_bring_much_next_to_what_is_stored() {
        const MB: u64 = 1_000_000;
        // Many files or many bytes into an empty archive.
        assert!(bulk_ingest(1100, MB, 256, 0));
        assert!(bulk_ingest(3, 300 * MB, 256, 0));
        // Fewer than four batches.
        assert!(!bulk_ingest(100, MB, 256, 0));
        assert!(!bulk_ingest(700, 100 * MB, 256, 0));
        // 1 GB more for an archive of 3.3 million passages, but not 100 MB.
        assert!(bulk_ingest(4000, 1000 * MB, 256, 3_300_000));
        assert!(!bulk_ingest(400, 100 * MB, 256, 3_300_000));
    }

    /// Regression: marking a hit analysed every word of its passage again; the
    /// words are now those the index holds the query's terms at, and they must
    /// be the words that analysis finds.
    #[test]
    fn marks_from_the_index_s_positions_are_the_words_analysis_marks() {
        let (_dir, p, _) = sample();
        let queries = [
            "ungdom",
            "helse",
            "skole OR barnehage",
            "\"psykisk helse\"",
            "samarbeid NEAR/5 skole",
            "oppfølging AND NOT skole",
            "ungdoms*",
            "=ungdommene",
            "nav speaker_role:intervjuer",
            "municipality:Grue",
            "kommunen «ungdom»",
        ];
        let mut analyzer = crate::analysis::NorwegianTokenizer;
        let (mut hits, mut marked_hits, mut marks) = (0, 0, 0);
        for q in queries {
            let (found, rows) = p.run(q, None).unwrap();
            let marked = p.marked_words(&found).unwrap();
            assert_eq!(marked.len(), found.hits.len(), "{q}");
            assert!(!rows.is_empty(), "{q} finds nothing in the sample");
            for r in &rows {
                let i = found
                    .hits
                    .iter()
                    .position(|h| h.1 as i64 == r.rowid)
                    .unwrap();
                let want = search::marks(&r.text, &found.highlight, &mut analyzer);
                assert_eq!(marks_at(&r.text, &marked[i]), want, "{q}: {}", r.id);
                hits += 1;
                marked_hits += usize::from(!want.is_empty());
                marks += want.len();
            }
        }
        assert!(
            hits > 1000 && marked_hits > 1000 && marks > 1500,
            "{hits} {marked_hits} {marks}"
        );
        // A search's snippets and KWIC lines mark the same words.
        let r = p.search("helse", Some(5)).unwrap();
        assert!(r.total > 5);
        let k = p.kwic("helse", 10, None).unwrap();
        assert!(k.num_rows() >= r.total);
    }

    /// Regression: a snippet copied its whole passage into a vector of code
    /// points and each piece of it into strings of their own; it is now written
    /// in one pass, and must be the snippet it was for every hit of the sample.
    #[test]
    fn snippets_of_every_hit_are_the_snippets_written_over_code_points() {
        let (_dir, p, _) = sample();
        let mut compared = 0;
        for q in [
            "ungdom",
            "helse OR skole",
            "\"psykisk helse\"",
            "nav AND kommunen",
        ] {
            let m = p.run_marked(q, None).unwrap();
            for r in &m.rows {
                let marks = m.marks(r);
                for width in [200, 40] {
                    assert_eq!(
                        snippet(&r.text, &marks, width),
                        search::snippet_reference(&r.text, &marks, width),
                        "{q}: {}",
                        r.id
                    );
                    compared += 1;
                }
            }
        }
        assert!(compared > 1000, "{compared}");
    }

    /// Once searches have read as many facet values from a segment's columns
    /// as it has documents, its values are held densely; facet counts are the
    /// same either way, with and without a limit.
    #[test]
    fn facet_counts_are_the_same_once_a_segment_s_values_are_held_densely() {
        let (dir, p, _) = sample();
        let queries = [
            "",
            "ungdom",
            "helse AND NOT nav",
            "\"psykisk helse\"",
            "skole OR barnehage",
        ];
        // Each query the first search of a fresh project: from the columns.
        let first = |q: &str, limit| {
            let fresh = Project::open(dir.path().join("arkiv")).unwrap();
            let facets = fresh.search(q, limit).unwrap().facets;
            assert_eq!(fresh.index.dense_segments().0, 0, "{q}");
            facets
        };
        let before: Vec<_> = queries
            .iter()
            .map(|q| (first(q, None), first(q, Some(2))))
            .collect();
        // Every passage's values read once: the next search holds them densely.
        p.search("", Some(1)).unwrap();
        p.search("", Some(1)).unwrap();
        let (dense, kept) = p.index.dense_segments();
        assert!(kept > 0 && dense == kept, "{dense} of {kept}");
        for (q, (all, some)) in queries.iter().zip(before) {
            assert!(all.values().any(|v| !v.is_empty()), "{q}");
            assert_eq!(p.search(q, None).unwrap().facets, all, "{q}");
            assert_eq!(p.search(q, Some(2)).unwrap().facets, some, "{q}");
        }
    }

    /// A small archive is searched on the searching thread, a large one on the
    /// index's threads; both find the same, in the same order, with the same
    /// scores and facets.
    #[test]
    fn searches_on_one_thread_and_on_the_index_s_threads_find_the_same() {
        let (_dir, mut p, _) = sample();
        let queries = [
            "ungdom",
            "helse OR skole",
            "\"psykisk helse\"",
            "samarbeid NEAR/5 skole",
            "oppfølging AND NOT skole",
            "municipality:Grue",
            "date:[2022-01-01 TO *]",
            "",
        ];
        let run = |p: &Project| -> Vec<_> {
            queries
                .iter()
                .flat_map(|q| {
                    [None, Some(5)].map(|limit| {
                        let f = search::run(&p.index, q, limit).unwrap();
                        (f.hits, f.total, f.facets)
                    })
                })
                .collect()
        };
        assert!(p.index.parallel_min_docs > 10_000, "the sample is small");
        let alone = run(&p);
        p.index.parallel_min_docs = 0;
        assert_eq!(run(&p), alone);
    }

    /// A search with a limit collects its best hits, total and facets in one
    /// pass where the query cannot skip candidates, in two where it can; either
    /// way it finds what a search without a limit finds, cut to the limit.
    #[test]
    fn limited_searches_are_the_head_of_the_whole_search_in_one_pass_or_two() {
        let (_dir, p, _) = sample();
        let queries = [
            "ungdom",
            "helse OR skole",
            "=ungdommene",
            "\"psykisk helse\"",
            "samarbeid NEAR/5 skole",
            "oppfølging AND NOT skole",
            "skole AND kommunen",
            "municipality:Grue",
            "nav speaker_role:intervjuer",
            "ungdoms*",
            "date:[2022-01-01 TO *]",
            "",
        ];
        let mut passes = std::collections::BTreeSet::new();
        for q in queries {
            passes.insert(search::one_pass(&p.index, q));
            let all = search::run(&p.index, q, None).unwrap();
            assert!(all.total > 3, "{q}: {}", all.total);
            for k in [0, 1, 3, 20, all.total + 1] {
                let some = search::run(&p.index, q, Some(k)).unwrap();
                assert_eq!(some.total, all.total, "{q} {k}");
                assert_eq!(some.facets, all.facets, "{q} {k}");
                // The same hits in the same order. A union of terms that skips
                // candidates sums its terms' scores in another order than the
                // whole union does, which may change a score's last bit.
                let head = &all.hits[..k.min(all.total)];
                let rowids = |h: &[(f32, u64)]| h.iter().map(|x| x.1).collect::<Vec<_>>();
                assert_eq!(rowids(&some.hits), rowids(head), "{q} {k}");
                for (a, b) in some.hits.iter().zip(head) {
                    assert!(
                        (a.0 - b.0).abs() <= 1e-5 * b.0.abs(),
                        "{q} {k}: {a:?} {b:?}"
                    );
                }
            }
        }
        assert_eq!(passes.len(), 2, "both ways are tried");
    }

    #[test]
    fn marks_at_positions_past_the_last_word_are_left_out() {
        assert_eq!(
            marks_at("Åtte ord, og «så»", &[0, 3, 9]),
            vec![(0, 4), (14, 16)]
        );
        assert!(marks_at("tekst", &[]).is_empty());
    }

    /// Facet counts, counted a block of hits at a time into several rows of
    /// counters, are the counts of the hits' own values (a missing value
    /// counts as the empty one).
    #[test]
    fn facet_counts_are_the_counts_of_every_hit_s_values() {
        use arrow_array::Array;
        let (_dir, p, _) = sample();
        for q in ["", "ungdom", "skole OR barnehage", "helse AND NOT nav"] {
            let all = p.search(q, None).unwrap();
            let limited = p.search(q, Some(3)).unwrap();
            assert!(all.total > 64, "{q}: {} hits", all.total);
            for name in crate::index::FACETS {
                let col = all.table.column_by_name(name).unwrap();
                let col = col
                    .as_any()
                    .downcast_ref::<arrow_array::StringViewArray>()
                    .map(|c| {
                        (0..c.len())
                            .map(|i| c.is_valid(i).then(|| c.value(i).to_string()))
                            .collect::<Vec<_>>()
                    })
                    .or_else(|| {
                        col.as_any()
                            .downcast_ref::<arrow_array::StringArray>()
                            .map(|c| {
                                (0..c.len())
                                    .map(|i| c.is_valid(i).then(|| c.value(i).to_string()))
                                    .collect()
                            })
                    })
                    .unwrap();
                let mut want: BTreeMap<String, u64> = BTreeMap::new();
                for v in col {
                    *want.entry(v.unwrap_or_default()).or_default() += 1;
                }
                let got: BTreeMap<String, u64> = limited.facets[name].iter().cloned().collect();
                assert_eq!(got, want, "{q}: {name}");
                let got_all: BTreeMap<String, u64> = all.facets[name].iter().cloned().collect();
                assert_eq!(got_all, want, "{q}: {name}");
            }
        }
    }

    /// The columns a search reads are kept per segment; a segment that leaves
    /// the index (an ingest's new segments and merges, a rebuild) leaves the
    /// cache at the next search, and what a search finds never comes from a
    /// segment's columns kept past it.
    #[test]
    fn searches_keep_each_live_segment_s_columns_and_only_those() {
        use arrow_array::Array;
        let (dir, mut p, _) = sample();
        let before = p.search("ungdom", Some(5)).unwrap();
        assert!(before.total > 5);
        assert_eq!(p.index.cached_segments(), p.index.live_segments());
        let extra = dir.path().join("ekstra");
        std::fs::create_dir(&extra).unwrap();
        std::fs::write(
            extra.join("ungdomsklubb.txt"),
            "Ungdomsklubben samler ungdom hver torsdag.\n\nUngdommene lager mat sammen.\n",
        )
        .unwrap();
        p.ingest(std::slice::from_ref(&extra), None, &mut Silent)
            .unwrap();
        let after = p.search("ungdom", None).unwrap();
        assert_eq!(after.total, before.total + 2);
        let docs = after.table.column_by_name("document").unwrap();
        let docs = docs
            .as_any()
            .downcast_ref::<arrow_array::StringArray>()
            .map(|c| {
                (0..c.len())
                    .map(|i| c.value(i).to_string())
                    .collect::<Vec<_>>()
            })
            .unwrap();
        assert_eq!(
            docs.iter().filter(|d| d.contains("ungdomsklubb")).count(),
            2
        );
        // The new document has no metadata: two more hits with empty facet values.
        let empty = |r: &SearchResult| {
            r.facets["municipality"]
                .iter()
                .find(|(v, _)| v.is_empty())
                .map_or(0, |(_, n)| *n)
        };
        assert_eq!(empty(&after), empty(&before) + 2);
        assert_eq!(p.index.cached_segments(), p.index.live_segments());
        let old = p.index.cached_segments();
        p.reindex(&mut Silent).unwrap();
        let again = p.search("ungdom", None).unwrap();
        assert_eq!(again.total, after.total);
        assert_eq!(p.index.cached_segments(), p.index.live_segments());
        assert!(old.is_disjoint(&p.index.cached_segments()));
    }
}
