//! The `[asr]` section of `aicall.toml`: which engine recognises callee speech and how it
//! runs. Owns [`AsrConfig`] and turns it into a loaded [`AsrModel`]: Whisper (built in) or,
//! with `engine = "sherpa"`, a sherpa-onnx streaming model directory (`[asr.sherpa]` tunes
//! its decoding and endpointing; a build without the `sherpa` feature says so). Depends on
//! the two engines.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::bias::{read_phrases, PhraseBias};
use super::engine::AsrModel;
use super::recognizer::{Language, RecognizeOptions};
use super::sherpa::{SherpaModelError, SherpaSection};
use super::whisper::{
    set_kernel_threads, EngineConfig, ModelError, Precision, WhisperModel, DEFAULT_MODEL_DIR,
};

/// Recogniser engines a configuration can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum EngineKind {
    /// Whisper on candle, whole-segment decoding (built in).
    #[default]
    Whisper,
    /// A sherpa-onnx streaming transducer/paraformer/zipformer2-CTC model directory
    /// (builds with the `sherpa` feature).
    Sherpa,
}

/// What the Whisper encoder sees of an utterance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Window {
    /// The reply plus `pad_ms` of silence: fast (≈ 0.25 s for a 2 s reply), but on 8 kHz
    /// telephone audio Whisper base loses accuracy without its usual 30 s context.
    #[default]
    Reply,
    /// Whisper's full 30 s window: its best accuracy, about five times the decode time.
    Full,
}

/// `[asr]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AsrConfig {
    pub engine: EngineKind,
    /// Model directory (for Whisper: written by `aicall models import-whisper-ct2`).
    pub model_dir: PathBuf,
    /// Campaign language: zh, en or auto.
    pub language: Language,
    /// Weights: "q8" (default), "f32" or "q8-all".
    pub precision: String,
    /// Threads per decode for candle's kernels (1: one decode per core).
    pub threads: usize,
    /// Beam width (1 = greedy).
    pub beam: usize,
    /// The encoder window: "reply" (default) or "full" (30 s).
    pub window: Window,
    /// Silence appended after a trimmed utterance, in ms.
    pub pad_ms: u32,
    /// With window = "reply": a transcript whose average log-probability per token is below
    /// this is decoded again on the full window, which then wins. Omit to never recheck.
    pub recheck_below: Option<f32>,
    /// Extra prompt text: product names and domain terms the callee may say.
    pub hot_words: Vec<String>,
    /// Replies callees are expected to give (one a line, or a TSV's `text` column — the
    /// intent corpus by default): Whisper continues one once the audio has begun it
    /// (`asr::bias`). A missing default file only turns biasing off.
    pub bias_phrases: Option<PathBuf>,
    /// Logit bonus for a token continuing a begun phrase; 0 turns biasing off.
    pub bias_bonus: f32,
    /// `[asr.sherpa]`: the streaming engine's decoding and endpointing.
    pub sherpa: SherpaSection,
}

/// The intent corpus, whose replies are what callees say.
pub const DEFAULT_BIAS_PHRASES: &str = "models/corpus/train.tsv";

impl Default for AsrConfig {
    fn default() -> Self {
        let e = EngineConfig::default();
        Self {
            engine: EngineKind::Whisper,
            model_dir: PathBuf::from(DEFAULT_MODEL_DIR),
            language: Language::Zh,
            precision: "q8".into(),
            threads: 1,
            beam: e.beam,
            window: Window::Reply,
            pad_ms: e.pad_ms,
            recheck_below: None,
            hot_words: Vec::new(),
            bias_phrases: Some(PathBuf::from(DEFAULT_BIAS_PHRASES)),
            bias_bonus: 1.5,
            sherpa: SherpaSection::default(),
        }
    }
}

