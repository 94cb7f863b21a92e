//! Bytes to text: UTF-8 (with or without BOM), UTF-16 with a BOM, and Windows-1252,
//! detected from the bytes rather than guessed. Line endings are normalised to
//! `\n`, so every offset elsewhere counts code points in the normalised text.
//!
//! Also texts held as fixed-width code points (Latin-1, UCS-2, UCS-4: the forms
//! in which Python keeps its strings), checked and written out as UTF-8 one at a
//! time, as each is read.
//! And the UTF-8 continuation-byte masks that the parsers and the matcher use to
//! turn byte offsets into code-point offsets eight bytes at a time.
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

/// Whether `b` continues a UTF-8 sequence (10xxxxxx) rather than starting one.
#[inline]
pub(crate) fn is_continuation(b: u8) -> bool {
    b & 0xC0 == 0x80
}

/// The top bit of each continuation byte of an 8-byte block of UTF-8, as a
/// mask: bit 7 set and bit 6, shifted up into bit 7's place, clear. Moving
/// between byte and code-point offsets reads text eight bytes at a time with it.
#[inline]
pub(crate) fn continuation_marks(block: &[u8]) -> u64 {
    let w = u64::from_le_bytes(block.try_into().expect("eight bytes"));
    w & !(w << 1) & 0x8080_8080_8080_8080
}

/// Bit `k` set when byte `k` of a 16-byte block of UTF-8 continues a code point:
/// one compare for the whole block where SSE2 is there (every x86_64), else
/// eight bytes at a time.
#[inline]
pub(crate) fn continuation_bits(block: &[u8; 16]) -> u16 {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::*;
        // SAFETY: SSE2 is part of every x86_64 target, and the load reads the
        // block's 16 bytes, unaligned.
        unsafe {
            let v = _mm_loadu_si128(block.as_ptr() as *const __m128i);
            // 0x80..=0xBF are the signed bytes below -64.
            _mm_movemask_epi8(_mm_cmplt_epi8(v, _mm_set1_epi8(-64))) as u16
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        continuation_bits_portable(block)
    }
}

/// [`continuation_bits`] without SSE2.
#[cfg(any(test, not(target_arch = "x86_64")))]
fn continuation_bits_portable(block: &[u8; 16]) -> u16 {
    // Each byte's mark (bit 7) gathered into one bit per byte.
    let gather =
        |half: &[u8]| (continuation_marks(half) >> 7).wrapping_mul(0x0102_0408_1020_4080) >> 56;
    (gather(&block[..8]) | gather(&block[8..]) << 8) as u16
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
    // `contains` finds a byte a word at a time; the position is wanted only
    // for the error.
    if bytes.contains(&0) {
        let pos = bytes.iter().position(|b| *b == 0).unwrap_or_default();
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
    // Without branches (`&` of the comparisons, not `&&`), so that the count is
    // made many bytes at a time: a file's every byte goes through here.
    let control = |b: u8| (b < 0x20) & (b != b'\n') & (b != b'\r') & (b != b'\t') & (b != 0x0c);
    let controls: usize = sample
        .chunks(255)
        .map(|c| usize::from(c.iter().map(|&b| u8::from(control(b))).sum::<u8>()))
        .sum();
    controls * 20 > sample.len()
}

/// CRLF and lone CR become LF.
pub fn normalise_newlines(s: &str) -> String {
    if !s.contains('\r') {
        return s.to_string();
    }
    s.replace("\r\n", "\n").replace('\r', "\n")
}

/// A text held as fixed-width code points: one byte each (Latin-1), two (UCS-2,
/// the Basic Multilingual Plane) or four (UCS-4).
#[derive(Debug, Clone, Copy)]
pub enum CodePoints<'a> {
    Latin1(&'a [u8]),
    Ucs2(&'a [u16]),
    Ucs4(&'a [u32]),
}

/// A code point with no UTF-8 form (a surrogate, or one past U+10FFFF): which
/// text of a batch, which code point of it, and its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotUnicode {
    pub text: usize,
    pub at: usize,
    pub code_point: u32,
}

impl std::fmt::Display for NotUnicode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = if (0xD800..0xE000).contains(&self.code_point) {
            "a lone surrogate"
        } else {
            "a code point past U+10FFFF"
        };
        write!(
            f,
            "text {} is not valid unicode: {what}, U+{:04X}, at character {}",
            self.text, self.code_point, self.at
        )
    }
}

