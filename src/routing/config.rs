//! Routing configuration: agents, queues (skill groups), the skill catalogue, the intent and
//! topic maps, and the router's timers and fairness limits. TOML-friendly serde types with
//! `deny_unknown_fields`; [`compile`] checks them and turns names into indexes, with errors
//! that name the field (`agents[2] (alice).skills.helth: unknown skill`).
//!
//! ```toml
//! strategy = "score"
//! skills = ["health", "auto", "claims", "english"]
//!
//! [intents]
//! complaint = { claims = 1.0 }
//!
//! [[agents]]
//! id = "1001"
//! dial = "user/1001"
//! skills = { health = 8, claims = 5, english = 6 }
//! languages = ["en", "zh"]
//! team = "north"
//!
//! [[queues]]
//! name = "health"
//! required = { health = 5 }
//! max_wait_s = 180
//! widen = [{ after_s = 30, required = { health = 3 } }]
//! ```

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::score::Weights;
use super::{AgentId, RoutingError};
use crate::nlu::Intent;

/// How an agent is chosen for a call, and a call for an agent. The baselines serve calls
/// first come, first served within a queue priority; they differ in the agent they pick.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// The eligible agent idle the longest (mod_callcenter's default, `longest-idle-agent`).
    LongestIdle,
    /// The first eligible agent in configuration order (mod_callcenter's `top-down`).
    TopDown,
    /// The eligible agent with the best skill fit, ties to the longest idle.
    SkillsOnly,
    /// aicall's match score (see [`super::score`]).
    #[default]
    Score,
}

impl Strategy {
    pub const ALL: [Strategy; 4] = [
        Strategy::LongestIdle,
        Strategy::TopDown,
        Strategy::SkillsOnly,
        Strategy::Score,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::LongestIdle => "longest_idle",
            Strategy::TopDown => "top_down",
            Strategy::SkillsOnly => "skills_only",
            Strategy::Score => "score",
        }
    }
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What happens to a call that waited a queue's maximum wait.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FallbackPolicy {
    /// A callback at the time the callee gave; back to the bot (goodbye) when none was given.
    #[default]
    CallbackOrBot,
    /// Always a callback: at the callee's time, or the dialer's default delay.
    Callback,
    /// Back to the bot, which says goodbye.
    Bot,
}

/// A queue's service-level target: `target` of the calls answered within `within_s`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServiceLevel {
    pub within_s: u32,
    pub target: f32,
}

impl Default for ServiceLevel {
    fn default() -> Self {
        Self {
            within_s: 20,
            target: 0.8,
        }
    }
}

/// A widening step: after `after_s` of waiting, agents meeting `required` may take the call
/// too (the queue's own requirement when empty), and with `any_language` the call's language
/// is no longer required.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WidenStage {
    pub after_s: u32,
    #[serde(default)]
    pub required: BTreeMap<String, u8>,
    #[serde(default)]
    pub any_language: bool,
}

/// A queue (skill group).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueConfig {
    pub name: String,
    /// Calls of a higher-priority queue are served first.
    #[serde(default)]
    pub priority: i32,
    /// Skill → minimum level an agent needs.
    #[serde(default)]
    pub required: BTreeMap<String, u8>,
    #[serde(default)]
    pub service_level: ServiceLevel,
    #[serde(default)]
    pub widen: Vec<WidenStage>,
    #[serde(default = "default_max_wait_s")]
    pub max_wait_s: u32,
    #[serde(default)]
    pub fallback: FallbackPolicy,
    /// Only agents who speak the call's language, until a widening step lifts it.
    #[serde(default = "yes")]
    pub language_strict: bool,
    #[serde(default)]
    pub weights: Weights,
    /// Strategy `score`: a call worth more than an average one may wait up to this long
    /// (from its arrival, and never past half the service level's `within_s`, which leaves
    /// the other half for ringing) for a clearly better agent whose wrap-up ends by then,
    /// rather than go at once to the best agent free. 0 never holds a call.
    #[serde(default = "default_hold_s")]
    pub hold_s: u32,
}

fn default_max_wait_s() -> u32 {
    180
}

fn default_hold_s() -> u32 {
    10
}

fn yes() -> bool {
    true
}

