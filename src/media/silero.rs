//! The second voice detector: Silero VAD (`silero_vad.onnx` from the PyPI package
//! `silero-vad` 5.1.2) run by sherpa-onnx through `sherpa-rs`, on each finished speech
//! segment, off the reactor on the analysis workers. webrtc-vad stays the fast first detector
//! (it decides barge-in within a few frames); Silero gives the segment a second opinion —
//! how much of it a neural model calls speech — recorded on the segment
//! (`SpeechSegment::silero_speech_ms`). Nothing acts on it yet: it is off by default, and no
//! threshold for dropping noise and echo segments on it has been measured.
//!
//! sherpa-onnx is a C++ library that aborts the process on a corrupt model, so the model is
//! checked before it is handed over: it must exist, and its SHA-256 must be the pinned one
//! (`scripts/setup.d/10-media.sh` fetches exactly that file). The sherpa-rs binding is
//! behind the cargo feature `silero` (CI enables it after the set-up script); without it,
//! asking for Silero is a start-up error that says how to get it.
//!
//! Depends on nothing else in aicall.

use std::fmt::Debug;
use std::path::{Path, PathBuf};

/// SHA-256 of `silero_vad/data/silero_vad.onnx` in the PyPI wheel silero-vad 5.1.2.
pub const SILERO_SHA256: &str = "2623a2953f6ff3d2c1e61740c6cdb7168133479b267dfef114a4a3cc5bdd788f";

/// Samples per Silero model window at 16 kHz.
#[cfg(feature = "silero")]
const SILERO_WINDOW: usize = 512;

/// Errors of the second detector.
#[derive(Debug, thiserror::Error)]
pub enum SileroError {
    #[error(
        "Silero VAD model {path} is missing ({source}); run scripts/setup.d/10-media.sh or set \
         [media] silero_model"
    )]
    Missing {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "Silero VAD model {path} is not the expected file (sha256 {found}, want {want}); \
         delete it and run scripts/setup.d/10-media.sh again"
    )]
    Corrupt {
        path: PathBuf,
        found: String,
        want: String,
    },
    #[error(
        "this aicall was built without Silero VAD; build with `--features silero` after \
         scripts/setup.d/10-media.sh (it sets SHERPA_LIB_PATH), or unset [media] silero_model"
    )]
    NotBuilt,
    #[error("sherpa-onnx could not create the Silero VAD from {path}: {reason}")]
    Create { path: PathBuf, reason: String },
}

/// A factory of per-thread detector instances.
pub trait SecondDetector: Send + Sync + Debug {
    /// A detector for the calling worker thread.
    fn instance(&self) -> Result<Box<dyn SecondInstance>, SileroError>;
}

/// One thread's detector.
pub trait SecondInstance {
    /// Milliseconds of speech in a 16 kHz segment; `None` if the detector failed.
    fn speech_ms(&mut self, samples: &[i16]) -> Option<u32>;
}

/// Checks the model file against the pinned checksum.
pub fn verify_model(path: &Path) -> Result<(), SileroError> {
    let bytes = std::fs::read(path).map_err(|source| SileroError::Missing {
        path: path.to_owned(),
        source,
    })?;
    let found = sha256_hex(&bytes);
    if found != SILERO_SHA256 {
        return Err(SileroError::Corrupt {
            path: path.to_owned(),
            found,
            want: SILERO_SHA256.into(),
        });
    }
    Ok(())
}

/// Silero VAD settings for the detector.
#[derive(Clone, Debug)]
pub struct Silero {
    model: PathBuf,
    threshold: f32,
}

impl Silero {
    /// Checks the model and returns the factory (fails if the feature is not built in).
    pub fn load(model: &Path, threshold: f32) -> Result<Self, SileroError> {
        verify_model(model)?;
        if !cfg!(feature = "silero") {
            return Err(SileroError::NotBuilt);
        }
        Ok(Self {
            model: model.to_owned(),
            threshold,
        })
    }
}

impl SecondDetector for Silero {
    #[cfg(feature = "silero")]
    fn instance(&self) -> Result<Box<dyn SecondInstance>, SileroError> {
        let cfg = sherpa_rs::silero_vad::SileroVadConfig {
            model: self.model.display().to_string(),
            threshold: self.threshold,
            min_silence_duration: 0.1,
            min_speech_duration: 0.1,
            max_speech_duration: 30.0,
            sample_rate: 16_000,
            window_size: SILERO_WINDOW as i32,
            ..Default::default()
        };
        let vad =
            sherpa_rs::silero_vad::SileroVad::new(cfg, 60.0).map_err(|e| SileroError::Create {
                path: self.model.clone(),
                reason: e.to_string(),
            })?;
        Ok(Box::new(SherpaSilero { vad }))
    }

