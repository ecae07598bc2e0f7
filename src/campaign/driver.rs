//! The dialer driver: the tokio task that carries out the pure decisions over ESL and keeps
//! the store crash-consistent.
//!
//! Exactly-once dialling: every attempt gets its channel UUID up front (`origination_uuid`)
//! and is written as `dialing` — and the write flushed to disk — before its `originate` is
//! sent. At start-up (and after an ESL reconnect) open attempts are reconciled with
//! FreeSWITCH's channel list: a live channel is tracked to its hangup; a missing one is
//! resolved (`Unknown` if it never answered as far as we know: it counts as an attempt, since
//! the call may have happened). An attempt is therefore never dialled twice, and no contact is
//! left in flight.
//!
//! What the call itself decided (the AI call sets the channel variable `aicall_disposition`
//! to `dnc_request`, `voicemail`, `callback:<unix time>` or `completed` before it hangs up)
//! overrides the hangup cause; a DNC request puts the number on the DNC list for every campaign.
//!
//! Slots (concurrency, line-pool channel) are held by a [`SlotGuard`] that gives them back
//! when dropped, on every end path: normal hangup, originate failure, timeout, task abort.
//!
//! Predictive campaigns (`pacing.predictive`) read their agents from the
//! [`AgentAvailability`] given in [`DriverConfig::agents`] on every dial round, and place what
//! [`Predictive::calls_to_place`] allows. The driver measures the answer rate, the time to
//! answer and the talk time itself; whether an answered call found an agent comes from the
//! call (channel variable `aicall_abandoned=true`, set by whoever transfers to the agents,
//! or mod_callcenter's member variables: queued, left without an agent); an abandoned call's
//! CDR cause is `ABANDONED` and its disposition `Abandoned` (retried after `abandoned_s`).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;
use tracing::{debug, info, warn};

use super::compliance::{Compliance, Rules, RulesError};
use super::pacing::{
    render_dial_string, with_channel_vars, AgentAvailability, Grant, Pacer, Predictive,
    TemplateError, Wait,
};
use super::queue::{Queue, QueueEntry};
use super::retry::{disposition_of, Next};
use super::{CampaignSettings, SettingsError};
use crate::esl::{ClientEvent, EslClient, EslError, Event, EventKind, EventStream, HangupCause};
use crate::pii::Pii;
use crate::store::{
    Attempt, AttemptState, AuditEntry, CampaignState, CdrRecord, ContactState, Disposition,
    ListEntry, ListKind, Store, StoreError,
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
    /// Return once every contact is terminal (tests, the bench, `campaign run --until-done`).
    pub exit_when_done: bool,
    /// Seed for retry jitter.
    pub seed: u64,
    /// The agents of a predictive campaign (required when `pacing.predictive` is set).
    pub agents: Option<Arc<dyn AgentAvailability>>,
    /// Lead model: best-hour update and rescoring after every outcome (`profile::dialer`).
    pub leads: Option<Arc<Mutex<crate::profile::dialer::LeadScorer>>>,
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
}

/// How a call ended, as its task reports it.
#[derive(Debug)]
struct CallEnd {
    uuid: String,
    cause: Option<HangupCause>,
    /// What the AI call decided (`aicall_disposition` channel variable), if anything, and
    /// the callback time it agreed.
    decided: Option<(Disposition, Option<i64>)>,
    answered: bool,
    billsec: u64,
    /// The originate was never sent (no connection): the attempt does not count.
    not_sent: bool,
    /// Answered, but no agent was free (`aicall_abandoned`).
    abandoned: bool,
}

#[derive(Debug)]
struct Hangup {
    cause: Option<HangupCause>,
    decided: Option<(Disposition, Option<i64>)>,
    billsec: u64,
    abandoned: bool,
}

type Waiters = Arc<Mutex<HashMap<String, oneshot::Sender<Hangup>>>>;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A poisoned lock only follows a panic in another task; the counters it guards are still
    // meaningful, and the periodic reconciliation corrects them anyway.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Holds one concurrency slot and one pool channel; gives them back when dropped.
