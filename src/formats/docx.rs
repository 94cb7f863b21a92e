//! DOCX text extraction: the paragraphs of `word/document.xml`, with heading and
//! list styles. Reads the zip from memory with bounded decompression.

use super::blocks::DocxParagraph;
use super::FormatError;
use quick_xml::events::Event;
use std::io::Read;

/// A DOCX whose main part inflates beyond this is refused (zip bombs).
pub const MAX_DOCUMENT_XML: u64 = 64 * 1024 * 1024;

pub(super) fn paragraphs(bytes: &[u8]) -> Result<Vec<DocxParagraph>, FormatError> {
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes))
        .map_err(|e| FormatError::new(format!("not a docx (zip) file: {e}")))?;
    let mut entry = zip
        .by_name("word/document.xml")
        .map_err(|_| FormatError::new("not a docx file: word/document.xml is missing"))?;
    let mut xml = Vec::new();
    (&mut entry)
        .take(MAX_DOCUMENT_XML + 1)
        .read_to_end(&mut xml)
        .map_err(|e| FormatError::new(format!("word/document.xml: cannot inflate: {e}")))?;
    if xml.len() as u64 > MAX_DOCUMENT_XML {
        return Err(FormatError::new(format!(
            "word/document.xml inflates beyond {} MiB (zip bomb?)",
            MAX_DOCUMENT_XML / 1024 / 1024
        )));
    }
    parse_document_xml(&xml)
}

fn parse_document_xml(xml: &[u8]) -> Result<Vec<DocxParagraph>, FormatError> {
    let mut reader = quick_xml::Reader::from_reader(xml);
    let mut out = Vec::new();
    let mut cur: Option<DocxParagraph> = None;
    let mut in_text = false;
    let mut buf = Vec::new();
    let line_of = |pos: u64| {
        xml[..(pos as usize).min(xml.len())]
            .iter()
            .filter(|b| **b == b'\n')
            .count()
            + 1
    };
    loop {
        let pos = reader.buffer_position();
        let ev = reader.read_event_into(&mut buf).map_err(|e| {
            FormatError::at(line_of(pos), format!("word/document.xml: bad xml: {e}"))
        })?;
        match ev {
            Event::Start(e) | Event::Empty(e) => {
                let name = e.name();
                match name.as_ref() {
                    "w:p" => {
                        if let Some(p) = cur.take() {
                            out.push(p);
                        }
                        cur = Some(DocxParagraph {
                            text: String::new(),
                            heading: None,
                            list_item: false,
                        });
                    }
                    "w:t" => in_text = true,
                    "w:tab" => {
                        if let Some(p) = &mut cur {
                            p.text.push('\t');
                        }
                    }
                    "w:br" | "w:cr" => {
                        if let Some(p) = &mut cur {
                            p.text.push('\n');
                        }
                    }
                    "w:numPr" => {
                        if let Some(p) = &mut cur {
                            p.list_item = true;
                        }
                    }
                    "w:pStyle" => {
                        for a in e.attributes().flatten() {
                            if a.key.as_ref() == "w:val" {
                                let v = a.value.to_lowercase();
                                let level = heading_level(&v);
                                if let Some(p) = &mut cur {
                                    if level.is_some() {
                                        p.heading = level;
                                    } else if v.contains("list") || v.contains("liste") {
                                        p.list_item = true;
                                    }
                                }
                            }
                        }
                    }
                    _ => {}
                }
            }
            Event::Text(t) if in_text => {
                if let Some(p) = &mut cur {
                    p.text.push_str(&t.into_inner());
                }
            }
            Event::GeneralRef(r) if in_text => {
                if let Some(p) = &mut cur {
                    let name = r.into_inner();
                    let ch = match name.as_ref() {
                        "amp" => Some('&'),
                        "lt" => Some('<'),
                        "gt" => Some('>'),
                        "quot" => Some('"'),
                        "apos" => Some('\''),
                        n => n
                            .strip_prefix("#x")
                            .and_then(|h| u32::from_str_radix(h, 16).ok())
                            .or_else(|| n.strip_prefix('#').and_then(|d| d.parse().ok()))
                            .and_then(char::from_u32),
                    };
                    if let Some(c) = ch {
                        p.text.push(c);
                    }
                }
            }
            Event::End(e) => match e.name().as_ref() {
                "w:t" => in_text = false,
                "w:p" => {
                    if let Some(p) = cur.take() {
                        out.push(p);
                    }
                }
                _ => {}
            },
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    if let Some(p) = cur.take() {
        out.push(p);
    }
    Ok(out)
}

fn heading_level(style: &str) -> Option<u8> {
    let rest = style
        .strip_prefix("heading")
        .or_else(|| style.strip_prefix("overskrift"))
        .or_else(|| (style == "title" || style == "tittel").then_some("1"))?;
    rest.trim().parse().ok().or(Some(1))
}
