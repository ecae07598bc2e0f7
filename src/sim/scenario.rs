//! Simulated callees: what happens when the simulator dials a number, read from a TOML file.
//!
//! ```toml
//! [defaults]
//! outcome = "answer"      # answer | busy | no_answer | rejected | unallocated | voicemail | gateway_down
//! ring_ms = 1000
//! rate = 8000             # channel sample rate: 8000 or 16000
//!
//! [[callee]]
//! number = "13800000001"  # matched against the dialled number (last dial-string segment)
//! name = "interested"     # or selected with {sim_scenario=interested} in the dial string
//! outcome = "answer"
//! ring_ms = 1500
//! script = [
//!   { wait_bot_audio = 5000 },      # wait (at most N ms) until aicall starts talking
//!   { wait_bot_silence_ms = 600 },  # wait until aicall has been quiet for N ms
//!   { say = "replies/yes.wav" },     # speak a WAV (relative to this file)
//!   { silence_ms = 1000 },
//!   { dtmf = "1" },
//!   { hangup = "NORMAL_CLEARING" },
//! ]
//!
//! [[callee]]
//! number = "13800000002"  # a carrier announcement in early media: 183 with audio after
//! outcome = "no_answer"   # ring_ms, the `early` steps play before any answer, then the
//! early = [               # outcome follows (here: cleared unanswered, NO_ANSWER)
//!   { say = "carrier/powered-off.wav" },
//!   { say = "carrier/powered-off.wav" },
//! ]
//! ```
//!
//! `early` takes `say` and `silence_ms` steps (and `hangup`, which ends the call there).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::esl::HangupCause;

/// What the far end does with the call.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    #[default]
    Answer,
    Busy,
    NoAnswer,
    Rejected,
    Unallocated,
    /// Answered by a voicemail system: behaves like `answer`; its script is the greeting.
    Voicemail,
    /// The gateway is down: the originate fails at once, no channel is created.
    GatewayDown,
}

impl Outcome {
    /// The hangup cause of an outcome that fails the originate.
    pub fn failure_cause(self) -> Option<HangupCause> {
        match self {
            Outcome::Answer | Outcome::Voicemail => None,
            Outcome::Busy => Some(HangupCause::UserBusy),
            Outcome::NoAnswer => Some(HangupCause::NoAnswer),
            Outcome::Rejected => Some(HangupCause::CallRejected),
            Outcome::Unallocated => Some(HangupCause::UnallocatedNumber),
            Outcome::GatewayDown => Some(HangupCause::GatewayDown),
        }
    }
}

/// One step of what the callee does after answering.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Step {
    /// Speak a WAV file (16-bit PCM mono; resampled to the channel rate if needed).
    Say(PathBuf),
    SilenceMs(u64),
    /// Wait until aicall sends non-silent audio, at most this many ms.
    WaitBotAudio(u64),
    /// Wait until aicall has sent no non-silent audio for this many ms.
    WaitBotSilenceMs(u64),
    Dtmf(String),
    /// Hang up with this cause.
    Hangup(String),
}

/// One simulated callee.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Callee {
    #[serde(default)]
    pub number: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub outcome: Option<Outcome>,
    #[serde(default)]
    pub ring_ms: Option<u64>,
    #[serde(default)]
    pub rate: Option<u32>,
    #[serde(default)]
    pub script: Vec<Step>,
    /// Early media before the outcome: a ringback tone, or a carrier announcement.
    #[serde(default)]
    pub early: Vec<Step>,
    /// The callee hangs up after this long in the call regardless (default 300 s).
    #[serde(default)]
    pub max_call_ms: Option<u64>,
}

#[derive(Clone, Debug, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
struct Defaults {
    #[serde(default)]
    outcome: Option<Outcome>,
    #[serde(default)]
    ring_ms: Option<u64>,
    #[serde(default)]
    rate: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScenarioFile {
    #[serde(default)]
    defaults: Defaults,
    #[serde(default)]
    callee: Vec<Callee>,
}

/// A callee with every default applied.
#[derive(Clone, Debug, PartialEq)]
pub struct ResolvedCallee {
    pub outcome: Outcome,
    pub ring_ms: u64,
    pub rate: u32,
    pub script: Vec<Step>,
    pub early: Vec<Step>,
    pub max_call_ms: u64,
}

/// Errors reading a scenario file.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("cannot read scenario file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("scenario file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("scenario file {path}: callee #{index}: {message}")]
    Invalid {
        path: PathBuf,
        index: usize,
        message: String,
    },
}

