//! The runtime face of the module: load a trained intent model from its directory
//! (`manifest.json` + `model.safetensors`), check that the two agree with each other and with
//! this build, and turn one reply in context into an [`Understanding`]: calibrated label
//! probabilities with abstention, sentiment, slots and keywords. Depends on the other `nlu`
//! files; never panics on a bad model file or bad text.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use chrono::{DateTime, Timelike};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::encoder::{SentenceEncoder, DEFAULT_ENCODER_FILE};
use super::head::{self, EncoderHead};
use super::keywords;
use super::model::{Batch, IntentNet, ModelConfig};
use super::sentiment::{self, Sentiment};
use super::slots::{self, Slots};
use super::tokenizer::Tokenizer;
use super::{Intent, NluError};

/// Identifies the manifest layout; bumped when it or the architecture changes incompatibly.
pub const FORMAT: &str = "aicall-intent-v1";
pub const MANIFEST_FILE: &str = "manifest.json";
pub const WEIGHTS_FILE: &str = "model.safetensors";

/// Everything about a trained model except its weights.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    /// Incremented by every training or fine-tuning run that starts from this model.
    pub version: u32,
    pub labels: Vec<String>,
    pub vocab: Vec<String>,
    pub config: ModelConfig,
    /// Softmax temperature fitted on the validation split (calibration).
    pub temperature: f32,
    /// Below this calibrated probability the answer is `other` (abstention).
    pub abstain_below: f32,
    /// Figures measured when the model was trained (free-form for reports).
    pub metrics: serde_json::Value,
}

/// One reply to understand, with its context.
#[derive(Debug, Clone, Default)]
pub struct Utterance<'a> {
    /// The ASR transcript of the reply.
    pub text: &'a str,
    /// The bot's last prompt (or the script node's text), when known.
    pub prompt: Option<&'a str>,
    /// Local hour of the call; taken from `now` when absent.
    pub hour: Option<u8>,
    /// The call's current time in the callee's zone: needed to resolve callback times.
    pub now: Option<DateTime<Tz>>,
}

/// What a reply means and what it mentions.
#[derive(Debug, Clone, PartialEq)]
pub struct Understanding {
    /// The answer: the model's best label, or `other` when it abstained.
    pub label: Intent,
    /// Calibrated probability of the model's best label.
    pub confidence: f32,
    /// True when the best label was below the abstention threshold and `label` is `other`.
    pub abstained: bool,
    /// The model's best label even when it abstained.
    pub top: Intent,
    /// Calibrated probability per label, in [`Intent::ALL`] order.
    pub probs: [f32; 15],
    pub sentiment: Sentiment,
    pub slots: Slots,
    pub keywords: Vec<&'static str>,
    /// The reply was longer than the model reads and was cut.
    pub truncated: bool,
}

/// A loaded intent model.
#[derive(Debug)]
pub struct IntentModel {
    net: IntentNet,
    /// The weights the network was built from (candle tensors share storage: no copy), kept
    /// for saving and for fine-tuning.
    weights: HashMap<String, Tensor>,
    tokenizer: Tokenizer,
    manifest: Manifest,
    device: Device,
    /// The pretrained sentence encoder and the head trained over it, when the model has one.
    encoder: Option<EncoderView>,
}

/// The encoder side of a model: its probabilities are mixed with the transformer's.
#[derive(Debug)]
struct EncoderView {
    encoder: Arc<SentenceEncoder>,
    head: Arc<EncoderHead>,
    /// Prompts repeat (a script has a few nodes): their vectors are kept, up to a bound.
    prompts: Mutex<HashMap<String, Arc<Vec<f32>>>>,
}

impl EncoderView {
    fn prompt_vector(&self, prompt: &str) -> Result<Arc<Vec<f32>>, NluError> {
        if let Some(v) = self
            .prompts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(prompt)
        {
            return Ok(v.clone());
        }
        let v = Arc::new(self.encoder.embed(prompt)?);
        let mut cache = self.prompts.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= PROMPT_CACHE {
            cache.clear();
        }
        cache.insert(prompt.to_string(), v.clone());
        Ok(v)
    }
}

/// Prompts whose vectors a model keeps.
const PROMPT_CACHE: usize = 4096;

/// One encoder per file for the whole process (it is immutable and weighs ~150 MB).
fn shared_encoder(path: &Path) -> Result<Arc<SentenceEncoder>, NluError> {
    static LOADED: OnceLock<Mutex<HashMap<PathBuf, Arc<SentenceEncoder>>>> = OnceLock::new();
    let key = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    let mut loaded = LOADED
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    if let Some(e) = loaded.get(&key) {
        return Ok(e.clone());
    }
    let e = Arc::new(SentenceEncoder::load(path)?);
    loaded.insert(key, e.clone());
    Ok(e)
}

