//! The ESL client (inbound mode) on tokio: connect and authenticate, `api`, `bgapi` with
//! Job-UUID correlation, event subscriptions and filters, `sendmsg`, per-command timeouts,
//! and a reconnecting handle that replays subscriptions and reconciles live calls from
//! `show channels as json` after every reconnect.
//!
//! One reader task per connection reads the socket continuously and never waits for the
//! application: events go into an unbounded queue (its depth is logged when it grows), so
//! FreeSWITCH never sees a slow listener (it drops one 100,000 events behind). Replies are
//! matched to commands in order, which is how ESL works: every command gets exactly one
//! `command/reply` or `api/response`, events interleaved. `bgapi` results are matched by the
//! Job-UUID aicall chooses, and survive a reconnect.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, watch};
use tracing::{debug, info, warn};

use super::command::Command;
use super::event::{Event, EventFormat};
use super::frame::{Frame, FrameDecoder, FrameError, Headers, Peer};

/// Errors of the ESL client.
#[derive(Debug, thiserror::Error)]
pub enum EslError {
    #[error("cannot connect to FreeSWITCH ESL at {addr}: {source}")]
    Connect {
        addr: String,
        source: std::io::Error,
    },
    #[error("timed out connecting to FreeSWITCH ESL at {addr}")]
    ConnectTimeout { addr: String },
    #[error("FreeSWITCH refused the ESL password ({reply}); check [esl] password")]
    AuthFailed { reply: String },
    #[error("FreeSWITCH refused the connection by ACL: {0}")]
    AccessDenied(String),
    #[error("ESL I/O error: {0}")]
    Io(#[from] std::io::Error),
    #[error("ESL protocol error: {0}")]
    Protocol(#[from] FrameError),
    #[error("unexpected ESL frame during {stage}: {content_type:?}")]
    Unexpected {
        stage: &'static str,
        content_type: Option<String>,
    },
    #[error("FreeSWITCH did not answer `{command}` within {after:?}; the connection is reset")]
    CommandTimeout { command: String, after: Duration },
    #[error("background job {job_uuid} got no result within {after:?}")]
    JobTimeout { job_uuid: String, after: Duration },
    #[error("the ESL connection closed")]
    Disconnected,
    #[error("not connected to FreeSWITCH ESL (reconnecting)")]
    NotConnected,
    #[error("FreeSWITCH answered `{command}` with {reply}")]
    CommandFailed { command: String, reply: String },
}

/// Client settings.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// `host:port` of FreeSWITCH's event socket (or of the simulator).
    pub addr: String,
    pub password: String,
    pub connect_timeout: Duration,
    /// How long a command may wait for its reply before the connection is reset.
    pub command_timeout: Duration,
    /// First and largest delay between reconnect attempts (doubling in between).
    pub reconnect_initial: Duration,
    pub reconnect_max: Duration,
    pub format: EventFormat,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            addr: "127.0.0.1:8021".into(),
            password: "ClueCon".into(),
            connect_timeout: Duration::from_secs(5),
            command_timeout: Duration::from_secs(10),
            reconnect_initial: Duration::from_millis(200),
            reconnect_max: Duration::from_secs(10),
            format: EventFormat::Plain,
        }
    }
}

/// What the client reports on its event stream.
#[derive(Debug)]
pub enum ClientEvent {
    Event(Event),
    /// The connection was lost; commands fail with [`EslError::NotConnected`] until
    /// [`ClientEvent::Reconnected`].
    Disconnected {
        reason: String,
    },
    /// Connected again; `channels` is FreeSWITCH's live channel list at that moment, to
    /// reconcile calls whose events were missed.
    Reconnected {
        channels: Vec<ChannelInfo>,
    },
}

/// A row of `show channels as json`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChannelInfo {
    pub uuid: String,
    pub name: String,
    pub state: String,
    pub callstate: String,
    pub dest: String,
    pub created_epoch: u64,
    pub read_rate: u32,
    /// Every column as FreeSWITCH reported it.
    pub fields: HashMap<String, String>,
}

