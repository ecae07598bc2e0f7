//! The commands an ESL client sends, written and parsed on the same [`Frame`] model: the
//! client encodes them, aicall's server side (console, simulator) parses them.

use bytes::Bytes;

use super::event::EventFormat;
use super::frame::{push_header, Frame, Headers};

/// A client command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    Auth {
        password: String,
    },
    /// `userauth user@domain:password`.
    UserAuth {
        user: String,
        password: String,
    },
    Api {
        command: String,
    },
    BgApi {
        command: String,
        job_uuid: String,
    },
    Event {
        format: EventFormat,
        names: Vec<String>,
    },
    NixEvent {
        names: Vec<String>,
    },
    NoEvents,
    Filter {
        header: String,
        value: String,
    },
    FilterDelete {
        header: String,
        value: Option<String>,
    },
    MyEvents {
        uuid: String,
        format: EventFormat,
    },
    SendMsg {
        uuid: Option<String>,
        headers: Headers,
        body: Option<Bytes>,
    },
    /// `sendevent NAME` with headers and an optional body.
    SendEvent {
        name: String,
        headers: Headers,
        body: Option<Bytes>,
    },
    /// The first command on an outbound socket: FreeSWITCH answers with the channel's data.
    Connect,
    Linger,
    NoLinger,
    Log {
        level: String,
    },
    NoLog,
    Exit,
    /// A command this model does not know; the server answers `-ERR command not found`.
    Unknown {
        line: String,
    },
}

impl Command {
    /// `sendmsg <uuid>` with `call-command: execute`.
    pub fn execute(uuid: &str, app: &str, arg: &str, event_uuid: Option<&str>) -> Self {
        let mut headers = Headers::with_capacity(4, 96);
        headers.push("call-command", "execute");
        headers.push("execute-app-name", app);
        if !arg.is_empty() {
            headers.push("execute-app-arg", arg);
        }
        if let Some(id) = event_uuid {
            headers.push("Event-UUID", id);
        }
        Command::SendMsg {
            uuid: Some(uuid.to_owned()),
            headers,
            body: None,
        }
    }

    /// `sendmsg <uuid>` with `call-command: hangup`.
    pub fn hangup(uuid: &str, cause: &str) -> Self {
        let mut headers = Headers::with_capacity(2, 48);
        headers.push("call-command", "hangup");
        headers.push("hangup-cause", cause);
        Command::SendMsg {
            uuid: Some(uuid.to_owned()),
            headers,
            body: None,
        }
    }

    /// `sendmsg <uuid>` with `call-command: unicast`: FreeSWITCH binds `local` and streams the
    /// call's audio (L16 unless `native`) to `remote`, and plays what arrives on `local`.
    pub fn unicast(
        uuid: &str,
        local: std::net::SocketAddr,
        remote: std::net::SocketAddr,
        native: bool,
    ) -> Self {
        let mut headers = Headers::with_capacity(7, 128);
        headers.push("call-command", "unicast");
        headers.push("local-ip", &local.ip().to_string());
        headers.push("local-port", &local.port().to_string());
        headers.push("remote-ip", &remote.ip().to_string());
        headers.push("remote-port", &remote.port().to_string());
        headers.push("transport", "udp");
        if native {
            headers.push("flags", "native");
        }
        Command::SendMsg {
            uuid: Some(uuid.to_owned()),
            headers,
            body: None,
        }
    }

