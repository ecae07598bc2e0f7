//! `aicall bench <part>`: one entry point for the figure-printing benchmarks of each part.
//! Each prints its figures and, as its last line, the `key=value` summary its issue names.

use std::process::ExitCode;

use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum BenchTarget {
    /// Media: simulated full-duplex calls; tx jitter, lost frames, barge-in latency.
    Media(crate::cli::media::BenchArgs),
    /// Speech recognition: CER/WER, decode latency, real-time factor, concurrent callees.
    Asr(crate::cli::asr::BenchArgs),
    /// Dialer: import of 1M rows, next-batch decision over 1M contacts, originate rate.
    Dialer(crate::cli::campaign::BenchArgs),
    /// Lead scoring: fit time (1 and 2 threads), scoring rows/s, CV AUC/log loss, LightGBM.
    Leads(crate::cli::leads::BenchArgs),
    /// AI calls: barge-in decisions on real audio, then the demo campaign's turn and
    /// barge-in latency.
    Calls(crate::cli::demo::BenchCallsArgs),
    /// Agent routing: one simulated day under four strategies; decision latency.
    Routing(routing::RoutingArgs),
    /// The supervisor console: a campaign's turn latency with and without N fs_cli-style
    /// subscribers; what each received; a stalled one cut off.
    Console(console::ConsoleArgs),
    /// Carrier announcements and voicemail systems: detection rate per kind, false detections
    /// on people answering, time to decision, at 8 kHz.
    Amd(amd::AmdArgs),
}

pub fn run(config: Option<&std::path::Path>, target: BenchTarget) -> anyhow::Result<ExitCode> {
    match target {
        BenchTarget::Media(args) => crate::cli::media::run_bench(args),
        BenchTarget::Asr(args) => crate::cli::asr::asr_bench(config, &args),
        BenchTarget::Dialer(args) => crate::cli::campaign::bench_cmd(args),
        BenchTarget::Calls(args) => crate::cli::demo::bench_calls(config, args),
        BenchTarget::Routing(args) => routing::run(args),
        BenchTarget::Console(args) => console::run(config, args),
        BenchTarget::Amd(args) => amd::run(config, args),
        BenchTarget::Leads(args) => {
            crate::cli::leads::run(crate::cli::leads::LeadsCommand::Bench(args))
        }
    }
}

pub mod amd;
pub mod calls;
pub mod console;
pub mod dialer;
pub mod media;
pub mod routing;
