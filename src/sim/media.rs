//! A channel's audio: the `unicast` socket (a 20 ms clock that streams what the far end says
//! to aicall as L16 datagrams and plays out — and records — what aicall sends back, one frame
//! per packet time as FreeSWITCH does), FreeSWITCH's own `playback` heard by the far end, the
//! scenario callee's script, and the taps of eavesdropping legs, which hear both directions.

use std::collections::VecDeque;
use std::net::{SocketAddr, UdpSocket};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tracing::{debug, warn};

use super::audio::load_wav_mono;
use super::channel::Channel;
use super::scenario::Step;
use super::{lock, Switch, FRAME};
use crate::esl::{HangupCause, Headers};

/// Frames aicall may run ahead of real time before FreeSWITCH drops them (it keeps no
/// buffer to speak of: ESL.md measured half lost at 2× speed).
const PLAYOUT_SLACK_FRAMES: usize = 3;
/// A received frame louder than this (peak) counts as the bot speaking.
const VOICE_PEAK: i16 = 200;

/// A datagram aicall sent to the callee.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RxDatagram {
    /// Milliseconds since answer.
    pub at_ms: f64,
    pub len: usize,
    /// Not digital silence.
    pub voice: bool,
}

/// A span of the callee's own speech, in ms since answer.
#[derive(Clone, Debug, PartialEq)]
pub struct SpeechSpan {
    pub start_ms: f64,
    pub end_ms: f64,
    pub file: String,
}

/// What happened on a channel's media, for tests and benchmarks.
#[derive(Clone, Debug, Default)]
pub struct Recording {
    pub rate: u32,
    /// Every sample delivered to the far end of this leg, one frame per 20 ms since answer
    /// (kept only when the simulator records audio): what the callee heard — or, on an
    /// eavesdropping leg, what the supervisor heard of the call listened to.
    pub heard: Vec<i16>,
    /// Every datagram received from aicall (kept only when recording audio).
    pub datagrams: Vec<RxDatagram>,
    pub rx_datagrams: u64,
    pub rx_odd_sized: u64,
    /// Frames dropped because aicall ran ahead of real time.
    pub rx_dropped: u64,
    /// Frames of callee audio sent to aicall.
    pub tx_frames: u64,
    pub callee_speech: Vec<SpeechSpan>,
    pub first_bot_voice_ms: Option<f64>,
    pub last_bot_voice_ms: Option<f64>,
    /// The last datagram from aicall (voiced or not), kept even when not recording audio.
    pub last_rx_ms: Option<f64>,
    pub unicast_started_ms: Option<f64>,
    pub playbacks: Vec<String>,
}

/// An eavesdropping leg: its recording, and the loopback partner that reads what it hears.
#[derive(Debug)]
pub(crate) struct Tap {
    rec: Arc<Mutex<Recording>>,
    relay: Option<std::sync::Weak<Channel>>,
}

/// The most a leg's far end keeps of relayed audio nobody streams (FreeSWITCH buffers
/// next to nothing): one second at 16 kHz.
const RELAY_MAX: usize = 16_000;

#[derive(Debug)]
struct Unicast {
    socket: UdpSocket,
    remote: SocketAddr,
}

#[derive(Debug)]
pub(crate) struct Playback {
    samples: Vec<i16>,
    pos: usize,
    broken: bool,
}

/// The audio state of a leg.
#[derive(Debug, Default)]
pub(crate) struct Media {
    /// What the far end says, waiting to be streamed (callee speech, the other loopback
    /// leg's playback).
    pub mouth: VecDeque<i16>,
    unicast: Option<Unicast>,
    pub unicast_allowed: bool,
    pub playback: Option<Playback>,
    playout: VecDeque<[i16; 320]>,
    pub last_bot_voice: Option<Instant>,
    pub bot_voice_frames: u64,
    /// The legs eavesdropping on this one.
    pub taps: Vec<Tap>,
    /// The leg `uuid_bridge` joined this one to: what this leg's far end says goes to it.
    pub peer: Option<std::sync::Weak<Channel>>,
    /// What the bridged leg's far end said, waiting to be heard on this one.
    pub from_peer: VecDeque<i16>,
    clock_running: bool,
}

