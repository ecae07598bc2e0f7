//! The supervisor console of `aicall serve` as FreeSWITCH's own `fs_cli` uses it. No registry
//! ships fs_cli, so the tests speak what the real fs_cli sent in the recorded sessions
//! (`../shared/data/esl-traces/fs-cli-session.txt` and `fs-cli-x.txt`: same frames, same
//! order) and check that the console answers as FreeSWITCH did there, then steer a running
//! campaign from the console: its calls, a pause, the CUSTOM `aicall::*` events, `/log`, and a
//! supervisor listening in on a live call.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod trace;

use std::time::{Duration, Instant};

use aicall::esl::{Event, Frame, FrameDecoder, Peer};
use aicall::sim::{Callee, Outcome, Scenarios, SimConfig, SimSwitch};
use bytes::BytesMut;
use common::serve::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use trace::{Dir, Item};

/// Where the console answers differently from the switch of the recording, and why that is
/// right: it is aicall's console, not a switch.
const CONSOLE_DIFFERS: &[(&str, &str)] = &[
    (
        "originate",
        "the console does not place calls: FreeSWITCH's reply to a command it does not have",
    ),
    (
        "uuid_kill",
        "the console has no channels to kill: FreeSWITCH's reply to a command it does not have",
    ),
];

/// A connection to the console, reading frames as fs_cli does.
struct Esl {
    stream: TcpStream,
    buf: BytesMut,
    dec: FrameDecoder,
}

impl Esl {
    async fn connect(addr: &str) -> Esl {
        let stream = TcpStream::connect(addr).await.expect("console accepts");
        Esl {
            stream,
            buf: BytesMut::new(),
            dec: FrameDecoder::new(Peer::Server),
        }
    }

    /// The next frame; `None` at EOF or after `wait` with nothing.
    async fn frame(&mut self, wait: Duration) -> Option<Frame> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(f) = self
                .dec
                .decode(&mut self.buf)
                .expect("the console's frames decode")
            {
                return Some(f);
            }
            let mut chunk = [0u8; 8192];
            match tokio::time::timeout_at(deadline, self.stream.read(&mut chunk)).await {
                Ok(Ok(0)) | Err(_) => return None,
                Ok(Ok(n)) => self.buf.extend_from_slice(&chunk[..n]),
                Ok(Err(e)) => panic!("console read: {e}"),
            }
        }
    }

    async fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.expect("console write");
    }

    /// Sends a command and returns its reply, collecting the events and log lines that
    /// came before it.
    async fn command(&mut self, line: &str, stream: &mut Vec<Frame>) -> Frame {
        self.send(format!("{line}\n\n").as_bytes()).await;
        self.reply(stream).await
    }

    async fn reply(&mut self, stream: &mut Vec<Frame>) -> Frame {
        loop {
            let f = self
                .frame(Duration::from_secs(20))
                .await
                .expect("a reply within 20 s");
            if is_reply(&f) {
                return f;
            }
            stream.push(f);
        }
    }

    async fn api(&mut self, line: &str) -> String {
        let mut stream = Vec::new();
        let f = self.command(&format!("api {line}"), &mut stream).await;
        assert_eq!(f.content_type(), Some("api/response"), "{line}");
        f.body_text().into_owned()
    }

    /// Logged in: `auth` (or `userauth`) after the greeting.
    async fn login(addr: &str, auth: &str) -> (Esl, String) {
        let mut c = Esl::connect(addr).await;
        let greeting = c.frame(Duration::from_secs(10)).await.expect("greeting");
        assert_eq!(greeting.content_type(), Some("auth/request"));
        let reply = c.command(auth, &mut Vec::new()).await;
        let text = reply.reply_text().unwrap_or_default().to_owned();
        (c, text)
    }
}

/// A frame that answers a command (not an event or a log line).
fn is_reply(f: &Frame) -> bool {
    matches!(
        f.content_type(),
        Some("command/reply" | "api/response" | "text/disconnect-notice" | "auth/request")
    )
}

