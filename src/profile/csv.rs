//! Reading contact lists: the UCI bank file as published (`;`-separated, quoted, CRLF) and
//! ordinary CSVs (`,` or tab). Owns the [`Table`] type; depends only on the module error.
//!
//! The delimiter is the one of `;`, `,` and tab that occurs most often outside quotes in the
//! header line. Quoted fields may contain the delimiter, doubled quotes and line breaks. Every
//! record must have as many fields as the header: a ragged line is an error naming the line,
//! because silently shifting columns would score the wrong values.

use super::{ProfileError, Result};

/// A parsed CSV: header names and rows of raw cells (unquoted, untrimmed of inner spaces).
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    pub headers: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

impl Table {
    /// Index of a column by exact name.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.headers.iter().position(|h| h == name)
    }

    /// Keeps only the rows at `indices` (in that order).
    pub fn subset(&self, indices: &[usize]) -> Table {
        Table {
            headers: self.headers.clone(),
            rows: indices.iter().map(|&i| self.rows[i].clone()).collect(),
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

/// Reads and parses a CSV file.
pub fn read_path(path: &std::path::Path) -> Result<Table> {
    let bytes = std::fs::read(path).map_err(|source| ProfileError::Io {
        path: path.display().to_string(),
        source,
    })?;
    let text = String::from_utf8_lossy(&bytes);
    parse(&text)
}

/// Picks the delimiter from the header line (the first line, outside quotes).
fn detect_delimiter(text: &str) -> char {
    let mut counts = [0usize; 3];
    let mut in_quotes = false;
    for ch in text.chars() {
        match ch {
            '"' => in_quotes = !in_quotes,
            '\n' | '\r' if !in_quotes => break,
            ';' if !in_quotes => counts[0] += 1,
            ',' if !in_quotes => counts[1] += 1,
            '\t' if !in_quotes => counts[2] += 1,
            _ => {}
        }
    }
    let delims = [';', ',', '\t'];
    let mut best = 1; // ',' when the header has a single column
    for i in 0..3 {
        if counts[i] > counts[best] {
            best = i;
        }
    }
    delims[best]
}

/// Parses CSV text (see the module doc for the accepted dialects).
pub fn parse(text: &str) -> Result<Table> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let delim = detect_delimiter(text);
    let mut records: Vec<(usize, Vec<String>)> = Vec::new();
    let mut field = String::new();
    let mut record: Vec<String> = Vec::new();
    let mut in_quotes = false;
    let mut line = 1usize;
    let mut record_line = 1usize;
    let mut chars = text.chars().peekable();
    let mut field_started_quoted = false;
    while let Some(ch) = chars.next() {
        if in_quotes {
            match ch {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => in_quotes = false,
                '\n' => {
                    line += 1;
                    field.push(ch);
                }
                _ => field.push(ch),
            }
            continue;
        }
        match ch {
            '"' if field.is_empty() && !field_started_quoted => {
                in_quotes = true;
                field_started_quoted = true;
            }
            '"' => {
                return Err(ProfileError::Csv {
                    line,
                    message: "stray quote inside an unquoted field".into(),
                })
            }
            c if c == delim => {
                record.push(std::mem::take(&mut field));
                field_started_quoted = false;
            }
            '\r' => {}
            '\n' => {
                record.push(std::mem::take(&mut field));
                field_started_quoted = false;
                let done = std::mem::take(&mut record);
                if !(done.len() == 1 && done[0].is_empty()) {
                    records.push((record_line, done));
                }
                line += 1;
                record_line = line;
            }
            _ => field.push(ch),
        }
    }
    if in_quotes {
        return Err(ProfileError::Csv {
            line: record_line,
            message: "quoted field is never closed".into(),
        });
    }
    if !field.is_empty() || !record.is_empty() || field_started_quoted {
        record.push(field);
        records.push((record_line, record));
    }
    let mut iter = records.into_iter();
    let (_, headers) = iter.next().ok_or(ProfileError::EmptyCsv)?;
    let headers: Vec<String> = headers.into_iter().map(|h| h.trim().to_string()).collect();
    let mut rows = Vec::new();
    for (line, rec) in iter {
        if rec.len() != headers.len() {
            return Err(ProfileError::Csv {
                line,
                message: format!(
                    "{} fields, but the header has {} (delimiter `{}`)",
                    rec.len(),
                    headers.len(),
                    delim.escape_default()
                ),
            });
        }
        rows.push(rec);
    }
    Ok(Table { headers, rows })
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
    }

    #[test]
    fn comma_dialect_without_final_newline() {
        let t = parse("a,b\n1,2\n3,").expect("valid CSV");
        assert_eq!(t.rows, vec![vec!["1", "2"], vec!["3", ""]]);
    }

    #[test]
    fn ragged_line_is_an_error_with_its_number() {
        let err = parse("a;b\n1;2\n3\n").expect_err("ragged");
        assert!(matches!(err, ProfileError::Csv { line: 3, .. }), "{err}");
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
}
