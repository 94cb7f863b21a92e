//! Building Arrow record batches: the one shape in which tables leave the core
//! (for pandas, polars and the command line's JSON).

use crate::codebook::{Codebook, Hits};
use crate::memory::large_vec;
use crate::store::Labels;
use arrow_array::builder::make_view;
use arrow_array::{
    ArrayRef, Float32Array, Float64Array, Int64Array, RecordBatch, StringArray, StringViewArray,
};
use arrow_buffer::{Buffer, NullBuffer, ScalarBuffer};
use arrow_schema::{DataType, Field, Schema};
use std::sync::Arc;

/// Column-by-column builder of a [`RecordBatch`].
#[derive(Default)]
pub struct TableBuilder {
    fields: Vec<Field>,
    columns: Vec<ArrayRef>,
}

impl TableBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn str<S: AsRef<str>>(
        mut self,
        name: &str,
        values: impl IntoIterator<Item = Option<S>>,
    ) -> Self {
        let arr: StringArray = values.into_iter().collect();
        self.fields.push(Field::new(name, DataType::Utf8, true));
        self.columns.push(Arc::new(arr));
        self
    }

    pub fn i64(mut self, name: &str, values: impl IntoIterator<Item = Option<i64>>) -> Self {
        let arr: Int64Array = values.into_iter().collect();
        self.fields.push(Field::new(name, DataType::Int64, true));
        self.columns.push(Arc::new(arr));
        self
    }

    pub fn f32(mut self, name: &str, values: impl IntoIterator<Item = f32>) -> Self {
        let arr: Float32Array = values.into_iter().map(Some).collect();
        self.fields.push(Field::new(name, DataType::Float32, false));
        self.columns.push(Arc::new(arr));
        self
    }

    /// A float column; NaN becomes null (an undefined ratio).
    pub fn f64(mut self, name: &str, values: impl IntoIterator<Item = f64>) -> Self {
        let arr: Float64Array = values
            .into_iter()
            .map(|v| (!v.is_nan()).then_some(v))
            .collect();
        self.fields.push(Field::new(name, DataType::Float64, true));
        self.columns.push(Arc::new(arr));
        self
    }

    /// A column of any Arrow type.
    pub fn array(mut self, name: &str, array: ArrayRef) -> Self {
        self.fields
            .push(Field::new(name, array.data_type().clone(), true));
        self.columns.push(array);
        self
    }

    pub fn build(self) -> RecordBatch {
        let schema = Arc::new(Schema::new(self.fields));
        if self.columns.is_empty() {
            return RecordBatch::new_empty(schema);
        }
        RecordBatch::try_new(schema, self.columns).expect("columns have equal lengths")
    }
}

/// Text columns made of label ids. Each distinct text is kept once, in one
/// buffer shared by every column; a row is a 16-byte Arrow string view into it
/// (or the text itself when it is at most 12 bytes). Building a column copies no
/// text, and polars takes such columns over as they are.
pub struct LabelViews {
    buffers: Arc<[Buffer]>,
    /// By label id.
    views: Vec<u128>,
}

impl LabelViews {
    pub fn new(labels: &Labels) -> LabelViews {
        let views = labels
            .at
            .iter()
            .map(|&(off, len)| make_view(&labels.bytes[off as usize..(off + len) as usize], 0, off))
            .collect();
        LabelViews {
            buffers: Arc::from(vec![Buffer::from_vec(labels.bytes.clone())]),
            views,
        }
    }

    /// The view of label `id` (that of the empty string for an id not in use).
    pub fn view(&self, id: u32) -> u128 {
        self.views.get(id as usize).copied().unwrap_or(0)
    }

    /// A column without nulls of views that [`LabelViews::view`] gave.
    pub fn column_of_views(&self, views: Vec<u128>) -> ArrayRef {
        // SAFETY: as in `column_of`: each view is one `view` gave, of a whole
        // label in buffer 0 or the empty inline string.
        Arc::new(unsafe {
            StringViewArray::new_unchecked(ScalarBuffer::from(views), self.buffers.clone(), None)
        })
    }