    /// Writes the command as bytes for the socket.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let line = |out: &mut Vec<u8>, s: &str| {
            // A command line never contains a line break: it would end the command early.
            out.extend(
                s.bytes()
                    .map(|b| if b == b'\n' || b == b'\r' { b' ' } else { b }),
            );
            out.push(b'\n');
        };
        match self {
            Command::Auth { password } => line(out, &format!("auth {password}")),
            Command::UserAuth { user, password } => {
                line(out, &format!("userauth {user}:{password}"))
            }
            Command::Api { command } => line(out, &format!("api {command}")),
            Command::BgApi { command, job_uuid } => {
                line(out, &format!("bgapi {command}"));
                push_header(out, "Job-UUID", job_uuid);
            }
            Command::Event { format, names } => line(
                out,
                &format!("event {} {}", format.as_str(), names.join(" ")),
            ),
            Command::NixEvent { names } => line(out, &format!("nixevent {}", names.join(" "))),
            Command::NoEvents => line(out, "noevents"),
            Command::Filter { header, value } => line(out, &format!("filter {header} {value}")),
            Command::FilterDelete { header, value } => match value {
                Some(v) => line(out, &format!("filter delete {header} {v}")),
                None => line(out, &format!("filter delete {header}")),
            },
            Command::MyEvents { uuid, format } => {
                if uuid.is_empty() && *format == EventFormat::Plain {
                    line(out, "myevents")
                } else {
                    line(out, &format!("myevents {} {uuid}", format.as_str()))
                }
            }
            Command::SendMsg {
                uuid,
                headers,
                body,
            } => {
                match uuid {
                    Some(u) => line(out, &format!("sendmsg {u}")),
                    None => line(out, "sendmsg"),
                }
                write_headers_and_body(out, headers, body.as_ref());
                return;
            }
            Command::SendEvent {
                name,
                headers,
                body,
            } => {
                line(out, &format!("sendevent {name}"));
                write_headers_and_body(out, headers, body.as_ref());
                return;
            }
            Command::Connect => line(out, "connect"),
            Command::Linger => line(out, "linger"),
            Command::NoLinger => line(out, "nolinger"),
            Command::Log { level } => line(out, &format!("log {level}")),
            Command::NoLog => line(out, "nolog"),
            Command::Exit => line(out, "exit"),
            Command::Unknown { line: l } => line(out, l),
        }
        out.push(b'\n');
    }

    /// Reads a command from a frame decoded with [`super::frame::Peer::Client`], the way
    /// mod_event_socket does: `api `, `bgapi `, `auth ` and `log` take the rest of the line
    /// as sent (an api command's trailing space is part of it); the other commands' words are
    /// split on whitespace. A bare `api` (no space) is no command at all.
    pub fn parse(frame: Frame) -> Self {
        let line = frame.command.unwrap_or_default();
        let lower = line.to_ascii_lowercase();
        let after = |prefix: &str| line[prefix.len()..].to_owned();
        if lower.starts_with("api ") {
            return Command::Api {
                command: after("api "),
            };
        }
        if lower.starts_with("bgapi ") {
            return Command::BgApi {
                command: after("bgapi "),
                job_uuid: frame.headers.get("Job-UUID").unwrap_or("").to_owned(),
            };
        }
        if lower.starts_with("auth ") {
            return Command::Auth {
                password: after("auth "),
            };
        }
        let trimmed = line.trim();
        let (word, rest) = match trimmed.split_once(char::is_whitespace) {
            Some((w, r)) => (w, r.trim()),
            None => (trimmed, ""),
        };
        let words = || {
            rest.split_whitespace()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        };
        let format_of = |w: &str| match w.to_ascii_lowercase().as_str() {
            "json" => Some(EventFormat::Json),
            "plain" => Some(EventFormat::Plain),
            _ => None,
        };
        match word.to_ascii_lowercase().as_str() {
            "userauth" => {
                let (user, password) = rest.split_once(':').unwrap_or((rest, ""));
                Command::UserAuth {
                    user: user.to_owned(),
                    password: password.to_owned(),
                }
            }
            "event" => {
                let mut names = words();
                let format = match names.first().and_then(|w| format_of(w)) {
                    Some(f) => {
                        names.remove(0);
                        f
                    }
                    None => return Command::Unknown { line },
                };
                Command::Event { format, names }
            }
            "nixevent" => Command::NixEvent { names: words() },
            "noevents" => Command::NoEvents,
            "filter" => {
                let mut parts = rest.splitn(2, char::is_whitespace);
                let first = parts.next().unwrap_or("");
                let second = parts.next().unwrap_or("").trim();
                if first.eq_ignore_ascii_case("delete") {
                    let (h, v) = match second.split_once(char::is_whitespace) {
                        Some((h, v)) => (h, Some(v.trim().to_owned())),
                        None => (second, None),
                    };
                    Command::FilterDelete {
                        header: h.to_owned(),
                        value: v,
                    }
                } else {
                    Command::Filter {
                        header: first.to_owned(),
                        value: second.to_owned(),
                    }
                }
            }
            "myevents" => {
                let w = words();
                let (format, uuid) = match w.as_slice() {
                    [f, u] if format_of(f).is_some() => (format_of(f), u.clone()),
                    [u, f] if format_of(f).is_some() => (format_of(f), u.clone()),
                    [u] => (Some(EventFormat::Plain), u.clone()),
                    // On an outbound socket `myevents` names no uuid: the socket's own channel.
                    [] => (Some(EventFormat::Plain), String::new()),
                    _ => (None, String::new()),
                };
                match format {
                    Some(format) => Command::MyEvents { uuid, format },
                    None => Command::Unknown { line },
                }
            }
            "sendmsg" => Command::SendMsg {
                uuid: (!rest.is_empty()).then(|| rest.to_owned()),
                headers: frame.headers,
                body: frame.body,
            },
            "sendevent" => Command::SendEvent {
                name: rest.to_owned(),
                headers: frame.headers,
                body: frame.body,
            },
            "connect" => Command::Connect,
            "linger" => Command::Linger,
            "nolinger" => Command::NoLinger,
            // `log` takes what follows the one character after it: `log ` sets the default
            // level with an empty name (fs_cli without a config sends exactly that).
            "log" => Command::Log {
                level: line.get(4..).unwrap_or("").to_owned(),
            },
            "nolog" => Command::NoLog,
            "exit" => Command::Exit,
            _ => Command::Unknown { line },
        }
    }
}

