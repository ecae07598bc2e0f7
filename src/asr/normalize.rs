//! Text normalisation between the recogniser and NLU.
//!
//! Owns traditional → simplified conversion (a committed character table, `t2s.txt`, generated
//! from OpenCC — see its header for source and licence), full-width → half-width folding,
//! Chinese numeral spans with their integer values (so "三千五百" stays one parseable run) and
//! filler-word marking (嗯, 呃, um, uh ...; marked, never deleted, because "嗯" alone can be an
//! answer). Pure functions; depends on nothing else in the crate.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::OnceLock;

static T2S_TABLE: &str = include_str!("t2s.txt");

fn t2s_map() -> &'static HashMap<char, char> {
    static MAP: OnceLock<HashMap<char, char>> = OnceLock::new();
    MAP.get_or_init(|| {
        T2S_TABLE
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| {
                let mut cs = l.chars();
                Some((cs.next()?, cs.next()?))
            })
            .collect()
    })
}

/// Traditional Chinese characters replaced by their simplified forms; everything else kept.
pub fn to_simplified(text: &str) -> String {
    let map = t2s_map();
    text.chars().map(|c| *map.get(&c).unwrap_or(&c)).collect()
}

/// Full-width ASCII variants (Ｕ+FF01–FF5E) and the ideographic space folded to ASCII.
pub fn full_to_half(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\u{3000}' => ' ',
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            _ => c,
        })
        .collect()
}

/// What the recogniser returns to callers: simplified, half-width, trimmed.
pub fn clean_transcript(text: &str) -> String {
    let folded = full_to_half(&to_simplified(text));
    folded.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A run of Chinese or Arabic numerals in normalised text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NumberSpan {
    /// Byte range in [`NormalizedText::text`].
    pub range: Range<usize>,
    /// Integer value when the run is a plain integer (not "三点半", not "1.5").
    pub value: Option<u64>,
}

/// Text prepared for NLU, with the spans it needs marked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NormalizedText {
    pub text: String,
    /// Byte ranges of filler words in `text`.
    pub fillers: Vec<Range<usize>>,
    pub numbers: Vec<NumberSpan>,
}

impl NormalizedText {
    /// The text with fillers removed (and the whitespace they leave collapsed).
    pub fn without_fillers(&self) -> String {
        let mut out = String::with_capacity(self.text.len());
        let mut last = 0;
        for r in &self.fillers {
            out.push_str(&self.text[last..r.start]);
            last = r.end;
        }
        out.push_str(&self.text[last..]);
        out.split_whitespace().collect::<Vec<_>>().join(" ")
    }
}

const ZH_FILLERS: &[char] = &['嗯', '呃', '额', '唔', '呣'];
const EN_FILLERS: &[&str] = &["um", "umm", "uh", "er", "erm", "hmm", "mm", "ah"];

fn is_numeral(c: char) -> bool {
    c.is_ascii_digit() || "零〇一二两三四五六七八九十百千万亿点半".contains(c)
}

/// Integer value of a Chinese numeral such as 三千五百, 两万, 一百零五, 十二, or a digit string
/// read out (二零二四). `None` for anything else.
pub fn parse_chinese_integer(s: &str) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    if s.chars().all(|c| c.is_ascii_digit()) {
        return s.parse().ok();
    }
    let digit = |c: char| -> Option<u64> {
        Some(match c {
            '零' | '〇' | '0' => 0,
            '一' | '1' => 1,
            '二' | '两' | '2' => 2,
            '三' | '3' => 3,
            '四' | '4' => 4,
            '五' | '5' => 5,
            '六' | '6' => 6,
            '七' | '7' => 7,
            '八' | '8' => 8,
            '九' | '9' => 9,
            _ => return None,
        })
    };
    if s.chars().count() > 1 && s.chars().all(|c| digit(c).is_some()) {
        return s
            .chars()
            .try_fold(0u64, |acc, c| acc.checked_mul(10)?.checked_add(digit(c)?));
    }
    let (mut total, mut section, mut current) = (0u64, 0u64, None::<u64>);
    for c in s.chars() {
        if let Some(d) = digit(c) {
            current = Some(d);
            continue;
        }
        let unit = match c {
            '十' => 10,
            '百' => 100,
            '千' => 1000,
            '万' => 10_000,
            '亿' => 100_000_000,
            _ => return None,
        };
        if unit >= 10_000 {
            section = (section + current.take().unwrap_or(0)).checked_mul(unit)?;
            total = total.checked_add(section)?;
            section = 0;
        } else {
            // "十二" means 12: a bare unit counts one of itself.
            section = section.checked_add(current.take().unwrap_or(1).checked_mul(unit)?)?;
        }
    }
    total
        .checked_add(section)?
        .checked_add(current.unwrap_or(0))
}

