//! Tokenizers that tantivy calls: [`NorwegianTokenizer`] (lemmas, nynorsk variants
//! and compound parts, several terms at one position) and [`ExactTokenizer`]
//! (lower-cased word forms, for prefix and exact-form search). Both split text
//! the same way, through [`words`], so positions agree between the two fields.
//! [`LoggingTokenizer`] is the Norwegian one that also notes, in a [`FormLog`],
//! each word form the first time it meets it, with its terms: what an index
//! keeps as its vocabulary.

use super::forms::FormMap;
use super::norwegian::{analyze_word, WordTerms};
use rustc_hash::FxHashMap;
use std::cell::RefCell;
use std::hash::BuildHasher;
use std::sync::{Arc, RwLock};
use tantivy::tokenizer::{Token, TokenStream, Tokenizer};
use unicode_segmentation::UnicodeSegmentation;

/// A word in a text: byte offsets into the text and its lower-case form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Word {
    pub start: usize,
    pub end: usize,
    pub lower: String,
}

/// Words of `text` by Unicode word boundaries (UAX #29), lower-cased. Pure
/// punctuation is skipped; «quotes», hyphens and apostrophes split words.
pub fn words(text: &str) -> impl Iterator<Item = Word> + '_ {
    let mut spans = Vec::new();
    split_words(text, &mut spans);
    spans.into_iter().map(move |(start, end)| Word {
        start,
        end,
        lower: text[start..end].to_lowercase(),
    })
}

/// How the fast word splitter sees a character (the UAX #29 word-break classes
/// that occur in ordinary Norwegian text).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Class {
    Letter,
    Digit,
    /// `_`: joins with letters, digits and itself.
    Under,
    /// `:` joins letters only.
    MidLetter,
    /// `.`, `'`, `‘`, `’` join letters, and digits.
    MidNumLet,
    /// `,` and `;` join digits only.
    MidNum,
    /// Spaces, other punctuation: never part of a word.
    Other,
    /// Numbers that are not digits (½, ², ⅓): a word of their own.
    Lone,
    /// Anything else (other scripts, combining marks, soft hyphens, emoji):
    /// the text goes to the full Unicode segmenter.
    Hard,
}

#[inline]
fn class(c: char) -> Class {
    match c {
        'a'..='z' | 'A'..='Z' => Class::Letter,
        '0'..='9' => Class::Digit,
        '_' => Class::Under,
        ':' => Class::MidLetter,
        '.' | '\'' | '\u{2018}' | '\u{2019}' => Class::MidNumLet,
        ',' | ';' => Class::MidNum,
        '\0'..='\x7f' => Class::Other,
        '\u{d7}' | '\u{f7}' => Class::Other,
        '\u{c0}'..='\u{24f}' => Class::Letter,
        '\u{a0}' | '\u{a1}'..='\u{a9}' | '\u{ab}' | '\u{ac}' | '\u{ae}'..='\u{b1}' => Class::Other,
        '\u{b4}' | '\u{b6}' | '\u{bb}' | '\u{bf}' => Class::Other,
        '\u{2010}'..='\u{2017}' | '\u{201a}'..='\u{2023}' | '\u{2025}' | '\u{2026}' => Class::Other,
        '\u{2030}'..='\u{203e}' | '\u{2000}'..='\u{200a}' => Class::Other,
        '\u{b2}' | '\u{b3}' | '\u{b9}' | '\u{bc}'..='\u{be}' | '\u{2150}'..='\u{215f}' => {
            Class::Lone
        }
        _ => Class::Hard,
    }
}

/// Byte spans of the words of `text` into `out` (cleared first): the same words
/// as [`words`], found by a fast scanner for the characters of ordinary
/// Norwegian text, and by the full UAX #29 segmenter when another character occurs.
pub fn split_words(text: &str, out: &mut Vec<(usize, usize)>) {
    out.clear();
    if !split_simple(text, out) {
        out.clear();
        out.extend(
            text.unicode_word_indices()
                .map(|(start, w)| (start, start + w.len())),
        );
    }
}

/// Classes of the ASCII characters, by byte.
const ASCII: [Class; 128] = {
    let mut t = [Class::Other; 128];
    let mut i = 0;
    while i < 128 {
        t[i] = match i as u8 {
            b'a'..=b'z' | b'A'..=b'Z' => Class::Letter,
            b'0'..=b'9' => Class::Digit,
            b'_' => Class::Under,
            b':' => Class::MidLetter,
            b'.' | b'\'' => Class::MidNumLet,
            b',' | b';' => Class::MidNum,
            _ => Class::Other,
        };
        i += 1;
    }
    t
};

/// ASCII letters and digits, by byte (false for every byte of a non-ASCII character).
const ASCII_ALNUM: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 128 {
        t[i] = matches!(ASCII[i], Class::Letter | Class::Digit);
        i += 1;
    }
    t
};

/// The class of the character at byte `i` of `text`, and its length in bytes.
#[inline(always)]
fn class_at(text: &str, i: usize) -> (Class, usize) {
    let bytes = text.as_bytes();
    let b = bytes[i];
    if b < 0x80 {
        (ASCII[b as usize], 1)
    } else if b == 0xC3 {
        // U+00C0..=U+00FF (æ, ø, å and the other Latin-1 letters), all letters
        // but × (C3 97) and ÷ (C3 B7); the byte after a lead byte is in the text.
        let c2 = bytes[i + 1];
        let k = if c2 == 0x97 || c2 == 0xB7 {
            Class::Other
        } else {
            Class::Letter
        };
        (k, 2)
    } else {
        // `i` is always a character boundary: the scanner steps by whole characters.
        let c = text[i..].chars().next().unwrap_or('\u{fffd}');
        (class(c), c.len_utf8())
    }
}

