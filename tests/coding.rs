//! Coding: the machine coder never touches a human coder's codings; a changed
//! codebook replaces its machine codings (kept versions recorded); analyses.

use arrow_array::{Array, Int64Array, StringArray};
use innsikt::progress::Silent;
use innsikt::{Codebook, Project};

const V1: &str = r#"
format = 1
[codebook]
id = "test"
version = "1"
[[code]]
id = "tema"
name = "Tema"
[[code]]
id = "tema.ungdom"
name = "Ungdom"
parent = "tema"
  [[code.rule]]
  id = "ord"
  query = "ungdom"
[[code]]
id = "tema.skole"
name = "Skole"
parent = "tema"
  [[code.rule]]
  query = "skole"
  where = { speaker_role = ["!intervjuer"] }
"#;

fn archive() -> (tempfile::TempDir, Project) {
    let dir = tempfile::tempdir().unwrap();
    let files = dir.path().join("f");
    std::fs::create_dir_all(&files).unwrap();
    std::fs::write(
        files.join("a.txt"),
        "I: Hvordan var skolen?\n\nInformant: Skolen var tung, men ungdomsrådet hjalp.\n\n\
         I: Og ungdomskontakten?\n\nInformant: Hun var der for meg.\n",
    )
    .unwrap();
    std::fs::write(
        files.join("b.md"),
        "# Referat\n\nUngdommene i Grue og skulen.\n",
    )
    .unwrap();
    let mut p = Project::create(dir.path().join("arkiv")).unwrap();
    p.ingest(&[files], None, &mut Silent).unwrap();
    (dir, p)
}

/// A text column, whether plain UTF-8 or string views (as codings are).
fn col(t: &arrow_array::RecordBatch, name: &str) -> StringArray {
    let c = t.column_by_name(name).unwrap().as_any();
    if let Some(a) = c.downcast_ref::<StringArray>() {
        return a.clone();
    }
    c.downcast_ref::<arrow_array::StringViewArray>()
        .unwrap_or_else(|| panic!("{name} is not a text column"))
        .iter()
        .collect()
}

fn strings(a: StringArray) -> Vec<String> {
    (0..a.len()).map(|i| a.value(i).to_string()).collect()
}

#[test]
fn machine_coding_never_touches_human_codings() {
    let (_d, mut p) = archive();
    let passages = p.passages().unwrap();
    let ids = strings(col(&passages, "passage_id"));
    let starts = passages
        .column_by_name("start")
        .unwrap()
        .as_any()
        .downcast_ref::<Int64Array>()
        .unwrap()
        .clone();
    // Human codings before any machine coding: a whole passage, and a span.
    let h1 = p.code(&ids[1], "tema.ungdom", "kari", None).unwrap();
    let h2 = p
        .code(
            &ids[1],
            "egen.kode",
            "kari",
            Some((starts.value(1), starts.value(1) + 6)),
        )
        .unwrap();
    let human_before = p.codings(Some("human")).unwrap();

    let cb1 = Codebook::parse(V1, false, None).unwrap();
    let r1 = p.autocode(&cb1, &mut Silent).unwrap();
    assert!(r1.codings > 0 && r1.replaced == 0);
    let machine1 = p.codings(Some("machine")).unwrap().num_rows();
    // Re-running the same codebook replaces, never duplicates.
    let r1b = p.autocode(&cb1, &mut Silent).unwrap();
    assert_eq!(r1b.replaced as usize, machine1);
    assert_eq!(p.codings(Some("machine")).unwrap().num_rows(), machine1);

    // A changed codebook (new version, a rule removed) re-codes.
    let v2 = V1
        .replace("version = \"1\"", "version = \"2\"")
        .replace("query = \"skole\"", "query = \"rådet\"");
    let cb2 = Codebook::parse(&v2, false, None).unwrap();
    p.autocode(&cb2, &mut Silent).unwrap();
    let machine = p.codings(Some("machine")).unwrap();
    assert!(strings(col(&machine, "codebook_version"))
        .iter()
        .all(|v| v == "2"));
    let versions: Vec<String> = p
        .codebook_versions()
        .unwrap()
        .into_iter()
        .map(|v| v.1)
        .collect();
    assert_eq!(versions, vec!["1", "2"]);

    // The human codings are exactly as they were.
    assert_eq!(p.codings(Some("human")).unwrap(), human_before);
    let all = p.codings(None).unwrap();
    let coding_ids = all
        .column_by_name("coding_id")
        .unwrap()
        .as_any()
        .downcast_ref::<Int64Array>()
        .unwrap();
    let ids_now: Vec<i64> = (0..coding_ids.len()).map(|i| coding_ids.value(i)).collect();
    assert!(ids_now.contains(&h1) && ids_now.contains(&h2));
}

