//! Runs every case in tests/cases/segmentation: each input file beside a
//! `<file>.expected.json` holding the parse (passages with code-point offsets,
//! or the error with its line). The Python suite runs the same files.

use std::path::Path;

#[test]
fn segmentation_cases() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases/segmentation");
    let bless = std::env::var("INNSIKT_BLESS").is_ok();
    let mut ran = 0;
    let mut failures = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for input in entries {
        let name = input.file_name().unwrap().to_string_lossy().to_string();
        if name.ends_with(".expected.json") || name.ends_with(".py") {
            continue;
        }
        let got = innsikt::formats::parse_to_json(&input, &std::fs::read(&input).unwrap());
        // Every passage's text is the document text at its offsets (checked in the parse itself).
        let expected_path = dir.join(format!("{name}.expected.json"));
        if bless {
            std::fs::write(
                &expected_path,
                serde_json::to_string_pretty(&got).unwrap() + "\n",
            )
            .unwrap();
        }
        let expected: serde_json::Value = match std::fs::read_to_string(&expected_path) {
            Ok(s) => serde_json::from_str(&s).unwrap(),
            Err(_) => {
                failures.push(format!("{name}: no expected file"));
                continue;
            }
        };
        if got != expected {
            failures.push(format!(
                "{name}:\n  expected {}\n  got      {}",
                serde_json::to_string(&expected).unwrap(),
                serde_json::to_string(&got).unwrap()
            ));
        }
        ran += 1;
    }
    assert!(ran >= 15, "only {ran} cases found");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
