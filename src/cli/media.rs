//! `aicall media ...`: the media engine's tools. `aicall media bench` runs the load benchmark
//! (the lead wires `aicall bench media` to the same function) and prints, as its last line,
//! `calls=N tx_jitter_p99_ms=X lost_frames=N bargein_p95_ms=X`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::{Args, Subcommand};

use crate::cli::bench::media::{self as bench, BenchOptions};

#[derive(Debug, Args)]
pub struct MediaArgs {
    #[command(subcommand)]
    pub command: MediaCommand,
}

#[derive(Debug, Subcommand)]
pub enum MediaCommand {
    /// N simulated full-duplex calls on loopback: tx jitter, lost frames, barge-in latency.
    Bench(BenchArgs),
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Simultaneous calls.
    #[arg(long, default_value_t = 100)]
    pub calls: usize,
    /// Length of each call's full-duplex phase (at least 6).
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// Channel rate: 8000 or 16000.
    #[arg(long, default_value_t = 8000)]
    pub rate: u32,
    /// The bot's prompt every call plays (a WAV of at least 4 s; the default is rendered by
    /// scripts/setup).
    #[arg(long, default_value = ".setup/speech/prompts/price_answer.wav")]
    pub prompt: PathBuf,
    /// The callee's reply that barges in near the end of each call (a WAV).
    #[arg(long, default_value = ".setup/speech/callee/ask_price.wav")]
    pub reply: PathBuf,
    /// Tokio worker threads (default: one per core).
    #[arg(long)]
    pub threads: Option<usize>,
}

pub fn run(_config: Option<&Path>, args: MediaArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        MediaCommand::Bench(b) => run_bench(b),
    }
}

/// Runs the media benchmark and prints its figures; the summary line comes last.
pub fn run_bench(args: BenchArgs) -> anyhow::Result<ExitCode> {
    for wav in [&args.prompt, &args.reply] {
        if !wav.is_file() {
            bail!(
                "{} not found: run scripts/setup in the checkout (it renders the default \
                 prompt and reply) and bench from there, or pass --prompt and --reply",
                wav.display()
            );
        }
    }
    let mut opts = BenchOptions::new(args.calls, args.seconds, &args.prompt, &args.reply);
    opts.rate = args.rate;
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = args.threads {
        rt.worker_threads(n.max(1));
    }
    let rt = rt.enable_all().build().context("starting the runtime")?;
    let report = rt.block_on(bench::run(opts)).with_context(|| {
        format!(
            "media bench with prompt {} and reply {}",
            args.prompt.display(),
            args.reply.display()
        )
    })?;
    let m = &report.metrics;
    println!(
        "answered {} of {} calls at {} Hz for {} s; CPU {:.1} s",
        report.answered, report.calls, args.rate, report.seconds, report.cpu_seconds
    );
    println!(
        "frames in {} out {}; lost in {} out {}; duplicates {} odd {} foreign {}; tx resyncs {}",
        m.frames_in,
        m.frames_out,
        report.lost_in,
        report.lost_out,
        m.duplicates,
        m.odd_sized,
        m.unknown_source,
        m.tx_resyncs
    );
    println!(
        "tx lateness p50 {:.2} ms p99 {:.2} ms max {:.2} ms",
        m.tx_late_p50_ms, m.tx_late_p99_ms, m.tx_late_max_ms
    );
    println!(
        "VAD: {} frames analysed ({} dropped), speech {} / silence {} decisions, {} starts, {} segments",
        m.frames_analysed,
        m.analysis_dropped,
        m.vad_speech_frames,
        m.vad_silence_frames,
        m.speech_starts,
        m.speech_segments
    );
    println!(
        "barge-in: {} measured ({} stopped before the onset, {} callees silent), onset→last prompt frame at the callee p50 {:.1} ms p95 {:.1} ms; aicall-side p50 {:.1} ms p95 {:.1} ms",
        report.barge_ins,
        report.barge_in_missing,
        report.callee_silent,
        report.barge_in_p50_ms,
        report.barge_in_p95_ms,
        m.barge_in_p50_ms,
        m.barge_in_p95_ms
    );
    println!("{}", report.summary_line());
    Ok(ExitCode::SUCCESS)
}
