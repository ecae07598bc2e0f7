//! FreeSWITCH events: parsing and writing `text/event-plain` and `text/event-json` bodies,
//! FreeSWITCH's percent-encoding, and typed views of the events aicall acts on.
//!
//! Plain event bodies are themselves `Name: value` lines whose values FreeSWITCH
//! percent-encodes (`switch_url_encode`: bytes below space or above `~`, and
//! ``" #%&+:;<=>?@[\]^`{|}``); an event with its own body (BACKGROUND_JOB, api results)
//! carries an inner `Content-Length`, a blank line, then that body. `_undef_` marks an empty
//! value and is read as the empty string.

use super::frame::Headers;
use super::hangup::HangupCause;

/// Events FreeSWITCH writes, decoded.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Event {
    pub headers: Headers,
    pub body: Option<String>,
}

/// Event serialisation formats of `event plain|json`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum EventFormat {
    #[default]
    Plain,
    Json,
}

impl EventFormat {
    /// The word used in `event <format> ...` and in `text/event-<format>`.
    pub fn as_str(self) -> &'static str {
        match self {
            EventFormat::Plain => "plain",
            EventFormat::Json => "json",
        }
    }
}

/// Why an event body could not be read.
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    #[error("event JSON is invalid: {0}")]
    Json(#[from] serde_json::Error),
    #[error("event JSON is not an object of strings")]
    JsonShape,
    #[error("event-plain line {line:?} has no colon")]
    MalformedLine { line: String },
    #[error("event-plain inner Content-Length {value:?} is invalid")]
    BadInnerLength { value: String },
}

const UNSAFE: &[u8] = b"\r\n #%&+:;<=>?@[\\]^`{|}\"";

/// Percent-encodes a value exactly as FreeSWITCH's `switch_url_encode` does.
pub fn percent_encode_into(value: &str, out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in value.as_bytes() {
        if !(b' '..=b'~').contains(&b) || UNSAFE.contains(&b) {
            out.extend_from_slice(&[b'%', HEX[(b >> 4) as usize], HEX[(b & 15) as usize]]);
        } else {
            out.push(b);
        }
    }
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Percent-decodes `raw` into `out`. A `%` not followed by two hex digits is kept literally,
/// as FreeSWITCH's decoder does; invalid UTF-8 is replaced, never refused.
pub fn percent_decode_into(raw: &[u8], out: &mut String) {
    if memchr::memchr(b'%', raw).is_none() {
        out.push_str(&String::from_utf8_lossy(raw));
        return;
    }
    let mut bytes = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let b = raw[i];
        if b == b'%' && i + 2 < raw.len() {
            if let (Some(h), Some(l)) = (hex_val(raw[i + 1]), hex_val(raw[i + 2])) {
                bytes.push(h << 4 | l);
                i += 3;
                continue;
            }
        }
        bytes.push(b);
        i += 1;
    }
    match String::from_utf8(bytes) {
        Ok(s) => out.push_str(&s),
        Err(e) => out.push_str(&String::from_utf8_lossy(e.as_bytes())),
    }
}

/// Percent-decodes a value to a new string.
pub fn percent_decode(raw: &str) -> String {
    let mut s = String::with_capacity(raw.len());
    percent_decode_into(raw.as_bytes(), &mut s);
    s
}

/// The members of a JSON object in document order, duplicates included.
struct JsonEntries(Vec<(String, serde_json::Value)>);

impl<'de> serde::Deserialize<'de> for JsonEntries {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Entries;
        impl<'de> serde::de::Visitor<'de> for Entries {
            type Value = JsonEntries;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<JsonEntries, A::Error> {
                let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(64).min(1024));
                while let Some(entry) = map.next_entry::<String, serde_json::Value>()? {
                    entries.push(entry);
                }
                Ok(JsonEntries(entries))
            }
        }
        d.deserialize_map(Entries)
    }
}

