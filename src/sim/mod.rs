//! The switch simulator: an ESL server that behaves like FreeSWITCH 1.10.12 for everything
//! aicall uses, so that tests and `aicall demo` run without a FreeSWITCH. The recordings of a
//! real 1.10.12 in `data/esl-traces` are its reference: `tests/esl_traces.rs` replays each
//! one against the simulator and compares what comes back.
//!
//! What it does:
//! - the event socket of [`crate::esl::server`]: authentication, subscriptions, filters,
//!   `log/data`, `api` answered on the connection's own thread, `bgapi`, `sendevent`, errors
//!   as the real switch words them, fs_cli's tab completion, and the outbound socket;
//! - `api`/`bgapi` commands: `status`, `version`, `hostname`, `switchname`, `show
//!   channels|calls`, `originate`, `uuid_kill`, `hupall`, `uuid_break`, `uuid_transfer`,
//!   `uuid_bridge`, `uuid_exists`, `uuid_getvar`/`uuid_setvar`, `callcenter_config`;
//! - calls with FreeSWITCH's channel events, headers and orders: `loopback/EXT/CONTEXT` as
//!   two legs (the A leg is the originated channel, the B leg runs the extension of a small
//!   [`Dialplan`] with a copy of the `{...}` variables), `sofia/...` dial strings to the
//!   [`Scenarios`] callee of the number, early media, failures, the outbound `socket`
//!   application, mod_callcenter queues ([`callcenter`]), `uuid_bridge` and `eavesdrop`;
//! - media: after `unicast` the far end's audio streams to aicall as 20 ms L16 datagrams
//!   paced in real time, and every datagram aicall sends back is recorded ([`Recording`]), so
//!   tests can assert what the callee heard and when; an eavesdropping leg records what it
//!   hears of the call it listens to;
//! - FreeSWITCH-style log lines for connections that ask for them ([`log`]);
//! - a restart of the switch ([`SimSwitch::restart`]) and a record of every originate
//!   ([`SimSwitch::originates`]).
//!
//! **Where it differs from the real switch**: every difference `tests/esl_traces.rs`
//! tolerates is listed, each with the reason it is harmless, in that file's allow-list
//! (`IGNORED_HEADERS` and the rules next to it) — the list the comparison itself uses, so it
//! cannot drift from what is tolerated.
//!
//! Depends on [`crate::esl`] (and [`crate::pii`] for logs) only.

pub mod dialplan;
pub mod scenario;

mod audio;
mod call;
mod callcenter;
mod channel;
mod log;
mod media;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::watch;
use tracing::{debug, info};

use crate::esl::server::{self, ApiReply, Control, Farewell, Hub, SwitchCore};
use crate::esl::{Event, HangupCause, Headers};

pub use audio::load_wav_mono;
pub use channel::Cdr;
use channel::{Channel, NewChannel, Profile};
pub use dialplan::{AgentConfig, Behaviour, Dialplan, Extension, Matcher, QueueConfig};
pub use media::{Recording, RxDatagram, SpeechSpan};
pub use scenario::{Callee, Outcome, Scenarios, Step};

/// Simulator settings.
#[derive(Clone, Debug)]
pub struct SimConfig {
    pub listen: SocketAddr,
    pub password: String,
    pub scenarios: Scenarios,
    /// The extensions `loopback/` calls and transfers reach (default: none — every
    /// loopback destination is the scenario callee of that number).
    pub dialplan: Dialplan,
    /// `FreeSWITCH-Hostname`/`-Switchname`, `api hostname`, `api switchname`.
    pub hostname: String,
    /// `FreeSWITCH-IPv4`.
    pub ipv4: String,
    /// `FreeSWITCH-IPv6`.
    pub ipv6: String,
    /// Keep every sample the callee heard and every datagram's arrival (tests). Off for load
    /// benchmarks, where only counters and timings are kept.
    pub record_audio: bool,
    /// With no dialplan, a `uuid_transfer` into the dialplan is a simulated agent that talks
    /// this long before the call ends.
    pub agent_talk_ms: u64,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            password: "ClueCon".into(),
            scenarios: Scenarios::default(),
            dialplan: Dialplan::default(),
            hostname: "aicall-sim".into(),
            ipv4: "127.0.0.1".into(),
            ipv6: "::1".into(),
            record_audio: true,
            agent_talk_ms: 1500,
        }
    }
}