impl CodePoints<'_> {
    /// Bytes the UTF-8 form takes at most.
    fn max_utf8_len(&self) -> usize {
        match self {
            CodePoints::Latin1(s) => s.len() * 2,
            CodePoints::Ucs2(s) => s.len() * 3,
            CodePoints::Ucs4(s) => s.len() * 4,
        }
    }

    /// Writes the UTF-8 form at the start of `out` (at least `max_utf8_len`
    /// long; bytes past the form may be overwritten): its length, or the first
    /// code point with no UTF-8 form as (its index, its value).
    fn write_utf8(&self, out: &mut [u8]) -> Result<usize, (usize, u32)> {
        match self {
            CodePoints::Latin1(s) => Ok(latin1_to_utf8(s, out)),
            CodePoints::Ucs2(s) => ucs2_to_utf8(s, out),
            CodePoints::Ucs4(s) => {
                let mut n = 0;
                for (i, &c) in s.iter().enumerate() {
                    let c = char::from_u32(c).ok_or((i, c))?;
                    n += c.encode_utf8(&mut out[n..]).len();
                }
                Ok(n)
            }
        }
    }
}

/// Norwegian text has a letter beyond ASCII every few words: the runs between
/// them are copied sixteen bytes at a time (all sixteen written, as many kept as
/// are ASCII), and each other letter written on its own.
fn latin1_to_utf8(s: &[u8], out: &mut [u8]) -> usize {
    const HIGH: u128 = u128::from_ne_bytes([0x80; 16]);
    let (mut i, mut n) = (0, 0);
    while i < s.len() {
        if let Some(chunk) = s.get(i..i + 16) {
            // `out` has room for two bytes per code point, so for sixteen more
            // wherever sixteen code points are left.
            out[n..n + 16].copy_from_slice(chunk);
            let high = u128::from_le_bytes(chunk.try_into().expect("16 bytes")) & HIGH;
            let ascii = if high == 0 {
                16
            } else {
                high.trailing_zeros() as usize / 8
            };
            i += ascii;
            n += ascii;
            if ascii == 16 {
                continue;
            }
        }
        n += char::from(s[i]).encode_utf8(&mut out[n..]).len();
        i += 1;
    }
    n
}

/// As [`latin1_to_utf8`], eight code units at a time; a surrogate, which has
/// no UTF-8 form (in UCS-2 two of them side by side are still two code
/// points), is returned as (its index, its value).
fn ucs2_to_utf8(s: &[u16], out: &mut [u8]) -> Result<usize, (usize, u32)> {
    const HIGH: u128 = 0xFF80_FF80_FF80_FF80_FF80_FF80_FF80_FF80;
    let (mut i, mut n) = (0, 0);
    while i < s.len() {
        if let Some(chunk) = s.get(i..i + 8) {
            // Room for three bytes per code point: eight more are there.
            for (o, &u) in out[n..n + 8].iter_mut().zip(chunk) {
                *o = u as u8;
            }
            let mut word = 0u128;
            for (k, &u) in chunk.iter().enumerate() {
                word |= u128::from(u) << (16 * k);
            }
            let high = word & HIGH;
            let ascii = if high == 0 {
                8
            } else {
                high.trailing_zeros() as usize / 16
            };
            i += ascii;
            n += ascii;
            if ascii == 8 {
                continue;
            }
        }
        let u = u32::from(s[i]);
        n += char::from_u32(u)
            .ok_or((i, u))?
            .encode_utf8(&mut out[n..])
            .len();
        i += 1;
    }
    Ok(n)
}

