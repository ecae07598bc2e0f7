//! Turns an ASR transcript into token ids: one token per Han character, one per known English
//! word, and one per character for English words the vocabulary has not seen (so misspelt or
//! new words still carry their letters). Normalisation folds full-width forms, case and
//! punctuation away, since ASR output varies in all three. Owns the vocabulary; depends on
//! nothing but std.

use std::collections::{BTreeMap, HashMap};

/// Padding id; the model masks it out.
pub const PAD: u32 = 0;
/// A Han character or symbol the vocabulary has not seen.
pub const UNK: u32 = 1;
/// Emoji and other pictographs, collapsed to one token per run.
pub const SYM: u32 = 2;
const SPECIALS: [&str; 3] = ["[PAD]", "[UNK]", "[SYM]"];
/// Prefix of a per-character token of an out-of-vocabulary English word.
const CHAR_PREFIX: char = '#';

/// A tokenised text and whether it was cut to fit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    pub ids: Vec<u32>,
    pub truncated: bool,
}

/// The vocabulary and the rules that map text to ids.
#[derive(Debug, Clone)]
pub struct Tokenizer {
    tokens: Vec<String>,
    index: HashMap<String, u32>,
}

/// One unit of normalised text before the vocabulary is applied.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Han(char),
    Word(String),
    Symbol,
    Other(char),
}

fn is_han(c: char) -> bool {
    matches!(c as u32, 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x2FA1F)
}

fn is_pictograph(c: char) -> bool {
    matches!(c as u32, 0x1F000..=0x1FAFF | 0x2600..=0x27BF | 0xFE0F | 0x200D)
}

/// Full-width ASCII (ＡＢＣ１２３) to ASCII, then lower case.
pub fn fold(c: char) -> char {
    let c = match c as u32 {
        0xFF01..=0xFF5E => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
        0x3000 => ' ',
        _ => c,
    };
    c.to_ascii_lowercase()
}

fn pieces(text: &str) -> Vec<Piece> {
    let mut out = Vec::new();
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut Vec<Piece>| {
        if !word.is_empty() {
            out.push(Piece::Word(std::mem::take(word)));
        }
    };
    for c in text.chars().map(fold) {
        if c.is_ascii_alphanumeric() || (c == '\'' && !word.is_empty()) {
            word.push(c);
            continue;
        }
        flush(&mut word, &mut out);
        if is_han(c) {
            out.push(Piece::Han(c));
        } else if is_pictograph(c) {
            if out.last() != Some(&Piece::Symbol) {
                out.push(Piece::Symbol);
            }
        } else if c.is_alphabetic() {
            out.push(Piece::Other(c));
        }
        // Whitespace, punctuation and control characters separate words and are dropped: ASR
        // punctuation is unreliable and the corpus is written without it.
    }
    flush(&mut word, &mut out);
    out
}

/// Normalised text: what the model actually reads, for display and de-duplication.
pub fn normalize(text: &str) -> String {
    let mut s = String::new();
    for p in pieces(text) {
        match p {
            Piece::Han(c) | Piece::Other(c) => s.push(c),
            Piece::Word(w) => {
                if s.ends_with(|c: char| c.is_ascii_alphanumeric()) {
                    s.push(' ');
                }
                s.push_str(&w);
            }
            Piece::Symbol => s.push('*'),
        }
    }
    s
}