/// Normalises `text` for NLU: simplified, half-width, numerals and fillers marked.
pub fn normalize_for_nlu(text: &str) -> NormalizedText {
    let text = clean_transcript(text);
    let mut fillers = Vec::new();
    let mut numbers = Vec::new();
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let end_of = |i: usize| chars.get(i).map_or(text.len(), |&(b, _)| b);
    let mut i = 0;
    while i < chars.len() {
        let (b, c) = chars[i];
        if is_numeral(c) {
            let start = i;
            while i < chars.len() && is_numeral(chars[i].1) {
                i += 1;
            }
            let run = &text[b..end_of(i)];
            numbers.push(NumberSpan {
                range: b..end_of(i),
                value: parse_chinese_integer(run),
            });
            debug_assert!(i > start);
            continue;
        }
        if ZH_FILLERS.contains(&c) {
            fillers.push(b..end_of(i + 1));
            i += 1;
            continue;
        }
        if c.is_ascii_alphabetic() {
            let start = i;
            while i < chars.len() && chars[i].1.is_ascii_alphabetic() {
                i += 1;
            }
            let word = text[b..end_of(i)].to_ascii_lowercase();
            if EN_FILLERS.contains(&word.as_str()) {
                fillers.push(b..end_of(i));
            }
            debug_assert!(i > start);
            continue;
        }
        i += 1;
    }
    NormalizedText {
        text,
        fillers,
        numbers,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn traditional_becomes_simplified() {
        assert_eq!(
            to_simplified("歡迎大家來體驗達摩院"),
            "欢迎大家来体验达摩院"
        );
        assert_eq!(to_simplified("我們說話 OK"), "我们说话 OK");
    }

    #[test]
    fn full_width_folds() {
        assert_eq!(full_to_half("ＡＢＣ１２３，！\u{3000}x"), "ABC123,! x");
        assert_eq!(clean_transcript("  好的，　可以。 "), "好的, 可以。");
    }

    #[test]
    fn chinese_integers_parse() {
        for (s, v) in [
            ("三千五百", 3500),
            ("两万", 20_000),
            ("一百零五", 105),
            ("十二", 12),
            ("二零二四", 2024),
            ("一亿两千万", 120_000_000),
            ("5000", 5000),
        ] {
            assert_eq!(parse_chinese_integer(s), Some(v), "{s}");
        }
        assert_eq!(parse_chinese_integer("三点半"), None);
        assert_eq!(parse_chinese_integer("好"), None);
    }

    #[test]
    fn fillers_and_numbers_are_marked() {
        let n = normalize_for_nlu("嗯，每月三千五百塊，um OK");
        assert_eq!(n.text, "嗯,每月三千五百块,um OK");
        assert_eq!(n.fillers.len(), 2);
        assert_eq!(&n.text[n.fillers[0].clone()], "嗯");
        assert_eq!(n.numbers.len(), 1);
        assert_eq!(n.numbers[0].value, Some(3500));
        assert_eq!(n.without_fillers(), ",每月三千五百块, OK");
    }
}
