//! What the profiling examples share: the passage texts of a folder's files.

/// Every passage text of the files under `dir` that a format reads (files that
/// fail to parse are left out), in path order.
pub fn passage_texts(dir: &str) -> Vec<String> {
    let mut texts = Vec::new();
    for e in walk(dir) {
        if let Some(f) = innsikt::formats::Format::from_path(&e) {
            if let Ok(d) = innsikt::formats::parse(f, &std::fs::read(&e).unwrap()) {
                texts.extend(d.passage_texts());
            }
        }
    }
    texts
}

fn walk(d: &str) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(d).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(p.to_str().unwrap()));
        } else {
            out.push(p);
        }
    }
    out.sort();
    out
}
