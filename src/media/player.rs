//! Prompt playback by aicall, sans I/O: a queue of prompts (recorded WAVs or TTS buffers,
//! already at the channel rate), cut into 20 ms frames, interruptible between any two
//! frames; and the [`Pacer`] that says when each frame is due.
//!
//! FreeSWITCH plays what `unicast` receives without buffering to speak of (ESL.md: 2× speed
//! loses half the frames), so frames must leave at exactly one per 20 ms. The pacer keeps an
//! absolute grid (`start + n × 20 ms`) rather than sleeping 20 ms after each send, so timer
//! lateness never accumulates into drift; when the task was starved for longer than the far
//! end's slack it re-anchors the grid instead of bursting frames FreeSWITCH would drop.
//!
//! Depends on [`super::prompt`] for the audio type only.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::prompt::Prompt;
use super::FRAME;

/// Caller-chosen identifier of a queued prompt, echoed in its events.
pub type PromptId = u64;

/// Errors of the player.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PlayerError {
    #[error("prompt queue full ({max} prompts); wait for PromptFinished before queueing more")]
    QueueFull { max: usize },
    #[error(
        "prompt {name} is at {prompt_rate} Hz but the channel runs at {channel_rate} Hz; load it \
         for the channel's rate"
    )]
    RateMismatch {
        name: String,
        prompt_rate: u32,
        channel_rate: u32,
    },
}

/// What the player reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlayerEvent {
    Started {
        id: PromptId,
    },
    Finished {
        id: PromptId,
        played_ms: u32,
    },
    /// Stopped before its end; `played_ms` of `total_ms` reached the far end.
    Interrupted {
        id: PromptId,
        played_ms: u32,
        total_ms: u32,
    },
}

#[derive(Debug)]
struct Queued {
    id: PromptId,
    prompt: Prompt,
    barge_in: bool,
}

#[derive(Debug)]
struct Playing {
    id: PromptId,
    prompt: Prompt,
    barge_in: bool,
    pos: usize,
}

/// One frame's outcome.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FrameOut {
    /// A frame was written and must be sent.
    pub wrote: bool,
    pub started: Option<PromptId>,
    /// The prompt whose last frame this was, with the ms played.
    pub finished: Option<(PromptId, u32)>,
}

/// The prompt queue of one call.
#[derive(Debug)]
pub struct Player {
    rate: u32,
    spf: usize,
    max_queue: usize,
    queue: VecDeque<Queued>,
    current: Option<Playing>,
}

impl Player {
    /// A player for a `rate` Hz channel holding at most `max_queue` waiting prompts.
    pub fn new(rate: u32, max_queue: usize) -> Self {
        Self {
            rate,
            spf: (rate / 50) as usize,
            max_queue,
            queue: VecDeque::with_capacity(max_queue),
            current: None,
        }
    }

    fn ms(&self, samples: usize) -> u32 {
        (samples as u64 * 1000 / self.rate as u64) as u32
    }

    /// Queues a prompt; it starts after those already queued.
    pub fn enqueue(
        &mut self,
        id: PromptId,
        prompt: Prompt,
        barge_in: bool,
    ) -> Result<(), PlayerError> {
        if prompt.rate() != self.rate {
            return Err(PlayerError::RateMismatch {
                name: prompt.name().to_owned(),
                prompt_rate: prompt.rate(),
                channel_rate: self.rate,
            });
        }
        if self.queue.len() >= self.max_queue {
            return Err(PlayerError::QueueFull {
                max: self.max_queue,
            });
        }
        self.queue.push_back(Queued {
            id,
            prompt,
            barge_in,
        });
        Ok(())
    }

    /// True while a prompt is playing or queued.
    pub fn is_active(&self) -> bool {
        self.current.is_some() || !self.queue.is_empty()
    }

    /// The playing prompt, if the callee may interrupt it.
    pub fn interruptible(&self) -> Option<PromptId> {
        self.current.as_ref().filter(|p| p.barge_in).map(|p| p.id)
    }

    /// The playing prompt.
    pub fn current(&self) -> Option<PromptId> {
        self.current.as_ref().map(|p| p.id)
    }

    /// Allows or forbids barge-in on the playing prompt (the call machine may change its mind
    /// mid-prompt, e.g. after a mandatory disclosure has been heard).
    pub fn set_barge_in(&mut self, allowed: bool) {
        if let Some(p) = &mut self.current {
            p.barge_in = allowed;
        }
    }

    /// Writes the next frame into `out` (one frame at the channel rate; a prompt's last frame
    /// is padded with silence).
    pub fn next_frame(&mut self, out: &mut [i16]) -> FrameOut {
        let mut r = FrameOut::default();
        if self.current.is_none() {
            let Some(q) = self.queue.pop_front() else {
                return r;
            };
            r.started = Some(q.id);
            self.current = Some(Playing {
                id: q.id,
                prompt: q.prompt,
                barge_in: q.barge_in,
                pos: 0,
            });
        }
        let spf = self.spf.min(out.len());
        let Some(p) = &mut self.current else {
            return r;
        };
        let samples = p.prompt.samples();
        let end = (p.pos + spf).min(samples.len());
        let n = end - p.pos;
        out[..n].copy_from_slice(&samples[p.pos..end]);
        out[n..spf].fill(0);
        p.pos = end;
        r.wrote = true;
        if p.pos >= samples.len() {
            let (id, pos) = (p.id, p.pos);
            self.current = None;
            r.finished = Some((id, self.ms(pos)));
        }
        r
    }

