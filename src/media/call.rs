//! The per-call media task: one tokio task per call owns the call's UDP socket, its
//! [`StreamMonitor`], [`Player`] and [`Pacer`], and its handle on the analysis pool. It
//! receives the callee's frames and forwards them to analysis, sends prompt frames on the
//! 20 ms grid, applies barge-in when analysis reports speech, and ends — releasing its port
//! lease — when the call driver closes it or drops its handle, or when the stream dies.
//!
//! Commands travel on a bounded channel; events to the driver on an unbounded one (a few per
//! second at most, paced by real time, and none may be lost: a dropped barge-in or
//! prompt-finished event would leave the conversation waiting). The callee's speech reaches
//! the driver straight from the analysis threads ([`super::OpenedMedia::speech`]); only
//! speech starts come here, for barge-in. The task never blocks and holds no lock across an
//! await. Buffers are owned by the task and sized at start: no allocation per frame. Depends
//! on the sibling media modules only.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tracing::{debug, warn};

use super::analysis::{Analysed, AnalysisHandle};
use super::bargein::{should_interrupt, BargeIn, BargeInConfig};
use super::ingress::{IngressStats, StreamMonitor, Verdict};
use super::metrics::{Histogram, MediaMetrics};
use super::player::{Pacer, Player, PlayerError, PlayerEvent, PromptId};
use super::ports::PortLease;
use super::prompt::Prompt;
use super::vad::VadEvent;
use super::MAX_FRAME_SAMPLES;

/// Capacity of a call's command queue.
pub(crate) const COMMANDS: usize = 16;
/// Capacity of a call's queue of speech starts for barge-in.
pub(crate) const EVENTS: usize = 64;
/// The far end's playout slack (ESL.md): later than this, the pacer re-anchors.
const MAX_LATE: Duration = Duration::from_millis(60);

/// What a call's media reports to its driver.
#[derive(Debug, Clone, PartialEq)]
pub enum MediaEvent {
    /// The first frame of the callee's audio arrived, `after` the unicast command.
    StreamStarted {
        after: Duration,
    },
    PromptStarted {
        id: PromptId,
    },
    PromptFinished {
        id: PromptId,
        played_ms: u32,
    },
    /// Stopped by [`CallMedia::stop`] or by barge-in (then a [`MediaEvent::BargeIn`] precedes
    /// it).
    PromptInterrupted {
        id: PromptId,
        played_ms: u32,
        total_ms: u32,
    },
    BargeIn(BargeIn),
    /// FreeSWITCH sends frames of another size than the announced rate implies.
    RateMismatch {
        bytes: usize,
        announced: u32,
    },
    /// No audio for the configured time: the media task has ended. The call is gone (a
    /// missed hangup), or the channel lives but unicast died (a `playback` or `uuid_break`
    /// ran on it): the driver asks the switch which.
    StreamDead {
        silent_for: Duration,
    },
}

/// Why a call's media ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndReason {
    Closed,
    HandleDropped,
    StreamDead,
    SocketError,
}

/// Figures of one call's media, returned when it ends.
#[derive(Clone, Debug, PartialEq)]
pub struct CallReport {
    pub reason: EndReason,
    pub ingress: IngressStats,
    pub frames_out: u64,
    pub tx_late_p99_ms: f64,
    pub tx_resyncs: u64,
    pub barge_ins: u32,
}

#[derive(Debug)]
pub(crate) enum Command {
    Play {
        id: PromptId,
        prompt: Prompt,
        barge_in: bool,
        reply: oneshot::Sender<Result<(), PlayerError>>,
    },
    Stop {
        flush: bool,
    },
    SetBargeIn(bool),
    Close,
}

/// Errors of a call's media handle.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error("the call's media has ended")]
    Ended,
    #[error(transparent)]
    Player(#[from] PlayerError),
}

/// The driver's handle on a call's media. Dropping it ends the media task.
#[derive(Debug)]
pub struct CallMedia {
    pub(crate) uuid: String,
    pub(crate) local: SocketAddr,
    pub(crate) switch: SocketAddr,
    pub(crate) commands: mpsc::Sender<Command>,
    pub(crate) task: tokio::task::JoinHandle<CallReport>,
}

impl CallMedia {
    pub fn uuid(&self) -> &str {
        &self.uuid
    }

    /// aicall's socket address for this call.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// FreeSWITCH's side (unicast `local-ip:local-port`).
    pub fn switch_addr(&self) -> SocketAddr {
        self.switch
    }

    /// Queues a prompt; `barge_in` lets the callee's speech stop it.
    pub async fn play(
        &self,
        id: PromptId,
        prompt: Prompt,
        barge_in: bool,
    ) -> Result<(), CallError> {
        let (reply, rx) = oneshot::channel();
        self.commands
            .send(Command::Play {
                id,
                prompt,
                barge_in,
                reply,
            })
            .await
            .map_err(|_| CallError::Ended)?;
        rx.await.map_err(|_| CallError::Ended)??;
        Ok(())
    }

