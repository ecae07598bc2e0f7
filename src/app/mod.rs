//! The service layer: `aicall serve`, the product. One process runs every started campaign —
//! each with its own script, contacts, calling window, time zone, pacing, line pools,
//! transfer target, turn settings, recognition language and lead model, all stored with the
//! campaign — over one ESL connection ([`crate::esl::ChannelRouter`]), one media port range,
//! one ASR decode pool and one intent model, sharing lines and decode time fairly
//! ([`crate::campaign::share`], the pool's per-campaign turns). `aicall demo` is this service
//! over the switch simulator with the example campaign.
//!
//! - [`Service`]: start-up (reconnecting to a switch that is not up yet), the campaigns'
//!   runners, the operations every control surface uses (create, edit, import, start,
//!   pause, resume, stop, status, DNC), and graceful shutdown: stop dialling, let live calls
//!   finish within the grace period, end the rest with a recorded disposition, flush.
//! - [`placer`]: originating a campaign's calls and holding their conversations.
//! - [`desk`]: aicall's agent desk — the router driven over ESL: offers, bridges, wrap-up.
//! - [`events`]: the bus of everything that happens (calls, campaign figures, alerts) and
//!   the live view of the calls up, for the console, dashboards, metrics and hooks.
//! - [`console`]: the supervisor console — the event socket that `fs_cli` connects to.
//! - [`control`]: who may do what (roles, API keys stored hashed) and the audit of every
//!   request.
//! - [`http`]: the control interface over HTTP (the CLI is a thin client of it).
//! - [`api`]: its OpenAPI document, generated from the handlers, and who may call each route.
//! - [`outbound`]: calls a dialplan hands to aicall (`socket host:port async full`).
//! - [`hooks`]: call outcomes POSTed to each campaign's CRM (signed, retried, never lost),
//!   contacts pushed in as JSON.
//! - [`metrics`]: Prometheus `/metrics`.
//!
//! Depends on every library module but `sim`.

pub mod api;
pub mod console;
pub mod control;
pub mod desk;
pub mod events;
pub mod hooks;
pub mod http;
pub mod metrics;
pub mod outbound;
pub mod placer;
pub mod web;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::asr::bias::PhraseBias;
use crate::asr::config::AsrConfig;
use crate::asr::pool::{DecodePool, PoolConfig};
use crate::asr::{Language, RecognizeOptions};
use crate::call::driver::CallDeps;
use crate::call::prompts::PromptSet;
use crate::call::Script;
use crate::campaign::driver::{self as dialer, Control, DriverConfig, LiveStatus, RunSummary};
use crate::campaign::import::{import_bytes, ImportError, ImportOptions, ImportReport};
use crate::campaign::phone::{normalise, region};
use crate::campaign::share::FairShare;
use crate::campaign::{CampaignSettings, Rules};
use crate::esl::{ChannelRouter, ClientConfig, EslClient, EslError};
use crate::media::{MediaConfig, MediaEngine};
use crate::nlu::IntentModel;
use crate::outcome::Disposition;
use crate::profile::dialer::LeadScorer;
use crate::store::{CampaignCounts, CampaignRecord, CampaignState, ListEntry, ListKind, Store};
use placer::{LiveCalls, SwitchPlacer};

/// The models every campaign shares, loaded once (they are the slow part of start-up).
#[derive(Debug, Clone)]
pub struct Models {
    pub asr: Arc<DecodePool>,
    pub nlu: Arc<IntentModel>,
    /// The replies callees are expected to give, continued by the decoder (`[asr]
    /// bias_phrases`); one trie for every campaign.
    pub bias: Option<PhraseBias>,
    /// `bias` with the carriers' and mailboxes' wordings, for a call's first seconds.
    pub early_bias: Option<PhraseBias>,
}

impl Models {
    /// The `[asr]` engine with `workers` decode threads, the intent model from `intent_dir`.
    pub fn load(asr: &AsrConfig, intent_dir: &Path, workers: usize) -> anyhow::Result<Models> {
        use anyhow::Context;
        let bias = asr.bias()?;
        // For Whisper: one kernel thread per decode ([asr] threads, 1 by default), a decode
        // thread per core (candle's 8-bit kernels spin-wait when several share a core).
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
                // Replies wait rather than fail under load: a busy machine answers later, it
                // does not forget what the callee said.
                queue_capacity: 4096,
            },
        )
        .context("starting the ASR threads")?;
        let nlu = IntentModel::load(intent_dir)
            .with_context(|| format!("loading the intent model from {}", intent_dir.display()))?;
        Ok(Models {
            asr: Arc::new(asr),
            nlu: Arc::new(nlu),
            early_bias: bias
                .as_ref()
                .map(|b| b.with(crate::nlu::announcement::BIAS_PHRASES)),
            bias,
        })
    }
}

