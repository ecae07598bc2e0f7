//! Pacing: how fast and on which lines. Pure — time comes in as milliseconds.
//!
//! - [`Pacer`]: a concurrency limit, a calls-per-second token bucket, and line pools (a
//!   gateway with a channel capacity and a caller-ID pool rotated per call; primary pools are
//!   used before backup ones; a pool whose gateway is down is paused).
//! - [`render_dial_string`]: the dial-string template with contact fields and pool variables.
//! - [`Predictive`]: for campaigns that transfer to human agents, the number of calls to place
//!   from the measured answer rate, time to answer and talk time, and the agents free, busy and
//!   soon free ([`AgentSnapshot`], read through [`AgentAvailability`] — the routing module's
//!   side), with a hard abandon-rate cap.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

/// One line pool.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LinePool {
    pub name: String,
    pub gateway: String,
    /// Channels the gateway accepts at once.
    pub capacity: u32,
    /// Caller IDs used in turn, one per call.
    #[serde(default)]
    pub caller_ids: Vec<String>,
    /// Used only when every primary pool is full or paused.
    #[serde(default)]
    pub backup: bool,
}

/// Predictive pacing settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct PredictiveConfig {
    /// Hard cap on abandoned / answered over the rolling window.
    pub abandon_cap: f64,
    /// Answered calls in the rolling window.
    pub window: usize,
    /// Never dial more than this many calls per free agent.
    pub max_ratio: f64,
}

impl Default for PredictiveConfig {
    fn default() -> Self {
        Self {
            abandon_cap: 0.03,
            window: 500,
            max_ratio: 3.0,
        }
    }
}

/// A campaign's pacing settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct PacingConfig {
    pub max_concurrent: u32,
    pub calls_per_s: f64,
    pub pools: Vec<LinePool>,
    /// `${name}` is replaced by a contact field, or by `phone`, `gateway`, `caller_id`.
    pub dial_template: String,
    pub originate_timeout_s: u32,
    /// How long a pool stays paused after its gateway answered GATEWAY_DOWN.
    pub gateway_down_pause_s: u64,
    pub predictive: Option<PredictiveConfig>,
}

impl Default for PacingConfig {
    fn default() -> Self {
        Self {
            max_concurrent: 10,
            calls_per_s: 5.0,
            pools: vec![LinePool {
                name: "default".into(),
                gateway: "default".into(),
                capacity: 30,
                caller_ids: vec![],
                backup: false,
            }],
            dial_template:
                "{origination_caller_id_number=${caller_id}}sofia/gateway/${gateway}/${phone}"
                    .into(),
            originate_timeout_s: 30,
            gateway_down_pause_s: 60,
            predictive: None,
        }
    }
}

/// A slot for one call: a concurrency slot and a channel of one pool, with its caller ID.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    pub pool: usize,
    pub gateway: String,
    pub caller_id: String,
}

/// Why no slot is available now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wait {
    /// The concurrency limit is reached: wait for a call to end.
    Concurrency,
    /// The rate limit: a token is available at this time (ms).
    RateUntil(i64),
    /// Every pool is full or paused; `until` is when the first paused one resumes.
    NoLine { until: Option<i64> },
}

#[derive(Clone, Debug, Default)]
struct PoolState {
    in_use: u32,
    paused_until_ms: Option<i64>,
    next_cid: usize,
}

/// Pacing state of one campaign.
#[derive(Debug, Clone)]
pub struct Pacer {
    cfg: PacingConfig,
    in_flight: u32,
    tokens: f64,
    last_ms: Option<i64>,
    pools: Vec<PoolState>,
}

impl Pacer {
    pub fn new(cfg: PacingConfig) -> Self {
        let pools = vec![PoolState::default(); cfg.pools.len()];
        Self {
            tokens: 1.0,
            cfg,
            in_flight: 0,
            last_ms: None,
            pools,
        }
    }

    pub fn in_flight(&self) -> u32 {
        self.in_flight
    }

    /// Changes the limits live (a supervisor's `campaign pace`): calls up above a lowered
    /// limit finish; new ones wait until the campaign is under it.
    pub fn set_limits(&mut self, max_concurrent: Option<u32>, calls_per_s: Option<f64>) {
        if let Some(n) = max_concurrent {
            self.cfg.max_concurrent = n;
        }
        if let Some(r) = calls_per_s {
            self.cfg.calls_per_s = r;
        }
    }

    /// Channels in use on each pool.
    pub fn pool_usage(&self) -> Vec<u32> {
        self.pools.iter().map(|p| p.in_use).collect()
    }

