//! The media engine against the switch simulator on 127.0.0.1: prompts heard frame for frame
//! at 8 and 16 kHz, barge-in 1.5 s into a 4 s prompt, VAD segments with known regions on the
//! speech the set-up renders and on real recordings, bad datagrams, and ports released on every
//! way a call can end.

mod common;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;

use aicall::esl::{ClientConfig, ClientEvent, EslClient, EventKind, EventStream};
use aicall::media::analysis::Analyzer;
use aicall::media::vad::VadEvent;
use aicall::media::{CallMedia, MediaConfig, MediaEngine, MediaEvent, SpeechSegment, VadConfig};
use aicall::sim::{Callee, Outcome, Scenarios, SimConfig, SimSwitch, Step};

/// A clip the set-up rendered (16 kHz 16-bit mono, ~150 ms of silence at each end).
fn speech(rel: &str) -> PathBuf {
    common::rendered(&format!("speech/{rel}"))
}

/// The bot's prompt the tests play: 6 s, so a barge-in 1.5 s in interrupts it.
const PROMPT: &str = "prompts/price_answer.wav";
/// The callee's reply that barges in.
const REPLY: &str = "callee/ask_price.wav";

/// Distinct port ranges per test: tests in this file run in parallel.
fn media_config() -> MediaConfig {
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    MediaConfig {
        port_first: 46_000 + n * 40,
        switch_port_first: 46_020 + n * 40,
        port_count: 20,
        first_frame_ms: 1500,
        dead_after_ms: 800,
        analysis_workers: 1,
        // With the second detector built in, every call runs it (set-up fetched the model).
        silero_model: cfg!(feature = "silero").then(silero_model),
        ..MediaConfig::default()
    }
}

fn silero_model() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("models/silero/silero_vad.onnx")
}

fn callee(name: &str, rate: u32, outcome: Outcome, script: Vec<Step>) -> Callee {
    Callee {
        number: None,
        name: Some(name.into()),
        outcome: Some(outcome),
        ring_ms: Some(150),
        rate: Some(rate),
        script,
        max_call_ms: Some(60_000),
        early: Vec::new(),
    }
}

struct Rig {
    sim: Option<SimSwitch>,
    esl: EslClient,
    events: EventStream,
    engine: MediaEngine,
}

async fn rig(callees: Vec<Callee>) -> Rig {
    let mut scenarios = Scenarios::default();
    for c in callees {
        scenarios.insert(c);
    }
    let sim = SimSwitch::start(SimConfig {
        scenarios,
        ..SimConfig::default()
    })
    .await
    .expect("simulator starts");
    let (esl, events) = EslClient::connect(ClientConfig {
        addr: sim.addr().to_string(),
        ..ClientConfig::default()
    })
    .await
    .expect("ESL connects");
    esl.subscribe(&["CHANNEL_ANSWER", "CHANNEL_PARK", "CHANNEL_HANGUP"])
        .await
        .expect("subscribed");
    let engine = MediaEngine::new(media_config()).expect("engine starts");
    Rig {
        sim: Some(sim),
        esl,
        events,
        engine,
    }
}

impl Rig {
    fn sim(&self) -> &SimSwitch {
        self.sim.as_ref().expect("simulator running")
    }

    /// Opens a call's media and, as the call driver does, tells the switch to stream.
    async fn open(
        &self,
        uuid: &str,
        rate: u32,
    ) -> Result<
        (
            CallMedia,
            tokio::sync::mpsc::UnboundedReceiver<MediaEvent>,
            tokio::sync::mpsc::UnboundedReceiver<VadEvent>,
        ),
        String,
    > {
        let opened = self
            .engine
            .open(uuid, rate)
            .await
            .map_err(|e| e.to_string())?;
        if let Err(e) = self
            .esl
            .unicast(uuid, opened.media.switch_addr(), opened.media.local_addr())
            .await
        {
            opened.media.close().await;
            return Err(format!("unicast: {e}"));
        }
        Ok((opened.media, opened.events, opened.speech))
    }