    /// Stops the playing prompt at the next frame boundary; with `flush`, the queue too.
    pub async fn stop(&self, flush: bool) -> Result<(), CallError> {
        self.commands
            .send(Command::Stop { flush })
            .await
            .map_err(|_| CallError::Ended)
    }

    /// Allows or forbids barge-in on the playing prompt.
    pub async fn set_barge_in(&self, allowed: bool) -> Result<(), CallError> {
        self.commands
            .send(Command::SetBargeIn(allowed))
            .await
            .map_err(|_| CallError::Ended)
    }

    /// Ends the media (after hangup) and returns its figures; the port is free on return.
    pub async fn close(self) -> Option<CallReport> {
        let _ = self.commands.send(Command::Close).await;
        self.task.await.ok()
    }

    /// True once the media task has ended (dead stream, socket error).
    pub fn is_ended(&self) -> bool {
        self.task.is_finished()
    }
}

/// Everything a call task owns.
pub(crate) struct CallTask {
    pub socket: UdpSocket,
    pub lease: PortLease,
    pub rate: u32,
    pub monitor: StreamMonitor,
    pub player: Player,
    pub analysis: AnalysisHandle,
    pub analysed: mpsc::Receiver<Analysed>,
    pub commands: mpsc::Receiver<Command>,
    pub events: mpsc::UnboundedSender<MediaEvent>,
    pub metrics: Arc<MediaMetrics>,
    pub barge_in: BargeInConfig,
    pub first_within: Duration,
    pub dead_after: Duration,
    pub unicast_sent: Instant,
}

impl CallTask {
    fn emit(&self, ev: MediaEvent) {
        // Fails only when the driver is gone, and then nobody needs the event.
        let _ = self.events.send(ev);
    }

    fn player_event(&self, ev: PlayerEvent) {
        self.emit(match ev {
            PlayerEvent::Started { id } => MediaEvent::PromptStarted { id },
            PlayerEvent::Finished { id, played_ms } => MediaEvent::PromptFinished { id, played_ms },
            PlayerEvent::Interrupted {
                id,
                played_ms,
                total_ms,
            } => MediaEvent::PromptInterrupted {
                id,
                played_ms,
                total_ms,
            },
        });
    }

