//! CRM hooks: every call outcome of a campaign with a `call.webhook_url` is POSTed to it as
//! JSON, signed, retried, and never lost; and contacts pushed in by a CRM as JSON.
//!
//! The path of an outcome:
//!
//! 1. The watcher reads `CallEvent::Ended` from the bus, builds the [`Payload`] (the outcome,
//!    the intents heard, the slots, a transcript excerpt from the call record, the contact's
//!    lead score) and writes it to the store's outbox ([`Store::hook_enqueue`]), flushed to
//!    disk before anything is sent. The delivery id is the call's UUID, so an outcome seen
//!    twice (a late event, a reconciliation) is enqueued once.
//! 2. The deliverer POSTs it with `X-Aicall-Signature: sha256=<hex HMAC-SHA256 of the body>`
//!    and `X-Aicall-Delivery: <id>`; a 2xx answer ends it. A timeout, a refused connection,
//!    a 408, 425, 429 or 5xx is tried again after an exponential backoff with jitter
//!    ([`HookConfig::next_try`]); after the last try, or once the delivery is older than
//!    the maximum age, or at once on any other answer (a 4xx says the receiver will never
//!    take it), the delivery goes to the dead letters, listed and retried over the API.
//! 3. After a restart the outbox is read back and delivery resumes. A try that was in
//!    flight when the process died is sent again with the same delivery id: receivers
//!    deduplicate on `X-Aicall-Delivery`.
//!
//! The bus drops events for a watcher that falls behind, and a crash can come between an
//! outcome being stored and its hook being enqueued, so the watcher also keeps a watermark
//! (the time up to which every ended call has been seen) and, at start and after falling
//! behind, enqueues the stored outcomes (CDR + attempt) since then that have no delivery.
//!
//! The webhook secret is stored sealed with the PII key ([`sealed_settings`]): a copy of
//! the database does not let anyone sign hooks, and the API shows only the sealed form,
//! which can be sent back unchanged on an edit (masking would lose the secret on a
//! read-modify-write edit).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use tokio::sync::{broadcast, mpsc, watch};
use tokio::task::JoinSet;
use tracing::{debug, info, warn};
use utoipa::IntoParams;
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouterExt};
use utoipa_axum::routes;

use super::control::Action;
use super::events::ServiceEvent;
use super::http::{ApiError, ApiResult, Ctx, ErrorBody};
use super::{Service, ServiceError};
use crate::call::events::CallEvent;
use crate::call::record::{CallRecord, Speaker};
use crate::campaign::import::{import_json, ImportReport};
use crate::campaign::CampaignSettings;
use crate::outcome::Disposition;
use crate::store::{HookDelivery, Store, StoreError, SEALED_PREFIX};

/// The event name in payloads and `X-Aicall-Event`.
pub const EVENT_CALL_ENDED: &str = "call.ended";
/// Characters of transcript kept in a payload's `summary`.
const SUMMARY_CHARS: usize = 1000;
/// Largest JSON contact list one request may carry.
const MAX_JSON_CONTACTS: usize = 64 * 1024 * 1024;
/// Ended calls enqueued per store flush.
const BATCH: usize = 256;
/// How far behind now the watermark is kept: calls that ended this recently may still be
/// on their way through the bus.
const WATERMARK_LAG_S: i64 = 60;

/// Errors of the hooks.
#[derive(Debug, thiserror::Error)]
pub enum HookError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("campaign `{campaign}`: {reason}")]
    Settings { campaign: String, reason: String },
    #[error("campaign `{0}` has no webhook any more (call.webhook_url is empty)")]
    NoHook(String),
    #[error("the HTTP client cannot start: {0}")]
    Client(String),
}

/// How hooks are delivered.
#[derive(Clone, Debug, PartialEq)]
pub struct HookConfig {
    /// One try's time limit, connection included.
    pub timeout: Duration,
    /// The wait after the first failed try; it doubles after each one.
    pub first_retry: Duration,
    /// The longest wait between two tries.
    pub max_retry: Duration,
    /// Tries before a delivery goes to the dead letters.
    pub max_tries: u32,
    /// A delivery older than this goes to the dead letters after its next failed try.
    pub max_age: Duration,
    /// Tries in flight at once (a slow receiver does not hold the others up).
    pub concurrency: usize,
    /// How long delivered ids are remembered (an outcome seen again within it is not sent
    /// again).
    pub keep_delivered: Duration,
}

impl Default for HookConfig {
    fn default() -> Self {
        // 10 s, 20 s, … up to 15 min apart: 20 tries cover a receiver down for about 3.5 h;
        // after that the dead letters keep what it missed until someone retries them.
        Self {
            timeout: Duration::from_secs(10),
            first_retry: Duration::from_secs(10),
            max_retry: Duration::from_secs(15 * 60),
            max_tries: 20,
            max_age: Duration::from_secs(24 * 3600),
            concurrency: 8,
            keep_delivered: Duration::from_secs(7 * 24 * 3600),
        }
    }
}

impl HookConfig {
    /// When to try again (unix ms) after failed try number `tries` (1-based) of a delivery
    /// created at `created_ms`, at `now_ms`; `None`: give up. `jitter` in [0, 1) spreads
    /// the waits ±20% so that deliveries that failed together do not retry together;
    /// `at_least` is the receiver's `Retry-After`.
    pub fn next_try(
        &self,
        tries: u32,
        created_ms: i64,
        now_ms: i64,
        jitter: f64,
        at_least: Option<Duration>,
    ) -> Option<i64> {
        if tries >= self.max_tries {
            return None;
        }
        let doublings = tries.saturating_sub(1).min(30);
        let base = self
            .first_retry
            .saturating_mul(1u32 << doublings)
            .min(self.max_retry);
        let factor = 0.8 + 0.4 * jitter.clamp(0.0, 1.0);
        let mut wait = base.mul_f64(factor);
        if let Some(min) = at_least {
            wait = wait.max(min.min(self.max_retry));
        }
        let at = now_ms.saturating_add(wait.as_millis().min(i64::MAX as u128) as i64);
        let deadline = created_ms.saturating_add(self.max_age.as_millis() as i64);
        (at <= deadline).then_some(at)
    }
}