    /// The column of the given label ids; id 0 is null.
    pub fn column(&self, ids: &[u32]) -> ArrayRef {
        self.column_of(ids.iter().copied())
    }

    /// Like [`LabelViews::column`], with the ids from an iterator (which is
    /// read twice when an id is 0).
    pub fn column_of(&self, ids: impl Iterator<Item = u32> + Clone) -> ArrayRef {
        let mut views: Vec<u128> = large_vec(ids.size_hint().0);
        // Whether a view is 0 (a null, or the empty string) is noted on the
        // way, not by reading the column again.
        let mut zero = false;
        views.extend(ids.clone().map(|i| {
            let v = self.views.get(i as usize).copied().unwrap_or(0);
            zero |= v == 0;
            v
        }));
        let nulls = zero.then(|| NullBuffer::from_iter(ids.map(|i| i != 0)));
        // SAFETY: every view was made by `make_view` from a whole label, which
        // `Labels` only holds as checked UTF-8, at its own offset in buffer 0;
        // views of unknown ids are 0, the empty inline string.
        Arc::new(unsafe {
            StringViewArray::new_unchecked(ScalarBuffer::from(views), self.buffers.clone(), nulls)
        })
    }

    /// A column that gives each row the value of its row's key, where `per_key`
    /// holds the value (or none) for each key: for example a document's
    /// metadata for every coding of the document.
    pub fn by_key(keys: &[u32], per_key: &[Option<&str>]) -> ArrayRef {
        let mut labels = Labels::default();
        let mut ids = vec![0u32; per_key.len()];
        for (k, v) in per_key.iter().enumerate() {
            if let Some(v) = v {
                ids[k] = labels.push(v);
            }
        }
        // The views are made from the keys directly: a column of label ids
        // first would be another 4 bytes of fresh memory per row.
        LabelViews::new(&labels).column_of(
            keys.iter()
                .map(|&k| ids.get(k as usize).copied().unwrap_or(0)),
        )
    }
}

/// A string-view column of `n` rows whose text `write` appends, row by row,
/// to the column's data buffer. Texts of up to 12 bytes are then taken back into
/// their views; longer ones stay (in a new buffer past 2 GiB, as views hold
/// 32-bit offsets), so each text is written once, in place, and the column
/// costs two large allocations however many rows it has.
pub fn view_column(n: usize, write: impl FnMut(usize, &mut String)) -> ArrayRef {
    view_column_limited(n, 1 << 31, write)
}

/// [`view_column`] with data buffers of at most `limit` bytes.
fn view_column_limited(
    n: usize,
    limit: usize,
    mut write: impl FnMut(usize, &mut String),
) -> ArrayRef {
    let mut column = ViewColumn::with_limit(limit);
    column.reserve(n);
    for i in 0..n {
        column.push_with(|out| write(i, out));
    }
    column.finish()
}

/// A string-view column written row by row (see [`view_column`]), for a
/// column whose rows come in several calls.
struct ViewColumn {
    views: Vec<u128>,
    buffers: Vec<Buffer>,
    data: String,
    limit: usize,
}

impl ViewColumn {
    fn with_limit(limit: usize) -> ViewColumn {
        ViewColumn {
            views: Vec::new(),
            buffers: Vec::new(),
            data: String::new(),
            limit,
        }
    }

    /// Room for `more` rows.
    fn reserve(&mut self, more: usize) {
        reserve(&mut self.views, more);
    }

    /// A row, whose text `write` appends to the string it is given.
    #[inline]
    fn push_with(&mut self, write: impl FnOnce(&mut String)) {
        let data = &mut self.data;
        let at = data.len();
        write(data);
        let len = data.len() - at;
        if len <= 12 {
            self.views.push(make_view(&data.as_bytes()[at..], 0, 0));
            data.truncate(at);
            return;
        }
        if data.len() > self.limit && at > 0 {
            // This text begins the next buffer.
            let text = data.split_off(at);
            self.buffers
                .push(Buffer::from_vec(std::mem::replace(data, text).into_bytes()));
            self.views
                .push(make_view(data.as_bytes(), self.buffers.len() as u32, 0));
            return;
        }
        self.views.push(make_view(
            &data.as_bytes()[at..],
            self.buffers.len() as u32,
            at as u32,
        ));
    }

