//! Labelled replies on disk: the TSV format of `models/corpus/` and of evaluation and
//! incremental-learning files. Lines are `text<TAB>label`, `prompt<TAB>text<TAB>label` or
//! `prompt<TAB>text<TAB>label<TAB>hour`; `#` starts a comment line. Every malformed line is an
//! error naming the file and line. Owns parsing and splitting; depends on the label set only.

use std::path::Path;

use rand::seq::SliceRandom;
use rand::SeedableRng;

use super::{Intent, NluError};

/// One labelled reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Example {
    /// The bot's last prompt; empty when unknown.
    pub prompt: String,
    pub text: String,
    pub label: Intent,
    /// Local hour of the call, when known.
    pub hour: Option<u8>,
}

/// Parses TSV text; `path` only names the source in errors.
pub fn parse(content: &str, path: &Path) -> Result<Vec<Example>, NluError> {
    let mut out = Vec::new();
    for (i, raw) in content.lines().enumerate() {
        let line = i + 1;
        let bad = |reason: String| NluError::BadLine {
            path: path.to_owned(),
            line,
            reason,
        };
        let raw = raw.trim_end_matches('\r');
        if raw.trim().is_empty() || raw.starts_with('#') {
            continue;
        }
        let cols: Vec<&str> = raw.split('\t').collect();
        let (prompt, text, label, hour) = match cols.as_slice() {
            [text, label] => ("", *text, *label, None),
            [prompt, text, label] => (*prompt, *text, *label, None),
            [prompt, text, label, hour] => (*prompt, *text, *label, Some(*hour)),
            _ => {
                return Err(bad(format!(
                    "expected 2 to 4 tab-separated columns (text, label / prompt, text, label \
                     [, hour]), found {}",
                    cols.len()
                )))
            }
        };
        let label: Intent = label.parse().map_err(|e: NluError| bad(e.to_string()))?;
        if text.trim().is_empty() {
            return Err(bad("empty reply text".into()));
        }
        let hour = match hour.map(str::trim).filter(|h| !h.is_empty()) {
            None => None,
            Some(h) => match h.parse::<u8>() {
                Ok(h) if h < 24 => Some(h),
                _ => return Err(bad(format!("hour {h:?} is not an integer 0..=23"))),
            },
        };
        out.push(Example {
            prompt: prompt.trim().into(),
            text: text.trim().into(),
            label,
            hour,
        });
    }
    Ok(out)
}

/// Reads and parses a TSV file.
pub fn load(path: &Path) -> Result<Vec<Example>, NluError> {
    let content = std::fs::read_to_string(path).map_err(|source| NluError::Io {
        path: path.to_owned(),
        source,
    })?;
    parse(&content, path)
}

/// Deterministic shuffle and split: (train, validation) with `fraction` in validation.
pub fn split(mut examples: Vec<Example>, fraction: f64, seed: u64) -> (Vec<Example>, Vec<Example>) {
    examples.shuffle(&mut rand::rngs::StdRng::seed_from_u64(seed));
    let n_val = ((examples.len() as f64) * fraction).round() as usize;
    let train = examples.split_off(n_val.min(examples.len()));
    (train, examples)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_all_column_layouts_and_skips_comments() {
        let ex = parse(
            "# c\nno\tdeny\n您是王先生吗\t不是\twrong_person\n\n\t可以\taffirm\t15\n",
            Path::new("t.tsv"),
        )
        .expect("valid file");
        assert_eq!(ex.len(), 3);
        assert_eq!(ex[1].prompt, "您是王先生吗");
        assert_eq!(ex[1].label, Intent::WrongPerson);
        assert_eq!(ex[2].hour, Some(15));
    }

    #[test]
    fn unknown_label_reports_the_line() {
        let err = parse("ok\taffirm\n嗯\tbackchannel\n", Path::new("e.tsv")).expect_err("bad");
        let msg = err.to_string();
        assert!(
            msg.contains("e.tsv:2") && msg.contains("backchannel"),
            "{msg}"
        );
    }

    #[test]
    fn malformed_lines_are_errors() {
        for bad in [
            "justtext\n",
            "a\tb\tc\td\te\n",
            "\t\taffirm\n",
            "p\tt\taffirm\t25\n",
        ] {
            assert!(parse(bad, Path::new("x")).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn split_is_deterministic_and_disjoint() {
        let ex: Vec<Example> = (0..100)
            .map(|i| Example {
                prompt: String::new(),
                text: i.to_string(),
                label: Intent::Other,
                hour: None,
            })
            .collect();
        let (a, b) = split(ex.clone(), 0.1, 7);
        let (c, d) = split(ex, 0.1, 7);
        assert_eq!((a.len(), b.len()), (90, 10));
        assert_eq!((a, b.clone()), (c, d));
        assert!(b.iter().all(|e| e.text.parse::<u32>().is_ok()));
    }
}
