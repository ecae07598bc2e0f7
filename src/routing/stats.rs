//! What the router learns from calls and dispositions. Pure arithmetic, no time source.
//!
//! - Conversion rate per (agent, skill), shrunk toward the team's rate on the skill scaled
//!   by the agent's lift across all its skills, the team's rate itself shrunk toward the
//!   overall rate (Beta-binomial, empirical Bayes): with `m` pseudo-calls of prior,
//!   `p_agent = (converted + m · p_team · lift) / (calls + m)` and
//!   `p_team = (team converted + m · p_all) / (team calls + m)`. `m` is estimated from the
//!   spread of the agents' rates by the method of moments ([`prior_strength`]): a team whose
//!   agents truly differ gets a small `m` (trust each agent's record early), one whose
//!   differences are noise a large one. The router uses it when it is below the configured
//!   `prior_strength`, which caps it (see the setting).
//! - Calls are counted in average calls ([`LeadCurve`]): conversion grows with the callee's
//!   lead score, so `calls` above is each agent's exposure `Σ m(leadᵢ)` — an agent given the
//!   best leads must convert more to show the same rate, and the router's own habit of
//!   giving its best agents the best leads does not feed on itself.
//! - The lift: an agent who converts more than its team on one product usually does on the
//!   others, so its record on every skill informs each one. `lift = (conversions + α) /
//!   (expected + α)` where `expected` sums the team's rate at the time of each call (Gamma–
//!   Poisson); `α` comes from the spread of the agents' lifts ([`lift_strength`]). A new
//!   skill of a strong agent then starts above the team's rate, not at it.
//! - Means (handle time, quality) shrunk toward a reference with a few pseudo-observations.
//! - Occupancy: an exponential moving average of "busy" (offered, talking or wrapping up)
//!   over staffed time.
//! - The handle-time distribution, for the predictive dialer's "free soon".

use serde::Serialize;

/// Calls and conversions, for one agent, team or skill, with sums over the calls whose lead
/// score was known (for [`LeadCurve`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Counts {
    pub calls: u32,
    pub converted: u32,
    pub leads: LeadSums,
}

impl Counts {
    /// One more call; `lead` is the callee's lead score when it was known.
    pub fn add(&mut self, converted: bool, lead: Option<f32>) {
        self.calls = self.calls.saturating_add(1);
        self.converted = self.converted.saturating_add(u32::from(converted));
        if let Some(l) = lead {
            self.leads.add(f64::from(l), converted);
        }
    }

    /// Calls counted as average ones (restored records, whose leads were not kept).
    pub fn add_unleaded(&mut self, calls: u32, converted: u32) {
        self.calls = self.calls.saturating_add(calls);
        self.converted = self.converted.saturating_add(converted);
    }

    /// Laplace-smoothed rate per average call, for the overall mean (never 0).
    pub fn smoothed(&self, curve: &LeadCurve) -> f32 {
        ((f64::from(self.converted) + 1.0) / (curve.exposure(self) + 2.0)) as f32
    }
}

/// Sums over calls with a known lead score `L` and outcome `y` (1 converted, 0 not).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct LeadSums {
    pub calls: u32,
    pub converted: u32,
    /// `Σ L`, `Σ L²`, `Σ y L`.
    pub lead: f64,
    pub lead2: f64,
    pub converted_lead: f64,
}

impl LeadSums {
    fn add(&mut self, lead: f64, converted: bool) {
        self.calls = self.calls.saturating_add(1);
        self.lead += lead;
        self.lead2 += lead * lead;
        if converted {
            self.converted = self.converted.saturating_add(1);
            self.converted_lead += lead;
        }
    }

    /// This group's terms of the lead curve's slope: `Σ (yᵢ − ȳ)(Lᵢ − L̄)` and
    /// `ȳ Σ (Lᵢ − L̄)²`, around the group's own means.
    fn terms(&self) -> (f64, f64) {
        if self.calls < 2 {
            return (0.0, 0.0);
        }
        let n = f64::from(self.calls);
        let y = f64::from(self.converted);
        let cov = self.converted_lead - y * self.lead / n;
        let var = (self.lead2 - self.lead * self.lead / n).max(0.0);
        (cov, var * y / n)
    }
}

