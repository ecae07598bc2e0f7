//! The router: one `&mut self` core on simulated time. [`Router::handle`] takes what
//! happened (an [`Input`] at `now_ms`), first firing every timer due by then; the driver then
//! drains [`Router::poll_output`] and calls back with [`Input::Tick`] at
//! [`Router::next_timeout`]. An input the router refuses returns a [`RoutingError`] and
//! changes nothing.
//!
//! An agent's state follows from its presence (logged out, available, on break) and its
//! calls:
//!
//! ```text
//!  logged out ─login─► available ─offer─► offered ─answered─► on call ─ended─► wrap-up
//!       ▲                ▲  ▲               │ no answer / rejected:            │ timer, or
//!       └──logout────────┘  │               │ pause `no_answer_delay_s`;       │ ready
//!                 ready ─┐  │               │ `max_no_answer` in a row → break │
//!            break ◄─────┘  └───────────────┴──────────────────────────────────┘
//! ```
//!
//! A call waits in its queue until an eligible agent is free: one who meets the queue's
//! required skills (or a widening step's, once the call waited that long) and speaks the
//! call's language while the queue requires it. It is offered to one agent at a time;
//! unanswered, it goes back in line at its original place. It leaves as connected,
//! abandoned (the callee hung up) or a fallback at the queue's maximum wait.
//!
//! Matching runs whenever something changes: a call that arrives, widens or is back in line
//! takes the best free eligible agent ([`Strategy`]); an agent that becomes free takes the
//! best waiting call it can serve — the highest queue priority first; within it, first in
//! line (baselines) or the highest match plus urgency (score). So after every input no
//! waiting call has a free agent it could take.
//!
//! Fairness under the score strategy: (1) an eligible agent idle for `max_idle_s` or more
//! takes precedence over the score — the longest idle of them gets the call — so no
//! eligible agent is starved however low it scores; (2) agents whose occupancy is above
//! `max_occupancy` are offered a call only when no eligible agent below it is free.
//!
//! Learning: dispositions update the agent's conversion counts on the call's main skill, its
//! handle time and quality, its team's and the overall ones ([`super::stats`]); the router
//! never sees true conversion rates.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};

use serde::Serialize;

use super::config::{
    self, AgentConfig, AgentProfile, Catalogue, FallbackPolicy, LangId, QueueConfig, QueueRules,
    RoutingConfig, Settings, SkillId, Strategy,
};
use super::score::{self, AgentSide, Reasons, Rule, COMPONENTS, MATCH_COMPONENTS};
use super::stats::{self, Counts, HandleTimes, Mean, Occupancy};
use super::{AgentId, CallId, RoutingError};
use crate::campaign::pacing::{AgentAvailability, AgentSnapshot};
use crate::nlu::Intent;

/// A transferred call waiting for an agent.
#[derive(Clone, Debug, PartialEq)]
pub struct CallRequest {
    pub call: CallId,
    pub queue: String,
    pub intent: Intent,
    /// The script node that led to the transfer (its topic map adds wanted skills).
    pub node: Option<String>,
    /// Skills the transfer asked for (the script action's `skills`).
    pub skills: Vec<String>,
    /// The callee's language, if known.
    pub language: Option<String>,
    /// The callee's lead score in 0..=1; unknown counts as 0.5.
    pub lead_score: Option<f32>,
    /// The agent who spoke with this callee before, if any.
    pub previous_agent: Option<AgentId>,
    /// When the callee asked to be called back (unix seconds), for the fallback.
    pub callback_at: Option<i64>,
}

impl CallRequest {
    pub fn new(call: &str, queue: &str, intent: Intent) -> Self {
        Self {
            call: CallId::new(call),
            queue: queue.to_owned(),
            intent,
            node: None,
            skills: Vec::new(),
            language: None,
            lead_score: None,
            previous_agent: None,
            callback_at: None,
        }
    }
}

/// An agent's outcome for a call it had.
#[derive(Clone, Debug, PartialEq)]
pub struct Disposition {
    pub agent: AgentId,
    pub call: CallId,
    pub converted: bool,
    /// Handle time when the desktop measured it; the router's talk time otherwise.
    pub handle_s: Option<f32>,
    /// A supervisor's or a model's quality score in 0..=1.
    pub quality: Option<f32>,
}

/// What happened.
#[derive(Clone, Debug, PartialEq)]
pub enum Input {
    /// Nothing but time passing: fires the timers due.
    Tick,
    Login {
        agent: AgentId,
    },
    /// Back from a break, or done with wrap-up early.
    Ready {
        agent: AgentId,
    },
    Break {
        agent: AgentId,
        reason: String,
    },
    Logout {
        agent: AgentId,
    },
    CallWaiting(CallRequest),
    OfferAnswered {
        call: CallId,
        agent: AgentId,
    },
    /// The agent's phone rang out (the switch's timeout, or the agent's leg failed).
    OfferNotAnswered {
        call: CallId,
        agent: AgentId,
    },
    /// The agent declined the call.
    OfferRejected {
        call: CallId,
        agent: AgentId,
    },
    /// The callee's leg is gone: while waiting or ringing an agent this is an abandon;
    /// once connected it ends the call.
    CalleeHungUp {
        call: CallId,
    },
    /// The bridged call ended (either side hung up): the agent goes to wrap-up.
    CallEnded {
        call: CallId,
    },
    Disposition(Disposition),
    /// Adds an agent, or changes one (its state and record are kept).
    UpsertAgent(AgentConfig),
    /// Logs the agent out for good; its calls in progress finish normally.
    RemoveAgent {
        agent: AgentId,
    },
    UpsertQueue(QueueConfig),
    /// Its waiting calls fall back.
    RemoveQueue {
        queue: String,
    },
    /// Adds skills to the catalogue (before queues and agents use them).
    AddSkills(Vec<String>),
    SetStrategy(Strategy),
    /// Midnight: calls-today counters restart.
    NewDay,
    /// Conversion records saved earlier ([`Router::performance`]), added to what the
    /// router learned (at start-up, after a restart).
    Restore(Vec<PerformanceRecord>),
}

/// An agent's conversion record on one skill, to keep across restarts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PerformanceRecord {
    pub agent: String,
    pub skill: String,
    pub calls: u32,
    pub converted: u32,
}

/// A call that waited too long.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Fallback {
    /// Book a callback at this unix time (the callee's), or the dialer's default when none.
    Callback { at: Option<i64> },
    /// Back to the bot, which says goodbye.
    Bot,
}

/// Why an offer was taken back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Withdrawn {
    NoAnswer,
    Rejected,
    /// The callee hung up while the agent's phone rang.
    CalleeGone,
    /// The agent went on break, logged out or was removed.
    AgentLeft,
}

/// An agent's state as the desktop and the dashboard show it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum AgentState {
    LoggedOut,
    Available,
    Offered,
    OnCall,
    WrapUp,
    Break { reason: String },
}

/// What the driver must do, or should know.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Output {
    /// Ring the agent at `dial` and bridge the call when it answers.
    Offer {
        call: CallId,
        agent: AgentId,
        dial: String,
        queue: String,
        reasons: Reasons,
    },
    /// Stop ringing the agent (if it still rings): the call is back in line or gone.
    Withdraw {
        call: CallId,
        agent: AgentId,
        why: Withdrawn,
    },
    Connected {
        call: CallId,
        agent: AgentId,
        waited_ms: u64,
    },
    Widened {
        call: CallId,
        queue: String,
        stage: usize,
    },
    Fallback {
        call: CallId,
        queue: String,
        fallback: Fallback,
        waited_ms: u64,
    },
    Abandoned {
        call: CallId,
        queue: String,
        waited_ms: u64,
    },
    WrapUp {
        agent: AgentId,
        until_ms: u64,
    },
    /// The router put the agent on break: `no_answers` offers in a row went unanswered.
    AgentBreak {
        agent: AgentId,
        reason: String,
        no_answers: u32,
    },
    AgentState {
        agent: AgentId,
        state: AgentState,
    },
}

/// One entry of the decision log.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LogEntry {
    pub at_ms: u64,
    #[serde(flatten)]
    pub output: Output,
}

/// Totals since start.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Counters {
    pub queued: u64,
    pub offers: u64,
    pub answered: u64,
    pub abandoned: u64,
    pub fallbacks: u64,
    pub no_answers: u64,
    pub rejected: u64,
    pub dispositions: u64,
    pub conversions: u64,
    /// Calls whose disposition never came before the agent's pending list overflowed.
    pub dispositions_missed: u64,
}

/// An agent as the dashboard shows it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AgentStatus {
    pub id: AgentId,
    pub name: String,
    pub team: String,
    pub state: AgentState,
    pub calls_today: u32,
    /// Recent occupancy (moving average).
    pub occupancy: f32,
    /// Time busy (offered, talking, wrapping up) and staffed (available or busy) since start.
    pub busy_ms: u64,
    pub staffed_ms: u64,
    pub no_answers: u32,
    pub pending_dispositions: usize,
}

/// The reason the router gives when it puts an agent on break.
pub const NO_ANSWER_REASON: &str = "no_answer";
/// Ended calls awaiting a disposition, per agent; older ones are dropped (and counted).
const MAX_PENDING: usize = 64;
/// Pseudo-observations pulling an agent's handle time and quality toward its team's.
const MEAN_PRIOR: f64 = 5.0;
/// Quality assumed before any score came in.
const PRIOR_QUALITY: f64 = 0.5;
/// Expected conversions of prior for an agent's lift until the agents' spread is known.
const LIFT_PRIOR: f32 = 10.0;

#[derive(Clone, Debug, PartialEq, Eq)]
enum Presence {
    LoggedOut,
    Available,
    Break(String),
}

#[derive(Clone, Debug)]
struct Pending {
    call: CallId,
    skill: Option<SkillId>,
    talk_ms: u64,
    disposed: bool,
}

#[derive(Debug)]
struct Agent {
    p: AgentProfile,
    team: usize,
    /// Position for the top-down strategy (configuration order).
    order: usize,
    presence: Presence,
    removed: bool,
    /// The call slot being offered.
    offer: Option<usize>,
    offer_gen: u64,
    /// Connected calls: slot and since when.
    talking: Vec<(usize, u64)>,
    /// Wrap-up ends, one per ended call still in wrap-up.
    wrap_ends: Vec<u64>,
    /// Not offered a call before this (after a no-answer or a rejection).
    paused_until: u64,
    no_answers: u32,
    idle_since: u64,
    occupancy: Occupancy,
    acct_at: u64,
    busy_ms: u64,
    staffed_ms: u64,
    calls_today: u32,
    pending: VecDeque<Pending>,
    /// By skill id.
    perf: Vec<Counts>,
    /// Conversions on calls with a main skill, and the conversions the team's rates
    /// expected of them: the agent's lift across skills.
    lift_converted: u32,
    lift_expected: f64,
    handle: Mean,
    quality: Mean,
    last_state: AgentState,
}

impl Agent {
    fn new(p: AgentProfile, team: usize, order: usize, skills: usize, now: u64) -> Self {
        Self {
            p,
            team,
            order,
            presence: Presence::LoggedOut,
            removed: false,
            offer: None,
            offer_gen: 0,
            talking: Vec::new(),
            wrap_ends: Vec::new(),
            paused_until: 0,
            no_answers: 0,
            idle_since: now,
            occupancy: Occupancy::default(),
            acct_at: now,
            busy_ms: 0,
            staffed_ms: 0,
            calls_today: 0,
            pending: VecDeque::new(),
            perf: vec![Counts::default(); skills],
            lift_converted: 0,
            lift_expected: 0.0,
            handle: Mean::default(),
            quality: Mean::default(),
            last_state: AgentState::LoggedOut,
        }
    }

    fn busy(&self) -> bool {
        self.offer.is_some() || !self.talking.is_empty() || !self.wrap_ends.is_empty()
    }

    fn staffed(&self) -> bool {
        self.presence == Presence::Available || self.busy()
    }

    fn used(&self) -> usize {
        self.talking.len() + self.wrap_ends.len() + usize::from(self.offer.is_some())
    }

    fn free(&self, now: u64) -> bool {
        !self.removed
            && self.presence == Presence::Available
            && self.offer.is_none()
            && self.paused_until <= now
            && self.talking.len() + self.wrap_ends.len() < self.p.max_concurrent as usize
    }