fn ms_since(t0: Option<Instant>, t: Instant) -> f64 {
    t0.map(|a| t.saturating_duration_since(a).as_secs_f64() * 1000.0)
        .unwrap_or(0.0)
}

impl Channel {
    /// Stops a running playback and tears unicast down, as `uuid_break` does.
    pub(crate) fn break_media(&self) {
        let mut m = lock(&self.media);
        if let Some(p) = &mut m.playback {
            p.broken = true;
        }
        m.unicast = None;
        m.unicast_allowed = false;
        drop(m);
        self.media_changed.notify_waiters();
    }

    /// Back in the park loop: unicast may be armed (again).
    pub(crate) fn allow_unicast(&self) {
        let mut m = lock(&self.media);
        m.unicast = None;
        m.unicast_allowed = true;
    }

    /// Out of the park loop: unicast stops and cannot be re-armed until the next park.
    pub(crate) fn stop_unicast(&self) {
        let mut m = lock(&self.media);
        m.unicast = None;
        m.unicast_allowed = false;
    }

    /// Releases the media socket (hangup).
    pub(crate) fn release_media(&self) {
        let mut m = lock(&self.media);
        m.unicast = None;
        m.playback = None;
        drop(m);
        self.media_changed.notify_waiters();
    }

    /// Queues what the far end says on this leg.
    pub(crate) fn speak(&self, samples: &[i16]) -> usize {
        let mut m = lock(&self.media);
        let before = m.mouth.len();
        m.mouth.extend(samples.iter().copied());
        before
    }

    /// Adds an eavesdropper: its recording hears both directions of this leg, and so does
    /// `relay` (the eavesdropping loopback leg's partner, which reads what it hears).
    pub(crate) fn add_tap(
        &self,
        rec: Arc<Mutex<Recording>>,
        relay: Option<std::sync::Weak<Channel>>,
    ) {
        lock(&self.media).taps.push(Tap { rec, relay });
    }

    pub(crate) fn remove_tap(&self, rec: &Arc<Mutex<Recording>>) {
        lock(&self.media).taps.retain(|t| !Arc::ptr_eq(&t.rec, rec));
    }
}

/// `sendmsg` `call-command: unicast`: binds `local-ip:local-port` and streams to
/// `remote-ip:remote-port`. Returns false when FreeSWITCH would fail silently (not parked,
/// or torn down after a playback).
pub(crate) fn start_unicast(ch: &Channel, headers: &Headers) -> bool {
    let addr = |ip: &str, port: &str| -> Option<SocketAddr> {
        format!("{}:{}", headers.get(ip)?, headers.get(port)?)
            .parse()
            .ok()
    };
    let (Some(local), Some(remote)) = (
        addr("local-ip", "local-port"),
        addr("remote-ip", "remote-port"),
    ) else {
        warn!(uuid = %ch.uuid, "unicast without valid local/remote addresses ignored");
        return false;
    };
    let answered = ch.answered_at().is_some() || ch.with(|st| st.answer_state_is_early());
    let mut m = lock(&ch.media);
    // FreeSWITCH fails silently here: no unicast outside the park loop, none re-armed after
    // a playback until the channel is parked again.
    if !answered || !m.unicast_allowed || m.unicast.is_some() {
        debug!(uuid = %ch.uuid, "unicast refused (not parked, or already torn down)");
        return false;
    }
    match UdpSocket::bind(local).and_then(|s| s.set_nonblocking(true).map(|_| s)) {
        Ok(socket) => {
            m.unicast = Some(Unicast { socket, remote });
            drop(m);
            let at = ms_since(ch.answered_at(), Instant::now());
            lock(&ch.recording).unicast_started_ms = Some(at);
            true
        }
        Err(e) => {
            warn!(uuid = %ch.uuid, %local, error = %e, "unicast bind failed");
            false
        }
    }
}

