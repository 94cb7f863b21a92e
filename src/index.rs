//! The tantivy index, derived from the store: one index document per passage.
//! The Norwegian analyzer feeds `text`, lower-cased word forms feed `exact`, and
//! metadata goes to a JSON field for filters and to fast fields for facets.
//! Each commit records the store generation it reflects and the version of the
//! analysis that made its terms; an index whose generation differs from the
//! store's, or whose analysis differs from this build's, is stale and is
//! rebuilt from the store. Beside it, its [`vocabulary`]: the forms its
//! analyzer met, with their terms, for coding runs to look up.
//!
//! Never writes to the store.

pub mod vocabulary;

use crate::analysis::{ExactTokenizer, FormLog, LoggingTokenizer, ANALYSIS_VERSION};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use tantivy::columnar::{Column, ColumnIndex, StrColumn};
use tantivy::schema::{
    Field, IndexRecordOption, JsonObjectOptions, Schema, TextFieldIndexing, TextOptions, FAST,
    INDEXED, STRING,
};
use tantivy::tokenizer::{LowerCaser, RawTokenizer, TextAnalyzer};
use tantivy::{
    index::SegmentId, DocId, Index, IndexReader, IndexWriter, ReloadPolicy, SegmentReader,
    TantivyDocument, Term,
};

pub const TOKENIZER_NB: &str = "innsikt_nb";
pub const TOKENIZER_EXACT: &str = "innsikt_exact";
pub const TOKENIZER_KEYWORD: &str = "innsikt_keyword";

/// Indexing threads of a writer at most (one per core up to this).
pub const MAX_INDEXING_THREADS: usize = 4;

/// Facet fields kept as fast columns.
pub const FACETS: [&str; 3] = ["municipality", "document_type", "speaker_role"];

/// The fast columns a search reads of one segment: each hit's passage rowid
/// and its facet values.
pub struct SegmentColumns {
    pub rowid: Column<u64>,
    /// By [`FACETS`]; None where the segment has no such column.
    pub facets: Vec<Option<StrColumn>>,
    /// By [`FACETS`]: each term ordinal's value, read once with the column
    /// (every search that counts a facet names its values).
    pub names: Vec<Vec<String>>,
    max_doc: DocId,
    /// Facet values searches have read from the columns so far.
    column_reads: AtomicU64,
    dense: OnceLock<Arc<Dense>>,
}

/// Every document's value ordinal of each facet: `ords[doc][facet]`, the
/// facets of a document side by side (a hit's three values are one load from
/// memory); `held[facet]` says which facets are held so.
pub struct Dense {
    pub ords: Vec<[u16; FACETS.len()]>,
    pub held: [bool; FACETS.len()],
}

/// In [`SegmentColumns::dense`]: a document without a value.
pub const NO_VALUE: u16 = u16::MAX;

impl SegmentColumns {
    /// Every document's value ordinal of each facet ([`NO_VALUE`] where it has
    /// none), for facets of one value per document and fewer than
    /// [`NO_VALUE`] values. Made once searches have read as many values from
    /// the columns as the segment has documents (what making it reads), so that
    /// searches with many hits count each one with a load from memory instead
    /// of decoding the columns, and a segment only ever searched for a few hits
    /// keeps nothing more: 6 bytes a passage where it is made.
    pub fn dense(&self) -> Option<Arc<Dense>> {
        if let Some(d) = self.dense.get() {
            return Some(Arc::clone(d));
        }
        if self.column_reads.load(Ordering::Relaxed) < u64::from(self.max_doc) {
            return None;
        }
        Some(Arc::clone(
            self.dense.get_or_init(|| Arc::new(self.make_dense())),
        ))
    }

    /// Counts values read from the columns, towards [`SegmentColumns::dense`].
    pub fn read_from_columns(&self, values: u64) {
        self.column_reads.fetch_add(values, Ordering::Relaxed);
    }

