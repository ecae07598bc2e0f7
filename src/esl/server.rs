//! The server side of ESL: what FreeSWITCH's `mod_event_socket` does for a client — the
//! greeting, authentication, command replies, per-connection event subscriptions and
//! filters, `log/data` frames, `api` answered on the connection's own thread and `bgapi`
//! answered by a BACKGROUND_JOB event, `console_complete` in fs_cli's format, the outbound
//! socket (`socket host:port async full`: `connect`, `myevents`, `linger`, `sendmsg` without a
//! uuid) and the disconnect notices. The switch behind it is a [`SwitchCore`]: the simulator
//! today, aicall's supervisor console tomorrow. Several clients at once, one task each.
//!
//! Events reach a connection through a [`Hub`]: like mod_event_socket's `event_handler`, the
//! hub decides *when an event fires* whether each connection wants it (subscription, filters,
//! `myevents`) and queues it for that connection, so a subscription made after an event fired
//! never receives it, and each connection sees events in the order they fired. The replies,
//! texts and orderings here follow the real switch as recorded in `data/esl-traces` (facts
//! 1–23 of its README).

use std::collections::HashSet;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tracing::{debug, info, warn};

use super::command::Command;
use super::event::{Event, EventFormat};
use super::frame::{Frame, FrameDecoder, Headers, Peer};

/// FreeSWITCH's goodbye, byte for byte.
pub const DISCONNECT_NOTICE: &str =
    "Disconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n";

/// Events (and log lines) queued per connection; mod_event_socket's `MAX_QUEUE_LEN`.
pub const EVENT_QUEUE: usize = 100_000;

/// A connection that failed this many enqueues in a row is dropped (`MAX_MISSED`).
pub const MAX_MISSED: usize = 500;

/// The event types `event`, `nixevent` and `sendevent` accept (`EVENT_NAMES` of
/// FreeSWITCH 1.10's switch_event.c). `event plain NOSUCHEVENT` names none of them and gets
/// `-ERR no keywords supplied`.
pub const EVENT_NAMES: &[&str] = &[
    "CUSTOM",
    "CLONE",
    "CHANNEL_CREATE",
    "CHANNEL_DESTROY",
    "CHANNEL_STATE",
    "CHANNEL_CALLSTATE",
    "CHANNEL_ANSWER",
    "CHANNEL_HANGUP",
    "CHANNEL_HANGUP_COMPLETE",
    "CHANNEL_EXECUTE",
    "CHANNEL_EXECUTE_COMPLETE",
    "CHANNEL_HOLD",
    "CHANNEL_UNHOLD",
    "CHANNEL_BRIDGE",
    "CHANNEL_UNBRIDGE",
    "CHANNEL_PROGRESS",
    "CHANNEL_PROGRESS_MEDIA",
    "CHANNEL_OUTGOING",
    "CHANNEL_PARK",
    "CHANNEL_UNPARK",
    "CHANNEL_APPLICATION",
    "CHANNEL_ORIGINATE",
    "CHANNEL_UUID",
    "API",
    "LOG",
    "INBOUND_CHAN",
    "OUTBOUND_CHAN",
    "STARTUP",
    "SHUTDOWN",
    "PUBLISH",
    "UNPUBLISH",
    "TALK",
    "NOTALK",
    "SESSION_CRASH",
    "MODULE_LOAD",
    "MODULE_UNLOAD",
    "DTMF",
    "MESSAGE",
    "PRESENCE_IN",
    "NOTIFY_IN",
    "PRESENCE_OUT",
    "PRESENCE_PROBE",
    "MESSAGE_WAITING",
    "MESSAGE_QUERY",
    "ROSTER",
    "CODEC",
    "BACKGROUND_JOB",
    "DETECTED_SPEECH",
    "DETECTED_TONE",
    "PRIVATE_COMMAND",
    "HEARTBEAT",
    "TRAP",
    "ADD_SCHEDULE",
    "DEL_SCHEDULE",
    "EXE_SCHEDULE",
    "RE_SCHEDULE",
    "RELOADXML",
    "NOTIFY",
    "PHONE_FEATURE",
    "PHONE_FEATURE_SUBSCRIBE",
    "SEND_MESSAGE",
    "RECV_MESSAGE",
    "REQUEST_PARAMS",
    "CHANNEL_DATA",
    "GENERAL",
    "COMMAND",
    "SESSION_HEARTBEAT",
    "CLIENT_DISCONNECTED",
    "SERVER_DISCONNECTED",
    "SEND_INFO",
    "RECV_INFO",
    "RECV_RTCP_MESSAGE",
    "CALL_SECURE",
    "NAT",
    "RECORD_START",
    "RECORD_STOP",
    "PLAYBACK_START",
    "PLAYBACK_STOP",
    "CALL_UPDATE",
    "FAILURE",
    "SOCKET_DATA",
    "MEDIA_BUG_START",
    "MEDIA_BUG_STOP",
    "CONFERENCE_DATA_QUERY",
    "CONFERENCE_DATA",
    "CALL_SETUP_REQ",
    "CALL_SETUP_RESULT",
    "CALL_DETAIL",
    "DEVICE_STATE",
    "REAL_TIME_TEXT",
    "ALL",
];

/// The events `myevents` turns on (mod_event_socket's list): the channel's own events,
/// DTMF and speech — not PLAYBACK_* and not CHANNEL_CALLSTATE.
const MYEVENTS: &[&str] = &[
    "CHANNEL_ANSWER",
    "CHANNEL_APPLICATION",
    "CHANNEL_BRIDGE",
    "CHANNEL_CREATE",
    "CHANNEL_DATA",
    "CHANNEL_DESTROY",
    "CHANNEL_EXECUTE",
    "CHANNEL_EXECUTE_COMPLETE",
    "CHANNEL_HANGUP",
    "CHANNEL_HANGUP_COMPLETE",
    "CHANNEL_ORIGINATE",
    "CHANNEL_UUID",
    "CHANNEL_OUTGOING",
    "CHANNEL_PARK",
    "CHANNEL_PROGRESS",
    "CHANNEL_PROGRESS_MEDIA",
    "CHANNEL_STATE",
    "CHANNEL_UNBRIDGE",
    "CHANNEL_UNPARK",
    "DETECTED_SPEECH",
    "DTMF",
    "NOTALK",
    "TALK",
];