    fn refill(&mut self, now_ms: i64) {
        let burst = self.cfg.calls_per_s.max(1.0);
        if let Some(last) = self.last_ms {
            let dt = (now_ms - last).max(0) as f64 / 1000.0;
            self.tokens = (self.tokens + dt * self.cfg.calls_per_s).min(burst);
        }
        self.last_ms = Some(now_ms);
    }

    /// Takes a slot, if the limits allow one now.
    pub fn try_acquire(&mut self, now_ms: i64) -> Result<Grant, Wait> {
        if self.in_flight >= self.cfg.max_concurrent {
            return Err(Wait::Concurrency);
        }
        self.refill(now_ms);
        if self.tokens < 1.0 || self.cfg.calls_per_s <= 0.0 {
            let rate = self.cfg.calls_per_s.max(1e-3);
            let wait_ms = ((1.0 - self.tokens) / rate * 1000.0).ceil() as i64;
            return Err(Wait::RateUntil(now_ms + wait_ms.max(1)));
        }
        let mut resume: Option<i64> = None;
        let mut chosen = None;
        for backup in [false, true] {
            for (i, pool) in self.cfg.pools.iter().enumerate() {
                if pool.backup != backup {
                    continue;
                }
                let st = &mut self.pools[i];
                if let Some(until) = st.paused_until_ms {
                    if until > now_ms {
                        resume = Some(resume.map_or(until, |r: i64| r.min(until)));
                        continue;
                    }
                    st.paused_until_ms = None;
                }
                if st.in_use < pool.capacity {
                    chosen = Some(i);
                    break;
                }
            }
            if chosen.is_some() {
                break;
            }
        }
        let Some(i) = chosen else {
            return Err(Wait::NoLine { until: resume });
        };
        let pool = &self.cfg.pools[i];
        let st = &mut self.pools[i];
        st.in_use += 1;
        let caller_id = if pool.caller_ids.is_empty() {
            String::new()
        } else {
            let cid = pool.caller_ids[st.next_cid % pool.caller_ids.len()].clone();
            st.next_cid = (st.next_cid + 1) % pool.caller_ids.len();
            cid
        };
        self.in_flight += 1;
        self.tokens -= 1.0;
        Ok(Grant {
            pool: i,
            gateway: pool.gateway.clone(),
            caller_id,
        })
    }

    /// Gives a slot back (every end path of a call, through the driver's drop guard).
    pub fn release(&mut self, grant: &Grant) {
        self.in_flight = self.in_flight.saturating_sub(1);
        if let Some(st) = self.pools.get_mut(grant.pool) {
            st.in_use = st.in_use.saturating_sub(1);
        }
    }

    /// Counts a call that is already up (found live when reconciling after a restart).
    pub fn adopt(&mut self, grant: &Grant) {
        self.in_flight += 1;
        if let Some(st) = self.pools.get_mut(grant.pool) {
            st.in_use += 1;
        }
    }

    /// Pauses a pool whose gateway is down.
    pub fn pause_pool(&mut self, pool: usize, now_ms: i64) {
        let until = now_ms + self.cfg.gateway_down_pause_s as i64 * 1000;
        if let Some(st) = self.pools.get_mut(pool) {
            st.paused_until_ms = Some(until);
        }
    }

    /// Resets the usage counters to what FreeSWITCH reports (reconciliation).
    pub fn reconcile(&mut self, in_flight_by_pool: &[u32]) {
        for (st, n) in self.pools.iter_mut().zip(in_flight_by_pool) {
            st.in_use = *n;
        }
        self.in_flight = in_flight_by_pool.iter().sum();
    }
}

/// Errors rendering a dial string.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("dial-string template uses `${{{0}}}`, which the contact does not have")]
    Missing(String),
    #[error("dial-string template has an unclosed `${{` at byte {0}")]
    Unclosed(usize),
}