/// Where a model's encoder is: `dir/encoder.bin`, the `encoder/` folder beside the model's
/// (`models/encoder/` for `models/intent/`), or the set-up's default.
pub fn encoder_file(dir: &Path) -> PathBuf {
    let candidates = [
        dir.join("encoder.bin"),
        dir.join("..").join("encoder").join("e5-small-q4.bin"),
        PathBuf::from(DEFAULT_ENCODER_FILE),
    ];
    candidates
        .iter()
        .find(|p| p.is_file())
        .unwrap_or(&candidates[1])
        .clone()
}

fn check_manifest(m: &Manifest, dir: &Path) -> Result<(), NluError> {
    let mismatch = |reason: String| NluError::ModelMismatch {
        dir: dir.to_owned(),
        reason,
    };
    if m.format != FORMAT {
        return Err(mismatch(format!(
            "format {:?}, this build reads {FORMAT:?}",
            m.format
        )));
    }
    let expected: Vec<&str> = Intent::ALL.iter().map(|i| i.as_str()).collect();
    if m.labels != expected {
        return Err(mismatch(format!(
            "labels {:?}, expected {expected:?}",
            m.labels
        )));
    }
    if m.config.n_labels != expected.len() {
        return Err(mismatch(format!("config has {} labels", m.config.n_labels)));
    }
    if m.vocab.len() != m.config.vocab_size {
        return Err(mismatch(format!(
            "vocabulary of {} tokens, config says {}",
            m.vocab.len(),
            m.config.vocab_size
        )));
    }
    if !(m.temperature.is_finite() && m.temperature > 0.0) {
        return Err(mismatch(format!(
            "temperature {} is not positive",
            m.temperature
        )));
    }
    if !(0.0..1.0).contains(&m.abstain_below) {
        return Err(mismatch(format!(
            "abstain_below {} is not in [0, 1)",
            m.abstain_below
        )));
    }
    Ok(())
}

impl IntentModel {
    /// Loads `dir/manifest.json` and `dir/model.safetensors`.
    pub fn load(dir: impl AsRef<Path>) -> Result<Self, NluError> {
        let dir = dir.as_ref();
        let mpath = dir.join(MANIFEST_FILE);
        let wpath = dir.join(WEIGHTS_FILE);
        if !mpath.is_file() || !wpath.is_file() {
            return Err(NluError::ModelMissing {
                dir: dir.to_owned(),
            });
        }
        let text = std::fs::read_to_string(&mpath).map_err(|source| NluError::Io {
            path: mpath.clone(),
            source,
        })?;
        let manifest: Manifest =
            serde_json::from_str(&text).map_err(|e| NluError::ModelCorrupt {
                path: mpath.clone(),
                reason: e.to_string(),
            })?;
        check_manifest(&manifest, dir)?;
        let device = Device::Cpu;
        let tensors = candle_core::safetensors::load(&wpath, &device).map_err(|e| {
            NluError::ModelCorrupt {
                path: wpath.clone(),
                reason: e.to_string(),
            }
        })?;
        let mut model = Self::from_tensors(tensors, manifest, dir)?;
        if let Some(head) = EncoderHead::load(dir)? {
            let encoder = shared_encoder(&encoder_file(dir))?;
            model.set_head(encoder, head);
        }
        Ok(model)
    }

    /// Mixes this model with an encoder head from now on.
    pub fn set_head(&mut self, encoder: Arc<SentenceEncoder>, head: EncoderHead) {
        self.encoder = Some(EncoderView {
            encoder,
            head: Arc::new(head),
            prompts: Mutex::new(HashMap::new()),
        });
    }

    /// The transformer alone from now on (for measuring the head's share).
    pub fn drop_head(&mut self) {
        self.encoder = None;
    }

    /// The encoder head, when the model has one.
    pub fn head(&self) -> Option<&EncoderHead> {
        self.encoder.as_ref().map(|e| &*e.head)
    }

    /// The sentence encoder and the head over it, when the model has them.
    pub fn encoder_parts(&self) -> Option<(Arc<SentenceEncoder>, &EncoderHead)> {
        self.encoder.as_ref().map(|e| (e.encoder.clone(), &*e.head))
    }

    /// The head's input for one reply: the encoder's vectors of it and of its prompt.
    pub fn encoder_features(
        encoder: &SentenceEncoder,
        text: &str,
        prompt: Option<&str>,
    ) -> Result<Vec<f32>, NluError> {
        let r = encoder.embed(text)?;
        let p = match prompt.filter(|p| !p.trim().is_empty()) {
            Some(p) => Some(encoder.embed(p)?),
            None => None,
        };
        Ok(head::features(&r, p.as_deref()))
    }