/// The fast scanner; false when it met a character it does not model.
fn split_simple(text: &str, out: &mut Vec<(usize, usize)>) -> bool {
    let n = text.len();
    // The word being read: its start, whether it has a letter or digit, and the
    // class of its last character.
    let mut start = 0;
    let mut in_word = false;
    let mut alnum = false;
    let mut last = Class::Other;
    let bytes = text.as_bytes();
    let mut i = 0;
    // Below this byte the 16-byte blocks were found to need the scanner below.
    let mut slow_until = 0;
    while i < n {
        if i >= slow_until
            && i + 16 <= n
            && (!in_word || (alnum && matches!(last, Class::Letter | Class::Digit)))
        {
            match block::letters(&bytes[i..i + 16], in_word) {
                Some(first) => {
                    // A second block, when it is simple too, joins the first: one
                    // pass over the events of 32 bytes.
                    let second = bytes
                        .get(i + 16..i + 32)
                        .and_then(|b| block::letters(b, first >> 15 & 1 == 1));
                    let (letters, width) = match second {
                        Some(s) => (first | s << 16, 32),
                        None => (first, 16),
                    };
                    // Only letters, digits and separators: words are the runs of
                    // set bits, and a word in progress continues into bit 0.
                    let all = if width == 32 { u32::MAX } else { 0xFFFF };
                    let prev = (letters << 1 | u32::from(in_word)) & all;
                    let starts = letters & !prev;
                    let ends = !letters & prev;
                    push_block_words(out, i, start, in_word, starts, ends);
                    // The word that goes on past the block began at its last
                    // start, or before the block when it has none.
                    if starts != 0 {
                        start = i + (31 - starts.leading_zeros()) as usize;
                    }
                    in_word = letters >> (width - 1) & 1 == 1;
                    // Read only while a word goes on: the last byte is then an
                    // ASCII letter or digit, or the second byte of a Latin-1
                    // letter. Set whatever the block's end, without a branch.
                    alnum = true;
                    let b = bytes[i + width - 1];
                    last = if b < 0x80 {
                        ASCII[b as usize]
                    } else {
                        Class::Letter
                    };
                    i += width;
                    continue;
                }
                None => slow_until = i + 16,
            }
        }
        if ASCII_ALNUM[bytes[i] as usize] {
            // The common case: a run of ASCII letters and digits.
            if !in_word {
                in_word = true;
                start = i;
            }
            alnum = true;
            let mut j = i + 1;
            while j < n && ASCII_ALNUM[bytes[j] as usize] {
                j += 1;
            }
            last = ASCII[bytes[j - 1] as usize];
            i = j;
            continue;
        }
        let (k, len) = class_at(text, i);
        match k {
            Class::Letter | Class::Digit | Class::Under => {
                if !in_word {
                    in_word = true;
                    start = i;
                    alnum = false;
                }
                alnum |= k != Class::Under;
                last = k;
            }
            Class::Hard => return false,
            Class::Lone => {
                if in_word && alnum {
                    out.push((start, i));
                }
                in_word = false;
                out.push((i, i + len));
            }
            Class::Other => {
                if in_word {
                    if alnum {
                        out.push((start, i));
                    }
                    in_word = false;
                }
            }
            Class::MidLetter | Class::MidNumLet | Class::MidNum => {
                if in_word {
                    let next = (i + len < n).then(|| class_at(text, i + len).0);
                    if next == Some(Class::Hard) {
                        return false;
                    }
                    let joins = match (last, next) {
                        (Class::Letter, Some(Class::Letter)) => k != Class::MidNum,
                        (Class::Digit, Some(Class::Digit)) => k != Class::MidLetter,
                        _ => false,
                    };
                    if !joins {
                        if alnum {
                            out.push((start, i));
                        }
                        in_word = false;
                    }
                }
            }
        }
        i += len;
    }
    if in_word && alnum {
        out.push((start, n));
    }
    true
}

