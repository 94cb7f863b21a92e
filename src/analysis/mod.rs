//! Text analysis for search and coding: the Norwegian analyzer and the plain
//! analyzers beside it. Pure functions over text; no storage, no index state.

pub(crate) mod forms;
pub mod lexicon;
pub mod norwegian;
pub mod tokenizer;

pub use norwegian::{analyze_word, snowball_stem, WordTerms};
pub use tokenizer::{split_words, words, ExactTokenizer, NorwegianTokenizer, Word};
