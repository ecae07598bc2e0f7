//! Codec vectors: frames as FreeSWITCH 1.10 writes them (ESL.md), fed whole, split at every
//! byte, byte by byte and back to back; percent-decoding; malformed input.

use aicall::esl::{
    Event, EventFormat, EventKind, Frame, FrameDecoder, FrameError, HangupCause, Peer,
};
use bytes::BytesMut;
use proptest::prelude::*;

/// A CHANNEL_HANGUP_COMPLETE as FreeSWITCH serialises it: values percent-encoded, empty ones
/// `_undef_`.
const HANGUP_COMPLETE: &str = "Event-Name: CHANNEL_HANGUP_COMPLETE\nCore-UUID: 6a7b2a46-0c1f-4d9c-9d3c-3f1d7a3c2b10\nFreeSWITCH-Hostname: fs1\nFreeSWITCH-Switchname: fs1\nFreeSWITCH-IPv4: 10.0.0.5\nFreeSWITCH-IPv6: %3A%3A1\nEvent-Date-Local: 2026-11-23%2010%3A00%3A05\nEvent-Date-GMT: Mon,%2023%20Nov%202026%2010%3A00%3A05%20GMT\nEvent-Date-Timestamp: 1795428005000000\nEvent-Calling-File: switch_core_state_machine.c\nEvent-Calling-Function: switch_core_session_reporting_state\nEvent-Calling-Line-Number: 947\nEvent-Sequence: 4711\nHangup-Cause: USER_BUSY\nChannel-State: CS_REPORTING\nChannel-Call-State: HANGUP\nChannel-State-Number: 11\nChannel-Name: sofia/gateway/gw1/13800138000\nUnique-ID: 0d1e6a2c-5b3c-4c39-9f41-2a1f0c6b7e21\nCall-Direction: outbound\nAnswer-State: hangup\nCaller-Caller-ID-Name: %E4%B8%AD%E6%96%87%20Bot\nCaller-Caller-ID-Number: 4008001234\nCaller-Destination-Number: 13800138000\nCaller-Context: _undef_\nvariable_origination_uuid: 0d1e6a2c-5b3c-4c39-9f41-2a1f0c6b7e21\nvariable_billsec: 0\nvariable_hangup_cause: USER_BUSY\nvariable_sip_invite_params: a%3Db%3Bc%3Dd%26e%3Df\n\n";

fn framed(content_type: &str, body: &str) -> String {
    format!(
        "Content-Length: {}\nContent-Type: {content_type}\n\n{body}",
        body.len()
    )
}

/// A realistic stream from FreeSWITCH: greeting, replies, an api body, plain and json
/// events, a background job with its inner body, and the goodbye.
fn session_bytes() -> Vec<u8> {
    let bg = "Event-Name: BACKGROUND_JOB\nJob-UUID: 7f4db78a-17d7-11dd-b7a0-db4edd065621\nJob-Command: originate\nJob-Command-Arg: %7Borigination_uuid%3Dabc%7Dloopback/7000%20%26park()\nContent-Length: 14\n\n-ERR USER_BUSY";
    let json = r#"{"Event-Name":"CHANNEL_ANSWER","Unique-ID":"abc","Caller-Caller-ID-Name":"王先生","variable_x":["1","2"]}"#;
    let mut s = String::new();
    s.push_str("Content-Type: auth/request\n\n");
    s.push_str("Content-Type: command/reply\nReply-Text: +OK accepted\n\n");
    s.push_str("Content-Type: command/reply\nReply-Text: +OK Job-UUID: 7f4db78a-17d7-11dd-b7a0-db4edd065621\nJob-UUID: 7f4db78a-17d7-11dd-b7a0-db4edd065621\n\n");
    let api_body = "UP 0 years, 0 days\nFreeSWITCH (Version 1.10.12) is ready\n";
    s.push_str(&format!(
        "Content-Type: api/response\nContent-Length: {}\n\n{api_body}",
        api_body.len()
    ));
    s.push_str(&framed("text/event-plain", HANGUP_COMPLETE));
    s.push_str(&framed("text/event-plain", bg));
    s.push_str(&framed("text/event-json", json));
    s.push_str("Content-Type: text/disconnect-notice\nContent-Length: 67\n\nDisconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n");
    s.into_bytes()
}

fn decode_chunks(chunks: &[&[u8]]) -> Vec<Frame> {
    let mut dec = FrameDecoder::new(Peer::Server);
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        while let Some(frame) = dec.decode(&mut buf).expect("valid stream") {
            out.push(frame);
        }
    }
    assert!(buf.is_empty(), "bytes left over: {buf:?}");
    out
}