    fn make_dense(&self) -> Dense {
        let n = self.max_doc as usize;
        let mut ords = vec![[NO_VALUE; FACETS.len()]; n];
        let mut held = [false; FACETS.len()];
        for (f, column) in self.facets.iter().enumerate() {
            // A segment without the facet holds it as no value anywhere.
            let Some(c) = column else {
                held[f] = true;
                continue;
            };
            let column = c.ords();
            if c.num_terms() >= usize::from(NO_VALUE) {
                continue;
            }
            // Each ordinal is below `num_terms`, so below NO_VALUE.
            let narrow = |o: u64| o as u16;
            match &column.index {
                // A value per document, in document order.
                ColumnIndex::Full => {
                    let mut all = vec![0u64; n.min(column.values.num_vals() as usize)];
                    column.values.get_range(0, &mut all);
                    for (slot, v) in ords.iter_mut().zip(all) {
                        slot[f] = narrow(v);
                    }
                }
                // The values of the documents that have one, in order.
                ColumnIndex::Optional(index) => {
                    let values =
                        (index.num_non_nulls() as usize).min(column.values.num_vals() as usize);
                    let mut all = vec![0u64; values];
                    column.values.get_range(0, &mut all);
                    for (doc, v) in index.iter_non_null_docs().zip(all) {
                        if let Some(slot) = ords.get_mut(doc as usize) {
                            slot[f] = narrow(v);
                        }
                    }
                }
                ColumnIndex::Empty { .. } => {}
                // Several values per document: counted from the column.
                ColumnIndex::Multivalued(_) => continue,
            }
            held[f] = true;
        }
        Dense { ords, held }
    }

    /// Whether [`SegmentColumns::dense`] has been made.
    #[cfg(test)]
    pub(crate) fn is_dense(&self) -> bool {
        self.dense.get().is_some()
    }
}

/// Archives of fewer passages are searched on the searching thread alone:
/// handing a search's segments to the index's threads and waiting for them
/// costs more than it saves where every segment is small (100 MB of text is
/// about 330,000 passages; at 3.3 million, two threads took the mix's p50 from
/// 2.1 to 1.3 ms).
pub const PARALLEL_MIN_DOCS: u64 = 1_000_000;

/// Segments' columns kept at most; past this the cache starts over.
const CACHED_SEGMENTS: usize = 1024;

#[derive(Clone, Copy)]
pub struct Fields {
    pub rowid: Field,
    pub document_id: Field,
    pub text: Field,
    pub exact: Field,
    pub meta: Field,
    pub facets: [Field; 3],
}

pub fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let rowid = b.add_u64_field("rowid", FAST | INDEXED);
    let document_id = b.add_text_field("document_id", STRING);
    let positions = |tok: &str| {
        TextOptions::default().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(tok)
                .set_index_option(IndexRecordOption::WithFreqsAndPositions),
        )
    };
    let text = b.add_text_field("text", positions(TOKENIZER_NB));
    let exact = b.add_text_field("exact", positions(TOKENIZER_EXACT));
    let meta = b.add_json_field(
        "meta",
        JsonObjectOptions::default().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(TOKENIZER_KEYWORD)
                .set_index_option(IndexRecordOption::Basic),
        ),
    );
    let facets = FACETS.map(|name| b.add_text_field(&format!("facet_{name}"), STRING | FAST));
    (
        b.build(),
        Fields {
            rowid,
            document_id,
            text,
            exact,
            meta,
            facets,
        },
    )
}

fn register_tokenizers(index: &Index, log: &Arc<FormLog>) {
    let m = index.tokenizers();
    m.register(
        TOKENIZER_NB,
        TextAnalyzer::from(LoggingTokenizer { log: log.clone() }),
    );
    m.register(TOKENIZER_EXACT, TextAnalyzer::from(ExactTokenizer));
    m.register(
        TOKENIZER_KEYWORD,
        TextAnalyzer::builder(RawTokenizer::default())
            .filter(LowerCaser)
            .build(),
    );
}

/// An index failure, with the index directory.
#[derive(Debug)]
pub struct IndexError {
    pub path: PathBuf,
    pub message: String,
}

impl std::fmt::Display for IndexError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.message)
    }
}

impl std::error::Error for IndexError {}

/// What an index's last commit recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recorded {
    /// The store generation it reflects (None for an index never committed).
    pub generation: Option<u64>,
    /// The [`ANALYSIS_VERSION`] whose terms it holds (None for an index never
    /// committed).
    pub analysis: Option<u32>,
}

impl Recorded {
    /// Whether the index holds terms of another analysis than this build's.
    pub fn analysis_outdated(&self) -> bool {
        self.analysis.is_some_and(|v| v != ANALYSIS_VERSION)
    }
}

