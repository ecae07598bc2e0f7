//! Speech recognition: turns each callee utterance (16 kHz speech segments from the media
//! engine) into text fast enough for a live conversation, offline, with real models.
//!
//! Owns the Whisper-on-candle engine and everything around it: the CTranslate2 → candle
//! converter ([`ct2`]), the log-mel front end ([`mel`]), the BPE tokenizer ([`tokenizer`]),
//! decoding policy and hallucination guards ([`decode`]), the cached text decoder
//! ([`decoder`]), the engine itself ([`whisper`]); the sherpa-onnx streaming engine
//! ([`sherpa`], `sherpa` feature); the engine-neutral [`Recognizer`] contract
//! ([`recognizer`]) and the configured engine as one type ([`engine`]); the `[asr]`
//! configuration section ([`config`]), the bounded decode pool shared by all calls
//! ([`pool`]), text normalisation for NLU ([`normalize`]), WAV input for files ([`wav`]) and
//! accuracy/latency measurement ([`eval`]). May depend on candle, hound, tokio's sync
//! primitives, the `sherpa-stream` wrapper and std; nothing else in the crate depends on it
//! except `cli`, `call` and the media path.

pub mod bias;
pub mod config;
pub mod ct2;
pub mod decode;
pub mod decoder;
pub mod engine;
pub mod eval;
pub mod mel;
pub mod normalize;
pub mod pool;
pub mod recognizer;
pub mod sherpa;
pub mod tokenizer;
pub mod wav;
pub mod whisper;

pub use engine::{AsrEngine, AsrModel};
pub use recognizer::{Hypothesis, Language, RecognizeOptions, Recognizer, Suppression, TimedText};
pub use whisper::{AsrError, EngineConfig, ModelError, Precision, WhisperEngine, WhisperModel};
