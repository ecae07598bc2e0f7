//! `aicall esl`: a small `fs_cli` for FreeSWITCH or the simulator — `api` like `fs_cli -x`,
//! and `events` to watch events as they arrive.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};

use aicall::config::Config;
use aicall::esl::{ClientEvent, EslClient, EventFormat};

#[derive(Debug, Args)]
pub struct EslArgs {
    /// FreeSWITCH ESL address (default: [esl] addr, else 127.0.0.1:8021).
    #[arg(long)]
    pub addr: Option<String>,
    /// ESL password (default: [esl] password).
    #[arg(long)]
    pub password: Option<String>,
    #[command(subcommand)]
    pub action: EslAction,
}

#[derive(Debug, Subcommand)]
pub enum EslAction {
    /// Run an API command and print its response; exits 1 on `-ERR`.
    Api {
        #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
        command: Vec<String>,
    },
    /// Print events as they arrive (all events when no names are given).
    Events {
        names: Vec<String>,
        /// Print events as JSON.
        #[arg(long)]
        json: bool,
        /// Stop after this many events.
        #[arg(long)]
        count: Option<usize>,
    },
}

pub fn run(config: Option<&Path>, args: EslArgs) -> anyhow::Result<ExitCode> {
    let cfg = Config::load(config)?;
    aicall::logging::init(&cfg.log.level, cfg.log.format);
    let addr = args
        .addr
        .clone()
        .or_else(|| (!cfg.esl.addr.is_empty()).then(|| cfg.esl.addr.clone()))
        .unwrap_or_else(|| "127.0.0.1:8021".into());
    let mut client_cfg = cfg.esl.client(&addr);
    if let Some(p) = args.password {
        client_cfg.password = p;
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        match args.action {
            EslAction::Api { command } => {
                let (client, _events) = EslClient::connect(client_cfg).await?;
                let body = client
                    .api(&command.join(" "))
                    .await
                    .context("api command failed")?;
                print!("{body}");
                if !body.ends_with('\n') {
                    println!();
                }
                client.close().await;
                let failed = body.starts_with("-ERR") || body.starts_with("-USAGE");
                Ok(if failed {
                    ExitCode::from(1)
                } else {
                    ExitCode::SUCCESS
                })
            }
            EslAction::Events { names, json, count } => {
                let (client, mut events) = EslClient::connect(client_cfg).await?;
                let names: Vec<&str> = if names.is_empty() {
                    vec!["ALL"]
                } else {
                    names.iter().map(String::as_str).collect()
                };
                client.subscribe(&names).await?;
                // On stderr, so that stdout stays the events alone: whoever started this
                // knows from here on nothing is missed.
                eprintln!("listening for {}", names.join(" "));
                let mut seen = 0usize;
                while let Some(ev) = events.recv().await {
                    match ev {
                        ClientEvent::Event(ev) => {
                            let format = if json {
                                EventFormat::Json
                            } else {
                                EventFormat::Plain
                            };
                            let text = ev.serialize(format);
                            println!("{}", String::from_utf8_lossy(&text).trim_end());
                            if !json {
                                println!();
                            }
                            seen += 1;
                            if count.is_some_and(|c| seen >= c) {
                                break;
                            }
                        }
                        ClientEvent::Disconnected { reason } => eprintln!("disconnected: {reason}"),
                        ClientEvent::Reconnected { channels } => {
                            eprintln!("reconnected; {} live channel(s)", channels.len())
                        }
                    }
                }
                client.close().await;
                Ok(ExitCode::SUCCESS)
            }
        }
    })
}
