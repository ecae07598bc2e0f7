//! `aicall demo`: the example campaign end to end — a Mandarin medical-insurance offer to 15
//! contacts — through the real dialer (compliance, pacing, originate over ESL), the media
//! engine (`unicast` L16 over UDP, VAD, barge-in), Whisper ASR, the intent model and the
//! script engine, against the built-in switch simulator (or a real FreeSWITCH with `--esl`).
//! Prints each call's transcript, intents, barge-ins and disposition, then a summary whose
//! last line is `calls=N answered=N turn_p50_ms=X turn_p95_ms=X bargein_p95_ms=X`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;

use aicall::app::{Models, Service};
use aicall::call::record::Speaker;
use aicall::call::summary::{percentile, Summary};
use aicall::call::CallRecord;
use aicall::campaign::import::ImportReport;
use aicall::campaign::CampaignSettings;
use aicall::config::Config;
use aicall::media::MetricsSnapshot;
use aicall::pii::Pii;
use aicall::sim::{Scenarios, SimConfig, SimSwitch};
use aicall::store::{PiiCipher, SledStore, Store};

#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    /// A real FreeSWITCH's event socket; without it the built-in simulator is used.
    #[arg(long)]
    pub esl: Option<String>,
    #[arg(long, default_value = "ClueCon")]
    pub password: String,
    /// Dial string template (`${phone}`, `${gateway}`, `${caller_id}`, contact fields).
    #[arg(long, default_value = "sofia/gateway/${gateway}/${phone}")]
    pub dial: String,
    /// Address FreeSWITCH can reach aicall's media sockets on (unicast `remote-ip`).
    #[arg(long, default_value = "127.0.0.1")]
    pub media_ip: String,
    /// FreeSWITCH's own address for its side of the stream (unicast `local-ip`); default:
    /// the same as --media-ip (FreeSWITCH on this host, or the simulator).
    #[arg(long)]
    pub switch_media_ip: Option<String>,
    /// The example campaign's folder (script.toml, campaign.toml, contacts.csv, callees.toml).
    #[arg(long, default_value = "examples/insurance")]
    pub campaign_dir: PathBuf,
    /// Database folder; default: a fresh temporary one (the demo is repeatable).
    #[arg(long)]
    pub db: Option<PathBuf>,
    /// Whisper model directory [default: [asr] model_dir, else models/whisper-base].
    #[arg(long)]
    pub whisper: Option<PathBuf>,
    #[arg(long, default_value = crate::cli::nlu::DEFAULT_MODEL_DIR)]
    pub intent: PathBuf,
    /// Concurrent calls.
    #[arg(long, default_value_t = 6)]
    pub concurrent: u32,
    /// Call every contact this many times over (copies of the list with other numbers):
    /// the load of `aicall bench calls --concurrent 200`.
    #[arg(long, default_value_t = 1)]
    pub repeat: u32,
    /// ASR decode threads (default: one per core).
    #[arg(long, default_value_t = 0)]
    pub asr_workers: usize,
    /// Print each call's decisions too.
    #[arg(long)]
    pub verbose: bool,
    /// The human agents and queues aicall routes transfers to (the simulator answers their
    /// extensions as simulated agents); `none`: transfers go to the dialplan.
    #[arg(long, default_value = "examples/insurance/agents.toml")]
    pub agents: String,
}

/// The example campaign's settings (`campaign.toml` of its folder, its `script.toml`) with
/// the dial string and concurrency of the command line.
pub fn demo_settings(dir: &Path, dial: &str, concurrent: u32) -> anyhow::Result<CampaignSettings> {
    let mut settings = CampaignSettings::load(&dir.join("campaign.toml"))?;
    settings.pacing.max_concurrent = concurrent;
    settings.pacing.dial_template =
        format!("{{origination_caller_id_number=${{caller_id}}}}{dial}");
    let script = dir.join("script.toml");
    settings.call.script = std::fs::read_to_string(&script)
        .with_context(|| format!("reading {}", script.display()))?;
    settings.call.script_path = std::fs::canonicalize(&script)?;
    Ok(settings)
}

