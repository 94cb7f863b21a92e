//! Micro-benchmarks of the hot paths of coding and indexing: word splitting, the
//! Norwegian analyzer (warm, as the index's token stream runs it, and cold, each
//! distinct form once), and the codebook matcher: with 111 rules (the PD
//! codebook), and with codebooks of 10 and 1,000 rules generated from the texts'
//! own words in the mix of the benchmark harness's books (`apply_table`'s path:
//! the matcher and the table of hits). Run with `cargo bench --bench analysis`;
//! the texts are the sample corpus's.
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use innsikt::analysis::{split_words, NorwegianTokenizer};
use innsikt::codebook::{Codebook, Context, Matcher, Matchers};
use std::collections::HashMap;
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

    // `apply_table` on one thread, warm: the matcher and the table of its hits.
    let ctxs = vec![Context::new(); texts.len()];
    for rules in [10, 1000] {
        let cb = generated_codebook(&texts, rules);
        assert_eq!(cb.rule_count(), rules);
        let hits = Matchers::new(&cb, 1).apply_all(&texts, &ctxs).len();
        eprintln!(
            "{rules} generated rules: {hits} hits in {} texts",
            texts.len()
        );
        g.bench_function(format!("apply_table_{rules}_rules"), |b| {
            let mut m = Matchers::new(&cb, 1);
            b.iter(|| {
                let hits = m.apply_all(&texts, &ctxs);
                innsikt::table::hits_table_on(&cb, &hits, 1).num_rows()
            })
        });
    }
    g.finish();
}

/// A codebook of `rules` rules over words of the texts, each ten in the order
/// the benchmark harness's books follow (`bench/corpora.py`): five single words,
/// two phrases of adjacent words, one NEAR/5 of two words seen within five words
/// of each other, one AND NOT and one OR of three words. The words are of five
/// letters or more and occur at most 50 times in these 431 KB (the harness takes
/// words met 30 to 3,000 times in 25 MB), drawn in a fixed pseudo-random order,
/// so every run gets the same book; the first k rules of a larger book are the
/// k-rule book. A list that runs out starts again.
fn generated_codebook(texts: &[String], rules: usize) -> Codebook {
    let (mut words, mut pairs, mut near) = (HashMap::new(), HashMap::new(), HashMap::new());
    for t in texts {
        let ws: Vec<String> = innsikt::analysis::words(t).map(|w| w.lower).collect();
        let content = |w: &str| w.chars().count() >= 5 && w.chars().all(char::is_alphabetic);
        for (i, w) in ws.iter().enumerate() {
            *words.entry(w.clone()).or_insert(0u32) += 1;
            if !content(w) {
                continue;
            }
            if let Some(next) = ws.get(i + 1).filter(|n| content(n)) {
                *pairs.entry((w.clone(), next.clone())).or_insert(0u32) += 1;
            }
            for other in ws
                .iter()
                .skip(i + 2)
                .take(4)
                .filter(|o| content(o) && *o != w)
            {
                *near.entry((w.clone(), other.clone())).or_insert(0u32) += 1;
            }
        }
    }
    // A fixed xorshift order over the sorted candidates.
    fn shuffled<T: Ord + Clone>(mut v: Vec<T>) -> Vec<T> {
        v.sort();
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for i in (1..v.len()).rev() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            v.swap(i, (x % (i as u64 + 1)) as usize);
        }
        v
    }
    let terms = shuffled(
        words
            .iter()
            .filter(|(w, &c)| (1..=50).contains(&c) && w.chars().count() >= 5)
            .filter(|(w, _)| w.chars().all(char::is_alphabetic) && w.as_str() != "near")
            .map(|(w, _)| w.clone())
            .collect(),
    );
    let frequent = |m: HashMap<(String, String), u32>| {
        shuffled(
            m.into_iter()
                .filter(|&(_, c)| c >= 2)
                .map(|(p, _)| p)
                .collect(),
        )
    };
    let (pairs, near) = (frequent(pairs), frequent(near));
    let mut next_term = terms.iter().cycle();
    let mut term = || {
        next_term
            .next()
            .expect("some word of middle frequency")
            .clone()
    };
    let (mut next_pair, mut next_near) = (pairs.iter().cycle(), near.iter().cycle());
    let mut src = String::from(
        "format = 1\n[codebook]\nid = \"generated\"\nname = \"Generated\"\nversion = \"1\"\n",
    );
    for i in 0..rules {
        let query = match i % 10 {
            1 | 7 => {
                let (a, b) = next_pair.next().expect("some adjacent pair");
                format!("\"{a} {b}\"")
            }
            3 => {
                let (a, b) = next_near.next().expect("some near pair");
                format!("{a} NEAR/5 {b}")
            }
            5 => format!("{} AND NOT {}", term(), term()),
            9 => format!("{} OR {} OR {}", term(), term(), term()),
            _ => term(),
        };
        src.push_str(&format!(
            "[[code]]\nid = \"c{i:04}\"\nname = \"rule {i}\"\n[[code.rule]]\nid = \"r1\"\nquery = '{query}'\n"
        ));
    }
    Codebook::parse(&src, false, None).unwrap_or_else(|e| panic!("generated codebook: {e}"))
}

criterion_group!(analysis, benches);
criterion_main!(analysis);
