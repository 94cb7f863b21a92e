//! Tokenizers that tantivy calls: [`NorwegianTokenizer`] (lemmas, nynorsk variants
//! and compound parts, several terms at one position) and [`ExactTokenizer`]
//! (lower-cased word forms, for prefix and exact-form search). Both split text
//! the same way, through [`words`], so positions agree between the two fields.

use super::norwegian::{analyze_word, WordTerms};
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;
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
    text.unicode_word_indices().map(|(start, w)| Word {
        start,
        end: start + w.len(),
        lower: w.to_lowercase(),
    })
}

const CACHE_LIMIT: usize = 200_000;

thread_local! {
    /// Analysed word forms, per thread: indexing and coding threads never contend
    /// on a lock, and every analyzer on a thread shares the work already done.
    static CACHE: RefCell<HashMap<String, Arc<WordTerms>>> = RefCell::new(HashMap::new());
}

/// The Norwegian analyzer as a tantivy tokenizer.
#[derive(Clone, Default)]
pub struct NorwegianTokenizer;

impl NorwegianTokenizer {
    pub fn terms(&mut self, lower: &str) -> Arc<WordTerms> {
        CACHE.with(|c| {
            if let Some(t) = c.borrow().get(lower) {
                return t.clone();
            }
            let t = Arc::new(analyze_word(lower));
            let mut c = c.borrow_mut();
            if c.len() >= CACHE_LIMIT {
                c.clear();
            }
            c.insert(lower.to_string(), t.clone());
            t
        })
    }
}

pub struct VecTokenStream {
    tokens: Vec<Token>,
    next: usize,
}

impl TokenStream for VecTokenStream {
    fn advance(&mut self) -> bool {
        self.next += 1;
        self.next <= self.tokens.len()
    }
    fn token(&self) -> &Token {
        &self.tokens[self.next - 1]
    }
    fn token_mut(&mut self) -> &mut Token {
        &mut self.tokens[self.next - 1]
    }
}

impl Tokenizer for NorwegianTokenizer {
    type TokenStream<'a> = VecTokenStream;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> VecTokenStream {
        let mut tokens = Vec::new();
        for (position, w) in words(text).enumerate() {
            let terms = self.terms(&w.lower);
            for t in terms.full.iter().chain(terms.parts.iter()) {
                tokens.push(Token {
                    offset_from: w.start,
                    offset_to: w.end,
                    position,
                    text: t.clone(),
                    position_length: 1,
                });
            }
        }
        VecTokenStream { tokens, next: 0 }
    }
}

/// Lower-cased word forms, one term per position.
#[derive(Clone, Default)]
pub struct ExactTokenizer;

impl Tokenizer for ExactTokenizer {
    type TokenStream<'a> = VecTokenStream;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> VecTokenStream {
        let tokens = words(text)
            .enumerate()
            .map(|(position, w)| Token {
                offset_from: w.start,
                offset_to: w.end,
                position,
                text: if w
                    .lower
                    .chars()
                    .nth(super::norwegian::MAX_TERM_CHARS)
                    .is_some()
                {
                    w.lower
                        .chars()
                        .take(super::norwegian::MAX_TERM_CHARS)
                        .collect()
                } else {
                    w.lower
                },
                position_length: 1,
            })
            .collect();
        VecTokenStream { tokens, next: 0 }
    }
}
