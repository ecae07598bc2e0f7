//! `aicall demo`: the example campaign end to end — a Mandarin medical-insurance offer to 15
//! contacts — through the real dialer (compliance, pacing, originate over ESL), the media
//! engine (`unicast` L16 over UDP, VAD, barge-in), Whisper ASR, the intent model and the
//! script engine, against the built-in switch simulator (or a real FreeSWITCH with `--esl`).
//! Prints each call's transcript, intents, barge-ins and disposition, then a summary whose
//! last line is `calls=N answered=N turn_p50_ms=X turn_p95_ms=X bargein_p95_ms=X`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;

use aicall::call::campaign::{self, CampaignResult, CampaignRun, Models};
use aicall::call::record::Speaker;
use aicall::call::service::percentile;
use aicall::campaign::CampaignSettings;
use aicall::config::Config;
use aicall::media::{MediaConfig, VadConfig};
use aicall::pii::Pii;
use aicall::sim::{Scenarios, SimConfig, SimSwitch};
use aicall::store::{PiiCipher, SledStore, Store};

#[derive(Debug, Args)]
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
    /// The example campaign's folder (script.toml, contacts.csv, callees.toml).
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
    /// ASR decode threads (default: one per core).
    #[arg(long, default_value_t = 0)]
    pub asr_workers: usize,
    /// Print each call's decisions too.
    #[arg(long)]
    pub verbose: bool,
}

/// The example campaign's settings (`campaign.toml` of its folder) with the dial string and
/// concurrency of the command line.
pub fn demo_settings(dir: &Path, dial: &str, concurrent: u32) -> anyhow::Result<CampaignSettings> {
    let mut settings = CampaignSettings::load(&dir.join("campaign.toml"))?;
    settings.pacing.max_concurrent = concurrent;
    settings.pacing.dial_template =
        format!("{{origination_caller_id_number=${{caller_id}}}}{dial}");
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
        let result = run_demo(&args, &models, &tmp).await;
        if let Ok((r, store)) = &result {
            print_report(r, store.as_ref(), args.verbose);
        }
        let _ = std::fs::remove_dir_all(&tmp);
        result?;
        Ok(ExitCode::SUCCESS)
    })
}

/// The `[asr]` engine of `config` (its model directory replaced by `--whisper`) and the
/// intent model.
fn load_models(args: &DemoArgs, config: &Config) -> anyhow::Result<Models> {
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

/// Runs the example campaign (against the simulator unless `--esl`); the store is opened in
/// `tmp` unless `--db` names one.
async fn run_demo(
    args: &DemoArgs,
    models: &Models,
    tmp: &Path,
) -> anyhow::Result<(CampaignResult, Arc<dyn Store>)> {
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
    let media_ip = args.media_ip.parse().context("--media-ip")?;
    let switch_ip = match &args.switch_media_ip {
        Some(ip) => ip.parse().context("--switch-media-ip")?,
        None => media_ip,
    };
    let run = CampaignRun {
        name: "insurance-demo".into(),
        script: args.campaign_dir.join("script.toml"),
        contacts: args.campaign_dir.join("contacts.csv"),
        settings: demo_settings(&args.campaign_dir, &args.dial, args.concurrent)?,
        esl_addr: addr,
        esl_password: args.password.clone(),
        media: MediaConfig {
            media_ip,
            switch_ip,
            // End of turn after 400 ms of silence: a callee who goes on after a longer pause
            // is merged into the same reply when the bot has not answered yet (call driver).
            vad: VadConfig {
                end_ms: 400,
                ..VadConfig::default()
            },
            ..MediaConfig::default()
        },
        transfer_to: "aicall_queue_{queue} XML aicall".into(),
        tz: chrono_tz::Asia::Shanghai,
    };
    println!(
        "campaign {}: script {}, contacts {}",
        run.name,
        run.script.display(),
        run.contacts.display()
    );
    let result = campaign::run(store.clone(), models, &run).await;
    if let Some(sim) = sim {
        sim.stop().await;
    }
    Ok((result?, store))
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
    let tmp = std::env::temp_dir().join(format!("aicall-bench-calls-{}", std::process::id()));
    let result = rt.block_on(run_demo(&args.demo, &models, &tmp));
    let _ = std::fs::remove_dir_all(&tmp);
    let (r, _) = result?;
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
    println!("{}", s.last_line());
    Ok(ExitCode::SUCCESS)
}

fn print_report(r: &CampaignResult, store: &dyn Store, verbose: bool) {
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
                Speaker::Bot => ("bot   ", t.note.clone().map(|n| format!("  [{n}]"))),
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
        end.push_str(&format!("; path {}", c.path.join(" → ")));
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
        "  dialled {}, answered {} ({:.0}%), refused {}",
        r.dialer.originated,
        s.answered,
        100.0 * s.answered as f64 / (r.dialer.originated.max(1)) as f64,
        r.dialer.refused
    );
    let join = |m: &std::collections::BTreeMap<String, usize>| {
        m.iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    println!("  intents: {}", join(&s.intents));
    println!("  dispositions: {}", join(&s.dispositions));
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
