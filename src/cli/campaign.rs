//! `aicall import`, `aicall campaign …` and `aicall dnc …`: a thin layer over
//! [`aicall::campaign`] and [`aicall::store`].
//!
//! The sled database is opened by one process at a time. While `campaign start` runs, the
//! other commands cannot open it; `pause`, `resume` and `stop` then leave a request in
//! `DB/control/NAME` that the running dialer applies within a second, and `status` reads the
//! `DB/status/NAME.json` snapshot the dialer refreshes every two seconds.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::{Args, Subcommand};

use crate::cli::bench::dialer::{self as bench, BenchOptions};
use aicall::campaign::driver::{self, DriverConfig};
use aicall::campaign::import::{import_file, ImportOptions};
use aicall::campaign::phone::{normalise, region};
use aicall::campaign::CampaignSettings;
use aicall::config::Config;
use aicall::esl::EslClient;
use aicall::pii::Pii;
use aicall::profile::dialer::LeadScorer;
use aicall::store::{CampaignState, ListEntry, ListKind, SledStore, Store, StoreError};

/// Where the dialer's database lives.
#[derive(Debug, Args, Clone)]
pub struct DbArg {
    /// Database directory (created on first use; holds `pii.key` unless AICALL_PII_KEY is set).
    #[arg(long, env = "AICALL_DB", default_value = "data/aicall-db")]
    pub db: PathBuf,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// CSV (any delimiter/encoding) or XLSX file.
    pub file: PathBuf,
    #[arg(long)]
    pub campaign: String,
    /// Column mapping, e.g. `phone=手机号,name=姓名`.
    #[arg(long)]
    pub map: Option<String>,
    /// Region for numbers without a country code (default: the campaign's).
    #[arg(long)]
    pub region: Option<String>,
    /// Rejected rows report (default FILE.rejects.csv).
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// Lead model directory (`aicall leads train`): score the campaign's pending contacts
    /// once the import is written.
    #[arg(long, env = "AICALL_LEAD_MODEL")]
    pub lead_model: Option<PathBuf>,
    #[command(flatten)]
    pub db: DbArg,
}

#[derive(Debug, Subcommand)]
pub enum CampaignCommand {
    /// Create a campaign (settings from a TOML file, else defaults: CN, 09–12 & 14–20 Mon–Sat).
    Create {
        name: String,
        #[arg(long)]
        settings: Option<PathBuf>,
        #[command(flatten)]
        db: DbArg,
    },
    /// Run the dialer for a campaign in the foreground (Ctrl-C stops it cleanly).
    Start {
        name: String,
        /// FreeSWITCH event socket `host:port` (default: `[esl] addr` of the config).
        #[arg(long)]
        esl: Option<String>,
        #[arg(long)]
        password: Option<String>,
        /// Return when every contact is finished.
        #[arg(long)]
        until_done: bool,
        /// Lead model directory: best-hour update and rescoring after every call outcome.
        #[arg(long, env = "AICALL_LEAD_MODEL")]
        lead_model: Option<PathBuf>,
        #[command(flatten)]
        db: DbArg,
    },
    Pause {
        name: String,
        #[command(flatten)]
        db: DbArg,
    },
    Resume {
        name: String,
        #[command(flatten)]
        db: DbArg,
    },
    Stop {
        name: String,
        #[command(flatten)]
        db: DbArg,
    },
    /// Counts by state, dialled / answered / abandoned, ETA.
    Status {
        name: String,
        #[command(flatten)]
        db: DbArg,
    },
    /// Score every pending contact with a lead model (`aicall leads train`): the dialer then
    /// calls the likeliest first, at their best hour.
    Score {
        name: String,
        /// Model directory.
        #[arg(long, default_value = "models/leads")]
        model: PathBuf,
        #[command(flatten)]
        db: DbArg,
    },
    /// Measure import, next-batch decision and originate rate; the last line is
    /// `import_1m_s=X next_batch_ms=X originate_per_s=X`.
    Bench(BenchArgs),
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    #[arg(long, default_value_t = 1_000_000)]
    pub rows: usize,
    #[arg(long, default_value_t = 6_000)]
    pub calls: usize,
    #[arg(long, default_value_t = 1_000)]
    pub concurrent: u32,
    #[arg(long, default_value_t = 2_000)]
    pub hold_ms: u64,
}

