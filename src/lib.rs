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
//! Modules present today: [`esl`] (frame model, codec, client, server side), [`sim`] (the
//! FreeSWITCH 1.10 simulator used by tests and the demo), [`config`], [`pii`], [`logging`],
//! [`asr`] (offline Whisper speech recognition) and [`cli`]. Each module's header says what it
//! owns and what it may depend on.

pub mod asr;
pub mod cli;