    /// Runs until the call's media ends.
    pub async fn run(mut self) -> CallReport {
        let spf = (self.rate / 50) as usize;
        let mut rx_buf = [0u8; 2048];
        let mut frame = [0i16; MAX_FRAME_SAMPLES];
        let mut out_pcm = [0i16; MAX_FRAME_SAMPLES];
        let mut out_bytes = [0u8; MAX_FRAME_SAMPLES * 2];
        let mut pacer = Pacer::new(MAX_LATE);
        let mut tx_late = Histogram::default();
        let mut frames_out = 0u64;
        let mut barge_ins = 0u32;
        let mut started_reported = false;
        let mut analysis_open = true;
        let switch = self.lease.switch();
        let far_future = Instant::now() + Duration::from_secs(86_400 * 365);
        let tx_sleep = tokio::time::sleep_until(far_future);
        tokio::pin!(tx_sleep);
        let dead_sleep = tokio::time::sleep_until(far_future);
        tokio::pin!(dead_sleep);
        // Timers are re-armed only when their deadline changes: resetting a tokio timer takes
        // the timer wheel's lock, and a reset per datagram would make a thousand calls contend
        // on it. The dead-stream timer is checked lazily when it fires.
        let mut dead_armed = self
            .monitor
            .dead_deadline(self.first_within, self.dead_after);
        dead_sleep.as_mut().reset(Instant::from_std(dead_armed));
        let mut tx_armed: Option<std::time::Instant> = None;
        let reason = loop {
            if self.player.is_active() && pacer.deadline().is_none() {
                pacer.start(Instant::now().into_std());
            } else if !self.player.is_active() {
                pacer.stop();
            }
            let pacing = pacer.deadline();
            if let Some(d) = pacing {
                if tx_armed != Some(d) {
                    tx_sleep.as_mut().reset(Instant::from_std(d));
                    tx_armed = Some(d);
                }
            }
            tokio::select! {
                biased;
                // Sending on time comes first: it is what the callee hears.
                _ = &mut tx_sleep, if pacing.is_some() => {
                    let f = self.player.next_frame(&mut out_pcm[..spf]);
                    if let Some(id) = f.started {
                        self.player_event(PlayerEvent::Started { id });
                    }
                    if f.wrote {
                        for (b, s) in out_bytes.chunks_exact_mut(2).zip(&out_pcm[..spf]) {
                            b.copy_from_slice(&s.to_le_bytes());
                        }
                        let now = Instant::now().into_std();
                        match self.socket.try_send_to(&out_bytes[..spf * 2], switch) {
                            Ok(_) => {
                                frames_out += 1;
                                self.metrics.frames_out.fetch_add(1, Ordering::Relaxed);
                            }
                            Err(e) => {
                                self.metrics.tx_failed.fetch_add(1, Ordering::Relaxed);
                                debug!(error = %e, "prompt frame not sent");
                            }
                        }
                        tx_late.record(pacer.on_sent(now));
                    }
                    if let Some((id, played_ms)) = f.finished {
                        self.player_event(PlayerEvent::Finished { id, played_ms });
                    }
                }
                r = self.socket.recv_from(&mut rx_buf) => {
                    let (n, from) = match r {
                        Ok(x) => x,
                        Err(e) => {
                            // ICMP port unreachable surfaces here on Linux when FreeSWITCH's
                            // side is gone; it is not fatal by itself: the dead-stream timer
                            // decides.
                            if e.kind() == std::io::ErrorKind::ConnectionRefused {
                                continue;
                            }
                            warn!(error = %e, "media socket failed");
                            break EndReason::SocketError;
                        }
                    };
                    let now = Instant::now().into_std();
                    match self.monitor.on_datagram(from, &rx_buf[..n], now, &mut frame) {
                        Verdict::Frame { samples } => {
                            self.metrics.frames_in.fetch_add(1, Ordering::Relaxed);
                            if !started_reported {
                                started_reported = true;
                                let after = now.saturating_duration_since(self.unicast_sent.into_std());
                                self.emit(MediaEvent::StreamStarted { after });
                            }
                            self.analysis.push(&frame[..samples], now);
                        }
                        Verdict::RateMismatch { bytes, announced } => {
                            self.emit(MediaEvent::RateMismatch { bytes, announced });
                        }
                        Verdict::Duplicate | Verdict::UnknownSource | Verdict::OddSize { .. } => {}
                    }
                }
                a = self.analysed.recv(), if analysis_open => {
                    let Some(a) = a else {
                        analysis_open = false;
                        continue;
                    };
                    match a.event {
                        VadEvent::Start(start) => {
                            if let Some(prompt) = should_interrupt(&self.barge_in, self.player.interruptible(), &start) {
                                let now = Instant::now().into_std();
                                if let Some(PlayerEvent::Interrupted { played_ms, total_ms, .. }) =
                                    self.player.interrupt(self.barge_in.flush_queue)
                                {
                                    let onset = a.onset_arrived.unwrap_or(a.frame_arrived);
                                    let b = BargeIn {
                                        prompt,
                                        played_ms,
                                        total_ms,
                                        start,
                                        detection: a.frame_arrived.saturating_duration_since(onset),
                                        latency: now.saturating_duration_since(onset),
                                    };
                                    barge_ins += 1;
                                    self.metrics.record_barge_in(b.latency);
                                    pacer.stop();
                                    self.emit(MediaEvent::BargeIn(b));
                                    self.player_event(PlayerEvent::Interrupted { id: prompt, played_ms, total_ms });
                                }
                            }
                        }
                        // Utterances go to the driver directly from analysis.
                        VadEvent::End(_) => {}
                    }
                }
                c = self.commands.recv() => match c {
                    None => break EndReason::HandleDropped,
                    Some(Command::Close) => break EndReason::Closed,
                    Some(Command::Play { id, prompt, barge_in, reply }) => {
                        let _ = reply.send(self.player.enqueue(id, prompt, barge_in));
                    }
                    Some(Command::Stop { flush }) => {
                        if let Some(ev) = self.player.interrupt(flush) {
                            self.player_event(ev);
                        }
                        if !self.player.is_active() {
                            pacer.stop();
                        }
                    }
                    Some(Command::SetBargeIn(allowed)) => self.player.set_barge_in(allowed),
                },
                _ = &mut dead_sleep => {
                    let now = Instant::now().into_std();
                    if !self.monitor.is_dead(now, self.first_within, self.dead_after) {
                        // Frames came since the timer was armed: wait for the new deadline.
                        dead_armed = self.monitor.dead_deadline(self.first_within, self.dead_after);
                        dead_sleep.as_mut().reset(Instant::from_std(dead_armed));
                        continue;
                    }
                    {
                        let silent_for = match self.monitor.first_frame_at() {
                            Some(_) => self.dead_after,
                            None => self.first_within,
                        };
                        self.metrics.dead_streams.fetch_add(1, Ordering::Relaxed);
                        self.emit(MediaEvent::StreamDead { silent_for });
                        break EndReason::StreamDead;
                    }
                }
            }
        };
        let ingress = self.monitor.stats();
        let m = &self.metrics;
        m.frames_lost.fetch_add(ingress.lost, Ordering::Relaxed);
        m.duplicates
            .fetch_add(ingress.duplicates, Ordering::Relaxed);
        m.odd_sized.fetch_add(ingress.odd_sized, Ordering::Relaxed);
        m.unknown_source
            .fetch_add(ingress.unknown_source, Ordering::Relaxed);
        m.tx_resyncs.fetch_add(pacer.resyncs(), Ordering::Relaxed);
        m.merge_tx_late(&tx_late);
        m.calls_ended.fetch_add(1, Ordering::Relaxed);
        debug!(slot = self.lease.slot(), ?reason, "call media ended");
        CallReport {
            reason,
            ingress,
            frames_out,
            tx_late_p99_ms: tx_late.quantile_ms(0.99),
            tx_resyncs: pacer.resyncs(),
            barge_ins,
        }
    }
}
