//! The ESL traces recorded from a real FreeSWITCH 1.10.12 (`../shared/data/esl-traces/`)
//! against aicall:
//!
//! - **The client reads every frame**: every frame FreeSWITCH sent, in every file, goes through
//!   aicall's frame decoder and event parsers — whole, split at every byte and at arbitrary
//!   points — without an error, and the values a client reads come out right. Every command a
//!   client sent goes through the server side's parser.
//! - **Conformance**: for each file, the client's side is replayed against
//!   [`aicall::sim::SimSwitch`] (for the outbound-socket file the test is also the server the
//!   simulator's `socket` application connects to) and what comes back is compared with what
//!   the real switch sent, through one function ([`compare`]) and one list of what may differ
//!   ([`IGNORED_HEADERS`] and the rules next to it). That list is the simulator's documented
//!   difference from the real switch.
//!
//! Each test returns early, listed as skipped, when `../shared/data` is not there.

mod common;
mod trace;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aicall::esl::event::percent_decode;
use aicall::esl::{Command, Event, EventKind, Frame, FrameDecoder, HangupCause, Peer};
use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::{TcpListener, TcpStream, UdpSocket};

use trace::{ConnEvent, Dir, Item, Trace, TraceFrame};

// ------------------------------------------------------------------------------------------
// Decoding helpers
// ------------------------------------------------------------------------------------------

/// Decodes `bytes` fed in pieces of the given sizes (cycled); every frame, or the first error.
fn decode_in_pieces(peer: Peer, bytes: &[u8], pieces: &[usize]) -> Result<Vec<Frame>, String> {
    let mut dec = FrameDecoder::new(peer);
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    let mut pos = 0;
    let mut k = 0;
    while pos < bytes.len() {
        let n = pieces[k % pieces.len()].max(1).min(bytes.len() - pos);
        k += 1;
        buf.extend_from_slice(&bytes[pos..pos + n]);
        pos += n;
        loop {
            match dec.decode(&mut buf) {
                Ok(Some(f)) => out.push(f),
                Ok(None) => break,
                Err(e) => return Err(e.to_string()),
            }
        }
    }
    if !buf.is_empty() {
        return Err(format!("{} bytes left undecoded", buf.len()));
    }
    Ok(out)
}

/// Exactly one frame from `bytes`.
fn decode_one(peer: Peer, bytes: &[u8]) -> Frame {
    let frames = decode_in_pieces(peer, bytes, &[bytes.len()])
        .unwrap_or_else(|e| panic!("frame {:?}: {e}", String::from_utf8_lossy(bytes)));
    assert_eq!(frames.len(), 1, "{:?}", String::from_utf8_lossy(bytes));
    frames.into_iter().next().expect("one frame")
}

/// Pseudo-random piece sizes (a fixed LCG: the same splits on every run).
fn random_pieces(seed: u64, n: usize, max: usize) -> Vec<usize> {
    let mut x = seed;
    (0..n)
        .map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            1 + (x >> 33) as usize % max
        })
        .collect()
}

fn traces_dir() -> Option<std::path::PathBuf> {
    common::shared_data("esl-traces")
}

// ------------------------------------------------------------------------------------------
// (a) The client reads every frame
// ------------------------------------------------------------------------------------------

/// Checks what a client reads from one frame FreeSWITCH sent.
fn check_switch_frame(
    file: &str,
    frame: &Frame,
    outbound: bool,
    plain_json: &mut Vec<Vec<String>>,
) {
    let ctx = || format!("{file}: {:?}", frame.headers);
    let ct = frame.content_type().map(str::to_owned);
    match ct.as_deref() {
        Some("text/event-plain") | Some("text/event-json") => {
            let body = frame.body.as_deref().expect("event frames have a body");
            let ev = if ct.as_deref() == Some("text/event-plain") {
                Event::from_plain(body)
            } else {
                Event::from_json(body)
            }
            .unwrap_or_else(|e| panic!("{}: {e}", ctx()));
            check_event(file, &ev, body);
            plain_json.push(
                ev.headers
                    .iter()
                    .map(|(n, _)| n.to_owned())
                    .filter(|n| n != "Content-Length")
                    .collect(),
            );
        }
        Some("command/reply") if frame.headers.get("Event-Name").is_some() => {
            // The reply to an outbound socket's `connect`: a CHANNEL_DATA event written as the
            // frame's own (percent-encoded) headers, Content-Type among the last ones.
            assert!(outbound, "{}", ctx());
            assert_ne!(
                frame.headers.iter().next().map(|(n, _)| n),
                Some("Content-Type"),
                "Content-Type is not first in the connect reply"
            );
            let ev = Event::from_headers(&frame.headers);
            assert_eq!(ev.get("Reply-Text"), Some("+OK\n"), "{}", ctx());
            assert_eq!(ev.name(), "CHANNEL_DATA");
            assert_eq!(ev.get("Socket-Mode"), Some("async"));
            assert_eq!(ev.get("Control"), Some("full"));
            assert_eq!(ev.get("Answer-State"), Some("ringing"));
            assert_eq!(ev.variable("esl_target"), Some("127.0.0.1:18084"));
            assert!(ev.unique_id().is_some_and(is_uuid));
            assert!(frame.body.is_none());
        }
        Some("command/reply") => {
            let text = frame.reply_text().unwrap_or_else(|| panic!("{}", ctx()));
            assert!(
                text.starts_with("+OK") || text.starts_with("-ERR"),
                "{}",
                ctx()
            );
            if let Some(job) = frame.headers.get("Job-UUID") {
                assert_eq!(text, format!("+OK Job-UUID: {job}"));
            }
        }
        Some("api/response") => {
            let declared: usize = frame
                .headers
                .get("Content-Length")
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{}", ctx()));
            assert_eq!(frame.body.as_ref().map_or(0, |b| b.len()), declared);
        }
        Some("log/data") => {
            let level: u8 = frame
                .headers
                .get("Log-Level")
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{}", ctx()));
            assert!(level <= 7);
            for h in [
                "Text-Channel",
                "Log-File",
                "Log-Func",
                "Log-Line",
                "User-Data",
            ] {
                assert!(frame.headers.get(h).is_some(), "{h} in {}", ctx());
            }
            assert!(!frame.body_text().is_empty());
        }
        Some("text/disconnect-notice") => match frame.headers.get("Content-Disposition") {
            Some("linger") => {
                assert!(frame.body.is_none());
                assert_eq!(frame.headers.get("Linger-Time"), Some("-1"));
                assert!(frame
                    .headers
                    .get("Controlled-Session-UUID")
                    .is_some_and(is_uuid));
            }
            _ => assert_eq!(
                frame.body_text(),
                aicall::esl::server::DISCONNECT_NOTICE,
                "{}",
                ctx()
            ),
        },
        Some("auth/request") => assert!(frame.body.is_none()),
        other => panic!("{file}: unexpected content type {other:?}"),
    }
}

