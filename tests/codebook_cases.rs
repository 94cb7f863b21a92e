//! Runs the rule cases (tests/cases/rules: a codebook, texts and the codes, rules
//! and spans expected) and the bad codebooks (tests/cases/codebooks-bad: each with
//! the exact error expected). The Python suite runs the same files.

use innsikt::codebook::{Codebook, Context, Matcher};
use std::path::Path;

fn cases_dir(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/cases")
        .join(name)
}

fn sorted_files(dir: &Path, keep: impl Fn(&str) -> bool) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| keep(&p.file_name().unwrap().to_string_lossy()))
        .collect();
    v.sort();
    v
}

#[test]
fn rule_cases() {
    let mut failures = Vec::new();
    let mut ran = 0;
    for file in sorted_files(&cases_dir("rules"), |n| n.ends_with(".toml")) {
        let doc: toml::Value = toml::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        let cb = Codebook::parse(doc["codebook"].as_str().unwrap(), false, None)
            .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        // One matcher for every case of the file, as in batch coding: what it
        // remembers from earlier texts must not change later results.
        let mut matcher = Matcher::new(&cb);
        for case in doc["case"].as_array().unwrap() {
            let text = case["text"].as_str().unwrap();
            let ctx: Context = case
                .get("context")
                .and_then(|c| c.as_table())
                .map(|t| {
                    t.iter()
                        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
                        .collect()
                })
                .unwrap_or_default();
            let got = cb.hits_json(&matcher.apply(text, &ctx));
            assert_eq!(
                got,
                cb.hits_json(&cb.apply(text, &ctx)),
                "{}: a reused matcher disagrees with a fresh one on {text:?}",
                file.display()
            );
            let expected: serde_json::Value = serde_json::to_value(&case["expect"]).unwrap();
            if got != expected {
                failures.push(format!(
                    "{} {text:?}:\n  expected {expected}\n  got      {got}",
                    file.display()
                ));
            }
            ran += 1;
        }
    }
    assert!(ran >= 15, "{ran} rule cases");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn bad_codebooks() {
    let dir = cases_dir("codebooks-bad");
    let bless = std::env::var("INNSIKT_BLESS").is_ok();
    let mut failures = Vec::new();
    let files = sorted_files(&dir, |n| n.ends_with(".toml") || n.ends_with(".json"));
    assert!(files.len() >= 10);
    for file in files {
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        let src = std::fs::read_to_string(&file).unwrap();
        let err = match Codebook::parse(&src, name.ends_with(".json"), Some(Path::new(&name))) {
            Ok(_) => {
                failures.push(format!("{name}: loaded without error"));
                continue;
            }
            Err(e) => e.to_string(),
        };
        let exp_path = dir.join(format!("{name}.expected.txt"));
        if bless {
            std::fs::write(&exp_path, format!("{err}\n")).unwrap();
        }
        let expected = std::fs::read_to_string(&exp_path).unwrap_or_default();
        if expected.trim_end() != err {
            failures.push(format!(
                "{name}:\n  expected {}\n  got      {err}",
                expected.trim_end()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
