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
//!   p50 and p95;
//! - handle time (answer → hang-up), conversions (an agent filed the sale), the callees'
//!   sentiment;
//! - the same figures per day or per hour ([`Report::by_period`]), for the API's
//!   `?by=day|hour`.

use std::collections::BTreeMap;

use chrono::{Datelike, TimeZone, Timelike};
use serde::{Deserialize, Serialize};

use crate::call::record::{CallRecord, Speaker};
use crate::nlu::sentiment::Polarity;
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
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Funnel {
    pub dialled: u64,
    pub answered: u64,
    pub conversations: u64,
    pub interested: u64,
    pub transferred: u64,
    /// Transferred calls whose agent filed a sale.
    #[serde(default)]
    pub converted: u64,
}

/// One hour of the day (the callees' local time).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct HourFigures {
    pub hour: u8,
    pub dialled: u64,
    pub answered: u64,
    /// answered / dialled; none when nothing was dialled in that hour.
    pub answer_rate: Option<f64>,
}

/// Abandoned calls against the cap.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AbandonFigures {
    pub abandoned: u64,
    pub answered: u64,
    pub rate: f64,
    /// The predictive pacing's cap, when the campaign has one.
    pub cap: Option<f64>,
}

/// p50 and p95 of a latency, in ms, over `samples` values.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
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
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Count {
    pub name: String,
    pub count: u64,
}

/// A campaign's figures for the dashboard.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
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
    #[serde(default)]
    pub handle_time: HandleTime,
    #[serde(default)]
    pub sentiment: SentimentFigures,
    /// `day` or `hour` when the report was asked per period, with [`Report::periods`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<Period>,
    /// The figures per day or hour (callees' local time), oldest first; empty unless asked.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub periods: Vec<PeriodFigures>,
}

/// How long answered calls lasted (answer → hang-up), in seconds.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct HandleTime {
    pub calls: usize,
    pub total_s: u64,
    pub mean_s: Option<f64>,
    pub p50_s: Option<u32>,
    pub p95_s: Option<u32>,
}

impl HandleTime {
    fn of(mut seconds: Vec<u32>) -> HandleTime {
        seconds.sort_unstable();
        let total_s: u64 = seconds.iter().map(|&s| u64::from(s)).sum();
        HandleTime {
            calls: seconds.len(),
            total_s,
            mean_s: (!seconds.is_empty()).then(|| total_s as f64 / seconds.len() as f64),
            p50_s: percentile(&seconds, 50.0),
            p95_s: percentile(&seconds, 95.0),
        }
    }
}

/// The callees' sentiment over their lines (`nlu::sentiment` scores in [-1, 1]).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SentimentFigures {
    /// Callee lines with a score.
    pub lines: u64,
    pub mean: Option<f64>,
    pub negative: u64,
    pub neutral: u64,
    pub positive: u64,
}

/// A report's periods.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Period {
    Day,
    Hour,
}

impl Period {
    /// `day` or `hour`, as the API's `?by=` names it.
    pub fn from_name(s: &str) -> Option<Period> {
        match s.trim().to_ascii_lowercase().as_str() {
            "day" => Some(Period::Day),
            "hour" => Some(Period::Hour),
            _ => None,
        }
    }
}

/// One day or hour of a campaign (the callees' local time). Attempts count in the period
/// their originate left, conversations in the one they were answered in.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PeriodFigures {
    /// `2024-03-01` or `2024-03-01 08:00`.
    pub period: String,
    /// Unix seconds the period starts.
    pub start: i64,
    pub dialled: u64,
    pub answered: u64,
    pub conversations: u64,
    pub interested: u64,
    pub transferred: u64,
    pub converted: u64,
    pub abandoned: u64,
    /// abandoned / answered; none when nothing was answered.
    pub abandon_rate: Option<f64>,
    pub handle_time: HandleTime,
    pub turn_latency: Latency,
    /// The callees' intents, most frequent first.
    pub intents: Vec<Count>,
    pub sentiment: SentimentFigures,
}