fn write_headers_and_body(out: &mut Vec<u8>, headers: &Headers, body: Option<&Bytes>) {
    for (name, value) in headers.iter() {
        if !name.eq_ignore_ascii_case("Content-Length") {
            push_header(out, name, value);
        }
    }
    match body {
        Some(b) => {
            push_header(out, "Content-Length", &b.len().to_string());
            out.push(b'\n');
            out.extend_from_slice(b);
        }
        None => out.push(b'\n'),
    }
}

#[cfg(test)]
mod tests {
    use bytes::BytesMut;

    use super::super::frame::{FrameDecoder, Peer};
    use super::*;

    fn round_trip(cmd: &Command) -> Command {
        let mut out = Vec::new();
        cmd.encode(&mut out);
        let mut dec = FrameDecoder::new(Peer::Client);
        let mut buf = BytesMut::from(&out[..]);
        let frame = dec.decode(&mut buf).expect("valid").expect("complete");
        assert!(buf.is_empty(), "command must be exactly one frame: {out:?}");
        Command::parse(frame)
    }

    #[test]
    fn bytes_match_esl_md() {
        let mut out = Vec::new();
        Command::Auth {
            password: "ClueCon".into(),
        }
        .encode(&mut out);
        assert_eq!(out, b"auth ClueCon\n\n");
        out.clear();
        Command::BgApi {
            command: "originate {origination_uuid=U}loopback/7000/default &park()".into(),
            job_uuid: "J".into(),
        }
        .encode(&mut out);
        assert_eq!(
            out,
            b"bgapi originate {origination_uuid=U}loopback/7000/default &park()\nJob-UUID: J\n\n"
        );
    }

    #[test]
    fn every_command_round_trips() {
        let local = "127.0.0.1:40000".parse().expect("literal address");
        let remote = "127.0.0.1:50000".parse().expect("literal address");
        let cmds = vec![
            Command::Auth {
                password: "ClueCon".into(),
            },
            Command::Api {
                command: "show channels as json".into(),
            },
            Command::BgApi {
                command: "originate x &park()".into(),
                job_uuid: "j-1".into(),
            },
            Command::Event {
                format: EventFormat::Json,
                names: vec!["CHANNEL_ANSWER".into(), "BACKGROUND_JOB".into()],
            },
            Command::NixEvent {
                names: vec!["DTMF".into()],
            },
            Command::NoEvents,
            Command::Filter {
                header: "Unique-ID".into(),
                value: "abc".into(),
            },
            Command::FilterDelete {
                header: "Unique-ID".into(),
                value: Some("abc".into()),
            },
            Command::MyEvents {
                uuid: "abc".into(),
                format: EventFormat::Plain,
            },
            Command::execute("u", "playback", "/tmp/a.wav", Some("ev-1")),
            Command::hangup("u", "NORMAL_CLEARING"),
            Command::unicast("u", local, remote, false),
            Command::Connect,
            Command::Linger,
            Command::NoLinger,
            Command::Log {
                level: "debug".into(),
            },
            Command::NoLog,
            Command::MyEvents {
                uuid: String::new(),
                format: EventFormat::Plain,
            },
            Command::Exit,
        ];
        for cmd in &cmds {
            assert_eq!(&round_trip(cmd), cmd);
        }
    }

    #[test]
    fn line_breaks_in_arguments_cannot_inject_commands() {
        let cmd = Command::Api {
            command: "status\n\napi hupall".into(),
        };
        let back = round_trip(&cmd);
        assert_eq!(
            back,
            Command::Api {
                command: "status  api hupall".into()
            }
        );
    }
}
