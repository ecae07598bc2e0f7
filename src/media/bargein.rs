//! The barge-in primitive, sans I/O: given a speech start and what the player is doing,
//! decide whether to stop the prompt now, and describe the interruption with the figures the
//! call machine's policy needs (how far into the prompt, how long and how loud the speech
//! was when it triggered, how long detection and stopping took).
//!
//! Whether a start is a *real* interruption (backchannels like 嗯/对, noise, echo of our own
//! prompt) is the call machine's decision; it sees every [`BargeIn`] and every speech start,
//! and may resume, replay or ignore. Here only a floor on loudness keeps line noise from
//! cutting prompts. Depends on [`super::vad`] and [`super::player`] for their types.

use std::time::Duration;

use serde::Deserialize;

use super::player::PromptId;
use super::vad::SpeechStart;

/// Barge-in settings (`[media.barge_in]`).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct BargeInConfig {
    /// Speech quieter than this (mean dBFS of the start run) never interrupts a prompt.
    pub min_energy_dbfs: f32,
    /// Drop prompts queued after the interrupted one.
    pub flush_queue: bool,
}

impl Default for BargeInConfig {
    fn default() -> Self {
        Self {
            min_energy_dbfs: -50.0,
            flush_queue: true,
        }
    }
}

/// An interruption of a prompt by the callee.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BargeIn {
    pub prompt: PromptId,
    /// Prompt audio that reached FreeSWITCH before the stop, and the prompt's length.
    pub played_ms: u32,
    pub total_ms: u32,
    /// The speech start that triggered it (timeline, speech so far, level).
    pub start: SpeechStart,
    /// Arrival of the onset frame → speech-start declared (VAD run + queueing).
    pub detection: Duration,
    /// Arrival of the onset frame → last prompt frame sent.
    pub latency: Duration,
}

/// Decides on a speech start: `Some(prompt)` to interrupt when a prompt that allows barge-in
/// is playing and the speech is loud enough.
pub fn should_interrupt(
    cfg: &BargeInConfig,
    interruptible: Option<PromptId>,
    start: &SpeechStart,
) -> Option<PromptId> {
    let prompt = interruptible?;
    (start.energy_dbfs >= cfg.min_energy_dbfs).then_some(prompt)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn start(dbfs: f32) -> SpeechStart {
        SpeechStart {
            onset_ms: 1500,
            detected_ms: 1560,
            voiced_ms: 60,
            energy_dbfs: dbfs,
        }
    }

    #[test]
    fn interrupts_only_an_interruptible_prompt_with_loud_enough_speech() {
        let cfg = BargeInConfig::default();
        assert_eq!(should_interrupt(&cfg, Some(3), &start(-30.0)), Some(3));
        assert_eq!(should_interrupt(&cfg, None, &start(-30.0)), None);
        assert_eq!(should_interrupt(&cfg, Some(3), &start(-60.0)), None);
    }
}