/// The canonical name of an event type as `switch_name_event` reads it (case-insensitive,
/// with or without a `SWITCH_EVENT_` prefix), or `None` when FreeSWITCH has no such type.
pub fn event_type(name: &str) -> Option<&'static str> {
    let bare = if name.len() > 13 && name.is_char_boundary(13) {
        &name[13..]
    } else {
        ""
    };
    EVENT_NAMES
        .iter()
        .copied()
        .find(|n| n.eq_ignore_ascii_case(name) || n.eq_ignore_ascii_case(bare))
}

/// One log line as mod_event_socket writes it in a `log/data` frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogLine {
    /// 0 (console) … 7 (debug).
    pub level: u8,
    /// `Text-Channel`: 0 or 3 carry a full console line (`<date> <cpu>% [LEVEL] file:line
    /// text`), 1 (session lines such as `EXECUTE [depth=0] ...`) only the text.
    pub text_channel: u8,
    pub file: String,
    pub func: String,
    pub line: u32,
    /// The channel the line is about, or empty.
    pub user_data: String,
    /// The frame's body, ending in a newline.
    pub body: String,
}

/// What an `api` command returned: the body, and what the switch does once the reply is out
/// (the api thread has returned — a `bgapi` result has fired as BACKGROUND_JOB, an `api`
/// body has been written). The simulator uses it to let an originated leg go on to its
/// application only after the originate's result is out, as the real switch's A leg does.
pub struct ApiReply {
    pub body: String,
    pub then: Option<Box<dyn FnOnce() + Send>>,
}

impl From<String> for ApiReply {
    fn from(body: String) -> Self {
        Self { body, then: None }
    }
}

impl std::fmt::Debug for ApiReply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiReply")
            .field("body", &self.body)
            .field("then", &self.then.is_some())
            .finish()
    }
}

/// The switch a server-side session talks to.
pub trait SwitchCore: Send + Sync + 'static {
    /// Runs an API command line (`status`, `originate {..}loopback/7000 &park()`, ...) and
    /// returns its response body; an unknown command answers `-ERR <cmd> Command not
    /// found!\n` as FreeSWITCH does.
    fn api(self: Arc<Self>, command: String) -> impl Future<Output = ApiReply> + Send;
    /// Carries out `sendmsg` on channel `uuid`; returns the reply text (`+OK` or `-ERR ...`).
    fn sendmsg(
        self: Arc<Self>,
        uuid: String,
        headers: Headers,
        body: Option<bytes::Bytes>,
    ) -> impl Future<Output = String> + Send;
    /// Runs an API command for the client that authenticated as `who` (see
    /// [`SwitchCore::authenticate`]); a switch with identities checks what `who` may do.
    /// The default ignores who asks.
    fn api_as(
        self: Arc<Self>,
        who: Option<String>,
        command: String,
    ) -> impl Future<Output = ApiReply> + Send {
        let _ = who;
        self.api(command)
    }
    /// Checks `auth <secret>` (`user` is `None`) or `userauth <user>:<secret>`: the
    /// identity the connection works as, or `None` to leave it to the [`serve`] password
    /// (which grants no identity).
    fn authenticate(&self, user: Option<&str>, secret: &str) -> Option<String> {
        let _ = (user, secret);
        None
    }
    /// The hub every event and log line of this switch goes through.
    fn hub(&self) -> &Hub;
    /// A template event with the switch's common headers (Event-Name, Core-UUID, hostname,
    /// dates, sequence number), in FreeSWITCH's order.
    fn base_event(&self, name: &str) -> Event;
    /// Words that may stand at the end of `words` in a console command line (`show` after
    /// nothing, `channels` after `show`, channel uuids after `uuid_kill`). The server keeps
    /// those that start with what was typed and formats them as fs_cli expects.
    fn completions(&self, words: &[&str]) -> Vec<String> {
        let _ = words;
        Vec::new()
    }
    /// The CHANNEL_DATA event an outbound socket's `connect` is answered with, or `None`
    /// when the channel is gone.
    fn channel_data(&self, uuid: &str) -> Option<Event> {
        let _ = uuid;
        None
    }
    /// The outbound socket of channel `uuid` answered `connect`: its `socket` application
    /// may park the channel now.
    fn socket_connected(&self, uuid: &str) {
        let _ = uuid;
    }
    /// The outbound socket of channel `uuid` is closed (by `exit`, by the controller, or
    /// after the hangup without linger): the channel need not wait for it any more.
    fn socket_released(&self, uuid: &str) {
        let _ = uuid;
    }
    /// Turns `true` once channel `uuid` has hung up and its CHANNEL_HANGUP_COMPLETE has
    /// fired — when an outbound socket sends its linger notice or closes. `None` when the
    /// channel is unknown.
    fn hangup_watch(&self, uuid: &str) -> Option<watch::Receiver<bool>> {
        let _ = uuid;
        None
    }
}

// ------------------------------------------------------------------------------------------
// Event and log fan-out
// ------------------------------------------------------------------------------------------

/// Which events a connection receives, as its `event`, `nixevent`, `noevents`, `filter` and
/// `myevents` commands left it.
#[derive(Debug, Default)]
struct Subscription {
    /// `LFLAG_EVENTS`: some `event`/`myevents` command succeeded.
    enabled: bool,
    format: EventFormat,
    all: bool,
    names: HashSet<&'static str>,
    /// CUSTOM subclasses (every word after `CUSTOM`).
    subclasses: HashSet<String>,
    /// `(header, value)`; a value starting with `/` is a regular expression, a leading `-`
    /// excludes.
    filters: Vec<(String, String)>,
    /// `myevents`: `Some(Some(uuid))` only that channel's events; `Some(None)` after
    /// `myevents <unknown uuid>`, which FreeSWITCH accepts and then filters on nothing but
    /// the presence of a Unique-ID.
    myevents: Option<Option<String>>,
}

impl Subscription {
    fn wants(&self, event: &Event) -> bool {
        if !self.enabled {
            return false;
        }
        let name = event.name();
        let by_name = self.all
            || (self.names.contains(name)
                && (name != "CUSTOM"
                    || event.subclass().is_none_or(|s| self.subclasses.contains(s))));
        if !by_name || !self.passes_filters(event) {
            return false;
        }
        match &self.myevents {
            None => true,
            Some(uuid) => match event.unique_id() {
                None => false,
                Some(id) => uuid.as_deref().is_none_or(|u| u == id),
            },
        }
    }