impl Tokenizer {
    /// Builds a vocabulary from training texts: every Han character and other letter seen,
    /// English words seen at least `min_word_count` times, and the per-character fallbacks.
    pub fn build<'a>(texts: impl IntoIterator<Item = &'a str>, min_word_count: usize) -> Self {
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        for t in texts {
            for p in pieces(t) {
                let key = match p {
                    Piece::Han(c) | Piece::Other(c) => c.to_string(),
                    Piece::Word(w) => w,
                    Piece::Symbol => continue,
                };
                *counts.entry(key).or_default() += 1;
            }
        }
        let mut tokens: Vec<String> = SPECIALS.iter().map(|s| s.to_string()).collect();
        for c in ('a'..='z').chain('0'..='9').chain(std::iter::once('\'')) {
            tokens.push(format!("{CHAR_PREFIX}{c}"));
        }
        for (tok, n) in counts {
            let is_word = tok.chars().all(|c| c.is_ascii_alphanumeric() || c == '\'');
            if !is_word || n >= min_word_count {
                tokens.push(tok);
            }
        }
        Self::from_tokens(tokens)
    }

    /// Rebuilds a tokenizer from a saved vocabulary (id = position).
    pub fn from_tokens(tokens: Vec<String>) -> Self {
        let index = tokens
            .iter()
            .enumerate()
            .map(|(i, t)| (t.clone(), i as u32))
            .collect();
        Tokenizer { tokens, index }
    }

    /// The vocabulary, id = position.
    pub fn tokens(&self) -> &[String] {
        &self.tokens
    }

    pub fn vocab_size(&self) -> usize {
        self.tokens.len()
    }

    fn id(&self, tok: &str) -> u32 {
        self.index.get(tok).copied().unwrap_or(UNK)
    }

    /// Token ids of `text`, at most `max_len`; `keep_tail` keeps the end instead of the start
    /// (the end of a bot prompt holds its question).
    pub fn encode(&self, text: &str, max_len: usize, keep_tail: bool) -> Encoded {
        let mut ids = Vec::new();
        for p in pieces(text) {
            match p {
                Piece::Han(c) | Piece::Other(c) => ids.push(self.id(&c.to_string())),
                Piece::Symbol => ids.push(SYM),
                Piece::Word(w) => match self.index.get(&w) {
                    Some(&id) => ids.push(id),
                    None => ids.extend(w.chars().map(|c| self.id(&format!("{CHAR_PREFIX}{c}")))),
                },
            }
        }
        let truncated = ids.len() > max_len;
        if truncated {
            if keep_tail {
                ids.drain(..ids.len() - max_len);
            } else {
                ids.truncate(max_len);
            }
        }
        Encoded { ids, truncated }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tok() -> Tokenizer {
        Tokenizer::build(["不用了谢谢", "no thanks", "no way", "ＯＫ可以"], 2)
    }

    #[test]
    fn han_characters_are_one_token_each() {
        let t = tok();
        let e = t.encode("不用了", 10, false);
        assert_eq!(e.ids.len(), 3);
        assert!(e.ids.iter().all(|&i| i > SYM));
        assert!(!e.truncated);
    }

    #[test]
    fn known_words_are_one_token_unknown_words_fall_back_to_letters() {
        let t = tok();
        assert_eq!(
            t.encode("NO", 10, false).ids.len(),
            1,
            "no is known, case folded"
        );
        let e = t.encode("nah", 10, false);
        assert_eq!(e.ids.len(), 3);
        assert!(
            e.ids.iter().all(|&i| i != UNK),
            "letters always have a token"
        );
    }

    #[test]
    fn punctuation_full_width_and_emoji_are_normalised() {
        assert_eq!(normalize("ＯＫ，可以！😀😀 Yes."), "ok可以*yes");
        let t = tok();
        let e = t.encode("可以😀", 10, false);
        assert_eq!(e.ids.last(), Some(&SYM));
    }

    #[test]
    fn unseen_han_is_unk_and_truncation_is_reported() {
        let t = tok();
        assert_eq!(t.encode("龘", 10, false).ids, vec![UNK]);
        let e = t.encode("不用了不用了不用了", 4, false);
        assert!(e.truncated);
        assert_eq!(e.ids.len(), 4);
        let tail = t.encode("谢谢不用", 2, true);
        assert_eq!(tail.ids, t.encode("不用", 2, false).ids);
    }

    #[test]
    fn empty_and_punctuation_only_text_has_no_tokens() {
        assert!(tok().encode("  ，。!? ", 8, false).ids.is_empty());
    }

    #[test]
    fn vocabulary_round_trips() {
        let t = tok();
        let u = Tokenizer::from_tokens(t.tokens().to_vec());
        assert_eq!(
            t.encode("no thanks 不用", 10, false),
            u.encode("no thanks 不用", 10, false)
        );
    }
}
