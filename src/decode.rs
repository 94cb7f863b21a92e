//! Bytes to text: UTF-8 (with or without BOM), UTF-16 with a BOM, and Windows-1252,
//! detected from the bytes rather than guessed. Line endings are normalised to
//! `\n`, so every offset elsewhere counts code points in the normalised text.
//!
//! Touches no files; the caller reads them.

use crate::formats::FormatError;

/// Decoded text and the name of the encoding it was read as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    pub text: String,
    pub encoding: &'static str,
}

fn line_of(bytes: &[u8], offset: usize) -> usize {
    bytes[..offset.min(bytes.len())]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

/// `bytes` as UTF-8 text, checked with SIMD instructions (about five times
/// faster than the standard library on Norwegian text, which leaves its ASCII
/// fast path every few words); the error, with where the text stops being
/// valid, is the standard library's.
pub fn utf8(bytes: &[u8]) -> Result<&str, std::str::Utf8Error> {
    simdutf8::basic::from_utf8(bytes).or_else(|_| std::str::from_utf8(bytes))
}

/// Windows-1252 leaves these five bytes undefined.
const CP1252_UNDEFINED: [u8; 5] = [0x81, 0x8d, 0x8f, 0x90, 0x9d];

/// Decode a file's bytes. Errors name the line of the first offending byte.
pub fn decode(bytes: &[u8]) -> Result<Decoded, FormatError> {
    if let Some(rest) = bytes.strip_prefix(b"\xef\xbb\xbf") {
        return match utf8(rest) {
            Ok(s) => Ok(Decoded {
                text: normalise_newlines(s),
                encoding: "utf-8-bom",
            }),
            Err(e) => Err(FormatError::at(
                line_of(rest, e.valid_up_to()),
                "invalid utf-8 after a utf-8 byte-order mark",
            )),
        };
    }
    for (bom, enc, name) in [
        (&b"\xff\xfe"[..], encoding_rs::UTF_16LE, "utf-16le"),
        (&b"\xfe\xff"[..], encoding_rs::UTF_16BE, "utf-16be"),
    ] {
        if bytes.starts_with(bom) {
            let (text, had_errors) = enc.decode_without_bom_handling(&bytes[2..]);
            if had_errors {
                return Err(FormatError::new(format!("invalid {name} text")));
            }
            // A second BOM (written by tools that add one to text that had one) is not text.
            let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
            return Ok(Decoded {
                text: normalise_newlines(text),
                encoding: name,
            });
        }
    }
    if let Some(pos) = bytes.iter().position(|b| *b == 0) {
        let zeros = bytes.iter().filter(|b| **b == 0).count();
        let msg = if zeros * 3 >= bytes.len() {
            "looks like utf-16 without a byte-order mark; save it as utf-8".to_string()
        } else {
            format!("binary data, not text (NUL byte at offset {pos})")
        };
        return Err(FormatError::at(line_of(bytes, pos), msg));
    }
    match utf8(bytes) {
        Ok(_) if looks_binary(bytes) => Err(FormatError::new(
            "binary data, not text (control characters throughout)",
        )),
        Ok(s) => Ok(Decoded {
            text: normalise_newlines(s),
            encoding: "utf-8",
        }),
        Err(e) => {
            // Valid multi-byte UTF-8 sequences before the error mean the file is
            // UTF-8 with damage, not Windows-1252: say so instead of producing mojibake.
            let valid = &bytes[..e.valid_up_to()];
            if valid.iter().any(|b| *b >= 0x80) {
                return Err(FormatError::at(
                    line_of(bytes, e.valid_up_to()),
                    "invalid utf-8 (the file mixes utf-8 with another encoding)",
                ));
            }
            if let Some(pos) = bytes.iter().position(|b| CP1252_UNDEFINED.contains(b)) {
                return Err(FormatError::at(
                    line_of(bytes, pos),
                    format!("neither utf-8 nor windows-1252 (byte 0x{:02x})", bytes[pos]),
                ));
            }
            if looks_binary(bytes) {
                return Err(FormatError::new(
                    "binary data, not text (control characters throughout)",
                ));
            }
            let (text, _) = encoding_rs::WINDOWS_1252.decode_without_bom_handling(bytes);
            Ok(Decoded {
                text: normalise_newlines(&text),
                encoding: "windows-1252",
            })
        }
    }
}

/// More than one byte in twenty is a control character other than tab, line
/// breaks and form feed: not text, whatever its encoding.
fn looks_binary(bytes: &[u8]) -> bool {
    let sample = &bytes[..bytes.len().min(1 << 20)];
    let controls = sample
        .iter()
        .filter(|b| **b < 0x20 && !matches!(**b, b'\n' | b'\r' | b'\t' | 0x0c))
        .count();
    controls * 20 > sample.len()
}

/// CRLF and lone CR become LF.
pub fn normalise_newlines(s: &str) -> String {
    if !s.contains('\r') {
        return s.to_string();
    }
    s.replace("\r\n", "\n").replace('\r', "\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8_checks_agree_with_the_standard_library() {
        let valid = "Blåbærsyltetøy «på» nynorsk: ikkje berre æøå – og 😀, ".repeat(9);
        let mut cases: Vec<Vec<u8>> = vec![Vec::new(), valid.clone().into_bytes()];
        // Every way of cutting a multi-byte character, and stray or overlong
        // bytes, at every place in a text longer than one SIMD block.
        for at in (0..valid.len()).step_by(7) {
            let mut b = valid.clone().into_bytes();
            b.truncate(at);
            cases.push(b.clone());
            for bad in [
                &[0x80u8][..],
                &[0xC3],
                &[0xE2, 0x80],
                &[0xC0, 0xAF],
                &[0xFF],
                &[0xED, 0xA0, 0x80],
            ] {
                let mut c = b.clone();
                c.extend_from_slice(bad);
                c.extend_from_slice(b"og mer tekst etterpaa");
                cases.push(c);
            }
        }
        for c in &cases {
            assert_eq!(utf8(c), std::str::from_utf8(c), "{c:?}");
        }
    }

    #[test]
    fn detects_encodings() {
        assert_eq!(decode("blåbær".as_bytes()).unwrap().encoding, "utf-8");
        assert_eq!(decode(b"\xef\xbb\xbfhei").unwrap().text, "hei");
        let cp = decode(b"bl\xe5b\xe6r \xabsitat\xbb").unwrap();
        assert_eq!(cp.encoding, "windows-1252");
        assert_eq!(cp.text, "blåbær «sitat»");
        assert_eq!(decode(b"a\r\nb\rc").unwrap().text, "a\nb\nc");
        assert!(decode(b"\x00\x01\x02binary\x00").is_err());
        let mixed = ["blå\n".as_bytes(), b"\n\xe5"].concat();
        assert_eq!(decode(&mixed).unwrap_err().line, Some(3));
    }
}
