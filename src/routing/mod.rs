//! Agent routing: which human agent takes a transferred call. Pure, on simulated time — the
//! shape of [`crate::call::machine`] and [`crate::campaign::pacing`]: time comes in as an
//! argument (ms), decisions come out; no clock, task, socket or store.
//!
//! ```text
//!  agent desktop ─ login / ready / break / logout / disposition ─┐
//!  call driver ─── call waiting (queue, intent, node, skills, lead score) ─┤
//!  ESL events ──── offer answered / not answered / rejected, hang-ups ─────┼─► Router (pure)
//!  control ─────── agents and queues changed live ─────────────────────────┘     │
//!                                                                                 ▼
//!        offer call X to agent Y (score and its reasons) · hold X for agent Y · withdraw ·
//!        widened · fallback (callback / back to the bot) · abandoned · agent on break
//!        after N no-answers
//! ```
//!
//! - [`config`]: agents (skills with levels, languages, team, concurrency), queues (required
//!   skills, priority, service level, widening, maximum wait, fallback and hold), the skill
//!   catalogue, intent and topic → skill maps; serde (TOML) with validation errors that name
//!   the field.
//! - [`score`]: the match score's components, per-queue weights, and the reasons recorded
//!   with every decision.
//! - [`stats`]: what the router learns: conversion rate per (agent, skill) with
//!   Beta-binomial empirical-Bayes shrinkage toward the team mean, calls counted in average
//!   calls by a learned lead-score curve; handle time, quality, occupancy, the handle-time
//!   distribution.
//! - [`router`]: the [`Router`] core: agent and call state machines, timers, strategies
//!   (longest-idle, top-down, skills-only, aicall's score), the bounded decision log, and
//!   the dialer's agent-availability input.
//!
//! Depends on [`crate::nlu`] (the intent type) and [`crate::campaign::pacing`] (the
//! agent-availability interface the predictive dialer reads). The service drives it: it
//! feeds channel and desktop events in, carries the offers out over ESL, and calls
//! [`Router::handle`] with [`Input::Tick`] at [`Router::next_timeout`].

pub mod config;
pub mod router;
pub mod score;
pub mod stats;

use std::borrow::Borrow;
use std::fmt;
use std::sync::Arc;

pub use config::{AgentConfig, FallbackPolicy, QueueConfig, RoutingConfig, Strategy, WidenStage};
pub use router::{
    AgentState, AgentStatus, CallRequest, Counters, Disposition, Fallback, Input, LogEntry, Output,
    PerformanceRecord, Router,
};
pub use score::{Component, Reasons, Rule, Term, Weights};

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(Arc<str>);

        impl $name {
            pub fn new(s: &str) -> Self {
                Self(Arc::from(s))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                Self::new(s)
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                Self(Arc::from(s))
            }
        }

        impl Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{:?}", &*self.0)
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }
    };
}

id_type!(
    /// An agent's id as configured (`1001`, `alice`): cheap to clone into decisions.
    AgentId
);
id_type!(
    /// A call's id: the channel UUID the service knows the callee's leg by (never a number).
    CallId
);

/// Everything the router refuses, with what it refused. A refused input changes nothing.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum RoutingError {
    // --- configuration (at load or when changed live) ---
    #[error("{field}: unknown skill `{skill}` (known: {known})")]
    UnknownSkill {
        field: String,
        skill: String,
        known: String,
    },
    #[error("{field}: unknown intent `{intent}`")]
    UnknownIntent { field: String, intent: String },
    #[error("{field}: level {level} is out of range 0..=10")]
    LevelOutOfRange { field: String, level: u8 },
    #[error("{field}: `{id}` is defined twice")]
    Duplicate { field: String, id: String },
    #[error("{field}: {why}")]
    Invalid { field: String, why: &'static str },
    #[error("queue `{queue}`: no agent meets its required skills ({required})")]
    Unservable { queue: String, required: String },
    #[error("at most {max} languages can be configured; `{language}` is one too many")]
    TooManyLanguages { language: String, max: usize },

    // --- inputs naming something the router does not know ---
    #[error("unknown agent `{agent}`")]
    UnknownAgent { agent: AgentId },
    #[error("unknown queue `{queue}`")]
    UnknownQueue { queue: String },
    #[error("unknown call `{call}` (never queued, or already gone)")]
    UnknownCall { call: CallId },
    #[error("call `{call}` is already queued or connected")]
    DuplicateCall { call: CallId },

    // --- inputs that do not fit the state ---
    #[error("call `{call}` is not being offered to agent `{agent}`")]
    NotOffered { call: CallId, agent: AgentId },
    #[error("agent `{agent}` never had call `{call}`")]
    NeverHad { agent: AgentId, call: CallId },
    #[error("call `{call}` of agent `{agent}` already has a disposition")]
    AlreadyDisposed { agent: AgentId, call: CallId },
    #[error("agent `{agent}` is logged out")]
    LoggedOut { agent: AgentId },
    #[error("agent `{agent}` was removed")]
    Removed { agent: AgentId },
    #[error("queue `{queue}` was removed")]
    QueueRemoved { queue: String },
}