/// What one try's answer means.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TryOutcome {
    Delivered,
    /// Try again (after at least `after`, when the receiver said).
    Retry {
        error: String,
        after: Option<Duration>,
    },
    /// The receiver will never take it: dead letters at once.
    Refused {
        error: String,
    },
}

/// Classifies an HTTP answer; `retry_after` is its `Retry-After` header.
pub fn classify(status: u16, retry_after: Option<&str>) -> TryOutcome {
    let error = format!("HTTP {status}");
    match status {
        200..=299 => TryOutcome::Delivered,
        408 | 425 | 429 | 500..=599 => TryOutcome::Retry {
            error,
            after: retry_after
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs),
        },
        300..=399 => TryOutcome::Refused {
            error: format!(
                "{error}: the receiver redirects; set call.webhook_url to the final address"
            ),
        },
        _ => TryOutcome::Refused { error },
    }
}

/// The signature header's value for `body`: `sha256=<hex HMAC-SHA256>`.
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    // HMAC takes a key of any length.
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC accepts any key length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Checks a signature header as a receiver would (in constant time).
pub fn verify(secret: &[u8], body: &[u8], header: &str) -> bool {
    let Some(hex_sig) = header.trim().strip_prefix("sha256=") else {
        return false;
    };
    let Ok(sig) = hex::decode(hex_sig) else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC accepts any key length");
    mac.update(body);
    mac.verify_slice(&sig).is_ok()
}

/// Settings as they are stored: a webhook secret given in clear is sealed with the PII key;
/// one already sealed must open with it (it came back from the API unchanged).
pub fn sealed_settings(
    store: &dyn Store,
    name: &str,
    mut settings: CampaignSettings,
) -> Result<CampaignSettings, ServiceError> {
    let secret = settings.call.webhook_secret.trim().to_owned();
    if secret.is_empty() {
        return Ok(settings);
    }
    if secret.starts_with(SEALED_PREFIX) {
        store
            .open_secret(&secret)
            .map_err(|_| ServiceError::Invalid {
                name: name.to_owned(),
                reason: "call.webhook_secret: sealed with another database's key; give the \
                         secret in clear"
                    .into(),
            })?;
        settings.call.webhook_secret = secret;
    } else {
        settings.call.webhook_secret = store.seal_secret(&secret);
    }
    Ok(settings)
}

/// How a call ended: what the hook reports before reading the call record.
#[derive(Clone, Debug, PartialEq)]
pub struct EndedCall {
    pub uuid: String,
    pub campaign: String,
    pub contact_id: Option<u64>,
    pub disposition: Disposition,
    pub cause: Option<String>,
    pub answered: bool,
    pub billsec: u64,
    pub callback_at: Option<i64>,
    /// Unix s.
    pub ended_at: i64,
}

impl EndedCall {
    /// From the bus's end event.
    pub fn of_event(ev: &CallEvent, now_s: i64) -> Option<Self> {
        let CallEvent::Ended {
            uuid,
            campaign,
            contact_id,
            disposition,
            cause,
            answered,
            billsec,
            callback_at,
        } = ev
        else {
            return None;
        };
        Some(EndedCall {
            uuid: uuid.clone(),
            campaign: campaign.clone(),
            contact_id: *contact_id,
            disposition: *disposition,
            cause: cause.clone(),
            answered: *answered,
            billsec: *billsec,
            callback_at: *callback_at,
            ended_at: now_s,
        })
    }
}

/// The contact a payload is about.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PayloadContact {
    pub id: u64,
    /// E.164.
    pub phone: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The contact's imported fields (a CRM's own id travels here).
    #[serde(default)]
    pub fields: BTreeMap<String, String>,
}

/// What the callee said that the script keeps (`callback_at` also at the top level).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Slots {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback_at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transferred_to: Option<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub dtmf: String,
}

/// The JSON a hook POSTs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Payload {
    pub delivery_id: String,
    /// `call.ended`.
    pub event: String,
    pub campaign: String,
    pub call_uuid: String,
    pub contact_id: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact: Option<PayloadContact>,
    /// One word ([`Disposition::as_str`]).
    pub disposition: String,
    /// The hangup cause.
    pub cause: Option<String>,
    pub answered: bool,
    pub billsec: u64,
    /// Unix s the callee asked to be called back at.
    pub callback_at: Option<i64>,
    /// Unix s.
    pub ended_at: i64,
    /// The callee's intents, in the order heard.
    pub intents: Vec<String>,
    pub slots: Slots,
    pub tags: Vec<String>,
    /// The path through the script.
    pub path: Vec<String>,
    /// The conversation's first lines (`callee: … [intent] | bot: …`), cut at 1000
    /// characters; none when there was no conversation.
    pub summary: Option<String>,
    pub turns: usize,
    /// The contact's lead score after this outcome, when a lead model scores the campaign.
    pub lead_score: Option<f32>,
}

