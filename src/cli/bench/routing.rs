//! `aicall bench routing`: the agent router's figures.
//!
//! 1. One simulated day (discrete events on simulated time): `agents` agents whose skills,
//!    levels, languages, handle times, answering habits and *hidden* conversion rates per
//!    skill differ; `transfers` transfers with a product, an intent, a language and a lead
//!    score, arriving with a morning and an afternoon peak; callees who hang up when they
//!    wait longer than their patience; ring time, unanswered and rejected offers, wrap-up,
//!    breaks. The same day (same traffic, same per-call random draws) runs under each
//!    strategy — longest-idle (mod_callcenter's default), top-down, skills-only and aicall's
//!    score — through the real [`Router`]; the router learns conversion only from the
//!    dispositions the simulated agents send after each call.
//! 2. Decision latency: `latency_agents` agents (default 1,000), all busy, with
//!    `latency_waiting` calls waiting (default 500); an agent's call ends and the router picks
//!    its next call among the waiting ones — the time of that input, many times over. Also
//!    the other side: a call arriving while every agent is free.
//!
//! Per strategy: conversions, service level (answered within 20 s over all transfers),
//! abandon rate, mean wait of answered calls, occupancy spread (max − min of busy over
//! staffed time). Last line: `key=value` figures.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::process::ExitCode;
use std::time::Instant;

use aicall::nlu::Intent;
use aicall::routing::{
    AgentConfig, AgentId, AgentState, CallId, CallRequest, Disposition, Input, Output,
    PerformanceRecord, QueueConfig, Router, RoutingConfig, Strategy, Weights, WidenStage,
};
use clap::Args;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

#[derive(Debug, Args)]
pub struct RoutingArgs {
    #[arg(long, default_value_t = 30)]
    pub agents: usize,
    #[arg(long, default_value_t = 10_000)]
    pub transfers: usize,
    /// Length of the day's arrivals.
    #[arg(long, default_value_t = 12.0)]
    pub hours: f64,
    /// The first seed; seeds `seed`, `seed + 1`, … give one centre (agents and traffic) each.
    #[arg(long, default_value_t = 17)]
    pub seed: u64,
    /// Centres simulated, one per seed: one seed's comparison moves by a few points with
    /// the draw, so the summary is their mean (the tables show the first).
    #[arg(long, default_value_t = 8)]
    pub seeds: u64,
    #[arg(long, default_value_t = 1_000)]
    pub latency_agents: usize,
    #[arg(long, default_value_t = 500)]
    pub latency_waiting: usize,
    /// Timed decisions of each kind.
    #[arg(long, default_value_t = 20_000)]
    pub decisions: usize,
    /// Score weights for every queue, `name=value,...` (e.g. `performance=2,value=3`);
    /// unnamed ones keep their defaults.
    #[arg(long)]
    pub weights: Option<String>,
    /// Also run the score with the hidden conversion rates given to the router up front:
    /// the ceiling its learning aims at (not a strategy a centre can run).
    #[arg(long)]
    pub oracle: bool,
    /// The router's starvation cap (`max_idle_s`); 0 turns it off.
    #[arg(long, default_value_t = RoutingConfig::default().max_idle_s)]
    pub max_idle_s: u32,
    /// The router's occupancy cap (`max_occupancy`).
    #[arg(long, default_value_t = RoutingConfig::default().max_occupancy)]
    pub max_occupancy: f32,
}

/// `name=value,...` as [`Weights`], refusing unknown names.
fn parse_weights(spec: &str) -> anyhow::Result<Weights> {
    let mut doc = String::new();
    for pair in spec.split(',').filter(|p| !p.trim().is_empty()) {
        let (k, v) = pair
            .split_once('=')
            .ok_or_else(|| anyhow::anyhow!("--weights: `{pair}` is not name=value"))?;
        let v: f32 = v
            .trim()
            .parse()
            .map_err(|_| anyhow::anyhow!("--weights: `{v}` is not a number"))?;
        doc.push_str(&format!("{} = {v:?}\n", k.trim()));
    }
    toml::from_str(&doc).map_err(|e| anyhow::anyhow!("--weights: {}", e.message()))
}

const SKILLS: [&str; 4] = ["health", "auto", "life", "claims"];
/// Share of the transfers per product (skill).
const MIX: [f64; 4] = [0.35, 0.30, 0.20, 0.15];
/// Mean conversion per product at an average agent and lead.
const BASE_RATE: [f64; 4] = [0.20, 0.16, 0.14, 0.10];
const SERVICE_LEVEL_MS: u64 = 20_000;
/// The switch gives up ringing an agent after this long.
const SWITCH_RING_TIMEOUT_MS: u64 = 15_000;
const REJECT_P: f64 = 0.005;
const WRAP_UP_S: u32 = 10;
/// An agent put on break for not answering notices and is ready again after this long.
const NO_ANSWER_BREAK_MS: u64 = 60_000;
/// Patience of a transferred callee on hold: log-normal, median 100 s, σ 0.8 (few hang
/// up in the first seconds after "please hold", some wait minutes).
const PATIENCE_MEDIAN_S: f64 = 100.0;
const PATIENCE_SIGMA: f64 = 0.8;

