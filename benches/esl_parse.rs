//! Event parsing throughput on realistic 2–4 KB CHANNEL_* events, plain format.
//!
//! - `sans_io/aicall`: aicall's frame decoder + event parser over a buffer of events.
//! - `loopback/aicall` and `loopback/freeswitch-esl-tokio`: the same events written by a
//!   server on 127.0.0.1 and read through each crate's client until every event has been
//!   delivered to the application (freeswitch-esl-tokio exposes no parser of its own, so
//!   the comparison is client to client, each with its own reader task and queue).
//!
//! Run: `cargo bench --bench esl_parse`

use std::time::{Duration, Instant};

use aicall::esl::{ClientConfig, ClientEvent, EslClient, Event, FrameDecoder, Peer};
use bytes::BytesMut;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const EVENTS: usize = 1000;

/// A CHANNEL_* event with the headers FreeSWITCH 1.10 puts on an outbound sofia leg.
fn channel_event(name: &str, seq: usize) -> Vec<u8> {
    let uuid = format!("0d1e6a2c-5b3c-4c39-9f41-{seq:012}");
    let mut ev = Event::new(name);
    let fixed = [
        ("Core-UUID", "6a7b2a46-0c1f-4d9c-9d3c-3f1d7a3c2b10"),
        ("FreeSWITCH-Hostname", "fs1.example.com"),
        ("FreeSWITCH-Switchname", "fs1.example.com"),
        ("FreeSWITCH-IPv4", "10.0.0.5"),
        ("FreeSWITCH-IPv6", "::1"),
        ("Event-Date-Local", "2026-11-23 10:00:05"),
        ("Event-Date-GMT", "Mon, 23 Nov 2026 10:00:05 GMT"),
        ("Event-Date-Timestamp", "1795428005000000"),
        ("Event-Calling-File", "switch_channel.c"),
        ("Event-Calling-Function", "switch_channel_perform_mark_answered"),
        ("Event-Calling-Line-Number", "3960"),
        ("Channel-State", "CS_EXCHANGE_MEDIA"),
        ("Channel-Call-State", "ACTIVE"),
        ("Channel-State-Number", "5"),
        ("Channel-Name", "sofia/gateway/gw1/13800138000"),
        ("Call-Direction", "outbound"),
        ("Presence-Call-Direction", "outbound"),
        ("Channel-HIT-Dialplan", "false"),
        ("Answer-State", "answered"),
        ("Channel-Read-Codec-Name", "PCMU"),
        ("Channel-Read-Codec-Rate", "8000"),
        ("Channel-Read-Codec-Bit-Rate", "64000"),
        ("Channel-Write-Codec-Name", "PCMU"),
        ("Channel-Write-Codec-Rate", "8000"),
        ("Channel-Write-Codec-Bit-Rate", "64000"),
        ("Caller-Direction", "outbound"),
        ("Caller-Logical-Direction", "outbound"),
        ("Caller-Username", "aicall"),
        ("Caller-Dialplan", "XML"),
        ("Caller-Caller-ID-Name", "智能外呼 Bot"),
        ("Caller-Caller-ID-Number", "4008001234"),
        ("Caller-Orig-Caller-ID-Name", "智能外呼 Bot"),
        ("Caller-Orig-Caller-ID-Number", "4008001234"),
        ("Caller-Callee-ID-Name", "Outbound Call"),
        ("Caller-Callee-ID-Number", "13800138000"),
        ("Caller-Network-Addr", "10.0.0.9"),
        ("Caller-ANI", "4008001234"),
        ("Caller-Destination-Number", "13800138000"),
        ("Caller-Source", "src/switch_ivr_originate.c"),
        ("Caller-Context", "default"),
        ("Caller-Channel-Name", "sofia/gateway/gw1/13800138000"),
        ("Caller-Profile-Index", "1"),
        ("Caller-Profile-Created-Time", "1795428001000000"),
        ("Caller-Channel-Created-Time", "1795428001000000"),
        ("Caller-Channel-Answered-Time", "1795428005000000"),
        ("Caller-Channel-Progress-Time", "1795428001500000"),
        ("Caller-Channel-Progress-Media-Time", "1795428001600000"),
        ("Caller-Channel-Hangup-Time", "0"),
        ("Caller-Channel-Transfer-Time", "0"),
        ("Caller-Screen-Bit", "true"),
        ("Caller-Privacy-Hide-Name", "false"),
        ("Caller-Privacy-Hide-Number", "false"),
        ("variable_direction", "outbound"),
        ("variable_is_outbound", "true"),
        ("variable_session_id", "4711"),
        ("variable_sip_gateway_name", "gw1"),
        ("variable_sip_profile_name", "external"),
        ("variable_text_media_flow", "disabled"),
        ("variable_channel_name", "sofia/gateway/gw1/13800138000"),
        ("variable_sip_destination_url", "sip:13800138000@carrier.example.net;transport=udp"),
        ("variable_originate_early_media", "true"),
        ("variable_origination_caller_id_number", "4008001234"),
        ("variable_origination_caller_id_name", "智能外呼 Bot"),
        ("variable_aicall_campaign", "insurance-2026-11"),
        ("variable_aicall_contact", "c-000123"),
        ("variable_sip_outgoing_contact_uri", "<sip:gw+gw1@10.0.0.5:5080;transport=udp;gw=gw1>"),
        ("variable_sip_req_uri", "13800138000@carrier.example.net"),
        ("variable_sofia_profile_name", "external"),
        ("variable_recovery_profile_name", "external"),
        ("variable_sip_local_sdp_str", "v=0\no=FreeSWITCH 1795410000 1795410001 IN IP4 10.0.0.5\ns=FreeSWITCH\nc=IN IP4 10.0.0.5\nt=0 0\nm=audio 24568 RTP/AVP 0 8 101\na=rtpmap:0 PCMU/8000\na=rtpmap:8 PCMA/8000\na=rtpmap:101 telephone-event/8000\na=fmtp:101 0-16\na=ptime:20\n"),
        ("variable_sip_call_id", "b2c4e6f8-1a3c-5e7g-9i1k-3m5o7q9s1u3w"),
        ("variable_sip_term_status", "200"),
        ("variable_rtp_use_codec_string", "PCMU,PCMA"),
        ("variable_remote_media_ip", "203.0.113.7"),
        ("variable_remote_media_port", "31744"),
        ("variable_rtp_audio_recv_pt", "0"),
        ("variable_rtp_use_codec_name", "PCMU"),
        ("variable_rtp_use_codec_rate", "8000"),
        ("variable_rtp_use_codec_ptime", "20"),
        ("variable_read_codec", "PCMU"),
        ("variable_read_rate", "8000"),
        ("variable_write_codec", "PCMU"),
        ("variable_write_rate", "8000"),
        ("variable_local_media_ip", "10.0.0.5"),
        ("variable_local_media_port", "24568"),
        ("variable_advertised_media_ip", "10.0.0.5"),
        ("variable_rtp_local_sdp_str", "v=0\no=FreeSWITCH 1795410000 1795410001 IN IP4 10.0.0.5\n"),
        ("variable_endpoint_disposition", "ANSWER"),
        ("variable_current_application", "park"),
    ];
    ev.headers.push("Event-Sequence", &seq.to_string());
    ev.headers.push("Unique-ID", &uuid);
    ev.headers.push("Channel-Call-UUID", &uuid);
    ev.headers.push("Caller-Unique-ID", &uuid);
    ev.headers.push("variable_uuid", &uuid);
    ev.headers.push("variable_origination_uuid", &uuid);
    for (n, v) in fixed {
        ev.headers.push(n, v);
    }
    let body = ev.serialize(aicall::esl::EventFormat::Plain);
    let mut frame = format!(
        "Content-Length: {}\nContent-Type: text/event-plain\n\n",
        body.len()
    )
    .into_bytes();
    frame.extend_from_slice(&body);
    frame
}

