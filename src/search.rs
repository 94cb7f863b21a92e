//! Running queries: hits with scores, facet counts over every hit, highlighted
//! snippets and KWIC concordance lines. Reads the index and the store; writes
//! neither.
//!
//! The words to mark in a hit are those the index holds the query's terms at:
//! their positions are read from the postings of the hits' documents and turned
//! into spans by splitting the passage's text into words as the tokenizers do.
//! No word is analysed to mark it.
//!
//! A search with a limit whose query can skip candidates (a term, a union or an
//! intersection of single terms) runs in two passes over each segment: a
//! scoring pass that keeps only the best `limit` hits and lets tantivy skip
//! blocks that cannot beat the current `limit`-th score, and a pass without
//! scores that counts every hit and its facet values, a block of documents at a
//! time. Any other query (phrases, NEAR, mixed boolean) scores every candidate
//! anyway, so it counts and ranks in one pass. A search without a limit scores
//! and keeps every hit. Facet values are read from the fast columns, or from a
//! segment's dense ordinals once searches have read many. Archives of fewer than
//! [`PARALLEL_MIN_DOCS`](crate::index::PARALLEL_MIN_DOCS) passages are searched
//! on the calling thread, larger ones on the index's threads.

use crate::analysis::split_words;
use crate::index::{Dense, Fields, SearchIndex, SegmentColumns, FACETS, NO_VALUE};
use crate::query::{self, Highlight, QueryError};
use std::cmp::Ordering;
use std::collections::{BTreeMap, BinaryHeap};
use std::sync::Arc;
use tantivy::collector::{Collector, SegmentCollector};
use tantivy::columnar::{Cardinality, Column, StrColumn};
use tantivy::postings::Postings;
use tantivy::query::{BooleanQuery, EnableScoring, Occur, Query, TermQuery, Weight};
use tantivy::schema::IndexRecordOption;
use tantivy::Executor;
use tantivy::{DocAddress, DocId, DocSet, Score, Searcher, SegmentOrdinal, SegmentReader, Term};

/// Counts per facet value, by the term ordinals of one segment's column.
struct FacetCounts {
    columns: Vec<Option<StrColumn>>,
    /// The segment's columns, for the names of their values.
    seg: Arc<SegmentColumns>,
    /// Per facet: hits per term ordinal, in [`LANES`] rows of the column's
    /// number of terms each, summed when named.
    counts: Vec<Vec<u64>>,
    /// Per facet: whether each document has at most one value (read in blocks).
    single: Vec<bool>,
    buf: Vec<Option<u64>>,
    /// Values read from the columns (not from the segment's dense ordinals).
    reads: u64,
    /// The segment's dense ordinals, where made when the search began on it.
    dense: Option<Arc<Dense>>,
}

/// Rows of counts that a block's documents are counted into in turn. A facet
/// has few values and most hits share one, so counting into one row would make
/// every increment wait for the one before it to the same counter.
const LANES: usize = 4;

impl FacetCounts {
    fn new(seg: &Arc<SegmentColumns>) -> FacetCounts {
        let columns = seg.facets.clone();
        let counts = columns
            .iter()
            .map(|c| vec![0; LANES * c.as_ref().map_or(0, |c| c.num_terms())])
            .collect();
        let single = columns
            .iter()
            .map(|c| {
                c.as_ref()
                    .is_some_and(|c| c.ords().get_cardinality() != Cardinality::Multivalued)
            })
            .collect();
        FacetCounts {
            columns,
            seg: Arc::clone(seg),
            counts,
            single,
            buf: Vec::new(),
            reads: 0,
            dense: seg.dense(),
        }
    }

    #[inline]
    fn add(&mut self, doc: DocId) {
        let dense = self.dense.as_deref();
        for (i, col) in self.columns.iter().enumerate() {
            if let Some(d) = dense.filter(|d| d.held[i]) {
                let ord = d.ords[doc as usize][i];
                if ord != NO_VALUE {
                    self.counts[i][usize::from(ord)] += 1;
                }
            } else if let Some(col) = col {
                self.reads += 1;
                for ord in col.term_ords(doc) {
                    self.counts[i][ord as usize] += 1;
                }
            }
        }
    }

