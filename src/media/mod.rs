//! The realtime media engine: full-duplex call audio over FreeSWITCH `unicast` (ESL.md,
//! "Media with core FreeSWITCH"). For every answered, parked call it receives the callee's
//! audio (raw L16, one 20 ms datagram per packet time), analyses it (resample to 16 kHz →
//! webrtc-vad → speech segments, Silero as a second opinion), plays prompts back over the
//! same socket paced at one frame per 20 ms, and stops them within a frame when the callee
//! barges in.
//!
//! ```text
//!  FreeSWITCH ──L16/UDP──► call task (one per call, tokio) ──frames──► analysis worker
//!     ▲                      │  ingress: source/size/dup/loss checks     (bounded threads)
//!     │                      │  player + pacer (20 ms grid)              resample → VAD →
//!     └──prompt frames───────┘  barge-in ◄──speech start/end──────────  segmenter (→ Silero)
//!                            │
//!                            └──► MediaEvent (bounded) → call driver / recogniser
//! ```
//!
//! - [`ports`]: port slots and the lease (drop guard) that frees them on every path.
//! - [`ingress`]: per-datagram checks and stream figures, dead-stream detection (sans I/O).
//! - [`player`]: prompt queue, interruption, and the pacer (sans I/O).
//! - [`prompt`]: WAV/PCM prompts converted once to the channel rate (rubato), cached.
//! - [`resample`], [`vad`], [`tone`], [`silero`], [`analysis`]: the analysis path and its
//!   thread pool.
//! - [`bargein`]: the barge-in primitive and its figures.
//! - [`call`]: the per-call task and the driver's [`CallMedia`] handle.
//! - [`metrics`]: figures (the load benchmark behind `aicall bench media` is in the binary).
//!
//! **One socket per call, from a port range** rather than one socket demultiplexed by source
//! address: FreeSWITCH sends each call from its own `local-port`, so the kernel already
//! demultiplexes; a socket per call lets each call task own its I/O with no shared map, no
//! lock and no single receive loop that would serialise every call's audio onto one core;
//! a misbehaving stream (bursts, junk) fills only its own socket buffer; and the port is
//! both the routing key and the capacity limit. The cost — one descriptor and one port per
//! call, a range to open in firewalls — is small at the scale of one FreeSWITCH (≈1,000
//! calls). Both port ranges (ours and FreeSWITCH's `local-port`) come from [`PortPlan`].
//!
//! Depends on nothing outside media: the call driver arms `unicast` on the switch and asks
//! it whether a silent channel still exists. Tests also use [`crate::sim`].

pub mod analysis;
pub mod bargein;
pub mod call;
pub mod ingress;
pub mod metrics;
pub mod player;
pub mod ports;
pub mod prompt;
pub mod resample;
pub mod silero;
pub mod tone;
pub mod vad;

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tracing::debug;

pub use bargein::{BargeIn, BargeInConfig};
pub use call::{CallError, CallMedia, CallReport, EndReason, MediaEvent};
pub use metrics::{MediaMetrics, MetricsSnapshot};
pub use player::{PlayerError, PromptId};
pub use ports::{PortError, PortLease, PortPlan, PortPool};
pub use prompt::{Prompt, PromptCache, PromptError};
pub use vad::{SpeechSegment, SpeechStart, VadConfig, VadEvent};

/// One packet time.
pub const FRAME: Duration = Duration::from_millis(20);
/// The rate of the analysis path and of speech segments.
pub const ANALYSIS_RATE: u32 = 16_000;
/// Samples in the largest frame (16 kHz × 20 ms).
pub const MAX_FRAME_SAMPLES: usize = 320;

/// Media settings (`[media]`).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct MediaConfig {
    /// aicall's address as FreeSWITCH reaches it (unicast `remote-ip`).
    pub media_ip: IpAddr,
    pub port_first: u16,
    /// Maximum concurrent calls with media.
    pub port_count: u16,
    /// FreeSWITCH's address for its side of the stream (unicast `local-ip`).
    pub switch_ip: IpAddr,
    pub switch_port_first: u16,
    /// No first frame within this long after the unicast command: the stream is dead.
    pub first_frame_ms: u64,
    /// No frame for this long: the stream (and most likely the call) is gone.
    pub dead_after_ms: u64,
    /// Analysis threads (0: one per core, at most 4).
    pub analysis_workers: usize,
    /// Prompts a call may queue.
    pub max_queue: usize,
    pub vad: VadConfig,
    pub barge_in: BargeInConfig,
    /// `silero_vad.onnx` for the second detector; none: webrtc-vad only.
    pub silero_model: Option<PathBuf>,
    pub silero_threshold: f32,
}

