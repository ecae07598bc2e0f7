//! The ESL frame model and its sans-IO decoder.
//!
//! A frame is a block of `Name: value` lines ended by a blank line, followed by a body of
//! exactly `Content-Length` bytes when that header is present. The same shape travels both
//! ways: FreeSWITCH's replies and events (every line a header) and a client's commands (the
//! first line is the command, e.g. `api status`, then optional headers such as those of
//! `sendmsg`). [`FrameDecoder`] turns a byte buffer into frames without doing any I/O: it
//! returns `Ok(None)` ("need more") on incomplete input, never blocks, never panics, and caps
//! the size of what it accepts. `\r` before `\n` is ignored, as FreeSWITCH does.

use bytes::{Buf, Bytes, BytesMut};

/// Largest header block accepted (FreeSWITCH's own headers are a few hundred bytes).
pub const DEFAULT_MAX_HEADER_BYTES: usize = 64 * 1024;
/// Largest body accepted; FreeSWITCH caps client bodies at 16 MiB too.
pub const DEFAULT_MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// An ordered list of headers stored in one string buffer: two allocations per frame or
/// event, whatever the number of headers, which is what keeps event parsing cheap.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Headers {
    buf: String,
    /// `(name_start, name_end, value_end)`; the value starts at `name_end`.
    spans: Vec<(u32, u32, u32)>,
}

impl Headers {
    /// An empty list with room for `n` headers of about `bytes` bytes in all.
    pub fn with_capacity(n: usize, bytes: usize) -> Self {
        Self {
            buf: String::with_capacity(bytes),
            spans: Vec::with_capacity(n),
        }
    }

    /// Appends a header; repeated names are kept in order (events may repeat headers).
    pub fn push(&mut self, name: &str, value: &str) {
        let start = self.buf.len();
        self.buf.push_str(name);
        let name_end = self.buf.len();
        self.buf.push_str(value);
        self.spans
            .push((start as u32, name_end as u32, self.buf.len() as u32));
    }

    /// Appends a header whose value is produced in place (used by percent-decoding so that
    /// decoded values need no temporary string).
    pub(crate) fn push_with(&mut self, name: &str, write_value: impl FnOnce(&mut String)) {
        let start = self.buf.len();
        self.buf.push_str(name);
        let name_end = self.buf.len();
        write_value(&mut self.buf);
        self.spans
            .push((start as u32, name_end as u32, self.buf.len() as u32));
    }

    /// First value of `name`, compared ASCII case-insensitively as FreeSWITCH does.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// Every value of `name`, in order.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// Replaces the first value of `name`, or appends it.
    pub fn set(&mut self, name: &str, value: &str) {
        if self.get(name).is_some() {
            let mut rebuilt = Headers::with_capacity(self.len(), self.buf.len() + value.len());
            let mut replaced = false;
            for (n, v) in self.iter() {
                if !replaced && n.eq_ignore_ascii_case(name) {
                    rebuilt.push(n, value);
                    replaced = true;
                } else {
                    rebuilt.push(n, v);
                }
            }
            *self = rebuilt;
        } else {
            self.push(name, value);
        }
    }

    /// Headers in order, as `(name, value)`.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.spans.iter().map(move |&(s, ne, ve)| {
            (
                &self.buf[s as usize..ne as usize],
                &self.buf[ne as usize..ve as usize],
            )
        })
    }

    /// Number of headers.
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// True when there are no headers.
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }
}

impl std::fmt::Debug for Headers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

/// One ESL frame.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Frame {
    /// The command line of a client frame (`api status`); `None` for FreeSWITCH's frames.
    pub command: Option<String>,
    pub headers: Headers,
    pub body: Option<Bytes>,
}

impl Frame {
    /// The `Content-Type` header, e.g. `command/reply`.
    pub fn content_type(&self) -> Option<&str> {
        self.headers.get("Content-Type")
    }

    /// The `Reply-Text` header of a `command/reply`.
    pub fn reply_text(&self) -> Option<&str> {
        self.headers.get("Reply-Text")
    }