pub struct SearchIndex {
    pub index: Index,
    pub reader: IndexReader,
    pub fields: Fields,
    path: PathBuf,
    /// The forms the analyzer met since the index was opened, for the vocabulary.
    log: Arc<FormLog>,
    /// What the last write of the vocabulary knew of its file.
    vocabulary: Mutex<Option<vocabulary::Known>>,
    /// The bytes of `meta.json` when the reader last loaded the index (read
    /// before it loaded, so never newer than what it loaded). Every commit
    /// and merge writes a new `meta.json` with a higher opstamp.
    loaded_meta: Mutex<Option<Vec<u8>>>,
    /// Archives of at least this many passages are searched on the index's
    /// threads, smaller ones on the searching thread ([`PARALLEL_MIN_DOCS`]).
    pub(crate) parallel_min_docs: u64,
    /// Each segment's fast columns, opened by the first search that read them:
    /// opening a column parses all of it that is not values (a blockwise-linear
    /// column's line for every 512 values), which was close to half of a
    /// search on a large archive. Segments never change, so an entry stays
    /// right until its segment leaves the index; [`SearchIndex::reload`] then
    /// drops it.
    columns: Mutex<HashMap<SegmentId, Arc<SegmentColumns>>>,
}

impl SearchIndex {
    fn err(path: &Path, e: impl std::fmt::Display) -> IndexError {
        IndexError {
            path: path.to_path_buf(),
            message: e.to_string(),
        }
    }

