//! Carrying a campaign's calls out on the switch: originate, follow the channel, and hold the
//! AI conversation once the answered call parks ([`SwitchPlacer`], the dialer's
//! [`Placer`]). A call that parks on early media (the originate completes on a 183 with
//! audio) is listened to for a carrier announcement until it answers, and given up as
//! `NO_ANSWER` if it rings on past the originate's wait.
//!
//! The placer owns exactly the channels it originated: it registers the UUID it chose with
//! the [`ChannelRouter`] before the originate leaves, so a loopback call's second leg, an
//! agent's leg or any other channel carrying aicall's variables is never driven. How the
//! call ended — the conversation's disposition and callback time, the hangup cause, whether
//! a transfer found no agent — goes back to the dialer in process.
//!
//! After a restart, a call an earlier run placed and that is still up is adopted: one that
//! was never answered is followed (and conversed with if it answers); one that was already
//! in conversation lost its conversation's state with the crash and is hung up, recorded as
//! `interrupted` (called again); one already handed to an agent is followed to its end.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

use crate::call::driver::{self as conversation, CallDeps, CallStart, ChannelInput, Leg};
use crate::call::events::{CallEvent, CallEvents};
use crate::call::CallRecord;
use crate::campaign::driver::{BoxFuture, CallEnd, Placement, Placer, Progress};
use crate::esl::{ChannelEvents, ChannelRouter, EslError, Event, EventKind, HangupCause, Routed};
use crate::outcome::Disposition;

/// The channel events a placer needs on the shared connection.
pub const EVENTS: &[&str] = &[
    "CHANNEL_ANSWER",
    "CHANNEL_PARK",
    "CHANNEL_HANGUP_COMPLETE",
    "CHANNEL_DESTROY",
    "DTMF",
];

/// A call that is up, as the service sees it.
#[derive(Clone, Debug)]
pub struct LiveCall {
    pub uuid: String,
    pub campaign: String,
    pub contact_id: Option<u64>,
    /// Where the conversation takes channel input (and the service's "end now").
    pub inbox: mpsc::Sender<ChannelInput>,
}

/// The calls in conversation now, across the service's campaigns and its outbound socket.
#[derive(Debug, Default)]
pub struct LiveCalls {
    calls: Mutex<HashMap<String, LiveCall>>,
}

impl LiveCalls {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, LiveCall>> {
        // Poisoned only after a panic elsewhere; the map stays usable.
        self.calls.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn insert(&self, call: LiveCall) {
        self.lock().insert(call.uuid.clone(), call);
    }

    pub fn remove(&self, uuid: &str) {
        self.lock().remove(uuid);
    }

    /// The calls of `campaign` (every call when `None`).
    pub fn of(&self, campaign: Option<&str>) -> Vec<LiveCall> {
        self.lock()
            .values()
            .filter(|c| campaign.is_none_or(|n| c.campaign == n))
            .cloned()
            .collect()
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }
}

/// The dialer's [`Placer`] on a real (or simulated) switch.
#[derive(Clone, Debug)]
pub struct SwitchPlacer {
    router: ChannelRouter,
    /// The campaign's conversation; none: answered calls are only followed (a dialer-only
    /// campaign, whose dialplan decides what they hear).
    conversation: Option<Arc<CallDeps>>,
    live: Arc<LiveCalls>,
    events: CallEvents,
}

impl SwitchPlacer {
    pub fn new(
        router: ChannelRouter,
        conversation: Option<Arc<CallDeps>>,
        live: Arc<LiveCalls>,
        events: CallEvents,
    ) -> Self {
        Self {
            router,
            conversation,
            live,
            events,
        }
    }
}

/// A placer with no conversation over its own connection: the dialer alone (the dialer's
/// tests and benchmark).
pub async fn dialer_only(
    client: crate::esl::EslClient,
    events: crate::esl::EventStream,
) -> Result<Arc<SwitchPlacer>, EslError> {
    client.subscribe(EVENTS).await?;
    let router = ChannelRouter::start(client, events, Duration::from_secs(30));
    Ok(Arc::new(SwitchPlacer::new(
        router,
        None,
        Arc::new(LiveCalls::default()),
        CallEvents::default(),
    )))
}

impl Placer for SwitchPlacer {
    fn place(&self, mut call: Placement) -> BoxFuture<CallEnd> {
        let this = self.clone();
        Box::pin(async move {
            // Registered before the originate leaves: no event of ours can be missed, and no
            // other channel's events reach this call.
            let events = this.router.register(&call.uuid);
            let sent = call.sent.take();
            let job = this
                .router
                .client()
                .bgapi(&format!("originate {}", call.originate))
                .await;
            if let Some(tx) = sent {
                let _ = tx.send(());
            }
            if job.is_ok() {
                this.events.send(CallEvent::Started {
                    uuid: call.uuid.clone(),
                    campaign: call.campaign.clone(),
                    contact_id: Some(call.contact_id),
                    callee: call.callee.clone(),
                });
            }
            let job = match job {
                Ok(job) => Some(job),
                Err(EslError::NotConnected) => {
                    // Nothing left this process: the attempt never reached FreeSWITCH.
                    return CallEnd {
                        uuid: call.uuid,
                        not_sent: true,
                        ..CallEnd::default()
                    };
                }
                Err(e) => {
                    warn!(error = %e, uuid = %call.uuid, "originate may or may not have been sent");
                    None
                }
            };
            let mut follow = Follow::new(&this, call, events, false);
            follow.ring_deadline = Some(tokio::time::Instant::now() + follow.call.timeout);
            follow.job = job.map(|j| {
                let timeout = follow.call.timeout;
                tokio::spawn(async move { j.wait(timeout).await })
            });
            follow.run().await
        })
    }

