//! Text files as contact centres export them: the encoding a spreadsheet chose and the
//! delimiter it used. Shared by the contact import (`campaign`) and the lead-model reader
//! (`profile`); depends on nothing else in the crate.
//!
//! Excel on a Chinese Windows saves "CSV" in the ANSI code page (GBK, read here as its superset
//! GB18030), "Unicode text" as UTF-16 with a byte-order mark, and "CSV UTF-8" with a UTF-8 BOM.
//! [`decode`] takes all of them and says which it found, so a caller can print it: text is never
//! decoded lossily without a word. NUL bytes near the start mean a binary file (XLS, ZIP, an
//! executable), which gets an error instead of a screen of mojibake.

/// Decoded text and the encoding it was read as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    pub text: String,
    pub encoding: Encoding,
}

/// The encodings [`decode`] recognises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Utf8,
    Utf8Bom,
    Utf16Le,
    Utf16Be,
    Gb18030,
}

impl Encoding {
    /// The name a user knows it by.
    pub fn name(self) -> &'static str {
        match self {
            Encoding::Utf8 => "UTF-8",
            Encoding::Utf8Bom => "UTF-8 (with BOM)",
            Encoding::Utf16Le => "UTF-16LE",
            Encoding::Utf16Be => "UTF-16BE",
            Encoding::Gb18030 => "GB18030/GBK",
        }
    }
}

/// Why bytes are not text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    #[error("looks binary (NUL byte at offset {offset}); export it as CSV")]
    Binary { offset: usize },
    #[error(
        "is neither UTF-8 nor GB18030/GBK text (first undecodable byte at offset {offset}); \
         save it as \"CSV UTF-8\""
    )]
    Undecodable { offset: usize },
}

/// How much of the file is checked for NUL bytes.
const BINARY_PROBE: usize = 64 * 1024;

/// Decodes a text file: UTF-8 (BOM optional), UTF-16 with a BOM, otherwise GB18030.
pub fn decode(bytes: &[u8]) -> Result<Decoded, TextError> {
    if bytes.starts_with(b"\xFF\xFE") || bytes.starts_with(b"\xFE\xFF") {
        let (enc, encoding) = if bytes[0] == 0xFF {
            (encoding_rs::UTF_16LE, Encoding::Utf16Le)
        } else {
            (encoding_rs::UTF_16BE, Encoding::Utf16Be)
        };
        let (text, had_errors) = enc.decode_with_bom_removal(bytes);
        if had_errors {
            return Err(TextError::Undecodable {
                offset: utf16_error_offset(&text),
            });
        }
        return Ok(Decoded {
            text: text.into_owned(),
            encoding,
        });
    }
    let head = &bytes[..bytes.len().min(BINARY_PROBE)];
    if let Some(offset) = memchr::memchr(0, head) {
        return Err(TextError::Binary { offset });
    }
    let (body, bom) = match bytes.strip_prefix(b"\xEF\xBB\xBF") {
        Some(rest) => (rest, true),
        None => (bytes, false),
    };
    match std::str::from_utf8(body) {
        Ok(s) => Ok(Decoded {
            text: s.to_owned(),
            encoding: if bom {
                Encoding::Utf8Bom
            } else {
                Encoding::Utf8
            },
        }),
        // A BOM promises UTF-8: bad bytes after it are damage, not another encoding.
        Err(e) if bom => Err(TextError::Undecodable {
            offset: e.valid_up_to() + 3,
        }),
        // Non-ASCII UTF-8 before the bad byte: a UTF-8 file with damage. (GBK text fails at
        // its first non-ASCII character, which is almost never a valid UTF-8 sequence.)
        Err(e) if !body[..e.valid_up_to()].is_ascii() => Err(TextError::Undecodable {
            offset: e.valid_up_to(),
        }),
        Err(e) => {
            let (text, had_errors) = encoding_rs::GB18030.decode_without_bom_handling(body);
            if had_errors {
                // Neither decoding is clean: report where UTF-8 broke, the likelier intent.
                return Err(TextError::Undecodable {
                    offset: e.valid_up_to(),
                });
            }
            Ok(Decoded {
                text: text.into_owned(),
                encoding: Encoding::Gb18030,
            })
        }
    }
}

/// Source byte offset (after the 2-byte BOM) of the first U+FFFD in text decoded from UTF-16.
fn utf16_error_offset(text: &str) -> usize {
    let units: usize = text
        .chars()
        .take_while(|&c| c != '\u{FFFD}')
        .map(char::len_utf16)
        .sum();
    2 + units * 2
}

/// The delimiter among `candidates` that occurs most often outside quotes in the header
/// line; the first candidate when none occurs (a one-column file).
pub fn sniff_delimiter(text: &str, candidates: &[u8]) -> u8 {
    let first = text.lines().next().unwrap_or("");
    let mut best = (candidates[0], 0usize);
    for &d in candidates {
        let mut n = 0;
        let mut quoted = false;
        for b in first.bytes() {
            if b == b'"' {
                quoted = !quoted;
            } else if b == d && !quoted {
                n += 1;
            }
        }
        if n > best.1 {
            best = (d, n);
        }
    }
    best.0
}