    fn add_block(&mut self, docs: &[DocId]) {
        let dense = self.dense.as_deref();
        if let Some(d) = dense.filter(|d| d.held.iter().all(|&h| h)) {
            // Every facet held densely: each hit's values are read together.
            let terms: [usize; FACETS.len()] =
                std::array::from_fn(|i| self.columns[i].as_ref().map_or(0, |c| c.num_terms()));
            for quad in docs.chunks(LANES) {
                for (lane, &doc) in quad.iter().enumerate() {
                    for (i, &ord) in d.ords[doc as usize].iter().enumerate() {
                        if ord != NO_VALUE {
                            self.counts[i][lane * terms[i] + usize::from(ord)] += 1;
                        }
                    }
                }
            }
            return;
        }
        for (i, col) in self.columns.iter().enumerate() {
            let Some(col) = col else { continue };
            if let Some(d) = dense.filter(|d| d.held[i]) {
                let terms = col.num_terms();
                let counts = &mut self.counts[i];
                for quad in docs.chunks(LANES) {
                    for (lane, &doc) in quad.iter().enumerate() {
                        let ord = d.ords[doc as usize][i];
                        if ord != NO_VALUE {
                            counts[lane * terms + usize::from(ord)] += 1;
                        }
                    }
                }
                continue;
            }
            self.reads += docs.len() as u64;
            if self.single[i] {
                self.buf.clear();
                self.buf.resize(docs.len(), None);
                col.ords().first_vals(docs, &mut self.buf);
                let terms = col.num_terms();
                let counts = &mut self.counts[i];
                for quad in self.buf.chunks(LANES) {
                    for (lane, ord) in quad.iter().enumerate() {
                        if let Some(ord) = ord {
                            counts[lane * terms + *ord as usize] += 1;
                        }
                    }
                }
            } else {
                for &doc in docs {
                    for ord in col.term_ords(doc) {
                        self.counts[i][ord as usize] += 1;
                    }
                }
            }
        }
    }

    /// Counts by value, for each facet.
    fn named(&self) -> Vec<BTreeMap<String, u64>> {
        self.seg.read_from_columns(self.reads);
        let mut out = Vec::new();
        for (i, counts) in self.counts.iter().enumerate() {
            let mut named = BTreeMap::new();
            if let Some(col) = &self.columns[i] {
                let terms = col.num_terms();
                for ord in 0..terms {
                    let n: u64 = (0..LANES).map(|lane| counts[lane * terms + ord]).sum();
                    if n == 0 {
                        continue;
                    }
                    if let Some(name) = self.seg.names[i].get(ord) {
                        *named.entry(name.clone()).or_insert(0) += n;
                    }
                }
            }
            out.push(named);
        }
        out
    }
}

fn merge_facets(into: &mut Vec<BTreeMap<String, u64>>, from: Vec<BTreeMap<String, u64>>) {
    if into.is_empty() {
        *into = from;
        return;
    }
    for (i, m) in from.into_iter().enumerate() {
        for (k, v) in m {
            *into[i].entry(k).or_insert(0) += v;
        }
    }
}

/// Every hit (score, passage rowid) and facet counts: the one-pass search
/// without a limit. Each collector reads the segments' columns through the
/// index's cache of them.
struct AllHits<'a>(&'a SearchIndex);

struct AllHitsSegment {
    ord: SegmentOrdinal,
    rowid: Column<u64>,
    facets: FacetCounts,
    hits: Vec<Scored>,
}

/// A hit: its score, its passage's rowid and where it is in the index.
type Scored = (Score, u64, DocAddress);

/// What a search collects: hits (all, or the best ones), the number of hits and
/// facet counts over every hit.
#[derive(Default)]
struct Collected {
    hits: Vec<Scored>,
    total: usize,
    facets: Vec<BTreeMap<String, u64>>,
}

/// The segments' collections as one.
fn merge_collected(fruits: Vec<Collected>) -> Collected {
    let mut out = Collected::default();
    for f in fruits {
        out.total += f.total;
        out.hits.extend(f.hits);
        merge_facets(&mut out.facets, f.facets);
    }
    out
}