impl QueueConfig {
    /// A queue with defaults for everything but its name and requirement.
    pub fn new(name: &str, required: &[(&str, u8)]) -> Self {
        Self {
            name: name.to_owned(),
            priority: 0,
            required: required
                .iter()
                .map(|(s, l)| ((*s).to_owned(), *l))
                .collect(),
            service_level: ServiceLevel::default(),
            widen: Vec::new(),
            max_wait_s: default_max_wait_s(),
            fallback: FallbackPolicy::default(),
            language_strict: true,
            weights: Weights::default(),
            hold_s: default_hold_s(),
        }
    }
}

/// An agent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentConfig {
    pub id: String,
    /// Shown on the dashboard; the id when absent.
    #[serde(default)]
    pub name: Option<String>,
    /// Where the call is bridged: `user/1001`, `sofia/gateway/gw/…`, any dial string.
    pub dial: String,
    /// Skill → level 0..=10.
    #[serde(default)]
    pub skills: BTreeMap<String, u8>,
    /// Language codes (`en`, `zh`); compared without case.
    #[serde(default)]
    pub languages: Vec<String>,
    #[serde(default = "one")]
    pub max_concurrent: u32,
    #[serde(default = "default_team")]
    pub team: String,
    /// Overrides the router's wrap-up time for this agent.
    #[serde(default)]
    pub wrap_up_s: Option<u32>,
}

fn one() -> u32 {
    1
}

fn default_team() -> String {
    "default".into()
}

impl AgentConfig {
    /// An agent with defaults for everything but id, dial string and skills.
    pub fn new(id: &str, dial: &str, skills: &[(&str, u8)]) -> Self {
        Self {
            id: id.to_owned(),
            name: None,
            dial: dial.to_owned(),
            skills: skills.iter().map(|(s, l)| ((*s).to_owned(), *l)).collect(),
            languages: Vec::new(),
            max_concurrent: 1,
            team: default_team(),
            wrap_up_s: None,
        }
    }
}

/// The router's configuration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RoutingConfig {
    pub strategy: Strategy,
    /// The skill catalogue; skills named by queues are known too.
    pub skills: Vec<String>,
    /// Unanswered offers in a row that put an agent on break (mod_callcenter's
    /// `max-no-answer`); 0 never does.
    pub max_no_answer: u32,
    /// An agent is not offered a call for this long after not answering one.
    pub no_answer_delay_s: u32,
    /// … or after rejecting one.
    pub reject_delay_s: u32,
    /// An offer nobody answered is taken back after this long.
    pub ring_timeout_s: u32,
    pub wrap_up_s: u32,
    /// Fairness: an eligible agent idle this long gets the next call it can take, whatever
    /// the score says (no agent is starved). 0 turns the cap off.
    pub max_idle_s: u32,
    /// Fairness: an agent whose occupancy is above this is not offered a call while an
    /// eligible agent below it is free.
    pub max_occupancy: f32,
    /// Time constant of the occupancy's moving average.
    pub occupancy_window_s: u32,
    /// Idle time at which the score's idle term reaches 63 % of its weight.
    pub idle_scale_s: u32,
    /// Shrinkage strength (pseudo-calls) toward the team mean: the most an agent's
    /// conversion record is shrunk by. Once enough dispositions exist the router estimates
    /// the strength from the spread between agents, and uses the estimate when it is
    /// smaller (the agents differ more than this says). Not the other way: shrinking
    /// harder than this keeps the router from acting on what it learns until late in the
    /// day, and on `aicall bench routing` a strength of 10 converted better than the
    /// estimate (60 to 80 there) all day, the second day too. Acting early on a record
    /// that is partly luck corrects itself — the agent the router favours gets the calls
    /// that reveal it — while a real difference shrunk away is never looked at again.
    pub prior_strength: f32,
    /// Agents whose wrap-up or call is expected to end within this horizon count as "soon
    /// free" for the predictive dialer.
    pub soon_horizon_s: u32,
    /// Decisions kept in the log the service shows.
    pub log_capacity: usize,
    /// Intent label (`complaint`, `ask_price`) → skill → weight, added to a call's wanted
    /// skills.
    pub intents: BTreeMap<String, BTreeMap<String, f32>>,
    /// Script node (the one that led to the transfer) → skill → weight.
    pub topics: BTreeMap<String, BTreeMap<String, f32>>,
    pub agents: Vec<AgentConfig>,
    pub queues: Vec<QueueConfig>,
    /// The live transcript of a call bridged to an agent: aicall listens through a
    /// loopback call that eavesdrops on it, dialled here; its far end must answer and park
    /// (`dialplans/aicall.xml`'s `aicall_listen`). Empty: no transcript after the bridge.
    pub listen_dial: String,
}