/// Plays `samples` on `ch` as FreeSWITCH's `playback` does: a leg with its own media clock
/// (an originated leg whose far end is a callee) delivers them frame by frame to the far
/// end; a loopback B leg sends them to its A leg, whose unicast streams them. Returns true
/// when the whole file played.
pub(crate) async fn play(ch: &Channel, far_end: Option<&Channel>, samples: Vec<i16>) -> bool {
    let len = samples.len();
    match far_end {
        Some(a) => {
            a.speak(&samples);
            ch.sleep(Duration::from_secs_f64(len as f64 / ch.rate as f64))
                .await
        }
        None => {
            {
                let mut m = lock(&ch.media);
                // A FreeSWITCH playback takes the channel out of the park loop: unicast
                // stops now and cannot be re-armed until the channel is parked again.
                m.unicast = None;
                m.unicast_allowed = false;
                m.playback = Some(Playback {
                    samples,
                    pos: 0,
                    broken: false,
                });
            }
            if !lock(&ch.media).clock_running {
                // No clock to pace it: the playback simply lasts as long as the file.
                let done = ch
                    .sleep(Duration::from_secs_f64(len as f64 / ch.rate as f64))
                    .await;
                lock(&ch.media).playback = None;
                return done;
            }
            let completed = loop {
                let notified = ch.media_changed.notified();
                {
                    let m = lock(&ch.media);
                    match &m.playback {
                        None => break false,
                        Some(p) if p.broken => break false,
                        Some(p) if p.pos >= p.samples.len() => break true,
                        Some(_) => {}
                    }
                }
                tokio::select! {
                    _ = notified => {}
                    _ = tokio::time::sleep(FRAME) => {}
                }
            };
            lock(&ch.media).playback = None;
            completed && !ch.ended()
        }
    }
}

/// Reads a file for `playback` at the channel's rate.
pub(crate) fn load(ch: &Channel, path: &str) -> Option<Vec<i16>> {
    match load_wav_mono(std::path::Path::new(path), ch.rate) {
        Ok(s) => Some(s),
        Err(e) => {
            warn!(error = %e, "simulated playback failed");
            None
        }
    }
}

