//! The ESL client against the switch simulator on 127.0.0.1: authentication, api, bgapi
//! originate for each outcome with its channel events, sendmsg, unicast audio both ways,
//! reconnect with reconciliation, timeouts and hostile servers.

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use aicall::esl::{
    ClientConfig, ClientEvent, EslClient, EslError, EventFormat, EventKind, EventStream,
    HangupCause,
};
use aicall::sim::{Callee, Outcome, Scenarios, SimConfig, SimSwitch, Step};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A clip the set-up rendered (16 kHz; the simulator converts it to the channel's 8 kHz, as
/// FreeSWITCH does for a file of another rate).
fn speech(rel: &str) -> PathBuf {
    common::rendered(&format!("speech/{rel}"))
}

fn callee(number: &str, outcome: Outcome, ring_ms: u64, script: Vec<Step>) -> Callee {
    Callee {
        number: Some(number.into()),
        name: None,
        outcome: Some(outcome),
        ring_ms: Some(ring_ms),
        rate: Some(8000),
        script,
        max_call_ms: None,
        early: Vec::new(),
    }
}

async fn sim_with(callees: Vec<Callee>) -> SimSwitch {
    let mut scenarios = Scenarios::default();
    for c in callees {
        scenarios.insert(c);
    }
    SimSwitch::start(SimConfig {
        scenarios,
        ..SimConfig::default()
    })
    .await
    .expect("sim starts")
}

fn config(addr: SocketAddr) -> ClientConfig {
    ClientConfig {
        addr: addr.to_string(),
        command_timeout: Duration::from_secs(5),
        reconnect_initial: Duration::from_millis(50),
        reconnect_max: Duration::from_millis(200),
        ..ClientConfig::default()
    }
}

/// Collects the names of events for `uuid` until `last` arrives.
async fn events_until(events: &mut EventStream, uuid: &str, last: &str) -> Vec<String> {
    let mut names = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let ev = tokio::time::timeout_at(deadline, events.recv())
            .await
            .unwrap_or_else(|_| panic!("timed out waiting for {last}; got {names:?}"))
            .expect("stream open");
        if let ClientEvent::Event(ev) = ev {
            if ev.unique_id() == Some(uuid) {
                names.push(ev.name().to_owned());
                if ev.name() == last {
                    return names;
                }
            }
        }
    }
}

