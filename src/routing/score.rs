//! The match score (the patent's step S7) for a waiting call and an eligible agent, and the
//! reasons recorded with every routing decision.
//!
//! Every component is a number in 0..=1, so a queue's weights say plainly what matters:
//!
//! - `skill`: the agent's levels on the skills the call wants (the transfer's skills, the
//!   intent's and the script node's), weighted, over 10.
//! - `performance`: the agent's learned conversion rate on the call's main skill, shrunk
//!   toward its team ([`super::stats`]), over twice the overall rate (0.5 = average).
//! - `value`: lead · performance + (1 − lead) · (1 − performance): valuable callees to the
//!   agents who convert, the others to the rest.
//! - `handle_time`: reference / (reference + the agent's shrunk mean handle time): 0.5 at
//!   the average, higher when shorter.
//! - `quality`: the agent's shrunk mean quality score.
//! - `idle`: 1 − e^(−idle / `idle_scale_s`): grows while the agent waits.
//! - `occupancy`: 1 − the agent's recent occupancy.
//! - `calls_today`: (mean + 1) / (mean + 1 + the agent's calls today): fewer is higher.
//! - `language`: 1 when the agent speaks the call's language (or it has none).
//! - `continuity`: 1 when the agent spoke with this callee before.
//! - `wait`: the call's wait over the service-level threshold, capped at 3 (only when
//!   choosing among calls).
//! - `lead`: the callee's lead score (only when choosing among calls).
//!
//! Choosing an agent for a call compares the first ten (the match); choosing a call for a
//! free agent adds `wait` and `lead` (urgency) to the match, within the highest queue
//! priority that has a call the agent can take.
//!
//! Fairness rules, over the score (see [`super::router`]): an eligible agent idle for
//! `max_idle_s` or more takes precedence — the longest idle such agent gets the call — so no
//! eligible agent is starved (from half that time, for calls worth less than average); and
//! an agent above `max_occupancy` is not offered a call while an eligible agent below it is
//! free. A call worth more than average may be held a few seconds for a clearly better
//! agent finishing its wrap-up (`hold_s`).

use serde::{Deserialize, Serialize};

use super::config::Strategy;
use super::RoutingError;

/// One term of the score.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Component {
    Skill,
    Performance,
    Value,
    HandleTime,
    Quality,
    Idle,
    Occupancy,
    CallsToday,
    Language,
    Continuity,
    Wait,
    Lead,
}

/// Number of components.
pub const COMPONENTS: usize = 12;
/// The components of the match (agent side); the rest are the call's urgency.
pub const MATCH_COMPONENTS: usize = 10;

impl Component {
    pub const ALL: [Component; COMPONENTS] = [
        Component::Skill,
        Component::Performance,
        Component::Value,
        Component::HandleTime,
        Component::Quality,
        Component::Idle,
        Component::Occupancy,
        Component::CallsToday,
        Component::Language,
        Component::Continuity,
        Component::Wait,
        Component::Lead,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Component::Skill => "skill",
            Component::Performance => "performance",
            Component::Value => "value",
            Component::HandleTime => "handle_time",
            Component::Quality => "quality",
            Component::Idle => "idle",
            Component::Occupancy => "occupancy",
            Component::CallsToday => "calls_today",
            Component::Language => "language",
            Component::Continuity => "continuity",
            Component::Wait => "wait",
            Component::Lead => "lead",
        }
    }
}

/// A queue's weight for each component.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Weights {
    pub skill: f32,
    pub performance: f32,
    pub value: f32,
    pub handle_time: f32,
    pub quality: f32,
    pub idle: f32,
    pub occupancy: f32,
    pub calls_today: f32,
    pub language: f32,
    pub continuity: f32,
    pub wait: f32,
    pub lead: f32,
}