#[derive(Debug, Subcommand)]
pub enum DncCommand {
    /// Add a number to a list (dnc, black or gray).
    Add(DncArgs),
    Remove(DncArgs),
    /// Add every number of a file (CSV/XLSX with a phone column, or one number per line).
    Import {
        file: PathBuf,
        #[arg(long, default_value = "dnc")]
        list: String,
        #[arg(long, default_value = "CN")]
        region: String,
        #[command(flatten)]
        db: DbArg,
    },
    /// Which lists a number is on.
    Check(DncArgs),
}

#[derive(Debug, Args)]
pub struct DncArgs {
    pub number: String,
    #[arg(long, default_value = "dnc")]
    pub list: String,
    #[arg(long, default_value = "CN")]
    pub region: String,
    #[command(flatten)]
    pub db: DbArg,
}

fn open(db: &DbArg) -> anyhow::Result<SledStore> {
    SledStore::open(&db.db).with_context(|| {
        format!(
            "cannot open the dialer database {} (is `aicall campaign start` running on it?)",
            db.db.display()
        )
    })
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn list_kind(s: &str) -> anyhow::Result<ListKind> {
    Ok(match s.to_ascii_lowercase().as_str() {
        "dnc" => ListKind::Dnc,
        "black" | "blacklist" => ListKind::Black,
        "gray" | "grey" | "graylist" => ListKind::Gray,
        other => bail!("unknown list `{other}`: use dnc, black or gray"),
    })
}

/// `aicall import`.
pub fn import(args: ImportArgs) -> anyhow::Result<ExitCode> {
    let store = open(&args.db)?;
    let record = store.campaign(&args.campaign)?;
    let settings = CampaignSettings::of(&record)?;
    let region_code = args
        .region
        .unwrap_or_else(|| settings.default_region.clone());
    let mut opts = ImportOptions::new(&args.campaign, region(&region_code)?);
    if let Some(map) = &args.map {
        opts.map = ImportOptions::parse_map(map)?;
    }
    opts.report_path = args.report;
    opts.progress = true;
    if let Some(dir) = &args.lead_model {
        let mut scorer = LeadScorer::load(dir)?;
        scorer.restrict_hours(campaign_hours(&settings)?);
        opts.leads = Some(Arc::new(scorer));
    }
    let t0 = Instant::now();
    let report = import_file(&store, &args.file, &opts)?;
    store.flush()?;
    println!(
        "{}: {} rows, {} imported, {} merged, {} rejected in {:.1} s",
        args.file.display(),
        report.rows,
        report.imported,
        report.merged,
        report.rejected.len(),
        t0.elapsed().as_secs_f64()
    );
    for n in &report.notes {
        println!("  note: {n}");
    }
    for r in report.rejected.iter().take(10) {
        println!("  {}: {}", r.location, r.reason);
    }
    if let Some(f) = &report.report_file {
        println!("rejected rows: {}", f.display());
    }
    if let Some(r) = &report.leads {
        println!("lead model: {}", rescore_summary(r));
    }
    Ok(ExitCode::SUCCESS)
}

fn rescore_summary(r: &aicall::profile::dialer::RescoreReport) -> String {
    let mut line = format!(
        "{} pending contacts scored, {} with a best hour of day",
        r.scored, r.with_hour
    );
    if !r.missing_columns.is_empty() {
        line.push_str(&format!(
            " (no contact has {}: scored as missing)",
            r.missing_columns.join(", ")
        ));
    }
    line
}

fn control_path(db: &Path, name: &str) -> PathBuf {
    db.join("control").join(name)
}

fn status_path(db: &Path, name: &str) -> PathBuf {
    db.join("status").join(format!("{name}.json"))
}

fn set_state(db: &DbArg, name: &str, state: CampaignState, word: &str) -> anyhow::Result<ExitCode> {
    match SledStore::open(&db.db) {
        Ok(store) => {
            let mut rec = store.campaign(name)?;
            rec.state = state;
            store.put_campaign(&rec)?;
            store.flush()?;
            println!("campaign {name}: {word}");
        }
        Err(StoreError::Open { .. }) | Err(StoreError::Db(_)) => {
            let path = control_path(&db.db, name);
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            std::fs::write(&path, word)?;
            println!("campaign {name}: {word} requested from the running dialer");
        }
        Err(e) => return Err(e.into()),
    }
    Ok(ExitCode::SUCCESS)
}

fn status(db: &DbArg, name: &str) -> anyhow::Result<ExitCode> {
    let text = match SledStore::open(&db.db) {
        Ok(store) => status_json(&store, name, None)?,
        Err(_) => std::fs::read_to_string(status_path(&db.db, name)).with_context(|| {
            format!("the database is in use and no status snapshot exists for {name}")
        })?,
    };
    println!("{text}");
    Ok(ExitCode::SUCCESS)
}

fn status_json(store: &dyn Store, name: &str, rate: Option<f64>) -> anyhow::Result<String> {
    let rec = store.campaign(name)?;
    let counts = store.counts(name)?;
    let remaining = counts.by_state.get("pending").copied().unwrap_or(0)
        + counts.by_state.get("inflight").copied().unwrap_or(0);
    let eta_s = rate
        .filter(|r| *r > 0.0)
        .map(|r| (remaining as f64 / r).round() as u64);
    Ok(serde_json::to_string_pretty(&serde_json::json!({
        "campaign": name,
        "state": format!("{:?}", rec.state).to_lowercase(),
        "contacts": counts.contacts,
        "by_state": counts.by_state,
        "dialled": counts.attempts,
        "answered": counts.answered,
        "abandoned": counts.abandoned,
        "eta_s": eta_s,
    }))?)
}

fn start(
    config: Option<&Path>,
    name: &str,
    esl: Option<String>,
    password: Option<String>,
    until_done: bool,
    lead_model: Option<PathBuf>,
    db: &DbArg,
) -> anyhow::Result<ExitCode> {
    let cfg = Config::load(config)?;
    aicall::logging::init(&cfg.log.level, cfg.log.format);
    let addr = esl.unwrap_or(cfg.esl.addr.clone());
    if addr.is_empty() {
        bail!("no FreeSWITCH address: pass --esl host:port or set [esl] addr in the config");
    }
    let mut client_cfg = cfg.esl.client(&addr);
    if let Some(p) = password {
        client_cfg.password = p;
    }
    let store = Arc::new(open(db)?);
    let mut rec = store.campaign(name)?;
    let leads = match &lead_model {
        Some(dir) => {
            let mut scorer = LeadScorer::load(dir)?;
            scorer.restrict_hours(campaign_hours(&CampaignSettings::of(&rec)?)?);
            Some(Arc::new(std::sync::Mutex::new(scorer)))
        }
        None => None,
    };
    rec.state = CampaignState::Running;
    store.put_campaign(&rec)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let db_dir = db.db.clone();
    let name = name.to_owned();
    rt.block_on(async move {
        let (client, events) = EslClient::connect(client_cfg).await?;
        let mut dcfg = DriverConfig::new(&name);
        dcfg.exit_when_done = until_done;
        dcfg.leads = leads;
        let run = driver::run(store.clone(), client.clone(), events, dcfg);
        tokio::pin!(run);
        let mut every = tokio::time::interval(Duration::from_secs(1));
        let started = Instant::now();
        let initial = store.counts(&name)?.attempts;
        let mut ticks = 0u64;
        let result = loop {
            tokio::select! {
                r = &mut run => break r,
                _ = tokio::signal::ctrl_c() => {
                    let mut rec = store.campaign(&name)?;
                    rec.state = CampaignState::Stopped;
                    store.put_campaign(&rec)?;
                    eprintln!("stopping: waiting for calls in flight to end");
                }
                _ = every.tick() => {
                    ticks += 1;
                    apply_control(store.as_ref(), &db_dir, &name)?;
                    if ticks.is_multiple_of(2) {
                        let dialled = store.counts(&name)?.attempts.saturating_sub(initial);
                        let rate = dialled as f64 / started.elapsed().as_secs_f64().max(1.0);
                        let json = status_json(store.as_ref(), &name, Some(rate))?;
                        let path = status_path(&db_dir, &name);
                        if let Some(dir) = path.parent() {
                            std::fs::create_dir_all(dir)?;
                        }
                        std::fs::write(path, json)?;
                    }
                }
            }
        };
        client.close().await;
        let summary = result?;
        println!(
            "campaign {name}: originated {}, answered {}, refused {}, reconciled {} live / {} lost",
            summary.originated,
            summary.answered,
            summary.refused,
            summary.reconciled_live,
            summary.reconciled_lost
        );
        anyhow::Ok(ExitCode::SUCCESS)
    })
}

fn apply_control(store: &dyn Store, db: &Path, name: &str) -> anyhow::Result<()> {
    let path = control_path(db, name);
    let Ok(word) = std::fs::read_to_string(&path) else {
        return Ok(());
    };
    let state = match word.trim() {
        "pause" => CampaignState::Paused,
        "resume" => CampaignState::Running,
        "stop" => CampaignState::Stopped,
        other => {
            tracing::warn!(request = other, "ignoring unknown control request");
            let _ = std::fs::remove_file(&path);
            return Ok(());
        }
    };
    let mut rec = store.campaign(name)?;
    rec.state = state;
    store.put_campaign(&rec)?;
    std::fs::remove_file(&path)?;
    Ok(())
}

/// `aicall campaign …`.
pub fn run(config: Option<&Path>, cmd: CampaignCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        CampaignCommand::Create { name, settings, db } => {
            let settings = match settings {
                Some(p) => CampaignSettings::load(&p)?,
                None => CampaignSettings::default(),
            };
            // Fail now, not at dial time, on a window that cannot be compiled.
            aicall::campaign::Rules::new(&settings.window, &settings.caps, settings.max_attempts)?;
            region(&settings.default_region)?;
            let store = open(&db)?;
            store.create_campaign(&settings.record(&name, now()))?;
            store.flush()?;
            println!("campaign {name} created");
            Ok(ExitCode::SUCCESS)
        }
        CampaignCommand::Start {
            name,
            esl,
            password,
            until_done,
            lead_model,
            db,
        } => start(config, &name, esl, password, until_done, lead_model, &db),
        CampaignCommand::Pause { name, db } => {
            set_state(&db, &name, CampaignState::Paused, "pause")
        }
        CampaignCommand::Resume { name, db } => {
            set_state(&db, &name, CampaignState::Running, "resume")
        }
        CampaignCommand::Stop { name, db } => set_state(&db, &name, CampaignState::Stopped, "stop"),
        CampaignCommand::Status { name, db } => status(&db, &name),
        CampaignCommand::Bench(args) => bench_cmd(args),
        CampaignCommand::Score { name, model, db } => {
            let scorer = LeadScorer::load(&model)?;
            let store = open(&db)?;
            let r = scorer.rescore_campaign(&store, &name)?;
            store.flush()?;
            println!("campaign {name}: {}", rescore_summary(&r));
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `aicall campaign bench` (also `aicall bench dialer`).
pub fn bench_cmd(args: BenchArgs) -> anyhow::Result<ExitCode> {
    let opts = BenchOptions {
        rows: args.rows,
        calls: args.calls,
        concurrent: args.concurrent,
        hold_ms: args.hold_ms,
    };
    let r = bench::run(&opts)?;
    println!(
        "import: {} rows in {:.2} s ({:.0} rows/s)",
        r.imported,
        r.import_s,
        r.imported as f64 / r.import_s
    );
    println!(
        "next batch (100 of {} contacts): {:.3} ms",
        opts.rows, r.next_batch_ms
    );
    println!(
        "originate: {} calls, peak {} concurrent, {:.1} calls/s",
        r.originated, r.peak_concurrent, r.originate_per_s
    );
    // The last line is the contract with `aicall bench dialer`.
    println!(
        "import_1m_s={:.2} next_batch_ms={:.3} originate_per_s={:.1}",
        r.import_s, r.next_batch_ms, r.originate_per_s
    );
    Ok(ExitCode::SUCCESS)
}

/// `aicall dnc …`.
pub fn dnc(cmd: DncCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        DncCommand::Add(a) => {
            let store = open(&a.db)?;
            let n = normalise(&a.number, region(&a.region)?)?;
            let kind = list_kind(&a.list)?;
            store.list_add(
                &store.phone_key(&n.e164),
                &ListEntry {
                    kind,
                    added_at: now(),
                    source: "cli".into(),
                },
            )?;
            store.flush()?;
            println!("{} added to the {kind:?} list", Pii(&n.e164));
            Ok(ExitCode::SUCCESS)
        }
        DncCommand::Remove(a) => {
            let store = open(&a.db)?;
            let n = normalise(&a.number, region(&a.region)?)?;
            let kind = list_kind(&a.list)?;
            let removed = store.list_remove(&store.phone_key(&n.e164), kind)?;
            store.flush()?;
            println!(
                "{} {} the {kind:?} list",
                Pii(&n.e164),
                if removed {
                    "removed from"
                } else {
                    "was not on"
                }
            );
            Ok(ExitCode::SUCCESS)
        }
        DncCommand::Check(a) => {
            let store = open(&a.db)?;
            let n = normalise(&a.number, region(&a.region)?)?;
            let flags = store.list_flags(&store.phone_key(&n.e164))?;
            println!(
                "{}: dnc={} black={} gray={}",
                Pii(&n.e164),
                flags.dnc,
                flags.black,
                flags.gray
            );
            Ok(ExitCode::SUCCESS)
        }
        DncCommand::Import {
            file,
            list,
            region: reg,
            db,
        } => {
            let store = open(&db)?;
            let kind = list_kind(&list)?;
            let id = region(&reg)?;
            let text = std::fs::read(&file).with_context(|| file.display().to_string())?;
            let text = String::from_utf8_lossy(&text);
            let (mut added, mut rejected) = (0u64, 0u64);
            for (i, line) in text.lines().enumerate() {
                let first = line.split([',', ';', '\t']).next().unwrap_or("").trim();
                if first.is_empty() {
                    continue;
                }
                match normalise(first, id) {
                    Ok(n) => {
                        store.list_add(
                            &store.phone_key(&n.e164),
                            &ListEntry {
                                kind,
                                added_at: now(),
                                source: format!("import {}", file.display()),
                            },
                        )?;
                        added += 1;
                    }
                    // A header line is expected; anything else is reported.
                    Err(e) if i > 0 => {
                        rejected += 1;
                        eprintln!("{}: line {}: {e}", file.display(), i + 1);
                    }
                    Err(_) => {}
                }
            }
            store.flush()?;
            println!("{added} numbers added to the {kind:?} list, {rejected} rejected");
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The hours of the week the campaign's calling window opens: where best hours may fall.
fn campaign_hours(settings: &CampaignSettings) -> anyhow::Result<Vec<usize>> {
    let rules =
        aicall::campaign::Rules::new(&settings.window, &settings.caps, settings.max_attempts)?;
    Ok(rules.hours_of_week())
}
