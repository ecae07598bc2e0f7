//! Prompt audio: recorded WAV prompts (any common rate, 8/16/24/32-bit integer or 32-bit
//! float, mono or interleaved multichannel) and raw PCM buffers from TTS, converted once to
//! the channel rate with rubato's FFT resampler (fixed ratio, full quality, delay trimmed)
//! and cached per (file, rate), so a campaign's prompts cost one conversion each, not one
//! per call.
//!
//! A bad file — missing, not a WAV, an unsupported sample format, empty, absurdly long — is a
//! [`PromptError`] naming the path and what to do; it never panics. Depends on nothing else
//! in aicall.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Resampler};

/// A prompt longer than this is refused: it is a wrong file, not a prompt.
pub const MAX_PROMPT: Duration = Duration::from_secs(600);

/// Errors loading or converting prompt audio.
#[derive(Debug, thiserror::Error)]
pub enum PromptError {
    #[error("cannot read prompt {path}: {source}; check the path in the script")]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("prompt {path} is not a WAV file ({reason}); convert it to 16-bit PCM WAV")]
    NotWav { path: PathBuf, reason: String },
    #[error(
        "prompt {path} has an unsupported sample format ({format}); use 16-bit PCM or 32-bit \
         float WAV"
    )]
    Unsupported { path: PathBuf, format: String },
    #[error("prompt {path} holds no audio; re-record or re-render it")]
    Empty { path: PathBuf },
    #[error("prompt {path} lasts {secs:.0} s, over the {max} s limit; is it the right file?")]
    TooLong { path: PathBuf, secs: f64, max: u64 },
    #[error("prompt {name}: sample rate {rate} Hz is not usable (1 Hz to 384 kHz)")]
    BadRate { name: String, rate: u32 },
    #[error("prompt {name}: resampling {from} Hz to {to} Hz failed: {reason}")]
    Resample {
        name: String,
        from: u32,
        to: u32,
        reason: String,
    },
}

/// Mono 16-bit audio at a channel rate, shared between calls without copying.
#[derive(Clone, Debug)]
pub struct Prompt {
    name: Arc<str>,
    rate: u32,
    samples: Arc<[i16]>,
}

impl Prompt {
    /// Wraps samples already at the channel rate (e.g. TTS rendered for the channel).
    pub fn from_pcm(name: &str, rate: u32, samples: Vec<i16>) -> Self {
        Self {
            name: name.into(),
            rate,
            samples: samples.into(),
        }
    }

