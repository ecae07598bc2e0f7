//! The media load benchmark behind `aicall media bench` (and `aicall bench media`): N
//! simulated full-duplex calls on loopback against the switch simulator. Every call streams
//! the callee's audio in and a queue of real prompts out for S seconds; near the end the
//! callee speaks (a real WAV), barges in, and the prompt must stop.
//!
//! Figures: prompt-frame lateness against the 20 ms grid (p99 = "tx jitter"), frames lost in
//! both directions (callee frames FreeSWITCH sent that never arrived, prompt frames the far
//! end dropped for arriving early in a burst, sends that failed), and barge-in latency =
//! callee speech onset (the `say` start on the simulator's timeline plus the WAV's own
//! leading silence) → the last prompt datagram the simulator received.
//!
//! `AICALL_BENCH_DEBUG=1` prints each barge-in and each call whose latency could not be
//! measured, with the simulator's timeline, to standard error.
//!
//! Depends on [`aicall::esl`] and [`aicall::sim`] (the peers) and the engine itself.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;

use aicall::esl::{ClientConfig, EslClient, EslError};
use aicall::media::metrics::Histogram;
use aicall::media::prompt::{load_wav, Prompt, PromptError};
use aicall::media::vad::dbfs;
use aicall::media::{MediaConfig, MediaEngine, MediaError, MediaEvent, MetricsSnapshot};
use aicall::sim::{Callee, Outcome, Scenarios, SimConfig, SimSwitch, Step};

/// Benchmark settings.
#[derive(Clone, Debug)]
pub struct BenchOptions {
    pub calls: usize,
    pub seconds: u64,
    /// Channel rate of the simulated calls (8000 or 16000).
    pub rate: u32,
    /// The bot's prompt and the callee's reply.
    pub prompt: PathBuf,
    pub reply: PathBuf,
    /// Calls set up at once.
    pub ramp_concurrency: usize,
}

impl BenchOptions {
    /// Defaults for `calls` calls of `seconds` with this prompt and reply.
    pub fn new(calls: usize, seconds: u64, prompt: &Path, reply: &Path) -> Self {
        Self {
            calls,
            seconds,
            rate: 8000,
            prompt: prompt.to_path_buf(),
            reply: reply.to_path_buf(),
            ramp_concurrency: 50,
        }
    }
}

