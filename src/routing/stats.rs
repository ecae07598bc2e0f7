//! What the router learns from calls and dispositions. Pure arithmetic, no time source.
//!
//! - Conversion rate per (agent, skill), shrunk toward the team's rate on the skill scaled
//!   by the agent's lift across all its skills, the team's rate itself shrunk toward the
//!   overall rate (Beta-binomial, empirical Bayes): with `m` pseudo-calls of prior,
//!   `p_agent = (converted + m · p_team · lift) / (calls + m)` and
//!   `p_team = (team converted + m · p_all) / (team calls + m)`. `m` is estimated from the
//!   spread of the agents' rates by the method of moments ([`prior_strength`]): a team whose
//!   agents truly differ gets a small `m` (trust each agent's record early), one whose
//!   differences are noise a large one. Until a skill has dispositions from a few agents `m`
//!   is the configured `prior_strength`.
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

/// Calls and conversions, for one agent, team or skill.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub calls: u32,
    pub converted: u32,
}

impl Counts {
    pub fn add(&mut self, converted: bool) {
        self.calls = self.calls.saturating_add(1);
        self.converted = self.converted.saturating_add(u32::from(converted));
    }

    /// Laplace-smoothed rate, for the overall mean (never 0 or 1).
    pub fn smoothed(&self) -> f32 {
        (self.converted as f32 + 1.0) / (self.calls as f32 + 2.0)
    }
}

/// `(converted + m · toward) / (calls + m)`.
pub fn shrink(c: Counts, toward: f32, m: f32) -> f32 {
    let den = c.calls as f32 + m;
    if den <= 0.0 {
        return toward;
    }
    (c.converted as f32 + m * toward) / den
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
    /// `None` with too little data (fewer than 3 agents or 30 calls).
    pub fn of(agents: impl Iterator<Item = Counts>) -> Option<Self> {
        let counts: Vec<Counts> = agents.filter(|c| c.calls > 0).collect();
        let k = counts.len();
        let n_total: u64 = counts.iter().map(|c| u64::from(c.calls)).sum();
        let c_total: u64 = counts.iter().map(|c| u64::from(c.converted)).sum();
        if k < MIN_AGENTS || n_total < u64::from(MIN_CALLS) {
            return None;
        }
        let mu = c_total as f64 / n_total as f64;
        let pq = mu * (1.0 - mu);
        // Two passes: the pooled rate first, then the spread around it.
        let spread: f64 = counts
            .iter()
            .map(|c| {
                let r = f64::from(c.converted) / f64::from(c.calls);
                f64::from(c.calls) * (r - mu) * (r - mu)
            })
            .sum();
        Some(Self {
            excess: spread - k as f64 * pq,
            scale: (n_total as f64 - k as f64) * pq,
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
pub fn prior_strength(agents: impl Iterator<Item = Counts>, fallback: f32) -> f32 {
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

    fn agents(rates: &[f64], calls: u32, seed: u64) -> Vec<Counts> {
        let mut u = uniform(seed);
        rates
            .iter()
            .map(|&p| {
                let mut c = Counts::default();
                for _ in 0..calls {
                    c.add(u() < p);
                }
                c
            })
            .collect()
    }

    #[test]
    fn shrinkage_pulls_small_records_toward_the_team() {
        let lucky = Counts {
            calls: 3,
            converted: 3,
        };
        let veteran = Counts {
            calls: 300,
            converted: 90,
        };
        let team = 0.2;
        let m = 20.0;
        let p_lucky = shrink(lucky, team, m);
        let p_veteran = shrink(veteran, team, m);
        // 3 of 3 is barely above the team; 90 of 300 stays near its own 30 %.
        assert!(p_lucky > team && p_lucky < 0.35, "{p_lucky}");
        assert!((p_veteran - 0.2937).abs() < 1e-3, "{p_veteran}");
        assert_eq!(shrink(Counts::default(), team, m), team);
        assert_eq!(shrink(Counts::default(), team, 0.0), team);
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
        let alpha = lift_strength(differ.iter().map(|c| (c.converted, 60.0)), 10.0);
        // True lift variance 0.104 → α ≈ 9.6; the estimate is of that order.
        assert!((3.0..40.0).contains(&alpha), "{alpha}");
        let best = lift(differ[5].converted, 60.0, alpha);
        let worst = lift(differ[0].converted, 60.0, alpha);
        assert!(best > 1.2 && worst < 0.8, "best {best}, worst {worst}");
        let same = agents(&[0.15; 6], 400, 5);
        let alpha_same = lift_strength(same.iter().map(|c| (c.converted, 60.0)), 10.0);
        assert!(alpha_same > 50.0, "{alpha_same}");
        assert_eq!(lift(0, 0.0, 10.0), 1.0);
        assert_eq!(lift_strength(std::iter::empty(), 10.0), 10.0);
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
