//! The machine coder (the default PD codebook) against the human gold codings of
//! corpus-sample/: precision, recall and Cohen's kappa per code, for the
//! development part and the held-out part separately. Prints the table.

use arrow_array::{Array, Float64Array, Int64Array, RecordBatch, StringArray};
use innsikt::progress::Silent;
use innsikt::{Codebook, Project};
use std::path::Path;

fn sample() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/corpus-sample"))
}

fn print(title: &str, t: &RecordBatch) -> Vec<(String, f64)> {
    let codes = t
        .column_by_name("code_id")
        .unwrap()
        .as_any()
        .downcast_ref::<StringArray>()
        .unwrap();
    let ints = |n: &str| {
        t.column_by_name(n)
            .unwrap()
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap()
            .clone()
    };
    let floats = |n: &str| {
        t.column_by_name(n)
            .unwrap()
            .as_any()
            .downcast_ref::<Float64Array>()
            .unwrap()
            .clone()
    };
    let (n, gold, machine, both) = (
        ints("passages"),
        ints("marte"),
        ints("auto:pd"),
        ints("both"),
    );
    let (p, r, k) = (floats("precision"), floats("recall"), floats("kappa"));
    let fmt = |a: &Float64Array, i: usize| {
        if a.is_null(i) {
            "   -".to_string()
        } else {
            format!("{:.2}", a.value(i))
        }
    };
    println!("\n{title}");
    println!(
        "{:<20} {:>5} {:>6} {:>8} {:>5} {:>9} {:>6} {:>6}",
        "code", "n", "human", "machine", "both", "precision", "recall", "kappa"
    );
    let mut kappas = Vec::new();
    for i in 0..t.num_rows() {
        println!(
            "{:<20} {:>5} {:>6} {:>8} {:>5} {:>9} {:>6} {:>6}",
            codes.value(i),
            n.value(i),
            gold.value(i),
            machine.value(i),
            both.value(i),
            fmt(&p, i),
            fmt(&r, i),
            fmt(&k, i)
        );
        kappas.push((
            codes.value(i).to_string(),
            if k.is_null(i) { 0.0 } else { k.value(i) },
        ));
    }
    kappas
}

#[test]
fn machine_coder_against_gold() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = Project::create(dir.path().join("arkiv")).unwrap();
    p.ingest(
        &[sample().to_path_buf()],
        Some(&sample().join("metadata.csv")),
        &mut Silent,
    )
    .unwrap();
    let cb = Codebook::load(&sample().join("codebooks/pd.toml")).unwrap();
    let rep = p.autocode(&cb, &mut Silent).unwrap();
    println!(
        "autocoded {} passages: {} codings",
        rep.passages, rep.codings
    );
    let (added, errors) = p
        .import_codings(&sample().join("codings/gold-marte.csv"))
        .unwrap();
    assert!(errors.is_empty(), "{errors:?}");
    assert!(added >= 300);

    let heldout: toml::Value =
        toml::from_str(&std::fs::read_to_string(sample().join("codings/heldout.toml")).unwrap())
            .unwrap();
    let heldout: Vec<String> = heldout["documents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_str().unwrap().to_string())
        .collect();
    assert_eq!(heldout.len(), 6);
    let text = std::fs::read_to_string(sample().join("codings/gold-marte.csv")).unwrap();
    let records = innsikt::ingest::csv_records(&text, ',').unwrap();
    let (mut dev, mut held) = (Vec::new(), Vec::new());
    for (_, r) in records.into_iter().skip(1) {
        if heldout.contains(&r[1]) {
            held.push(r[0].clone())
        } else {
            dev.push(r[0].clone())
        }
    }
    assert!(
        dev.len() >= 200 && held.len() >= 80,
        "dev {} held-out {}",
        dev.len(),
        held.len()
    );
    let k_dev = print(
        &format!("development part ({} passages)", dev.len()),
        &p.agreement("marte", "auto:pd", Some(&dev)).unwrap(),
    );
    let k_held = print(
        &format!("held-out part ({} passages)", held.len()),
        &p.agreement("marte", "auto:pd", Some(&held)).unwrap(),
    );
    for (name, ks) in [("development", &k_dev), ("held-out", &k_held)] {
        let themes: Vec<f64> = ks
            .iter()
            .filter(|(c, _)| c.starts_with("tema."))
            .map(|(_, k)| *k)
            .collect();
        assert_eq!(themes.len(), 4, "{name}: all four themes are in the gold");
        let mean = themes.iter().sum::<f64>() / 4.0;
        println!("{name}: mean kappa over the four themes {mean:.3}");
        assert!(
            mean > 0.2,
            "{name}: the machine coder agrees with the human coder better than chance"
        );
    }
}
