//! Ingress accounting for one call's `unicast` stream, sans I/O: checks each datagram's
//! source and size, decodes L16 into the pipeline's frame buffer, and keeps the figures a
//! stream without RTP headers still allows — frames received, frames lost (by the arrival
//! clock: FreeSWITCH sends exactly one datagram per 20 ms), duplicates, stalls, oddly sized
//! and foreign datagrams — and tells when the stream is dead (FreeSWITCH sends no event when
//! unicast stops; silence on the socket is the only sign).
//!
//! Time is an argument (`now`), so every rule is tested without sockets or clocks.
//! Depends on nothing else in aicall.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::{FRAME, MAX_FRAME_SAMPLES};

/// Consecutive wrong-sized datagrams of one size after which the stream is declared to run at
/// a rate FreeSWITCH did not announce (half a second).
const RATE_MISMATCH_AFTER: u32 = 25;
/// Two identical voiced payloads closer than this are one datagram delivered twice.
const DUPLICATE_WINDOW: Duration = Duration::from_millis(5);
/// A sample louder than this makes a payload "voiced" for duplicate detection: identical
/// digital-silence frames are normal and never duplicates.
const DUPLICATE_MIN_PEAK: u16 = 64;
/// An arrival gap longer than this is a stall (late delivery or loss).
const STALL: Duration = Duration::from_millis(60);

/// What to do with a datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// A frame of `samples` samples was decoded into the buffer.
    Frame { samples: usize },
    /// The same datagram again: ignore.
    Duplicate,
    /// Not from FreeSWITCH's side of this call: ignore.
    UnknownSource,
    /// Not one frame at the channel rate: ignore.
    OddSize { bytes: usize },
    /// Datagrams keep arriving at a size that means another rate than the announced one;
    /// reported once, then treated as [`Verdict::OddSize`].
    RateMismatch { bytes: usize, announced: u32 },
}

/// Ingress figures of one stream.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IngressStats {
    pub frames: u64,
    pub duplicates: u64,
    pub unknown_source: u64,
    pub odd_sized: u64,
    /// Frames that never arrived, by the arrival clock, at the last frame.
    pub lost: u64,
    /// Arrival gaps longer than 60 ms.
    pub stalls: u64,
    pub max_gap_ms: u32,
}

/// The ingress state of one stream.
#[derive(Debug)]
pub struct StreamMonitor {
    rate: u32,
    frame_bytes: usize,
    switch: SocketAddr,
    opened: Instant,
    first: Option<Instant>,
    last: Option<Instant>,
    last_payload: [u8; MAX_FRAME_SAMPLES * 2],
    last_voiced: bool,
    odd_run: (usize, u32),
    mismatch_reported: bool,
    stats: IngressStats,
}

impl StreamMonitor {
    /// A monitor for a `rate` Hz stream whose datagrams must come from `switch`.
    pub fn new(rate: u32, switch: SocketAddr, opened: Instant) -> Self {
        Self {
            rate,
            frame_bytes: (rate / 50) as usize * 2,
            switch,
            opened,
            first: None,
            last: None,
            last_payload: [0; MAX_FRAME_SAMPLES * 2],
            last_voiced: false,
            odd_run: (0, 0),
            mismatch_reported: false,
            stats: IngressStats::default(),
        }
    }