/// Pushes the words a block of the fast scanner ends onto `out`: a word per
/// set bit of `ends`, each starting at the next bit of `starts`, but the first
/// at `start` when a word was in progress as the block began (`in_word`; the
/// block's bit 0 then continues it). Offsets are counted from `at`.
///
/// A block of 32 bytes ends about five words, a varying number: a loop over
/// them mispredicted its exit about once a block. Eight words are written
/// whether the block has them or not (those past its count lie beyond the
/// vector's length and are overwritten later), and only a ninth and more loop.
#[inline(always)]
fn push_block_words(
    out: &mut Vec<(usize, usize)>,
    at: usize,
    start: usize,
    in_word: bool,
    mut starts: u32,
    mut ends: u32,
) {
    const WRITTEN: usize = 8;
    let count = ends.count_ones() as usize;
    // At most 16 words end in 32 bytes.
    out.reserve(WRITTEN.max(count));
    let len = out.len();
    // The first word's start: the one in progress, or the block's first start.
    let first = if in_word {
        start
    } else {
        at + starts.trailing_zeros() as usize
    };
    starts &= starts.wrapping_sub(u32::from(!in_word));
    let room = &mut out.spare_capacity_mut()[..WRITTEN.max(count)];
    room[0].write((first, at + ends.trailing_zeros() as usize));
    ends &= ends.wrapping_sub(1);
    // The next word: its start and end bits, taken off the masks.
    let mut next = || {
        let word = (
            at + starts.trailing_zeros() as usize,
            at + ends.trailing_zeros() as usize,
        );
        starts &= starts.wrapping_sub(1);
        ends &= ends.wrapping_sub(1);
        word
    };
    // A fixed count, unrolled; then the rare ninth word and more.
    for slot in &mut room[1..WRITTEN] {
        slot.write(next());
    }
    for slot in room.iter_mut().skip(WRITTEN) {
        slot.write(next());
    }
    // SAFETY: the `count` values after `len` were written just above (the
    // first eight, or all when there are more), within the reserved capacity.
    unsafe { out.set_len(len + count) };
}

/// Classifying 16 bytes at once, for the common blocks of Norwegian text.
mod block {
    /// Bit `k` set when byte `k` belongs to a letter or digit, for a block whose
    /// words are simply its runs of letters and digits: a block of ASCII letters,
    /// digits and other ASCII characters, Latin-1 letters (lead 0xC3, not × or ÷)
    /// and «» (0xC2 0xAB, 0xC2 0xBB) that end inside it, where no `_` occurs and
    /// no `:`, `.`, `'`, `,` or `;` stands between two letters or digits (nor
    /// last, where the next byte is unknown). `carry`: the byte before the block
    /// belongs to a letter or digit. `None` for any other block.
    #[inline]
    pub(super) fn letters(b: &[u8], carry: bool) -> Option<u32> {
        debug_assert_eq!(b.len(), 16);
        #[cfg(target_arch = "x86_64")]
        {
            // SAFETY: SSE2 is part of every x86_64 target, and `b` has 16 bytes.
            unsafe { sse2(b, carry) }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            portable(b, carry)
        }
    }

    /// The joining characters that stand between two letters or digits (or
    /// last in the block), where they could join them into one word.
    #[inline(always)]
    fn joining(letters: u32, joiners: u32, carry: bool) -> u32 {
        let prev = (letters << 1) | u32::from(carry);
        let next = letters >> 1;
        (joiners & 0x8000) | (joiners & prev & next)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "sse2")]
    unsafe fn sse2(b: &[u8], carry: bool) -> Option<u32> {
        use std::arch::x86_64::*;
        let v = _mm_loadu_si128(b.as_ptr() as *const __m128i);
        let splat = |x: u8| _mm_set1_epi8(x as i8);
        let eq = |x: u8| _mm_cmpeq_epi8(v, splat(x));
        let mask = |m: __m128i| _mm_movemask_epi8(m) as u32;
        // Every test is made on every block and their failures joined into one
        // branch: in Norwegian text a letter beyond ASCII or a full stop is in
        // about every other block, which a branch of its own would mispredict.
        let under = mask(eq(b'_'));
        // Unsigned range tests as signed ones: shifting the range's first value
        // to -128 leaves exactly the range below -128 + its length.
        let lower = _mm_or_si128(v, splat(0x20));
        let letter = _mm_cmplt_epi8(
            _mm_add_epi8(lower, splat(128 - b'a')),
            _mm_set1_epi8(-128 + 26),
        );
        let digit = _mm_cmplt_epi8(_mm_add_epi8(v, splat(128 - b'0')), _mm_set1_epi8(-128 + 10));
        let high = mask(v);
        let latin1 = mask(eq(0xC3));
        let quote = mask(eq(0xC2));
        let not_letters = mask(_mm_or_si128(eq(0x97), eq(0xB7))) & (latin1 << 1);
        let quote_ends = mask(_mm_or_si128(eq(0xAB), eq(0xBB)));
        let known = latin1 | (latin1 << 1) | quote | (quote << 1);
        let letters = mask(_mm_or_si128(letter, digit)) | latin1 | (latin1 << 1);
        let joiners = mask(_mm_or_si128(
            _mm_or_si128(eq(b':'), _mm_or_si128(eq(b'.'), eq(b'\''))),
            _mm_or_si128(eq(b','), eq(b';')),
        ));
        let bad = under
            | (high & !known)
            | ((latin1 | quote) & 0x8000)
            | not_letters
            | ((quote << 1) & !quote_ends)
            | joining(letters, joiners, carry);
        if bad != 0 {
            return None;
        }
        Some(letters)
    }

    /// The same test a byte at a time (used off x86_64, and to check `sse2`).
    #[cfg_attr(target_arch = "x86_64", allow(dead_code))]
    pub(super) fn portable(b: &[u8], carry: bool) -> Option<u32> {
        let (mut letters, mut joiners) = (0u32, 0u32);
        let mut k = 0;
        while k < 16 {
            match b[k] {
                b'_' => return None,
                b':' | b'.' | b'\'' | b',' | b';' => joiners |= 1 << k,
                b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' => letters |= 1 << k,
                0..=0x7F => {}
                0xC3 if k < 15
                    && b[k + 1] & 0xC0 == 0x80
                    && b[k + 1] != 0x97
                    && b[k + 1] != 0xB7 =>
                {
                    letters |= 3 << k;
                    k += 1;
                }
                0xC2 if k < 15 && (b[k + 1] == 0xAB || b[k + 1] == 0xBB) => k += 1,
                _ => return None,
            }
            k += 1;
        }
        if joining(letters, joiners, carry) != 0 {
            return None;
        }
        Some(letters)
    }
}