    /// Builds a model from in-memory weights (used after training, before saving).
    pub fn from_tensors(
        tensors: HashMap<String, Tensor>,
        manifest: Manifest,
        dir: &Path,
    ) -> Result<Self, NluError> {
        check_manifest(&manifest, dir)?;
        let device = Device::Cpu;
        let vb = VarBuilder::from_tensors(tensors.clone(), DType::F32, &device);
        let net = IntentNet::new(&manifest.config, vb).map_err(|e| NluError::ModelMismatch {
            dir: dir.to_owned(),
            reason: format!("weights do not fit the manifest's config: {e}"),
        })?;
        let tokenizer = Tokenizer::from_tokens(manifest.vocab.clone());
        Ok(IntentModel {
            net,
            weights: tensors,
            tokenizer,
            manifest,
            device,
            encoder: None,
        })
    }

    /// Writes `dir/model.safetensors` and `dir/manifest.json`, replacing what is there.
    pub fn save(&self, dir: impl AsRef<Path>) -> Result<(), NluError> {
        let dir = dir.as_ref();
        std::fs::create_dir_all(dir).map_err(|source| NluError::Io {
            path: dir.to_owned(),
            source,
        })?;
        let wpath = dir.join(WEIGHTS_FILE);
        let tmp = dir.join(format!("{WEIGHTS_FILE}.tmp"));
        candle_core::safetensors::save(&self.weights, &tmp)?;
        std::fs::rename(&tmp, &wpath).map_err(|source| NluError::Io {
            path: wpath,
            source,
        })?;
        let mpath = dir.join(MANIFEST_FILE);
        let json =
            serde_json::to_string_pretty(&self.manifest).map_err(|e| NluError::ModelCorrupt {
                path: mpath.clone(),
                reason: format!("cannot serialise: {e}"),
            })?;
        std::fs::write(&mpath, json + "\n").map_err(|source| NluError::Io {
            path: mpath,
            source,
        })?;
        match &self.encoder {
            Some(e) => e.head.save(dir),
            // A head left by an earlier model was fitted beside another transformer.
            None => match std::fs::remove_file(dir.join(head::HEAD_FILE)) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(NluError::Io {
                    path: dir.join(head::HEAD_FILE),
                    source: e,
                }),
                _ => Ok(()),
            },
        }
    }

    pub fn weights(&self) -> &HashMap<String, Tensor> {
        &self.weights
    }

    /// Replaces the figures recorded in the manifest (after training or evaluation).
    pub fn set_metrics(&mut self, metrics: serde_json::Value) {
        self.manifest.metrics = metrics;
    }

    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    /// Calibrated probabilities for one reply, and whether it was truncated.
    pub fn probabilities(
        &self,
        text: &str,
        prompt: Option<&str>,
        hour: Option<u8>,
    ) -> Result<([f32; 15], bool), NluError> {
        let cfg = &self.manifest.config;
        let reply = self.tokenizer.encode(text, cfg.max_len, false);
        // Emoji alone carry no words to classify (ASR never produces them; typed input might).
        if reply.ids.iter().all(|&id| id == super::tokenizer::SYM) {
            return Err(NluError::EmptyText);
        }
        let prompt_ids = self
            .tokenizer
            .encode(prompt.unwrap_or(""), cfg.prompt_len, true);
        let batch = Batch::new(&[&reply.ids], &[&prompt_ids.ids], &[hour], &self.device)?;
        let logits = (self.net.forward(&batch, None)? / self.manifest.temperature as f64)?;
        let p: Vec<f32> = candle_nn::ops::softmax_last_dim(&logits)?
            .squeeze(0)?
            .to_vec1()?;
        let mut probs = [0f32; 15];
        if p.len() != probs.len() {
            return Err(NluError::ModelMismatch {
                dir: PathBuf::new(),
                reason: format!("network produced {} outputs", p.len()),
            });
        }
        probs.copy_from_slice(&p);
        if let Some(e) = &self.encoder {
            let r = e.encoder.embed(text)?;
            let p = match prompt.filter(|p| !p.trim().is_empty()) {
                Some(p) => Some(e.prompt_vector(p)?),
                None => None,
            };
            let x = head::features(&r, p.as_deref().map(Vec::as_slice));
            if let Some(lp) = e.head.log_probs(&[x])?.first() {
                let mixed = head::mix(&probs, lp, e.head.weight);
                if mixed.len() == probs.len() {
                    probs.copy_from_slice(&mixed);
                }
            }
        }
        Ok((probs, reply.truncated))
    }

    /// Understands one reply in context.
    pub fn classify(&self, u: &Utterance<'_>) -> Result<Understanding, NluError> {
        let hour = u.hour.or_else(|| u.now.map(|n| n.hour() as u8));
        let (probs, truncated) = self.probabilities(u.text, u.prompt, hour)?;
        let (best, &confidence) = probs
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .unwrap_or((Intent::Other.index(), &0.0));
        let top = Intent::ALL[best];
        let abstained = confidence < self.manifest.abstain_below && top != Intent::Other;
        Ok(Understanding {
            label: if abstained { Intent::Other } else { top },
            confidence,
            abstained,
            top,
            probs,
            sentiment: sentiment::analyze(u.text),
            slots: slots::extract(u.text, u.now.as_ref()),
            keywords: keywords::extract(u.text),
            truncated,
        })
    }
}