impl Payload {
    /// The payload of an ended call, with its record (when it had a conversation) and its
    /// contact (when it has one).
    pub fn build(
        end: &EndedCall,
        record: Option<&CallRecord>,
        contact: Option<&crate::store::Contact>,
    ) -> Payload {
        let mut p = Payload {
            delivery_id: end.uuid.clone(),
            event: EVENT_CALL_ENDED.into(),
            campaign: end.campaign.clone(),
            call_uuid: end.uuid.clone(),
            contact_id: end.contact_id,
            contact: contact.map(|c| PayloadContact {
                id: c.id,
                phone: c.pii.phone.clone(),
                name: c.pii.name.clone(),
                fields: c.pii.fields.clone(),
            }),
            disposition: end.disposition.as_str().into(),
            cause: end.cause.clone(),
            answered: end.answered,
            billsec: end.billsec,
            callback_at: end.callback_at,
            ended_at: end.ended_at,
            intents: Vec::new(),
            slots: Slots {
                callback_at: end.callback_at,
                ..Slots::default()
            },
            tags: Vec::new(),
            path: Vec::new(),
            summary: None,
            turns: 0,
            lead_score: contact.and_then(|c| c.score),
        };
        if let Some(r) = record {
            p.intents = r
                .turns
                .iter()
                .filter(|t| t.speaker == Speaker::Callee)
                .filter_map(|t| t.intent.clone())
                .collect();
            p.slots.callback_at = end.callback_at.or(r.callback_at);
            p.slots.transferred_to = r.transferred_to.clone();
            p.slots.dtmf = r.dtmf.clone();
            p.tags = r.tags.clone();
            p.path = r.path.clone();
            p.turns = r.turns.len();
            if !r.turns.is_empty() {
                p.summary = Some(excerpt(&r.conversation(), SUMMARY_CHARS));
            }
        }
        p
    }
}

/// The first `max` characters of `text`, with `…` when cut.
fn excerpt(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

/// Counters of the hooks (read by `/metrics`).
#[derive(Debug, Default)]
pub struct HookStats {
    pub enqueued: AtomicU64,
    pub delivered: AtomicU64,
    /// Tries that failed and were scheduled again.
    pub retried: AtomicU64,
    pub dead: AtomicU64,
    /// Deliveries waiting in the outbox (the deliverer's schedule and tries in flight).
    pub pending: AtomicI64,
}

/// A delivery to try at a time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Due {
    pub next_ms: i64,
    pub id: String,
}

/// The hooks of a service (or of a test): its configuration, the way to its deliverer, its
/// counters. Dropping it (or [`Hooks::stop`]) stops its tasks.
#[derive(Debug)]
pub struct Hooks {
    cfg: HookConfig,
    due_tx: mpsc::UnboundedSender<Due>,
    /// The deliverer's end of `due_tx`, until it starts.
    due_rx: Mutex<Option<mpsc::UnboundedReceiver<Due>>>,
    stats: Arc<HookStats>,
    alive: watch::Sender<bool>,
}

impl Hooks {
    pub fn new(cfg: HookConfig) -> Self {
        let (due_tx, due_rx) = mpsc::unbounded_channel();
        Self {
            cfg,
            due_tx,
            due_rx: Mutex::new(Some(due_rx)),
            stats: Arc::default(),
            alive: watch::Sender::new(true),
        }
    }

    pub fn config(&self) -> &HookConfig {
        &self.cfg
    }

    pub fn stats(&self) -> &Arc<HookStats> {
        &self.stats
    }

    /// Stops the hooks' tasks (tries in flight are abandoned: they stay in the outbox).
    pub fn stop(&self) {
        self.alive.send_replace(false);
    }

    /// Resolves once the hooks are stopped or dropped.
    fn stopped(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut alive = self.alive.subscribe();
        async move {
            let _ = alive.wait_for(|a| !*a).await;
        }
    }