    /// Classifies a datagram and, for a frame, decodes it into `out` (which must hold one
    /// frame at the channel rate).
    pub fn on_datagram(
        &mut self,
        from: SocketAddr,
        payload: &[u8],
        now: Instant,
        out: &mut [i16],
    ) -> Verdict {
        if from != self.switch {
            self.stats.unknown_source += 1;
            return Verdict::UnknownSource;
        }
        if payload.len() != self.frame_bytes || out.len() < self.frame_bytes / 2 {
            self.stats.odd_sized += 1;
            let bytes = payload.len();
            self.odd_run = if self.odd_run.0 == bytes {
                (bytes, self.odd_run.1 + 1)
            } else {
                (bytes, 1)
            };
            if self.odd_run.1 >= RATE_MISMATCH_AFTER && !self.mismatch_reported {
                self.mismatch_reported = true;
                return Verdict::RateMismatch {
                    bytes,
                    announced: self.rate,
                };
            }
            return Verdict::OddSize { bytes };
        }
        self.odd_run = (0, 0);
        let mut peak = 0u16;
        for (s, b) in out.iter_mut().zip(payload.chunks_exact(2)) {
            *s = i16::from_le_bytes([b[0], b[1]]);
            peak = peak.max(s.unsigned_abs());
        }
        let voiced = peak > DUPLICATE_MIN_PEAK;
        let same = &self.last_payload[..self.frame_bytes] == payload;
        if let Some(last) = self.last {
            if voiced && self.last_voiced && same && now.duration_since(last) < DUPLICATE_WINDOW {
                self.stats.duplicates += 1;
                return Verdict::Duplicate;
            }
            let gap = now.saturating_duration_since(last);
            if gap > STALL {
                self.stats.stalls += 1;
            }
            self.stats.max_gap_ms = self.stats.max_gap_ms.max(gap.as_millis() as u32);
        }
        self.last_payload[..self.frame_bytes].copy_from_slice(payload);
        self.last_voiced = voiced;
        let first = *self.first.get_or_insert(now);
        self.last = Some(now);
        self.stats.frames += 1;
        // FreeSWITCH sends one frame per packet time: the arrival clock says how many should
        // have come. Rounding absorbs up to 10 ms of jitter; a frame held up longer counts
        // as lost only until it arrives (the figure is recomputed, not accumulated).
        let span = now.saturating_duration_since(first).as_secs_f64();
        let expected = (span / FRAME.as_secs_f64()).round() as u64 + 1;
        self.stats.lost = expected.saturating_sub(self.stats.frames);
        Verdict::Frame {
            samples: self.frame_bytes / 2,
        }
    }

    /// True when no frame came for `dead_after` (or none at all within `first_within` of
    /// opening): the stream is gone and the call must be reconciled with FreeSWITCH.
    pub fn is_dead(&self, now: Instant, first_within: Duration, dead_after: Duration) -> bool {
        match self.last {
            Some(last) => now.saturating_duration_since(last) >= dead_after,
            None => now.saturating_duration_since(self.opened) >= first_within,
        }
    }

    /// When [`StreamMonitor::is_dead`] becomes true if nothing arrives before.
    pub fn dead_deadline(&self, first_within: Duration, dead_after: Duration) -> Instant {
        match self.last {
            Some(last) => last + dead_after,
            None => self.opened + first_within,
        }
    }

    /// The arrival of the first frame.
    pub fn first_frame_at(&self) -> Option<Instant> {
        self.first
    }

