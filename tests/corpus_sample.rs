//! The sample archive ingests whole, with metadata, and segments as its formats say.

use innsikt::progress::Silent;
use innsikt::Project;
use std::path::{Path, PathBuf};

fn sample() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus-sample")
}

#[test]
fn sample_ingests_without_errors() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = Project::create(dir.path().join("arkiv")).unwrap();
    let rep = p
        .ingest(
            &[sample()],
            Some(&sample().join("metadata.csv")),
            &mut Silent,
        )
        .unwrap();
    assert!(rep.errors.is_empty(), "errors: {:?}", rep.errors);
    let listed = std::fs::read_to_string(sample().join("metadata.csv"))
        .unwrap()
        .lines()
        .count()
        - 1;
    assert!(listed >= 16);
    assert_eq!(
        rep.added as usize, listed,
        "every listed document and nothing else (codebooks, codings, READMEs are not documents)"
    );
    let docs = p.documents().unwrap();
    let names = docs.column_by_name("document").unwrap();
    let muni = docs.column_by_name("municipality").unwrap();
    assert_eq!(muni.null_count(), 0, "every sample document has metadata");
    let passages = p.passages().unwrap();
    eprintln!(
        "{} documents, {} passages",
        names.len(),
        passages.num_rows()
    );
    let again = p
        .ingest(
            &[sample()],
            Some(&sample().join("metadata.csv")),
            &mut Silent,
        )
        .unwrap();
    assert_eq!((again.added, again.updated), (0, 0));
    assert_eq!(again.unchanged, rep.added);
}
