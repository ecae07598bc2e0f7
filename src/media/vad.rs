//! Voice activity on the 16 kHz analysis stream: webrtc-vad decisions (mode and frame size
//! configurable) and the [`Segmenter`], a sans-IO state machine that turns decisions into
//! speech-start (after `start_ms` of consecutive speech) and speech-end (after `end_ms` of
//! silence) events and cuts the 16 kHz speech segments the recogniser takes, with a pre-roll
//! so a segment holds the onset that preceded the decision.
//!
//! All buffers are sized when a call starts; a segment's own buffer is allocated when speech
//! starts (once per utterance, not per frame) and handed over whole at speech end.
//! Depends on nothing else in aicall.

use serde::Deserialize;

use super::ANALYSIS_RATE;

/// Decisions ignored at the start of a stream: webrtc-vad's noise estimate starts empty, so
/// the first frames of any stream read as speech (seen on line noise at -66 dBFS).
const WARMUP_MS: u32 = 100;

/// VAD settings (`[media.vad]`).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct VadConfig {
    /// webrtc-vad aggressiveness: 0 (quality) … 3 (very aggressive).
    pub mode: u8,
    /// webrtc-vad frame: 10, 20 or 30 ms.
    pub frame_ms: u32,
    /// Consecutive speech before speech-start is declared.
    pub start_ms: u32,
    /// Consecutive silence before speech-end is declared.
    pub end_ms: u32,
    /// Audio kept before the first speech frame of a segment.
    pub preroll_ms: u32,
    /// Silence kept after the last speech frame of a segment.
    pub tail_ms: u32,
    /// A segment is cut (speech-end, then a new start) at this length.
    pub max_segment_ms: u32,
    /// Frames quieter than this (RMS dBFS) are silence whatever webrtc-vad says: it reads
    /// steady line noise as speech once speech has adapted its model.
    pub min_dbfs: f32,
}

impl Default for VadConfig {
    fn default() -> Self {
        Self {
            mode: 2,
            frame_ms: 20,
            start_ms: 60,
            end_ms: 500,
            preroll_ms: 300,
            tail_ms: 200,
            max_segment_ms: 15_000,
            min_dbfs: -55.0,
        }
    }
}

/// Errors of VAD settings.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VadError {
    #[error("[media.vad] {key} = {value}: {expected}")]
    Invalid {
        key: &'static str,
        value: u32,
        expected: &'static str,
    },
}

impl VadConfig {
    pub fn validate(&self) -> Result<(), VadError> {
        let bad = |key, value, expected| {
            Err(VadError::Invalid {
                key,
                value,
                expected,
            })
        };
        if self.mode > 3 {
            return bad("mode", self.mode as u32, "0, 1, 2 or 3");
        }
        if ![10, 20, 30].contains(&self.frame_ms) {
            return bad("frame_ms", self.frame_ms, "10, 20 or 30");
        }
        if self.start_ms < self.frame_ms || self.start_ms > 2000 {
            return bad("start_ms", self.start_ms, "between frame_ms and 2000");
        }
        if self.end_ms < self.frame_ms || self.end_ms > 10_000 {
            return bad("end_ms", self.end_ms, "between frame_ms and 10000");
        }
        if self.preroll_ms > 2000 || self.preroll_ms < self.start_ms {
            return bad("preroll_ms", self.preroll_ms, "between start_ms and 2000");
        }
        if self.tail_ms > self.end_ms {
            return bad("tail_ms", self.tail_ms, "at most end_ms");
        }
        if self.max_segment_ms < 1000 || self.max_segment_ms > 60_000 {
            return bad(
                "max_segment_ms",
                self.max_segment_ms,
                "between 1000 and 60000",
            );
        }
        if !(-100.0..=0.0).contains(&self.min_dbfs) {
            return Err(VadError::Invalid {
                key: "min_dbfs",
                value: self.min_dbfs.abs() as u32,
                expected: "between -100 and 0",
            });
        }
        Ok(())
    }
}

/// webrtc-vad over 16 kHz 20 ms frames, re-chunked to the configured VAD frame size.
pub struct WebRtcDetector {
    vad: webrtc_vad::Vad,
    frame: usize,
    fifo: [i16; 960],
    fill: usize,
}

impl std::fmt::Debug for WebRtcDetector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebRtcDetector")
            .field("frame", &self.frame)
            .finish()
    }
}

