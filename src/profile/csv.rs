//! Reading contact lists: the UCI bank file as published (`;`-separated, quoted, CRLF) and
//! ordinary CSVs (`,`, `;` or tab) in the encodings spreadsheets write (UTF-8 with or without a
//! BOM, UTF-16, GB18030/GBK: see [`crate::textfile`]), and the first sheet of an XLSX workbook
//! ([`crate::workbook`]). Owns the [`Table`] type.
//!
//! The delimiter is the one of `;`, `,` and tab that occurs most often outside quotes in the
//! header line. Quoted fields may contain the delimiter, doubled quotes and line breaks. A record
//! whose field count differs from the header's is left out and reported by line in
//! [`Table::skipped`] (never shifted into the wrong columns); the rest load. A file where most
//! records are malformed (a wrong delimiter, not a table) is an error instead.

use super::{ProfileError, Result};

/// A parsed CSV: header names and rows of raw cells (unquoted, untrimmed of inner spaces).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Table {
    pub headers: Vec<String>,
    pub rows: Vec<Vec<String>>,
    /// The source line each row starts on (the header is line 1), for messages.
    pub lines: Vec<usize>,
    /// Records left out because they do not fit the header.
    pub skipped: Vec<Skipped>,
    /// How the file was read, when it came from one: its text encoding (`UTF-8`,
    /// `GB18030/GBK`, …) or the workbook sheet (`XLSX sheet `名单``).
    pub read_as: Option<String>,
}

/// A record left out of a [`Table`].
#[derive(Debug, Clone, PartialEq)]
pub struct Skipped {
    pub line: usize,
    pub reason: String,
}

impl std::fmt::Display for Skipped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.reason)
    }
}

impl Table {
    /// A table built in memory: rows numbered as lines 2, 3, … after the header.
    pub fn new(headers: Vec<String>, rows: Vec<Vec<String>>) -> Table {
        let lines = (2..rows.len() + 2).collect();
        Table {
            headers,
            rows,
            lines,
            ..Table::default()
        }
    }

    /// Index of a column by exact name.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.headers.iter().position(|h| h == name)
    }

    /// Keeps only the rows at `indices` (in that order), with their source lines.
    pub fn subset(&self, indices: &[usize]) -> Table {
        Table {
            headers: self.headers.clone(),
            rows: indices.iter().map(|&i| self.rows[i].clone()).collect(),
            lines: indices
                .iter()
                .map(|&i| self.lines.get(i).copied().unwrap_or(i + 2))
                .collect(),
            skipped: Vec::new(),
            read_as: self.read_as.clone(),
        }
    }

    /// Serialises back to CSV with the given delimiter, quoting where needed.
    pub fn to_csv(&self, delimiter: char) -> String {
        let mut out = String::new();
        let mut line = |cells: &[String]| {
            for (i, c) in cells.iter().enumerate() {
                if i > 0 {
                    out.push(delimiter);
                }
                if c.contains(delimiter) || c.contains('"') || c.contains('\n') || c.contains('\r')
                {
                    out.push('"');
                    out.push_str(&c.replace('"', "\"\""));
                    out.push('"');
                } else {
                    out.push_str(c);
                }
            }
            out.push_str("\r\n");
        };
        line(&self.headers);
        for r in &self.rows {
            line(r);
        }
        out
    }
}

/// Reads and parses a CSV file in any encoding [`crate::textfile::decode`] accepts, or the
/// first sheet of an XLSX workbook.
pub fn read_path(path: &std::path::Path) -> Result<Table> {
    read_path_with(path, &[])
}

/// [`read_path`], taking from a workbook the first sheet whose header has every `wanted` column
/// (a list often sits behind an instructions sheet); the first sheet when none has them all.
pub fn read_path_with(path: &std::path::Path, wanted: &[&str]) -> Result<Table> {
    let bytes = std::fs::read(path).map_err(|source| ProfileError::Io {
        path: path.display().to_string(),
        source,
    })?;
    if crate::workbook::is_xlsx(path, &bytes) {
        return read_workbook(path, bytes, wanted);
    }
    let decoded = crate::textfile::decode(&bytes).map_err(|source| ProfileError::Text {
        path: path.display().to_string(),
        source,
    })?;
    let mut table = parse(&decoded.text)?;
    table.read_as = Some(decoded.encoding.name().to_string());
    Ok(table)
}