    fn finish(mut self) -> ArrayRef {
        if !self.data.is_empty() {
            self.buffers.push(Buffer::from_vec(self.data.into_bytes()));
        }
        // SAFETY: every view was made by `make_view` from a whole UTF-8 string
        // that a writer appended (a `String` only holds UTF-8, and the text
        // starts at the end of the one before), and points, when it is not
        // inline, into the buffer and at the offset it was written to; no
        // buffer exceeds `limit` unless a single text does, and no offset
        // exceeds `limit`; there are no nulls.
        Arc::new(unsafe {
            StringViewArray::new_unchecked(
                ScalarBuffer::from(self.views),
                Arc::from(self.buffers),
                None,
            )
        })
    }
}

/// Room for `more` values in `v`: a [`large_vec`] when `v` has none yet.
fn reserve<T>(v: &mut Vec<T>, more: usize) {
    if v.capacity() == 0 {
        *v = large_vec(more);
    } else {
        v.reserve(more);
    }
}

/// A string-view column over texts already laid end to end in `text`: row `i`
/// is `text[ends[i - 1]..ends[i]]` (from 0 for the first row), used where it
/// lies, without a copy; where that range is empty, the row is what `fill`
/// appends for it. For the codings' `spans`, which reading their blocks has
/// already written out as JSON. Each range must hold whole characters.
pub fn views_over(text: String, ends: &[usize], fill: impl FnMut(usize, &mut String)) -> ArrayRef {
    views_over_limited(1 << 31, text, ends, fill)
}

/// [`views_over`], copying the texts into a [`view_column`] when either buffer
/// might reach `limit` bytes (a filled row is at most 45 bytes of JSON).
fn views_over_limited(
    limit: usize,
    text: String,
    ends: &[usize],
    mut fill: impl FnMut(usize, &mut String),
) -> ArrayRef {
    const FILL_MAX: usize = 45;
    if text.len() >= limit || ends.len().saturating_mul(FILL_MAX) >= limit {
        return view_column_limited(ends.len(), limit, |i, out| {
            let from = if i == 0 { 0 } else { ends[i - 1] };
            match &text[from..ends[i]] {
                "" => fill(i, out),
                t => out.push_str(t),
            }
        });
    }
    let mut views: Vec<u128> = large_vec(ends.len());
    let mut filled = String::new();
    let mut from = 0;
    for (i, &to) in ends.iter().enumerate() {
        let own = text
            .get(from..to)
            .expect("each row's range lies in the text on character boundaries");
        if !own.is_empty() {
            views.push(make_view(own.as_bytes(), 0, from as u32));
            from = to;
            continue;
        }
        from = to;
        let at = filled.len();
        fill(i, &mut filled);
        let made = &filled.as_bytes()[at..];
        views.push(make_view(made, 1, at as u32));
        if made.len() <= 12 {
            filled.truncate(at);
        }
    }
    let buffers = [
        Buffer::from_vec(text.into_bytes()),
        Buffer::from_vec(filled.into_bytes()),
    ];
    // SAFETY: every view was made by `make_view` from a whole UTF-8 string: a
    // range of `text` that `get` found on character boundaries (buffer 0, at
    // its offset there), or what `fill` appended to a `String` (buffer 1, at
    // the length before); both buffers are under `limit`, at most 2 GiB; there
    // are no nulls.
    Arc::new(unsafe {
        StringViewArray::new_unchecked(ScalarBuffer::from(views), Arc::from(buffers), None)
    })
}

/// Hits from which [`HitsTable::push`] builds the `spans` column on a thread of
/// its own: below this, starting a thread costs more than it saves.
pub(crate) const SPANS_THREAD_MIN_HITS: usize = 100_000;

