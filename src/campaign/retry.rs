//! Retry policy: what happens to a contact after each attempt, by disposition (hangup cause
//! class, or what the call decided: voicemail, callback, DNC request). Pure; the jitter comes
//! from a seed the caller passes so that decisions are reproducible.

use serde::{Deserialize, Serialize};

use crate::esl::HangupCause;
use crate::store::{ContactState, Disposition};

/// Delays (seconds) before the next attempt, per outcome. `None` = never retry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct RetryPolicy {
    pub busy_s: u64,
    pub no_answer_s: u64,
    pub rejected_s: Option<u64>,
    pub network_failure_s: u64,
    pub cancelled_s: u64,
    pub voicemail_s: Option<u64>,
    /// After the carrier said the handset is off (已关机): people switch back on within hours.
    pub powered_off_s: u64,
    /// After the carrier said the handset cannot be reached (无法接通, 不在服务区).
    pub unreachable_s: u64,
    /// After the carrier said the line is suspended (已停机); `None` ends the contact.
    pub suspended_s: Option<u64>,
    /// After a crash lost track of a call (the attempt counts; the outcome is unknown).
    pub unknown_s: u64,
    /// When a gateway was down (the attempt does not count).
    pub gateway_down_s: u64,
    /// After an abandoned call (answered, no agent free). Some regulators require a gap
    /// before calling back (Ofcom: 72 h unless an agent is guaranteed); set it here.
    pub abandoned_s: u64,
    /// ± this percentage of random spread on every delay, so retries do not bunch up.
    pub jitter_pct: u32,
    /// Upper bound on any delay (callbacks excepted: they are at the agreed time).
    pub max_delay_s: u64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            busy_s: 600,
            no_answer_s: 7200,
            rejected_s: Some(86_400),
            network_failure_s: 300,
            cancelled_s: 600,
            voicemail_s: Some(4 * 3600),
            powered_off_s: 4 * 3600,
            unreachable_s: 3600,
            suspended_s: Some(7 * 86_400),
            unknown_s: 1800,
            gateway_down_s: 60,
            abandoned_s: 3600,
            jitter_pct: 10,
            max_delay_s: 7 * 86_400,
        }
    }
}

/// What to do with the contact.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    /// No more attempts; the contact ends in this state.
    Stop(ContactState),
    /// Try again at this time.
    RetryAt(i64),
}

/// What a dialer makes of a hangup cause when nobody decided more: the class of an attempt
/// that failed, or `Completed` for one that was answered and ended normally.
pub fn disposition_of(cause: HangupCause) -> Disposition {
    use HangupCause as H;
    match cause {
        H::GatewayDown => Disposition::GatewayDown,
        H::NormalClearing | H::Success | H::BlindTransfer | H::AttendedTransfer => {
            Disposition::Completed
        }
        H::UserBusy => Disposition::Busy,
        H::NoAnswer
        | H::NoUserResponse
        | H::SubscriberAbsent
        | H::ProgressTimeout
        | H::NoPickup => Disposition::NoAnswer,
        H::CallRejected | H::OutgoingCallBarred | H::IncomingCallBarred | H::FacilityRejected => {
            Disposition::Rejected
        }
        H::UnallocatedNumber
        | H::NoRouteDestination
        | H::NoRouteTransitNet
        | H::NumberChanged
        | H::InvalidNumberFormat
        | H::RedirectionToNewDestination
        | H::IncompatibleDestination
        | H::InvalidUrl => Disposition::InvalidNumber,
        H::OriginatorCancel
        | H::ManagerRequest
        | H::AllottedTimeout
        | H::LoseRace
        | H::PickedOff
        | H::SystemShutdown => Disposition::Cancelled,
        _ => Disposition::NetworkFailure,
    }
}

impl RetryPolicy {
    /// The next step after an attempt that ended with `disposition`, when the contact has
    /// `attempts` counted attempts (including this one, unless it was a gateway failure).
    pub fn next(
        &self,
        disposition: Disposition,
        callback_at: Option<i64>,
        attempts: u32,
        max_attempts: u32,
        now: i64,
        jitter_seed: u64,
    ) -> Next {
        let delay = match disposition {
            Disposition::Completed
            | Disposition::Interested
            | Disposition::Converted
            | Disposition::NotInterested
            | Disposition::Transferred => return Next::Stop(ContactState::Done),
            Disposition::InvalidNumber | Disposition::WrongNumber => {
                return Next::Stop(ContactState::Invalid)
            }
            Disposition::Dnc => return Next::Stop(ContactState::Blocked),
            Disposition::GatewayDown => {
                // Not counted: the callee never saw this call.
                return Next::RetryAt(now + self.gateway_down_s as i64);
            }
            Disposition::Callback if attempts < max_attempts => {
                // Asked for a time: honour it; asked vaguely: the usual no-answer delay.
                match callback_at {
                    Some(at) => return Next::RetryAt(at.max(now)),
                    None => Some(self.no_answer_s),
                }
            }
            Disposition::Callback => None,
            Disposition::Busy => Some(self.busy_s),
            Disposition::PoweredOff => Some(self.powered_off_s),
            Disposition::Unreachable => Some(self.unreachable_s),
            Disposition::Suspended => self.suspended_s,
            Disposition::NoAnswer => Some(self.no_answer_s),
            Disposition::Rejected => self.rejected_s,
            Disposition::NetworkFailure => Some(self.network_failure_s),
            Disposition::Cancelled => Some(self.cancelled_s),
            Disposition::Voicemail => self.voicemail_s,
            Disposition::Unknown => Some(self.unknown_s),
            Disposition::Abandoned => Some(self.abandoned_s),
            // The conversation broke off on our side, or nobody spoke: try again later.
            Disposition::Interrupted | Disposition::Failed => Some(self.unknown_s),
            Disposition::NoResponse | Disposition::CalleeHangup => Some(self.no_answer_s),
        };
        let Some(delay) = delay else {
            return Next::Stop(match disposition {
                Disposition::Voicemail => ContactState::Done,
                _ => ContactState::Exhausted,
            });
        };
        if attempts >= max_attempts {
            return Next::Stop(ContactState::Exhausted);
        }
        Next::RetryAt(now + self.jittered(delay, jitter_seed) as i64)
    }

