//! The AI call: a conversation walked through a script graph.
//!
//! ```text
//!  ESL events ─┐                                   ┌─► media: play / stop prompts
//!  media events├─► driver (task per call) ─► machine (pure) ─┤─► ESL: transfer, hang up
//!  ASR + NLU ──┘        ▲  inputs                directives └─► store: DNC, callback, record
//! ```
//!
//! - [`script`]: the script file format, validation with file and line, the graph as text/DOT.
//! - [`policy`]: backchannel / noise / echo classification, Q&A retrieval (pure).
//! - [`machine`]: the call state machine on simulated time (pure).
//! - [`record`]: the call record (CDR + transcript + path + decisions) kept in the store.
//! - [`prompts`]: prompt audio for a call: recorded WAVs, or text rendered by a [`prompts::Tts`].
//! - [`driver`]: the per-call task over ESL, the media engine, the ASR pool and the intent model
//!   (the service layer, `crate::app`, starts one for each answered call it owns).
//! - [`summary`]: the figures over a campaign's call records.
//! - [`events`]: what happens on a call, as it happens, for supervisors and integrations.
//! - [`transfer`]: handing a call to aicall's agent desk (hold, screen pop, fallbacks).
//! - [`bridged`]: the live transcript of a call bridged to an agent (a listening leg).
//!
//! Depends on [`crate::esl`], [`crate::media`], [`crate::asr`], [`crate::nlu`],
//! [`crate::store`].

pub mod bridged;
pub mod driver;
pub mod events;
pub mod machine;
pub mod policy;
pub mod prompts;
pub mod record;
pub mod script;
pub mod summary;
pub mod transfer;

pub use machine::{CallMachine, Directive, Failure, Input, Reply};
pub use record::{CallRecord, Turn};
pub use script::{BargeMode, Disposition, Script, ScriptError};
