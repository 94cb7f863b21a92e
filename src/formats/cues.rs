//! Timed transcripts: WebVTT (with Teams-style `<v Name>` voice tags) and SRT.
//! Consecutive cues by one speaker are merged into one turn. The document text is
//! rendered as `Speaker: text` paragraphs; passages span the spoken text.

use super::{FormatError, ParsedPassage, PassageKind};
use regex::Regex;
use std::sync::OnceLock;

struct Cue {
    start_ms: u64,
    end_ms: u64,
    speaker: Option<String>,
    text: String,
    line: usize,
}

fn timing_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"^\s*((?:\d{1,3}:)?\d{1,2}:\d{2}[.,]\d{1,3})\s*-->\s*((?:\d{1,3}:)?\d{1,2}:\d{2}[.,]\d{1,3})(?:\s.*)?$")
            .unwrap()
    })
}

fn voice_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"<v(?:\.[^ >]*)?[ \t]+([^>]+)>").unwrap())
}

fn tag_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"</?[a-zA-Z][^>]{0,200}>|<\d[^>]*>").unwrap())
}

/// A speaker named at the start of a cue's text: `[Name]: ` (at most 60
/// characters) or `Name: ` (at most 59), the lengths checked by
/// [`speaker_and_text`]. Bounded repetitions of these classes made the regex
/// some twenty times dearer to build and to run.
fn speaker_prefix_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"^(?:\[([^\]]+)\]|(\p{Lu}[\p{L}\p{M}.'’ ()\-]*?)):[ \t]+").unwrap()
    })
}

fn clock_ms(s: &str) -> Option<u64> {
    let s = s.replace(',', ".");
    let (main, frac) = s.split_once('.')?;
    let parts: Vec<u64> = main
        .split(':')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    let secs = match parts.as_slice() {
        [m, s] if *s < 60 => m * 60 + s,
        [h, m, s] if *m < 60 && *s < 60 => h * 3600 + m * 60 + s,
        _ => return None,
    };
    let ms: u64 = format!("{frac:0<3}")[..3].parse().ok()?;
    Some(secs * 1000 + ms)
}

fn parse_timing(line: &str, number: usize) -> Result<(u64, u64), FormatError> {
    let caps = timing_re()
        .captures(line)
        .ok_or_else(|| FormatError::at(number, format!("bad cue timing {:?}", truncate(line))))?;
    let a = clock_ms(&caps[1]);
    let b = clock_ms(&caps[2]);
    match (a, b) {
        (Some(a), Some(b)) if b >= a => Ok((a, b)),
        (Some(_), Some(_)) => Err(FormatError::at(number, "cue ends before it starts")),
        _ => Err(FormatError::at(
            number,
            format!("bad cue timing {:?}", truncate(line)),
        )),
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(60).collect()
}

fn unescape(s: &str) -> String {
    if !s.contains('&') {
        return s.to_string();
    }
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&nbsp;", " ")
        .replace("&amp;", "&")
}

fn clean_speaker(s: &str) -> Option<String> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    if s.chars().count() > super::MAX_LABEL_CHARS {
        return Some(s.chars().take(super::MAX_LABEL_CHARS).collect::<String>() + "…");
    }
    Some(s.to_string())
}

/// The name in a cue's first voice tag (`<v Name>`, `<v.class Name>`): what
/// `voice_re` captures. A cue that opens with `<v Name>`, as nearly every one
/// of a meeting transcript does, is read without the regex.
fn voice_name(raw: &str) -> Option<&str> {
    if let Some(rest) = raw.strip_prefix("<v") {
        if rest.starts_with([' ', '\t']) {
            if let Some(gt) = rest.find('>') {
                // The regex's `[ \t]+` takes every blank, `([^>]+)` the rest up
                // to the first `>`; a tag of blanks only is left to the regex.
                let name = rest[..gt].trim_start_matches([' ', '\t']);
                if !name.is_empty() {
                    return Some(name);
                }
            }
        }
    }
    voice_re()
        .captures(raw)
        .and_then(|c| c.get(1))
        .map(|m| m.as_str())
}