    fn jittered(&self, delay: u64, seed: u64) -> u64 {
        let delay = delay.min(self.max_delay_s);
        let spread = delay * u64::from(self.jitter_pct.min(100)) / 100;
        if spread == 0 {
            return delay;
        }
        // Uniform in [delay - spread, delay + spread], then capped.
        let offset = seed % (2 * spread + 1);
        (delay - spread + offset).min(self.max_delay_s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dialer_classes_of_the_causes_esl_md_names() {
        assert_eq!(
            disposition_of(HangupCause::UnallocatedNumber),
            Disposition::InvalidNumber
        );
        assert_eq!(disposition_of(HangupCause::UserBusy), Disposition::Busy);
        assert_eq!(disposition_of(HangupCause::NoAnswer), Disposition::NoAnswer);
        assert_eq!(
            disposition_of(HangupCause::GatewayDown),
            Disposition::GatewayDown
        );
        assert_eq!(
            disposition_of(HangupCause::NormalCircuitCongestion),
            Disposition::NetworkFailure
        );
        assert_eq!(
            disposition_of(HangupCause::NormalClearing),
            Disposition::Completed
        );
    }

    #[test]
    fn per_cause_delays_with_jitter_and_cap() {
        let p = RetryPolicy::default();
        let now = 1_000_000;
        for seed in [0, 1, 77, u64::MAX] {
            let Next::RetryAt(t) =
                p.next(disposition_of(HangupCause::UserBusy), None, 1, 3, now, seed)
            else {
                panic!("busy retries");
            };
            assert!((now + 540..=now + 660).contains(&t), "{t}");
            let Next::RetryAt(t) =
                p.next(disposition_of(HangupCause::NoAnswer), None, 1, 3, now, seed)
            else {
                panic!("no answer retries");
            };
            assert!((now + 6480..=now + 7920).contains(&t), "{t}");
        }
        assert_eq!(
            p.next(
                disposition_of(HangupCause::UnallocatedNumber),
                None,
                1,
                3,
                now,
                0
            ),
            Next::Stop(ContactState::Invalid)
        );
        assert_eq!(
            p.next(disposition_of(HangupCause::UserBusy), None, 3, 3, now, 0),
            Next::Stop(ContactState::Exhausted)
        );
        assert_eq!(
            p.next(Disposition::Callback, Some(now + 99), 1, 3, now, 0),
            Next::RetryAt(now + 99)
        );
        // A sale is final; a callback asked with every attempt used is not made.
        assert_eq!(
            p.next(Disposition::Converted, None, 1, 3, now, 0),
            Next::Stop(ContactState::Done)
        );
        assert_eq!(
            p.next(Disposition::Callback, Some(now + 99), 3, 3, now, 0),
            Next::Stop(ContactState::Exhausted)
        );
        assert_eq!(
            p.next(disposition_of(HangupCause::GatewayDown), None, 3, 3, now, 0),
            Next::RetryAt(now + 60)
        );
        let Next::RetryAt(t) = p.next(Disposition::Abandoned, None, 1, 3, now, 5) else {
            panic!("an abandoned callee is called again");
        };
        assert!((now + 3240..=now + 3960).contains(&t), "{t}");
        assert_eq!(
            p.next(Disposition::Abandoned, None, 3, 3, now, 5),
            Next::Stop(ContactState::Exhausted)
        );
        // What a carrier announcement said: off and unreachable come back within hours, a
        // suspended line in a week, a vacant number never.
        assert_eq!(
            p.next(Disposition::PoweredOff, None, 1, 3, now, 0),
            Next::RetryAt(now + 4 * 3600 - 1440)
        );
        assert_eq!(
            p.next(Disposition::Unreachable, None, 1, 3, now, 0),
            Next::RetryAt(now + 3600 - 360)
        );
        assert_eq!(
            p.next(Disposition::Suspended, None, 1, 3, now, 0),
            Next::RetryAt(now + 7 * 86_400 - 60_480)
        );
        assert_eq!(
            p.next(
                crate::nlu::announcement::Announcement::Vacant.disposition(),
                None,
                1,
                3,
                now,
                0
            ),
            Next::Stop(ContactState::Invalid)
        );
        let never = RetryPolicy {
            voicemail_s: None,
            ..p.clone()
        };
        assert_eq!(
            never.next(Disposition::Voicemail, None, 1, 3, now, 0),
            Next::Stop(ContactState::Done)
        );
        let capped = RetryPolicy {
            max_delay_s: 100,
            ..p
        };
        let Next::RetryAt(t) = capped.next(Disposition::NoAnswer, None, 1, 3, now, 12345) else {
            panic!("retries");
        };
        assert!(t <= now + 100);
    }
}
