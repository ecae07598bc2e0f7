//! `aicall import`, `aicall campaign …`, `aicall dnc …` and `aicall users …`: thin clients
//! of the running service's control interface ([`aicall::app::http`]). The service owns the
//! database while it runs (sled is opened by one process), so every command that changes a
//! campaign goes through it; `campaign score` and the bench work on a database directly.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::{Args, Subcommand};

use super::client::{Api, ApiArgs};
use crate::cli::bench::dialer::{self as bench, BenchOptions};
use aicall::app::http::{
    AddUser, CreateCampaign, DncReply, DncRequest, EditCampaign, NewKey, StateReply,
};
use aicall::app::web::labels::Labels;
use aicall::app::CampaignView;
use aicall::campaign::import::ImportReport;
use aicall::campaign::{CampaignSettings, LinePool};
use aicall::config::Config;
use aicall::profile::dialer::LeadScorer;
use aicall::store::{SledStore, Store};

/// Where the dialer's database lives (commands that open it directly).
#[derive(Debug, Args, Clone)]
pub struct DbArg {
    /// Database directory [default: [store] path].
    #[arg(long, env = "AICALL_DB")]
    pub db: Option<PathBuf>,
}

impl DbArg {
    pub fn path(&self, config: &Config) -> PathBuf {
        self.db.clone().unwrap_or_else(|| config.store.path.clone())
    }
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
    #[command(flatten)]
    pub api: ApiArgs,
}

/// A campaign's settings as flags; each overrides the same key of `--settings FILE`.
#[derive(Debug, Args, Clone, Default)]
pub struct SettingsArgs {
    /// Dialer settings (TOML: window, caps, max_attempts, retry, pacing, call); flags
    /// override its keys.
    #[arg(long)]
    pub settings: Option<PathBuf>,
    /// The call script (TOML): its text is stored with the campaign.
    #[arg(long)]
    pub script: Option<PathBuf>,
    /// The callees' IANA time zone, e.g. Asia/Shanghai.
    #[arg(long)]
    pub tz: Option<String>,
    /// Lead model directory (`aicall leads train`).
    #[arg(long)]
    pub lead_model: Option<PathBuf>,
    /// Transfer destination (`uuid_transfer`); `{queue}` becomes the script's queue.
    #[arg(long)]
    pub transfer_to: Option<String>,
    /// Silence that ends the callee's turn, ms.
    #[arg(long)]
    pub end_silence_ms: Option<u32>,
    /// Silence before "no input", ms (replaces the script's default).
    #[arg(long)]
    pub no_input_ms: Option<u32>,
    /// Recognition language: zh, en or auto (default: the script's).
    #[arg(long)]
    pub language: Option<String>,
    /// Region of numbers written without a country code, e.g. CN.
    #[arg(long)]
    pub region: Option<String>,
    /// Simultaneous calls of this campaign.
    #[arg(long)]
    pub concurrent: Option<u32>,
    /// Originates per second.
    #[arg(long)]
    pub cps: Option<f64>,
    /// Dial string template, e.g. `sofia/gateway/${gateway}/${phone}` or `loopback/${phone}/default`.
    #[arg(long)]
    pub dial: Option<String>,
    /// One line pool: `NAME:GATEWAY:CAPACITY[:CALLERID,CALLERID...]`; repeat for more.
    #[arg(long)]
    pub pool: Vec<String>,
    /// Counted attempts per contact.
    #[arg(long)]
    pub max_attempts: Option<u32>,
    /// Share of the service's lines and decode time against other campaigns.
    #[arg(long)]
    pub weight: Option<u32>,
}

impl SettingsArgs {
    /// `base` with the file's and the flags' values applied.
    fn apply(&self, mut s: CampaignSettings) -> anyhow::Result<CampaignSettings> {
        if let Some(p) = &self.settings {
            s = CampaignSettings::load(p)?;
        }
        if let Some(p) = &self.script {
            s.call.script =
                std::fs::read_to_string(p).with_context(|| format!("--script {}", p.display()))?;
            s.call.script_path =
                std::fs::canonicalize(p).with_context(|| format!("--script {}", p.display()))?;
        }
        if let Some(v) = &self.tz {
            s.call.tz = v.clone();
        }
        if let Some(v) = &self.lead_model {
            s.call.lead_model = Some(
                std::fs::canonicalize(v)
                    .with_context(|| format!("--lead-model {}", v.display()))?,
            );
        }
        if let Some(v) = &self.transfer_to {
            s.call.transfer_to = v.clone();
        }
        if let Some(v) = self.end_silence_ms {
            s.call.end_silence_ms = v;
        }
        if let Some(v) = self.no_input_ms {
            s.call.no_input_ms = Some(v);
        }
        if let Some(v) = &self.language {
            s.call.language = Some(v.clone());
        }
        if let Some(v) = &self.region {
            s.default_region = v.clone();
        }
        if let Some(v) = self.concurrent {
            s.pacing.max_concurrent = v;
        }
        if let Some(v) = self.cps {
            s.pacing.calls_per_s = v;
        }
        if let Some(v) = &self.dial {
            s.pacing.dial_template = v.clone();
        }
        if !self.pool.is_empty() {
            s.pacing.pools = self
                .pool
                .iter()
                .map(|p| parse_pool(p))
                .collect::<Result<_, _>>()?;
        }
        if let Some(v) = self.max_attempts {
            s.max_attempts = v;
        }
        if let Some(v) = self.weight {
            s.call.weight = v;
        }
        Ok(s)
    }
}