/// Parses the body of `show channels as json` (`{"row_count":0}` when empty).
pub fn parse_channels_json(body: &str) -> Result<Vec<ChannelInfo>, EslError> {
    let bad = |why: &str| EslError::CommandFailed {
        command: "show channels as json".into(),
        reply: format!("{why}: {}", body.chars().take(80).collect::<String>()),
    };
    let value: serde_json::Value =
        serde_json::from_str(body.trim()).map_err(|_| bad("not JSON"))?;
    let rows = match value.get("rows") {
        None => return Ok(Vec::new()),
        Some(serde_json::Value::Array(rows)) => rows,
        Some(_) => return Err(bad("rows is not an array")),
    };
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let Some(obj) = row.as_object() else { continue };
        let fields: HashMap<String, String> = obj
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    v.as_str()
                        .map(str::to_owned)
                        .unwrap_or_else(|| v.to_string()),
                )
            })
            .collect();
        let field = |k: &str| fields.get(k).cloned().unwrap_or_default();
        out.push(ChannelInfo {
            uuid: field("uuid"),
            name: field("name"),
            state: field("state"),
            callstate: field("callstate"),
            dest: field("dest"),
            created_epoch: field("created_epoch").parse().unwrap_or(0),
            read_rate: field("read_rate").parse().unwrap_or(0),
            fields,
        });
    }
    Ok(out)
}

/// Result of a background job.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobResult {
    pub job_uuid: String,
    /// True when the body starts with `+OK`.
    pub ok: bool,
    /// The body without its trailing newline, e.g. `+OK <uuid>` or `-ERR USER_BUSY`.
    pub body: String,
}

impl JobResult {
    /// The text after `+OK ` / `-ERR ` (the channel UUID, or the hangup cause).
    pub fn value(&self) -> &str {
        let b = self.body.as_str();
        b.strip_prefix("+OK")
            .or_else(|| b.strip_prefix("-ERR"))
            .unwrap_or(b)
            .trim()
    }
}

/// A `bgapi` in flight.
#[derive(Debug)]
pub struct BgJob {
    pub job_uuid: String,
    rx: oneshot::Receiver<JobResult>,
    shared: Arc<Shared>,
}

impl BgJob {
    /// Waits for the job's BACKGROUND_JOB event. The wait survives reconnects: FreeSWITCH
    /// sends the event to every subscribed connection, including a new one.
    pub async fn wait(mut self, timeout: Duration) -> Result<JobResult, EslError> {
        match tokio::time::timeout(timeout, &mut self.rx).await {
            Ok(Ok(result)) => Ok(result),
            Ok(Err(_)) => Err(EslError::Disconnected),
            Err(_) => {
                lock(&self.shared.jobs).remove(&self.job_uuid);
                Err(EslError::JobTimeout {
                    job_uuid: self.job_uuid.clone(),
                    after: timeout,
                })
            }
        }
    }
}

type ReplySender = oneshot::Sender<Result<Frame, EslError>>;

/// State shared by the handle, its connections and its supervisor.
#[derive(Debug, Default)]
struct Shared {
    jobs: Mutex<HashMap<String, oneshot::Sender<JobResult>>>,
    subs: Mutex<Subscriptions>,
    current: Mutex<Option<Arc<Connection>>>,
    closed: AtomicBool,
    queued_events: AtomicU64,
}