/// All simulated callees.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Scenarios {
    defaults: Defaults,
    by_number: HashMap<String, Callee>,
    by_name: HashMap<String, Callee>,
}

impl Scenarios {
    /// Reads a scenario file; relative WAV paths are resolved against its folder, and each
    /// WAV must exist.
    pub fn load(path: &Path) -> Result<Self, ScenarioError> {
        let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
            path: path.to_owned(),
            source,
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        Self::parse(&text, base).map_err(|e| match e {
            ScenarioError::Parse { message, .. } => ScenarioError::Parse {
                path: path.to_owned(),
                message,
            },
            ScenarioError::Invalid { index, message, .. } => ScenarioError::Invalid {
                path: path.to_owned(),
                index,
                message,
            },
            other => other,
        })
    }

    /// Parses scenario TOML; `base` resolves relative WAV paths.
    pub fn parse(text: &str, base: &Path) -> Result<Self, ScenarioError> {
        let file: ScenarioFile = toml::from_str(text).map_err(|e| ScenarioError::Parse {
            path: PathBuf::new(),
            message: e.to_string(),
        })?;
        let mut out = Scenarios {
            defaults: file.defaults,
            ..Default::default()
        };
        for (index, mut callee) in file.callee.into_iter().enumerate() {
            let invalid = |message: String| ScenarioError::Invalid {
                path: PathBuf::new(),
                index: index + 1,
                message,
            };
            if callee.number.is_none() && callee.name.is_none() {
                return Err(invalid("needs a `number` or a `name`".into()));
            }
            if let Some(rate) = callee.rate {
                if rate != 8000 && rate != 16000 {
                    return Err(invalid(format!("rate {rate} is not 8000 or 16000")));
                }
            }
            if let Some(step) = callee
                .early
                .iter()
                .find(|s| !matches!(s, Step::Say(_) | Step::SilenceMs(_) | Step::Hangup(_)))
            {
                return Err(invalid(format!(
                    "early media plays only `say`, `silence_ms` and `hangup` steps, not {step:?}"
                )));
            }
            for step in callee.script.iter_mut().chain(callee.early.iter_mut()) {
                if let Step::Say(p) = step {
                    if p.is_relative() {
                        *p = base.join(&*p);
                    }
                    if !p.is_file() {
                        return Err(invalid(format!("WAV file {} does not exist", p.display())));
                    }
                }
                if let Step::Hangup(cause) = step {
                    if HangupCause::from_name(cause) == HangupCause::Unknown {
                        return Err(invalid(format!("unknown hangup cause {cause:?}")));
                    }
                }
            }
            if let Some(n) = &callee.number {
                out.by_number.insert(n.clone(), callee.clone());
            }
            if let Some(n) = &callee.name {
                out.by_name.insert(n.clone(), callee);
            }
        }
        Ok(out)
    }

    /// Adds or replaces a callee (tests build scenarios in code).
    pub fn insert(&mut self, callee: Callee) {
        if let Some(n) = &callee.number {
            self.by_number.insert(n.clone(), callee.clone());
        }
        if let Some(n) = &callee.name {
            self.by_name.insert(n.clone(), callee);
        }
    }

    /// True when a callee is configured for the number (or for the `sim_scenario` name):
    /// a `loopback/NUMBER` call then reaches it rather than the dialplan's catch-all.
    pub fn knows(&self, number: &str, scenario_var: Option<&str>) -> bool {
        scenario_var.is_some_and(|n| self.by_name.contains_key(n))
            || self.by_number.contains_key(number)
            || self
                .by_number
                .keys()
                .any(|n| n.len() >= 6 && number.ends_with(n.as_str()))
    }

