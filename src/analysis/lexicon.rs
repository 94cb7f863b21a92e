//! The embedded lexicons: Norsk Ordbank bokmål full forms (compiled into an FST by
//! `build.rs`, with the nouns of `data/lexicon/nb-attested-nouns.txt` flagged), our
//! nynorsk→bokmål variant table (`data/lexicon/nn-variants.tsv`) and our list of
//! function words the Ordbank extract lacks (`data/lexicon/function-words.txt`).
//!
//! Pure lookups over static data; knows nothing of tokens, indexes or archives.

use rustc_hash::{FxHashMap, FxHashSet};
use std::sync::OnceLock;

pub const POS_NOUN: u8 = 1;
pub const POS_VERB: u8 = 2;
pub const POS_ADJ: u8 = 4;
pub const POS_ADV: u8 = 8;
/// Not a part of speech: the lemma has forms besides itself in Ordbank. Most
/// nouns without any are names (*Ove*, *Rhode*, *Sparti*).
pub const INFLECTED: u8 = 16;
/// Not a part of speech: a noun lemma common as a word of its own in running
/// text, its forms met at least 50 times in the corpus of
/// `data/lexicon/nb-attested-nouns.txt` (made by `tools/build_attested.py`).
/// Ordbank also holds many rare nouns (*eske*, *ident*, *lom*) that a known
/// word would otherwise be split into.
pub const ATTESTED: u8 = 32;
/// Not a part of speech: a noun that begins at least twenty lemmas of Ordbank
/// made of it and an [`ATTESTED`] noun (`build.rs`): a first part of compounds even
/// where it is rare on its own (*finans*-, *atom*-).
pub const PRODUCTIVE: u8 = 64;
/// Not a part of speech: like [`ATTESTED`] at 5 occurrences (every lemma the
/// list names): enough for the last part of a compound (*klubb*, *kafe*).
pub const COMMON: u8 = 128;

static FORMS: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/forms.fst"));
static LEMMAS: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/lemmas.bin"));
static LEMMA_OFFSETS: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/lemma_offsets.bin"));
static LEMMA_POS: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/lemma_pos.bin"));
static NN_VARIANTS: &str = include_str!("../../data/lexicon/nn-variants.tsv");
static NB_SUPPLEMENT: &str = include_str!("../../data/lexicon/nb-supplement.tsv");
static FUNCTION_WORDS: &str = include_str!("../../data/lexicon/function-words.txt");

/// A lemma found for a word form: its text and part-of-speech flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lemma {
    pub text: &'static str,
    pub pos: u8,
}

pub struct Lexicon {
    /// Leaked once per process, so that its nodes can be kept in `starts`.
    forms: &'static fst::Map<&'static [u8]>,
    /// Where every walk through `forms` stands after its first bytes.
    starts: Starts,
    /// The lemma blob, checked to be UTF-8 once.
    lemmas: &'static str,
    nn: FxHashMap<&'static str, Vec<&'static str>>,
    nn_lemmas: FxHashSet<&'static str>,
    /// Every prefix of a key of `nn` or a member of `nn_lemmas` (the empty one
    /// included): a string outside it starts no entry of either.
    nn_prefixes: FxHashSet<&'static str>,
    /// Function words the Ordbank extract lacks (`data/lexicon/function-words.txt`).
    function_words: FxHashSet<&'static str>,
}

/// What one walk of a string through the bokmål FST tells: how many of its
/// leading bytes some form starts with, and its value when it is a form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reach {
    /// The length of the longest prefix of the string that is a prefix of
    /// some bokmål form: no form starts with a longer prefix of it.
    pub len: usize,
    packed: u64,
}

impl Reach {
    /// Whether some bokmål form may begin with the first `n` bytes of the
    /// string walked (certainly none does when this is false).
    pub fn may_start(&self, n: usize) -> bool {
        n <= self.len
    }
}

