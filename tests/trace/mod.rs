//! Reads the ESL traces recorded from a real FreeSWITCH 1.10.12 (`../shared/data/esl-traces/`,
//! format in its README): three `#` header lines, then recorder notes (`###`) and frame
//! markers (`<<<` switch→client, `>>>` client→switch) each followed by exactly `len` bytes of
//! the frame — plus one `\n` the recorder added when the frame did not end with one. A
//! ` non-text` frame is one `[non-text frame: N bytes; hex: ..]` line instead.
//!
//! Nothing here knows what the frames mean; the tests decode them with aicall's own codec.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

/// Who wrote a frame. On an outbound-socket connection the labels keep the ESL roles:
/// [`Dir::ToSwitch`] is what the controller (our server) sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dir {
    /// `>>>`: the client (or the outbound-socket controller) to FreeSWITCH.
    ToSwitch,
    /// `<<<`: FreeSWITCH to the client.
    ToClient,
}

/// One recorded frame.
#[derive(Clone, Debug)]
pub struct TraceFrame {
    /// When the recorder had the whole frame, since the scenario started.
    pub at: Duration,
    pub dir: Dir,
    pub conn: u32,
    pub bytes: Vec<u8>,
    /// Recorded as a hex dump (binary garbage in `errors.txt`).
    pub non_text: bool,
}

/// A recorder note (`###`), continuation lines joined with `\n`.
#[derive(Clone, Debug)]
pub struct Note {
    pub at: Duration,
    pub text: String,
}

/// What a note says about a connection, when it says something.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnEvent {
    /// A client connected to FreeSWITCH.
    Opened,
    /// FreeSWITCH's `socket` application connected to the controller.
    OpenedOutbound,
    /// The client side closed (EOF from the client).
    ClosedByClient,
    /// FreeSWITCH closed.
    ClosedBySwitch,
}

/// An item of a trace, in file order.
#[derive(Clone, Debug)]
pub enum Item {
    Note(Note),
    Frame(TraceFrame),
}

/// A whole trace file.
#[derive(Clone, Debug)]
pub struct Trace {
    pub name: String,
    /// The three `#` lines.
    pub header: Vec<String>,
    pub items: Vec<Item>,
}

/// Why a trace file could not be read.
#[derive(Debug)]
pub struct TraceError {
    pub file: String,
    pub offset: usize,
    pub message: String,
}

impl std::fmt::Display for TraceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} at byte {}: {}", self.file, self.offset, self.message)
    }
}

impl Note {
    /// The connection this note opens or closes, if it does.
    pub fn conn_event(&self) -> Option<(u32, ConnEvent)> {
        let rest = self.text.strip_prefix("conn=")?;
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        let conn = digits.parse().ok()?;
        let what = &rest[digits.len()..];
        let ev = if what.starts_with(" opened:") {
            ConnEvent::Opened
        } else if what.starts_with(" outbound:") {
            ConnEvent::OpenedOutbound
        } else if what.starts_with(" client closed") {
            ConnEvent::ClosedByClient
        } else if what.starts_with(" FreeSWITCH closed") {
            ConnEvent::ClosedBySwitch
        } else {
            return None;
        };
        Some((conn, ev))
    }
}

fn parse_time(s: &str) -> Option<Duration> {
    let s = s.strip_prefix('+')?;
    let (secs, millis) = s.split_once('.')?;
    let secs: u64 = secs.parse().ok()?;
    let millis: u64 = millis.parse().ok()?;
    (millis < 1000 && millis.to_string().len() <= 3)
        .then(|| Duration::from_millis(secs * 1000 + millis))
}

fn parse_hex(dump: &str) -> Option<Vec<u8>> {
    let hex = dump.split("hex:").nth(1)?.trim().trim_end_matches(']');
    hex.split_whitespace()
        .map(|b| u8::from_str_radix(b, 16).ok())
        .collect()
}

impl Trace {
    /// Reads and parses a trace file.
    pub fn load(path: &Path) -> Result<Trace, TraceError> {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let bytes = std::fs::read(path).map_err(|e| TraceError {
            file: name.clone(),
            offset: 0,
            message: e.to_string(),
        })?;
        Trace::parse(&name, &bytes)
    }