/// A batch's hits as a table, one row per hit: `text_index`, `code_id`, `rule`,
/// `start` and `end` (code points: the first span's start, the furthest end)
/// and `spans` (JSON, `[[start,end],…]`). Code ids and rule names are kept once
/// each and every row is a view of them.
pub fn hits_table(cb: &Codebook, hits: &Hits) -> RecordBatch {
    hits_table_on(cb, hits, 1)
}

/// [`hits_table`] on up to `threads` threads: with two or more and many hits,
/// the `spans` column (about half the work) is built on a second thread while
/// this one builds the others. The table is the same for any number.
pub fn hits_table_on(cb: &Codebook, hits: &Hits, threads: usize) -> RecordBatch {
    let mut table = HitsTable::new(cb);
    table.reserve(hits.len());
    table.push(hits, 0, threads);
    table.finish()
}

/// The table of [`hits_table`], built from one or more batches of hits.
pub(crate) struct HitsTable {
    views: LabelViews,
    /// By rule: the views of its code id and of its name.
    code_of: Vec<u128>,
    rule_of: Vec<u128>,
    text: Vec<i64>,
    start: Vec<i64>,
    end: Vec<i64>,
    codes: Vec<u128>,
    rules: Vec<u128>,
    spans: ViewColumn,
}

impl HitsTable {
    pub(crate) fn new(cb: &Codebook) -> HitsTable {
        let mut labels = Labels::default();
        let mut interned: std::collections::HashMap<&str, u32> = Default::default();
        let (mut code_of, mut rule_of) = (Vec::new(), Vec::new());
        for r in 0..cb.rule_count() {
            let (code, rule) = cb.rule_name(r);
            for (name, to) in [(code, &mut code_of), (rule, &mut rule_of)] {
                let id = *interned.entry(name).or_insert_with(|| labels.push(name));
                to.push(id);
            }
        }
        let views = LabelViews::new(&labels);
        let code_of = code_of.iter().map(|&id| views.view(id)).collect();
        let rule_of = rule_of.iter().map(|&id| views.view(id)).collect();
        HitsTable {
            views,
            code_of,
            rule_of,
            text: Vec::new(),
            start: Vec::new(),
            end: Vec::new(),
            codes: Vec::new(),
            rules: Vec::new(),
            spans: ViewColumn::with_limit(1 << 31),
        }
    }

    /// Room for `more` rows.
    pub(crate) fn reserve(&mut self, more: usize) {
        reserve(&mut self.text, more);
        reserve(&mut self.start, more);
        reserve(&mut self.end, more);
        reserve(&mut self.codes, more);
        reserve(&mut self.rules, more);
        self.spans.reserve(more);
    }

    /// Adds a row per hit, its text index `offset` past the hit's; the `spans`
    /// on a second thread when `threads` allows and there are many hits.
    pub(crate) fn push(&mut self, hits: &Hits, offset: usize, threads: usize) {
        let offset = offset as i64;
        let rows = hits.rows();
        let HitsTable {
            code_of,
            rule_of,
            text,
            start,
            end,
            codes,
            rules,
            spans,
            ..
        } = self;
        let add_spans = |spans: &mut ViewColumn| {
            for h in rows {
                spans.push_with(|out| push_spans_json(out, hits.spans(h)));
            }
        };
        let mut add_others = || {
            for h in rows {
                // A hit has at least one span (the whole text when its rule
                // names no words).
                let s = hits.spans(h);
                text.push(i64::from(h.text) + offset);
                start.push(s.first().map_or(0, |s| i64::from(s.0)));
                end.push(s.iter().map(|s| i64::from(s.1)).max().unwrap_or(0));
                codes.push(code_of[h.rule as usize]);
                rules.push(rule_of[h.rule as usize]);
            }
        };
        if threads < 2 || rows.len() < SPANS_THREAD_MIN_HITS {
            add_others();
            add_spans(spans);
            return;
        }
        std::thread::scope(|s| {
            let other = s.spawn(move || add_spans(spans));
            add_others();
            other
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        });
    }