fn event_stream() -> Vec<u8> {
    let names = [
        "CHANNEL_CREATE",
        "CHANNEL_PROGRESS",
        "CHANNEL_ANSWER",
        "CHANNEL_EXECUTE",
        "CHANNEL_HANGUP_COMPLETE",
    ];
    (0..EVENTS)
        .flat_map(|i| channel_event(names[i % names.len()], i))
        .collect()
}

fn parse_all(bytes: &[u8]) -> usize {
    let mut dec = FrameDecoder::new(Peer::Server);
    let mut buf = BytesMut::from(bytes);
    let mut n = 0;
    while let Ok(Some(frame)) = dec.decode(&mut buf) {
        let ev = Event::from_plain(frame.body.as_deref().unwrap_or(b"")).expect("valid event");
        n += usize::from(!ev.name().is_empty());
    }
    n
}

/// A one-shot ESL server: greets, accepts any password, writes `events`, then answers every
/// command with +OK until the client leaves.
async fn serve_once(listener: &tokio::net::TcpListener, events: &[u8]) {
    let (mut s, _) = listener.accept().await.expect("accept");
    s.set_nodelay(true).expect("nodelay");
    s.write_all(b"Content-Type: auth/request\n\n")
        .await
        .expect("greet");
    let mut buf = vec![0u8; 4096];
    let n = s.read(&mut buf).await.expect("auth");
    assert!(buf[..n].starts_with(b"auth "));
    s.write_all(b"Content-Type: command/reply\nReply-Text: +OK accepted\n\n")
        .await
        .expect("ok");
    s.write_all(events).await.expect("events");
    loop {
        match s.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {
                if s.write_all(b"Content-Type: command/reply\nReply-Text: +OK\n\n")
                    .await
                    .is_err()
                {
                    return;
                }
            }
        }
    }
}