thread_local! {
    /// The indexing streams' table of forms as written (see [`FormTerms`]).
    static FORMS: ThreadForms = ThreadForms(RefCell::new(FormTerms::take()));
}

/// A thread's [`FormTerms`], handed back to [`FORMS_POOL`] when the thread ends:
/// the index writer starts new indexing threads at every commit, and each
/// takes up a table one of the last ones left instead of filling its own.
struct ThreadForms(RefCell<FormTerms>);

impl ThreadForms {
    fn with_borrow<R>(&self, f: impl FnOnce(&FormTerms) -> R) -> R {
        f(&self.0.borrow())
    }
    fn with_borrow_mut<R>(&self, f: impl FnOnce(&mut FormTerms) -> R) -> R {
        f(&mut self.0.borrow_mut())
    }
}

impl Drop for ThreadForms {
    fn drop(&mut self) {
        FORMS_POOL.give(std::mem::replace(self.0.get_mut(), FormTerms::empty()));
    }
}

/// Tables of threads that have ended, for the next ones: at most one per
/// indexing thread of a writer (they stay after indexing, for the next).
struct FormsPool(std::sync::Mutex<Vec<FormTerms>>);

static FORMS_POOL: FormsPool = FormsPool(std::sync::Mutex::new(Vec::new()));
/// Tables kept in [`FORMS_POOL`] at most: as many as an index writer has
/// threads at most (`index::MAX_INDEXING_THREADS`).
pub(crate) const FORMS_KEPT: usize = 4;

impl FormsPool {
    fn give(&self, forms: FormTerms) {
        let mut pool = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if pool.len() < FORMS_KEPT && forms.forms() > 0 {
            pool.push(forms);
        }
    }

    /// The fullest table kept, if any.
    fn take(&self) -> Option<FormTerms> {
        let mut pool = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let fullest = (0..pool.len()).max_by_key(|&i| pool[i].forms())?;
        Some(pool.swap_remove(fullest))
    }
}

/// Word forms an indexing thread keeps with their terms before it starts over,
/// checked before each passage (about 10 MiB for ordinary text: 32-byte slots
/// for forms of up to 15 bytes, 64-byte ones for longer forms, at most half of
/// them taken, and each form's terms).
const FORMS_LIMIT: usize = 1 << 16;
/// Bytes of terms a table holds before it starts over. A passage adds far less
/// (passages are at most `formats::MAX_PASSAGE_CHARS` characters), so the byte
/// offsets of the terms always fit in a `u32`.
const TERMS_TEXT_LIMIT: usize = 1 << 28;

/// Generations of [`FormTerms`], unique across threads.
static GENERATIONS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// The terms of every word form an indexing thread has met, by the form as
/// written: the forms in a [`FormMap`] (one probe of one cache line for a form
/// of up to 31 bytes, no string hashed or compared), their terms (full, then
/// parts) as byte ranges of one text. A stream keeps ranges, not references;
/// `generation` tells it that the table has started over since it looked its
/// words up.
struct FormTerms {
    /// Form → range of `terms`.
    forms: FormMap,
    /// Each term's byte range in `text`; the terms of one form are adjacent.
    terms: Vec<(u32, u32)>,
    text: String,
    generation: u64,
    /// By the first term of a form (each form has at least one): the id of
    /// the last [`FormLog`] it was noted in, 0 for none.
    logged: Vec<u32>,
}

impl FormTerms {
    /// A table a thread that ended left, or a new one.
    fn take() -> FormTerms {
        FORMS_POOL.take().unwrap_or_else(FormTerms::new)
    }

    /// An empty table of a generation of its own.
    fn new() -> FormTerms {
        FormTerms {
            forms: FormMap::new(),
            ..FormTerms::empty()
        }
    }

    /// A table without slots, only to be dropped or replaced.
    fn empty() -> FormTerms {
        FormTerms {
            forms: FormMap::empty(),
            terms: Vec::new(),
            text: String::new(),
            generation: GENERATIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            logged: Vec::new(),
        }
    }

    /// Notes in `log` each word (its `spans` in `text`, its `ranges` here)
    /// whose form the log has not had from this table: its lower case and its
    /// terms. One look at a slot per word; the log's lock is taken once, and
    /// only when there is something new.
    fn note_new(
        &mut self,
        text: &str,
        spans: &[(usize, usize)],
        ranges: &[(u32, u32)],
        log: &FormLog,
    ) {
        if self.logged.len() < self.terms.len() {
            self.logged.resize(self.terms.len(), 0);
        }
        let mut lines = String::new();
        for (&(a, b), &(start, len)) in spans.iter().zip(ranges) {
            if len == 0 || self.logged[start as usize] == log.id {
                continue;
            }
            self.logged[start as usize] = log.id;
            lines.push_str(&text[a..b].to_lowercase());
            for k in start..start + len {
                lines.push('\t');
                lines.push_str(self.term(k));
            }
            lines.push('\n');
        }
        if !lines.is_empty() {
            log.lines
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push_str(&lines);
        }
    }

