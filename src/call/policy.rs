//! What counts as a real interruption, and the fallback Q&A retrieval. Pure text functions.
//!
//! A callee who says 嗯, 对, 好的, uh-huh or ok while the bot talks is listening, not taking
//! the turn: that is a *backchannel*, and it must not stop a prompt (or, when the media engine
//! already stopped it on speech, the prompt resumes). Neither must noise (an empty transcript)
//! nor the echo of our own prompt leaking back from the callee's handset: a transcript that is
//! mostly the text of the prompt playing is an echo.
//!
//! Q&A retrieval scores a transcript against each entry's question variants by character
//! bigram overlap (Dice coefficient over normalised text), which suits short colloquial
//! Mandarin without a segmenter, and words for English.

use std::collections::HashSet;

use crate::nlu::tokenizer::fold;

/// Words that only acknowledge (Mandarin and English), after normalisation.
const BACKCHANNELS: &[&str] = &[
    "嗯",
    "嗯嗯",
    "恩",
    "唔",
    "哦",
    "噢",
    "喔",
    "啊",
    "呃",
    "额",
    "对",
    "对对",
    "对对对",
    "是",
    "是的",
    "是是",
    "好",
    "好的",
    "好好",
    "行",
    "嗯对",
    "嗯好",
    "嗯是",
    "哦哦",
    "okay",
    "ok",
    "uhhuh",
    "uhuh",
    "mhm",
    "mmhmm",
    "mm",
    "hmm",
    "yeah",
    "yes",
    "right",
    "sure",
    "isee",
];

/// Lower-cased letters, digits and CJK only (punctuation and spaces dropped).
pub fn normalize(text: &str) -> String {
    text.chars()
        .map(fold)
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// True when the transcript is only acknowledgement (嗯, 对对, 好的, uh-huh, ok …).
pub fn is_backchannel(text: &str) -> bool {
    let t = normalize(text);
    if t.is_empty() {
        return false;
    }
    if BACKCHANNELS.contains(&t.as_str()) {
        return true;
    }
    // Repetitions and combinations of short tokens: 嗯嗯嗯, 对对好的, 嗯对的.
    let mut by_len: Vec<&&str> = BACKCHANNELS.iter().collect();
    by_len.sort_by_key(|b| std::cmp::Reverse(b.len()));
    let mut rest = t.as_str();
    'outer: while !rest.is_empty() {
        for b in &by_len {
            if let Some(r) = rest.strip_prefix(*b) {
                rest = r;
                continue 'outer;
            }
        }
        if let Some(r) = rest.strip_prefix('的') {
            rest = r;
            continue;
        }
        return false;
    }
    true
}

fn bigrams(t: &str) -> HashSet<(char, char)> {
    let chars: Vec<char> = t.chars().collect();
    if chars.len() == 1 {
        return std::iter::once((chars[0], '\0')).collect();
    }
    chars.windows(2).map(|w| (w[0], w[1])).collect()
}

/// Dice similarity of character bigrams of two normalised texts, 0..1.
pub fn similarity(a: &str, b: &str) -> f32 {
    let (a, b) = (normalize(a), normalize(b));
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    let (x, y) = (bigrams(&a), bigrams(&b));
    let common = x.intersection(&y).count();
    2.0 * common as f32 / (x.len() + y.len()) as f32
}

/// Share of the transcript's bigrams found in the prompt's text, 0..1: how much of what was
/// "heard" is our own prompt.
pub fn echo_share(transcript: &str, prompt_text: &str) -> f32 {
    let (a, b) = (normalize(transcript), normalize(prompt_text));
    if a.chars().count() < 3 || b.is_empty() {
        return 0.0;
    }
    let (x, y) = (bigrams(&a), bigrams(&b));
    x.intersection(&y).count() as f32 / x.len() as f32
}

/// Above this share of its bigrams in the playing prompt, a transcript is an echo.
pub const ECHO_SHARE: f32 = 0.6;

/// Why speech during a prompt does or does not take the turn.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Interruption {
    /// A real reply: stop (or stay stopped) and handle it.
    Real,
    Backchannel,
    /// Nothing recognisable (empty or suppressed transcript).
    Noise,
    /// Our own prompt heard back.
    Echo,
}

/// Characters that make even a one- or two-character reply a real turn (不, 别, 停 …).
const TURN_TAKERS: &[char] = &[
    '不', '别', '停', '等', '没', '谁', '啥', '喂', '什', '多', '钱', '要',
];
/// English words that take the turn however short the reply.
const TURN_WORDS: &[&str] = &["no", "stop", "wait", "what", "who", "nope", "hello"];

/// A very short reply (one or two characters, one English word) that is not a refusal or a
/// question: over a prompt it is almost always an acknowledgement the recogniser misheard
/// (嗯 → 诺, 哦 → 喔 …).
fn is_short_acknowledgement(t: &str) -> bool {
    if t.is_ascii() {
        return !t.is_empty() && t.len() <= 6 && !TURN_WORDS.contains(&t);
    }
    t.chars().count() <= 2 && !t.chars().any(|c| TURN_TAKERS.contains(&c))
}