#[derive(Debug, Default, Clone)]
struct Subscriptions {
    names: BTreeSet<String>,
    filters: Vec<(String, String)>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A poisoned lock means a panic elsewhere already; the data (maps of senders) is still
    // consistent, so keep going rather than cascade the panic.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// One authenticated socket.
#[derive(Debug)]
struct Connection {
    writer: tokio::sync::Mutex<OwnedWriteHalf>,
    pending: Mutex<VecDeque<ReplySender>>,
    /// Becomes true once, when the connection is finished for any reason.
    dead: watch::Sender<bool>,
    command_timeout: Duration,
}

impl Connection {
    async fn request(&self, cmd: &Command) -> Result<Frame, EslError> {
        if self.is_dead() {
            return Err(EslError::NotConnected);
        }
        let mut bytes = Vec::with_capacity(128);
        cmd.encode(&mut bytes);
        let (tx, rx) = oneshot::channel();
        {
            let mut writer = self.writer.lock().await;
            // Queue the reply slot before writing, under the write lock, so that queue order
            // is wire order.
            lock(&self.pending).push_back(tx);
            if let Err(e) = writer.write_all(&bytes).await {
                self.kill();
                return Err(EslError::Io(e));
            }
        }
        match tokio::time::timeout(self.command_timeout, rx).await {
            Ok(Ok(reply)) => reply,
            Ok(Err(_)) => Err(EslError::Disconnected),
            Err(_) => {
                // Replies are positional: after a lost reply every later one would be
                // mismatched, so this connection is finished.
                warn!(command = %describe(cmd), "ESL command timed out; resetting the connection");
                self.kill();
                Err(EslError::CommandTimeout {
                    command: describe(cmd),
                    after: self.command_timeout,
                })
            }
        }
    }

    fn is_dead(&self) -> bool {
        *self.dead.borrow()
    }

    fn kill(&self) {
        if !self.dead.send_replace(true) {
            for tx in lock(&self.pending).drain(..) {
                let _ = tx.send(Err(EslError::Disconnected));
            }
        }
    }

    async fn wait_dead(&self) {
        let mut rx = self.dead.subscribe();
        // The sender lives as long as `self`, so `wait_for` cannot fail while we borrow it.
        let _ = rx.wait_for(|&dead| dead).await.map(|_| ());
    }
}

/// Names a command for logs and errors without its secrets.
fn describe(cmd: &Command) -> String {
    match cmd {
        Command::Auth { .. } => "auth ****".into(),
        Command::UserAuth { user, .. } => format!("userauth {user}:****"),
        Command::Api { command } => format!("api {}", first_word(command)),
        Command::BgApi { command, .. } => format!("bgapi {}", first_word(command)),
        Command::SendMsg { headers, .. } => {
            format!("sendmsg {}", headers.get("call-command").unwrap_or(""))
        }
        other => format!("{other:?}").chars().take(60).collect(),
    }
}

/// `s` as one argument of an api command: non-empty and without whitespace.
fn word<'a>(s: &'a str, command: &str) -> Result<&'a str, EslError> {
    if s.is_empty() || s.contains(char::is_whitespace) {
        return Err(EslError::CommandFailed {
            command: command.to_owned(),
            reply: format!("bad argument {s:?}: one word expected"),
        });
    }
    Ok(s)
}

fn first_word(s: &str) -> &str {
    s.split_whitespace().next().unwrap_or("")
}

/// Connects one socket, authenticates, and starts its reader task.
async fn open(
    cfg: &ClientConfig,
    shared: &Arc<Shared>,
    events: &mpsc::UnboundedSender<ClientEvent>,
) -> Result<Arc<Connection>, EslError> {
    let stream = tokio::time::timeout(cfg.connect_timeout, TcpStream::connect(&cfg.addr))
        .await
        .map_err(|_| EslError::ConnectTimeout {
            addr: cfg.addr.clone(),
        })?
        .map_err(|source| EslError::Connect {
            addr: cfg.addr.clone(),
            source,
        })?;
    stream.set_nodelay(true)?;
    let (mut read, mut write) = stream.into_split();
    let mut decoder = FrameDecoder::new(Peer::Server);
    let mut buf = BytesMut::with_capacity(64 * 1024);

    let first = read_frame(&mut read, &mut decoder, &mut buf, cfg.connect_timeout).await?;
    match first.content_type() {
        Some("auth/request") => {}
        Some("text/rude-rejection") => {
            return Err(EslError::AccessDenied(first.body_text().trim().to_owned()))
        }
        other => {
            return Err(EslError::Unexpected {
                stage: "connect",
                content_type: other.map(str::to_owned),
            })
        }
    }
    let mut auth = Vec::new();
    Command::Auth {
        password: cfg.password.clone(),
    }
    .encode(&mut auth);
    write.write_all(&auth).await?;
    let reply = read_frame(&mut read, &mut decoder, &mut buf, cfg.connect_timeout).await?;
    let text = reply.reply_text().unwrap_or("").to_owned();
    if !text.starts_with("+OK") {
        return Err(EslError::AuthFailed { reply: text });
    }

    let conn = Arc::new(Connection {
        writer: tokio::sync::Mutex::new(write),
        pending: Mutex::new(VecDeque::new()),
        dead: watch::Sender::new(false),
        command_timeout: cfg.command_timeout,
    });
    tokio::spawn(reader_loop(
        read,
        decoder,
        buf,
        conn.clone(),
        shared.clone(),
        events.clone(),
    ));
    Ok(conn)
}

