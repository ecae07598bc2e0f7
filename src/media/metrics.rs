//! Media metrics: engine-wide counters (atomics, updated per frame without locks) and
//! latency histograms (fixed 0.1 ms buckets; each call keeps its own and merges it into the
//! engine's once, at call end, so the hot path touches no shared lock).
//!
//! Depends on nothing else in aicall.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// Bucket width.
const RESOLUTION_US: u64 = 100;
/// Buckets: 0 to 200 ms; later values land in the last bucket.
const BUCKETS: usize = 2000;

/// A latency histogram with 0.1 ms resolution up to 200 ms.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Histogram {
    counts: Vec<u32>,
    total: u64,
    max_us: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Self {
            counts: vec![0; BUCKETS],
            total: 0,
            max_us: 0,
        }
    }
}

impl Histogram {
    pub fn record(&mut self, d: Duration) {
        let us = d.as_micros().min(u64::MAX as u128) as u64;
        let idx = ((us / RESOLUTION_US) as usize).min(BUCKETS - 1);
        self.counts[idx] = self.counts[idx].saturating_add(1);
        self.total += 1;
        self.max_us = self.max_us.max(us);
    }

    pub fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a = a.saturating_add(*b);
        }
        self.total += other.total;
        self.max_us = self.max_us.max(other.max_us);
    }

    pub fn count(&self) -> u64 {
        self.total
    }

    /// The `q` quantile (0..=1) in ms (upper edge of its bucket); 0 when empty.
    pub fn quantile_ms(&self, q: f64) -> f64 {
        if self.total == 0 {
            return 0.0;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.total as f64).ceil() as u64).max(1);
        let mut seen = 0u64;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c as u64;
            if seen >= rank {
                if i == BUCKETS - 1 {
                    return self.max_us as f64 / 1000.0;
                }
                return ((i as u64 + 1) * RESOLUTION_US) as f64 / 1000.0;
            }
        }
        self.max_us as f64 / 1000.0
    }

    pub fn max_ms(&self) -> f64 {
        self.max_us as f64 / 1000.0
    }
}

/// Engine-wide media figures.
#[derive(Debug, Default)]
pub struct MediaMetrics {
    pub calls_started: AtomicU64,
    pub calls_ended: AtomicU64,
    pub frames_in: AtomicU64,
    pub frames_out: AtomicU64,
    /// Callee frames that never arrived (by the arrival clock), summed at call end.
    pub frames_lost: AtomicU64,
    pub duplicates: AtomicU64,
    pub odd_sized: AtomicU64,
    pub unknown_source: AtomicU64,
    /// Prompt frames that could not be sent (socket error) or were skipped after a stall.
    pub tx_failed: AtomicU64,
    pub tx_resyncs: AtomicU64,
    pub frames_analysed: AtomicU64,
    /// Frames the analysis pool had no room for.
    pub analysis_dropped: AtomicU64,
    pub vad_speech_frames: AtomicU64,
    pub vad_silence_frames: AtomicU64,
    pub speech_starts: AtomicU64,
    pub speech_segments: AtomicU64,
    /// Finished utterances handed to a live call's driver.
    pub utterances_heard: AtomicU64,
    /// Utterances whose recognition reached the call machine (the driver counts them).
    pub utterances_delivered: AtomicU64,
    /// Utterances the driver received after its conversation had ended (nothing left to
    /// deliver them to: the callee spoke over the goodbye, or after a transfer).
    pub utterances_after_end: AtomicU64,
    /// Speech starts a call task had no room for (a delayed barge-in, never a lost reply).
    pub events_dropped: AtomicU64,
    pub barge_ins: AtomicU64,
    pub dead_streams: AtomicU64,
    /// Lateness of each prompt frame against its 20 ms grid deadline.
    pub tx_late: Mutex<Histogram>,
    /// Onset frame arrival → prompt stopped, per barge-in.
    pub barge_in_latency: Mutex<Histogram>,
}