    fn forms(&self) -> usize {
        self.forms.len()
    }

    fn term(&self, k: u32) -> &str {
        let (a, b) = self.terms[k as usize];
        &self.text[a as usize..b as usize]
    }

    /// The range of terms of each word of `text` (its `spans`) into `out`; the
    /// generation they belong to comes back.
    fn look_up(&mut self, text: &str, spans: &[(usize, usize)], out: &mut Vec<(u32, u32)>) -> u64 {
        if self.forms() >= FORMS_LIMIT || self.text.len() >= TERMS_TEXT_LIMIT {
            *self = FormTerms::new();
        }
        let (terms, terms_text) = (&mut self.terms, &mut self.text);
        self.forms.look_up(text, spans, out, |form| {
            // A form met for the first time: analysed, and its terms kept.
            // Within u32: see TERMS_TEXT_LIMIT.
            let analysed = NorwegianTokenizer.terms(&form.to_lowercase());
            let start = terms.len() as u32;
            for t in analysed.full.iter().chain(&analysed.parts) {
                let a = terms_text.len() as u32;
                terms_text.push_str(t);
                terms.push((a, terms_text.len() as u32));
            }
            (start, terms.len() as u32 - start)
        });
        self.generation
    }
}

/// Shards of the shared cache: enough that two to eight threads seldom meet.
const SHARDS: usize = 16;
/// Entries per shard; a full shard is emptied (about 4 MiB of analyses each).
const SHARD_LIMIT: usize = 16_384;

/// The shards of [`SHARED`], each a map from a word form to its terms.
type SharedForms = [RwLock<FxHashMap<Box<str>, Arc<WordTerms>>>; SHARDS];

/// Analysed word forms shared by every thread, by their lower case.
/// tantivy starts new indexing threads at every commit and a coding run's
/// threads live for one call; without this each of them would analyse the
/// vocabulary again. The callers on hot paths (the index's token stream and
/// the matcher) keep each form's terms in a table of their own, so only a form
/// new to such a table comes here, under a read lock.
static SHARED: std::sync::LazyLock<SharedForms> =
    std::sync::LazyLock::new(|| std::array::from_fn(|_| RwLock::default()));

fn shared_terms(lower: &str) -> Arc<WordTerms> {
    let shard = &SHARED[(rustc_hash::FxBuildHasher.hash_one(lower) as usize) % SHARDS];
    if let Some(t) = shard
        .read()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .get(lower)
    {
        return t.clone();
    }
    let t = Arc::new(analyze_word(lower));
    let mut map = shard
        .write()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if map.len() >= SHARD_LIMIT {
        map.clear();
    }
    map.entry(lower.into()).or_insert(t).clone()
}

/// The Norwegian analyzer as a tantivy tokenizer.
#[derive(Clone, Default)]
pub struct NorwegianTokenizer;

impl NorwegianTokenizer {
    /// The terms of a lower-case word form.
    pub fn terms(&mut self, lower: &str) -> Arc<WordTerms> {
        shared_terms(lower)
    }

    /// The terms of a word form as written (any case).
    pub fn terms_of_form(&mut self, form: &str) -> Arc<WordTerms> {
        self.terms(&form.to_lowercase())
    }
}

/// Tokens of the Norwegian analyzer: for each word, its own terms and then its
/// compound-part terms, all at the word's position. One token buffer is reused.
pub struct NorwegianStream<'a> {
    text: &'a str,
    spans: Vec<(usize, usize)>,
    /// Each word's range of terms in this thread's [`FormTerms`], of `generation`.
    ranges: Vec<(u32, u32)>,
    generation: u64,
    next_word: usize,
    /// The range of terms of the word at the token's position, and the next of them.
    current: (u32, u32),
    next_term: u32,
    token: Token,
}

impl NorwegianStream<'_> {
    /// The thread's table started over after this stream looked its words up
    /// (another stream met many new forms meanwhile): look them up again.
    #[cold]
    fn look_up_again(&mut self) {
        self.generation = FORMS
            .with(|t| t.with_borrow_mut(|f| f.look_up(self.text, &self.spans, &mut self.ranges)));
        self.current = self.ranges[self.next_word - 1];
    }
}

impl TokenStream for NorwegianStream<'_> {
    fn advance(&mut self) -> bool {
        loop {
            if self.next_term < self.current.1 {
                let k = self.current.0 + self.next_term;
                let (generation, text) = (self.generation, &mut self.token.text);
                let copied = FORMS.with(|t| {
                    t.with_borrow(|f| {
                        if f.generation != generation {
                            return false;
                        }
                        text.clear();
                        text.push_str(f.term(k));
                        true
                    })
                });
                if copied {
                    self.next_term += 1;
                    return true;
                }
                self.look_up_again();
                continue;
            }
            let Some(&(a, b)) = self.spans.get(self.next_word) else {
                return false;
            };
            self.token.offset_from = a;
            self.token.offset_to = b;
            self.token.position = self.next_word;
            self.current = self.ranges[self.next_word];
            self.next_word += 1;
            self.next_term = 0;
        }
    }
    fn token(&self) -> &Token {
        &self.token
    }
    fn token_mut(&mut self) -> &mut Token {
        &mut self.token
    }
}

