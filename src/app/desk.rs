//! aicall's agent desk: the pure [`Router`] driven over ESL. It takes transfers from
//! conversations ([`TransferDesk`]), rings the agent the router chose (its own leg, by a
//! UUID it picked, so the channel router gives it that leg's events and nobody else's),
//! bridges the callee to the agent when they answer, moves on to the next agent when they do
//! not, releases the agent when the callee gives up, and puts the agent in wrap-up when the
//! call ends. Agents log in, go ready, take breaks and file dispositions through the service
//! (API, desktop, console); every state change is published on the bus, the screen pop of an
//! offer is kept for the agent's desktop, and the predictive dialer reads the agents through
//! [`SharedAgents`].
//!
//! The router learns from dispositions; its records are kept across restarts in the
//! store. The dialer learns from them too ([`Service::refile`]): the call's attempt takes the
//! agent's outcome and the contact is scheduled by it (a callback at the agreed time, a sale
//! or a refusal for good). Agents whose leg is gone without an event are reconciled by the channel router
//! (a gone leg is a failed offer or an ended call), so no agent stays "offered" or "on call"
//! after its call is gone.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use serde::Serialize;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tracing::{debug, info, warn};

use super::events::{AgentChange, Bus, ServiceEvent};
use super::{unix_now, Service, ServiceError};
use crate::call::transfer::{TransferDesk, TransferRequest, TransferUpdate};
use crate::campaign::driver::{self as dialer, AgentFiled, Control, Refiled};
use crate::campaign::pacing::SharedAgents;
use crate::campaign::CampaignSettings;
use crate::esl::{ChannelRouter, EventKind, Routed};
use crate::routing::{
    self, AgentId, AgentStatus, CallId, CallRequest, Fallback, Input, Output, Router,
    RoutingConfig, RoutingError,
};

/// What the desk hears.
enum Cmd {
    Input(Input, Option<oneshot::Sender<Result<(), RoutingError>>>),
    Transfer(Box<TransferRequest>, mpsc::UnboundedSender<TransferUpdate>),
    CalleeGone(String),
    Leg(Leg),
}

/// What happened to an agent's leg.
#[derive(Debug)]
enum Leg {
    /// Answered and bridged to the callee.
    Bridged { call: CallId, agent: AgentId },
    /// Not answered, refused, or failed before the bridge.
    Failed { call: CallId, agent: AgentId },
    /// The bridged call ended.
    Ended { call: CallId },
}

/// How a call left its queue's line.
#[derive(Clone, Copy, Debug)]
enum Left {
    Answered { waited_ms: u64 },
    Abandoned,
    Fallback,
}

/// An offer ringing now.
struct Ringing {
    agent: AgentId,
    leg: String,
    cancel: Option<oneshot::Sender<()>>,
}

/// What the desk shows: agents, the offers they have on screen, queues.
#[derive(Clone, Debug, Default, Serialize, utoipa::ToSchema)]
pub struct DeskView {
    /// Each agent: id, state, skills, figures (the router's `AgentStatus`).
    #[schema(value_type = Vec<Object>)]
    pub agents: Vec<AgentStatus>,
    /// Agent id → the call offered to or taken by the agent, with its screen pop.
    pub screens: HashMap<String, TransferRequest>,
    pub waiting: usize,
    /// The router's counters (offers, connections, fallbacks).
    #[schema(value_type = Option<Object>)]
    pub counters: Option<routing::Counters>,
    /// Bridged call → the agent's leg (a supervisor whispers to or barges into it).
    pub agent_legs: HashMap<String, String>,
    /// Each queue's line and service level.
    pub queues: Vec<QueueView>,
}

/// A queue as the wallboard and the console show it.
#[derive(Clone, Debug, Default, Serialize, utoipa::ToSchema)]
pub struct QueueView {
    pub name: String,
    pub waiting: usize,
    pub longest_wait_s: u64,
    /// Calls connected to an agent, and those within the queue's service-level time.
    pub answered: u64,
    pub answered_in_time: u64,
    pub abandoned: u64,
    /// Calls that waited the queue's maximum and went to its fallback.
    pub fallbacks: u64,
    /// `answered_in_time / (answered + abandoned + fallbacks)`, once any call left the line.
    pub service_level: Option<f64>,
    /// The queue's target: this share within `target_s`.
    pub target_s: u32,
    pub target: f32,
}

