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

fn speaker_prefix_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"^(?:\[([^\]]{1,60})\]|(\p{Lu}[\p{L}\p{M}.'’ ()\-]{0,58}?)):[ \t]+").unwrap()
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

/// Split cue text into its speaker (from a voice tag or a `Name:` prefix) and plain text.
fn speaker_and_text(raw: &str) -> (Option<String>, String) {
    let mut speaker = voice_re().captures(raw).and_then(|c| clean_speaker(&c[1]));
    let plain = unescape(&tag_re().replace_all(raw, ""));
    let mut plain = plain.split_whitespace().collect::<Vec<_>>().join(" ");
    if speaker.is_none() {
        if let Some(c) = speaker_prefix_re().captures(&plain) {
            let name = c.get(1).or(c.get(2)).unwrap().as_str();
            if name.split_whitespace().count() <= 5 {
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
