//! The call record: what the supervisor, the agent who takes a transfer, and the feedback loop
//! (lead scores, script quality) read about one call — its CDR, the transcript with timings,
//! intents and barge-ins, the path through the graph, every decision, and the latency figures.
//! Stored as JSON sealed with the PII key (transcripts are personal data).

use serde::{Deserialize, Serialize};

use super::machine::{BargeRecord, Decision};
use super::script::Disposition;
use crate::store::{Store, StoreError};

/// Who spoke.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Speaker {
    Bot,
    Callee,
    /// The call after its bridge to an agent: the agent and the callee as one stream
    /// (heard through an eavesdropping leg, which mixes the two sides).
    Bridged,
}

impl Speaker {
    /// The name the records, events and pages use.
    pub fn as_str(self) -> &'static str {
        match self {
            Speaker::Bot => "bot",
            Speaker::Callee => "callee",
            Speaker::Bridged => "bridged",
        }
    }
}

/// One line of the transcript.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Turn {
    /// Call time (ms after answer) the line started.
    pub at_ms: u64,
    pub speaker: Speaker,
    pub text: String,
    /// The bot's prompt key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    /// The callee's intent and its confidence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intent: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence: Option<f32>,
    /// Recognition and understanding time of a callee line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asr_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nlu_ms: Option<u64>,
    /// The callee line's sentiment score in [-1, 1] (`nlu::sentiment`), for the reports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sentiment: Option<f32>,
    /// The bot's prompt was cut by the callee (played ms), or the callee's line was held.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl Turn {
    /// A callee's reply: the callee's words after the answer, not early media (a ringback's
    /// words heard before a call that was then answered).
    pub fn is_reply(&self) -> bool {
        self.speaker == Speaker::Callee && !self.is_early_media()
    }

    /// Heard on early media, before any answer ([`EARLY_MEDIA_NOTE`]).
    pub fn is_early_media(&self) -> bool {
        self.note.as_deref() == Some(EARLY_MEDIA_NOTE)
    }

    /// A line with nothing but its time, speaker and text; the rest is added by name
    /// (`Turn { intent: ..., ..Turn::new(at_ms, speaker, text) }`).
    pub fn new(at_ms: u64, speaker: Speaker, text: impl Into<String>) -> Turn {
        Turn {
            at_ms,
            speaker,
            text: text.into(),
            prompt: None,
            intent: None,
            confidence: None,
            asr_ms: None,
            nlu_ms: None,
            sentiment: None,
            note: None,
        }
    }
}

/// The note on a line heard on early media, before any answer (a carrier's announcement, a
/// ringback's words): no callee's reply.
pub const EARLY_MEDIA_NOTE: &str = "early media";

/// Everything about one answered call (or one decided on early media: `answered` false).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CallRecord {
    pub uuid: String,
    pub campaign: String,
    pub contact_id: Option<u64>,
    pub script: String,
    /// Unix ms. A call decided on early media (a carrier announcement before any answer):
    /// when its early media began.
    pub answered_at: i64,
    /// False: the call was decided on early media and never answered (a carrier
    /// announcement heard before any answer); reports count it with the unanswered calls.
    /// Records stored before this field existed were all answered.
    #[serde(default = "answered_default")]
    pub answered: bool,
    pub ended_at: i64,
    pub disposition: Option<Disposition>,
    pub hangup_cause: Option<String>,
    pub transferred_to: Option<String>,
    /// The agent of aicall's desk who took the transfer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    /// What that agent filed after the call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_outcome: Option<AgentOutcome>,
    pub callback_at: Option<i64>,
    pub tags: Vec<String>,
    pub path: Vec<String>,
    pub turns: Vec<Turn>,
    pub decisions: Vec<DecisionLine>,
    pub barge_ins: Vec<BargeLine>,
    /// End of the callee's speech → first frame of the bot's next prompt, per turn.
    pub turn_latency_ms: Vec<u32>,
    /// Speech onset → prompt stopped, per barge-in by speech.
    pub barge_in_latency_ms: Vec<u32>,
    pub dtmf: String,
}