/// `(converted + m · toward) / (exposure + m)`: the rate per average call, shrunk.
pub fn shrink(converted: u32, exposure: f64, toward: f32, m: f32) -> f32 {
    let den = exposure + f64::from(m);
    if den <= 0.0 {
        return toward;
    }
    ((f64::from(converted) + f64::from(m) * f64::from(toward)) / den) as f32
}

/// Pseudo-calls of "the lead score does not matter" in the lead curve's slope, so a few
/// hundred dispositions are needed before it counts fully.
const LEAD_PRIOR_CALLS: f64 = 200.0;
/// The lowest multiplier the curve gives any lead score: a lead never rules a call out.
const MIN_LEAD_MULTIPLIER: f64 = 0.1;
/// Lead score assumed as the mean before any disposition with one.
const PRIOR_MEAN_LEAD: f64 = 0.5;

/// How a callee's lead score scales the chance of converting, learned from dispositions:
/// `P(convert) = r · m(lead)` with `m(lead) = 1 + slope · (lead − mean lead)` (1 for an
/// average call) and `r` the agent's rate on the skill per average call.
///
/// The slope is measured within each (agent, skill)'s own calls — `Σ cov(y, L) / Σ ȳ
/// var(L)` over the groups, each around its own means — so a router that gives its best
/// agents the best leads does not credit the leads with the agents' skill: an agent who only
/// ever gets one kind of lead tells nothing about leads. It is shrunk toward 0 by
/// [`LEAD_PRIOR_CALLS`] pseudo-calls and bounded so that every lead keeps a multiplier of
/// at least [`MIN_LEAD_MULTIPLIER`].
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LeadCurve {
    calls: f64,
    sum_lead: f64,
    cov: f64,
    var: f64,
    slope: f64,
}

impl LeadCurve {
    /// One group's sums changed from `before` to `after` (a call was added to them).
    pub fn update(&mut self, before: &LeadSums, after: &LeadSums) {
        self.calls += f64::from(after.calls) - f64::from(before.calls);
        self.sum_lead += after.lead - before.lead;
        let ((c0, v0), (c1, v1)) = (before.terms(), after.terms());
        self.cov += c1 - c0;
        self.var += v1 - v0;
        self.refit();
    }

    fn refit(&mut self) {
        if self.var <= 1e-9 || self.calls <= 0.0 {
            self.slope = 0.0;
            return;
        }
        let mean = self.mean();
        let slope = self.cov / self.var * self.calls / (self.calls + LEAD_PRIOR_CALLS);
        // m(0) and m(1) at least the floor.
        let hi = (1.0 - MIN_LEAD_MULTIPLIER) / mean.max(1e-6);
        let lo = -(1.0 - MIN_LEAD_MULTIPLIER) / (1.0 - mean).max(1e-6);
        self.slope = slope.clamp(lo, hi);
    }

    /// The mean lead score of the calls seen (0.5 before any).
    pub fn mean(&self) -> f64 {
        if self.calls > 0.0 {
            (self.sum_lead / self.calls).clamp(0.0, 1.0)
        } else {
            PRIOR_MEAN_LEAD
        }
    }

    pub fn slope(&self) -> f64 {
        self.slope
    }

    /// `m(lead)`: 1 for an average call; an unknown lead is an average one.
    pub fn multiplier(&self, lead: Option<f32>) -> f64 {
        match lead {
            Some(l) => (1.0 + self.slope * (f64::from(l) - self.mean())).max(MIN_LEAD_MULTIPLIER),
            None => 1.0,
        }
    }

    /// The calls in `c` counted in average calls: `Σ m(leadᵢ)`, with the curve as it is
    /// now (so early calls are re-weighed as the curve is learned). An agent given the
    /// best leads needs more conversions to show the same rate.
    pub fn exposure(&self, c: &Counts) -> f64 {
        let leaded = f64::from(c.leads.calls);
        let e = f64::from(c.calls) + self.slope * (c.leads.lead - self.mean() * leaded);
        // Each call weighs at least the floor.
        e.max(MIN_LEAD_MULTIPLIER * f64::from(c.calls))
    }
}

