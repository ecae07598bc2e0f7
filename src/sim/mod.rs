//! The switch simulator: an ESL server that behaves like FreeSWITCH 1.10 for everything
//! aicall uses (see ESL.md), so that tests and `aicall demo` run without a FreeSWITCH.
//!
//! It answers `api`/`bgapi` (`status`, `version`, `show channels [as json]`, `originate`
//! with `{vars}` and `&park()`, `uuid_kill`, `hupall`, `uuid_break`, `uuid_transfer`,
//! `uuid_exists`, `uuid_getvar`/`uuid_setvar`), `sendmsg` (execute `playback`/`hangup`/`park`/
//! `sleep`, hangup with a cause, `unicast`), and fires the channel events of each outcome in
//! FreeSWITCH's order with its headers. Callees follow [`scenario`]s: ring time, outcome and
//! a timed script of WAV replies. After `unicast` the callee's audio streams to aicall as
//! 20 ms L16 datagrams paced in real time, and every datagram aicall sends back is recorded,
//! so tests can assert what the callee heard and when.
//!
//! Depends on [`crate::esl`] only.

pub mod scenario;

mod audio;
mod channel;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use tokio::net::TcpListener;
use tokio::sync::{broadcast, watch};
use tracing::{debug, info};

use crate::esl::server::{self, SwitchCore};
use crate::esl::{Event, HangupCause, Headers};
use crate::pii::Pii;

pub use audio::load_wav_mono;
pub use channel::{Cdr, Recording, RxDatagram};
use channel::{Channel, ChannelPhase};
pub use scenario::{Callee, Outcome, Scenarios, Step};

/// Simulator settings.
#[derive(Clone, Debug)]
pub struct SimConfig {
    pub listen: SocketAddr,
    pub password: String,
    pub scenarios: Scenarios,
    pub hostname: String,
    /// Keep every sample the callee heard and every datagram's arrival (tests). Off for load
    /// benchmarks, where only counters and timings are kept.
    pub record_audio: bool,
    /// After `uuid_transfer` into the dialplan, the simulated agent talks this long.
    pub agent_talk_ms: u64,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            password: "ClueCon".into(),
            scenarios: Scenarios::default(),
            hostname: "aicall-sim".into(),
            record_audio: true,
            agent_talk_ms: 1500,
        }
    }
}