    fn state(&self) -> AgentState {
        if self.offer.is_some() {
            AgentState::Offered
        } else if !self.talking.is_empty() {
            AgentState::OnCall
        } else if !self.wrap_ends.is_empty() {
            AgentState::WrapUp
        } else {
            match &self.presence {
                Presence::LoggedOut => AgentState::LoggedOut,
                Presence::Available => AgentState::Available,
                Presence::Break(r) => AgentState::Break { reason: r.clone() },
            }
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CallLang {
    /// No language given: any agent will do.
    Any,
    Known(LangId),
    /// A language no agent was ever configured with.
    Unspoken,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CallState {
    Waiting,
    Offered { agent: usize },
    Connected { agent: usize, since: u64 },
}

#[derive(Debug)]
struct Call {
    id: CallId,
    gen: u64,
    queue: usize,
    /// Skill → weight, merged from the transfer's skills, the intent's and the node's.
    wanted: Vec<(SkillId, f32)>,
    /// The skill whose conversion record the call counts toward.
    primary: Option<SkillId>,
    lang: CallLang,
    lead: f32,
    previous: Option<usize>,
    callback_at: Option<i64>,
    arrived: u64,
    stage: usize,
    state: CallState,
    /// A disposition came while the call was still up.
    disposed: bool,
}

#[derive(Debug)]
struct QueueSlot {
    rules: QueueRules,
    removed: bool,
}

#[derive(Debug, Default)]
struct TeamStats {
    name: String,
    perf: Vec<Counts>,
    handle: Mean,
    quality: Mean,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum TimerKind {
    Offer { agent: usize, gen: u64 },
    WrapUp { agent: usize },
    Pause { agent: usize },
    Widen { slot: usize, gen: u64 },
    MaxWait { slot: usize, gen: u64 },
}

/// The agent router.
#[derive(Debug)]
pub struct Router {
    s: Settings,
    catalogue: Catalogue,
    agents: Vec<Agent>,
    agent_index: HashMap<AgentId, usize>,
    queues: Vec<QueueSlot>,
    queue_index: HashMap<String, usize>,
    calls: Vec<Option<Call>>,
    free_slots: Vec<usize>,
    call_index: HashMap<CallId, usize>,
    /// Waiting call slots in line order (arrival time, then admission).
    waiting: Vec<usize>,
    timers: BinaryHeap<Reverse<(u64, u64, TimerKind)>>,
    timer_seq: u64,
    next_gen: u64,
    teams: Vec<TeamStats>,
    team_index: HashMap<String, usize>,
    /// Overall conversion counts by skill.
    overall: Vec<Counts>,
    /// The method-of-moments terms by skill, and the shrinkage strength pooled from them.
    moments: Vec<Option<stats::Moments>>,
    strength: f32,
    /// Estimated shape of the agents' lift prior.
    lift_alpha: f32,
    handle_all: Mean,
    quality_all: Mean,
    talk_times: HandleTimes,
    logged_in: u32,
    calls_today_sum: u64,
    now: u64,
    out: VecDeque<Output>,
    log: VecDeque<LogEntry>,
    counters: Counters,
}

impl Router {
    /// A router with every agent logged out and no call waiting.
    pub fn new(cfg: &RoutingConfig) -> Result<Self, RoutingError> {
        let c = config::compile(cfg)?;
        let skills = c.catalogue.skills.len();
        let mut r = Router {
            moments: vec![None; skills],
            strength: c.settings.prior_strength,
            lift_alpha: LIFT_PRIOR,
            s: c.settings,
            catalogue: c.catalogue,
            agents: Vec::with_capacity(c.agents.len()),
            agent_index: HashMap::with_capacity(c.agents.len()),
            queues: Vec::with_capacity(c.queues.len()),
            queue_index: HashMap::new(),
            calls: Vec::new(),
            free_slots: Vec::new(),
            call_index: HashMap::new(),
            waiting: Vec::new(),
            timers: BinaryHeap::new(),
            timer_seq: 0,
            next_gen: 0,
            teams: Vec::new(),
            team_index: HashMap::new(),
            overall: vec![Counts::default(); skills],
            handle_all: Mean::default(),
            quality_all: Mean::default(),
            talk_times: HandleTimes::default(),
            logged_in: 0,
            calls_today_sum: 0,
            now: 0,
            out: VecDeque::new(),
            log: VecDeque::new(),
            counters: Counters::default(),
        };
        for p in c.agents {
            r.add_agent(p);
        }
        for q in c.queues {
            r.queue_index.insert(q.name.clone(), r.queues.len());
            r.queues.push(QueueSlot {
                rules: q,
                removed: false,
            });
        }
        Ok(r)
    }

    /// Handles one input at `now_ms` (earlier times count as the latest seen), after firing
    /// every timer due by then. On error nothing changed.
    pub fn handle(&mut self, now_ms: u64, input: Input) -> Result<(), RoutingError> {
        self.advance(now_ms);
        match input {
            Input::Tick => Ok(()),
            Input::Login { agent } => self.login(&agent),
            Input::Ready { agent } => self.ready(&agent),
            Input::Break { agent, reason } => self.take_break(&agent, reason),
            Input::Logout { agent } => self.logout(&agent),
            Input::CallWaiting(req) => self.call_waiting(req),
            Input::OfferAnswered { call, agent } => self.answered(&call, &agent),
            Input::OfferNotAnswered { call, agent } => {
                let (ci, a) = self.offered(&call, &agent)?;
                self.no_answer(ci, a);
                Ok(())
            }
            Input::OfferRejected { call, agent } => {
                let (ci, a) = self.offered(&call, &agent)?;
                self.rejected(ci, a);
                Ok(())
            }
            Input::CalleeHungUp { call } | Input::CallEnded { call } => self.hung_up(&call),
            Input::Disposition(d) => self.disposition(d),
            Input::UpsertAgent(cfg) => self.upsert_agent(&cfg),
            Input::RemoveAgent { agent } => self.remove_agent(&agent),
            Input::UpsertQueue(cfg) => self.upsert_queue(&cfg),
            Input::RemoveQueue { queue } => self.remove_queue(&queue),
            Input::AddSkills(names) => self.add_skills(&names),
            Input::SetStrategy(s) => {
                self.s.strategy = s;
                Ok(())
            }
            Input::NewDay => {
                for a in &mut self.agents {
                    a.calls_today = 0;
                }
                self.calls_today_sum = 0;
                Ok(())
            }
            Input::Restore(records) => self.restore(&records),
        }
    }

    /// What the router learned: every (agent, skill) with calls, for [`Input::Restore`].
    pub fn performance(&self) -> Vec<PerformanceRecord> {
        let mut out = Vec::new();
        for ag in &self.agents {
            for (s, c) in ag.perf.iter().enumerate() {
                if c.calls > 0 {
                    out.push(PerformanceRecord {
                        agent: ag.p.id.to_string(),
                        skill: self.catalogue.skills[s].clone(),
                        calls: c.calls,
                        converted: c.converted,
                    });
                }
            }
        }
        out
    }

    /// The next thing to do, in order.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// Every pending output, in order.
    pub fn drain_outputs(&mut self) -> impl Iterator<Item = Output> + '_ {
        self.out.drain(..)
    }

    /// When to call back with [`Input::Tick`] (possibly early: a timer whose reason has
    /// gone still counts until it fires, and does nothing).
    pub fn next_timeout(&self) -> Option<u64> {
        self.timers.peek().map(|Reverse((at, _, _))| *at)
    }

    /// The latest time seen.
    pub fn now(&self) -> u64 {
        self.now
    }

    pub fn strategy(&self) -> Strategy {
        self.s.strategy
    }

    /// The recent decisions, oldest first.
    pub fn log(&self) -> impl Iterator<Item = &LogEntry> {
        self.log.iter()
    }

    pub fn counters(&self) -> Counters {
        self.counters
    }

    /// Calls waiting for an agent (not those ringing one).
    pub fn waiting(&self) -> usize {
        self.waiting.len()
    }

    pub fn agent_status(&self, agent: &str) -> Option<AgentStatus> {
        self.agent_index.get(agent).map(|&a| self.status(a))
    }

    /// Every agent (removed ones too), in configuration order.
    pub fn agents(&self) -> impl Iterator<Item = AgentStatus> + '_ {
        (0..self.agents.len()).map(|a| self.status(a))
    }

    /// The agent's shrunk conversion estimate on a skill.
    pub fn conversion_estimate(&self, agent: &str, skill: &str) -> Option<f32> {
        let a = *self.agent_index.get(agent)?;
        let s = self.catalogue.skill(skill)?;
        Some(self.estimate(a, s))
    }

    /// The shrinkage strength (pseudo-calls) the router uses now, pooled over skills.
    pub fn prior_strength(&self) -> f32 {
        self.strength
    }

    /// The agents for the predictive dialer at `now_ms`: free now, talking, and soon free
    /// (a wrap-up or a no-answer pause ending within `soon_horizon_s`, or a call whose
    /// expected remaining talk time — from the talk-time distribution — likely ends within
    /// it). With a queue, only agents who can take its calls count.
    pub fn agent_snapshot(
        &self,
        now_ms: u64,
        queue: Option<&str>,
    ) -> Result<AgentSnapshot, RoutingError> {
        let now = now_ms.max(self.now);
        let rules = match queue {
            Some(name) => {
                let &q = self
                    .queue_index
                    .get(name)
                    .ok_or_else(|| RoutingError::UnknownQueue {
                        queue: name.to_owned(),
                    })?;
                Some(&self.queues[q].rules)
            }
            None => None,
        };
        let horizon = self.s.soon_horizon_ms;
        let soon_at = now + horizon;
        let mut snap = AgentSnapshot::default();
        for a in &self.agents {
            if a.removed || a.presence != Presence::Available {
                continue;
            }
            if let Some(q) = rules {
                if !q.requirements(q.stages.len()).any(|r| a.p.meets(r)) {
                    continue;
                }
            }
            let open = (a.p.max_concurrent as usize).saturating_sub(a.used()) as u32;
            if a.paused_until <= now {
                snap.free += open;
            } else if a.paused_until <= soon_at {
                snap.soon += open;
            } else {
                snap.busy += open;
            }
            for &end in &a.wrap_ends {
                if end <= soon_at {
                    snap.soon += 1;
                } else {
                    snap.busy += 1;
                }
            }
            for &(_, since) in &a.talking {
                let elapsed_s = now.saturating_sub(since) as f64 / 1000.0;
                let p = self
                    .talk_times
                    .p_end_within(elapsed_s, horizon as f64 / 1000.0);
                if p >= 0.5 {
                    snap.soon += 1;
                } else {
                    snap.busy += 1;
                }
            }
            snap.busy += u32::from(a.offer.is_some());
        }
        Ok(snap)
    }

    // ---------------------------------------------------------------- time and timers

    fn advance(&mut self, now_ms: u64) {
        let now = now_ms.max(self.now);
        while let Some(&Reverse((at, _, kind))) = self.timers.peek() {
            if at > now {
                break;
            }
            self.timers.pop();
            self.now = self.now.max(at);
            self.fire(kind);
        }
        self.now = now;
    }

    fn arm(&mut self, at: u64, kind: TimerKind) {
        self.timer_seq += 1;
        self.timers.push(Reverse((at, self.timer_seq, kind)));
    }

    fn fire(&mut self, kind: TimerKind) {
        match kind {
            TimerKind::Offer { agent, gen } => {
                let a = &self.agents[agent];
                if a.offer_gen == gen {
                    if let Some(ci) = a.offer {
                        self.no_answer(ci, agent);
                    }
                }
            }
            TimerKind::WrapUp { agent } => {
                self.account(agent);
                let now = self.now;
                let a = &mut self.agents[agent];
                let before = a.wrap_ends.len();
                a.wrap_ends.retain(|&end| end > now);
                if a.wrap_ends.len() != before {
                    if !a.busy() {
                        a.idle_since = now;
                    }
                    self.settle(agent);
                    self.serve_agent(agent);
                }
            }
            TimerKind::Pause { agent } => {
                if self.agents[agent].paused_until <= self.now {
                    self.serve_agent(agent);
                }
            }
            TimerKind::Widen { slot, gen } => self.widen(slot, gen),
            TimerKind::MaxWait { slot, gen } => {
                let Some(c) = self.call_at(slot, gen) else {
                    return;
                };
                let due = c.arrived + self.queues[c.queue].rules.max_wait_ms;
                match c.state {
                    CallState::Connected { .. } => {}
                    // The queue's maximum wait grew since the timer was set.
                    _ if self.now < due => self.arm(due, TimerKind::MaxWait { slot, gen }),
                    CallState::Waiting => self.fallback(slot),
                    // Ringing an agent: if the offer fails, `requeue` finds the wait over.
                    CallState::Offered { .. } => {}
                }
            }
        }
    }

    fn call_at(&self, slot: usize, gen: u64) -> Option<&Call> {
        self.calls
            .get(slot)
            .and_then(Option::as_ref)
            .filter(|c| c.gen == gen)
    }

    fn call(&self, slot: usize) -> &Call {
        // Slots handed around inside the router always hold a call: they come from the
        // index, the waiting list or an agent, all cleared together in `remove_call`.
        self.calls[slot]
            .as_ref()
            .expect("a referenced call slot is occupied")
    }

    fn call_mut(&mut self, slot: usize) -> &mut Call {
        // Same invariant as `call`.
        self.calls[slot]
            .as_mut()
            .expect("a referenced call slot is occupied")
    }

    fn widen(&mut self, slot: usize, gen: u64) {
        let Some(c) = self.call_at(slot, gen) else {
            return;
        };
        if matches!(c.state, CallState::Connected { .. }) {
            return;
        }
        let q = &self.queues[c.queue].rules;
        let waited = self.now.saturating_sub(c.arrived);
        let stage = q.stage_after(waited);
        let next = q.stages.get(stage).map(|s| c.arrived + s.after_ms);
        let (widened, waiting) = (stage > c.stage, c.state == CallState::Waiting);
        if let Some(at) = next {
            self.arm(at.max(self.now), TimerKind::Widen { slot, gen });
        }
        if widened {
            let c = self.call_mut(slot);
            c.stage = stage;
            let (call, queue) = (c.id.clone(), c.queue);
            let queue = self.queues[queue].rules.name.clone();
            self.emit(Output::Widened { call, queue, stage });
            if waiting {
                self.place_call(slot);
            }
        }
    }

    // ---------------------------------------------------------------- bookkeeping

    fn emit(&mut self, o: Output) {
        if !matches!(o, Output::AgentState { .. }) && self.s.log_capacity > 0 {
            if self.log.len() >= self.s.log_capacity {
                self.log.pop_front();
            }
            self.log.push_back(LogEntry {
                at_ms: self.now,
                output: o.clone(),
            });
        }
        self.out.push_back(o);
    }

    /// Folds the time since the agent's last change into its occupancy and totals; called
    /// before anything that changes whether it is busy or staffed.
    fn account(&mut self, a: usize) {
        let now = self.now;
        let window = self.s.occupancy_window_ms;
        let ag = &mut self.agents[a];
        let dt = now.saturating_sub(ag.acct_at);
        if dt > 0 {
            let busy = ag.busy();
            if ag.staffed() {
                ag.staffed_ms += dt;
                ag.occupancy.advance(dt, busy, window);
            }
            if busy {
                ag.busy_ms += dt;
            }
        }
        ag.acct_at = now;
    }

    /// Reports the agent's state when it changed.
    fn settle(&mut self, a: usize) {
        let state = self.agents[a].state();
        if state != self.agents[a].last_state {
            self.agents[a].last_state = state.clone();
            let agent = self.agents[a].p.id.clone();
            self.emit(Output::AgentState { agent, state });
        }
    }

    fn set_presence(&mut self, a: usize, p: Presence) {
        let was_in = self.agents[a].presence != Presence::LoggedOut;
        let is_in = p != Presence::LoggedOut;
        if was_in && !is_in {
            self.logged_in -= 1;
        } else if !was_in && is_in {
            self.logged_in += 1;
        }
        self.agents[a].presence = p;
    }

    fn status(&self, a: usize) -> AgentStatus {
        let ag = &self.agents[a];
        let dt = self.now.saturating_sub(ag.acct_at);
        let occupancy = if ag.staffed() {
            ag.occupancy.peek(dt, ag.busy(), self.s.occupancy_window_ms)
        } else {
            ag.occupancy.peek(0, false, self.s.occupancy_window_ms)
        };
        let busy = if ag.busy() { dt } else { 0 };
        let staffed = if ag.staffed() { dt } else { 0 };
        AgentStatus {
            id: ag.p.id.clone(),
            name: ag.p.name.clone(),
            team: self.teams[ag.team].name.clone(),
            state: ag.state(),
            calls_today: ag.calls_today,
            occupancy,
            busy_ms: ag.busy_ms + busy,
            staffed_ms: ag.staffed_ms + staffed,
            no_answers: ag.no_answers,
            pending_dispositions: ag.pending.iter().filter(|p| !p.disposed).count(),
        }
    }

    fn team(&mut self, name: &str) -> usize {
        if let Some(&t) = self.team_index.get(name) {
            return t;
        }
        self.teams.push(TeamStats {
            name: name.to_owned(),
            perf: vec![Counts::default(); self.catalogue.skills.len()],
            ..TeamStats::default()
        });
        self.team_index
            .insert(name.to_owned(), self.teams.len() - 1);
        self.teams.len() - 1
    }

    fn add_agent(&mut self, p: AgentProfile) -> usize {
        let team = self.team(&p.team);
        let a = self.agents.len();
        self.agent_index.insert(p.id.clone(), a);
        let skills = self.catalogue.skills.len();
        self.agents.push(Agent::new(p, team, a, skills, self.now));
        a
    }

    fn agent(&self, id: &AgentId) -> Result<usize, RoutingError> {
        let &a = self
            .agent_index
            .get(id)
            .ok_or_else(|| RoutingError::UnknownAgent { agent: id.clone() })?;
        if self.agents[a].removed {
            return Err(RoutingError::Removed { agent: id.clone() });
        }
        Ok(a)
    }

    fn slot(&self, id: &CallId) -> Result<usize, RoutingError> {
        self.call_index
            .get(id)
            .copied()
            .ok_or_else(|| RoutingError::UnknownCall { call: id.clone() })
    }

    // ---------------------------------------------------------------- agents

    fn login(&mut self, id: &AgentId) -> Result<(), RoutingError> {
        let a = self.agent(id)?;
        if self.agents[a].presence != Presence::LoggedOut {
            return Ok(());
        }
        self.account(a);
        self.set_presence(a, Presence::Available);
        let ag = &mut self.agents[a];
        ag.no_answers = 0;
        if !ag.busy() {
            ag.idle_since = self.now;
        }
        self.settle(a);
        self.serve_agent(a);
        Ok(())
    }

    fn ready(&mut self, id: &AgentId) -> Result<(), RoutingError> {
        let a = self.agent(id)?;
        if self.agents[a].presence == Presence::LoggedOut {
            return Err(RoutingError::LoggedOut { agent: id.clone() });
        }
        self.account(a);
        let now = self.now;
        if self.agents[a].presence != Presence::Available {
            self.set_presence(a, Presence::Available);
            self.agents[a].no_answers = 0;
        }
        let ag = &mut self.agents[a];
        // Ready during wrap-up ends it now; the stale wrap-up timers find nothing.
        ag.wrap_ends.clear();
        if !ag.busy() {
            ag.idle_since = now;
        }
        self.settle(a);
        self.serve_agent(a);
        Ok(())
    }

    fn take_break(&mut self, id: &AgentId, reason: String) -> Result<(), RoutingError> {
        let a = self.agent(id)?;
        let reason = reason.trim().to_owned();
        if reason.is_empty() || reason.len() > 64 || reason.chars().any(char::is_control) {
            return Err(RoutingError::Invalid {
                field: "break reason".into(),
                why: "must be 1 to 64 bytes without control characters",
            });
        }
        if self.agents[a].presence == Presence::LoggedOut {
            return Err(RoutingError::LoggedOut { agent: id.clone() });
        }
        self.account(a);
        self.set_presence(a, Presence::Break(reason));
        self.leave(a);
        Ok(())
    }

    fn logout(&mut self, id: &AgentId) -> Result<(), RoutingError> {
        let a = self.agent(id)?;
        self.account(a);
        self.set_presence(a, Presence::LoggedOut);
        self.leave(a);
        Ok(())
    }

    /// The agent stopped taking calls: a ringing offer goes back in line.
    fn leave(&mut self, a: usize) {
        if let Some(ci) = self.agents[a].offer.take() {
            self.agents[a].offer_gen += 1;
            self.withdraw(ci, a, Withdrawn::AgentLeft);
            self.settle(a);
            self.requeue(ci);
        } else {
            self.settle(a);
        }
    }

    fn upsert_agent(&mut self, cfg: &AgentConfig) -> Result<(), RoutingError> {
        let mut catalogue = self.catalogue.clone();
        let p = config::compile_agent(&mut catalogue, &format!("agent `{}`", cfg.id), cfg)?;
        self.catalogue = catalogue;
        let a = match self.agent_index.get(p.id.as_str()).copied() {
            Some(a) => {
                self.account(a);
                let team = self.team(&p.team);
                let ag = &mut self.agents[a];
                ag.p = p;
                ag.team = team;
                ag.removed = false;
                a
            }
            None => self.add_agent(p),
        };
        self.settle(a);
        self.serve_agent(a);
        self.drop_unservable();
        Ok(())
    }

    fn remove_agent(&mut self, id: &AgentId) -> Result<(), RoutingError> {
        let a = self.agent(id)?;
        self.account(a);
        self.set_presence(a, Presence::LoggedOut);
        self.agents[a].removed = true;
        self.leave(a);
        self.drop_unservable();
        Ok(())
    }

    fn add_skills(&mut self, names: &[String]) -> Result<(), RoutingError> {
        for (i, n) in names.iter().enumerate() {
            if n.trim().is_empty() || n.len() > 128 || n.chars().any(char::is_control) {
                return Err(RoutingError::Invalid {
                    field: format!("skills[{i}]"),
                    why: "must be 1 to 128 bytes without control characters",
                });
            }
        }
        for n in names {
            self.catalogue.add_skill(n);
        }
        let k = self.catalogue.skills.len();
        self.overall.resize(k, Counts::default());
        self.moments.resize(k, None);
        for t in &mut self.teams {
            t.perf.resize(k, Counts::default());
        }
        for a in &mut self.agents {
            a.perf.resize(k, Counts::default());
            a.p.levels.resize(k, None);
        }
        Ok(())
    }

    // ---------------------------------------------------------------- queues

    fn upsert_queue(&mut self, cfg: &QueueConfig) -> Result<(), RoutingError> {
        let rules = config::compile_queue(&self.catalogue, &format!("queue `{}`", cfg.name), cfg)?;
        if !config::servable(
            &rules,
            self.agents.iter().filter(|a| !a.removed).map(|a| &a.p),
        ) {
            return Err(RoutingError::Unservable {
                queue: cfg.name.clone(),
                required: rules.describe_requirement(&self.catalogue),
            });
        }
        let q = match self.queue_index.get(&cfg.name) {
            Some(&q) => {
                self.queues[q] = QueueSlot {
                    rules,
                    removed: false,
                };
                q
            }
            None => {
                self.queues.push(QueueSlot {
                    rules,
                    removed: false,
                });
                self.queue_index
                    .insert(cfg.name.clone(), self.queues.len() - 1);
                return Ok(());
            }
        };
        // The calls already waiting follow the new rules: their stage, timers and agents.
        let slots: Vec<usize> = self
            .waiting
            .iter()
            .copied()
            .filter(|&s| self.call(s).queue == q)
            .collect();
        for slot in slots {
            let now = self.now;
            let rules = &self.queues[q].rules;
            let c = self.call(slot);
            let waited = now.saturating_sub(c.arrived);
            let (gen, arrived) = (c.gen, c.arrived);
            let stage = rules.stage_after(waited);
            let max_due = arrived + rules.max_wait_ms;
            let next = rules.stages.get(stage).map(|s| arrived + s.after_ms);
            self.call_mut(slot).stage = stage;
            if now >= max_due {
                self.fallback(slot);
                continue;
            }
            self.arm(max_due, TimerKind::MaxWait { slot, gen });
            if let Some(at) = next {
                self.arm(at, TimerKind::Widen { slot, gen });
            }
            self.place_call(slot);
        }
        Ok(())
    }

    fn remove_queue(&mut self, name: &str) -> Result<(), RoutingError> {
        let &q = self
            .queue_index
            .get(name)
            .ok_or_else(|| RoutingError::UnknownQueue {
                queue: name.to_owned(),
            })?;
        self.queues[q].removed = true;
        let slots: Vec<usize> = self
            .waiting
            .iter()
            .copied()
            .filter(|&s| self.call(s).queue == q)
            .collect();
        for slot in slots {
            self.fallback(slot);
        }
        Ok(())
    }

    /// Waiting calls whose queue no remaining agent can ever serve fall back now rather
    /// than at their maximum wait.
    fn drop_unservable(&mut self) {
        let mut dead = vec![false; self.queues.len()];
        let mut any = false;
        for (q, slot) in self.queues.iter().enumerate() {
            if !slot.removed
                && !config::servable(
                    &slot.rules,
                    self.agents.iter().filter(|a| !a.removed).map(|a| &a.p),
                )
            {
                dead[q] = true;
                any = true;
            }
        }
        if !any {
            return;
        }
        let slots: Vec<usize> = self
            .waiting
            .iter()
            .copied()
            .filter(|&s| dead[self.call(s).queue])
            .collect();
        for slot in slots {
            self.fallback(slot);
        }
    }

    // ---------------------------------------------------------------- calls

    fn call_waiting(&mut self, req: CallRequest) -> Result<(), RoutingError> {
        if self.call_index.contains_key(&req.call) {
            return Err(RoutingError::DuplicateCall { call: req.call });
        }
        let &q = self
            .queue_index
            .get(&req.queue)
            .ok_or_else(|| RoutingError::UnknownQueue {
                queue: req.queue.clone(),
            })?;
        if self.queues[q].removed {
            return Err(RoutingError::QueueRemoved { queue: req.queue });
        }
        let lead = match req.lead_score {
            None => 0.5,
            Some(x) if x.is_finite() && (0.0..=1.0).contains(&x) => x,
            Some(_) => {
                return Err(RoutingError::Invalid {
                    field: format!("call `{}`.lead_score", req.call),
                    why: "must be a number in 0..=1",
                })
            }
        };
        let mut wanted: Vec<(SkillId, f32)> = Vec::new();
        let mut want = |s: SkillId, w: f32| match wanted.iter_mut().find(|(k, _)| *k == s) {
            Some((_, acc)) => *acc += w,
            None => wanted.push((s, w)),
        };
        for name in &req.skills {
            let field = format!("call `{}`.skills", req.call);
            want(self.catalogue.require_skill(&field, name)?, 1.0);
        }
        for &(s, w) in &self.catalogue.intents[req.intent.index()] {
            want(s, w);
        }
        if let Some(t) = req.node.as_ref().and_then(|n| self.catalogue.topics.get(n)) {
            for &(s, w) in t {
                want(s, w);
            }
        }
        let rules = &self.queues[q].rules;
        if wanted.is_empty() {
            wanted = rules.required.iter().map(|&(s, _)| (s, 1.0)).collect();
        }
        if !config::servable(
            rules,
            self.agents.iter().filter(|a| !a.removed).map(|a| &a.p),
        ) {
            return Err(RoutingError::Unservable {
                queue: req.queue,
                required: rules.describe_requirement(&self.catalogue),
            });
        }
        // The main skill: the highest weight, the first one on a tie.
        let primary = wanted
            .iter()
            .fold(None::<(SkillId, f32)>, |best, &(s, w)| match best {
                Some((_, bw)) if bw >= w => best,
                _ => Some((s, w)),
            })
            .map(|(s, _)| s);
        let lang = match &req.language {
            None => CallLang::Any,
            Some(l) if l.trim().is_empty() => CallLang::Any,
            Some(l) => self
                .catalogue
                .language(l)
                .map_or(CallLang::Unspoken, CallLang::Known),
        };
        let previous = req
            .previous_agent
            .as_ref()
            .and_then(|p| self.agent_index.get(p.as_str()).copied());
        self.next_gen += 1;
        let gen = self.next_gen;
        let now = self.now;
        let call = Call {
            id: req.call.clone(),
            gen,
            queue: q,
            wanted,
            primary,
            lang,
            lead,
            previous,
            callback_at: req.callback_at,
            arrived: now,
            stage: 0,
            state: CallState::Waiting,
            disposed: false,
        };
        let slot = match self.free_slots.pop() {
            Some(s) => {
                self.calls[s] = Some(call);
                s
            }
            None => {
                self.calls.push(Some(call));
                self.calls.len() - 1
            }
        };
        self.call_index.insert(req.call, slot);
        self.waiting.push(slot);
        self.counters.queued += 1;
        let rules = &self.queues[q].rules;
        let max_due = now + rules.max_wait_ms;
        let widen_at = rules.stages.first().map(|s| now + s.after_ms);
        self.arm(max_due, TimerKind::MaxWait { slot, gen });
        match widen_at {
            // A widening step at 0 s applies at once (and places the call).
            Some(at) if at == now => self.widen(slot, gen),
            Some(at) => {
                self.arm(at, TimerKind::Widen { slot, gen });
                self.place_call(slot);
            }
            None => self.place_call(slot),
        }
        Ok(())
    }

    fn offered(&self, call: &CallId, agent: &AgentId) -> Result<(usize, usize), RoutingError> {
        let not_offered = || RoutingError::NotOffered {
            call: call.clone(),
            agent: agent.clone(),
        };
        let ci = self.slot(call)?;
        let &a = self
            .agent_index
            .get(agent)
            .ok_or_else(|| RoutingError::UnknownAgent {
                agent: agent.clone(),
            })?;
        match self.call(ci).state {
            CallState::Offered { agent: o } if o == a => Ok((ci, a)),
            _ => Err(not_offered()),
        }
    }

    fn answered(&mut self, call: &CallId, agent: &AgentId) -> Result<(), RoutingError> {
        let (ci, a) = self.offered(call, agent)?;
        self.account(a);
        let now = self.now;
        let c = self.call_mut(ci);
        c.state = CallState::Connected {
            agent: a,
            since: now,
        };
        let waited_ms = now.saturating_sub(c.arrived);
        let id = c.id.clone();
        let ag = &mut self.agents[a];
        ag.offer = None;
        ag.talking.push((ci, now));
        ag.no_answers = 0;
        ag.calls_today += 1;
        self.calls_today_sum += 1;
        self.counters.answered += 1;
        let agent = ag.p.id.clone();
        self.emit(Output::Connected {
            call: id,
            agent,
            waited_ms,
        });
        self.settle(a);
        // An agent who takes several calls at once may take another.
        self.serve_agent(a);
        Ok(())
    }

    fn withdraw(&mut self, ci: usize, a: usize, why: Withdrawn) {
        let call = self.call(ci).id.clone();
        let agent = self.agents[a].p.id.clone();
        self.emit(Output::Withdraw { call, agent, why });
    }

    fn no_answer(&mut self, ci: usize, a: usize) {
        self.account(a);
        self.agents[a].offer = None;
        self.agents[a].offer_gen += 1;
        self.counters.no_answers += 1;
        self.withdraw(ci, a, Withdrawn::NoAnswer);
        let ag = &mut self.agents[a];
        ag.no_answers += 1;
        let max = self.s.max_no_answer;
        if max > 0 && ag.no_answers >= max {
            let no_answers = ag.no_answers;
            let agent = ag.p.id.clone();
            self.set_presence(a, Presence::Break(NO_ANSWER_REASON.into()));
            self.emit(Output::AgentBreak {
                agent,
                reason: NO_ANSWER_REASON.into(),
                no_answers,
            });
        } else {
            let until = self.now + self.s.no_answer_delay_ms;
            self.agents[a].paused_until = until;
            self.arm(until, TimerKind::Pause { agent: a });
        }
        self.settle(a);
        self.requeue(ci);
    }

    fn rejected(&mut self, ci: usize, a: usize) {
        self.account(a);
        self.agents[a].offer = None;
        self.agents[a].offer_gen += 1;
        self.counters.rejected += 1;
        self.withdraw(ci, a, Withdrawn::Rejected);
        let until = self.now + self.s.reject_delay_ms;
        self.agents[a].paused_until = until;
        self.arm(until, TimerKind::Pause { agent: a });
        self.settle(a);
        self.requeue(ci);
    }

    /// An offer that did not connect: the call goes back in line at its place.
    fn requeue(&mut self, ci: usize) {
        let now = self.now;
        let c = self.call_mut(ci);
        c.state = CallState::Waiting;
        let key = (c.arrived, c.gen);
        let q = c.queue;
        let waited = now.saturating_sub(c.arrived);
        let pos = self.waiting.partition_point(|&s| {
            let w = self.calls[s]
                .as_ref()
                .map_or((0, 0), |w| (w.arrived, w.gen));
            w < key
        });
        self.waiting.insert(pos, ci);
        let slot = &self.queues[q];
        if slot.removed || waited >= slot.rules.max_wait_ms {
            self.fallback(ci);
        } else {
            self.place_call(ci);
        }
    }

    fn hung_up(&mut self, call: &CallId) -> Result<(), RoutingError> {
        let ci = self.slot(call)?;
        match self.call(ci).state {
            CallState::Waiting => self.abandon(ci),
            CallState::Offered { agent } => {
                self.account(agent);
                self.agents[agent].offer = None;
                self.agents[agent].offer_gen += 1;
                self.withdraw(ci, agent, Withdrawn::CalleeGone);
                self.abandon(ci);
                self.settle(agent);
                self.serve_agent(agent);
            }
            CallState::Connected { agent, since } => self.end_call(ci, agent, since),
        }
        Ok(())
    }

    fn end_call(&mut self, ci: usize, a: usize, since: u64) {
        self.account(a);
        let now = self.now;
        let talk_ms = now.saturating_sub(since);
        self.talk_times.record(talk_ms as f64 / 1000.0);
        let c = self.remove_call(ci);
        let wrap = self.agents[a].p.wrap_up_ms.unwrap_or(self.s.wrap_up_ms);
        let ag = &mut self.agents[a];
        ag.talking.retain(|&(s, _)| s != ci);
        if !c.disposed {
            if ag.pending.len() >= MAX_PENDING {
                if let Some(old) = ag.pending.pop_front() {
                    if !old.disposed {
                        self.counters.dispositions_missed += 1;
                    }
                }
            }
            ag.pending.push_back(Pending {
                call: c.id,
                skill: c.primary,
                talk_ms,
                disposed: false,
            });
        }
        if wrap > 0 {
            ag.wrap_ends.push(now + wrap);
            let agent = ag.p.id.clone();
            self.arm(now + wrap, TimerKind::WrapUp { agent: a });
            self.emit(Output::WrapUp {
                agent,
                until_ms: now + wrap,
            });
        } else if !ag.busy() {
            ag.idle_since = now;
        }
        self.settle(a);
        self.serve_agent(a);
    }

    fn remove_call(&mut self, ci: usize) -> Call {
        // Callers pass a slot taken from the index, the waiting list or an agent.
        let c = self.calls[ci]
            .take()
            .expect("removing an occupied call slot");
        self.call_index.remove(&c.id);
        if c.state == CallState::Waiting {
            self.waiting.retain(|&s| s != ci);
        }
        self.free_slots.push(ci);
        c
    }

    fn abandon(&mut self, ci: usize) {
        let c = self.remove_call(ci);
        self.counters.abandoned += 1;
        let queue = self.queues[c.queue].rules.name.clone();
        self.emit(Output::Abandoned {
            call: c.id,
            queue,
            waited_ms: self.now.saturating_sub(c.arrived),
        });
    }

    fn fallback(&mut self, ci: usize) {
        let c = self.remove_call(ci);
        self.counters.fallbacks += 1;
        let rules = &self.queues[c.queue].rules;
        let fallback = match (rules.fallback, c.callback_at) {
            (FallbackPolicy::Bot, _) | (FallbackPolicy::CallbackOrBot, None) => Fallback::Bot,
            (FallbackPolicy::Callback, at) | (FallbackPolicy::CallbackOrBot, at) => {
                Fallback::Callback { at }
            }
        };
        let queue = rules.name.clone();
        self.emit(Output::Fallback {
            call: c.id,
            queue,
            fallback,
            waited_ms: self.now.saturating_sub(c.arrived),
        });
    }

    // ---------------------------------------------------------------- dispositions

    fn restore(&mut self, records: &[PerformanceRecord]) -> Result<(), RoutingError> {
        // Everything is checked before anything is added.
        let mut checked = Vec::with_capacity(records.len());
        for (i, r) in records.iter().enumerate() {
            let a = *self.agent_index.get(r.agent.as_str()).ok_or_else(|| {
                RoutingError::UnknownAgent {
                    agent: AgentId::new(&r.agent),
                }
            })?;
            let s = self
                .catalogue
                .require_skill(&format!("records[{i}].skill"), &r.skill)?;
            if r.converted > r.calls {
                return Err(RoutingError::Invalid {
                    field: format!("records[{i}].converted"),
                    why: "must not exceed calls",
                });
            }
            checked.push((a, s, r.calls, r.converted));
        }
        let mut touched = vec![false; self.catalogue.skills.len()];
        for &(a, s, calls, converted) in &checked {
            let t = self.agents[a].team;
            for c in [
                &mut self.agents[a].perf[s],
                &mut self.teams[t].perf[s],
                &mut self.overall[s],
            ] {
                c.calls = c.calls.saturating_add(calls);
                c.converted = c.converted.saturating_add(converted);
            }
            touched[s] = true;
        }
        for (s, touched) in touched.into_iter().enumerate() {
            if touched {
                self.update_strength(s);
            }
        }
        // The lifts, against the team rates now known.
        for (a, s, calls, converted) in checked {
            let expected = f64::from(self.team_rate(self.agents[a].team, s)) * f64::from(calls);
            let ag = &mut self.agents[a];
            ag.lift_expected += expected;
            ag.lift_converted = ag.lift_converted.saturating_add(converted);
        }
        self.lift_alpha = stats::lift_strength(
            self.agents
                .iter()
                .map(|ag| (ag.lift_converted, ag.lift_expected)),
            LIFT_PRIOR,
        );
        Ok(())
    }

    fn disposition(&mut self, d: Disposition) -> Result<(), RoutingError> {
        let a = *self
            .agent_index
            .get(&d.agent)
            .ok_or_else(|| RoutingError::UnknownAgent {
                agent: d.agent.clone(),
            })?;
        if let Some(q) = d.quality {
            if !q.is_finite() || !(0.0..=1.0).contains(&q) {
                return Err(RoutingError::Invalid {
                    field: format!("disposition of `{}`.quality", d.call),
                    why: "must be a number in 0..=1",
                });
            }
        }
        if let Some(h) = d.handle_s {
            if !h.is_finite() || !(0.0..=86_400.0).contains(&h) {
                return Err(RoutingError::Invalid {
                    field: format!("disposition of `{}`.handle_s", d.call),
                    why: "must be a number of seconds in 0..=86400",
                });
            }
        }
        let already = || RoutingError::AlreadyDisposed {
            agent: d.agent.clone(),
            call: d.call.clone(),
        };
        let (skill, talk_ms) = if let Some(p) = self.agents[a]
            .pending
            .iter_mut()
            .rev()
            .find(|p| p.call == d.call)
        {
            if p.disposed {
                return Err(already());
            }
            p.disposed = true;
            (p.skill, p.talk_ms)
        } else {
            // Still talking: the desktop may dispose before hanging up.
            let ci = self
                .call_index
                .get(&d.call)
                .copied()
                .filter(|&ci| {
                    matches!(self.call(ci).state, CallState::Connected { agent, .. } if agent == a)
                })
                .ok_or_else(|| RoutingError::NeverHad {
                    agent: d.agent.clone(),
                    call: d.call.clone(),
                })?;
            let now = self.now;
            let c = self.call_mut(ci);
            if c.disposed {
                return Err(already());
            }
            c.disposed = true;
            let since = match c.state {
                CallState::Connected { since, .. } => since,
                _ => now,
            };
            (c.primary, now.saturating_sub(since))
        };
        let handle_s = d.handle_s.map_or(talk_ms as f64 / 1000.0, f64::from);
        self.learn(a, skill, d.converted, handle_s, d.quality.map(f64::from));
        Ok(())
    }

    fn learn(
        &mut self,
        a: usize,
        skill: Option<SkillId>,
        converted: bool,
        handle_s: f64,
        quality: Option<f64>,
    ) {
        self.counters.dispositions += 1;
        self.counters.conversions += u64::from(converted);
        let t = self.agents[a].team;
        if let Some(s) = skill {
            // Expected at the team's rate before this call counts.
            let expected = f64::from(self.team_rate(t, s));
            let ag = &mut self.agents[a];
            ag.lift_expected += expected;
            ag.lift_converted += u32::from(converted);
            ag.perf[s].add(converted);
            self.teams[t].perf[s].add(converted);
            self.overall[s].add(converted);
            self.update_strength(s);
            self.lift_alpha = stats::lift_strength(
                self.agents
                    .iter()
                    .map(|ag| (ag.lift_converted, ag.lift_expected)),
                LIFT_PRIOR,
            );
        }
        self.agents[a].handle.add(handle_s);
        self.teams[t].handle.add(handle_s);
        self.handle_all.add(handle_s);
        if let Some(q) = quality {
            self.agents[a].quality.add(q);
            self.teams[t].quality.add(q);
            self.quality_all.add(q);
        }
    }

    /// Re-estimates skill `s`'s moments and the pooled shrinkage strength.
    fn update_strength(&mut self, s: SkillId) {
        self.moments[s] = stats::Moments::of(self.agents.iter().map(|ag| ag.perf[s]));
        self.strength = stats::pooled_strength(
            self.moments.iter().flatten().copied(),
            self.s.prior_strength,
        );
    }

    /// The team's rate on a skill, shrunk toward the overall rate.
    fn team_rate(&self, t: usize, s: SkillId) -> f32 {
        stats::shrink(
            self.teams[t].perf[s],
            self.overall[s].smoothed(),
            self.strength,
        )
    }

    /// Shrunk conversion estimate of agent `a` on skill `s`: toward the team's rate times
    /// the agent's lift across skills.
    fn estimate(&self, a: usize, s: SkillId) -> f32 {
        let ag = &self.agents[a];
        let lift = stats::lift(ag.lift_converted, ag.lift_expected, self.lift_alpha);
        let prior = (self.team_rate(ag.team, s) * lift).min(0.99);
        stats::shrink(ag.perf[s], prior, self.strength)
    }

    // ---------------------------------------------------------------- matching

    fn eligible(&self, c: &Call, ag: &Agent) -> bool {
        let q = &self.queues[c.queue].rules;
        if q.language_required(c.stage) {
            let ok = match c.lang {
                CallLang::Any => true,
                CallLang::Known(l) => ag.p.languages & (1 << l) != 0,
                CallLang::Unspoken => false,
            };
            if !ok {
                return false;
            }
        }
        q.requirements(c.stage).any(|r| ag.p.meets(r))
    }

    fn agent_side(&self, a: usize) -> AgentSide {
        let ag = &self.agents[a];
        let now = self.now;
        let dt = now.saturating_sub(ag.acct_at);
        let occupancy = ag.occupancy.peek(dt, ag.busy(), self.s.occupancy_window_ms);
        let reference = self.handle_all.mean().unwrap_or(self.talk_times.mean_s());
        let team = &self.teams[ag.team];
        let team_handle = team.handle.shrunk(reference, MEAN_PRIOR);
        let handle = ag.handle.shrunk(team_handle, MEAN_PRIOR);
        let q_all = self.quality_all.mean().unwrap_or(PRIOR_QUALITY);
        let team_quality = team.quality.shrunk(q_all, MEAN_PRIOR);
        let mean_calls = self.calls_today_sum as f32 / self.logged_in.max(1) as f32;
        AgentSide {
            handle_time: score::handle_time(handle as f32, reference as f32),
            quality: ag.quality.shrunk(team_quality, MEAN_PRIOR) as f32,
            idle: score::idle(now.saturating_sub(ag.idle_since), self.s.idle_scale_ms),
            occupancy: 1.0 - occupancy,
            calls_today: score::calls_today(ag.calls_today, mean_calls),
        }
    }

    /// Every component's value for agent `a` taking call `c`.
    fn values(&self, c: &Call, a: usize, side: &AgentSide) -> [f32; COMPONENTS] {
        let ag = &self.agents[a];
        let q = &self.queues[c.queue].rules;
        let perf = match c.primary {
            Some(s) => score::performance(self.estimate(a, s), self.overall[s].smoothed()),
            None => 0.5,
        };
        let language = match c.lang {
            CallLang::Any => 1.0,
            CallLang::Known(l) if ag.p.languages & (1 << l) != 0 => 1.0,
            _ => 0.0,
        };
        [
            score::skill_fit(&c.wanted, |s| ag.p.level(s)),
            perf,
            score::value(c.lead, perf),
            side.handle_time,
            side.quality,
            side.idle,
            side.occupancy,
            side.calls_today,
            language,
            if c.previous == Some(a) { 1.0 } else { 0.0 },
            score::wait(self.now.saturating_sub(c.arrived), q.service_level_ms),
            c.lead,
        ]
    }

    fn reasons(&self, ci: usize, a: usize, rule: Rule, candidates: u32, over: u32) -> Reasons {
        let c = self.call(ci);
        let side = self.agent_side(a);
        let values = self.values(c, a, &side);
        let weights = &self.queues[c.queue].rules.weights;
        Reasons::new(self.s.strategy, rule, &values, weights, candidates, over)
    }

    /// The best free eligible agent for a waiting call.
    fn choose_agent(&self, ci: usize) -> Option<(usize, Rule, u32, u32)> {
        let c = self.call(ci);
        let now = self.now;
        let weights = self.queues[c.queue].rules.weights.as_array();
        let strategy = self.s.strategy;
        let mut candidates = 0u32;
        // (agent, key): the lowest key wins, so every strategy is one comparison; the last
        // field (configuration order) makes ties deterministic.
        let mut best: Option<(usize, (u8, f64, f64, usize))> = None;
        let mut over_cap = 0u32;
        let mut under_cap = 0u32;
        let mut starved = false;
        for (a, ag) in self.agents.iter().enumerate() {
            if !ag.free(now) || !self.eligible(c, ag) {
                continue;
            }
            candidates += 1;
            let key = match strategy {
                Strategy::LongestIdle => (0, ag.idle_since as f64, 0.0, ag.order),
                Strategy::TopDown => (0, 0.0, 0.0, ag.order),
                Strategy::SkillsOnly => {
                    let fit = score::skill_fit(&c.wanted, |s| ag.p.level(s));
                    (0, -f64::from(fit), ag.idle_since as f64, ag.order)
                }
                Strategy::Score => {
                    let idle = now.saturating_sub(ag.idle_since);
                    if self.s.max_idle_ms > 0 && idle >= self.s.max_idle_ms {
                        starved = true;
                        (0, ag.idle_since as f64, 0.0, ag.order)
                    } else {
                        let side = self.agent_side(a);
                        let tier = if 1.0 - side.occupancy > self.s.max_occupancy {
                            over_cap += 1;
                            2
                        } else {
                            under_cap += 1;
                            1
                        };
                        let v = self.values(c, a, &side);
                        let m = score::dot(&v[..MATCH_COMPONENTS], &weights[..MATCH_COMPONENTS]);
                        (tier, -f64::from(m), 0.0, ag.order)
                    }
                }
            };
            if best.as_ref().is_none_or(|(_, k)| key < *k) {
                best = Some((a, key));
            }
        }
        let (a, _) = best?;
        let rule = match strategy {
            Strategy::LongestIdle => Rule::LongestIdle,
            Strategy::TopDown => Rule::TopDown,
            Strategy::SkillsOnly => Rule::BestSkill,
            Strategy::Score if starved => Rule::StarvedAgent,
            Strategy::Score => Rule::BestScore,
        };
        let passed_over = if !starved && under_cap > 0 {
            over_cap
        } else {
            0
        };
        Some((a, rule, candidates, passed_over))
    }

    /// The best waiting call a free agent can take.
    fn choose_call(&self, a: usize) -> Option<(usize, Rule, u32)> {
        let ag = &self.agents[a];
        let score = self.s.strategy == Strategy::Score;
        let side = if score {
            self.agent_side(a)
        } else {
            AgentSide::default()
        };
        let mut candidates = 0u32;
        let mut best: Option<(usize, i32, f32)> = None;
        for &ci in &self.waiting {
            let c = self.call(ci);
            if !self.eligible(c, ag) {
                continue;
            }
            candidates += 1;
            let q = &self.queues[c.queue].rules;
            let total = if score {
                let v = self.values(c, a, &side);
                score::dot(&v, &q.weights.as_array())
            } else {
                0.0
            };
            // In line order, so a baseline keeps the first call of the top priority.
            let better = match best {
                None => true,
                Some((_, p, t)) => q.priority > p || (q.priority == p && total > t),
            };
            if better {
                best = Some((ci, q.priority, total));
            }
        }
        let (ci, _, _) = best?;
        let rule = if score {
            Rule::BestScore
        } else {
            Rule::FirstInLine
        };
        Some((ci, rule, candidates))
    }

    fn place_call(&mut self, ci: usize) {
        if let Some((a, rule, candidates, over)) = self.choose_agent(ci) {
            let reasons = self.reasons(ci, a, rule, candidates, over);
            self.offer(ci, a, reasons);
        }
    }

    fn serve_agent(&mut self, a: usize) {
        if !self.agents[a].free(self.now) {
            return;
        }
        if let Some((ci, rule, candidates)) = self.choose_call(a) {
            let reasons = self.reasons(ci, a, rule, candidates, 0);
            self.offer(ci, a, reasons);
        }
    }

    fn offer(&mut self, ci: usize, a: usize, reasons: Reasons) {
        self.account(a);
        self.waiting.retain(|&s| s != ci);
        let c = self.call_mut(ci);
        c.state = CallState::Offered { agent: a };
        let (call, q) = (c.id.clone(), c.queue);
        let ag = &mut self.agents[a];
        ag.offer = Some(ci);
        ag.offer_gen += 1;
        let gen = ag.offer_gen;
        let agent = ag.p.id.clone();
        let dial = ag.p.dial.to_string();
        self.arm(
            self.now + self.s.ring_timeout_ms,
            TimerKind::Offer { agent: a, gen },
        );
        self.counters.offers += 1;
        let queue = self.queues[q].rules.name.clone();
        self.emit(Output::Offer {
            call,
            agent,
            dial,
            queue,
            reasons,
        });
        self.settle(a);
    }
}

/// The predictive dialer's view at the latest time the router saw (all queues). A service
/// shares the router behind a lock, or publishes [`Router::agent_snapshot`] into a
/// [`crate::campaign::pacing::SharedAgents`] after each input.
impl AgentAvailability for Router {
    fn snapshot(&self) -> AgentSnapshot {
        // `None` names no queue, so the lookup that can fail is never made.
        self.agent_snapshot(self.now, None).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::{any, prop_assert, prop_assert_eq, prop_oneof, proptest};
    use proptest::strategy::Strategy as Generator;
    use proptest::test_runner::Config as ProptestConfig;

    use super::super::config::WidenStage;
    use super::super::score::Component;
    use super::*;

    const S: u64 = 1000;

    fn agent(id: &str, skills: &[(&str, u8)], langs: &[&str]) -> AgentConfig {
        let mut a = AgentConfig::new(id, &format!("user/{id}"), skills);
        a.languages = langs.iter().map(|l| (*l).to_owned()).collect();
        a
    }

    /// Two skills and a queue for each one some agent can serve.
    fn config(agents: Vec<AgentConfig>) -> RoutingConfig {
        let queues = ["health", "auto"]
            .iter()
            .filter(|s| {
                agents
                    .iter()
                    .any(|a| a.skills.get(**s).is_some_and(|&l| l >= 3))
            })
            .map(|s| QueueConfig::new(s, &[(s, 3)]))
            .collect();
        RoutingConfig {
            skills: vec!["health".into(), "auto".into()],
            agents,
            queues,
            ..RoutingConfig::default()
        }
    }

    fn router(cfg: &RoutingConfig) -> Router {
        Router::new(cfg).expect("valid config")
    }

    fn id(s: &str) -> AgentId {
        AgentId::new(s)
    }

    fn cid(s: &str) -> CallId {
        CallId::new(s)
    }

    fn step(r: &mut Router, at: u64, input: Input) -> Vec<Output> {
        r.handle(at, input).expect("accepted");
        r.drain_outputs().collect()
    }

    fn login(r: &mut Router, at: u64, ids: &[&str]) {
        for a in ids {
            step(r, at, Input::Login { agent: id(a) });
        }
    }

    fn call(r: &mut Router, at: u64, c: &str, queue: &str) -> Vec<Output> {
        step(
            r,
            at,
            Input::CallWaiting(CallRequest::new(c, queue, Intent::Affirm)),
        )
    }

    fn offers(out: &[Output]) -> Vec<(String, String)> {
        out.iter()
            .filter_map(|o| match o {
                Output::Offer { call, agent, .. } => Some((call.to_string(), agent.to_string())),
                _ => None,
            })
            .collect()
    }

    fn offer_reasons(out: &[Output]) -> Reasons {
        out.iter()
            .find_map(|o| match o {
                Output::Offer { reasons, .. } => Some(reasons.clone()),
                _ => None,
            })
            .expect("an offer")
    }

    fn states(out: &[Output]) -> Vec<(String, AgentState)> {
        out.iter()
            .filter_map(|o| match o {
                Output::AgentState { agent, state } => Some((agent.to_string(), state.clone())),
                _ => None,
            })
            .collect()
    }

    /// Connects call `c` to `a` at `at` and ends it at `end`, with a disposition.
    fn handled(r: &mut Router, at: u64, end: u64, c: &str, a: &str, converted: bool) {
        step(
            r,
            at,
            Input::OfferAnswered {
                call: cid(c),
                agent: id(a),
            },
        );
        step(r, end, Input::CallEnded { call: cid(c) });
        step(
            r,
            end,
            Input::Disposition(Disposition {
                agent: id(a),
                call: cid(c),
                converted,
                handle_s: None,
                quality: None,
            }),
        );
    }

    #[test]
    fn an_agent_goes_through_offer_call_wrap_up_and_back() {
        let mut r = router(&config(vec![agent("1001", &[("health", 5)], &[])]));
        let out = step(&mut r, 0, Input::Login { agent: id("1001") });
        assert_eq!(states(&out), [("1001".into(), AgentState::Available)]);
        let out = call(&mut r, 5 * S, "c1", "health");
        assert_eq!(offers(&out), [("c1".into(), "1001".into())]);
        match &out[0] {
            Output::Offer { dial, queue, .. } => {
                assert_eq!(dial, "user/1001");
                assert_eq!(queue, "health");
            }
            o => panic!("expected the offer first, got {o:?}"),
        }
        assert_eq!(states(&out), [("1001".into(), AgentState::Offered)]);
        let out = step(
            &mut r,
            8 * S,
            Input::OfferAnswered {
                call: cid("c1"),
                agent: id("1001"),
            },
        );
        assert!(out.contains(&Output::Connected {
            call: cid("c1"),
            agent: id("1001"),
            waited_ms: 3 * S,
        }));
        assert_eq!(states(&out), [("1001".into(), AgentState::OnCall)]);
        let out = step(&mut r, 68 * S, Input::CallEnded { call: cid("c1") });
        assert!(out.contains(&Output::WrapUp {
            agent: id("1001"),
            until_ms: 78 * S
        }));
        assert_eq!(states(&out), [("1001".into(), AgentState::WrapUp)]);
        assert_eq!(r.next_timeout(), Some(78 * S));
        assert!(step(&mut r, 77 * S, Input::Tick).is_empty());
        let out = step(&mut r, 78 * S, Input::Tick);
        assert_eq!(states(&out), [("1001".into(), AgentState::Available)]);
        let st = r.agent_status("1001").expect("known");
        assert_eq!(st.calls_today, 1);
        // Offered at 5 s, free again at 78 s.
        assert_eq!(st.busy_ms, 73 * S);
        assert_eq!(st.staffed_ms, 78 * S);
        assert_eq!(st.pending_dispositions, 1);
        // Ready during a wrap-up ends it early.
        call(&mut r, 80 * S, "c2", "health");
        step(
            &mut r,
            81 * S,
            Input::OfferAnswered {
                call: cid("c2"),
                agent: id("1001"),
            },
        );
        step(&mut r, 90 * S, Input::CallEnded { call: cid("c2") });
        let out = step(&mut r, 91 * S, Input::Ready { agent: id("1001") });
        assert_eq!(states(&out), [("1001".into(), AgentState::Available)]);
        let out = step(&mut r, 100 * S, Input::Logout { agent: id("1001") });
        assert_eq!(states(&out), [("1001".into(), AgentState::LoggedOut)]);
    }

    #[test]
    fn unanswered_offers_in_a_row_put_the_agent_on_break() {
        let mut cfg = config(vec![agent("1001", &[("health", 5)], &[])]);
        cfg.max_no_answer = 3;
        cfg.no_answer_delay_s = 5;
        cfg.ring_timeout_s = 20;
        let mut r = router(&cfg);
        login(&mut r, 0, &["1001"]);
        call(&mut r, 0, "c1", "health");
        // 1: the switch says no answer; the agent pauses 5 s and is offered the call again.
        let out = step(
            &mut r,
            15 * S,
            Input::OfferNotAnswered {
                call: cid("c1"),
                agent: id("1001"),
            },
        );
        assert!(out.contains(&Output::Withdraw {
            call: cid("c1"),
            agent: id("1001"),
            why: Withdrawn::NoAnswer
        }));
        assert!(offers(&out).is_empty(), "paused after a no-answer");
        assert_eq!(r.waiting(), 1);
        let out = step(&mut r, 20 * S, Input::Tick);
        assert_eq!(offers(&out), [("c1".into(), "1001".into())]);
        // 2: the router's own ring timeout (nobody reported anything).
        let out = step(&mut r, 40 * S, Input::Tick);
        assert!(out.iter().any(|o| matches!(
            o,
            Output::Withdraw {
                why: Withdrawn::NoAnswer,
                ..
            }
        )));
        assert_eq!(r.agent_status("1001").map(|s| s.no_answers), Some(2));
        // 3: a third no-answer: on break "no_answer", and no more offers.
        step(&mut r, 45 * S, Input::Tick);
        let out = step(
            &mut r,
            50 * S,
            Input::OfferNotAnswered {
                call: cid("c1"),
                agent: id("1001"),
            },
        );
        assert!(out.contains(&Output::AgentBreak {
            agent: id("1001"),
            reason: NO_ANSWER_REASON.into(),
            no_answers: 3
        }));
        assert_eq!(
            states(&out).last().map(|s| s.1.clone()),
            Some(AgentState::Break {
                reason: "no_answer".into()
            })
        );
        assert!(offers(&step(&mut r, 100 * S, Input::Tick)).is_empty());
        // Ready again: the count restarts and the call is offered.
        let out = step(&mut r, 110 * S, Input::Ready { agent: id("1001") });
        assert_eq!(offers(&out), [("c1".into(), "1001".into())]);
        assert_eq!(r.agent_status("1001").map(|s| s.no_answers), Some(0));
        assert_eq!(r.counters().no_answers, 3);
    }

    #[test]
    fn a_rejected_call_goes_to_another_agent_and_the_rejecter_pauses() {
        let mut r = router(&config(vec![
            agent("a", &[("health", 5)], &[]),
            agent("b", &[("health", 5)], &[]),
        ]));
        r.handle(0, Input::SetStrategy(Strategy::TopDown))
            .expect("ok");
        login(&mut r, 0, &["a", "b"]);
        let out = call(&mut r, S, "c1", "health");
        assert_eq!(offers(&out), [("c1".into(), "a".into())]);
        let out = step(
            &mut r,
            2 * S,
            Input::OfferRejected {
                call: cid("c1"),
                agent: id("a"),
            },
        );
        assert_eq!(offers(&out), [("c1".into(), "b".into())]);
        // `a` is paused for the reject delay (10 s): a new call goes nowhere until then.
        let out = call(&mut r, 3 * S, "c2", "health");
        assert!(offers(&out).is_empty());
        let out = step(&mut r, 12 * S, Input::Tick);
        assert_eq!(offers(&out), [("c2".into(), "a".into())]);
        assert_eq!(r.counters().rejected, 1);
    }

    #[test]
    fn waiting_calls_widen_then_fall_back() {
        let mut cfg = config(vec![
            agent("junior", &[("health", 4)], &[]),
            agent("senior", &[("health", 9)], &[]),
        ]);
        cfg.queues[0].required = [("health".to_owned(), 8)].into();
        cfg.queues[0].max_wait_s = 90;
        cfg.queues[0].widen = vec![WidenStage {
            after_s: 30,
            required: [("health".to_owned(), 4)].into(),
            any_language: false,
        }];
        let mut r = router(&cfg);
        login(&mut r, 0, &["junior", "senior"]);
        // The senior takes the first call; the second waits though the junior is free.
        assert_eq!(
            offers(&call(&mut r, 0, "c1", "health")),
            [("c1".into(), "senior".into())]
        );
        step(
            &mut r,
            S,
            Input::OfferAnswered {
                call: cid("c1"),
                agent: id("senior"),
            },
        );
        assert!(offers(&call(&mut r, 2 * S, "c2", "health")).is_empty());
        let out = step(&mut r, 32 * S, Input::Tick);
        assert!(out.contains(&Output::Widened {
            call: cid("c2"),
            queue: "health".into(),
            stage: 1
        }));
        assert_eq!(offers(&out), [("c2".into(), "junior".into())]);
        step(
            &mut r,
            33 * S,
            Input::OfferAnswered {
                call: cid("c2"),
                agent: id("junior"),
            },
        );

        // Nobody free: a call with a callback time falls back to that callback at 90 s…
        let mut req = CallRequest::new("c3", "health", Intent::BusyCallback);
        req.callback_at = Some(1_800_000_000);
        step(&mut r, 40 * S, Input::CallWaiting(req));
        // … and one without goes back to the bot.
        call(&mut r, 41 * S, "c4", "health");
        let out = step(&mut r, 131 * S, Input::Tick);
        assert!(out.contains(&Output::Fallback {
            call: cid("c3"),
            queue: "health".into(),
            fallback: Fallback::Callback {
                at: Some(1_800_000_000)
            },
            waited_ms: 90 * S,
        }));
        assert!(out.contains(&Output::Fallback {
            call: cid("c4"),
            queue: "health".into(),
            fallback: Fallback::Bot,
            waited_ms: 90 * S,
        }));
        assert_eq!(r.waiting(), 0);
        assert_eq!(r.counters().fallbacks, 2);
    }

    #[test]
    fn the_language_is_required_until_a_widening_step_lifts_it() {
        let mut cfg = config(vec![
            agent("en", &[("health", 5)], &["en"]),
            agent("zh", &[("health", 5)], &["zh"]),
        ]);
        cfg.queues[0].widen = vec![WidenStage {
            after_s: 20,
            required: Default::default(),
            any_language: true,
        }];
        let mut r = router(&cfg);
        login(&mut r, 0, &["en", "zh"]);
        let mut req = CallRequest::new("c1", "health", Intent::Affirm);
        req.language = Some("ZH".into());
        assert_eq!(
            offers(&step(&mut r, 0, Input::CallWaiting(req))),
            [("c1".into(), "zh".into())]
        );
        step(
            &mut r,
            S,
            Input::OfferAnswered {
                call: cid("c1"),
                agent: id("zh"),
            },
        );
        let mut req = CallRequest::new("c2", "health", Intent::Affirm);
        req.language = Some("zh".into());
        assert!(offers(&step(&mut r, S, Input::CallWaiting(req))).is_empty());
        // A language nobody speaks waits for the step as well.
        let mut req = CallRequest::new("c3", "health", Intent::Affirm);
        req.language = Some("fr".into());
        assert!(offers(&step(&mut r, 2 * S, Input::CallWaiting(req))).is_empty());
        let out = step(&mut r, 21 * S, Input::Tick);
        let r1 = offer_reasons(&out);
        assert_eq!(offers(&out), [("c2".into(), "en".into())]);
        assert_eq!(r1.term(Component::Language).value, 0.0);
        assert_eq!(r.waiting(), 1);
    }

    #[test]
    fn the_previous_agent_gets_the_callee_back() {
        let mut r = router(&config(vec![
            agent("a", &[("health", 5)], &[]),
            agent("b", &[("health", 5)], &[]),
        ]));
        login(&mut r, 0, &["a", "b"]);
        let mut req = CallRequest::new("c1", "health", Intent::Affirm);
        req.previous_agent = Some(id("b"));
        let out = step(&mut r, S, Input::CallWaiting(req));
        assert_eq!(offers(&out), [("c1".into(), "b".into())]);
        let reasons = offer_reasons(&out);
        assert_eq!(reasons.term(Component::Continuity).value, 1.0);
        assert_eq!(reasons.rule, Rule::BestScore);
        assert_eq!(reasons.candidates, 2);
        // An unknown previous agent is no error: no continuity.
        let mut req = CallRequest::new("c2", "health", Intent::Affirm);
        req.previous_agent = Some(id("gone"));
        let out = step(&mut r, S, Input::CallWaiting(req));
        assert_eq!(offers(&out), [("c2".into(), "a".into())]);
    }

    /// Agent `a` converts 30 of 40 health calls, `b` 4 of 40: the router learns it.
    fn trained() -> Router {
        let mut cfg = config(vec![
            agent("a", &[("health", 5)], &[]),
            agent("b", &[("health", 5)], &[]),
        ]);
        cfg.wrap_up_s = 0;
        cfg.max_idle_s = 0;
        let mut r = router(&cfg);
        r.handle(0, Input::SetStrategy(Strategy::TopDown))
            .expect("ok");
        login(&mut r, 0, &["a", "b"]);
        let mut t = 0;
        for i in 0..40 {
            for (who, converts) in [("a", i < 30), ("b", i < 4)] {
                t += S;
                let c = format!("{who}{i}");
                // Top-down: `a` first; `b` when `a` is busy.
                if who == "b" {
                    call(&mut r, t, "hold", "health");
                    step(
                        &mut r,
                        t,
                        Input::OfferAnswered {
                            call: cid("hold"),
                            agent: id("a"),
                        },
                    );
                }
                let out = call(&mut r, t, &c, "health");
                assert_eq!(offers(&out), [(c.clone(), who.to_owned())]);
                handled(&mut r, t, t + 100, &c, who, converts);
                if who == "b" {
                    step(&mut r, t + 100, Input::CallEnded { call: cid("hold") });
                    step(
                        &mut r,
                        t + 100,
                        Input::Disposition(Disposition {
                            agent: id("a"),
                            call: cid("hold"),
                            converted: i < 30,
                            handle_s: None,
                            quality: None,
                        }),
                    );
                }
            }
        }
        r
    }

    #[test]
    fn conversion_is_learned_with_shrinkage_and_routes_the_calls() {
        let mut r = trained();
        let pa = r.conversion_estimate("a", "health").expect("known");
        let pb = r.conversion_estimate("b", "health").expect("known");
        // Raw: a 60/80 = 0.75, b 4/40 = 0.1; the shrunk estimates are pulled in, in order.
        assert!(pa < 0.75 && pb > 0.1 && pa > pb, "a {pa}, b {pb}");
        let m = r.prior_strength();
        assert!((2.0..500.0).contains(&m), "{m}");
        // Score: the converting agent, though both are free and `b` idled as long.
        r.handle(100 * S, Input::SetStrategy(Strategy::Score))
            .expect("ok");
        let out = call(&mut r, 100 * S, "next", "health");
        assert_eq!(offers(&out), [("next".into(), "a".into())]);
        let reasons = offer_reasons(&out);
        assert!(reasons.term(Component::Performance).value > 0.5);
        let json = serde_json::to_string(&reasons).expect("serialises");
        assert!(json.contains("performance"), "{json}");
        // A disposition for a call that agent never had: an error, nothing changes.
        let err = r
            .handle(
                101 * S,
                Input::Disposition(Disposition {
                    agent: id("b"),
                    call: cid("a3"),
                    converted: true,
                    handle_s: None,
                    quality: None,
                }),
            )
            .expect_err("b never had a3");
        assert_eq!(
            err,
            RoutingError::NeverHad {
                agent: id("b"),
                call: cid("a3")
            }
        );
        assert_eq!(r.conversion_estimate("b", "health"), Some(pb));
        // Twice for the same call: refused too.
        let err = r
            .handle(
                101 * S,
                Input::Disposition(Disposition {
                    agent: id("a"),
                    call: cid("a39"),
                    converted: true,
                    handle_s: None,
                    quality: None,
                }),
            )
            .expect_err("already disposed");
        assert!(matches!(err, RoutingError::AlreadyDisposed { .. }));
        // Nothing stuck: `b` still takes the next call.
        let out = call(&mut r, 102 * S, "after", "health");
        assert_eq!(offers(&out), [("after".into(), "b".into())]);
    }

    #[test]
    fn a_strong_record_on_one_skill_raises_the_estimate_on_the_others() {
        let names: Vec<String> = (0..6).map(|i| format!("a{i}")).collect();
        let agents = names
            .iter()
            .map(|n| agent(n, &[("health", 5), ("auto", 5)], &[]))
            .collect();
        let mut r = router(&config(agents));
        // Health records: a0 converts 40 %, the others 10 %; nobody has auto calls yet.
        let records = names
            .iter()
            .enumerate()
            .map(|(i, n)| PerformanceRecord {
                agent: n.clone(),
                skill: "health".into(),
                calls: 200,
                converted: if i == 0 { 80 } else { 20 },
            })
            .collect();
        step(&mut r, 0, Input::Restore(records));
        let auto: Vec<f32> = names
            .iter()
            .map(|n| r.conversion_estimate(n, "auto").expect("known"))
            .collect();
        assert!(
            auto[0] > auto[1] * 1.2,
            "a0's lift carries to auto: {auto:?}"
        );
        assert!(auto[1..].windows(2).all(|w| (w[0] - w[1]).abs() < 1e-6));
        let m = r.prior_strength();
        assert!((2.0..=500.0).contains(&m), "{m}");
        // What was learned comes back out for the next start.
        let saved = r.performance();
        assert_eq!(saved.len(), 6);
        assert_eq!(saved[0].converted, 80);
        let mut fresh = router(&config(
            names
                .iter()
                .map(|n| agent(n, &[("health", 5), ("auto", 5)], &[]))
                .collect(),
        ));
        step(&mut fresh, 0, Input::Restore(saved));
        assert_eq!(
            fresh.conversion_estimate("a0", "health"),
            r.conversion_estimate("a0", "health")
        );
        // Bad records are refused whole.
        let bad = vec![
            PerformanceRecord {
                agent: "a1".into(),
                skill: "health".into(),
                calls: 10,
                converted: 1,
            },
            PerformanceRecord {
                agent: "a1".into(),
                skill: "health".into(),
                calls: 1,
                converted: 2,
            },
        ];
        let before = fresh.conversion_estimate("a1", "health");
        assert!(matches!(
            fresh.handle(0, Input::Restore(bad)),
            Err(RoutingError::Invalid { .. })
        ));
        assert_eq!(fresh.conversion_estimate("a1", "health"), before);
        assert!(matches!(
            fresh.handle(
                0,
                Input::Restore(vec![PerformanceRecord {
                    agent: "zz".into(),
                    skill: "health".into(),
                    calls: 1,
                    converted: 0
                }])
            ),
            Err(RoutingError::UnknownAgent { .. })
        ));
    }

    #[test]
    fn an_agent_above_the_occupancy_cap_yields_to_one_below() {
        let mut cfg = config(vec![
            agent("busy", &[("health", 9)], &[]),
            agent("rested", &[("health", 3)], &[]),
        ]);
        cfg.occupancy_window_s = 60;
        cfg.max_occupancy = 0.8;
        cfg.wrap_up_s = 0;
        cfg.max_idle_s = 0;
        let mut r = router(&cfg);
        login(&mut r, 0, &["busy", "rested"]);
        call(&mut r, 0, "long", "health");
        step(
            &mut r,
            0,
            Input::OfferAnswered {
                call: cid("long"),
                agent: id("busy"),
            },
        );
        step(&mut r, 300 * S, Input::CallEnded { call: cid("long") });
        // `busy` scores higher (skill 9 against 3) but was busy 5 minutes of 5.
        let out = call(&mut r, 301 * S, "c", "health");
        assert_eq!(offers(&out), [("c".into(), "rested".into())]);
        assert_eq!(offer_reasons(&out).over_occupancy, 1);
        // Alone, it still gets calls: the cap never leaves a call waiting for nobody.
        step(
            &mut r,
            302 * S,
            Input::OfferAnswered {
                call: cid("c"),
                agent: id("rested"),
            },
        );
        let out = call(&mut r, 303 * S, "d", "health");
        assert_eq!(offers(&out), [("d".into(), "busy".into())]);
        assert_eq!(offer_reasons(&out).over_occupancy, 0);
    }

    #[test]
    fn an_agent_idle_past_the_cap_is_not_starved() {
        let mut cfg = config(vec![
            agent("star", &[("health", 10)], &[]),
            agent("low", &[("health", 3)], &[]),
        ]);
        cfg.max_idle_s = 120;
        let mut r = router(&cfg);
        login(&mut r, 0, &["low"]);
        login(&mut r, 150 * S, &["star"]);
        // `low` idled 200 s > 120 s: it takes the call over the better-scoring `star`.
        let out = call(&mut r, 200 * S, "c1", "health");
        assert_eq!(offers(&out), [("c1".into(), "low".into())]);
        assert_eq!(offer_reasons(&out).rule, Rule::StarvedAgent);
        // Without the cap the score decides.
        let mut cfg = cfg.clone();
        cfg.max_idle_s = 0;
        let mut r = router(&cfg);
        login(&mut r, 0, &["low"]);
        login(&mut r, 150 * S, &["star"]);
        let out = call(&mut r, 200 * S, "c1", "health");
        assert_eq!(offers(&out), [("c1".into(), "star".into())]);
    }

    #[test]
    fn the_baselines_pick_as_mod_callcenter_does() {
        let agents = vec![
            agent("first", &[("health", 4)], &[]),
            agent("skilled", &[("health", 9)], &[]),
            agent("idle", &[("health", 4)], &[]),
        ];
        for (strategy, expected) in [
            (Strategy::LongestIdle, "idle"),
            (Strategy::TopDown, "first"),
            (Strategy::SkillsOnly, "skilled"),
        ] {
            let mut cfg = config(agents.clone());
            cfg.strategy = strategy;
            let mut r = router(&cfg);
            login(&mut r, 0, &["idle"]);
            login(&mut r, 10 * S, &["first", "skilled"]);
            let out = call(&mut r, 20 * S, "c", "health");
            assert_eq!(offers(&out), [("c".into(), expected.into())], "{strategy}");
            assert_eq!(offer_reasons(&out).strategy, strategy);
        }
    }

    #[test]
    fn a_free_agent_takes_the_highest_priority_call_then_the_first_in_line() {
        let mut cfg = config(vec![agent("a", &[("health", 5), ("auto", 5)], &[])]);
        cfg.queues[1].priority = 5;
        cfg.strategy = Strategy::LongestIdle;
        let mut r = router(&cfg);
        call(&mut r, 0, "h1", "health");
        call(&mut r, S, "h2", "health");
        call(&mut r, 2 * S, "a1", "auto");
        let out = step(&mut r, 3 * S, Input::Login { agent: id("a") });
        assert_eq!(offers(&out), [("a1".into(), "a".into())]);
        assert_eq!(offer_reasons(&out).rule, Rule::FirstInLine);
        step(
            &mut r,
            4 * S,
            Input::OfferRejected {
                call: cid("a1"),
                agent: id("a"),
            },
        );
        // Rejected: paused 10 s, then the auto call again (priority), then h1 before h2.
        let out = step(&mut r, 14 * S, Input::Tick);
        assert_eq!(offers(&out), [("a1".into(), "a".into())]);
        step(&mut r, 15 * S, Input::CalleeHungUp { call: cid("a1") });
        assert_eq!(r.counters().abandoned, 1);
        let log: Vec<_> = r.log().map(|e| e.output.clone()).collect();
        assert!(log
            .iter()
            .any(|o| matches!(o, Output::Offer { call, .. } if call.as_str() == "h1")));
    }

    #[test]
    fn the_callee_hanging_up_while_the_agent_rings_frees_the_agent() {
        let mut r = router(&config(vec![agent("a", &[("health", 5)], &[])]));
        login(&mut r, 0, &["a"]);
        call(&mut r, 0, "c1", "health");
        call(&mut r, S, "c2", "health");
        let out = step(&mut r, 2 * S, Input::CalleeHungUp { call: cid("c1") });
        assert!(out.contains(&Output::Withdraw {
            call: cid("c1"),
            agent: id("a"),
            why: Withdrawn::CalleeGone
        }));
        assert!(out
            .iter()
            .any(|o| matches!(o, Output::Abandoned { call, waited_ms, .. }
            if call.as_str() == "c1" && *waited_ms == 2 * S)));
        assert_eq!(offers(&out), [("c2".into(), "a".into())]);
        // The call is gone: its id is unknown now, a clear error.
        assert_eq!(
            r.handle(3 * S, Input::CallEnded { call: cid("c1") }),
            Err(RoutingError::UnknownCall { call: cid("c1") })
        );
    }

    #[test]
    fn agents_and_queues_change_live() {
        let mut cfg = config(vec![
            agent("a", &[("health", 5)], &[]),
            agent("b", &[("health", 5), ("auto", 6)], &[]),
        ]);
        cfg.strategy = Strategy::TopDown;
        let mut r = router(&cfg);
        login(&mut r, 0, &["a"]);
        assert_eq!(
            offers(&call(&mut r, 0, "c1", "health")),
            [("c1".into(), "a".into())]
        );
        // Removed while ringing: the call goes to the next agent once it logs in.
        let out = step(&mut r, S, Input::RemoveAgent { agent: id("a") });
        assert!(out.contains(&Output::Withdraw {
            call: cid("c1"),
            agent: id("a"),
            why: Withdrawn::AgentLeft
        }));
        assert_eq!(r.waiting(), 1);
        assert_eq!(
            offers(&step(&mut r, 2 * S, Input::Login { agent: id("b") })),
            [("c1".into(), "b".into())]
        );
        assert_eq!(
            r.handle(3 * S, Input::Login { agent: id("a") }),
            Err(RoutingError::Removed { agent: id("a") })
        );
        step(
            &mut r,
            3 * S,
            Input::OfferAnswered {
                call: cid("c1"),
                agent: id("b"),
            },
        );
        // A queue that requires more than anyone has is refused…
        let mut q = QueueConfig::new("auto", &[("auto", 9)]);
        assert!(matches!(
            r.handle(4 * S, Input::UpsertQueue(q.clone())),
            Err(RoutingError::Unservable { .. })
        ));
        // … an agent with an unknown skill too…
        let mut c = agent("c", &[("claims", 5)], &[]);
        assert!(matches!(
            r.handle(4 * S, Input::UpsertAgent(c.clone())),
            Err(RoutingError::UnknownSkill { .. })
        ));
        // … until the skill exists; then the new agent serves the raised queue.
        step(&mut r, 4 * S, Input::AddSkills(vec!["claims".into()]));
        c.skills.insert("auto".into(), 9);
        step(&mut r, 4 * S, Input::UpsertAgent(c));
        step(&mut r, 4 * S, Input::UpsertQueue(q.clone()));
        call(&mut r, 5 * S, "c2", "auto");
        let out = step(&mut r, 6 * S, Input::Login { agent: id("c") });
        assert_eq!(offers(&out), [("c2".into(), "c".into())]);
        // Lowering a queue's requirement live lets waiting calls through at once.
        step(
            &mut r,
            7 * S,
            Input::OfferAnswered {
                call: cid("c2"),
                agent: id("c"),
            },
        );
        q.required = [("claims".to_owned(), 5)].into();
        step(&mut r, 7 * S, Input::UpsertQueue(q));
        step(&mut r, 8 * S, Input::CallEnded { call: cid("c1") });
        step(&mut r, 18 * S, Input::Tick);
        // Removing a queue: its waiting calls fall back; new calls are refused.
        let mut cfg_h = QueueConfig::new("health", &[("health", 3)]);
        cfg_h.max_wait_s = 600;
        step(&mut r, 19 * S, Input::UpsertQueue(cfg_h));
        step(&mut r, 19 * S, Input::Logout { agent: id("b") });
        call(&mut r, 20 * S, "c3", "health");
        let out = step(
            &mut r,
            21 * S,
            Input::RemoveQueue {
                queue: "health".into(),
            },
        );
        assert!(out
            .iter()
            .any(|o| matches!(o, Output::Fallback { call, .. } if call.as_str() == "c3")));
        assert_eq!(
            r.handle(
                22 * S,
                Input::CallWaiting(CallRequest::new("c4", "health", Intent::Affirm))
            ),
            Err(RoutingError::QueueRemoved {
                queue: "health".into()
            })
        );
    }

    #[test]
    fn bad_input_is_a_clear_error_and_changes_nothing() {
        let mut r = router(&config(vec![agent("a", &[("health", 5)], &[])]));
        let before = format!("{:?}", r.counters());
        let cases: Vec<(Input, &str)> = vec![
            (
                Input::Login {
                    agent: id("nobody"),
                },
                "unknown agent `nobody`",
            ),
            (Input::Ready { agent: id("a") }, "agent `a` is logged out"),
            (
                Input::Break {
                    agent: id("a"),
                    reason: "lunch".into(),
                },
                "agent `a` is logged out",
            ),
            (
                Input::CallWaiting(CallRequest::new("c", "nope", Intent::Affirm)),
                "unknown queue `nope`",
            ),
            (
                Input::CallWaiting(CallRequest {
                    skills: vec!["helth".into()],
                    ..CallRequest::new("c", "health", Intent::Affirm)
                }),
                "call `c`.skills: unknown skill `helth`",
            ),
            (
                Input::CallWaiting(CallRequest {
                    lead_score: Some(f32::NAN),
                    ..CallRequest::new("c", "health", Intent::Affirm)
                }),
                "call `c`.lead_score",
            ),
            (
                Input::OfferAnswered {
                    call: cid("c"),
                    agent: id("a"),
                },
                "unknown call `c`",
            ),
            (
                Input::Disposition(Disposition {
                    agent: id("a"),
                    call: cid("never"),
                    converted: true,
                    handle_s: None,
                    quality: None,
                }),
                "agent `a` never had call `never`",
            ),
            (
                Input::Disposition(Disposition {
                    agent: id("a"),
                    call: cid("never"),
                    converted: true,
                    handle_s: None,
                    quality: Some(7.0),
                }),
                "disposition of `never`.quality",
            ),
            (
                Input::UpsertAgent(agent("z", &[("helth", 5)], &[])),
                "agent `z`.skills.helth: unknown skill",
            ),
            (
                Input::UpsertQueue(QueueConfig::new("x", &[("auto", 10)])),
                "queue `x`: no agent meets its required skills (auto >= 10)",
            ),
            (
                Input::RemoveQueue {
                    queue: "nope".into(),
                },
                "unknown queue `nope`",
            ),
        ];
        for (input, expected) in cases {
            let err = r.handle(0, input).expect_err(expected);
            assert!(
                err.to_string().starts_with(expected),
                "expected `{expected}`, got `{err}`"
            );
        }
        assert_eq!(format!("{:?}", r.counters()), before);
        assert!(r.drain_outputs().next().is_none());
        assert!(r.agent_status("z").is_none());
        step(&mut r, 0, Input::Login { agent: id("a") });
        step(
            &mut r,
            0,
            Input::CallWaiting(CallRequest::new("dup", "health", Intent::Affirm)),
        );
        assert_eq!(
            r.handle(
                0,
                Input::CallWaiting(CallRequest::new("dup", "health", Intent::Affirm))
            ),
            Err(RoutingError::DuplicateCall { call: cid("dup") })
        );
        assert_eq!(
            r.handle(
                0,
                Input::OfferAnswered {
                    call: cid("dup"),
                    agent: id("nobody")
                }
            ),
            Err(RoutingError::UnknownAgent {
                agent: id("nobody")
            })
        );
        // A queue no remaining agent can serve: its waiting calls fall back at once, new
        // ones are refused (the bot keeps the callee).
        let mut r = router(&config(vec![
            agent("a", &[("health", 5)], &[]),
            agent("b", &[("auto", 5)], &[]),
        ]));
        call(&mut r, 0, "waits", "auto");
        let out = step(&mut r, S, Input::RemoveAgent { agent: id("b") });
        assert!(out
            .iter()
            .any(|o| matches!(o, Output::Fallback { call, .. } if call.as_str() == "waits")));
        assert_eq!(
            r.handle(
                2 * S,
                Input::CallWaiting(CallRequest::new("x", "auto", Intent::Affirm))
            ),
            Err(RoutingError::Unservable {
                queue: "auto".into(),
                required: "auto >= 3".into()
            })
        );
    }

    #[test]
    fn intent_and_topic_maps_decide_the_skill_fit() {
        let mut cfg = config(vec![
            agent("health", &[("health", 9), ("auto", 3)], &[]),
            agent("auto", &[("health", 3), ("auto", 9)], &[]),
        ]);
        cfg.queues.push(QueueConfig::new("any", &[]));
        cfg.intents
            .insert("ask_price".into(), [("auto".to_owned(), 1.0)].into());
        cfg.topics
            .insert("offer_health".into(), [("health".to_owned(), 2.0)].into());
        cfg.max_idle_s = 0;
        let mut r = router(&cfg);
        login(&mut r, 0, &["health", "auto"]);
        let out = step(
            &mut r,
            S,
            Input::CallWaiting(CallRequest::new("p", "any", Intent::AskPrice)),
        );
        assert_eq!(offers(&out), [("p".into(), "auto".into())]);
        let mut req = CallRequest::new("t", "any", Intent::AskPrice);
        req.node = Some("offer_health".into());
        let out = step(&mut r, S, Input::CallWaiting(req));
        assert_eq!(offers(&out), [("t".into(), "health".into())]);
    }

    #[test]
    fn the_dialer_sees_free_soon_and_busy_agents() {
        let mut cfg = config(vec![
            agent("a", &[("health", 5)], &[]),
            agent("b", &[("health", 5)], &[]),
            agent("c", &[("health", 5)], &[]),
            agent("d", &[("auto", 5)], &[]),
        ]);
        cfg.wrap_up_s = 30;
        cfg.soon_horizon_s = 10;
        let mut r = router(&cfg);
        login(&mut r, 0, &["a", "b", "c", "d"]);
        let snap = r.agent_snapshot(0, None).expect("all");
        assert_eq!(
            snap,
            AgentSnapshot {
                free: 4,
                busy: 0,
                soon: 0
            }
        );
        for (i, c) in ["x", "y"].iter().enumerate() {
            call(&mut r, 0, c, "health");
            let who = r
                .log()
                .filter_map(|e| match &e.output {
                    Output::Offer { call, agent, .. } if call.as_str() == *c => Some(agent.clone()),
                    _ => None,
                })
                .last()
                .expect("offered");
            step(
                &mut r,
                i as u64,
                Input::OfferAnswered {
                    call: cid(c),
                    agent: who,
                },
            );
        }
        // Two talking (just started), two free.
        let snap = r.agent_snapshot(S, None).expect("all");
        assert_eq!(
            snap,
            AgentSnapshot {
                free: 2,
                busy: 2,
                soon: 0
            }
        );
        // One call ends: 30 s of wrap-up; at 25 s into it, it counts as soon free.
        step(&mut r, 60 * S, Input::CallEnded { call: cid("x") });
        assert_eq!(r.agent_snapshot(61 * S, None).expect("all").busy, 2);
        assert_eq!(r.agent_snapshot(85 * S, None).expect("all").soon, 1);
        // The health queue's view leaves out `d` (auto only).
        let snap = r.agent_snapshot(61 * S, Some("health")).expect("health");
        assert_eq!(
            snap,
            AgentSnapshot {
                free: 1,
                busy: 2,
                soon: 0
            }
        );
        assert!(r.agent_snapshot(0, Some("nope")).is_err());
        // Talk times of about 60 s learned: a 55 s-old call is expected to end soon.
        let mut t = 100 * S;
        for i in 0..30 {
            let c = format!("h{i}");
            step(&mut r, t, Input::Ready { agent: id("a") });
            step(&mut r, t, Input::Ready { agent: id("b") });
            call(&mut r, t, &c, "health");
            let who = r
                .log()
                .filter_map(|e| match &e.output {
                    Output::Offer { call, agent, .. } if call.as_str() == c => Some(agent.clone()),
                    _ => None,
                })
                .last()
                .expect("offered");
            step(
                &mut r,
                t,
                Input::OfferAnswered {
                    call: cid(&c),
                    agent: who,
                },
            );
            t += 60 * S;
            step(&mut r, t, Input::CallEnded { call: cid(&c) });
        }
        // `y` has been up far longer than any call seen: the memoryless guess.
        let fresh = AgentAvailability::snapshot(&r);
        assert_eq!(fresh.free + fresh.busy + fresh.soon, 4);
    }

    #[test]
    fn the_decision_log_is_bounded() {
        let mut cfg = config(vec![agent("a", &[("health", 5)], &[])]);
        cfg.log_capacity = 3;
        let mut r = router(&cfg);
        login(&mut r, 0, &["a"]);
        for i in 0..10 {
            call(&mut r, i * S, &format!("c{i}"), "health");
            step(
                &mut r,
                i * S,
                Input::CalleeHungUp {
                    call: cid(&format!("c{i}")),
                },
            );
        }
        let log: Vec<_> = r.log().collect();
        assert_eq!(log.len(), 3);
        assert!(log.iter().all(|e| e.at_ms >= 8 * S));
        let json = serde_json::to_string(&log[0]).expect("serialises");
        assert!(json.contains("\"event\""), "{json}");
    }

    #[test]
    fn a_new_day_restarts_the_calls_today() {
        let mut cfg = config(vec![agent("a", &[("health", 5)], &[])]);
        cfg.wrap_up_s = 0;
        let mut r = router(&cfg);
        login(&mut r, 0, &["a"]);
        call(&mut r, 0, "c", "health");
        handled(&mut r, S, 2 * S, "c", "a", true);
        assert_eq!(r.agent_status("a").map(|s| s.calls_today), Some(1));
        step(&mut r, 3 * S, Input::NewDay);
        assert_eq!(r.agent_status("a").map(|s| s.calls_today), Some(0));
        assert_eq!(r.counters().conversions, 1);
    }

    #[test]
    fn an_early_disposition_counts_once() {
        let mut r = router(&config(vec![agent("a", &[("health", 5)], &[])]));
        login(&mut r, 0, &["a"]);
        call(&mut r, 0, "c", "health");
        step(
            &mut r,
            S,
            Input::OfferAnswered {
                call: cid("c"),
                agent: id("a"),
            },
        );
        let d = Disposition {
            agent: id("a"),
            call: cid("c"),
            converted: true,
            handle_s: Some(42.0),
            quality: Some(0.9),
        };
        step(&mut r, 30 * S, Input::Disposition(d.clone()));
        step(&mut r, 40 * S, Input::CallEnded { call: cid("c") });
        assert_eq!(r.agent_status("a").map(|s| s.pending_dispositions), Some(0));
        assert!(matches!(
            r.handle(41 * S, Input::Disposition(d)),
            Err(RoutingError::NeverHad { .. })
        ));
        assert_eq!(r.counters().dispositions, 1);
    }

    // ------------------------------------------------------------ invariants, property test

    /// Everything that must hold between inputs.
    fn check(r: &Router) -> Result<(), String> {
        let mut offered_slots = std::collections::HashSet::new();
        let mut logged_in = 0;
        for (a, ag) in r.agents.iter().enumerate() {
            if ag.presence != Presence::LoggedOut {
                logged_in += 1;
            }
            if let Some(ci) = ag.offer {
                let c = r.calls[ci]
                    .as_ref()
                    .ok_or(format!("agent {a} offered a gone call"))?;
                if c.state != (CallState::Offered { agent: a }) {
                    return Err(format!("agent {a} offered {} in state {:?}", c.id, c.state));
                }
                if !offered_slots.insert(ci) {
                    return Err(format!("call {} offered to two agents", c.id));
                }
            }
            for &(ci, _) in &ag.talking {
                let c = r.calls[ci]
                    .as_ref()
                    .ok_or(format!("agent {a} talks to a gone call"))?;
                if !matches!(c.state, CallState::Connected { agent, .. } if agent == a) {
                    return Err(format!("agent {a} talking to {} in {:?}", c.id, c.state));
                }
            }
            if ag.used() > ag.p.max_concurrent as usize {
                return Err(format!("agent {a} over its concurrency"));
            }
        }
        if logged_in != r.logged_in {
            return Err(format!("logged_in {} != {logged_in}", r.logged_in));
        }
        for (slot, c) in r.calls.iter().enumerate() {
            let Some(c) = c else { continue };
            if r.call_index.get(&c.id) != Some(&slot) {
                return Err(format!("call {} not indexed at its slot", c.id));
            }
            let in_line = r.waiting.iter().filter(|&&s| s == slot).count();
            match c.state {
                CallState::Waiting if in_line != 1 => {
                    return Err(format!("waiting call {} in line {in_line} times", c.id))
                }
                CallState::Waiting => {
                    if let Some(a) = r
                        .agents
                        .iter()
                        .position(|ag| ag.free(r.now) && r.eligible(c, ag))
                    {
                        return Err(format!("call {} waits while agent {a} is free", c.id));
                    }
                }
                _ if in_line != 0 => {
                    return Err(format!("call {} in line while {:?}", c.id, c.state))
                }
                CallState::Offered { agent } if r.agents[agent].offer != Some(slot) => {
                    return Err(format!(
                        "call {} offered to {agent} who does not know",
                        c.id
                    ))
                }
                CallState::Connected { agent, .. }
                    if !r.agents[agent].talking.iter().any(|&(s, _)| s == slot) =>
                {
                    return Err(format!(
                        "call {} connected to {agent} who does not know",
                        c.id
                    ))
                }
                _ => {}
            }
        }
        if r.call_index.len() != r.calls.iter().flatten().count() {
            return Err("index and slots disagree".into());
        }
        let keys: Vec<_> = r
            .waiting
            .iter()
            .map(|&s| r.calls[s].as_ref().map(|c| (c.arrived, c.gen)))
            .collect();
        if keys.windows(2).any(|w| w[0] > w[1]) {
            return Err("waiting line out of order".into());
        }
        Ok(())
    }

    #[derive(Clone, Debug)]
    enum Op {
        Wait(u64),
        Login(usize),
        Ready(usize),
        Break(usize),
        Logout(usize),
        Call {
            c: usize,
            q: usize,
            lang: usize,
            lead: u8,
            prev: usize,
        },
        Answer(usize, usize),
        NoAnswer(usize, usize),
        Reject(usize, usize),
        Hangup(usize),
        End(usize),
        Dispose {
            a: usize,
            c: usize,
            converted: bool,
        },
        Remove(usize),
        Readd(usize),
        Strategy(usize),
        Requeue(usize, u8),
        /// The k-th call ringing an agent is answered (by that agent).
        AnswerOffered(usize),
        /// The k-th connected call ends.
        EndConnected(usize),
        /// The k-th disposition an agent still owes comes in.
        DisposePending(usize, bool),
    }

    const AGENTS: [&str; 4] = ["a0", "a1", "a2", "a3"];
    const QUEUES: [&str; 3] = ["health", "auto", "both"];
    const LANGS: [Option<&str>; 3] = [None, Some("en"), Some("fr")];

    fn op() -> impl Generator<Value = Op> {
        prop_oneof![
            1 => (0u64..40_000).prop_map(Op::Wait),
            1 => (0..4usize).prop_map(Op::Login),
            1 => (0..4usize).prop_map(Op::Ready),
            1 => (0..4usize).prop_map(Op::Break),
            1 => (0..4usize).prop_map(Op::Logout),
            1 => (0..8usize, 0..3usize, 0..3usize, 0..=10u8, 0..5usize)
                .prop_map(|(c, q, lang, lead, prev)| Op::Call { c, q, lang, lead, prev }),
            1 => (0..8usize, 0..5usize).prop_map(|(c, a)| Op::Answer(c, a)),
            1 => (0..8usize, 0..5usize).prop_map(|(c, a)| Op::NoAnswer(c, a)),
            1 => (0..8usize, 0..5usize).prop_map(|(c, a)| Op::Reject(c, a)),
            1 => (0..8usize).prop_map(Op::Hangup),
            1 => (0..8usize).prop_map(Op::End),
            1 => (0..4usize, 0..8usize, any::<bool>())
                .prop_map(|(a, c, converted)| Op::Dispose { a, c, converted }),
            1 => (0..4usize).prop_map(Op::Remove),
            1 => (0..4usize).prop_map(Op::Readd),
            1 => (0..4usize).prop_map(Op::Strategy),
            1 => (0..3usize, 0..10u8).prop_map(|(q, l)| Op::Requeue(q, l)),
            3 => (0..8usize).prop_map(Op::AnswerOffered),
            2 => (0..8usize).prop_map(Op::EndConnected),
            2 => (0..8usize, any::<bool>()).prop_map(|(k, c)| Op::DisposePending(k, c)),
        ]
    }

    fn prop_config() -> RoutingConfig {
        let mut agents = vec![
            agent("a0", &[("health", 5)], &["en"]),
            agent("a1", &[("auto", 7)], &["en", "zh"]),
            agent("a2", &[("health", 8), ("auto", 3)], &["zh"]),
            agent("a3", &[("health", 2), ("auto", 2)], &[]),
        ];
        agents[3].max_concurrent = 2;
        agents[1].wrap_up_s = Some(0);
        let mut queues = vec![
            QueueConfig::new("health", &[("health", 4)]),
            QueueConfig::new("auto", &[("auto", 3)]),
            QueueConfig::new("both", &[("health", 2), ("auto", 2)]),
        ];
        queues[0].widen = vec![WidenStage {
            after_s: 15,
            required: [("health".to_owned(), 2)].into(),
            any_language: true,
        }];
        queues[0].max_wait_s = 60;
        queues[1].priority = 1;
        queues[2].fallback = FallbackPolicy::Callback;
        RoutingConfig {
            skills: vec!["health".into(), "auto".into()],
            agents,
            queues,
            max_no_answer: 2,
            max_idle_s: 30,
            ..RoutingConfig::default()
        }
    }

    fn agent_id(i: usize) -> AgentId {
        id(AGENTS.get(i).copied().unwrap_or("ghost"))
    }

    /// The agent call `c` is offered to, or a pick of the test's.
    fn target(r: &Router, c: &CallId, fallback: usize) -> AgentId {
        match r.call_index.get(c).map(|&s| r.call(s).state) {
            Some(CallState::Offered { agent }) | Some(CallState::Connected { agent, .. })
                if fallback.is_multiple_of(2) =>
            {
                r.agents[agent].p.id.clone()
            }
            _ => agent_id(fallback),
        }
    }

    /// The k-th (cycling) call in a state, with its agent.
    fn nth_call(r: &Router, k: usize, offered: bool) -> Option<(CallId, AgentId)> {
        let calls: Vec<_> = r
            .calls
            .iter()
            .flatten()
            .filter_map(|c| match c.state {
                CallState::Offered { agent } if offered => Some((c.id.clone(), agent)),
                CallState::Connected { agent, .. } if !offered => Some((c.id.clone(), agent)),
                _ => None,
            })
            .collect();
        let (call, a) = calls.get(k % calls.len().max(1))?.clone();
        Some((call, r.agents[a].p.id.clone()))
    }

    fn apply(r: &mut Router, now: &mut u64, op: Op) {
        let c = |i: usize| cid(&format!("call{i}"));
        let input = match op {
            Op::AnswerOffered(k) => match nth_call(r, k, true) {
                Some((call, agent)) => Input::OfferAnswered { call, agent },
                None => Input::Tick,
            },
            Op::EndConnected(k) => match nth_call(r, k, false) {
                Some((call, _)) => Input::CallEnded { call },
                None => Input::Tick,
            },
            Op::DisposePending(k, converted) => {
                let owed: Vec<_> = r
                    .agents
                    .iter()
                    .flat_map(|ag| {
                        ag.pending
                            .iter()
                            .filter(|p| !p.disposed)
                            .map(|p| (ag.p.id.clone(), p.call.clone()))
                    })
                    .collect();
                match owed.get(k % owed.len().max(1)) {
                    Some((agent, call)) => Input::Disposition(Disposition {
                        agent: agent.clone(),
                        call: call.clone(),
                        converted,
                        handle_s: Some(30.0),
                        quality: None,
                    }),
                    None => Input::Tick,
                }
            }
            Op::Wait(ms) => {
                *now += ms;
                Input::Tick
            }
            Op::Login(a) => Input::Login { agent: agent_id(a) },
            Op::Ready(a) => Input::Ready { agent: agent_id(a) },
            Op::Break(a) => Input::Break {
                agent: agent_id(a),
                reason: "lunch".into(),
            },
            Op::Logout(a) => Input::Logout { agent: agent_id(a) },
            Op::Call {
                c: i,
                q,
                lang,
                lead,
                prev,
            } => Input::CallWaiting(CallRequest {
                language: LANGS[lang].map(str::to_owned),
                lead_score: Some(f32::from(lead) / 10.0),
                previous_agent: Some(agent_id(prev)),
                ..CallRequest::new(&format!("call{i}"), QUEUES[q], Intent::AskPrice)
            }),
            Op::Answer(i, a) => Input::OfferAnswered {
                call: c(i),
                agent: target(r, &c(i), a),
            },
            Op::NoAnswer(i, a) => Input::OfferNotAnswered {
                call: c(i),
                agent: target(r, &c(i), a),
            },
            Op::Reject(i, a) => Input::OfferRejected {
                call: c(i),
                agent: target(r, &c(i), a),
            },
            Op::Hangup(i) => Input::CalleeHungUp { call: c(i) },
            Op::End(i) => Input::CallEnded { call: c(i) },
            Op::Dispose { a, c: i, converted } => Input::Disposition(Disposition {
                agent: agent_id(a),
                call: c(i),
                converted,
                handle_s: None,
                quality: Some(0.5),
            }),
            Op::Remove(a) => Input::RemoveAgent { agent: agent_id(a) },
            Op::Readd(a) => Input::UpsertAgent(prop_config().agents[a].clone()),
            Op::Strategy(s) => Input::SetStrategy(Strategy::ALL[s]),
            Op::Requeue(q, level) => {
                let mut cfg = prop_config().queues[q].clone();
                cfg.required.insert(QUEUES[q.min(1)].to_owned(), level);
                cfg.max_wait_s = 10 + u32::from(level) * 5;
                Input::UpsertQueue(cfg)
            }
        };
        let before = format!("{:?}", r.counters());
        if r.handle(*now, input).is_err() {
            assert_eq!(
                format!("{:?}", r.counters()),
                before,
                "a refused input changed counters"
            );
        }
        for o in r.drain_outputs() {
            // Every output serialises (the log and the desktop read them as JSON).
            serde_json::to_string(&o).expect("serialises");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]

        #[test]
        fn random_inputs_keep_the_router_consistent(ops in proptest::collection::vec(op(), 1..120)) {
            let mut r = router(&prop_config());
            let mut now = 0;
            for op in ops {
                apply(&mut r, &mut now, op.clone());
                if let Err(e) = check(&r) {
                    prop_assert!(false, "after {:?}: {}", op, e);
                }
            }
            // Time passing alone drains every waiting call (fallback at the maximum wait):
            // nothing stays stuck.
            for a in 0..4 {
                let _ = r.handle(now, Input::Logout { agent: agent_id(a) });
            }
            now += 3_600_000;
            r.handle(now, Input::Tick).expect("tick");
            prop_assert_eq!(r.waiting(), 0);
            prop_assert!(check(&r).is_ok());
        }
    }
}