#[test]
fn machine_codings_explain_themselves() {
    let (_d, mut p) = archive();
    let cb = Codebook::parse(V1, false, None).unwrap();
    let rep = p.autocode(&cb, &mut Silent).unwrap();
    assert!(rep.silent_rules.is_empty());
    let t = p.codings(Some("auto:test")).unwrap();
    let (codes, rules, spans) = (col(&t, "code_id"), col(&t, "rule"), col(&t, "spans"));
    let docs = col(&t, "document_id");
    for i in 0..t.num_rows() {
        assert!(!rules.value(i).is_empty());
        let text = p.document_text(docs.value(i)).unwrap().unwrap();
        let chars: Vec<char> = text.chars().collect();
        let spans: Vec<(usize, usize)> = serde_json::from_str(spans.value(i)).unwrap();
        for (a, b) in spans {
            let word: String = chars[a..b].iter().collect::<String>().to_lowercase();
            match codes.value(i) {
                "tema.ungdom" => assert!(word.starts_with("ungdom"), "{word}"),
                "tema.skole" => assert!(word.starts_with("sk"), "{word}"),
                other => panic!("unexpected code {other}"),
            }
        }
    }
    // The interviewer's question about school is out of the rule's scope.
    let skole = (0..t.num_rows())
        .filter(|i| codes.value(*i) == "tema.skole")
        .count();
    assert_eq!(
        skole, 2,
        "informant turn + the nynorsk minutes, not the interviewer"
    );
}

#[test]
fn crosstab_cooccurrence_segments_and_memos() {
    let (_d, mut p) = archive();
    let cb = Codebook::parse(V1, false, None).unwrap();
    p.autocode(&cb, &mut Silent).unwrap();
    let ct = p.crosstab("speaker_role", None).unwrap();
    assert_eq!(
        strings(col(&ct, "code_id")),
        vec!["tema.skole", "tema.ungdom"]
    );
    let co = p.cooccurrence(None).unwrap();
    let both = co
        .column_by_name("tema.skole")
        .unwrap()
        .as_any()
        .downcast_ref::<Int64Array>()
        .unwrap();
    assert_eq!(both.value(0), 2, "diagonal: passages with tema.skole");
    assert_eq!(
        both.value(1),
        2,
        "both codes in the informant turn and in the minutes"
    );
    let seg = p.segments(Some("tema"), None, 10).unwrap();
    assert_eq!(seg.num_rows(), p.codings(None).unwrap().num_rows());
    let m = p
        .memo(
            "code",
            "tema.skole",
            "kari",
            "Sjekk skulen/skolen-variantene.",
        )
        .unwrap();
    assert!(m > 0);
    assert_eq!(p.memos().unwrap().num_rows(), 1);
    assert!(p.memo("bok", "x", "kari", "nei").is_err());
    assert!(p.code("p0000", "x", "kari", None).is_err());
    assert!(p
        .code(
            &strings(col(&p.passages().unwrap(), "passage_id"))[0],
            "x",
            "auto:test",
            None
        )
        .is_err());
}

