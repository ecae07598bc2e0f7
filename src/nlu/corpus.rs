//! Labelled replies on disk: the TSV format of `models/corpus/` and of evaluation and
//! incremental-learning files. Lines are `text<TAB>label`, `prompt<TAB>text<TAB>label` or
//! `prompt<TAB>text<TAB>label<TAB>hour`; `#` starts a comment line. A file may instead start
//! with a header naming its columns (`source<TAB>prompt<TAB>text<TAB>label`, any order, from
//! `source`, `prompt`, `text`, `label`, `hour`, `audio`, `who`, `call`, `confirms`, `denies`;
//! `text` and `label` required): then every line has those columns, and `source` names where a
//! reply's phrasing comes from (evaluation reports per source). `confirms` and `denies` say
//! what a yes or a no to the prompt means, as a script node declares it (empty: nothing
//! declared). Every malformed line is an error naming the file and line.
//! Owns parsing, writing and splitting; depends on the label set and [`super::context`] only.

use std::path::Path;

use rand::seq::SliceRandom;
use rand::SeedableRng;

use super::context::NodeMeaning;
use super::{Intent, NluError};

/// One labelled reply.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Example {
    /// The bot's last prompt; empty when unknown.
    pub prompt: String,
    pub text: String,
    pub label: Intent,
    /// Local hour of the call, when known.
    pub hour: Option<u8>,
    /// Where the phrasing comes from (`handwritten`, `context`, `asr`, ...); empty when the
    /// file does not say.
    pub source: String,
    /// A recording of the reply, relative to the file (spoken evaluation); empty when none.
    pub audio: String,
    /// Who labelled it (a supervisor correction); empty when unknown.
    pub who: String,
    /// The call it was heard on (a supervisor correction); empty when unknown.
    pub call: String,
    /// What the prompt's node declares a yes or a no means (`confirms`, `denies` columns);
    /// empty when the file does not say.
    pub meaning: NodeMeaning,
}

/// The columns a header may name.
const COLUMNS: [&str; 10] = [
    "source", "prompt", "text", "label", "hour", "audio", "who", "call", "confirms", "denies",
];

/// Column positions declared by a header line.
#[derive(Debug, Clone, Copy, Default)]
struct Layout {
    source: Option<usize>,
    prompt: Option<usize>,
    text: usize,
    label: usize,
    hour: Option<usize>,
    audio: Option<usize>,
    who: Option<usize>,
    call: Option<usize>,
    confirms: Option<usize>,
    denies: Option<usize>,
    width: usize,
}

/// A header line, when `cols` is one (every cell a known column name, `text` and `label`
/// among them, none twice).
fn header(cols: &[&str]) -> Option<Layout> {
    let names: Vec<&str> = cols.iter().map(|c| c.trim()).collect();
    if !names.iter().all(|n| COLUMNS.contains(n)) {
        return None;
    }
    let at = |name: &str| names.iter().position(|&n| n == name);
    let unique = COLUMNS
        .iter()
        .all(|c| names.iter().filter(|&&n| n == *c).count() <= 1);
    Some(Layout {
        source: at("source"),
        prompt: at("prompt"),
        text: at("text")?,
        label: at("label")?,
        hour: at("hour"),
        audio: at("audio"),
        who: at("who"),
        call: at("call"),
        confirms: at("confirms"),
        denies: at("denies"),
        width: names.len(),
    })
    .filter(|_| unique)
}

/// A declared meaning cell: empty, or an intent label.
fn parse_meaning(cell: &str) -> Result<Option<Intent>, String> {
    match cell.trim() {
        "" => Ok(None),
        c => c.parse().map(Some).map_err(|e: NluError| e.to_string()),
    }
}

fn parse_hour(h: Option<&str>) -> Result<Option<u8>, String> {
    match h.map(str::trim).filter(|h| !h.is_empty()) {
        None => Ok(None),
        Some(h) => match h.parse::<u8>() {
            Ok(h) if h < 24 => Ok(Some(h)),
            _ => Err(format!("hour {h:?} is not an integer 0..=23")),
        },
    }
}