    /// Starts delivering the store's outbox (resuming what a previous run left); the
    /// deliverer runs until the hooks stop. Only the first call starts one.
    pub fn deliver(&self, store: Arc<dyn Store>) -> Result<tokio::task::JoinHandle<()>, HookError> {
        let rx = self
            .due_rx
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
            .ok_or_else(|| HookError::Client("the deliverer is already running".into()))?;
        let http = reqwest::Client::builder()
            .timeout(self.cfg.timeout)
            .connect_timeout(self.cfg.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("aicall/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| HookError::Client(e.to_string()))?;
        let deliverer = Deliverer {
            store,
            cfg: self.cfg.clone(),
            stats: self.stats.clone(),
            http,
        };
        Ok(tokio::spawn(deliverer.run(rx, self.stopped())))
    }

    /// Enqueues the hook of an ended call when its campaign has one (blocking: store
    /// reads and a flush); the delivery when it is new.
    pub fn enqueue(
        &self,
        store: &dyn Store,
        end: &EndedCall,
        now_ms: i64,
    ) -> Result<Option<HookDelivery>, HookError> {
        let d = enqueue(store, end, now_ms, &mut HashMap::new())?;
        if d.is_some() {
            store.flush()?;
        }
        if let Some(d) = &d {
            self.enqueued(d);
        }
        Ok(d)
    }

    fn enqueued(&self, d: &HookDelivery) {
        self.stats.enqueued.fetch_add(1, Ordering::Relaxed);
        // No deliverer yet (or any more): the outbox keeps it for the next one.
        let _ = self.due_tx.send(Due {
            next_ms: d.next_ms,
            id: d.id.clone(),
        });
    }

    /// Puts a dead letter back in the outbox, due now.
    pub fn retry_dead(
        &self,
        store: &dyn Store,
        id: &str,
        now_ms: i64,
    ) -> Result<Option<HookDelivery>, HookError> {
        let d = store.hook_revive(id, now_ms)?;
        if let Some(d) = &d {
            store.flush()?;
            self.enqueued(d);
        }
        Ok(d)
    }

    /// Enqueues the hooks of every stored outcome that ended at or after `since` (unix s)
    /// and has none yet; how many.
    pub fn reconcile(
        &self,
        store: &dyn Store,
        since: i64,
        now_ms: i64,
    ) -> Result<usize, HookError> {
        let mut settings = HashMap::new();
        let mut n = 0;
        for cdr in store.cdrs_since(since)? {
            if !hook_target(store, &cdr.campaign, &mut settings)? {
                continue;
            }
            let attempt = match store.attempt(&cdr.uuid) {
                Ok(a) => a,
                Err(StoreError::NoAttempt(_)) => continue,
                Err(e) => return Err(e.into()),
            };
            let Some(disposition) = attempt.disposition else {
                continue;
            };
            let end = EndedCall {
                uuid: cdr.uuid.clone(),
                campaign: cdr.campaign.clone(),
                contact_id: Some(cdr.contact_id),
                disposition,
                cause: Some(cdr.cause.clone()),
                answered: cdr.answered,
                billsec: cdr.billsec,
                callback_at: attempt.callback_at,
                ended_at: cdr.ended_at,
            };
            if let Some(d) = enqueue(store, &end, now_ms, &mut settings)? {
                self.enqueued(&d);
                n += 1;
            }
        }
        if n > 0 {
            store.flush()?;
        }
        Ok(n)
    }
}

/// Whether `campaign` has a hook (settings read once per pass).
fn hook_target(
    store: &dyn Store,
    campaign: &str,
    cache: &mut HashMap<String, bool>,
) -> Result<bool, HookError> {
    if let Some(&has) = cache.get(campaign) {
        return Ok(has);
    }
    let has = match store.campaign(campaign) {
        Ok(record) => CampaignSettings::of(&record)
            .map(|s| !s.call.webhook_url.trim().is_empty())
            .map_err(|e| HookError::Settings {
                campaign: campaign.to_owned(),
                reason: e.to_string(),
            })?,
        // Calls handed over by a dialplan may name no stored campaign.
        Err(StoreError::NoCampaign(_)) => false,
        Err(e) => return Err(e.into()),
    };
    cache.insert(campaign.to_owned(), has);
    Ok(has)
}

/// Writes the hook of an ended call to the outbox when its campaign has one (not flushed).
fn enqueue(
    store: &dyn Store,
    end: &EndedCall,
    now_ms: i64,
    cache: &mut HashMap<String, bool>,
) -> Result<Option<HookDelivery>, HookError> {
    if !hook_target(store, &end.campaign, cache)? {
        return Ok(None);
    }
    let record = if end.answered {
        CallRecord::load(store, &end.campaign, &end.uuid)?
    } else {
        None
    };
    let contact = match end.contact_id {
        Some(id) => match store.contact(id) {
            Ok(c) => Some(c),
            Err(StoreError::NoContact(_)) => None,
            Err(e) => return Err(e.into()),
        },
        None => None,
    };
    let payload = Payload::build(end, record.as_ref(), contact.as_ref());
    // A struct of strings, numbers and maps with string keys always serialises.
    let body = serde_json::to_string(&payload).expect("payload serialises to JSON");
    let d = HookDelivery {
        id: payload.delivery_id,
        campaign: end.campaign.clone(),
        created_ms: now_ms,
        tries: 0,
        next_ms: now_ms,
        last_error: None,
        body,
    };
    Ok(store.hook_enqueue(&d)?.then_some(d))
}

/// Where and how a campaign's hooks go now.
struct Target {
    url: String,
    secret: String,
}

fn target(store: &dyn Store, campaign: &str) -> Result<Target, HookError> {
    let record = store.campaign(campaign).map_err(|e| match e {
        StoreError::NoCampaign(c) => HookError::NoHook(c),
        e => e.into(),
    })?;
    let settings = CampaignSettings::of(&record).map_err(|e| HookError::Settings {
        campaign: campaign.to_owned(),
        reason: e.to_string(),
    })?;
    let url = settings.call.webhook_url.trim().to_owned();
    if url.is_empty() {
        return Err(HookError::NoHook(campaign.to_owned()));
    }
    let secret = settings.call.webhook_secret.trim();
    let secret = if secret.starts_with(SEALED_PREFIX) {
        store.open_secret(secret)?
    } else {
        // Written before secrets were sealed, or by hand: usable as it is.
        secret.to_owned()
    };
    Ok(Target { url, secret })
}

/// Delivers the outbox.
struct Deliverer {
    store: Arc<dyn Store>,
    cfg: HookConfig,
    stats: Arc<HookStats>,
    http: reqwest::Client,
}

/// What a try came to.
struct Tried {
    id: String,
    outcome: TryOutcome,
}

impl Deliverer {
    async fn run(
        self,
        mut incoming: mpsc::UnboundedReceiver<Due>,
        stopped: impl std::future::Future<Output = ()> + Send + 'static,
    ) {
        tokio::pin!(stopped);
        // Due time and id of every delivery waiting; the bodies stay in the store (a long
        // outage can pile up many).
        let mut schedule: BTreeSet<(i64, String)> = BTreeSet::new();
        let mut scheduled: HashMap<String, i64> = HashMap::new();
        let mut in_flight: JoinSet<Tried> = JoinSet::new();
        let mut flying: BTreeSet<String> = BTreeSet::new();
        let store = self.store.clone();
        match tokio::task::spawn_blocking(move || store.hook_outbox()).await {
            Ok(Ok(outbox)) => {
                if !outbox.is_empty() {
                    info!(deliveries = outbox.len(), "CRM hooks: resuming the outbox");
                }
                for d in outbox {
                    scheduled.insert(d.id.clone(), d.next_ms);
                    schedule.insert((d.next_ms, d.id));
                }
            }
            Ok(Err(e)) => warn!(error = %e, "CRM hooks: cannot read the outbox"),
            Err(e) => warn!(error = %e, "CRM hooks: the outbox reader failed"),
        }
        let mut last_prune = 0i64;
        loop {
            self.stats
                .pending
                .store((schedule.len() + flying.len()) as i64, Ordering::Relaxed);
            let now = unix_ms();
            if now - last_prune > 3_600_000 {
                last_prune = now;
                let store = self.store.clone();
                let before = now - self.cfg.keep_delivered.as_millis() as i64;
                tokio::task::spawn_blocking(move || {
                    if let Err(e) = store.hook_forget_delivered(before) {
                        warn!(error = %e, "CRM hooks: cannot prune the delivered ids");
                    }
                });
            }
            while in_flight.len() < self.cfg.concurrency.max(1) {
                let Some((at, id)) = schedule.first().cloned() else {
                    break;
                };
                if at > now {
                    break;
                }
                schedule.remove(&(at, id.clone()));
                scheduled.remove(&id);
                flying.insert(id.clone());
                in_flight.spawn(self.try_once(id));
            }
            let wait = schedule
                .first()
                .map(|(at, _)| Duration::from_millis((at - now).clamp(0, 60_000) as u64))
                .unwrap_or(Duration::from_secs(60));
            let wait = if in_flight.len() >= self.cfg.concurrency.max(1) {
                Duration::from_secs(60)
            } else {
                wait
            };
            tokio::select! {
                () = &mut stopped => return,
                Some(done) = in_flight.join_next(), if !in_flight.is_empty() => {
                    match done {
                        Ok(tried) => {
                            flying.remove(&tried.id);
                            if let Some(next) = self.settle(tried).await {
                                scheduled.insert(next.id.clone(), next.next_ms);
                                schedule.insert((next.next_ms, next.id));
                            }
                        }
                        // A try panicked: its delivery stays in the outbox for the next run.
                        Err(e) => warn!(error = %e, "CRM hooks: a try failed unexpectedly"),
                    }
                }
                Some(due) = incoming.recv() => {
                    if !flying.contains(&due.id) {
                        if let Some(old) = scheduled.insert(due.id.clone(), due.next_ms) {
                            schedule.remove(&(old, due.id.clone()));
                        }
                        schedule.insert((due.next_ms, due.id));
                    }
                }
                () = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// One try of one delivery.
    fn try_once(&self, id: String) -> impl std::future::Future<Output = Tried> + Send + 'static {
        let store = self.store.clone();
        let http = self.http.clone();
        async move {
            let key = id.clone();
            let read = tokio::task::spawn_blocking(move || {
                let Some(d) = store.hook_pending(&key)? else {
                    return Ok(None);
                };
                let t = target(store.as_ref(), &d.campaign)?;
                Ok::<_, HookError>(Some((d, t)))
            })
            .await
            .map_err(|e| HookError::Client(format!("the store task failed: {e}")))
            .and_then(|r| r);
            let outcome = match read {
                Ok(Some((d, t))) => send(&http, &t, &d).await,
                // Gone from the outbox: settled meanwhile, nothing to send.
                Ok(None) => TryOutcome::Delivered,
                // The campaign lost its hook or its settings: no try can succeed.
                Err(e @ (HookError::NoHook(_) | HookError::Settings { .. })) => {
                    TryOutcome::Refused {
                        error: e.to_string(),
                    }
                }
                Err(e) => TryOutcome::Retry {
                    error: e.to_string(),
                    after: None,
                },
            };
            Tried { id, outcome }
        }
    }

    /// Records a try's outcome; the delivery's next due time when it is to be tried again.
    async fn settle(&self, tried: Tried) -> Option<Due> {
        let store = self.store.clone();
        let cfg = self.cfg.clone();
        let stats = self.stats.clone();
        let id = tried.id.clone();
        let r = tokio::task::spawn_blocking(move || -> Result<Option<Due>, HookError> {
            let now = unix_ms();
            let Some(mut d) = store.hook_pending(&tried.id)? else {
                return Ok(None);
            };
            d.tries += 1;
            let next = match tried.outcome {
                TryOutcome::Delivered => {
                    store.hook_delivered(&d.id, now)?;
                    stats.delivered.fetch_add(1, Ordering::Relaxed);
                    debug!(delivery = %d.id, tries = d.tries, "CRM hook delivered");
                    None
                }
                TryOutcome::Retry { error, after } => {
                    let jitter: f64 = rand::random();
                    match cfg.next_try(d.tries, d.created_ms, now, jitter, after) {
                        Some(at) => {
                            d.next_ms = at;
                            d.last_error = Some(error);
                            store.hook_reschedule(&d)?;
                            stats.retried.fetch_add(1, Ordering::Relaxed);
                            Some(Due {
                                next_ms: at,
                                id: d.id.clone(),
                            })
                        }
                        None => {
                            d.last_error =
                                Some(format!("{error} (gave up after {} tries)", d.tries));
                            bury(store.as_ref(), &stats, &d)?;
                            None
                        }
                    }
                }
                TryOutcome::Refused { error } => {
                    d.last_error = Some(error);
                    bury(store.as_ref(), &stats, &d)?;
                    None
                }
            };
            store.flush()?;
            Ok(next)
        })
        .await;
        match r {
            Ok(Ok(next)) => next,
            // The delivery stays in the outbox as it was: try it again later.
            Ok(Err(e)) => {
                warn!(delivery = %id, error = %e, "CRM hooks: cannot record a try");
                Some(Due {
                    next_ms: unix_ms() + self.cfg.first_retry.as_millis() as i64,
                    id,
                })
            }
            Err(e) => {
                warn!(delivery = %id, error = %e, "CRM hooks: the store task failed");
                Some(Due {
                    next_ms: unix_ms() + self.cfg.first_retry.as_millis() as i64,
                    id,
                })
            }
        }
    }
}

fn bury(store: &dyn Store, stats: &HookStats, d: &HookDelivery) -> Result<(), HookError> {
    store.hook_bury(d)?;
    stats.dead.fetch_add(1, Ordering::Relaxed);
    warn!(
        delivery = %d.id,
        campaign = %d.campaign,
        tries = d.tries,
        error = d.last_error.as_deref().unwrap_or(""),
        "CRM hook dead-lettered (GET /api/v1/hooks/dead; retry with POST …/retry)"
    );
    Ok(())
}

/// POSTs one delivery.
async fn send(http: &reqwest::Client, t: &Target, d: &HookDelivery) -> TryOutcome {
    let r = http
        .post(&t.url)
        .header("content-type", "application/json")
        .header("x-aicall-event", EVENT_CALL_ENDED)
        .header("x-aicall-delivery", &d.id)
        .header("x-aicall-attempt", (d.tries + 1).to_string())
        .header(
            "x-aicall-signature",
            sign(t.secret.as_bytes(), d.body.as_bytes()),
        )
        .body(d.body.clone())
        .send()
        .await;
    match r {
        Ok(resp) => {
            let retry_after = resp
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            classify(resp.status().as_u16(), retry_after.as_deref())
        }
        Err(e) => TryOutcome::Retry {
            error: transport_error(&e),
            after: None,
        },
    }
}

/// A transport error without the URL (it may carry credentials or a token).
fn transport_error(e: &reqwest::Error) -> String {
    let mut root: &dyn std::error::Error = e;
    while let Some(s) = root.source() {
        root = s;
    }
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else {
        "request failed"
    };
    let why = root.to_string();
    // The innermost error may still quote the URL; keep it out.
    if why.contains("://") {
        what.to_owned()
    } else {
        format!("{what}: {why}")
    }
}

/// Starts a service's hooks: the deliverer (resuming the outbox), the watcher that enqueues
/// every ended call, and the reconciliation from the watermark.
pub fn start(service: &Arc<Service>) {
    let hooks = &service.hooks;
    if let Err(e) = hooks.deliver(service.store.clone()) {
        warn!(error = %e, "CRM hooks: the deliverer did not start");
    }
    let rx = service.bus.subscribe();
    let weak = Arc::downgrade(service);
    tokio::spawn(watch_ended(weak, rx, hooks.stopped()));
}

/// The watcher: ended calls from the bus into the outbox, the watermark kept, the stored
/// outcomes reconciled after a start or a lag.
async fn watch_ended(
    service: std::sync::Weak<Service>,
    mut rx: broadcast::Receiver<ServiceEvent>,
    stopped: impl std::future::Future<Output = ()> + Send + 'static,
) {
    tokio::pin!(stopped);
    let mut reconcile_from = None;
    if let Some(s) = service.upgrade() {
        let store = s.store.clone();
        match tokio::task::spawn_blocking(move || store.hook_watermark()).await {
            Ok(Ok(Some(w))) => reconcile_from = Some(w - WATERMARK_LAG_S),
            Ok(Ok(None)) => {}
            Ok(Err(e)) => warn!(error = %e, "CRM hooks: cannot read the watermark"),
            Err(e) => warn!(error = %e, "CRM hooks: the watermark task failed"),
        }
    }
    let mut last_mark = 0i64;
    loop {
        if let Some(since) = reconcile_from.take() {
            let Some(s) = service.upgrade() else { return };
            let r = tokio::task::spawn_blocking(move || {
                s.hooks.reconcile(s.store.as_ref(), since, unix_ms())
            })
            .await;
            match r {
                Ok(Ok(0)) => {}
                Ok(Ok(n)) => info!(calls = n, "CRM hooks: enqueued outcomes nobody had seen"),
                Ok(Err(e)) => {
                    warn!(error = %e, "CRM hooks: reconciliation failed; retried later");
                    reconcile_from = Some(since);
                }
                Err(e) => warn!(error = %e, "CRM hooks: the reconciliation task failed"),
            }
        }
        let mut batch = Vec::new();
        let lagged = tokio::select! {
            () = &mut stopped => return,
            r = rx.recv() => match r {
                Ok(ev) => {
                    collect(&ev, &mut batch);
                    while batch.len() < BATCH {
                        match rx.try_recv() {
                            Ok(ev) => collect(&ev, &mut batch),
                            Err(_) => break,
                        }
                    }
                    false
                }
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    warn!(missed = n, "CRM hooks: fell behind the bus; reconciling from the store");
                    true
                }
                Err(broadcast::error::RecvError::Closed) => return,
            },
            () = tokio::time::sleep(Duration::from_secs(10)) => false,
        };
        let Some(s) = service.upgrade() else { return };
        let now_s = unix_ms() / 1000;
        if lagged {
            let store = s.store.clone();
            let mark = tokio::task::spawn_blocking(move || store.hook_watermark())
                .await
                .ok()
                .and_then(Result::ok)
                .flatten();
            reconcile_from = Some(mark.unwrap_or(now_s) - WATERMARK_LAG_S);
            continue;
        }
        // The watermark moves only while nothing is left to reconcile.
        let advance = now_s - last_mark >= 10 && reconcile_from.is_none();
        if batch.is_empty() && !advance {
            continue;
        }
        // Whether every ended call of the batch is in the outbox.
        let r = tokio::task::spawn_blocking(move || -> Result<bool, HookError> {
            let mut cache = HashMap::new();
            let now_ms = unix_ms();
            let mut fresh = Vec::new();
            let mut all = true;
            for ev in &batch {
                if let Some(end) = EndedCall::of_event(ev, now_s) {
                    match enqueue(s.store.as_ref(), &end, now_ms, &mut cache) {
                        Ok(Some(d)) => fresh.push(d),
                        Ok(None) => {}
                        Err(e) => {
                            all = false;
                            warn!(call = %end.uuid, error = %e, "CRM hooks: cannot enqueue");
                        }
                    }
                }
            }
            if advance && all {
                s.store.set_hook_watermark(now_s - WATERMARK_LAG_S)?;
            }
            s.store.flush()?;
            for d in &fresh {
                s.hooks.enqueued(d);
            }
            Ok(all)
        })
        .await;
        match r {
            Ok(Ok(true)) => {
                if advance {
                    last_mark = now_s;
                }
            }
            // What failed is found again from the stored outcomes.
            Ok(Ok(false)) => reconcile_from = Some(now_s - 2 * WATERMARK_LAG_S),
            Ok(Err(e)) => {
                warn!(error = %e, "CRM hooks: cannot write the outbox");
                reconcile_from = Some(now_s - 2 * WATERMARK_LAG_S);
            }
            Err(e) => {
                warn!(error = %e, "CRM hooks: the outbox task failed");
                reconcile_from = Some(now_s - 2 * WATERMARK_LAG_S);
            }
        }
    }
}

fn collect(ev: &ServiceEvent, batch: &mut Vec<CallEvent>) {
    if let ServiceEvent::Call(c @ CallEvent::Ended { .. }) = ev {
        batch.push(c.clone());
    }
}

impl Service {
    /// The service's CRM hooks.
    pub fn hooks(&self) -> &Hooks {
        &self.hooks
    }

    /// Imports contacts pushed in as JSON (same path and report as a file).
    pub async fn import_json(
        &self,
        name: &str,
        items: Vec<serde_json::Value>,
        region_code: Option<&str>,
    ) -> Result<ImportReport, ServiceError> {
        self.import_with(name, region_code, None, move |store, opts| {
            import_json(store, items, opts)
        })
        .await
    }
}

// ---------------------------------------------------------------- API

/// The hooks' routes: dead letters, and contacts in as JSON.
pub(super) fn routes() -> OpenApiRouter<Ctx> {
    OpenApiRouter::new()
        .routes(routes!(dead_letters))
        .routes(routes!(retry_dead))
        .routes(routes!(import_contacts_json).layer(DefaultBodyLimit::max(MAX_JSON_CONTACTS)))
}

/// A dead letter as the API lists it (the body, which carries personal data, stays in).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DeadLetter {
    pub id: String,
    pub campaign: String,
    pub created_ms: i64,
    pub tries: u32,
    pub last_error: Option<String>,
    /// From the body: the call and its outcome.
    pub call_uuid: Option<String>,
    pub disposition: Option<String>,
}

impl From<&HookDelivery> for DeadLetter {
    fn from(d: &HookDelivery) -> Self {
        let body: Option<serde_json::Value> = serde_json::from_str(&d.body).ok();
        let field = |k: &str| {
            body.as_ref()
                .and_then(|b| b.get(k))
                .and_then(|v| v.as_str())
                .map(str::to_owned)
        };
        DeadLetter {
            id: d.id.clone(),
            campaign: d.campaign.clone(),
            created_ms: d.created_ms,
            tries: d.tries,
            last_error: d.last_error.clone(),
            call_uuid: field("call_uuid"),
            disposition: field("disposition"),
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct DeadQuery {
    /// Only this campaign's.
    campaign: Option<String>,
}

/// The CRM hooks' dead letters.
///
/// Outcomes whose hook failed every try (the bodies, which carry personal data, stay in).
#[utoipa::path(get, path = "/api/v1/hooks/dead", tag = "hooks",
    params(DeadQuery),
    responses((status = 200, description = "The dead letters", body = Vec<DeadLetter>)))]
async fn dead_letters(
    State(ctx): State<Ctx>,
    headers: HeaderMap,
    Query(q): Query<DeadQuery>,
) -> ApiResult<Vec<DeadLetter>> {
    let who = ctx.allow(&headers, Action::ReadHooks, "hooks dead")?;
    let store = ctx.service.store.clone();
    let r = tokio::task::spawn_blocking(move || store.hook_dead_letters())
        .await
        .map_err(|e| ServiceError::Internal(e.to_string()))
        .and_then(|r| r.map_err(ServiceError::from))
        .map(|all| {
            all.iter()
                .filter(|d| q.campaign.as_deref().is_none_or(|c| c == d.campaign))
                .map(DeadLetter::from)
                .collect()
        });
    Ok(Json(ctx.done(&who, "hooks dead", r)?))
}

/// The answer to a retry.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RetryReply {
    pub id: String,
    /// Unix ms it is due.
    pub next_ms: i64,
}

/// Send a dead letter again.
///
/// It goes back to the outbox with its tries reset, due now.
#[utoipa::path(post, path = "/api/v1/hooks/dead/{id}/retry", tag = "hooks",
    params(("id" = String, Path, description = "The delivery id (`X-Aicall-Delivery`)")),
    responses(
        (status = 200, description = "Back in the outbox", body = RetryReply),
        (status = 404, description = "No dead letter of that id", body = ErrorBody),
    ))]