/// The desk, as the service holds it. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Desk {
    tx: mpsc::UnboundedSender<Cmd>,
    queues: Arc<RwLock<HashSet<String>>>,
    view: Arc<Mutex<DeskView>>,
    shared: SharedAgents,
}

impl std::fmt::Debug for Cmd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Cmd")
    }
}

impl Desk {
    /// Starts the desk over `esl` with the agents and queues of `cfg`.
    pub fn start(cfg: &RoutingConfig, esl: ChannelRouter, bus: Bus) -> Result<Desk, RoutingError> {
        let router = Router::new(cfg)?;
        let queues: HashSet<String> = cfg.queues.iter().map(|q| q.name.clone()).collect();
        let (tx, rx) = mpsc::unbounded_channel();
        // The agents are in the view from the start (logged out), before any input.
        let view = DeskView {
            agents: router.agents().collect(),
            counters: Some(router.counters()),
            ..DeskView::default()
        };
        let desk = Desk {
            tx: tx.clone(),
            queues: Arc::new(RwLock::new(queues)),
            view: Arc::new(Mutex::new(view)),
            shared: SharedAgents::default(),
        };
        let actor = Actor {
            router,
            esl,
            bus,
            t0: Instant::now(),
            waiting: HashMap::new(),
            ringing: HashMap::new(),
            connected: HashMap::new(),
            answered_legs: HashMap::new(),
            screens: HashMap::new(),
            in_line: HashMap::new(),
            queues: cfg
                .queues
                .iter()
                .map(|q| QueueView {
                    name: q.name.clone(),
                    target_s: q.service_level.within_s,
                    target: q.service_level.target,
                    ..QueueView::default()
                })
                .collect(),
            view: desk.view.clone(),
            shared: desk.shared.clone(),
            ring_timeout_s: cfg.ring_timeout_s,
            tx,
        };
        tokio::spawn(actor.run(rx));
        Ok(desk)
    }

    /// The predictive dialer's input: the agents free, busy and soon free.
    pub fn availability(&self) -> SharedAgents {
        self.shared.clone()
    }

