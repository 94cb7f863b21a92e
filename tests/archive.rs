//! Archive behaviour: ingest (idempotence, replacement, a failing file in a batch),
//! search semantics (phrase, proximity, NOT, filters, facets, prefix), KWIC,
//! reindexing, stale-index recovery and the write lock.

use arrow_array::Array;
use innsikt::analysis::ANALYSIS_VERSION;
use innsikt::progress::Silent;
use innsikt::{Error, Project};
use std::path::{Path, PathBuf};

struct Fixture {
    _dir: tempfile::TempDir,
    files: PathBuf,
    archive: PathBuf,
}

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap();
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let files = dir.path().join("files");
    std::fs::create_dir_all(&files).unwrap();
    write(
        &files,
        "emma.txt",
        "I: Hvordan var overgangen til videregående?\n\n\
         Informant: Ungdomsrådet hjalp meg. Jeg fikk en fast kontaktperson i oppfølgingstjenesten.\n\n\
         I: Og skolen?\n\n\
         Informant: Skolen var vanskelig. Læreren så meg likevel.\n",
    );
    write(
        &files,
        "liv.txt",
        "Intervjuar: Korleis samarbeider de med skulen?\n\n\
         Liv: Barnevernstenesta og skulen har faste møte. Tenestene snakkar saman om ungdomane.\n\n\
         Intervjuar: Og NAV?\n\n\
         Liv: Kommunikasjon med NAV er vanskeleg, men samarbeidet blir betre.\n",
    );
    write(
        &files,
        "referat.md",
        "# Ressursgruppemøte\n\n\
         Barneverntjenesten orienterte om samarbeidsrelasjoner med helsetjenester.\n\n\
         Kommunen vil prøve en sommerjobb-ordning for ungdommene.\n\n\
         Kontingentkassa dekket kontingenten i idrettslaget.\n",
    );
    write(
        &files,
        "metadata.csv",
        "file,municipality,date,document_type,participant_role\n\
         emma.txt,Kongsvinger,2022-03-14,intervju,ungdom\n\
         liv.txt,Sør-Odal,2022-10-03,intervju,barnevernspedagog\n\
         referat.md,Åsnes,2022-02-09,møtereferat,ressursgruppe\n",
    );
    let archive = dir.path().join("arkiv");
    Fixture {
        _dir: dir,
        files,
        archive,
    }
}

fn ingested() -> (Fixture, Project) {
    let f = fixture();
    let mut p = Project::create(&f.archive).unwrap();
    let rep = p
        .ingest(
            std::slice::from_ref(&f.files),
            Some(&f.files.join("metadata.csv")),
            &mut Silent,
        )
        .unwrap();
    assert!(rep.errors.is_empty(), "{:?}", rep.errors);
    assert_eq!(rep.added, 3);
    (f, p)
}

fn hits(p: &Project, q: &str) -> Vec<String> {
    let r = p.search(q, None).unwrap();
    let texts = r.table.column_by_name("text").unwrap();
    let texts = texts
        .as_any()
        .downcast_ref::<arrow_array::StringArray>()
        .unwrap();
    assert_eq!(texts.len(), r.total);
    (0..texts.len())
        .map(|i| texts.value(i).to_string())
        .collect()
}

/// What a large ingest killed between its batches leaves behind.
fn leave_out_passage_id_index(archive: &Path) {
    rusqlite::Connection::open(archive.join("store.sqlite"))
        .unwrap()
        .execute_batch("DROP INDEX passages_by_id")
        .unwrap();
}

fn passage_ids(p: &Project) -> Vec<String> {
    let t = p.passages().unwrap();
    let c = t.column_by_name("passage_id").unwrap();
    let c = c
        .as_any()
        .downcast_ref::<arrow_array::StringArray>()
        .unwrap();
    (0..c.len()).map(|i| c.value(i).to_string()).collect()
}

fn has(p: &Project, q: &str, needle: &str) -> bool {
    hits(p, q).iter().any(|t| t.contains(needle))
}