/// Parses TSV text; `path` only names the source in errors.
pub fn parse(content: &str, path: &Path) -> Result<Vec<Example>, NluError> {
    let mut out = Vec::new();
    let mut layout: Option<Layout> = None;
    let mut first = true;
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
        if std::mem::take(&mut first) {
            if let Some(l) = header(&cols) {
                layout = Some(l);
                continue;
            }
        }
        let example = match layout {
            Some(l) => {
                if cols.len() != l.width {
                    return Err(bad(format!(
                        "expected {} tab-separated columns as the header says, found {}",
                        l.width,
                        cols.len()
                    )));
                }
                let cell = |i: Option<usize>| i.map_or("", |i| cols[i].trim());
                Example {
                    prompt: cell(l.prompt).into(),
                    text: cols[l.text].trim().into(),
                    label: cols[l.label]
                        .parse()
                        .map_err(|e: NluError| bad(e.to_string()))?,
                    hour: parse_hour(l.hour.map(|i| cols[i])).map_err(bad)?,
                    source: cell(l.source).into(),
                    audio: cell(l.audio).into(),
                    who: cell(l.who).into(),
                    call: cell(l.call).into(),
                    meaning: NodeMeaning {
                        affirm: parse_meaning(cell(l.confirms)).map_err(bad)?,
                        deny: parse_meaning(cell(l.denies)).map_err(bad)?,
                        expects: Vec::new(),
                    },
                }
            }
            None => {
                let (prompt, text, label, hour) = match cols.as_slice() {
                    [text, label] => ("", *text, *label, None),
                    [prompt, text, label] => (*prompt, *text, *label, None),
                    [prompt, text, label, hour] => (*prompt, *text, *label, Some(*hour)),
                    _ => {
                        return Err(bad(format!(
                            "expected 2 to 4 tab-separated columns (text, label / prompt, \
                             text, label [, hour]) or a header line naming them, found {}",
                            cols.len()
                        )))
                    }
                };
                Example {
                    prompt: prompt.trim().into(),
                    text: text.trim().into(),
                    label: label.parse().map_err(|e: NluError| bad(e.to_string()))?,
                    hour: parse_hour(hour).map_err(bad)?,
                    ..Default::default()
                }
            }
        };
        if example.text.is_empty() {
            return Err(bad("empty reply text".into()));
        }
        if example.source.contains(char::is_whitespace) {
            return Err(bad(format!(
                "source {:?} must be one word (letters, digits, _ or -)",
                example.source
            )));
        }
        out.push(example);
    }
    Ok(out)
}