    fn adopt(&self, call: Placement, answered: bool) -> BoxFuture<CallEnd> {
        let this = self.clone();
        Box::pin(async move {
            let events = this.router.register(&call.uuid);
            let esl = this.router.client().clone();
            if answered && this.conversation.is_some() {
                // A transfer sets aicall_queue before it leaves the conversation: such a call
                // is with an agent now and must not be cut.
                let transferred = esl
                    .api_ok(&format!("uuid_getvar {} aicall_queue", call.uuid))
                    .await
                    .is_ok_and(|v| {
                        let v = v.trim();
                        !v.is_empty() && v != "_undef_"
                    });
                if !transferred {
                    info!(uuid = %call.uuid, "a call found in conversation after a restart: ending it");
                    let _ = esl.hangup(&call.uuid, "NORMAL_CLEARING").await;
                    let mut f = Follow::new(&this, call, events, true);
                    f.decided = Some((Disposition::Interrupted, None));
                    f.conversation_done = true;
                    return f.run().await;
                }
                let mut f = Follow::new(&this, call, events, true);
                f.decided = Some((Disposition::Transferred, None));
                f.conversation_done = true;
                return f.run().await;
            }
            Follow::new(&this, call, events, answered).run().await
        })
    }

    fn live_channels(&self) -> BoxFuture<Result<HashSet<String>, EslError>> {
        let esl = self.router.client().clone();
        Box::pin(async move { Ok(esl.channels().await?.into_iter().map(|c| c.uuid).collect()) })
    }
}

/// One call followed from its originate (or adoption) to its hangup.
struct Follow {
    placer: SwitchPlacer,
    call: Placement,
    events: ChannelEvents,
    job: Option<JoinHandle<Result<crate::esl::JobResult, EslError>>>,
    answered: bool,
    /// Any event of the channel was seen (it exists, or existed).
    seen: bool,
    /// The conversation, once the answered call parked.
    talk: Option<(mpsc::Sender<ChannelInput>, JoinHandle<CallRecord>)>,
    /// The conversation already ran (or must not run).
    conversation_done: bool,
    /// The channel parked before the answer (early media), at this codec rate: no park
    /// follows the answer, so the conversation starts from the answer.
    parked_early: Option<u32>,
    /// When a call still unanswered on early media is given up: FreeSWITCH's
    /// `originate_timeout` stopped counting when the originate completed on the early media.
    ring_deadline: Option<tokio::time::Instant>,
    decided: Option<(Disposition, Option<i64>)>,
}

impl Follow {
    fn new(placer: &SwitchPlacer, call: Placement, events: ChannelEvents, answered: bool) -> Self {
        Follow {
            placer: placer.clone(),
            call,
            events,
            job: None,
            answered,
            seen: false,
            talk: None,
            conversation_done: false,
            parked_early: None,
            ring_deadline: None,
            decided: None,
        }
    }

