//! aicall — an AI outbound-calling engine for FreeSWITCH.
//!
//! Data flow (one screen):
//!
//! ```text
//!  lists (CSV/XLSX, REST) ─┐        CRM webhooks/REST ─┐
//!                          ▼                           ▼
//!                  store (sled embedded | PostgreSQL for several controllers)
//!                          │            ▲ interactions, CDRs, transcripts
//!                          ▼            │
//!  profile (features, GBM lead score, k-means segment, best hour to call)
//!                          │
//!                          ▼
//!  campaign::dialer (pure) — calling windows, DNC / gray lists, frequency caps,
//!    retry by hangup cause, ordering by score, pacing
//!                          │ originate (bgapi)
//!                          ▼
//!  esl (codec + client) ───────────────► FreeSWITCH  (or `sim`, the switch simulator)
//!         ▲ channel events                     │ call audio: `unicast` L16 over UDP
//!         │                                    ▼ ▲ prompt audio back on the same socket
//!  call::driver (task per call) ◄── media: ingress → resample → VAD → ASR → nlu
//!         │
//!         ▼
//!  call::machine (pure) = script engine + barge-in policy + timers
//!         │ directives: play, stop (barge-in), transfer, hang up
//!         ▼
//!  routing (pure) → api (REST, dashboard, agent desktop) · console (ESL server for fs_cli)
//! ```
//!
//! Modules, each with a `//!` header saying what it owns and what it may depend on:
//!
//! - [`app`]: the service (`aicall serve`): campaigns run together over one switch
//!   connection, their calls, the control interface (HTTP), the outbound socket.
//! - [`esl`]: ESL frame model, codec, client and server side, per-channel event routing.
//! - [`sim`]: the FreeSWITCH 1.10 switch simulator used by tests and the demo.
//! - [`media`]: unicast call audio both ways, prompt playback, resampling, VAD, barge-in.
//! - [`asr`]: offline speech recognition (Whisper base on candle), decode pool.
//! - [`nlu`]: intent, sentiment, slots and keywords of a callee's reply.
//! - [`call`]: the AI call — script graph, pure call state machine with the barge-in policy,
//!   the per-call driver over ESL + media + ASR + NLU, call records, the campaign runner.
//! - [`profile`]: lead scoring, segments, best time to call, lookalikes.
//! - [`outcome`]: how a call attempt ended — one disposition type for call, dialer and store.
//! - [`store`]: durable dialer state (sled), PII encrypted at rest; [`campaign`]: lists,
//!   compliance, retries, ordering, pacing and the dialer driver.
//! - [`routing`]: human agents — skills, queues, the match score learned from dispositions,
//!   fairness, and the predictive dialer's agent availability (pure).
//! - [`config`], [`pii`], [`logging`], [`textfile`], [`workbook`]: configuration,
//!   masked personal data, logging set-up, CSV encodings and delimiters, XLSX sheets.
//!
//! The command line and the benchmark harnesses live in the `aicall` binary (`src/main.rs`,
//! `src/cli/`), not here; [`sim`] serves tests, the demo and benchmarks only.

pub mod app;
pub mod asr;
pub mod call;
pub mod campaign;
pub mod config;
pub mod esl;
pub mod logging;
pub mod media;
pub mod nlu;
pub mod outcome;
pub mod pii;
pub mod profile;
pub mod routing;
pub mod sim;
pub mod store;
pub mod textfile;
pub mod workbook;