    pub(crate) fn finish(self) -> RecordBatch {
        TableBuilder::new()
            .array("text_index", Arc::new(Int64Array::from(self.text)))
            .array("code_id", self.views.column_of_views(self.codes))
            .array("rule", self.views.column_of_views(self.rules))
            .array("start", Arc::new(Int64Array::from(self.start)))
            .array("end", Arc::new(Int64Array::from(self.end)))
            .array("spans", self.spans.finish())
            .build()
    }
}

pub type ColumnJob<'a> = Box<dyn FnOnce() -> ArrayRef + Send + 'a>;

/// Build columns on up to `threads` threads (this one included), each job whole
/// on one thread; the columns come back in the order of `jobs`. Put the largest
/// jobs first.
pub fn build_columns(jobs: Vec<ColumnJob<'_>>, threads: usize) -> Vec<ArrayRef> {
    let n = jobs.len();
    let queue = std::sync::Mutex::new(jobs.into_iter().enumerate());
    let done = std::sync::Mutex::new(vec![None; n]);
    let work = || loop {
        let next = queue.lock().unwrap_or_else(|p| p.into_inner()).next();
        let Some((i, job)) = next else { break };
        let column = job();
        done.lock().unwrap_or_else(|p| p.into_inner())[i] = Some(column);
    };
    std::thread::scope(|s| {
        for _ in 1..threads.clamp(1, n.max(1)) {
            s.spawn(work);
        }
        work();
    });
    done.into_inner()
        .unwrap_or_else(|p| p.into_inner())
        .into_iter()
        .map(|c| c.expect("every job ran"))
        .collect()
}

/// Writes spans as JSON, `[[start,end],…]`: the shape of every `spans` column.
///
/// Millions of rows go through here, most with one short span: the digits are
/// written straight into the string's spare room, where formatting each number
/// apart and appending it took a call to copy a few bytes per number.
pub fn push_spans_json<T: Copy + Into<i64>>(out: &mut String, spans: &[(T, T)]) {
    /// `[`, a number, `,`, a number, `]` and the `,` before the next span: an
    /// i64 is at most 20 characters with its sign.
    const SPAN_MAX: usize = 2 * 20 + 4;
    // SAFETY: only ASCII is appended (brackets, commas, signs and digits), so
    // the bytes stay UTF-8.
    let bytes = unsafe { out.as_mut_vec() };
    bytes.reserve(2 + spans.len() * SPAN_MAX);
    let len = bytes.len();
    let room = bytes.spare_capacity_mut();
    room[0].write(b'[');
    let mut n = 1;
    for (k, &(a, b)) in spans.iter().enumerate() {
        if k > 0 {
            room[n].write(b',');
            n += 1;
        }
        room[n].write(b'[');
        n = put_int(room, n + 1, a.into());
        room[n].write(b',');
        n = put_int(room, n + 1, b.into());
        room[n].write(b']');
        n += 1;
    }
    room[n].write(b']');
    // SAFETY: the `n + 1` bytes after `len` were all written just above, and
    // lie within the capacity reserved.
    unsafe { bytes.set_len(len + n + 1) };
}

/// Writes `v` in decimal at `room[at..]`; where its last digit ends.
#[inline]
fn put_int(room: &mut [std::mem::MaybeUninit<u8>], mut at: usize, v: i64) -> usize {
    if v < 0 {
        room[at].write(b'-');
        at += 1;
    }
    let mut u = v.unsigned_abs();
    // Offsets into a passage mostly have at most four digits: those without a
    // count of digits or a loop.
    if u < 100 {
        return put_below_100(room, at, u as usize);
    }
    if u < 10_000 {
        let at = put_below_100(room, at, (u / 100) as usize);
        let lo = (u % 100) as usize * 2;
        room[at].write(PAIRS[lo]);
        room[at + 1].write(PAIRS[lo + 1]);
        return at + 2;
    }
    let end = at + u.checked_ilog10().map_or(1, |l| l as usize + 1);
    let mut k = end;
    // Two digits a step, from the last: half the dependent divisions.
    while u >= 100 {
        let d = (u % 100) as usize * 2;
        u /= 100;
        k -= 2;
        room[k].write(PAIRS[d]);
        room[k + 1].write(PAIRS[d + 1]);
    }
    if u >= 10 {
        let d = u as usize * 2;
        room[k - 2].write(PAIRS[d]);
        room[k - 1].write(PAIRS[d + 1]);
    } else {
        room[k - 1].write(b'0' + u as u8);
    }
    end
}

