//! A safe wrapper over sherpa-onnx's streaming ("online") recogniser C API, the part
//! `sherpa-rs` 0.6.8 does not wrap: a [`Recognizer`] loaded once from a streaming transducer,
//! paraformer or zipformer2-CTC model, and per-utterance [`Stream`]s that take audio as it
//! arrives, decode whenever enough frames are buffered, report partial results and detect
//! endpoints (trailing silence, utterance length).
//!
//! All `unsafe` of aicall lives here, so the main crate can keep `unsafe_code = "forbid"`.
//! The invariants, checked at each call site:
//! - every pointer handed to C is either null (where the API allows it) or points into a
//!   `CString`/slice that outlives the call;
//! - a [`Stream`] holds an `Arc` of its [`Recognizer`], so the recogniser is destroyed only
//!   after its last stream;
//! - results and JSON strings returned by C are copied and then freed with their matching
//!   destroy function, exactly once.
//!
//! Thread safety: sherpa-onnx's `OnlineRecognizer` decodes through `const` methods (its
//! onnxruntime sessions are safe to run from several threads), so one recogniser serves many
//! streams on many threads; a stream itself is used by one thread at a time (`&mut self`).

use std::ffi::{c_char, CStr, CString};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sherpa_rs_sys as sys;

/// The sample rate every model sherpa-onnx publishes expects.
pub const SAMPLE_RATE: i32 = 16_000;

/// Which network family the model files are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelFiles {
    /// Streaming zipformer/conformer/LSTM transducer.
    Transducer {
        encoder: PathBuf,
        decoder: PathBuf,
        joiner: PathBuf,
    },
    /// Streaming paraformer.
    Paraformer { encoder: PathBuf, decoder: PathBuf },
    /// Streaming zipformer2 with a CTC head.
    Zipformer2Ctc { model: PathBuf },
}

/// Endpoint rules (sherpa-onnx's three): an utterance ends after `rule1_silence_s` of
/// trailing silence when nothing was decoded, after `rule2_silence_s` once something was, or
/// when it reaches `rule3_max_utterance_s`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Endpointing {
    pub rule1_silence_s: f32,
    pub rule2_silence_s: f32,
    pub rule3_max_utterance_s: f32,
}

/// Everything [`Recognizer::new`] needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub model: ModelFiles,
    pub tokens: PathBuf,
    /// Intra-op threads of each decode.
    pub num_threads: i32,
    /// "greedy_search" or "modified_beam_search" (transducers only).
    pub decoding_method: String,
    pub max_active_paths: i32,
    /// `None`: no endpoint detection (the caller segments the audio).
    pub endpointing: Option<Endpointing>,
    /// Bonus per hot-word token (transducers with modified_beam_search).
    pub hotwords_score: f32,
}

/// What went wrong.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0} contains a NUL byte or is not UTF-8")]
    BadString(String),
    #[error("sherpa-onnx rejected the model configuration (see its log line above): {0}")]
    Rejected(String),
    #[error("sherpa-onnx could not create a stream")]
    NoStream,
    #[error("sherpa-onnx returned a result that is not valid JSON: {0}")]
    BadResult(String),
}

fn c_string(s: &str) -> Result<CString, Error> {
    CString::new(s).map_err(|_| Error::BadString(s.to_string()))
}

fn c_path(p: &Path) -> Result<CString, Error> {
    let s = p
        .to_str()
        .ok_or_else(|| Error::BadString(p.display().to_string()))?;
    c_string(s)
}

/// A loaded streaming model; share it with `Arc` and open a [`Stream`] per utterance.
#[derive(Debug)]
pub struct Recognizer {
    ptr: *const sys::SherpaOnnxOnlineRecognizer,
}

// SAFETY: the recogniser is immutable after creation and sherpa-onnx decodes through `const`
// methods over thread-safe onnxruntime sessions; streams carry all per-utterance state.
unsafe impl Send for Recognizer {}
// SAFETY: as above: every method this wrapper exposes on `&Recognizer` is a `const` call.
unsafe impl Sync for Recognizer {}