/// Errors of the benchmark.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("bench needs --seconds of at least 6 (the callee barges in 3 s before the end)")]
    TooShort,
    #[error("cannot start the switch simulator: {0}")]
    Sim(std::io::Error),
    #[error(transparent)]
    Esl(#[from] EslError),
    #[error(transparent)]
    Media(#[from] MediaError),
    #[error(transparent)]
    Prompt(#[from] PromptError),
    #[error("no call was answered: {0}")]
    NoCalls(String),
}

/// What the benchmark measured.
#[derive(Clone, Debug)]
pub struct BenchReport {
    pub calls: usize,
    pub answered: usize,
    pub seconds: u64,
    pub tx_jitter_p99_ms: f64,
    /// Callee frames that did not reach aicall.
    pub lost_in: u64,
    /// Prompt frames the far end dropped or that could not be sent.
    pub lost_out: u64,
    pub barge_ins: usize,
    pub barge_in_p50_ms: f64,
    pub barge_in_p95_ms: f64,
    /// Calls whose prompt had stopped before the callee spoke (latency not measurable).
    pub barge_in_missing: usize,
    /// Calls hung up before the simulated callee spoke.
    pub callee_silent: usize,
    pub metrics: MetricsSnapshot,
    pub cpu_seconds: f64,
}

impl BenchReport {
    pub fn lost_frames(&self) -> u64 {
        self.lost_in + self.lost_out
    }

    /// The summary line `aicall bench media` prints last.
    pub fn summary_line(&self) -> String {
        format!(
            "calls={} tx_jitter_p99_ms={:.2} lost_frames={} bargein_p95_ms={:.1}",
            self.calls,
            self.tx_jitter_p99_ms,
            self.lost_frames(),
            self.barge_in_p95_ms
        )
    }
}

/// Where speech starts inside a WAV (first 20 ms frame above -45 dBFS), in ms.
fn speech_onset_in(prompt: &Prompt) -> f64 {
    let spf = (prompt.rate() / 50) as usize;
    prompt
        .samples()
        .chunks(spf)
        .position(|f| dbfs(f) > -45.0)
        .map_or(0.0, |k| k as f64 * 20.0)
}

fn process_cpu_seconds() -> f64 {
    // utime + stime from /proc/self/stat (Linux); 0 elsewhere.
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    let after = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

/// Runs the benchmark on the current tokio runtime.
pub async fn run(opts: BenchOptions) -> Result<BenchReport, BenchError> {
    if opts.seconds < 6 {
        return Err(BenchError::TooShort);
    }
    let reply = load_wav(&opts.reply, opts.rate)?;
    let reply_onset_ms = speech_onset_in(&reply);
    let mut scenarios = Scenarios::default();
    scenarios.insert(Callee {
        number: None,
        name: Some("bench".into()),
        outcome: Some(Outcome::Answer),
        ring_ms: Some(100),
        rate: Some(opts.rate),
        script: vec![
            Step::WaitBotAudio(5000),
            Step::SilenceMs(opts.seconds * 1000 - 3000),
            Step::Say(opts.reply.clone()),
        ],
        max_call_ms: Some(opts.seconds * 1000 + 30_000),
        early: Vec::new(),
    });
    // The simulator plays FreeSWITCH, a separate process in production: it gets its own
    // runtime thread, so its work (it loads and resamples a WAV on the reactor when a callee
    // speaks) cannot stall the engine's pacing and be mistaken for the engine's jitter.
    let sim_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("sim")
        .enable_all()
        .build()
        .map_err(BenchError::Sim)?;
    let sim = sim_rt
        .spawn(SimSwitch::start(SimConfig {
            scenarios,
            record_audio: false,
            ..SimConfig::default()
        }))
        .await
        .map_err(|e| BenchError::Sim(std::io::Error::other(e.to_string())))?
        .map_err(BenchError::Sim)?;
    let (esl, _events) = EslClient::connect(ClientConfig {
        addr: sim.addr().to_string(),
        command_timeout: Duration::from_secs(30),
        ..ClientConfig::default()
    })
    .await?;
    let count = (opts.calls + 16).min(4000) as u16;
    let engine = Arc::new(MediaEngine::new(MediaConfig {
        port_first: 20_000,
        switch_port_first: 25_000,
        port_count: count,
        max_queue: 64,
        first_frame_ms: 5000,
        dead_after_ms: 5000,
        ..MediaConfig::default()
    })?);
    let prompt = engine.prompts().get(&opts.prompt, opts.rate)?;
    let esl = Arc::new(esl);
    let gate = Arc::new(Semaphore::new(opts.ramp_concurrency.max(1)));
    let cpu0 = process_cpu_seconds();
    let wall0 = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..opts.calls {
        let (esl, engine, gate, prompt) =
            (esl.clone(), engine.clone(), gate.clone(), prompt.clone());
        let seconds = opts.seconds;
        tasks.push(tokio::spawn(async move {
            let uuid = format!("bench-{i:05}-{}", uuid::Uuid::new_v4().simple());
            let media = {
                // The permit only paces the set-up; the call then runs on its own.
                let _permit = gate.acquire().await;
                let job = esl
                    .bgapi(&format!(
                        "originate {{origination_uuid={uuid},sim_scenario=bench}}sofia/gateway/sim/1380000{i:04} &park()"
                    ))
                    .await
                    .map_err(|e| e.to_string())?;
                let r = job
                    .wait(Duration::from_secs(30))
                    .await
                    .map_err(|e| e.to_string())?;
                if !r.ok {
                    return Err(r.body);
                }
                let opened = engine
                    .open(&uuid, prompt.rate())
                    .await
                    .map_err(|e| e.to_string())?;
                esl.unicast(&uuid, opened.media.switch_addr(), opened.media.local_addr())
                    .await
                    .map_err(|e| e.to_string())?;
                opened
            };
            let aicall::media::OpenedMedia {
                media,
                events: mut rx,
                speech: _speech,
            } = media;
            let reps = (seconds * 1000 / prompt.duration().as_millis().max(1) as u64 + 1).min(60);
            for k in 0..reps {
                if media.play(k, prompt.clone(), true).await.is_err() {
                    break;
                }
            }
            let deadline = tokio::time::Instant::now() + Duration::from_secs(seconds + 1);
            let mut barged = false;
            while let Ok(Some(ev)) = tokio::time::timeout_at(deadline, rx.recv()).await {
                if let MediaEvent::BargeIn(b) = &ev {
                    barged = true;
                    if std::env::var_os("AICALL_BENCH_DEBUG").is_some() {
                        eprintln!("{uuid}: barge-in {b:?}");
                    }
                }
            }
            let _ = esl.hangup(&uuid, "NORMAL_CLEARING").await;
            // Let the last datagrams land before counting.
            tokio::time::sleep(Duration::from_millis(200)).await;
            let report = media.close().await;
            Ok::<_, String>((uuid, report, barged))
        }));
    }
    let mut finished = Vec::new();
    let mut first_error = None;
    for t in tasks {
        match t.await {
            Ok(Ok(x)) => finished.push(x),
            Ok(Err(e)) => {
                first_error.get_or_insert(e);
            }
            Err(e) => {
                first_error.get_or_insert(e.to_string());
            }
        }
    }
    let cpu = process_cpu_seconds() - cpu0;
    let _wall = wall0.elapsed();
    if finished.is_empty() {
        return Err(BenchError::NoCalls(first_error.unwrap_or_default()));
    }
    let mut lost_in = 0u64;
    let mut lost_out = 0u64;
    let mut barge = Histogram::default();
    let mut missing = 0;
    let mut no_speech = 0;
    for (uuid, report, _barged) in &finished {
        let Some(rec) = sim.recording(uuid) else {
            continue;
        };
        let received = report.as_ref().map_or(0, |r| r.ingress.frames);
        lost_in += rec.tx_frames.saturating_sub(received);
        lost_out += rec.rx_dropped;
        let onset = rec
            .callee_speech
            .first()
            .map(|s| s.start_ms + reply_onset_ms);
        match (onset, rec.last_rx_ms) {
            (Some(on), Some(last)) if last >= on => {
                barge.record(Duration::from_secs_f64((last - on) / 1000.0));
            }
            (None, _) => no_speech += 1,
            (on, last) => {
                if std::env::var_os("AICALL_BENCH_DEBUG").is_some() {
                    eprintln!("{uuid}: onset {on:?} last prompt datagram {last:?} speech {:?} first bot voice {:?} unicast {:?}", rec.callee_speech, rec.first_bot_voice_ms, rec.unicast_started_ms);
                }
                missing += 1
            }
        }
    }
    let metrics = engine.metrics().snapshot();
    lost_out += metrics.tx_failed;
    let _ = sim_rt.spawn(sim.stop()).await;
    sim_rt.shutdown_background();
    Ok(BenchReport {
        calls: opts.calls,
        answered: finished.len(),
        seconds: opts.seconds,
        tx_jitter_p99_ms: metrics.tx_late_p99_ms,
        lost_in,
        lost_out,
        barge_ins: barge.count() as usize,
        barge_in_p50_ms: barge.quantile_ms(0.5),
        barge_in_p95_ms: barge.quantile_ms(0.95),
        barge_in_missing: missing,
        callee_silent: no_speech,
        metrics,
        cpu_seconds: cpu,
    })
}