fn callee(n: &str) -> Callee {
    Callee {
        number: Some(n.into()),
        name: None,
        outcome: Some(Outcome::Answer),
        ring_ms: Some(300),
        rate: Some(8000),
        script: vec![
            aicall::sim::Step::WaitBotAudio(8000),
            aicall::sim::Step::SilenceMs(800),
            say("deny.wav"),
            aicall::sim::Step::SilenceMs(30_000),
        ],
        max_call_ms: Some(60_000),
        early: Vec::new(),
    }
}

/// The supervisor's phone: answers at once and listens.
fn supervisor(n: &str) -> Callee {
    Callee {
        number: Some(n.into()),
        name: None,
        outcome: Some(Outcome::Answer),
        ring_ms: Some(100),
        rate: Some(8000),
        script: vec![aicall::sim::Step::SilenceMs(60_000)],
        max_call_ms: Some(60_000),
        early: Vec::new(),
    }
}

const SUPERVISOR: &str = "13900009999";

async fn sim_for(n: usize) -> SimSwitch {
    let mut scenarios = Scenarios::default();
    for i in 0..n {
        scenarios.insert(callee(&number(i)));
    }
    scenarios.insert(supervisor(SUPERVISOR));
    SimSwitch::start(SimConfig {
        scenarios,
        record_audio: true,
        ..SimConfig::default()
    })
    .await
    .expect("simulator starts")
}

/// The recorded fs_cli sessions, replayed against the console: every reply has the content
/// type and text FreeSWITCH gave (the bodies of `api` commands as the console's own commands
/// give them, in FreeSWITCH's layout), log lines flow between `log debug` and `nolog` with
/// the headers FreeSWITCH's have (and none before the first `log`), and closing ends with FreeSWITCH's disconnect notice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_recorded_fs_cli_sessions_get_the_replies_freeswitch_gave() {
    let Some(dir) = common::shared_data("esl-traces") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let sim = sim_for(0).await;
    let db = tmp.path().join("db");
    let serve = start_serve(&db, &sim.addr().to_string(), 46_000);
    let key = admin_key(&db);
    for file in ["fs-cli-session.txt", "fs-cli-x.txt"] {
        let t = trace::Trace::load(&dir.join(file)).unwrap();
        replay_fs_cli(&t, &serve.console, &key).await;
    }
    drop(serve);
    sim.stop().await;
}

/// A frame fs_cli sent (none for what the switch sends first), the replies to it and the
/// events and log lines around them.
type Step = (Option<Vec<u8>>, Vec<Frame>, Vec<Frame>);

