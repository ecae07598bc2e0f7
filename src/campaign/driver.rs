//! The dialer driver: the tokio task that carries out the pure decisions and keeps the store
//! crash-consistent. It decides who to call and when; a [`Placer`] carries each call out on
//! the switch (originate, follow the channel, and — in `aicall serve` — hold the AI
//! conversation) and hands back how it ended, in process.
//!
//! Exactly-once dialling: every attempt gets its channel UUID up front (`origination_uuid`)
//! and is written as `dialing` — and the write flushed to disk — before its `originate` is
//! sent. At start-up open attempts are reconciled with FreeSWITCH's channel list: a live
//! channel is handed to the placer to adopt (followed to its end); a missing one is resolved
//! (`Unknown` if it never answered as far as we know: it counts as an attempt, since the call
//! may have happened). An attempt is therefore never dialled twice, and no contact is left in
//! flight. Channels that end unseen later (a reconnect, a switch restart) are reported by the
//! placer, which learns of them from the channel router.
//!
//! Control ([`Control`]) takes effect between dial rounds, and a dial round returns only once
//! every originate it started has been sent: so once a pause is acknowledged, no originate
//! leaves.
//!
//! What the call itself decided (the conversation's disposition and callback time) overrides
//! the hangup cause; a DNC request puts the number on the DNC list for every campaign. The
//! outcome an agent files for a call the desk took ([`AgentFiled`], [`Control::Refile`])
//! refines `transferred` in turn: the attempt takes it and the contact is scheduled by the
//! same retry policy — a callback at the agreed time, a sale or a refusal for good.
//!
//! Slots (concurrency, line-pool channel, the service's shared line) are held by a
//! [`SlotGuard`] that gives them back when dropped, on every end path: normal hangup,
//! originate failure, timeout, task abort.
//!
//! Predictive campaigns (`pacing.predictive`) read their agents from the
//! [`AgentAvailability`] given in [`DriverConfig::agents`] on every dial round, and place what
//! [`Predictive::calls_to_place`] allows. The driver measures the answer rate, the time to
//! answer and the talk time itself; whether an answered call found an agent comes from the
//! placer (an abandoned call's CDR cause is `ABANDONED` and its disposition `Abandoned`,
//! retried after `abandoned_s`).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use serde::Serialize;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinSet;
use tracing::{debug, info, warn};

use super::compliance::{Compliance, Rules, RulesError};
use super::pacing::{
    render_dial_string, with_channel_vars, AgentAvailability, Grant, Pacer, Predictive,
    TemplateError, Wait,
};
use super::queue::{Queue, QueueEntry};
use super::retry::{disposition_of, Next};
use super::share::FairShare;
use super::{CampaignSettings, SettingsError};
use crate::esl::{EslError, HangupCause};
use crate::pii::Pii;
use crate::store::{
    Attempt, AttemptState, AuditEntry, CampaignState, CdrRecord, Contact, ContactState,
    Disposition, ListEntry, ListKind, Store, StoreError,
};

/// Errors that stop the driver.
#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Esl(#[from] EslError),
    #[error(transparent)]
    Settings(#[from] SettingsError),
    #[error("calling window of campaign `{campaign}`: {source}")]
    Rules {
        campaign: String,
        #[source]
        source: RulesError,
    },
    #[error("campaign `{campaign}` has no line pool: add one to its pacing settings")]
    NoPools { campaign: String },
    #[error(
        "campaign `{campaign}` uses predictive pacing, which needs an agent source \
         (DriverConfig::agents); none is connected"
    )]
    NoAgents { campaign: String },
}

/// Driver options.
#[derive(Clone, Debug)]
pub struct DriverConfig {
    pub campaign: String,
    /// How often the driver looks for work when idle.
    pub tick: Duration,
    /// Return once every contact is terminal (tests, the bench, the demo).
    pub exit_when_done: bool,
    /// Seed for retry jitter.
    pub seed: u64,
    /// The agents of a predictive campaign (required when `pacing.predictive` is set).
    pub agents: Option<Arc<dyn AgentAvailability>>,
    /// Lead model: best-hour update and rescoring after every outcome (`profile::dialer`).
    pub leads: Option<Arc<Mutex<crate::profile::dialer::LeadScorer>>>,
    /// The service's lines, shared with its other campaigns; none: only the campaign's own
    /// limits apply.
    pub lines: Option<Arc<Mutex<FairShare>>>,
    /// Where the driver publishes its live figures after every change.
    pub status: Option<watch::Sender<LiveStatus>>,
    /// Where every attempt's final outcome goes once it is stored.
    pub outcomes: Option<mpsc::UnboundedSender<AttemptOutcome>>,
}

/// An attempt's final outcome, as stored.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AttemptOutcome {
    pub uuid: String,
    pub campaign: String,
    pub contact_id: u64,
    pub disposition: Disposition,
    pub cause: String,
    pub answered: bool,
    pub billsec: u64,
    pub callback_at: Option<i64>,
    /// The contact's lead score after the outcome, when a lead model rescored it.
    pub score: Option<f32>,
}