    /// Converts PCM at `pcm_rate` (TTS output) to `channel_rate`.
    pub fn from_pcm_at(
        name: &str,
        pcm_rate: u32,
        samples: &[i16],
        channel_rate: u32,
    ) -> Result<Self, PromptError> {
        let mono: Vec<f32> = samples.iter().map(|&s| s as f32 / 32768.0).collect();
        let out = convert_rate(name, &mono, pcm_rate, channel_rate)?;
        Ok(Self::from_pcm(name, channel_rate, to_i16(&out)))
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn rate(&self) -> u32 {
        self.rate
    }

    pub fn samples(&self) -> &[i16] {
        &self.samples
    }

    pub fn duration(&self) -> Duration {
        Duration::from_secs_f64(self.samples.len() as f64 / self.rate.max(1) as f64)
    }
}

fn to_i16(v: &[f32]) -> Vec<i16> {
    v.iter()
        .map(|&x| (x * 32768.0).round().clamp(-32768.0, 32767.0) as i16)
        .collect()
}

/// Resamples mono audio with rubato's synchronous FFT resampler; the output is aligned with
/// the input (startup delay trimmed) and `len × to / from` samples long.
pub fn convert_rate(
    name: &str,
    input: &[f32],
    from: u32,
    to: u32,
) -> Result<Vec<f32>, PromptError> {
    for rate in [from, to] {
        if rate == 0 || rate > 384_000 {
            return Err(PromptError::BadRate {
                name: name.to_owned(),
                rate,
            });
        }
    }
    if from == to || input.is_empty() {
        return Ok(input.to_vec());
    }
    let fail = |reason: String| PromptError::Resample {
        name: name.to_owned(),
        from,
        to,
        reason,
    };
    let mut rs = Fft::<f32>::new(from as usize, to as usize, 1024, 1, FixedSync::Both)
        .map_err(|e| fail(e.to_string()))?;
    let adapter = InterleavedSlice::new(input, 1, input.len()).map_err(|e| fail(e.to_string()))?;
    let out = rs
        .process_all(&adapter, input.len(), None)
        .map_err(|e| fail(e.to_string()))?;
    Ok(out.take_data())
}

/// Reads a WAV file as mono f32 in [-1, 1) with its rate.
pub fn read_wav(path: &Path) -> Result<(Vec<f32>, u32), PromptError> {
    let file = std::fs::File::open(path).map_err(|source| PromptError::Open {
        path: path.to_owned(),
        source,
    })?;
    // The file opened: whatever hound says now (truncated header included) is about content.
    let mut reader =
        hound::WavReader::new(std::io::BufReader::new(file)).map_err(|e| PromptError::NotWav {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
    let spec = reader.spec();
    let channels = spec.channels as usize;
    if channels == 0 || spec.sample_rate == 0 {
        return Err(PromptError::NotWav {
            path: path.to_owned(),
            reason: format!("{channels} channels at {} Hz", spec.sample_rate),
        });
    }
    let frames = reader.duration() as f64;
    let secs = frames / spec.sample_rate as f64;
    if secs > MAX_PROMPT.as_secs_f64() {
        return Err(PromptError::TooLong {
            path: path.to_owned(),
            secs,
            max: MAX_PROMPT.as_secs(),
        });
    }
    let bad = |e: hound::Error| PromptError::NotWav {
        path: path.to_owned(),
        reason: e.to_string(),
    };
    let interleaved: Vec<f32> = match (spec.sample_format, spec.bits_per_sample) {
        (hound::SampleFormat::Int, 16) => reader
            .samples::<i16>()
            .map(|s| s.map(|v| v as f32 / 32768.0))
            .collect::<Result<_, _>>()
            .map_err(bad)?,
        (hound::SampleFormat::Int, bits @ (8 | 24 | 32)) => {
            let scale = (1i64 << (bits - 1)) as f32;
            reader
                .samples::<i32>()
                .map(|s| s.map(|v| v as f32 / scale))
                .collect::<Result<_, _>>()
                .map_err(bad)?
        }
        (hound::SampleFormat::Float, 32) => reader
            .samples::<f32>()
            .map(|s| {
                s.map(|v| {
                    if v.is_finite() {
                        v.clamp(-1.0, 1.0)
                    } else {
                        0.0
                    }
                })
            })
            .collect::<Result<_, _>>()
            .map_err(bad)?,
        (fmt, bits) => {
            return Err(PromptError::Unsupported {
                path: path.to_owned(),
                format: format!("{fmt:?} {bits}-bit"),
            })
        }
    };
    let mono: Vec<f32> = interleaved
        .chunks_exact(channels)
        .map(|f| f.iter().sum::<f32>() / channels as f32)
        .collect();
    if mono.is_empty() {
        return Err(PromptError::Empty {
            path: path.to_owned(),
        });
    }
    Ok((mono, spec.sample_rate))
}

/// Loads a WAV prompt converted to `channel_rate`.
pub fn load_wav(path: &Path, channel_rate: u32) -> Result<Prompt, PromptError> {
    let (mono, rate) = read_wav(path)?;
    let name = path.display().to_string();
    let converted = convert_rate(&name, &mono, rate, channel_rate)?;
    Ok(Prompt::from_pcm(&name, channel_rate, to_i16(&converted)))
}

/// Prompts loaded so far, per (path, channel rate).
#[derive(Debug, Default)]
pub struct PromptCache {
    loaded: Mutex<HashMap<(PathBuf, u32), Prompt>>,
}

impl PromptCache {
    pub fn new() -> Self {
        Self::default()
    }

    /// The prompt at `path` for a `channel_rate` channel, loaded and converted on first use.
    /// Blocking (file I/O and resampling): call it at start-up or off the reactor.
    pub fn get(&self, path: &Path, channel_rate: u32) -> Result<Prompt, PromptError> {
        let key = (path.to_owned(), channel_rate);
        if let Some(p) = self.lock().get(&key) {
            return Ok(p.clone());
        }
        // Loaded without the lock held: two first uses may both convert; the result is the
        // same and the second insert is harmless, while other prompts are never blocked.
        let prompt = load_wav(path, channel_rate)?;
        self.lock().insert(key, prompt.clone());
        Ok(prompt)
    }

    /// Prompts cached.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(PathBuf, u32), Prompt>> {
        // The map is only inserted into; a poisoned lock still holds valid prompts.
        self.loaded.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(rate: u32, hz: f32, secs: f32) -> Vec<f32> {
        let n = (rate as f32 * secs) as usize;
        (0..n)
            .map(|i| 0.5 * (2.0 * std::f32::consts::PI * hz * i as f32 / rate as f32).sin())
            .collect()
    }

    fn rms(v: &[f32]) -> f32 {
        (v.iter().map(|x| x * x).sum::<f32>() / v.len() as f32).sqrt()
    }

    #[test]
    fn conversion_keeps_length_level_and_alignment() {
        for (from, to) in [(16000, 8000), (8000, 16000), (44100, 8000), (22050, 16000)] {
            let input = tone(from, 440.0, 1.0);
            let out = convert_rate("tone", &input, from, to).expect("resampled");
            let expected = input.len() * to as usize / from as usize;
            assert!(
                out.len().abs_diff(expected) <= 2,
                "{from}->{to}: {} vs {expected}",
                out.len()
            );
            let mid = &out[out.len() / 4..out.len() * 3 / 4];
            assert!(
                (rms(mid) - 0.3536).abs() < 0.01,
                "{from}->{to}: rms {}",
                rms(mid)
            );
            // Aligned: sample k of the output is the tone at time k / to.
            let k = out.len() / 2;
            let t = k as f32 / to as f32;
            let want = 0.5 * (2.0 * std::f32::consts::PI * 440.0 * t).sin();
            assert!(
                (out[k] - want).abs() < 0.05,
                "{from}->{to}: {} vs {want}",
                out[k]
            );
        }
    }

    #[test]
    fn prompt_file_loads_at_both_channel_rates_and_is_cached() {
        // A 4.5 s prompt as the set-up renders them: 16 kHz 16-bit mono.
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("prompt.wav");
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: 16000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::create(&file, spec).expect("create");
        for v in tone(16000, 220.0, 4.5) {
            w.write_sample((v * 32767.0) as i16).expect("sample");
        }
        w.finalize().expect("finalize");
        let path = file.as_path();
        let cache = PromptCache::new();
        let p16 = cache.get(path, 16000).expect("16 kHz prompt");
        let p8 = cache.get(path, 8000).expect("8 kHz prompt");
        assert_eq!(p16.samples().len() / 2, p8.samples().len());
        assert!(p16.duration() > Duration::from_secs(4));
        cache.get(path, 8000).expect("cached");
        assert_eq!(cache.len(), 2);
    }

    #[test]
    fn bad_files_are_errors_that_name_the_path() {
        let dir = tempfile::tempdir().expect("temp dir");
        let missing = dir.path().join("missing.wav");
        let err = load_wav(&missing, 8000).expect_err("missing");
        assert!(matches!(err, PromptError::Open { .. }));
        assert!(err.to_string().contains("missing.wav"));

        let text = dir.path().join("text.wav");
        std::fs::write(&text, b"RIFF....WAVEnot really").expect("write");
        assert!(matches!(
            load_wav(&text, 8000),
            Err(PromptError::NotWav { .. })
        ));

        let empty = dir.path().join("empty.wav");
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: 8000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        hound::WavWriter::create(&empty, spec)
            .expect("create")
            .finalize()
            .expect("finalize");
        let err = load_wav(&empty, 8000).expect_err("empty");
        assert!(matches!(err, PromptError::Empty { .. }), "{err}");

        let float64 = dir.path().join("f64.wav");
        // A WAV header announcing 64-bit float samples: hound reads the header, we refuse it.
        let mut bytes = Vec::new();
        bytes.extend_from_slice(b"RIFF");
        bytes.extend_from_slice(&(36u32 + 8).to_le_bytes());
        bytes.extend_from_slice(b"WAVEfmt ");
        bytes.extend_from_slice(&16u32.to_le_bytes());
        bytes.extend_from_slice(&3u16.to_le_bytes()); // IEEE float
        bytes.extend_from_slice(&1u16.to_le_bytes());
        bytes.extend_from_slice(&8000u32.to_le_bytes());
        bytes.extend_from_slice(&64000u32.to_le_bytes());
        bytes.extend_from_slice(&8u16.to_le_bytes());
        bytes.extend_from_slice(&64u16.to_le_bytes());
        bytes.extend_from_slice(b"data");
        bytes.extend_from_slice(&8u32.to_le_bytes());
        bytes.extend_from_slice(&0f64.to_le_bytes());
        std::fs::write(&float64, bytes).expect("write");
        let err = load_wav(&float64, 8000).expect_err("f64");
        assert!(
            matches!(
                err,
                PromptError::Unsupported { .. } | PromptError::NotWav { .. }
            ),
            "{err}"
        );
    }

    #[test]
    fn tts_pcm_is_converted_to_the_channel_rate() {
        let pcm: Vec<i16> = tone(24000, 300.0, 0.5)
            .iter()
            .map(|&v| (v * 32767.0) as i16)
            .collect();
        let p = Prompt::from_pcm_at("tts", 24000, &pcm, 8000).expect("converted");
        assert_eq!(p.rate(), 8000);
        assert!(p.samples().len().abs_diff(4000) <= 2);
    }
}