    /// The body as text (lossy: FreeSWITCH may pass through non-UTF-8 bytes from SIP peers).
    pub fn body_text(&self) -> std::borrow::Cow<'_, str> {
        match &self.body {
            Some(b) => String::from_utf8_lossy(b),
            None => std::borrow::Cow::Borrowed(""),
        }
    }
}

/// Which side's frames the decoder reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Peer {
    /// Frames written by FreeSWITCH (or aicall's server side): every line is a header.
    Server,
    /// Commands written by a client: the first line is the command.
    Client,
}

/// Why a frame was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FrameError {
    /// The header block grew past the cap without a blank line. The stream cannot be
    /// resynchronised: close the connection.
    #[error("ESL header block exceeds {limit} bytes without a blank line")]
    HeadersTooLarge { limit: usize },
    /// `Content-Length` announced more than the cap. Close the connection.
    #[error("ESL body of {length} bytes exceeds the {limit}-byte cap")]
    BodyTooLarge { length: usize, limit: usize },
    /// `Content-Length` is not a number; the body's end is unknown. Close the connection.
    #[error("ESL Content-Length {value:?} is not a byte count")]
    BadContentLength { value: String },
    /// A header line without a colon. The frame was skipped; the stream stays in sync.
    #[error("malformed ESL header line {line:?} (frame skipped)")]
    MalformedHeader { line: String },
}

impl FrameError {
    /// True when the connection cannot continue after this error.
    pub fn is_fatal(&self) -> bool {
        !matches!(self, FrameError::MalformedHeader { .. })
    }
}

/// Incremental, allocation-light frame decoder.
#[derive(Debug)]
pub struct FrameDecoder {
    peer: Peer,
    max_header_bytes: usize,
    max_body_bytes: usize,
    /// How far the buffer has been searched for the end of the header block, so that a frame
    /// trickling in byte by byte is scanned once, not once per byte.
    scanned: usize,
    /// Set once the header block is parsed and only the body is missing.
    awaiting_body: Option<(Frame, usize, usize)>,
}

impl FrameDecoder {
    /// A decoder for frames written by `peer`, with the default caps.
    pub fn new(peer: Peer) -> Self {
        Self::with_limits(peer, DEFAULT_MAX_HEADER_BYTES, DEFAULT_MAX_BODY_BYTES)
    }

    /// A decoder with explicit caps.
    pub fn with_limits(peer: Peer, max_header_bytes: usize, max_body_bytes: usize) -> Self {
        Self {
            peer,
            max_header_bytes,
            max_body_bytes,
            scanned: 0,
            awaiting_body: None,
        }
    }

    /// Decodes the next frame from `buf`, consuming its bytes. `Ok(None)` means more input is
    /// needed. After a non-fatal error the bad frame has been consumed and decoding may go on.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, FrameError> {
        if self.awaiting_body.is_none() {
            // Blank lines between frames carry nothing; FreeSWITCH skips them too.
            let leading = buf
                .iter()
                .take_while(|&&b| b == b'\n' || b == b'\r')
                .count();
            if leading > 0 {
                buf.advance(leading);
                self.scanned = self.scanned.saturating_sub(leading);
            }
            let Some(header_len) = self.find_header_end(buf)? else {
                return Ok(None);
            };
            self.scanned = 0;
            let parsed = parse_header_block(self.peer, &buf[..header_len]);
            buf.advance(header_len);
            let frame = parsed?;
            let body_len = match frame.headers.get("Content-Length") {
                None => return Ok(Some(frame)),
                Some(v) => v
                    .trim()
                    .parse::<usize>()
                    .map_err(|_| FrameError::BadContentLength {
                        value: v.chars().take(40).collect(),
                    })?,
            };
            if body_len > self.max_body_bytes {
                return Err(FrameError::BodyTooLarge {
                    length: body_len,
                    limit: self.max_body_bytes,
                });
            }
            if body_len == 0 {
                return Ok(Some(frame));
            }
            self.awaiting_body = Some((frame, body_len, 0));
        }
        let Some((_, body_len, _)) = &self.awaiting_body else {
            return Ok(None);
        };
        if buf.len() < *body_len {
            return Ok(None);
        }
        let (mut frame, body_len, _) = self
            .awaiting_body
            .take()
            .expect("checked Some just above; no await in between");
        frame.body = Some(buf.split_to(body_len).freeze());
        Ok(Some(frame))
    }

    /// Length of the header block including its terminating blank line, if complete.
    fn find_header_end(&mut self, buf: &[u8]) -> Result<Option<usize>, FrameError> {
        // Resume one byte early: the terminator `\n\n` may straddle the previous scan's end.
        let mut from = self.scanned.saturating_sub(2);
        while let Some(rel) = memchr::memchr(b'\n', &buf[from..]) {
            let nl = from + rel;
            let next = nl + 1;
            match buf.get(next) {
                Some(b'\n') => return Ok(Some(next + 1)),
                Some(b'\r') if buf.get(next + 1) == Some(&b'\n') => return Ok(Some(next + 2)),
                Some(_) => from = next,
                None => break,
            }
        }
        self.scanned = buf.len();
        if buf.len() > self.max_header_bytes {
            return Err(FrameError::HeadersTooLarge {
                limit: self.max_header_bytes,
            });
        }
        Ok(None)
    }
}

