//! The embedded lexicons: Norsk Ordbank bokmål full forms (compiled into an FST by
//! `build.rs`) and our nynorsk→bokmål variant table (`data/lexicon/nn-variants.tsv`).
//!
//! Pure lookups over static data; knows nothing of tokens, indexes or archives.

use rustc_hash::{FxHashMap, FxHashSet};
use std::sync::OnceLock;

pub const POS_NOUN: u8 = 1;
pub const POS_VERB: u8 = 2;
pub const POS_ADJ: u8 = 4;
pub const POS_ADV: u8 = 8;

static FORMS: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/forms.fst"));
static LEMMAS: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/lemmas.bin"));
static LEMMA_OFFSETS: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/lemma_offsets.bin"));
static LEMMA_POS: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/lemma_pos.bin"));
static NN_VARIANTS: &str = include_str!("../../data/lexicon/nn-variants.tsv");
static NB_SUPPLEMENT: &str = include_str!("../../data/lexicon/nb-supplement.tsv");

/// A lemma found for a word form: its text and part-of-speech flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lemma {
    pub text: &'static str,
    pub pos: u8,
}

pub struct Lexicon {
    forms: fst::Map<&'static [u8]>,
    /// The lemma blob, checked to be UTF-8 once.
    lemmas: &'static str,
    nn: FxHashMap<&'static str, Vec<&'static str>>,
    nn_lemmas: FxHashSet<&'static str>,
}

impl Lexicon {
    /// The process-wide lexicon, built on first use (the FST is not copied).
    pub fn get() -> &'static Lexicon {
        static LEX: OnceLock<Lexicon> = OnceLock::new();
        LEX.get_or_init(|| {
            let forms = fst::Map::new(FORMS).expect("embedded lexicon FST is valid");
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
            Lexicon {
                forms,
                // The blob was written from valid UTF-8 strings by build.rs.
                lemmas: std::str::from_utf8(LEMMAS).expect("lemma blob is utf-8"),
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
        let packed = self.forms.get(form.as_bytes()).unwrap_or(0);
        (0..3)
            .map(move |k| (packed >> (21 * k)) & 0x1f_ffff)
            .filter(|v| *v != 0)
            .map(move |v| self.lemma(v - 1))
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
        let mut found = None;
        let mut pos = 0;
        for l in self.bokmal(word) {
            if l.text == word {
                found = Some(l.text);
                pos |= l.pos;
            }
        }
        match found {
            // A lemma without part-of-speech flags counts as none (the nynorsk
            // table is asked next).
            Some(text) if pos != 0 => Some((text, pos)),
            _ => self.nn_lemmas.get(word).map(|&text| (text, POS_NOUN)),
        }
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
        assert_eq!(lex.lemma_pos("barnevern"), Some(POS_NOUN));
        assert_eq!(lex.bokmal("xyzzyq").count(), 0);
    }
}
