//! Compiles the bokmål full-form lexicon (`data/lexicon/nb-ordbank.txt.gz`) into
//! three blobs in OUT_DIR that `src/analysis/lexicon.rs` embeds with `include_bytes!`:
//! an FST from word form to packed lemma ids, the lemma strings, and their offsets
//! and part-of-speech flags (with whether `data/lexicon/nb-attested-nouns.txt`
//! names the lemma).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;

const POS_NOUN: u8 = 1;
const POS_VERB: u8 = 2;
const POS_ADJ: u8 = 4;
const POS_ADV: u8 = 8;
/// The lemma has forms besides itself (most nouns without any are names).
const INFLECTED: u8 = 16;
/// The lemma is a noun whose forms occur at least [`ATTESTED_MIN`] times in the
/// corpus of `data/lexicon/nb-attested-nouns.txt`: common as a word of its own.
const ATTESTED: u8 = 32;
const ATTESTED_MIN: u32 = 50;
/// The lemma is a noun whose forms occur at least [`COMMON_MIN`] times there (the
/// list's every entry): enough for the last part of a compound.
const COMMON: u8 = 128;
const COMMON_MIN: u32 = 5;
/// The noun begins at least [`PRODUCTIVE_MIN`] lemmas of Ordbank whose rest
/// (after a linking -s- or -e-) is an attested noun: a first part of compounds
/// even where it is rare as a word of its own (*finans*-, *atom*-).
const PRODUCTIVE: u8 = 64;
const PRODUCTIVE_MIN: usize = 20;
/// The shortest compound part.
const MIN_PART: usize = 3;

fn main() {
    let src = "data/lexicon/nb-ordbank.txt.gz";
    let attested_src = "data/lexicon/nb-attested-nouns.txt";
    println!("cargo:rerun-if-changed={src}");
    println!("cargo:rerun-if-changed={attested_src}");
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

    let attested = std::fs::read_to_string(attested_src).expect("attested nouns missing");
    for line in attested
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let (lemma, count) = line.split_once('\t').expect("lemma, tab, count");
        let count: u32 = count.parse().expect("a count");
        // A lemma the list names but the lexicon does not hold is left out.
        if let Some(entry) = lemma_ids.get_mut(lemma) {
            if count >= COMMON_MIN {
                entry.1 |= COMMON;
            }
            if count >= ATTESTED_MIN {
                entry.1 |= ATTESTED;
            }
        }
    }

    mark_productive(&mut lemma_ids);

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

/// Flags as [`PRODUCTIVE`] every inflected noun that begins enough lemmas made
/// of it, an optional linking letter and an inflected, attested noun.
fn mark_productive(lemma_ids: &mut BTreeMap<String, (u32, u8)>) {
    let is = |flags: u8, want: u8| flags & want == want;
    let heads: std::collections::HashSet<&str> = lemma_ids
        .iter()
        .filter(|(_, (_, f))| is(*f, POS_NOUN | INFLECTED | ATTESTED))
        .map(|(l, _)| l.as_str())
        .collect();
    let mut compounds: std::collections::HashMap<String, std::collections::HashSet<&str>> =
        Default::default();
    for lemma in lemma_ids.keys() {
        for (j, _) in lemma.char_indices().skip(MIN_PART) {
            let (first, head) = lemma.split_at(j);
            if head.chars().count() < MIN_PART || !heads.contains(head) {
                continue;
            }
            let candidates = [
                Some(first),
                first.strip_suffix('s'),
                first.strip_suffix('e'),
            ];
            for c in candidates.into_iter().flatten() {
                let noun = lemma_ids
                    .get(c)
                    .is_some_and(|(_, f)| is(*f, POS_NOUN | INFLECTED));
                if noun && c.chars().count() >= MIN_PART {
                    compounds.entry(c.to_string()).or_default().insert(head);
                }
            }
        }
    }
    let productive: Vec<String> = compounds
        .into_iter()
        .filter(|(_, heads)| heads.len() >= PRODUCTIVE_MIN)
        .map(|(first, _)| first)
        .collect();
    for first in productive {
        if let Some(entry) = lemma_ids.get_mut(&first) {
            entry.1 |= PRODUCTIVE;
        }
    }
}