/// Fewer agents with dispositions than this: the configured prior strength is used.
const MIN_AGENTS: usize = 3;
/// Fewer dispositions in all than this: likewise.
const MIN_CALLS: u32 = 30;
/// Bounds of the estimated strength: never trust one call, never ignore 500.
const STRENGTH_RANGE: (f32, f32) = (2.0, 500.0);

/// The method-of-moments terms of one skill, from its agents' counts: with `μ` the pooled
/// rate, the weighted spread `S = Σ nᵢ (rᵢ − μ)²` has expectation `τ² (N − k) + k μ (1 − μ)`
/// where `τ²` is the variance of the true rates, `k` the agents and `N` the calls. For a
/// Beta prior of strength `m`, `τ² = μ (1 − μ) / (m + 1)`; so `excess = S − k μ (1 − μ)`
/// estimates `(N − k) μ (1 − μ) / (m + 1)` = `scale / (m + 1)`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Moments {
    pub excess: f64,
    pub scale: f64,
}

impl Moments {
    /// From each agent's conversions and exposure (calls counted in average calls, see
    /// [`LeadCurve::exposure`]); `None` with too little data (fewer than 3 agents or 30
    /// calls).
    pub fn of(agents: impl Iterator<Item = (u32, f64)>) -> Option<Self> {
        let counts: Vec<(f64, f64)> = agents
            .filter(|(_, e)| *e > 0.0)
            .map(|(c, e)| (f64::from(c), e))
            .collect();
        let k = counts.len();
        let n_total: f64 = counts.iter().map(|(_, e)| e).sum();
        let c_total: f64 = counts.iter().map(|(c, _)| c).sum();
        if k < MIN_AGENTS || n_total < f64::from(MIN_CALLS) {
            return None;
        }
        let mu = c_total / n_total;
        let pq = mu * (1.0 - mu);
        // Two passes: the pooled rate first, then the spread around it.
        let spread: f64 = counts
            .iter()
            .map(|(c, e)| {
                let r = c / e;
                e * (r - mu) * (r - mu)
            })
            .sum();
        Some(Self {
            excess: spread - k as f64 * pq,
            scale: (n_total - k as f64) * pq,
        })
    }
}

/// The Beta prior's strength `m` (α + β) from the moments of one or more skills, pooled
/// (the spread between agents relative to `μ (1 − μ)` taken as common to every skill, so a
/// skill with few calls borrows from the others): `m = Σ scale / Σ excess − 1`. No spread
/// beyond the binomial noise gives the upper bound; no data the fallback.
pub fn pooled_strength(skills: impl Iterator<Item = Moments>, fallback: f32) -> f32 {
    let (mut excess, mut scale, mut any) = (0.0, 0.0, false);
    for m in skills {
        excess += m.excess;
        scale += m.scale;
        any = true;
    }
    if !any || scale <= 0.0 {
        return fallback;
    }
    if excess <= 0.0 {
        return STRENGTH_RANGE.1;
    }
    ((scale / excess - 1.0) as f32).clamp(STRENGTH_RANGE.0, STRENGTH_RANGE.1)
}

/// The strength for one skill alone ([`pooled_strength`] of its [`Moments`]).
pub fn prior_strength(agents: impl Iterator<Item = (u32, f64)>, fallback: f32) -> f32 {
    pooled_strength(Moments::of(agents).into_iter(), fallback)
}

/// Agents with fewer expected conversions than this do not enter the lift's spread.
const MIN_LIFT_EXPECTED: f64 = 1.0;