/// Why the configured engine could not be started.
#[derive(Debug, thiserror::Error)]
pub enum AsrConfigError {
    #[error("[asr] precision: {0}")]
    Precision(String),
    #[error("[asr] beam must be at least 1")]
    Beam,
    #[error(transparent)]
    Sherpa(#[from] SherpaModelError),
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error("[asr] bias_phrases: {path}: {source} (set bias_bonus = 0 to decode without biasing)")]
    BiasPhrases {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl AsrConfig {
    /// The Whisper engine settings this section describes.
    pub fn engine_config(&self) -> Result<EngineConfig, AsrConfigError> {
        let precision: Precision = self.precision.parse().map_err(AsrConfigError::Precision)?;
        if self.beam == 0 {
            return Err(AsrConfigError::Beam);
        }
        Ok(EngineConfig {
            precision,
            beam: self.beam,
            trim: self.window == Window::Reply,
            pad_ms: self.pad_ms,
            recheck_below: self.recheck_below.unwrap_or(f32::NEG_INFINITY),
        })
    }

    /// The domain phrases biasing is configured with; `None` when it is off or the default
    /// corpus is absent. A configured file that cannot be read is an error naming it.
    pub fn bias(&self) -> Result<Option<PhraseBias>, AsrConfigError> {
        let Some(path) = self.bias_phrases.as_ref().filter(|_| self.bias_bonus > 0.0) else {
            return Ok(None);
        };
        if path == Path::new(DEFAULT_BIAS_PHRASES) && !path.exists() {
            return Ok(None);
        }
        let phrases = read_phrases(path).map_err(|e| AsrConfigError::BiasPhrases {
            path: path.clone(),
            source: e,
        })?;
        Ok(Some(PhraseBias::new(phrases, self.bias_bonus)))
    }

    /// Decoding options for every utterance of the campaign.
    pub fn options(&self) -> RecognizeOptions {
        let words: Vec<&str> = self.hot_words.iter().map(String::as_str).collect();
        RecognizeOptions::for_language(self.language).with_hot_words(&words)
    }

    /// Sets the kernel threads (call at process start) and loads the configured engine.
    pub fn load(&self) -> Result<AsrModel, AsrConfigError> {
        let config = self.engine_config()?;
        match self.engine {
            EngineKind::Whisper => {
                set_kernel_threads(self.threads);
                Ok(WhisperModel::load(&self.model_dir, config)?.into())
            }
            EngineKind::Sherpa => self.load_sherpa(),
        }
    }

    #[cfg(feature = "sherpa")]
    fn load_sherpa(&self) -> Result<AsrModel, AsrConfigError> {
        let m = super::sherpa::SherpaModel::load(
            &self.model_dir,
            &self.sherpa,
            &self.hot_words,
            self.language,
        )?;
        Ok(AsrModel::Sherpa(m))
    }

    #[cfg(not(feature = "sherpa"))]
    fn load_sherpa(&self) -> Result<AsrModel, AsrConfigError> {
        // Check the directory anyway: its mistakes are worth reporting before a rebuild.
        super::sherpa::discover(&self.model_dir, self.sherpa.prefer_int8)?;
        Err(SherpaModelError::NotBuilt.into())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn section_parses_with_defaults_and_rejects_unknown_keys() {
        let c: AsrConfig = toml::from_str("").unwrap();
        assert_eq!(c, AsrConfig::default());
        assert_eq!(c.engine_config().unwrap().precision, Precision::Q8);
        let c: AsrConfig = toml::from_str(
            "engine = \"whisper\"\nlanguage = \"en\"\nbeam = 2\nprecision = \"f32\"",
        )
        .unwrap();
        assert_eq!((c.language, c.beam), (Language::En, 2));
        assert_eq!(c.engine_config().unwrap().precision, Precision::F32);
        assert!(
            c.engine_config().unwrap().trim,
            "the reply window is the default"
        );
        let c: AsrConfig = toml::from_str("window = \"full\"").unwrap();
        assert!(!c.engine_config().unwrap().trim);
        assert!(toml::from_str::<AsrConfig>("window = \"half\"").is_err());
        assert!(toml::from_str::<AsrConfig>("engin = \"whisper\"").is_err());
        assert!(toml::from_str::<AsrConfig>("engine = \"kaldi\"").is_err());
        let bad = AsrConfig {
            precision: "int4".into(),
            ..AsrConfig::default()
        };
        assert!(bad
            .engine_config()
            .unwrap_err()
            .to_string()
            .contains("int4"));
    }

    #[test]
    fn sherpa_section_and_a_missing_model_dir_are_clear() {
        let c: AsrConfig = toml::from_str(
            "engine = \"sherpa\"\nmodel_dir = \"x\"\n[sherpa]\nendpoint_silence_ms = 500",
        )
        .unwrap();
        assert_eq!(c.sherpa.endpoint_silence_ms, 500);
        let e = c.load().unwrap_err().to_string();
        assert!(
            e.contains("x is not a directory") && e.contains("tokens.txt"),
            "{e}"
        );
    }

    #[test]
    fn hot_words_reach_the_prompt() {
        let c: AsrConfig = toml::from_str("hot_words = [\"安心保\"]").unwrap();
        assert!(c.options().initial_prompt.unwrap().contains("安心保"));
    }
}