/// Errors of the service's operations: each names what to change.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("campaign `{0}` does not exist (create it with `aicall campaign create`)")]
    NoCampaign(String),
    #[error("campaign `{0}` already exists")]
    Exists(String),
    #[error("campaign `{name}`: {reason}")]
    Invalid { name: String, reason: String },
    #[error("campaign `{name}` is {state}: {what}")]
    State {
        name: String,
        state: String,
        what: String,
    },
    #[error("{0}")]
    BadRequest(String),
    #[error("the service is shutting down")]
    ShuttingDown,
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Import(#[from] crate::campaign::import::ImportError),
    #[error("{0}")]
    Internal(String),
}

/// How the service runs.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    pub esl: ClientConfig,
    pub media: MediaConfig,
    /// Simultaneous calls for the whole service, shared fairly between campaigns.
    pub max_calls: u32,
    /// How long live calls may go on after a shutdown was asked.
    pub grace: Duration,
    /// How often the switch's channel list is checked for calls that ended unseen.
    pub sweep: Duration,
    /// The dialer's tick.
    pub tick: Duration,
    /// Campaigns stop by themselves once every contact is done (the demo).
    pub exit_when_done: bool,
    /// aicall's own agent routing (agents, queues); none: every transfer goes to the
    /// dialplan (`transfer_to`, e.g. mod_callcenter).
    pub agents: Option<crate::routing::RoutingConfig>,
    /// How CRM hooks are delivered.
    pub hooks: hooks::HookConfig,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        Self {
            esl: ClientConfig::default(),
            media: MediaConfig::default(),
            max_calls: 100,
            grace: Duration::from_secs(30),
            sweep: Duration::from_secs(30),
            tick: Duration::from_millis(50),
            exit_when_done: false,
            agents: None,
            hooks: hooks::HookConfig::default(),
        }
    }
}

/// A campaign as the control surfaces show it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct CampaignView {
    pub name: String,
    pub state: CampaignState,
    /// The dialer runs it in this process now.
    pub running: bool,
    pub created_at: i64,
    pub status: StatusView,
    pub settings: CampaignSettings,
}

/// A campaign's figures: stored totals plus what is happening now.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct StatusView {
    pub contacts: u64,
    /// Contacts by state (`pending`, `done`, `exhausted`, ...).
    pub by_state: std::collections::BTreeMap<String, u64>,
    /// Calls up now (ringing or talking).
    pub up: u32,
    /// Totals: attempts, answered calls, abandoned calls.
    pub dialled: u64,
    pub answered: u64,
    pub abandoned: u64,
    /// Outcomes since the service started the campaign.
    pub dispositions: std::collections::BTreeMap<String, u64>,
    pub transferred: u64,
    /// Seconds until every pending contact is done at the recent pace, when known.
    pub eta_s: Option<u64>,
}

/// A running campaign's handles.
#[derive(Debug)]
struct Runner {
    control: mpsc::Sender<Control>,
    status: watch::Receiver<LiveStatus>,
    task: JoinHandle<()>,
    abandon_cap: Option<f64>,
}