async fn retry_dead(
    State(ctx): State<Ctx>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<RetryReply> {
    let what = format!("hooks retry {id}");
    let who = ctx.allow(&headers, Action::RetryHooks, &what)?;
    let service = ctx.service.clone();
    let key = id.clone();
    let r = tokio::task::spawn_blocking(move || {
        service
            .hooks
            .retry_dead(service.store.as_ref(), &key, unix_ms())
    })
    .await
    .map_err(|e| ServiceError::Internal(e.to_string()))
    .and_then(|r| r.map_err(|e| ServiceError::Internal(e.to_string())));
    let revived = ctx.done(&who, &what, r)?;
    match revived {
        Some(d) => Ok(Json(RetryReply {
            id: d.id,
            next_ms: d.next_ms,
        })),
        None => Err(ApiError(
            StatusCode::NOT_FOUND,
            format!("no dead letter `{id}` (GET /api/v1/hooks/dead lists them)"),
        )),
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct JsonImportQuery {
    /// Region of numbers written without a country code (default: the campaign's).
    region: Option<String>,
}

/// Push contacts in as JSON.
///
/// The body is an array of `{"phone", "name", "fields"}` objects; the same import (and
/// report) as a file's.
#[utoipa::path(post, path = "/api/v1/campaigns/{name}/contacts/json", tag = "contacts",
    params(("name" = String, Path, description = "The campaign"), JsonImportQuery),
    request_body(content = Vec<Object>, description = "Contacts: `phone`, `name`, `fields`"),
    responses(
        (status = 200, description = "The import's report, per item", body = ImportReport),
        (status = 400, description = "Not a JSON array of contacts, or a bad region", body = ErrorBody),
        (status = 404, description = "No such campaign", body = ErrorBody),
    ))]
async fn import_contacts_json(
    State(ctx): State<Ctx>,
    headers: HeaderMap,
    Path(name): Path<String>,
    Query(q): Query<JsonImportQuery>,
    body: Result<Json<Vec<serde_json::Value>>, axum::extract::rejection::JsonRejection>,
) -> ApiResult<ImportReport> {
    let what = format!("import JSON contacts into {name}");
    let who = ctx.allow(&headers, Action::ImportContacts, &what)?;
    let r = match body {
        Ok(Json(items)) => {
            ctx.service
                .import_json(&name, items, q.region.as_deref())
                .await
        }
        Err(e) => Err(ServiceError::BadRequest(format!(
            "{}: send a JSON array of {{\"phone\", \"name\", \"fields\"}} objects",
            e.body_text()
        ))),
    };
    Ok(Json(ctx.done(&who, &what, r)?))
}

fn unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_up_to_the_cap_then_gives_up() {
        let cfg = HookConfig {
            first_retry: Duration::from_secs(10),
            max_retry: Duration::from_secs(60),
            max_tries: 6,
            max_age: Duration::from_secs(3600),
            ..HookConfig::default()
        };
        let at = |tries, jitter| cfg.next_try(tries, 0, 1_000, jitter, None);
        assert_eq!(at(1, 0.5), Some(11_000), "10 s after the first failure");
        assert_eq!(at(2, 0.5), Some(21_000));
        assert_eq!(at(3, 0.5), Some(41_000));
        assert_eq!(at(4, 0.5), Some(61_000), "capped at 60 s");
        assert_eq!(at(1, 0.0), Some(9_000), "-20%");
        assert_eq!(at(1, 1.0), Some(13_000), "+20%");
        assert_eq!(at(6, 0.5), None, "the last try failed");
        // Retry-After is honoured, within the cap.
        assert_eq!(
            cfg.next_try(1, 0, 1_000, 0.5, Some(Duration::from_secs(30))),
            Some(31_000)
        );
        assert_eq!(
            cfg.next_try(1, 0, 1_000, 0.5, Some(Duration::from_secs(9999))),
            Some(61_000)
        );
        // Past the maximum age: no more tries.
        assert_eq!(cfg.next_try(1, 0, 3_595_000, 0.5, None), None);
    }

    #[test]
    fn answers_are_classified() {
        assert_eq!(classify(200, None), TryOutcome::Delivered);
        assert_eq!(classify(204, None), TryOutcome::Delivered);
        for s in [408, 425, 429, 500, 502, 503] {
            assert!(matches!(classify(s, None), TryOutcome::Retry { .. }), "{s}");
        }
        assert_eq!(
            classify(503, Some("120")),
            TryOutcome::Retry {
                error: "HTTP 503".into(),
                after: Some(Duration::from_secs(120))
            }
        );
        for s in [301, 400, 401, 404, 410, 422] {
            assert!(
                matches!(classify(s, None), TryOutcome::Refused { .. }),
                "{s}"
            );
        }
    }

    #[test]
    fn signatures_verify_and_a_changed_body_or_key_does_not() {
        let body = br#"{"disposition":"interested"}"#;
        let sig = sign(b"0123456789abcdef", body);
        assert!(sig.starts_with("sha256=") && sig.len() == 7 + 64, "{sig}");
        assert!(verify(b"0123456789abcdef", body, &sig));
        assert!(!verify(b"0123456789abcdeX", body, &sig));
        assert!(!verify(b"0123456789abcdef", b"{}", &sig));
        assert!(!verify(b"0123456789abcdef", body, "sha1=00"));
        assert!(!verify(b"0123456789abcdef", body, "sha256=zz"));
        // RFC 4231 test case 2: HMAC-SHA256("Jefe", "what do ya want for nothing?").
        assert_eq!(
            sign(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn the_payload_carries_the_outcome_the_conversation_and_the_score() {
        use crate::call::record::Turn;
        let end = EndedCall {
            uuid: "u-1".into(),
            campaign: "spring".into(),
            contact_id: Some(7),
            disposition: Disposition::Callback,
            cause: Some("NORMAL_CLEARING".into()),
            answered: true,
            billsec: 42,
            callback_at: Some(1_800_000_000),
            ended_at: 1_700_000_000,
        };
        let turn = |speaker, text: &str, intent: Option<&str>| Turn {
            intent: intent.map(str::to_owned),
            ..Turn::new(0, speaker, text)
        };
        let record = CallRecord {
            uuid: "u-1".into(),
            campaign: "spring".into(),
            contact_id: Some(7),
            script: "s".into(),
            answered_at: 0,
            answered: true,
            ended_at: 0,
            disposition: None,
            hangup_cause: None,
            transferred_to: None,
            agent: None,
            agent_outcome: None,
            callback_at: Some(1_800_000_000),
            tags: vec!["busy".into()],
            path: vec!["greeting".into(), "callback".into()],
            turns: vec![
                turn(Speaker::Bot, "您好", None),
                turn(Speaker::Callee, "我现在很忙", Some("busy")),
                turn(Speaker::Callee, "明天下午三点", Some("callback_time")),
                turn(Speaker::Bot, &"好".repeat(2000), None),
            ],
            decisions: vec![],
            barge_ins: vec![],
            turn_latency_ms: vec![],
            barge_in_latency_ms: vec![],
            dtmf: String::new(),
        };
        let p = Payload::build(&end, Some(&record), None);
        assert_eq!(p.delivery_id, "u-1");
        assert_eq!(p.disposition, "callback");
        assert_eq!(p.intents, ["busy", "callback_time"]);
        assert_eq!(p.slots.callback_at, Some(1_800_000_000));
        assert_eq!(p.turns, 4);
        let summary = p.summary.expect("summary");
        assert!(
            summary.starts_with("bot: 您好 | callee: 我现在很忙 [busy]"),
            "{summary}"
        );
        assert_eq!(summary.chars().count(), SUMMARY_CHARS + 1, "cut, with …");
        assert_eq!(p.lead_score, None);
        // No conversation: the outcome alone.
        let p = Payload::build(
            &EndedCall {
                answered: false,
                disposition: Disposition::Busy,
                ..end
            },
            None,
            None,
        );
        assert!(p.intents.is_empty() && p.summary.is_none());
        assert_eq!(p.disposition, "busy");
    }
}
