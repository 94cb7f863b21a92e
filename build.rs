//! Compiles the bokmål full-form lexicon (`data/lexicon/nb-ordbank.txt.gz`) into
//! three blobs in OUT_DIR that `src/analysis/lexicon.rs` embeds with `include_bytes!`:
//! an FST from word form to packed lemma ids, the lemma strings, and their offsets
//! and part-of-speech flags.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;

const POS_NOUN: u8 = 1;
const POS_VERB: u8 = 2;
const POS_ADJ: u8 = 4;
const POS_ADV: u8 = 8;
/// The lemma has forms besides itself (most nouns without any are names).
const INFLECTED: u8 = 16;

fn main() {
    let src = "data/lexicon/nb-ordbank.txt.gz";
    println!("cargo:rerun-if-changed={src}");
    println!("cargo:rerun-if-changed=build.rs");
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap());

    let file = std::fs::File::open(src).expect("lexicon source missing");
    let reader = BufReader::new(flate2::read::GzDecoder::new(file));

    // lemma string -> (id, pos flags)
    let mut lemma_ids: BTreeMap<String, (u32, u8)> = BTreeMap::new();
    let mut lemma_list: Vec<String> = Vec::new();
    assert!(lemma_list.len() < (1 << 21));
    // form -> lemma ids (at most two kept, nouns first)
    let mut forms: BTreeMap<String, Vec<(u32, u8)>> = BTreeMap::new();

    for line in reader.lines() {
        let line = line.expect("lexicon read");
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let mut cols = line.split('\t');
        let lemma = cols.next().unwrap().to_string();
        let pos = match cols.next().unwrap() {
            "n" => POS_NOUN,
            "v" => POS_VERB,
            "a" => POS_ADJ,
            _ => POS_ADV,
        };
        let encoded = cols.next().unwrap_or("");
        let flags = if encoded.is_empty() {
            pos
        } else {
            pos | INFLECTED
        };
        let id = match lemma_ids.get_mut(&lemma) {
            Some(entry) => {
                entry.1 |= flags;
                entry.0
            }
            None => {
                let id = lemma_list.len() as u32;
                lemma_ids.insert(lemma.clone(), (id, flags));
                lemma_list.push(lemma.clone());
                id
            }
        };
        let mut add = |form: String| {
            let v = forms.entry(form).or_default();
            if !v.iter().any(|(i, _)| *i == id) {
                v.push((id, pos));
            }
        };
        add(lemma.clone());
        for item in encoded.split(',').filter(|s| !s.is_empty()) {
            let (k, suffix) = item.split_once(':').unwrap();
            let k: usize = k.parse().unwrap();
            let chars: Vec<char> = lemma.chars().collect();
            let keep = chars.len().saturating_sub(k);
            let mut form: String = chars[..keep].iter().collect();
            form.push_str(suffix);
            add(form);
        }
    }

    let mut builder = fst::MapBuilder::memory();
    for (form, mut ids) in forms {
        // The form's own lemma first, then nouns, then verbs, then the rest (up to
        // three, 21 bits each): compound parts are mostly nouns.
        ids.sort_by_key(|(id, pos)| {
            let identity = lemma_list[*id as usize] == form;
            (
                !identity,
                match *pos {
                    POS_NOUN => 0,
                    POS_VERB => 1,
                    _ => 2,
                },
            )
        });
        let mut packed = 0u64;
        for (k, (id, _)) in ids.iter().take(3).enumerate() {
            packed |= (*id as u64 + 1) << (21 * k);
        }
        builder.insert(form.as_bytes(), packed).unwrap();
    }
    std::fs::write(out.join("forms.fst"), builder.into_inner().unwrap()).unwrap();

    let mut strings = Vec::new();
    let mut offsets = Vec::new();
    let mut flags = Vec::new();
    for lemma in &lemma_list {
        offsets.extend_from_slice(&(strings.len() as u32).to_le_bytes());
        strings.extend_from_slice(lemma.as_bytes());
        flags.push(lemma_ids[lemma].1);
    }
    offsets.extend_from_slice(&(strings.len() as u32).to_le_bytes());
    std::fs::write(out.join("lemmas.bin"), &strings).unwrap();
    std::fs::write(out.join("lemma_offsets.bin"), &offsets).unwrap();
    let mut f = std::fs::File::create(out.join("lemma_pos.bin")).unwrap();
    f.write_all(&flags).unwrap();
}