/// The 20 ms media clock of an answered (or early) leg. Runs until the channel ends.
pub(crate) async fn media_clock(ch: Arc<Channel>) {
    {
        let mut m = lock(&ch.media);
        if m.clock_running {
            return;
        }
        m.clock_running = true;
    }
    let spf = (ch.rate / 50) as usize;
    let answered = ch.answered_at().unwrap_or_else(Instant::now);
    let mut tick = tokio::time::interval(FRAME);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut out = [0u8; 640];
    let mut said = [0i16; 320];
    let mut inbuf = [0u8; 2048];
    loop {
        let scheduled = tokio::select! {
            t = tick.tick() => t,
            _ = ch.wait_end() => return,
        };
        let now = Instant::now();
        // When this task runs late (a loaded machine), the missed ticks follow at once
        // and will play out what arrived meanwhile: only frames beyond that are early.
        let late_frames = (now
            .saturating_duration_since(scheduled.into_std())
            .as_millis()
            / FRAME.as_millis()) as usize;
        let at_ms = now.saturating_duration_since(answered).as_secs_f64() * 1000.0;
        let mut m = lock(&ch.media);
        let mut rec = lock(&ch.recording);
        // Far end → aicall: what the far end says, or silence, every packet time.
        for (s, chunk) in said[..spf]
            .iter_mut()
            .zip(out[..spf * 2].chunks_exact_mut(2))
        {
            *s = m.mouth.pop_front().unwrap_or(0);
            chunk.copy_from_slice(&s.to_le_bytes());
        }
        let mut voice_now = false;
        if let Some(u) = &m.unicast {
            if u.socket.send_to(&out[..spf * 2], u.remote).is_ok() {
                rec.tx_frames += 1;
            }
            // aicall → far end: everything that arrived since the last tick.
            let mut arrived = Vec::new();
            while let Ok((n, _from)) = u.socket.recv_from(&mut inbuf) {
                let mut frame = [0i16; 320];
                let samples = (n / 2).min(320);
                for (k, s) in frame.iter_mut().take(samples).enumerate() {
                    *s = i16::from_le_bytes([inbuf[2 * k], inbuf[2 * k + 1]]);
                }
                let voice = frame[..samples]
                    .iter()
                    .any(|s| s.unsigned_abs() > VOICE_PEAK as u16);
                rec.rx_datagrams += 1;
                rec.last_rx_ms = Some(at_ms);
                if n != spf * 2 {
                    rec.rx_odd_sized += 1;
                }
                if ch.record_audio {
                    rec.datagrams.push(RxDatagram {
                        at_ms,
                        len: n,
                        voice,
                    });
                }
                if voice {
                    voice_now = true;
                    rec.first_bot_voice_ms.get_or_insert(at_ms);
                    rec.last_bot_voice_ms = Some(at_ms);
                }
                arrived.push(frame);
            }
            for frame in arrived {
                if m.playout.len() >= PLAYOUT_SLACK_FRAMES + late_frames {
                    m.playout.pop_front();
                    rec.rx_dropped += 1;
                }
                m.playout.push_back(frame);
            }
        }
        if voice_now {
            m.last_bot_voice = Some(now);
            m.bot_voice_frames += 1;
        }
        // Play out one frame: a FreeSWITCH playback, else aicall's audio, else silence.
        let mut heard = [0i16; 320];
        if let Some(p) = &mut m.playback {
            if !p.broken {
                let end = (p.pos + spf).min(p.samples.len());
                heard[..end - p.pos].copy_from_slice(&p.samples[p.pos..end]);
                p.pos = end;
            }
        } else if let Some(f) = m.playout.pop_front() {
            heard = f;
        } else if m.peer.is_some() {
            // Bridged: this leg's far end hears the other leg's.
            for s in &mut heard[..spf] {
                *s = m.from_peer.pop_front().unwrap_or(0);
            }
        }
        let peer = m.peer.as_ref().and_then(std::sync::Weak::upgrade);
        if ch.record_audio {
            rec.heard.extend_from_slice(&heard[..spf]);
        }
        drop(rec);
        // Eavesdroppers hear both directions of the call.
        let mut relayed = Vec::new();
        let mut mixed_frame = Vec::new();
        if !m.taps.is_empty() {
            let mixed: Vec<i16> = said[..spf]
                .iter()
                .zip(&heard[..spf])
                .map(|(&a, &b)| a.saturating_add(b))
                .collect();
            for tap in &m.taps {
                lock(&tap.rec).heard.extend_from_slice(&mixed);
                // (A real switch would transcode; the simulator relays equal rates only.)
                if let Some(r) = tap
                    .relay
                    .as_ref()
                    .and_then(std::sync::Weak::upgrade)
                    .filter(|r| r.rate == ch.rate)
                {
                    relayed.push(r);
                }
            }
            if !relayed.is_empty() {
                mixed_frame = mixed;
            }
        }
        drop(m);
        // Locked after this leg's media is released, as for a bridged peer.
        for r in relayed {
            let mut rm = lock(&r.media);
            rm.mouth.extend(&mixed_frame);
            let excess = rm.mouth.len().saturating_sub(RELAY_MAX);
            rm.mouth.drain(..excess);
        }
        if let Some(p) = peer.filter(|p| p.rate == ch.rate) {
            // Locked after this leg's media is released: two bridged clocks never wait on
            // each other. A few frames of slack, as a real bridge's jitter buffer.
            let mut pm = lock(&p.media);
            pm.from_peer.extend(&said[..spf]);
            let excess = pm
                .from_peer
                .len()
                .saturating_sub(spf * (PLAYOUT_SLACK_FRAMES + 2));
            pm.from_peer.drain(..excess);
        }
        ch.media_changed.notify_waiters();
    }
}