/// A copy of the counters at one moment.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MetricsSnapshot {
    pub calls_started: u64,
    pub calls_ended: u64,
    pub frames_in: u64,
    pub frames_out: u64,
    pub frames_lost: u64,
    pub duplicates: u64,
    pub odd_sized: u64,
    pub unknown_source: u64,
    pub tx_failed: u64,
    pub tx_resyncs: u64,
    pub frames_analysed: u64,
    pub analysis_dropped: u64,
    pub vad_speech_frames: u64,
    pub vad_silence_frames: u64,
    pub speech_starts: u64,
    pub speech_segments: u64,
    pub utterances_heard: u64,
    pub utterances_delivered: u64,
    pub utterances_after_end: u64,
    pub events_dropped: u64,
    pub barge_ins: u64,
    pub dead_streams: u64,
    pub tx_late_p50_ms: f64,
    pub tx_late_p99_ms: f64,
    pub tx_late_max_ms: f64,
    pub barge_in_p50_ms: f64,
    pub barge_in_p95_ms: f64,
}

fn lock(m: &Mutex<Histogram>) -> std::sync::MutexGuard<'_, Histogram> {
    // A histogram is valid after any partial update; poisoning loses nothing.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl MediaMetrics {
    pub fn merge_tx_late(&self, h: &Histogram) {
        lock(&self.tx_late).merge(h);
    }

    pub fn record_barge_in(&self, d: Duration) {
        self.barge_ins.fetch_add(1, Ordering::Relaxed);
        lock(&self.barge_in_latency).record(d);
    }

    pub fn snapshot(&self) -> MetricsSnapshot {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let tx = lock(&self.tx_late).clone();
        let bi = lock(&self.barge_in_latency).clone();
        MetricsSnapshot {
            calls_started: g(&self.calls_started),
            calls_ended: g(&self.calls_ended),
            frames_in: g(&self.frames_in),
            frames_out: g(&self.frames_out),
            frames_lost: g(&self.frames_lost),
            duplicates: g(&self.duplicates),
            odd_sized: g(&self.odd_sized),
            unknown_source: g(&self.unknown_source),
            tx_failed: g(&self.tx_failed),
            tx_resyncs: g(&self.tx_resyncs),
            frames_analysed: g(&self.frames_analysed),
            analysis_dropped: g(&self.analysis_dropped),
            vad_speech_frames: g(&self.vad_speech_frames),
            vad_silence_frames: g(&self.vad_silence_frames),
            speech_starts: g(&self.speech_starts),
            speech_segments: g(&self.speech_segments),
            utterances_heard: g(&self.utterances_heard),
            utterances_delivered: g(&self.utterances_delivered),
            utterances_after_end: g(&self.utterances_after_end),
            events_dropped: g(&self.events_dropped),
            barge_ins: g(&self.barge_ins),
            dead_streams: g(&self.dead_streams),
            tx_late_p50_ms: tx.quantile_ms(0.50),
            tx_late_p99_ms: tx.quantile_ms(0.99),
            tx_late_max_ms: tx.max_ms(),
            barge_in_p50_ms: bi.quantile_ms(0.50),
            barge_in_p95_ms: bi.quantile_ms(0.95),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_from_buckets() {
        let mut h = Histogram::default();
        assert_eq!(h.quantile_ms(0.99), 0.0);
        for us in 1..=1000u64 {
            h.record(Duration::from_micros(us * 10));
        }
        // 10 µs … 10 ms uniformly: p50 ≈ 5 ms, p99 ≈ 9.9 ms (bucket upper edges).
        assert!(
            (h.quantile_ms(0.5) - 5.0).abs() <= 0.1,
            "{}",
            h.quantile_ms(0.5)
        );
        assert!(
            (h.quantile_ms(0.99) - 9.9).abs() <= 0.1,
            "{}",
            h.quantile_ms(0.99)
        );
        let mut g = Histogram::default();
        g.record(Duration::from_secs(1));
        h.merge(&g);
        assert_eq!(h.count(), 1001);
        assert_eq!(h.quantile_ms(1.0), 1000.0, "overflow reports the max");
    }
}
