//! Machine codings packed into blocks: a run's codings of one document, in one
//! value of `machine_blocks` instead of a row each. A coding takes 5–20 bytes in
//! a block, against a row of 13 columns and SQLite's work per row.
//!
//! Layout (every number an unsigned LEB128 varint; "signed" ones zigzag-coded):
//! a format byte (2); the block's (code label, rule label) pairs, their count
//! first; its passages, their count first, each a tag and a key: 1 and the 64
//! bits of a passage id of the form `p` + 16 hex digits (the ids ingest makes;
//! such a passage needs no label), or 0 and the passage's label; the number of
//! codings; then per coding: its id minus the previous coding's id (the block's
//! first id for the first coding), the signed change of its passage's index and
//! of its start (from the previous coding's; 0 before the first), the index of
//! its (code, rule) pair, its signed length, and its number of spans: 0 when
//! its one span is start..end (as `codings` stores no spans then), else each
//! span as its signed start from the coding's start and its signed length.
//! Format 1 (written on 2026-12-06 only, still read) had no passage table: each
//! coding had the signed change of its passage label.
//!
//! Only encodes and decodes bytes; knows nothing of SQLite, and the labels it
//! carries are the store's.

/// The format byte of every block written by this build.
const FORMAT: u8 = 2;
/// The format of blocks that named passages by label only.
const FORMAT_LABELS: u8 = 1;

/// A slot of [`BlockWriter`] whose pair the block has not met.
const NO_PAIR: u32 = u32::MAX;

/// Which passage a coding is of: a label of the store, or the 64 bits of an id
/// that [`passage_hash`] read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum PassageKey {
    Label(i64),
    Hash(u64),
}

/// The 64 bits of a passage id of the form ingest makes, `p` and 16 lower-case
/// hex digits, which [`passage_id_in`] writes back exactly; `None` for any other id.
///
/// A run reads one per passage coded, hundreds of thousands: the digits are
/// checked and read in one pass through a table, without a branch per digit.
pub(super) fn passage_hash(id: &str) -> Option<u64> {
    let hex = id.strip_prefix('p')?.as_bytes();
    if hex.len() != 16 {
        return None;
    }
    let (mut v, mut bad) = (0u64, 0u8);
    for &b in hex {
        let d = HEX_DIGIT[b as usize];
        bad |= d;
        v = v << 4 | u64::from(d & 0xf);
    }
    (bad & NOT_HEX == 0).then_some(v)
}

/// Set in [`HEX_DIGIT`] for a byte that is not a lower-case hex digit.
const NOT_HEX: u8 = 0x10;

/// By byte: the value of a lower-case hex digit, or [`NOT_HEX`].
const HEX_DIGIT: [u8; 256] = {
    let mut t = [NOT_HEX; 256];
    let mut i = 0;
    while i < 16 {
        t[b"0123456789abcdef"[i] as usize] = i as u8;
        i += 1;
    }
    t
};

/// The passage id whose bits [`passage_hash`] read, written into `buf`: a read
/// of every coding writes one per passage, hundreds of thousands, where the
/// general formatter cost more than the rest of the read of a passage's label.
pub(super) fn passage_id_in(hash: u64, buf: &mut [u8; 17]) -> &str {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    buf[0] = b'p';
    for (k, b) in buf[1..].iter_mut().enumerate() {
        *b = HEX[(hash >> (60 - 4 * k)) as usize & 0xf];
    }
    std::str::from_utf8(buf).expect("ASCII")
}

/// One machine coding of a block. `spans` is empty when the coding's one span
/// is `start..end`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Entry {
    pub id: i64,
    pub passage: PassageKey,
    pub code: i64,
    pub rule: i64,
    pub start: i64,
    pub end: i64,
    pub spans: Vec<(i64, i64)>,
}