impl WebRtcDetector {
    /// A detector for validated settings.
    pub fn new(cfg: &VadConfig) -> Self {
        let mode = match cfg.mode {
            0 => webrtc_vad::VadMode::Quality,
            1 => webrtc_vad::VadMode::LowBitrate,
            2 => webrtc_vad::VadMode::Aggressive,
            _ => webrtc_vad::VadMode::VeryAggressive,
        };
        Self {
            vad: webrtc_vad::Vad::new_with_rate_and_mode(webrtc_vad::SampleRate::Rate16kHz, mode),
            frame: (ANALYSIS_RATE * cfg.frame_ms / 1000) as usize,
            fifo: [0; 960],
            fill: 0,
        }
    }

    /// Feeds 16 kHz audio; calls `decided(samples, voiced)` for each complete VAD frame.
    pub fn push(&mut self, audio: &[i16], mut decided: impl FnMut(&[i16], bool)) {
        let mut rest = audio;
        while !rest.is_empty() {
            let n = (self.frame - self.fill).min(rest.len());
            self.fifo[self.fill..self.fill + n].copy_from_slice(&rest[..n]);
            self.fill += n;
            rest = &rest[n..];
            if self.fill == self.frame {
                // The frame length is 10, 20 or 30 ms at 16 kHz, all valid for webrtc-vad, so
                // an error cannot happen; were it to, the frame counts as silence.
                let voiced = self
                    .vad
                    .is_voice_segment(&self.fifo[..self.frame])
                    .unwrap_or(false);
                decided(&self.fifo[..self.frame], voiced);
                self.fill = 0;
            }
        }
    }
}

/// Level of a frame in dBFS (RMS); -100 for digital silence.
pub fn dbfs(samples: &[i16]) -> f32 {
    if samples.is_empty() {
        return -100.0;
    }
    let sum: f64 = samples.iter().map(|&s| (s as f64) * (s as f64)).sum();
    let rms = (sum / samples.len() as f64).sqrt() / 32768.0;
    if rms <= 1e-5 {
        -100.0
    } else {
        (20.0 * rms.log10()) as f32
    }
}

/// Speech has started.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SpeechStart {
    /// First speech frame, in ms of the analysis timeline (since the stream's first frame).
    pub onset_ms: u64,
    /// When the start was declared (end of the `start_ms` run), same timeline.
    pub detected_ms: u64,
    /// Speech heard so far.
    pub voiced_ms: u32,
    /// Mean level of that speech.
    pub energy_dbfs: f32,
}

/// One utterance, ready for the recogniser.
#[derive(Clone, Debug, PartialEq)]
pub struct SpeechSegment {
    /// Timeline of `samples`' first and last sample (pre-roll and tail included).
    pub start_ms: u64,
    pub end_ms: u64,
    /// First and last speech frame.
    pub speech_start_ms: u64,
    pub speech_end_ms: u64,
    /// 16 kHz mono.
    pub samples: Vec<i16>,
    pub voiced_ms: u32,
    pub mean_dbfs: f32,
    pub peak_dbfs: f32,
    /// Cut at `max_segment_ms` rather than ended by silence.
    pub truncated: bool,
    /// Speech found in the segment by the second detector (Silero), when it runs.
    pub silero_speech_ms: Option<u32>,
    /// Of `voiced_ms`, the time that was a held tone ([`super::tone`]): a tone's first
    /// 100 ms pass for speech until it is recognised, then it is silence.
    pub tone_ms: u32,
}

impl SpeechSegment {
    pub fn duration_ms(&self) -> u64 {
        self.end_ms - self.start_ms
    }

    /// Mostly a tone (a beep, a ringback), not speech: nothing to recognise.
    pub fn is_tone(&self) -> bool {
        self.tone_ms > 0 && self.tone_ms * 2 >= self.voiced_ms
    }
}

/// What the segmenter reports.
#[derive(Clone, Debug, PartialEq)]
pub enum VadEvent {
    Start(SpeechStart),
    End(SpeechSegment),
}

/// Decisions to events and segments.
#[derive(Debug)]
pub struct Segmenter {
    frame_ms: u32,
    frame_len: usize,
    start_frames: u32,
    end_frames: u32,
    tail_frames: u32,
    max_samples: usize,
    min_dbfs: f32,
    /// Pre-roll ring of the most recent audio.
    ring: Vec<i16>,
    ring_pos: usize,
    ring_fill: usize,
    frames_seen: u64,
    state: State,
    voiced_frames: u64,
    unvoiced_frames: u64,
}

