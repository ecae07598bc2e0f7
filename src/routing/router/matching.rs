//! Matching: who is eligible for a call, the score's components for an (agent, call) pair,
//! and the choice of an agent for a waiting call ([`Strategy`]) or of a waiting call for a
//! free agent, with the fairness rules of the parent module's header.

use super::*;

/// The least gain, in conversions of an average call, for which a call is held for a
/// better agent (see [`Router::hold_target`]). Chosen on `aicall bench routing`: 0.02 held
/// more calls and converted a little more, at a lower service level than longest-idle's;
/// 0.08 gave up about a fifth of the holds' gain.
const HOLD_MIN_GAIN: f64 = 0.05;
/// Strategy `score`: an eligible agent idle for this fraction of `max_idle_s` is due for a
/// call and takes precedence for calls worth less than [`DUE_MAX_MULTIPLIER`] of an average
/// one (the longest idle due agent). The starvation cap would hand such an agent whatever
/// call came next; this way the work the fairness rule requires goes mostly to the calls
/// that lose least with a weaker agent, and the cap itself rarely fires. 0.5 and 0.8 did
/// best of the pairs tried on `aicall bench routing` (0.3 to 0.9, 0.6 to 1): with 1 (every
/// call below average) due agents took too many calls.
const DUE_IDLE_FRACTION: f64 = 0.5;
/// See [`DUE_IDLE_FRACTION`]: the lead multiplier below which a call goes to a due agent.
const DUE_MAX_MULTIPLIER: f64 = 0.8;