/// The Gamma prior's shape `α` for the agents' lifts from each agent's conversions `C` and
/// expected conversions `E` (at the team's rates), by the method of moments: with
/// `μ = ΣC / ΣE` and `r = C / (E μ)`, `Σ E (r − 1)²` has expectation `ΣE / α + k / μ`
/// (lift variance plus Poisson noise) over `k` agents. No spread beyond the noise gives the
/// upper bound (every agent alike); too little data the fallback.
pub fn lift_strength(agents: impl Iterator<Item = (u32, f64)>, fallback: f32) -> f32 {
    let counts: Vec<(f64, f64)> = agents
        .filter(|(_, e)| *e >= MIN_LIFT_EXPECTED)
        .map(|(c, e)| (f64::from(c), e))
        .collect();
    let k = counts.len();
    let sum_c: f64 = counts.iter().map(|(c, _)| c).sum();
    let sum_e: f64 = counts.iter().map(|(_, e)| e).sum();
    if k < MIN_AGENTS || sum_c < f64::from(MIN_CALLS) || sum_e <= 0.0 {
        return fallback;
    }
    let mu = sum_c / sum_e;
    let spread: f64 = counts
        .iter()
        .map(|(c, e)| {
            let r = c / (e * mu);
            e * (r - 1.0) * (r - 1.0)
        })
        .sum();
    let excess = spread - k as f64 / mu;
    if excess <= 0.0 {
        return STRENGTH_RANGE.1;
    }
    ((sum_e / excess) as f32).clamp(STRENGTH_RANGE.0, STRENGTH_RANGE.1)
}

/// `(conversions + α) / (expected + α)`: 1 without data.
pub fn lift(conversions: u32, expected: f64, alpha: f32) -> f32 {
    let alpha = f64::from(alpha);
    ((f64::from(conversions) + alpha) / (expected.max(0.0) + alpha)) as f32
}

/// A running mean.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Mean {
    pub sum: f64,
    pub n: u32,
}

impl Mean {
    pub fn add(&mut self, x: f64) {
        if x.is_finite() {
            self.sum += x;
            self.n = self.n.saturating_add(1);
        }
    }

    pub fn mean(&self) -> Option<f64> {
        (self.n > 0).then(|| self.sum / f64::from(self.n))
    }

    /// The mean with `k` pseudo-observations of `toward`.
    pub fn shrunk(&self, toward: f64, k: f64) -> f64 {
        (self.sum + k * toward) / (f64::from(self.n) + k)
    }
}

/// Exponential moving average of "busy" over staffed time.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Occupancy {
    value: f64,
}

impl Occupancy {
    /// Folds in `dt_ms` spent busy or not.
    pub fn advance(&mut self, dt_ms: u64, busy: bool, window_ms: f64) {
        self.value = Self::after(self.value, dt_ms, busy, window_ms);
    }

    /// The value after `dt_ms` more, without changing it.
    pub fn peek(&self, dt_ms: u64, busy: bool, window_ms: f64) -> f32 {
        Self::after(self.value, dt_ms, busy, window_ms) as f32
    }

    fn after(value: f64, dt_ms: u64, busy: bool, window_ms: f64) -> f64 {
        if dt_ms == 0 {
            return value;
        }
        let keep = (-(dt_ms as f64) / window_ms).exp();
        value * keep + if busy { 1.0 - keep } else { 0.0 }
    }
}

/// Bins per doubling of the handle time: about 9 % wide, finer than talk times vary.
const BINS_PER_OCTAVE: f64 = 8.0;
/// Bin edges `2^(i/8) − 1` seconds: 0, 0.09, … 1 s at i = 8, 63 s at i = 48, 4.5 h at
/// i = 112; the last bin takes everything longer.
const BINS: usize = 113;
/// Mean handle time assumed before any call ended.
const PRIOR_MEAN_S: f64 = 120.0;
/// Observations before the histogram is trusted over the exponential prior.
const MIN_SAMPLES: u32 = 20;

fn edge_s(i: usize) -> f64 {
    (i as f64 / BINS_PER_OCTAVE).exp2() - 1.0
}

/// The distribution of talk times, as a log-spaced histogram.
#[derive(Clone, Debug)]
pub struct HandleTimes {
    counts: [u32; BINS],
    /// `cum[i]` = observations below edge `i`.
    cum: [u32; BINS + 1],
    total: u32,
    mean: Mean,
}