impl Recognizer {
    /// Loads the model. The C library validates the configuration (files present, method
    /// known) and answers `Rejected` instead of a recogniser when it is wrong.
    pub fn new(config: &Config) -> Result<Arc<Self>, Error> {
        // Every CString below lives until the end of this function, past the C call. Unset
        // strings stay null so the C API applies its own defaults (an empty string would
        // not: it is taken as given).
        let mut keep: Vec<CString> = Vec::new();
        let mut ptr_of = |s: CString| {
            let p = s.as_ptr();
            keep.push(s);
            p
        };
        // SAFETY: the config is plain data (pointers, integers, floats); all-zero is its
        // "unset" state (null strings, 0 numbers) for every field not set below.
        let mut c: sys::SherpaOnnxOnlineRecognizerConfig = unsafe { std::mem::zeroed() };
        c.feat_config.sample_rate = SAMPLE_RATE;
        c.feat_config.feature_dim = 80;
        match &config.model {
            ModelFiles::Transducer {
                encoder,
                decoder,
                joiner,
            } => {
                c.model_config.transducer.encoder = ptr_of(c_path(encoder)?);
                c.model_config.transducer.decoder = ptr_of(c_path(decoder)?);
                c.model_config.transducer.joiner = ptr_of(c_path(joiner)?);
            }
            ModelFiles::Paraformer { encoder, decoder } => {
                c.model_config.paraformer.encoder = ptr_of(c_path(encoder)?);
                c.model_config.paraformer.decoder = ptr_of(c_path(decoder)?);
            }
            ModelFiles::Zipformer2Ctc { model } => {
                c.model_config.zipformer2_ctc.model = ptr_of(c_path(model)?);
            }
        }
        c.model_config.tokens = ptr_of(c_path(&config.tokens)?);
        c.model_config.num_threads = config.num_threads.max(1);
        c.model_config.provider = ptr_of(c_string("cpu")?);
        c.decoding_method = ptr_of(c_string(&config.decoding_method)?);
        c.max_active_paths = config.max_active_paths.max(1);
        if let Some(e) = config.endpointing {
            c.enable_endpoint = 1;
            c.rule1_min_trailing_silence = e.rule1_silence_s;
            c.rule2_min_trailing_silence = e.rule2_silence_s;
            c.rule3_min_utterance_length = e.rule3_max_utterance_s;
        }
        c.hotwords_score = config.hotwords_score;

        // SAFETY: `c` and every string it points to (`keep`) are alive for the call; the C side
        // copies what it keeps.
        let ptr = unsafe { sys::SherpaOnnxCreateOnlineRecognizer(&c) };
        if ptr.is_null() {
            return Err(Error::Rejected(format!("{:?}", config.model)));
        }
        drop(keep);
        Ok(Arc::new(Self { ptr }))
    }

    /// Opens a stream for one utterance (or one call); `hotwords` ("WORD1/WORD2" lines, as
    /// sherpa-onnx expects) bias transducers decoded with modified_beam_search.
    pub fn stream(self: &Arc<Self>, hotwords: Option<&str>) -> Result<Stream, Error> {
        let ptr = match hotwords {
            Some(h) if !h.is_empty() => {
                let h = c_string(h)?;
                // SAFETY: recogniser alive (self), `h` alive for the call.
                unsafe { sys::SherpaOnnxCreateOnlineStreamWithHotwords(self.ptr, h.as_ptr()) }
            }
            // SAFETY: recogniser alive (self).
            _ => unsafe { sys::SherpaOnnxCreateOnlineStream(self.ptr) },
        };
        if ptr.is_null() {
            return Err(Error::NoStream);
        }
        Ok(Stream {
            recognizer: Arc::clone(self),
            ptr,
        })
    }
}

