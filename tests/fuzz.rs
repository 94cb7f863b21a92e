//! Property-based fuzzing of every input parser, the codebook loader and the query
//! parser: arbitrary input never panics, and what parses keeps its invariants.
//! A short run here (256 cases per target, or PROPTEST_CASES); the long run:
//!
//!     PROPTEST_CASES=200000 cargo test --release --test fuzz
//!
//! Inputs that once broke something are kept as regression cases below.

use innsikt::analysis::analyze_word;
use innsikt::codebook::{Codebook, Context};
use innsikt::formats::{parse, Format};
use proptest::prelude::*;

thread_local! {
    /// A small archive to run fuzzed queries against (proptest runs on one thread).
    static SAMPLE: (tempfile::TempDir, innsikt::Project) = {
        let dir = tempfile::tempdir().unwrap();
        let files = dir.path().join("f");
        std::fs::create_dir_all(&files).unwrap();
        std::fs::write(files.join("a.txt"), "I: Og skolen?\n\nInformant: Ungdomsrådet og skulen samarbeider.\n").unwrap();
        let mut p = innsikt::Project::create(dir.path().join("a")).unwrap();
        p.ingest(&[files], None, &mut innsikt::progress::Silent).unwrap();
        (dir, p)
    };
}

const FORMATS: [Format; 5] = [
    Format::Text,
    Format::Markdown,
    Format::Docx,
    Format::WebVtt,
    Format::Srt,
];

/// Byte strings that look like the formats often enough to get past their headers.
fn document_bytes() -> impl Strategy<Value = Vec<u8>> {
    let pieces = prop::sample::select(vec![
        "WEBVTT\n\n",
        "00:00:01.000 --> 00:00:02.000\n",
        "00:00:01,000 --> 00:00:02,000\n",
        "1\n",
        "\n\n",
        "I: ",
        "Informant: ",
        "**Kari:** ",
        "<v Ola Nordmann>",
        "</v>",
        "# ",
        "- ",
        "æøå ",
        "«",
        "»",
        "\r\n",
        "\u{feff}",
        "🙂",
        "[00:01:02] ",
        "Dato: 2022-01-01\n",
        "&amp;",
        "<b>",
        "NOTE x\n",
    ]);
    prop::collection::vec(
        prop_oneof![
            pieces.prop_map(|s| s.as_bytes().to_vec()),
            prop::collection::vec(any::<u8>(), 0..8),
            "[a-zæøå ]{0,12}".prop_map(|s| s.into_bytes()),
        ],
        0..40,
    )
    .prop_map(|v| v.concat())
}

fn check_parse(format: Format, bytes: &[u8]) {
    if let Ok(doc) = parse(format, bytes) {
        let n = doc.text.chars().count();
        let mut last = 0;
        for p in &doc.passages {
            assert!(p.start <= p.end && p.end <= n, "offsets out of range");
            assert!(p.start >= last, "passages overlap or go backwards");
            last = p.end;
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn parsers_never_panic_on_bytes(bytes in prop::collection::vec(any::<u8>(), 0..400), f in 0usize..5) {
        check_parse(FORMATS[f], &bytes);
    }

    #[test]
    fn parsers_never_panic_on_near_valid_input(bytes in document_bytes(), f in 0usize..5) {
        check_parse(FORMATS[f], &bytes);
    }

    #[test]
    fn docx_reader_never_panics_on_zip_with_garbage_xml(xml in prop::collection::vec(any::<u8>(), 0..300)) {
        use std::io::Write;
        let mut buf = std::io::Cursor::new(Vec::new());
        {
            let mut z = zip::ZipWriter::new(&mut buf);
            z.start_file("word/document.xml", zip::write::SimpleFileOptions::default()).unwrap();
            z.write_all(&xml).unwrap();
            z.finish().unwrap();
        }
        check_parse(Format::Docx, buf.get_ref());
    }

    #[test]
    fn query_parser_never_panics(q in "[a-zæøå()\"«»~*:=\\-+/\\[\\] 0-9ANDORNTE]{0,60}") {
        let _ = innsikt::query::parse(&q);
    }

    #[test]
    fn search_never_panics(q in "[a-zæøå()\"«»~*:=\\- 0-9]{0,40}|(NEAR/[0-9] |AND |OR |NOT |\"\" |ungdom |skole ){0,6}") {
        let outcome = SAMPLE.with(|(_, p)| match p.search(&q, Some(5)) {
            Ok(r) => r.table.num_rows() <= 5,
            Err(innsikt::Error::Query(_)) => true,
            Err(_) => false,
        });
        prop_assert!(outcome, "{:?}", q);
    }

    #[test]
    fn analyzer_never_panics(w in "\\PC{0,30}") {
        let t = analyze_word(&w.to_lowercase());
        prop_assert!(!t.full.is_empty() || w.is_empty() || t.full.is_empty());
    }

    #[test]
    fn codebook_loader_never_panics(src in "[a-z\\[\\]=\"'{}(),.:#\n 0-9]{0,200}") {
        let _ = Codebook::parse(&src, false, None);
        let _ = Codebook::parse(&src, true, None);
    }

    #[test]
    fn codebook_rules_never_panic(query in "[a-zæøå()\"~*= 0-9]{1,40}", text in "\\PC{0,200}") {
        let src = format!(
            "format = 1\n[codebook]\nid = \"f\"\nversion = \"1\"\n[[code]]\nid = \"a\"\nname = \"A\"\n  [[code.rule]]\n  query = '{}'\n",
            query.replace('\'', "")
        );
        if let Ok(cb) = Codebook::parse(&src, false, None) {
            for h in cb.apply(&text, &Context::new()) {
                for (s, e) in h.spans {
                    prop_assert!(s <= e && e <= text.chars().count());
                }
            }
        }
    }
}

/// Regression: NEAR between two empty phrases built a phrase query without terms.
#[test]
fn regression_near_between_empty_phrases_is_no_hit() {
    SAMPLE.with(|(_, p)| {
        assert_eq!(p.search("\"\" NEAR/2 \"\"", None).unwrap().total, 0);
        assert_eq!(p.search("\"…\"", None).unwrap().total, 0);
    });
}

/// Regression: a timing line with minutes past 59 once parsed as a valid cue.
#[test]
fn regression_vtt_minutes_past_59_are_rejected() {
    let r = parse(
        Format::WebVtt,
        b"WEBVTT\n\n00:61:01.000 --> 00:61:02.000\nhei\n",
    );
    assert!(r.is_err());
}

/// Regression: valid UTF-8 made of control characters was taken for text.
#[test]
fn regression_control_characters_are_binary() {
    let bytes: Vec<u8> = (0..3000).map(|i| [1u8, 2, 3, 14, 15][i % 5]).collect();
    assert!(parse(Format::Text, &bytes)
        .unwrap_err()
        .message
        .contains("binary"));
}

/// Regression (found by `codebook_rules_never_panic`): a rule with an empty phrase
/// (`""`) indexed the first word of a phrase that had none.
#[test]
fn regression_empty_phrase_in_rule_does_not_panic() {
    let src = "format = 1\n[codebook]\nid = \"f\"\nversion = \"1\"\n[[code]]\nid = \"a\"\nname = \"A\"\n  [[code.rule]]\n  query = '\"\" OR ungdom'\n";
    let cb = Codebook::parse(src, false, None).unwrap();
    let hits = cb.apply("ungdom", &Context::new());
    assert_eq!(hits.len(), 1);
    assert!(cb.apply("noe annet", &Context::new()).is_empty());
}
