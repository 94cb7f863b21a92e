//! Segmentation of running text (.txt, .md, and DOCX rendered as markdown) into
//! passages: speaker turns when the text is a transcript, otherwise paragraphs,
//! list items and headings.

use super::{byte_to_char_offsets, FormatError, ParsedDocument, ParsedPassage, PassageKind};
use regex::Regex;
use std::collections::HashMap;
use std::sync::OnceLock;

/// A speaker label at the start of a line. Its name is at most
/// [`LABEL_NAME_CHARS`] characters, which [`label_of`] checks: a bounded
/// repetition of a Unicode class here made the regex some twenty times dearer
/// to build (tens of milliseconds, once per process) and to run.
fn label_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(
            r"^[ \t]{0,3}(?:\[(?P<ts>\d{1,2}:\d{2}(?::\d{2})?(?:[.,]\d{1,3})?)\][ \t]*)?(?:\*\*)?(?P<label>\p{Lu}[\p{L}\p{M}\d.'’ ()\-]*?)(?:\*\*)?:(?:\*\*)?(?:[ \t]+|$)",
        )
        .unwrap()
    })
}

fn heading_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"^(#{1,6})[ \t]+(.*?)[ \t#]*$").unwrap())
}

fn item_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"^[ \t]*(?:[-*+]|\d{1,3}[.)])[ \t]+").unwrap())
}

fn key_value_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    // At most 30 characters between the first letter and the colon, which
    // [`is_key_value`] checks (for the reason [`label_re`] gives).
    RE.get_or_init(|| Regex::new(r"^[\p{L}][\p{L} /]*:[ \t]+\S").unwrap())
}

/// Words that end in a colon in minutes and notes without being speakers.
const NOT_SPEAKERS: &[&str] = &[
    "dato",
    "sted",
    "tid",
    "tidspunkt",
    "til stede",
    "tilstede",
    "forfall",
    "referent",
    "vedtak",
    "konklusjon",
    "oppfølging",
    "oppfylging",
    "ansvar",
    "ansvarlig",
    "frist",
    "sak",
    "tema",
    "merknad",
    "refleksjon",
    "møte",
    "møteleiar",
    "møteleder",
    "kopi",
    "deltakere",
    "deltakarar",
    "deltagere",
    "innkalling",
    "agenda",
    "notat",
    "observatør",
    "observasjon",
    "kontekst",
    "bakgrunn",
    "formål",
    "føremål",
    "mål",
    "neste møte",
    "eksempel",
    "døme",
    "sitat",
    "kilde",
    "kjelde",
    "tlf",
    "telefon",
    "e-post",
    "epost",
    "adresse",
    "status",
    "resultat",
    "kommentar",
    "spørsmål",
    "svar",
    "note",
    "nb",
    "ps",
    "beskrivelse",
    "skildring",
    "vurdering",
    "pd-nivå",
    "nivå",
    "fase",
    "hva",
    "kva",
    "hvem",
    "kven",
    "hvordan",
    "korleis",
    "hvorfor",
    "kvifor",
    "hva vi lærte",
    "kva vi lærte",
    "tiltak",
    "neste steg",
];

/// Labels that mark a turn even when they occur once.
const KNOWN_SPEAKERS: &[&str] = &[
    "i",
    "int",
    "intervjuer",
    "intervjuar",
    "informant",
    "moderator",
    "ordstyrer",
];

struct Line<'a> {
    start: usize,
    text: &'a str,
    number: usize,
}

struct Label<'a> {
    name: &'a str,
    body_start: usize,
    ts: Option<u64>,
}

fn parse_clock(ts: &str) -> Option<u64> {
    let (main, frac) = match ts.find(['.', ',']) {
        Some(i) => (&ts[..i], &ts[i + 1..]),
        None => (ts, ""),
    };
    let parts: Vec<u64> = main
        .split(':')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    let secs = match parts.as_slice() {
        [m, s] => m * 60 + s,
        [h, m, s] => h * 3600 + m * 60 + s,
        _ => return None,
    };
    let ms = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<3}")[..3].parse().ok()?
    };
    Some(secs * 1000 + ms)
}

fn label_of<'a>(line: &Line<'a>) -> Option<Label<'a>> {
    // A label's colon comes within the first few hundred bytes (a timestamp and
    // at most 80 characters of name); most lines have none there, and the
    // regex with its captures is slow by comparison.
    let head = &line.text.as_bytes()[..line.text.len().min(LABEL_COLON_BYTES)];
    if !head.contains(&b':') {
        return None;
    }
    let caps = label_re().captures(line.text)?;
    let m = caps.name("label")?;
    // The colon is the line's first: a longer name would have no match at all.
    if m.as_str().chars().nth(LABEL_NAME_CHARS).is_some() {
        return None;
    }
    let name = m.as_str().trim();
    if name.chars().count() > super::MAX_LABEL_CHARS || name.split_whitespace().count() > 5 {
        return None;
    }
    let lower = name.to_lowercase();
    if NOT_SPEAKERS.contains(&lower.as_str()) {
        return None;
    }
    let ts = caps.name("ts").and_then(|t| parse_clock(t.as_str()));
    Some(Label {
        name,
        body_start: line.start + caps.get(0).unwrap().end(),
        ts,
    })
}