fn put(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_signed(out: &mut Vec<u8>, v: i64) {
    put(out, ((v << 1) ^ (v >> 63)) as u64);
}

/// The index of `key` in `list`, added at its end when new; `index` maps
/// each key of `list` to its index.
fn index_of<K: Copy + Eq + std::hash::Hash>(
    list: &mut Vec<K>,
    index: &mut rustc_hash::FxHashMap<K, u64>,
    key: K,
) -> u64 {
    *index.entry(key).or_insert_with(|| {
        list.push(key);
        list.len() as u64 - 1
    })
}

/// Builds one block, coding by coding, in id order.
#[derive(Debug, Default)]
pub(super) struct BlockWriter {
    /// The id the first coding's id is counted from (its own when none).
    base: Option<i64>,
    pairs: Vec<(i64, i64)>,
    pair_index: rustc_hash::FxHashMap<(i64, i64), u64>,
    /// By the caller's slot of a pair (see [`BlockWriter::push`]): its index in
    /// `pairs`, or [`NO_PAIR`].
    slot_pairs: Vec<u32>,
    passages: Vec<PassageKey>,
    passage_index: rustc_hash::FxHashMap<PassageKey, u64>,
    body: Vec<u8>,
    n: u64,
    first: i64,
    last: i64,
    passage: i64,
    start: i64,
}

impl BlockWriter {
    pub fn len(&self) -> u64 {
        self.n
    }

    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// The ids of the first and the last coding added.
    pub fn bounds(&self) -> (i64, i64) {
        (self.first, self.last)
    }

    /// Add a coding; its id must be above the last one's. `slot`, when given,
    /// is the caller's small number for the (code, rule) pair (a rule's index
    /// in its codebook), always the same for the same pair: the block then finds
    /// the pair by it, without hashing the pair at every coding.
    pub fn push(
        &mut self,
        id: i64,
        passage: PassageKey,
        slot: Option<usize>,
        (code, rule): (i64, i64),
        (start, end): (i64, i64),
        spans: &[(i64, i64)],
    ) {
        debug_assert!(self.n == 0 || id > self.last);
        if self.n == 0 {
            self.first = id;
            self.last = self.base.unwrap_or(id);
        }
        let pair = self.pair_of(slot, (code, rule));
        // Codings come passage by passage: most are of the passage before.
        let index = if self.n > 0 && self.passages[self.passage as usize] == passage {
            self.passage
        } else {
            index_of(&mut self.passages, &mut self.passage_index, passage) as i64
        };
        let b = &mut self.body;
        put(b, (id - self.last) as u64);
        put_signed(b, index - self.passage);
        put_signed(b, start.wrapping_sub(self.start));
        put(b, pair);
        put_signed(b, end.wrapping_sub(start));
        if spans == [(start, end)] || spans.is_empty() {
            put(b, 0);
        } else {
            put(b, spans.len() as u64);
            for &(a, z) in spans {
                put_signed(b, a.wrapping_sub(start));
                put_signed(b, z.wrapping_sub(a));
            }
        }
        self.last = id;
        self.passage = index;
        self.start = start;
        self.n += 1;
    }

    /// The index of `pair` among the block's pairs, added when new; found by
    /// `slot` once the block has met it there.
    #[inline]
    fn pair_of(&mut self, slot: Option<usize>, pair: (i64, i64)) -> u64 {
        if let Some(&i) = slot.and_then(|s| self.slot_pairs.get(s)) {
            if i != NO_PAIR {
                debug_assert_eq!(self.pairs[i as usize], pair, "a slot names one pair");
                return u64::from(i);
            }
        }
        let i = index_of(&mut self.pairs, &mut self.pair_index, pair);
        if let Some(s) = slot {
            if s >= self.slot_pairs.len() {
                self.slot_pairs.resize(s + 1, NO_PAIR);
            }
            self.slot_pairs[s] = i as u32;
        }
        i
    }

    /// The block's bytes; the writer is empty again after.
    pub fn finish(&mut self) -> Vec<u8> {
        let mut out = Vec::with_capacity(
            self.body.len() + 16 + self.pairs.len() * 6 + self.passages.len() * 9,
        );
        out.push(FORMAT);
        put(&mut out, self.pairs.len() as u64);
        for &(code, rule) in &self.pairs {
            put_signed(&mut out, code);
            put_signed(&mut out, rule);
        }
        put(&mut out, self.passages.len() as u64);
        for p in &self.passages {
            match *p {
                PassageKey::Label(l) => {
                    out.push(0);
                    put_signed(&mut out, l);
                }
                PassageKey::Hash(h) => {
                    out.push(1);
                    out.extend_from_slice(&h.to_le_bytes());
                }
            }
        }
        put(&mut out, self.n);
        out.extend_from_slice(&self.body);
        // Empty again, keeping the buffers and tables: a run writes a block
        // per document, and each would grow them again from nothing.
        let mut kept = BlockWriter {
            slot_pairs: std::mem::take(&mut self.slot_pairs),
            pairs: std::mem::take(&mut self.pairs),
            pair_index: std::mem::take(&mut self.pair_index),
            passages: std::mem::take(&mut self.passages),
            passage_index: std::mem::take(&mut self.passage_index),
            body: std::mem::take(&mut self.body),
            ..BlockWriter::default()
        };
        kept.slot_pairs.fill(NO_PAIR);
        kept.pairs.clear();
        kept.pair_index.clear();
        kept.passages.clear();
        kept.passage_index.clear();
        kept.body.clear();
        *self = kept;
        out
    }
}

/// A block's bytes, read coding by coding.
struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Cursor<'_> {
    #[inline(always)]
    fn get(&mut self) -> Option<u64> {
        // Most numbers of a block are below 128 (one byte), nearly all the rest
        // below 16,384 (two).
        let &b = self.bytes.get(self.at)?;
        if b < 0x80 {
            self.at += 1;
            return Some(u64::from(b));
        }
        match self.bytes.get(self.at + 1) {
            Some(&c) if c < 0x80 => {
                self.at += 2;
                Some(u64::from(b & 0x7f) | u64::from(c) << 7)
            }
            _ => self.get_long(),
        }
    }

    /// [`Cursor::get`] of a number of three bytes or more (or of a truncated one).
    #[inline(never)]
    fn get_long(&mut self) -> Option<u64> {
        let mut v = 0u64;
        let mut shift = 0;
        loop {
            let b = *self.bytes.get(self.at)?;
            self.at += 1;
            if shift == 63 && b > 1 {
                return None;
            }
            v |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Some(v);
            }
            shift += 7;
            if shift > 63 {
                return None;
            }
        }
    }

    #[inline(always)]
    fn get_signed(&mut self) -> Option<i64> {
        let v = self.get()?;
        Some((v >> 1) as i64 ^ -((v & 1) as i64))
    }

    fn byte(&mut self) -> Option<u8> {
        let b = *self.bytes.get(self.at)?;
        self.at += 1;
        Some(b)
    }

    fn u64_le(&mut self) -> Option<u64> {
        let b = self.bytes.get(self.at..self.at + 8)?;
        self.at += 8;
        Some(u64::from_le_bytes(b.try_into().ok()?))
    }
}