/// A text as its holder keeps it: UTF-8 already, or code points that are
/// written as UTF-8 only when the text is read ([`Text::utf8`]), into a buffer
/// the reader reuses. A batch of texts is then never copied whole: its reader
/// holds one text's UTF-8 at a time.
#[derive(Debug, Clone, Copy)]
pub enum Text<'a> {
    Utf8(&'a str),
    Points(CodePoints<'a>),
}

impl Text<'_> {
    /// The length of the UTF-8 form in bytes, or the first code point that has
    /// none, as (its index, its value).
    pub fn utf8_len(&self) -> Result<usize, (usize, u32)> {
        match self {
            Text::Utf8(s) => Ok(s.len()),
            Text::Points(p) => p.utf8_len(),
        }
    }

    /// Code units held: the UTF-8 length of a UTF-8 text, the number of code
    /// points of the others (a lower bound of their UTF-8 length, known without
    /// reading them).
    pub fn units(&self) -> usize {
        match self {
            Text::Utf8(s) => s.len(),
            Text::Points(CodePoints::Latin1(s)) => s.len(),
            Text::Points(CodePoints::Ucs2(s)) => s.len(),
            Text::Points(CodePoints::Ucs4(s)) => s.len(),
        }
    }

    /// The text as UTF-8: itself, or its code points written into `buf`; or
    /// the first code point that has no UTF-8 form, as (its index, its value).
    pub fn utf8<'b>(&'b self, buf: &'b mut Vec<u8>) -> Result<&'b str, (usize, u32)> {
        match self {
            Text::Utf8(s) => Ok(s),
            Text::Points(p) => p.utf8_into(buf),
        }
    }

    /// [`Text::utf8`], with U+FFFD for a code point that has no UTF-8 form,
    /// which keeps every other character at its place.
    pub fn utf8_lossy<'b>(&'b self, buf: &'b mut Vec<u8>) -> &'b str {
        match self {
            Text::Utf8(s) => s,
            Text::Points(p) => p.utf8_lossy_into(buf),
        }
    }
}

