//! Domain biasing for the Whisper decoder: shallow fusion with the campaign's phrases (its
//! script's prompts, the replies its callees are expected to give). The phrases become a trie
//! of Whisper tokens; at each greedy step, a token that continues a phrase the transcript has
//! already begun gets `bonus` added to its logit. A phrase is never *started* by the bias —
//! only the audio starts one — so speech outside the domain is decoded as before: nothing is
//! invented from silence or from unrelated words.
//!
//! Pure apart from the tokenizer it is built with; the trie is built once, on first use.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::sync::{Arc, OnceLock};

/// Longest phrase, in tokens, the trie keeps (and so the deepest suffix it looks back over).
const MAX_DEPTH: usize = 24;
/// Tokens of a phrase the audio must have given before the bias continues it (one token is
/// too common a start: every phrase beginning with 我 would be pushed after every 我).
const MIN_BEGUN: usize = 2;

/// The phrases a campaign biases its recognition towards, and how strongly.
#[derive(Clone)]
pub struct PhraseBias {
    inner: Arc<Inner>,
}

struct Inner {
    phrases: Vec<String>,
    bonus: f32,
    trie: OnceLock<TokenTrie>,
}

impl PhraseBias {
    /// `bonus` is added to the logit of a token that continues a begun phrase (1–3 is
    /// sensible; logits of plausible tokens differ by a few units).
    pub fn new(phrases: impl IntoIterator<Item = String>, bonus: f32) -> Self {
        let mut phrases: Vec<String> = phrases
            .into_iter()
            .map(|p| p.trim().to_string())
            .filter(|p| p.chars().count() >= 2)
            .collect();
        phrases.sort();
        phrases.dedup();
        Self {
            inner: Arc::new(Inner {
                phrases,
                bonus,
                trie: OnceLock::new(),
            }),
        }
    }

    /// These phrases and `more`, with the same bonus: a second trie, for a phase of the call
    /// that expects other words too (the first seconds, when a carrier or a mailbox may
    /// speak).
    pub fn with(&self, more: &[&str]) -> Self {
        Self::new(
            self.inner
                .phrases
                .iter()
                .cloned()
                .chain(more.iter().map(|p| p.to_string())),
            self.inner.bonus,
        )
    }

    pub fn len(&self) -> usize {
        self.inner.phrases.len()
    }

    pub fn is_empty(&self) -> bool {
        self.inner.phrases.is_empty()
    }

    /// Adds the bonus to the logits of every token that continues a phrase `emitted` (the
    /// transcript's tokens so far) has begun. `encode` tokenizes a phrase (used once).
    pub fn boost(&self, emitted: &[u32], logits: &mut [f32], encode: impl Fn(&str) -> Vec<u32>) {
        let trie = self.inner.trie.get_or_init(|| {
            let mut t = TokenTrie::default();
            for p in &self.inner.phrases {
                // Each clause of a phrase on its own too: a reply is often one of them.
                for clause in p.split(['，', '。', '？', '！', ',', '.', '?', '!', '、']) {
                    let ids = encode(clause.trim());
                    t.insert(&ids[..ids.len().min(MAX_DEPTH)]);
                }
            }
            t
        });
        let bonus = self.inner.bonus;
        let from = emitted.len().saturating_sub(MAX_DEPTH);
        let mut boosted: Vec<u32> = Vec::new();
        for start in from..emitted.len().saturating_sub(MIN_BEGUN - 1) {
            if let Some(node) = trie.walk(&emitted[start..]) {
                for &next in trie.children(node) {
                    if !boosted.contains(&next) {
                        boosted.push(next);
                    }
                }
            }
        }
        for id in boosted {
            if let Some(l) = logits.get_mut(id as usize) {
                *l += bonus;
            }
        }
    }
}

/// Phrases from a file: one a line, or the `text` column of a TSV whose first line names its
/// columns (the intent corpus); `#` lines and blank lines skipped.
pub fn read_phrases(path: &Path) -> std::io::Result<Vec<String>> {
    let body = std::fs::read_to_string(path)?;
    let mut lines = body
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .peekable();
    let column = lines
        .peek()
        .and_then(|h| h.split('\t').position(|c| c.trim() == "text"));
    if column.is_some() {
        lines.next();
    }
    let phrases: Vec<String> = lines
        .filter_map(|l| l.split('\t').nth(column.unwrap_or(0)).map(str::to_string))
        .collect();
    if phrases.is_empty() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "no phrases (one a line, or a TSV with a `text` column)",
        ));
    }
    Ok(phrases)
}

impl fmt::Debug for PhraseBias {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PhraseBias")
            .field("phrases", &self.inner.phrases.len())
            .field("bonus", &self.inner.bonus)
            .finish()
    }
}

impl PartialEq for PhraseBias {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
            || (self.inner.bonus == other.inner.bonus && self.inner.phrases == other.inner.phrases)
    }
}

