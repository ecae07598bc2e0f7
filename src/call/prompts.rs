//! Prompt audio for a call. A script prompt is a recorded WAV (loaded once per channel rate
//! through the media engine's [`PromptCache`]), or a text template rendered per call by a
//! [`Tts`] engine with the contact's fields. Which engine speaks templates is a deployment
//! choice; [`PromptSet::check`] refuses a campaign whose templates no engine can speak.

use std::collections::HashMap;
use std::sync::Arc;

use super::script::{render_template, Script};
use crate::asr::Language;
use crate::media::{Prompt, PromptCache};

/// A text-to-speech engine: 16-bit mono PCM at the engine's rate.
pub trait Tts: Send + Sync + std::fmt::Debug {
    fn name(&self) -> &str;
    fn synthesize(&self, text: &str, language: Language) -> Result<(Vec<i16>, u32), String>;
}

/// Errors getting a prompt's audio.
#[derive(Debug, thiserror::Error)]
pub enum PromptAudioError {
    #[error("prompt `{key}`: {reason}")]
    Audio { key: String, reason: String },
    #[error(
        "prompt `{key}` is a text template without recorded audio and no TTS engine is \
         configured: record {key}.wav under the script's prompts_dir or configure a TTS engine"
    )]
    NoTts { key: String },
}

/// The prompts of a script, ready to play.
#[derive(Debug, Clone)]
pub struct PromptSet {
    script: Arc<Script>,
    cache: Arc<PromptCache>,
    tts: Option<Arc<dyn Tts>>,
}

impl PromptSet {
    pub fn new(script: Arc<Script>, cache: Arc<PromptCache>, tts: Option<Arc<dyn Tts>>) -> Self {
        PromptSet { script, cache, tts }
    }

    /// Checks that every prompt can be played, loading recorded ones for `rate` (so the first
    /// call does not pay for it). Blocking.
    pub fn check(&self, rate: u32) -> Result<(), PromptAudioError> {
        for (i, p) in self.script.prompts.iter().enumerate() {
            if p.audio.is_some() {
                self.audio(i, rate, &HashMap::new())?;
            } else if self.tts.is_none() {
                return Err(PromptAudioError::NoTts { key: p.key.clone() });
            }
        }
        Ok(())
    }

    /// The audio of prompt `i` for a channel at `rate`, templates filled from `values`.
    /// Blocking (file I/O, resampling, synthesis): call it off the reactor.
    pub fn audio(
        &self,
        i: usize,
        rate: u32,
        values: &HashMap<String, String>,
    ) -> Result<Prompt, PromptAudioError> {
        let spec = self.script.prompt(i);
        let err = |reason: String| PromptAudioError::Audio {
            key: spec.key.clone(),
            reason,
        };
        match (&spec.audio, &spec.text, &self.tts) {
            (Some(path), _, _) => self.cache.get(path, rate).map_err(|e| err(e.to_string())),
            (None, Some(text), Some(tts)) => {
                let text = render_template(text, values);
                let (pcm, pcm_rate) = tts.synthesize(&text, self.script.language).map_err(err)?;
                Prompt::from_pcm_at(&spec.key, pcm_rate, &pcm, rate).map_err(|e| err(e.to_string()))
            }
            _ => Err(PromptAudioError::NoTts {
                key: spec.key.clone(),
            }),
        }
    }

    /// The transcript text of prompt `i` with `values` filled in.
    pub fn text(&self, i: usize, values: &HashMap<String, String>) -> String {
        let spec = self.script.prompt(i);
        spec.text
            .as_deref()
            .map(|t| render_template(t, values))
            .unwrap_or_else(|| format!("[{}]", spec.key))
    }
}

/// `prompt` from `from_ms` on (resuming after a false interruption).
pub fn from_offset(prompt: &Prompt, from_ms: u32) -> Prompt {
    if from_ms == 0 {
        return prompt.clone();
    }
    let skip = (from_ms as usize * prompt.rate() as usize / 1000).min(prompt.samples().len());
    Prompt::from_pcm(
        prompt.name(),
        prompt.rate(),
        prompt.samples()[skip..].to_vec(),
    )
}