/// A sheet of a workbook (see [`read_path_with`]), as a table numbered by sheet rows.
fn read_workbook(path: &std::path::Path, bytes: Vec<u8>, wanted: &[&str]) -> Result<Table> {
    let bad = |message: String| ProfileError::Xlsx {
        path: path.display().to_string(),
        message,
    };
    let mut sheets = crate::workbook::read(bytes).map_err(bad)?;
    let count = sheets.len();
    if count == 0 {
        return Err(bad("every sheet is empty".into()));
    }
    let has_all = |sheet: &crate::workbook::Sheet| {
        wanted
            .iter()
            .all(|w| sheet.header.iter().any(|h| h.trim() == *w))
    };
    let index = sheets.iter().position(has_all).unwrap_or(0);
    let sheet = sheets.swap_remove(index);
    let headers = header_names(
        sheet.header.iter().map(String::as_str),
        sheet.header_row as usize,
    )?;
    let mut table = Table {
        headers,
        read_as: Some(if count > 1 {
            format!("XLSX sheet `{}` ({} of {count})", sheet.name, index + 1)
        } else {
            format!("XLSX sheet `{}`", sheet.name)
        }),
        ..Table::default()
    };
    for r in sheet.rows {
        table.lines.push(r.row as usize);
        table.rows.push(r.cells);
    }
    Ok(table)
}

/// Column names from a header record: trimmed; an unnamed column gets its position as a name;
/// two columns of one name would make every lookup by name ambiguous, so that is an error.
fn header_names<'a>(raw: impl Iterator<Item = &'a str>, line: usize) -> Result<Vec<String>> {
    let headers: Vec<String> = raw
        .enumerate()
        .map(|(i, h)| match h.trim() {
            "" => format!("column{}", i + 1),
            name => name.to_string(),
        })
        .collect();
    for (i, h) in headers.iter().enumerate() {
        if let Some(j) = headers[..i].iter().position(|other| other == h) {
            return Err(ProfileError::Csv {
                line,
                message: format!(
                    "columns {} and {} are both named `{h}`; rename one",
                    j + 1,
                    i + 1
                ),
            });
        }
    }
    Ok(headers)
}