    /// Originates to a scenario; on answer returns the channel rate FreeSWITCH announced.
    async fn call(&mut self, uuid: &str, scenario: &str) -> Result<u32, String> {
        let job = self
            .esl
            .bgapi(&format!(
                "originate {{origination_uuid={uuid},sim_scenario={scenario}}}sofia/gateway/sim/13800138000 &park()"
            ))
            .await
            .map_err(|e| e.to_string())?;
        let result = job
            .wait(Duration::from_secs(10))
            .await
            .map_err(|e| e.to_string())?;
        if !result.ok {
            return Err(result.body);
        }
        // The answer gives the rate; media can start once the `&park()` runs (FreeSWITCH
        // takes `unicast` in the park loop only), which the job's reply does not wait for.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        let (mut rate, mut parked) = (None, false);
        loop {
            let ev = tokio::time::timeout_at(deadline, self.events.recv())
                .await
                .map_err(|_| format!("answered at {rate:?}, parked {parked}"))?;
            if let Some(ClientEvent::Event(ev)) = ev {
                if ev.unique_id() != Some(uuid) {
                    continue;
                }
                match ev.kind() {
                    EventKind::ChannelAnswer => {
                        let r = ev.get("Channel-Read-Codec-Rate").unwrap_or("");
                        rate = Some(r.parse().map_err(|_| format!("rate {r:?}"))?);
                    }
                    EventKind::ChannelPark => parked = true,
                    _ => {}
                }
                if let (Some(rate), true) = (rate, parked) {
                    return Ok(rate);
                }
            }
        }
    }
}

async fn next_event(
    rx: &mut tokio::sync::mpsc::UnboundedReceiver<MediaEvent>,
    within: Duration,
    mut want: impl FnMut(&MediaEvent) -> bool,
    seen: &mut Vec<MediaEvent>,
) -> Option<MediaEvent> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(ev)) => {
                seen.push(ev.clone());
                if want(&ev) {
                    return Some(ev);
                }
            }
            _ => return None,
        }
    }
}

/// Frames of `prompt` found, in order, in `heard` (exact 20 ms frames; the simulator plays
/// back exactly what it receives).
fn frames_heard_in_order(heard: &[i16], prompt: &[i16], spf: usize) -> (usize, usize) {
    let total = prompt.len() / spf;
    let mut found = 0;
    let mut at = 0;
    for k in 0..total {
        let frame = &prompt[k * spf..(k + 1) * spf];
        if frame.iter().all(|&s| s == 0) {
            found += 1;
            continue;
        }
        let window_end = heard.len().saturating_sub(spf);
        if let Some(off) = (at..=window_end)
            .step_by(spf)
            .find(|&o| &heard[o..o + spf] == frame)
        {
            found += 1;
            at = off + spf;
        }
    }
    (found, total)
}

fn snr_db(reference: &[f32], test: &[f32]) -> f64 {
    let n = reference.len().min(test.len());
    let sig: f64 = reference[..n].iter().map(|&x| (x as f64).powi(2)).sum();
    let err: f64 = reference[..n]
        .iter()
        .zip(&test[..n])
        .map(|(&a, &b)| ((a - b) as f64).powi(2))
        .sum();
    10.0 * (sig / err.max(1e-12)).log10()
}

