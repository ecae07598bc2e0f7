//! The dashboard's figures of one campaign, from what the store keeps: its attempts (one per
//! dial, with the hour it left and whether it was answered) and its call records (the
//! conversations). Pure: [`Report::of`] takes the facts and the campaign's time zone.
//!
//! - the funnel: dialled → answered → conversations (the callee said something) →
//!   interested (the script tagged or decided so, or handed the call over) → transferred;
//! - answer rate by hour of the day, in the callees' time zone (`call.tz`);
//! - abandon rate (abandoned / answered) against the predictive pacing's cap;
//! - the callees' intents, dispositions, barge-ins;
//! - turn latency (end of the callee's speech → the bot's next prompt) and recognition time,
//!   p50 and p95.

use std::collections::BTreeMap;

use chrono::{TimeZone, Timelike};
use serde::{Deserialize, Serialize};

use crate::call::record::{CallRecord, Speaker};
use crate::outcome::Disposition;

/// What the report needs of one attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AttemptFact {
    /// Unix seconds the originate left.
    pub started_at: i64,
    pub answered: bool,
    /// Once it ended.
    pub disposition: Option<Disposition>,
}

/// The funnel's steps, each a subset of the one before.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Funnel {
    pub dialled: u64,
    pub answered: u64,
    pub conversations: u64,
    pub interested: u64,
    pub transferred: u64,
}

/// One hour of the day (the callees' local time).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct HourFigures {
    pub hour: u8,
    pub dialled: u64,
    pub answered: u64,
    /// answered / dialled; none when nothing was dialled in that hour.
    pub answer_rate: Option<f64>,
}

/// Abandoned calls against the cap.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AbandonFigures {
    pub abandoned: u64,
    pub answered: u64,
    pub rate: f64,
    /// The predictive pacing's cap, when the campaign has one.
    pub cap: Option<f64>,
}

/// p50 and p95 of a latency, in ms, over `samples` values.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Latency {
    pub samples: usize,
    pub p50_ms: Option<u32>,
    pub p95_ms: Option<u32>,
}

impl Latency {
    pub fn of(mut values: Vec<u32>) -> Latency {
        values.sort_unstable();
        Latency {
            samples: values.len(),
            p50_ms: percentile(&values, 50.0),
            p95_ms: percentile(&values, 95.0),
        }
    }
}

/// The nearest-rank percentile of sorted values (p in (0, 100]).
pub fn percentile(sorted: &[u32], p: f64) -> Option<u32> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len()) - 1).copied()
}

/// A count of something named (an intent, a disposition).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Count {
    pub name: String,
    pub count: u64,
}

/// A campaign's figures for the dashboard.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub campaign: String,
    /// The time zone the hours are in.
    pub tz: String,
    pub funnel: Funnel,
    /// 24 entries, hour 0 first.
    pub by_hour: Vec<HourFigures>,
    pub abandon: AbandonFigures,
    /// The callees' intents over every conversation, most frequent first.
    pub intents: Vec<Count>,
    pub dispositions: Vec<Count>,
    pub barge_ins: u64,
    pub turn_latency: Latency,
    pub asr_latency: Latency,
}

/// Whether a conversation reached interest: the script decided or tagged it, or handed the
/// callee to an agent.
fn interested(r: &CallRecord) -> bool {
    matches!(
        r.disposition,
        Some(Disposition::Interested | Disposition::Transferred)
    ) || r.tags.iter().any(|t| t == "interested")
        || r.transferred_to.is_some()
}

fn transferred(r: &CallRecord) -> bool {
    r.transferred_to.is_some() || r.disposition == Some(Disposition::Transferred)
}

fn counts(map: BTreeMap<String, u64>) -> Vec<Count> {
    let mut v: Vec<Count> = map
        .into_iter()
        .map(|(name, count)| Count { name, count })
        .collect();
    // Most frequent first; ties by name, so the order is stable.
    v.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.name.cmp(&b.name)));
    v
}