/// Waits (up to 5 s) for the switch to list no channel. A channel leaves `show channels`
/// only after its CHANNEL_DESTROY has gone out, each in its own task (on a real switch the
/// core database drops the row when it handles that event), so a client that has seen the
/// events can still find it listed for a moment.
async fn until_no_channels(sim: &SimSwitch) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while sim.live_channels() > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(sim.live_channels(), 0, "channels left after every hangup");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_ok_and_wrong_password() {
    let sim = sim_with(vec![]).await;
    let (client, _ev) = EslClient::connect(config(sim.addr()))
        .await
        .expect("connects");
    assert!(client.is_connected());
    let mut bad = config(sim.addr());
    bad.password = "wrong".into();
    match EslClient::connect(bad).await {
        Err(EslError::AuthFailed { reply }) => assert_eq!(reply, "-ERR invalid"),
        other => panic!("expected AuthFailed, got {other:?}"),
    }
    // Nobody listening: a connection error naming the address.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr")
    };
    let err = EslClient::connect(config(closed))
        .await
        .expect_err("refused");
    assert!(err.to_string().contains(&closed.to_string()), "{err}");
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_status_show_channels_and_unknown_command() {
    let sim = sim_with(vec![]).await;
    let (client, _ev) = EslClient::connect(config(sim.addr()))
        .await
        .expect("connects");
    let status = client.api("status").await.expect("status");
    assert!(status.contains("FreeSWITCH (Version 1.10.12"), "{status}");
    assert!(status.contains("is ready"));
    assert_eq!(client.channels().await.expect("channels"), vec![]);
    let err = client.api_ok("bogus_cmd arg").await.expect_err("-ERR");
    assert!(
        err.to_string().contains("bogus_cmd Command not found"),
        "{err}"
    );
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bgapi_originate_answer_then_hangup_gives_freeswitch_event_order() {
    let sim = sim_with(vec![callee("13800000001", Outcome::Answer, 300, vec![])]).await;
    let (client, mut events) = EslClient::connect(config(sim.addr()))
        .await
        .expect("connects");
    client
        .subscribe(&[
            "CHANNEL_CREATE",
            "CHANNEL_PROGRESS",
            "CHANNEL_ANSWER",
            "CHANNEL_EXECUTE",
            "CHANNEL_PARK",
            "CHANNEL_HANGUP",
            "CHANNEL_HANGUP_COMPLETE",
            "CHANNEL_DESTROY",
        ])
        .await
        .expect("subscribe");
    let uuid = uuid::Uuid::new_v4().to_string();
    let started = Instant::now();
    let job = client
        .bgapi(&format!(
            "originate {{origination_uuid={uuid}}}sofia/gateway/gw1/13800000001 &park()"
        ))
        .await
        .expect("bgapi accepted");
    let result = job.wait(Duration::from_secs(10)).await.expect("job result");
    assert!(result.ok, "{result:?}");
    assert_eq!(result.value(), uuid);
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "answered before ring time"
    );
    let names = events_until(&mut events, &uuid, "CHANNEL_PARK").await;
    assert_eq!(
        names,
        [
            "CHANNEL_CREATE",
            "CHANNEL_PROGRESS",
            "CHANNEL_ANSWER",
            "CHANNEL_EXECUTE",
            "CHANNEL_PARK"
        ]
    );
    let live = client.channels().await.expect("channels");
    assert_eq!(live.len(), 1);
    assert_eq!(live[0].uuid, uuid);
    assert_eq!(live[0].callstate, "ACTIVE");

    tokio::time::sleep(Duration::from_millis(1100)).await;
    client
        .hangup(&uuid, "NORMAL_CLEARING")
        .await
        .expect("sendmsg hangup");
    let mut complete = None;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let mut names = Vec::new();
    while let Ok(Some(ev)) = tokio::time::timeout_at(deadline, events.recv()).await {
        if let ClientEvent::Event(ev) = ev {
            names.push(ev.name().to_owned());
            if ev.name() == "CHANNEL_HANGUP_COMPLETE" {
                complete = Some(ev.clone());
            }
            if ev.name() == "CHANNEL_DESTROY" {
                break;
            }
        }
    }
    assert_eq!(
        names,
        [
            "CHANNEL_HANGUP",
            "CHANNEL_HANGUP_COMPLETE",
            "CHANNEL_DESTROY"
        ]
    );
    let complete = complete.expect("hangup complete");
    assert!(
        matches!(
            complete.kind(),
            EventKind::ChannelHangupComplete {
                cause: HangupCause::NormalClearing,
                billsec: 1..
            }
        ),
        "{:?}",
        complete.kind()
    );
    assert_eq!(complete.variable("origination_uuid"), Some(uuid.as_str()));
    until_no_channels(&sim).await;
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn originate_failures_busy_no_answer_rejected_unallocated_gateway_down() {
    let sim = sim_with(vec![
        callee("13800000002", Outcome::Busy, 200, vec![]),
        callee("13800000003", Outcome::NoAnswer, 10_000, vec![]),
        callee("13800000004", Outcome::Rejected, 100, vec![]),
        callee("13800000005", Outcome::Unallocated, 50, vec![]),
        callee("13800000006", Outcome::GatewayDown, 0, vec![]),
        // Rings longer than the originate timeout: NO_ANSWER at the timeout.
        callee("13800000007", Outcome::Answer, 5_000, vec![]),
    ])
    .await;
    let (client, mut events) = EslClient::connect(config(sim.addr()))
        .await
        .expect("connects");
    client
        .subscribe(&["CHANNEL_HANGUP_COMPLETE"])
        .await
        .expect("subscribe");
    let cases = [
        ("13800000002", "", HangupCause::UserBusy),
        ("13800000003", "originate_timeout=1,", HangupCause::NoAnswer),
        ("13800000004", "", HangupCause::CallRejected),
        ("13800000005", "", HangupCause::UnallocatedNumber),
        ("13800000007", "originate_timeout=1,", HangupCause::NoAnswer),
    ];
    for (number, extra, cause) in cases {
        let uuid = uuid::Uuid::new_v4().to_string();
        let job = client
            .bgapi(&format!(
                "originate {{{extra}origination_uuid={uuid}}}sofia/gateway/gw1/{number} &park()"
            ))
            .await
            .expect("bgapi");
        let result = job.wait(Duration::from_secs(10)).await.expect("result");
        assert!(!result.ok);
        assert_eq!(HangupCause::from_name(result.value()), cause, "{number}");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            let ev = tokio::time::timeout_at(deadline, events.recv())
                .await
                .expect("event")
                .expect("open");
            if let ClientEvent::Event(ev) = ev {
                if ev.unique_id() == Some(uuid.as_str()) {
                    assert_eq!(ev.hangup_cause(), Some(cause));
                    assert_eq!(ev.variable("billsec"), Some("0"));
                    break;
                }
            }
        }
    }
    // A gateway that is down fails the originate with no channel at all.
    let body = client
        .api("originate sofia/gateway/gw1/13800000006 &park()")
        .await
        .expect("api");
    assert_eq!(body, "-ERR GATEWAY_DOWN\n");
    until_no_channels(&sim).await;
    assert_eq!(sim.cdrs().len(), 5);
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sendmsg_playback_and_kill() {
    let sim = sim_with(vec![callee("13800000011", Outcome::Answer, 50, vec![])]).await;
    let (client, mut events) = EslClient::connect(config(sim.addr()))
        .await
        .expect("connects");
    client
        .subscribe(&[
            "PLAYBACK_START",
            "PLAYBACK_STOP",
            "CHANNEL_EXECUTE_COMPLETE",
            "CHANNEL_HANGUP",
        ])
        .await
        .expect("subscribe");
    let uuid = uuid::Uuid::new_v4().to_string();
    let body = client
        .api(&format!(
            "originate {{origination_uuid={uuid}}}sofia/gateway/gw1/13800000011 &park()"
        ))
        .await
        .expect("api originate");
    assert_eq!(body, format!("+OK {uuid}\n"));
    let wav = speech("callee/affirm_ok.wav");
    client
        .execute(&uuid, "playback", wav.to_str().expect("utf-8 path"))
        .await
        .expect("execute");
    let mut kinds = Vec::new();
    while kinds.len() < 3 {
        if let Some(ClientEvent::Event(ev)) =
            tokio::time::timeout(Duration::from_secs(10), events.recv())
                .await
                .expect("event")
        {
            match ev.kind() {
                EventKind::PlaybackStart { path } => {
                    kinds.push(format!("start {}", path.ends_with("affirm_ok.wav")))
                }
                EventKind::PlaybackStop { completed, .. } => {
                    kinds.push(format!("stop {completed}"))
                }
                EventKind::ChannelExecuteComplete {
                    application,
                    response,
                    ..
                } => kinds.push(format!("complete {application} {response}")),
                _ => {}
            }
        }
    }
    assert_eq!(
        kinds,
        ["start true", "stop true", "complete playback FILE PLAYED"]
    );
    let rec = sim.recording(&uuid).expect("recording");
    assert_eq!(rec.playbacks.len(), 1);
    // The callee heard exactly the prompt's samples.
    let prompt = aicall::sim::load_wav_mono(&wav, 8000).expect("prompt loads");
    let p0 = prompt
        .iter()
        .position(|&s| s != 0)
        .expect("prompt has sound");
    let h0 = rec
        .heard
        .iter()
        .position(|&s| s != 0)
        .expect("callee heard sound");
    let n = prompt.len() - p0;
    assert!(rec.heard.len() >= h0 + n, "prompt cut short");
    assert_eq!(
        &rec.heard[h0..h0 + n],
        &prompt[p0..],
        "heard audio differs from the prompt"
    );

    assert_eq!(
        client
            .api(&format!("uuid_kill {uuid} CALL_REJECTED"))
            .await
            .expect("kill"),
        "+OK\n"
    );
    assert_eq!(
        client
            .api(&format!("uuid_exists {uuid}"))
            .await
            .expect("exists"),
        "false"
    );
    assert_eq!(
        client.api("uuid_kill nope").await.expect("kill"),
        "-ERR No such channel!\n"
    );
    let err = client
        .hangup("nope", "NORMAL_CLEARING")
        .await
        .expect_err("bad uuid");
    assert!(err.to_string().contains("invalid session id"), "{err}");
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unicast_streams_callee_audio_and_records_what_aicall_sends() {
    let reply = speech("callee/busy.wav");
    let sim = sim_with(vec![callee(
        "13800000021",
        Outcome::Answer,
        50,
        vec![Step::SilenceMs(200), Step::Say(reply)],
    )])
    .await;
    let (client, mut events) = EslClient::connect(config(sim.addr()))
        .await
        .expect("connects");
    client.subscribe(&["CHANNEL_PARK"]).await.expect("event");
    let uuid = uuid::Uuid::new_v4().to_string();
    client
        .api_ok(&format!(
            "originate {{origination_uuid={uuid}}}sofia/gateway/gw1/13800000021 &park()"
        ))
        .await
        .expect("answered");
    // FreeSWITCH takes `unicast` in the park loop only, and the originate's reply does not
    // wait for the park: as aicall does, start the media on CHANNEL_PARK.
    events_until(&mut events, &uuid, "CHANNEL_PARK").await;
    let ours = UdpSocket::bind("127.0.0.1:0").expect("bind");
    ours.set_read_timeout(Some(Duration::from_secs(2)))
        .expect("timeout");
    let fs_side = {
        let probe = UdpSocket::bind("127.0.0.1:0").expect("bind");
        probe.local_addr().expect("addr")
    };
    client
        .unicast(&uuid, fs_side, ours.local_addr().expect("addr"))
        .await
        .expect("unicast");

    // Send one second of a 400 Hz tone, paced at 20 ms, while receiving the callee.
    let tone: Vec<i16> = (0..8000)
        .map(|i| ((i as f32 * 400.0 * std::f32::consts::TAU / 8000.0).sin() * 8000.0) as i16)
        .collect();
    let sender = {
        let sock = ours.try_clone().expect("clone");
        std::thread::spawn(move || {
            let start = Instant::now();
            for (k, frame) in tone.chunks(160).enumerate() {
                let due = start + Duration::from_millis(20 * k as u64);
                std::thread::sleep(due.saturating_duration_since(Instant::now()));
                let bytes: Vec<u8> = frame.iter().flat_map(|s| s.to_le_bytes()).collect();
                sock.send_to(&bytes, fs_side).expect("send");
            }
        })
    };
    let mut received = 0;
    let mut loud = 0;
    let mut buf = [0u8; 2048];
    let until = Instant::now() + Duration::from_millis(2500);
    while Instant::now() < until {
        let (n, from) = ours.recv_from(&mut buf).expect("callee audio arrives");
        assert_eq!(n, 320, "8 kHz L16 frames are 320 bytes");
        assert_eq!(from, fs_side);
        received += 1;
        let peak = buf[..n]
            .chunks_exact(2)
            .map(|b| i16::from_le_bytes([b[0], b[1]]).unsigned_abs())
            .max();
        if peak.unwrap_or(0) > 1000 {
            loud += 1;
        }
    }
    sender.join().expect("sender thread");
    assert!(
        (100..=140).contains(&received),
        "{received} datagrams in 2.5 s"
    );
    assert!(
        loud > 30,
        "the callee's reply should be in the stream ({loud} loud frames)"
    );

    client
        .hangup(&uuid, "NORMAL_CLEARING")
        .await
        .expect("hangup");
    tokio::time::sleep(Duration::from_millis(100)).await;
    let rec = sim.recording(&uuid).expect("recording");
    assert_eq!(rec.rx_datagrams, 50);
    assert_eq!(rec.rx_odd_sized, 0);
    // The test's sender thread paces with `sleep` on a shared machine: allow a late burst.
    assert!(rec.rx_dropped <= 3, "{} frames dropped", rec.rx_dropped);
    // Every frame the callee heard with sound in it is a piece of the tone aicall sent
    // (matched frame by frame: a loaded machine may delay the sender and shift frames
    // against the 20 ms grid), and nearly all 50 were heard.
    let heard_frames: Vec<&[i16]> = rec
        .heard
        .chunks(160)
        .filter(|f| f.iter().any(|s| s.unsigned_abs() > 1000))
        .collect();
    assert!(
        heard_frames.len() >= 45,
        "only {} tone frames heard",
        heard_frames.len()
    );
    for frame in &heard_frames {
        let best = (0..20)
            .map(|phase| normalized_correlation(frame, &tone_at(phase, frame.len())))
            .fold(0.0, f64::max);
        assert!(
            best > 0.99,
            "heard audio is not the tone aicall sent (correlation {best})"
        );
        let rms = (frame.iter().map(|&s| (s as f64).powi(2)).sum::<f64>() / 160.0).sqrt();
        assert!((rms - 5657.0).abs() < 300.0, "tone RMS {rms}");
    }
    // The media socket is released after hangup: the address can be bound again.
    UdpSocket::bind(fs_side).expect("unicast port released after hangup");
    sim.stop().await;
}

fn tone_at(phase: usize, len: usize) -> Vec<i16> {
    (phase..phase + len)
        .map(|i| ((i as f32 * 400.0 * std::f32::consts::TAU / 8000.0).sin() * 8000.0) as i16)
        .collect()
}

fn normalized_correlation(a: &[i16], b: &[i16]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(&x, &y)| x as f64 * y as f64).sum();
    let na: f64 = a.iter().map(|&x| (x as f64).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|&x| (x as f64).powi(2)).sum::<f64>().sqrt();
    dot / (na * nb).max(1.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnect_after_restart_and_reconciliation_of_live_calls() {
    let sim = sim_with(vec![callee("13800000031", Outcome::Answer, 20, vec![])]).await;
    let addr = sim.addr();
    let (client, mut events) = EslClient::connect(config(addr)).await.expect("connects");
    let uuid = uuid::Uuid::new_v4().to_string();
    client
        .api_ok(&format!(
            "originate {{origination_uuid={uuid}}}sofia/gateway/gw1/13800000031 &park()"
        ))
        .await
        .expect("answered");

    // The event socket restarts while the call is up: the client reconnects and reports the
    // live call for reconciliation.
    sim.kick_clients();
    let channels = wait_reconnected(&mut events).await;
    assert_eq!(
        channels.iter().map(|c| c.uuid.as_str()).collect::<Vec<_>>(),
        [uuid.as_str()]
    );
    assert!(client
        .api("status")
        .await
        .expect("works again")
        .contains("is ready"));

    // The whole switch restarts on the same port: no calls survive.
    sim.stop().await;
    loop {
        match tokio::time::timeout(Duration::from_secs(5), events.recv()).await {
            Ok(Some(ClientEvent::Disconnected { .. })) => break,
            Ok(Some(_)) => continue,
            other => panic!("expected a disconnect, got {other:?}"),
        }
    }
    assert!(matches!(
        client.api("status").await,
        Err(EslError::NotConnected)
    ));
    let sim2 = SimSwitch::start(SimConfig {
        listen: addr,
        ..SimConfig::default()
    })
    .await
    .expect("restart");
    let channels = wait_reconnected(&mut events).await;
    assert!(channels.is_empty());
    // Subscriptions were replayed: a bgapi still completes through the new connection.
    let job = client
        .bgapi("originate sofia/gateway/gw1/1000 &park()")
        .await
        .expect("bgapi");
    assert!(job.wait(Duration::from_secs(5)).await.expect("result").ok);
    sim2.stop().await;
}

async fn wait_reconnected(events: &mut EventStream) -> Vec<aicall::esl::ChannelInfo> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match tokio::time::timeout_at(deadline, events.recv())
            .await
            .expect("reconnects in time")
        {
            Some(ClientEvent::Reconnected { channels }) => return channels,
            Some(_) => continue,
            None => panic!("event stream closed"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_events_and_two_clients_at_once() {
    let sim = sim_with(vec![]).await;
    let mut cfg = config(sim.addr());
    cfg.format = EventFormat::Json;
    let (a, mut a_events) = EslClient::connect(cfg).await.expect("a connects");
    let (b, mut b_events) = EslClient::connect(config(sim.addr()))
        .await
        .expect("b connects");
    a.subscribe(&["CHANNEL_ANSWER"]).await.expect("subscribe a");
    b.subscribe(&["CHANNEL_ANSWER"]).await.expect("subscribe b");
    let uuid = uuid::Uuid::new_v4().to_string();
    let job = a
        .bgapi(&format!(
            "originate {{origination_uuid={uuid}}}loopback/1000 &park()"
        ))
        .await
        .expect("bgapi");
    // b sees a's BACKGROUND_JOB as an ordinary event; a gets it as the job result.
    assert!(job.wait(Duration::from_secs(5)).await.expect("result").ok);
    for events in [&mut a_events, &mut b_events] {
        assert_eq!(
            events_until(events, &uuid, "CHANNEL_ANSWER").await,
            ["CHANNEL_ANSWER"]
        );
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        if let Some(ClientEvent::Event(ev)) = tokio::time::timeout_at(deadline, b_events.recv())
            .await
            .expect("bg job")
        {
            if ev.name() == "BACKGROUND_JOB" {
                assert_eq!(ev.body.as_deref(), Some(format!("+OK {uuid}\n").as_str()));
                break;
            }
        }
    }
    sim.stop().await;
}

/// A server that authenticates and then never answers: the command times out, and the
/// connection is reset rather than left with mismatched replies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_switch_times_out_and_malformed_frames_are_survived() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        for round in 0.. {
            let Ok((mut s, _)) = listener.accept().await else {
                return;
            };
            let _ = s.write_all(b"Content-Type: auth/request\n\n").await;
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf).await;
            let _ = s
                .write_all(b"Content-Type: command/reply\nReply-Text: +OK accepted\n\n")
                .await;
            let _ = s.read(&mut buf).await; // event BACKGROUND_JOB
            let _ = s.write_all(b"Content-Type: command/reply\nReply-Text: +OK event listener enabled plain\n\n").await;
            if round == 0 {
                // Garbage, an unknown content type, then silence.
                let _ = s
                    .write_all(b"this is not a header\n\nContent-Type: x/unknown\n\n")
                    .await;
                let _ = s.read(&mut buf).await;
                tokio::time::sleep(Duration::from_secs(30)).await;
            } else {
                // A peer that closes mid-frame.
                let _ = s.write_all(b"Content-Type: api/resp").await;
                return;
            }
        }
    });
    let mut cfg = config(addr);
    cfg.command_timeout = Duration::from_millis(300);
    let (client, mut events) = EslClient::connect(cfg).await.expect("connects");
    match client.api("status").await {
        Err(EslError::CommandTimeout { command, .. }) => assert_eq!(command, "api status"),
        other => panic!("expected a timeout, got {other:?}"),
    }
    // The connection was reset, then re-established (second round), then lost mid-frame.
    let mut saw_disconnect = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while saw_disconnect < 2 {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Ok(Some(ClientEvent::Disconnected { .. })) => saw_disconnect += 1,
            Ok(Some(_)) => {}
            _ => break,
        }
    }
    assert!(saw_disconnect >= 1);
    client.close().await;
}

