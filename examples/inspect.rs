use innsikt::formats::{parse, Format};
fn main() {
    for a in std::env::args().skip(1) {
        let p = std::path::Path::new(&a);
        let f = Format::from_path(p).unwrap();
        let b = std::fs::read(p).unwrap();
        match parse(f, &b) {
            Ok(d) => {
                let mut speakers = std::collections::BTreeMap::new();
                for ps in &d.passages {
                    *speakers
                        .entry(format!("{:?}/{}", ps.speaker, ps.kind.name()))
                        .or_insert(0) += 1;
                }
                println!(
                    "{a}: {} {} passages {:?}",
                    d.encoding,
                    d.passages.len(),
                    speakers
                );
                for ps in d.passages.iter().take(4) {
                    println!(
                        "   [{}..{}] {:?} {:?} {:?}",
                        ps.start,
                        ps.end,
                        ps.speaker,
                        ps.t_start_ms,
                        d.passage_text(ps).chars().take(70).collect::<String>()
                    );
                }
            }
            Err(e) => println!("{a}: ERROR {e}"),
        }
    }
}
