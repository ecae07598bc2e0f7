//! Realtime conversion of the callee's audio to the analysis rate (16 kHz, what webrtc-vad,
//! Silero and the recogniser take): rubato's synchronous FFT resampler driven through its
//! realtime API, one 20 ms channel frame in, one 20 ms analysis frame out, with every buffer
//! owned here and sized at call set-up — nothing is allocated per frame. 16 kHz channels pass
//! through untouched.
//!
//! Depends on nothing else in aicall.

use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Resampler};

use super::ANALYSIS_RATE;

/// Errors setting up or running the analysis resampler.
#[derive(Debug, thiserror::Error)]
pub enum ResampleError {
    #[error(
        "channel rate {rate} Hz is not supported for analysis (FreeSWITCH L16 at 8000 or 16000 \
         Hz); check the channel's codec"
    )]
    UnsupportedRate { rate: u32 },
    #[error("resampler: {0}")]
    Rubato(String),
}

/// Channel-rate frames to 16 kHz frames.
pub struct ToAnalysisRate {
    inner: Option<Up>,
    in_len: usize,
}

struct Up {
    rs: Fft<f32>,
    input: Vec<f32>,
    output: Vec<f32>,
    delay: usize,
}

impl std::fmt::Debug for ToAnalysisRate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ToAnalysisRate")
            .field("in_len", &self.in_len)
            .field("resampling", &self.inner.is_some())
            .finish()
    }
}

impl ToAnalysisRate {
    /// A converter for 20 ms frames of a `rate` Hz channel.
    pub fn new(rate: u32) -> Result<Self, ResampleError> {
        match rate {
            ANALYSIS_RATE => Ok(Self {
                inner: None,
                in_len: 320,
            }),
            8000 => {
                let rs = Fft::<f32>::new(8000, ANALYSIS_RATE as usize, 160, 1, FixedSync::Both)
                    .map_err(|e| ResampleError::Rubato(e.to_string()))?;
                if rs.input_frames_next() != 160 || rs.output_frames_next() != 320 {
                    return Err(ResampleError::Rubato(format!(
                        "unexpected chunk sizes {}→{}",
                        rs.input_frames_next(),
                        rs.output_frames_next()
                    )));
                }
                let delay = rs.output_delay();
                Ok(Self {
                    inner: Some(Up {
                        input: vec![0.0; 160],
                        output: vec![0.0; rs.output_frames_max()],
                        rs,
                        delay,
                    }),
                    in_len: 160,
                })
            }
            other => Err(ResampleError::UnsupportedRate { rate: other }),
        }
    }

    /// Samples per input frame.
    pub fn input_len(&self) -> usize {
        self.in_len
    }

    /// Delay the conversion adds, in 16 kHz samples (subtracted from reported times).
    pub fn delay_samples(&self) -> usize {
        self.inner.as_ref().map_or(0, |u| u.delay)
    }

    /// Converts one channel frame into one 320-sample analysis frame.
    pub fn process(&mut self, frame: &[i16], out: &mut [i16; 320]) -> Result<(), ResampleError> {
        let Some(up) = &mut self.inner else {
            let n = frame.len().min(320);
            out[..n].copy_from_slice(&frame[..n]);
            out[n..].fill(0);
            return Ok(());
        };
        for (d, &s) in up.input.iter_mut().zip(frame) {
            *d = s as f32 / 32768.0;
        }
        if frame.len() < up.input.len() {
            up.input[frame.len()..].fill(0.0);
        }
        let input = InterleavedSlice::new(&up.input[..], 1, 160)
            .map_err(|e| ResampleError::Rubato(e.to_string()))?;
        let frames = up.output.len();
        let mut output = InterleavedSlice::new_mut(&mut up.output[..], 1, frames)
            .map_err(|e| ResampleError::Rubato(e.to_string()))?;
        let (_, written) = up
            .rs
            .process_into_buffer(&input, &mut output, None)
            .map_err(|e| ResampleError::Rubato(e.to_string()))?;
        for (d, &s) in out.iter_mut().zip(&up.output[..written.min(320)]) {
            *d = (s * 32768.0).round().clamp(-32768.0, 32767.0) as i16;
        }
        if written < 320 {
            out[written..].fill(0);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upsamples_8k_frames_to_16k_keeping_a_tone() {
        let mut rs = ToAnalysisRate::new(8000).expect("8 kHz supported");
        let mut out = [0i16; 320];
        let mut all = Vec::new();
        for f in 0..50 {
            let frame: Vec<i16> = (0..160)
                .map(|i| {
                    let t = (f * 160 + i) as f32 / 8000.0;
                    (8000.0 * (2.0 * std::f32::consts::PI * 500.0 * t).sin()) as i16
                })
                .collect();
            rs.process(&frame, &mut out).expect("resampled");
            all.extend_from_slice(&out);
        }
        let d = rs.delay_samples();
        assert!(d < 400, "delay {d}");
        // Past the delay, output sample k is the tone at time (k - delay) / 16 kHz.
        for k in [4000usize, 9000, 15000] {
            let t = (k - d) as f32 / 16000.0;
            let want = 8000.0 * (2.0 * std::f32::consts::PI * 500.0 * t).sin();
            assert!(
                (all[k] as f32 - want).abs() < 300.0,
                "k {k}: {} vs {want}",
                all[k]
            );
        }
    }

    #[test]
    fn passes_16k_through_and_refuses_other_rates() {
        let mut rs = ToAnalysisRate::new(16000).expect("16 kHz");
        let frame: Vec<i16> = (0..320).map(|i| i as i16).collect();
        let mut out = [0i16; 320];
        rs.process(&frame, &mut out).expect("copied");
        assert_eq!(out[319], 319);
        assert!(matches!(
            ToAnalysisRate::new(44100),
            Err(ResampleError::UnsupportedRate { rate: 44100 })
        ));
    }
}