/// The running service.
#[derive(Debug)]
pub struct Service {
    store: Arc<dyn Store>,
    models: Models,
    media: Arc<MediaEngine>,
    router: ChannelRouter,
    lines: Arc<Mutex<FairShare>>,
    live: Arc<LiveCalls>,
    runners: tokio::sync::Mutex<HashMap<String, Runner>>,
    cfg: ServiceConfig,
    shutting_down: watch::Sender<bool>,
    bus: events::Bus,
    desk: Option<desk::Desk>,
    hooks: hooks::Hooks,
    metrics: metrics::Metrics,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Poisoned only after a panic elsewhere; the fair-share counters stay usable.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Connects to the switch, retrying while it is not up (a service may start before its
/// switch); a refused password or ACL is a configuration error and fails at once.
pub async fn connect_switch(
    cfg: &ClientConfig,
) -> Result<(EslClient, crate::esl::EventStream), EslError> {
    let mut delay = cfg.reconnect_initial;
    loop {
        match EslClient::connect(cfg.clone()).await {
            Ok(c) => return Ok(c),
            Err(e @ (EslError::AuthFailed { .. } | EslError::AccessDenied(_))) => return Err(e),
            Err(e) => {
                warn!(error = %e, retry_in = ?delay, "FreeSWITCH is not reachable yet");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(cfg.reconnect_max);
            }
        }
    }
}

impl Service {
    /// Starts the service: connects to the switch (waiting for it), starts the media engine,
    /// and resumes every campaign the store says is running.
    pub async fn start(
        store: Arc<dyn Store>,
        models: Models,
        cfg: ServiceConfig,
    ) -> anyhow::Result<Arc<Service>> {
        use anyhow::Context;
        let media =
            Arc::new(MediaEngine::new(cfg.media.clone()).context("starting the media engine")?);
        let (client, events) = connect_switch(&cfg.esl)
            .await
            .context("connecting to FreeSWITCH")?;
        client
            .subscribe(placer::EVENTS)
            .await
            .context("subscribing to channel events")?;
        let router = ChannelRouter::start(client, events, cfg.sweep);
        let bus = events::Bus::default();
        let desk = match &cfg.agents {
            Some(agents) => Some(
                desk::Desk::start(agents, router.clone(), bus.clone())
                    .context("the agents and queues ([serve] agents)")?,
            ),
            None => None,
        };
        let service = Arc::new(Service {
            store,
            models,
            media,
            router,
            lines: Arc::new(Mutex::new(FairShare::new(cfg.max_calls))),
            live: Arc::new(LiveCalls::default()),
            runners: tokio::sync::Mutex::new(HashMap::new()),
            shutting_down: watch::Sender::new(false),
            bus,
            desk,
            hooks: hooks::Hooks::new(cfg.hooks.clone()),
            metrics: metrics::Metrics::new(),
            cfg,
        });
        service.watch();
        hooks::start(&service);
        metrics::start(&service);
        for record in service.store.campaigns()? {
            if record.state == CampaignState::Running {
                info!(campaign = %record.name, "resuming the campaign where it was");
                if let Err(e) = service.spawn_runner(&record).await {
                    warn!(campaign = %record.name, error = %e, "cannot resume the campaign");
                }
            }
        }
        Ok(service)
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub fn router(&self) -> &ChannelRouter {
        &self.router
    }

    pub fn media(&self) -> &Arc<MediaEngine> {
        &self.media
    }

    pub fn live_calls(&self) -> &Arc<LiveCalls> {
        &self.live
    }

    pub fn models(&self) -> &Models {
        &self.models
    }

    /// aicall's agent desk, when agents are configured.
    pub fn desk(&self) -> Option<&desk::Desk> {
        self.desk.as_ref()
    }

    /// The bus of everything that happens in the service.
    pub fn bus(&self) -> &events::Bus {
        &self.bus
    }

    /// The service's watchers: campaign figures every second, alerts, the switch link.
    fn watch(self: &Arc<Self>) {
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(service) = weak.upgrade() else {
                    return;
                };
                for f in service.figures().await {
                    service.bus.publish(events::ServiceEvent::Campaign(f));
                }
            }
        });
        let bus = self.bus.clone();
        let mut rx = self.bus.subscribe();
        tokio::spawn(async move {
            let mut watch = events::AlertWatch::default();
            loop {
                match rx.recv().await {
                    Ok(ev) => {
                        for alert in watch.on_event(&ev, unix_now() * 1000) {
                            warn!(kind = ?alert.kind, message = %alert.message, "alert");
                            bus.publish(events::ServiceEvent::Alert(alert));
                        }
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    Err(_) => return,
                }
            }
        });
        let bus = self.bus.clone();
        let mut link = self.router.link();
        tokio::spawn(async move {
            while link.changed().await.is_ok() {
                let up = *link.borrow();
                bus.publish(events::ServiceEvent::Alert(events::Alert {
                    kind: events::AlertKind::SwitchLost,
                    campaign: None,
                    message: if up {
                        "FreeSWITCH connection back".into()
                    } else {
                        "FreeSWITCH connection lost: reconnecting".into()
                    },
                    cleared: up,
                }));
            }
        });
    }

    /// Every running campaign's figures now.
    pub async fn figures(&self) -> Vec<events::CampaignFigures> {
        let runners = self.runners.lock().await;
        runners
            .iter()
            .filter(|(_, r)| !r.task.is_finished())
            .map(|(name, r)| {
                let l = r.status.borrow();
                let get = |d: Disposition| l.dispositions.get(d.as_str()).copied().unwrap_or(0);
                let abandoned = get(Disposition::Abandoned);
                events::CampaignFigures {
                    campaign: name.clone(),
                    state: l
                        .state
                        .map(|s| format!("{s:?}").to_lowercase())
                        .unwrap_or_default(),
                    up: l.up,
                    dialled: l.dialled,
                    answered: l.answered,
                    transferred: get(Disposition::Transferred),
                    abandoned,
                    pending: l.pending,
                    abandon_rate: if l.answered > 0 {
                        abandoned as f64 / l.answered as f64
                    } else {
                        0.0
                    },
                    abandon_cap: r.abandon_cap,
                    ended_per_min: l.ended_per_min,
                }
            })
            .collect()
    }

    fn refuse_if_stopping(&self) -> Result<(), ServiceError> {
        if *self.shutting_down.borrow() {
            return Err(ServiceError::ShuttingDown);
        }
        Ok(())
    }

    /// Checks a campaign's settings the way its run will use them: every setting, the
    /// script (parsed, validated, its recorded prompts playable), the lead model.
    pub async fn validate(
        &self,
        name: &str,
        settings: &CampaignSettings,
    ) -> Result<(), ServiceError> {
        let invalid = |reason: String| ServiceError::Invalid {
            name: name.to_owned(),
            reason,
        };
        if name.is_empty()
            || name.len() > 64
            || !name
                .chars()
                .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            return Err(invalid(
                "a campaign name is 1 to 64 letters, digits, `-`, `_` or `.`".into(),
            ));
        }
        settings.validate().map_err(invalid)?;
        if !settings.call.script.is_empty() {
            let deps = self
                .call_deps(name, settings)
                .await
                .map_err(|e| invalid(e.to_string()))?;
            drop(deps);
        }
        if let Some(dir) = &settings.call.lead_model {
            LeadScorer::load(dir).map_err(|e| invalid(format!("call.lead_model: {e}")))?;
        }
        Ok(())
    }

