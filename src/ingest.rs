//! From files on disk to documents ready for the store: walking folders, reading
//! the metadata sidecar, parsing, passage ids, speaker roles. A file that cannot
//! be read becomes an error entry naming the file and line; the batch goes on.
//!
//! Reads files only; writing is the project's job.

use crate::error::{Error, Result};
use crate::formats::{self, Format, MAX_FILE_BYTES};
use crate::store::{NewDocument, NewPassage};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use xxhash_rust::xxh3::xxh3_64;

/// Metadata fields every archive knows; a sidecar may add more.
pub const STANDARD_FIELDS: [&str; 5] = [
    "municipality",
    "date",
    "document_type",
    "participant_role",
    "access_level",
];

/// Labels that mark the interviewer's turns.
const INTERVIEWER_LABELS: &[&str] = &[
    "i",
    "int",
    "intervjuer",
    "intervjuar",
    "interviewer",
    "moderator",
    "spørsmål",
];

/// The metadata sidecar: canonical file path -> fields, and rows that named no file.
pub struct Sidecar {
    pub rows: BTreeMap<PathBuf, BTreeMap<String, String>>,
    pub lines: BTreeMap<PathBuf, usize>,
}

/// CSV records (RFC 4180: quoted fields may hold delimiters, quotes and line
/// breaks), each with the 1-based line it starts on. An unclosed quote is an error
/// naming that line.
pub fn csv_records(
    text: &str,
    delim: char,
) -> std::result::Result<Vec<(usize, Vec<String>)>, usize> {
    let mut out = Vec::new();
    let mut record = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut line = 1;
    let mut start_line = 1;
    let mut chars = text.chars().peekable();
    let mut any = false;
    while let Some(c) = chars.next() {
        if quoted {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    field.push('"');
                    chars.next();
                }
                '"' => quoted = false,
                '\n' => {
                    line += 1;
                    field.push(c);
                }
                _ => field.push(c),
            }
            continue;
        }
        match c {
            '"' if field.trim().is_empty() => {
                field.clear();
                quoted = true;
                any = true;
            }
            c if c == delim => {
                record.push(std::mem::take(&mut field).trim().to_string());
                any = true;
            }
            '\n' => {
                record.push(std::mem::take(&mut field).trim().to_string());
                if any || record.iter().any(|f| !f.is_empty()) {
                    out.push((start_line, std::mem::take(&mut record)));
                } else {
                    record.clear();
                }
                any = false;
                line += 1;
                start_line = line;
            }
            _ => {
                field.push(c);
                any = true;
            }
        }
    }
    if quoted {
        return Err(start_line);
    }
    if any || !field.is_empty() {
        record.push(field.trim().to_string());
        out.push((start_line, record));
    }
    Ok(out)
}

/// Read a metadata CSV (comma or semicolon separated, UTF-8 or Windows-1252) with
/// a `file` column; paths are relative to the CSV's folder. Rows that cannot be
/// read are returned as errors naming the line.
pub fn read_sidecar(path: &Path) -> Result<(Sidecar, Vec<(String, String)>)> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let text = crate::decode::decode(&bytes)
        .map_err(|e| Error::Format {
            path: path.to_path_buf(),
            error: e,
        })?
        .text;
    let base = path.parent().unwrap_or(Path::new("."));
    let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    let delim = if first.matches(';').count() > first.matches(',').count() {
        ';'
    } else {
        ','
    };
    let mut records = csv_records(&text, delim)
        .map_err(|line| Error::Metadata {
            path: path.into(),
            line,
            message: "unclosed quote".into(),
        })?
        .into_iter()
        .filter(|(_, r)| !r.first().is_some_and(|c| c.starts_with('#')));
    let (hline, header) = records.next().ok_or_else(|| Error::Metadata {
        path: path.into(),
        line: 1,
        message: "empty metadata file".into(),
    })?;
    let columns: Vec<String> = header.into_iter().map(|c| c.to_lowercase()).collect();
    let file_col = columns
        .iter()
        .position(|c| c == "file")
        .ok_or_else(|| Error::Metadata {
            path: path.into(),
            line: hline,
            message: "the header has no 'file' column".into(),
        })?;
    let mut sidecar = Sidecar {
        rows: BTreeMap::new(),
        lines: BTreeMap::new(),
    };
    let mut errors = Vec::new();
    let here = |line: usize| format!("{}:{}", path.display(), line);
    for (line, cells) in records {
        if cells.len() != columns.len() {
            errors.push((
                here(line),
                format!(
                    "{} cells where the header has {}",
                    cells.len(),
                    columns.len()
                ),
            ));
            continue;
        }
        let file = base.join(&cells[file_col]);
        let Ok(canon) = file.canonicalize() else {
            errors.push((here(line), format!("no such file: {}", cells[file_col])));
            continue;
        };
        let fields = columns
            .iter()
            .zip(cells)
            .filter(|(c, v)| c.as_str() != "file" && !v.is_empty())
            .map(|(c, v)| (c.clone(), v))
            .collect();
        sidecar.lines.insert(canon.clone(), line);
        sidecar.rows.insert(canon, fields);
    }
    Ok((sidecar, errors))
}