impl Default for HandleTimes {
    fn default() -> Self {
        Self {
            counts: [0; BINS],
            cum: [0; BINS + 1],
            total: 0,
            mean: Mean::default(),
        }
    }
}

impl HandleTimes {
    pub fn record(&mut self, secs: f64) {
        if !secs.is_finite() || secs < 0.0 {
            return;
        }
        let i = ((secs + 1.0).log2() * BINS_PER_OCTAVE).floor() as usize;
        let i = i.min(BINS - 1);
        self.counts[i] = self.counts[i].saturating_add(1);
        self.total = self.total.saturating_add(1);
        self.mean.add(secs);
        let mut acc = 0u32;
        for (j, c) in self.counts.iter().enumerate() {
            self.cum[j] = acc;
            acc = acc.saturating_add(*c);
        }
        self.cum[BINS] = acc;
    }

    pub fn mean_s(&self) -> f64 {
        self.mean.mean().unwrap_or(PRIOR_MEAN_S)
    }

    pub fn samples(&self) -> u32 {
        self.total
    }

    /// Fraction of calls shorter than `secs` (linear within a bin).
    fn cdf(&self, secs: f64) -> f64 {
        if self.total == 0 {
            return 0.0;
        }
        let x = ((secs.max(0.0) + 1.0).log2() * BINS_PER_OCTAVE).max(0.0);
        let i = x.floor() as usize;
        if i >= BINS {
            return 1.0;
        }
        let (lo, hi) = (edge_s(i), edge_s(i + 1));
        let within = if hi > lo {
            ((secs - lo) / (hi - lo)).clamp(0.0, 1.0)
        } else {
            0.0
        };
        (f64::from(self.cum[i]) + within * f64::from(self.counts[i])) / f64::from(self.total)
    }

    /// Probability that a call `elapsed_s` old ends within `horizon_s` more.
    pub fn p_end_within(&self, elapsed_s: f64, horizon_s: f64) -> f64 {
        let exponential = || 1.0 - (-horizon_s / self.mean_s().max(1.0)).exp();
        if self.total < MIN_SAMPLES {
            return exponential();
        }
        let f0 = self.cdf(elapsed_s);
        let survive = 1.0 - f0;
        if survive < 1e-6 {
            // Longer than every call seen: nothing known, take the memoryless guess.
            return exponential();
        }
        ((self.cdf(elapsed_s + horizon_s) - f0) / survive).clamp(0.0, 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic stream of uniform numbers in [0, 1).
    fn uniform(seed: u64) -> impl FnMut() -> f64 {
        let mut s = seed;
        move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 11) as f64 / (1u64 << 53) as f64
        }
    }

    /// Each agent's (conversions, calls) on `calls` average calls.
    fn agents(rates: &[f64], calls: u32, seed: u64) -> Vec<(u32, f64)> {
        let mut u = uniform(seed);
        rates
            .iter()
            .map(|&p| {
                let mut c = Counts::default();
                for _ in 0..calls {
                    c.add(u() < p, None);
                }
                (c.converted, LeadCurve::default().exposure(&c))
            })
            .collect()
    }

    #[test]
    fn shrinkage_pulls_small_records_toward_the_team() {
        let team = 0.2;
        let m = 20.0;
        let p_lucky = shrink(3, 3.0, team, m);
        let p_veteran = shrink(90, 300.0, team, m);
        // 3 of 3 is barely above the team; 90 of 300 stays near its own 30 %.
        assert!(p_lucky > team && p_lucky < 0.35, "{p_lucky}");
        assert!((p_veteran - 0.2937).abs() < 1e-3, "{p_veteran}");
        assert_eq!(shrink(0, 0.0, team, m), team);
        assert_eq!(shrink(0, 0.0, team, 0.0), team);
    }

