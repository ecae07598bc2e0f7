//! The configured engine as one type: [`AsrModel`] (loaded once, shared) hands each decode
//! worker an [`AsrEngine`], so the decode pool, the call driver and `aicall transcribe` run
//! Whisper or a sherpa-onnx streaming model alike. Depends on the two engines.

use super::recognizer::{Hypothesis, RecognizeOptions, Recognizer};
#[cfg(feature = "sherpa")]
use super::sherpa::{SherpaEngine, SherpaModel};
use super::whisper::{AsrError, WhisperEngine, WhisperModel};

/// A loaded recogniser model; clone-cheap.
#[derive(Debug, Clone)]
pub enum AsrModel {
    Whisper(WhisperModel),
    #[cfg(feature = "sherpa")]
    Sherpa(SherpaModel),
}

impl AsrModel {
    /// A worker's own engine over the shared weights.
    pub fn engine(&self) -> AsrEngine {
        match self {
            Self::Whisper(m) => AsrEngine::Whisper(m.engine()),
            #[cfg(feature = "sherpa")]
            Self::Sherpa(m) => AsrEngine::Sherpa(m.engine()),
        }
    }

    /// The engine's name, for logs and figures.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Whisper(_) => "whisper",
            #[cfg(feature = "sherpa")]
            Self::Sherpa(_) => "sherpa",
        }
    }

    /// The Whisper model, when that is the engine (its benchmarks and options need it).
    pub fn whisper(&self) -> Option<&WhisperModel> {
        match self {
            Self::Whisper(m) => Some(m),
            #[cfg(feature = "sherpa")]
            Self::Sherpa(_) => None,
        }
    }
}

impl From<WhisperModel> for AsrModel {
    fn from(m: WhisperModel) -> Self {
        Self::Whisper(m)
    }
}

/// One worker's engine.
// One per decode worker, never moved in a hot path: the size gap does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum AsrEngine {
    Whisper(WhisperEngine),
    #[cfg(feature = "sherpa")]
    Sherpa(SherpaEngine),
}

impl Recognizer for AsrEngine {
    type Error = AsrError;

    fn recognize(
        &mut self,
        samples: &[f32],
        options: &RecognizeOptions,
    ) -> Result<Hypothesis, AsrError> {
        match self {
            Self::Whisper(e) => e.recognize(samples, options),
            #[cfg(feature = "sherpa")]
            Self::Sherpa(e) => e.recognize(samples, options),
        }
    }
}