    /// The conversation a campaign's calls hold: its script (with the campaign's turn
    /// settings), prompts checked playable, recognition options, time zone.
    pub(crate) async fn call_deps(
        &self,
        name: &str,
        settings: &CampaignSettings,
    ) -> anyhow::Result<Option<Arc<CallDeps>>> {
        use anyhow::Context;
        let c = &settings.call;
        if c.script.is_empty() {
            return Ok(None);
        }
        let base = c
            .script_path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        let mut script = Script::parse(&c.script, &c.script_path, &base)
            .map_err(|e| anyhow::anyhow!("call.script: {e}"))?;
        if let Some(ms) = c.no_input_ms {
            script = script.with_no_input_ms(u64::from(ms));
        }
        let script = Arc::new(script);
        let prompts = PromptSet::new(script.clone(), self.media.prompts().clone(), None);
        {
            let p = prompts.clone();
            tokio::task::spawn_blocking(move || p.check(8000).and_then(|()| p.check(16000)))
                .await
                .context("prompt check task")?
                .map_err(|e| anyhow::anyhow!("call.script: its prompts cannot be played: {e}"))?;
        }
        let language = match c.language.as_deref() {
            Some("zh") => Language::Zh,
            Some("en") => Language::En,
            Some(_) => Language::Auto,
            None => script.language,
        };
        let hot: Vec<&str> = script.hot_words.iter().map(String::as_str).collect();
        let mut asr_options = RecognizeOptions::for_language(language).with_hot_words(&hot);
        if language != Language::En {
            asr_options.bias = self.models.bias.clone();
        }
        let early_asr_options = RecognizeOptions {
            bias: self
                .models
                .early_bias
                .clone()
                .filter(|_| language != Language::En),
            ..asr_options.clone()
        };
        let tz = c.time_zone().map_err(|e| anyhow::anyhow!(e))?;
        Ok(Some(Arc::new(CallDeps {
            campaign: name.to_owned(),
            script,
            prompts,
            media: self.media.clone(),
            asr: self.models.asr.clone(),
            asr_options,
            early_asr_options,
            nlu: self.models.nlu.clone(),
            store: Some(self.store.clone()),
            transfer_to: c.transfer_to.clone(),
            tz,
            end_silence_ms: Some(c.end_silence_ms),
            events: self.bus.call_sink(),
            desk: self
                .desk
                .clone()
                .map(|d| Arc::new(d) as Arc<dyn crate::call::transfer::TransferDesk>),
            listen: self
                .cfg
                .agents
                .as_ref()
                .filter(|_| self.desk.is_some())
                .map(|a| a.listen_dial.trim().to_owned())
                .filter(|dial| !dial.is_empty())
                .map(|dial| crate::call::bridged::Listen {
                    router: self.router.clone(),
                    dial,
                }),
        })))
    }

