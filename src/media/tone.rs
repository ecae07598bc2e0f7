//! Steady tones on the analysis stream: a beep, a ringback or busy tone, in-band DTMF, a
//! test line's sine. webrtc-vad calls them speech, and Whisper, given one, writes something
//! (a 700 Hz sine comes back as "4"). They are not speech: once a tone is recognised its
//! frames reach the segmenter as silence, and the frames of it already taken for speech are
//! counted in the segment's [`super::vad::SpeechSegment::tone_ms`], so whoever recognises
//! segments can leave a tone out.
//!
//! **What makes a tone.** Not the purity of the spectrum: a voiced 20 ms frame often holds
//! 99% of its energy in one or two harmonics, as much as a tone through G.711 does. What no
//! voice does is *hold still*: the spectra of consecutive 20 ms frames of a tone are the
//! same to within a few parts in ten thousand, for as long as it lasts, while a voice moves
//! within a frame or two. Measured with the detector's settings (Bhattacharyya similarity of
//! Hann-windowed power spectra, frames above -45 dBFS): over 60,000 frame pairs of recorded
//! and synthesised speech (`../shared/data/speech`, the rendered prompts, callee and AMD
//! sets), never more than 2 consecutive pairs reach [`SIMILAR`]; single tones and DTMF at
//! -10 to -20 dBFS with line noise 35 dB down keep it for their whole length. A tone is
//! declared after [`CONFIRM_PAIRS`] such pairs (five frames, 100 ms). Two tones too close
//! to resolve in 20 ms (the 440 + 480 Hz North American ringback) beat within the frame, so
//! they do not hold still and pass as before; so does a tone buried in noise.
//!
//! Pure: frames in, decisions out. Depends on nothing else in aicall.

use std::sync::Arc;

use rustfft::num_complex::Complex32;
use rustfft::{Fft, FftPlanner};

/// The frame the detector looks at: 20 ms at 16 kHz.
pub const FRAME: usize = 320;
/// FFT length: the frame zero-padded (31.25 Hz bins).
const N_FFT: usize = 512;
/// Bins below this (≈ 94 Hz: DC and mains hum) are left out.
const FIRST_BIN: usize = 3;
/// Similarity of consecutive spectra that only a held tone keeps.
const SIMILAR: f32 = 0.9995;
/// Consecutive similar pairs that make a tone.
const CONFIRM_PAIRS: u32 = 4;
/// Frames quieter than this are not looked at (and end a tone).
const MIN_DBFS: f32 = -45.0;

/// Follows one stream's frames; says which are a held tone.
pub struct ToneDetector {
    fft: Arc<dyn Fft<f32>>,
    window: [f32; FRAME],
    buf: Vec<Complex32>,
    scratch: Vec<Complex32>,
    prev: Vec<f32>,
    cur: Vec<f32>,
    have_prev: bool,
    /// Consecutive similar pairs up to the last frame.
    run: u32,
}

impl std::fmt::Debug for ToneDetector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ToneDetector")
            .field("run", &self.run)
            .finish()
    }
}

impl Default for ToneDetector {
    fn default() -> Self {
        Self::new()
    }
}

impl ToneDetector {
    pub fn new() -> Self {
        let fft = FftPlanner::<f32>::new().plan_fft_forward(N_FFT);
        let scratch = vec![Complex32::default(); fft.get_inplace_scratch_len()];
        let mut window = [0f32; FRAME];
        for (i, w) in window.iter_mut().enumerate() {
            // Symmetric Hann.
            *w = 0.5 - 0.5 * (2.0 * std::f32::consts::PI * i as f32 / (FRAME - 1) as f32).cos();
        }
        Self {
            fft,
            window,
            buf: vec![Complex32::default(); N_FFT],
            scratch,
            prev: vec![0.0; N_FFT / 2 + 1],
            cur: vec![0.0; N_FFT / 2 + 1],
            have_prev: false,
            run: 0,
        }
    }