impl DriverConfig {
    pub fn new(campaign: &str) -> Self {
        Self {
            campaign: campaign.to_owned(),
            tick: Duration::from_millis(50),
            exit_when_done: false,
            seed: 0x5eed,
            agents: None,
            leads: None,
            lines: None,
            status: None,
            outcomes: None,
        }
    }
}

/// What a run did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunSummary {
    pub originated: u64,
    pub answered: u64,
    pub refused: u64,
    pub reconciled_live: u64,
    pub reconciled_lost: u64,
    /// Concurrency slots still held when the run returned (0 unless a slot leaked).
    pub slots_in_use: u32,
    /// Outcomes of this run's attempts.
    pub dispositions: BTreeMap<String, u64>,
}

/// The driver's figures at one moment, for `campaign status` and the dashboards.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct LiveStatus {
    pub state: Option<CampaignState>,
    /// Calls placed and not yet ended (ringing or talking).
    pub up: u32,
    /// Since the driver started: originates, answered calls, outcomes.
    pub dialled: u64,
    pub answered: u64,
    pub refused: u64,
    pub dispositions: BTreeMap<String, u64>,
    /// Contacts waiting for a (next) attempt.
    pub pending: u64,
    /// Attempts ended per minute over the last minutes.
    pub ended_per_min: f64,
}

/// A control request; the acknowledgement is sent once it has taken effect.
#[derive(Debug)]
pub enum Control {
    /// Running, paused or stopped (persisted). Paused: no originate after the
    /// acknowledgement, calls up go on. Stopped: the same, and the driver returns once the
    /// calls up have ended.
    SetState(CampaignState, oneshot::Sender<()>),
    /// The service is shutting down: no originate after the acknowledgement, the stored
    /// state is kept (the campaign resumes at the next start); the driver returns once the
    /// calls up have ended.
    Halt(oneshot::Sender<()>),
    /// Contacts were imported (or changed) in the store: the schedule takes them in.
    Refresh(oneshot::Sender<()>),
    /// New pacing limits, taking effect at the next dial round and kept in the stored
    /// settings.
    Pace(Pace, oneshot::Sender<()>),
    /// An agent filed the outcome of a call the desk took: the attempt takes it and the
    /// contact is scheduled by it ([`refile`]); a call still up takes it when it ends.
    Refile(AgentFiled, oneshot::Sender<Result<Refiled, StoreError>>),
}

/// The outcome an agent filed for a call it took, as the dialer acts on it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgentFiled {
    /// The attempt: the callee's channel UUID.
    pub uuid: String,
    pub agent: String,
    /// What the attempt's `transferred` becomes.
    pub disposition: Disposition,
    /// The callback the agent agreed (unix seconds), for `callback`.
    pub callback_at: Option<i64>,
}

/// What an agent's outcome did to its contact.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refiled {
    /// The attempt carries the outcome and the contact is in `state`; a pending contact is
    /// called again from `next_at` on (the calling window, caps and lists still apply then).
    Now {
        contact: u64,
        state: ContactState,
        next_at: i64,
    },
    /// The call is still up: the outcome takes the place of `transferred` when it ends.
    AtCallEnd,
}

impl Refiled {
    /// Where `contact` is now.
    pub fn of(contact: &Contact) -> Self {
        Refiled::Now {
            contact: contact.id,
            state: contact.state,
            next_at: contact.next_at,
        }
    }
}

/// Where `next` puts a contact.
fn schedule(contact: &mut Contact, next: Next, now: i64) {
    match next {
        Next::Stop(state) => {
            contact.state = state;
            contact.next_at = now;
        }
        Next::RetryAt(at) => {
            contact.state = ContactState::Pending;
            contact.next_at = at;
        }
    }
}

/// Gives an ended attempt the outcome an agent filed and schedules its contact by the
/// campaign's retry policy, as [`run`] does for an outcome the conversation decided: a
/// `callback` is tried again at its time (while attempts are left), `converted`,
/// `interested` and `not_interested` end the contact, `dnc` blocks it, `wrong_number` marks it
/// invalid. Nothing is dialled here: the calling window, caps and lists are checked when the
/// contact's turn comes. For a campaign without a running dialer, or from inside one (which
/// must then re-queue the contact). Returns the contact as written.
pub fn refile(
    store: &dyn Store,
    settings: &CampaignSettings,
    filed: &AgentFiled,
    now: i64,
    jitter_seed: u64,
) -> Result<Contact, StoreError> {
    let mut attempt = store.attempt(&filed.uuid)?;
    let mut contact = store.contact(attempt.contact_id)?;
    let was = attempt
        .disposition
        .map_or_else(|| "none".to_owned(), |d| d.to_string());
    let next = settings.retry.next(
        filed.disposition,
        filed.callback_at,
        contact.attempts,
        settings.max_attempts,
        now,
        jitter_seed,
    );
    schedule(&mut contact, next, now);
    contact.note = format!("{} (agent {})", filed.disposition, filed.agent);
    attempt.disposition = Some(filed.disposition);
    attempt.callback_at = filed
        .callback_at
        .filter(|_| filed.disposition == Disposition::Callback);
    store.refile_attempt(&attempt, &contact)?;
    store.audit(&AuditEntry {
        at: now,
        campaign: attempt.campaign.clone(),
        contact_id: contact.id,
        action: "outcome".into(),
        reason: format!(
            "agent {} filed {} for attempt {} (was {was})",
            filed.agent, filed.disposition, attempt.number
        ),
    })?;
    Ok(contact)
}

