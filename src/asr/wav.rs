//! Audio input for the recogniser's file front door (CLI, tests, benches): reads WAV files
//! of any common PCM/float format and rate, mixes to mono and resamples to 16 kHz. The live
//! media path resamples on its own and hands 16 kHz segments straight to the recogniser.
//! Owns `AudioError`; depends on `hound`.

use std::path::{Path, PathBuf};

use super::mel::SAMPLE_RATE;

/// Why an audio file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum AudioError {
    #[error("{path}: cannot open")]
    Open {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: not a readable WAV file ({reason}); convert it with e.g. `sox in.mp3 -r 16000 -c 1 -b 16 out.wav`")]
    NotWav { path: PathBuf, reason: String },
    #[error("{path}: unsupported WAV format: {bits}-bit {format}")]
    Unsupported {
        path: PathBuf,
        bits: u16,
        format: &'static str,
    },
    #[error("{path}: the file holds no audio samples")]
    Empty { path: PathBuf },
}

/// Reads `path` as 16 kHz mono samples in −1.0..=1.0.
pub fn read_wav_16k(path: &Path) -> Result<Vec<f32>, AudioError> {
    let file = std::fs::File::open(path).map_err(|source| AudioError::Open {
        path: path.to_path_buf(),
        source,
    })?;
    let not_wav = |e: hound::Error| AudioError::NotWav {
        path: path.to_path_buf(),
        reason: e.to_string(),
    };
    let reader = hound::WavReader::new(std::io::BufReader::new(file)).map_err(not_wav)?;
    let spec = reader.spec();
    let channels = usize::from(spec.channels.max(1));
    let interleaved: Vec<f32> = match (spec.sample_format, spec.bits_per_sample) {
        (hound::SampleFormat::Float, 32) => reader
            .into_samples::<f32>()
            .collect::<Result<_, _>>()
            .map_err(not_wav)?,
        (hound::SampleFormat::Int, bits @ (8 | 16 | 24 | 32)) => {
            let scale = 1.0 / (1u64 << (bits - 1)) as f32;
            reader
                .into_samples::<i32>()
                .map(|s| s.map(|v| v as f32 * scale))
                .collect::<Result<_, _>>()
                .map_err(not_wav)?
        }
        (fmt, bits) => {
            return Err(AudioError::Unsupported {
                path: path.to_path_buf(),
                bits,
                format: match fmt {
                    hound::SampleFormat::Float => "float",
                    hound::SampleFormat::Int => "integer",
                },
            })
        }
    };
    let mono: Vec<f32> = interleaved
        .chunks(channels)
        .map(|frame| frame.iter().sum::<f32>() / frame.len() as f32)
        .collect();
    if mono.is_empty() || spec.sample_rate == 0 {
        return Err(AudioError::Empty {
            path: path.to_path_buf(),
        });
    }
    Ok(resample(&mono, spec.sample_rate as usize, SAMPLE_RATE))
}

/// Band-limited resampling with a Hann-windowed sinc (16 zero crossings each side); a
/// low-pass at the lower Nyquist frequency keeps downsampling free of aliases. Offline only:
/// allocation per call is fine here.
pub fn resample(input: &[f32], from: usize, to: usize) -> Vec<f32> {
    if from == to || input.is_empty() {
        return input.to_vec();
    }
    let ratio = to as f64 / from as f64;
    let cutoff = ratio.min(1.0);
    let half_width = 16.0 / cutoff;
    let out_len = ((input.len() as f64) * ratio).round() as usize;
    let mut out = Vec::with_capacity(out_len);
    for n in 0..out_len {
        let x = n as f64 / ratio;
        let lo = (x - half_width).ceil().max(0.0) as usize;
        let hi = ((x + half_width).floor() as usize).min(input.len() - 1);
        let mut acc = 0.0f64;
        for (k, &s) in input.iter().enumerate().take(hi + 1).skip(lo) {
            let t = x - k as f64;
            let arg = std::f64::consts::PI * t * cutoff;
            let sinc = if t.abs() < 1e-9 { 1.0 } else { arg.sin() / arg };
            let w = 0.5 * (1.0 + (std::f64::consts::PI * t / half_width).cos());
            acc += f64::from(s) * sinc * w * cutoff;
        }
        out.push(acc as f32);
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn upsampling_keeps_a_tone() {
        let tone: Vec<f32> = (0..8000)
            .map(|i| (2.0 * std::f32::consts::PI * 300.0 * i as f32 / 8000.0).sin())
            .collect();
        let up = resample(&tone, 8000, 16000);
        assert_eq!(up.len(), 16000);
        for (i, &v) in up.iter().enumerate().skip(100).take(15000) {
            let want = (2.0 * std::f32::consts::PI * 300.0 * i as f32 / 16000.0).sin();
            assert!((v - want).abs() < 0.01, "sample {i}: {v} vs {want}");
        }
    }

    #[test]
    fn garbage_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.wav");
        std::fs::write(&p, b"definitely not RIFF").unwrap();
        assert!(matches!(read_wav_16k(&p), Err(AudioError::NotWav { .. })));
        assert!(matches!(
            read_wav_16k(&dir.path().join("missing.wav")),
            Err(AudioError::Open { .. })
        ));
    }
}
