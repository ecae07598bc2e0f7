//! One simulated channel: its FreeSWITCH state (running state, state number, call state,
//! answer state), caller profile, variables and current application, and the headers every
//! channel event carries, in FreeSWITCH's order — `Channel-*`, `Caller-*`, `Other-Leg-*`,
//! `variable_*`. The call flows that change this state live in [`super::call`], the audio in
//! [`super::media`].

use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::{watch, Notify};

use super::lock;
use super::media::{Media, Recording};
use super::scenario::ResolvedCallee;
use crate::esl::{Event, HangupCause, Headers};

/// FreeSWITCH's channel states (`switch_channel_state_t`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Cs {
    Init,
    Routing,
    SoftExecute,
    Execute,
    ConsumeMedia,
    Hibernate,
    Hangup,
    Reporting,
    Destroy,
}

impl Cs {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Cs::Init => "CS_INIT",
            Cs::Routing => "CS_ROUTING",
            Cs::SoftExecute => "CS_SOFT_EXECUTE",
            Cs::Execute => "CS_EXECUTE",
            Cs::ConsumeMedia => "CS_CONSUME_MEDIA",
            Cs::Hibernate => "CS_HIBERNATE",
            Cs::Hangup => "CS_HANGUP",
            Cs::Reporting => "CS_REPORTING",
            Cs::Destroy => "CS_DESTROY",
        }
    }

    fn number(self) -> u8 {
        match self {
            Cs::Init => 1,
            Cs::Routing => 2,
            Cs::SoftExecute => 3,
            Cs::Execute => 4,
            Cs::ConsumeMedia => 7,
            Cs::Hibernate => 8,
            Cs::Hangup => 10,
            Cs::Reporting => 11,
            Cs::Destroy => 12,
        }
    }
}

/// `Channel-Call-State`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CallState {
    Down,
    Ringing,
    Early,
    Active,
    Hangup,
}

impl CallState {
    pub(crate) fn name(self) -> &'static str {
        match self {
            CallState::Down => "DOWN",
            CallState::Ringing => "RINGING",
            CallState::Early => "EARLY",
            CallState::Active => "ACTIVE",
            CallState::Hangup => "HANGUP",
        }
    }
}

/// `Answer-State`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AnswerState {
    Ringing,
    Early,
    Answered,
    Hangup,
}

impl AnswerState {
    fn name(self) -> &'static str {
        match self {
            AnswerState::Ringing => "ringing",
            AnswerState::Early => "early",
            AnswerState::Answered => "answered",
            AnswerState::Hangup => "hangup",
        }
    }
}

/// A caller profile (`switch_caller_profile_t`), written as `Caller-*` (or `Other-Leg-*`)
/// headers. Empty strings are left out, as FreeSWITCH does.
#[derive(Clone, Debug, Default)]
pub(crate) struct Profile {
    pub direction: &'static str,
    /// Empty: the same as `direction`.
    pub logical_direction: &'static str,
    pub dialplan: String,
    pub caller_id_name: String,
    pub caller_id_number: String,
    pub orig_caller_id_name: String,
    pub orig_caller_id_number: String,
    pub callee_id_name: String,
    pub callee_id_number: String,
    pub ani: String,
    pub destination_number: String,
    pub unique_id: String,
    pub source: String,
    pub transfer_source: String,
    pub context: String,
    pub rdnis: String,
    pub channel_name: String,
    pub profile_index: u32,
    pub created_us: u128,
    pub answered_us: u128,
    pub progress_us: u128,
    pub progress_media_us: u128,
    pub hangup_us: u128,
    pub transfer_us: u128,
    pub bridged_us: u128,
}

/// Writes a profile with `prefix` (`Caller`, `Other-Leg`, `Channel`).
pub(crate) fn write_profile(p: &Profile, prefix: &str, h: &mut Headers) {
    p.write(prefix, true, h);
}