    /// Feeds the router an agent's or a queue's change (login, ready, break, logout, a
    /// disposition, agents and queues changed live); answers once it took effect or was
    /// refused with the reason.
    pub async fn input(&self, input: Input) -> Result<(), RoutingError> {
        if let Input::UpsertQueue(q) = &input {
            self.queues
                .write()
                .unwrap_or_else(|p| p.into_inner())
                .insert(q.name.clone());
        }
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Cmd::Input(input, Some(tx))).is_err() {
            return Err(RoutingError::UnknownQueue {
                queue: "(the desk is stopped)".into(),
            });
        }
        rx.await.unwrap_or(Ok(()))
    }

    /// What the desk shows now.
    pub fn view(&self) -> DeskView {
        self.view.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl Service {
    /// Acts on the outcome an agent filed for a call of campaign `name` that the desk took:
    /// the attempt takes it and the contact is scheduled by the campaign's retry policy, as
    /// for an outcome the conversation decided ([`dialer::refile`]). A running campaign's
    /// dialer does it itself (a call still up takes it when it ends); otherwise it goes
    /// straight to the store, where the next run finds it.
    pub async fn refile(&self, name: &str, filed: AgentFiled) -> Result<Refiled, ServiceError> {
        if let Some(control) = self.dialer_of(name).await {
            let (reply, answer) = oneshot::channel();
            if control
                .send(Control::Refile(filed.clone(), reply))
                .await
                .is_ok()
            {
                if let Ok(done) = answer.await {
                    return Ok(done?);
                }
            }
        }
        let settings = CampaignSettings::of(&self.record(name)?)
            .map_err(|e| ServiceError::Internal(e.to_string()))?;
        let store = self.store.clone();
        let contact = tokio::task::spawn_blocking(move || {
            // No jitter: every outcome an agent files either ends the contact or names a time.
            let c = dialer::refile(store.as_ref(), &settings, &filed, unix_now(), 0)?;
            store.flush()?;
            Ok::<_, crate::store::StoreError>(c)
        })
        .await
        .map_err(|e| ServiceError::Internal(format!("refile task: {e}")))??;
        // A run started meanwhile may have read its contacts before this write.
        if let Some(control) = self.dialer_of(name).await {
            let (ack, done) = oneshot::channel();
            if control.send(Control::Refresh(ack)).await.is_ok() {
                let _ = done.await;
            }
        }
        Ok(Refiled::of(&contact))
    }

    /// The control channel of campaign `name`'s dialer, while it runs.
    async fn dialer_of(&self, name: &str) -> Option<mpsc::Sender<Control>> {
        let runners = self.runners.lock().await;
        let r = runners.get(name).filter(|r| !r.task.is_finished())?;
        Some(r.control.clone())
    }
}

impl TransferDesk for Desk {
    fn routes(&self, queue: &str) -> bool {
        self.queues
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .contains(queue)
    }

    fn request(&self, req: TransferRequest) -> mpsc::UnboundedReceiver<TransferUpdate> {
        let (tx, rx) = mpsc::unbounded_channel();
        let _ = self.tx.send(Cmd::Transfer(Box::new(req), tx));
        rx
    }

    fn callee_gone(&self, call: &str) {
        let _ = self.tx.send(Cmd::CalleeGone(call.to_owned()));
    }
}

struct Actor {
    router: Router,
    esl: ChannelRouter,
    bus: Bus,
    t0: Instant,
    waiting: HashMap<CallId, mpsc::UnboundedSender<TransferUpdate>>,
    ringing: HashMap<CallId, Ringing>,
    /// Bridged calls → the agent's leg.
    connected: HashMap<CallId, String>,
    /// Legs of offers answered, until the router says connected.
    answered_legs: HashMap<CallId, String>,
    /// Agent → the call on their screen.
    screens: HashMap<String, TransferRequest>,
    /// Calls in line: their queue and since when.
    in_line: HashMap<CallId, (String, Instant)>,
    /// Per queue, in configuration order: its figures so far.
    queues: Vec<QueueView>,
    view: Arc<Mutex<DeskView>>,
    shared: SharedAgents,
    ring_timeout_s: u32,
    tx: mpsc::UnboundedSender<Cmd>,
}

impl Actor {
    fn now_ms(&self) -> u64 {
        self.t0.elapsed().as_millis() as u64
    }

    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Cmd>) {
        let mut pops: HashMap<CallId, TransferRequest> = HashMap::new();
        loop {
            let wake = self
                .router
                .next_timeout()
                .map(|ms| self.t0 + Duration::from_millis(ms))
                .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
            let cmd = tokio::select! {
                c = rx.recv() => match c {
                    Some(c) => Some(c),
                    None => return,
                },
                _ = tokio::time::sleep_until(wake) => None,
            };
            let now = self.now_ms();
            let mut answer = None;
            let result = match cmd {
                None => self.router.handle(now, Input::Tick),
                Some(Cmd::Input(input, reply)) => {
                    let filed = match &input {
                        Input::Disposition(d) => Some(d.agent.to_string()),
                        _ => None,
                    };
                    let r = self.router.handle(now, input);
                    if let (Ok(()), Some(agent)) = (&r, filed) {
                        self.screens.remove(&agent);
                    }
                    // Answered once the view shows it: whoever asked reads the new state.
                    answer = reply.map(|reply| (reply, r.clone()));
                    r
                }
                Some(Cmd::Transfer(req, updates)) => {
                    let call = CallId::new(&req.call);
                    let request = CallRequest {
                        node: Some(req.node.clone()),
                        skills: req.skills.clone(),
                        language: req.language.clone(),
                        lead_score: req.lead_score,
                        callback_at: req.callback_at,
                        ..CallRequest::new(&req.call, &req.queue, req.intent)
                    };
                    let mut r = self.router.handle(now, Input::CallWaiting(request.clone()));
                    if let Err(e @ RoutingError::UnknownSkill { .. }) = &r {
                        // A skill the script names and no agent file knows must not turn
                        // every transfer away: route on the queue and the intent instead.
                        warn!(call = %call, error = %e, "routing without the skills the agents do not know");
                        r = self.router.handle(
                            now,
                            Input::CallWaiting(CallRequest {
                                skills: Vec::new(),
                                ..request
                            }),
                        );
                    }
                    match r {
                        Ok(()) => {
                            self.waiting.insert(call.clone(), updates);
                            self.in_line
                                .insert(call.clone(), (req.queue.clone(), Instant::now()));
                            pops.insert(call, *req);
                            Ok(())
                        }
                        Err(e) => {
                            // A queue no agent can serve, say: the call goes back to the bot.
                            warn!(call = %call, error = %e, "transfer refused by the router");
                            let _ = updates.send(TransferUpdate::BackToBot);
                            Err(e)
                        }
                    }
                }
                Some(Cmd::CalleeGone(call)) => {
                    let call = CallId::new(&call);
                    if self.waiting.contains_key(&call) || self.connected.contains_key(&call) {
                        self.router.handle(now, Input::CalleeHungUp { call })
                    } else {
                        Ok(())
                    }
                }
                Some(Cmd::Leg(leg)) => self.on_leg(now, leg),
            };
            if let Err(e) = result {
                debug!(error = %e, "router refused an input");
            }
            while let Some(out) = self.router.poll_output() {
                self.carry_out(out, &mut pops).await;
            }
            self.publish_view();
            if let Some((reply, r)) = answer {
                let _ = reply.send(r);
            }
        }
    }

    fn on_leg(&mut self, now: u64, leg: Leg) -> Result<(), RoutingError> {
        match leg {
            Leg::Bridged { call, agent } => {
                self.ringing.remove(&call);
                self.router
                    .handle(now, Input::OfferAnswered { call, agent })
            }
            Leg::Failed { call, agent } => {
                // A withdrawn offer also ends its leg: only a current offer counts.
                if self.ringing.get(&call).is_some_and(|r| r.agent == agent) {
                    self.ringing.remove(&call);
                    self.router
                        .handle(now, Input::OfferNotAnswered { call, agent })
                } else {
                    Ok(())
                }
            }
            Leg::Ended { call } => {
                if self.connected.remove(&call).is_some() {
                    self.router.handle(now, Input::CallEnded { call })
                } else {
                    Ok(())
                }
            }
        }
    }

    async fn carry_out(&mut self, out: Output, pops: &mut HashMap<CallId, TransferRequest>) {
        match out {
            Output::Offer {
                call,
                agent,
                dial,
                queue,
                reasons,
            } => {
                info!(call = %call, agent = %agent, %queue, score = ?reasons, "offering the call");
                if let Some(tx) = self.waiting.get(&call) {
                    let _ = tx.send(TransferUpdate::Offered {
                        agent: agent.to_string(),
                    });
                }
                if let Some(pop) = pops.get(&call) {
                    self.screens.insert(agent.to_string(), pop.clone());
                }
                let leg = uuid::Uuid::new_v4().to_string();
                let (cancel_tx, cancel_rx) = oneshot::channel();
                self.ringing.insert(
                    call.clone(),
                    Ringing {
                        agent: agent.clone(),
                        leg: leg.clone(),
                        cancel: Some(cancel_tx),
                    },
                );
                tokio::spawn(ring(
                    self.esl.clone(),
                    call,
                    agent,
                    leg,
                    dial,
                    self.ring_timeout_s,
                    cancel_rx,
                    self.tx.clone(),
                ));
            }
            Output::Withdraw { call, agent, why } => {
                debug!(call = %call, agent = %agent, ?why, "offer withdrawn");
                if let Some(mut r) = self.ringing.remove(&call).filter(|r| r.agent == agent) {
                    if let Some(c) = r.cancel.take() {
                        let _ = c.send(());
                    }
                    debug!(leg = %r.leg, "agent leg cancelled");
                }
                self.screens.remove(agent.as_str());
            }
            Output::Connected {
                call,
                agent,
                waited_ms,
            } => {
                info!(call = %call, agent = %agent, waited_ms, "callee and agent connected");
                self.left_line(&call, Left::Answered { waited_ms });
                if let Some(tx) = self.waiting.remove(&call) {
                    let _ = tx.send(TransferUpdate::Connected {
                        agent: agent.to_string(),
                    });
                }
                let leg = self.answered_legs.remove(&call).unwrap_or_default();
                self.connected.insert(call.clone(), leg);
                pops.remove(&call);
            }
            Output::Fallback {
                call,
                queue,
                fallback,
                waited_ms,
            } => {
                info!(call = %call, %queue, waited_ms, ?fallback, "no agent in time");
                self.left_line(&call, Left::Fallback);
                if let Some(tx) = self.waiting.remove(&call) {
                    let _ = tx.send(match fallback {
                        Fallback::Callback { at } => TransferUpdate::Callback { at },
                        _ => TransferUpdate::BackToBot,
                    });
                }
                pops.remove(&call);
            }
            Output::Abandoned {
                call, waited_ms, ..
            } => {
                info!(call = %call, waited_ms, "the callee gave up waiting");
                self.left_line(&call, Left::Abandoned);
                self.waiting.remove(&call);
                pops.remove(&call);
            }
            Output::WrapUp { agent, until_ms } => {
                // The screen stays until the agent files the call's disposition.
                self.agent_event(
                    &agent,
                    "wrap_up",
                    Some(format!(
                        "until +{} s",
                        until_ms.saturating_sub(self.now_ms()) / 1000
                    )),
                );
            }
            Output::AgentBreak {
                agent,
                reason,
                no_answers,
            } => {
                self.agent_event(
                    &agent,
                    "break",
                    Some(format!("{reason} ({no_answers} offers unanswered)")),
                );
            }
            Output::AgentState { agent, state } => {
                self.agent_event(&agent, &format!("{state:?}").to_lowercase(), None);
            }
            Output::Widened { call, queue, stage } => {
                debug!(call = %call, %queue, stage, "queue widened");
            }
            Output::Held {
                call,
                agent,
                until_ms,
                gain,
            } => {
                debug!(call = %call, agent = %agent, until_ms, gain, "held for a better agent");
            }
        }
    }

    /// A call left its queue's line.
    fn left_line(&mut self, call: &CallId, how: Left) {
        let Some((queue, _)) = self.in_line.remove(call) else {
            return;
        };
        let Some(q) = self.queues.iter_mut().find(|q| q.name == queue) else {
            return;
        };
        match how {
            Left::Answered { waited_ms } => {
                q.answered += 1;
                if waited_ms <= u64::from(q.target_s) * 1000 {
                    q.answered_in_time += 1;
                }
            }
            Left::Abandoned => q.abandoned += 1,
            Left::Fallback => q.fallbacks += 1,
        }
        let left = q.answered + q.abandoned + q.fallbacks;
        q.service_level = (left > 0).then(|| q.answered_in_time as f64 / left as f64);
    }

    fn agent_event(&self, agent: &AgentId, state: &str, reason: Option<String>) {
        self.bus.publish(ServiceEvent::Agent(AgentChange {
            agent: agent.to_string(),
            state: state.to_owned(),
            reason,
        }));
    }

    fn publish_view(&mut self) {
        let now = self.now_ms();
        if let Ok(snap) = self.router.agent_snapshot(now, None) {
            self.shared.set(snap);
        }
        let mut view = self.view.lock().unwrap_or_else(|p| p.into_inner());
        view.agents = self.router.agents().collect();
        view.screens = self.screens.clone();
        view.waiting = self.router.waiting();
        view.counters = Some(self.router.counters());
        view.agent_legs = self
            .connected
            .iter()
            .map(|(c, leg)| (c.to_string(), leg.clone()))
            .collect();
        let now = Instant::now();
        view.queues = self
            .queues
            .iter()
            .map(|q| {
                let line = self.in_line.values().filter(|(name, _)| *name == q.name);
                QueueView {
                    waiting: line.clone().count(),
                    longest_wait_s: line
                        .map(|(_, since)| now.saturating_duration_since(*since).as_secs())
                        .max()
                        .unwrap_or(0),
                    ..q.clone()
                }
            })
            .collect();
    }
}

