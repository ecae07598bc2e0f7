//! The dialer's measurements (`aicall campaign bench`, wired as `aicall bench dialer`):
//!
//! - `import_1m_s`: importing a generated CSV of `rows` contacts (default 1,000,000) into a
//!   fresh sled store: decoding, E.164 normalisation, dedup, encryption, writes.
//! - `next_batch_ms`: one next-batch decision (100 contacts, compliance checked) over a queue of
//!   `rows` contacts with DNC entries, dial histories and closed windows among them; the mean
//!   of many decisions.
//! - `originate_per_s`: the driver against the switch simulator with `concurrent` calls up at
//!   once (default 1,000): originates per second sustained over the whole campaign.
//!
//! Real code paths only: the same `import_file`, `Queue::next_batch` and `driver::run` the
//! product uses. Depends on `sim` for the switch.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aicall::campaign::compliance::{CallingWindow, Compliance, FrequencyCaps, Rules, TimeRange};
use aicall::campaign::driver::{self, DriverConfig};
use aicall::campaign::import::{import_file, ImportOptions};
use aicall::campaign::pacing::{LinePool, PacingConfig};
use aicall::campaign::phone::region;
use aicall::campaign::queue::{Queue, QueueEntry};
use aicall::campaign::retry::RetryPolicy;
use aicall::campaign::CampaignSettings;
use aicall::esl::{ClientConfig, EslClient};
use aicall::sim::{Callee, Outcome, Scenarios, SimConfig, SimSwitch, Step};
use aicall::store::{ListKind, PhoneKey, PiiCipher, SledStore, Store};

/// Bench sizes.
#[derive(Clone, Debug)]
pub struct BenchOptions {
    pub rows: usize,
    pub calls: usize,
    pub concurrent: u32,
    /// How long each simulated call stays up after answer (ms).
    pub hold_ms: u64,
}

impl Default for BenchOptions {
    fn default() -> Self {
        Self {
            rows: 1_000_000,
            calls: 6_000,
            concurrent: 1_000,
            hold_ms: 2_000,
        }
    }
}

/// The three figures.
#[derive(Clone, Debug, PartialEq)]
pub struct BenchResult {
    pub import_s: f64,
    pub imported: u64,
    pub next_batch_ms: f64,
    pub originate_per_s: f64,
    pub originated: u64,
    pub peak_concurrent: usize,
}

/// Writes a CSV of `rows` distinct Chinese mobile numbers with a name and two more columns.
pub fn write_csv(path: &Path, rows: usize) -> std::io::Result<()> {
    use std::io::Write;
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    writeln!(out, "手机号,姓名,城市,备注")?;
    const CITIES: [&str; 4] = ["北京", "上海", "广州", "深圳"];
    for i in 0..rows {
        // 139xxxxxxxx and 158xxxxxxxx: valid mobile ranges.
        let prefix = if i % 2 == 0 { 139 } else { 158 };
        writeln!(
            out,
            "{prefix}{:08},客户{i},{},批次{}",
            i / 2 + 10_000_000,
            CITIES[i % 4],
            i / 1000
        )?;
    }
    out.flush()
}

/// Imports a generated CSV of `rows` contacts; returns (seconds, imported).
pub fn bench_import(dir: &Path, rows: usize) -> anyhow::Result<(f64, u64)> {
    let csv = dir.join("bench.csv");
    write_csv(&csv, rows)?;
    let store = SledStore::open_with(&dir.join("import-db"), PiiCipher::new([1u8; 32]))?;
    let settings = CampaignSettings::default();
    store.create_campaign(&settings.record("bench", 0))?;
    let opts = ImportOptions::new("bench", region("CN")?);
    let t0 = Instant::now();
    let report = import_file(&store, &csv, &opts)?;
    store.flush()?;
    let secs = t0.elapsed().as_secs_f64();
    anyhow::ensure!(
        report.imported as usize == rows,
        "imported {} of {rows} rows ({} rejected)",
        report.imported,
        report.rejected.len()
    );
    Ok((secs, report.imported))
}

/// Mean time of one 100-contact decision over a queue of `rows` contacts.
pub fn bench_next_batch(rows: usize) -> anyhow::Result<f64> {
    let rules = Rules::new(&CallingWindow::default(), &FrequencyCaps::default(), 3)?;
    let mut compliance = Compliance::new();
    let mut queue = Queue::new();
    // Tuesday 2026-11-24 10:00 in Beijing.
    let now = 1_795_392_000 + 86_400 + 2 * 3600;
    let offsets = [480, 480, 480, 0, -300];
    let zones: [aicall::campaign::zones::Zones; 5] = [
        &[chrono_tz::Asia::Shanghai],
        &[chrono_tz::Asia::Shanghai],
        &[chrono_tz::Asia::Shanghai],
        &[chrono_tz::Europe::London],
        &[chrono_tz::America::New_York],
    ];
    for i in 0..rows as u64 {
        let mut k = [0u8; 32];
        k[..8].copy_from_slice(&i.to_le_bytes());
        let key = PhoneKey(k);
        if i % 50 == 0 {
            compliance.set_listed(key, ListKind::Dnc, true);
        }
        if i % 10 == 0 {
            compliance.record_dial(key, now - 3600 * (i as i64 % 30));
        }
        queue.push(QueueEntry {
            id: i,
            phone_key: key,
            utc_offset_min: offsets[(i % 5) as usize],
            zones: zones[(i % 5) as usize],
            attempts: (i % 4) as u32,
            seq: i,
            score: (i % 3 == 0).then_some((i % 1000) as f32 / 1000.0),
            best_hour: (i % 7 == 0).then_some((i % 24) as u8),
            next_at: now - 60,
        });
    }
    // Warm-up decision (moves every contact from the timed set to the due sets).
    queue.next_batch(now, 100, &rules, &compliance);
    let n = 200;
    let t0 = Instant::now();
    let mut dialled = 0;
    for _ in 0..n {
        dialled += queue.next_batch(now, 100, &rules, &compliance).dial.len();
    }
    anyhow::ensure!(dialled > 0, "no contact was eligible");
    Ok(t0.elapsed().as_secs_f64() * 1000.0 / f64::from(n))
}

