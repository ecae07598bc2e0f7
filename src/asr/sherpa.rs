//! The sherpa-onnx streaming engine: a user's own streaming transducer, paraformer or
//! zipformer2-CTC model directory behind the same [`Recognizer`] contract as Whisper, plus a
//! frame-by-frame [`SherpaSession`] with partial results and endpointing for callers that
//! stream.
//!
//! Always compiled: the `[asr.sherpa]` section and model-directory discovery, so a
//! configuration naming the engine is checked (and its mistakes reported) in every build.
//! With the `sherpa` cargo feature: the engine itself, over the `sherpa-stream` crate (the
//! C API wrapper, where the unsafe code lives) and sherpa-onnx 1.12.9's shared libraries from
//! scripts/setup.d/10-media.sh. No package registry ships a streaming model, so the engine
//! runs whatever directory `[asr] model_dir` names.

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// `[asr.sherpa]`: decoding and endpointing of the streaming engine.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SherpaSection {
    /// "greedy_search" or "modified_beam_search" (transducers).
    pub decoding: String,
    /// Beam paths for modified_beam_search.
    pub max_active_paths: u32,
    /// onnxruntime threads per decode.
    pub threads: u32,
    /// End of an utterance: this much trailing silence once something was recognised.
    pub endpoint_silence_ms: u32,
    /// End of an utterance: this much silence when nothing was recognised.
    pub endpoint_no_speech_ms: u32,
    /// End of an utterance: it reached this length.
    pub max_utterance_ms: u32,
    /// Bonus per hot-word token (`[asr] hot_words`, transducers with modified_beam_search).
    pub hot_words_score: f32,
    /// Prefer `*.int8.onnx` files when a directory holds both precisions.
    pub prefer_int8: bool,
}

impl Default for SherpaSection {
    fn default() -> Self {
        Self {
            decoding: "greedy_search".into(),
            max_active_paths: 4,
            threads: 1,
            endpoint_silence_ms: 800,
            endpoint_no_speech_ms: 2400,
            max_utterance_ms: 20_000,
            hot_words_score: 1.5,
            prefer_int8: true,
        }
    }
}

/// The network files found in a model directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SherpaFiles {
    Transducer {
        encoder: PathBuf,
        decoder: PathBuf,
        joiner: PathBuf,
    },
    Paraformer {
        encoder: PathBuf,
        decoder: PathBuf,
    },
    Zipformer2Ctc {
        model: PathBuf,
    },
}

/// A model directory, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SherpaLayout {
    pub files: SherpaFiles,
    pub tokens: PathBuf,
}

/// What a streaming model directory holds, quoted in every error about one.
pub const SHERPA_LAYOUTS: &str = "a sherpa-onnx streaming model directory holds tokens.txt and \
     either encoder*.onnx + decoder*.onnx + joiner*.onnx (transducer), encoder*.onnx + \
     decoder*.onnx (paraformer) or one *.onnx (zipformer2 CTC)";

/// Why a sherpa model could not be used.
#[derive(Debug, thiserror::Error)]
pub enum SherpaModelError {
    #[error("[asr] model_dir {dir} is not a directory; {SHERPA_LAYOUTS}")]
    NoDir { dir: PathBuf },
    #[error("{dir}: tokens.txt is missing; {SHERPA_LAYOUTS}")]
    NoTokens { dir: PathBuf },
    #[error("{dir}: no model files ({found}); {SHERPA_LAYOUTS}")]
    NoModel { dir: PathBuf, found: String },
    #[error("{dir}: has {present} but no {missing}*.onnx; {SHERPA_LAYOUTS}")]
    MissingPart {
        dir: PathBuf,
        present: String,
        missing: &'static str,
    },
    #[error(
        "{dir}: more than one candidate for the {role}: {candidates}; keep one, or move the \
         others to another directory"
    )]
    Ambiguous {
        dir: PathBuf,
        role: &'static str,
        candidates: String,
    },
    #[error("{dir}: {source}")]
    Io {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "[asr] engine = \"sherpa\" needs an aicall built with the `sherpa` feature \
         (cargo build --release --features sherpa, after scripts/setup fetched sherpa-onnx's \
         libraries); this build has Whisper only"
    )]
    NotBuilt,
    #[cfg(feature = "sherpa")]
    #[error("{dir}: {source}")]
    Library {
        dir: PathBuf,
        #[source]
        source: sherpa_stream::Error,
    },
}