async fn replay_fs_cli(t: &trace::Trace, addr: &str, key: &str) {
    // The client's frames of connection 1, each with the replies the switch gave to it.
    let mut steps: Vec<Step> = vec![(None, vec![], vec![])];
    for item in &t.items {
        let Item::Frame(f) = item else { continue };
        if f.conn != 1 {
            continue;
        }
        match f.dir {
            Dir::ToSwitch => steps.push((Some(f.bytes.clone()), vec![], vec![])),
            Dir::ToClient => {
                let mut dec = FrameDecoder::new(Peer::Server);
                let mut buf = BytesMut::from(&f.bytes[..]);
                let frame = dec
                    .decode(&mut buf)
                    .unwrap()
                    .expect("a whole recorded frame");
                let step = steps.last_mut().unwrap();
                if is_reply(&frame) {
                    step.1.push(frame);
                } else {
                    step.2.push(frame);
                }
            }
        }
    }
    let mut c = Esl::connect(addr).await;
    let mut logging = false;
    let mut log_lines = 0;
    for (sent, replies, recorded_stream) in &steps {
        let command = sent.as_ref().map(|b| {
            String::from_utf8_lossy(b)
                .lines()
                .next()
                .unwrap_or("")
                .to_owned()
        });
        let mut stream = Vec::new();
        if let Some(bytes) = &sent {
            let text = String::from_utf8_lossy(bytes);
            // The recorded password was the switch's; the console's is a user's key.
            let text = if text.starts_with("auth ") {
                format!("auth {key}\n\n")
            } else {
                text.into_owned()
            };
            c.send(text.as_bytes()).await;
        }
        let command = command.unwrap_or_default();
        for want in replies {
            let got = if want.content_type() == Some("text/disconnect-notice") {
                // fs_cli's `/exit` closes its side; FreeSWITCH says goodbye and closes.
                c.stream.shutdown().await.unwrap();
                c.frame(Duration::from_secs(10))
                    .await
                    .expect("the disconnect notice")
            } else {
                c.reply(&mut stream).await
            };
            check_reply(&t.name, &command, want, &got);
        }
        let wanted_logs = recorded_stream
            .iter()
            .filter(|f| f.content_type() == Some("log/data"));
        if let Some(example) = wanted_logs.clone().next() {
            // Log lines carry FreeSWITCH's headers, in its order.
            if let Some(got) = stream.iter().find(|f| f.content_type() == Some("log/data")) {
                let names = |f: &Frame| {
                    f.headers
                        .iter()
                        .map(|(n, _)| n.to_owned())
                        .collect::<Vec<_>>()
                };
                assert_eq!(names(got), names(example), "{}: log/data headers", t.name);
            }
        }
        let got_logs = stream
            .iter()
            .filter(|f| f.content_type() == Some("log/data"))
            .count();
        if !logging {
            assert_eq!(
                got_logs, 0,
                "{}: log lines before `log` asked for them",
                t.name
            );
        }
        log_lines += got_logs;
        eprintln!(
            "step `{}`: {} stream frames, {got_logs} log lines",
            command.trim(),
            stream.len()
        );
        // fs_cli's start-up `log ` (no level: debug) turns logging on.
        if command.starts_with("log") {
            logging = true;
        }
    }
    if t.name.contains("session") {
        assert!(
            log_lines > 0,
            "{}: `log debug` streamed no log lines",
            t.name
        );
    }
    assert!(
        c.frame(Duration::from_secs(5)).await.is_none(),
        "{}: the console closes after the disconnect notice",
        t.name
    );
}

fn check_reply(file: &str, command: &str, want: &Frame, got: &Frame) {
    let ctx = format!("{file}: `{}`", command.trim());
    assert_eq!(
        got.content_type(),
        want.content_type(),
        "{ctx}: content type"
    );
    let word = command.split_whitespace().nth(1).unwrap_or("");
    match want.content_type() {
        Some("command/reply") | Some("auth/request") => {
            assert_eq!(got.reply_text(), want.reply_text(), "{ctx}");
        }
        Some("text/disconnect-notice") => {
            assert_eq!(got.body_text(), want.body_text(), "{ctx}");
        }
        Some("api/response") => {
            let (w, g) = (want.body_text(), got.body_text());
            if let Some((_, why)) = CONSOLE_DIFFERS.iter().find(|(c, _)| *c == word) {
                assert_eq!(
                    g,
                    format!("-ERR {word} Command not found!\n"),
                    "{ctx} ({why})"
                );
                return;
            }
            match word {
                "switchname" | "hostname" => {
                    assert!(
                        !g.is_empty() && !g.contains('\n'),
                        "{ctx}: one word, no newline: {g:?}"
                    );
                }
                "status" => {
                    let mut lines = g.lines();
                    let up = lines.next().unwrap_or("");
                    let shape = |s: &str| {
                        s.split(' ')
                            .map(|w| {
                                if w.chars().all(|c| c.is_ascii_digit()) {
                                    "N"
                                } else {
                                    w
                                }
                            })
                            .collect::<Vec<_>>()
                            .join(" ")
                    };
                    assert_eq!(shape(up), shape(w.lines().next().unwrap()), "{ctx}: {g}");
                    assert!(
                        lines.next().unwrap_or("").ends_with(" is ready"),
                        "{ctx}: {g}"
                    );
                }
                "show" => assert_eq!(g, w, "{ctx}: nothing up, as on the recorded switch"),
                "console_complete" => {
                    // Same layout: two blank lines, `[%20s]\t` candidates, and `write=` when
                    // one candidate completes the word.
                    assert!(g.starts_with("\n\n"), "{ctx}: {g:?}");
                    if w.contains("write=") && !command.contains("uuid_kill") {
                        assert_eq!(g, w, "{ctx}");
                    }
                    if command.ends_with("show ") {
                        assert!(g.contains("[               calls]\t"), "{ctx}: {g:?}");
                        assert!(g.contains("[            channels]\t"), "{ctx}: {g:?}");
                    }
                }
                other => panic!("{ctx}: no check for api `{other}`"),
            }
        }
        other => panic!("{ctx}: unexpected reply {other:?}"),
    }
}

