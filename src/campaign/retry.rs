//! Retry policy: what happens to a contact after each attempt, by disposition (hangup cause
//! class, or what the call decided: voicemail, callback, DNC request). Pure; the jitter comes
//! from a seed the caller passes so that decisions are reproducible.

use serde::{Deserialize, Serialize};

use crate::esl::{DialOutcome, HangupCause};
use crate::store::{ContactState, Disposition};

/// Delays (seconds) before the next attempt, per outcome. `None` = never retry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetryPolicy {
    pub busy_s: u64,
    pub no_answer_s: u64,
    pub rejected_s: Option<u64>,
    pub network_failure_s: u64,
    pub cancelled_s: u64,
    pub voicemail_s: Option<u64>,
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

/// The disposition of a hangup cause.
pub fn disposition_of(cause: HangupCause) -> Disposition {
    if cause == HangupCause::GatewayDown {
        return Disposition::GatewayDown;
    }
    match cause.dial_outcome() {
        DialOutcome::Completed => Disposition::Completed,
        DialOutcome::Busy => Disposition::Busy,
        DialOutcome::NoAnswer => Disposition::NoAnswer,
        DialOutcome::Rejected => Disposition::Rejected,
        DialOutcome::InvalidNumber => Disposition::InvalidNumber,
        DialOutcome::NetworkFailure => Disposition::NetworkFailure,
        DialOutcome::Cancelled => Disposition::Cancelled,
    }
}

impl RetryPolicy {
    /// The next step after an attempt that ended with `disposition`, when the contact has
    /// `attempts` counted attempts (including this one, unless it was a gateway failure).
    pub fn next(
        &self,
        disposition: Disposition,
        attempts: u32,
        max_attempts: u32,
        now: i64,
        jitter_seed: u64,
    ) -> Next {
        let delay = match disposition {
            Disposition::Completed => return Next::Stop(ContactState::Done),
            Disposition::InvalidNumber => return Next::Stop(ContactState::Invalid),
            Disposition::DncRequested => return Next::Stop(ContactState::Blocked),
            Disposition::GatewayDown => {
                // Not counted: the callee never saw this call.
                return Next::RetryAt(now + self.gateway_down_s as i64);
            }
            Disposition::Callback(at) if attempts < max_attempts => {
                return Next::RetryAt(at.max(now));
            }
            Disposition::Callback(_) => None,
            Disposition::Busy => Some(self.busy_s),
            Disposition::NoAnswer => Some(self.no_answer_s),
            Disposition::Rejected => self.rejected_s,
            Disposition::NetworkFailure => Some(self.network_failure_s),
            Disposition::Cancelled => Some(self.cancelled_s),
            Disposition::Voicemail => self.voicemail_s,
            Disposition::Unknown => Some(self.unknown_s),
            Disposition::Abandoned => Some(self.abandoned_s),
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
    fn per_cause_delays_with_jitter_and_cap() {
        let p = RetryPolicy::default();
        let now = 1_000_000;
        for seed in [0, 1, 77, u64::MAX] {
            let Next::RetryAt(t) = p.next(disposition_of(HangupCause::UserBusy), 1, 3, now, seed)
            else {
                panic!("busy retries");
            };
            assert!((now + 540..=now + 660).contains(&t), "{t}");
            let Next::RetryAt(t) = p.next(disposition_of(HangupCause::NoAnswer), 1, 3, now, seed)
            else {
                panic!("no answer retries");
            };
            assert!((now + 6480..=now + 7920).contains(&t), "{t}");
        }
        assert_eq!(
            p.next(disposition_of(HangupCause::UnallocatedNumber), 1, 3, now, 0),
            Next::Stop(ContactState::Invalid)
        );
        assert_eq!(
            p.next(disposition_of(HangupCause::UserBusy), 3, 3, now, 0),
            Next::Stop(ContactState::Exhausted)
        );
        assert_eq!(
            p.next(Disposition::Callback(now + 99), 1, 3, now, 0),
            Next::RetryAt(now + 99)
        );
        assert_eq!(
            p.next(disposition_of(HangupCause::GatewayDown), 3, 3, now, 0),
            Next::RetryAt(now + 60)
        );
        let Next::RetryAt(t) = p.next(Disposition::Abandoned, 1, 3, now, 5) else {
            panic!("an abandoned callee is called again");
        };
        assert!((now + 3240..=now + 3960).contains(&t), "{t}");
        assert_eq!(
            p.next(Disposition::Abandoned, 3, 3, now, 5),
            Next::Stop(ContactState::Exhausted)
        );
        let never = RetryPolicy {
            voicemail_s: None,
            ..p.clone()
        };
        assert_eq!(
            never.next(Disposition::Voicemail, 1, 3, now, 0),
            Next::Stop(ContactState::Done)
        );
        let capped = RetryPolicy {
            max_delay_s: 100,
            ..p
        };
        let Next::RetryAt(t) = capped.next(Disposition::NoAnswer, 1, 3, now, 12345) else {
            panic!("retries");
        };
        assert!(t <= now + 100);
    }
}