/// What one report (or one period of it) adds up, before it is turned into figures.
#[derive(Debug, Default)]
struct Tally {
    dialled: u64,
    answered: u64,
    abandoned: u64,
    conversations: u64,
    interested: u64,
    transferred: u64,
    converted: u64,
    intents: BTreeMap<String, u64>,
    turn_ms: Vec<u32>,
    handle_s: Vec<u32>,
    sentiments: Vec<f32>,
}

impl Tally {
    fn attempt(&mut self, a: &AttemptFact) {
        self.dialled += 1;
        self.answered += u64::from(a.answered);
        self.abandoned += u64::from(a.disposition == Some(Disposition::Abandoned));
    }

    /// A call record's share. One decided on early media (a carrier announcement before
    /// any answer) was no conversation: its attempt counts it, unanswered.
    fn record(&mut self, r: &CallRecord) {
        if !r.answered {
            return;
        }
        let mut heard = false;
        for t in r.turns.iter().filter(|t| t.is_reply()) {
            heard |= !t.text.trim().is_empty();
            if let Some(i) = &t.intent {
                *self.intents.entry(i.clone()).or_insert(0) += 1;
            }
            if let Some(s) = t.sentiment.filter(|s| s.is_finite()) {
                self.sentiments.push(s);
            }
        }
        self.turn_ms.extend_from_slice(&r.turn_latency_ms);
        if r.ended_at > r.answered_at {
            let s = (r.ended_at - r.answered_at) / 1000;
            self.handle_s.push(u32::try_from(s).unwrap_or(u32::MAX));
        }
        if heard {
            self.conversations += 1;
            if interested(r) {
                self.interested += 1;
                if transferred(r) {
                    self.transferred += 1;
                    self.converted +=
                        u64::from(r.agent_outcome.as_ref().is_some_and(|o| o.converted));
                }
            }
        }
    }

    fn sentiment(&self) -> SentimentFigures {
        let mut f = SentimentFigures {
            lines: self.sentiments.len() as u64,
            mean: (!self.sentiments.is_empty()).then(|| {
                self.sentiments.iter().map(|&s| f64::from(s)).sum::<f64>()
                    / self.sentiments.len() as f64
            }),
            ..SentimentFigures::default()
        };
        for &s in &self.sentiments {
            match Polarity::of(s) {
                Polarity::Negative => f.negative += 1,
                Polarity::Neutral => f.neutral += 1,
                Polarity::Positive => f.positive += 1,
            }
        }
        f
    }

    fn period(self, period: String, start: i64) -> PeriodFigures {
        PeriodFigures {
            period,
            start,
            abandon_rate: (self.answered > 0).then(|| self.abandoned as f64 / self.answered as f64),
            sentiment: self.sentiment(),
            dialled: self.dialled,
            answered: self.answered,
            conversations: self.conversations,
            interested: self.interested,
            transferred: self.transferred,
            converted: self.converted,
            abandoned: self.abandoned,
            handle_time: HandleTime::of(self.handle_s),
            turn_latency: Latency::of(self.turn_ms),
            intents: counts(self.intents),
        }
    }
}

/// The period a unix time falls in, in `tz`: its name and the unix second it starts.
fn period_of(tz: chrono_tz::Tz, unix_s: i64, by: Period) -> Option<(String, i64)> {
    let t = tz.timestamp_opt(unix_s, 0).single()?;
    let (y, m, d) = (t.year(), t.month(), t.day());
    let (name, hour) = match by {
        Period::Day => (format!("{y:04}-{m:02}-{d:02}"), 0),
        Period::Hour => (format!("{y:04}-{m:02}-{d:02} {:02}:00", t.hour()), t.hour()),
    };
    let start = t
        .date_naive()
        .and_hms_opt(hour, 0, 0)
        .and_then(|l| tz.from_local_datetime(&l).earliest())
        // A start the clocks skipped (a DST gap at midnight): the time itself is in it.
        .map_or(unix_s, |s| s.timestamp());
    Some((name, start))
}