/// Checks the values a client reads from one event.
fn check_event(file: &str, ev: &Event, raw: &[u8]) {
    let name = ev.name().to_owned();
    let ctx = || format!("{file}: {name}: {:?}", ev.headers);
    assert!(!name.is_empty(), "{}", ctx());
    // Percent-decoding: FreeSWITCH's own values come out as the switch holds them.
    assert_eq!(ev.get("FreeSWITCH-IPv6"), Some("fd00::2"), "{}", ctx());
    let local = ev
        .get("Event-Date-Local")
        .unwrap_or_else(|| panic!("{}", ctx()));
    assert!(
        local.len() == 19 && local.as_bytes()[10] == b' ' && local.as_bytes()[13] == b':',
        "{local:?}"
    );
    if ev.unique_id().is_some() && ev.get("Caller-Callee-ID-Name").is_some() {
        let callee = ev.get("Caller-Callee-ID-Name").unwrap_or_default();
        assert!(!callee.contains('%'), "{}", ctx());
    }
    match ev.kind() {
        EventKind::ChannelHangupComplete { cause, .. } => {
            assert_ne!(cause, HangupCause::Unknown, "{}", ctx());
            let causes: Vec<&str> = ev.headers.get_all("Hangup-Cause").collect();
            assert_eq!(causes.len(), 2, "Hangup-Cause twice: {}", ctx());
            assert_eq!(causes[0], causes[1]);
            assert_eq!(ev.variable("hangup_cause"), Some(causes[0]));
        }
        EventKind::BackgroundJob {
            job_uuid, result, ..
        } => {
            assert!(is_uuid(job_uuid), "{}", ctx());
            assert!(
                result.starts_with("+OK ") || result.starts_with("-ERR "),
                "{}",
                ctx()
            );
            if let Some(arg) = ev.get("Job-Command-Arg") {
                // `{...}` and `&park()` arrive percent-decoded.
                assert!(arg.starts_with('{') && !arg.contains("%7B"), "{}", ctx());
            }
        }
        EventKind::Custom {
            subclass: "aicall::call",
        } => {
            assert_eq!(ev.get("Command"), Some("sendevent CUSTOM"));
            assert_eq!(
                ev.get("Aicall-Call-Id"),
                Some("306bcbeb-61c3-4131-9402-c9371276aea9")
            );
            if ev.get("Aicall-State") == Some("answered") {
                assert_eq!(
                    ev.body.as_deref(),
                    Some("line one of the body\nline two: with a colon, 100% & more\n")
                );
            } else {
                assert_eq!(ev.body, None, "an event without a body has none");
            }
        }
        EventKind::Custom { subclass } => {
            assert_eq!(subclass, "callcenter::info", "{}", ctx());
            assert!(ev.get("CC-Action").is_some(), "{}", ctx());
        }
        EventKind::ChannelExecute { application, .. }
        | EventKind::ChannelExecuteComplete { application, .. } => {
            assert!(!application.is_empty(), "{}", ctx());
        }
        _ => {}
    }
    if name.starts_with("CHANNEL_") {
        let uuid = ev.unique_id().unwrap_or_else(|| panic!("{}", ctx()));
        assert!(is_uuid(uuid));
        assert!(ev
            .get("Channel-State")
            .is_some_and(|s| s.starts_with("CS_")));
    }
    // Every header line of a plain body became a header (Content-Length lines announce the
    // body instead).
    if raw.first() != Some(&b'{') {
        let head = raw.split(|&b| b == b'\n').take_while(|l| !l.is_empty());
        let lines = head.filter(|l| !l.starts_with(b"Content-Length:")).count();
        assert_eq!(lines, ev.headers.len(), "{}", ctx());
    }
}

#[test]
fn the_client_reads_every_frame_of_every_trace() {
    let Some(dir) = traces_dir() else {
        return;
    };
    let traces = trace::load_all(&dir);
    assert_eq!(traces.len(), 10, "ten trace files");
    let mut frames_read = 0;
    let mut shapes: BTreeMap<String, Vec<Vec<String>>> = BTreeMap::new();
    for t in &traces {
        let outbound = t.connections();
        for (conn, bytes) in t.streams(Dir::ToClient) {
            let expected: Vec<&TraceFrame> = t
                .frames()
                .filter(|f| f.conn == conn && f.dir == Dir::ToClient)
                .collect();
            let whole = decode_in_pieces(Peer::Server, &bytes, &[bytes.len()])
                .unwrap_or_else(|e| panic!("{} conn {conn}: {e}", t.name));
            assert_eq!(whole.len(), expected.len(), "{} conn {conn}", t.name);
            for (frame, rec) in whole.iter().zip(&expected) {
                assert_eq!(frame, &decode_one(Peer::Server, &rec.bytes), "{}", t.name);
            }
            let mut splits: Vec<Vec<usize>> = vec![vec![1], vec![2], vec![3], vec![7], vec![4096]];
            splits.push(random_pieces(conn as u64 + t.name.len() as u64, 997, 300));
            splits.push(random_pieces(7, 101, 5000));
            for pieces in &splits {
                let again = decode_in_pieces(Peer::Server, &bytes, pieces)
                    .unwrap_or_else(|e| panic!("{} conn {conn} pieces {pieces:?}: {e}", t.name));
                assert_eq!(again, whole, "{} conn {conn} split differently", t.name);
            }
            let shape = shapes.entry(t.name.clone()).or_default();
            for frame in &whole {
                check_switch_frame(
                    &t.name,
                    frame,
                    outbound.get(&conn).copied().unwrap_or(false),
                    shape,
                );
                frames_read += 1;
            }
        }
    }
    let recorded = traces
        .iter()
        .map(|t| t.frames().filter(|f| f.dir == Dir::ToClient).count())
        .sum::<usize>();
    assert_eq!(frames_read, recorded, "every recorded frame was read");
    // The same call in plain and in json carries the same headers in the same order (each
    // event matched by its name, channel and occurrence: the two legs' events interleave
    // differently in the two runs).
    let keyed = |v: &Vec<Vec<String>>, file: &str| -> BTreeMap<String, Vec<String>> {
        let mut seen: HashMap<String, usize> = HashMap::new();
        let t = traces.iter().find(|t| t.name == file).expect("trace");
        let events: Vec<Event> = t
            .frames()
            .filter(|f| f.dir == Dir::ToClient)
            .map(|f| decode_one(Peer::Server, &f.bytes))
            .filter(is_event)
            .map(|f| {
                let body = f.body.as_deref().unwrap_or_default();
                Event::from_plain(body)
                    .ok()
                    .filter(|_| body.first() != Some(&b'{'))
                    .or_else(|| Event::from_json(body).ok())
                    .expect("event")
            })
            .collect();
        events
            .iter()
            .zip(v)
            .map(|(e, names)| {
                let key = format!("{} {}", e.name(), e.get("Channel-Name").unwrap_or_default());
                let n = seen.entry(key.clone()).or_default();
                *n += 1;
                (format!("{key} #{n}"), names.clone())
            })
            .collect()
    };
    let plain = keyed(&shapes["originate-answered.txt"], "originate-answered.txt");
    let json = keyed(
        &shapes["originate-answered-json.txt"],
        "originate-answered-json.txt",
    );
    assert_eq!(
        plain.keys().collect::<Vec<_>>(),
        json.keys().collect::<Vec<_>>()
    );
    for (k, p) in &plain {
        assert_eq!(p, &json[k], "plain and json headers of {k} differ");
    }
}

#[test]
fn the_server_side_reads_every_command_of_every_trace() {
    let Some(dir) = traces_dir() else {
        return;
    };
    // What a real client sent that is no command (the errors scenario's garbage).
    let not_commands = |f: &TraceFrame| {
        f.non_text
            || f.bytes.len() > 10_000
            || f.bytes.starts_with(b"nosuchcommand")
            || f.bytes == b"api\n\n"
    };
    let mut read = 0;
    for t in trace::load_all(&dir) {
        for (conn, bytes) in t.streams(Dir::ToSwitch) {
            let expected: Vec<&TraceFrame> = t
                .frames()
                .filter(|f| f.conn == conn && f.dir == Dir::ToSwitch)
                .collect();
            let frames = decode_in_pieces(Peer::Client, &bytes, &[1])
                .unwrap_or_else(|e| panic!("{} conn {conn}: {e}", t.name));
            assert_eq!(frames.len(), expected.len(), "{} conn {conn}", t.name);
            for (frame, rec) in frames.into_iter().zip(expected) {
                let line = frame.command.clone().unwrap_or_default();
                let cmd = Command::parse(frame);
                let unknown = matches!(cmd, Command::Unknown { .. });
                assert_eq!(
                    unknown,
                    not_commands(rec),
                    "{}: {line:?} -> {cmd:?}",
                    t.name
                );
                match &cmd {
                    Command::Log { level } if line == "log " => assert_eq!(level, ""),
                    Command::Api { command } if line.ends_with(' ') => {
                        assert!(command.ends_with(' '), "{line:?}")
                    }
                    Command::SendEvent { body: Some(b), .. } => assert_eq!(b.len(), 57),
                    _ => {}
                }
                read += 1;
            }
        }
    }
    assert!(read > 100, "{read} commands");
}