impl Collector for AllHits<'_> {
    type Fruit = Collected;
    type Child = AllHitsSegment;

    fn for_segment(
        &self,
        ord: SegmentOrdinal,
        seg: &SegmentReader,
    ) -> tantivy::Result<AllHitsSegment> {
        let columns = self.0.segment_columns(seg)?;
        Ok(AllHitsSegment {
            ord,
            rowid: columns.rowid.clone(),
            facets: FacetCounts::new(&columns),
            hits: Vec::new(),
        })
    }

    fn requires_scoring(&self) -> bool {
        true
    }

    fn merge_fruits(&self, fruits: Vec<Collected>) -> tantivy::Result<Collected> {
        Ok(merge_collected(fruits))
    }
}

impl SegmentCollector for AllHitsSegment {
    type Fruit = Collected;

    fn collect(&mut self, doc: DocId, score: Score) {
        if let Some(r) = self.rowid.first(doc) {
            self.hits.push((score, r, DocAddress::new(self.ord, doc)));
        }
        self.facets.add(doc);
    }

    fn harvest(self) -> Collected {
        Collected {
            total: self.hits.len(),
            facets: self.facets.named(),
            hits: self.hits,
        }
    }
}

/// Number of hits and facet counts, without scores.
struct CountFacets<'a>(&'a SearchIndex);

struct CountFacetsSegment {
    facets: FacetCounts,
    total: usize,
}

impl Collector for CountFacets<'_> {
    type Fruit = Collected;
    type Child = CountFacetsSegment;

    fn for_segment(
        &self,
        _ord: SegmentOrdinal,
        seg: &SegmentReader,
    ) -> tantivy::Result<CountFacetsSegment> {
        Ok(CountFacetsSegment {
            facets: FacetCounts::new(&self.0.segment_columns(seg)?),
            total: 0,
        })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, fruits: Vec<Collected>) -> tantivy::Result<Collected> {
        Ok(merge_collected(fruits))
    }
}

impl SegmentCollector for CountFacetsSegment {
    type Fruit = Collected;

    fn collect(&mut self, doc: DocId, _score: Score) {
        self.total += 1;
        self.facets.add(doc);
    }

    fn collect_block(&mut self, docs: &[DocId]) {
        self.total += docs.len();
        self.facets.add_block(docs);
    }

    fn harvest(self) -> Collected {
        Collected {
            hits: Vec::new(),
            total: self.total,
            facets: self.facets.named(),
        }
    }
}

/// A hit in the best-k heap. Ordered so that the heap's top is the worst kept
/// hit: lower score is worse, and on equal scores the higher rowid is worse
/// (the order hits are returned in is score descending, then rowid). The
/// document is carried along, not compared: a rowid names one document.
struct Ranked(Score, u64, DocId);

impl PartialEq for Ranked {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Ranked {}

impl Ord for Ranked {
    fn cmp(&self, other: &Self) -> Ordering {
        other.0.total_cmp(&self.0).then(self.1.cmp(&other.1))
    }
}

impl PartialOrd for Ranked {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// The best `k` hits by score, then rowid. Scores every candidate the query's
/// scorer lets through; the threshold it gets back is just below the k-th best
/// score, so a hit that ties with it is still seen and ranked by rowid.
///
/// With `count`, it also counts the hits and their facets, in the same pass:
/// for queries whose scorer cannot skip candidates (phrases, NEAR, boolean
/// combinations other than of single terms), where counting in a pass of its
/// own would match every candidate's positions twice.
struct BestHits<'a> {
    k: usize,
    index: &'a SearchIndex,
    count: bool,
}

/// Hits whose facets are counted together, a block at a time.
const FACET_BLOCK: usize = 64;

impl BestHits<'_> {
    /// [`BestHits::collect_segment`] with `count`: every candidate scored,
    /// counted and its facets counted, the best kept.
    fn collect_counting(
        &self,
        weight: &dyn Weight,
        ord: SegmentOrdinal,
        seg: &SegmentReader,
    ) -> tantivy::Result<Collected> {
        let columns = self.index.segment_columns(seg)?;
        let alive = seg.alive_bitset();
        let mut facets = FacetCounts::new(&columns);
        let mut best = Best::new(self.k);
        let mut total = 0;
        let mut block = Vec::with_capacity(FACET_BLOCK);
        // As a pruning scorer does: a hit below the k-th best so far is not
        // looked at further.
        let mut threshold = Score::MIN;
        weight.for_each(seg, &mut |doc, score| {
            if alive.is_some_and(|a| a.is_deleted(doc)) {
                return;
            }
            total += 1;
            block.push(doc);
            if block.len() == FACET_BLOCK {
                facets.add_block(&block);
                block.clear();
            }
            if self.k > 0 && score > threshold {
                if let Some(r) = columns.rowid.first(doc) {
                    threshold = best.offer(score, r, doc);
                }
            }
        })?;
        facets.add_block(&block);
        Ok(Collected {
            hits: best.hits(ord),
            total,
            facets: facets.named(),
        })
    }
}