#[test]
fn whole_stream_decodes_to_the_expected_frames() {
    let bytes = session_bytes();
    let frames = decode_chunks(&[&bytes]);
    let types: Vec<_> = frames
        .iter()
        .map(|f| f.content_type().unwrap_or(""))
        .collect();
    assert_eq!(
        types,
        [
            "auth/request",
            "command/reply",
            "command/reply",
            "api/response",
            "text/event-plain",
            "text/event-plain",
            "text/event-json",
            "text/disconnect-notice"
        ]
    );
    assert_eq!(
        frames[2].headers.get("Job-UUID"),
        Some("7f4db78a-17d7-11dd-b7a0-db4edd065621")
    );
    assert!(frames[3].body_text().ends_with("is ready\n"));
    assert_eq!(frames[7].body.as_ref().map(|b| b.len()), Some(67));

    let hangup = Event::from_plain(frames[4].body.as_deref().expect("body")).expect("event");
    assert_eq!(hangup.get("Caller-Caller-ID-Name"), Some("中文 Bot"));
    assert_eq!(hangup.get("Caller-Context"), Some(""));
    assert_eq!(hangup.get("Event-Date-Local"), Some("2026-11-23 10:00:05"));
    assert_eq!(hangup.variable("sip_invite_params"), Some("a=b;c=d&e=f"));
    assert_eq!(
        hangup.kind(),
        EventKind::ChannelHangupComplete {
            cause: HangupCause::UserBusy,
            billsec: 0
        }
    );

    let bg = Event::from_plain(frames[5].body.as_deref().expect("body")).expect("event");
    assert_eq!(
        bg.get("Job-Command-Arg"),
        Some("{origination_uuid=abc}loopback/7000 &park()")
    );
    assert_eq!(
        bg.kind(),
        EventKind::BackgroundJob {
            job_uuid: "7f4db78a-17d7-11dd-b7a0-db4edd065621",
            ok: false,
            result: "-ERR USER_BUSY"
        }
    );

    let json = Event::from_json(frames[6].body.as_deref().expect("body")).expect("event");
    assert_eq!(json.get("Caller-Caller-ID-Name"), Some("王先生"));
    assert_eq!(
        json.headers.get_all("variable_x").collect::<Vec<_>>(),
        ["1", "2"]
    );
}

#[test]
fn every_split_point_gives_the_same_frames() {
    let bytes = session_bytes();
    let whole = decode_chunks(&[&bytes]);
    for cut in 0..=bytes.len() {
        let (a, b) = bytes.split_at(cut);
        assert_eq!(decode_chunks(&[a, b]), whole, "split at byte {cut}");
    }
}

#[test]
fn byte_by_byte_gives_the_same_frames() {
    let bytes = session_bytes();
    let whole = decode_chunks(&[&bytes]);
    let singles: Vec<&[u8]> = bytes.chunks(1).collect();
    assert_eq!(decode_chunks(&singles), whole);
}

#[test]
fn events_survive_a_serialise_parse_round_trip_in_both_formats() {
    let ev = Event::from_plain(HANGUP_COMPLETE.as_bytes()).expect("event");
    let plain = ev.serialize(EventFormat::Plain);
    assert_eq!(Event::from_plain(&plain).expect("plain"), ev);
    let json = Event::from_json(&ev.serialize(EventFormat::Json)).expect("json");
    for (name, value) in ev.headers.iter() {
        assert_eq!(json.get(name), Some(value), "header {name}");
    }
}

#[test]
fn malformed_and_hostile_input_errors_without_panicking() {
    type Check = fn(&FrameError) -> bool;
    let cases: &[(&[u8], Check)] = &[
        (b"Content-Type: api/response\nContent-Length: -1\n\n", |e| {
            matches!(e, FrameError::BadContentLength { .. })
        }),
        (
            b"Content-Type: api/response\nContent-Length: 99999999999\n\n",
            |e| matches!(e, FrameError::BodyTooLarge { .. }),
        ),
        (b"no colon here\n\n", |e| {
            matches!(e, FrameError::MalformedHeader { .. })
        }),
    ];
    for (input, check) in cases {
        let mut dec = FrameDecoder::new(Peer::Server);
        let mut buf = BytesMut::from(*input);
        let err = dec.decode(&mut buf).expect_err("must be refused");
        assert!(check(&err), "{err:?} for {input:?}");
    }
    // Invalid UTF-8 and unknown content types are data, not errors.
    let mut dec = FrameDecoder::new(Peer::Server);
    let mut buf =
        BytesMut::from(&b"Content-Type: text/\xff\xfe\nContent-Length: 2\n\n\xc3\x28"[..]);
    let frame = dec.decode(&mut buf).expect("decodes").expect("complete");
    assert!(frame.content_type().is_some_and(|t| t.starts_with("text/")));
    assert!(Event::from_plain(b"Event-Name: X\nBad: %C3%28\n\n").is_ok());
    assert!(Event::from_plain(b"no colon\n").is_err());
    assert!(Event::from_plain(b"Event-Name: X\nContent-Length: zz\n\n").is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Arbitrary bytes never panic the decoder, and it always either consumes input, asks for
    /// more, or reports an error.
    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..2048)) {
        for peer in [Peer::Server, Peer::Client] {
            let mut dec = FrameDecoder::with_limits(peer, 512, 1024);
            let mut buf = BytesMut::from(&data[..]);
            for _ in 0..64 {
                let before = buf.len();
                match dec.decode(&mut buf) {
                    Ok(Some(_)) => prop_assert!(buf.len() < before),
                    Ok(None) => break,
                    Err(e) if e.is_fatal() => break,
                    Err(_) => prop_assert!(buf.len() < before),
                }
            }
        }
        let _ = Event::from_plain(&data);
        let _ = Event::from_json(&data);
    }

    /// Any header values survive plain serialisation and parsing.
    #[test]
    fn any_values_round_trip(values in proptest::collection::vec(".*", 1..8)) {
        let mut ev = Event::new("CUSTOM");
        for (i, v) in values.iter().enumerate() {
            ev.headers.push(&format!("X-H{i}"), v);
        }
        let back = Event::from_plain(&ev.serialize(EventFormat::Plain)).expect("round trip");
        for (i, v) in values.iter().enumerate() {
            prop_assert_eq!(back.get(&format!("X-H{i}")), Some(v.as_str()));
        }
    }
}