fn first_token() -> Token {
    Token {
        offset_from: 0,
        offset_to: 0,
        position: 0,
        text: String::with_capacity(64),
        position_length: 1,
    }
}

/// The Norwegian token stream of `text`, noting new forms in `log` if given.
fn norwegian_stream<'a>(text: &'a str, log: Option<&FormLog>) -> NorwegianStream<'a> {
    let mut spans = Vec::new();
    split_words(text, &mut spans);
    let mut ranges = Vec::with_capacity(spans.len());
    let generation = FORMS.with(|t| {
        t.with_borrow_mut(|f| {
            let generation = f.look_up(text, &spans, &mut ranges);
            if let Some(log) = log {
                f.note_new(text, &spans, &ranges, log);
            }
            generation
        })
    });
    NorwegianStream {
        text,
        spans,
        ranges,
        generation,
        next_word: 0,
        current: (0, 0),
        next_term: 0,
        token: first_token(),
    }
}

impl Tokenizer for NorwegianTokenizer {
    type TokenStream<'a> = NorwegianStream<'a>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> NorwegianStream<'a> {
        norwegian_stream(text, None)
    }
}

/// Ids of [`FormLog`]s, unique in the process (0 is no log's).
static LOG_IDS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(1);

/// The word forms a [`LoggingTokenizer`] met, each with its terms, as lines of
/// the lower-case form and its terms (full, then parts), separated by tabs.
/// A form is noted once per thread's table of forms: a form met on two
/// threads, or again after a table started over, may be noted twice.
#[derive(Debug)]
pub struct FormLog {
    id: u32,
    lines: std::sync::Mutex<String>,
}

impl FormLog {
    pub fn new() -> FormLog {
        FormLog {
            id: LOG_IDS.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            lines: Default::default(),
        }
    }

    /// The lines noted since the last call, which the log forgets (the forms
    /// in them are not noted again).
    pub fn take(&self) -> String {
        std::mem::take(&mut *self.lines.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

impl Default for FormLog {
    fn default() -> Self {
        FormLog::new()
    }
}

/// [`NorwegianTokenizer`] that notes every word form it meets for the first
/// time in its [`FormLog`]. Its tokens are the Norwegian tokenizer's.
#[derive(Clone, Debug)]
pub struct LoggingTokenizer {
    pub log: Arc<FormLog>,
}

impl Tokenizer for LoggingTokenizer {
    type TokenStream<'a> = NorwegianStream<'a>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> NorwegianStream<'a> {
        norwegian_stream(text, Some(&self.log))
    }
}

/// Lower-cased word forms, one term per position.
#[derive(Clone, Default)]
pub struct ExactTokenizer;

/// Tokens of [`ExactTokenizer`]; one token buffer is reused.
pub struct ExactStream<'a> {
    text: &'a str,
    spans: Vec<(usize, usize)>,
    next_word: usize,
    token: Token,
}

impl TokenStream for ExactStream<'_> {
    fn advance(&mut self) -> bool {
        let Some(&(a, b)) = self.spans.get(self.next_word) else {
            return false;
        };
        let word = &self.text[a..b];
        let t = &mut self.token;
        t.offset_from = a;
        t.offset_to = b;
        t.position = self.next_word;
        t.text.clear();
        if word.is_ascii() && word.len() <= super::norwegian::MAX_TERM_CHARS {
            t.text.push_str(word);
            t.text.make_ascii_lowercase();
        } else {
            let lower = word.to_lowercase();
            match lower.char_indices().nth(super::norwegian::MAX_TERM_CHARS) {
                Some((cut, _)) => t.text.push_str(&lower[..cut]),
                None => t.text.push_str(&lower),
            }
        }
        self.next_word += 1;
        true
    }
    fn token(&self) -> &Token {
        &self.token
    }
    fn token_mut(&mut self) -> &mut Token {
        &mut self.token
    }
}

