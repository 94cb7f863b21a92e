//! Times the Norwegian analysis of every distinct word form in a folder's passages,
//! each form once, as a first `apply_table` call or a fresh ingest meets them:
//! `cargo run --release --example profile_analysis -- <folder> [dump.tsv]`.
//! The forms are analysed in sorted order and then in the order the text first
//! has them (a first call's order, the compound-split memo emptied before), the
//! second split into short forms, forms no lexicon holds, and the others.
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
    let mut met = Vec::new();
    for t in common::passage_texts(dir) {
        for w in innsikt::analysis::words(&t) {
            let n = counts.entry(w.lower).or_insert_with_key(|f| {
                met.push(f.clone());
                0
            });
            *n += 1;
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
    in_text_order(&met);
    if let Some(path) = args.get(2) {
        let mut w = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
        for (f, t) in forms.iter().zip(&out) {
            let n = counts[f];
            writeln!(w, "{f}\t{n}\t{}\t{}", t.full.join(" "), t.parts.join(" ")).unwrap();
        }
    }
}

/// The forms analysed in the order the text first has them, with the memo of
/// compound splits emptied first: what a fresh process's first call pays. Then
/// the same by kind of form: short ones (never split), ones no lexicon holds
/// (split by trying every head against both lexicons and the nynorsk rules),
/// and the rest (split as their first lemma that splits, if a noun). The whole
/// set is also timed through the analyzer's shared cache.
fn in_text_order(met: &[String]) {
    use innsikt::analysis::norwegian::simple_lemmas;
    let all: Vec<&String> = met.iter().collect();
    cold("in the text's order, no splits remembered", &all);
    // The same through the analyzer's shared cache, as the matcher and the
    // index's token stream ask for a form they have not met.
    innsikt::analysis::norwegian::forget_splits();
    let t = Instant::now();
    let mut analyzer = innsikt::analysis::NorwegianTokenizer;
    let terms: usize = met.iter().map(|f| analyzer.terms(f).full.len()).sum();
    println!(
        "the same through the shared cache: {:.3}s ({terms} terms)",
        t.elapsed().as_secs_f64()
    );
    let (mut short, mut unknown, mut known) = (Vec::new(), Vec::new(), Vec::new());
    for f in met {
        if f.chars().count() < 6 {
            short.push(f);
        } else if simple_lemmas(f).is_empty() {
            unknown.push(f);
        } else {
            known.push(f);
        }
    }
    for (kind, forms) in [
        ("  short", short),
        ("  unknown", unknown),
        ("  known", known),
    ] {
        cold(kind, &forms);
    }
}

/// Analyses `forms` in turn with the memo of compound splits emptied first, and
/// prints the time per form and the terms made.
fn cold(label: &str, forms: &[&String]) {
    use innsikt::analysis::norwegian::{analyze_word, forget_splits};
    forget_splits();
    let t = Instant::now();
    let (mut full, mut parts) = (0, 0);
    for f in forms {
        let terms = analyze_word(f);
        full += terms.full.len();
        parts += terms.parts.len();
    }
    let s = t.elapsed().as_secs_f64();
    println!(
        "{label}: {} forms in {s:.3}s = {:.2} µs per form ({full} terms, {parts} part terms)",
        forms.len(),
        s * 1e6 / forms.len().max(1) as f64
    );
}