impl Default for MediaConfig {
    fn default() -> Self {
        Self {
            media_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port_first: 30_000,
            port_count: 2000,
            switch_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            switch_port_first: 34_000,
            first_frame_ms: 2000,
            dead_after_ms: 3000,
            analysis_workers: 0,
            max_queue: 16,
            vad: VadConfig::default(),
            barge_in: BargeInConfig::default(),
            silero_model: None,
            silero_threshold: 0.5,
        }
    }
}

impl MediaConfig {
    pub fn port_plan(&self) -> PortPlan {
        PortPlan {
            media_ip: self.media_ip,
            port_first: self.port_first,
            switch_ip: self.switch_ip,
            switch_port_first: self.switch_port_first,
            count: self.port_count,
        }
    }
}

/// Errors of the media engine.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    #[error(transparent)]
    Ports(#[from] PortError),
    #[error(transparent)]
    Vad(#[from] vad::VadError),
    #[error(transparent)]
    Silero(#[from] silero::SileroError),
    #[error("cannot start the analysis threads: {0}")]
    Threads(std::io::Error),
    #[error(
        "cannot bind a media socket in {first}..{last} ({source}); free the range or move \
         [media] port_first"
    )]
    Bind {
        first: u16,
        last: u32,
        source: std::io::Error,
    },
    #[error(
        "channel {uuid} runs at {rate} Hz; unicast media supports L16 at 8000 or 16000 Hz \
         (check the codec FreeSWITCH negotiated)"
    )]
    UnsupportedRate { uuid: String, rate: u32 },
}

/// What a call's media hands its driver.
#[derive(Debug)]
pub struct OpenedMedia {
    /// Commands to the call's media (play, stop, close).
    pub media: CallMedia,
    /// Prompt and stream events, barge-ins.
    pub events: mpsc::UnboundedReceiver<MediaEvent>,
    /// The callee's speech: starts and finished utterances, straight from the analysis
    /// threads. Never lossy: an utterance is the one event a conversation cannot lose.
    pub speech: mpsc::UnboundedReceiver<VadEvent>,
}

/// Ports leased and a socket bound for a call about to be answered.
///
/// Reserving media at originate time makes port exhaustion refuse the originate rather than
/// strand an answered callee; dropping it (busy, no answer, failure) frees the port.
#[derive(Debug)]
pub struct PreparedMedia {
    lease: PortLease,
    socket: UdpSocket,
}

impl PreparedMedia {
    pub fn lease(&self) -> &PortLease {
        &self.lease
    }
}

/// The media engine shared by all calls.
#[derive(Debug)]
pub struct MediaEngine {
    cfg: MediaConfig,
    ports: PortPool,
    analysis: analysis::AnalysisPool,
    metrics: Arc<MediaMetrics>,
    prompts: Arc<PromptCache>,
}

impl MediaEngine {
    /// Checks the settings, starts the analysis threads and, if configured, loads Silero.
    pub fn new(cfg: MediaConfig) -> Result<Self, MediaError> {
        cfg.vad.validate()?;
        let ports = PortPool::new(cfg.port_plan())?;
        let second: Option<Arc<dyn silero::SecondDetector>> = match &cfg.silero_model {
            Some(path) => Some(Arc::new(silero::Silero::load(path, cfg.silero_threshold)?)),
            None => None,
        };
        // Fail at start-up, not on the first segment, if the model cannot be instantiated.
        if let Some(s) = &second {
            s.instance()?;
        }
        let workers = match cfg.analysis_workers {
            0 => std::thread::available_parallelism().map_or(2, |n| n.get().min(4)),
            n => n,
        };
        let metrics = Arc::new(MediaMetrics::default());
        let analysis =
            analysis::AnalysisPool::start(workers, cfg.vad.clone(), second, metrics.clone())
                .map_err(MediaError::Threads)?;
        Ok(Self {
            cfg,
            ports,
            analysis,
            metrics,
            prompts: Arc::new(PromptCache::new()),
        })
    }

    pub fn config(&self) -> &MediaConfig {
        &self.cfg
    }

    pub fn metrics(&self) -> &Arc<MediaMetrics> {
        &self.metrics
    }

