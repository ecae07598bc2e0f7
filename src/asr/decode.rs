//! Decoding policy for Whisper, free of any model: token suppression, greedy choice with log
//! probabilities, loop detection (Whisper repeats 嗯/对 on one- and two-character clips),
//! gzip compression ratio (Whisper's hallucination check), prompt-echo detection and the
//! energy gate that keeps silence away from the model. Pure functions over slices; depends on
//! `flate2` for the compression ratio.

use std::io::Write;

/// Whisper's thresholds (openai/whisper `transcribe.py` defaults).
pub const NO_SPEECH_THRESHOLD: f32 = 0.6;
pub const LOGPROB_THRESHOLD: f32 = -1.0;
pub const COMPRESSION_RATIO_THRESHOLD: f32 = 2.4;

/// Additive logit mask: 0 for allowed tokens, −∞ for suppressed ones.
#[derive(Debug, Clone)]
pub struct LogitMask {
    mask: Vec<f32>,
}

impl LogitMask {
    /// Suppresses `ids` and every id from `first_special` up except `keep` (end of text), so
    /// greedy decoding emits only text and the end token.
    pub fn new(vocab: usize, ids: &[u32], first_special: u32, keep: &[u32]) -> Self {
        let mut mask = vec![0.0; vocab];
        for &id in ids {
            if let Some(m) = mask.get_mut(id as usize) {
                *m = f32::NEG_INFINITY;
            }
        }
        for (id, m) in mask.iter_mut().enumerate().skip(first_special as usize) {
            if !keep.contains(&(id as u32)) {
                *m = f32::NEG_INFINITY;
            }
        }
        Self { mask }
    }

    /// A copy that also suppresses `ids` (used for the first sampled token).
    pub fn with(&self, ids: &[u32]) -> Self {
        let mut out = self.clone();
        for &id in ids {
            if let Some(m) = out.mask.get_mut(id as usize) {
                *m = f32::NEG_INFINITY;
            }
        }
        out
    }

    /// Greedy choice over `logits + mask`: the token and its log-probability under the masked
    /// distribution. `None` only if every token is masked or logits are empty.
    pub fn argmax(&self, logits: &[f32]) -> Option<(u32, f32)> {
        let mut best: Option<(usize, f32)> = None;
        let mut max = f32::NEG_INFINITY;
        for (i, (&l, &m)) in logits.iter().zip(&self.mask).enumerate() {
            let v = l + m;
            if v > max {
                max = v;
                best = Some((i, v));
            }
        }
        let (id, v) = best?;
        let lse = max
            + logits
                .iter()
                .zip(&self.mask)
                .map(|(&l, &m)| (l + m - max).exp())
                .sum::<f32>()
                .ln();
        Some((id as u32, v - lse))
    }
}

impl LogitMask {
    /// The `k` best tokens of `logits + mask` with their log-probabilities under the masked
    /// distribution, best first (beam search candidates).
    pub fn top_k(&self, logits: &[f32], k: usize) -> Vec<(u32, f32)> {
        let mut max = f32::NEG_INFINITY;
        let mut best: Vec<(u32, f32)> = Vec::with_capacity(k + 1);
        for (i, (&l, &m)) in logits.iter().zip(&self.mask).enumerate() {
            let v = l + m;
            if v == f32::NEG_INFINITY || v.is_nan() {
                continue;
            }
            max = max.max(v);
            if best.len() < k || best.last().is_some_and(|&(_, w)| v > w) {
                let at = best.partition_point(|&(_, w)| w >= v);
                best.insert(at, (i as u32, v));
                best.truncate(k);
            }
        }
        if best.is_empty() {
            return best;
        }
        let lse = max
            + logits
                .iter()
                .zip(&self.mask)
                .map(|(&l, &m)| (l + m - max).exp())
                .sum::<f32>()
                .ln();
        best.into_iter().map(|(id, v)| (id, v - lse)).collect()
    }
}

/// Softmax probability of `id` under unmasked `logits`.
pub fn probability(logits: &[f32], id: u32) -> f32 {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let sum: f32 = logits.iter().map(|&l| (l - max).exp()).sum();
    logits
        .get(id as usize)
        .map_or(0.0, |&l| (l - max).exp() / sum)
}

/// If the tail of `tokens` is a loop — one token repeated 4+ times, a 2–4 token unit repeated
/// 3+ times, or a 5–24 token phrase said twice in a row — the length to cut to: the end of the
/// unit's first occurrence.
pub fn loop_cut(tokens: &[u32]) -> Option<usize> {
    loop_cut_kind(tokens).map(|(cut, _)| cut)
}

