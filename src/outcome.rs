//! How a call attempt ended: one [`Disposition`] for the AI conversation that decides it, the
//! dialer's retry policy that acts on it, the store that keeps it and the reports that count
//! it. Before this type there were three (the script's outcome, the dialer's, and a hangup
//! cause class), bridged by parsing text out of channel variables.
//!
//! The conversation's own outcomes (interested, callback, DNC, ...) are the ones a script may
//! name ([`Disposition::is_conversation`]); the rest come from the network (busy, no answer,
//! ...) or from aicall itself (abandoned, interrupted, unknown). A callback's time travels
//! next to the disposition (attempt and record fields), not inside it, so that the script file
//! and the API name every disposition with one plain word.
//!
//! Depends on nothing else in aicall.

use std::fmt;

use serde::{Deserialize, Serialize};

macro_rules! dispositions {
    ($($(#[$doc:meta])* $variant:ident = $name:literal, $conversation:literal;)*) => {
        /// How a call attempt ended.
        #[derive(
            Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema,
        )]
        #[serde(rename_all = "snake_case")]
        pub enum Disposition {
            $($(#[$doc])* $variant,)*
        }

        impl Disposition {
            /// Every disposition, in declaration order.
            pub const ALL: &'static [Disposition] = &[$(Disposition::$variant,)*];

            /// The name used in scripts, the API, reports and logs (`not_interested`).
            pub fn as_str(self) -> &'static str {
                match self { $(Disposition::$variant => $name,)* }
            }

            /// Parses a name as [`Disposition::as_str`] writes it.
            pub fn from_name(name: &str) -> Option<Self> {
                match name.trim() { $($name => Some(Disposition::$variant),)* _ => None }
            }

            /// True for the outcomes a conversation (a script) decides.
            pub fn is_conversation(self) -> bool {
                match self { $(Disposition::$variant => $conversation,)* }
            }
        }
    };
}

dispositions! {
    // The callee was reached and the conversation decided.
    /// Wants the offer (usually followed by a transfer or a callback).
    Interested = "interested", true;
    /// Bought: a sale closed on the call (an agent filed it, or a script decided it). What
    /// the lead model learns as a conversion.
    Converted = "converted", true;
    NotInterested = "not_interested", true;
    /// Asked to be called back; the time is kept beside the disposition.
    Callback = "callback", true;
    /// Asked not to be called again: the number goes on the DNC list for every campaign.
    Dnc = "dnc", true;
    WrongNumber = "wrong_number", true;
    /// An answering machine or voicemail greeting answered.
    Voicemail = "voicemail", true;
    /// Handed to a human agent, who took the call.
    Transferred = "transferred", true;
    /// The callee never answered any prompt.
    NoResponse = "no_response", true;
    /// The callee hung up before the script reached an outcome.
    CalleeHangup = "callee_hangup", true;
    /// aicall could not carry the conversation (no media, no prompt audio, recogniser down).
    Failed = "failed", true;

    // Reached, without a conversation outcome.
    /// Answered and ended normally, with nobody deciding more (a dialer-only campaign).
    Completed = "completed", false;
    /// Answered, but no agent was free to take the transfer (predictive pacing's abandoned
    /// call): the callee heard nothing useful, so they are called again, not written off.
    Abandoned = "abandoned", false;
    /// The call ended mid-conversation for a reason on our side: aicall's shutdown past its
    /// grace period, a restart that found the call orphaned, or the switch going away under
    /// it. Called again.
    Interrupted = "interrupted", false;

    // Not reached.
    Busy = "busy", false;
    /// The carrier said the handset is switched off (您拨打的电话已关机).
    PoweredOff = "powered_off", false;
    /// The carrier said the handset cannot be reached (暂时无法接通, 不在服务区).
    Unreachable = "unreachable", false;
    /// The carrier said the line is suspended (已停机).
    Suspended = "suspended", false;
    NoAnswer = "no_answer", false;
    Rejected = "rejected", false;
    InvalidNumber = "invalid_number", false;
    NetworkFailure = "network_failure", false;
    /// The gateway was down: the call never left; not counted as an attempt.
    GatewayDown = "gateway_down", false;
    Cancelled = "cancelled", false;
    /// aicall lost track of the call (a crash, or FreeSWITCH restarted under it) and the
    /// channel is gone: the call may have happened, so the attempt counts.
    Unknown = "unknown", false;
}

impl Disposition {
    /// True when the callee (or their voicemail) picked up.
    pub fn reached(self) -> bool {
        self.is_conversation()
            || matches!(
                self,
                Disposition::Completed | Disposition::Abandoned | Disposition::Interrupted
            )
    }
}

impl fmt::Display for Disposition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_match_serde() {
        for &d in Disposition::ALL {
            assert_eq!(Disposition::from_name(d.as_str()), Some(d));
            let json = serde_json::to_string(&d).expect("serialises");
            assert_eq!(json, format!("\"{}\"", d.as_str()));
        }
        assert_eq!(Disposition::from_name("nope"), None);
    }

    #[test]
    fn conversation_outcomes_are_reached() {
        assert!(Disposition::Callback.is_conversation());
        assert!(!Disposition::Busy.is_conversation());
        assert!(Disposition::Abandoned.reached());
        assert!(!Disposition::NoAnswer.reached());
        assert!(!Disposition::Unknown.reached());
    }
}