impl Collector for BestHits<'_> {
    type Fruit = Collected;
    type Child = AllHitsSegment;

    fn for_segment(
        &self,
        ord: SegmentOrdinal,
        seg: &SegmentReader,
    ) -> tantivy::Result<AllHitsSegment> {
        AllHits(self.index).for_segment(ord, seg)
    }

    fn requires_scoring(&self) -> bool {
        true
    }

    fn merge_fruits(&self, fruits: Vec<Collected>) -> tantivy::Result<Collected> {
        let mut out = merge_collected(fruits);
        sort_hits(&mut out.hits);
        out.hits.truncate(self.k);
        Ok(out)
    }

    fn collect_segment(
        &self,
        weight: &dyn Weight,
        ord: SegmentOrdinal,
        seg: &SegmentReader,
    ) -> tantivy::Result<Collected> {
        if self.count {
            return self.collect_counting(weight, ord, seg);
        }
        if self.k == 0 {
            return Ok(Collected::default());
        }
        let columns = self.index.segment_columns(seg)?;
        let alive = seg.alive_bitset();
        let mut best = Best::new(self.k);
        let mut threshold = Score::MIN;
        weight.for_each_pruning(Score::MIN, seg, &mut |doc, score| {
            if alive.is_some_and(|a| a.is_deleted(doc)) {
                return threshold;
            }
            if let Some(r) = columns.rowid.first(doc) {
                threshold = best.offer(score, r, doc);
            }
            threshold
        })?;
        Ok(Collected {
            hits: best.hits(ord),
            total: 0,
            facets: Vec::new(),
        })
    }
}

/// The best `k` hits of a segment seen so far.
struct Best {
    k: usize,
    heap: BinaryHeap<Ranked>,
}

impl Best {
    fn new(k: usize) -> Best {
        Best {
            k,
            heap: BinaryHeap::with_capacity(k + 1),
        }
    }

    /// Keeps the hit if it is among the best `k` so far; the score a hit must
    /// now beat to be kept (just below the k-th best, so that a tie is still
    /// seen and ranked by rowid).
    #[inline]
    fn offer(&mut self, score: Score, rowid: u64, doc: DocId) -> Score {
        let cand = Ranked(score, rowid, doc);
        if self.heap.len() < self.k {
            self.heap.push(cand);
        } else if let Some(mut worst) = self.heap.peek_mut() {
            if cand < *worst {
                *worst = cand;
            }
        }
        match self.heap.peek() {
            Some(w) if self.heap.len() == self.k => w.0.next_down(),
            _ => Score::MIN,
        }
    }

    fn hits(self, ord: SegmentOrdinal) -> Vec<Scored> {
        self.heap
            .into_iter()
            .map(|Ranked(s, r, doc)| (s, r, DocAddress::new(ord, doc)))
            .collect()
    }
}

/// Whether a search for `q` with a limit collects in one pass (see [`prunes`]).
#[cfg(test)]
pub(crate) fn one_pass(index: &SearchIndex, q: &str) -> bool {
    let searcher = index.reader.searcher();
    let ast = query::parse(q).unwrap();
    let tq = query::Builder::new(&searcher, index.fields)
        .build(&ast)
        .unwrap();
    !prunes(tq.as_ref())
}

/// Whether the query's scorer can skip candidates that cannot reach the best
/// `k` (block-max WAND): a term, or a union or intersection of single terms.
/// Other queries score every candidate anyway.
fn prunes(q: &dyn Query) -> bool {
    if q.is::<TermQuery>() {
        return true;
    }
    let Some(b) = q.downcast_ref::<BooleanQuery>() else {
        return false;
    };
    let clauses = b.clauses();
    clauses.iter().all(|(_, c)| c.is::<TermQuery>())
        && (clauses.iter().all(|(o, _)| *o == Occur::Should)
            || clauses.iter().all(|(o, _)| *o == Occur::Must))
}