async fn read_frame(
    read: &mut tokio::net::tcp::OwnedReadHalf,
    decoder: &mut FrameDecoder,
    buf: &mut BytesMut,
    timeout: Duration,
) -> Result<Frame, EslError> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(frame) = decoder.decode(buf)? {
            return Ok(frame);
        }
        let n = tokio::time::timeout_at(deadline, read.read_buf(buf))
            .await
            .map_err(|_| EslError::Unexpected {
                stage: "handshake (timeout)",
                content_type: None,
            })??;
        if n == 0 {
            return Err(EslError::Disconnected);
        }
    }
}

async fn reader_loop(
    mut read: tokio::net::tcp::OwnedReadHalf,
    mut decoder: FrameDecoder,
    mut buf: BytesMut,
    conn: Arc<Connection>,
    shared: Arc<Shared>,
    events: mpsc::UnboundedSender<ClientEvent>,
) {
    let reason = loop {
        let frame = match decoder.decode(&mut buf) {
            Ok(Some(frame)) => frame,
            Ok(None) => {
                tokio::select! {
                    r = read.read_buf(&mut buf) => match r {
                        Ok(0) => break "FreeSWITCH closed the connection".to_owned(),
                        Ok(_) => continue,
                        Err(e) => break format!("read error: {e}"),
                    },
                    _ = conn.wait_dead() => break "connection reset".to_owned(),
                }
            }
            Err(e) if e.is_fatal() => {
                warn!(error = %e, "closing ESL connection");
                break e.to_string();
            }
            Err(e) => {
                warn!(error = %e, "skipping malformed ESL frame");
                continue;
            }
        };
        dispatch(frame, &conn, &shared, &events);
    };
    conn.kill();
    debug!(%reason, "ESL reader finished");
    // Closed on purpose (`close`, or an outbound socket's end): the stream just ends.
    if !shared.closed.load(Ordering::Acquire) {
        let _ = events.send(ClientEvent::Disconnected { reason });
    }
}

fn dispatch(
    frame: Frame,
    conn: &Connection,
    shared: &Shared,
    events: &mpsc::UnboundedSender<ClientEvent>,
) {
    match frame.content_type() {
        Some("command/reply") | Some("api/response") => match lock(&conn.pending).pop_front() {
            Some(tx) => {
                let _ = tx.send(Ok(frame));
            }
            None => warn!(
                reply = %frame.reply_text().unwrap_or(""),
                body = %frame.body_text().chars().take(60).collect::<String>(),
                "ESL reply with no command waiting; ignored"
            ),
        },
        Some(ct @ ("text/event-plain" | "text/event-json")) => {
            let body = frame.body.as_deref().unwrap_or(b"");
            let parsed = if ct == "text/event-json" {
                Event::from_json(body)
            } else {
                Event::from_plain(body)
            };
            match parsed {
                Ok(event) => deliver(event, shared, events),
                Err(e) => warn!(error = %e, "skipping unreadable ESL event"),
            }
        }
        Some("text/disconnect-notice") => {
            info!(notice = %frame.body_text().trim(), "FreeSWITCH is disconnecting");
        }
        Some("text/rude-rejection") => {
            warn!(body = %frame.body_text().trim(), "FreeSWITCH rejected the connection");
        }
        other => warn!(content_type = ?other, "skipping ESL frame of unknown content type"),
    }
}

