//! `aicall demo`: a small outbound campaign through the real ESL client and `unicast` media,
//! against the built-in switch simulator (or a real FreeSWITCH with `--esl`).
//!
//! Today it shows the telephony layer end to end: originate by `bgapi` for several callee
//! outcomes, channel events, a parked call's audio streamed both ways, the bot's prompt
//! paced at 20 ms, the callee's reply detected on the stream, and hangup causes. The
//! conversation itself (ASR, intent, script) joins as those modules land.

use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;

use crate::config::Config;
use crate::esl::{ClientEvent, EslClient, EventKind, HangupCause};
use crate::pii::Pii;
use crate::sim::{Callee, Outcome, Scenarios, SimConfig, SimSwitch, Step};

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// A real FreeSWITCH's event socket; without it the built-in simulator is used.
    #[arg(long)]
    pub esl: Option<String>,
    #[arg(long, default_value = "ClueCon")]
    pub password: String,
    /// Dial string template; `${phone}` is replaced by the contact's number.
    #[arg(long, default_value = "sofia/gateway/demo/${phone}")]
    pub dial: String,
    /// Address FreeSWITCH can reach aicall's media sockets on.
    #[arg(long, default_value = "127.0.0.1")]
    pub media_ip: String,
}

struct Contact {
    phone: &'static str,
    outcome: Outcome,
    says: &'static str,
}

const CONTACTS: &[Contact] = &[
    Contact {
        phone: "13800000001",
        outcome: Outcome::Answer,
        says: "replies after the prompt",
    },
    Contact {
        phone: "13800000002",
        outcome: Outcome::Busy,
        says: "line busy",
    },
    Contact {
        phone: "13800000003",
        outcome: Outcome::NoAnswer,
        says: "never picks up",
    },
    Contact {
        phone: "13800000004",
        outcome: Outcome::Answer,
        says: "talks over the prompt",
    },
    Contact {
        phone: "13800000005",
        outcome: Outcome::Unallocated,
        says: "number does not exist",
    },
    Contact {
        phone: "13800000006",
        outcome: Outcome::Rejected,
        says: "rejects the call",
    },
];

/// Writes a speech-like test signal (voiced harmonics with a syllable-rate envelope).
fn write_signal(path: &Path, seconds: f32, pitch: f32) -> anyhow::Result<()> {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 8000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec)?;
    let n = (seconds * 8000.0) as usize;
    for i in 0..n {
        let t = i as f32 / 8000.0;
        let envelope = (std::f32::consts::PI * 4.0 * t).sin().abs();
        let voiced: f32 = (1..5)
            .map(|h| (std::f32::consts::TAU * pitch * h as f32 * t).sin() / h as f32)
            .sum();
        w.write_sample((voiced * envelope * 6000.0) as i16)?;
    }
    w.finalize()?;
    Ok(())
}

fn scenarios(dir: &Path) -> anyhow::Result<Scenarios> {
    let reply = dir.join("callee-reply.wav");
    write_signal(&reply, 1.5, 180.0)?;
    let mut s = Scenarios::default();
    for (i, c) in CONTACTS.iter().enumerate() {
        let script = match i {
            0 => vec![
                Step::WaitBotAudio(5000),
                Step::WaitBotSilenceMs(500),
                Step::Say(reply.clone()),
                Step::SilenceMs(800),
                Step::Hangup("NORMAL_CLEARING".into()),
            ],
            3 => vec![
                Step::WaitBotAudio(5000),
                Step::SilenceMs(600),
                Step::Say(reply.clone()),
                Step::Hangup("NORMAL_CLEARING".into()),
            ],
            _ => vec![],
        };
        s.insert(Callee {
            number: Some(c.phone.into()),
            name: None,
            outcome: Some(c.outcome),
            ring_ms: Some(300 + 200 * i as u64),
            rate: Some(8000),
            script,
            max_call_ms: Some(20_000),
        });
    }
    Ok(s)
}

struct CallReport {
    phone: String,
    says: &'static str,
    result: String,
    prompt_frames: usize,
    callee_frames: usize,
    reply_at_ms: Option<u64>,
    cause: Option<HangupCause>,
}