impl Profile {
    fn write(&self, prefix: &str, with_index: bool, h: &mut Headers) {
        let mut put = |name: &str, value: &str| {
            if !value.is_empty() {
                h.push(&format!("{prefix}-{name}"), value);
            }
        };
        let other = !with_index;
        put("Direction", self.direction);
        // The other leg's copy of a profile always reads inbound (as recorded).
        put(
            "Logical-Direction",
            if other {
                "inbound"
            } else if self.logical_direction.is_empty() {
                self.direction
            } else {
                self.logical_direction
            },
        );
        put("Dialplan", &self.dialplan);
        put("Caller-ID-Name", &self.caller_id_name);
        put("Caller-ID-Number", &self.caller_id_number);
        put("Orig-Caller-ID-Name", &self.orig_caller_id_name);
        put("Orig-Caller-ID-Number", &self.orig_caller_id_number);
        put("Callee-ID-Name", &self.callee_id_name);
        put("Callee-ID-Number", &self.callee_id_number);
        put("ANI", &self.ani);
        put("Destination-Number", &self.destination_number);
        put("Unique-ID", &self.unique_id);
        put("Source", &self.source);
        if !other {
            put("Transfer-Source", &self.transfer_source);
        }
        put("Context", &self.context);
        put("RDNIS", &self.rdnis);
        put("Channel-Name", &self.channel_name);
        if with_index {
            put("Profile-Index", &self.profile_index.to_string());
        }
        let times = [
            ("Profile-Created-Time", self.created_us),
            ("Channel-Created-Time", self.created_us),
            ("Channel-Answered-Time", self.answered_us),
            ("Channel-Progress-Time", self.progress_us),
            ("Channel-Progress-Media-Time", self.progress_media_us),
            ("Channel-Hangup-Time", self.hangup_us),
            ("Channel-Transfer-Time", self.transfer_us),
            ("Channel-Resurrect-Time", 0),
            ("Channel-Bridged-Time", self.bridged_us),
            ("Channel-Last-Hold", 0),
            ("Channel-Hold-Accum", 0),
        ];
        for (name, t) in times {
            h.push(&format!("{prefix}-{name}"), &t.to_string());
        }
        h.push(&format!("{prefix}-Screen-Bit"), "true");
        h.push(&format!("{prefix}-Privacy-Hide-Name"), "false");
        h.push(&format!("{prefix}-Privacy-Hide-Number"), "false");
    }
}

/// The application a channel is running.
#[derive(Clone, Debug)]
pub(crate) struct App {
    pub name: String,
    pub data: String,
    pub uuid: String,
}

/// What the far end of an originated leg has done so far (the A leg's originate waits on it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Peer {
    Waiting,
    Progress,
    Early,
    Answered,
}

