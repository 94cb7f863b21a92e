//! Times ingesting a folder into a new archive:
//! `cargo run --release --example profile_ingest -- <folder> [archive]`.
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let dir = args.get(1).expect("a folder to ingest");
    let archive = args.get(2).cloned().unwrap_or_else(|| {
        std::env::temp_dir()
            .join("innsikt-profile-ingest")
            .display()
            .to_string()
    });
    let _ = std::fs::remove_dir_all(&archive);
    let mut p = innsikt::project::Project::create(&archive).unwrap();
    let t = Instant::now();
    let report = p
        .ingest(
            &[std::path::PathBuf::from(dir)],
            None,
            &mut innsikt::progress::Silent,
        )
        .unwrap();
    let s = t.elapsed().as_secs_f64();
    let (docs, passages) = p.counts().unwrap();
    println!(
        "{} added, {} errors; {docs} documents, {passages} passages in {s:.2}s",
        report.added,
        report.errors.len()
    );
}