/// Phrases as sequences of token ids; node 0 is the root.
#[derive(Debug)]
struct TokenTrie {
    next: Vec<HashMap<u32, u32>>,
}

impl Default for TokenTrie {
    fn default() -> Self {
        Self {
            next: vec![HashMap::new()],
        }
    }
}

impl TokenTrie {
    fn insert(&mut self, ids: &[u32]) {
        let mut node = 0usize;
        for &id in ids {
            node = match self.next[node].get(&id) {
                Some(&n) => n as usize,
                None => {
                    self.next.push(HashMap::new());
                    let n = self.next.len() - 1;
                    self.next[node].insert(id, n as u32);
                    n
                }
            };
        }
    }

    /// The node `ids` leads to from the root, if all of it is a phrase's beginning.
    fn walk(&self, ids: &[u32]) -> Option<usize> {
        let mut node = 0usize;
        for id in ids {
            node = *self.next[node].get(id)? as usize;
        }
        Some(node)
    }

    fn children(&self, node: usize) -> impl Iterator<Item = &u32> {
        self.next[node].keys()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One token per character, for the test.
    fn chars(s: &str) -> Vec<u32> {
        s.chars().map(|c| c as u32).collect()
    }

    fn logits() -> Vec<f32> {
        vec![0.0; 0x10000]
    }

    #[test]
    fn a_begun_phrase_is_continued_and_none_is_started() {
        let b = PhraseBias::new(["帮我转人工".to_string(), "多少钱".to_string()], 2.0);
        // Nothing emitted: no phrase is started by the bias.
        let mut l = logits();
        b.boost(&[], &mut l, chars);
        assert!(l.iter().all(|&x| x == 0.0));
        // "帮我" begun: 转 is boosted, nothing else.
        let mut l = logits();
        b.boost(&chars("喂帮我"), &mut l, chars);
        assert_eq!(l['转' as usize], 2.0);
        assert_eq!(l.iter().filter(|&&x| x != 0.0).count(), 1);
        // "多少" begun at the end of other words: 钱 is boosted; one token is not enough.
        let mut l = logits();
        b.boost(&chars("我想问多少"), &mut l, chars);
        assert_eq!(l['钱' as usize], 2.0);
        let mut l = logits();
        b.boost(&chars("我想问多"), &mut l, chars);
        assert!(l.iter().all(|&x| x == 0.0));
        // Unrelated text: nothing.
        let mut l = logits();
        b.boost(&chars("今天天气"), &mut l, chars);
        assert!(l.iter().all(|&x| x == 0.0));
    }

    #[test]
    fn phrases_are_read_from_lines_or_a_tsv_text_column() {
        let dir = tempfile::tempdir().expect("temp dir");
        let lines = dir.path().join("p.txt");
        std::fs::write(&lines, "# domain\n帮我转人工\n\n多少钱\n").expect("writes");
        assert_eq!(
            read_phrases(&lines).expect("reads"),
            ["帮我转人工", "多少钱"]
        );
        let tsv = dir.path().join("p.tsv");
        std::fs::write(&tsv, "# corpus\nsource\ttext\tlabel\ngen\t好的\taffirm\n").expect("writes");
        assert_eq!(read_phrases(&tsv).expect("reads"), ["好的"]);
        std::fs::write(&tsv, "# nothing\n").expect("writes");
        assert!(read_phrases(&tsv).is_err());
    }

    #[test]
    fn clauses_count_on_their_own_and_short_phrases_are_dropped() {
        let b = PhraseBias::new(["好的，我考虑一下".to_string(), "嗯".to_string()], 1.0);
        assert_eq!(b.len(), 1);
        let mut l = logits();
        b.boost(&chars("我考"), &mut l, chars);
        assert_eq!(l['虑' as usize], 1.0);
        let mut l = logits();
        b.boost(&chars("好的"), &mut l, chars);
        assert_eq!(l['，' as usize], 0.0, "clauses are phrases of their own");
        let mut l = logits();
        b.boost(&chars("我考"), &mut l, chars);
        assert_eq!(l['虑' as usize], 1.0);
    }

    #[test]
    fn a_phase_adds_its_phrases_and_keeps_the_bonus() {
        let b = PhraseBias::new(["帮我转人工".to_string()], 2.0);
        let early = b.with(&["您拨打的电话已关机", "帮我转人工"]);
        assert_eq!((b.len(), early.len()), (1, 2));
        let mut l = logits();
        early.boost(&chars("您拨打的电话已关"), &mut l, chars);
        assert_eq!(l['机' as usize], 2.0);
        let mut l = logits();
        early.boost(&chars("帮我转"), &mut l, chars);
        assert_eq!(l['人' as usize], 2.0);
        let mut l = logits();
        b.boost(&chars("您拨打的电话已关"), &mut l, chars);
        assert!(
            l.iter().all(|&x| x == 0.0),
            "the campaign's own trie is unchanged"
        );
    }
}