/// Something asked of a parked channel from outside its own task.
#[derive(Clone, Debug)]
pub(crate) enum Interrupt {
    /// `uuid_transfer` to `dest` in `context` (None: `park inline`).
    Transfer {
        dest: String,
        context: Option<String>,
    },
    /// `uuid_bridge`: join the other channel.
    Bridge { other: String, role: BridgeRole },
    /// Leave the park and let the dialplan end (a bridged loopback A leg's partner when the
    /// A leg hangs up).
    Stop,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BridgeRole {
    A,
    B,
}

/// The mutable part of a channel.
#[derive(Debug)]
pub(crate) struct ChanState {
    pub name: String,
    pub outbound: bool,
    pub running: Cs,
    pub state: Cs,
    pub call_state: CallState,
    pub answer_state: AnswerState,
    pub hit_dialplan: bool,
    pub profile: Profile,
    vars: Vec<(String, String)>,
    /// `Other-Type` and the other leg's profile (bridged or originating legs).
    pub other: Option<(&'static str, Profile)>,
    pub cause: Option<HangupCause>,
    pub answered_at: Option<Instant>,
    pub ended_at: Option<Instant>,
    pub app: Option<App>,
    pub parked: bool,
    /// The other leg of a loopback pair.
    pub partner: Option<String>,
    pub bridged_to: Option<String>,
    /// Hung up while the leg `bridged_to` names, one of a loopback pair, was still up:
    /// decided at the hangup, while that leg is surely still in the switch.
    pub left_bridge_first: bool,
    pub peer: Peer,
    pub interrupt: Option<Interrupt>,
    /// Set once the channel's events up to DESTROY have fired.
    pub destroyed: bool,
    /// Its outbound socket's controller sent `connect`.
    pub socket_connected: bool,
    /// Its outbound socket is closed.
    pub socket_closed: bool,
    /// mod_callcenter let the member go (no agent in time).
    pub queue_left: bool,
    /// The application run last (`variable_last_app` once hung up).
    pub last_app: Option<String>,
    /// Goes to CS_DESTROY before waiting for what holds it (callcenter's member thread
    /// holds the member session past that point; other holders keep it at REPORTING).
    pub destroy_while_held: bool,
}

/// A simulated channel.
#[derive(Debug)]
pub struct Channel {
    pub uuid: String,
    /// The dialled number (CDRs, logs through [`crate::pii::Pii`]).
    pub(crate) number: String,
    pub(crate) created_epoch_us: u128,
    created_at: Instant,
    pub(crate) st: Mutex<ChanState>,
    /// Bumped on every change a task may wait for.
    changed: watch::Sender<u64>,
    /// True once hung up.
    end: watch::Sender<bool>,
    /// True once CHANNEL_HANGUP_COMPLETE has fired (an outbound socket lingers or closes).
    pub(crate) hangup_done: watch::Sender<bool>,
    /// How many hold the channel after its hangup (an outbound socket lingering,
    /// mod_callcenter's end-of-call events): its DESTROY waits for none.
    pub(crate) held: watch::Sender<u32>,
    /// `sendmsg` work queued for the channel's session thread.
    pub(crate) messages: Mutex<Option<tokio::sync::mpsc::UnboundedSender<super::call::Message>>>,
    /// The scenario callee at the far end of this leg, when there is one: its audio is
    /// what this leg's unicast streams.
    pub(crate) callee: Option<ResolvedCallee>,
    pub(crate) rate: u32,
    pub(crate) recording: Arc<Mutex<Recording>>,
    pub(crate) record_audio: bool,
    pub(crate) media: Mutex<Media>,
    pub(crate) media_changed: Notify,
    /// The switch generation it belongs to (a crash starts a new one).
    pub(crate) generation: AtomicU64,
    /// A call rather than a second leg: it gets a CDR.
    pub(crate) counts_as_call: bool,
}

pub(crate) fn epoch_us() -> u128 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_micros()
}

/// How a new channel starts.
pub(crate) struct NewChannel {
    pub uuid: String,
    pub name: String,
    pub number: String,
    pub outbound: bool,
    pub profile: Profile,
    pub vars: Vec<(String, String)>,
    pub callee: Option<ResolvedCallee>,
    pub rate: u32,
    pub record_audio: bool,
    pub counts_as_call: bool,
}

impl Channel {
    pub(crate) fn new(n: NewChannel) -> Arc<Self> {
        let created_epoch_us = epoch_us();
        let mut profile = n.profile;
        profile.unique_id = n.uuid.clone();
        profile.channel_name = n.name.clone();
        profile.created_us = created_epoch_us;
        if profile.profile_index == 0 {
            profile.profile_index = 1;
        }
        let recording = Recording {
            rate: n.rate,
            ..Default::default()
        };
        Arc::new(Self {
            uuid: n.uuid,
            number: n.number,
            created_epoch_us,
            created_at: Instant::now(),
            st: Mutex::new(ChanState {
                name: n.name,
                outbound: n.outbound,
                running: Cs::Init,
                state: Cs::Routing,
                call_state: CallState::Down,
                answer_state: AnswerState::Ringing,
                hit_dialplan: !n.outbound,
                profile,
                vars: n.vars,
                other: None,
                cause: None,
                answered_at: None,
                ended_at: None,
                app: None,
                parked: false,
                partner: None,
                bridged_to: None,
                left_bridge_first: false,
                peer: Peer::Waiting,
                interrupt: None,
                destroyed: false,
                socket_connected: false,
                socket_closed: false,
                queue_left: false,
                last_app: None,
                destroy_while_held: false,
            }),
            changed: watch::Sender::new(0),
            end: watch::Sender::new(false),
            hangup_done: watch::Sender::new(false),
            held: watch::Sender::new(0),
            messages: Mutex::new(None),
            callee: n.callee,
            rate: n.rate,
            recording: Arc::new(Mutex::new(recording)),
            record_audio: n.record_audio,
            media: Mutex::new(Media::default()),
            media_changed: Notify::new(),
            generation: AtomicU64::new(0),
            counts_as_call: n.counts_as_call,
        })
    }