#[derive(Debug)]
enum State {
    Silence {
        run: u32,
        energy: f64,
    },
    Speech {
        seg: Vec<i16>,
        seg_start_frame: u64,
        first_voiced: u64,
        last_voiced: u64,
        silent_run: u32,
        voiced: u32,
        tone_ms: u32,
        energy: f64,
        peak: f32,
    },
}

impl Segmenter {
    /// A segmenter for validated settings.
    pub fn new(cfg: &VadConfig) -> Self {
        let frame_len = (ANALYSIS_RATE * cfg.frame_ms / 1000) as usize;
        let ring_len = (ANALYSIS_RATE * cfg.preroll_ms / 1000) as usize;
        Self {
            frame_ms: cfg.frame_ms,
            frame_len,
            start_frames: cfg.start_ms.div_ceil(cfg.frame_ms),
            end_frames: cfg.end_ms.div_ceil(cfg.frame_ms),
            tail_frames: cfg.tail_ms / cfg.frame_ms,
            max_samples: (ANALYSIS_RATE as u64 * cfg.max_segment_ms as u64 / 1000) as usize,
            min_dbfs: cfg.min_dbfs,
            ring: vec![0; ring_len.max(frame_len)],
            ring_pos: 0,
            ring_fill: 0,
            frames_seen: 0,
            state: State::Silence {
                run: 0,
                energy: 0.0,
            },
            voiced_frames: 0,
            unvoiced_frames: 0,
        }
    }

    fn ms(&self, frame: u64) -> u64 {
        frame * self.frame_ms as u64
    }

    fn ring_push(&mut self, frame: &[i16]) {
        for &s in frame {
            self.ring[self.ring_pos] = s;
            self.ring_pos = (self.ring_pos + 1) % self.ring.len();
        }
        self.ring_fill = (self.ring_fill + frame.len()).min(self.ring.len());
    }

    /// Oldest-first copy of the pre-roll ring into `out`.
    fn ring_drain_into(&mut self, out: &mut Vec<i16>) {
        let len = self.ring.len();
        let start = (self.ring_pos + len - self.ring_fill) % len;
        for k in 0..self.ring_fill {
            out.push(self.ring[(start + k) % len]);
        }
        self.ring_fill = 0;
    }

    /// Decisions so far: (speech frames, non-speech frames).
    pub fn decisions(&self) -> (u64, u64) {
        (self.voiced_frames, self.unvoiced_frames)
    }

    /// True between a start and its end.
    pub fn in_speech(&self) -> bool {
        matches!(self.state, State::Speech { .. })
    }

    /// Feeds one VAD frame and its decision; returns an event when one happens.
    pub fn push(&mut self, frame: &[i16], voiced: bool) -> Option<VadEvent> {
        let idx = self.frames_seen;
        self.frames_seen += 1;
        let level = dbfs(frame);
        let voiced = voiced && idx >= (WARMUP_MS / self.frame_ms) as u64 && level >= self.min_dbfs;
        if voiced {
            self.voiced_frames += 1;
        } else {
            self.unvoiced_frames += 1;
        }
        let power = 10f64.powf(level as f64 / 10.0);
        match &mut self.state {
            State::Silence { run, energy } => {
                if voiced {
                    *run += 1;
                    *energy += power;
                } else {
                    *run = 0;
                    *energy = 0.0;
                }
                let (run, energy) = (*run, *energy);
                self.ring_push(frame);
                if run < self.start_frames {
                    return None;
                }
                let first_voiced = idx + 1 - run as u64;
                let mut seg = Vec::with_capacity(self.max_samples.min(ANALYSIS_RATE as usize * 4));
                let held = self.ring_fill as u64 / self.frame_len as u64;
                self.ring_drain_into(&mut seg);
                let seg_start_frame = idx + 1 - held;
                let energy_dbfs = (10.0 * (energy / run as f64).max(1e-10).log10()) as f32;
                self.state = State::Speech {
                    seg,
                    seg_start_frame,
                    first_voiced,
                    last_voiced: idx,
                    silent_run: 0,
                    voiced: run,
                    tone_ms: 0,
                    energy,
                    peak: level,
                };
                Some(VadEvent::Start(SpeechStart {
                    onset_ms: self.ms(first_voiced),
                    detected_ms: self.ms(idx + 1),
                    voiced_ms: run * self.frame_ms,
                    energy_dbfs,
                }))
            }
            State::Speech {
                seg,
                silent_run,
                last_voiced,
                voiced: n_voiced,
                energy,
                peak,
                ..
            } => {
                seg.extend_from_slice(frame);
                if voiced {
                    *silent_run = 0;
                    *last_voiced = idx;
                    *n_voiced += 1;
                    *energy += power;
                    *peak = peak.max(level);
                } else {
                    *silent_run += 1;
                }
                let ended = *silent_run >= self.end_frames;
                let full = seg.len() + self.frame_len > self.max_samples;
                if ended || full {
                    Some(VadEvent::End(self.finish(idx, full && !ended)))
                } else {
                    None
                }
            }
        }
    }

