//! One simulated channel: originate outcomes with FreeSWITCH's event sequence and headers,
//! the callee's scripted behaviour, dialplan applications run by `sendmsg`, and `unicast`
//! media — a 20 ms clock that streams the callee's audio to aicall and plays out (and
//! records) what aicall sends back, one frame per packet time as FreeSWITCH does.

use std::collections::{BTreeMap, VecDeque};
use std::net::{SocketAddr, UdpSocket};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::{watch, Notify};
use tracing::{debug, warn};

use super::audio::load_wav_mono;
use super::scenario::{Outcome, ResolvedCallee, Step};
use super::{lock, Switch, FRAME};
use crate::esl::{Event, HangupCause, Headers};

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
    /// Every sample the callee heard, one frame per 20 ms since answer (kept only when the
    /// simulator records audio).
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

/// A finished call.
#[derive(Clone, Debug, PartialEq)]
pub struct Cdr {
    pub uuid: String,
    pub number: String,
    pub cause: HangupCause,
    pub answered: bool,
    pub billsec: u64,
    pub duration_ms: u64,
}

/// An `originate` argument string, parsed.
#[derive(Clone, Debug)]
pub(crate) struct OriginateRequest {
    pub uuid: String,
    pub vars: BTreeMap<String, String>,
    pub dial: String,
    pub number: String,
    pub app: String,
    pub app_arg: String,
    pub timeout: Duration,
    pub cid_name: String,
    pub cid_num: String,
}