#[test]
fn agreement_counts_and_kappa() {
    let (_d, mut p) = archive();
    let ids = strings(col(&p.passages().unwrap(), "passage_id"));
    // a codes passages 0 and 1; b codes 1 and 2 -> over 4 passages: both 1, a only 1, b only 1, neither 1.
    for (i, coder) in [(0, "a"), (1, "a"), (1, "b"), (2, "b")] {
        p.code(&ids[i], "k", coder, None).unwrap();
    }
    let t = p.agreement("a", "b", Some(&ids[..4])).unwrap();
    let f = |n: &str| {
        t.column_by_name(n)
            .unwrap()
            .as_any()
            .downcast_ref::<arrow_array::Float64Array>()
            .unwrap()
            .value(0)
    };
    assert_eq!(f("precision"), 0.5);
    assert_eq!(f("recall"), 0.5);
    assert_eq!(f("percent_agreement"), 0.5);
    assert_eq!(f("kappa"), 0.0);
}

/// Codings keep pointing at the same words when earlier text of their document
/// changes: human codings (found by their passage index) and machine codings
/// (found in the id ranges their runs recorded for the document), also on
/// passages no human coded,
/// for every changed document of a batch, and not on passages that did not move.
#[test]
fn human_and_machine_codings_follow_their_passage_when_earlier_text_changes() {
    let dir = tempfile::tempdir().unwrap();
    let files = dir.path().join("f");
    std::fs::create_dir_all(&files).unwrap();
    let (a, b, c) = (
        files.join("a.txt"),
        files.join("b.txt"),
        files.join("c.txt"),
    );
    std::fs::write(
        &a,
        "Første avsnitt.\n\nAndre avsnitt om ungdomsrådet.\n\nTredje om skolen.\n",
    )
    .unwrap();
    std::fs::write(&b, "Innledning.\n\nHer står det om skolen.\n").unwrap();
    std::fs::write(&c, "Om skolen, uendret.\n").unwrap();
    let mut p = Project::create(dir.path().join("arkiv")).unwrap();
    p.ingest(std::slice::from_ref(&files), None, &mut Silent)
        .unwrap();
    let t = p.passages().unwrap();
    let ids = strings(col(&t, "passage_id"));
    let texts = strings(col(&t, "text"));
    let at = ids
        .iter()
        .zip(&texts)
        .position(|(_, t)| t.contains("ungdomsrådet"))
        .unwrap();
    let pid = ids[at].clone();
    let start = t
        .column_by_name("start")
        .unwrap()
        .as_any()
        .downcast_ref::<Int64Array>()
        .unwrap()
        .value(at);
    // Code the word "ungdomsrådet" (17 characters into the passage).
    p.code(&pid, "k", "kari", Some((start + 17, start + 29)))
        .unwrap();
    let cb = Codebook::parse(
        "format = 1\n[codebook]\nid = \"rad\"\nversion = \"1\"\n\
         [[code]]\nid = \"rad\"\nname = \"Råd\"\n  [[code.rule]]\n  query = \"ungdomsråd\"\n\
         [[code]]\nid = \"skole\"\nname = \"Skole\"\n  [[code.rule]]\n  query = \"skole\"\n",
        false,
        None,
    )
    .unwrap();
    assert_eq!(p.autocode(&cb, &mut Silent).unwrap().codings, 4);
    // The text each coding of `coder` points at, by document.
    let words = |p: &Project, coder: &str| -> Vec<(String, String)> {
        let c = p.codings(Some(coder)).unwrap();
        let int = |name: &str| {
            c.column_by_name(name)
                .unwrap()
                .as_any()
                .downcast_ref::<Int64Array>()
                .unwrap()
                .clone()
        };
        let (starts, ends) = (int("start"), int("end"));
        let docs = strings(col(&c, "document_id"));
        let mut out: Vec<(String, String)> = docs
            .iter()
            .enumerate()
            .map(|(i, d)| {
                let text = p.document_text(d).unwrap().unwrap();
                let word = text
                    .chars()
                    .skip(starts.value(i) as usize)
                    .take((ends.value(i) - starts.value(i)) as usize)
                    .collect::<String>();
                (d.clone(), word)
            })
            .collect();
        out.sort();
        out
    };
    let before = (words(&p, "kari"), words(&p, "auto:rad"));
    assert_eq!(before.0.len(), 1);
    assert_eq!(before.0[0].1, "ungdomsrådet");
    let mut machine: Vec<&str> = before.1.iter().map(|(_, w)| w.as_str()).collect();
    machine.sort();
    assert_eq!(machine, ["skolen", "skolen", "skolen", "ungdomsrådet"]);
    // The first paragraphs of a and b grow, in one batch; c does not change. The
    // later passages are unchanged and keep their ids.
    std::fs::write(
        &a,
        "Første avsnitt, nå mye lengre enn før.\n\nAndre avsnitt om ungdomsrådet.\n\n\
         Tredje om skolen.\n",
    )
    .unwrap();
    std::fs::write(
        &b,
        "Innledning, også den lengre nå.\n\nHer står det om skolen.\n",
    )
    .unwrap();
    let rep = p.ingest(&[files], None, &mut Silent).unwrap();
    assert_eq!((rep.updated, rep.unchanged), (2, 1));
    assert!(strings(col(&p.passages().unwrap(), "passage_id")).contains(&pid));
    assert_eq!((words(&p, "kari"), words(&p, "auto:rad")), before);
}