    /// mod_event_socket's filter loop: with filters set, an event passes when a `+` filter
    /// (the default) matches and no `-` filter does.
    fn passes_filters(&self, event: &Event) -> bool {
        if self.filters.is_empty() {
            return true;
        }
        let mut send = false;
        for (header, raw) in &self.filters {
            let Some(value) = event.get(header) else {
                continue;
            };
            let mut positive = true;
            let mut comp = raw.as_str();
            while let Some(c) = comp.chars().next() {
                match c {
                    '+' => positive = true,
                    '-' => positive = false,
                    ' ' => {}
                    _ => break,
                }
                comp = &comp[1..];
            }
            if send && positive {
                continue;
            }
            let matched = match raw.strip_prefix('/') {
                Some(pattern) => {
                    let pattern = pattern.strip_suffix('/').unwrap_or(pattern);
                    regex_lite::Regex::new(pattern).is_ok_and(|re| re.is_match(value))
                }
                None => comp.eq_ignore_ascii_case(value),
            };
            if matched {
                if positive {
                    send = true;
                } else {
                    return false;
                }
            }
        }
        send
    }
}

#[derive(Debug)]
struct ListenerState {
    sub: Subscription,
    /// `log <level>` in effect (LFLAG_LOG and the level).
    log_level: Option<u8>,
    lost_events: usize,
    lost_logs: usize,
}

#[derive(Debug)]
struct Listener {
    id: u64,
    state: Mutex<ListenerState>,
    events: mpsc::Sender<Arc<Fired>>,
    logs: mpsc::Sender<Arc<LogLine>>,
    killed: watch::Sender<bool>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Poisoning only follows a panic elsewhere; the data stays usable.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// An event as fired, with its frame in each format rendered by the first connection that
/// writes it and shared by the others.
#[derive(Debug)]
struct Fired {
    event: Event,
    plain: OnceLock<Vec<u8>>,
    json: OnceLock<Vec<u8>>,
}

impl Fired {
    fn frame(&self, format: EventFormat) -> &[u8] {
        let cell = match format {
            EventFormat::Plain => &self.plain,
            EventFormat::Json => &self.json,
        };
        cell.get_or_init(|| {
            let body = self.event.serialize(format);
            let mut frame = format!(
                "Content-Length: {}\nContent-Type: text/event-{}\n\n",
                body.len(),
                format.as_str()
            )
            .into_bytes();
            frame.extend_from_slice(&body);
            frame
        })
    }
}

/// Fans events and log lines out to every connection that wants them, at the moment they
/// fire.
#[derive(Debug)]
pub struct Hub {
    listeners: Mutex<Vec<Arc<Listener>>>,
    next_id: AtomicU64,
    /// Events (and log lines) queued per connection before it counts as falling behind.
    queue: usize,
}

impl Default for Hub {
    fn default() -> Self {
        Self::with_queue(EVENT_QUEUE)
    }
}

impl Hub {
    /// An empty hub, queueing as FreeSWITCH does ([`EVENT_QUEUE`] per connection).
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty hub queueing `queue` events per connection: once a connection's queue is
    /// full, [`MAX_MISSED`] more lost in a row cut it off (with a log line).
    pub fn with_queue(queue: usize) -> Self {
        Hub {
            listeners: Mutex::default(),
            next_id: AtomicU64::new(0),
            queue: queue.max(1),
        }
    }

    /// Fires an event: queued now for every connection whose subscription wants it (and
    /// rendered once per format, whatever the number of connections).
    pub fn publish(&self, event: Event) {
        let event = Arc::new(Fired {
            event,
            plain: OnceLock::new(),
            json: OnceLock::new(),
        });
        for l in lock(&self.listeners).iter() {
            let mut st = lock(&l.state);
            if !st.sub.wants(&event.event) {
                continue;
            }
            match l.events.try_send(event.clone()) {
                Ok(()) => st.lost_events = 0,
                Err(mpsc::error::TrySendError::Full(_)) => {
                    st.lost_events += 1;
                    if st.lost_events > MAX_MISSED {
                        l.killed.send_replace(true);
                    }
                }
                Err(mpsc::error::TrySendError::Closed(_)) => {}
            }
        }
    }

    /// Logs a line: queued for every connection logging at its level or above.
    pub fn log(&self, line: LogLine) {
        let line = Arc::new(line);
        for l in lock(&self.listeners).iter() {
            let mut st = lock(&l.state);
            if st.log_level.is_none_or(|lvl| line.level > lvl) {
                continue;
            }
            match l.logs.try_send(line.clone()) {
                Ok(()) => st.lost_logs = 0,
                Err(mpsc::error::TrySendError::Full(_)) => {
                    st.lost_logs += 1;
                    if st.lost_logs > MAX_MISSED {
                        l.killed.send_replace(true);
                    }
                }
                Err(mpsc::error::TrySendError::Closed(_)) => {}
            }
        }
    }

    /// True when some connection logs at `level` or above: lets a switch skip formatting
    /// lines nobody reads.
    pub fn wants_log(&self, level: u8) -> bool {
        lock(&self.listeners)
            .iter()
            .any(|l| lock(&l.state).log_level.is_some_and(|lvl| level <= lvl))
    }

    /// Connected clients (inbound and outbound).
    pub fn connections(&self) -> usize {
        lock(&self.listeners).len()
    }

    fn register(
        &self,
    ) -> (
        Arc<Listener>,
        mpsc::Receiver<Arc<Fired>>,
        mpsc::Receiver<Arc<LogLine>>,
    ) {
        let (etx, erx) = mpsc::channel(self.queue);
        let (ltx, lrx) = mpsc::channel(self.queue);
        let listener = Arc::new(Listener {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            state: Mutex::new(ListenerState {
                sub: Subscription::default(),
                log_level: None,
                lost_events: 0,
                lost_logs: 0,
            }),
            events: etx,
            logs: ltx,
            killed: watch::Sender::new(false),
        });
        lock(&self.listeners).push(listener.clone());
        (listener, erx, lrx)
    }

    fn unregister(&self, id: u64) {
        lock(&self.listeners).retain(|l| l.id != id);
    }
}

/// Removes a connection from the hub however its task ends.
struct Registered<'a> {
    hub: &'a Hub,
    id: u64,
}

impl Drop for Registered<'_> {
    fn drop(&mut self) {
        self.hub.unregister(self.id);
    }
}