/// Parses a complete header block (its lines and the blank line ending it).
fn parse_header_block(peer: Peer, block: &[u8]) -> Result<Frame, FrameError> {
    let text = String::from_utf8_lossy(block);
    let mut lines = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let mut frame = Frame {
        headers: Headers::with_capacity(8, block.len()),
        ..Frame::default()
    };
    if peer == Peer::Client {
        // Kept as sent, trailing spaces included: `api console_complete c=5;show ` completes
        // the word after the space, and FreeSWITCH itself only cuts the line ending.
        frame.command = lines.next().map(str::to_owned);
    }
    for line in lines.filter(|l| !l.is_empty()) {
        let Some((name, value)) = line.split_once(':') else {
            if peer == Peer::Client {
                // mod_event_socket ignores a command's header line without a colon.
                continue;
            }
            return Err(FrameError::MalformedHeader {
                line: line.chars().take(80).collect(),
            });
        };
        frame.headers.push(name.trim(), value.trim_start());
    }
    Ok(frame)
}

/// Writes a frame as FreeSWITCH does: headers, then `Content-Length` when there is a body,
/// a blank line, and the body.
pub fn encode_frame(frame: &Frame, out: &mut Vec<u8>) {
    if let Some(cmd) = &frame.command {
        out.extend_from_slice(cmd.as_bytes());
        out.push(b'\n');
    }
    for (name, value) in frame.headers.iter() {
        if name.eq_ignore_ascii_case("Content-Length") {
            continue;
        }
        push_header(out, name, value);
    }
    if let Some(body) = &frame.body {
        push_header(out, "Content-Length", &body.len().to_string());
        out.push(b'\n');
        out.extend_from_slice(body);
    } else {
        out.push(b'\n');
    }
}

