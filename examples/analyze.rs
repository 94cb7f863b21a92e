//! Prints the Norwegian analyzer's terms for each word given: `cargo run --example analyze -- ord …`
fn main() {
    for a in std::env::args().skip(1) {
        for w in innsikt::analysis::words(&a) {
            let t = innsikt::analysis::analyze_word(&w.lower);
            let lemmas: Vec<_> = innsikt::analysis::lexicon::Lexicon::get()
                .bokmal(&w.lower)
                .map(|l| l.text)
                .collect();
            println!(
                "{:<24} full {:?} parts {:?} (ordbank {:?})",
                w.lower, t.full, t.parts, lemmas
            );
        }
    }
}