/// A supervisor's pacing change; what is left out stays.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, serde::Deserialize)]
pub struct Pace {
    pub concurrent: Option<u32>,
    pub cps: Option<f64>,
    /// Calls per free agent (predictive campaigns).
    pub ratio: Option<f64>,
}

/// How a placed call ended, as its [`Placer`] reports it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CallEnd {
    pub uuid: String,
    pub cause: Option<HangupCause>,
    /// What the conversation decided, if one was held, and the callback time it agreed.
    pub decided: Option<(Disposition, Option<i64>)>,
    pub answered: bool,
    pub billsec: u64,
    /// The originate was never sent (no connection): the attempt does not count.
    pub not_sent: bool,
    /// Answered, but no agent took the transfer.
    pub abandoned: bool,
}

impl CallEnd {
    /// A call whose channel is gone without a hangup we saw.
    pub fn lost(uuid: String, answered: bool) -> Self {
        CallEnd {
            uuid,
            answered,
            ..CallEnd::default()
        }
    }
}

/// One call for a [`Placer`] to carry out.
#[derive(Debug)]
pub struct Placement {
    /// The channel's UUID (`origination_uuid`): the attempt's id.
    pub uuid: String,
    pub campaign: String,
    pub contact_id: u64,
    /// The `originate` arguments: `{vars}dial-string &park()`.
    pub originate: String,
    /// The contact's fields (for the conversation's prompts) and its number's key (for a
    /// DNC request); the placer never reads the store.
    pub fields: std::collections::HashMap<String, String>,
    pub phone_key: Option<crate::store::PhoneKey>,
    /// The callee's number, masked (for logs and supervisors).
    pub callee: String,
    /// The contact's lead score, when a model scored it.
    pub score: Option<f32>,
    /// How long to wait for the originate's result.
    pub timeout: Duration,
    /// Fired once the originate has been sent (or failed to be); a dial round waits for it.
    pub sent: Option<oneshot::Sender<()>>,
    /// Where the placer reports the answer.
    pub progress: mpsc::UnboundedSender<Progress>,
}

/// What a placer reports while a call is up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Progress {
    Answered { uuid: String },
}

/// A boxed future, for the object-safe [`Placer`].
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// Carries calls out on the switch.
pub trait Placer: Send + Sync + std::fmt::Debug + 'static {
    /// Originates `call`, follows it to its end and says how it ended.
    fn place(&self, call: Placement) -> BoxFuture<CallEnd>;
    /// Follows a call an earlier run placed, found still up on the switch; `answered`: its
    /// answer was recorded.
    fn adopt(&self, call: Placement, answered: bool) -> BoxFuture<CallEnd>;
    /// The UUIDs of the channels on the switch now.
    fn live_channels(&self) -> BoxFuture<Result<HashSet<String>, EslError>>;
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A poisoned lock only follows a panic in another task; the counters it guards are still
    // meaningful, and the periodic reconciliation corrects them anyway.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Holds one concurrency slot, one pool channel and one of the service's lines; gives them
/// back when dropped.
#[derive(Debug)]
pub struct SlotGuard {
    pacer: Arc<Mutex<Pacer>>,
    grant: Grant,
    line: Option<(Arc<Mutex<FairShare>>, String)>,
}

impl Drop for SlotGuard {
    fn drop(&mut self) {
        lock(&self.pacer).release(&self.grant);
        if let Some((lines, campaign)) = &self.line {
            lock(lines).give_back(campaign);
        }
    }
}

fn unix_now() -> (i64, i64) {
    let d = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    (d.as_secs() as i64, d.as_millis() as i64)
}

struct Driver {
    store: Arc<dyn Store>,
    placer: Arc<dyn Placer>,
    cfg: DriverConfig,
    settings: CampaignSettings,
    rules: Rules,
    compliance: Compliance,
    queue: Queue,
    pacer: Arc<Mutex<Pacer>>,
    /// Attempts in flight → their pool.
    in_flight: HashMap<String, usize>,
    /// In-flight attempts FreeSWITCH reported answered.
    answered: HashSet<String>,
    tasks: JoinSet<()>,
    ends_tx: mpsc::UnboundedSender<CallEnd>,
    progress_tx: mpsc::UnboundedSender<Progress>,
    summary: RunSummary,
    jitter: u64,
    /// Predictive pacing state and its agent source, for predictive campaigns.
    predictive: Option<(Predictive, Arc<dyn AgentAvailability>)>,
    /// When each in-flight attempt was dialled (ms), for the time to answer.
    dialled_at: HashMap<String, i64>,
    state: CampaignState,
    /// Stop dialling for good (stopped or halted): return once nothing is in flight.
    draining: bool,
    /// When recent attempts ended (ms), for the rate in the live figures.
    recent_ends: std::collections::VecDeque<i64>,
    /// Outcomes agents filed for calls still up, applied when they end.
    agent_filed: HashMap<String, AgentFiled>,
}