    /// Feeds the next [`FRAME`] samples; returns how many frames became known as a tone:
    /// 0 (not a tone), the whole run so far when the tone is recognised with this frame
    /// (`CONFIRM_PAIRS + 1`), then 1 for each further frame of it.
    pub fn push(&mut self, frame: &[i16]) -> u32 {
        debug_assert_eq!(frame.len(), FRAME);
        if super::vad::dbfs(frame) < MIN_DBFS {
            self.have_prev = false;
            self.run = 0;
            return 0;
        }
        for (i, b) in self.buf.iter_mut().enumerate() {
            let x = frame.get(i).map_or(0.0, |&s| f32::from(s) * self.window[i]);
            *b = Complex32::new(x, 0.0);
        }
        self.fft
            .process_with_scratch(&mut self.buf, &mut self.scratch);
        for (k, (c, b)) in self.cur.iter_mut().zip(&self.buf).enumerate() {
            *c = if k < FIRST_BIN { 0.0 } else { b.norm_sqr() };
        }
        let similar = self.have_prev && similarity(&self.prev, &self.cur) >= SIMILAR;
        std::mem::swap(&mut self.prev, &mut self.cur);
        self.have_prev = true;
        if !similar {
            self.run = 0;
            return 0;
        }
        self.run += 1;
        match self.run.cmp(&CONFIRM_PAIRS) {
            std::cmp::Ordering::Less => 0,
            std::cmp::Ordering::Equal => CONFIRM_PAIRS + 1,
            std::cmp::Ordering::Greater => 1,
        }
    }
}

/// Bhattacharyya coefficient of two power spectra: 1 for the same shape, whatever the level.
fn similarity(a: &[f32], b: &[f32]) -> f32 {
    let (mut cross, mut ea, mut eb) = (0f64, 0f64, 0f64);
    for (&x, &y) in a.iter().zip(b) {
        cross += (f64::from(x) * f64::from(y)).sqrt();
        ea += f64::from(x);
        eb += f64::from(y);
    }
    if ea <= 0.0 || eb <= 0.0 {
        return 0.0;
    }
    (cross / (ea * eb).sqrt()) as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(freqs: &[f32], dbfs: f32, ms: usize, noise_dbfs: Option<f32>) -> Vec<i16> {
        let amp = 32768.0 * 10f32.powf(dbfs / 20.0) / freqs.len() as f32;
        let mut seed = 0x2545_f491_u32;
        (0..16 * ms)
            .map(|i| {
                let t = i as f32 / 16_000.0;
                let mut v: f32 = freqs
                    .iter()
                    .map(|f| (2.0 * std::f32::consts::PI * f * t).sin() * amp)
                    .sum();
                if let Some(n) = noise_dbfs {
                    // Uniform noise at that RMS level (xorshift: a fixed, repeatable hiss).
                    seed ^= seed << 13;
                    seed ^= seed >> 17;
                    seed ^= seed << 5;
                    let u = seed as f32 / u32::MAX as f32 - 0.5;
                    v += u * 32768.0 * 10f32.powf(n / 20.0) * 12f32.sqrt();
                }
                v.round().clamp(-32768.0, 32767.0) as i16
            })
            .collect()
    }

    fn decisions(audio: &[i16]) -> Vec<u32> {
        let mut d = ToneDetector::new();
        audio.chunks_exact(FRAME).map(|f| d.push(f)).collect()
    }

    #[test]
    fn a_held_tone_is_recognised_after_five_frames_and_counted_whole() {
        for freqs in [
            &[450.0][..],
            &[700.0],
            &[1000.0],
            &[697.0, 1209.0],
            &[941.0, 1633.0],
        ] {
            let got = decisions(&sine(freqs, -12.0, 1000, Some(-55.0)));
            assert_eq!(&got[..5], &[0, 0, 0, 0, 5], "{freqs:?}");
            assert!(got[5..].iter().all(|&n| n == 1), "{freqs:?}: {got:?}");
        }
    }

    #[test]
    fn a_pause_ends_the_tone_and_the_next_one_is_recognised_again() {
        let mut audio = sine(&[450.0], -15.0, 400, None);
        audio.extend(std::iter::repeat_n(0i16, 16 * 200));
        audio.extend(sine(&[450.0], -15.0, 400, None));
        let got = decisions(&audio);
        let total: u32 = got.iter().sum();
        // Each burst is 20 frames, all of them tone; the pause none.
        assert_eq!(total, 40, "{got:?}");
        assert!(got[20..30].iter().all(|&n| n == 0));
    }

    #[test]
    fn a_voice_like_sweep_and_quiet_frames_are_not_tones() {
        // A glide (a voice's pitch moves, 200 → 260 Hz over 300 ms) with harmonics.
        let audio: Vec<i16> = (0..16 * 300)
            .map(|i| {
                let t = i as f32 / 16_000.0;
                let phase = 2.0 * std::f32::consts::PI * (200.0 * t + 100.0 * t * t);
                ((phase.sin() + 0.5 * (2.0 * phase).sin() + 0.25 * (3.0 * phase).sin()) * 6000.0)
                    as i16
            })
            .collect();
        assert!(decisions(&audio).iter().all(|&n| n == 0));
        // A tone below the floor is not looked at.
        assert!(decisions(&sine(&[450.0], -60.0, 300, None))
            .iter()
            .all(|&n| n == 0));
    }
}