/// Like [`loop_cut`], also telling whether it was a true loop (3+ repeats, the decoder is
/// stuck) rather than a phrase said twice (the decoder re-reading short input).
pub fn loop_cut_kind(tokens: &[u32]) -> Option<(usize, bool)> {
    for unit in 1..=24usize {
        let min_repeats = match unit {
            1 => 4,
            2..=4 => 3,
            _ => 2,
        };
        if tokens.len() < unit * min_repeats {
            continue;
        }
        let tail = &tokens[tokens.len() - unit..];
        let mut repeats = 1;
        let mut end = tokens.len() - unit;
        while end >= unit && &tokens[end - unit..end] == tail {
            repeats += 1;
            end -= unit;
        }
        if repeats >= min_repeats {
            return Some((end + unit, repeats >= 3));
        }
    }
    None
}

/// gzip-style compression ratio of the text's UTF-8 bytes (Whisper uses zlib the same way):
/// repetitive hallucinations compress far better than speech.
pub fn compression_ratio(text: &str) -> f32 {
    if text.is_empty() {
        return 0.0;
    }
    let mut enc = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    // Writing to a Vec cannot fail.
    if enc.write_all(text.as_bytes()).is_err() {
        return 0.0;
    }
    match enc.finish() {
        Ok(c) if !c.is_empty() => text.len() as f32 / c.len() as f32,
        _ => 0.0,
    }
}

fn content_chars(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// Removes an echoed prompt from the start of `text`; returns `(text, echoed)`. A transcript
/// that is wholly a ≥ 5-character piece of the prompt counts as an echo (short hot words the
/// callee really says survive).
pub fn strip_prompt_echo(text: &str, prompt: Option<&str>) -> (String, bool) {
    let Some(prompt) = prompt.filter(|p| !p.trim().is_empty()) else {
        return (text.to_string(), false);
    };
    let p = content_chars(prompt);
    let t = content_chars(text);
    if t.is_empty() {
        return (text.to_string(), false);
    }
    let items: Vec<String> = prompt
        .split(['。', '.', '!', '?', '！', '？', '，', ','])
        .map(content_chars)
        .filter(|i| !i.is_empty())
        .collect();
    let first = items.first().cloned().unwrap_or_default();
    let is_hot_word = items.iter().skip(1).any(|i| *i == t);
    // Wholly prompt: any ≥ 2-character piece of the leading sentence ("普通话"), or a
    // ≥ 5-character piece of the rest that is not exactly one hot word.
    if !is_hot_word
        && ((t.chars().count() >= 2 && first.contains(&t))
            || (t.chars().count() >= 5 && p.contains(&t)))
    {
        return (String::new(), true);
    }
    // A ≥ 3-character piece of the leading sentence glued before the transcript: drop it.
    let chars: Vec<char> = text.trim_start().chars().collect();
    let mut cut = 0;
    for n in 3..chars.len() {
        let head: String = chars[..n].iter().collect();
        if first.contains(&content_chars(&head)) && content_chars(&head).chars().count() == n {
            cut = n;
        }
    }
    if cut > 0 {
        let rest: String = chars[cut..].iter().collect();
        let rest = rest
            .trim_start_matches(['。', '.', '，', ',', ' '])
            .to_string();
        return (rest, true);
    }
    (text.to_string(), false)
}

/// True when `text` is more than `voiced_s` seconds of speech could carry: Mandarin rarely
/// exceeds 6 characters per second, English 3.5 words per second; two units of slack cover
/// clipped onsets. Catches hallucinated sentences on 嗯/对-length clips.
pub fn implausibly_long(text: &str, voiced_s: f32, english: bool) -> bool {
    let units = if english {
        text.split_whitespace().count()
    } else {
        text.chars().filter(|c| c.is_alphanumeric()).count()
    };
    let per_second = if english { 4.0 } else { 7.0 };
    units as f32 > 2.0 + per_second * voiced_s
}

/// Speech extent found by the energy gate, in samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VoicedExtent {
    pub start: usize,
    pub end: usize,
}

/// RMS of the loudest 20 ms frame must reach this (≈ −44 dBFS) for a segment to be decoded.
pub const ENERGY_GATE_RMS: f32 = 0.006;