    /// Open the index in `dir`, creating an empty one if there is none. An index
    /// with another schema is reported as an error (the caller rebuilds it).
    pub fn open_or_create(dir: &Path) -> Result<SearchIndex, IndexError> {
        std::fs::create_dir_all(dir).map_err(|e| Self::err(dir, e))?;
        let (schema, fields) = schema();
        let mmap = tantivy::directory::MmapDirectory::open(dir).map_err(|e| Self::err(dir, e))?;
        let mut index = if Index::exists(&mmap).map_err(|e| Self::err(dir, e))? {
            let index = Index::open(mmap).map_err(|e| Self::err(dir, e))?;
            if index.schema() != schema {
                return Err(Self::err(dir, "index schema differs from this build"));
            }
            index
        } else {
            Index::create(mmap, schema, tantivy::IndexSettings::default())
                .map_err(|e| Self::err(dir, e))?
        };
        let log = Arc::new(FormLog::new());
        register_tokenizers(&index, &log);
        // Segments are searched in parallel, one thread per core.
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(8));
        if threads > 1 {
            index
                .set_multithread_executor(threads)
                .map_err(|e| Self::err(dir, e))?;
        }
        // Read before the reader loads the index: never newer than what it loaded.
        let meta = std::fs::read(dir.join("meta.json")).ok();
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()
            .map_err(|e| Self::err(dir, e))?;
        Ok(SearchIndex {
            index,
            reader,
            fields,
            path: dir.to_path_buf(),
            log,
            vocabulary: Mutex::new(None),
            loaded_meta: Mutex::new(meta),
            parallel_min_docs: PARALLEL_MIN_DOCS,
            columns: Mutex::new(HashMap::new()),
        })
    }

    /// The vocabulary's lines (a lower-case form and its terms, separated by
    /// tabs) as this build's analysis gives them; None when there is none.
    pub fn vocabulary(&self) -> Option<String> {
        vocabulary::read(&self.path.join(vocabulary::FILE))
            .map(|c| c.lines)
            .filter(|l| !l.is_empty())
    }

    /// Adds the forms met since the last call to the vocabulary. A failure
    /// is not an error of the caller's: the vocabulary is a cache, and what
    /// could not be written is analysed again where it is needed.
    fn save_vocabulary(&self) {
        self.add_to_vocabulary(&self.log.take());
    }

    /// Adds vocabulary `lines` (a lower-case form and the terms this build's
    /// analysis gives it, separated by tabs) whose forms it lacks. As with
    /// the index's own, a failure to write them is not the caller's error.
    pub fn add_to_vocabulary(&self, lines: &str) {
        if lines.is_empty() {
            return;
        }
        let mut known = self.vocabulary.lock().unwrap_or_else(|p| p.into_inner());
        let _ = vocabulary::append(&self.path.join(vocabulary::FILE), &mut known, lines);
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What the last commit recorded (`generation=7 analysis=2`), read once.
    pub fn recorded(&self) -> Recorded {
        let payload = self
            .index
            .load_metas()
            .ok()
            .and_then(|m| m.payload)
            .unwrap_or_default();
        let value = |key: &str| {
            payload
                .split_whitespace()
                .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
        };
        let generation = value("generation").and_then(|g| g.parse().ok());
        Recorded {
            generation,
            // 1 for an index committed before versions were recorded; 0 for one
            // this build cannot read.
            analysis: generation.map(|_| value("analysis").map_or(1, |v| v.parse().unwrap_or(0))),
        }
    }

    /// The store generation the last commit reflects (None for a new index).
    pub fn generation(&self) -> Option<u64> {
        self.recorded().generation
    }
    pub fn writer(&self) -> Result<IndexUpdate<'_>, IndexError> {
        let threads = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
            .min(MAX_INDEXING_THREADS);
        let writer: IndexWriter = self
            .index
            .writer_with_num_threads(threads, 64 * 1024 * 1024 * threads)
            .map_err(|e| Self::err(&self.path, e))?;
        Ok(IndexUpdate {
            index: self,
            writer,
        })
    }

    /// Make searches see the index's latest commit. A reload opens every
    /// segment again (0.4–0.5 ms for 1 GB of text in 18 segments), so it happens
    /// only when `meta.json` differs from what the last one saw.
    pub fn reload(&self) -> Result<(), IndexError> {
        let meta = std::fs::read(self.path.join("meta.json")).ok();
        let mut loaded = self.loaded_meta.lock().unwrap_or_else(|p| p.into_inner());
        if meta.is_some() && *loaded == meta {
            return Ok(());
        }
        // On failure the next call tries again.
        *loaded = None;
        self.reader.reload().map_err(|e| Self::err(&self.path, e))?;
        *loaded = meta;
        let live: std::collections::HashSet<SegmentId> = self
            .reader
            .searcher()
            .segment_readers()
            .iter()
            .map(|s| s.segment_id())
            .collect();
        self.columns
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|id, _| live.contains(id));
        Ok(())
    }

    /// The segments whose columns are kept.
    #[cfg(test)]
    pub(crate) fn cached_segments(&self) -> std::collections::BTreeSet<String> {
        let m = self.columns.lock().unwrap_or_else(|p| p.into_inner());
        m.keys().map(|id| id.uuid_string()).collect()
    }

    /// The kept segments whose facet values are held densely, and how many
    /// are kept.
    #[cfg(test)]
    pub(crate) fn dense_segments(&self) -> (usize, usize) {
        let m = self.columns.lock().unwrap_or_else(|p| p.into_inner());
        (m.values().filter(|c| c.is_dense()).count(), m.len())
    }

    /// The segments of the index as the reader last loaded it.
    #[cfg(test)]
    pub(crate) fn live_segments(&self) -> std::collections::BTreeSet<String> {
        let searcher = self.reader.searcher();
        let readers = searcher.segment_readers();
        readers
            .iter()
            .map(|s| s.segment_id().uuid_string())
            .collect()
    }

    /// The fast columns a search reads of `seg`, opened once per segment.
    pub fn segment_columns(&self, seg: &SegmentReader) -> tantivy::Result<Arc<SegmentColumns>> {
        let id = seg.segment_id();
        let kept = self
            .columns
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&id)
            .cloned();
        if let Some(columns) = kept {
            return Ok(columns);
        }
        let ff = seg.fast_fields();
        let mut facets = Vec::with_capacity(FACETS.len());
        let mut names = Vec::with_capacity(FACETS.len());
        for name in FACETS {
            let column = ff.str(&format!("facet_{name}"))?;
            let mut values = Vec::new();
            if let Some(c) = &column {
                // The dictionary in order: value `i` is term ordinal `i`.
                let mut terms = c.dictionary().stream()?;
                while terms.advance() {
                    values.push(String::from_utf8_lossy(terms.key()).into_owned());
                }
            }
            facets.push(column);
            names.push(values);
        }
        let columns = Arc::new(SegmentColumns {
            rowid: ff.u64("rowid")?,
            facets,
            names,
            max_doc: seg.max_doc(),
            column_reads: AtomicU64::new(0),
            dense: OnceLock::new(),
        });
        let mut m = self.columns.lock().unwrap_or_else(|p| p.into_inner());
        if m.len() >= CACHED_SEGMENTS {
            m.clear();
        }
        m.insert(id, Arc::clone(&columns));
        Ok(columns)
    }
}

/// An open index writer. Dropping it without [`IndexUpdate::commit`] discards its changes.
pub struct IndexUpdate<'a> {
    index: &'a SearchIndex,
    writer: IndexWriter,
}

/// What the index needs of a document beyond its passages.
pub struct DocumentFields<'a> {
    pub id: &'a str,
    pub key: &'a str,
    pub format: &'a str,
    pub metadata: &'a BTreeMap<String, String>,
}

/// What the index takes of a passage.
pub struct PassageFields<'a> {
    pub rowid: i64,
    pub text: &'a str,
    pub kind: &'a str,
    pub speaker: Option<&'a str>,
    pub speaker_role: Option<&'a str>,
    pub section: Option<&'a str>,
}

