//! Micro-benchmarks of the hot paths of coding and indexing: word splitting, the
//! Norwegian analyzer, and the codebook matcher with 111 rules (the PD codebook).
//! Run with `cargo bench --bench analysis`; the texts are the sample corpus's.
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use innsikt::analysis::{split_words, NorwegianTokenizer};
use innsikt::codebook::{Codebook, Context, Matcher};
use std::path::{Path, PathBuf};

fn sample_texts() -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus-sample");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    let mut texts = Vec::new();
    for f in files {
        if let Some(format) = innsikt::formats::Format::from_path(&f) {
            if let Ok(d) = innsikt::formats::parse(format, &std::fs::read(&f).unwrap()) {
                texts.extend(d.passages.iter().map(|p| d.passage_text(p)));
            }
        }
    }
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

    g.bench_function("analyze_words_warm", |b| {
        let mut spans = Vec::new();
        let mut a = NorwegianTokenizer;
        b.iter(|| {
            let mut n = 0;
            for t in &texts {
                split_words(t, &mut spans);
                for &(s, e) in &spans {
                    n += a.terms_of_form(&t[s..e]).full.len();
                }
            }
            n
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
