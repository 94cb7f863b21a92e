//! Text analysis for search and coding: the Norwegian analyzer and the plain
//! analyzers beside it. Pure functions over text; no storage, no index state.

pub(crate) mod forms;
pub mod lexicon;
pub mod norwegian;
pub mod tokenizer;

pub use norwegian::{analyze_word, snowball_stem, WordTerms};

/// The version of the terms the analyzers give a word, raised whenever any
/// word's terms change. An index records the version that made it; one made by
/// another is rebuilt from the store, since a query analysed now would miss the
/// terms it holds. Version 2 stopped splitting known words into parts that are
/// not words of their own (*demokrati* into *demo* + *krat*); version 3 reads
/// nynorsk present participles and superlatives (*eksisterande*, *viktigast*);
/// version 4 splits the first of a word's lemmas that splits, not only its
/// first lemma (*fremskrittspartiet* as *fremskrittsparti*) and never into a
/// part with no forms but itself, mostly a name (*tran* + *sport*); version 5
/// takes only a noun as a known noun's last part (*kompetanse* is not *komp* +
/// the verb *anse*); version 6 splits a known word only into nouns common in
/// running text (*mennesker* is not *menn* + *esker*, nor *presidenten* *pre* +
/// *identen*) and never splits a function word the lexicon lacks (*mellom*);
/// version 7 folds a verb into a noun only where it is the noun's action
/// (*samarbeide* into *samarbeid*, not *være* into *vær* nor *finne* into
/// *finn*), and gives a common noun the definite forms the lexicon gave only to
/// a homograph in *-e* (*saken* is *sak*, not only *sake*).
pub const ANALYSIS_VERSION: u32 = 7;
pub use tokenizer::{
    split_words, words, ExactTokenizer, FormLog, LoggingTokenizer, NorwegianTokenizer, Word,
};

/// Every text file of the sample corpus, read whole (for tests that run on it).
#[cfg(test)]
pub(crate) fn sample_texts() -> Vec<String> {
    let mut dirs = vec![std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus-sample")];
    let mut texts = Vec::new();
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if let Ok(text) = std::fs::read_to_string(&path) {
                texts.push(text);
            }
        }
    }
    texts
}
