//! Whisper's log-mel front end, computed in Rust (nothing downloaded).
//!
//! Owns the 80-bin Slaney mel filter bank (the same construction as `librosa.filters.mel`,
//! which OpenAI ships as `mel_filters.npz`) and the short-time Fourier transform Whisper trains
//! on: 25 ms periodic Hann window, 10 ms hop, centred frames with reflect padding, power
//! spectrum, log10, an 8-decade dynamic range clamp and the `(x + 4) / 4` scaling. Unlike
//! candle's `pcm_to_mel` it does not force 30 s of padding, spawns no threads and reuses its
//! FFT plan and scratch buffers, so a pool worker can call it per utterance. Depends on
//! `rustfft` only.

use std::sync::Arc;

use rustfft::num_complex::Complex32;
use rustfft::{Fft, FftPlanner};

/// Sample rate Whisper expects.
pub const SAMPLE_RATE: usize = 16_000;
/// FFT window length (25 ms).
pub const N_FFT: usize = 400;
/// Hop between frames (10 ms).
pub const HOP: usize = 160;
/// Frames in Whisper's 30 s training window.
pub const FRAMES_30S: usize = 3000;

fn hz_to_mel(f: f64) -> f64 {
    // Slaney's scale: linear below 1 kHz, logarithmic above.
    let f_sp = 200.0 / 3.0;
    let logstep = 6.4f64.ln() / 27.0;
    if f < 1000.0 {
        f / f_sp
    } else {
        15.0 + (f / 1000.0).ln() / logstep
    }
}

fn mel_to_hz(m: f64) -> f64 {
    let f_sp = 200.0 / 3.0;
    let logstep = 6.4f64.ln() / 27.0;
    if m < 15.0 {
        f_sp * m
    } else {
        1000.0 * (logstep * (m - 15.0)).exp()
    }
}

/// Slaney-normalised triangular mel filters, row-major `[n_mels][n_fft / 2 + 1]`.
pub fn mel_filters(n_mels: usize, n_fft: usize, sample_rate: usize) -> Vec<f32> {
    let n_freq = n_fft / 2 + 1;
    let fft_freqs: Vec<f64> = (0..n_freq)
        .map(|i| i as f64 * sample_rate as f64 / n_fft as f64)
        .collect();
    let (mel_min, mel_max) = (hz_to_mel(0.0), hz_to_mel(sample_rate as f64 / 2.0));
    let mel_f: Vec<f64> = (0..n_mels + 2)
        .map(|i| mel_to_hz(mel_min + (mel_max - mel_min) * i as f64 / (n_mels + 1) as f64))
        .collect();
    let mut out = vec![0f32; n_mels * n_freq];
    for m in 0..n_mels {
        let (lo, mid, hi) = (mel_f[m], mel_f[m + 1], mel_f[m + 2]);
        let enorm = 2.0 / (hi - lo);
        for (k, &f) in fft_freqs.iter().enumerate() {
            let lower = (f - lo) / (mid - lo);
            let upper = (hi - f) / (hi - mid);
            let w = lower.min(upper).max(0.0);
            out[m * n_freq + k] = (w * enorm) as f32;
        }
    }
    out
}

/// Reusable log-mel extractor.
pub struct LogMel {
    n_mels: usize,
    filters: Vec<f32>,
    window: Vec<f32>,
    fft: Arc<dyn Fft<f32>>,
    buf: Vec<Complex32>,
    scratch: Vec<Complex32>,
    power: Vec<f32>,
    padded: Vec<f32>,
}

impl std::fmt::Debug for LogMel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogMel")
            .field("n_mels", &self.n_mels)
            .finish_non_exhaustive()
    }
}

impl LogMel {
    pub fn new(n_mels: usize) -> Self {
        let fft = FftPlanner::new().plan_fft_forward(N_FFT);
        let scratch = vec![Complex32::default(); fft.get_inplace_scratch_len()];
        // Periodic Hann, as torch.hann_window(400) used by Whisper.
        let window = (0..N_FFT)
            .map(|i| {
                let x = 2.0 * std::f64::consts::PI * i as f64 / N_FFT as f64;
                (0.5 * (1.0 - x.cos())) as f32
            })
            .collect();
        Self {
            n_mels,
            filters: mel_filters(n_mels, N_FFT, SAMPLE_RATE),
            window,
            fft,
            buf: vec![Complex32::default(); N_FFT],
            scratch,
            power: vec![0.0; N_FFT / 2 + 1],
            padded: Vec::new(),
        }
    }

