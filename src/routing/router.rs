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
//! waiting call has a free agent it could take — but one the score holds: a call worth more
//! than average may wait, within its queue's `hold_s` (at most half its service level), for
//! a clearly better agent whose wrap-up ends by then and whom no other waiting call needs
//! ([`Output::Held`]); the agent takes it as soon as it is free, and if it leaves instead
//! the call is placed as any other.
//!
//! Fairness under the score strategy: (1) an eligible agent idle for `max_idle_s` or more
//! takes precedence over the score — the longest idle of them gets the call — so no
//! eligible agent is starved however low it scores; from half that idle time, it already
//! takes precedence for calls worth less than average, so the work the rule requires goes
//! to the calls that lose least with a weaker agent; (2) an agent whose occupancy is above
//! `max_occupancy` is neither offered a call nor has one held for it while an eligible agent
//! below it is free.
//!
//! Learning: dispositions update the agent's conversion counts on the call's main skill, its
//! handle time and quality, its team's and the overall ones, and how the callee's lead
//! score scales conversion ([`super::stats`]); the router never sees true conversion rates.
//! [`Router::performance`] and [`Input::Restore`] carry what it learned across restarts.
//!
//! This file holds the state machines, timers and bookkeeping; `matching` (eligibility, the
//! score's components, the choices) and `availability` (the predictive dialer's input) are
//! its child modules, and `tests` runs it all on simulated time.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};

use serde::Serialize;

use super::config::{
    self, AgentConfig, AgentProfile, Catalogue, FallbackPolicy, LangId, QueueConfig, QueueRules,
    RoutingConfig, Settings, SkillId, Strategy,
};
use super::score::{self, AgentSide, Reasons, Rule, COMPONENTS, MATCH_COMPONENTS};
use super::stats::{self, Counts, HandleTimes, LeadCurve, Mean, Occupancy};
use super::{AgentId, CallId, RoutingError};
use crate::campaign::pacing::{AgentAvailability, AgentSnapshot};
use crate::nlu::Intent;

mod availability;
mod matching;
#[cfg(test)]
mod tests;

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
    /// The bridged call ended (either side hung up): the agent goes to wrap-up. For a call
    /// not connected yet it counts as the callee hanging up.
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