/// Line numbers of byte offsets in a text, for messages that name a line. A line ends at LF,
/// CRLF or a lone CR (classic Mac files). The `csv` crate's own line counter cannot be used for
/// this: it lags by one on CRLF files (Windows exports) and does not count blank lines.
#[derive(Debug, Clone)]
pub struct LineIndex<'a> {
    bytes: &'a [u8],
    breaks: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    pub fn new(text: &'a str) -> LineIndex<'a> {
        let bytes = text.as_bytes();
        let breaks = memchr::memchr2_iter(b'\n', b'\r', bytes)
            .filter(|&i| bytes[i] == b'\n' || bytes.get(i + 1) != Some(&b'\n'))
            .collect();
        LineIndex { bytes, breaks }
    }

    /// The 1-based line of the byte at `offset`.
    pub fn line_of(&self, offset: usize) -> usize {
        self.breaks.partition_point(|&b| b < offset) + 1
    }

    /// The line a record starting at `offset` is on: the line of its first byte that is not a
    /// line break (a reader may place a record's start on the terminator before it).
    pub fn record_line(&self, offset: usize) -> usize {
        let mut start = offset;
        while matches!(self.bytes.get(start), Some(b'\r' | b'\n')) {
            start += 1;
        }
        self.line_of(start)
    }

    /// The line of the last byte before `end` that is not a line break (`start` at the least).
    pub fn last_line(&self, start: usize, end: usize) -> usize {
        let mut end = end.min(self.bytes.len());
        while end > start && matches!(self.bytes[end - 1], b'\r' | b'\n') {
            end -= 1;
        }
        self.line_of(end.max(start + 1) - 1)
    }

    /// How many lines the text has.
    pub fn lines(&self) -> usize {
        self.breaks.len() + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_encodings_excel_writes() {
        let text = "手机号,姓名\n13800138000,张三\n";
        let gbk = encoding_rs::GBK.encode(text).0;
        let d = decode(&gbk).expect("gbk");
        assert_eq!((d.text.as_str(), d.encoding), (text, Encoding::Gb18030));

        let mut bom = b"\xEF\xBB\xBF".to_vec();
        bom.extend_from_slice(text.as_bytes());
        let d = decode(&bom).expect("utf-8 with bom");
        assert_eq!((d.text.as_str(), d.encoding), (text, Encoding::Utf8Bom));

        let mut utf16 = vec![0xFF, 0xFE];
        for u in text.encode_utf16() {
            utf16.extend_from_slice(&u.to_le_bytes());
        }
        let d = decode(&utf16).expect("utf-16le");
        assert_eq!((d.text.as_str(), d.encoding), (text, Encoding::Utf16Le));

        let d = decode(text.as_bytes()).expect("utf-8");
        assert_eq!(d.encoding, Encoding::Utf8);
    }

    #[test]
    fn binary_and_damaged_files_are_refused() {
        assert_eq!(
            decode(b"\x7fELF\x02\x01\x00\x00"),
            Err(TextError::Binary { offset: 6 })
        );
        // UTF-8 BOM then a byte that is not UTF-8.
        assert_eq!(
            decode(b"\xEF\xBB\xBFab\xFFc"),
            Err(TextError::Undecodable { offset: 5 })
        );
        // UTF-8 Chinese, then a stray byte: damage, not GB18030 mojibake.
        let mut damaged = "姓名\n张三".as_bytes().to_vec();
        damaged.extend_from_slice(b"\xFF\n");
        assert_eq!(decode(&damaged), Err(TextError::Undecodable { offset: 13 }));
        // Valid in neither UTF-8 nor GB18030 (0xFF is never a GB18030 byte).
        assert!(matches!(
            decode(b"phone\n\xFF\xFF\n"),
            Err(TextError::Undecodable { offset: 6 })
        ));
        // Odd-length UTF-16: the dangling byte is damage.
        assert!(matches!(
            decode(b"\xFF\xFEa\x00b"),
            Err(TextError::Undecodable { offset: 4 })
        ));
    }

    #[test]
    fn lines_end_at_lf_crlf_and_a_lone_cr() {
        let idx = LineIndex::new("a\r\nb\rc\nd");
        let text = "a\r\nb\rc\nd";
        let at = |ch: char| text.find(ch).expect("in text");
        assert_eq!(
            [at('a'), at('b'), at('c'), at('d')].map(|o| idx.line_of(o)),
            [1, 2, 3, 4]
        );
        // A record placed on the CRLF before it belongs to the next line.
        assert_eq!(idx.record_line(1), 2);
        assert_eq!(idx.last_line(0, 3), 1);
        assert_eq!(idx.lines(), 4);
    }

    #[test]
    fn delimiters_are_sniffed_outside_quotes() {
        let c = b",;\t|";
        assert_eq!(sniff_delimiter("a;b;c\n1;2;3", c), b';');
        assert_eq!(sniff_delimiter("a\tb\n", c), b'\t');
        assert_eq!(sniff_delimiter("\"x,y\"|b|c\n", c), b'|');
        assert_eq!(sniff_delimiter("phone\n", c), b',');
    }
}