    pub fn n_mels(&self) -> usize {
        self.n_mels
    }

    /// Log-mel features, row-major `[n_mels][n_frames]`, for `samples` (16 kHz, ±1.0) followed
    /// by zeros up to `n_frames * HOP` samples (the 30 s window pads the same way). Samples
    /// beyond `n_frames * HOP` are ignored.
    pub fn compute(&mut self, samples: &[f32], n_frames: usize) -> Vec<f32> {
        let n_freq = N_FFT / 2 + 1;
        let total = n_frames * HOP;
        let used = samples.len().min(total);
        let half = N_FFT / 2;
        // Centre padding by reflection, as torch.stft(center=True, pad_mode="reflect").
        self.padded.clear();
        self.padded.reserve(total + N_FFT);
        let signal = |i: usize| if i < used { samples[i] } else { 0.0 };
        for i in (1..=half).rev() {
            self.padded.push(signal(i.min(total.saturating_sub(1))));
        }
        for i in 0..total {
            self.padded.push(signal(i));
        }
        for i in 0..half {
            let j = total.saturating_sub(2 + i);
            self.padded.push(signal(j));
        }

        let mut mel = vec![0f32; self.n_mels * n_frames];
        for frame in 0..n_frames {
            let start = frame * HOP;
            for (k, slot) in self.buf.iter_mut().enumerate() {
                *slot = Complex32::new(self.padded[start + k] * self.window[k], 0.0);
            }
            self.fft
                .process_with_scratch(&mut self.buf, &mut self.scratch);
            for (p, c) in self.power.iter_mut().zip(&self.buf) {
                *p = c.norm_sqr();
            }
            for m in 0..self.n_mels {
                let row = &self.filters[m * n_freq..(m + 1) * n_freq];
                let e: f32 = row.iter().zip(&self.power).map(|(w, p)| w * p).sum();
                mel[m * n_frames + frame] = e.max(1e-10).log10();
            }
        }
        let max = mel.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let floor = max - 8.0;
        for v in &mut mel {
            *v = (v.max(floor) + 4.0) / 4.0;
        }
        mel
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn filters_are_triangles_covering_the_band() {
        let f = mel_filters(80, N_FFT, SAMPLE_RATE);
        assert_eq!(f.len(), 80 * 201);
        // Every filter has some weight, and none reaches DC or Nyquist twice.
        for m in 0..80 {
            let row = &f[m * 201..(m + 1) * 201];
            assert!(row.iter().any(|&w| w > 0.0), "filter {m} is empty");
            assert!(row.iter().all(|&w| w >= 0.0));
        }
        // Slaney normalisation gives each triangle unit area in Hz: with 40 Hz bins the
        // weights of a wide (high-frequency) filter sum to 1/40.
        for m in 40..79 {
            let area: f32 = f[m * 201..(m + 1) * 201].iter().sum::<f32>() * 40.0;
            assert!((area - 1.0).abs() < 0.1, "filter {m} area {area}");
        }
    }

    #[test]
    fn tone_lands_in_the_right_band_and_silence_is_flat() {
        let mut lm = LogMel::new(80);
        let tone: Vec<f32> = (0..16_000)
            .map(|i| (2.0 * std::f32::consts::PI * 440.0 * i as f32 / 16_000.0).sin() * 0.5)
            .collect();
        let mel = lm.compute(&tone, 100);
        let frame = 50;
        let col: Vec<f32> = (0..80).map(|m| mel[m * 100 + frame]).collect();
        let best = col
            .iter()
            .enumerate()
            .fold((0, f32::MIN), |b, (i, &v)| if v > b.1 { (i, v) } else { b });
        // 440 Hz is mel ≈ 6.6 on Slaney's scale, i.e. filter index ≈ 8 of 80 up to 8 kHz.
        assert!((6..=11).contains(&best.0), "peak in bin {}", best.0);
        let silent = lm.compute(&[0.0; 1600], 10);
        assert!(silent.iter().all(|&v| (v - silent[0]).abs() < 1e-6));
    }
}