/// Logins: only the service's supervisors and admins, by their API keys; `userauth` names
/// the user; every attempt is in the audit trail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_supervisors_and_admins_log_in_and_every_attempt_is_audited() {
    let tmp = tempfile::tempdir().unwrap();
    let sim = sim_for(0).await;
    let db = tmp.path().join("db");
    let serve = start_serve(&db, &sim.addr().to_string(), 46_200);
    let admin = admin_key(&db);
    let mut keys = Vec::new();
    for role in ["supervisor", "viewer", "agent", "integration"] {
        let out = cli(
            &serve,
            &db,
            &["users", "add", &format!("u-{role}"), "--role", role],
        );
        // The key is the last line `users add` prints.
        let key = out.lines().last().expect("a key").trim().to_owned();
        keys.push((role, key));
    }
    let (_, r) = Esl::login(&serve.console, &format!("auth {admin}")).await;
    assert_eq!(r, "+OK accepted");
    let (_, r) = Esl::login(&serve.console, "auth ClueCon").await;
    assert_eq!(
        r, "-ERR invalid",
        "a wrong password is refused as FreeSWITCH does"
    );
    for (role, key) in &keys {
        let (mut c, r) = Esl::login(&serve.console, &format!("auth {key}")).await;
        if *role == "supervisor" {
            assert_eq!(r, "+OK accepted");
            assert!(c.api("aicall status").await.contains("is ready"));
            let r = c.api("aicall campaign pause nosuch").await;
            assert!(r.starts_with("-ERR"), "{r}");
        } else {
            assert_eq!(r, "-ERR invalid", "{role} may not use the console");
        }
        let (_, r) = Esl::login(&serve.console, &format!("userauth u-{role}:{key}")).await;
        assert_eq!(
            r == "+OK accepted",
            *role == "supervisor",
            "userauth {role}: {r}"
        );
    }
    // Every console command, as the admin and as the supervisor: each runs (or fails on its
    // own terms: nothing is called `x`), none is refused for the role, and each is audited.
    let commands = [
        "aicall status",
        "aicall campaigns",
        "aicall campaign pause x",
        "aicall campaign resume x",
        "aicall campaign stop x",
        "aicall campaign pace x concurrent=2",
        "aicall calls",
        "aicall call x",
        "aicall agents",
        "aicall agent x ready",
        "aicall queues",
        "aicall dnc add 13700000001",
        "aicall listen x user/1000",
        "aicall whisper x user/1000",
        "aicall barge x user/1000",
        "status",
        "show calls",
    ];
    let supervisor = &keys.iter().find(|(r, _)| *r == "supervisor").unwrap().1;
    for key in [&admin, supervisor] {
        let (mut c, r) = Esl::login(&serve.console, &format!("auth {key}")).await;
        assert_eq!(r, "+OK accepted");
        for command in commands {
            let reply = c.api(command).await;
            assert!(!reply.contains("denied"), "`{command}`: {reply}");
        }
    }
    // Not logged in: nothing runs.
    let mut c = Esl::connect(&serve.console).await;
    c.frame(Duration::from_secs(10)).await.expect("greeting");
    let r = c.command("api aicall status", &mut Vec::new()).await;
    assert_ne!(
        r.content_type(),
        Some("api/response"),
        "an api command before auth ran"
    );
    let (_, r) = Esl::login(&serve.console, &format!("userauth someone-else:{admin}")).await;
    assert_eq!(r, "-ERR invalid", "a key is its own user's");
    // The audit trail has every attempt, allowed and refused.
    let base = if serve.api.starts_with("http") {
        serve.api.clone()
    } else {
        format!("http://{}", serve.api)
    };
    let audit = reqwest::Client::new()
        .get(format!("{}/api/v1/audit", base.trim_end_matches('/')))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for want in [
        "console login",
        "denied: console is for supervisors",
        "unknown key",
    ] {
        assert!(audit.contains(want), "audit lacks {want:?}:\n{audit}");
    }
    let audit: serde_json::Value = serde_json::from_str(&audit).unwrap();
    let rows = audit.as_array().unwrap();
    for command in commands {
        // Never a full number in the audit trail.
        let want = if command.starts_with("aicall dnc add") {
            "aicall dnc add"
        } else {
            command
        };
        for user in ["admin", "u-supervisor"] {
            assert!(
                rows.iter()
                    .any(|r| r.to_string().contains(want) && r.to_string().contains(user)),
                "no audit row for `{command}` by {user}"
            );
        }
    }
    assert!(
        !audit.to_string().contains("13700000001"),
        "a full number in the audit trail"
    );
    drop(serve);
    sim.stop().await;
}