/// Writes examples in the header layout (`source prompt text label hour audio who call`, the
/// columns that any example uses); tabs and line breaks inside a cell become spaces.
pub fn to_tsv(examples: &[Example]) -> String {
    let clean = |s: &str| s.replace(['\t', '\n', '\r'], " ");
    let any = |f: fn(&Example) -> bool| examples.iter().any(f);
    let with_source = any(|e| !e.source.is_empty());
    let with_hour = any(|e| e.hour.is_some());
    let with_audio = any(|e| !e.audio.is_empty());
    let with_who = any(|e| !e.who.is_empty());
    let with_call = any(|e| !e.call.is_empty());
    let with_confirms = any(|e| e.meaning.affirm.is_some());
    let with_denies = any(|e| e.meaning.deny.is_some());
    let mut cols = Vec::new();
    if with_source {
        cols.push("source");
    }
    cols.extend(["prompt", "text", "label"]);
    if with_hour {
        cols.push("hour");
    }
    if with_audio {
        cols.push("audio");
    }
    if with_who {
        cols.push("who");
    }
    if with_call {
        cols.push("call");
    }
    if with_confirms {
        cols.push("confirms");
    }
    if with_denies {
        cols.push("denies");
    }
    let mut s = cols.join("\t") + "\n";
    for e in examples {
        let mut cells = Vec::new();
        if with_source {
            cells.push(clean(&e.source));
        }
        cells.extend([
            clean(&e.prompt),
            clean(&e.text),
            e.label.as_str().to_owned(),
        ]);
        if with_hour {
            cells.push(e.hour.map(|h| h.to_string()).unwrap_or_default());
        }
        if with_audio {
            cells.push(clean(&e.audio));
        }
        if with_who {
            cells.push(clean(&e.who));
        }
        if with_call {
            cells.push(clean(&e.call));
        }
        let meant = |i: Option<Intent>| i.map_or_else(String::new, |i| i.as_str().to_owned());
        if with_confirms {
            cells.push(meant(e.meaning.affirm));
        }
        if with_denies {
            cells.push(meant(e.meaning.deny));
        }
        s += &cells.join("\t");
        s.push('\n');
    }
    s
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
    fn a_header_names_the_columns_and_carries_the_source() {
        let ex = parse(
            "# eval\nsource\tprompt\ttext\tlabel\nregional\t\t唔使喇\tdeny\n\
             context\t您考虑好了吗\t还没\thesitate\n",
            Path::new("h.tsv"),
        )
        .expect("valid file");
        assert_eq!(ex.len(), 2);
        assert_eq!(
            (ex[0].source.as_str(), ex[0].prompt.as_str()),
            ("regional", "")
        );
        assert_eq!(ex[1].label, Intent::Hesitate);
        assert_eq!(ex[1].prompt, "您考虑好了吗");
        // Columns in another order, with who and hour.
        let ex = parse(
            "label\ttext\twho\thour\naffirm\tok\tsup-7\t9\n",
            Path::new("w.tsv"),
        )
        .expect("valid file");
        assert_eq!((ex[0].who.as_str(), ex[0].hour), ("sup-7", Some(9)));
    }

    #[test]
    fn declared_meanings_are_read_per_line() {
        let ex = parse(
            "prompt\ttext\tlabel\tconfirms\tdenies\n\
             您是说以后别打了对吗\t对\tdnc_request\tdnc_request\t\n\
             您听清楚了吗\t没有\trepeat\t\trepeat\n\
             您感兴趣吗\t不\tdeny\t\t\n",
            Path::new("c.tsv"),
        )
        .expect("valid file");
        assert_eq!(ex[0].meaning.affirm, Some(Intent::DncRequest));
        assert_eq!(ex[0].meaning.deny, None);
        assert_eq!(ex[1].meaning.deny, Some(Intent::Repeat));
        assert!(ex[2].meaning.is_empty());
    }

    #[test]
    fn header_files_refuse_ragged_lines_and_bad_sources() {
        for bad in [
            "source\ttext\tlabel\nx\tok\n",
            "source\ttext\tlabel\nx y\tok\taffirm\n",
            "text\ttext\tlabel\nok\tok\taffirm\n",
            "prompt\ttext\tlabel\tconfirms\n对吗\t对\taffirm\tdnc\n",
        ] {
            assert!(parse(bad, Path::new("x")).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn written_files_read_back_the_same() {
        let ex = vec![
            Example {
                source: "asr".into(),
                prompt: "您考虑好了吗".into(),
                text: "还\t没".into(),
                label: Intent::Hesitate,
                hour: Some(10),
                meaning: NodeMeaning {
                    deny: Some(Intent::Hesitate),
                    ..Default::default()
                },
                ..Default::default()
            },
            Example {
                text: "ok".into(),
                label: Intent::Affirm,
                who: "sup-1".into(),
                ..Default::default()
            },
        ];
        let back = parse(&to_tsv(&ex), Path::new("rt.tsv")).expect("round trip");
        assert_eq!(back[0].text, "还 没");
        assert_eq!((back[0].hour, back[1].hour), (Some(10), None));
        assert_eq!(back[1].who, "sup-1");
        assert_eq!(back[1].source, "");
        assert_eq!(back[0].meaning.deny, Some(Intent::Hesitate));
        assert_eq!(back[1].meaning, NodeMeaning::default());
    }

    #[test]
    fn split_is_deterministic_and_disjoint() {
        let ex: Vec<Example> = (0..100)
            .map(|i| Example {
                text: i.to_string(),
                ..Default::default()
            })
            .collect();
        let (a, b) = split(ex.clone(), 0.1, 7);
        let (c, d) = split(ex, 0.1, 7);
        assert_eq!((a.len(), b.len()), (90, 10));
        assert_eq!((a, b.clone()), (c, d));
        assert!(b.iter().all(|e| e.text.parse::<u32>().is_ok()));
    }
}
