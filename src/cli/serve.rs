//! `aicall serve`: the service — every started campaign, the control interface (HTTP), the
//! outbound socket — until SIGTERM or Ctrl-C, then a graceful shutdown (stop dialling, let
//! calls finish within `[serve] grace_s`, end the rest with a recorded disposition, flush).
//! With no `[esl] addr` it runs over the built-in switch simulator.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;

use aicall::app::control::Access;

/// A line on standard output for whoever started the service. `println!` panics when the
/// reader has gone away (a closed pipe); a running service must not stop for that.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, $($arg)*);
        let _ = out.flush();
    }};
}
use aicall::app::{Models, Service, ServiceConfig};
use aicall::config::Config;
use aicall::sim::{Scenarios, SimConfig, SimSwitch};
use aicall::store::{SledStore, Store};

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Database directory [default: [store] path].
    #[arg(long, env = "AICALL_DB")]
    pub db: Option<PathBuf>,
    /// FreeSWITCH's event socket `host:port` [default: [esl] addr; none: the simulator].
    #[arg(long)]
    pub esl: Option<String>,
    #[arg(long)]
    pub password: Option<String>,
    /// The control interface's `ip:port` [default: [serve] api_listen]; port 0 picks one.
    #[arg(long)]
    pub api_listen: Option<String>,
    /// Where FreeSWITCH's outbound `socket` connects [default: [serve] outbound_listen];
    /// `off` disables it.
    #[arg(long)]
    pub outbound_listen: Option<String>,
    /// The supervisor console's `ip:port` [default: [serve] console_listen]; `off`
    /// disables it.
    #[arg(long)]
    pub console_listen: Option<String>,
    /// Simultaneous calls for the whole service [default: [serve] max_calls].
    #[arg(long)]
    pub max_calls: Option<u32>,
    /// Seconds live calls may go on after SIGTERM [default: [serve] grace_s].
    #[arg(long)]
    pub grace_s: Option<u64>,
    /// First media port [default: [media] port_first].
    #[arg(long)]
    pub media_port: Option<u16>,
}

/// The service's config from `aicall.toml` and the flags.
pub fn service_config(cfg: &Config, esl_addr: &str, password: Option<String>) -> ServiceConfig {
    let mut esl = cfg.esl.client(esl_addr);
    if let Some(p) = password {
        esl.password = p;
    }
    ServiceConfig {
        esl,
        media: cfg.media.clone(),
        max_calls: cfg.serve.max_calls,
        grace: Duration::from_secs(cfg.serve.grace_s),
        sweep: Duration::from_secs(cfg.serve.sweep_s),
        ..ServiceConfig::default()
    }
}

/// The ASR engine of `[asr]` and the intent model of `[serve] intent_model`.
pub fn load_models(cfg: &Config, intent: Option<&Path>) -> anyhow::Result<Models> {
    let workers = match cfg.serve.asr_workers {
        0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
        n => n,
    };
    Models::load(&cfg.asr, intent.unwrap_or(&cfg.serve.intent_model), workers)
}

