//! The engine-neutral recogniser contract: what the media path hands in (16 kHz speech
//! segments) and what it gets back (a final hypothesis with language, timings, confidence and
//! cost). Owns the option and result types shared by every engine; depends on nothing else.

use std::time::{Duration, Instant};

/// Language of a campaign, or `Auto` to let the engine choose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    Zh,
    En,
    #[default]
    Auto,
}

impl Language {
    /// ISO code; `None` for `Auto`.
    pub fn code(self) -> Option<&'static str> {
        match self {
            Self::Zh => Some("zh"),
            Self::En => Some("en"),
            Self::Auto => None,
        }
    }
}

impl std::str::FromStr for Language {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "zh" | "cmn" | "mandarin" | "chinese" => Ok(Self::Zh),
            "en" | "english" => Ok(Self::En),
            "auto" => Ok(Self::Auto),
            other => Err(format!("unknown language {other:?}; use zh, en or auto")),
        }
    }
}

/// Per-request decoding options (a campaign sets them once).
#[derive(Debug, Clone, PartialEq)]
pub struct RecognizeOptions {
    pub language: Language,
    /// Text the decoder sees as "previous" context: biases script (simplified Chinese) and
    /// vocabulary (product names, hot words).
    pub initial_prompt: Option<String>,
    /// The campaign's phrases, continued by shallow fusion once the audio begins one
    /// (Whisper, greedy decoding).
    pub bias: Option<super::bias::PhraseBias>,
}

impl Default for RecognizeOptions {
    fn default() -> Self {
        Self {
            language: Language::Auto,
            initial_prompt: None,
            bias: None,
        }
    }
}

impl RecognizeOptions {
    /// Options for a language with the default prompt: Mandarin gets "以下是普通话的句子。",
    /// which steers Whisper to simplified characters and punctuation.
    pub fn for_language(language: Language) -> Self {
        let initial_prompt = match language {
            Language::Zh => Some(DEFAULT_ZH_PROMPT.to_string()),
            _ => None,
        };
        Self {
            language,
            initial_prompt,
            bias: None,
        }
    }

    /// Appends hot words (domain terms) to the prompt.
    pub fn with_hot_words(mut self, words: &[&str]) -> Self {
        if !words.is_empty() {
            let mut p = self.initial_prompt.take().unwrap_or_default();
            p.push_str(&words.join("，"));
            p.push('。');
            self.initial_prompt = Some(p);
        }
        self
    }
}

/// The prompt that biases Whisper towards simplified Mandarin.
pub const DEFAULT_ZH_PROMPT: &str = "以下是普通话的句子。";

/// A timed piece of the hypothesis, in milliseconds from the start of the segment fed in.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TimedText {
    pub start_ms: u64,
    pub end_ms: u64,
    pub text: String,
}

/// Why a hypothesis was emptied or cut; the media path logs it and counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Suppression {
    /// Audio below the energy gate: not decoded at all.
    Silence,
    /// The model's no-speech probability was high and its confidence low.
    NoSpeech,
    /// The decoder looped (嗯嗯嗯…, repeated phrases): output cut to the first occurrence.
    Repetition,
    /// The decoder returned its own prompt instead of a transcript.
    PromptEcho,
    /// More text than the voiced audio could hold (a hallucination on a short clip).
    Implausible,
}

/// A final hypothesis for one segment.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Hypothesis {
    /// Simplified, half-width text; empty when nothing was said.
    pub text: String,
    /// Language the text is in (detected when `Auto`).
    pub language: Language,
    pub segments: Vec<TimedText>,
    /// exp(mean token log-probability), 0..1.
    pub confidence: f32,
    pub no_speech_prob: f32,
    pub suppressed: Option<Suppression>,
    pub audio_ms: u64,
    pub decode_ms: u64,
}

impl Hypothesis {
    /// What every engine answers for audio below the energy gate: no text, no decoding.
    pub fn silence(language: Language, audio_ms: u64, started: Instant) -> Self {
        Self {
            text: String::new(),
            language,
            segments: Vec::new(),
            confidence: 0.0,
            no_speech_prob: 1.0,
            suppressed: Some(Suppression::Silence),
            audio_ms,
            decode_ms: started.elapsed().as_millis() as u64,
        }
    }

    pub fn decode_time(&self) -> Duration {
        Duration::from_millis(self.decode_ms)
    }
}

/// A speech recogniser: whole-segment engines (Whisper) implement `recognize`; streaming
/// engines may also produce partials, which callers can ignore.
pub trait Recognizer: Send {
    type Error: std::error::Error + Send + Sync + 'static;

    /// Recognises one 16 kHz mono segment (samples in −1.0..=1.0).
    fn recognize(
        &mut self,
        samples: &[f32],
        options: &RecognizeOptions,
    ) -> Result<Hypothesis, Self::Error>;

    /// Same, for 16-bit PCM as the media engine receives it.
    fn recognize_i16(
        &mut self,
        samples: &[i16],
        options: &RecognizeOptions,
    ) -> Result<Hypothesis, Self::Error> {
        let f: Vec<f32> = samples.iter().map(|&s| f32::from(s) / 32768.0).collect();
        self.recognize(&f, options)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn languages_parse() {
        assert_eq!("ZH".parse::<Language>().unwrap(), Language::Zh);
        assert_eq!("auto".parse::<Language>().unwrap(), Language::Auto);
        assert!("fr".parse::<Language>().is_err());
    }

    #[test]
    fn hot_words_extend_the_prompt() {
        let o =
            RecognizeOptions::for_language(Language::Zh).with_hot_words(&["安心保", "少儿编程"]);
        assert_eq!(
            o.initial_prompt.as_deref(),
            Some("以下是普通话的句子。安心保，少儿编程。")
        );
        assert_eq!(
            RecognizeOptions::for_language(Language::En).initial_prompt,
            None
        );
    }
}