    pub fn prompts(&self) -> &Arc<PromptCache> {
        &self.prompts
    }

    /// Port slots held by live calls (and prepared ones).
    pub fn ports_in_use(&self) -> usize {
        self.ports.in_use()
    }

    /// Leases a port slot and binds its socket. A port another process holds is skipped.
    pub async fn prepare(&self) -> Result<PreparedMedia, MediaError> {
        let mut skipped = Vec::new();
        loop {
            let lease = self.ports.lease()?;
            match UdpSocket::bind(lease.local()).await {
                Ok(socket) => return Ok(PreparedMedia { lease, socket }),
                Err(e) if e.kind() == std::io::ErrorKind::AddrInUse && skipped.len() < 16 => {
                    debug!(port = lease.local().port(), "media port busy, skipping");
                    // Held until a slot binds, so the next lease is another port.
                    skipped.push(lease);
                }
                Err(source) => {
                    return Err(MediaError::Bind {
                        first: self.cfg.port_first,
                        last: self.cfg.port_first as u32 + self.cfg.port_count as u32 - 1,
                        source,
                    })
                }
            }
        }
    }

    /// Starts the call's media on a prepared socket. The caller then tells FreeSWITCH to
    /// stream (`unicast` with [`CallMedia::switch_addr`] as `local-ip:local-port` and
    /// [`CallMedia::local_addr`] as the remote end): media is sockets and audio, the call
    /// driver talks to the switch. `rate` is the channel's rate
    /// (`Channel-Read-Codec-Rate`); the first frame is expected within `first_frame_ms`.
    pub fn start(
        &self,
        prepared: PreparedMedia,
        uuid: &str,
        rate: u32,
    ) -> Result<OpenedMedia, MediaError> {
        self.start_with(prepared, uuid, rate, None)
    }

    /// [`MediaEngine::start`] with the call's own end-of-speech silence (a campaign's turn
    /// setting) instead of `[media] vad.end_ms`.
    pub fn start_with(
        &self,
        prepared: PreparedMedia,
        uuid: &str,
        rate: u32,
        end_ms: Option<u32>,
    ) -> Result<OpenedMedia, MediaError> {
        if rate != 8000 && rate != 16000 {
            return Err(MediaError::UnsupportedRate {
                uuid: uuid.to_owned(),
                rate,
            });
        }
        let PreparedMedia { lease, socket } = prepared;
        Ok(self.spawn(lease, socket, uuid, rate, end_ms))
    }

    /// [`MediaEngine::prepare`] then [`MediaEngine::start`].
    pub async fn open(&self, uuid: &str, rate: u32) -> Result<OpenedMedia, MediaError> {
        let prepared = self.prepare().await?;
        self.start(prepared, uuid, rate)
    }

    fn spawn(
        &self,
        lease: PortLease,
        socket: UdpSocket,
        uuid: &str,
        rate: u32,
        end_ms: Option<u32>,
    ) -> OpenedMedia {
        let unicast_sent = tokio::time::Instant::now();
        let (ev_tx, ev_rx) = mpsc::unbounded_channel();
        let (cmd_tx, cmd_rx) = mpsc::channel(call::COMMANDS);
        let (an_tx, an_rx) = mpsc::channel(call::EVENTS);
        let (speech_tx, speech_rx) = mpsc::unbounded_channel();
        let analysis = self.analysis.open(rate, end_ms, an_tx, speech_tx);
        let (local, switch) = (lease.local(), lease.switch());
        let now = unicast_sent.into_std();
        self.metrics.calls_started.fetch_add(1, Ordering::Relaxed);
        let task = call::CallTask {
            socket,
            monitor: ingress::StreamMonitor::new(rate, switch, now),
            lease,
            rate,
            player: player::Player::new(rate, self.cfg.max_queue),
            analysis,
            analysed: an_rx,
            commands: cmd_rx,
            events: ev_tx,
            metrics: self.metrics.clone(),
            barge_in: self.cfg.barge_in.clone(),
            first_within: Duration::from_millis(self.cfg.first_frame_ms),
            dead_after: Duration::from_millis(self.cfg.dead_after_ms),
            unicast_sent,
        };
        let handle = tokio::spawn(task.run());
        OpenedMedia {
            media: CallMedia {
                uuid: uuid.to_owned(),
                local,
                switch,
                commands: cmd_tx,
                task: handle,
            },
            events: ev_rx,
            speech: speech_rx,
        }
    }
}