    #[test]
    fn strength_is_small_when_agents_differ_and_large_when_they_do_not() {
        let differ = agents(&[0.05, 0.1, 0.2, 0.3, 0.4, 0.5], 400, 1);
        let same = agents(&[0.2; 6], 400, 2);
        let m_differ = prior_strength(differ.into_iter(), 20.0);
        let m_same = prior_strength(same.into_iter(), 20.0);
        // True spread: rates' variance 0.0247 around 0.258 → m ≈ 6.7.
        assert!((3.0..15.0).contains(&m_differ), "{m_differ}");
        assert!(m_same > 100.0, "{m_same}");
        // Too little data: the fallback.
        let few = agents(&[0.1, 0.5], 400, 3);
        assert_eq!(prior_strength(few.into_iter(), 20.0), 20.0);
        assert_eq!(prior_strength(std::iter::empty(), 7.0), 7.0);
        // Pooled over two skills with the same relative spread: in between their estimates,
        // and a skill with too little data adds nothing.
        let a = Moments::of(agents(&[0.05, 0.1, 0.2, 0.3], 200, 6).into_iter()).expect("data");
        let b = Moments::of(agents(&[0.1, 0.2, 0.3, 0.45], 200, 7).into_iter()).expect("data");
        let (ma, mb) = (
            pooled_strength([a].into_iter(), 20.0),
            pooled_strength([b].into_iter(), 20.0),
        );
        let both = pooled_strength([a, b].into_iter(), 20.0);
        assert!(both >= ma.min(mb) && both <= ma.max(mb), "{ma} {mb} {both}");
        assert_eq!(Moments::of(agents(&[0.1, 0.2], 200, 8).into_iter()), None);
    }

    #[test]
    fn lifts_separate_strong_agents_from_noise() {
        // Six agents, 400 calls each at 0.15 × their true lift; expected at 0.15.
        let lifts = [0.5, 0.75, 1.0, 1.0, 1.25, 1.5];
        let rates: Vec<f64> = lifts.iter().map(|l| 0.15 * l).collect();
        let differ = agents(&rates, 400, 4);
        let alpha = lift_strength(differ.iter().map(|c| (c.0, 60.0)), 10.0);
        // True lift variance 0.104 → α ≈ 9.6; the estimate is of that order.
        assert!((3.0..40.0).contains(&alpha), "{alpha}");
        let best = lift(differ[5].0, 60.0, alpha);
        let worst = lift(differ[0].0, 60.0, alpha);
        assert!(best > 1.2 && worst < 0.8, "best {best}, worst {worst}");
        let same = agents(&[0.15; 6], 400, 5);
        let alpha_same = lift_strength(same.iter().map(|c| (c.0, 60.0)), 10.0);
        assert!(alpha_same > 50.0, "{alpha_same}");
        assert_eq!(lift(0, 0.0, 10.0), 1.0);
        assert_eq!(lift_strength(std::iter::empty(), 10.0), 10.0);
    }

    /// Callees' leads and outcomes for agents of true rates `rates` (per average call) at
    /// `P = rate · (0.5 + lead)` — an average lead of 0.5 gives 1 — where agent `i`
    /// gets leads around `leads[i]` (the assignment a router that favours its best agents
    /// makes). Returns (agent, lead, converted) in a round-robin order.
    fn dispositions(
        rates: &[f64],
        leads: &[f64],
        calls: usize,
        seed: u64,
    ) -> Vec<(usize, f32, bool)> {
        let mut u = uniform(seed);
        let mut out = Vec::new();
        for _ in 0..calls {
            for (i, (&r, &l)) in rates.iter().zip(leads).enumerate() {
                let lead = (l + 0.3 * (u() - 0.5)).clamp(0.0, 1.0);
                let p = r * (0.5 + lead);
                out.push((i, lead as f32, u() < p));
            }
        }
        out
    }