/// The simulated switch's state, shared by its ESL sessions and channel tasks.
#[derive(Debug)]
pub struct Switch {
    core_uuid: String,
    hostname: String,
    started: Instant,
    events: broadcast::Sender<Arc<Event>>,
    seq: AtomicU64,
    channels: Mutex<HashMap<String, Arc<Channel>>>,
    scenarios: Scenarios,
    record_audio: bool,
    agent_talk_ms: u64,
    sessions_total: AtomicU64,
    peak: AtomicU64,
    recordings: Mutex<HashMap<String, Arc<Mutex<Recording>>>>,
    cdrs: Mutex<Vec<Cdr>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Poisoning only follows a panic elsewhere; the maps stay usable.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A running simulator.
#[derive(Debug)]
pub struct SimSwitch {
    addr: SocketAddr,
    core: Arc<Switch>,
    control: watch::Sender<u64>,
    task: tokio::task::JoinHandle<()>,
}

impl SimSwitch {
    /// Binds the listener and starts serving.
    pub async fn start(cfg: SimConfig) -> std::io::Result<Self> {
        let listener = TcpListener::bind(cfg.listen).await?;
        let addr = listener.local_addr()?;
        let (events, _) = broadcast::channel(server::EVENT_QUEUE);
        let core = Arc::new(Switch {
            core_uuid: uuid::Uuid::new_v4().to_string(),
            hostname: cfg.hostname,
            started: Instant::now(),
            events,
            seq: AtomicU64::new(1),
            channels: Mutex::new(HashMap::new()),
            scenarios: cfg.scenarios,
            record_audio: cfg.record_audio,
            agent_talk_ms: cfg.agent_talk_ms,
            sessions_total: AtomicU64::new(0),
            peak: AtomicU64::new(0),
            recordings: Mutex::new(HashMap::new()),
            cdrs: Mutex::new(Vec::new()),
        });
        let (control, rx) = watch::channel(0u64);
        let task = tokio::spawn(server::serve(listener, cfg.password, core.clone(), rx));
        info!(%addr, "switch simulator listening");
        Ok(Self {
            addr,
            core,
            control,
            task,
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

    /// What the callee of channel `uuid` heard and sent, kept after hangup.
    pub fn recording(&self, uuid: &str) -> Option<Recording> {
        lock(&self.core.recordings)
            .get(uuid)
            .map(|r| lock(r).clone())
    }

    /// Call detail records of finished channels.
    pub fn cdrs(&self) -> Vec<Cdr> {
        lock(&self.core.cdrs).clone()
    }

    /// Number of live channels.
    pub fn live_channels(&self) -> usize {
        lock(&self.core.channels).len()
    }

    /// Disconnects every ESL client (as a restart of mod_event_socket would) while calls
    /// stay up; clients may reconnect at once.
    pub fn kick_clients(&self) {
        self.control.send_modify(|g| *g += 1);
    }

    /// Stops: clients get the disconnect notice, every channel is hung up (its media
    /// sockets released) and the listening port is freed.
    pub async fn stop(self) {
        self.control.send_replace(server::STOP);
        let _ = self.task.await;
        let chans: Vec<_> = lock(&self.core.channels).values().cloned().collect();
        for ch in chans {
            self.core.hangup(&ch, HangupCause::SystemShutdown);
        }
    }
}

impl Switch {
    fn next_seq(&self) -> u64 {
        self.seq.fetch_add(1, Ordering::Relaxed)
    }

    fn emit(&self, event: Event) {
        // No subscriber is fine: FreeSWITCH fires events whether or not anyone listens.
        let _ = self.events.send(Arc::new(event));
    }

    fn channel(&self, uuid: &str) -> Option<Arc<Channel>> {
        lock(&self.channels).get(uuid).cloned()
    }

    /// Ends a channel: stops its media, fires HANGUP, HANGUP_COMPLETE and DESTROY, writes
    /// the CDR. Does nothing if it already ended.
    fn hangup(&self, ch: &Arc<Channel>, cause: HangupCause) {
        if !ch.begin_hangup(cause) {
            return;
        }
        self.emit(ch.event(self, "CHANNEL_HANGUP"));
        self.emit(ch.event(self, "CHANNEL_HANGUP_COMPLETE"));
        ch.set_phase(ChannelPhase::Destroyed);
        self.emit(ch.event(self, "CHANNEL_DESTROY"));
        lock(&self.channels).remove(&ch.uuid);
        lock(&self.cdrs).push(ch.cdr());
        debug!(uuid = %ch.uuid, number = %Pii(&ch.number), %cause, "simulated channel ended");
    }

    fn status(&self) -> String {
        let up = self.started.elapsed();
        let secs = up.as_secs();
        let live = lock(&self.channels).len();
        format!(
            "UP 0 years, {} days, {} hours, {} minutes, {} seconds, {} milliseconds, {} microseconds\n\
             FreeSWITCH (Version 1.10.12 -release 64bit) is ready\n\
             {} session(s) since startup\n\
             {} session(s) - peak {}, last 5min {}\n\
             0 session(s) per Sec out of max 30, peak 0, last 5min 0\n\
             1000 session(s) max\n\
             min idle cpu 0.00/100.00\n\
             Current Stack Size/Max 240K/8192K\n",
            secs / 86_400,
            secs / 3600 % 24,
            secs / 60 % 60,
            secs % 60,
            up.subsec_millis(),
            up.subsec_micros() % 1000,
            self.sessions_total.load(Ordering::Relaxed),
            live,
            self.peak.load(Ordering::Relaxed),
            self.peak.load(Ordering::Relaxed),
        )
    }

    fn show_channels(&self, json: bool) -> String {
        let mut chans: Vec<_> = lock(&self.channels).values().cloned().collect();
        chans.sort_by_key(|c| c.created_epoch_us);
        if json {
            if chans.is_empty() {
                return "{\"row_count\":0}\n".into();
            }
            let rows: Vec<serde_json::Value> = chans.iter().map(|c| c.show_row(self)).collect();
            let v = serde_json::json!({ "row_count": rows.len(), "rows": rows });
            return format!("{v}\n");
        }
        let mut out = String::from("uuid,direction,created,created_epoch,name,state,cid_name,cid_num,ip_addr,dest,application,application_data,dialplan,context,read_codec,read_rate,read_bit_rate,write_codec,write_rate,write_bit_rate,secure,hostname,presence_id,presence_data,accountcode,callstate,callee_name,callee_num,callee_direction,call_uuid,sent_callee_name,sent_callee_num,initial_cid_name,initial_cid_num,initial_ip_addr,initial_dest,initial_dialplan,initial_context\n");
        for c in &chans {
            let row = c.show_row(self);
            let cols = [
                "uuid",
                "direction",
                "created",
                "created_epoch",
                "name",
                "state",
                "cid_name",
                "cid_num",
                "ip_addr",
                "dest",
                "application",
                "application_data",
                "dialplan",
                "context",
                "read_codec",
                "read_rate",
                "read_bit_rate",
                "write_codec",
                "write_rate",
                "write_bit_rate",
                "secure",
                "hostname",
                "presence_id",
                "presence_data",
                "accountcode",
                "callstate",
                "callee_name",
                "callee_num",
                "callee_direction",
                "call_uuid",
                "sent_callee_name",
                "sent_callee_num",
                "initial_cid_name",
                "initial_cid_num",
                "initial_ip_addr",
                "initial_dest",
                "initial_dialplan",
                "initial_context",
            ];
            let line: Vec<&str> = cols
                .iter()
                .map(|k| row.get(*k).and_then(|v| v.as_str()).unwrap_or(""))
                .collect();
            out.push_str(&line.join(","));
            out.push('\n');
        }
        out.push_str(&format!("\n{} total.\n", chans.len()));
        out
    }

    async fn originate(self: &Arc<Self>, args: &str) -> String {
        let Some(req) = channel::OriginateRequest::parse(args) else {
            return "-USAGE: <call url> <exten>|&<application_name>(<app_args>) [<dialplan>] [<context>] [<cid_name>] [<cid_num>] [<timeout_sec>]\n".into();
        };
        let callee = self.scenarios.resolve(
            &req.number,
            req.vars.get("sim_scenario").map(String::as_str),
        );
        if callee.outcome == Outcome::GatewayDown {
            return "-ERR GATEWAY_DOWN\n".into();
        }
        if lock(&self.channels).contains_key(&req.uuid) {
            return "-ERR DESTINATION_OUT_OF_ORDER\n".into();
        }
        debug!(number = %Pii(&req.number), uuid = %req.uuid, outcome = ?callee.outcome, "originate");
        let ch = Channel::new(req, callee, self.record_audio);
        lock(&self.recordings).insert(ch.uuid.clone(), ch.recording.clone());
        {
            let mut chans = lock(&self.channels);
            chans.insert(ch.uuid.clone(), ch.clone());
            self.peak.fetch_max(chans.len() as u64, Ordering::Relaxed);
        }
        self.sessions_total.fetch_add(1, Ordering::Relaxed);
        self.emit(ch.event(self, "CHANNEL_CREATE"));
        channel::run_originate(self.clone(), ch).await
    }

    async fn dispatch_api(self: &Arc<Self>, line: &str) -> String {
        let line = line.trim();
        let (cmd, args) = match line.split_once(char::is_whitespace) {
            Some((c, a)) => (c, a.trim()),
            None => (line, ""),
        };
        let words: Vec<&str> = args.split_whitespace().collect();
        match cmd {
            "status" => self.status(),
            "version" => "FreeSWITCH Version 1.10.12-release~64bit (-release 64bit)\n".into(),
            "show" => match words.as_slice() {
                ["channels"] | ["calls"] => self.show_channels(false),
                ["channels", "as", "json"] | ["calls", "as", "json"] => self.show_channels(true),
                ["channels", "count"] | ["calls", "count"] => {
                    format!("\n{} total.\n", lock(&self.channels).len())
                }
                _ => "-USAGE: show channels|calls [as json]\n".into(),
            },
            "originate" => self.originate(args).await,
            "uuid_kill" => match words.first().and_then(|u| self.channel(u)) {
                Some(ch) => {
                    let cause = words.get(1).map(|c| HangupCause::from_name(c));
                    self.hangup(&ch, cause.unwrap_or(HangupCause::NormalClearing));
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
            "uuid_break" => match words.first().and_then(|u| self.channel(u)) {
                Some(ch) => {
                    ch.break_media();
                    "+OK\n".into()
                }
                None => "-ERR No such channel!\n".into(),
            },
            "uuid_transfer" => match words.first().and_then(|u| self.channel(u)) {
                Some(ch) if words.get(1) == Some(&"park") => {
                    ch.repark();
                    self.emit(ch.event_with_app(self, "CHANNEL_EXECUTE", "park", "", None));
                    self.emit(ch.event(self, "CHANNEL_PARK"));
                    "+OK\n".into()
                }
                Some(ch) if words.len() >= 2 => {
                    // Into the dialplan (an agent queue): the call leaves aicall's park and its
                    // unicast stream; the simulated agent talks for `agent_talk_ms`, then the
                    // call ends normally.
                    let dest = words[1..].join(" ");
                    ch.set_var("sim_transferred_to", &dest);
                    ch.break_media();
                    self.emit(ch.event_with_app(self, "CHANNEL_EXECUTE", "transfer", &dest, None));
                    let (sw, ch) = (Arc::clone(self), Arc::clone(&ch));
                    let talk = Duration::from_millis(self.agent_talk_ms);
                    tokio::spawn(async move {
                        tokio::time::sleep(talk).await;
                        sw.hangup(&ch, HangupCause::NormalClearing);
                    });
                    "+OK\n".into()
                }
                Some(_) => {
                    "-USAGE: <uuid> [-bleg|-both] <dest-exten> [<dialplan>] [<context>]\n".into()
                }
                None => "-ERR No such channel!\n".into(),
            },
            "uuid_exists" => {
                let exists = words.first().is_some_and(|u| self.channel(u).is_some());
                format!("{exists}")
            }
            "uuid_getvar" => match (words.first().and_then(|u| self.channel(u)), words.get(1)) {
                (Some(ch), Some(var)) => ch.var(var).unwrap_or_else(|| "_undef_".into()),
                (None, _) => "-ERR No such channel!\n".into(),
                _ => "-USAGE: <uuid> <var>\n".into(),
            },
            "uuid_setvar" => match (words.first().and_then(|u| self.channel(u)), words.get(1)) {
                (Some(ch), Some(var)) => {
                    ch.set_var(var, words.get(2).copied().unwrap_or(""));
                    "+OK\n".into()
                }
                (None, _) => "-ERR No such channel!\n".into(),
                _ => "-USAGE: <uuid> <var> [value]\n".into(),
            },
            "reloadxml" => "+OK [Success]\n".into(),
            "" => "-ERR Command not found!\n".into(),
            other => format!("-ERR {other} Command not found!\n"),
        }
    }

    /// Common headers of every event, as FreeSWITCH writes them.
    fn stamp(&self, name: &str) -> Event {
        let mut ev = Event::new(name);
        let now = SystemTime::now();
        let dt = time::OffsetDateTime::from(now);
        let local = dt
            .format(time::macros::format_description!(
                "[year]-[month]-[day] [hour]:[minute]:[second]"
            ))
            .unwrap_or_default();
        let gmt = dt
            .format(time::macros::format_description!(
                "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
            ))
            .unwrap_or_default();
        let micros = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_micros();
        ev.headers.push("Core-UUID", &self.core_uuid);
        ev.headers.push("FreeSWITCH-Hostname", &self.hostname);
        ev.headers.push("FreeSWITCH-Switchname", &self.hostname);
        ev.headers.push("FreeSWITCH-IPv4", "127.0.0.1");
        ev.headers.push("FreeSWITCH-IPv6", "::1");
        ev.headers.push("Event-Date-Local", &local);
        ev.headers.push("Event-Date-GMT", &gmt);
        ev.headers.push("Event-Date-Timestamp", &micros.to_string());
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
}

impl SwitchCore for Switch {
    async fn api(self: Arc<Self>, command: String) -> String {
        self.dispatch_api(&command).await
    }

    fn sendmsg(
        self: Arc<Self>,
        uuid: Option<String>,
        headers: Headers,
        _body: Option<bytes::Bytes>,
    ) -> impl std::future::Future<Output = String> + Send {
        let reply = match uuid.as_deref().and_then(|u| self.channel(u)) {
            Some(ch) => channel::sendmsg(&self, &ch, &headers),
            None => format!("-ERR invalid session id [{}]", uuid.unwrap_or_default()),
        };
        std::future::ready(reply)
    }

    fn sendevent(&self, event: Event) -> String {
        let id = uuid::Uuid::new_v4().to_string();
        self.emit(event);
        format!("+OK {id}")
    }

    fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.events.subscribe()
    }

    fn publish(&self, event: Event) {
        self.emit(event);
    }

    fn base_event(&self, name: &str) -> Event {
        self.stamp(name)
    }
}

/// One 20 ms packet time.
pub const FRAME: Duration = Duration::from_millis(20);
