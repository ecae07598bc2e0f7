//! The server side of ESL: what FreeSWITCH's `mod_event_socket` does for a connecting client
//! — `auth/request`, authentication, command replies, per-connection event subscriptions and
//! filters, `api` answered inline and `bgapi` answered by a BACKGROUND_JOB event, and the
//! disconnect notice. The switch behind it is a [`SwitchCore`]: the simulator today, the
//! supervisor console later. Several clients at once, one task each.

use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{broadcast, watch};
use tracing::{debug, info, warn};

use super::command::Command;
use super::event::{Event, EventFormat};
use super::frame::{FrameDecoder, Headers, Peer};

/// FreeSWITCH's goodbye, byte for byte.
pub const DISCONNECT_NOTICE: &str =
    "Disconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n";

/// Events queued per connection before it is dropped as too slow, as FreeSWITCH does.
pub const EVENT_QUEUE: usize = 100_000;

/// The switch a server-side session talks to.
pub trait SwitchCore: Send + Sync + 'static {
    /// Runs an API command and returns its response body.
    fn api(self: Arc<Self>, command: String) -> impl Future<Output = String> + Send;
    /// Carries out `sendmsg`; returns the reply text (`+OK` or `-ERR ...`).
    fn sendmsg(
        self: Arc<Self>,
        uuid: Option<String>,
        headers: Headers,
        body: Option<bytes::Bytes>,
    ) -> impl Future<Output = String> + Send;
    /// Fires an event into the switch (`sendevent`); returns the reply text.
    fn sendevent(&self, event: Event) -> String;
    /// The event bus every session listens to.
    fn subscribe(&self) -> broadcast::Receiver<Arc<Event>>;
    /// Publishes an event to every session (BACKGROUND_JOB results go through here).
    fn publish(&self, event: Event);
    /// A template event with the switch's common headers (Core-UUID, hostname, dates).
    fn base_event(&self, name: &str) -> Event;
}

/// Value of the control channel that stops the listener.
pub const STOP: u64 = u64::MAX;

/// Accepts clients until `control` becomes [`STOP`]. Any change of `control` makes every
/// connected session say goodbye and close (a restart of the event socket), while the
/// listener keeps accepting new clients unless stopped.
pub async fn serve<C: SwitchCore>(
    listener: TcpListener,
    password: String,
    core: Arc<C>,
    control: watch::Receiver<u64>,
) {
    let shutdown = control;
    let password: Arc<str> = password.into();
    let mut stop = shutdown.clone();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    debug!(%peer, "ESL client connected");
                    let core = core.clone();
                    let password = password.clone();
                    let shutdown = shutdown.clone();
                    tokio::spawn(async move {
                        if let Err(e) = session(stream, &password, core, shutdown).await {
                            debug!(%peer, error = %e, "ESL session ended with an error");
                        }
                    });
                }
                Err(e) => {
                    warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            },
            _ = async { stop.wait_for(|&s| s == STOP).await.map(|_| ()) } => return,
        }
    }
}

#[derive(Debug, Default)]
struct Subscription {
    format: Option<EventFormat>,
    all: bool,
    names: HashSet<String>,
    /// CUSTOM subclasses subscribed (`event plain CUSTOM sub1 sub2`).
    subclasses: HashSet<String>,
    filters: Vec<(String, Filter)>,
}

#[derive(Debug)]
enum Filter {
    Equals(String),
    Regex(regex_lite::Regex),
}

impl Subscription {
    fn wants(&self, event: &Event) -> bool {
        if self.format.is_none() {
            return false;
        }
        let name = event.name();
        let by_name = self.all
            || self.names.contains(name)
            || (name == "CUSTOM"
                && event
                    .subclass()
                    .is_some_and(|s| self.subclasses.contains(s)));
        if !by_name {
            return false;
        }
        if self.filters.is_empty() {
            return true;
        }
        // Filters let events *in*: one match is enough, as in mod_event_socket.
        self.filters
            .iter()
            .any(|(header, filter)| match event.get(header) {
                None => false,
                Some(v) => match filter {
                    Filter::Equals(want) => want.eq_ignore_ascii_case(v),
                    Filter::Regex(re) => re.is_match(v),
                },
            })
    }
}

async fn write_reply(stream: &mut TcpStream, text: &str) -> std::io::Result<()> {
    let frame = format!("Content-Type: command/reply\nReply-Text: {text}\n\n");
    stream.write_all(frame.as_bytes()).await
}