/// Archives written before codings kept their texts in `labels` (schema version 1)
/// are migrated when opened, and every coding reads back as it was.
#[test]
fn archive_of_schema_version_1_is_migrated_on_open() {
    let (dir, mut p) = archive();
    let passages = p.passages().unwrap();
    let ids = strings(col(&passages, "passage_id"));
    p.code(&ids[1], "egen.kode", "kari", None).unwrap();
    p.autocode(&Codebook::parse(V1, false, None).unwrap(), &mut Silent)
        .unwrap();
    let t = p.codings(None).unwrap();
    assert!(t.num_rows() >= 4);
    let ints = |name: &str| -> Vec<i64> {
        let a = t.column_by_name(name).unwrap();
        let a = a.as_any().downcast_ref::<Int64Array>().unwrap();
        (0..a.len()).map(|i| a.value(i)).collect()
    };
    let opt = |name: &str| -> Vec<Option<String>> {
        col(&t, name)
            .iter()
            .map(|v| v.map(str::to_string))
            .collect()
    };
    let (id, start, end) = (ints("coding_id"), ints("start"), ints("end"));
    let (passage, document, code) = (opt("passage_id"), opt("document_id"), opt("code_id"));
    let (mut spans, coder, kind) = (opt("spans"), opt("coder"), opt("kind"));
    let (rule, book, version, created) = (
        opt("rule"),
        opt("codebook_id"),
        opt("codebook_version"),
        opt("created_at"),
    );
    // One coding with two spans, which version 2 must keep as JSON.
    spans[0] = Some(format!(
        "[[{},{}],[{},{}]]",
        start[0],
        start[0] + 1,
        end[0] - 1,
        end[0]
    ));
    drop(p);

    // Rewrite the store as version 1 had it.
    let db = rusqlite::Connection::open(dir.path().join("arkiv").join("store.sqlite")).unwrap();
    db.execute_batch(
        "DROP TABLE codings; DROP TABLE labels; DROP TABLE machine_blocks;
         CREATE TABLE codings (
             id INTEGER PRIMARY KEY, passage_id TEXT NOT NULL, document_id TEXT NOT NULL,
             code_id TEXT NOT NULL, start INTEGER NOT NULL, \"end\" INTEGER NOT NULL,
             spans TEXT NOT NULL, coder TEXT NOT NULL, machine INTEGER NOT NULL, rule TEXT,
             codebook_id TEXT, codebook_version TEXT, created_at TEXT NOT NULL);
         CREATE INDEX codings_by_passage ON codings(passage_id);
         CREATE INDEX codings_by_machine ON codings(machine, codebook_id);
         UPDATE state SET value = '1' WHERE key = 'schema_version';",
    )
    .unwrap();
    for i in 0..id.len() {
        db.execute(
            "INSERT INTO codings VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
            rusqlite::params![
                id[i],
                passage[i],
                document[i],
                code[i],
                start[i],
                end[i],
                spans[i],
                coder[i],
                kind[i].as_deref() == Some("machine"),
                rule[i],
                book[i],
                version[i],
                created[i]
            ],
        )
        .unwrap();
    }
    drop(db);

    let p = Project::open(dir.path().join("arkiv")).unwrap();
    let t2 = p.codings(None).unwrap();
    assert_eq!(t2.num_rows(), id.len());
    let opt2 = |name: &str| -> Vec<Option<String>> {
        col(&t2, name)
            .iter()
            .map(|v| v.map(str::to_string))
            .collect()
    };
    for (name, before) in [
        ("passage_id", &passage),
        ("document_id", &document),
        ("code_id", &code),
        ("spans", &spans),
        ("coder", &coder),
        ("kind", &kind),
        ("rule", &rule),
        ("codebook_id", &book),
        ("codebook_version", &version),
        ("created_at", &created),
    ] {
        assert_eq!(&opt2(name), before, "{name}");
    }
    let ints2 = |name: &str| -> Vec<i64> {
        let a = t2.column_by_name(name).unwrap();
        let a = a.as_any().downcast_ref::<Int64Array>().unwrap();
        (0..a.len()).map(|i| a.value(i)).collect()
    };
    assert_eq!(
        (ints2("coding_id"), ints2("start"), ints2("end")),
        (id, start, end)
    );
    // Machine coding still replaces only machine codings after the migration.
    drop(p);
    let mut p = Project::open(dir.path().join("arkiv")).unwrap();
    p.autocode(&Codebook::parse(V1, false, None).unwrap(), &mut Silent)
        .unwrap();
    assert_eq!(p.codings(Some("kari")).unwrap().num_rows(), 1);
}

