//! Times `Codebook::apply` over the sample's passages: `cargo run --release --example profile_apply`.
use innsikt::analysis::NorwegianTokenizer;
use innsikt::codebook::{Codebook, Context};
fn main() {
    let cb = Codebook::load(std::path::Path::new("corpus-sample/codebooks/pd.toml")).unwrap();
    let mut texts = Vec::new();
    for e in walk("corpus-sample") {
        if let Some(f) = innsikt::formats::Format::from_path(&e) {
            if let Ok(d) = innsikt::formats::parse(f, &std::fs::read(&e).unwrap()) {
                for p in &d.passages {
                    texts.push(d.passage_text(p));
                }
            }
        }
    }
    let bytes: usize = texts.iter().map(|t| t.len()).sum();
    let ctx = Context::new();
    let mut a = NorwegianTokenizer;
    for round in 0..3 {
        let t = std::time::Instant::now();
        let mut hits = 0;
        for x in &texts {
            hits += cb.apply(x, &ctx, &mut a).len();
        }
        let s = t.elapsed().as_secs_f64();
        println!(
            "round {round}: {} passages, {:.2} MB in {:.3}s = {:.1} MB/s ({hits} hits)",
            texts.len(),
            bytes as f64 / 1e6,
            s,
            bytes as f64 / 1e6 / s
        );
    }
    let t = std::time::Instant::now();
    let mut n = 0;
    for x in &texts {
        for w in innsikt::analysis::words(x) {
            n += a.terms(&w.lower).full.len();
        }
    }
    println!(
        "analysis alone (warm): {:.3}s ({n})",
        t.elapsed().as_secs_f64()
    );
}
fn walk(d: &str) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(d).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(p.to_str().unwrap()));
        } else {
            out.push(p);
        }
    }
    out
}
