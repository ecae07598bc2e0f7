//! The analysis path — callee audio → 16 kHz (rubato) → webrtc-vad → segmenter → (Silero
//! second opinion on each segment) — and the bounded pool of blocking threads it runs on.
//!
//! Why threads and not the call's tokio task: webrtc-vad's detector is a C object that is not
//! `Send`, and VAD/Silero (and later ASR) are CPU work that must never stall the reactor that
//! paces every call's prompt frames. Each call is pinned to one of N worker threads (N
//! bounded, default one per core); the worker owns the call's [`Analyzer`] for its lifetime.
//! Frames travel by value in bounded queues (no allocation per frame), sized for seconds of
//! every call's audio so that a busy machine delays analysis rather than losing speech; only
//! beyond that is a frame dropped for analysis (counted) — the reactor never blocks.
//!
//! Speech goes two ways. Every start and every finished utterance goes to the call's driver
//! on an unbounded channel: an utterance is the one event a conversation cannot lose, and at
//! a few per second per call it cannot pile up. Starts also go to the call's media task on a
//! bounded channel, for barge-in (a start it had no room for delays a barge-in; it is
//! counted). Utterances are counted here as heard; the driver counts them as delivered.
//!
//! Depends on [`super::resample`], [`super::vad`], [`super::silero`] and the metrics.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tracing::warn;

use super::metrics::MediaMetrics;
use super::resample::{ResampleError, ToAnalysisRate};
use super::silero::SecondDetector;
use super::tone::{ToneDetector, FRAME as TONE_FRAME};
use super::vad::{Segmenter, VadConfig, VadEvent, WebRtcDetector};
use super::{ANALYSIS_RATE, MAX_FRAME_SAMPLES};

/// Frames queued per worker before analysis drops them: about 3 s of 100 calls per worker.
const WORKER_QUEUE: usize = 16_384;
/// How often a worker forgets calls whose task is gone without saying so.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// What the analysis reports to a call, with the arrival time of the frame that caused it.
#[derive(Debug)]
pub struct Analysed {
    pub event: VadEvent,
    /// Arrival of the frame that completed the decision.
    pub frame_arrived: Instant,
    /// Arrival of the first speech frame (for a start: the onset as aicall saw it).
    pub onset_arrived: Option<Instant>,
}

/// One call's analysis state; lives on a worker thread.
#[derive(Debug)]
pub struct Analyzer {
    resampler: ToAnalysisRate,
    detector: WebRtcDetector,
    tone: ToneDetector,
    segmenter: Segmenter,
    frame16: [i16; 320],
    delay_ms: u64,
    frames: u64,
    /// Arrival instants of the last second of frames, to map an onset frame to its arrival.
    arrivals: [Option<Instant>; 64],
}

impl Analyzer {
    /// Analysis for a `rate` Hz channel with validated VAD settings.
    pub fn new(rate: u32, cfg: &VadConfig) -> Result<Self, ResampleError> {
        let resampler = ToAnalysisRate::new(rate)?;
        let delay_ms = resampler.delay_samples() as u64 * 1000 / ANALYSIS_RATE as u64;
        Ok(Self {
            resampler,
            detector: WebRtcDetector::new(cfg),
            tone: ToneDetector::new(),
            segmenter: Segmenter::new(cfg),
            frame16: [0; 320],
            delay_ms,
            frames: 0,
            arrivals: [None; 64],
        })
    }

    /// Analyses one channel frame that arrived at `arrived`; `emit` receives events.
    pub fn push(
        &mut self,
        frame: &[i16],
        arrived: Instant,
        mut emit: impl FnMut(Analysed),
    ) -> Result<(), ResampleError> {
        self.arrivals[(self.frames % 64) as usize] = Some(arrived);
        self.frames += 1;
        self.resampler.process(frame, &mut self.frame16)?;
        // A held tone is not speech: from when it is recognised its frames are silence, and
        // the frames of it the segment already took are counted as tone.
        const _: () = assert!(TONE_FRAME == 320);
        let tone_frames = self.tone.push(&self.frame16);
        if tone_frames > 1 {
            self.segmenter.note_tone((tone_frames - 1) * 20);
        }
        let in_tone = tone_frames > 0;
        let (seg, delay_ms, arrivals, frames) = (
            &mut self.segmenter,
            self.delay_ms,
            &self.arrivals,
            self.frames,
        );
        self.detector.push(&self.frame16, |samples, voiced| {
            if let Some(mut event) = seg.push(samples, voiced && !in_tone) {
                let mut onset_arrived = None;
                match &mut event {
                    VadEvent::Start(s) => {
                        s.onset_ms = s.onset_ms.saturating_sub(delay_ms);
                        s.detected_ms = s.detected_ms.saturating_sub(delay_ms);
                        // The channel frame holding the onset: 20 ms channel frames.
                        let onset_frame = (s.onset_ms + delay_ms) / 20;
                        if onset_frame < frames && frames - onset_frame <= 64 {
                            onset_arrived = arrivals[(onset_frame % 64) as usize];
                        }
                    }
                    VadEvent::End(e) => {
                        for t in [
                            &mut e.start_ms,
                            &mut e.end_ms,
                            &mut e.speech_start_ms,
                            &mut e.speech_end_ms,
                        ] {
                            *t = t.saturating_sub(delay_ms);
                        }
                    }
                }
                emit(Analysed {
                    event,
                    frame_arrived: arrived,
                    onset_arrived,
                });
            }
        });
        Ok(())
    }