impl Event {
    /// A new event with `Event-Name` set.
    pub fn new(name: &str) -> Self {
        let mut headers = Headers::with_capacity(16, 512);
        headers.push("Event-Name", name);
        Self {
            headers,
            body: None,
        }
    }

    /// Parses a `text/event-plain` body.
    pub fn from_plain(body: &[u8]) -> Result<Self, EventError> {
        let mut headers = Headers::with_capacity(body.len() / 40 + 1, body.len());
        let mut rest = body;
        let mut inner_len: Option<usize> = None;
        loop {
            let (line, after) = match memchr::memchr(b'\n', rest) {
                Some(i) => (&rest[..i], &rest[i + 1..]),
                None => (rest, &rest[rest.len()..]),
            };
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            rest = after;
            if line.is_empty() {
                if inner_len.is_some() || rest.is_empty() {
                    break;
                }
                continue;
            }
            let Some(colon) = memchr::memchr(b':', line) else {
                return Err(EventError::MalformedLine {
                    line: String::from_utf8_lossy(&line[..line.len().min(80)]).into_owned(),
                });
            };
            let name = String::from_utf8_lossy(&line[..colon]);
            let mut value = &line[colon + 1..];
            if let Some(v) = value.strip_prefix(b" ") {
                value = v;
            }
            if name.eq_ignore_ascii_case("Content-Length") {
                let text = String::from_utf8_lossy(value);
                inner_len = Some(
                    text.trim()
                        .parse()
                        .map_err(|_| EventError::BadInnerLength {
                            value: text.chars().take(40).collect(),
                        })?,
                );
                continue;
            }
            if value == b"_undef_" {
                value = b"";
            }
            headers.push_with(name.trim(), |out| percent_decode_into(value, out));
            if rest.is_empty() {
                break;
            }
        }
        let body = inner_len.map(|n| {
            let n = n.min(rest.len());
            String::from_utf8_lossy(&rest[..n]).into_owned()
        });
        Ok(Self { headers, body })
    }

    /// Parses a `text/event-json` body: an object of strings (arrays for repeated headers),
    /// the event body under `_body`. FreeSWITCH writes a header it holds twice as two equal
    /// keys of the same object (`Hangup-Cause` in CHANNEL_HANGUP_COMPLETE), so the object is
    /// read entry by entry, in order, keeping every duplicate — a map would keep one.
    pub fn from_json(body: &[u8]) -> Result<Self, EventError> {
        let entries: JsonEntries = serde_json::from_slice(body).map_err(|e| {
            if e.classify() == serde_json::error::Category::Data {
                EventError::JsonShape
            } else {
                EventError::Json(e)
            }
        })?;
        let mut headers = Headers::with_capacity(entries.0.len(), body.len());
        let mut event_body = None;
        for (name, value) in entries.0 {
            match (name.as_str(), value) {
                ("_body", serde_json::Value::String(s)) => event_body = Some(s),
                (_, serde_json::Value::String(s)) => headers.push(&name, &s),
                (_, serde_json::Value::Array(items)) => {
                    for item in items {
                        match item {
                            serde_json::Value::String(s) => headers.push(&name, &s),
                            other => headers.push(&name, &other.to_string()),
                        }
                    }
                }
                (_, serde_json::Value::Null) => headers.push(&name, ""),
                (_, other) => headers.push(&name, &other.to_string()),
            }
        }
        Ok(Self {
            headers,
            body: event_body,
        })
    }

    /// Reads a header block whose values are percent-encoded event headers: the reply to an
    /// outbound socket's `connect` is a whole CHANNEL_DATA event written as the frame's own
    /// headers (its `Reply-Text` is `%2BOK%0A`, i.e. `+OK\n`), with no body.
    pub fn from_headers(raw: &Headers) -> Self {
        let mut headers = Headers::with_capacity(raw.len(), 1024);
        for (name, value) in raw.iter() {
            if value == "_undef_" {
                headers.push(name, "");
            } else {
                headers.push_with(name, |out| percent_decode_into(value.as_bytes(), out));
            }
        }
        Self {
            headers,
            body: None,
        }
    }

