//! Times the Norwegian analysis of every distinct word form in a folder's passages,
//! each form once, as a first `apply_table` call or a fresh ingest meets them:
//! `cargo run --release --example profile_analysis -- <folder> [dump.tsv]`.
//! With a second argument, writes each form, how often it occurs, and its full
//! terms and part terms there (tab-separated, sorted by form), to compare the
//! output of two builds and count the terms a word of the text gets.
use std::io::Write;
use std::time::Instant;

mod common;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let dir = args.get(1).map(String::as_str).unwrap_or("corpus-sample");
    let mut counts = std::collections::BTreeMap::<String, u64>::new();
    for t in common::passage_texts(dir) {
        for w in innsikt::analysis::words(&t) {
            *counts.entry(w.lower).or_default() += 1;
        }
    }
    let forms: Vec<String> = counts.keys().cloned().collect();
    // Warm the lexicon so that only the analysis is timed.
    innsikt::analysis::analyze_word("kommunen");
    // ROUNDS analyses of every form (default 1), for profiles.
    let rounds: usize = std::env::var("ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(1);
    let mut out = Vec::new();
    for _ in 0..rounds.max(1) {
        let t = Instant::now();
        out = forms
            .iter()
            .map(|f| innsikt::analysis::analyze_word(f))
            .collect();
        let s = t.elapsed().as_secs_f64();
        println!(
            "{} distinct forms analysed in {s:.3}s = {:.2} µs per form",
            forms.len(),
            s * 1e6 / forms.len() as f64
        );
    }
    if let Some(path) = args.get(2) {
        let mut w = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
        for (f, t) in forms.iter().zip(&out) {
            let n = counts[f];
            writeln!(w, "{f}\t{n}\t{}\t{}", t.full.join(" "), t.parts.join(" ")).unwrap();
        }
    }
}
