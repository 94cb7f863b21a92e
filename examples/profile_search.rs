//! Times a mix of searches on an existing archive, warm, as the benchmark's
//! query mix does: `cargo run --release --example profile_search -- <archive>
//! [reps] [limit]`. Prints per query the hit count, its first search in the
//! process and the least, median and worst of the repetitions after it; then, with
//! `KWIC=1`, the benchmark's KWIC queries (every line, width 40), timed alike.
//! `QUERY=<query>` times that query alone instead of the mix; `INTERLEAVE=1` also
//! times the mix in rounds of every query once, as the benchmark runs it.
use std::time::Instant;

const QUERIES: &[&str] = &[
    "regjeringen",
    "barnehage",
    "sykehus",
    "arbeidsledighet",
    "\"psykisk helse\"",
    "\"offentlig sektor\"",
    "skole AND lærer",
    "barnehage OR skole",
    "politiet AND NOT fengsel",
    "(klima OR miljø) AND olje",
    "klima NEAR/5 utslipp",
    "sykehus NEAR/5 ventetid",
    "helse AND municipality:Hamar",
    "skole AND document_type:møtereferat",
    "regjeringen AND date:[2021-01-01 TO 2021-06-30]",
    "forskning AND municipality:Elverum AND date:[2022-01-01 TO 2022-12-31]",
];

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let archive = args.get(1).expect("an archive folder");
    let reps: usize = args.get(2).map_or(10, |s| s.parse().unwrap());
    let limit: usize = args.get(3).map_or(20, |s| s.parse().unwrap());
    let p = innsikt::project::Project::open(archive).unwrap();
    let mut all = Vec::new();
    let mut firsts = Vec::new();
    let only = std::env::var("QUERY").ok();
    let queries: Vec<&str> = match &only {
        Some(q) => vec![q.as_str()],
        None => QUERIES.to_vec(),
    };
    for q in queries {
        let mut ms = Vec::new();
        let mut total = 0;
        let mut first = 0.0;
        for rep in 0..=reps {
            let t = Instant::now();
            let r = p.search(q, Some(limit)).unwrap();
            let dt = t.elapsed().as_secs_f64() * 1000.0;
            total = r.total;
            if rep > 0 {
                ms.push(dt);
            } else {
                first = dt;
            }
        }
        ms.sort_by(f64::total_cmp);
        println!(
            "{q:<75} {total:>8} hits  first {first:>7.2} ms  min {:>7.2} ms  p50 {:>7.2} ms  max {:>7.2} ms",
            ms[0],
            ms[ms.len() / 2],
            ms[ms.len() - 1]
        );
        all.extend(ms);
        firsts.push(first);
    }
    if std::env::var("INTERLEAVE").is_ok_and(|v| v == "1") {
        // The mix as the benchmark runs it: every query once per round, so that
        // each search finds the caches as the other queries left them.
        let mut ms = Vec::new();
        for round in 0..=reps {
            for q in QUERIES {
                let t = Instant::now();
                p.search(q, Some(limit)).unwrap();
                if round > 0 {
                    ms.push(t.elapsed().as_secs_f64() * 1000.0);
                }
            }
        }
        println!("interleaved {}", percentiles(ms));
    }
    if std::env::var("KWIC").is_ok_and(|v| v == "1") {
        for q in ["barnehage", "ventetid", "\"psykisk helse\""] {
            let mut ms = Vec::new();
            let mut lines = 0;
            for _ in 0..=reps.min(3) {
                let t = Instant::now();
                lines = p.kwic(q, 40, None).unwrap().num_rows();
                ms.push(t.elapsed().as_secs_f64() * 1000.0);
            }
            let first = ms.remove(0);
            ms.sort_by(f64::total_cmp);
            println!(
                "kwic {q:<70} {lines:>8} lines first {first:>7.2} ms  p50 {:>7.2} ms",
                ms[ms.len() / 2]
            );
        }
    }
    firsts.sort_by(f64::total_cmp);
    println!(
        "first searches: median {:.2} ms, worst {:.2} ms",
        firsts[firsts.len() / 2],
        firsts[firsts.len() - 1]
    );
    println!("overall {}", percentiles(all));
}

/// The p50, p95 and p99 of times in milliseconds, as one line.
fn percentiles(mut ms: Vec<f64>) -> String {
    ms.sort_by(f64::total_cmp);
    let pct = |p: f64| ms[((ms.len() as f64 - 1.0) * p).round() as usize];
    format!(
        "p50 {:.2} ms  p95 {:.2} ms  p99 {:.2} ms",
        pct(0.5),
        pct(0.95),
        pct(0.99)
    )
}