fn sort_hits(hits: &mut [Scored]) {
    hits.sort_unstable_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
}

/// A finished search: hits in rank order (cut to the limit), the total number of
/// hits, facet counts over all hits, and what to highlight.
pub struct Found {
    /// (score, passage rowid), in rank order.
    pub hits: Vec<(Score, u64)>,
    pub total: usize,
    pub facets: BTreeMap<String, Vec<(String, u64)>>,
    pub highlight: Highlight,
    /// Each hit's document in the index, in the order of `hits`.
    docs: Vec<DocAddress>,
    /// The index as the search saw it, for the hits' term positions.
    searcher: Searcher,
    fields: Fields,
}

/// Run `q` against the index.
/// `searcher.search`, on the index's threads only for a large archive.
fn search_on<C: Collector>(
    index: &SearchIndex,
    searcher: &Searcher,
    query: &dyn Query,
    collector: &C,
) -> tantivy::Result<C::Fruit> {
    if searcher.num_docs() >= index.parallel_min_docs {
        return searcher.search(query, collector);
    }
    let scoring = if collector.requires_scoring() {
        EnableScoring::enabled_from_searcher(searcher)
    } else {
        EnableScoring::disabled_from_searcher(searcher)
    };
    searcher.search_with_executor(query, collector, &Executor::single_thread(), scoring)
}

pub fn run(index: &SearchIndex, q: &str, limit: Option<usize>) -> Result<Found, SearchError> {
    let ast = query::parse(q).map_err(SearchError::Query)?;
    let searcher = index.reader.searcher();
    let mut b = query::Builder::new(&searcher, index.fields);
    let tq = b.build(&ast).map_err(SearchError::Query)?;
    let ierr = |e: tantivy::TantivyError| SearchError::Index(e.to_string());
    let collected = match limit {
        Some(k) if !prunes(tq.as_ref()) => search_on(
            index,
            &searcher,
            tq.as_ref(),
            &BestHits {
                k,
                index,
                count: true,
            },
        )
        .map_err(ierr)?,
        Some(k) => {
            let counted =
                search_on(index, &searcher, tq.as_ref(), &CountFacets(index)).map_err(ierr)?;
            let best = search_on(
                index,
                &searcher,
                tq.as_ref(),
                &BestHits {
                    k,
                    index,
                    count: false,
                },
            )
            .map_err(ierr)?;
            Collected {
                hits: best.hits,
                ..counted
            }
        }
        None => {
            let mut all =
                search_on(index, &searcher, tq.as_ref(), &AllHits(index)).map_err(ierr)?;
            sort_hits(&mut all.hits);
            all
        }
    };
    let mut facets = BTreeMap::new();
    for (i, name) in FACETS.iter().enumerate() {
        let mut v: Vec<(String, u64)> = collected
            .facets
            .get(i)
            .map(|m| m.iter().map(|(k, n)| (k.clone(), *n)).collect())
            .unwrap_or_default();
        v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        facets.insert(name.to_string(), v);
    }
    let highlight = b.highlight;
    let (hits, docs) = collected
        .hits
        .into_iter()
        .map(|(s, r, doc)| ((s, r), doc))
        .unzip();
    Ok(Found {
        hits,
        total: collected.total,
        facets,
        highlight,
        docs,
        searcher,
        fields: index.fields,
    })
}

