//! Times reading every coding of an archive into an Arrow table:
//! `cargo run --release --example profile_codings -- <archive> [reps]`.
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let archive = args.get(1).expect("an archive folder");
    let reps: usize = args.get(2).map_or(3, |s| s.parse().unwrap());
    let p = innsikt::project::Project::open(archive).unwrap();
    for _ in 0..reps {
        let t = Instant::now();
        let b = p.codings(None).unwrap();
        let s = t.elapsed().as_secs_f64();
        println!(
            "{} codings, {} columns in {s:.3} s ({:.3} s per million)",
            b.num_rows(),
            b.num_columns(),
            s * 1e6 / b.num_rows().max(1) as f64
        );
    }
}