    /// Creates a campaign (state `created`), every setting validated first.
    pub async fn create(&self, name: &str, settings: CampaignSettings) -> Result<(), ServiceError> {
        self.refuse_if_stopping()?;
        if self.store.campaign(name).is_ok() {
            return Err(ServiceError::Exists(name.to_owned()));
        }
        self.validate(name, &settings).await?;
        let settings = hooks::sealed_settings(self.store.as_ref(), name, settings)?;
        self.store
            .create_campaign(&settings.record(name, unix_now()))
            .map_err(|e| match e {
                crate::store::StoreError::CampaignExists(n) => ServiceError::Exists(n),
                e => e.into(),
            })?;
        self.store.flush()?;
        info!(campaign = name, "campaign created");
        Ok(())
    }

    /// Replaces a created, paused or stopped campaign's settings. A paused campaign's run
    /// picks the new settings up (it is restarted, still paused).
    pub async fn edit(&self, name: &str, settings: CampaignSettings) -> Result<(), ServiceError> {
        self.refuse_if_stopping()?;
        let mut record = self.record(name)?;
        if record.state == CampaignState::Running {
            return Err(ServiceError::State {
                name: name.to_owned(),
                state: "running".into(),
                what: "pause or stop it before editing".into(),
            });
        }
        self.validate(name, &settings).await?;
        let mut runners = self.runners.lock().await;
        let up = runners
            .get(name)
            .filter(|r| !r.task.is_finished())
            .map_or(0, |r| r.status.borrow().up);
        if up > 0 {
            return Err(ServiceError::State {
                name: name.to_owned(),
                state: format!("{:?} with {up} calls up", record.state).to_lowercase(),
                what: "edit it once they have ended".into(),
            });
        }
        let settings = hooks::sealed_settings(self.store.as_ref(), name, settings)?;
        let runner = runners.remove(name);
        drop(runners);
        if let Some(r) = runner {
            let (ack, done) = oneshot::channel();
            let _ = r.control.send(Control::Halt(ack)).await;
            let _ = done.await;
            let _ = r.task.await;
        }
        let new = settings.record(name, record.created_at);
        record.settings = new.settings;
        self.store.put_campaign(&record)?;
        self.store.flush()?;
        if record.state == CampaignState::Paused {
            self.spawn_runner(&record)
                .await
                .map_err(|e| ServiceError::Internal(e.to_string()))?;
        }
        info!(campaign = name, "campaign settings changed");
        Ok(())
    }

    fn record(&self, name: &str) -> Result<CampaignRecord, ServiceError> {
        self.store.campaign(name).map_err(|e| match e {
            crate::store::StoreError::NoCampaign(n) => ServiceError::NoCampaign(n),
            e => e.into(),
        })
    }

    /// Imports a contact list (CSV in any encoding, or XLSX) into a campaign; malformed rows
    /// are reported by line and the rest imported.
    pub async fn import(
        &self,
        name: &str,
        file_name: &str,
        bytes: Vec<u8>,
        map: Option<&str>,
        region_code: Option<&str>,
    ) -> Result<ImportReport, ServiceError> {
        let map = map.map(ImportOptions::parse_map).transpose()?;
        let file = PathBuf::from(file_name);
        self.import_with(name, region_code, map, move |store, opts| {
            import_bytes(store, &file, bytes, opts)
        })
        .await
    }

