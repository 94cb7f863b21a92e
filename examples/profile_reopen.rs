//! Times what a fresh process pays before its first answer, once per run:
//! building the lexicon's tables (when asked to, first), opening the archive,
//! the first search, the same search again and a search for another word.
//! `cargo run --release --example profile_reopen -- <archive> [lexicon-first]`;
//! run it several times, as every run is one cold start.
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let archive = args.get(1).expect("an archive folder");
    let lexicon_first = args.get(2).is_some_and(|a| a == "lexicon-first");
    let ms = |t: Instant| t.elapsed().as_secs_f64() * 1e3;
    let t = Instant::now();
    if lexicon_first {
        innsikt::analysis::lexicon::Lexicon::get();
    }
    let lexicon = ms(t);
    let t = Instant::now();
    let p = innsikt::project::Project::open(archive).unwrap();
    let open = ms(t);
    let search = |q: &str| {
        let t = Instant::now();
        p.search(q, Some(20)).unwrap();
        ms(t)
    };
    let first = search("barnehage");
    let again = search("barnehage");
    let other = search("sykehus");
    println!(
        "lexicon {lexicon:.2} ms, open {open:.2} ms, first search {first:.2} ms, \
         again {again:.2} ms, another word {other:.2} ms"
    );
}