#[test]
fn reingest_of_unchanged_files_is_a_no_op() {
    let (f, mut p) = ingested();
    let before = p.passages().unwrap();
    let rep = p
        .ingest(
            std::slice::from_ref(&f.files),
            Some(&f.files.join("metadata.csv")),
            &mut Silent,
        )
        .unwrap();
    assert_eq!((rep.added, rep.updated, rep.unchanged), (0, 0, 3));
    let after = p.passages().unwrap();
    assert_eq!(before, after);
}

#[test]
fn changed_file_replaces_its_document_and_keeps_ids_of_unchanged_passages() {
    let (f, mut p) = ingested();
    let before = passage_ids(&p);
    let text = std::fs::read_to_string(f.files.join("emma.txt")).unwrap();
    write(
        &f.files,
        "emma.txt",
        &text.replace("Skolen var vanskelig.", "Skolen var tung."),
    );
    let rep = p
        .ingest(
            std::slice::from_ref(&f.files),
            Some(&f.files.join("metadata.csv")),
            &mut Silent,
        )
        .unwrap();
    assert_eq!((rep.added, rep.updated, rep.unchanged), (0, 1, 2));
    let after = passage_ids(&p);
    assert_eq!(before.len(), after.len());
    let kept = after.iter().filter(|id| before.contains(id)).count();
    assert_eq!(
        kept,
        before.len() - 1,
        "only the edited passage gets a new id"
    );
    assert!(has(&p, "tung", "Skolen var tung"));
    assert!(!has(
        &p,
        "vanskelig AND municipality:kongsvinger",
        "Skolen var vanskelig"
    ));
}

#[test]
fn a_failing_file_is_reported_and_the_rest_is_ingested() {
    let f = fixture();
    std::fs::write(f.files.join("binary.txt"), [0u8, 159, 146, 150, 0, 1, 2, 3]).unwrap();
    std::fs::write(
        f.files.join("broken.srt"),
        "1\n00:00:01,000 --> 00:00:02,000\nhei\n\nx\n00:00\n",
    )
    .unwrap();
    let mut p = Project::create(&f.archive).unwrap();
    let rep = p
        .ingest(std::slice::from_ref(&f.files), None, &mut Silent)
        .unwrap();
    assert_eq!(rep.added, 3);
    assert_eq!(rep.errors.len(), 2, "{:?}", rep.errors);
    let (bin, msg) = rep
        .errors
        .iter()
        .find(|(f, _)| f.ends_with("binary.txt"))
        .unwrap();
    assert!(
        bin.contains("binary.txt") && msg.contains("line 1") && msg.contains("binary"),
        "{msg}"
    );
    let (_, msg) = rep
        .errors
        .iter()
        .find(|(f, _)| f.ends_with("broken.srt"))
        .unwrap();
    assert!(msg.starts_with("line 5: expected a cue number"), "{msg}");
    assert_eq!(p.counts().unwrap().0, 3);
}

#[test]
fn norwegian_search_finds_inflections_variants_and_compound_parts() {
    let (_f, p) = ingested();
    assert!(has(&p, "ungdom", "Ungdomsrådet hjalp meg"));
    assert!(has(&p, "ungdom", "ungdommene"));
    assert!(has(&p, "ungdom", "ungdomane"), "nynorsk plural");
    assert!(has(&p, "barnevern", "Barneverntjenesten orienterte"));
    assert!(
        has(&p, "barneverntjeneste", "Barnevernstenesta og skulen"),
        "nynorsk compound"
    );
    assert!(has(&p, "tjeneste", "helsetjenester"));
    assert!(has(&p, "tjeneste", "Tenestene snakkar"));
    assert!(has(&p, "skole", "skulen har faste"));
    assert!(has(&p, "samarbeid", "samarbeidsrelasjoner"));
    assert!(!has(&p, "kommune", "Kommunikasjon med NAV"));
    assert!(has(&p, "kommune", "Kommunen vil"));
}

