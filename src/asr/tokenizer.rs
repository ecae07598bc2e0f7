//! Whisper's byte-level BPE tokenizer, read from the model's `tokenizer.json`.
//!
//! Owns decoding token ids to UTF-8 text and encoding short prompts (hot words, the
//! "以下是普通话的句子" simplified-Chinese bias) to ids. A few hundred lines instead of the
//! `tokenizers` crate: Whisper needs only GPT-2's byte-level BPE, and this keeps the build
//! lean. Depends on `serde_json` only.

use std::collections::HashMap;

/// Why a `tokenizer.json` could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TokenizerError {
    #[error("tokenizer.json is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("tokenizer.json is not a byte-level BPE tokenizer ({0})")]
    NotBpe(String),
    #[error("tokenizer.json lacks the special token {0}")]
    MissingSpecial(&'static str),
}

#[derive(serde::Deserialize)]
struct RawTokenizer {
    model: RawModel,
    #[serde(default)]
    added_tokens: Vec<RawAdded>,
}

#[derive(serde::Deserialize)]
struct RawModel {
    #[serde(rename = "type")]
    kind: String,
    vocab: HashMap<String, u32>,
    merges: Vec<RawMerge>,
}

/// Merges are "a b" strings in older files and `["a", "b"]` pairs in newer ones.
#[derive(serde::Deserialize)]
#[serde(untagged)]
enum RawMerge {
    Joined(String),
    Pair(String, String),
}

#[derive(serde::Deserialize)]
struct RawAdded {
    id: u32,
    content: String,
}

/// GPT-2's reversible byte ↔ printable-character table.
fn byte_to_char_table() -> [char; 256] {
    let mut table = ['\0'; 256];
    let mut extra = 0u32;
    for b in 0..=255u8 {
        let printable = matches!(b, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF);
        let code = if printable {
            u32::from(b)
        } else {
            extra += 1;
            255 + extra
        };
        // Codes are below 0x200 and never surrogates, so the conversion always succeeds.
        table[usize::from(b)] = char::from_u32(code).unwrap_or('\u{FFFD}');
    }
    table
}

/// The tokenizer: vocabulary both ways, merge ranks and special tokens.
pub struct Tokenizer {
    id_to_bytes: Vec<Option<Vec<u8>>>,
    special: HashMap<String, u32>,
    special_by_id: HashMap<u32, String>,
    vocab: HashMap<String, u32>,
    merge_rank: HashMap<(String, String), usize>,
    byte_to_char: [char; 256],
}

impl std::fmt::Debug for Tokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokenizer")
            .field("vocab", &self.vocab.len())
            .field("special", &self.special.len())
            .finish_non_exhaustive()
    }
}

impl Tokenizer {
    pub fn from_json(json: &[u8]) -> Result<Self, TokenizerError> {
        let raw: RawTokenizer = serde_json::from_slice(json)?;
        if raw.model.kind != "BPE" {
            return Err(TokenizerError::NotBpe(raw.model.kind));
        }
        let byte_to_char = byte_to_char_table();
        let char_to_byte: HashMap<char, u8> = byte_to_char
            .iter()
            .enumerate()
            .map(|(b, &c)| (c, b as u8))
            .collect();
        let max_id = raw
            .model
            .vocab
            .values()
            .chain(raw.added_tokens.iter().map(|a| &a.id))
            .copied()
            .max()
            .unwrap_or(0) as usize;
        let mut id_to_bytes = vec![None; max_id + 1];
        for (tok, &id) in &raw.model.vocab {
            let bytes: Option<Vec<u8>> =
                tok.chars().map(|c| char_to_byte.get(&c).copied()).collect();
            id_to_bytes[id as usize] = bytes;
        }
        let mut special = HashMap::new();
        let mut special_by_id = HashMap::new();
        for a in raw.added_tokens {
            id_to_bytes[a.id as usize] = None;
            special_by_id.insert(a.id, a.content.clone());
            special.insert(a.content, a.id);
        }
        let merge_rank = raw
            .model
            .merges
            .into_iter()
            .enumerate()
            .filter_map(|(rank, m)| {
                let pair = match m {
                    RawMerge::Joined(s) => {
                        let (a, b) = s.split_once(' ')?;
                        (a.to_string(), b.to_string())
                    }
                    RawMerge::Pair(a, b) => (a, b),
                };
                Some((pair, rank))
            })
            .collect();
        Ok(Self {
            id_to_bytes,
            special,
            special_by_id,
            vocab: raw.model.vocab,
            merge_rank,
            byte_to_char,
        })
    }

    /// The id of a special token such as `<|zh|>`.
    pub fn special(&self, token: &str) -> Option<u32> {
        self.special.get(token).copied()
    }

    /// Like [`Self::special`], for tokens the engine cannot work without.
    pub fn require(&self, token: &'static str) -> Result<u32, TokenizerError> {
        self.special(token)
            .ok_or(TokenizerError::MissingSpecial(token))
    }