/// An `originate` the simulator received.
#[derive(Clone, Debug)]
pub struct OriginateLog {
    /// When it arrived.
    pub at: Instant,
    /// Its `origination_uuid` (or the uuid the switch chose).
    pub uuid: String,
    /// The dial string.
    pub dial: String,
}

/// How [`SimSwitch::restart`] takes the switch down.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RestartMode {
    /// `shutdown`: every channel is hung up with SYSTEM_SHUTDOWN and its events delivered,
    /// then every client gets the disconnect notice and is closed.
    Graceful,
    /// A crash: connections are cut with no goodbye, channels vanish with no events.
    Crash,
}

/// An inbound call the dialplan hands to an outbound socket (see
/// [`SimSwitch::inbound_call`]).
#[derive(Clone, Debug)]
pub struct InboundCall {
    /// The caller, as a scenario callee: its script is what the caller says once the call is
    /// answered; its audio flows after `unicast`, like an originated call's.
    pub caller: Callee,
    /// The caller's number (Caller-Caller-ID-Number).
    pub caller_id: String,
    /// The number dialled (Caller-Destination-Number).
    pub destination: String,
    /// The `socket` application's target (`host:port`).
    pub socket: SocketAddr,
    /// Channel variables the dialplan set before `socket`.
    pub vars: Vec<(String, String)>,
}

/// The simulated switch's state, shared by its ESL sessions and channel tasks.
#[derive(Debug)]
pub struct Switch {
    core_uuid: Mutex<String>,
    hostname: String,
    ipv4: String,
    ipv6: String,
    started: Mutex<Instant>,
    hub: Hub,
    seq: AtomicU64,
    session_ids: AtomicU64,
    /// Bumped by a crash: channels of an earlier generation fire nothing more.
    generation: AtomicU64,
    channels: Mutex<HashMap<String, Arc<Channel>>>,
    scenarios: Scenarios,
    dialplan: Dialplan,
    callcenter: Mutex<callcenter::CallCenter>,
    record_audio: bool,
    agent_talk_ms: u64,
    sessions_total: AtomicU64,
    peak: AtomicU64,
    recordings: Mutex<HashMap<String, Arc<Mutex<Recording>>>>,
    cdrs: Mutex<Vec<Cdr>>,
    originates: Mutex<Vec<OriginateLog>>,
    control: watch::Sender<Control>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Poisoning only follows a panic elsewhere; the maps stay usable.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A running simulator.
#[derive(Debug)]
pub struct SimSwitch {
    addr: SocketAddr,
    password: String,
    core: Arc<Switch>,
    accept: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    // A restart binds the same port again at once, as FreeSWITCH does (SO_REUSEADDR).
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(1024)
}

impl SimSwitch {
    /// Binds the listener and starts serving.
    pub async fn start(cfg: SimConfig) -> std::io::Result<Self> {
        let listener = bind(cfg.listen)?;
        let addr = listener.local_addr()?;
        let callcenter =
            callcenter::CallCenter::new(cfg.dialplan.queues.clone(), cfg.dialplan.agents.clone());
        let core = Arc::new(Switch {
            core_uuid: Mutex::new(uuid::Uuid::new_v4().to_string()),
            hostname: cfg.hostname,
            ipv4: cfg.ipv4,
            ipv6: cfg.ipv6,
            started: Mutex::new(Instant::now()),
            hub: Hub::new(),
            seq: AtomicU64::new(1),
            session_ids: AtomicU64::new(1),
            generation: AtomicU64::new(0),
            channels: Mutex::new(HashMap::new()),
            scenarios: cfg.scenarios,
            dialplan: cfg.dialplan,
            callcenter: Mutex::new(callcenter),
            record_audio: cfg.record_audio,
            agent_talk_ms: cfg.agent_talk_ms,
            sessions_total: AtomicU64::new(0),
            peak: AtomicU64::new(0),
            recordings: Mutex::new(HashMap::new()),
            cdrs: Mutex::new(Vec::new()),
            originates: Mutex::new(Vec::new()),
            control: watch::Sender::new(Control::default()),
        });
        let task = tokio::spawn(server::serve(
            listener,
            cfg.password.clone(),
            core.clone(),
            core.control.subscribe(),
        ));
        info!(%addr, "switch simulator listening");
        Ok(Self {
            addr,
            password: cfg.password,
            core,
            accept: Mutex::new(Some(task)),
        })
    }