    pub fn stats(&self) -> IngressStats {
        self.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SW: ([u8; 4], u16) = ([127, 0, 0, 1], 41_000);

    fn frame(v: i16, n: usize) -> Vec<u8> {
        (0..n)
            .flat_map(|i| (v + i as i16 % 7).to_le_bytes())
            .collect()
    }

    #[test]
    fn decodes_and_counts_in_order_stream() {
        let t0 = Instant::now();
        let mut m = StreamMonitor::new(8000, SW.into(), t0);
        let mut out = [0i16; MAX_FRAME_SAMPLES];
        for k in 0..50u32 {
            let v = m.on_datagram(SW.into(), &frame(1000, 160), t0 + FRAME * k, &mut out);
            assert_eq!(v, Verdict::Frame { samples: 160 });
        }
        assert_eq!(out[1], 1001);
        let s = m.stats();
        assert_eq!((s.frames, s.lost, s.duplicates, s.stalls), (50, 0, 0, 0));
    }

    #[test]
    fn loss_duplicates_foreign_and_odd_sizes() {
        let t0 = Instant::now();
        let mut m = StreamMonitor::new(16000, SW.into(), t0);
        let mut out = [0i16; MAX_FRAME_SAMPLES];
        let at = |k: u32| t0 + FRAME * k;
        assert!(matches!(
            m.on_datagram(SW.into(), &frame(900, 320), at(0), &mut out),
            Verdict::Frame { .. }
        ));
        // The same voiced datagram again at once is a duplicate.
        assert_eq!(
            m.on_datagram(SW.into(), &frame(900, 320), at(0), &mut out),
            Verdict::Duplicate
        );
        // Frames 1..=4 lost; frame 5 arrives on time.
        m.on_datagram(SW.into(), &frame(500, 320), at(5), &mut out);
        assert_eq!(m.stats().lost, 4);
        assert_eq!(m.stats().stalls, 1);
        let stranger: SocketAddr = ([10, 0, 0, 9], 41_000).into();
        assert_eq!(
            m.on_datagram(stranger, &frame(1, 320), at(6), &mut out),
            Verdict::UnknownSource
        );
        assert_eq!(
            m.on_datagram(SW.into(), &[1, 2, 3], at(6), &mut out),
            Verdict::OddSize { bytes: 3 }
        );
        assert_eq!(m.stats().unknown_source, 1);
        assert_eq!(m.stats().odd_sized, 1);
    }

    #[test]
    fn a_late_burst_is_not_loss() {
        let t0 = Instant::now();
        let mut m = StreamMonitor::new(8000, SW.into(), t0);
        let mut out = [0i16; MAX_FRAME_SAMPLES];
        m.on_datagram(SW.into(), &frame(0, 160), t0, &mut out);
        // Frames 1..=3 are held up and arrive together with frame 4.
        for _ in 1..=4 {
            m.on_datagram(SW.into(), &frame(0, 160), t0 + FRAME * 4, &mut out);
        }
        assert_eq!(m.stats().lost, 0);
        assert_eq!(m.stats().frames, 5);
        assert_eq!(m.stats().stalls, 1);
    }

    #[test]
    fn a_stream_at_another_rate_is_reported_once() {
        let t0 = Instant::now();
        let mut m = StreamMonitor::new(8000, SW.into(), t0);
        let mut out = [0i16; MAX_FRAME_SAMPLES];
        let mut reports = 0;
        for k in 0..60 {
            let v = m.on_datagram(SW.into(), &frame(0, 320), t0 + FRAME * k, &mut out);
            if matches!(
                v,
                Verdict::RateMismatch {
                    bytes: 640,
                    announced: 8000
                }
            ) {
                reports += 1;
            }
        }
        assert_eq!(reports, 1);
    }

    #[test]
    fn dead_stream_detection() {
        let t0 = Instant::now();
        let mut m = StreamMonitor::new(8000, SW.into(), t0);
        let (first, dead) = (Duration::from_secs(2), Duration::from_secs(1));
        assert!(!m.is_dead(t0 + Duration::from_millis(1999), first, dead));
        assert!(m.is_dead(t0 + Duration::from_secs(2), first, dead));
        let mut out = [0i16; MAX_FRAME_SAMPLES];
        m.on_datagram(SW.into(), &frame(0, 160), t0 + FRAME, &mut out);
        assert!(!m.is_dead(t0 + Duration::from_millis(1000), first, dead));
        assert!(m.is_dead(t0 + FRAME + dead, first, dead));
        assert_eq!(m.dead_deadline(first, dead), t0 + FRAME + dead);
    }

    proptest::proptest! {
        #[test]
        fn any_datagram_from_anyone_is_classified_without_panic(
            payload in proptest::collection::vec(proptest::num::u8::ANY, 0..2000),
            from_switch in proptest::bool::ANY,
            rate in proptest::sample::select(vec![8000u32, 16000]),
            step_us in 0u64..100_000,
        ) {
            let t0 = Instant::now();
            let mut m = StreamMonitor::new(rate, SW.into(), t0);
            let mut out = [0i16; MAX_FRAME_SAMPLES];
            let from: SocketAddr = if from_switch { SW.into() } else { ([10, 1, 2, 3], 9).into() };
            for k in 0..3u64 {
                let now = t0 + Duration::from_micros(step_us * k);
                let _ = m.on_datagram(from, &payload, now, &mut out);
            }
            let s = m.stats();
            proptest::prop_assert_eq!(s.frames + s.duplicates + s.unknown_source + s.odd_sized, 3);
        }
    }
}
