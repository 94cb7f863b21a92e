//! Running queries: hits with scores, facet counts over every hit, highlighted
//! snippets and KWIC concordance lines. Reads the index and the store; writes
//! neither.

use crate::analysis::{words, NorwegianTokenizer};
use crate::index::{SearchIndex, FACETS};
use crate::query::{self, Highlight, QueryError};
use std::collections::{BTreeMap, HashMap};
use tantivy::collector::{Collector, SegmentCollector};
use tantivy::columnar::{Column, StrColumn};
use tantivy::{DocId, Score, SegmentOrdinal, SegmentReader};

/// Every hit (score, passage rowid) and facet counts.
pub struct HitsFruit {
    pub hits: Vec<(Score, u64)>,
    pub facets: Vec<HashMap<String, u64>>,
}

struct HitCollector;

struct HitSegment {
    rowid: Column<u64>,
    facets: Vec<Option<StrColumn>>,
    counts: Vec<HashMap<u64, u64>>,
    hits: Vec<(Score, u64)>,
}

impl Collector for HitCollector {
    type Fruit = HitsFruit;
    type Child = HitSegment;

    fn for_segment(
        &self,
        _ord: SegmentOrdinal,
        seg: &SegmentReader,
    ) -> tantivy::Result<HitSegment> {
        let ff = seg.fast_fields();
        let rowid = ff.u64("rowid")?;
        let mut facets = Vec::new();
        for name in FACETS {
            facets.push(ff.str(&format!("facet_{name}"))?);
        }
        Ok(HitSegment {
            rowid,
            counts: vec![HashMap::new(); facets.len()],
            facets,
            hits: Vec::new(),
        })
    }

    fn requires_scoring(&self) -> bool {
        true
    }

    fn merge_fruits(&self, fruits: Vec<HitsFruit>) -> tantivy::Result<HitsFruit> {
        let mut hits = Vec::new();
        let mut facets = vec![HashMap::new(); FACETS.len()];
        for f in fruits {
            hits.extend(f.hits);
            for (i, m) in f.facets.into_iter().enumerate() {
                for (k, v) in m {
                    *facets[i].entry(k).or_insert(0) += v;
                }
            }
        }
        Ok(HitsFruit { hits, facets })
    }
}

impl SegmentCollector for HitSegment {
    type Fruit = HitsFruit;

    fn collect(&mut self, doc: DocId, score: Score) {
        if let Some(r) = self.rowid.first(doc) {
            self.hits.push((score, r));
        }
        for (i, col) in self.facets.iter().enumerate() {
            if let Some(col) = col {
                for ord in col.term_ords(doc) {
                    *self.counts[i].entry(ord).or_insert(0) += 1;
                }
            }
        }
    }

    fn harvest(self) -> HitsFruit {
        let mut facets = Vec::new();
        for (i, counts) in self.counts.into_iter().enumerate() {
            let mut named = HashMap::new();
            if let Some(col) = &self.facets[i] {
                for (ord, n) in counts {
                    let mut s = String::new();
                    if col.ord_to_str(ord, &mut s).unwrap_or(false) {
                        *named.entry(s).or_insert(0) += n;
                    }
                }
            }
            facets.push(named);
        }
        HitsFruit {
            hits: self.hits,
            facets,
        }
    }
}

/// A finished search: hits in rank order (cut to the limit), the total number of
/// hits, facet counts over all hits, and what to highlight.
pub struct Found {
    pub hits: Vec<(Score, u64)>,
    pub total: usize,
    pub facets: BTreeMap<String, Vec<(String, u64)>>,
    pub highlight: Highlight,
}

/// Run `q` against the index.
pub fn run(index: &SearchIndex, q: &str, limit: Option<usize>) -> Result<Found, SearchError> {
    let ast = query::parse(q).map_err(SearchError::Query)?;
    let searcher = index.reader.searcher();
    let mut b = query::Builder::new(&searcher, index.fields);
    let tq = b.build(&ast).map_err(SearchError::Query)?;
    let fruit = searcher
        .search(tq.as_ref(), &HitCollector)
        .map_err(|e| SearchError::Index(e.to_string()))?;
    let mut hits = fruit.hits;
    let total = hits.len();
    hits.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    if let Some(l) = limit {
        hits.truncate(l);
    }
    let mut facets = BTreeMap::new();
    for (i, name) in FACETS.iter().enumerate() {
        let mut v: Vec<(String, u64)> = fruit.facets[i]
            .iter()
            .map(|(k, n)| (k.clone(), *n))
            .collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        facets.insert(name.to_string(), v);
    }
    Ok(Found {
        hits,
        total,
        facets,
        highlight: b.highlight,
    })
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

/// Code-point spans of the words in `text` that the query looks for.
pub fn marks(text: &str, h: &Highlight, analyzer: &mut NorwegianTokenizer) -> Vec<(usize, usize)> {
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

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A snippet of about `width` characters around the densest cluster of marks,
/// with marks wrapped in `<b>…</b>` (HTML-escaped otherwise).
pub fn snippet(text: &str, marks: &[(usize, usize)], width: usize) -> String {
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
