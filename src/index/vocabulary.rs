//! An index's vocabulary: the word forms its analyzer met, lower-cased, each
//! with the terms the analysis gave it, in a file in the index's folder. A
//! coding run looks a form up here before it analyses it. The file is a cache:
//! any subset of the forms is right, so a missing, torn or outdated file costs
//! time and nothing else. It is written in chunks, each checked by its hash (a
//! chunk cut short by a crash is dropped at the next write), and one made under
//! another analysis version is started afresh.
//!
//! Reads and writes its own file only.

use crate::analysis::ANALYSIS_VERSION;
use rustc_hash::FxHashSet;
use std::io::{Seek, SeekFrom, Write};
use std::path::Path;
use xxhash_rust::xxh3::xxh3_64;

/// The file's name in the index's folder.
pub const FILE: &str = "vocabulary";
const MAGIC: &[u8; 8] = b"INSVOCAB";
/// The layout of the file (raised if it changes).
const FORMAT: u32 = 1;
/// Magic, format, analysis version.
const HEADER: usize = 16;
/// Each chunk's length (u32) and hash (u64) before its lines.
const CHUNK_HEADER: usize = 12;

/// The valid part of a vocabulary file.
#[derive(Debug, Default)]
pub struct Contents {
    /// Lines of a lower-case form and its terms, separated by tabs.
    pub lines: String,
    /// Where the last whole chunk ends.
    pub end: u64,
}

/// The file's valid chunks; None when it is missing, cannot be read, or is of
/// another format or analysis version.
pub fn read(path: &Path) -> Option<Contents> {
    parse(&std::fs::read(path).ok()?, ANALYSIS_VERSION)
}

fn header(analysis: u32) -> [u8; HEADER] {
    let mut h = [0u8; HEADER];
    h[..8].copy_from_slice(MAGIC);
    h[8..12].copy_from_slice(&FORMAT.to_le_bytes());
    h[12..16].copy_from_slice(&analysis.to_le_bytes());
    h
}

fn parse(bytes: &[u8], analysis: u32) -> Option<Contents> {
    if bytes.get(..HEADER)? != header(analysis) {
        return None;
    }
    let mut at = HEADER;
    let mut lines = String::new();
    while let Some(head) = bytes.get(at..at + CHUNK_HEADER) {
        let len = u32::from_le_bytes(head[..4].try_into().unwrap_or_default()) as usize;
        let hash = u64::from_le_bytes(head[4..].try_into().unwrap_or_default());
        let Some(payload) = bytes.get(at + CHUNK_HEADER..at + CHUNK_HEADER + len) else {
            break;
        };
        if xxh3_64(payload) != hash {
            break;
        }
        let Ok(text) = std::str::from_utf8(payload) else {
            break;
        };
        lines.push_str(text);
        at += CHUNK_HEADER + len;
    }
    Some(Contents {
        lines,
        end: at as u64,
    })
}

/// The forms of `lines`, each line's text before its first tab.
pub fn forms(lines: &str) -> impl Iterator<Item = &str> {
    lines
        .lines()
        .filter_map(|l| l.split_once('\t').map(|(f, _)| f))
}

/// What a writer knows of its file: the hashes of the forms in it and where
/// its valid part ends.
#[derive(Debug)]
pub struct Known {
    forms: FxHashSet<u64>,
    end: u64,
}

/// Adds to the file the lines of `new` whose forms it does not hold yet, as
/// one chunk. `known` is what the last call left (None at first, or after an
/// error): then the file is read, or started afresh when it has no valid
/// header for this build.
pub fn append(path: &Path, known: &mut Option<Known>, new: &str) -> std::io::Result<()> {
    append_as(path, known, new, ANALYSIS_VERSION)
}

