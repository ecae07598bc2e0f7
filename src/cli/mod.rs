//! Command-line interface: one file per subcommand family, each a thin layer that parses
//! arguments, calls into the library and turns errors into messages a user can act on.
//! Owns no logic of its own; may depend on every other module.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub mod asr;

/// aicall — AI outbound-calling engine for FreeSWITCH.
#[derive(Debug, Parser)]
#[command(name = "aicall", version, about)]
pub struct Cli {
    /// Configuration file (TOML). Defaults to ./aicall.toml when it exists.
    #[arg(long, global = true, env = "AICALL_CONFIG")]
    pub config: Option<std::path::PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print the version and exit.
    Version,
    /// Transcribe a WAV file with the offline Whisper recogniser.
    Transcribe(asr::TranscribeArgs),
    /// Manage offline models.
    #[command(subcommand)]
    Models(asr::ModelsCommand),
    /// Measure ASR accuracy (CER/WER) and latency on the shared speech fixtures.
    AsrBench(asr::BenchArgs),
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result: anyhow::Result<ExitCode> = match cli.command {
        Command::Version => {
            println!("aicall {}", env!("CARGO_PKG_VERSION"));
            Ok(ExitCode::SUCCESS)
        }
        Command::Transcribe(args) => asr::transcribe(&args),
        Command::Models(cmd) => asr::models(&cmd),
        Command::AsrBench(args) => asr::asr_bench(&args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("aicall: {err:#}");
            ExitCode::from(2)
        }
    }
}