#[test]
fn phrase_proximity_and_prefix() {
    let (_f, p) = ingested();
    assert_eq!(hits(&p, "\"fast kontaktperson\"").len(), 1);
    assert!(
        hits(&p, "\"kontaktperson fast\"").is_empty(),
        "phrases keep word order"
    );
    assert!(has(
        &p,
        "\"overgangen videregående\"~2",
        "overgangen til videregående"
    ));
    assert!(hits(&p, "\"overgangen videregående\"").is_empty());
    assert!(
        has(
            &p,
            "videregående NEAR/3 overgang",
            "overgangen til videregående"
        ),
        "NEAR works in either order"
    );
    assert!(hits(&p, "ungdomsrådet NEAR/1 kontaktperson").is_empty());
    assert!(has(&p, "kontingent*", "Kontingentkassa dekket"));
    assert!(has(&p, "=ungdommene", "ungdommene"));
    assert!(!has(&p, "=ungdom", "ungdommene"), "=word is the exact form");
}

#[test]
fn not_works_as_users_mean_it() {
    let (_f, p) = ingested();
    let all = hits(&p, "skole");
    let without = hits(&p, "skole AND NOT vanskelig");
    assert!(!without.is_empty());
    assert!(without.len() < all.len());
    assert!(without
        .iter()
        .all(|t| !t.to_lowercase().contains("vanskelig")));
    assert_eq!(hits(&p, "skole -vanskelig"), without);
    let total = p.counts().unwrap().1 as usize;
    assert_eq!(
        hits(&p, "NOT skole").len(),
        total - all.len(),
        "a pure negative query"
    );
    let nested = hits(&p, "(kontingentkasse OR NOT skole) AND municipality:åsnes");
    assert_eq!(
        nested.len(),
        4,
        "every Åsnes passage: none mentions a school; {nested:?}"
    );
}

/// A metadata range or prefix narrows the hits and leaves their order, and their
/// scores but for one constant, to the words of the query.
#[test]
fn metadata_ranges_and_prefixes_filter_without_reranking() {
    let (_f, p) = ingested();
    let words = "skole OR samarbeid OR ungdom OR kommunen";
    let ranked = hits(&p, words);
    for filter in [
        "date:[2022-03-01 TO 2022-12-31]",
        "date:2022-0*",
        "municipality:Sør*",
    ] {
        let within: std::collections::HashSet<String> = hits(&p, filter).into_iter().collect();
        let want: Vec<String> = ranked
            .iter()
            .filter(|t| within.contains(*t))
            .cloned()
            .collect();
        assert!(
            !want.is_empty() && want.len() < ranked.len(),
            "{filter}: {want:?}"
        );
        let filtered = format!("({words}) AND {filter}");
        assert_eq!(hits(&p, &filtered), want, "{filter}");
        // Each hit scores what the words give it, plus the same constant for the filter.
        let plus: Vec<f32> = scores(&p, &filtered)
            .iter()
            .map(|(text, s)| s - scores(&p, words)[text])
            .collect();
        assert!(
            plus.iter().all(|d| (d - plus[0]).abs() < 1e-4),
            "{filter}: {plus:?}"
        );
    }
}