impl Found {
    /// For each hit, in the order of `hits`: the positions (word numbers, from
    /// 0) at which the index holds one of the query's highlighted terms in the
    /// hit's passage, ascending and each once. Analysed terms are looked for in
    /// the `text` field, exact forms in `exact`. Each term's postings are read
    /// once per segment that has hits, the hits' documents taken in order.
    pub fn marked_words(&self) -> Result<Vec<Vec<u32>>, SearchError> {
        let mut out = vec![Vec::new(); self.hits.len()];
        if self.highlight.analyzed.is_empty() && self.highlight.exact.is_empty() {
            return Ok(out);
        }
        let ierr = |e: std::io::Error| SearchError::Index(e.to_string());
        let mut order: Vec<usize> = (0..self.docs.len()).collect();
        order.sort_unstable_by_key(|&i| (self.docs[i].segment_ord, self.docs[i].doc_id));
        let terms = [
            (self.fields.text, &self.highlight.analyzed),
            (self.fields.exact, &self.highlight.exact),
        ];
        for group in order.chunk_by(|&a, &b| self.docs[a].segment_ord == self.docs[b].segment_ord) {
            let seg = self
                .searcher
                .segment_reader(self.docs[group[0]].segment_ord);
            for (field, words) in terms {
                if words.is_empty() {
                    continue;
                }
                let inverted = seg
                    .inverted_index(field)
                    .map_err(|e| SearchError::Index(e.to_string()))?;
                for w in words {
                    let term = Term::from_field_text(field, w);
                    let Some(mut postings) = inverted
                        .read_postings(&term, IndexRecordOption::WithFreqsAndPositions)
                        .map_err(ierr)?
                    else {
                        continue;
                    };
                    for &i in group {
                        let doc = self.docs[i].doc_id;
                        if postings.doc() <= doc && postings.seek(doc) == doc {
                            postings.append_positions_with_offset(0, &mut out[i]);
                        }
                    }
                }
            }
        }
        for v in &mut out {
            v.sort_unstable();
            v.dedup();
        }
        Ok(out)
    }
}

/// Code-point spans of the words of `text` at `positions` (ascending word
/// numbers, as [`Found::marked_words`] gives them): the text is split into
/// words as the index's tokenizers split it. A position past the text's last
/// word is left out.
pub fn marks_at(text: &str, positions: &[u32]) -> Vec<(usize, usize)> {
    if positions.is_empty() {
        return Vec::new();
    }
    let mut words = Vec::new();
    split_words(text, &mut words);
    let mut out: Vec<(usize, usize)> = positions
        .iter()
        .map_while(|&p| words.get(p as usize).copied())
        .collect();
    let mut offsets: Vec<&mut usize> = out.iter_mut().flat_map(|(a, b)| [a, b]).collect();
    crate::formats::byte_to_char_offsets(text, &mut offsets);
    out
}

#[derive(Debug)]
pub enum SearchError {
    Query(QueryError),
    Index(String),
}

impl std::fmt::Display for SearchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SearchError::Query(e) => e.fmt(f),
            SearchError::Index(e) => write!(f, "index: {e}"),
        }
    }
}

impl std::error::Error for SearchError {}

/// Code-point spans of the words in `text` that the query looks for, found by
/// analysing every word: the reference [`marks_at`] is tested against.
#[cfg(test)]
pub(crate) fn marks(
    text: &str,
    h: &Highlight,
    analyzer: &mut crate::analysis::NorwegianTokenizer,
) -> Vec<(usize, usize)> {
    use crate::analysis::words;
    let mut byte_spans = Vec::new();
    for w in words(text) {
        let hit = h.exact.contains(&w.lower) || {
            if h.analyzed.is_empty() {
                false
            } else {
                let t = analyzer.terms(&w.lower);
                t.full
                    .iter()
                    .chain(t.parts.iter())
                    .any(|x| h.analyzed.contains(x))
            }
        };
        if hit {
            byte_spans.push((w.start, w.end));
        }
    }
    // Byte offsets to code points, in one pass.
    let mut out = Vec::with_capacity(byte_spans.len());
    let mut chars = 0;
    let mut byte = 0;
    let mut it = text.chars();
    let mut to_char = |target: usize| {
        while byte < target {
            match it.next() {
                Some(c) => {
                    byte += c.len_utf8();
                    chars += 1;
                }
                None => break,
            }
        }
        chars
    };
    for (s, e) in byte_spans {
        let a = to_char(s);
        let b = to_char(e);
        out.push((a, b));
    }
    out
}