async fn whole_prompt_is_heard(rate: u32) {
    let mut rig = rig(vec![callee("listener", rate, Outcome::Answer, vec![])]).await;
    let uuid = format!("heard-{rate}");
    let announced = rig.call(&uuid, "listener").await.expect("answered");
    assert_eq!(announced, rate);
    let (media, mut rx, _speech) = rig.open(&uuid, announced).await.expect("media starts");
    let path = speech(PROMPT);
    let prompt = rig
        .engine
        .prompts()
        .get(&path, announced)
        .expect("prompt loads");
    media.play(1, prompt.clone(), false).await.expect("queued");
    let mut seen = Vec::new();
    let finished = next_event(
        &mut rx,
        Duration::from_secs(15),
        |e| matches!(e, MediaEvent::PromptFinished { .. }),
        &mut seen,
    )
    .await;
    assert!(
        matches!(finished, Some(MediaEvent::PromptFinished { id: 1, played_ms }) if played_ms + 20 >= prompt.duration().as_millis() as u32),
        "{seen:?}"
    );
    assert!(seen
        .iter()
        .any(|e| matches!(e, MediaEvent::StreamStarted { .. })));
    tokio::time::sleep(Duration::from_millis(200)).await;
    rig.esl
        .hangup(&uuid, "NORMAL_CLEARING")
        .await
        .expect("hangup");
    let report = media.close().await.expect("report");
    assert!(report.ingress.frames > 150, "{report:?}");
    assert_eq!(report.ingress.unknown_source, 0);
    assert_eq!(rig.engine.ports_in_use(), 0);

    let rec = rig.sim().recording(&uuid).expect("recording");
    let spf = (rate / 50) as usize;
    let (found, total) = frames_heard_in_order(&rec.heard, prompt.samples(), spf);
    eprintln!(
        "{rate} Hz: {found}/{total} prompt frames heard exactly, sim dropped {}, tx p99 late {:.2} ms",
        rec.rx_dropped, report.tx_late_p99_ms
    );
    assert!(
        found * 100 >= total * 98,
        "only {found} of {total} frames heard in order"
    );
    // The conversion itself (rubato) agrees with an independent one (the simulator's).
    let independent = aicall::sim::load_wav_mono(&path, rate).expect("sim loads the WAV");
    let a: Vec<f32> = independent.iter().map(|&s| s as f32).collect();
    let b: Vec<f32> = prompt.samples().iter().map(|&s| s as f32).collect();
    let snr = snr_db(&a, &b);
    eprintln!("{rate} Hz: rubato vs simulator conversion SNR {snr:.1} dB");
    assert!(snr > 20.0, "SNR {snr:.1} dB");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callee_hears_the_whole_prompt_at_8k() {
    whole_prompt_is_heard(8000).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callee_hears_the_whole_prompt_at_16k() {
    whole_prompt_is_heard(16000).await;
}

async fn barge_in_stops_the_prompt(rate: u32) {
    let reply = speech(REPLY);
    let script = vec![
        Step::WaitBotAudio(5000),
        Step::SilenceMs(1500),
        Step::Say(reply),
    ];
    let mut rig = rig(vec![callee("barger", rate, Outcome::Answer, script)]).await;
    let uuid = format!("barge-{rate}");
    let rate = rig.call(&uuid, "barger").await.expect("answered");
    let (media, mut rx, mut utterances) = rig.open(&uuid, rate).await.expect("media");
    let prompt = rig
        .engine
        .prompts()
        .get(&speech(PROMPT), rate)
        .expect("prompt");
    assert!(prompt.duration() >= Duration::from_secs(4));
    media.play(7, prompt, true).await.expect("queued");
    let mut seen = Vec::new();
    let barge = next_event(
        &mut rx,
        Duration::from_secs(10),
        |e| matches!(e, MediaEvent::BargeIn(_)),
        &mut seen,
    )
    .await;
    let Some(MediaEvent::BargeIn(b)) = barge else {
        panic!("no barge-in: {seen:?}");
    };
    assert_eq!(b.prompt, 7);
    assert!(
        (1300..2600).contains(&b.played_ms),
        "interrupted at {} ms",
        b.played_ms
    );
    assert!(
        b.start.energy_dbfs > -50.0 && b.start.voiced_ms >= 60,
        "{b:?}"
    );
    let interrupted = next_event(
        &mut rx,
        Duration::from_secs(1),
        |e| matches!(e, MediaEvent::PromptInterrupted { .. }),
        &mut seen,
    )
    .await;
    assert!(
        matches!(
            interrupted,
            Some(MediaEvent::PromptInterrupted { id: 7, .. })
        ),
        "{seen:?}"
    );
    // The utterance comes out whole as a 16 kHz segment, on the speech channel (after the
    // start that caused the barge-in).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(6);
    let mut heard = Vec::new();
    let seg = loop {
        match tokio::time::timeout_at(deadline, utterances.recv()).await {
            Ok(Some(VadEvent::End(seg))) => break seg,
            Ok(Some(other)) => heard.push(other),
            _ => panic!("no speech end: {heard:?} {seen:?}"),
        }
    };
    assert!(
        matches!(heard.first(), Some(VadEvent::Start(_))),
        "the start reached the driver too: {heard:?}"
    );
    assert_eq!(seg.samples.len() as u64, seg.duration_ms() * 16);
    assert!(seg.voiced_ms >= 800, "{} ms voiced", seg.voiced_ms);
    if cfg!(feature = "silero") {
        let silero = seg.silero_speech_ms.expect("Silero ran on the segment");
        assert!(
            silero >= 600,
            "Silero heard {silero} ms of speech in {seg:?}"
        );
    }
    rig.esl
        .hangup(&uuid, "NORMAL_CLEARING")
        .await
        .expect("hangup");
    media.close().await.expect("report");

    let rec = rig.sim().recording(&uuid).expect("recording");
    let onset = rec.callee_speech.first().expect("callee spoke").start_ms;
    let last_prompt = rec
        .datagrams
        .iter()
        .filter(|d| d.voice)
        .map(|d| d.at_ms)
        .fold(0.0, f64::max);
    let stop_ms = last_prompt - onset;
    eprintln!(
        "{rate} Hz barge-in: onset {onset:.0} ms, last prompt frame at the callee {last_prompt:.0} ms \
         (+{stop_ms:.0} ms); aicall-side latency {:?}, detection {:?}",
        b.latency, b.detection
    );
    // Goal 120 ms (measured by `aicall media bench`); here a margin for a loaded machine.
    assert!(stop_ms < 400.0, "prompt ran {stop_ms:.0} ms past the onset");
    assert!(
        rec.first_bot_voice_ms.expect("bot spoke") < onset,
        "prompt was playing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn barge_in_stops_a_4s_prompt_at_8k() {
    barge_in_stops_the_prompt(8000).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn barge_in_stops_a_4s_prompt_at_16k() {
    barge_in_stops_the_prompt(16000).await;
}

/// Deterministic low-level line noise (zero mean, about -66 dBFS).
fn noise(n: usize, seed: &mut u32) -> Vec<i16> {
    (0..n)
        .map(|_| {
            *seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            ((*seed >> 16) % 33) as i16 - 16
        })
        .collect()
}

/// Runs utterances padded with known silence through the analysis path at `rate`; returns
/// the segments and the known speech regions (ms).
fn analyse_padded(rate: u32, files: &[PathBuf]) -> (Vec<SpeechSegment>, Vec<(u64, u64)>) {
    let mut seed = 7u32;
    let mut stream: Vec<i16> = noise(rate as usize, &mut seed); // 1 s lead-in
    let mut regions = Vec::new();
    for f in files {
        let wav = aicall::media::prompt::load_wav(f, rate).expect("speech WAV loads");
        let start = stream.len() as u64 * 1000 / rate as u64;
        stream.extend_from_slice(wav.samples());
        let end = stream.len() as u64 * 1000 / rate as u64;
        regions.push((start, end));
        stream.extend(noise(rate as usize * 2, &mut seed)); // 2 s gap
    }
    (analyse(rate, &stream), regions)
}

/// Runs a `rate` Hz stream through the analysis path; returns its segments.
fn analyse(rate: u32, stream: &[i16]) -> Vec<SpeechSegment> {
    let mut analyzer = Analyzer::new(rate, &VadConfig::default()).expect("analyzer");
    let spf = (rate / 50) as usize;
    let t0 = std::time::Instant::now();
    let mut segments = Vec::new();
    for (k, frame) in stream.chunks_exact(spf).enumerate() {
        analyzer
            .push(frame, t0 + Duration::from_millis(20 * k as u64), |a| {
                if let VadEvent::End(seg) = a.event {
                    segments.push(seg);
                }
            })
            .expect("analysed");
    }
    if let Some(VadEvent::End(seg)) = analyzer.flush() {
        segments.push(seg);
    }
    segments
}

/// Each utterance, padded with seconds of line noise, comes out as one segment that lies
/// inside its known region and covers most of it, at 8 and 16 kHz.
fn segments_match_regions(files: &[PathBuf]) {
    for rate in [8000, 16000] {
        let (segments, regions) = analyse_padded(rate, files);
        assert_eq!(
            segments.len(),
            regions.len(),
            "{rate} Hz: segments {:?} for regions {regions:?}",
            segments
                .iter()
                .map(|s| (s.speech_start_ms, s.speech_end_ms))
                .collect::<Vec<_>>()
        );
        for (seg, &(start, end)) in segments.iter().zip(&regions) {
            let (s, e) = (seg.speech_start_ms, seg.speech_end_ms);
            eprintln!("{rate} Hz: region {start}..{end} ms, speech found {s}..{e} ms");
            // Inside the region (100 ms of slack), covering most of it (the files carry
            // ~0.2 s of their own silence at each end).
            assert!(
                s + 100 >= start && e <= end + 100,
                "{s}..{e} outside {start}..{end}"
            );
            assert!(
                (e - s) * 100 >= (end - start) * 55,
                "{s}..{e} covers too little of {start}..{end}"
            );
            // The segment handed to the recogniser holds the whole speech, at 16 kHz.
            assert!(seg.start_ms <= s && seg.end_ms >= e);
            assert_eq!(seg.samples.len() as u64, (seg.end_ms - seg.start_ms) * 16);
            // Speech is never taken for a held tone.
            assert_eq!(
                seg.tone_ms, 0,
                "{rate} Hz: speech at {s}..{e} ms marked as tone"
            );
        }
    }
}

/// Held tones are not speech: a ringback (450 Hz, 1 s), a DTMF digit (697 + 1209 Hz,
/// 300 ms) and a voicemail beep (1000 Hz, 600 ms) over line noise either make no segment or
/// one marked as a tone that ends soon after the tone is recognised, while the reply after
/// them is a segment of speech with no tone in it.
#[test]
fn held_tones_are_not_speech() {
    for rate in [8000u32, 16000] {
        let tone = |freqs: &[f32], ms: usize, seed: &mut u32| -> Vec<i16> {
            let n = rate as usize * ms / 1000;
            let amp = 32768.0 * 10f32.powf(-15.0 / 20.0) / freqs.len() as f32;
            noise(n, seed)
                .into_iter()
                .enumerate()
                .map(|(i, hiss)| {
                    let t = i as f32 / rate as f32;
                    let v: f32 = freqs
                        .iter()
                        .map(|f| (2.0 * std::f32::consts::PI * f * t).sin() * amp)
                        .sum();
                    (v as i16).saturating_add(hiss)
                })
                .collect()
        };
        let mut seed = 11u32;
        let mut stream = noise(rate as usize, &mut seed);
        for (freqs, ms) in [
            (&[450.0][..], 1000),
            (&[697.0, 1209.0], 300),
            (&[1000.0], 600),
        ] {
            stream.extend(tone(freqs, ms, &mut seed));
            stream.extend(noise(rate as usize, &mut seed));
        }
        let reply_at = stream.len() as u64 * 1000 / rate as u64;
        let wav = aicall::media::prompt::load_wav(&speech(REPLY), rate).expect("speech WAV");
        stream.extend_from_slice(wav.samples());
        stream.extend(noise(rate as usize * 2, &mut seed));

        let segments = analyse(rate, &stream);
        let summary: Vec<_> = segments
            .iter()
            .map(|s| (s.speech_start_ms, s.voiced_ms, s.tone_ms))
            .collect();
        let (tones, speech): (Vec<_>, Vec<_>) = segments
            .iter()
            .partition(|s| s.speech_start_ms + 100 < reply_at);
        for t in &tones {
            assert!(
                t.is_tone(),
                "{rate} Hz: a tone taken for speech: {summary:?}"
            );
            assert!(
                t.voiced_ms <= 200,
                "{rate} Hz: a tone held a segment open: {summary:?}"
            );
        }
        assert_eq!(speech.len(), 1, "{rate} Hz: {summary:?}");
        assert!(
            !speech[0].is_tone() && speech[0].tone_ms == 0 && speech[0].voiced_ms >= 500,
            "{rate} Hz: {summary:?}"
        );
    }
}

#[test]
fn vad_segments_match_known_speech_regions() {
    segments_match_regions(&[
        speech("callee/affirm_ok.wav"),
        speech(REPLY),
        speech("callee/complaint.wav"),
        speech("callee/claim.wav"),
    ]);
}

/// The same on real people's speech, whose pauses and levels no voice synthesiser makes.
#[test]
fn vad_segments_match_known_regions_of_real_recordings() {
    let Some(recorded) = common::shared_data("speech/recorded/16k") else {
        return;
    };
    segments_match_regions(&[
        recorded.join("zh_aishell1_S0724W0121.wav"),
        recorded.join("zh_aishell1_S0764W0121.wav"),
    ]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreign_and_malformed_datagrams_do_not_disturb_the_call() {
    let mut rig = rig(vec![callee("quiet", 8000, Outcome::Answer, vec![])]).await;
    let rate = rig.call("junk-1", "quiet").await.expect("answered");
    let (media, mut rx, _speech) = rig.open("junk-1", rate).await.expect("media");
    let mut seen = Vec::new();
    next_event(
        &mut rx,
        // A bound, not a speed claim: the first datagram comes within a frame or two, but
        // the other tests of this file share the 2 cores (3 s once ran out under load).
        Duration::from_secs(15),
        |e| matches!(e, MediaEvent::StreamStarted { .. }),
        &mut seen,
    )
    .await
    .expect("stream started");
    let stranger = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    for len in [0usize, 1, 7, 320, 1500] {
        stranger
            .send_to(&vec![0x7f; len], media.local_addr())
            .expect("sent");
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!media.is_ended());
    rig.esl
        .hangup("junk-1", "NORMAL_CLEARING")
        .await
        .expect("hangup");
    let report = media.close().await.expect("report");
    assert_eq!(report.ingress.unknown_source, 5, "{report:?}");
    assert!(report.ingress.frames >= 20);
    assert_eq!(rig.engine.ports_in_use(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ports_are_released_on_every_way_a_call_ends() {
    let mut rig = rig(vec![
        callee("answer", 8000, Outcome::Answer, vec![]),
        callee("busy", 8000, Outcome::Busy, vec![]),
        callee("no-answer", 16000, Outcome::NoAnswer, vec![]),
        callee(
            "hangs-up",
            16000,
            Outcome::Answer,
            vec![Step::SilenceMs(400), Step::Hangup("NORMAL_CLEARING".into())],
        ),
    ])
    .await;

    // Busy and no answer: media reserved at originate time is given back.
    for (uuid, scenario) in [("p-busy", "busy"), ("p-noans", "no-answer")] {
        let prepared = rig.engine.prepare().await.expect("ports");
        assert_eq!(rig.engine.ports_in_use(), 1);
        let outcome = rig.call(uuid, scenario).await;
        assert!(outcome.is_err(), "{outcome:?}");
        drop(prepared);
        assert_eq!(rig.engine.ports_in_use(), 0, "{scenario}");
        // Starting media on a channel that no longer exists is an error, not a leak.
        let err = rig.open(uuid, 8000).await.expect_err("gone");
        assert!(err.starts_with("unicast"), "{err}");
        assert_eq!(rig.engine.ports_in_use(), 0);
    }

    // A rate FreeSWITCH did not announce is refused before anything is sent.
    let err = rig.open("x", 44_100).await.expect_err("rate");
    assert!(err.to_string().contains("44100"), "{err}");
    assert_eq!(rig.engine.ports_in_use(), 0);

    // The callee hangs up: the stream dies and the task frees its port by itself.
    let rate = rig
        .call("p-callee-hup", "hangs-up")
        .await
        .expect("answered");
    let (media, mut rx, _speech) = rig.open("p-callee-hup", rate).await.expect("media");
    let mut seen = Vec::new();
    let dead = next_event(
        &mut rx,
        Duration::from_secs(5),
        |e| matches!(e, MediaEvent::StreamDead { .. }),
        &mut seen,
    )
    .await;
    assert!(
        matches!(dead, Some(MediaEvent::StreamDead { .. })),
        "{seen:?}"
    );
    // What the call driver then asks the switch: the channel is gone.
    assert!(!rig
        .esl
        .exists("p-callee-hup")
        .await
        .expect("switch answers"));
    let report = media.close().await.expect("report");
    assert_eq!(report.reason, aicall::media::EndReason::StreamDead);
    assert_eq!(rig.engine.ports_in_use(), 0);

    // aicall hangs up and closes the media.
    let rate = rig.call("p-hup", "answer").await.expect("answered");
    let (media, _rx, _speech) = rig.open("p-hup", rate).await.expect("media");
    rig.esl
        .hangup("p-hup", "NORMAL_CLEARING")
        .await
        .expect("hangup");
    media.close().await.expect("report");
    assert_eq!(rig.engine.ports_in_use(), 0);

    // The driver drops its handle (a panicking call task, say).
    let rate = rig.call("p-drop", "answer").await.expect("answered");
    let (media, _rx, _speech) = rig.open("p-drop", rate).await.expect("media");
    drop(media);
    wait_ports_free(&rig.engine).await;

    // The switch dies under two live calls.
    let mut calls = Vec::new();
    for uuid in ["p-kill-1", "p-kill-2"] {
        let rate = rig.call(uuid, "answer").await.expect("answered");
        let (media, rx, _speech) = rig.open(uuid, rate).await.expect("media");
        calls.push((media, rx));
    }
    assert_eq!(rig.engine.ports_in_use(), 2);
    rig.sim.take().expect("running").stop().await;
    for (media, mut rx) in calls {
        let mut seen = Vec::new();
        let dead = next_event(
            &mut rx,
            Duration::from_secs(5),
            |e| matches!(e, MediaEvent::StreamDead { .. }),
            &mut seen,
        )
        .await;
        assert!(
            matches!(dead, Some(MediaEvent::StreamDead { .. })),
            "{seen:?}"
        );
        // FreeSWITCH cannot be asked: the driver takes the call as gone.
        assert!(rig.esl.exists("p-kill-1").await.is_err());
        media.close().await.expect("report");
    }
    assert_eq!(rig.engine.ports_in_use(), 0);
}

async fn wait_ports_free(engine: &MediaEngine) {
    for _ in 0..100 {
        if engine.ports_in_use() == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{} ports still in use", engine.ports_in_use());
}

#[cfg(feature = "silero")]
#[test]
fn silero_second_opinion_on_speech_and_on_noise() {
    use aicall::media::silero::{SecondDetector, Silero};
    let silero = Silero::load(&silero_model(), 0.5).expect("model (run scripts/setup)");
    let mut detector = silero.instance().expect("sherpa-onnx creates the VAD");
    let wav =
        aicall::media::prompt::load_wav(&speech("callee/affirm_ok.wav"), 16000).expect("speech");
    // The set-up leaves ~150 ms of silence at each end of the clip: the rest is the reply
    // (可以，没问题, with a pause).
    let total = wav.duration().as_millis() as u32;
    let ms = detector.speech_ms(wav.samples()).expect("speech measured");
    assert!(
        (total / 2..=total).contains(&ms),
        "Silero found {ms} ms of speech in {total} ms"
    );
    let mut seed = 3u32;
    let hiss: Vec<i16> = (0..32_000)
        .map(|_| {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            ((seed >> 16) % 2001) as i16 - 1000
        })
        .collect();
    let ms = detector.speech_ms(&hiss).expect("noise measured");
    assert!(ms < 300, "Silero called {ms} ms of hiss speech");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_freeswitch_playback_tears_unicast_down_and_the_stream_is_reported_dead() {
    let mut rig = rig(vec![callee("parked", 8000, Outcome::Answer, vec![])]).await;
    let rate = rig.call("pb-1", "parked").await.expect("answered");
    let (media, mut rx, _speech) = rig.open("pb-1", rate).await.expect("media");
    let mut seen = Vec::new();
    next_event(
        &mut rx,
        // A bound, not a speed claim: the first datagram comes within a frame or two, but
        // the other tests of this file share the 2 cores (3 s once ran out under load).
        Duration::from_secs(15),
        |e| matches!(e, MediaEvent::StreamStarted { .. }),
        &mut seen,
    )
    .await
    .expect("stream started");
    // As on a real FreeSWITCH, a `playback` on the leg stops unicast for good; no event says
    // so, only the silence of the socket.
    let wav = speech("prompts/repeat.wav");
    rig.esl
        .execute("pb-1", "playback", &wav.display().to_string())
        .await
        .expect("playback accepted");
    let dead = next_event(
        &mut rx,
        Duration::from_secs(5),
        |e| matches!(e, MediaEvent::StreamDead { .. }),
        &mut seen,
    )
    .await;
    assert!(
        matches!(dead, Some(MediaEvent::StreamDead { .. })),
        "{seen:?}"
    );
    // The channel lives on without unicast (the driver then ends the call as failed).
    assert!(rig.esl.exists("pb-1").await.expect("switch answers"));
    let report = media.close().await.expect("report");
    assert_eq!(report.reason, aicall::media::EndReason::StreamDead);
    assert_eq!(rig.engine.ports_in_use(), 0);
}