/// Regression: a metadata range gathered its terms from every segment and made
/// them into an automaton at each search; each segment now reads its own terms
/// in the range. Open ends stay within the field's own values (no other field's
/// value, and no passage without the field, is in `date:[* TO *]`).
#[test]
fn metadata_ranges_with_open_ends_hold_the_field_s_values_and_only_those() {
    let (f, mut p) = ingested();
    // A document without metadata.
    ingest_one_more(&f, &mut p);
    let t = p.passages().unwrap();
    let column = |name: &str| -> Vec<Option<String>> {
        let c = t.column_by_name(name).unwrap();
        let c = c
            .as_any()
            .downcast_ref::<arrow_array::StringArray>()
            .unwrap();
        (0..c.len())
            .map(|i| arrow_array::Array::is_valid(c, i).then(|| c.value(i).to_string()))
            .collect()
    };
    let (texts, dates, places) = (column("text"), column("date"), column("municipality"));
    // Whether a passage with this date and municipality is in the range.
    type Keep = dyn Fn(Option<&str>, Option<&str>) -> bool;
    let want = |keep: &Keep| -> Vec<String> {
        let mut v: Vec<String> = (0..texts.len())
            .filter(|&i| keep(dates[i].as_deref(), places[i].as_deref()))
            .map(|i| texts[i].clone().unwrap())
            .collect();
        v.sort();
        v
    };
    let got = |q: &str| {
        let mut v = hits(&p, q);
        v.sort();
        v
    };
    let cases: [(&str, &Keep); 6] = [
        ("date:[2022-03-01 TO *]", &|d, _| {
            d.is_some_and(|d| d >= "2022-03-01")
        }),
        ("date:[* TO 2022-03-01]", &|d, _| {
            d.is_some_and(|d| d <= "2022-03-01")
        }),
        ("date:[* TO *]", &|d, _| d.is_some()),
        ("municipality:[* TO *]", &|_, m| m.is_some()),
        ("municipality:[s TO *]", &|_, m| {
            m.is_some_and(|m| m.to_lowercase().as_str() >= "s")
        }),
        ("date:[2023-01-01 TO 2021-01-01]", &|_, _| false),
    ];
    for (q, keep) in cases {
        let want = want(keep);
        // Only the reversed range is empty, and none holds every passage.
        assert_eq!(want.is_empty(), q.starts_with("date:[2023"), "{q}");
        assert!(want.len() < texts.len(), "{q}");
        assert_eq!(got(q), want, "{q}");
    }
    // Both kinds of passage are in the sample: with and without a date.
    assert!(dates.iter().any(Option::is_none) && dates.iter().any(Option::is_some));
}

/// Each hit's text with its score.
fn scores(p: &Project, q: &str) -> std::collections::HashMap<String, f32> {
    let r = p.search(q, None).unwrap();
    let col = |name: &str| r.table.column_by_name(name).unwrap().clone();
    let (texts, scores) = (col("text"), col("score"));
    let texts = texts
        .as_any()
        .downcast_ref::<arrow_array::StringArray>()
        .unwrap();
    let scores = scores
        .as_any()
        .downcast_ref::<arrow_array::Float32Array>()
        .unwrap();
    (0..texts.len())
        .map(|i| (texts.value(i).to_string(), scores.value(i)))
        .collect()
}

#[test]
fn filters_facets_and_limits() {
    let (_f, p) = ingested();
    let r = p.search("samarbeid", None).unwrap();
    let muni = &r.facets["municipality"];
    assert!(
        muni.contains(&("Sør-Odal".to_string(), 1)) || muni.iter().any(|(m, _)| m == "Sør-Odal")
    );
    let filtered = p
        .search("samarbeid AND municipality:\"Sør-Odal\"", None)
        .unwrap();
    assert!(filtered.total >= 1 && filtered.total < r.total);
    assert_eq!(filtered.facets["municipality"].len(), 1);
    assert_eq!(
        p.search("document_type:møtereferat", None).unwrap().total,
        4
    );
    assert_eq!(p.search("speaker_role:intervjuer", None).unwrap().total, 4);
    assert_eq!(p.search("date:2022-0*", None).unwrap().total, 4 + 4);
    assert_eq!(
        p.search("date:[2022-03-01 TO 2022-12-31]", None)
            .unwrap()
            .total,
        8
    );
    let limited = p.search("NOT kontingentkasse", Some(2)).unwrap();
    assert_eq!(limited.table.num_rows(), 2);
    assert!(limited.total > 2);
    let roles = &p.search("", None).unwrap().facets["speaker_role"];
    assert!(
        roles.iter().any(|(r, n)| r == "intervjuer" && *n == 4),
        "{roles:?}"
    );
}