// ------------------------------------------------------------------------------------------
// UUIDs in text
// ------------------------------------------------------------------------------------------

/// A lower-case, hyphenated UUID as FreeSWITCH writes them.
fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, &c)| match i {
            8 | 13 | 18 | 23 => c == b'-',
            _ => c.is_ascii_hexdigit() && !c.is_ascii_uppercase(),
        })
}

/// Text split into UUIDs and the text between them.
#[derive(Debug, PartialEq)]
enum Tok<'a> {
    Text(&'a str),
    Uuid(&'a str),
}

fn tokens(s: &str) -> Vec<Tok<'_>> {
    let mut out = Vec::new();
    let mut last = 0;
    let mut i = 0;
    let b = s.as_bytes();
    while i + 36 <= b.len() {
        if s.is_char_boundary(i) && s.is_char_boundary(i + 36) && is_uuid(&s[i..i + 36]) {
            if last < i {
                out.push(Tok::Text(&s[last..i]));
            }
            out.push(Tok::Uuid(&s[i..i + 36]));
            i += 36;
            last = i;
        } else {
            i += 1;
        }
    }
    if last < s.len() {
        out.push(Tok::Text(&s[last..]));
    }
    out
}

// ------------------------------------------------------------------------------------------
// (b) Conformance: the allow-list
// ------------------------------------------------------------------------------------------
//
// Everything below is compared exactly — content types, reply texts, api bodies, every
// compared header's presence, repetitions, order and value, event names and their order per
// channel, the command each frame follows, and whether and when the switch closes — except
// what this list allows, each entry with the reason the difference is harmless. It is the
// one list of the simulator's differences from the real switch (`src/sim/mod.rs` points
// here); the comparison uses nothing else.
//
// Values are compared after two mappings, both bijective over a whole run:
// - UUIDS: a UUID the switch chose (a loopback B leg, callcenter's agent leg and member id,
//   an Application-UUID without an Event-UUID, the Event-UUID of `sendevent`, Core-UUID) is
//   a new random one in every run; the first time a recorded UUID meets a simulated one they
//   are bound, and every later occurrence of either must meet the other. UUIDs the client
//   chose (origination_uuid, Job-UUID, Event-UUID) are the same on both sides.
// - PORTS and PATHS: the outbound-socket target (127.0.0.1:18084), the unicast ports
//   (18100/18101) and the test tone (/tmp/esltrace-tone.wav) are replaced by a free port and
//   a temporary file of the same content in what the replay sends, and mapped back.

/// Why a difference is allowed.
const CLOCK: &str = "wall-clock times and durations of the recording host; a client \
    reads them for logs and billing, which the simulator's own clock serves as well";
const COUNTER: &str = "counters of everything the recording switch did since it started \
    (events fired, sessions created); not meaningful across switch runs";
const SOURCE: &str = "the C source location that fired the event; no client reads it";
const BOOKKEEPING: &str = "FreeSWITCH's internal bookkeeping variables (state stamps, hold \
    and loop counters, bridge and transfer history, copies of event headers callcenter \
    stores on the agent leg); aicall reads none, and the variables it does read are \
    compared (see COMPARED_VARIABLES)";
const HOST_COUNTER_STATUS: &str = "api status: every number (uptime, session counters, \
    idle CPU) describes the recording host's history; the lines and words are compared";