/// What a disposition teaches: the call's main skill and lead, its outcome.
struct Learned {
    skill: Option<SkillId>,
    lead: Option<f32>,
    converted: bool,
    handle_s: f64,
    quality: Option<f64>,
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
    /// The call waits for `agent`, whose wrap-up ends by `until_ms`, though an agent is
    /// free: it is worth `gain` more conversions (in average calls) with that agent. It is
    /// offered to it as soon as it is free, or placed as any call at `until_ms`.
    Held {
        call: CallId,
        agent: AgentId,
        until_ms: u64,
        gain: f32,
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
    /// The callee's lead score, when the transfer gave one.
    lead: Option<f32>,
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
    /// A waiting call held for this agent until its wrap-up ends.
    reserved: Option<usize>,
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
            reserved: None,
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
    /// The lead score the transfer gave, if any; `lead` is 0.5 without one.
    lead_score: Option<f32>,
    lead: f32,
    previous: Option<usize>,
    callback_at: Option<i64>,
    arrived: u64,
    stage: usize,
    state: CallState,
    /// Waiting for this agent until then (see [`Output::Held`]).
    held: Option<(usize, u64)>,
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
    Hold { slot: usize, gen: u64 },
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
    /// How the lead score scales conversion, learned from every disposition.
    lead_curve: LeadCurve,
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
            lead_curve: LeadCurve::default(),
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
            TimerKind::Hold { slot, gen } => {
                // Only this hold's own end (a call may be held again after a release).
                let now = self.now;
                let held = self.call_at(slot, gen).is_some_and(|c| {
                    c.state == CallState::Waiting && c.held.is_some_and(|(_, u)| u <= now)
                });
                if held {
                    self.release(slot);
                    self.place_call(slot);
                }
            }
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

    /// The agent stopped taking calls: a ringing offer goes back in line, a call held for
    /// it is placed as any other.
    fn leave(&mut self, a: usize) {
        if let Some(ci) = self.agents[a].reserved {
            self.release(ci);
            self.place_call(ci);
        }
        if let Some(ci) = self.agents[a].offer.take() {
            self.agents[a].offer_gen += 1;
            self.withdraw(ci, a, Withdrawn::AgentLeft);
            self.settle(a);
            self.requeue(ci);
        } else {
            self.settle(a);
        }
    }

    /// Ends a call's hold, if any.
    fn release(&mut self, ci: usize) {
        if let Some((a, _)) = self.call_mut(ci).held.take() {
            self.agents[a].reserved = None;
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
            lead_score: req.lead_score,
            lead,
            previous,
            callback_at: req.callback_at,
            arrived: now,
            stage: 0,
            state: CallState::Waiting,
            held: None,
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
            // The maximum-wait timer may have fired while the call rang (it re-arms only
            // for waiting calls), and the queue's maximum may have changed since: check
            // again at the due time, so no call waits for ever.
            let due = key.0 + slot.rules.max_wait_ms;
            self.arm(
                due,
                TimerKind::MaxWait {
                    slot: ci,
                    gen: key.1,
                },
            );
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
                lead: c.lead_score,
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
        if let Some((a, _)) = c.held {
            self.agents[a].reserved = None;
        }
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
                c.add_unleaded(calls, converted);
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
        let (skill, lead, talk_ms) = if let Some(p) = self.agents[a]
            .pending
            .iter_mut()
            .rev()
            .find(|p| p.call == d.call)
        {
            if p.disposed {
                return Err(already());
            }
            p.disposed = true;
            (p.skill, p.lead, p.talk_ms)
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
            (c.primary, c.lead_score, now.saturating_sub(since))
        };
        let handle_s = d.handle_s.map_or(talk_ms as f64 / 1000.0, f64::from);
        let call = Learned {
            skill,
            lead,
            converted: d.converted,
            handle_s,
            quality: d.quality.map(f64::from),
        };
        self.learn(a, call);
        Ok(())
    }

    fn learn(&mut self, a: usize, call: Learned) {
        let Learned {
            skill,
            lead,
            converted,
            handle_s,
            quality,
        } = call;
        self.counters.dispositions += 1;
        self.counters.conversions += u64::from(converted);
        let t = self.agents[a].team;
        if let Some(s) = skill {
            // Expected at the team's rate, for this lead, before this call counts.
            let multiplier = self.lead_curve.multiplier(lead);
            let expected = f64::from(self.team_rate(t, s)) * multiplier;
            let ag = &mut self.agents[a];
            ag.lift_expected += expected;
            ag.lift_converted += u32::from(converted);
            let before = ag.perf[s].leads;
            ag.perf[s].add(converted, lead);
            self.lead_curve.update(&before, &ag.perf[s].leads);
            self.teams[t].perf[s].add(converted, lead);
            self.overall[s].add(converted, lead);
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

    /// Re-estimates skill `s`'s moments and the pooled shrinkage strength: the estimate
    /// when the agents differ more than the configured strength says, the configured one
    /// otherwise (see [`RoutingConfig::prior_strength`]).
    fn update_strength(&mut self, s: SkillId) {
        let curve = &self.lead_curve;
        self.moments[s] = stats::Moments::of(
            self.agents
                .iter()
                .map(|ag| (ag.perf[s].converted, curve.exposure(&ag.perf[s]))),
        );
        let prior = self.s.prior_strength;
        self.strength =
            stats::pooled_strength(self.moments.iter().flatten().copied(), prior).min(prior);
    }

    /// The team's rate on a skill (per average call), shrunk toward the overall rate.
    fn team_rate(&self, t: usize, s: SkillId) -> f32 {
        let team = &self.teams[t].perf[s];
        stats::shrink(
            team.converted,
            self.lead_curve.exposure(team),
            self.overall[s].smoothed(&self.lead_curve),
            self.strength,
        )
    }

    /// Shrunk conversion estimate of agent `a` on skill `s`: toward the team's rate times
    /// the agent's lift across skills.
    fn estimate(&self, a: usize, s: SkillId) -> f32 {
        let ag = &self.agents[a];
        let lift = stats::lift(ag.lift_converted, ag.lift_expected, self.lift_alpha);
        let prior = (self.team_rate(ag.team, s) * lift).min(0.99);
        let own = &ag.perf[s];
        stats::shrink(
            own.converted,
            self.lead_curve.exposure(own),
            prior,
            self.strength,
        )
    }
}