    /// Stops the playing prompt before its next frame; with `flush`, drops the queue too.
    /// Returns the interruption of the playing prompt (queued prompts never started).
    pub fn interrupt(&mut self, flush: bool) -> Option<PlayerEvent> {
        if flush {
            self.queue.clear();
        }
        let p = self.current.take()?;
        Some(PlayerEvent::Interrupted {
            id: p.id,
            played_ms: self.ms(p.pos),
            total_ms: self.ms(p.prompt.samples().len()),
        })
    }
}

/// Frame deadlines on an absolute 20 ms grid.
#[derive(Debug)]
pub struct Pacer {
    next: Option<Instant>,
    max_late: Duration,
    resyncs: u64,
}

impl Pacer {
    /// `max_late`: how far behind the grid may fall before it is re-anchored (the far end's
    /// playout slack: 60 ms for FreeSWITCH).
    pub fn new(max_late: Duration) -> Self {
        Self {
            next: None,
            max_late,
            resyncs: 0,
        }
    }

    /// Anchors the grid: the first frame is due `now`.
    pub fn start(&mut self, now: Instant) {
        self.next = Some(now);
    }

    /// Stops pacing (nothing to send).
    pub fn stop(&mut self) {
        self.next = None;
    }

    /// When the next frame is due, while pacing.
    pub fn deadline(&self) -> Option<Instant> {
        self.next
    }

    /// Records a frame sent at `now`; returns how late it was against its deadline.
    pub fn on_sent(&mut self, now: Instant) -> Duration {
        let Some(due) = self.next else {
            self.next = Some(now + FRAME);
            return Duration::ZERO;
        };
        let late = now.saturating_duration_since(due);
        let mut next = due + FRAME;
        if late > self.max_late {
            // Frames owed for the stall would arrive as a burst the far end drops: skip them.
            self.resyncs += 1;
            next = now + FRAME;
        }
        self.next = Some(next);
        late
    }

    /// Times the grid was re-anchored after a stall.
    pub fn resyncs(&self) -> u64 {
        self.resyncs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prompt(rate: u32, samples: usize) -> Prompt {
        let s: Vec<i16> = (0..samples).map(|i| (i % 1000) as i16 + 1).collect();
        Prompt::from_pcm("test", rate, s)
    }

    #[test]
    fn plays_frames_in_order_pads_the_last_and_reports() {
        let mut p = Player::new(8000, 4);
        p.enqueue(1, prompt(8000, 400), true).expect("queued");
        p.enqueue(2, prompt(8000, 160), false).expect("queued");
        let mut out = [7i16; 320];
        let f = p.next_frame(&mut out);
        assert_eq!((f.wrote, f.started, f.finished), (true, Some(1), None));
        assert_eq!(out[0], 1);
        assert_eq!(p.interruptible(), Some(1));
        p.next_frame(&mut out);
        assert_eq!(out[0], 161);
        let f = p.next_frame(&mut out);
        assert_eq!(f.finished, Some((1, 50)));
        assert_eq!(out[79], 400);
        assert_eq!(out[80], 0, "tail padded with silence");
        let f = p.next_frame(&mut out);
        assert_eq!((f.started, f.finished), (Some(2), Some((2, 20))));
        assert!(!p.next_frame(&mut out).wrote);
        assert!(!p.is_active());
    }

    #[test]
    fn interrupt_reports_what_was_played() {
        let mut p = Player::new(16000, 4);
        p.enqueue(9, prompt(16000, 16000), true).expect("queued");
        p.enqueue(10, prompt(16000, 16000), true).expect("queued");
        let mut out = [0i16; 320];
        for _ in 0..5 {
            p.next_frame(&mut out);
        }
        assert_eq!(
            p.interrupt(true),
            Some(PlayerEvent::Interrupted {
                id: 9,
                played_ms: 100,
                total_ms: 1000
            })
        );
        assert!(!p.is_active());
        assert_eq!(p.interrupt(true), None);
    }

    #[test]
    fn queue_limit_and_rate_check() {
        let mut p = Player::new(8000, 1);
        p.enqueue(1, prompt(8000, 10), true).expect("queued");
        assert_eq!(
            p.enqueue(2, prompt(8000, 10), true),
            Err(PlayerError::QueueFull { max: 1 })
        );
        assert!(matches!(
            p.enqueue(3, prompt(16000, 10), true),
            Err(PlayerError::RateMismatch { .. })
        ));
    }

    #[test]
    fn pacer_keeps_an_absolute_grid_and_resyncs_after_a_stall() {
        let t0 = Instant::now();
        let mut pacer = Pacer::new(Duration::from_millis(60));
        pacer.start(t0);
        // Each send 1 ms late: the grid does not drift.
        for k in 0..100u32 {
            let due = pacer.deadline().expect("pacing");
            assert_eq!(due, t0 + FRAME * k);
            let late = pacer.on_sent(due + Duration::from_millis(1));
            assert_eq!(late, Duration::from_millis(1));
        }
        // A 200 ms stall: re-anchor instead of bursting ten frames.
        let due = pacer.deadline().expect("pacing");
        let now = due + Duration::from_millis(200);
        assert_eq!(pacer.on_sent(now), Duration::from_millis(200));
        assert_eq!(pacer.deadline(), Some(now + FRAME));
        assert_eq!(pacer.resyncs(), 1);
        // A 40 ms hiccup is caught up (the far end's slack absorbs it).
        let due = pacer.deadline().expect("pacing");
        pacer.on_sent(due + Duration::from_millis(40));
        assert_eq!(pacer.deadline(), Some(due + FRAME));
    }
}
