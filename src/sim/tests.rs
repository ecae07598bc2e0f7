//! The simulator end to end over its sockets: restarts, the originate log, inbound calls
//! handed to an outbound socket, loopback calls to scenario callees and eavesdropping — the
//! parts `aicall serve` is tested against that the recorded traces do not cover.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};

use super::*;
use crate::esl::{Event, Frame, FrameDecoder, Peer};

const WAIT: Duration = Duration::from_secs(5);

/// A bare ESL connection: what a client reads, frame by frame.
struct Raw {
    stream: TcpStream,
    dec: FrameDecoder,
    buf: BytesMut,
}

/// What reading gave.
#[derive(Debug)]
enum Got {
    Frame(Frame),
    Eof,
    Timeout,
}

impl Raw {
    fn over(stream: TcpStream) -> Self {
        Self {
            stream,
            dec: FrameDecoder::new(Peer::Server),
            buf: BytesMut::new(),
        }
    }

    /// Connects and authenticates.
    async fn inbound(addr: SocketAddr) -> Self {
        let mut raw = Raw::over(TcpStream::connect(addr).await.expect("connects"));
        let greeting = raw.frame().await;
        assert_eq!(greeting.content_type(), Some("auth/request"));
        assert_eq!(
            raw.command("auth ClueCon").await.reply_text(),
            Some("+OK accepted")
        );
        raw
    }

    async fn send(&mut self, text: &str) {
        self.stream
            .write_all(format!("{text}\n\n").as_bytes())
            .await
            .expect("sent");
    }

    async fn next(&mut self, within: Duration) -> Got {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some(f) = self.dec.decode(&mut self.buf).expect("valid frames") {
                return Got::Frame(f);
            }
            match tokio::time::timeout_at(deadline, self.stream.read_buf(&mut self.buf)).await {
                Err(_) => return Got::Timeout,
                Ok(Ok(0)) | Ok(Err(_)) => return Got::Eof,
                Ok(Ok(_)) => {}
            }
        }
    }

    async fn frame(&mut self) -> Frame {
        match self.next(WAIT).await {
            Got::Frame(f) => f,
            other => panic!("no frame: {other:?}"),
        }
    }

    /// Sends a command and returns its reply, skipping events.
    async fn command(&mut self, text: &str) -> Frame {
        self.send(text).await;
        loop {
            let f = self.frame().await;
            if matches!(
                f.content_type(),
                Some("command/reply") | Some("api/response")
            ) {
                return f;
            }
        }
    }

    /// The next event (plain), skipping other frames.
    async fn event(&mut self) -> Event {
        loop {
            let f = self.frame().await;
            if f.content_type() == Some("text/event-plain") {
                return Event::from_plain(f.body.as_deref().unwrap_or_default()).expect("event");
            }
        }
    }

    /// Events until one named `last` for `uuid`, their names.
    async fn events_until(&mut self, uuid: &str, last: &str) -> Vec<String> {
        let mut names = Vec::new();
        loop {
            let ev = self.event().await;
            if ev.unique_id() == Some(uuid) {
                names.push(ev.name().to_owned());
                if ev.name() == last {
                    return names;
                }
            }
        }
    }
}

fn tone(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("tone.wav");
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 8000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(&path, spec).expect("create WAV");
    for i in 0..8000 {
        let v = (2.0 * std::f32::consts::PI * 440.0 * i as f32 / 8000.0).sin() * 12000.0;
        w.write_sample(v as i16).expect("sample");
    }
    w.finalize().expect("WAV written");
    path
}

fn talker(number: &str, wav: &Path) -> Callee {
    Callee {
        number: Some(number.into()),
        name: None,
        outcome: Some(Outcome::Answer),
        ring_ms: Some(100),
        rate: Some(8000),
        script: vec![
            Step::SilenceMs(300),
            Step::Say(wav.to_owned()),
            Step::Say(wav.to_owned()),
        ],
        max_call_ms: None,
        early: Vec::new(),
    }
}