pub fn run(config: Option<&Path>, args: DemoArgs) -> anyhow::Result<ExitCode> {
    // Before any thread starts: candle's kernel pool size (one per decode).
    aicall::asr::whisper::set_kernel_threads(1);
    let cfg = Config::load(config)?;
    aicall::logging::init(&cfg.log.level, cfg.log.format);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        println!(
            "loading models ({:?} speech recogniser, intent model) …",
            cfg.asr.engine
        );
        let models = load_models(&args, &cfg)?;
        let tmp = std::env::temp_dir().join(format!("aicall-demo-{}", std::process::id()));
        let result = run_demo(&args, &cfg, models, &tmp).await;
        if let Ok(r) = &result {
            print_report(r, args.verbose);
        }
        let _ = std::fs::remove_dir_all(&tmp);
        result?;
        Ok(ExitCode::SUCCESS)
    })
}

/// The `[asr]` engine of `config` (its model directory replaced by `--whisper`) and the
/// intent model.
pub(crate) fn load_models(args: &DemoArgs, config: &Config) -> anyhow::Result<Models> {
    let workers = match args.asr_workers {
        0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
        n => n,
    };
    let mut asr = config.asr.clone();
    if let Some(dir) = &args.whisper {
        asr.model_dir = dir.clone();
    }
    Models::load(&asr, &args.intent, workers)
}

/// What a demo run produced.
#[derive(Debug)]
pub struct DemoResult {
    pub import: ImportReport,
    pub dialled: u64,
    pub records: Vec<CallRecord>,
    pub summary: Summary,
    pub media: MetricsSnapshot,
    pub elapsed: Duration,
    pub store: Arc<dyn Store>,
}

/// The example contacts, or — for a load run — `repeat` copies of them with numbers of their
/// own, each copy naming its simulated callee's scenario (`sim_scenario`, which the dial
/// string passes to the simulator) so every copy behaves as its original.
fn contacts_bytes(dir: &Path, repeat: u32) -> anyhow::Result<Vec<u8>> {
    let path = dir.join("contacts.csv");
    let bytes = std::fs::read(&path).with_context(|| path.display().to_string())?;
    if repeat <= 1 {
        return Ok(bytes);
    }
    // The simulated callees' names by number (the scenario file's `[[callee]]` tables).
    let callees_path = dir.join("callees.toml");
    let callees: toml::Table = toml::from_str(
        &std::fs::read_to_string(&callees_path)
            .with_context(|| callees_path.display().to_string())?,
    )
    .with_context(|| callees_path.display().to_string())?;
    let name_of = |number: &str| -> Option<String> {
        callees.get("callee")?.as_array()?.iter().find_map(|c| {
            (c.get("number")?.as_str()? == number)
                .then(|| c.get("name")?.as_str().map(str::to_owned))
                .flatten()
        })
    };
    let text = String::from_utf8(bytes).context("contacts.csv is UTF-8")?;
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default();
    let mut out = format!("{header},sim_scenario\n");
    for k in 0..repeat {
        for row in lines.clone() {
            let (phone, rest) = row.split_once(',').unwrap_or((row, ""));
            let Some(name) = name_of(phone) else {
                continue;
            };
            // 139 KKKK NNNN: the copy number, then the original's last four digits.
            let tail = &phone[phone.len().saturating_sub(4)..];
            out.push_str(&format!("139{k:04}{tail},{rest},{name}\n"));
        }
    }
    Ok(out.into_bytes())
}

