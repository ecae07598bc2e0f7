//! Sentiment of a reply (negative / neutral / positive) from a lexicon of colloquial Mandarin
//! and English cue words with negation ("不满意" is negative, "不错" positive) and intensifiers.
//! Rule-based on purpose: it must be predictable for escalation to a human and it needs no
//! training data. Pure; depends on the tokenizer's normalisation only.

use super::tokenizer::normalize;

/// Polarity with a score in [-1, 1] (negative below -0.25, positive above 0.25).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sentiment {
    pub polarity: Polarity,
    pub score: f32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Polarity {
    Negative,
    Neutral,
    Positive,
}

impl Polarity {
    /// The polarity of a score: negative below -0.25, positive above 0.25.
    pub fn of(score: f32) -> Polarity {
        if score < -0.25 {
            Polarity::Negative
        } else if score > 0.25 {
            Polarity::Positive
        } else {
            Polarity::Neutral
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Polarity::Negative => "negative",
            Polarity::Neutral => "neutral",
            Polarity::Positive => "positive",
        }
    }
}

/// (cue, weight). Longer cues are matched first, so "不错" is not read as "不" + "错".
const LEXICON: &[(&str, f32)] = &[
    // Mandarin, negative
    ("骚扰", -2.0),
    ("投诉", -2.0),
    ("骗子", -2.5),
    ("举报", -2.0),
    ("有病", -2.5),
    ("神经病", -2.5),
    ("滚", -2.5),
    ("烦", -1.5),
    ("讨厌", -1.5),
    ("气死", -2.0),
    ("生气", -1.5),
    ("太差", -2.0),
    ("差劲", -2.0),
    ("垃圾", -2.0),
    ("坑人", -2.0),
    ("过分", -1.5),
    ("恶心", -2.0),
    ("报警", -2.5),
    ("没完没了", -2.0),
    ("不耐烦", -1.5),
    ("失望", -1.5),
    ("贵", -0.6),
    ("麻烦", -0.5),
    ("不满", -1.5),
    ("扰民", -2.0),
    ("别打了", -1.0),
    ("说话不算数", -1.5),
    ("告你们", -2.0),
    // Mandarin, positive
    ("谢谢", 0.8),
    ("好的", 0.6),
    ("不错", 1.2),
    ("挺好", 1.2),
    ("满意", 1.2),
    ("感兴趣", 1.0),
    ("太好了", 1.8),
    ("喜欢", 1.2),
    ("划算", 1.0),
    ("可以", 0.5),
    ("没问题", 0.8),
    ("优惠", 0.5),
    ("方便", 0.4),
    ("心动", 1.0),
    ("辛苦", 0.6),
    // English
    ("harass", -2.0),
    ("scam", -2.5),
    ("annoying", -1.5),
    ("complain", -2.0),
    ("report you", -2.0),
    ("terrible", -2.0),
    ("ridiculous", -1.5),
    ("stop calling", -1.5),
    ("leave me alone", -2.0),
    ("sick of", -1.5),
    ("hate", -2.0),
    ("angry", -1.5),
    ("expensive", -0.6),
    ("thanks", 0.8),
    ("thank you", 0.8),
    ("great", 1.2),
    ("good", 0.8),
    ("interested", 1.0),
    ("love", 1.2),
    ("perfect", 1.2),
    ("sure", 0.5),
    ("nice", 0.8),
];

/// Words that flip the polarity of the cue right after them.
const NEGATORS: &[&str] = &["不", "没", "别", "not ", "don't ", "no "];
const INTENSIFIERS: &[&str] = &[
    "太", "真", "非常", "特别", "超", "很", "really ", "so ", "very ",
];

/// Scores one reply.
pub fn analyze(text: &str) -> Sentiment {
    let norm = normalize(text);
    let mut cues: Vec<&(&str, f32)> = LEXICON.iter().collect();
    cues.sort_by_key(|(c, _)| std::cmp::Reverse(c.len()));
    let mut used = vec![false; norm.len()];
    let mut total = 0f32;
    for &(cue, weight) in cues {
        let mut from = 0;
        while let Some(pos) = norm[from..].find(cue).map(|p| p + from) {
            let end = pos + cue.len();
            from = end;
            if used[pos..end].iter().any(|&u| u) {
                continue;
            }
            used[pos..end].iter_mut().for_each(|u| *u = true);
            let before = &norm[..pos];
            // A cue that itself starts with a negator ("不错", "不满") already carries it.
            let negated = NEGATORS.iter().any(|n| before.ends_with(n))
                && !NEGATORS.iter().any(|n| cue.starts_with(n.trim()));
            let intense = INTENSIFIERS.iter().any(|i| before.ends_with(i));
            let mut w = if negated { -weight * 0.8 } else { weight };
            if intense {
                w *= 1.5;
            }
            total += w;
        }
    }
    let score = (total / 2.5).clamp(-1.0, 1.0);
    Sentiment {
        polarity: Polarity::of(score),
        score,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn polarity_of_typical_replies() {
        assert_eq!(
            analyze("你们天天打烦不烦啊我要投诉").polarity,
            Polarity::Negative
        );
        assert_eq!(
            analyze("this is harassment stop calling").polarity,
            Polarity::Negative
        );
        assert_eq!(analyze("挺好的我有兴趣谢谢").polarity, Polarity::Positive);
        assert_eq!(analyze("我在开会").polarity, Polarity::Neutral);
        assert_eq!(analyze("").polarity, Polarity::Neutral);
    }

    #[test]
    fn negation_and_compound_cues() {
        assert_eq!(
            analyze("不错").polarity,
            Polarity::Positive,
            "不错 is a cue, not 不 + 错"
        );
        assert!(analyze("不感兴趣").score < 0.0);
        assert!(analyze("太贵了").score < analyze("贵").score);
    }
}
