//! Criterion benches for the recogniser: the log-mel front end and a full Whisper decode of a
//! 2 s Mandarin callee reply (the latency goal: p50 ≤ 300 ms in release). Needs the converted
//! model (`scripts/setup.d/20-whisper.sh`) and the reply the set-up renders
//! (`scripts/setup.d/30-speech.sh`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use aicall::asr::mel::LogMel;
use aicall::asr::wav::read_wav_16k;
use aicall::asr::{EngineConfig, Language, Precision, RecognizeOptions, Recognizer, WhisperModel};
use criterion::{criterion_group, criterion_main, Criterion};

/// 一个月要交多少钱？ (2.2 s), rendered by the set-up on every machine.
const CLIP: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/.setup/speech/callee/ask_price.wav"
);

fn two_seconds() -> Vec<f32> {
    let mut audio = read_wav_16k(Path::new(CLIP))
        .unwrap_or_else(|e| panic!("{e}: run scripts/setup (it renders the speech)"));
    audio.truncate(32_000);
    audio
}

fn mel(c: &mut Criterion) {
    let audio = two_seconds();
    let mut lm = LogMel::new(80);
    c.bench_function("log_mel_2s", |b| b.iter(|| lm.compute(&audio, 250)));
}

fn decode(c: &mut Criterion) {
    // One kernel thread per decode, as the pool runs it (CANDLE_NUM_THREADS overrides).
    aicall::asr::whisper::set_kernel_threads(1);
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/whisper-base");
    let audio = two_seconds();
    let options = RecognizeOptions::for_language(Language::Zh);
    let mut group = c.benchmark_group("whisper_2s_reply");
    group.sample_size(10);
    for (name, precision, trim, beam) in [
        ("q8_trimmed", Precision::Q8, true, 1),
        ("q8_trimmed_beam3", Precision::Q8, true, 3),
        ("f32_trimmed", Precision::F32, true, 1),
        ("f32_30s_window", Precision::F32, false, 1),
    ] {
        let config = EngineConfig {
            precision,
            trim,
            beam,
            ..EngineConfig::default()
        };
        let model = WhisperModel::load(&dir, config)
            .unwrap_or_else(|e| panic!("the Whisper model is required: {e}"));
        let mut engine = model.engine();
        group.bench_function(name, |b| {
            b.iter(|| engine.recognize(&audio, &options).unwrap())
        });
    }
    group.finish();
}

criterion_group!(benches, mel, decode);
criterion_main!(benches);