/// The codings must not depend on how many matching threads autocode is given
/// (how a batch is split between threads is tested with the matchers).
#[test]
fn autocode_codings_do_not_depend_on_the_threads_argument() {
    let dir = tempfile::tempdir().unwrap();
    let files = dir.path().join("f");
    std::fs::create_dir_all(&files).unwrap();
    let lines = [
        "Informant: Ungdomsrådet hjalp meg med skolen.",
        "I: Hvordan gikk det med skolen?",
        "Informant: Ungdommene fikk en fast kontaktperson.",
        "Informant: Det var stille.",
    ];
    for f in 0..3 {
        let text: Vec<&str> = (0..400).map(|i| lines[(i * 3 + f) % lines.len()]).collect();
        std::fs::write(files.join(format!("{f}.txt")), text.join("\n\n")).unwrap();
    }
    let mut p = Project::create(dir.path().join("arkiv")).unwrap();
    p.ingest(&[files], None, &mut Silent).unwrap();
    let cb = Codebook::parse(V1, false, None).unwrap();
    let codings = |p: &Project| {
        let t = p.codings(Some("machine")).unwrap();
        let cols = ["passage_id", "code_id", "spans", "rule"].map(|c| strings(col(&t, c)));
        (0..t.num_rows())
            .map(|i| cols.iter().map(|c| c[i].clone()).collect::<Vec<_>>())
            .collect::<Vec<_>>()
    };
    let r1 = p.autocode_with_threads(&cb, &mut Silent, 1).unwrap();
    let one = codings(&p);
    assert!(one.len() > 600, "{}", one.len());
    for threads in [2, 4] {
        let r = p.autocode_with_threads(&cb, &mut Silent, threads).unwrap();
        assert_eq!((r.codings, r.passages), (r1.codings, r1.passages));
        assert_eq!(codings(&p), one, "{threads} threads");
    }
}