impl Drop for Recognizer {
    fn drop(&mut self) {
        // SAFETY: created by SherpaOnnxCreateOnlineRecognizer, destroyed once; no stream is
        // left (each holds an Arc of self).
        unsafe { sys::SherpaOnnxDestroyOnlineRecognizer(self.ptr) }
    }
}

/// The recogniser's current hypothesis for a stream.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
pub struct StreamResult {
    pub text: String,
    #[serde(default)]
    pub tokens: Vec<String>,
    /// Token start times in seconds from the last reset.
    #[serde(default)]
    pub timestamps: Vec<f32>,
    /// Per-token log-probabilities (transducers); empty when the model does not give them.
    #[serde(default)]
    pub ys_probs: Vec<f32>,
}

/// One utterance's decoding state.
#[derive(Debug)]
pub struct Stream {
    recognizer: Arc<Recognizer>,
    ptr: *const sys::SherpaOnnxOnlineStream,
}

// SAFETY: a stream is plain state owned by this value; `&mut self` methods keep it to one
// thread at a time.
unsafe impl Send for Stream {}

impl Stream {
    /// Appends 16 kHz samples (−1.0..=1.0) and decodes every chunk that is ready.
    pub fn accept(&mut self, samples: &[f32]) {
        for part in samples.chunks(i32::MAX as usize) {
            // SAFETY: stream alive; `part` is valid for `part.len()` floats, copied by C.
            unsafe {
                sys::SherpaOnnxOnlineStreamAcceptWaveform(
                    self.ptr,
                    SAMPLE_RATE,
                    part.as_ptr(),
                    part.len() as i32,
                )
            }
        }
        self.decode_ready();
    }

    /// Says no more audio will come, then decodes what is left.
    pub fn finish(&mut self) {
        // SAFETY: stream alive.
        unsafe { sys::SherpaOnnxOnlineStreamInputFinished(self.ptr) }
        self.decode_ready();
    }

    fn decode_ready(&mut self) {
        let r = self.recognizer.ptr;
        // SAFETY: recogniser and stream alive; the stream is ready when C says so.
        while unsafe { sys::SherpaOnnxIsOnlineStreamReady(r, self.ptr) } != 0 {
            // SAFETY: as above.
            unsafe { sys::SherpaOnnxDecodeOnlineStream(r, self.ptr) }
        }
    }

    /// True when an endpoint rule fired since the last reset.
    pub fn is_endpoint(&self) -> bool {
        // SAFETY: recogniser and stream alive.
        unsafe { sys::SherpaOnnxOnlineStreamIsEndpoint(self.recognizer.ptr, self.ptr) != 0 }
    }

    /// Starts a new utterance on the same stream (after an endpoint).
    pub fn reset(&mut self) {
        // SAFETY: recogniser and stream alive.
        unsafe { sys::SherpaOnnxOnlineStreamReset(self.recognizer.ptr, self.ptr) }
    }

    /// The hypothesis so far.
    pub fn result(&self) -> Result<StreamResult, Error> {
        // SAFETY: recogniser and stream alive; the returned string is owned by us until
        // SherpaOnnxDestroyOnlineStreamResultJson.
        let json: *const c_char =
            unsafe { sys::SherpaOnnxGetOnlineStreamResultAsJson(self.recognizer.ptr, self.ptr) };
        if json.is_null() {
            return Ok(StreamResult::default());
        }
        // SAFETY: non-null, NUL-terminated (C API contract); copied before it is freed.
        let text = unsafe { CStr::from_ptr(json) }
            .to_string_lossy()
            .into_owned();
        // SAFETY: freed exactly once, with its matching destroy function.
        unsafe { sys::SherpaOnnxDestroyOnlineStreamResultJson(json) };
        serde_json::from_str(&text).map_err(|e| Error::BadResult(format!("{e}: {text}")))
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        // SAFETY: created by SherpaOnnxCreateOnlineStream*, destroyed once, before the
        // recogniser (whose Arc this stream holds).
        unsafe { sys::SherpaOnnxDestroyOnlineStream(self.ptr) }
    }
}