/// An [`Entry`] with its spans borrowed from the decoder.
#[derive(Debug, Clone, Copy)]
pub(super) struct EntryRef<'s> {
    pub id: i64,
    pub passage: PassageKey,
    /// The passage's place in the block's table of passages (given to the
    /// `table` callback of [`decode_with_table`]); 0 in a block of format 1.
    pub slot: usize,
    pub code: i64,
    pub rule: i64,
    pub start: i64,
    pub end: i64,
    pub spans: &'s [(i64, i64)],
}

/// Read the block whose first coding has id `first`, calling `f` with each
/// coding (its `spans` borrowed, empty for one span from start to end).
/// Errors name what is wrong with the bytes.
/// First `table` is called with the block's passages (empty for a block of
/// format 1), so that a reader can look each up once per block.
#[inline]
pub(super) fn decode_with_table(
    first: i64,
    bytes: &[u8],
    table: impl FnOnce(&[PassageKey]),
    mut f: impl FnMut(EntryRef<'_>),
) -> Result<(), String> {
    let bad = |what: &str| format!("machine-coding block at id {first}: {what}");
    let mut c = Cursor { bytes, at: 0 };
    let labels_only = match c.byte() {
        Some(FORMAT) => false,
        Some(FORMAT_LABELS) => true,
        Some(v) => return Err(bad(&format!("unknown format {v}"))),
        None => return Err(bad("empty")),
    };
    let truncated = || bad("truncated");
    let n_pairs = c.get().ok_or_else(truncated)?;
    if n_pairs > bytes.len() as u64 {
        return Err(bad("more rules than bytes"));
    }
    let mut pairs = Vec::with_capacity(n_pairs as usize);
    for _ in 0..n_pairs {
        let code = c.get_signed().ok_or_else(truncated)?;
        let rule = c.get_signed().ok_or_else(truncated)?;
        pairs.push((code, rule));
    }
    let mut passages = Vec::new();
    if !labels_only {
        let n = c.get().ok_or_else(truncated)?;
        if n > bytes.len() as u64 {
            return Err(bad("more passages than bytes"));
        }
        passages.reserve(n as usize);
        for _ in 0..n {
            passages.push(match c.byte().ok_or_else(truncated)? {
                0 => PassageKey::Label(c.get_signed().ok_or_else(truncated)?),
                1 => PassageKey::Hash(c.u64_le().ok_or_else(truncated)?),
                t => return Err(bad(&format!("unknown passage tag {t}"))),
            });
        }
    }
    table(&passages);
    let n = c.get().ok_or_else(truncated)?;
    let (mut id, mut passage, mut start) = (first, 0i64, 0i64);
    let mut spans: Vec<(i64, i64)> = Vec::new();
    for _ in 0..n {
        id = id.wrapping_add(c.get().ok_or_else(truncated)? as i64);
        passage = passage.wrapping_add(c.get_signed().ok_or_else(truncated)?);
        start = start.wrapping_add(c.get_signed().ok_or_else(truncated)?);
        let pair = c.get().ok_or_else(truncated)?;
        let &(code, rule) = pairs
            .get(pair as usize)
            .ok_or_else(|| bad(&format!("rule {pair} of {n_pairs}")))?;
        let end = start.wrapping_add(c.get_signed().ok_or_else(truncated)?);
        let k = c.get().ok_or_else(truncated)?;
        spans.clear();
        for _ in 0..k {
            let a = start.wrapping_add(c.get_signed().ok_or_else(truncated)?);
            let z = a.wrapping_add(c.get_signed().ok_or_else(truncated)?);
            spans.push((a, z));
        }
        let (key, slot) = if labels_only {
            (PassageKey::Label(passage), 0)
        } else {
            usize::try_from(passage)
                .ok()
                .and_then(|i| Some((*passages.get(i)?, i)))
                .ok_or_else(|| bad(&format!("passage {passage} of {}", passages.len())))?
        };
        f(EntryRef {
            id,
            passage: key,
            slot,
            code,
            rule,
            start,
            end,
            spans: &spans,
        });
    }
    if c.at != bytes.len() {
        return Err(bad("bytes after its last coding"));
    }
    Ok(())
}

/// Every coding of a block, owned.
pub(super) fn entries(first: i64, bytes: &[u8]) -> Result<Vec<Entry>, String> {
    let mut out = Vec::new();
    decode_with_table(
        first,
        bytes,
        |_| {},
        |e| {
            out.push(Entry {
                id: e.id,
                passage: e.passage,
                code: e.code,
                rule: e.rule,
                start: e.start,
                end: e.end,
                spans: e.spans.to_vec(),
            })
        },
    )?;
    Ok(out)
}

/// A block of `entries` (in id order, from `first` on), for writing back
/// after a change.
pub(super) fn encode(first: i64, entries: &[Entry]) -> Vec<u8> {
    let mut w = BlockWriter {
        base: Some(first),
        ..BlockWriter::default()
    };
    for e in entries {
        w.push(
            e.id,
            e.passage,
            None,
            (e.code, e.rule),
            (e.start, e.end),
            &e.spans,
        );
    }
    w.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(
        id: i64,
        passage: PassageKey,
        rule: i64,
        start: i64,
        end: i64,
        spans: &[(i64, i64)],
    ) -> Entry {
        Entry {
            id,
            passage,
            code: rule * 10,
            rule,
            start,
            end,
            spans: spans.to_vec(),
        }
    }

    use PassageKey::{Hash, Label};

    #[test]
    fn a_block_reads_back_what_was_written() {
        let written = vec![
            entry(100, Hash(7), 3, 0, 5, &[]),
            entry(101, Hash(7), 4, 3, 20, &[(3, 9), (15, 20)]),
            entry(102, Label(300_000), 3, 1_000_000, 1_000_010, &[]),
            entry(150, Hash(u64::MAX), 5, 40, 40, &[]),
            entry(151, Hash(7), 3, 12, 8, &[]),
            entry(
                i64::MAX / 2,
                Label(i64::from(u32::MAX)),
                1 << 40,
                -5,
                i64::MAX / 4,
                &[(-5, 0)],
            ),
        ];
        let bytes = encode(100, &written);
        assert_eq!(entries(100, &bytes).unwrap(), written);
    }

    /// Pairs found by the caller's slots write the bytes that pairs found by
    /// hashing write, block after block of one writer (whose slots start
    /// empty again at each block).
    #[test]
    fn pairs_found_by_slot_write_the_blocks_pairs_found_by_hash_write() {
        let rules = [3i64, 9, 3, 1, 7, 9, 9, 2, 1, 3];
        let mut by_slot = BlockWriter::default();
        let mut blocks = Vec::new();
        for block in 0..3i64 {
            let written: Vec<Entry> = (0..40)
                .map(|k| {
                    let rule = rules[(k as usize * 7 + block as usize) % rules.len()];
                    entry(1000 * block + k, Hash(k as u64 / 4), rule, k, k + 2, &[])
                })
                .collect();
            for e in &written {
                by_slot.push(
                    e.id,
                    e.passage,
                    Some(e.rule as usize),
                    (e.code, e.rule),
                    (e.start, e.end),
                    &e.spans,
                );
            }
            let bytes = by_slot.finish();
            assert_eq!(bytes, encode(1000 * block, &written), "block {block}");
            assert_eq!(entries(1000 * block, &bytes).unwrap(), written);
            blocks.push(bytes);
        }
        assert_ne!(blocks[0], blocks[1]);
    }

    #[test]
    fn a_block_whose_first_coding_was_removed_still_reads_its_ids() {
        let left = vec![
            entry(12, Hash(1), 1, 0, 3, &[]),
            entry(13, Hash(1), 1, 5, 8, &[]),
        ];
        assert_eq!(entries(10, &encode(10, &left)).unwrap(), left);
    }

    #[test]
    fn one_span_from_start_to_end_is_stored_as_none() {
        let bytes = encode(1, &[entry(1, Label(1), 1, 4, 9, &[(4, 9)])]);
        assert_eq!(entries(1, &bytes).unwrap()[0].spans, vec![]);
    }

    /// A coding of a passage with an ingest-made id takes a few bytes, the
    /// passage's 64 bits once per block.
    #[test]
    fn codings_of_one_passage_take_a_few_bytes_each() {
        let many: Vec<Entry> = (0..100)
            .map(|i| entry(i, Hash(0xfeed_beef_dead_cafe), i % 7, i * 9, i * 9 + 4, &[]))
            .collect();
        let bytes = encode(0, &many);
        assert!(bytes.len() < 100 * 6 + 40, "{}", bytes.len());
    }

    #[test]
    fn ingest_passage_ids_are_read_and_written_exactly() {
        for id in [
            "p0000000000000000",
            "p8c3c4a0a64d2cd79",
            "pffffffffffffffff",
        ] {
            let h = passage_hash(id).unwrap();
            assert_eq!(passage_id_in(h, &mut [0; 17]), id);
        }
        for other in [
            "p8C3C4A0A64D2CD79",
            "p8c3c4a0a64d2cd7",
            "q8c3c4a0a64d2cd79",
            "p8c3c4a0a64d2cd79x",
            "p+c3c4a0a64d2cd7",
            "m1#p1",
            "",
        ] {
            assert_eq!(passage_hash(other), None, "{other}");
        }
        // Every byte at every place: read exactly when it is a lower-case hex
        // digit, refused otherwise (a byte of a longer character included).
        for at in 0..16 {
            for b in 0..=255u8 {
                let mut digits = *b"8c3c4a0a64d2cd79";
                digits[at] = b;
                let mut id = vec![b'p'];
                id.extend_from_slice(&digits);
                let Ok(id) = std::str::from_utf8(&id) else {
                    continue;
                };
                let expected = matches!(b, b'0'..=b'9' | b'a'..=b'f')
                    .then(|| u64::from_str_radix(&id[1..], 16).unwrap());
                assert_eq!(passage_hash(id), expected, "{id:?}");
            }
        }
        let two_bytes = "p8c3c4a0a64d2cdø";
        assert_eq!((two_bytes.len(), passage_hash(two_bytes)), (17, None));
        let at_the_end = "p8c3c4a0a64d2cø";
        assert_eq!((at_the_end.len(), passage_hash(at_the_end)), (16, None));
    }

    #[test]
    fn numbers_of_every_length_read_back_and_truncated_ones_are_refused() {
        let mut values = vec![0u64, 1, 0x7f, 0x80, 0x3fff, 0x4000, u64::MAX - 1, u64::MAX];
        values.extend((1..64).flat_map(|b| [(1u64 << b) - 1, 1 << b, (1 << b) + 1]));
        for &v in &values {
            let mut bytes = Vec::new();
            put(&mut bytes, v);
            put(&mut bytes, 5);
            let mut c = Cursor {
                bytes: &bytes,
                at: 0,
            };
            assert_eq!((c.get(), c.get(), c.get()), (Some(v), Some(5), None), "{v}");
            for cut in 0..bytes.len() - 1 {
                let mut c = Cursor {
                    bytes: &bytes[..cut],
                    at: 0,
                };
                assert_eq!(c.get(), None, "{v} cut at {cut}");
            }
        }
        // Eleven bytes, or a tenth byte past the 64 bits, are refused.
        for bad in [
            &[0xff; 11][..],
            &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02],
        ] {
            assert_eq!(Cursor { bytes: bad, at: 0 }.get(), None);
        }
    }

    /// A block written by the first build with blocks (format 1: passage labels
    /// in every coding) still reads.
    #[test]
    fn a_block_of_format_1_still_reads() {
        // Pairs (30, 3); two codings: id 5 passage label 7 at 0..5, id 6
        // passage label 9 at 3..20 with spans 3..9 and 15..20.
        let mut b = vec![FORMAT_LABELS];
        put(&mut b, 1);
        put_signed(&mut b, 30);
        put_signed(&mut b, 3);
        put(&mut b, 2);
        put(&mut b, 0);
        put_signed(&mut b, 7);
        put_signed(&mut b, 0);
        put(&mut b, 0);
        put_signed(&mut b, 5);
        put(&mut b, 0);
        put(&mut b, 1);
        put_signed(&mut b, 2);
        put_signed(&mut b, 3);
        put(&mut b, 0);
        put_signed(&mut b, 17);
        put(&mut b, 2);
        for s in [0i64, 6, 12, 5] {
            put_signed(&mut b, s);
        }
        let e = entries(5, &b).unwrap();
        assert_eq!(
            e,
            vec![
                Entry {
                    id: 5,
                    passage: Label(7),
                    code: 30,
                    rule: 3,
                    start: 0,
                    end: 5,
                    spans: vec![]
                },
                Entry {
                    id: 6,
                    passage: Label(9),
                    code: 30,
                    rule: 3,
                    start: 3,
                    end: 20,
                    spans: vec![(3, 9), (15, 20)]
                },
            ]
        );
    }

    #[test]
    fn damaged_blocks_are_errors_not_panics() {
        let bytes = encode(
            5,
            &[
                entry(5, Hash(1), 1, 0, 3, &[(0, 1), (2, 3)]),
                entry(6, Label(2), 2, 9, 12, &[]),
            ],
        );
        for cut in 0..bytes.len() {
            let e = entries(5, &bytes[..cut]).unwrap_err();
            assert!(e.starts_with("machine-coding block at id 5: "), "{e}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(entries(5, &longer).unwrap_err().contains("bytes after"));
        let mut format = bytes.clone();
        format[0] = 9;
        assert!(entries(5, &format)
            .unwrap_err()
            .contains("unknown format 9"));
        // Every single-byte change decodes or fails; none panics.
        for i in 0..bytes.len() {
            for v in [0u8, 1, 2, 0x7f, 0x80, 0xff] {
                let mut b = bytes.clone();
                b[i] = v;
                let _ = entries(5, &b);
            }
        }
        assert!(entries(
            5,
            &[2, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]
        )
        .is_err());
    }
}