impl Default for Weights {
    /// Conversion first (performance and value), then skill fit, language and continuity;
    /// load terms break near-ties. The wait term is weak on purpose: a call that waited a
    /// minute gains what a clearly better match is worth, so matching decides at peaks and
    /// waiting still bounds how long a poor match can be put off (the maximum wait ends
    /// it). Chosen on `aicall bench routing` over 16 seeds: a stronger wait term (1.5,
    /// nearly first come first served) converted about 1 point less at a lower service
    /// level; other weights moved conversions by less than the seeds' noise.
    fn default() -> Self {
        Self {
            skill: 0.5,
            performance: 3.0,
            value: 2.0,
            handle_time: 0.2,
            quality: 0.3,
            idle: 0.3,
            occupancy: 0.2,
            calls_today: 0.1,
            language: 1.0,
            continuity: 0.5,
            wait: 0.5,
            lead: 0.3,
        }
    }
}

impl Weights {
    pub fn as_array(&self) -> [f32; COMPONENTS] {
        [
            self.skill,
            self.performance,
            self.value,
            self.handle_time,
            self.quality,
            self.idle,
            self.occupancy,
            self.calls_today,
            self.language,
            self.continuity,
            self.wait,
            self.lead,
        ]
    }

    /// Every weight finite and in 0..=100.
    pub(crate) fn check(&self, field: &str) -> Result<(), RoutingError> {
        for (c, w) in Component::ALL.iter().zip(self.as_array()) {
            if !w.is_finite() || !(0.0..=100.0).contains(&w) {
                return Err(RoutingError::Invalid {
                    field: format!("{field}.{}", c.as_str()),
                    why: "a weight must be a number in 0..=100",
                });
            }
        }
        Ok(())
    }
}

/// One component's value and weight in a decision.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Term {
    pub component: Component,
    pub value: f32,
    pub weight: f32,
}

/// Which rule made the choice.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// The highest score (strategy `score`).
    BestScore,
    /// An eligible agent idle past `max_idle_s` took precedence over the score.
    StarvedAgent,
    /// An eligible agent idle past half `max_idle_s` took a call worth less than average
    /// (strategy `score`), before the starvation cap would give it any call.
    DueAgent,
    /// The eligible agent idle the longest (strategy `longest_idle`).
    LongestIdle,
    /// The first eligible agent in configuration order (strategy `top_down`).
    TopDown,
    /// The best skill fit (strategy `skills_only`).
    BestSkill,
    /// A free agent took the first call in line it can serve (the baselines).
    FirstInLine,
    /// The agent took the call held for it while its wrap-up ended (strategy `score`).
    HeldForAgent,
}

/// Why an offer went to this agent: every component with its weight, the totals, how many
/// alternatives there were, and the rule.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Reasons {
    pub strategy: Strategy,
    pub rule: Rule,
    pub terms: [Term; COMPONENTS],
    /// Σ weight × value over the match components.
    pub match_score: f32,
    /// The match plus the call's urgency (wait and lead).
    pub total: f32,
    /// Eligible alternatives considered (agents for a new call, calls for a free agent).
    pub candidates: u32,
    /// Eligible free agents passed over for being above the occupancy cap.
    pub over_occupancy: u32,
}

impl Reasons {
    pub(crate) fn new(
        strategy: Strategy,
        rule: Rule,
        values: &[f32; COMPONENTS],
        weights: &Weights,
        candidates: u32,
        over_occupancy: u32,
    ) -> Self {
        let w = weights.as_array();
        let mut terms = [Term {
            component: Component::Skill,
            value: 0.0,
            weight: 0.0,
        }; COMPONENTS];
        for (i, t) in terms.iter_mut().enumerate() {
            *t = Term {
                component: Component::ALL[i],
                value: values[i],
                weight: w[i],
            };
        }
        let match_score = dot(&values[..MATCH_COMPONENTS], &w[..MATCH_COMPONENTS]);
        let total = match_score + dot(&values[MATCH_COMPONENTS..], &w[MATCH_COMPONENTS..]);
        Self {
            strategy,
            rule,
            terms,
            match_score,
            total,
            candidates,
            over_occupancy,
        }
    }

    pub fn term(&self, c: Component) -> Term {
        self.terms[c as usize]
    }
}

pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// The agent-only components, computed once per decision for a given agent.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct AgentSide {
    pub handle_time: f32,
    pub quality: f32,
    pub idle: f32,
    pub occupancy: f32,
    pub calls_today: f32,
}