    /// The ESL address clients connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The switch state (for tests that inspect channels).
    pub fn core(&self) -> &Arc<Switch> {
        &self.core
    }

    /// What the far end of channel `uuid` heard and sent — or, for an eavesdropping leg,
    /// what it heard of the call — kept after hangup.
    pub fn recording(&self, uuid: &str) -> Option<Recording> {
        lock(&self.core.recordings)
            .get(uuid)
            .map(|r| lock(r).clone())
    }

    /// Call detail records of finished calls (originated legs and inbound calls, not the
    /// second legs of loopback calls or callcenter's agent legs).
    pub fn cdrs(&self) -> Vec<Cdr> {
        lock(&self.core.cdrs).clone()
    }

    /// Number of live channels (every leg).
    pub fn live_channels(&self) -> usize {
        lock(&self.core.channels).len()
    }

    /// Number of channels not hung up yet (every leg): a channel hung up stays among the
    /// [`live_channels`](Self::live_channels) until its teardown has ended.
    pub fn channels_up(&self) -> usize {
        lock(&self.core.channels)
            .values()
            .filter(|c| c.with(|st| st.cause.is_none()))
            .count()
    }

    /// Every `originate` received, in order of arrival.
    pub fn originates(&self) -> Vec<OriginateLog> {
        lock(&self.core.originates).clone()
    }

    /// Disconnects every ESL client (as a restart of mod_event_socket would) while calls
    /// stay up; clients may reconnect at once.
    pub fn kick_clients(&self) {
        self.core.farewell(Farewell::Goodbye);
    }

    /// A call coming in from `call.caller` that the dialplan hands to an outbound socket
    /// (`socket <call.socket> async full`): the simulator connects there and waits for the
    /// controller's `connect`. Returns the channel's uuid.
    pub fn inbound_call(&self, call: InboundCall) -> String {
        self.core.clone().inbound_call(call)
    }