fn append_as(
    path: &Path,
    known: &mut Option<Known>,
    new: &str,
    analysis: u32,
) -> std::io::Result<()> {
    // A file shorter than the last write left it was replaced or cut
    // meanwhile: read it again.
    if known
        .as_ref()
        .is_some_and(|k| std::fs::metadata(path).map_or(true, |m| m.len() < k.end))
    {
        *known = None;
    }
    let k = known.get_or_insert_with(|| {
        match std::fs::read(path).ok().and_then(|b| parse(&b, analysis)) {
            Some(c) => Known {
                forms: forms(&c.lines).map(|f| xxh3_64(f.as_bytes())).collect(),
                end: c.end,
            },
            None => Known {
                forms: FxHashSet::default(),
                end: 0,
            },
        }
    });
    let mut payload = String::new();
    for line in new.lines() {
        if let Some((form, _)) = line.split_once('\t') {
            if k.forms.insert(xxh3_64(form.as_bytes())) {
                payload.push_str(line);
                payload.push('\n');
            }
        }
    }
    if payload.is_empty() {
        return Ok(());
    }
    let written = (|| {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)?;
        if k.end == 0 {
            f.set_len(0)?;
            f.write_all(&header(analysis))?;
            k.end = HEADER as u64;
        } else {
            // A torn chunk after the valid part goes.
            f.set_len(k.end)?;
            f.seek(SeekFrom::Start(k.end))?;
        }
        let len = u32::try_from(payload.len())
            .map_err(|_| std::io::Error::other("vocabulary chunk over 4 GiB"))?;
        let mut chunk = Vec::with_capacity(CHUNK_HEADER + payload.len());
        chunk.extend_from_slice(&len.to_le_bytes());
        chunk.extend_from_slice(&xxh3_64(payload.as_bytes()).to_le_bytes());
        chunk.extend_from_slice(payload.as_bytes());
        f.write_all(&chunk)?;
        k.end += chunk.len() as u64;
        Ok(())
    })();
    if written.is_err() {
        // Read the file again next time.
        *known = None;
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(c: &Option<Contents>) -> Vec<&str> {
        c.as_ref().map_or(vec![], |c| c.lines.lines().collect())
    }

    #[test]
    fn chunks_add_only_forms_the_file_lacks_and_read_back_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE);
        assert!(read(&path).is_none(), "no file, no vocabulary");
        let mut known = None;
        append(
            &path,
            &mut known,
            "saken\tsak\nbarnehagen\tbarnehage\tbarn\thage\n",
        )
        .unwrap();
        append(&path, &mut known, "saken\tsak\nfant\tfinne\n").unwrap();
        // A writer that starts afresh reads what is there.
        let mut other = None;
        append(&path, &mut other, "fant\tfinne\nvar\tvære\n").unwrap();
        assert_eq!(
            lines(&read(&path)),
            [
                "saken\tsak",
                "barnehagen\tbarnehage\tbarn\thage",
                "fant\tfinne",
                "var\tvære"
            ]
        );
        let c = read(&path).unwrap();
        assert_eq!(c.end, std::fs::metadata(&path).unwrap().len());
        assert_eq!(
            forms(&c.lines).collect::<Vec<_>>(),
            ["saken", "barnehagen", "fant", "var"]
        );
    }

    #[test]
    fn a_torn_or_damaged_chunk_is_dropped_and_the_chunks_before_it_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE);
        let mut known = None;
        append(&path, &mut known, "saken\tsak\n").unwrap();
        let first = std::fs::metadata(&path).unwrap().len();
        append(&path, &mut known, "fant\tfinne\n").unwrap();
        let whole = std::fs::read(&path).unwrap();
        // Every cut and every changed byte of the second chunk: the first
        // chunk stays, nothing panics.
        for cut in first as usize..whole.len() {
            std::fs::write(&path, &whole[..cut]).unwrap();
            assert_eq!(lines(&read(&path)), ["saken\tsak"], "cut at {cut}");
        }
        for at in first as usize..whole.len() {
            let mut b = whole.clone();
            b[at] ^= 0x20;
            std::fs::write(&path, &b).unwrap();
            assert_eq!(lines(&read(&path)), ["saken\tsak"], "byte {at} changed");
        }
        // A writer drops the torn tail before it adds its chunk.
        std::fs::write(&path, &whole[..whole.len() - 3]).unwrap();
        append(&path, &mut None, "var\tvære\n").unwrap();
        assert_eq!(lines(&read(&path)), ["saken\tsak", "var\tvære"]);
        // A damaged header: no vocabulary, and the next writer starts afresh.
        let mut b = std::fs::read(&path).unwrap();
        b[3] ^= 1;
        std::fs::write(&path, &b).unwrap();
        assert!(read(&path).is_none());
        append(&path, &mut None, "fant\tfinne\n").unwrap();
        assert_eq!(lines(&read(&path)), ["fant\tfinne"]);
    }

    #[test]
    fn a_writer_whose_file_was_removed_starts_it_afresh() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE);
        let mut known = None;
        append(&path, &mut known, "saken\tsak\nfant\tfinne\n").unwrap();
        std::fs::remove_file(&path).unwrap();
        append(&path, &mut known, "var\tvære\n").unwrap();
        assert_eq!(lines(&read(&path)), ["var\tvære"]);
        append(&path, &mut known, "saken\tsak\n").unwrap();
        assert_eq!(lines(&read(&path)), ["var\tvære", "saken\tsak"]);
    }

    #[test]
    fn a_vocabulary_of_another_analysis_version_is_not_read_and_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE);
        append_as(&path, &mut None, "er\tvær\n", ANALYSIS_VERSION - 1).unwrap();
        assert!(read(&path).is_none());
        append(&path, &mut None, "er\tvære\n").unwrap();
        assert_eq!(lines(&read(&path)), ["er\tvære"]);
    }
}
