//! File formats: bytes in, a document's plain text and its passages out.
//! Transcripts become speaker turns (with timestamps where the format has them);
//! notes and minutes become paragraphs, list items and headings.
//!
//! Pure functions: no file system, no store. Offsets are Unicode code points into
//! [`ParsedDocument::text`], end exclusive.

mod blocks;
mod cues;
mod docx;

use crate::decode::{continuation_marks, is_continuation};
use std::fmt;
use std::path::Path;

/// Limits that keep one hostile file from exhausting memory or time.
pub const MAX_FILE_BYTES: u64 = 256 * 1024 * 1024;
pub const MAX_LABEL_CHARS: usize = 60;
/// The largest passage (characters); longer runs of text without a paragraph
/// break or speaker turn are refused, naming the line where the passage starts.
pub const MAX_PASSAGE_CHARS: usize = 1_000_000;

/// A file that cannot be read as its format says. `line` is 1-based.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormatError {
    pub line: Option<usize>,
    pub message: String,
}

impl FormatError {
    pub fn new(message: impl Into<String>) -> Self {
        FormatError {
            line: None,
            message: message.into(),
        }
    }
    pub fn at(line: usize, message: impl Into<String>) -> Self {
        FormatError {
            line: Some(line),
            message: message.into(),
        }
    }
}

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(l) => write!(f, "line {l}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for FormatError {}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    Text,
    Markdown,
    Docx,
    WebVtt,
    Srt,
}

impl Format {
    /// The format a file name's extension says, if we read it.
    pub fn from_path(path: &Path) -> Option<Format> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        Some(match ext.as_str() {
            "txt" | "text" => Format::Text,
            "md" | "markdown" => Format::Markdown,
            "docx" => Format::Docx,
            "vtt" => Format::WebVtt,
            "srt" => Format::Srt,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Format::Text => "txt",
            Format::Markdown => "md",
            Format::Docx => "docx",
            Format::WebVtt => "vtt",
            Format::Srt => "srt",
        }
    }
}

/// What kind of block of a document a passage is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PassageKind {
    Turn,
    Paragraph,
    Heading,
    ListItem,
}

impl PassageKind {
    pub fn name(self) -> &'static str {
        match self {
            PassageKind::Turn => "turn",
            PassageKind::Paragraph => "paragraph",
            PassageKind::Heading => "heading",
            PassageKind::ListItem => "item",
        }
    }
}

/// A passage as a parser sees it. Offsets are code points into the document text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedPassage {
    pub start: usize,
    pub end: usize,
    pub kind: PassageKind,
    pub speaker: Option<String>,
    pub t_start_ms: Option<u64>,
    pub t_end_ms: Option<u64>,
    pub section: Option<String>,
    /// 1-based line in the source where the passage begins (0 for DOCX paragraphs).
    pub line: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedDocument {
    pub text: String,
    pub encoding: &'static str,
    pub passages: Vec<ParsedPassage>,
}

impl ParsedDocument {
    /// The passage's text, by code-point offsets. Walks the text from its start:
    /// for every passage of a document, use [`ParsedDocument::passage_texts`].
    pub fn passage_text(&self, p: &ParsedPassage) -> String {
        self.text
            .chars()
            .skip(p.start)
            .take(p.end - p.start)
            .collect()
    }