    /// A callee given in code (an inbound caller), with the defaults applied.
    pub fn resolve_callee(&self, callee: &Callee) -> ResolvedCallee {
        let d = &self.defaults;
        ResolvedCallee {
            outcome: callee.outcome.or(d.outcome).unwrap_or_default(),
            ring_ms: callee.ring_ms.or(d.ring_ms).unwrap_or(1000),
            rate: callee.rate.or(d.rate).unwrap_or(8000),
            script: callee.script.clone(),
            early: callee.early.clone(),
            max_call_ms: callee.max_call_ms.unwrap_or(300_000),
        }
    }

    /// The callee for a dialled number, or for the dial string's `sim_scenario` variable.
    pub fn resolve(&self, number: &str, scenario_var: Option<&str>) -> ResolvedCallee {
        let callee = scenario_var
            .and_then(|n| self.by_name.get(n))
            .or_else(|| self.by_number.get(number))
            .or_else(|| {
                // Numbers are often dialled with a prefix (+86, 0086): match on the tail.
                self.by_number
                    .iter()
                    .find(|(n, _)| n.len() >= 6 && number.ends_with(n.as_str()))
                    .map(|(_, c)| c)
            });
        let d = &self.defaults;
        ResolvedCallee {
            outcome: callee
                .and_then(|c| c.outcome)
                .or(d.outcome)
                .unwrap_or_default(),
            ring_ms: callee.and_then(|c| c.ring_ms).or(d.ring_ms).unwrap_or(1000),
            rate: callee.and_then(|c| c.rate).or(d.rate).unwrap_or(8000),
            script: callee.map(|c| c.script.clone()).unwrap_or_default(),
            early: callee.map(|c| c.early.clone()).unwrap_or_default(),
            max_call_ms: callee.and_then(|c| c.max_call_ms).unwrap_or(300_000),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_resolve_and_defaults() {
        let text = r#"
            [defaults]
            ring_ms = 200
            [[callee]]
            number = "13800000001"
            outcome = "busy"
            [[callee]]
            name = "quiet"
            rate = 16000
            script = [{ silence_ms = 100 }, { hangup = "NORMAL_CLEARING" }]
        "#;
        let s = Scenarios::parse(text, Path::new(".")).expect("valid scenarios");
        let busy = s.resolve("+8613800000001", None);
        assert_eq!(busy.outcome, Outcome::Busy);
        assert_eq!(busy.ring_ms, 200);
        let quiet = s.resolve("999", Some("quiet"));
        assert_eq!(quiet.rate, 16000);
        assert_eq!(quiet.script.len(), 2);
        assert_eq!(s.resolve("123", None).outcome, Outcome::Answer);
    }

    #[test]
    fn errors_name_the_problem() {
        let missing = Scenarios::parse(
            "[[callee]]\nnumber = \"1\"\nscript = [{ say = \"nope.wav\" }]",
            Path::new("/nonexistent"),
        );
        let msg = missing.expect_err("missing WAV").to_string();
        assert!(
            msg.contains("nope.wav") && msg.contains("callee #1"),
            "{msg}"
        );
        let bad = Scenarios::parse(
            "[[callee]]\nnumber = \"1\"\noutcome = \"maybe\"",
            Path::new("."),
        );
        assert!(bad.expect_err("bad outcome").to_string().contains("maybe"));
        let rate = Scenarios::parse("[[callee]]\nname = \"x\"\nrate = 44100", Path::new("."));
        assert!(rate.expect_err("bad rate").to_string().contains("44100"));
        let early = Scenarios::parse(
            "[[callee]]\nname = \"x\"\nearly = [{ dtmf = \"1\" }]",
            Path::new("."),
        );
        let msg = early.expect_err("DTMF in early media").to_string();
        assert!(msg.contains("early media") && msg.contains("Dtmf"), "{msg}");
        let early = Scenarios::parse(
            "[[callee]]\nname = \"x\"\nearly = [{ say = \"tone.wav\" }]",
            Path::new("/nonexistent"),
        );
        assert!(early
            .expect_err("missing WAV")
            .to_string()
            .contains("tone.wav"));
    }
}