/// `raw` without its tags: what `tag_re().replace_all(raw, "")` gives. The
/// regex searches every cue twice over (a forward and a reverse scan per tag);
/// this reads each `<` once. A cue with a non-ASCII character right after a
/// `<` (where the regex's `\d` could see a digit of another script) is left to
/// the regex.
fn strip_tags(raw: &str) -> std::borrow::Cow<'_, str> {
    let b = raw.as_bytes();
    if b.windows(2).any(|w| w[0] == b'<' && !w[1].is_ascii()) {
        return tag_re().replace_all(raw, "");
    }
    let mut out = String::new();
    let (mut kept, mut at) = (0, 0);
    while let Some(k) = b[at..].iter().position(|&c| c == b'<') {
        let open = at + k;
        match tag_end(raw, open) {
            Some(end) => {
                out.push_str(&raw[kept..open]);
                kept = end;
                at = end;
            }
            None => at = open + 1,
        }
    }
    if kept == 0 {
        return std::borrow::Cow::Borrowed(raw);
    }
    out.push_str(&raw[kept..]);
    std::borrow::Cow::Owned(out)
}

/// Where a tag that opens at `raw[open]` (a `<`) ends, one past its `>`: a
/// letter after `<` or `</`, then at most 200 characters before the first `>`;
/// or a digit after `<`, then anything up to the first `>`.
fn tag_end(raw: &str, open: usize) -> Option<usize> {
    let s = &raw[open + 1..];
    let body = match s.strip_prefix('/') {
        Some(t) if t.starts_with(|c: char| c.is_ascii_alphabetic()) => Some(t),
        _ if s.starts_with(|c: char| c.is_ascii_alphabetic()) => Some(s),
        _ => None,
    };
    if let Some(t) = body {
        let rest = &t[1..];
        if let Some(gt) = rest.find('>') {
            if rest[..gt].chars().count() <= 200 {
                return Some(raw.len() - rest.len() + gt + 1);
            }
        }
    }
    if s.starts_with(|c: char| c.is_ascii_digit()) {
        return s.find('>').map(|gt| open + 1 + gt + 1);
    }
    None
}

/// The words of `s` joined by single spaces.
fn squeeze_whitespace(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for w in s.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(w);
    }
    out
}

/// Split cue text into its speaker (from a voice tag or a `Name:` prefix) and plain text.
fn speaker_and_text(raw: &str) -> (Option<String>, String) {
    let mut speaker = voice_name(raw).and_then(clean_speaker);
    let plain = unescape(&strip_tags(raw));
    let mut plain = squeeze_whitespace(&plain);
    if speaker.is_none() {
        if let Some(c) = speaker_prefix_re().captures(&plain) {
            // Neither kind of name holds the text after it (a `]`, or a
            // colon): a longer name would have no match at all.
            let (name, most) = match c.get(1) {
                Some(bracketed) => (bracketed.as_str(), 60),
                None => (c.get(2).unwrap().as_str(), 59),
            };
            if name.chars().nth(most).is_none() && name.split_whitespace().count() <= 5 {
                speaker = clean_speaker(name);
                plain = plain[c.get(0).unwrap().end()..].to_string();
            }
        }
    }
    (speaker, plain)
}

fn render(cues: Vec<Cue>) -> (String, Vec<ParsedPassage>) {
    // Merge runs of cues by the same speaker (a cue without a speaker continues the turn).
    let mut turns: Vec<Cue> = Vec::new();
    for cue in cues.into_iter().filter(|c| !c.text.is_empty()) {
        match turns.last_mut() {
            Some(last) if cue.speaker.is_none() || cue.speaker == last.speaker => {
                last.text.push(' ');
                last.text.push_str(&cue.text);
                last.end_ms = last.end_ms.max(cue.end_ms);
            }
            _ => turns.push(cue),
        }
    }
    let mut text = String::new();
    let mut chars = 0usize;
    let mut passages = Vec::new();
    for t in turns {
        if !text.is_empty() {
            text.push_str("\n\n");
            chars += 2;
        }
        if let Some(s) = &t.speaker {
            text.push_str(s);
            text.push_str(": ");
            chars += s.chars().count() + 2;
        }
        let start = chars;
        text.push_str(&t.text);
        chars += t.text.chars().count();
        passages.push(ParsedPassage {
            start,
            end: chars,
            kind: if t.speaker.is_some() {
                PassageKind::Turn
            } else {
                PassageKind::Paragraph
            },
            speaker: t.speaker,
            t_start_ms: Some(t.start_ms),
            t_end_ms: Some(t.end_ms),
            section: None,
            line: t.line,
        });
    }
    (text, passages)
}