    /// The special token's text (`<|en|>`) if `id` is one.
    pub fn special_text(&self, id: u32) -> Option<&str> {
        self.special_by_id.get(&id).map(String::as_str)
    }

    /// True for ids that carry text (not special, not timestamps).
    pub fn is_text(&self, id: u32) -> bool {
        matches!(self.id_to_bytes.get(id as usize), Some(Some(_)))
    }

    /// The UTF-8 bytes of the text tokens in `ids`; special tokens are skipped.
    pub fn decode_bytes(&self, ids: &[u32]) -> Vec<u8> {
        let mut out = Vec::new();
        for &id in ids {
            if let Some(Some(bytes)) = self.id_to_bytes.get(id as usize) {
                out.extend_from_slice(bytes);
            }
        }
        out
    }

    /// Text of `ids`; an incomplete multi-byte character at a token boundary becomes U+FFFD.
    pub fn decode(&self, ids: &[u32]) -> String {
        String::from_utf8_lossy(&self.decode_bytes(ids)).into_owned()
    }

    /// Byte-level BPE encoding of plain text (no special tokens).
    pub fn encode(&self, text: &str) -> Vec<u32> {
        let mut ids = Vec::new();
        for word in pre_tokenize(text) {
            let mut parts: Vec<String> = word
                .bytes()
                .map(|b| self.byte_to_char[usize::from(b)].to_string())
                .collect();
            loop {
                let best = parts
                    .windows(2)
                    .enumerate()
                    .filter_map(|(i, w)| {
                        self.merge_rank
                            .get(&(w[0].clone(), w[1].clone()))
                            .map(|&r| (r, i))
                    })
                    .min();
                let Some((_, i)) = best else { break };
                let right = parts.remove(i + 1);
                parts[i].push_str(&right);
            }
            for p in parts {
                match self.vocab.get(&p) {
                    Some(&id) => ids.push(id),
                    // Every single byte is in a byte-level vocabulary; fall back to bytes.
                    None => ids.extend(p.chars().filter_map(|c| self.vocab.get(&c.to_string()))),
                }
            }
        }
        ids
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Class {
    Letter,
    Number,
    Space,
    Other,
}

fn class(c: char) -> Class {
    if c.is_whitespace() {
        Class::Space
    } else if c.is_alphabetic() {
        Class::Letter
    } else if c.is_numeric() {
        Class::Number
    } else {
        Class::Other
    }
}

/// GPT-2's pre-tokenisation regex
/// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`, hand-written.
fn pre_tokenize(text: &str) -> Vec<&str> {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let end_of = |i: usize| chars.get(i).map_or(text.len(), |&(b, _)| b);
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let start = i;
        let rest = &text[chars[i].0..];
        if let Some(c) = ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d"]
            .iter()
            .find(|c| rest.starts_with(**c))
        {
            i += c.chars().count();
        } else {
            let c = chars[i].1;
            let next_is_word = chars
                .get(i + 1)
                .is_some_and(|&(_, n)| class(n) != Class::Space);
            if class(c) != Class::Space || (c == ' ' && next_is_word) {
                let body = if c == ' ' { i + 1 } else { i };
                let k = class(chars[body].1);
                i = body;
                while i < chars.len() && class(chars[i].1) == k {
                    i += 1;
                }
            } else {
                while i < chars.len() && class(chars[i].1) == Class::Space {
                    i += 1;
                }
                // Leave the last blank for the next word when it is a space before a word.
                if i < chars.len() && i - start > 1 {
                    i -= 1;
                }
            }
        }
        out.push(&text[end_of(start)..end_of(i)]);
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn pre_tokenizer_matches_gpt2_regex() {
        assert_eq!(
            pre_tokenize("Hello world, it's 42!"),
            vec!["Hello", " world", ",", " it", "'s", " 42", "!"]
        );
        assert_eq!(pre_tokenize("a  b"), vec!["a", " ", " b"]);
        assert_eq!(
            pre_tokenize("以下是普通话的句子。"),
            vec!["以下是普通话的句子", "。"]
        );
        assert_eq!(pre_tokenize("end  "), vec!["end", "  "]);
    }

    #[test]
    fn byte_table_is_a_bijection() {
        let t = byte_to_char_table();
        let set: std::collections::HashSet<char> = t.iter().copied().collect();
        assert_eq!(set.len(), 256);
        assert_eq!(t[usize::from(b' ')], 'Ġ');
    }

    #[test]
    fn tiny_bpe_round_trips() {
        let json = r#"{"model":{"type":"BPE","vocab":{"a":0,"b":1,"Ġ":2,"ab":3,"Ġab":4},
            "merges":["a b","Ġ ab"]},"added_tokens":[{"id":5,"content":"<|endoftext|>"}]}"#;
        let t = Tokenizer::from_json(json.as_bytes()).unwrap();
        assert_eq!(t.encode("ab ab"), vec![3, 4]);
        assert_eq!(t.decode(&[3, 4, 5]), "ab ab");
        assert_eq!(t.special("<|endoftext|>"), Some(5));
        assert!(!t.is_text(5));
    }
}