fn parse_pool(spec: &str) -> anyhow::Result<LinePool> {
    let parts: Vec<&str> = spec.splitn(4, ':').collect();
    if parts.len() < 3 {
        bail!("--pool {spec}: expected NAME:GATEWAY:CAPACITY[:CALLERID,...]");
    }
    Ok(LinePool {
        name: parts[0].to_owned(),
        gateway: parts[1].to_owned(),
        capacity: parts[2]
            .parse()
            .with_context(|| format!("--pool {spec}: capacity {:?}", parts[2]))?,
        caller_ids: parts
            .get(3)
            .map(|c| {
                c.split(',')
                    .filter(|x| !x.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default(),
        backup: false,
    })
}

#[derive(Debug, Subcommand)]
pub enum CampaignCommand {
    /// Create a campaign in the running service: the script, the calling window and time
    /// zone, pacing and line pools, turn settings and lead model, each validated.
    Create {
        name: String,
        #[command(flatten)]
        settings: SettingsArgs,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Change a created, paused or stopped campaign's settings (only the flags given).
    Edit {
        name: String,
        #[command(flatten)]
        settings: SettingsArgs,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Start dialling (the running service takes it over at once).
    Start {
        name: String,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// No new call after the acknowledgement; calls up go on.
    Pause {
        name: String,
        #[command(flatten)]
        api: ApiArgs,
    },
    Resume {
        name: String,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// No new call; the campaign's run ends when its calls have.
    Stop {
        name: String,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Live figures: calls up, dialled, answered, transferred, abandoned, ETA.
    Status {
        name: String,
        /// Print the JSON the service answered.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Every campaign, its state and figures.
    List {
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Write the contacts whose outcome is final as training labels for the lead model: their
    /// imported fields (personal data, decrypted; never the number), `converted` (1/0, from
    /// the agent's disposition when an agent had the call, else the conversation's) and
    /// `outcome_source` (agent|bot). Trains as it is:
    /// `aicall leads train FILE --target converted`.
    Labels {
        name: String,
        /// The CSV file to write.
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Score every pending contact with a lead model (`aicall leads train`), on a database
    /// no service has open: the dialer then calls the likeliest first, at their best hour.
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
    /// Add a number to a list (dnc, black or gray), for every campaign, at once.
    Add(DncArgs),
    Remove(DncArgs),
    /// Add every number of a file (a CSV with the number first, or one number per line).
    Import {
        file: PathBuf,
        #[arg(long, default_value = "dnc")]
        list: String,
        #[arg(long, default_value = "CN")]
        region: String,
        #[command(flatten)]
        api: ApiArgs,
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
    pub api: ApiArgs,
}

#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Add a user of the API and console; prints its key once (stored hashed).
    Add {
        name: String,
        /// admin, supervisor, agent, viewer or integration.
        #[arg(long)]
        role: String,
        /// Read a password for the web dashboard's log-in from standard input (its first
        /// line; 8 to 256 characters; stored hashed).
        #[arg(long)]
        password_stdin: bool,
        #[command(flatten)]
        api: ApiArgs,
    },
}

/// `aicall import`: uploads the file to the running service, prints its per-line report,
/// and writes the rejected rows next to the file.
pub fn import(config: Option<&Path>, args: ImportArgs) -> anyhow::Result<ExitCode> {
    let cfg = Config::load(config)?;
    let api = Api::new(&cfg, &args.api)?;
    let bytes = std::fs::read(&args.file).with_context(|| args.file.display().to_string())?;
    let name = args
        .file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "upload.csv".into());
    let mut query = vec![("file", name)];
    if let Some(m) = &args.map {
        query.push(("map", m.clone()));
    }
    if let Some(r) = &args.region {
        query.push(("region", r.clone()));
    }
    let t0 = std::time::Instant::now();
    let report: ImportReport = api.upload(
        &format!("campaigns/{}/contacts", args.campaign),
        &query,
        bytes,
    )?;
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
    if !report.rejected.is_empty() {
        let out = args.report.clone().unwrap_or_else(|| {
            let mut p = args.file.as_os_str().to_owned();
            p.push(".rejects.csv");
            PathBuf::from(p)
        });
        let mut text = String::from("line,location,reason\n");
        for r in &report.rejected {
            text.push_str(&format!(
                "{},\"{}\",\"{}\"\n",
                r.line,
                r.location.replace('"', "\"\""),
                r.reason.replace('"', "\"\"")
            ));
        }
        std::fs::write(&out, text).with_context(|| out.display().to_string())?;
        println!("rejected rows: {}", out.display());
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

fn print_status(v: &CampaignView) {
    let s = &v.status;
    let state = format!("{:?}", v.state).to_lowercase();
    println!(
        "campaign {}: {state}{}",
        v.name,
        if v.running {
            " (running in the service)"
        } else {
            ""
        }
    );
    let by_state: Vec<String> = s.by_state.iter().map(|(k, n)| format!("{k} {n}")).collect();
    println!("  contacts {} ({})", s.contacts, by_state.join(", "));
    println!(
        "  calls up {}, dialled {}, answered {}, transferred {}, abandoned {}",
        s.up, s.dialled, s.answered, s.transferred, s.abandoned
    );
    if !s.dispositions.is_empty() {
        let d: Vec<String> = s
            .dispositions
            .iter()
            .map(|(k, n)| format!("{k}={n}"))
            .collect();
        println!("  outcomes this run: {}", d.join(" "));
    }
    match s.eta_s {
        Some(eta) => println!("  ETA {}m{:02}s", eta / 60, eta % 60),
        None => println!("  ETA unknown (no call has ended yet)"),
    }
}

/// `aicall campaign …`.
pub fn run(config: Option<&Path>, cmd: CampaignCommand) -> anyhow::Result<ExitCode> {
    let cfg = Config::load(config)?;
    match cmd {
        CampaignCommand::Create {
            name,
            settings,
            api,
        } => {
            let api = Api::new(&cfg, &api)?;
            let settings = settings.apply(CampaignSettings::default())?;
            let v: CampaignView = api.post("campaigns", &CreateCampaign { name, settings })?;
            println!("campaign {} created", v.name);
            Ok(ExitCode::SUCCESS)
        }
        CampaignCommand::Edit {
            name,
            settings,
            api,
        } => {
            let api = Api::new(&cfg, &api)?;
            let current: CampaignView = api.get(&format!("campaigns/{name}"))?;
            let settings = settings.apply(current.settings)?;
            let v: CampaignView =
                api.put(&format!("campaigns/{name}"), &EditCampaign { settings })?;
            println!("campaign {} changed", v.name);
            Ok(ExitCode::SUCCESS)
        }
        CampaignCommand::Start { name, api } => action(&cfg, &api, &name, "start"),
        CampaignCommand::Pause { name, api } => action(&cfg, &api, &name, "pause"),
        CampaignCommand::Resume { name, api } => action(&cfg, &api, &name, "resume"),
        CampaignCommand::Stop { name, api } => action(&cfg, &api, &name, "stop"),
        CampaignCommand::Status { name, json, api } => {
            let api = Api::new(&cfg, &api)?;
            let v: CampaignView = api.get(&format!("campaigns/{name}"))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                print_status(&v);
            }
            Ok(ExitCode::SUCCESS)
        }
        CampaignCommand::List { api } => {
            let api = Api::new(&cfg, &api)?;
            let all: Vec<CampaignView> = api.get("campaigns")?;
            if all.is_empty() {
                println!("no campaign yet: `aicall campaign create NAME --script FILE`");
            }
            for v in &all {
                print_status(v);
            }
            Ok(ExitCode::SUCCESS)
        }
        CampaignCommand::Labels { name, out, api } => {
            let api = Api::new(&cfg, &api)?;
            let l: Labels = api.get(&format!("campaigns/{name}/labels"))?;
            std::fs::write(&out, l.table().to_csv(','))
                .with_context(|| format!("writing {}", out.display()))?;
            println!(
                "campaign {name}: {} contacts with a final outcome ({} by agents, {} by the \
                 bot), {} columns, written to {}",
                l.rows.len(),
                l.from_agents,
                l.from_bot,
                l.columns.len(),
                out.display()
            );
            if !l.left_out.is_empty() {
                println!(
                    "  left out (identifiers, numbers, or the export's own names): {}",
                    l.left_out.join(", ")
                );
            }
            if l.rows.is_empty() {
                println!("  no contact has a final outcome yet: nothing to train on");
            }
            Ok(ExitCode::SUCCESS)
        }
        CampaignCommand::Bench(args) => bench_cmd(args),
        CampaignCommand::Score { name, model, db } => {
            let scorer = LeadScorer::load(&model)?;
            let dir = db.path(&cfg);
            let store = SledStore::open(&dir).with_context(|| {
                format!(
                    "cannot open the database {} (stop `aicall serve` first: it holds it)",
                    dir.display()
                )
            })?;
            let r = scorer.rescore_campaign(&store, &name)?;
            store.flush()?;
            println!("campaign {name}: {}", rescore_summary(&r));
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn action(cfg: &Config, api: &ApiArgs, name: &str, what: &str) -> anyhow::Result<ExitCode> {
    let api = Api::new(cfg, api)?;
    let r: StateReply = api.post(&format!("campaigns/{name}/{what}"), &serde_json::json!({}))?;
    println!(
        "campaign {}: {}",
        r.campaign,
        format!("{:?}", r.state).to_lowercase()
    );
    Ok(ExitCode::SUCCESS)
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

fn dnc_call(
    api: &Api,
    op: &str,
    number: &str,
    list: &str,
    region: &str,
) -> anyhow::Result<DncReply> {
    api.post(
        &format!("dnc/{op}"),
        &DncRequest {
            number: number.to_owned(),
            list: Some(list.to_owned()),
            region: Some(region.to_owned()),
        },
    )
}

/// `aicall dnc …`.
pub fn dnc(config: Option<&Path>, cmd: DncCommand) -> anyhow::Result<ExitCode> {
    let cfg = Config::load(config)?;
    match cmd {
        DncCommand::Add(a) => {
            let api = Api::new(&cfg, &a.api)?;
            let r = dnc_call(&api, "add", &a.number, &a.list, &a.region)?;
            println!("{} added to the {} list", r.number, a.list);
            Ok(ExitCode::SUCCESS)
        }
        DncCommand::Remove(a) => {
            let api = Api::new(&cfg, &a.api)?;
            let r = dnc_call(&api, "remove", &a.number, &a.list, &a.region)?;
            println!(
                "{} {} the {} list",
                r.number,
                if r.changed {
                    "removed from"
                } else {
                    "was not on"
                },
                a.list
            );
            Ok(ExitCode::SUCCESS)
        }
        DncCommand::Check(a) => {
            let api = Api::new(&cfg, &a.api)?;
            let r = dnc_call(&api, "check", &a.number, &a.list, &a.region)?;
            println!(
                "{}: dnc={} black={} gray={}",
                r.number, r.dnc, r.black, r.gray
            );
            Ok(ExitCode::SUCCESS)
        }
        DncCommand::Import {
            file,
            list,
            region,
            api,
        } => {
            let api = Api::new(&cfg, &api)?;
            let bytes = std::fs::read(&file).with_context(|| file.display().to_string())?;
            let text = aicall::textfile::decode(&bytes)
                .map(|t| t.text)
                .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
            let (mut added, mut rejected) = (0u64, 0u64);
            for (i, line) in text.lines().enumerate() {
                let first = line.split([',', ';', '\t']).next().unwrap_or("").trim();
                if first.is_empty() {
                    continue;
                }
                match dnc_call(&api, "add", first, &list, &region) {
                    Ok(_) => added += 1,
                    // A header line is expected; anything else is reported.
                    Err(e) if i > 0 => {
                        rejected += 1;
                        eprintln!("{}: line {}: {e}", file.display(), i + 1);
                    }
                    Err(_) => {}
                }
            }
            println!("{added} numbers added to the {list} list, {rejected} rejected");
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `aicall users …`.
pub fn users(config: Option<&Path>, cmd: UsersCommand) -> anyhow::Result<ExitCode> {
    let cfg = Config::load(config)?;
    match cmd {
        UsersCommand::Add {
            name,
            role,
            password_stdin,
            api,
        } => {
            let password = if password_stdin {
                let mut line = String::new();
                std::io::stdin()
                    .read_line(&mut line)
                    .context("reading the password from standard input")?;
                let p = line.trim_end_matches(['\r', '\n']).to_owned();
                if p.is_empty() {
                    bail!("--password-stdin: standard input had no password on its first line");
                }
                Some(p)
            } else {
                None
            };
            let api = Api::new(&cfg, &api)?;
            let k: NewKey = api.post(
                "users",
                &AddUser {
                    name,
                    role,
                    password,
                },
            )?;
            println!(
                "user {} ({}) added; its API key, shown this once:",
                k.name, k.role
            );
            println!("{}", k.key);
            Ok(ExitCode::SUCCESS)
        }
    }
}