/// Runs a campaign of `calls` contacts against the simulator with `concurrent` calls at once.
pub async fn bench_originate(dir: &Path, opts: &BenchOptions) -> anyhow::Result<(f64, u64, usize)> {
    let mut scenarios = Scenarios::default();
    scenarios.insert(Callee {
        number: None,
        name: Some("bench".into()),
        outcome: Some(Outcome::Answer),
        ring_ms: Some(200),
        rate: Some(8000),
        script: vec![
            Step::SilenceMs(opts.hold_ms),
            Step::Hangup("NORMAL_CLEARING".into()),
        ],
        max_call_ms: None,
        early: Vec::new(),
    });
    let sim = SimSwitch::start(SimConfig {
        scenarios,
        record_audio: false,
        ..SimConfig::default()
    })
    .await?;
    let store = Arc::new(SledStore::open_with(
        &dir.join("originate-db"),
        PiiCipher::new([2u8; 32]),
    )?);
    let settings = CampaignSettings {
        window: CallingWindow {
            days: vec![1, 2, 3, 4, 5, 6, 7],
            ranges: vec![TimeRange {
                start: "00:00".into(),
                end: "24:00".into(),
            }],
            holidays: vec![],
        },
        caps: FrequencyCaps {
            per_day: None,
            per_week: None,
            gray_per_week: 1,
        },
        max_attempts: 1,
        retry: RetryPolicy::default(),
        pacing: PacingConfig {
            max_concurrent: opts.concurrent,
            calls_per_s: 5_000.0,
            pools: vec![LinePool {
                name: "bench".into(),
                gateway: "bench".into(),
                capacity: opts.concurrent,
                caller_ids: (0..10).map(|i| format!("40000{i}")).collect(),
                backup: false,
            }],
            dial_template:
                "{origination_caller_id_number=${caller_id},sim_scenario=bench}sofia/gateway/${gateway}/${phone}"
                    .into(),
            ..PacingConfig::default()
        },
        ..CampaignSettings::default()
    };
    store.create_campaign(&settings.record("bench", 0))?;
    let csv = dir.join("originate.csv");
    write_csv(&csv, opts.calls)?;
    import_file(
        store.as_ref(),
        &csv,
        &ImportOptions::new("bench", region("CN")?),
    )?;
    let (client, events) = EslClient::connect(ClientConfig {
        addr: sim.addr().to_string(),
        ..ClientConfig::default()
    })
    .await?;
    let placer = aicall::app::placer::dialer_only(client.clone(), events).await?;
    let peak = std::sync::atomic::AtomicUsize::new(0);
    let t0 = Instant::now();
    let (_control, control_rx) = tokio::sync::mpsc::channel(1);
    let run = driver::run(
        store.clone(),
        placer,
        DriverConfig {
            tick: Duration::from_millis(10),
            exit_when_done: true,
            ..DriverConfig::new("bench")
        },
        control_rx,
    );
    // Samples the switch's live channels, to report the concurrency actually reached.
    let watcher = async {
        loop {
            tokio::time::sleep(Duration::from_millis(50)).await;
            peak.fetch_max(sim.live_channels(), std::sync::atomic::Ordering::Relaxed);
        }
    };
    let summary = tokio::select! {
        s = run => s?,
        () = watcher => return Err(anyhow::anyhow!("the channel sampler stopped")),
    };
    let secs = t0.elapsed().as_secs_f64();
    let peak_live = peak.load(std::sync::atomic::Ordering::Relaxed);
    client.close().await;
    sim.stop().await;
    Ok((
        summary.originated as f64 / secs,
        summary.originated,
        peak_live,
    ))
}

/// Runs all three.
pub fn run(opts: &BenchOptions) -> anyhow::Result<BenchResult> {
    let dir = tempfile_dir()?;
    let (import_s, imported) = bench_import(dir.path(), opts.rows)?;
    let next_batch_ms = bench_next_batch(opts.rows)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let (originate_per_s, originated, peak_concurrent) =
        rt.block_on(bench_originate(dir.path(), opts))?;
    Ok(BenchResult {
        import_s,
        imported,
        next_batch_ms,
        originate_per_s,
        originated,
        peak_concurrent,
    })
}

/// A scratch directory removed when dropped.
#[derive(Debug)]
pub struct ScratchDir(std::path::PathBuf);

impl ScratchDir {
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn tempfile_dir() -> std::io::Result<ScratchDir> {
    let dir = std::env::temp_dir().join(format!("aicall-dialer-bench-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir)?;
    Ok(ScratchDir(dir))
}