    async fn run(mut self) -> CallEnd {
        loop {
            let step = {
                let (job, events, talk) = (&mut self.job, &mut self.events, &mut self.talk);
                let ring_deadline = self
                    .ring_deadline
                    .filter(|_| self.parked_early.is_some() && !self.answered);
                tokio::select! {
                    r = wait_opt(job) => Step::Job(r),
                    _ = wait_until(ring_deadline) => Step::RingTimeout,
                    ev = events.recv() => Step::Routed(ev),
                    r = wait_opt_talk(talk) => Step::Talked(Box::new(r)),
                }
            };
            match step {
                Step::Job(r) => {
                    self.job = None;
                    match r {
                        Ok(Ok(result)) if !result.ok && !self.seen => {
                            // Refused before any channel existed (unknown endpoint, no route):
                            // the cause is all there is.
                            let cause = HangupCause::from_name(result.value());
                            return self.end(Some(cause), 0, false).await;
                        }
                        Ok(Ok(result)) => {
                            debug!(uuid = %self.call.uuid, result = %result.body, "originate result")
                        }
                        Ok(Err(e)) if !self.seen => {
                            warn!(uuid = %self.call.uuid, error = %e, "no originate result and no channel");
                            return self.end(None, 0, false).await;
                        }
                        _ => {}
                    }
                }
                Step::Routed(Some(Routed::Event(ev))) => {
                    self.seen = true;
                    if let Some(end) = self.on_event(&ev).await {
                        return end;
                    }
                }
                Step::Routed(Some(Routed::Gone) | None) => {
                    warn!(uuid = %self.call.uuid, "call lost: its channel is gone");
                    // The conversation hears of it in `end`.
                    return self.end(None, 0, false).await;
                }
                Step::Routed(Some(Routed::LinkDown | Routed::LinkUp)) => {}
                Step::RingTimeout => {
                    self.ring_deadline = None;
                    info!(uuid = %self.call.uuid, "early media past the originate timeout: hanging up unanswered");
                    let client = self.placer.router.client().clone();
                    if let Err(e) = client.hangup(&self.call.uuid, "NO_ANSWER").await {
                        warn!(uuid = %self.call.uuid, error = %e, "hangup failed");
                    }
                }
                Step::Talked(record) => {
                    // The conversation ended first (the bot hung up or transferred): the
                    // channel's hangup is still to come.
                    self.talk = None;
                    self.conversation_done = true;
                    self.placer.live.remove(&self.call.uuid);
                    if let Ok(r) = *record {
                        self.decided = r.disposition.map(|d| (d, r.callback_at));
                    }
                }
            }
        }
    }

    async fn on_event(&mut self, ev: &Event) -> Option<CallEnd> {
        match ev.kind() {
            EventKind::ChannelAnswer if !self.answered => {
                self.answered = true;
                let _ = self.call.progress.send(Progress::Answered {
                    uuid: self.call.uuid.clone(),
                });
                if let Some((inbox, _)) = &self.talk {
                    // The conversation was listening to early media: it starts now.
                    let _ = inbox.send(ChannelInput::Answered).await;
                } else if let Some(rate) = self.parked_early {
                    self.start(rate, true);
                }
            }
            EventKind::ChannelPark => {
                // Media starts in the park loop (FreeSWITCH accepts `unicast` only there):
                // the `&park()` of the originate. Without `ignore_early_media` the
                // originate completes on early media (a 183 with audio: a ringback tone, or
                // a carrier's announcement) and the channel parks before the answer; its
                // audio is listened to then, and the conversation starts at the answer.
                let rate = park_rate(ev);
                let answered = self.answered || ev.get("Answer-State") == Some("answered");
                if !answered {
                    self.parked_early = Some(rate);
                }
                self.start(rate, answered);
            }
            EventKind::Dtmf { digit, .. } => {
                if let Some((inbox, _)) = &self.talk {
                    let _ = inbox.send(ChannelInput::Dtmf(digit)).await;
                }
            }
            EventKind::ChannelHangupComplete { cause, billsec } => {
                let abandoned = abandoned(ev);
                return Some(self.end(Some(cause), billsec, abandoned).await);
            }
            EventKind::ChannelDestroy => {
                // A destroy without the hangup we subscribe to: end with what we know.
                return Some(self.end(ev.hangup_cause(), 0, false).await);
            }
            _ => {}
        }
        None
    }

    /// Starts the conversation, once; `answered` false: on early media.
    fn start(&mut self, rate: u32, answered: bool) {
        if self.conversation_done || self.talk.is_some() {
            return;
        }
        if let Some(deps) = self.placer.conversation.clone() {
            self.start_conversation(deps, rate, answered);
        }
    }