/// Replaces `${name}` with `lookup(name)`. Values are stripped of characters that would
/// change the dial string's structure (`{}[],'"` and whitespace), so a contact field cannot
/// inject channel variables.
pub fn render_dial_string(
    template: &str,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<String, TemplateError> {
    let mut out = String::with_capacity(template.len() + 32);
    let mut rest = template;
    let mut offset = 0;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .ok_or(TemplateError::Unclosed(offset + start))?;
        let name = &after[..end];
        let value = lookup(name).ok_or_else(|| TemplateError::Missing(name.to_owned()))?;
        out.extend(value.chars().filter(|c| {
            !matches!(c, '{' | '}' | '[' | ']' | ',' | '\'' | '"') && !c.is_whitespace()
        }));
        offset += start + 2 + end + 1;
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Adds channel variables in front of a dial string, merging with its own `{…}` block.
pub fn with_channel_vars(dial: &str, vars: &str) -> String {
    match dial.strip_prefix('{') {
        Some(rest) => format!("{{{vars},{rest}"),
        None => format!("{{{vars}}}{dial}"),
    }
}

/// The agents a predictive campaign transfers to, as the routing side sees them now.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AgentSnapshot {
    /// Waiting for a call.
    pub free: u32,
    /// Talking (each frees up after the average talk time, on average).
    pub busy: u32,
    /// In wrap-up or otherwise known to be free within the next few seconds.
    pub soon: u32,
}

/// Where the dialer reads the agents from: the routing module implements it; the driver
/// reads it on every dial round of a predictive campaign.
pub trait AgentAvailability: Send + Sync + std::fmt::Debug {
    fn snapshot(&self) -> AgentSnapshot;
}

/// An [`AgentAvailability`] fed by whoever knows the agents (a routing module, the ACD's
/// events, a test): clones share the same counters.
#[derive(Clone, Debug, Default)]
pub struct SharedAgents(Arc<Mutex<AgentSnapshot>>);

impl SharedAgents {
    pub fn new(snapshot: AgentSnapshot) -> Self {
        Self(Arc::new(Mutex::new(snapshot)))
    }

    pub fn set(&self, snapshot: AgentSnapshot) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = snapshot;
    }
}