fn answered_default() -> bool {
    true
}

/// An agent's disposition of a call it took.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AgentOutcome {
    pub agent: String,
    /// The call's outcome as the agent filed it (interested, callback, dnc, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Disposition>,
    pub converted: bool,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub notes: String,
    /// A callback the agent agreed with the callee (unix seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback_at: Option<i64>,
    /// Unix seconds.
    pub at: i64,
}

/// A decision, stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DecisionLine {
    pub at_ms: u64,
    pub node: String,
    pub what: String,
}

impl From<&Decision> for DecisionLine {
    fn from(d: &Decision) -> Self {
        DecisionLine {
            at_ms: d.at_ms,
            node: d.node.clone(),
            what: d.what.clone(),
        }
    }
}

/// A barge-in, stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BargeLine {
    pub at_ms: u64,
    pub prompt: String,
    pub played_ms: u32,
    pub verdict: String,
    pub mode: String,
}

impl From<&BargeRecord> for BargeLine {
    fn from(b: &BargeRecord) -> Self {
        BargeLine {
            at_ms: b.at_ms,
            prompt: b.prompt.clone(),
            played_ms: b.played_ms,
            verdict: format!("{:?}", b.verdict).to_lowercase(),
            mode: b.mode.to_owned(),
        }
    }
}

impl CallRecord {
    /// Writes the record (sealed) to the store.
    pub fn save(&self, store: &dyn Store) -> Result<(), StoreError> {
        // A struct of strings, numbers and vectors always serialises.
        let json = serde_json::to_vec(self).map_err(|e| StoreError::Corrupt {
            key: format!("call {}", self.uuid),
            reason: e.to_string(),
        })?;
        store.put_call_record(&self.campaign, &self.uuid, &json)
    }

    /// Changes a stored record: read, `change`, written back, under a lock that every
    /// change of a finished call's record takes (the agent's disposition, the bridged call's
    /// transcript), so that neither loses the other's. False when there is no record.
    pub fn update(
        store: &dyn Store,
        campaign: &str,
        uuid: &str,
        change: impl FnOnce(&mut CallRecord),
    ) -> Result<bool, StoreError> {
        static CHANGING: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let _guard = CHANGING.lock().unwrap_or_else(|p| p.into_inner());
        let Some(mut record) = Self::load(store, campaign, uuid)? else {
            return Ok(false);
        };
        change(&mut record);
        record.save(store)?;
        Ok(true)
    }

    /// Reads a call's record.
    pub fn load(
        store: &dyn Store,
        campaign: &str,
        uuid: &str,
    ) -> Result<Option<CallRecord>, StoreError> {
        match store.call_record(campaign, uuid)? {
            Some(bytes) => {
                serde_json::from_slice(&bytes)
                    .map(Some)
                    .map_err(|e| StoreError::Corrupt {
                        key: format!("call {uuid}"),
                        reason: e.to_string(),
                    })
            }
            None => Ok(None),
        }
    }

    /// Every record of a campaign.
    pub fn all(store: &dyn Store, campaign: &str) -> Result<Vec<CallRecord>, StoreError> {
        store
            .call_records(campaign)?
            .iter()
            .map(|b| {
                serde_json::from_slice(b).map_err(|e| StoreError::Corrupt {
                    key: format!("call record of {campaign}"),
                    reason: e.to_string(),
                })
            })
            .collect()
    }

    /// The conversation so far as an agent reads it on transfer: one line per turn.
    pub fn conversation(&self) -> String {
        self.turns
            .iter()
            .map(|t| {
                let who = t.speaker.as_str();
                match &t.intent {
                    Some(i) => format!("{who}: {} [{i}]", t.text),
                    None => format!("{who}: {}", t.text),
                }
            })
            .collect::<Vec<_>>()
            .join(" | ")
    }
}