    /// Writes the event as a `text/event-plain` body, byte for byte as FreeSWITCH does.
    pub fn write_plain(&self, out: &mut Vec<u8>) {
        for (name, value) in self.headers.iter() {
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b": ");
            if value.is_empty() {
                out.extend_from_slice(b"_undef_");
            } else {
                percent_encode_into(value, out);
            }
            out.push(b'\n');
        }
        match &self.body {
            Some(body) if !body.is_empty() => {
                out.extend_from_slice(format!("Content-Length: {}\n\n", body.len()).as_bytes());
                out.extend_from_slice(body.as_bytes());
            }
            _ => out.push(b'\n'),
        }
    }

    /// Writes the event as a `text/event-json` body as FreeSWITCH does: one object of
    /// strings in header order, a repeated header as a repeated key, the body under `_body`,
    /// no newline after the closing brace.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        let push_str = |out: &mut Vec<u8>, s: &str| {
            // Serialising a string cannot fail.
            let quoted = serde_json::to_string(s).unwrap_or_default();
            out.extend_from_slice(quoted.as_bytes());
        };
        out.push(b'{');
        let mut first = true;
        for (name, value) in self.headers.iter() {
            if self.body.is_some() && name == "Content-Length" && value == self.body_len() {
                // Written again just before the body.
                continue;
            }
            if !first {
                out.push(b',');
            }
            first = false;
            push_str(out, name);
            out.push(b':');
            push_str(out, value);
        }
        if let Some(body) = &self.body {
            if !first {
                out.push(b',');
            }
            // FreeSWITCH announces the body's length as a key of its own, then the body.
            push_str(out, "Content-Length");
            out.push(b':');
            push_str(out, &body.len().to_string());
            out.push(b',');
            push_str(out, "_body");
            out.push(b':');
            push_str(out, body);
        }
        out.push(b'}');
    }

    fn body_len(&self) -> String {
        self.body.as_ref().map_or(0, String::len).to_string()
    }

    /// The serialised body in `format`.
    pub fn serialize(&self, format: EventFormat) -> Vec<u8> {
        let mut out = Vec::with_capacity(1024);
        match format {
            EventFormat::Plain => self.write_plain(&mut out),
            EventFormat::Json => self.write_json(&mut out),
        }
        out
    }

    /// A header's value.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.headers.get(name)
    }

    /// A channel variable (`variable_<name>` header).
    pub fn variable(&self, name: &str) -> Option<&str> {
        self.headers.iter().find_map(|(n, v)| {
            let rest = n.strip_prefix("variable_")?;
            rest.eq_ignore_ascii_case(name).then_some(v)
        })
    }

    /// `Event-Name`.
    pub fn name(&self) -> &str {
        self.get("Event-Name").unwrap_or("")
    }

    /// `Unique-ID`: the channel the event is about.
    pub fn unique_id(&self) -> Option<&str> {
        self.get("Unique-ID")
    }

    /// `Job-UUID` of a BACKGROUND_JOB.
    pub fn job_uuid(&self) -> Option<&str> {
        self.get("Job-UUID")
    }

    /// `Event-Subclass` of a CUSTOM event.
    pub fn subclass(&self) -> Option<&str> {
        self.get("Event-Subclass")
    }

    /// `Hangup-Cause`, parsed.
    pub fn hangup_cause(&self) -> Option<HangupCause> {
        self.get("Hangup-Cause")
            .or_else(|| self.variable("hangup_cause"))
            .map(HangupCause::from_name)
    }

    /// The typed view of this event.
    pub fn kind(&self) -> EventKind<'_> {
        use EventKind as K;
        match self.name() {
            "CHANNEL_CREATE" => K::ChannelCreate,
            "CHANNEL_PROGRESS" => K::ChannelProgress,
            "CHANNEL_PROGRESS_MEDIA" => K::ChannelProgressMedia,
            "CHANNEL_ANSWER" => K::ChannelAnswer,
            "CHANNEL_PARK" => K::ChannelPark,
            "CHANNEL_EXECUTE" => K::ChannelExecute {
                application: self.get("Application").unwrap_or(""),
                application_uuid: self.get("Application-UUID"),
            },
            "CHANNEL_EXECUTE_COMPLETE" => K::ChannelExecuteComplete {
                application: self.get("Application").unwrap_or(""),
                application_uuid: self.get("Application-UUID"),
                response: self.get("Application-Response").unwrap_or(""),
            },
            "CHANNEL_HANGUP" => K::ChannelHangup {
                cause: self.hangup_cause().unwrap_or(HangupCause::NormalClearing),
            },
            "CHANNEL_HANGUP_COMPLETE" => K::ChannelHangupComplete {
                cause: self.hangup_cause().unwrap_or(HangupCause::NormalClearing),
                billsec: self
                    .variable("billsec")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0),
            },
            "CHANNEL_DESTROY" => K::ChannelDestroy,
            "BACKGROUND_JOB" => {
                let body = self.body.as_deref().unwrap_or("");
                K::BackgroundJob {
                    job_uuid: self.job_uuid().unwrap_or(""),
                    ok: body.starts_with("+OK"),
                    result: body.trim_end(),
                }
            }
            "PLAYBACK_START" => K::PlaybackStart {
                path: self.get("Playback-File-Path").unwrap_or(""),
            },
            "PLAYBACK_STOP" => K::PlaybackStop {
                path: self.get("Playback-File-Path").unwrap_or(""),
                completed: self.get("Playback-Status") != Some("break"),
            },
            "DTMF" => K::Dtmf {
                digit: self
                    .get("DTMF-Digit")
                    .and_then(|d| d.chars().next())
                    .unwrap_or('?'),
                duration_ms: self
                    .get("DTMF-Duration")
                    .and_then(|d| d.parse::<u32>().ok())
                    .map(|samples| samples / 8)
                    .unwrap_or(0),
            },
            "CUSTOM" => K::Custom {
                subclass: self.subclass().unwrap_or(""),
            },
            other => K::Other(other),
        }
    }
}