    #[test]
    fn the_lead_curve_is_learned_apart_from_who_takes_the_leads() {
        let curve = LeadCurve::default();
        // Nothing learned: every lead is an average call.
        assert_eq!(curve.slope(), 0.0);
        assert_eq!(curve.mean(), 0.5);
        assert_eq!(curve.multiplier(Some(0.9)), 1.0);
        assert_eq!(curve.multiplier(None), 1.0);
        // The best agents get the best leads: lead and agent are confounded.
        let rates = [0.1, 0.15, 0.2, 0.25, 0.3];
        let leads = [0.2, 0.35, 0.5, 0.65, 0.8];
        let calls = dispositions(&rates, &leads, 2_000, 9);
        let mut fair = LeadCurve::default();
        let mut groups = [Counts::default(); 5];
        // The same calls as one group: as if every agent were alike.
        let (mut naive, mut all) = (LeadCurve::default(), Counts::default());
        for &(i, lead, converted) in &calls {
            let before = groups[i].leads;
            groups[i].add(converted, Some(lead));
            fair.update(&before, &groups[i].leads);
            let before = all.leads;
            all.add(converted, Some(lead));
            naive.update(&before, &all.leads);
        }
        // True: m(lead) = 0.5 + lead, slope 1 at the mean lead of 0.5.
        assert!((fair.mean() - 0.5).abs() < 0.02, "{}", fair.mean());
        assert!((fair.slope() - 1.0).abs() < 0.2, "{}", fair.slope());
        // Ignoring who took the calls credits the leads with the agents' skill.
        assert!(
            naive.slope() > fair.slope() + 0.3,
            "{} {}",
            naive.slope(),
            fair.slope()
        );
        let m = |l| fair.multiplier(Some(l));
        assert!(m(0.9) > 1.25 && m(0.1) < 0.75 && m(0.0) >= MIN_LEAD_MULTIPLIER);
        // Exposure: the calls of an agent given the best leads count for more.
        let mut best = Counts::default();
        let mut worst = Counts::default();
        for _ in 0..100 {
            best.add(false, Some(0.8));
            worst.add(false, Some(0.2));
        }
        worst.add_unleaded(50, 0);
        assert!((fair.exposure(&best) - 100.0 * m(0.8)).abs() < 1e-6);
        assert!((fair.exposure(&worst) - (100.0 * m(0.2) + 50.0)).abs() < 1e-6);
        // An agent who only ever gets one lead adds nothing to the slope.
        let before = fair;
        let mut same = Counts::default();
        for k in 0..50 {
            let b = same.leads;
            same.add(k % 3 == 0, Some(0.7));
            fair.update(&b, &same.leads);
        }
        assert!((fair.slope() - before.slope()).abs() < 0.01);
    }

    #[test]
    fn means_and_occupancy() {
        let mut m = Mean::default();
        assert_eq!(m.mean(), None);
        m.add(10.0);
        m.add(f64::NAN);
        m.add(30.0);
        assert_eq!(m.mean(), Some(20.0));
        assert_eq!(m.shrunk(50.0, 2.0), 35.0);

        let mut o = Occupancy::default();
        let w = 1000.0;
        o.advance(1000, true, w);
        let one = o.peek(0, false, w);
        assert!((one - 0.632).abs() < 1e-3, "{one}");
        assert!(o.peek(10_000, true, w) > 0.99);
        assert!(o.peek(10_000, false, w) < 0.01);
    }

    #[test]
    fn handle_time_distribution_predicts_ends() {
        let mut h = HandleTimes::default();
        // Before data: exponential with a 2-minute mean.
        let p = h.p_end_within(0.0, 10.0);
        assert!((p - (1.0 - (-10.0f64 / 120.0).exp())).abs() < 1e-9);
        // Every call lasts 60..=70 s.
        for i in 0..200 {
            h.record(60.0 + f64::from(i % 11));
        }
        assert!((h.mean_s() - 65.0).abs() < 0.5);
        assert!(
            h.p_end_within(5.0, 10.0) < 0.05,
            "a fresh call will not end soon"
        );
        assert!(
            h.p_end_within(62.0, 10.0) > 0.85,
            "a 62 s call ends within 10 s"
        );
        // Past every observation: the memoryless guess, not a division by zero.
        let p = h.p_end_within(10_000.0, 10.0);
        assert!(p > 0.0 && p < 1.0);
        h.record(f64::INFINITY);
        h.record(-1.0);
        assert_eq!(h.samples(), 200);
        h.record(1e9);
        assert_eq!(h.samples(), 201);
    }
}