    /// Ends the current segment at frame `idx` (inclusive).
    fn finish(&mut self, idx: u64, truncated: bool) -> SpeechSegment {
        let state = std::mem::replace(
            &mut self.state,
            State::Silence {
                run: 0,
                energy: 0.0,
            },
        );
        let State::Speech {
            mut seg,
            seg_start_frame,
            first_voiced,
            last_voiced,
            voiced,
            tone_ms,
            energy,
            peak,
            ..
        } = state
        else {
            // Only called from the Speech arm; nothing to finish otherwise.
            return SpeechSegment {
                start_ms: 0,
                end_ms: 0,
                speech_start_ms: 0,
                speech_end_ms: 0,
                samples: Vec::new(),
                voiced_ms: 0,
                mean_dbfs: -100.0,
                peak_dbfs: -100.0,
                truncated,
                silero_speech_ms: None,
                tone_ms: 0,
            };
        };
        // Keep `tail_ms` of silence after the last speech frame, drop the rest.
        let keep_until = (last_voiced + 1 + self.tail_frames as u64).min(idx + 1);
        let keep =
            (keep_until.saturating_sub(seg_start_frame) as usize * self.frame_len).min(seg.len());
        seg.truncate(keep);
        SpeechSegment {
            start_ms: self.ms(seg_start_frame),
            end_ms: self.ms(keep_until),
            speech_start_ms: self.ms(first_voiced),
            speech_end_ms: self.ms(last_voiced + 1),
            samples: seg,
            voiced_ms: voiced * self.frame_ms,
            mean_dbfs: (10.0 * (energy / voiced.max(1) as f64).max(1e-10).log10()) as f32,
            peak_dbfs: peak,
            truncated,
            silero_speech_ms: None,
            tone_ms: tone_ms.min(voiced * self.frame_ms),
        }
    }

    /// The last `ms` of audio were a tone (recognised late, [`super::tone`]): counted
    /// against the open segment's speech.
    pub fn note_tone(&mut self, ms: u32) {
        if let State::Speech { tone_ms, .. } = &mut self.state {
            *tone_ms += ms;
        }
    }

