//! Command-line interface: one file per subcommand family, each a thin layer that parses
//! arguments, calls into the library and turns errors into messages a user can act on.
//! Owns no logic of its own; may depend on every other module.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

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
    /// Talk to FreeSWITCH (or aicall's console) over the Event Socket, like `fs_cli -x`.
    Esl(esl::EslArgs),
    /// The media engine's tools (`aicall media bench`).
    Media(media::MediaArgs),
    /// Run the FreeSWITCH 1.10 switch simulator.
    SimSwitch(sim::SimArgs),
    /// Print the version and exit.
    Version,
}

pub mod esl;
pub mod media;
pub mod sim;

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result: anyhow::Result<ExitCode> = match cli.command {
        Command::Esl(args) => esl::run(cli.config.as_deref(), args),
        Command::Media(args) => media::run(cli.config.as_deref(), args),
        Command::SimSwitch(args) => sim::run(cli.config.as_deref(), args),
        Command::Version => {
            println!("aicall {}", env!("CARGO_PKG_VERSION"));
            Ok(ExitCode::SUCCESS)
        }
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("aicall: {err:#}");
            ExitCode::from(2)
        }
    }
}