pub fn run(config: Option<&Path>, args: ServeArgs) -> anyhow::Result<ExitCode> {
    // Before any thread starts: candle's kernel pool size (one per decode).
    aicall::asr::whisper::set_kernel_threads(1);
    let mut cfg = Config::load(config)?;
    aicall::logging::init(&cfg.log.level, cfg.log.format);
    if let Some(db) = &args.db {
        cfg.store.path = db.clone();
    }
    if let Some(v) = &args.api_listen {
        cfg.serve.api_listen = v.clone();
    }
    if let Some(v) = &args.outbound_listen {
        cfg.serve.outbound_listen = if v == "off" { String::new() } else { v.clone() };
    }
    if let Some(v) = &args.console_listen {
        cfg.serve.console_listen = if v == "off" { String::new() } else { v.clone() };
    }
    if let Some(v) = args.max_calls {
        cfg.serve.max_calls = v;
    }
    if let Some(v) = args.grace_s {
        cfg.serve.grace_s = v;
    }
    if let Some(v) = args.media_port {
        cfg.media.port_first = v;
        cfg.media.switch_port_first = v.saturating_add(cfg.media.port_count.min(30_000));
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(serve(cfg, args))
}

async fn serve(cfg: Config, args: ServeArgs) -> anyhow::Result<ExitCode> {
    let store: Arc<dyn Store> = Arc::new(SledStore::open(&cfg.store.path).with_context(|| {
        format!(
            "cannot open the database {} (is another `aicall serve` using it?)",
            cfg.store.path.display()
        )
    })?);
    let key_file = cfg.key_file();
    if Access::new(store.clone()).bootstrap(&key_file)? {
        say!(
            "admin API key written to {} (keep it private)",
            key_file.display()
        );
    }
    let esl_addr = args.esl.clone().unwrap_or(cfg.esl.addr.clone());
    let sim = if esl_addr.is_empty() {
        let scenarios = match &cfg.sim.scenarios {
            Some(p) => Scenarios::load(p)?,
            None => Scenarios::default(),
        };
        let sim = SimSwitch::start(SimConfig {
            scenarios,
            record_audio: false,
            ..SimConfig::default()
        })
        .await
        .context("starting the switch simulator")?;
        say!(
            "no [esl] addr: running over the built-in switch simulator on {}",
            sim.addr()
        );
        Some(sim)
    } else {
        None
    };
    let esl_addr = match &sim {
        Some(s) => s.addr().to_string(),
        None => esl_addr,
    };
    say!(
        "loading models ({:?} speech recogniser, intent model) …",
        cfg.asr.engine
    );
    let models = {
        let cfg = cfg.clone();
        tokio::task::spawn_blocking(move || load_models(&cfg, None)).await??
    };
    let api = tokio::net::TcpListener::bind(&cfg.serve.api_listen)
        .await
        .with_context(|| format!("[serve] api_listen {}", cfg.serve.api_listen))?;
    let outbound = match cfg.serve.outbound_listen.as_str() {
        "" => None,
        addr => Some(
            tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("[serve] outbound_listen {addr}"))?,
        ),
    };
    let mut service_cfg = service_config(&cfg, &esl_addr, args.password.clone());
    service_cfg.agents = cfg.routing()?;
    say!("connecting to FreeSWITCH at {esl_addr} …");
    let service = Service::start(store, models, service_cfg.clone()).await?;
    let (stop_http, http_stopped) = tokio::sync::oneshot::channel::<()>();
    let api_addr = api.local_addr()?;
    let http = tokio::spawn(aicall::app::http::serve(api, service.clone(), async move {
        let _ = http_stopped.await;
    }));
    // Tests and scripts read these lines to find the ports.
    say!("aicall serve: API on http://{api_addr}");
    if let Some(l) = outbound {
        say!("aicall serve: outbound socket on {}", l.local_addr()?);
        tokio::spawn(aicall::app::outbound::serve(
            l,
            service.clone(),
            service_cfg.esl.clone(),
            cfg.serve.outbound_script.clone(),
        ));
    }
    let console = match cfg.serve.console_listen.as_str() {
        "" => None,
        addr => {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("[serve] console_listen {addr}"))?;
            say!(
                "aicall serve: console on {} (fs_cli -H ... -P ... -p <API key>)",
                listener.local_addr()?
            );
            let console = aicall::app::console::Console::new(service.clone());
            console.start();
            let (_control, control) =
                tokio::sync::watch::channel(aicall::esl::server::Control::default());
            // No password of its own: logins are the service's users (their API keys).
            Some((
                tokio::spawn(aicall::esl::server::serve(
                    listener,
                    String::new(),
                    console,
                    control,
                )),
                _control,
            ))
        }
    };
    wait_for_signal().await?;
    if let Some((task, _control)) = console {
        task.abort();
    }
    say!(
        "aicall serve: stopping (calls up get {} s to finish)",
        cfg.serve.grace_s
    );
    service.shutdown().await;
    let _ = stop_http.send(());
    let _ = http.await;
    if let Some(sim) = sim {
        sim.stop().await;
    }
    say!("aicall serve: stopped");
    Ok(ExitCode::SUCCESS)
}

async fn wait_for_signal() -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate())?;
        tokio::select! {
            _ = term.recv() => {}
            r = tokio::signal::ctrl_c() => r?,
        }
    }
    #[cfg(not(unix))]
    tokio::signal::ctrl_c().await?;
    Ok(())
}