async fn sim(callees: Vec<Callee>, dialplan: Dialplan) -> SimSwitch {
    let mut scenarios = Scenarios::default();
    for c in callees {
        scenarios.insert(c);
    }
    SimSwitch::start(SimConfig {
        scenarios,
        dialplan,
        ..SimConfig::default()
    })
    .await
    .expect("simulator starts")
}

/// Loudest sample of 16-bit little-endian datagrams.
fn peak(datagrams: &[Vec<u8>]) -> i16 {
    datagrams
        .iter()
        .flat_map(|d| d.chunks_exact(2).map(|b| i16::from_le_bytes([b[0], b[1]])))
        .map(i16::saturating_abs)
        .max()
        .unwrap_or(0)
}

/// Datagrams arriving on `udp` for `within`.
async fn collect(udp: &UdpSocket, within: Duration) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + within;
    let mut buf = [0u8; 2048];
    while let Ok(Ok((n, _))) = tokio::time::timeout_at(deadline, udp.recv_from(&mut buf)).await {
        out.push(buf[..n].to_vec());
    }
    out
}

fn unicast(uuid: Option<&str>, local: u16, remote: u16) -> String {
    format!(
        "sendmsg{}\ncall-command: unicast\nlocal-ip: 127.0.0.1\nlocal-port: {local}\n\
         remote-ip: 127.0.0.1\nremote-port: {remote}\ntransport: udp",
        uuid.map(|u| format!(" {u}")).unwrap_or_default()
    )
}