/// The most characters a speaker label's name has before it is trimmed.
const LABEL_NAME_CHARS: usize = 81;

/// Whether `line` is a header's `Key: value` line: a letter, at most 30 more
/// letters, spaces or slashes, a colon, blanks and something more.
fn is_key_value(line: &str) -> bool {
    // The class before the colon has no colon in it: the match's colon is the
    // line's first.
    key_value_re().is_match(line)
        && line
            .find(':')
            .is_some_and(|colon| line[..colon].chars().nth(31).is_none())
}

/// How far into a line a speaker label's colon can be: 3 spaces, a bracketed
/// timestamp, `**`, 81 characters of at most 4 bytes, `**`.
const LABEL_COLON_BYTES: usize = 3 + 20 + 2 + 81 * 4 + 2 + 1;

/// A line longer than this is not hard-wrapped text.
const LONG_LINE_CHARS: usize = 200;

/// Segment running text. `markdown` turns on headings and list items.
pub(super) fn parse_text(
    text: &str,
    markdown: bool,
) -> Result<(String, Vec<ParsedPassage>), FormatError> {
    let mut lines = Vec::new();
    let mut start = 0;
    for (i, l) in text.split('\n').enumerate() {
        lines.push(Line {
            start,
            text: l,
            number: i + 1,
        });
        start += l.len() + 1;
    }

    // A leading header block ("Title", "Dato: ...", "Sted: ...") is one paragraph.
    let mut header_end = 0;
    let first_block: Vec<&Line> = lines
        .iter()
        .skip_while(|l| l.text.trim().is_empty())
        .take_while(|l| !l.text.trim().is_empty())
        .collect();
    if first_block.len() >= 2 {
        let kv = first_block.iter().skip(1).all(|l| is_key_value(l.text));
        let short = first_block
            .iter()
            .all(|l| l.text.split_whitespace().count() <= 12);
        if kv && short {
            header_end = first_block.last().unwrap().number;
        }
    }

    let is_heading = |l: &Line| markdown && heading_re().is_match(l.text);
    let labels: Vec<Option<Label>> = lines
        .iter()
        .map(|l| {
            if l.number <= header_end || is_heading(l) {
                None
            } else {
                label_of(l)
            }
        })
        .collect();

    // Which labels are speakers: recurring or known, in a text where turns dominate.
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for l in labels.iter().flatten() {
        *counts.entry(l.name).or_default() += 1;
    }
    let is_speaker = |name: &str| {
        counts.get(name).copied().unwrap_or(0) >= 2
            || KNOWN_SPEAKERS.contains(&name.to_lowercase().as_str())
    };
    let speaker_lines = labels
        .iter()
        .flatten()
        .filter(|l| is_speaker(l.name))
        .count();
    let distinct = counts.keys().filter(|n| is_speaker(n)).count();
    let paragraphs = lines
        .iter()
        .enumerate()
        .filter(|(i, l)| {
            !l.text.trim().is_empty() && (*i == 0 || lines[i - 1].text.trim().is_empty())
        })
        .count()
        .max(1);
    let transcript = distinct >= 2 && speaker_lines >= 3 && speaker_lines * 2 >= paragraphs;
    // Text with one paragraph per line (proceedings, exports): almost no blank
    // lines, and lines too long to be hard-wrapped. Each line is then a paragraph.
    let nonblank = lines.iter().filter(|l| !l.text.trim().is_empty()).count();
    let first = lines.iter().position(|l| !l.text.trim().is_empty());
    let last = lines.iter().rposition(|l| !l.text.trim().is_empty());
    let blank = match (first, last) {
        (Some(a), Some(b)) => b + 1 - a - nonblank,
        _ => 0,
    };
    let line_per_paragraph = !markdown
        && blank * 10 < nonblank
        && lines
            .iter()
            .any(|l| l.text.chars().count() > LONG_LINE_CHARS);
    // A label seen once before the first recurring speaker belongs to the header
    // ("Intervjuer: Kari Nordmann (HINN)"), not to a turn.
    let first_recurring = labels
        .iter()
        .position(|l| {
            l.as_ref()
                .is_some_and(|l| counts.get(l.name).copied().unwrap_or(0) >= 2)
        })
        .unwrap_or(usize::MAX);
    let is_turn = |i: usize, name: &str| {
        is_speaker(name) && (i >= first_recurring || counts.get(name).copied().unwrap_or(0) >= 2)
    };

    let mut out: Vec<(usize, usize, ParsedPassage)> = Vec::new(); // byte start, byte end
    let mut section: Option<String> = None;
    let mut current: Option<(usize, usize, ParsedPassage)> = None;
    let flush = |cur: &mut Option<(usize, usize, ParsedPassage)>, out: &mut Vec<_>| {
        if let Some((s, e, p)) = cur.take() {
            if e > s {
                out.push((s, e, p));
            }
        }
    };
    let new_passage = |kind, line: &Line, section: &Option<String>| ParsedPassage {
        start: 0,
        end: 0,
        kind,
        speaker: None,
        t_start_ms: None,
        t_end_ms: None,
        section: section.clone(),
        line: line.number,
    };

    for (i, line) in lines.iter().enumerate() {
        let trimmed_end = line.start + line.text.trim_end().len();
        if line.text.trim().is_empty() {
            // A blank line ends a paragraph; a turn goes on until the next label.
            let in_turn = matches!(&current, Some((_, _, p)) if p.kind == PassageKind::Turn);
            if !in_turn {
                flush(&mut current, &mut out);
            }
            continue;
        }
        if line.number <= header_end {
            match &mut current {
                Some((_, e, _)) => *e = trimmed_end,
                None => {
                    let s = line.start + (line.text.len() - line.text.trim_start().len());
                    current = Some((
                        s,
                        trimmed_end,
                        new_passage(PassageKind::Paragraph, line, &section),
                    ));
                }
            }
            if line.number == header_end {
                flush(&mut current, &mut out);
            }
            continue;
        }
        if let Some(caps) = markdown.then(|| heading_re().captures(line.text)).flatten() {
            flush(&mut current, &mut out);
            let m = caps.get(2).unwrap();
            let title = m.as_str().trim().trim_matches('*').trim().to_string();
            section = (!title.is_empty()).then_some(title);
            let mut p = new_passage(PassageKind::Heading, line, &section);
            p.section = section.clone();
            current = Some((line.start + m.start(), line.start + m.end(), p));
            flush(&mut current, &mut out);
            continue;
        }
        if transcript {
            if let Some(label) = labels[i].as_ref().filter(|l| is_turn(i, l.name)) {
                flush(&mut current, &mut out);
                let mut p = new_passage(PassageKind::Turn, line, &section);
                p.speaker = Some(label.name.to_string());
                p.t_start_ms = label.ts;
                let body = label.body_start.min(trimmed_end);
                current = Some((body, trimmed_end.max(body), p));
                continue;
            }
            if let Some((_, e, p)) = &mut current {
                if p.kind == PassageKind::Turn {
                    *e = trimmed_end;
                    continue;
                }
            }
        }
        let item = markdown.then(|| item_re().find(line.text)).flatten();
        let starts_block = i == 0
            || line_per_paragraph
            || lines[i - 1].text.trim().is_empty()
            || item.is_some()
            || current.is_none();
        if starts_block {
            flush(&mut current, &mut out);
            let (kind, s) = match item {
                Some(m) => (PassageKind::ListItem, line.start + m.end()),
                None => (
                    PassageKind::Paragraph,
                    line.start + (line.text.len() - line.text.trim_start().len()),
                ),
            };
            current = Some((s, trimmed_end, new_passage(kind, line, &section)));
        } else if let Some((_, e, _)) = &mut current {
            *e = trimmed_end;
        }
    }
    flush(&mut current, &mut out);

    let mut offsets: Vec<usize> = out.iter().flat_map(|(s, e, _)| [*s, *e]).collect();
    {
        let mut refs: Vec<&mut usize> = offsets.iter_mut().collect();
        byte_to_char_offsets(text, &mut refs);
    }
    let passages = out
        .into_iter()
        .enumerate()
        .map(|(i, (_, _, mut p))| {
            p.start = offsets[2 * i];
            p.end = offsets[2 * i + 1];
            p
        })
        .collect();
    Ok((text.to_string(), passages))
}