#[cfg(test)]
fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A snippet of about `width` characters around the densest cluster of marks,
/// with marks wrapped in `<b>…</b>` (HTML-escaped otherwise), each run of
/// whitespace as one space. `marks` are code-point spans, ascending and not
/// overlapping, as [`marks_at`] gives them.
///
/// Written in one pass over the window's bytes: only the code points up to the
/// window are counted, and nothing of the passage is copied but the snippet.
pub fn snippet(text: &str, marks: &[(usize, usize)], width: usize) -> String {
    let n = text.chars().count();
    let mut at = CharCursor::new(text);
    let (mut from, mut to) = (0, n.min(width));
    if !marks.is_empty() && n > width {
        // The window start that covers the most marks: marks ascend, so the
        // marks that end within a window are a run that only grows at its end
        // as the window moves on.
        let mut best = (0, marks[0].0);
        let mut end = 0;
        for (i, m) in marks.iter().enumerate() {
            end = end.max(i);
            while end < marks.len() && marks[end].1 <= m.0 + width {
                end += 1;
            }
            if end - i > best.0 {
                best = (end - i, m.0);
            }
        }
        let start = best.1.saturating_sub(width / 4);
        from = start;
        to = (start + width).min(n);
        if to == n {
            from = n.saturating_sub(width);
        }
        // Widen to word boundaries, by at most 20 characters each way.
        let mut b = at.byte_of(from);
        while from > 0 && start - from < 20 {
            match text[..b].chars().next_back() {
                Some(c) if !c.is_whitespace() => {
                    from -= 1;
                    b -= c.len_utf8();
                }
                _ => break,
            }
        }
        let limit = (start + width).min(n);
        let mut b = at.byte_of(to);
        while to < n && to - limit < 20 {
            match text[b..].chars().next() {
                Some(c) if !c.is_whitespace() => {
                    to += 1;
                    b += c.len_utf8();
                }
                _ => break,
            }
        }
    }
    let mut out = Collapsed::default();
    if from > 0 {
        out.token("…");
    }
    let mut pos = from;
    for &(a, b) in marks.iter().filter(|(a, b)| *a >= from && *b <= to) {
        if a < pos {
            continue;
        }
        out.text(at.slice(pos, a));
        out.token("<b>");
        out.text(at.slice(a, b));
        out.token("</b>");
        pos = b;
    }
    out.text(at.slice(pos, to));
    if to < n {
        out.token("…");
    }
    out.0
}

/// Byte offsets of code points in a text, found by walking from the last one
/// asked for (a snippet asks for ascending ones, near each other).
struct CharCursor<'a> {
    text: &'a str,
    char_at: usize,
    byte_at: usize,
}

impl<'a> CharCursor<'a> {
    fn new(text: &'a str) -> Self {
        CharCursor {
            text,
            char_at: 0,
            byte_at: 0,
        }
    }

    /// The byte offset of code point `c` (the text's length past its end).
    fn byte_of(&mut self, c: usize) -> usize {
        if c < self.char_at {
            *self = CharCursor::new(self.text);
        }
        let rest = &self.text[self.byte_at..];
        let skip = rest
            .char_indices()
            .nth(c - self.char_at)
            .map_or(rest.len(), |(b, _)| b);
        self.byte_at += skip;
        self.char_at = c;
        self.byte_at
    }

    /// Code points `a..b`.
    fn slice(&mut self, a: usize, b: usize) -> &'a str {
        let from = self.byte_of(a);
        let to = self.byte_of(b);
        &self.text[from..to]
    }
}

/// A string written with every run of whitespace as one space, and none at
/// either end: what joining its words with spaces gives.
#[derive(Default)]
struct Collapsed(String, bool);

impl Collapsed {
    /// Text without whitespace, as it is.
    fn token(&mut self, t: &str) {
        self.space_before();
        self.0.push_str(t);
    }

    /// The space of the whitespace before, unless nothing comes before it.
    fn space_before(&mut self) {
        if self.1 && !self.0.is_empty() {
            self.0.push(' ');
        }
        self.1 = false;
    }

    /// Text HTML-escaped, its whitespace collapsed: each run of characters
    /// that are neither is copied whole.
    fn text(&mut self, t: &str) {
        let mut rest = t;
        while !rest.is_empty() {
            let plain = rest
                .find(|c: char| c.is_whitespace() || matches!(c, '&' | '<' | '>'))
                .unwrap_or(rest.len());
            if plain > 0 {
                self.token(&rest[..plain]);
            }
            let Some(c) = rest[plain..].chars().next() else {
                break;
            };
            match c {
                '&' => self.token("&amp;"),
                '<' => self.token("&lt;"),
                '>' => self.token("&gt;"),
                _ => self.1 = true,
            }
            rest = &rest[plain + c.len_utf8()..];
        }
    }
}