impl Default for RoutingConfig {
    fn default() -> Self {
        Self {
            strategy: Strategy::Score,
            skills: Vec::new(),
            max_no_answer: 3,
            no_answer_delay_s: 10,
            reject_delay_s: 10,
            ring_timeout_s: 20,
            wrap_up_s: 10,
            max_idle_s: 300,
            max_occupancy: 0.9,
            occupancy_window_s: 1800,
            idle_scale_s: 60,
            prior_strength: 10.0,
            soon_horizon_s: 10,
            log_capacity: 1000,
            intents: BTreeMap::new(),
            topics: BTreeMap::new(),
            agents: Vec::new(),
            queues: Vec::new(),
            listen_dial: "loopback/aicall_listen/aicall".into(),
        }
    }
}

impl RoutingConfig {
    /// Checks everything [`super::Router::new`] would.
    pub fn validate(&self) -> Result<(), RoutingError> {
        compile(self).map(|_| ())
    }
}

/// Index of a skill in the catalogue.
pub(crate) type SkillId = usize;
/// Index of a language; languages are a bit set per agent.
pub(crate) type LangId = usize;
/// Languages an agent can speak at most (one bit each).
pub(crate) const MAX_LANGUAGES: usize = 64;
/// Skill levels are 0..=10.
pub(crate) const MAX_LEVEL: u8 = 10;

/// Skill and language names as indexes, and the intent/topic maps over them.
#[derive(Clone, Debug, Default)]
pub(crate) struct Catalogue {
    pub skills: Vec<String>,
    skill_index: HashMap<String, SkillId>,
    pub languages: Vec<String>,
    lang_index: HashMap<String, LangId>,
    /// By [`Intent::index`].
    pub intents: Vec<Vec<(SkillId, f32)>>,
    pub topics: HashMap<String, Vec<(SkillId, f32)>>,
}

impl Catalogue {
    pub fn skill(&self, name: &str) -> Option<SkillId> {
        self.skill_index.get(name).copied()
    }

    pub fn add_skill(&mut self, name: &str) -> SkillId {
        if let Some(id) = self.skill(name) {
            return id;
        }
        self.skills.push(name.to_owned());
        self.skill_index
            .insert(name.to_owned(), self.skills.len() - 1);
        self.skills.len() - 1
    }

    pub fn language(&self, name: &str) -> Option<LangId> {
        self.lang_index.get(&name.trim().to_lowercase()).copied()
    }

    fn add_language(&mut self, name: &str) -> Result<LangId, RoutingError> {
        let key = name.trim().to_lowercase();
        if let Some(&id) = self.lang_index.get(&key) {
            return Ok(id);
        }
        if self.languages.len() >= MAX_LANGUAGES {
            return Err(RoutingError::TooManyLanguages {
                language: key,
                max: MAX_LANGUAGES,
            });
        }
        self.languages.push(key.clone());
        self.lang_index.insert(key, self.languages.len() - 1);
        Ok(self.languages.len() - 1)
    }

    fn known(&self) -> String {
        if self.skills.is_empty() {
            return "none".into();
        }
        self.skills.join(", ")
    }

    /// A skill that must already be known.
    pub fn require_skill(&self, field: &str, name: &str) -> Result<SkillId, RoutingError> {
        self.skill(name).ok_or_else(|| RoutingError::UnknownSkill {
            field: field.to_owned(),
            skill: name.to_owned(),
            known: self.known(),
        })
    }