/// Parses CSV text (see the module doc for the accepted dialects).
pub fn parse(text: &str) -> Result<Table> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let delim = crate::textfile::sniff_delimiter(text, b",;\t");
    let mut reader = ::csv::ReaderBuilder::new()
        .delimiter(delim)
        .flexible(true)
        .has_headers(false)
        .from_reader(text.as_bytes());
    let index = crate::textfile::LineIndex::new(text);
    // The next record with its first and last line.
    let mut next_record = || -> Result<Option<(usize, usize, ::csv::StringRecord)>> {
        let mut rec = ::csv::StringRecord::new();
        // Input is a &str, so the reader cannot meet bad UTF-8 or an I/O error; a failure
        // here is still reported rather than unwrapped.
        let more = reader
            .read_record(&mut rec)
            .map_err(|e| ProfileError::Csv {
                line: e
                    .position()
                    .map_or(0, |p| index.record_line(p.byte() as usize)),
                message: e.to_string(),
            })?;
        if !more {
            return Ok(None);
        }
        let start = rec.position().map_or(0, |p| p.byte() as usize);
        let first = index.record_line(start);
        let last = index.last_line(start, reader.position().byte() as usize);
        Ok(Some((first, last, rec)))
    };
    let (header_line, _, header) = next_record()?.ok_or(ProfileError::EmptyCsv)?;
    let headers = header_names(header.iter(), header_line)?;
    let mut table = Table {
        headers,
        ..Table::default()
    };
    while let Some((line, last, rec)) = next_record()? {
        if rec.len() == table.headers.len() {
            table.rows.push(rec.iter().map(str::to_string).collect());
            table.lines.push(line);
            continue;
        }
        // A record spanning several lines usually means a quote opened and never closed.
        let span = if last > line + 1 {
            format!(" (the record runs to line {last}: an unclosed quote?)")
        } else {
            String::new()
        };
        table.skipped.push(Skipped {
            line,
            reason: format!(
                "{} fields, but the header has {} (delimiter `{}`){span}",
                rec.len(),
                table.headers.len(),
                (delim as char).escape_default()
            ),
        });
    }
    if let Some(first) = table.skipped.first() {
        if table.skipped.len() > table.rows.len() {
            return Err(ProfileError::Csv {
                line: first.line,
                message: format!(
                    "{} of {} records do not match the header ({}) — is this the right file \
                     and delimiter?",
                    table.skipped.len(),
                    table.skipped.len() + table.rows.len(),
                    first.reason
                ),
            });
        }
    }
    Ok(table)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bank_dialect_with_quotes_and_crlf() {
        let t = parse("\"age\";\"job\"\r\n56;\"house;maid\"\r\n57;\"say \"\"hi\"\"\"\r\n")
            .expect("valid CSV");
        assert_eq!(t.headers, vec!["age", "job"]);
        assert_eq!(t.rows[0], vec!["56", "house;maid"]);
        assert_eq!(t.rows[1], vec!["57", "say \"hi\""]);
        assert_eq!(t.lines, vec![2, 3]);
    }

    #[test]
    fn comma_dialect_without_final_newline() {
        let t = parse("a,b\n1,2\n3,").expect("valid CSV");
        assert_eq!(t.rows, vec![vec!["1", "2"], vec!["3", ""]]);
    }

    #[test]
    fn ragged_lines_are_skipped_by_line_and_the_rest_load() {
        let t = parse("a;b\n1;2\n3\n\n4;5;6\n7;8\n").expect("mostly valid CSV");
        assert_eq!(t.rows, vec![vec!["1", "2"], vec!["7", "8"]]);
        assert_eq!(t.lines, vec![2, 6]);
        let lines: Vec<usize> = t.skipped.iter().map(|s| s.line).collect();
        assert_eq!(lines, vec![3, 5]);
        assert!(t.skipped[0]
            .reason
            .contains("1 fields, but the header has 2"));
    }

    #[test]
    fn classic_mac_line_endings_number_lines_too() {
        let t = parse("a;b\r1;2\r3\r4;5\r").expect("CR-only CSV");
        assert_eq!(t.rows, vec![vec!["1", "2"], vec!["4", "5"]]);
        assert_eq!(t.lines, vec![2, 4]);
        assert_eq!(t.skipped[0].line, 3);
    }

    #[test]
    fn a_line_break_inside_quotes_keeps_line_numbers_right() {
        let t = parse("a;b\n\"x\ny\";1\n2;3\n").expect("valid CSV");
        assert_eq!(t.rows[0], vec!["x\ny", "1"]);
        assert_eq!(t.lines, vec![2, 4]);
    }

    #[test]
    fn an_unclosed_quote_is_reported_with_its_span() {
        let t = parse("a;b;c\n1;2;3\n4;5;6\n7;\"oops;8\n9;10;11\n12;13;14\n").expect("readable");
        assert_eq!(t.rows.len(), 2);
        assert_eq!(t.skipped.len(), 1);
        assert_eq!(t.skipped[0].line, 4);
        assert!(
            t.skipped[0].reason.contains("runs to line 6"),
            "{}",
            t.skipped[0]
        );
    }

    #[test]
    fn a_file_of_mostly_bad_records_is_an_error() {
        let err = parse("a;b\n1\n2\n3;4\n").expect_err("wrong shape");
        assert!(matches!(err, ProfileError::Csv { line: 2, .. }), "{err}");
    }

    #[test]
    fn duplicate_column_names_are_an_error_and_unnamed_ones_get_a_name() {
        let err = parse("age;job;age\n1;x;2\n").expect_err("ambiguous");
        assert!(
            err.to_string()
                .contains("columns 1 and 3 are both named `age`"),
            "{err}"
        );
        let t = parse("age;;y\n1;2;yes\n").expect("valid");
        assert_eq!(t.headers, vec!["age", "column2", "y"]);
    }

    #[test]
    fn round_trip_through_to_csv() {
        let t = parse("x;y\r\n\"a;b\";\"q\"\"\"\r\n").expect("valid CSV");
        let again = parse(&t.to_csv(';')).expect("own output parses");
        assert_eq!(t, again);
    }

    #[test]
    fn empty_input_is_an_error() {
        assert!(matches!(parse(""), Err(ProfileError::EmptyCsv)));
    }

    proptest::proptest! {
        /// Any text made of delimiters, quotes, line breaks and letters parses or errs, never
        /// panics; a parsed table is rectangular, and its lines rise and lie inside the text.
        #[test]
        fn any_text_gives_a_rectangular_table_or_an_error(
            text in "[ab;,\t\"\r\n中]{0,200}",
        ) {
            if let Ok(t) = parse(&text) {
                let last_line = crate::textfile::LineIndex::new(&text).lines();
                proptest::prop_assert_eq!(t.rows.len(), t.lines.len());
                for row in &t.rows {
                    proptest::prop_assert_eq!(row.len(), t.headers.len());
                }
                for pair in t.lines.windows(2) {
                    proptest::prop_assert!(pair[0] < pair[1], "lines {:?}", t.lines);
                }
                for line in t.lines.iter().chain(t.skipped.iter().map(|s| &s.line)) {
                    proptest::prop_assert!((2..=last_line).contains(line), "line {line}");
                }
            }
        }
    }

    #[test]
    fn files_in_gbk_and_with_a_bom_read_the_same() {
        let dir = tempfile::tempdir().expect("temp dir");
        let text = "客户;是否成交\n张三;是\n";
        let gbk = dir.path().join("gbk.csv");
        std::fs::write(&gbk, encoding_rs::GBK.encode(text).0).expect("write");
        let bom = dir.path().join("bom.csv");
        std::fs::write(&bom, format!("\u{feff}{text}")).expect("write");
        let a = read_path(&gbk).expect("gbk reads");
        let b = read_path(&bom).expect("bom reads");
        assert_eq!(a.headers, vec!["客户", "是否成交"]);
        assert_eq!((a.headers.clone(), a.rows.clone()), (b.headers, b.rows));
        assert_eq!(a.read_as.as_deref(), Some("GB18030/GBK"));
    }
}