    /// Ends an open segment (stream over): its speech is not lost.
    pub fn flush(&mut self) -> Option<SpeechSegment> {
        if !self.in_speech() {
            return None;
        }
        let idx = self.frames_seen.saturating_sub(1);
        Some(self.finish(idx, false))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> VadConfig {
        VadConfig::default()
    }

    #[test]
    fn start_after_start_ms_end_after_end_ms_with_preroll_and_tail() {
        let c = cfg();
        let mut s = Segmenter::new(&c);
        let frame = [1000i16; 320];
        let quiet = [0i16; 320];
        let mut events = Vec::new();
        // 1 s silence, 1 s speech, 1 s silence.
        for k in 0..150 {
            let voiced = (50..100).contains(&k);
            let f = if voiced { &frame } else { &quiet };
            if let Some(e) = s.push(f, voiced) {
                events.push((k, e));
            }
        }
        assert_eq!(events.len(), 2, "{events:?}");
        let (k, VadEvent::Start(st)) = &events[0] else {
            panic!("first event is a start: {events:?}")
        };
        assert_eq!(*k, 52, "declared on the third speech frame");
        assert_eq!(
            (st.onset_ms, st.detected_ms, st.voiced_ms),
            (1000, 1060, 60)
        );
        assert!((st.energy_dbfs - dbfs(&frame)).abs() < 0.01);
        let (k, VadEvent::End(seg)) = &events[1] else {
            panic!("second event is an end: {events:?}")
        };
        assert_eq!(*k, 124, "declared after 500 ms of silence");
        assert_eq!((seg.speech_start_ms, seg.speech_end_ms), (1000, 2000));
        assert_eq!(seg.start_ms, 1060 - 300, "300 ms pre-roll");
        assert_eq!(seg.end_ms, 2200, "200 ms tail");
        assert_eq!(seg.samples.len() as u64, (seg.end_ms - seg.start_ms) * 16);
        assert_eq!(seg.voiced_ms, 1000);
        assert!(!seg.truncated);
        assert_eq!(s.decisions(), (50, 100));
    }

    #[test]
    fn short_blips_do_not_start_and_long_speech_is_cut() {
        let c = VadConfig {
            max_segment_ms: 1000,
            ..cfg()
        };
        let mut s = Segmenter::new(&c);
        let frame = [800i16; 320];
        for k in 0..20 {
            // 40 ms blips.
            assert_eq!(s.push(&frame, k % 3 != 2), None);
        }
        let mut ends = 0;
        for _ in 0..200 {
            if let Some(VadEvent::End(seg)) = s.push(&frame, true) {
                assert!(seg.truncated);
                assert!(seg.samples.len() <= 16_000);
                ends += 1;
            }
        }
        assert!(ends >= 3, "{ends}");
        assert!(s.flush().is_some());
        assert!(s.flush().is_none());
    }

    #[test]
    fn settings_are_checked() {
        assert!(cfg().validate().is_ok());
        let bad = VadConfig {
            frame_ms: 25,
            ..cfg()
        };
        assert!(bad
            .validate()
            .expect_err("25 ms frames")
            .to_string()
            .contains("frame_ms"));
        let bad = VadConfig { mode: 4, ..cfg() };
        assert!(bad.validate().is_err());
    }

    #[test]
    fn webrtc_detector_rechunks_and_hears_a_voice_like_signal() {
        let c = VadConfig {
            frame_ms: 30,
            ..cfg()
        };
        let mut d = WebRtcDetector::new(&c);
        let mut decisions = Vec::new();
        // Digital silence then a harmonic-rich 150 Hz buzz, in 20 ms pieces.
        for f in 0..100 {
            let frame: Vec<i16> = (0..320)
                .map(|i| {
                    if f < 50 {
                        return 0;
                    }
                    let t = (f * 320 + i) as f32 / 16000.0;
                    (1..12)
                        .map(|h| {
                            3000.0 / h as f32
                                * (2.0 * std::f32::consts::PI * 150.0 * h as f32 * t).sin()
                        })
                        .sum::<f32>() as i16
                })
                .collect();
            d.push(&frame, |samples, voiced| {
                assert_eq!(samples.len(), 480);
                decisions.push(voiced);
            });
        }
        assert_eq!(decisions.len(), 100 * 320 / 480);
        assert!(!decisions[..30].iter().any(|&v| v), "silence is not speech");
        let later = &decisions[40..];
        assert!(
            later.iter().filter(|&&v| v).count() > later.len() / 2,
            "{decisions:?}"
        );
    }

    proptest::proptest! {
        #[test]
        fn events_alternate_and_segments_are_consistent(
            decisions in proptest::collection::vec(proptest::bool::ANY, 0..600),
            level in 0i16..4000,
        ) {
            let mut s = Segmenter::new(&cfg());
            let frame = [level; 320];
            let mut open = false;
            let check = |e: VadEvent, open: &mut bool| -> Result<(), proptest::test_runner::TestCaseError> {
                match e {
                    VadEvent::Start(st) => {
                        proptest::prop_assert!(!*open);
                        proptest::prop_assert!(st.onset_ms < st.detected_ms);
                        *open = true;
                    }
                    VadEvent::End(seg) => {
                        proptest::prop_assert!(*open);
                        proptest::prop_assert!(seg.start_ms <= seg.speech_start_ms);
                        proptest::prop_assert!(seg.speech_start_ms < seg.speech_end_ms);
                        proptest::prop_assert!(seg.speech_end_ms <= seg.end_ms);
                        proptest::prop_assert_eq!(seg.samples.len() as u64, (seg.end_ms - seg.start_ms) * 16);
                        *open = false;
                    }
                }
                Ok(())
            };
            for &d in &decisions {
                if let Some(e) = s.push(&frame, d) {
                    check(e, &mut open)?;
                }
            }
            if let Some(seg) = s.flush() {
                check(VadEvent::End(seg), &mut open)?;
            }
            proptest::prop_assert!(!open);
        }
    }
}
