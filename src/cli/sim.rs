//! `aicall sim-switch`: run the FreeSWITCH 1.10 simulator as a process.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;

use aicall::config::Config;
use aicall::sim::{Dialplan, Scenarios, SimConfig, SimSwitch};

#[derive(Debug, Args)]
pub struct SimArgs {
    /// Address to listen on (default: [sim] listen, 127.0.0.1:8021).
    #[arg(long)]
    pub listen: Option<String>,
    /// ESL password clients must give.
    #[arg(long, default_value = "ClueCon")]
    pub password: String,
    /// Simulated callees (TOML).
    #[arg(long)]
    pub scenarios: Option<PathBuf>,
    /// Route loopback calls and transfers through the test dialplan of data/esl-traces
    /// (extensions 7000–7003, 7100, 9999, the early-media catch-all, context `aicall` with
    /// mod_callcenter queue `sales@default`) instead of straight to the scenario callees.
    #[arg(long)]
    pub traces_dialplan: bool,
    /// The switch's host name (events, `api hostname`).
    #[arg(long)]
    pub hostname: Option<String>,
}

pub fn run(config: Option<&Path>, args: SimArgs) -> anyhow::Result<ExitCode> {
    let cfg = Config::load(config)?;
    aicall::logging::init(&cfg.log.level, cfg.log.format);
    let listen = args.listen.unwrap_or(cfg.sim.listen.clone());
    let listen = listen
        .parse()
        .with_context(|| format!("--listen {listen:?} is not an ip:port address"))?;
    let scenarios = match args.scenarios.or(cfg.sim.scenarios.clone()) {
        Some(path) => Scenarios::load(&path)?,
        None => Scenarios::default(),
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let defaults = SimConfig::default();
        let sim = SimSwitch::start(SimConfig {
            listen,
            password: args.password,
            scenarios,
            dialplan: if args.traces_dialplan {
                Dialplan::esl_traces()
            } else {
                Dialplan::default()
            },
            hostname: args.hostname.unwrap_or(defaults.hostname.clone()),
            ..defaults
        })
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
        eprintln!("aicall switch simulator on {} (Ctrl-C to stop)", sim.addr());
        tokio::signal::ctrl_c()
            .await
            .context("waiting for Ctrl-C")?;
        sim.stop().await;
        Ok(ExitCode::SUCCESS)
    })
}