/// Runs a campaign until it is stopped, halted through `control`, or (with `exit_when_done`)
/// until every contact is terminal. Aborting the returned future at any point leaves the
/// store consistent: the next run reconciles.
pub async fn run(
    store: Arc<dyn Store>,
    placer: Arc<dyn Placer>,
    cfg: DriverConfig,
    mut control: mpsc::Receiver<Control>,
) -> Result<RunSummary, DriverError> {
    let record = store.campaign(&cfg.campaign)?;
    let settings = CampaignSettings::of(&record)?;
    if settings.pacing.pools.is_empty() {
        return Err(DriverError::NoPools {
            campaign: cfg.campaign.clone(),
        });
    }
    let rules =
        Rules::new(&settings.window, &settings.caps, settings.max_attempts).map_err(|source| {
            DriverError::Rules {
                campaign: cfg.campaign.clone(),
                source,
            }
        })?;
    let predictive = match (&settings.pacing.predictive, &cfg.agents) {
        (None, _) => None,
        (Some(p), Some(agents)) => Some((Predictive::new(p.clone()), agents.clone())),
        (Some(_), None) => {
            return Err(DriverError::NoAgents {
                campaign: cfg.campaign.clone(),
            })
        }
    };
    let (now, _) = unix_now();
    let mut compliance = Compliance::new();
    for (key, kind) in store.list_all()? {
        compliance.set_listed(key, kind, true);
    }
    for (key, at) in store.all_dial_history(now - 7 * 86_400)? {
        compliance.record_dial(key, at);
    }
    let (ends_tx, mut ends_rx) = mpsc::unbounded_channel();
    let (progress_tx, mut progress_rx) = mpsc::unbounded_channel();
    let state = match record.state {
        CampaignState::Created => CampaignState::Running,
        s => s,
    };
    let mut d = Driver {
        pacer: Arc::new(Mutex::new(Pacer::new(settings.pacing.clone()))),
        store,
        placer,
        queue: Queue::new(),
        rules,
        compliance,
        settings,
        in_flight: HashMap::new(),
        answered: HashSet::new(),
        tasks: JoinSet::new(),
        ends_tx,
        progress_tx,
        summary: RunSummary::default(),
        jitter: cfg.seed,
        predictive,
        dialled_at: HashMap::new(),
        draining: state == CampaignState::Stopped,
        state,
        recent_ends: std::collections::VecDeque::new(),
        agent_filed: HashMap::new(),
        cfg,
    };
    d.reconcile_at_start().await?;
    let contacts = d.store.contacts(&d.cfg.campaign)?;
    d.queue = Queue::from_contacts(&contacts);
    drop(contacts);
    info!(campaign = %d.cfg.campaign, pending = d.queue.len(), state = ?d.state, "dialer started");
    let mut tick = tokio::time::interval(d.cfg.tick);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut control_open = true;
    d.publish();
    loop {
        tokio::select! {
            Some(end) = ends_rx.recv() => {
                d.on_call_end(end)?;
                d.publish();
            }
            Some(p) = progress_rx.recv() => {
                d.on_progress(p)?;
                d.publish();
            }
            c = control.recv(), if control_open => match c {
                Some(c) => {
                    d.on_control(c)?;
                    d.publish();
                }
                None => control_open = false,
            },
            _ = tick.tick() => {
                let (now, now_ms) = unix_now();
                if d.state == CampaignState::Running && !d.draining {
                    d.dial_round(now, now_ms).await?;
                } else if let Some(lines) = &d.cfg.lines {
                    lock(lines).set_wanting(&d.cfg.campaign, false);
                }
                if d.draining && d.in_flight.is_empty() {
                    return Ok(d.finish_run());
                }
                if d.cfg.exit_when_done && d.queue.is_empty() && d.in_flight.is_empty() {
                    return Ok(d.finish_run());
                }
                // Reap finished tasks so the set does not grow.
                while d.tasks.try_join_next().is_some() {}
            }
        }
    }
}

impl Driver {
    fn finish_run(&mut self) -> RunSummary {
        if let Some(lines) = &self.cfg.lines {
            lock(lines).set_wanting(&self.cfg.campaign, false);
        }
        self.publish();
        let mut s = self.summary.clone();
        s.slots_in_use = lock(&self.pacer).in_flight();
        s
    }

    fn publish(&mut self) {
        let Some(tx) = &self.cfg.status else { return };
        let (_, now_ms) = unix_now();
        while self
            .recent_ends
            .front()
            .is_some_and(|&t| now_ms - t > 5 * 60_000)
        {
            self.recent_ends.pop_front();
        }
        let window_min = self
            .recent_ends
            .front()
            .map_or(0.0, |&t| (now_ms - t).max(60_000) as f64 / 60_000.0);
        let status = LiveStatus {
            state: Some(if self.draining && self.state != CampaignState::Stopped {
                // Halted by a shutdown: still "running" in the store.
                self.state
            } else {
                self.state
            }),
            up: u32::try_from(self.in_flight.len()).unwrap_or(u32::MAX),
            dialled: self.summary.originated,
            answered: self.summary.answered,
            refused: self.summary.refused,
            dispositions: self.summary.dispositions.clone(),
            pending: self.queue.len() as u64,
            ended_per_min: if window_min > 0.0 {
                self.recent_ends.len() as f64 / window_min
            } else {
                0.0
            },
        };
        tx.send_replace(status);
    }

