//! What happens on a call, as it happens: the events the service publishes for supervisors
//! (the ESL console's `CUSTOM aicall::call`), dashboards, metrics and CRM hooks.
//!
//! The call driver sends the conversation's events (answered, each turn with its transcript
//! and intent, barge-ins, transfers); whoever places the call sends its start and its end.
//! Sending never blocks and never fails a call: the service's sink puts them on a broadcast
//! channel whose slow readers lose the oldest, which is what a watcher can afford and a
//! call cannot.
//! Phone numbers appear only masked.

use serde::{Deserialize, Serialize};

use super::record::Speaker;
use crate::outcome::Disposition;

/// One event of one call.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum CallEvent {
    /// The originate left (or a dialplan handed the call over).
    Started {
        uuid: String,
        campaign: String,
        contact_id: Option<u64>,
        /// The callee's number, masked.
        callee: String,
    },
    /// The callee answered and the conversation begins.
    Answered { uuid: String, campaign: String },
    /// A line of the conversation.
    Turn {
        uuid: String,
        campaign: String,
        speaker: Speaker,
        text: String,
        /// The script node the call is at.
        node: String,
        /// The callee's intent and its confidence; the reply's sentiment in [-1, 1].
        #[serde(default, skip_serializing_if = "Option::is_none")]
        intent: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        confidence: Option<f32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sentiment: Option<f32>,
        /// Recognition time of a callee line.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        asr_ms: Option<u64>,
    },
    /// The callee spoke over a prompt and it stopped.
    BargeIn {
        uuid: String,
        campaign: String,
        prompt: String,
        played_ms: u32,
        latency_ms: u32,
    },
    /// End of the callee's speech → first frame of the bot's answer.
    TurnLatency {
        uuid: String,
        campaign: String,
        ms: u32,
    },
    /// Handed to a queue of human agents.
    Transfer {
        uuid: String,
        campaign: String,
        queue: String,
    },
    /// The call is over.
    Ended {
        uuid: String,
        campaign: String,
        contact_id: Option<u64>,
        disposition: Disposition,
        /// The hangup cause, when the switch said.
        cause: Option<String>,
        answered: bool,
        billsec: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        callback_at: Option<i64>,
    },
}

impl CallEvent {
    /// The channel the event is about.
    pub fn uuid(&self) -> &str {
        match self {
            CallEvent::Started { uuid, .. }
            | CallEvent::Answered { uuid, .. }
            | CallEvent::Turn { uuid, .. }
            | CallEvent::BargeIn { uuid, .. }
            | CallEvent::TurnLatency { uuid, .. }
            | CallEvent::Transfer { uuid, .. }
            | CallEvent::Ended { uuid, .. } => uuid,
        }
    }

    pub fn campaign(&self) -> &str {
        match self {
            CallEvent::Started { campaign, .. }
            | CallEvent::Answered { campaign, .. }
            | CallEvent::Turn { campaign, .. }
            | CallEvent::BargeIn { campaign, .. }
            | CallEvent::TurnLatency { campaign, .. }
            | CallEvent::Transfer { campaign, .. }
            | CallEvent::Ended { campaign, .. } => campaign,
        }
    }

    /// The event's name as the console shows it (`Event-Action`).
    pub fn action(&self) -> &'static str {
        match self {
            CallEvent::Started { .. } => "started",
            CallEvent::Answered { .. } => "answered",
            CallEvent::Turn { .. } => "turn",
            CallEvent::BargeIn { .. } => "barge_in",
            CallEvent::TurnLatency { .. } => "turn_latency",
            CallEvent::Transfer { .. } => "transfer",
            CallEvent::Ended { .. } => "ended",
        }
    }
}

type Sink = std::sync::Arc<dyn Fn(CallEvent) + Send + Sync>;

/// Where a call's events go: the service's sink (which must not block), or nowhere.
#[derive(Clone, Default)]
pub struct CallEvents(Option<Sink>);

impl std::fmt::Debug for CallEvents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "CallEvents(sink)"
        } else {
            "CallEvents(none)"
        })
    }
}

impl CallEvents {
    pub fn new(sink: impl Fn(CallEvent) + Send + Sync + 'static) -> Self {
        Self(Some(std::sync::Arc::new(sink)))
    }

    /// Publishes an event.
    pub fn send(&self, ev: CallEvent) {
        if let Some(sink) = &self.0 {
            sink(ev);
        }
    }
}