    /// Imports contacts read by `read` (a file's bytes, JSON) with the campaign's region
    /// and lead model, then restarts a running dialer so that it sees them.
    async fn import_with(
        &self,
        name: &str,
        region_code: Option<&str>,
        map: Option<HashMap<String, String>>,
        read: impl FnOnce(&dyn Store, &ImportOptions) -> Result<ImportReport, ImportError>
            + Send
            + 'static,
    ) -> Result<ImportReport, ServiceError> {
        self.refuse_if_stopping()?;
        let record = self.record(name)?;
        let settings =
            CampaignSettings::of(&record).map_err(|e| ServiceError::Internal(e.to_string()))?;
        let code = region_code.unwrap_or(&settings.default_region);
        let region = region(code).map_err(|e| ServiceError::BadRequest(format!("region: {e}")))?;
        let mut opts = ImportOptions::new(name, region);
        if let Some(map) = map {
            opts.map = map;
        }
        if let Some(dir) = &settings.call.lead_model {
            let mut scorer = LeadScorer::load(dir).map_err(|e| ServiceError::Invalid {
                name: name.to_owned(),
                reason: format!("call.lead_model: {e}"),
            })?;
            scorer.restrict_hours(window_hours(&settings));
            opts.leads = Some(Arc::new(scorer));
        }
        let store = self.store.clone();
        let report = tokio::task::spawn_blocking(move || {
            let r = read(store.as_ref(), &opts);
            store.flush()?;
            r.map_err(ServiceError::from)
        })
        .await
        .map_err(|e| ServiceError::Internal(format!("import task: {e}")))??;
        // A running dialer takes the new contacts into its schedule.
        if let Some(r) = self.runners.lock().await.get(name) {
            let (ack, done) = oneshot::channel();
            if r.control.send(Control::Refresh(ack)).await.is_ok() {
                let _ = done.await;
            }
        }
        info!(
            campaign = name,
            rows = report.rows,
            imported = report.imported,
            rejected = report.rejected.len(),
            "contacts imported"
        );
        Ok(report)
    }

    /// Starts (or resumes) a campaign: dialling begins at once.
    pub async fn start_campaign(&self, name: &str) -> Result<CampaignState, ServiceError> {
        self.set_state(name, CampaignState::Running).await
    }

    /// Pauses a campaign: once this returns, no originate leaves for it; calls up go on.
    pub async fn pause(&self, name: &str) -> Result<CampaignState, ServiceError> {
        self.set_state(name, CampaignState::Paused).await
    }

    /// Stops a campaign: no more originates; the run ends once its calls have.
    pub async fn stop(&self, name: &str) -> Result<CampaignState, ServiceError> {
        self.set_state(name, CampaignState::Stopped).await
    }

    async fn set_state(
        &self,
        name: &str,
        state: CampaignState,
    ) -> Result<CampaignState, ServiceError> {
        if state == CampaignState::Running {
            self.refuse_if_stopping()?;
        }
        let mut record = self.record(name)?;
        let mut runners = self.runners.lock().await;
        if let Some(r) = runners.get(name) {
            if !r.task.is_finished() {
                let (ack, done) = oneshot::channel();
                if r.control.send(Control::SetState(state, ack)).await.is_ok() && done.await.is_ok()
                {
                    info!(campaign = name, ?state, "campaign state acknowledged");
                    return Ok(state);
                }
            }
            runners.remove(name);
        }
        record.state = state;
        self.store.put_campaign(&record)?;
        self.store.flush()?;
        if state == CampaignState::Running {
            drop(runners);
            self.spawn_runner(&record)
                .await
                .map_err(|e| ServiceError::Invalid {
                    name: name.to_owned(),
                    reason: e.to_string(),
                })?;
        }
        info!(campaign = name, ?state, "campaign state changed");
        Ok(state)
    }

    /// Changes a running campaign's pacing live: the most calls up, originates per second,
    /// calls per free agent. Each value is checked; the change is kept with the campaign.
    pub async fn pace(
        &self,
        name: &str,
        pace: crate::campaign::driver::Pace,
    ) -> Result<(), ServiceError> {
        let bad = |what: String| ServiceError::BadRequest(what);
        if pace.concurrent == Some(0) {
            return Err(bad("concurrent must be at least 1".into()));
        }
        if pace.cps.is_some_and(|c| !(c > 0.0 && c.is_finite())) {
            return Err(bad("cps must be a positive rate".into()));
        }
        if pace.ratio.is_some_and(|r| !(1.0..=10.0).contains(&r)) {
            return Err(bad(
                "ratio must be between 1 and 10 calls per free agent".into()
            ));
        }
        self.record(name)?;
        let runners = self.runners.lock().await;
        let Some(r) = runners.get(name).filter(|r| !r.task.is_finished()) else {
            return Err(ServiceError::State {
                name: name.to_owned(),
                state: "not running".into(),
                what: "start it first (or change its settings with `campaign edit`)".into(),
            });
        };
        let (ack, done) = oneshot::channel();
        r.control
            .send(Control::Pace(pace, ack))
            .await
            .map_err(|_| ServiceError::Internal("the campaign's run ended".into()))?;
        done.await
            .map_err(|_| ServiceError::Internal("the campaign's run ended".into()))
    }