    /// Parses the bytes of a trace file.
    pub fn parse(name: &str, data: &[u8]) -> Result<Trace, TraceError> {
        let err = |offset: usize, message: String| TraceError {
            file: name.to_owned(),
            offset,
            message,
        };
        let mut pos = 0;
        let next_line = |pos: &mut usize| -> Option<String> {
            if *pos >= data.len() {
                return None;
            }
            let end = memchr::memchr(b'\n', &data[*pos..]).map_or(data.len(), |i| *pos + i);
            let line = String::from_utf8_lossy(&data[*pos..end]).into_owned();
            *pos = (end + 1).min(data.len());
            Some(line)
        };
        let mut header = Vec::new();
        for _ in 0..3 {
            let line = next_line(&mut pos).ok_or_else(|| err(pos, "no header".into()))?;
            if !line.starts_with("# ") {
                return Err(err(
                    pos,
                    format!("header line {line:?} does not start with '# '"),
                ));
            }
            header.push(line);
        }
        let mut items: Vec<Item> = Vec::new();
        while pos < data.len() {
            let line_start = pos;
            let Some(line) = next_line(&mut pos) else {
                break;
            };
            if line.is_empty() {
                continue;
            }
            if let Some(rest) = line.strip_prefix("###") {
                let rest = rest.trim_start();
                match rest
                    .split_once(' ')
                    .and_then(|(t, r)| Some((parse_time(t)?, r)))
                {
                    Some((at, text)) => items.push(Item::Note(Note {
                        at,
                        text: text.to_owned(),
                    })),
                    None => match items.last_mut() {
                        // A continuation line of the previous note.
                        Some(Item::Note(n)) => {
                            n.text.push('\n');
                            n.text.push_str(rest);
                        }
                        _ => return Err(err(line_start, format!("stray note line {line:?}"))),
                    },
                }
                continue;
            }
            let dir = if line.starts_with("<<< ") {
                Dir::ToClient
            } else if line.starts_with(">>> ") {
                Dir::ToSwitch
            } else {
                return Err(err(line_start, format!("unexpected line {line:?}")));
            };
            let mut at = None;
            let mut conn = None;
            let mut len = None;
            for word in line[4..].split(' ') {
                if let Some(v) = word.strip_prefix("conn=") {
                    conn = v.parse().ok();
                } else if let Some(v) = word.strip_prefix("len=") {
                    len = v.parse::<usize>().ok();
                } else if word.starts_with('+') {
                    at = parse_time(word);
                }
            }
            let (Some(at), Some(conn), Some(len)) = (at, conn, len) else {
                return Err(err(line_start, format!("bad frame marker {line:?}")));
            };
            let non_text = line.ends_with(" non-text");
            let bytes = if non_text {
                let dump =
                    next_line(&mut pos).ok_or_else(|| err(pos, "missing hex dump".into()))?;
                let bytes =
                    parse_hex(&dump).ok_or_else(|| err(pos, format!("bad hex dump {dump:?}")))?;
                if bytes.len() != len {
                    return Err(err(
                        pos,
                        format!("hex dump has {} bytes, not {len}", bytes.len()),
                    ));
                }
                bytes
            } else {
                let end = pos + len;
                if end > data.len() {
                    return Err(err(pos, format!("frame of {len} bytes runs past the end")));
                }
                let bytes = data[pos..end].to_vec();
                pos = end;
                if bytes.last() != Some(&b'\n') {
                    // The recorder's own line break after a frame that did not end with one.
                    if data.get(pos) != Some(&b'\n') {
                        return Err(err(pos, "no line break after an unterminated frame".into()));
                    }
                    pos += 1;
                }
                bytes
            };
            items.push(Item::Frame(TraceFrame {
                at,
                dir,
                conn,
                bytes,
                non_text,
            }));
        }
        Ok(Trace {
            name: name.to_owned(),
            header,
            items,
        })
    }

    /// Every frame, in file order.
    pub fn frames(&self) -> impl Iterator<Item = &TraceFrame> + '_ {
        self.items.iter().filter_map(|i| match i {
            Item::Frame(f) => Some(f),
            Item::Note(_) => None,
        })
    }

    /// Every note, in file order.
    pub fn notes(&self) -> impl Iterator<Item = &Note> + '_ {
        self.items.iter().filter_map(|i| match i {
            Item::Note(n) => Some(n),
            Item::Frame(_) => None,
        })
    }

    /// The bytes FreeSWITCH (`Dir::ToClient`) or the client sent on each connection, joined.
    pub fn streams(&self, dir: Dir) -> BTreeMap<u32, Vec<u8>> {
        let mut out: BTreeMap<u32, Vec<u8>> = BTreeMap::new();
        for f in self.frames().filter(|f| f.dir == dir) {
            out.entry(f.conn).or_default().extend_from_slice(&f.bytes);
        }
        out
    }

    /// Connections opened in this trace and whether each is an outbound-socket connection.
    pub fn connections(&self) -> BTreeMap<u32, bool> {
        let mut out = BTreeMap::new();
        for n in self.notes() {
            match n.conn_event() {
                Some((c, ConnEvent::Opened)) => {
                    out.insert(c, false);
                }
                Some((c, ConnEvent::OpenedOutbound)) => {
                    out.insert(c, true);
                }
                _ => {}
            }
        }
        out
    }
}

/// Every `*.txt` trace in `dir`, sorted by name.
pub fn load_all(dir: &Path) -> Vec<Trace> {
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .expect("trace directory is readable")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|p| Trace::load(p).unwrap_or_else(|e| panic!("{e}")))
        .collect()
}