    fn on_control(&mut self, c: Control) -> Result<(), DriverError> {
        match c {
            Control::SetState(state, ack) => {
                let mut record = self.store.campaign(&self.cfg.campaign)?;
                record.state = state;
                self.store.put_campaign(&record)?;
                self.store.flush()?;
                self.state = state;
                self.draining = state == CampaignState::Stopped;
                info!(campaign = %self.cfg.campaign, ?state, "campaign state changed");
                let _ = ack.send(());
            }
            Control::Halt(ack) => {
                self.draining = true;
                info!(campaign = %self.cfg.campaign, "dialling halted for shutdown");
                let _ = ack.send(());
            }
            Control::Pace(pace, ack) => {
                lock(&self.pacer).set_limits(pace.concurrent, pace.cps);
                if let Some(n) = pace.concurrent {
                    self.settings.pacing.max_concurrent = n;
                }
                if let Some(r) = pace.cps {
                    self.settings.pacing.calls_per_s = r;
                }
                if let Some(ratio) = pace.ratio {
                    if let Some((p, _)) = &mut self.predictive {
                        p.set_max_ratio(ratio);
                    }
                    if let Some(cfg) = &mut self.settings.pacing.predictive {
                        cfg.max_ratio = ratio;
                    }
                }
                let mut record = self.store.campaign(&self.cfg.campaign)?;
                record.settings = self
                    .settings
                    .record(&self.cfg.campaign, record.created_at)
                    .settings;
                self.store.put_campaign(&record)?;
                self.store.flush()?;
                info!(campaign = %self.cfg.campaign, ?pace, "pacing changed");
                let _ = ack.send(());
            }
            Control::Refresh(ack) => {
                // Pending contacts not in flight join the schedule (or are re-scheduled by
                // what the store now says).
                let mut added = 0;
                for c in self.store.contacts(&self.cfg.campaign)? {
                    if c.state == ContactState::Pending {
                        self.queue.push(QueueEntry::of(&c));
                        added += 1;
                    } else if c.state != ContactState::InFlight {
                        self.queue.remove(c.id);
                    }
                }
                info!(campaign = %self.cfg.campaign, pending = added, "contacts refreshed");
                let _ = ack.send(());
            }
            Control::Refile(filed, reply) => {
                // A refusal (a later attempt, a call unknown to the store) is the caller's to
                // report; the dialer goes on.
                let _ = reply.send(self.refile(filed));
            }
        }
        Ok(())
    }

    fn refile(&mut self, filed: AgentFiled) -> Result<Refiled, StoreError> {
        if self.in_flight.contains_key(&filed.uuid) {
            self.agent_filed.insert(filed.uuid.clone(), filed);
            return Ok(Refiled::AtCallEnd);
        }
        let (now, _) = unix_now();
        let jitter = self.next_jitter();
        let contact = refile(&*self.store, &self.settings, &filed, now, jitter)?;
        if filed.disposition == Disposition::Dnc {
            self.compliance
                .set_listed(contact.phone_key, ListKind::Dnc, true);
        }
        if contact.state == ContactState::Pending {
            self.queue.push(QueueEntry::of(&contact));
        } else {
            self.queue.remove(contact.id);
        }
        Ok(Refiled::of(&contact))
    }