#[test]
fn bad_queries_are_errors_with_a_position() {
    let (_f, p) = ingested();
    for q in ["(ungdom", "\"ungdom", "ungdom AND", "OR x", "a*"] {
        match p.search(q, None) {
            Err(Error::Query(e)) => assert!(!e.message.is_empty()),
            Err(e) => panic!("{q}: wrong error {e}"),
            Ok(_) => panic!("{q}: accepted"),
        }
    }
}

#[test]
fn kwic_lines_point_at_the_document_text() {
    let (_f, p) = ingested();
    let t = p.kwic("samarbeid", 20, None).unwrap();
    assert!(t.num_rows() >= 2);
    let col = |name: &str| {
        t.column_by_name(name)
            .unwrap()
            .as_any()
            .downcast_ref::<arrow_array::StringArray>()
            .unwrap()
            .clone()
    };
    let (kw, docs) = (col("keyword"), col("document_id"));
    let start = t
        .column_by_name("start")
        .unwrap()
        .as_any()
        .downcast_ref::<arrow_array::Int64Array>()
        .unwrap()
        .clone();
    for i in 0..t.num_rows() {
        let text = p.document_text(docs.value(i)).unwrap().unwrap();
        let word: String = text
            .chars()
            .skip(start.value(i) as usize)
            .take(kw.value(i).chars().count())
            .collect();
        assert_eq!(word, kw.value(i));
    }
}

#[test]
fn stale_index_is_rebuilt_on_open() {
    let (f, p) = ingested();
    let n = hits(&p, "ungdom").len();
    drop(p);
    std::fs::remove_dir_all(f.archive.join("index")).unwrap();
    let p = Project::open(&f.archive).unwrap();
    assert!(
        p.notes.iter().any(|n| n.contains("rebuilt")),
        "{:?}",
        p.notes
    );
    assert_eq!(hits(&p, "ungdom").len(), n);
}

/// Empties the index and commits it with `payload(generation)`, the store's
/// generation as the index last recorded it.
fn commit_empty_index(archive: &Path, payload: impl Fn(&str) -> String) {
    let index = tantivy::Index::open_in_dir(archive.join("index")).unwrap();
    let recorded = index.load_metas().unwrap().payload.unwrap();
    let generation = recorded
        .split_whitespace()
        .find_map(|kv| kv.strip_prefix("generation="))
        .unwrap()
        .to_string();
    let mut w: tantivy::IndexWriter = index.writer(15_000_000).unwrap();
    w.delete_all_documents().unwrap();
    let mut commit = w.prepare_commit().unwrap();
    commit.set_payload(&payload(&generation));
    commit.commit().unwrap();
}

/// [`ingested`], and how many passages a search for *ungdom* finds (some).
fn ingested_with_ungdom() -> (Fixture, Project, usize) {
    let (f, p) = ingested();
    let n = hits(&p, "ungdom").len();
    assert!(n > 0);
    (f, p, n)
}

/// Ingests one more document that speaks of *ungdom*; the hits for it after.
fn ingest_one_more(f: &Fixture, p: &mut Project) -> usize {
    let more = f.files.join("more");
    std::fs::create_dir_all(&more).unwrap();
    write(
        &more,
        "ny.txt",
        "Informant: Ungdommen trenger en trygg voksen.\n",
    );
    let report = p.ingest(&[more], None, &mut Silent).unwrap();
    assert_eq!(report.added, 1);
    hits(p, "ungdom").len()
}

/// As a build from before analysis versions were recorded committed it.
fn commit_empty_as_an_earlier_build(archive: &Path) {
    commit_empty_index(archive, |g| format!("generation={g}"));
}

