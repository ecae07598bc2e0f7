//! Fuzzes the ESL frame decoder (both directions), the event-plain and event-json parsers
//! and the command parser: no input may panic, hang, or stall without consuming bytes.
#![no_main]

use aicall::esl::{Command, Event, FrameDecoder, Peer};
use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for peer in [Peer::Server, Peer::Client] {
        let mut dec = FrameDecoder::with_limits(peer, 4096, 65536);
        // Feed in two pieces to exercise resumption.
        let cut = data.first().map_or(0, |&b| b as usize % (data.len() + 1));
        let mut buf = BytesMut::from(&data[..cut]);
        let mut fed_rest = false;
        loop {
            let before = buf.len();
            match dec.decode(&mut buf) {
                Ok(Some(frame)) => {
                    if peer == Peer::Client {
                        let _ = Command::parse(frame);
                    } else if let Some(body) = frame.body.as_deref() {
                        let _ = Event::from_plain(body).map(|e| format!("{:?}", e.kind()));
                        let _ = Event::from_json(body);
                    }
                }
                Ok(None) if !fed_rest => {
                    buf.extend_from_slice(&data[cut..]);
                    fed_rest = true;
                }
                Ok(None) => break,
                Err(e) if e.is_fatal() => break,
                Err(_) => assert!(buf.len() < before, "a skipped frame must consume input"),
            }
        }
    }
});