    /// Starts the dialer and calls of a campaign in this process.
    async fn spawn_runner(&self, record: &CampaignRecord) -> anyhow::Result<()> {
        let name = record.name.clone();
        let settings = CampaignSettings::of(record)?;
        let deps = self.call_deps(&name, &settings).await?;
        let leads = match &settings.call.lead_model {
            Some(dir) => {
                let mut scorer =
                    LeadScorer::load(dir).map_err(|e| anyhow::anyhow!("call.lead_model: {e}"))?;
                scorer.restrict_hours(window_hours(&settings));
                Some(Arc::new(Mutex::new(scorer)))
            }
            None => None,
        };
        lock(&self.lines).join(&name, settings.call.weight);
        let placer = Arc::new(SwitchPlacer::new(
            self.router.clone(),
            deps,
            self.live.clone(),
            self.bus.call_sink(),
        ));
        let (status_tx, status_rx) = watch::channel(LiveStatus::default());
        let (outcomes_tx, mut outcomes_rx) = mpsc::unbounded_channel();
        let bus = self.bus.clone();
        tokio::spawn(async move {
            while let Some(o) = outcomes_rx.recv().await {
                bus.outcome(&o);
            }
        });
        let (control_tx, control_rx) = mpsc::channel(8);
        let cfg = DriverConfig {
            tick: self.cfg.tick,
            exit_when_done: self.cfg.exit_when_done,
            leads,
            lines: Some(self.lines.clone()),
            status: Some(status_tx),
            outcomes: Some(outcomes_tx),
            agents: self
                .desk
                .as_ref()
                .map(|d| Arc::new(d.availability()) as Arc<dyn crate::campaign::AgentAvailability>),
            ..DriverConfig::new(&name)
        };
        let store = self.store.clone();
        let lines = self.lines.clone();
        let task_name = name.clone();
        let task = tokio::spawn(async move {
            match dialer::run(store, placer, cfg, control_rx).await {
                Ok(s) => {
                    info!(campaign = %task_name, summary = %summary_line(&s), "campaign run ended")
                }
                Err(e) => warn!(campaign = %task_name, error = %e, "campaign run failed"),
            }
            lock(&lines).leave(&task_name);
        });
        self.runners.lock().await.insert(
            name,
            Runner {
                control: control_tx,
                status: status_rx,
                task,
                abandon_cap: settings.pacing.predictive.as_ref().map(|p| p.abandon_cap),
            },
        );
        Ok(())
    }

    /// One campaign as the control surfaces show it.
    pub async fn campaign(&self, name: &str) -> Result<CampaignView, ServiceError> {
        let record = self.record(name)?;
        self.view(record).await
    }

    /// Every campaign.
    pub async fn campaigns(&self) -> Result<Vec<CampaignView>, ServiceError> {
        let mut out = Vec::new();
        for r in self.store.campaigns()? {
            out.push(self.view(r).await?);
        }
        Ok(out)
    }

    async fn view(&self, record: CampaignRecord) -> Result<CampaignView, ServiceError> {
        let settings =
            CampaignSettings::of(&record).map_err(|e| ServiceError::Internal(e.to_string()))?;
        let store = self.store.clone();
        let name = record.name.clone();
        let counts: CampaignCounts = tokio::task::spawn_blocking(move || store.counts(&name))
            .await
            .map_err(|e| ServiceError::Internal(e.to_string()))??;
        let runners = self.runners.lock().await;
        let live = runners
            .get(&record.name)
            .filter(|r| !r.task.is_finished())
            .map(|r| r.status.borrow().clone());
        let mut status = StatusView {
            contacts: counts.contacts,
            by_state: counts.by_state.clone(),
            dialled: counts.attempts,
            answered: counts.answered,
            abandoned: counts.abandoned,
            ..StatusView::default()
        };
        if let Some(l) = &live {
            status.up = l.up;
            status.dispositions = l.dispositions.clone();
            status.transferred = l
                .dispositions
                .get(Disposition::Transferred.as_str())
                .copied()
                .unwrap_or(0);
            let pending = counts.by_state.get("pending").copied().unwrap_or(0)
                + counts.by_state.get("inflight").copied().unwrap_or(0);
            if l.ended_per_min > 0.0 {
                status.eta_s = Some((pending as f64 / l.ended_per_min * 60.0).round() as u64);
            }
        }
        Ok(CampaignView {
            name: record.name.clone(),
            state: record.state,
            running: live.is_some(),
            created_at: record.created_at,
            status,
            settings,
        })
    }