/// Speech this short (voiced ms) over a prompt is an acknowledgement unless its words take the
/// turn: the recogniser often turns a 嗯嗯 or 对对对 into a few random characters.
pub const SHORT_SPEECH_MS: u32 = 700;

/// Words that take the turn even in very short speech (a refusal, "wait", "who?").
const SHORT_TURN_PHRASES: &[&str] = &[
    "不要",
    "不用",
    "不需要",
    "不行",
    "不是",
    "别",
    "停",
    "等等",
    "等一下",
    "谁",
    "什么",
    "啥",
    "喂",
    "多少",
    "no",
    "stop",
    "wait",
];

fn takes_turn(t: &str) -> bool {
    SHORT_TURN_PHRASES.iter().any(|w| t.contains(w))
}

/// Classifies speech heard while a prompt plays; `voiced_ms` is how much speech the VAD found
/// in it, when known.
pub fn interruption(
    transcript: &str,
    playing_text: Option<&str>,
    voiced_ms: Option<u32>,
) -> Interruption {
    let t = normalize(transcript);
    if t.is_empty() {
        return Interruption::Noise;
    }
    if is_backchannel(transcript) || is_short_acknowledgement(&t) {
        return Interruption::Backchannel;
    }
    if voiced_ms.is_some_and(|v| v <= SHORT_SPEECH_MS) && !takes_turn(&t) {
        return Interruption::Backchannel;
    }
    if let Some(p) = playing_text {
        if echo_share(transcript, p) >= ECHO_SHARE {
            return Interruption::Echo;
        }
    }
    Interruption::Real
}

/// The best Q&A entry for a transcript: (entry index, score) when any scores above zero.
pub fn best_answer<'a>(
    transcript: &str,
    entries: impl IntoIterator<Item = &'a [String]>,
) -> Option<(usize, f32)> {
    let mut best: Option<(usize, f32)> = None;
    for (i, questions) in entries.into_iter().enumerate() {
        for q in questions {
            let s = similarity(transcript, q);
            if s > 0.0 && best.is_none_or(|(_, b)| s > b) {
                best = Some((i, s));
            }
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backchannels_are_recognised_and_replies_are_not() {
        for b in [
            "嗯。",
            "嗯嗯",
            "对对对",
            "好的。",
            "是的",
            "行",
            "Uh-huh.",
            "Okay.",
            "哦。",
            "嗯，对的",
        ] {
            assert!(is_backchannel(b), "{b}");
        }
        for r in [
            "不需要",
            "多少钱",
            "好的，我想了解一下",
            "对，是我",
            "你是哪位",
            "No thanks",
            "",
        ] {
            assert!(!is_backchannel(r), "{r}");
        }
    }

    #[test]
    fn interruptions_are_classified() {
        let playing = "我们最近推出了一款百万医疗险，住院费用最高可以报销一百万";
        assert_eq!(interruption("", Some(playing), None), Interruption::Noise);
        assert_eq!(
            interruption("诺。", Some(playing), None),
            Interruption::Backchannel
        );
        assert_eq!(
            interruption("不用", Some(playing), None),
            Interruption::Real
        );
        assert_eq!(
            interruption("谁啊", Some(playing), None),
            Interruption::Real
        );
        assert_eq!(interruption("No.", Some(playing), None), Interruption::Real);
        // Short speech heard as random words is an acknowledgement; short refusals are not.
        assert_eq!(
            interruption("年了呢", Some(playing), Some(450)),
            Interruption::Backchannel
        );
        assert_eq!(
            interruption("年了呢", Some(playing), Some(1200)),
            Interruption::Real
        );
        assert_eq!(
            interruption("不需要", Some(playing), Some(500)),
            Interruption::Real
        );
        assert_eq!(
            interruption("嗯。", Some(playing), None),
            Interruption::Backchannel
        );
        assert_eq!(
            interruption("推出了一款百万医疗险", Some(playing), None),
            Interruption::Echo
        );
        assert_eq!(
            interruption("不要再给我打电话了", Some(playing), None),
            Interruption::Real
        );
        assert_eq!(
            interruption("医疗险多少钱", Some(playing), None),
            Interruption::Real
        );
    }

    #[test]
    fn qa_retrieval_finds_the_closest_question() {
        let entries = [
            vec!["理赔麻烦吗".to_string(), "怎么理赔".to_string()],
            vec!["可以退保吗".to_string(), "怎么退保".to_string()],
        ];
        let (i, s) =
            best_answer("理赔麻不麻烦啊", entries.iter().map(|v| v.as_slice())).expect("an answer");
        assert_eq!(i, 0);
        assert!(s > 0.4, "{s}");
        let (i, _) =
            best_answer("我想退保", entries.iter().map(|v| v.as_slice())).expect("an answer");
        assert_eq!(i, 1);
        assert!(
            best_answer("今天天气不错", entries.iter().map(|v| v.as_slice()))
                .is_none_or(|(_, s)| s < 0.3)
        );
    }
}