    /// Ends an open segment (the stream is over).
    pub fn flush(&mut self) -> Option<VadEvent> {
        self.segmenter.flush().map(|mut e| {
            for t in [
                &mut e.start_ms,
                &mut e.end_ms,
                &mut e.speech_start_ms,
                &mut e.speech_end_ms,
            ] {
                *t = t.saturating_sub(self.delay_ms);
            }
            VadEvent::End(e)
        })
    }

    /// (speech, non-speech) VAD decisions so far.
    pub fn decisions(&self) -> (u64, u64) {
        self.segmenter.decisions()
    }
}

// Frames travel by value so that no frame costs a heap allocation; the small variants are
// rare (once per call), so the wasted space is only in the queue's slots.
#[allow(clippy::large_enum_variant)]
enum Job {
    Open {
        key: u64,
        rate: u32,
        /// The call's own end-of-speech silence, replacing the pool's.
        end_ms: Option<u32>,
        out: mpsc::Sender<Analysed>,
        speech: mpsc::UnboundedSender<VadEvent>,
    },
    Frame {
        key: u64,
        samples: [i16; MAX_FRAME_SAMPLES],
        len: u16,
        arrived: Instant,
    },
    Close {
        key: u64,
    },
}

/// The pool of analysis threads.
#[derive(Debug)]
pub struct AnalysisPool {
    senders: Vec<SyncSender<Job>>,
    threads: Vec<JoinHandle<()>>,
    next_key: AtomicU64,
    metrics: Arc<MediaMetrics>,
}

/// A call's handle on its analyzer; dropping it closes the analyzer.
#[derive(Debug)]
pub struct AnalysisHandle {
    key: u64,
    tx: SyncSender<Job>,
    metrics: Arc<MediaMetrics>,
}

impl AnalysisPool {
    /// Starts `workers` threads (at least one).
    pub fn start(
        workers: usize,
        cfg: VadConfig,
        second: Option<Arc<dyn SecondDetector>>,
        metrics: Arc<MediaMetrics>,
    ) -> std::io::Result<Self> {
        let mut senders = Vec::new();
        let mut threads = Vec::new();
        for i in 0..workers.max(1) {
            let (tx, rx) = sync_channel(WORKER_QUEUE);
            let cfg = cfg.clone();
            let metrics = metrics.clone();
            let second = second.clone();
            let t = std::thread::Builder::new()
                .name(format!("aicall-vad-{i}"))
                .spawn(move || worker(rx, cfg, second, metrics))?;
            senders.push(tx);
            threads.push(t);
        }
        Ok(Self {
            senders,
            threads,
            next_key: AtomicU64::new(1),
            metrics,
        })
    }

    /// Registers a call: speech starts (with arrival times, for barge-in) arrive on `out`,
    /// every start and finished utterance on `speech`.
    pub fn open(
        &self,
        rate: u32,
        end_ms: Option<u32>,
        out: mpsc::Sender<Analysed>,
        speech: mpsc::UnboundedSender<VadEvent>,
    ) -> AnalysisHandle {
        let key = self.next_key.fetch_add(1, Ordering::Relaxed);
        let tx = self.senders[(key as usize) % self.senders.len()].clone();
        // Opening must not be lost: a blocking send here waits at most for the worker to
        // take one job off its queue, and happens once per call, at set-up.
        let _ = tx.send(Job::Open {
            key,
            rate,
            end_ms,
            out,
            speech,
        });
        AnalysisHandle {
            key,
            tx,
            metrics: self.metrics.clone(),
        }
    }
}