impl AgentAvailability for SharedAgents {
    fn snapshot(&self) -> AgentSnapshot {
        *self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Predictive pacing state.
#[derive(Debug, Clone)]
pub struct Predictive {
    cfg: PredictiveConfig,
    /// Recent dials: answered or not (for the answer rate).
    dials: VecDeque<bool>,
    /// Recent answered calls: abandoned or not.
    answered: VecDeque<bool>,
    /// Mean seconds from dial to answer, and agent talk time (exponentially weighted).
    to_answer_s: f64,
    talk_s: f64,
}

impl Predictive {
    /// Changes the most calls placed per free agent (a supervisor's `campaign pace`).
    pub fn set_max_ratio(&mut self, ratio: f64) {
        self.cfg.max_ratio = ratio;
    }
}

/// Weight of a new sample in the moving means.
const EWMA: f64 = 0.05;

impl Predictive {
    pub fn new(cfg: PredictiveConfig) -> Self {
        Self {
            cfg,
            dials: VecDeque::new(),
            answered: VecDeque::new(),
            // Priors until calls are measured: 10 s to answer, 2 min talking.
            to_answer_s: 10.0,
            talk_s: 120.0,
        }
    }

    /// An answered call took this long from dial to answer.
    pub fn record_time_to_answer(&mut self, secs: f64) {
        if secs.is_finite() && secs >= 0.0 {
            self.to_answer_s += EWMA * (secs - self.to_answer_s);
        }
    }

    /// A connected call kept its agent this long.
    pub fn record_talk_time(&mut self, secs: f64) {
        if secs.is_finite() && secs >= 0.0 {
            self.talk_s += EWMA * (secs - self.talk_s);
        }
    }

    /// Agents expected to be free when a call placed now is answered: the free ones, the
    /// ones the routing says are about to be, and the busy ones whose call ends within the
    /// mean time to answer (talk times taken as exponential).
    pub fn expected_free(&self, agents: AgentSnapshot) -> f64 {
        let p_end = 1.0 - (-self.to_answer_s / self.talk_s.max(1e-3)).exp();
        f64::from(agents.free) + f64::from(agents.soon) + f64::from(agents.busy) * p_end
    }

    /// A dial ended ringing: answered or not.
    pub fn record_dial(&mut self, answered: bool) {
        self.dials.push_back(answered);
        if self.dials.len() > self.cfg.window * 4 {
            self.dials.pop_front();
        }
    }

    /// An answered call was connected to an agent, or abandoned (no agent free).
    pub fn record_answered(&mut self, abandoned: bool) {
        self.answered.push_back(abandoned);
        if self.answered.len() > self.cfg.window {
            self.answered.pop_front();
        }
    }

    pub fn abandon_rate(&self) -> f64 {
        if self.answered.is_empty() {
            return 0.0;
        }
        self.answered.iter().filter(|a| **a).count() as f64 / self.answered.len() as f64
    }

    /// Measured answer rate, with a prior of 1 answer in 2 dials until data comes in.
    pub fn answer_rate(&self) -> f64 {
        let n = self.dials.len() as f64;
        let a = self.dials.iter().filter(|a| **a).count() as f64;
        ((a + 1.0) / (n + 2.0)).clamp(0.02, 1.0)
    }

    /// How many new calls to place now, with `ringing` calls placed and not yet answered.
    /// The dial ratio is 1 / answer rate (capped at `max_ratio`) over the agents expected to
    /// be free ([`Predictive::expected_free`]). Calls beyond one per free agent may be
    /// abandoned if too many answer, so they are only placed within the abandon budget: the
    /// abandons the cap still allows over the window, less the over-dialled calls already
    /// ringing (each could become one) — a worst-case bound, so the cap holds whatever the
    /// callees do.
    pub fn calls_to_place(&self, agents: AgentSnapshot, ringing: u32) -> u32 {
        let free = i64::from(agents.free);
        let ringing = i64::from(ringing);
        let safe = (free - ringing).max(0);
        let p = self.answer_rate();
        let ratio = (1.0 / p).min(self.cfg.max_ratio.max(1.0));
        let balanced = ((self.expected_free(agents) * ratio).floor() as i64 - ringing).max(0);
        let answered = self.answered.len() as f64;
        let abandoned = self.answered.iter().filter(|a| **a).count() as i64;
        let allowed = (self.cfg.abandon_cap * (answered + 1.0)).floor() as i64;
        let overdialled = (ringing - free).max(0);
        let budget = (allowed - abandoned - overdialled).max(0);
        balanced.min(safe + budget).max(0) as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(pools: Vec<LinePool>) -> PacingConfig {
        PacingConfig {
            max_concurrent: 3,
            calls_per_s: 2.0,
            pools,
            ..PacingConfig::default()
        }
    }

    fn pool(name: &str, cap: u32, cids: &[&str], backup: bool) -> LinePool {
        LinePool {
            name: name.into(),
            gateway: format!("gw-{name}"),
            capacity: cap,
            caller_ids: cids.iter().map(|s| s.to_string()).collect(),
            backup,
        }
    }

    #[test]
    fn limits_rotation_backup_and_pause() {
        let mut p = Pacer::new(cfg(vec![
            pool("a", 1, &["100", "101"], false),
            pool("b", 5, &["200"], true),
        ]));
        let g1 = p.try_acquire(0).expect("first");
        assert_eq!(
            (g1.gateway.as_str(), g1.caller_id.as_str()),
            ("gw-a", "100")
        );
        // One token per 500 ms.
        assert_eq!(p.try_acquire(0), Err(Wait::RateUntil(500)));
        let g2 = p.try_acquire(500).expect("second, on the backup pool");
        assert_eq!(g2.gateway, "gw-b");
        p.release(&g1);
        let g3 = p.try_acquire(1000).expect("third, primary again");
        assert_eq!(g3.caller_id, "101");
        let g4 = p.try_acquire(1500).expect("fourth");
        assert_eq!(p.try_acquire(2000), Err(Wait::Concurrency));
        for g in [&g2, &g3, &g4] {
            p.release(g);
        }
        assert_eq!(p.in_flight(), 0);
        assert_eq!(p.pool_usage(), vec![0, 0]);
        p.pause_pool(0, 2000);
        p.pause_pool(1, 2000);
        assert_eq!(
            p.try_acquire(2500),
            Err(Wait::NoLine {
                until: Some(62_000)
            })
        );
        assert!(p.try_acquire(62_000).is_ok());
    }

    #[test]
    fn dial_string_template() {
        let s = render_dial_string(
            "{origination_caller_id_number=${caller_id}}sofia/gateway/${gateway}/${phone}",
            |k| match k {
                "caller_id" => Some("100".into()),
                "gateway" => Some("gw1".into()),
                "phone" => Some("+8613800138000".into()),
                _ => None,
            },
        )
        .expect("renders");
        assert_eq!(
            s,
            "{origination_caller_id_number=100}sofia/gateway/gw1/+8613800138000"
        );
        assert_eq!(
            render_dial_string("${x}", |_| Some("a},{evil=1".into())).expect("renders"),
            "aevil=1"
        );
        assert_eq!(
            render_dial_string("${nope}", |_| None),
            Err(TemplateError::Missing("nope".into()))
        );
        assert_eq!(
            render_dial_string("ab${x", |_| None),
            Err(TemplateError::Unclosed(2))
        );
        assert_eq!(with_channel_vars("{a=1}x", "u=2"), "{u=2,a=1}x");
        assert_eq!(with_channel_vars("x", "u=2"), "{u=2}x");
    }
}