/// A DOCX paragraph as the reader sees it.
pub(super) struct DocxParagraph {
    pub text: String,
    pub heading: Option<u8>,
    pub list_item: bool,
}

/// DOCX text is rendered as markdown (headings `#`, list items `-`) and segmented
/// as markdown; offsets refer to that rendering.
pub(super) fn from_docx(paragraphs: Vec<DocxParagraph>) -> ParsedDocument {
    let mut text = String::new();
    for p in paragraphs.iter().filter(|p| !p.text.trim().is_empty()) {
        if !text.is_empty() {
            text.push_str("\n\n");
        }
        if let Some(level) = p.heading {
            text.push_str(&"#".repeat(level.clamp(1, 6) as usize));
            text.push(' ');
        } else if p.list_item {
            text.push_str("- ");
        }
        // Line breaks inside a paragraph stay line breaks; blank lines would split it.
        let body: Vec<&str> = p
            .text
            .split('\n')
            .filter(|l| !l.trim().is_empty())
            .collect();
        text.push_str(&body.join("\n"));
    }
    let (text, passages) = parse_text(&text, true).expect("markdown segmentation does not fail");
    ParsedDocument {
        text,
        encoding: "docx",
        passages,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_parsing() {
        assert_eq!(parse_clock("01:02"), Some(62_000));
        assert_eq!(parse_clock("1:00:02.5"), Some(3_602_500));
    }
}
