//! Command-line interface: one file per subcommand family, each a thin layer that parses
//! arguments, calls into the library and turns errors into messages a user can act on.
//! Owns no logic of its own; may depend on every other module.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub mod campaign;
pub mod leads;

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
    /// Run the FreeSWITCH 1.10 switch simulator.
    SimSwitch(sim::SimArgs),
    /// Run the demo campaign (built-in simulator unless --esl is given).
    Demo(demo::DemoArgs),
    /// Print the version and exit.
    Version,
    /// Lead scoring, segments, best time to call and lookalikes.
    #[command(subcommand)]
    Leads(leads::LeadsCommand),
    /// Import a contact list (CSV or XLSX) into a campaign.
    Import(campaign::ImportArgs),
    /// Campaigns: create, start (the dialer), pause, resume, stop, status, bench.
    #[command(subcommand)]
    Campaign(campaign::CampaignCommand),
    /// Do-not-call, black and gray lists.
    #[command(subcommand)]
    Dnc(campaign::DncCommand),
}

pub mod demo;
pub mod esl;
pub mod sim;

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result: anyhow::Result<ExitCode> = match cli.command {
        Command::Esl(args) => esl::run(cli.config.as_deref(), args),
        Command::SimSwitch(args) => sim::run(cli.config.as_deref(), args),
        Command::Demo(args) => demo::run(cli.config.as_deref(), args),
        Command::Version => {
            println!("aicall {}", env!("CARGO_PKG_VERSION"));
            Ok(ExitCode::SUCCESS)
        }
        Command::Leads(cmd) => leads::run(cmd),
        Command::Import(args) => campaign::import(args),
        Command::Campaign(cmd) => campaign::run(cli.config.as_deref(), cmd),
        Command::Dnc(cmd) => campaign::dnc(cmd),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("aicall: {err:#}");
            ExitCode::from(2)
        }
    }
}
