//! FreeSWITCH's Event Socket protocol, on one frame model for all three roles aicall plays:
//! the client that drives FreeSWITCH ([`client`]), and the server side ([`server`]) used by
//! the switch simulator and the supervisor console.
//!
//! - [`frame`]: the sans-IO frame model and decoder (headers, blank line, body; size caps;
//!   "need more" on partial input).
//! - [`event`]: `text/event-plain|json` bodies, percent-encoding, typed event views.
//! - [`command`]: client commands, written and parsed.
//! - [`hangup`]: hangup causes.
//! - [`router`]: one connection's events routed to the owners of their channels.
//!
//! Depends on nothing else in aicall.
//!
//! Why our own client rather than a crate: ESL.md's evaluation leaves `freeswitch-esl-tokio`
//! as the only sound client, but it has no server side, and aicall needs one frame model
//! for client, console and simulator alike; ours also parses events about twice as fast
//! (see `benches/esl_parse.rs`) with two allocations per event.

pub mod client;
pub mod command;
pub mod event;
pub mod frame;
pub mod hangup;
pub mod router;
pub mod server;

pub use client::{
    BgJob, ChannelInfo, ClientConfig, ClientEvent, EslClient, EslError, EventStream, JobResult,
};
pub use command::Command;
pub use event::{Event, EventFormat, EventKind};
pub use frame::{Frame, FrameDecoder, FrameError, Headers, Peer};
pub use hangup::HangupCause;
pub use router::{ChannelEvents, ChannelRouter, Routed};
