//! Micro-benchmarks of the hot paths of coding and indexing: word splitting, the
//! Norwegian analyzer (warm, as the index's token stream runs it, and cold, each
//! distinct form once), and the codebook matcher with 111 rules (the PD codebook).
//! Run with `cargo bench --bench analysis`; the texts are the sample corpus's.
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use innsikt::analysis::{split_words, NorwegianTokenizer};
use innsikt::codebook::{Codebook, Context, Matcher};
use std::path::{Path, PathBuf};
use tantivy::tokenizer::{TokenStream, Tokenizer};

/// The passage texts of the sample corpus's documents: the files of its
/// interview, note and minutes folders, in path order.
fn sample_texts() -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus-sample");
    let mut files: Vec<PathBuf> = ["intervjuer", "notater", "referater"]
        .iter()
        .flat_map(|d| std::fs::read_dir(root.join(d)).unwrap())
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    let mut texts = Vec::new();
    for f in files {
        if let Some(format) = innsikt::formats::Format::from_path(&f) {
            let d = innsikt::formats::parse(format, &std::fs::read(&f).unwrap())
                .unwrap_or_else(|e| panic!("{}: {e}", f.display()));
            texts.extend(d.passages.iter().map(|p| d.passage_text(p)));
        }
    }
    assert!(
        texts.iter().map(String::len).sum::<usize>() > 100_000,
        "the sample corpus's documents were not found"
    );
    texts
}

fn benches(c: &mut Criterion) {
    let texts = sample_texts();
    let bytes: u64 = texts.iter().map(|t| t.len() as u64).sum();
    let mut g = c.benchmark_group("sample");
    g.throughput(Throughput::Bytes(bytes));
    g.sample_size(20);

    g.bench_function("split_words", |b| {
        let mut spans = Vec::new();
        b.iter(|| {
            let mut n = 0;
            for t in &texts {
                split_words(t, &mut spans);
                n += spans.len();
            }
            n
        })
    });

    // Every term the index gets from the texts, with every word form met before.
    g.bench_function("index_tokens_warm", |b| {
        let mut a = NorwegianTokenizer;
        b.iter(|| {
            let mut n = 0;
            for t in &texts {
                let mut stream = a.token_stream(t);
                while stream.advance() {
                    n += stream.token().text.len();
                }
            }
            n
        })
    });

    // What a first call pays for each word form it has not met: the analysis
    // itself, without the caches in front of it, and with the analyzer's memo of
    // compound splits emptied first (a first call starts with none).
    let mut forms: Vec<String> = texts
        .iter()
        .flat_map(|t| innsikt::analysis::words(t).map(|w| w.lower))
        .collect();
    forms.sort_unstable();
    forms.dedup();
    g.bench_function("analyze_distinct_forms_cold", |b| {
        b.iter(|| {
            innsikt::analysis::norwegian::forget_splits();
            forms
                .iter()
                .map(|f| innsikt::analysis::analyze_word(f).full.len())
                .sum::<usize>()
        })
    });

    let cb = Codebook::load(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus-sample/codebooks/pd.toml"),
    )
    .unwrap();
    let ctx = Context::new();
    g.bench_function("match_pd_codebook", |b| {
        let mut m = Matcher::new(&cb);
        b.iter(|| {
            let mut n = 0;
            for t in &texts {
                n += m.apply(t, &ctx).len();
            }
            n
        })
    });
    g.finish();
}

criterion_group!(analysis, benches);
criterion_main!(analysis);