fn free_udp_port() -> u16 {
    let probe = std::net::UdpSocket::bind("127.0.0.1:0").expect("probe");
    probe.local_addr().expect("addr").port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_restart_hangs_up_says_goodbye_and_comes_back_new() {
    let sim = sim(
        vec![Callee {
            number: Some("13800000301".into()),
            ..talker("x", Path::new("/nonexistent"))
        }],
        Dialplan::default(),
    )
    .await;
    let mut c = Raw::inbound(sim.addr()).await;
    c.command("event plain ALL").await;
    let uuid = uuid::Uuid::new_v4().to_string();
    let body = c
        .command(&format!(
            "api originate {{origination_uuid={uuid}}}sofia/gateway/gw/13800000301 &park()"
        ))
        .await;
    assert_eq!(body.body_text(), format!("+OK {uuid}\n"));
    let first = c.events_until(&uuid, "CHANNEL_PARK").await;
    assert_eq!(first.last().map(String::as_str), Some("CHANNEL_PARK"));
    let core_before = {
        c.send("sendevent CUSTOM\nEvent-Subclass: t::x").await;
        let ev = loop {
            let ev = c.event().await;
            if ev.name() == "CUSTOM" {
                break ev;
            }
        };
        ev.get("Core-UUID").map(str::to_owned).expect("Core-UUID")
    };
    let restart = {
        let sim = &sim;
        async move {
            sim.restart(RestartMode::Graceful, Duration::from_millis(400))
                .await
                .expect("restarts")
        }
    };
    let watch = async {
        // Every channel ends with SYSTEM_SHUTDOWN and its events arrive, then the goodbye.
        let names = c.events_until(&uuid, "CHANNEL_DESTROY").await;
        let goodbye = loop {
            match c.next(WAIT).await {
                Got::Frame(f) if f.content_type() == Some("text/disconnect-notice") => break f,
                Got::Frame(_) => continue,
                other => panic!("no goodbye: {other:?}"),
            }
        };
        assert!(
            matches!(c.next(WAIT).await, Got::Eof),
            "closed after the goodbye"
        );
        // The listener is down for a while.
        let refused = TcpStream::connect(sim.addr()).await.is_err();
        (names, goodbye, refused)
    };
    let ((names, goodbye, refused), ()) = tokio::join!(watch, restart);
    assert!(names.contains(&"CHANNEL_HANGUP".to_owned()), "{names:?}");
    assert_eq!(names.last().map(String::as_str), Some("CHANNEL_DESTROY"));
    assert_eq!(
        goodbye.body_text(),
        crate::esl::server::DISCONNECT_NOTICE,
        "the disconnect notice"
    );
    assert!(refused, "connections are refused while the switch is down");
    assert_eq!(sim.live_channels(), 0);
    assert_eq!(sim.cdrs()[0].cause, HangupCause::SystemShutdown);
    // Back, with a new Core-UUID and no channels.
    let mut c = Raw::inbound(sim.addr()).await;
    assert_eq!(
        c.command("api show channels").await.body_text(),
        "\n0 total.\n"
    );
    c.command("event plain CUSTOM t::x").await;
    c.send("sendevent CUSTOM\nEvent-Subclass: t::x").await;
    let ev = c.event().await;
    let core_after = ev.get("Core-UUID").expect("Core-UUID").to_owned();
    assert_ne!(core_before, core_after, "a new Core-UUID");
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_cuts_clients_silences_channels_and_stops_the_media() {
    let dir = tempfile::tempdir().expect("temp dir");
    let wav = tone(dir.path());
    let mut callee = talker("13800000302", &wav);
    callee.script.push(Step::SilenceMs(10_000));
    let sim = sim(vec![callee], Dialplan::default()).await;
    let mut c = Raw::inbound(sim.addr()).await;
    c.command("event plain ALL").await;
    let uuid = uuid::Uuid::new_v4().to_string();
    c.command(&format!(
        "api originate {{origination_uuid={uuid}}}sofia/gateway/gw/13800000302 &park()"
    ))
    .await;
    c.events_until(&uuid, "CHANNEL_PARK").await;
    let udp = UdpSocket::bind("127.0.0.1:0").await.expect("udp");
    let remote = udp.local_addr().expect("addr").port();
    let reply = c
        .command(&unicast(Some(&uuid), free_udp_port(), remote))
        .await;
    assert_eq!(reply.reply_text(), Some("+OK"));
    assert!(
        !collect(&udp, Duration::from_millis(300)).await.is_empty(),
        "streaming"
    );

    let started = Instant::now();
    let restart = sim.restart(RestartMode::Crash, Duration::from_millis(500));
    let watch = async {
        // Cut with no goodbye and no hangup events.
        let mut after_crash = Vec::new();
        loop {
            match c.next(WAIT).await {
                Got::Frame(f) => after_crash.push(f),
                Got::Eof => break,
                Got::Timeout => panic!("not cut"),
            }
        }
        // The media stream stopped with the channel: what was sent before is drained, and
        // nothing follows.
        let mut buf = [0u8; 2048];
        while udp.try_recv_from(&mut buf).is_ok() {}
        tokio::time::sleep(Duration::from_millis(100)).await;
        let late = collect(&udp, Duration::from_millis(300)).await;
        (after_crash, late)
    };
    let ((after_crash, late), restarted) = tokio::join!(watch, restart);
    restarted.expect("restarts");
    assert!(started.elapsed() >= Duration::from_millis(500));
    assert!(
        after_crash.iter().all(|f| {
            f.content_type() != Some("text/disconnect-notice")
                && !String::from_utf8_lossy(f.body.as_deref().unwrap_or_default())
                    .contains("CHANNEL_HANGUP")
        }),
        "no goodbye, no hangup events: {after_crash:?}"
    );
    assert!(late.is_empty(), "{} datagrams after the crash", late.len());
    assert_eq!(sim.live_channels(), 0);
    let mut c = Raw::inbound(sim.addr()).await;
    assert_eq!(
        c.command("api show channels").await.body_text(),
        "\n0 total.\n"
    );
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_originate_is_logged_with_its_arrival_and_uuid() {
    let sim = sim(
        vec![Callee {
            number: Some("13800000303".into()),
            outcome: Some(Outcome::Busy),
            ..talker("x", Path::new("/nonexistent"))
        }],
        Dialplan::default(),
    )
    .await;
    let mut c = Raw::inbound(sim.addr()).await;
    let before = Instant::now();
    let (u1, u2) = (
        uuid::Uuid::new_v4().to_string(),
        uuid::Uuid::new_v4().to_string(),
    );
    let b1 = c
        .command(&format!(
            "api originate {{origination_uuid={u1}}}sofia/gateway/gw/13800000303 &park()"
        ))
        .await;
    assert_eq!(b1.body_text(), "-ERR USER_BUSY\n");
    c.command(&format!(
        "bgapi originate {{origination_uuid={u2}}}nosuchendpoint/x &park()"
    ))
    .await;
    // The bgapi's job logs its originate in its own task, after the reply.
    let deadline = Instant::now() + WAIT;
    while sim.originates().len() < 2 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let log = sim.originates();
    assert_eq!(
        log.iter().map(|o| o.uuid.as_str()).collect::<Vec<_>>(),
        [u1.as_str(), u2.as_str()]
    );
    assert_eq!(log[0].dial, "sofia/gateway/gw/13800000303");
    assert!(log[0].at >= before && log[1].at >= log[0].at && log[1].at <= Instant::now());
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inbound_call_handed_to_an_outbound_socket_converses() {
    let dir = tempfile::tempdir().expect("temp dir");
    let wav = tone(dir.path());
    let sim = sim(vec![], Dialplan::default()).await;
    let service = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let uuid = sim.inbound_call(InboundCall {
        caller: talker("", &wav),
        caller_id: "13800000304".into(),
        destination: "4000".into(),
        socket: service.local_addr().expect("addr"),
        vars: vec![("aicall_campaign".into(), "c1".into())],
    });
    let (stream, _) = tokio::time::timeout(WAIT, service.accept())
        .await
        .expect("the simulator connects")
        .expect("accept");
    let mut s = Raw::over(stream);
    // Nothing is said before `connect`.
    assert!(matches!(
        s.next(Duration::from_millis(200)).await,
        Got::Timeout
    ));
    s.send("connect").await;
    let data = s.frame().await;
    let ev = Event::from_headers(&data.headers);
    assert_eq!(ev.get("Reply-Text"), Some("+OK\n"));
    assert_eq!(ev.unique_id(), Some(uuid.as_str()));
    assert_eq!(ev.get("Caller-Caller-ID-Number"), Some("13800000304"));
    assert_eq!(ev.get("Caller-Destination-Number"), Some("4000"));
    assert_eq!(ev.variable("aicall_campaign"), Some("c1"));
    assert_eq!(ev.get("Answer-State"), Some("ringing"));
    assert_eq!(
        s.command("myevents").await.reply_text(),
        Some("+OK Events Enabled")
    );
    let answer = s
        .command("sendmsg\ncall-command: execute\nexecute-app-name: answer")
        .await;
    assert_eq!(answer.reply_text(), Some("+OK"));
    assert_eq!(
        s.events_until(&uuid, "CHANNEL_EXECUTE_COMPLETE").await,
        [
            "CHANNEL_EXECUTE",
            "CHANNEL_ANSWER",
            "CHANNEL_EXECUTE_COMPLETE"
        ]
    );
    // Its audio flows after unicast, like an originated call's.
    let udp = UdpSocket::bind("127.0.0.1:0").await.expect("udp");
    let remote = udp.local_addr().expect("addr").port();
    let reply = s.command(&unicast(None, free_udp_port(), remote)).await;
    assert_eq!(reply.reply_text(), Some("+OK"));
    let heard = collect(&udp, Duration::from_millis(1500)).await;
    assert!(heard.len() > 50 && heard.iter().all(|d| d.len() == 320));
    assert!(peak(&heard) > 5000, "the caller's tone arrives");
    assert!(sim
        .recording(&uuid)
        .expect("recording")
        .unicast_started_ms
        .is_some());
    // aicall hangs up; without linger the socket gets its goodbye and closes.
    s.send("sendmsg\ncall-command: hangup\nhangup-cause: NORMAL_CLEARING")
        .await;
    let notice = loop {
        match s.next(WAIT).await {
            Got::Frame(f) if f.content_type() == Some("text/disconnect-notice") => break f,
            Got::Frame(_) => continue,
            other => panic!("no notice: {other:?}"),
        }
    };
    assert_eq!(
        notice.headers.get("Content-Disposition"),
        Some("disconnect")
    );
    assert_eq!(
        notice.headers.get("Controlled-Session-UUID"),
        Some(uuid.as_str())
    );
    assert!(matches!(s.next(WAIT).await, Got::Eof));
    let deadline = Instant::now() + WAIT;
    while sim.live_channels() > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(sim.live_channels(), 0);
    assert_eq!(sim.cdrs().len(), 1);
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_loopback_call_to_a_scenario_callee_has_two_legs_and_streams_its_audio() {
    let dir = tempfile::tempdir().expect("temp dir");
    let wav = tone(dir.path());
    let sim = sim(vec![talker("13800000305", &wav)], Dialplan::esl_traces()).await;
    let mut c = Raw::inbound(sim.addr()).await;
    c.command("event plain ALL").await;
    let a = uuid::Uuid::new_v4().to_string();
    c.command(&format!(
        "bgapi originate {{origination_uuid={a},aicall_attempt=7}}\
         loopback/13800000305/default &park()"
    ))
    .await;
    // The B leg: inbound, a new uuid, the originate's variables, parked.
    let mut b = None;
    let mut a_events = Vec::new();
    while a_events.last().map(String::as_str) != Some("CHANNEL_PARK") || b.is_none() {
        let ev = c.event().await;
        if ev.unique_id() == Some(a.as_str()) {
            a_events.push(ev.name().to_owned());
        } else if ev.variable("loopback_leg") == Some("B") && ev.name() == "CHANNEL_PARK" {
            assert_eq!(ev.variable("other_loopback_leg_uuid"), Some(a.as_str()));
            assert_eq!(ev.variable("aicall_attempt"), Some("7"));
            assert_eq!(ev.get("Call-Direction"), Some("inbound"));
            b = ev.unique_id().map(str::to_owned);
        }
    }
    assert_eq!(
        a_events,
        [
            "CHANNEL_CREATE",
            "CHANNEL_PROGRESS",
            "CHANNEL_ANSWER",
            "CHANNEL_EXECUTE",
            "CHANNEL_PARK"
        ]
    );
    let udp = UdpSocket::bind("127.0.0.1:0").await.expect("udp");
    let remote = udp.local_addr().expect("addr").port();
    let reply = c.command(&unicast(Some(&a), free_udp_port(), remote)).await;
    assert_eq!(reply.reply_text(), Some("+OK"));
    let heard = collect(&udp, Duration::from_millis(1500)).await;
    assert!(
        peak(&heard) > 5000,
        "the callee's tone reaches aicall on the A leg"
    );
    let b = b.expect("B leg");
    assert_ne!(b, a);
    assert_eq!(
        c.command(&format!("api uuid_kill {a}")).await.body_text(),
        "+OK\n"
    );
    c.events_until(&b, "CHANNEL_DESTROY").await;
    // A's own teardown runs beside B's, in its own task.
    let deadline = Instant::now() + WAIT;
    while sim.live_channels() > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(sim.cdrs().len(), 1, "one call, not one per leg");
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_eavesdropping_leg_hears_the_call() {
    let dir = tempfile::tempdir().expect("temp dir");
    let wav = tone(dir.path());
    let sim = sim(vec![talker("13800000306", &wav)], Dialplan::esl_traces()).await;
    let mut c = Raw::inbound(sim.addr()).await;
    c.command("event plain CHANNEL_PARK CHANNEL_EXECUTE").await;
    let a = uuid::Uuid::new_v4().to_string();
    let s = uuid::Uuid::new_v4().to_string();
    c.command(&format!(
        "api originate {{origination_uuid={a}}}loopback/13800000306/default &park()"
    ))
    .await;
    c.command(&format!(
        "api originate {{origination_uuid={s},eavesdrop_whisper_aleg=true}}\
         loopback/9999/default &eavesdrop({a})"
    ))
    .await;
    loop {
        let ev = c.event().await;
        if ev.unique_id() == Some(s.as_str()) && ev.get("Application") == Some("eavesdrop") {
            assert_eq!(ev.get("Application-Data"), Some(a.as_str()));
            break;
        }
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let heard = sim.recording(&s).expect("the supervisor's recording").heard;
    let loud = heard.iter().map(|s| s.saturating_abs()).max().unwrap_or(0);
    assert!(heard.len() > 4000, "{} samples", heard.len());
    assert!(
        loud > 5000,
        "the supervisor hears the callee's tone (peak {loud})"
    );
    sim.stop().await;
}