/// A header name pattern.
#[derive(Clone, Copy, Debug)]
enum Pat {
    Exact(&'static str),
    Prefix(&'static str),
    Suffix(&'static str),
}

impl Pat {
    fn matches(self, name: &str) -> bool {
        match self {
            Pat::Exact(e) => name == e,
            Pat::Prefix(p) => name.starts_with(p),
            Pat::Suffix(s) => name.ends_with(s),
        }
    }
}

/// Event headers that are not compared, and why.
const IGNORED_HEADERS: &[(Pat, &str)] = &[
    (Pat::Exact("Event-Date-Local"), CLOCK),
    (Pat::Exact("Event-Date-GMT"), CLOCK),
    (Pat::Exact("Event-Date-Timestamp"), CLOCK),
    (Pat::Suffix("-Time"), CLOCK),
    (Pat::Suffix("-Last-Hold"), CLOCK),
    (Pat::Suffix("-Hold-Accum"), CLOCK),
    (Pat::Exact("Event-Sequence"), COUNTER),
    (Pat::Exact("variable_session_id"), COUNTER),
    (Pat::Exact("Event-Calling-File"), SOURCE),
    (Pat::Exact("Event-Calling-Function"), SOURCE),
    (Pat::Exact("Event-Calling-Line-Number"), SOURCE),
    (Pat::Suffix("epoch"), CLOCK),
    (Pat::Suffix("_stamp"), CLOCK),
    (Pat::Suffix("sec"), CLOCK),
    (Pat::Suffix("_ms"), CLOCK),
    (Pat::Suffix("duration"), CLOCK),
    (Pat::Prefix("variable_playback_"), CLOCK),
    (Pat::Prefix("variable_hold_accum"), CLOCK),
    (Pat::Prefix("variable_Event-"), BOOKKEEPING),
    (Pat::Prefix("variable_Core-UUID"), BOOKKEEPING),
    (Pat::Prefix("variable_FreeSWITCH-"), BOOKKEEPING),
    (Pat::Prefix("variable_bridge_"), BOOKKEEPING),
    (Pat::Prefix("variable_last_bridge_"), BOOKKEEPING),
    (Pat::Prefix("variable_last_sent_callee_"), BOOKKEEPING),
    (Pat::Prefix("variable_original_"), BOOKKEEPING),
    (Pat::Prefix("variable_transfer_"), BOOKKEEPING),
    (Pat::Prefix("variable_loopback_bowout"), BOOKKEEPING),
    (Pat::Exact("variable_signal_bond"), BOOKKEEPING),
    (Pat::Exact("variable_uuid_bridge"), BOOKKEEPING),
    (Pat::Exact("variable_DP_MATCH"), BOOKKEEPING),
    (Pat::Exact("variable_max_forwards"), BOOKKEEPING),
    (Pat::Exact("variable_digits_dialed"), BOOKKEEPING),
    (Pat::Exact("variable_caller_id"), BOOKKEEPING),
    (Pat::Exact("variable_is_loopback"), BOOKKEEPING),
    (Pat::Exact("variable_current_loop"), BOOKKEEPING),
    (Pat::Exact("variable_total_loops"), BOOKKEEPING),
    (Pat::Exact("variable_last_arg"), BOOKKEEPING),
    (
        Pat::Exact("variable_pre_transfer_caller_id_number"),
        BOOKKEEPING,
    ),
    (Pat::Exact("variable_channel_cid_flipped"), BOOKKEEPING),
    (Pat::Exact("variable_leg_timeout"), BOOKKEEPING),
    (Pat::Exact("variable_null_auto_answer_delay"), BOOKKEEPING),
];

/// The channel variables compared besides those the originate set in `{...}`: what aicall
/// and its tests read (the loopback pairing, the hangup cause, the application, the
/// endpoint's disposition, the codec, callcenter's member/agent data).
const COMPARED_VARIABLES: &[&str] = &[
    "direction",
    "is_outbound",
    "uuid",
    "call_uuid",
    "channel_name",
    "read_codec",
    "read_rate",
    "write_codec",
    "write_rate",
    "loopback_leg",
    "other_loopback_leg_uuid",
    "originate_endpoint",
    "originate_early_media",
    "endpoint_disposition",
    "current_application",
    "current_application_data",
    "current_application_response",
    "last_app",
    "hangup_cause",
    "hangup_cause_q850",
    "socket_host",
    "ignore_early_media",
    "origination_caller_id_name",
    "origination_caller_id_number",
];

/// callcenter_config table columns not compared: times, the score that grows with waiting,
/// and the agent's counters, which carry the recording switch's history from before the
/// recording (one call answered, two seconds of talk time).
const IGNORED_COLUMNS: &[&str] = &[
    "system_epoch",
    "joined_epoch",
    "rejoined_epoch",
    "bridge_epoch",
    "abandoned_epoch",
    "score",
    "last_bridge_start",
    "last_bridge_end",
    "last_offered_call",
    "last_status_change",
    "no_answer_count",
    "calls_answered",
    "talk_time",
    "ready_time",
    "external_calls_count",
];

/// Log lines: FreeSWITCH logs ~200 debug lines about one call; the simulator logs a subset
/// that an operator reads (new channel, dialplan hunt, each application, answers, the
/// originate's result, hangups, closes). Each simulated line must be one the real switch
/// logged in the same interval between the client's commands, in the same order among the
/// lines about the same channel (User-Data; lines about different channels come from
/// different threads, as events do — STREAM_RULE), with the same level, text channel, file,
/// function, line and text (the date and idle-CPU prefix of a console line aside: CLOCK);
/// and where the switch logged anything, the simulator must too.
/// Log lines are a stream of their own: mod_event_socket writes one log line per pass of its
/// loop and every queued event, so how they interleave with events is a matter of timing.
const LOG_RULE: &str = "log lines: an ordered subset, see the doc comment";

/// Events are compared per channel (each channel's own stream, in order), BACKGROUND_JOB in
/// the stream of the channel it originated (or of its own), other events without a channel in
/// a stream per name/subclass. How the streams of different channels interleave is not
/// compared: each leg runs on its own thread in FreeSWITCH and their order is a race there
/// too; what a client relies on — the reply before the events it causes (fact 13), where
/// BACKGROUND_JOB falls among the originated channel's events (fact 11) — is compared.
const STREAM_RULE: &str = "event interleaving across channels: see the doc comment";

/// Time between frames is not compared, only the command each frame follows (and the
/// replay keeps the recorded pace): the simulator's timers are the configured ones — it
/// ends an unanswered originate at `originate_timeout` (3 s) where the recorded switch did at
/// 2.3 s, lets a member with no agent go after 9.5 s, answers the null agent leg after 1 s —
/// and a real switch's scheduling jitter is not a property of its protocol.
const TIMING_RULE: &str = "times between frames: see the doc comment";

/// How a header is treated.
#[derive(Debug, PartialEq)]
enum Class {
    Compared,
    Ignored(&'static str),
    /// A variable neither compared nor allowed: `every_recorded_header_is_classified` fails.
    Unclassified,
}

/// The classification of a header.
fn classify(name: &str, origination_vars: &BTreeSet<String>) -> Class {
    if let Some(var) = name.strip_prefix("variable_") {
        if origination_vars.contains(var)
            || COMPARED_VARIABLES.contains(&var)
            || (var.starts_with("cc_") && !var.ends_with("epoch"))
        {
            return Class::Compared;
        }
    }
    match IGNORED_HEADERS.iter().find(|(p, _)| p.matches(name)) {
        Some((_, why)) => Class::Ignored(why),
        None if name.starts_with("variable_") => Class::Unclassified,
        None => Class::Compared,
    }
}

// ------------------------------------------------------------------------------------------
// (b) Conformance: runs and their comparison
// ------------------------------------------------------------------------------------------

/// A frame a client received, with the number of commands it had sent on that connection.
#[derive(Clone, Debug)]
struct Rec {
    epoch: usize,
    frame: Frame,
}

/// What one connection received.
#[derive(Clone, Debug, Default)]
struct ConnLog {
    frames: Vec<Rec>,
    /// The switch closed the connection after this many commands.
    closed_at: Option<usize>,
    errors: Vec<String>,
}

type Run = BTreeMap<u32, ConnLog>;

fn is_event(f: &Frame) -> bool {
    matches!(
        f.content_type(),
        Some("text/event-plain") | Some("text/event-json")
    )
}

fn is_log(f: &Frame) -> bool {
    f.content_type() == Some("log/data")
}

/// The recorded run of a trace.
fn recorded_run(t: &Trace) -> Run {
    let mut run = Run::new();
    let mut sent: HashMap<u32, usize> = HashMap::new();
    for item in &t.items {
        match item {
            Item::Frame(f) if f.dir == Dir::ToSwitch => *sent.entry(f.conn).or_default() += 1,
            Item::Frame(f) => {
                let epoch = sent.get(&f.conn).copied().unwrap_or(0);
                run.entry(f.conn).or_default().frames.push(Rec {
                    epoch,
                    frame: decode_one(Peer::Server, &f.bytes),
                });
            }
            Item::Note(n) => {
                if let Some((c, ConnEvent::ClosedBySwitch)) = n.conn_event() {
                    let epoch = sent.get(&c).copied().unwrap_or(0);
                    run.entry(c).or_default().closed_at = Some(epoch);
                }
            }
        }
    }
    run
}

/// An event as the comparison reads it: every header line in order (Content-Length lines
/// and repeated headers included), values percent-decoded, and the body.
#[derive(Clone, Debug)]
struct Ev {
    headers: Vec<(String, String)>,
    body: Option<String>,
}

impl Ev {
    fn get(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn name(&self) -> &str {
        self.get("Event-Name").unwrap_or("")
    }

    fn from_frame(f: &Frame) -> Ev {
        let body = f.body.as_deref().unwrap_or_default();
        if f.content_type() == Some("text/event-json") {
            let ev = Event::from_json(body).unwrap_or_default();
            return Ev {
                headers: ev
                    .headers
                    .iter()
                    .map(|(n, v)| (n.to_owned(), v.to_owned()))
                    .collect(),
                body: ev.body,
            };
        }
        if !is_event(f) {
            // The connect reply: the frame's own headers are the event.
            return Ev {
                headers: f
                    .headers
                    .iter()
                    .map(|(n, v)| (n.to_owned(), decode_value(v)))
                    .collect(),
                body: None,
            };
        }
        let text = String::from_utf8_lossy(body);
        let (head, rest) = match text.find("\n\n") {
            Some(i) => (&text[..i], Some(&text[i + 2..])),
            None => (text.trim_end_matches('\n'), None),
        };
        let headers: Vec<(String, String)> = head
            .lines()
            .filter_map(|l| l.split_once(": "))
            .map(|(n, v)| (n.to_owned(), decode_value(v)))
            .collect();
        let has_len = headers.iter().any(|(n, _)| n == "Content-Length");
        Ev {
            headers,
            body: rest.filter(|_| has_len).map(str::to_owned),
        }
    }
}

fn decode_value(v: &str) -> String {
    if v == "_undef_" {
        String::new()
    } else {
        percent_decode(v)
    }
}

/// UUIDs bound between the recording and the simulator.
#[derive(Clone, Debug, Default)]
struct UuidMap {
    t2s: HashMap<String, String>,
    s2t: HashMap<String, String>,
}

impl UuidMap {
    fn bind(&mut self, t: &str, s: &str) -> bool {
        match (self.t2s.get(t), self.s2t.get(s)) {
            (Some(x), _) => x == s,
            (None, Some(_)) => false,
            (None, None) => {
                self.t2s.insert(t.to_owned(), s.to_owned());
                self.s2t.insert(s.to_owned(), t.to_owned());
                true
            }
        }
    }
}

/// What the comparison knows besides the two runs.
struct Ctx {
    file: String,
    /// Recorded text → what the replay used instead.
    subst: Vec<(String, String)>,
    origination_vars: BTreeSet<String>,
    /// The command line that made each epoch (connection, number of commands sent).
    commands: HashMap<(u32, usize), String>,
}

impl Ctx {
    fn for_trace(t: &Trace, subst: Vec<(String, String)>) -> Ctx {
        let mut origination_vars = BTreeSet::new();
        let mut commands = HashMap::new();
        let mut sent: HashMap<u32, usize> = HashMap::new();
        for f in t.frames().filter(|f| f.dir == Dir::ToSwitch) {
            let n = sent.entry(f.conn).or_default();
            *n += 1;
            let text = String::from_utf8_lossy(&f.bytes);
            commands.insert((f.conn, *n), text.lines().next().unwrap_or("").to_owned());
            let mut rest = text.as_ref();
            while let Some(open) = rest.find('{') {
                let Some(close) = rest[open..].find('}') else {
                    break;
                };
                for pair in rest[open + 1..open + close].split(',') {
                    if let Some((k, _)) = pair.split_once('=') {
                        origination_vars.insert(k.trim().to_owned());
                    }
                }
                rest = &rest[open + close..];
            }
        }
        Ctx {
            file: t.name.clone(),
            subst,
            origination_vars,
            commands,
        }
    }

    fn map(&self, t: &str) -> String {
        let mut out = t.to_owned();
        for (from, to) in &self.subst {
            out = out.replace(from.as_str(), to);
        }
        out
    }
}

/// Compares text with UUIDs bound (committed only when the whole text matches).
fn same_text(map: &mut UuidMap, ctx: &Ctx, t: &str, s: &str) -> bool {
    let t = ctx.map(t);
    let (tt, st) = (tokens(&t), tokens(s));
    if tt.len() != st.len() {
        return false;
    }
    let mut trial = map.clone();
    for (a, b) in tt.iter().zip(&st) {
        match (a, b) {
            (Tok::Text(x), Tok::Text(y)) if x == y => {}
            (Tok::Uuid(x), Tok::Uuid(y)) if trial.bind(x, y) => {}
            _ => return false,
        }
    }
    *map = trial;
    true
}

/// A Transfer-Source starts with the transfer's epoch second (CLOCK); the rest — a new
/// profile's uuid, `uuid_br`/`bl_xfer` and the other leg or the destination — is compared.
fn normalize(name: &str, value: &str) -> String {
    if name.ends_with("Transfer-Source") {
        if let Some((epoch, rest)) = value.split_once(':') {
            return format!("{}:{rest}", mask_digits(epoch));
        }
    }
    value.to_owned()
}

fn mask_digits(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut in_num = false;
    for c in s.chars() {
        if c.is_ascii_digit() {
            if !in_num {
                out.push('#');
            }
            in_num = true;
        } else {
            in_num = false;
            out.push(c);
        }
    }
    out
}

/// Compares an api body by what the command was.
fn same_body(map: &mut UuidMap, ctx: &Ctx, command: &str, t: &str, s: &str) -> Result<(), String> {
    let api = command.trim_start_matches("api ").trim();
    if api == "status" {
        // HOST_COUNTER_STATUS
        return if mask_digits(t) == mask_digits(s) {
            Ok(())
        } else {
            Err(format!("status differs beyond its numbers: {t:?} vs {s:?}"))
        };
    }
    if api.starts_with("callcenter_config queue list") {
        let (tl, sl): (Vec<&str>, Vec<&str>) = (t.lines().collect(), s.lines().collect());
        if tl.len() != sl.len() || tl.first() != sl.first() {
            return Err(format!("table differs: {t:?} vs {s:?}"));
        }
        let columns: Vec<&str> = tl
            .first()
            .map(|h| h.split('|').collect())
            .unwrap_or_default();
        for (a, b) in tl.iter().zip(&sl).skip(1) {
            let (ac, bc): (Vec<&str>, Vec<&str>) = (a.split('|').collect(), b.split('|').collect());
            if ac.len() != bc.len() {
                return Err(format!("row {a:?} vs {b:?}"));
            }
            for ((x, y), col) in ac
                .iter()
                .zip(&bc)
                .zip(columns.iter().chain(std::iter::repeat(&"")))
            {
                if IGNORED_COLUMNS.contains(col) {
                    continue;
                }
                if !same_text(map, ctx, x, y) {
                    return Err(format!("column {col}: {x:?} vs {y:?} in {a:?} / {b:?}"));
                }
            }
        }
        return Ok(());
    }
    if same_text(map, ctx, t, s) {
        Ok(())
    } else {
        Err(format!("body {t:?} vs {s:?}"))
    }
}

/// Compares two events header by header under the allow-list.
fn compare_event(map: &mut UuidMap, ctx: &Ctx, t: &Ev, s: &Ev) -> Vec<String> {
    let mut diffs = Vec::new();
    let pick = |e: &Ev, vars: bool| -> Vec<(String, String)> {
        e.headers
            .iter()
            .filter(|(n, _)| n.starts_with("variable_") == vars)
            .filter(|(n, _)| !matches!(classify(n, &ctx.origination_vars), Class::Ignored(_)))
            .cloned()
            .collect()
    };
    let (tc, sc) = (pick(t, false), pick(s, false));
    let tn: Vec<&str> = tc.iter().map(|(n, _)| n.as_str()).collect();
    let sn: Vec<&str> = sc.iter().map(|(n, _)| n.as_str()).collect();
    if tn != sn {
        let missing: Vec<&&str> = tn.iter().filter(|n| !sn.contains(n)).collect();
        let extra: Vec<&&str> = sn.iter().filter(|n| !tn.contains(n)).collect();
        diffs.push(format!(
            "headers differ (missing {missing:?}, extra {extra:?}):\n      \
             trace {tn:?}\n      sim   {sn:?}"
        ));
    } else {
        for ((n, a), (_, b)) in tc.iter().zip(&sc) {
            let (a, b) = (normalize(n, a), normalize(n, b));
            if !same_text(map, ctx, &a, &b) {
                diffs.push(format!("{n}: trace {a:?}, sim {b:?}"));
            }
        }
    }
    let group = |v: Vec<(String, String)>| {
        let mut m: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (n, val) in v {
            m.entry(n).or_default().push(val);
        }
        m
    };
    let (tv, sv) = (group(pick(t, true)), group(pick(s, true)));
    for (n, a) in &tv {
        match sv.get(n) {
            None => diffs.push(format!("{n} missing (trace {a:?})")),
            Some(b) if a.len() != b.len() => diffs.push(format!("{n}: trace {a:?}, sim {b:?}")),
            Some(b) => {
                for (x, y) in a.iter().zip(b) {
                    if !same_text(map, ctx, x, y) {
                        diffs.push(format!("{n}: trace {x:?}, sim {y:?}"));
                    }
                }
            }
        }
    }
    for (n, b) in &sv {
        if !tv.contains_key(n) {
            diffs.push(format!("{n} extra (sim {b:?})"));
        }
    }
    match (&t.body, &s.body) {
        (None, None) => {}
        (Some(a), Some(b)) if same_text(map, ctx, a, b) => {}
        (a, b) => diffs.push(format!("body: trace {a:?}, sim {b:?}")),
    }
    diffs
}

/// Where an event is compared: a channel's stream, or one of its own.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Stream {
    /// The n-th channel with this first Channel-Name on the connection.
    Channel(String, usize),
    Other(String),
}

/// Splits a connection's events into streams (see STREAM_RULE).
/// Events by stream, and the stream of each channel uuid.
type Streams = (BTreeMap<Stream, Vec<(usize, Ev)>>, HashMap<String, Stream>);

fn streams(frames: &[Rec]) -> Streams {
    let events: Vec<(usize, Ev)> = frames
        .iter()
        .filter(|r| is_event(&r.frame))
        .map(|r| (r.epoch, Ev::from_frame(&r.frame)))
        .collect();
    let mut keys: HashMap<String, Stream> = HashMap::new();
    let mut per_name: HashMap<String, usize> = HashMap::new();
    for (_, ev) in &events {
        if let Some(u) = ev.get("Unique-ID") {
            if !keys.contains_key(u) {
                let name = ev.get("Channel-Name").unwrap_or("").to_owned();
                let n = per_name.entry(name.clone()).or_default();
                keys.insert(u.to_owned(), Stream::Channel(name, *n));
                *n += 1;
            }
        }
    }
    let mut out: BTreeMap<Stream, Vec<(usize, Ev)>> = BTreeMap::new();
    for (epoch, ev) in events {
        let key = match ev.get("Unique-ID") {
            Some(u) => keys[u].clone(),
            None if ev.name() == "BACKGROUND_JOB" => {
                // In the stream of the channel it originated, when that channel is here.
                let body = ev.body.clone().unwrap_or_default();
                let arg = ev.get("Job-Command-Arg").unwrap_or("");
                let uuid = body
                    .strip_prefix("+OK ")
                    .map(|u| u.trim().to_owned())
                    .or_else(|| {
                        arg.split("origination_uuid=")
                            .nth(1)
                            .map(|r| r.chars().take(36).collect())
                    });
                uuid.and_then(|u| keys.get(&u).cloned())
                    .unwrap_or_else(|| Stream::Other("BACKGROUND_JOB".into()))
            }
            None => Stream::Other(format!(
                "{}/{}",
                ev.name(),
                ev.get("Event-Subclass").unwrap_or("")
            )),
        };
        out.entry(key).or_default().push((epoch, ev));
    }
    (out, keys)
}

/// THE comparison: what the simulator sent against what the real switch sent, under the
/// allow-list above. Returns every difference found.
fn compare(ctx: &Ctx, expected: &Run, actual: &Run) -> Vec<String> {
    let mut diffs = Vec::new();
    let mut map = UuidMap::default();
    for (conn, t) in expected {
        let here = |what: String| format!("{} conn {conn}: {what}", ctx.file);
        let Some(s) = actual.get(conn) else {
            diffs.push(here("the simulator never opened this connection".into()));
            continue;
        };
        for e in &s.errors {
            diffs.push(here(format!("undecodable frame: {e}")));
        }
        // Channel streams first: their pairing binds the switch-chosen channel UUIDs.
        let (ts, tkeys) = streams(&t.frames);
        let (ss, skeys) = streams(&s.frames);
        for (tu, key) in &tkeys {
            if let Some((su, _)) = skeys.iter().find(|(_, k)| *k == key) {
                if !map.bind(tu, su) {
                    diffs.push(here(format!(
                        "channel {key:?}: uuid {tu} already bound elsewhere"
                    )));
                }
            }
        }
        let all: BTreeSet<&Stream> = ts.keys().chain(ss.keys()).collect();
        for key in all {
            let (te, se) = (
                ts.get(key).map(Vec::as_slice).unwrap_or(&[]),
                ss.get(key).map(Vec::as_slice).unwrap_or(&[]),
            );
            let tn: Vec<&str> = te.iter().map(|(_, e)| e.name()).collect();
            let sn: Vec<&str> = se.iter().map(|(_, e)| e.name()).collect();
            if tn != sn {
                diffs.push(here(format!(
                    "stream {key:?}: events differ\n      trace {tn:?}\n      sim   {sn:?}"
                )));
                continue;
            }
            for (i, ((tep, a), (sep, b))) in te.iter().zip(se).enumerate() {
                let what = format!("stream {key:?} event #{i} {}", a.name());
                if tep != sep {
                    diffs.push(here(format!(
                        "{what}: arrived after command {sep}, recorded after command {tep}"
                    )));
                }
                for d in compare_event(&mut map, ctx, a, b) {
                    diffs.push(here(format!("{what}: {d}")));
                }
            }
        }
        // Replies, api bodies, notices.
        let replies = |log: &ConnLog| -> Vec<Rec> {
            log.frames
                .iter()
                .filter(|r| !is_event(&r.frame) && !is_log(&r.frame))
                .cloned()
                .collect()
        };
        let (tr, sr) = (replies(t), replies(s));
        if tr.len() != sr.len() {
            let show = |v: &[Rec]| -> Vec<String> {
                v.iter()
                    .map(|r| {
                        format!(
                            "{}:{}",
                            r.frame.content_type().unwrap_or("?"),
                            r.frame.reply_text().unwrap_or("")
                        )
                    })
                    .collect()
            };
            diffs.push(here(format!(
                "{} replies recorded, {} from the simulator\n      trace {:?}\n      sim   {:?}",
                tr.len(),
                sr.len(),
                show(&tr),
                show(&sr)
            )));
        }
        for (i, (a, b)) in tr.iter().zip(&sr).enumerate() {
            let command = ctx
                .commands
                .get(&(*conn, a.epoch))
                .cloned()
                .unwrap_or_default();
            let what = format!("reply #{i} to {command:?}");
            if a.epoch != b.epoch {
                diffs.push(here(format!(
                    "{what}: came after command {}, recorded after command {}",
                    b.epoch, a.epoch
                )));
            }
            if a.frame.content_type() != b.frame.content_type() {
                diffs.push(here(format!(
                    "{what}: content type {:?}, recorded {:?}",
                    b.frame.content_type(),
                    a.frame.content_type()
                )));
                continue;
            }
            if a.frame.headers.get("Event-Name").is_some() {
                for d in compare_event(
                    &mut map,
                    ctx,
                    &Ev::from_frame(&a.frame),
                    &Ev::from_frame(&b.frame),
                ) {
                    diffs.push(here(format!("{what}: {d}")));
                }
                continue;
            }
            // Content-Length follows the body, which is compared on its own.
            let hs = |f: &Frame| -> Vec<(String, String)> {
                f.headers
                    .iter()
                    .filter(|(n, _)| *n != "Content-Length")
                    .map(|(n, v)| (n.to_owned(), v.to_owned()))
                    .collect()
            };
            let (ah, bh) = (hs(&a.frame), hs(&b.frame));
            if ah.iter().map(|(n, _)| n).ne(bh.iter().map(|(n, _)| n)) {
                diffs.push(here(format!("{what}: headers {bh:?}, recorded {ah:?}")));
            } else {
                for ((n, x), (_, y)) in ah.iter().zip(&bh) {
                    if !same_text(&mut map, ctx, x, y) {
                        diffs.push(here(format!("{what}: {n} {y:?}, recorded {x:?}")));
                    }
                }
            }
            if let Err(e) = same_body(
                &mut map,
                ctx,
                &command,
                &a.frame.body_text(),
                &b.frame.body_text(),
            ) {
                diffs.push(here(format!("{what}: {e}")));
            }
        }
        // Log lines (LOG_RULE).
        diffs.extend(compare_logs(&mut map, ctx, t, s).into_iter().map(here));
        if t.closed_at != s.closed_at {
            diffs.push(here(format!(
                "closed after command {:?}, recorded closed after command {:?}",
                s.closed_at, t.closed_at
            )));
        }
    }
    for conn in actual.keys() {
        if !expected.contains_key(conn) {
            diffs.push(format!("{}: unexpected connection {conn}", ctx.file));
        }
    }
    diffs
}

/// A log line as compared: the command it followed, its headers, its text.
type LogKey = (usize, Vec<(String, String)>, String);

/// One log line, as compared.
fn log_key(r: &Rec) -> LogKey {
    let f = &r.frame;
    let headers: Vec<(String, String)> = f
        .headers
        .iter()
        .filter(|(n, _)| *n != "Content-Length")
        .map(|(n, v)| (n.to_owned(), v.to_owned()))
        .collect();
    let body = f.body_text().into_owned();
    // CLOCK: the console line's date and idle-CPU prefix.
    let body = match (body.find(" ["), body.as_bytes().get(4)) {
        (Some(i), Some(b'-')) if f.headers.get("Text-Channel") != Some("1") => body[i..].to_owned(),
        _ => body,
    };
    (r.epoch, headers, body)
}

fn compare_logs(map: &mut UuidMap, ctx: &Ctx, t: &ConnLog, s: &ConnLog) -> Vec<String> {
    let mut diffs = Vec::new();
    let tl: Vec<_> = t
        .frames
        .iter()
        .filter(|r| is_log(&r.frame))
        .map(log_key)
        .collect();
    let sl: Vec<_> = s
        .frames
        .iter()
        .filter(|r| is_log(&r.frame))
        .map(log_key)
        .collect();
    let user = |k: &LogKey| -> String {
        k.1.iter()
            .find(|(n, _)| n == "User-Data")
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    // Per channel (User-Data), the next recorded line a simulated one may match.
    let mut cursor: HashMap<String, usize> = HashMap::new();
    for key in &sl {
        let (epoch, headers, body) = key;
        let found = (0..tl.len()).find(|&i| {
            let stream = user(&tl[i]);
            if i < cursor.get(&stream).copied().unwrap_or(0) {
                return false;
            }
            let (te, th, tb) = &tl[i];
            if te != epoch || th.len() != headers.len() {
                return false;
            }
            let mut trial = map.clone();
            let ok = th
                .iter()
                .zip(headers)
                .all(|((tn, tv), (sn, sv))| tn == sn && same_text(&mut trial, ctx, tv, sv))
                && same_text(&mut trial, ctx, tb, body);
            if ok {
                *map = trial;
            }
            ok
        });
        match found {
            Some(i) => {
                cursor.insert(user(&tl[i]), i + 1);
            }
            None => diffs.push(format!(
                "log line not logged by the real switch (in that order for its channel, \
                 after command {epoch}): {headers:?} {body:?}"
            )),
        }
    }
    let epochs = |v: &[LogKey]| -> BTreeSet<usize> { v.iter().map(|(e, _, _)| *e).collect() };
    for e in epochs(&tl).difference(&epochs(&sl)) {
        diffs.push(format!(
            "the real switch logged after command {e}, the simulator did not"
        ));
    }
    diffs
}

// ------------------------------------------------------------------------------------------
// (b) Conformance: the replay
// ------------------------------------------------------------------------------------------

/// How long a command waits for the frames the real switch had sent before it.
const GATE: Duration = Duration::from_secs(5);

/// A connection the replay drives.
struct Live {
    writer: OwnedWriteHalf,
    sent: Arc<AtomicUsize>,
    got: Arc<AtomicUsize>,
    log: Arc<Mutex<ConnLog>>,
}

fn spawn_reader(stream: TcpStream) -> Live {
    let (mut rd, writer) = stream.into_split();
    let sent = Arc::new(AtomicUsize::new(0));
    let got = Arc::new(AtomicUsize::new(0));
    let log = Arc::new(Mutex::new(ConnLog::default()));
    let (s2, g2, l2) = (sent.clone(), got.clone(), log.clone());
    tokio::spawn(async move {
        let mut dec = FrameDecoder::new(Peer::Server);
        let mut buf = BytesMut::with_capacity(65536);
        loop {
            loop {
                match dec.decode(&mut buf) {
                    Ok(Some(frame)) => {
                        let nonlog = !is_log(&frame);
                        l2.lock().expect("log lock").frames.push(Rec {
                            epoch: s2.load(Ordering::SeqCst),
                            frame,
                        });
                        if nonlog {
                            g2.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        l2.lock().expect("log lock").errors.push(e.to_string());
                        if e.is_fatal() {
                            return;
                        }
                    }
                }
            }
            match rd.read_buf(&mut buf).await {
                Ok(0) | Err(_) => {
                    l2.lock().expect("log lock").closed_at = Some(s2.load(Ordering::SeqCst));
                    return;
                }
                Ok(_) => {}
            }
        }
    });
    Live {
        writer,
        sent,
        got,
        log,
    }
}

async fn gate(live: &Live, need: usize) {
    let deadline = Instant::now() + GATE;
    while live.got.load(Ordering::SeqCst) < need && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

fn replace_all(bytes: &[u8], subst: &[(String, String)]) -> Vec<u8> {
    let mut text = String::from_utf8_lossy(bytes).into_owned();
    if std::str::from_utf8(bytes).is_err() {
        return bytes.to_vec();
    }
    for (from, to) in subst {
        text = text.replace(from.as_str(), to);
    }
    text.into_bytes()
}

/// The datagrams a unicast stream delivered, with when they arrived.
type Datagrams = Arc<Mutex<Vec<(Instant, usize)>>>;

/// Replays the client side of `t` against `sim` (and, for outbound connections, accepts the
/// simulator's connection on `outbound`); returns what came back.
async fn replay(
    t: &Trace,
    sim: &aicall::sim::SimSwitch,
    subst: &[(String, String)],
    outbound: Option<TcpListener>,
) -> Run {
    let t0 = tokio::time::Instant::now();
    let mut conns: BTreeMap<u32, Live> = BTreeMap::new();
    let mut expected: HashMap<u32, usize> = HashMap::new();
    let mut closed_by_switch: BTreeSet<u32> = BTreeSet::new();
    for item in &t.items {
        match item {
            Item::Note(n) => match n.conn_event() {
                Some((c, ConnEvent::Opened)) => {
                    tokio::time::sleep_until(t0 + n.at).await;
                    let stream = TcpStream::connect(sim.addr()).await.expect("connects");
                    conns.insert(c, spawn_reader(stream));
                }
                Some((c, ConnEvent::OpenedOutbound)) => {
                    let listener = outbound.as_ref().expect("an outbound listener");
                    let (stream, _) = tokio::time::timeout(GATE, listener.accept())
                        .await
                        .expect("the simulator's socket application connects")
                        .expect("accept");
                    conns.insert(c, spawn_reader(stream));
                }
                Some((c, ConnEvent::ClosedByClient)) => {
                    if let Some(live) = conns.get_mut(&c) {
                        gate(live, expected.get(&c).copied().unwrap_or(0)).await;
                        tokio::time::sleep_until(t0 + n.at).await;
                        let _ = live.writer.shutdown().await;
                    }
                }
                Some((c, ConnEvent::ClosedBySwitch)) => {
                    closed_by_switch.insert(c);
                }
                None => {}
            },
            Item::Frame(f) if f.dir == Dir::ToClient => {
                let frame = decode_one(Peer::Server, &f.bytes);
                if !is_log(&frame) {
                    *expected.entry(f.conn).or_default() += 1;
                }
            }
            Item::Frame(f) => {
                let Some(live) = conns.get_mut(&f.conn) else {
                    panic!(
                        "{}: a frame on connection {} before it opened",
                        t.name, f.conn
                    );
                };
                tokio::time::sleep_until(t0 + f.at).await;
                gate(live, expected.get(&f.conn).copied().unwrap_or(0)).await;
                live.sent.fetch_add(1, Ordering::SeqCst);
                let bytes = replace_all(&f.bytes, subst);
                if live.writer.write_all(&bytes).await.is_err() {
                    // The switch closed; what it sent is what counts.
                }
            }
        }
    }
    // Everything the switch sent after the last command, and its closes.
    let deadline = Instant::now() + GATE;
    loop {
        let done = conns.iter().all(|(c, live)| {
            live.got.load(Ordering::SeqCst) >= expected.get(c).copied().unwrap_or(0)
                && (!closed_by_switch.contains(c)
                    || live.log.lock().expect("log lock").closed_at.is_some())
        });
        if done || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Room for frames the real switch did not send.
    tokio::time::sleep(Duration::from_millis(300)).await;
    conns
        .into_iter()
        .map(|(c, live)| (c, live.log.lock().expect("log lock").clone()))
        .collect()
}

/// A 1 s 440 Hz tone at 8 kHz: the recording's /tmp/esltrace-tone.wav.
fn write_tone(path: &Path) {
    common::write_sine(path, 440.0, 8000.0);
}

/// Replays one trace file against a simulator configured like the recorded switch and
/// fails with every difference the allow-list does not excuse.
async fn conform(file: &str) {
    let Some(dir) = traces_dir() else {
        return;
    };
    let t = Trace::load(&dir.join(file)).unwrap_or_else(|e| panic!("{e}"));
    let tmp = tempfile::tempdir().expect("temp dir");
    let tone = tmp.path().join("esltrace-tone.wav");
    write_tone(&tone);
    let outbound = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind outbound");
    let out_port = outbound.local_addr().expect("addr").port();
    // The unicast ports: the simulator binds one, the test listens on the other.
    let udp = UdpSocket::bind("127.0.0.1:0").await.expect("bind udp");
    let remote_port = udp.local_addr().expect("addr").port();
    let local_port = {
        let probe = std::net::UdpSocket::bind("127.0.0.1:0").expect("probe port");
        probe.local_addr().expect("addr").port()
    };
    let subst = vec![
        (
            "127.0.0.1:18084".to_owned(),
            format!("127.0.0.1:{out_port}"),
        ),
        (
            "local-port: 18100".into(),
            format!("local-port: {local_port}"),
        ),
        (
            "remote-port: 18101".into(),
            format!("remote-port: {remote_port}"),
        ),
        (
            "/tmp/esltrace-tone.wav".into(),
            tone.to_string_lossy().into_owned(),
        ),
    ];
    let datagrams: Datagrams = Arc::new(Mutex::new(Vec::new()));
    let d2 = datagrams.clone();
    let udp_task = tokio::spawn(async move {
        let mut buf = [0u8; 2048];
        while let Ok((n, _)) = udp.recv_from(&mut buf).await {
            d2.lock().expect("datagrams").push((Instant::now(), n));
        }
    });
    let sim = aicall::sim::SimSwitch::start(aicall::sim::SimConfig {
        dialplan: aicall::sim::Dialplan::esl_traces(),
        hostname: "vm".into(),
        ipv4: "192.0.2.2".into(),
        ipv6: "fd00::2".into(),
        ..aicall::sim::SimConfig::default()
    })
    .await
    .expect("simulator starts");
    let started = Instant::now();
    let actual = replay(&t, &sim, &subst, Some(outbound)).await;
    udp_task.abort();
    let ctx = Ctx::for_trace(&t, subst);
    let mut diffs = compare(&ctx, &recorded_run(&t), &actual);
    diffs.extend(check_unicast(&t, started, &datagrams));
    sim.stop().await;
    assert!(
        diffs.is_empty(),
        "{} differences from {file}:\n  {}",
        diffs.len(),
        diffs.join("\n  ")
    );
}

/// The UDP side the recorder noted: the simulator's unicast stream delivers as many 320-byte
/// datagrams in the same window (a 20 ms clock paced in real time: 5% slack for a loaded
/// machine).
fn check_unicast(t: &Trace, started: Instant, got: &Datagrams) -> Vec<String> {
    let Some(note) = t.notes().find(|n| n.text.starts_with("UDP side")) else {
        return Vec::new();
    };
    let count: usize = note
        .text
        .split(" got ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let unicast_at = t
        .frames()
        .find(|f| f.dir == Dir::ToSwitch && f.bytes.windows(16).any(|w| w == b"call-command: un"))
        .map(|f| f.at)
        .unwrap_or_default();
    let window = (started + unicast_at)..(started + note.at);
    let got = got.lock().expect("datagrams");
    let inside: Vec<usize> = got
        .iter()
        .filter(|(at, _)| window.contains(at))
        .map(|(_, n)| *n)
        .collect();
    let mut diffs = Vec::new();
    if inside.len() < count * 95 / 100 || inside.len() > count + 2 {
        diffs.push(format!(
            "{}: unicast delivered {} datagrams in the window, the real switch {count}",
            t.name,
            inside.len()
        ));
    }
    if inside.iter().any(|&n| n != 320) {
        diffs.push(format!("{}: unicast datagrams not all 320 bytes", t.name));
    }
    diffs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_errors() {
    conform("errors.txt").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_fs_cli_x() {
    conform("fs-cli-x.txt").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_fs_cli_session() {
    conform("fs-cli-session.txt").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_sendevent_custom() {
    conform("sendevent-custom.txt").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_originate_answered() {
    conform("originate-answered.txt").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_originate_answered_json() {
    conform("originate-answered-json.txt").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_originate_failures() {
    conform("originate-failures.txt").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_outbound_socket() {
    conform("outbound-socket.txt").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_bridge_eavesdrop() {
    conform("bridge-eavesdrop.txt").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_transfer_callcenter() {
    conform("transfer-callcenter.txt").await;
}

/// Every header of every recorded event is either compared or allowed to differ for a
/// reason, and every entry of the allow-list is used: the list is complete and has nothing
/// stale.
#[test]
fn every_recorded_header_is_classified() {
    let Some(dir) = traces_dir() else {
        return;
    };
    let mut unclassified = BTreeSet::new();
    let mut used = vec![false; IGNORED_HEADERS.len()];
    for t in trace::load_all(&dir) {
        let ctx = Ctx::for_trace(&t, Vec::new());
        for f in t.frames().filter(|f| f.dir == Dir::ToClient) {
            let frame = decode_one(Peer::Server, &f.bytes);
            if !is_event(&frame) && frame.headers.get("Event-Name").is_none() {
                continue;
            }
            for (name, _) in Ev::from_frame(&frame).headers {
                if classify(&name, &ctx.origination_vars) == Class::Unclassified {
                    unclassified.insert(name.clone());
                }
                if let Some(i) = IGNORED_HEADERS.iter().position(|(p, _)| p.matches(&name)) {
                    used[i] = true;
                }
            }
        }
    }
    assert!(
        unclassified.is_empty(),
        "unclassified headers: {unclassified:?}"
    );
    let stale: Vec<_> = IGNORED_HEADERS
        .iter()
        .zip(&used)
        .filter(|(_, u)| !**u)
        .map(|((p, _), _)| p)
        .collect();
    assert!(
        stale.is_empty(),
        "allow-list entries no trace needs: {stale:?}"
    );
    // The rules that are not header patterns are documented beside the list.
    for rule in [LOG_RULE, STREAM_RULE, HOST_COUNTER_STATUS, TIMING_RULE] {
        assert!(!rule.is_empty());
    }
}