/// Appends `Name: value\n`, dropping line breaks that would end the header block early.
pub(crate) fn push_header(out: &mut Vec<u8>, name: &str, value: &str) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend(
        value
            .bytes()
            .map(|b| if b == b'\n' || b == b'\r' { b' ' } else { b }),
    );
    out.push(b'\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(peer: Peer, input: &[u8]) -> Vec<Result<Frame, FrameError>> {
        let mut dec = FrameDecoder::new(peer);
        let mut buf = BytesMut::from(input);
        let mut out = Vec::new();
        loop {
            match dec.decode(&mut buf) {
                Ok(Some(f)) => out.push(Ok(f)),
                Ok(None) => break,
                Err(e) => {
                    let fatal = e.is_fatal();
                    out.push(Err(e));
                    if fatal {
                        break;
                    }
                }
            }
        }
        out
    }

    #[test]
    fn auth_request_and_reply() {
        let frames = decode_all(
            Peer::Server,
            b"Content-Type: auth/request\n\nContent-Type: command/reply\nReply-Text: +OK accepted\n\n",
        );
        assert_eq!(frames.len(), 2);
        let f0 = frames[0].as_ref().expect("valid frame");
        assert_eq!(f0.content_type(), Some("auth/request"));
        let f1 = frames[1].as_ref().expect("valid frame");
        assert_eq!(f1.reply_text(), Some("+OK accepted"));
    }

    #[test]
    fn api_response_body() {
        let frames = decode_all(
            Peer::Server,
            b"Content-Type: api/response\nContent-Length: 4\n\n+OK\n",
        );
        let f = frames[0].as_ref().expect("valid frame");
        assert_eq!(f.body.as_deref(), Some(&b"+OK\n"[..]));
    }

    #[test]
    fn client_command_with_crlf_and_headers() {
        let frames = decode_all(
            Peer::Client,
            b"bgapi originate {a=b}loopback/7000 &park()\r\nJob-UUID: J\r\n\r\n",
        );
        let f = frames[0].as_ref().expect("valid frame");
        assert_eq!(
            f.command.as_deref(),
            Some("bgapi originate {a=b}loopback/7000 &park()")
        );
        assert_eq!(f.headers.get("job-uuid"), Some("J"));
    }

    #[test]
    fn header_value_may_contain_colons() {
        let frames = decode_all(
            Peer::Server,
            b"Content-Type: command/reply\nReply-Text: +OK Job-UUID: a:b:c\n\n",
        );
        let f = frames[0].as_ref().expect("valid frame");
        assert_eq!(f.reply_text(), Some("+OK Job-UUID: a:b:c"));
    }

    #[test]
    fn malformed_header_skips_frame_and_keeps_sync() {
        let frames = decode_all(
            Peer::Server,
            b"garbage line\n\nContent-Type: command/reply\nReply-Text: +OK\n\n",
        );
        assert!(matches!(frames[0], Err(FrameError::MalformedHeader { .. })));
        assert_eq!(
            frames[1].as_ref().expect("valid frame").reply_text(),
            Some("+OK")
        );
    }

    #[test]
    fn oversized_body_is_refused() {
        let mut dec = FrameDecoder::with_limits(Peer::Server, 1024, 100);
        let mut buf = BytesMut::from(&b"Content-Type: api/response\nContent-Length: 101\n\n"[..]);
        assert_eq!(
            dec.decode(&mut buf),
            Err(FrameError::BodyTooLarge {
                length: 101,
                limit: 100
            })
        );
    }

    #[test]
    fn endless_headers_are_refused() {
        let mut dec = FrameDecoder::with_limits(Peer::Server, 64, 100);
        let mut buf = BytesMut::from(&b"X-Long: "[..]);
        buf.extend_from_slice(&[b'a'; 100]);
        assert_eq!(
            dec.decode(&mut buf),
            Err(FrameError::HeadersTooLarge { limit: 64 })
        );
    }

    #[test]
    fn bad_content_length_is_fatal() {
        let frames = decode_all(
            Peer::Server,
            b"Content-Type: api/response\nContent-Length: x\n\n",
        );
        assert!(matches!(
            frames[0],
            Err(FrameError::BadContentLength { .. })
        ));
        assert!(frames[0].as_ref().expect_err("error").is_fatal());
    }

    #[test]
    fn encode_then_decode_round_trip() {
        let mut headers = Headers::default();
        headers.push("Content-Type", "api/response");
        let frame = Frame {
            command: None,
            headers,
            body: Some(Bytes::from_static(b"hello\n")),
        };
        let mut out = Vec::new();
        encode_frame(&frame, &mut out);
        assert_eq!(
            out,
            b"Content-Type: api/response\nContent-Length: 6\n\nhello\n"
        );
        let back = decode_all(Peer::Server, &out);
        let got = back[0].as_ref().expect("valid frame");
        assert_eq!(got.body, frame.body);
        assert_eq!(got.content_type(), Some("api/response"));
    }

    #[test]
    fn headers_set_replaces_first() {
        let mut h = Headers::default();
        h.push("A", "1");
        h.push("B", "2");
        h.push("a", "3");
        h.set("a", "9");
        assert_eq!(
            h.iter().collect::<Vec<_>>(),
            vec![("A", "9"), ("B", "2"), ("a", "3")]
        );
        h.set("C", "4");
        assert_eq!(h.get("c"), Some("4"));
    }
}