#[derive(Debug)]
pub struct SlotGuard {
    pacer: Arc<Mutex<Pacer>>,
    grant: Grant,
}

impl Drop for SlotGuard {
    fn drop(&mut self) {
        lock(&self.pacer).release(&self.grant);
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
    client: EslClient,
    cfg: DriverConfig,
    settings: CampaignSettings,
    rules: Rules,
    compliance: Compliance,
    queue: Queue,
    pacer: Arc<Mutex<Pacer>>,
    waiters: Waiters,
    /// Attempts in flight → their pool.
    in_flight: HashMap<String, usize>,
    /// In-flight attempts FreeSWITCH reported answered (checked against `show channels`).
    answered: HashSet<String>,
    tasks: JoinSet<()>,
    ends_tx: mpsc::UnboundedSender<CallEnd>,
    summary: RunSummary,
    jitter: u64,
    /// Predictive pacing state and its agent source, for predictive campaigns.
    predictive: Option<(Predictive, Arc<dyn AgentAvailability>)>,
    /// When each in-flight attempt was dialled (ms), for the time to answer.
    dialled_at: HashMap<String, i64>,
}

/// Runs a campaign until it is stopped (or, with `exit_when_done`, until every contact is
/// terminal). Aborting the returned future at any point leaves the store consistent: the next
/// run reconciles.
pub async fn run(
    store: Arc<dyn Store>,
    client: EslClient,
    mut events: EventStream,
    cfg: DriverConfig,
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
    client
        .subscribe(&[
            "CHANNEL_ANSWER",
            "CHANNEL_HANGUP_COMPLETE",
            "BACKGROUND_JOB",
        ])
        .await?;
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
    let mut d = Driver {
        pacer: Arc::new(Mutex::new(Pacer::new(settings.pacing.clone()))),
        store,
        client,
        queue: Queue::new(),
        rules,
        compliance,
        settings,
        waiters: Arc::default(),
        in_flight: HashMap::new(),
        answered: HashSet::new(),
        tasks: JoinSet::new(),
        ends_tx,
        summary: RunSummary::default(),
        jitter: cfg.seed,
        predictive,
        dialled_at: HashMap::new(),
        cfg,
    };
    d.reconcile_at_start().await?;
    let contacts = d.store.contacts(&d.cfg.campaign)?;
    d.queue = Queue::from_contacts(&contacts);
    drop(contacts);
    info!(campaign = %d.cfg.campaign, pending = d.queue.len(), "dialer started");
    let mut tick = tokio::time::interval(d.cfg.tick);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut state = CampaignState::Running;
    let mut last_state_check = 0i64;
    let mut sweep = tokio::time::interval(Duration::from_secs(30));
    sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            ev = events.recv() => match ev {
                Some(ev) => d.on_event(ev)?,
                None => return Err(DriverError::Esl(EslError::Disconnected)),
            },
            Some(end) = ends_rx.recv() => d.on_call_end(end)?,
            _ = sweep.tick() => d.sweep().await?,
            _ = tick.tick() => {
                let (now, now_ms) = unix_now();
                if now_ms - last_state_check >= 500 {
                    last_state_check = now_ms;
                    state = d.store.campaign(&d.cfg.campaign)?.state;
                }
                match state {
                    CampaignState::Running | CampaignState::Created => d.dial_round(now, now_ms)?,
                    CampaignState::Paused => {}
                    CampaignState::Stopped => {
                        if d.in_flight.is_empty() {
                            return Ok(d.finish_run());
                        }
                    }
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
        let mut s = self.summary.clone();
        s.slots_in_use = lock(&self.pacer).in_flight();
        s
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

    /// Open attempts from a previous run: track the live ones, resolve the lost ones.
    async fn reconcile_at_start(&mut self) -> Result<(), DriverError> {
        let open = self.store.open_attempts(&self.cfg.campaign)?;
        if open.is_empty() {
            return Ok(());
        }
        let live: HashSet<String> = self
            .client
            .channels()
            .await?
            .into_iter()
            .map(|c| c.uuid)
            .collect();
        for attempt in open {
            if live.contains(&attempt.uuid) {
                self.summary.reconciled_live += 1;
                let pool = self.pool_of(&attempt.gateway);
                let grant = Grant {
                    pool,
                    gateway: attempt.gateway.clone(),
                    caller_id: attempt.caller_id.clone(),
                };
                lock(&self.pacer).adopt(&grant);
                let guard = SlotGuard {
                    pacer: self.pacer.clone(),
                    grant,
                };
                let (tx, rx) = oneshot::channel();
                lock(&self.waiters).insert(attempt.uuid.clone(), tx);
                self.in_flight.insert(attempt.uuid.clone(), pool);
                let ends = self.ends_tx.clone();
                let uuid = attempt.uuid.clone();
                let answered = attempt.state == AttemptState::Answered;
                if answered {
                    self.answered.insert(attempt.uuid.clone());
                }
                self.tasks.spawn(async move {
                    let end = match rx.await {
                        Ok(h) => CallEnd {
                            uuid,
                            cause: h.cause,
                            decided: h.decided,
                            answered: answered || h.billsec > 0,
                            billsec: h.billsec,
                            not_sent: false,
                            abandoned: h.abandoned,
                        },
                        Err(_) => lost(uuid, answered),
                    };
                    // The slot is free before the driver hears of the end.
                    drop(guard);
                    let _ = ends.send(end);
                });
            } else {
                self.summary.reconciled_lost += 1;
                let answered = attempt.state == AttemptState::Answered;
                self.finish(lost(attempt.uuid.clone(), answered), None)?;
            }
        }
        Ok(())
    }

    /// Periodic reconciliation with FreeSWITCH's channel list: an answered call whose channel
    /// is gone lost its hangup event; resolve it so its slot and pool channel come back.
    async fn sweep(&mut self) -> Result<(), DriverError> {
        if self.answered.is_empty() {
            return Ok(());
        }
        let live: HashSet<String> = match self.client.channels().await {
            Ok(chans) => chans.into_iter().map(|c| c.uuid).collect(),
            // Not connected: the reconnect reconciles instead.
            Err(_) => return Ok(()),
        };
        let mut waiters = lock(&self.waiters);
        for uuid in self.answered.iter().filter(|u| !live.contains(*u)) {
            warn!(%uuid, "answered call vanished without a hangup event");
            waiters.remove(uuid);
        }
        Ok(())
    }

    fn on_event(&mut self, ev: ClientEvent) -> Result<(), DriverError> {
        match ev {
            ClientEvent::Event(e) => match e.kind() {
                EventKind::ChannelAnswer => {
                    if let Some(uuid) = e.unique_id() {
                        if self.in_flight.contains_key(uuid) {
                            self.store.mark_answered(uuid)?;
                            if self.answered.insert(uuid.to_owned()) {
                                if let Some((p, _)) = &mut self.predictive {
                                    p.record_dial(true);
                                    if let Some(at) = self.dialled_at.get(uuid) {
                                        let (_, now_ms) = unix_now();
                                        p.record_time_to_answer((now_ms - at) as f64 / 1000.0);
                                    }
                                }
                            }
                        }
                    }
                }
                EventKind::ChannelHangupComplete { .. } => {
                    if let Some(uuid) = e.unique_id() {
                        if let Some(tx) = lock(&self.waiters).remove(uuid) {
                            let billsec = e
                                .variable("billsec")
                                .and_then(|b| b.parse().ok())
                                .unwrap_or(0);
                            let _ = tx.send(Hangup {
                                cause: e.hangup_cause(),
                                decided: e
                                    .variable("aicall_disposition")
                                    .and_then(Disposition::from_name)
                                    .map(|d| {
                                        let at = e
                                            .variable("aicall_callback_at")
                                            .and_then(|t| t.trim().parse().ok());
                                        (d, at)
                                    }),
                                billsec,
                                abandoned: abandoned(&e),
                            });
                        }
                    }
                }
                _ => {}
            },
            ClientEvent::Disconnected { reason } => {
                warn!(%reason, "lost FreeSWITCH; calls in flight are reconciled on reconnect");
            }
            ClientEvent::Reconnected { channels } => {
                let live: HashSet<&str> = channels.iter().map(|c| c.uuid.as_str()).collect();
                // Calls that ended while we were away: their hangup event is lost; wake their
                // tasks so the attempts are resolved now.
                let mut waiters = lock(&self.waiters);
                let gone: Vec<String> = waiters
                    .keys()
                    .filter(|u| !live.contains(u.as_str()))
                    .cloned()
                    .collect();
                for uuid in gone {
                    if let Some(tx) = waiters.remove(&uuid) {
                        drop(tx);
                    }
                }
            }
        }
        Ok(())
    }

    fn dial_round(&mut self, now: i64, now_ms: i64) -> Result<(), DriverError> {
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
            let guard = SlotGuard {
                pacer: self.pacer.clone(),
                grant,
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
        for s in started {
            self.spawn_call(s);
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
        Ok(Some(Started {
            uuid,
            command: format!("originate {} &park()", with_channel_vars(&dial, &vars)),
            guard,
            timeout: Duration::from_secs(u64::from(self.settings.pacing.originate_timeout_s) + 15),
        }))
    }

    fn spawn_call(&mut self, s: Started) {
        self.summary.originated += 1;
        self.dialled_at.insert(s.uuid.clone(), unix_now().1);
        let (tx, rx) = oneshot::channel();
        lock(&self.waiters).insert(s.uuid.clone(), tx);
        self.in_flight.insert(s.uuid.clone(), s.guard.grant.pool);
        let client = self.client.clone();
        let ends = self.ends_tx.clone();
        self.tasks.spawn(async move {
            let Started {
                uuid,
                command,
                guard,
                timeout,
            } = s;
            let end = place_call(&client, uuid, &command, rx, timeout).await;
            drop(guard);
            let _ = ends.send(end);
        });
    }

    fn on_call_end(&mut self, end: CallEnd) -> Result<(), DriverError> {
        lock(&self.waiters).remove(&end.uuid);
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
        self.finish(end, pool)
    }

    fn finish(&mut self, end: CallEnd, pool: Option<usize>) -> Result<(), DriverError> {
        let (now, now_ms) = unix_now();
        let mut attempt = self.store.attempt(&end.uuid)?;
        if attempt.state == AttemptState::Ended {
            return Ok(());
        }
        let mut contact = self.store.contact(attempt.contact_id)?;
        let mut callback_at = None;
        let disposition = if end.not_sent {
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
            self.store.list_add(
                &contact.phone_key,
                &ListEntry {
                    kind: ListKind::Dnc,
                    added_at: now,
                    source: format!("dnc_request in campaign {}", self.cfg.campaign),
                },
            )?;
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
        let cause_name = end
            .cause
            .map(|c| c.name().to_owned())
            .unwrap_or_else(|| "UNKNOWN".into());
        contact.note = format!("{disposition} ({cause_name})");
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
    uuid: String,
    command: String,
    guard: SlotGuard,
    timeout: Duration,
}

fn lost(uuid: String, answered: bool) -> CallEnd {
    CallEnd {
        uuid,
        cause: None,
        decided: None,
        answered,
        billsec: 0,
        not_sent: false,
        abandoned: false,
    }
}

/// Sends the originate and follows the call to its end.
async fn place_call(
    client: &EslClient,
    uuid: String,
    command: &str,
    hangup: oneshot::Receiver<Hangup>,
    timeout: Duration,
) -> CallEnd {
    let job = match client.bgapi(command).await {
        Ok(job) => job,
        Err(EslError::NotConnected) => {
            // Nothing left this process: the attempt never reached FreeSWITCH.
            return CallEnd {
                uuid,
                cause: None,
                decided: None,
                answered: false,
                billsec: 0,
                not_sent: true,
                abandoned: false,
            };
        }
        Err(e) => {
            warn!(error = %e, %uuid, "originate may or may not have been sent");
            return follow(uuid, false, hangup, timeout).await;
        }
    };
    match job.wait(timeout).await {
        Ok(result) if result.ok => follow(uuid, true, hangup, Duration::MAX).await,
        Ok(result) => {
            let cause = HangupCause::from_name(result.value());
            CallEnd {
                uuid,
                cause: Some(cause),
                decided: None,
                answered: false,
                billsec: 0,
                not_sent: false,
                abandoned: false,
            }
        }
        Err(e) => {
            warn!(error = %e, %uuid, "no originate result; following the channel");
            follow(uuid, false, hangup, timeout).await
        }
    }
}

/// Waits for the channel's hangup (or for the driver to declare it lost).
async fn follow(
    uuid: String,
    answered: bool,
    hangup: oneshot::Receiver<Hangup>,
    timeout: Duration,
) -> CallEnd {
    let waited = if timeout == Duration::MAX {
        Ok(hangup.await)
    } else {
        tokio::time::timeout(timeout, hangup).await
    };
    match waited {
        Ok(Ok(h)) => CallEnd {
            uuid,
            cause: h.cause,
            decided: h.decided,
            answered: answered || h.billsec > 0,
            billsec: h.billsec,
            not_sent: false,
            abandoned: h.abandoned,
        },
        _ => lost(uuid, answered),
    }
}

/// Whether an answered call was abandoned: it waited for an agent and none took it. Either
/// whoever transferred it says so (`aicall_abandoned=true`), or mod_callcenter's own member
/// variables show it: it joined a queue (`cc_queue_joined_epoch`) and left without an agent
/// answering (`cc_cause=cancel`, or no `cc_queue_answered_epoch`) — timeout, no agent, or
/// the callee hanging up while waiting.
fn abandoned(e: &Event) -> bool {
    let set = |name: &str| e.variable(name).is_some_and(|v| !v.trim().is_empty());
    if let Some(v) = e.variable("aicall_abandoned") {
        return matches!(v.trim(), "true" | "1" | "yes");
    }
    set("cc_queue_joined_epoch")
        && (e.variable("cc_cause").is_some_and(|c| c.trim() == "cancel")
            || !set("cc_queue_answered_epoch"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn abandoned_from_the_flag_or_from_mod_callcenter() {
        let hangup = |vars: &[(&str, &str)]| {
            let mut e = Event::new("CHANNEL_HANGUP_COMPLETE");
            for (k, v) in vars {
                e.headers.push(&format!("variable_{k}"), v);
            }
            e
        };
        assert!(!abandoned(&hangup(&[])), "no queue, no flag");
        assert!(abandoned(&hangup(&[("aicall_abandoned", "true")])));
        assert!(!abandoned(&hangup(&[("aicall_abandoned", "false")])));
        // Queued, then an agent answered.
        assert!(!abandoned(&hangup(&[
            ("cc_queue_joined_epoch", "1795400000"),
            ("cc_queue_answered_epoch", "1795400012"),
            ("cc_agent_bridged", "true"),
        ])));
        // Queued, timed out (mod_callcenter: cc_cause=cancel, cc_cancel_reason=TIMEOUT).
        assert!(abandoned(&hangup(&[
            ("cc_queue_joined_epoch", "1795400000"),
            ("cc_queue_canceled_epoch", "1795400060"),
            ("cc_cause", "cancel"),
            ("cc_cancel_reason", "TIMEOUT"),
        ])));
        // Queued, the callee hung up while waiting (no answer epoch).
        assert!(abandoned(&hangup(&[(
            "cc_queue_joined_epoch",
            "1795400000"
        )])));
    }
}