    /// The texts of all passages, in one pass over the document when the
    /// passages are in document order (as parsers give them).
    pub fn passage_texts(&self) -> Vec<String> {
        let text = self.text.as_str();
        let bytes = text.as_bytes();
        // (code points that start before the cursor, the cursor's byte): it
        // moves forward, or restarts.
        let mut at = (0usize, 0usize);
        let mut byte_of = |target: usize| -> usize {
            if target < at.0 {
                at = (0, 0);
            }
            // Eight bytes at a time while code point `target` starts after them.
            while let Some(block) = bytes.get(at.1..at.1 + 8) {
                let starts = 8 - continuation_marks(block).count_ones() as usize;
                if at.0 + starts > target {
                    break;
                }
                at = (at.0 + starts, at.1 + 8);
            }
            while let Some(&b) = bytes.get(at.1) {
                if !is_continuation(b) {
                    if at.0 == target {
                        break;
                    }
                    at.0 += 1;
                }
                at.1 += 1;
            }
            at.1
        };
        self.passages
            .iter()
            .map(|p| {
                let a = byte_of(p.start);
                let b = byte_of(p.end);
                text[a..b].to_string()
            })
            .collect()
    }
}

/// Parse a file's bytes as `format`.
pub fn parse(format: Format, bytes: &[u8]) -> Result<ParsedDocument, FormatError> {
    let doc = parse_unchecked(format, bytes)?;
    if let Some(p) = doc
        .passages
        .iter()
        .find(|p| p.end - p.start > MAX_PASSAGE_CHARS)
    {
        return Err(FormatError::at(
            p.line,
            format!(
                "a passage of {} characters without a paragraph break; the limit is {MAX_PASSAGE_CHARS}",
                p.end - p.start
            ),
        ));
    }
    Ok(doc)
}

fn parse_unchecked(format: Format, bytes: &[u8]) -> Result<ParsedDocument, FormatError> {
    match format {
        Format::Docx => {
            let paragraphs = docx::paragraphs(bytes)?;
            Ok(blocks::from_docx(paragraphs))
        }
        _ => {
            let decoded = crate::decode::decode(bytes)?;
            let (text, passages) = match format {
                Format::Text => blocks::parse_text(&decoded.text, false)?,
                Format::Markdown => blocks::parse_text(&decoded.text, true)?,
                Format::WebVtt => cues::parse_vtt(&decoded.text)?,
                Format::Srt => cues::parse_srt(&decoded.text)?,
                Format::Docx => unreachable!(),
            };
            Ok(ParsedDocument {
                text,
                encoding: decoded.encoding,
                passages,
            })
        }
    }
}

/// Converts byte offsets in `text` to code-point offsets; `offsets` need not be
/// sorted. An offset inside a code point counts it (as the one after it would).
pub(crate) fn byte_to_char_offsets(text: &str, offsets: &mut [&mut usize]) {
    let mut order: Vec<usize> = (0..offsets.len()).collect();
    order.sort_by_key(|i| *offsets[*i]);
    let bytes = text.as_bytes();
    let (mut chars, mut byte) = (0usize, 0usize);
    for i in order {
        let target = (*offsets[i]).min(bytes.len());
        chars += count_chars(&bytes[byte.min(target)..target]);
        byte = byte.max(target);
        *offsets[i] = chars;
    }
}

/// The code points that start in `bytes` (its bytes that are not continuation
/// bytes), eight bytes at a time.
fn count_chars(bytes: &[u8]) -> usize {
    let mut blocks = bytes.chunks_exact(8);
    let mut n = 0;
    for block in &mut blocks {
        n += 8 - continuation_marks(block).count_ones() as usize;
    }
    n + blocks
        .remainder()
        .iter()
        .filter(|&&b| !is_continuation(b))
        .count()
}

/// The parse of a file as JSON: `{"encoding", "passages": [...]}` or
/// `{"error": {"line", "message"}}`. Test cases store this shape as their
/// expected output, so that the Rust and Python test runners compare the same thing.
pub fn parse_to_json(path: &Path, bytes: &[u8]) -> serde_json::Value {
    use serde_json::json;
    let Some(format) = Format::from_path(path) else {
        return json!({"error": {"line": null, "message": "unsupported file type"}});
    };
    match parse(format, bytes) {
        Ok(doc) => {
            let texts = doc.passage_texts();
            let passages: Vec<serde_json::Value> = doc
                .passages
                .iter()
                .zip(texts)
                .map(|(p, text)| {
                    json!({
                        "start": p.start,
                        "end": p.end,
                        "kind": p.kind.name(),
                        "speaker": p.speaker,
                        "t_start_ms": p.t_start_ms,
                        "t_end_ms": p.t_end_ms,
                        "section": p.section,
                        "line": p.line,
                        "text": text,
                    })
                })
                .collect();
            json!({"encoding": doc.encoding, "passages": passages})
        }
        Err(e) => json!({"error": {"line": e.line, "message": e.message}}),
    }
}