// ------------------------------------------------------------------------------------------
// Listener and control
// ------------------------------------------------------------------------------------------

/// How connected clients are let go when the switch shuts its event socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Farewell {
    /// Queued events are delivered, then the disconnect notice, then the close.
    Goodbye,
    /// The connection is cut with no goodbye (a crash).
    Cut,
}

/// What the owner of a [`serve`] loop asks of its sessions: each change of `generation`
/// lets every session connected before it go, as `farewell` says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Control {
    pub generation: u64,
    pub farewell: Farewell,
}

impl Default for Control {
    fn default() -> Self {
        Self {
            generation: 0,
            farewell: Farewell::Goodbye,
        }
    }
}

/// Accepts clients on `listener` until the task is dropped or aborted; each client gets a
/// session that authenticates with `password`.
pub async fn serve<C: SwitchCore>(
    listener: TcpListener,
    password: String,
    core: Arc<C>,
    control: watch::Receiver<Control>,
) {
    let password: Arc<str> = password.into();
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                debug!(%peer, "ESL client connected");
                let (core, password, control) = (core.clone(), password.clone(), control.clone());
                tokio::spawn(async move {
                    let mode = Mode::Inbound { password };
                    if let Err(e) = session(stream, mode, core, control).await {
                        debug!(%peer, error = %e, "ESL session ended with an error");
                    }
                });
            }
            Err(e) => {
                warn!(error = %e, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    }
}

/// Runs the session of an outbound socket: FreeSWITCH's `socket` application connected
/// `stream` to a controller on behalf of channel `uuid`. Nothing is sent until the
/// controller's first command (normally `connect`).
pub async fn outbound_session<C: SwitchCore>(
    stream: TcpStream,
    core: Arc<C>,
    uuid: String,
    control: watch::Receiver<Control>,
) -> std::io::Result<()> {
    let mode = Mode::Outbound { uuid: uuid.clone() };
    let result = session(stream, mode, core.clone(), control).await;
    core.socket_released(&uuid);
    result
}

// ------------------------------------------------------------------------------------------
// One session
// ------------------------------------------------------------------------------------------

enum Mode {
    Inbound { password: Arc<str> },
    Outbound { uuid: String },
}

/// What a session is doing besides reading commands.
struct Conn {
    stream: TcpStream,
    /// The controlled channel of an outbound socket.
    session_uuid: Option<String>,
    linger: bool,
    /// The linger notice was sent (the channel is down); the socket stays until `exit`.
    lingering: bool,
    /// Set by the hub when the client stopped reading (see [`MAX_MISSED`]).
    killed: watch::Receiver<bool>,
    id: u64,
}

impl Conn {
    /// Writes a whole frame, unless the client is cut off meanwhile: a client that stopped
    /// reading leaves the write blocked on a full socket, and the cut-off must not wait for
    /// it. The cut-off is logged here, once.
    async fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        let killed = async { self.killed.wait_for(|&k| k).await.map(|_| ()) };
        tokio::select! {
            biased;
            r = self.stream.write_all(bytes) => r,
            Ok(()) = killed => Err(self.cut_off()),
        }
    }

    fn cut_off(&self) -> std::io::Error {
        warn!(
            connection = self.id,
            "killed listener because of lost events (it fell {MAX_MISSED} behind a full queue)"
        );
        std::io::Error::new(
            std::io::ErrorKind::ConnectionAborted,
            "killed listener because of lost events",
        )
    }

    async fn reply(&mut self, text: &str) -> std::io::Result<()> {
        let frame = format!("Content-Type: command/reply\nReply-Text: {text}\n\n");
        self.send(frame.as_bytes()).await
    }

    async fn api_response(&mut self, body: &str) -> std::io::Result<()> {
        let body = if body.is_empty() {
            "-ERR no reply\n"
        } else {
            body
        };
        let frame = format!(
            "Content-Type: api/response\nContent-Length: {}\n\n{body}",
            body.len()
        );
        self.send(frame.as_bytes()).await
    }

    async fn event(&mut self, event: &Fired, format: EventFormat) -> std::io::Result<()> {
        self.send(event.frame(format)).await
    }

    async fn log(&mut self, line: &LogLine) -> std::io::Result<()> {
        let frame = format!(
            "Content-Type: log/data\nContent-Length: {}\nLog-Level: {}\nText-Channel: {}\n\
             Log-File: {}\nLog-Func: {}\nLog-Line: {}\nUser-Data: {}\n\n{}",
            line.body.len(),
            line.level,
            line.text_channel,
            line.file,
            line.func,
            line.line,
            line.user_data,
            line.body
        );
        self.send(frame.as_bytes()).await
    }

    /// The disconnect notice: a controlled session's names the channel.
    async fn goodbye(&mut self) -> std::io::Result<()> {
        let frame = match &self.session_uuid {
            Some(uuid) => format!(
                "Content-Type: text/disconnect-notice\nControlled-Session-UUID: {uuid}\n\
                 Content-Disposition: disconnect\nContent-Length: {}\n\n{DISCONNECT_NOTICE}",
                DISCONNECT_NOTICE.len()
            ),
            None => format!(
                "Content-Type: text/disconnect-notice\nContent-Length: {}\n\n{DISCONNECT_NOTICE}",
                DISCONNECT_NOTICE.len()
            ),
        };
        self.stream.write_all(frame.as_bytes()).await?;
        self.stream.flush().await
    }
}

/// The log level `log <level>` names: a word or a number 0–7; empty is debug (7).
fn log_level(name: &str) -> Option<u8> {
    let levels = [
        "console", "alert", "crit", "err", "warning", "notice", "info", "debug",
    ];
    if name.is_empty() {
        return Some(7);
    }
    if let Some(i) = levels.iter().position(|l| l.eq_ignore_ascii_case(name)) {
        return Some(i as u8);
    }
    if name.eq_ignore_ascii_case("error") {
        return Some(3);
    }
    name.parse::<u8>().ok().filter(|&n| n <= 7)
}