/// Plays the scenario callee's script after answer. `far_end_hangup` ends the call from the
/// callee's side.
pub(crate) async fn callee_script(sw: Arc<Switch>, ch: Arc<Channel>) {
    let Some(callee) = ch.callee.clone() else {
        return;
    };
    let answered = ch.answered_at().unwrap_or_else(Instant::now);
    if !play_steps(&sw, &ch, &callee.script, answered).await {
        return;
    }
    // Script done: the callee stays on the line, silent, until aicall ends the call or the
    // callee gives up.
    let limit = Duration::from_millis(callee.max_call_ms);
    let elapsed = answered.elapsed();
    if ch.sleep(limit.saturating_sub(elapsed)).await {
        sw.far_end_hangup(&ch, HangupCause::NormalClearing);
    }
}

/// Plays scenario steps on the channel, the times of its speech counted from `t0`; false
/// when the call ended (or a `hangup` step ended it).
pub(crate) async fn play_steps(
    sw: &Arc<Switch>,
    ch: &Arc<Channel>,
    steps: &[Step],
    t0: Instant,
) -> bool {
    let rate = ch.rate;
    for step in steps.iter().cloned() {
        if ch.ended() {
            return false;
        }
        match step {
            Step::Say(path) => {
                let samples = match load_wav_mono(&path, rate) {
                    Ok(s) => s,
                    Err(e) => {
                        warn!(error = %e, "simulated callee cannot speak");
                        continue;
                    }
                };
                let queued = ch.speak(&samples);
                let start_ms =
                    ms_since(Some(t0), Instant::now()) + queued as f64 * 1000.0 / rate as f64;
                let dur_ms = samples.len() as f64 * 1000.0 / rate as f64;
                lock(&ch.recording).callee_speech.push(SpeechSpan {
                    start_ms,
                    end_ms: start_ms + dur_ms,
                    file: path.display().to_string(),
                });
                let total = Duration::from_secs_f64((queued + samples.len()) as f64 / rate as f64);
                if !ch.sleep(total).await {
                    return false;
                }
            }
            Step::SilenceMs(ms) => {
                if !ch.sleep(Duration::from_millis(ms)).await {
                    return false;
                }
            }
            Step::WaitBotAudio(ms) => {
                let deadline = tokio::time::Instant::now() + Duration::from_millis(ms);
                let start = lock(&ch.media).bot_voice_frames;
                loop {
                    let notified = ch.media_changed.notified();
                    if lock(&ch.media).bot_voice_frames > start || ch.ended() {
                        break;
                    }
                    tokio::select! {
                        _ = notified => {}
                        _ = tokio::time::sleep_until(deadline) => break,
                    }
                }
            }
            Step::WaitBotSilenceMs(ms) => {
                let step_start = Instant::now();
                loop {
                    let last = lock(&ch.media)
                        .last_bot_voice
                        .map_or(step_start, |l| l.max(step_start));
                    let deadline = last + Duration::from_millis(ms);
                    let now = Instant::now();
                    if now >= deadline {
                        break;
                    }
                    if !ch.sleep(deadline - now).await {
                        return false;
                    }
                }
            }
            Step::Dtmf(digits) => {
                for d in digits.chars() {
                    let digit = d.to_string();
                    sw.fire(
                        ch,
                        "DTMF",
                        &[],
                        &[
                            ("DTMF-Digit", &digit),
                            ("DTMF-Duration", "2000"),
                            ("DTMF-Source", "RTP"),
                        ],
                    );
                    if !ch.sleep(Duration::from_millis(120)).await {
                        return false;
                    }
                }
            }
            Step::Hangup(cause) => {
                sw.far_end_hangup(ch, HangupCause::from_name(&cause));
                return false;
            }
        }
    }
    true
}
