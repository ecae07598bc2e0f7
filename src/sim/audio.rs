//! WAV loading for the simulator's callees and playbacks: any 16-bit or float WAV, mixed to
//! mono and brought to the channel rate. The rate conversion here is a simulator's (2:1
//! decimation through a windowed-sinc low-pass, linear interpolation otherwise); aicall's
//! own media path uses rubato.

use std::path::Path;

/// Reads a WAV as mono 16-bit samples at `rate`.
pub fn load_wav_mono(path: &Path, rate: u32) -> Result<Vec<i16>, String> {
    let mut reader = hound::WavReader::open(path)
        .map_err(|e| format!("{}: not a readable WAV: {e}", path.display()))?;
    let spec = reader.spec();
    let channels = spec.channels.max(1) as usize;
    let samples: Vec<f32> = match (spec.sample_format, spec.bits_per_sample) {
        (hound::SampleFormat::Int, 16) => reader
            .samples::<i16>()
            .map(|s| s.map(|v| v as f32 / 32768.0))
            .collect::<Result<_, _>>()
            .map_err(|e| format!("{}: {e}", path.display()))?,
        (hound::SampleFormat::Int, bits @ (8 | 24 | 32)) => {
            let scale = (1i64 << (bits - 1)) as f32;
            reader
                .samples::<i32>()
                .map(|s| s.map(|v| v as f32 / scale))
                .collect::<Result<_, _>>()
                .map_err(|e| format!("{}: {e}", path.display()))?
        }
        (hound::SampleFormat::Float, 32) => reader
            .samples::<f32>()
            .collect::<Result<_, _>>()
            .map_err(|e| format!("{}: {e}", path.display()))?,
        (fmt, bits) => {
            return Err(format!(
                "{}: unsupported WAV format {fmt:?} {bits}-bit",
                path.display()
            ))
        }
    };
    let mono: Vec<f32> = samples
        .chunks(channels)
        .map(|frame| frame.iter().sum::<f32>() / frame.len() as f32)
        .collect();
    let converted = convert_rate(&mono, spec.sample_rate, rate);
    Ok(converted
        .iter()
        .map(|&v| (v * 32767.0).clamp(-32768.0, 32767.0) as i16)
        .collect())
}

fn convert_rate(input: &[f32], from: u32, to: u32) -> Vec<f32> {
    if from == to || input.is_empty() {
        return input.to_vec();
    }
    if from == 2 * to {
        // Low-pass at 0.45 of the output rate (31-tap Hann-windowed sinc), then keep every
        // second sample.
        const TAPS: usize = 31;
        let cutoff = 0.45 / 2.0;
        let mut h = [0f32; TAPS];
        let mid = (TAPS / 2) as f32;
        for (i, tap) in h.iter_mut().enumerate() {
            let x = i as f32 - mid;
            let sinc = if x == 0.0 {
                2.0 * cutoff
            } else {
                (2.0 * std::f32::consts::PI * cutoff * x).sin() / (std::f32::consts::PI * x)
            };
            let w = 0.5 - 0.5 * (2.0 * std::f32::consts::PI * i as f32 / (TAPS - 1) as f32).cos();
            *tap = sinc * w;
        }
        let sum: f32 = h.iter().sum();
        h.iter_mut().for_each(|t| *t /= sum);
        return (0..input.len() / 2)
            .map(|o| {
                let c = 2 * o;
                h.iter()
                    .enumerate()
                    .map(|(k, &t)| {
                        let idx = c as isize + k as isize - (TAPS / 2) as isize;
                        if idx < 0 || idx as usize >= input.len() {
                            0.0
                        } else {
                            t * input[idx as usize]
                        }
                    })
                    .sum()
            })
            .collect();
    }
    let out_len = (input.len() as u64 * to as u64 / from as u64) as usize;
    (0..out_len)
        .map(|o| {
            let pos = o as f64 * from as f64 / to as f64;
            let i = pos.floor() as usize;
            let frac = (pos - i as f64) as f32;
            let a = input[i.min(input.len() - 1)];
            let b = input[(i + 1).min(input.len() - 1)];
            a + (b - a) * frac
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimation_keeps_a_low_tone_and_length() {
        let tone: Vec<f32> = (0..16000)
            .map(|i| (2.0 * std::f32::consts::PI * 440.0 * i as f32 / 16000.0).sin() * 0.5)
            .collect();
        let out = convert_rate(&tone, 16000, 8000);
        assert_eq!(out.len(), 8000);
        let rms = (out[100..7900].iter().map(|v| v * v).sum::<f32>() / 7800.0).sqrt();
        assert!((rms - 0.3536).abs() < 0.02, "rms {rms}");
    }

    #[test]
    fn not_a_wav_is_an_error() {
        let dir = tempfile::tempdir().expect("temp dir");
        let p = dir.path().join("x.wav");
        std::fs::write(&p, b"not a wav").expect("write temp file");
        assert!(load_wav_mono(&p, 8000)
            .expect_err("bad WAV")
            .contains("not a readable WAV"));
    }
}
