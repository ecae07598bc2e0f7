//! `aicall bench calls`: the AI call's figures.
//!
//! 1. Barge-in decisions on real audio: every backchannel clip of the speech fixtures (嗯, 对,
//!    好的, uh-huh … at 16 kHz and after a telephone round trip) and a set of noises (bursts of
//!    white and low-passed noise, clicks, mains hum, breath-like noise) go through Whisper and
//!    the barge-in policy while the offer prompt plays; a *false barge-in* is one the policy
//!    would let take the turn. The real replies of the fixtures measure the other side: a
//!    real interruption the policy would ignore.
//! 2. The demo campaign through the simulator: turn latency and barge-in latency.

use std::path::Path;

use aicall::asr::pool::DecodePool;
use aicall::asr::RecognizeOptions;
use aicall::call::policy::{interruption, Interruption};

/// Outcome of the barge-in decision benchmark.
#[derive(Debug, Default, Clone)]
pub struct BargeInFigures {
    pub backchannels: usize,
    pub backchannel_false: usize,
    pub noises: usize,
    pub noise_false: usize,
    pub replies: usize,
    pub replies_missed: usize,
    pub examples: Vec<String>,
}

impl BargeInFigures {
    pub fn false_rate(&self) -> f64 {
        (self.backchannel_false + self.noise_false) as f64
            / (self.backchannels + self.noises).max(1) as f64
    }
    pub fn miss_rate(&self) -> f64 {
        self.replies_missed as f64 / self.replies.max(1) as f64
    }
}

/// Deterministic noises, 16 kHz: what a line and a handset make that is not speech.
pub fn noises() -> Vec<(String, Vec<f32>)> {
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut rnd = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed >> 11) as f32 / (1u64 << 53) as f32 * 2.0 - 1.0
    };
    let mut out = Vec::new();
    for (i, &level) in [0.05f32, 0.1, 0.2].iter().enumerate() {
        let white: Vec<f32> = (0..8000).map(|_| rnd() * level).collect();
        out.push((format!("white-burst-{i}"), white));
        let mut y = 0.0f32;
        let low: Vec<f32> = (0..8000)
            .map(|_| {
                y = 0.95 * y + 0.05 * rnd();
                y * level * 6.0
            })
            .collect();
        out.push((format!("rumble-{i}"), low));
    }
    let mut clicks = vec![0.0f32; 8000];
    for k in 0..6 {
        for j in 0..40 {
            clicks[k * 1300 + j] =
                0.6 * (1.0 - j as f32 / 40.0) * if j % 2 == 0 { 1.0 } else { -1.0 };
        }
    }
    out.push(("clicks".into(), clicks));
    let hum: Vec<f32> = (0..16000)
        .map(|n| 0.1 * (std::f32::consts::TAU * 50.0 * n as f32 / 16000.0).sin())
        .collect();
    out.push(("hum-50hz".into(), hum));
    let breath: Vec<f32> = (0..12000)
        .map(|n| {
            let env = (std::f32::consts::PI * n as f32 / 12000.0).sin();
            rnd() * 0.08 * env
        })
        .collect();
    out.push(("breath".into(), breath));
    out
}

/// Speech in a 16 kHz clip as the call's VAD counts it: the webrtc-vad segmenter with the
/// media engine's default settings, voiced ms summed over segments.
pub fn voiced_ms(samples: &[f32]) -> u32 {
    use aicall::media::vad::{Segmenter, VadEvent, WebRtcDetector};
    let cfg = aicall::media::VadConfig::default();
    let mut detector = WebRtcDetector::new(&cfg);
    let mut segmenter = Segmenter::new(&cfg);
    let pcm: Vec<i16> = samples
        .iter()
        .map(|&x| (x * 32768.0).clamp(-32768.0, 32767.0) as i16)
        .collect();
    // Silence before (the detector's warm-up) and after (to close the last segment).
    let (lead, tail) = (vec![0i16; 8000], vec![0i16; 16_000]);
    let mut voiced = 0;
    for part in [lead.as_slice(), &pcm, &tail] {
        detector.push(part, |frame, v| {
            if let Some(VadEvent::End(s)) = segmenter.push(frame, v) {
                voiced += s.voiced_ms;
            }
        });
    }
    voiced
}

/// Runs the decision benchmark over the fixtures in `callee_dir` (with `index.tsv`).
pub fn barge_in_decisions(
    pool: &DecodePool,
    options: &RecognizeOptions,
    callee_dir: &Path,
    playing: &str,
) -> anyhow::Result<BargeInFigures> {
    let index = std::fs::read_to_string(callee_dir.join("index.tsv"))?;
    let mut f = BargeInFigures::default();
    let decide = |samples: Vec<f32>| -> anyhow::Result<(String, Interruption)> {
        let voiced = voiced_ms(&samples);
        let h = pool
            .try_submit(samples, options.clone())
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .wait_blocking()?;
        let v = interruption(&h.text, Some(playing), Some(voiced));
        Ok((h.text, v))
    };
    for line in index.lines().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        let [file, _voice, label, ..] = cols[..] else {
            continue;
        };
        // Real replies: one voice per text keeps the run short; backchannels: all, 16k + 8k.
        let is_back = label == "backchannel";
        if !is_back && !file.contains("_00_") && !file.contains("_03_") {
            continue;
        }
        let dirs: &[&str] = if is_back { &["", "8k"] } else { &[""] };
        for d in dirs {
            let path = callee_dir.join(d).join(file);
            let Ok((samples, rate)) = aicall::media::prompt::read_wav(&path) else {
                continue;
            };
            let samples = if rate == 16_000 {
                samples
            } else {
                aicall::media::prompt::convert_rate(file, &samples, rate, 16_000)?
            };
            let (text, v) = decide(samples)?;
            if is_back {
                f.backchannels += 1;
                if v == Interruption::Real {
                    f.backchannel_false += 1;
                    f.examples
                        .push(format!("backchannel {file} heard as {text:?}"));
                }
            } else if label != "other" {
                f.replies += 1;
                if v != Interruption::Real {
                    f.replies_missed += 1;
                    f.examples
                        .push(format!("reply {file} ({label}) heard as {text:?}: {v:?}"));
                }
            }
        }
    }
    for (name, samples) in noises() {
        let (text, v) = decide(samples)?;
        f.noises += 1;
        if v == Interruption::Real {
            f.noise_false += 1;
            f.examples.push(format!("noise {name} heard as {text:?}"));
        }
    }
    Ok(f)
}