/// The FST's nodes after every beginning of a form of up to three bytes, with
/// the output gathered on the way. The first steps of a walk are its dearest:
/// the root and the nodes after one and two letters have the most transitions
/// (28, 15 and 8 on average), which are searched one by one, and every step
/// decodes its node afresh. The analysis walks hundreds of thousands of
/// strings (every ending the compound splitter tries), so those steps become
/// array reads. The third byte is read through [`CLASS`] so that a row holds
/// 32 entries, not 256; a byte of class 0 is walked from the second node.
struct Starts {
    /// By first byte: its row in `second`, or `NONE` when no form starts so.
    first: [u32; 256],
    /// By second byte: the index in `two` of the node after both, or `NONE`.
    second: Vec<[u32; 256]>,
    /// The nodes after two bytes, each with its row by the third byte's
    /// class: the index in `three` of the node after three, or `NONE`.
    two: Vec<(Step, [u32; 32])>,
    three: Vec<Step>,
}

/// A node of the FST and the output gathered on the way to it.
type Step = (fst::raw::Node<'static>, fst::raw::Output);

const NONE: u32 = u32::MAX;

/// The third bytes [`Starts`] has rows for, numbered from 1: the letters a–z,
/// the hyphen, and the bytes of *æ*, *ø* and *å* in UTF-8 (0xC3 leads them
/// all, then 0xA6, 0xB8 and 0xA5). Every other byte is class 0.
static CLASS: [u8; 256] = {
    let mut class = [0u8; 256];
    let mut b = b'a';
    while b <= b'z' {
        class[b as usize] = b - b'a' + 1;
        b += 1;
    }
    class[b'-' as usize] = 27;
    class[0xC3] = 28;
    class[0xA6] = 29;
    class[0xB8] = 30;
    class[0xA5] = 31;
    class
};

impl Starts {
    fn new(fst: &'static fst::raw::Fst<&'static [u8]>) -> Starts {
        let mut starts = Starts {
            first: [NONE; 256],
            second: Vec::new(),
            two: Vec::new(),
            three: Vec::new(),
        };
        for t in fst.root().transitions() {
            let mut row = [NONE; 256];
            for u in fst.node(t.addr).transitions() {
                let node = fst.node(u.addr);
                let out = t.out.cat(u.out);
                let mut third = [NONE; 32];
                for v in node.transitions() {
                    let class = CLASS[v.inp as usize] as usize;
                    if class != 0 {
                        third[class] = starts.three.len() as u32;
                        starts.three.push((fst.node(v.addr), out.cat(v.out)));
                    }
                }
                row[u.inp as usize] = starts.two.len() as u32;
                starts.two.push(((node, out), third));
            }
            starts.first[t.inp as usize] = starts.second.len() as u32;
            starts.second.push(row);
        }
        starts
    }

    /// Where a walk of `s` stands after its first bytes: the node, the output
    /// and how many bytes it has read (two or three); or, when no form starts
    /// with them, `Err(Some(n))`: only the first `n` bytes begin one;
    /// `Err(None)` for a string shorter than two bytes.
    #[inline]
    fn start(&self, s: &[u8]) -> Result<(&Step, usize), Option<usize>> {
        let [a, b, ..] = *s else { return Err(None) };
        let row = self.first[a as usize];
        if row == NONE {
            return Err(Some(0));
        }
        let (step, third) = match self.second[row as usize][b as usize] {
            NONE => return Err(Some(1)),
            at => &self.two[at as usize],
        };
        match s.get(2).map(|&c| CLASS[c as usize]) {
            None | Some(0) => Ok((step, 2)),
            Some(class) => match third[class as usize] {
                NONE => Err(Some(2)),
                at => Ok((&self.three[at as usize], 3)),
            },
        }
    }
}

impl Lexicon {
    /// The process-wide lexicon, built on first use (the FST is not copied).
    pub fn get() -> &'static Lexicon {
        static LEX: OnceLock<Lexicon> = OnceLock::new();
        LEX.get_or_init(|| {
            let forms: &'static fst::Map<&'static [u8]> = Box::leak(Box::new(
                fst::Map::new(FORMS).expect("embedded lexicon FST is valid"),
            ));
            let starts = Starts::new(forms.as_fst());
            let mut nn: FxHashMap<&'static str, Vec<&'static str>> = FxHashMap::default();
            let mut nn_lemmas = FxHashSet::default();
            for line in NN_VARIANTS.lines().chain(NB_SUPPLEMENT.lines()) {
                let line = line.trim();
                if line.is_empty()
                    || line.starts_with('#')
                    || line.starts_with("nynorsk\t")
                    || line.starts_with("form\t")
                {
                    continue;
                }
                if let Some((nn_form, nb)) = line.split_once('\t') {
                    let (nn_form, nb) = (nn_form.trim(), nb.trim());
                    if nn_form.is_empty() || nb.is_empty() || nn_form == nb {
                        continue;
                    }
                    let entry = nn.entry(nn_form).or_default();
                    if !entry.contains(&nb) {
                        entry.push(nb);
                    }
                    nn_lemmas.insert(nb);
                }
            }
            // Every prefix of every word, longest first: once one is there, so
            // are all the shorter ones (another word put them there).
            let mut nn_prefixes = FxHashSet::with_capacity_and_hasher(
                4 * (nn.len() + nn_lemmas.len()),
                Default::default(),
            );
            for word in nn.keys().chain(nn_lemmas.iter()) {
                if !nn_prefixes.insert(*word) {
                    continue;
                }
                for (i, _) in word.char_indices().rev() {
                    if !nn_prefixes.insert(&word[..i]) {
                        break;
                    }
                }
            }
            let function_words = FUNCTION_WORDS
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .collect();
            Lexicon {
                forms,
                starts,
                nn_prefixes,
                function_words,
                // The blob was written from valid UTF-8 strings by build.rs; it
                // is checked once, on the first analysis of a process, with the
                // SIMD check (a fifth of the standard library's time for these
                // 1.5 MB).
                lemmas: simdutf8::basic::from_utf8(LEMMAS).expect("lemma blob is utf-8"),
                nn,
                nn_lemmas,
            }
        })
    }

    fn lemma(&self, id: u64) -> Lemma {
        let id = id as usize;
        let off = |i: usize| {
            u32::from_le_bytes(LEMMA_OFFSETS[i * 4..i * 4 + 4].try_into().unwrap()) as usize
        };
        let (a, b) = (off(id), off(id + 1));
        Lemma {
            text: &self.lemmas[a..b],
            pos: LEMMA_POS[id],
        }
    }

    /// Bokmål lemmas of a lower-case word form (at most three: the form itself
    /// when it is a lemma, then nouns, verbs and the rest).
    pub fn bokmal(&self, form: &str) -> impl Iterator<Item = Lemma> + '_ {
        self.lemmas_of(self.reach(form).packed)
    }

    /// [`Lexicon::bokmal`] of the string a [`Reach`] was taken of.
    pub fn bokmal_reached(&self, reach: Reach) -> impl Iterator<Item = Lemma> + '_ {
        self.lemmas_of(reach.packed)
    }

    fn lemmas_of(&self, packed: u64) -> impl Iterator<Item = Lemma> + '_ {
        (0..3)
            .map(move |k| (packed >> (21 * k)) & 0x1f_ffff)
            .filter(|v| *v != 0)
            .map(move |v| self.lemma(v - 1))
    }

    /// Walks `s` through the bokmål FST once: its value if it is a form, and
    /// how far some form shares its beginning. The compound splitter and the
    /// nynorsk rules try many strings that end differently after a common
    /// beginning; when no form starts with that beginning, none of them needs
    /// a lookup of its own.
    pub fn reach(&self, s: &str) -> Reach {
        let fst = self.forms.as_fst();
        let bytes = s.as_bytes();
        match self.starts.start(bytes) {
            Ok((&(node, out), read)) => self.walk(node, out, bytes, read),
            Err(Some(len)) => Reach { len, packed: 0 },
            Err(None) => self.walk(fst.root(), fst::raw::Output::zero(), bytes, 0),
        }
    }

    /// Walks `bytes[from..]` on from `node`, reached by `bytes[..from]` with
    /// `out` gathered: the [`Reach`] of `bytes`.
    #[inline]
    fn walk(
        &self,
        mut node: fst::raw::Node<'_>,
        mut out: fst::raw::Output,
        bytes: &[u8],
        from: usize,
    ) -> Reach {
        let fst = self.forms.as_fst();
        for (i, &b) in bytes.iter().enumerate().skip(from) {
            let Some(t) = node.find_input(b) else {
                return Reach { len: i, packed: 0 };
            };
            let t = node.transition(t);
            out = out.cat(t.out);
            node = fst.node(t.addr);
        }
        let packed = if node.is_final() {
            out.cat(node.final_output()).value()
        } else {
            0
        };
        Reach {
            len: bytes.len(),
            packed,
        }
    }

    /// Whether some key of the nynorsk variant table, or some lemma it gives,
    /// may begin with `s` (certainly none does when this is false).
    pub fn nynorsk_may_start(&self, s: &str) -> bool {
        self.nn_prefixes.contains(s)
    }

    /// The bokmål lemma(s) our variant table gives for a nynorsk form.
    pub fn nynorsk(&self, form: &str) -> &[&'static str] {
        self.nn.get(form).map(|v| v.as_slice()).unwrap_or(&[])
    }

    /// Whether `word` is itself a lemma (bokmål, or a target of the nynorsk table),
    /// and with which part-of-speech flags.
    pub fn lemma_pos(&self, word: &str) -> Option<u8> {
        self.lemma_entry(word).map(|(_, pos)| pos)
    }

    /// [`Lexicon::lemma_pos`] with the lemma's text as the lexicon keeps it (equal to
    /// `word`), so that callers can hold on to it without a copy.
    pub fn lemma_entry(&self, word: &str) -> Option<(&'static str, u8)> {
        self.lemma_entry_with(word, true, true)
    }

    /// [`Lexicon::lemma_entry`], told whether the bokmål FST and the nynorsk
    /// table can hold `word` at all (from a [`Reach`] and
    /// [`Lexicon::nynorsk_may_start`] of a prefix of it); what cannot is not
    /// looked up.
    pub fn lemma_entry_with(
        &self,
        word: &str,
        bokmal: bool,
        nynorsk: bool,
    ) -> Option<(&'static str, u8)> {
        let mut found = None;
        let mut pos = 0;
        let packed = if bokmal { self.reach(word).packed } else { 0 };
        for l in self.lemmas_of(packed) {
            if l.text == word {
                found = Some(l.text);
                pos |= l.pos;
            }
        }
        match found {
            // A lemma without part-of-speech flags counts as none (the nynorsk
            // table is asked next).
            Some(text) if pos != 0 => Some((text, pos)),
            _ if !nynorsk => None,
            _ => self.nn_lemmas.get(word).map(|&text| (text, POS_NOUN)),
        }
    }

    /// Whether `word` is a function word the Ordbank extract lacks (*mellom*,
    /// *innenfor*, *kvarandre*): never a compound.
    pub fn is_function_word(&self, word: &str) -> bool {
        self.function_words.contains(word)
    }

    /// Number of word forms in the bokmål lexicon.
    pub fn len(&self) -> usize {
        self.forms.len()
    }

    pub fn is_empty(&self) -> bool {
        self.forms.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordbank_forms_resolve_to_lemmas() {
        let lex = Lexicon::get();
        assert!(lex.len() > 500_000);
        let l: Vec<_> = lex.bokmal("ungdommene").map(|l| l.text).collect();
        assert_eq!(l, vec!["ungdom"]);
        let l: Vec<_> = lex.bokmal("tjenestene").map(|l| l.text).collect();
        assert_eq!(l, vec!["tjeneste"]);
        let kinds = POS_NOUN | INFLECTED;
        assert_eq!(lex.lemma_pos("barnevern").map(|p| p & kinds), Some(kinds));
        // A noun with no forms but itself: a name, mostly.
        assert_eq!(lex.lemma_pos("rhode"), Some(POS_NOUN));
        // Common on their own in running text, or not (*eske*, *ident*); or the
        // first part of many compounds though rare alone (*finans*).
        for (lemma, attested, productive) in [
            ("menneske", true, true),
            ("barn", true, true),
            ("eske", false, false),
            ("ident", false, false),
            ("finans", false, true),
        ] {
            let pos = lex.lemma_pos(lemma).unwrap();
            assert_eq!(pos & ATTESTED != 0, attested, "{lemma}");
            assert_eq!(pos & PRODUCTIVE != 0, productive, "{lemma}");
        }
        assert_eq!(lex.bokmal("xyzzyq").count(), 0);
    }

    /// Whether some bokmål form begins with `prefix`.
    fn fst_has_prefix(lex: &Lexicon, prefix: &str) -> bool {
        use fst::{IntoStreamer, Streamer};
        let mut s = lex.forms.range().ge(prefix).into_stream();
        s.next()
            .is_some_and(|(k, _)| k.starts_with(prefix.as_bytes()))
    }

    #[test]
    fn a_reach_is_exactly_how_far_some_form_shares_a_word_s_beginning() {
        let lex = Lexicon::get();
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/corpus-sample/intervjuer/barnevern-sorodal.txt"
        ))
        .expect("the sample interview is part of the repository");
        let mut words: Vec<String> = crate::analysis::words(&text).map(|w| w.lower).collect();
        words.extend(
            [
                "ungdommene",
                "tenestene",
                "barnevernstjenesten",
                "xyzzyq",
                "kommunane",
                "ø",
                "",
            ]
            .map(String::from),
        );
        for w in &words {
            let r = lex.reach(w);
            assert_eq!(r.packed, lex.forms.get(w.as_bytes()).unwrap_or(0), "{w}");
            assert!(r.len <= w.len());
            assert!(fst_has_prefix(lex, &w[..0]));
            for n in 0..=w.len() {
                let Some(p) = w.get(..n) else { continue };
                assert_eq!(r.may_start(n), fst_has_prefix(lex, p), "{w}: {p}");
                let nn = lex.nn.keys().chain(lex.nn_lemmas.iter());
                let starts = nn.clone().any(|k| k.starts_with(p));
                assert_eq!(lex.nynorsk_may_start(p), starts, "{w}: {p}");
            }
        }
    }

    /// [`Lexicon::reach`] as one plain walk from the FST's root.
    fn reach_from_the_root(lex: &Lexicon, s: &str) -> Reach {
        let fst = lex.forms.as_fst();
        lex.walk(fst.root(), fst::raw::Output::zero(), s.as_bytes(), 0)
    }

    #[test]
    fn a_reach_started_from_the_table_of_beginnings_is_the_walk_from_the_root() {
        let lex = Lexicon::get();
        // Every string of up to three of these characters (a letter, æøå, a
        // letter outside Norwegian, a hyphen, a digit, a byte of a character
        // that shares æøå's first byte), then each with a form's ending, so
        // that walks stop before, in and after the table's three bytes.
        let chars = [
            "a", "b", "e", "k", "n", "s", "t", "ø", "æ", "å", "é", "ü", "-", "1", "q", "z",
        ];
        let mut strings = vec![String::new()];
        for _ in 0..3 {
            let longer: Vec<String> = strings
                .iter()
                .flat_map(|s| chars.iter().map(move |c| format!("{s}{c}")))
                .collect();
            strings.extend(longer);
        }
        strings.sort();
        strings.dedup();
        let endings = ["", "ene", "ningen", "tjeneste"];
        let mut walked = 0;
        for s in &strings {
            for e in endings {
                let w = format!("{s}{e}");
                assert_eq!(lex.reach(&w), reach_from_the_root(lex, &w), "{w:?}");
                walked += 1;
            }
        }
        assert!(walked > 10_000);
        for w in ["barnehagen", "øvelse", "åpenhet", "ærlig", "kommunene", "x"] {
            assert_eq!(lex.reach(w), reach_from_the_root(lex, w), "{w}");
            assert!(lex.reach(w).packed != 0 || w == "x", "{w}");
        }
    }

    #[test]
    fn the_nynorsk_beginnings_are_every_prefix_of_every_word_of_the_table_and_no_more() {
        let lex = Lexicon::get();
        let mut all = FxHashSet::default();
        for w in lex.nn.keys().chain(lex.nn_lemmas.iter()) {
            for (i, _) in w.char_indices() {
                all.insert(&w[..i]);
            }
            all.insert(*w);
        }
        assert!(all.len() > 1000);
        assert_eq!(lex.nn_prefixes, all);
    }
}