/// Rings `agent` at `dial` on a leg of our own; bridges it to `call` when it answers; reports
/// what happened to the desk. Cancelled (the offer withdrawn) before the bridge: the leg is
/// hung up.
#[allow(clippy::too_many_arguments)]
async fn ring(
    esl: ChannelRouter,
    call: CallId,
    agent: AgentId,
    leg: String,
    dial: String,
    ring_timeout_s: u32,
    mut cancel: oneshot::Receiver<()>,
    desk: mpsc::UnboundedSender<Cmd>,
) {
    let mut events = esl.register(&leg);
    let client = esl.client().clone();
    // The agent's screen has the context from the offer on; `aicall_call` lets the agent's
    // phone (and a recording) name the call it is bridged to.
    let vars = format!(
        "origination_uuid={leg},originate_timeout={},ignore_early_media=true,aicall_agent={},aicall_call={}",
        ring_timeout_s.max(1),
        agent.as_str().replace([',', '}', '{', ' '], "_"),
        call.as_str()
    );
    let originate = format!(
        "originate {} &park()",
        crate::campaign::pacing::with_channel_vars(&dial, &vars)
    );
    let failed = |desk: &mpsc::UnboundedSender<Cmd>| {
        let _ = desk.send(Cmd::Leg(Leg::Failed {
            call: call.clone(),
            agent: agent.clone(),
        }));
    };
    if let Err(e) = client.bgapi(&originate).await {
        warn!(agent = %agent, error = %e, "cannot ring the agent");
        return failed(&desk);
    }
    let (mut bridged, mut cancelled) = (false, false);
    loop {
        tokio::select! {
            _ = &mut cancel, if !bridged && !cancelled => {
                // Its hangup follows; the desk already moved on.
                cancelled = true;
                let _ = client.hangup(&leg, "ORIGINATOR_CANCEL").await;
            }
            ev = events.recv() => match ev {
                Some(Routed::Event(ev)) => match ev.kind() {
                    // Bridged once the answered leg is parked (`&park()`): a leg still
                    // in its originate cannot be joined yet.
                    EventKind::ChannelPark if !bridged && !cancelled => {
                        match client.api_ok(&format!("uuid_bridge {} {leg}", call.as_str())).await {
                            Ok(_) => {
                                bridged = true;
                                let _ = desk.send(Cmd::Leg(Leg::Bridged {
                                    call: call.clone(),
                                    agent: agent.clone(),
                                }));
                            }
                            Err(e) => {
                                // The callee is gone: release the agent.
                                warn!(call = %call, error = %e, "bridge failed");
                                let _ = client.hangup(&leg, "NORMAL_CLEARING").await;
                                return failed(&desk);
                            }
                        }
                    }
                    EventKind::ChannelHangupComplete { .. } | EventKind::ChannelDestroy => {
                        if bridged {
                            let _ = desk.send(Cmd::Leg(Leg::Ended { call: call.clone() }));
                        } else {
                            failed(&desk);
                        }
                        return;
                    }
                    _ => {}
                },
                Some(Routed::Gone) | None => {
                    if bridged {
                        let _ = desk.send(Cmd::Leg(Leg::Ended { call: call.clone() }));
                    } else {
                        failed(&desk);
                    }
                    return;
                }
                Some(Routed::LinkDown | Routed::LinkUp) => {}
            },
        }
    }
}