#[cfg(test)]
mod passage_text_tests {
    use super::*;

    /// Texts of every mix of one-, two-, three- and four-byte code points and
    /// lengths around the eight-byte blocks the conversions read.
    fn mixed_texts() -> Vec<String> {
        let pieces = ["a", "ø", "—", "𝄞", "\n", "Å"];
        let mut seed = 7u64;
        let mut next = move || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) as usize
        };
        (0..200)
            .map(|i| (0..i % 40).map(|_| pieces[next() % pieces.len()]).collect())
            .collect()
    }

    #[test]
    fn byte_offsets_become_the_code_points_that_start_before_them() {
        for text in mixed_texts() {
            let mut offsets: Vec<usize> = (0..=text.len() + 2).rev().collect();
            let expected: Vec<usize> = offsets
                .iter()
                .map(|&b| text.char_indices().filter(|&(i, _)| i < b).count())
                .collect();
            let mut refs: Vec<&mut usize> = offsets.iter_mut().collect();
            byte_to_char_offsets(&text, &mut refs);
            assert_eq!(offsets, expected, "{text:?}");
        }
    }

    #[test]
    fn passage_texts_of_mixed_texts_are_their_code_points() {
        let doc = parse(Format::Text, "Ett avsnitt.\n".as_bytes()).unwrap();
        for text in mixed_texts() {
            let n = text.chars().count();
            let mut d = doc.clone();
            d.text = text.clone();
            // Every span, in order, then backwards (each one a restart).
            let spans: Vec<(usize, usize)> = (0..=n)
                .flat_map(|a| (a..=n).map(move |b| (a, b)))
                .chain((0..=n).rev().map(|a| (a, n)))
                .collect();
            d.passages = spans
                .iter()
                .map(|&(start, end)| ParsedPassage {
                    start,
                    end,
                    ..doc.passages[0].clone()
                })
                .collect();
            let expected: Vec<String> = spans
                .iter()
                .map(|&(a, b)| text.chars().skip(a).take(b - a).collect())
                .collect();
            assert_eq!(d.passage_texts(), expected, "{text:?}");
        }
    }

    #[test]
    fn passage_texts_agree_with_passage_text() {
        let doc = parse(
            Format::Text,
            "Første avsnitt om æøå.\n\nI: «Andre» avsnitt?\n\nInformant: Tredje — ja.\n".as_bytes(),
        )
        .unwrap();
        assert!(doc.passages.len() >= 3);
        let one_by_one: Vec<String> = doc.passages.iter().map(|p| doc.passage_text(p)).collect();
        assert_eq!(doc.passage_texts(), one_by_one);
        // Adjacent, empty and out-of-order passages too.
        let mut d = doc.clone();
        let n = d.text.chars().count();
        d.passages = vec![
            ParsedPassage {
                start: 0,
                end: 3,
                ..doc.passages[0].clone()
            },
            ParsedPassage {
                start: 3,
                end: 3,
                ..doc.passages[0].clone()
            },
            ParsedPassage {
                start: 3,
                end: n,
                ..doc.passages[0].clone()
            },
            ParsedPassage {
                start: 1,
                end: 2,
                ..doc.passages[0].clone()
            },
        ];
        let one_by_one: Vec<String> = d.passages.iter().map(|p| d.passage_text(p)).collect();
        assert_eq!(d.passage_texts(), one_by_one);
    }
}