#[test]
fn an_index_of_an_earlier_analysis_is_rebuilt_on_open() {
    let (f, p, n) = ingested_with_ungdom();
    drop(p);
    commit_empty_as_an_earlier_build(&f.archive);
    let p = Project::open(&f.archive).unwrap();
    assert!(
        p.notes
            .iter()
            .any(|n| n.contains("another analysis") && n.contains("version 1")),
        "{:?}",
        p.notes
    );
    assert_eq!(hits(&p, "ungdom").len(), n);
    // Rebuilt once: the next open finds it current.
    drop(p);
    assert!(Project::open(&f.archive).unwrap().notes.is_empty());
}

#[test]
fn an_index_of_an_unknown_analysis_is_rebuilt_on_open() {
    let (f, p, n) = ingested_with_ungdom();
    drop(p);
    for version in ["x".to_string(), (ANALYSIS_VERSION + 1).to_string()] {
        commit_empty_index(&f.archive, |g| format!("generation={g} analysis={version}"));
        let p = Project::open(&f.archive).unwrap();
        assert!(
            p.notes.iter().any(|n| n.contains("another analysis")),
            "{version}: {:?}",
            p.notes
        );
        assert_eq!(hits(&p, "ungdom").len(), n, "{version}");
    }
}

#[test]
fn an_ingest_rebuilds_an_index_of_an_earlier_analysis_first() {
    let (f, p, n) = ingested_with_ungdom();
    drop(p);
    commit_empty_as_an_earlier_build(&f.archive);
    // Opened while another process writes: the index cannot be rebuilt then.
    let lock = std::fs::OpenOptions::new()
        .write(true)
        .open(f.archive.join("write.lock"))
        .unwrap();
    lock.try_lock().unwrap();
    let mut p = Project::open(&f.archive).unwrap();
    assert!(
        p.notes
            .iter()
            .any(|n| n.contains("another analysis") && n.contains("another process")),
        "{:?}",
        p.notes
    );
    assert_eq!(hits(&p, "ungdom").len(), 0);
    drop(lock);
    assert_eq!(ingest_one_more(&f, &mut p), n + 1);
}

#[test]
fn an_ingest_rebuilds_an_index_behind_the_store_first() {
    // An earlier batch of this project reached the store but not the index
    // (its index commit failed): the next ingest must not mark the index
    // current over the missing batch.
    let (f, mut p, n) = ingested_with_ungdom();
    commit_empty_index(&f.archive, |_| {
        format!("generation=0 analysis={ANALYSIS_VERSION}")
    });
    assert_eq!(ingest_one_more(&f, &mut p), n + 1);
    assert!(
        p.notes.iter().any(|n| n.contains("behind the store")),
        "{:?}",
        p.notes
    );
}

#[test]
fn reindex_gives_the_same_results() {
    let (_f, mut p) = ingested();
    let before = hits(&p, "samarbeid OR ungdom");
    assert_eq!(p.reindex(&mut Silent).unwrap(), p.counts().unwrap().1);
    assert_eq!(hits(&p, "samarbeid OR ungdom"), before);
}

#[test]
fn a_second_writer_gets_a_locked_error() {
    let (f, mut p) = ingested();
    let lock = std::fs::OpenOptions::new()
        .write(true)
        .open(f.archive.join("write.lock"))
        .unwrap();
    lock.try_lock().unwrap();
    match p.ingest(std::slice::from_ref(&f.files), None, &mut Silent) {
        Err(Error::Locked { pid, .. }) => assert!(!pid.is_empty()),
        other => panic!("expected a lock error, got {:?}", other.map(|r| r.added)),
    }
    drop(lock);
    assert!(p
        .ingest(std::slice::from_ref(&f.files), None, &mut Silent)
        .is_ok());
}

#[test]
fn missing_and_existing_archives() {
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(
        Project::open(dir.path().join("nope")),
        Err(Error::NotFound(_))
    ));
    Project::create(dir.path().join("a")).unwrap();
    assert!(matches!(
        Project::create(dir.path().join("a")),
        Err(Error::Exists(_))
    ));
}

