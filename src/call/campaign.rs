//! A whole AI campaign in one process: import the contact list into the store, run the dialer
//! (compliance, pacing, originate over ESL) and the call service (media, ASR, intent, script)
//! on two ESL connections to the same switch, until every contact is done. `aicall demo`,
//! `aicall bench calls` and the end-to-end tests run this.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono_tz::Tz;
use tokio::sync::watch;

use super::driver::CallDeps;
use super::prompts::PromptSet;
use super::record::CallRecord;
use super::script::Script;
use super::service::{self, Summary};
use crate::asr::config::AsrConfig;
use crate::asr::pool::{DecodePool, PoolConfig};
use crate::asr::RecognizeOptions;
use crate::campaign::driver::{self as dialer, DriverConfig, RunSummary};
use crate::campaign::import::{import_file, ImportOptions, ImportReport};
use crate::campaign::CampaignSettings;
use crate::esl::{ClientConfig, EslClient};
use crate::media::{MediaConfig, MediaEngine};
use crate::nlu::IntentModel;
use crate::store::Store;

/// The models a campaign needs, loaded once (they are the slow part of start-up).
#[derive(Debug, Clone)]
pub struct Models {
    pub asr: Arc<DecodePool>,
    pub nlu: Arc<IntentModel>,
}

impl Models {
    /// The `[asr]` engine with `workers` decode threads, the intent model from `intent_dir`.
    pub fn load(
        asr: &AsrConfig,
        intent_dir: &std::path::Path,
        workers: usize,
    ) -> anyhow::Result<Models> {
        // For Whisper: one kernel thread per decode ([asr] threads, 1 by default), a decode
        // thread per core (candle's 8-bit kernels spin-wait when several share a core).
        // No-op when CANDLE_NUM_THREADS is set or the pool already started.
        let model = asr.load().with_context(|| {
            format!(
                "loading the {:?} speech recogniser from {} (scripts/setup fetches Whisper)",
                asr.engine,
                asr.model_dir.display()
            )
        })?;
        let asr = DecodePool::new(
            &model,
            PoolConfig {
                workers: workers.max(1),
                queue_capacity: 32,
            },
        )
        .context("starting the ASR threads")?;
        let nlu = IntentModel::load(intent_dir)
            .with_context(|| format!("loading the intent model from {}", intent_dir.display()))?;
        Ok(Models {
            asr: Arc::new(asr),
            nlu: Arc::new(nlu),
        })
    }
}

/// What to run.
#[derive(Debug, Clone)]
pub struct CampaignRun {
    pub name: String,
    pub script: PathBuf,
    pub contacts: PathBuf,
    pub settings: CampaignSettings,
    pub esl_addr: String,
    pub esl_password: String,
    pub media: MediaConfig,
    /// `uuid_transfer` destination, `{queue}` replaced.
    pub transfer_to: String,
    pub tz: Tz,
}

/// What a run produced.
#[derive(Debug)]
pub struct CampaignResult {
    pub import: ImportReport,
    pub dialer: RunSummary,
    pub records: Vec<CallRecord>,
    pub summary: Summary,
    pub elapsed: Duration,
}

/// Imports, dials and converses until every contact of the campaign is done.
pub async fn run(
    store: Arc<dyn Store>,
    models: &Models,
    cfg: &CampaignRun,
) -> anyhow::Result<CampaignResult> {
    let started = Instant::now();
    // The script first: a campaign with a broken script must not dial anyone.
    let script = Arc::new(Script::load(&cfg.script)?);
    let media = Arc::new(MediaEngine::new(cfg.media.clone()).context("starting the media engine")?);
    let prompts = PromptSet::new(script.clone(), media.prompts().clone(), None);
    {
        let p = prompts.clone();
        tokio::task::spawn_blocking(move || p.check(8000).and_then(|()| p.check(16000)))
            .await
            .context("prompt check task")?
            .context("the script's prompts cannot be played")?;
    }

    let now = chrono::Utc::now().timestamp();
    match store.campaign(&cfg.name) {
        Ok(_) => {}
        Err(_) => store.create_campaign(&cfg.settings.record(&cfg.name, now))?,
    }
    let region =
        cfg.settings.default_region.parse().map_err(|_| {
            anyhow::anyhow!("unknown default region {:?}", cfg.settings.default_region)
        })?;
    let import = {
        let store = store.clone();
        let (path, opts) = (cfg.contacts.clone(), ImportOptions::new(&cfg.name, region));
        tokio::task::spawn_blocking(move || import_file(store.as_ref(), &path, &opts))
            .await
            .context("import task")??
    };

    let connect = || {
        let mut c = ClientConfig {
            addr: cfg.esl_addr.clone(),
            ..ClientConfig::default()
        };
        c.password = cfg.esl_password.clone();
        EslClient::connect(c)
    };
    let (call_esl, call_events) = connect().await.context("connecting the call service")?;
    call_esl.subscribe(service::EVENTS).await?;
    let deps = Arc::new(CallDeps {
        campaign: cfg.name.clone(),
        asr_options: RecognizeOptions::for_language(script.language).with_hot_words(
            &script
                .hot_words
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>(),
        ),
        script,
        prompts,
        media,
        asr: models.asr.clone(),
        nlu: models.nlu.clone(),
        store: Some(store.clone()),
        esl: call_esl.clone(),
        transfer_to: cfg.transfer_to.clone(),
        tz: cfg.tz,
    });
    let (stop_tx, stop_rx) = watch::channel(false);
    let calls = tokio::spawn(service::serve(deps, call_events, stop_rx));

    let (dial_esl, dial_events) = connect().await.context("connecting the dialer")?;
    let dialer_cfg = DriverConfig {
        tick: Duration::from_millis(50),
        exit_when_done: true,
        ..DriverConfig::new(&cfg.name)
    };
    let dialer = dialer::run(store.clone(), dial_esl.clone(), dial_events, dialer_cfg).await;
    let _ = stop_tx.send(true);
    let records = calls.await.context("call service task")?;
    dial_esl.close().await;
    call_esl.close().await;
    let dialer = dialer?;
    let summary = Summary::of(dialer.originated as usize, &records);
    Ok(CampaignResult {
        import,
        dialer,
        records,
        summary,
        elapsed: started.elapsed(),
    })
}
