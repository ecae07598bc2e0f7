//! Command-line interface: one file per subcommand family, each a thin layer that parses
//! arguments, calls into the library and turns errors into messages a user can act on.
//! Owns no logic of its own; may depend on every other module.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub mod asr;
pub mod campaign;
pub mod client;
pub mod leads;
pub mod nlu;
pub mod script;

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
    /// Run the service: every started campaign, the control interface, the outbound socket.
    Serve(serve::ServeArgs),
    /// Run the demo campaign through the service (built-in simulator unless --esl is given).
    Demo(demo::DemoArgs),
    /// Benchmarks that print figures (`aicall bench leads`, ...).
    #[command(subcommand)]
    Bench(bench::BenchTarget),
    /// Print the version and exit.
    Version,
    /// Lead scoring, segments, best time to call and lookalikes.
    #[command(subcommand)]
    Leads(leads::LeadsCommand),
    /// Understand one callee reply: intent, confidence, sentiment, slots, keywords.
    Intent(nlu::IntentArgs),
    /// Train a model.
    #[command(subcommand)]
    Train(nlu::TrainTarget),
    /// Evaluate a model on a labelled file.
    #[command(subcommand)]
    Eval(nlu::EvalTarget),
    /// Transcribe a WAV file with the offline Whisper recogniser.
    Transcribe(asr::TranscribeArgs),
    /// Manage offline models.
    #[command(subcommand)]
    Models(asr::ModelsCommand),
    /// Measure ASR accuracy (CER/WER) and latency on the shared speech fixtures.
    AsrBench(asr::BenchArgs),
    /// Import a contact list (CSV or XLSX) into a campaign of the running service.
    Import(campaign::ImportArgs),
    /// Campaigns of the running service: create, edit, start, pause, resume, stop, status.
    #[command(subcommand)]
    Campaign(campaign::CampaignCommand),
    /// Do-not-call, black and gray lists (through the running service).
    #[command(subcommand)]
    Dnc(campaign::DncCommand),
    /// Users of the API and console (through the running service).
    #[command(subcommand)]
    Users(campaign::UsersCommand),
    /// Call scripts: validate, graph.
    #[command(subcommand)]
    Script(script::ScriptCommand),
}

pub mod bench;
pub mod demo;
pub mod esl;
pub mod media;
pub mod serve;
pub mod sim;

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result: anyhow::Result<ExitCode> = match cli.command {
        Command::Esl(args) => esl::run(cli.config.as_deref(), args),
        Command::Media(args) => media::run(cli.config.as_deref(), args),
        Command::SimSwitch(args) => sim::run(cli.config.as_deref(), args),
        Command::Serve(args) => serve::run(cli.config.as_deref(), args),
        Command::Demo(args) => demo::run(cli.config.as_deref(), args),
        Command::Bench(target) => bench::run(cli.config.as_deref(), target),
        Command::Version => {
            println!("aicall {}", env!("CARGO_PKG_VERSION"));
            Ok(ExitCode::SUCCESS)
        }
        Command::Leads(cmd) => leads::run(cmd),
        Command::Intent(args) => nlu::intent(args),
        Command::Train(target) => nlu::train_cmd(target),
        Command::Eval(target) => nlu::eval_cmd(target),
        Command::Transcribe(args) => asr::transcribe(cli.config.as_deref(), &args),
        Command::Models(cmd) => asr::models(&cmd),
        Command::AsrBench(args) => asr::asr_bench(cli.config.as_deref(), &args),
        Command::Import(args) => campaign::import(cli.config.as_deref(), args),
        Command::Campaign(cmd) => campaign::run(cli.config.as_deref(), cmd),
        Command::Dnc(cmd) => campaign::dnc(cli.config.as_deref(), cmd),
        Command::Users(cmd) => campaign::users(cli.config.as_deref(), cmd),
        Command::Script(cmd) => script::run(cmd),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("aicall: {}", error_chain(&err));
            ExitCode::from(2)
        }
    }
}

/// An error and its causes on one line, leaving out a cause its parent's message already
/// quotes (many errors here say "{path}: {source}" and also expose the source).
fn error_chain(err: &anyhow::Error) -> String {
    let mut msg = err.to_string();
    for cause in err.chain().skip(1) {
        let c = cause.to_string();
        if !msg.contains(&c) {
            msg.push_str(": ");
            msg.push_str(&c);
        }
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cause_quoted_by_its_parent_is_not_repeated() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        let quoted = anyhow::Error::new(aicall::profile::ProfileError::Io {
            path: "m/manifest.json".into(),
            source: io,
        });
        assert_eq!(
            error_chain(&quoted),
            "cannot read m/manifest.json: no such file"
        );
        let wrapped = anyhow::anyhow!("no such file").context("loading the model");
        assert_eq!(error_chain(&wrapped), "loading the model: no such file");
    }
}