impl Report {
    /// The report of `campaign` from its attempts and call records, hours in `tz`.
    pub fn of(
        campaign: &str,
        attempts: &[AttemptFact],
        records: &[CallRecord],
        tz: chrono_tz::Tz,
        abandon_cap: Option<f64>,
    ) -> Report {
        let mut by_hour: Vec<HourFigures> = (0..24)
            .map(|h| HourFigures {
                hour: h,
                ..HourFigures::default()
            })
            .collect();
        let mut dispositions = BTreeMap::new();
        let mut abandoned = 0;
        let mut answered = 0;
        for a in attempts {
            let hour = tz
                .timestamp_opt(a.started_at, 0)
                .single()
                .map_or(0, |t| t.hour() as usize);
            // hour() is 0..=23: the index is in range.
            if let Some(h) = by_hour.get_mut(hour) {
                h.dialled += 1;
                h.answered += u64::from(a.answered);
            }
            answered += u64::from(a.answered);
            if let Some(d) = a.disposition {
                *dispositions.entry(d.as_str().to_owned()).or_insert(0) += 1;
                abandoned += u64::from(d == Disposition::Abandoned);
            }
        }
        for h in &mut by_hour {
            h.answer_rate = (h.dialled > 0).then(|| h.answered as f64 / h.dialled as f64);
        }

        let mut intents = BTreeMap::new();
        let mut turn_ms = Vec::new();
        let mut asr_ms = Vec::new();
        let mut barge_ins = 0;
        let mut funnel = Funnel {
            dialled: attempts.len() as u64,
            answered,
            ..Funnel::default()
        };
        for r in records {
            let mut heard = false;
            for t in r.turns.iter().filter(|t| t.speaker == Speaker::Callee) {
                heard |= !t.text.trim().is_empty();
                if let Some(i) = &t.intent {
                    *intents.entry(i.clone()).or_insert(0) += 1;
                }
                if let Some(ms) = t.asr_ms {
                    asr_ms.push(u32::try_from(ms).unwrap_or(u32::MAX));
                }
            }
            turn_ms.extend_from_slice(&r.turn_latency_ms);
            barge_ins += r.barge_ins.len() as u64;
            if heard {
                funnel.conversations += 1;
                if interested(r) {
                    funnel.interested += 1;
                    if transferred(r) {
                        funnel.transferred += 1;
                    }
                }
            }
        }
        // Records exist for answered calls only, so conversations ≤ answered unless attempts
        // and records were read at different moments (a call ending in between): keep each
        // step within the one before.
        funnel.answered = funnel.answered.min(funnel.dialled);
        funnel.conversations = funnel.conversations.min(funnel.answered);
        funnel.interested = funnel.interested.min(funnel.conversations);
        funnel.transferred = funnel.transferred.min(funnel.interested);

        Report {
            campaign: campaign.to_owned(),
            tz: tz.name().to_owned(),
            funnel,
            by_hour,
            abandon: AbandonFigures {
                abandoned,
                answered,
                rate: if answered > 0 {
                    abandoned as f64 / answered as f64
                } else {
                    0.0
                },
                cap: abandon_cap,
            },
            intents: counts(intents),
            dispositions: counts(dispositions),
            barge_ins,
            turn_latency: Latency::of(turn_ms),
            asr_latency: Latency::of(asr_ms),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::call::record::{BargeLine, Turn};

    fn turn(speaker: Speaker, text: &str, intent: Option<&str>, asr_ms: Option<u64>) -> Turn {
        Turn {
            at_ms: 0,
            speaker,
            text: text.into(),
            prompt: None,
            intent: intent.map(Into::into),
            confidence: None,
            asr_ms,
            nlu_ms: None,
            note: None,
        }
    }

    fn record(uuid: &str, turns: Vec<Turn>, disposition: Disposition) -> CallRecord {
        CallRecord {
            uuid: uuid.into(),
            campaign: "spring".into(),
            contact_id: Some(1),
            script: "s".into(),
            answered_at: 0,
            ended_at: 0,
            disposition: Some(disposition),
            hangup_cause: None,
            transferred_to: None,
            agent: None,
            agent_outcome: None,
            callback_at: None,
            tags: vec![],
            path: vec![],
            turns,
            decisions: vec![],
            barge_ins: vec![],
            turn_latency_ms: vec![],
            barge_in_latency_ms: vec![],
            dtmf: String::new(),
        }
    }

    /// 2024-03-01 00:00 UTC = 08:00 in Shanghai.
    const MIDNIGHT_UTC: i64 = 1_709_251_200;

    #[test]
    fn percentiles_are_nearest_rank() {
        let v: Vec<u32> = (1..=100).collect();
        assert_eq!(percentile(&v, 50.0), Some(50));
        assert_eq!(percentile(&v, 95.0), Some(95));
        assert_eq!(percentile(&[7], 95.0), Some(7));
        assert_eq!(percentile(&[], 50.0), None);
        assert_eq!(percentile(&[1, 2, 3, 4], 50.0), Some(2));
        let l = Latency::of(vec![900, 300, 500, 700, 100]);
        assert_eq!((l.samples, l.p50_ms, l.p95_ms), (5, Some(500), Some(900)));
    }

    #[test]
    fn the_funnel_answer_rates_by_hour_intents_and_latency() {
        let shanghai: chrono_tz::Tz = "Asia/Shanghai".parse().expect("tz");
        let h = 3600;
        let attempts = [
            // 08:xx Shanghai: three dialled, two answered.
            (MIDNIGHT_UTC, true, Some(Disposition::Transferred)),
            (MIDNIGHT_UTC + 60, true, Some(Disposition::NotInterested)),
            (MIDNIGHT_UTC + 120, false, Some(Disposition::NoAnswer)),
            // 14:xx Shanghai: two dialled, one answered and abandoned, one still up.
            (MIDNIGHT_UTC + 6 * h, true, Some(Disposition::Abandoned)),
            (MIDNIGHT_UTC + 6 * h + 5, true, None),
        ]
        .map(|(started_at, answered, disposition)| AttemptFact {
            started_at,
            answered,
            disposition,
        });
        let mut interested = record(
            "a",
            vec![
                turn(Speaker::Bot, "您好", None, None),
                turn(Speaker::Callee, "好的", Some("affirm"), Some(400)),
                turn(Speaker::Callee, "多少钱", Some("ask_price"), Some(600)),
            ],
            Disposition::Transferred,
        );
        interested.transferred_to = Some("sales".into());
        interested.turn_latency_ms = vec![700, 900];
        interested.barge_ins = vec![BargeLine {
            at_ms: 1,
            prompt: "greet".into(),
            played_ms: 800,
            verdict: "speech".into(),
            mode: "speech".into(),
        }];
        let mut declined = record(
            "b",
            vec![
                turn(Speaker::Bot, "您好", None, None),
                turn(Speaker::Callee, "不需要", Some("deny"), Some(300)),
            ],
            Disposition::NotInterested,
        );
        declined.turn_latency_ms = vec![500];
        // Answered, the greeting played, the callee said nothing: no conversation.
        let silent = record(
            "c",
            vec![turn(Speaker::Bot, "您好", None, None)],
            Disposition::NoResponse,
        );
        let r = Report::of(
            "spring",
            &attempts,
            &[interested, declined, silent],
            shanghai,
            Some(0.03),
        );
        assert_eq!(
            r.funnel,
            Funnel {
                dialled: 5,
                answered: 4,
                conversations: 2,
                interested: 1,
                transferred: 1,
            }
        );
        assert_eq!(r.by_hour.len(), 24);
        assert_eq!((r.by_hour[8].dialled, r.by_hour[8].answered), (3, 2));
        assert_eq!(r.by_hour[8].answer_rate, Some(2.0 / 3.0));
        assert_eq!((r.by_hour[14].dialled, r.by_hour[14].answered), (2, 2));
        assert_eq!(r.by_hour[0].answer_rate, None);
        assert_eq!(r.by_hour.iter().map(|h| h.dialled).sum::<u64>(), 5);
        assert_eq!(r.abandon.abandoned, 1);
        assert_eq!(r.abandon.rate, 0.25);
        assert_eq!(r.abandon.cap, Some(0.03));
        let names: Vec<_> = r.intents.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["affirm", "ask_price", "deny"], "ties by name");
        assert_eq!(r.dispositions.iter().map(|c| c.count).sum::<u64>(), 4);
        assert_eq!(r.barge_ins, 1);
        assert_eq!(
            (r.turn_latency.samples, r.turn_latency.p50_ms),
            (3, Some(700))
        );
        assert_eq!(r.turn_latency.p95_ms, Some(900));
        assert_eq!(
            (r.asr_latency.p50_ms, r.asr_latency.p95_ms),
            (Some(400), Some(600))
        );
        assert_eq!(r.tz, "Asia/Shanghai");
    }

    #[test]
    fn an_empty_campaign_reports_zeros_not_nans() {
        let r = Report::of("x", &[], &[], chrono_tz::UTC, None);
        assert_eq!(r.funnel, Funnel::default());
        assert_eq!(r.abandon.rate, 0.0);
        assert!(r.by_hour.iter().all(|h| h.answer_rate.is_none()));
        assert_eq!(r.turn_latency.p95_ms, None);
        // NaN would not survive JSON; every figure must.
        assert!(serde_json::to_string(&r).is_ok());
    }

    #[test]
    fn the_funnel_never_widens_when_records_outrun_attempts() {
        // A record read after the attempts (the call ended in between).
        let rec = record(
            "a",
            vec![turn(Speaker::Callee, "好", Some("affirm"), None)],
            Disposition::Interested,
        );
        let r = Report::of("x", &[], &[rec], chrono_tz::UTC, None);
        assert_eq!(r.funnel, Funnel::default());
    }
}