    /// Changes the state and wakes whoever waits on it.
    pub(crate) fn update<R>(&self, f: impl FnOnce(&mut ChanState) -> R) -> R {
        let r = f(&mut lock(&self.st));
        self.changed.send_modify(|n| *n = n.wrapping_add(1));
        r
    }

    /// Reads the state.
    pub(crate) fn with<R>(&self, f: impl FnOnce(&ChanState) -> R) -> R {
        f(&lock(&self.st))
    }

    /// Waits until `pred` holds (checked after every [`Channel::update`]).
    pub(crate) async fn wait_until(&self, pred: impl Fn(&ChanState) -> bool) {
        let mut rx = self.changed.subscribe();
        loop {
            if self.with(&pred) {
                return;
            }
            // The sender lives as long as `self`.
            if rx.changed().await.is_err() {
                return;
            }
        }
    }

    pub(crate) fn var(&self, name: &str) -> Option<String> {
        self.with(|st| st.var(name).map(str::to_owned))
    }

    pub(crate) fn set_var(&self, name: &str, value: &str) {
        self.update(|st| st.set_var(name, value));
    }

    pub(crate) fn name(&self) -> String {
        self.with(|st| st.name.clone())
    }

    /// Keeps the channel from being destroyed until [`Channel::release`].
    pub(crate) fn hold(&self) {
        self.held.send_modify(|n| *n += 1);
    }

    pub(crate) fn release(&self) {
        self.held.send_modify(|n| *n = n.saturating_sub(1));
    }

    /// Held by nothing but what is already over: destroyed, or hung up and waiting only for
    /// a holder (an outbound socket, callcenter).
    pub(crate) fn settled(&self) -> bool {
        self.with(|st| st.destroyed) || (*self.hangup_done.borrow() && *self.held.borrow() > 0)
    }

    pub(crate) fn ended(&self) -> bool {
        *self.end.borrow()
    }

    /// Marks the channel hung up without waking anyone (its CHANNEL_HANGUP fires first);
    /// false if it already was. [`Channel::wake_hangup`] lets its task go on.
    /// `left_bridge_first`: see [`ChanState::left_bridge_first`].
    pub(crate) fn mark_hangup(&self, cause: HangupCause, left_bridge_first: bool) -> bool {
        let mut st = lock(&self.st);
        if st.cause.is_some() {
            return false;
        }
        st.cause = Some(cause);
        st.left_bridge_first = left_bridge_first;
        st.state = Cs::Hangup;
        st.answer_state = AnswerState::Hangup;
        st.ended_at = Some(Instant::now());
        st.profile.hangup_us = epoch_us();
        true
    }

    /// Wakes the tasks waiting on the channel after its hangup.
    pub(crate) fn wake_hangup(&self) {
        self.changed.send_modify(|n| *n = n.wrapping_add(1));
        self.end.send_replace(true);
        self.media_changed.notify_waiters();
    }

    pub(crate) async fn wait_end(&self) {
        let mut rx = self.end.subscribe();
        // `self.end` outlives this borrow, so the channel cannot close under us.
        let _ = rx.wait_for(|&e| e).await.map(|_| ());
    }

    /// Sleeps, or returns false early if the channel ends.
    pub(crate) async fn sleep(&self, d: Duration) -> bool {
        tokio::select! {
            _ = tokio::time::sleep(d) => !self.ended(),
            _ = self.wait_end() => false,
        }
    }

    pub(crate) fn answered_at(&self) -> Option<Instant> {
        self.with(|st| st.answered_at)
    }

    pub(crate) fn cdr(&self) -> Cdr {
        self.with(|st| {
            let end = st.ended_at.unwrap_or_else(Instant::now);
            Cdr {
                uuid: self.uuid.clone(),
                number: self.number.clone(),
                cause: st.cause.unwrap_or(HangupCause::NormalClearing),
                answered: st.answered_at.is_some(),
                billsec: st
                    .answered_at
                    .map(|a| end.saturating_duration_since(a).as_secs())
                    .unwrap_or(0),
                duration_ms: end.saturating_duration_since(self.created_at).as_millis() as u64,
            }
        })
    }