/// A machine coding of one span lists none of its own in the run's batches
/// (its start and end are the span): it must still read back as that span,
/// and a coding of several spans as all of them.
#[test]
fn machine_codings_of_one_span_and_of_several_read_back_with_their_spans() {
    let dir = tempfile::tempdir().unwrap();
    let files = dir.path().join("f");
    std::fs::create_dir_all(&files).unwrap();
    std::fs::write(
        files.join("a.txt"),
        "Informant: Ungdommene fikk en fast kontaktperson på skolen.\n\n\
         Informant: Skolen ringte, og ungdommen kom tilbake.\n\n\
         Informant: Det var stille.",
    )
    .unwrap();
    let mut p = Project::create(dir.path().join("arkiv")).unwrap();
    p.ingest(&[files], None, &mut Silent).unwrap();
    let cb = Codebook::parse(
        r#"
format = 1
[codebook]
id = "spenn"
version = "1"
[[code]]
id = "ord"
name = "Ord"
  [[code.rule]]
  id = "ett"
  query = "kontaktperson"
[[code]]
id = "naer"
name = "Nær"
  [[code.rule]]
  id = "to"
  query = "ungdom NEAR/8 skole"
[[code]]
id = "flere"
name = "Flere"
  [[code.rule]]
  id = "tre"
  query = "ungdom OR skole"
"#,
        false,
        None,
    )
    .unwrap();
    p.autocode(&cb, &mut Silent).unwrap();
    let t = p.codings(Some("auto:spenn")).unwrap();
    let (codes, spans) = (strings(col(&t, "code_id")), strings(col(&t, "spans")));
    let int = |name: &str| {
        let c = t.column_by_name(name).unwrap();
        let c = c.as_any().downcast_ref::<Int64Array>().unwrap();
        (0..c.len()).map(|i| c.value(i)).collect::<Vec<i64>>()
    };
    let (start, end) = (int("start"), int("end"));
    let docs = strings(col(&t, "document_id"));
    let mut seen = (0, 0, 0);
    for i in 0..t.num_rows() {
        let text = p.document_text(&docs[i]).unwrap().unwrap();
        let chars: Vec<char> = text.chars().collect();
        let word = |a: i64, b: i64| -> String { chars[a as usize..b as usize].iter().collect() };
        let s: Vec<(i64, i64)> = serde_json::from_str(&spans[i]).unwrap();
        match codes[i].as_str() {
            "ord" => {
                assert_eq!(s, vec![(start[i], end[i])]);
                assert_eq!(word(start[i], end[i]), "kontaktperson");
                seen.0 += 1;
            }
            "naer" => {
                // One span, from the first word to the last.
                assert_eq!(s, vec![(start[i], end[i])]);
                let words = word(start[i], end[i]).to_lowercase();
                assert!(
                    words.starts_with("ungdom") || words.starts_with("skole"),
                    "{words}"
                );
                seen.1 += 1;
            }
            "flere" => {
                assert_eq!(s.len(), 2, "{s:?}");
                assert_eq!((s[0].0, s[1].1), (start[i], end[i]));
                let words: Vec<String> =
                    s.iter().map(|&(a, b)| word(a, b).to_lowercase()).collect();
                assert!(words.iter().any(|w| w.starts_with("ungdom")), "{words:?}");
                assert!(words.iter().any(|w| w.starts_with("skole")), "{words:?}");
                seen.2 += 1;
            }
            other => panic!("unexpected code {other}"),
        }
    }
    assert_eq!(seen, (1, 2, 2));
}