/// Whether a conversation reached interest: the script decided or tagged it, or handed the
/// callee to an agent.
fn interested(r: &CallRecord) -> bool {
    matches!(
        r.disposition,
        Some(Disposition::Interested | Disposition::Converted | Disposition::Transferred)
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
        let mut all = Tally::default();
        for a in attempts {
            all.attempt(a);
            let hour = tz
                .timestamp_opt(a.started_at, 0)
                .single()
                .map_or(0, |t| t.hour() as usize);
            // hour() is 0..=23: the index is in range.
            if let Some(h) = by_hour.get_mut(hour) {
                h.dialled += 1;
                h.answered += u64::from(a.answered);
            }
            if let Some(d) = a.disposition {
                *dispositions.entry(d.as_str().to_owned()).or_insert(0) += 1;
            }
        }
        for h in &mut by_hour {
            h.answer_rate = (h.dialled > 0).then(|| h.answered as f64 / h.dialled as f64);
        }

        let mut asr_ms = Vec::new();
        let mut barge_ins = 0;
        for r in records {
            all.record(r);
            asr_ms.extend(
                r.turns
                    .iter()
                    .filter(|t| t.speaker == Speaker::Callee)
                    .filter_map(|t| t.asr_ms)
                    .map(|ms| u32::try_from(ms).unwrap_or(u32::MAX)),
            );
            barge_ins += r.barge_ins.len() as u64;
        }
        // Records exist for answered calls only, so conversations ≤ answered unless attempts
        // and records were read at different moments (a call ending in between): keep each
        // step within the one before.
        let mut funnel = Funnel {
            dialled: all.dialled,
            answered: all.answered.min(all.dialled),
            ..Funnel::default()
        };
        funnel.conversations = all.conversations.min(funnel.answered);
        funnel.interested = all.interested.min(funnel.conversations);
        funnel.transferred = all.transferred.min(funnel.interested);
        funnel.converted = all.converted.min(funnel.transferred);
        let sentiment = all.sentiment();
        let (abandoned, answered) = (all.abandoned, all.answered);

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
            intents: counts(all.intents),
            dispositions: counts(dispositions),
            barge_ins,
            turn_latency: Latency::of(all.turn_ms),
            asr_latency: Latency::of(asr_ms),
            handle_time: HandleTime::of(all.handle_s),
            sentiment,
            by: None,
            periods: Vec::new(),
        }
    }

    /// The figures of each day or hour (in `tz`) that saw an attempt or a conversation,
    /// oldest first: attempts by the time their originate left, call records by the time
    /// they were answered.
    pub fn by_period(
        attempts: &[AttemptFact],
        records: &[CallRecord],
        tz: chrono_tz::Tz,
        by: Period,
    ) -> Vec<PeriodFigures> {
        // `2024-03-01 08:00` sorts as time does.
        let mut periods: BTreeMap<String, (i64, Tally)> = BTreeMap::new();
        for a in attempts {
            if let Some((name, start)) = period_of(tz, a.started_at, by) {
                periods
                    .entry(name)
                    .or_insert_with(|| (start, Tally::default()))
                    .1
                    .attempt(a);
            }
        }
        for r in records {
            if let Some((name, start)) = period_of(tz, r.answered_at.div_euclid(1000), by) {
                periods
                    .entry(name)
                    .or_insert_with(|| (start, Tally::default()))
                    .1
                    .record(r);
            }
        }
        periods
            .into_iter()
            .map(|(name, (start, tally))| tally.period(name, start))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::call::record::{BargeLine, Turn, EARLY_MEDIA_NOTE};

    fn turn(speaker: Speaker, text: &str, intent: Option<&str>, asr_ms: Option<u64>) -> Turn {
        Turn {
            intent: intent.map(Into::into),
            asr_ms,
            ..Turn::new(0, speaker, text)
        }
    }

    fn record(uuid: &str, turns: Vec<Turn>, disposition: Disposition) -> CallRecord {
        CallRecord {
            uuid: uuid.into(),
            campaign: "spring".into(),
            contact_id: Some(1),
            script: "s".into(),
            answered_at: 0,
            answered: true,
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
                converted: 0,
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

    /// Two days in Shanghai, the second with two hours: every figure per day and per hour,
    /// from hand-made attempts and records.
    #[test]
    fn figures_per_day_and_per_hour() {
        let shanghai: chrono_tz::Tz = "Asia/Shanghai".parse().expect("tz");
        let h = 3600;
        let day2 = MIDNIGHT_UTC + 24 * h;
        let attempt = |started_at, answered, disposition| AttemptFact {
            started_at,
            answered,
            disposition,
        };
        let attempts = [
            // Day 1, 08:xx: one answered, one not.
            attempt(MIDNIGHT_UTC, true, Some(Disposition::NotInterested)),
            attempt(MIDNIGHT_UTC + 30, false, Some(Disposition::NoAnswer)),
            // Day 2, 08:xx: transferred and converted; abandoned.
            attempt(day2, true, Some(Disposition::Transferred)),
            attempt(day2 + 60, true, Some(Disposition::Abandoned)),
            // Day 2, 09:xx: transferred, not converted.
            attempt(day2 + h, true, Some(Disposition::Transferred)),
        ];
        let callee = |text: &str, intent: &str, sentiment: f32| Turn {
            sentiment: Some(sentiment),
            ..turn(Speaker::Callee, text, Some(intent), Some(300))
        };
        let at = |r: &mut CallRecord, answered_s: i64, seconds: i64| {
            r.answered_at = answered_s * 1000;
            r.ended_at = (answered_s + seconds) * 1000;
        };
        let mut declined = record(
            "a",
            vec![callee("不需要", "deny", -0.6)],
            Disposition::NotInterested,
        );
        at(&mut declined, MIDNIGHT_UTC + 5, 30);
        declined.turn_latency_ms = vec![800];
        let mut sold = record(
            "b",
            vec![
                callee("好的", "affirm", 0.6),
                callee("多少钱", "ask_price", 0.0),
            ],
            Disposition::Transferred,
        );
        at(&mut sold, day2 + 5, 120);
        sold.transferred_to = Some("sales".into());
        sold.turn_latency_ms = vec![600, 1000];
        sold.agent_outcome = Some(crate::call::record::AgentOutcome {
            agent: "1001".into(),
            outcome: Some(Disposition::Interested),
            converted: true,
            notes: String::new(),
            callback_at: None,
            at: day2 + 200,
        });
        let mut unsold = record(
            "c",
            vec![callee("可以", "affirm", 0.5)],
            Disposition::Transferred,
        );
        at(&mut unsold, day2 + h + 5, 60);
        unsold.transferred_to = Some("sales".into());
        let records = [declined, sold, unsold];

        let days = Report::by_period(&attempts, &records, shanghai, Period::Day);
        let names: Vec<_> = days.iter().map(|p| p.period.as_str()).collect();
        assert_eq!(names, ["2024-03-01", "2024-03-02"]);
        let (d1, d2) = (&days[0], &days[1]);
        assert_eq!(d1.start, MIDNIGHT_UTC - 8 * h, "midnight in Shanghai");
        assert_eq!(
            (d1.dialled, d1.answered, d1.conversations, d1.interested),
            (2, 1, 1, 0)
        );
        assert_eq!((d1.abandoned, d1.abandon_rate), (0, Some(0.0)));
        assert_eq!(d1.handle_time.mean_s, Some(30.0));
        assert_eq!(d1.turn_latency.p50_ms, Some(800));
        assert_eq!(
            d1.intents,
            [Count {
                name: "deny".into(),
                count: 1
            }]
        );
        assert_eq!((d1.sentiment.lines, d1.sentiment.negative), (1, 1));
        assert_eq!(
            (d2.dialled, d2.answered, d2.conversations, d2.interested),
            (3, 3, 2, 2)
        );
        assert_eq!((d2.transferred, d2.converted), (2, 1));
        assert_eq!((d2.abandoned, d2.abandon_rate), (1, Some(1.0 / 3.0)));
        assert_eq!(
            (
                d2.handle_time.calls,
                d2.handle_time.total_s,
                d2.handle_time.mean_s
            ),
            (2, 180, Some(90.0))
        );
        assert_eq!(
            (d2.handle_time.p50_s, d2.handle_time.p95_s),
            (Some(60), Some(120))
        );
        assert_eq!(
            (
                d2.turn_latency.samples,
                d2.turn_latency.p50_ms,
                d2.turn_latency.p95_ms
            ),
            (2, Some(600), Some(1000))
        );
        assert_eq!(
            d2.intents[0],
            Count {
                name: "affirm".into(),
                count: 2
            }
        );
        let s = &d2.sentiment;
        assert_eq!((s.lines, s.positive, s.neutral, s.negative), (3, 2, 1, 0));
        assert!(s.mean.is_some_and(|m| (m - 1.1 / 3.0).abs() < 1e-6));

        let hours = Report::by_period(&attempts, &records, shanghai, Period::Hour);
        let names: Vec<_> = hours.iter().map(|p| p.period.as_str()).collect();
        assert_eq!(
            names,
            ["2024-03-01 08:00", "2024-03-02 08:00", "2024-03-02 09:00"]
        );
        assert_eq!(hours[2].start, day2 + h);
        assert_eq!(
            (
                hours[1].dialled,
                hours[1].converted,
                hours[2].dialled,
                hours[2].converted
            ),
            (2, 1, 1, 0)
        );
        // The periods add up to the whole.
        let whole = Report::of("spring", &attempts, &records, shanghai, None);
        assert_eq!(whole.funnel.converted, 1);
        assert_eq!(whole.handle_time.calls, 3);
        assert_eq!(whole.sentiment.lines, 4);
        for by in [&days, &hours] {
            assert_eq!(
                by.iter().map(|p| p.dialled).sum::<u64>(),
                whole.funnel.dialled
            );
            assert_eq!(
                by.iter().map(|p| p.conversations).sum::<u64>(),
                whole.funnel.conversations
            );
        }
        assert!(serde_json::to_string(&hours).is_ok());
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

    #[test]
    fn a_carrier_announcement_on_early_media_is_no_conversation() {
        // Dialled twice: one answered and conversed, one decided on the carrier's 正忙
        // before any answer (its record keeps what was heard, marked unanswered).
        let attempts = [
            (true, Disposition::NotInterested),
            (false, Disposition::Busy),
        ]
        .map(|(answered, d)| AttemptFact {
            started_at: MIDNIGHT_UTC,
            answered,
            disposition: Some(d),
        });
        // Answered after a ringback whose words were heard first: they are no reply.
        let ringback = Turn {
            note: Some(EARLY_MEDIA_NOTE.into()),
            ..turn(Speaker::Callee, "祝您好运", Some("other"), Some(300))
        };
        let talked = record(
            "a",
            vec![
                ringback,
                turn(Speaker::Callee, "不需要", Some("deny"), Some(300)),
            ],
            Disposition::NotInterested,
        );
        let mut busy = record(
            "b",
            vec![turn(
                Speaker::Callee,
                "您拨打的电话正忙",
                Some("other"),
                Some(300),
            )],
            Disposition::Busy,
        );
        busy.answered = false;
        busy.ended_at = 9_000;
        let r = Report::of("x", &attempts, &[talked, busy], chrono_tz::UTC, None);
        assert_eq!(r.funnel.dialled, 2);
        assert_eq!(r.funnel.answered, 1);
        assert_eq!(r.funnel.conversations, 1);
        assert_eq!(r.handle_time.calls, 0, "{:?}", r.handle_time);
        let intents: Vec<_> = r.intents.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(intents, ["deny"]);
    }
}