/// Writes `v` (below 100) at `room[at..]` in one or two digits; where it ends.
#[inline]
fn put_below_100(room: &mut [std::mem::MaybeUninit<u8>], at: usize, v: usize) -> usize {
    if v < 10 {
        room[at].write(b'0' + v as u8);
        return at + 1;
    }
    room[at].write(PAIRS[v * 2]);
    room[at + 1].write(PAIRS[v * 2 + 1]);
    at + 2
}

/// "00", "01", … "99", end to end.
const PAIRS: [u8; 200] = {
    let mut t = [0u8; 200];
    let mut i = 0;
    while i < 100 {
        t[2 * i] = b'0' + (i / 10) as u8;
        t[2 * i + 1] = b'0' + (i % 10) as u8;
        i += 1;
    }
    t
};

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use arrow_array::Array;

    /// A test codebook: the header, then `codes`.
    fn book(codes: &str) -> Codebook {
        let src = format!("format = 1\n[codebook]\nid = \"t\"\nversion = \"1\"\n{codes}");
        Codebook::parse(&src, false, None).unwrap()
    }

    #[test]
    fn a_hits_table_has_a_row_per_hit_with_its_code_rule_and_spans() {
        use crate::codebook::{Context, Matchers};
        let cb = book(
            r#"[[code]]
id = "ungdom"
name = "Ungdom"
  [[code.rule]]
  id = "ord"
  query = "ungdom"
[[code]]
id = "samarbeid.med.skolen.og.nav"
name = "Samarbeid"
  [[code.rule]]
  id = "nær"
  query = "NAV NEAR/3 skole"
"#,
        );
        let texts = [
            "Ungdommene møter NAV på skolen, «ungdom» til ungdom.",
            "ingen treff her",
            "Skolen og NAV: æøå først, så ungdomsrådet.",
        ];
        let hits = Matchers::new(&cb, 1).apply_all(&texts, &vec![Context::new(); texts.len()]);
        let t = hits_table(&cb, &hits);
        assert_eq!(t.num_rows(), hits.len());
        assert_eq!(t.num_rows(), 4);
        let int = |c: &str| -> Vec<i64> {
            let a = t.column_by_name(c).unwrap();
            a.as_any()
                .downcast_ref::<Int64Array>()
                .unwrap()
                .values()
                .to_vec()
        };
        let text = |c: &str| -> Vec<String> {
            let a = t.column_by_name(c).unwrap();
            let a = a.as_any().downcast_ref::<StringViewArray>().unwrap();
            a.iter().map(|v| v.unwrap().to_string()).collect()
        };
        assert_eq!(int("text_index"), [0, 0, 2, 2]);
        assert_eq!(
            text("code_id"),
            [
                "ungdom",
                "samarbeid.med.skolen.og.nav",
                "ungdom",
                "samarbeid.med.skolen.og.nav"
            ]
        );
        assert_eq!(text("rule"), ["ord", "nær", "ord", "nær"]);
        assert_eq!(text("spans")[0], "[[0,10],[33,39],[45,51]]");
        assert_eq!(text("spans")[1], "[[17,30]]");
        // Code points, not bytes: æøå come before the word.
        assert_eq!(
            &texts[2].chars().skip(29).take(12).collect::<String>(),
            "ungdomsrådet"
        );
        assert_eq!(text("spans")[2], "[[29,41]]");
        assert_eq!(int("start"), [0, 17, 29, 0]);
        assert_eq!(int("end"), [51, 30, 41, 13]);
    }

    /// A codebook of a term rule and a NEAR rule, and `n` texts giving hits of
    /// one, two and three spans, with code points past æøå.
    pub(crate) fn many_hits(n: usize) -> (Codebook, Vec<&'static str>) {
        let cb = book(
            r#"[[code]]
id = "ungdom"
name = "Ungdom"
  [[code.rule]]
  query = "ungdom"
[[code]]
id = "nav"
name = "NAV"
  [[code.rule]]
  id = "nær"
  query = "NAV NEAR/3 skole"
"#,
        );
        let kinds = [
            "Ungdommene møter NAV på skolen.",
            "æøå ungdom, ungdom og ungdomsrådet",
            "Skolen og NAV",
            "ingen treff",
        ];
        (cb, (0..n).map(|i| kinds[i % 4]).collect())
    }

    #[test]
    fn a_hits_table_built_on_two_threads_is_the_one_built_on_one() {
        use crate::codebook::{Context, Matchers};
        // Enough hits for the spans column to get a thread of its own.
        let (cb, texts) = many_hits(SPANS_THREAD_MIN_HITS);
        let hits = Matchers::new(&cb, 2).apply_all(&texts, &vec![Context::new(); texts.len()]);
        assert!(hits.len() >= SPANS_THREAD_MIN_HITS);
        let one = hits_table_on(&cb, &hits, 1);
        let two = hits_table_on(&cb, &hits, 2);
        assert_eq!(one, two);
        assert_eq!(one, hits_table(&cb, &hits));
    }

    /// The texts of a string-view column without nulls, after arrow has
    /// checked its views and buffers in full.
    fn checked_texts(col: &ArrayRef) -> Vec<String> {
        let a = col.as_any().downcast_ref::<StringViewArray>().unwrap();
        let buffers = Arc::<[Buffer]>::from(a.data_buffers().to_vec());
        StringViewArray::try_new(a.views().clone(), buffers, None).unwrap();
        a.iter().map(|v| v.unwrap().to_string()).collect()
    }

    #[test]
    fn view_columns_hold_short_and_long_texts() {
        let texts: Vec<String> = (0..1000)
            .map(|i| match i % 4 {
                0 => String::new(),
                1 => "tolv tegn!!!".into(),
                2 => "tretten tegn!".into(),
                _ => format!("[[{i},{}]], «æøå» {}", i * 7, "x".repeat(i % 40)),
            })
            .collect();
        let col = view_column(texts.len(), |i, out| out.push_str(&texts[i]));
        assert_eq!(checked_texts(&col), texts);
        assert_eq!(view_column(0, |_, _| ()).len(), 0);
    }

    #[test]
    fn views_over_a_text_use_its_rows_where_they_lie_and_fill_the_empty_ones() {
        // Rows 0, 3 and 5 are empty in the text: one filled inline, two not.
        let rows = [
            "",
            "[[1,2],[3,4]]",
            "[[10,20],[30,40],[50,60]]",
            "",
            "«æøå» lenger enn tolv",
            "",
        ];
        let fills = [
            "[[0,1]]",
            "",
            "",
            "[[1000000,2000000]]",
            "",
            "[[123456,7890123]]",
        ];
        let mut text = String::new();
        let mut ends = Vec::new();
        for r in rows {
            text.push_str(r);
            ends.push(text.len());
        }
        let want: Vec<&str> = rows
            .iter()
            .zip(fills)
            .map(|(r, f)| if r.is_empty() { f } else { r })
            .collect();
        for limit in [1 << 31, 64, 8] {
            let col =
                views_over_limited(limit, text.clone(), &ends, |i, out| out.push_str(fills[i]));
            assert_eq!(checked_texts(&col), want, "limit {limit}");
            if limit == 1 << 31 {
                // The text's rows are not copied: buffer 0 is the text itself.
                let a = col.as_any().downcast_ref::<StringViewArray>().unwrap();
                assert_eq!(a.data_buffers()[0].as_slice(), text.as_bytes());
            }
        }
        assert_eq!(views_over(String::new(), &[], |_, _| ()).len(), 0);
    }

    #[test]
    fn a_view_column_starts_a_new_buffer_where_the_next_text_would_pass_the_limit() {
        let texts: Vec<String> = (0..200)
            .map(|i| match i % 3 {
                0 => "kort".into(),
                1 => format!("«{i}» tekst om barnevern og skule"),
                _ => "æ".repeat(i % 40 + 7),
            })
            .collect();
        let col = view_column_limited(texts.len(), 100, |i, out| out.push_str(&texts[i]));
        let a = col.as_any().downcast_ref::<StringViewArray>().unwrap();
        assert!(a.data_buffers().len() > 10);
        // No text is longer than the limit, so every buffer is within it.
        assert!(a.data_buffers().iter().all(|b| b.len() <= 100));
        assert_eq!(checked_texts(&col), texts);
    }

    #[test]
    fn label_views_are_valid_arrow_and_read_back() {
        let mut labels = Labels::default();
        let texts = [
            "",
            "kort",
            "akkurat tolv",
            "tretten tegn!",
            "Ærlig talt, æøå «sitat»",
        ];
        let ids: Vec<u32> = texts.iter().map(|t| labels.push(t)).collect();
        let rows: Vec<u32> = [4, 0, 1, 2, 3, 5, 5, 0]
            .iter()
            .map(|&i| if i == 0 { 0 } else { ids[i - 1] })
            .collect();
        let col = LabelViews::new(&labels).column(&rows);
        let a = col.as_any().downcast_ref::<StringViewArray>().unwrap();
        // The same parts pass Arrow's full validation.
        let (views, buffers, nulls) = (
            a.views().clone(),
            a.data_buffers().to_vec(),
            a.nulls().cloned(),
        );
        StringViewArray::try_new(views, Arc::<[Buffer]>::from(buffers), nulls).unwrap();
        let got: Vec<Option<&str>> = a.iter().collect();
        assert_eq!(
            got,
            vec![
                Some("tretten tegn!"),
                None,
                Some(""),
                Some("kort"),
                Some("akkurat tolv"),
                Some("Ærlig talt, æøå «sitat»"),
                Some("Ærlig talt, æøå «sitat»"),
                None
            ]
        );
        let by_doc = LabelViews::by_key(
            &[1, 0, 2, 1, u32::MAX],
            &[Some("Hamar"), None, Some("Sør-Odal")],
        );
        let b = by_doc.as_any().downcast_ref::<StringViewArray>().unwrap();
        assert_eq!(
            b.iter().collect::<Vec<_>>(),
            vec![None, Some("Hamar"), Some("Sør-Odal"), None, None]
        );
    }

    #[test]
    fn spans_json_has_every_integer_digit_for_digit() {
        let mut json = String::new();
        push_spans_json(&mut json, &[(0u32, 4u32), (10, 1_000_000)]);
        assert_eq!(json, "[[0,4],[10,1000000]]");
        json.clear();
        push_spans_json::<i64>(&mut json, &[(-1, 0)]);
        assert_eq!(json, "[[-1,0]]");
        json.clear();
        push_spans_json::<i64>(&mut json, &[]);
        assert_eq!(json, "[]");
        // Every digit count and both ends of the range, appended after text
        // already there (multi-byte, to check the bytes are placed after it).
        let mut values = vec![i64::MIN, i64::MAX, -1, 0, 1];
        for d in 1..19 {
            let p = 10i64.pow(d);
            values.extend([p - 1, p, p + 1, -p, 7 * p / 3]);
        }
        for &a in &values {
            let spans = [(a, 0i64), (9, a), (a, a)];
            let mut json = String::from("«æ»");
            push_spans_json(&mut json, &spans);
            assert_eq!(json, format!("«æ»[[{a},0],[9,{a}],[{a},{a}]]"));
        }
        json.clear();
        push_spans_json(&mut json, &[(u32::MAX, 0u32)]);
        assert_eq!(json, format!("[[{},0]]", u32::MAX));
    }
}