    #[cfg(not(feature = "silero"))]
    fn instance(&self) -> Result<Box<dyn SecondInstance>, SileroError> {
        let _ = (&self.model, self.threshold);
        Err(SileroError::NotBuilt)
    }
}

#[cfg(feature = "silero")]
struct SherpaSilero {
    vad: sherpa_rs::silero_vad::SileroVad,
}

#[cfg(feature = "silero")]
impl SecondInstance for SherpaSilero {
    fn speech_ms(&mut self, samples: &[i16]) -> Option<u32> {
        self.vad.clear();
        let mut speech = 0usize;
        // One model window at a time, draining finished segments as they come: sherpa-onnx
        // keeps only the last segment of a single large call. sherpa-rs takes each window by
        // value, so this allocates per 32 ms window — on the worker, once per segment.
        for window in samples.chunks(SILERO_WINDOW) {
            self.vad
                .accept_waveform(window.iter().map(|&s| s as f32 / 32768.0).collect());
            while !self.vad.is_empty() {
                speech += self.vad.front().samples.len();
                self.vad.pop();
            }
        }
        self.vad.flush();
        while !self.vad.is_empty() {
            speech += self.vad.front().samples.len();
            self.vad.pop();
        }
        Some((speech as u64 * 1000 / 16_000) as u32)
    }
}

/// SHA-256 (FIPS 180-4), enough to pin a model file without another dependency.
fn sha256_hex(data: &[u8]) -> String {
    const K: [u32; 64] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
        0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
        0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
        0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
        0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
        0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
        0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
        0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
        0xc67178f2,
    ];
    let mut h: [u32; 8] = [
        0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab,
        0x5be0cd19,
    ];
    let mut msg = data.to_vec();
    let bits = (data.len() as u64).wrapping_mul(8);
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&bits.to_be_bytes());
    for block in msg.chunks_exact(64) {
        let mut w = [0u32; 64];
        for (i, word) in block.chunks_exact(4).enumerate() {
            w[i] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        }
        for i in 16..64 {
            let s0 = w[i - 15].rotate_right(7) ^ w[i - 15].rotate_right(18) ^ (w[i - 15] >> 3);
            let s1 = w[i - 2].rotate_right(17) ^ w[i - 2].rotate_right(19) ^ (w[i - 2] >> 10);
            w[i] = w[i - 16]
                .wrapping_add(s0)
                .wrapping_add(w[i - 7])
                .wrapping_add(s1);
        }
        let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut hh] = h;
        for i in 0..64 {
            let s1 = e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25);
            let ch = (e & f) ^ (!e & g);
            let t1 = hh
                .wrapping_add(s1)
                .wrapping_add(ch)
                .wrapping_add(K[i])
                .wrapping_add(w[i]);
            let s0 = a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22);
            let maj = (a & b) ^ (a & c) ^ (b & c);
            let t2 = s0.wrapping_add(maj);
            hh = g;
            g = f;
            f = e;
            e = d.wrapping_add(t1);
            d = c;
            c = b;
            b = a;
            a = t1.wrapping_add(t2);
        }
        for (x, y) in h.iter_mut().zip([a, b, c, d, e, f, g, hh]) {
            *x = x.wrapping_add(y);
        }
    }
    h.iter().map(|x| format!("{x:08x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_known_answers() {
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let long = vec![b'a'; 1000];
        assert_eq!(
            sha256_hex(&long),
            "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3"
        );
    }

    #[test]
    fn missing_and_corrupt_models_are_clear_errors() {
        let dir = tempfile::tempdir().expect("temp dir");
        let missing = dir.path().join("silero_vad.onnx");
        let err = Silero::load(&missing, 0.5).expect_err("missing");
        assert!(err.to_string().contains("10-media.sh"), "{err}");
        std::fs::write(&missing, b"not a model").expect("write");
        let err = Silero::load(&missing, 0.5).expect_err("corrupt");
        assert!(matches!(err, SileroError::Corrupt { .. }), "{err}");
    }
}