/// A supervisor steers a running campaign from the console: `aicall calls` lists the live
/// calls with masked numbers, `aicall call ID` has the conversation so far, the CUSTOM events
/// stream every call's life and the campaign's counters, `/log` streams aicall's log, a
/// supervisor rung in with `listen` hears the call, and after `campaign pause` no originate
/// reaches the switch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_supervisor_watches_listens_and_pauses_from_the_console() {
    let tmp = tempfile::tempdir().unwrap();
    let n = 8;
    let sim = sim_for(n).await;
    let db = tmp.path().join("db");
    let serve = start_serve(&db, &sim.addr().to_string(), 46_400);
    create_campaign(&serve, &db, tmp.path(), "spring", 2, 1, n);

    let (mut c, r) = Esl::login(&serve.console, &format!("auth {}", admin_key(&db))).await;
    assert_eq!(r, "+OK accepted");
    let mut stream = Vec::new();
    let r = c
        .command(
            "event plain CUSTOM aicall::call aicall::campaign aicall::alert",
            &mut stream,
        )
        .await;
    assert_eq!(r.reply_text(), Some("+OK event listener enabled plain"));
    let r = c.command("log info", &mut stream).await;
    assert_eq!(r.reply_text(), Some("+OK log level info [6]"));
    cli(&serve, &db, &["campaign", "start", "spring"]);

    // A turn event: the callee's words with their intent.
    let mut events: Vec<Event> = Vec::new();
    let mut logs = 0;
    let deadline = Instant::now() + Duration::from_secs(120);
    let turn = loop {
        assert!(
            Instant::now() < deadline,
            "no turn event; got {} events",
            events.len()
        );
        let Some(f) = c.frame(Duration::from_secs(5)).await else {
            continue;
        };
        match f.content_type() {
            Some("log/data") => logs += 1,
            Some("text/event-plain") => {
                let ev = Event::from_plain(f.body.as_deref().unwrap()).unwrap();
                assert_eq!(ev.name(), "CUSTOM");
                let is_turn = ev.get("Event-Subclass") == Some("aicall::call")
                    && ev.get("Aicall-Event") == Some("turn")
                    && ev.get("Aicall-Speaker") == Some("callee");
                events.push(ev.clone());
                if is_turn {
                    break ev;
                }
            }
            other => panic!("unexpected frame {other:?}"),
        }
    };
    let uuid = turn.get("Aicall-Uuid").expect("the call's uuid").to_owned();
    assert!(
        turn.get("Aicall-Text").is_some_and(|t| !t.is_empty()),
        "{turn:?}"
    );
    assert!(turn.get("Aicall-Intent").is_some(), "{turn:?}");
    assert!(
        events
            .iter()
            .any(|e| e.get("Event-Subclass") == Some("aicall::call")
                && e.get("Aicall-Event") == Some("answered")),
        "answered events come first"
    );
    assert!(logs > 0, "`log info` streams aicall's log");

    // The live calls, masked.
    let calls = c.api("aicall calls").await;
    assert!(calls.starts_with("uuid,campaign,callee,state"), "{calls}");
    assert!(calls.contains("spring"), "{calls}");
    let call = c.api(&format!("aicall call {}", &uuid[..8])).await;
    assert!(call.contains("callee"), "{call}");

    // Listen in: the supervisor's leg hears the call.
    let dial = format!("loopback/{SUPERVISOR}/default");
    let r = c.api(&format!("aicall listen {uuid} {dial}")).await;
    assert!(r.starts_with("+OK listen"), "{r}");
    let leg = r.split_whitespace().last().unwrap().to_owned();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let heard = sim.recording(&leg).map(|r| r.heard).unwrap_or_default();
    let loud = heard.iter().map(|s| s.saturating_abs()).max().unwrap_or(0);
    assert!(
        heard.len() >= 8000,
        "the supervisor's leg heard {} samples",
        heard.len()
    );
    assert!(loud > 1000, "the supervisor hears the call (peak {loud})");
    let r = c.api("aicall whisper nosuchcall user/1000").await;
    assert!(r.starts_with("-ERR no live call"), "{r}");

    // Pause: no originate after the acknowledgement.
    let r = c.api("aicall campaign pause spring").await;
    assert_eq!(r, "+OK campaign spring paused\n");
    let at_pause = sim
        .originates()
        .iter()
        .filter(|o| !o.dial.contains(SUPERVISOR))
        .count();
    tokio::time::sleep(Duration::from_secs(4)).await;
    let later = sim
        .originates()
        .iter()
        .filter(|o| !o.dial.contains(SUPERVISOR))
        .count();
    assert_eq!(later, at_pause, "originated after the console's pause");
    let campaigns = c.api("aicall campaigns").await;
    assert!(campaigns.contains("spring,paused"), "{campaigns}");
    // The campaign's counters arrive every second.
    let mut counters = 0;
    let until = Instant::now() + Duration::from_secs(4);
    while Instant::now() < until {
        if let Some(f) = c.frame(Duration::from_millis(500)).await {
            if f.content_type() == Some("text/event-plain") {
                let ev = Event::from_plain(f.body.as_deref().unwrap()).unwrap();
                if ev.get("Event-Subclass") == Some("aicall::campaign") {
                    counters += 1;
                }
            }
        }
    }
    assert!(
        counters >= 2,
        "campaign counters every second: {counters} in 4 s"
    );

    // Bad commands: FreeSWITCH's -ERR, with the usage.
    let r = c.api("aicall campaign pace spring speed=9").await;
    assert!(r.starts_with("-USAGE"), "{r}");
    let r = c.api("aicall frobnicate").await;
    assert!(
        r.starts_with("-ERR unknown aicall command") && r.contains("aicall status"),
        "{r}"
    );
    let r = c.api("nosuch").await;
    assert_eq!(r, "-ERR nosuch Command not found!\n");

    // No full phone number anywhere the console sent.
    for e in &events {
        let text = format!("{:?}", e.headers);
        for i in 0..n {
            assert!(
                !text.contains(&number(i)),
                "a full number in an event: {text}"
            );
        }
    }
    for i in 0..n {
        assert!(
            !calls.contains(&number(i)),
            "a full number in `aicall calls`"
        );
    }
    drop(serve);
    sim.stop().await;
}