    /// The profile other channels show as `Other-Leg-*`.
    pub(crate) fn profile(&self) -> Profile {
        self.with(|st| st.profile.clone())
    }

    /// A channel event: the switch's common headers (`base`), `pre` headers, the channel's
    /// data, then `post` headers.
    pub(crate) fn event(&self, base: Event, pre: &[(&str, &str)], post: &[(&str, &str)]) -> Event {
        let mut ev = base;
        for (n, v) in pre {
            ev.headers.push(n, v);
        }
        // CHANNEL_STATE carries the channel's basic data only: no variables.
        let vars = ev.name() != "CHANNEL_STATE";
        self.with(|st| st.write_channel_data(&self.uuid, self.rate, vars, &mut ev.headers));
        for (n, v) in post {
            ev.headers.push(n, v);
        }
        ev
    }

    /// A row of `show channels`.
    pub(crate) fn show_row(&self, hostname: &str) -> Vec<(&'static str, String)> {
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
        self.with(|st| {
            let p = &st.profile;
            let (app, data) = st
                .app
                .as_ref()
                .map(|a| (a.name.clone(), a.data.clone()))
                .unwrap_or_default();
            let rate = self.rate.to_string();
            let bit_rate = (self.rate * 16).to_string();
            vec![
                ("uuid", self.uuid.clone()),
                ("direction", p.direction.to_owned()),
                ("created", created),
                (
                    "created_epoch",
                    (self.created_epoch_us / 1_000_000).to_string(),
                ),
                ("name", st.name.clone()),
                ("state", st.running.name().to_owned()),
                ("cid_name", p.caller_id_name.clone()),
                ("cid_num", p.caller_id_number.clone()),
                ("ip_addr", String::new()),
                ("dest", p.destination_number.clone()),
                ("application", app),
                ("application_data", data),
                ("dialplan", p.dialplan.clone()),
                ("context", p.context.clone()),
                ("read_codec", "L16".into()),
                ("read_rate", rate.clone()),
                ("read_bit_rate", bit_rate.clone()),
                ("write_codec", "L16".into()),
                ("write_rate", rate),
                ("write_bit_rate", bit_rate),
                ("secure", String::new()),
                ("hostname", hostname.to_owned()),
                ("presence_id", String::new()),
                ("presence_data", String::new()),
                ("accountcode", String::new()),
                ("callstate", st.call_state.name().to_owned()),
                ("callee_name", p.callee_id_name.clone()),
                ("callee_num", p.callee_id_number.clone()),
                ("callee_direction", String::new()),
                ("call_uuid", String::new()),
                ("sent_callee_name", String::new()),
                ("sent_callee_num", String::new()),
                ("initial_cid_name", p.orig_caller_id_name.clone()),
                ("initial_cid_num", p.orig_caller_id_number.clone()),
                ("initial_ip_addr", String::new()),
                ("initial_dest", p.destination_number.clone()),
                ("initial_dialplan", p.dialplan.clone()),
                ("initial_context", p.context.clone()),
            ]
        })
    }
}

impl ChanState {
    pub(crate) fn var(&self, name: &str) -> Option<&str> {
        self.vars
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Sets a variable as FreeSWITCH does: a variable set again moves to the end.
    pub(crate) fn set_var(&mut self, name: &str, value: &str) {
        self.vars.retain(|(n, _)| n != name);
        if !value.is_empty() {
            self.vars.push((name.to_owned(), value.to_owned()));
        }
    }

    /// The call-detail variables FreeSWITCH sets at CHANNEL_HANGUP_COMPLETE: stamps, epochs
    /// and durations in seconds, milliseconds and microseconds.
    pub(crate) fn set_cdr_vars(&mut self) {
        let p = self.profile.clone();
        let end = if p.hangup_us > 0 {
            p.hangup_us
        } else {
            epoch_us()
        };
        let stamp = |us: u128| -> String {
            if us == 0 {
                return String::new();
            }
            chrono::DateTime::from_timestamp_micros(us as i64)
                .map(|t| {
                    t.with_timezone(&chrono::Local)
                        .format("%Y-%m-%d %H:%M:%S")
                        .to_string()
                })
                .unwrap_or_default()
        };
        let span = |from: u128, to: u128| {
            if from == 0 {
                0
            } else {
                to.saturating_sub(from)
            }
        };
        let bill = span(p.answered_us, end);
        let total = span(p.created_us, end);
        let answer = if p.answered_us == 0 {
            0
        } else {
            p.answered_us.saturating_sub(p.created_us)
        };
        let progress = if p.progress_us == 0 {
            0
        } else {
            p.progress_us.saturating_sub(p.created_us)
        };
        let media = if p.progress_media_us == 0 {
            0
        } else {
            p.progress_media_us.saturating_sub(p.created_us)
        };
        let wait = if p.answered_us == 0 { 0 } else { answer };
        self.set_var("digits_dialed", "none");
        self.set_var("start_stamp", &stamp(p.created_us));
        self.set_var("profile_start_stamp", &stamp(p.created_us));
        self.set_var("answer_stamp", &stamp(p.answered_us));
        self.set_var("end_stamp", &stamp(end));
        for (name, us) in [
            ("start", p.created_us),
            ("profile_start", p.created_us),
            ("answer", p.answered_us),
            ("bridge", p.bridged_us),
            ("progress", p.progress_us),
            ("progress_media", p.progress_media_us),
            ("end", end),
        ] {
            self.set_var(&format!("{name}_epoch"), &(us / 1_000_000).to_string());
            self.set_var(&format!("{name}_uepoch"), &us.to_string());
        }
        if let Some(app) = self.last_app.clone() {
            self.set_var("last_app", &app);
        }
        let secs = |us: u128| us.div_ceil(1_000_000).to_string();
        for (name, us) in [
            ("duration", total),
            ("billsec", bill),
            ("progresssec", progress),
            ("answersec", answer),
            ("waitsec", wait),
            ("progress_mediasec", media),
            ("flow_billsec", bill),
        ] {
            self.set_var(name, &secs(us));
        }
        for (name, us) in [
            ("mduration", total),
            ("billmsec", bill),
            ("progressmsec", progress),
            ("answermsec", answer),
            ("waitmsec", wait),
            ("progress_mediamsec", media),
            ("flow_billmsec", bill),
        ] {
            self.set_var(name, &(us / 1000).to_string());
        }
        for (name, us) in [
            ("uduration", total),
            ("billusec", bill),
            ("progressusec", progress),
            ("answerusec", answer),
            ("waitusec", wait),
            ("progress_mediausec", media),
            ("flow_billusec", bill),
        ] {
            self.set_var(name, &us.to_string());
        }
    }

    pub(crate) fn answer_state_is_early(&self) -> bool {
        self.answer_state == AnswerState::Early
    }

    fn write_channel_data(&self, uuid: &str, rate: u32, vars: bool, h: &mut Headers) {
        let direction = if self.outbound { "outbound" } else { "inbound" };
        h.push("Channel-State", self.running.name());
        h.push("Channel-Call-State", self.call_state.name());
        h.push("Channel-State-Number", &self.state.number().to_string());
        h.push("Channel-Name", &self.name);
        h.push("Unique-ID", uuid);
        h.push("Call-Direction", direction);
        h.push("Presence-Call-Direction", direction);
        h.push(
            "Channel-HIT-Dialplan",
            if self.hit_dialplan { "true" } else { "false" },
        );
        h.push("Channel-Call-UUID", uuid);
        h.push("Answer-State", self.answer_state.name());
        if let Some(cause) = self.cause {
            h.push("Hangup-Cause", cause.name());
        }
        let rate_s = rate.to_string();
        let bits = (rate * 16).to_string();
        for dir in ["Read", "Write"] {
            h.push(&format!("Channel-{dir}-Codec-Name"), "L16");
            h.push(&format!("Channel-{dir}-Codec-Rate"), &rate_s);
            h.push(&format!("Channel-{dir}-Codec-Bit-Rate"), &bits);
        }
        self.profile.write("Caller", true, h);
        if let Some((ty, other)) = &self.other {
            h.push("Other-Type", ty);
            other.write("Other-Leg", false, h);
        }
        if vars {
            for (n, v) in &self.vars {
                h.push(&format!("variable_{n}"), v);
            }
        }
    }
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
