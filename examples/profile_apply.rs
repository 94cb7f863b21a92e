//! Times tokenizing, analysis, `Matchers::apply_all` and the hits' table over a folder's passages:
//! `cargo run --release --example profile_apply -- [folder] [codebook]`
//! (defaults: `corpus-sample`, `corpus-sample/codebooks/pd.toml`).
//! Environment: `APPLY_ONLY=1` skips the tokenizing and analysis timings,
//! `ROUNDS=n` sets the apply rounds (3), `THREADS=n` the matching and table threads
//! (1), `DUMP=file` writes the first round's
//! hits (text, code, rule, spans), one per line, to compare two builds.
use innsikt::analysis::NorwegianTokenizer;
use innsikt::codebook::{Codebook, Context, Matchers};
use std::time::Instant;

mod common;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let dir = args.get(1).map(String::as_str).unwrap_or("corpus-sample");
    let cb_path = args
        .get(2)
        .map(String::as_str)
        .unwrap_or("corpus-sample/codebooks/pd.toml");
    let cb = Codebook::load(std::path::Path::new(cb_path)).unwrap();
    let texts = common::passage_texts(dir);
    let bytes: usize = texts.iter().map(|t| t.len()).sum();
    let mb = bytes as f64 / 1e6;
    println!(
        "{} passages, {:.2} MB, {} rules",
        texts.len(),
        mb,
        cb.rule_count()
    );
    let apply_only = std::env::var("APPLY_ONLY").is_ok();
    let t = Instant::now();
    let mut n = 0;
    for x in texts.iter().filter(|_| !apply_only) {
        n += innsikt::analysis::words(x).count();
    }
    let s = t.elapsed().as_secs_f64();
    println!("words only: {s:.3}s = {:.1} MB/s ({n} words)", mb / s);
    let mut a = NorwegianTokenizer;
    for round in 0..2 {
        let t = Instant::now();
        let mut n = 0;
        for x in texts.iter().filter(|_| !apply_only) {
            for w in innsikt::analysis::words(x) {
                n += a.terms(&w.lower).full.len();
            }
        }
        let s = t.elapsed().as_secs_f64();
        println!("analysis round {round}: {s:.3}s = {:.1} MB/s ({n})", mb / s);
    }
    let ctxs = vec![Context::new(); texts.len()];
    let threads: usize = std::env::var("THREADS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(1);
    let mut m = Matchers::new(&cb, threads);
    let rounds: usize = std::env::var("ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(3);
    for round in 0..rounds {
        let t = Instant::now();
        let cpu = cpu_seconds();
        let all = m.apply_all(&texts, &ctxs);
        let s = t.elapsed().as_secs_f64();
        let c = cpu_seconds() - cpu;
        let hits = all.len();
        if let (0, Ok(path)) = (round, std::env::var("DUMP")) {
            // Every hit of the first round, for comparing two builds.
            use std::io::Write;
            let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
            for r in all.rows() {
                writeln!(f, "{}\t{}\t{}\t{:?}", r.text, r.code, r.rule, all.spans(r)).unwrap();
            }
        }
        let t = Instant::now();
        let rows = innsikt::table::hits_table_on(&cb, &all, threads).num_rows();
        let table = t.elapsed().as_secs_f64();
        assert_eq!(rows, hits);
        println!(
            "apply round {round}: {s:.3}s = {:.1} MB/s; on-cpu {c:.3}s = {:.1} MB/s ({hits} hits); \
             their table {table:.3}s",
            mb / s,
            mb / c
        );
    }
}

/// Time this thread has spent on a CPU (Linux), which other load on the machine
/// disturbs less than wall time.
fn cpu_seconds() -> f64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<f64>().ok())
        .map(|ns| ns / 1e9)
        .unwrap_or(0.0)
}