fn deliver(event: Event, shared: &Shared, events: &mpsc::UnboundedSender<ClientEvent>) {
    if event.name() == "BACKGROUND_JOB" {
        if let Some(job) = event.job_uuid() {
            if let Some(tx) = lock(&shared.jobs).remove(job) {
                let body = event.body.as_deref().unwrap_or("");
                let _ = tx.send(JobResult {
                    job_uuid: job.to_owned(),
                    ok: body.starts_with("+OK"),
                    body: body.trim_end().to_owned(),
                });
                return;
            }
        }
    }
    let depth = shared.queued_events.fetch_add(1, Ordering::Relaxed) + 1;
    if depth.is_power_of_two() && depth >= 1024 {
        warn!(
            depth,
            "ESL event queue is growing: the application reads events too slowly"
        );
    }
    let _ = events.send(ClientEvent::Event(event));
}

/// The ESL client handle. Cheap to clone; all clones share one connection, which is
/// re-established with backoff whenever it drops.
#[derive(Clone, Debug)]
pub struct EslClient {
    cfg: Arc<ClientConfig>,
    shared: Arc<Shared>,
}

/// The receiving side of a client's events.
#[derive(Debug)]
pub struct EventStream {
    rx: mpsc::UnboundedReceiver<ClientEvent>,
    shared: Arc<Shared>,
}

impl EventStream {
    /// The next event; `None` once the client is closed.
    pub async fn recv(&mut self) -> Option<ClientEvent> {
        let ev = self.rx.recv().await;
        if matches!(ev, Some(ClientEvent::Event(_))) {
            self.shared.queued_events.fetch_sub(1, Ordering::Relaxed);
        }
        ev
    }
}

impl EslClient {
    /// Connects and authenticates; fails if the first attempt fails (wrong address or
    /// password are configuration errors to report, not to retry forever). Later drops are
    /// retried in the background.
    pub async fn connect(cfg: ClientConfig) -> Result<(Self, EventStream), EslError> {
        let shared = Arc::new(Shared::default());
        let (tx, rx) = mpsc::unbounded_channel();
        let conn = open(&cfg, &shared, &tx).await?;
        *lock(&shared.current) = Some(conn.clone());
        let client = Self {
            cfg: Arc::new(cfg),
            shared: shared.clone(),
        };
        // BACKGROUND_JOB is always subscribed: bgapi correlation depends on it.
        client.subscribe(&["BACKGROUND_JOB"]).await?;
        tokio::spawn(supervise(client.clone(), conn, tx));
        Ok((client, EventStream { rx, shared }))
    }