    /// Restarts the switch: takes it down as `mode` says, refuses connections for
    /// `down_for`, then listens again with a new Core-UUID and no channels.
    pub async fn restart(&self, mode: RestartMode, down_for: Duration) -> std::io::Result<()> {
        let accept = lock(&self.accept).take();
        if let Some(task) = accept {
            task.abort();
            let _ = task.await;
        }
        match mode {
            RestartMode::Graceful => {
                self.core.hangup_all(HangupCause::SystemShutdown);
                // Every channel's events delivered (a channel an outbound socket holds is
                // destroyed once its socket is closed by the goodbye).
                let deadline = Instant::now() + Duration::from_secs(5);
                loop {
                    let settled = lock(&self.core.channels).values().all(|c| c.settled());
                    if settled || Instant::now() > deadline {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                self.core.farewell(Farewell::Goodbye);
            }
            RestartMode::Crash => {
                // Channels first (their media stops, they fire nothing more), then the
                // connections.
                self.core.generation.fetch_add(1, Ordering::SeqCst);
                let chans: Vec<_> = lock(&self.core.channels).drain().map(|(_, c)| c).collect();
                for ch in chans {
                    ch.mark_hangup(HangupCause::Crash, false);
                    ch.release_media();
                    ch.wake_hangup();
                }
                self.core.farewell(Farewell::Cut);
            }
        }
        tokio::time::sleep(down_for).await;
        *lock(&self.core.core_uuid) = uuid::Uuid::new_v4().to_string();
        *lock(&self.core.started) = Instant::now();
        let mut tries = 0;
        let listener = loop {
            match bind(self.addr) {
                Ok(l) => break l,
                Err(e) if tries < 50 => {
                    tries += 1;
                    debug!(error = %e, "rebinding the event socket");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(e) => return Err(e),
            }
        };
        *lock(&self.accept) = Some(tokio::spawn(server::serve(
            listener,
            self.password.clone(),
            self.core.clone(),
            self.core.control.subscribe(),
        )));
        info!(addr = %self.addr, "switch simulator back");
        Ok(())
    }

    /// Stops: clients get the disconnect notice, every channel is hung up (its media
    /// sockets released) and the listening port is freed.
    pub async fn stop(self) {
        let accept = lock(&self.accept).take();
        if let Some(task) = accept {
            task.abort();
            let _ = task.await;
        }
        self.core.farewell(Farewell::Goodbye);
        self.core.hangup_all(HangupCause::SystemShutdown);
    }
}

impl Switch {
    fn farewell(&self, farewell: Farewell) {
        self.control.send_modify(|c| {
            c.generation += 1;
            c.farewell = farewell;
        });
    }

    fn hangup_all(&self, cause: HangupCause) {
        let chans: Vec<_> = lock(&self.channels).values().cloned().collect();
        for ch in chans {
            self.hangup(&ch, cause);
        }
    }

    fn next_seq(&self) -> u64 {
        self.seq.fetch_add(1, Ordering::Relaxed)
    }

    pub(crate) fn next_session_id(&self) -> u64 {
        self.session_ids.fetch_add(1, Ordering::Relaxed)
    }

    /// True while `ch` belongs to the running switch (not one that crashed since).
    pub(crate) fn live(&self, ch: &Channel) -> bool {
        ch.generation.load(Ordering::Relaxed) == self.generation.load(Ordering::Relaxed)
    }

    pub(crate) fn channel(&self, uuid: &str) -> Option<Arc<Channel>> {
        lock(&self.channels).get(uuid).cloned()
    }

    /// A channel api commands and `sendmsg` can reach: like FreeSWITCH's session lookup,
    /// which fails once the channel is hung up (its read lock is refused), not only once it
    /// is destroyed.
    pub(crate) fn session(&self, uuid: &str) -> Option<Arc<Channel>> {
        self.channel(uuid).filter(|c| !c.ended())
    }

    pub(crate) fn register(&self, ch: &Arc<Channel>) {
        ch.generation
            .store(self.generation.load(Ordering::Relaxed), Ordering::Relaxed);
        lock(&self.recordings).insert(ch.uuid.clone(), ch.recording.clone());
        let mut chans = lock(&self.channels);
        chans.insert(ch.uuid.clone(), ch.clone());
        self.peak.fetch_max(chans.len() as u64, Ordering::Relaxed);
        self.sessions_total.fetch_add(1, Ordering::Relaxed);
    }

    /// The channel's DESTROY has fired: it leaves the switch, its CDR is written.
    pub(crate) fn unregister(&self, ch: &Arc<Channel>) {
        // Its message queue's task ends with the sender.
        lock(&ch.messages).take();
        if !self.live(ch) {
            return;
        }
        // The CDR first: whoever sees the channel gone finds its record.
        if ch.counts_as_call {
            lock(&self.cdrs).push(ch.cdr());
        }
        let mut chans = lock(&self.channels);
        if chans.get(&ch.uuid).is_some_and(|c| Arc::ptr_eq(c, ch)) {
            chans.remove(&ch.uuid);
        }
    }

    /// Fires a channel event: `pre` headers before the channel's data, `post` after.
    pub(crate) fn fire(
        &self,
        ch: &Channel,
        name: &str,
        pre: &[(&str, &str)],
        post: &[(&str, &str)],
    ) {
        if !self.live(ch) {
            return;
        }
        self.hub.publish(ch.event(self.stamp(name), pre, post));
    }

    /// [`Switch::fire`] with owned `post` headers.
    pub(crate) fn fire_owned(&self, ch: &Channel, name: &str, post: &[(String, String)]) {
        let post: Vec<(&str, &str)> = post.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        self.fire(ch, name, &[], &post);
    }

    /// Common headers of every event, as FreeSWITCH writes them.
    pub(crate) fn stamp(&self, name: &str) -> Event {
        let mut ev = Event::new(name);
        let now = chrono::Local::now();
        let utc = chrono::Utc::now();
        ev.headers.push("Core-UUID", &lock(&self.core_uuid));
        ev.headers.push("FreeSWITCH-Hostname", &self.hostname);
        ev.headers.push("FreeSWITCH-Switchname", &self.hostname);
        ev.headers.push("FreeSWITCH-IPv4", &self.ipv4);
        ev.headers.push("FreeSWITCH-IPv6", &self.ipv6);
        ev.headers.push(
            "Event-Date-Local",
            &now.format("%Y-%m-%d %H:%M:%S").to_string(),
        );
        ev.headers.push(
            "Event-Date-GMT",
            &utc.format("%a, %d %b %Y %H:%M:%S GMT").to_string(),
        );
        ev.headers
            .push("Event-Date-Timestamp", &channel::epoch_us().to_string());
        ev.headers.push("Event-Calling-File", "switch_channel.c");
        ev.headers.push(
            "Event-Calling-Function",
            "switch_channel_perform_set_running_state",
        );
        ev.headers.push("Event-Calling-Line-Number", "1129");
        ev.headers
            .push("Event-Sequence", &self.next_seq().to_string());
        ev
    }

    fn status(&self) -> String {
        let up = lock(&self.started).elapsed();
        let secs = up.as_secs();
        let live = lock(&self.channels).len();
        let peak = self.peak.load(Ordering::Relaxed);
        format!(
            "UP 0 years, {} days, {} hours, {} minutes, {} seconds, {} milliseconds, \
             {} microseconds\n\
             FreeSWITCH (Version 1.10.12-release  64bit) is ready\n\
             {} session(s) since startup\n\
             {} session(s) - peak {}, last 5min {} \n\
             0 session(s) per Sec out of max 30, peak 0, last 5min 0 \n\
             1000 session(s) max\n\
             min idle cpu 0.00/99.00\n\
             Current Stack Size/Max 240K/8192K\n",
            secs / 86_400,
            secs / 3600 % 24,
            secs / 60 % 60,
            secs % 60,
            up.subsec_millis(),
            up.subsec_micros() % 1000,
            self.sessions_total.load(Ordering::Relaxed),
            live,
            peak,
            peak,
        )
    }

    fn show_channels(&self, json: bool) -> String {
        let mut chans: Vec<_> = lock(&self.channels).values().cloned().collect();
        chans.sort_by_key(|c| c.created_epoch_us);
        let rows: Vec<Vec<(&'static str, String)>> =
            chans.iter().map(|c| c.show_row(&self.hostname)).collect();
        if json {
            if rows.is_empty() {
                return "{\"row_count\":0}\n".into();
            }
            let rows: Vec<serde_json::Value> = rows
                .iter()
                .map(|r| {
                    serde_json::Value::Object(
                        r.iter()
                            .map(|(k, v)| ((*k).to_owned(), serde_json::Value::from(v.as_str())))
                            .collect(),
                    )
                })
                .collect();
            let v = serde_json::json!({ "row_count": rows.len(), "rows": rows });
            return format!("{v}\n");
        }
        if rows.is_empty() {
            return "\n0 total.\n".into();
        }
        let mut out = rows[0]
            .iter()
            .map(|(k, _)| *k)
            .collect::<Vec<_>>()
            .join(",");
        out.push('\n');
        for r in &rows {
            let line: Vec<&str> = r.iter().map(|(_, v)| v.as_str()).collect();
            out.push_str(&line.join(","));
            out.push('\n');
        }
        out.push_str(&format!("\n{} total.\n", rows.len()));
        out
    }

    /// The CHANNEL_DATA event an outbound socket's `connect` is answered with.
    fn channel_data_event(&self, ch: &Channel) -> Event {
        let mut base = self.stamp("CHANNEL_DATA");
        base.headers.set("Event-Calling-File", "mod_event_socket.c");
        base.headers.set("Event-Calling-Function", "parse_command");
        channel::write_profile(&ch.profile(), "Channel", &mut base.headers);
        ch.event(base, &[], &[])
    }

    async fn dispatch_api(self: &Arc<Self>, line: &str) -> ApiReply {
        let line = line.trim();
        let (cmd, args) = match line.split_once(char::is_whitespace) {
            Some((c, a)) => (c, a.trim()),
            None => (line, ""),
        };
        let words: Vec<&str> = args.split_whitespace().collect();
        let body: String = match cmd {
            "status" => self.status(),
            "version" => "FreeSWITCH Version 1.10.12-release~64bit ( 64bit)\n".into(),
            "hostname" | "switchname" => self.hostname.clone(),
            "show" => match words.as_slice() {
                ["channels"] | ["calls"] => self.show_channels(false),
                ["channels", "as", "json"] | ["calls", "as", "json"] => self.show_channels(true),
                ["channels", "count"] | ["calls", "count"] => {
                    format!("\n{} total.\n", lock(&self.channels).len())
                }
                _ => "-USAGE: show channels|calls [as json]\n".into(),
            },
            "originate" => return self.originate(args).await,
            "uuid_kill" => match words.first().and_then(|u| self.session(u)) {
                Some(ch) => {
                    let cause = words
                        .get(1)
                        .map(|c| HangupCause::from_name(c))
                        .filter(|c| *c != HangupCause::Unknown);
                    self.kill(&ch, cause.unwrap_or(HangupCause::NormalClearing));
                    "+OK\n".into()
                }
                None => "-ERR No such channel!\n".into(),
            },
            "hupall" => {
                let cause = words.first().map(|c| HangupCause::from_name(c));
                let cause = cause.unwrap_or(HangupCause::ManagerRequest);
                let chans: Vec<_> = lock(&self.channels).values().cloned().collect();
                for ch in chans {
                    let matches = match (words.get(1), words.get(2)) {
                        (Some(var), Some(val)) => ch.var(var).as_deref() == Some(*val),
                        _ => true,
                    };
                    if matches {
                        self.hangup(&ch, cause);
                    }
                }
                format!("+OK hangup all channels with cause {}\n", cause.name())
            }
            "uuid_break" => match words.first().and_then(|u| self.session(u)) {
                Some(ch) => {
                    ch.break_media();
                    "+OK\n".into()
                }
                None => "-ERR No such channel!\n".into(),
            },
            "uuid_transfer" => self.uuid_transfer(&words),
            "uuid_bridge" => match (
                words.first().and_then(|u| self.session(u)),
                words.get(1).and_then(|u| self.session(u)),
            ) {
                (Some(a), Some(b)) => {
                    if self.bridge(&a, &b) {
                        format!("+OK {}\n", b.uuid)
                    } else {
                        "-ERR Invalid uuid\n".into()
                    }
                }
                _ => "-ERR No such channel!\n".into(),
            },
            "uuid_exists" => {
                let exists = words.first().is_some_and(|u| self.session(u).is_some());
                format!("{exists}")
            }
            "uuid_getvar" => match (words.first().and_then(|u| self.session(u)), words.get(1)) {
                (Some(ch), Some(var)) => ch.var(var).unwrap_or_else(|| "_undef_".into()),
                (None, _) => "-ERR No such channel!\n".into(),
                _ => "-USAGE: <uuid> <var>\n".into(),
            },
            "uuid_setvar" => match (words.first().and_then(|u| self.session(u)), words.get(1)) {
                (Some(ch), Some(var)) => {
                    ch.set_var(var, words.get(2).copied().unwrap_or(""));
                    "+OK\n".into()
                }
                (None, _) => "-ERR No such channel!\n".into(),
                _ => "-USAGE: <uuid> <var> [value]\n".into(),
            },
            "callcenter_config" => self.callcenter_config(args),
            "reloadxml" => "+OK [Success]\n".into(),
            "" => "-ERR Command not found!\n".into(),
            other => format!("-ERR {other} Command not found!\n"),
        };
        ApiReply::from(body)
    }

    /// `uuid_transfer <uuid> [-bleg|-both] <dest> [<dialplan>] [<context>]`.
    fn uuid_transfer(self: &Arc<Self>, words: &[&str]) -> String {
        let Some(ch) = words.first().and_then(|u| self.session(u)) else {
            return "-ERR No such channel!\n".into();
        };
        let rest: Vec<&str> = words[1..]
            .iter()
            .copied()
            .filter(|w| !w.starts_with('-'))
            .collect();
        let Some(dest) = rest.first() else {
            return "-USAGE: <uuid> [-bleg|-both] <dest-exten> [<dialplan>] [<context>]\n".into();
        };
        let dialplan = rest.get(1).copied().unwrap_or("XML");
        let context = rest.get(2).copied().unwrap_or("default");
        if *dest == "park" && dialplan == "inline" {
            self.interrupt(
                &ch,
                channel::Interrupt::Transfer {
                    dest: "park".into(),
                    context: None,
                },
            );
            return "+OK\n".into();
        }
        if self.dialplan.is_empty() {
            // No dialplan: the call leaves aicall's park and its unicast stream; the
            // simulated agent talks for `agent_talk_ms`, then the call ends normally.
            let dest = rest.join(" ");
            ch.set_var("sim_transferred_to", &dest);
            ch.break_media();
            let app_uuid = uuid::Uuid::new_v4().to_string();
            self.fire(
                &ch,
                "CHANNEL_EXECUTE",
                &[],
                &[
                    ("Application", "transfer"),
                    ("Application-Data", &dest),
                    ("Application-UUID", &app_uuid),
                ],
            );
            let (sw, ch) = (Arc::clone(self), Arc::clone(&ch));
            let talk = Duration::from_millis(self.agent_talk_ms);
            tokio::spawn(async move {
                if ch.sleep(talk).await {
                    sw.far_end_hangup(&ch, HangupCause::NormalClearing);
                }
            });
            return "+OK\n".into();
        }
        self.transfer(&ch, dest, context);
        "+OK\n".into()
    }

    /// See [`SimSwitch::inbound_call`].
    fn inbound_call(self: Arc<Self>, call: InboundCall) -> String {
        let uuid = uuid::Uuid::new_v4().to_string();
        let callee = self.scenarios.resolve_callee(&call.caller);
        let name = format!("sofia/internal/{}@sim", call.caller_id);
        let mut vars = vec![
            ("direction".to_owned(), "inbound".to_owned()),
            ("uuid".into(), uuid.clone()),
            ("call_uuid".into(), uuid.clone()),
            ("session_id".into(), self.next_session_id().to_string()),
            ("channel_name".into(), name.clone()),
            ("read_codec".into(), "L16".into()),
            ("read_rate".into(), callee.rate.to_string()),
            ("write_codec".into(), "L16".into()),
            ("write_rate".into(), callee.rate.to_string()),
        ];
        vars.extend(call.vars.iter().cloned());
        let ch = Channel::new(NewChannel {
            uuid: uuid.clone(),
            name,
            number: call.caller_id.clone(),
            outbound: false,
            profile: Profile {
                direction: "inbound",
                dialplan: "XML".into(),
                caller_id_number: call.caller_id.clone(),
                orig_caller_id_number: call.caller_id.clone(),
                ani: call.caller_id.clone(),
                destination_number: call.destination.clone(),
                source: "mod_sofia".into(),
                context: "public".into(),
                ..Profile::default()
            },
            vars,
            callee: Some(callee),
            rate: 8000,
            record_audio: self.record_audio,
            counts_as_call: true,
        });
        self.register(&ch);
        self.fire(&ch, "CHANNEL_CREATE", &[], &[]);
        let socket = call.socket.to_string();
        tokio::spawn(self.inbound_task(ch, socket));
        uuid
    }
}

impl SwitchCore for Switch {
    fn api(self: Arc<Self>, command: String) -> impl std::future::Future<Output = ApiReply> + Send {
        // Boxed: an originate may start an outbound socket session, whose future contains
        // this one's type.
        let fut: std::pin::Pin<Box<dyn std::future::Future<Output = ApiReply> + Send>> =
            Box::pin(async move { self.dispatch_api(&command).await });
        fut
    }

    async fn sendmsg(
        self: Arc<Self>,
        uuid: String,
        headers: Headers,
        _body: Option<bytes::Bytes>,
    ) -> String {
        match self.session(&uuid) {
            Some(ch) => Switch::sendmsg(&self, &ch, &headers),
            None => format!("-ERR invalid session id [{uuid}]"),
        }
    }

    fn hub(&self) -> &Hub {
        &self.hub
    }

    fn base_event(&self, name: &str) -> Event {
        let mut ev = self.stamp(name);
        ev.headers.set("Event-Calling-File", "mod_event_socket.c");
        ev
    }

    fn completions(&self, words: &[&str]) -> Vec<String> {
        match words {
            [] => API_COMMANDS.iter().map(|s| (*s).to_owned()).collect(),
            ["show"] => SHOW_SUBCOMMANDS.iter().map(|s| (*s).to_owned()).collect(),
            [cmd] if cmd.starts_with("uuid_") => lock(&self.channels).keys().cloned().collect(),
            _ => Vec::new(),
        }
    }

    fn channel_data(&self, uuid: &str) -> Option<Event> {
        self.channel(uuid).map(|ch| self.channel_data_event(&ch))
    }

    fn socket_connected(&self, uuid: &str) {
        if let Some(ch) = self.channel(uuid) {
            ch.update(|st| st.socket_connected = true);
        }
    }

    fn socket_released(&self, uuid: &str) {
        if let Some(ch) = self.channel(uuid) {
            ch.update(|st| st.socket_closed = true);
            ch.release();
        }
    }

    fn hangup_watch(&self, uuid: &str) -> Option<watch::Receiver<bool>> {
        self.channel(uuid).map(|ch| ch.hangup_done.subscribe())
    }
}

/// The api commands console completion offers first.
const API_COMMANDS: &[&str] = &[
    "callcenter_config",
    "console_complete",
    "help",
    "hostname",
    "hupall",
    "originate",
    "reloadxml",
    "show",
    "status",
    "switchname",
    "uuid_bridge",
    "uuid_break",
    "uuid_exists",
    "uuid_getvar",
    "uuid_kill",
    "uuid_setvar",
    "uuid_transfer",
    "version",
];

/// `show`'s sub-commands, as FreeSWITCH 1.10 completes them.
const SHOW_SUBCOMMANDS: &[&str] = &[
    "aliases",
    "api",
    "application",
    "bridged_calls",
    "calls",
    "channels",
    "chat",
    "codec",
    "complete",
    "detailed_bridged_calls",
    "detailed_calls",
    "dialplan",
    "endpoint",
    "file",
    "interface_types",
    "interfaces",
    "management",
    "modules",
    "nat_map",
    "registrations",
    "say",
    "status",
    "tasks",
    "timer",
];

/// One 20 ms packet time.
pub const FRAME: Duration = Duration::from_millis(20);

#[cfg(test)]
mod tests;