/// Picks the file for one role among the `.onnx` names: names starting with `role`, the
/// int8 ones when `prefer_int8` and both precisions are there.
fn pick(
    dir: &Path,
    names: &[String],
    role: &'static str,
    prefer_int8: bool,
) -> Result<Option<String>, SherpaModelError> {
    let all: Vec<&String> = names.iter().filter(|n| n.starts_with(role)).collect();
    let (int8, full): (Vec<&String>, Vec<&String>) =
        all.iter().partition(|n| n.ends_with(".int8.onnx"));
    let chosen = match (prefer_int8, int8.is_empty(), full.is_empty()) {
        (_, true, true) => return Ok(None),
        (true, false, _) | (false, false, true) => int8,
        _ => full,
    };
    match chosen.as_slice() {
        [one] => Ok(Some((*one).clone())),
        many => Err(SherpaModelError::Ambiguous {
            dir: dir.to_path_buf(),
            role,
            candidates: many
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}

/// Resolves a model directory into its files (no model is loaded).
pub fn discover(dir: &Path, prefer_int8: bool) -> Result<SherpaLayout, SherpaModelError> {
    if !dir.is_dir() {
        return Err(SherpaModelError::NoDir {
            dir: dir.to_path_buf(),
        });
    }
    let io = |source| SherpaModelError::Io {
        dir: dir.to_path_buf(),
        source,
    };
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".onnx") && entry.path().is_file() {
            names.push(name);
        }
    }
    names.sort();
    let tokens = dir.join("tokens.txt");
    if !tokens.is_file() {
        return Err(SherpaModelError::NoTokens {
            dir: dir.to_path_buf(),
        });
    }
    let encoder = pick(dir, &names, "encoder", prefer_int8)?;
    let decoder = pick(dir, &names, "decoder", prefer_int8)?;
    let joiner = pick(dir, &names, "joiner", prefer_int8)?;
    let p = |n: String| dir.join(n);
    let missing = |present: &[&Option<String>], missing| SherpaModelError::MissingPart {
        dir: dir.to_path_buf(),
        present: present
            .iter()
            .filter_map(|o| o.as_deref())
            .collect::<Vec<_>>()
            .join(", "),
        missing,
    };
    let files = match (encoder, decoder, joiner) {
        (Some(e), Some(d), Some(j)) => SherpaFiles::Transducer {
            encoder: p(e),
            decoder: p(d),
            joiner: p(j),
        },
        (Some(e), Some(d), None) => SherpaFiles::Paraformer {
            encoder: p(e),
            decoder: p(d),
        },
        (e, d, j) if e.is_some() || d.is_some() || j.is_some() => {
            let role = if e.is_none() { "encoder" } else { "decoder" };
            return Err(missing(&[&e, &d, &j], role));
        }
        _ => {
            // A single-file CTC model: whatever .onnx is left, int8 preferred.
            let int8: Vec<&String> = names.iter().filter(|n| n.ends_with(".int8.onnx")).collect();
            let full: Vec<&String> = names
                .iter()
                .filter(|n| !n.ends_with(".int8.onnx"))
                .collect();
            let chosen = match (prefer_int8 && !int8.is_empty()) || full.is_empty() {
                true => int8,
                false => full,
            };
            match chosen.as_slice() {
                [one] => SherpaFiles::Zipformer2Ctc {
                    model: p((*one).clone()),
                },
                [] => {
                    return Err(SherpaModelError::NoModel {
                        dir: dir.to_path_buf(),
                        found: "no .onnx file".into(),
                    })
                }
                many => {
                    return Err(SherpaModelError::Ambiguous {
                        dir: dir.to_path_buf(),
                        role: "CTC model",
                        candidates: many
                            .iter()
                            .map(|s| s.as_str())
                            .collect::<Vec<_>>()
                            .join(", "),
                    })
                }
            }
        }
    };
    Ok(SherpaLayout { files, tokens })
}

#[cfg(feature = "sherpa")]
pub use engine::{SherpaEngine, SherpaModel, SherpaSession, StreamEvent};

#[cfg(feature = "sherpa")]
mod engine {
    use std::path::Path;
    use std::sync::Arc;
    use std::time::Instant;

    use super::{discover, SherpaFiles, SherpaModelError, SherpaSection};
    use crate::asr::decode::energy_gate;
    use crate::asr::normalize::clean_transcript;
    use crate::asr::recognizer::{Hypothesis, Language, RecognizeOptions, Recognizer, TimedText};
    use crate::asr::whisper::{ms, AsrError};

    const RATE: usize = sherpa_stream::SAMPLE_RATE as usize;
    /// Audio is handed to the model in 100 ms pieces, the granularity of partials and
    /// endpoint checks.
    const CHUNK: usize = RATE / 10;
    /// Silence appended at the end of a whole segment so the model's last chunk (and its
    /// look-ahead) is flushed.
    const TAIL: usize = RATE * 6 / 10;

    fn lib_err(e: sherpa_stream::Error) -> AsrError {
        AsrError::Engine(e.to_string())
    }

    /// A loaded streaming model; clone-cheap, shared by every worker.
    #[derive(Debug, Clone)]
    pub struct SherpaModel {
        recognizer: Arc<sherpa_stream::Recognizer>,
        hot_words: Option<String>,
        language: Language,
    }

    impl SherpaModel {
        /// Finds the files in `dir` and loads them. `hot_words` bias transducers decoded with
        /// modified_beam_search; `language` is what the model speaks (Auto: told by the text).
        pub fn load(
            dir: &Path,
            section: &SherpaSection,
            hot_words: &[String],
            language: Language,
        ) -> Result<Self, SherpaModelError> {
            let layout = discover(dir, section.prefer_int8)?;
            let model = match layout.files {
                SherpaFiles::Transducer {
                    encoder,
                    decoder,
                    joiner,
                } => sherpa_stream::ModelFiles::Transducer {
                    encoder,
                    decoder,
                    joiner,
                },
                SherpaFiles::Paraformer { encoder, decoder } => {
                    sherpa_stream::ModelFiles::Paraformer { encoder, decoder }
                }
                SherpaFiles::Zipformer2Ctc { model } => {
                    sherpa_stream::ModelFiles::Zipformer2Ctc { model }
                }
            };
            let config = sherpa_stream::Config {
                model,
                tokens: layout.tokens,
                num_threads: section.threads.clamp(1, 64) as i32,
                decoding_method: section.decoding.clone(),
                max_active_paths: section.max_active_paths.clamp(1, 64) as i32,
                endpointing: Some(sherpa_stream::Endpointing {
                    rule1_silence_s: section.endpoint_no_speech_ms as f32 / 1000.0,
                    rule2_silence_s: section.endpoint_silence_ms as f32 / 1000.0,
                    rule3_max_utterance_s: section.max_utterance_ms as f32 / 1000.0,
                }),
                hotwords_score: section.hot_words_score,
            };
            Self::from_config(dir, &config, hot_words, language)
        }

        /// Loads an explicit configuration (no discovery): the library's own validation
        /// answers for it.
        pub fn from_config(
            dir: &Path,
            config: &sherpa_stream::Config,
            hot_words: &[String],
            language: Language,
        ) -> Result<Self, SherpaModelError> {
            let recognizer = sherpa_stream::Recognizer::new(config).map_err(|source| {
                SherpaModelError::Library {
                    dir: dir.to_path_buf(),
                    source,
                }
            })?;
            // sherpa-onnx biases only transducers searched with modified_beam_search; asked
            // to bias anything else, the library exits the process. So hot words go to the
            // library only there.
            let biasing = matches!(config.model, sherpa_stream::ModelFiles::Transducer { .. })
                && config.decoding_method == "modified_beam_search";
            if !hot_words.is_empty() && !biasing {
                tracing::warn!(
                    "[asr] hot_words ignored: sherpa-onnx biases only transducer models with \
                     [asr.sherpa] decoding = \"modified_beam_search\""
                );
            }
            let hot_words = (biasing && !hot_words.is_empty()).then(|| hot_words.join("\n"));
            Ok(Self {
                recognizer,
                hot_words,
                language,
            })
        }

        pub fn engine(&self) -> SherpaEngine {
            SherpaEngine {
                model: self.clone(),
            }
        }

        /// A stream for live audio: feed frames as they arrive.
        pub fn session(&self) -> Result<SherpaSession, AsrError> {
            let stream = self
                .recognizer
                .stream(self.hot_words.as_deref())
                .map_err(lib_err)?;
            Ok(SherpaSession {
                stream,
                pending: Vec::with_capacity(CHUNK),
                fed: 0,
                utterance_start: 0,
                partial: String::new(),
                finals: Vec::new(),
                logprobs: Vec::new(),
            })
        }
    }

    /// What feeding audio produced.
    #[derive(Debug, Clone, PartialEq)]
    pub enum StreamEvent {
        /// The current utterance's text so far (changed since the last partial).
        Partial(String),
        /// An utterance ended (endpoint): its text and time span in the session.
        Final(TimedText),
    }

    /// Live decoding of one call's (or one segment's) audio.
    #[derive(Debug)]
    pub struct SherpaSession {
        stream: sherpa_stream::Stream,
        pending: Vec<f32>,
        fed: usize,
        utterance_start: usize,
        partial: String,
        finals: Vec<TimedText>,
        logprobs: Vec<f32>,
    }

    impl SherpaSession {
        /// Feeds 16 kHz samples; returns partials and the utterances that ended.
        pub fn feed(&mut self, samples: &[f32]) -> Result<Vec<StreamEvent>, AsrError> {
            let mut events = Vec::new();
            let mut rest = samples;
            while !rest.is_empty() {
                let (now, later) = rest.split_at((CHUNK - self.pending.len()).min(rest.len()));
                // Non-finite samples (a broken upstream resampler) must not reach the model.
                self.pending.extend(now.iter().map(|&s| {
                    if s.is_finite() {
                        s.clamp(-1.0, 1.0)
                    } else {
                        0.0
                    }
                }));
                rest = later;
                if self.pending.len() == CHUNK {
                    self.push_chunk(&mut events)?;
                }
            }
            Ok(events)
        }

        fn push_chunk(&mut self, events: &mut Vec<StreamEvent>) -> Result<(), AsrError> {
            self.stream.accept(&self.pending);
            self.fed += self.pending.len();
            self.pending.clear();
            if self.stream.is_endpoint() {
                if let Some(t) = self.take_utterance()? {
                    events.push(StreamEvent::Final(t));
                }
                self.stream.reset();
                self.utterance_start = self.fed;
            } else {
                let text = clean_transcript(&self.stream.result().map_err(lib_err)?.text);
                if text != self.partial {
                    self.partial.clone_from(&text);
                    events.push(StreamEvent::Partial(text));
                }
            }
            Ok(())
        }

        fn take_utterance(&mut self) -> Result<Option<TimedText>, AsrError> {
            let r = self.stream.result().map_err(lib_err)?;
            self.partial.clear();
            let text = clean_transcript(&r.text);
            if text.is_empty() {
                return Ok(None);
            }
            self.logprobs.extend(r.ys_probs.iter().copied());
            let start = ms(self.utterance_start);
            // Token times are seconds from the reset; the last token starts the tail.
            let first = r.timestamps.first().map_or(0, |&t| (t * 1000.0) as u64);
            let last = r.timestamps.last().map_or(0, |&t| (t * 1000.0) as u64);
            let t = TimedText {
                start_ms: start + first,
                end_ms: (start + last + 200).min(ms(self.fed)).max(start + first),
                text,
            };
            self.finals.push(t.clone());
            Ok(Some(t))
        }

        /// Ends the input (appending a short silence so the last chunk is decoded) and
        /// returns every utterance of the session with the mean token log-probability when
        /// the model reports one.
        pub fn finish(mut self) -> Result<(Vec<TimedText>, Option<f32>), AsrError> {
            let mut events = Vec::new();
            let tail = vec![0.0; TAIL];
            self.feed(&tail)?;
            if !self.pending.is_empty() {
                self.push_chunk(&mut events)?;
            }
            self.stream.finish();
            self.take_utterance()?;
            let mean = (!self.logprobs.is_empty())
                .then(|| self.logprobs.iter().sum::<f32>() / self.logprobs.len() as f32);
            Ok((self.finals, mean))
        }
    }

    /// One worker's handle on the model.
    #[derive(Debug)]
    pub struct SherpaEngine {
        model: SherpaModel,
    }

    impl Recognizer for SherpaEngine {
        type Error = AsrError;

        fn recognize(
            &mut self,
            samples: &[f32],
            options: &RecognizeOptions,
        ) -> Result<Hypothesis, AsrError> {
            let started = Instant::now();
            let audio_ms = ms(samples.len());
            let language = match options.language {
                Language::Auto => self.model.language,
                l => l,
            };
            if energy_gate(samples, RATE).is_none() {
                return Ok(Hypothesis::silence(language, audio_ms, started));
            }
            let mut session = self.model.session()?;
            session.feed(samples)?;
            let (segments, mean_logprob) = session.finish()?;
            let texts: Vec<&str> = segments.iter().map(|s| s.text.as_str()).collect();
            let cjk = texts
                .iter()
                .flat_map(|t| t.chars())
                .any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c));
            let language = match language {
                Language::Auto if cjk => Language::Zh,
                Language::Auto if !texts.is_empty() => Language::En,
                l => l,
            };
            let text = texts.join(if language == Language::En { " " } else { "" });
            // Models without per-token probabilities (CTC, paraformer) give no confidence:
            // a non-empty transcript then reports 1.0.
            let confidence = match (text.is_empty(), mean_logprob) {
                (true, _) => 0.0,
                (false, Some(lp)) => lp.exp(),
                (false, None) => 1.0,
            };
            Ok(Hypothesis {
                no_speech_prob: if text.is_empty() { 1.0 } else { 0.0 },
                text,
                language,
                segments,
                confidence,
                suppressed: None,
                audio_ms,
                decode_ms: started.elapsed().as_millis() as u64,
            })
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn dir_with(files: &[&str]) -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        for f in files {
            std::fs::write(d.path().join(f), b"x").unwrap();
        }
        d
    }

    #[test]
    fn transducer_layout_prefers_int8() {
        let d = dir_with(&[
            "tokens.txt",
            "encoder-epoch-99-avg-1.onnx",
            "encoder-epoch-99-avg-1.int8.onnx",
            "decoder-epoch-99-avg-1.onnx",
            "joiner-epoch-99-avg-1.int8.onnx",
            "joiner-epoch-99-avg-1.onnx",
            "README.md",
        ]);
        let l = discover(d.path(), true).unwrap();
        assert_eq!(
            l.files,
            SherpaFiles::Transducer {
                encoder: d.path().join("encoder-epoch-99-avg-1.int8.onnx"),
                decoder: d.path().join("decoder-epoch-99-avg-1.onnx"),
                joiner: d.path().join("joiner-epoch-99-avg-1.int8.onnx"),
            }
        );
        let l = discover(d.path(), false).unwrap();
        assert!(matches!(l.files, SherpaFiles::Transducer { encoder, .. }
            if encoder.ends_with("encoder-epoch-99-avg-1.onnx")));
    }

    #[test]
    fn paraformer_and_ctc_layouts() {
        let d = dir_with(&["tokens.txt", "encoder.int8.onnx", "decoder.int8.onnx"]);
        assert!(matches!(
            discover(d.path(), true).unwrap().files,
            SherpaFiles::Paraformer { .. }
        ));
        let d = dir_with(&[
            "tokens.txt",
            "ctc-epoch-20-avg-1-chunk-16-left-128.int8.onnx",
        ]);
        assert!(matches!(
            discover(d.path(), true).unwrap().files,
            SherpaFiles::Zipformer2Ctc { .. }
        ));
    }

    #[test]
    fn broken_directories_say_what_is_missing() {
        let e = discover(Path::new("/nonexistent/sherpa"), true)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("not a directory") && e.contains("tokens.txt"),
            "{e}"
        );
        let d = dir_with(&["encoder.onnx", "decoder.onnx"]);
        let e = discover(d.path(), true).unwrap_err().to_string();
        assert!(e.contains("tokens.txt is missing"), "{e}");
        let d = dir_with(&["tokens.txt"]);
        let e = discover(d.path(), true).unwrap_err().to_string();
        assert!(e.contains("no model files"), "{e}");
        let d = dir_with(&["tokens.txt", "joiner.onnx", "decoder.onnx"]);
        let e = discover(d.path(), true).unwrap_err().to_string();
        assert!(
            e.contains("no encoder*.onnx") && e.contains("joiner.onnx"),
            "{e}"
        );
        let d = dir_with(&["tokens.txt", "a.onnx", "b.onnx"]);
        let e = discover(d.path(), true).unwrap_err().to_string();
        assert!(e.contains("a.onnx, b.onnx"), "{e}");
    }

    #[test]
    fn section_parses_with_defaults() {
        let s: SherpaSection = toml::from_str("endpoint_silence_ms = 600").unwrap();
        assert_eq!(s.endpoint_silence_ms, 600);
        assert_eq!(s.decoding, "greedy_search");
        assert!(toml::from_str::<SherpaSection>("endpoint_ms = 1").is_err());
    }
}