    /// Takes over a connection FreeSWITCH made to aicall's outbound socket listener (a
    /// dialplan's `socket host:port async full`): sends `connect`, reads the channel's data
    /// from FreeSWITCH's header-only reply, subscribes to the channel's own events
    /// (`myevents`) and asks FreeSWITCH to `linger`, so the events after the hangup still
    /// arrive. Returns the channel data as an event (CHANNEL_DATA). There is no reconnect:
    /// the connection is the call, and its end is the end of the event stream.
    pub async fn outbound(
        stream: TcpStream,
        cfg: ClientConfig,
    ) -> Result<(Self, Event, EventStream), EslError> {
        stream.set_nodelay(true)?;
        let (mut read, mut write) = stream.into_split();
        let mut decoder = FrameDecoder::new(Peer::Server);
        let mut buf = BytesMut::with_capacity(16 * 1024);
        // FreeSWITCH says nothing until the controller sends `connect`.
        write.write_all(b"connect\n\n").await?;
        let reply = read_frame(&mut read, &mut decoder, &mut buf, cfg.connect_timeout).await?;
        let mut data = Event::new("CHANNEL_DATA");
        for (name, value) in reply.headers.iter() {
            // The reply is a serialised event: every value percent-encoded, its Reply-Text
            // (`%2BOK%0A`) included.
            data.headers.set(name, &super::event::percent_decode(value));
        }
        let ok = data
            .get("Reply-Text")
            .is_some_and(|t| t.trim_start().starts_with("+OK"));
        let Some(uuid) = data.unique_id().map(str::to_owned).filter(|_| ok) else {
            return Err(EslError::Unexpected {
                stage: "outbound connect",
                content_type: reply.content_type().map(str::to_owned),
            });
        };
        let shared = Arc::new(Shared::default());
        // Never reconnect: FreeSWITCH opened this socket for one call.
        shared.closed.store(true, Ordering::Release);
        let (tx, rx) = mpsc::unbounded_channel();
        let conn = Arc::new(Connection {
            writer: tokio::sync::Mutex::new(write),
            pending: Mutex::new(VecDeque::new()),
            dead: watch::Sender::new(false),
            command_timeout: cfg.command_timeout,
        });
        tokio::spawn(reader_loop(
            read,
            decoder,
            buf,
            conn.clone(),
            shared.clone(),
            tx,
        ));
        *lock(&shared.current) = Some(conn);
        let client = Self {
            cfg: Arc::new(cfg),
            shared: shared.clone(),
        };
        client.myevents(&uuid).await?;
        client.request_ok(&Command::Linger).await?;
        Ok((client, data, EventStream { rx, shared }))
    }

    fn connection(&self) -> Result<Arc<Connection>, EslError> {
        match &*lock(&self.shared.current) {
            Some(c) if !c.is_dead() => Ok(c.clone()),
            _ => Err(EslError::NotConnected),
        }
    }

    /// Sends a command and returns FreeSWITCH's reply frame.
    pub async fn request(&self, cmd: &Command) -> Result<Frame, EslError> {
        self.connection()?.request(cmd).await
    }

    /// Sends a command whose reply is a `command/reply`; `-ERR` becomes an error.
    async fn request_ok(&self, cmd: &Command) -> Result<String, EslError> {
        let frame = self.request(cmd).await?;
        let text = frame.reply_text().unwrap_or("").to_owned();
        if text.starts_with("-ERR") {
            return Err(EslError::CommandFailed {
                command: describe(cmd),
                reply: text,
            });
        }
        Ok(text)
    }

    /// `api <command>`: returns the response body, `-ERR ...` included.
    pub async fn api(&self, command: &str) -> Result<String, EslError> {
        let frame = self
            .request(&Command::Api {
                command: command.to_owned(),
            })
            .await?;
        Ok(frame.body_text().into_owned())
    }

    /// `api <command>`, with `-ERR`/`-USAGE` bodies turned into errors.
    pub async fn api_ok(&self, command: &str) -> Result<String, EslError> {
        let body = self.api(command).await?;
        if body.starts_with("-ERR") || body.starts_with("-USAGE") {
            return Err(EslError::CommandFailed {
                command: format!("api {}", first_word(command)),
                reply: body.trim_end().to_owned(),
            });
        }
        Ok(body)
    }

    /// `bgapi <command>` with a Job-UUID chosen here; await the result with [`BgJob::wait`].
    pub async fn bgapi(&self, command: &str) -> Result<BgJob, EslError> {
        let job_uuid = uuid::Uuid::new_v4().to_string();
        let (tx, rx) = oneshot::channel();
        lock(&self.shared.jobs).insert(job_uuid.clone(), tx);
        let cmd = Command::BgApi {
            command: command.to_owned(),
            job_uuid: job_uuid.clone(),
        };
        if let Err(e) = self.request_ok(&cmd).await {
            lock(&self.shared.jobs).remove(&job_uuid);
            return Err(e);
        }
        Ok(BgJob {
            job_uuid,
            rx,
            shared: self.shared.clone(),
        })
    }