impl Tokenizer for ExactTokenizer {
    type TokenStream<'a> = ExactStream<'a>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> ExactStream<'a> {
        let mut spans = Vec::new();
        split_words(text, &mut spans);
        ExactStream {
            text,
            spans,
            next_word: 0,
            token: first_token(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn reference(text: &str) -> Vec<(usize, usize)> {
        text.unicode_word_indices()
            .map(|(s, w)| (s, s + w.len()))
            .collect()
    }

    fn fast(text: &str) -> Vec<(usize, usize)> {
        let mut v = Vec::new();
        split_words(text, &mut v);
        v
    }

    #[test]
    fn every_modelled_character_alone_and_between_letters_and_digits() {
        for c in (0u32..0x250)
            .chain(0x2000..0x2070)
            .chain(0x2150..0x2190)
            .filter_map(char::from_u32)
        {
            for text in [
                format!("{c}"),
                format!("a{c}b"),
                format!("1{c}2"),
                format!("a{c}1"),
                format!("1{c}a"),
                format!("_{c}_"),
                format!("{c}{c}a"),
                format!("ab{c}{c}cd"),
            ] {
                assert_eq!(
                    fast(&text),
                    reference(&text),
                    "{text:?} (U+{:04X})",
                    c as u32
                );
            }
        }
    }

    #[test]
    fn blocks_that_end_more_than_eight_words_give_them_all() {
        // The scanner writes a block's first eight words without counting
        // them: blocks of up to 16 one-letter words, some after a word that
        // goes on into the block, some with Latin-1 letters.
        for words in 1..=17 {
            for lead in ["", "ordet", "blåbærsyltetøy"] {
                for letter in ["a", "å", "9"] {
                    let mut text = lead.to_string();
                    for _ in 0..words {
                        text.push(' ');
                        text.push_str(letter);
                    }
                    text.push_str(" og så videre i teksten til slutt");
                    for cut in 0..text.len() {
                        if text.is_char_boundary(cut) {
                            let t = &text[cut..];
                            assert_eq!(fast(t), reference(t), "{t:?}");
                        }
                    }
                }
            }
        }
    }

    /// Every token of a stream: text, position and byte offsets.
    fn tokens(stream: &mut impl TokenStream) -> Vec<(String, usize, usize, usize)> {
        let mut out = Vec::new();
        while stream.advance() {
            let t = stream.token();
            out.push((t.text.clone(), t.position, t.offset_from, t.offset_to));
        }
        out
    }

    /// What the Norwegian stream must give for `text`: each word's own terms,
    /// then its parts' terms, at the word's position and offsets.
    fn expected_tokens(text: &str) -> Vec<(String, usize, usize, usize)> {
        let mut out = Vec::new();
        for (i, w) in words(text).enumerate() {
            let t = analyze_word(&w.lower);
            for term in t.full.iter().chain(&t.parts) {
                out.push((term.clone(), i, w.start, w.end));
            }
        }
        out
    }

    /// The logging tokenizer gives the Norwegian tokens, and notes each form
    /// in lower case with the terms of its analysis, once per log.
    #[test]
    fn a_logging_tokenizer_notes_each_new_form_once_with_its_terms() {
        let text = "Saken om barnehagen: saken var vanskelig, og «Barnehagen» fant ingen løsning.";
        let log = Arc::new(FormLog::new());
        let mut tok = LoggingTokenizer { log: log.clone() };
        assert_eq!(tokens(&mut tok.token_stream(text)), expected_tokens(text));
        let lines = log.take();
        let mut noted: Vec<&str> = lines.lines().collect();
        noted.sort_unstable();
        noted.dedup();
        let mut want: Vec<String> = words(text)
            .map(|w| {
                let t = analyze_word(&w.lower);
                let terms: Vec<&str> = t.full.iter().chain(&t.parts).map(String::as_str).collect();
                format!("{}\t{}", w.lower, terms.join("\t"))
            })
            .collect();
        want.sort_unstable();
        want.dedup();
        assert_eq!(noted, want);
        assert!(lines.starts_with("saken\tsak"), "{lines}");
        // Met again: nothing new for this log, everything for another.
        tokens(&mut tok.token_stream(text));
        assert_eq!(log.take(), "");
        let other = Arc::new(FormLog::new());
        tokens(&mut LoggingTokenizer { log: other.clone() }.token_stream(text));
        assert_eq!(other.take().lines().count(), lines.lines().count());
    }

    #[test]
    fn index_tokens_are_each_word_s_terms_at_its_position() {
        let long = format!("Før {} og {} etter", "a".repeat(40), "ø".repeat(60));
        let mut texts = crate::analysis::sample_texts();
        assert!(texts.len() >= 10, "{} texts", texts.len());
        texts.push(long);
        // Twice: the second time every form is in the thread's table.
        for _ in 0..2 {
            for text in &texts {
                let got = tokens(&mut NorwegianTokenizer.token_stream(text));
                assert_eq!(got, expected_tokens(text));
            }
        }
    }

    fn generation() -> u64 {
        FORMS.with(|t| t.with_borrow(|f| f.generation))
    }

    #[test]
    fn a_stream_reads_on_when_its_thread_s_table_starts_over_beneath_it() {
        let texts = crate::analysis::sample_texts();
        let (first, second) = (&texts[0], &texts[1]);
        let want = expected_tokens(first);
        // Stop inside a word's terms: after the first of a word that has several.
        let stop = (0..want.len() - 1)
            .find(|&k| want[k].1 == want[k + 1].1)
            .expect("a word with several terms")
            + 1;
        let mut tokenizer = NorwegianTokenizer;
        let mut stream = tokenizer.token_stream(first);
        let mut got = Vec::new();
        for _ in 0..stop {
            assert!(stream.advance());
            let t = stream.token();
            got.push((t.text.clone(), t.position, t.offset_from, t.offset_to));
        }
        let before = generation();
        // Another stream meets too many new forms for the table: it starts over.
        FORMS.with(|t| {
            t.with_borrow_mut(|f| {
                f.forms.pretend_len(FORMS_LIMIT);
            })
        });
        let other = tokens(&mut NorwegianTokenizer.token_stream(second));
        assert_eq!(other, expected_tokens(second));
        assert_ne!(generation(), before, "the table started over");
        got.extend(tokens(&mut stream));
        assert_eq!(got, want);
    }

    #[test]
    fn a_thread_s_table_goes_to_the_next_thread_fullest_first() {
        let pool = FormsPool(std::sync::Mutex::new(Vec::new()));
        let table = |text: &str| {
            let mut f = FormTerms::new();
            let mut spans = Vec::new();
            split_words(text, &mut spans);
            f.look_up(text, &spans, &mut Vec::new());
            f
        };
        pool.give(FormTerms::new());
        assert!(pool.take().is_none(), "an empty table is not kept");
        let small = table("en liten tekst");
        let (small_forms, small_generation) = (small.forms(), small.generation);
        pool.give(small);
        let big = table("Barnehagen og barnevernstenesta i kommunen samarbeider om ungdommene");
        let (big_forms, big_generation) = (big.forms(), big.generation);
        assert!(big_forms > small_forms);
        pool.give(big);
        for _ in 0..FORMS_KEPT {
            pool.give(table("ei"));
        }
        assert_eq!(pool.0.lock().unwrap().len(), FORMS_KEPT);
        let first = pool.take().unwrap();
        assert_eq!(
            (first.forms(), first.generation),
            (big_forms, big_generation)
        );
        let second = pool.take().unwrap();
        assert_eq!(
            (second.forms(), second.generation),
            (small_forms, small_generation)
        );
        // Every table has a generation of its own, whatever thread made it.
        let elsewhere = std::thread::spawn(|| FormTerms::new().generation)
            .join()
            .unwrap();
        assert!(![big_generation, small_generation].contains(&elsewhere));
        assert_eq!(FORMS_KEPT, crate::index::MAX_INDEXING_THREADS);
    }

    #[test]
    fn a_word_analysed_on_one_thread_is_shared_with_threads_started_later() {
        let on_new_thread = |form: &'static str| {
            std::thread::spawn(move || NorwegianTokenizer.terms_of_form(form))
                .join()
                .unwrap()
        };
        let first = on_new_thread("Barnevernstenesta");
        let again = on_new_thread("barnevernstenesta");
        assert!(Arc::ptr_eq(&first, &again), "analysed once");
        assert_eq!(*first, analyze_word("barnevernstenesta"));
    }

    #[test]
    fn norwegian_sentences() {
        for text in [
            "«Ungdommene» sa: «vi må samarbeide» – og kl. 10.30 var 3,5 mill. kr brukt.",
            "NAV-kontoret og barnevernstenesta (BUP) i 2022/23; e.post: a.b@c.no",
            "I: Kva tenkjer du om det?\nInformant: Eg veit'kje … ’kanskje’.",
        ] {
            assert_eq!(fast(text), reference(text));
        }
    }

    #[test]
    fn block_classes_are_the_same_a_byte_at_a_time() {
        let mut texts: Vec<String> = Vec::new();
        for c in (0u32..0x250)
            .chain(0x2000..0x2070)
            .filter_map(char::from_u32)
        {
            for at in 0..16 {
                let mut t = "abcdefgh. ij0,1 23«456»789".to_string();
                let cut = t.char_indices().nth(at).map_or(t.len(), |(i, _)| i);
                t.insert(cut, c);
                texts.push(t);
            }
        }
        for t in &texts {
            let b = t.as_bytes();
            for i in (0..b.len().saturating_sub(15)).filter(|&i| t.is_char_boundary(i)) {
                let block = &b[i..i + 16];
                for carry in [false, true] {
                    assert_eq!(
                        block::letters(block, carry),
                        block::portable(block, carry),
                        "{t:?} at {i}, {carry}"
                    );
                }
            }
        }
    }

    #[test]
    fn the_sample_corpus_splits_as_unicode_segmentation_at_every_offset() {
        let mut dirs = vec![std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus-sample")];
        let mut seen = 0;
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                    continue;
                }
                let Ok(text) = std::fs::read_to_string(&path) else {
                    continue;
                };
                // Every alignment of the 16-byte blocks, through the whole text.
                for skip in 0..16 {
                    let Some(t) = text.get(skip..) else { continue };
                    assert_eq!(fast(t), reference(t), "{} from byte {skip}", path.display());
                }
                seen += 1;
            }
        }
        assert!(seen >= 10, "{seen} texts");
    }

    proptest! {
        #[test]
        fn long_texts_split_as_unicode_segmentation(
            parts in proptest::collection::vec(proptest::sample::select(vec![
                "a", "Z", "æ", "Ø", "å", "é", "1", "42", "_", ".", ",", ":", ";", "'", "\u{2019}",
                " ", " ", " ", "\n", "-", "«", "»", "×", "÷", "ß", "🙂", "\u{301}", "\"",
                "hei", "barnehage", "tenesta", "3", "kl", "sammen", "mål", "Bø",
            ]), 0..120)
        ) {
            let text: String = parts.concat();
            prop_assert_eq!(fast(&text), reference(&text), "{:?}", text);
        }

        #[test]
        fn fast_splitter_agrees_with_unicode_segmentation(
            parts in proptest::collection::vec(proptest::sample::select(vec![
                "a", "Z", "æ", "Ø", "å", "é", "ü", "1", "42", "_", ".", ",", ":", ";", "'",
                "\u{2019}", "\u{2018}", " ", "  ", "\n", "-", "«", "»", "\u{a0}", "\u{ad}",
                "ª", "²", "×", "日本", "\u{301}", "🙂", "\u{2024}", "\u{2027}", "\u{202f}",
                "\u{200d}", "ß", "Ǆ", "½", "⅓", "²", "\u{2009}", "\"", "…", "–", "\t", "\r\n", "ĸ", "\u{b7}",
            ]), 0..24)
        ) {
            let text: String = parts.concat();
            prop_assert_eq!(fast(&text), reference(&text), "{:?}", text);
        }
    }
}