/// The reader never falls behind: a client that does not read while thousands of events
/// arrive gets every one of them afterwards, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_application_loses_no_events_and_custom_events_flow() {
    let sim = sim_with(vec![]).await;
    let (sender, _s_events) = EslClient::connect(config(sim.addr()))
        .await
        .expect("sender");
    let (reader, mut events) = EslClient::connect(config(sim.addr()))
        .await
        .expect("reader");
    reader
        .subscribe(&["CUSTOM", "aicall::turn"])
        .await
        .expect("subscribe");
    const N: usize = 3000;
    for i in 0..N {
        let mut h = aicall::esl::Headers::default();
        h.push("Event-Subclass", "aicall::turn");
        h.push("X-Seq", &i.to_string());
        sender
            .sendevent("CUSTOM", h, Some("回复: 好的".into()))
            .await
            .expect("sendevent");
    }
    // Only now does the application start reading.
    for i in 0..N {
        let ev = loop {
            match tokio::time::timeout(Duration::from_secs(10), events.recv()).await {
                Ok(Some(ClientEvent::Event(ev))) => break ev,
                Ok(Some(_)) => continue,
                other => panic!("event {i} missing: {other:?}"),
            }
        };
        assert_eq!(
            ev.kind(),
            EventKind::Custom {
                subclass: "aicall::turn"
            }
        );
        assert_eq!(ev.get("X-Seq"), Some(i.to_string().as_str()));
        assert_eq!(ev.body.as_deref(), Some("回复: 好的"));
    }
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hupall_myevents_and_voicemail() {
    let sim = sim_with(vec![
        callee("13800000041", Outcome::Answer, 20, vec![]),
        callee("13800000042", Outcome::Voicemail, 20, vec![]),
    ])
    .await;
    let (client, mut events) = EslClient::connect(config(sim.addr()))
        .await
        .expect("connects");
    client.subscribe(&["CHANNEL_PARK"]).await.expect("event");
    let (watcher, mut mine) = EslClient::connect(config(sim.addr()))
        .await
        .expect("watcher");
    let a = uuid::Uuid::new_v4().to_string();
    let b = uuid::Uuid::new_v4().to_string();
    for (uuid, number) in [(&a, "13800000041"), (&b, "13800000042")] {
        let body = client
            .api(&format!(
                "originate {{origination_uuid={uuid}}}sofia/gateway/gw1/{number} &park()"
            ))
            .await
            .expect("originate");
        assert_eq!(
            body.trim(),
            format!("+OK {uuid}"),
            "voicemail answers like a person"
        );
    }
    // The originate's reply does not wait for its `&park()` (in FreeSWITCH either): both
    // channels are parked before the hangup, so that the watcher's subscription, taken now,
    // sees nothing of b's start and the whole of its end.
    let mut unparked = vec![a.clone(), b.clone()];
    while !unparked.is_empty() {
        match tokio::time::timeout(Duration::from_secs(10), events.recv()).await {
            Ok(Some(ClientEvent::Event(ev))) if ev.name() == "CHANNEL_PARK" => {
                unparked.retain(|u| Some(u.as_str()) != ev.unique_id());
            }
            Ok(Some(_)) => {}
            other => panic!("{unparked:?} not parked: {other:?}"),
        }
    }
    watcher.myevents(&b).await.expect("myevents");
    let out = client.api("hupall MANAGER_REQUEST").await.expect("hupall");
    assert_eq!(out, "+OK hangup all channels with cause MANAGER_REQUEST\n");
    // myevents: only b's events reach the watcher.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let mut seen = Vec::new();
    while let Ok(Some(ev)) = tokio::time::timeout_at(deadline, mine.recv()).await {
        if let ClientEvent::Event(ev) = ev {
            assert_eq!(ev.unique_id(), Some(b.as_str()), "{} leaked", ev.name());
            seen.push(ev.name().to_owned());
            if ev.name() == "CHANNEL_DESTROY" {
                break;
            }
        }
    }
    // As the real switch sends them to `myevents` (data/esl-traces fact 21: CHANNEL_UNPARK,
    // the park's EXECUTE_COMPLETE and CHANNEL_STATE included).
    assert_eq!(
        seen,
        [
            "CHANNEL_HANGUP",
            "CHANNEL_UNPARK",
            "CHANNEL_EXECUTE_COMPLETE",
            "CHANNEL_STATE",
            "CHANNEL_STATE",
            "CHANNEL_HANGUP_COMPLETE",
            "CHANNEL_DESTROY"
        ]
    );
    // a's teardown runs in its own task and may still be under way.
    until_no_channels(&sim).await;
    assert_eq!(sim.cdrs().len(), 2);
    assert!(sim
        .cdrs()
        .iter()
        .all(|c| c.cause == HangupCause::ManagerRequest && c.answered));
    sim.stop().await;
}