/// A limited search runs its own pruning pass for the best hits and a separate
/// counting pass for the total and facets; both must agree with the full ranking,
/// including ties (equal scores are ordered by passage), across several segments.
#[test]
fn limited_search_is_the_head_of_the_full_ranking() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = Project::create(dir.path().join("arkiv")).unwrap();
    let towns = ["Hamar", "Elverum", "Åsnes"];
    for batch in 0..3 {
        let files = dir.path().join(format!("batch{batch}"));
        std::fs::create_dir_all(&files).unwrap();
        let mut meta = String::from("file,municipality,document_type\n");
        for f in 0..4 {
            let mut text = String::new();
            for i in 0..12 {
                // Many identical passages (tied scores) and some with more hits.
                match (i + f + batch) % 4 {
                    0 => text.push_str("Samarbeid med skolen.\n\n"),
                    1 => text.push_str("Samarbeid, samarbeid og mer samarbeid med skolen.\n\n"),
                    2 => text.push_str("Skolen og NAV har faste møter om samarbeid.\n\n"),
                    _ => text.push_str("Ungdommen fikk en fast kontaktperson.\n\n"),
                }
            }
            let name = format!("b{batch}f{f}.txt");
            write(&files, &name, &text);
            meta.push_str(&format!(
                "{name},{},{}\n",
                towns[(batch + f) % 3],
                if f % 2 == 0 {
                    "intervju"
                } else {
                    "møtereferat"
                }
            ));
        }
        write(&files, "metadata.csv", &meta);
        let rep = p
            .ingest(
                std::slice::from_ref(&files),
                Some(&files.join("metadata.csv")),
                &mut Silent,
            )
            .unwrap();
        assert!(rep.errors.is_empty(), "{:?}", rep.errors);
    }
    let ids = |r: &innsikt::project::SearchResult| -> Vec<(String, f32)> {
        let id = r.table.column_by_name("passage_id").unwrap();
        let id = id
            .as_any()
            .downcast_ref::<arrow_array::StringArray>()
            .unwrap();
        let score = r.table.column_by_name("score").unwrap();
        let score = score
            .as_any()
            .downcast_ref::<arrow_array::Float32Array>()
            .unwrap();
        (0..id.len())
            .map(|i| (id.value(i).to_string(), score.value(i)))
            .collect()
    };
    for q in [
        "samarbeid",
        "skolen",
        "samarbeid OR kontaktperson",
        "samarbeid AND NOT NAV",
        "\"med skolen\"",
        "skolen AND municipality:Hamar",
        "",
    ] {
        let full = p.search(q, None).unwrap();
        let all = ids(&full);
        assert_eq!(all.len(), full.total, "{q}");
        for k in [0, 1, 3, 7, 20, all.len(), all.len() + 5] {
            let limited = p.search(q, Some(k)).unwrap();
            assert_eq!(limited.total, full.total, "{q} limit {k}");
            assert_eq!(limited.facets, full.facets, "{q} limit {k}");
            let head: Vec<_> = all.iter().take(k).cloned().collect();
            assert_eq!(ids(&limited), head, "{q} limit {k}");
        }
    }
}

fn passage_id_index_present(archive: &Path) -> bool {
    let c = rusqlite::Connection::open_with_flags(
        archive.join("store.sqlite"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    c.query_row(
        "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = 'passages_by_id'",
        [],
        |r| r.get::<_, i64>(0),
    )
    .unwrap()
        == 1
}

/// Records, after every committed batch, whether the passage id index was there.
struct WatchIndex<'a> {
    archive: &'a Path,
    seen: Vec<bool>,
}

impl innsikt::progress::Progress for WatchIndex<'_> {
    fn update(&mut self, _: u64, _: u64, _: &str) -> bool {
        true
    }
    fn saved(&mut self, _keys: &[String]) {
        self.seen.push(passage_id_index_present(self.archive));
    }
}