/// The demo's agents at their desktops: they log in and go ready, and after each call they
/// file its disposition (every other call a sale) a moment into their wrap-up — what an
/// agent does on the desktop, done here through the same desk operations.
async fn simulated_agents(
    service: &Arc<Service>,
) -> anyhow::Result<Option<tokio::task::JoinHandle<()>>> {
    use aicall::routing::{AgentId, CallId, Disposition, Input};
    let Some(desk) = service.desk().cloned() else {
        return Ok(None);
    };
    for a in desk.view().agents {
        desk.input(Input::Login {
            agent: a.id.clone(),
        })
        .await?;
        desk.input(Input::Ready {
            agent: a.id.clone(),
        })
        .await?;
    }
    let mut events = service.bus().subscribe();
    Ok(Some(tokio::spawn(async move {
        let mut sold = false;
        while let Ok(ev) = events.recv().await {
            let aicall::app::events::ServiceEvent::Agent(change) = ev else {
                continue;
            };
            if change.state != "wrap_up" {
                continue;
            }
            let Some(screen) = desk.view().screens.get(&change.agent).cloned() else {
                continue;
            };
            sold = !sold;
            let _ = desk
                .input(Input::Disposition(Disposition {
                    agent: AgentId::new(&change.agent),
                    call: CallId::new(&screen.call),
                    converted: sold,
                    handle_s: None,
                    quality: None,
                }))
                .await;
            let _ = desk
                .input(Input::Ready {
                    agent: AgentId::new(&change.agent),
                })
                .await;
        }
    })))
}

/// Runs the example campaign through the service (against the simulator unless `--esl`);
/// the store is opened in `tmp` unless `--db` names one.
pub async fn run_demo(
    args: &DemoArgs,
    cfg: &Config,
    models: Models,
    tmp: &Path,
) -> anyhow::Result<DemoResult> {
    run_demo_with(args, cfg, models, tmp, |_| {}).await
}

/// [`run_demo`], with `attach` given the service once it runs and before the campaign
/// starts (a bench's watchers).
pub async fn run_demo_with(
    args: &DemoArgs,
    cfg: &Config,
    models: Models,
    tmp: &Path,
    attach: impl FnOnce(&Arc<Service>),
) -> anyhow::Result<DemoResult> {
    let started = Instant::now();
    let speech = Path::new(".setup/speech");
    if args.esl.is_none() && !speech.join("callee").is_dir() {
        anyhow::bail!(
            "the demo's speech is not rendered ({} is missing): run scripts/setup (or \
             scripts/demo, which runs it) from the repository root",
            speech.join("callee").display()
        );
    }
    let (sim, addr) = match &args.esl {
        Some(addr) => (None, addr.clone()),
        None => {
            let scenarios = Scenarios::load(&args.campaign_dir.join("callees.toml"))
                .context("loading the simulated callees")?;
            let sim = SimSwitch::start(SimConfig {
                scenarios,
                record_audio: false,
                ..SimConfig::default()
            })
            .await
            .context("starting the switch simulator")?;
            let addr = sim.addr().to_string();
            println!("switch simulator (FreeSWITCH 1.10 behaviour) on {addr}");
            (Some(sim), addr)
        }
    };
    let store: Arc<dyn Store> = Arc::new(match &args.db {
        Some(dir) => SledStore::open(dir)?,
        None => SledStore::open_with(tmp, PiiCipher::new(rand::random()))?,
    });
    let mut service_cfg =
        crate::cli::serve::service_config(cfg, &addr, Some(args.password.clone()));
    service_cfg.media.media_ip = args.media_ip.parse().context("--media-ip")?;
    service_cfg.media.switch_ip = match &args.switch_media_ip {
        Some(ip) => ip.parse().context("--switch-media-ip")?,
        None => service_cfg.media.media_ip,
    };
    service_cfg.exit_when_done = true;
    service_cfg.max_calls = service_cfg.max_calls.max(args.concurrent);
    if args.agents != "none" {
        let text = std::fs::read_to_string(&args.agents)
            .with_context(|| format!("--agents {}", args.agents))?;
        let routing: aicall::routing::RoutingConfig =
            toml::from_str(&text).with_context(|| format!("--agents {}", args.agents))?;
        service_cfg.agents = Some(routing);
    }
    let service = Service::start(store.clone(), models, service_cfg).await?;
    attach(&service);
    let agents = simulated_agents(&service).await?;
    // The same operations `aicall campaign create/import/start` ask of a running service.
    let name = "insurance-demo";
    let mut settings = demo_settings(&args.campaign_dir, &args.dial, args.concurrent)?;
    if args.repeat > 1 {
        // Each copy runs its original's simulated callee (see `contacts_bytes`).
        settings.pacing.dial_template = format!(
            "{{origination_caller_id_number=${{caller_id}},sim_scenario=${{sim_scenario}}}}{}",
            args.dial
        );
        settings.pacing.calls_per_s = settings.pacing.calls_per_s.max(20.0);
        for pool in &mut settings.pacing.pools {
            pool.capacity = pool.capacity.max(args.concurrent);
        }
    }
    println!(
        "campaign {name}: script {}, contacts {}",
        args.campaign_dir.join("script.toml").display(),
        args.campaign_dir.join("contacts.csv").display()
    );
    let result = async {
        service.create(name, settings).await?;
        let import = service
            .import(
                name,
                "contacts.csv",
                contacts_bytes(&args.campaign_dir, args.repeat)?,
                None,
                None,
            )
            .await?;
        service.start_campaign(name).await?;
        service.idle().await;
        let records = CallRecord::all(store.as_ref(), name)?;
        let dialled = store.counts(name)?.attempts;
        anyhow::Ok((import, dialled, records))
    }
    .await;
    let media = service.media().metrics().snapshot();
    if let Some(a) = agents {
        a.abort();
    }
    service.shutdown().await;
    if let Some(sim) = sim {
        sim.stop().await;
    }
    let (import, dialled, records) = result?;
    let summary = Summary::of(dialled as usize, &records);
    Ok(DemoResult {
        import,
        dialled,
        records,
        summary,
        media,
        elapsed: started.elapsed(),
        store,
    })
}