/// An agent as the simulation knows it: its configuration and its hidden truths.
#[derive(Clone, Debug)]
struct SimAgent {
    cfg: AgentConfig,
    /// True conversion rate per skill at an average lead.
    rate: [f64; 4],
    mean_handle_s: f64,
    no_answer_p: f64,
    quality: f64,
    speaks_en: bool,
}

/// One transfer, with every random draw it needs fixed in advance so that each strategy
/// sees the same callee behave the same way.
#[derive(Clone, Debug)]
struct Transfer {
    at_ms: u64,
    skill: usize,
    intent: Intent,
    en: bool,
    lead: f32,
    patience_ms: u64,
    previous: Option<usize>,
    /// Uniform draw: converted when below the agent's probability.
    convert_u: f64,
    /// Standard normal draw for the handle time.
    handle_z: f64,
    /// Uniform draws for the offers' outcomes and ring times.
    offer_u: [f64; 8],
}

#[derive(Clone, Debug)]
struct Break {
    agent: usize,
    start_ms: u64,
    end_ms: u64,
}

#[derive(Debug)]
struct World {
    agents: Vec<SimAgent>,
    transfers: Vec<Transfer>,
    breaks: Vec<Break>,
}

fn normal(rng: &mut StdRng) -> f64 {
    // Box–Muller; 1 − u keeps the logarithm finite.
    let u1: f64 = 1.0 - rng.random::<f64>();
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

fn gamma_int(rng: &mut StdRng, k: u32) -> f64 {
    (0..k).map(|_| -(1.0 - rng.random::<f64>()).ln()).sum()
}

/// Beta(a, b) for integer shapes, as a ratio of gammas.
fn beta(rng: &mut StdRng, a: u32, b: u32) -> f64 {
    let x = gamma_int(rng, a);
    let y = gamma_int(rng, b);
    x / (x + y)
}

fn logit(p: f64) -> f64 {
    (p / (1.0 - p)).ln()
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

fn pick(rng: &mut StdRng, weights: &[f64]) -> usize {
    let total: f64 = weights.iter().sum();
    let mut u = rng.random::<f64>() * total;
    for (i, w) in weights.iter().enumerate() {
        if u < *w {
            return i;
        }
        u -= w;
    }
    weights.len() - 1
}

/// Day `day` of the centre: the agents (the same every day, from the seed alone) and that
/// day's transfers and breaks (from the seed and the day).
fn world(args: &RoutingArgs, seed: u64, day: u64) -> World {
    let mut rng = StdRng::seed_from_u64(seed);
    let day_ms = (args.hours * 3_600_000.0) as u64;
    let mut agents = Vec::with_capacity(args.agents);
    for i in 0..args.agents {
        let primary = i % SKILLS.len();
        let mut secondary = rng.random_range(0..SKILLS.len() - 1);
        if secondary >= primary {
            secondary += 1;
        }
        let mut levels = [0u8; 4];
        levels[primary] = rng.random_range(6..=9);
        levels[secondary] = rng.random_range(4..=7);
        if rng.random_bool(0.5) {
            let third = (0..SKILLS.len())
                .filter(|s| *s != primary && *s != secondary)
                .nth(rng.random_range(0..2))
                .unwrap_or(primary);
            levels[third] = rng.random_range(1..=4);
        }
        let talent = 0.35 * normal(&mut rng);
        let mut rate = [0.0; 4];
        for s in 0..SKILLS.len() {
            let level = f64::from(levels[s].max(1));
            let own = 0.35 * normal(&mut rng);
            rate[s] = sigmoid(logit(BASE_RATE[s]) + talent + own + 0.04 * (level - 5.0));
        }
        let speaks_en = rng.random_bool(0.4);
        let mut cfg = AgentConfig::new(
            &format!("a{i:02}"),
            &format!("user/{}", 1000 + i),
            &levels
                .iter()
                .enumerate()
                .filter(|(_, l)| **l > 0)
                .map(|(s, l)| (SKILLS[s], *l))
                .collect::<Vec<_>>(),
        );
        cfg.languages = if speaks_en {
            vec!["zh".into(), "en".into()]
        } else {
            vec!["zh".into()]
        };
        cfg.team = ["north", "south", "east"][i % 3].into();
        agents.push(SimAgent {
            cfg,
            rate,
            mean_handle_s: rng.random_range(50.0..80.0),
            no_answer_p: rng.random_range(0.005..0.05),
            quality: rng.random_range(0.55..0.95),
            speaks_en,
        });
    }
    let mut rng = StdRng::seed_from_u64(seed ^ day.wrapping_mul(0x9e37_79b9_7f4a_7c15));
    // Arrivals: half spread over the day, a quarter around each peak (2.5 h and 7.5 h in).
    let h = 3_600_000.0;
    let mut times: Vec<u64> = (0..args.transfers)
        .map(|_| loop {
            let t = match pick(&mut rng, &[0.5, 0.25, 0.25]) {
                0 => rng.random::<f64>() * args.hours * h,
                1 => (2.5 + 1.2 * normal(&mut rng)) * h,
                _ => (7.5 + 1.4 * normal(&mut rng)) * h,
            };
            if (0.0..day_ms as f64).contains(&t) {
                break t as u64;
            }
        })
        .collect();
    times.sort_unstable();
    let transfers = times
        .into_iter()
        .map(|at_ms| {
            let skill = pick(&mut rng, &MIX);
            let intent = [
                Intent::AskPrice,
                Intent::AskDetail,
                Intent::RequestHuman,
                Intent::Complaint,
            ][pick(&mut rng, &[0.4, 0.25, 0.2, 0.15])];
            let previous = rng
                .random_bool(0.1)
                .then(|| rng.random_range(0..args.agents));
            let mut offer_u = [0.0; 8];
            for u in &mut offer_u {
                *u = rng.random();
            }
            Transfer {
                at_ms,
                skill,
                intent,
                en: rng.random_bool(0.2),
                lead: beta(&mut rng, 2, 3) as f32,
                patience_ms: (PATIENCE_MEDIAN_S
                    * (PATIENCE_SIGMA * normal(&mut rng)).exp()
                    * 1000.0) as u64,
                previous,
                convert_u: rng.random(),
                handle_z: normal(&mut rng),
                offer_u,
            }
        })
        .collect();
    // Two 10-minute breaks and a 30-minute lunch per agent, staggered.
    let mut breaks = Vec::new();
    let hours = args.hours;
    for a in 0..args.agents {
        for (from, to, mins) in [(0.15, 0.25, 10.0), (0.35, 0.55, 30.0), (0.7, 0.85, 10.0)] {
            let start = rng.random_range(from * hours..to * hours) * h;
            breaks.push(Break {
                agent: a,
                start_ms: start as u64,
                end_ms: (start + mins * 60_000.0) as u64,
            });
        }
    }
    World {
        agents,
        transfers,
        breaks,
    }
}

/// The router's configuration for the day: a queue per product, widened after 30 s to any
/// agent with the skill and after 60 s to any language; four minutes at most on hold.
fn routing_config(
    w: &World,
    strategy: Strategy,
    weights: &Weights,
    args: &RoutingArgs,
) -> RoutingConfig {
    let queues = SKILLS
        .iter()
        .map(|s| {
            let mut q = QueueConfig::new(s, &[(s, 4)]);
            q.widen = vec![
                WidenStage {
                    after_s: 30,
                    required: [((*s).to_owned(), 1)].into(),
                    any_language: false,
                },
                WidenStage {
                    after_s: 60,
                    required: [((*s).to_owned(), 1)].into(),
                    any_language: true,
                },
            ];
            q.max_wait_s = 240;
            q.weights = weights.clone();
            q
        })
        .collect();
    RoutingConfig {
        strategy,
        skills: SKILLS.iter().map(|s| (*s).to_owned()).collect(),
        wrap_up_s: WRAP_UP_S,
        intents: [("complaint".to_owned(), [("claims".to_owned(), 0.5)].into())].into(),
        agents: w.agents.iter().map(|a| a.cfg.clone()).collect(),
        queues,
        max_idle_s: args.max_idle_s,
        max_occupancy: args.max_occupancy,
        ..RoutingConfig::default()
    }
}

#[derive(Clone, Copy, Debug, Default)]
struct DayFigures {
    transfers: usize,
    answered: usize,
    within_sl: usize,
    abandoned: usize,
    fallbacks: usize,
    conversions: usize,
    wait_ms_sum: u64,
    occupancy_min: f64,
    occupancy_max: f64,
    offers: u64,
    no_answers: u64,
}

impl DayFigures {
    fn service_level(&self) -> f64 {
        self.within_sl as f64 / self.transfers.max(1) as f64
    }
    fn abandon_rate(&self) -> f64 {
        self.abandoned as f64 / self.transfers.max(1) as f64
    }
    fn mean_wait_s(&self) -> f64 {
        self.wait_ms_sum as f64 / self.answered.max(1) as f64 / 1000.0
    }
    fn occupancy_spread(&self) -> f64 {
        self.occupancy_max - self.occupancy_min
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Ev {
    Arrive(usize),
    Answer { call: usize, offer: u32 },
    NoAnswer { call: usize, offer: u32 },
    Reject { call: usize, offer: u32 },
    Patience(usize),
    End(usize),
    Dispose { call: usize, agent: usize },
    BreakStart(usize),
    BreakEnd(usize),
    BackFromNoAnswer(usize),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Status {
    NotYet,
    Waiting,
    Ringing { offer: u32, agent: usize },
    Talking { agent: usize },
    Done,
}

struct Day<'w> {
    w: &'w World,
    r: Router,
    heap: BinaryHeap<Reverse<(u64, u64, Ev)>>,
    seq: u64,
    status: Vec<Status>,
    offers: Vec<u32>,
    converted: Vec<bool>,
    f: DayFigures,
}

fn call_index(id: &CallId) -> anyhow::Result<usize> {
    id.as_str()
        .strip_prefix('t')
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("unexpected call id {id}"))
}

fn agent_index(id: &AgentId) -> anyhow::Result<usize> {
    id.as_str()
        .strip_prefix('a')
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("unexpected agent id {id}"))
}

fn call_id(i: usize) -> CallId {
    CallId::from(format!("t{i}"))
}

impl<'w> Day<'w> {
    fn new(
        w: &'w World,
        strategy: Strategy,
        weights: &Weights,
        args: &RoutingArgs,
        restore: Option<Vec<PerformanceRecord>>,
    ) -> anyhow::Result<Self> {
        let mut r = Router::new(&routing_config(w, strategy, weights, args))?;
        if let Some(records) = restore {
            r.handle(0, Input::Restore(records))?;
        }
        let n = w.transfers.len();
        Ok(Self {
            w,
            r,
            heap: BinaryHeap::new(),
            seq: 0,
            status: vec![Status::NotYet; n],
            offers: vec![0; n],
            converted: vec![false; n],
            f: DayFigures {
                transfers: n,
                ..DayFigures::default()
            },
        })
    }

    fn at(&mut self, t: u64, ev: Ev) {
        self.seq += 1;
        self.heap.push(Reverse((t, self.seq, ev)));
    }

    fn agent_id(&self, a: usize) -> AgentId {
        AgentId::new(&self.w.agents[a].cfg.id)
    }

    fn input(&mut self, now: u64, input: Input) -> anyhow::Result<()> {
        self.r.handle(now, input)?;
        while let Some(o) = self.r.poll_output() {
            self.output(now, o)?;
        }
        Ok(())
    }

    /// Conversion probability of agent `a` on transfer `t`.
    fn p_convert(&self, a: usize, t: &Transfer) -> f64 {
        let agent = &self.w.agents[a];
        let lead_factor = 0.4 + 1.2 * f64::from(t.lead);
        let language = if t.en && !agent.speaks_en { 0.4 } else { 1.0 };
        (agent.rate[t.skill] * lead_factor).min(0.95) * language
    }

    fn output(&mut self, now: u64, o: Output) -> anyhow::Result<()> {
        match o {
            Output::Offer { call, agent, .. } => {
                let (i, a) = (call_index(&call)?, agent_index(&agent)?);
                self.offers[i] += 1;
                let offer = self.offers[i];
                self.status[i] = Status::Ringing { offer, agent: a };
                let t = &self.w.transfers[i];
                let u = t.offer_u[(offer as usize - 1) % t.offer_u.len()];
                let agent = &self.w.agents[a];
                if u < agent.no_answer_p {
                    self.at(
                        now + SWITCH_RING_TIMEOUT_MS,
                        Ev::NoAnswer { call: i, offer },
                    );
                } else if u < agent.no_answer_p + REJECT_P {
                    self.at(now + 3_000, Ev::Reject { call: i, offer });
                } else {
                    // 2–6 s of ringing, from the same draw.
                    let ring = 2_000 + (u * 4_000.0) as u64;
                    self.at(now + ring, Ev::Answer { call: i, offer });
                }
            }
            Output::Withdraw { call, .. } => {
                let i = call_index(&call)?;
                if matches!(self.status[i], Status::Ringing { .. }) {
                    self.status[i] = Status::Waiting;
                }
            }
            Output::Connected {
                call,
                agent,
                waited_ms,
            } => {
                let (i, a) = (call_index(&call)?, agent_index(&agent)?);
                self.status[i] = Status::Talking { agent: a };
                self.f.answered += 1;
                self.f.wait_ms_sum += waited_ms;
                if waited_ms <= SERVICE_LEVEL_MS {
                    self.f.within_sl += 1;
                }
                let t = &self.w.transfers[i];
                // Log-normal around the agent's mean (σ = 0.5, mean preserved).
                let secs = self.w.agents[a].mean_handle_s * (0.5 * t.handle_z - 0.125).exp();
                self.at(now + (secs * 1000.0) as u64, Ev::End(i));
            }
            Output::Abandoned { call, .. } => {
                self.status[call_index(&call)?] = Status::Done;
                self.f.abandoned += 1;
            }
            Output::Fallback { call, .. } => {
                self.status[call_index(&call)?] = Status::Done;
                self.f.fallbacks += 1;
            }
            Output::AgentBreak { agent, .. } => {
                let a = agent_index(&agent)?;
                self.at(now + NO_ANSWER_BREAK_MS, Ev::BackFromNoAnswer(a));
            }
            Output::Widened { .. }
            | Output::WrapUp { .. }
            | Output::AgentState { .. }
            | Output::Held { .. } => {}
        }
        Ok(())
    }

    fn event(&mut self, now: u64, ev: Ev) -> anyhow::Result<()> {
        // The agent a call rings, if it still rings with offer `o`.
        let ringing = |s: Status, o: u32| match s {
            Status::Ringing { offer, agent } if offer == o => Some(agent),
            _ => None,
        };
        match ev {
            Ev::Arrive(i) => {
                let t = &self.w.transfers[i];
                let req = CallRequest {
                    skills: vec![SKILLS[t.skill].to_owned()],
                    language: Some(if t.en { "en" } else { "zh" }.to_owned()),
                    lead_score: Some(t.lead),
                    previous_agent: t.previous.map(|a| self.agent_id(a)),
                    ..CallRequest::new(&format!("t{i}"), SKILLS[t.skill], t.intent)
                };
                let patience = t.patience_ms;
                self.status[i] = Status::Waiting;
                self.at(now + patience, Ev::Patience(i));
                self.input(now, Input::CallWaiting(req))?;
            }
            Ev::Answer { call, offer } if ringing(self.status[call], offer).is_some() => {
                let a = ringing(self.status[call], offer).unwrap_or_default();
                let agent = self.agent_id(a);
                self.input(
                    now,
                    Input::OfferAnswered {
                        call: call_id(call),
                        agent,
                    },
                )?;
            }
            Ev::NoAnswer { call, offer } if ringing(self.status[call], offer).is_some() => {
                let a = ringing(self.status[call], offer).unwrap_or_default();
                let agent = self.agent_id(a);
                self.input(
                    now,
                    Input::OfferNotAnswered {
                        call: call_id(call),
                        agent,
                    },
                )?;
            }
            Ev::Reject { call, offer } if ringing(self.status[call], offer).is_some() => {
                let a = ringing(self.status[call], offer).unwrap_or_default();
                let agent = self.agent_id(a);
                self.input(
                    now,
                    Input::OfferRejected {
                        call: call_id(call),
                        agent,
                    },
                )?;
            }
            Ev::Answer { .. } | Ev::NoAnswer { .. } | Ev::Reject { .. } => {}
            Ev::Patience(i) => {
                if matches!(self.status[i], Status::Waiting | Status::Ringing { .. }) {
                    self.input(now, Input::CalleeHungUp { call: call_id(i) })?;
                }
            }
            Ev::End(i) => {
                if let Status::Talking { agent } = self.status[i] {
                    let t = &self.w.transfers[i];
                    let converted = t.convert_u < self.p_convert(agent, t);
                    self.converted[i] = converted;
                    self.f.conversions += usize::from(converted);
                    self.status[i] = Status::Done;
                    self.input(now, Input::CallEnded { call: call_id(i) })?;
                    // The agent fills in the disposition during wrap-up.
                    self.at(now + 3_000, Ev::Dispose { call: i, agent });
                }
            }
            Ev::Dispose { call, agent } => {
                let quality = (self.w.agents[agent].quality
                    + 0.1 * (self.w.transfers[call].offer_u[7] - 0.5))
                    .clamp(0.0, 1.0) as f32;
                let d = Disposition {
                    agent: self.agent_id(agent),
                    call: call_id(call),
                    converted: self.converted[call],
                    handle_s: None,
                    quality: Some(quality),
                };
                self.input(now, Input::Disposition(d))?;
            }
            Ev::BreakStart(a) => {
                let agent = self.agent_id(a);
                self.input(
                    now,
                    Input::Break {
                        agent,
                        reason: "scheduled".into(),
                    },
                )?;
            }
            Ev::BreakEnd(a) => {
                let agent = self.agent_id(a);
                self.input(now, Input::Ready { agent })?;
            }
            Ev::BackFromNoAnswer(a) => {
                let agent = self.agent_id(a);
                let on_no_answer_break = self.r.agent_status(agent.as_str()).is_some_and(|s| {
                    s.state
                        == AgentState::Break {
                            reason: aicall::routing::router::NO_ANSWER_REASON.into(),
                        }
                });
                if on_no_answer_break {
                    self.input(now, Input::Ready { agent })?;
                }
            }
        }
        Ok(())
    }

    /// Runs the day; returns its figures and what the router learned.
    fn run(mut self) -> anyhow::Result<(DayFigures, Vec<PerformanceRecord>)> {
        for i in 0..self.w.agents.len() {
            let agent = self.agent_id(i);
            self.input(0, Input::Login { agent })?;
        }
        for (i, t) in self.w.transfers.iter().enumerate() {
            self.seq += 1;
            self.heap.push(Reverse((t.at_ms, self.seq, Ev::Arrive(i))));
        }
        for b in &self.w.breaks {
            self.seq += 1;
            self.heap
                .push(Reverse((b.start_ms, self.seq, Ev::BreakStart(b.agent))));
            self.seq += 1;
            self.heap
                .push(Reverse((b.end_ms, self.seq, Ev::BreakEnd(b.agent))));
        }
        let mut now = 0;
        loop {
            let next_ev = self.heap.peek().map(|Reverse((t, _, _))| *t);
            match (next_ev, self.r.next_timeout()) {
                (None, None) => break,
                (Some(e), Some(t)) if t <= e => {
                    now = t;
                    self.input(now, Input::Tick)?;
                }
                (None, Some(t)) => {
                    now = t;
                    self.input(now, Input::Tick)?;
                }
                _ => {
                    let Some(Reverse((t, _, ev))) = self.heap.pop() else {
                        break;
                    };
                    now = t;
                    self.event(now, ev)?;
                }
            }
        }
        for i in 0..self.w.agents.len() {
            let agent = self.agent_id(i);
            self.input(now, Input::Logout { agent })?;
        }
        let unfinished = self
            .status
            .iter()
            .filter(|s| !matches!(s, Status::Done))
            .count();
        anyhow::ensure!(unfinished == 0, "{unfinished} transfers never finished");
        let occupancy: Vec<f64> = self
            .r
            .agents()
            .map(|s| s.busy_ms as f64 / s.staffed_ms.max(1) as f64)
            .collect();
        self.f.occupancy_min = occupancy.iter().copied().fold(f64::INFINITY, f64::min);
        self.f.occupancy_max = occupancy.iter().copied().fold(0.0, f64::max);
        let c = self.r.counters();
        self.f.offers = c.offers;
        self.f.no_answers = c.no_answers;
        anyhow::ensure!(
            c.conversions as usize == self.f.conversions,
            "the router counted {} conversions, the simulation {}",
            c.conversions,
            self.f.conversions
        );
        Ok((self.f, self.r.performance()))
    }
}

/// Decision latency percentiles, µs.
#[derive(Clone, Copy, Debug, Default)]
struct Latency {
    freed_p50: f64,
    freed_p99: f64,
    arrival_p50: f64,
    arrival_p99: f64,
    waiting: usize,
    free_agents: usize,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i]
}

/// A large centre: `agents` agents over 8 skills and 2 languages, 8 queues.
fn big_config(agents: usize, rng: &mut StdRng) -> RoutingConfig {
    let skills: Vec<String> = (0..8).map(|i| format!("s{i}")).collect();
    let agents = (0..agents)
        .map(|i| {
            let mut levels = Vec::new();
            let first = i % skills.len();
            levels.push((skills[first].as_str(), rng.random_range(3..=10u8)));
            for _ in 0..2 {
                let s = rng.random_range(0..skills.len());
                if s != first && !levels.iter().any(|(n, _)| *n == skills[s]) {
                    levels.push((skills[s].as_str(), rng.random_range(1..=10u8)));
                }
            }
            let mut a = AgentConfig::new(&format!("a{i}"), &format!("user/{i}"), &levels);
            a.languages = if rng.random_bool(0.3) {
                vec!["zh".into(), "en".into()]
            } else {
                vec!["zh".into()]
            };
            a.team = format!("team{}", i % 10);
            a
        })
        .collect();
    let queues = skills
        .iter()
        .map(|s| {
            let mut q = QueueConfig::new(s, &[(s, 3)]);
            q.widen = vec![WidenStage {
                after_s: 30,
                required: [(s.clone(), 1)].into(),
                any_language: false,
            }];
            q
        })
        .collect();
    RoutingConfig {
        skills,
        agents,
        queues,
        wrap_up_s: 0,
        ..RoutingConfig::default()
    }
}

fn big_call(rng: &mut StdRng, n: usize) -> CallRequest {
    let q = format!("s{}", rng.random_range(0..8));
    CallRequest {
        language: Some(if rng.random_bool(0.2) { "en" } else { "zh" }.into()),
        lead_score: Some(rng.random()),
        ..CallRequest::new(&format!("c{n}"), &q, Intent::AskPrice)
    }
}

/// The offer in the outputs, if any: (call, agent).
fn take_offer(r: &mut Router) -> Option<(CallId, AgentId)> {
    let mut offer = None;
    while let Some(o) = r.poll_output() {
        if let Output::Offer { call, agent, .. } = o {
            offer = Some((call, agent));
        }
    }
    offer
}

fn measure_latency(args: &RoutingArgs) -> anyhow::Result<Latency> {
    let mut rng = StdRng::seed_from_u64(args.seed ^ 0x5eed);
    let cfg = big_config(args.latency_agents, &mut rng);
    let mut r = Router::new(&cfg)?;
    let now = 1_000;
    let mut n = 0usize;
    for a in &cfg.agents {
        r.handle(
            now,
            Input::Login {
                agent: AgentId::new(&a.id),
            },
        )?;
    }
    take_offer(&mut r);

    // The other side first, with every agent free: a call arrives, the router scores the
    // eligible agents; the callee hangs up (untimed) so the agent is free again. Each call
    // is disposed, so the performance records fill in as they would.
    let mut arrival = Vec::with_capacity(args.decisions);
    for _ in 0..args.decisions {
        n += 1;
        let req = big_call(&mut rng, n);
        let t0 = Instant::now();
        r.handle(now, Input::CallWaiting(req))?;
        arrival.push(t0.elapsed().as_secs_f64() * 1e6);
        if let Some((call, agent)) = take_offer(&mut r) {
            r.handle(
                now,
                Input::OfferAnswered {
                    call: call.clone(),
                    agent: agent.clone(),
                },
            )?;
            r.handle(now, Input::CallEnded { call: call.clone() })?;
            r.handle(
                now,
                Input::Disposition(Disposition {
                    agent,
                    call,
                    converted: rng.random_bool(0.2),
                    handle_s: Some(rng.random_range(30.0..200.0)),
                    quality: None,
                }),
            )?;
        }
        take_offer(&mut r);
    }
    let free_agents = r.agent_snapshot(now, None)?.free as usize;

    // Fill up: every agent on a call, then `latency_waiting` calls waiting.
    let mut talking: Vec<CallId> = Vec::new();
    while r.waiting() < args.latency_waiting {
        n += 1;
        r.handle(now, Input::CallWaiting(big_call(&mut rng, n)))?;
        if let Some((call, agent)) = take_offer(&mut r) {
            r.handle(
                now,
                Input::OfferAnswered {
                    call: call.clone(),
                    agent,
                },
            )?;
            talking.push(call);
        }
        take_offer(&mut r);
    }
    // An agent's call ends; it takes the best of the waiting calls it can serve.
    let mut freed = Vec::with_capacity(args.decisions);
    for _ in 0..args.decisions {
        if talking.is_empty() {
            break;
        }
        let k = rng.random_range(0..talking.len());
        let call = talking.swap_remove(k);
        let t0 = Instant::now();
        r.handle(now, Input::CallEnded { call })?;
        freed.push(t0.elapsed().as_secs_f64() * 1e6);
        if let Some((call, agent)) = take_offer(&mut r) {
            r.handle(
                now,
                Input::OfferAnswered {
                    call: call.clone(),
                    agent,
                },
            )?;
            talking.push(call);
        }
        // Keep the line at its length.
        while r.waiting() < args.latency_waiting {
            n += 1;
            r.handle(now, Input::CallWaiting(big_call(&mut rng, n)))?;
            if let Some((call, agent)) = take_offer(&mut r) {
                r.handle(
                    now,
                    Input::OfferAnswered {
                        call: call.clone(),
                        agent,
                    },
                )?;
                talking.push(call);
            }
        }
    }
    let waiting = r.waiting();
    freed.sort_by(f64::total_cmp);
    arrival.sort_by(f64::total_cmp);
    Ok(Latency {
        freed_p50: percentile(&freed, 0.5),
        freed_p99: percentile(&freed, 0.99),
        arrival_p50: percentile(&arrival, 0.5),
        arrival_p99: percentile(&arrival, 0.99),
        waiting,
        free_agents,
    })
}

/// The hidden truth as records, 100,000 calls per (agent, skill) at the true rate and an
/// average lead: what the router would know with unlimited history.
fn oracle_records(w: &World) -> Vec<PerformanceRecord> {
    w.agents
        .iter()
        .flat_map(|a| {
            SKILLS
                .iter()
                .enumerate()
                .map(|(s, skill)| PerformanceRecord {
                    agent: a.cfg.id.clone(),
                    skill: (*skill).to_owned(),
                    calls: 100_000,
                    converted: (a.rate[s] * 0.88 * 100_000.0) as u32,
                })
        })
        .collect()
}

fn print_header() {
    println!(
        "{:<13} {:>11} {:>9} {:>8} {:>9} {:>8} {:>8} {:>9} {:>9} {:>7}",
        "strategy",
        "conversions",
        "answered",
        "SL 20s",
        "abandon",
        "fallback",
        "wait s",
        "occ min",
        "occ max",
        "spread"
    );
}

fn print_row(name: &str, f: &DayFigures, secs: f64) {
    println!(
        "{:<13} {:>11} {:>9} {:>7.1}% {:>8.2}% {:>8} {:>8.1} {:>9.3} {:>9.3} {:>7.3}   \
         ({} offers, {} unanswered; {:.1} s)",
        name,
        f.conversions,
        f.answered,
        f.service_level() * 100.0,
        f.abandon_rate() * 100.0,
        f.fallbacks,
        f.mean_wait_s(),
        f.occupancy_min,
        f.occupancy_max,
        f.occupancy_spread(),
        f.offers,
        f.no_answers,
        secs
    );
}

fn gain_pct(base: &DayFigures, ours: &DayFigures) -> f64 {
    (ours.conversions as f64 / base.conversions.max(1) as f64 - 1.0) * 100.0
}

/// Score against longest-idle, printed.
fn compare(base: &DayFigures, ours: &DayFigures) {
    println!(
        "score vs longest-idle: conversions {:+.1}%, service level {:+.1} points, abandon \
         {:+.2} points",
        gain_pct(base, ours),
        (ours.service_level() - base.service_level()) * 100.0,
        (ours.abandon_rate() - base.abandon_rate()) * 100.0
    );
}

/// One centre's two days under longest-idle and the score.
#[derive(Clone, Copy, Debug)]
struct Centre {
    seed: u64,
    base1: DayFigures,
    ours1: DayFigures,
    base2: DayFigures,
    ours2: DayFigures,
}

/// Simulates one centre: day 1 from scratch, day 2 from what each router learned; with
/// `verbose`, every strategy's table.
fn centre(
    args: &RoutingArgs,
    seed: u64,
    weights: &Weights,
    verbose: bool,
) -> anyhow::Result<Centre> {
    let day1 = world(args, seed, 1);
    if verbose {
        let rates: Vec<f64> = day1
            .agents
            .iter()
            .flat_map(|a| a.rate.iter().copied())
            .collect();
        println!(
            "seed {seed}: {} agents, {} transfers over {} h (peaks at 2.5 h and 7.5 h); hidden \
             conversion rates per (agent, skill): mean {:.3}, min {:.3}, max {:.3}",
            args.agents,
            day1.transfers.len(),
            args.hours,
            rates.iter().sum::<f64>() / rates.len().max(1) as f64,
            rates.iter().copied().fold(1.0, f64::min),
            rates.iter().copied().fold(0.0, f64::max),
        );
        println!("day 1: every router starts knowing nothing of the agents' conversion");
        print_header();
    }
    let strategies: &[Strategy] = if verbose {
        &Strategy::ALL
    } else {
        &[Strategy::LongestIdle, Strategy::Score]
    };
    let mut firsts = Vec::new();
    for &strategy in strategies {
        let t0 = Instant::now();
        let (f, learned) = Day::new(&day1, strategy, weights, args, None)?.run()?;
        if verbose {
            print_row(strategy.as_str(), &f, t0.elapsed().as_secs_f64());
        }
        firsts.push((strategy, f, learned));
    }
    if verbose && args.oracle {
        let t0 = Instant::now();
        let restore = Some(oracle_records(&day1));
        let (f, _) = Day::new(&day1, Strategy::Score, weights, args, restore)?.run()?;
        print_row("score/oracle", &f, t0.elapsed().as_secs_f64());
    }
    let figure = |runs: &[(Strategy, DayFigures)], s: Strategy| {
        runs.iter()
            .find(|(k, _)| *k == s)
            .map(|(_, f)| *f)
            .unwrap_or_default()
    };
    let day1_figures: Vec<_> = firsts.iter().map(|(s, f, _)| (*s, *f)).collect();
    let (base1, ours1) = (
        figure(&day1_figures, Strategy::LongestIdle),
        figure(&day1_figures, Strategy::Score),
    );
    let day2 = world(args, seed, 2);
    if verbose {
        compare(&base1, &ours1);
        println!(
            "day 2: new traffic ({} transfers), the same agents; each router restored from \
             what it learned on day 1",
            day2.transfers.len()
        );
        print_header();
    }
    let mut seconds = Vec::new();
    for (strategy, _, learned) in firsts {
        let t0 = Instant::now();
        let (f, _) = Day::new(&day2, strategy, weights, args, Some(learned))?.run()?;
        if verbose {
            print_row(strategy.as_str(), &f, t0.elapsed().as_secs_f64());
        }
        seconds.push((strategy, f));
    }
    let (base2, ours2) = (
        figure(&seconds, Strategy::LongestIdle),
        figure(&seconds, Strategy::Score),
    );
    if verbose {
        compare(&base2, &ours2);
    }
    Ok(Centre {
        seed,
        base1,
        ours1,
        base2,
        ours2,
    })
}

pub fn run(args: RoutingArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(args.agents >= 4, "--agents: at least 4 (one per product)");
    anyhow::ensure!(args.hours > 0.0, "--hours: must be positive");
    anyhow::ensure!(args.seeds >= 1, "--seeds: at least 1");
    let weights = match &args.weights {
        Some(spec) => parse_weights(spec)?,
        None => Weights::default(),
    };
    let mut centres = Vec::new();
    for k in 0..args.seeds {
        centres.push(centre(&args, args.seed + k, &weights, k == 0)?);
    }
    println!(
        "score vs longest-idle per seed (conversions gain; service level and abandon, score \
         against longest-idle):"
    );
    for c in &centres {
        println!(
            "  seed {:>3}: day 1 {:+5.1}%, SL {:.1}% vs {:.1}%, abandon {:.2}% vs {:.2}% | day 2 \
             {:+5.1}%, SL {:.1}% vs {:.1}%, abandon {:.2}% vs {:.2}%",
            c.seed,
            gain_pct(&c.base1, &c.ours1),
            c.ours1.service_level() * 100.0,
            c.base1.service_level() * 100.0,
            c.ours1.abandon_rate() * 100.0,
            c.base1.abandon_rate() * 100.0,
            gain_pct(&c.base2, &c.ours2),
            c.ours2.service_level() * 100.0,
            c.base2.service_level() * 100.0,
            c.ours2.abandon_rate() * 100.0,
            c.base2.abandon_rate() * 100.0,
        );
    }
    let n = centres.len() as f64;
    let mean = |f: &dyn Fn(&Centre) -> f64| centres.iter().map(f).sum::<f64>() / n;
    let min = |f: &dyn Fn(&Centre) -> f64| centres.iter().map(f).fold(f64::INFINITY, f64::min);
    let gain1 = mean(&|c| gain_pct(&c.base1, &c.ours1));
    let gain2 = mean(&|c| gain_pct(&c.base2, &c.ours2));
    println!(
        "over {} seeds: day 1 conversions {gain1:+.1}% (lowest {:+.1}%), day 2 {gain2:+.1}% \
         (lowest {:+.1}%)",
        centres.len(),
        min(&|c| gain_pct(&c.base1, &c.ours1)),
        min(&|c| gain_pct(&c.base2, &c.ours2)),
    );

    let lat = measure_latency(&args)?;
    let build = if cfg!(debug_assertions) {
        "debug assertions on: a plain `cargo build` (opt-level 0) runs the router several \
         times slower than release; build with --release or CARGO_PROFILE_DEV_OPT_LEVEL=3"
    } else {
        "optimised build"
    };
    println!(
        "decision latency ({} agents; {build}):\n  agent freed, picks among {} waiting calls: \
         p50 {:.1} µs, p99 {:.1} µs\n  call arrives, {} agents free: p50 {:.1} µs, p99 {:.1} µs",
        args.latency_agents,
        lat.waiting,
        lat.freed_p50,
        lat.freed_p99,
        lat.free_agents,
        lat.arrival_p50,
        lat.arrival_p99
    );
    println!(
        "seeds={} conversions_gain_pct={gain1:.1} conversions_gain_min_pct={:.1} \
         service_level={:.3} service_level_longest_idle={:.3} abandon_pct={:.2} \
         abandon_pct_longest_idle={:.2} mean_wait_s={:.1} occupancy_spread={:.3} \
         conversions_gain_day2_pct={gain2:.1} service_level_day2={:.3} \
         service_level_longest_idle_day2={:.3} abandon_pct_day2={:.2} \
         decision_p50_us={:.1} decision_p99_us={:.1} arrival_p99_us={:.1}",
        centres.len(),
        min(&|c| gain_pct(&c.base1, &c.ours1)),
        mean(&|c| c.ours1.service_level()),
        mean(&|c| c.base1.service_level()),
        mean(&|c| c.ours1.abandon_rate() * 100.0),
        mean(&|c| c.base1.abandon_rate() * 100.0),
        mean(&|c| c.ours1.mean_wait_s()),
        mean(&|c| c.ours1.occupancy_spread()),
        mean(&|c| c.ours2.service_level()),
        mean(&|c| c.base2.service_level()),
        mean(&|c| c.ours2.abandon_rate() * 100.0),
        lat.freed_p50,
        lat.freed_p99,
        lat.arrival_p99,
    );
    Ok(ExitCode::SUCCESS)
}