/// Typed view of the events aicall acts on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind<'a> {
    ChannelCreate,
    ChannelProgress,
    ChannelProgressMedia,
    ChannelAnswer,
    ChannelPark,
    ChannelExecute {
        application: &'a str,
        application_uuid: Option<&'a str>,
    },
    ChannelExecuteComplete {
        application: &'a str,
        application_uuid: Option<&'a str>,
        response: &'a str,
    },
    ChannelHangup {
        cause: HangupCause,
    },
    ChannelHangupComplete {
        cause: HangupCause,
        billsec: u64,
    },
    ChannelDestroy,
    /// Result of a `bgapi`: `ok` when the body starts with `+OK`; `result` is the body.
    BackgroundJob {
        job_uuid: &'a str,
        ok: bool,
        result: &'a str,
    },
    PlaybackStart {
        path: &'a str,
    },
    /// `completed` is false when the playback was broken off (`Playback-Status: break`).
    PlaybackStop {
        path: &'a str,
        completed: bool,
    },
    Dtmf {
        digit: char,
        duration_ms: u32,
    },
    Custom {
        subclass: &'a str,
    },
    Other(&'a str),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_round_trip_of_every_unsafe_byte() {
        let original = "a b:c%d+e;f\"g\r\nh{i}j|k^l`m@n?o=p<q>r[s]t\\u&v#w 中文";
        let mut enc = Vec::new();
        percent_encode_into(original, &mut enc);
        let enc = String::from_utf8(enc).expect("encoding yields ASCII");
        assert!(enc.is_ascii());
        assert!(!enc.contains(' ') && !enc.contains(':') && !enc.contains('\n'));
        assert_eq!(percent_decode(&enc), original);
    }

    #[test]
    fn percent_decode_matches_freeswitch_quirks() {
        // `+` is not a space in FreeSWITCH's decoder, and a stray `%` stays literal.
        assert_eq!(percent_decode("a+b"), "a+b");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
        assert_eq!(percent_decode("%E4%B8%AD"), "中");
        // Invalid UTF-8 is replaced, not refused.
        assert_eq!(percent_decode("%FF"), "\u{FFFD}");
    }

    #[test]
    fn plain_event_with_inner_body() {
        let raw = b"Event-Name: BACKGROUND_JOB\nJob-UUID: 7f4db78a-17d7-11dd-b7a0-db4edd065621\nJob-Command: originate\nJob-Command-Arg: sofia/default/1005%20'%26park'\nContent-Length: 41\n\n+OK 7f4de4bc-17d7-11dd-b7a0-db4edd065621\n";
        let ev = Event::from_plain(raw).expect("valid event");
        assert_eq!(ev.name(), "BACKGROUND_JOB");
        assert_eq!(
            ev.get("Job-Command-Arg"),
            Some("sofia/default/1005 '&park'")
        );
        assert_eq!(
            ev.body.as_deref(),
            Some("+OK 7f4de4bc-17d7-11dd-b7a0-db4edd065621\n")
        );
        match ev.kind() {
            EventKind::BackgroundJob { ok, job_uuid, .. } => {
                assert!(ok);
                assert_eq!(job_uuid, "7f4db78a-17d7-11dd-b7a0-db4edd065621");
            }
            other => panic!("wrong kind {other:?}"),
        }
    }

    #[test]
    fn undef_values_read_as_empty_and_write_back() {
        let ev =
            Event::from_plain(b"Event-Name: CHANNEL_ANSWER\nCaller-Caller-ID-Name: _undef_\n\n")
                .expect("valid event");
        assert_eq!(ev.get("Caller-Caller-ID-Name"), Some(""));
        let mut out = Vec::new();
        ev.write_plain(&mut out);
        assert_eq!(
            out,
            b"Event-Name: CHANNEL_ANSWER\nCaller-Caller-ID-Name: _undef_\n\n"
        );
    }

    #[test]
    fn plain_and_json_round_trip() {
        let mut ev = Event::new("CUSTOM");
        ev.headers.push("Event-Subclass", "aicall::turn");
        ev.headers.push("X-Text", "您好: 请问是王先生吗?");
        ev.headers.push("X-Rep", "1");
        ev.headers.push("X-Rep", "2");
        ev.body = Some("body line\n".into());
        let plain = Event::from_plain(&ev.serialize(EventFormat::Plain)).expect("plain");
        assert_eq!(plain, ev);
        let json = Event::from_json(&ev.serialize(EventFormat::Json)).expect("json");
        assert_eq!(json.get("X-Text"), ev.get("X-Text"));
        assert_eq!(
            json.headers.get_all("X-Rep").collect::<Vec<_>>(),
            vec!["1", "2"]
        );
        assert_eq!(json.body, ev.body);
        assert_eq!(
            json.kind(),
            EventKind::Custom {
                subclass: "aicall::turn"
            }
        );
    }

    #[test]
    fn json_duplicate_keys_are_all_kept_in_order() {
        // CHANNEL_HANGUP_COMPLETE in json repeats `Hangup-Cause` as a second key; an event
        // with a body announces its length as a key.
        let raw = concat!(
            r#"{"Event-Name":"CHANNEL_HANGUP_COMPLETE","Hangup-Cause":"USER_BUSY","#,
            r#""Channel-State":"CS_REPORTING","Hangup-Cause":"USER_BUSY","#,
            r#""Content-Length":"4","_body":"+OK\n"}"#
        )
        .as_bytes();
        let ev = Event::from_json(raw).expect("valid event");
        let names: Vec<&str> = ev.headers.iter().map(|(n, _)| n).collect();
        assert_eq!(
            names,
            [
                "Event-Name",
                "Hangup-Cause",
                "Channel-State",
                "Hangup-Cause",
                "Content-Length"
            ]
        );
        assert_eq!(ev.headers.get_all("Hangup-Cause").count(), 2);
        assert_eq!(ev.body.as_deref(), Some("+OK\n"));
        let mut out = Vec::new();
        ev.write_json(&mut out);
        assert_eq!(out, raw.to_vec(), "written back byte for byte");
    }

    #[test]
    fn percent_encoded_header_block_reads_as_an_event() {
        let mut raw = Headers::default();
        raw.push("Event-Name", "CHANNEL_DATA");
        raw.push("Caller-Callee-ID-Name", "Outbound%20Call");
        raw.push("Caller-Caller-ID-Name", "_undef_");
        raw.push("Reply-Text", "%2BOK%0A");
        let ev = Event::from_headers(&raw);
        assert_eq!(ev.get("Reply-Text"), Some("+OK\n"));
        assert_eq!(ev.get("Caller-Callee-ID-Name"), Some("Outbound Call"));
        assert_eq!(ev.get("Caller-Caller-ID-Name"), Some(""));
    }

    #[test]
    fn json_event_of_wrong_shape_is_an_error() {
        assert!(matches!(
            Event::from_json(b"[1,2]"),
            Err(EventError::JsonShape)
        ));
        assert!(matches!(
            Event::from_json(b"{\"a\":"),
            Err(EventError::Json(_))
        ));
    }

    #[test]
    fn hangup_complete_view() {
        let ev = Event::from_plain(
            b"Event-Name: CHANNEL_HANGUP_COMPLETE\nUnique-ID: u1\nHangup-Cause: USER_BUSY\nvariable_billsec: 0\n\n",
        )
        .expect("valid event");
        assert_eq!(
            ev.kind(),
            EventKind::ChannelHangupComplete {
                cause: HangupCause::UserBusy,
                billsec: 0
            }
        );
        assert_eq!(ev.variable("BILLSEC"), Some("0"));
    }

    proptest::proptest! {
        /// Any headers — repeated names, any text — and any body survive both formats in
        /// order, as FreeSWITCH writes them.
        #[test]
        fn every_header_survives_plain_and_json(
            headers in proptest::collection::vec(
                (
                    proptest::sample::select(vec!["Event-Name", "Hangup-Cause", "X-A", "variable_x"]),
                    "\\PC{0,12}",
                ),
                1..12,
            ),
            body in proptest::option::of("\\PC{1,40}"),
        ) {
            let mut ev = Event::default();
            for (n, v) in &headers {
                ev.headers.push(n, v);
            }
            ev.body = body;
            let mut json = Event::from_json(&ev.serialize(EventFormat::Json)).expect("json");
            // The body's length arrives as a key of its own, as FreeSWITCH writes it.
            if let Some(b) = &ev.body {
                let len = b.len().to_string();
                proptest::prop_assert_eq!(json.get("Content-Length"), Some(len.as_str()));
                let kept: Vec<(String, String)> = json
                    .headers
                    .iter()
                    .filter(|(n, _)| *n != "Content-Length")
                    .map(|(n, v)| (n.to_owned(), v.to_owned()))
                    .collect();
                json.headers = Headers::default();
                for (n, v) in &kept {
                    json.headers.push(n, v);
                }
            }
            proptest::prop_assert_eq!(&json, &ev);
            let plain = Event::from_plain(&ev.serialize(EventFormat::Plain)).expect("plain");
            proptest::prop_assert_eq!(&plain, &ev);
        }
    }
}