/// `aicall bench calls`.
#[derive(Debug, Args)]
pub struct BenchCallsArgs {
    #[command(flatten)]
    pub demo: DemoArgs,
    /// Labelled callee clips for the barge-in decision figures: a folder with index.tsv
    /// (file, voice, label, text; `backchannel` labels the clips that must not take the turn)
    /// and an 8k/ copy of each backchannel. Without it those figures are skipped.
    #[arg(long)]
    pub fixtures: Option<PathBuf>,
    /// Then the load run: this many calls at once (copies of the example's callees), on
    /// the same service code; 0 skips it.
    #[arg(long, default_value_t = 200)]
    pub load: u32,
}

/// Barge-in decisions on real audio, then the demo campaign; last line as the demo's.
pub fn bench_calls(config: Option<&Path>, args: BenchCallsArgs) -> anyhow::Result<ExitCode> {
    aicall::asr::whisper::set_kernel_threads(1);
    aicall::logging::init("warn", aicall::logging::LogFormat::default());
    let models = load_models(&args.demo, &Config::load(config)?)?;
    let script = aicall::call::Script::load(&args.demo.campaign_dir.join("script.toml"))?;
    let options = aicall::asr::RecognizeOptions::for_language(script.language);
    let offer = script
        .node_named("intro")
        .and_then(|n| script.nodes[n].say.first().copied())
        .and_then(|p| script.prompts[p].text.clone())
        .unwrap_or_default();
    if let Some(fixtures) = &args.fixtures {
        let f =
            crate::cli::bench::calls::barge_in_decisions(&models.asr, &options, fixtures, &offer)
                .with_context(|| format!("barge-in decisions on {}", fixtures.display()))?;
        for e in &f.examples {
            println!("  {e}");
        }
        println!(
            "barge-in decisions: backchannels {}/{} and noises {}/{} would take the turn \
             (false barge-in rate {:.1}%); real replies ignored {}/{} ({:.1}%)",
            f.backchannel_false,
            f.backchannels,
            f.noise_false,
            f.noises,
            100.0 * f.false_rate(),
            f.replies_missed,
            f.replies,
            100.0 * f.miss_rate()
        );
    } else {
        println!("barge-in decisions: skipped (no --fixtures folder of labelled callee clips)");
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let cfg = Config::load(config)?;
    let tmp = std::env::temp_dir().join(format!("aicall-bench-calls-{}", std::process::id()));
    // The demo's load: latency as a callee hears it.
    let result = rt.block_on(run_demo(&args.demo, &cfg, models.clone(), &tmp));
    let _ = std::fs::remove_dir_all(&tmp);
    let r = result?;
    let s = &r.summary;
    println!(
        "campaign: {} calls, {} answered in {:.1} s; turn latency p50 {} ms p95 {} ms ({} turns); \
         barge-in p50 {} ms p95 {} ms ({} barge-ins, {} resumed)",
        s.calls,
        s.answered,
        r.elapsed.as_secs_f64(),
        percentile(&s.turn_ms, 0.5),
        percentile(&s.turn_ms, 0.95),
        s.turn_ms.len(),
        percentile(&s.barge_in_ms, 0.5),
        percentile(&s.barge_in_ms, 0.95),
        s.barge_ins,
        s.false_barge_ins
    );
    print_utterances(&r.media);
    let mut last = s.last_line();
    // Then far more calls than the machine can recognise in real time: replies wait, none
    // may be lost.
    if args.load > 0 {
        let load = DemoArgs {
            concurrent: args.load,
            repeat: args.load.div_ceil(15).max(2),
            verbose: false,
            db: None,
            ..args.demo.clone()
        };
        let tmp = std::env::temp_dir().join(format!("aicall-bench-load-{}", std::process::id()));
        let result = rt.block_on(run_demo(&load, &cfg, models, &tmp));
        let _ = std::fs::remove_dir_all(&tmp);
        let l = result?;
        let ls = &l.summary;
        println!(
            "load: {} calls at most {} at once, {} answered in {:.1} s; turn latency p50 {} ms \
             p95 {} ms ({} turns)",
            ls.calls,
            load.concurrent,
            ls.answered,
            l.elapsed.as_secs_f64(),
            percentile(&ls.turn_ms, 0.5),
            percentile(&ls.turn_ms, 0.95),
            ls.turn_ms.len()
        );
        // Early media is recognised only when no reply waits: under this load, the carriers'
        // announcements decided (busy, powered_off) show how much of it still was.
        println!("load dispositions: {}", counts_line(&ls.dispositions));
        let lost = print_utterances(&l.media);
        last.push_str(&format!(
            " load_calls={} load_turn_p50_ms={} utterances_heard={} utterances_delivered={} \
             utterances_lost={lost}",
            ls.calls,
            percentile(&ls.turn_ms, 0.5),
            l.media.utterances_heard,
            l.media.utterances_delivered
        ));
    }
    println!("{last}");
    Ok(ExitCode::SUCCESS)
}

/// Prints what happened to every utterance; returns how many were lost.
fn print_utterances(m: &MetricsSnapshot) -> u64 {
    let lost = m
        .utterances_heard
        .saturating_sub(m.utterances_delivered + m.utterances_after_end);
    println!(
        "utterances: heard {}, delivered to the call machine {}, after the conversation ended \
         {}, lost {lost}; analysis frames dropped {}, speech starts late for barge-in {}",
        m.utterances_heard,
        m.utterances_delivered,
        m.utterances_after_end,
        m.analysis_dropped,
        m.events_dropped
    );
    lost
}

fn print_report(r: &DemoResult, verbose: bool) {
    let store = r.store.as_ref();
    println!(
        "\nimport: {} rows, {} imported, {} rejected",
        r.import.rows,
        r.import.imported,
        r.import.rejected.len()
    );
    for rej in &r.import.rejected {
        println!("  {}: {}", rej.location, rej.reason);
    }
    let mut records: Vec<_> = r.records.iter().collect();
    records.sort_by_key(|c| c.contact_id);
    for c in &records {
        let who = c
            .contact_id
            .and_then(|id| store.contact(id).ok())
            .map(|k| {
                format!(
                    "{} {} ({})",
                    Pii(&k.pii.phone),
                    k.pii.name.unwrap_or_default(),
                    k.pii.fields.get("note").cloned().unwrap_or_default()
                )
            })
            .unwrap_or_else(|| c.uuid.clone());
        println!("\n── {who}");
        for t in &c.turns {
            let (who, extra) = match t.speaker {
                // Before any answer: the carrier's words, not a reply.
                Speaker::Callee if t.is_early_media() => {
                    ("early ", Some("  (early media, before any answer)".into()))
                }
                Speaker::Bot => ("bot   ", t.note.clone().map(|n| format!("  [{n}]"))),
                Speaker::Bridged => ("call  ", Some("  (bridged: agent and callee)".into())),
                Speaker::Callee => (
                    "callee",
                    Some(match (&t.intent, t.confidence, &t.note) {
                        (Some(i), Some(p), _) => format!(
                            "  → {i} ({p:.2}; asr {} ms, nlu {} ms)",
                            t.asr_ms.unwrap_or(0),
                            t.nlu_ms.unwrap_or(0)
                        ),
                        (_, _, Some(n)) => format!("  [{n}]"),
                        _ => String::new(),
                    }),
                ),
            };
            println!(
                "  {:>6.1}s {who} {}{}",
                t.at_ms as f64 / 1000.0,
                t.text,
                extra.unwrap_or_default()
            );
        }
        for b in &c.barge_ins {
            println!(
                "  barge-in on `{}` after {} ms: {} ({})",
                b.prompt, b.played_ms, b.verdict, b.mode
            );
        }
        let mut end = format!(
            "  disposition: {}",
            c.disposition.map_or("none", |d| d.as_str())
        );
        if let Some(q) = &c.transferred_to {
            end.push_str(&format!(" → queue {q}"));
        }
        if let Some(a) = &c.agent {
            end.push_str(&format!(", agent {a}"));
        }
        if let Some(at) = c.callback_at {
            if let Some(t) = chrono::DateTime::from_timestamp(at, 0) {
                end.push_str(&format!(
                    " at {}",
                    t.with_timezone(&chrono_tz::Asia::Shanghai)
                        .format("%Y-%m-%d %H:%M")
                ));
            }
        }
        if !c.tags.is_empty() {
            end.push_str(&format!("; tags {}", c.tags.join(",")));
        }
        if c.answered {
            end.push_str(&format!("; path {}", c.path.join(" → ")));
        } else {
            end.push_str("; never answered");
        }
        println!("{end}");
        if verbose {
            for d in &c.decisions {
                println!(
                    "    {:>6.1}s [{}] {}",
                    d.at_ms as f64 / 1000.0,
                    d.node,
                    d.what
                );
            }
        }
    }
    let s = &r.summary;
    println!("\nsummary ({:.1} s)", r.elapsed.as_secs_f64());
    println!(
        "  dialled {}, answered {} ({:.0}%), rejected at import {}",
        r.dialled,
        s.answered,
        100.0 * s.answered as f64 / (r.dialled.max(1)) as f64,
        r.import.rejected.len()
    );
    println!("  intents: {}", counts_line(&s.intents));
    println!("  dispositions: {}", counts_line(&s.dispositions));
    println!(
        "  turn latency (end of callee speech → next prompt): p50 {} ms, p95 {} ms over {} turns",
        percentile(&s.turn_ms, 0.5),
        percentile(&s.turn_ms, 0.95),
        s.turn_ms.len()
    );
    println!(
        "  barge-in (speech onset → prompt stopped): p50 {} ms, p95 {} ms; {} barge-ins, {} false (resumed)",
        percentile(&s.barge_in_ms, 0.5),
        percentile(&s.barge_in_ms, 0.95),
        s.barge_ins,
        s.false_barge_ins
    );
    println!("{}", s.last_line());
}

/// `name=count` pairs, space-separated, in name order.
fn counts_line(m: &std::collections::BTreeMap<String, usize>) -> String {
    m.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}