    /// A `skill → weight` map as indexes; every skill must be known.
    fn weights(
        &self,
        field: &str,
        map: &BTreeMap<String, f32>,
    ) -> Result<Vec<(SkillId, f32)>, RoutingError> {
        let mut out = Vec::with_capacity(map.len());
        for (skill, &w) in map {
            let f = format!("{field}.{skill}");
            let id = self.require_skill(&f, skill)?;
            if !w.is_finite() || !(0.0..=100.0).contains(&w) {
                return Err(RoutingError::Invalid {
                    field: f,
                    why: "a weight must be a number in 0..=100",
                });
            }
            out.push((id, w));
        }
        Ok(out)
    }

    /// A `skill → minimum level` map as indexes; every skill must be known.
    fn requirement(
        &self,
        field: &str,
        map: &BTreeMap<String, u8>,
    ) -> Result<Vec<(SkillId, u8)>, RoutingError> {
        let mut out = Vec::with_capacity(map.len());
        for (skill, &level) in map {
            let f = format!("{field}.{skill}");
            let id = self.require_skill(&f, skill)?;
            if level > MAX_LEVEL {
                return Err(RoutingError::LevelOutOfRange { field: f, level });
            }
            out.push((id, level));
        }
        Ok(out)
    }
}

/// An agent's configuration as indexes.
#[derive(Clone, Debug)]
pub(crate) struct AgentProfile {
    pub id: AgentId,
    pub name: String,
    pub dial: Arc<str>,
    pub team: String,
    /// By skill id; `None` when the agent does not have the skill.
    pub levels: Vec<Option<u8>>,
    /// Bit per [`LangId`].
    pub languages: u64,
    pub max_concurrent: u32,
    pub wrap_up_ms: Option<u64>,
}

impl AgentProfile {
    pub fn meets(&self, requirement: &[(SkillId, u8)]) -> bool {
        requirement
            .iter()
            .all(|&(s, min)| matches!(self.levels.get(s), Some(Some(l)) if *l >= min))
    }

    pub fn level(&self, skill: SkillId) -> u8 {
        self.levels.get(skill).copied().flatten().unwrap_or(0)
    }
}

/// One widening step as indexes.
#[derive(Clone, Debug)]
pub(crate) struct Stage {
    pub after_ms: u64,
    pub required: Vec<(SkillId, u8)>,
    pub any_language: bool,
}

/// A queue's configuration as indexes.
#[derive(Clone, Debug)]
pub(crate) struct QueueRules {
    pub name: String,
    pub priority: i32,
    pub required: Vec<(SkillId, u8)>,
    /// Sorted by `after_ms`.
    pub stages: Vec<Stage>,
    pub service_level_ms: u64,
    pub max_wait_ms: u64,
    pub fallback: FallbackPolicy,
    pub language_strict: bool,
    pub weights: Weights,
    /// How long after its arrival a call may be held for a better agent: `hold_s`, at most
    /// half the service level.
    pub hold_ms: u64,
}

impl QueueRules {
    /// Requirement sets in force after `stage` widening steps (the base one first).
    pub fn requirements(&self, stage: usize) -> impl Iterator<Item = &[(SkillId, u8)]> {
        std::iter::once(self.required.as_slice()).chain(
            self.stages[..stage.min(self.stages.len())]
                .iter()
                .map(|s| s.required.as_slice()),
        )
    }

    /// Whether the call's language is still required after `stage` steps.
    pub fn language_required(&self, stage: usize) -> bool {
        self.language_strict
            && !self.stages[..stage.min(self.stages.len())]
                .iter()
                .any(|s| s.any_language)
    }

    /// Widening steps reached after waiting `waited_ms`.
    pub fn stage_after(&self, waited_ms: u64) -> usize {
        self.stages
            .iter()
            .take_while(|s| s.after_ms <= waited_ms)
            .count()
    }

