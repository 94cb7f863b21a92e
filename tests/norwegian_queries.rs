//! The Norwegian development query set (tests/data/norwegian-queries.toml): for
//! each query, the word forms from corpus-sample/ and the seeds that must and must
//! not match. Prints recall and precision per query and the means, for our
//! analyzer and for plain Snowball stemming, and asserts our figures.

use innsikt::analysis::{analyze_word, snowball_stem};
use std::collections::BTreeMap;

#[derive(serde::Deserialize)]
struct QuerySet {
    query: Vec<Query>,
}

#[derive(serde::Deserialize)]
struct Query {
    query: String,
    must_match: Vec<String>,
    #[serde(default)]
    must_not_match: Vec<String>,
}

fn ours(q: &str, w: &str) -> bool {
    let qt = analyze_word(q).full;
    let wt = analyze_word(w);
    wt.full
        .iter()
        .chain(wt.parts.iter())
        .any(|t| qt.contains(t))
}

fn snowball(q: &str, w: &str) -> bool {
    snowball_stem(q) == snowball_stem(w)
}

/// (recall, precision) of `matcher` on one query.
fn score(q: &Query, matcher: fn(&str, &str) -> bool) -> (f64, f64) {
    let tp = q.must_match.iter().filter(|w| matcher(&q.query, w)).count() as f64;
    let fp = q
        .must_not_match
        .iter()
        .filter(|w| matcher(&q.query, w))
        .count() as f64;
    let recall = tp / q.must_match.len() as f64;
    let precision = if tp + fp == 0.0 { 1.0 } else { tp / (tp + fp) };
    (recall, precision)
}

#[test]
fn norwegian_query_set() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/norwegian-queries.toml"
    );
    let set: QuerySet = toml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert!(set.query.len() >= 30);
    let mut sums: BTreeMap<&str, (f64, f64)> = BTreeMap::new();
    let mut weak = Vec::new();
    println!(
        "{:<22} {:>6} {:>6}   {:>6} {:>6}",
        "query", "R", "P", "R(sb)", "P(sb)"
    );
    for q in &set.query {
        let (r, p) = score(q, ours);
        let (rs, ps) = score(q, snowball);
        println!("{:<22} {r:>6.2} {p:>6.2}   {rs:>6.2} {ps:>6.2}", q.query);
        for (name, (a, b)) in [("innsikt", (r, p)), ("snowball", (rs, ps))] {
            let e = sums.entry(name).or_default();
            e.0 += a;
            e.1 += b;
        }
        if r < 0.5 || p < 0.5 {
            let missed: Vec<_> = q.must_match.iter().filter(|w| !ours(&q.query, w)).collect();
            let wrong: Vec<_> = q
                .must_not_match
                .iter()
                .filter(|w| ours(&q.query, w))
                .collect();
            weak.push(format!(
                "{}: recall {r:.2} precision {p:.2}; missed {missed:?}; wrongly matched {wrong:?}",
                q.query
            ));
        }
    }
    let n = set.query.len() as f64;
    let (r, p) = (sums["innsikt"].0 / n, sums["innsikt"].1 / n);
    let (rs, ps) = (sums["snowball"].0 / n, sums["snowball"].1 / n);
    println!("\nmean over {} queries: innsikt recall {r:.3} precision {p:.3}; snowball recall {rs:.3} precision {ps:.3}", set.query.len());
    assert!(
        weak.is_empty(),
        "queries below 0.5 recall or precision:\n{}",
        weak.join("\n")
    );
    assert!(r >= 0.85, "mean recall {r:.3}");
    assert!(p >= 0.90, "mean precision {p:.3}");
    assert!(r > rs, "the analyzer must beat plain Snowball on recall");
}