/// A file to ingest and the key it is stored under.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub path: PathBuf,
    pub key: String,
    pub format: Format,
}

fn walk(dir: &Path, root: &Path, out: &mut Vec<Candidate>, errors: &mut Vec<(String, String)>) {
    let mut entries: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(rd) => rd.filter_map(|e| e.ok().map(|e| e.path())).collect(),
        Err(e) => {
            errors.push((dir.display().to_string(), e.to_string().to_lowercase()));
            return;
        }
    };
    entries.sort();
    for p in entries {
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.starts_with('.') || name.starts_with('~') {
            continue;
        }
        if p.is_dir() {
            walk(&p, root, out, errors);
        } else if let Some(format) = Format::from_path(&p) {
            if name.eq_ignore_ascii_case("README.md") {
                continue;
            }
            let rel = p.strip_prefix(root).unwrap_or(&p);
            let key = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy())
                .collect::<Vec<_>>()
                .join("/");
            out.push(Candidate {
                path: p.clone(),
                key,
                format,
            });
        }
    }
}

/// The files named by `paths` (folders are walked; README.md files are skipped).
pub fn collect(paths: &[PathBuf]) -> (Vec<Candidate>, Vec<(String, String)>) {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for p in paths {
        if p.is_dir() {
            walk(p, p, &mut out, &mut errors);
        } else if p.is_file() {
            match Format::from_path(p) {
                Some(format) => out.push(Candidate {
                    path: p.clone(),
                    key: p
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                    format,
                }),
                None => errors.push((
                    p.display().to_string(),
                    "unsupported file type (expected .txt, .md, .docx, .vtt or .srt)".into(),
                )),
            }
        } else {
            errors.push((p.display().to_string(), "no such file or folder".into()));
        }
    }
    (out, errors)
}

pub fn document_id(key: &str) -> String {
    format!("d{:016x}", xxh3_64(key.as_bytes()))
}

fn is_interviewer(label: &str) -> bool {
    let l = label.to_lowercase();
    INTERVIEWER_LABELS.contains(&l.as_str()) || l.contains("(hinn)") || l.starts_with("intervju")
}

/// Read and parse one file into a document. `metadata` comes from the sidecar.
/// Returns `None` when the file and its metadata hash to `existing_hash` (unchanged).
pub fn read_document(
    c: &Candidate,
    metadata: BTreeMap<String, String>,
    existing_hash: Option<&str>,
) -> std::result::Result<Option<NewDocument>, (String, String)> {
    let fail = |msg: String| (c.path.display().to_string(), msg);
    let size = std::fs::metadata(&c.path)
        .map_err(|e| fail(e.to_string().to_lowercase()))?
        .len();
    if size > MAX_FILE_BYTES {
        return Err(fail(format!(
            "file is {} MiB; the limit is {} MiB",
            size >> 20,
            MAX_FILE_BYTES >> 20
        )));
    }
    let bytes = std::fs::read(&c.path).map_err(|e| fail(e.to_string().to_lowercase()))?;
    let meta_json = serde_json::to_string(&metadata).unwrap_or_default();
    let hash = format!(
        "{:016x}{:016x}",
        xxh3_64(&bytes),
        xxh3_64(format!("{}\0{meta_json}", c.format.name()).as_bytes())
    );
    if existing_hash == Some(hash.as_str()) {
        return Ok(None);
    }
    let parsed = formats::parse(c.format, &bytes).map_err(|e| fail(e.to_string()))?;
    if parsed.passages.is_empty() {
        return Err(fail(
            "no text found (the file is empty or holds only markup)".into(),
        ));
    }
    let id = document_id(&c.key);
    let participant_role = metadata.get("participant_role").cloned();
    let mut seen: BTreeMap<u64, u32> = BTreeMap::new();
    let texts = parsed.passage_texts();
    let passages = parsed
        .passages
        .iter()
        .zip(texts)
        .map(|(p, text)| {
            let h = xxh3_64(text.as_bytes());
            let n = seen.entry(h).or_insert(0);
            *n += 1;
            let pid = format!(
                "p{:016x}",
                xxh3_64(format!("{}\0{}\0{}", c.key, h, n).as_bytes())
            );
            let speaker_role = p.speaker.as_ref().map(|s| {
                if is_interviewer(s) {
                    "intervjuer".to_string()
                } else {
                    participant_role
                        .clone()
                        .unwrap_or_else(|| "informant".into())
                }
            });
            NewPassage {
                id: pid,
                kind: p.kind.name().to_string(),
                speaker: p.speaker.clone(),
                speaker_role,
                section: p.section.clone(),
                start: p.start,
                end: p.end,
                t_start_ms: p.t_start_ms,
                t_end_ms: p.t_end_ms,
                line: p.line,
                text,
            }
        })
        .collect();
    let doc = NewDocument {
        id,
        key: c.key.clone(),
        source_path: c.path.display().to_string(),
        format: c.format.name().to_string(),
        encoding: parsed.encoding.to_string(),
        content_hash: hash,
        text: parsed.text,
        metadata,
        passages,
    };
    Ok(Some(doc))
}