async fn write_api(stream: &mut TcpStream, body: &str) -> std::io::Result<()> {
    let frame = format!(
        "Content-Type: api/response\nContent-Length: {}\n\n{body}",
        body.len()
    );
    stream.write_all(frame.as_bytes()).await
}

async fn write_event(
    stream: &mut TcpStream,
    event: &Event,
    format: EventFormat,
    scratch: &mut Vec<u8>,
) -> std::io::Result<()> {
    scratch.clear();
    let body = event.serialize(format);
    scratch.extend_from_slice(
        format!(
            "Content-Length: {}\nContent-Type: text/event-{}\n\n",
            body.len(),
            format.as_str()
        )
        .as_bytes(),
    );
    scratch.extend_from_slice(&body);
    stream.write_all(scratch).await
}

async fn write_goodbye(stream: &mut TcpStream) -> std::io::Result<()> {
    let frame = format!(
        "Content-Type: text/disconnect-notice\nContent-Length: {}\n\n{DISCONNECT_NOTICE}",
        DISCONNECT_NOTICE.len()
    );
    stream.write_all(frame.as_bytes()).await?;
    stream.flush().await
}

/// One client connection, from `auth/request` to goodbye.
async fn session<C: SwitchCore>(
    mut stream: TcpStream,
    password: &str,
    core: Arc<C>,
    mut shutdown: watch::Receiver<u64>,
) -> std::io::Result<()> {
    shutdown.mark_unchanged();
    stream.set_nodelay(true)?;
    stream.write_all(b"Content-Type: auth/request\n\n").await?;
    let mut decoder = FrameDecoder::new(Peer::Client);
    let mut buf = BytesMut::with_capacity(8192);
    let mut authed = false;
    let mut sub = Subscription::default();
    let mut events = core.subscribe();
    let mut scratch = Vec::with_capacity(4096);

    loop {
        let frame = match decoder.decode(&mut buf) {
            Ok(Some(frame)) => frame,
            Ok(None) => {
                tokio::select! {
                    n = stream.read_buf(&mut buf) => {
                        if n? == 0 {
                            return Ok(());
                        }
                        continue;
                    }
                    ev = events.recv() => {
                        match ev {
                            Ok(ev) => {
                                if authed && sub.wants(&ev) {
                                    let format = sub.format.unwrap_or_default();
                                    write_event(&mut stream, &ev, format, &mut scratch).await?;
                                }
                            }
                            Err(broadcast::error::RecvError::Lagged(n)) => {
                                warn!(lost = n, "killed listener because of lost events");
                                write_goodbye(&mut stream).await?;
                                return Ok(());
                            }
                            Err(broadcast::error::RecvError::Closed) => {
                                write_goodbye(&mut stream).await?;
                                return Ok(());
                            }
                        }
                        continue;
                    }
                    _ = shutdown.changed() => {
                        write_goodbye(&mut stream).await?;
                        return Ok(());
                    }
                }
            }
            Err(e) if e.is_fatal() => {
                warn!(error = %e, "closing ESL client connection");
                write_goodbye(&mut stream).await?;
                return Ok(());
            }
            Err(e) => {
                warn!(error = %e, "skipping malformed client command");
                write_reply(&mut stream, "-ERR command not found").await?;
                continue;
            }
        };
        let command = Command::parse(frame);
        if !authed {
            match command {
                Command::Auth { password: given } if given == password => {
                    authed = true;
                    write_reply(&mut stream, "+OK accepted").await?;
                }
                Command::Auth { .. } | Command::UserAuth { .. } => {
                    info!("ESL client gave a wrong password");
                    write_reply(&mut stream, "-ERR invalid").await?;
                    write_goodbye(&mut stream).await?;
                    return Ok(());
                }
                Command::Exit => {
                    write_reply(&mut stream, "+OK bye").await?;
                    write_goodbye(&mut stream).await?;
                    return Ok(());
                }
                _ => write_reply(&mut stream, "-ERR command not found").await?,
            }
            continue;
        }
        match command {
            Command::Auth { .. } | Command::UserAuth { .. } => {
                write_reply(&mut stream, "-ERR already authenticated").await?
            }
            Command::Api { command } => {
                let body = core.clone().api(command).await;
                write_api(&mut stream, &body).await?;
            }
            Command::BgApi { command, job_uuid } => {
                let job_uuid = if job_uuid.is_empty() {
                    uuid::Uuid::new_v4().to_string()
                } else {
                    job_uuid
                };
                write_reply(
                    &mut stream,
                    &format!("+OK Job-UUID: {job_uuid}\nJob-UUID: {job_uuid}"),
                )
                .await?;
                let core = core.clone();
                tokio::spawn(async move {
                    let body = core.clone().api(command.clone()).await;
                    let (name, arg) = command.split_once(' ').unwrap_or((&command, ""));
                    let mut ev = core.base_event("BACKGROUND_JOB");
                    ev.headers.push("Job-UUID", &job_uuid);
                    ev.headers.push("Job-Command", name);
                    ev.headers.push("Job-Command-Arg", arg);
                    ev.body = Some(body);
                    core.publish(ev);
                });
            }
            Command::Event { format, names } => {
                sub.format = Some(format);
                let mut custom = false;
                for name in names {
                    let upper = name.to_ascii_uppercase();
                    if upper == "ALL" {
                        sub.all = true;
                    } else if upper == "CUSTOM" {
                        custom = true;
                        sub.names.insert(upper);
                    } else if custom && name.contains("::") {
                        sub.subclasses.insert(name);
                    } else {
                        sub.names.insert(upper);
                    }
                }
                write_reply(
                    &mut stream,
                    &format!("+OK event listener enabled {}", format.as_str()),
                )
                .await?;
            }
            Command::NixEvent { names } => {
                for name in names {
                    let upper = name.to_ascii_uppercase();
                    if upper == "ALL" {
                        sub.all = false;
                        sub.names.clear();
                    }
                    sub.names.remove(&upper);
                    sub.subclasses.remove(&name);
                }
                write_reply(&mut stream, "+OK events nixed").await?;
            }
            Command::NoEvents => {
                sub = Subscription {
                    filters: std::mem::take(&mut sub.filters),
                    ..Default::default()
                };
                write_reply(&mut stream, "+OK no longer listening for events").await?;
            }
            Command::Filter { header, value } => {
                let filter = match value.strip_prefix('/') {
                    Some(pattern) => {
                        let pattern = pattern.strip_suffix('/').unwrap_or(pattern);
                        match regex_lite::Regex::new(pattern) {
                            Ok(re) => Filter::Regex(re),
                            Err(_) => {
                                write_reply(&mut stream, "-ERR invalid filter regex").await?;
                                continue;
                            }
                        }
                    }
                    None => Filter::Equals(value.clone()),
                };
                sub.filters.push((header.clone(), filter));
                write_reply(
                    &mut stream,
                    &format!("+OK filter added. [{header}]=[{value}]"),
                )
                .await?;
            }
            Command::FilterDelete { header, value } => {
                sub.filters.retain(|(h, f)| {
                    let same_header = h.eq_ignore_ascii_case(&header);
                    let same_value = match (&value, f) {
                        (None, _) => true,
                        (Some(v), Filter::Equals(w)) => v == w,
                        (Some(v), Filter::Regex(re)) => v.trim_matches('/') == re.as_str(),
                    };
                    !(same_header && same_value)
                });
                let shown = value.unwrap_or_default();
                write_reply(
                    &mut stream,
                    &format!("+OK filter deleted. [{header}]=[{shown}]"),
                )
                .await?;
            }
            Command::MyEvents { uuid, format } => {
                sub.format = Some(format);
                sub.all = true;
                sub.filters.push(("Unique-ID".into(), Filter::Equals(uuid)));
                write_reply(&mut stream, "+OK Events Enabled").await?;
            }
            Command::SendMsg {
                uuid,
                headers,
                body,
            } => {
                let reply = core.clone().sendmsg(uuid, headers, body).await;
                write_reply(&mut stream, &reply).await?;
            }
            Command::SendEvent {
                name,
                headers,
                body,
            } => {
                let mut ev = core.base_event(&name);
                for (n, v) in headers.iter() {
                    ev.headers.set(n, v);
                }
                ev.body = body.map(|b| String::from_utf8_lossy(&b).into_owned());
                let reply = core.sendevent(ev);
                write_reply(&mut stream, &reply).await?;
            }
            Command::Linger | Command::NoLinger => {
                write_reply(&mut stream, "-ERR not controlling a session").await?
            }
            Command::Log { level } => {
                write_reply(&mut stream, &format!("+OK log level {level}")).await?
            }
            Command::NoLog => write_reply(&mut stream, "+OK no longer logging").await?,
            Command::Exit => {
                write_reply(&mut stream, "+OK bye").await?;
                write_goodbye(&mut stream).await?;
                return Ok(());
            }
            Command::Unknown { .. } => write_reply(&mut stream, "-ERR command not found").await?,
        }
    }
}