    /// Adds a number to a list (DNC, black, gray), for every campaign, at once.
    pub fn list_add(
        &self,
        number: &str,
        list: ListKind,
        region_code: &str,
        source: &str,
    ) -> Result<String, ServiceError> {
        let key = self.phone_key(number, region_code)?;
        self.store.list_add(
            &key,
            &ListEntry {
                kind: list,
                added_at: unix_now(),
                source: source.to_owned(),
            },
        )?;
        self.store.flush()?;
        Ok(crate::pii::Pii(&normalised(number, region_code)?).to_string())
    }

    /// Removes a number from a list; false when it was not on it.
    pub fn list_remove(
        &self,
        number: &str,
        list: ListKind,
        region_code: &str,
    ) -> Result<bool, ServiceError> {
        let key = self.phone_key(number, region_code)?;
        let removed = self.store.list_remove(&key, list)?;
        self.store.flush()?;
        Ok(removed)
    }

    /// Which lists a number is on.
    pub fn list_check(
        &self,
        number: &str,
        region_code: &str,
    ) -> Result<crate::store::ListFlags, ServiceError> {
        let key = self.phone_key(number, region_code)?;
        Ok(self.store.list_flags(&key)?)
    }

    fn phone_key(
        &self,
        number: &str,
        region_code: &str,
    ) -> Result<crate::store::PhoneKey, ServiceError> {
        Ok(self.store.phone_key(&normalised(number, region_code)?))
    }

    /// Graceful shutdown: no campaign dials any more (their stored state is kept, so a
    /// restart resumes them), live calls go on for the grace period, then the rest are ended
    /// and recorded as `interrupted`; returns once every run has finished and the store is
    /// flushed.
    pub async fn shutdown(&self) {
        self.shutting_down.send_replace(true);
        let runners: Vec<(String, Runner)> = self.runners.lock().await.drain().collect();
        for (name, r) in &runners {
            let (ack, done) = oneshot::channel();
            if r.control.send(Control::Halt(ack)).await.is_ok() {
                let _ = done.await;
            }
            info!(campaign = %name, "dialling stopped");
        }
        info!(calls = self.live.len(), grace = ?self.cfg.grace, "waiting for the calls up to finish");
        placer::end_calls(&self.live, self.cfg.grace, Disposition::Interrupted).await;
        for (name, r) in runners {
            if tokio::time::timeout(Duration::from_secs(30), r.task)
                .await
                .is_err()
            {
                warn!(campaign = %name, "the campaign's run did not finish");
            }
        }
        if let Err(e) = self.store.flush() {
            warn!(error = %e, "final flush failed");
        }
        self.router.client().close().await;
        info!("service stopped");
    }

    /// Waits until no campaign runs (the demo: every contact done).
    pub async fn idle(&self) {
        loop {
            {
                let mut runners = self.runners.lock().await;
                runners.retain(|_, r| !r.task.is_finished());
                if runners.is_empty() {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Whether a shutdown has been asked.
    pub fn is_stopping(&self) -> bool {
        *self.shutting_down.borrow()
    }
}

fn normalised(number: &str, region_code: &str) -> Result<String, ServiceError> {
    let r = region(region_code).map_err(|e| ServiceError::BadRequest(format!("region: {e}")))?;
    normalise(number, r)
        .map(|n| n.e164)
        .map_err(|e| ServiceError::BadRequest(format!("number: {e}")))
}

/// The calling window's hours of the week (lead models pick best hours inside it).
fn window_hours(settings: &CampaignSettings) -> Vec<usize> {
    Rules::new(&settings.window, &settings.caps, settings.max_attempts)
        .map(|r| r.hours_of_week())
        .unwrap_or_default()
}

fn summary_line(s: &RunSummary) -> String {
    format!(
        "dialled {}, answered {}, refused {}, reconciled {} live / {} lost",
        s.originated, s.answered, s.refused, s.reconciled_live, s.reconciled_lost
    )
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}