impl CodePoints<'_> {
    /// The length of the UTF-8 form in bytes, or the first code point that has
    /// none, as (its index, its value).
    pub fn utf8_len(&self) -> Result<usize, (usize, u32)> {
        let mut n = 0;
        for (i, c) in self.code_points().enumerate() {
            n += char::from_u32(c).ok_or((i, c))?.len_utf8();
        }
        Ok(n)
    }

    /// The UTF-8 form written into `buf`, whose room is kept for the next text
    /// (it only grows); or the first code point that has none, as (its index,
    /// its value).
    pub fn utf8_into<'b>(&self, buf: &'b mut Vec<u8>) -> Result<&'b str, (usize, u32)> {
        let n = self.write_utf8(self.room(buf))?;
        // SAFETY: `write_utf8` wrote `n` bytes of whole UTF-8 sequences (it
        // refuses a code point without one).
        Ok(unsafe { std::str::from_utf8_unchecked(&buf[..n]) })
    }

    /// [`CodePoints::utf8_into`], with U+FFFD for a code point without a UTF-8 form.
    pub fn utf8_lossy_into<'b>(&self, buf: &'b mut Vec<u8>) -> &'b str {
        let room = self.room(buf);
        let n = self.write_utf8(room).unwrap_or_else(|_| {
            // Rare: character by character (U+FFFD is three bytes, no more
            // than the room of any code point).
            let mut n = 0;
            for c in self.chars() {
                n += c.encode_utf8(&mut room[n..]).len();
            }
            n
        });
        // SAFETY: `write_utf8`, or the loop, wrote `n` bytes of whole UTF-8 sequences.
        unsafe { std::str::from_utf8_unchecked(&buf[..n]) }
    }

    /// The first `max_utf8_len` bytes of `buf`, which grows to hold them.
    fn room<'b>(&self, buf: &'b mut Vec<u8>) -> &'b mut [u8] {
        let max = self.max_utf8_len();
        if buf.len() < max {
            buf.resize(max, 0);
        }
        &mut buf[..max]
    }

    /// The characters, U+FFFD for a code point without a UTF-8 form.
    fn chars(&self) -> impl Iterator<Item = char> + '_ {
        self.code_points()
            .map(|c| char::from_u32(c).unwrap_or(char::REPLACEMENT_CHARACTER))
    }

    /// The code points, as they are held.
    fn code_points(&self) -> Box<dyn Iterator<Item = u32> + '_> {
        match self {
            CodePoints::Latin1(s) => Box::new(s.iter().map(|&b| u32::from(b))),
            CodePoints::Ucs2(s) => Box::new(s.iter().map(|&u| u32::from(u))),
            CodePoints::Ucs4(s) => Box::new(s.iter().copied()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continuation_bits_mark_every_continuation_byte_and_no_other() {
        // Every byte value at every place of a block, among bytes of each kind.
        for fill in [b'a', 0x80, 0xBF, 0xC3, 0xFF] {
            for at in 0..16 {
                for b in 0..=255u8 {
                    let mut block = [fill; 16];
                    block[at] = b;
                    let want = block
                        .iter()
                        .enumerate()
                        .fold(0u16, |m, (k, &x)| m | u16::from(is_continuation(x)) << k);
                    assert_eq!(continuation_bits(&block), want, "{block:?}");
                    assert_eq!(continuation_bits_portable(&block), want, "{block:?}");
                }
            }
        }
    }

    #[test]
    fn binary_looking_text_is_counted_as_byte_by_byte() {
        let reference = |bytes: &[u8]| {
            let sample = &bytes[..bytes.len().min(1 << 20)];
            let controls = sample
                .iter()
                .filter(|b| **b < 0x20 && !matches!(**b, b'\n' | b'\r' | b'\t' | 0x0c))
                .count();
            controls * 20 > sample.len()
        };
        let mut seed = 11u64;
        let mut next = move || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) as u8
        };
        let (mut binary, mut text) = (0, 0);
        for len in (0..3000).step_by(37) {
            // From no control bytes to one in four, around the one-in-twenty line.
            for every in [0u8, 4, 19, 20, 21, 40] {
                let bytes: Vec<u8> = (0..len)
                    .map(|_| {
                        let b = next();
                        if every > 0 && b % every == 0 {
                            b % 0x20
                        } else {
                            b'a' + b % 26
                        }
                    })
                    .collect();
                assert_eq!(looks_binary(&bytes), reference(&bytes), "{len} {every}");
                if reference(&bytes) {
                    binary += 1;
                } else {
                    text += 1;
                }
            }
        }
        assert!(binary > 50 && text > 50, "{binary} {text}");
    }

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

    /// Code points near every boundary of the UTF-8 lengths, with runs of
    /// ASCII long enough for the encoders' word-at-a-time paths.
    fn sample_code_points(seed: u32, n: usize, max: u32) -> Vec<u32> {
        let edges = [
            0x41, 0x7F, 0x80, 0xE6, 0xFF, 0x100, 0x7FF, 0x800, 0x2013, 0xD7FF, 0xE000, 0xFFFF,
        ]
        .into_iter()
        .chain([0x10000, 0x1F600, 0x10FFFF])
        .filter(|&c| c <= max)
        .collect::<Vec<u32>>();
        let mut x = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                if !x.is_multiple_of(4) {
                    0x61 + x % 26
                } else {
                    edges[(x / 4) as usize % edges.len()]
                }
            })
            .collect()
    }

    #[test]
    fn code_points_of_every_width_become_the_utf8_of_the_same_characters() {
        let mut latin1 = Vec::new();
        let mut ucs2 = Vec::new();
        let mut ucs4 = Vec::new();
        let mut expected = Vec::new();
        for (seed, n) in [(1, 0), (2, 1), (3, 7), (4, 33), (5, 300), (6, 1000)] {
            let of = |cps: &[u32]| {
                cps.iter()
                    .map(|&c| char::from_u32(c).unwrap())
                    .collect::<String>()
            };
            let l: Vec<u8> = sample_code_points(seed, n, 0xFF)
                .iter()
                .map(|&c| c as u8)
                .collect();
            let u2: Vec<u16> = sample_code_points(seed + 10, n, 0xFFFF)
                .iter()
                .map(|&c| c as u16)
                .collect();
            let u4 = sample_code_points(seed + 20, n, 0x10FFFF);
            expected.push(of(&l.iter().map(|&b| u32::from(b)).collect::<Vec<_>>()));
            expected.push(of(&u2.iter().map(|&u| u32::from(u)).collect::<Vec<_>>()));
            expected.push(of(&u4));
            latin1.push(l);
            ucs2.push(u2);
            ucs4.push(u4);
        }
        let texts: Vec<CodePoints> = (0..latin1.len())
            .flat_map(|i| {
                [
                    CodePoints::Latin1(&latin1[i]),
                    CodePoints::Ucs2(&ucs2[i]),
                    CodePoints::Ucs4(&ucs4[i]),
                ]
            })
            .collect();
        // One buffer for all of them, as a worker reads its texts.
        let mut buf = Vec::new();
        for (i, (t, e)) in texts.iter().zip(&expected).enumerate() {
            let text = Text::Points(*t);
            assert_eq!(text.utf8_len(), Ok(e.len()), "text {i}");
            assert_eq!(text.utf8(&mut buf), Ok(e.as_str()), "text {i}");
            assert_eq!(text.utf8_lossy(&mut buf), e, "text {i}");
        }
        assert_eq!(Text::Utf8("æøå").utf8(&mut buf), Ok("æøå"));
        assert_eq!(Text::Utf8("æøå").utf8_len(), Ok(6));
        assert_eq!(Text::Points(CodePoints::Ucs2(&[])).utf8(&mut buf), Ok(""));
    }

    #[test]
    fn a_code_point_without_utf8_is_named_by_its_place_and_read_as_a_replacement() {
        let lone = [0x61u16, 0x62, 0xD83D, 0xDE00, 0xE6];
        let past = [0x61u32, 0x110000, 0x62];
        let low = [0xDC00u32];
        // Two surrogates side by side are two code points in UCS-2, not a pair.
        let text = Text::Points(CodePoints::Ucs2(&lone));
        assert_eq!(text.utf8_len(), Err((2, 0xD83D)));
        let mut buf = Vec::new();
        assert_eq!(text.utf8(&mut buf), Err((2, 0xD83D)));
        assert_eq!(text.utf8_lossy(&mut buf), "ab\u{fffd}\u{fffd}æ");
        let text = Text::Points(CodePoints::Ucs4(&past));
        assert_eq!(text.utf8_len(), Err((1, 0x110000)));
        assert_eq!(text.utf8(&mut buf), Err((1, 0x110000)));
        assert_eq!(text.utf8_lossy(&mut buf), "a\u{fffd}b");
        assert_eq!(
            Text::Points(CodePoints::Ucs4(&low)).utf8_len(),
            Err((0, 0xDC00))
        );
        let e = NotUnicode {
            text: 1,
            at: 2,
            code_point: 0xD83D,
        };
        assert_eq!(
            e.to_string(),
            "text 1 is not valid unicode: a lone surrogate, U+D83D, at character 2"
        );
        let e = NotUnicode {
            text: 1,
            at: 1,
            code_point: 0x110000,
        };
        assert!(e.to_string().contains("past U+10FFFF"), "{e}");
    }
}