pub(super) fn parse_vtt(text: &str) -> Result<(String, Vec<ParsedPassage>), FormatError> {
    let lines: Vec<&str> = text.split('\n').collect();
    let first = lines
        .first()
        .map(|l| l.trim_start_matches('\u{feff}'))
        .unwrap_or("");
    if !first.starts_with("WEBVTT") {
        return Err(FormatError::at(1, "missing WEBVTT header"));
    }
    let mut cues = Vec::new();
    let mut i = 1;
    while i < lines.len() {
        // Skip to the next block.
        if lines[i].trim().is_empty() {
            i += 1;
            continue;
        }
        let block_start = i;
        let mut j = i;
        while j < lines.len() && !lines[j].trim().is_empty() {
            j += 1;
        }
        let block = &lines[i..j];
        i = j;
        let head = block[0].trim();
        if head.starts_with("NOTE") || head == "STYLE" || head == "REGION" {
            continue;
        }
        let (timing_idx, timing) = match block.iter().position(|l| l.contains("-->")) {
            Some(k) if k <= 1 => (k, block[k]),
            _ => {
                return Err(FormatError::at(
                    block_start + 1,
                    format!("expected a cue timing line, found {:?}", truncate(head)),
                ))
            }
        };
        let (start_ms, end_ms) = parse_timing(timing, block_start + timing_idx + 1)?;
        let raw = block[timing_idx + 1..].join("\n");
        let (speaker, text) = speaker_and_text(&raw);
        cues.push(Cue {
            start_ms,
            end_ms,
            speaker,
            text,
            line: block_start + 1,
        });
    }
    Ok(render(cues))
}

pub(super) fn parse_srt(text: &str) -> Result<(String, Vec<ParsedPassage>), FormatError> {
    let lines: Vec<&str> = text.split('\n').collect();
    let mut cues = Vec::new();
    let mut i = 0;
    let mut last_speaker: Option<String> = None;
    while i < lines.len() {
        if lines[i].trim().is_empty() {
            i += 1;
            continue;
        }
        let block_start = i;
        let mut j = i;
        while j < lines.len() && !lines[j].trim().is_empty() {
            j += 1;
        }
        let block = &lines[i..j];
        i = j;
        let number = block[0].trim().trim_start_matches('\u{feff}');
        if number.is_empty() || !number.chars().all(|c| c.is_ascii_digit()) {
            return Err(FormatError::at(
                block_start + 1,
                format!("expected a cue number, found {:?}", truncate(number)),
            ));
        }
        let timing = block
            .get(1)
            .ok_or_else(|| FormatError::at(block_start + 2, "cue has no timing line"))?;
        let (start_ms, end_ms) = parse_timing(timing, block_start + 2)?;
        let raw = block[2..].join("\n");
        let (speaker, text) = speaker_and_text(&raw);
        if speaker.is_some() {
            last_speaker = speaker.clone();
        }
        cues.push(Cue {
            start_ms,
            end_ms,
            speaker: speaker.or(last_speaker.clone()),
            text,
            line: block_start + 1,
        });
    }
    Ok(render(cues))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The hand-written readers of voice tags and tags agree with the
        /// regexes they stand in for, on cues made of tag-like pieces.
        #[test]
        fn voice_names_and_tags_are_read_as_the_regexes_read_them(
            parts in proptest::collection::vec(proptest::sample::select(vec![
                "<", ">", "<v", "<v ", "<v\t", "<v.loud ", "<v.", "</v>", "</", "/", "v", " ",
                "\t", "\n", "Kari", "Ola Nordmann", "<i>", "</i>", "<b.x>", "<1>", "<00:01.000>",
                "<٣>", "æ", "«", "&amp;", "&lt;", "x", "<<", ">>", "<v  >",
            ]), 0..14),
            far in 0usize..4,
        ) {
            let mut raw: String = parts.concat();
            // A tag whose `>` comes 199, 200 or 201 characters after its letter.
            if far > 0 {
                raw.push_str("<b");
                raw.push_str(&"ø".repeat(198 + far));
                raw.push('>');
            }
            let want = voice_re().captures(&raw).map(|c| c.get(1).unwrap().as_str());
            prop_assert_eq!(voice_name(&raw), want, "{:?}", raw);
            prop_assert_eq!(strip_tags(&raw), tag_re().replace_all(&raw, ""), "{:?}", raw);
            prop_assert_eq!(
                squeeze_whitespace(&raw),
                raw.split_whitespace().collect::<Vec<_>>().join(" ")
            );
        }
    }
}