    fn next_jitter(&mut self) -> u64 {
        // SplitMix64: a deterministic spread from the configured seed.
        self.jitter = self.jitter.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.jitter;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn pool_of(&self, gateway: &str) -> usize {
        self.settings
            .pacing
            .pools
            .iter()
            .position(|p| p.gateway == gateway)
            .unwrap_or(0)
    }

    fn placement(
        &self,
        uuid: &str,
        contact: Option<&Contact>,
        contact_id: u64,
        originate: String,
    ) -> Placement {
        let mut fields = std::collections::HashMap::new();
        if let Some(c) = contact {
            if let Some(n) = &c.pii.name {
                fields.insert("name".to_owned(), n.clone());
            }
            for (k, v) in &c.pii.fields {
                fields.insert(k.clone(), v.clone());
            }
        }
        Placement {
            uuid: uuid.to_owned(),
            campaign: self.cfg.campaign.clone(),
            contact_id,
            originate,
            fields,
            phone_key: contact.map(|c| c.phone_key),
            callee: contact.map_or_else(String::new, |c| Pii(&c.pii.phone).to_string()),
            score: contact.and_then(|c| c.score),
            timeout: Duration::from_secs(u64::from(self.settings.pacing.originate_timeout_s) + 15),
            sent: None,
            progress: self.progress_tx.clone(),
        }
    }

    /// Open attempts from a previous run: the placer adopts the live ones, the lost ones are
    /// resolved.
    async fn reconcile_at_start(&mut self) -> Result<(), DriverError> {
        let open = self.store.open_attempts(&self.cfg.campaign)?;
        if open.is_empty() {
            return Ok(());
        }
        let live = self.placer.live_channels().await?;
        for attempt in open {
            let answered = attempt.state == AttemptState::Answered;
            if !live.contains(&attempt.uuid) {
                self.summary.reconciled_lost += 1;
                self.finish(CallEnd::lost(attempt.uuid.clone(), answered), None)?;
                continue;
            }
            self.summary.reconciled_live += 1;
            let pool = self.pool_of(&attempt.gateway);
            let grant = Grant {
                pool,
                gateway: attempt.gateway.clone(),
                caller_id: attempt.caller_id.clone(),
            };
            lock(&self.pacer).adopt(&grant);
            let line = self.cfg.lines.as_ref().map(|l| {
                lock(l).adopt(&self.cfg.campaign);
                (l.clone(), self.cfg.campaign.clone())
            });
            let guard = SlotGuard {
                pacer: self.pacer.clone(),
                grant,
                line,
            };
            self.in_flight.insert(attempt.uuid.clone(), pool);
            if answered {
                self.answered.insert(attempt.uuid.clone());
            }
            let contact = self.store.contact(attempt.contact_id).ok();
            let call = self.placement(
                &attempt.uuid,
                contact.as_ref(),
                attempt.contact_id,
                String::new(),
            );
            let follow = self.placer.adopt(call, answered);
            let ends = self.ends_tx.clone();
            self.tasks.spawn(async move {
                let end = follow.await;
                // The slot is free before the driver hears of the end.
                drop(guard);
                let _ = ends.send(end);
            });
        }
        Ok(())
    }

    fn on_progress(&mut self, p: Progress) -> Result<(), DriverError> {
        match p {
            Progress::Answered { uuid } => {
                if !self.in_flight.contains_key(&uuid) {
                    return Ok(());
                }
                self.store.mark_answered(&uuid)?;
                if self.answered.insert(uuid.clone()) {
                    if let Some((p, _)) = &mut self.predictive {
                        p.record_dial(true);
                        if let Some(at) = self.dialled_at.get(&uuid) {
                            let (_, now_ms) = unix_now();
                            p.record_time_to_answer((now_ms - at) as f64 / 1000.0);
                        }
                    }
                }
            }
        }
        Ok(())
    }

    async fn dial_round(&mut self, now: i64, now_ms: i64) -> Result<(), DriverError> {
        let mut free = {
            let p = lock(&self.pacer);
            self.settings
                .pacing
                .max_concurrent
                .saturating_sub(p.in_flight())
        };
        if let Some((p, agents)) = &self.predictive {
            let ringing = self.in_flight.len().saturating_sub(self.answered.len());
            let ringing = u32::try_from(ringing).unwrap_or(u32::MAX);
            free = free.min(p.calls_to_place(agents.snapshot(), ringing));
        }
        if let Some(lines) = &self.cfg.lines {
            let mut l = lock(lines);
            l.set_wanting(
                &self.cfg.campaign,
                self.queue.next_due().is_some_and(|t| t <= now),
            );
            free = free.min(l.available(&self.cfg.campaign));
        }
        if free == 0 {
            return Ok(());
        }
        let batch = self
            .queue
            .next_batch(now, free as usize, &self.rules, &self.compliance);
        for (entry, refusal) in &batch.dropped {
            self.summary.refused += 1;
            let mut c = self.store.contact(entry.id)?;
            c.state = match refusal {
                super::Refusal::MaxAttempts { .. } => ContactState::Exhausted,
                _ => ContactState::Blocked,
            };
            c.note = refusal.reason();
            self.store.put_contact(&c)?;
            self.audit(entry.id, now, "refuse", refusal.reason())?;
        }
        for (id, refusal) in &batch.parked {
            self.summary.refused += 1;
            self.audit(*id, now, "refuse", refusal.reason())?;
        }
        let mut started = Vec::new();
        let mut dial = batch.dial.into_iter();
        for entry in dial.by_ref() {
            let grant = match lock(&self.pacer).try_acquire(now_ms) {
                Ok(g) => g,
                Err(wait) => {
                    debug!(?wait, "pacing");
                    let mut back = entry;
                    // Back to the due set: a slot may free up on any call end, so the
                    // contact is looked at again on the next tick (a bounded batch).
                    back.next_at = now;
                    if let Wait::NoLine { until: Some(ms) } = wait {
                        debug!(resume_ms = ms, "every line pool is full or paused");
                    }
                    self.queue.push(back);
                    break;
                }
            };
            let line = match &self.cfg.lines {
                Some(l) => {
                    if !lock(l).take(&self.cfg.campaign) {
                        lock(&self.pacer).release(&grant);
                        let mut back = entry;
                        back.next_at = now;
                        self.queue.push(back);
                        break;
                    }
                    Some((l.clone(), self.cfg.campaign.clone()))
                }
                None => None,
            };
            let guard = SlotGuard {
                pacer: self.pacer.clone(),
                grant,
                line,
            };
            if let Some(s) = self.begin(&entry, now, guard)? {
                started.push(s);
            }
        }
        for rest in dial {
            self.queue.push(rest);
        }
        if started.is_empty() {
            return Ok(());
        }
        // Group commit: the `dialing` records are on disk before any originate leaves.
        self.store.flush()?;
        let mut sent = Vec::with_capacity(started.len());
        for s in started {
            sent.push(self.spawn_call(s));
        }
        // Every originate of the round has left (or failed) before the driver takes a
        // control request: a pause acknowledged after this never races an originate.
        for rx in sent {
            let _ = rx.await;
        }
        Ok(())
    }

    fn begin(
        &mut self,
        entry: &QueueEntry,
        now: i64,
        guard: SlotGuard,
    ) -> Result<Option<Started>, DriverError> {
        let contact = self.store.contact(entry.id)?;
        let uuid = uuid::Uuid::new_v4().to_string();
        let grant = guard.grant.clone();
        let dial = render_dial_string(&self.settings.pacing.dial_template, |k| match k {
            "phone" => Some(contact.pii.phone.clone()),
            "gateway" => Some(grant.gateway.clone()),
            "caller_id" => Some(grant.caller_id.clone()),
            "name" => contact.pii.name.clone(),
            other => contact.pii.fields.get(other).cloned(),
        });
        let dial = match dial {
            Ok(d) => d,
            Err(e @ TemplateError::Missing(_)) | Err(e @ TemplateError::Unclosed(_)) => {
                let mut c = contact;
                c.state = ContactState::Blocked;
                c.note = e.to_string();
                self.store.put_contact(&c)?;
                self.audit(c.id, now, "refuse", e.to_string())?;
                return Ok(None);
            }
        };
        let attempt = Attempt {
            uuid: uuid.clone(),
            contact_id: contact.id,
            campaign: self.cfg.campaign.clone(),
            number: contact.attempts + 1,
            state: AttemptState::Dialing,
            started_at: now,
            ended_at: None,
            cause: None,
            disposition: None,
            callback_at: None,
            gateway: grant.gateway.clone(),
            caller_id: grant.caller_id.clone(),
        };
        match self.store.begin_attempt(&attempt) {
            Ok(()) => {}
            Err(StoreError::AttemptConflict { reason, .. }) => {
                // The store's own check (e.g. a DNC entry added since the snapshot) wins.
                self.summary.refused += 1;
                self.audit(contact.id, now, "refuse", reason)?;
                if let Ok(c) = self.store.contact(contact.id) {
                    if c.state == ContactState::Pending {
                        let mut c = c;
                        c.state = ContactState::Blocked;
                        c.note = "refused at dial time".into();
                        self.store.put_contact(&c)?;
                    }
                }
                return Ok(None);
            }
            Err(e) => return Err(e.into()),
        }
        self.compliance.record_dial(contact.phone_key, now);
        self.audit(
            contact.id,
            now,
            "dial",
            format!("attempt {} via {}", attempt.number, grant.gateway),
        )?;
        debug!(number = %Pii(&contact.pii.phone), %uuid, "originate");
        let vars = format!(
            "origination_uuid={uuid},originate_timeout={},aicall_campaign={},aicall_contact={}",
            self.settings.pacing.originate_timeout_s,
            self.cfg.campaign.replace([',', '}', '{', ' '], "_"),
            contact.id
        );
        let call = self.placement(
            &uuid,
            Some(&contact),
            contact.id,
            format!("{} &park()", with_channel_vars(&dial, &vars)),
        );
        Ok(Some(Started { call, guard }))
    }

    /// Hands the call to the placer; the returned receiver fires once its originate left.
    fn spawn_call(&mut self, s: Started) -> oneshot::Receiver<()> {
        self.summary.originated += 1;
        self.dialled_at.insert(s.call.uuid.clone(), unix_now().1);
        self.in_flight
            .insert(s.call.uuid.clone(), s.guard.grant.pool);
        let (sent_tx, sent_rx) = oneshot::channel();
        let mut call = s.call;
        call.sent = Some(sent_tx);
        let place = self.placer.place(call);
        let ends = self.ends_tx.clone();
        let guard = s.guard;
        self.tasks.spawn(async move {
            let end = place.await;
            drop(guard);
            let _ = ends.send(end);
        });
        sent_rx
    }

    fn on_call_end(&mut self, end: CallEnd) -> Result<(), DriverError> {
        let answer_seen = self.answered.remove(&end.uuid);
        self.dialled_at.remove(&end.uuid);
        if let Some((p, _)) = &mut self.predictive {
            if !end.not_sent {
                if end.answered && !answer_seen {
                    p.record_dial(true);
                } else if !end.answered {
                    p.record_dial(false);
                }
                if end.answered {
                    p.record_answered(end.abandoned);
                    if !end.abandoned {
                        p.record_talk_time(end.billsec as f64);
                    }
                }
            }
        }
        let pool = self.in_flight.remove(&end.uuid);
        if end.answered {
            self.summary.answered += 1;
        }
        self.recent_ends.push_back(unix_now().1);
        self.finish(end, pool)
    }

    fn finish(&mut self, end: CallEnd, pool: Option<usize>) -> Result<(), DriverError> {
        let (now, now_ms) = unix_now();
        let filed = self.agent_filed.remove(&end.uuid);
        let mut attempt = self.store.attempt(&end.uuid)?;
        if attempt.state == AttemptState::Ended {
            return Ok(());
        }
        let mut contact = self.store.contact(attempt.contact_id)?;
        let mut callback_at = None;
        let mut disposition = if end.not_sent {
            Disposition::GatewayDown
        } else if end.answered && end.abandoned {
            // Whatever the call decided before the transfer, no agent took it.
            Disposition::Abandoned
        } else if let Some((d, at)) = end.decided {
            callback_at = at;
            d
        } else {
            match end.cause {
                Some(cause) => {
                    let d = disposition_of(cause);
                    if end.answered && d != Disposition::Completed {
                        // Answered, then ended with an odd cause: the callee was reached.
                        Disposition::Completed
                    } else {
                        d
                    }
                }
                None if end.answered => Disposition::Completed,
                None => Disposition::Unknown,
            }
        };
        *self
            .summary
            .dispositions
            .entry(disposition.as_str().to_owned())
            .or_default() += 1;
        // The agent who took the call filed its outcome before the call ended: it refines
        // `transferred` (counted above as such, like every call handed over).
        let filed = filed.filter(|_| disposition == Disposition::Transferred);
        if let Some(f) = &filed {
            disposition = f.disposition;
            callback_at = f
                .callback_at
                .filter(|_| disposition == Disposition::Callback);
        }
        if disposition == Disposition::GatewayDown {
            if let Some(pool) = pool {
                lock(&self.pacer).pause_pool(pool, now_ms);
                warn!(gateway = %attempt.gateway, "gateway down: its pool is paused");
            }
            contact.attempts = attempt.number.saturating_sub(1);
            self.compliance
                .forget_dial(&contact.phone_key, attempt.started_at);
        }
        if disposition == Disposition::Dnc {
            // The callee asked not to be called again: every campaign honours it from now on.
            // (An agent's `dnc` was listed by the desk when it was filed.)
            if filed.is_none() {
                self.store.list_add(
                    &contact.phone_key,
                    &ListEntry {
                        kind: ListKind::Dnc,
                        added_at: now,
                        source: format!("dnc_request in campaign {}", self.cfg.campaign),
                    },
                )?;
            }
            self.compliance
                .set_listed(contact.phone_key, ListKind::Dnc, true);
        }
        let jitter = self.next_jitter();
        let next = self.settings.retry.next(
            disposition,
            callback_at,
            contact.attempts,
            self.settings.max_attempts,
            now,
            jitter,
        );
        schedule(&mut contact, next, now);
        let cause_name = end
            .cause
            .map(|c| c.name().to_owned())
            .unwrap_or_else(|| "UNKNOWN".into());
        contact.note = match &filed {
            Some(f) => format!("{disposition} (agent {}, {cause_name})", f.agent),
            None => format!("{disposition} ({cause_name})"),
        };
        attempt.state = AttemptState::Ended;
        attempt.ended_at = Some(now);
        attempt.cause = Some(cause_name.clone());
        attempt.disposition = Some(disposition);
        attempt.callback_at = callback_at;
        let cdr = CdrRecord {
            uuid: attempt.uuid.clone(),
            contact_id: contact.id,
            campaign: attempt.campaign.clone(),
            cause: if end.answered && end.abandoned {
                "ABANDONED".into()
            } else {
                cause_name
            },
            answered: end.answered,
            billsec: end.billsec,
            started_at: attempt.started_at,
            ended_at: now,
        };
        if let Some(leads) = &self.cfg.leads {
            // Lead model hand-off: Beta-Binomial best-hour update, rescore with the history.
            crate::profile::dialer::after_outcome(
                leads,
                &*self.store,
                &mut contact,
                &attempt,
                disposition,
            );
        }
        self.store.finish_attempt(&attempt, &cdr, &contact)?;
        self.audit(contact.id, now, "outcome", contact.note.clone())?;
        if let Some(tx) = &self.cfg.outcomes {
            let _ = tx.send(AttemptOutcome {
                uuid: attempt.uuid.clone(),
                campaign: attempt.campaign.clone(),
                contact_id: contact.id,
                disposition,
                cause: cdr.cause.clone(),
                answered: end.answered,
                billsec: end.billsec,
                callback_at,
                score: contact.score,
            });
        }
        if contact.state == ContactState::Pending {
            self.queue.push(QueueEntry::of(&contact));
        }
        Ok(())
    }

    fn audit(
        &self,
        contact_id: u64,
        at: i64,
        action: &str,
        reason: String,
    ) -> Result<(), DriverError> {
        self.store.audit(&AuditEntry {
            at,
            campaign: self.cfg.campaign.clone(),
            contact_id,
            action: action.into(),
            reason,
        })?;
        Ok(())
    }
}

#[derive(Debug)]
struct Started {
    call: Placement,
    guard: SlotGuard,
}