/// One connection from greeting (or, outbound, the controller's first command) to goodbye.
async fn session<C: SwitchCore>(
    stream: TcpStream,
    mode: Mode,
    core: Arc<C>,
    mut control: watch::Receiver<Control>,
) -> std::io::Result<()> {
    control.mark_unchanged();
    stream.set_nodelay(true)?;
    let (listener, mut events, mut logs) = core.hub().register();
    let _registered = Registered {
        hub: core.hub(),
        id: listener.id,
    };
    let mut killed = listener.killed.subscribe();
    let mut conn = Conn {
        stream,
        session_uuid: None,
        linger: false,
        lingering: false,
        killed: listener.killed.subscribe(),
        id: listener.id,
    };
    let (password, mut authed) = match &mode {
        Mode::Inbound { password } => (Some(password.clone()), false),
        Mode::Outbound { uuid } => {
            conn.session_uuid = Some(uuid.clone());
            (None, true)
        }
    };
    if password.is_some() {
        conn.stream
            .write_all(b"Content-Type: auth/request\n\n")
            .await?;
    }
    let mut hangup = conn
        .session_uuid
        .as_deref()
        .and_then(|u| core.hangup_watch(u));
    let mut decoder = FrameDecoder::new(Peer::Client);
    let mut buf = BytesMut::with_capacity(8192);
    // Who the client authenticated as, for a switch with identities.
    let mut who: Option<String> = None;

    loop {
        // A complete command first: the connection's thread runs it before anything else.
        match decoder.decode(&mut buf) {
            Ok(Some(frame)) => {
                let flow = handle(
                    &mut conn,
                    &listener,
                    &core,
                    password.as_deref(),
                    &mut authed,
                    &mut who,
                    frame,
                )
                .await?;
                if flow == Flow::Close {
                    // An outbound socket's channel is released by `outbound_session`.
                    return Ok(());
                }
                continue;
            }
            Ok(None) => {}
            Err(e) if e.is_fatal() => {
                warn!(error = %e, "closing ESL client connection");
                conn.goodbye().await?;
                return Ok(());
            }
            Err(e) => {
                warn!(error = %e, "skipping malformed client command");
                conn.reply("-ERR command not found").await?;
                continue;
            }
        }
        // Then, as mod_event_socket's read loop does: one log line, every queued event.
        let format = lock(&listener.state).sub.format;
        if let Ok(line) = logs.try_recv() {
            conn.log(&line).await?;
        }
        while let Ok(ev) = events.try_recv() {
            conn.event(&ev, format).await?;
        }
        // An outbound socket whose channel hung up: linger, or go.
        if let Some(done) = hangup.as_mut() {
            if *done.borrow() && !conn.lingering {
                // Everything the channel fired up to its HANGUP_COMPLETE goes out first.
                while let Ok(ev) = events.try_recv() {
                    conn.event(&ev, format).await?;
                }
                if conn.linger {
                    conn.lingering = true;
                    let uuid = conn.session_uuid.clone().unwrap_or_default();
                    let name = core
                        .channel_data(&uuid)
                        .and_then(|e| e.get("Channel-Name").map(str::to_owned))
                        .unwrap_or_default();
                    let frame = format!(
                        "Content-Type: text/disconnect-notice\nControlled-Session-UUID: {uuid}\n\
                         Content-Disposition: linger\nChannel-Name: {name}\nLinger-Time: -1\n\
                         Content-Length: 0\n\n"
                    );
                    conn.send(frame.as_bytes()).await?;
                } else {
                    conn.goodbye().await?;
                    return Ok(());
                }
            }
        }
        tokio::select! {
            n = conn.stream.read_buf(&mut buf) => {
                if n? == 0 {
                    // FreeSWITCH notices the EOF and still writes its notice into the
                    // half-closed socket (fs_cli's /exit, `fs_cli -x`).
                    let _ = conn.goodbye().await;
                    return Ok(());
                }
            }
            Some(line) = logs.recv() => conn.log(&line).await?,
            Some(ev) = events.recv() => conn.event(&ev, format).await?,
            Ok(()) = async {
                match hangup.as_mut() {
                    Some(rx) => rx.wait_for(|&d| d).await.map(|_| ()),
                    None => std::future::pending().await,
                }
            }, if !conn.lingering => {}
            _ = async { killed.wait_for(|&k| k).await.map(|_| ()) } => {
                conn.cut_off();
                // A listener that stopped reading may never take the goodbye: closing is
                // not held up by it.
                let _ = tokio::time::timeout(std::time::Duration::from_secs(1), conn.goodbye()).await;
                return Ok(());
            }
            changed = control.changed() => {
                let farewell = control.borrow_and_update().farewell;
                if changed.is_err() || farewell == Farewell::Cut {
                    // No goodbye: the switch is gone.
                    return Ok(());
                }
                while let Ok(ev) = events.try_recv() {
                    conn.event(&ev, format).await?;
                }
                conn.goodbye().await?;
                return Ok(());
            }
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Flow {
    Continue,
    Close,
}

/// Carries out one client command.
#[allow(clippy::too_many_arguments)]
async fn handle<C: SwitchCore>(
    conn: &mut Conn,
    listener: &Listener,
    core: &Arc<C>,
    password: Option<&str>,
    authed: &mut bool,
    who: &mut Option<String>,
    frame: Frame,
) -> std::io::Result<Flow> {
    let console = frame
        .headers
        .get("console_execute")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let _ = console;
    let command = Command::parse(frame);
    if let Command::Exit = command {
        conn.reply("+OK bye").await?;
        conn.goodbye().await?;
        return Ok(Flow::Close);
    }
    if !*authed {
        let identity = match &command {
            Command::Auth { password: given } => core.authenticate(None, given),
            Command::UserAuth { user, password } => core.authenticate(Some(user), password),
            _ => None,
        };
        if identity.is_some() {
            *authed = true;
            *who = identity;
            conn.reply("+OK accepted").await?;
            return Ok(Flow::Continue);
        }
        match command {
            Command::Auth { password: given }
                if password.is_some_and(|p| !p.is_empty() && p == given.as_str()) =>
            {
                *authed = true;
                conn.reply("+OK accepted").await?;
            }
            Command::Auth { .. } | Command::UserAuth { .. } => {
                info!("ESL client gave a wrong password");
                conn.reply("-ERR invalid").await?;
                conn.goodbye().await?;
                return Ok(Flow::Close);
            }
            _ => conn.reply("-ERR command not found").await?,
        }
        return Ok(Flow::Continue);
    }
    let outbound = conn.session_uuid.clone();
    match command {
        Command::Api { command } => {
            let word = command.split_whitespace().next().unwrap_or("");
            let reply = if word == "console_complete" {
                let args = command.trim_start()["console_complete".len()..].trim_start();
                ApiReply::from(console_complete(core.as_ref(), args))
            } else {
                core.clone().api_as(who.clone(), command).await
            };
            conn.api_response(&reply.body).await?;
            if let Some(then) = reply.then {
                then();
            }
        }
        Command::BgApi { command, job_uuid } => {
            let job_uuid = if job_uuid.is_empty() {
                uuid::Uuid::new_v4().to_string()
            } else {
                job_uuid
            };
            conn.reply(&format!("+OK Job-UUID: {job_uuid}\nJob-UUID: {job_uuid}"))
                .await?;
            let core = core.clone();
            let who = who.clone();
            tokio::spawn(async move {
                let (name, arg) = match command.split_once(' ') {
                    Some((n, a)) => (n.to_owned(), Some(a.to_owned())),
                    None => (command.clone(), None),
                };
                let reply = core.clone().api_as(who, command).await;
                let mut ev = core.base_event("BACKGROUND_JOB");
                ev.headers.push("Job-UUID", &job_uuid);
                ev.headers.push("Job-Command", &name);
                if let Some(arg) = arg {
                    ev.headers.push("Job-Command-Arg", &arg);
                }
                ev.body = Some(reply.body);
                core.hub().publish(ev);
                if let Some(then) = reply.then {
                    then();
                }
            });
        }
        Command::Event { format, names } => {
            let reply = subscribe(&mut lock(&listener.state).sub, format, names);
            conn.reply(&reply).await?;
        }
        Command::NixEvent { names } => {
            let reply = nix(&mut lock(&listener.state).sub, names);
            conn.reply(reply).await?;
        }
        Command::NoEvents => {
            let reply = {
                let mut st = lock(&listener.state);
                if st.sub.enabled {
                    let filters = std::mem::take(&mut st.sub.filters);
                    let format = st.sub.format;
                    st.sub = Subscription {
                        filters,
                        format,
                        ..Subscription::default()
                    };
                    "+OK no longer listening for events"
                } else {
                    "-ERR not listening for events"
                }
            };
            conn.reply(reply).await?;
        }
        Command::Filter { header, value } => {
            if header.is_empty() {
                conn.reply("-ERR command not found").await?;
            } else if value.is_empty() {
                conn.reply("-ERR invalid syntax").await?;
            } else {
                let (header, value) = if header.eq_ignore_ascii_case("add") {
                    match value.split_once(' ') {
                        Some((h, v)) => (h.to_owned(), v.to_owned()),
                        None => (value.clone(), String::new()),
                    }
                } else {
                    (header, value)
                };
                lock(&listener.state)
                    .sub
                    .filters
                    .push((header.clone(), value.clone()));
                conn.reply(&format!("+OK filter added. [{header}]=[{value}]"))
                    .await?;
            }
        }
        Command::FilterDelete { header, value } => {
            {
                let mut st = lock(&listener.state);
                if header.eq_ignore_ascii_case("all") {
                    st.sub.filters.clear();
                } else {
                    st.sub.filters.retain(|(h, v)| {
                        !(h.eq_ignore_ascii_case(&header)
                            && value.as_ref().is_none_or(|want| want == v))
                    });
                }
            }
            let shown = value.unwrap_or_default();
            conn.reply(&format!("+OK filter deleted. [{header}][{shown}]"))
                .await?;
        }
        Command::MyEvents { uuid, format } => {
            let target = match (&outbound, uuid.is_empty()) {
                (Some(own), _) => Some(Some(own.clone())),
                (None, true) => None,
                (None, false) => {
                    let known = core.channel_data(&uuid).is_some();
                    Some(known.then_some(uuid))
                }
            };
            match target {
                None => conn.reply("-ERR command not found").await?,
                Some(target) => {
                    let reply = {
                        let mut st = lock(&listener.state);
                        if st.sub.myevents.is_some() {
                            "-ERR aready enabled."
                        } else {
                            st.sub.myevents = Some(target);
                            st.sub.names.extend(MYEVENTS.iter().copied());
                            st.sub.enabled = true;
                            st.sub.format = format;
                            "+OK Events Enabled"
                        }
                    };
                    conn.reply(reply).await?;
                }
            }
        }
        Command::SendMsg {
            uuid,
            headers,
            body,
        } => {
            let target = match (uuid, &outbound) {
                (Some(u), _) => Some(u),
                (None, Some(own)) => Some(own.clone()),
                (None, None) => headers.get("session-id").map(str::to_owned),
            };
            let reply = match target {
                Some(u) if !u.is_empty() => core.clone().sendmsg(u, headers, body).await,
                _ => "-ERR invalid session id []".to_owned(),
            };
            conn.reply(&reply).await?;
        }
        Command::SendEvent {
            name,
            headers,
            body,
        } => {
            let reply = sendevent(core.as_ref(), &name, &headers, body);
            conn.reply(&reply).await?;
        }
        Command::Connect => match outbound.as_deref().and_then(|u| core.channel_data(u)) {
            Some(mut data) => {
                // One header block, no body and no Content-Length: the channel's data with
                // the reply's own headers last (its Reply-Text percent-encoded like the
                // rest).
                data.headers.push("Content-Type", "command/reply");
                data.headers.push("Reply-Text", "+OK\n");
                data.headers.push("Socket-Mode", "async");
                data.headers.push("Control", "full");
                data.body = None;
                let mut out = Vec::with_capacity(4096);
                data.write_plain(&mut out);
                conn.send(&out).await?;
                core.socket_connected(outbound.as_deref().unwrap_or(""));
            }
            None => conn.reply("-ERR command not found").await?,
        },
        Command::Linger => {
            if outbound.is_some() {
                conn.linger = true;
                conn.reply("+OK will linger").await?;
            } else {
                conn.reply("-ERR not controlling a session").await?;
            }
        }
        Command::NoLinger => {
            if outbound.is_some() {
                conn.linger = false;
                conn.reply("+OK will not linger").await?;
            } else {
                conn.reply("-ERR not controlling a session").await?;
            }
        }
        Command::Log { level } => match log_level(&level) {
            Some(n) => {
                lock(&listener.state).log_level = Some(n);
                conn.reply(&format!("+OK log level {level} [{n}]")).await?;
            }
            None => conn.reply("-ERR invalid log level").await?,
        },
        Command::NoLog => {
            let was = lock(&listener.state).log_level.take();
            conn.reply(if was.is_some() {
                "+OK no longer logging"
            } else {
                "-ERR not loging"
            })
            .await?;
        }
        // `exit` was answered before authentication was looked at.
        Command::Exit
        | Command::Auth { .. }
        | Command::UserAuth { .. }
        | Command::Unknown { .. } => conn.reply("-ERR command not found").await?,
    }
    Ok(Flow::Continue)
}

/// `event <format> <names...>`: every word after CUSTOM is a subclass.
fn subscribe(sub: &mut Subscription, format: EventFormat, names: Vec<String>) -> String {
    let mut keys = 0;
    let mut custom = false;
    for name in names {
        if custom {
            sub.subclasses.insert(name);
            continue;
        }
        if let Some(ty) = event_type(&name) {
            keys += 1;
            match ty {
                "ALL" => sub.all = true,
                "CUSTOM" => {
                    custom = true;
                    sub.names.insert(ty);
                }
                _ => {
                    sub.names.insert(ty);
                }
            }
        }
    }
    sub.format = format;
    if keys == 0 {
        return "-ERR no keywords supplied".to_owned();
    }
    sub.enabled = true;
    format!("+OK event listener enabled {}", format.as_str())
}

/// `nixevent <names...>`.
fn nix(sub: &mut Subscription, names: Vec<String>) -> &'static str {
    let mut keys = 0;
    let mut custom = false;
    for name in names {
        if custom {
            sub.subclasses.remove(&name);
            continue;
        }
        if let Some(ty) = event_type(&name) {
            keys += 1;
            match ty {
                "CUSTOM" => custom = true,
                "ALL" => {
                    sub.all = false;
                    sub.names.clear();
                }
                _ => {
                    if sub.all {
                        sub.all = false;
                        sub.names = EVENT_NAMES
                            .iter()
                            .copied()
                            .filter(|n| *n != "ALL")
                            .collect();
                    }
                    sub.names.remove(ty);
                }
            }
        }
    }
    if keys == 0 {
        return "-ERR no keywords supplied";
    }
    sub.enabled = true;
    "+OK events nixed"
}

/// `sendevent NAME` as mod_event_socket builds it: the client's headers (Event-Subclass
/// moved first, `Command` after it, the client's own Content-Length kept), then a fresh
/// Event-UUID, then the switch's standard headers, and the body. Returns the reply text.
fn sendevent<C: SwitchCore>(
    core: &C,
    name: &str,
    headers: &Headers,
    body: Option<bytes::Bytes>,
) -> String {
    let event_uuid = uuid::Uuid::new_v4().to_string();
    let ty = event_type(name.trim()).unwrap_or("CUSTOM");
    let base = core.base_event(ty);
    let mut ev = Event::default();
    if let Some(subclass) = headers.get("Event-Subclass") {
        ev.headers.push("Event-Subclass", subclass);
    }
    ev.headers.push("Command", &format!("sendevent {name}"));
    for (n, v) in headers.iter() {
        if !n.eq_ignore_ascii_case("Event-Subclass") {
            ev.headers.push(n, v);
        }
    }
    ev.headers.push("Event-UUID", &event_uuid);
    for (n, v) in base.headers.iter() {
        ev.headers.push(n, v);
    }
    ev.body = body.map(|b| String::from_utf8_lossy(&b).into_owned());
    core.hub().publish(ev);
    format!("+OK {event_uuid}")
}

/// `console_complete [c=<cursor>;]<line>` in fs_cli's format: a blank line, the candidates
/// as `[%20s]\t` four to a line, a blank line, and `write=<n>:<text>` when the completion
/// is certain (one candidate) or a longer common prefix exists — fs_cli deletes `n`
/// characters before its cursor and inserts `text`.
fn console_complete<C: SwitchCore>(core: &C, args: &str) -> String {
    let (cursor, line) = match args.strip_prefix("c=").and_then(|r| r.split_once(';')) {
        Some((c, l)) => (c.parse::<usize>().ok(), l),
        None => (None, args),
    };
    let upto = match cursor {
        Some(c) if c <= line.len() && line.is_char_boundary(c) => &line[..c],
        _ => line,
    };
    let mut words: Vec<&str> = upto.split(' ').filter(|w| !w.is_empty()).collect();
    let partial = if upto.ends_with(' ') || upto.is_empty() {
        ""
    } else {
        words.pop().unwrap_or("")
    };
    let mut candidates: Vec<String> = core
        .completions(&words)
        .into_iter()
        .filter(|c| c.starts_with(partial))
        .collect();
    candidates.sort();
    candidates.dedup();
    let mut out = String::from("\n\n");
    for (i, c) in candidates.iter().enumerate() {
        out.push_str(&format!("[{c:>20}]\t"));
        if (i + 1).is_multiple_of(4) {
            out.push('\n');
        }
    }
    if !candidates.len().is_multiple_of(4) {
        out.push('\n');
    }
    out.push('\n');
    match candidates.as_slice() {
        [only] => out.push_str(&format!("write={}:{only} ", partial.len())),
        [first, rest @ ..] => {
            let common = rest.iter().fold(first.as_str(), |acc, c| {
                let n = acc
                    .char_indices()
                    .zip(c.chars())
                    .take_while(|((_, a), b)| a == b)
                    .last()
                    .map_or(0, |((i, a), _)| i + a.len_utf8());
                &acc[..n]
            });
            if common.len() > partial.len() {
                out.push_str(&format!("write={}:{common}", partial.len()));
            } else {
                out.push('\n');
            }
        }
        [] => out.push('\n'),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_names_as_switch_name_event_reads_them() {
        assert_eq!(event_type("channel_answer"), Some("CHANNEL_ANSWER"));
        assert_eq!(event_type("SWITCH_EVENT_CUSTOM"), Some("CUSTOM"));
        assert_eq!(event_type("NOSUCHEVENT"), None);
        assert_eq!(event_type("ALL"), Some("ALL"));
    }

    /// A connection that stops reading is cut off once its queue is full and `MAX_MISSED`
    /// more were lost in a row; one that reads keeps every event.
    #[test]
    fn a_listener_that_stops_reading_is_cut_off_and_a_reader_loses_nothing() {
        let hub = Hub::with_queue(8);
        let (stalled, _stalled_rx, _) = hub.register();
        let (reader, mut reader_rx, _) = hub.register();
        for l in [&stalled, &reader] {
            let mut st = lock(&l.state);
            st.sub.enabled = true;
            st.sub.all = true;
        }
        let mut read = 0;
        for i in 0..(8 + MAX_MISSED + 1) {
            hub.publish(Event::new(&format!("EVENT_{i}")));
            // The reader keeps up; the stalled one never reads.
            while reader_rx.try_recv().is_ok() {
                read += 1;
            }
            if i < 8 + MAX_MISSED {
                assert!(!*stalled.killed.borrow(), "cut off early, at event {i}");
            }
        }
        assert!(*stalled.killed.borrow(), "the stalled listener is cut off");
        assert!(!*reader.killed.borrow());
        assert_eq!(read, 8 + MAX_MISSED + 1, "the reader lost nothing");
    }

    /// A switch with nothing but a hub and a few completions, for the socket-level and
    /// completion tests.
    struct Bare(Hub);

    impl SwitchCore for Bare {
        async fn api(self: Arc<Self>, _command: String) -> ApiReply {
            String::from("+OK\n").into()
        }
        async fn sendmsg(
            self: Arc<Self>,
            _uuid: String,
            _headers: Headers,
            _body: Option<bytes::Bytes>,
        ) -> String {
            "+OK".to_owned()
        }
        fn hub(&self) -> &Hub {
            &self.0
        }
        fn base_event(&self, name: &str) -> Event {
            Event::new(name)
        }
        fn completions(&self, words: &[&str]) -> Vec<String> {
            match words {
                [] => vec!["show".into(), "status".into(), "uuid_kill".into()],
                ["show"] => (0..5).map(|i| format!("sub{i}")).collect(),
                _ => vec![],
            }
        }
    }

    /// A client that stops reading leaves the server's write blocked on a full socket: it
    /// is still cut off once its queue overflows, without waiting for the write.
    #[tokio::test]
    async fn a_client_that_stops_reading_is_closed_though_a_write_is_blocked() {
        let core = Arc::new(Bare(Hub::with_queue(4)));
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("address");
        let (_control_tx, control) = watch::channel(Control::default());
        let server = tokio::spawn(serve(listener, "pw".to_owned(), core.clone(), control));
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket.set_recv_buffer_size(4096).expect("buffer size");
        let mut client = socket.connect(addr).await.expect("connect");
        client
            .write_all(b"auth pw\n\nevent plain ALL\n\n")
            .await
            .expect("subscribe");
        let mut buf = vec![0u8; 1 << 16];
        let mut got = Vec::new();
        while !String::from_utf8_lossy(&got).contains("event listener enabled plain") {
            let n = client.read(&mut buf).await.expect("read");
            got.extend_from_slice(&buf[..n]);
        }
        // Stop reading; publish far more than the socket and the queue hold.
        let listener = lock(&core.0.listeners)[0].clone();
        let big = "x".repeat(16 * 1024);
        let mut published = 0;
        while !*listener.killed.borrow() && published < 100_000 {
            let mut ev = core.base_event("HEARTBEAT");
            ev.headers.push("Payload", &big);
            core.0.publish(ev);
            published += 1;
            tokio::task::yield_now().await;
        }
        assert!(
            *listener.killed.borrow(),
            "the listener was never marked cut off"
        );
        // The session ends by itself (it does not wait for the blocked write): the hub
        // forgets it, and the client, reading at last, reaches the end of the stream.
        let gone = async {
            while core.0.connections() > 0 {
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
        };
        tokio::time::timeout(std::time::Duration::from_secs(5), gone)
            .await
            .expect("the cut-off session is still registered");
        let drained = async {
            loop {
                match client.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
            }
        };
        tokio::time::timeout(std::time::Duration::from_secs(5), drained)
            .await
            .expect("the connection was not closed");
        server.abort();
    }

    #[test]
    fn log_levels() {
        assert_eq!(log_level(""), Some(7));
        assert_eq!(log_level("debug"), Some(7));
        assert_eq!(log_level("ERR"), Some(3));
        assert_eq!(log_level("5"), Some(5));
        assert_eq!(log_level("loud"), None);
        assert_eq!(log_level("8"), None);
    }

    fn event(pairs: &[(&str, &str)]) -> Event {
        let mut ev = Event::default();
        for (n, v) in pairs {
            ev.headers.push(n, v);
        }
        ev
    }

    #[test]
    fn subscriptions_custom_subclasses_filters_and_myevents() {
        let mut sub = Subscription {
            enabled: true,
            ..Default::default()
        };
        sub.names.insert("CUSTOM");
        sub.subclasses.insert("aicall::call".into());
        let call = event(&[("Event-Name", "CUSTOM"), ("Event-Subclass", "aicall::call")]);
        let other = event(&[
            ("Event-Name", "CUSTOM"),
            ("Event-Subclass", "aicall::other"),
        ]);
        assert!(sub.wants(&call));
        assert!(!sub.wants(&other));
        sub.filters
            .push(("Event-Subclass".into(), "-aicall::call".into()));
        assert!(!sub.wants(&call), "a negative filter excludes");
        sub.filters = vec![("Unique-ID".into(), "/^ab/".into())];
        sub.names.insert("CHANNEL_ANSWER");
        let answer = event(&[("Event-Name", "CHANNEL_ANSWER"), ("Unique-ID", "abc")]);
        assert!(sub.wants(&answer));
        sub.filters.clear();
        sub.myevents = Some(Some("xyz".into()));
        assert!(!sub.wants(&answer));
        sub.myevents = Some(None);
        assert!(
            sub.wants(&answer),
            "myevents with an unknown uuid keeps any channel"
        );
    }

    #[test]
    fn completion_in_fs_cli_format() {
        assert_eq!(
            console_complete(&Bare(Hub::new()), "c=3;sho"),
            "\n\n[                show]\t\n\nwrite=3:show "
        );
        // Several candidates with a longer common prefix: fs_cli inserts the prefix.
        assert_eq!(
            console_complete(&Bare(Hub::new()), "c=6;show s"),
            "\n\n[                sub0]\t[                sub1]\t[                sub2]\t\
             [                sub3]\t\n[                sub4]\t\n\nwrite=1:sub"
        );
        assert_eq!(
            console_complete(&Bare(Hub::new()), "s"),
            "\n\n[                show]\t[              status]\t\n\n\n"
        );
    }
}