impl IndexUpdate<'_> {
    fn err(&self, e: impl std::fmt::Display) -> IndexError {
        SearchIndex::err(&self.index.path, e)
    }

    pub fn delete_all(&mut self) -> Result<(), IndexError> {
        self.writer
            .delete_all_documents()
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    pub fn delete_document(&mut self, document_id: &str) {
        self.writer.delete_term(Term::from_field_text(
            self.index.fields.document_id,
            document_id,
        ));
    }

    pub fn add_passage(
        &mut self,
        doc: &DocumentFields,
        p: &PassageFields,
    ) -> Result<(), IndexError> {
        let f = &self.index.fields;
        let mut d = TantivyDocument::default();
        d.add_u64(f.rowid, p.rowid as u64);
        d.add_text(f.document_id, doc.id);
        d.add_text(f.text, p.text);
        d.add_text(f.exact, p.text);
        let text = |v: &str| serde_json::Value::String(v.to_string());
        let mut meta: serde_json::Map<String, serde_json::Value> = doc
            .metadata
            .iter()
            .map(|(k, v)| (k.clone(), text(v)))
            .collect();
        meta.insert("document".into(), text(doc.key));
        meta.insert("document_id".into(), text(doc.id));
        meta.insert("format".into(), text(doc.format));
        meta.insert("kind".into(), text(p.kind));
        for (name, value) in [
            ("speaker", p.speaker),
            ("speaker_role", p.speaker_role),
            ("section", p.section),
        ] {
            if let Some(v) = value {
                meta.insert(name.into(), text(v));
            }
        }
        d.add_field_value(f.meta, &serde_json::Value::Object(meta));
        for (i, name) in FACETS.iter().enumerate() {
            let v = match *name {
                "speaker_role" => p.speaker_role,
                other => doc.metadata.get(other).map(String::as_str),
            };
            d.add_text(f.facets[i], v.unwrap_or(""));
        }
        self.writer.add_document(d).map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Commit, recording the store generation this index now reflects. Segment
    /// merges that the commit starts go on in the background; the writer stays
    /// open for the next batch.
    pub fn commit(&mut self, generation: u64) -> Result<(), IndexError> {
        let path = self.index.path.clone();
        let err = |e: tantivy::TantivyError| SearchIndex::err(&path, e);
        let mut prepared = self.writer.prepare_commit().map_err(err)?;
        prepared.set_payload(&format!(
            "generation={generation} analysis={ANALYSIS_VERSION}"
        ));
        prepared.commit().map_err(err)?;
        self.index.save_vocabulary();
        self.index.reload()
    }

    /// Close the writer after its last commit, once running merges are done.
    pub fn finish(self) -> Result<(), IndexError> {
        let index = self.index;
        self.writer
            .wait_merging_threads()
            .map_err(|e| SearchIndex::err(&index.path, e))?;
        index.reload()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn add(index: &SearchIndex, text: &str, rowid: i64) {
        let mut w = index.writer().unwrap();
        let metadata = BTreeMap::new();
        let doc = DocumentFields {
            id: "d1",
            key: "d1.txt",
            format: "txt",
            metadata: &metadata,
        };
        let p = PassageFields {
            rowid,
            text,
            kind: "paragraph",
            speaker: None,
            speaker_role: None,
            section: None,
        };
        w.add_passage(&doc, &p).unwrap();
        w.commit(rowid as u64).unwrap();
        w.finish().unwrap();
    }

    fn generation(index: &SearchIndex) -> u64 {
        index.reader.searcher().generation().generation_id()
    }

    #[test]
    fn a_reload_opens_the_segments_again_only_after_a_commit() {
        let dir = tempfile::tempdir().unwrap();
        let index = SearchIndex::open_or_create(dir.path()).unwrap();
        add(&index, "Ungdomsrådet møttes.", 1);
        let opened = SearchIndex::open_or_create(dir.path()).unwrap();
        let g = generation(&opened);
        opened.reload().unwrap();
        assert_eq!(
            generation(&opened),
            g,
            "an index just opened is not loaded again"
        );
        index.reload().unwrap();
        let g = generation(&index);
        index.reload().unwrap();
        index.reload().unwrap();
        assert_eq!(generation(&index), g, "nothing was committed in between");
        assert_eq!(index.reader.searcher().num_docs(), 1);

        // A second handle on the same folder commits: the first sees it.
        let other = SearchIndex::open_or_create(dir.path()).unwrap();
        add(&other, "Skolen samarbeider med NAV.", 2);
        index.reload().unwrap();
        assert_ne!(generation(&index), g);
        assert_eq!(index.reader.searcher().num_docs(), 2);
    }
}