/// The energy gate: `None` when no 20 ms frame is loud enough to be speech, otherwise the
/// first and last frames within 30 dB of the loudest (the voiced extent).
pub fn energy_gate(samples: &[f32], sample_rate: usize) -> Option<VoicedExtent> {
    let frame = (sample_rate / 50).max(1);
    let rms: Vec<f32> = samples
        .chunks(frame)
        .map(|c| (c.iter().map(|s| s * s).sum::<f32>() / c.len() as f32).sqrt())
        .collect();
    let peak = rms.iter().copied().fold(0.0f32, f32::max);
    if peak.is_nan() || peak < ENERGY_GATE_RMS {
        return None;
    }
    let floor = (peak * 0.0316).max(ENERGY_GATE_RMS * 0.5);
    let first = rms.iter().position(|&r| r >= floor)?;
    let last = rms.iter().rposition(|&r| r >= floor)?;
    Some(VoicedExtent {
        start: first * frame,
        end: ((last + 1) * frame).min(samples.len()),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn mask_suppresses_specials_but_keeps_eot() {
        let m = LogitMask::new(6, &[1], 3, &[4]);
        let (id, lp) = m.argmax(&[0.0, 9.0, 1.0, 8.0, 0.5, 7.0]).unwrap();
        assert_eq!(id, 2);
        assert!(lp < 0.0);
        let (id, _) = m.argmax(&[0.0, 9.0, 0.0, 8.0, 5.0, 7.0]).unwrap();
        assert_eq!(id, 4);
        assert_eq!(
            m.with(&[4, 2])
                .argmax(&[0.0, 9.0, 1.0, 8.0, 5.0, 7.0])
                .unwrap()
                .0,
            0
        );
    }

    #[test]
    fn top_k_matches_argmax_and_orders_candidates() {
        let m = LogitMask::new(6, &[1], 5, &[]);
        let logits = [0.0, 9.0, 3.0, 2.0, 2.5, 7.0];
        let top = m.top_k(&logits, 3);
        assert_eq!(top.iter().map(|t| t.0).collect::<Vec<_>>(), vec![2, 4, 3]);
        let (id, lp) = m.argmax(&logits).unwrap();
        assert_eq!((id, lp), top[0]);
        let total: f32 = m.top_k(&logits, 6).iter().map(|t| t.1.exp()).sum();
        assert!((total - 1.0).abs() < 1e-5);
        assert!(m.top_k(&[f32::NEG_INFINITY; 6], 2).is_empty());
    }

    #[test]
    fn loops_are_cut_to_their_first_occurrence() {
        assert_eq!(loop_cut(&[7, 5, 5, 5, 5]), Some(2));
        assert_eq!(loop_cut(&[5, 5, 5]), None);
        assert_eq!(loop_cut(&[1, 2, 3, 2, 3, 2, 3]), Some(3));
        assert_eq!(loop_cut(&[1, 2, 3, 4, 5, 6]), None);
        assert_eq!(loop_cut(&[9, 1, 2, 3, 4, 5, 1, 2, 3, 4, 5]), Some(6));
        assert_eq!(loop_cut(&[1, 2, 1, 2]), None);
    }

    #[test]
    fn repetitive_text_compresses_well() {
        let looped = "对对对对对对对对对对对对对对对对对对对对对对对对对对对对对对";
        assert!(compression_ratio(looped) > COMPRESSION_RATIO_THRESHOLD);
        assert!(compression_ratio("我认为跑步最重要的就是给我带来了身体健康") < 2.0);
    }

    #[test]
    fn prompt_echo_is_detected_but_hot_words_survive() {
        let p = Some("以下是普通话的句子。安心保。");
        assert_eq!(
            strip_prompt_echo("以下是普通话的句子", p),
            (String::new(), true)
        );
        assert_eq!(
            strip_prompt_echo("以下是普通话的句子。好的可以", p),
            ("好的可以".to_string(), true)
        );
        assert_eq!(
            strip_prompt_echo("安心保", p),
            ("安心保".to_string(), false)
        );
        assert_eq!(strip_prompt_echo("是的", None), ("是的".to_string(), false));
        assert_eq!(strip_prompt_echo("普通话", p), (String::new(), true));
        assert_eq!(
            strip_prompt_echo("普通话可以。", p),
            ("可以。".to_string(), true)
        );
        assert_eq!(
            strip_prompt_echo("好的，可以。", p),
            ("好的，可以。".to_string(), false)
        );
    }

    #[test]
    fn implausible_lengths() {
        assert!(implausibly_long("不能让人的事。", 0.46, false));
        assert!(!implausibly_long("嗯", 0.26, false));
        assert!(!implausibly_long("好的，可以。", 1.38, false));
        assert!(!implausibly_long(
            "ask not what your country can do",
            2.0,
            true
        ));
    }

    #[test]
    fn energy_gate_rejects_silence_and_finds_speech() {
        assert_eq!(energy_gate(&vec![0.0; 16000], 16000), None);
        assert_eq!(energy_gate(&vec![0.001; 16000], 16000), None);
        let mut s = vec![0.0; 16000];
        for (i, v) in s.iter_mut().enumerate().skip(4000).take(8000) {
            *v = (i as f32 * 0.1).sin() * 0.3;
        }
        let e = energy_gate(&s, 16000).unwrap();
        assert_eq!((e.start, e.end), (3840, 12160));
    }
}