    /// Adds event names to the subscription (kept across reconnects).
    pub async fn subscribe(&self, names: &[&str]) -> Result<(), EslError> {
        let all = {
            let mut subs = lock(&self.shared.subs);
            subs.names.extend(names.iter().map(|n| n.to_string()));
            subs.names.iter().cloned().collect::<Vec<_>>()
        };
        self.request_ok(&Command::Event {
            format: self.cfg.format,
            names: all,
        })
        .await
        .map(drop)
    }

    /// Adds an event filter (kept across reconnects).
    pub async fn filter(&self, header: &str, value: &str) -> Result<(), EslError> {
        lock(&self.shared.subs)
            .filters
            .push((header.to_owned(), value.to_owned()));
        self.request_ok(&Command::Filter {
            header: header.to_owned(),
            value: value.to_owned(),
        })
        .await
        .map(drop)
    }

    /// Restricts this connection's events to one channel (`myevents <uuid>`).
    pub async fn myevents(&self, uuid: &str) -> Result<(), EslError> {
        let cmd = Command::MyEvents {
            uuid: uuid.to_owned(),
            format: self.cfg.format,
        };
        self.request_ok(&cmd).await.map(drop)
    }

    /// Fires an event into FreeSWITCH (`sendevent`), e.g. CUSTOM `aicall::*` events that any
    /// `fs_cli` can watch.
    pub async fn sendevent(
        &self,
        name: &str,
        headers: Headers,
        body: Option<String>,
    ) -> Result<(), EslError> {
        let cmd = Command::SendEvent {
            name: name.to_owned(),
            headers,
            body: body.map(bytes::Bytes::from),
        };
        self.request_ok(&cmd).await.map(drop)
    }

    /// `sendmsg` with any call-command.
    pub async fn sendmsg(&self, cmd: &Command) -> Result<(), EslError> {
        self.request_ok(cmd).await.map(drop)
    }

    /// Runs a dialplan application on a channel.
    pub async fn execute(&self, uuid: &str, app: &str, arg: &str) -> Result<(), EslError> {
        self.sendmsg(&Command::execute(uuid, app, arg, None)).await
    }

    /// Hangs a channel up with a cause.
    pub async fn hangup(&self, uuid: &str, cause: &str) -> Result<(), EslError> {
        self.sendmsg(&Command::hangup(uuid, cause)).await
    }

    /// Starts `unicast` media on a parked channel.
    pub async fn unicast(
        &self,
        uuid: &str,
        local: std::net::SocketAddr,
        remote: std::net::SocketAddr,
    ) -> Result<(), EslError> {
        self.sendmsg(&Command::unicast(uuid, local, remote, false))
            .await
    }

    /// Sets a channel variable (`uuid_setvar`). A command ends at a line break, so line
    /// breaks in the value become spaces; a name or UUID with spaces is refused.
    pub async fn setvar(&self, uuid: &str, name: &str, value: &str) -> Result<(), EslError> {
        let (uuid, name) = (word(uuid, "uuid_setvar")?, word(name, "uuid_setvar")?);
        let value = value.replace(['\r', '\n'], " ");
        self.api_ok(&format!("uuid_setvar {uuid} {name} {value}"))
            .await
            .map(drop)
    }

    /// Sends a channel into the dialplan (`uuid_transfer <uuid> <extension> [dialplan]
    /// [context]`), e.g. `aicall_queue_sales XML aicall`, or `-both park inline`.
    pub async fn transfer(&self, uuid: &str, destination: &str) -> Result<(), EslError> {
        let uuid = word(uuid, "uuid_transfer")?;
        let destination = destination.replace(['\r', '\n'], " ");
        self.api_ok(&format!("uuid_transfer {uuid} {destination}"))
            .await
            .map(drop)
    }