fn bench(c: &mut Criterion) {
    let stream = event_stream();
    assert_eq!(parse_all(&stream), EVENTS);
    let avg = stream.len() / EVENTS;
    eprintln!(
        "{EVENTS} events, {} bytes, {avg} bytes per event on average",
        stream.len()
    );

    let mut g = c.benchmark_group("sans_io");
    g.throughput(Throughput::Elements(EVENTS as u64));
    g.bench_function("aicall", |b| b.iter(|| parse_all(&stream)));
    g.finish();

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let mut g = c.benchmark_group("loopback");
    g.throughput(Throughput::Elements(EVENTS as u64));
    g.sample_size(20).measurement_time(Duration::from_secs(8));
    g.bench_function("aicall", |b| {
        b.to_async(&rt).iter_custom(|iters| {
            let stream = stream.clone();
            async move {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                        .await
                        .expect("bind");
                    let addr = listener.local_addr().expect("addr");
                    let server = {
                        let stream = stream.clone();
                        tokio::spawn(async move { serve_once(&listener, &stream).await })
                    };
                    let t0 = Instant::now();
                    let cfg = ClientConfig {
                        addr: addr.to_string(),
                        ..ClientConfig::default()
                    };
                    let (client, mut events) = EslClient::connect(cfg).await.expect("connect");
                    let mut got = 0;
                    while got < EVENTS {
                        if let Some(ClientEvent::Event(_)) = events.recv().await {
                            got += 1;
                        }
                    }
                    total += t0.elapsed();
                    client.close().await;
                    let _ = server.await;
                }
                total
            }
        })
    });
    g.bench_function("freeswitch-esl-tokio", |b| {
        b.to_async(&rt).iter_custom(|iters| {
            let stream = stream.clone();
            async move {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                        .await
                        .expect("bind");
                    let port = listener.local_addr().expect("addr").port();
                    let server = {
                        let stream = stream.clone();
                        tokio::spawn(async move { serve_once(&listener, &stream).await })
                    };
                    let t0 = Instant::now();
                    let (client, mut events) =
                        freeswitch_esl_tokio::EslClient::connect("127.0.0.1", port, "ClueCon")
                            .await
                            .expect("connect");
                    let mut got = 0;
                    while got < EVENTS {
                        match events.recv().await {
                            Some(Ok(_)) => got += 1,
                            Some(Err(e)) => panic!("freeswitch-esl-tokio error: {e}"),
                            None => panic!("stream ended after {got} events"),
                        }
                    }
                    total += t0.elapsed();
                    drop(client);
                    drop(events);
                    let _ = server.await;
                }
                total
            }
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