impl Drop for AnalysisPool {
    fn drop(&mut self) {
        self.senders.clear();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl AnalysisHandle {
    /// Queues a frame for analysis; never blocks. False if it was dropped (queue full).
    pub fn push(&self, frame: &[i16], arrived: Instant) -> bool {
        let mut samples = [0i16; MAX_FRAME_SAMPLES];
        let len = frame.len().min(MAX_FRAME_SAMPLES);
        samples[..len].copy_from_slice(&frame[..len]);
        match self.tx.try_send(Job::Frame {
            key: self.key,
            samples,
            len: len as u16,
            arrived,
        }) {
            Ok(()) => true,
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                self.metrics
                    .analysis_dropped
                    .fetch_add(1, Ordering::Relaxed);
                false
            }
        }
    }
}

impl Drop for AnalysisHandle {
    fn drop(&mut self) {
        // If the queue is full the worker's sweep removes the analyzer once it sees the
        // call's event channel closed.
        let _ = self.tx.try_send(Job::Close { key: self.key });
    }
}

struct Slot {
    analyzer: Analyzer,
    out: mpsc::Sender<Analysed>,
    speech: mpsc::UnboundedSender<VadEvent>,
}

fn worker(
    rx: Receiver<Job>,
    cfg: VadConfig,
    second: Option<Arc<dyn SecondDetector>>,
    metrics: Arc<MediaMetrics>,
) {
    let mut calls: HashMap<u64, Slot> = HashMap::with_capacity(256);
    let mut last_sweep = Instant::now();
    let mut second_state = second.as_ref().and_then(|s| match s.instance() {
        Ok(i) => Some(i),
        Err(e) => {
            warn!(error = %e, "second VAD detector unavailable on this worker");
            None
        }
    });
    let deliver = |slot: &mut Slot,
                   mut a: Analysed,
                   second: &mut Option<Box<dyn super::silero::SecondInstance>>| {
        match &mut a.event {
            VadEvent::Start(start) => {
                metrics.speech_starts.fetch_add(1, Ordering::Relaxed);
                let _ = slot.speech.send(VadEvent::Start(*start));
                if slot.out.try_send(a).is_err() {
                    metrics.events_dropped.fetch_add(1, Ordering::Relaxed);
                }
            }
            VadEvent::End(seg) => {
                metrics.speech_segments.fetch_add(1, Ordering::Relaxed);
                if let Some(s) = second.as_mut() {
                    seg.silero_speech_ms = s.speech_ms(&seg.samples);
                }
                // The driver may have gone (the call ended): then nobody heard it.
                if slot.speech.send(a.event).is_ok() {
                    metrics.utterances_heard.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    };
    loop {
        let job = match rx.recv_timeout(SWEEP_EVERY) {
            Ok(job) => Some(job),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => None,
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
        };
        match job {
            None => {}
            Some(job) => match job {
                Job::Open {
                    key,
                    rate,
                    end_ms,
                    out,
                    speech,
                } => match Analyzer::new(
                    rate,
                    &VadConfig {
                        end_ms: end_ms.unwrap_or(cfg.end_ms),
                        ..cfg.clone()
                    },
                ) {
                    Ok(analyzer) => {
                        calls.insert(
                            key,
                            Slot {
                                analyzer,
                                out,
                                speech,
                            },
                        );
                    }
                    Err(e) => warn!(error = %e, "analysis not started for a call"),
                },
                Job::Frame {
                    key,
                    samples,
                    len,
                    arrived,
                } => {
                    let Some(slot) = calls.get_mut(&key) else {
                        continue;
                    };
                    let mut pending: [Option<Analysed>; 2] = [None, None];
                    let mut n = 0;
                    let r = slot.analyzer.push(&samples[..len as usize], arrived, |a| {
                        if n < pending.len() {
                            pending[n] = Some(a);
                            n += 1;
                        }
                    });
                    if let Err(e) = r {
                        warn!(error = %e, "analysis failed for a frame");
                    }
                    for a in pending.iter_mut().filter_map(Option::take) {
                        deliver(slot, a, &mut second_state);
                    }
                    metrics.frames_analysed.fetch_add(1, Ordering::Relaxed);
                }
                Job::Close { key } => {
                    if let Some(mut slot) = calls.remove(&key) {
                        record_decisions(&metrics, &slot.analyzer);
                        if let Some(ev) = slot.analyzer.flush() {
                            let a = Analysed {
                                event: ev,
                                frame_arrived: Instant::now(),
                                onset_arrived: None,
                            };
                            deliver(&mut slot, a, &mut second_state);
                        }
                    }
                }
            },
        }
        if last_sweep.elapsed() >= SWEEP_EVERY {
            last_sweep = Instant::now();
            calls.retain(|_, s| {
                let keep = !s.out.is_closed();
                if !keep {
                    record_decisions(&metrics, &s.analyzer);
                }
                keep
            });
        }
    }
}

fn record_decisions(metrics: &MediaMetrics, a: &Analyzer) {
    let (v, u) = a.decisions();
    metrics.vad_speech_frames.fetch_add(v, Ordering::Relaxed);
    metrics.vad_silence_frames.fetch_add(u, Ordering::Relaxed);
}