    /// Whether a channel exists (`uuid_exists`).
    pub async fn exists(&self, uuid: &str) -> Result<bool, EslError> {
        let uuid = word(uuid, "uuid_exists")?;
        let body = self.api_ok(&format!("uuid_exists {uuid}")).await?;
        Ok(body.trim() == "true")
    }

    /// FreeSWITCH's live channels.
    pub async fn channels(&self) -> Result<Vec<ChannelInfo>, EslError> {
        parse_channels_json(&self.api_ok("show channels as json").await?)
    }

    /// True while a connection is up.
    pub fn is_connected(&self) -> bool {
        self.connection().is_ok()
    }

    /// Stops reconnecting and closes the connection.
    pub async fn close(&self) {
        self.shared.closed.store(true, Ordering::Release);
        let conn = lock(&self.shared.current).take();
        if let Some(conn) = conn {
            // A command like any other, so that FreeSWITCH's `+OK bye` finds its slot.
            let _ =
                tokio::time::timeout(Duration::from_secs(1), conn.request(&Command::Exit)).await;
            conn.kill();
        }
    }
}

/// Waits for the connection to die, then reconnects with exponential backoff, replays the
/// subscriptions and reports FreeSWITCH's channel list for reconciliation.
async fn supervise(
    client: EslClient,
    mut conn: Arc<Connection>,
    tx: mpsc::UnboundedSender<ClientEvent>,
) {
    loop {
        conn.wait_dead().await;
        if client.shared.closed.load(Ordering::Acquire) {
            return;
        }
        let mut delay = client.cfg.reconnect_initial;
        conn = loop {
            tokio::time::sleep(delay).await;
            if client.shared.closed.load(Ordering::Acquire) || tx.is_closed() {
                return;
            }
            match open(&client.cfg, &client.shared, &tx).await {
                Ok(c) => break c,
                Err(e) => {
                    debug!(error = %e, ?delay, "ESL reconnect failed");
                    delay = (delay * 2).min(client.cfg.reconnect_max);
                }
            }
        };
        *lock(&client.shared.current) = Some(conn.clone());
        let subs = lock(&client.shared.subs).clone();
        let replay = async {
            let names = subs.names.iter().cloned().collect::<Vec<_>>();
            client
                .request_ok(&Command::Event {
                    format: client.cfg.format,
                    names,
                })
                .await?;
            for (header, value) in subs.filters {
                client
                    .request_ok(&Command::Filter { header, value })
                    .await?;
            }
            client.channels().await
        };
        match replay.await {
            Ok(channels) => {
                info!(live_channels = channels.len(), "ESL reconnected");
                if tx.send(ClientEvent::Reconnected { channels }).is_err() {
                    return;
                }
            }
            Err(e) => {
                warn!(error = %e, "ESL reconnected but could not restore state; retrying");
                conn.kill();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channels_json_empty_and_rows() {
        assert!(parse_channels_json("{\"row_count\":0}\n")
            .expect("valid")
            .is_empty());
        let rows = parse_channels_json(
            r#"{"row_count":1,"rows":[{"uuid":"u1","name":"sofia/gw/1","state":"CS_EXECUTE","callstate":"ACTIVE","dest":"1000","created_epoch":"1700000000","read_rate":"8000"}]}"#,
        )
        .expect("valid");
        assert_eq!(rows[0].uuid, "u1");
        assert_eq!(rows[0].read_rate, 8000);
        assert_eq!(rows[0].created_epoch, 1_700_000_000);
        assert!(parse_channels_json("-ERR no").is_err());
    }

    #[test]
    fn job_result_value() {
        let ok = JobResult {
            job_uuid: "j".into(),
            ok: true,
            body: "+OK abc".into(),
        };
        assert_eq!(ok.value(), "abc");
        let err = JobResult {
            job_uuid: "j".into(),
            ok: false,
            body: "-ERR USER_BUSY".into(),
        };
        assert_eq!(err.value(), "USER_BUSY");
    }
}