#[test]
fn a_large_ingest_makes_the_passage_id_index_once_at_the_end() {
    let f = fixture();
    let many = f.files.join("mange");
    std::fs::create_dir_all(&many).unwrap();
    // 1,100 files: five batches of 256 documents.
    // 1,100 files of two passages of about 300 bytes, as in real material (the
    // bulk decision weighs bytes against passages already stored).
    let filler = "Vi snakket lenge om hvordan kommunen og NAV kan følge opp de unge \
                  som faller ut av skolen, og om hva ressursgruppa kan gjøre annerledes \
                  neste år. ";
    for i in 0..1100 {
        write(
            &many,
            &format!("m{i:04}.txt"),
            &format!(
                "Møte {i} om samarbeid. {filler}{filler}\n\n\
                 Ungdommene i gruppe {i} fikk sommerjobb. {filler}{filler}\n"
            ),
        );
    }
    let mut p = Project::create(&f.archive).unwrap();
    // The ingest's report, and whether the index was there after each batch.
    let ingest = |p: &mut Project| {
        let mut watch = WatchIndex {
            archive: &f.archive,
            seen: Vec::new(),
        };
        let rep = p
            .ingest(std::slice::from_ref(&f.files), None, &mut watch)
            .unwrap();
        (rep, watch.seen)
    };
    let (rep, seen) = ingest(&mut p);
    assert_eq!(rep.added, 1103);
    assert!(rep.errors.is_empty(), "{:?}", rep.errors);
    assert_eq!(seen, [false; 5], "left out while the batches were written");
    assert!(passage_id_index_present(&f.archive));
    // Every generated file and the meeting notes.
    assert_eq!(hits(&p, "sommerjobb").len(), 1100 + 1);
    // Lookups by passage id work, and the ids are unique.
    let ids = passage_ids(&p);
    let unique: std::collections::BTreeSet<&String> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len());
    assert_eq!(ids.len() as u64, rep.passages);
    p.code(&ids[1234], "samarbeid", "kari", None).unwrap();
    // A small change to the large archive is written row by row, index in place.
    write(
        &many,
        "m0007.txt",
        &format!("Møte 7 ble avlyst. {filler}{filler}\n"),
    );
    let (rep, seen) = ingest(&mut p);
    assert_eq!((rep.updated, rep.unchanged), (1, 1102));
    assert_eq!(seen, [true]);
    assert_eq!(hits(&p, "sommerjobb").len(), 1099 + 1);
}

#[test]
fn an_interrupted_large_ingest_gets_its_passage_id_index_on_open() {
    let (f, p) = ingested();
    let ids = passage_ids(&p);
    drop(p);
    leave_out_passage_id_index(&f.archive);
    // A writer still holding the lock keeps the index left out to itself.
    let mut long_lived = {
        let writer = std::fs::File::options()
            .write(true)
            .open(f.archive.join("write.lock"))
            .unwrap();
        writer.try_lock().unwrap();
        let p = Project::open(&f.archive).unwrap();
        assert!(!passage_id_index_present(&f.archive));
        assert_eq!(passage_ids(&p), ids);
        assert!(p.notes.is_empty(), "{:?}", p.notes);
        p
    };
    // A project opened meanwhile makes it at its next ingest, however small.
    write(&f.files, "kort.txt", "Kort notat om sommerjobb.\n");
    let rep = long_lived
        .ingest(
            std::slice::from_ref(&f.files),
            Some(&f.files.join("metadata.csv")),
            &mut Silent,
        )
        .unwrap();
    assert_eq!((rep.added, rep.unchanged), (1, 3));
    assert!(passage_id_index_present(&f.archive));
    let ids = passage_ids(&long_lived);
    drop(long_lived);
    // Or the next open does, under the lock.
    leave_out_passage_id_index(&f.archive);
    let mut p = Project::open(&f.archive).unwrap();
    assert!(
        p.notes.iter().any(|n| n.contains("passage id index")),
        "{:?}",
        p.notes
    );
    assert!(passage_id_index_present(&f.archive));
    assert_eq!(passage_ids(&p), ids);
    p.code(&ids[0], "samarbeid", "kari", None).unwrap();
}