impl Router {
    pub(super) fn eligible(&self, c: &Call, ag: &Agent) -> bool {
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

    pub(super) fn agent_side(&self, a: usize) -> AgentSide {
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
    pub(super) fn values(&self, c: &Call, a: usize, side: &AgentSide) -> [f32; COMPONENTS] {
        let ag = &self.agents[a];
        let q = &self.queues[c.queue].rules;
        let perf = match c.primary {
            Some(s) => score::performance(
                self.estimate(a, s),
                self.overall[s].smoothed(&self.lead_curve),
            ),
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

    pub(super) fn reasons(
        &self,
        ci: usize,
        a: usize,
        rule: Rule,
        candidates: u32,
        over: u32,
    ) -> Reasons {
        let c = self.call(ci);
        let side = self.agent_side(a);
        let values = self.values(c, a, &side);
        let weights = &self.queues[c.queue].rules.weights;
        Reasons::new(self.s.strategy, rule, &values, weights, candidates, over)
    }

    /// The best free eligible agent for a waiting call.
    pub(super) fn choose_agent(&self, ci: usize) -> Option<(usize, Rule, u32, u32)> {
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
        // An eligible agent starved, or due and the call worth little, takes precedence.
        let mut starved = false;
        // An agent due for a call (see `DUE_IDLE_FRACTION`) takes it if it is worth little.
        let due_ms = if self.lead_curve.multiplier(c.lead_score) < DUE_MAX_MULTIPLIER {
            (self.s.max_idle_ms as f64 * DUE_IDLE_FRACTION) as u64
        } else {
            self.s.max_idle_ms
        };
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
                    if self.s.max_idle_ms > 0 && idle >= due_ms {
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
            Strategy::Score
                if starved
                    && now.saturating_sub(self.agents[a].idle_since) < self.s.max_idle_ms =>
            {
                Rule::DueAgent
            }
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
    pub(super) fn choose_call(&self, a: usize) -> Option<(usize, Rule, u32)> {
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
            // A call held for another agent waits for it.
            if c.held.is_some_and(|(h, _)| h != a) || !self.eligible(c, ag) {
                continue;
            }
            candidates += 1;
            let q = &self.queues[c.queue].rules;
            let total = if ag.reserved == Some(ci) {
                // Held for this agent: first within its priority.
                f32::INFINITY
            } else if score {
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
        let rule = if ag.reserved == Some(ci) {
            Rule::HeldForAgent
        } else if score {
            Rule::BestScore
        } else {
            Rule::FirstInLine
        };
        Some((ci, rule, candidates))
    }

    /// For a call about to go to `free` (the best agent free now, by the score): a clearly
    /// better agent whose wrap-up ends within the queue's hold, worth the wait. Returns
    /// that agent, when it is free, and the gain in conversions (in average calls).
    ///
    /// The gain weighs what holding changes: the better agent takes this call and the free
    /// one the next, instead of the other way round — worth `(r_better − r_free) · (m −
    /// 1)` where `m` is this call's lead multiplier (1 for an average call): only calls
    /// above the average are held, the more the better the agent and the lead. The agent
    /// must not be above the occupancy cap, nor be needed by a call already waiting, and no
    /// free eligible agent may reach the starvation cap before the hold ends.
    pub(super) fn hold_target(&self, ci: usize, free: usize) -> Option<(usize, u64, f32)> {
        let c = self.call(ci);
        let q = &self.queues[c.queue].rules;
        let now = self.now;
        let until = c.arrived + q.hold_ms;
        let skill = c.primary?;
        if self.s.strategy != Strategy::Score || until <= now {
            return None;
        }
        let lead_gain = self.lead_curve.multiplier(c.lead_score) - 1.0;
        if lead_gain <= 0.0 {
            return None;
        }
        let overall = f64::from(self.overall[skill].smoothed(&self.lead_curve));
        let est_free = f64::from(self.estimate(free, skill));
        let mut best: Option<(usize, u64, f64)> = None;
        for (a, ag) in self.agents.iter().enumerate() {
            if ag.removed
                || ag.presence != Presence::Available
                || ag.offer.is_some()
                || !ag.talking.is_empty()
                || ag.reserved.is_some()
            {
                continue;
            }
            let Some(&wrap_end) = ag.wrap_ends.iter().max() else {
                continue;
            };
            let at = wrap_end.max(ag.paused_until);
            if at > until || at <= now || !self.eligible(c, ag) {
                continue;
            }
            let speaks = match c.lang {
                CallLang::Known(l) => ag.p.languages & (1 << l) != 0,
                CallLang::Any | CallLang::Unspoken => true,
            };
            let dt = now.saturating_sub(ag.acct_at);
            let occupancy = ag.occupancy.peek(dt, true, self.s.occupancy_window_ms);
            if !speaks || occupancy > self.s.max_occupancy {
                continue;
            }
            let gain = (f64::from(self.estimate(a, skill)) - est_free) / overall * lead_gain;
            if gain < HOLD_MIN_GAIN || best.is_some_and(|(_, _, g)| gain <= g) {
                continue;
            }
            // Calls already waiting for an agent like it (another queue's, at a peak) need
            // it more: it would serve them when free, and the call at hand has a free agent.
            let needed = self.waiting.iter().any(|&w| {
                w != ci && {
                    let other = self.call(w);
                    other.held.is_none() && self.eligible(other, ag)
                }
            });
            if !needed {
                best = Some((a, at, gain));
            }
        }
        let (a, at, gain) = best?;
        if self.s.max_idle_ms > 0 {
            let starves = self.agents.iter().any(|ag| {
                ag.free(now) && ag.idle_since + self.s.max_idle_ms <= at && self.eligible(c, ag)
            });
            if starves {
                return None;
            }
        }
        Some((a, at, gain as f32))
    }

    pub(super) fn place_call(&mut self, ci: usize) {
        if self.call(ci).held.is_some() {
            // It waits for its agent (or the hold's end).
            return;
        }
        if let Some((a, rule, candidates, over)) = self.choose_agent(ci) {
            if rule == Rule::BestScore {
                if let Some((h, until, gain)) = self.hold_target(ci, a) {
                    self.hold(ci, h, until, gain);
                    return;
                }
            }
            let reasons = self.reasons(ci, a, rule, candidates, over);
            self.offer(ci, a, reasons);
        }
    }

    fn hold(&mut self, ci: usize, a: usize, until: u64, gain: f32) {
        let c = self.call_mut(ci);
        c.held = Some((a, until));
        let (call, gen) = (c.id.clone(), c.gen);
        self.agents[a].reserved = Some(ci);
        self.arm(until, TimerKind::Hold { slot: ci, gen });
        let agent = self.agents[a].p.id.clone();
        self.emit(Output::Held {
            call,
            agent,
            until_ms: until,
            gain,
        });
    }

    pub(super) fn serve_agent(&mut self, a: usize) {
        if !self.agents[a].free(self.now) {
            return;
        }
        let reserved = self.agents[a].reserved;
        if let Some((ci, rule, candidates)) = self.choose_call(a) {
            let reasons = self.reasons(ci, a, rule, candidates, 0);
            self.offer(ci, a, reasons);
        }
        // A higher-priority call came first (or the held one is no longer eligible):
        // the held call is placed as any other.
        if let Some(ci) = reserved.filter(|&ci| self.agents[a].reserved == Some(ci)) {
            self.release(ci);
            self.place_call(ci);
        }
    }

    pub(super) fn offer(&mut self, ci: usize, a: usize, reasons: Reasons) {
        self.release(ci);
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