/// The snippet as it was first written, over a copy of every code point: the
/// reference [`snippet`] is tested against.
#[cfg(test)]
pub(crate) fn snippet_reference(text: &str, marks: &[(usize, usize)], width: usize) -> String {
    let chars: Vec<char> = text.chars().collect();
    let n = chars.len();
    let (mut from, mut to) = (0, n.min(width));
    if !marks.is_empty() && n > width {
        // Window start that covers the most marks.
        let mut best = (0, marks[0].0);
        for (i, m) in marks.iter().enumerate() {
            let count = marks[i..].iter().take_while(|x| x.1 <= m.0 + width).count();
            if count > best.0 {
                best = (count, m.0);
            }
        }
        let start = best.1.saturating_sub(width / 4);
        from = start;
        to = (start + width).min(n);
        if to == n {
            from = n.saturating_sub(width);
        }
        // Widen to word boundaries.
        while from > 0 && !chars[from - 1].is_whitespace() && start - from < 20 {
            from -= 1;
        }
        while to < n && !chars[to].is_whitespace() && to - (start + width).min(n) < 20 {
            to += 1;
        }
    }
    let mut out = String::new();
    if from > 0 {
        out.push('…');
    }
    let mut pos = from;
    for &(a, b) in marks.iter().filter(|(a, b)| *a >= from && *b <= to) {
        out.push_str(&escape(&chars[pos..a].iter().collect::<String>()));
        out.push_str("<b>");
        out.push_str(&escape(&chars[a..b].iter().collect::<String>()));
        out.push_str("</b>");
        pos = b;
    }
    out.push_str(&escape(&chars[pos..to].iter().collect::<String>()));
    if to < n {
        out.push('…');
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::{snippet, snippet_reference};
    use proptest::prelude::*;

    #[test]
    fn a_snippet_escapes_collapses_whitespace_and_marks_words() {
        let text = "  Barn & unge <i> barnehagen\t\n  «fint»  ";
        let marks = [(2, 6), (33, 37)];
        assert_eq!(
            snippet(text, &marks, 200),
            "<b>Barn</b> &amp; unge &lt;i&gt; barnehagen «<b>fint</b>»"
        );
        assert_eq!(snippet("", &[], 10), "");
        assert_eq!(snippet(" \n ", &[], 10), "");
    }

    #[test]
    fn a_snippet_of_a_long_passage_is_the_window_with_the_most_marks() {
        let words: Vec<String> = (0..200).map(|i| format!("ord{i}æ")).collect();
        let text = words.join(" ");
        // Marks on words 150, 152 and 153 (each "ordNNNæ " is 7 code points).
        let mark = |w: usize| {
            let a = words[..w]
                .iter()
                .map(|x| x.chars().count() + 1)
                .sum::<usize>();
            (a, a + words[w].chars().count())
        };
        let marks = [mark(10), mark(150), mark(152), mark(153)];
        let s = snippet(&text, &marks, 60);
        assert!(s.starts_with('…') && s.ends_with('…'), "{s}");
        assert_eq!(s.matches("<b>").count(), 3, "{s}");
        assert!(s.contains("<b>ord150æ</b>"), "{s}");
        assert_eq!(s, snippet_reference(&text, &marks, 60));
    }

    proptest! {
        /// The snippet written in one pass is the snippet written over a copy
        /// of every code point, for any text, marks and width.
        #[test]
        fn a_snippet_is_the_reference_snippet(
            parts in proptest::collection::vec(proptest::sample::select(vec![
                "ord", "Æøå", " ", "  ", "\n", "\t", "&", "<", ">", "«", "»", "é",
                "\u{301}", "日本", "\u{a0}", "\u{2003}", "x", ".", "…",
            ]), 0..80),
            cuts in proptest::collection::vec(0usize..400, 0..12),
            width in 1usize..80,
        ) {
            let text: String = parts.concat();
            let n = text.chars().count();
            // Ascending, non-overlapping marks of at least one code point.
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (n + 1)).collect();
            cuts.sort_unstable();
            cuts.dedup();
            let marks: Vec<(usize, usize)> = cuts.chunks_exact(2).map(|c| (c[0], c[1])).collect();
            prop_assert_eq!(snippet(&text, &marks, width), snippet_reference(&text, &marks, width));
        }
    }
}