    fn start_conversation(&mut self, deps: Arc<CallDeps>, rate: u32, answered: bool) {
        let uuid = self.call.uuid.clone();
        let mut values: HashMap<String, String> = std::mem::take(&mut self.call.fields);
        values.insert("campaign".to_owned(), self.call.campaign.clone());
        // For an agent's screen, should the call be transferred.
        values.insert("callee".to_owned(), self.call.callee.clone());
        if let Some(score) = self.call.score {
            values.insert("lead_score".to_owned(), format!("{score:.3}"));
        }
        let phone_key = self.call.phone_key;
        if answered {
            info!(%uuid, contact = self.call.contact_id, "call answered: conversing");
        } else {
            info!(%uuid, contact = self.call.contact_id, "early media: listening before the answer");
        }
        let (tx, rx) = mpsc::channel(16);
        let start = CallStart {
            leg: Leg {
                esl: self.placer.router.client().clone(),
                uuid: uuid.clone(),
            },
            answered,
            rate,
            contact_id: Some(self.call.contact_id),
            phone_key,
            values,
        };
        self.placer.live.insert(LiveCall {
            uuid,
            campaign: self.call.campaign.clone(),
            contact_id: Some(self.call.contact_id),
            inbox: tx.clone(),
        });
        let task = tokio::spawn(conversation::run(deps, start, rx));
        self.talk = Some((tx, task));
    }

    /// The channel ended: the conversation (if any) is told and awaited, then the end is
    /// reported.
    async fn end(&mut self, cause: Option<HangupCause>, billsec: u64, abandoned: bool) -> CallEnd {
        if let Some((inbox, task)) = self.talk.take() {
            let input = match cause {
                Some(c) => ChannelInput::Hangup {
                    cause: c.name().to_owned(),
                },
                None => ChannelInput::Vanished,
            };
            let _ = inbox.send(input).await;
            if let Ok(r) = task.await {
                self.decided = r.disposition.map(|d| (d, r.callback_at));
            }
        }
        self.placer.live.remove(&self.call.uuid);
        if let Some(job) = self.job.take() {
            job.abort();
        }
        CallEnd {
            uuid: self.call.uuid.clone(),
            cause,
            decided: self.decided,
            answered: self.answered || billsec > 0,
            billsec,
            not_sent: false,
            abandoned,
        }
    }
}

/// The channel's codec rate as its park event gives it (8 kHz when it says nothing).
fn park_rate(park: &Event) -> u32 {
    park.get("Channel-Read-Codec-Rate")
        .and_then(|r| r.parse().ok())
        .unwrap_or(8000)
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

/// Waits until `live` has no call left or `grace` has passed, then tells every call left to
/// end with `disposition`, and waits (a bounded time) for them to go.
pub async fn end_calls(live: &LiveCalls, grace: Duration, disposition: Disposition) {
    let deadline = tokio::time::Instant::now() + grace;
    while !live.is_empty() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let left = live.of(None);
    if left.is_empty() {
        return;
    }
    info!(
        calls = left.len(),
        "grace period over: ending the calls still up"
    );
    for c in left {
        let _ = c.inbox.send(ChannelInput::End { disposition }).await;
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !live.is_empty() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

enum Step {
    /// Early media went on past the originate's timeout, unanswered.
    RingTimeout,
    Job(Result<Result<crate::esl::JobResult, EslError>, tokio::task::JoinError>),
    Routed(Option<Routed>),
    Talked(Box<Result<CallRecord, tokio::task::JoinError>>),
}

/// The originate's result, or never when there is none to wait for.
/// Sleeps until `at`, or forever when there is none.
async fn wait_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

async fn wait_opt(
    job: &mut Option<JoinHandle<Result<crate::esl::JobResult, EslError>>>,
) -> Result<Result<crate::esl::JobResult, EslError>, tokio::task::JoinError> {
    match job {
        Some(j) => j.await,
        None => std::future::pending().await,
    }
}

/// The conversation's record, or never when none runs.
async fn wait_opt_talk(
    talk: &mut Option<(mpsc::Sender<ChannelInput>, JoinHandle<CallRecord>)>,
) -> Result<CallRecord, tokio::task::JoinError> {
    match talk {
        Some((_, t)) => t.await,
        None => std::future::pending().await,
    }
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