impl OriginateRequest {
    /// `{vars}[vars]dialstring &app(arg)|exten [dialplan] [context] [cid_name] [cid_num] [timeout]`
    pub fn parse(args: &str) -> Option<Self> {
        let mut rest = args.trim();
        let mut vars = BTreeMap::new();
        while let Some(open) = rest.chars().next().filter(|c| *c == '{' || *c == '[') {
            let close = if open == '{' { '}' } else { ']' };
            let end = rest.find(close)?;
            for pair in rest[1..end].split(',') {
                if let Some((k, v)) = pair.split_once('=') {
                    vars.insert(k.trim().to_owned(), v.trim().trim_matches('\'').to_owned());
                }
            }
            rest = &rest[end + 1..];
        }
        let (dial, after) = rest.split_once(char::is_whitespace)?;
        let after = after.trim_start();
        let (app, app_arg, tail) = if let Some(a) = after.strip_prefix('&') {
            let open = a.find('(')?;
            let close = a.rfind(')')?;
            (
                a[..open].to_owned(),
                a[open + 1..close].to_owned(),
                &a[close + 1..],
            )
        } else {
            let (exten, tail) = after.split_once(char::is_whitespace).unwrap_or((after, ""));
            ("park".to_owned(), exten.to_owned(), tail)
        };
        if dial.is_empty() {
            return None;
        }
        let tail: Vec<&str> = tail.split_whitespace().collect();
        let last = dial.rsplit('/').next().unwrap_or(dial);
        let number = last.split(['@', ';']).next().unwrap_or(last).to_owned();
        let timeout_s = vars
            .get("originate_timeout")
            .and_then(|v| v.parse::<u64>().ok())
            .or_else(|| tail.get(4).and_then(|t| t.parse().ok()))
            .unwrap_or(60);
        let uuid = vars
            .get("origination_uuid")
            .cloned()
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let cid_name = vars
            .get("origination_caller_id_name")
            .cloned()
            .or_else(|| tail.get(2).map(|s| s.to_string()))
            .unwrap_or_default();
        let cid_num = vars
            .get("origination_caller_id_number")
            .cloned()
            .or_else(|| tail.get(3).map(|s| s.to_string()))
            .unwrap_or_default();
        Some(Self {
            uuid,
            vars,
            dial: dial.to_owned(),
            number,
            app,
            app_arg,
            timeout: Duration::from_secs(timeout_s),
            cid_name,
            cid_num,
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ChannelPhase {
    Ringing,
    Answered,
    Hangup,
    Destroyed,
}

#[derive(Debug)]
struct ChanState {
    phase: ChannelPhase,
    progressed: bool,
    answered_at: Option<Instant>,
    answered_epoch_us: u128,
    hangup_cause: Option<HangupCause>,
    ended_at: Option<Instant>,
    app: String,
    app_data: String,
}

#[derive(Debug)]
struct Unicast {
    socket: UdpSocket,
    remote: SocketAddr,
}

#[derive(Debug)]
struct Playback {
    samples: Vec<i16>,
    pos: usize,
    broken: bool,
}

#[derive(Debug, Default)]
struct Media {
    mouth: VecDeque<i16>,
    unicast: Option<Unicast>,
    unicast_allowed: bool,
    playback: Option<Playback>,
    playout: VecDeque<[i16; 320]>,
    last_bot_voice: Option<Instant>,
    bot_voice_frames: u64,
}

/// A simulated channel.
#[derive(Debug)]
pub struct Channel {
    pub uuid: String,
    pub(crate) number: String,
    name: String,
    vars: Mutex<BTreeMap<String, String>>,
    pub(crate) created_epoch_us: u128,
    created_at: Instant,
    callee: ResolvedCallee,
    req: OriginateRequest,
    state: Mutex<ChanState>,
    end: watch::Sender<bool>,
    pub(crate) recording: Arc<Mutex<Recording>>,
    record_audio: bool,
    media: Mutex<Media>,
    media_changed: Notify,
}

fn ms_since(t0: Option<Instant>, t: Instant) -> f64 {
    t0.map(|a| t.saturating_duration_since(a).as_secs_f64() * 1000.0)
        .unwrap_or(0.0)
}

impl Channel {
    pub(crate) fn new(
        req: OriginateRequest,
        callee: ResolvedCallee,
        record_audio: bool,
    ) -> Arc<Self> {
        let now = SystemTime::now();
        let created_epoch_us = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_micros();
        let name = if req.dial.contains('/') {
            req.dial.clone()
        } else {
            format!("sofia/sim/{}", req.dial)
        };
        let recording = Recording {
            rate: callee.rate,
            ..Default::default()
        };
        Arc::new(Self {
            uuid: req.uuid.clone(),
            number: req.number.clone(),
            name,
            vars: Mutex::new(req.vars.clone()),
            created_epoch_us,
            created_at: Instant::now(),
            callee,
            req,
            state: Mutex::new(ChanState {
                phase: ChannelPhase::Ringing,
                progressed: false,
                answered_at: None,
                answered_epoch_us: 0,
                hangup_cause: None,
                ended_at: None,
                app: String::new(),
                app_data: String::new(),
            }),
            end: watch::Sender::new(false),
            recording: Arc::new(Mutex::new(recording)),
            record_audio,
            media: Mutex::new(Media::default()),
            media_changed: Notify::new(),
        })
    }

    pub(crate) fn var(&self, name: &str) -> Option<String> {
        lock(&self.vars).get(name).cloned()
    }

    pub(crate) fn set_var(&self, name: &str, value: &str) {
        lock(&self.vars).insert(name.to_owned(), value.to_owned());
    }

    pub(crate) fn set_phase(&self, phase: ChannelPhase) {
        lock(&self.state).phase = phase;
    }

    fn answered_at(&self) -> Option<Instant> {
        lock(&self.state).answered_at
    }

    /// Marks the channel as hanging up; false if it already was. Media stops and its
    /// socket is released here, on every path.
    pub(crate) fn begin_hangup(&self, cause: HangupCause) -> bool {
        {
            let mut st = lock(&self.state);
            if st.hangup_cause.is_some() {
                return false;
            }
            st.hangup_cause = Some(cause);
            st.phase = ChannelPhase::Hangup;
            st.ended_at = Some(Instant::now());
        }
        {
            let mut m = lock(&self.media);
            m.unicast = None;
            m.playback = None;
        }
        self.end.send_replace(true);
        self.media_changed.notify_waiters();
        true
    }

    fn ended(&self) -> bool {
        *self.end.borrow()
    }

    async fn wait_end(&self) {
        let mut rx = self.end.subscribe();
        // `self.end` outlives this borrow, so the channel cannot close under us.
        let _ = rx.wait_for(|&e| e).await.map(|_| ());
    }

    /// Sleeps, or returns false early if the channel ends.
    async fn sleep(&self, d: Duration) -> bool {
        tokio::select! {
            _ = tokio::time::sleep(d) => !self.ended(),
            _ = self.wait_end() => false,
        }
    }

    pub(crate) fn cdr(&self) -> Cdr {
        let st = lock(&self.state);
        let end = st.ended_at.unwrap_or_else(Instant::now);
        Cdr {
            uuid: self.uuid.clone(),
            number: self.number.clone(),
            cause: st.hangup_cause.unwrap_or(HangupCause::NormalClearing),
            answered: st.answered_at.is_some(),
            billsec: st
                .answered_at
                .map(|a| end.saturating_duration_since(a).as_secs())
                .unwrap_or(0),
            duration_ms: end.saturating_duration_since(self.created_at).as_millis() as u64,
        }
    }

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

    /// `uuid_transfer <uuid> park inline`: back in the park loop, unicast may be armed again.
    pub(crate) fn repark(&self) {
        let mut m = lock(&self.media);
        m.unicast = None;
        m.unicast_allowed = true;
    }

    /// A channel event with FreeSWITCH's channel headers.
    pub(crate) fn event(&self, sw: &Switch, name: &str) -> Event {
        let mut ev = sw.stamp(name);
        let st = lock(&self.state);
        let (state, number, callstate, answer_state) = match st.phase {
            ChannelPhase::Ringing if st.progressed => {
                ("CS_CONSUME_MEDIA", "7", "RINGING", "ringing")
            }
            ChannelPhase::Ringing => ("CS_INIT", "2", "DOWN", "ringing"),
            ChannelPhase::Answered => ("CS_EXECUTE", "4", "ACTIVE", "answered"),
            ChannelPhase::Hangup => ("CS_HANGUP", "10", "HANGUP", "hangup"),
            ChannelPhase::Destroyed => ("CS_DESTROY", "12", "HANGUP", "hangup"),
        };
        let rate = self.callee.rate.to_string();
        let created = self.created_epoch_us.to_string();
        let answered = st.answered_epoch_us.to_string();
        let h = &mut ev.headers;
        h.push("Channel-State", state);
        h.push("Channel-Call-State", callstate);
        h.push("Channel-State-Number", number);
        h.push("Channel-Name", &self.name);
        h.push("Unique-ID", &self.uuid);
        h.push("Call-Direction", "outbound");
        h.push("Presence-Call-Direction", "outbound");
        h.push("Channel-HIT-Dialplan", "false");
        h.push("Channel-Call-UUID", &self.uuid);
        h.push("Answer-State", answer_state);
        h.push("Channel-Read-Codec-Name", "L16");
        h.push("Channel-Read-Codec-Rate", &rate);
        h.push(
            "Channel-Read-Codec-Bit-Rate",
            if self.callee.rate == 8000 {
                "128000"
            } else {
                "256000"
            },
        );
        h.push("Channel-Write-Codec-Name", "L16");
        h.push("Channel-Write-Codec-Rate", &rate);
        h.push(
            "Channel-Write-Codec-Bit-Rate",
            if self.callee.rate == 8000 {
                "128000"
            } else {
                "256000"
            },
        );
        h.push("Caller-Direction", "outbound");
        h.push("Caller-Logical-Direction", "outbound");
        h.push("Caller-Dialplan", "XML");
        h.push("Caller-Caller-ID-Name", &self.req.cid_name);
        h.push("Caller-Caller-ID-Number", &self.req.cid_num);
        h.push("Caller-Orig-Caller-ID-Name", &self.req.cid_name);
        h.push("Caller-Orig-Caller-ID-Number", &self.req.cid_num);
        h.push("Caller-Callee-ID-Name", "Outbound Call");
        h.push("Caller-Callee-ID-Number", &self.number);
        h.push("Caller-Network-Addr", "127.0.0.1");
        h.push("Caller-ANI", &self.req.cid_num);
        h.push("Caller-Destination-Number", &self.number);
        h.push("Caller-Unique-ID", &self.uuid);
        h.push("Caller-Source", "src/switch_ivr_originate.c");
        h.push("Caller-Context", "default");
        h.push("Caller-Channel-Name", &self.name);
        h.push("Caller-Profile-Index", "1");
        h.push("Caller-Profile-Created-Time", &created);
        h.push("Caller-Channel-Created-Time", &created);
        h.push("Caller-Channel-Answered-Time", &answered);
        h.push("Caller-Channel-Progress-Time", "0");
        h.push("Caller-Channel-Progress-Media-Time", "0");
        h.push("Caller-Channel-Hangup-Time", "0");
        h.push("Caller-Channel-Transfer-Time", "0");
        h.push("Caller-Channel-Resurrect-Time", "0");
        h.push("Caller-Channel-Bridged-Time", "0");
        h.push("Caller-Channel-Last-Hold", "0");
        h.push("Caller-Channel-Hold-Accum", "0");
        h.push("Caller-Screen-Bit", "true");
        h.push("Caller-Privacy-Hide-Name", "false");
        h.push("Caller-Privacy-Hide-Number", "false");
        h.push("variable_direction", "outbound");
        h.push("variable_uuid", &self.uuid);
        h.push("variable_call_uuid", &self.uuid);
        h.push("variable_session_id", "1");
        h.push("variable_channel_name", &self.name);
        h.push("variable_read_codec", "L16");
        h.push("variable_read_rate", &rate);
        h.push("variable_write_codec", "L16");
        h.push("variable_write_rate", &rate);
        h.push("variable_dialed_user", &self.number);
        h.push("variable_originate_early_media", "true");
        for (k, v) in lock(&self.vars).iter() {
            h.push(&format!("variable_{k}"), v);
        }
        if let Some(cause) = st.hangup_cause {
            let end = st.ended_at.unwrap_or_else(Instant::now);
            let billsec = st
                .answered_at
                .map(|a| end.saturating_duration_since(a).as_secs())
                .unwrap_or(0);
            let duration = end.saturating_duration_since(self.created_at).as_secs();
            let answersec = st
                .answered_at
                .map(|a| a.saturating_duration_since(self.created_at).as_secs())
                .unwrap_or(0);
            h.push("Hangup-Cause", cause.name());
            h.push("variable_hangup_cause", cause.name());
            h.push("variable_hangup_cause_q850", &cause.code().to_string());
            h.push("variable_billsec", &billsec.to_string());
            h.push("variable_duration", &duration.to_string());
            h.push("variable_answersec", &answersec.to_string());
            h.push(
                "variable_start_epoch",
                &(self.created_epoch_us / 1_000_000).to_string(),
            );
            h.push(
                "variable_answer_epoch",
                &(st.answered_epoch_us / 1_000_000).to_string(),
            );
            h.push(
                "variable_billmsec",
                &st.answered_at
                    .map(|a| end.saturating_duration_since(a).as_millis())
                    .unwrap_or(0)
                    .to_string(),
            );
        }
        if !st.app.is_empty() {
            h.push("variable_current_application", &st.app);
            h.push("variable_current_application_data", &st.app_data);
        }
        ev
    }

    /// A CHANNEL_EXECUTE / CHANNEL_EXECUTE_COMPLETE event.
    pub(crate) fn event_with_app(
        &self,
        sw: &Switch,
        name: &str,
        app: &str,
        data: &str,
        app_uuid: Option<&str>,
    ) -> Event {
        {
            let mut st = lock(&self.state);
            st.app = app.to_owned();
            st.app_data = data.to_owned();
        }
        let mut ev = self.event(sw, name);
        ev.headers.push("Application", app);
        ev.headers.push("Application-Data", data);
        let id = app_uuid
            .map(str::to_owned)
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        ev.headers.push("Application-UUID", &id);
        ev
    }

    /// A row of `show channels`.
    pub(crate) fn show_row(&self, sw: &Switch) -> serde_json::Value {
        let st = lock(&self.state);
        let created =
            time::OffsetDateTime::from_unix_timestamp((self.created_epoch_us / 1_000_000) as i64)
                .ok()
                .and_then(|t| {
                    t.format(time::macros::format_description!(
                        "[year]-[month]-[day] [hour]:[minute]:[second]"
                    ))
                    .ok()
                })
                .unwrap_or_default();
        let (state, callstate) = match st.phase {
            ChannelPhase::Ringing => ("CS_CONSUME_MEDIA", "RINGING"),
            ChannelPhase::Answered => ("CS_EXECUTE", "ACTIVE"),
            ChannelPhase::Hangup | ChannelPhase::Destroyed => ("CS_HANGUP", "HANGUP"),
        };
        let rate = self.callee.rate.to_string();
        let bit_rate = (self.callee.rate * 16).to_string();
        serde_json::json!({
            "uuid": self.uuid, "direction": "outbound", "created": created,
            "created_epoch": (self.created_epoch_us / 1_000_000).to_string(),
            "name": self.name, "state": state, "cid_name": self.req.cid_name,
            "cid_num": self.req.cid_num, "ip_addr": "", "dest": self.number,
            "application": st.app, "application_data": st.app_data, "dialplan": "XML",
            "context": "default", "read_codec": "L16", "read_rate": rate,
            "read_bit_rate": bit_rate, "write_codec": "L16", "write_rate": rate,
            "write_bit_rate": bit_rate, "secure": "", "hostname": sw.hostname,
            "presence_id": "", "presence_data": "", "accountcode": "", "callstate": callstate,
            "callee_name": "", "callee_num": "", "callee_direction": "", "call_uuid": "",
            "sent_callee_name": "", "sent_callee_num": "", "initial_cid_name": self.req.cid_name,
            "initial_cid_num": self.req.cid_num, "initial_ip_addr": "",
            "initial_dest": self.number, "initial_dialplan": "XML", "initial_context": "default",
        })
    }
}

/// Drives an originate to its outcome; returns the api body (`+OK <uuid>` or `-ERR CAUSE`).
pub(crate) async fn run_originate(sw: Arc<Switch>, ch: Arc<Channel>) -> String {
    let outcome = ch.callee.outcome;
    let ring = Duration::from_millis(ch.callee.ring_ms);
    let fast_fail = matches!(outcome, Outcome::Unallocated | Outcome::Rejected);
    let progress_after = Duration::from_millis(100).min(ring);
    if !fast_fail {
        if !ch.sleep(progress_after).await {
            return cancelled(&ch);
        }
        lock(&ch.state).progressed = true;
        sw.emit(ch.event(&sw, "CHANNEL_PROGRESS"));
    }
    let answers = matches!(outcome, Outcome::Answer | Outcome::Voicemail);
    let give_up = ch.req.timeout;
    let remaining = ring.saturating_sub(if fast_fail {
        Duration::ZERO
    } else {
        progress_after
    });
    let wait = if answers || outcome == Outcome::NoAnswer {
        remaining.min(give_up.saturating_sub(progress_after))
    } else {
        remaining
    };
    if !ch.sleep(wait).await {
        return cancelled(&ch);
    }
    let timed_out = ring > give_up;
    if !answers || timed_out {
        let cause = if timed_out {
            HangupCause::NoAnswer
        } else {
            outcome
                .failure_cause()
                .unwrap_or(HangupCause::NormalTemporaryFailure)
        };
        sw.hangup(&ch, cause);
        return format!("-ERR {}\n", cause.name());
    }
    {
        let mut st = lock(&ch.state);
        st.phase = ChannelPhase::Answered;
        st.answered_at = Some(Instant::now());
        st.answered_epoch_us = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_micros();
    }
    sw.emit(ch.event(&sw, "CHANNEL_ANSWER"));
    tokio::spawn(media_clock(sw.clone(), ch.clone()));
    tokio::spawn(callee_script(sw.clone(), ch.clone()));
    let (app, arg) = (ch.req.app.clone(), ch.req.app_arg.clone());
    if app == "park" {
        lock(&ch.media).unicast_allowed = true;
        sw.emit(ch.event_with_app(&sw, "CHANNEL_EXECUTE", "park", "", None));
        sw.emit(ch.event(&sw, "CHANNEL_PARK"));
    } else {
        tokio::spawn(run_app(sw.clone(), ch.clone(), app, arg, None));
    }
    format!("+OK {}\n", ch.uuid)
}

fn cancelled(ch: &Channel) -> String {
    let cause = lock(&ch.state)
        .hangup_cause
        .unwrap_or(HangupCause::OriginatorCancel);
    let cause = if cause == HangupCause::NormalClearing {
        HangupCause::OriginatorCancel
    } else {
        cause
    };
    format!("-ERR {}\n", cause.name())
}

/// Carries out a `sendmsg` on a channel; returns the reply text.
pub(crate) fn sendmsg(sw: &Arc<Switch>, ch: &Arc<Channel>, headers: &Headers) -> String {
    match headers
        .get("call-command")
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("execute") => {
            let Some(app) = headers.get("execute-app-name") else {
                return "-ERR missing execute-app-name".into();
            };
            let arg = headers.get("execute-app-arg").unwrap_or("").to_owned();
            let ev_uuid = headers.get("Event-UUID").map(str::to_owned);
            tokio::spawn(run_app(
                sw.clone(),
                ch.clone(),
                app.to_owned(),
                arg,
                ev_uuid,
            ));
            "+OK".into()
        }
        Some("hangup") => {
            let cause = headers.get("hangup-cause").map(HangupCause::from_name);
            let cause = match cause {
                Some(HangupCause::Unknown) | None => HangupCause::NormalClearing,
                Some(c) => c,
            };
            sw.hangup(ch, cause);
            "+OK".into()
        }
        Some("unicast") => {
            start_unicast(sw, ch, headers);
            "+OK".into()
        }
        Some("nomedia") | Some("xferext") => "+OK".into(),
        Some(other) => format!("-ERR unsupported call-command {other}"),
        None => "-ERR missing call-command".into(),
    }
}

fn start_unicast(sw: &Switch, ch: &Channel, headers: &Headers) {
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
        return;
    };
    let answered = lock(&ch.state).phase == ChannelPhase::Answered;
    let mut m = lock(&ch.media);
    // FreeSWITCH fails silently here: no unicast outside the park loop, none re-armed after
    // a playback until the channel is parked again.
    if !answered || !m.unicast_allowed || m.unicast.is_some() {
        debug!(uuid = %ch.uuid, "unicast refused (not parked, or already torn down)");
        return;
    }
    match UdpSocket::bind(local).and_then(|s| s.set_nonblocking(true).map(|_| s)) {
        Ok(socket) => {
            m.unicast = Some(Unicast { socket, remote });
            drop(m);
            let at = ms_since(ch.answered_at(), Instant::now());
            lock(&ch.recording).unicast_started_ms = Some(at);
            let mut ev = ch.event(sw, "PRIVATE_COMMAND");
            ev.headers.push("Event-Subclass", "unicast");
            sw.emit(ev);
        }
        Err(e) => warn!(uuid = %ch.uuid, %local, error = %e, "unicast bind failed"),
    }
}

/// Runs a dialplan application with FreeSWITCH's EXECUTE / EXECUTE_COMPLETE events.
async fn run_app(
    sw: Arc<Switch>,
    ch: Arc<Channel>,
    app: String,
    arg: String,
    ev_uuid: Option<String>,
) {
    let app_uuid = ev_uuid.unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    sw.emit(ch.event_with_app(&sw, "CHANNEL_EXECUTE", &app, &arg, Some(&app_uuid)));
    let response = match app.as_str() {
        "playback" => playback(&sw, &ch, &arg).await,
        "hangup" => {
            let cause = HangupCause::from_name(if arg.is_empty() {
                "NORMAL_CLEARING"
            } else {
                &arg
            });
            sw.hangup(
                &ch,
                if cause == HangupCause::Unknown {
                    HangupCause::NormalClearing
                } else {
                    cause
                },
            );
            return;
        }
        "park" => {
            lock(&ch.media).unicast_allowed = true;
            sw.emit(ch.event(&sw, "CHANNEL_PARK"));
            return;
        }
        "sleep" => {
            let ms = arg.trim().parse().unwrap_or(0);
            if !ch.sleep(Duration::from_millis(ms)).await {
                return;
            }
            "_none_".to_owned()
        }
        _ => "_none_".to_owned(),
    };
    if !ch.ended() {
        let mut ev =
            ch.event_with_app(&sw, "CHANNEL_EXECUTE_COMPLETE", &app, &arg, Some(&app_uuid));
        ev.headers.push("Application-Response", &response);
        sw.emit(ev);
    }
}

async fn playback(sw: &Switch, ch: &Channel, path: &str) -> String {
    let samples = match load_wav_mono(std::path::Path::new(path), ch.callee.rate) {
        Ok(s) => s,
        Err(e) => {
            warn!(error = %e, "simulated playback failed");
            return "FILE NOT FOUND".into();
        }
    };
    {
        let mut m = lock(&ch.media);
        // A FreeSWITCH playback takes the channel out of the park loop: unicast stops now
        // and cannot be re-armed until the channel is parked again.
        m.unicast = None;
        m.unicast_allowed = false;
        m.playback = Some(Playback {
            samples,
            pos: 0,
            broken: false,
        });
    }
    lock(&ch.recording).playbacks.push(path.to_owned());
    let mut ev = ch.event(sw, "PLAYBACK_START");
    ev.headers.push("Playback-File-Path", path);
    sw.emit(ev);
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
    if ch.ended() {
        return "FILE PLAYED".into();
    }
    let mut ev = ch.event(sw, "PLAYBACK_STOP");
    ev.headers.push("Playback-File-Path", path);
    ev.headers
        .push("Playback-Status", if completed { "done" } else { "break" });
    sw.emit(ev);
    "FILE PLAYED".into()
}

/// The 20 ms media clock of an answered channel.
async fn media_clock(sw: Arc<Switch>, ch: Arc<Channel>) {
    let _ = &sw;
    let spf = (ch.callee.rate / 50) as usize;
    let answered = ch.answered_at().unwrap_or_else(Instant::now);
    let mut tick = tokio::time::interval(FRAME);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut out = [0u8; 640];
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
        // Callee → aicall: the callee's mouth, or silence, every packet time.
        for (i, chunk) in out[..spf * 2].chunks_exact_mut(2).enumerate() {
            let _ = i;
            let s = m.mouth.pop_front().unwrap_or(0);
            chunk.copy_from_slice(&s.to_le_bytes());
        }
        let mut voice_now = false;
        if let Some(u) = &m.unicast {
            if u.socket.send_to(&out[..spf * 2], u.remote).is_ok() {
                rec.tx_frames += 1;
            }
            // aicall → callee: everything that arrived since the last tick.
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
        }
        if ch.record_audio {
            rec.heard.extend_from_slice(&heard[..spf]);
        }
        drop(rec);
        drop(m);
        ch.media_changed.notify_waiters();
    }
}

/// Plays the callee's script after answer.
async fn callee_script(sw: Arc<Switch>, ch: Arc<Channel>) {
    let rate = ch.callee.rate;
    let answered = ch.answered_at().unwrap_or_else(Instant::now);
    for step in ch.callee.script.clone() {
        if ch.ended() {
            return;
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
                let queued = {
                    let mut m = lock(&ch.media);
                    let before = m.mouth.len();
                    m.mouth.extend(samples.iter().copied());
                    before
                };
                let start_ms =
                    ms_since(Some(answered), Instant::now()) + queued as f64 * 1000.0 / rate as f64;
                let dur_ms = samples.len() as f64 * 1000.0 / rate as f64;
                lock(&ch.recording).callee_speech.push(SpeechSpan {
                    start_ms,
                    end_ms: start_ms + dur_ms,
                    file: path.display().to_string(),
                });
                let total = Duration::from_secs_f64((queued + samples.len()) as f64 / rate as f64);
                if !ch.sleep(total).await {
                    return;
                }
            }
            Step::SilenceMs(ms) => {
                if !ch.sleep(Duration::from_millis(ms)).await {
                    return;
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
                        return;
                    }
                }
            }
            Step::Dtmf(digits) => {
                for d in digits.chars() {
                    let mut ev = ch.event(&sw, "DTMF");
                    ev.headers.push("DTMF-Digit", &d.to_string());
                    ev.headers.push("DTMF-Duration", "2000");
                    ev.headers.push("DTMF-Source", "RTP");
                    sw.emit(ev);
                    if !ch.sleep(Duration::from_millis(120)).await {
                        return;
                    }
                }
            }
            Step::Hangup(cause) => {
                sw.hangup(&ch, HangupCause::from_name(&cause));
                return;
            }
        }
    }
    // Script done: the callee stays on the line, silent, until aicall ends the call or the
    // callee gives up.
    let limit = Duration::from_millis(ch.callee.max_call_ms);
    let elapsed = answered.elapsed();
    if ch.sleep(limit.saturating_sub(elapsed)).await {
        sw.hangup(&ch, HangupCause::NormalClearing);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn originate_parsing() {
        let r = OriginateRequest::parse(
            "{origination_uuid=abc,originate_timeout=20,sim_scenario=busy}sofia/gateway/gw1/13800138000 &park()",
        )
        .expect("valid originate");
        assert_eq!(r.uuid, "abc");
        assert_eq!(r.number, "13800138000");
        assert_eq!(r.app, "park");
        assert_eq!(r.timeout, Duration::from_secs(20));
        assert_eq!(r.vars.get("sim_scenario").map(String::as_str), Some("busy"));
        let r = OriginateRequest::parse("loopback/7000/default 7000 XML default Bot 1000 30")
            .expect("valid originate");
        assert_eq!(r.number, "default");
        assert_eq!(r.cid_num, "1000");
        assert_eq!(r.timeout, Duration::from_secs(30));
        let r = OriginateRequest::parse("user/1000@example.com &playback(/tmp/a b.wav)")
            .expect("valid originate");
        assert_eq!(
            (r.number.as_str(), r.app.as_str(), r.app_arg.as_str()),
            ("1000", "playback", "/tmp/a b.wav")
        );
        assert!(OriginateRequest::parse("").is_none());
        assert!(OriginateRequest::parse("{unterminated").is_none());
    }
}