pub fn run(config: Option<&Path>, args: DemoArgs) -> anyhow::Result<ExitCode> {
    let cfg = Config::load(config)?;
    crate::logging::init(&cfg.log.level, cfg.log.format);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let dir = tempfile_dir()?;
        let (sim, addr) = match &args.esl {
            Some(addr) => (None, addr.clone()),
            None => {
                let sim = SimSwitch::start(SimConfig {
                    scenarios: scenarios(&dir)?,
                    ..SimConfig::default()
                })
                .await
                .context("starting the switch simulator")?;
                let addr = sim.addr().to_string();
                println!("switch simulator (FreeSWITCH 1.10 behaviour) on {addr}");
                (Some(sim), addr)
            }
        };
        let mut client_cfg = cfg.esl.client(&addr);
        client_cfg.password = args.password.clone();
        let (client, mut events) = EslClient::connect(client_cfg).await?;
        println!(
            "{}",
            client.api_ok("status").await?.lines().nth(1).unwrap_or("")
        );
        client
            .subscribe(&["CHANNEL_ANSWER", "CHANNEL_HANGUP_COMPLETE"])
            .await?;
        let prompt_path = dir.join("bot-prompt.wav");
        write_signal(&prompt_path, 2.5, 120.0)?;
        let prompt = crate::sim::load_wav_mono(&prompt_path, 8000).map_err(anyhow::Error::msg)?;

        let mut calls = Vec::new();
        for c in CONTACTS {
            let client = client.clone();
            let dial = args.dial.replace("${phone}", c.phone);
            let media_ip = args.media_ip.clone();
            let prompt = prompt.clone();
            calls.push(tokio::spawn(async move {
                run_call(&client, c, &dial, &media_ip, &prompt).await
            }));
        }
        let mut reports = Vec::new();
        for call in calls {
            reports.push(call.await.context("call task")??);
        }
        // Hangup causes from the events.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
        while let Ok(Some(ev)) = tokio::time::timeout_at(deadline, events.recv()).await {
            if let ClientEvent::Event(ev) = ev {
                if let EventKind::ChannelHangupComplete { cause, .. } = ev.kind() {
                    let dest = ev.get("Caller-Destination-Number").unwrap_or("");
                    if let Some(r) = reports.iter_mut().find(|r| r.phone == dest) {
                        r.cause = Some(cause);
                    }
                }
            }
            if reports.iter().all(|r| r.cause.is_some()) {
                break;
            }
        }
        println!();
        println!(
            "{:<15} {:<24} {:<22} {:>7} {:>7} {:>9}  hangup",
            "callee", "scenario", "originate", "prompt", "callee", "reply_ms"
        );
        for r in &reports {
            println!(
                "{:<15} {:<24} {:<22} {:>7} {:>7} {:>9}  {}",
                Pii(&r.phone).to_string(),
                r.says,
                r.result,
                r.prompt_frames,
                r.callee_frames,
                r.reply_at_ms.map_or("-".into(), |v| v.to_string()),
                r.cause.map_or("-", |c| c.name()),
            );
        }
        let answered = reports
            .iter()
            .filter(|r| r.result.starts_with("+OK"))
            .count();
        println!();
        println!(
            "calls={} answered={} failed={}",
            reports.len(),
            answered,
            reports.len() - answered
        );
        client.close().await;
        if let Some(sim) = sim {
            sim.stop().await;
        }
        let _ = std::fs::remove_dir_all(&dir);
        Ok(ExitCode::SUCCESS)
    })
}

fn tempfile_dir() -> anyhow::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("aicall-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}

/// One call: originate, then for an answered call stream the prompt out and listen.
async fn run_call(
    client: &EslClient,
    contact: &Contact,
    dial: &str,
    media_ip: &str,
    prompt: &[i16],
) -> anyhow::Result<CallReport> {
    let uuid = uuid::Uuid::new_v4().to_string();
    let mut report = CallReport {
        phone: contact.phone.to_owned(),
        says: contact.says,
        result: String::new(),
        prompt_frames: 0,
        callee_frames: 0,
        reply_at_ms: None,
        cause: None,
    };
    let job = client
        .bgapi(&format!(
            "originate {{origination_uuid={uuid},originate_timeout=3}}{dial} &park()"
        ))
        .await?;
    let result = job.wait(Duration::from_secs(30)).await?;
    report.result = if result.ok {
        "+OK answered".into()
    } else {
        result.body.clone()
    };
    if !result.ok {
        return Ok(report);
    }
    // aicall's media socket, and a port on the switch's side for unicast to bind.
    let ours = UdpSocket::bind((media_ip, 0)).context("binding the media socket")?;
    ours.set_read_timeout(Some(Duration::from_millis(4)))?;
    let switch_side: SocketAddr = {
        let probe = UdpSocket::bind((media_ip, 0))?;
        probe.local_addr()?
    };
    client
        .unicast(&uuid, switch_side, ours.local_addr()?)
        .await?;
    let started = Instant::now();
    let media = tokio::task::spawn_blocking({
        let prompt = prompt.to_vec();
        move || exchange_audio(ours, switch_side, &prompt, started)
    });
    let (sent, received, reply) = media.await.context("media task")?;
    report.prompt_frames = sent;
    report.callee_frames = received;
    report.reply_at_ms = reply;
    let _ = client.hangup(&uuid, "NORMAL_CLEARING").await;
    Ok(report)
}

/// Sends the prompt at one frame per 20 ms while reading the callee's stream, until the
/// stream stops (the callee hung up) or ten seconds pass. Returns frames sent, frames
/// received, and when the callee's voice was first heard after the prompt began.
fn exchange_audio(
    sock: UdpSocket,
    switch_side: SocketAddr,
    prompt: &[i16],
    started: Instant,
) -> (usize, usize, Option<u64>) {
    let mut sent = 0;
    let mut received = 0;
    let mut reply = None;
    let mut last_rx = Instant::now();
    let mut buf = [0u8; 2048];
    let mut out = [0u8; 320];
    let mut frames = prompt.chunks(160);
    while started.elapsed() < Duration::from_secs(10) {
        let due = started + Duration::from_millis(20 * sent as u64);
        if Instant::now() >= due {
            if let Some(f) = frames.next() {
                for (k, s) in f.iter().enumerate() {
                    out[2 * k..2 * k + 2].copy_from_slice(&s.to_le_bytes());
                }
                let _ = sock.send_to(&out[..f.len() * 2], switch_side);
                sent += 1;
            }
        }
        match sock.recv_from(&mut buf) {
            Ok((n, _)) => {
                received += 1;
                last_rx = Instant::now();
                let peak = buf[..n]
                    .chunks_exact(2)
                    .map(|b| i16::from_le_bytes([b[0], b[1]]).unsigned_abs())
                    .max()
                    .unwrap_or(0);
                if peak > 1500 && reply.is_none() {
                    reply = Some(started.elapsed().as_millis() as u64);
                }
            }
            Err(_) if last_rx.elapsed() > Duration::from_millis(600) && received > 0 => break,
            Err(_) => {}
        }
    }
    (sent, received, reply)
}