    pub fn describe_requirement(&self, catalogue: &Catalogue) -> String {
        if self.required.is_empty() {
            return "none".into();
        }
        self.required
            .iter()
            .map(|&(s, l)| format!("{} >= {l}", catalogue.skills[s]))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The router-wide settings in milliseconds.
#[derive(Clone, Debug)]
pub(crate) struct Settings {
    pub strategy: Strategy,
    pub max_no_answer: u32,
    pub no_answer_delay_ms: u64,
    pub reject_delay_ms: u64,
    pub ring_timeout_ms: u64,
    pub wrap_up_ms: u64,
    pub max_idle_ms: u64,
    pub max_occupancy: f32,
    pub occupancy_window_ms: f64,
    pub idle_scale_ms: f64,
    pub prior_strength: f32,
    pub soon_horizon_ms: u64,
    pub log_capacity: usize,
}

/// A checked configuration.
#[derive(Clone, Debug)]
pub(crate) struct Compiled {
    pub settings: Settings,
    pub catalogue: Catalogue,
    pub agents: Vec<AgentProfile>,
    pub queues: Vec<QueueRules>,
}

fn invalid(field: impl Into<String>, why: &'static str) -> RoutingError {
    RoutingError::Invalid {
        field: field.into(),
        why,
    }
}

fn settings(cfg: &RoutingConfig) -> Result<Settings, RoutingError> {
    if cfg.ring_timeout_s == 0 {
        return Err(invalid("ring_timeout_s", "must be at least 1 second"));
    }
    if !cfg.max_occupancy.is_finite() || !(0.0..=1.0).contains(&cfg.max_occupancy) {
        return Err(invalid("max_occupancy", "must be a fraction in 0..=1"));
    }
    if cfg.occupancy_window_s == 0 {
        return Err(invalid("occupancy_window_s", "must be at least 1 second"));
    }
    if cfg.idle_scale_s == 0 {
        return Err(invalid("idle_scale_s", "must be at least 1 second"));
    }
    if !cfg.prior_strength.is_finite() || !(0.0..=10_000.0).contains(&cfg.prior_strength) {
        return Err(invalid("prior_strength", "must be a number in 0..=10000"));
    }
    if cfg.log_capacity > 1_000_000 {
        return Err(invalid("log_capacity", "must be at most 1000000"));
    }
    let ms = |s: u32| u64::from(s) * 1000;
    Ok(Settings {
        strategy: cfg.strategy,
        max_no_answer: cfg.max_no_answer,
        no_answer_delay_ms: ms(cfg.no_answer_delay_s),
        reject_delay_ms: ms(cfg.reject_delay_s),
        ring_timeout_ms: ms(cfg.ring_timeout_s),
        wrap_up_ms: ms(cfg.wrap_up_s),
        max_idle_ms: ms(cfg.max_idle_s),
        max_occupancy: cfg.max_occupancy,
        occupancy_window_ms: ms(cfg.occupancy_window_s) as f64,
        idle_scale_ms: ms(cfg.idle_scale_s) as f64,
        prior_strength: cfg.prior_strength,
        soon_horizon_ms: ms(cfg.soon_horizon_s),
        log_capacity: cfg.log_capacity,
    })
}

fn check_name(field: &str, name: &str) -> Result<(), RoutingError> {
    if name.trim().is_empty() {
        return Err(invalid(field, "must not be empty"));
    }
    if name.len() > 128 || name.chars().any(char::is_control) {
        return Err(invalid(
            field,
            "must be at most 128 bytes without control characters",
        ));
    }
    Ok(())
}

/// Checks one agent against the catalogue (languages are added to it).
pub(crate) fn compile_agent(
    catalogue: &mut Catalogue,
    field: &str,
    a: &AgentConfig,
) -> Result<AgentProfile, RoutingError> {
    check_name(&format!("{field}.id"), &a.id)?;
    if a.dial.trim().is_empty() {
        return Err(invalid(format!("{field}.dial"), "must not be empty"));
    }
    if a.dial.chars().any(char::is_control) {
        return Err(invalid(
            format!("{field}.dial"),
            "must not contain control characters",
        ));
    }
    if a.max_concurrent == 0 || a.max_concurrent > 16 {
        return Err(invalid(
            format!("{field}.max_concurrent"),
            "must be in 1..=16",
        ));
    }
    check_name(&format!("{field}.team"), &a.team)?;
    let required = catalogue.requirement(&format!("{field}.skills"), &a.skills)?;
    let mut levels = vec![None; catalogue.skills.len()];
    for (s, l) in required {
        levels[s] = Some(l);
    }
    // Languages are checked before any is added, so a refused agent leaves no trace.
    let new_languages = a
        .languages
        .iter()
        .filter(|l| catalogue.language(l).is_none())
        .count();
    for (i, l) in a.languages.iter().enumerate() {
        check_name(&format!("{field}.languages[{i}]"), l)?;
    }
    if catalogue.languages.len() + new_languages > MAX_LANGUAGES {
        return Err(RoutingError::TooManyLanguages {
            language: a.languages.last().cloned().unwrap_or_default(),
            max: MAX_LANGUAGES,
        });
    }
    let mut languages = 0u64;
    for l in &a.languages {
        languages |= 1 << catalogue.add_language(l)?;
    }
    Ok(AgentProfile {
        id: AgentId::new(&a.id),
        name: a.name.clone().unwrap_or_else(|| a.id.clone()),
        dial: Arc::from(a.dial.as_str()),
        team: a.team.clone(),
        levels,
        languages,
        max_concurrent: a.max_concurrent,
        wrap_up_ms: a.wrap_up_s.map(|s| u64::from(s) * 1000),
    })
}

/// Checks one queue against the catalogue (its skills must be known by then).
pub(crate) fn compile_queue(
    catalogue: &Catalogue,
    field: &str,
    q: &QueueConfig,
) -> Result<QueueRules, RoutingError> {
    check_name(&format!("{field}.name"), &q.name)?;
    let required = catalogue.requirement(&format!("{field}.required"), &q.required)?;
    let mut stages = Vec::with_capacity(q.widen.len());
    for (i, st) in q.widen.iter().enumerate() {
        let f = format!("{field}.widen[{i}]");
        let mut req = catalogue.requirement(&format!("{f}.required"), &st.required)?;
        if st.required.is_empty() {
            req = required.clone();
        }
        stages.push(Stage {
            after_ms: u64::from(st.after_s) * 1000,
            required: req,
            any_language: st.any_language,
        });
    }
    stages.sort_by_key(|s| s.after_ms);
    let sl = &q.service_level;
    if sl.within_s == 0 {
        return Err(invalid(
            format!("{field}.service_level.within_s"),
            "must be at least 1 second",
        ));
    }
    if !sl.target.is_finite() || !(0.0..=1.0).contains(&sl.target) {
        return Err(invalid(
            format!("{field}.service_level.target"),
            "must be a fraction in 0..=1",
        ));
    }
    if q.max_wait_s == 0 {
        return Err(invalid(
            format!("{field}.max_wait_s"),
            "must be at least 1 second",
        ));
    }
    q.weights.check(&format!("{field}.weights"))?;
    Ok(QueueRules {
        name: q.name.clone(),
        priority: q.priority,
        required,
        stages,
        service_level_ms: u64::from(sl.within_s) * 1000,
        max_wait_ms: u64::from(q.max_wait_s) * 1000,
        fallback: q.fallback,
        language_strict: q.language_strict,
        weights: q.weights.clone(),
        hold_ms: (u64::from(q.hold_s) * 1000).min(u64::from(sl.within_s) * 500),
    })
}

/// Whether some agent meets the queue's base requirement or one of its widening steps'.
pub(crate) fn servable<'a>(
    q: &QueueRules,
    mut agents: impl Iterator<Item = &'a AgentProfile>,
) -> bool {
    agents.any(|a| q.requirements(q.stages.len()).any(|r| a.meets(r)))
}

/// Checks a whole configuration.
pub(crate) fn compile(cfg: &RoutingConfig) -> Result<Compiled, RoutingError> {
    let settings = settings(cfg)?;
    let mut catalogue = Catalogue::default();
    for (i, s) in cfg.skills.iter().enumerate() {
        check_name(&format!("skills[{i}]"), s)?;
        if catalogue.skill(s).is_some() {
            return Err(RoutingError::Duplicate {
                field: format!("skills[{i}]"),
                id: s.clone(),
            });
        }
        catalogue.add_skill(s);
    }
    // Skills a queue requires are known even when the catalogue does not list them.
    for q in &cfg.queues {
        for s in q
            .required
            .keys()
            .chain(q.widen.iter().flat_map(|w| w.required.keys()))
        {
            catalogue.add_skill(s);
        }
    }
    catalogue.intents = vec![Vec::new(); Intent::ALL.len()];
    for (label, map) in &cfg.intents {
        let field = format!("intents.{label}");
        let intent: Intent = label.parse().map_err(|_| RoutingError::UnknownIntent {
            field: field.clone(),
            intent: label.clone(),
        })?;
        catalogue.intents[intent.index()] = catalogue.weights(&field, map)?;
    }
    for (node, map) in &cfg.topics {
        let w = catalogue.weights(&format!("topics.{node}"), map)?;
        catalogue.topics.insert(node.clone(), w);
    }
    let mut agents = Vec::with_capacity(cfg.agents.len());
    let mut seen = HashMap::new();
    for (i, a) in cfg.agents.iter().enumerate() {
        let field = format!("agents[{i}] ({})", a.id);
        if seen.insert(a.id.as_str(), i).is_some() {
            return Err(RoutingError::Duplicate {
                field: format!("agents[{i}].id"),
                id: a.id.clone(),
            });
        }
        agents.push(compile_agent(&mut catalogue, &field, a)?);
    }
    let mut queues = Vec::with_capacity(cfg.queues.len());
    let mut seen = HashMap::new();
    for (i, q) in cfg.queues.iter().enumerate() {
        if seen.insert(q.name.as_str(), i).is_some() {
            return Err(RoutingError::Duplicate {
                field: format!("queues[{i}].name"),
                id: q.name.clone(),
            });
        }
        let rules = compile_queue(&catalogue, &format!("queues[{i}] ({})", q.name), q)?;
        if !servable(&rules, agents.iter()) {
            return Err(RoutingError::Unservable {
                queue: q.name.clone(),
                required: rules.describe_requirement(&catalogue),
            });
        }
        queues.push(rules);
    }
    Ok(Compiled {
        settings,
        catalogue,
        agents,
        queues,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = r#"
strategy = "score"
skills = ["health", "auto", "claims", "english"]
max_no_answer = 2

[intents]
complaint = { claims = 1.0 }
ask_price = { health = 0.5, auto = 0.5 }

[topics]
offer_health = { health = 1.0 }

[[agents]]
id = "1001"
dial = "user/1001"
skills = { health = 8, claims = 5, english = 6 }
languages = ["en", "ZH"]
team = "north"

[[agents]]
id = "1002"
name = "Bo"
dial = "sofia/gateway/pbx/1002"
skills = { auto = 7 }
languages = ["zh"]
wrap_up_s = 5

[[queues]]
name = "health"
priority = 2
required = { health = 5 }
max_wait_s = 120
fallback = "bot"
widen = [{ after_s = 30, required = { health = 3 } }, { after_s = 60, any_language = true }]
service_level = { within_s = 15, target = 0.9 }
weights = { performance = 3.0, continuity = 0.0 }

[[queues]]
name = "auto"
required = { auto = 4 }
"#;

    fn example() -> RoutingConfig {
        toml::from_str(EXAMPLE).expect("the example parses")
    }

    #[test]
    fn example_parses_and_compiles() {
        let cfg = example();
        let c = compile(&cfg).expect("valid");
        assert_eq!(c.catalogue.skills, ["health", "auto", "claims", "english"]);
        assert_eq!(c.catalogue.languages, ["en", "zh"]);
        let a = &c.agents[0];
        assert_eq!(a.level(0), 8);
        assert_eq!(a.levels[1], None);
        assert_eq!(a.languages, 0b11);
        assert_eq!(c.agents[1].name, "Bo");
        assert_eq!(c.agents[1].wrap_up_ms, Some(5000));
        let q = &c.queues[0];
        assert_eq!(q.stages.len(), 2);
        // An empty widening requirement keeps the queue's own.
        assert_eq!(q.stages[1].required, q.required);
        assert!(q.language_required(1));
        assert!(!q.language_required(2));
        assert_eq!(q.stage_after(29_999), 0);
        assert_eq!(q.stage_after(30_000), 1);
        assert_eq!(q.requirements(1).count(), 2);
        assert_eq!(q.weights.performance, 3.0);
        assert_eq!(q.weights.continuity, 0.0);
        assert_eq!(
            q.weights.skill,
            Weights::default().skill,
            "unset weights default"
        );
        assert_eq!(
            c.catalogue.intents[Intent::Complaint.index()],
            vec![(2, 1.0)]
        );
        assert_eq!(c.catalogue.topics["offer_health"], vec![(0, 1.0)]);
    }

    #[test]
    fn unknown_fields_are_refused() {
        let err = toml::from_str::<RoutingConfig>("stratgy = \"score\"").expect_err("typo");
        assert!(err.to_string().contains("stratgy"), "{err}");
        let err = toml::from_str::<RoutingConfig>(
            "[[agents]]\nid = \"1\"\ndial = \"user/1\"\nskils = {}\n",
        )
        .expect_err("typo");
        assert!(err.to_string().contains("skils"), "{err}");
    }

    #[test]
    fn an_agent_with_an_unknown_skill_is_named() {
        let mut cfg = example();
        cfg.agents[1].skills.insert("helth".into(), 3);
        let err = compile(&cfg).expect_err("unknown skill");
        assert_eq!(
            err,
            RoutingError::UnknownSkill {
                field: "agents[1] (1002).skills.helth".into(),
                skill: "helth".into(),
                known: "health, auto, claims, english".into(),
            }
        );
        assert!(err
            .to_string()
            .starts_with("agents[1] (1002).skills.helth: unknown skill"));
    }

    #[test]
    fn a_queue_no_agent_can_serve_is_refused() {
        let mut cfg = example();
        cfg.queues[1].required.insert("auto".into(), 9);
        let err = compile(&cfg).expect_err("nobody has auto 9");
        assert_eq!(
            err,
            RoutingError::Unservable {
                queue: "auto".into(),
                required: "auto >= 9".into()
            }
        );
        // A widening step someone meets makes it servable.
        cfg.queues[1].widen.push(WidenStage {
            after_s: 20,
            required: [("auto".to_owned(), 6)].into(),
            any_language: false,
        });
        compile(&cfg).expect("servable once widened");
    }

    #[test]
    fn bad_values_name_their_field() {
        type Change = Box<dyn Fn(&mut RoutingConfig)>;
        let cases: Vec<(Change, &str)> = vec![
            (
                Box::new(|c| {
                    c.agents[0].skills.insert("health".into(), 11);
                }),
                "agents[0] (1001).skills.health: level 11",
            ),
            (
                Box::new(|c| c.agents[1].id = "1001".into()),
                "agents[1].id: `1001` is defined twice",
            ),
            (
                Box::new(|c| c.agents[0].dial = " ".into()),
                "agents[0] (1001).dial",
            ),
            (
                Box::new(|c| c.agents[0].max_concurrent = 0),
                "agents[0] (1001).max_concurrent",
            ),
            (
                Box::new(|c| c.queues[1].name = "health".into()),
                "queues[1].name: `health` is defined twice",
            ),
            (
                Box::new(|c| c.queues[0].service_level.target = 1.5),
                "queues[0] (health).service_level.target",
            ),
            (
                Box::new(|c| c.queues[0].weights.skill = f32::NAN),
                "queues[0] (health).weights.skill",
            ),
            (
                Box::new(|c| c.queues[0].max_wait_s = 0),
                "queues[0] (health).max_wait_s",
            ),
            (
                Box::new(|c| {
                    c.intents.insert("complain".into(), BTreeMap::new());
                }),
                "intents.complain: unknown intent",
            ),
            (
                Box::new(|c| {
                    c.topics
                        .insert("n".into(), [("nope".to_owned(), 1.0)].into());
                }),
                "topics.n.nope: unknown skill",
            ),
            (
                Box::new(|c| c.max_occupancy = 2.0),
                "max_occupancy: must be a fraction",
            ),
            (
                Box::new(|c| c.ring_timeout_s = 0),
                "ring_timeout_s: must be at least 1 second",
            ),
            (
                Box::new(|c| c.skills.push("auto".into())),
                "skills[4]: `auto` is defined twice",
            ),
        ];
        for (change, expected) in cases {
            let mut cfg = example();
            change(&mut cfg);
            let err = compile(&cfg).expect_err(expected);
            assert!(
                err.to_string().starts_with(expected),
                "expected `{expected}`, got `{err}`"
            );
        }
    }

    #[test]
    fn too_many_languages_is_an_error_not_an_overflow() {
        let mut cfg = example();
        cfg.agents[1].languages = (0..70).map(|i| format!("l{i}")).collect();
        let err = compile(&cfg).expect_err("70 languages");
        assert!(matches!(
            err,
            RoutingError::TooManyLanguages { max: 64, .. }
        ));
    }
}