/// Skill fit: Σ weight × level / 10 over Σ weight; 0 when nothing is wanted.
pub(crate) fn skill_fit(wanted: &[(usize, f32)], level: impl Fn(usize) -> u8) -> f32 {
    let mut num = 0.0;
    let mut den = 0.0;
    for &(s, w) in wanted {
        num += w * f32::from(level(s)) / 10.0;
        den += w;
    }
    if den > 0.0 {
        num / den
    } else {
        0.0
    }
}

/// `performance`: a conversion estimate over twice the overall rate, in 0..=1.
pub(crate) fn performance(estimate: f32, overall: f32) -> f32 {
    if overall <= 0.0 {
        return 0.5;
    }
    (estimate / (2.0 * overall)).clamp(0.0, 1.0)
}

/// `idle`: grows from 0 toward 1 while the agent waits.
pub(crate) fn idle(idle_ms: u64, scale_ms: f64) -> f32 {
    (1.0 - (-(idle_ms as f64) / scale_ms).exp()) as f32
}

/// `handle_time`: 0.5 at the reference, higher when shorter.
pub(crate) fn handle_time(mean_s: f32, reference_s: f32) -> f32 {
    if mean_s <= 0.0 || reference_s <= 0.0 {
        return 0.5;
    }
    reference_s / (reference_s + mean_s)
}

/// `calls_today`: 1 with no calls, about 0.5 at the mean.
pub(crate) fn calls_today(calls: u32, mean: f32) -> f32 {
    (mean + 1.0) / (mean + 1.0 + calls as f32)
}

/// `value`: how well the callee's value matches the agent's performance —
/// `lead · perf + (1 − lead) · (1 − perf)`: valuable callees to the agents who convert,
/// the others to the rest, so the best agents are not spent on the least promising calls.
pub(crate) fn value(lead: f32, perf: f32) -> f32 {
    lead * perf + (1.0 - lead) * (1.0 - perf)
}

/// `wait`: the wait over the service-level threshold, capped at 3.
pub(crate) fn wait(waited_ms: u64, service_level_ms: u64) -> f32 {
    (waited_ms as f32 / service_level_ms.max(1) as f32).min(3.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components_stay_in_range_and_order_sensibly() {
        assert_eq!(skill_fit(&[], |_| 10), 0.0);
        let fit = skill_fit(&[(0, 1.0), (1, 3.0)], |s| if s == 0 { 10 } else { 2 });
        assert!((fit - (1.0 + 0.6) / 4.0).abs() < 1e-6, "{fit}");
        assert_eq!(performance(0.2, 0.2), 0.5);
        assert_eq!(performance(0.9, 0.2), 1.0);
        assert_eq!(performance(0.1, 0.0), 0.5);
        assert!(idle(0, 60_000.0) == 0.0);
        assert!((idle(60_000, 60_000.0) - 0.632).abs() < 1e-3);
        assert!(idle(600_000, 60_000.0) > idle(120_000, 60_000.0));
        assert_eq!(handle_time(100.0, 100.0), 0.5);
        assert!(handle_time(50.0, 100.0) > handle_time(150.0, 100.0));
        assert_eq!(calls_today(0, 0.0), 1.0);
        assert!(calls_today(10, 10.0) > 0.49 && calls_today(10, 10.0) < 0.53);
        assert_eq!(wait(10_000, 20_000), 0.5);
        assert_eq!(wait(600_000, 20_000), 3.0);
    }

    #[test]
    fn reasons_add_up() {
        let mut values = [0.0; COMPONENTS];
        values[Component::Skill as usize] = 0.8;
        values[Component::Performance as usize] = 0.5;
        values[Component::Wait as usize] = 1.0;
        let w = Weights::default();
        let r = Reasons::new(Strategy::Score, Rule::BestScore, &values, &w, 3, 1);
        let expected_match = 0.8 * w.skill + 0.5 * w.performance;
        assert!((r.match_score - expected_match).abs() < 1e-6);
        assert!((r.total - expected_match - w.wait).abs() < 1e-6);
        assert_eq!(r.term(Component::Skill).weight, w.skill);
        assert_eq!(r.term(Component::Wait).value, 1.0);
        let json = serde_json::to_string(&r).expect("serialises");
        assert!(json.contains("\"component\":\"handle_time\""), "{json}");
        assert!(json.contains("\"rule\":\"best_score\""), "{json}");
    }
}
